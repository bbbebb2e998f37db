//! GetObjectAttributes: an object's ETag, checksum, parts, storage class
//! and size in one document, without its data (SDK checksum helpers call
//! it to learn how an object was checksummed).

use http::header::{HeaderMap, HeaderValue, LAST_MODIFIED};
use http::StatusCode;

use crate::auth::checksum::ChecksumAlgo;
use crate::engine::meta::{IndexEntry, ObjectMeta, PartData};
use crate::engine::VersionSel;
use crate::xmlw::Writer;

use super::common::ctx::{Ctx, S3Result};
use super::common::metadata::{CHECKSUM_PREFIX, CHECKSUM_TYPE};
use super::common::response::xml;
use super::common::version::{add_version_header, read_version};
use super::error::{S3Code, S3Error};
use super::router::MAX_KEYS;
use super::xml::{http_date, response};

/// The attributes `x-amz-object-attributes` may name.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub etag: bool,
    pub checksum: bool,
    pub object_parts: bool,
    pub storage_class: bool,
    pub object_size: bool,
}

/// `x-amz-object-attributes`: a comma-separated list (possibly over several
/// header lines) of `ETag`, `Checksum`, `ObjectParts`, `StorageClass`,
/// `ObjectSize`; at least one is required.
pub fn wanted(headers: &HeaderMap) -> Result<Wanted, S3Error> {
    let mut w = Wanted::default();
    let mut any = false;
    for v in headers.get_all("x-amz-object-attributes") {
        let v = v.to_str().map_err(|_| {
            S3Error::new(S3Code::InvalidArgument, "Invalid attribute name specified.")
        })?;
        for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let slot = match name {
                "ETag" => &mut w.etag,
                "Checksum" => &mut w.checksum,
                "ObjectParts" => &mut w.object_parts,
                "StorageClass" => &mut w.storage_class,
                "ObjectSize" => &mut w.object_size,
                _ => {
                    return Err(S3Error::new(
                        S3Code::InvalidArgument,
                        "Invalid attribute name specified.",
                    ))
                }
            };
            *slot = true;
            any = true;
        }
    }
    if !any {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        ));
    }
    Ok(w)
}

/// A non-negative integer header (`x-amz-max-parts`,
/// `x-amz-part-number-marker`), `None` when absent.
fn int_header(headers: &HeaderMap, name: &str) -> Result<Option<u64>, S3Error> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("").trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            format!("Provided {name} not an integer or within integer range"),
        ));
    }
    // Digit strings too long for u64 are beyond any part number anyway.
    Ok(Some(v.parse().unwrap_or(u64::MAX)))
}

/// `ChecksumCRC64NVME` and so on: the XML name of a checksum header.
fn checksum_element(header: &str) -> Option<String> {
    ChecksumAlgo::from_header_name(header).map(|a| format!("Checksum{}", a.algorithm_name()))
}

fn write_checksums(w: &mut Writer<'_>, values: &[(String, String)]) {
    for (name, value) in values {
        if let Some(el) = checksum_element(name) {
            w.text(&el, value);
        }
    }
}

/// The response document for `entry` with part paging after `marker`, at
/// most `max_parts` parts.
pub fn document(entry: &IndexEntry, want: Wanted, max_parts: usize, marker: u64) -> Vec<u8> {
    let meta = &entry.meta;
    response("GetObjectAttributesResponse", 512, |w| {
        write_document(w, meta, want, max_parts, marker)
    })
}

