//! The simulated disk: what the running system sees ("live") and what would
//! survive a power cut ("durable"), kept apart.
//!
//! Durable file data lives in the store directory, one file per inode. Every
//! write, truncate and fallocate is first only a pending operation of its
//! inode, in arrival order; reads see the durable bytes with the pending
//! operations laid over them. fsync/fdatasync of a file applies its pending
//! operations to its store file. Namespace changes (create, mkdir, unlink,
//! rmdir, rename) are pending metadata operations in one ordered list, made
//! durable by the metadata model (`MetaModel`). A cut freezes everything and
//! decides for each pending operation: drop it, apply it or tear it, then
//! writes the durable image back as a plain directory tree.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Tearing granularity: a torn write lands in whole 512-byte sectors.
pub const SECTOR: u64 = 512;
/// The root directory's inode.
pub const ROOT: u64 = 1;
/// The store's name inside the backing directory while mounted.
pub const STORE: &str = ".cairn-powerloss-store";
/// Pending operations of one file before it is written back as if the
/// kernel flushed it (bounds the cost of a read's overlay).
const MAX_PENDING_OPS: usize = 16 << 10;
/// Open store files kept; more are closed and reopened on demand.
const MAX_OPEN_STORE_FILES: usize = 1024;

/// When namespace changes become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaModel {
    /// Like ext4 data=ordered: one journal; any fsync or fdatasync of any
    /// file or directory commits every earlier namespace change, and a cut
    /// keeps a prefix of the uncommitted ones.
    Ordered,
    /// Strict POSIX: a change is durable once a directory it touches is
    /// fsynced; a cut keeps any subset of the others (in their order).
    Posix,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// Attributes kept only live (modes and times are not modelled as durable).
#[derive(Clone, Copy, Debug)]
pub struct Attrs {
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
}

#[derive(Debug)]
pub struct Node {
    pub kind: Kind,
    pub attrs: Attrs,
    /// Size as the running system sees it.
    pub size: u64,
    pending: Vec<DataOp>,
    pending_bytes: u64,
}

#[derive(Clone, Debug)]
enum DataOp {
    Write {
        off: u64,
        data: Vec<u8>,
    },
    /// truncate/ftruncate.
    SetSize(u64),
    /// fallocate mode 0: the size grows to at least this.
    Extend(u64),
    /// fallocate PUNCH_HOLE or ZERO_RANGE.
    Zero {
        off: u64,
        len: u64,
    },
}

#[derive(Clone, Debug)]
enum MetaOp {
    Link {
        dir: u64,
        name: OsString,
        ino: u64,
    },
    Unlink {
        dir: u64,
        name: OsString,
        ino: u64,
    },
    Rename {
        from: u64,
        fname: OsString,
        to: u64,
        tname: OsString,
        ino: u64,
    },
}

impl MetaOp {
    fn touches(&self, d: u64) -> bool {
        match self {
            MetaOp::Link { dir, .. } | MetaOp::Unlink { dir, .. } => *dir == d,
            MetaOp::Rename { from, to, .. } => *from == d || *to == d,
        }
    }
}

/// What a cut did, for the report and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    pub seed: u64,
    pub data_applied: u64,
    pub data_dropped: u64,
    pub data_torn: u64,
    pub sectors_applied: u64,
    pub sectors_dropped: u64,
    pub meta_applied: u64,
    pub meta_dropped: u64,
}

impl CutReport {
    pub fn to_json(&self) -> String {
        format!(
            "{{\"seed\":{},\"data_applied\":{},\"data_dropped\":{},\"data_torn\":{},\
             \"sectors_applied\":{},\"sectors_dropped\":{},\"meta_applied\":{},\"meta_dropped\":{}}}",
            self.seed,
            self.data_applied,
            self.data_dropped,
            self.data_torn,
            self.sectors_applied,
            self.sectors_dropped,
            self.meta_applied,
            self.meta_dropped
        )
    }
}

/// An errno for the FUSE reply.
pub type Errno = i32;

