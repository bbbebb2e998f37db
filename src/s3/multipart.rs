//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts and
//! ListMultipartUploads over the engine's uploads, with S3's checksums.
//!
//! Checksums follow AWS (checked against S3 by OpenStack Swift's s3api
//! functional tests, test/s3api/test_object_checksum.py): an upload may
//! declare an algorithm and a type. COMPOSITE (the default, except for
//! CRC64NVME) makes the object's checksum the checksum of the parts' raw
//! checksums, suffixed `-N`; every part must then carry that algorithm, and
//! Complete must name each part's value. FULL_OBJECT (CRC32, CRC32C,
//! CRC64NVME) makes it the CRC of the whole object, combined from the parts'
//! CRCs; a part sent without one gets it computed here. A part checksum of
//! another algorithm is refused. An upload without an algorithm takes parts
//! with any (verified and kept, as SDKs send CRC32 by default) and its object
//! has no checksum.

use http::header::{HeaderName, HeaderValue, ETAG};
use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;

use crate::auth::checksum::{checksum, crc_combine, ChecksumAlgo, ChecksumValue};
use crate::engine::index::UploadListing;
use crate::engine::meta::{PartData, UploadChecksum, UploadMeta};
use crate::engine::multipart::{ChosenPart, MAX_PARTS, MAX_PART_SIZE};
use crate::engine::EngineError;

use super::body::RequestBody;
use super::common::acl::acl_for_new_object;
use super::common::copy_source::{md5_of_etag, read_copy_source, CopyBody};
use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::expiration::{add_abort_date, add_written_expiration};
use super::common::metadata::put_options;
use super::common::preconditions::check_write_preconditions;
use super::common::response::{quoted_etag, status_only, xml, ResBody};
use super::common::version::add_version_header;
use super::conditional::{check_copy_source, write_condition, Outcome};
use super::error::{S3Code, S3Error};
use super::router::{format_version_id, CopySource, ListPartsParams, ListUploadsParams, UploadId};
use super::tenant::external_name;
use super::xml_multipart::{
    self as x, parse_complete_multipart_upload, ChecksumType, CompletedPart, ListPartsResponse,
    ListUploadsResponse,
};
use crate::engine::multipart::Completion;
use crate::notify::event::Action as EventAction;

/// Largest CompleteMultipartUpload document read: 10,000 parts with a
/// SHA-256 each, pretty-printed, fit in well under this.
const MAX_COMPLETE_BODY: usize = 8 << 20;

fn invalid_request(msg: impl Into<String>) -> S3Error {
    S3Error::new(S3Code::InvalidRequest, msg)
}

// ---------------------------------------------------------------------------
// Checksum rules (pure)
// ---------------------------------------------------------------------------

/// An upload's declared checksum, as S3 names it.
pub type Declared = (ChecksumAlgo, ChecksumType);

/// `x-amz-checksum-algorithm` and `x-amz-checksum-type` of
/// CreateMultipartUpload, with S3's defaults and refusals.
pub fn declared_checksum(headers: &HeaderMap) -> Result<Option<Declared>, S3Error> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("").trim());
    let kind = text("x-amz-checksum-type");
    let Some(algo) = text("x-amz-checksum-algorithm") else {
        return match kind {
            None => Ok(None),
            Some(_) => Err(invalid_request(
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
            )),
        };
    };
    let algo = ChecksumAlgo::from_algorithm_name(algo).ok_or_else(|| {
        invalid_request(
            "Checksum algorithm provided is unsupported. Please try again with any of the valid types: \
             [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
        )
    })?;
    let kind = match kind {
        None if algo == ChecksumAlgo::Crc64Nvme => ChecksumType::FullObject,
        None => ChecksumType::Composite,
        Some(k) if k.eq_ignore_ascii_case("COMPOSITE") => ChecksumType::Composite,
        Some(k) if k.eq_ignore_ascii_case("FULL_OBJECT") => ChecksumType::FullObject,
        Some(_) => {
            return Err(invalid_request(
                "Value for x-amz-checksum-type header is invalid.",
            ))
        }
    };
    let allowed = match kind {
        ChecksumType::Composite => algo != ChecksumAlgo::Crc64Nvme,
        ChecksumType::FullObject => algo.is_crc(),
    };
    if !allowed {
        return Err(invalid_request(format!(
            "The {} checksum type cannot be used with the {} checksum algorithm.",
            kind.as_str(),
            lower(algo)
        )));
    }
    Ok(Some((algo, kind)))
}

fn lower(algo: ChecksumAlgo) -> String {
    algo.algorithm_name().to_ascii_lowercase()
}

fn to_engine(d: Declared) -> UploadChecksum {
    UploadChecksum {
        algorithm: d.0.algorithm_name().to_owned(),
        full_object: d.1 == ChecksumType::FullObject,
    }
}

fn declared_of(meta: &UploadMeta) -> Option<Declared> {
    let c = meta.checksum.as_ref()?;
    let algo = ChecksumAlgo::from_algorithm_name(&c.algorithm)?;
    let kind = if c.full_object {
        ChecksumType::FullObject
    } else {
        ChecksumType::Composite
    };
    Some((algo, kind))
}

/// What UploadPart does about checksums: `sent` is the algorithm the client
/// protects the part with (header or trailer), `sdk` its
/// `x-amz-sdk-checksum-algorithm`. Returns the algorithm to compute here
/// (FULL_OBJECT parts sent without one).
pub fn part_checksum(
    upload: Option<Declared>,
    sent: Option<ChecksumAlgo>,
    sdk: Option<&str>,
) -> Result<Option<ChecksumAlgo>, S3Error> {
    if let (Some(sdk), Some(sent)) = (sdk, sent) {
        if ChecksumAlgo::from_algorithm_name(sdk.trim()) != Some(sent) {
            return Err(invalid_request(
                "Value for x-amz-sdk-checksum-algorithm header is invalid.",
            ));
        }
    }
    let Some((want, kind)) = upload else {
        return Ok(None);
    };
    match sent {
        Some(a) if a == want => Ok(None),
        None if kind == ChecksumType::FullObject => Ok(Some(want)),
        other => Err(invalid_request(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            lower(want),
            other.map_or("null".to_owned(), lower)
        ))),
    }
}

