//! `ChunkedDecoder` in every mode: the result must not depend on how the body
//! is split across `feed` calls, output never exceeds input, and correctly
//! encoded bodies (signed with an independent encoder) decode to exactly
//! their payload. With chunk hashes deferred to the caller, a body is
//! accepted exactly when it is accepted with them checked inline.
#![no_main]

use arbitrary::Arbitrary;
use cairn::auth::checksum::{checksum, ChecksumAlgo};
use cairn::auth::chunked::{ChunkError, ChunkMode, ChunkedDecoder, SigningContext, Trailer};
use cairn::auth::sigv4::{derive_signing_key, hmac_sha256};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const EMPTY_SHA256_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[derive(Arbitrary, Debug)]
struct Input {
    mode: u8,
    with_ctx: bool,
    trailer: Option<u8>,
    decoded_len: Option<u16>,
    min_chunk: Option<u16>,
    /// Chunk hashes left to the caller: checked after every `feed`, or
    /// all of them only before `finish`.
    deferred: Option<bool>,
    seed: [u8; 32],
    body: Body,
    /// Fragment lengths for `feed`, cycled.
    splits: Vec<u16>,
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    Valid {
        payload: Vec<u8>,
        /// Chunk lengths, cycled; empty means one chunk.
        chunk_sizes: Vec<u16>,
        upper_hex: bool,
        zero_pad: u8,
        /// The optional empty line between the final chunk and the trailer.
        blank_before_trailer: bool,
        declare_len: bool,
        /// (position, xor) byte flips applied after encoding.
        flips: Vec<(u16, u8)>,
    },
}

fn ctx(seed: &[u8; 32]) -> SigningContext {
    SigningContext {
        signing_key: derive_signing_key(SECRET, "20130524", "us-east-1", "s3"),
        timestamp: "20130524T000000Z".into(),
        scope: "20130524/us-east-1/s3/aws4_request".into(),
        seed_signature: hex::encode(seed),
    }
}

fuzz_target!(|input: Input| {
    let mode = [
        ChunkMode::Signed,
        ChunkMode::SignedTrailer,
        ChunkMode::UnsignedTrailer,
    ][usize::from(input.mode % 3)];
    let algo = input
        .trailer
        .map(|t| ChecksumAlgo::ALL[usize::from(t) % ChecksumAlgo::ALL.len()]);
    let c = ctx(&input.seed);

    match input.body {
        Body::Raw(body) => {
            let new = || {
                let d = ChunkedDecoder::new(
                    mode,
                    input.with_ctx.then(|| c.clone()),
                    algo,
                    input.decoded_len.map(u64::from),
                );
                d.with_min_chunk_size(input.min_chunk.map_or(0, u64::from))
            };
            let (_, r) = decode_all_ways(&new, &body, &input.splits);
            if let Some(late) = input.deferred {
                let (_, rd) = decode_deferred_all_ways(&new, &body, &input.splits, late);
                assert_eq!(r.is_ok(), rd.is_ok(), "deferred checks disagree");
            }
        }
        Body::Valid {
            payload,
            chunk_sizes,
            upper_hex,
            zero_pad,
            blank_before_trailer,
            declare_len,
            flips,
        } => {
            // The Signed mode cannot carry a trailer.
            let algo = if mode == ChunkMode::Signed {
                None
            } else {
                algo
            };
            let chunks = split_payload(&payload, &chunk_sizes);
            let blank =
                blank_before_trailer && (mode == ChunkMode::SignedTrailer || algo.is_some());
            let enc = Encoding {
                upper_hex,
                zero_pad: usize::from(zero_pad % 4),
                blank,
            };
            let mut body = encode(mode, &c, &chunks, algo, &payload, &enc);
            let min = input.min_chunk.map_or(0, u64::from);
            let new = || {
                let d = ChunkedDecoder::new(
                    mode,
                    Some(c.clone()),
                    algo,
                    declare_len.then_some(payload.len() as u64),
                );
                d.with_min_chunk_size(min)
            };
            if flips.is_empty() {
                let (out, r) = decode_all_ways(&new, &body, &input.splits);
                let short = chunks.len() > 1
                    && chunks[..chunks.len() - 1]
                        .iter()
                        .any(|ch| (ch.len() as u64) < min);
                if short {
                    assert_eq!(r, Err(ChunkError::InvalidChunkSize));
                } else {
                    let t = r.unwrap_or_else(|e| panic!("valid body refused: {e}"));
                    assert_eq!(out, payload);
                    assert_eq!(t.checksum, algo.map(|a| checksum(a, &payload)));
                }
                if let Some(late) = input.deferred {
                    let (dout, rd) = decode_deferred_all_ways(&new, &body, &input.splits, late);
                    assert_eq!(r.is_ok(), rd.is_ok(), "deferred checks disagree");
                    if rd.is_ok() {
                        assert_eq!(dout, payload);
                    }
                }
            } else {
                for (pos, x) in flips {
                    let i = usize::from(pos) % body.len();
                    body[i] ^= x;
                }
                let (out, r) = decode_all_ways(&new, &body, &input.splits);
                if let Some(late) = input.deferred {
                    let (dout, rd) = decode_deferred_all_ways(&new, &body, &input.splits, late);
                    assert_eq!(r.is_ok(), rd.is_ok(), "deferred checks disagree");
                    if rd.is_ok() {
                        assert_eq!(dout, out);
                    }
                }
            }
        }
    }
});

