//! The FUSE side: each kernel request becomes one call on the model, under
//! one lock, so a cut (which takes the same lock) falls between requests.
//! Once frozen every request fails with EIO.
//!
//! No writeback cache is negotiated, so every write(2), O_DIRECT write and
//! io_uring write reaches the model before it returns; the kernel's page
//! cache only serves reads (mmap included) of data the model already holds.
//! Locks are left to the kernel (no setlk/getlk: it then locks locally).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};

use crate::model::{Kind, Model};

const TTL: Duration = Duration::from_secs(1);
/// Largest write the kernel sends in one request (its own limit is 1 MiB).
const MAX_WRITE: u32 = 1 << 20;

pub struct PowerlossFs {
    model: Arc<Mutex<Model>>,
    /// Directory handles: a snapshot of the entries taken at opendir.
    dirs: Mutex<DirHandles>,
}

#[derive(Default)]
struct DirHandles {
    next: u64,
    open: HashMap<u64, Vec<(u64, Kind, std::ffi::OsString)>>,
}

impl PowerlossFs {
    pub fn new(model: Arc<Mutex<Model>>) -> PowerlossFs {
        PowerlossFs {
            model,
            dirs: Mutex::new(DirHandles::default()),
        }
    }

    /// The model, or EIO once frozen.
    fn live(&self) -> Result<MutexGuard<'_, Model>, Errno> {
        let m = self.model.lock().map_err(|_| Errno::EIO)?;
        if m.frozen() {
            return Err(Errno::EIO);
        }
        Ok(m)
    }
}

fn attr(m: &Model, ino: u64) -> Result<FileAttr, Errno> {
    let n = m.node(ino).ok_or(Errno::ENOENT)?;
    let (kind, nlink) = match n.kind {
        Kind::File => (FileType::RegularFile, 1),
        Kind::Dir => (FileType::Directory, 2),
    };
    Ok(FileAttr {
        ino: INodeNo(ino),
        size: n.size,
        blocks: n.size.div_ceil(512),
        atime: n.attrs.atime,
        mtime: n.attrs.mtime,
        ctime: n.attrs.ctime,
        crtime: n.attrs.ctime,
        kind,
        perm: n.attrs.perm as u16,
        nlink,
        uid: n.attrs.uid,
        gid: n.attrs.gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

fn e(code: i32) -> Errno {
    Errno::from_i32(code)
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Filesystem for PowerlossFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // The kernel may refuse a larger value; its own maximum then holds.
        let _ = config.set_max_write(MAX_WRITE);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let r = self.live().and_then(|m| {
            let ino = m.lookup(parent.0, name).map_err(e)?;
            attr(&m, ino)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(x) => reply.error(x),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.live().and_then(|m| attr(&m, ino.0)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(x) => reply.error(x),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = self.live().and_then(|mut m| {
            if let Some(s) = size {
                m.set_size(ino.0, s).map_err(e)?;
            }
            m.set_attrs(
                ino.0,
                mode.map(|x| x & 0o7777),
                uid,
                gid,
                atime.map(time),
                mtime.map(time),
            )
            .map_err(e)?;
            attr(&m, ino.0)
        });
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(x) => reply.error(x),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let r = self.live().and_then(|mut m| {
            let ino = m
                .create(
                    parent.0,
                    name,
                    Kind::Dir,
                    mode & !umask & 0o7777,
                    req.uid(),
                    req.gid(),
                )
                .map_err(e)?;
            attr(&m, ino)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(x) => reply.error(x),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(Errno::EPERM);
        }
        let r = self.live().and_then(|mut m| {
            let ino = m
                .create(
                    parent.0,
                    name,
                    Kind::File,
                    mode & !umask & 0o7777,
                    req.uid(),
                    req.gid(),
                )
                .map_err(e)?;
            attr(&m, ino)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(x) => reply.error(x),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let r = self.live().and_then(|mut m| {
            let ino = m
                .create(
                    parent.0,
                    name,
                    Kind::File,
                    mode & !umask & 0o7777,
                    req.uid(),
                    req.gid(),
                )
                .map_err(e)?;
            attr(&m, ino)
        });
        match r {
            Ok(a) => reply.created(&TTL, &a, Generation(0), FileHandle(0), FopenFlags::empty()),
            Err(x) => reply.error(x),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .live()
            .and_then(|mut m| m.remove(parent.0, name, false).map_err(e))
        {
            Ok(()) => reply.ok(),
            Err(x) => reply.error(x),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .live()
            .and_then(|mut m| m.remove(parent.0, name, true).map_err(e))
        {
            Ok(()) => reply.ok(),
            Err(x) => reply.error(x),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            return reply.error(Errno::EINVAL);
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self.live().and_then(|mut m| {
            m.rename(parent.0, name, newparent.0, newname, noreplace)
                .map_err(e)
        }) {
            Ok(()) => reply.ok(),
            Err(x) => reply.error(x),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.live().and_then(|m| attr(&m, ino.0)) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(x) => reply.error(x),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self
            .live()
            .and_then(|mut m| m.read(ino.0, offset, size).map_err(e))
        {
            Ok(d) => reply.data(&d),
            Err(x) => reply.error(x),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self
            .live()
            .and_then(|mut m| m.write(ino.0, offset, data).map_err(e))
        {
            Ok(()) => reply.written(data.len() as u32),
            Err(x) => reply.error(x),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) makes nothing durable.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.live().and_then(|mut m| m.fsync(ino.0).map_err(e)) {
            Ok(()) => reply.ok(),
            Err(x) => reply.error(x),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let snap = match self.live().and_then(|m| m.entries(ino.0).map_err(e)) {
            Ok(s) => s,
            Err(x) => return reply.error(x),
        };
        let Ok(mut d) = self.dirs.lock() else {
            return reply.error(Errno::EIO);
        };
        d.next += 1;
        let fh = d.next;
        d.open.insert(fh, snap);
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        if let Err(x) = self.live() {
            return reply.error(x);
        }
        let Ok(d) = self.dirs.lock() else {
            return reply.error(Errno::EIO);
        };
        let Some(snap) = d.open.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        // Offsets: 1 is ".", 2 "..", 3 + i the i-th entry.
        let dots = [(ino.0, ".".as_ref()), (ino.0, "..".as_ref())];
        let all = dots
            .iter()
            .map(|(i, n)| (*i, FileType::Directory, *n))
            .chain(snap.iter().map(|(i, k, n)| {
                let t = match k {
                    Kind::File => FileType::RegularFile,
                    Kind::Dir => FileType::Directory,
                };
                (*i, t, n.as_os_str())
            }));
        for (idx, (i, t, n)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(i), idx as u64 + 1, t, n) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        if let Ok(mut d) = self.dirs.lock() {
            d.open.remove(&fh.0);
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.live().and_then(|mut m| m.fsync(ino.0).map_err(e)) {
            Ok(()) => reply.ok(),
            Err(x) => reply.error(x),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let m = match self.live() {
            Ok(m) => m,
            Err(x) => return reply.error(x),
        };
        match statvfs(m.backing()) {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                255,
                s.f_frsize as u32,
            ),
            Err(x) => reply.error(x),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        match self
            .live()
            .and_then(|mut m| m.fallocate(ino.0, offset, length, mode).map_err(e))
        {
            Ok(()) => reply.ok(),
            Err(x) => reply.error(x),
        }
    }
}

fn statvfs(path: &std::path::Path) -> Result<libc::statvfs, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: zeroed statvfs is a valid out-parameter; `c` is NUL-terminated.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(Errno::from(std::io::Error::last_os_error()));
    }
    Ok(s)
}
