//! Multi-buffer MD5: one SIMD pass compresses the next 64-byte block of up to
//! 16 independent messages, one message per 32-bit lane.
//!
//! One MD5 stream cannot go faster than its chain of 64 dependent steps per
//! block (the scalar asm runs at about 0.65 GB/s here), but the same chain in
//! a vector register advances 8 or 16 messages at once for nearly the same
//! latency. Kernels, picked once at run time:
//!
//! - `Avx512x16`: 512-bit registers, `vpternlogd` for the round functions and
//!   `vprold` for the rotates (AVX-512F).
//! - `Avx512x8`: the same on 256-bit registers (AVX-512VL): as fast per block
//!   as `Avx512x16` when at most 8 lanes have data.
//! - `Avx2x8`: 256-bit registers, round functions and rotates from plain
//!   logic and shifts.
//! - `Scalar`: one message at a time (the `md-5` crate's asm on x86-64).
//!
//! [`compress_many`] is the safe entry point; the per-core batcher that feeds
//! it from concurrent uploads is `super::md5_batch`.

/// MD5 chaining state (A, B, C, D).
pub type State = [u32; 4];

/// The initial state of every message.
pub const INIT: State = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

pub const BLOCK: usize = 64;

/// The most messages one kernel call advances.
pub const MAX_LANES: usize = 16;

/// Round constants: floor(abs(sin(i + 1)) * 2^32).
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// The 64 steps of one block. `$step!(f, a, b, c, d, word, k, shift)` is
/// supplied by each kernel; `$f`..`$i` name its round-function macros.
macro_rules! md5_steps {
    ($step:ident, $f:ident, $g:ident, $h:ident, $i:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident) => {
        md5_steps!(@quad $step, $f, $a, $b, $c, $d, $m, 0, [0, 1, 2, 3], [7, 12, 17, 22]);
        md5_steps!(@quad $step, $f, $a, $b, $c, $d, $m, 4, [4, 5, 6, 7], [7, 12, 17, 22]);
        md5_steps!(@quad $step, $f, $a, $b, $c, $d, $m, 8, [8, 9, 10, 11], [7, 12, 17, 22]);
        md5_steps!(@quad $step, $f, $a, $b, $c, $d, $m, 12, [12, 13, 14, 15], [7, 12, 17, 22]);
        md5_steps!(@quad $step, $g, $a, $b, $c, $d, $m, 16, [1, 6, 11, 0], [5, 9, 14, 20]);
        md5_steps!(@quad $step, $g, $a, $b, $c, $d, $m, 20, [5, 10, 15, 4], [5, 9, 14, 20]);
        md5_steps!(@quad $step, $g, $a, $b, $c, $d, $m, 24, [9, 14, 3, 8], [5, 9, 14, 20]);
        md5_steps!(@quad $step, $g, $a, $b, $c, $d, $m, 28, [13, 2, 7, 12], [5, 9, 14, 20]);
        md5_steps!(@quad $step, $h, $a, $b, $c, $d, $m, 32, [5, 8, 11, 14], [4, 11, 16, 23]);
        md5_steps!(@quad $step, $h, $a, $b, $c, $d, $m, 36, [1, 4, 7, 10], [4, 11, 16, 23]);
        md5_steps!(@quad $step, $h, $a, $b, $c, $d, $m, 40, [13, 0, 3, 6], [4, 11, 16, 23]);
        md5_steps!(@quad $step, $h, $a, $b, $c, $d, $m, 44, [9, 12, 15, 2], [4, 11, 16, 23]);
        md5_steps!(@quad $step, $i, $a, $b, $c, $d, $m, 48, [0, 7, 14, 5], [6, 10, 15, 21]);
        md5_steps!(@quad $step, $i, $a, $b, $c, $d, $m, 52, [12, 3, 10, 1], [6, 10, 15, 21]);
        md5_steps!(@quad $step, $i, $a, $b, $c, $d, $m, 56, [8, 15, 6, 13], [6, 10, 15, 21]);
        md5_steps!(@quad $step, $i, $a, $b, $c, $d, $m, 60, [4, 11, 2, 9], [6, 10, 15, 21]);
    };
    (@quad $step:ident, $fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident, $k:expr,
     [$g0:expr, $g1:expr, $g2:expr, $g3:expr], [$s0:literal, $s1:literal, $s2:literal, $s3:literal]) => {
        $step!($fun, $a, $b, $c, $d, $m[$g0], K[$k], $s0);
        $step!($fun, $d, $a, $b, $c, $m[$g1], K[$k + 1], $s1);
        $step!($fun, $c, $d, $a, $b, $m[$g2], K[$k + 2], $s2);
        $step!($fun, $b, $c, $d, $a, $m[$g3], K[$k + 3], $s3);
    };
}

