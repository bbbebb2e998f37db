//! Multi-buffer SHA-256: one AVX-512 pass compresses the next 64-byte block
//! of up to 16 independent messages, one message per 32-bit lane.
//!
//! SHA-NI runs one stream per core at its dependent chain's speed (about
//! 1.9 GB/s here); a streaming-signature PUT hashes every 64 KiB chunk, so
//! concurrent uploads' chunks could share passes as their MD5s do
//! (`md5x`). Prototype: the kernel and its check against `sha2`; whether it
//! beats SHA-NI is for `cargo bench --bench hash -- sha256` to say.

/// SHA-256 chaining state.
pub type State = [u32; 8];

pub const INIT: State = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

pub const BLOCK: usize = 64;

/// The most messages one kernel call advances.
pub const MAX_LANES: usize = 16;

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Whether this CPU runs the 16-lane kernel.
pub fn x16_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Advances each `states[l]` over the first `n` blocks of `data[l]`, 16
/// lanes at a time. Falls back to `sha2` one lane at a time where AVX-512
/// is missing.
///
/// # Panics
/// If `states` and `data` differ in length, there are more than 16 lanes,
/// or a lane holds fewer than `n` blocks.
pub fn compress_x16(states: &mut [State], data: &[&[u8]], n: usize) {
    assert!(
        states.len() == data.len() && data.len() <= MAX_LANES,
        "lanes"
    );
    assert!(data.iter().all(|d| d.len() >= n * BLOCK), "blocks");
    #[cfg(target_arch = "x86_64")]
    if x16_supported() {
        // SAFETY: AVX-512F/BW were detected just above; the lane and block
        // counts were checked above.
        unsafe { x86::avx512_x16(states, data, n) };
        return;
    }
    for (s, d) in states.iter_mut().zip(data) {
        compress_scalar(s, &d[..n * BLOCK]);
    }
}

/// Advances `state` over the whole blocks of `data` through `sha2`
/// (SHA-NI where the CPU has it); a partial last block is ignored.
pub fn compress_scalar(state: &mut State, data: &[u8]) {
    use sha2::digest::generic_array::GenericArray;
    let (blocks, _) = data.as_chunks::<BLOCK>();
    for b in blocks {
        sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(b)));
    }
}

/// Fewest messages worth a pass of the 16-lane kernel: below it `sha2`
/// one message at a time is faster (`cargo bench --bench hash -- sha256`:
/// the kernel's 16 lanes take about as long as 9 SHA-NI streams).
pub const MIN_LANES: usize = 10;

/// One message being hashed from its pieces: where it is, and the start
/// of a block that a piece boundary cut.
struct Cursor<'a, P> {
    pieces: &'a [P],
    piece: usize,
    off: usize,
    carry: [u8; BLOCK],
    carried: usize,
    len: u64,
    state: State,
}

