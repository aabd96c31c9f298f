//! The functions of fluxcd/pkg/envsubst (`lookupFunc` and what it returns), with Go's
//! semantics kept where they differ from bash: every default form means "when empty", lengths
//! and substrings count bytes, trims match with Go's `path.Match`.

use super::glob;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    LowerFirst,
    Lower,
    UpperFirst,
    Upper,
    Len,
    TrimShortestPrefix,
    TrimLongestPrefix,
    TrimShortestSuffix,
    TrimLongestSuffix,
    Substr,
    ReplacePrefix,
    ReplaceSuffix,
    ReplaceFirst,
    ReplaceAll,
    Default,
}

pub fn lookup(name: &str, args: usize) -> Func {
    match name {
        "," => Func::LowerFirst,
        ",," => Func::Lower,
        "^" => Func::UpperFirst,
        "^^" => Func::Upper,
        "#" if args == 0 => Func::Len,
        "#" => Func::TrimShortestPrefix,
        "##" => Func::TrimLongestPrefix,
        "%" => Func::TrimShortestSuffix,
        "%%" => Func::TrimLongestSuffix,
        ":" => Func::Substr,
        "/#" => Func::ReplacePrefix,
        "/%" => Func::ReplaceSuffix,
        "/" => Func::ReplaceFirst,
        "//" => Func::ReplaceAll,
        _ => Func::Default,
    }
}

pub fn apply(func: Func, s: &str, args: &[String]) -> String {
    let first = |f: fn(char) -> String| {
        let mut chars = s.chars();
        match chars.next() {
            Some(c) => f(c) + chars.as_str(),
            None => String::new(),
        }
    };
    match func {
        Func::LowerFirst => first(|c| c.to_lowercase().collect()),
        Func::Lower => s.to_lowercase(),
        Func::UpperFirst => first(|c| c.to_uppercase().collect()),
        Func::Upper => s.to_uppercase(),
        Func::Len => s.len().to_string(),
        Func::Default if s.is_empty() => args.concat(),
        Func::Default => s.to_string(),
        Func::Substr => substr(s, args),
        Func::ReplaceAll | Func::ReplaceFirst => match args {
            [] => s.to_string(),
            [from] | [from, _] if from.is_empty() => {
                // Go's strings.Replace with an empty pattern inserts at every rune boundary.
                let to = args.get(1).map(String::as_str).unwrap_or("");
                replace_empty(s, to, func == Func::ReplaceFirst)
            }
            [from] => replace_n(s, from, "", func == Func::ReplaceFirst),
            [from, to, ..] => replace_n(s, from, to, func == Func::ReplaceFirst),
        },
        Func::ReplacePrefix => match args {
            [from, to] if s.starts_with(from.as_str()) => format!("{to}{}", &s[from.len()..]),
            _ => s.to_string(),
        },
        Func::ReplaceSuffix => match args {
            [from, to] if s.ends_with(from.as_str()) => {
                format!("{}{to}", &s[..s.len() - from.len()])
            }
            _ => s.to_string(),
        },
        Func::TrimShortestPrefix | Func::TrimLongestPrefix => match args.first() {
            Some(pattern) => trim(s, pattern, func == Func::TrimLongestPrefix),
            None => s.to_string(),
        },
        Func::TrimShortestSuffix | Func::TrimLongestSuffix => match args.first() {
            Some(pattern) => {
                let reversed: String = s.chars().rev().collect();
                let pattern: String = pattern.chars().rev().collect();
                trim(&reversed, &pattern, func == Func::TrimLongestSuffix)
                    .chars()
                    .rev()
                    .collect()
            }
            None => s.to_string(),
        },
    }
}

fn replace_n(s: &str, from: &str, to: &str, once: bool) -> String {
    if once {
        s.replacen(from, to, 1)
    } else {
        s.replace(from, to)
    }
}

fn replace_empty(s: &str, to: &str, once: bool) -> String {
    if once {
        return format!("{to}{s}");
    }
    let mut out = String::with_capacity(s.len() + to.len() * (s.len() + 1));
    out.push_str(to);
    for c in s.chars() {
        out.push(c);
        out.push_str(to);
    }
    out
}

/// Byte positions, as Go slices strings; a cut inside a character keeps the valid part.
fn substr(s: &str, args: &[String]) -> String {
    let bytes = s.as_bytes();
    let len = bytes.len() as i64;
    let text = |from: i64, to: i64| {
        String::from_utf8_lossy(&bytes[from as usize..to as usize]).into_owned()
    };
    let Some(Ok(mut pos)) = args.first().map(|a| a.parse::<i64>()) else {
        return s.to_string();
    };
    if pos < 0 {
        pos = (len + pos).max(0);
    }
    let Some(length) = args.get(1) else {
        return if pos < len {
            text(pos, len)
        } else {
            String::new()
        };
    };
    let Ok(length) = length.parse::<i64>() else {
        return s.to_string();
    };
    if length < 0 {
        let end = len + length;
        return if end < pos || pos > len {
            String::new()
        } else {
            text(pos, end)
        };
    }
    if pos + length >= len {
        return if pos < len {
            text(pos, len)
        } else {
            String::new()
        };
    }
    text(pos, pos + length)
}

/// `trimShortest`/`trimLongest`: the shortest or longest prefix of `s` matching the pattern
/// (Go's `path.Match`) is removed; a bad pattern leaves `s` as it is.
fn trim(s: &str, pattern: &str, longest: bool) -> String {
    let bytes = s.as_bytes();
    let mut found: Option<usize> = None;
    for i in 0..bytes.len() {
        let end = bytes.len() - i;
        let prefix = String::from_utf8_lossy(&bytes[..end]);
        match glob::matches(pattern, &prefix) {
            Err(()) => return s.to_string(),
            Ok(true) => {
                found = Some(end);
                if longest {
                    break;
                }
            }
            Ok(false) => {}
        }
    }
    match found {
        Some(end) if end > 0 => String::from_utf8_lossy(&bytes[end..]).into_owned(),
        _ => s.to_string(),
    }
}
