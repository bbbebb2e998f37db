//! The system store's files, one copy on every drive (`.cairn/`): the
//! bucket table, the identity state, the run-time settings and the KMS
//! keys. Their writers put the whole file on every drive and start-up takes
//! the newest valid copy, so a copy that rotted, went missing or fell
//! behind (its drive was away) is simply rewritten here from the newest
//! valid one. Blocking: run on a companion thread.

use std::path::{Path, PathBuf};

use super::buckets::BucketTable;
use super::format::META_DIR;
use crate::format_version::JsonError;
use crate::iam::store::{DriveStore, FrameError};

/// A system file and how to tell a valid copy's generation.
struct SysFile {
    name: &'static str,
    generation: fn(&[u8]) -> Generation,
}

/// What a copy is.
enum Generation {
    Valid(u64),
    Invalid,
    /// Written by a newer cairn: neither a source nor something to rewrite.
    Newer(String),
}

impl Generation {
    fn valid(&self) -> Option<u64> {
        match self {
            Generation::Valid(g) => Some(*g),
            _ => None,
        }
    }
}

fn store_generation(b: &[u8]) -> Generation {
    match DriveStore::decode(b) {
        Ok((g, _)) => Generation::Valid(g),
        Err(FrameError::Newer(n)) => Generation::Newer(n.to_string()),
        Err(FrameError::Damaged(_)) => Generation::Invalid,
    }
}

fn table_generation(b: &[u8]) -> Generation {
    match BucketTable::decode(b) {
        Ok(t) => Generation::Valid(t.generation),
        Err(JsonError::Newer(n)) => Generation::Newer(n.to_string()),
        Err(JsonError::Malformed { .. }) => Generation::Invalid,
    }
}

const FILES: [SysFile; 7] = [
    SysFile {
        name: "buckets.json",
        generation: table_generation,
    },
    SysFile {
        name: crate::iam::store::IAM_FILE,
        generation: store_generation,
    },
    SysFile {
        name: crate::admin::settings::STORE_FILE,
        generation: store_generation,
    },
    SysFile {
        name: crate::sse::kms::STATE_FILE,
        generation: store_generation,
    },
    SysFile {
        name: super::drive_service::STATE_FILE,
        generation: store_generation,
    },
    SysFile {
        name: crate::notify::targets::STORE_FILE,
        generation: store_generation,
    },
    SysFile {
        name: crate::notify::mark::MARK_FILE,
        generation: store_generation,
    },
];

/// What a check of the system files found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SysCheck {
    /// Copies read, and their bytes.
    pub copies: u64,
    pub bytes: u64,
    /// Copies missing, invalid or older than the newest, and rewritten.
    pub bad: u64,
    pub repaired: u64,
}

/// Checks every system file on `drives` (the online ones) and rewrites each
/// bad copy from the newest valid one. A file no drive has a valid copy of
/// is left alone (it may simply not exist yet), and so is a file with a
/// copy of a newer format: rewriting it from an older one would lose it.
pub fn check(drives: &[PathBuf]) -> SysCheck {
    let mut out = SysCheck::default();
    for f in &FILES {
        let copies: Vec<(&PathBuf, Option<Vec<u8>>)> = drives
            .iter()
            .map(|d| (d, std::fs::read(path(d, f.name)).ok()))
            .collect();
        for (_, b) in &copies {
            if let Some(b) = b {
                out.copies += 1;
                out.bytes += b.len() as u64;
            }
        }
        let newer = copies
            .iter()
            .find_map(|(d, b)| match (f.generation)(b.as_deref()?) {
                Generation::Newer(why) => Some((path(d, f.name), why)),
                _ => None,
            });
        if let Some((p, why)) = newer {
            tracing::error!(file = %p.display(), "{why}; no copy of it is rewritten");
            continue;
        }
        let newest = copies
            .iter()
            .filter_map(|(_, b)| {
                let b = b.as_ref()?;
                Some(((f.generation)(b).valid()?, b))
            })
            .max_by_key(|(g, _)| *g);
        let Some((gen, good)) = newest else {
            continue;
        };
        let good = good.clone();
        for (d, b) in &copies {
            let fine = b
                .as_deref()
                .and_then(|b| (f.generation)(b).valid())
                .is_some_and(|g| g == gen);
            if fine {
                continue;
            }
            out.bad += 1;
            // Written again only if unchanged since it was read: a writer
            // may have put a newer copy there meanwhile.
            let p = path(d, f.name);
            if std::fs::read(&p).ok() != *b {
                continue;
            }
            match crate::runtime::file::write_file_durable(&p, &good) {
                Ok(()) => {
                    out.repaired += 1;
                    tracing::warn!(file = %p.display(), generation = gen, "rewrote a bad system file copy");
                }
                Err(e) => {
                    tracing::error!(file = %p.display(), error = %e, "cannot rewrite a system file copy")
                }
            }
        }
    }
    out
}

