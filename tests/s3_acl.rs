//! ACLs and object ownership controls end to end with aws-sdk-s3, as root:
//! canned ACLs and grant headers on writes, Put/Get of bucket and object
//! ACLs (headers or an AccessControlPolicy body), S3's error codes for bad
//! ACLs, ownership controls with BucketOwnerEnforced turning ACLs off, and
//! persistence: ACLs survive a restart, an overwrite resets the object's,
//! and object records written before ACLs existed read as private.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, CompletedMultipartUpload, CompletedPart, Grant, Grantee,
    ObjectCannedAcl, ObjectOwnership, Owner, OwnershipControls, OwnershipControlsRule, Permission,
    Type,
};
use aws_sdk_s3::Client;
use sha2::Digest;

mod binary;
use binary::*;

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// Root's canonical id: what every listing shows as the owner.
fn root_id() -> String {
    hex::encode(sha2::Sha256::digest(USER.as_bytes()))
}

/// A refused request: path, headers, body, status, S3 error code.
type Case = (
    &'static str,
    Vec<(String, String)>,
    String,
    u16,
    &'static str,
);

/// A grant as (grantee, permission): `id:<canonical id>` or the group URI.
type Flat = (String, String);

fn flatten(grants: &[Grant]) -> Vec<Flat> {
    grants
        .iter()
        .map(|g| {
            let who = g.grantee().expect("grantee");
            let name = match who.r#type() {
                Type::CanonicalUser => format!("id:{}", who.id().expect("id")),
                Type::Group => who.uri().expect("uri").to_owned(),
                t => panic!("unexpected grantee type {t:?}"),
            };
            (
                name,
                g.permission().expect("permission").as_str().to_owned(),
            )
        })
        .collect()
}

fn want(pairs: &[(&str, &str)]) -> Vec<Flat> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn owner_fc() -> (String, String) {
    (format!("id:{}", root_id()), "FULL_CONTROL".into())
}

async fn object_grants(c: &Client, bucket: &str, key: &str) -> Vec<Flat> {
    let r = c
        .get_object_acl()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object acl");
    assert_eq!(
        r.owner().and_then(|o| o.id()),
        Some(root_id().as_str()),
        "owner"
    );
    flatten(r.grants())
}

async fn bucket_grants(c: &Client, bucket: &str) -> Vec<Flat> {
    let r = c
        .get_bucket_acl()
        .bucket(bucket)
        .send()
        .await
        .expect("get bucket acl");
    assert_eq!(r.owner().and_then(|o| o.id()), Some(root_id().as_str()));
    flatten(r.grants())
}

/// A bucket with ACLs on (ObjectWriter), as S3 needs since 2023.
async fn acl_bucket(c: &Client, name: &str) {
    c.create_bucket()
        .bucket(name)
        .object_ownership(ObjectOwnership::ObjectWriter)
        .send()
        .await
        .expect("create bucket");
}

