//! Which element of an old list becomes which element of the new one, so that a changed
//! element is edited in place instead of cut and written anew.

use serde_json::Value;

use super::super::value::same;

/// Fields that identify a list element (list-map keys of Kubernetes types), for pairing an
/// element with its changed version.
const IDENTITY: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
    "key",
    "conditionType",
    "topologyKey",
];

fn identity(value: &Value) -> Option<(&'static str, &Value)> {
    IDENTITY.iter().find_map(|k| value.get(*k).map(|v| (*k, v)))
}

fn kind_of(value: &Value) -> u8 {
    match value {
        Value::Object(_) => 0,
        Value::Array(_) => 1,
        _ => 2,
    }
}

/// Longest common subsequence of `a` and `b` under `eq`, as index pairs in order.
fn lcs(a: &[usize], b: &[usize], eq: &dyn Fn(usize, usize) -> bool) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 || n.saturating_mul(m) > 4_000_000 {
        return Vec::new();
    }
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if eq(a[i], b[j]) {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if eq(a[i], b[j]) {
            out.push((a[i], b[j]));
            i += 1;
            j += 1;
        } else {
            let (skip_old, skip_new) = (table[at(i + 1, j)], table[at(i, j + 1)]);
            // On a tie, skip on the longer side: the pairs found later stay at the same
            // relative places, so elements between them pair up too (a changed duplicate).
            if skip_old > skip_new || (skip_old == skip_new && n - i > m - j) {
                i += 1;
            } else {
                j += 1;
            }
        }
    }
    out
}

/// Which old element becomes which new one, in order. Lists of one length pair up by
/// position; otherwise equal elements first, then in the gaps
/// between them elements of the same identity (a container by its name), then elements of
/// the same kind, so a changed element is edited rather than written anew.
pub fn align(old: &[Value], new: &[Value]) -> Vec<(usize, usize)> {
    if old.len() == new.len() {
        // Same length: element for element (a value changed in place), except where the
        // kind changes (that element is written anew).
        return (0..old.len())
            .filter(|&i| same(&old[i], &new[i]) || kind_of(&old[i]) == kind_of(&new[i]))
            .map(|i| (i, i))
            .collect();
    }
    let all_old: Vec<usize> = (0..old.len()).collect();
    let all_new: Vec<usize> = (0..new.len()).collect();
    let equal = lcs(&all_old, &all_new, &|i, j| same(&old[i], &new[j]));
    let mut pairs = Vec::new();
    let (mut oi, mut ni) = (0, 0);
    let bounds = equal
        .iter()
        .copied()
        .chain(std::iter::once((old.len(), new.len())));
    for (oe, ne) in bounds {
        let gap_old: Vec<usize> = (oi..oe).collect();
        let gap_new: Vec<usize> = (ni..ne).collect();
        let same_identity = |i: usize, j: usize| match (identity(&old[i]), identity(&new[j])) {
            (Some(a), Some(b)) => a.0 == b.0 && same(a.1, b.1),
            _ => false,
        };
        let by_identity = lcs(&gap_old, &gap_new, &same_identity);
        // Between those, elements of the same kind, in order.
        let (mut gi, mut gj) = (oi, ni);
        for (a, b) in by_identity.iter().copied().chain(std::iter::once((oe, ne))) {
            let sub_old: Vec<usize> = (gi..a).collect();
            let sub_new: Vec<usize> = (gj..b).collect();
            pairs.extend(lcs(&sub_old, &sub_new, &|i, j| {
                kind_of(&old[i]) == kind_of(&new[j])
            }));
            if a < oe {
                pairs.push((a, b));
            }
            gi = a + 1;
            gj = b + 1;
        }
        if oe < old.len() {
            pairs.push((oe, ne));
        }
        oi = oe + 1;
        ni = ne + 1;
    }
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alignment_pairs_changed_elements_in_order() {
        let old = [
            json!({"name": "a"}),
            json!({"name": "web", "image": "x"}),
            json!("s"),
        ];
        let new = [
            json!({"name": "a"}),
            json!({"name": "web", "image": "y"}),
            json!({"name": "new"}),
            json!("t"),
        ];
        assert_eq!(align(&old, &new), [(0, 0), (1, 1), (2, 3)]);
        assert_eq!(
            align(&[json!(1), json!(2)], &[json!(2), json!(1)]),
            [(0, 0), (1, 1)]
        );
        assert_eq!(
            align(&[json!(1), json!(2), json!(3)], &[json!(2), json!(1)]),
            [(1, 0), (2, 1)]
        );
        assert_eq!(
            align(&[json!({"name": "a"})], &[json!({"name": "b"})]),
            [(0, 0)]
        );
        assert!(align(&[json!({"name": "a"})], &[json!("b")]).is_empty());
    }
}