/// Decodes in one piece, in the fuzz-chosen fragments and byte by byte;
/// all three must agree on the output and the outcome.
fn decode_all_ways(
    new: &dyn Fn() -> ChunkedDecoder,
    body: &[u8],
    splits: &[u16],
) -> (Vec<u8>, Result<Trailer, ChunkError>) {
    let whole = decode(new(), body, &mut || usize::MAX);
    let mut i = 0;
    let mut next = || {
        let n = splits
            .get(i % splits.len().max(1))
            .map_or(usize::MAX, |&n| usize::from(n));
        i += 1;
        n
    };
    let split = decode(new(), body, &mut next);
    assert_eq!(whole, split, "fragmented feed differs");
    let bytes = decode(new(), body, &mut || 1);
    assert_eq!(whole, bytes, "byte-by-byte feed differs");
    whole
}

/// The deferred mode in the same three fragmentings. Where a chunk's bad
/// signature is found depends on when its hash is checked, so only the
/// outcome, and the output of an accepted body, must agree.
fn decode_deferred_all_ways(
    new: &dyn Fn() -> ChunkedDecoder,
    body: &[u8],
    splits: &[u16],
    late: bool,
) -> (Vec<u8>, Result<Trailer, ChunkError>) {
    let whole = decode_deferred(new(), body, &mut || usize::MAX, late);
    let mut i = 0;
    let mut next = || {
        let n = splits
            .get(i % splits.len().max(1))
            .map_or(usize::MAX, |&n| usize::from(n).max(1));
        i += 1;
        n
    };
    let split = decode_deferred(new(), body, &mut next, late);
    let bytes = decode_deferred(new(), body, &mut || 1, late);
    for other in [&split, &bytes] {
        assert_eq!(whole.1.is_ok(), other.1.is_ok(), "fragmented feed differs");
        if whole.1.is_ok() {
            assert_eq!(whole.0, other.0);
        }
    }
    whole
}

/// Feeds `body`, hashing each ended chunk's data from the output and
/// checking it after every fragment, or (`late`) all at once at the end.
fn decode_deferred(
    d: ChunkedDecoder,
    body: &[u8],
    sizes: &mut dyn FnMut() -> usize,
    late: bool,
) -> (Vec<u8>, Result<Trailer, ChunkError>) {
    let mut d = d.defer_chunk_hashes();
    let mut out = Vec::new();
    let mut checked = 0usize;
    let mut rest = body;
    let mut check = |d: &mut ChunkedDecoder, out: &[u8]| -> Result<(), ChunkError> {
        while let Some(p) = d.take_pending() {
            let end = checked + usize::try_from(p.len).expect("chunk fits memory");
            assert!(end <= out.len(), "pending chunk past the output");
            let h: [u8; 32] = Sha256::digest(&out[checked..end]).into();
            checked = end;
            d.verify_pending(p, &h)?;
        }
        Ok(())
    };
    while !rest.is_empty() {
        let n = sizes().min(rest.len());
        let (frag, r) = rest.split_at(n);
        rest = r;
        let mut res = d.feed(frag, &mut |s: &[u8]| out.extend_from_slice(s));
        if res.is_ok() && !late {
            res = check(&mut d, &out);
        }
        if let Err(e) = res {
            assert_eq!(d.finish(), Err(e));
            return (out, Err(e));
        }
    }
    if let Err(e) = check(&mut d, &out) {
        assert_eq!(d.finish(), Err(e));
        return (out, Err(e));
    }
    let r = d.finish();
    if let Ok(t) = &r {
        assert_eq!(t.decoded_len, out.len() as u64);
    }
    (out, r)
}

