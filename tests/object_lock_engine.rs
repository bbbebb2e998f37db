//! Object lock in the engine: a locked version refuses removal whoever asks
//! (the S3 layer is not the only guard), and its lock state survives
//! compaction, a multipart expiry sweep, a restart and an index rebuild
//! from the drives.

mod common;

use common::*;

use cairn::engine::buckets::{DefaultRetention, ObjectLockConfig, RetentionPeriod};
use cairn::engine::lock::LockDenial;
use cairn::engine::meta::{Attr, IndexEntry, LockMode, Locked, Retention};
use cairn::engine::{now_ms, EngineError, MemBody, PutOptions, VersionSel};

const DAY_MS: u64 = 86_400_000;

/// One version's index entry and bytes.
async fn read_version(
    e: &std::rc::Rc<cairn::engine::Engine>,
    bucket: &str,
    key: &str,
    v: VersionSel,
) -> (IndexEntry, Vec<u8>) {
    let guard = e.begin_read();
    let entry = e
        .lookup(bucket, key, Some(v))
        .unwrap()
        .expect("the version is there");
    let mut r = e
        .open_reader(guard, bucket, key, entry.clone(), None, None)
        .await
        .unwrap();
    (entry, r.read_all().await.unwrap())
}

fn locked(attrs: Vec<Attr>) -> PutOptions {
    PutOptions {
        attrs,
        ..Default::default()
    }
}

