//! The simulator mounted for real (needs root and /dev/fuse; skipped with
//! the reason otherwise, failed under CI=true): what survives a cut through
//! the kernel's FUSE paths: buffered and O_DIRECT writes, fdatasync,
//! fallocate, mmap reads, directory fsync, renames.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_cairn-powerloss");

/// None (the reason printed) where FUSE mounts are impossible; under
/// CI=true that fails the test instead.
fn can_mount() -> bool {
    // SAFETY: getuid has no preconditions.
    let why = if unsafe { libc::getuid() } != 0 {
        Some("not root")
    } else if !Path::new("/dev/fuse").exists() {
        Some("no /dev/fuse")
    } else {
        None
    };
    match why {
        None => true,
        Some(w) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("FAILED (CI=true): FUSE mounts need root and /dev/fuse: {w}")
        }
        Some(w) => {
            println!("SKIPPED: FUSE mounts need root and /dev/fuse: {w}");
            false
        }
    }
}

struct Mount {
    child: Child,
    _dir: tempfile::TempDir,
    backing: PathBuf,
    mnt: PathBuf,
    ctl: PathBuf,
}

impl Mount {
    fn new(metadata: &str) -> Mount {
        Mount::over(tempfile::tempdir().expect("tempdir"), metadata)
    }

