//! Each mode end to end against a real cairn node on loopback: about a
//! second of load must run operations and fail none (a benchmark of 404s
//! measures nothing). The node is the workspace's `cairn` binary (built by
//! `cargo build --bin cairn`, or `CAIRN_BIN`); without it the tests skip,
//! and fail under CI=true.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const USER: &str = "bench";
const SECRET: &str = "bench-secret";

fn cairn_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CAIRN_BIN") {
        return Some(p.into());
    }
    // cairn-bench lives next to the workspace's other binaries.
    let me = PathBuf::from(env!("CARGO_BIN_EXE_cairn-bench"));
    let p = me.parent()?.join("cairn");
    p.exists().then_some(p)
}

struct Node {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start() -> Option<Node> {
    start_with(&[])
}

/// A node started with `extra` arguments after the usual ones.
fn start_with(extra: &[&str]) -> Option<Node> {
    let Some(bin) = cairn_bin() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no cairn binary (cargo build --bin cairn, or CAIRN_BIN)"
        );
        eprintln!("SKIPPED: no cairn binary (cargo build --bin cairn, or CAIRN_BIN)");
        return None;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cairn-bench-modes-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let drives: Vec<PathBuf> = (1..=4).map(|i| dir.join(format!("d{i}"))).collect();
    for d in &drives {
        std::fs::create_dir_all(d).unwrap();
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(bin)
        .arg("serve")
        .args(&drives)
        .args(["--listen", &addr, "--cores", "1", "--partitions", "4"])
        .args(extra)
        .env("CAIRN_ROOT_USER", USER)
        .env("CAIRN_ROOT_PASSWORD", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cairn starts");
    let node = Node { child, addr, dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&node.addr).is_err() {
        assert!(Instant::now() < deadline, "cairn did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(node)
}

/// Runs `cairn-bench MODE ARGS` for a second against a fresh node; returns
/// its JSON result and output, panicking on a failed run.
fn run(mode: &str, args: &[&str]) -> Option<(serde_json::Value, String)> {
    let node = start()?;
    let (out, text, json) = bench(&node, mode, args);
    assert!(out.status.success(), "cairn-bench {mode} failed:\n{text}");
    let v = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    Some((v, text))
}

/// Runs `cairn-bench MODE ARGS` for a second against `node`: its exit, its
/// output and where its JSON result is.
fn bench(node: &Node, mode: &str, args: &[&str]) -> (std::process::Output, String, PathBuf) {
    let json = node.dir.join("result.json");
    let out = Command::new(env!("CARGO_BIN_EXE_cairn-bench"))
        .arg(mode)
        .args([
            "--host",
            &node.addr,
            "--access-key",
            USER,
            "--secret-key",
            SECRET,
            "--duration",
            "1s",
            "--concurrent",
            "4",
            "--no-progress",
            "--verify",
            "--json",
        ])
        .arg(&json)
        .args(args)
        .output()
        .expect("cairn-bench runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text, json)
}

/// Every phase of the result ran operations and none failed; returns the
/// operation names of `phase` with their counts.
fn assert_clean(v: &serde_json::Value, text: &str) {
    let phases = v["phases"].as_array().unwrap();
    assert!(!phases.is_empty(), "{text}");
    for p in phases {
        let total = &p["total"];
        assert!(total["ops"].as_u64().unwrap() > 0, "no operations:\n{text}");
        assert!(
            total["errors"].as_object().unwrap().is_empty(),
            "errors in {}:\n{text}",
            p["name"]
        );
    }
}

fn ops(v: &serde_json::Value, op: &str) -> u64 {
    v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["ops"].as_array().unwrap())
        .filter(|o| o["op"] == op)
        .map(|o| o["ops"].as_u64().unwrap())
        .sum()
}

#[test]
fn get_random_ranges_read_the_right_bytes() {
    let Some((v, text)) = run(
        "get",
        &["--obj.size", "64KiB", "--objects", "20", "--range"],
    ) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "GET") > 0);
}

#[test]
fn get_fixed_ranges_read_the_right_bytes() {
    let Some((v, text)) = run(
        "get",
        &[
            "--obj.size",
            "64KiB",
            "--objects",
            "20",
            "--range-size",
            "1000",
        ],
    ) else {
        return;
    };
    assert_clean(&v, &text);
    // 1000 bytes per GET.
    let get = &v["phases"][0]["ops"][0];
    let per_op =
        get["mib_per_s"].as_f64().unwrap() * 1048576.0 / get["ops_per_s"].as_f64().unwrap();
    assert!((per_op - 1000.0).abs() < 1.0, "{per_op} bytes per GET");
}

#[test]
fn get_versions_reads_random_versions() {
    let Some((v, text)) = run(
        "get",
        &["--obj.size", "4KiB", "--objects", "20", "--versions", "3"],
    ) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "GET") > 0);
}

#[test]
fn put_post_uploads_forms_the_server_accepts() {
    let Some((v, text)) = run("put", &["--obj.size", "64KiB", "--post"]) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "POST") > 0, "{text}");
    assert_eq!(ops(&v, "PUT"), 0);
}

#[test]
fn list_versions_counts_every_version() {
    let Some((v, text)) = run(
        "list",
        &[
            "--obj.size",
            "1KiB",
            "--objects",
            "30",
            "--versions",
            "3",
            "--max-keys",
            "40",
        ],
    ) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "LIST") > 0);
}

