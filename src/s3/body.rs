//! The request body as the engine pulls it ([`BodySource`]): decoded
//! (aws-chunked), verified (payload SHA-256, chunk signatures, trailer and
//! header checksums, Content-MD5) and MD5-hashed for the ETag on the
//! receiving core (batched with the core's other uploads: `hash::md5_batch`).
//!
//! Every check that can only be made at the end of the body is made before
//! `End` is returned, so a body that fails never commits: the engine makes an
//! object visible only after `End`.

use std::collections::VecDeque;

use base64::Engine as _;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use crate::auth::checksum::{ChecksumAlgo, ChecksumValue, Checksummer};
use crate::auth::chunked::{ChunkError, ChunkedDecoder, PendingChunk};
use crate::auth::sigv4::{PayloadMode, Verified};
use crate::engine::{BodyChunk, BodySource, EngineError};
use crate::hash::{sha256x, Md5Lane};

use super::error::{S3Code, S3Error};

/// S3's largest single PUT.
pub const MAX_OBJECT_SIZE: u64 = 5 << 30;
/// After a failed write, at most this much of the rest of the body is read
/// and dropped, and for at most `DRAIN_TIME`: a client still sending then
/// reads the error instead of a connection reset.
const DRAIN_LIMIT: u64 = 1 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

pub struct RequestBody {
    incoming: Incoming,
    /// Some for the aws-chunked payload modes.
    decoder: Option<ChunkedDecoder>,
    /// Its signed chunks' data, hashed 16 chunks at a time.
    chunk_hashes: ChunkHashes,
    /// Whole-body SHA-256 the signature covers, when the client sent one.
    sha256: Option<(Sha256, [u8; 32])>,
    md5: Md5Lane,
    content_md5: Option<[u8; 16]>,
    /// `x-amz-checksum-*` request headers to verify, and checksums computed
    /// for the server's own use (no value to verify).
    checksums: Vec<(Checksummer, Option<ChecksumValue>)>,
    /// The `x-amz-trailer` checksum of an aws-chunked body.
    trailer: Option<ChecksumAlgo>,
    /// Every checksum of the body, once it has ended and passed its checks.
    verified: Vec<ChecksumValue>,
    /// Content-Length of a plain body (hyper enforces it too).
    expected_len: Option<u64>,
    max_len: u64,
    /// Longest wait for the next piece of the body (`RequestTimeout`).
    idle: std::time::Duration,
    /// Decoded bytes so far.
    received: u64,
    ready: VecDeque<Bytes>,
    ended: bool,
    error: Option<S3Error>,
}

/// The signed chunks of an aws-chunked body whose data is not hashed yet
/// (the decoder's deferred mode): the chunks of one body are independent
/// messages, so 16 of them go through the 16-lane SHA-256 kernel together
/// (`hash::sha256x::digest_many`) instead of one SHA-NI stream each. Holds
/// at most 16 chunks' data, refcounted, not copied.
#[derive(Default)]
struct ChunkHashes {
    /// Data emitted since the last chunk taken.
    loose: VecDeque<Bytes>,
    waiting: Vec<(PendingChunk, Vec<Bytes>)>,
}

impl ChunkHashes {
    /// Gives `chunk` its data (the first `chunk.len` loose bytes: the
    /// decoder never emits a slice across two chunks) and checks the
    /// waiting chunks once there are 16.
    fn take(&mut self, chunk: PendingChunk, d: &mut ChunkedDecoder) -> Result<(), S3Error> {
        let mut want = chunk.len;
        let mut pieces = Vec::new();
        while want > 0 {
            let Some(mut p) = self.loose.pop_front() else {
                // Fewer bytes than the chunk's: a decoder bug; fail closed.
                return Err(ChunkError::SignatureDoesNotMatch.into());
            };
            if p.len() as u64 > want {
                self.loose.push_front(p.split_off(want as usize));
            }
            want -= p.len() as u64;
            pieces.push(p);
        }
        self.waiting.push((chunk, pieces));
        if self.waiting.len() == sha256x::MAX_LANES {
            self.check(d)?;
        }
        Ok(())
    }

