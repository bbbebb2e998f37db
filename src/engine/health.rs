//! Drive health at run time. A drive that start-up found online goes
//! offline when an I/O on it fails with an error that says the drive itself
//! is unusable (EIO, EACCES, EROFS …), or when its probe
//! fails; a later good probe brings it back. A drive whose directory is
//! found empty (wiped, or a new drive in its place; one missing at start
//! too) is formatted into its slot and healed (`heal.rs`). Requests only load one atomic
//! per drive ([`DriveHealth::is_failed`]); the probes run on a thread of
//! their own per drive, so a hung drive stalls only its own probe.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::drive_service::{FlapLog, HoldKind};
use super::format::META_DIR;
use super::Shared;

/// Time between two probes of a drive.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Longest error text kept.
const MAX_ERROR: usize = 512;

/// Why a drive last failed, for the admin API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastError {
    pub time_ms: u64,
    pub message: String,
}

/// One drive's run-time state.
#[derive(Default)]
pub struct DriveHealth {
    failed: AtomicBool,
    /// Times the drive went offline at run time.
    offline_events: AtomicU64,
    /// Written only when something fails (never on a good request).
    last_error: Mutex<Option<LastError>>,
    /// A hold (see `drive_service`): 0 none, else `HoldKind` + 1.
    held: AtomicU8,
    /// Recent offline events, to tell a drive that keeps failing.
    flaps: FlapLog,
    keeps_failing: AtomicBool,
}

impl DriveHealth {
    /// The state of a drive start-up found online or not (one that was not
    /// is failed until its probe brings it in).
    pub fn starting(online: bool) -> DriveHealth {
        DriveHealth {
            failed: AtomicBool::new(!online),
            ..DriveHealth::default()
        }
    }

    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub fn offline_events(&self) -> u64 {
        self.offline_events.load(Ordering::Relaxed)
    }

    pub fn last_error(&self) -> Option<LastError> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// Keeps `message` as the drive's last error.
    pub fn note(&self, message: String) {
        let mut message = message;
        if message.len() > MAX_ERROR {
            let mut end = MAX_ERROR;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(LastError {
                time_ms: super::now_ms(),
                message,
            });
        }
    }

    /// Records a failure; true when it took the drive offline just now.
    pub fn fail(&self, message: String) -> bool {
        self.note(message);
        let went = !self.failed.swap(true, Ordering::Relaxed);
        if went {
            self.offline_events.fetch_add(1, Ordering::Relaxed);
            if self.flaps.note(super::now_ms()) {
                self.keeps_failing.store(true, Ordering::Relaxed);
            }
        }
        went
    }

    /// Whether the drive went offline too often lately (its probe then
    /// takes it out of service).
    pub fn keeps_failing(&self) -> bool {
        self.keeps_failing.load(Ordering::Relaxed)
    }

    /// The hold in effect, if any.
    pub fn held(&self) -> Option<HoldKind> {
        match self.held.load(Ordering::Relaxed) {
            1 => Some(HoldKind::Offline),
            2 => Some(HoldKind::OutOfService),
            _ => None,
        }
    }

    /// Puts a hold into effect (after it was stored), or lifts it; lifting
    /// forgets the recent failures too: the operator has looked.
    pub fn set_held(&self, hold: Option<HoldKind>) {
        let v = match hold {
            None => 0,
            Some(HoldKind::Offline) => 1,
            Some(HoldKind::OutOfService) => 2,
        };
        if hold.is_none() {
            self.flaps.clear();
            self.keeps_failing.store(false, Ordering::Relaxed);
        }
        self.held.store(v, Ordering::Relaxed);
    }

    /// A good probe; true when it brought the drive back just now.
    pub fn recover(&self) -> bool {
        self.failed.swap(false, Ordering::Relaxed)
    }
}

/// Whether an I/O error says the drive cannot be used (unmounted,
/// unreadable, read-only, failing), rather than something about one request.
/// A missing file is not one: a replaced drive lacks the segments its
/// shards were in until repair rewrites them; a drive whose directory is
/// gone is caught by its probe.
pub fn takes_drive_offline(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EIO
                | libc::ENXIO
                | libc::ENODEV
                | libc::EROFS
                | libc::EACCES
                | libc::EPERM
                | libc::ESTALE
        )
    )
}

/// One probe of a drive: its directory is there, and its format file opens,
/// reads and names this set and this position. An offline drive must also
/// take a small write before it counts as back (a read-only mount passes
/// the read). Blocking.
pub fn probe(path: &Path, set_id: &str, index: usize, write: bool) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("stat {}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", path.display()));
    }
    let format = path.join(META_DIR).join("format.json");
    let bytes = std::fs::read(&format).map_err(|e| format!("read {}: {e}", format.display()))?;
    let f =
        super::format::decode_format(&bytes).map_err(|e| format!("{}: {e}", format.display()))?;
    if f.set_id != set_id || f.drive_index != index {
        return Err(format!(
            "{} now holds drive {} of set {}, not drive {index} of this set",
            path.display(),
            f.drive_index,
            f.set_id
        ));
    }
    if write {
        let p = path.join(META_DIR).join("probe.tmp");
        std::fs::write(&p, b"probe").map_err(|e| format!("write {}: {e}", p.display()))?;
        std::fs::remove_file(&p).map_err(|e| format!("remove {}: {e}", p.display()))?;
    }
    Ok(())
}

