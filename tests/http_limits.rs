//! Limits on who holds connections and what a request head may be, against
//! the real binary: the per-address connection limit, eviction of idle
//! unauthenticated connections at the cap, the first-request deadline,
//! 431 for oversized heads, 411 for object data without a length, and the
//! log line of a refused authentication.
//!
//! 127.0.0.0/8 is all loopback, so a test plays several clients by binding
//! to 127.0.0.2, 127.0.0.3, ... before connecting.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;

mod binary;
use binary::*;

/// A connection to the server on `port` from the loopback address `src`.
fn connect_from(src: Ipv4Addr, port: u16) -> TcpStream {
    let sin = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket, bound and connected with valid sockaddr_in
    // values of the stated length; the fd is handed to TcpStream, which
    // owns and closes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let local = sin(src, 0);
        let r = libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len);
        assert_eq!(r, 0, "bind {src}: {}", std::io::Error::last_os_error());
        let remote = sin(Ipv4Addr::LOCALHOST, port);
        let r = libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len);
        assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
        stream
    }
}

/// Whether the server still holds `s` open (nothing to read, no EOF).
fn is_open(mut s: &TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let mut b = [0u8; 1];
    let open = matches!(s.read(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).expect("blocking");
    open
}

/// Reads one response with a Content-Length body from a keep-alive
/// connection: its status line and header block (lower-cased), and body.
fn read_response(s: &mut TcpStream) -> (String, Vec<u8>) {
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).expect("read head");
        assert!(n > 0, "closed before a response");
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().expect("length"))
        .unwrap_or(0);
    let mut body = got[end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut buf).expect("read body");
        assert!(n > 0, "closed inside a body");
        body.extend_from_slice(&buf[..n]);
    }
    (head, body)
}

