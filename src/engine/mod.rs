//! The storage engine: partitions, segments, erasure coding, the index.
//!
//! Start-up (`Engine::open`, blocking, before any executor runs) assembles the
//! drive set, opens or rebuilds every partition's index and returns the
//! [`Shared`] state. Each core then builds its own [`Engine`] handle. Writes
//! go to the owner core of the key's partition (a direct call on the same
//! core, a message otherwise); reads are served by whichever core received
//! them.

pub mod background;
pub mod buckets;
pub mod cache;
pub mod class;
pub mod clients;
pub mod codec;
pub mod compaction;
pub mod dedup;
pub mod drive_service;
pub mod error;
pub mod format;
pub mod heal;
pub mod health;
pub mod index;
pub mod invariant;
pub mod layout;
pub mod lifecycle;
pub mod list;
pub mod lock;
pub mod merge;
pub mod meta;
pub mod multipart;
pub mod outbox;
mod pace;
pub mod placement;
pub mod read;
pub mod rebuild;
pub mod record;
pub mod repair;
pub mod scrub;
pub mod sealing;
pub mod segment;
pub mod set_health;
pub mod space;
pub mod spool;
pub mod sysfiles;
pub mod transition;
pub mod usage;
pub mod write;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::runtime::channel::{bounded, oneshot, Receiver, Sender};
use crate::runtime::companion::Companion;
use crate::runtime::CoreId;

use crate::iam::acl::Acl;
use buckets::{BucketChange, BucketTable};
pub use buckets::{ObjectOwnership, Versioning};
pub use error::{EngineError, Result};
use format::DriveSet;
use index::{PartitionIndex, Trust};
use layout::Layout;
pub use meta::{MetaEdit, VersionSel};
use segment::{ReadFiles, SegmentWriter};

/// How often each core looks for segments worth compacting.
const COMPACTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// How often a core with a drive low on space looks again after deletes:
/// freeing space through the API must not wait a minute.
const COMPACTION_TICK: std::time::Duration = std::time::Duration::from_secs(2);
/// How often each core takes up remembered repairs that are due again.
const REPAIR_RELOAD: std::time::Duration = std::time::Duration::from_secs(60);
/// How often core 0 re-reads the drives' free space; more often once a
/// drive is low (writes must stop at the reserve, not at ENOSPC).
const SPACE_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);
const SPACE_REFRESH_LOW: std::time::Duration = std::time::Duration::from_millis(100);
/// A sealed segment is compacted once at least this fraction of it is dead.
const COMPACTION_MIN_DEAD: f64 = 0.5;

/// Longest a stopping core waits for its background work.
const QUIESCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Messages queued per core inbox before senders wait.
const INBOX_DEPTH: usize = 1024;
/// Body chunks in flight from a receiving core to an owner core per upload.
const BODY_DEPTH: usize = 4;

/// Per drive: the epoch of the last run that started, and of the last that
/// finished start-up (its index copy is the one to trust).
const EPOCH_FILE: &str = "epoch";
const SERVED_FILE: &str = "epoch.served";

/// Start-up settings of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub drives: Vec<PathBuf>,
    pub layout: Option<Layout>,
    /// Used only when formatting a new set.
    pub partitions: u16,
    pub cores: usize,
    /// Objects up to this size are stored inline in m+1 mirrored commit records.
    pub inline_max: usize,
    pub segment_max: u64,
    /// Bytes of verified records kept in memory for reads, over all cores.
    pub read_cache: u64,
    /// Free bytes per drive kept for deletes, index commits and compaction
    /// (new object data is refused below it); 0: `space::default_reserve`.
    pub space_reserve: u64,
    /// Time between the starts of a partition's scrub passes; zero: off.
    pub scrub_interval: std::time::Duration,
    /// Bytes per second the scrubber reads from each drive; 0: no limit.
    pub scrub_rate: u64,
    /// Keys per second the lifecycle worker examines; 0: no limit.
    pub lifecycle_rate: u64,
    /// How long deduplicated content stays unreferenced before it goes.
    pub dedup_grace: std::time::Duration,
    /// Bytes per second healing reads or writes per drive while clients
    /// are served, and on a node with none; 0: no limit.
    pub heal_rate: u64,
    pub heal_idle_rate: u64,
    /// Parity shards of REDUCED_REDUNDANCY (None: `class::Classes::build`'s default).
    pub reduced_redundancy_parity: Option<u8>,
    /// The operator's storage classes.
    pub storage_classes: Vec<class::ClassSpec>,
}

impl EngineConfig {
    pub fn new(drives: Vec<PathBuf>, cores: usize) -> EngineConfig {
        EngineConfig {
            drives,
            layout: None,
            partitions: 64,
            cores,
            inline_max: 64 << 10,
            segment_max: 256 << 20,
            read_cache: 0,
            space_reserve: 0,
            scrub_interval: scrub::DEFAULT_INTERVAL,
            scrub_rate: scrub::DEFAULT_RATE,
            lifecycle_rate: lifecycle::DEFAULT_RATE,
            dedup_grace: dedup::DEFAULT_GRACE,
            heal_rate: heal::DEFAULT_RATE,
            heal_idle_rate: 0,
            reduced_redundancy_parity: None,
            storage_classes: Vec::new(),
        }
    }
}

/// Counters shared by all cores (atomics, no locks).
#[derive(Default)]
pub struct Stats {
    pub corrupt_records: AtomicU64,
    pub missing_shards: AtomicU64,
    pub reconstructions: AtomicU64,
    /// Records repair rewrote (shards and replicated copies).
    pub repaired_shards: AtomicU64,
    /// Records found bad with too few good ones left to rebuild them.
    pub repair_lost: AtomicU64,
    /// Per core: every core counts every record it reads, and one shared
    /// counter would move its cache line between cores on each read.
    pub read_cache_hits: PerCore,
    pub read_cache_misses: PerCore,
    /// Hits (counted in `read_cache_hits` too) that served an encrypted
    /// version's opened plaintext.
    pub read_cache_plaintext_hits: PerCore,
    pub drive_errors: Vec<AtomicU64>,
    /// Compaction passes (each core's, background or asked for), failed
    /// passes, and what the passes did.
    pub compaction_runs: AtomicU64,
    pub compaction_failures: AtomicU64,
    pub compaction_segments_removed: AtomicU64,
    pub compaction_bytes_reclaimed: AtomicU64,
    pub compaction_bytes_moved: AtomicU64,
    /// Background repairs of an object version, failed ones, and the shard
    /// bytes they rewrote.
    pub repair_runs: AtomicU64,
    pub repair_failures: AtomicU64,
    pub repaired_bytes: AtomicU64,
    /// Work each core was handed by another: object writes (PUT, DELETE,
    /// multipart, metadata edits), only ever for partitions it owns, and
    /// jobs run on it (admin calls, healing). Broadcasts (bucket tables,
    /// background ticks) are not counted. So a core is touched by the load
    /// on its own keys and nothing else (`tests/core_locality.rs` checks
    /// core 0 in particular).
    pub handed: PerCore,
    /// Segment fdatasyncs and the writes each made durable.
    pub flushes: Arc<segment::FlushCounts>,
}

/// A counter on its own cache line (128 bytes: adjacent-line prefetch
/// pairs lines), written by one core only.
#[derive(Default)]
#[repr(align(128))]
struct CoreCounter(AtomicU64);

/// One counter per core: counting on a request path costs no cache-line
/// transfer between cores; a scrape sums them.
#[derive(Default)]
pub struct PerCore(Vec<CoreCounter>);

impl PerCore {
    pub fn new(cores: usize) -> PerCore {
        PerCore((0..cores).map(|_| CoreCounter::default()).collect())
    }

