//! Tenants (issue 17) against the real binary, set up through `cairn
//! admin` and used through aws-sdk-s3: two tenants' buckets of one name
//! never see each other, ListBuckets shows a caller only its tenant's,
//! no caller names another tenant's bucket by any name, global users are
//! as before, a tenant sums its buckets' usage, all of it survives a
//! restart; a tenant's users configure their buckets (policy, lifecycle,
//! CORS, encryption, ownership, logging, notifications) and what comes
//! back names the buckets as they do; a tenant's quota limits all its
//! buckets together; and the admin API's tenant shapes and refusals.

mod binary;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use binary::cli::Cli;
use binary::{client, code, get_bytes, Server};
use serde_json::Value;
use std::time::Duration;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// `cairn admin` as root, with a policy `readwrite` (all of S3).
fn admin(s: &Server) -> Cli {
    let cli = Cli::for_server(s);
    cli.readwrite_policy();
    cli
}

/// A user allowed all of S3, in `tenant` (empty: global), and its client.
fn user(cli: &Cli, s: &Server, name: &str, tenant: &str) -> (Client, String, String) {
    let (ak, sk) = cli.readwrite_user(name, tenant);
    (client(&s.endpoint(), &ak, &sk), ak, sk)
}

async fn put(c: &Client, bucket: &str, key: &str, body: &str) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"));
}

async fn keys(c: &Client, bucket: &str) -> Vec<String> {
    let r = c
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("list");
    assert_eq!(
        r.name(),
        Some(bucket),
        "the listing names the bucket as asked"
    );
    r.contents()
        .iter()
        .map(|o| o.key().unwrap_or("").to_owned())
        .collect()
}

async fn buckets(c: &Client) -> Vec<String> {
    let r = c.list_buckets().send().await.expect("list buckets");
    r.buckets()
        .iter()
        .map(|b| b.name().unwrap_or("").to_owned())
        .collect()
}

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|x| x.as_str().or(x["name"].as_str()).unwrap_or("").to_owned())
        .collect()
}