    /// Hashes the waiting chunks together and checks each one.
    fn check(&mut self, d: &mut ChunkedDecoder) -> Result<(), S3Error> {
        let messages: Vec<&[Bytes]> = self.waiting.iter().map(|(_, p)| p.as_slice()).collect();
        let digests = sha256x::digest_many(&messages);
        for ((chunk, _), h) in self.waiting.drain(..).zip(digests) {
            d.verify_pending(chunk, &h)?;
        }
        Ok(())
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, S3Error> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.trim())).map_err(|_| {
            S3Error::new(
                S3Code::InvalidArgument,
                format!("The {name} header is not valid."),
            )
        }),
    }
}

fn parse_len(headers: &HeaderMap, name: &str) -> Result<Option<u64>, S3Error> {
    match header_str(headers, name)? {
        None => Ok(None),
        Some(s) => s.parse::<u64>().map(Some).map_err(|_| {
            S3Error::new(
                S3Code::InvalidArgument,
                format!("The {name} header is not a valid length."),
            )
        }),
    }
}

/// S3 needs object data's length up front: a PutObject or UploadPart with
/// neither Content-Length nor Transfer-Encoding (which HTTP reads as an
/// empty body) is refused rather than stored as an empty object.
pub fn require_length(headers: &HeaderMap) -> Result<(), S3Error> {
    if headers.contains_key(http::header::CONTENT_LENGTH)
        || headers.contains_key(http::header::TRANSFER_ENCODING)
    {
        Ok(())
    } else {
        Err(S3Error::from_code(S3Code::MissingContentLength))
    }
}

/// `Content-MD5`, if present: 16 bytes in base64, else InvalidDigest.
pub fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, S3Error> {
    let Some(v) = headers.get("content-md5") else {
        return Ok(None);
    };
    let mut out = [0u8; 16];
    let mut buf = [0u8; 18];
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(v.as_bytes(), &mut buf)
        .map_err(|_| S3Error::from_code(S3Code::InvalidDigest))?;
    if n != 16 {
        return Err(S3Error::from_code(S3Code::InvalidDigest));
    }
    out.copy_from_slice(&buf[..16]);
    Ok(Some(out))
}

/// The `x-amz-checksum-*` header the request carries, if any (S3 allows one).
pub fn header_checksum(headers: &HeaderMap) -> Result<Option<ChecksumValue>, S3Error> {
    let mut found = None;
    for algo in ChecksumAlgo::ALL {
        let Some(v) = headers.get(algo.header_name()) else {
            continue;
        };
        if found.is_some() {
            return Err(S3Error::new(
                S3Code::InvalidRequest,
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            ));
        }
        let value = v
            .to_str()
            .ok()
            .and_then(|s| ChecksumValue::from_base64(algo, s.trim()))
            .ok_or_else(|| {
                S3Error::new(
                    S3Code::InvalidRequest,
                    format!("Value for {} header is invalid.", algo.header_name()),
                )
            })?;
        found = Some(value);
    }
    Ok(found)
}

impl RequestBody {
    /// Sets up decoding and verification from the request headers and the
    /// verified signature. Fails early on headers that are already wrong.
    pub fn new(
        incoming: Incoming,
        headers: &HeaderMap,
        auth: &Verified,
        idle: std::time::Duration,
        max_len: u64,
    ) -> Result<RequestBody, S3Error> {
        let checksum = header_checksum(headers)?;
        Self::build(incoming, headers, auth, idle, max_len, checksum)
    }

    /// As [`RequestBody::new`] for a request whose `x-amz-checksum-*`
    /// headers describe something else than its body (CompleteMultipartUpload:
    /// the object).
    pub fn ignoring_checksum_headers(
        incoming: Incoming,
        headers: &HeaderMap,
        auth: &Verified,
        idle: std::time::Duration,
        max_len: u64,
    ) -> Result<RequestBody, S3Error> {
        Self::build(incoming, headers, auth, idle, max_len, None)
    }

