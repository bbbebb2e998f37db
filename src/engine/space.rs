//! Free space per drive, and the reserve that keeps a full drive usable.
//!
//! A drive is *full* once its free space falls below the reserve: new object
//! data (PUT, UploadPart, CreateMultipartUpload, tagging) is refused with
//! `StorageFull` and no new data shard goes to it, while deletes, tombstones,
//! completions, index commits and compaction may still use the reserve, so
//! space can be freed through the API. It is full again only once free space
//! is back above the reserve plus a margin (no flapping). Free space comes
//! from statvfs (refreshed every second and after every ENOSPC), lowered
//! between refreshes by what the segment writers preallocate, so a burst of
//! writes cannot run past the reserve unseen. A preallocation is booked
//! before its fallocate and stays booked until the call returns, so a
//! statvfs racing it counts it at most twice for an instant, never as free
//! space, and never twice for longer (that once made a drive flap between
//! full and not with megabytes free).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Free bytes above the reserve needed to leave the full state.
fn leave_margin(reserve: u64) -> u64 {
    reserve / 4
}

/// The reserve when none is configured: 2% of the drive, at least 16 MiB,
/// at most 1 GiB.
pub fn default_reserve(total: u64) -> u64 {
    (total / 50).clamp(16 << 20, 1 << 30)
}

/// Free and total bytes of the filesystem holding `path` (statvfs, the
/// space an unprivileged writer may use) and its id. Blocking.
pub fn statvfs(path: &Path) -> std::io::Result<(u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("drive path contains NUL"))?;
    // SAFETY: statvfs is a C struct of integers, for which all zeroes is a
    // valid value.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated string that outlives the call, and `s`
    // is a valid, writable statvfs for the kernel to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let unit = s.f_frsize as u64;
    Ok((
        s.f_bavail as u64 * unit,
        s.f_blocks as u64 * unit,
        s.f_fsid as u64,
    ))
}

/// A change of a drive's full state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    BecameFull,
    HasSpace,
}

/// The full state a drive moves to given its free bytes: full below the
/// reserve, not full from reserve + margin, unchanged in between.
pub fn next_full(full: bool, free: u64, reserve: u64) -> bool {
    if full {
        free < reserve + leave_margin(reserve)
    } else {
        free < reserve
    }
}

pub struct DriveSpace {
    path: PathBuf,
    /// The filesystem's id: drives on one filesystem share its free space.
    fs: AtomicU64,
    free: AtomicU64,
    total: AtomicU64,
    full: AtomicBool,
    /// Bytes of preallocations on this drive whose fallocate has not yet
    /// returned: statvfs may not show them yet.
    booked: AtomicU64,
}

/// A preallocation in flight, booked against its drive's filesystem until
/// dropped (right after its fallocate returns).
pub struct Booking {
    space: Arc<Space>,
    drive: usize,
    bytes: u64,
}