/// Which code compresses blocks on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Scalar,
    Avx2x8,
    Avx512x8,
    Avx512x16,
}

impl Kernel {
    /// Messages one call advances.
    pub fn lanes(self) -> usize {
        match self {
            Kernel::Scalar => 1,
            Kernel::Avx2x8 | Kernel::Avx512x8 => 8,
            Kernel::Avx512x16 => 16,
        }
    }

    /// Whether this CPU runs the kernel (std caches the detection).
    pub fn supported(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2x8 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512x8 | Kernel::Avx512x16 => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The kernels this CPU can run, widest last.
    pub fn available() -> Vec<Kernel> {
        [
            Kernel::Scalar,
            Kernel::Avx2x8,
            Kernel::Avx512x8,
            Kernel::Avx512x16,
        ]
        .into_iter()
        .filter(|k| k.supported())
        .collect()
    }
}

/// The kernels `compress_many` uses: (at most 8 lanes, more than 8 lanes).
fn best() -> (Kernel, Kernel) {
    use std::sync::OnceLock;
    static BEST: OnceLock<(Kernel, Kernel)> = OnceLock::new();
    *BEST.get_or_init(|| {
        let narrow = [Kernel::Avx512x8, Kernel::Avx2x8]
            .into_iter()
            .find(|k| k.supported())
            .unwrap_or(Kernel::Scalar);
        let wide = if Kernel::Avx512x16.supported() {
            Kernel::Avx512x16
        } else {
            narrow
        };
        (narrow, wide)
    })
}

/// The widest kernel this CPU runs.
pub fn widest() -> Kernel {
    best().1
}

/// Advances `states[i]` by the first `n` blocks of `data[i]` for every lane,
/// where `n` is the smallest number of whole blocks any lane holds. Returns
/// `n`. Lanes beyond the shorter of the two slices are left alone.
pub fn compress_many(states: &mut [State], data: &[&[u8]]) -> usize {
    let (narrow, wide) = best();
    let lanes = states.len().min(data.len());
    let kernel = match lanes {
        0 | 1 => Kernel::Scalar,
        2..=8 => narrow,
        _ => wide,
    };
    compress_many_with(kernel, states, data)
}

/// [`compress_many`] with a chosen kernel (tests and benches); a kernel this
/// CPU lacks falls back to the scalar one.
pub fn compress_many_with(kernel: Kernel, states: &mut [State], data: &[&[u8]]) -> usize {
    let lanes = states.len().min(data.len());
    let states = &mut states[..lanes];
    let data = &data[..lanes];
    let Some(n) = data.iter().map(|d| d.len() / BLOCK).min() else {
        return 0;
    };
    if n == 0 {
        return 0;
    }
    let kernel = if kernel.supported() {
        kernel
    } else {
        Kernel::Scalar
    };
    let width = kernel.lanes();
    for (st, d) in states.chunks_mut(width).zip(data.chunks(width)) {
        match kernel {
            Kernel::Scalar => {
                for (s, d) in st.iter_mut().zip(d) {
                    compress_scalar(s, &d[..n * BLOCK]);
                }
            }
            // SAFETY: `kernel.supported()` said this
            // CPU has the kernel's features (else it is Scalar by now); `st`
            // and `d` are chunks of `width` lanes of equally long slices, so
            // they are as long as each other and at most the kernel's width;
            // `n` is the fewest whole blocks of any lane.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2x8 => unsafe { x86::avx2_x8(st, d, n) },
            // SAFETY: as for the AVX2 arm.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512x8 => unsafe { x86::avx512_x8(st, d, n) },
            // SAFETY: as for the AVX2 arm.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512x16 => unsafe { x86::avx512_x16(st, d, n) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("only the scalar kernel is available"),
        }
    }
    n
}

/// One message: the `md-5` crate's asm on x86-64, portable code elsewhere.
/// `data` holds whole blocks (a trailing partial block is ignored).
pub fn compress_scalar(state: &mut State, data: &[u8]) {
    let (blocks, _) = data.as_chunks::<BLOCK>();
    #[cfg(target_arch = "x86_64")]
    md5_asm::compress(state, blocks);
    #[cfg(not(target_arch = "x86_64"))]
    for b in blocks {
        compress_portable(state, b);
    }
}

/// Portable scalar compression of one block (also the tests' second opinion).
pub fn compress_portable(state: &mut State, block: &[u8; BLOCK]) {
    let mut m = [0u32; 16];
    for (w, c) in m.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    macro_rules! step {
        ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $w:expr, $k:expr, $s:literal) => {
            $a = $a
                .wrapping_add($w)
                .wrapping_add($k)
                .wrapping_add($f!($b, $c, $d))
                .rotate_left($s)
                .wrapping_add($b);
        };
    }
    macro_rules! f {
        ($x:expr, $y:expr, $z:expr) => {
            (($y ^ $z) & $x) ^ $z
        };
    }
    macro_rules! g {
        ($x:expr, $y:expr, $z:expr) => {
            (($x ^ $y) & $z) ^ $y
        };
    }
    macro_rules! h {
        ($x:expr, $y:expr, $z:expr) => {
            $x ^ $y ^ $z
        };
    }
    macro_rules! i {
        ($x:expr, $y:expr, $z:expr) => {
            $y ^ ($x | !$z)
        };
    }
    md5_steps!(step, f, g, h, i, a, b, c, d, m);
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// The MD5 padding of a message of `len` bytes whose last `tail` bytes (less
/// than a block) are not yet compressed: one or two final blocks.
pub fn finish_scalar(mut state: State, tail: &[u8], len: u64) -> [u8; 16] {
    debug_assert!(tail.len() < BLOCK);
    let mut last = [0u8; 2 * BLOCK];
    let t = tail.len().min(BLOCK - 1);
    last[..t].copy_from_slice(&tail[..t]);
    last[t] = 0x80;
    let end = if t < BLOCK - 8 { BLOCK } else { 2 * BLOCK };
    last[end - 8..end].copy_from_slice(&len.wrapping_mul(8).to_le_bytes());
    compress_scalar(&mut state, &last[..end]);
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// MD5 of one whole message (tests and benches).
pub fn digest(data: &[u8]) -> [u8; 16] {
    let mut state = INIT;
    let whole = data.len() / BLOCK * BLOCK;
    compress_scalar(&mut state, &data[..whole]);
    finish_scalar(state, &data[whole..], data.len() as u64)
}

#[cfg(target_arch = "x86_64")]
pub(in crate::hash) mod x86 {
    //! The SIMD kernels. Each takes at most its width of lanes, every lane
    //! holding at least `n` blocks; lanes left over read a zero block that
    //! never advances and their results are dropped.

    use super::{State, BLOCK, K};
    use std::arch::x86_64::*;

    static ZERO_BLOCK: [u8; BLOCK] = [0; BLOCK];

    /// Start pointers (and steps: 64, or 0 for padding lanes) of `W` lanes.
    fn lane_ptrs<const W: usize>(data: &[&[u8]]) -> ([*const u8; W], [usize; W]) {
        let mut ptrs = [ZERO_BLOCK.as_ptr(); W];
        let mut steps = [0usize; W];
        for (l, d) in data.iter().take(W).enumerate() {
            ptrs[l] = d.as_ptr();
            steps[l] = BLOCK;
        }
        (ptrs, steps)
    }

    /// Round-function truth tables for `vpternlogd` (x = 0xF0, y = 0xCC, z = 0xAA).
    const TL_F: i32 = 0xCA; // (x & y) | (!x & z)
    const TL_G: i32 = 0xE4; // (x & z) | (y & !z)
    const TL_H: i32 = 0x96; // x ^ y ^ z
    const TL_I: i32 = 0x39; // y ^ (x | !z)

    /// # Safety
    /// AVX-512F must be available; `states.len() == data.len() <= 16`; every
    /// lane of `data` holds at least `n` blocks.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_x16(states: &mut [State], data: &[&[u8]], n: usize) {
        let (mut ptrs, steps) = lane_ptrs::<16>(data);
        let mut s = [[0u32; 16]; 4];
        for (l, st) in states.iter().enumerate() {
            for w in 0..4 {
                s[w][l] = st[w];
            }
        }
        let mut v = [_mm512_setzero_si512(); 4];
        for (v, row) in v.iter_mut().zip(&s) {
            // SAFETY: a row is 16 u32 (64 bytes); unaligned load.
            *v = unsafe { _mm512_loadu_si512(row.as_ptr().cast()) };
        }
        let [mut a, mut b, mut c, mut d] = v;

        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $w:expr, $k:expr, $s:literal) => {
                let t = _mm512_add_epi32(_mm512_add_epi32($a, $w), _mm512_set1_epi32($k as i32));
                let t = _mm512_add_epi32(t, $f!($b, $c, $d));
                $a = _mm512_add_epi32(_mm512_rol_epi32::<$s>(t), $b);
            };
        }
        macro_rules! f {
            ($x:expr, $y:expr, $z:expr) => {
                _mm512_ternarylogic_epi32::<TL_F>($x, $y, $z)
            };
        }
        macro_rules! g {
            ($x:expr, $y:expr, $z:expr) => {
                _mm512_ternarylogic_epi32::<TL_G>($x, $y, $z)
            };
        }
        macro_rules! h {
            ($x:expr, $y:expr, $z:expr) => {
                _mm512_ternarylogic_epi32::<TL_H>($x, $y, $z)
            };
        }
        macro_rules! i {
            ($x:expr, $y:expr, $z:expr) => {
                _mm512_ternarylogic_epi32::<TL_I>($x, $y, $z)
            };
        }

