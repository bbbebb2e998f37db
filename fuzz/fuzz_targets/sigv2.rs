//! SigV2 verification against a reference StringToSign written in this
//! file from AWS's "Signing and authenticating REST requests". `verify`
//! must accept exactly the requests whose signature is the reference
//! signature of the request as sent (under one of the readings it
//! documents accepting: AWS's, MinIO's Date line, botocore's `/bucket/`);
//! an `Ok` for any other signature, or `SignatureDoesNotMatch` for one of
//! those, is a bug. Fully fuzzed Authorization headers, dates and query
//! strings must never verify, and nothing may panic.
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use cairn::auth::sigv2::{detect, sign, verify, SUB_RESOURCES};
use cairn::auth::sigv4::{format_amz_date, AuthError, AuthKind, Credentials, RequestParts};
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::HeaderMap;
use libfuzzer_sys::fuzz_target;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2000-01-01T00:00:00Z; request times are this plus a u32.
const BASE_TIME: i64 = 946_684_800;

#[derive(Arbitrary, Debug)]
struct Input {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    vhost: Option<String>,
    auth: Auth,
}

#[derive(Arbitrary, Debug)]
enum Auth {
    /// Every auth input from the fuzzer: must never verify.
    Raw {
        authorization: Option<String>,
        date: Option<String>,
        amz_date: Option<String>,
        now: u32,
    },
    Header {
        signed: Signed,
        /// 0: Date with GMT, 1: Date with +0000, 2: x-amz-date (HTTP
        /// date) beside Date, 3: x-amz-date in SigV4's form.
        date_style: u8,
    },
    Presigned {
        signed: Signed,
        expires_in: i16,
    },
}

#[derive(Arbitrary, Debug)]
struct Signed {
    time: u32,
    /// Seconds between the request time and `now`.
    skew: i16,
    unknown_key: bool,
    tamper: Option<Tamper>,
}

#[derive(Arbitrary, Debug)]
enum Tamper {
    SignatureChar(u8),
    Method,
    Path,
    SubResource(u8),
    AmzHeader(String),
    OtherSecret,
}

fn header_ok(name: &str) -> bool {
    !matches!(
        name.to_ascii_lowercase().as_str(),
        "authorization" | "date" | "x-amz-date" | "x-amz-content-sha256"
    )
}

fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn pairs(q: &str) -> impl Iterator<Item = (&str, &str)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// A query parameter's name as the verifier reads it: `+` is a space
/// (values keep theirs).
fn decode_name(k: &str) -> Vec<u8> {
    decode(k).into_iter().map(|b| if b == b'+' { b' ' } else { b }).collect()
}

/// Query parameter names that make a request presigned (or refuse it).
fn is_auth_param(k: &[u8]) -> bool {
    matches!(
        k,
        b"AWSAccessKeyId"
            | b"Signature"
            | b"Expires"
            | b"X-Amz-Algorithm"
            | b"X-Amz-Credential"
            | b"X-Amz-Signature"
    )
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v.iter().position(|b| *b != b' ' && *b != b'\t').unwrap_or(v.len());
    let e = v.iter().rposition(|b| *b != b' ' && *b != b'\t').map_or(s, |i| i + 1);
    &v[s..e]
}

