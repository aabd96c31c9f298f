//! Writes a build's inputs from the object database into a temporary directory. Never a git
//! worktree: the export holds exactly the blobs of the commit that the cache key names, and it is
//! removed when the build is done (the caller owns the `TempDir`).

use std::path::{Path, PathBuf};

use gix::ObjectId;

use crate::git::{EntryKind, ReadBlob};

use super::plan::{Inputs, TreeIndex};

/// Largest export accepted: a build reading gigabytes of a repository is an accident.
pub const MAX_EXPORT_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Io(#[source] std::io::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
    Blob {
        path: String,
        #[source]
        source: crate::git::Error,
    },
    #[error("the inputs exceed {MAX_EXPORT_BYTES} bytes")]
    TooLarge,
    #[error("tree path {0:?} would leave the export directory")]
    UnsafePath(String),
}

/// `dest/path`, refusing tree entries named `..`, `.` or absolute: a crafted tree must not make
/// the export write outside its directory.
fn target(dest: &Path, path: &str) -> Result<PathBuf, Error> {
    let safe = path
        .split('/')
        .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'));
    if !safe {
        return Err(Error::UnsafePath(path.to_string()));
    }
    Ok(dest.join(path))
}

/// Writes every input (whole directories and single files) beneath `dest`, at its tree path.
pub fn export(
    index: &TreeIndex,
    inputs: &Inputs,
    dest: &Path,
    read: &ReadBlob<'_>,
) -> Result<(), Error> {
    let mut total = 0u64;
    for (path, (kind, id)) in &inputs.entries {
        match kind {
            EntryKind::Tree => {
                if !path.is_empty() {
                    make_dir(&target(dest, path)?)?;
                }
                for (p, k, blob) in index.beneath(path) {
                    match k {
                        EntryKind::Tree => make_dir(&target(dest, p)?)?,
                        EntryKind::Blob => write(dest, p, blob, read, &mut total)?,
                        EntryKind::Link | EntryKind::Other => {}
                    }
                }
            }
            EntryKind::Blob => write(dest, path, *id, read, &mut total)?,
            EntryKind::Link | EntryKind::Other => {}
        }
    }
    Ok(())
}

fn make_dir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn write(
    dest: &Path,
    path: &str,
    blob: ObjectId,
    read: &ReadBlob<'_>,
    total: &mut u64,
) -> Result<(), Error> {
    let bytes = read(blob).map_err(|source| Error::Blob {
        path: path.to_string(),
        source,
    })?;
    *total += bytes.len() as u64;
    if *total > MAX_EXPORT_BYTES {
        return Err(Error::TooLarge);
    }
    let file = target(dest, path)?;
    if let Some(dir) = file.parent() {
        make_dir(dir)?;
    }
    std::fs::write(&file, bytes).map_err(|source| Error::Write { path: file, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crafted_paths_stay_inside() {
        let dest = Path::new("/tmp/x");
        assert!(target(dest, "a/b.yaml").is_ok());
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a"] {
            assert!(
                matches!(target(dest, bad), Err(Error::UnsafePath(_))),
                "{bad}"
            );
        }
    }
}
