//! AES-256-GCM sealing of a 40-byte secret: the `aes-gcm` crate against
//! `ring`'s AEAD, to pick the faster for `iam::seal` (result in perf/SEAL.md).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ring::aead::{Aad, LessSafeKey, Nonce as RingNonce, UnboundKey, AES_256_GCM};

const SECRET: &[u8] = b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AAD: &[u8] = b"cairn-iam-key:AKIAIOSFODNN7EXAMPLE";

fn bench(c: &mut Criterion) {
    let key = [7u8; 32];
    let nonce = [9u8; 12];

    let rc = Aes256Gcm::new_from_slice(&key).expect("key");
    let sealed = rc
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: SECRET,
                aad: AAD,
            },
        )
        .expect("seal");
    c.bench_function("aes-gcm crate: seal 40 B", |b| {
        b.iter(|| {
            rc.encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: black_box(SECRET),
                    aad: AAD,
                },
            )
        })
    });
    c.bench_function("aes-gcm crate: open 40 B", |b| {
        b.iter(|| {
            rc.decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: black_box(&sealed[..]),
                    aad: AAD,
                },
            )
        })
    });
    c.bench_function("aes-gcm crate: key setup + open", |b| {
        b.iter(|| {
            let k = Aes256Gcm::new_from_slice(black_box(&key)).expect("key");
            k.decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed[..],
                    aad: AAD,
                },
            )
        })
    });

    let rk = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("key"));
    c.bench_function("ring: seal 40 B", |b| {
        b.iter(|| {
            let mut buf = black_box(SECRET).to_vec();
            rk.seal_in_place_append_tag(
                RingNonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut buf,
            )
            .map(|()| buf)
        })
    });
    c.bench_function("ring: open 40 B", |b| {
        b.iter(|| {
            let mut buf = black_box(&sealed[..]).to_vec();
            rk.open_in_place(
                RingNonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut buf,
            )
            .map(|p| p.len())
        })
    });
    c.bench_function("ring: key setup + open", |b| {
        b.iter(|| {
            let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, black_box(&key)).expect("key"));
            let mut buf = sealed.clone();
            k.open_in_place(
                RingNonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut buf,
            )
            .map(|p| p.len())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
