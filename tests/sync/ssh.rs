//! `ssh://` through the system ssh against a real, throwaway `sshd` on 127.0.0.1: the key from
//! `sshKeyFile`, the host key checked against `knownHostsFile`. A first sync, a push followed,
//! a wrong key and an unknown host key failing clearly while the last good snapshot serves,
//! and no key material in any error.

use super::*;

/// `sshd` (which must be run by absolute path) and `ssh-keygen`, when installed.
fn ssh_tools() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        let path = std::env::var("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    };
    Some((find("sshd")?, find("ssh-keygen")?))
}

fn keygen(ssh_keygen: &Path, path: &Path) {
    let status = Command::new(ssh_keygen)
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "driftgate-test",
            "-f",
        ])
        .arg(path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// An `sshd -D` on 127.0.0.1 letting the current user in with the keys in `authorized_keys`;
/// killed (and reaped) on drop.
struct Sshd {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Sshd {
    fn start(sshd: &Path, dir: &Path, host_key: &Path, authorized: &Path) -> Sshd {
        // Run as root, sshd insists on its (empty) privilege separation directory, which the
        // package only creates at boot.
        let _ = std::fs::create_dir_all("/run/sshd");
        let log = dir.join("sshd.log");
        // The port is chosen free, then bound by sshd: another process may take it in between,
        // so a few tries.
        for _ in 0..5 {
            let port = free_port();
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                     PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                     PermitRootLogin prohibit-password\nAllowUsers {}\nLogLevel VERBOSE\n",
                    host_key.display(),
                    authorized.display(),
                    current_user()
                ),
            )
            .expect("write sshd_config");
            let child = Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log file"))
                .spawn()
                .expect("sshd starts");
            let mut server = Sshd {
                child,
                port,
                log: log.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return server;
                }
                if server.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("sshd did not start on {port}: {}", server.log_text());
            drop(server);
        }
        panic!("sshd did not start");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines of a private key file that hold key material (not the BEGIN/END markers).
fn secret_lines(key: &Path) -> Vec<String> {
    std::fs::read_to_string(key)
        .expect("key")
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(str::to_string)
        .collect()
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn ssh_sources_use_the_key_and_check_the_host_key() {
    let Some((sshd, ssh_keygen)) = ssh_tools() else {
        eprintln!("notice: sshd or ssh-keygen not installed; skipping the ssh:// test");
        return;
    };
    let repos = Repos::new();
    let first = repos.commit(&[("apps/web.yaml", &deployment(3))], "three");
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path();
    let (host_key, client_key, wrong_key) = (
        keys.join("host_key"),
        keys.join("client_key"),
        keys.join("wrong_key"),
    );
    for key in [&host_key, &client_key, &wrong_key] {
        keygen(&ssh_keygen, key);
    }
    let authorized = keys.join("authorized_keys");
    std::fs::copy(keys.join("client_key.pub"), &authorized).expect("authorized_keys");
    let server = Sshd::start(&sshd, keys, &host_key, &authorized);
    let port = server.port;

    // What the source is configured with: a key file and a known_hosts file (mounted Secrets).
    let key_file = keys.join("id");
    std::fs::copy(&client_key, &key_file).expect("copy key");
    set_private(&key_file);
    let known_line = |public: &Path| {
        let text = std::fs::read_to_string(public).expect("public key");
        let mut fields = text.split_whitespace();
        format!(
            "[127.0.0.1]:{port} {} {}\n",
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default()
        )
    };
    let known_hosts = keys.join("known_hosts");
    std::fs::write(&known_hosts, known_line(&keys.join("host_key.pub"))).expect("known_hosts");
    let url = format!(
        "ssh://{}@127.0.0.1:{port}{}",
        current_user(),
        repos.served.display()
    );
    let cfg = config(
        &format!(
            "{{name: fleet, url: {url:?}, ref: main, sshKeyFile: {:?}, knownHostsFile: {:?}, \
             timeout: 20s}}",
            key_file.display().to_string(),
            known_hosts.display().to_string()
        ),
        &keys.join("cache"),
    );
    let live = Arc::new(Live::new());
    let mut syncer = Syncer::new(&cfg, live.clone());
    let trigger = syncer.trigger();
    let detail = || trigger.status().render(SystemTime::now());
    let revision = || live.load().map(|s| s.revision_label().to_string());

    // The first sync clones over ssh.
    assert!(
        syncer.sync_once(),
        "{}\nsshd: {}",
        detail(),
        server.log_text()
    );
    assert!(revision().is_some_and(|r| r.contains(short(&first))));

    // A push is followed.
    let second = repos.commit(&[("apps/web.yaml", &deployment(5))], "five");
    sync_to(&mut syncer, &live, &second);

    // The Secret is replaced by a key the server does not know: the attempt fails and says the
    // server refused it; the last good snapshot stays; the key never shows.
    let third = repos.commit(&[("apps/web.yaml", &deployment(4))], "four");
    std::fs::write(&key_file, std::fs::read(&wrong_key).expect("key")).expect("swap key");
    assert!(!syncer.sync_once());
    let error = last_error(&trigger, "fleet");
    eprintln!("with a wrong key: {error}");
    assert!(
        error.contains("Permission denied") && error.contains("sshKeyFile"),
        "{error}"
    );
    assert!(revision().is_some_and(|r| r.contains(short(&second))));
    let shown = format!("{error}\n{}", detail());
    for secret in secret_lines(&wrong_key)
        .iter()
        .chain(&secret_lines(&client_key))
    {
        assert!(!shown.contains(secret.as_str()), "key material in {shown}");
    }

    // The right key again, but the server's host key is not the one trusted: refused (never
    // added to known_hosts), whatever the key.
    std::fs::copy(&client_key, &key_file).expect("restore key");
    std::fs::write(&known_hosts, known_line(&keys.join("wrong_key.pub"))).expect("known_hosts");
    assert!(!syncer.sync_once());
    let error = last_error(&trigger, "fleet");
    eprintln!("with an untrusted host key: {error}");
    assert!(error.contains("Host key verification failed"), "{error}");
    assert!(revision().is_some_and(|r| r.contains(short(&second))));
    assert_eq!(
        std::fs::read_to_string(&known_hosts).expect("known_hosts"),
        known_line(&keys.join("wrong_key.pub")),
        "known_hosts must not be written"
    );

    // Both fixed: it recovers and follows the commit made meanwhile.
    std::fs::write(&known_hosts, known_line(&keys.join("host_key.pub"))).expect("known_hosts");
    sync_to(&mut syncer, &live, &third);
    assert!(trigger
        .status()
        .get("fleet")
        .is_some_and(|s| s.last_error.is_none() && s.consecutive_failures == 0));
}
