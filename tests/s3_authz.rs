//! Authorisation on the real binary: bucket policies decide for anonymous
//! callers and can deny root, `aws:SourceIp` and `aws:SecureTransport`
//! come from the connection, public access blocks are honoured, and
//! policies survive a restart. (Users with identity policies need the IAM
//! API: their decisions are unit-tested in `src/s3/authorize.rs`.)

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::PublicAccessBlockConfiguration;
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};

mod binary;
use binary::*;

async fn bucket_with(c: &Client, bucket: &str, keys: &[&str]) {
    c.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("create");
    for k in keys {
        c.put_object()
            .bucket(bucket)
            .key(*k)
            .body(ByteStream::from(format!("body of {k}").into_bytes()))
            .send()
            .await
            .expect("put");
    }
}

async fn put_policy(c: &Client, bucket: &str, policy: &str) {
    c.put_bucket_policy()
        .bucket(bucket)
        .policy(policy)
        .send()
        .await
        .expect("put bucket policy");
}

/// One unsigned request (`Connection: close`).
fn unsigned(port: u16, method: &str, target: &str) -> RawResponse {
    let body_len = if method == "PUT" {
        "Content-Length: 2\r\n"
    } else {
        ""
    };
    let body = if method == "PUT" { "hi" } else { "" };
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{body_len}Connection: close\r\n\r\n{body}"
    );
    raw_request(port, req.as_bytes()).expect("raw request")
}

