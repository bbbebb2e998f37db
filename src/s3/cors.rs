//! Bucket CORS: Put/Get/DeleteBucketCors store the rules with the bucket;
//! an `OPTIONS` preflight is answered from them without authentication
//! ([`preflight`]), and any other request carrying `Origin` to a bucket
//! with a matching rule gets the CORS headers on its answer, error or not
//! ([`add_response_headers`]), so a browser page can read what S3 said.
//!
//! The matcher ([`match_rule`]) is a pure function of the rules and the
//! request: the first rule whose origin, method and every requested
//! header match answers; origins and headers may hold one `*`.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use hyper::body::Incoming;

use crate::engine::buckets::{BucketCors, CorsRule};
use crate::engine::Engine;

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::error::{S3Code, S3Error};
use super::xml_cors::{cors_document, parse_cors};

/// Longest configuration accepted: S3's limit on a CORS configuration.
const MAX_CORS_BODY: usize = 64 << 10;

/// Most headers one preflight may ask for; past it the request is refused
/// rather than matched header by header against every rule.
const MAX_REQUESTED_HEADERS: usize = 64;

pub fn get_bucket_cors(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    match ctx.engine.bucket_cors(bucket)? {
        Some(c) => Ok(xml(StatusCode::OK, cors_document(&c))),
        None => Err(S3Error::from_code(S3Code::NoSuchCORSConfiguration)),
    }
}

/// S3 requires an integrity check on this body (Content-MD5 or a checksum,
/// which the body reader then verifies).
pub async fn put_bucket_cors(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.require_content_md5()?;
    let doc = ctx.read_document(body, MAX_CORS_BODY).await?;
    let config = parse_cors(&doc)?;
    ctx.engine.set_bucket_cors(bucket, Some(config)).await?;
    Ok(status_only(StatusCode::OK))
}

/// 204 whether or not a configuration was there, as S3 answers.
pub async fn delete_bucket_cors(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_bucket_cors(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

// ---------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------

/// `value` against `pattern`, where one `*` in the pattern stands for any
/// run of characters (the parser refuses a second).
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| {
        if ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len()
                && value.is_char_boundary(head.len())
                && value.is_char_boundary(value.len() - tail.len())
                && eq(&value[..head.len()], head)
                && eq(&value[value.len() - tail.len()..], tail)
        }
    }
}

/// The rule's origin pattern `origin` matches, if any.
fn origin_pattern<'r>(rule: &'r CorsRule, origin: &str) -> Option<&'r str> {
    rule.allowed_origins
        .iter()
        .map(String::as_str)
        .find(|p| wildcard_match(p, origin, false))
}

/// What a matching rule answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched<'r> {
    pub rule: &'r CorsRule,
    /// The rule allows every origin (`*`): answered `*`, without
    /// credentials.
    pub any_origin: bool,
}

/// The first rule that allows `origin` to use `method` with every header
/// in `headers` (names, matched without regard to case).
pub fn match_rule<'r>(
    cors: &'r BucketCors,
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<Matched<'r>> {
    cors.rules.iter().find_map(|rule| {
        let pattern = origin_pattern(rule, origin)?;
        if !rule.allowed_methods.iter().any(|m| m == method) {
            return None;
        }
        let all_allowed = headers.iter().all(|h| {
            rule.allowed_headers
                .iter()
                .any(|p| wildcard_match(p, h, true))
        });
        all_allowed.then_some(Matched {
            rule,
            any_origin: pattern == "*",
        })
    })
}

// ---------------------------------------------------------------------------
// Preflight and response headers
// ---------------------------------------------------------------------------

const ALLOW_ORIGIN: HeaderName = header::ACCESS_CONTROL_ALLOW_ORIGIN;