async fn put(c: &Client, bucket: &str, key: &str, acl: Option<ObjectCannedAcl>) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .set_acl(acl)
        .body(ByteStream::from_static(b"payload"))
        .send()
        .await
        .expect("put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_acls_on_writes_show_as_grants_survive_restart_and_reset_on_overwrite() {
    let mut srv = Server::start();
    let c = srv.client();
    acl_bucket(&c, "acls").await;
    let public = want(&[(&owner_fc().0, "FULL_CONTROL"), (ALL_USERS, "READ")]);

    put(&c, "acls", "pub", Some(ObjectCannedAcl::PublicRead)).await;
    assert_eq!(object_grants(&c, "acls", "pub").await, public);
    // The stored ACL is never sent back as a header, and the data is intact.
    let o = c
        .get_object()
        .bucket("acls")
        .key("pub")
        .send()
        .await
        .expect("get");
    assert!(o.metadata().is_none_or(|m| m.is_empty()));
    assert_eq!(get_bytes(&c, "acls", "pub").await, b"payload");

    // A multipart upload keeps its ACL until Complete.
    let up = c
        .create_multipart_upload()
        .bucket("acls")
        .key("mp")
        .acl(ObjectCannedAcl::AuthenticatedRead)
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("id");
    let part = c
        .upload_part()
        .bucket("acls")
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("part");
    c.complete_multipart_upload()
        .bucket("acls")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().expect("etag"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let authed = want(&[
        (&owner_fc().0, "FULL_CONTROL"),
        (AUTHENTICATED_USERS, "READ"),
    ]);
    assert_eq!(object_grants(&c, "acls", "mp").await, authed);

    // A copy gets the request's ACL, never the source's.
    c.copy_object()
        .bucket("acls")
        .key("copy-private")
        .copy_source("acls/pub")
        .send()
        .await
        .expect("copy");
    assert_eq!(
        object_grants(&c, "acls", "copy-private").await,
        vec![owner_fc()]
    );
    c.copy_object()
        .bucket("acls")
        .key("copy-public")
        .copy_source("acls/mp")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .expect("copy");
    assert_eq!(object_grants(&c, "acls", "copy-public").await, public);

    srv.restart();
    let c = srv.client();
    assert_eq!(object_grants(&c, "acls", "pub").await, public);
    assert_eq!(object_grants(&c, "acls", "mp").await, authed);
    // An overwrite is a new object: private again.
    put(&c, "acls", "pub", None).await;
    assert_eq!(object_grants(&c, "acls", "pub").await, vec![owner_fc()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_and_object_acls_are_set_by_body_or_grant_headers() {
    let mut srv = Server::start();
    let c = srv.client();
    acl_bucket(&c, "granted").await;
    assert_eq!(bucket_grants(&c, "granted").await, vec![owner_fc()]);

    let body = AccessControlPolicy::builder()
        .owner(Owner::builder().id(root_id()).build())
        .grants(
            Grant::builder()
                .grantee(
                    Grantee::builder()
                        .r#type(Type::CanonicalUser)
                        .id(root_id())
                        .build()
                        .expect("grantee"),
                )
                .permission(Permission::FullControl)
                .build(),
        )
        .grants(
            Grant::builder()
                .grantee(
                    Grantee::builder()
                        .r#type(Type::Group)
                        .uri(ALL_USERS)
                        .build()
                        .expect("grantee"),
                )
                .permission(Permission::Read)
                .build(),
        )
        .build();
    c.put_bucket_acl()
        .bucket("granted")
        .access_control_policy(body.clone())
        .send()
        .await
        .expect("put bucket acl with a body");
    let public = want(&[(&owner_fc().0, "FULL_CONTROL"), (ALL_USERS, "READ")]);
    assert_eq!(bucket_grants(&c, "granted").await, public);

    // Grant headers replace the whole ACL (no implicit owner grant).
    c.put_bucket_acl()
        .bucket("granted")
        .grant_read(format!("uri=\"{AUTHENTICATED_USERS}\""))
        .grant_write_acp(format!("id=\"{}\"", root_id()))
        .send()
        .await
        .expect("put bucket acl with grant headers");
    let by_headers = want(&[(AUTHENTICATED_USERS, "READ"), (&owner_fc().0, "WRITE_ACP")]);
    assert_eq!(bucket_grants(&c, "granted").await, by_headers);

    // Objects: grant headers on PUT, then a body on PutObjectAcl.
    c.put_object()
        .bucket("granted")
        .key("k")
        .grant_read(format!("uri=\"{ALL_USERS}\", id=\"{}\"", root_id()))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put with grants");
    assert_eq!(
        object_grants(&c, "granted", "k").await,
        want(&[(ALL_USERS, "READ"), (&owner_fc().0, "READ")])
    );
    c.put_object_acl()
        .bucket("granted")
        .key("k")
        .access_control_policy(body)
        .send()
        .await
        .expect("put object acl");
    assert_eq!(object_grants(&c, "granted", "k").await, public);
    c.put_object_acl()
        .bucket("granted")
        .key("k")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .expect("put object acl canned");
    assert_eq!(object_grants(&c, "granted", "k").await, vec![owner_fc()]);

    srv.restart();
    let c = srv.client();
    assert_eq!(bucket_grants(&c, "granted").await, by_headers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_conflicting_acls_get_s3_errors_and_change_nothing() {
    let srv = Server::start();
    let c = srv.client();
    acl_bucket(&c, "bad").await;
    put(&c, "bad", "k", Some(ObjectCannedAcl::PublicRead)).await;
    let before = object_grants(&c, "bad", "k").await;

    // Bodies are checked through raw requests: the SDK would refuse to
    // build some of them.
    let port = srv.port;
    let raw = move |method: &'static str,
                    path: &'static str,
                    headers: Vec<(String, String)>,
                    body: String| {
        tokio::task::spawn_blocking(move || {
            let mut h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            let len = body.len().to_string();
            h.push(("content-length", &len));
            let s = sign(
                port,
                method,
                path,
                &h,
                &sha256_hex(body.as_bytes()),
                PASSWORD,
                std::time::SystemTime::now(),
            );
            raw_request(
                port,
                &request_bytes(method, path, &s.headers, body.as_bytes()),
            )
            .expect("request")
        })
    };
    let grant = |who: &str, p: &str| {
        format!(
            "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"Group\">{who}</Grantee><Permission>{p}</Permission></Grant>"
        )
    };
    let doc = |grants: String| {
        format!("<AccessControlPolicy><Owner><ID>{}</ID></Owner><AccessControlList>{grants}</AccessControlList></AccessControlPolicy>", root_id())
    };
    let h = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned())];
    let cases: Vec<Case> = vec![
        ("/bad/k?acl", vec![], "<AccessControlPolicy>".into(), 400, "MalformedACLError"),
        ("/bad/k?acl", vec![], doc(grant(&format!("<URI>{ALL_USERS}</URI>"), "READ_EVERYTHING")), 400, "MalformedACLError"),
        ("/bad/k?acl", vec![], String::new(), 400, "MalformedACLError"),
        ("/bad/k?acl", vec![], doc(grant("<URI>http://acs.amazonaws.com/groups/global/Everyone</URI>", "READ")), 400, "InvalidArgument"),
        ("/bad/k?acl", vec![], doc(grant("<EmailAddress>nobody@example.com</EmailAddress>", "READ")), 400, "UnresolvableGrantByEmailAddress"),
        ("/bad/k?acl", vec![], doc(grant(&format!("<ID>{}</ID>", "0".repeat(64)), "READ")), 400, "InvalidArgument"),
        ("/bad/k?acl", h("x-amz-acl", "public-read"), doc(String::new()), 400, "InvalidRequest"),
        ("/bad/k?acl", h("x-amz-acl", "world-readable"), String::new(), 400, "InvalidArgument"),
        ("/bad/k?acl", h("x-amz-grant-read", "everyone"), String::new(), 400, "InvalidArgument"),
        (
            "/bad/k?acl",
            vec![
                ("x-amz-acl".into(), "private".into()),
                ("x-amz-grant-read".into(), format!("uri=\"{ALL_USERS}\"")),
            ],
            String::new(),
            400,
            "InvalidRequest",
        ),
        ("/bad?acl", vec![], "not xml".into(), 400, "MalformedACLError"),
        ("/bad?ownershipControls", vec![], "<OwnershipControls><Rule><ObjectOwnership>Mine</ObjectOwnership></Rule></OwnershipControls>".into(), 400, "MalformedXML"),
        ("/bad/k2", h("x-amz-acl", "world-readable"), "x".into(), 400, "InvalidArgument"),
        ("/bad/k2", h("x-amz-grant-full-control", "emailAddress=\"nobody@example.com\""), "x".into(), 400, "UnresolvableGrantByEmailAddress"),
    ];
    for (path, headers, body, status, code) in cases {
        let shown = format!("{path} {headers:?} {body}");
        let r = raw("PUT", path, headers, body).await.expect("join");
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert_eq!(r.status, status, "{shown}: {text}");
        assert_eq!(r.code(), code, "{shown}: {text}");
        let id = r.header("x-amz-request-id").expect("request id");
        assert!(
            text.contains(&format!("<RequestId>{id}</RequestId>")),
            "{text}"
        );
    }
    assert_eq!(object_grants(&c, "bad", "k").await, before);
    assert_eq!(bucket_grants(&c, "bad").await, vec![owner_fc()]);
    assert_eq!(
        code(c.head_object().bucket("bad").key("k2").send().await),
        "NotFound"
    );
    // A version that is not there.
    assert_eq!(
        code(
            c.get_object_acl()
                .bucket("bad")
                .key("k")
                .version_id("0".repeat(32))
                .send()
                .await
        ),
        "NoSuchVersion"
    );
    assert_eq!(
        code(c.get_object_acl().bucket("bad").key("none").send().await),
        "NoSuchKey"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_controls_round_trip_and_bucket_owner_enforced_turns_acls_off() {
    let srv = Server::start();
    let c = srv.client();
    // New buckets have ACLs off, as on S3.
    c.create_bucket()
        .bucket("owned")
        .send()
        .await
        .expect("create");
    let rule = |r: aws_sdk_s3::operation::get_bucket_ownership_controls::GetBucketOwnershipControlsOutput| {
        r.ownership_controls().expect("controls").rules()[0]
            .object_ownership()
            .clone()
    };
    let got = c
        .get_bucket_ownership_controls()
        .bucket("owned")
        .send()
        .await
        .expect("get controls");
    assert_eq!(rule(got), ObjectOwnership::BucketOwnerEnforced);

    assert_eq!(
        code(
            c.put_object()
                .bucket("owned")
                .key("k")
                .acl(ObjectCannedAcl::PublicRead)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "AccessControlListNotSupported"
    );
    assert_eq!(
        code(
            c.put_object()
                .bucket("owned")
                .key("k")
                .grant_read(format!("uri=\"{ALL_USERS}\""))
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "AccessControlListNotSupported"
    );
    // What rclone and older tools send still works.
    for acl in [
        None,
        Some(ObjectCannedAcl::Private),
        Some(ObjectCannedAcl::BucketOwnerFullControl),
    ] {
        put(&c, "owned", "k", acl).await;
    }
    assert_eq!(object_grants(&c, "owned", "k").await, vec![owner_fc()]);
    assert_eq!(
        code(
            c.put_object_acl()
                .bucket("owned")
                .key("k")
                .acl(ObjectCannedAcl::PublicRead)
                .send()
                .await
        ),
        "AccessControlListNotSupported"
    );
    assert_eq!(
        code(
            c.put_bucket_acl()
                .bucket("owned")
                .acl(BucketCannedAcl::PublicRead)
                .send()
                .await
        ),
        "AccessControlListNotSupported"
    );
    assert_eq!(
        code(
            c.copy_object()
                .bucket("owned")
                .key("copy")
                .copy_source("owned/k")
                .acl(ObjectCannedAcl::PublicReadWrite)
                .send()
                .await
        ),
        "AccessControlListNotSupported"
    );

    // ACLs on: the same requests work.
    let controls = |o: ObjectOwnership| {
        OwnershipControls::builder()
            .rules(
                OwnershipControlsRule::builder()
                    .object_ownership(o)
                    .build()
                    .expect("rule"),
            )
            .build()
            .expect("controls")
    };
    c.put_bucket_ownership_controls()
        .bucket("owned")
        .ownership_controls(controls(ObjectOwnership::ObjectWriter))
        .send()
        .await
        .expect("put controls");
    let got = c
        .get_bucket_ownership_controls()
        .bucket("owned")
        .send()
        .await
        .expect("get controls");
    assert_eq!(rule(got), ObjectOwnership::ObjectWriter);
    c.put_bucket_acl()
        .bucket("owned")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .expect("public bucket acl");
    put(&c, "owned", "pub", Some(ObjectCannedAcl::PublicRead)).await;
    assert_eq!(
        object_grants(&c, "owned", "pub").await,
        want(&[(&owner_fc().0, "FULL_CONTROL"), (ALL_USERS, "READ")])
    );
    // ACLs cannot be turned off while the bucket's ACL grants others.
    assert_eq!(
        code(
            c.put_bucket_ownership_controls()
                .bucket("owned")
                .ownership_controls(controls(ObjectOwnership::BucketOwnerEnforced))
                .send()
                .await
        ),
        "InvalidBucketAclWithObjectOwnership"
    );
    c.put_bucket_acl()
        .bucket("owned")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .expect("private bucket acl");
    c.put_bucket_ownership_controls()
        .bucket("owned")
        .ownership_controls(controls(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .expect("enforce");
    // Turned off, reads show the bucket owner's full control only.
    assert_eq!(object_grants(&c, "owned", "pub").await, vec![owner_fc()]);

    c.delete_bucket_ownership_controls()
        .bucket("owned")
        .send()
        .await
        .expect("delete controls");
    assert_eq!(
        code(
            c.get_bucket_ownership_controls()
                .bucket("owned")
                .send()
                .await
        ),
        "OwnershipControlsNotFoundError"
    );
    // Without controls ACLs apply again, and the stored one is back.
    assert_eq!(
        object_grants(&c, "owned", "pub").await,
        want(&[(&owner_fc().0, "FULL_CONTROL"), (ALL_USERS, "READ")])
    );

    // CreateBucket: a public ACL needs ACLs on.
    assert_eq!(
        code(
            c.create_bucket()
                .bucket("public-enforced")
                .acl(BucketCannedAcl::PublicRead)
                .send()
                .await
        ),
        "InvalidBucketAclWithObjectOwnership"
    );
    c.create_bucket()
        .bucket("public-writer")
        .acl(BucketCannedAcl::PublicRead)
        .object_ownership(ObjectOwnership::BucketOwnerPreferred)
        .send()
        .await
        .expect("create with acl");
    assert_eq!(
        bucket_grants(&c, "public-writer").await,
        want(&[(&owner_fc().0, "FULL_CONTROL"), (ALL_USERS, "READ")])
    );
    assert_eq!(
        code(
            c.get_bucket_ownership_controls()
                .bucket("missing")
                .send()
                .await
        ),
        "NoSuchBucket"
    );
}

/// Object records written before ACLs existed have no ACL entry: written
/// here through the engine API, as every earlier version wrote them, then
/// served by the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_records_written_before_acls_read_as_private() {
    let dir = tempfile::tempdir().expect("tempdir");
    let drives: Vec<std::path::PathBuf> = (0..4)
        .map(|i| dir.path().join(format!("drive{i}")))
        .collect();
    for d in &drives {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let mut cfg = cairn::engine::EngineConfig::new(drives, 1);
    cfg.partitions = 16;
    cfg.segment_max = 16 << 20;
    let (shared, inboxes) = cairn::engine::Engine::open(&cfg).expect("engine opens");
    let s2 = shared.clone();
    cairn::runtime::block_on(async move {
        let e = cairn::engine::Engine::start_core(s2, 0, inboxes[0].clone()).expect("core");
        e.create_bucket("old").await.expect("bucket");
        for (key, len) in [("small", 100usize), ("large", 2 << 20)] {
            e.put(
                "old",
                key,
                cairn::engine::PutOptions {
                    headers: vec![("cache-control".into(), "no-cache".into())],
                    ..Default::default()
                },
                &mut cairn::engine::MemBody::new(data(len, 3)),
            )
            .await
            .expect("put");
        }
        e.quiesce().await;
    })
    .expect("runtime");
    shared.close().expect("close");

    let srv = Server::start_in(dir, &[]);
    let c = srv.client();
    for key in ["small", "large"] {
        assert_eq!(
            object_grants(&c, "old", key).await,
            vec![owner_fc()],
            "{key}"
        );
        let o = c
            .get_object()
            .bucket("old")
            .key(key)
            .send()
            .await
            .expect("get");
        assert_eq!(o.cache_control(), Some("no-cache"));
    }
    assert_eq!(bucket_grants(&c, "old").await, vec![owner_fc()]);
    // A bucket from before ownership controls has none, and ACLs on.
    assert_eq!(
        code(c.get_bucket_ownership_controls().bucket("old").send().await),
        "OwnershipControlsNotFoundError"
    );
    c.put_object_acl()
        .bucket("old")
        .key("large")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .expect("acl on an old object");
    assert_eq!(
        object_grants(&c, "old", "large").await,
        want(&[(&owner_fc().0, "FULL_CONTROL"), (ALL_USERS, "READ")])
    );
    assert_eq!(get_bytes(&c, "old", "large").await, data(2 << 20, 3));
}