fn public_read(bucket: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{bucket}/*"}}]}}"#
    )
}

fn sdk_code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    r: Result<T, E>,
) -> String {
    code(r)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_read_policy_serves_unsigned_gets_and_nothing_else() {
    let srv = Server::start();
    let c = srv.client();
    bucket_with(&c, "pub", &["docs/a.txt"]).await;
    bucket_with(&c, "private", &["docs/a.txt"]).await;

    // Before any policy, an unsigned GET is refused.
    let r = unsigned(srv.port, "GET", "/pub/docs/a.txt");
    assert_eq!((r.status, r.code()), (403, "AccessDenied".to_string()));
    assert!(r.header("x-amz-request-id").is_some());
    assert_eq!(
        sdk_code(c.get_bucket_policy_status().bucket("pub").send().await),
        "NoSuchBucketPolicy"
    );

    put_policy(&c, "pub", &public_read("pub")).await;
    let r = unsigned(srv.port, "GET", "/pub/docs/a.txt");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, b"body of docs/a.txt");
    let r = unsigned(srv.port, "HEAD", "/pub/docs/a.txt");
    assert_eq!(r.status, 200);
    let r = unsigned(srv.port, "GET", "/pub/docs/missing");
    assert_eq!((r.status, r.code()), (404, "NoSuchKey".to_string()));

    for (method, target) in [
        ("PUT", "/pub/docs/b.txt"),
        ("DELETE", "/pub/docs/a.txt"),
        ("GET", "/pub"),
        ("GET", "/pub?list-type=2"),
        ("GET", "/pub?policy"),
        ("GET", "/"),
        ("GET", "/private/docs/a.txt"),
        ("PUT", "/newbucket"),
    ] {
        let r = unsigned(srv.port, method, target);
        assert_eq!(
            (r.status, r.code()),
            (403, "AccessDenied".to_string()),
            "{method} {target}"
        );
    }
    // A bucket that does not exist is still named as such.
    let r = unsigned(srv.port, "GET", "/nosuch/k");
    assert_eq!((r.status, r.code()), (404, "NoSuchBucket".to_string()));
    // Nothing was written or deleted.
    assert_eq!(
        get_bytes(&c, "pub", "docs/a.txt").await,
        b"body of docs/a.txt"
    );
    assert_eq!(
        sdk_code(c.head_object().bucket("pub").key("docs/b.txt").send().await),
        "NotFound"
    );

    let status = c
        .get_bucket_policy_status()
        .bucket("pub")
        .send()
        .await
        .expect("policy status");
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(true)
    );
    let got = c
        .get_bucket_policy()
        .bucket("pub")
        .send()
        .await
        .expect("get policy");
    assert_eq!(got.policy(), Some(public_read("pub").as_str()));

    // Deleting the policy closes the bucket again.
    c.delete_bucket_policy()
        .bucket("pub")
        .send()
        .await
        .expect("delete policy");
    let r = unsigned(srv.port, "GET", "/pub/docs/a.txt");
    assert_eq!(r.status, 403);
    assert_eq!(
        sdk_code(c.get_bucket_policy().bucket("pub").send().await),
        "NoSuchBucketPolicy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_policy_deny_beats_root_and_a_non_public_policy_is_not_public() {
    let srv = Server::start();
    let c = srv.client();
    bucket_with(&c, "locked", &["secret/x", "open/x"]).await;
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":["s3:GetObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::locked/secret/*"}]}"#;
    put_policy(&c, "locked", deny).await;
    assert_eq!(
        sdk_code(c.get_object().bucket("locked").key("secret/x").send().await),
        "AccessDenied"
    );
    assert_eq!(get_bytes(&c, "locked", "open/x").await, b"body of open/x");
    // DeleteObjects answers per key: the denied key is an error entry.
    let ids: Vec<_> = ["secret/x", "open/x"]
        .iter()
        .map(|k| {
            aws_sdk_s3::types::ObjectIdentifier::builder()
                .key(*k)
                .build()
                .expect("id")
        })
        .collect();
    let out = c
        .delete_objects()
        .bucket("locked")
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(ids))
                .build()
                .expect("delete"),
        )
        .send()
        .await
        .expect("delete objects");
    let errors: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap_or(""), e.code().unwrap_or("")))
        .collect();
    assert_eq!(errors, [("secret/x", "AccessDenied")]);
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["open/x"]);

    let status = c
        .get_bucket_policy_status()
        .bucket("locked")
        .send()
        .await
        .expect("status");
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(false)
    );
    // Root can always take the policy that locks it out away.
    c.delete_bucket_policy()
        .bucket("locked")
        .send()
        .await
        .expect("delete policy");
    assert_eq!(
        get_bytes(&c, "locked", "secret/x").await,
        b"body of secret/x"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_ip_condition_decides_by_the_connections_peer() {
    let srv = Server::start();
    let c = srv.client();
    bucket_with(&c, "ipb", &["k"]).await;
    let only_from = |cidr: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::ipb/*","Condition":{{"NotIpAddress":{{"aws:SourceIp":"{cidr}"}}}}}}]}}"#
        )
    };
    put_policy(&c, "ipb", &only_from("127.0.0.1/32")).await;
    assert_eq!(get_bytes(&c, "ipb", "k").await, b"body of k");
    put_policy(&c, "ipb", &only_from("10.0.0.0/8")).await;
    assert_eq!(
        sdk_code(c.get_object().bucket("ipb").key("k").send().await),
        "AccessDenied"
    );
    // An anonymous caller allowed from loopback only.
    let from_loopback = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::ipb/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}"#;
    put_policy(&c, "ipb", from_loopback).await;
    assert_eq!(unsigned(srv.port, "GET", "/ipb/k").status, 200);
    let elsewhere = from_loopback.replace("127.0.0.0/8", "10.0.0.0/8");
    put_policy(&c, "ipb", &elsewhere).await;
    // X-Forwarded-For is not believed.
    let req =
        b"GET /ipb/k HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: close\r\n\r\n";
    assert_eq!(raw_request(srv.port, req).expect("raw").status, 403);
}

const TLS_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::tls","arn:aws:s3:::tls/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_transport_deny_refuses_plain_http() {
    let srv = Server::start();
    let c = srv.client();
    bucket_with(&c, "tls", &["k"]).await;
    put_policy(&c, "tls", TLS_ONLY).await;
    assert_eq!(
        sdk_code(c.get_object().bucket("tls").key("k").send().await),
        "AccessDenied"
    );
    assert_eq!(
        sdk_code(
            c.put_object()
                .bucket("tls")
                .key("k2")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "AccessDenied"
    );
}

/// Every name resolves to loopback.
#[derive(Debug, Clone)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_transport_deny_lets_the_tls_listener_through() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let srv = Server::start_with(&[
        "--tls-cert",
        cert_path.to_str().expect("utf-8"),
        "--tls-key",
        key_path.to_str().expect("utf-8"),
    ]);
    let store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(cert.cert.pem().into_bytes());
    let ctx = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("tls context");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(ctx)
        .build_with_resolver(Loopback);
    let endpoint = format!("https://localhost:{}", srv.port);
    let conf = s3_config(&endpoint, USER, PASSWORD, None)
        .http_client(http)
        .build();
    let c = Client::from_conf(conf);
    bucket_with(&c, "tls", &["k"]).await;
    put_policy(&c, "tls", TLS_ONLY).await;
    assert_eq!(get_bytes(&c, "tls", "k").await, b"body of k");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_access_block_refuses_public_policies_and_restricts_public_buckets() {
    let srv = Server::start();
    let c = srv.client();
    bucket_with(&c, "blk", &["k"]).await;
    assert_eq!(
        sdk_code(c.get_public_access_block().bucket("blk").send().await),
        "NoSuchPublicAccessBlockConfiguration"
    );
    let block = |policy: bool, restrict: bool| {
        PublicAccessBlockConfiguration::builder()
            .block_public_policy(policy)
            .restrict_public_buckets(restrict)
            .build()
    };
    c.put_public_access_block()
        .bucket("blk")
        .public_access_block_configuration(block(true, false))
        .send()
        .await
        .expect("put block");
    let got = c
        .get_public_access_block()
        .bucket("blk")
        .send()
        .await
        .expect("get block");
    let conf = got.public_access_block_configuration().expect("conf");
    assert_eq!(
        (
            conf.block_public_acls(),
            conf.block_public_policy(),
            conf.restrict_public_buckets()
        ),
        (Some(false), Some(true), Some(false))
    );
    assert_eq!(
        sdk_code(
            c.put_bucket_policy()
                .bucket("blk")
                .policy(public_read("blk"))
                .send()
                .await
        ),
        "AccessDenied"
    );
    // A policy that is not public is still accepted.
    let to_root = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::blk/*"}]}"#;
    put_policy(&c, "blk", to_root).await;

    // RestrictPublicBuckets: a public policy already there grants nothing
    // to anonymous callers.
    c.put_public_access_block()
        .bucket("blk")
        .public_access_block_configuration(block(false, false))
        .send()
        .await
        .expect("relax block");
    put_policy(&c, "blk", &public_read("blk")).await;
    assert_eq!(unsigned(srv.port, "GET", "/blk/k").status, 200);
    c.put_public_access_block()
        .bucket("blk")
        .public_access_block_configuration(block(false, true))
        .send()
        .await
        .expect("restrict");
    assert_eq!(unsigned(srv.port, "GET", "/blk/k").status, 403);
    c.delete_public_access_block()
        .bucket("blk")
        .send()
        .await
        .expect("delete block");
    assert_eq!(unsigned(srv.port, "GET", "/blk/k").status, 200);
    assert_eq!(
        sdk_code(c.get_public_access_block().bucket("blk").send().await),
        "NoSuchPublicAccessBlockConfiguration"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_policies_are_refused_with_a_message_naming_the_problem() {
    let srv = Server::start();
    let c = srv.client();
    bucket_with(&c, "mal", &[]).await;
    for (policy, says) in [
        ("not json", "not valid JSON"),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::mal/*"}]}"#,
            "missing Principal",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::mal/*"}]}"#,
            "invalid Effect",
        ),
    ] {
        let err = c
            .put_bucket_policy()
            .bucket("mal")
            .policy(policy)
            .send()
            .await
            .expect_err("malformed");
        assert_eq!(err.code(), Some("MalformedPolicy"), "{policy}");
        let msg = err.message().unwrap_or("");
        assert!(msg.contains(says), "{policy}: {msg}");
    }
    let huge = format!(
        r#"{{"Version":"2012-10-17","Id":"{}","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::mal/*"}}]}}"#,
        "x".repeat(21 * 1024)
    );
    assert_eq!(
        sdk_code(
            c.put_bucket_policy()
                .bucket("mal")
                .policy(huge)
                .send()
                .await
        ),
        "MalformedPolicy"
    );
    assert_eq!(
        sdk_code(c.get_bucket_policy().bucket("mal").send().await),
        "NoSuchBucketPolicy"
    );
}

/// Stops the server (SIGTERM) and starts it again on the same drives and
/// port, as `Server::start` does.
fn restart(srv: &mut Server) {
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(srv.child.id() as libc::pid_t, libc::SIGTERM) };
    srv.child.wait().expect("wait");
    let drives: Vec<_> = (0..4)
        .map(|i| srv.dir.path().join(format!("drive{i}")))
        .collect();
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(srv.dir.path().join("server.log"))
        .expect("log");
    srv.child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("serve")
        .args(&drives)
        .args(["--listen", &format!("127.0.0.1:{}", srv.port), "--no-pin"])
        .args(["--cores", "2", "--partitions", "16"])
        .args(["--segment-size", &(16u64 << 20).to_string()])
        .env("CAIRN_ROOT_USER", USER)
        .env("CAIRN_ROOT_PASSWORD", PASSWORD)
        .env("CAIRN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("restart cairn");
    srv.wait_ready();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_policies_and_access_blocks_survive_a_restart() {
    let mut srv = Server::start();
    let c = srv.client();
    bucket_with(&c, "keep", &["k"]).await;
    put_policy(&c, "keep", &public_read("keep")).await;
    c.put_public_access_block()
        .bucket("keep")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .build(),
        )
        .send()
        .await
        .expect("put block");
    restart(&mut srv);
    let c = srv.client();
    assert_eq!(unsigned(srv.port, "GET", "/keep/k").status, 200);
    let got = c
        .get_bucket_policy()
        .bucket("keep")
        .send()
        .await
        .expect("policy after restart");
    assert_eq!(got.policy(), Some(public_read("keep").as_str()));
    let block = c
        .get_public_access_block()
        .bucket("keep")
        .send()
        .await
        .expect("block after restart");
    assert_eq!(
        block
            .public_access_block_configuration()
            .and_then(|b| b.block_public_acls()),
        Some(true)
    );
    // Owned by root from before, as before.
    assert_eq!(
        sdk_code(c.create_bucket().bucket("keep").send().await),
        "BucketAlreadyOwnedByYou"
    );
}
