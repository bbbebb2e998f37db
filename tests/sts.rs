//! STS AssumeRole against the real binary: aws-sdk-sts asks for temporary
//! credentials (MinIO's form: root's own, narrowed by an optional session
//! policy), aws-sdk-s3 uses them with their session token (header and
//! presigned query), and every way a token can be wrong is refused with
//! S3's code. Expiry itself is checked against the returned `Expiration`
//! here and at a fixed clock in `iam::sts`'s unit tests (no test hook in the
//! server).

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;

mod binary;
use binary::*;

/// MinIO clients send a placeholder RoleArn (the SDK requires one).
const PLACEHOLDER_ARN: &str = "arn:xxx:xxx:xxx:xxxx";
const ROOT_ARN: &str = "arn:aws:iam::000000000000:root";

fn s3(endpoint: &str, access: &str, secret: &str, token: Option<&str>) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(s3_config(endpoint, access, secret, token).build())
}

struct Temp {
    access: String,
    secret: String,
    token: String,
    expiration: SystemTime,
}

async fn assume(server: &Server, secs: Option<i32>, policy: Option<&str>) -> Temp {
    let out = sts_client(&server.endpoint(), USER, PASSWORD, None)
        .assume_role()
        .role_arn(PLACEHOLDER_ARN)
        .role_session_name("test")
        .set_duration_seconds(secs)
        .set_policy(policy.map(str::to_owned))
        .send()
        .await
        .expect("AssumeRole");
    let c = out.credentials.expect("credentials");
    Temp {
        access: c.access_key_id,
        secret: c.secret_access_key,
        token: c.session_token,
        expiration: SystemTime::try_from(c.expiration).expect("expiration"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_credentials_put_and_get_until_their_expiration() {
    let server = Server::start();
    let asked = SystemTime::now();
    let t = assume(&server, Some(900), None).await;
    assert!(
        t.access.starts_with("ASIA") && t.access.len() == 20,
        "{}",
        t.access
    );
    assert_eq!(t.secret.len(), 40);
    // 900 s from the request, with room for a slow machine.
    let lasts = t.expiration.duration_since(asked).expect("in the future");
    assert!(
        lasts > Duration::from_secs(880) && lasts < Duration::from_secs(960),
        "{lasts:?}"
    );

    let c = s3(&server.endpoint(), &t.access, &t.secret, Some(&t.token));
    c.create_bucket()
        .bucket("temp")
        .send()
        .await
        .expect("create");
    let body = data(100_000, 7);
    c.put_object()
        .bucket("temp")
        .key("k")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put with session credentials");
    assert_eq!(get_bytes(&c, "temp", "k").await, body);

    // A presigned URL carries the token as X-Amz-Security-Token.
    let presigned = c
        .get_object()
        .bucket("temp")
        .key("k")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300))
                .expect("config"),
        )
        .await
        .expect("presign");
    assert!(presigned.uri().contains("X-Amz-Security-Token="));
    let path = presigned
        .uri()
        .split_once(&format!("127.0.0.1:{}", server.port))
        .expect("our endpoint")
        .1
        .to_owned();
    let r = raw_request(
        server.port,
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            server.port
        )
        .as_bytes(),
    )
    .expect("presigned GET");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, body);

    // The session names root (MinIO's AssumeRole without a role).
    let who = sts_client(&server.endpoint(), &t.access, &t.secret, Some(&t.token))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(who.arn(), Some(ROOT_ARN));
    assert_eq!(who.account(), Some("000000000000"));
    let root = sts_client(&server.endpoint(), USER, PASSWORD, None)
        .get_caller_identity()
        .send()
        .await
        .expect("root's identity");
    assert_eq!(root.arn(), Some(ROOT_ARN));
    assert_eq!(root.user_id(), Some("000000000000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_tampered_or_borrowed_token_is_refused() {
    let server = Server::start();
    let t = assume(&server, None, None).await;
    let other = assume(&server, None, None).await;
    let ep = server.endpoint();
    let list = |c: aws_sdk_s3::Client| async move { c.list_buckets().send().await };

    assert!(list(s3(&ep, &t.access, &t.secret, Some(&t.token)))
        .await
        .is_ok());
    assert_eq!(
        code(list(s3(&ep, &t.access, &t.secret, None)).await),
        "InvalidAccessKeyId"
    );
    let mut tampered = t.token.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    assert_eq!(
        code(list(s3(&ep, &t.access, &t.secret, Some(&tampered))).await),
        "InvalidToken"
    );
    // Another session's token does not open for this key.
    assert_eq!(
        code(list(s3(&ep, &t.access, &t.secret, Some(&other.token))).await),
        "InvalidToken"
    );
    // The right token with a guessed secret.
    assert_eq!(
        code(list(s3(&ep, &t.access, "x".repeat(40).as_str(), Some(&t.token))).await),
        "SignatureDoesNotMatch"
    );
    // A token beside a long-term key.
    assert_eq!(
        code(list(s3(&ep, USER, PASSWORD, Some(&t.token))).await),
        "InvalidToken"
    );
    // 400, as S3 answers InvalidToken.
    match list(s3(&ep, &t.access, &t.secret, Some(&tampered))).await {
        Err(aws_sdk_s3::error::SdkError::ServiceError(e)) => {
            assert_eq!(e.raw().status().as_u16(), 400)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_refuses_bad_requests_with_sts_codes() {
    let server = Server::start();
    let ep = server.endpoint();
    let root = sts_client(&ep, USER, PASSWORD, None);
    let ask = || {
        root.assume_role()
            .role_arn(PLACEHOLDER_ARN)
            .role_session_name("test")
    };
    assert_eq!(
        code(ask().duration_seconds(899).send().await),
        "ValidationError"
    );
    assert_eq!(
        code(ask().duration_seconds(43_201).send().await),
        "ValidationError"
    );
    assert_eq!(
        code(ask().policy("{not json").send().await),
        "MalformedPolicyDocument"
    );
    // A role of cairn's account that does not exist: AWS's AccessDenied.
    assert_eq!(
        code(
            root.assume_role()
                .role_arn("arn:aws:iam::000000000000:role/nobody")
                .role_session_name("test")
                .send()
                .await
        ),
        "AccessDenied"
    );
    assert_eq!(
        code(
            sts_client(&ep, USER, "wrong-secret", None)
                .get_caller_identity()
                .send()
                .await
        ),
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        code(
            sts_client(&ep, "AKIANOBODY", "wrong-secret", None)
                .get_caller_identity()
                .send()
                .await
        ),
        "InvalidClientTokenId"
    );
    // Temporary credentials get no further temporary credentials.
    let t = assume(&server, None, Some(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#)).await;
    assert_eq!(
        code(
            sts_client(&ep, &t.access, &t.secret, Some(&t.token))
                .assume_role()
                .role_arn(PLACEHOLDER_ARN)
                .role_session_name("again")
                .send()
                .await
        ),
        "AccessDenied"
    );
}

/// A request signed by aws-sigv4 for `service`, as raw HTTP.
fn signed_get(port: u16, service: &str, path: &str) -> RawResponse {
    use aws_sigv4::http_request::{
        sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
    };
    let identity = aws_credential_types::Credentials::new(USER, PASSWORD, None, None, "t").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let host = format!("127.0.0.1:{port}");
    let uri = format!("http://{host}{path}");
    let signable = SignableRequest::new(
        "GET",
        &uri,
        [("host", host.as_str())].into_iter(),
        SignableBody::Bytes(b""),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut req = http::Request::builder()
        .method("GET")
        .uri(&uri)
        .header("host", &host)
        .body(())
        .expect("request");
    instructions.apply_to_request_http1x(&mut req);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().expect("ascii").to_owned()))
        .collect();
    raw_request(port, &request_bytes("GET", path, &headers, b"")).expect("raw")
}

#[test]
fn a_signature_for_sts_does_not_serve_s3() {
    let server = Server::start();
    let ok = signed_get(server.port, "s3", "/");
    assert_eq!(ok.status, 200);
    let r = signed_get(server.port, "sts", "/");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "AuthorizationHeaderMalformed")
    );
    let r = signed_get(server.port, "iam", "/");
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "AuthorizationHeaderMalformed")
    );
}

fn v2_signature(secret: &str, string_to_sign: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv2_requests_carry_the_token_in_a_header_or_the_query() {
    let server = Server::start();
    let root = server.client();
    root.create_bucket()
        .bucket("sigv2")
        .send()
        .await
        .expect("create");
    root.put_object()
        .bucket("sigv2")
        .key("k")
        .body(ByteStream::from_static(b"hello v2"))
        .send()
        .await
        .expect("put");
    let t = assume(&server, None, None).await;
    let port = server.port;
    let header_get = |token: &str| {
        let date = httpdate::fmt_http_date(SystemTime::now());
        let sts = format!("GET\n\n\n{date}\nx-amz-security-token:{token}\n/sigv2/k");
        let sig = v2_signature(&t.secret, &sts);
        raw_request(
            port,
            format!(
                "GET /sigv2/k HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nDate: {date}\r\nx-amz-security-token: {token}\r\nAuthorization: AWS {}:{sig}\r\nConnection: close\r\n\r\n",
                t.access
            )
            .as_bytes(),
        )
        .expect("v2 GET")
    };
    let r = header_get(&t.token);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello v2"[..]));
    let r = header_get(&format!("{}x", t.token));
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidToken"));

    let expires = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 300;
    let sts = format!(
        "GET\n\n\n{expires}\nx-amz-security-token:{}\n/sigv2/k",
        t.token
    );
    let sig = url_encode(&v2_signature(&t.secret, &sts));
    let presigned = |token: &str| {
        raw_request(
            port,
            format!(
                "GET /sigv2/k?AWSAccessKeyId={}&Expires={expires}&Signature={sig}&x-amz-security-token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
                t.access
            )
            .as_bytes(),
        )
        .expect("v2 presigned GET")
    };
    let r = presigned(&t.token);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello v2"[..]));
    // Without the token the key means nothing.
    let r = raw_request(
        port,
        format!(
            "GET /sigv2/k?AWSAccessKeyId={}&Expires={expires}&Signature={sig} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n",
            t.access
        )
        .as_bytes(),
    )
    .expect("no token");
    assert_eq!((r.status, r.code().as_str()), (403, "InvalidAccessKeyId"));
}
