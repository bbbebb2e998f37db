//! Drives held out of service: by the operator for planned work
//! (`cairn admin drive offline`), or by the node when a drive keeps failing
//! (it went offline [`FLAP_LIMIT`] times within [`FLAP_WINDOW_MS`]). A held
//! drive takes no reads or writes until `cairn admin drive online`; writes
//! taken meanwhile are remembered for repair and brought back to full
//! redundancy when it returns. Holds are kept in `.cairn/drives.state` on
//! every drive (the system store), so they outlive a restart: a held drive
//! is left out at start as a missing one is.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::format_version::{decode_json, encode_json, JsonError};
use crate::iam::store::{DriveStore, SystemStore};

/// The file in each drive's `.cairn`.
pub const STATE_FILE: &str = "drives.state";
/// The format of the JSON this binary writes (and the newest it reads).
pub const STATE_FORMAT: u32 = 1;
/// Offline events within [`FLAP_WINDOW_MS`] that take a drive out of
/// service: a drive that fails, comes back and fails again is not to be
/// trusted with new data until someone has looked at it.
pub const FLAP_LIMIT: usize = 3;
pub const FLAP_WINDOW_MS: u64 = 60 * 60 * 1000;
/// Longest reason kept.
const MAX_REASON: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HoldKind {
    /// Taken offline by the operator.
    Offline,
    /// Taken out by the node: it kept failing.
    OutOfService,
}

impl HoldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Offline => "offline",
            HoldKind::OutOfService => "outOfService",
        }
    }
}

/// One held drive, as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    pub drive: usize,
    pub kind: HoldKind,
    pub since_ms: u64,
    pub reason: String,
}

/// What the store keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub holds: Vec<Hold>,
}

impl Saved {
    pub fn decode(payload: &[u8]) -> Result<Saved, JsonError> {
        decode_json("drives.state", payload, STATE_FORMAT).map(|(_, s)| s)
    }

    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        encode_json(STATE_FORMAT, self, false)
    }

    pub fn hold(&self, drive: usize) -> Option<&Hold> {
        self.holds.iter().find(|h| h.drive == drive)
    }
}

/// The holds of this run and where they are kept. Changes are rare and
/// blocking (they write every drive): made from probe threads and
/// companion threads, never from a core's executor.
pub struct Holds {
    store: DriveStore,
    /// The kept holds and the generation of the last store.
    state: Mutex<(u64, Saved)>,
}

/// Reads the holds kept on `drives` (those start-up can read). Blocking.
pub fn load(drives: &[PathBuf], quorum: usize) -> Result<Holds, String> {
    let store = DriveStore::named(drives.to_vec(), quorum, STATE_FILE);
    let loaded = store
        .load()
        .map_err(|e| format!("cannot read the drive states: {e}"))?;
    for (path, why) in &loaded.skipped {
        tracing::warn!(path = %path.display(), why, "drive state copy skipped (rewritten on the next change)");
    }
    let (generation, saved) = match loaded.newest {
        Some((g, payload)) => (
            g,
            Saved::decode(&payload).map_err(|e| format!("drives.state generation {g}: {e}"))?,
        ),
        None => (0, Saved::default()),
    };
    Ok(Holds {
        store,
        state: Mutex::new((generation, saved)),
    })
}

impl Holds {
    /// The holds in effect.
    pub fn current(&self) -> Saved {
        self.state.lock().map(|s| s.1.clone()).unwrap_or_default()
    }

    /// Holds `drive` (`Some`) or releases it (`None`), durably before
    /// returning. Blocking. Returns the hold it replaced.
    pub fn set(
        &self,
        drive: usize,
        hold: Option<(HoldKind, String)>,
    ) -> Result<Option<Hold>, String> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| "the drive states are poisoned".to_owned())?;
        let mut next = state.1.clone();
        let old = next
            .holds
            .iter()
            .position(|h| h.drive == drive)
            .map(|i| next.holds.remove(i));
        if let Some((kind, reason)) = hold {
            next.holds.push(Hold {
                drive,
                kind,
                since_ms: super::now_ms(),
                reason: truncate(reason),
            });
            next.holds.sort_by_key(|h| h.drive);
        }
        let payload = next.encode().map_err(|e| e.to_string())?;
        let generation = state.0 + 1;
        self.store
            .store(generation, &payload)
            .map_err(|e| format!("the drive state could not be stored: {e}"))?;
        *state = (generation, next);
        Ok(old)
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// When a drive went offline lately, to tell a drive that keeps failing.
#[derive(Default)]
pub struct FlapLog {
    times: Mutex<VecDeque<u64>>,
}

impl FlapLog {
    /// Notes an offline event at `now_ms`; true when it makes the drive one
    /// that keeps failing.
    pub fn note(&self, now_ms: u64) -> bool {
        let Ok(mut t) = self.times.lock() else {
            return false;
        };
        while t
            .front()
            .is_some_and(|&first| now_ms.saturating_sub(first) > FLAP_WINDOW_MS)
        {
            t.pop_front();
        }
        t.push_back(now_ms);
        // Bounded: only the window's last FLAP_LIMIT events matter.
        while t.len() > FLAP_LIMIT {
            t.pop_front();
        }
        t.len() >= FLAP_LIMIT
    }

    /// Forgets the events (the operator brought the drive back).
    pub fn clear(&self) {
        if let Ok(mut t) = self.times.lock() {
            t.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drive_keeps_failing_at_the_limit_within_the_window_only() {
        let f = FlapLog::default();
        assert!(!f.note(0));
        assert!(!f.note(1000));
        assert!(f.note(2000));
        let g = FlapLog::default();
        assert!(!g.note(0));
        assert!(!g.note(FLAP_WINDOW_MS / 2));
        // The first event has left the window.
        assert!(!g.note(FLAP_WINDOW_MS + 1));
        assert!(g.note(FLAP_WINDOW_MS + 2));
        g.clear();
        assert!(!g.note(FLAP_WINDOW_MS + 3));
    }

    #[test]
    fn holds_outlive_a_reload_and_a_release_removes_them() {
        let t = tempfile::tempdir().unwrap();
        let drives: Vec<PathBuf> = (0..3).map(|i| t.path().join(format!("d{i}"))).collect();
        for d in &drives {
            std::fs::create_dir_all(d.join(super::super::format::META_DIR)).unwrap();
        }
        let h = load(&drives, 2).unwrap();
        assert!(h.current().holds.is_empty());
        h.set(1, Some((HoldKind::Offline, "new cable".into())))
            .unwrap();
        h.set(2, Some((HoldKind::OutOfService, "x".repeat(1000))))
            .unwrap();
        let again = load(&drives, 2).unwrap().current();
        assert_eq!(again.hold(1).map(|h| h.kind), Some(HoldKind::Offline));
        assert_eq!(again.hold(1).map(|h| h.reason.as_str()), Some("new cable"));
        assert_eq!(again.hold(2).map(|h| h.reason.len()), Some(MAX_REASON));
        let old = h.set(1, None).unwrap();
        assert_eq!(old.map(|o| o.kind), Some(HoldKind::Offline));
        let after = load(&drives, 2).unwrap().current();
        assert!(after.hold(1).is_none());
        assert!(after.hold(2).is_some());
    }

    #[test]
    fn a_newer_drive_state_is_refused_as_newer() {
        let e = Saved::decode(br#"{"format":2,"holds":[]}"#).unwrap_err();
        assert!(matches!(e, JsonError::Newer(_)), "{e}");
    }
}