#[test]
fn list_metadata_lists_every_key() {
    let Some((v, text)) = run(
        "list",
        &[
            "--obj.size",
            "1KiB",
            "--objects",
            "50",
            "--metadata",
            "--max-keys",
            "20",
        ],
    ) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "LIST") > 0);
}

#[test]
fn stat_heads_every_object_it_uploaded() {
    let Some((v, text)) = run("stat", &["--objects", "50"]) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "STAT") > 0);
}

#[test]
fn delete_batches_delete_every_key() {
    let Some((v, text)) = run("delete", &["--objects", "400", "--batch", "10"]) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "DELETE") > 0);
}

#[test]
fn versioned_reads_writes_and_deletes_versions() {
    let Some((v, text)) = run("versioned", &["--obj.size", "4KiB", "--objects", "40"]) else {
        return;
    };
    assert_clean(&v, &text);
    for op in ["GET", "STAT", "PUT", "DELETE"] {
        assert!(ops(&v, op) > 0, "no {op}:\n{text}");
    }
}

#[test]
fn multipart_put_uploads_and_completes_objects() {
    let Some((v, text)) = run(
        "multipart-put",
        &[
            // S3's smallest part but the last: smaller ones fail at
            // completion (400 EntityTooSmall, counted as errors).
            "--part.size",
            "5MiB",
            "--parts",
            "2",
            "--part.concurrent",
            "2",
        ],
    ) else {
        return;
    };
    // Zero errors: every upload's parts got ETags and every completion
    // was accepted.
    assert_clean(&v, &text);
    assert!(ops(&v, "PUT") >= 2, "{text}");
}

/// The run's `--verify` line: every member listed with its size.
fn assert_members_verified(text: &str) {
    let line = text
        .lines()
        .find(|l| l.starts_with("verify: "))
        .unwrap_or_else(|| panic!("no verify line:\n{text}"));
    let members: u64 = line["verify: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(members > 0, "{line}");
}

#[test]
fn snowball_members_are_extracted_with_their_bytes() {
    let Some((v, text)) = run("snowball", &["--obj.size", "4KiB", "--objs.per", "10"]) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "PUT") > 0, "{text}");
    assert_members_verified(&text);
}

#[test]
fn snowball_compressed_members_are_extracted_with_their_bytes() {
    let Some((v, text)) = run(
        "snowball",
        &["--obj.size", "64KiB", "--objs.per", "10", "--compress"],
    ) else {
        return;
    };
    assert_clean(&v, &text);
    assert!(ops(&v, "PUT") > 0, "{text}");
    assert_members_verified(&text);
}

#[test]
fn fanout_copies_are_all_stored() {
    let Some((v, text)) = run("fanout", &["--obj.size", "4KiB", "--copies", "5"]) else {
        return;
    };
    // Every POST was answered by one error-free JSON line per copy.
    assert_clean(&v, &text);
    assert!(ops(&v, "POST") > 0, "{text}");
}

#[test]
fn zip_members_are_read_with_their_bytes() {
    let Some((v, text)) = run("zip", &["--obj.size", "1KiB", "--files", "50"]) else {
        return;
    };
    // The set-up's first member GET and every measured one (bytes checked).
    assert_clean(&v, &text);
    assert!(ops(&v, "GET") > 0, "{text}");
    assert!(
        !text.contains("the server does not read zip members"),
        "{text}"
    );
}

/// A self-signed certificate for 127.0.0.1 in `dir`: (cert.pem, key.pem).
fn self_signed(dir: &std::path::Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let c =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    let s = |p: PathBuf| p.to_str().unwrap().to_owned();
    (s(cert), s(key))
}

#[test]
fn tls_get_and_unsigned_put_reach_an_https_node() {
    let certs = std::env::temp_dir().join(format!("cairn-bench-tls-{}", std::process::id()));
    let (cert, key) = self_signed(&certs);
    let Some(node) = start_with(&["--tls-cert", &cert, "--tls-key", &key]) else {
        return;
    };
    // Verified against the node's certificate, every byte read checked.
    let get = [
        "--tls",
        "--tls-ca",
        &cert,
        "--obj.size",
        "64KiB",
        "--objects",
        "20",
    ];
    let (out, text, json) = bench(&node, "get", &get);
    assert!(out.status.success(), "get over TLS failed:\n{text}");
    let v = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_clean(&v, &text);
    assert!(ops(&v, "GET") > 0);
    // UNSIGNED-PAYLOAD, as warp sends over TLS, with --insecure.
    let put = [
        "--tls",
        "--insecure",
        "--obj.size",
        "64KiB",
        "--disable-sha256-payload",
    ];
    let (out, text, json) = bench(&node, "put", &put);
    assert!(out.status.success(), "put over TLS failed:\n{text}");
    let v = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_clean(&v, &text);
    assert!(ops(&v, "PUT") > 0);
    // Another certificate is not trusted, and plain HTTP gets no answer.
    let other = self_signed(&certs.join("other")).0;
    let (out, text, _) = bench(&node, "put", &["--tls", "--tls-ca", &other]);
    assert!(
        !out.status.success(),
        "an untrusted certificate was accepted:\n{text}"
    );
    assert!(text.contains("TLS"), "{text}");
    let (out, text, _) = bench(&node, "put", &["--obj.size", "4KiB"]);
    assert!(
        !out.status.success(),
        "plain HTTP to the TLS port succeeded:\n{text}"
    );
    std::fs::remove_dir_all(&certs).unwrap();
}
