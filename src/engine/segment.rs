//! Segment files: per partition per drive, append-only, preallocated, written
//! with O_DIRECT through io_uring. The owner core is the only writer of its
//! partitions' segments; any core may read them (records never change once
//! written).
//!
//! Durability is group-committed per file: a writer notes its completed write,
//! then waits for an fdatasync that started after it; concurrent writers share
//! one fdatasync.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;

use futures_util::future::{FutureExt, Shared};

use crate::runtime::buf::AlignedBuf;
use crate::runtime::companion::Companion;
use crate::runtime::file::{sync_dir, DirectFile};

use super::format::META_DIR;

/// First preallocation of a new segment; doubled as it fills.
const INITIAL_ALLOC: u64 = 4 << 20;
/// Most read file descriptors a core keeps open.
const READ_CACHE_MAX: usize = 4096;

type SharedResult = Shared<Pin<Box<dyn Future<Output = Result<(), Rc<io::Error>>>>>>;

pub fn partition_dir(drive: &Path, partition: u16) -> PathBuf {
    drive.join(META_DIR).join(format!("p{partition:03}"))
}

pub fn segment_path(drive: &Path, partition: u16, segment: u32) -> PathBuf {
    partition_dir(drive, partition).join(format!("{segment:08}.seg"))
}

