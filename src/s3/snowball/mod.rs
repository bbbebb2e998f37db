//! Snowball uploads (MinIO's extension, which `warp snowball` and `mc cp
//! --attr` use): a PutObject with `x-amz-meta-snowball-auto-extract: true`
//! carries a tar (plain, gzip or zstd) whose members become objects.
//!
//! The archive is received into a spool file and checked whole first
//! (every header, every member's data present, every compressed frame
//! complete with a good checksum, every key valid and allowed): a corrupt
//! or refused archive stores nothing. Only then is it read back and its
//! members stored, one PUT each, so a failure while storing (a full disk)
//! leaves the members before it. Memory stays bounded by the decoded
//! window ([`unpack::DECODED_MAX`]), whatever the archive's size.

pub mod archive;
pub mod tar;
pub mod unpack;

use bytes::{Buf, Bytes};
use http::{HeaderMap, StatusCode};
use hyper::body::Incoming;

use crate::engine::spool::{Spool, SpoolReader};
use crate::engine::{BodyChunk, BodySource, EngineError, PutOptions};
use crate::iam::action::Action;

use super::body::{RequestBody, MAX_OBJECT_SIZE};
use super::common::acl::acl_for_new_object;
use super::common::ctx::{Ctx, S3Result};
use super::common::metadata::put_options;
use super::common::response::status_only;
use super::error::{S3Code, S3Error};
use super::router::{Check, Resource};
use tar::Kind;
use unpack::{Event, UnpackError, Unpacker};

pub const EXTRACT_HEADER: &str = "x-amz-meta-snowball-auto-extract";
const PREFIX_HEADER: &str = "x-amz-meta-minio-snowball-prefix";
const IGNORE_DIRS_HEADER: &str = "x-amz-meta-minio-snowball-ignore-dirs";
/// User metadata that steers the extraction, not stored on members.
const CONTROL_META: [&str; 2] = ["snowball-", "minio-snowball-"];
/// Members per archive (AWS Snowball's documented batch limit).
pub const MAX_MEMBERS: usize = 10_000;
/// Bytes extracted per archive: bounds what a small, well-compressed
/// upload can make the node write.
pub const MAX_EXTRACTED: u64 = 100 << 30;

/// Whether a PutObject asks for extraction.
pub fn requested(headers: &HeaderMap) -> bool {
    headers
        .get(EXTRACT_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

fn flag(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The key a member is stored under: the prefix and the member's path,
/// with empty and `.` components dropped; a directory ends in `/`. `None`
/// for the archive's root (`./`). A `..` component or a name that is not
/// UTF-8 is refused.
pub fn member_key(prefix: &str, name: &[u8], kind: Kind) -> Result<Option<String>, S3Error> {
    let name = std::str::from_utf8(name).map_err(|_| {
        S3Error::new(
            S3Code::InvalidArgument,
            "a snowball member's name is not UTF-8",
        )
    })?;
    let mut parts = Vec::new();
    for part in prefix.split('/').chain(name.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                return Err(S3Error::new(
                    S3Code::InvalidArgument,
                    format!("a snowball member's name leaves its prefix: {name}"),
                ))
            }
            p => parts.push(p),
        }
    }
    let named = name.split('/').any(|p| !p.is_empty() && p != ".");
    if !named {
        return Ok(None);
    }
    let mut key = parts.join("/");
    if kind == Kind::Dir {
        key.push('/');
    }
    Ok(Some(key))
}

fn bad_archive(e: UnpackError) -> S3Error {
    S3Error::new(
        S3Code::InvalidArgument,
        format!("the snowball archive cannot be extracted: {e}"),
    )
}

fn spool_error(e: std::io::Error) -> S3Error {
    if e.kind() == std::io::ErrorKind::InvalidInput {
        return S3Code::EntityTooLarge.into();
    }
    tracing::error!(error = %e, "snowball spool failed");
    EngineError::Io(e).into()
}

/// Where the archive's bytes come from.
#[allow(async_fn_in_trait)]
trait Pieces {
    async fn piece(&mut self) -> Result<Option<Bytes>, S3Error>;
}

/// The request body, spooled as it is read.
struct Received<'a> {
    body: &'a mut RequestBody,
    spool: &'a mut Spool,
}