    pub fn add(&self, core: CoreId, n: u64) {
        if let Some(c) = self.0.get(core) {
            c.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn get(&self, core: CoreId) -> u64 {
        self.0.get(core).map_or(0, |c| c.0.load(Ordering::Relaxed))
    }

    pub fn cores(&self) -> usize {
        self.0.len()
    }

    pub fn sum(&self) -> u64 {
        self.0.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }
}

/// A core's two read-epoch slots, on their own cache line: every read
/// counts itself in and out of its core's slot.
#[derive(Default)]
#[repr(align(128))]
struct ReaderSlots([AtomicU64; 2]);

/// State every core shares read-only, plus the core inboxes.
pub struct Shared {
    pub set: DriveSet,
    pub layout: Layout,
    /// The storage classes; STANDARD is `layout` over every drive.
    pub classes: class::Classes,
    pub partitions: u16,
    pub cores: usize,
    pub inline_max: usize,
    pub segment_max: u64,
    /// Each core's share of `EngineConfig::read_cache`.
    pub read_cache_per_core: usize,
    pub epoch: u32,
    pub indexes: Vec<PartitionIndex>,
    pub inboxes: Vec<Sender<CoreMsg>>,
    /// Each drive's run-time state (see `health`).
    pub drive_health: Vec<health::DriveHealth>,
    /// Drives held out of service, as kept on the drives.
    pub holds: drive_service::Holds,
    /// Free space and the full state of every drive.
    pub space: Arc<space::Space>,
    /// The drive holding the partition indexes.
    pub index_drive: usize,
    /// Segments removed by compaction so far (each core then closes its
    /// read descriptors, which would keep their space in use).
    pub segments_removed: Arc<AtomicU64>,
    pub stats: Stats,
    /// Background work's state: paused, running, last run.
    pub background: background::Background,
    /// The drives being healed and what healing did (see `heal`).
    pub heal: heal::Healing,
    /// Seed of every record header checksum of this set (see `record.rs`).
    pub record_key: u32,
    /// Read epochs (see `ReadGuard`): compaction removes a segment only after
    /// every read that could have seen its old index entries has finished.
    read_epoch: AtomicU64,
    readers: Vec<ReaderSlots>,
    /// Client requests per core, counted by the HTTP front end.
    pub clients: Arc<clients::ClientLoad>,
    pub initial_buckets: BucketTable,
    /// Rung when an index transaction wrote notification events.
    pub outbox_wake: outbox::Wake,
    /// Per core: when its oldest change whose events are not yet in the
    /// outbox made them (u64::MAX: none), for the delivery mark.
    pub events_in_flight: Vec<AtomicU64>,
    /// Next segment number per (stream, drive) at start-up.
    first_segment_ids: HashMap<(u32, u16), u32>,
}

impl Shared {
    /// A drive missing at start is failed until its probe brings it in
    /// (see `health`); one of another set never is online.
    pub fn drive_online(&self, d: usize) -> bool {
        let h = &self.drive_health[d];
        !matches!(self.set.drives[d].state, format::DriveState::Foreign(_))
            && !h.is_failed()
            && h.held().is_none()
    }

    /// Holds drive `d` out of service, durably, then stops using it (writes
    /// meanwhile are remembered for repair). Blocking.
    pub fn hold_drive(
        &self,
        d: usize,
        kind: drive_service::HoldKind,
        reason: String,
    ) -> std::result::Result<(), String> {
        self.holds.set(d, Some((kind, reason)))?;
        self.drive_health[d].set_held(Some(kind));
        Ok(())
    }

    /// Lifts drive `d`'s hold, durably; writes taken while it was held are
    /// repaired onto it. Blocking.
    pub fn release_drive(&self, d: usize) -> std::result::Result<(), String> {
        self.holds.set(d, None)?;
        self.drive_health[d].set_held(None);
        if self.drive_online(d) {
            self.announce_drive_back();
        }
        Ok(())
    }

    /// What drive `d` is doing, one word: `ok`, `full`, `offline` (failed),
    /// `held` (by the operator), `outOfService` (by the node), `missing` or
    /// `refused` (at start).
    pub fn drive_state(&self, d: usize) -> &'static str {
        match &self.set.drives[d].state {
            format::DriveState::Missing(_) if self.drive_health[d].is_failed() => return "missing",
            format::DriveState::Foreign(_) => return "refused",
            _ => {}
        }
        match self.drive_health[d].held() {
            Some(drive_service::HoldKind::Offline) => "held",
            Some(drive_service::HoldKind::OutOfService) => "outOfService",
            None if !self.drive_online(d) => "offline",
            None if self.space.is_full(d) => "full",
            None => "ok",
        }
    }

    /// Tells every core a drive is back: the repairs waiting for it run
    /// (best effort: a core with a full inbox catches up at its next
    /// periodic look).
    pub fn announce_drive_back(&self) {
        for inbox in &self.inboxes {
            let _ = inbox.try_send(CoreMsg::Background(background::BackgroundMsg::DriveBack));
        }
    }

    /// Where request bodies are spooled ([`spool`]): the first drive that
    /// takes new data.
    pub fn spool_dir(&self) -> Option<std::path::PathBuf> {
        (0..self.set.drives.len())
            .find(|&d| self.drive_writable(d))
            .map(|d| self.set.drives[d].meta_dir().join(spool::SPOOL_DIR))
    }

    pub fn online_drives(&self) -> Vec<usize> {
        (0..self.set.drives.len())
            .filter(|&d| self.drive_online(d))
            .collect()
    }

    /// Whether new object data may go to drive `d`: online and not full.
    pub fn drive_writable(&self, d: usize) -> bool {
        self.drive_online(d) && !self.space.is_full(d)
    }

    /// A write to drive `d` failed: ENOSPC makes it full (logged once, and
    /// not an error of the device); anything else is a drive error.
    pub fn write_failed(&self, d: usize, e: &std::io::Error) {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            self.space.hit_enospc(d);
        } else {
            self.drive_error(d, e);
        }
    }

    /// Counts an I/O error of drive `d`; an error that says the drive itself
    /// cannot be used takes it offline until its probe passes again.
    pub fn drive_error(&self, d: usize, e: &std::io::Error) {
        self.stats.drive_errors[d].fetch_add(1, Ordering::Relaxed);
        let health = &self.drive_health[d];
        if health::takes_drive_offline(e) && health.fail(format!("I/O: {e}")) {
            tracing::error!(drive = d, path = %self.set.drives[d].path.display(), error = %e, "drive offline: I/O error");
        } else {
            health.note(format!("I/O: {e}"));
            tracing::error!(drive = d, path = %self.set.drives[d].path.display(), error = %e, "drive I/O error");
        }
    }

    pub fn partition_of(&self, bucket: &str, key: &str) -> u16 {
        placement::partition_of(bucket, key, self.partitions)
    }

    pub fn owner_of(&self, partition: u16) -> CoreId {
        placement::owner_core(partition, self.cores)
    }

    /// Registers a read on `core` in the current read epoch.
    pub fn begin_read(self: &Arc<Self>, core: CoreId) -> ReadGuard {
        let slot = (self.read_epoch.load(Ordering::SeqCst) % 2) as usize;
        self.readers[core].0[slot].fetch_add(1, Ordering::SeqCst);
        ReadGuard {
            shared: self.clone(),
            core,
            slot,
        }
    }

    /// Whether reads or writes are in flight on `core` (the scrubber gives
    /// way to them).
    pub fn core_busy(&self, core: CoreId) -> bool {
        self.readers[core]
            .0
            .iter()
            .any(|r| r.load(Ordering::Relaxed) > 0)
    }

    /// Waits until every read that started before this call has finished:
    /// two epoch flips, each waiting for the slot it retires to drain.
    pub async fn wait_for_older_reads(&self) {
        for _ in 0..2 {
            let old = (self.read_epoch.fetch_add(1, Ordering::SeqCst) % 2) as usize;
            while self
                .readers
                .iter()
                .any(|r| r.0[old].load(Ordering::SeqCst) > 0)
            {
                crate::runtime::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    }

    /// Marks every partition index cleanly closed. Call after all cores stopped.
    pub fn close(&self) -> Result<()> {
        for idx in &self.indexes {
            idx.mark_clean(self.epoch)?;
        }
        Ok(())
    }
}

/// Held by every read that may touch segment files.
pub struct ReadGuard {
    shared: Arc<Shared>,
    core: CoreId,
    slot: usize,
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        self.shared.readers[self.core].0[self.slot].fetch_sub(1, Ordering::SeqCst);
    }
}

/// Options of a PUT.
#[derive(Clone, Debug, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub headers: Vec<(String, String)>,
    pub user_meta: Vec<(String, String)>,
    /// The object's tag set.
    pub tags: Vec<(String, String)>,
    /// A conditional write's precondition, checked at commit.
    pub condition: Option<write::WriteCondition>,
    /// The new version's attributes (object lock).
    pub attrs: Vec<meta::Attr>,
    /// Encrypt the data at rest (for an upload: the header its parts use).
    pub seal: Option<sealing::Seal>,
    /// Who asked, for the bucket's event notifications (None: no events).
    pub event: Option<crate::notify::event::Origin>,
    /// The storage class of the data (an upload's: its parts').
    pub class: class::ClassId,
}

