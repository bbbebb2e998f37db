//! Bucket CORS against the real binary: Put/Get/DeleteBucketCors with
//! aws-sdk-s3 (shapes, errors, survives a restart), the unauthenticated
//! `OPTIONS` preflight (allowed, refused, no configuration, missing
//! headers), and the CORS headers on a signed GET, on its 404 and their
//! absence without `Origin` or without a matching rule.

use std::time::SystemTime;

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use aws_sdk_s3::Client;
use base64::Engine as _;
use md5::Digest as _;

mod binary;
use binary::*;

fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
    let mut b = CorsRule::builder();
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    for h in headers {
        b = b.allowed_headers(*h);
    }
    b.build().expect("rule")
}

async fn put_cors(c: &Client, bucket: &str, rules: Vec<CorsRule>) -> Result<(), String> {
    c.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(
            CorsConfiguration::builder()
                .set_cors_rules(Some(rules))
                .build()
                .expect("configuration"),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(Err::<(), _>(e)))
}

/// The app's rules: its origin may PUT and GET with any header and reads
/// ETag; anyone may GET.
fn app_rules() -> Vec<CorsRule> {
    vec![
        CorsRule::builder()
            .id("app")
            .allowed_origins("http://*.app.test")
            .allowed_methods("PUT")
            .allowed_methods("GET")
            .allowed_headers("*")
            .expose_headers("ETag")
            .max_age_seconds(600)
            .build()
            .expect("rule"),
        rule(&["*"], &["GET"], &[]),
    ]
}

/// A request sent without credentials.
fn unsigned(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut h = vec![("Host".to_owned(), format!("127.0.0.1:{port}"))];
    h.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    raw_request(port, &request_bytes(method, path, &h, b"")).expect("raw request")
}

/// A request signed as the test user, with `headers` (signed too).
fn signed(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let s = sign(
        port,
        method,
        path,
        headers,
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        SystemTime::now(),
    );
    raw_request(port, &request_bytes(method, path, &s.headers, body)).expect("raw request")
}

