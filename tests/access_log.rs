//! Logs and tracing against the real binary: access log lines (a PUT, a
//! ranged GET, a refused request, an anonymous one), the audit line of an
//! IAM change, `traceparent` in and `traceresponse` out, spans at a fake
//! OTLP collector, the JSON form of the server's own log, and the metrics
//! that count requests in flight and refusals.

mod binary;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use binary::{client, code, iam_client, raw_request, request_bytes, sign, Server, PASSWORD, USER};
use serde_json::Value;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The JSON lines of `path` once `done` holds for them (lines reach the file
/// within a flush interval; the margin is for a loaded machine).
fn wait_lines(path: &Path, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if done(&lines) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "lines never arrived; have:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn find<'a>(lines: &'a [Value], op: &str, key: Option<&str>) -> Option<&'a Value> {
    lines
        .iter()
        .find(|l| l["operation"] == op && key.is_none_or(|k| l["key"] == k))
}

fn metric(port: u16, line_start: &str) -> u64 {
    let r = raw_request(
        port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("scrape");
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0)
}

const KEY: &str = "dir/we\"ird key\u{e9}";

#[test]
fn access_log_lines_carry_who_what_and_how_it_ended() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let s = Server::start_with(&["--access-log", log.to_str().expect("utf-8")]);
    let body = binary::data(100_000, 7);
    rt().block_on(async {
        let c = s.client();
        c.create_bucket()
            .bucket("logs")
            .send()
            .await
            .expect("create");
        c.put_object()
            .bucket("logs")
            .key(KEY)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put");
        let got = c
            .get_object()
            .bucket("logs")
            .key(KEY)
            .range("bytes=10-1009")
            .send()
            .await
            .expect("get");
        assert_eq!(
            got.body.collect().await.expect("body").into_bytes().len(),
            1000
        );
        let wrong = client(&s.endpoint(), USER, "not-the-secret");
        let e = code(wrong.list_objects_v2().bucket("logs").send().await);
        assert_eq!(e, "SignatureDoesNotMatch");
    });
    // An unsigned request for a bucket nobody opened to the public.
    let r = raw_request(
        s.port,
        b"GET /logs/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("anonymous get");
    assert_eq!(r.status, 403);

    let lines = wait_lines(&log, |l| {
        find(l, "PutObject", Some(KEY)).is_some()
            && find(l, "GetObject", Some(KEY)).is_some()
            && find(l, "GetObject", Some("secret")).is_some()
            && l.iter().any(|x| x["error"] == "SignatureDoesNotMatch")
    });
    let put = find(&lines, "PutObject", Some(KEY)).expect("put line");
    assert_eq!(put["bucket"], "logs");
    assert_eq!(put["status"], 200);
    assert_eq!(put["user"], "root");
    assert_eq!(put["access_key"], USER);
    assert_eq!(put["method"], "PUT");
    assert_eq!(put["remote_addr"], "127.0.0.1");
    assert_eq!(put["bytes_in"], 100_000);
    assert_eq!(put["error"], Value::Null);
    let time = put["time"].as_str().expect("time");
    assert!(
        time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "RFC 3339 UTC with milliseconds: {time}"
    );
    assert_eq!(put["request_id"].as_str().map(str::len), Some(20));
    assert_eq!(put["trace_id"].as_str().map(str::len), Some(32));
    let (ttfb, total) = (
        put["ttfb_ms"].as_f64().expect("ttfb"),
        put["total_ms"].as_f64().expect("total"),
    );
    assert!(ttfb > 0.0 && ttfb <= total, "{ttfb} {total}");

    let get = find(&lines, "GetObject", Some(KEY)).expect("get line");
    assert_eq!(get["status"], 206);
    assert_eq!(get["bytes_out"], 1000, "what was sent, not the object size");

    let anon = find(&lines, "GetObject", Some("secret")).expect("anonymous line");
    assert_eq!(anon["user"], "anonymous");
    assert_eq!(anon["access_key"], Value::Null);
    assert_eq!(anon["status"], 403);
    assert_eq!(anon["error"], "AccessDenied");

    let refused = lines
        .iter()
        .find(|x| x["error"] == "SignatureDoesNotMatch")
        .expect("refused line");
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["user"], Value::Null, "not authenticated");
    assert_eq!(refused["access_key"], USER, "the key it claimed");

    // The refusals are counted by reason.
    assert!(
        metric(
            s.port,
            "cairn_auth_failures_total{reason=\"SignatureDoesNotMatch\"}"
        ) >= 1
    );
    assert!(metric(s.port, "cairn_auth_failures_total{reason=\"AccessDenied\"}") >= 1);
}

