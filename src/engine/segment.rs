//! Segment files: append-only, preallocated, written with O_DIRECT through
//! io_uring. Each core appends to its own streams, one file per drive per
//! stream: `Small` (commit records, tombstones, inline objects) and `Bulk`
//! (erasure-coded shards). Records of all the core's partitions share a
//! stream, so concurrent writes to many partitions share one fdatasync per
//! drive (group commit); records are self-describing (they carry their
//! partition), so nothing needs a file per partition. Any core may read any
//! segment (records never change once written).
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

use futures_channel::oneshot;
use futures_util::future::{FutureExt, Shared};

use crate::runtime::buf::AlignedBuf;
use crate::runtime::companion::Companion;
use crate::runtime::file::{sync_dir, DirectFile};

use super::format::META_DIR;
use super::space::Space;
use super::PerCore;

/// First preallocation of a new segment; doubled as it fills.
const INITIAL_ALLOC: u64 = 4 << 20;
/// Preallocation steps on a drive low on space (see `Space::is_low`): take
/// little more than what is written.
const LOW_ALLOC: u64 = 256 << 10;
/// Zero-fill write size for Small segments.
const ZERO_CHUNK: usize = 1 << 20;
/// A Small segment's zero-fill: this much at a time, started when less than
/// `SMALL_AHEAD` (or half the segment so far) is left ahead of the tail. Every flush of the drive has to
/// carry the zeroes written since the last one, so doubling steps (up to half
/// a segment at once) made a flush take 100 ms and more now and then; small
/// steps spread the same bytes out.
const SMALL_STEP: u64 = 4 << 20;
const SMALL_AHEAD: u64 = 8 << 20;
/// Longest a flush waits for writes to its file already under way, so that
/// it covers them too (about one 4 KiB O_DIRECT write's time, with room).
const FLUSH_GATHER: std::time::Duration = std::time::Duration::from_micros(500);
/// Most read file descriptors a core keeps open.
const READ_CACHE_MAX: usize = 4096;
/// Segment ids are `stream << STREAM_SHIFT | n`.
const STREAM_SHIFT: u32 = 20;

type SharedResult = Shared<Pin<Box<dyn Future<Output = Result<(), Rc<io::Error>>>>>>;

/// What a stream holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Commit records, tombstones and inline objects: small, latency bound.
    Small = 0,
    /// Erasure-coded shards: large, bandwidth bound.
    Bulk = 1,
}

/// The stream a core writes records of `class` to.
pub fn stream_of(core: usize, class: Class) -> u32 {
    core as u32 * 2 + class as u32
}

/// The core that wrote a stream (under the core count of that run).
pub fn core_of_stream(stream: u32) -> usize {
    (stream / 2) as usize
}

pub fn stream_of_segment(id: u32) -> u32 {
    id >> STREAM_SHIFT
}

/// Existing segments a new one steps over before giving up.
const MAX_STEP_OVER: u32 = 4096;

/// A segment's number within its stream.
pub fn number_of_segment(id: u32) -> u32 {
    id & ((1 << STREAM_SHIFT) - 1)
}

fn segment_id(stream: u32, n: u32) -> u32 {
    assert!(
        stream < (1 << (32 - STREAM_SHIFT)) && n < (1 << STREAM_SHIFT),
        "segment id space"
    );
    (stream << STREAM_SHIFT) | n
}

pub fn segments_dir(drive: &Path) -> PathBuf {
    drive.join(META_DIR).join("seg")
}

pub fn segment_path(drive: &Path, segment: u32) -> PathBuf {
    segments_dir(drive).join(format!("{segment:08x}.seg"))
}