    fn build(
        incoming: Incoming,
        headers: &HeaderMap,
        auth: &Verified,
        idle: std::time::Duration,
        max_len: u64,
        checksum: Option<ChecksumValue>,
    ) -> Result<RequestBody, S3Error> {
        let content_md5 = content_md5(headers)?;
        let checksums = checksum
            .into_iter()
            .map(|v| (Checksummer::new(v.algo()), Some(v)))
            .collect();
        let too_large = |n: u64| n > max_len;
        let mut decoder = None;
        let mut trailer = None;
        let mut sha256 = None;
        let mut expected_len = None;
        if let Some(mode) = auth.payload.chunk_mode() {
            trailer = match header_str(headers, "x-amz-trailer")? {
                None | Some("") => None,
                Some(name) => Some(ChecksumAlgo::from_header_name(name).ok_or_else(|| {
                    S3Error::new(
                        S3Code::InvalidRequest,
                        "The value specified in the x-amz-trailer header is not supported",
                    )
                })?),
            };
            let decoded_len = parse_len(headers, "x-amz-decoded-content-length")?;
            if decoded_len.is_some_and(too_large) {
                return Err(S3Error::from_code(S3Code::EntityTooLarge));
            }
            let ctx = matches!(
                auth.payload,
                PayloadMode::StreamingSigned | PayloadMode::StreamingSignedTrailer
            )
            .then(|| auth.signing_context());
            decoder =
                Some(ChunkedDecoder::new(mode, ctx, trailer, decoded_len).defer_chunk_hashes());
        } else {
            expected_len = parse_len(headers, http::header::CONTENT_LENGTH.as_str())?;
            if expected_len.is_some_and(too_large) {
                return Err(S3Error::from_code(S3Code::EntityTooLarge));
            }
            if let PayloadMode::Sha256(h) = auth.payload {
                sha256 = Some((Sha256::new(), h));
            }
        }
        Ok(RequestBody {
            incoming,
            decoder,
            chunk_hashes: ChunkHashes::default(),
            sha256,
            md5: Md5Lane::new(),
            content_md5,
            checksums,
            trailer,
            verified: Vec::new(),
            expected_len,
            max_len,
            idle,
            received: 0,
            ready: VecDeque::new(),
            ended: false,
            error: None,
        })
    }

    /// The checksum algorithm the client protects the body with (header or
    /// trailer), if any.
    pub fn declared_checksum(&self) -> Option<ChecksumAlgo> {
        self.checksums
            .iter()
            .find_map(|(_, v)| v.map(|v| v.algo()))
            .or(self.trailer)
    }

    /// Also computes `algo` over the body (unless the client sends it), for
    /// [`BodySource::checksums`]. Call before reading.
    pub fn compute(&mut self, algo: ChecksumAlgo) {
        if self.declared_checksum() != Some(algo) {
            self.checksums.push((Checksummer::new(algo), None));
        }
    }

    /// Why the body failed, if it did (the engine only sees a generic error).
    pub fn take_error(&mut self) -> Option<S3Error> {
        self.error.take()
    }

    fn fail(&mut self, e: S3Error) -> EngineError {
        let msg = e.to_string();
        self.error = Some(e);
        EngineError::Body(msg)
    }

    /// Takes one frame of the wire body.
    fn accept(&mut self, data: Bytes) -> Result<(), S3Error> {
        let RequestBody {
            decoder,
            chunk_hashes,
            sha256,
            md5,
            checksums,
            ready,
            received,
            ..
        } = self;
        let mut emit = |piece: Bytes| {
            md5.update(piece.clone());
            for (c, _) in checksums.iter_mut() {
                c.update(&piece);
            }
            *received += piece.len() as u64;
            ready.push_back(piece);
        };
        match decoder {
            Some(d) => {
                let base = data.as_ptr() as usize;
                let defers = d.defers_chunk_hashes();
                let fed = d.feed(&data, &mut |s: &[u8]| {
                    // The decoder hands out slices of its input: share the
                    // buffer instead of copying (copy if that ever changes).
                    let off = (s.as_ptr() as usize).wrapping_sub(base);
                    let piece = if off <= data.len() && s.len() <= data.len() - off {
                        data.slice(off..off + s.len())
                    } else {
                        Bytes::copy_from_slice(s)
                    };
                    if !piece.is_empty() {
                        if defers {
                            chunk_hashes.loose.push_back(piece.clone());
                        }
                        emit(piece);
                    }
                });
                while let Some(c) = d.take_pending() {
                    chunk_hashes.take(c, d)?;
                }
                fed?;
            }
            None => {
                if let Some((h, _)) = sha256 {
                    h.update(&data);
                }
                if !data.is_empty() {
                    emit(data);
                }
            }
        }
        if self.received > self.max_len {
            return Err(S3Error::from_code(S3Code::EntityTooLarge));
        }
        Ok(())
    }

