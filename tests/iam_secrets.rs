//! Secrets at rest, against the real binary: generated root credentials
//! keep working across restarts, no secret is in clear in any file under the
//! drives, a plaintext credentials file from an older version is migrated
//! to a sealed one, a wrong master key stops start-up with a message, and
//! no secret key the IAM API handed out is in the log or on the drives.

mod binary;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use binary::{client, free_port, iam_client, raw_request};

struct Node {
    child: Child,
    port: u16,
    banner: Vec<String>,
}

fn drives(dir: &Path) -> Vec<PathBuf> {
    (0..4).map(|i| dir.join(format!("drive{i}"))).collect()
}

fn command(dir: &Path, port: u16, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg("serve")
        .args(drives(dir))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
        .args(["--cores", "2", "--partitions", "8"])
        .env_remove("CAIRN_ROOT_USER")
        .env_remove("CAIRN_ROOT_PASSWORD")
        .env_remove("CAIRN_KMS_MASTER_KEY")
        .env_remove("CAIRN_KMS_MASTER_KEY_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

impl Node {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        Node::spawn(command(dir, port, env), port)
    }

    /// A node whose log (stderr) goes to `log`.
    fn start_logging(dir: &Path, env: &[(&str, &str)], log: &Path) -> Node {
        let port = free_port();
        let mut cmd = command(dir, port, env);
        cmd.stderr(std::fs::File::create(log).expect("log file"));
        Node::spawn(cmd, port)
    }

    fn spawn(mut cmd: Command, port: u16) -> Node {
        let mut child = cmd.spawn().expect("cairn starts");
        let mut banner = Vec::new();
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        for _ in 0..20 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let done = line.contains("drives:");
            banner.push(line.trim_end().to_owned());
            if done {
                break;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                panic!("cairn exited during start-up ({st}): {banner:?}");
            }
            let ready = raw_request(
                port,
                b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            if ready.is_ok_and(|r| r.status == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "cairn did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Node {
            child,
            port,
            banner,
        }
    }

    fn value(&self, prefix: &str) -> String {
        let line = self
            .banner
            .iter()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:?}", self.banner));
        line.trim_start()[prefix.len()..].trim().to_owned()
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) {
        // SAFETY: signalling the child this test started, by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(25);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                assert!(st.success(), "exit {st}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("cairn did not stop");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(p);
            }
        }
    }
    found
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn generated_root_credentials_work_after_restart_and_are_never_in_clear_on_the_drives() {
    let t = tempfile::tempdir().unwrap();
    let n = Node::start(t.path(), &[]);
    let key = n.value("access key:");
    let secret = n.value("secret key:");
    assert_eq!(secret.len(), 40, "{:?}", n.banner);
    let rt = rt();
    rt.block_on(async {
        let c = client(&n.endpoint(), &key, &secret);
        c.create_bucket().bucket("kept").send().await.unwrap();
        c.put_object()
            .bucket("kept")
            .key("k")
            .body(b"hello".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    n.stop();

    let n = Node::start(t.path(), &[]);
    assert_eq!(n.value("access key:"), key);
    assert!(
        !n.banner.iter().any(|l| l.contains(&secret)),
        "{:?}",
        n.banner
    );
    rt.block_on(async {
        let c = client(&n.endpoint(), &key, &secret);
        let listed = c.list_objects_v2().bucket("kept").send().await.unwrap();
        assert_eq!(listed.key_count(), Some(1));
        let wrong = client(
            &n.endpoint(),
            &key,
            "not-the-secret-at-all-0000000000000000000",
        );
        let r = wrong.list_buckets().send().await;
        assert_eq!(binary::code(r), "SignatureDoesNotMatch");
    });
    n.stop();
    let leaked = files_containing(t.path(), secret.as_bytes());
    assert!(leaked.is_empty(), "the root secret in clear in {leaked:?}");
    for d in drives(t.path()) {
        assert!(d.join(".cairn/master.key").exists());
    }
}

#[test]
fn a_plaintext_credentials_file_from_before_is_migrated_and_keeps_working() {
    let t = tempfile::tempdir().unwrap();
    // Format the drives, then put back what an older version wrote.
    let n = Node::start(
        t.path(),
        &[
            ("CAIRN_ROOT_USER", "first"),
            ("CAIRN_ROOT_PASSWORD", "first-password"),
        ],
    );
    n.stop();
    let (key, secret) = (
        "OLDGENERATEDKEY12345",
        "old-plain-secret-from-before-sealing-0000",
    );
    let old = format!(r#"{{"access_key":"{key}","secret_key":"{secret}"}}"#);
    for d in drives(t.path()) {
        std::fs::write(d.join(".cairn/credentials.json"), &old).unwrap();
    }
    let n = Node::start(t.path(), &[]);
    assert_eq!(n.value("access key:"), key);
    assert!(
        n.value("secret key:").contains("now sealed"),
        "{:?}",
        n.banner
    );
    rt().block_on(async {
        let c = client(&n.endpoint(), key, secret);
        c.create_bucket().bucket("after").send().await.unwrap();
    });
    n.stop();
    let leaked = files_containing(t.path(), secret.as_bytes());
    assert!(leaked.is_empty(), "plaintext left in {leaked:?}");
    // And the sealed file opens at the next start.
    let n = Node::start(t.path(), &[]);
    assert!(
        n.value("secret key:").contains("kept sealed"),
        "{:?}",
        n.banner
    );
    rt().block_on(async {
        let c = client(&n.endpoint(), key, secret);
        c.head_bucket().bucket("after").send().await.unwrap();
    });
    n.stop();
}

#[test]
fn a_wrong_master_key_stops_start_up_with_a_message_and_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let kms = "ops:AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let n = Node::start(t.path(), &[("CAIRN_KMS_MASTER_KEY", kms)]);
    let key = n.value("access key:");
    n.stop();
    let before = std::fs::read(drives(t.path())[0].join(".cairn/credentials.json")).unwrap();
    let other = "ops:IB8eHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=";
    let mut child = command(t.path(), free_port(), &[("CAIRN_KMS_MASTER_KEY", other)])
        .stdout(Stdio::null())
        .spawn()
        .expect("cairn runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cairn kept running with the wrong master key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr readable");
    assert!(err.contains("master key"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let after = std::fs::read(drives(t.path())[0].join(".cairn/credentials.json")).unwrap();
    assert_eq!(before, after, "credentials rewritten after a wrong key");
    // The right key still opens them.
    let n = Node::start(t.path(), &[("CAIRN_KMS_MASTER_KEY", kms)]);
    assert_eq!(n.value("access key:"), key);
    n.stop();
}

#[test]
fn secret_keys_from_the_iam_api_are_in_no_log_line_and_no_file_on_the_drives() {
    let t = tempfile::tempdir().unwrap();
    let log = t.path().join("server.log");
    let (root, root_secret) = ("secretsroot", "root-secret-for-the-grep-0000000000000000");
    let n = Node::start_logging(
        t.path(),
        &[
            ("CAIRN_ROOT_USER", root),
            ("CAIRN_ROOT_PASSWORD", root_secret),
            ("CAIRN_LOG", "debug"),
        ],
        &log,
    );
    let iam = |access: &str, secret: &str| iam_client(&n.endpoint(), access, secret);
    let mut secrets = vec![root_secret.to_owned()];
    rt().block_on(async {
        let c = iam(root, root_secret);
        for u in ["ann", "ben"] {
            c.create_user().user_name(u).send().await.unwrap();
            for _ in 0..2 {
                let k = c.create_access_key().user_name(u).send().await.unwrap();
                let k = k.access_key().unwrap();
                let (id, secret) = (k.access_key_id(), k.secret_access_key());
                secrets.push(secret.to_owned());
                // Every path a key takes: S3, the IAM API, a refusal.
                let listed = client(&n.endpoint(), id, secret)
                    .list_buckets()
                    .send()
                    .await;
                assert_eq!(binary::code(listed), "AccessDenied", "signed, not allowed");
                let denied = iam(id, secret).list_users().send().await;
                assert!(denied.is_err());
                c.update_access_key()
                    .user_name(u)
                    .access_key_id(id)
                    .status(aws_sdk_iam::types::StatusType::Inactive)
                    .send()
                    .await
                    .unwrap();
                let refused = client(&n.endpoint(), id, secret)
                    .list_buckets()
                    .send()
                    .await;
                assert_eq!(binary::code(refused), "InvalidAccessKeyId");
            }
        }
        // Let the cores record the keys' last use.
        tokio::time::sleep(Duration::from_secs(6)).await;
    });
    n.stop();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("DEBUG"), "the log ran at debug");
    for s in &secrets {
        assert!(s.len() >= 40, "{s}");
        assert!(!logged.contains(s.as_str()), "a secret key in the log");
        let leaked = files_containing(t.path(), s.as_bytes());
        assert!(leaked.is_empty(), "a secret key in clear in {leaked:?}");
    }
}
