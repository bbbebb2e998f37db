//! Shared by the tests that drive the real `cairn` binary: a server on a
//! free loopback port with temporary drives (killed by PID when dropped,
//! printing its log tail if the test failed), the SDK clients (S3, IAM,
//! STS), `cairn admin` (`cli`), a webhook receiver (`webhook`), and raw
//! HTTP.

#![allow(dead_code)]

pub mod cli;
pub mod webhook;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::Client;
use hmac::{Hmac, Mac};
use md5::Digest as _;
use sha2::Sha256;

pub const USER: &str = "cairnadmin";
pub const PASSWORD: &str = "cairn-test-secret";
pub const REGION: &str = "us-east-1";

// ---------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------

pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    tls: bool,
    extra: Vec<String>,
    env: Vec<(String, String)>,
}

impl Server {
    /// Polls `f` every 100 ms until it gives a value; fails with the
    /// server's log once `within` has passed.
    pub fn wait_for<T>(&self, what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let t = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                t.elapsed() < within,
                "{what}: not seen within {within:?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A server with extra `serve` arguments (two cores unless they say
    /// `--cores`; `--tls-cert` makes readiness a TCP connect, as a plain
    /// health probe cannot speak TLS).
    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().expect("tempdir"), extra)
    }

    /// A server on drives `dir/drive0` … `dir/drive3`, which may already
    /// hold data (written by the engine API, say).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Server {
        Server::start_env(dir, extra, &[])
    }

    /// A server as `start_in` makes it, with these variables set in its
    /// environment.
    pub fn start_env(dir: tempfile::TempDir, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = spawn(dir.path(), port, &extra, &env);
        let tls = extra.iter().any(|a| a == "--tls-cert");
        let mut s = Server {
            child,
            port,
            dir,
            tls,
            extra,
            env,
        };
        s.wait_ready();
        s
    }

    /// Stops the server (SIGTERM, a clean shutdown) and starts it again on
    /// the same drives and port.
    pub fn restart(&mut self) {
        self.stop();
        self.child = spawn(self.dir.path(), self.port, &self.extra, &self.env);
        self.wait_ready();
    }

    /// Stops the server cleanly, runs `between` on its directory (the
    /// drives are `drive0` … `drive3` in it), and starts it again.
    pub fn restart_after(&mut self, between: impl FnOnce(&std::path::Path)) {
        self.stop();
        between(self.dir.path());
        self.child = spawn(self.dir.path(), self.port, &self.extra, &self.env);
        self.wait_ready();
    }

    /// Kills the server with SIGKILL (no shutdown at all) and starts it
    /// again on the same drives and port.
    pub fn kill9_restart(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child (not yet reaped) by its PID.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = self.child.wait();
        self.child = spawn(self.dir.path(), self.port, &self.extra, &self.env);
        self.wait_ready();
    }

    /// Kills the server with SIGKILL, runs `between` on its directory, and
    /// starts it again.
    pub fn kill9_restart_after(&mut self, between: impl FnOnce(&std::path::Path)) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child (not yet reaped) by its PID.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = self.child.wait();
        between(self.dir.path());
        self.child = spawn(self.dir.path(), self.port, &self.extra, &self.env);
        self.wait_ready();
    }

    fn stop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by its PID.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn wait_ready(&mut self) {
        let tls = self.tls;
        let log = self.dir.path().join("server.log");
        wait_ready(
            &mut self.child,
            self.port,
            Duration::from_secs(30),
            &log,
            |port| {
                if tls {
                    TcpStream::connect(("127.0.0.1", port)).is_ok()
                } else {
                    ready(port)
                }
            },
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> Client {
        client(&self.endpoint(), USER, PASSWORD)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            let log = self.log();
            let tail: String = log
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!("--- cairn log (tail) ---\n{tail}");
        }
    }
}

