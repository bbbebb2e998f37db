//! Engine put and get in process (no HTTP): 4 KiB, 1 MiB and 64 MiB objects,
//! 6 drive directories at 4+2, one core and all cores. Durable: every put is
//! fdatasync'd and indexed before it counts. Drives live under
//! $CAIRN_BENCH_DIR (default /var/tmp) so they sit on a real disk.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn::engine::layout::Layout;
use cairn::engine::{Engine, EngineConfig, MemBody, PutOptions};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SIZES: &[(usize, &str, usize)] = &[
    (4 << 10, "4KiB", 32),
    (1 << 20, "1MiB", 8),
    (64 << 20, "64MiB", 2),
];

fn body(size: usize) -> bytes::Bytes {
    bytes::Bytes::from((0..size).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>())
}

/// The body as the receiving core hands it over: with its MD5 already
/// computed (that hash is the HTTP layer's cost, measured on its own in
/// benches/codec.rs), so this measures the engine's storage work.
fn md5_of(b: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(b).into()
}

/// Untimed writes before each measurement, so segment creation and the first
/// zero-fill of every stream are not counted as steady-state cost.
const WARMUP_PUTS: u64 = 256;

/// Runs `iters` operations of one kind spread over `cores` executors, each
/// with `conc` in flight; returns the wall time of the measured part.
fn workload(cores: usize, size: usize, conc: usize, iters: u64, get: bool) -> Duration {
    let base = std::env::var("CAIRN_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into());
    let dir = tempfile::tempdir_in(base).expect("bench dir");
    let drives: Vec<_> = (0..6).map(|i| dir.path().join(format!("d{i}"))).collect();
    for d in &drives {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let mut cfg = EngineConfig::new(drives, cores);
    cfg.layout = Some(Layout { data: 4, parity: 2 });
    let (shared, inboxes) = Engine::open(&cfg).expect("engine opens");
    let inboxes = Arc::new(inboxes);
    let ready = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let times = Arc::new(Mutex::new(Vec::new()));
    let payload = body(size);
    let digest = md5_of(&payload);
    let s = shared.clone();
    let handles = cairn::runtime::start_cores(cores, true, {
        let (ready, done, times) = (ready.clone(), done.clone(), times.clone());
        move |core| {
            let (s, inboxes, ready, done, times, payload) = (
                s.clone(),
                inboxes.clone(),
                ready.clone(),
                done.clone(),
                times.clone(),
                payload.clone(),
            );
            let warm = body(4096);
            let warm_md5 = md5_of(&warm);
            async move {
                let per_core =
                    iters / cores as u64 + u64::from((core as u64) < iters % cores as u64);
                let e = Engine::start_core(s, core, inboxes[core].clone()).expect("core");
                if core == 0 {
                    e.create_bucket("bench").await.expect("bucket");
                }
                while !e.bucket_exists("bench") {
                    cairn::runtime::sleep(Duration::from_millis(1)).await;
                }
                let key = |i: u64| format!("c{core}/o{}", i % 64.max(per_core / 4 + 1));
                let warmers: Vec<_> = (0..16u64)
                    .map(|w| {
                        let (e, warm) = (e.clone(), warm.clone());
                        cairn::runtime::spawn(async move {
                            for i in 0..WARMUP_PUTS / 16 {
                                let k = format!("warm/c{core}/{w}/{i}");
                                e.put(
                                    "bench",
                                    &k,
                                    PutOptions::default(),
                                    &mut MemBody::with_md5(warm.clone(), warm_md5),
                                )
                                .await
                                .expect("warm-up put");
                            }
                        })
                    })
                    .collect();
                for w in warmers {
                    w.await;
                }
                if get {
                    for i in 0..per_core.min(64.max(per_core / 4 + 1)) {
                        e.put(
                            "bench",
                            &key(i),
                            PutOptions::default(),
                            &mut MemBody::with_md5(payload.clone(), digest),
                        )
                        .await
                        .expect("put");
                    }
                }
                ready.fetch_add(1, Ordering::SeqCst);
                while ready.load(Ordering::SeqCst) < cores {
                    cairn::runtime::sleep(Duration::from_micros(200)).await;
                }
                let start = Instant::now();
                let next = std::rc::Rc::new(std::cell::Cell::new(0u64));
                let workers: Vec<_> = (0..conc)
                    .map(|_| {
                        let (e, next, payload) = (e.clone(), next.clone(), payload.clone());
                        cairn::runtime::spawn(async move {
                            loop {
                                let i = next.get();
                                if i >= per_core {
                                    break;
                                }
                                next.set(i + 1);
                                let k = format!("c{core}/o{}", i % 64.max(per_core / 4 + 1));
                                if get {
                                    let mut r = e.get("bench", &k, None).await.expect("get");
                                    while let Some(c) = r.next_chunk().await {
                                        std::hint::black_box(c.expect("chunk"));
                                    }
                                } else {
                                    e.put(
                                        "bench",
                                        &k,
                                        PutOptions::default(),
                                        &mut MemBody::with_md5(payload.clone(), digest),
                                    )
                                    .await
                                    .expect("put");
                                }
                            }
                        })
                    })
                    .collect();
                for w in workers {
                    w.await;
                }
                times.lock().expect("times").push(start.elapsed());
                done.fetch_add(1, Ordering::SeqCst);
                while done.load(Ordering::SeqCst) < cores {
                    cairn::runtime::sleep(Duration::from_micros(200)).await;
                }
            }
        }
    })
    .expect("cores");
    for h in handles {
        h.join().expect("core thread");
    }
    shared.close().expect("close");
    let t = times
        .lock()
        .expect("times")
        .iter()
        .copied()
        .max()
        .unwrap_or_default();
    t
}

fn engine(c: &mut Criterion) {
    let all = cairn::runtime::num_cpus();
    for get in [false, true] {
        let mut g = c.benchmark_group(if get { "engine_get" } else { "engine_put" });
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(8));
        for &(size, name, conc) in SIZES {
            g.throughput(Throughput::Bytes(size as u64));
            for cores in [1, all] {
                g.bench_with_input(
                    BenchmarkId::new(name, format!("{cores}core")),
                    &cores,
                    |b, &cores| b.iter_custom(|iters| workload(cores, size, conc, iters, get)),
                );
                if all == 1 {
                    break;
                }
            }
        }
        g.finish();
    }
}

criterion_group!(benches, engine);
criterion_main!(benches);