/// One piece of a request body as it streams to the owner core.
pub enum BodyChunk {
    Data(Bytes),
    /// The body ended; the receiving core's MD5 of it if it computed one.
    End(Option<[u8; 16]>),
}

/// A request body the engine pulls from.
#[allow(async_fn_in_trait)]
pub trait BodySource {
    async fn next_chunk(&mut self) -> Result<BodyChunk>;

    /// Whether `End` will carry the body's MD5. Then the engine does not hash
    /// (the receiving core already did: MD5 is most of a PUT's CPU cost).
    fn supplies_md5(&self) -> bool;

    /// After `End`: the body's verified `x-amz-checksum-*` values as (header
    /// name, base64). Trailers and server-side checksums are known only then.
    fn checksums(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A body held in memory (tests, tools, copies).
pub struct MemBody {
    chunks: std::collections::VecDeque<Bytes>,
    md5: Option<[u8; 16]>,
}

impl MemBody {
    pub fn new(data: impl Into<Bytes>) -> MemBody {
        let b: Bytes = data.into();
        let mut chunks = std::collections::VecDeque::new();
        // Split the way a socket would deliver it.
        let mut off = 0;
        while off < b.len() {
            let n = (b.len() - off).min(64 << 10);
            chunks.push_back(b.slice(off..off + n));
            off += n;
        }
        MemBody { chunks, md5: None }
    }

    /// A body whose MD5 the caller already knows, as the receiving core does
    /// when it streams a body to the owner: the engine then does no hashing.
    pub fn with_md5(data: impl Into<Bytes>, md5: [u8; 16]) -> MemBody {
        MemBody {
            md5: Some(md5),
            ..MemBody::new(data)
        }
    }
}

impl BodySource for MemBody {
    fn supplies_md5(&self) -> bool {
        self.md5.is_some()
    }

    async fn next_chunk(&mut self) -> Result<BodyChunk> {
        Ok(match self.chunks.pop_front() {
            Some(c) => BodyChunk::Data(c),
            None => BodyChunk::End(self.md5),
        })
    }
}

/// What a receiving core sends an owner core about a body: its chunks, and
/// just before `End` its checksums.
pub enum BodyPiece {
    Chunk(Result<BodyChunk>),
    Checksums(Vec<(String, String)>),
}

/// A body arriving from another core, whether its sender supplies the MD5,
/// and the checksums it sent.
pub struct ChannelBody(Receiver<BodyPiece>, bool, Vec<(String, String)>);

impl BodySource for ChannelBody {
    fn supplies_md5(&self) -> bool {
        self.1
    }

    async fn next_chunk(&mut self) -> Result<BodyChunk> {
        loop {
            match self.0.recv().await {
                Ok(BodyPiece::Chunk(r)) => return r,
                Ok(BodyPiece::Checksums(c)) => self.2 = c,
                Err(_) => {
                    return Err(EngineError::Body(
                        "the receiving core dropped the body".into(),
                    ))
                }
            }
        }
    }

    fn checksums(&self) -> Vec<(String, String)> {
        self.2.clone()
    }
}

/// What a successful write returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    pub version: u128,
    /// How requests name the version (`null` or its id).
    pub sel: VersionSel,
    pub size: u64,
    pub etag: String,
    pub modified_ms: u64,
}

/// What a delete did: the version it created (a delete marker) or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// A delete marker was created, or the removed version was one.
    pub delete_marker: bool,
    /// None when the bucket is unversioned or nothing was there to remove.
    pub version: Option<VersionSel>,
}

impl ObjectInfo {
    pub fn of(meta: &meta::ObjectMeta) -> ObjectInfo {
        ObjectInfo {
            version: meta.version,
            sel: meta.sel(),
            size: meta.size,
            etag: meta.etag.clone(),
            modified_ms: meta.modified_ms,
        }
    }
}

/// Requests between cores.
pub enum CoreMsg {
    Put {
        bucket: String,
        key: String,
        opts: PutOptions,
        body: Receiver<BodyPiece>,
        supplies_md5: bool,
        reply: oneshot::Sender<Result<ObjectInfo>>,
    },
    Delete {
        bucket: String,
        key: String,
        version: Option<VersionSel>,
        bypass_governance: bool,
        origin: Option<crate::notify::event::Origin>,
        reply: oneshot::Sender<Result<DeleteOutcome>>,
    },
    /// To core 0, the owner of the bucket table.
    ChangeBucket {
        name: String,
        change: BucketChange,
        reply: oneshot::Sender<Result<()>>,
    },
    CreateUpload {
        bucket: String,
        key: String,
        opts: PutOptions,
        checksum: Option<meta::UploadChecksum>,
        reply: oneshot::Sender<Result<u128>>,
    },
    PutPart {
        bucket: String,
        key: String,
        upload: u128,
        number: u32,
        body: Receiver<BodyPiece>,
        supplies_md5: bool,
        unseal: Option<crate::sse::key::DataKey>,
        reply: oneshot::Sender<Result<meta::PartData>>,
    },
    /// Complete (with the chosen parts) or abort an upload.
    EndUpload {
        bucket: String,
        key: String,
        upload: u128,
        complete: Option<multipart::Completion>,
        reply: oneshot::Sender<Result<Option<ObjectInfo>>>,
    },
    /// Change a version's metadata in place (its tags, a stored header).
    EditMeta {
        bucket: String,
        key: String,
        version: Option<VersionSel>,
        edit: MetaEdit,
        origin: Option<crate::notify::event::Origin>,
        reply: oneshot::Sender<Result<VersionSel>>,
    },
    /// To the owner core: move a version's data to another class.
    Transition {
        bucket: String,
        key: String,
        version: Option<VersionSel>,
        class: class::ClassId,
        reply: oneshot::Sender<Result<transition::TransitionOutcome>>,
    },
    /// To the owner core: a read found a bad shard of this object.
    Repair {
        bucket: String,
        key: String,
        holder: index::Holder,
    },
    /// To every core: start or resume background work.
    Background(background::BackgroundMsg),
    /// To every core: its share of the read cache, in bytes.
    SetReadCache(usize),
    /// Work for this core's engine (the admin API's settings and reads of
    /// state a core owns).
    Run(background::CoreJob),
    /// From core 0 to every core: install this table.
    Buckets {
        table: Arc<BucketTable>,
        done: oneshot::Sender<()>,
    },
    /// To the owner core of a deduplicated content (see `dedup.rs`).
    Content(dedup::ContentMsg),
}

impl CoreMsg {
    /// Work handed to this core in particular: an object write to the
    /// key's owner, or a job run here.
    fn is_handed_work(&self) -> bool {
        matches!(
            self,
            CoreMsg::Run(_)
                | CoreMsg::Put { .. }
                | CoreMsg::Delete { .. }
                | CoreMsg::CreateUpload { .. }
                | CoreMsg::PutPart { .. }
                | CoreMsg::EndUpload { .. }
                | CoreMsg::EditMeta { .. }
                | CoreMsg::Transition { .. }
                | CoreMsg::Content(_)
        )
    }
}