/// Starts `cairn serve` on the four drives under `dir`, logging to
/// `dir/server.log` (appended across restarts).
/// Whether the node on `port` answers 200 on `/health/ready`.
pub fn ready(port: u16) -> bool {
    raw_request(
        port,
        b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .is_ok_and(|r| r.status == 200)
}

/// Waits until `is_ready(port)` says the node `child` started is ready;
/// panics with its log (`log`) if it exits first or `limit` passes.
pub fn wait_ready(
    child: &mut Child,
    port: u16,
    limit: Duration,
    log: &std::path::Path,
    is_ready: impl Fn(u16) -> bool,
) {
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("cairn exited during start-up ({status}):\n{}", log());
        }
        if is_ready(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("cairn did not become ready:\n{}", log());
}

fn spawn(dir: &std::path::Path, port: u16, extra: &[String], env: &[(String, String)]) -> Child {
    let drives: Vec<PathBuf> = (0..4).map(|i| dir.join(format!("drive{i}"))).collect();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("serve")
        .args(&drives)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
        .args(if extra.iter().any(|a| a == "--cores") {
            &[][..]
        } else {
            &["--cores", "2"][..]
        })
        // Small segments and few partitions: quick to format, light on disk.
        .args([
            "--partitions",
            "16",
            "--segment-size",
            &(16u64 << 20).to_string(),
        ])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("CAIRN_ROOT_USER", USER)
        .env("CAIRN_ROOT_PASSWORD", PASSWORD)
        .env(
            "CAIRN_LOG",
            std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start cairn")
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Plain HTTP to the loopback node: no TLS stack to set up.
pub fn plain_http() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_http()
}

/// The S3 client settings every test shares (latest behaviour, the test
/// region, these keys, path-style addressing, plain HTTP), as a builder a
/// test may change further (retries, timeouts, checksums, TLS).
pub fn s3_config(
    endpoint: &str,
    access: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            access,
            secret,
            token.map(str::to_owned),
            None,
            "test",
        ))
        .force_path_style(true)
        .http_client(plain_http())
}

pub fn client(endpoint: &str, access: &str, secret: &str) -> Client {
    Client::from_conf(s3_config(endpoint, access, secret, None).build())
}

/// The IAM client settings every test shares; see [`s3_config`].
pub fn iam_config(endpoint: &str, access: &str, secret: &str) -> aws_sdk_iam::config::Builder {
    aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_iam::config::Credentials::new(
            access, secret, None, None, "test",
        ))
        .http_client(plain_http())
}

pub fn iam_client(endpoint: &str, access: &str, secret: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(iam_config(endpoint, access, secret).build())
}

/// An STS client with these keys (and session token, for temporary ones).
pub fn sts_client(
    endpoint: &str,
    access: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            access,
            secret,
            token.map(str::to_owned),
            None,
            "test",
        ))
        .http_client(plain_http())
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

/// The S3 error code of a failed SDK call.
pub fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("no error code in {e:?}"))
            .to_owned(),
    }
}

pub async fn get_bytes(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let o = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get");
    o.body.collect().await.expect("body").into_bytes().to_vec()
}

// ---------------------------------------------------------------------------
// Raw HTTP and hand-made SigV4
// ---------------------------------------------------------------------------

/// Every line of every object under `prefix` in `bucket` (server access
/// logs, say), with the object's key.
pub async fn object_lines(c: &Client, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    let list = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list");
    let mut out = Vec::new();
    for o in list.contents() {
        let key = o.key().unwrap_or_default().to_owned();
        let body = get_bytes(c, bucket, &key).await;
        for l in String::from_utf8(body).expect("text").lines() {
            out.push((key.clone(), l.to_owned()));
        }
    }
    out
}

pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn code(&self) -> String {
        let b = String::from_utf8_lossy(&self.body);
        b.split("<Code>")
            .nth(1)
            .and_then(|s| s.split("</Code>").next())
            .unwrap_or("")
            .to_owned()
    }
}

/// Sends one request (which must say `Connection: close`) and reads the
/// whole response.
pub fn raw_request(port: u16, req: &[u8]) -> std::io::Result<RawResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(req)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse_response(&buf)
}

/// A whole HTTP/1.1 response as read off the wire (chunked bodies
/// decoded).
pub fn parse_response(buf: &[u8]) -> std::io::Result<RawResponse> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < i + 2 + n {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[(i + 4 + n).min(b.len())..];
    }
    out
}

pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(<Sha256 as sha2::Digest>::digest(b))
}

/// A request signed by the AWS SDK's own signer (aws-sigv4).
pub struct SignedRequest {
    /// Header lines to send, `Host` and the signature included.
    pub headers: Vec<(String, String)>,
    pub signature: String,
    pub timestamp: String,
    pub signing_key: [u8; 32],
    pub scope: String,
}

