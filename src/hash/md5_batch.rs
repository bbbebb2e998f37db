//! The per-core MD5 batcher: the ETags of the uploads a core receives at the
//! same time are hashed together, one multi-buffer kernel pass
//! ([`super::md5x`]) advancing up to 16 of them.
//!
//! An upload feeds its body through an [`Md5Lane`]. Pieces are queued, not
//! hashed (they are refcounted `Bytes`: nothing is copied). A core reads an
//! upload's body in bursts (the task keeps reading while its socket has
//! data), so lanes are rarely fed at the same moment: they wait for each
//! other instead. When a lane needs its data hashed (its upload ended, or it
//! holds [`HIGH`] bytes or [`MAX_PIECES`] pieces) it registers and awaits a
//! flush. The first waiter spawns the flusher task, which runs once the
//! tasks already ready on the core have had their turn; while some other
//! lane is still filling (data queued, not waiting) it sleeps 1 ms, at most
//! [`MAX_ROUNDS`] times, so that those uploads read on and wait too. Then it
//! hashes every lane in passes as wide as the lanes with data allow, each
//! waiting lane's remainder alone, and wakes the waiters.
//!
//! Measured under the 1 MiB PUT load of perf/http.sh (perf/HTTP.md): 80% of
//! the bytes go through passes of 2 to 9 lanes, and the server's CPU per PUT
//! drops by about a quarter; without the sleep (flush after one turn of the
//! ready tasks) about half the bytes were still hashed one lane at a time.
//!
//! A lane counts as open for its whole upload (its `Md5Lane`'s life). When
//! only one is open on the core nothing can be batched: each piece is hashed
//! at once and nothing waits. A lane with less than [`MIN_WAIT`] queued
//! (a small object, the tail of a large one) is hashed at once too. No threads, no locks: the batcher is a
//! thread-local of the core's executor. Memory: at most about `HIGH` plus
//! one read of the socket per open upload.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};

use super::md5x::{self, State, BLOCK, INIT, MAX_LANES};

/// Queued bytes at which a lane waits for a flush (a 1 MiB object is hashed
/// in one flush, after its upload ended).
pub const HIGH: usize = 1 << 20;
/// Queued pieces at which a lane waits for a flush (bounds the queue of a
/// client that sends tiny frames).
pub const MAX_PIECES: usize = 64;
/// Below this much queued, a lane is hashed alone at once instead of
/// waiting: that costs under 0.1 ms, less than a wait (small objects never
/// wait).
pub const MIN_WAIT: usize = 64 << 10;
/// 1 ms sleeps a flush waits at most for lanes that are still filling
/// (4 measured no better than 2).
pub const MAX_ROUNDS: u32 = 2;

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
    /// The task awaiting a flush of this lane.
    waiter: Option<Waker>,
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
            waiter: None,
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
    fn full(&self) -> bool {
        self.queued >= HIGH || self.queue.len() >= MAX_PIECES
    }

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
    /// A flusher task is spawned and has not run yet.
    flush_pending: bool,
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

    /// One kernel pass over up to 16 lanes with whole blocks, those with a
    /// waiter first, or over `only`. Returns how many lanes it advanced.
    fn pass(&mut self, only: Option<usize>) -> usize {
        let mut ids = [0usize; MAX_LANES];
        let mut k = 0;
        let mut n = usize::MAX;
        for waiting in [true, false] {
            for (i, slot) in self.slots.iter_mut().enumerate() {
                let Some(lane) = slot.as_mut() else { continue };
                if k == MAX_LANES || only.is_some_and(|o| o != i) {
                    continue;
                }
                if lane.waiter.is_some() != waiting {
                    continue;
                }
                let r = lane.next_run();
                if r > 0 {
                    ids[k] = i;
                    k += 1;
                    n = n.min(r);
                }
            }
        }
        if k == 0 {
            return 0;
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

    /// Hashes `slot`'s whole blocks alone.
    fn drain(&mut self, slot: usize) {
        while self.pass(Some(slot)) > 0 {}
    }

    /// Some lane has data queued but does not wait: its upload is still
    /// streaming in, and will soon fill or end.
    fn lanes_filling(&self) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|l| l.waiter.is_none() && l.queued + l.carry_len >= BLOCK)
    }

    /// The flusher's work: passes while at least two lanes have whole
    /// blocks, then the waiting lanes' remainders alone. Returns the waiters.
    fn flush(&mut self) -> Vec<Waker> {
        self.flush_pending = false;
        while self.pass(None) >= 2 {}
        let mut wakers = Vec::new();
        for i in 0..self.slots.len() {
            let waiter = self.slots[i].as_mut().and_then(|l| l.waiter.take());
            if let Some(w) = waiter {
                self.drain(i);
                wakers.push(w);
            }
        }
        wakers
    }
}

