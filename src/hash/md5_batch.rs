//! The per-core MD5 batcher: the ETags of the uploads a core receives at the
//! same time are hashed together, one multi-buffer kernel pass
//! ([`super::md5x`]) advancing up to 16 of them.
//!
//! An upload feeds its body through an [`Md5Lane`]. Pieces are queued, not
//! hashed (they are refcounted `Bytes`, so nothing is copied), until
//!
//! - the lane holds [`HIGH`] bytes or [`MAX_PIECES`] pieces: the lane is
//!   hashed down to half of that, and every other lane with whole blocks
//!   queued rides along in the same kernel passes while at least half of the
//!   uploads still have data (so lanes stay level and passes stay wide);
//! - the upload ends ([`Md5Lane::finish`]): the lane is hashed to its end,
//!   the others riding along, and padded;
//! - or only one upload is open on the core: then each piece is hashed at
//!   once, as a plain MD5 would (no batching possible, nothing to wait for).
//!
//! Nothing waits: the hashing runs inside `update` or `finish`, on the
//! core's only thread, so there are no tasks, locks or wake-ups, and an
//! upload never waits for another one. The cost of the deferral is memory:
//! at most about `HIGH` plus one piece per open upload.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::marker::PhantomData;

use bytes::{Buf, Bytes};

use super::md5x::{self, State, BLOCK, INIT, MAX_LANES};

/// Queued bytes at which a lane is hashed.
pub const HIGH: usize = 256 << 10;
/// Queued pieces at which a lane is hashed (bounds the queue of a client
/// that sends tiny frames).
pub const MAX_PIECES: usize = 64;

struct Lane {
    state: State,
    /// Bytes fed so far.
    len: u64,
    /// The start of the next block when a piece ended inside one.
    carry: [u8; BLOCK],
    carry_len: usize,
    /// Fed, not yet hashed; they follow `carry`.
    queue: VecDeque<Bytes>,
    queued: usize,
}

impl Lane {
    fn new() -> Lane {
        Lane {
            state: INIT,
            len: 0,
            carry: [0; BLOCK],
            carry_len: 0,
            queue: VecDeque::new(),
            queued: 0,
        }
    }

    /// Whole blocks that can be hashed in one run from where the lane
    /// stands: 1 when `carry` has been completed, else the whole blocks of
    /// the first queued piece, 0 when less than a block is left.
    fn next_run(&mut self) -> usize {
        loop {
            if self.carry_len > 0 {
                while self.carry_len < BLOCK {
                    let Some(front) = self.queue.front_mut() else {
                        return 0;
                    };
                    let take = (BLOCK - self.carry_len).min(front.len());
                    self.carry[self.carry_len..self.carry_len + take]
                        .copy_from_slice(&front[..take]);
                    self.carry_len += take;
                    front.advance(take);
                    self.queued -= take;
                    if front.is_empty() {
                        self.queue.pop_front();
                    }
                }
                return 1;
            }
            let front = match self.queue.front() {
                None => return 0,
                Some(f) if f.len() >= BLOCK => return f.len() / BLOCK,
                Some(f) => f,
            };
            self.carry[..front.len()].copy_from_slice(front);
            self.carry_len = front.len();
            self.queued -= front.len();
            self.queue.pop_front();
        }
    }

    /// The bytes of the run `next_run` found.
    fn run(&self) -> &[u8] {
        if self.carry_len == BLOCK {
            &self.carry
        } else {
            self.queue.front().map_or(&[], |f| &f[..])
        }
    }

    /// Drops `n` hashed blocks of the current run.
    fn consumed(&mut self, n: usize) {
        if self.carry_len == BLOCK {
            self.carry_len = 0;
        } else if let Some(front) = self.queue.front_mut() {
            front.advance(n * BLOCK);
            self.queued -= n * BLOCK;
            if front.is_empty() {
                self.queue.pop_front();
            }
        }
    }
}

#[derive(Default)]
struct Batcher {
    slots: Vec<Option<Lane>>,
    free: Vec<usize>,
    open: usize,
}

thread_local! {
    static BATCHER: RefCell<Batcher> = RefCell::new(Batcher::default());
}