/// The part's stored value of `algo`.
fn stored_checksum(part: &PartData, algo: ChecksumAlgo) -> Option<ChecksumValue> {
    part.checksums
        .iter()
        .find(|(name, _)| name == algo.header_name())
        .and_then(|(_, v)| ChecksumValue::from_base64(algo, v))
}

/// The object's checksum from its parts' checksums and sizes, in order:
/// COMPOSITE is the checksum of the concatenated raw part checksums, then
/// `-N`; FULL_OBJECT the CRC of the whole object, combined from the parts'.
pub fn object_checksum(
    algo: ChecksumAlgo,
    kind: ChecksumType,
    parts: &[(ChecksumValue, u64)],
) -> Option<String> {
    match kind {
        ChecksumType::Composite => {
            let raw: Vec<u8> = parts
                .iter()
                .flat_map(|(v, _)| v.as_bytes())
                .copied()
                .collect();
            Some(format!(
                "{}-{}",
                checksum(algo, &raw).to_base64(),
                parts.len()
            ))
        }
        ChecksumType::FullObject => {
            let ((first, _), rest) = parts.split_first()?;
            rest.iter()
                .try_fold(*first, |acc, (v, len)| crc_combine(acc, *v, *len))
                .map(|v| v.to_base64())
        }
    }
}

/// Matches a client's object checksum (`x-amz-checksum-*` on Complete)
/// against ours; a composite value may omit its `-N`.
fn check_object_checksum(algo: ChecksumAlgo, sent: &str, ours: &str) -> Result<(), S3Error> {
    let invalid = || {
        invalid_request(format!(
            "Value for {} header is invalid.",
            algo.header_name()
        ))
    };
    let (value, count) = match sent.split_once('-') {
        Some((v, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (v, Some(n)),
        Some(_) => return Err(invalid()),
        None => (sent, None),
    };
    ChecksumValue::from_base64(algo, value).ok_or_else(invalid)?;
    let (our_value, our_count) = match ours.split_once('-') {
        Some((v, n)) => (v, Some(n)),
        None => (ours, None),
    };
    let count_ok = match (count, our_count) {
        (None, _) => true,
        (Some(n), Some(m)) => n.trim_start_matches('0') == m,
        (Some(_), None) => false,
    };
    if value != our_value || !count_ok {
        return Err(S3Error::new(
            S3Code::BadDigest,
            format!(
                "The {} you specified did not match the calculated checksum.",
                lower(algo)
            ),
        ));
    }
    Ok(())
}

/// Checks a Complete request's part checksums against what UploadPart
/// stored, and makes the headers the object keeps: its checksum and type,
/// when the upload declared an algorithm. A named part that was not
/// uploaded is left for the engine to report.
pub fn completion_checksum(
    upload: Option<Declared>,
    chosen: &[CompletedPart],
    stored: &[PartData],
    headers: &HeaderMap,
) -> Result<Vec<(String, String)>, S3Error> {
    let mut parts = Vec::with_capacity(chosen.len());
    for c in chosen {
        let Some(p) = stored
            .iter()
            .find(|p| p.number == c.part_number && p.etag.eq_ignore_ascii_case(&c.etag))
        else {
            return Ok(Vec::new());
        };
        for (algo, value) in &c.checksums {
            let Some(v) = ChecksumValue::from_base64(*algo, value) else {
                return Err(S3Error::new(
                    S3Code::InvalidArgument,
                    "Invalid Base64 or multiple checksums present in request",
                ));
            };
            if stored_checksum(p, *algo) != Some(v) {
                return Err(S3Error::from_code(S3Code::InvalidPart));
            }
        }
        parts.push((c, p));
    }
    let Some((algo, kind)) = upload else {
        return Ok(default_checksum(&parts));
    };
    if let Some(t) = headers.get("x-amz-checksum-type") {
        if !t
            .to_str()
            .is_ok_and(|t| t.trim().eq_ignore_ascii_case(kind.as_str()))
        {
            return Err(invalid_request(format!(
                "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                kind.as_str()
            )));
        }
    }
    let mut values = Vec::with_capacity(parts.len());
    for (c, p) in parts {
        if kind == ChecksumType::Composite && !c.checksums.iter().any(|(a, _)| *a == algo) {
            return Err(invalid_request(format!(
                "The upload was created using a {} checksum. The complete request must include the checksum for \
                 each part. It was missing for part {} in the request.",
                lower(algo),
                c.part_number
            )));
        }
        let v = stored_checksum(p, algo).ok_or_else(|| S3Error::from_code(S3Code::InvalidPart))?;
        values.push((v, p.size));
    }
    let value = object_checksum(algo, kind, &values)
        .ok_or_else(|| S3Error::from_code(S3Code::InternalError))?;
    for other in ChecksumAlgo::ALL {
        let Some(sent) = headers.get(other.header_name()) else {
            continue;
        };
        if other != algo {
            return Err(invalid_request(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                lower(algo),
                lower(other)
            )));
        }
        check_object_checksum(algo, sent.to_str().unwrap_or("").trim(), &value)?;
    }
    Ok(vec![
        (algo.header_name().to_owned(), value),
        ("x-amz-checksum-type".to_owned(), kind.as_str().to_owned()),
    ])
}

/// An upload without an algorithm completes to an object with S3's default
/// checksum, a FULL_OBJECT CRC64NVME combined from its parts', when every
/// part has one (parts are given one as they arrive).
fn default_checksum(parts: &[(&CompletedPart, &PartData)]) -> Vec<(String, String)> {
    let algo = ChecksumAlgo::Crc64Nvme;
    let values: Option<Vec<(ChecksumValue, u64)>> = parts
        .iter()
        .map(|(_, p)| stored_checksum(p, algo).map(|v| (v, p.size)))
        .collect();
    match values.and_then(|v| object_checksum(algo, ChecksumType::FullObject, &v)) {
        Some(value) => vec![
            (algo.header_name().to_owned(), value),
            (
                "x-amz-checksum-type".to_owned(),
                ChecksumType::FullObject.as_str().to_owned(),
            ),
        ],
        None => Vec::new(),
    }
}

/// `x-amz-copy-source-range: bytes=first-last` against a source of `size`
/// bytes, as `[first, last + 1)`.
pub fn copy_range(value: &str, size: u64) -> Result<(u64, u64), S3Error> {
    let malformed = || {
        S3Error::new(
            S3Code::InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are \
             the zero-based offsets of the first and last bytes to copy",
        )
    };
    let digits = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let spec = value.trim().strip_prefix("bytes=").ok_or_else(malformed)?;
    let (first, last) = spec.split_once('-').ok_or_else(malformed)?;
    let (first, last) = (
        digits(first).ok_or_else(malformed)?,
        digits(last).ok_or_else(malformed)?,
    );
    if first > last {
        return Err(malformed());
    }
    if last >= size {
        return Err(S3Error::new(
            S3Code::InvalidRange,
            format!("Range specified is not valid for source object of size: {size}"),
        ));
    }
    Ok((first, last + 1))
}

// ---------------------------------------------------------------------------
// ListMultipartUploads paging (pure over a fetch function)
// ---------------------------------------------------------------------------

/// A position in the (key, upload id) order; `None` as id means after
/// every upload of the key.
pub type After = Option<(String, Option<u128>)>;

/// One page of uploads and common prefixes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UploadsPage {
    pub uploads: Vec<UploadListing>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
}