#[test]
fn traceparent_is_kept_returned_and_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let s = Server::start_with(&["--access-log", log.to_str().expect("utf-8")]);
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let req = format!(
        "GET /nobucket/traced HTTP/1.1\r\nHost: x\r\ntraceparent: 00-{trace}-b7ad6b7169203331-01\r\nConnection: close\r\n\r\n"
    );
    let r = raw_request(s.port, req.as_bytes()).expect("request");
    let back = r.header("traceresponse").expect("traceresponse header");
    assert!(back.starts_with(&format!("00-{trace}-")), "{back}");
    assert!(back.ends_with("-01"));
    assert!(
        !back.contains("b7ad6b7169203331"),
        "our own span id, not the caller's"
    );
    // Without one, a new trace is started and named.
    let r = raw_request(
        s.port,
        b"GET /nobucket/untraced HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("request");
    let fresh = r.header("traceresponse").expect("traceresponse header");
    assert_eq!(fresh.len(), 55);
    assert!(!fresh.contains(trace));
    let lines = wait_lines(&log, |l| {
        find(l, "GetObject", Some("traced")).is_some()
            && find(l, "GetObject", Some("untraced")).is_some()
    });
    assert_eq!(
        find(&lines, "GetObject", Some("traced")).expect("line")["trace_id"],
        trace
    );
    assert_eq!(
        find(&lines, "GetObject", Some("untraced")).expect("line")["trace_id"],
        fresh[3..35]
    );
}

#[test]
fn an_iam_change_writes_an_audit_line_naming_the_caller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.log");
    let s = Server::start_with(&["--audit-log", audit.to_str().expect("utf-8")]);
    let iam = |access: &str, secret: &str| iam_client(&s.endpoint(), access, secret);
    let alice_key = rt().block_on(async {
        let root = iam(USER, PASSWORD);
        root.create_user()
            .user_name("alice")
            .send()
            .await
            .expect("create user");
        root.list_users().send().await.expect("list users");
        let k = root
            .create_access_key()
            .user_name("alice")
            .send()
            .await
            .expect("key");
        let k = k.access_key().expect("key").clone();
        // Alice has no policy: her attempt is refused, and audited too.
        let alice = iam(k.access_key_id(), k.secret_access_key());
        assert_eq!(
            code(alice.create_user().user_name("mallory").send().await),
            "AccessDenied"
        );
        k.access_key_id().to_owned()
    });
    let lines = wait_lines(&audit, |l| l.len() >= 3);
    assert_eq!(lines.len(), 3, "reads are not audited: {lines:?}");
    let created = &lines[0];
    assert_eq!(created["action"], "iam:CreateUser");
    assert_eq!(created["target"], "arn:aws:iam::000000000000:user/alice");
    assert_eq!(created["user"], "root");
    assert_eq!(created["access_key"], USER);
    assert_eq!(created["remote_addr"], "127.0.0.1");
    assert_eq!(created["outcome"], "success");
    assert_eq!(created["status"], 200);
    assert_eq!(lines[1]["action"], "iam:CreateAccessKey");
    let refused = &lines[2];
    assert_eq!(refused["action"], "iam:CreateUser");
    assert_eq!(refused["user"], "alice");
    assert_eq!(refused["access_key"], alice_key.as_str());
    assert_eq!(refused["outcome"], "failure");
    assert_eq!(refused["error"], "AccessDenied");
    assert!(!std::fs::read_to_string(&audit)
        .expect("audit")
        .contains("SecretAccessKey"));
}

