//! Where the identity state lives: behind [`SystemStore`], so a cluster can
//! keep it in etcd later without touching anything above.
//!
//! [`DriveStore`], the node's own, keeps a copy on every drive
//! (`.cairn/iam.state`): a header (magic, generation, length, XXH3 of all
//! that follows the magic) and the JSON state, in which secrets are only
//! sealed. A write goes to every drive (temp file, fsync, rename, directory
//! fsync) and succeeds only when a quorum of copies is durable. At start the
//! newest valid copy wins; a torn, corrupt or older copy is skipped, and
//! rewritten by the next write.
//!
//! The magic's last byte is the frame's format, an ASCII digit (`CAIRNSY1`).
//! A copy of a newer frame is not skipped as damage but fails the load:
//! passing over it for an older copy would bring back old state and then
//! overwrite the newer one. What the payload holds has a format of its own
//! (its owner's: `"format"` in the JSON).

use std::io;
use std::path::{Path, PathBuf};

use crate::engine::format::META_DIR;
use crate::format_version::NewerFormat;
use crate::runtime::file::write_file_durable;

/// The magic without its format digit.
const MAGIC_PREFIX: &[u8; 7] = b"CAIRNSY";
/// The frame format this binary writes (and the newest it reads).
pub const FRAME_FORMAT: u8 = 1;
const HEADER: usize = 8 + 8 + 8 + 8;
/// Far above any real state (5000 users with 10 keys each is a few MB).
const MAX_STATE: u64 = 256 << 20;

/// A durable, generation-numbered blob: the whole system state.
pub trait SystemStore: Send + Sync {
    /// The newest valid copy, with its generation; `None` when there is none.
    /// Blocking.
    fn load(&self) -> io::Result<Loaded>;
    /// Makes `payload` durable as `generation` (higher than any earlier
    /// one) before returning Ok. Blocking.
    fn store(&self, generation: u64, payload: &[u8]) -> io::Result<()>;
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub newest: Option<(u64, Vec<u8>)>,
    /// Copies skipped as torn, corrupt or unreadable, with why.
    pub skipped: Vec<(PathBuf, String)>,
    /// Valid copies older than the newest (repaired by the next write).
    pub stale: usize,
}

pub struct DriveStore {
    drives: Vec<PathBuf>,
    quorum: usize,
    /// The file in each drive's `.cairn`.
    file: &'static str,
}

/// The identity state's file.
pub const IAM_FILE: &str = "iam.state";

pub fn state_path(drive: &Path) -> PathBuf {
    drive.join(META_DIR).join(IAM_FILE)
}

impl DriveStore {
    /// Identity state copies on every drive of `drives`; a write needs
    /// `quorum` of them.
    pub fn new(drives: Vec<PathBuf>, quorum: usize) -> DriveStore {
        DriveStore::named(drives, quorum, IAM_FILE)
    }

    /// Another system record kept the same way, in `.cairn/<file>`.
    pub fn named(drives: Vec<PathBuf>, quorum: usize, file: &'static str) -> DriveStore {
        DriveStore {
            drives,
            quorum: quorum.max(1),
            file,
        }
    }

    fn path(&self, drive: &Path) -> PathBuf {
        drive.join(META_DIR).join(self.file)
    }