/// Starts one probe thread per drive of this set (not for one of another
/// set; held ones too: their probes keep their health known). Each ends
/// when the shared state is dropped.
pub fn start_probes(shared: &Arc<Shared>, every: Duration) -> std::io::Result<()> {
    for d in shared
        .set
        .drives
        .iter()
        .filter(|d| !matches!(d.state, super::format::DriveState::Foreign(_)))
    {
        let weak = Arc::downgrade(shared);
        let (index, path, online) = (d.index, d.path.clone(), d.online());
        let set_id = shared.set.format.set_id.clone();
        std::thread::Builder::new()
            .name(format!("cairn-probe-{index}"))
            .spawn(move || probe_loop(weak, index, path, set_id, online, every))?;
    }
    Ok(())
}

/// Sends `msg` to every core, waiting a little for room in a full inbox:
/// a message lost here would leave a core unaware of a drive.
fn tell_every_core(shared: &Shared, msg: super::background::BackgroundMsg) {
    for inbox in &shared.inboxes {
        for _ in 0..100 {
            if inbox.try_send(super::CoreMsg::Background(msg)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// One drive's probe. `admitted`: the drive may come (back) online: it
/// was online at start or this loop formatted it. A drive missing at start
/// that comes back with data waits for a restart: this run's segment
/// numbers and index do not know what it holds.
fn probe_loop(
    shared: Weak<Shared>,
    d: usize,
    path: PathBuf,
    set_id: String,
    mut admitted: bool,
    every: Duration,
) {
    let mut formatted_here = false;
    let mut told_restart = false;
    loop {
        std::thread::sleep(every);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let health = &shared.drive_health[d];
        if health.keeps_failing() && health.held().is_none() {
            let why = format!(
                "went offline {} times within {} minutes",
                super::drive_service::FLAP_LIMIT,
                super::drive_service::FLAP_WINDOW_MS / 60_000
            );
            match shared.hold_drive(d, HoldKind::OutOfService, why.clone()) {
                Ok(()) => {
                    tracing::error!(drive = d, path = %path.display(), "drive taken out of service: it {why}; `cairn admin drive online` returns it")
                }
                Err(e) => {
                    tracing::error!(drive = d, error = %e, "drive keeps failing but could not be taken out of service")
                }
            }
        }
        match probe(&path, &set_id, d, health.is_failed()) {
            Ok(()) if !admitted => {
                if !told_restart {
                    told_restart = true;
                    tracing::warn!(drive = d, path = %path.display(), "drive is back with data this run never saw: restart the node to use it");
                }
            }
            // Every core must have left its old segments on the drive
            // before it takes records again.
            Ok(()) if formatted_here && shared.heal.sealed(d) < shared.cores => {}
            Ok(()) => {
                formatted_here = false;
                if health.recover() && health.held().is_none() {
                    tracing::warn!(drive = d, path = %path.display(), "drive back online: its probe passed");
                    shared.announce_drive_back();
                }
            }
            Err(why) => {
                if health.fail(format!("probe: {why}")) {
                    shared.stats.drive_errors[d].fetch_add(1, Ordering::Relaxed);
                    tracing::error!(drive = d, path = %path.display(), error = %why, "drive offline: its probe failed");
                }
                // An empty directory in its place: the drive was wiped or
                // replaced. It is formatted into its slot and healed.
                match super::format::format_if_blank(&path, &shared.set.format, d) {
                    Ok(true) => {
                        let heal = shared.heal.begin(d, super::now_ms());
                        tracing::warn!(drive = d, path = %path.display(), since_ms = heal.since_ms, "drive came back empty: formatted into its slot, healing it");
                        (admitted, formatted_here) = (true, true);
                        tell_every_core(
                            &shared,
                            super::background::BackgroundMsg::DriveFormatted(d as u16),
                        );
                    }
                    Ok(false) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => health.note(format!("cannot format an empty drive: {e}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_of_the_drive_take_it_offline() {
        for errno in [libc::EIO, libc::EACCES, libc::EROFS] {
            assert!(takes_drive_offline(&std::io::Error::from_raw_os_error(
                errno
            )));
        }
        for errno in [
            libc::ENOSPC,
            libc::EINTR,
            libc::EAGAIN,
            libc::EINVAL,
            libc::ENOENT,
            libc::ENOTDIR,
        ] {
            assert!(!takes_drive_offline(&std::io::Error::from_raw_os_error(
                errno
            )));
        }
        assert!(!takes_drive_offline(&std::io::Error::other("x")));
    }

    #[test]
    fn a_failure_is_counted_once_and_a_recovery_clears_it() {
        let h = DriveHealth::default();
        assert!(h.fail("one".into()));
        assert!(!h.fail("two".into()), "already offline");
        assert_eq!(h.offline_events(), 1);
        assert_eq!(h.last_error().map(|e| e.message).as_deref(), Some("two"));
        assert!(h.is_failed());
        assert!(h.recover());
        assert!(!h.recover());
        assert!(!h.is_failed());
        assert!(
            h.last_error().is_some(),
            "the last error stays for operators"
        );
        h.fail("é".repeat(MAX_ERROR));
        assert!(h.last_error().unwrap().message.len() <= MAX_ERROR);
    }

    #[test]
    fn a_probe_checks_the_format_and_the_drive_position() {
        let t = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..2).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &paths {
            std::fs::create_dir_all(p).unwrap();
        }
        let set = super::super::format::open_set(&paths, None, 4).unwrap();
        let id = &set.format.set_id;
        assert_eq!(probe(&paths[0], id, 0, true), Ok(()));
        assert!(probe(&paths[0], id, 1, false)
            .unwrap_err()
            .contains("drive 0"));
        assert!(probe(&paths[0], "other", 0, false).is_err());
        std::fs::remove_dir_all(&paths[1]).unwrap();
        assert!(probe(&paths[1], id, 1, false).unwrap_err().contains("stat"));
        assert!(!paths[0].join(META_DIR).join("probe.tmp").exists());
    }
}
