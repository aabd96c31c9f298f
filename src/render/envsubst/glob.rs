//! Go's `path.Match`, which the trim functions (`${VAR#pattern}`, `${VAR%%pattern}`) use:
//! `*` (not across `/`), `?`, `[...]` classes with `^` and ranges, `\` escapes. `Err` is Go's
//! `ErrBadPattern`.

pub fn matches(pattern: &str, name: &str) -> Result<bool, ()> {
    let mut pattern: &[char] = &pattern.chars().collect::<Vec<_>>();
    let name_chars: Vec<char> = name.chars().collect();
    let mut name: &[char] = &name_chars;
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&'/'));
        }
        let (t, ok, err) = match_chunk(chunk, name);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if err {
            return Err(());
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != '/' {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                if err {
                    return Err(());
                }
                i += 1;
            }
        }
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            if match_chunk(chunk, &[]).2 {
                return Err(());
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pattern: &[char]) -> (bool, &[char], &[char]) {
    let mut star = false;
    while pattern.first() == Some(&'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' if i + 1 < pattern.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// (rest of name, matched, bad pattern)
fn match_chunk<'n>(mut chunk: &[char], mut s: &'n [char]) -> (&'n [char], bool, bool) {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            '[' => {
                let mut r = None;
                if !failed {
                    r = s.first().copied();
                    s = &s[1..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let Some((lo, rest)) = escaped(chunk) else {
                        return (&[], false, true);
                    };
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&'-') {
                        let Some((h, rest)) = escaped(&chunk[1..]) else {
                            return (&[], false, true);
                        };
                        hi = h;
                        chunk = rest;
                    }
                    if r.is_some_and(|r| lo <= r && r <= hi) {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == '\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return (&[], false, true);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        (&[], false, false)
    } else {
        (s, true, false)
    }
}

/// One possibly escaped character of a class, and what follows it (never empty).
fn escaped(chunk: &[char]) -> Option<(char, &[char])> {
    let mut chunk = chunk;
    match chunk.first() {
        None | Some('-') | Some(']') => return None,
        Some('\\') => {
            chunk = &chunk[1..];
        }
        _ => {}
    }
    let (&c, rest) = chunk.split_first()?;
    (!rest.is_empty()).then_some((c, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_path_match() {
        for (pattern, name, want) in [
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a/b", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a?c", "abc", Ok(true)),
            ("[a-c]x", "bx", Ok(true)),
            ("[^a-c]x", "bx", Ok(false)),
            ("a\\*b", "a*b", Ok(true)),
            ("[", "a", Err(())),
            ("a\\", "a", Err(())),
            ("*x", "xxx", Ok(true)),
        ] {
            assert_eq!(matches(pattern, name), want, "{pattern} {name}");
        }
    }
}
