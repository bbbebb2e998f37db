//! The HTTP transport of the real binary: HTTPS with rustls, virtual-hosted
//! addressing under `--domain`, and the limits on idle, slow and greedy
//! clients (`--idle-timeout`, `--max-connections`).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};

mod binary;
use binary::*;

const DOMAIN: &str = "s3.cairn.test";

/// Resolves every name to loopback, so `bucket.s3.cairn.test` reaches the
/// server under test.
#[derive(Debug, Clone)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
    }
}

/// A self-signed certificate for the domain, its buckets and localhost.
struct Cert {
    dir: tempfile::TempDir,
    pem: String,
}

impl Cert {
    fn new() -> Cert {
        let c = rcgen::generate_simple_self_signed(vec![
            DOMAIN.into(),
            format!("*.{DOMAIN}"),
            "localhost".into(),
        ])
        .expect("certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        let pem = c.cert.pem();
        std::fs::write(dir.path().join("cert.pem"), &pem).expect("write cert");
        std::fs::write(dir.path().join("key.pem"), c.signing_key.serialize_pem())
            .expect("write key");
        Cert { dir, pem }
    }

    fn path(&self, name: &str) -> String {
        self.dir
            .path()
            .join(name)
            .to_str()
            .expect("utf-8")
            .to_owned()
    }
}

fn https_client(endpoint: &str, trusted_pem: Option<&str>, path_style: bool) -> Client {
    let mut store = TrustStore::empty().with_native_roots(false);
    if let Some(pem) = trusted_pem {
        store = store.with_pem_certificate(pem.as_bytes());
    }
    let ctx = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("tls context");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(ctx)
        .build_with_resolver(Loopback);
    let conf = s3_config(endpoint, USER, PASSWORD, None)
        .force_path_style(path_style)
        .http_client(http)
        .build();
    Client::from_conf(conf)
}

#[tokio::test]
async fn https_serves_virtual_hosted_and_path_style_requests() {
    let cert = Cert::new();
    let (c, k) = (cert.path("cert.pem"), cert.path("key.pem"));
    let srv = Server::start_with(&["--tls-cert", &c, "--tls-key", &k, "--domain", DOMAIN]);
    let vhost = https_client(
        &format!("https://{DOMAIN}:{}", srv.port),
        Some(&cert.pem),
        false,
    );
    let path = https_client(
        &format!("https://localhost:{}", srv.port),
        Some(&cert.pem),
        true,
    );

    // Bucket and object operations addressed as bucket.<domain>.
    vhost
        .create_bucket()
        .bucket("vhost")
        .send()
        .await
        .expect("create");
    vhost
        .head_bucket()
        .bucket("vhost")
        .send()
        .await
        .expect("head");
    let body = data(3 << 20, 7);
    let put = vhost
        .put_object()
        .bucket("vhost")
        .key("dir/obj")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put over https");
    assert_eq!(
        put.e_tag(),
        Some(format!("\"{}\"", md5_hex(&body)).as_str())
    );
    assert_eq!(get_bytes(&vhost, "vhost", "dir/obj").await, body);

    // The same object, path style over the same listener.
    assert_eq!(get_bytes(&path, "vhost", "dir/obj").await, body);
    let listed = vhost
        .list_objects_v2()
        .bucket("vhost")
        .prefix("dir/")
        .send()
        .await
        .expect("list");
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/obj"]);
    let buckets = vhost.list_buckets().send().await.expect("list buckets");
    assert!(buckets.buckets().iter().any(|b| b.name() == Some("vhost")));
    let range = vhost
        .get_object()
        .bucket("vhost")
        .key("dir/obj")
        .range("bytes=1048570-1048589")
        .send()
        .await
        .expect("range");
    let got = range.body.collect().await.expect("body").into_bytes();
    assert_eq!(&got[..], &body[1048570..1048590]);
    vhost
        .delete_object()
        .bucket("vhost")
        .key("dir/obj")
        .send()
        .await
        .expect("delete");
    vhost
        .delete_bucket()
        .bucket("vhost")
        .send()
        .await
        .expect("drop bucket");

    // A client that does not trust the certificate fails the handshake; a
    // plain-HTTP client gets no HTTP answer. Neither disturbs the server.
    let untrusting = https_client(&format!("https://localhost:{}", srv.port), None, true);
    assert!(untrusting.list_buckets().send().await.is_err());
    let plain = raw_request(
        srv.port,
        b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(plain.is_err(), "plain HTTP on the TLS port answered");
    path.list_buckets()
        .send()
        .await
        .expect("still serving after bad clients");
}

#[tokio::test]
async fn idle_and_stalled_clients_are_cut_off() {
    let srv = Server::start_with(&["--idle-timeout", "1"]);
    let connect = || TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    let limit = Duration::from_secs(5);

    // A connection that never sends a request.
    let mut idle = connect();
    let t = Instant::now();
    assert_eq!(read_until_closed(&mut idle, limit), Some(vec![]));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "closed too early"
    );

    // A request head that stops half way (slowloris).
    let mut slow = connect();
    slow.write_all(b"GET /health/live HTTP/1.1\r\nHo")
        .expect("write");
    let r = read_until_closed(&mut slow, limit).expect("slow head cut off");
    assert!(
        !r.starts_with(b"HTTP/1.1 200"),
        "a half request was answered"
    );

    // A keep-alive connection is closed once idle after its (signed)
    // request.
    let s = sign(
        srv.port,
        "GET",
        "/",
        &[],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let mut head = String::from("GET / HTTP/1.1\r\n");
    for (k, v) in &s.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut ka = connect();
    ka.write_all(head.as_bytes()).expect("write");
    let t = Instant::now();
    let r = read_until_closed(&mut ka, limit).expect("idle keep-alive closed");
    assert!(
        r.starts_with(b"HTTP/1.1 200"),
        "the request was served first"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "closed before it was idle"
    );

    // A body that stops arriving: RequestTimeout, and nothing stored.
    let c = srv.client();
    c.create_bucket()
        .bucket("slow")
        .send()
        .await
        .expect("bucket");
    let s = sign(
        srv.port,
        "PUT",
        "/slow/partial",
        &[("content-length", "100")],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let mut put = connect();
    put.write_all(&request_bytes(
        "PUT",
        "/slow/partial",
        &s.headers,
        &[b'x'; 10],
    ))
    .expect("write");
    let r = read_until_closed(&mut put, limit).expect("stalled body cut off");
    let text = String::from_utf8_lossy(&r);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
    let missing = c.head_object().bucket("slow").key("partial").send().await;
    assert!(missing.is_err(), "a partial body became visible");

    // A client that stops reading a large response is disconnected rather
    // than holding the response's buffers forever.
    let big = data(48 << 20, 3);
    c.put_object()
        .bucket("slow")
        .key("big")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .expect("put big");
    let s = sign(
        srv.port,
        "GET",
        "/slow/big",
        &[],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    let mut reader = connect();
    reader
        .write_all(&request_bytes("GET", "/slow/big", &s.headers, b""))
        .expect("write");
    std::thread::sleep(Duration::from_secs(4));
    let got = read_until_closed(&mut reader, Duration::from_secs(20)).expect("closed");
    assert!(
        got.len() < big.len(),
        "a stalled reader got the whole {} bytes",
        big.len()
    );
    assert_eq!(
        get_bytes(&c, "slow", "big").await,
        big,
        "others still served"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_while_every_slot_serves_a_request() {
    let srv = Server::start_with(&["--cores", "1", "--max-connections", "2"]);
    srv.client()
        .create_bucket()
        .bucket("cap")
        .send()
        .await
        .expect("bucket");
    let connect = || TcpStream::connect(("127.0.0.1", srv.port)).expect("connect");
    // Two requests in flight: bodies that stop after 10 of 100 bytes (an
    // idle connection would be closed to make room instead).
    let in_flight = || {
        let s = sign(
            srv.port,
            "PUT",
            "/cap/stalled",
            &[("content-length", "100")],
            "UNSIGNED-PAYLOAD",
            PASSWORD,
            SystemTime::now(),
        );
        let mut c = connect();
        c.write_all(&request_bytes(
            "PUT",
            "/cap/stalled",
            &s.headers,
            &[b'x'; 10],
        ))
        .expect("write");
        c
    };
    let a = in_flight();
    let _b = in_flight();
    std::thread::sleep(Duration::from_millis(500));

    // The third waits in the backlog while both are busy...
    let request = b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut c = connect();
    c.write_all(request).expect("write");
    assert_eq!(
        read_until_closed(&mut c, Duration::from_millis(700)),
        None,
        "served beyond the connection cap"
    );
    // ...and is served once one of them ends.
    drop(a);
    let r = read_until_closed(&mut c, Duration::from_secs(5)).expect("served after a slot freed");
    assert!(
        r.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&r)
    );
}