/// The common prefix `key` rolls up into, if any.
fn common_prefix(key: &str, prefix: &str, delimiter: &str) -> Option<String> {
    if delimiter.is_empty() {
        return None;
    }
    let rest = key.strip_prefix(prefix)?;
    let end = rest.find(delimiter)? + delimiter.len();
    Some(format!("{prefix}{}", &rest[..end]))
}

/// A position after every key that starts with `p`: keys are at most 1,024
/// bytes, so none reaches `p` followed by 257 of the largest char.
fn past_prefix(p: &str) -> After {
    let mut k = p.to_owned();
    k.extend(std::iter::repeat_n(char::MAX, 257));
    Some((k, None))
}

/// Where a listing starts: after `(key-marker, upload-id-marker)`, or after
/// a whole common prefix when the key marker is one (a previous page's
/// NextKeyMarker).
pub fn start_after(
    key_marker: &str,
    id_marker: Option<u128>,
    prefix: &str,
    delimiter: &str,
) -> After {
    if key_marker.is_empty() {
        return None;
    }
    if id_marker.is_none()
        && common_prefix(key_marker, prefix, delimiter).as_deref() == Some(key_marker)
    {
        return past_prefix(key_marker);
    }
    Some((key_marker.to_owned(), id_marker))
}

/// Up to `max` uploads and common prefixes after `after`. `fetch(after,
/// limit)` gives the uploads under the prefix after a position, in order.
pub fn uploads_page<E>(
    mut fetch: impl FnMut(Option<(&str, Option<u128>)>, usize) -> Result<Vec<UploadListing>, E>,
    prefix: &str,
    delimiter: &str,
    mut after: After,
    max: usize,
) -> Result<UploadsPage, E> {
    let mut page = UploadsPage::default();
    if max == 0 {
        return Ok(page);
    }
    loop {
        let count = page.uploads.len() + page.prefixes.len();
        let want = max - count + 1;
        let batch = fetch(after.as_ref().map(|(k, u)| (k.as_str(), *u)), want)?;
        let n = batch.len();
        let mut seek = false;
        for u in batch {
            // Every item here is new: a prefix's other keys are skipped.
            if page.uploads.len() + page.prefixes.len() == max {
                page.truncated = true;
                return Ok(page);
            }
            match common_prefix(&u.key, prefix, delimiter) {
                Some(p) => {
                    after = past_prefix(&p);
                    page.prefixes.push(p);
                    seek = true;
                    break;
                }
                None => {
                    after = Some((u.key.clone(), Some(u.upload)));
                    page.uploads.push(u);
                }
            }
        }
        if !seek && n < want {
            return Ok(page);
        }
    }
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

fn insert(r: &mut Response<ResBody>, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        r.headers_mut().insert(n, v);
    }
}

pub async fn create_multipart_upload(ctx: &Ctx<'_>, bucket: &str, key: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    let mut opts = put_options(ctx.headers(), &ctx.engine.shared.classes)?;
    let requested = super::sse::for_write(ctx, bucket)?;
    // Kept with the upload until Complete, which stores its headers.
    opts.headers.extend(acl_for_new_object(ctx, bucket)?);
    opts.attrs =
        super::lock::write_attrs(ctx.engine, &ctx.authz, ctx.headers(), (bucket, key), true)?;
    let declared = declared_checksum(ctx.headers())?;
    // The upload's data key: its parts are sealed with it.
    let sealed =
        super::sse::seal_for(bucket, key, &requested, ctx.engine.deduplicates(bucket)).await?;
    let echo = sealed.as_ref().map(|s| s.echo.clone());
    if let Some(e) = echo.as_ref().filter(|e| e.bucket_key) {
        opts.headers
            .push((super::sse::BUCKET_KEY.to_owned(), e.bucket_key.to_string()));
    }
    opts.seal = sealed.map(|s| s.seal);
    let id = ctx
        .engine
        .create_upload(bucket, key, opts, declared.map(to_engine))
        .await?;
    let mut r = xml(
        StatusCode::OK,
        x::initiate_multipart_upload(external_name(bucket), key, &UploadId(id).to_string()),
    );
    // The date counts from the start the worker will count from (an index
    // read, only when the bucket has rules).
    if ctx.engine.with_bucket_lifecycle(bucket, |_| ()).is_some() {
        let up = ctx.engine.upload(bucket, key, id)?;
        add_abort_date(ctx, r.headers_mut(), bucket, key, up.meta.created_ms);
    }
    if let Some((algo, kind)) = declared {
        insert(&mut r, "x-amz-checksum-algorithm", algo.algorithm_name());
        insert(&mut r, "x-amz-checksum-type", kind.as_str());
    }
    if let Some(e) = &echo {
        e.add_to(r.headers_mut(), true);
    }
    Ok(r)
}

