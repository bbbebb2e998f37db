//! Policy evaluation allocates nothing (issue 12, "How fast"): a counting
//! global allocator around `evaluate` on the benchmark's case, with every
//! kind of condition value it reads (IP, bool, date, string with variables).
//! Only the test's own thread counts: the harness's threads may allocate
//! meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn::iam::action::Action;
use cairn::iam::policy::{
    bench_policies, evaluate, Decision, Inputs, KnownKey, Policy, PolicyKind, PolicySet, Principal,
    PrincipalType, Request, Value,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set on the thread whose allocations count.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed through.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn evaluating_the_benchmark_case_allocates_nothing() {
    let (identity, bucket) = bench_policies();
    let compiled: Vec<Policy> = identity
        .iter()
        .map(|j| Policy::parse(j.as_bytes(), PolicyKind::Identity).unwrap())
        .collect();
    let set = PolicySet::merge(&compiled);
    let bucket = Policy::parse(bucket.as_bytes(), PolicyKind::Resource).unwrap();
    let alice = Principal {
        kind: PrincipalType::User,
        account: "123456789012",
        arn: "arn:aws:iam::123456789012:user/alice",
        other_arns: &[],
        canonical_id: None,
        username: Some("alice"),
        userid: Some("AIDAALICE"),
    };
    let ip = "203.0.113.9".parse().unwrap();
    let cases = [
        (
            Action::S3GetObject,
            "arn:aws:s3:::photos/home/alice/cat.jpg",
            Decision::Allow,
        ),
        (
            Action::S3DeleteObject,
            "arn:aws:s3:::photos/home/bob/cat.jpg",
            Decision::ExplicitDeny,
        ),
        (
            Action::S3ListBucket,
            "arn:aws:s3:::data-0-1",
            Decision::Allow,
        ),
        (
            Action::S3PutBucketTagging,
            "arn:aws:s3:::photos",
            Decision::ImplicitDeny,
        ),
    ];
    for (action, resource, want) in cases {
        COUNTED.with(|c| c.set(true));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let r = Request::new(action, resource, alice, 1_704_067_200_000)
            .with(KnownKey::SourceIp, Value::Ip(ip))
            .with(KnownKey::SecureTransport, Value::Bool(true))
            .with(KnownKey::S3Prefix, Value::Str("home/alice/2024/"));
        let got = evaluate(&Inputs {
            request: &r,
            identity: Some(&set),
            resource: Some(bucket.set()),
            session: None,
        });
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        COUNTED.with(|c| c.set(false));
        assert_eq!(got, want, "{action} {resource}");
        assert_eq!(after - before, 0, "{action} {resource} allocated");
    }
}