fn raw_put_cors(port: u16, bucket: &str, body: &str) -> RawResponse {
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
    let len = body.len().to_string();
    signed(
        port,
        "PUT",
        &format!("/{bucket}?cors"),
        &[("content-length", &len), ("content-md5", &md5)],
        body.as_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_configuration_round_trips_is_refused_when_bad_and_survives_restart() {
    let mut srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("web")
        .send()
        .await
        .expect("create");

    let none = c.get_bucket_cors().bucket("web").send().await;
    assert_eq!(code(none), "NoSuchCORSConfiguration");
    // Deleting what is not there is 204, as on S3.
    c.delete_bucket_cors()
        .bucket("web")
        .send()
        .await
        .expect("delete of none");

    put_cors(&c, "web", app_rules()).await.expect("put");
    let got = c.get_bucket_cors().bucket("web").send().await.expect("get");
    assert_eq!(got.cors_rules(), app_rules().as_slice());

    srv.restart();
    let c = srv.client();
    let got = c.get_bucket_cors().bucket("web").send().await.expect("get");
    assert_eq!(got.cors_rules(), app_rules().as_slice(), "after a restart");

    // Bad configurations: the stored one stays.
    assert_eq!(
        put_cors(&c, "web", vec![rule(&["*"], &["PATCH"], &[])]).await,
        Err("InvalidRequest".into())
    );
    assert_eq!(
        put_cors(&c, "web", vec![rule(&["http://*.*.test"], &["GET"], &[])]).await,
        Err("InvalidRequest".into())
    );
    assert_eq!(
        put_cors(&c, "web", vec![rule(&["*"], &["GET"], &["x-*-*"])]).await,
        Err("InvalidRequest".into())
    );
    assert_eq!(
        put_cors(&c, "web", vec![rule(&["*"], &["GET"], &[]); 101]).await,
        Err("MalformedXML".into())
    );
    let no_method = raw_put_cors(
        srv.port,
        "web",
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
    );
    assert_eq!(
        (no_method.status, no_method.code().as_str()),
        (400, "MalformedXML")
    );
    let no_origin = raw_put_cors(
        srv.port,
        "web",
        "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
    );
    assert_eq!(
        (no_origin.status, no_origin.code().as_str()),
        (400, "MalformedXML")
    );
    // S3 requires Content-MD5 (or a checksum) on this body.
    let body = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>";
    let len = body.len().to_string();
    let no_md5 = signed(
        srv.port,
        "PUT",
        "/web?cors",
        &[("content-length", &len)],
        body.as_bytes(),
    );
    assert_eq!(
        (no_md5.status, no_md5.code().as_str()),
        (400, "InvalidRequest")
    );
    let got = c.get_bucket_cors().bucket("web").send().await.expect("get");
    assert_eq!(got.cors_rules(), app_rules().as_slice(), "unchanged");

    c.delete_bucket_cors()
        .bucket("web")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        code(c.get_bucket_cors().bucket("web").send().await),
        "NoSuchCORSConfiguration"
    );
    assert_eq!(
        code(c.get_bucket_cors().bucket("nowhere").send().await),
        "NoSuchBucket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_is_answered_from_the_rules_without_credentials() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("web")
        .send()
        .await
        .expect("create");
    let p = srv.port;

    // No configuration yet.
    let r = unsigned(
        p,
        "OPTIONS",
        "/web/k",
        &[
            ("Origin", "http://a.app.test"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!((r.status, r.code().as_str()), (403, "AccessForbidden"));
    assert!(r.header("access-control-allow-origin").is_none());

    put_cors(&c, "web", app_rules()).await.expect("put");

    // Allowed by the first rule: the origin echoed, with credentials.
    let r = unsigned(
        p,
        "OPTIONS",
        "/web/dir/k",
        &[
            ("Origin", "http://a.app.test"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type, X-Amz-Date"),
        ],
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.app.test")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("PUT, GET"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, X-Amz-Date")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("vary"),
        Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
    );

    // On the bucket itself too; the catch-all rule answers `*`.
    let r = unsigned(
        p,
        "OPTIONS",
        "/web",
        &[
            ("Origin", "http://elsewhere.org"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);

    // Refused: a method no rule allows that origin, a header the catch-all
    // does not allow.
    for (origin, method, headers) in [
        ("http://elsewhere.org", "PUT", ""),
        ("http://elsewhere.org", "GET", "x-amz-date"),
        ("http://a.app.test", "DELETE", ""),
    ] {
        let r = unsigned(
            p,
            "OPTIONS",
            "/web/k",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", method),
                ("Access-Control-Request-Headers", headers),
            ],
        );
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessForbidden"),
            "{origin} {method}"
        );
        assert!(String::from_utf8_lossy(&r.body)
            .contains("CORSResponse: This CORS request is not allowed."));
    }

    // Origin and Access-Control-Request-Method are required.
    let r = unsigned(
        p,
        "OPTIONS",
        "/web/k",
        &[("Access-Control-Request-Method", "GET")],
    );
    assert_eq!((r.status, r.code().as_str()), (400, "BadRequest"));
    let r = unsigned(p, "OPTIONS", "/web/k", &[("Origin", "http://a.app.test")]);
    assert_eq!((r.status, r.code().as_str()), (400, "BadRequest"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_origin_gets_cors_headers_on_success_and_on_error() {
    let srv = Server::start();
    let c = srv.client();
    for b in ["web", "closed"] {
        c.create_bucket().bucket(b).send().await.expect("create");
        c.put_object()
            .bucket(b)
            .key("k")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hello"))
            .send()
            .await
            .expect("put");
    }
    put_cors(&c, "web", app_rules()).await.expect("put");
    let p = srv.port;
    let origin = [("origin", "http://a.app.test")];

    let r = signed(p, "GET", "/web/k", &origin, b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.app.test")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));
    // The rule's methods and max age, as S3 sends on an actual request too.
    assert_eq!(r.header("access-control-allow-methods"), Some("PUT, GET"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(
        r.header("vary"),
        Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
    );

    // A 404 carries them too, so the page can read S3's error.
    let r = signed(p, "GET", "/web/missing", &origin, b"");
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.app.test")
    );
    assert_eq!(
        r.header("vary"),
        Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
    );

    // So does a refused signature.
    let r = unsigned(p, "GET", "/web/k", &[("Origin", "http://other.org")]);
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    // None without Origin, for an origin and method no rule allows, or on
    // a bucket without rules.
    let r = signed(p, "GET", "/web/k", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("vary").is_none());
    let r = signed(p, "DELETE", "/web/missing", &origin, b"");
    assert_eq!(r.status, 204);
    assert!(r.header("access-control-allow-origin").is_none());
    let r = signed(p, "GET", "/closed/k", &origin, b"");
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
}
