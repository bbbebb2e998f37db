//! Shared helpers for the in-process engine tests.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use cairn::engine::layout::Layout;
use cairn::engine::{Engine, EngineConfig, Shared};

pub mod small_fs;

pub struct Drives {
    pub dir: tempfile::TempDir,
    pub paths: Vec<PathBuf>,
}

/// A fresh temporary directory for a test's drives, on the filesystem named
/// by `CAIRN_TEST_DIR` when set (tests/run points it at an XFS mount to repeat
/// the fault and crash tests there). Every test that tests/run repeats on XFS
/// must make its drives here: under `CAIRN_TEST_DIR` the directory is checked
/// to be on the filesystem `CAIRN_TEST_FS` names, and the test is noted in
/// `CAIRN_TEST_DIR_LOG`, which tests/run compares with the tests that ran.
pub fn test_dir() -> tempfile::TempDir {
    let Some(base) = std::env::var_os("CAIRN_TEST_DIR") else {
        return tempfile::tempdir().expect("tempdir");
    };
    let dir = tempfile::tempdir_in(base).expect("tempdir in CAIRN_TEST_DIR");
    if let Ok(fs) = std::env::var("CAIRN_TEST_FS") {
        assert_eq!(
            fs_type(dir.path()),
            fs,
            "{} is not on the filesystem CAIRN_TEST_FS names",
            dir.path().display()
        );
    }
    if let Some(log) = std::env::var_os("CAIRN_TEST_DIR_LOG") {
        note_test(std::path::Path::new(&log));
    }
    dir
}

/// The filesystem `path` is on, by its statfs magic number.
fn fs_type(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: statfs is a C struct of integers; all zeroes is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated string alive for the call; statfs(2)
    // writes only into `st`, a valid statfs.
    assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut st) }, 0, "statfs");
    match st.f_type as i64 {
        0x5846_5342 => "xfs".into(),
        0xEF53 => "ext4".into(),
        0x0102_1994 => "tmpfs".into(),
        0x794C_7630 => "overlayfs".into(),
        0x9123_683E => "btrfs".into(),
        other => format!("{other:#x}"),
    }
}

/// Appends "<test binary> <test name>" to the log (one short O_APPEND write,
/// so tests running side by side do not interleave).
fn note_test(log: &std::path::Path) {
    use std::io::Write;
    let exe = std::env::current_exe().expect("current exe");
    let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
    // Cargo names test binaries "<target>-<hash>".
    let binary = stem.rsplit_once('-').map_or(stem, |(b, _)| b);
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open CAIRN_TEST_DIR_LOG");
    f.write_all(format!("{binary} {test}\n").as_bytes())
        .expect("write CAIRN_TEST_DIR_LOG");
}

/// Drive directories `disk0..` under a fresh [`test_dir`].
pub fn drives(n: usize) -> Drives {
    let dir = test_dir();
    let paths: Vec<PathBuf> = (0..n)
        .map(|i| dir.path().join(format!("disk{i}")))
        .collect();
    for p in &paths {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    Drives { dir, paths }
}

pub fn config(d: &Drives, layout: Option<Layout>) -> EngineConfig {
    let mut cfg = EngineConfig::new(d.paths.clone(), 1);
    cfg.layout = layout;
    cfg.partitions = 16;
    cfg.segment_max = 16 << 20;
    cfg
}

/// Opens the engine, runs `f` on one core, then closes cleanly (or not).
pub fn run_with<F, Fut, R>(cfg: &EngineConfig, clean: bool, f: F) -> R
where
    F: FnOnce(Rc<Engine>, Arc<Shared>) -> Fut,
    Fut: Future<Output = R>,
{
    let (shared, inboxes) = Engine::open(cfg).expect("engine opens");
    let s2 = shared.clone();
    let r = cairn::runtime::block_on(async move {
        let e = Engine::start_core(s2.clone(), 0, inboxes[0].clone()).expect("core starts");
        let r = f(e.clone(), s2).await;
        e.quiesce().await;
        r
    })
    .expect("runtime");
    if clean {
        shared.close().expect("clean close");
    }
    r
}

pub fn run<F, Fut, R>(cfg: &EngineConfig, f: F) -> R
where
    F: FnOnce(Rc<Engine>) -> Fut,
    Fut: Future<Output = R>,
{
    run_with(cfg, true, |e, _| f(e))
}

/// Deterministic pseudo-random bytes (xorshift) so failures reproduce.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn md5_hex(b: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(b))
}

