//! Plurals that are not in the tables: an English plural of the kind, and the list of kinds
//! whose plural is such a guess (warned about once per kind, listed in `index`'s notes).

use std::collections::BTreeMap;

use super::Catalog;

/// An English plural of a kind, lower-cased: `gateway` → `gateways`, `policy` → `policies`,
/// `ingress` → `ingresses`, `box` → `boxes`.
pub fn english_plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    let consonant_y = lower.strip_suffix('y').filter(|stem| {
        stem.chars()
            .last()
            .is_some_and(|c| !matches!(c, 'a' | 'e' | 'i' | 'o' | 'u'))
    });
    if let Some(stem) = consonant_y {
        format!("{stem}ies")
    } else if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

/// A kind whose plural had to be guessed, with where it is first declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    pub group: String,
    pub kind: String,
    pub plural: String,
    pub file: String,
    pub line: usize,
}

impl Guess {
    pub fn message(&self) -> String {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}/{}", self.group, self.kind)
        };
        format!(
            "{kind} is neither a built-in kind, a CRD declared in Git nor a kind driftgate knows: its resource is guessed as {:?} (declare its CRD in Git if that is wrong)",
            self.plural
        )
    }
}

/// The kinds among `declared` (group, kind, file, line) whose plural is a guess, once each.
pub fn guessed<'a>(
    catalog: &Catalog,
    declared: impl IntoIterator<Item = (&'a str, &'a str, &'a str, usize)>,
) -> Vec<Guess> {
    let mut out: BTreeMap<(&str, &str), Guess> = BTreeMap::new();
    for (group, kind, file, line) in declared {
        if out.contains_key(&(group, kind)) {
            continue;
        }
        let (plural, guessed) = catalog.plural(group, kind);
        if guessed {
            out.insert(
                (group, kind),
                Guess {
                    group: group.to_string(),
                    kind: kind.to_string(),
                    plural,
                    file: file.to_string(),
                    line,
                },
            );
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_from_the_gitops_table_then_english() {
        let c = Catalog::built_in();
        assert_eq!(
            c.plural("gateway.networking.k8s.io", "Gateway"),
            ("gateways".to_string(), false)
        );
        assert!(!c.is_namespaced("cert-manager.io", "ClusterIssuer"));
        assert!(c.is_namespaced("gateway.networking.k8s.io", "HTTPRoute"));
        assert_eq!(
            c.plural("kustomize.toolkit.fluxcd.io", "Kustomization").0,
            "kustomizations"
        );
        assert_eq!(
            c.plural("example.com", "Gateway"),
            ("gateways".to_string(), true)
        );
        for (kind, plural) in [
            ("Gateway", "gateways"),
            ("Policy", "policies"),
            ("Ingress", "ingresses"),
            ("Box", "boxes"),
            ("Match", "matches"),
            ("Widget", "widgets"),
            ("Key", "keys"),
        ] {
            assert_eq!(english_plural(kind), plural);
        }
        let guesses = guessed(
            &c,
            [
                ("example.com", "Widget", "a.yaml", 3),
                ("example.com", "Widget", "b.yaml", 1),
                ("apps", "Deployment", "c.yaml", 1),
            ],
        );
        assert_eq!(guesses.len(), 1);
        assert_eq!(guesses[0].file, "a.yaml");
        assert!(guesses[0].message().contains("\"widgets\""));
    }
}