impl Batcher {
    fn open(&mut self) -> usize {
        self.open += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(Lane::new());
                i
            }
            None => {
                self.slots.push(Some(Lane::new()));
                self.slots.len() - 1
            }
        }
    }

    fn close(&mut self, slot: usize) -> Option<Lane> {
        let lane = self.slots.get_mut(slot)?.take()?;
        self.open -= 1;
        self.free.push(slot);
        Some(lane)
    }

    /// One kernel pass over `first` and up to 15 other lanes with whole
    /// blocks. Returns how many lanes it advanced (0: `first` had none).
    fn pass(&mut self, first: usize) -> usize {
        let mut ids = [0usize; MAX_LANES];
        let mut k = 0;
        let mut n = match self.slots.get_mut(first).and_then(Option::as_mut) {
            Some(lane) => lane.next_run(),
            None => 0,
        };
        if n == 0 {
            return 0;
        }
        ids[0] = first;
        k += 1;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if k == MAX_LANES {
                break;
            }
            let Some(lane) = slot.as_mut() else { continue };
            if i == first {
                continue;
            }
            let r = lane.next_run();
            if r > 0 {
                ids[k] = i;
                k += 1;
                n = n.min(r);
            }
        }
        let mut states = [INIT; MAX_LANES];
        let mut data: [&[u8]; MAX_LANES] = [&[]; MAX_LANES];
        for ((s, d), &i) in states.iter_mut().zip(data.iter_mut()).zip(&ids[..k]) {
            if let Some(lane) = self.slots[i].as_ref() {
                *s = lane.state;
                *d = &lane.run()[..n * BLOCK];
            }
        }
        md5x::compress_many(&mut states[..k], &data[..k]);
        for (s, &i) in states.iter().zip(&ids[..k]) {
            if let Some(lane) = self.slots[i].as_mut() {
                lane.state = *s;
                lane.consumed(n);
            }
        }
        k
    }

    /// Hashes `slot`'s whole blocks, other lanes riding along; with
    /// `level`, stops early once the lane is under half its limits and
    /// fewer than half of the open lanes still have data.
    fn drain(&mut self, slot: usize, level: bool) {
        let wide = self.open.div_ceil(2).max(2);
        loop {
            let k = self.pass(slot);
            if k == 0 {
                return;
            }
            if level && k < wide {
                if let Some(lane) = self.slots[slot].as_ref() {
                    if lane.queued < HIGH / 2 && lane.queue.len() < MAX_PIECES / 2 {
                        return;
                    }
                }
            }
        }
    }
}

/// One message's MD5, hashed in batches with the other lanes of this core.
/// Stays on the core (thread) that created it.
pub struct Md5Lane {
    /// The batcher's slot, once something was fed.
    slot: Option<usize>,
    _core_local: PhantomData<*const ()>,
}

impl Default for Md5Lane {
    fn default() -> Self {
        Md5Lane::new()
    }
}

impl Md5Lane {
    pub fn new() -> Md5Lane {
        Md5Lane {
            slot: None,
            _core_local: PhantomData,
        }
    }

    /// Appends `piece` to the message.
    pub fn update(&mut self, piece: Bytes) {
        if piece.is_empty() {
            return;
        }
        BATCHER.with(|b| {
            let mut b = b.borrow_mut();
            let slot = *self.slot.get_or_insert_with(|| b.open());
            let alone = b.open == 1;
            let Some(lane) = b.slots[slot].as_mut() else {
                return;
            };
            lane.len += piece.len() as u64;
            lane.queued += piece.len();
            lane.queue.push_back(piece);
            let full = lane.queued >= HIGH || lane.queue.len() >= MAX_PIECES;
            if alone {
                b.drain(slot, false);
            } else if full {
                b.drain(slot, true);
            }
        });
    }

    /// The MD5 of everything fed; the lane starts a new, empty message.
    pub fn finish(&mut self) -> [u8; 16] {
        let Some(slot) = self.slot.take() else {
            return md5x::finish_scalar(INIT, &[], 0);
        };
        BATCHER.with(|b| {
            let mut b = b.borrow_mut();
            b.drain(slot, false);
            match b.close(slot) {
                Some(lane) => md5x::finish_scalar(lane.state, &lane.carry[..lane.carry_len], lane.len),
                // Unreachable: the slot is this lane's until closed here.
                None => md5x::finish_scalar(INIT, &[], 0),
            }
        })
    }
}

impl Drop for Md5Lane {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            // At thread exit the batcher may already be gone, with its lanes.
            let _ = BATCHER.try_with(|b| b.borrow_mut().close(slot));
        }
    }
}