/// Segment ids present on a drive, ascending. Blocking.
pub fn list_segments(drive: &Path) -> io::Result<Vec<u32>> {
    let mut ids = Vec::new();
    match std::fs::read_dir(segments_dir(drive)) {
        Ok(rd) => {
            for e in rd {
                let name = e?.file_name();
                let name = name.to_string_lossy();
                if let Some(id) = name
                    .strip_suffix(".seg")
                    .and_then(|n| u32::from_str_radix(n, 16).ok())
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

/// The next segment number of every stream on a drive (one past the highest
/// present), so a run never appends behind records of an earlier run.
pub fn next_numbers(ids: &[u32]) -> HashMap<u32, u32> {
    let mut next: HashMap<u32, u32> = HashMap::new();
    for &id in ids {
        let e = next.entry(stream_of_segment(id)).or_insert(0);
        *e = (*e).max((id & ((1 << STREAM_SHIFT) - 1)) + 1);
    }
    next
}

struct SyncState {
    /// Writes completed so far.
    completed: u64,
    /// Writes known durable.
    synced: u64,
    /// Writes submitted, and those of them ended (completed or failed).
    started: u64,
    ended: u64,
    /// Flushes waiting until `ended` reaches a count.
    gathering: Vec<(u64, oneshot::Sender<()>)>,
    inflight: Option<SharedResult>,
    /// A failed fdatasync poisons the file: the kernel may have dropped the
    /// dirty pages, so no later sync can vouch for earlier writes.
    failed: bool,
}

/// Segment fdatasyncs and the record writes they made durable, per core:
/// writes per flush is what group commit achieves under the load.
#[derive(Default)]
pub struct FlushCounts {
    pub flushes: PerCore,
    pub writes: PerCore,
}

/// An open segment being appended to.
pub struct SegmentFile {
    pub drive: u16,
    pub id: u32,
    pub file: DirectFile,
    sync: RefCell<SyncState>,
    core: usize,
    counts: std::sync::Arc<FlushCounts>,
    /// Bytes preallocated (Bulk) or zero-filled (Small) from the start.
    allocated: Cell<u64>,
    growing: RefCell<Option<SharedResult>>,
    class: Class,
}

impl SegmentFile {
    /// Records a write submitted to the file.
    fn note_started(&self) {
        self.sync.borrow_mut().started += 1;
    }

    /// Records the end of a write that [`Self::note_started`] counted;
    /// returns its generation for [`Self::sync_upto`] if it succeeded.
    fn note_ended(&self, ok: bool) -> u64 {
        let mut s = self.sync.borrow_mut();
        s.ended += 1;
        if ok {
            s.completed += 1;
        }
        let ended = s.ended;
        for (_, w) in s.gathering.extract_if(.., |(upto, _)| *upto <= ended) {
            let _ = w.send(());
        }
        s.completed
    }

    pub fn poisoned(&self) -> bool {
        self.sync.borrow().failed
    }

    /// Waits until write generation `gen` is durable, sharing fdatasyncs with
    /// concurrent writers.
    pub async fn sync_upto(self: &Rc<Self>, gen: u64) -> io::Result<()> {
        let mut gathered = false;
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
                    Some(f) => Ok(f.clone()),
                    // Writes to this file already under way would need a
                    // flush of their own right after this one: let this one
                    // cover them (a bounded wait, once).
                    None if s.started > s.ended && !gathered => {
                        let (tx, rx) = oneshot::channel();
                        let upto = s.started;
                        s.gathering.push((upto, tx));
                        Err(rx)
                    }
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
                                        me.counts.flushes.add(me.core, 1);
                                        me.counts
                                            .writes
                                            .add(me.core, target.saturating_sub(s.synced));
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
                        Ok(f)
                    }
                }
            };
            match wait {
                Ok(flush) => {
                    if let Err(e) = flush.await {
                        return Err(io::Error::new(e.kind(), e.to_string()));
                    }
                }
                Err(gathering) => {
                    gathered = true;
                    let pause = std::pin::pin!(crate::runtime::sleep(FLUSH_GATHER));
                    let _ = futures_util::future::select(gathering, pause).await;
                }
            }
        }
    }
}