/// The reference StringToSign, from AWS's documentation.
fn reference(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    vhost: Option<&str>,
    date_line: &[u8],
    presigned: bool,
    bucket_slash: bool,
) -> Vec<u8> {
    let mut s = method.as_bytes().to_vec();
    s.push(b'\n');
    for name in ["content-md5", "content-type"] {
        if let Some(v) = headers.get(name) {
            s.extend_from_slice(trim(v.as_bytes()));
        } else if presigned {
            if let Some((_, v)) = pairs(query).find(|(k, _)| decode_name(k).eq_ignore_ascii_case(name.as_bytes())) {
                s.extend_from_slice(trim(&decode(v)));
            }
        }
        s.push(b'\n');
    }
    s.extend_from_slice(date_line);
    s.push(b'\n');
    let mut amz: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
    for (k, v) in headers {
        if k.as_str().starts_with("x-amz-") {
            amz.entry(k.as_str().as_bytes().to_vec())
                .or_default()
                .push(trim(v.as_bytes()).to_vec());
        }
    }
    if presigned {
        for (k, v) in pairs(query) {
            let k = decode_name(k).to_ascii_lowercase();
            if k.starts_with(b"x-amz-") {
                amz.entry(k).or_default().push(trim(&decode(v)).to_vec());
            }
        }
    }
    for (k, vs) in amz {
        s.extend_from_slice(&k);
        s.push(b':');
        s.extend_from_slice(&vs.join(&b',')[..]);
        s.push(b'\n');
    }
    if let Some(b) = vhost {
        s.push(b'/');
        s.extend_from_slice(b.as_bytes());
    }
    s.extend_from_slice(if path.is_empty() { "/" } else { path }.as_bytes());
    if bucket_slash {
        s.push(b'/');
    }
    let mut subs: Vec<(Vec<u8>, Vec<u8>)> = pairs(query)
        .map(|(k, v)| (decode_name(k), decode(v)))
        .filter(|(k, _)| SUB_RESOURCES.iter().any(|s| s.as_bytes() == k.as_slice()))
        .collect();
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in subs.iter().enumerate() {
        s.push(if i == 0 { b'?' } else { b'&' });
        s.extend_from_slice(k);
        if !v.is_empty() {
            s.push(b'=');
            s.extend_from_slice(v);
        }
    }
    s
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn http_date(t: i64, zone: &str) -> String {
    let ms = u64::try_from(t).unwrap_or(0) * 1000;
    let d = cairn::s3::xml::http_date(ms);
    format!("{} {zone}", d.trim_end_matches(" GMT"))
}

fuzz_target!(|input: Input| {
    let creds = Credentials {
        access_key: AK.into(),
        secret_key: SECRET.into(),
    };
    let Input {
        mut method,
        mut path,
        mut query,
        headers: fuzzed,
        vhost,
        auth,
    } = input;
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        method = "GET".into();
    }
    let vhost = vhost.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_lowercase() || b == b'.'));
    let mut headers = HeaderMap::new();
    let raw = matches!(auth, Auth::Raw { .. });
    for (k, v) in fuzzed.iter().take(16) {
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_bytes(v)) else {
            continue;
        };
        if raw || header_ok(k) {
            headers.append(name, value);
        }
    }

    match auth {
        Auth::Raw {
            authorization,
            date,
            amz_date,
            now,
        } => {
            for (name, v) in [("authorization", authorization), ("date", date), ("x-amz-date", amz_date)] {
                if let Some(v) = v.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    headers.insert(name, v);
                }
            }
            let req = RequestParts { method: &method, raw_path: &path, raw_query: &query, headers: &headers };
            let now = UNIX_EPOCH + Duration::from_secs(u64::from(now));
            let r = verify(&req, vhost.as_deref(), now, &creds);
            assert!(r.is_err(), "an unsigned request verified: {r:?}");
            let auth_v2 = headers.get(AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS "));
            assert_eq!(detect(&headers, &query) == Some(AuthKind::Header), auth_v2);
        }
        Auth::Header { signed, date_style } => {
            query = pairs(&query)
                .filter(|(k, _)| !is_auth_param(&decode_name(k)))
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            let t = BASE_TIME + i64::from(signed.time);
            let (date, amz) = match date_style % 4 {
                0 => (Some(http_date(t, "GMT")), None),
                1 => (Some(http_date(t, "+0000")), None),
                2 => (Some(http_date(t + 7, "GMT")), Some(http_date(t, "GMT"))),
                _ => (None, Some(format_amz_date(t))),
            };
            if let Some(d) = &date {
                headers.insert("date", HeaderValue::from_str(d).expect("date"));
            }
            if let Some(a) = &amz {
                headers.insert("x-amz-date", HeaderValue::from_str(a).expect("date"));
            }
            let line = if amz.is_some() { String::new() } else { date.clone().unwrap_or_default() };
            let sts = reference(&method, &path, &query, &headers, vhost.as_deref(), line.as_bytes(), false, false);
            let secret = if matches!(signed.tamper, Some(Tamper::OtherSecret)) { "other" } else { SECRET };
            let mut sig = sign(secret, &sts);
            let ak = if signed.unknown_key { "UNKNOWN" } else { AK };
            apply_tamper(&signed.tamper, &mut sig, &mut method, &mut path, &mut query, &mut headers);
            headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("AWS {ak}:{sig}")).expect("auth"));
            let now = t + i64::from(signed.skew);
            let req = RequestParts { method: &method, raw_path: &path, raw_query: &query, headers: &headers };
            let r = verify(&req, vhost.as_deref(), UNIX_EPOCH + Duration::from_secs(now.max(0) as u64), &creds);
            // Every reading accepted, of the request as now sent.
            let mut lines = vec![line.clone()];
            if let (Some(d), Some(_)) = (&date, &amz) {
                lines.push(d.clone());
            }
            let bucket_only = vhost.is_none() && path.len() > 1 && path.starts_with('/') && !path[1..].contains('/');
            let matches = lines.iter().any(|l| {
                [false, true].iter().filter(|&&s| !s || bucket_only).any(|&s| {
                    sign(SECRET, &reference(&method, &path, &query, &headers, vhost.as_deref(), l.as_bytes(), false, s)) == sig
                })
            });
            check(r, matches, signed.unknown_key, i64::from(signed.skew).abs() <= 900);
        }
        Auth::Presigned { signed, expires_in } => {
            query = pairs(&query)
                .filter(|(k, _)| !is_auth_param(&decode_name(k)))
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            let t = BASE_TIME + i64::from(signed.time);
            let expires = (t + i64::from(expires_in)).max(0).to_string();
            let sts = reference(&method, &path, &query, &headers, vhost.as_deref(), expires.as_bytes(), true, false);
            let secret = if matches!(signed.tamper, Some(Tamper::OtherSecret)) { "other" } else { SECRET };
            let mut sig = sign(secret, &sts);
            let ak = if signed.unknown_key { "UNKNOWN" } else { AK };
            apply_tamper(&signed.tamper, &mut sig, &mut method, &mut path, &mut query, &mut headers);
            let auth = format!("AWSAccessKeyId={ak}&Expires={expires}&Signature={}", enc(&sig));
            query = if query.is_empty() { auth } else { format!("{query}&{auth}") };
            let req = RequestParts { method: &method, raw_path: &path, raw_query: &query, headers: &headers };
            let now = t;
            let r = verify(&req, vhost.as_deref(), UNIX_EPOCH + Duration::from_secs(now as u64), &creds);
            let bucket_only = vhost.is_none() && path.len() > 1 && path.starts_with('/') && !path[1..].contains('/');
            let matches = [false, true].iter().filter(|&&s| !s || bucket_only).any(|&s| {
                sign(SECRET, &reference(&method, &path, &query, &headers, vhost.as_deref(), expires.as_bytes(), true, s)) == sig
            });
            let in_time = now <= expires.parse::<i64>().unwrap_or(0);
            check(r, matches, signed.unknown_key, in_time);
        }
    }
});