/// The upload's data key for a part, and the part's SSE response headers.
async fn part_key(
    bucket: &str,
    key: &str,
    up: &UploadMeta,
    supplied: Option<crate::sse::customer::CustomerKey>,
    sigv2: bool,
) -> Result<(Option<crate::sse::key::DataKey>, Option<super::sse::Echo>), S3Error> {
    let (dk, mut echo) = super::sse::upload_key(bucket, key, &up.attrs, supplied, sigv2).await?;
    if let Some(e) = echo.as_mut() {
        e.bucket_key = super::sse::stored_bucket_key(&up.headers);
    }
    Ok((dk, echo))
}

/// The response to a stored part: its ETag and checksums.
fn part_response(part: &PartData) -> Response<ResBody> {
    let mut r = status_only(StatusCode::OK);
    r.headers_mut().insert(ETAG, quoted_etag(&part.etag));
    for (name, value) in &part.checksums {
        insert(&mut r, name, value);
    }
    r
}

pub async fn upload_part(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    number: u32,
    upload: UploadId,
    body: Incoming,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let id = upload.0;
    let supplied = super::sse::parse_part(ctx.headers(), ctx.transport())?;
    let up = ctx.engine.upload(bucket, key, id)?;
    let (unseal, echo) = part_key(bucket, key, &up.meta, supplied, ctx.auth.sigv2).await?;
    let mut body = RequestBody::new(
        body,
        ctx.headers(),
        &ctx.auth,
        ctx.api.idle_timeout,
        MAX_PART_SIZE,
    )?;
    let compute = part_checksum(
        declared_of(&up.meta),
        body.declared_checksum(),
        ctx.header("x-amz-sdk-checksum-algorithm"),
    )?;
    if let Some(algo) = compute {
        body.compute(algo);
    }
    if declared_of(&up.meta).is_none() {
        // For the object's default FULL_OBJECT CRC64NVME at completion.
        body.compute(ChecksumAlgo::Crc64Nvme);
    }
    match ctx
        .engine
        .put_part(bucket, key, id, number, &mut body, unseal)
        .await
    {
        Ok(part) => {
            let mut r = part_response(&part);
            if let Some(e) = &echo {
                e.add_to(r.headers_mut(), false);
            }
            Ok(r)
        }
        Err(e) => {
            let err = body.take_error().unwrap_or_else(|| e.into());
            body.drain().await;
            Err(err)
        }
    }
}

pub async fn upload_part_copy(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    number: u32,
    upload: UploadId,
    source: &CopySource,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let id = upload.0;
    let supplied = super::sse::parse_part(ctx.headers(), ctx.transport())?;
    let up = ctx.engine.upload(bucket, key, id)?;
    let src_version = source.version;
    let source_key = super::sse::parse_read(
        ctx.headers(),
        crate::sse::customer::Which::CopySource,
        ctx.transport(),
    )?;
    // Registered before the lookup: compaction keeps what it points to.
    let guard = ctx.engine.begin_read();
    let src = read_copy_source(ctx, &source.bucket, &source.key, src_version)?;
    let access = super::sse::check_read(source_key, &src.meta.attrs)?;
    let (seal_key, echo) = part_key(bucket, key, &up.meta, supplied, ctx.auth.sigv2).await?;
    if check_copy_source(ctx.headers(), &src.meta.etag, src.meta.modified_ms) != Outcome::Proceed {
        return Err(S3Error::from_code(S3Code::PreconditionFailed));
    }
    let size = src.meta.size;
    let range = match ctx.headers().get("x-amz-copy-source-range") {
        None => None,
        Some(v) => Some(copy_range(v.to_str().unwrap_or(""), size)?),
    };
    let (start, end) = range.unwrap_or((0, size));
    if end - start > MAX_PART_SIZE {
        return Err(invalid_request(format!(
            "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PART_SIZE}"
        )));
    }
    // The source's MD5 is the part's only when the whole of a single-part
    // object is copied.
    // (An SSE-C source's ETag is keyed, not its MD5.)
    let md5 = (start == 0 && end == size && !access.is_customer())
        .then(|| md5_of_etag(&src.meta.etag))
        .flatten();
    let declared = declared_of(&up.meta);
    let unseal = access
        .data_key(&source.bucket, &source.key, ctx.auth.sigv2)
        .await?;
    let reader = ctx
        .engine
        .open_reader(
            guard,
            &source.bucket,
            &source.key,
            src,
            Some((start, end)),
            unseal,
        )
        .await?;
    let algo = declared.map_or(ChecksumAlgo::Crc64Nvme, |(a, _)| a);
    let mut body = CopyBody::new(reader, md5, Some(algo));
    let part = match ctx
        .engine
        .put_part(bucket, key, id, number, &mut body, seal_key)
        .await
    {
        Ok(p) => p,
        Err(e) => return Err(body.take_error().unwrap_or_else(|| e.into())),
    };
    let checksum =
        declared.and_then(|(a, _)| stored_checksum(&part, a).map(|v| (a, v.to_base64())));
    let mut r = xml(
        StatusCode::OK,
        x::copy_part_result(
            &part.etag,
            part.modified_ms,
            checksum.as_ref().map(|(a, v)| (*a, v.as_str())),
        ),
    );
    if let Some(v) = src_version {
        if let Ok(h) = http::HeaderValue::from_str(&format_version_id(v)) {
            r.headers_mut().insert("x-amz-copy-source-version-id", h);
        }
    }
    if let Some(e) = &echo {
        e.add_to(r.headers_mut(), false);
    }
    Ok(r)
}