/// A signed request's bytes for a keep-alive connection.
fn keep_alive_request(port: u16, method: &str, path: &str, extra: &[(String, String)]) -> Vec<u8> {
    let s = sign(
        port,
        method,
        path,
        &[],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let mut out = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for (k, v) in s.headers.iter().chain(extra) {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The log without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polls `ok` until it holds or `limit` passes.
fn eventually(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn connections_past_the_per_address_limit_are_closed_and_others_still_served() {
    let srv = Server::start_with(&[
        "--max-connections-per-ip",
        "16",
        "--first-request-timeout",
        "60",
        "--idle-timeout",
        "60",
    ]);
    let flood = Ipv4Addr::new(127, 0, 0, 9);
    let idle: Vec<TcpStream> = (0..100).map(|_| connect_from(flood, srv.port)).collect();
    // The server keeps 16 from the address over both cores, and closes
    // the rest at once (count with a margin for two cores racing for the
    // last slot, which may refuse both).
    let mut open = 0;
    let settled = eventually(Duration::from_secs(10), || {
        open = idle.iter().filter(|s| is_open(s)).count();
        open <= 16
    });
    assert!(
        settled,
        "{open} idle connections from one address still open"
    );
    assert!(open >= 14, "only {open} of the 16 allowed were kept");

    // Another client is served at once.
    let c = srv.client();
    let t = Instant::now();
    c.create_bucket()
        .bucket("other")
        .send()
        .await
        .expect("create");
    c.put_object()
        .bucket("other")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .expect("put");
    assert_eq!(get_bytes(&c, "other", "k").await, b"v");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "another client waited {:?}",
        t.elapsed()
    );

    // One more from the flooding address is closed without an answer...
    let mut more = connect_from(flood, srv.port);
    more.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok();
    let r = read_until_closed(&mut more, Duration::from_secs(5)).expect("closed");
    assert!(r.is_empty(), "{}", String::from_utf8_lossy(&r));
    assert!(srv
        .log()
        .contains("connection refused: too many open from this address"));
    assert!(srv.log().contains("127.0.0.9"));

    // ...and its slots come back when its connections close.
    drop(idle);
    let served = eventually(Duration::from_secs(10), || {
        let mut s = connect_from(flood, srv.port);
        s.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok();
        read_until_closed(&mut s, Duration::from_secs(5))
            .is_some_and(|r| r.starts_with(b"HTTP/1.1 200"))
    });
    assert!(served, "the address stayed locked out");
}

#[tokio::test]
async fn idle_unauthenticated_connections_do_not_keep_a_signed_client_waiting() {
    // 2 cores x 32 slots, 400 silent connections from four addresses (each
    // under the per-address limit): without eviction the SDK's connection
    // would wait in the backlog until the first-request deadline.
    let srv = Server::start_with(&[
        "--max-connections",
        "32",
        "--first-request-timeout",
        "20",
        "--idle-timeout",
        "60",
    ]);
    let mut idle = Vec::new();
    for i in 0..400u16 {
        idle.push(connect_from(
            Ipv4Addr::new(127, 0, 0, 10 + (i % 4) as u8),
            srv.port,
        ));
    }
    // Let the accept loops take them all in.
    std::thread::sleep(Duration::from_millis(500));

    let c = srv.client();
    let t = Instant::now();
    c.create_bucket()
        .bucket("busy")
        .send()
        .await
        .expect("create");
    c.put_object()
        .bucket("busy")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .expect("put");
    assert_eq!(get_bytes(&c, "busy", "k").await, b"v");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a signed client waited {:?} behind idle connections",
        t.elapsed()
    );
    let still_open = idle.iter().filter(|s| is_open(s)).count();
    assert!(still_open <= 64, "{still_open} open over 64 slots");
}

#[test]
fn connections_that_never_authenticate_hold_no_slot() {
    let srv = Server::start_with(&["--first-request-timeout", "2", "--idle-timeout", "30"]);
    let connect = || TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");

    // Silent: closed at the first-request deadline, not the idle timeout.
    let mut silent = connect();
    let t = Instant::now();
    let r = read_until_closed(&mut silent, Duration::from_secs(15));
    assert_eq!(r, Some(vec![]), "a silent connection outlived the deadline");
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );

    // Refused (anonymous) or unauthenticated (health probe): answered, then
    // closed rather than kept alive.
    for req in [
        &b"GET /bucket/key HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"[..],
    ] {
        let mut s = connect();
        s.write_all(req).expect("write");
        let t = Instant::now();
        let r = read_until_closed(&mut s, Duration::from_secs(10)).expect("closed");
        let text = String::from_utf8_lossy(&r).to_ascii_lowercase();
        assert!(text.contains("connection: close"), "{text}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    // Signed: kept alive past the first-request deadline and reused.
    let mut ka = connect();
    ka.write_all(&keep_alive_request(srv.port, "GET", "/", &[]))
        .expect("write");
    let (head, _) = read_response(&mut ka);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(is_open(&ka), "a signed connection was closed");
    ka.write_all(&keep_alive_request(srv.port, "GET", "/", &[]))
        .expect("write");
    let (head, _) = read_response(&mut ka);
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[test]
fn request_heads_over_64_kib_or_100_fields_are_refused_with_431() {
    let srv = Server::start();
    let head_with = |extra: &[(String, String)]| {
        let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
        let mut extra = extra.to_vec();
        extra.push(("connection".into(), "close".into()));
        let req = keep_alive_request(srv.port, "GET", "/", &extra);
        // The server may answer and close before taking every byte.
        let _ = s.write_all(&req);
        let r = read_until_closed(&mut s, Duration::from_secs(10)).expect("closed");
        String::from_utf8_lossy(&r).into_owned()
    };
    let pad = |n: usize| vec![("x-pad".to_owned(), "p".repeat(n))];
    let fields = |n: usize| -> Vec<(String, String)> {
        (0..n).map(|i| (format!("x-f{i}"), "v".into())).collect()
    };
    // 60 KiB in one field, and 90 fields in all: served (signed ListBuckets).
    let ok = head_with(&pad(60 << 10));
    assert!(
        ok.starts_with("HTTP/1.1 200"),
        "{}",
        &ok[..ok.len().min(300)]
    );
    let ok = head_with(&fields(85));
    assert!(
        ok.starts_with("HTTP/1.1 200"),
        "{}",
        &ok[..ok.len().min(300)]
    );
    // Past 64 KiB of head, or past 100 fields: 431.
    for (what, extra) in [
        ("65 KiB", pad(65 << 10)),
        ("100 KiB", pad(100 << 10)),
        ("101 fields", fields(101)),
    ] {
        let r = head_with(&extra);
        assert!(
            r.starts_with("HTTP/1.1 431"),
            "{what}: {}",
            &r[..r.len().min(300)]
        );
    }
}

#[tokio::test]
async fn object_data_without_a_length_is_refused_with_411() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("len")
        .send()
        .await
        .expect("bucket");
    let send = |method: &str, path: &str, extra: &[(&str, &str)], body: &[u8]| {
        let s = sign(
            srv.port,
            method,
            path,
            &[],
            "UNSIGNED-PAYLOAD",
            PASSWORD,
            SystemTime::now(),
        );
        let mut headers = s.headers.clone();
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        raw_request(srv.port, &request_bytes(method, path, &headers, body)).expect("request")
    };

    let r = send("PUT", "/len/nolength", &[], b"");
    assert_eq!(r.status, 411);
    assert_eq!(r.code(), "MissingContentLength");
    assert!(String::from_utf8_lossy(&r.body).contains("<RequestId>"));
    let missing = c.head_object().bucket("len").key("nolength").send().await;
    assert!(missing.is_err(), "a PUT without a length stored an object");

    // A chunked transfer needs no Content-Length.
    let r = send(
        "PUT",
        "/len/chunked",
        &[("transfer-encoding", "chunked")],
        b"5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get_bytes(&c, "len", "chunked").await, b"hello");
    // An explicit empty body is an empty object.
    let r = send("PUT", "/len/empty", &[("content-length", "0")], b"");
    assert_eq!(r.status, 200);
    assert_eq!(get_bytes(&c, "len", "empty").await, b"");

    // UploadPart likewise.
    let up = c
        .create_multipart_upload()
        .bucket("len")
        .key("mp")
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("id");
    let r = send(
        "PUT",
        &format!("/len/mp?partNumber=1&uploadId={id}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 411);
    assert_eq!(r.code(), "MissingContentLength");
    let parts = c
        .list_parts()
        .bucket("len")
        .key("mp")
        .upload_id(id)
        .send()
        .await
        .expect("list parts");
    assert!(
        parts.parts().is_empty(),
        "a part without a length was stored"
    );
}

#[test]
fn refused_authentication_is_logged_with_who_and_without_the_signature() {
    // One core, so the per-core rate limit is the node's.
    let srv = Server::start_with(&["--cores", "1"]);
    let bad = sign(
        srv.port,
        "GET",
        "/",
        &[],
        "UNSIGNED-PAYLOAD",
        "not-the-secret",
        SystemTime::now(),
    );
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    let client = s.local_addr().expect("local").to_string();
    s.write_all(&request_bytes("GET", "/", &bad.headers, b""))
        .expect("write");
    let r = read_until_closed(&mut s, Duration::from_secs(10)).expect("answered");
    let text = String::from_utf8_lossy(&r);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    let request_id = text
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-request-id: "))
        .expect("request id")
        .trim()
        .to_owned();

    let line = |log: &str| {
        log.lines()
            .find(|l| l.contains(&request_id))
            .map(str::to_owned)
    };
    assert!(
        eventually(Duration::from_secs(5), || line(&srv.log()).is_some()),
        "no log line for {request_id}:\n{}",
        srv.log()
    );
    let l = strip_ansi(&line(&srv.log()).expect("line"));
    assert!(
        l.contains("INFO") && l.contains("authentication refused"),
        "{l}"
    );
    assert!(l.contains(&client), "client address missing: {l}");
    assert!(l.contains(USER), "access key missing: {l}");
    assert!(l.contains("SignatureDoesNotMatch"), "{l}");
    assert!(
        !srv.log().contains(&bad.signature),
        "the signature was logged"
    );

    // A flood is logged at a bounded rate, with a count of what was not.
    // Anonymous ListBuckets: refused by authorisation, logged as "access
    // denied" under the same budget (an anonymous request for a missing
    // bucket would be answered 404 NoSuchBucket, not refused).
    let n = 60;
    for _ in 0..n {
        raw_request(
            srv.port,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect("anonymous");
    }
    std::thread::sleep(Duration::from_millis(1100));
    raw_request(
        srv.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("anonymous");
    let log = strip_ansi(&srv.log());
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("access denied") && l.contains("AccessDenied"))
        .collect();
    assert!(
        refused.len() < n,
        "{} lines for {n} refusals",
        refused.len()
    );
    let reported: u64 = refused
        .iter()
        .filter_map(|l| l.split("suppressed=").nth(1))
        .filter_map(|rest| {
            let digits: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .sum();
    assert_eq!(
        reported as usize + refused.len(),
        n + 1,
        "every refusal is logged or counted as suppressed"
    );
}

/// `Retry-After` of a lower-cased response head.
fn retry_after(head: &str) -> u64 {
    head.lines()
        .find_map(|l| l.strip_prefix("retry-after:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {head}"))
}

fn metrics(port: u16) -> String {
    let r = raw_request(
        port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("metrics");
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn an_address_over_its_request_rate_gets_slow_down_until_it_waits_and_others_are_served() {
    // One request per 5 s, 3 at once: the fourth within 5 s is refused.
    let srv = Server::start_with(&["--rate-limit-per-ip", "0.2/3"]);
    let ask = |src: Ipv4Addr| {
        let mut s = connect_from(src, srv.port);
        s.write_all(b"GET /nosuchbucket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        read_response(&mut s)
    };
    let noisy = Ipv4Addr::new(127, 0, 0, 2);
    for i in 0..3 {
        let (head, _) = ask(noisy);
        assert!(head.starts_with("http/1.1 404"), "request {i}: {head}");
    }
    let (head, body) = ask(noisy);
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("x-amz-request-id:"), "{head}");
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("<Code>SlowDown</Code>"), "{body}");
    assert!(body.contains("<RequestId>"), "{body}");
    let wait = retry_after(&head);
    assert!((1..=5).contains(&wait), "Retry-After {wait}");

    let (head, _) = ask(Ipv4Addr::new(127, 0, 0, 3));
    assert!(head.starts_with("http/1.1 404"), "another address: {head}");
    assert!(metrics(srv.port).contains("cairn_rate_limited_total{kind=\"ip\"} 1\n"));

    std::thread::sleep(Duration::from_secs(wait));
    let (head, _) = ask(noisy);
    assert!(
        head.starts_with("http/1.1 404"),
        "after Retry-After: {head}"
    );
}

#[test]
fn an_access_key_over_its_request_rate_gets_slow_down_and_anonymous_requests_do_not() {
    let srv = Server::start_with(&["--rate-limit-per-key", "0.2/3"]);
    let port = srv.port;
    let signed = || {
        let s = sign(
            port,
            "GET",
            "/",
            &[],
            "UNSIGNED-PAYLOAD",
            PASSWORD,
            SystemTime::now(),
        );
        raw_request(port, &request_bytes("GET", "/", &s.headers, b"")).expect("signed")
    };
    let anonymous = || {
        raw_request(
            port,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect("anonymous")
    };
    for i in 0..3 {
        assert_eq!(signed().status, 200, "request {i}");
    }
    let r = signed();
    assert_eq!((r.status, r.code()), (503, "SlowDown".into()));
    let wait: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    // Without a key, the key's limit does not apply (it is refused as usual).
    for _ in 0..5 {
        let r = anonymous();
        assert_eq!((r.status, r.code()), (403, "AccessDenied".into()));
    }
    assert!(metrics(port).contains("cairn_rate_limited_total{kind=\"key\"} 1\n"));
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(signed().status, 200, "after Retry-After");
}