async fn flusher() {
    for _ in 0..MAX_ROUNDS {
        if !BATCHER.with(|b| b.borrow().lanes_filling()) {
            break;
        }
        crate::runtime::sleep(std::time::Duration::from_millis(1)).await;
    }
    let wakers = BATCHER.with(|b| b.borrow_mut().flush());
    for w in wakers {
        w.wake();
    }
}

/// Resolves once a flush has hashed the lane's whole blocks.
struct Flushed {
    slot: usize,
    registered: bool,
}

impl Future for Flushed {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let slot = self.slot;
        let registered = self.registered;
        let pending = BATCHER.with(|b| {
            let mut b = b.borrow_mut();
            let Some(lane) = b.slots.get_mut(slot).and_then(Option::as_mut) else {
                return false;
            };
            if registered && lane.waiter.is_none() {
                // The flusher took the waker: done.
                return false;
            }
            lane.waiter = Some(cx.waker().clone());
            if !b.flush_pending {
                b.flush_pending = true;
                // Queued behind every task already ready on this core.
                drop(crate::runtime::spawn(flusher()));
            }
            true
        });
        if pending {
            self.registered = true;
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// One message's MD5, hashed in batches with the other lanes of this core.
/// A lane counts as open (so others wait for it) from `new` to its drop:
/// for an upload, the whole request, not only while its body streams in.
/// Stays on the core (thread) that created it.
pub struct Md5Lane {
    slot: usize,
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
            slot: BATCHER.with(|b| b.borrow_mut().open()),
            _core_local: PhantomData,
        }
    }

    /// Appends `piece` to the message (hashed at once when this is the
    /// core's only open lane, else queued).
    pub fn update(&mut self, piece: Bytes) {
        if piece.is_empty() {
            return;
        }
        BATCHER.with(|b| {
            let mut b = b.borrow_mut();
            let alone = b.open == 1;
            let Some(lane) = b.slots[self.slot].as_mut() else {
                return;
            };
            lane.len += piece.len() as u64;
            lane.queued += piece.len();
            lane.queue.push_back(piece);
            if alone {
                b.drain(self.slot);
            }
        });
    }

    /// Waits for a flush if the lane holds too much; call after `update`.
    pub async fn settle(&mut self) {
        let full = BATCHER.with(|b| b.borrow().slots[self.slot].as_ref().is_some_and(Lane::full));
        if full {
            self.flushed().await;
        }
    }

    /// The MD5 of everything fed; the lane starts a new, empty message.
    pub async fn finish(&mut self) -> [u8; 16] {
        self.flushed().await;
        BATCHER.with(|b| {
            let mut b = b.borrow_mut();
            b.drain(self.slot);
            match b.slots[self.slot].as_mut() {
                Some(lane) => {
                    let d =
                        md5x::finish_scalar(lane.state, &lane.carry[..lane.carry_len], lane.len);
                    *lane = Lane::new();
                    d
                }
                // Unreachable: the slot is this lane's until it is dropped.
                None => md5x::finish_scalar(INIT, &[], 0),
            }
        })
    }

    /// Waits for a flush when other lanes are open and this one has at
    /// least `MIN_WAIT` queued; else hashes its whole blocks now.
    async fn flushed(&mut self) {
        let slot = self.slot;
        let wait = BATCHER.with(|b| {
            let mut b = b.borrow_mut();
            let big = b.slots[slot]
                .as_ref()
                .is_some_and(|l| l.queued + l.carry_len >= MIN_WAIT);
            if b.open == 1 || !big {
                b.drain(slot);
                return false;
            }
            true
        });
        if wait {
            Flushed {
                slot,
                registered: false,
            }
            .await;
        }
    }
}

