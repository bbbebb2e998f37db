//! Object lock through the S3 API with aws-sdk-s3 against the real binary:
//! a locked version cannot be deleted by id or have its retention shortened
//! (COMPLIANCE: by anyone; GOVERNANCE: without a permitted bypass), a legal
//! hold blocks deletion until removed, versioning cannot be suspended, and
//! every refusal answers S3's code.

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, DefaultRetention, Delete,
    ObjectIdentifier, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
    ObjectLockRule, VersioningConfiguration,
};
use aws_sdk_s3::Client;

mod binary;
use binary::*;

fn in_days(days: i64) -> DateTime {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    DateTime::from_secs(now + days * 86_400)
}

fn retention(mode: ObjectLockRetentionMode, days: i64) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(mode)
        .retain_until_date(in_days(days))
        .build()
}

async fn locked_bucket(c: &Client, bucket: &str) {
    c.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create a bucket with object lock");
}

async fn put_locked(
    c: &Client,
    bucket: &str,
    key: &str,
    mode: ObjectLockMode,
    days: i64,
) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"kept"))
        .object_lock_mode(mode)
        .object_lock_retain_until_date(in_days(days))
        .send()
        .await
        .expect("put with retention")
        .version_id()
        .expect("a version id")
        .to_owned()
}

async fn delete_version(
    c: &Client,
    bucket: &str,
    key: &str,
    v: &str,
    bypass: bool,
) -> Result<(), String> {
    let mut req = c.delete_object().bucket(bucket).key(key).version_id(v);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send().await.map(|_| ()).map_err(|e| {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        e.code().unwrap_or("none").to_owned()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_enabled_bucket_keeps_versioning_on_and_reports_its_configuration() {
    let s = Server::start();
    let c = s.client();
    locked_bucket(&c, "lock-cfg").await;
    let v = c
        .get_bucket_versioning()
        .bucket("lock-cfg")
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let cfg = c
        .get_object_lock_configuration()
        .bucket("lock-cfg")
        .send()
        .await
        .unwrap();
    let cfg = cfg.object_lock_configuration().unwrap();
    assert_eq!(cfg.object_lock_enabled(), Some(&ObjectLockEnabled::Enabled));
    assert!(cfg.rule().is_none());
    let suspend = c
        .put_bucket_versioning()
        .bucket("lock-cfg")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(suspend), "InvalidBucketState");

    // A default retention applies to versions written without their own.
    let rule = ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(
                    DefaultRetention::builder()
                        .mode(ObjectLockRetentionMode::Governance)
                        .days(2)
                        .build(),
                )
                .build(),
        )
        .build();
    c.put_object_lock_configuration()
        .bucket("lock-cfg")
        .object_lock_configuration(rule)
        .send()
        .await
        .unwrap();
    let got = c
        .get_object_lock_configuration()
        .bucket("lock-cfg")
        .send()
        .await
        .unwrap();
    let d = got
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .and_then(|r| r.default_retention())
        .expect("the default retention");
    assert_eq!(
        (d.mode(), d.days()),
        (Some(&ObjectLockRetentionMode::Governance), Some(2))
    );
    c.put_object()
        .bucket("lock-cfg")
        .key("by-default")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let h = c
        .head_object()
        .bucket("lock-cfg")
        .key("by-default")
        .send()
        .await
        .unwrap();
    assert_eq!(h.object_lock_mode(), Some(&ObjectLockMode::Governance));
    let until = h
        .object_lock_retain_until_date()
        .expect("a retain-until date")
        .secs();
    let want = in_days(2).secs();
    assert!(
        (want - until).abs() < 120,
        "retained until {until}, want about {want}"
    );

    // The configuration survives a restart.
    let mut s = s;
    s.restart();
    let c = s.client();
    let got = c
        .get_object_lock_configuration()
        .bucket("lock-cfg")
        .send()
        .await
        .unwrap();
    assert!(got
        .object_lock_configuration()
        .and_then(|c| c.rule())
        .is_some());

    // Buckets without object lock answer S3's refusals.
    c.create_bucket().bucket("plain").send().await.unwrap();
    let none = c
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await;
    assert_eq!(code(none), "ObjectLockConfigurationNotFoundError");
    let unversioned = c
        .put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .build(),
        )
        .send()
        .await;
    assert_eq!(code(unversioned), "InvalidBucketState");
    let header = c
        .put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_days(1))
        .send()
        .await;
    assert_eq!(code(header), "InvalidRequest");
    c.put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let ret = c
        .get_object_retention()
        .bucket("plain")
        .key("k")
        .send()
        .await;
    assert_eq!(code(ret), "InvalidRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_retention_refuses_everyone_until_its_date() {
    let s = Server::start();
    let c = s.client();
    locked_bucket(&c, "lock-comp").await;
    let v = put_locked(&c, "lock-comp", "k", ObjectLockMode::Compliance, 3).await;
    let h = c
        .head_object()
        .bucket("lock-comp")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(h.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    // Root, with or without a bypass.
    for bypass in [false, true] {
        assert_eq!(
            delete_version(&c, "lock-comp", "k", &v, bypass).await,
            Err("AccessDenied".into())
        );
    }
    // Shortening, switching to GOVERNANCE or removing: refused.
    for r in [
        retention(ObjectLockRetentionMode::Compliance, 1),
        retention(ObjectLockRetentionMode::Governance, 5),
        ObjectLockRetention::builder().build(),
    ] {
        let put = c
            .put_object_retention()
            .bucket("lock-comp")
            .key("k")
            .version_id(&v)
            .retention(r)
            .bypass_governance_retention(true)
            .send()
            .await;
        assert_eq!(code(put), "AccessDenied");
    }
    // Extending: allowed.
    c.put_object_retention()
        .bucket("lock-comp")
        .key("k")
        .version_id(&v)
        .retention(retention(ObjectLockRetentionMode::Compliance, 10))
        .send()
        .await
        .unwrap();
    let got = c
        .get_object_retention()
        .bucket("lock-comp")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    let r = got.retention().unwrap();
    assert_eq!(r.mode(), Some(&ObjectLockRetentionMode::Compliance));
    assert!((r.retain_until_date().unwrap().secs() - in_days(10).secs()).abs() < 120);
    // A delete without a version only hides it behind a marker.
    let del = c
        .delete_object()
        .bucket("lock-comp")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    assert_eq!(
        c.get_object()
            .bucket("lock-comp")
            .key("k")
            .version_id(&v)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes()
            .as_ref(),
        b"kept"
    );
    // DeleteObjects refuses the locked version in its own entry.
    let out = c
        .delete_objects()
        .bucket("lock-comp")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("k")
                        .version_id(&v)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.errors().len(), 1, "{out:?}");
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governance_retention_yields_only_to_a_permitted_bypass() {
    let s = Server::start();
    let c = s.client();
    locked_bucket(&c, "lock-gov").await;
    let v = put_locked(&c, "lock-gov", "k", ObjectLockMode::Governance, 3).await;
    assert_eq!(
        delete_version(&c, "lock-gov", "k", &v, false).await,
        Err("AccessDenied".into())
    );
    // A bucket policy that denies the bypass permission binds root too.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",
        "Action":"s3:BypassGovernanceRetention","Resource":"arn:aws:s3:::lock-gov/*"}]}"#;
    c.put_bucket_policy()
        .bucket("lock-gov")
        .policy(deny)
        .send()
        .await
        .unwrap();
    assert_eq!(
        delete_version(&c, "lock-gov", "k", &v, true).await,
        Err("AccessDenied".into())
    );
    let shorten = c
        .put_object_retention()
        .bucket("lock-gov")
        .key("k")
        .version_id(&v)
        .retention(retention(ObjectLockRetentionMode::Governance, 1))
        .bypass_governance_retention(true)
        .send()
        .await;
    assert_eq!(code(shorten), "AccessDenied");
    c.delete_bucket_policy()
        .bucket("lock-gov")
        .send()
        .await
        .unwrap();
    // With the permission, a bypass shortens it, then deletes the version.
    c.put_object_retention()
        .bucket("lock-gov")
        .key("k")
        .version_id(&v)
        .retention(retention(ObjectLockRetentionMode::Governance, 1))
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    delete_version(&c, "lock-gov", "k", &v, true).await.unwrap();
    let gone = c
        .head_object()
        .bucket("lock-gov")
        .key("k")
        .version_id(&v)
        .send()
        .await;
    assert!(gone.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legal_hold_blocks_deletion_until_it_is_removed() {
    let s = Server::start();
    let c = s.client();
    locked_bucket(&c, "lock-hold").await;
    // A version whose hold was never set has none to show, as on S3.
    c.put_object()
        .bucket("lock-hold")
        .key("never")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let none = c
        .get_object_legal_hold()
        .bucket("lock-hold")
        .key("never")
        .send()
        .await;
    assert_eq!(code(none), "NoSuchObjectLockConfiguration");
    let v = c
        .put_object()
        .bucket("lock-hold")
        .key("k")
        .body(ByteStream::from_static(b"held"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let h = c
        .head_object()
        .bucket("lock-hold")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    assert_eq!(
        delete_version(&c, "lock-hold", "k", &v, true).await,
        Err("AccessDenied".into())
    );
    let set = |status| {
        c.put_object_legal_hold()
            .bucket("lock-hold")
            .key("k")
            .version_id(&v)
            .legal_hold(ObjectLockLegalHold::builder().status(status).build())
            .send()
    };
    set(ObjectLockLegalHoldStatus::Off).await.unwrap();
    let got = c
        .get_object_legal_hold()
        .bucket("lock-hold")
        .key("k")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.legal_hold().and_then(|l| l.status()),
        Some(&ObjectLockLegalHoldStatus::Off)
    );
    // No retention on this version: S3's 404 for its retention.
    let ret = c
        .get_object_retention()
        .bucket("lock-hold")
        .key("k")
        .send()
        .await;
    assert_eq!(code(ret), "NoSuchObjectLockConfiguration");
    delete_version(&c, "lock-hold", "k", &v, false)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_set_on_copies_and_multipart_uploads_and_bad_headers_are_refused() {
    let s = Server::start();
    let c = s.client();
    locked_bucket(&c, "lock-mp").await;
    let up = c
        .create_multipart_upload()
        .bucket("lock-mp")
        .key("big")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_days(2))
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket("lock-mp")
        .key("big")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(data(100_000, 1)))
        .send()
        .await
        .unwrap();
    let done = c
        .complete_multipart_upload()
        .bucket("lock-mp")
        .key("big")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v = done.version_id().unwrap().to_owned();
    assert_eq!(
        delete_version(&c, "lock-mp", "big", &v, true).await,
        Err("AccessDenied".into())
    );
    let copy = c
        .copy_object()
        .bucket("lock-mp")
        .key("copy")
        .copy_source("lock-mp/big")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let h = c
        .head_object()
        .bucket("lock-mp")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    // The source's retention is not copied.
    assert_eq!(h.object_lock_mode(), None);
    assert!(copy.version_id().is_some());

    let past = c
        .put_object()
        .bucket("lock-mp")
        .key("p")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_days(-1))
        .send()
        .await;
    assert_eq!(code(past), "InvalidArgument");
    let half = c
        .put_object()
        .bucket("lock-mp")
        .key("p")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .send()
        .await;
    assert_eq!(code(half), "InvalidArgument");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_headers_reach_only_callers_who_may_read_the_lock() {
    let s = Server::start();
    let c = s.client();
    locked_bucket(&c, "lock-see").await;
    let v = put_locked(&c, "lock-see", "k", ObjectLockMode::Governance, 3).await;
    c.put_object_legal_hold()
        .bucket("lock-see")
        .key("k")
        .version_id(&v)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let head = |c: Client| async move {
        let h = c
            .head_object()
            .bucket("lock-see")
            .key("k")
            .send()
            .await
            .unwrap();
        (
            h.object_lock_mode().cloned(),
            h.object_lock_retain_until_date().is_some(),
            h.object_lock_legal_hold_status().cloned(),
        )
    };
    assert_eq!(
        head(c.clone()).await,
        (
            Some(ObjectLockMode::Governance),
            true,
            Some(ObjectLockLegalHoldStatus::On)
        )
    );
    // Denied the retention, the caller sees the hold only; denied both,
    // neither (a policy's Deny binds root too).
    for (actions, want) in [
        (
            r#""s3:GetObjectRetention""#,
            (None, false, Some(ObjectLockLegalHoldStatus::On)),
        ),
        (
            r#"["s3:GetObjectRetention","s3:GetObjectLegalHold"]"#,
            (None, false, None),
        ),
    ] {
        let deny = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*",
            "Action":{actions},"Resource":"arn:aws:s3:::lock-see/*"}}]}}"#
        );
        c.put_bucket_policy()
            .bucket("lock-see")
            .policy(deny)
            .send()
            .await
            .unwrap();
        assert_eq!(head(c.clone()).await, want, "{actions}");
    }
}
