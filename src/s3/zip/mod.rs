//! Reading members of a stored zip (MinIO's extension, which `warp zip`
//! uses): a GET or HEAD of `<key>.zip/<member>` with `x-minio-extract:
//! true` serves that member of the zip stored at `<key>.zip` (the router
//! splits the path at its first `.zip/` and authorises `s3:GetObject` on
//! the zip, as MinIO does).
//!
//! The zip's end record and central directory are read with range reads
//! of the stored object (at most [`dir::END_SEARCH`] and
//! [`dir::MAX_DIRECTORY`] bytes) and parsed by [`dir`] (pure); each core
//! keeps the directories of recently read zips ([`DirCache`], bounded).
//! A member is then read as one more range: stored members as they are,
//! deflated ones inflated as they stream (at most [`OUT_PIECE`] bytes at a
//! time, never more than the size the directory declares), with their
//! CRC-32 checked when the whole member is sent.

pub mod dir;

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use flate2::{Decompress, FlushDecompress, Status};
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Frame, SizeHint};

use crate::engine::meta::IndexEntry;
use crate::engine::read::ObjectReader;
use crate::engine::VersionSel;
use crate::sse::key::DataKey;

use self::dir::{Directory, EndRecord, Member, ZipError};
use super::common::ctx::{Ctx, S3Result};
use super::common::response::{empty, status_only, ResBody};
use super::common::version::read_version;
use super::conditional::{check_read, Outcome};
use super::error::{S3Code, S3Error};
use super::range::{content_range, content_range_unsatisfied, parse_range};
use super::router::ResponseOverrides;
use super::xml::http_date;

/// Members are typed by their name by no one: MinIO sends none either.
const CONTENT_TYPE: &str = "application/octet-stream";
/// Most inflated bytes produced in one step.
const OUT_PIECE: usize = 64 << 10;
/// Directories each core keeps, and the memory they may hold.
const CACHE_ENTRIES: usize = 64;
const CACHE_BYTES: usize = 32 << 20;

fn zip_error(e: ZipError, bucket: &str, key: &str) -> S3Error {
    let (code, what) = match e {
        ZipError::Corrupt(_) => (S3Code::InvalidRequest, "is not a readable zip"),
        ZipError::Unsupported(_) => (S3Code::NotImplemented, "uses what cairn does not read"),
    };
    S3Error::new(code, format!("The object {what} ({e})."))
        .with_resource(format!("/{bucket}/{key}"))
}

/// The parsed directories of zips this core read lately, by bucket, key
/// and version (a new version of a key is a new entry).
struct DirCache {
    lru: lru::LruCache<(String, String, u128), Rc<Cached>>,
    bytes: usize,
}

struct Cached {
    end: EndRecord,
    dir: Directory,
}

impl DirCache {
    fn new() -> DirCache {
        DirCache {
            lru: lru::LruCache::new(NonZeroUsize::MIN.saturating_add(CACHE_ENTRIES - 1)),
            bytes: 0,
        }
    }

    fn get(&mut self, id: &(String, String, u128)) -> Option<Rc<Cached>> {
        self.lru.get(id).cloned()
    }

    fn insert(&mut self, id: (String, String, u128), c: Rc<Cached>) {
        let w = c.dir.weight();
        if w > CACHE_BYTES {
            return;
        }
        while self.bytes + w > CACHE_BYTES {
            match self.lru.pop_lru() {
                Some((_, old)) => self.bytes -= old.dir.weight(),
                None => break,
            }
        }
        if let Some((_, old)) = self.lru.push(id, c) {
            self.bytes -= old.dir.weight();
        }
        self.bytes += w;
    }
}

thread_local! {
    static DIRS: RefCell<DirCache> = RefCell::new(DirCache::new());
}

/// One stored version of the zip and how to read it.
struct Source<'a, 'c> {
    ctx: &'a Ctx<'c>,
    bucket: &'a str,
    key: &'a str,
    entry: &'a IndexEntry,
    unseal: Option<DataKey>,
    /// Taken before the lookup, one per read (compaction keeps what the
    /// version points to until they are dropped).
    guards: Vec<crate::engine::ReadGuard>,
}