pub fn sign(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    payload: &str,
    secret: &str,
    time: SystemTime,
) -> SignedRequest {
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
    };
    let identity = aws_credential_types::Credentials::new(USER, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let host = format!("127.0.0.1:{port}");
    let uri = format!("http://{host}{path}");
    let mut all: Vec<(&str, &str)> = vec![("host", &host)];
    all.extend_from_slice(headers);
    let signable = SignableRequest::new(
        method,
        &uri,
        all.iter().copied(),
        SignableBody::Precomputed(payload.to_owned()),
    )
    .expect("signable");
    let (instructions, signature) = sign(signable, &params).expect("sign").into_parts();
    let mut builder = http::Request::builder().method(method).uri(&uri);
    for (k, v) in &all {
        builder = builder.header(*k, *v);
    }
    let mut req = builder.body(()).expect("request");
    instructions.apply_to_request_http1x(&mut req);
    let h: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().expect("ascii").to_owned()))
        .collect();
    let timestamp = h
        .iter()
        .find(|(k, _)| k == "x-amz-date")
        .map(|(_, v)| v.clone())
        .expect("x-amz-date");
    let date = timestamp[..8].to_owned();
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [REGION, "s3", "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    SignedRequest {
        headers: h,
        signature,
        timestamp,
        signing_key: k,
        scope: format!("{date}/{REGION}/s3/aws4_request"),
    }
}

pub fn request_bytes(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// An aws-chunked STREAMING-AWS4-HMAC-SHA256-PAYLOAD body; the chunk at
/// `corrupt` (if any) gets a wrong signature.
pub fn signed_chunks(
    s: &SignedRequest,
    payload: &[u8],
    chunk: usize,
    corrupt: Option<usize>,
) -> Vec<u8> {
    let empty = sha256_hex(b"");
    let mut prev = s.signature.clone();
    let mut out = Vec::new();
    let mut pieces: Vec<&[u8]> = payload.chunks(chunk).collect();
    pieces.push(b"");
    for (i, piece) in pieces.iter().enumerate() {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev}\n{empty}\n{}",
            s.timestamp,
            s.scope,
            sha256_hex(piece)
        );
        let mut sig = hex::encode(hmac(&s.signing_key, sts.as_bytes()));
        prev = sig.clone();
        if corrupt == Some(i) {
            let flipped = if sig.starts_with("0000") {
                "1111"
            } else {
                "0000"
            };
            sig = format!("{flipped}{}", &sig[4..]);
        }
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A PUT of `payload` to `path` (query included) with a
/// STREAMING-AWS4-HMAC-SHA256-PAYLOAD body; see [`signed_chunks`].
pub fn streaming_put(port: u16, path: &str, payload: &[u8], corrupt: Option<usize>) -> RawResponse {
    let decoded = payload.len().to_string();
    // The encoded length needs the body, which needs the seed signature,
    // which covers Content-Length: compute it from the framing alone.
    let chunk = 8192;
    let encoded_len: usize = payload
        .chunks(chunk)
        .map(|c| format!("{:x}", c.len()).len() + 17 + 64 + 2 + c.len() + 2)
        .sum::<usize>()
        + 1
        + 17
        + 64
        + 4;
    let len = encoded_len.to_string();
    let s = sign(
        port,
        "PUT",
        path,
        &[
            ("content-encoding", "aws-chunked"),
            ("content-length", &len),
            ("x-amz-decoded-content-length", &decoded),
        ],
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let body = signed_chunks(&s, payload, chunk, corrupt);
    assert_eq!(body.len(), encoded_len, "framing length");
    let mut headers = s.headers.clone();
    if !headers.iter().any(|(k, _)| k == "content-length") {
        headers.push(("content-length".into(), len));
    }
    raw_request(port, &request_bytes("PUT", path, &headers, &body)).expect("request")
}

/// A PUT of `payload` to `path` (query included) as
/// STREAMING-UNSIGNED-PAYLOAD-TRAILER: unsigned chunks of `chunk` bytes and
/// an `x-amz-checksum-crc32` trailer of `crc32` (the payload's CRC32, or a
/// wrong one on purpose).
pub fn unsigned_trailer_put(
    port: u16,
    path: &str,
    payload: &[u8],
    chunk: usize,
    crc32: u32,
) -> RawResponse {
    let mut body = Vec::new();
    for piece in payload.chunks(chunk) {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    let b64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        crc32.to_be_bytes(),
    );
    body.extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{b64}\r\n\r\n").as_bytes());
    let s = sign(
        port,
        "PUT",
        path,
        &[
            ("content-encoding", "aws-chunked"),
            ("content-length", &body.len().to_string()),
            ("x-amz-decoded-content-length", &payload.len().to_string()),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ],
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        PASSWORD,
        SystemTime::now(),
    );
    raw_request(port, &request_bytes("PUT", path, &s.headers, &body)).expect("trailer put")
}

/// Reads until the server closes the connection; the bytes read, or `None`
/// if it was still open after `limit`.
pub fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Some(got),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}
