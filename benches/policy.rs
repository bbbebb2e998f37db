//! Policy evaluation cost (issue 12, "How fast": under 2 µs): an IAM user
//! with 3 attached policies of 10 statements each plus a bucket policy with
//! conditions. `cargo bench --bench policy`; figures in perf/POLICY.md.

use std::hint::black_box;

use cairn::iam::action::Action;
use cairn::iam::policy::{
    bench_policies, evaluate, Decision, Inputs, KnownKey, Policy, PolicyKind, PolicySet, Principal,
    PrincipalType, Request, Value,
};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion};

/// This thread's CPU time (CLOCK_THREAD_CPUTIME_ID): on the shared 2-core
/// machine wall time counts the time other processes hold the core, so the
/// benchmark reports both.
struct ThreadCpu;

static WALL: WallTime = WallTime;

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }

    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn policy<M: Measurement + 'static>(c: &mut Criterion<M>, clock: &str) {
    let (identity, bucket) = bench_policies();
    let compiled: Vec<Policy> = identity
        .iter()
        .map(|j| Policy::parse(j.as_bytes(), PolicyKind::Identity).expect("identity policy"))
        .collect();
    let set = PolicySet::merge(&compiled);
    let bucket = Policy::parse(bucket.as_bytes(), PolicyKind::Resource).expect("bucket policy");
    let alice = Principal {
        kind: PrincipalType::User,
        account: "123456789012",
        arn: "arn:aws:iam::123456789012:user/alice",
        other_arns: &[],
        canonical_id: Some("c0ffee"),
        username: Some("alice"),
        userid: Some("AIDAALICE"),
    };
    let now = 1_704_067_200_000;
    let ip = "203.0.113.9".parse().expect("ip");

    let mut g = c.benchmark_group(format!("policy ({clock})"));
    // Allowed by the last identity statement: every statement is tested
    // (the identity set has denies for s3:GetObject, so no early exit), then
    // the whole bucket policy with its conditions.
    g.bench_function("evaluate GetObject, 3x10 statements + bucket policy", |b| {
        b.iter(|| {
            let r = Request::new(
                Action::S3GetObject,
                black_box("arn:aws:s3:::photos/home/alice/2024/cat.jpg"),
                alice,
                now,
            )
            .with(KnownKey::SourceIp, Value::Ip(ip))
            .with(KnownKey::SecureTransport, Value::Bool(true))
            .with(KnownKey::UserAgent, Value::Str("aws-sdk-rust/1.0"));
            let d = evaluate(&Inputs {
                request: &r,
                identity: Some(&set),
                resource: Some(bucket.set()),
                session: None,
            });
            assert_eq!(d, Decision::Allow);
            d
        })
    });
    g.bench_function("evaluate ListBucket with s3:prefix, implicit deny", |b| {
        b.iter(|| {
            let r = Request::new(
                Action::S3ListBucket,
                black_box("arn:aws:s3:::data-0-1"),
                alice,
                now,
            )
            .with(KnownKey::S3Prefix, Value::Str("home/bob/"))
            .with(KnownKey::SourceIp, Value::Ip(ip))
            .with(KnownKey::SecureTransport, Value::Bool(true));
            evaluate(&Inputs {
                request: &r,
                identity: Some(&set),
                resource: Some(bucket.set()),
                session: None,
            })
        })
    });
    g.bench_function("parse + compile the bucket policy", |b| {
        let json = bench_policies().1;
        b.iter(|| Policy::parse(black_box(json.as_bytes()), PolicyKind::Resource))
    });
    g.finish();
}

fn wall(c: &mut Criterion) {
    policy(c, "wall time");
}

fn cpu(c: &mut Criterion<ThreadCpu>) {
    policy(c, "thread CPU time");
}

criterion_group!(benches, wall);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = cpu
}
criterion_main!(benches, cpu_benches);
