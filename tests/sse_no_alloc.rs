//! Sealing and opening packages allocates nothing (issue 14: "the hot path
//! must not allocate per package"): a counting global allocator around a
//! stream of packages sealed and opened in one reused buffer. Only the
//! test's own thread counts: the harness's threads may allocate meanwhile
//! (seen once in CI on a loaded machine: 4 allocations).

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn::sse::key::{nonce_base, DataKey, TAG_LEN};
use cairn::sse::package::{Layout, ObjectId, Opener, Sealer, PACKAGE_SIZE};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread whose allocations count.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        if COUNTED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        // SAFETY: the caller's contract is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn sealing_and_opening_packages_allocates_nothing() {
    const PACKAGES: u64 = 64;
    let key = DataKey::generate();
    let nonce = nonce_base();
    let object = ObjectId {
        bucket: b"bucket",
        key: b"some/object",
        version: b"3f1c",
    };
    let plain_len = (PACKAGES - 1) * PACKAGE_SIZE as u64 + 123;
    let mut sealer = Sealer::new(&key, &nonce, &object, 0, Layout::DEFAULT);
    let opener = Opener::new(&key, &nonce, &object, 0, Layout::DEFAULT, plain_len);
    let mut buf = vec![0u8; PACKAGE_SIZE + TAG_LEN];

    COUNTED.with(|c| c.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for index in 0..PACKAGES {
        let len = Layout::DEFAULT
            .package_len(plain_len, index)
            .expect("index below packages");
        buf[..len].fill(index as u8);
        let last = index + 1 == PACKAGES;
        let sealed = sealer.seal(&mut buf, len, last).expect("seals");
        let plain = opener.open(index, &mut buf[..sealed]).expect("opens");
        assert_eq!(plain.len(), len);
        assert!(plain.iter().all(|&b| b == index as u8));
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTED.with(|c| c.set(false));
    assert!(sealer.finished());
    assert_eq!(
        after - before,
        0,
        "{} allocations over {PACKAGES} packages",
        after - before
    );
}
