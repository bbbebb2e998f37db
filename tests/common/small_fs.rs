//! A small loop-mounted ext4 filesystem for a drive that fills up before
//! the others. Needs root and loop devices: without them `create` says why
//! (a failure under CI=true, where a missing prerequisite must not pass).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Unmounted and detached when dropped (also when the test panics).
pub struct SmallFs {
    dir: tempfile::TempDir,
    dev: String,
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

impl SmallFs {
    /// A `mib` MiB filesystem, or None with the reason printed (a panic
    /// under CI=true).
    pub fn create(mib: u64) -> Option<SmallFs> {
        match Self::try_create(mib) {
            Ok(fs) => Some(fs),
            Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("a small filesystem needs root and loop devices under CI: {why}")
            }
            Err(why) => {
                eprintln!("SKIPPED: {why}");
                None
            }
        }
    }

    fn try_create(mib: u64) -> Result<SmallFs, String> {
        // SAFETY: geteuid(2) takes no argument and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root (a loop mount needs root)".into());
        }
        if !Path::new("/dev/loop-control").exists() {
            return Err("no /dev/loop-control".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("cairn-small-")
            .tempdir_in("/var/tmp")
            .map_err(|e| e.to_string())?;
        let img = dir.path().join("fs.img");
        run("truncate", &["-s", &format!("{mib}M"), s(&img)])?;
        run("mkfs.ext4", &["-q", s(&img)])?;
        let dev = run("losetup", &["-f", "--show", s(&img)])?;
        let fs = SmallFs { dir, dev };
        std::fs::create_dir_all(fs.mnt()).map_err(|e| e.to_string())?;
        run("mount", &[&fs.dev, s(&fs.mnt())])?;
        Ok(fs)
    }

    /// Where it is mounted.
    pub fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    /// Free bytes as an unprivileged writer sees them (what cairn uses).
    pub fn free(&self) -> u64 {
        cairn::engine::space::statvfs(&self.mnt())
            .expect("statvfs")
            .0
    }

    /// Takes all but `left` free bytes with a ballast file beside the
    /// drive, so the drive stays full whatever it gives back.
    pub fn leave_free(&self, left: u64) {
        use std::os::fd::AsRawFd;
        let free = self.free();
        let f = std::fs::File::create(self.mnt().join("ballast")).expect("ballast");
        let len = free.saturating_sub(left) as libc::off_t;
        // SAFETY: fallocate(2) on a file this function opened and keeps
        // open for the call.
        let r = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, len) };
        assert_eq!(r, 0, "fallocate {len}: {}", std::io::Error::last_os_error());
        f.sync_all().expect("sync ballast");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let mnt = self.mnt();
        for _ in 0..50 {
            if run("umount", &[s(&mnt)]).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = run("losetup", &["-d", &self.dev]);
    }
}
