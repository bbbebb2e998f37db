//! Server-side encryption (issue 14, "How fast"): sealing and opening the
//! package format (`sse::package`) in 64 KiB packages and as a whole 1 MiB
//! object (key schedule and identity digest included), beside the AES-256-GCM
//! ceiling of this machine (one seal or open of 1 MiB, nothing else) for
//! both `ring` and the `aes-gcm` crate, and one 64 KiB package with each.
//!
//! `cargo bench --bench sse`; results in perf/SSE.md.

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit};
use cairn::sse::key::{nonce_base, DataKey, TAG_LEN};
use cairn::sse::package::{Layout, ObjectId, Opener, Sealer, PACKAGE_SIZE};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

const MIB: usize = 1 << 20;
const OBJECT: ObjectId<'static> = ObjectId {
    bucket: b"bench-bucket",
    key: b"objects/0001.bin",
    version: b"0191d3c2-7a8e-7b1f-9c4d-2e5f6a7b8c9d",
};
/// A package's associated data is 50 bytes.
const AAD: [u8; 50] = [7; 50];

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn ceilings(c: &mut Criterion) {
    let key = [7u8; 32];
    let nonce = [9u8; 12];
    let mut g = c.benchmark_group("aes-256-gcm ceiling");
    for len in [PACKAGE_SIZE, MIB] {
        let name = format!("{}KiB", len >> 10);
        let plain = data(len);
        g.throughput(Throughput::Bytes(len as u64));

        let rk = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("key"));
        let mut buf = plain.clone();
        g.bench_function(format!("ring seal/{name}"), |b| {
            b.iter(|| {
                rk.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&AAD),
                    black_box(&mut buf[..]),
                )
            })
        });
        let mut sealed = plain.clone();
        let tag = rk
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&AAD),
                &mut sealed,
            )
            .expect("seal");
        sealed.extend_from_slice(tag.as_ref());
        g.bench_function(format!("ring open/{name}"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |s| {
                    rk.open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(&AAD),
                        black_box(&mut s[..]),
                    )
                    .map(|p| p.len())
                    .expect("opens")
                },
                BatchSize::LargeInput,
            )
        });

        let ak = Aes256Gcm::new_from_slice(&key).expect("key");
        let an = aes_gcm::Nonce::from_slice(&nonce);
        let mut buf = plain.clone();
        g.bench_function(format!("aes-gcm seal/{name}"), |b| {
            b.iter(|| ak.encrypt_in_place_detached(an, &AAD, black_box(&mut buf[..])))
        });
        let mut sealed = plain.clone();
        let tag = ak
            .encrypt_in_place_detached(an, &AAD, &mut sealed)
            .expect("seal");
        g.bench_function(format!("aes-gcm open/{name}"), |b| {
            b.iter_batched_ref(
                || sealed.clone(),
                |s| {
                    ak.decrypt_in_place_detached(an, &AAD, black_box(&mut s[..]), &tag)
                        .expect("opens")
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn packages(c: &mut Criterion) {
    let key = DataKey::generate();
    let nonce = nonce_base();
    let layout = Layout::DEFAULT;
    let mut g = c.benchmark_group("sse package");

    // One 64 KiB package of an endless stream: the per-package cost alone.
    g.throughput(Throughput::Bytes(PACKAGE_SIZE as u64));
    let mut sealer = Sealer::new(&key, &nonce, &OBJECT, 1, layout);
    let mut buf = data(PACKAGE_SIZE + TAG_LEN);
    g.bench_function("seal/64KiB package", |b| {
        b.iter(|| {
            sealer
                .seal(black_box(&mut buf[..]), PACKAGE_SIZE, false)
                .expect("seals")
        })
    });
    let one = Sealer::new(&key, &nonce, &OBJECT, 1, layout)
        .seal_all(&data(PACKAGE_SIZE))
        .unwrap();
    let opener = Opener::new(&key, &nonce, &OBJECT, 1, layout, PACKAGE_SIZE as u64);
    g.bench_function("open/64KiB package", |b| {
        b.iter_batched_ref(
            || one.clone(),
            |s| {
                opener
                    .open(0, black_box(&mut s[..]))
                    .map(|p| p.len())
                    .expect("opens")
            },
            BatchSize::LargeInput,
        )
    });

    // A whole 1 MiB object: key schedule, identity digest, 16 packages.
    g.throughput(Throughput::Bytes(MIB as u64));
    let plain = data(MIB);
    let sealed = Sealer::new(&key, &nonce, &OBJECT, 0, layout)
        .seal_all(&plain)
        .unwrap();
    // The plaintext laid out at package offsets, as the PUT path fills it.
    let mut laid_out = vec![0u8; sealed.len()];
    for (i, chunk) in plain.chunks(PACKAGE_SIZE).enumerate() {
        let at = layout.cipher_offset(i as u64) as usize;
        laid_out[at..at + chunk.len()].copy_from_slice(chunk);
    }
    g.bench_function("seal/1MiB object", |b| {
        b.iter_batched_ref(
            || laid_out.clone(),
            |buf| {
                let mut s = Sealer::new(&key, &nonce, &OBJECT, 0, layout);
                let packages = layout.packages(MIB as u64);
                for i in 0..packages {
                    let at = layout.cipher_offset(i) as usize;
                    let len = layout.package_len(MIB as u64, i).expect("in range");
                    s.seal(&mut buf[at..at + len + TAG_LEN], len, i + 1 == packages)
                        .expect("seals");
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("open/1MiB object", |b| {
        b.iter_batched_ref(
            || sealed.clone(),
            |buf| {
                let o = Opener::new(&key, &nonce, &OBJECT, 0, layout, MIB as u64);
                let mut at = 0;
                for i in 0..o.packages() {
                    let n = o.sealed_len(i).expect("in range");
                    black_box(o.open(i, &mut buf[at..at + n]).expect("opens").len());
                    at += n;
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    targets = ceilings, packages
}
criterion_main!(benches);
