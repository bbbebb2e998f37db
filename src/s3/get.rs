//! GetObject and HeadObject: object headers, ranges, parts (`partNumber`),
//! checksums (`x-amz-checksum-mode`), conditional reads and a response body
//! streamed from the engine's reader.

use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Frame, SizeHint};

use crate::engine::meta::IndexEntry;
use crate::engine::read::ObjectReader;
use crate::engine::VersionSel;
use crate::lifecycle::ObjectFacts;

use super::common::acl::is_internal_header;
use super::common::ctx::{Ctx, S3Result};
use super::common::expiration::add_expiration;
use super::common::metadata::{add_tagging_count, header_bytes, CHECKSUM_PREFIX, CHECKSUM_TYPE};
use super::common::response::{empty, quoted_etag, status_only, ResBody};
use super::common::version::{add_version_header, read_version};
use super::conditional::{check_read, Outcome};
use super::error::{S3Code, S3Error};
use super::range::{content_range, content_range_unsatisfied, parse_range};
use super::router::ResponseOverrides;
use super::tenant::external_name;
use super::xml::http_date;

const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// The headers describing a stored object (GET, HEAD, 304).
fn object_headers(r: &mut Response<ResBody>, entry: &IndexEntry) {
    let meta = &entry.meta;
    let h = r.headers_mut();
    h.insert(header::ETAG, quoted_etag(&meta.etag));
    if let Ok(v) = HeaderValue::from_str(&http_date(meta.modified_ms)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
}

fn content_headers(r: &mut Response<ResBody>, entry: &IndexEntry) {
    let meta = &entry.meta;
    let h = r.headers_mut();
    let ct = meta
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_bytes(&header_bytes(c)).ok())
        .unwrap_or_else(|| HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
    h.insert(header::CONTENT_TYPE, ct);
    // As S3: sent for every class but STANDARD.
    let class = crate::engine::class::class_name(&meta.attrs);
    if class != crate::engine::class::STANDARD {
        if let Ok(v) = HeaderValue::from_str(class) {
            h.insert("x-amz-storage-class", v);
        }
    }
    for (name, value) in &meta.headers {
        if name.starts_with(CHECKSUM_PREFIX) || is_internal_header(name) {
            continue;
        }
        // Stored values came from request headers; skip any that could not
        // be sent back rather than failing the read.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(&header_bytes(value)),
        ) {
            h.insert(n, v);
        }
    }
    for (name, value) in &meta.user_meta {
        let full = format!("x-amz-meta-{name}");
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(full.as_bytes()),
            HeaderValue::from_bytes(&header_bytes(value)),
        ) {
            h.insert(n, v);
        }
    }
}

/// `x-amz-checksum-mode: ENABLED`.
fn checksum_mode(ctx: &Ctx<'_>) -> Result<bool, S3Error> {
    match ctx.headers().get("x-amz-checksum-mode") {
        None => Ok(false),
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"ENABLED") => Ok(true),
        Some(_) => Err(S3Error::new(
            S3Code::InvalidRequest,
            "Value for x-amz-checksum-mode header is invalid.",
        )),
    }
}

/// The checksum headers of a read in checksum mode: the object's own for
/// the whole object, part `n`'s value of the same algorithm for a part.
/// A range that is not the whole object has none, as on S3.
fn checksum_headers(entry: &IndexEntry, part: Option<u32>) -> Vec<(String, String)> {
    let stored = entry
        .meta
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with(CHECKSUM_PREFIX));
    let Some(n) = part else {
        return stored.cloned().collect();
    };
    let Some((_, parts)) = entry.meta.part_table() else {
        return stored.cloned().collect();
    };
    let mut out = Vec::new();
    for (name, value) in stored {
        if name == CHECKSUM_TYPE {
            out.push((name.clone(), value.clone()));
        } else if let Some(c) = parts
            .iter()
            .find(|p| p.number == n)
            .and_then(|p| p.checksums.iter().find(|(pn, _)| pn == name))
        {
            out.push(c.clone());
        }
    }
    out
}

