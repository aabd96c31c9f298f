//! The suggestion as a unified diff that `git apply` accepts: `a/` and `b/` paths relative to
//! the repository root, three lines of context, new and deleted files marked as Git marks
//! them, a last line without a line break flagged.

use std::fmt::Write as _;

use gix::diff::blob::{Algorithm, Diff, InternedInput};

use super::repo::FileChange;

/// Lines of context around each change.
const CONTEXT: u32 = 3;

/// The whole diff; empty when nothing changes.
pub fn unified(changes: &[FileChange]) -> String {
    let mut out = String::new();
    for change in changes {
        file(&mut out, change);
    }
    out
}

fn file(out: &mut String, change: &FileChange) {
    let path = &change.path;
    let _ = writeln!(out, "diff --git a/{path} b/{path}");
    match (&change.before, &change.after) {
        (None, Some(_)) => {
            let _ = writeln!(out, "new file mode 100644\n--- /dev/null\n+++ b/{path}");
        }
        (Some(_), None) => {
            let _ = writeln!(out, "deleted file mode 100644\n--- a/{path}\n+++ /dev/null");
        }
        _ => {
            let _ = writeln!(out, "--- a/{path}\n+++ b/{path}");
        }
    }
    let before = change.before.as_deref().unwrap_or("");
    let after = change.after.as_deref().unwrap_or("");
    hunks(out, before, after);
}

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn push_line(out: &mut String, mark: char, line: &str) {
    out.push(mark);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

/// The changed ranges of `before` and `after`, grouped into hunks with their context.
fn hunks(out: &mut String, before: &str, after: &str) {
    let input = InternedInput::new(before, after);
    let mut diff = Diff::compute(Algorithm::Histogram, &input);
    diff.postprocess_lines(&input);
    let (old, new) = (lines(before), lines(after));
    let changes: Vec<_> = diff.hunks().collect();
    let mut i = 0;
    while i < changes.len() {
        // Changes closer than twice the context share a hunk.
        let mut j = i;
        while j + 1 < changes.len()
            && changes[j + 1].before.start <= changes[j].before.end + 2 * CONTEXT
        {
            j += 1;
        }
        let start_old = changes[i].before.start.saturating_sub(CONTEXT);
        let lead = changes[i].before.start - start_old;
        let start_new = changes[i].after.start - lead;
        let end_old = (changes[j].before.end + CONTEXT).min(old.len() as u32);
        let trail = end_old - changes[j].before.end;
        let end_new = changes[j].after.end + trail;
        let _ = writeln!(
            out,
            "@@ -{} +{} @@",
            range(start_old, end_old - start_old),
            range(start_new, end_new - start_new)
        );
        let mut at = start_old;
        for change in &changes[i..=j] {
            for line in &old[at as usize..change.before.start as usize] {
                push_line(out, ' ', line);
            }
            for line in &old[change.before.start as usize..change.before.end as usize] {
                push_line(out, '-', line);
            }
            for line in &new[change.after.start as usize..change.after.end as usize] {
                push_line(out, '+', line);
            }
            at = change.before.end;
        }
        for line in &old[at as usize..end_old as usize] {
            push_line(out, ' ', line);
        }
        i = j + 1;
    }
}

/// `start,len` as unified diffs write it: 1-based, and the line before for an empty range.
fn range(start: u32, len: u32) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(before: Option<&str>, after: Option<&str>) -> FileChange {
        FileChange {
            path: "apps/web.yaml".into(),
            before: before.map(str::to_string),
            after: after.map(str::to_string),
        }
    }

    #[test]
    fn hunks_new_and_deleted_files() {
        let before = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let after = "a\nb\nC\nd\ne\nf\ng\nh\ni\nj\nk";
        let text = unified(&[change(Some(before), Some(after))]);
        assert_eq!(
            text,
            "diff --git a/apps/web.yaml b/apps/web.yaml\n--- a/apps/web.yaml\n+++ b/apps/web.yaml\n\
             @@ -1,6 +1,6 @@\n a\n b\n-c\n+C\n d\n e\n f\n\
             @@ -8,3 +8,4 @@\n h\n i\n j\n+k\n\\ No newline at end of file\n"
        );
        let created = unified(&[change(None, Some("x: 1\n"))]);
        assert!(
            created.contains(
                "new file mode 100644\n--- /dev/null\n+++ b/apps/web.yaml\n@@ -0,0 +1 @@\n+x: 1\n"
            ),
            "{created}"
        );
        let deleted = unified(&[change(Some("x: 1\ny: 2\n"), None)]);
        assert!(
            deleted.contains("+++ /dev/null\n@@ -1,2 +0,0 @@\n-x: 1\n-y: 2\n"),
            "{deleted}"
        );
    }
}