/// One core's handle on the engine.
pub struct Engine {
    pub shared: Arc<Shared>,
    pub core: CoreId,
    pub companion: Companion,
    /// A thread for the erasure decoding of repair, scrubbing and healing,
    /// apart from `companion` so a long rebuild never delays a commit. It
    /// runs at the executors' priority and yields its CPU every piece of a
    /// stripe (`repair::REBUILD_PIECE`); the heal's rate bounds its share.
    background_cpu: Companion,
    pub writer: Rc<SegmentWriter>,
    pub reads: ReadFiles,
    cache: RefCell<cache::ReadCache>,
    buckets: RefCell<Arc<BucketTable>>,
    codecs: RefCell<HashMap<Layout, codec::RsCodec>>,
    key_locks: write::KeyLocks,
    /// Deduplicated contents this core owns, against their collector.
    content_locks: dedup::ContentLocks,
    /// Core 0: bucket changes one at a time (each starts from the table the
    /// one before installed; requests run as concurrent tasks).
    bucket_changes: write::KeyLocks,
    seq: write::Sequencer,
    /// This core's changes whose events are not yet in the outbox: when
    /// they were made -> how many (see `outbox::ChangeEvents`).
    events_in_flight: RefCell<std::collections::BTreeMap<u64, u32>>,
    index_queue: write::IndexQueue,
    compacting: std::cell::Cell<bool>,
    /// Deletes done by this core (a full drive compacts after new ones).
    deletes: std::cell::Cell<u64>,
    repairs: repair::RepairQueue,
    /// The scrub state of this core's partitions (see `scrub.rs`).
    scrub_states: RefCell<HashMap<u16, index::ScrubState>>,
    /// A scrub batch is running; `stopping`: none may start (shutdown).
    scrubbing: std::cell::Cell<bool>,
    /// The lifecycle state of this core's partitions, and a lifecycle
    /// batch is running (see `lifecycle.rs`).
    lifecycle_states: RefCell<HashMap<u16, lifecycle::LifecycleState>>,
    lifecycling: std::cell::Cell<bool>,
    /// The heal state of this core's partitions, and a heal batch is
    /// running (see `heal.rs`).
    heal_states: RefCell<HashMap<u16, heal::PartitionHeal>>,
    healing: std::cell::Cell<bool>,
    /// The clocks that space the scrubber's and the healer's holders.
    scrub_pacer: pace::Pacer,
    heal_pacer: pace::Pacer,
    stopping: std::cell::Cell<bool>,
    /// This core's last failure of compaction, repair and scrubbing.
    last_errors: RefCell<background::LastErrors>,
    version_counter: std::cell::Cell<u64>,
    inbox: Receiver<CoreMsg>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Ends the inbox loop while the executor still runs. A task left
        // parked on the channel would be freed later from inside the channel's
        // own notification (when the shared state drops) and deadlock there.
        self.inbox.close();
    }
}

impl Engine {
    /// Opens the drive set and every partition index (rebuilding those that
    /// cannot be trusted). Blocking; call before starting the cores. Returns
    /// the shared state and each core's inbox receiver.
    pub fn open(
        cfg: &EngineConfig,
    ) -> std::result::Result<(Arc<Shared>, Vec<Receiver<CoreMsg>>), String> {
        assert!(cfg.cores > 0);
        let set = format::open_set(&cfg.drives, cfg.layout, cfg.partitions)?;
        let layout = set.layout;
        let classes = class::Classes::build(
            layout,
            &cfg.drives,
            cfg.reduced_redundancy_parity,
            &cfg.storage_classes,
        )?;
        let holds = drive_service::load(
            &set.drives
                .iter()
                .map(|d| d.path.clone())
                .collect::<Vec<_>>(),
            layout.write_quorum(),
        )?;
        let held = holds.current();
        for h in &held.holds {
            tracing::warn!(drive = h.drive, state = h.kind.as_str(), reason = %h.reason, "drive held out of service: left out as a missing drive is, until `cairn admin drive online`");
        }
        // A held drive is left out at start as a missing one is: the index
        // is not placed on it, nor rebuilt from it.
        let online: Vec<usize> = set
            .drives
            .iter()
            .filter(|d| d.online() && held.hold(d.index).is_none())
            .map(|d| d.index)
            .collect();
        if online.is_empty() {
            return Err("no drive is online".into());
        }
        for &d in &online {
            let meta = set.drives[d].meta_dir();
            spool::clear(&meta).map_err(|e| format!("{}: {e}", meta.display()))?;
        }
        // Read before anything is written: a table of a newer format stops
        // start-up with the drives as they were.
        let mut initial_buckets =
            BucketTable::load(online.iter().map(|&d| set.drives[d].path.as_path()))?;
        // `epoch`: the last run that started; `epoch.served`: the last that
        // got to serving (drives from before this file count as served).
        let read_epoch = |name: &str| {
            online
                .iter()
                .filter_map(|&d| std::fs::read_to_string(set.drives[d].meta_dir().join(name)).ok())
                .filter_map(|s| s.trim().parse::<u32>().ok())
                .max()
        };
        let prev_epoch = read_epoch(EPOCH_FILE).unwrap_or(0);
        let served = read_epoch(SERVED_FILE)
            .unwrap_or(prev_epoch)
            .min(prev_epoch);
        let epoch = prev_epoch + 1;
        for &d in &online {
            crate::runtime::file::write_file_durable(
                &set.drives[d].meta_dir().join(EPOCH_FILE),
                epoch.to_string().as_bytes(),
            )
            .map_err(|e| format!("drive {d}: cannot write epoch: {e}"))?;
        }
        let partitions = set.format.partitions;
        let index_root = set.drives[online[0]].meta_dir().join("index");
        let mut indexes = Vec::with_capacity(partitions as usize);
        let online_ids: Vec<u16> = online.iter().map(|&d| d as u16).collect();
        let offline: Vec<u16> = (0..set.drives.len() as u16)
            .filter(|d| !online_ids.contains(d))
            .collect();
        // Every stream's next segment number on every drive: this run never
        // appends behind records of an earlier one.
        let mut first_segment_ids = HashMap::new();
        let mut any_segments = false;
        for &d in &online {
            let ids = segment::list_segments(&set.drives[d].path)
                .map_err(|e| format!("drive {d}: {e}"))?;
            any_segments |= !ids.is_empty();
            for (stream, n) in segment::next_numbers(&ids) {
                first_segment_ids.insert((stream, d as u16), n);
            }
        }
        // Held drives too, where they can be read, so that one released at
        // run time appends after its segments (a new segment never reuses
        // a name in any case).
        for h in &held.holds {
            let Some(drive) = set.drives.get(h.drive).filter(|d| d.online()) else {
                continue;
            };
            match segment::list_segments(&drive.path) {
                Ok(ids) => {
                    for (stream, n) in segment::next_numbers(&ids) {
                        first_segment_ids.insert((stream, h.drive as u16), n);
                    }
                }
                Err(e) => {
                    tracing::warn!(drive = h.drive, error = %e, "held drive's segments cannot be listed")
                }
            }
        }
        let mut untrusted = Vec::new();
        for p in 0..partitions {
            let dir = index::partition_dir(&index_root, p);
            let (idx, trust) = PartitionIndex::open(&dir, p, served..=prev_epoch, &online_ids)
                .map_err(|e| format!("partition {p}: {e}"))?;
            if let Trust::Untrusted(why) = trust {
                // With more than m drives away some objects have no record
                // on the drives that remain: a rebuild would forget them.
                if offline.len() > layout.parity as usize {
                    return Err(format!(
                        "partition {p}: the index must be rebuilt ({why}), but drives {offline:?} are offline \
                         and a rebuild needs all but at most {} drives",
                        layout.parity
                    ));
                }
                if any_segments {
                    tracing::warn!(partition = p, "rebuilding index from the drives: {why}");
                }
                idx.clear().map_err(|e| format!("partition {p}: {e}"))?;
                untrusted.push(p as usize);
            }
            indexes.push(idx);
        }
        if any_segments && !untrusted.is_empty() {
            let drives: Vec<(u16, PathBuf)> = online
                .iter()
                .map(|&d| (d as u16, set.drives[d].path.clone()))
                .collect();
            let targets: Vec<&PartitionIndex> = untrusted.iter().map(|&p| &indexes[p]).collect();
            // Events made since the delivery mark may not have been
            // delivered: the rebuild puts them back in the outbox.
            let mark = crate::notify::mark::load(drives.iter().map(|(_, p)| p.clone()).collect());
            rebuild::rebuild_partitions(
                &targets,
                &drives,
                record::header_key(&set.format.set_id),
                mark,
            )
            .map_err(|e| format!("index rebuild: {e}"))?;
            for idx in &targets {
                idx.mark_rebuilt_without(&offline)
                    .map_err(|e| format!("partition {}: {e}", idx.partition))?;
            }
            // A rebuild forgets the remembered repairs: find what is short
            // of redundancy again (writes taken while a drive was away).
            let want = (usize::from(layout.parity) + 1).min(set.drives.len());
            for &p in &untrusted {
                let n = indexes[p]
                    .note_short_holders(want, now_ms())
                    .map_err(|e| format!("partition {p}: {e}"))?;
                if n > 0 {
                    tracing::info!(
                        partition = p,
                        holders = n,
                        "rebuilt index: short of redundancy, queued for repair"
                    );
                }
            }
        }
        dedup::recount(&indexes, now_ms())?;
        for (p, idx) in indexes.iter().enumerate() {
            idx.mark_open(epoch, &offline)
                .map_err(|e| format!("partition {p}: {e}"))?;
        }
        for &d in &online {
            crate::runtime::file::write_file_durable(
                &set.drives[d].meta_dir().join(SERVED_FILE),
                epoch.to_string().as_bytes(),
            )
            .map_err(|e| format!("drive {d}: cannot write epoch: {e}"))?;
        }
        // Drives `open_set` formatted into their slots are healed; so are
        // those an earlier run was healing.
        let online_paths: Vec<&std::path::Path> = online
            .iter()
            .map(|&d| set.drives[d].path.as_path())
            .collect();
        let heal_file = heal::at_start(&online_paths, &set.reformatted)?;
        // A drive that came back empty must not get segment numbers that
        // the index still gives its lost records: start past them.
        for (p, idx) in indexes.iter().enumerate() {
            for ((d, seg), _) in idx
                .segment_live()
                .map_err(|e| format!("partition {p}: {e}"))?
            {
                let key = (segment::stream_of_segment(seg), d);
                let next = segment::number_of_segment(seg) + 1;
                let e = first_segment_ids.entry(key).or_insert(0);
                *e = (*e).max(next);
            }
        }
        let mut committed: HashMap<String, u64> = HashMap::new();
        for (p, idx) in indexes.iter().enumerate() {
            for (bucket, u) in idx.usage().map_err(|e| format!("partition {p}: {e}"))? {
                *committed.entry(bucket).or_default() += u.version_bytes;
            }
        }
        initial_buckets.ledgers = usage::Ledgers::of(
            initial_buckets
                .buckets
                .keys()
                .map(|name| (name.as_str(), committed.get(name).copied().unwrap_or(0))),
        );
        let mut inboxes = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..cfg.cores {
            let (tx, rx) = bounded(INBOX_DEPTH);
            inboxes.push(tx);
            receivers.push(rx);
        }
        let drive_count = set.drives.len();
        let record_key = record::header_key(&set.format.set_id);
        let space = Arc::new(space::Space::new(
            set.drives.iter().map(|d| d.path.clone()).collect(),
            cfg.space_reserve,
        ));
        space.refresh(&online);
        let drive_health = set
            .drives
            .iter()
            .map(|d| {
                let h = health::DriveHealth::starting(d.online());
                h.set_held(held.hold(d.index).map(|h| h.kind));
                h
            })
            .collect();
        let shared = Arc::new(Shared {
            set,
            layout,
            classes,
            partitions,
            cores: cfg.cores,
            inline_max: cfg.inline_max,
            segment_max: cfg.segment_max,
            read_cache_per_core: (cfg.read_cache / cfg.cores as u64) as usize,
            epoch,
            indexes,
            inboxes,
            drive_health,
            holds,
            space,
            index_drive: online[0],
            segments_removed: Arc::new(AtomicU64::new(0)),
            background: background::Background::new(
                cfg.scrub_interval,
                cfg.scrub_rate,
                cfg.lifecycle_rate,
                cfg.dedup_grace,
            ),
            heal: heal::Healing::new(drive_count, (cfg.heal_rate, cfg.heal_idle_rate), &heal_file),
            stats: Stats {
                drive_errors: (0..drive_count).map(|_| AtomicU64::new(0)).collect(),
                handed: PerCore::new(cfg.cores),
                read_cache_hits: PerCore::new(cfg.cores),
                read_cache_misses: PerCore::new(cfg.cores),
                read_cache_plaintext_hits: PerCore::new(cfg.cores),
                flushes: Arc::new(segment::FlushCounts {
                    flushes: PerCore::new(cfg.cores),
                    writes: PerCore::new(cfg.cores),
                }),
                ..Default::default()
            },
            record_key,
            read_epoch: AtomicU64::new(0),
            readers: (0..cfg.cores).map(|_| ReaderSlots::default()).collect(),
            clients: Arc::new(clients::ClientLoad::new(cfg.cores)),
            initial_buckets,
            outbox_wake: outbox::Wake::default(),
            events_in_flight: (0..cfg.cores).map(|_| AtomicU64::new(u64::MAX)).collect(),
            first_segment_ids,
        });
        Ok((shared, receivers))
    }