fn write_document(
    w: &mut Writer<'_>,
    meta: &ObjectMeta,
    want: Wanted,
    max_parts: usize,
    marker: u64,
) {
    let stored: Vec<(String, String)> = meta
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with(CHECKSUM_PREFIX))
        .cloned()
        .collect();
    if want.etag {
        // Unquoted here, unlike every other ETag S3 returns.
        w.text("ETag", &meta.etag);
    }
    let values: Vec<(String, String)> = stored
        .iter()
        .filter(|(n, _)| n != CHECKSUM_TYPE)
        .cloned()
        .collect();
    if want.checksum && !values.is_empty() {
        w.element("Checksum", |w| {
            write_checksums(w, &values);
            if let Some((_, t)) = stored.iter().find(|(n, _)| n == CHECKSUM_TYPE) {
                w.text("ChecksumType", t);
            }
        });
    }
    if let (true, Some((_, parts))) = (want.object_parts, meta.part_table()) {
        w.element("ObjectParts", |w| {
            write_parts(w, parts, !values.is_empty(), max_parts, marker);
        });
    }
    if want.storage_class {
        w.text(
            "StorageClass",
            crate::engine::class::class_name(&meta.attrs),
        );
    }
    if want.object_size {
        w.num("ObjectSize", meta.size);
    }
}

/// Inside `ObjectParts`; S3 lists the parts themselves only for an object
/// with an additional checksum.
fn write_parts(w: &mut Writer<'_>, parts: &[PartData], checksummed: bool, max: usize, marker: u64) {
    w.num("PartsCount", parts.len() as u64);
    w.num("PartNumberMarker", marker);
    let after: Vec<&PartData> = parts
        .iter()
        .filter(|p| u64::from(p.number) > marker)
        .collect();
    let page = &after[..after.len().min(max)];
    let truncated = after.len() > page.len();
    if let Some(last) = page.last() {
        w.num("NextPartNumberMarker", u64::from(last.number));
    }
    w.num("MaxParts", max as u64);
    w.boolean("IsTruncated", truncated);
    if checksummed {
        for p in page {
            w.element("Part", |w| {
                w.num("PartNumber", u64::from(p.number));
                w.num("Size", p.size);
                write_checksums(w, &p.checksums);
            });
        }
    }
}

pub fn get_object_attributes(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
) -> S3Result {
    let want = wanted(ctx.headers())?;
    let max_parts = int_header(ctx.headers(), "x-amz-max-parts")?
        .map_or(MAX_KEYS, |m| m.min(MAX_KEYS as u64) as usize);
    let marker = int_header(ctx.headers(), "x-amz-part-number-marker")?.unwrap_or(0);
    let supplied = super::sse::parse_read(
        ctx.headers(),
        crate::sse::customer::Which::Object,
        ctx.transport(),
    )?;
    let entry = read_version(ctx, bucket, key, version)?;
    // As S3: an SSE-C object's attributes need its key.
    super::sse::check_read(supplied, &entry.meta.attrs)?;
    let mut r = xml(StatusCode::OK, document(&entry, want, max_parts, marker));
    if let Ok(v) = HeaderValue::from_str(&http_date(entry.meta.modified_ms)) {
        r.headers_mut().insert(LAST_MODIFIED, v);
    }
    add_version_header(ctx, &mut r, bucket, entry.meta.sel());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[&str]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for x in v {
            m.append("x-amz-object-attributes", HeaderValue::from_str(x).unwrap());
        }
        m
    }

    #[test]
    fn attribute_names() {
        let w = wanted(&h(&["ETag, ObjectSize", "Checksum"])).unwrap();
        assert!(w.etag && w.object_size && w.checksum);
        assert!(!w.object_parts && !w.storage_class);
        for bad in [&[][..], &[""], &[" , "], &["etag"], &["ETag,Size"]] {
            assert_eq!(
                wanted(&h(bad)).unwrap_err().code,
                S3Code::InvalidArgument,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn checksum_elements() {
        assert_eq!(
            checksum_element("x-amz-checksum-crc64nvme").as_deref(),
            Some("ChecksumCRC64NVME")
        );
        assert_eq!(
            checksum_element("x-amz-checksum-sha256").as_deref(),
            Some("ChecksumSHA256")
        );
        assert_eq!(checksum_element("x-amz-checksum-type"), None);
    }
}
