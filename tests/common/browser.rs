//! Headless Chromium for looking at report pages, with the flags this machine's closed
//! network needs; a hung browser is killed when its guard drops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child on drop, so a hung browser never outlives the test.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// Runs headless Chromium with the flags this machine's closed network needs.
pub fn run_chromium(bin: &Path, profile: &Path, args: &[String]) -> std::process::Output {
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let mut guard = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match guard.0.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => panic!("chromium did not finish in time"),
        }
    }
    let Killed(child) = &mut guard;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_end(&mut out, &mut stdout).expect("read stdout");
    }
    if let Some(mut err) = child.stderr.take() {
        std::io::Read::read_to_end(&mut err, &mut stderr).expect("read stderr");
    }
    let status = child.wait().expect("status");
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

/// Looks at a report page as a person would: writes it to `NAME.html` beside the build (kept
/// for a person to open or print), takes a `NAME.png` screenshot `height` pixels tall that must
/// be a real picture, and returns the DOM Chromium rendered. `None` (with a notice) when no
/// Chromium is installed.
pub fn look_at(name: &str, html: &str, height: u32) -> Option<String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let page = dir.join(format!("{name}.html"));
    std::fs::write(&page, html).expect("write page");
    let Some(bin) = chromium() else {
        eprintln!("notice: chromium is not installed; skipping the browser check");
        return None;
    };
    let profile = tempfile::tempdir().expect("profile");
    let shot = dir.join(format!("{name}.png"));
    let _ = std::fs::remove_file(&shot);
    let url = format!("file://{}", page.display());
    let out = run_chromium(
        &bin,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            format!("--window-size=1280,{height}"),
            url.clone(),
        ],
    );
    assert!(
        shot.is_file(),
        "screenshot taken: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("png");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture"
    );
    eprintln!("screenshot: {}", shot.display());
    let out = run_chromium(&bin, profile.path(), &["--dump-dom".into(), url]);
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