impl Pieces for Received<'_> {
    async fn piece(&mut self) -> Result<Option<Bytes>, S3Error> {
        match self.body.next_chunk().await {
            Ok(BodyChunk::Data(b)) => {
                self.spool.write(&b).await.map_err(spool_error)?;
                Ok(Some(b))
            }
            Ok(BodyChunk::End(_)) => Ok(None),
            Err(e) => Err(self.body.take_error().unwrap_or_else(|| e.into())),
        }
    }
}

impl Pieces for SpoolReader {
    async fn piece(&mut self) -> Result<Option<Bytes>, S3Error> {
        self.next_piece().await.map_err(spool_error)
    }
}

/// An [`Unpacker`] fed from [`Pieces`].
struct Stream<P> {
    up: Unpacker,
    pending: Bytes,
    pieces: P,
    ended: bool,
}

impl<P: Pieces> Stream<P> {
    fn new(pieces: P) -> Self {
        Stream {
            up: Unpacker::default(),
            pending: Bytes::new(),
            pieces,
            ended: false,
        }
    }

    async fn next(&mut self) -> Result<Event, S3Error> {
        // Bounded: every turn returns an event, takes a piece, or pushes
        // input that the unpacker takes (checked below).
        loop {
            match self.up.next_event().map_err(bad_archive)? {
                Event::NeedInput => {}
                ev => return Ok(ev),
            }
            if self.ended {
                return Err(S3Error::new(
                    S3Code::InternalError,
                    "the unpacker asked for input after its end",
                ));
            }
            if self.pending.is_empty() {
                match self.pieces.piece().await? {
                    Some(b) => self.pending = b,
                    None => {
                        self.up.end_input().map_err(bad_archive)?;
                        self.ended = true;
                    }
                }
                continue;
            }
            let d = self.up.push(&self.pending).map_err(bad_archive)?;
            if d.used == 0 && d.produced == 0 {
                return Err(S3Error::new(
                    S3Code::InternalError,
                    "the unpacker took no input while asking for it",
                ));
            }
            self.pending.advance(d.used);
        }
    }
}

/// One member's data, as the engine pulls a body.
struct MemberBody<'a, P> {
    stream: &'a mut Stream<P>,
    done: bool,
    error: Option<S3Error>,
}

impl<P: Pieces> BodySource for MemberBody<'_, P> {
    async fn next_chunk(&mut self) -> crate::engine::Result<BodyChunk> {
        if self.done {
            return Ok(BodyChunk::End(None));
        }
        let e = match self.stream.next().await {
            Ok(Event::Data(b)) => return Ok(BodyChunk::Data(b)),
            Ok(Event::MemberEnd) => {
                self.done = true;
                return Ok(BodyChunk::End(None));
            }
            Ok(other) => S3Error::new(
                S3Code::InternalError,
                format!("unexpected {other:?} inside a member"),
            ),
            Err(e) => e,
        };
        let msg = e.to_string();
        self.error = Some(e);
        Err(EngineError::Body(msg))
    }

    fn supplies_md5(&self) -> bool {
        false
    }
}

/// What the request asks of every member.
struct Plan {
    prefix: String,
    ignore_dirs: bool,
    base: PutOptions,
}

impl Plan {
    fn key(&self, m: &tar::Member) -> Result<Option<String>, S3Error> {
        if m.kind == Kind::Dir && self.ignore_dirs {
            return Ok(None);
        }
        member_key(&self.prefix, &m.name, m.kind)
    }
}