fn errno(e: io::Error) -> Errno {
    e.raw_os_error().unwrap_or(libc::EIO)
}

pub struct Model {
    backing: PathBuf,
    store: PathBuf,
    meta_model: MetaModel,
    max_dirty: u64,
    nodes: HashMap<u64, Node>,
    /// Directory inode -> entries, as the running system sees them.
    live: HashMap<u64, BTreeMap<OsString, u64>>,
    /// Directory inode -> entries that are durable (every directory ever
    /// made has one; what is unreachable from the root at a cut is lost).
    durable: HashMap<u64, BTreeMap<OsString, u64>>,
    /// Durable entries naming each inode.
    durable_links: HashMap<u64, u32>,
    meta: Vec<MetaOp>,
    next_ino: u64,
    dirty: u64,
    files: HashMap<u64, File>,
    frozen: bool,
    /// Files written back because the dirty bound was reached.
    pub writebacks: u64,
}

impl Model {
    /// Takes over `backing`: its files move into the store (renames, no
    /// copies) and become the durable state, live and durable alike.
    pub fn load(backing: &Path, meta_model: MetaModel, max_dirty: u64) -> io::Result<Model> {
        let store = backing.join(STORE);
        if store.exists() {
            return Err(io::Error::other(format!(
                "{} exists: a previous mount did not finish; its files are there by inode",
                store.display()
            )));
        }
        let mut tree = Vec::new();
        scan(backing, backing, &mut tree)?;
        std::fs::create_dir(&store)?;
        let mut m = Model {
            backing: backing.to_owned(),
            store,
            meta_model,
            max_dirty,
            nodes: HashMap::new(),
            live: HashMap::new(),
            durable: HashMap::new(),
            durable_links: HashMap::new(),
            meta: Vec::new(),
            next_ino: ROOT + 1,
            dirty: 0,
            files: HashMap::new(),
            frozen: false,
            writebacks: 0,
        };
        let root_md = std::fs::metadata(backing)?;
        m.nodes.insert(ROOT, node_from(Kind::Dir, &root_md, 0));
        m.live.insert(ROOT, BTreeMap::new());
        m.durable.insert(ROOT, BTreeMap::new());
        // Parents come before their children in `tree`.
        let mut inos: HashMap<PathBuf, u64> = HashMap::new();
        inos.insert(PathBuf::new(), ROOT);
        let mut dirs = Vec::new();
        for (rel, kind) in tree {
            let md = std::fs::metadata(backing.join(&rel))?;
            let ino = m.next_ino;
            m.next_ino += 1;
            let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
            let dir = *inos.get(&parent).ok_or(io::ErrorKind::NotFound)?;
            let name = rel.file_name().unwrap_or_default().to_owned();
            m.live.entry(dir).or_default().insert(name.clone(), ino);
            m.durable.entry(dir).or_default().insert(name, ino);
            *m.durable_links.entry(ino).or_default() += 1;
            let size = if kind == Kind::File { md.len() } else { 0 };
            m.nodes.insert(ino, node_from(kind, &md, size));
            match kind {
                Kind::Dir => {
                    m.live.insert(ino, BTreeMap::new());
                    m.durable.insert(ino, BTreeMap::new());
                    dirs.push(backing.join(&rel));
                }
                Kind::File => std::fs::rename(backing.join(&rel), m.store_path(ino))?,
            }
            inos.insert(rel, ino);
        }
        for d in dirs.iter().rev() {
            std::fs::remove_dir(d)?;
        }
        Ok(m)
    }

    pub fn frozen(&self) -> bool {
        self.frozen
    }

