//! A drive made unreadable while the node runs is seen: its probe takes it
//! offline in the admin API and `/metrics` within a bounded time, writes
//! and reads go on at quorum without it, and once it is readable again the
//! next probe brings it back, with no restart.
//!
//! `chmod 000` stops only an unprivileged process: as root the node runs
//! as `nobody` (65534) over drives it owns, outside the private temp dir.

mod binary;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use binary::{client, free_port, raw_request, request_bytes, sha256_hex, PASSWORD, USER};
use serde_json::Value;

const NOBODY: u32 = 65534;
/// Probes run every 2 s; a loaded machine gets ample room.
const SEEN_WITHIN: Duration = Duration::from_secs(30);

struct Node {
    child: Child,
    port: u16,
    work: PathBuf,
    drives: Vec<PathBuf>,
}

impl Node {
    fn start() -> Node {
        // SAFETY: geteuid(2) takes no argument and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let work = tempfile::Builder::new()
            .prefix("cairn-drive-health-")
            .tempdir_in("/var/tmp")
            .expect("work dir")
            .keep();
        std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755)).unwrap();
        let drives: Vec<PathBuf> = (0..4).map(|i| work.join(format!("drive{i}"))).collect();
        for d in &drives {
            std::fs::create_dir(d).unwrap();
            if root {
                std::os::unix::fs::chown(d, Some(NOBODY), Some(NOBODY)).unwrap();
            }
        }
        let port = free_port();
        let log = std::fs::File::create(work.join("server.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.arg("serve")
            .args(&drives)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
            .args(["--cores", "2", "--partitions", "16"])
            .args(["--segment-size", &(16u64 << 20).to_string()])
            .env("CAIRN_ROOT_USER", USER)
            .env("CAIRN_ROOT_PASSWORD", PASSWORD)
            .env("CAIRN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log);
        if root {
            // std drops root's supplementary groups along with the uid.
            cmd.uid(NOBODY).gid(NOBODY);
        }
        let child = cmd.spawn().expect("start cairn");
        let mut n = Node {
            child,
            port,
            work,
            drives,
        };
        n.wait_ready();
        n
    }

    fn wait_ready(&mut self) {
        let log = self.work.join("server.log");
        binary::wait_ready(
            &mut self.child,
            self.port,
            Duration::from_secs(30),
            &log,
            binary::ready,
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.work.join("server.log")).unwrap_or_default()
    }

    fn info(&self) -> Value {
        let path = "/_cairn/admin/v1/info";
        let s = binary::sign(
            self.port,
            "GET",
            path,
            &[],
            &sha256_hex(b""),
            PASSWORD,
            SystemTime::now(),
        );
        let r = raw_request(self.port, &request_bytes("GET", path, &s.headers, b"")).unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        serde_json::from_slice(&r.body).unwrap()
    }

    fn metrics(&self) -> String {
        let r = raw_request(
            self.port,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        String::from_utf8_lossy(&r.body).into_owned()
    }

    /// Waits until drive `d`'s state in the admin API is `want`.
    fn wait_state(&self, d: usize, want: &str) -> (Duration, Value) {
        let t = Instant::now();
        loop {
            let info = self.info();
            if info["drives"][d]["state"] == want {
                return (t.elapsed(), info);
            }
            assert!(
                t.elapsed() < SEEN_WITHIN,
                "drive {d} not {want} after {SEEN_WITHIN:?}: {info:#}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: kill(2) takes no pointer; the PID is this test's child,
        // not reaped yet, so it names no other process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL) };
        let _ = self.child.wait();
        for d in &self.drives {
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
        }
        if std::thread::panicking() {
            eprintln!("--- cairn log ---\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_drive_goes_offline_while_the_node_runs_and_comes_back() {
    let n = Node::start();
    let c = client(&format!("http://127.0.0.1:{}", n.port), USER, PASSWORD);
    c.create_bucket().bucket("health").send().await.unwrap();
    let before = binary::data(300_000, 1);
    c.put_object()
        .bucket("health")
        .key("before")
        .body(before.clone().into())
        .send()
        .await
        .unwrap();
    let info = n.info();
    assert_eq!(info["drivesOnline"], 4, "{info:#}");
    assert_eq!(info["drives"][3]["lastError"], Value::Null);

    chmod(&n.drives[3], 0o000);
    let (took, info) = n.wait_state(3, "offline");
    println!("drive 3 seen offline {took:?} after chmod 000");
    assert_eq!(info["drivesOnline"], 3);
    let last = info["drives"][3]["lastError"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(last.contains("Permission denied"), "{info:#}");
    assert!(info["drives"][3]["errors"].as_u64().unwrap() >= 1);
    assert_eq!(info["drives"][3]["offlineEvents"], 1);
    let m = n.metrics();
    assert!(m.contains("cairn_drive_online{drive=\"3\"} 0"), "{m}");
    assert!(m.contains("cairn_drive_online{drive=\"2\"} 1"), "{m}");
    assert!(
        m.contains("cairn_drive_offline_events_total{drive=\"3\"} 1"),
        "{m}"
    );

    // Writes and reads go on at quorum (2+2: three drives of four).
    let during = binary::data(500_000, 2);
    for k in ["during-1", "during-2", "during-3"] {
        c.put_object()
            .bucket("health")
            .key(k)
            .body(during.clone().into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("write with a drive offline: {e:?}\n{}", n.log()));
    }
    assert_eq!(binary::get_bytes(&c, "health", "before").await, before);
    assert_eq!(binary::get_bytes(&c, "health", "during-2").await, during);

    chmod(&n.drives[3], 0o755);
    let (took, info) = n.wait_state(3, "ok");
    println!("drive 3 seen back {took:?} after chmod 755");
    assert_eq!(info["drivesOnline"], 4);
    assert!(
        info["drives"][3]["lastError"]["message"].is_string(),
        "the last error stays for the operator: {info:#}"
    );
    assert!(n.metrics().contains("cairn_drive_online{drive=\"3\"} 1"));
    c.put_object()
        .bucket("health")
        .key("after")
        .body(before.clone().into())
        .send()
        .await
        .unwrap();
    assert_eq!(binary::get_bytes(&c, "health", "after").await, before);
    assert_eq!(binary::get_bytes(&c, "health", "during-3").await, during);
}

/// The first writes after a drive fails, before anything has taken it
/// offline, still succeed: a commit copy whose drive refuses it is written
/// to the next online drive instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_just_after_a_drive_becomes_unreadable_succeed() {
    let n = Node::start();
    let c = client(&format!("http://127.0.0.1:{}", n.port), USER, PASSWORD);
    c.create_bucket().bucket("health").send().await.unwrap();
    // No object written yet: each core must open new segments on drive 3,
    // and the open fails there (an open segment would still take writes).
    chmod(&n.drives[3], 0o000);
    for i in 0..8 {
        let key = format!("k{i}");
        c.put_object()
            .bucket("health")
            .key(&key)
            .body(binary::data(1000 + i, i as u64).into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
    }
    for i in 0..8 {
        assert_eq!(
            binary::get_bytes(&c, "health", &format!("k{i}")).await,
            binary::data(1000 + i, i as u64)
        );
    }
    chmod(&n.drives[3], 0o755);
}