#[test]
fn two_tenants_buckets_of_one_name_never_see_each_other_and_survive_a_restart() {
    let mut s = Server::start();
    let cli = admin(&s);
    cli.ok(&["tenant", "add", "local", "acme"]);
    cli.ok(&["tenant", "add", "local", "globex"]);
    let (ann, _, _) = user(&cli, &s, "ann", "acme");
    let (gus, _, _) = user(&cli, &s, "gus", "globex");
    let (gil, _, _) = user(&cli, &s, "gil", "");
    let root = s.client();
    const B: &str = "shared-name";

    block_on(async {
        // One name, three buckets: each tenant's and the global one.
        for c in [&ann, &gus, &root] {
            c.create_bucket().bucket(B).send().await.expect("create");
        }
        put(&ann, B, "acme.txt", "from acme").await;
        put(&gus, B, "globex.txt", "from globex").await;
        put(&gil, B, "global.txt", "from the global namespace").await;

        assert_eq!(keys(&ann, B).await, ["acme.txt"]);
        assert_eq!(keys(&gus, B).await, ["globex.txt"]);
        assert_eq!(keys(&root, B).await, ["global.txt"]);
        assert_eq!(keys(&gil, B).await, ["global.txt"]);
        assert_eq!(get_bytes(&ann, B, "acme.txt").await, b"from acme");
        for (c, other) in [
            (&ann, "globex.txt"),
            (&gus, "acme.txt"),
            (&root, "acme.txt"),
        ] {
            let r = c.get_object().bucket(B).key(other).send().await;
            assert_eq!(code(r), "NoSuchKey");
        }
        // The name again in the tenant: the tenant's own bucket.
        assert_eq!(
            code(ann.create_bucket().bucket(B).send().await),
            "BucketAlreadyOwnedByYou"
        );

        // ListBuckets: the caller's tenant's buckets only, by their names.
        ann.create_bucket()
            .bucket("acme-only")
            .send()
            .await
            .expect("create");
        assert_eq!(buckets(&ann).await, ["acme-only", B]);
        assert_eq!(buckets(&gus).await, [B]);
        assert_eq!(buckets(&root).await, [B]);
        assert_eq!(buckets(&gil).await, [B]);
        assert_eq!(
            code(gus.head_bucket().bucket("acme-only").send().await),
            "NotFound"
        );
        assert_eq!(
            code(root.list_objects_v2().bucket("acme-only").send().await),
            "NoSuchBucket"
        );

        // The stored name, `tenant:bucket`, is no name a request can give.
        for c in [&gus, &gil, &root] {
            let r = c.list_objects_v2().bucket("acme:shared-name").send().await;
            assert_eq!(code(r), "InvalidBucketName");
            let r = c
                .get_object()
                .bucket("acme:shared-name")
                .key("acme.txt")
                .send()
                .await;
            assert_eq!(code(r), "InvalidBucketName");
        }
        let r = gus
            .copy_object()
            .bucket(B)
            .key("stolen")
            .copy_source("acme:shared-name/acme.txt")
            .send()
            .await;
        assert_eq!(code(r), "InvalidArgument");

        // Copies and multipart uploads stay in the tenant.
        gus.copy_object()
            .bucket(B)
            .key("copy.txt")
            .copy_source(format!("{B}/globex.txt"))
            .send()
            .await
            .expect("copy in the tenant");
        assert_eq!(get_bytes(&gus, B, "copy.txt").await, b"from globex");
        let up = gus
            .create_multipart_upload()
            .bucket(B)
            .key("big")
            .send()
            .await
            .expect("create upload");
        assert_eq!(up.bucket(), Some(B));
        let id = up.upload_id().expect("upload id");
        let part = gus
            .upload_part()
            .bucket(B)
            .key("big")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(b"one part".to_vec()))
            .send()
            .await
            .expect("part");
        let done = gus
            .complete_multipart_upload()
            .bucket(B)
            .key("big")
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag(part.e_tag().unwrap_or(""))
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("complete");
        assert_eq!(done.bucket(), Some(B));
        assert_eq!(keys(&gus, B).await, ["big", "copy.txt", "globex.txt"]);
        assert_eq!(keys(&ann, B).await, ["acme.txt"]);

        // Website hosting finds buckets by Host name, which names no
        // tenant: refused, not half done.
        let r = ann.get_bucket_website().bucket(B).send().await;
        assert_eq!(code(r), "NotImplemented");
    });
    // The tenant's usage is its buckets'.
    let info = cli.json(&["tenant", "info", "local", "acme"]);
    assert_eq!(names(&info, "users"), ["ann"]);
    assert_eq!(names(&info, "buckets"), ["acme-only", B]);
    assert_eq!(info["usage"]["objects"], 1, "{info}");
    assert_eq!(info["usage"]["bytes"], "from acme".len(), "{info}");

    s.restart();
    block_on(async {
        assert_eq!(keys(&ann, B).await, ["acme.txt"]);
        assert_eq!(keys(&gus, B).await, ["big", "copy.txt", "globex.txt"]);
        assert_eq!(keys(&root, B).await, ["global.txt"]);
        assert_eq!(buckets(&ann).await, ["acme-only", B]);
    });
    let list = cli.json(&["tenant", "ls", "local"]);
    assert_eq!(names(&list, "tenants"), ["acme", "globex"]);
    assert_eq!(list["tenants"][0]["users"], 1);
    assert_eq!(list["tenants"][0]["buckets"], 2);
}