/// Lanes open on this core (tests).
#[cfg(test)]
fn open_lanes() -> usize {
    BATCHER.with(|b| b.borrow().open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn bytes(rng: &mut Rng, len: usize) -> Bytes {
        (0..len).map(|_| rng.next() as u8).collect::<Vec<u8>>().into()
    }

    #[test]
    fn one_lane_hashes_inline() {
        let mut rng = Rng(7);
        let mut lane = Md5Lane::new();
        let mut want = Md5::new();
        for len in [1, 63, 64, 65, 1000, 70_000] {
            let b = bytes(&mut rng, len);
            want.update(&b);
            lane.update(b);
            let queued = BATCHER.with(|x| x.borrow().slots[lane.slot.unwrap()].as_ref().unwrap().queued);
            assert_eq!(queued, 0, "nothing waits when alone");
        }
        assert_eq!(lane.finish(), <[u8; 16]>::from(want.finalize()));
        assert_eq!(open_lanes(), 0);
    }

    #[test]
    fn empty_and_reused_lanes() {
        let mut lane = Md5Lane::new();
        assert_eq!(lane.finish(), <[u8; 16]>::from(Md5::digest(b"")));
        lane.update(Bytes::from_static(b"abc"));
        assert_eq!(lane.finish(), <[u8; 16]>::from(Md5::digest(b"abc")));
        lane.update(Bytes::new());
        assert_eq!(lane.finish(), <[u8; 16]>::from(Md5::digest(b"")));
        assert_eq!(open_lanes(), 0);
    }

    /// Uploads of random lengths fed in random pieces, interleaved, joining
    /// and leaving (finished or dropped half-way) at random, up to 40 open at
    /// once: every digest matches the md-5 crate's.
    #[test]
    fn interleaved_lanes_match_md5_crate() {
        for seed in 1..=6u64 {
            let mut rng = Rng(seed * 0x2545_F491_4F6C_DD1D);
            let max_open = [2, 3, 8, 16, 17, 40][seed as usize - 1];
            let mut open: Vec<(Md5Lane, Md5, usize, bool)> = Vec::new();
            let mut done = 0;
            while done < 120 {
                if open.len() < max_open && rng.below(3) == 0 {
                    let size = match rng.below(4) {
                        0 => rng.below(200),
                        1 => rng.below(5000),
                        _ => rng.below(700_000),
                    };
                    let abandon = rng.below(10) == 0;
                    open.push((Md5Lane::new(), Md5::new(), size, abandon));
                    continue;
                }
                if open.is_empty() {
                    continue;
                }
                let i = rng.below(open.len());
                let (lane, want, left, abandon) = &mut open[i];
                let piece = match rng.below(5) {
                    0 => rng.below(70),
                    1 => rng.below(4096),
                    _ => rng.below(96 << 10),
                }
                .min(*left);
                let b = bytes(&mut rng, piece);
                want.update(&b);
                lane.update(b);
                *left -= piece;
                if *abandon && rng.below(4) == 0 {
                    open.swap_remove(i);
                    done += 1;
                } else if *left == 0 {
                    let (mut lane, want, _, _) = open.swap_remove(i);
                    assert_eq!(lane.finish(), <[u8; 16]>::from(want.finalize()), "seed {seed}");
                    done += 1;
                }
            }
            drop(open);
            assert_eq!(open_lanes(), 0);
        }
    }

    #[test]
    fn tiny_pieces_keep_the_queue_bounded() {
        let mut others: Vec<Md5Lane> = (0..3).map(|_| Md5Lane::new()).collect();
        for o in &mut others {
            o.update(Bytes::from_static(&[1; 100]));
        }
        let mut lane = Md5Lane::new();
        let mut want = Md5::new();
        for i in 0..10_000u32 {
            let b = Bytes::copy_from_slice(&i.to_le_bytes()[..1 + (i % 3) as usize]);
            want.update(&b);
            lane.update(b);
            let n = BATCHER.with(|x| x.borrow().slots[lane.slot.unwrap()].as_ref().unwrap().queue.len());
            assert!(n <= MAX_PIECES);
        }
        assert_eq!(lane.finish(), <[u8; 16]>::from(want.finalize()));
        for mut o in others {
            assert_eq!(o.finish(), <[u8; 16]>::from(Md5::digest([1u8; 100])));
        }
    }
}
