//! Conditional request evaluation for GetObject/HeadObject, CopyObject /
//! UploadPartCopy sources, and conditional writes (PutObject,
//! CompleteMultipartUpload).
//!
//! Reads follow RFC 7232 section 6 exactly, which is what S3 documents:
//! the GetObject/HeadObject pages state "If-Match true and If-Unmodified-Since
//! false -> 200 OK" and "If-None-Match false and If-Modified-Since true ->
//! 304 Not Modified", both of which fall out of the RFC order:
//!
//! 1. If-Match present: false -> 412 (and If-Unmodified-Since is skipped).
//! 2. Else If-Unmodified-Since present and valid: false -> 412.
//! 3. If-None-Match present: false -> 304 (and If-Modified-Since is skipped).
//! 4. Else If-Modified-Since present and valid: false -> 304.
//!
//! versitygw's EvaluatePreconditions (backend/common.go), which is tested
//! against AWS, gives the same answers for every combination.
//!
//! HTTP dates have one-second precision, so Last-Modified is truncated to the
//! second before comparing; an unparseable date makes its header ignored
//! (RFC 7232 3.3/3.4). RFC 7232 also says to ignore an If-Modified-Since
//! later than the server's clock; there is no clock here, so that rule is
//! the caller's to apply if wanted.

use http::header::{HeaderMap, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};

use crate::engine::write::{ETags, WriteCondition};

use super::error::{S3Code, S3Error};
use super::xml::parse_http_date;

/// What a read precondition check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Proceed,
    /// 304, no body.
    NotModified,
    /// 412 PreconditionFailed.
    PreconditionFailed,
}

impl Outcome {
    /// The S3 error for a failed check, `None` for `Proceed`.
    pub fn into_error(self) -> Option<S3Error> {
        match self {
            Outcome::Proceed => None,
            Outcome::NotModified => Some(S3Error::from_code(S3Code::NotModified)),
            Outcome::PreconditionFailed => Some(S3Error::from_code(S3Code::PreconditionFailed)),
        }
    }
}

const COPY_IF_MATCH: &str = "x-amz-copy-source-if-match";
const COPY_IF_NONE_MATCH: &str = "x-amz-copy-source-if-none-match";
const COPY_IF_MODIFIED_SINCE: &str = "x-amz-copy-source-if-modified-since";
const COPY_IF_UNMODIFIED_SINCE: &str = "x-amz-copy-source-if-unmodified-since";

/// One parsed element of an ETag list header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagMatcher {
    /// `*`
    Any,
    /// An entity tag without its quotes. Unquoted tags (which some clients
    /// send and S3 accepts) are taken as strong.
    Tag { weak: bool, tag: String },
}

/// Parses `"a", W/"b", *` (and lenient unquoted `a, b`) into matchers.
/// Quoted tags may contain commas; an unterminated quote takes the rest.
pub fn parse_etag_list(value: &str) -> Vec<ETagMatcher> {
    let mut out = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let mut weak = false;
        if let Some(r) = rest.strip_prefix("W/").or_else(|| rest.strip_prefix("w/")) {
            weak = true;
            rest = r;
        }
        if let Some(r) = rest.strip_prefix('"') {
            let (tag, after) = match r.find('"') {
                Some(i) => (&r[..i], &r[i + 1..]),
                None => (r, ""),
            };
            out.push(ETagMatcher::Tag {
                weak,
                tag: tag.to_string(),
            });
            rest = after;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let tok = rest[..end].trim_end_matches([' ', '\t']);
            rest = &rest[end..];
            if tok == "*" && !weak {
                out.push(ETagMatcher::Any);
            } else if !tok.is_empty() {
                out.push(ETagMatcher::Tag {
                    weak,
                    tag: tok.to_string(),
                });
            }
        }
    }
    out
}

fn strip_quotes(etag: &str) -> &str {
    let e = etag.strip_prefix("W/").unwrap_or(etag);
    if e.len() >= 2 && e.starts_with('"') && e.ends_with('"') {
        &e[1..e.len() - 1]
    } else {
        e
    }
}

/// All values of a possibly repeated header, comma-joined as RFC 9110 5.3
/// allows. Values that are not visible ASCII make the list match nothing.
fn header_list(headers: &HeaderMap, name: &str) -> Option<Vec<ETagMatcher>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut out = Vec::new();
    for v in values {
        if let Ok(s) = v.to_str() {
            out.extend(parse_etag_list(s));
        }
    }
    Some(out)
}

