//! ListObjects (V1 and V2) over the engine's merged partition listing, and
//! the paging parameters the multipart listings share.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::StatusCode;

use crate::engine::merge::{Entry, ListParams, Page};

use super::error::{S3Code, S3Error};
use super::handler::{xml, Ctx, S3Result};
use super::router::query_get;
use super::xml::{ListEntry, ListV1Response, ListV2Response};

/// S3's default and largest page (keys, parts, uploads).
pub const MAX_KEYS: usize = 1000;

type EnginePage = Page<crate::engine::index::ListEntry>;

pub(super) fn max_keys(q: &[(String, String)]) -> Result<usize, S3Error> {
    max_param(q, "max-keys")
}

/// A page size parameter (`max-keys`, `max-parts`, `max-uploads`): at most
/// 1,000, which is also the default.
pub(super) fn max_param(q: &[(String, String)], name: &str) -> Result<usize, S3Error> {
    match query_get(q, name) {
        None | Some("") => Ok(MAX_KEYS),
        Some(v) => {
            let v = v.trim();
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(S3Error::new(
                    S3Code::InvalidArgument,
                    format!("Provided {name} not an integer or within integer range"),
                ));
            }
            // Digit strings too long for usize are far above the cap anyway.
            Ok(v.parse::<usize>().unwrap_or(MAX_KEYS).min(MAX_KEYS))
        }
    }
}

pub(super) fn encoding_url(q: &[(String, String)]) -> Result<bool, S3Error> {
    match query_get(q, "encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(S3Error::new(
            S3Code::InvalidArgument,
            "Invalid Encoding Method specified in Request",
        )),
    }
}

/// The continuation token is the last returned name, base64url: opaque to
/// clients, and the listing resumes strictly after it.
pub fn encode_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

pub fn decode_token(token: &str) -> Result<String, S3Error> {
    let bad = || {
        S3Error::new(
            S3Code::InvalidArgument,
            "The continuation token provided is incorrect",
        )
    };
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    if s.is_empty() {
        return Err(bad());
    }
    Ok(s)
}

/// Splits a page into contents and common prefixes.
fn split(page: EnginePage) -> (Vec<ListEntry>, Vec<String>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for e in page.entries {
        match e {
            Entry::Object(key, v) => contents.push(ListEntry {
                key,
                last_modified_ms: v.modified_ms,
                etag: v.etag,
                size: v.size,
            }),
            Entry::CommonPrefix(p) => prefixes.push(p),
        }
    }
    (contents, prefixes)
}

fn list(
    ctx: &Ctx<'_>,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    after: Option<&str>,
    max: usize,
) -> Result<EnginePage, S3Error> {
    let params = ListParams {
        prefix,
        delimiter: (!delimiter.is_empty()).then_some(delimiter),
        start_after: after,
        max_keys: max,
    };
    let mut page = ctx.engine.list(bucket, &params)?;
    if max == 0 {
        // Nothing can be returned, so there is nothing to continue from.
        page.is_truncated = false;
    }
    Ok(page)
}

pub fn list_objects_v2(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    let q = &ctx.query;
    let prefix = query_get(q, "prefix").unwrap_or("");
    let delimiter = query_get(q, "delimiter").unwrap_or("");
    let max = max_keys(q)?;
    let url = encoding_url(q)?;
    let fetch_owner = query_get(q, "fetch-owner").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // An empty token is no token, as on S3 (clients send one on a first page).
    let token = query_get(q, "continuation-token").filter(|t| !t.is_empty());
    let start_after = query_get(q, "start-after").filter(|s| !s.is_empty());
    // The token wins over start-after: it is already past it.
    let after = match token {
        Some(t) => Some(decode_token(t)?),
        None => start_after.map(str::to_owned),
    };
    let page = list(ctx, bucket, prefix, delimiter, after.as_deref(), max)?;
    let next = if page.is_truncated {
        page.next_marker.as_deref().map(encode_token)
    } else {
        None
    };
    let is_truncated = page.is_truncated && next.is_some();
    let (contents, common_prefixes) = split(page);
    let r = ListV2Response {
        name: bucket.to_owned(),
        prefix: prefix.to_owned(),
        delimiter: delimiter.to_owned(),
        max_keys: max as u64,
        is_truncated,
        continuation_token: token.map(str::to_owned),
        next_continuation_token: next,
        start_after: start_after.map(str::to_owned),
        encoding_type_url: url,
        fetch_owner,
        owner: ctx.api.owner.clone(),
        contents,
        common_prefixes,
    };
    Ok(xml(StatusCode::OK, super::xml::list_objects_v2(&r)))
}

pub fn list_objects_v1(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    let q = &ctx.query;
    let prefix = query_get(q, "prefix").unwrap_or("");
    let delimiter = query_get(q, "delimiter").unwrap_or("");
    let marker = query_get(q, "marker").unwrap_or("");
    let max = max_keys(q)?;
    let url = encoding_url(q)?;
    let page = list(
        ctx,
        bucket,
        prefix,
        delimiter,
        (!marker.is_empty()).then_some(marker),
        max,
    )?;
    // AWS returns NextMarker only with a delimiter; without one clients
    // continue from the last key.
    let next_marker = if page.is_truncated && !delimiter.is_empty() {
        page.next_marker.clone()
    } else {
        None
    };
    let is_truncated = page.is_truncated;
    let (contents, common_prefixes) = split(page);
    let r = ListV1Response {
        name: bucket.to_owned(),
        prefix: prefix.to_owned(),
        marker: marker.to_owned(),
        next_marker,
        delimiter: delimiter.to_owned(),
        max_keys: max as u64,
        is_truncated,
        encoding_type_url: url,
        owner: ctx.api.owner.clone(),
        contents,
        common_prefixes,
    };
    Ok(xml(StatusCode::OK, super::xml::list_objects_v1(&r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        for k in ["a", "dir/sub/", "ключ with spaces+plus", "x\u{1F600}"] {
            assert_eq!(decode_token(&encode_token(k)).unwrap(), k);
        }
        assert!(decode_token("").is_err());
        assert!(decode_token("!!!").is_err());
        assert!(decode_token(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])).is_err());
    }

    #[test]
    fn max_keys_rules() {
        let q = |v: &str| vec![("max-keys".to_owned(), v.to_owned())];
        assert_eq!(max_keys(&[]).unwrap(), 1000);
        assert_eq!(max_keys(&q("5")).unwrap(), 5);
        assert_eq!(max_keys(&q("5000")).unwrap(), 1000);
        assert_eq!(max_keys(&q("99999999999999999999999")).unwrap(), 1000);
        assert!(max_keys(&q("-1")).is_err());
        assert!(max_keys(&q("abc")).is_err());
    }
}
