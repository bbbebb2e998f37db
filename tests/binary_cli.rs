//! The `cairn` binary's command line is a contract: drives and their ellipsis
//! form, the embedded default under ./data, generated credentials kept and
//! their secret printed only when generated, CAIRN_* variables, health endpoints, refusing a
//! foreign drive, and a clean exit 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    port: u16,
    stdout: Vec<String>,
}

impl Server {
    fn start(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.current_dir(cwd)
            .arg("serve")
            .args(args)
            .args(["--listen", &listen, "--cores", "2", "--partitions", "8"])
            .env_remove("CAIRN_ROOT_USER")
            .env_remove("CAIRN_ROOT_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("cairn starts");
        // The banner is printed before the cores start; read it line by line
        // until the drives line.
        let mut stdout = Vec::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        for _ in 0..20 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let done = line.contains("drives:");
            stdout.push(line.trim_end().to_owned());
            if done {
                break;
            }
        }
        let mut s = Server {
            child,
            port,
            stdout,
        };
        s.wait_live();
        s
    }

    fn wait_live(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("cairn exited early with {st}: {err}");
            }
            if get(self.port, "/health/live").is_some_and(|(code, _)| code == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cairn did not become live");
    }

    fn line(&self, prefix: &str) -> String {
        self.stdout
            .iter()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no '{prefix}' line in {:?}", self.stdout))
            .clone()
    }

    /// SIGTERM, then the exit status (must come within the shutdown bound).
    fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling the child this test started, by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(25);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "cairn did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.1 GET: (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((code, body))
}

#[test]
fn embedded_default_formats_data_and_keeps_credentials() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start(t.path(), &[], &[]);
    let key = s.line("access key:");
    let secret = s.line("secret key:");
    let secret = secret.trim_start().trim_start_matches("secret key:").trim();
    assert_eq!(
        secret.len(),
        40,
        "the generated secret is shown once: {:?}",
        s.stdout
    );
    assert!(s.line("drives:").contains("layout 2+2"), "{:?}", s.stdout);
    for i in 1..=4 {
        assert!(t
            .path()
            .join(format!("data/disk{i}/.cairn/format.json"))
            .exists());
    }
    assert_eq!(get(s.port, "/health/ready").unwrap().0, 200);
    assert!(s.stop().success(), "SIGTERM must end in exit 0");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(t.path().join("data/disk1/.cairn/credentials.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let stored =
        std::fs::read_to_string(t.path().join("data/disk1/.cairn/credentials.json")).unwrap();
    assert!(
        !stored.contains(secret),
        "the stored secret must be sealed: {stored}"
    );
    // The next start uses the same credentials and names where the secret
    // is kept, without printing it again.
    let secret = secret.to_owned();
    let s = Server::start(t.path(), &[], &[]);
    assert_eq!(s.line("access key:"), key);
    assert!(
        s.line("secret key:").contains("generated at first start"),
        "{:?}",
        s.stdout
    );
    assert!(
        s.stdout.iter().all(|l| !l.contains(&secret)),
        "a stored secret is printed again: {:?}",
        s.stdout
    );
    assert!(s.stop().success());
}

#[test]
fn a_supplied_secret_is_never_printed_and_replaces_a_generated_file() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start(t.path(), &[], &[]);
    assert!(s.stop().success());
    let files: Vec<_> = (1..=4)
        .map(|i| {
            t.path()
                .join(format!("data/disk{i}/.cairn/credentials.json"))
        })
        .collect();
    assert!(files.iter().all(|f| f.exists()));

    let s = Server::start(
        t.path(),
        &[],
        &[
            ("CAIRN_ROOT_USER", "operator"),
            ("CAIRN_ROOT_PASSWORD", "operator-secret-77"),
        ],
    );
    assert!(s.line("access key:").ends_with("operator"));
    assert!(
        s.stdout.iter().all(|l| !l.contains("operator-secret-77")),
        "a supplied secret is printed: {:?}",
        s.stdout
    );
    assert!(s.line("secret key:").contains("as supplied"));
    for f in &files {
        assert!(
            !f.exists(),
            "stale generated credentials left in {}",
            f.display()
        );
    }
    assert!(s.stop().success());
}

#[test]
fn ellipsis_drives_and_credentials_from_the_environment() {
    let t = tempfile::tempdir().unwrap();
    let pattern = format!("{}/d{{1...6}}", t.path().display());
    let s = Server::start(
        t.path(),
        &[&pattern],
        &[
            ("CAIRN_ROOT_USER", "admin-user"),
            ("CAIRN_ROOT_PASSWORD", "admin-password"),
        ],
    );
    assert!(s.line("access key:").ends_with("admin-user"));
    assert!(
        s.line("drives:")
            .contains("drives: 6 (6 online), layout 4+2"),
        "{:?}",
        s.stdout
    );
    assert!(t.path().join("d6/.cairn/format.json").exists());
    assert!(s.stop().success());
}