#[test]
fn tenant_admin_refuses_bad_names_duplicates_unknown_tenants_and_tenants_not_empty() {
    let s = Server::start();
    let cli = admin(&s);
    let refused = |args: &[&str], what: &str| {
        let o = cli.run(args);
        assert_eq!(o.code, 1, "{args:?}: {}", o.stdout);
        assert!(o.stderr.contains(what), "{args:?}: {}", o.stderr);
    };

    let v = cli.json(&["tenant", "add", "local", "acme"]);
    assert_eq!(v["name"], "acme");
    assert!(
        v["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{v}"
    );
    assert_eq!(names(&v, "users"), Vec::<String>::new());
    refused(&["tenant", "add", "local", "acme"], "TenantAlreadyExists");
    for bad in ["Acme", "a:b", "a.b", &"x".repeat(65)] {
        refused(&["tenant", "add", "local", bad], "InvalidArgument");
    }
    refused(&["tenant", "info", "local", "nope"], "NoSuchTenant");
    refused(
        &["tenant", "rm", "local", "nope", "--force"],
        "NoSuchTenant",
    );
    refused(
        &["user", "add", "local", "ann", "--tenant", "nope"],
        "NoSuchTenant",
    );
    assert!(cli.ok(&["tenant", "ls", "local"]).contains("acme"));

    // A tenant with a bucket, then with only a user, is not empty.
    let (ann, ak, sk) = user(&cli, &s, "ann", "acme");
    block_on(async {
        ann.create_bucket()
            .bucket("bucket-one")
            .send()
            .await
            .expect("create");
    });
    refused(
        &["tenant", "rm", "local", "acme", "--force"],
        "TenantNotEmpty",
    );
    block_on(async {
        ann.delete_bucket()
            .bucket("bucket-one")
            .send()
            .await
            .expect("delete");
    });
    refused(
        &["tenant", "rm", "local", "acme", "--force"],
        "TenantNotEmpty",
    );

    // A tenant's user reaches neither the admin API nor IAM.
    let own = Cli::new();
    own.ok(&["alias", "set", "ann", &s.endpoint(), &ak, &sk, "--no-check"]);
    let o = own.run(&["user", "list", "ann"]);
    assert!(o.stderr.contains("AccessDenied"), "{}", o.stderr);
    let iam = binary::iam_client(&s.endpoint(), &ak, &sk);
    block_on(async {
        assert_eq!(code(iam.list_users().send().await), "AccessDenied");
    });
    // STS: a session token (how the console signs in) acts as the user,
    // in its tenant; a role, global, cannot be assumed.
    let sts = binary::sts_client(&s.endpoint(), &ak, &sk, None);
    block_on(async {
        let who = sts
            .get_caller_identity()
            .send()
            .await
            .expect("caller identity");
        assert!(
            who.arn().is_some_and(|a| a.ends_with("user/ann")),
            "{who:?}"
        );
        let t = sts.get_session_token().send().await.expect("session token");
        let cr = t.credentials().expect("credentials");
        let session = binary::s3_config(
            &s.endpoint(),
            cr.access_key_id(),
            cr.secret_access_key(),
            Some(cr.session_token()),
        )
        .build();
        let session = Client::from_conf(session);
        session
            .create_bucket()
            .bucket("from-session")
            .send()
            .await
            .expect("create in the session");
        assert_eq!(buckets(&session).await, ["from-session"]);
        assert_eq!(buckets(&ann).await, ["from-session"]);
        let root = s.client();
        assert!(!buckets(&root).await.contains(&"from-session".to_owned()));
        session
            .delete_bucket()
            .bucket("from-session")
            .send()
            .await
            .expect("delete");
        let r = sts
            .assume_role()
            .role_arn("arn:aws:iam::000000000000:role/any")
            .role_session_name("s")
            .send()
            .await;
        assert_eq!(code(r), "AccessDenied");
    });

    cli.ok(&["user", "remove", "local", "ann", "--force"]);
    cli.ok(&["tenant", "rm", "local", "acme", "--force"]);
    assert_eq!(
        names(&cli.json(&["tenant", "ls", "local"]), "tenants"),
        Vec::<String>::new()
    );
    // Global users are as before: no tenant.
    let v = cli.json(&["user", "add", "local", "gil"]);
    assert_eq!(v["tenant"], "");
}

/// A `tenant quota` answer's bytes (`None`: no quota).
fn quota_of(cli: &Cli, tenant: &str) -> Option<u64> {
    let v = cli.json(&["tenant", "quota", "local", tenant]);
    assert_eq!(v["tenant"], tenant, "{v}");
    v["quotaBytes"].as_u64()
}

async fn put_result(c: &Client, bucket: &str, key: &str, len: usize) -> Result<(), String> {
    let r = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(vec![b'q'; len]))
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(code::<(), _>(Err(e))),
    }
}

