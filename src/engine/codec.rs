//! Erasure codec behind a small trait, so the backend can be swapped later.
//! [`RsCodec`] is the reed-solomon-simd implementation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

use super::layout::{Layout, SHARD_ALIGN};

/// Encodes parity for, and reconstructs, one stripe at a time.
pub trait ErasureCodec {
    fn layout(&self) -> Layout;

    /// `data`: exactly `layout.data` shards of one length, a non-zero multiple
    /// of 64. Writes `layout.parity` parity shards into `parity`, each of that
    /// same length; the caller owns these buffers (alignment, reuse), so no
    /// per-stripe allocation is needed.
    fn encode(&mut self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), CodecError>;

    /// `shards`: `layout.total()` slots, data shards first then parity;
    /// `None` = missing or corrupt. On success every DATA slot is `Some`.
    /// Missing PARITY slots are left `None`: reads need only the data, and
    /// healing re-encodes parity from it.
    /// Fails with [`CodecError::TooFewShards`] when fewer than `layout.data`
    /// shards are present.
    fn reconstruct(
        &mut self,
        shards: &mut [Option<Vec<u8>>],
        shard_len: usize,
    ) -> Result<(), CodecError>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// Fewer shards present than the layout needs to rebuild the data.
    TooFewShards { have: usize, need: usize },
    /// A shard (or the requested shard length) has this bad length: not a
    /// non-zero multiple of 64, or not equal to the stripe's shard length.
    BadShardLen(usize),
    /// The caller passed `got` shards (or buffers) where `want` were expected.
    BadShardCount { got: usize, want: usize },
    /// The backend library refused the request.
    Backend(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::TooFewShards { have, need } => {
                write!(f, "too few shards to reconstruct: have {have}, need {need}")
            }
            CodecError::BadShardLen(len) => write!(f, "bad shard length {len}"),
            CodecError::BadShardCount { got, want } => {
                write!(f, "bad shard count: got {got}, want {want}")
            }
            CodecError::Backend(msg) => write!(f, "erasure backend: {msg}"),
        }
    }
}

impl std::error::Error for CodecError {}

/// Reed-Solomon over GF(2^16) via reed-solomon-simd. Not `Sync`-shared:
/// keep one per worker, since it holds reusable scratch state.
pub struct RsCodec {
    layout: Layout,
    // Built on first use, then `reset` per stripe: the work buffers are
    // reused, so steady-state stripes allocate no codec state.
    encoder: Option<ReedSolomonEncoder>,
    decoder: Option<ReedSolomonDecoder>,
}

impl RsCodec {
    /// # Panics
    /// If `layout.data == 0` (never true for a parsed or default layout).
    pub fn new(layout: Layout) -> Self {
        assert!(layout.data >= 1, "layout {layout} has no data shards");
        RsCodec {
            layout,
            encoder: None,
            decoder: None,
        }
    }

    fn counts(&self) -> (usize, usize) {
        (
            usize::from(self.layout.data),
            usize::from(self.layout.parity),
        )
    }
}

thread_local! {
    /// The codecs of a thread that rebuilds stripes, one per layout.
    static CODECS: RefCell<HashMap<Layout, RsCodec>> = RefCell::new(HashMap::new());
}

/// Rebuilds the missing data shards of one stripe and, with `parity`, its
/// missing parity shards too, using this thread's codec for `layout` (the
/// background thread's: repair decodes off the executor).
pub fn rebuild_stripe(
    layout: Layout,
    shards: &mut [Option<Vec<u8>>],
    shard_len: usize,
    parity: bool,
) -> Result<(), CodecError> {
    CODECS.with_borrow_mut(|codecs| {
        let codec = codecs.entry(layout).or_insert_with(|| RsCodec::new(layout));
        let known: Vec<bool> = shards.iter().map(Option::is_some).collect();
        codec.reconstruct(shards, shard_len)?;
        if !parity {
            return Ok(());
        }
        let k = usize::from(layout.data);
        let mut rebuilt = vec![vec![0u8; shard_len]; usize::from(layout.parity)];
        {
            let data: Vec<&[u8]> = shards[..k]
                .iter()
                .map(|s| s.as_deref().unwrap_or(&[]))
                .collect();
            let mut refs: Vec<&mut [u8]> = rebuilt.iter_mut().map(|v| v.as_mut_slice()).collect();
            codec.encode(&data, &mut refs)?;
        }
        for (j, shard) in rebuilt.into_iter().enumerate() {
            if !known[k + j] {
                shards[k + j] = Some(shard);
            }
        }
        Ok(())
    })
}