pub async fn put_extract(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    let headers = ctx.headers();
    let mut base = put_options(headers, &ctx.engine.shared.classes)?;
    // A member's type and encoding are its own, not the archive's.
    base.content_type = None;
    base.headers.retain(|(k, _)| k != "content-encoding");
    base.user_meta
        .retain(|(k, _)| !CONTROL_META.iter().any(|c| k.starts_with(c)));
    base.headers.extend(acl_for_new_object(ctx, bucket)?);
    base.event = ctx.origin(bucket, crate::notify::event::Action::Put);
    let plan = Plan {
        prefix: headers
            .get(PREFIX_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        ignore_dirs: flag(headers, IGNORE_DIRS_HEADER),
        base,
    };
    let requested = super::sse::for_write(ctx, bucket)?;
    let dir =
        ctx.engine.shared.spool_dir().ok_or_else(|| {
            S3Error::from(EngineError::StorageFull("no drive takes new data".into()))
        })?;
    let mut body = RequestBody::new(
        body,
        headers,
        &ctx.auth,
        ctx.api.idle_timeout,
        MAX_OBJECT_SIZE,
    )?;
    let mut spool = Spool::new(
        &dir,
        &format!("{}.snowball", ctx.request_id),
        MAX_OBJECT_SIZE,
    )
    .await
    .map_err(spool_error)?;
    let checked = check(ctx, bucket, &plan, &mut body, &mut spool).await;
    if let Err(e) = checked {
        body.drain().await;
        return Err(e);
    }
    let reader = spool.finish().await.map_err(spool_error)?;
    let stored = store(ctx, bucket, &plan, &requested, reader).await?;
    tracing::debug!(
        request_id = ctx.request_id,
        members = stored,
        "snowball extracted"
    );
    Ok(status_only(StatusCode::OK))
}

/// The first pass, as the body arrives: the whole archive is valid and
/// every member may be stored.
async fn check(
    ctx: &Ctx<'_>,
    bucket: &str,
    plan: &Plan,
    body: &mut RequestBody,
    spool: &mut Spool,
) -> Result<(), S3Error> {
    let mut stream = Stream::new(Received { body, spool });
    let (mut members, mut bytes) = (0usize, 0u64);
    loop {
        match stream.next().await? {
            Event::Member(m) => {
                members += 1;
                bytes = bytes.saturating_add(m.size);
                if members > MAX_MEMBERS || bytes > MAX_EXTRACTED || m.size > MAX_OBJECT_SIZE {
                    return Err(S3Error::new(
                        S3Code::EntityTooLarge,
                        format!(
                            "a snowball archive holds at most {MAX_MEMBERS} members of at most \
                             {MAX_OBJECT_SIZE} bytes, {MAX_EXTRACTED} bytes in all"
                        ),
                    ));
                }
                let Some(key) = plan.key(&m)? else {
                    continue;
                };
                crate::engine::write::validate_key(&key)?;
                let check = Check {
                    action: Action::S3PutObject,
                    resource: Resource::Object { bucket, key: &key },
                };
                if !ctx.authz.allows(check, ctx.headers()) {
                    return Err(S3Error::new(
                        S3Code::AccessDenied,
                        format!("Access Denied to snowball member {key}"),
                    ));
                }
            }
            Event::Data(_) | Event::MemberEnd => {}
            Event::Finished => return Ok(()),
            Event::NeedInput => unreachable_need_input()?,
        }
    }
}

fn unreachable_need_input() -> Result<(), S3Error> {
    Err(S3Error::new(
        S3Code::InternalError,
        "the unpacker stream returned NeedInput",
    ))
}

/// The second pass, from the spool: one PUT per member.
async fn store(
    ctx: &Ctx<'_>,
    bucket: &str,
    plan: &Plan,
    requested: &super::sse::Requested,
    reader: SpoolReader,
) -> Result<usize, S3Error> {
    let mut stream = Stream::new(reader);
    let mut stored = 0usize;
    loop {
        let m = match stream.next().await? {
            Event::Member(m) => m,
            Event::Data(_) | Event::MemberEnd => continue,
            Event::Finished => return Ok(stored),
            Event::NeedInput => return unreachable_need_input().map(|_| stored),
        };
        let Some(key) = plan.key(&m)? else {
            continue;
        };
        let mut opts = plan.base.clone();
        opts.attrs = super::lock::write_attrs(
            ctx.engine,
            &ctx.authz,
            ctx.headers(),
            (bucket, &key),
            ctx.has_integrity_header(),
        )?;
        opts.seal = super::sse::seal_for(bucket, &key, requested, ctx.engine.deduplicates(bucket))
            .await?
            .map(|s| s.seal);
        let mut member = MemberBody {
            stream: &mut stream,
            done: false,
            error: None,
        };
        if let Err(e) = ctx.engine.put(bucket, &key, opts, &mut member).await {
            return Err(member.error.take().unwrap_or_else(|| e.into()));
        }
        stored += 1;
    }
}