#[test]
fn a_tenants_quota_limits_all_its_buckets_together_and_survives_a_restart() {
    let mut s = Server::start();
    let cli = admin(&s);
    cli.ok(&["tenant", "add", "local", "acme"]);
    cli.ok(&["tenant", "add", "local", "globex"]);
    let (ann, _, _) = user(&cli, &s, "ann", "acme");
    let (gus, _, _) = user(&cli, &s, "gus", "globex");
    let root = s.client();
    assert_eq!(quota_of(&cli, "acme"), None);
    let set = cli.json(&["tenant", "quota", "local", "acme", "--set", "100"]);
    assert_eq!(set["quotaBytes"], 100, "{set}");
    assert_eq!(quota_of(&cli, "acme"), Some(100));
    let info = cli.json(&["tenant", "info", "local", "acme"]);
    assert_eq!(info["quotaBytes"], 100, "{info}");

    block_on(async {
        for b in ["one", "two"] {
            ann.create_bucket().bucket(b).send().await.expect("create");
            gus.create_bucket().bucket(b).send().await.expect("create");
            root.create_bucket().bucket(b).send().await.expect("create");
        }
        // 60 + 40 fill the tenant across its two buckets.
        put_result(&ann, "one", "a", 60).await.expect("60 of 100");
        assert_eq!(
            put_result(&ann, "two", "b", 50).await,
            Err("QuotaExceeded".into()),
            "the other bucket counts"
        );
        put_result(&ann, "two", "b", 40).await.expect("exactly 100");
        assert_eq!(
            put_result(&ann, "two", "c", 1).await,
            Err("QuotaExceeded".into())
        );
        // A part that could not complete within it is refused up front.
        let up = ann
            .create_multipart_upload()
            .bucket("one")
            .key("mp")
            .send()
            .await
            .expect("an upload starts at the quota");
        let id = up.upload_id().expect("id");
        let part = ann
            .upload_part()
            .bucket("one")
            .key("mp")
            .upload_id(id)
            .part_number(1)
            .body(ByteStream::from(vec![b'p'; 10]))
            .send()
            .await;
        assert_eq!(code(part), "QuotaExceeded");
        ann.abort_multipart_upload()
            .bucket("one")
            .key("mp")
            .upload_id(id)
            .send()
            .await
            .expect("abort");
        assert_eq!(keys(&ann, "one").await, ["a"]);
        // Other tenants and the global namespace are not limited by it.
        put_result(&gus, "one", "big", 1000)
            .await
            .expect("globex has no quota");
        put_result(&root, "one", "big", 1000)
            .await
            .expect("global has no quota");
        // A delete makes room.
        ann.delete_object()
            .bucket("one")
            .key("a")
            .send()
            .await
            .expect("delete");
        put_result(&ann, "one", "c", 50)
            .await
            .expect("room after the delete");
    });
    let info = cli.json(&["tenant", "info", "local", "acme"]);
    assert_eq!(info["usage"]["versionBytes"], 90, "{info}");

    // The tenant's sums are counted again from the index at start-up.
    s.restart();
    assert_eq!(quota_of(&cli, "acme"), Some(100));
    block_on(async {
        assert_eq!(
            put_result(&ann, "two", "d", 20).await,
            Err("QuotaExceeded".into())
        );
        put_result(&ann, "two", "d", 10)
            .await
            .expect("exactly 100 again");
        // A bucket quota below the tenant's answers as a bucket's does.
        cli.ok(&["bucket", "quota", "local", "globex:two", "--set", "5"]);
        assert_eq!(
            put_result(&gus, "two", "x", 6).await,
            Err("XMinioAdminBucketQuotaExceeded".into())
        );
    });
    // Cleared: no limit.
    let v = cli.json(&["tenant", "quota", "local", "acme", "--clear"]);
    assert_eq!(v["quotaBytes"], Value::Null, "{v}");
    block_on(async {
        put_result(&ann, "two", "e", 500).await.expect("no quota");
    });

    // A removed tenant takes its quota with it.
    cli.ok(&["tenant", "quota", "local", "acme", "--set", "1000"]);
    block_on(async {
        for (b, ks) in [("one", &["c"][..]), ("two", &["b", "d", "e"][..])] {
            for k in ks {
                ann.delete_object()
                    .bucket(b)
                    .key(*k)
                    .send()
                    .await
                    .expect("delete");
            }
            ann.delete_bucket()
                .bucket(b)
                .send()
                .await
                .expect("delete bucket");
        }
    });
    cli.ok(&["user", "remove", "local", "ann", "--force"]);
    cli.ok(&["tenant", "rm", "local", "acme", "--force"]);
    cli.ok(&["tenant", "add", "local", "acme"]);
    assert_eq!(quota_of(&cli, "acme"), None);
    let o = cli.run(&["tenant", "quota", "local", "nope", "--set", "1"]);
    assert!(o.stderr.contains("NoSuchTenant"), "{}", o.stderr);
}