        for _ in 0..n {
            let mut r = [_mm512_setzero_si512(); 16];
            for ((r, p), step) in r.iter_mut().zip(ptrs.iter_mut()).zip(steps) {
                // SAFETY: `p` is valid for 64 bytes: a real lane's block
                // number < n (the caller's contract: every lane holds n
                // blocks), or the zero block, which never advances.
                *r = unsafe { _mm512_loadu_si512(p.cast()) };
                *p = p.wrapping_add(step);
            }
            let m = transpose16(r);
            let (a0, b0, c0, d0) = (a, b, c, d);
            md5_steps!(step, f, g, h, i, a, b, c, d, m);
            a = _mm512_add_epi32(a, a0);
            b = _mm512_add_epi32(b, b0);
            c = _mm512_add_epi32(c, c0);
            d = _mm512_add_epi32(d, d0);
        }

        for (row, v) in s.iter_mut().zip([a, b, c, d]) {
            // SAFETY: a row is 16 u32 (64 bytes); unaligned store.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), v) };
        }
        for (l, st) in states.iter_mut().enumerate() {
            for w in 0..4 {
                st[w] = s[w][l];
            }
        }
    }

    /// Rows (one lane's 16 words each) to columns (one word of 16 lanes each).
    #[target_feature(enable = "avx512f")]
    pub(in crate::hash) fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
        // Within 128-bit chunks: 32-bit then 64-bit interleaves give, for
        // each group g of 4 lanes and j in 0..4, x[4g + j] whose chunk c is
        // word 4c + j of lanes 4g..4g+4.
        let mut x = [_mm512_setzero_si512(); 16];
        for g in 0..4 {
            let (r0, r1, r2, r3) = (r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]);
            let lo01 = _mm512_unpacklo_epi32(r0, r1);
            let hi01 = _mm512_unpackhi_epi32(r0, r1);
            let lo23 = _mm512_unpacklo_epi32(r2, r3);
            let hi23 = _mm512_unpackhi_epi32(r2, r3);
            x[4 * g] = _mm512_unpacklo_epi64(lo01, lo23);
            x[4 * g + 1] = _mm512_unpackhi_epi64(lo01, lo23);
            x[4 * g + 2] = _mm512_unpacklo_epi64(hi01, hi23);
            x[4 * g + 3] = _mm512_unpackhi_epi64(hi01, hi23);
        }
        // Then a 4x4 transpose of 128-bit chunks across the groups.
        let mut m = [_mm512_setzero_si512(); 16];
        for j in 0..4 {
            let y0 = _mm512_shuffle_i32x4::<0x44>(x[j], x[4 + j]);
            let y1 = _mm512_shuffle_i32x4::<0xEE>(x[j], x[4 + j]);
            let y2 = _mm512_shuffle_i32x4::<0x44>(x[8 + j], x[12 + j]);
            let y3 = _mm512_shuffle_i32x4::<0xEE>(x[8 + j], x[12 + j]);
            m[j] = _mm512_shuffle_i32x4::<0x88>(y0, y2);
            m[4 + j] = _mm512_shuffle_i32x4::<0xDD>(y0, y2);
            m[8 + j] = _mm512_shuffle_i32x4::<0x88>(y1, y3);
            m[12 + j] = _mm512_shuffle_i32x4::<0xDD>(y1, y3);
        }
        m
    }

    /// Rows to columns for 8 lanes: words 0..8 from `lo`, 8..16 from `hi`.
    #[target_feature(enable = "avx2")]
    fn transpose8(lo: [__m256i; 8], hi: [__m256i; 8]) -> [__m256i; 16] {
        let mut m = [_mm256_setzero_si256(); 16];
        for (half, r) in [lo, hi].into_iter().enumerate() {
            let mut x = [_mm256_setzero_si256(); 8];
            for g in 0..2 {
                let (r0, r1, r2, r3) = (r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]);
                let lo01 = _mm256_unpacklo_epi32(r0, r1);
                let hi01 = _mm256_unpackhi_epi32(r0, r1);
                let lo23 = _mm256_unpacklo_epi32(r2, r3);
                let hi23 = _mm256_unpackhi_epi32(r2, r3);
                x[4 * g] = _mm256_unpacklo_epi64(lo01, lo23);
                x[4 * g + 1] = _mm256_unpackhi_epi64(lo01, lo23);
                x[4 * g + 2] = _mm256_unpacklo_epi64(hi01, hi23);
                x[4 * g + 3] = _mm256_unpackhi_epi64(hi01, hi23);
            }
            for j in 0..4 {
                m[8 * half + j] = _mm256_permute2x128_si256::<0x20>(x[j], x[4 + j]);
                m[8 * half + 4 + j] = _mm256_permute2x128_si256::<0x31>(x[j], x[4 + j]);
            }
        }
        m
    }

    /// The 8-lane kernels share everything but the step and round functions.
    macro_rules! x8_kernel {
        ($states:ident, $data:ident, $n:ident, $step:ident, $f:ident, $g:ident, $h:ident, $i:ident) => {{
            let (mut ptrs, steps) = lane_ptrs::<8>($data);
            let mut s = [[0u32; 8]; 4];
            for (l, st) in $states.iter().enumerate() {
                for w in 0..4 {
                    s[w][l] = st[w];
                }
            }
            let mut v = [_mm256_setzero_si256(); 4];
            for (v, row) in v.iter_mut().zip(&s) {
                // SAFETY: a row is 8 u32 (32 bytes); unaligned load.
                *v = unsafe { _mm256_loadu_si256(row.as_ptr().cast()) };
            }
            let [mut a, mut b, mut c, mut d] = v;
            for _ in 0..$n {
                let mut lo = [_mm256_setzero_si256(); 8];
                let mut hi = [_mm256_setzero_si256(); 8];
                for (((lo, hi), p), step) in
                    lo.iter_mut().zip(hi.iter_mut()).zip(ptrs.iter_mut()).zip(steps)
                {
                    // SAFETY: `p` is valid for 64 bytes: a real lane's block
                    // number < n (the caller's contract: every lane holds n
                    // blocks), or the zero block, which never advances.
                    *lo = unsafe { _mm256_loadu_si256(p.cast()) };
                    // SAFETY: the same block's second half (32 + 32 <= 64).
                    *hi = unsafe { _mm256_loadu_si256(p.add(32).cast()) };
                    *p = p.wrapping_add(step);
                }
                let m = transpose8(lo, hi);
                let (a0, b0, c0, d0) = (a, b, c, d);
                md5_steps!($step, $f, $g, $h, $i, a, b, c, d, m);
                a = _mm256_add_epi32(a, a0);
                b = _mm256_add_epi32(b, b0);
                c = _mm256_add_epi32(c, c0);
                d = _mm256_add_epi32(d, d0);
            }
            for (row, v) in s.iter_mut().zip([a, b, c, d]) {
                // SAFETY: a row is 8 u32 (32 bytes); unaligned store.
                unsafe { _mm256_storeu_si256(row.as_mut_ptr().cast(), v) };
            }
            for (l, st) in $states.iter_mut().enumerate() {
                for w in 0..4 {
                    st[w] = s[w][l];
                }
            }
        }};
    }

    /// # Safety
    /// AVX-512F and AVX-512VL must be available; `states.len() == data.len()
    /// <= 8`; every lane of `data` holds at least `n` blocks.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub unsafe fn avx512_x8(states: &mut [State], data: &[&[u8]], n: usize) {
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $w:expr, $k:expr, $s:literal) => {
                let t = _mm256_add_epi32(_mm256_add_epi32($a, $w), _mm256_set1_epi32($k as i32));
                let t = _mm256_add_epi32(t, $f!($b, $c, $d));
                $a = _mm256_add_epi32(_mm256_rol_epi32::<$s>(t), $b);
            };
        }
        macro_rules! f {
            ($x:expr, $y:expr, $z:expr) => {
                _mm256_ternarylogic_epi32::<TL_F>($x, $y, $z)
            };
        }
        macro_rules! g {
            ($x:expr, $y:expr, $z:expr) => {
                _mm256_ternarylogic_epi32::<TL_G>($x, $y, $z)
            };
        }
        macro_rules! h {
            ($x:expr, $y:expr, $z:expr) => {
                _mm256_ternarylogic_epi32::<TL_H>($x, $y, $z)
            };
        }
        macro_rules! i {
            ($x:expr, $y:expr, $z:expr) => {
                _mm256_ternarylogic_epi32::<TL_I>($x, $y, $z)
            };
        }
        x8_kernel!(states, data, n, step, f, g, h, i)
    }

    /// # Safety
    /// AVX2 must be available; `states.len() == data.len() <= 8`; every lane
    /// of `data` holds at least `n` blocks.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2_x8(states: &mut [State], data: &[&[u8]], n: usize) {
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $w:expr, $k:expr, $s:literal) => {
                let t = _mm256_add_epi32(_mm256_add_epi32($a, $w), _mm256_set1_epi32($k as i32));
                let t = _mm256_add_epi32(t, $f!($b, $c, $d));
                let r = _mm256_or_si256(
                    _mm256_slli_epi32::<$s>(t),
                    _mm256_srli_epi32::<{ 32 - $s }>(t),
                );
                $a = _mm256_add_epi32(r, $b);
            };
        }
        macro_rules! f {
            ($x:expr, $y:expr, $z:expr) => {
                _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256($y, $z), $x), $z)
            };
        }
        macro_rules! g {
            ($x:expr, $y:expr, $z:expr) => {
                _mm256_xor_si256(_mm256_and_si256(_mm256_xor_si256($x, $y), $z), $y)
            };
        }
        macro_rules! h {
            ($x:expr, $y:expr, $z:expr) => {
                _mm256_xor_si256(_mm256_xor_si256($x, $y), $z)
            };
        }
        macro_rules! i {
            ($x:expr, $y:expr, $z:expr) => {
                _mm256_xor_si256(
                    $y,
                    _mm256_or_si256($x, _mm256_xor_si256($z, _mm256_set1_epi32(-1))),
                )
            };
        }
        x8_kernel!(states, data, n, step, f, g, h, i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

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

    #[test]
    fn one_message_matches_md5_crate() {
        for len in [
            0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 4096, 65_537,
        ] {
            let d = data(len, len as u64);
            assert_eq!(digest(&d), <[u8; 16]>::from(Md5::digest(&d)), "len {len}");
        }
    }

    #[test]
    fn portable_matches_scalar() {
        let d = data(64 * 9, 3);
        let (mut a, mut b) = (INIT, INIT);
        compress_scalar(&mut a, &d);
        for blk in d.as_chunks::<BLOCK>().0 {
            compress_portable(&mut b, blk);
        }
        assert_eq!(a, b);
    }

    /// Every kernel, every lane count up to twice its width, lanes of
    /// unequal lengths: the common blocks through the kernel, the rest and
    /// the padding one lane at a time, against the md-5 crate.
    #[test]
    fn kernels_match_md5_crate_for_lane_mixes() {
        for kernel in Kernel::available() {
            for lanes in 1..=2 * kernel.lanes().max(8) {
                let msgs: Vec<Vec<u8>> = (0..lanes)
                    .map(|l| data(64 * (3 + (l * 7) % 11) + (l * 13) % 64, l as u64 + 1))
                    .collect();
                let mut states = vec![INIT; lanes];
                let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
                let n = compress_many_with(kernel, &mut states, &refs);
                assert_eq!(n, 3, "{kernel:?} with {lanes} lanes");
                for (l, m) in msgs.iter().enumerate() {
                    let rest = &m[n * BLOCK..];
                    let whole = rest.len() / BLOCK * BLOCK;
                    compress_scalar(&mut states[l], &rest[..whole]);
                    let got = finish_scalar(states[l], &rest[whole..], m.len() as u64);
                    let want: [u8; 16] = Md5::digest(m).into();
                    assert_eq!(got, want, "{kernel:?}, {lanes} lanes, lane {l}");
                }
            }
        }
    }

    #[test]
    fn kernels_chain_across_calls() {
        for kernel in Kernel::available() {
            let msgs: Vec<Vec<u8>> = (0..kernel.lanes())
                .map(|l| data(64 * 40, 100 + l as u64))
                .collect();
            let mut states = vec![INIT; msgs.len()];
            let mut off = 0;
            for step in [1usize, 5, 2, 32] {
                let refs: Vec<&[u8]> = msgs
                    .iter()
                    .map(|m| &m[off * BLOCK..(off + step) * BLOCK])
                    .collect();
                assert_eq!(compress_many_with(kernel, &mut states, &refs), step);
                off += step;
            }
            for (s, m) in states.iter().zip(&msgs) {
                let want: [u8; 16] = Md5::digest(m).into();
                assert_eq!(finish_scalar(*s, &[], m.len() as u64), want, "{kernel:?}");
            }
        }
    }

    /// Every kernel this CPU runs against the scalar one, on random lane
    /// counts and random message lengths (lanes of unequal lengths, blocks
    /// advanced in random steps). Prints which kernels ran and which this
    /// CPU lacks: tests/run shows that line, since a kernel the machine
    /// lacks is not tested here.
    #[test]
    fn every_md5_kernel_this_cpu_runs_matches_scalar_on_random_lengths() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let all = [
            Kernel::Scalar,
            Kernel::Avx2x8,
            Kernel::Avx512x8,
            Kernel::Avx512x16,
        ];
        let (ran, lacking): (Vec<Kernel>, Vec<Kernel>) = all.iter().partition(|k| k.supported());
        assert_eq!(ran, Kernel::available());
        let mut rng = StdRng::seed_from_u64(0x3d5);
        for &kernel in ran.iter().filter(|k| **k != Kernel::Scalar) {
            for round in 0..200 {
                let lanes = rng.gen_range(1..=2 * kernel.lanes() + 3);
                let msgs: Vec<Vec<u8>> = (0..lanes)
                    .map(|l| data(rng.gen_range(0..64 * 24), round * 100 + l as u64))
                    .collect();
                let mut states = vec![INIT; lanes];
                let mut want = vec![INIT; lanes];
                // Lanes drop out as they run out of whole blocks.
                let mut off = 0;
                loop {
                    let live: Vec<usize> = (0..lanes)
                        .filter(|&l| msgs[l].len() >= off + BLOCK)
                        .collect();
                    if live.is_empty() {
                        break;
                    }
                    let step = rng.gen_range(1..=6) * BLOCK;
                    let refs: Vec<&[u8]> = live
                        .iter()
                        .map(|&l| &msgs[l][off..(off + step).min(msgs[l].len())])
                        .collect();
                    let mut st: Vec<State> = live.iter().map(|&l| states[l]).collect();
                    let n = compress_many_with(kernel, &mut st, &refs);
                    assert!(n >= 1, "{kernel:?}: no block advanced");
                    for (i, &l) in live.iter().enumerate() {
                        states[l] = st[i];
                        compress_scalar(&mut want[l], &refs[i][..n * BLOCK]);
                    }
                    off += n * BLOCK;
                }
                let lens: Vec<usize> = msgs.iter().map(Vec::len).collect();
                assert_eq!(
                    states, want,
                    "{kernel:?}, {lanes} lanes, round {round}: lengths {lens:?}"
                );
                for (st, m) in states.iter().zip(&msgs) {
                    let whole = m.len() / BLOCK * BLOCK;
                    let got = finish_scalar(*st, &m[whole..], m.len() as u64);
                    let md5: [u8; 16] = Md5::digest(m).into();
                    assert_eq!(got, md5, "{kernel:?}: a message of {} bytes", m.len());
                }
            }
        }
        eprintln!(
            "md5 kernels tested against scalar: {ran:?}; not on this CPU, untested: {lacking:?}"
        );
    }

    #[test]
    fn short_or_empty_lanes_do_nothing() {
        let mut states = vec![INIT; 3];
        let a = [0u8; 100];
        assert_eq!(compress_many(&mut states, &[&a, &a[..63], &a]), 0);
        assert_eq!(compress_many(&mut states, &[]), 0);
        assert!(states.iter().all(|s| *s == INIT));
    }
}