    /// Mounts `dir/backing` (made if missing) at `dir/mnt`.
    fn over(dir: tempfile::TempDir, metadata: &str) -> Mount {
        let backing = dir.path().join("backing");
        let mnt = dir.path().join("mnt");
        let ctl = dir.path().join("ctl");
        std::fs::create_dir_all(&backing).expect("backing");
        std::fs::create_dir_all(&mnt).expect("mountpoint");
        let _ = std::fs::remove_file(&ctl);
        let child = Command::new(BIN)
            .arg("mount")
            .arg("--backing")
            .arg(&backing)
            .arg("--mountpoint")
            .arg(&mnt)
            .arg("--control")
            .arg(&ctl)
            .args(["--metadata", metadata])
            .stdout(Stdio::null())
            .spawn()
            .expect("start cairn-powerloss");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ctl.exists() {
            assert!(Instant::now() < deadline, "the mount did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
        Mount {
            child,
            _dir: dir,
            backing,
            mnt,
            ctl,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    fn ask(&self, cmd: &str) -> String {
        let out = Command::new(BIN)
            .arg(cmd)
            .arg("--control")
            .arg(&self.ctl)
            .output()
            .expect("run cairn-powerloss");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Cuts with `seed` and waits for the daemon to end (every file the
    /// test opened must be closed by then). Returns the report.
    fn cut(mut self, seed: u64) -> (String, tempfile::TempDir, PathBuf) {
        let out = Command::new(BIN)
            .args(["cut", "--seed", &seed.to_string(), "--control"])
            .arg(&self.ctl)
            .output()
            .expect("cut");
        let report = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert!(report.starts_with("ok "), "cut: {report}");
        self.wait_exit();
        let backing = self.backing.clone();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
        (report, dir, backing)
    }

    fn unmount(mut self) -> (tempfile::TempDir, PathBuf) {
        assert_eq!(self.ask("unmount"), "ok");
        self.wait_exit();
        let backing = self.backing.clone();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
        (dir, backing)
    }

    fn wait_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                assert!(s.success(), "cairn-powerloss exited with {s}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cairn-powerloss did not end after the unmount"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let c = CString::new(self.mnt.as_os_str().as_bytes()).expect("path");
            // SAFETY: plain syscall with a NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(29) ^ seed.wrapping_mul(89))
        .collect()
}

fn open_rw(p: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .expect("open")
}

/// A 4 KiB-aligned buffer for O_DIRECT.
struct Aligned {
    ptr: *mut u8,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = std::alloc::Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Aligned { ptr, len }
    }

    fn slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` holds `len` initialised bytes owned by self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, 4096).expect("layout");
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr, layout) };
    }
}

#[test]
fn synced_data_survives_every_cut_and_unsynced_writes_never_corrupt_it() {
    if !can_mount() {
        return;
    }
    for seed in 0..6 {
        let m = Mount::new("ordered");
        let synced = pattern(64 << 10, 1);
        {
            let f = open_rw(&m.path("synced"));
            f.write_all_at(&synced, 0).expect("write");
            f.sync_all().expect("fsync");
            // Unsynced, after the fsync: over part of it and elsewhere.
            f.write_all_at(&[0xee; 1000], 70_000).expect("write");
            let g = open_rw(&m.path("unsynced"));
            g.write_all_at(&pattern(10_000, 2), 0).expect("write");
        }
        let (_report, _dir, backing) = m.cut(seed);
        let got = std::fs::read(backing.join("synced")).expect("the synced file is there");
        assert_eq!(&got[..synced.len()], &synced[..], "seed {seed}");
    }
}

#[test]
fn unsynced_writes_are_dropped_applied_or_torn_in_whole_sectors() {
    if !can_mount() {
        return;
    }
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let m = Mount::new("ordered");
        {
            let f = open_rw(&m.path("f"));
            f.write_all_at(&[0u8; 8192], 0).expect("write");
            f.sync_data().expect("fdatasync");
            f.write_all_at(&[0xab; 8192], 0).expect("write");
        }
        let (_report, _dir, backing) = m.cut(seed);
        let got = std::fs::read(backing.join("f")).expect("read");
        assert_eq!(got.len(), 8192);
        let mut new = 0;
        for s in got.chunks(512) {
            assert!(
                s.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0xab),
                "seed {seed}: a sector mixes old and new bytes"
            );
            new += (s[0] == 0xab) as usize;
        }
        kinds.insert(match new {
            0 => "dropped",
            16 => "applied",
            _ => "torn",
        });
    }
    assert_eq!(kinds.len(), 3, "{kinds:?}");
}

/// cairn's segment files: O_DIRECT, fallocate, aligned writes, fdatasync.
#[test]
fn o_direct_writes_with_fallocate_and_fdatasync_are_durable() {
    if !can_mount() {
        return;
    }
    let m = Mount::new("ordered");
    let mut buf = Aligned::new(64 << 10);
    buf.slice().copy_from_slice(&pattern(64 << 10, 3));
    {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_DIRECT)
            .open(m.path("seg"))
            .expect("open O_DIRECT");
        // SAFETY: plain syscall on an open fd.
        let r = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, 1 << 20) };
        assert_eq!(r, 0, "fallocate: {}", std::io::Error::last_os_error());
        for off in [0u64, 4096, 512 << 10] {
            // SAFETY: the buffer is 4 KiB-aligned and 64 KiB long.
            let n = unsafe {
                libc::pwrite(
                    f.as_raw_fd(),
                    buf.ptr as *const libc::c_void,
                    buf.len,
                    off as libc::off_t,
                )
            };
            assert_eq!(n, buf.len as isize, "{}", std::io::Error::last_os_error());
        }
        f.sync_data().expect("fdatasync");
        let mut back = Aligned::new(64 << 10);
        // SAFETY: as above.
        let n = unsafe {
            libc::pread(
                f.as_raw_fd(),
                back.ptr as *mut libc::c_void,
                back.len,
                (512 << 10) as libc::off_t,
            )
        };
        assert_eq!(n, back.len as isize);
        assert_eq!(back.slice(), &pattern(64 << 10, 3)[..]);
        assert_eq!(f.metadata().expect("stat").len(), 1 << 20);
    }
    let (_r, _dir, backing) = m.cut(5);
    let got = std::fs::read(backing.join("seg")).expect("read");
    assert_eq!(got.len(), 1 << 20);
    let want = pattern(64 << 10, 3);
    assert_eq!(&got[..4096], &want[..4096]);
    assert_eq!(&got[4096..4096 + (64 << 10)], &want[..]);
    assert_eq!(&got[512 << 10..(512 << 10) + (64 << 10)], &want[..]);
}

/// LMDB's pattern: pwrite, then reads through a shared mapping; a clean
/// unmount keeps everything, unsynced writes included.
#[test]
fn mmap_reads_see_writes_and_a_clean_unmount_keeps_everything() {
    if !can_mount() {
        return;
    }
    let m = Mount::new("ordered");
    std::fs::create_dir_all(m.path("d/e")).expect("mkdir");
    {
        let f = open_rw(&m.path("d/e/map"));
        f.write_all_at(&pattern(16 << 10, 4), 0).expect("write");
        // SAFETY: a read-only shared mapping of 16 KiB of an open file.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                16 << 10,
                libc::PROT_READ,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        // SAFETY: the mapping is 16 KiB long and stays until munmap.
        let mapped = unsafe { std::slice::from_raw_parts(p as *const u8, 16 << 10) };
        assert_eq!(mapped, &pattern(16 << 10, 4)[..]);
        f.write_all_at(&[7; 100], 8192).expect("write");
        assert_eq!(&mapped[8192..8292], &[7; 100][..], "a later pwrite is seen");
        // SAFETY: unmapping what was mapped above.
        unsafe { libc::munmap(p, 16 << 10) };
    }
    std::fs::rename(m.path("d/e/map"), m.path("d/renamed")).expect("rename");
    let (_dir, backing) = m.unmount();
    let mut want = pattern(16 << 10, 4);
    want[8192..8292].fill(7);
    assert_eq!(
        std::fs::read(backing.join("d/renamed")).expect("read"),
        want
    );
    assert!(!backing.join("d/e/map").exists());
}

/// Strict POSIX mode: an fsynced file's name is durable only once its
/// directory is fsynced.
#[test]
fn posix_mode_loses_a_name_without_a_directory_fsync_and_keeps_it_with_one() {
    if !can_mount() {
        return;
    }
    let mut lost = 0;
    for seed in 0..8 {
        for dir_fsync in [false, true] {
            let m = Mount::new("posix");
            {
                let f = open_rw(&m.path("f"));
                f.write_all_at(b"data", 0).expect("write");
                f.sync_all().expect("fsync");
                if dir_fsync {
                    File::open(&m.mnt)
                        .expect("open dir")
                        .sync_all()
                        .expect("fsync dir");
                }
            }
            let (_r, _dir, backing) = m.cut(seed);
            match std::fs::read(backing.join("f")) {
                Ok(b) => assert_eq!(b, b"data"),
                Err(_) if !dir_fsync => lost += 1,
                Err(e) => panic!("seed {seed}: lost after a directory fsync: {e}"),
            }
        }
    }
    assert!(lost > 0, "never lost without a directory fsync");
}

#[test]
fn after_a_cut_every_operation_fails_with_eio() {
    if !can_mount() {
        return;
    }
    let m = Mount::new("ordered");
    let f = open_rw(&m.path("f"));
    f.write_all_at(b"x", 0).expect("write");
    let out = Command::new(BIN)
        .args(["cut", "--seed", "1", "--control"])
        .arg(&m.ctl)
        .output()
        .expect("cut");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok "));
    let e = f.write_all_at(b"y", 0).expect_err("a write after the cut");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    let e = f.sync_all().expect_err("an fsync after the cut");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    drop(f);
    let mut m = m;
    m.wait_exit();
}

/// A backing directory written back by a cut mounts again as it was.
#[test]
fn the_image_of_a_cut_mounts_again() {
    if !can_mount() {
        return;
    }
    let m = Mount::new("ordered");
    std::fs::create_dir(m.path("dir")).expect("mkdir");
    {
        let f = open_rw(&m.path("dir/f"));
        f.write_all_at(b"kept", 0).expect("write");
        f.sync_all().expect("fsync");
    }
    let (_r, dir, _backing) = m.cut(9);
    let m = Mount::over(dir, "ordered");
    assert_eq!(std::fs::read(m.path("dir/f")).expect("read"), b"kept");
    let names: Vec<_> = std::fs::read_dir(&m.mnt)
        .expect("readdir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["dir"]);
    drop(m.unmount());
}