/// Segment ids present in a partition directory, ascending. Blocking.
pub fn list_segments(drive: &Path, partition: u16) -> io::Result<Vec<u32>> {
    let dir = partition_dir(drive, partition);
    let mut ids = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(rd) => {
            for e in rd {
                let name = e?.file_name();
                let name = name.to_string_lossy();
                if let Some(id) = name
                    .strip_suffix(".seg")
                    .and_then(|n| n.parse::<u32>().ok())
                {
                    ids.push(id);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    ids.sort_unstable();
    Ok(ids)
}

struct SyncState {
    /// Writes completed so far.
    completed: u64,
    /// Writes known durable.
    synced: u64,
    inflight: Option<SharedResult>,
    /// A failed fdatasync poisons the file: the kernel may have dropped the
    /// dirty pages, so no later sync can vouch for earlier writes.
    failed: bool,
}

/// An open segment being appended to.
pub struct SegmentFile {
    pub drive: u16,
    pub partition: u16,
    pub id: u32,
    pub file: DirectFile,
    sync: RefCell<SyncState>,
    allocated: Cell<u64>,
    growing: Cell<bool>,
}

impl SegmentFile {
    /// Records a completed write; returns its generation for [`Self::sync_upto`].
    pub fn note_written(&self) -> u64 {
        let mut s = self.sync.borrow_mut();
        s.completed += 1;
        s.completed
    }

    pub fn poisoned(&self) -> bool {
        self.sync.borrow().failed
    }

    /// Waits until write generation `gen` is durable, sharing fdatasyncs with
    /// concurrent writers.
    pub async fn sync_upto(self: &Rc<Self>, gen: u64) -> io::Result<()> {
        loop {
            let wait = {
                let mut s = self.sync.borrow_mut();
                if s.failed {
                    return Err(io::Error::other(
                        "an earlier fdatasync of this segment failed",
                    ));
                }
                if s.synced >= gen {
                    return Ok(());
                }
                match &s.inflight {
                    Some(f) => f.clone(),
                    None => {
                        let target = s.completed;
                        let me = self.clone();
                        let fut: Pin<Box<dyn Future<Output = Result<(), Rc<io::Error>>>>> =
                            Box::pin(async move {
                                let r = me.file.sync_data().await;
                                let mut s = me.sync.borrow_mut();
                                s.inflight = None;
                                match r {
                                    Ok(()) => {
                                        s.synced = s.synced.max(target);
                                        Ok(())
                                    }
                                    Err(e) => {
                                        s.failed = true;
                                        Err(Rc::new(e))
                                    }
                                }
                            });
                        let f = fut.shared();
                        s.inflight = Some(f.clone());
                        f
                    }
                }
            };
            if let Err(e) = wait.await {
                return Err(io::Error::new(e.kind(), e.to_string()));
            }
        }
    }
}

/// The append position in one (partition, drive).
struct Slot {
    active: Option<(Rc<SegmentFile>, u64)>,
    opening: Option<SharedResult>,
    next_id: u32,
}

/// The owner core's segment writers for its partitions.
pub struct SegmentWriter {
    drives: Vec<PathBuf>,
    segment_max: u64,
    companion: Companion,
    slots: RefCell<HashMap<(u16, u16), Slot>>,
    /// First segment id this run may create, per (partition, drive).
    first_ids: HashMap<(u16, u16), u32>,
}

impl SegmentWriter {
    pub fn new(
        drives: Vec<PathBuf>,
        segment_max: u64,
        companion: Companion,
        first_ids: HashMap<(u16, u16), u32>,
    ) -> Rc<SegmentWriter> {
        Rc::new(SegmentWriter {
            drives,
            segment_max,
            companion,
            slots: RefCell::new(HashMap::new()),
            first_ids,
        })
    }

    /// Reserves `len` bytes at the end of the partition's active segment on
    /// `drive`, opening a new segment when the active one is full.
    pub async fn reserve(
        self: &Rc<Self>,
        partition: u16,
        drive: u16,
        len: u64,
    ) -> io::Result<(Rc<SegmentFile>, u64)> {
        assert!(len <= self.segment_max, "record larger than a segment");
        loop {
            let wait = {
                let mut slots = self.slots.borrow_mut();
                let first = self
                    .first_ids
                    .get(&(partition, drive))
                    .copied()
                    .unwrap_or(1);
                let slot = slots.entry((partition, drive)).or_insert(Slot {
                    active: None,
                    opening: None,
                    next_id: first,
                });
                if let Some((seg, tail)) = &mut slot.active {
                    if !seg.poisoned() && *tail + len <= self.segment_max {
                        let off = *tail;
                        *tail += len;
                        let seg = seg.clone();
                        drop(slots);
                        self.maybe_grow(&seg, off + len);
                        return Ok((seg, off));
                    }
                }
                match &slot.opening {
                    Some(f) => f.clone(),
                    None => {
                        let id = slot.next_id;
                        slot.next_id += 1;
                        let me = self.clone();
                        let fut: Pin<Box<dyn Future<Output = Result<(), Rc<io::Error>>>>> =
                            Box::pin(async move {
                                let r = me.open_segment(partition, drive, id).await;
                                let mut slots = me.slots.borrow_mut();
                                let slot = slots.get_mut(&(partition, drive)).expect("slot exists");
                                slot.opening = None;
                                match r {
                                    Ok(seg) => {
                                        slot.active = Some((Rc::new(seg), 0));
                                        Ok(())
                                    }
                                    Err(e) => Err(Rc::new(e)),
                                }
                            });
                        let f = fut.shared();
                        slot.opening = Some(f.clone());
                        f
                    }
                }
            };
            if let Err(e) = wait.await {
                return Err(io::Error::new(e.kind(), e.to_string()));
            }
        }
    }

    async fn open_segment(&self, partition: u16, drive: u16, id: u32) -> io::Result<SegmentFile> {
        let root = self.drives[drive as usize].clone();
        let dir = partition_dir(&root, partition);
        let path = segment_path(&root, partition, id);
        {
            let dir = dir.clone();
            self.companion
                .run(move || std::fs::create_dir_all(dir))
                .await??;
        }
        let file = DirectFile::open_rw(&path, true).await?;
        let alloc = INITIAL_ALLOC.min(self.segment_max);
        file.fallocate(&self.companion, 0, alloc).await?;
        // The new directory entry must survive power loss before any record
        // in it is acknowledged.
        self.companion.run(move || sync_dir(&dir)).await??;
        Ok(SegmentFile {
            drive,
            partition,
            id,
            file,
            sync: RefCell::new(SyncState {
                completed: 0,
                synced: 0,
                inflight: None,
                failed: false,
            }),
            allocated: Cell::new(alloc),
            growing: Cell::new(false),
        })
    }

    /// Extends the preallocation in the background once half of it is used;
    /// writes past it stay correct meanwhile (they extend the file).
    fn maybe_grow(self: &Rc<Self>, seg: &Rc<SegmentFile>, end: u64) {
        let alloc = seg.allocated.get();
        if seg.growing.get() || end * 2 < alloc || alloc >= self.segment_max {
            return;
        }
        seg.growing.set(true);
        let target = (alloc * 2).max(end + INITIAL_ALLOC).min(self.segment_max);
        let seg = seg.clone();
        let companion = self.companion.clone();
        monoio::spawn(async move {
            match seg.file.fallocate(&companion, alloc, target - alloc).await {
                Ok(()) => seg.allocated.set(target),
                Err(e) => {
                    tracing::warn!(drive = seg.drive, segment = seg.id, error = %e, "preallocation failed")
                }
            }
            seg.growing.set(false);
        });
    }

    /// Appends one record and returns where it went and its sync generation.
    pub async fn append(
        self: &Rc<Self>,
        partition: u16,
        drive: u16,
        buf: AlignedBuf,
    ) -> io::Result<Appended> {
        let len = buf.len() as u64;
        let (seg, offset) = self.reserve(partition, drive, len).await?;
        let (res, _buf) = seg.file.write_all_at(buf, offset).await;
        res?;
        let gen = seg.note_written();
        Ok(Appended {
            seg,
            offset,
            len: len as u32,
            gen,
        })
    }

    /// Whether a segment is sealed: no longer (and never again) appended to.
    /// Compaction takes only sealed segments.
    pub fn is_sealed(&self, partition: u16, drive: u16, id: u32) -> bool {
        let slots = self.slots.borrow();
        match slots.get(&(partition, drive)) {
            None => {
                id < self
                    .first_ids
                    .get(&(partition, drive))
                    .copied()
                    .unwrap_or(1)
            }
            Some(slot) => match &slot.active {
                Some((seg, _)) => id < seg.id,
                // An opening segment has taken next_id - 1 already.
                None => id + 1 < slot.next_id,
            },
        }
    }
}

/// A completed append.
pub struct Appended {
    pub seg: Rc<SegmentFile>,
    pub offset: u64,
    pub len: u32,
    pub gen: u64,
}

/// Per-core cache of read-only O_DIRECT descriptors of segment files.
pub struct ReadFiles {
    drives: Vec<PathBuf>,
    open: RefCell<HashMap<(u16, u16, u32), Rc<DirectFile>>>,
}

impl ReadFiles {
    pub fn new(drives: Vec<PathBuf>) -> ReadFiles {
        ReadFiles {
            drives,
            open: RefCell::new(HashMap::new()),
        }
    }

    pub async fn get(
        &self,
        drive: u16,
        partition: u16,
        segment: u32,
    ) -> io::Result<Rc<DirectFile>> {
        if let Some(f) = self.open.borrow().get(&(drive, partition, segment)) {
            return Ok(f.clone());
        }
        let root = self
            .drives
            .get(drive as usize)
            .ok_or_else(|| io::Error::other("no such drive"))?;
        let f = Rc::new(DirectFile::open_ro(&segment_path(root, partition, segment)).await?);
        let mut open = self.open.borrow_mut();
        if open.len() >= READ_CACHE_MAX {
            // Descriptors are cheap to reopen; a full clear keeps this simple
            // and bounded.
            open.clear();
        }
        open.insert((drive, partition, segment), f.clone());
        Ok(f)
    }

    /// Forgets a file (after compaction removed it, or after an I/O error).
    pub fn forget(&self, drive: u16, partition: u16, segment: u32) {
        self.open.borrow_mut().remove(&(drive, partition, segment));
    }
}