// ---------------------------------------------------------------------------
// Helpers for the failure tests (drive loss, bit rot, index rebuild, crashes).

use cairn::engine::index::ListEntry;
use cairn::engine::merge::{Entry, ListParams};
use cairn::engine::multipart::ChosenPart;
use cairn::engine::record::{RecordError, RecordHeader};
use cairn::engine::{EngineError, MemBody, PutOptions};

/// Stores `body` under `key`, panicking on failure.
pub async fn put(e: &Rc<Engine>, bucket: &str, key: &str, body: &[u8]) {
    e.put(
        bucket,
        key,
        PutOptions::default(),
        &mut MemBody::new(body.to_vec()),
    )
    .await
    .unwrap_or_else(|err| panic!("put {bucket}/{key} ({} bytes): {err}", body.len()));
}

/// Stores `parts` as one multipart object under `key` (part numbers from
/// 1), panicking on failure.
pub async fn put_multipart(e: &Rc<Engine>, bucket: &str, key: &str, parts: &[&[u8]]) {
    let up = e
        .create_upload(bucket, key, PutOptions::default(), None)
        .await
        .unwrap();
    let mut chosen = Vec::new();
    for (n, body) in (1..).zip(parts) {
        let part = e
            .put_part(bucket, key, up, n, &mut MemBody::new(body.to_vec()), None)
            .await
            .unwrap();
        chosen.push(ChosenPart {
            number: n,
            etag: part.etag,
        });
    }
    e.complete_upload(bucket, key, up, chosen, vec![])
        .await
        .unwrap();
}

/// Starts an upload of `key` with `part` as its part 1 and leaves it open;
/// returns its id.
pub async fn put_open_upload(e: &Rc<Engine>, bucket: &str, key: &str, part: &[u8]) -> u128 {
    let up = e
        .create_upload(bucket, key, PutOptions::default(), None)
        .await
        .unwrap();
    e.put_part(bucket, key, up, 1, &mut MemBody::new(part.to_vec()), None)
        .await
        .unwrap();
    up
}

/// Completes an upload `put_open_upload` left open, from the one part it
/// must still hold.
pub async fn complete_open_upload(e: &Rc<Engine>, bucket: &str, key: &str, upload: u128) {
    let parts = e.upload_parts(bucket, key, upload, 0, 10).unwrap();
    assert_eq!(parts.len(), 1, "the open upload's part survived");
    let chosen = vec![ChosenPart {
        number: 1,
        etag: parts[0].etag.clone(),
    }];
    e.complete_upload(bucket, key, upload, chosen, vec![])
        .await
        .unwrap();
}

/// The whole object, or the engine's error (from opening or from any chunk).
pub async fn get(e: &Rc<Engine>, bucket: &str, key: &str) -> Result<Vec<u8>, EngineError> {
    e.get(bucket, key, None).await?.read_all().await
}

/// Bytes `[a, b)` of the object, or the engine's error.
pub async fn get_range(
    e: &Rc<Engine>,
    bucket: &str,
    key: &str,
    a: u64,
    b: u64,
) -> Result<Vec<u8>, EngineError> {
    e.get(bucket, key, Some((a, b))).await?.read_all().await
}

/// Every key of the bucket with its listing entry, in listing order, paging
/// with a small page size so the merge's continuation is exercised too.
pub fn list_all(e: &Engine, bucket: &str) -> Vec<(String, ListEntry)> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = e
            .list(
                bucket,
                &ListParams {
                    prefix: "",
                    delimiter: None,
                    start_after: after.as_deref(),
                    max_keys: 13,
                },
            )
            .expect("listing");
        for en in page.entries {
            match en {
                Entry::Object(k, v) => out.push((k, v)),
                Entry::CommonPrefix(p) => panic!("unexpected common prefix {p}"),
            }
        }
        if !page.is_truncated {
            return out;
        }
        after = page.next_marker.clone();
        assert!(after.is_some(), "truncated page without a marker");
    }
}