/// If-Match uses strong comparison (RFC 7232 2.3.2): weak tags never match.
fn matches_strong(list: &[ETagMatcher], etag: &str) -> bool {
    let etag = strip_quotes(etag);
    list.iter().any(|m| match m {
        ETagMatcher::Any => true,
        ETagMatcher::Tag { weak, tag } => !weak && tag == etag,
    })
}

/// If-None-Match uses weak comparison: `W/"x"` matches `"x"`.
fn matches_weak(list: &[ETagMatcher], etag: &str) -> bool {
    let etag = strip_quotes(etag);
    list.iter().any(|m| match m {
        ETagMatcher::Any => true,
        ETagMatcher::Tag { tag, .. } => tag == etag,
    })
}

/// A date header in seconds, `None` when absent or unparseable (ignored).
fn header_secs(headers: &HeaderMap, name: &str) -> Option<u64> {
    let v = headers.get(name)?.to_str().ok()?;
    parse_http_date(v).map(|ms| ms / 1000)
}

fn evaluate(headers: &HeaderMap, names: [&str; 4], etag: &str, last_modified_ms: u64) -> Outcome {
    let [if_match, if_none_match, if_modified_since, if_unmodified_since] = names;
    let lm = last_modified_ms / 1000;

    if let Some(list) = header_list(headers, if_match) {
        if !matches_strong(&list, etag) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(t) = header_secs(headers, if_unmodified_since) {
        if lm > t {
            return Outcome::PreconditionFailed;
        }
    }

    if let Some(list) = header_list(headers, if_none_match) {
        if matches_weak(&list, etag) {
            return Outcome::NotModified;
        }
    } else if let Some(t) = header_secs(headers, if_modified_since) {
        if lm <= t {
            return Outcome::NotModified;
        }
    }
    Outcome::Proceed
}

/// GetObject/HeadObject preconditions against the object's ETag (quoted or
/// bare) and Last-Modified.
pub fn check_read(headers: &HeaderMap, etag: &str, last_modified_ms: u64) -> Outcome {
    evaluate(
        headers,
        [
            IF_MATCH.as_str(),
            IF_NONE_MATCH.as_str(),
            IF_MODIFIED_SINCE.as_str(),
            IF_UNMODIFIED_SINCE.as_str(),
        ],
        etag,
        last_modified_ms,
    )
}

/// CopyObject/UploadPartCopy `x-amz-copy-source-if-*` against the source.
/// Same evaluation order; every failure is 412, as the CopyObject page says
/// (e.g. "x-amz-copy-source-if-none-match false and
/// x-amz-copy-source-if-modified-since true -> 412 Precondition Failed",
/// "if-match true and if-unmodified-since false -> 200 OK and copies").
pub fn check_copy_source(headers: &HeaderMap, etag: &str, last_modified_ms: u64) -> Outcome {
    match evaluate(
        headers,
        [
            COPY_IF_MATCH,
            COPY_IF_NONE_MATCH,
            COPY_IF_MODIFIED_SINCE,
            COPY_IF_UNMODIFIED_SINCE,
        ],
        etag,
        last_modified_ms,
    ) {
        Outcome::NotModified => Outcome::PreconditionFailed,
        other => other,
    }
}

/// Conditional writes (PutObject, CompleteMultipartUpload, and CopyObject's
/// destination) given the current object's ETag, `None` if there is no
/// current object (a delete marker counts as none). This is the check at
/// the start of the request; [`write_condition`] is checked again at commit.
///
/// * `If-None-Match`: `*` with an existing object, or a list naming the
///   current ETag (weak comparison, as for reads) -> 412 PreconditionFailed.
/// * `If-Match` with no current object -> 404 NoSuchKey (AWS conditional
///   writes guide: "If there's no current object version with the same name,
///   or if the current object version is a delete marker, the response is a
///   404 Not Found error"); ETag mismatch -> 412.
/// * Both headers together -> 501 NotImplemented (versitygw, matching AWS).
pub fn check_write(headers: &HeaderMap, current: Option<&str>) -> Result<(), S3Error> {
    let if_match = header_list(headers, IF_MATCH.as_str());
    let if_none_match = header_list(headers, IF_NONE_MATCH.as_str());

    if let Some(list) = &if_none_match {
        if if_match.is_some() {
            return Err(S3Error::new(
                S3Code::NotImplemented,
                "A header you provided implies functionality that is not implemented",
            ));
        }
        if current.is_some_and(|etag| matches_weak(list, etag)) {
            return Err(S3Error::from_code(S3Code::PreconditionFailed));
        }
    }
    if let Some(list) = &if_match {
        let Some(etag) = current else {
            return Err(S3Error::from_code(S3Code::NoSuchKey));
        };
        if !matches_strong(list, etag) {
            return Err(S3Error::from_code(S3Code::PreconditionFailed));
        }
    }
    Ok(())
}

/// A write's If-Match / If-None-Match for the engine to check again under
/// the key lock at commit; `None` without either header.
pub fn write_condition(headers: &HeaderMap) -> Option<WriteCondition> {
    let etags = |list: Vec<ETagMatcher>, strong: bool| {
        if list.contains(&ETagMatcher::Any) {
            return ETags::Any;
        }
        ETags::List(
            list.into_iter()
                .filter_map(|m| match m {
                    // If-Match compares strongly: a weak tag never matches.
                    ETagMatcher::Tag { weak, tag } if !(strong && weak) => Some(tag),
                    _ => None,
                })
                .collect(),
        )
    };
    let if_match = header_list(headers, IF_MATCH.as_str()).map(|l| etags(l, true));
    let if_none_match = header_list(headers, IF_NONE_MATCH.as_str()).map(|l| etags(l, false));
    (if_match.is_some() || if_none_match.is_some()).then_some(WriteCondition {
        if_match,
        if_none_match,
    })
}

#[cfg(test)]
mod tests {
    use super::super::xml::http_date;
    use super::*;
    use http::HeaderValue;

    const LM: u64 = 1_700_000_000_500; // .5s past a whole second
    const ETAG: &str = "\"abc123\"";

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn date(ms: u64) -> String {
        http_date(ms)
    }

    #[test]
    fn etag_lists() {
        use ETagMatcher::*;
        let t = |weak, s: &str| Tag {
            weak,
            tag: s.to_string(),
        };
        assert_eq!(parse_etag_list("*"), vec![Any]);
        assert_eq!(parse_etag_list("\"a\""), vec![t(false, "a")]);
        assert_eq!(
            parse_etag_list("\"a\", \"b\""),
            vec![t(false, "a"), t(false, "b")]
        );
        assert_eq!(
            parse_etag_list("W/\"a\",\"b\""),
            vec![t(true, "a"), t(false, "b")]
        );
        assert_eq!(parse_etag_list("abc"), vec![t(false, "abc")]);
        assert_eq!(
            parse_etag_list(" a , b ,, "),
            vec![t(false, "a"), t(false, "b")]
        );
        assert_eq!(
            parse_etag_list("\"a,b\", c"),
            vec![t(false, "a,b"), t(false, "c")]
        );
        assert_eq!(
            parse_etag_list("\"unterminated"),
            vec![t(false, "unterminated")]
        );
        assert_eq!(parse_etag_list(""), vec![]);
        assert_eq!(parse_etag_list(",,,"), vec![]);
        assert_eq!(parse_etag_list("W/*"), vec![t(true, "*")]);
        assert_eq!(parse_etag_list("\"\""), vec![t(false, "")]);
        assert_eq!(
            parse_etag_list("\"a\"\"b\""),
            vec![t(false, "a"), t(false, "b")]
        );
    }

    #[test]
    fn no_headers_proceed() {
        assert_eq!(check_read(&HeaderMap::new(), ETAG, LM), Outcome::Proceed);
        assert_eq!(
            check_copy_source(&HeaderMap::new(), ETAG, LM),
            Outcome::Proceed
        );
    }

    #[test]
    fn if_match() {
        for v in ["\"abc123\"", "abc123", "*", "\"x\", \"abc123\""] {
            assert_eq!(
                check_read(&h(&[("if-match", v)]), ETAG, LM),
                Outcome::Proceed,
                "{v}"
            );
        }
        for v in ["\"x\"", "W/\"abc123\"", "", "\"abc1234\""] {
            assert_eq!(
                check_read(&h(&[("if-match", v)]), ETAG, LM),
                Outcome::PreconditionFailed,
                "{v}"
            );
        }
        // Bare stored ETag works too.
        assert_eq!(
            check_read(&h(&[("if-match", "\"abc123\"")]), "abc123", LM),
            Outcome::Proceed
        );
        // Repeated header lines are one list.
        let m = h(&[("if-match", "\"x\""), ("if-match", "\"abc123\"")]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::Proceed);
    }

    #[test]
    fn if_none_match() {
        for v in [
            "\"abc123\"",
            "abc123",
            "*",
            "W/\"abc123\"",
            "\"x\",\"abc123\"",
        ] {
            assert_eq!(
                check_read(&h(&[("if-none-match", v)]), ETAG, LM),
                Outcome::NotModified,
                "{v}"
            );
        }
        assert_eq!(
            check_read(&h(&[("if-none-match", "\"x\"")]), ETAG, LM),
            Outcome::Proceed
        );
    }

    #[test]
    fn dates_compare_at_second_granularity() {
        let same = date(LM); // LM truncated to the second
        let before = date(LM - 1500);
        let after = date(LM + 1000);
        let ims = |d: &str| check_read(&h(&[("if-modified-since", d)]), ETAG, LM);
        let ius = |d: &str| check_read(&h(&[("if-unmodified-since", d)]), ETAG, LM);
        assert_eq!(ims(&same), Outcome::NotModified);
        assert_eq!(ims(&after), Outcome::NotModified);
        assert_eq!(ims(&before), Outcome::Proceed);
        assert_eq!(ius(&same), Outcome::Proceed);
        assert_eq!(ius(&after), Outcome::Proceed);
        assert_eq!(ius(&before), Outcome::PreconditionFailed);
        // Unparseable dates are ignored.
        assert_eq!(ims("yesterday"), Outcome::Proceed);
        assert_eq!(ius("2023-11-14T22:13:20Z"), Outcome::Proceed);
    }

    #[test]
    fn documented_s3_combinations() {
        let before = date(LM - 10_000);
        let after = date(LM + 10_000);
        // If-Match true + If-Unmodified-Since false -> 200.
        let m = h(&[("if-match", ETAG), ("if-unmodified-since", &before)]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::Proceed);
        // If-None-Match false + If-Modified-Since true -> 304.
        let m = h(&[("if-none-match", ETAG), ("if-modified-since", &before)]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::NotModified);
        // If-Match false wins over everything -> 412.
        let m = h(&[
            ("if-match", "\"x\""),
            ("if-none-match", "\"y\""),
            ("if-unmodified-since", &after),
        ]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::PreconditionFailed);
        // If-Match true + If-None-Match false -> 304.
        let m = h(&[("if-match", ETAG), ("if-none-match", ETAG)]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::NotModified);
        // If-Match true + If-Modified-Since false -> 304.
        let m = h(&[("if-match", ETAG), ("if-modified-since", &after)]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::NotModified);
        // If-None-Match true + If-Unmodified-Since false -> 412.
        let m = h(&[("if-none-match", "\"x\""), ("if-unmodified-since", &before)]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::PreconditionFailed);
        // If-None-Match true + If-Modified-Since false -> 200 (IMS skipped).
        let m = h(&[("if-none-match", "\"x\""), ("if-modified-since", &after)]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::Proceed);
        // Both dates false -> 412 (unmodified-since is checked first).
        let m = h(&[
            ("if-modified-since", &after),
            ("if-unmodified-since", &before),
        ]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::PreconditionFailed);
        // If-Unmodified-Since true + If-Modified-Since false -> 304.
        let m = h(&[
            ("if-modified-since", &after),
            ("if-unmodified-since", &after),
        ]);
        assert_eq!(check_read(&m, ETAG, LM), Outcome::NotModified);
    }

    #[test]
    fn copy_source_all_failures_are_412() {
        let before = date(LM - 10_000);
        let after = date(LM + 10_000);
        let c = |pairs: &[(&str, &str)]| check_copy_source(&h(pairs), ETAG, LM);
        assert_eq!(c(&[("x-amz-copy-source-if-match", ETAG)]), Outcome::Proceed);
        assert_eq!(
            c(&[("x-amz-copy-source-if-match", "\"x\"")]),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            c(&[("x-amz-copy-source-if-none-match", ETAG)]),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            c(&[("x-amz-copy-source-if-none-match", "\"x\"")]),
            Outcome::Proceed
        );
        assert_eq!(
            c(&[("x-amz-copy-source-if-modified-since", &after)]),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            c(&[("x-amz-copy-source-if-modified-since", &before)]),
            Outcome::Proceed
        );
        assert_eq!(
            c(&[("x-amz-copy-source-if-unmodified-since", &before)]),
            Outcome::PreconditionFailed
        );
        assert_eq!(
            c(&[("x-amz-copy-source-if-unmodified-since", &after)]),
            Outcome::Proceed
        );
        // Documented: if-match true + if-unmodified-since false -> copies.
        assert_eq!(
            c(&[
                ("x-amz-copy-source-if-match", ETAG),
                ("x-amz-copy-source-if-unmodified-since", &before)
            ]),
            Outcome::Proceed
        );
        // Documented: if-none-match false + if-modified-since true -> 412.
        assert_eq!(
            c(&[
                ("x-amz-copy-source-if-none-match", ETAG),
                ("x-amz-copy-source-if-modified-since", &before)
            ]),
            Outcome::PreconditionFailed
        );
        // Plain If-* headers do not affect the copy source.
        assert_eq!(c(&[("if-match", "\"x\"")]), Outcome::Proceed);
        // And copy headers do not affect a read.
        assert_eq!(
            check_read(&h(&[("x-amz-copy-source-if-match", "\"x\"")]), ETAG, LM),
            Outcome::Proceed
        );
    }

    #[test]
    fn writes() {
        let code = |pairs: &[(&str, &str)], cur: Option<&str>| {
            check_write(&h(pairs), cur).map_err(|e| e.code)
        };
        assert_eq!(code(&[], None), Ok(()));
        assert_eq!(code(&[], Some(ETAG)), Ok(()));
        assert_eq!(code(&[("if-none-match", "*")], None), Ok(()));
        assert_eq!(
            code(&[("if-none-match", "*")], Some(ETAG)),
            Err(S3Code::PreconditionFailed)
        );
        assert_eq!(
            code(&[("if-none-match", " * ")], Some(ETAG)),
            Err(S3Code::PreconditionFailed)
        );
        assert_eq!(code(&[("if-none-match", ETAG)], None), Ok(()));
        assert_eq!(code(&[("if-none-match", "\"other\"")], Some(ETAG)), Ok(()));
        assert_eq!(
            code(&[("if-none-match", ETAG)], Some(ETAG)),
            Err(S3Code::PreconditionFailed)
        );
        assert_eq!(
            code(&[("if-none-match", "\"x\", W/\"abc123\"")], Some(ETAG)),
            Err(S3Code::PreconditionFailed)
        );
        assert_eq!(code(&[("if-match", ETAG)], Some(ETAG)), Ok(()));
        assert_eq!(code(&[("if-match", "abc123")], Some(ETAG)), Ok(()));
        assert_eq!(code(&[("if-match", ETAG)], Some("abc123")), Ok(()));
        assert_eq!(code(&[("if-match", "*")], Some(ETAG)), Ok(()));
        assert_eq!(
            code(&[("if-match", "\"other\"")], Some(ETAG)),
            Err(S3Code::PreconditionFailed)
        );
        assert_eq!(code(&[("if-match", ETAG)], None), Err(S3Code::NoSuchKey));
        assert_eq!(code(&[("if-match", "*")], None), Err(S3Code::NoSuchKey));
        assert_eq!(
            code(&[("if-match", ETAG), ("if-none-match", "*")], Some(ETAG)),
            Err(S3Code::NotImplemented)
        );
        let e = check_write(&h(&[("if-none-match", "*")]), Some(ETAG)).unwrap_err();
        assert_eq!(e.status().as_u16(), 412);
        let e = check_write(&h(&[("if-match", ETAG)]), None).unwrap_err();
        assert_eq!(e.status().as_u16(), 404);
    }

    #[test]
    fn write_conditions_agree_with_the_request_check() {
        let cases: &[&[(&str, &str)]] = &[
            &[("if-none-match", "*")],
            &[("if-none-match", ETAG)],
            &[("if-none-match", "W/\"abc123\"")],
            &[("if-none-match", "\"other\", \"x\"")],
            &[("if-match", "*")],
            &[("if-match", ETAG)],
            &[("if-match", "W/\"abc123\"")],
            &[("if-match", "\"other\"")],
        ];
        for pairs in cases {
            let m = h(pairs);
            let c = write_condition(&m).unwrap();
            for cur in [None, Some("abc123"), Some("zzz")] {
                assert_eq!(
                    c.holds(cur),
                    check_write(&m, cur).is_ok(),
                    "{pairs:?} against {cur:?}"
                );
            }
        }
        assert_eq!(write_condition(&HeaderMap::new()), None);
    }

    #[test]
    fn non_ascii_header_values_do_not_panic() {
        let mut m = HeaderMap::new();
        m.insert(IF_MATCH, HeaderValue::from_bytes(b"\"\xff\"").unwrap());
        m.insert(
            IF_MODIFIED_SINCE,
            HeaderValue::from_bytes(b"\xfe\xff").unwrap(),
        );
        assert_eq!(check_read(&m, ETAG, LM), Outcome::PreconditionFailed);
        assert_eq!(
            check_write(&m, Some(ETAG)).unwrap_err().code,
            S3Code::PreconditionFailed
        );
    }

    #[test]
    fn outcome_errors() {
        assert_eq!(Outcome::Proceed.into_error(), None);
        assert_eq!(
            Outcome::NotModified.into_error().unwrap().status().as_u16(),
            304
        );
        assert_eq!(
            Outcome::PreconditionFailed
                .into_error()
                .unwrap()
                .status()
                .as_u16(),
            412
        );
    }
}
