//! 4 KiB-aligned buffers for O_DIRECT I/O, usable by io_uring operations and
//! convertible to `Bytes` without a copy.

use std::alloc::{alloc, alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use bytes::Bytes;

/// Alignment (and size granularity) of every direct I/O.
pub const ALIGN: usize = 4096;
/// Recycled buffers kept per size, per core.
const POOL_PER_SIZE: usize = 64;

thread_local! {
    /// Each executor thread (core) recycles its own write buffers: a fresh
    /// 256 KiB shard buffer per stripe cost page faults and zeroing worth a
    /// quarter of a 1 MiB PUT's CPU time (perf/ENGINE.md).
    static POOL: std::cell::RefCell<std::collections::HashMap<usize, Vec<AlignedBuf>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Rounds `n` up to the next multiple of [`ALIGN`].
#[inline]
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// A 4 KiB-aligned heap buffer with a fixed capacity and a length (the
/// prefix io_uring reads or has written).
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    cap: usize,
    len: usize,
    /// Bytes `..init` are initialised; `len <= init <= cap`. Only a buffer
    /// made by `for_read` starts below `cap`.
    init: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like Vec<u8>, so moving
// it to another thread moves the only access to it.
unsafe impl Send for AlignedBuf {}
// SAFETY: through `&AlignedBuf` the bytes can only be read (`as_slice`,
// `read_ptr`); every write takes `&mut self`. Shared reads are safe, as for
// `&Vec<u8>`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A buffer of `cap` bytes rounded up to [`ALIGN`], all zero, with length
    /// equal to the capacity.
    pub fn zeroed(cap: usize) -> Self {
        Self::allocate(cap, true)
    }

    /// An empty buffer of `cap` bytes rounded up to [`ALIGN`] for a read to
    /// fill. Not zeroed: zeroing every read buffer cost 5% of a 1 MiB GET's
    /// CPU (perf/flame/get-md5x.txt), and the read overwrites it anyway.
    pub fn for_read(cap: usize) -> Self {
        Self::allocate(cap, false)
    }

    fn allocate(cap: usize, zero: bool) -> Self {
        let cap = align_up(cap.max(1));
        let layout = Layout::from_size_align(cap, ALIGN)
            .expect("ALIGN is a power of two; buffers are far below isize::MAX");
        // SAFETY: the layout's size is at least ALIGN (`cap.max(1)` rounded
        // up), never zero as `alloc` requires; a null result is handled
        // below.
        let ptr = unsafe {
            if zero {
                alloc_zeroed(layout)
            } else {
                alloc(layout)
            }
        };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        // Zeroed memory is initialised and all of it is the length; fresh
        // memory is neither until a read fills it.
        let init = if zero { cap } else { 0 };
        AlignedBuf {
            ptr,
            cap,
            len: init,
            init,
        }
    }

    /// A buffer of `cap` bytes rounded up to [`ALIGN`], length equal to the
    /// capacity, from this thread's pool when one is free. Its contents are
    /// initialised but unspecified (an earlier use's bytes): the caller
    /// writes or zeroes every byte it will use.
    pub fn pooled(cap: usize) -> Self {
        let cap = align_up(cap.max(1));
        let reused = POOL.with(|p| p.borrow_mut().get_mut(&cap).and_then(|v| v.pop()));
        match reused {
            Some(mut b) => {
                b.len = b.cap;
                b
            }
            None => AlignedBuf::zeroed(cap),
        }
    }

    /// Returns the buffer to this thread's pool (or frees it if the pool for
    /// its size is full).
    pub fn recycle(self) {
        if self.init < self.cap {
            // `pooled` hands out the whole capacity as initialised.
            return;
        }
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            let v = p.entry(self.cap).or_default();
            if v.len() < POOL_PER_SIZE {
                v.push(self);
            }
        });
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the length; must not exceed the initialised bytes (all of the
    /// capacity unless the buffer came from `for_read` and was not filled).
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.init);
        self.len = len;
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for cap bytes while self lives, and len <=
        // init <= cap (set_len and set_init keep it), so every byte is
        // initialised.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in as_slice; `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The whole capacity, regardless of length.
    pub fn full_mut(&mut self) -> &mut [u8] {
        if self.init < self.cap {
            // SAFETY: ptr is valid for cap bytes; writing initialises them.
            unsafe {
                self.ptr
                    .as_ptr()
                    .add(self.init)
                    .write_bytes(0, self.cap - self.init)
            };
            self.init = self.cap;
        }
        // SAFETY: ptr is valid for cap bytes, all initialised.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }

    /// Freezes the buffer into `Bytes` (zero copy; freed when the last clone drops).
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.cap, ALIGN)
            .expect("the layout `allocate` made from this cap");
        // SAFETY: allocated by `allocate` with this exact layout (cap is never
        // changed), and freed only here, once.
        unsafe { dealloc(self.ptr.as_ptr(), layout) }
    }
}

// SAFETY: the pointer stays valid and fixed while the buffer is owned by an
// in-flight operation; bytes_init is the initialised length.
unsafe impl monoio::buf::IoBuf for AlignedBuf {
    fn read_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }
}

// SAFETY: as above; the whole capacity is writable.
unsafe impl monoio::buf::IoBufMut for AlignedBuf {
    fn write_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn bytes_total(&mut self) -> usize {
        self.cap
    }

    unsafe fn set_init(&mut self, pos: usize) {
        self.len = pos.min(self.cap);
        self.init = self.init.max(self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_zeroed() {
        let b = AlignedBuf::zeroed(5000);
        assert_eq!(b.capacity(), 8192);
        assert_eq!(b.as_slice().as_ptr() as usize % ALIGN, 0);
        assert!(b.as_slice().iter().all(|&x| x == 0));
    }

    #[test]
    fn into_bytes_is_zero_copy() {
        let mut b = AlignedBuf::zeroed(4096);
        b.as_mut_slice()[..3].copy_from_slice(b"abc");
        let p = b.as_slice().as_ptr();
        let bytes = b.into_bytes();
        assert_eq!(bytes.as_ptr(), p);
        assert_eq!(&bytes.slice(0..3)[..], b"abc");
    }

    #[test]
    fn a_read_buffer_exposes_only_what_was_filled() {
        let mut b = AlignedBuf::for_read(5000);
        assert_eq!((b.capacity(), b.len()), (8192, 0));
        // SAFETY: the first 4096 bytes are written before being declared.
        unsafe {
            monoio::buf::IoBufMut::write_ptr(&mut b).write_bytes(7, 4096);
            monoio::buf::IoBufMut::set_init(&mut b, 4096);
        }
        assert_eq!(b.as_slice(), &[7u8; 4096][..]);
        let full = b.full_mut();
        assert!(full[..4096].iter().all(|&x| x == 7));
        assert!(full[4096..].iter().all(|&x| x == 0));
        b.set_len(8192);
        assert_eq!(b.len(), 8192);
    }

    #[test]
    #[should_panic(expected = "assertion failed: len <= self.init")]
    fn a_read_buffer_cannot_claim_bytes_never_filled() {
        AlignedBuf::for_read(4096).set_len(1);
    }

    #[test]
    fn align_up_rounds() {
        assert_eq!(align_up(0), 0);
        assert_eq!(align_up(1), 4096);
        assert_eq!(align_up(4096), 4096);
        assert_eq!(align_up(4097), 8192);
    }
}
