//! No request path takes a lock: cores share state through atomics,
//! immutable snapshots (`Arc`) and messages. Every lock type named in
//! `src/` must be in the list below with why no request waits on it; a
//! new one fails this test until it is listed (or, better, removed).

use std::path::Path;

/// (file, lock, why no request path takes it).
const ALLOWED: [(&str, &str, &str); 7] = [
    (
        "src/admin/settings.rs",
        "Mutex",
        "admin settings changes, one at a time on core 0",
    ),
    (
        "src/engine/health.rs",
        "Mutex",
        "a drive's last error, written when an I/O error happens and read by health reports",
    ),
    (
        "src/engine/drive_service.rs",
        "Mutex",
        "drive holds (admin and start-up) and state flapping (on drive state changes)",
    ),
    (
        "src/engine/outbox.rs",
        "Mutex",
        "the outbox's wake-up: rung by companion threads after a transaction that wrote events",
    ),
    (
        "src/engine/outbox.rs",
        "Condvar",
        "the outbox's wake-up: notification delivery threads wait on it",
    ),
    (
        "src/notify/deliver.rs",
        "Mutex",
        "notification targets: admin changes, /metrics and PutBucketNotificationConfiguration read the list (held for a copy, never across I/O), the delivery threads' last errors",
    ),
    (
        "src/notify/deliver.rs",
        "RwLock",
        "targets' queue limits: read by companion threads as they write events and by PutBucketNotificationConfiguration's check",
    ),
];

const LOCKS: [&str; 5] = ["Mutex", "RwLock", "Condvar", "Barrier", "ReentrantLock"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Whether `word` occurs in `line` as a whole identifier.
fn names(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn no_lock_outside_the_listed_off_request_places() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    assert!(files.len() > 100, "src/ not found: {}", files.len());
    let mut found = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(f).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for lock in LOCKS {
                if names(code, lock)
                    && !ALLOWED
                        .iter()
                        .any(|(file, l, _)| *file == rel && *l == lock)
                {
                    found.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "locks outside the allowed places (tests/no_locks.rs says why each is off the request path):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_a_lock() {
    assert!(names("let m: std::sync::Mutex<u8>", "Mutex"));
    assert!(names("RwLock::new(0)", "RwLock"));
    assert!(!names("let mutex_free = MutexGuardless;", "Mutex"));
}
