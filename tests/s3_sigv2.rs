//! AWS Signature Version 2 against the real binary: requests signed by hand
//! here (HMAC-SHA1 over AWS's StringToSign, independent of the server's
//! code) in the Authorization header and as presigned URLs, path-style and
//! virtual-hosted; refusals carry S3's codes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::Digest as _;

mod binary;
use binary::*;

fn v2_signature(secret: &str, string_to_sign: &str) -> String {
    let mut m = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A request with an `Authorization: AWS` header. `resource` is what is
/// signed as the CanonicalizedResource; `headers` are sent and, for
/// Content-MD5, Content-Type and x-amz-*, signed.
struct V2 {
    method: &'static str,
    target: String,
    resource: String,
    headers: Vec<(String, String)>,
    date: SystemTime,
    access_key: String,
    secret: String,
}

impl V2 {
    fn new(method: &'static str, target: &str) -> V2 {
        let resource = target.split('?').next().unwrap_or(target).to_owned();
        V2 {
            method,
            target: target.to_owned(),
            resource,
            headers: Vec::new(),
            date: SystemTime::now(),
            access_key: USER.into(),
            secret: PASSWORD.into(),
        }
    }

    fn header(mut self, k: &str, v: &str) -> V2 {
        self.headers.push((k.into(), v.into()));
        self
    }

    fn string_to_sign(&self) -> String {
        let get = |name: &str| {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map_or("", |(_, v)| v.as_str())
        };
        let mut amz: Vec<(String, &str)> = self
            .headers
            .iter()
            .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-amz-"))
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        amz.sort();
        let amz: String = amz.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        format!(
            "{}\n{}\n{}\n{}\n{amz}{}",
            self.method,
            get("content-md5"),
            get("content-type"),
            httpdate::fmt_http_date(self.date),
            self.resource
        )
    }

    fn send(&self, port: u16, host: &str, body: &[u8]) -> RawResponse {
        let sig = v2_signature(&self.secret, &self.string_to_sign());
        let mut h = self.headers.clone();
        h.push(("Host".into(), host.into()));
        h.push(("Date".into(), httpdate::fmt_http_date(self.date)));
        h.push(("Content-Length".into(), body.len().to_string()));
        h.push((
            "Authorization".into(),
            format!("AWS {}:{sig}", self.access_key),
        ));
        raw_request(port, &request_bytes(self.method, &self.target, &h, body)).expect("request")
    }
}

/// A presigned (query-string) URL path for GET `path`, valid until `expires`.
fn presigned_get(path: &str, expires: u64, secret: &str) -> String {
    let sig = v2_signature(secret, &format!("GET\n\n\n{expires}\n{path}"));
    format!(
        "{path}?AWSAccessKeyId={USER}&Expires={expires}&Signature={}",
        url_encode(&sig)
    )
}

fn get_plain(port: u16, target: &str) -> RawResponse {
    let req =
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    raw_request(port, req.as_bytes()).expect("request")
}

fn message(r: &RawResponse) -> String {
    let b = String::from_utf8_lossy(&r.body);
    b.split("<Message>")
        .nth(1)
        .and_then(|s| s.split("</Message>").next())
        .unwrap_or("")
        .to_owned()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn sigv2_header_put_and_get_and_presigned_get_work_and_bad_ones_are_refused() {
    let srv = Server::start();
    let port = srv.port;
    let host = format!("127.0.0.1:{port}");
    let c = srv.client();
    c.create_bucket()
        .bucket("sigv2")
        .send()
        .await
        .expect("create");

    let body = data(10_000, 7);
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
    let put = V2::new("PUT", "/sigv2/dir/k%20one")
        .header("Content-Type", "text/plain")
        .header("Content-MD5", &md5)
        .header("x-amz-meta-colour", "blue")
        .send(port, &host, &body);
    assert_eq!(put.status, 200, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(
        put.header("etag"),
        Some(format!("\"{}\"", md5_hex(&body)).as_str())
    );

    // What the V2 PUT stored, read back with SigV4 by the SDK.
    let o = c
        .head_object()
        .bucket("sigv2")
        .key("dir/k one")
        .send()
        .await
        .expect("head");
    assert_eq!(o.content_type(), Some("text/plain"));
    assert_eq!(
        o.metadata()
            .and_then(|m| m.get("colour"))
            .map(String::as_str),
        Some("blue")
    );
    assert_eq!(get_bytes(&c, "sigv2", "dir/k one").await, body);

    let got = V2::new("GET", "/sigv2/dir/k%20one").send(port, &host, b"");
    assert_eq!(got.status, 200);
    assert_eq!(got.body, body);
    // Sub-resources are signed: a listing of versions with its `versions`.
    let mut list = V2::new("GET", "/sigv2?versions&prefix=dir/");
    list.resource = "/sigv2?versions".into();
    let list = list.send(port, &host, b"");
    assert_eq!(list.status, 200, "{}", String::from_utf8_lossy(&list.body));
    let mut unsigned_sub = V2::new("GET", "/sigv2?versions");
    unsigned_sub.resource = "/sigv2".into();
    assert_eq!(
        unsigned_sub.send(port, &host, b"").code(),
        "SignatureDoesNotMatch"
    );

    let url = presigned_get("/sigv2/dir/k%20one", now_secs() + 300, PASSWORD);
    let r = get_plain(port, &url);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);

    // Refusals, each with S3's code and an XML body with a request id.
    let expired = get_plain(
        port,
        &presigned_get("/sigv2/dir/k%20one", now_secs() - 1, PASSWORD),
    );
    assert_eq!(
        (expired.status, expired.code()),
        (403, "AccessDenied".into())
    );
    assert_eq!(message(&expired), "Request has expired");
    let forged = get_plain(
        port,
        &presigned_get("/sigv2/dir/k%20one", now_secs() + 300, "guess"),
    );
    assert_eq!(
        (forged.status, forged.code()),
        (403, "SignatureDoesNotMatch".into())
    );
    assert!(String::from_utf8_lossy(&forged.body).contains("<RequestId>"));

    let mut wrong = V2::new("GET", "/sigv2/dir/k%20one");
    wrong.secret = "guess".into();
    let r = wrong.send(port, &host, b"");
    assert_eq!((r.status, r.code()), (403, "SignatureDoesNotMatch".into()));
    let mut unknown = V2::new("GET", "/sigv2/dir/k%20one");
    unknown.access_key = "nobody".into();
    assert_eq!(unknown.send(port, &host, b"").code(), "InvalidAccessKeyId");
    let mut skewed = V2::new("GET", "/sigv2/dir/k%20one");
    skewed.date = SystemTime::now() - Duration::from_secs(16 * 60);
    let r = skewed.send(port, &host, b"");
    assert_eq!((r.status, r.code()), (403, "RequestTimeTooSkewed".into()));
    // Signed for another key: the path is covered.
    let mut moved = V2::new("GET", "/sigv2/dir/k%20one");
    moved.resource = "/sigv2/other".into();
    assert_eq!(moved.send(port, &host, b"").code(), "SignatureDoesNotMatch");

    // The body is not signed, but a Content-MD5 sent is still checked.
    let bad_md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b"other"));
    let r = V2::new("PUT", "/sigv2/k2")
        .header("Content-MD5", &bad_md5)
        .send(port, &host, b"payload");
    assert_eq!((r.status, r.code()), (400, "BadDigest".into()));
    assert_eq!(
        code(c.head_object().bucket("sigv2").key("k2").send().await),
        "NotFound"
    );
}

#[test]
fn sigv2_signs_the_bucket_of_a_virtual_hosted_request() {
    let srv = Server::start_with(&["--domain", "s3.test"]);
    let port = srv.port;
    let mk = V2::new("PUT", "/vhost").send(port, "s3.test", b"");
    assert_eq!(mk.status, 200, "{}", String::from_utf8_lossy(&mk.body));

    let mut put = V2::new("PUT", "/k");
    put.resource = "/vhost/k".into();
    let r = put.send(port, &format!("vhost.s3.test:{port}"), b"hello");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let got = V2::new("GET", "/vhost/k").send(port, "s3.test", b"");
    assert_eq!(got.body, b"hello");

    // Signed without the bucket, as if the Host named none: refused.
    let r = V2::new("GET", "/k").send(port, "vhost.s3.test", b"");
    assert_eq!(r.code(), "SignatureDoesNotMatch");

    let url = presigned_get("/vhost/k", now_secs() + 60, PASSWORD);
    let path_only = url.replacen("/vhost/k", "/k", 1);
    let req =
        format!("GET {path_only} HTTP/1.1\r\nHost: vhost.s3.test\r\nConnection: close\r\n\r\n");
    let r = raw_request(port, req.as_bytes()).expect("request");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
}
