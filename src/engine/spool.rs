//! Scratch files for request bodies that must be read twice (a snowball
//! archive is checked whole before any member is stored). They live in
//! `.cairn/spool/` of a writable drive, are never synced (a crash loses a
//! request that was never acknowledged) and are removed when the request
//! ends, or at the next start-up after a crash.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::runtime::buf::{align_up, AlignedBuf};
use crate::runtime::file::DirectFile;

pub const SPOOL_DIR: &str = "spool";
/// Bytes per write and per read: large enough that a spooled body costs a
/// few submissions per MiB.
const PIECE: usize = 1 << 20;

/// Removes what a crash left in `meta_dir`'s spool. Blocking: start-up.
pub fn clear(meta_dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(meta_dir.join(SPOOL_DIR)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A spool file being written, then read back. Removed on drop.
pub struct Spool {
    file: DirectFile,
    path: PathBuf,
    buf: Option<AlignedBuf>,
    fill: usize,
    /// Bytes written to the file (whole pieces).
    flushed: u64,
    len: u64,
    /// Bounded by [`Self::new`]'s `max`.
    max: u64,
}

impl Spool {
    /// Creates a spool file in `dir` (made if missing) that refuses to
    /// grow beyond `max` bytes.
    pub async fn new(dir: &Path, name: &str, max: u64) -> io::Result<Spool> {
        if !dir.exists() {
            crate::runtime::file::create_dir_durable(dir)?;
        }
        let path = dir.join(name);
        let file = DirectFile::open_rw(&path, true).await?;
        Ok(Spool {
            file,
            path,
            buf: Some(AlignedBuf::zeroed(PIECE)),
            fill: 0,
            flushed: 0,
            len: 0,
            max,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub async fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        if self.len + data.len() as u64 > self.max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the body exceeds the spool's limit",
            ));
        }
        // Bounded: every turn copies at least one byte or writes a piece.
        while !data.is_empty() {
            let mut buf = self.buf.take().ok_or_else(lost_buffer)?;
            let n = (PIECE - self.fill).min(data.len());
            buf.full_mut()[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            self.len += n as u64;
            data = &data[n..];
            if self.fill == PIECE {
                buf.set_len(PIECE);
                let (r, b) = self.file.write_all_at(buf, self.flushed).await;
                buf = b;
                r?;
                self.flushed += PIECE as u64;
                self.fill = 0;
            }
            self.buf = Some(buf);
        }
        Ok(())
    }

    /// Writes the last partial piece; the file is then read with
    /// [`SpoolReader`].
    pub async fn finish(mut self) -> io::Result<SpoolReader> {
        let mut buf = self.buf.take().ok_or_else(lost_buffer)?;
        if self.fill > 0 {
            // O_DIRECT writes whole blocks; the bytes past `len` are never read.
            buf.set_len(align_up(self.fill));
            let (r, b) = self.file.write_all_at(buf, self.flushed).await;
            buf = b;
            r?;
        }
        buf.recycle();
        Ok(SpoolReader {
            spool: self,
            pos: 0,
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "spool file not removed");
        }
    }
}

fn lost_buffer() -> io::Error {
    io::Error::other("spool buffer lost to an earlier failed write")
}

/// Reads a finished spool from the start, a piece at a time.
pub struct SpoolReader {
    spool: Spool,
    pos: u64,
}

impl SpoolReader {
    /// The next piece, or `None` at the end.
    pub async fn next_piece(&mut self) -> io::Result<Option<Bytes>> {
        let left = self.spool.len - self.pos;
        if left == 0 {
            return Ok(None);
        }
        let want = usize::try_from(left).unwrap_or(PIECE).min(PIECE);
        // A fresh buffer each time: the piece is handed out as `Bytes` and
        // may outlive the next read.
        let buf = AlignedBuf::for_read(want);
        let (r, mut buf) = self.spool.file.read_exact_at(buf, self.pos).await;
        r?;
        buf.set_len(want);
        self.pos += want as u64;
        Ok(Some(buf.into_bytes()))
    }
}