/// Ranges worth checking for an object of `size` bytes: first byte, last
/// byte, a middle slice, a slice across the first stripe boundary.
pub fn ranges(size: usize) -> Vec<(u64, u64)> {
    let s = size as u64;
    if s == 0 {
        return vec![];
    }
    let mut r = vec![(0, 1), (s - 1, s), (s / 3, (s / 3 * 2 + 1).min(s))];
    let stripe = 1u64 << 20;
    if s > stripe + 10 {
        r.push((stripe - 7, stripe + 7));
    }
    r
}

/// Moves a drive directory away (the drive "vanishes").
pub fn pull_drive(path: &std::path::Path) {
    std::fs::rename(path, away(path)).expect("move drive away");
}

/// Puts a pulled drive back.
pub fn return_drive(path: &std::path::Path) {
    std::fs::rename(away(path), path).expect("put drive back");
}

fn away(path: &std::path::Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".away");
    PathBuf::from(s)
}

/// Deletes the index wherever a drive holds one, so the next open must
/// rebuild it from the segments. Fails when there was none to delete: a test
/// that meant to force a rebuild would otherwise go on reading the old index.
pub fn lose_index(drives: &[PathBuf]) {
    let mut lost = 0;
    for d in drives {
        let idx = d.join(".cairn/index");
        if idx.exists() {
            std::fs::remove_dir_all(&idx)
                .unwrap_or_else(|e| panic!("delete {}: {e}", idx.display()));
            lost += 1;
        }
    }
    assert!(lost > 0, "no index to lose on {drives:?}");
}

/// One record found on a drive by scanning its segment files.
#[derive(Clone, Debug)]
pub struct FoundRecord {
    pub drive: usize,
    pub partition: u16,
    pub segment: u32,
    pub path: PathBuf,
    pub offset: u64,
    pub header: RecordHeader,
}

impl FoundRecord {
    /// File offset of the first payload byte.
    pub fn payload_offset(&self) -> u64 {
        self.offset + self.header.header_len() as u64
    }
}

/// Every record on the drives (those present), found the way a rebuild
/// finds them: a header decoded at a 4 KiB boundary, then skip the record.
pub fn scan_records(drives: &[PathBuf], partitions: u16) -> Vec<FoundRecord> {
    use std::os::unix::fs::FileExt;
    let mut out = Vec::new();
    for (d, root) in drives.iter().enumerate() {
        if !root.is_dir() {
            continue;
        }
        let key = cairn::engine::format::record_key_of_drive(root).expect("formatted drive");
        for seg in cairn::engine::segment::list_segments(root).expect("list segments") {
            let path = cairn::engine::segment::segment_path(root, seg);
            let f = std::fs::File::open(&path).expect("open segment");
            let len = f.metadata().unwrap().len();
            let mut pos = 0u64;
            let mut block = vec![0u8; 4096];
            while pos + 4096 <= len {
                f.read_exact_at(&mut block, pos).unwrap();
                match RecordHeader::decode(&block, key) {
                    Ok(h) => {
                        let rl = h.record_len() as u64;
                        if h.partition < partitions {
                            out.push(FoundRecord {
                                drive: d,
                                partition: h.partition,
                                segment: seg,
                                path: path.clone(),
                                offset: pos,
                                header: h,
                            });
                        }
                        pos += rl;
                    }
                    Err(RecordError::NotARecord) | Err(_) => pos += 4096,
                }
            }
        }
    }
    out
}

/// XORs `mask` into the byte at `offset` of `path` (buffered I/O: the engine
/// is closed while the test rots its drives).
pub fn flip_byte(path: &std::path::Path, offset: u64, mask: u8) {
    use std::os::unix::fs::FileExt;
    assert_ne!(mask, 0);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open for corruption");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= mask;
    f.write_all_at(&b, offset).unwrap();
    f.sync_all().unwrap();
}

/// Shorthand for the counters the failure tests watch.
pub fn counter(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(std::sync::atomic::Ordering::Relaxed)
}
