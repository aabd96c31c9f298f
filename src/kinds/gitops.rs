//! Kinds GitOps repositories commonly carry without their CRD beside them (the CRD comes from a
//! Helm chart or an operator): group, kind, plural resource, scope. Used when neither Git nor the
//! cluster has the CRD, so that `webhook-config` registers the right resource and keys get the
//! right scope. The rows are data, kept in `gitops.tsv` beside this file (one line a kind) so the
//! table reads as a table; each row was checked against the project's CRD.

const TABLE: &str = include_str!("gitops.tsv");

/// One row: (group, kind, plural, namespaced).
pub type Row = (&'static str, &'static str, &'static str, bool);

/// Every row of the table. The text is compiled in and a test proves every line reads, so a
/// line that does not (which cannot ship) is skipped rather than trusted.
pub fn common() -> impl Iterator<Item = Row> {
    TABLE.lines().filter_map(|line| parse(line).ok().flatten())
}

/// A line of the table that does not read.
#[derive(Debug, thiserror::Error)]
enum BadRow {
    #[error("{0:?}: expected 4 tab-separated fields")]
    Fields(&'static str),
    #[error("{line:?}: scope {scope:?} is neither Namespaced nor Cluster")]
    Scope {
        line: &'static str,
        scope: &'static str,
    },
}

/// A row, `None` for a comment or blank line, or what is wrong with the line.
fn parse(line: &'static str) -> Result<Option<Row>, BadRow> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&'static str> = line.split('\t').collect();
    let [group, kind, plural, scope] = fields[..] else {
        return Err(BadRow::Fields(line));
    };
    let namespaced = match scope {
        "Namespaced" => true,
        "Cluster" => false,
        scope => return Err(BadRow::Scope { line, scope }),
    };
    Ok(Some((group, kind, plural, namespaced)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_line_reads() {
        for line in TABLE.lines() {
            assert!(parse(line).is_ok(), "{:?}", parse(line));
        }
        assert!(common().count() > 250);
        assert!(parse("a\tB\tbs\tGlobal").is_err());
        assert!(parse("a\tB\tbs").is_err());
    }

    #[test]
    fn one_row_per_kind_and_per_resource() {
        let mut kinds = HashSet::new();
        let mut plurals = HashSet::new();
        for (group, kind, plural, _) in common() {
            assert!(kinds.insert((group, kind)), "{group}/{kind} twice");
            assert!(plurals.insert((group, plural)), "{group}/{plural} twice");
            assert_eq!(plural, plural.to_lowercase(), "{plural}");
            assert!(!group.is_empty() && !kind.is_empty(), "{group}/{kind}");
        }
    }

    #[test]
    fn rows_that_were_wrong_once() {
        let find = |g: &str, k: &str| common().find(|r| r.0 == g && r.1 == k);
        assert_eq!(
            find("gateway.networking.k8s.io", "Gateway").map(|r| r.2),
            Some("gateways")
        );
        assert_eq!(
            find("cert-manager.io", "ClusterIssuer").map(|r| r.3),
            Some(false)
        );
        assert_eq!(
            find("argoproj.io", "Rollout").map(|r| (r.2, r.3)),
            Some(("rollouts", true))
        );
    }
}
