//! The compression around a snowball archive, told by its first bytes as
//! MinIO does (gzip and zstd; anything else is read as a plain tar), and
//! decoded in bounded steps: every call writes at most the room it is
//! given, however well the input compresses.

use std::fmt;

use bytes::BytesMut;
use flate2::{Decompress, FlushDecompress, Status};
use zstd::stream::raw::{DParameter, Decoder as ZstdDecoder, InBuffer, Operation, OutBuffer};

/// zstd frames may ask for windows up to 2 GiB; warp's are at most
/// 16 MiB, and each concurrent upload holds one.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From the archive's first bytes; `None` until 4 are known (or the
    /// archive is shorter: then `end` says so).
    pub fn detect(head: &[u8], end: bool) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b, 8]) {
            return Some(Compression::Gzip);
        }
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Some(Compression::Zstd);
        }
        (head.len() >= 4 || end).then_some(Compression::None)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveError(pub String);

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

enum Inner {
    Plain,
    Gzip(Box<Decompress>),
    Zstd(Box<ZstdDecoder<'static>>),
}

/// What one [`Decoder::decode`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub used: usize,
    pub produced: usize,
}

pub struct Decoder {
    inner: Inner,
    /// Whether the compressed stream is at a frame (gzip member) boundary.
    at_boundary: bool,
}

impl Decoder {
    pub fn new(c: Compression) -> Result<Decoder, ArchiveError> {
        let inner = match c {
            Compression::None => Inner::Plain,
            Compression::Gzip => Inner::Gzip(Box::new(Decompress::new_gzip(15))),
            Compression::Zstd => {
                let mut d = ZstdDecoder::new().map_err(zstd_error)?;
                d.set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
                    .map_err(zstd_error)?;
                Inner::Zstd(Box::new(d))
            }
        };
        Ok(Decoder {
            inner,
            at_boundary: true,
        })
    }

    /// Decodes from `input`, appending at most `room` bytes to `out`.
    /// Call it with empty input too until it produces nothing: a
    /// decoder may hold output back when `room` ran out.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        room: usize,
    ) -> Result<Decoded, ArchiveError> {
        const NOTHING: Decoded = Decoded {
            used: 0,
            produced: 0,
        };
        if room == 0 || (input.is_empty() && self.at_boundary) {
            return Ok(NOTHING);
        }
        let start = out.len();
        match &mut self.inner {
            Inner::Plain => {
                let n = input.len().min(room);
                out.extend_from_slice(&input[..n]);
                Ok(Decoded {
                    used: n,
                    produced: n,
                })
            }
            Inner::Gzip(d) => {
                if self.at_boundary && d.total_in() > 0 {
                    // Another gzip member (concatenated gzip is one
                    // stream), or the NULs some writers pad with.
                    if input.iter().all(|&b| b == 0) {
                        return Ok(Decoded {
                            used: input.len(),
                            produced: 0,
                        });
                    }
                    **d = Decompress::new_gzip(15);
                }
                out.resize(start + room, 0);
                let (in0, out0) = (d.total_in(), d.total_out());
                let status = d
                    .decompress(input, &mut out[start..], FlushDecompress::None)
                    .map_err(|e| ArchiveError(format!("gzip: {e}")));
                let produced = usize::try_from(d.total_out() - out0).unwrap_or(room);
                out.truncate(start + produced);
                self.at_boundary = status? == Status::StreamEnd;
                let used = usize::try_from(d.total_in() - in0).unwrap_or(input.len());
                if !input.is_empty() && used == 0 && produced == 0 && !self.at_boundary {
                    return Err(ArchiveError("gzip: the stream does not advance".into()));
                }
                Ok(Decoded { used, produced })
            }
            Inner::Zstd(d) => {
                out.resize(start + room, 0);
                let mut inb = InBuffer::around(input);
                let mut outb = OutBuffer::around(&mut out[start..]);
                let hint = d.run(&mut inb, &mut outb).map_err(zstd_error);
                let produced = outb.pos();
                out.truncate(start + produced);
                // 0: a frame has ended, been checked and fully flushed.
                self.at_boundary = hint? == 0;
                Ok(Decoded {
                    used: inb.pos(),
                    produced,
                })
            }
        }
    }

    /// At the end of the input: whether the compressed stream ended
    /// whole (a truncated gzip or zstd stream is refused here).
    pub fn finish(&self) -> Result<(), ArchiveError> {
        match self.inner {
            Inner::Plain => Ok(()),
            _ if self.at_boundary => Ok(()),
            _ => Err(ArchiveError("the compressed archive is truncated".into())),
        }
    }
}

fn zstd_error(e: std::io::Error) -> ArchiveError {
    ArchiveError(format!("zstd: {e}"))
}