    /// End-of-body checks of the content whose MD5 is `md5`.
    fn finish(&mut self, md5: [u8; 16]) -> Result<[u8; 16], S3Error> {
        if let Some(mut d) = self.decoder.take() {
            self.chunk_hashes.check(&mut d)?;
            self.verified.extend(d.finish()?.checksum);
        } else {
            if let Some(n) = self.expected_len {
                if self.received != n {
                    return Err(S3Error::from_code(S3Code::IncompleteBody));
                }
            }
            if let Some((h, want)) = self.sha256.take() {
                if h.finalize().as_slice() != want {
                    return Err(S3Error::from_code(S3Code::XAmzContentSHA256Mismatch));
                }
            }
        }
        if let Some(want) = self.content_md5 {
            if want != md5 {
                return Err(S3Error::from_code(S3Code::BadDigest));
            }
        }
        for (c, want) in std::mem::take(&mut self.checksums) {
            let got = c.finalize();
            if want.is_some_and(|w| w != got) {
                return Err(S3Error::new(
                    S3Code::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        got.algo().algorithm_name()
                    ),
                ));
            }
            self.verified.push(got);
        }
        Ok(md5)
    }

    /// Discards what is left of the body, bounded by `DRAIN_LIMIT` and
    /// `DRAIN_TIME`.
    pub async fn drain(&mut self) {
        let deadline = std::time::Instant::now() + DRAIN_TIME;
        let mut n = 0u64;
        while n < DRAIN_LIMIT {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match crate::runtime::timeout(left, self.incoming.frame()).await {
                Ok(Some(Ok(f))) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                _ => break,
            }
        }
    }

    /// Reads a small body whole (XML documents), verified like any other.
    pub async fn read_to_end(mut self, limit: usize) -> Result<Vec<u8>, S3Error> {
        let mut out = Vec::new();
        loop {
            match self.next_chunk().await {
                Ok(BodyChunk::Data(b)) => {
                    if out.len() + b.len() > limit {
                        return Err(S3Error::new(
                            S3Code::InvalidRequest,
                            "The request body is too large.",
                        ));
                    }
                    out.extend_from_slice(&b);
                }
                Ok(BodyChunk::End(_)) => return Ok(out),
                Err(_) => {
                    return Err(self
                        .take_error()
                        .unwrap_or_else(|| S3Code::IncompleteBody.into()))
                }
            }
        }
    }
}

impl BodySource for RequestBody {
    fn supplies_md5(&self) -> bool {
        true
    }

    fn checksums(&self) -> Vec<(String, String)> {
        self.verified
            .iter()
            .map(|v| (v.algo().header_name().to_owned(), v.to_base64()))
            .collect()
    }

    async fn next_chunk(&mut self) -> crate::engine::Result<BodyChunk> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(BodyChunk::Data(b));
            }
            if let Some(e) = &self.error {
                return Err(EngineError::Body(e.to_string()));
            }
            if self.ended {
                return Err(EngineError::Body("the body was already consumed".into()));
            }
            let frame = match crate::runtime::timeout(self.idle, self.incoming.frame()).await {
                Ok(f) => f,
                Err(_) => return Err(self.fail(S3Error::from_code(S3Code::RequestTimeout))),
            };
            match frame {
                None => {
                    let md5 = self.md5.finish().await;
                    return match self.finish(md5) {
                        Ok(md5) => {
                            self.ended = true;
                            Ok(BodyChunk::End(Some(md5)))
                        }
                        Err(e) => Err(self.fail(e)),
                    };
                }
                Some(Err(e)) => {
                    // The client went away or sent less than it announced.
                    tracing::debug!(error = %e, "request body failed");
                    return Err(self.fail(S3Error::from_code(S3Code::IncompleteBody)));
                }
                Some(Ok(frame)) => {
                    // HTTP trailers (not aws-chunked ones) carry nothing we use.
                    if let Ok(data) = frame.into_data() {
                        if let Err(e) = self.accept(data) {
                            return Err(self.fail(e));
                        }
                        self.md5.settle().await;
                    }
                }
            }
        }
    }
}
