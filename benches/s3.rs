//! The S3 front end's pure kernels per request: SigV4 verification of a
//! header-signed request (signing key cached, as on a warm core), SigV2
//! verification of the same request signed as boto3's `s3` signer does, the
//! rate limiter's token take, the count of requests started and in flight
//! that background work reads (`engine/clients.rs`), and the XML of a
//! 1,000-key ListObjectsV2 page.

use std::time::{Duration, SystemTime};

use cairn::auth::sigv2;
use cairn::auth::sigv4::{verify, Credentials, RequestParts, SigningKeyCache};
use cairn::engine::clients::{ClientLoad, CoreClients};
use cairn::http::ratelimit::{Rate, RateLimits};
use cairn::s3::xml::{list_objects_v2, ListEntry, ListOwner, ListV2Response};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::HeaderMap;

const ACCESS: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A GET as the aws CLI signs it, with the headers it sends.
fn signed_get(now: SystemTime) -> (HeaderMap, String, String) {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity =
        aws_credential_types::Credentials::new(ACCESS, SECRET, None, None, "bench").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let path = "/photos/2026/11/22/IMG_0001.jpg";
    let query = "partNumber=1&versionId=null";
    let uri = format!("http://127.0.0.1:9000{path}?{query}");
    let unsigned = "UNSIGNED-PAYLOAD".to_string();
    let headers = [
        ("host", "127.0.0.1:9000"),
        (
            "user-agent",
            "aws-cli/2.22.0 md/Botocore#1.35.0 ua/2.1 os/linux",
        ),
        ("x-amz-content-sha256", unsigned.as_str()),
        ("accept-encoding", "identity"),
        ("range", "bytes=0-1048575"),
    ];
    let signable = SignableRequest::new(
        "GET",
        &uri,
        headers.iter().copied(),
        SignableBody::Precomputed(unsigned.clone()),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut req = http::Request::builder().method("GET").uri(&uri);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut req = req.body(()).expect("request");
    instructions.apply_to_request_http1x(&mut req);
    (req.headers().clone(), path.to_owned(), query.to_owned())
}

fn sigv4(c: &mut Criterion) {
    let now = SystemTime::now();
    let (headers, path, query) = signed_get(now);
    let creds = Credentials {
        access_key: ACCESS.into(),
        secret_key: SECRET.into(),
    };
    let mut cache = SigningKeyCache::new(16);
    let req = RequestParts {
        method: "GET",
        raw_path: &path,
        raw_query: &query,
        headers: &headers,
    };
    verify(&req, now, &creds, &mut cache).expect("the signature verifies");
    let mut group = c.benchmark_group("sigv4");
    group.throughput(Throughput::Elements(1));
    group.bench_function("header_get_cached_key", |b| {
        b.iter(|| verify(&req, now, &creds, &mut cache).expect("verifies"))
    });
    group.finish();
}

fn sigv2(c: &mut Criterion) {
    let now = SystemTime::now();
    let creds = Credentials {
        access_key: ACCESS.into(),
        secret_key: SECRET.into(),
    };
    let date = httpdate::fmt_http_date(now);
    let path = "/bench/photos/2026/11/22/IMG_0001.jpg";
    let query = "partNumber=1&versionId=null";
    let mut headers = HeaderMap::new();
    for (k, v) in [
        ("host", "127.0.0.1:9000"),
        (
            "user-agent",
            "Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 os/linux",
        ),
        ("accept-encoding", "identity"),
        ("range", "bytes=0-1048575"),
        ("date", date.as_str()),
    ] {
        headers.insert(k, v.parse().expect("header"));
    }
    let sts = format!("GET\n\n\n{date}\n{path}?partNumber=1&versionId=null");
    let auth = format!("AWS {ACCESS}:{}", sigv2::sign(SECRET, sts.as_bytes()));
    headers.insert("authorization", auth.parse().expect("header"));
    let req = RequestParts {
        method: "GET",
        raw_path: path,
        raw_query: query,
        headers: &headers,
    };
    sigv2::verify(&req, None, now, &creds).expect("the signature verifies");
    let mut group = c.benchmark_group("sigv2");
    group.throughput(Throughput::Elements(1));
    group.bench_function("header_get", |b| {
        b.iter(|| sigv2::verify(&req, None, now, &creds).expect("verifies"))
    });
    group.finish();
}

fn rate_limit(c: &mut Criterion) {
    // Limits high enough never to refuse: the cost of an admitted request.
    let rate = Rate {
        per_sec: 1e6,
        burst: 1_000_000,
    };
    let limits = RateLimits::new(Some(rate), Some(rate));
    // Enough clients that none outruns its 1 µs interval between visits.
    let ips: Vec<std::net::IpAddr> = (0..4096u32)
        .map(|i| std::net::Ipv4Addr::from(0x0a00_0000 + i).into())
        .collect();
    let keys: Vec<String> = (0..4096).map(|i| format!("AKID{i:016}")).collect();
    let mut group = c.benchmark_group("ratelimit");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("ip_and_key_admitted", |b| {
        b.iter(|| {
            i = (i + 1) % ips.len();
            limits.check_ip(ips[i]).expect("admitted");
            limits.check_key(&keys[i]).expect("admitted");
        })
    });
    let off = RateLimits::new(None, None);
    group.bench_function("off", |b| {
        b.iter(|| {
            off.check_ip(ips[0]).expect("admitted");
            off.check_key(ACCESS).expect("admitted");
        })
    });
    group.finish();
}

fn client_counting(c: &mut Criterion) {
    let clients = CoreClients::new(std::sync::Arc::new(ClientLoad::new(2)), 1);
    let mut group = c.benchmark_group("clients");
    group.throughput(Throughput::Elements(1));
    group.bench_function("request_counted", |b| {
        b.iter(|| drop(std::hint::black_box(clients.begin())))
    });
    group.finish();
}

fn list_xml(c: &mut Criterion) {
    let contents: Vec<ListEntry> = (0..1000)
        .map(|i| ListEntry {
            key: format!("logs/2026/11/22/host-{:03}/part-{i:05}.json.gz", i % 37),
            last_modified_ms: 1_795_000_000_000 + i,
            etag: format!("{:032x}", i * 7919),
            size: 4096 + i,
            class: None,
            metadata: None,
        })
        .collect();
    let r = ListV2Response {
        name: "logs".into(),
        prefix: "logs/".into(),
        max_keys: 1000,
        is_truncated: true,
        next_continuation_token: Some("bG9ncy8yMDI2".into()),
        owner: ListOwner {
            id: "0".repeat(64),
            display_name: "cairn".into(),
        },
        contents,
        ..Default::default()
    };
    let mut group = c.benchmark_group("xml");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("list_objects_v2_1000_keys", |b| {
        b.iter(|| list_objects_v2(&r).len())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = sigv4, sigv2, rate_limit, client_counting, list_xml
}
criterion_main!(benches);