impl Drop for Booking {
    fn drop(&mut self) {
        self.space.drives[self.drive]
            .booked
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Every drive's space (atomics: read by every core, no lock).
pub struct Space {
    drives: Vec<DriveSpace>,
    /// Configured reserve; 0 means `default_reserve` of each drive.
    reserve: u64,
    /// Bumped at each transition to full, so cores notice it once.
    full_events: AtomicU64,
}

impl Space {
    pub fn new(paths: Vec<PathBuf>, reserve: u64) -> Space {
        Space {
            drives: paths
                .into_iter()
                .enumerate()
                .map(|(i, path)| DriveSpace {
                    path,
                    fs: AtomicU64::new(u64::MAX - i as u64),
                    free: AtomicU64::new(u64::MAX),
                    total: AtomicU64::new(0),
                    full: AtomicBool::new(false),
                    booked: AtomicU64::new(0),
                })
                .collect(),
            reserve,
            full_events: AtomicU64::new(0),
        }
    }

    pub fn reserve(&self, d: usize) -> u64 {
        if self.reserve > 0 {
            self.reserve
        } else {
            default_reserve(self.drives[d].total.load(Ordering::Relaxed))
        }
    }

    pub fn is_full(&self, d: usize) -> bool {
        self.drives[d].full.load(Ordering::Relaxed)
    }

    pub fn any_full(&self) -> bool {
        (0..self.drives.len()).any(|d| self.is_full(d))
    }

    pub fn free(&self, d: usize) -> u64 {
        self.drives[d].free.load(Ordering::Relaxed)
    }

    /// The drive's filesystem size (0 until first measured).
    pub fn total(&self, d: usize) -> u64 {
        self.drives[d].total.load(Ordering::Relaxed)
    }

    pub fn full_events(&self) -> u64 {
        self.full_events.load(Ordering::Relaxed)
    }

    /// Whether free space is low enough that preallocation should take only
    /// what is needed (and free space is watched more closely).
    pub fn is_low(&self, d: usize) -> bool {
        self.free(d) < self.reserve(d).saturating_mul(4)
    }

    pub fn any_low(&self) -> bool {
        (0..self.drives.len()).any(|d| self.is_low(d))
    }

    /// Sets a drive's free and total bytes (from a statvfs that has just
    /// returned) and moves its full state; returns the transition, if any,
    /// to its one caller. Preallocations still booked on the filesystem are
    /// taken off: read after the statvfs, they include every one it missed.
    pub fn update(&self, d: usize, free: u64, total: u64, fs: u64) -> Option<Transition> {
        let s = &self.drives[d];
        s.fs.store(fs, Ordering::Relaxed);
        s.total.store(total, Ordering::Relaxed);
        let booked: u64 = self
            .drives
            .iter()
            .filter(|o| o.fs.load(Ordering::Relaxed) == fs)
            .map(|o| o.booked.load(Ordering::Relaxed))
            .sum();
        let free = free.saturating_sub(booked);
        s.free.store(free, Ordering::Relaxed);
        let was = s.full.load(Ordering::Relaxed);
        let now = next_full(was, free, self.reserve(d));
        self.set_full(d, now)
    }

    /// A preallocation of `bytes` on drive `d` is about to start: less is
    /// free on every drive of its filesystem from now on, and statvfs
    /// readings are lowered by it until the booking is dropped.
    pub fn book(self: &Arc<Self>, d: usize, bytes: u64) -> Booking {
        self.drives[d].booked.fetch_add(bytes, Ordering::Relaxed);
        self.consumed(d, bytes);
        Booking {
            space: self.clone(),
            drive: d,
            bytes,
        }
    }

    /// Space was taken on drive `d` since the last statvfs: less is free on
    /// every drive of its filesystem.
    fn consumed(&self, d: usize, bytes: u64) {
        let fs = self.drives[d].fs.load(Ordering::Relaxed);
        for (i, s) in self.drives.iter().enumerate() {
            if s.fs.load(Ordering::Relaxed) != fs {
                continue;
            }
            let before = s
                .free
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| {
                    Some(f.saturating_sub(bytes))
                })
                .unwrap_or(0);
            if before.saturating_sub(bytes) < self.reserve(i) && !self.is_full(i) {
                self.set_full(i, true);
            }
        }
    }

    /// A write met ENOSPC: the drive (and every drive of its filesystem)
    /// is full whatever statvfs said.
    pub fn hit_enospc(&self, d: usize) {
        self.consumed(d, u64::MAX);
    }

    /// Re-reads every listed drive's free space. Blocking (statvfs).
    pub fn refresh(&self, drives: &[usize]) {
        for &d in drives {
            match statvfs(&self.drives[d].path) {
                Ok((free, total, fs)) => {
                    self.update(d, free, total, fs);
                }
                Err(e) => tracing::debug!(drive = d, error = %e, "statvfs failed"),
            }
        }
    }

    /// Moves the full state; the one caller that made the change logs it,
    /// so each transition is logged once, not once per request.
    fn set_full(&self, d: usize, full: bool) -> Option<Transition> {
        let s = &self.drives[d];
        if s.full.swap(full, Ordering::Relaxed) == full {
            return None;
        }
        let free = s.free.load(Ordering::Relaxed);
        let reserve = self.reserve(d);
        if full {
            self.full_events.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                drive = d,
                path = %s.path.display(),
                free,
                reserve,
                "drive full: new object data refused (507) until space is freed; reads, deletes and compaction go on"
            );
            Some(Transition::BecameFull)
        } else {
            tracing::info!(drive = d, path = %s.path.display(), free, reserve, "drive has space again");
            Some(Transition::HasSpace)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn paths(n: usize) -> Vec<PathBuf> {
        (0..n).map(|i| PathBuf::from(format!("/d{i}"))).collect()
    }

    #[test]
    fn a_drive_is_full_below_the_reserve_and_recovers_above_it_with_a_margin() {
        let s = Space::new(paths(2), 16 * MIB);
        assert_eq!(s.update(0, 100 * MIB, 256 * MIB, 1), None);
        assert!(!s.is_full(0));
        assert_eq!(
            s.update(0, 15 * MIB, 256 * MIB, 1),
            Some(Transition::BecameFull)
        );
        assert!(s.is_full(0) && !s.is_full(1));
        assert_eq!(s.full_events(), 1);
        // Reported once: staying full is no transition.
        assert_eq!(s.update(0, 10 * MIB, 256 * MIB, 1), None);
        // Just above the reserve is not enough to leave (no flapping).
        assert_eq!(s.update(0, 17 * MIB, 256 * MIB, 1), None);
        assert!(s.is_full(0));
        assert_eq!(
            s.update(0, 21 * MIB, 256 * MIB, 1),
            Some(Transition::HasSpace)
        );
        assert!(!s.is_full(0));
        assert_eq!(s.update(0, 21 * MIB, 256 * MIB, 1), None);
    }

    #[test]
    fn preallocation_and_enospc_make_every_drive_of_the_filesystem_full_before_the_next_statvfs() {
        let s = Arc::new(Space::new(paths(3), 16 * MIB));
        s.update(0, 20 * MIB, 256 * MIB, 7);
        s.update(1, 20 * MIB, 256 * MIB, 7);
        s.update(2, 20 * MIB, 256 * MIB, 8);
        drop(s.book(0, 2 * MIB));
        assert_eq!(
            (s.free(0), s.free(1), s.free(2)),
            (18 * MIB, 18 * MIB, 20 * MIB)
        );
        assert!(!s.any_full());
        drop(s.book(1, 4 * MIB));
        assert!(s.is_full(0) && s.is_full(1) && !s.is_full(2));
        assert_eq!(s.full_events(), 2);
        assert_eq!(
            s.update(0, 40 * MIB, 256 * MIB, 7),
            Some(Transition::HasSpace)
        );
        s.hit_enospc(2);
        assert!(s.is_full(2) && !s.is_full(0));
        assert_eq!(s.free(2), 0);
        assert_eq!(s.full_events(), 3);
    }

    #[test]
    fn a_preallocation_racing_a_statvfs_is_counted_once_it_returns_and_never_as_free() {
        let s = Arc::new(Space::new(paths(2), 16 * MIB));
        s.update(0, 40 * MIB, 256 * MIB, 7);
        s.update(1, 40 * MIB, 256 * MIB, 7);
        let booking = s.book(1, 8 * MIB);
        // A statvfs from before the fallocate landed: still counted.
        s.update(0, 40 * MIB, 256 * MIB, 7);
        assert_eq!(s.free(0), 32 * MIB);
        // One from after it landed, while still booked: counted twice, for
        // as long as the fallocate takes to return.
        s.update(0, 32 * MIB, 256 * MIB, 7);
        assert_eq!(s.free(0), 24 * MIB);
        drop(booking);
        // The next statvfs counts it once: no full drive with space free.
        s.update(0, 32 * MIB, 256 * MIB, 7);
        s.update(1, 32 * MIB, 256 * MIB, 7);
        assert_eq!((s.free(0), s.free(1)), (32 * MIB, 32 * MIB));
        assert!(!s.any_full());
    }

    #[test]
    fn the_default_reserve_is_two_percent_within_bounds() {
        assert_eq!(default_reserve(256 * MIB), 16 * MIB);
        assert_eq!(default_reserve(10_000 * MIB), 200 * MIB);
        assert_eq!(default_reserve(1 << 50), 1 << 30);
        let s = Space::new(paths(1), 0);
        s.update(0, 300 * MIB, 1000 * MIB, 1);
        assert_eq!(s.reserve(0), 20 * MIB);
    }
}