    /// Builds this core's handle and starts serving its inbox. Must run on the
    /// core's executor.
    pub fn start_core(
        shared: Arc<Shared>,
        core: CoreId,
        inbox: Receiver<CoreMsg>,
    ) -> std::io::Result<Rc<Engine>> {
        let companion = Companion::start(format!("cairn-comp-{core}"))?;
        let background_cpu = Companion::start(format!("cairn-bg-{core}"))?;
        let drives: Vec<PathBuf> = shared.set.drives.iter().map(|d| d.path.clone()).collect();
        let writer = SegmentWriter::new(
            core,
            drives.clone(),
            shared.segment_max,
            companion.clone(),
            shared.first_segment_ids.clone(),
            shared.space.clone(),
            shared.stats.flushes.clone(),
        );
        let reads = ReadFiles::new(drives, shared.segments_removed.clone());
        let engine = Rc::new(Engine {
            buckets: RefCell::new(Arc::new(shared.initial_buckets.clone())),
            cache: RefCell::new(cache::ReadCache::new(shared.read_cache_per_core)),
            shared,
            core,
            companion,
            background_cpu,
            writer,
            reads,
            codecs: RefCell::new(HashMap::new()),
            key_locks: write::KeyLocks::default(),
            content_locks: dedup::ContentLocks::default(),
            bucket_changes: write::KeyLocks::default(),
            seq: write::Sequencer::default(),
            events_in_flight: RefCell::default(),
            index_queue: write::IndexQueue::default(),
            compacting: std::cell::Cell::new(false),
            deletes: std::cell::Cell::new(0),
            repairs: repair::RepairQueue::default(),
            scrub_states: RefCell::new(HashMap::new()),
            scrubbing: std::cell::Cell::new(false),
            lifecycle_states: RefCell::new(HashMap::new()),
            lifecycling: std::cell::Cell::new(false),
            heal_states: RefCell::new(HashMap::new()),
            healing: std::cell::Cell::new(false),
            scrub_pacer: pace::Pacer::default(),
            heal_pacer: pace::Pacer::default(),
            stopping: std::cell::Cell::new(false),
            last_errors: RefCell::new(Default::default()),
            version_counter: std::cell::Cell::new(0),
            inbox: inbox.clone(),
        });
        // A weak handle: the engine (and with it the shared state and the
        // index environments) is dropped when its last user lets go, even
        // while this loop waits for a message.
        let weak = Rc::downgrade(&engine);
        crate::runtime::spawn(async move {
            while let Ok(msg) = inbox.recv().await {
                let Some(e) = weak.upgrade() else { break };
                crate::runtime::spawn(async move { e.handle(msg).await });
            }
        });
        engine.reload_repairs(false);
        engine.start_scrubber();
        engine.start_healer();
        engine.start_lifecycle();
        let weak = Rc::downgrade(&engine);
        crate::runtime::spawn(async move {
            let mut last = std::time::Instant::now();
            let mut last_reload = std::time::Instant::now();
            let mut last_collect = std::time::Instant::now();
            let (mut seen_full, mut seen_deletes) = (0, 0);
            loop {
                crate::runtime::sleep(COMPACTION_TICK).await;
                let Some(e) = weak.upgrade() else { break };
                e.reads.drop_removed();
                if last_reload.elapsed() >= REPAIR_RELOAD {
                    last_reload = std::time::Instant::now();
                    e.reload_repairs(false);
                }
                if last_collect.elapsed() >= dedup::COLLECT_INTERVAL {
                    last_collect = std::time::Instant::now();
                    if let Err(err) = e.collect_owned(false).await {
                        tracing::warn!(error = %err, "deduplicated content collection failed");
                    }
                }
                let space = e.shared.space.clone();
                // A drive just became full: seal this core's segments on it,
                // so what is deleted from now on can be reclaimed (active
                // segments are never compacted), and give back their
                // preallocated tails.
                if space.full_events() != seen_full {
                    seen_full = space.full_events();
                    for d in 0..e.shared.set.drives.len() {
                        if space.is_full(d) {
                            e.writer.seal_drive(d as u16).await;
                        }
                    }
                }
                let deletes = e.deletes.get();
                // Short of space, deletes are how it comes back: reclaim it
                // now, not within the minute.
                let due = last.elapsed() >= COMPACTION_INTERVAL
                    || (space.any_low() && deletes != seen_deletes);
                if !due {
                    continue;
                }
                (last, seen_deletes) = (std::time::Instant::now(), deletes);
                e.compaction_pass().await;
            }
        });
        if core == 0 {
            let weak = Rc::downgrade(&engine);
            crate::runtime::spawn(async move {
                let mut pause = SPACE_REFRESH;
                loop {
                    crate::runtime::sleep(pause).await;
                    let Some(e) = weak.upgrade() else { break };
                    pause = if e.shared.space.any_low() {
                        SPACE_REFRESH_LOW
                    } else {
                        SPACE_REFRESH
                    };
                    let (shared, companion) = (e.shared.clone(), e.companion.clone());
                    drop(e);
                    let job = companion.run(move || shared.space.refresh(&shared.online_drives()));
                    if job.await.is_err() {
                        break;
                    }
                }
            });
        }
        Ok(engine)
    }