#[test]
fn locked_versions_survive_compaction_upload_expiry_restart_and_rebuild() {
    let d = drives(4);
    let mut cfg = config(&d, None);
    cfg.partitions = 2;
    cfg.segment_max = 4 << 20;
    let until = now_ms() + 30 * DAY_MS;
    let comp = Retention {
        mode: LockMode::Compliance,
        until_ms: until,
    };
    let gov = Retention {
        mode: LockMode::Governance,
        until_ms: until,
    };
    // (key, attrs, size): inline and striped versions.
    let cases: Vec<(&str, Vec<Attr>, usize)> = vec![
        ("comp-small", vec![Attr::Retention(comp)], 2_000),
        ("comp-big", vec![Attr::Retention(comp)], 900_000),
        ("gov", vec![Attr::Retention(gov)], 300_000),
        ("hold", vec![Attr::LegalHold], 5_000),
    ];
    let versions = run(&cfg, |e| {
        let cases = cases.clone();
        async move {
            e.create_bucket_with("lockd", None, None, None, true)
                .await
                .unwrap();
            let mut versions = Vec::new();
            for (i, (key, attrs, size)) in cases.iter().enumerate() {
                let info = e
                    .put(
                        "lockd",
                        key,
                        locked(attrs.clone()),
                        &mut MemBody::new(data(*size, i as u64)),
                    )
                    .await
                    .unwrap();
                versions.push(info.sel);
                // Churn, so compaction has dead space to reclaim around them.
                for g in 0..6u64 {
                    put(&e, "lockd", "churn", &data(700_000, 100 + g)).await;
                }
            }
            // An upload left to expire, with a lock waiting for its object.
            e.create_upload("lockd", "pending", locked(vec![Attr::LegalHold]), None)
                .await
                .unwrap();
            for (key, _, _) in &cases {
                // Deleting without a version only adds a delete marker.
                e.delete("lockd", key, None, false).await.unwrap();
            }
            versions
        }
    });
    let check = move |e: std::rc::Rc<cairn::engine::Engine>,
                      cases: Vec<(&'static str, Vec<Attr>, usize)>,
                      versions: Vec<VersionSel>| async move {
        for (i, ((key, attrs, size), v)) in cases.iter().zip(&versions).enumerate() {
            let (entry, bytes) = read_version(&e, "lockd", key, *v).await;
            assert_eq!(entry.meta.attrs, *attrs, "{key}");
            assert_eq!(bytes, data(*size, i as u64), "{key}");
            // Nobody removes it: not root, not with a bypass (except
            // GOVERNANCE, tried last).
            if *key == "gov" {
                continue;
            }
            let refused = e.delete("lockd", key, Some(*v), true).await;
            assert!(
                matches!(refused, Err(EngineError::ObjectLocked(_))),
                "{key}: {refused:?}"
            );
        }
    };
    let c2 = cases.clone();
    let v2 = versions.clone();
    run(&cfg, move |e| async move {
        let report = e.compact(0.0).await.unwrap();
        assert!(report.segments_removed > 0, "{report:?}");
        assert_eq!(
            e.expire_uploads(std::time::Duration::ZERO).await.unwrap(),
            1
        );
        check(e, c2, v2).await;
    });
    let (c3, v3) = (cases.clone(), versions.clone());
    run(&cfg, move |e| check(e, c3, v3));
    lose_index(&d.paths);
    let (c4, v4) = (cases.clone(), versions.clone());
    run(&cfg, move |e| async move {
        check(e.clone(), c4, v4.clone()).await;
        // GOVERNANCE yields to a bypass only.
        let gov_v = v4[2];
        assert!(matches!(
            e.delete("lockd", "gov", Some(gov_v), false).await,
            Err(EngineError::ObjectLocked(LockDenial::Retained(_)))
        ));
        e.delete("lockd", "gov", Some(gov_v), true).await.unwrap();
        assert!(e.lookup("lockd", "gov", Some(gov_v)).unwrap().is_none());
    });
}

#[test]
fn retention_rules_hold_in_the_engine_and_versioning_stays_on() {
    let d = drives(4);
    let cfg = config(&d, None);
    run(&cfg, |e| async move {
        e.create_bucket_with("rules", None, None, None, true)
            .await
            .unwrap();
        assert!(matches!(
            e.set_versioning("rules", cairn::engine::buckets::Versioning::Suspended)
                .await,
            Err(EngineError::InvalidBucketState(_))
        ));
        // Object lock needs versioning on.
        e.create_bucket("plain").await.unwrap();
        assert!(matches!(
            e.set_object_lock("plain", ObjectLockConfig::default())
                .await,
            Err(EngineError::InvalidBucketState(_))
        ));
        let config = ObjectLockConfig {
            default_retention: Some(DefaultRetention {
                mode: LockMode::Compliance,
                period: RetentionPeriod::Days(1),
            }),
        };
        e.set_object_lock("rules", config).await.unwrap();
        assert_eq!(e.object_lock("rules").unwrap(), Some(config));

        let until = now_ms() + DAY_MS;
        let comp = Retention {
            mode: LockMode::Compliance,
            until_ms: until,
        };
        let v = e
            .put(
                "rules",
                "k",
                locked(vec![Attr::Retention(comp)]),
                &mut MemBody::new(data(10, 1)),
            )
            .await
            .unwrap()
            .sel;
        let longer = Retention {
            until_ms: until + DAY_MS,
            ..comp
        };
        for shorter in [
            Some(Retention {
                until_ms: until - 1000,
                ..comp
            }),
            Some(Retention {
                mode: LockMode::Governance,
                until_ms: until + DAY_MS,
            }),
            None,
        ] {
            assert!(matches!(
                e.set_retention("rules", "k", Some(v), shorter, true).await,
                Err(EngineError::ObjectLocked(_))
            ));
        }
        e.set_retention("rules", "k", Some(v), Some(longer), false)
            .await
            .unwrap();
        let (got, _) = read_version(&e, "rules", "k", v).await;
        assert_eq!(got.meta.retention(), Some(longer));
        // A legal hold comes and goes freely, and blocks while on.
        e.set_legal_hold("rules", "k", Some(v), true).await.unwrap();
        e.set_legal_hold("rules", "k", Some(v), false)
            .await
            .unwrap();
        assert!(!read_version(&e, "rules", "k", v).await.0.meta.legal_hold());
    });
}