/// The append position of one stream on one drive.
struct Slot {
    active: Option<(Rc<SegmentFile>, u64)>,
    opening: Option<SharedResult>,
    /// The next segment, opened (created, preallocated, zero-filled,
    /// synced) while the active one still had a quarter left, so that
    /// writes move on to it without waiting.
    ready: Option<Rc<SegmentFile>>,
    next_n: u32,
}

/// One core's segment writers: its streams on every drive.
pub struct SegmentWriter {
    core: usize,
    drives: Vec<PathBuf>,
    segment_max: u64,
    companion: Companion,
    slots: RefCell<HashMap<(Class, u16), Slot>>,
    /// First segment number this run may use, per (stream, drive).
    first_n: HashMap<(u32, u16), u32>,
    space: std::sync::Arc<Space>,
    counts: std::sync::Arc<FlushCounts>,
}

impl SegmentWriter {
    pub fn new(
        core: usize,
        drives: Vec<PathBuf>,
        segment_max: u64,
        companion: Companion,
        first_n: HashMap<(u32, u16), u32>,
        space: std::sync::Arc<Space>,
        counts: std::sync::Arc<FlushCounts>,
    ) -> Rc<SegmentWriter> {
        Rc::new(SegmentWriter {
            core,
            drives,
            segment_max,
            companion,
            slots: RefCell::new(HashMap::new()),
            first_n,
            space,
            counts,
        })
    }

    /// The first preallocation of a segment on `drive`.
    fn first_alloc(&self, drive: u16) -> u64 {
        let step = if self.space.is_low(drive as usize) {
            LOW_ALLOC
        } else {
            INITIAL_ALLOC
        };
        step.min(self.segment_max)
    }

    /// Seals this core's active segments on `drive`: later records go to new
    /// segments, and these can be compacted. Their preallocated tails are
    /// given back (truncated after the last record).
    pub async fn seal_drive(&self, drive: u16) {
        let taken: Vec<(Rc<SegmentFile>, u64)> = {
            let mut slots = self.slots.borrow_mut();
            slots
                .iter_mut()
                .filter(|((_, d), _)| *d == drive)
                .flat_map(|(_, slot)| {
                    let ready = slot.ready.take().map(|seg| (seg, 0));
                    slot.active.take().into_iter().chain(ready)
                })
                .collect()
        };
        for (seg, tail) in taken {
            // A growth in flight would allocate again behind the truncation.
            let growing = seg.growing.borrow().clone();
            if let Some(g) = growing {
                let _ = g.await;
            }
            let fd = seg.file.raw_fd();
            let r = self
                .companion
                .run(move || crate::runtime::file::truncate_fd(fd, tail))
                .await
                .and_then(|r| r);
            match r {
                Ok(()) => seg.allocated.set(tail),
                Err(e) => {
                    tracing::warn!(drive, segment = seg.id, error = %e, "cannot trim a sealed segment")
                }
            }
        }
    }

    /// Reserves `len` bytes at the end of this core's `class` stream on
    /// `drive`, opening a new segment when the active one is full.
    pub async fn reserve(
        self: &Rc<Self>,
        class: Class,
        drive: u16,
        len: u64,
    ) -> io::Result<(Rc<SegmentFile>, u64)> {
        assert!(len <= self.segment_max, "record larger than a segment");
        let stream = stream_of(self.core, class);
        loop {
            let wait = {
                let mut slots = self.slots.borrow_mut();
                let first = self.first_n.get(&(stream, drive)).copied().unwrap_or(0);
                let slot = slots.entry((class, drive)).or_insert(Slot {
                    active: None,
                    opening: None,
                    ready: None,
                    next_n: first,
                });
                let usable = slot
                    .active
                    .as_ref()
                    .filter(|(seg, tail)| !seg.poisoned() && *tail + len <= self.segment_max)
                    .map(|(seg, tail)| (seg.clone(), *tail));
                if usable.is_none() && slot.opening.is_none() {
                    if let Some(next) = slot.ready.take().filter(|s| !s.poisoned()) {
                        slot.active = Some((next, 0));
                        continue;
                    }
                }
                if let Some((seg, off)) = usable {
                    let end = off + len;
                    let grow = self.grow(&seg, end);
                    if end > self.segment_max - self.segment_max / 4
                        && slot.ready.is_none()
                        && slot.opening.is_none()
                    {
                        // Run it now even if nobody waits on it yet.
                        crate::runtime::spawn(self.open_next(slot, class, drive, stream));
                    }
                    // A Small segment is zero-filled ahead of the tail: a
                    // record must not land where zeroes are still to come.
                    if seg.class == Class::Bulk || end <= seg.allocated.get() {
                        if let Some((_, tail)) = slot.active.as_mut() {
                            *tail = end;
                        }
                        return Ok((seg, off));
                    }
                    match grow {
                        Some(g) => g,
                        None => return Err(io::Error::other("segment zero-fill stalled")),
                    }
                } else {
                    self.open_next(slot, class, drive, stream)
                }
            };
            if let Err(e) = wait.await {
                return Err(io::Error::new(e.kind(), e.to_string()));
            }
        }
    }