    async fn handle(self: Rc<Self>, msg: CoreMsg) {
        if msg.is_handed_work() {
            self.shared.stats.handed.add(self.core, 1);
        }
        match msg {
            CoreMsg::Put {
                bucket,
                key,
                opts,
                body,
                supplies_md5,
                reply,
            } => {
                let mut body = ChannelBody(body, supplies_md5, Vec::new());
                let r = self.put_owned(&bucket, &key, opts, &mut body).await;
                let _ = reply.send(r);
            }
            CoreMsg::Delete {
                bucket,
                key,
                version,
                bypass_governance,
                origin,
                reply,
            } => {
                let r = self
                    .delete_owned(
                        &bucket,
                        &key,
                        version,
                        bypass_governance,
                        None,
                        origin.as_ref(),
                    )
                    .await;
                let _ = reply.send(r);
            }
            CoreMsg::ChangeBucket {
                name,
                change,
                reply,
            } => {
                let _ = reply.send(self.change_buckets(name, change).await);
            }
            CoreMsg::CreateUpload {
                bucket,
                key,
                opts,
                checksum,
                reply,
            } => {
                let r = self
                    .create_upload_owned(&bucket, &key, opts, checksum)
                    .await;
                let _ = reply.send(r);
            }
            CoreMsg::PutPart {
                bucket,
                key,
                upload,
                number,
                body,
                supplies_md5,
                unseal,
                reply,
            } => {
                let mut body = ChannelBody(body, supplies_md5, Vec::new());
                let r = self
                    .put_part_owned(&bucket, &key, upload, number, &mut body, unseal)
                    .await;
                let _ = reply.send(r);
            }
            CoreMsg::EndUpload {
                bucket,
                key,
                upload,
                complete,
                reply,
            } => {
                let r = self.end_upload_owned(&bucket, &key, upload, complete).await;
                let _ = reply.send(r);
            }
            CoreMsg::EditMeta {
                bucket,
                key,
                version,
                edit,
                origin,
                reply,
            } => {
                let r = self
                    .edit_meta_owned(&bucket, &key, version, edit, origin.as_ref())
                    .await;
                let _ = reply.send(r);
            }
            CoreMsg::Transition {
                bucket,
                key,
                version,
                class,
                reply,
            } => {
                let r = self.transition_owned(&bucket, &key, version, class).await;
                let _ = reply.send(r);
            }
            CoreMsg::Repair {
                bucket,
                key,
                holder,
            } => self.enqueue_repair(bucket, key, holder),
            CoreMsg::Background(m) => self.on_background(m),
            CoreMsg::SetReadCache(bytes) => self.cache.borrow_mut().set_capacity(bytes),
            CoreMsg::Run(job) => job(&self),
            CoreMsg::Buckets { table, done } => {
                *self.buckets.borrow_mut() = table;
                let _ = done.send(());
            }
            CoreMsg::Content(m) => self.on_content(m),
        }
    }

    /// Waits (bounded) until this core's background work (index batches,
    /// compaction, repair, a scrub batch) is idle, and stops the scrubber,
    /// so that dropping the engine afterwards releases everything: call
    /// before a core stops.
    pub async fn quiesce(&self) {
        let deadline = std::time::Instant::now() + QUIESCE_LIMIT;
        self.stopping.set(true);
        while (self.index_queue.busy()
            || self.compacting.get()
            || self.repairs.busy()
            || self.scrubbing.get()
            || self.healing.get()
            || self.lifecycling.get())
            && std::time::Instant::now() < deadline
        {
            crate::runtime::sleep(std::time::Duration::from_millis(1)).await;
        }
        // The next run starts new segments: give back this run's
        // preallocated tails, so a restart costs no space. A drive not
        // online (failed or held for planned work) is left untouched.
        for d in self.shared.online_drives() {
            self.writer.seal_drive(d as u16).await;
        }
    }

    pub fn buckets(&self) -> Arc<BucketTable> {
        self.buckets.borrow().clone()
    }

    pub fn bucket_exists(&self, name: &str) -> bool {
        self.buckets.borrow().contains(name)
    }

    /// Creates a bucket owned by root.
    pub async fn create_bucket(self: &Rc<Self>, name: &str) -> Result<()> {
        self.create_bucket_with(name, None, None, None, false).await
    }

    /// Creates a bucket owned by `owner` (`None`: root), with its ACL and
    /// ownership controls, in one change.
    pub async fn create_bucket_with(
        self: &Rc<Self>,
        name: &str,
        owner: Option<buckets::BucketOwner>,
        acl: Option<Acl>,
        ownership: Option<ObjectOwnership>,
        object_lock: bool,
    ) -> Result<()> {
        if !buckets::valid_stored_name(name) {
            return Err(EngineError::InvalidBucketName);
        }
        self.bucket_op(
            name,
            BucketChange::Create {
                owner,
                acl,
                ownership,
                object_lock,
            },
        )
        .await
    }

    /// The bucket's object lock configuration (`None`: not enabled).
    pub fn object_lock(&self, bucket: &str) -> Result<Option<buckets::ObjectLockConfig>> {
        let t = self.buckets.borrow();
        let b = t.buckets.get(bucket).ok_or(EngineError::NoSuchBucket)?;
        Ok(b.object_lock)
    }

