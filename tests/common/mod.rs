//! Shared helpers for the in-process engine tests.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use cairn::engine::layout::Layout;
use cairn::engine::{Engine, EngineConfig, Shared};

pub struct Drives {
    pub dir: tempfile::TempDir,
    pub paths: Vec<PathBuf>,
}

/// Drive directories under a fresh temporary directory, on the filesystem
/// named by `CAIRN_TEST_DIR` when set (tests/run points it at an XFS mount to
/// repeat the fault and crash tests there).
pub fn drives(n: usize) -> Drives {
    let dir = match std::env::var_os("CAIRN_TEST_DIR") {
        Some(base) => tempfile::tempdir_in(base).expect("tempdir in CAIRN_TEST_DIR"),
        None => tempfile::tempdir().expect("tempdir"),
    };
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
        f(e, s2).await
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