    pub fn encode(generation: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC_PREFIX);
        out.push(b'0' + FRAME_FORMAT);
        out.extend_from_slice(&generation.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        let sum = checksum(generation, payload);
        out.extend_from_slice(&sum.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    pub fn decode(b: &[u8]) -> Result<(u64, &[u8]), FrameError> {
        if b.len() < 8 || &b[..7] != MAGIC_PREFIX || !(b'1'..=b'9').contains(&b[7]) {
            return Err(FrameError::Damaged(
                "not a system state file (short or wrong magic)".into(),
            ));
        }
        NewerFormat::check(
            "system store file",
            u32::from(b[7] - b'0'),
            u32::from(FRAME_FORMAT),
        )
        .map_err(FrameError::Newer)?;
        if b.len() < HEADER {
            return Err(FrameError::Damaged("torn: shorter than its header".into()));
        }
        let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let (generation, len, sum) = (word(8), word(16), word(24));
        if len > MAX_STATE || b.len() as u64 != HEADER as u64 + len {
            return Err(FrameError::Damaged(format!(
                "torn: header says {len} bytes, file has {}",
                b.len() - HEADER
            )));
        }
        let payload = &b[HEADER..];
        if checksum(generation, payload) != sum {
            return Err(FrameError::Damaged("checksum mismatch".into()));
        }
        Ok((generation, payload))
    }
}

/// Why a copy did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Torn, corrupt or not a state file: skipped, rewritten by the next write.
    #[error("{0}")]
    Damaged(String),
    /// Written by a newer cairn: the load fails.
    #[error(transparent)]
    Newer(NewerFormat),
}

fn checksum(generation: u64, payload: &[u8]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&generation.to_le_bytes());
    h.update(&(payload.len() as u64).to_le_bytes());
    h.update(payload);
    h.digest()
}