const TOKEN: &str = "tenant-hook";
const ARN: &str = "arn:cairn:sqs::hook:webhook";

/// The bucket field of each server access log line in `bucket` (the
/// caller's view) under `prefix`, with the key of its object.
async fn logged_buckets(c: &Client, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    binary::object_lines(c, bucket, prefix)
        .await
        .into_iter()
        .map(|(key, l)| (key, l.split_whitespace().nth(1).unwrap_or("").to_owned()))
        .collect()
}

#[test]
fn a_tenants_users_configure_their_buckets_and_what_comes_back_names_them_as_they_do() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, BucketLoggingStatus, CorsConfiguration, CorsRule, Event,
        ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, LoggingEnabled,
        NotificationConfiguration, ObjectOwnership, OwnershipControls, OwnershipControlsRule,
        PartitionDateSource, PartitionedPrefix, QueueConfiguration, ServerSideEncryption,
        ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
        TargetObjectKeyFormat,
    };
    let s = Server::start_with(&["--bucket-log-interval", "1s"]);
    let rx = binary::webhook::Receiver::start();
    let cli = admin(&s);
    let out = cli.ok(&[
        "notify",
        "add",
        "local",
        "hook",
        &rx.url(),
        "--auth-token",
        TOKEN,
    ]);
    assert!(out.contains(ARN), "{out}");
    cli.ok(&["tenant", "add", "local", "acme"]);
    let (ann, _, _) = user(&cli, &s, "ann", "acme");
    let root = s.client();

    block_on(async {
        for b in ["photos", "logs"] {
            ann.create_bucket().bucket(b).send().await.expect("create");
            root.create_bucket().bucket(b).send().await.expect("create");
        }
        // A bucket policy names the tenant's bucket as its users do.
        let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/secret/*"},{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/public/*"}]}"#;
        ann.put_bucket_policy()
            .bucket("photos")
            .policy(deny)
            .send()
            .await
            .expect("policy");
        let got = ann
            .get_bucket_policy()
            .bucket("photos")
            .send()
            .await
            .expect("get policy");
        assert_eq!(got.policy(), Some(deny));
        put(&ann, "photos", "secret/plan.txt", "hidden").await;
        put(&ann, "photos", "open.txt", "shown").await;
        let r = ann
            .get_object()
            .bucket("photos")
            .key("secret/plan.txt")
            .send()
            .await;
        assert_eq!(code(r), "AccessDenied", "the tenant's policy applies");
        assert_eq!(get_bytes(&ann, "photos", "open.txt").await, b"shown");
        assert!(
            root.get_bucket_policy()
                .bucket("photos")
                .send()
                .await
                .is_err(),
            "the global bucket of that name has none"
        );

        // Lifecycle, CORS, encryption and ownership round-trip.
        let rule = LifecycleRule::builder()
            .id("old")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("tmp/").build())
            .expiration(LifecycleExpiration::builder().days(7).build())
            .build()
            .expect("rule");
        ann.put_bucket_lifecycle_configuration()
            .bucket("photos")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .expect("lifecycle"),
            )
            .send()
            .await
            .expect("put lifecycle");
        let lc = ann
            .get_bucket_lifecycle_configuration()
            .bucket("photos")
            .send()
            .await
            .expect("get lifecycle");
        assert_eq!(lc.rules()[0].id(), Some("old"));
        let put_tmp = ann
            .put_object()
            .bucket("photos")
            .key("tmp/x")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
        assert!(
            put_tmp
                .expiration()
                .is_some_and(|e| e.contains("rule-id=\"old\"")),
            "{:?}",
            put_tmp.expiration()
        );
        ann.put_bucket_cors()
            .bucket("photos")
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(
                        CorsRule::builder()
                            .allowed_origins("https://app.example")
                            .allowed_methods("GET")
                            .build()
                            .expect("cors rule"),
                    )
                    .build()
                    .expect("cors"),
            )
            .send()
            .await
            .expect("put cors");
        let cors = ann
            .get_bucket_cors()
            .bucket("photos")
            .send()
            .await
            .expect("get cors");
        assert_eq!(
            cors.cors_rules()[0].allowed_origins(),
            ["https://app.example"]
        );
        ann.put_bucket_encryption()
            .bucket("photos")
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                ServerSideEncryptionByDefault::builder()
                                    .sse_algorithm(ServerSideEncryption::Aes256)
                                    .build()
                                    .expect("default"),
                            )
                            .build(),
                    )
                    .build()
                    .expect("encryption"),
            )
            .send()
            .await
            .expect("put encryption");
        let sealed = ann
            .put_object()
            .bucket("photos")
            .key("sealed.txt")
            .body(ByteStream::from_static(b"sealed"))
            .send()
            .await
            .expect("put");
        assert_eq!(
            sealed.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        assert_eq!(get_bytes(&ann, "photos", "sealed.txt").await, b"sealed");
        ann.put_bucket_ownership_controls()
            .bucket("photos")
            .ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                            .build()
                            .expect("rule"),
                    )
                    .build()
                    .expect("controls"),
            )
            .send()
            .await
            .expect("put ownership");
        ann.get_bucket_acl()
            .bucket("photos")
            .send()
            .await
            .expect("acl");
        let attrs = ann
            .get_object_attributes()
            .bucket("photos")
            .key("open.txt")
            .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
            .send()
            .await
            .expect("attributes");
        assert_eq!(attrs.object_size(), Some(5));

        // CORS headers on an actual response come from the tenant's rules
        // (the global `photos` has none).
        let url = ann
            .get_object()
            .bucket("photos")
            .key("open.txt")
            .presigned(
                aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300))
                    .expect("presigning"),
            )
            .await
            .expect("presign");
        let path = url
            .uri()
            .split_once(&s.endpoint())
            .map(|(_, p)| p.to_owned())
            .expect("path");
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: https://app.example\r\nConnection: close\r\n\r\n",
            s.port
        );
        let r = binary::raw_request(s.port, req.as_bytes()).expect("presigned GET");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );

        // Unsigned requests name a tenant's bucket as `tenant:bucket`:
        // what its policy grants everyone, and CORS preflights.
        put(&ann, "photos", "public/p.txt", "for all").await;
        let unsigned = |method: &str, path: &str, extra: &str| {
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{extra}Connection: close\r\n\r\n",
                s.port
            );
            binary::raw_request(s.port, req.as_bytes()).expect("unsigned request")
        };
        let r = unsigned("GET", "/acme:photos/public/p.txt", "");
        assert_eq!((r.status, &r.body[..]), (200, &b"for all"[..]));
        assert_eq!(unsigned("GET", "/acme:photos/open.txt", "").status, 403);
        assert_eq!(
            unsigned("GET", "/acme:photos/secret/plan.txt", "").status,
            403
        );
        assert_eq!(
            unsigned("GET", "/photos/public/p.txt", "").status,
            403,
            "global photos"
        );
        assert_eq!(unsigned("GET", "/acme:nothing/x", "").status, 404);
        let preflight = "Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n";
        let r = unsigned("OPTIONS", "/acme:photos/open.txt", preflight);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            unsigned("OPTIONS", "/photos/open.txt", preflight).status,
            403
        );
        // A signed caller, root included, never names it so.
        let r = root
            .get_object()
            .bucket("acme:photos")
            .key("public/p.txt")
            .send()
            .await;
        assert_eq!(code(r), "InvalidBucketName");
        let r = ann
            .get_object()
            .bucket("acme:photos")
            .key("public/p.txt")
            .send()
            .await;
        assert_eq!(code(r), "InvalidBucketName");

        // Logging: the target is named in the tenant, and answered so.
        let refused = ann
            .put_bucket_logging()
            .bucket("photos")
            .bucket_logging_status(
                BucketLoggingStatus::builder()
                    .logging_enabled(
                        LoggingEnabled::builder()
                            .target_bucket("acme:logs")
                            .target_prefix("a/")
                            .build()
                            .expect("logging"),
                    )
                    .build(),
            )
            .send()
            .await;
        assert_eq!(code(refused), "InvalidTargetBucketForLogging");
        ann.put_bucket_logging()
            .bucket("photos")
            .bucket_logging_status(
                BucketLoggingStatus::builder()
                    .logging_enabled(
                        LoggingEnabled::builder()
                            .target_bucket("logs")
                            .target_prefix("a/")
                            .target_object_key_format(
                                TargetObjectKeyFormat::builder()
                                    .partitioned_prefix(
                                        PartitionedPrefix::builder()
                                            .partition_date_source(PartitionDateSource::EventTime)
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build()
                            .expect("logging"),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("put logging");
        let l = ann
            .get_bucket_logging()
            .bucket("photos")
            .send()
            .await
            .expect("get logging");
        assert_eq!(l.logging_enabled().map(|e| e.target_bucket()), Some("logs"));

        // Notifications: the event names the bucket as the tenant's users do.
        ann.put_bucket_notification_configuration()
            .bucket("photos")
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .queue_arn(ARN)
                            .events(Event::S3ObjectCreated)
                            .build()
                            .expect("queue"),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("put notifications");
        put(&ann, "photos", "event.txt", "e").await;
    });
    let event = s.wait_for("the event", Duration::from_secs(30), || {
        rx.got.lock().expect("lock").first().map(|(_, v)| v.clone())
    });
    assert_eq!(event["Key"], "photos/event.txt", "{event}");
    let b = &event["Records"][0]["s3"]["bucket"];
    assert_eq!(b["name"], "photos", "{event}");
    assert_eq!(b["arn"], "arn:aws:s3::acme:photos", "{event}");

    block_on(async {
        // The log lines land in the tenant's `logs`, naming `photos`.
        let mut lines = Vec::new();
        for _ in 0..300 {
            lines = logged_buckets(&ann, "logs", "a/").await;
            if !lines.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(!lines.is_empty(), "no log object within 30 s");
        for (key, bucket) in &lines {
            assert!(key.contains("/us-east-1/photos/"), "{key}");
            assert_eq!(bucket, "photos", "{key}");
        }
        let global = root
            .list_objects_v2()
            .bucket("logs")
            .send()
            .await
            .expect("list");
        assert_eq!(global.key_count(), Some(0), "nothing in the global logs");
    });
}
