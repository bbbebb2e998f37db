//! HTTPS round trips against the real binary, with kernel TLS requested
//! (the default) and turned off (`--no-ktls`): PUT and GET of 4 KiB and
//! 1 MiB with every payload signing a client uses over TLS, ranged GETs
//! and a multipart upload; and which side encrypted the sessions
//! (`cairn_tls_sessions_total`), so a kernel without the TLS module must
//! fall back to rustls and say so. The kernel path itself runs where the
//! kernel has kTLS and is skipped (with the reason) elsewhere.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use rustls_pki_types::pem::PemObject;

mod binary;
use binary::*;

/// Resolves `localhost` to 127.0.0.1, where the server listens.
#[derive(Debug, Clone)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
    }
}

/// A self-signed certificate for localhost, and a node serving it.
struct Node {
    srv: Server,
    pem: String,
    _certs: tempfile::TempDir,
}

impl Node {
    fn start(extra: &[&str]) -> Node {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        let certs = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
        std::fs::write(&cert, c.cert.pem()).expect("write cert");
        std::fs::write(&key, c.signing_key.serialize_pem()).expect("write key");
        let mut args = vec![
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        Node {
            srv: Server::start_with(&args),
            pem: c.cert.pem(),
            _certs: certs,
        }
    }

    /// An SDK client over HTTPS; `checksums: false` leaves out the
    /// flexible checksums, so that the SDK signs (or, told to, leaves
    /// unsigned) a plain payload instead of sending aws-chunked.
    fn client(&self, checksums: bool) -> Client {
        let store = TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(self.pem.as_bytes());
        let ctx = TlsContext::builder()
            .with_trust_store(store)
            .build()
            .expect("tls context");
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .tls_context(ctx)
            .build_with_resolver(Loopback);
        let mut conf = s3_config(
            &format!("https://localhost:{}", self.srv.port),
            USER,
            PASSWORD,
            None,
        )
        .http_client(http);
        if !checksums {
            conf = conf.request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        }
        Client::from_conf(conf.build())
    }

    /// One request over its own TLS connection (rustls, ring), which must
    /// say `Connection: close`; the response is read to the server's
    /// close_notify (a TLS stream cut short is an error here).
    fn raw(&self, req: &[u8]) -> RawResponse {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(self.pem.as_bytes()) {
            roots.add(cert.expect("pem")).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let tcp = TcpStream::connect(("127.0.0.1", self.srv.port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(req).expect("send");
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf)
            .expect("response, ended by close_notify");
        parse_response(&buf).expect("response")
    }

    /// `cairn_tls_sessions_total` for `path` (kernel or user), and
    /// `cairn_ktls_enabled`.
    fn sessions(&self, path: &str) -> (u64, u64) {
        let r = self.raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(r.status, 200);
        let text = String::from_utf8(r.body).expect("utf-8");
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        };
        (
            value(&format!("cairn_tls_sessions_total{{path=\"{path}\"}}")),
            value("cairn_ktls_enabled"),
        )
    }
}

/// Whether this kernel takes TLS sessions: the TLS upper layer attaches
/// to a connected loopback socket. Otherwise why not.
fn kernel_tls() -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let c = TcpStream::connect(l.local_addr().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let _peer = l.accept().map_err(|e| e.to_string())?;
    // SAFETY: a valid socket and a live 3-byte buffer.
    let r = unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_ULP,
            b"tls".as_ptr().cast(),
            3,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        let ulps =
            std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp").unwrap_or_default();
        Err(format!(
            "setsockopt(TCP_ULP, \"tls\"): {} (tcp_available_ulp: {:?})",
            std::io::Error::last_os_error(),
            ulps.trim()
        ))
    }
}

async fn get_bytes(c: &Client, bucket: &str, key: &str, range: Option<&str>) -> Vec<u8> {
    let r = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range.map(str::to_owned))
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
    r.body.collect().await.expect("body").into_bytes().to_vec()
}