impl Source<'_, '_> {
    async fn open(&mut self, span: (u64, u64)) -> Result<ObjectReader, S3Error> {
        let guard = self
            .guards
            .pop()
            .ok_or_else(|| S3Error::new(S3Code::InternalError, "zip: no read guard left"))?;
        Ok(self
            .ctx
            .engine
            .open_reader(
                guard,
                self.bucket,
                self.key,
                self.entry.clone(),
                Some(span),
                self.unseal.clone(),
            )
            .await?)
    }

    /// `[start, end)` of the zip, in memory (callers bound it).
    async fn read(&mut self, span: (u64, u64)) -> Result<Vec<u8>, S3Error> {
        let mut r = self.open(span).await?;
        let mut out = Vec::with_capacity((span.1 - span.0) as usize);
        while let Some(piece) = r.next_chunk().await {
            out.extend_from_slice(&piece?);
        }
        Ok(out)
    }

    /// The zip's directory, from this core's cache or read and parsed.
    async fn directory(&mut self) -> Result<Rc<Cached>, S3Error> {
        let id = (
            self.bucket.to_owned(),
            self.key.to_owned(),
            self.entry.meta.version,
        );
        if let Some(c) = DIRS.with(|d| d.borrow_mut().get(&id)) {
            return Ok(c);
        }
        let size = self.entry.meta.size;
        let tail = self
            .read((size.saturating_sub(dir::END_SEARCH), size))
            .await?;
        let (bucket, key) = (self.bucket, self.key);
        let bad = |e| zip_error(e, bucket, key);
        let end = dir::find_end(&tail, size).map_err(bad)?;
        let tail_start = size - tail.len() as u64;
        let dir_end = end.dir_offset + end.dir_size;
        let bytes = if end.dir_offset >= tail_start {
            let a = (end.dir_offset - tail_start) as usize;
            tail[a..a + end.dir_size as usize].to_vec()
        } else {
            self.read((end.dir_offset, dir_end)).await?
        };
        let dir = dir::parse_directory(&bytes, &end).map_err(bad)?;
        let c = Rc::new(Cached { end, dir });
        DIRS.with(|d| d.borrow_mut().insert(id, c.clone()));
        Ok(c)
    }

    /// Where `m`'s data begins: after its local header, read from the zip.
    async fn data_start(&mut self, m: &Member, end: &EndRecord) -> Result<u64, S3Error> {
        let at = m.header_offset;
        let want = (at + dir::LOCAL_LEN as u64).min(end.dir_offset);
        let header = self.read((at, want)).await?;
        let len =
            dir::local_header_len(&header).map_err(|e| zip_error(e, self.bucket, self.key))?;
        let start = at + len;
        if start + m.compressed > end.dir_offset {
            return Err(zip_error(
                ZipError::Corrupt("a member's data runs into the central directory"),
                self.bucket,
                self.key,
            ));
        }
        Ok(start)
    }
}