fn decode(
    mut d: ChunkedDecoder,
    body: &[u8],
    sizes: &mut dyn FnMut() -> usize,
) -> (Vec<u8>, Result<Trailer, ChunkError>) {
    let mut out = Vec::new();
    let mut fed = 0usize;
    let mut rest = body;
    while !rest.is_empty() {
        let mut n = sizes();
        if n == 0 {
            // An empty fragment is legal and must change nothing.
            let before = out.len();
            if d.feed(&[], &mut |s: &[u8]| out.extend_from_slice(s))
                .is_err()
            {
                break;
            }
            assert_eq!(out.len(), before);
            n = 1;
        }
        let n = n.min(rest.len());
        let (frag, r) = rest.split_at(n);
        rest = r;
        fed += n;
        let res = d.feed(frag, &mut |s: &[u8]| out.extend_from_slice(s));
        assert!(out.len() <= fed, "emitted {} bytes of {fed} fed", out.len());
        assert_eq!(d.decoded_so_far(), out.len() as u64);
        if let Err(e) = res {
            // Errors are sticky.
            assert_eq!(
                d.feed(b"\r\n", &mut |_: &[u8]| panic!("output after error")),
                Err(e)
            );
            assert_eq!(d.finish(), Err(e));
            return (out, Err(e));
        }
    }
    let r = d.finish();
    if let Ok(t) = &r {
        assert_eq!(t.decoded_len, out.len() as u64);
        if let Some(v) = t.checksum {
            assert_eq!(v, checksum(v.algo(), &out));
        }
    }
    (out, r)
}

fn split_payload<'a>(payload: &'a [u8], sizes: &[u16]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .map_or(rest.len(), |&s| usize::from(s).max(1))
            .min(rest.len());
        i += 1;
        let (c, r) = rest.split_at(n);
        chunks.push(c);
        rest = r;
    }
    chunks
}

struct Encoding {
    upper_hex: bool,
    zero_pad: usize,
    blank: bool,
}

/// An aws-chunked encoder written from the AWS documentation, independent
/// of the decoder.
fn encode(
    mode: ChunkMode,
    c: &SigningContext,
    chunks: &[&[u8]],
    algo: Option<ChecksumAlgo>,
    payload: &[u8],
    enc: &Encoding,
) -> Vec<u8> {
    let signed = mode != ChunkMode::UnsignedTrailer;
    let mut prev = c.seed_signature.clone();
    let mut out = Vec::new();
    for data in chunks.iter().copied().chain([&b""[..]]) {
        let size = if enc.upper_hex {
            format!("{:X}", data.len())
        } else {
            format!("{:x}", data.len())
        };
        out.extend_from_slice("0".repeat(enc.zero_pad).as_bytes());
        out.extend_from_slice(size.as_bytes());
        if signed {
            let sts = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev}\n{EMPTY_SHA256_HEX}\n{}",
                c.timestamp,
                c.scope,
                hex::encode(Sha256::digest(data))
            );
            prev = hex::encode(hmac_sha256(&c.signing_key, sts.as_bytes()));
            out.extend_from_slice(format!(";chunk-signature={prev}").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if !data.is_empty() {
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
    }
    if enc.blank {
        out.extend_from_slice(b"\r\n");
    }
    if let Some(algo) = algo {
        let line = format!(
            "{}:{}",
            algo.header_name(),
            checksum(algo, payload).to_base64()
        );
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        if mode == ChunkMode::SignedTrailer {
            let sts = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{prev}\n{}",
                c.timestamp,
                c.scope,
                hex::encode(Sha256::digest(format!("{line}\n")))
            );
            let sig = hex::encode(hmac_sha256(&c.signing_key, sts.as_bytes()));
            out.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}