impl SystemStore for DriveStore {
    fn load(&self) -> io::Result<Loaded> {
        let mut loaded = Loaded::default();
        let mut valid = Vec::new();
        for d in &self.drives {
            let path = self.path(d);
            match std::fs::read(&path) {
                Ok(b) => match DriveStore::decode(&b) {
                    Ok((g, p)) => valid.push((g, p.to_vec())),
                    Err(FrameError::Newer(n)) => {
                        return Err(io::Error::other(format!("{}: {n}", path.display())))
                    }
                    Err(FrameError::Damaged(why)) => loaded.skipped.push((path, why)),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => loaded.skipped.push((path, e.to_string())),
            }
        }
        let newest = valid.iter().map(|(g, _)| *g).max();
        loaded.stale = valid.iter().filter(|(g, _)| Some(*g) != newest).count();
        loaded.newest = valid.into_iter().max_by_key(|(g, _)| *g);
        Ok(loaded)
    }

    fn store(&self, generation: u64, payload: &[u8]) -> io::Result<()> {
        // Refuse up front when a quorum is plainly out of reach, so a write
        // that cannot be acknowledged mostly leaves no newer copy behind.
        let present = self
            .drives
            .iter()
            .filter(|d| d.join(META_DIR).is_dir())
            .count();
        if present < self.quorum {
            return Err(io::Error::other(format!(
                "system state written to 0 drives, {} needed: only {present} drives present",
                self.quorum
            )));
        }
        let bytes = DriveStore::encode(generation, payload);
        let mut ok = 0;
        let mut last_err = None;
        for d in &self.drives {
            match write_file_durable(&self.path(d), &bytes) {
                Ok(()) => ok += 1,
                Err(e) => last_err = Some(e),
            }
        }
        if ok >= self.quorum {
            return Ok(());
        }
        let why = last_err.map(|e| e.to_string()).unwrap_or_default();
        Err(io::Error::other(format!(
            "system state written to {ok} drives, {} needed: {why}",
            self.quorum
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn drives(t: &tempfile::TempDir, n: usize) -> Vec<PathBuf> {
        let d: Vec<PathBuf> = (0..n).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &d {
            std::fs::create_dir_all(p.join(META_DIR)).unwrap();
        }
        d
    }

    #[test]
    fn the_newest_valid_copy_wins() {
        let t = tempfile::tempdir().unwrap();
        let d = drives(&t, 3);
        DriveStore::new(d.clone(), 2).store(1, b"one").unwrap();
        // Generation 2 reached only the first drive.
        DriveStore::new(d[..1].to_vec(), 1)
            .store(2, b"two")
            .unwrap();
        let l = DriveStore::new(d.clone(), 2).load().unwrap();
        assert_eq!(l.newest, Some((2, b"two".to_vec())));
        assert_eq!(l.stale, 2);
        assert!(l.skipped.is_empty());
        assert!(DriveStore::new(drives(&t, 0), 1)
            .load()
            .unwrap()
            .newest
            .is_none());
    }

    #[test]
    fn a_corrupt_or_torn_copy_is_skipped_and_repaired_by_the_next_write() {
        let t = tempfile::tempdir().unwrap();
        let d = drives(&t, 3);
        let s = DriveStore::new(d.clone(), 2);
        s.store(1, b"old").unwrap();
        s.store(2, b"newer state").unwrap();
        // A flipped bit on drive 0, a torn file on drive 1.
        let p0 = state_path(&d[0]);
        let mut b = std::fs::read(&p0).unwrap();
        let last = b.len() - 1;
        b[last] ^= 0x20;
        std::fs::write(&p0, &b).unwrap();
        let p1 = state_path(&d[1]);
        let b = std::fs::read(&p1).unwrap();
        std::fs::write(&p1, &b[..b.len() - 3]).unwrap();
        // A leftover temp file of a higher generation is not a copy.
        std::fs::write(
            state_path(&d[2]).with_extension("tmp"),
            DriveStore::encode(9, b"never renamed"),
        )
        .unwrap();
        let l = s.load().unwrap();
        assert_eq!(l.newest, Some((2, b"newer state".to_vec())));
        assert_eq!(l.skipped.len(), 2, "{:?}", l.skipped);
        s.store(3, b"third").unwrap();
        let l = s.load().unwrap();
        assert!(l.skipped.is_empty() && l.stale == 0);
        assert_eq!(l.newest, Some((3, b"third".to_vec())));
    }

    #[test]
    fn a_copy_of_a_newer_frame_fails_the_load_instead_of_being_skipped() {
        let t = tempfile::tempdir().unwrap();
        let d = drives(&t, 2);
        let s = DriveStore::new(d.clone(), 1);
        s.store(3, b"state").unwrap();
        let mut b = std::fs::read(state_path(&d[1])).unwrap();
        assert_eq!(&b[..8], b"CAIRNSY1");
        b[7] = b'0' + FRAME_FORMAT + 1;
        std::fs::write(state_path(&d[1]), &b).unwrap();
        let e = s.load().unwrap_err().to_string();
        assert!(
            e.contains("system store file was written by a newer cairn: format 2, this binary reads up to 1"),
            "{e}"
        );
        // Not a digit: damage, skipped.
        b[7] = b'x';
        std::fs::write(state_path(&d[1]), &b).unwrap();
        let l = s.load().unwrap();
        assert_eq!(
            (l.newest, l.skipped.len()),
            (Some((3, b"state".to_vec())), 1)
        );
    }

    #[test]
    fn fewer_than_a_quorum_of_writable_drives_refuses_the_write() {
        let t = tempfile::tempdir().unwrap();
        let d = drives(&t, 3);
        let s = DriveStore::new(d.clone(), 2);
        s.store(1, b"one").unwrap();
        // Two drives gone (their meta directory removed): one copy only.
        for p in &d[1..] {
            std::fs::remove_dir_all(p.join(META_DIR)).unwrap();
        }
        let e = s.store(2, b"two").unwrap_err();
        assert!(e.to_string().contains("2 needed"), "{e}");
        assert_eq!(s.load().unwrap().newest, Some((1, b"one".to_vec())));
        // A drive that is there but whose write fails counts as missing
        // too (a directory in the file's place: rename fails even for root).
        std::fs::create_dir_all(state_path(&d[1]).join("x")).unwrap();
        let e = s.store(2, b"two").unwrap_err();
        assert!(e.to_string().contains("1 drives, 2 needed"), "{e}");
        std::fs::remove_dir_all(d[1].join(META_DIR)).unwrap();
        // One drive back: a quorum again.
        std::fs::create_dir_all(d[1].join(META_DIR)).unwrap();
        s.store(3, b"three").unwrap();
        assert_eq!(s.load().unwrap().newest, Some((3, b"three".to_vec())));
        let mode = std::fs::metadata(state_path(&d[0]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
