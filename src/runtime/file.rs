//! O_DIRECT files on io_uring. Offsets and lengths of every read and write are
//! multiples of [`ALIGN`]; buffers are [`AlignedBuf`]s.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::buf::{AlignedBuf, ALIGN};
use super::companion::Companion;

/// A file opened with O_DIRECT.
pub struct DirectFile {
    inner: monoio::fs::File,
}

impl DirectFile {
    /// Opens for reading and writing; with `create_new`, creates the file
    /// and fails with `AlreadyExists` if it is there.
    pub async fn open_rw(path: &Path, create_new: bool) -> io::Result<DirectFile> {
        let inner = monoio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(create_new)
            .mode(0o600)
            .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
            .open(path)
            .await?;
        Ok(DirectFile { inner })
    }

    /// Opens read-only.
    pub async fn open_ro(path: &Path) -> io::Result<DirectFile> {
        let inner = monoio::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
            .open(path)
            .await?;
        Ok(DirectFile { inner })
    }

    /// Reads exactly `buf.capacity()` bytes at `pos`; a short file is an
    /// `UnexpectedEof` error.
    pub async fn read_exact_at(
        &self,
        mut buf: AlignedBuf,
        pos: u64,
    ) -> (io::Result<()>, AlignedBuf) {
        debug_assert_eq!(pos % ALIGN as u64, 0);
        buf.set_len(0);
        let (res, buf) = self.inner.read_exact_at(buf, pos).await;
        (res, buf)
    }

    /// Writes the buffer's initialised bytes at `pos`.
    pub async fn write_all_at(&self, buf: AlignedBuf, pos: u64) -> (io::Result<()>, AlignedBuf) {
        debug_assert_eq!(pos % ALIGN as u64, 0);
        debug_assert_eq!(buf.len() % ALIGN, 0);
        self.inner.write_all_at(buf, pos).await
    }

    /// fdatasync through io_uring.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data().await
    }

    /// Reserves `len` bytes at `offset` (fallocate mode 0) on the companion
    /// thread: monoio has no fallocate op, and the syscall may block on the
    /// filesystem journal.
    pub async fn fallocate(&self, companion: &Companion, offset: u64, len: u64) -> io::Result<()> {
        let fd = self.inner.as_raw_fd();
        // The fd stays open: `self` is borrowed until the job completes.
        companion.run(move || fallocate_fd(fd, offset, len)).await?
    }

    pub fn raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// Blocking ftruncate(2): sets the file's size, releasing blocks past it.
pub fn truncate_fd(fd: RawFd, len: u64) -> io::Result<()> {
    // SAFETY: ftruncate(2) takes no pointer; a stale fd is an EBADF return,
    // not memory unsafety.
    if unsafe { libc::ftruncate(fd, len as libc::off_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Blocking fallocate(2), mode 0 (allocate and extend the size).
pub fn fallocate_fd(fd: RawFd, offset: u64, len: u64) -> io::Result<()> {
    loop {
        // SAFETY: fallocate(2) takes no pointer; a stale fd is an EBADF
        // return, not memory unsafety.
        let r = unsafe { libc::fallocate(fd, 0, offset as libc::off_t, len as libc::off_t) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Blocking fsync of a directory, so a newly created or renamed entry survives
/// power loss. Call it on a companion thread.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// Creates `path` and its missing parents durably: each new directory's
/// parent is fsynced, so a power loss cannot take away a directory whose
/// files were then synced (POSIX asks for it; ext4 and XFS journal the
/// creation anyway, the power-loss simulator's strict mode does not).
/// Blocking: call it on a companion thread.
pub fn create_dir_durable(path: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut p = path;
    while !p.exists() {
        missing.push(p);
        match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => p = q,
            _ => break,
        }
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(d) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        match d.parent() {
            Some(q) if !q.as_os_str().is_empty() => sync_dir(q)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// Writes `data` to `path` atomically and durably (temp file, fsync, rename,
/// directory fsync). Blocking: call it on a companion thread.
pub fn write_file_durable(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent"))?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durability itself is the power-loss campaign's (strict POSIX mode):
    /// here, that every missing level is made and existing ones are fine.
    #[test]
    fn create_dir_durable_makes_every_missing_parent_and_accepts_existing_ones() {
        let t = tempfile::tempdir().expect("tempdir");
        let p = t.path().join("a/b/c");
        create_dir_durable(&p).expect("create");
        assert!(p.is_dir());
        create_dir_durable(&p).expect("again");
        std::fs::write(t.path().join("f"), b"x").expect("file");
        assert!(create_dir_durable(&t.path().join("f/g")).is_err());
    }
}
