//! Encode / reconstruct throughput per 1 MiB stripe (bytes = stripe data).

use std::time::Duration;

use cairn::engine::codec::{self, ErasureCodec, RsCodec};
use cairn::engine::layout::{Layout, STRIPE_DATA};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(STRIPE_DATA as u64));
    for (data, parity) in [(2u8, 2u8), (4, 2), (8, 4)] {
        let layout = Layout { data, parity };
        let shard_len = layout.shard_len(STRIPE_DATA);
        let mut rng = StdRng::seed_from_u64(1);
        let shards: Vec<Vec<u8>> = (0..data)
            .map(|_| {
                let mut v = vec![0u8; shard_len];
                rng.fill(&mut v[..]);
                v
            })
            .collect();
        let mut parity_bufs = vec![vec![0u8; shard_len]; usize::from(parity)];
        let mut codec = RsCodec::new(layout);

        let data_refs: Vec<&[u8]> = shards.iter().map(Vec::as_slice).collect();
        let mut parity_refs: Vec<&mut [u8]> =
            parity_bufs.iter_mut().map(Vec::as_mut_slice).collect();
        group.bench_function(format!("encode/{layout}"), |b| {
            b.iter(|| codec.encode(&data_refs, &mut parity_refs).unwrap())
        });
        drop(parity_refs);

        // Two data shards lost: the worst case any of these layouts survives.
        let all = shards.iter().chain(&parity_bufs).cloned();
        let mut template: Vec<Option<Vec<u8>>> = all.map(Some).collect();
        template[0] = None;
        template[1] = None;
        group.bench_function(format!("reconstruct_2_missing/{layout}"), |b| {
            b.iter_batched_ref(
                || template.clone(),
                |shards| codec.reconstruct(shards, shard_len).unwrap(),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// A heal's rebuild of one stripe of 4+2 with one data shard lost: whole,
/// and in the 32 KiB pieces the background thread works in (what the
/// pieces cost on an idle node, where no client needs the CPU back).
fn rebuild(c: &mut Criterion) {
    let mut group = c.benchmark_group("rebuild");
    group.throughput(Throughput::Bytes(STRIPE_DATA as u64));
    let layout = Layout { data: 4, parity: 2 };
    let shard_len = layout.shard_len(STRIPE_DATA);
    let mut rng = StdRng::seed_from_u64(2);
    let mut template: Vec<Option<Vec<u8>>> = (0..6)
        .map(|i| {
            let mut v = vec![0u8; shard_len];
            if i < 4 {
                rng.fill(&mut v[..]);
            }
            Some(v)
        })
        .collect();
    template[4] = None;
    template[5] = None;
    codec::rebuild_stripe(layout, &mut template, shard_len, true).unwrap();
    template[2] = None;
    group.bench_function("whole/4+2", |b| {
        b.iter_batched_ref(
            || template.clone(),
            |shards| codec::rebuild_stripe(layout, shards, shard_len, true).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("pieces_32KiB/4+2", |b| {
        b.iter_batched_ref(
            || template.clone(),
            |shards| {
                codec::rebuild_stripe_in_pieces(layout, shards, shard_len, true, 32 << 10, || {})
                    .unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The per-byte kernels of a PUT besides erasure coding: MD5 (the ETag, on
/// the receiving core) and crc32c (every record), 1 MiB and 64 KiB buffers.
fn hashes(c: &mut Criterion) {
    use md5::Digest;
    let mut group = c.benchmark_group("hash");
    for len in [64usize << 10, 1 << 20] {
        let buf = vec![0x5au8; len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("md5/{}KiB", len >> 10), |b| {
            b.iter(|| md5::Md5::digest(std::hint::black_box(&buf)))
        });
        group.bench_function(format!("crc32c/{}KiB", len >> 10), |b| {
            b.iter(|| crc32c::crc32c(std::hint::black_box(&buf)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = codec, rebuild, hashes
}
criterion_main!(benches);