/// The object's URL, for `<Location>`: how the client addressed it.
fn location(ctx: &Ctx<'_>) -> String {
    let host = ctx
        .header(http::header::HOST.as_str())
        .unwrap_or("localhost");
    format!("{}://{host}{}", ctx.api.scheme, ctx.parts.uri.path())
}

pub async fn complete_multipart_upload(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    upload: UploadId,
    body: Incoming,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let id = upload.0;
    let doc = RequestBody::ignoring_checksum_headers(
        body,
        ctx.headers(),
        &ctx.auth,
        ctx.api.idle_timeout,
        MAX_COMPLETE_BODY as u64,
    )?
    .read_to_end(MAX_COMPLETE_BODY)
    .await?;
    let up = match ctx.engine.upload(bucket, key, id) {
        Err(EngineError::NoSuchUpload) => return completed_before(ctx, bucket, key, id, &doc),
        r => r?,
    };
    let chosen = parse_complete_multipart_upload(&doc)?;
    check_write_preconditions(ctx, bucket, key)?;
    let stored = ctx
        .engine
        .upload_parts(bucket, key, id, 0, MAX_PARTS as usize)?;
    let declared = declared_of(&up.meta);
    let headers = completion_checksum(declared, &chosen, &stored, ctx.headers())?;
    if let Some(v) = ctx.headers().get("x-amz-mp-object-size") {
        let want = v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok());
        let size: u64 = chosen
            .iter()
            .filter_map(|c| stored.iter().find(|p| p.number == c.part_number))
            .map(|p| p.size)
            .sum();
        if want != Some(size) {
            return Err(invalid_request(
                "The value of x-amz-mp-object-size does not match the size of the parts named.",
            ));
        }
    }
    let parts = chosen
        .iter()
        .map(|c| ChosenPart {
            number: c.part_number,
            etag: c.etag.clone(),
        })
        .collect();
    let seal = match ctx.engine.deduplicates(bucket) {
        true => super::sse::shared_seal(bucket, &up.meta.attrs).await?,
        false => None,
    };
    let info = match ctx
        .engine
        .complete_upload_with(
            bucket,
            key,
            id,
            Completion {
                parts,
                headers: headers.clone(),
                condition: write_condition(ctx.headers()),
                origin: ctx.origin(bucket, EventAction::CompleteMultipartUpload),
                seal,
            },
        )
        .await
    {
        // A concurrent Complete of the same upload won.
        Err(EngineError::NoSuchUpload) => return completed_before(ctx, bucket, key, id, &doc),
        r => r?,
    };
    let checksum = declared
        .or_else(|| {
            (!headers.is_empty()).then_some((ChecksumAlgo::Crc64Nvme, ChecksumType::FullObject))
        })
        .zip(headers.first())
        .map(|((algo, kind), (_, value))| (algo, value.as_str(), kind));
    let mut r = xml(
        StatusCode::OK,
        x::complete_multipart_upload_result(
            &location(ctx),
            external_name(bucket),
            key,
            &info.etag,
            checksum,
        ),
    );
    add_version_header(ctx, &mut r, bucket, info.sel);
    add_written_expiration(
        ctx,
        r.headers_mut(),
        (bucket, key),
        &info,
        Some(&up.meta.tags),
    );
    super::sse::add_completion_headers(r.headers_mut(), &up.meta.attrs, &up.meta.headers)?;
    Ok(r)
}

/// A Complete retried after it succeeded (its answer lost on the way, say)
/// gets the same answer while the object it made is the key's current
/// version; anything else about an upload that is gone is NoSuchUpload.
fn completed_before(ctx: &Ctx<'_>, bucket: &str, key: &str, id: u128, doc: &[u8]) -> S3Result {
    let gone = || S3Error::from_code(S3Code::NoSuchUpload);
    let chosen = parse_complete_multipart_upload(doc).map_err(|_| gone())?;
    let entry = ctx.engine.head(bucket, key).map_err(|_| gone())?;
    let Some((upload, parts)) = entry.meta.part_table() else {
        return Err(gone());
    };
    let same = upload == id
        && parts.len() == chosen.len()
        && parts
            .iter()
            .zip(&chosen)
            .all(|(p, c)| p.number == c.part_number && p.etag.eq_ignore_ascii_case(&c.etag));
    if !same {
        return Err(gone());
    }
    let headers = &entry.meta.headers;
    let kind = headers
        .iter()
        .find(|(n, _)| n == "x-amz-checksum-type")
        .and_then(|(_, v)| match v.as_str() {
            "COMPOSITE" => Some(ChecksumType::Composite),
            "FULL_OBJECT" => Some(ChecksumType::FullObject),
            _ => None,
        });
    let checksum = headers.iter().find_map(|(n, v)| {
        let algo = ChecksumAlgo::from_header_name(n)?;
        Some((algo, v.as_str(), kind?))
    });
    let mut r = xml(
        StatusCode::OK,
        x::complete_multipart_upload_result(
            &location(ctx),
            external_name(bucket),
            key,
            &entry.meta.etag,
            checksum,
        ),
    );
    super::sse::add_completion_headers(r.headers_mut(), &entry.meta.attrs, &entry.meta.headers)?;
    Ok(r)
}

