//! Push-based, incremental decoder for `Content-Encoding: aws-chunked` bodies.
//!
//! Wire format (signed modes):
//! ```text
//! <hex-size>;chunk-signature=<64 hex>\r\n<data>\r\n   (repeated)
//! 0;chunk-signature=<64 hex>\r\n
//! [<trailer-name>:<value>\r\n ... [x-amz-trailer-signature:<64 hex>\r\n]]
//! \r\n
//! ```
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` bodies use plain `<hex-size>\r\n` chunk
//! headers. The HTTP layer may hand over arbitrary fragments: any header,
//! signature or CRLF may be split across `feed` calls.
//!
//! **Data is emitted before it is authenticated.** A chunk's signature covers
//! the chunk's whole data, so the decoder streams each fragment to `out`
//! straight from the caller's buffer (zero copy) and checks the signature once
//! the chunk ends; the trailer checksum is only known at the very end. The
//! caller must therefore not commit (make visible) the object until
//! [`ChunkedDecoder::finish`] returns `Ok`.
//!
//! Errors map to what S3 answers: S3 replies `IncompleteBody` ("The request
//! body terminated unexpectedly") to any malformed chunk encoding as well as
//! to truncation, so [`ChunkError::Malformed`] shares that code; its message
//! is for logs.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::checksum::{ChecksumAlgo, ChecksumValue, Checksummer};

/// Longest chunk header line accepted, CRLF included. A real one is < 100 bytes.
pub const MAX_CHUNK_HEADER_LEN: usize = 4 * 1024;
/// Most trailer bytes accepted (all lines, CRLFs included).
pub const MAX_TRAILER_LEN: usize = 16 * 1024;
/// S3's minimum size of every chunk but the last, when enforcement is enabled
/// with [`ChunkedDecoder::with_min_chunk_size`].
pub const S3_MIN_CHUNK_SIZE: u64 = 8192;

const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SIG_PREFIX: &[u8] = b"chunk-signature=";
const TRAILER_SIG_NAME: &str = "x-amz-trailer-signature";

/// Which `aws-chunked` variant the body uses (from `x-amz-content-sha256`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailer.
    Signed,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and signed trailer.
    SignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks, unsigned trailer.
    UnsignedTrailer,
}

impl ChunkMode {
    fn signed(self) -> bool {
        !matches!(self, ChunkMode::UnsignedTrailer)
    }
}

/// What is needed to continue the SigV4 chain from the request's seed signature.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningContext {
    pub signing_key: [u8; 32],
    /// `x-amz-date` of the request, `yyyymmddThhmmssZ`.
    pub timestamp: String,
    /// `yyyymmdd/region/s3/aws4_request`.
    pub scope: String,
    /// The signature of the request headers (hex), previous signature of chunk 1.
    pub seed_signature: String,
}

impl std::fmt::Debug for SigningContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningContext")
            .field("signing_key", &"<redacted>")
            .field("timestamp", &self.timestamp)
            .field("scope", &self.scope)
            .field("seed_signature", &self.seed_signature)
            .finish()
    }
}

/// Result of a fully decoded and verified body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// The trailer checksum, verified against the decoded data.
    pub checksum: Option<ChecksumValue>,
    /// Total decoded bytes emitted.
    pub decoded_len: u64,
}

/// Decoding failures. Each maps to one S3 error code through the one
/// `From<ChunkError>` in `s3::error`, where codes and statuses live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// A chunk or trailer signature is wrong. S3: 403 SignatureDoesNotMatch.
    SignatureDoesNotMatch,
    /// Bad framing (non-hex size, missing CRLF, overlong line, bytes after the
    /// end, …). S3: 400 IncompleteBody, which AWS returns for any malformed encoding.
    Malformed(&'static str),
    /// Body ended early, or the decoded length differs from
    /// `x-amz-decoded-content-length`. S3: 400 IncompleteBody.
    IncompleteBody,
    /// Trailer checksum differs from the data. S3: 400 BadDigest.
    BadDigest,
    /// Trailer missing, unexpected, duplicated or unparsable. S3: 400 MalformedTrailerError.
    InvalidTrailer(&'static str),
    /// A non-final chunk below the minimum size (only when enabled).
    /// S3: InvalidChunkSizeError.
    InvalidChunkSize,
}

impl ChunkError {
    /// The S3 `<Message>`.
    pub fn message(&self) -> &'static str {
        match self {
            Self::SignatureDoesNotMatch => {
                "The request signature we calculated does not match the signature you provided. \
                 Check your key and signing method."
            }
            Self::Malformed(_) | Self::IncompleteBody => "The request body terminated unexpectedly",
            Self::BadDigest => "The checksum you specified did not match the calculated checksum.",
            Self::InvalidTrailer(_) => {
                "The request contained trailing data that was not well-formed or did not conform \
                 to our published schema."
            }
            Self::InvalidChunkSize => {
                "Only the last chunk is allowed to have a size less than 8192 bytes"
            }
        }
    }

    /// Internal detail for logs (not sent to clients).
    pub fn detail(&self) -> &'static str {
        match self {
            Self::Malformed(d) | Self::InvalidTrailer(d) => d,
            other => other.message(),
        }
    }
}

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for ChunkError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Accumulating a chunk header line in `line`.
    Header,
    /// Inside chunk data.
    Data { remaining: u64 },
    /// Expecting the `\r` after chunk data.
    DataCr,
    /// Expecting the `\n` after chunk data.
    DataLf,
    /// After the final chunk: trailer lines, ended by an empty line.
    Trailer,
    /// Terminating empty line seen; only `finish` remains.
    Done,
}

/// Incremental `aws-chunked` decoder; see the module docs.
pub struct ChunkedDecoder {
    mode: ChunkMode,
    ctx: Option<SigningContext>,
    /// Previous signature in the chain, lowercase hex.
    prev_sig: String,
    expected_trailer: Option<ChecksumAlgo>,
    decoded_len: Option<u64>,
    min_chunk_size: u64,
    state: State,
    /// Partial header / trailer line (bounded).
    line: Vec<u8>,
    chunk_sig: [u8; 32],
    hasher: Sha256,
    checksummer: Option<Checksummer>,
    total: u64,
    last_chunk_size: Option<u64>,
    trailer_len: usize,
    trailer_lines: usize,
    skipped_blank: bool,
    trailer_canon: Vec<u8>,
    trailer_checksum: Option<ChecksumValue>,
    trailer_sig: Option<[u8; 32]>,
    /// Deferred mode: chunk data is not hashed here; each signed chunk
    /// waits in `pending` for the caller to hash and check it.
    deferred: bool,
    pending: std::collections::VecDeque<PendingChunk>,
    /// Chunks ended and not yet checked (in `pending` or with the caller).
    unverified: u64,
    /// Sticky: once failed, every later call reports the same error.
    error: Option<ChunkError>,
}

/// A signed chunk whose data the caller hashes (deferred mode, see
/// [`ChunkedDecoder::defer_chunk_hashes`]). A chunk's signature covers the
/// previous chunk's signature and its own data's SHA-256; the previous
/// signature is taken as claimed, since that claim is checked in its own
/// turn. So the chunks of one body can be checked in any order, and their
/// data hashed together.
/// Not `Clone`: each is checked once, by value.
#[derive(Debug, PartialEq, Eq)]
pub struct PendingChunk {
    /// The chunk's decoded bytes: the next `len` bytes `feed` emitted
    /// after the previous pending chunk's.
    pub len: u64,
    prev_sig: String,
    claimed: [u8; 32],
}

impl ChunkedDecoder {
    /// `ctx` is required for the signed modes (without it every body fails
    /// with `SignatureDoesNotMatch`: fail closed). `expected_trailer` comes
    /// from `x-amz-trailer`; `decoded_len` from `x-amz-decoded-content-length`.
    pub fn new(
        mode: ChunkMode,
        ctx: Option<SigningContext>,
        expected_trailer: Option<ChecksumAlgo>,
        decoded_len: Option<u64>,
    ) -> Self {
        let mut error = None;
        if mode.signed() && ctx.is_none() {
            error = Some(ChunkError::SignatureDoesNotMatch);
        }
        if mode == ChunkMode::Signed && expected_trailer.is_some() {
            // A trailer was announced but this mode cannot carry one.
            error = Some(ChunkError::InvalidTrailer(
                "x-amz-trailer requires a trailer payload mode",
            ));
        }
        let prev_sig = ctx
            .as_ref()
            .map(|c| c.seed_signature.to_ascii_lowercase())
            .unwrap_or_default();
        Self {
            mode,
            ctx,
            prev_sig,
            expected_trailer,
            decoded_len,
            min_chunk_size: 0,
            state: State::Header,
            line: Vec::new(),
            chunk_sig: [0; 32],
            hasher: Sha256::new(),
            checksummer: expected_trailer.map(Checksummer::new),
            total: 0,
            last_chunk_size: None,
            trailer_len: 0,
            trailer_lines: 0,
            skipped_blank: false,
            trailer_canon: Vec::new(),
            trailer_checksum: None,
            trailer_sig: None,
            deferred: false,
            pending: std::collections::VecDeque::new(),
            unverified: 0,
            error,
        }
    }

    /// Leaves the SHA-256 of each signed chunk's data to the caller, which
    /// takes the ended chunks with [`Self::take_pending`], hashes their
    /// data (several at once, `hash::sha256x::digest_many`) and checks them
    /// with [`Self::verify_pending`]. [`Self::finish`] fails while any is
    /// unchecked.
    /// No effect on an unsigned body (no chunk is signed).
    pub fn defer_chunk_hashes(mut self) -> Self {
        self.deferred = self.mode.signed();
        self
    }

    /// Whether ended chunks wait for the caller ([`Self::take_pending`]).
    pub fn defers_chunk_hashes(&self) -> bool {
        self.deferred
    }

    /// The oldest ended chunk waiting for its data's hash (deferred mode).
    /// Take them after every `feed`: one fragment may end many chunks.
    pub fn take_pending(&mut self) -> Option<PendingChunk> {
        self.pending.pop_front()
    }

    /// Checks `chunk`'s claimed signature against its data's SHA-256.
    pub fn verify_pending(
        &mut self,
        chunk: PendingChunk,
        data_sha256: &[u8; 32],
    ) -> Result<(), ChunkError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let computed = chunk_signature(self.ctx()?, &chunk.prev_sig, &hex::encode(data_sha256));
        if !bool::from(computed.ct_eq(&chunk.claimed)) {
            self.error = Some(ChunkError::SignatureDoesNotMatch);
            return Err(ChunkError::SignatureDoesNotMatch);
        }
        // A chunk of another body would find none waiting here.
        self.unverified = self
            .unverified
            .checked_sub(1)
            .ok_or(ChunkError::SignatureDoesNotMatch)?;
        Ok(())
    }

    /// Enforces S3's rule that every chunk but the last carries at least
    /// `min` bytes (S3 uses [`S3_MIN_CHUNK_SIZE`]). Off by default for
    /// leniency towards non-AWS clients.
    pub fn with_min_chunk_size(mut self, min: u64) -> Self {
        self.min_chunk_size = min;
        self
    }

    /// Decoded bytes emitted so far.
    pub fn decoded_so_far(&self) -> u64 {
        self.total
    }

    /// True once the terminating empty line has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done && self.error.is_none()
    }

    /// Consumes one fragment, emitting decoded data through `out` as slices of
    /// `input`. After an error the decoder stays failed.
    pub fn feed(&mut self, input: &[u8], out: &mut impl FnMut(&[u8])) -> Result<(), ChunkError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let r = self.feed_inner(input, out);
        if let Err(e) = r {
            self.error = Some(e);
        }
        r
    }

    /// Ends the body: checks it was complete, verifies the trailer signature
    /// and checksum. Only `Ok` means the data may be committed.
    pub fn finish(mut self) -> Result<Trailer, ChunkError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.unverified > 0 {
            return Err(ChunkError::SignatureDoesNotMatch);
        }
        match self.state {
            State::Done => {}
            // Tolerate a trailer section without its closing empty line (as in
            // AWS's own documented example) once at least something complete
            // was read after the final chunk.
            State::Trailer
                if self.line.is_empty() && (self.trailer_lines > 0 || self.skipped_blank) =>
            {
                // Without the closing line the body may simply be cut short:
                // report a missing trailer part as truncation.
                self.finalize_trailer().map_err(|e| match e {
                    ChunkError::InvalidTrailer(_) => ChunkError::IncompleteBody,
                    other => other,
                })?;
            }
            _ => return Err(ChunkError::IncompleteBody),
        }
        let checksum = match (self.checksummer.take(), self.trailer_checksum) {
            (Some(c), Some(claimed)) => {
                if c.finalize() != claimed {
                    return Err(ChunkError::BadDigest);
                }
                Some(claimed)
            }
            _ => None,
        };
        Ok(Trailer {
            checksum,
            decoded_len: self.total,
        })
    }

    fn feed_inner(
        &mut self,
        mut input: &[u8],
        out: &mut impl FnMut(&[u8]),
    ) -> Result<(), ChunkError> {
        while !input.is_empty() {
            match self.state {
                State::Header => {
                    if self.take_line(&mut input, MAX_CHUNK_HEADER_LEN)?.is_none() {
                        return Ok(());
                    }
                    self.on_chunk_header()?;
                }
                State::Data { remaining } => {
                    let n = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
                    let (data, rest) = input.split_at(n);
                    input = rest;
                    if self.mode.signed() && !self.deferred {
                        self.hasher.update(data);
                    }
                    if let Some(c) = self.checksummer.as_mut() {
                        c.update(data);
                    }
                    out(data);
                    // Cannot overflow: the chunk header checked total + size.
                    self.total += n as u64;
                    let remaining = remaining - n as u64;
                    self.state = State::Data { remaining };
                    if remaining == 0 {
                        if self.mode.signed() && self.deferred {
                            self.defer_chunk();
                        } else if self.mode.signed() {
                            let digest = self.hasher.finalize_reset();
                            self.verify_chunk(&hex::encode(digest))?;
                        }
                        self.state = State::DataCr;
                    }
                }
                State::DataCr => {
                    if input[0] != b'\r' {
                        return Err(ChunkError::Malformed("missing CRLF after chunk data"));
                    }
                    input = &input[1..];
                    self.state = State::DataLf;
                }
                State::DataLf => {
                    if input[0] != b'\n' {
                        return Err(ChunkError::Malformed("missing CRLF after chunk data"));
                    }
                    input = &input[1..];
                    self.state = State::Header;
                }
                State::Trailer => {
                    let budget = MAX_TRAILER_LEN.saturating_sub(self.trailer_len);
                    let Some(len) = self.take_line(&mut input, budget)? else {
                        return Ok(());
                    };
                    self.trailer_len += len;
                    self.on_trailer_line()?;
                }
                State::Done => return Err(ChunkError::Malformed("data after the final chunk")),
            }
        }
        Ok(())
    }

    /// Moves bytes up to and including `\n` into `self.line`. Returns the
    /// complete line's length (CRLF included) with the CRLF stripped from
    /// `self.line`, or `None` if more input is needed.
    fn take_line(&mut self, input: &mut &[u8], max: usize) -> Result<Option<usize>, ChunkError> {
        let too_long = ChunkError::Malformed("chunk header or trailer line too long");
        match input.iter().position(|&b| b == b'\n') {
            None => {
                if self.line.len() + input.len() > max {
                    return Err(too_long);
                }
                self.line.extend_from_slice(input);
                *input = &[];
                Ok(None)
            }
            Some(i) => {
                if self.line.len() + i + 1 > max {
                    return Err(too_long);
                }
                self.line.extend_from_slice(&input[..i]);
                *input = &input[i + 1..];
                let len = self.line.len() + 1;
                if self.line.pop() != Some(b'\r') {
                    return Err(ChunkError::Malformed("line not terminated by CRLF"));
                }
                Ok(Some(len))
            }
        }
    }

    fn on_chunk_header(&mut self) -> Result<(), ChunkError> {
        let line = std::mem::take(&mut self.line);
        let r = self.parse_chunk_header(&line);
        // Reuse the allocation for the next line.
        self.line = line;
        self.line.clear();
        let size = r?;

        let total = self
            .total
            .checked_add(size)
            .ok_or(ChunkError::Malformed("chunk size overflow"))?;
        if self.decoded_len.is_some_and(|d| total > d) {
            return Err(ChunkError::IncompleteBody);
        }
        if size > 0
            && self
                .last_chunk_size
                .is_some_and(|prev| prev < self.min_chunk_size)
        {
            return Err(ChunkError::InvalidChunkSize);
        }
        if size == 0 {
            if self.mode.signed() {
                self.verify_chunk(EMPTY_SHA256_HEX)?;
            }
            if self.decoded_len.is_some_and(|d| d != self.total) {
                return Err(ChunkError::IncompleteBody);
            }
            self.state = State::Trailer;
        } else {
            self.last_chunk_size = Some(size);
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    /// Parses `<hex>;chunk-signature=<64 hex>` (signed) or `<hex>[;ext]` (unsigned).
    fn parse_chunk_header(&mut self, line: &[u8]) -> Result<u64, ChunkError> {
        let (size_hex, ext) = match line.iter().position(|&b| b == b';') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if size_hex.is_empty() || size_hex.len() > 16 {
            return Err(ChunkError::Malformed("invalid chunk size"));
        }
        let mut size: u64 = 0;
        for &b in size_hex {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return Err(ChunkError::Malformed("invalid chunk size")),
            };
            // At most 16 hex digits, so this cannot overflow u64.
            size = size << 4 | u64::from(d);
        }
        if self.mode.signed() {
            let sig = ext
                .and_then(|e| e.strip_prefix(SIG_PREFIX))
                .ok_or(ChunkError::Malformed("missing chunk-signature"))?;
            hex::decode_to_slice(sig, &mut self.chunk_sig)
                .map_err(|_| ChunkError::Malformed("invalid chunk-signature"))?;
        }
        // Unsigned mode: chunk extensions carry nothing we use; ignore them
        // as RFC 9112 allows.
        Ok(size)
    }

    fn ctx(&self) -> Result<&SigningContext, ChunkError> {
        self.ctx.as_ref().ok_or(ChunkError::SignatureDoesNotMatch)
    }

    /// Checks the claimed signature of the chunk whose data hashes to `data_hash_hex`.
    fn verify_chunk(&mut self, data_hash_hex: &str) -> Result<(), ChunkError> {
        let computed = chunk_signature(self.ctx()?, &self.prev_sig, data_hash_hex);
        if !bool::from(computed.ct_eq(&self.chunk_sig)) {
            return Err(ChunkError::SignatureDoesNotMatch);
        }
        self.prev_sig = hex::encode(computed);
        Ok(())
    }

    /// Queues the chunk just ended for the caller to check, and goes on
    /// from its claimed signature.
    fn defer_chunk(&mut self) {
        let claimed = self.chunk_sig;
        let prev_sig = std::mem::replace(&mut self.prev_sig, hex::encode(claimed));
        self.pending.push_back(PendingChunk {
            len: self.last_chunk_size.unwrap_or(0),
            prev_sig,
            claimed,
        });
        self.unverified += 1;
    }

    fn on_trailer_line(&mut self) -> Result<(), ChunkError> {
        let line = std::mem::take(&mut self.line);
        let r = self.handle_trailer_line(&line);
        self.line = line;
        self.line.clear();
        r
    }

    fn handle_trailer_line(&mut self, line: &[u8]) -> Result<(), ChunkError> {
        if line.is_empty() {
            // Some clients (and AWS's documentation example) put an empty line
            // between the final chunk and the trailer; skip one such line when
            // a trailer can follow.
            let trailer_may_follow = self.mode == ChunkMode::SignedTrailer
                || (self.mode == ChunkMode::UnsignedTrailer && self.expected_trailer.is_some());
            if trailer_may_follow && self.trailer_lines == 0 && !self.skipped_blank {
                self.skipped_blank = true;
                return Ok(());
            }
            self.finalize_trailer()?;
            self.state = State::Done;
            return Ok(());
        }
        if self.mode == ChunkMode::Signed {
            return Err(ChunkError::Malformed(
                "expected CRLF after the final chunk of a payload without trailer",
            ));
        }
        if self.trailer_sig.is_some() {
            return Err(ChunkError::InvalidTrailer(
                "trailer line after x-amz-trailer-signature",
            ));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ChunkError::InvalidTrailer("trailer line without ':'"))?;
        let name = std::str::from_utf8(trim(&line[..colon]))
            .map_err(|_| ChunkError::InvalidTrailer("trailer name is not UTF-8"))?
            .to_ascii_lowercase();
        let value = std::str::from_utf8(trim(&line[colon + 1..]))
            .map_err(|_| ChunkError::InvalidTrailer("trailer value is not UTF-8"))?;

        if name == TRAILER_SIG_NAME {
            if self.mode != ChunkMode::SignedTrailer {
                return Err(ChunkError::InvalidTrailer(
                    "x-amz-trailer-signature in an unsigned payload",
                ));
            }
            let mut sig = [0u8; 32];
            hex::decode_to_slice(value, &mut sig)
                .map_err(|_| ChunkError::InvalidTrailer("invalid x-amz-trailer-signature"))?;
            self.trailer_sig = Some(sig);
            return Ok(());
        }
        let algo = ChecksumAlgo::from_header_name(&name)
            .ok_or(ChunkError::InvalidTrailer("unknown trailer"))?;
        if self.expected_trailer != Some(algo) {
            return Err(ChunkError::InvalidTrailer(
                "trailer does not match x-amz-trailer",
            ));
        }
        if self.trailer_checksum.is_some() {
            return Err(ChunkError::InvalidTrailer("duplicate checksum trailer"));
        }
        let v = ChecksumValue::from_base64(algo, value)
            .ok_or(ChunkError::InvalidTrailer("invalid checksum trailer value"))?;
        self.trailer_checksum = Some(v);
        self.trailer_lines += 1;
        // Canonical form covered by the trailer signature: `name:value\n`.
        self.trailer_canon.extend_from_slice(name.as_bytes());
        self.trailer_canon.push(b':');
        self.trailer_canon.extend_from_slice(value.as_bytes());
        self.trailer_canon.push(b'\n');
        Ok(())
    }

    /// Checks trailer presence and its signature (the checksum itself is
    /// compared in `finish`, after the signature, so that a tampered value
    /// reports as a signature failure).
    fn finalize_trailer(&mut self) -> Result<(), ChunkError> {
        if self.expected_trailer.is_some() && self.trailer_checksum.is_none() {
            return Err(ChunkError::InvalidTrailer("missing checksum trailer"));
        }
        if self.mode != ChunkMode::SignedTrailer {
            return Ok(());
        }
        let claimed = match self.trailer_sig {
            Some(s) => s,
            // Nothing was sent after the final chunk: nothing to authenticate.
            None if self.trailer_lines == 0 => return Ok(()),
            None => {
                return Err(ChunkError::InvalidTrailer(
                    "missing x-amz-trailer-signature",
                ));
            }
        };
        let ctx = self.ctx()?;
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            ctx.timestamp,
            ctx.scope,
            self.prev_sig,
            hex::encode(Sha256::digest(&self.trailer_canon))
        );
        let computed = hmac_sha256(&ctx.signing_key, sts.as_bytes());
        if !bool::from(computed.ct_eq(&claimed)) {
            return Err(ChunkError::SignatureDoesNotMatch);
        }
        self.prev_sig = hex::encode(computed);
        Ok(())
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// The signature of a chunk whose data hashes to `data_hash_hex`, after
/// the one whose signature is `prev_sig` (lowercase hex).
fn chunk_signature(ctx: &SigningContext, prev_sig: &str, data_hash_hex: &str) -> [u8; 32] {
    let sts = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev_sig}\n{EMPTY_SHA256_HEX}\n{data_hash_hex}",
        ctx.timestamp, ctx.scope
    );
    hmac_sha256(&ctx.signing_key, sts.as_bytes())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length.
        Err(_) => unreachable!("HMAC takes any key length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::super::checksum::checksum;
    use super::super::sigv4::derive_signing_key;
    use super::*;

    const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const SIGS: [&str; 3] = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ];
    const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
    const TRAILER_SIGS: [&str; 3] = [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ];
    const TRAILER_SIG: &str = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";

    fn ctx(seed: &str) -> SigningContext {
        SigningContext {
            signing_key: derive_signing_key(SK, "20130524", "us-east-1", "s3"),
            timestamp: "20130524T000000Z".into(),
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            seed_signature: seed.into(),
        }
    }

    /// The body of AWS's documented chunked upload (64 KiB + 1 KiB of 'a').
    fn aws_body(sigs: [&str; 3], after_final: &str) -> Vec<u8> {
        let mut b = format!("10000;chunk-signature={}\r\n", sigs[0]).into_bytes();
        b.extend_from_slice(&[b'a'; 65536]);
        b.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", sigs[1]).as_bytes());
        b.extend_from_slice(&[b'a'; 1024]);
        b.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n", sigs[2]).as_bytes());
        b.extend_from_slice(after_final.as_bytes());
        b
    }

    fn decode_with(
        mut d: ChunkedDecoder,
        body: &[u8],
        sizes: &mut dyn FnMut() -> usize,
    ) -> (Vec<u8>, Result<Trailer, ChunkError>) {
        let mut out = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            let n = sizes().clamp(1, rest.len());
            let (frag, r) = rest.split_at(n);
            rest = r;
            if let Err(e) = d.feed(frag, &mut |s: &[u8]| out.extend_from_slice(s)) {
                // Sticky: feeding more and finishing report the same error.
                assert_eq!(d.feed(b"x", &mut |_: &[u8]| {}), Err(e));
                assert_eq!(d.finish(), Err(e));
                return (out, Err(e));
            }
        }
        (out, d.finish())
    }

    /// [`decode_with`] in deferred mode: the caller's part done as
    /// `s3::body` does it, the ended chunks' data hashed together and
    /// checked last first (order must not matter).
    fn decode_deferred(
        d: ChunkedDecoder,
        body: &[u8],
        sizes: &mut dyn FnMut() -> usize,
    ) -> (Vec<u8>, Result<Trailer, ChunkError>) {
        let mut d = d.defer_chunk_hashes();
        let mut out = Vec::new();
        let mut hashed = 0usize;
        let mut waiting = Vec::new();
        let mut rest = body;
        let check =
            |d: &mut ChunkedDecoder, waiting: &mut Vec<(PendingChunk, usize)>, out: &[u8]| {
                let msgs: Vec<[&[u8]; 1]> = waiting
                    .iter()
                    .map(|(c, at)| [&out[*at..*at + c.len as usize]])
                    .collect();
                let refs: Vec<&[&[u8]]> = msgs.iter().map(|m| &m[..]).collect();
                let digests = crate::hash::sha256x::digest_many(&refs);
                for ((c, _), h) in waiting.drain(..).zip(digests).rev() {
                    d.verify_pending(c, &h)?;
                }
                Ok(())
            };
        while !rest.is_empty() {
            let n = sizes().clamp(1, rest.len());
            let (frag, r) = rest.split_at(n);
            rest = r;
            let fed = d.feed(frag, &mut |s: &[u8]| out.extend_from_slice(s));
            while let Some(c) = d.take_pending() {
                let len = c.len as usize;
                waiting.push((c, hashed));
                hashed += len;
                if waiting.len() == 16 {
                    if let Err(e) = check(&mut d, &mut waiting, &out) {
                        return (out, Err(e));
                    }
                }
            }
            if let Err(e) = fed {
                return (out, Err(e));
            }
        }
        if let Err(e) = check(&mut d, &mut waiting, &out) {
            return (out, Err(e));
        }
        (out, d.finish())
    }

    fn decode(d: ChunkedDecoder, body: &[u8]) -> (Vec<u8>, Result<Trailer, ChunkError>) {
        decode_with(d, body, &mut || usize::MAX)
    }

    fn signed(seed: &str, len: Option<u64>) -> ChunkedDecoder {
        ChunkedDecoder::new(ChunkMode::Signed, Some(ctx(seed)), None, len)
    }

    fn signed_trailer(seed: &str) -> ChunkedDecoder {
        ChunkedDecoder::new(
            ChunkMode::SignedTrailer,
            Some(ctx(seed)),
            Some(ChecksumAlgo::Crc32c),
            Some(66560),
        )
    }

    fn unsigned(algo: Option<ChecksumAlgo>, len: Option<u64>) -> ChunkedDecoder {
        ChunkedDecoder::new(ChunkMode::UnsignedTrailer, None, algo, len)
    }

    /// Test encoder for signed bodies (the AWS vectors pin the algorithm).
    fn encode_signed(
        c: &SigningContext,
        chunks: &[&[u8]],
        trailer: Option<(ChecksumAlgo, String)>,
    ) -> Vec<u8> {
        let mut prev = c.seed_signature.clone();
        let mut out = Vec::new();
        let sign = |prev: &mut String, data: &[u8]| {
            let sts = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev}\n{EMPTY_SHA256_HEX}\n{}",
                c.timestamp,
                c.scope,
                hex::encode(Sha256::digest(data))
            );
            *prev = hex::encode(hmac_sha256(&c.signing_key, sts.as_bytes()));
            prev.clone()
        };
        for data in chunks.iter().chain(std::iter::once(&&b""[..])) {
            let sig = sign(&mut prev, data);
            out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", data.len()).as_bytes());
            if !data.is_empty() {
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
        }
        if let Some((algo, value)) = trailer {
            let canon = format!("{}:{value}\n", algo.header_name());
            let sts = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{prev}\n{}",
                c.timestamp,
                c.scope,
                hex::encode(Sha256::digest(canon.as_bytes()))
            );
            let sig = hex::encode(hmac_sha256(&c.signing_key, sts.as_bytes()));
            out.extend_from_slice(
                format!(
                    "{}:{value}\r\nx-amz-trailer-signature:{sig}\r\n",
                    algo.header_name()
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    fn encode_unsigned(chunks: &[&[u8]], trailer: Option<(ChecksumAlgo, String)>) -> Vec<u8> {
        let mut out = Vec::new();
        for data in chunks {
            out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n");
        if let Some((algo, value)) = trailer {
            out.extend_from_slice(format!("{}:{value}\r\n", algo.header_name()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    // -- AWS documented examples ---------------------------------------------

    #[test]
    fn deferred_chunk_hashes_accept_and_refuse_exactly_what_inline_ones_do() {
        let c = ctx(SEED);
        let chunks: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 8192 + i * 61]).collect();
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let body = encode_signed(&c, &refs, None);
        let want: Vec<u8> = chunks.concat();
        for frag in [usize::MAX, 1, 700, 8192, 65_536] {
            let (out, r) = decode_deferred(signed(SEED, None), &body, &mut || frag);
            assert_eq!(
                r.map(|t| t.decoded_len),
                Ok(want.len() as u64),
                "fragments of {frag}"
            );
            assert_eq!(out, want);
        }
        // One byte of chunk 30 changed: its check fails, wherever it falls
        // in a batch.
        let mut bad = body.clone();
        let at = body
            .windows(100)
            .position(|w| w.iter().all(|&b| b == 30))
            .expect("chunk 30's data");
        bad[at + 50] ^= 1;
        let (_, r) = decode_deferred(signed(SEED, None), &bad, &mut || 4096);
        assert_eq!(r, Err(ChunkError::SignatureDoesNotMatch));
        // The AWS vectors, and a wrong seed or swapped signatures.
        let aws = aws_body(SIGS, "\r\n");
        assert!(
            decode_deferred(signed(SEED, Some(66560)), &aws, &mut || 1000)
                .1
                .is_ok()
        );
        let (_, r) = decode_deferred(signed(TRAILER_SEED, None), &aws, &mut || 1000);
        assert_eq!(r, Err(ChunkError::SignatureDoesNotMatch));
        let swapped = aws_body([SIGS[1], SIGS[0], SIGS[2]], "\r\n");
        let (_, r) = decode_deferred(signed(SEED, None), &swapped, &mut || 1000);
        assert_eq!(r, Err(ChunkError::SignatureDoesNotMatch));
    }

    #[test]
    fn a_deferred_body_is_not_finished_until_every_chunk_is_checked() {
        let c = ctx(SEED);
        let body = encode_signed(&c, &[&[1u8; 9000][..], &[2u8; 100][..]], None);
        let mut d = signed(SEED, None).defer_chunk_hashes();
        d.feed(&body, &mut |_: &[u8]| {}).unwrap();
        let first = d.take_pending().expect("chunk 1");
        assert_eq!(first.len, 9000);
        let h: [u8; 32] = Sha256::digest([1u8; 9000]).into();
        d.verify_pending(first, &h).unwrap();
        // Chunk 2 taken but never checked: finishing fails closed.
        assert_eq!(d.take_pending().map(|c| c.len), Some(100));
        assert!(d.take_pending().is_none());
        assert_eq!(d.finish(), Err(ChunkError::SignatureDoesNotMatch));
    }

    #[test]
    fn aws_example_streaming_signed_payload() {
        let body = aws_body(SIGS, "\r\n");
        assert_eq!(body.len(), 66824, "AWS documents Content-Length 66824");
        for frag in [usize::MAX, 1, 7, 100, 4096, 65_536] {
            let (out, r) = decode_with(signed(SEED, Some(66560)), &body, &mut || frag);
            let t = r.unwrap();
            assert_eq!(t.decoded_len, 66560);
            assert_eq!(t.checksum, None);
            assert_eq!(out, vec![b'a'; 66560]);
        }
        // A different seed breaks the chain at the first chunk.
        let (_, r) = decode(signed(TRAILER_SEED, None), &body);
        assert_eq!(r, Err(ChunkError::SignatureDoesNotMatch));
        // Chunk signatures in the wrong order break it too.
        let (_, r) = decode(
            signed(SEED, None),
            &aws_body([SIGS[1], SIGS[0], SIGS[2]], "\r\n"),
        );
        assert_eq!(r, Err(ChunkError::SignatureDoesNotMatch));
        // Uppercase hex in a chunk signature is the same signature.
        let upper = aws_body([&SIGS[0].to_uppercase(), SIGS[1], SIGS[2]], "\r\n");
        assert!(decode(signed(SEED, None), &upper).1.is_ok());
    }

    #[test]
    fn aws_example_streaming_signed_payload_with_trailer() {
        let trailer =
            format!("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{TRAILER_SIG}\r\n");
        // As the SDKs send it, and as AWS's documentation prints it (an empty
        // line after the final chunk, none after the trailer).
        let standard = aws_body(TRAILER_SIGS, &format!("{trailer}\r\n"));
        let documented = aws_body(TRAILER_SIGS, &format!("\r\n{trailer}"));
        let both = aws_body(TRAILER_SIGS, &format!("\r\n{trailer}\r\n"));
        for body in [standard, documented, both] {
            for frag in [usize::MAX, 1, 13, 1000] {
                let (out, r) = decode_with(signed_trailer(TRAILER_SEED), &body, &mut || frag);
                let t = r.unwrap();
                assert_eq!(out.len(), 66560);
                assert_eq!(t.decoded_len, 66560);
                assert_eq!(t.checksum.unwrap().to_base64(), "sOO8/Q==");
                assert_eq!(t.checksum.unwrap().algo(), ChecksumAlgo::Crc32c);
            }
        }
        // Our test encoder reproduces AWS's bytes exactly.
        let c = ctx(TRAILER_SEED);
        let a = vec![b'a'; 65536];
        let enc = encode_signed(
            &c,
            &[&a, &a[..1024]],
            Some((ChecksumAlgo::Crc32c, "sOO8/Q==".into())),
        );
        assert_eq!(enc, aws_body(TRAILER_SIGS, &format!("{trailer}\r\n")));
        assert_eq!(
            encode_signed(&ctx(SEED), &[&a, &a[..1024]], None),
            aws_body(SIGS, "\r\n")
        );
    }

    #[test]
    fn trailer_signature_and_checksum_are_enforced() {
        let c = ctx(SEED);
        let data = b"hello world, this is a small object".as_slice();
        let good = checksum(ChecksumAlgo::Crc32c, data).to_base64();
        let dec = || {
            ChunkedDecoder::new(
                ChunkMode::SignedTrailer,
                Some(ctx(SEED)),
                Some(ChecksumAlgo::Crc32c),
                Some(data.len() as u64),
            )
        };
        let body = encode_signed(&c, &[data], Some((ChecksumAlgo::Crc32c, good.clone())));
        assert!(decode(dec(), &body).1.is_ok());
        // Correctly signed but wrong checksum: BadDigest.
        let wrong = checksum(ChecksumAlgo::Crc32c, b"other").to_base64();
        let body = encode_signed(&c, &[data], Some((ChecksumAlgo::Crc32c, wrong.clone())));
        let e = decode(dec(), &body).1.unwrap_err();
        assert_eq!(e, ChunkError::BadDigest);
        // Checksum swapped without re-signing: signature failure.
        let body = encode_signed(&c, &[data], Some((ChecksumAlgo::Crc32c, good.clone())));
        let s = String::from_utf8_lossy(&body).replace(&good, &wrong);
        assert_eq!(
            decode(dec(), s.as_bytes()).1,
            Err(ChunkError::SignatureDoesNotMatch)
        );
        // Signature line removed.
        let cut = s.find("x-amz-trailer-signature").unwrap();
        let mut nosig = body[..cut].to_vec();
        nosig.extend_from_slice(b"\r\n");
        assert!(matches!(
            decode(dec(), &nosig).1,
            Err(ChunkError::InvalidTrailer(_))
        ));
        // No trailer at all when one was announced: indistinguishable from a
        // body cut after the (optional) empty line, so IncompleteBody; with an
        // explicit closing line it is a trailer error.
        let body = encode_signed(&c, &[data], None);
        assert_eq!(decode(dec(), &body).1, Err(ChunkError::IncompleteBody));
        let mut closed = body.clone();
        closed.extend_from_slice(b"\r\n");
        assert!(matches!(
            decode(dec(), &closed).1,
            Err(ChunkError::InvalidTrailer(_))
        ));
        // Signed-trailer mode with no announced trailer and none sent is fine.
        let d = ChunkedDecoder::new(ChunkMode::SignedTrailer, Some(ctx(SEED)), None, None);
        let (out, r) = decode(d, &body);
        assert_eq!(r.unwrap().checksum, None);
        assert_eq!(out, data);
    }

    #[test]
    fn unsigned_trailer_mode() {
        let data = b"hello world".as_slice();
        for algo in ChecksumAlgo::ALL {
            let v = checksum(algo, data).to_base64();
            let body = encode_unsigned(&[&data[..5], &data[5..]], Some((algo, v.clone())));
            let (out, r) = decode(unsigned(Some(algo), Some(11)), &body);
            assert_eq!(out, data);
            let t = r.unwrap();
            assert_eq!(t.checksum.unwrap().to_base64(), v);
            // Wrong value: BadDigest.
            let bad = checksum(algo, b"hello worle").to_base64();
            let body = encode_unsigned(&[data], Some((algo, bad)));
            assert_eq!(
                decode(unsigned(Some(algo), None), &body).1,
                Err(ChunkError::BadDigest)
            );
        }
        // crc32 of "hello world" is DUoRhQ==.
        let body = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        assert!(decode(unsigned(Some(ChecksumAlgo::Crc32), Some(11)), body)
            .1
            .is_ok());
        // Trailer name case and spacing are tolerated.
        let body = b"b\r\nhello world\r\n0\r\nX-Amz-Checksum-CRC32 :  DUoRhQ==\r\n\r\n";
        assert!(decode(unsigned(Some(ChecksumAlgo::Crc32), Some(11)), body)
            .1
            .is_ok());
        // Chunk extensions are ignored in unsigned mode; uppercase hex sizes work.
        let body = b"B;foo=bar\r\nhello world\r\n0;x\r\n\r\n";
        let (out, r) = decode(unsigned(None, Some(11)), body);
        assert_eq!(out, data);
        assert_eq!(r.unwrap().checksum, None);
        // Empty body.
        assert_eq!(
            decode(unsigned(None, Some(0)), b"0\r\n\r\n")
                .1
                .unwrap()
                .decoded_len,
            0
        );
        assert!(
            decode(signed(SEED, Some(0)), &encode_signed(&ctx(SEED), &[], None))
                .1
                .is_ok()
        );
    }

    #[test]
    fn end_to_end_from_sigv4_verification() {
        use super::super::sigv4::{verify, Credentials, RequestParts, SigningKeyCache};
        use std::time::{Duration, UNIX_EPOCH};
        let mut h = http::HeaderMap::new();
        for (k, v) in [
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
            ("x-amz-trailer", "x-amz-checksum-crc32c"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                 SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;\
                 x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer, \
                 Signature=106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
            ),
        ] {
            h.insert(k, v.parse().unwrap());
        }
        let req = RequestParts {
            method: "PUT",
            raw_path: "/examplebucket/chunkObject.txt",
            raw_query: "",
            headers: &h,
        };
        let creds = Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: SK.into(),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let v = verify(&req, now, &creds, &mut SigningKeyCache::default()).unwrap();
        let trailer_algo = h
            .get("x-amz-trailer")
            .and_then(|t| ChecksumAlgo::from_header_name(t.to_str().ok()?));
        let d = ChunkedDecoder::new(
            v.payload.chunk_mode().unwrap(),
            Some(v.signing_context()),
            trailer_algo,
            Some(66560),
        );
        let body = aws_body(
            TRAILER_SIGS,
            &format!(
                "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{TRAILER_SIG}\r\n\r\n"
            ),
        );
        let (out, r) = decode_with(d, &body, &mut || 8191);
        assert_eq!(out.len(), 66560);
        assert_eq!(r.unwrap().checksum.unwrap().to_base64(), "sOO8/Q==");
    }

    // -- Fragmentation ---------------------------------------------------------

    fn small_signed_body() -> (Vec<u8>, Vec<u8>) {
        let c = ctx(SEED);
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        let v = checksum(ChecksumAlgo::Sha256, &data).to_base64();
        let body = encode_signed(
            &c,
            &[&data[..100], &data[100..101], &data[101..]],
            Some((ChecksumAlgo::Sha256, v)),
        );
        (body, data)
    }

    fn small_dec() -> ChunkedDecoder {
        ChunkedDecoder::new(
            ChunkMode::SignedTrailer,
            Some(ctx(SEED)),
            Some(ChecksumAlgo::Sha256),
            Some(300),
        )
    }

    #[test]
    fn every_split_point_gives_identical_output() {
        let (body, data) = small_signed_body();
        let whole = decode(small_dec(), &body);
        assert_eq!(whole.0, data);
        let t = whole.1.unwrap();
        for split in 0..=body.len() {
            let mut d = small_dec();
            let mut out = Vec::new();
            d.feed(&body[..split], &mut |s: &[u8]| out.extend_from_slice(s))
                .unwrap();
            d.feed(&body[split..], &mut |s: &[u8]| out.extend_from_slice(s))
                .unwrap();
            assert_eq!(out, data, "split {split}");
            assert_eq!(d.finish(), Ok(t), "split {split}");
        }
        // One byte at a time.
        let (out, r) = decode_with(small_dec(), &body, &mut || 1);
        assert_eq!(out, data);
        assert_eq!(r, Ok(t));
        // Random fragment sizes, including empty feeds.
        let mut rng = Rng(99);
        for _ in 0..300 {
            let mut d = small_dec();
            let mut out = Vec::new();
            let mut rest = &body[..];
            while !rest.is_empty() {
                let n = rng.below(40).min(rest.len());
                d.feed(&rest[..n], &mut |s: &[u8]| out.extend_from_slice(s))
                    .unwrap();
                rest = &rest[n..];
            }
            assert_eq!(out, data);
            assert_eq!(d.finish(), Ok(t));
        }
    }

    #[test]
    fn data_is_emitted_zero_copy() {
        let (body, _) = small_signed_body();
        let mut d = small_dec();
        let range = body.as_ptr_range();
        let mut count = 0;
        d.feed(&body, &mut |s: &[u8]| {
            let r = s.as_ptr_range();
            assert!(range.start <= r.start && r.end <= range.end);
            count += 1;
        })
        .unwrap();
        assert_eq!(count, 3);
        assert!(d.is_done());
        assert_eq!(d.decoded_so_far(), 300);
    }

    // -- Failures ----------------------------------------------------------------

    #[test]
    fn flipped_bytes_fail_the_signature() {
        let (body, _) = small_signed_body();
        let data_start = body.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        for pos in [data_start, data_start + 50, data_start + 99] {
            let mut b = body.clone();
            b[pos] ^= 0x01;
            let (_, r) = decode(small_dec(), &b);
            let e = r.unwrap_err();
            assert_eq!(e, ChunkError::SignatureDoesNotMatch);
        }
        // A flipped signature digit.
        let mut b = body.clone();
        let sig_pos = body.iter().position(|&c| c == b'=').unwrap() + 5;
        b[sig_pos] = if b[sig_pos] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            decode(small_dec(), &b).1,
            Err(ChunkError::SignatureDoesNotMatch)
        );
        // Every single-byte flip anywhere is rejected (or, for hex-case and
        // whitespace-insensitive spots, still yields the exact original data).
        let (_, data) = small_signed_body();
        for pos in 0..body.len() {
            let mut b = body.clone();
            b[pos] ^= 0x20;
            let (out, r) = decode(small_dec(), &b);
            if r.is_ok() {
                assert_eq!(out, data, "flip at {pos} accepted with other data");
            }
        }
    }

    #[test]
    fn truncation_is_incomplete_body() {
        let (body, _) = small_signed_body();
        for len in 0..body.len() {
            let r = decode(small_dec(), &body[..len]).1;
            if len == body.len() - 2 {
                // Only the closing CRLF missing: accepted (AWS example form).
                assert!(r.is_ok());
            } else {
                let e = r.unwrap_err();
                assert_eq!(e, ChunkError::IncompleteBody, "len {len}");
            }
        }
        let body = aws_body(SIGS, "\r\n");
        for len in [0, 1, 10, 90, 65_000, body.len() - 1, body.len() - 2] {
            assert_eq!(
                decode(signed(SEED, None), &body[..len]).1,
                Err(ChunkError::IncompleteBody)
            );
        }
    }

    #[test]
    fn decoded_length_must_match() {
        let body = aws_body(SIGS, "\r\n");
        assert_eq!(
            decode(signed(SEED, Some(66559)), &body).1,
            Err(ChunkError::IncompleteBody)
        );
        assert_eq!(
            decode(signed(SEED, Some(66561)), &body).1,
            Err(ChunkError::IncompleteBody)
        );
        // Too long is caught at the chunk header, before the data is emitted.
        let (out, r) = decode(signed(SEED, Some(1000)), &body);
        assert_eq!(r, Err(ChunkError::IncompleteBody));
        assert!(out.is_empty());
    }

    #[test]
    fn malformed_framing() {
        let m = |body: &[u8]| {
            let e = decode(unsigned(None, None), body).1.unwrap_err();
            assert!(
                matches!(e, ChunkError::Malformed(_)),
                "{:?}: {e:?}",
                String::from_utf8_lossy(body)
            );
        };
        m(b"zz\r\n");
        m(b"\r\n");
        m(b" 5\r\nhello\r\n0\r\n\r\n");
        m(b"5 \r\nhello\r\n0\r\n\r\n");
        m(b"-5\r\n");
        m(b"0x5\r\n");
        m(b"5\nhello\r\n0\r\n\r\n");
        m(b"5\r\nhelloX\r\n0\r\n\r\n");
        m(b"5\r\nhello\rX0\r\n\r\n");
        m(b"5\r\nhello\n\r0\r\n\r\n");
        m(b"11111111111111111\r\n");
        m(b"1\r\na\r\nffffffffffffffff\r\n");
        m(b"0\r\n\r\nextra");
        m(b"0\r\n\r\n\r\n");
        m(&[b'1'; MAX_CHUNK_HEADER_LEN + 1]);
        m(b"\xff\xff\xff\r\n");
        // A header line that is exactly at the limit is fine.
        let mut ok = b"5;".to_vec();
        ok.resize(MAX_CHUNK_HEADER_LEN - 2, b'x');
        ok.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert!(decode(unsigned(None, Some(5)), &ok).1.is_ok());
        // Signed mode: the signature extension is mandatory and exact.
        let sig = SIGS[0];
        for h in [
            "10000\r\n".to_string(),
            format!("10000;chunk-signature={}\r\n", &sig[..63]),
            format!("10000;chunk-signature={sig}0\r\n"),
            format!("10000;chunk-signature= {sig}\r\n"),
            format!("10000;chunk-signatur={sig}\r\n"),
            format!("10000;chunk-signature={}\r\n", "g".repeat(64)),
        ] {
            let e = decode(signed(SEED, None), h.as_bytes()).1.unwrap_err();
            assert!(matches!(e, ChunkError::Malformed(_)), "{h:?}: {e:?}");
        }
        // Trailer lines in a payload that cannot have one.
        let mut b = encode_signed(&ctx(SEED), &[b"abc"], None);
        b.truncate(b.len() - 2);
        b.extend_from_slice(b"x-amz-checksum-crc32:DUoRhQ==\r\n\r\n");
        assert!(matches!(
            decode(signed(SEED, None), &b).1,
            Err(ChunkError::Malformed(_))
        ));
        // Oversized trailer section.
        let mut b = b"0\r\n".to_vec();
        for _ in 0..2000 {
            b.extend_from_slice(b"x-amz-checksum-crc32:\r\n");
        }
        assert!(matches!(
            decode(unsigned(Some(ChecksumAlgo::Crc32), None), &b).1,
            Err(ChunkError::Malformed(_)) | Err(ChunkError::InvalidTrailer(_))
        ));
        let mut b = b"0\r\nx-amz-checksum-crc32:".to_vec();
        b.resize(MAX_TRAILER_LEN + 10, b'A');
        assert!(matches!(
            decode(unsigned(Some(ChecksumAlgo::Crc32), None), &b).1,
            Err(ChunkError::Malformed(_))
        ));
    }

    #[test]
    fn trailer_errors() {
        let t = |algo: Option<ChecksumAlgo>, trailer: &str| {
            let body = format!("b\r\nhello world\r\n0\r\n{trailer}\r\n");
            decode(unsigned(algo, Some(11)), body.as_bytes()).1
        };
        let crc = Some(ChecksumAlgo::Crc32);
        let inv = |r: Result<Trailer, ChunkError>| {
            let e = r.unwrap_err();
            assert!(matches!(e, ChunkError::InvalidTrailer(_)), "{e:?}");
        };
        inv(t(crc, "x-amz-checksum-crc32c:yZRlqg==\r\n"));
        inv(t(None, "x-amz-checksum-crc32:DUoRhQ==\r\n"));
        inv(t(
            crc,
            "x-amz-checksum-crc32:DUoRhQ==\r\nx-amz-checksum-crc32:DUoRhQ==\r\n",
        ));
        inv(t(crc, "x-amz-checksum-crc32:DUoRhQ\r\n"));
        inv(t(crc, "x-amz-checksum-crc32:AAAAAAAAAAA=\r\n"));
        inv(t(crc, "x-amz-checksum-crc32\r\n"));
        inv(t(crc, "x-amz-meta-foo:bar\r\n"));
        inv(t(
            crc,
            &format!("x-amz-checksum-crc32:DUoRhQ==\r\nx-amz-trailer-signature:{TRAILER_SIG}\r\n"),
        ));
        inv(t(crc, "\u{e9}:x\r\n"));
        // Announced but absent: truncation-like without, trailer error with
        // an explicit closing line.
        assert_eq!(t(crc, ""), Err(ChunkError::IncompleteBody));
        inv(t(crc, "\r\n"));
        // Non-UTF-8 trailer bytes.
        let body = b"0\r\nx-amz-checksum-crc32:\xff\xfe\r\n\r\n";
        inv(decode(unsigned(crc, None), body).1);
        // Line after the trailer signature (signed mode).
        let c = ctx(SEED);
        let v = checksum(ChecksumAlgo::Crc32, b"abc").to_base64();
        let mut b = encode_signed(&c, &[b"abc"], Some((ChecksumAlgo::Crc32, v)));
        b.truncate(b.len() - 2);
        b.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
        let d = ChunkedDecoder::new(ChunkMode::SignedTrailer, Some(ctx(SEED)), crc, None);
        inv(decode(d, &b).1);
        // Malformed trailer signature value.
        let d = ChunkedDecoder::new(ChunkMode::SignedTrailer, Some(ctx(SEED)), None, None);
        let mut b = encode_signed(&c, &[b"abc"], None);
        b.truncate(b.len() - 2);
        b.extend_from_slice(b"x-amz-trailer-signature:xyz\r\n\r\n");
        inv(decode(d, &b).1);
    }

    #[test]
    fn misconfiguration_fails_closed() {
        let body = aws_body(SIGS, "\r\n");
        let d = ChunkedDecoder::new(ChunkMode::Signed, None, None, None);
        assert_eq!(decode(d, &body).1, Err(ChunkError::SignatureDoesNotMatch));
        let d = ChunkedDecoder::new(ChunkMode::SignedTrailer, None, None, None);
        assert_eq!(decode(d, &body).1, Err(ChunkError::SignatureDoesNotMatch));
        let d = ChunkedDecoder::new(
            ChunkMode::Signed,
            Some(ctx(SEED)),
            Some(ChecksumAlgo::Crc32),
            None,
        );
        assert!(matches!(
            decode(d, &body).1,
            Err(ChunkError::InvalidTrailer(_))
        ));
        let d = ChunkedDecoder::new(ChunkMode::Signed, None, None, None);
        assert_eq!(d.finish(), Err(ChunkError::SignatureDoesNotMatch));
    }

    #[test]
    fn minimum_chunk_size_when_enabled() {
        let small = encode_unsigned(&[b"abc", b"def"], None);
        let big_then_small = {
            let a = vec![b'x'; 8192];
            encode_unsigned(&[&a, b"tail"], None)
        };
        assert!(decode(unsigned(None, None), &small).1.is_ok());
        let d = unsigned(None, None).with_min_chunk_size(S3_MIN_CHUNK_SIZE);
        let e = decode(d, &small).1.unwrap_err();
        assert_eq!(e, ChunkError::InvalidChunkSize);
        let d = unsigned(None, None).with_min_chunk_size(S3_MIN_CHUNK_SIZE);
        assert!(decode(d, &big_then_small).1.is_ok());
        // A single small chunk is the last chunk: fine.
        let d = unsigned(None, None).with_min_chunk_size(S3_MIN_CHUNK_SIZE);
        assert!(decode(d, &encode_unsigned(&[b"abc"], None)).1.is_ok());
    }

    /// Codes and statuses live in `s3::error`; here every variant needs a
    /// message for the client and a detail for the log.
    #[test]
    fn every_error_has_a_message_and_detail() {
        let all = [
            ChunkError::SignatureDoesNotMatch,
            ChunkError::Malformed("x"),
            ChunkError::IncompleteBody,
            ChunkError::BadDigest,
            ChunkError::InvalidTrailer("x"),
            ChunkError::InvalidChunkSize,
        ];
        for e in all {
            assert!(!e.message().is_empty() && !e.detail().is_empty());
            assert_eq!(e.to_string(), e.detail());
        }
        assert_eq!(ChunkError::Malformed("why").detail(), "why");
        assert!(!format!("{:?}", ctx(SEED)).contains("signing_key: ["));
    }

    // -- Property tests: random input never panics ----------------------------

    #[test]
    fn random_garbage_never_panics() {
        let mut rng = Rng(0xDEAD_BEEF);
        let alphabet = b"0123456789abcdefABCDEF;=\r\n:-xz chunk-signature=x-amz-checksum-crc32";
        for i in 0..3000 {
            let len = rng.below(200);
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    if i % 3 == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect();
            for mode in [
                ChunkMode::Signed,
                ChunkMode::SignedTrailer,
                ChunkMode::UnsignedTrailer,
            ] {
                let algo = if mode == ChunkMode::Signed {
                    None
                } else {
                    Some(ChecksumAlgo::Crc32)
                };
                let d = ChunkedDecoder::new(mode, Some(ctx(SEED)), algo, None);
                let mut r2 = Rng(i as u64 + 1);
                let _ = decode_with(d, &body, &mut || r2.below(17));
            }
        }
    }

    #[test]
    fn random_mutations_never_panic_or_leak_other_data() {
        let (body, data) = small_signed_body();
        let mut rng = Rng(42);
        for _ in 0..3000 {
            let mut b = body.clone();
            for _ in 0..=rng.below(3) {
                match rng.below(3) {
                    0 => {
                        let p = rng.below(b.len());
                        b[p] = rng.next() as u8;
                    }
                    1 => {
                        let p = rng.below(b.len());
                        b.remove(p);
                    }
                    _ => {
                        let p = rng.below(b.len() + 1);
                        b.insert(p, rng.next() as u8);
                    }
                }
            }
            let mut r2 = Rng(rng.next() | 1);
            let (out, r) = decode_with(small_dec(), &b, &mut || r2.below(64));
            if r.is_ok() {
                assert_eq!(out, data);
            }
        }
    }
}
