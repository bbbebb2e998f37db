//! cairn-engine-load: a closed-loop load on the engine in process (no HTTP),
//! one core, for steady-state figures that criterion's per-sample engine
//! start-up would blur. Prints one line per round.
//!
//! cairn-engine-load --size 4096 --ops 20000 --concurrency 32

use std::time::Instant;

use clap::Parser;

use cairn::engine::layout::Layout;
use cairn::engine::{Engine, EngineConfig, MemBody, PutOptions};

#[derive(Parser, Debug)]
struct Args {
    /// Object size in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// Operations per round.
    #[arg(long, default_value_t = 20000)]
    ops: u64,
    /// Operations in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Rounds (the first includes segment creation and zero-fill).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[arg(long, default_value_t = 64)]
    partitions: u16,
    #[arg(long, default_value = "4+2")]
    layout: String,
    /// Drives (directories created under --dir).
    #[arg(long, default_value_t = 6)]
    drives: usize,
    #[arg(long, default_value = "/var/tmp")]
    dir: String,
    /// Hash the body on the engine's core (by default the MD5 is supplied, as
    /// the receiving core does over HTTP).
    #[arg(long)]
    engine_md5: bool,
    /// Measure GETs of the written objects instead of PUTs.
    #[arg(long)]
    get: bool,
}

fn main() -> Result<(), String> {
    let a = Args::parse();
    let dir = tempfile::tempdir_in(&a.dir).map_err(|e| e.to_string())?;
    let drives: Vec<_> = (0..a.drives)
        .map(|i| dir.path().join(format!("d{i}")))
        .collect();
    for d in &drives {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    let mut cfg = EngineConfig::new(drives, 1);
    cfg.layout = Some(Layout::parse(&a.layout)?);
    cfg.partitions = a.partitions;
    let (shared, inboxes) = Engine::open(&cfg)?;
    let payload = bytes::Bytes::from((0..a.size).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>());
    let digest: [u8; 16] = {
        use md5::Digest;
        md5::Md5::digest(&payload).into()
    };
    let s = shared.clone();
    cairn::runtime::block_on(async move {
        let e = Engine::start_core(s, 0, inboxes[0].clone()).map_err(|e| e.to_string())?;
        e.create_bucket("load").await.map_err(|e| e.to_string())?;
        let keys = a.ops.min(10_000);
        for round in 0..a.rounds {
            let start = Instant::now();
            let next = std::rc::Rc::new(std::cell::Cell::new(0u64));
            let workers: Vec<_> = (0..a.concurrency)
                .map(|_| {
                    let (e, next, payload) = (e.clone(), next.clone(), payload.clone());
                    let (ops, get, engine_md5) = (a.ops, a.get && round > 0, a.engine_md5);
                    cairn::runtime::spawn(async move {
                        loop {
                            let i = next.get();
                            if i >= ops {
                                return Ok::<_, String>(());
                            }
                            next.set(i + 1);
                            let key = format!("o{}", i % keys);
                            if get {
                                let mut r =
                                    e.get("load", &key, None).await.map_err(|e| e.to_string())?;
                                while let Some(c) = r.next_chunk().await {
                                    std::hint::black_box(c.map_err(|e| e.to_string())?);
                                }
                            } else {
                                let mut body = if engine_md5 {
                                    MemBody::new(payload.clone())
                                } else {
                                    MemBody::with_md5(payload.clone(), digest)
                                };
                                e.put("load", &key, PutOptions::default(), &mut body)
                                    .await
                                    .map_err(|e| e.to_string())?;
                            }
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await?;
            }
            let el = start.elapsed().as_secs_f64();
            let what = if a.get && round > 0 { "get" } else { "put" };
            println!(
                "round {round}: {} {what}s of {} B, concurrency {}: {:.0} ops/s, {:.1} MB/s",
                a.ops,
                a.size,
                a.concurrency,
                a.ops as f64 / el,
                a.ops as f64 * a.size as f64 / el / 1e6
            );
        }
        e.quiesce().await;
        Ok::<_, String>(())
    })
    .map_err(|e| e.to_string())??;
    shared.close().map_err(|e| e.to_string())?;
    Ok(())
}