pub async fn abort_multipart_upload(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    upload: UploadId,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let id = upload.0;
    ctx.engine.abort_upload(bucket, key, id).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

pub fn list_parts(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    upload: UploadId,
    p: &ListPartsParams,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    let id = upload.0;
    let up = ctx.engine.upload(bucket, key, id)?;
    let marker = p.part_number_marker;
    let max = p.max_parts.limit;
    let mut parts = if max == 0 {
        Vec::new()
    } else {
        ctx.engine.upload_parts(bucket, key, id, marker, max + 1)?
    };
    let is_truncated = parts.len() > max;
    parts.truncate(max);
    let declared = declared_of(&up.meta);
    let entries = parts
        .iter()
        .map(|p| x::PartEntry {
            part_number: p.number,
            last_modified_ms: p.modified_ms,
            etag: p.etag.clone(),
            size: p.size,
            checksum: declared.and_then(|(a, _)| stored_checksum(p, a).map(|v| (a, v.to_base64()))),
        })
        .collect();
    let r = ListPartsResponse {
        bucket: external_name(bucket).to_owned(),
        key: key.to_owned(),
        upload_id: upload.to_string(),
        part_number_marker: marker,
        next_part_number_marker: parts.last().map_or(marker, |p| p.number),
        max_parts: max as u64,
        is_truncated,
        parts: entries,
        initiator: ctx.api.owner.clone(),
        owner: ctx.api.owner.clone(),
        checksum_algorithm: declared.map(|d| d.0),
        checksum_type: declared.map(|d| d.1),
        class: listed_class(&up.meta.attrs),
    };
    let mut out = xml(StatusCode::OK, x::list_parts(&r));
    add_abort_date(ctx, out.headers_mut(), bucket, key, up.meta.created_ms);
    Ok(out)
}

/// An upload's class for a listing: None for STANDARD.
fn listed_class(attrs: &[crate::engine::meta::Attr]) -> Option<String> {
    crate::engine::class::class_attr(attrs).map(|c| c.name.clone())
}

pub fn list_multipart_uploads(ctx: &Ctx<'_>, bucket: &str, p: &ListUploadsParams) -> S3Result {
    require_bucket(ctx, bucket)?;
    let prefix = p.prefix.as_deref().unwrap_or("");
    let delimiter = p.delimiter.as_deref().unwrap_or("");
    let key_marker = p.key_marker.as_str();
    let max = p.max_uploads.limit;
    let id_after = p.after_upload.map(|u| u.0);
    let after = start_after(key_marker, id_after, prefix, delimiter);
    let page = uploads_page(
        |after, limit| ctx.engine.list_uploads(bucket, prefix, after, limit),
        prefix,
        delimiter,
        after,
        max,
    )?;
    let (next_key, next_id) = match (page.uploads.last(), page.prefixes.last()) {
        (Some(u), Some(p)) if *p > u.key => (p.clone(), String::new()),
        (Some(u), _) => (u.key.clone(), UploadId(u.upload).to_string()),
        (None, Some(p)) => (p.clone(), String::new()),
        (None, None) => (String::new(), String::new()),
    };
    let mut uploads = Vec::with_capacity(page.uploads.len());
    for u in &page.uploads {
        // The listing has no checksum or class; the upload record does.
        let up = ctx.engine.upload(bucket, &u.key, u.upload).ok();
        let declared = up.as_ref().and_then(|e| declared_of(&e.meta));
        let class = up.as_ref().and_then(|e| listed_class(&e.meta.attrs));
        uploads.push(x::UploadEntry {
            key: u.key.clone(),
            upload_id: UploadId(u.upload).to_string(),
            initiator: ctx.api.owner.clone(),
            owner: ctx.api.owner.clone(),
            initiated_ms: u.created_ms,
            checksum_algorithm: declared.map(|d| d.0),
            checksum_type: declared.map(|d| d.1),
            class,
        });
    }
    let r = ListUploadsResponse {
        bucket: external_name(bucket).to_owned(),
        key_marker: key_marker.to_owned(),
        upload_id_marker: p.upload_id_marker.clone(),
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        prefix: prefix.to_owned(),
        delimiter: delimiter.to_owned(),
        max_uploads: max as u64,
        is_truncated: page.truncated,
        encoding_type_url: p.encoding_url,
        uploads,
        common_prefixes: page.prefixes,
    };
    Ok(xml(StatusCode::OK, x::list_multipart_uploads(&r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn msg(r: Result<impl std::fmt::Debug, S3Error>) -> (S3Code, String) {
        let e = r.unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn declared_checksum_defaults_and_refusals() {
        use ChecksumAlgo::*;
        use ChecksumType::*;
        let d = |pairs: &[(&str, &str)]| declared_checksum(&h(pairs));
        assert_eq!(d(&[]).unwrap(), None);
        assert_eq!(
            d(&[("x-amz-checksum-algorithm", "CRC32")]).unwrap(),
            Some((Crc32, Composite))
        );
        assert_eq!(
            d(&[("x-amz-checksum-algorithm", "sha256")]).unwrap(),
            Some((Sha256, Composite))
        );
        assert_eq!(
            d(&[("x-amz-checksum-algorithm", "CRC64NVME")]).unwrap(),
            Some((Crc64Nvme, FullObject))
        );
        assert_eq!(
            d(&[
                ("x-amz-checksum-algorithm", "CRC32C"),
                ("x-amz-checksum-type", "FULL_OBJECT")
            ])
            .unwrap(),
            Some((Crc32c, FullObject))
        );
        assert_eq!(
            msg(d(&[("x-amz-checksum-type", "COMPOSITE")])).1,
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
        );
        assert_eq!(
            msg(d(&[("x-amz-checksum-algorithm", "MD5")])).0,
            S3Code::InvalidRequest
        );
        assert_eq!(
            msg(d(&[
                ("x-amz-checksum-algorithm", "CRC32"),
                ("x-amz-checksum-type", "BAD")
            ]))
            .1,
            "Value for x-amz-checksum-type header is invalid."
        );
        assert_eq!(
            msg(d(&[
                ("x-amz-checksum-algorithm", "CRC64NVME"),
                ("x-amz-checksum-type", "COMPOSITE")
            ]))
            .1,
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
        );
        assert_eq!(
            msg(d(&[
                ("x-amz-checksum-algorithm", "SHA1"),
                ("x-amz-checksum-type", "FULL_OBJECT")
            ]))
            .1,
            "The FULL_OBJECT checksum type cannot be used with the sha1 checksum algorithm."
        );
    }

    #[test]
    fn part_checksum_rules() {
        use ChecksumAlgo::*;
        use ChecksumType::*;
        assert_eq!(part_checksum(None, None, None).unwrap(), None);
        assert_eq!(
            part_checksum(None, Some(Crc32), Some("CRC32")).unwrap(),
            None
        );
        assert_eq!(
            part_checksum(Some((Crc32, Composite)), Some(Crc32), None).unwrap(),
            None
        );
        assert_eq!(
            part_checksum(Some((Crc32c, FullObject)), None, None).unwrap(),
            Some(Crc32c),
            "a FULL_OBJECT part without a checksum gets one computed"
        );
        assert_eq!(
            msg(part_checksum(Some((Sha1, Composite)), None, None)).1,
            "Checksum Type mismatch occurred, expected checksum Type: sha1, actual checksum Type: null"
        );
        assert_eq!(
            msg(part_checksum(Some((Crc32, FullObject)), Some(Crc32c), None)).1,
            "Checksum Type mismatch occurred, expected checksum Type: crc32, actual checksum Type: crc32c"
        );
        assert_eq!(
            msg(part_checksum(None, Some(Crc32), Some("SHA1"))).1,
            "Value for x-amz-sdk-checksum-algorithm header is invalid."
        );
    }

    /// Swift's s3api tests, checked against AWS: the body `123456789` as one
    /// part gives these composite values.
    #[test]
    fn composite_values_match_aws() {
        let body = b"123456789";
        for (algo, want) in [
            (ChecksumAlgo::Crc32, "7kxlUA==-1"),
            (ChecksumAlgo::Crc32c, "pzJFoA==-1"),
            (ChecksumAlgo::Sha1, "zGcEPHvP9e6lVmvZsfPHT9mlz10=-1"),
            (
                ChecksumAlgo::Sha256,
                "KSsNAHVmgy25S/rmic1w0at3KBH9RLn0nYVQ7p6mpJQ=-1",
            ),
        ] {
            let part = checksum(algo, body);
            assert_eq!(
                object_checksum(algo, ChecksumType::Composite, &[(part, 9)]).unwrap(),
                want
            );
        }
        let full = object_checksum(
            ChecksumAlgo::Crc64Nvme,
            ChecksumType::FullObject,
            &[(checksum(ChecksumAlgo::Crc64Nvme, body), 9)],
        );
        assert_eq!(full.as_deref(), Some("rosUhgp5mIg="));
    }

    #[test]
    fn full_object_value_is_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let cuts = [0, 40_000, 80_000, 99_999, 100_000];
        for algo in [
            ChecksumAlgo::Crc32,
            ChecksumAlgo::Crc32c,
            ChecksumAlgo::Crc64Nvme,
        ] {
            let parts: Vec<(ChecksumValue, u64)> = cuts
                .windows(2)
                .map(|w| (checksum(algo, &data[w[0]..w[1]]), (w[1] - w[0]) as u64))
                .collect();
            assert_eq!(
                object_checksum(algo, ChecksumType::FullObject, &parts).unwrap(),
                checksum(algo, &data).to_base64(),
                "{algo:?}"
            );
        }
        let sha = checksum(ChecksumAlgo::Sha1, b"x");
        assert_eq!(
            object_checksum(
                ChecksumAlgo::Sha1,
                ChecksumType::FullObject,
                &[(sha, 1), (sha, 1)]
            ),
            None
        );
    }

    fn part(n: u32, data: &[u8], algos: &[ChecksumAlgo]) -> PartData {
        PartData {
            number: n,
            size: data.len() as u64,
            etag: format!("e{n}"),
            checksums: algos
                .iter()
                .map(|a| (a.header_name().to_owned(), checksum(*a, data).to_base64()))
                .collect(),
            modified_ms: 0,
            rotation: 0,
            stripes: Vec::new(),
        }
    }

    fn named(n: u32, sums: &[(ChecksumAlgo, String)]) -> CompletedPart {
        CompletedPart {
            part_number: n,
            etag: format!("e{n}"),
            checksums: sums.to_vec(),
        }
    }

    #[test]
    fn completion_checks_part_checksums_and_makes_the_object_checksum() {
        use ChecksumAlgo::*;
        let (a, b) = (b"first part".as_slice(), b"second".as_slice());
        let stored = [part(1, a, &[Crc32]), part(2, b, &[Crc32])];
        let c = |d: &[u8]| (Crc32, checksum(Crc32, d).to_base64());
        let chosen = [named(1, &[c(a)]), named(2, &[c(b)])];
        let composite = Some((Crc32, ChecksumType::Composite));
        let got = completion_checksum(composite, &chosen, &stored, &HeaderMap::new()).unwrap();
        let raw = [checksum(Crc32, a).as_bytes(), checksum(Crc32, b).as_bytes()].concat();
        let want = format!("{}-2", checksum(Crc32, &raw).to_base64());
        assert_eq!(got[0], ("x-amz-checksum-crc32".to_owned(), want.clone()));
        assert_eq!(got[1].1, "COMPOSITE");
        // The client's own value, with or without its suffix.
        let base = want.split('-').next().unwrap().to_owned();
        for sent in [want.as_str(), base.as_str()] {
            let hs = h(&[("x-amz-checksum-crc32", sent)]);
            assert!(
                completion_checksum(composite, &chosen, &stored, &hs).is_ok(),
                "{sent}"
            );
        }
        let bad = |pairs: &[(&str, &str)], chosen: &[CompletedPart]| {
            msg(completion_checksum(composite, chosen, &stored, &h(pairs)))
        };
        let wrong_count = format!("{base}-3");
        assert_eq!(
            bad(&[("x-amz-checksum-crc32", &wrong_count)], &chosen).0,
            S3Code::BadDigest
        );
        assert_eq!(
            bad(&[("x-amz-checksum-crc32", "AAAAAA==")], &chosen).0,
            S3Code::BadDigest
        );
        let letters = format!("{base}-a");
        assert_eq!(
            bad(&[("x-amz-checksum-crc32", &letters)], &chosen).1,
            "Value for x-amz-checksum-crc32 header is invalid."
        );
        assert_eq!(
            bad(&[("x-amz-checksum-sha1", "x")], &chosen).0,
            S3Code::InvalidRequest
        );
        assert_eq!(
            bad(&[("x-amz-checksum-type", "FULL_OBJECT")], &chosen).0,
            S3Code::InvalidRequest
        );
        // Part checksums: missing, not base64, wrong.
        assert_eq!(
            bad(&[], &[named(1, &[c(a)]), named(2, &[])]).1,
            "The upload was created using a crc32 checksum. The complete request must include the checksum \
             for each part. It was missing for part 2 in the request."
        );
        assert_eq!(
            bad(&[], &[named(1, &[(Crc32, "!!".into())])]).0,
            S3Code::InvalidArgument
        );
        assert_eq!(bad(&[], &[named(1, &[c(b)])]).0, S3Code::InvalidPart);
        // FULL_OBJECT needs no part values, and no checksum: nothing kept.
        let full = Some((Crc32, ChecksumType::FullObject));
        let plain = [named(1, &[]), named(2, &[])];
        let got = completion_checksum(full, &plain, &stored, &HeaderMap::new()).unwrap();
        let whole = [a, b].concat();
        assert_eq!(got[0].1, checksum(Crc32, &whole).to_base64());
        assert!(
            completion_checksum(None, &plain, &stored, &HeaderMap::new())
                .unwrap()
                .is_empty()
        );
        // A part that was not uploaded is the engine's to report.
        assert!(
            completion_checksum(composite, &[named(7, &[])], &stored, &HeaderMap::new())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn copy_ranges() {
        assert_eq!(copy_range("bytes=0-9", 10).unwrap(), (0, 10));
        assert_eq!(copy_range("bytes=5-5", 10).unwrap(), (5, 6));
        for bad in [
            "",
            "bytes=",
            "bytes=1-",
            "bytes=-5",
            "bytes=5-1",
            "items=0-1",
            "bytes=0-1,2-3",
            "bytes= 0-1",
        ] {
            assert_eq!(
                copy_range(bad, 10).unwrap_err().code,
                S3Code::InvalidArgument,
                "{bad:?}"
            );
        }
        let past = copy_range("bytes=0-10", 10).unwrap_err();
        assert_eq!(past.code, S3Code::InvalidRange);
        assert_eq!(
            past.message,
            "Range specified is not valid for source object of size: 10"
        );
        assert!(copy_range("bytes=0-99999999999999999999999", 10).is_err());
    }

    fn listing(keys: &[(&str, u128)]) -> Vec<UploadListing> {
        keys.iter()
            .map(|(k, u)| UploadListing {
                key: (*k).to_owned(),
                upload: *u,
                created_ms: 0,
            })
            .collect()
    }

    /// The engine's contract, over a sorted list.
    fn fetch(
        all: &[UploadListing],
        prefix: &str,
        after: Option<(&str, Option<u128>)>,
        limit: usize,
    ) -> Result<Vec<UploadListing>, ()> {
        Ok(all
            .iter()
            .filter(|u| u.key.starts_with(prefix))
            .filter(|u| match after {
                None => true,
                Some((k, Some(id))) => (u.key.as_str(), u.upload) > (k, id),
                Some((k, None)) => u.key.as_str() > k,
            })
            .take(limit)
            .cloned()
            .collect())
    }

    #[test]
    fn upload_pages_roll_up_prefixes_and_resume() {
        let all = listing(&[
            ("a", 1),
            ("a", 2),
            ("d/1", 3),
            ("d/2", 4),
            ("d/3", 5),
            ("e", 6),
            ("f/x/y", 7),
            ("g", 8),
        ]);
        let keys = |p: &UploadsPage| -> Vec<String> {
            p.uploads
                .iter()
                .map(|u| format!("{}:{}", u.key, u.upload))
                .collect()
        };
        let p = uploads_page(|a, l| fetch(&all, "", a, l), "", "/", None, 1000).unwrap();
        assert_eq!(keys(&p), ["a:1", "a:2", "e:6", "g:8"]);
        assert_eq!(p.prefixes, ["d/", "f/"]);
        assert!(!p.truncated);
        // Pages of three items, resuming as a client would.
        let p = uploads_page(|a, l| fetch(&all, "", a, l), "", "/", None, 3).unwrap();
        assert_eq!(
            (keys(&p), p.prefixes.clone(), p.truncated),
            (vec!["a:1".into(), "a:2".into()], vec!["d/".into()], true)
        );
        let p = uploads_page(
            |a, l| fetch(&all, "", a, l),
            "",
            "/",
            start_after("d/", None, "", "/"),
            3,
        )
        .unwrap();
        assert_eq!(
            (keys(&p), p.prefixes.clone(), p.truncated),
            (vec!["e:6".into(), "g:8".into()], vec!["f/".into()], false)
        );
        // Id markers, prefixes, no delimiter.
        let p = uploads_page(
            |a, l| fetch(&all, "", a, l),
            "",
            "",
            start_after("a", Some(1), "", ""),
            2,
        )
        .unwrap();
        assert_eq!(
            (keys(&p), p.truncated),
            (vec!["a:2".into(), "d/1:3".into()], true)
        );
        let p = uploads_page(|a, l| fetch(&all, "d/", a, l), "d/", "/", None, 10).unwrap();
        assert_eq!(keys(&p), ["d/1:3", "d/2:4", "d/3:5"]);
        let p = uploads_page(|a, l| fetch(&all, "", a, l), "", "/", None, 0).unwrap();
        assert_eq!(p, UploadsPage::default());
        // Exactly a full page: not truncated.
        let p = uploads_page(|a, l| fetch(&all, "", a, l), "", "", None, all.len()).unwrap();
        assert!(!p.truncated && p.uploads.len() == all.len());
    }
}