fn refused() -> S3Error {
    S3Error::new(
        S3Code::AccessForbidden,
        // S3's wording, its typo included.
        "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    )
}

/// A header value from text the rules or the request gave; text that is
/// not a valid header value is left out.
fn value(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()
}

fn joined(items: &[String]) -> Option<HeaderValue> {
    if items.is_empty() {
        None
    } else {
        value(&items.join(", "))
    }
}

/// The headers S3 answers a matched rule with, preflight or not:
/// `Access-Control-Allow-Origin`, `-Allow-Credentials`, `-Allow-Methods`,
/// `-Expose-Headers`, `-Max-Age` and `Vary`.
fn set_rule_headers(h: &mut HeaderMap, m: Matched<'_>, origin: &HeaderValue) {
    if m.any_origin {
        h.insert(ALLOW_ORIGIN, HeaderValue::from_static("*"));
    } else {
        h.insert(ALLOW_ORIGIN, origin.clone());
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if let Some(v) = joined(&m.rule.allowed_methods) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if let Some(v) = joined(&m.rule.expose_headers) {
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    if let Some(s) = m.rule.max_age_seconds {
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(s));
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
    );
}

/// The answer to `OPTIONS` on `bucket` (or an object in it), from its CORS
/// rules; no credentials are read. `Origin` and
/// `Access-Control-Request-Method` are required.
pub fn preflight(engine: &Engine, bucket: Option<&str>, headers: &HeaderMap) -> S3Result {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Err(S3Error::new(
            S3Code::BadRequest,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let Some(method) = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD) else {
        return Err(S3Error::new(
            S3Code::BadRequest,
            "Invalid Access-Control-Request-Method: null",
        ));
    };
    let (Ok(origin_text), Ok(method)) = (origin.to_str(), method.to_str()) else {
        return Err(refused());
    };
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let names: Vec<&str> = requested
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .take(MAX_REQUESTED_HEADERS + 1)
        .collect();
    if names.len() > MAX_REQUESTED_HEADERS {
        return Err(refused());
    }
    let Some(bucket) = bucket else {
        return Err(refused());
    };
    let table = engine.buckets();
    let Some(info) = table.get(bucket) else {
        return Err(S3Error::from_code(S3Code::NoSuchBucket));
    };
    let Some(cors) = info.cors.as_ref() else {
        return Err(S3Error::new(
            S3Code::AccessForbidden,
            "CORSResponse: CORS is not enabled for this bucket.",
        ));
    };
    let m = match_rule(cors, origin_text, method, &names).ok_or_else(refused)?;
    let mut r = status_only(StatusCode::OK);
    let h = r.headers_mut();
    set_rule_headers(h, m, origin);
    if !names.is_empty() {
        if let Some(v) = value(&names.join(", ")) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    Ok(r)
}

/// The CORS headers of an answer to a request that sent `Origin` to
/// `bucket`: added when a rule allows that origin and the request's
/// method, whatever the status. The caller looks `Origin` up first, so a
/// request without one costs nothing here.
pub fn add_response_headers(
    engine: &Engine,
    bucket: &str,
    method: &Method,
    origin: &HeaderValue,
    h: &mut HeaderMap,
) {
    let table = engine.buckets();
    let Some(cors) = table.get(bucket).and_then(|b| b.cors.as_ref()) else {
        return;
    };
    let Ok(origin_text) = origin.to_str() else {
        return;
    };
    if let Some(m) = match_rule(cors, origin_text, method.as_str(), &[]) {
        set_rule_headers(h, m, origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        CorsRule {
            allowed_origins: v(origins),
            allowed_methods: v(methods),
            allowed_headers: v(headers),
            ..Default::default()
        }
    }

    #[test]
    fn one_wildcard_stands_for_any_run_of_characters() {
        assert!(wildcard_match("*", "http://a.example", false));
        assert!(wildcard_match(
            "https://*.example.com",
            "https://a.b.example.com",
            false
        ));
        assert!(wildcard_match("http://*", "http://", false));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.com",
            false
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "http://a.example.com",
            false
        ));
        // Head and tail may not overlap.
        assert!(!wildcard_match("ab*ba", "aba", false));
        assert!(wildcard_match(
            "http://localhost:*",
            "http://localhost:8080",
            false
        ));
        assert!(!wildcard_match("http://a.com", "http://a.com.evil", false));
        // Origins are compared exactly, header names without regard to case.
        assert!(!wildcard_match("http://A.com", "http://a.com", false));
        assert!(wildcard_match("X-Amz-*", "x-amz-date", true));
        assert!(!wildcard_match("x-amz-*", "content-type", true));
    }

    #[test]
    fn the_first_rule_that_allows_origin_method_and_every_header_answers() {
        let cors = BucketCors {
            rules: vec![
                rule(&["http://app.test"], &["PUT"], &["content-type"]),
                rule(&["http://*.test"], &["GET", "PUT"], &["*"]),
                rule(&["*"], &["GET"], &[]),
            ],
        };
        let first = |o, m, h: &[&str]| {
            match_rule(&cors, o, m, h).map(|x| {
                cors.rules
                    .iter()
                    .position(|r| std::ptr::eq(r, x.rule))
                    .unwrap_or(usize::MAX)
            })
        };
        assert_eq!(first("http://app.test", "PUT", &["Content-Type"]), Some(0));
        // A header the first rule does not allow moves on to the second.
        assert_eq!(
            first("http://app.test", "PUT", &["content-type", "x-amz-date"]),
            Some(1)
        );
        assert_eq!(first("http://other.test", "GET", &[]), Some(1));
        assert_eq!(first("http://elsewhere.org", "GET", &[]), Some(2));
        // The catch-all rule allows no headers and no PUT.
        assert_eq!(first("http://elsewhere.org", "GET", &["x-a"]), None);
        assert_eq!(first("http://elsewhere.org", "PUT", &[]), None);
        // Methods are exact.
        assert_eq!(first("http://elsewhere.org", "get", &[]), None);
        assert_eq!(first("http://app.test", "DELETE", &[]), None);
    }

    #[test]
    fn a_star_origin_answers_star_and_any_other_pattern_the_origin() {
        let cors = BucketCors {
            rules: vec![
                rule(&["http://*.test"], &["GET"], &[]),
                rule(&["*"], &["HEAD"], &[]),
            ],
        };
        let any = |o, m| match_rule(&cors, o, m, &[]).map(|x| x.any_origin);
        assert_eq!(any("http://a.test", "GET"), Some(false));
        assert_eq!(any("http://a.test", "HEAD"), Some(true));
    }
}