    pub fn node(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn lookup(&self, dir: u64, name: &OsStr) -> Result<u64, Errno> {
        let entries = self.live.get(&dir).ok_or(libc::ENOTDIR)?;
        entries.get(name).copied().ok_or(libc::ENOENT)
    }

    /// A directory's live entries with their kinds.
    pub fn entries(&self, dir: u64) -> Result<Vec<(u64, Kind, OsString)>, Errno> {
        let entries = self.live.get(&dir).ok_or(libc::ENOTDIR)?;
        Ok(entries
            .iter()
            .filter_map(|(n, i)| self.nodes.get(i).map(|nd| (*i, nd.kind, n.clone())))
            .collect())
    }

    pub fn backing(&self) -> &Path {
        &self.backing
    }

    fn store_path(&self, ino: u64) -> PathBuf {
        self.store.join(ino.to_string())
    }

    fn store_file(&mut self, ino: u64) -> Result<&File, Errno> {
        if !self.files.contains_key(&ino) {
            if self.files.len() >= MAX_OPEN_STORE_FILES {
                self.files.clear();
            }
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(self.store_path(ino))
                .map_err(errno)?;
            self.files.insert(ino, f);
        }
        self.files.get(&ino).ok_or(libc::EIO)
    }

    /// Makes a file or directory (pending until durable).
    pub fn create(
        &mut self,
        dir: u64,
        name: &OsStr,
        kind: Kind,
        perm: u32,
        uid: u32,
        gid: u32,
    ) -> Result<u64, Errno> {
        let entries = self.live.get(&dir).ok_or(libc::ENOTDIR)?;
        if entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        if kind == Kind::File {
            File::create(self.store_path(ino)).map_err(errno)?;
        } else {
            self.live.insert(ino, BTreeMap::new());
            self.durable.insert(ino, BTreeMap::new());
        }
        let now = SystemTime::now();
        self.nodes.insert(
            ino,
            Node {
                kind,
                attrs: Attrs {
                    perm,
                    uid,
                    gid,
                    atime: now,
                    mtime: now,
                    ctime: now,
                },
                size: 0,
                pending: Vec::new(),
                pending_bytes: 0,
            },
        );
        self.live
            .get_mut(&dir)
            .ok_or(libc::ENOTDIR)?
            .insert(name.to_owned(), ino);
        self.meta.push(MetaOp::Link {
            dir,
            name: name.to_owned(),
            ino,
        });
        self.touch_dir(dir);
        Ok(ino)
    }

    /// chmod, chown and utimes: live only.
    pub fn set_attrs(
        &mut self,
        ino: u64,
        perm: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Result<(), Errno> {
        let n = self.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
        let a = &mut n.attrs;
        a.perm = perm.unwrap_or(a.perm);
        a.uid = uid.unwrap_or(a.uid);
        a.gid = gid.unwrap_or(a.gid);
        a.atime = atime.unwrap_or(a.atime);
        a.mtime = mtime.unwrap_or(a.mtime);
        a.ctime = SystemTime::now();
        Ok(())
    }

    fn touch_dir(&mut self, dir: u64) {
        if let Some(n) = self.nodes.get_mut(&dir) {
            let now = SystemTime::now();
            n.attrs.mtime = now;
            n.attrs.ctime = now;
        }
    }

    /// unlink (`dir == false`) or rmdir (`dir == true`).
    pub fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let ino = self.lookup(parent, name)?;
        let kind = self.nodes.get(&ino).ok_or(libc::ENOENT)?.kind;
        match (kind, dir) {
            (Kind::Dir, false) => return Err(libc::EISDIR),
            (Kind::File, true) => return Err(libc::ENOTDIR),
            (Kind::Dir, true) if self.live.get(&ino).is_some_and(|e| !e.is_empty()) => {
                return Err(libc::ENOTEMPTY)
            }
            _ => {}
        }
        if let Some(e) = self.live.get_mut(&parent) {
            e.remove(name);
        }
        self.meta.push(MetaOp::Unlink {
            dir: parent,
            name: name.to_owned(),
            ino,
        });
        self.touch_dir(parent);
        Ok(())
    }

    pub fn rename(
        &mut self,
        from: u64,
        fname: &OsStr,
        to: u64,
        tname: &OsStr,
        noreplace: bool,
    ) -> Result<(), Errno> {
        let ino = self.lookup(from, fname)?;
        let kind = self.nodes.get(&ino).ok_or(libc::ENOENT)?.kind;
        match self.lookup(to, tname) {
            Ok(t) if t == ino => return Ok(()),
            Ok(_) if noreplace => return Err(libc::EEXIST),
            Ok(t) => {
                let tkind = self.nodes.get(&t).ok_or(libc::ENOENT)?.kind;
                match (kind, tkind) {
                    (Kind::File, Kind::Dir) => return Err(libc::EISDIR),
                    (Kind::Dir, Kind::File) => return Err(libc::ENOTDIR),
                    (Kind::Dir, Kind::Dir) if self.live.get(&t).is_some_and(|e| !e.is_empty()) => {
                        return Err(libc::ENOTEMPTY)
                    }
                    _ => {}
                }
            }
            Err(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        if let Some(e) = self.live.get_mut(&from) {
            e.remove(fname);
        }
        self.live
            .get_mut(&to)
            .ok_or(libc::ENOTDIR)?
            .insert(tname.to_owned(), ino);
        self.meta.push(MetaOp::Rename {
            from,
            fname: fname.to_owned(),
            to,
            tname: tname.to_owned(),
            ino,
        });
        self.touch_dir(from);
        self.touch_dir(to);
        Ok(())
    }

    fn file_mut(&mut self, ino: u64) -> Result<&mut Node, Errno> {
        let n = self.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
        if n.kind != Kind::File {
            return Err(libc::EISDIR);
        }
        Ok(n)
    }

    fn push(&mut self, ino: u64, op: DataOp) -> Result<(), Errno> {
        let bytes = match &op {
            DataOp::Write { data, .. } => data.len() as u64,
            _ => 0,
        };
        let n = self.file_mut(ino)?;
        n.size = match &op {
            DataOp::Write { off, data } => n.size.max(off + data.len() as u64),
            DataOp::SetSize(s) => *s,
            DataOp::Extend(s) => n.size.max(*s),
            DataOp::Zero { .. } => n.size,
        };
        let now = SystemTime::now();
        n.attrs.mtime = now;
        n.attrs.ctime = now;
        n.pending.push(op);
        n.pending_bytes += bytes;
        let many = n.pending.len() >= MAX_PENDING_OPS;
        self.dirty += bytes;
        if many {
            self.writeback(ino)?;
        }
        while self.dirty > self.max_dirty {
            let Some(big) = self
                .nodes
                .iter()
                .filter(|(_, n)| n.pending_bytes > 0)
                .max_by_key(|(_, n)| n.pending_bytes)
                .map(|(i, _)| *i)
            else {
                break;
            };
            self.writeback(big)?;
        }
        Ok(())
    }

    /// The kernel writing a file's dirty data back on its own: as durable
    /// as an fsync, without the metadata.
    fn writeback(&mut self, ino: u64) -> Result<(), Errno> {
        self.writebacks += 1;
        self.sync_data(ino)
    }

    pub fn write(&mut self, ino: u64, off: u64, data: &[u8]) -> Result<(), Errno> {
        self.push(
            ino,
            DataOp::Write {
                off,
                data: data.to_vec(),
            },
        )
    }

    pub fn set_size(&mut self, ino: u64, size: u64) -> Result<(), Errno> {
        self.push(ino, DataOp::SetSize(size))
    }

    /// fallocate: mode 0 and KEEP_SIZE reserve (KEEP_SIZE changes nothing
    /// seen), PUNCH_HOLE (with KEEP_SIZE) and ZERO_RANGE zero.
    pub fn fallocate(&mut self, ino: u64, off: u64, len: u64, mode: i32) -> Result<(), Errno> {
        const KEEP: i32 = libc::FALLOC_FL_KEEP_SIZE;
        const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        const ZERO: i32 = libc::FALLOC_FL_ZERO_RANGE;
        match mode {
            0 => self.push(ino, DataOp::Extend(off + len)),
            KEEP => {
                self.file_mut(ino)?;
                Ok(())
            }
            PUNCH => self.push(ino, DataOp::Zero { off, len }),
            ZERO => {
                self.push(ino, DataOp::Zero { off, len })?;
                self.push(ino, DataOp::Extend(off + len))
            }
            m if m == ZERO | KEEP => self.push(ino, DataOp::Zero { off, len }),
            _ => Err(libc::EOPNOTSUPP),
        }
    }

    /// What a read sees: durable bytes with the pending operations over them.
    pub fn read(&mut self, ino: u64, off: u64, len: u32) -> Result<Vec<u8>, Errno> {
        let size = self.file_mut(ino)?.size;
        if off >= size {
            return Ok(Vec::new());
        }
        let len = (len as u64).min(size - off) as usize;
        let mut buf = vec![0u8; len];
        let f = self.store_file(ino)?;
        let durable = f.metadata().map_err(errno)?.len();
        if off < durable {
            let n = ((durable - off) as usize).min(len);
            f.read_exact_at(&mut buf[..n], off).map_err(errno)?;
        }
        let end = off + len as u64;
        let node = self.nodes.get(&ino).ok_or(libc::ENOENT)?;
        for op in &node.pending {
            match op {
                DataOp::Write { off: o, data } => {
                    let (a, b) = (off.max(*o), end.min(o + data.len() as u64));
                    if a < b {
                        buf[(a - off) as usize..(b - off) as usize]
                            .copy_from_slice(&data[(a - o) as usize..(b - o) as usize]);
                    }
                }
                DataOp::SetSize(s) if *s < end => {
                    buf[(s.max(&off) - off) as usize..].fill(0);
                }
                DataOp::Zero { off: o, len: l } => {
                    let (a, b) = (off.max(*o), end.min(o + l));
                    if a < b {
                        buf[(a - off) as usize..(b - off) as usize].fill(0);
                    }
                }
                _ => {}
            }
        }
        Ok(buf)
    }

    /// fsync/fdatasync of a file or fsync of a directory.
    pub fn fsync(&mut self, ino: u64) -> Result<(), Errno> {
        let kind = self.nodes.get(&ino).ok_or(libc::ENOENT)?.kind;
        if kind == Kind::File {
            self.sync_data(ino)?;
        }
        match self.meta_model {
            MetaModel::Ordered => self.commit_meta(|_| true),
            MetaModel::Posix if kind == Kind::Dir => self.commit_meta(|op| op.touches(ino)),
            MetaModel::Posix => {}
        }
        Ok(())
    }

    /// Makes everything durable (a clean shutdown).
    pub fn sync_all(&mut self) -> Result<(), Errno> {
        let mut inos: Vec<u64> = self.nodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            if self.nodes[&ino].kind == Kind::File {
                self.sync_data(ino)?;
            }
        }
        self.commit_meta(|_| true);
        Ok(())
    }

    fn sync_data(&mut self, ino: u64) -> Result<(), Errno> {
        let n = self.nodes.get_mut(&ino).ok_or(libc::ENOENT)?;
        let ops = std::mem::take(&mut n.pending);
        self.dirty -= std::mem::take(&mut n.pending_bytes);
        let f = self.store_file(ino)?;
        for op in &ops {
            apply(f, op, None).map_err(errno)?;
        }
        Ok(())
    }

    fn commit_meta(&mut self, pick: impl Fn(&MetaOp) -> bool) {
        let ops = std::mem::take(&mut self.meta);
        for op in ops {
            if pick(&op) {
                self.apply_meta(&op);
            } else {
                self.meta.push(op);
            }
        }
    }

    fn apply_meta(&mut self, op: &MetaOp) {
        match op {
            MetaOp::Link { dir, name, ino } => self.durable_link(*dir, name, *ino),
            MetaOp::Unlink { dir, name, ino } => {
                self.durable_unlink(*dir, name, *ino);
            }
            MetaOp::Rename {
                from,
                fname,
                to,
                tname,
                ino,
            } => {
                // Moves the entry; an inode whose source entry is not durable
                // but that is durably linked elsewhere stays where it is (a
                // rename never makes a second link).
                let moved = self.durable_unlink(*from, fname, *ino);
                if moved || self.durable_links.get(ino).copied().unwrap_or(0) == 0 {
                    self.durable_link(*to, tname, *ino);
                }
            }
        }
    }

    fn durable_link(&mut self, dir: u64, name: &OsStr, ino: u64) {
        let entries = self.durable.entry(dir).or_default();
        if let Some(old) = entries.insert(name.to_owned(), ino) {
            if let Some(c) = self.durable_links.get_mut(&old) {
                *c = c.saturating_sub(1);
            }
        }
        *self.durable_links.entry(ino).or_default() += 1;
    }

    fn durable_unlink(&mut self, dir: u64, name: &OsStr, ino: u64) -> bool {
        let Some(entries) = self.durable.get_mut(&dir) else {
            return false;
        };
        if entries.get(name) != Some(&ino) {
            return false;
        }
        entries.remove(name);
        if let Some(c) = self.durable_links.get_mut(&ino) {
            *c = c.saturating_sub(1);
        }
        true
    }

    /// Pending operations: (data operations, their bytes, metadata operations).
    pub fn pending(&self) -> (usize, u64, usize) {
        let ops = self.nodes.values().map(|n| n.pending.len()).sum();
        (ops, self.dirty, self.meta.len())
    }

    /// The power cut: freezes, decides every pending operation with `seed`,
    /// and writes the durable image back to the backing directory.
    pub fn cut(&mut self, seed: u64) -> io::Result<CutReport> {
        self.frozen = true;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut r = CutReport {
            seed,
            ..CutReport::default()
        };
        let ops = std::mem::take(&mut self.meta);
        let keep: Vec<bool> = match self.meta_model {
            MetaModel::Ordered => {
                let k = rng.gen_range(0..=ops.len());
                (0..ops.len()).map(|i| i < k).collect()
            }
            MetaModel::Posix => ops.iter().map(|_| rng.gen_bool(0.5)).collect(),
        };
        for (op, keep) in ops.iter().zip(keep) {
            if keep {
                self.apply_meta(op);
                r.meta_applied += 1;
            } else {
                r.meta_dropped += 1;
            }
        }
        let mut inos: Vec<u64> = self.nodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            let Some(n) = self.nodes.get_mut(&ino) else {
                continue;
            };
            let ops = std::mem::take(&mut n.pending);
            n.pending_bytes = 0;
            if ops.is_empty() {
                continue;
            }
            let f = self.store_file(ino).map_err(io::Error::from_raw_os_error)?;
            for op in &ops {
                match rng.gen_range(0..3) {
                    0 => r.data_dropped += 1,
                    1 => {
                        apply(f, op, None)?;
                        r.data_applied += 1;
                    }
                    _ => {
                        let (a, d) = apply(f, op, Some(&mut rng))?;
                        r.data_torn += 1;
                        r.sectors_applied += a;
                        r.sectors_dropped += d;
                    }
                }
            }
        }
        self.dirty = 0;
        self.files.clear();
        self.materialize()?;
        Ok(r)
    }

    /// A clean unmount: everything durable, then the image written back.
    pub fn finish_clean(&mut self) -> io::Result<()> {
        if self.frozen {
            return Ok(());
        }
        self.sync_all().map_err(io::Error::from_raw_os_error)?;
        self.frozen = true;
        self.files.clear();
        self.materialize()
    }

    /// Writes the durable namespace back as a directory tree: store files
    /// are renamed into place; unreachable ones are deleted.
    fn materialize(&mut self) -> io::Result<()> {
        let mut placed = HashSet::new();
        let mut stack = vec![(ROOT, self.backing.clone())];
        placed.insert(ROOT);
        while let Some((dir, path)) = stack.pop() {
            let Some(entries) = self.durable.get(&dir) else {
                continue;
            };
            for (name, ino) in entries {
                if !placed.insert(*ino) {
                    continue;
                }
                let Some(node) = self.nodes.get(ino) else {
                    continue;
                };
                let p = path.join(name);
                match node.kind {
                    Kind::Dir => {
                        std::fs::create_dir(&p)?;
                        std::fs::set_permissions(
                            &p,
                            std::fs::Permissions::from_mode(node.attrs.perm),
                        )?;
                        stack.push((*ino, p));
                    }
                    Kind::File => {
                        std::fs::rename(self.store.join(ino.to_string()), &p)?;
                        std::fs::set_permissions(
                            &p,
                            std::fs::Permissions::from_mode(node.attrs.perm),
                        )?;
                    }
                }
            }
        }
        std::fs::remove_dir_all(&self.store)
    }
}

/// Applies one operation to a store file: whole, or (`tear`) each of its
/// 512-byte sectors independently. Returns sectors (applied, dropped).
fn apply(f: &File, op: &DataOp, tear: Option<&mut StdRng>) -> io::Result<(u64, u64)> {
    let (off, len, data) = match op {
        DataOp::Write { off, data } => (*off, data.len() as u64, Some(data.as_slice())),
        DataOp::Zero { off, len } => (*off, *len, None),
        DataOp::SetSize(s) => {
            if tear.is_none_or(|r| r.gen_bool(0.5)) {
                f.set_len(*s)?;
                return Ok((1, 0));
            }
            return Ok((0, 1));
        }
        DataOp::Extend(s) => {
            if tear.is_none_or(|r| r.gen_bool(0.5)) {
                if f.metadata()?.len() < *s {
                    f.set_len(*s)?;
                }
                return Ok((1, 0));
            }
            return Ok((0, 1));
        }
    };
    let size = f.metadata()?.len();
    let piece = |a: u64, b: u64| -> io::Result<()> {
        match data {
            Some(d) => f.write_all_at(&d[(a - off) as usize..(b - off) as usize], a),
            // A hole punched or zeroed stays within the file.
            None if a < size => f.write_all_at(&vec![0u8; (b.min(size) - a) as usize], a),
            None => Ok(()),
        }
    };
    let Some(rng) = tear else {
        if data.is_some() {
            piece(off, off + len)?;
        } else {
            let mut a = off;
            while a < off + len {
                let b = (a + (1 << 20)).min(off + len);
                piece(a, b)?;
                a = b;
            }
        }
        return Ok((len.div_ceil(SECTOR), 0));
    };
    let (mut applied, mut dropped) = (0, 0);
    let mut a = off;
    while a < off + len {
        let b = ((a / SECTOR + 1) * SECTOR).min(off + len);
        if rng.gen_bool(0.5) {
            piece(a, b)?;
            applied += 1;
        } else {
            dropped += 1;
        }
        a = b;
    }
    Ok((applied, dropped))
}

fn node_from(kind: Kind, md: &std::fs::Metadata, size: u64) -> Node {
    let t = |s: i64, ns: i64| {
        SystemTime::UNIX_EPOCH + std::time::Duration::new(s.max(0) as u64, ns.max(0) as u32)
    };
    Node {
        kind,
        attrs: Attrs {
            perm: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            atime: t(md.atime(), md.atime_nsec()),
            mtime: t(md.mtime(), md.mtime_nsec()),
            ctime: t(md.ctime(), md.ctime_nsec()),
        },
        size,
        pending: Vec::new(),
        pending_bytes: 0,
    }
}

/// Every file and directory under `root` (relative, parents first, sorted
/// so inode numbers are reproducible); anything else is refused.
fn scan(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Kind)>) -> io::Result<()> {
    let mut names: Vec<OsString> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        if dir == root && name == STORE {
            continue;
        }
        let p = dir.join(&name);
        let ft = std::fs::symlink_metadata(&p)?.file_type();
        let rel = p.strip_prefix(root).map_err(io::Error::other)?.to_owned();
        if ft.is_dir() {
            out.push((rel, Kind::Dir));
            scan(root, &p, out)?;
        } else if ft.is_file() {
            out.push((rel, Kind::File));
        } else {
            return Err(io::Error::other(format!(
                "{}: only regular files and directories are simulated",
                p.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