    /// The shared future of opening the stream's next segment on `drive`
    /// (started by the first caller, awaited by all).
    fn open_next(
        self: &Rc<Self>,
        slot: &mut Slot,
        class: Class,
        drive: u16,
        stream: u32,
    ) -> SharedResult {
        if let Some(f) = &slot.opening {
            return f.clone();
        }
        let first = slot.next_n;
        slot.next_n += 1;
        let me = self.clone();
        let fut: Pin<Box<dyn Future<Output = Result<(), Rc<io::Error>>>>> = Box::pin(async move {
            // A segment is only ever created new: one that exists (a drive
            // that joined after start-up listed the others) is stepped over.
            let mut n = first;
            let r = loop {
                match me.open_segment(class, drive, segment_id(stream, n)).await {
                    Err(e)
                        if e.kind() == io::ErrorKind::AlreadyExists
                            && n - first < MAX_STEP_OVER =>
                    {
                        n += 1
                    }
                    r => break r,
                }
            };
            let mut slots = me.slots.borrow_mut();
            let slot = slots
                .get_mut(&(class, drive))
                .expect("a slot is never removed once made");
            slot.opening = None;
            slot.next_n = slot.next_n.max(n + 1);
            match r {
                // Opened ahead of need: the active segment stays until a
                // write finds it full.
                Ok(seg) if slot.active.as_ref().is_some_and(|(a, _)| !a.poisoned()) => {
                    slot.ready = Some(Rc::new(seg));
                    Ok(())
                }
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

    async fn open_segment(&self, class: Class, drive: u16, id: u32) -> io::Result<SegmentFile> {
        let root = self.drives[drive as usize].clone();
        let dir = segments_dir(&root);
        let path = segment_path(&root, id);
        {
            // Only `seg` itself: a drive whose directory vanished (unmounted,
            // pulled) must fail the write, not come back as an empty
            // directory on whatever filesystem holds its parent.
            let dir = dir.clone();
            self.companion
                .run(move || match std::fs::create_dir(&dir) {
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                    Err(e) => Err(e),
                    // A new `seg` must outlive a power loss with the
                    // segments then synced into it: fsync its parent.
                    Ok(()) => dir.parent().map_or(Ok(()), sync_dir),
                })
                .await??;
        }
        let file = DirectFile::open_rw(&path, true).await?;
        let alloc = self.first_alloc(drive);
        let booking = self.space.book(drive as usize, alloc);
        file.fallocate(&self.companion, 0, alloc).await?;
        drop(booking);
        if class == Class::Small {
            zero_fill(&file, 0, alloc).await?;
        }
        // The new directory entry (and for Small, the zeroed extents) must
        // survive power loss before any record in it is acknowledged.
        file.sync_data().await?;
        self.companion.run(move || sync_dir(&dir)).await??;
        Ok(SegmentFile {
            drive,
            id,
            file,
            sync: RefCell::new(SyncState {
                completed: 0,
                synced: 0,
                started: 0,
                ended: 0,
                gathering: Vec::new(),
                inflight: None,
                failed: false,
            }),
            core: self.core,
            counts: self.counts.clone(),
            allocated: Cell::new(alloc),
            growing: RefCell::new(None),
            class,
        })
    }

    /// Extends a segment's preallocation in the background: a Bulk segment's
    /// doubles once half of it is used, a Small segment's grows by
    /// [`SMALL_STEP`] when less than [`SMALL_AHEAD`] (or half) is left. Bulk segments
    /// are fallocated: writes past the region stay
    /// correct meanwhile (they extend the file). Small segments are also
    /// zero-filled, so their extents are already written and an fdatasync
    /// after a small record is a plain cache flush instead of a journal commit
    /// (measured in perf/ENGINE.md). Returns the growth in progress, if any.
    fn grow(self: &Rc<Self>, seg: &Rc<SegmentFile>, end: u64) -> Option<SharedResult> {
        if let Some(g) = seg.growing.borrow().as_ref() {
            return Some(g.clone());
        }
        let alloc = seg.allocated.get();
        let low = self.space.is_low(seg.drive as usize);
        let (ahead, target) = match (low, seg.class) {
            (true, _) => (LOW_ALLOC / 2, alloc.max(end) + LOW_ALLOC),
            // A young segment keeps half of itself ahead, as a Bulk one:
            // a stream that takes one record after a restart on a nearly
            // full drive must not zero-fill megabytes for it.
            (false, Class::Small) => (SMALL_AHEAD.min(alloc / 2), alloc.max(end) + SMALL_STEP),
            (false, Class::Bulk) => (alloc / 2, (alloc * 2).max(end + INITIAL_ALLOC)),
        };
        if end + ahead <= alloc || alloc >= self.segment_max {
            return None;
        }
        let target = target.min(self.segment_max);
        let s = seg.clone();
        let companion = self.companion.clone();
        let space = self.space.clone();
        let fut: Pin<Box<dyn Future<Output = Result<(), Rc<io::Error>>>>> = Box::pin(async move {
            let booking = space.book(s.drive as usize, target - alloc);
            let mut r = s.file.fallocate(&companion, alloc, target - alloc).await;
            drop(booking);
            if r.is_ok() && s.class == Class::Small {
                r = zero_fill(&s.file, alloc, target).await;
                if r.is_ok() {
                    r = s.file.sync_data().await;
                }
            }
            s.growing.borrow_mut().take();
            match r {
                Ok(()) => {
                    s.allocated.set(target);
                    Ok(())
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    // Reported once, as the drive's transition to full.
                    space.hit_enospc(s.drive as usize);
                    Err(Rc::new(e))
                }
                Err(e) => {
                    tracing::warn!(drive = s.drive, segment = s.id, error = %e, "preallocation failed");
                    Err(Rc::new(e))
                }
            }
        });
        let f = fut.shared();
        *seg.growing.borrow_mut() = Some(f.clone());
        // Run it now even if nobody waits on it yet.
        crate::runtime::spawn(f.clone());
        Some(f)
    }

    /// Appends one record to this core's `class` stream on `drive` and returns
    /// where it went and its sync generation.
    pub async fn append(
        self: &Rc<Self>,
        class: Class,
        drive: u16,
        buf: AlignedBuf,
    ) -> io::Result<Appended> {
        let len = buf.len() as u64;
        let (seg, offset) = self.reserve(class, drive, len).await?;
        seg.note_started();
        let (res, buf) = seg.file.write_all_at(buf, offset).await;
        buf.recycle();
        let gen = seg.note_ended(res.is_ok());
        res?;
        Ok(Appended {
            seg,
            offset,
            len: len as u32,
            gen,
        })
    }

    /// Whether a segment is sealed: no longer (and never again) appended to.
    /// Compaction takes only sealed segments. Segments of other cores' live
    /// streams are not sealed; those of streams no core writes now are.
    pub fn is_sealed(&self, drive: u16, id: u32, cores: usize) -> bool {
        let stream = stream_of_segment(id);
        let writer = core_of_stream(stream);
        if writer < cores && writer != self.core {
            return false;
        }
        if writer >= cores {
            return true;
        }
        let class = if stream.is_multiple_of(2) {
            Class::Small
        } else {
            Class::Bulk
        };
        let n = id & ((1 << STREAM_SHIFT) - 1);
        let slots = self.slots.borrow();
        match slots.get(&(class, drive)) {
            None => n < self.first_n.get(&(stream, drive)).copied().unwrap_or(0),
            Some(slot) => match &slot.active {
                Some((seg, _)) => id < seg.id,
                // An opening segment has taken next_n - 1 already.
                None if slot.opening.is_some() => n + 1 < slot.next_n,
                // Sealed by `seal_drive`, nothing opened since.
                None => n < slot.next_n,
            },
        }
    }
}

/// Writes zeroes over `[from, to)` with O_DIRECT.
async fn zero_fill(file: &DirectFile, from: u64, to: u64) -> io::Result<()> {
    let mut buf = AlignedBuf::zeroed(ZERO_CHUNK);
    let mut off = from;
    while off < to {
        let n = ((to - off) as usize).min(ZERO_CHUNK);
        buf.set_len(crate::runtime::buf::align_up(n));
        let (r, b) = file.write_all_at(buf, off).await;
        r?;
        buf = b;
        off += n as u64;
    }
    Ok(())
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
    open: RefCell<HashMap<(u16, u32), Rc<DirectFile>>>,
    /// Segments removed by compaction on any core, and the count this cache
    /// last saw: an open descriptor keeps a removed file's space in use.
    removed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    seen: Cell<u64>,
}

impl ReadFiles {
    pub fn new(
        drives: Vec<PathBuf>,
        removed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> ReadFiles {
        ReadFiles {
            drives,
            open: RefCell::new(HashMap::new()),
            removed,
            seen: Cell::new(0),
        }
    }

    /// Closes every descriptor if some segment was removed since the last
    /// call (descriptors are cheap to reopen).
    pub fn drop_removed(&self) {
        let now = self.removed.load(std::sync::atomic::Ordering::Relaxed);
        if now != self.seen.get() {
            self.seen.set(now);
            self.open.borrow_mut().clear();
        }
    }

    pub async fn get(&self, drive: u16, segment: u32) -> io::Result<Rc<DirectFile>> {
        self.drop_removed();
        if let Some(f) = self.open.borrow().get(&(drive, segment)) {
            return Ok(f.clone());
        }
        let root = self
            .drives
            .get(drive as usize)
            .ok_or_else(|| io::Error::other("no such drive"))?;
        let f = Rc::new(DirectFile::open_ro(&segment_path(root, segment)).await?);
        let mut open = self.open.borrow_mut();
        if open.len() >= READ_CACHE_MAX {
            // Descriptors are cheap to reopen; a full clear keeps this simple
            // and bounded.
            open.clear();
        }
        open.insert((drive, segment), f.clone());
        Ok(f)
    }

    /// Forgets a file (after compaction removed it, or after an I/O error).
    pub fn forget(&self, drive: u16, segment: u32) {
        self.open.borrow_mut().remove(&(drive, segment));
    }

    /// Closes every descriptor on `drive` (its files were replaced: an old
    /// descriptor would still read the deleted ones).
    pub fn forget_drive(&self, drive: u16) {
        self.open.borrow_mut().retain(|(d, _), _| *d != drive);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_ids_carry_their_stream() {
        let id = segment_id(stream_of(3, Class::Bulk), 41);
        assert_eq!(stream_of_segment(id), 7);
        assert_eq!(core_of_stream(stream_of_segment(id)), 3);
        let next = next_numbers(&[segment_id(0, 0), segment_id(0, 5), segment_id(7, 2)]);
        assert_eq!(next[&0], 6);
        assert_eq!(next[&7], 3);
        assert_eq!(next.get(&1), None);
    }
}
