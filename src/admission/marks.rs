//! The annotations driftgate itself puts on objects (annotate mode). Kept apart from the mutating
//! answer that writes them because the decision reads them too: its own marks are never drift.

use crate::drift::path::{Path, Segment};

/// The drifting paths, comma-separated.
pub const DRIFT: &str = "driftgate.io/drift";
/// The revision the object was compared with.
pub const DRIFT_REVISION: &str = "driftgate.io/drift-revision";
/// The user who introduced the drift.
pub const DRIFT_BY: &str = "driftgate.io/drift-by";

const OWN: [&str; 3] = [DRIFT, DRIFT_REVISION, DRIFT_BY];

/// True for `metadata.annotations["driftgate.io/drift…"]`: the marks driftgate itself adds are
/// never drift, or an annotated object would be blocked (or re-annotated) for carrying them.
pub fn is_own_annotation(path: &Path) -> bool {
    match path.0.as_slice() {
        [Segment::Key(m), Segment::Key(a), Segment::Key(k)] => {
            m == "metadata" && a == "annotations" && OWN.contains(&k.as_str())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_annotations_are_recognised() {
        let own = Path::root()
            .key("metadata")
            .key("annotations")
            .key(DRIFT_BY);
        assert!(is_own_annotation(&own));
        let other = Path::root()
            .key("metadata")
            .key("annotations")
            .key("driftgate.io/break-glass");
        assert!(!is_own_annotation(&other));
    }
}