#[test]
fn iam_refusals_are_counted_as_auth_failures() {
    let s = Server::start();
    let iam = |access: &str, secret: &str| iam_client(&s.endpoint(), access, secret);
    rt().block_on(async {
        let forged = iam(USER, "not-the-secret");
        assert_eq!(
            code(forged.list_users().send().await),
            "SignatureDoesNotMatch"
        );
        let unknown = iam("AKIAUNKNOWNKEY000000", "x");
        assert_eq!(
            code(unknown.list_users().send().await),
            "InvalidClientTokenId"
        );
    });
    for reason in ["SignatureDoesNotMatch", "InvalidClientTokenId"] {
        let name = format!("cairn_auth_failures_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(s.port, &name), 1, "{name}");
    }
}

/// A collector that answers 200 to every POST and passes its JSON on.
fn fake_collector() -> (u16, mpsc::Receiver<(String, Value)>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut req = Vec::new();
            let mut buf = [0u8; 65536];
            let parsed = loop {
                let Ok(n) = s.read(&mut buf) else { break None };
                if n == 0 {
                    break None;
                }
                req.extend_from_slice(&buf[..n]);
                let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&req[..i]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if req.len() >= i + 4 + len {
                    break Some((head, req[i + 4..i + 4 + len].to_vec()));
                }
            };
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
            if let Some((head, body)) = parsed {
                let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if tx.send((head, v)).is_err() {
                    return;
                }
            }
        }
    });
    (port, rx)
}