/// [`rebuild_stripe`] `piece` bytes of every shard at a time, calling
/// `between` after each piece: a background thread yields its CPU there,
/// so it never holds one for longer than a piece.
///
/// # Panics
/// If `piece` is not a non-zero multiple of `SHARD_ALIGN`.
pub fn rebuild_stripe_in_pieces(
    layout: Layout,
    shards: &mut [Option<Vec<u8>>],
    shard_len: usize,
    parity: bool,
    piece: usize,
    mut between: impl FnMut(),
) -> Result<(), CodecError> {
    assert!(
        piece > 0 && piece.is_multiple_of(SHARD_ALIGN),
        "piece {piece}"
    );
    if shard_len <= piece {
        return rebuild_stripe(layout, shards, shard_len, parity);
    }
    let k = usize::from(layout.data);
    let targets: Vec<usize> = (0..shards.len())
        .filter(|&i| shards[i].is_none() && (i < k || parity))
        .collect();
    let mut rebuilt: Vec<Vec<u8>> = targets.iter().map(|_| vec![0u8; shard_len]).collect();
    let mut off = 0;
    while off < shard_len {
        let len = piece.min(shard_len - off);
        let mut part: Vec<Option<Vec<u8>>> = shards
            .iter()
            .map(|s| s.as_ref().map(|s| s[off..off + len].to_vec()))
            .collect();
        rebuild_stripe(layout, &mut part, len, parity)?;
        for (out, &i) in rebuilt.iter_mut().zip(&targets) {
            let got = part[i]
                .as_deref()
                .ok_or_else(|| CodecError::Backend(format!("shard {i} was not rebuilt")))?;
            out[off..off + len].copy_from_slice(got);
        }
        off += len;
        between();
    }
    for (out, i) in rebuilt.into_iter().zip(targets) {
        shards[i] = Some(out);
    }
    Ok(())
}

fn backend(e: reed_solomon_simd::Error) -> CodecError {
    CodecError::Backend(e.to_string())
}

fn check_count(got: usize, want: usize) -> Result<(), CodecError> {
    if got == want {
        Ok(())
    } else {
        Err(CodecError::BadShardCount { got, want })
    }
}

fn check_shard_len(len: usize) -> Result<(), CodecError> {
    if len > 0 && len.is_multiple_of(SHARD_ALIGN) {
        Ok(())
    } else {
        Err(CodecError::BadShardLen(len))
    }
}

fn check_all_len(
    mut lens: impl Iterator<Item = usize>,
    shard_len: usize,
) -> Result<(), CodecError> {
    match lens.find(|&len| len != shard_len) {
        Some(bad) => Err(CodecError::BadShardLen(bad)),
        None => Ok(()),
    }
}

fn ready_encoder(
    slot: &mut Option<ReedSolomonEncoder>,
    data: usize,
    parity: usize,
    shard_len: usize,
) -> Result<&mut ReedSolomonEncoder, CodecError> {
    match slot {
        // Reset also discards shards left over from a call that failed midway.
        Some(enc) => {
            enc.reset(data, parity, shard_len).map_err(backend)?;
            Ok(enc)
        }
        None => {
            let enc = ReedSolomonEncoder::new(data, parity, shard_len).map_err(backend)?;
            Ok(slot.insert(enc))
        }
    }
}

fn ready_decoder(
    slot: &mut Option<ReedSolomonDecoder>,
    data: usize,
    parity: usize,
    shard_len: usize,
) -> Result<&mut ReedSolomonDecoder, CodecError> {
    match slot {
        Some(dec) => {
            dec.reset(data, parity, shard_len).map_err(backend)?;
            Ok(dec)
        }
        None => {
            let dec = ReedSolomonDecoder::new(data, parity, shard_len).map_err(backend)?;
            Ok(slot.insert(dec))
        }
    }
}

impl ErasureCodec for RsCodec {
    fn layout(&self) -> Layout {
        self.layout
    }

    fn encode(&mut self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), CodecError> {
        let (d, p) = self.counts();
        check_count(data.len(), d)?;
        check_count(parity.len(), p)?;
        let shard_len = data[0].len();
        check_shard_len(shard_len)?;
        let lens = data.iter().map(|s| s.len());
        check_all_len(lens.chain(parity.iter().map(|s| s.len())), shard_len)?;

        if p == 0 {
            return Ok(());
        }
        if d == 1 {
            // Mirror: every parity shard is a copy of the single data shard.
            for out in parity.iter_mut() {
                out.copy_from_slice(data[0]);
            }
            return Ok(());
        }
        let enc = ready_encoder(&mut self.encoder, d, p, shard_len)?;
        for shard in data {
            enc.add_original_shard(shard).map_err(backend)?;
        }
        let result = enc.encode().map_err(backend)?;
        let recovery = result.recovery_iter();
        debug_assert_eq!(recovery.len(), p);
        for (out, rec) in parity.iter_mut().zip(recovery) {
            out.copy_from_slice(rec);
        }
        Ok(())
    }

