//! Request bodies: nothing, a buffer, or an object streamed as signed
//! aws-chunked frames whose chunk signatures are computed as it is sent.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::data::CHUNK;
use crate::sign::ChunkSigner;

/// SHA-256 of nothing: the hash of the final, empty chunk.
const EMPTY: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// `;chunk-signature=` plus 64 hex digits plus CRLF.
const SIG_LEN: u64 = 17 + 64 + 2;

/// Length on the wire of `decoded` bytes sent as aws-chunked with signatures.
pub fn aws_chunked_len(decoded: u64) -> u64 {
    let chunk = CHUNK as u64;
    let hex_len = |n: u64| u64::from((64 - n.leading_zeros()).div_ceil(4).max(1));
    let full = decoded / chunk;
    let rest = decoded % chunk;
    let mut len = full * (hex_len(chunk) + SIG_LEN + chunk + 2);
    if rest > 0 {
        len += hex_len(rest) + SIG_LEN + rest + 2;
    }
    len + 1 + SIG_LEN + 2
}

pub enum ReqBody {
    Empty,
    Full(Option<Bytes>),
    /// Buffers sent one after the other (a POST form around an object,
    /// which is not copied).
    Pieces(std::collections::VecDeque<Bytes>),
    Chunked(Chunked),
}

pub struct Chunked {
    data: Bytes,
    hashes: Arc<[[u8; 32]]>,
    signer: ChunkSigner,
    pos: usize,
    next_data: Option<Bytes>,
    done: bool,
}

impl Chunked {
    /// `hashes` holds the SHA-256 of each [`CHUNK`] of `data`.
    pub fn new(data: Bytes, hashes: Arc<[[u8; 32]]>, signer: ChunkSigner) -> Self {
        debug_assert_eq!(hashes.len(), data.len().div_ceil(CHUNK));
        Chunked {
            data,
            hashes,
            signer,
            pos: 0,
            next_data: None,
            done: false,
        }
    }

    /// The next frame: a chunk header (after the previous chunk's CRLF), or
    /// the chunk's data as a slice of the shared buffer.
    fn next_frame(&mut self) -> Option<Bytes> {
        if let Some(d) = self.next_data.take() {
            return Some(d);
        }
        if self.done {
            return None;
        }
        let n = CHUNK.min(self.data.len() - self.pos);
        let hash = if n == 0 {
            &EMPTY
        } else {
            &self.hashes[self.pos / CHUNK]
        };
        let mut head = String::with_capacity(100);
        if self.pos > 0 {
            head.push_str("\r\n");
        }
        let _ = write!(head, "{n:x};chunk-signature={}\r\n", self.signer.next(hash));
        if n == 0 {
            head.push_str("\r\n");
            self.done = true;
        } else {
            self.next_data = Some(self.data.slice(self.pos..self.pos + n));
            self.pos += n;
        }
        Some(Bytes::from(head))
    }
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            ReqBody::Empty => None,
            ReqBody::Full(b) => b.take(),
            ReqBody::Pieces(p) => p.pop_front(),
            ReqBody::Chunked(c) => c.next_frame(),
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Full(b) => b.is_none(),
            ReqBody::Pieces(p) => p.is_empty(),
            ReqBody::Chunked(c) => c.done && c.next_data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ReqBody::Pieces(p) => SizeHint::with_exact(p.iter().map(|b| b.len() as u64).sum()),
            // Only asked before the first frame.
            ReqBody::Chunked(c) => SizeHint::with_exact(aws_chunked_len(c.data.len() as u64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::{Signer, STREAMING_PAYLOAD};
    use sha2::{Digest, Sha256};

    #[test]
    fn chunked_length_matches_aws_example() {
        assert_eq!(aws_chunked_len(66_560), 66_824);
        assert_eq!(aws_chunked_len(0), 86);
    }

    /// The AWS streaming example, framed: exactly the documented body.
    #[test]
    fn frames_the_aws_example() {
        let t = "20130524T000000Z";
        let headers = [
            ("content-encoding", "aws-chunked"),
            ("content-length", "66824"),
            ("host", "s3.amazonaws.com"),
            ("x-amz-content-sha256", STREAMING_PAYLOAD),
            ("x-amz-date", t),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ];
        let sig = Signer::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "us-east-1",
        )
        .sign(
            t,
            "PUT",
            "/examplebucket/chunkObject.txt",
            "",
            &headers,
            STREAMING_PAYLOAD,
        );
        let data = Bytes::from(vec![b'a'; 66_560]);
        let hashes: Arc<[[u8; 32]]> = data
            .chunks(CHUNK)
            .map(|c| Sha256::digest(c).into())
            .collect();
        let mut body = Chunked::new(data, hashes, ChunkSigner::new(&sig, t));
        let mut wire = Vec::new();
        while let Some(f) = body.next_frame() {
            wire.extend_from_slice(&f);
        }
        assert_eq!(wire.len(), 66_824);
        let mut expect = b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n".to_vec();
        expect.extend_from_slice(&[b'a'; 65_536]);
        expect.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        expect.extend_from_slice(&[b'a'; 1024]);
        expect.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        assert_eq!(wire, expect);
    }
}
