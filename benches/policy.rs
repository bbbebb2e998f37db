//! Policy evaluation cost (issue 12, "How fast": under 2 µs): an IAM user
//! with 3 attached policies of 10 statements each plus a bucket policy with
//! conditions. `cargo bench --bench policy`; figures in perf/POLICY.md.

use std::hint::black_box;

use cairn::iam::action::Action;
use cairn::iam::policy::{
    bench_policies, evaluate, Decision, Inputs, KnownKey, Policy, PolicyKind, PolicySet, Principal,
    PrincipalType, Request, Value,
};
use criterion::{criterion_group, criterion_main, Criterion};

fn policy(c: &mut Criterion) {
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

    let mut g = c.benchmark_group("policy");
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

criterion_group!(benches, policy);
criterion_main!(benches);