fn apply_tamper(
    tamper: &Option<Tamper>,
    sig: &mut String,
    method: &mut String,
    path: &mut String,
    query: &mut String,
    headers: &mut HeaderMap,
) {
    match tamper {
        Some(Tamper::SignatureChar(i)) => {
            let i = usize::from(*i) % sig.len();
            let c = if sig.as_bytes()[i] == b'A' { "B" } else { "A" };
            sig.replace_range(i..=i, c);
        }
        Some(Tamper::Method) => method.push('X'),
        Some(Tamper::Path) => path.push('x'),
        Some(Tamper::SubResource(i)) => {
            let sub = SUB_RESOURCES[usize::from(*i) % SUB_RESOURCES.len()];
            *query = if query.is_empty() { sub.into() } else { format!("{query}&{sub}") };
        }
        Some(Tamper::AmzHeader(v)) => {
            if let Ok(v) = HeaderValue::from_str(v) {
                headers.append("x-amz-meta-fuzz", v);
            }
        }
        Some(Tamper::OtherSecret) | None => {}
    }
}

/// `Ok` only for a matching signature; a well-formed, timely request with a
/// known key and a matching signature must verify.
fn check(r: Result<cairn::auth::sigv4::Verified, AuthError>, matches: bool, unknown_key: bool, in_time: bool) {
    if r.is_ok() {
        assert!(matches, "verified with a signature that is not the reference");
        assert!(!unknown_key && in_time);
    }
    if matches && !unknown_key && in_time {
        assert!(
            r != Err(AuthError::SignatureDoesNotMatch),
            "the reference signature was refused"
        );
    }
}