impl Drop for Md5Lane {
    fn drop(&mut self) {
        // At thread exit the batcher may already be gone, with its lanes.
        let _ = BATCHER.try_with(|b| b.borrow_mut().close(self.slot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};
    use std::rc::Rc;

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
        (0..len)
            .map(|_| rng.next() as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    fn run<F: Future>(f: F) -> F::Output {
        crate::runtime::block_on(f).expect("runtime")
    }

    fn open_lanes() -> usize {
        BATCHER.with(|b| b.borrow().open)
    }

    /// Queued bytes and pieces.
    fn queued(lane: &Md5Lane) -> (usize, usize) {
        BATCHER.with(|b| {
            let b = b.borrow();
            let l = b.slots[lane.slot].as_ref().expect("open");
            (l.queued, l.queue.len())
        })
    }

    fn md5(data: &[u8]) -> [u8; 16] {
        Md5::digest(data).into()
    }

    #[test]
    fn one_lane_hashes_inline() {
        run(async {
            let mut rng = Rng(7);
            let mut lane = Md5Lane::new();
            let mut want = Md5::new();
            for len in [1, 63, 64, 65, 1000, 70_000] {
                let b = bytes(&mut rng, len);
                want.update(&b);
                lane.update(b);
                assert_eq!(queued(&lane).0, 0, "nothing waits when alone");
            }
            assert_eq!(lane.finish().await, <[u8; 16]>::from(want.finalize()));
            assert_eq!(open_lanes(), 1, "open until dropped");
            drop(lane);
            assert_eq!(open_lanes(), 0);
        });
    }

    #[test]
    fn empty_and_reused_lanes() {
        run(async {
            let mut other = Md5Lane::new();
            other.update(Bytes::from_static(&[9; 1000]));
            let mut lane = Md5Lane::new();
            assert_eq!(lane.finish().await, md5(b""));
            lane.update(Bytes::from_static(b"abc"));
            assert_eq!(lane.finish().await, md5(b"abc"));
            lane.update(Bytes::new());
            assert_eq!(lane.finish().await, md5(b""));
            assert_eq!(other.finish().await, md5(&[9; 1000]));
            drop((lane, other));
            assert_eq!(open_lanes(), 0);
        });
    }

    /// Uploads of random lengths fed in random pieces, interleaved, joining
    /// and leaving (finished or dropped half-way) at random, up to 40 open at
    /// once, from one task: every digest matches the md-5 crate's.
    #[test]
    fn interleaved_lanes_match_md5_crate() {
        run(async {
            for seed in 1..=6u64 {
                let mut rng = Rng(seed * 0x2545_F491_4F6C_DD1D);
                let max_open = [2, 3, 8, 16, 17, 40][seed as usize - 1];
                let mut open: Vec<(Md5Lane, Md5, usize, bool)> = Vec::new();
                let mut done = 0;
                while done < 60 {
                    if open.len() < max_open && rng.below(3) == 0 {
                        let size = match rng.below(4) {
                            0 => rng.below(200),
                            1 => rng.below(5000),
                            _ => rng.below(3 << 19),
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
                        _ => rng.below(400 << 10),
                    }
                    .min(*left);
                    let b = bytes(&mut rng, piece);
                    want.update(&b);
                    lane.update(b);
                    lane.settle().await;
                    let (bytes, pieces) = queued(lane);
                    assert!(bytes < HIGH && pieces < MAX_PIECES, "settled");
                    *left -= piece;
                    if *abandon && rng.below(4) == 0 {
                        open.swap_remove(i);
                        done += 1;
                    } else if *left == 0 {
                        let (mut lane, want, _, _) = open.swap_remove(i);
                        let want: [u8; 16] = want.finalize().into();
                        assert_eq!(lane.finish().await, want, "seed {seed}");
                        done += 1;
                    }
                }
                drop(open);
                assert_eq!(open_lanes(), 0);
            }
        });
    }

    /// Many tasks at once, each an upload in pieces with a timer between
    /// pieces (so they interleave and wait for the same flushes).
    #[test]
    fn concurrent_tasks_match_md5_crate() {
        run(async {
            let results = Rc::new(RefCell::new(Vec::new()));
            let mut handles = Vec::new();
            for t in 0..24u64 {
                let results = results.clone();
                handles.push(crate::runtime::spawn(async move {
                    let mut rng = Rng(t + 11);
                    let len = 10_000 + rng.below(2 << 20);
                    let data = bytes(&mut rng, len);
                    let mut lane = Md5Lane::new();
                    let mut off = 0;
                    while off < data.len() {
                        let n = (1 + rng.below(300 << 10)).min(data.len() - off);
                        lane.update(data.slice(off..off + n));
                        lane.settle().await;
                        off += n;
                        if rng.below(3) == 0 {
                            crate::runtime::sleep(std::time::Duration::from_micros(100)).await;
                        }
                    }
                    let got = lane.finish().await;
                    results.borrow_mut().push((got, md5(&data)));
                }));
            }
            for h in handles {
                h.await;
            }
            let results = results.borrow();
            assert_eq!(results.len(), 24);
            for (got, want) in results.iter() {
                assert_eq!(got, want);
            }
            assert_eq!(open_lanes(), 0);
        });
    }

    #[test]
    fn small_lanes_do_not_wait() {
        run(async {
            let mut big = Md5Lane::new();
            big.update(Bytes::from(vec![3u8; 200_000]));
            let mut small = Md5Lane::new();
            small.update(Bytes::from_static(&[4; 4096]));
            assert_eq!(small.finish().await, md5(&[4; 4096]));
            assert!(
                !BATCHER.with(|b| b.borrow().flush_pending),
                "no flush needed"
            );
            assert_eq!(big.finish().await, md5(&[3u8; 200_000]));
        });
    }

    #[test]
    fn tiny_pieces_keep_the_queue_bounded() {
        run(async {
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
                lane.settle().await;
                assert!(queued(&lane).1 < MAX_PIECES);
            }
            assert_eq!(lane.finish().await, <[u8; 16]>::from(want.finalize()));
            for mut o in others {
                assert_eq!(o.finish().await, md5(&[1; 100]));
            }
        });
    }
}