/// GET (or HEAD, `head`) of `member` of the zip at `bucket`/`key`.
pub async fn get_member(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    member: &str,
    version: Option<VersionSel>,
    overrides: &ResponseOverrides,
    head: bool,
) -> S3Result {
    super::sse::reject_mode_headers(ctx.headers())?;
    let supplied = super::sse::parse_read(
        ctx.headers(),
        crate::sse::customer::Which::Object,
        ctx.transport(),
    )?;
    // Tail, directory, local header, data.
    let guards = (0..4).map(|_| ctx.engine.begin_read()).collect();
    let entry = read_version(ctx, bucket, key, version)?;
    let access = super::sse::check_read(supplied, &entry.meta.attrs)?;
    // Preconditions are the zip's, as MinIO checks them.
    match check_read(ctx.headers(), &entry.meta.etag, entry.meta.modified_ms) {
        Outcome::Proceed => {}
        Outcome::NotModified => return Ok(status_only(StatusCode::NOT_MODIFIED)),
        Outcome::PreconditionFailed => return Err(S3Error::from_code(S3Code::PreconditionFailed)),
    }
    let unseal = access.data_key(bucket, key, ctx.auth.sigv2).await?;
    let mut src = Source {
        ctx,
        bucket,
        key,
        entry: &entry,
        unseal,
        guards,
    };
    let cached = src.directory().await?;
    let missing =
        || S3Error::from_code(S3Code::NoSuchKey).with_resource(format!("/{bucket}/{key}/{member}"));
    let m = cached.dir.get(member).ok_or_else(missing)?.clone();
    m.check_supported().map_err(|e| zip_error(e, bucket, key))?;
    let size = m.size;
    let (span, partial) = match ctx.header(header::RANGE.as_str()) {
        None => (None, false),
        Some(h) => match parse_range(h, size) {
            Ok(r) => (r, r.is_some()),
            Err(_) => {
                let mut e = S3Error::from_code(S3Code::InvalidRange)
                    .with_resource(format!("/{bucket}/{key}/{member}"));
                if let Ok(v) = HeaderValue::from_str(&content_range_unsatisfied(size)) {
                    e = e.with_header(header::CONTENT_RANGE, v);
                }
                return Err(e);
            }
        },
    };
    let (start, end) = span.unwrap_or((0, size));
    let body = if head || start == end {
        empty()
    } else {
        let data = src.data_start(&m, &cached.end).await?;
        let mut stream = if m.method == dir::STORED {
            let reader = src.open((data + start, data + end)).await?;
            MemberStream::stored(reader, &m, (start, end))
        } else {
            let reader = src.open((data, data + m.compressed)).await?;
            MemberStream::deflated(reader, &m, (start, end))
        };
        // The first piece before answering: a member that cannot be read
        // at all is an error, not a truncated 200.
        let first = match stream.next().await {
            None => None,
            Some(Ok(b)) => Some(b),
            Some(Err(StreamError::Zip(e))) => return Err(zip_error(e, bucket, key)),
            Some(Err(StreamError::Read(e))) => return Err(e.into()),
        };
        Box::pin(MemberBody::new(first, stream, end - start)) as ResBody
    };
    let mut r = Response::new(body);
    *r.status_mut() = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(&http_date(entry.meta.modified_ms)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    for (name, value) in &overrides.0 {
        h.insert(name, value.clone());
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if partial {
        if let Ok(v) = HeaderValue::from_str(&content_range(start, end, size)) {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(r)
}

/// A member's bytes `[start, end)`, from a reader over its data (all of
/// it when deflated, just the range when stored).
struct MemberStream {
    reader: ObjectReader,
    inflate: Option<Decompress>,
    /// Compressed input not yet taken by the inflater.
    input: Bytes,
    input_done: bool,
    /// Position in the member's extracted bytes.
    pos: u64,
    span: (u64, u64),
    size: u64,
    crc: Option<(crc32fast::Hasher, u32)>,
}

impl MemberStream {
    fn stored(reader: ObjectReader, m: &Member, span: (u64, u64)) -> MemberStream {
        MemberStream::new(reader, None, m, span, span.0)
    }

    fn deflated(reader: ObjectReader, m: &Member, span: (u64, u64)) -> MemberStream {
        MemberStream::new(reader, Some(Decompress::new(false)), m, span, 0)
    }

    fn new(
        reader: ObjectReader,
        inflate: Option<Decompress>,
        m: &Member,
        span: (u64, u64),
        pos: u64,
    ) -> MemberStream {
        let whole = span == (0, m.size);
        MemberStream {
            reader,
            inflate,
            input: Bytes::new(),
            input_done: false,
            pos,
            span,
            size: m.size,
            crc: whole.then(|| (crc32fast::Hasher::new(), m.crc32)),
        }
    }

    /// The next piece of the span; `None` after its last byte.
    async fn next(&mut self) -> Option<Result<Bytes, StreamError>> {
        loop {
            if self.pos >= self.span.1 {
                return self.finish().err().map(|e| Err(e.into()));
            }
            let piece = match self.step().await {
                Ok(Some(p)) => p,
                Ok(None) => {
                    return Some(Err(ZipError::Corrupt("a member's data ends early").into()))
                }
                Err(e) => return Some(Err(e)),
            };
            // Bytes before the span (a range of a deflated member) are
            // inflated and dropped.
            let from = self.pos;
            self.pos += piece.len() as u64;
            let a = self.span.0.saturating_sub(from).min(piece.len() as u64) as usize;
            let b = (self.span.1 - from).min(piece.len() as u64) as usize;
            if a < b {
                let out = piece.slice(a..b);
                if let Some((h, _)) = self.crc.as_mut() {
                    h.update(&out);
                }
                // The last piece waits for the CRC: a member that fits in
                // one piece is refused before any byte of it is sent.
                if self.pos >= self.span.1 {
                    if let Err(e) = self.finish() {
                        return Some(Err(e.into()));
                    }
                }
                return Some(Ok(out));
            }
        }
    }

    /// After the whole member: its CRC-32 as the directory gives it.
    fn finish(&mut self) -> Result<(), ZipError> {
        if let Some((h, want)) = self.crc.take() {
            if h.finalize() != want {
                return Err(ZipError::Corrupt("a member's CRC-32 does not match"));
            }
        }
        Ok(())
    }

    /// The next extracted bytes at `pos`; `None` if the data ran out.
    async fn step(&mut self) -> Result<Option<Bytes>, StreamError> {
        loop {
            if self.input.is_empty() && !self.input_done {
                match self.reader.next_chunk().await {
                    Some(Ok(b)) => self.input = b,
                    Some(Err(e)) => return Err(StreamError::Read(e)),
                    None => self.input_done = true,
                }
            }
            let Some(z) = self.inflate.as_mut() else {
                return Ok((!self.input.is_empty()).then(|| std::mem::take(&mut self.input)));
            };
            let left = self.size - self.pos;
            let mut out = BytesMut::zeroed(OUT_PIECE.min(left as usize + 1));
            let (before_in, before_out) = (z.total_in(), z.total_out());
            let flush = if self.input_done {
                FlushDecompress::Finish
            } else {
                FlushDecompress::None
            };
            let status = z
                .decompress(&self.input, &mut out, flush)
                .map_err(|_| ZipError::Corrupt("a member's deflate data is invalid"))?;
            let used = (z.total_in() - before_in) as usize;
            let made = (z.total_out() - before_out) as usize;
            self.input.advance(used);
            if made as u64 > left {
                return Err(ZipError::Corrupt("a member inflates past its size").into());
            }
            if made > 0 {
                out.truncate(made);
                return Ok(Some(out.freeze()));
            }
            if status == Status::StreamEnd || (used == 0 && self.input_done) {
                return Ok(None);
            }
            if used == 0 && !self.input.is_empty() {
                return Err(ZipError::Corrupt("a member's deflate data makes no progress").into());
            }
        }
    }
}

type Next = Pin<Box<dyn Future<Output = (MemberStream, Option<Result<Bytes, StreamError>>)>>>;

/// Why a member's bytes stopped.
#[derive(Debug)]
enum StreamError {
    Zip(ZipError),
    Read(crate::engine::EngineError),
}

impl From<ZipError> for StreamError {
    fn from(e: ZipError) -> StreamError {
        StreamError::Zip(e)
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Zip(e) => e.fmt(f),
            StreamError::Read(e) => e.fmt(f),
        }
    }
}

/// Streams a member; a failure after the headers cuts the response.
struct MemberBody {
    first: Option<Bytes>,
    stream: Option<MemberStream>,
    pending: Option<Next>,
    remaining: u64,
    done: bool,
}

impl MemberBody {
    fn new(first: Option<Bytes>, stream: MemberStream, len: u64) -> MemberBody {
        MemberBody {
            done: first.is_none(),
            first,
            stream: Some(stream),
            pending: None,
            remaining: len,
        }
    }

    fn data(&mut self, b: Bytes) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.remaining = self.remaining.saturating_sub(b.len() as u64);
        Poll::Ready(Some(Ok(Frame::data(b))))
    }

    fn stop(&mut self, why: String) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.done = true;
        self.pending = None;
        self.stream = None;
        tracing::warn!(error = %why, "zip member stream failed");
        Poll::Ready(Some(Err(io::Error::other(why))))
    }
}

impl http_body::Body for MemberBody {
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
            let Some(mut s) = this.stream.take() else {
                this.done = true;
                return Poll::Ready(None);
            };
            this.pending = Some(Box::pin(async move {
                let c = s.next().await;
                (s, c)
            }));
        }
        let Some(fut) = this.pending.as_mut() else {
            return Poll::Ready(None);
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Err(_) => this.stop("panic while reading a zip member".into()),
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready((s, chunk))) => {
                this.pending = None;
                match chunk {
                    None => {
                        this.done = true;
                        Poll::Ready(None)
                    }
                    Some(Ok(b)) => {
                        this.stream = Some(s);
                        this.data(b)
                    }
                    Some(Err(e)) => this.stop(e.to_string()),
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