    /// Enables object lock (versioning must be on) or replaces its
    /// configuration.
    pub async fn set_object_lock(
        self: &Rc<Self>,
        bucket: &str,
        config: buckets::ObjectLockConfig,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::ObjectLock(config))
            .await
    }

    /// The bucket's default encryption (`None`: none configured).
    pub fn bucket_encryption(&self, bucket: &str) -> Result<Option<buckets::BucketEncryption>> {
        let t = self.buckets.borrow();
        let b = t.buckets.get(bucket).ok_or(EngineError::NoSuchBucket)?;
        Ok(b.encryption.clone())
    }

    /// Sets (Some) or deletes (None) the bucket's default encryption.
    pub async fn set_bucket_encryption(
        self: &Rc<Self>,
        bucket: &str,
        encryption: Option<buckets::BucketEncryption>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Encryption(encryption))
            .await
    }

    /// The bucket's CORS configuration (`None`: none configured).
    pub fn bucket_cors(&self, bucket: &str) -> Result<Option<buckets::BucketCors>> {
        let t = self.buckets.borrow();
        let b = t.buckets.get(bucket).ok_or(EngineError::NoSuchBucket)?;
        Ok(b.cors.clone())
    }

    /// Sets (Some) or deletes (None) the bucket's CORS configuration.
    pub async fn set_bucket_cors(
        self: &Rc<Self>,
        bucket: &str,
        cors: Option<buckets::BucketCors>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Cors(cors)).await
    }

    /// Runs `f` on the bucket's lifecycle configuration without copying it
    /// (PUT, GET and HEAD ask on every request); `None` when the bucket has
    /// none or does not exist.
    pub fn with_bucket_lifecycle<R>(
        &self,
        bucket: &str,
        f: impl FnOnce(&crate::lifecycle::Lifecycle) -> R,
    ) -> Option<R> {
        let t = self.buckets.borrow();
        t.buckets.get(bucket)?.lifecycle.as_ref().map(f)
    }

    /// Sets (Some) or deletes (None) the bucket's lifecycle configuration.
    pub async fn set_bucket_lifecycle(
        self: &Rc<Self>,
        bucket: &str,
        lifecycle: Option<crate::lifecycle::Lifecycle>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Lifecycle(lifecycle))
            .await
    }

    /// The bucket's website configuration; `None` when it has none or does
    /// not exist.
    pub fn bucket_website(&self, bucket: &str) -> Option<crate::website::Website> {
        let t = self.buckets.borrow();
        t.buckets.get(bucket)?.website.clone()
    }

    /// The bucket's event notification rules; `None` when it has none or
    /// does not exist.
    pub fn bucket_notifications(&self, bucket: &str) -> Option<crate::notify::Notifications> {
        let t = self.buckets.borrow();
        t.buckets.get(bucket)?.notifications.clone()
    }

    /// Whether the bucket has event notification rules (read on every write).
    pub fn has_notifications(&self, bucket: &str) -> bool {
        let t = self.buckets.borrow();
        t.buckets.get(bucket).is_some_and(|b| {
            b.notifications
                .as_ref()
                .is_some_and(|n| !n.rules.is_empty())
        })
    }

    /// Sets the bucket's event notification rules (None: none).
    pub async fn set_bucket_notifications(
        self: &Rc<Self>,
        bucket: &str,
        n: Option<crate::notify::Notifications>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Notifications(n)).await
    }

    /// The bucket's server access logging; `None` when off or no bucket.
    pub fn bucket_logging(&self, bucket: &str) -> Option<crate::bucket_logging::BucketLogging> {
        let t = self.buckets.borrow();
        t.buckets.get(bucket)?.logging.clone()
    }

    /// Sets (Some) or turns off (None) the bucket's server access logging.
    pub async fn set_bucket_logging(
        self: &Rc<Self>,
        bucket: &str,
        l: Option<crate::bucket_logging::BucketLogging>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Logging(l)).await
    }

    /// Sets (Some) or deletes (None) the bucket's website configuration.
    pub async fn set_bucket_website(
        self: &Rc<Self>,
        bucket: &str,
        website: Option<crate::website::Website>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Website(website)).await
    }

    /// Sets (Some) or deletes (None) the bucket policy; the caller has
    /// checked it.
    pub async fn set_bucket_policy(
        self: &Rc<Self>,
        bucket: &str,
        policy: Option<String>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Policy(policy)).await
    }

    /// Sets (Some) or deletes (None) the bucket's public access block.
    pub async fn set_public_access_block(
        self: &Rc<Self>,
        bucket: &str,
        block: Option<buckets::PublicAccessBlock>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::PublicAccessBlock(block))
            .await
    }

    pub async fn delete_bucket(self: &Rc<Self>, name: &str) -> Result<()> {
        self.bucket_op(name, BucketChange::Delete).await
    }

    /// The bucket's versioning state.
    pub fn versioning(&self, bucket: &str) -> Result<Versioning> {
        self.buckets
            .borrow()
            .versioning(bucket)
            .ok_or(EngineError::NoSuchBucket)
    }

    /// Enables or suspends versioning (never back to off).
    pub async fn set_versioning(self: &Rc<Self>, bucket: &str, v: Versioning) -> Result<()> {
        if v == Versioning::Off {
            return Err(EngineError::Internal(
                "versioning cannot be turned off".into(),
            ));
        }
        self.bucket_op(bucket, BucketChange::Versioning(v)).await
    }

    /// The bucket's tag set, if one is configured.
    pub fn bucket_tags(&self, bucket: &str) -> Result<Option<Vec<(String, String)>>> {
        let t = self.buckets.borrow();
        let b = t.buckets.get(bucket).ok_or(EngineError::NoSuchBucket)?;
        Ok(b.tags.clone())
    }

    /// Replaces (Some) or removes (None) the bucket's tag set.
    pub async fn set_bucket_tags(
        self: &Rc<Self>,
        bucket: &str,
        tags: Option<Vec<(String, String)>>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Tags(tags)).await
    }

    /// The bucket's ACL (`None`: private to its owner) and ownership
    /// controls.
    pub fn bucket_access(&self, bucket: &str) -> Result<(Option<Acl>, Option<ObjectOwnership>)> {
        let t = self.buckets.borrow();
        let b = t.buckets.get(bucket).ok_or(EngineError::NoSuchBucket)?;
        Ok((b.acl.clone(), b.ownership))
    }

    /// Replaces the bucket's ACL (`None`: back to private).
    pub async fn set_bucket_acl(self: &Rc<Self>, bucket: &str, acl: Option<Acl>) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Acl(acl)).await
    }

    /// Sets (Some) or deletes (None) the bucket's ownership controls.
    pub async fn set_bucket_ownership(
        self: &Rc<Self>,
        bucket: &str,
        ownership: Option<ObjectOwnership>,
    ) -> Result<()> {
        self.bucket_op(bucket, BucketChange::Ownership(ownership))
            .await
    }

    /// A bucket change, made by core 0, which installs the new table on
    /// every core before answering. The caller does not install the table
    /// it gets back: a later change may already have replaced it here.
    async fn bucket_op(self: &Rc<Self>, name: &str, change: BucketChange) -> Result<()> {
        if self.core == 0 {
            self.change_buckets(name.to_owned(), change).await?;
        } else {
            let (tx, rx) = oneshot::channel();
            let msg = CoreMsg::ChangeBucket {
                name: name.to_owned(),
                change,
                reply: tx,
            };
            self.send_to(0, msg).await?;
            rx.await.map_err(|_| EngineError::ShuttingDown)??;
        }
        Ok(())
    }

    /// Core 0 only: changes the table, persists it, installs it on every core.
    async fn change_buckets(self: &Rc<Self>, name: String, change: BucketChange) -> Result<()> {
        invariant::invariant!(
            self.core == 0,
            "the bucket table is changed only by core 0, not by core {}",
            self.core
        );
        let _serial = self.bucket_changes.lock(Vec::new()).await;
        let mut table = (*self.buckets()).clone();
        fn existing<'t>(
            table: &'t mut BucketTable,
            name: &str,
        ) -> Result<&'t mut buckets::BucketInfo> {
            table.buckets.get_mut(name).ok_or(EngineError::NoSuchBucket)
        }
        match change {
            BucketChange::Create {
                owner,
                acl,
                ownership,
                object_lock,
            } => {
                if table.contains(&name) {
                    return Err(EngineError::BucketExists);
                }
                table.ledgers = table.ledgers.with(&name, 0);
                table.buckets.insert(
                    name,
                    buckets::BucketInfo {
                        created_ms: now_ms(),
                        owner,
                        acl,
                        ownership,
                        versioning: if object_lock {
                            Versioning::Enabled
                        } else {
                            Versioning::Off
                        },
                        object_lock: object_lock.then(buckets::ObjectLockConfig::default),
                        ..Default::default()
                    },
                );
            }
            BucketChange::Versioning(v) => {
                let b = existing(&mut table, &name)?;
                if b.object_lock.is_some() && v != Versioning::Enabled {
                    return Err(EngineError::InvalidBucketState(
                        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                    ));
                }
                b.versioning = v
            }
            BucketChange::ObjectLock(c) => {
                let b = existing(&mut table, &name)?;
                if b.versioning != Versioning::Enabled {
                    return Err(EngineError::InvalidBucketState(
                        "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                    ));
                }
                b.object_lock = Some(c)
            }
            BucketChange::Tags(tags) => existing(&mut table, &name)?.tags = tags,
            BucketChange::Policy(p) => existing(&mut table, &name)?.policy = p,
            BucketChange::Acl(acl) => existing(&mut table, &name)?.acl = acl,
            BucketChange::Ownership(o) => existing(&mut table, &name)?.ownership = o,
            BucketChange::Quota(q) => existing(&mut table, &name)?.quota = q,
            BucketChange::Encryption(e) => existing(&mut table, &name)?.encryption = e,
            BucketChange::Cors(c) => existing(&mut table, &name)?.cors = c,
            BucketChange::Lifecycle(l) => existing(&mut table, &name)?.lifecycle = l,
            BucketChange::Website(w) => existing(&mut table, &name)?.website = w,
            BucketChange::Notifications(n) => existing(&mut table, &name)?.notifications = n,
            BucketChange::Logging(l) => existing(&mut table, &name)?.logging = l,
            BucketChange::Dedup(on) => existing(&mut table, &name)?.dedup = on,
            BucketChange::TenantQuota(Some(q)) => {
                table.tenant_quotas.insert(name, q);
            }
            BucketChange::TenantQuota(None) => {
                table.tenant_quotas.remove(&name);
            }
            BucketChange::PublicAccessBlock(b) => {
                existing(&mut table, &name)?.public_access_block = b
            }
            BucketChange::Delete => {
                if !table.contains(&name) {
                    return Err(EngineError::NoSuchBucket);
                }
                let shared = self.shared.clone();
                let n = name.clone();
                let busy = self
                    .companion
                    .run(move || -> Result<bool> {
                        for idx in &shared.indexes {
                            if idx.bucket_has_objects(&n)? {
                                return Ok(true);
                            }
                        }
                        Ok(false)
                    })
                    .await??;
                if busy {
                    return Err(EngineError::BucketNotEmpty);
                }
                table.buckets.remove(&name);
                table.ledgers = table.ledgers.without(&name);
            }
        }
        table.generation += 1;
        let shared = self.shared.clone();
        let t = table.clone();
        let quorum = self.shared.layout.write_quorum();
        self.companion
            .run(move || {
                let online = shared.online_drives();
                t.store(
                    online.iter().map(|&d| shared.set.drives[d].path.as_path()),
                    quorum,
                )
            })
            .await?
            .map_err(EngineError::from_io)?;
        let table = Arc::new(table);
        *self.buckets.borrow_mut() = table.clone();
        for core in 1..self.shared.cores {
            let (tx, rx) = oneshot::channel();
            self.send_to(
                core,
                CoreMsg::Buckets {
                    table: table.clone(),
                    done: tx,
                },
            )
            .await?;
            let _ = rx.await;
        }
        Ok(())
    }

    async fn send_to(&self, core: CoreId, msg: CoreMsg) -> Result<()> {
        self.shared.inboxes[core]
            .send(msg)
            .await
            .map_err(|_| EngineError::ShuttingDown)
    }

    /// Stores an object. Runs on any core; the body streams to the owner.
    pub async fn put<B: BodySource>(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        opts: PutOptions,
        body: &mut B,
    ) -> Result<ObjectInfo> {
        write::validate_key(key)?;
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        let owner = self.shared.owner_of(self.shared.partition_of(bucket, key));
        if owner == self.core {
            return self.put_owned(bucket, key, opts, body).await;
        }
        let (btx, brx) = bounded(BODY_DEPTH);
        let (rtx, rrx) = oneshot::channel();
        let done = Self::prefill_body(body, &btx).await;
        self.send_to(
            owner,
            CoreMsg::Put {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                opts,
                body: brx,
                supplies_md5: body.supplies_md5(),
                reply: rtx,
            },
        )
        .await?;
        if !done {
            self.forward_body(body, btx).await;
        }
        rrx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Queues what a body has ready before its owner is told of it, while
    /// the channel keeps room for the body's end (its checksums and `End`):
    /// a small body then travels with its request, and the owner is woken
    /// once instead of once per piece. Returns whether the body is done.
    pub(crate) async fn prefill_body<B: BodySource>(
        body: &mut B,
        btx: &crate::runtime::channel::Sender<BodyPiece>,
    ) -> bool {
        for _ in 0..BODY_DEPTH - 2 {
            if !Self::forward_piece(body, btx).await {
                return true;
            }
        }
        false
    }

    /// Streams the rest of a body to the owner core until it ends or the
    /// owner stops reading (its reply then says why).
    async fn forward_body<B: BodySource>(
        &self,
        body: &mut B,
        btx: crate::runtime::channel::Sender<BodyPiece>,
    ) {
        // Bounded by the body: every turn takes one of its pieces.
        while Self::forward_piece(body, &btx).await {}
    }

    /// Sends the body's next piece (at its end, the checksums first);
    /// false once the body is done or the owner stopped reading.
    async fn forward_piece<B: BodySource>(
        body: &mut B,
        btx: &crate::runtime::channel::Sender<BodyPiece>,
    ) -> bool {
        let chunk = body.next_chunk().await;
        if matches!(chunk, Ok(BodyChunk::End(_))) {
            let checksums = body.checksums();
            if !checksums.is_empty() && btx.send(BodyPiece::Checksums(checksums)).await.is_err() {
                return false;
            }
        }
        let more = matches!(chunk, Ok(BodyChunk::Data(_)));
        btx.send(BodyPiece::Chunk(chunk)).await.is_ok() && more
    }

    /// Deletes a key (`version` None) or one version of it for good
    /// (idempotent). Without a version, an unversioned bucket loses the key,
    /// a versioned one gains a delete marker. A version under object lock
    /// stays (`ObjectLocked`), unless its lock is GOVERNANCE retention and
    /// the caller may and does bypass it.
    pub async fn delete(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        bypass_governance: bool,
    ) -> Result<DeleteOutcome> {
        self.delete_for(bucket, key, version, bypass_governance, None)
            .await
    }

    /// [`Engine::delete`] for `origin`, whose events the bucket's
    /// notification rules may take.
    pub async fn delete_for(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        bypass_governance: bool,
        origin: Option<crate::notify::event::Origin>,
    ) -> Result<DeleteOutcome> {
        write::validate_key(key)?;
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        let owner = self.shared.owner_of(self.shared.partition_of(bucket, key));
        if owner == self.core {
            return self
                .delete_owned(
                    bucket,
                    key,
                    version,
                    bypass_governance,
                    None,
                    origin.as_ref(),
                )
                .await;
        }
        let (tx, rx) = oneshot::channel();
        self.send_to(
            owner,
            CoreMsg::Delete {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version,
                bypass_governance,
                origin,
                reply: tx,
            },
        )
        .await?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Replaces the tag set of the latest version (`version` None) or of the
    /// named one, in place: no new version. Returns the version changed.
    pub async fn set_tags(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        tags: Vec<(String, String)>,
        origin: Option<crate::notify::event::Origin>,
    ) -> Result<VersionSel> {
        self.edit_meta(bucket, key, version, MetaEdit::Tags(tags), origin)
            .await
    }

    /// Sets (Some) or removes (None) one stored header of a version, in
    /// place, as [`Engine::set_tags`] changes its tags.
    pub async fn set_stored_header(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        (name, value): (&str, Option<String>),
        origin: Option<crate::notify::event::Origin>,
    ) -> Result<VersionSel> {
        let edit = MetaEdit::Header {
            name: name.to_owned(),
            value,
        };
        self.edit_meta(bucket, key, version, edit, origin).await
    }

    /// Sets (Some) or removes (None) a version's object lock retention, in
    /// place; refused (`ObjectLocked`) where the rules of `lock.rs` forbid.
    pub async fn set_retention(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        retention: Option<meta::Retention>,
        bypass_governance: bool,
    ) -> Result<VersionSel> {
        let edit = MetaEdit::Retention {
            retention,
            bypass_governance,
        };
        self.edit_meta(bucket, key, version, edit, None).await
    }

    /// Turns a version's legal hold on or off, in place.
    pub async fn set_legal_hold(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        on: bool,
    ) -> Result<VersionSel> {
        self.edit_meta(bucket, key, version, MetaEdit::LegalHold(on), None)
            .await
    }

    async fn edit_meta(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        edit: MetaEdit,
        origin: Option<crate::notify::event::Origin>,
    ) -> Result<VersionSel> {
        write::validate_key(key)?;
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        let owner = self.shared.owner_of(self.shared.partition_of(bucket, key));
        if owner == self.core {
            return self
                .edit_meta_owned(bucket, key, version, edit, origin.as_ref())
                .await;
        }
        let (tx, rx) = oneshot::channel();
        self.send_to(
            owner,
            CoreMsg::EditMeta {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version,
                edit,
                origin,
                reply: tx,
            },
        )
        .await?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    fn with_codec<R>(&self, layout: Layout, f: impl FnOnce(&mut codec::RsCodec) -> R) -> R {
        let mut codecs = self.codecs.borrow_mut();
        let c = codecs
            .entry(layout)
            .or_insert_with(|| codec::RsCodec::new(layout));
        f(c)
    }

    /// A unique, time-ordered version id: nanoseconds since the epoch, then
    /// core, then a per-core counter.
    fn new_version(&self) -> u128 {
        let n = self.version_counter.get().wrapping_add(1);
        self.version_counter.set(n);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        ((nanos as u128) << 64)
            | ((self.core as u128 & 0xffff) << 48)
            | (n as u128 & 0xffff_ffff_ffff)
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