#[test]
fn missing_and_foreign_drives_are_reported_and_left_alone() {
    let t = tempfile::tempdir().unwrap();
    let drives: Vec<String> = (1..=4)
        .map(|i| format!("{}/d{i}", t.path().display()))
        .collect();
    let args: Vec<&str> = drives.iter().map(|s| s.as_str()).collect();
    let s = Server::start(t.path(), &args, &[]);
    assert!(s.stop().success());

    // A drive from another set in slot 3: refused, untouched, reported.
    let other = tempfile::tempdir().unwrap();
    let od = other.path().join("x");
    std::fs::create_dir_all(&od).unwrap();
    let o = Server::start(other.path(), &[od.to_str().unwrap()], &[]);
    assert!(o.stop().success());
    let foreign_format = std::fs::read(od.join(".cairn/format.json")).unwrap();
    let mut mixed = args.clone();
    mixed[2] = od.to_str().unwrap();
    let s = Server::start(t.path(), &mixed, &[]);
    assert!(
        s.stdout
            .iter()
            .any(|l| l.contains("drive 2") && l.contains("OFFLINE")),
        "{:?}",
        s.stdout
    );
    // 2+2 keeps a write quorum of 3 with one drive refused.
    assert_eq!(get(s.port, "/health/ready").unwrap().0, 200);
    assert!(s.stop().success());
    assert_eq!(
        std::fs::read(od.join(".cairn/format.json")).unwrap(),
        foreign_format
    );

    // A missing drive: reported; with two missing, not ready (below quorum).
    std::fs::rename(&drives[0], t.path().join("gone0")).unwrap();
    std::fs::rename(&drives[1], t.path().join("gone1")).unwrap();
    let s = Server::start(t.path(), &args, &[]);
    assert!(s.line("drives:").contains("(2 online)"), "{:?}", s.stdout);
    assert_eq!(get(s.port, "/health/ready").unwrap().0, 503);
    assert!(s.stop().success());
}

#[test]
fn bad_settings_are_refused_with_a_message() {
    let t = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .current_dir(t.path())
        .args([
            "serve",
            "d1",
            "d2",
            "--layout",
            "4+2",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("layout 4+2 needs 6 drives"), "{err}");
}

fn health(listen: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["health", "--listen", listen, "--timeout", "5"])
        .env_remove("CAIRN_LISTEN")
        .output()
        .expect("cairn health runs")
}

#[test]
fn the_health_command_exits_zero_only_for_a_ready_node() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start(t.path(), &[], &[]);
    let port = s.port;
    // A wildcard listen address is asked on loopback, as in the container.
    for listen in [format!("127.0.0.1:{port}"), format!("0.0.0.0:{port}")] {
        let out = health(&listen);
        assert!(out.status.success(), "{listen}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ready"));
    }
    assert!(s.stop().success());
    let out = health(&format!("127.0.0.1:{port}"));
    assert_eq!(out.status.code(), Some(1), "a stopped node: {out:?}");

    // A node that answers but is not ready.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let answer = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut head = [0u8; 1024];
        let _ = c.read(&mut head).unwrap();
        let body = "not ready: 1 drives online, 3 needed\n";
        let head = format!(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        c.write_all(format!("{head}{body}").as_bytes()).unwrap();
    });
    let out = health(&addr.to_string());
    answer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not ready (503)"),
        "{out:?}"
    );
}

#[test]
fn the_console_turned_off_answers_like_any_unknown_path() {
    let t = tempfile::tempdir().unwrap();
    let on = Server::start(t.path(), &["d1"], &[]);
    assert!(on.line("console:").ends_with("/_cairn/console/"));
    let (code, body) = get(on.port, "/_cairn/console/").unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("<script"), "{body}");
    assert!(on.stop().success());

    for (args, env) in [
        (&["d1", "--no-console"][..], &[][..]),
        (&["d1"][..], &[("CAIRN_NO_CONSOLE", "true")][..]),
    ] {
        let off = Server::start(t.path(), args, env);
        assert!(
            !off.stdout.iter().any(|l| l.contains("console:")),
            "{:?}",
            off.stdout
        );
        let (unknown, _) = get(off.port, "/_cairn/unknown/").unwrap();
        assert_eq!(unknown, 404);
        for path in [
            "/_cairn/console/",
            "/_cairn/console",
            "/_cairn/console/index.html",
            "/_cairn/console/favicon.svg",
        ] {
            let (code, body) = get(off.port, path).unwrap();
            assert_eq!(code, 404, "{path} with {args:?} {env:?}: {body}");
            assert!(body.contains("<Code>NoSuchBucket</Code>"), "{body}");
        }
        assert!(off.stop().success());
    }
}