pub async fn get_object(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
    part_number: Option<u32>,
    overrides: &ResponseOverrides,
    head: bool,
) -> S3Result {
    let checksums = checksum_mode(ctx)?;
    super::sse::reject_mode_headers(ctx.headers())?;
    let supplied = super::sse::parse_read(
        ctx.headers(),
        crate::sse::customer::Which::Object,
        ctx.transport(),
    )?;
    if part_number.is_some() && ctx.headers().contains_key(header::RANGE) {
        return Err(S3Error::new(
            S3Code::InvalidRequest,
            "Cannot specify both Range header and partNumber query parameter",
        ));
    }
    // Registered before the lookup: compaction keeps what it points to.
    let guard = ctx.engine.begin_read();
    let by_version = version.is_some();
    let entry = read_version(ctx, bucket, key, version)?;
    // A version under SSE-C is not described, even by HEAD, without its key.
    let access = super::sse::check_read(supplied, &entry.meta.attrs)?;
    let size = entry.meta.size;
    // A part is served as a range of the object; a single-part object has
    // just part 1, the whole of it.
    let part = match part_number {
        None => None,
        Some(n) => match entry.meta.part_range(n) {
            Some((count, start, end)) => Some((start, end, Some(count))),
            None if n == 1 && entry.meta.parts_count().is_none() => Some((0, size, None)),
            None => return Err(S3Error::from_code(S3Code::InvalidPartNumber)),
        },
    };

    match check_read(ctx.headers(), &entry.meta.etag, entry.meta.modified_ms) {
        Outcome::Proceed => {}
        Outcome::NotModified => {
            let mut r = status_only(StatusCode::NOT_MODIFIED);
            object_headers(&mut r, &entry);
            add_version_header(ctx, &mut r, bucket, entry.meta.sel());
            return Ok(r);
        }
        Outcome::PreconditionFailed => return Err(S3Error::from_code(S3Code::PreconditionFailed)),
    }

    // What to read, and whether that is a 206 with a Content-Range.
    let (span, partial) = match (part, ctx.header(header::RANGE.as_str())) {
        // An empty part has no byte to name in a Content-Range.
        (Some((start, end, _)), _) => (Some((start, end)), start < end),
        (None, None) => (None, false),
        (None, Some(h)) => match parse_range(h, size) {
            Ok(r) => (r, r.is_some()),
            Err(_) => {
                let mut e = S3Error::from_code(S3Code::InvalidRange)
                    .with_resource(format!("/{}/{key}", external_name(bucket)));
                if let Ok(v) = HeaderValue::from_str(&content_range_unsatisfied(size)) {
                    e = e.with_header(header::CONTENT_RANGE, v);
                }
                return Err(e);
            }
        },
    };
    let (start, end) = span.unwrap_or((0, size));
    let len = end.saturating_sub(start);
    let status = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };

    let body = if head {
        empty()
    } else {
        let unseal = access.data_key(bucket, key, ctx.auth.sigv2).await?;
        let mut reader = ctx
            .engine
            .open_reader(guard, bucket, key, entry.clone(), span, unseal)
            .await?;
        // Read the first piece before answering, so a read that fails at
        // once (drives missing) is a proper error, not a truncated 200.
        let first = match reader.next_chunk().await {
            None => None,
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => return Err(e.into()),
        };
        Box::pin(ObjectBody::new(first, reader, len)) as ResBody
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    object_headers(&mut r, &entry);
    content_headers(&mut r, &entry);
    add_version_header(ctx, &mut r, bucket, entry.meta.sel());
    add_tagging_count(r.headers_mut(), &entry.meta.tags);
    // Expiration rules act on current versions: a read by version id gets
    // no header.
    if !by_version {
        let facts = ObjectFacts {
            key,
            size,
            tags: &entry.meta.tags,
        };
        add_expiration(ctx, r.headers_mut(), bucket, &facts, entry.meta.modified_ms);
    }
    super::lock::add_lock_headers(ctx, r.headers_mut(), &entry.meta, (bucket, key));
    if let Some(e) = access.echo(super::sse::stored_bucket_key(&entry.meta.headers)) {
        e.add_to(r.headers_mut(), false);
    }
    let h = r.headers_mut();
    for (name, value) in &overrides.0 {
        h.insert(name, value.clone());
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if partial {
        if let Ok(v) = HeaderValue::from_str(&content_range(start, end, size)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Some(count) = part.and_then(|p| p.2) {
        h.insert(
            HeaderName::from_static("x-amz-mp-parts-count"),
            HeaderValue::from(count),
        );
    }
    let whole = start == 0 && end == size;
    if checksums && (part_number.is_some() || whole) {
        let part = part_number.filter(|_| part.is_some_and(|p| p.2.is_some()));
        for (name, value) in checksum_headers(&entry, part) {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                h.insert(n, v);
            }
        }
    }
    Ok(r)
}

type NextChunk =
    Pin<Box<dyn Future<Output = (ObjectReader, Option<crate::engine::Result<Bytes>>)>>>;

/// Streams an object from its reader, one stripe piece per frame. A panic
/// while reading ends the stream with an error (the connection is cut)
/// rather than unwinding into the connection task.
pub struct ObjectBody {
    first: Option<Bytes>,
    reader: Option<ObjectReader>,
    pending: Option<NextChunk>,
    remaining: u64,
    done: bool,
}

impl ObjectBody {
    pub fn new(first: Option<Bytes>, reader: ObjectReader, len: u64) -> ObjectBody {
        let done = first.is_none();
        ObjectBody {
            first,
            reader: Some(reader),
            pending: None,
            remaining: len,
            done,
        }
    }

    fn data(&mut self, b: Bytes) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.remaining = self.remaining.saturating_sub(b.len() as u64);
        Poll::Ready(Some(Ok(Frame::data(b))))
    }

    fn stop(&mut self, why: &str) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.done = true;
        self.pending = None;
        self.reader = None;
        tracing::warn!(error = why, "object stream failed");
        Poll::Ready(Some(Err(io::Error::other(why.to_owned()))))
    }
}

impl http_body::Body for ObjectBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(b) = this.first.take() {
            return this.data(b);
        }
        if this.done {
            return Poll::Ready(None);
        }
        if this.pending.is_none() {
            let Some(mut reader) = this.reader.take() else {
                this.done = true;
                return Poll::Ready(None);
            };
            this.pending = Some(Box::pin(async move {
                let c = reader.next_chunk().await;
                (reader, c)
            }));
        }
        let Some(fut) = this.pending.as_mut() else {
            return Poll::Ready(None);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Err(_) => this.stop("panic while reading the object"),
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready((reader, chunk))) => {
                this.pending = None;
                match chunk {
                    None => {
                        this.done = true;
                        Poll::Ready(None)
                    }
                    Some(Ok(b)) => {
                        this.reader = Some(reader);
                        this.data(b)
                    }
                    Some(Err(e)) => this.stop(&e.to_string()),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.first.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