/// Every upload form over TLS, each read back whole and in ranges.
async fn round_trips(node: &Node) {
    let trailer = node.client(true);
    let plain = node.client(false);
    let bucket = "tls";
    trailer
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create bucket");
    for (size, seed) in [(4 << 10, 1), (1 << 20, 2)] {
        let body = data(size, seed);
        let etag = format!("\"{}\"", md5_hex(&body));
        // STREAMING-UNSIGNED-PAYLOAD-TRAILER (the SDK's default).
        let k = format!("trailer-{size}");
        let put = trailer
            .put_object()
            .bucket(bucket)
            .key(&k)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put with a checksum trailer");
        assert_eq!(put.e_tag(), Some(etag.as_str()));
        assert_eq!(get_bytes(&plain, bucket, &k, None).await, body);
        // The payload's SHA-256 signed.
        let k = format!("signed-{size}");
        plain
            .put_object()
            .bucket(bucket)
            .key(&k)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .expect("put signed");
        assert_eq!(get_bytes(&trailer, bucket, &k, None).await, body);
        // UNSIGNED-PAYLOAD, as minio-go and warp send over TLS.
        let k = format!("unsigned-{size}");
        plain
            .put_object()
            .bucket(bucket)
            .key(&k)
            .body(ByteStream::from(body.clone()))
            .customize()
            .disable_payload_signing()
            .send()
            .await
            .expect("put unsigned");
        assert_eq!(get_bytes(&plain, bucket, &k, None).await, body);
        // STREAMING-AWS4-HMAC-SHA256-PAYLOAD: signed chunks.
        let k = format!("chunks-{size}");
        let r = node.raw(&streaming_put_request(
            node.srv.port,
            &format!("/{bucket}/{k}"),
            &body,
        ));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        assert_eq!(get_bytes(&plain, bucket, &k, None).await, body);
        // Ranges: the start, the middle, the last byte.
        for (a, b) in [(0, 99), (size / 3, size / 2), (size - 1, size - 1)] {
            let got = get_bytes(&plain, bucket, &k, Some(&format!("bytes={a}-{b}"))).await;
            assert_eq!(got, body[a..=b], "range {a}-{b} of {size}");
        }
    }

    // Multipart: a 5 MiB part and a small last one.
    let parts = [data(5 << 20, 3), data(1000, 4)];
    let up = trailer
        .create_multipart_upload()
        .bucket(bucket)
        .key("multi")
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("upload id");
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = trailer
            .upload_part()
            .bucket(bucket)
            .key("multi")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .expect("upload part");
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(r.e_tag().map(str::to_owned))
                .build(),
        );
    }
    trailer
        .complete_multipart_upload()
        .bucket(bucket)
        .key("multi")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let whole = parts.concat();
    assert_eq!(get_bytes(&plain, bucket, "multi", None).await, whole);
    let (a, b) = ((5 << 20) - 10, (5 << 20) + 10);
    assert_eq!(
        get_bytes(&plain, bucket, "multi", Some(&format!("bytes={a}-{b}"))).await,
        whole[a..=b]
    );
}

/// A STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT of `payload` to `path`, as
/// bytes to send (see `binary::streaming_put`, which sends in the clear).
fn streaming_put_request(port: u16, path: &str, payload: &[u8]) -> Vec<u8> {
    let chunk = 64 << 10;
    let encoded_len: usize = payload
        .chunks(chunk)
        .map(|c| format!("{:x}", c.len()).len() + 17 + 64 + 2 + c.len() + 2)
        .sum::<usize>()
        + 1
        + 17
        + 64
        + 4;
    let (len, decoded) = (encoded_len.to_string(), payload.len().to_string());
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
    let body = signed_chunks(&s, payload, chunk, None);
    assert_eq!(body.len(), encoded_len, "framing length");
    request_bytes("PUT", path, &s.headers, &body)
}

#[tokio::test]
async fn round_trips_with_ktls_requested_use_the_kernel_or_say_why_not() {
    let node = Node::start(&[]);
    round_trips(&node).await;
    let (kernel, enabled) = node.sessions("kernel");
    let (user, _) = node.sessions("user");
    match kernel_tls() {
        Ok(()) => {
            assert_eq!(enabled, 1);
            assert!(kernel > 0, "no session went to the kernel");
            assert!(node.srv.log().contains("kTLS: the kernel encrypts"));
        }
        Err(why) => {
            eprintln!("kernel without kTLS ({why}): checking the fallback");
            assert_eq!((kernel, enabled), (0, 0));
            assert!(user > 0, "no session counted");
            let log = node.srv.log();
            assert!(
                log.contains("kTLS unavailable") && log.contains("tcp_available_ulp"),
                "the fallback is not in the log:\n{log}"
            );
        }
    }
}

#[tokio::test]
async fn round_trips_with_ktls_off_stay_in_rustls() {
    let node = Node::start(&["--no-ktls"]);
    round_trips(&node).await;
    let (kernel, enabled) = node.sessions("kernel");
    let (user, _) = node.sessions("user");
    assert_eq!((kernel, enabled), (0, 0));
    // Two SDK clients' pooled connections, the streaming PUTs' own
    // connections and the metrics reads.
    assert!(user >= 4, "{user} sessions counted");
    assert!(node.srv.log().contains("kTLS off"));
}

#[tokio::test]
async fn the_kernel_serves_round_trips_where_it_has_ktls() {
    if let Err(why) = kernel_tls() {
        eprintln!("SKIPPED: this kernel has no kTLS: {why}");
        return;
    }
    let node = Node::start(&[]);
    let (before, _) = node.sessions("kernel");
    round_trips(&node).await;
    let (after, enabled) = node.sessions("kernel");
    let (user, _) = node.sessions("user");
    assert_eq!(enabled, 1);
    // rustls negotiates TLS 1.3 AES-GCM, which every kTLS kernel takes.
    assert_eq!(user, 0, "sessions stayed in user space");
    assert!(after > before + 2, "{before} -> {after} kernel sessions");
    // A client's close_notify ends its connection cleanly, and the
    // kernel's close_notify ends the response (`raw` insists on it).
    let r = node.raw(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200);
}
