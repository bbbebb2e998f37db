//! Tenants (issue 17) against the real binary, set up through `cairn
//! admin` and used through aws-sdk-s3: two tenants' buckets of one name
//! never see each other, ListBuckets shows a caller only its tenant's,
//! no caller names another tenant's bucket by any name, global users are
//! as before, a tenant sums its buckets' usage, all of it survives a
//! restart; and the admin API's tenant shapes and refusals.

mod binary;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use binary::cli::Cli;
use binary::{client, code, get_bytes, Server};
use serde_json::Value;

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
    let doc = cli.path("rw.json");
    std::fs::write(
        &doc,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    )
    .expect("write policy");
    cli.ok(&["policy", "create", "local", "readwrite", &doc]);
    cli
}

/// A user allowed all of S3, in `tenant` (empty: global), and its client.
fn user(cli: &Cli, s: &Server, name: &str, tenant: &str) -> (Client, String, String) {
    let mut args = vec!["user", "add", "local", name, "--policy", "readwrite"];
    if !tenant.is_empty() {
        args.extend(["--tenant", tenant]);
    }
    let v = cli.json(&args);
    assert_eq!(v["tenant"], tenant, "{v}");
    let k = cli.json(&[
        "accesskey",
        "create",
        "local",
        "--user",
        name,
        "--type",
        "access-key",
    ]);
    let (ak, sk) = (
        k["accessKey"].as_str().expect("accessKey").to_owned(),
        k["secretKey"].as_str().expect("secretKey").to_owned(),
    );
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

        // What a tenant cannot configure yet is refused, not half done.
        let r = ann
            .put_bucket_policy()
            .bucket(B)
            .policy(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await;
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