#[test]
fn request_spans_arrive_at_an_otlp_collector() {
    let (port, posts) = fake_collector();
    let s = Server::start_with(&["--otlp-endpoint", &format!("http://127.0.0.1:{port}")]);
    rt().block_on(async {
        let c = s.client();
        c.create_bucket()
            .bucket("spans")
            .send()
            .await
            .expect("create");
        c.put_object()
            .bucket("spans")
            .key("k")
            .body(ByteStream::from_static(b"hello"))
            .send()
            .await
            .expect("put");
    });
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let req = format!(
        "GET /spans/k HTTP/1.1\r\nHost: x\r\ntraceparent: 00-{trace}-00f067aa0ba902b7-01\r\nConnection: close\r\n\r\n"
    );
    raw_request(s.port, req.as_bytes()).expect("traced get");
    let mut spans: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(spans.iter().any(|s| s["name"] == "PutObject")
        && spans.iter().any(|s| s["traceId"] == trace))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let (head, doc) = posts
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("spans never arrived; have {spans:?}"));
        assert!(head.starts_with("POST /v1/traces HTTP/1.1"), "{head}");
        assert!(head
            .to_ascii_lowercase()
            .contains("content-type: application/json"));
        let rs = &doc["resourceSpans"][0];
        assert_eq!(rs["resource"]["attributes"][0]["key"], "service.name");
        spans.extend(
            rs["scopeSpans"][0]["spans"]
                .as_array()
                .expect("spans")
                .iter()
                .cloned(),
        );
    }
    let attr = |span: &Value, key: &str| -> Value {
        span["attributes"]
            .as_array()
            .expect("attributes")
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"].clone())
            .unwrap_or(Value::Null)
    };
    let put = spans
        .iter()
        .find(|s| s["name"] == "PutObject")
        .expect("put span");
    assert_eq!(put["kind"], 2);
    assert_eq!(put["traceId"].as_str().map(str::len), Some(32));
    assert_eq!(put["spanId"].as_str().map(str::len), Some(16));
    assert!(put.get("parentSpanId").is_none(), "a trace started here");
    assert_eq!(attr(put, "aws.s3.bucket")["stringValue"], "spans");
    assert_eq!(attr(put, "http.response.status_code")["intValue"], "200");
    let start: u64 = put["startTimeUnixNano"]
        .as_str()
        .expect("start")
        .parse()
        .expect("nanos");
    let end: u64 = put["endTimeUnixNano"]
        .as_str()
        .expect("end")
        .parse()
        .expect("nanos");
    assert!(start > 1_600_000_000_000_000_000 && end >= start);
    // Anonymous and refused (the bucket is private), in the caller's trace.
    let traced = spans
        .iter()
        .find(|s| s["traceId"] == trace)
        .expect("traced span");
    assert_eq!(traced["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(attr(traced, "http.response.status_code")["intValue"], "403");
    // The exporter counts a batch once the collector has answered, which
    // may be just after the collector has handed the spans to this test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while metric(s.port, "cairn_otlp_spans_exported_total") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "exported spans not counted"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn requests_in_flight_are_counted_until_they_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let s = Server::start_with(&["--access-log", log.to_str().expect("utf-8")]);
    rt().block_on(async {
        s.client()
            .create_bucket()
            .bucket("inflight")
            .send()
            .await
            .expect("create");
    });
    assert_eq!(metric(s.port, "cairn_requests_in_flight"), 0);
    // A PUT whose body stalls after its first bytes is in flight.
    let signed = sign(
        s.port,
        "PUT",
        "/inflight/slow",
        &[
            ("content-length", "1048576"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    stream
        .write_all(&request_bytes(
            "PUT",
            "/inflight/slow",
            &signed.headers,
            &[0u8; 4096],
        ))
        .expect("send head");
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(s.port, "cairn_requests_in_flight") != 1 {
        assert!(
            Instant::now() < deadline,
            "the stalled PUT is never in flight"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stream);
    while metric(s.port, "cairn_requests_in_flight") != 0 {
        assert!(
            Instant::now() < deadline,
            "the PUT stays in flight after its client left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The abandoned upload is logged: the body ended early.
    let lines = wait_lines(&log, |l| find(l, "PutObject", Some("slow")).is_some());
    let slow = find(&lines, "PutObject", Some("slow")).expect("line");
    assert_eq!(slow["status"], 400);
    assert_eq!(slow["error"], "IncompleteBody");
    assert_eq!(slow["bytes_in"], 1_048_576, "as declared");
    // The activity counters are exported (they move in tests/compaction.rs
    // and tests/repair.rs, which run the passes).
    let text = String::from_utf8_lossy(
        &raw_request(
            s.port,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect("scrape")
        .body,
    )
    .into_owned();
    for name in [
        "cairn_compaction_runs_total",
        "cairn_compaction_bytes_reclaimed_total",
        "cairn_repair_runs_total",
        "cairn_repaired_bytes_total",
    ] {
        assert!(text.contains(&format!("\n{name} ")), "{name} missing");
    }
}

#[test]
fn cairn_log_format_json_makes_the_server_log_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = binary::free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("serve")
        .args((0..4).map(|i| dir.path().join(format!("drive{i}"))))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--no-pin",
            "--cores",
            "1",
        ])
        .args([
            "--partitions",
            "16",
            "--segment-size",
            &(16u64 << 20).to_string(),
        ])
        .env("CAIRN_ROOT_USER", USER)
        .env("CAIRN_ROOT_PASSWORD", PASSWORD)
        .env("CAIRN_LOG", "info")
        .env("CAIRN_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start cairn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        if text.contains("\"serving\"") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let serving = lines
        .iter()
        .find(|l| l["fields"]["message"] == "serving")
        .unwrap_or_else(|| panic!("no serving line in {text}"));
    assert_eq!(serving["level"], "INFO");
    assert!(serving["timestamp"].is_string());
}

#[test]
fn sighup_reopens_the_access_log_after_a_rename() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let s = Server::start_with(&["--access-log", log.to_str().expect("utf-8")]);
    let get = |key: &str| {
        let req = format!("GET /nobucket/{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        raw_request(s.port, req.as_bytes()).expect("request");
    };
    get("before");
    wait_lines(&log, |l| find(l, "GetObject", Some("before")).is_some());
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(s.child.id() as libc::pid_t, libc::SIGHUP) };
    get("after");
    let lines = wait_lines(&log, |l| find(l, "GetObject", Some("after")).is_some());
    assert!(find(&lines, "GetObject", Some("before")).is_none());
    let old = std::fs::read_to_string(&rotated).expect("rotated");
    assert!(!old.contains("\"after\""), "written to the old file: {old}");
    // The signal did not stop the node.
    get("still");
    wait_lines(&log, |l| find(l, "GetObject", Some("still")).is_some());
}