fn path(drive: &Path, name: &str) -> PathBuf {
    drive.join(META_DIR).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drives(t: &tempfile::TempDir, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let d = t.path().join(format!("d{i}"));
                std::fs::create_dir_all(d.join(META_DIR)).unwrap();
                d
            })
            .collect()
    }

    #[test]
    fn a_rotten_missing_or_stale_copy_is_rewritten_from_the_newest_valid_one() {
        let t = tempfile::tempdir().unwrap();
        let d = drives(&t, 4);
        let iam = |d: &PathBuf| path(d, crate::iam::store::IAM_FILE);
        let newest = DriveStore::encode(7, b"state seven");
        std::fs::write(iam(&d[0]), &newest).unwrap();
        std::fs::write(iam(&d[1]), DriveStore::encode(6, b"state six")).unwrap();
        let mut rotten = newest.clone();
        let last = rotten.len() - 1;
        rotten[last] ^= 0x40;
        std::fs::write(iam(&d[2]), &rotten).unwrap();
        // d[3] has no copy.
        let c = check(&d);
        assert_eq!(c.bad, 3, "{c:?}");
        assert_eq!(c.repaired, 3, "{c:?}");
        for drive in &d {
            assert_eq!(std::fs::read(iam(drive)).unwrap(), newest);
        }
        assert_eq!(check(&d).bad, 0);
    }

    #[test]
    fn the_bucket_table_is_checked_by_its_generation() {
        let t = tempfile::tempdir().unwrap();
        let d = drives(&t, 2);
        let table = BucketTable {
            generation: 3,
            ..BucketTable::default()
        };
        std::fs::write(
            path(&d[0], "buckets.json"),
            serde_json::to_vec(&table).unwrap(),
        )
        .unwrap();
        std::fs::write(path(&d[1], "buckets.json"), b"{ not json").unwrap();
        let c = check(&d);
        assert_eq!((c.bad, c.repaired), (1, 1));
        let back: BucketTable =
            serde_json::from_slice(&std::fs::read(path(&d[1], "buckets.json")).unwrap()).unwrap();
        assert_eq!(back.generation, 3);
    }

    #[test]
    fn a_file_with_a_copy_of_a_newer_format_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let d = drives(&t, 3);
        let iam = |d: &PathBuf| path(d, crate::iam::store::IAM_FILE);
        let ours = DriveStore::encode(7, b"state seven");
        let mut newer = DriveStore::encode(8, b"state eight");
        newer[7] = b'2';
        std::fs::write(iam(&d[0]), &ours).unwrap();
        std::fs::write(iam(&d[1]), &newer).unwrap();
        let newer_table = format!(
            r#"{{"format":{},"generation":9}}"#,
            crate::engine::buckets::TABLE_FORMAT + 1
        );
        std::fs::write(path(&d[0], "buckets.json"), &newer_table).unwrap();
        let c = check(&d);
        assert_eq!((c.bad, c.repaired), (0, 0), "{c:?}");
        assert_eq!(std::fs::read(iam(&d[1])).unwrap(), newer);
        assert!(!iam(&d[2]).exists());
        assert_eq!(
            std::fs::read_to_string(path(&d[0], "buckets.json")).unwrap(),
            newer_table
        );
    }

    #[test]
    fn a_file_with_no_valid_copy_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let d = drives(&t, 2);
        std::fs::write(path(&d[0], crate::iam::store::IAM_FILE), b"garbage").unwrap();
        let c = check(&d);
        assert_eq!((c.bad, c.repaired), (0, 0));
        assert_eq!(
            std::fs::read(path(&d[0], crate::iam::store::IAM_FILE)).unwrap(),
            b"garbage"
        );
    }
}
