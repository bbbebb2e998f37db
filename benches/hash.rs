//! The per-byte kernels of a PUT on the receiving core: MD5 (the ETag) one
//! message at a time and multi-buffer (`hash::md5x`, 8 and 16 lanes, and
//! through the per-core batcher), SHA-256 of a 64 KiB aws-chunked chunk, a
//! whole signed aws-chunked body verified, crc32c, and the CRC64NVME every
//! PUT without a client checksum now computes (S3's default checksum), fed
//! in 64 KiB frames as the request body feeds it.
//!
//! `cargo bench --bench hash`; bytes are message bytes (all lanes together).

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cairn::auth::chunked::{ChunkMode, ChunkedDecoder, SigningContext};
use cairn::hash::md5x::{self, Kernel, INIT};
use cairn::hash::sha256x;
use cairn::hash::Md5Lane;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn data(len: usize, seed: u64) -> Vec<u8> {
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

/// SHA-256 of 64 KiB chunks: SHA-NI one stream (`sha2`) against the
/// 16-lane AVX-512 kernel (`hash::sha256x`) with 8 and 16 chunks at once.
fn sha256_lanes(c: &mut Criterion) {
    let len = 64usize << 10;
    let blocks = len / sha256x::BLOCK;
    let mut group = c.benchmark_group("sha256");
    let one = data(len, 1);
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("sha2 one stream/64KiB", |b| {
        b.iter(|| {
            let mut s = sha256x::INIT;
            sha256x::compress_scalar(&mut s, black_box(&one));
            s
        })
    });
    if sha256x::x16_supported() {
        for lanes in [8usize, 16] {
            let msgs: Vec<Vec<u8>> = (0..lanes).map(|l| data(len, l as u64 + 2)).collect();
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            group.throughput(Throughput::Bytes((len * lanes) as u64));
            group.bench_function(format!("avx512 x16, {lanes} lanes/64KiB"), |b| {
                b.iter(|| {
                    let mut states = vec![sha256x::INIT; lanes];
                    sha256x::compress_x16(&mut states, black_box(&refs), blocks);
                    states
                })
            });
        }
    }
    group.finish();
}

fn md5(c: &mut Criterion) {
    let mut group = c.benchmark_group("md5");
    for len in [64usize << 10, 1 << 20] {
        let size = format!("{}KiB", len >> 10);
        let one = data(len, 1);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("md-5 crate/{size}"), |b| {
            b.iter(|| md5::Md5::digest(black_box(&one)))
        });
        group.bench_function(format!("md5x scalar/{size}"), |b| {
            b.iter(|| md5x::digest(black_box(&one)))
        });
        let available = Kernel::available();
        for (kernel, lanes) in [
            (Kernel::Avx2x8, 8),
            (Kernel::Avx512x8, 8),
            (Kernel::Avx512x16, 16),
            (Kernel::Avx512x16, 8),
        ] {
            if !available.contains(&kernel) {
                continue;
            }
            let msgs: Vec<Vec<u8>> = (0..lanes).map(|l| data(len, l as u64 + 2)).collect();
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            group.throughput(Throughput::Bytes((len * lanes) as u64));
            group.bench_function(format!("{kernel:?} {lanes} lanes/{size}"), |b| {
                b.iter(|| {
                    let mut states = vec![INIT; lanes];
                    md5x::compress_many_with(kernel, &mut states, black_box(&refs));
                    states
                })
            });
        }
    }
    // The batcher as RequestBody drives it: 8 uploads of 1 MiB on one core,
    // each a task feeding 64 KiB pieces, all waiting for the same flush.
    let uploads = 8;
    let pieces: Vec<Vec<Bytes>> = (0..uploads)
        .map(|u| {
            let d = Bytes::from(data(1 << 20, 100 + u as u64));
            (0..16)
                .map(|i| d.slice(i * 65536..(i + 1) * 65536))
                .collect()
        })
        .collect();
    group.throughput(Throughput::Bytes((uploads << 20) as u64));
    group.bench_function("batcher 8 uploads/1MiB", |b| {
        b.iter_custom(|iters| {
            cairn::runtime::block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    // Open before any feeds, as requests are open on a busy
                    // core (a lone lane would hash inline).
                    let lanes: Vec<Md5Lane> = (0..uploads).map(|_| Md5Lane::new()).collect();
                    let tasks: Vec<_> = pieces
                        .iter()
                        .zip(lanes)
                        .map(|(p, mut lane)| {
                            let p = p.clone();
                            cairn::runtime::spawn(async move {
                                for piece in p {
                                    lane.update(piece);
                                    lane.settle().await;
                                }
                                lane.finish().await
                            })
                        })
                        .collect();
                    for t in tasks {
                        black_box(t.await);
                    }
                }
                start.elapsed()
            })
            .expect("io_uring runtime")
        })
    });
    group.finish();
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// A 1 MiB STREAMING-AWS4-HMAC-SHA256-PAYLOAD body in 64 KiB chunks, as
/// minio-go sends it.
fn signed_body(ctx: &SigningContext, object: &[u8]) -> Vec<u8> {
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let mut prev = ctx.seed_signature.clone();
    let mut out = Vec::new();
    for chunk in object.chunks(64 << 10).chain(std::iter::once(&[][..])) {
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{prev}\n{EMPTY}\n{}",
            ctx.timestamp,
            ctx.scope,
            hex::encode(Sha256::digest(chunk))
        );
        prev = hex::encode(hmac_sha256(&ctx.signing_key, sts.as_bytes()));
        out.extend_from_slice(format!("{:x};chunk-signature={prev}\r\n", chunk.len()).as_bytes());
        if !chunk.is_empty() {
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn sha256(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha256");
    let chunk = data(64 << 10, 3);
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    group.bench_function("sha2/64KiB", |b| {
        b.iter(|| Sha256::digest(black_box(&chunk)))
    });

    let ctx = SigningContext {
        signing_key: [7; 32],
        timestamp: "20261122T000000Z".into(),
        scope: "20261122/us-east-1/s3/aws4_request".into(),
        seed_signature: "0".repeat(64),
    };
    let object = data(1 << 20, 4);
    let body = signed_body(&ctx, &object);
    group.throughput(Throughput::Bytes(object.len() as u64));
    group.bench_function("aws-chunked signed 1MiB in 64KiB chunks", |b| {
        b.iter(|| {
            let mut d = ChunkedDecoder::new(ChunkMode::Signed, Some(ctx.clone()), None, None);
            let mut n = 0;
            for frame in body.chunks(64 << 10) {
                d.feed(frame, &mut |s: &[u8]| n += s.len())
                    .expect("valid body");
            }
            d.finish().expect("valid body");
            n
        })
    });
    group.finish();
}

fn crc32c(c: &mut Criterion) {
    let mut group = c.benchmark_group("crc32c");
    for len in [64usize << 10, 1 << 20] {
        let buf = data(len, 5);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("{}KiB", len >> 10), |b| {
            b.iter(|| crc32c::crc32c(black_box(&buf)))
        });
    }
    group.finish();
}

fn crc64nvme(c: &mut Criterion) {
    use cairn::auth::checksum::{ChecksumAlgo, Checksummer};
    let mut group = c.benchmark_group("crc64nvme");
    for len in [64usize << 10, 1 << 20] {
        let buf = data(len, 6);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("{}KiB in 64KiB frames", len >> 10), |b| {
            b.iter(|| {
                let mut sum = Checksummer::new(ChecksumAlgo::Crc64Nvme);
                for frame in black_box(&buf).chunks(64 << 10) {
                    sum.update(frame);
                }
                sum.finalize()
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = sha256_lanes, md5, sha256, crc32c, crc64nvme
}
criterion_main!(benches);