    fn reconstruct(
        &mut self,
        shards: &mut [Option<Vec<u8>>],
        shard_len: usize,
    ) -> Result<(), CodecError> {
        let (d, p) = self.counts();
        check_count(shards.len(), d + p)?;
        check_shard_len(shard_len)?;
        check_all_len(shards.iter().flatten().map(Vec::len), shard_len)?;

        let have = shards.iter().filter(|s| s.is_some()).count();
        if have < d {
            return Err(CodecError::TooFewShards { have, need: d });
        }
        let data_present = shards[..d].iter().filter(|s| s.is_some()).count();
        if data_present == d {
            return Ok(());
        }
        if d == 1 {
            // Mirror: any present copy is the data; `have >= 1` so one exists.
            shards[0] = shards[1..].iter().flatten().next().cloned();
            debug_assert!(shards[0].is_some());
            return Ok(());
        }

        let dec = ready_decoder(&mut self.decoder, d, p, shard_len)?;
        for (i, shard) in shards[..d].iter().enumerate() {
            if let Some(shard) = shard {
                dec.add_original_shard(i, shard).map_err(backend)?;
            }
        }
        // Exactly `d` shards in total suffice; extra ones would only cost copies.
        let recovery = shards[d..]
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)));
        for (i, shard) in recovery.take(d - data_present) {
            dec.add_recovery_shard(i, shard).map_err(backend)?;
        }
        let result = dec.decode().map_err(backend)?;
        for (i, slot) in shards[..d].iter_mut().enumerate() {
            if slot.is_none() {
                let restored = result.restored_original(i).ok_or_else(|| {
                    CodecError::Backend(format!("decoder did not restore data shard {i}"))
                })?;
                *slot = Some(restored.to_vec());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn a_stripe_rebuilt_in_pieces_is_the_stripe_rebuilt_whole() {
        let layout = Layout { data: 4, parity: 2 };
        let piece = 4096;
        for sl in [3 * piece + 2 * SHARD_ALIGN, SHARD_ALIGN] {
            let mut full: Vec<Option<Vec<u8>>> = (0..4)
                .map(|i| Some((0..sl).map(|b| (b * 31 + i * 7 + b / 997) as u8).collect()))
                .collect();
            full.extend([None, None]);
            rebuild_stripe(layout, &mut full, sl, true).unwrap();
            for (lost, parity) in [(vec![0, 5], true), (vec![1, 3], false), (vec![4], true)] {
                let mut whole = full.clone();
                let mut pieces = full.clone();
                for &i in &lost {
                    whole[i] = None;
                    pieces[i] = None;
                }
                rebuild_stripe(layout, &mut whole, sl, parity).unwrap();
                let mut turns = 0;
                rebuild_stripe_in_pieces(layout, &mut pieces, sl, parity, piece, || turns += 1)
                    .unwrap();
                assert_eq!(pieces, whole, "shard length {sl}, lost {lost:?}");
                assert_eq!(turns, if sl > piece { sl.div_ceil(piece) } else { 0 });
                for &i in &lost {
                    if i < 4 || parity {
                        assert_eq!(pieces[i], full[i], "shard {i} rebuilt as it was");
                    }
                }
            }
        }
    }

    const LAYOUTS: [(u8, u8); 7] = [(1, 0), (1, 1), (1, 2), (2, 2), (4, 2), (8, 4), (12, 4)];
    const SHARD_LENS: [usize; 3] = [64, 4096 + 64, 262_144];

    fn layout(d: u8, p: u8) -> Layout {
        Layout { data: d, parity: p }
    }

    fn random_shards(rng: &mut StdRng, n: usize, len: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|_| {
                let mut v = vec![0u8; len];
                rng.fill(&mut v[..]);
                v
            })
            .collect()
    }

    /// Encodes `data` and returns all shards, data first.
    fn encode_all(codec: &mut RsCodec, data: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let len = data[0].len();
        let mut parity = vec![vec![0u8; len]; usize::from(codec.layout().parity)];
        let data_refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let mut parity_refs: Vec<&mut [u8]> = parity.iter_mut().map(Vec::as_mut_slice).collect();
        codec.encode(&data_refs, &mut parity_refs).unwrap();
        data.iter().cloned().chain(parity).collect()
    }

    /// Every set of missing shard indices (as bitmasks) of size <= parity.
    fn missing_sets(total: usize, parity: usize) -> Vec<u32> {
        (0u32..1 << total)
            .filter(|m| m.count_ones() as usize <= parity)
            .collect()
    }

    fn with_missing(all: &[Vec<u8>], mask: u32) -> Vec<Option<Vec<u8>>> {
        let present = |i: usize| mask & (1 << i) == 0;
        let shards = all.iter().enumerate();
        shards.map(|(i, s)| present(i).then(|| s.clone())).collect()
    }

    #[test]
    fn roundtrip_every_missing_subset() {
        let mut rng = StdRng::seed_from_u64(7);
        for (d, p) in LAYOUTS {
            let l = layout(d, p);
            // One codec per layout across all lengths: exercises reset reuse.
            let mut codec = RsCodec::new(l);
            let sets = missing_sets(l.total(), usize::from(p));
            for len in SHARD_LENS {
                let data = random_shards(&mut rng, usize::from(d), len);
                let all = encode_all(&mut codec, &data);
                if d == 1 {
                    assert!(all.iter().all(|s| *s == data[0]), "{l}: mirror copies");
                }
                for &mask in &sets {
                    let mut shards = with_missing(&all, mask);
                    codec.reconstruct(&mut shards, len).unwrap();
                    for (i, want) in data.iter().enumerate() {
                        let got = shards[i].as_ref().unwrap();
                        assert!(got == want, "{l} len {len} missing {mask:b}: shard {i}");
                    }
                    // Parity is documented as not restored.
                    for (i, slot) in shards.iter().enumerate().skip(usize::from(d)) {
                        assert_eq!(slot.is_some(), mask & (1 << i) == 0);
                    }
                }
            }
        }
    }

    #[test]
    fn a_rebuilt_stripe_has_every_shard_back_with_parity_asked_for() {
        let mut rng = StdRng::seed_from_u64(12);
        for (d, p) in LAYOUTS.into_iter().filter(|&(_, p)| p > 0) {
            let l = layout(d, p);
            let data = random_shards(&mut rng, usize::from(d), 4096);
            let all = encode_all(&mut RsCodec::new(l), &data);
            for &mask in &missing_sets(l.total(), usize::from(p)) {
                let mut shards = with_missing(&all, mask);
                rebuild_stripe(l, &mut shards, 4096, true).unwrap();
                for (i, want) in all.iter().enumerate() {
                    assert_eq!(
                        shards[i].as_ref(),
                        Some(want),
                        "{l} missing {mask:b}: shard {i}"
                    );
                }
                // Without parity asked for, missing parity stays missing.
                let mut shards = with_missing(&all, mask);
                rebuild_stripe(l, &mut shards, 4096, false).unwrap();
                for (i, slot) in shards.iter().enumerate().skip(usize::from(d)) {
                    assert_eq!(slot.is_some(), mask & (1 << i) == 0);
                }
            }
        }
        let mut too_few = vec![None; 6];
        assert!(matches!(
            rebuild_stripe(layout(4, 2), &mut too_few, 4096, true),
            Err(CodecError::TooFewShards { .. })
        ));
    }

    #[test]
    fn parity_is_deterministic_across_reuse() {
        let mut rng = StdRng::seed_from_u64(8);
        let mut codec = RsCodec::new(layout(4, 2));
        let a = random_shards(&mut rng, 4, 4096);
        let b = random_shards(&mut rng, 4, 64);
        let first = encode_all(&mut codec, &a);
        encode_all(&mut codec, &b);
        assert_eq!(encode_all(&mut codec, &a), first);
        assert_eq!(encode_all(&mut RsCodec::new(layout(4, 2)), &a), first);
    }

    #[test]
    fn too_few_shards() {
        let mut rng = StdRng::seed_from_u64(9);
        for (d, p) in LAYOUTS {
            let l = layout(d, p);
            let mut codec = RsCodec::new(l);
            let all = encode_all(&mut codec, &random_shards(&mut rng, usize::from(d), 128));
            // Drop parity+1 shards, data first so the data is really gone.
            let mask = (1u32 << (p + 1)) - 1;
            let mut shards = with_missing(&all, mask);
            let err = codec.reconstruct(&mut shards, 128).unwrap_err();
            let need = usize::from(d);
            assert_eq!(
                err,
                CodecError::TooFewShards {
                    have: need - 1,
                    need
                }
            );
            assert!(err.to_string().contains("too few shards"), "{err}");
        }
    }

    #[test]
    fn bad_lengths_and_counts_are_errors() {
        let mut rng = StdRng::seed_from_u64(10);
        for (d, p) in LAYOUTS {
            let l = layout(d, p);
            let mut codec = RsCodec::new(l);
            let data = random_shards(&mut rng, usize::from(d), 128);
            let all = encode_all(&mut codec, &data);
            // Drop one shard when the layout can afford it (1+0 cannot).
            let mut missing_first = with_missing(&all, u32::from(p > 0));
            // Requested shard length is not a non-zero multiple of 64.
            for bad in [0, 2, 63, 100] {
                let r = codec.reconstruct(&mut missing_first, bad);
                assert_eq!(r, Err(CodecError::BadShardLen(bad)), "{l}");
            }
            // Requested length disagrees with the shards.
            let r = codec.reconstruct(&mut missing_first, 192);
            assert_eq!(r, Err(CodecError::BadShardLen(128)), "{l}");
            // One present shard is truncated.
            if l.total() > 1 {
                let mut shards = with_missing(&all, 1);
                shards[l.total() - 1].as_mut().unwrap().truncate(64);
                let r = codec.reconstruct(&mut shards, 128);
                assert_eq!(r, Err(CodecError::BadShardLen(64)), "{l}");
            }
            // Wrong slot count.
            let r = codec.reconstruct(&mut missing_first[1..], 128);
            let want = CodecError::BadShardCount {
                got: l.total() - 1,
                want: l.total(),
            };
            assert_eq!(r, Err(want), "{l}");

            let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
            let mut parity = vec![vec![0u8; 128]; usize::from(p)];
            let mut prefs: Vec<&mut [u8]> = parity.iter_mut().map(Vec::as_mut_slice).collect();
            // Wrong data count.
            let r = codec.encode(&refs[1..], &mut prefs);
            let want = CodecError::BadShardCount {
                got: usize::from(d) - 1,
                want: usize::from(d),
            };
            assert_eq!(r, Err(want), "{l}");
            // Data shard length not a multiple of 64.
            let odd: Vec<&[u8]> = refs.iter().map(|s| &s[..100]).collect();
            assert_eq!(
                codec.encode(&odd, &mut prefs),
                Err(CodecError::BadShardLen(100))
            );
            // Last data shard shorter than the first.
            let mut uneven = refs.clone();
            let last = uneven.len() - 1;
            uneven[last] = &refs[last][..64];
            if last > 0 {
                let r = codec.encode(&uneven, &mut prefs);
                assert_eq!(r, Err(CodecError::BadShardLen(64)), "{l}");
            }
            // Parity buffer of the wrong length.
            if p > 0 {
                let mut short = [0u8; 64];
                let mut bad_parity: Vec<&mut [u8]> = vec![&mut short[..]];
                bad_parity.extend(parity[1..].iter_mut().map(Vec::as_mut_slice));
                let r = codec.encode(&refs, &mut bad_parity);
                assert_eq!(r, Err(CodecError::BadShardLen(64)), "{l}");
            }
            // The codec still works after all those errors.
            let mut shards = with_missing(&all, (1 << p) - 1);
            codec.reconstruct(&mut shards, 128).unwrap();
            assert_eq!(shards[0].as_deref(), Some(&data[0][..]));
        }
    }

    #[test]
    fn no_parity_encode_is_noop_and_needs_all_data() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut codec = RsCodec::new(layout(3, 0));
        let data = random_shards(&mut rng, 3, 64);
        let all = encode_all(&mut codec, &data);
        assert_eq!(all, data);
        let mut full = with_missing(&all, 0);
        codec.reconstruct(&mut full, 64).unwrap();
        let mut gap = with_missing(&all, 0b10);
        let r = codec.reconstruct(&mut gap, 64);
        assert_eq!(r, Err(CodecError::TooFewShards { have: 2, need: 3 }));
    }

    #[test]
    fn error_display() {
        let e = CodecError::Backend("boom".into());
        assert_eq!(e.to_string(), "erasure backend: boom");
        assert_eq!(CodecError::BadShardLen(3).to_string(), "bad shard length 3");
        let boxed: Box<dyn std::error::Error> = Box::new(e);
        assert!(boxed.source().is_none());
    }
}