impl<P: AsRef<[u8]>> Cursor<'_, P> {
    fn rest(&self) -> &[u8] {
        self.pieces
            .get(self.piece)
            .map_or(&[], |p| &p.as_ref()[self.off..])
    }

    /// Steps past empty and used-up pieces.
    fn settle(&mut self) {
        while self.piece < self.pieces.len() && self.rest().is_empty() {
            self.piece += 1;
            self.off = 0;
        }
    }

    /// Whole blocks the kernel can read straight from the current piece
    /// (0 when a partial block is carried or the piece holds less than one).
    fn direct_blocks(&self) -> usize {
        if self.carried > 0 {
            0
        } else {
            self.rest().len() / BLOCK
        }
    }

    /// Moves bytes into `carry` until it holds a block or the message ends;
    /// true if it holds a whole block.
    fn fill_carry(&mut self) -> bool {
        while self.carried < BLOCK {
            self.settle();
            let pieces = self.pieces;
            let rest = pieces
                .get(self.piece)
                .map_or(&[][..], |p| &p.as_ref()[self.off..]);
            if rest.is_empty() {
                return false;
            }
            let n = rest.len().min(BLOCK - self.carried);
            self.carry[self.carried..self.carried + n].copy_from_slice(&rest[..n]);
            self.carried += n;
            self.off += n;
            self.len += n as u64;
        }
        true
    }

    /// The digest, from the carried tail (less than a block).
    fn finish(mut self) -> [u8; 32] {
        let mut tail = [0u8; 2 * BLOCK];
        tail[..self.carried].copy_from_slice(&self.carry[..self.carried]);
        tail[self.carried] = 0x80;
        let blocks = if self.carried + 9 <= BLOCK { 1 } else { 2 };
        let end = blocks * BLOCK;
        tail[end - 8..end].copy_from_slice(&(self.len * 8).to_be_bytes());
        compress_scalar(&mut self.state, &tail[..end]);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// The SHA-256 of each message, a message being the concatenation of its
/// pieces (buffers as they came off a socket: any lengths). Up to 16
/// messages go through the 16-lane kernel together while at least
/// [`MIN_LANES`] of them have blocks left; the rest through `sha2`.
///
/// # Panics
/// If there are more than [`MAX_LANES`] messages.
pub fn digest_many<P: AsRef<[u8]>>(messages: &[&[P]]) -> Vec<[u8; 32]> {
    assert!(messages.len() <= MAX_LANES, "{} messages", messages.len());
    let mut cursors: Vec<Cursor<'_, P>> = messages
        .iter()
        .map(|pieces| Cursor {
            pieces,
            piece: 0,
            off: 0,
            carry: [0; BLOCK],
            carried: 0,
            len: 0,
            state: INIT,
        })
        .collect();
    if x16_supported() {
        run_x16(&mut cursors);
    }
    cursors
        .into_iter()
        .map(|mut c| {
            // What the kernel left (all of it without AVX-512), one
            // message at a time.
            loop {
                c.settle();
                let n = c.direct_blocks();
                if n > 0 {
                    let bytes = n * BLOCK;
                    let (off, piece) = (c.off, c.piece);
                    compress_scalar(&mut c.state, &c.pieces[piece].as_ref()[off..off + bytes]);
                    c.off += bytes;
                    c.len += bytes as u64;
                } else if c.fill_carry() {
                    let block = c.carry;
                    compress_scalar(&mut c.state, &block);
                    c.carried = 0;
                } else {
                    return c.finish();
                }
            }
        })
        .collect()
}

/// Passes of the kernel over every message with a block left, while at
/// least `MIN_LANES` have one; each pass as long as the shortest run of
/// whole blocks any of them can give without a copy.
fn run_x16<P: AsRef<[u8]>>(cursors: &mut [Cursor<'_, P>]) {
    // Bounded: each pass consumes at least one block of every lane in it.
    loop {
        let mut lanes: Vec<usize> = Vec::with_capacity(MAX_LANES);
        let mut n = usize::MAX;
        for (i, c) in cursors.iter_mut().enumerate() {
            c.settle();
            let direct = c.direct_blocks();
            if direct > 0 {
                n = n.min(direct);
                lanes.push(i);
            } else if c.fill_carry() {
                n = 1;
                lanes.push(i);
            }
        }
        if lanes.len() < MIN_LANES {
            return;
        }
        let mut states: Vec<State> = lanes.iter().map(|&i| cursors[i].state).collect();
        {
            let data: Vec<&[u8]> = lanes
                .iter()
                .map(|&i| {
                    let c = &cursors[i];
                    if c.carried == BLOCK {
                        &c.carry[..]
                    } else {
                        &c.rest()[..n * BLOCK]
                    }
                })
                .collect();
            compress_x16(&mut states, &data, n);
        }
        for (&i, s) in lanes.iter().zip(states) {
            let c = &mut cursors[i];
            c.state = s;
            if c.carried == BLOCK {
                c.carried = 0;
            } else {
                c.off += n * BLOCK;
                c.len += (n * BLOCK) as u64;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{State, BLOCK, K};
    use crate::hash::md5x::x86::transpose16;
    use std::arch::x86_64::*;

    static ZERO_BLOCK: [u8; BLOCK] = [0; BLOCK];

    /// # Safety
    /// AVX-512F and AVX-512BW must be available; `states.len() ==
    /// data.len() <= 16`; every lane of `data` holds at least `n` blocks.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn avx512_x16(states: &mut [State], data: &[&[u8]], n: usize) {
        let mut ptrs = [ZERO_BLOCK.as_ptr(); 16];
        let mut steps = [0usize; 16];
        for (l, d) in data.iter().enumerate() {
            ptrs[l] = d.as_ptr();
            steps[l] = BLOCK;
        }
        let mut rows = [[0u32; 16]; 8];
        for (l, st) in states.iter().enumerate() {
            for w in 0..8 {
                rows[w][l] = st[w];
            }
        }
        let mut v = [_mm512_setzero_si512(); 8];
        for (v, row) in v.iter_mut().zip(&rows) {
            // SAFETY: a row is 16 u32 (64 bytes); unaligned load.
            *v = unsafe { _mm512_loadu_si512(row.as_ptr().cast()) };
        }
        // Byte order within each 32-bit word reversed: SHA-256 is big-endian.
        let bswap = _mm512_broadcast_i32x4(_mm_setr_epi8(
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
        ));
        for _ in 0..n {
            let mut r = [_mm512_setzero_si512(); 16];
            for ((r, p), step) in r.iter_mut().zip(ptrs.iter_mut()).zip(steps) {
                // SAFETY: `p` is valid for 64 bytes: a real lane's block
                // number < n (the caller's contract), or the zero block,
                // which never advances.
                *r = unsafe { _mm512_loadu_si512(p.cast()) };
                *p = p.wrapping_add(step);
            }
            let mut w = transpose16(r);
            for w in w.iter_mut() {
                *w = _mm512_shuffle_epi8(*w, bswap);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = v;
            for i in 0..64 {
                let wi = if i < 16 {
                    w[i]
                } else {
                    let w15 = w[(i + 1) & 15];
                    let w2 = w[(i + 14) & 15];
                    let s0 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<7>(w15),
                        _mm512_ror_epi32::<18>(w15),
                        _mm512_srli_epi32::<3>(w15),
                    );
                    let s1 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<17>(w2),
                        _mm512_ror_epi32::<19>(w2),
                        _mm512_srli_epi32::<10>(w2),
                    );
                    let x = _mm512_add_epi32(
                        _mm512_add_epi32(w[i & 15], s0),
                        _mm512_add_epi32(w[(i + 9) & 15], s1),
                    );
                    w[i & 15] = x;
                    x
                };
                let big_s1 = _mm512_ternarylogic_epi32::<0x96>(
                    _mm512_ror_epi32::<6>(e),
                    _mm512_ror_epi32::<11>(e),
                    _mm512_ror_epi32::<25>(e),
                );
                let ch = _mm512_ternarylogic_epi32::<0xCA>(e, f, g);
                let t1 = _mm512_add_epi32(
                    _mm512_add_epi32(h, big_s1),
                    _mm512_add_epi32(_mm512_add_epi32(ch, _mm512_set1_epi32(K[i] as i32)), wi),
                );
                let big_s0 = _mm512_ternarylogic_epi32::<0x96>(
                    _mm512_ror_epi32::<2>(a),
                    _mm512_ror_epi32::<13>(a),
                    _mm512_ror_epi32::<22>(a),
                );
                let maj = _mm512_ternarylogic_epi32::<0xE8>(a, b, c);
                h = g;
                g = f;
                f = e;
                e = _mm512_add_epi32(d, t1);
                d = c;
                c = b;
                b = a;
                a = _mm512_add_epi32(t1, _mm512_add_epi32(big_s0, maj));
            }
            for (v, x) in v.iter_mut().zip([a, b, c, d, e, f, g, h]) {
                *v = _mm512_add_epi32(*v, x);
            }
        }
        for (row, v) in rows.iter_mut().zip(v) {
            // SAFETY: a row is 16 u32 (64 bytes); unaligned store.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), v) };
        }
        for (l, st) in states.iter_mut().enumerate() {
            for w in 0..8 {
                st[w] = rows[w][l];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_lanes_at_once_hash_as_sha2_does_one_at_a_time() {
        for lanes in [1, 3, 8, 16] {
            for n in [1, 2, 17] {
                let data: Vec<Vec<u8>> = (0..lanes)
                    .map(|l| {
                        (0..n * BLOCK)
                            .map(|i| (i * 131 + l * 7 + i / 251) as u8)
                            .collect()
                    })
                    .collect();
                let refs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
                let mut got = vec![INIT; lanes];
                compress_x16(&mut got, &refs, n);
                for (l, d) in data.iter().enumerate() {
                    let mut want = INIT;
                    compress_scalar(&mut want, d);
                    assert_eq!(got[l], want, "lane {l} of {lanes}, {n} blocks");
                }
            }
        }
        println!("sha256 x16 kernel ran: {}", x16_supported());
    }

    #[test]
    fn messages_in_pieces_of_any_length_hash_as_their_concatenation() {
        use sha2::Digest;
        let mut seed = 7u64;
        let mut next = move |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for count in [1, 9, 10, 16] {
            for round in 0..20 {
                let messages: Vec<Vec<Vec<u8>>> = (0..count)
                    .map(|m| {
                        // Lengths around block edges and a few KiB, cut at
                        // random places into pieces (some empty).
                        let len = match (round + m) % 4 {
                            0 => next(3) as usize * BLOCK + next(3) as usize,
                            1 => 55 + next(10) as usize,
                            _ => next(20_000) as usize,
                        };
                        let data: Vec<u8> =
                            (0..len).map(|i| (i * 31 + m * 17 + round) as u8).collect();
                        let mut pieces = Vec::new();
                        let mut at = 0;
                        while at < len {
                            let n = (next(3000) as usize).min(len - at);
                            pieces.push(data[at..at + n].to_vec());
                            at += n;
                        }
                        pieces
                    })
                    .collect();
                let refs: Vec<&[Vec<u8>]> = messages.iter().map(Vec::as_slice).collect();
                let got = digest_many(&refs);
                for (m, pieces) in messages.iter().enumerate() {
                    let want: [u8; 32] = sha2::Sha256::digest(pieces.concat()).into();
                    assert_eq!(got[m], want, "message {m} of {count}, round {round}");
                }
            }
        }
    }
}
