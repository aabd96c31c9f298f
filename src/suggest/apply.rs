//! Putting a suggestion into Git: `--write DIR` applies the diff to a checkout with
//! `git apply` (so it is exactly the diff the person would apply), and `--commit` makes a
//! commit on a new branch of a local clone with Git's plumbing, on top of the revision the
//! suggestion was made at, without touching that clone's working tree or index.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use super::Suggestion;

/// Why the change could not be put into Git.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run {command} (the git command is needed)")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command}: {stderr}")]
    Failed { command: String, stderr: String },
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("{0:?} is not a valid branch name")]
    BadBranch(String),
    #[error("branch {branch} already exists in {repo}")]
    BranchExists { branch: String, repo: String },
    #[error("{repo} does not hold commit {commit} (the revision the change was made at); fetch it first")]
    NoBase { repo: String, commit: String },
    #[error("cannot make a scratch index")]
    Scratch(#[source] std::io::Error),
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `git` in `dir` with `stdin`, returning its trimmed stdout.
fn git(dir: &Path, args: &[&str], stdin: Option<&[u8]>, index: Option<&Path>) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    let shown = format!("git {}", args.join(" "));
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        command: shown.clone(),
        source,
    })?;
    let io = |source| Error::Io {
        command: shown.clone(),
        source,
    };
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).map_err(io)?;
    }
    let out = child.wait_with_output().map_err(io)?;
    if !out.status.success() {
        return Err(Error::Failed {
            command: shown,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Applies the diff to the files under `dir` (a checkout of the repository, at the revision
/// or near it): checked whole first, so a diff that does not apply changes nothing.
pub fn write(suggestion: &Suggestion, dir: &Path) -> Result<()> {
    let diff = suggestion.diff();
    if diff.is_empty() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(Error::NotADirectory(dir.display().to_string()));
    }
    git(dir, &["apply", "--check", "-"], Some(diff.as_bytes()), None)?;
    git(dir, &["apply", "-"], Some(diff.as_bytes()), None)?;
    Ok(())
}

/// Commits the change on a new branch `branch` of the repository at `repo`, whose parent is
/// the commit the suggestion was made at. Returns the new commit's id.
pub fn commit(suggestion: &Suggestion, repo: &Path, branch: &str) -> Result<String> {
    git(repo, &["check-ref-format", "--branch", branch], None, None)
        .map_err(|_| Error::BadBranch(branch.to_string()))?;
    let exists = git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
        None,
        None,
    );
    if exists.is_ok() {
        return Err(Error::BranchExists {
            branch: branch.to_string(),
            repo: repo.display().to_string(),
        });
    }
    let base = &suggestion.commit;
    git(
        repo,
        &["cat-file", "-e", &format!("{base}^{{commit}}")],
        None,
        None,
    )
    .map_err(|_| Error::NoBase {
        repo: repo.display().to_string(),
        commit: base.clone(),
    })?;
    // A private index: the clone's own index and working tree stay as they are.
    let scratch = tempfile::tempdir().map_err(Error::Scratch)?;
    let index = scratch.path().join("index");
    let index = Some(index.as_path());
    git(repo, &["read-tree", base], None, index)?;
    for change in &suggestion.files {
        match &change.after {
            Some(text) => {
                let blob = git(
                    repo,
                    &["hash-object", "-w", "--stdin"],
                    Some(text.as_bytes()),
                    None,
                )?;
                let mode =
                    existing_mode(repo, base, &change.path).unwrap_or_else(|| "100644".into());
                let info = format!("{mode},{blob},{}", change.path);
                git(
                    repo,
                    &["update-index", "--add", "--cacheinfo", &info],
                    None,
                    index,
                )?;
            }
            None => {
                git(
                    repo,
                    &["update-index", "--force-remove", "--", &change.path],
                    None,
                    index,
                )?;
            }
        }
    }
    let tree = git(repo, &["write-tree"], None, index)?;
    let message = suggestion.message();
    let mut args = vec!["commit-tree", tree.as_str(), "-p", base.as_str(), "-F", "-"];
    // Without an identity configured, Git refuses; the commit is then signed as the tool.
    let identity = git(repo, &["var", "GIT_COMMITTER_IDENT"], None, None).is_ok();
    let fallback = [
        "-c",
        "user.name=driftgate suggest",
        "-c",
        "user.email=driftgate@localhost",
    ];
    if !identity {
        args.splice(0..0, fallback);
    }
    let commit = git(repo, &args, Some(message.as_bytes()), None)?;
    git(repo, &["branch", branch, &commit], None, None)?;
    Ok(commit)
}

fn existing_mode(repo: &Path, base: &str, path: &str) -> Option<String> {
    let line = git(repo, &["ls-tree", base, "--", path], None, None).ok()?;
    line.split_whitespace().next().map(str::to_string)
}
