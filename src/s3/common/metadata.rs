//! Object metadata as requests send it and responses return it: stored
//! system headers, `x-amz-meta-*`, `x-amz-tagging`, checksum headers.

use http::header::HeaderValue;
use http::HeaderMap;

use crate::engine::class::{ClassId, Classes};
use crate::engine::PutOptions;

use crate::s3::error::{S3Code, S3Error};
use crate::s3::xml_tagging::parse_tagging_header;

/// S3's limit on user metadata: keys plus values, in bytes.
pub const MAX_USER_META: usize = 2048;

/// System headers kept with the object and returned on GET/HEAD.
const STORED_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

const META_PREFIX: &str = "x-amz-meta-";

/// First of the private-use code points that stand for bytes which are not
/// UTF-8 (U+F780 + byte), so any header value survives as a `String`.
const RAW_BYTE_BASE: u32 = 0xF700;

/// A header value as stored. S3 returns metadata bytes as they were sent:
/// UTF-8 is kept as is; other bytes (a Latin-1 `é` is the single byte 0xE9)
/// are mapped one to one into private-use characters, undone by
/// [`header_bytes`].
pub fn header_text(v: &[u8]) -> String {
    let mut out = String::with_capacity(v.len());
    for chunk in v.utf8_chunks() {
        out.push_str(chunk.valid());
        for &b in chunk.invalid() {
            out.push(char::from_u32(RAW_BYTE_BASE + u32::from(b)).unwrap_or('\u{FFFD}'));
        }
    }
    out
}

/// The bytes a stored header value was sent as (see [`header_text`]).
pub fn header_bytes(s: &str) -> std::borrow::Cow<'_, [u8]> {
    let raw = |c: char| (RAW_BYTE_BASE + 0x80..=RAW_BYTE_BASE + 0xFF).contains(&u32::from(c));
    if !s.chars().any(raw) {
        return std::borrow::Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    let mut buf = [0u8; 4];
    for c in s.chars() {
        if raw(c) {
            out.push((u32::from(c) - RAW_BYTE_BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    std::borrow::Cow::Owned(out)
}

fn text(v: &HeaderValue) -> String {
    header_text(v.as_bytes())
}

/// `Content-Encoding` as sent, less any `aws-chunked` member (which
/// describes the transfer, not the object); `None` if nothing is left.
fn content_encoding(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split(',')
        .filter(|c| !c.trim().is_empty() && !c.trim().eq_ignore_ascii_case("aws-chunked"))
        .collect();
    let v = kept.join(",");
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Content-Type, stored system headers, `x-amz-meta-*` and the storage
/// class from a request.
pub fn put_options(headers: &HeaderMap, classes: &Classes) -> Result<PutOptions, S3Error> {
    let mut opts = PutOptions {
        content_type: headers
            .get(http::header::CONTENT_TYPE)
            .map(text)
            .filter(|s| !s.is_empty()),
        tags: tags_from_header(headers)?,
        class: storage_class(headers, classes)?,
        ..Default::default()
    };
    for name in STORED_HEADERS {
        let values: Vec<String> = headers.get_all(name).iter().map(text).collect();
        if values.is_empty() {
            continue;
        }
        let mut value = values.join(",");
        if name == "content-encoding" {
            match content_encoding(&value) {
                Some(v) => value = v,
                None => continue,
            }
        }
        opts.headers.push((name.to_owned(), value));
    }
    let mut size = 0usize;
    for name in headers.keys() {
        let Some(meta) = name.as_str().strip_prefix(META_PREFIX) else {
            continue;
        };
        // Repeated headers are joined, as S3 does.
        let value = headers
            .get_all(name)
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join(",");
        size += meta.len() + header_bytes(&value).len();
        opts.user_meta.push((meta.to_owned(), value));
    }
    if size > MAX_USER_META {
        return Err(S3Error::new(
            S3Code::MetadataTooLarge,
            format!("Your metadata headers exceed the maximum allowed metadata size ({size} > {MAX_USER_META} bytes)."),
        ));
    }
    Ok(opts)
}

/// The class `x-amz-storage-class` names, STANDARD without one. A class
/// the node does not define, S3's others included, is InvalidStorageClass
/// (S3's answer to a class it does not offer).
pub fn storage_class(headers: &HeaderMap, classes: &Classes) -> Result<ClassId, S3Error> {
    let Some(v) = headers.get("x-amz-storage-class") else {
        return Ok(ClassId::STANDARD);
    };
    v.to_str()
        .ok()
        .and_then(|name| classes.id_of(name))
        .ok_or_else(|| S3Error::from_code(S3Code::InvalidStorageClass))
}

/// The `x-amz-tagging` header of a write; empty when absent.
pub fn tags_from_header(headers: &HeaderMap) -> Result<Vec<(String, String)>, S3Error> {
    match headers.get("x-amz-tagging") {
        None => Ok(Vec::new()),
        Some(v) => {
            let v = v.to_str().map_err(|_| {
                S3Error::new(
                    S3Code::InvalidArgument,
                    "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
                )
            })?;
            parse_tagging_header(v)
        }
    }
}

/// `x-amz-tagging-count` on GET and HEAD of a tagged version.
pub fn add_tagging_count(h: &mut HeaderMap, tags: &[(String, String)]) {
    if !tags.is_empty() {
        h.insert("x-amz-tagging-count", HeaderValue::from(tags.len()));
    }
}

/// Stored headers with this prefix are the object's checksum and its type,
/// sent only in checksum mode (multipart objects store them at completion).
pub const CHECKSUM_PREFIX: &str = "x-amz-checksum-";

pub const CHECKSUM_TYPE: &str = "x-amz-checksum-type";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes_round_trip_through_text() {
        let cases: [&[u8]; 6] = [
            b"plain",
            b"caf\xe9",
            "café 日本".as_bytes(),
            b"\xff\xfe\x80",
            b"mixed \xc3\xa9 and \xe9",
            b"",
        ];
        for raw in cases {
            let t = header_text(raw);
            assert_eq!(&*header_bytes(&t), raw, "{raw:?}");
        }
        // UTF-8 is stored as itself.
        assert_eq!(header_text("café".as_bytes()), "café");
    }

    #[test]
    fn content_encoding_keeps_what_was_sent() {
        assert_eq!(
            content_encoding("deflate, gzip").as_deref(),
            Some("deflate, gzip")
        );
        assert_eq!(content_encoding("gzip").as_deref(), Some("gzip"));
        assert_eq!(
            content_encoding("aws-chunked, gzip").as_deref(),
            Some("gzip")
        );
        assert_eq!(
            content_encoding("deflate, aws-chunked,gzip").as_deref(),
            Some("deflate,gzip")
        );
        assert_eq!(content_encoding("AWS-CHUNKED"), None);
        assert_eq!(content_encoding(""), None);
    }
}
