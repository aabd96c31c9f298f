//! The glob of Argo CD's `directory.include`/`exclude` (gobwas/glob with no separators, matched
//! against the path relative to the Application's directory): `*` and `**` match any run of
//! characters, `/` included; `?` one character; `[abc]`, `[a-z]`, `[!a]` classes; `{a,b}`
//! alternatives, which may nest and hold globs; `\` escapes.

/// Whether `text` matches `pattern`; a pattern that does not compile matches nothing, as in
/// Argo CD (which logs it).
pub fn matches(pattern: &str, text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    match expand(&pattern.chars().collect::<Vec<_>>()) {
        Some(alternatives) => alternatives.iter().any(|p| wildcard(p, &text)),
        None => false,
    }
}

/// Brace alternatives expanded into plain patterns; `None` when braces do not balance.
fn expand(pattern: &[char]) -> Option<Vec<Vec<char>>> {
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' => i += 2,
            '{' => {
                let (parts, end) = split_braces(pattern, i)?;
                let prefix = &pattern[..i];
                let rest = expand(&pattern[end + 1..])?;
                let mut out = Vec::new();
                for part in parts {
                    for inner in expand(&part)? {
                        for tail in &rest {
                            let mut p = prefix.to_vec();
                            p.extend(&inner);
                            p.extend(tail);
                            out.push(p);
                        }
                    }
                }
                return Some(out);
            }
            '}' => return None,
            _ => i += 1,
        }
    }
    Some(vec![pattern.to_vec()])
}

/// The comma-separated parts of the brace group opening at `open`, and where it closes.
fn split_braces(pattern: &[char], open: usize) -> Option<(Vec<Vec<char>>, usize)> {
    let mut depth = 0;
    let mut parts = vec![Vec::new()];
    let mut i = open + 1;
    while i < pattern.len() {
        let c = pattern[i];
        match c {
            '\\' => {
                parts.last_mut()?.push(c);
                if let Some(&next) = pattern.get(i + 1) {
                    parts.last_mut()?.push(next);
                }
                i += 2;
                continue;
            }
            '{' => depth += 1,
            '}' if depth == 0 => return Some((parts, i)),
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(Vec::new());
                i += 1;
                continue;
            }
            _ => {}
        }
        parts.last_mut()?.push(c);
        i += 1;
    }
    None
}

fn wildcard(p: &[char], t: &[char]) -> bool {
    match p.first() {
        None => t.is_empty(),
        Some('*') => {
            let rest = &p[1..];
            (0..=t.len()).any(|i| wildcard(rest, &t[i..]))
        }
        Some('?') => !t.is_empty() && wildcard(&p[1..], &t[1..]),
        Some('[') => {
            let Some(close) = p.iter().skip(2).position(|c| *c == ']').map(|i| i + 2) else {
                return false;
            };
            let Some(&c) = t.first() else {
                return false;
            };
            let class = &p[1..close];
            let (negated, class) = match class.first() {
                Some('!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negated && wildcard(&p[close + 1..], &t[1..])
        }
        Some('\\') if p.len() > 1 => t.first() == Some(&p[1]) && wildcard(&p[2..], &t[1..]),
        Some(c) => t.first() == Some(c) && wildcard(&p[1..], &t[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argo_cd_globs() {
        assert!(matches("*.yaml", "a.yaml"));
        assert!(matches("*.yaml", "sub/a.yaml"));
        assert!(matches("{config.json,env-usw2/*}", "env-usw2/x.yaml"));
        assert!(matches("{config.json,env-usw2/*}", "config.json"));
        assert!(!matches("{config.json,env-usw2/*}", "env-use1/x.yaml"));
        assert!(matches("*{deploy,svc}*.{yml,yaml}", "app-deploy.yaml"));
        assert!(matches("[!x]?.yaml", "ab.yaml"));
        assert!(!matches("[!a]?.yaml", "ab.yaml"));
        assert!(!matches("{a,b", "a"));
    }
}
