//! The last access-control gaps of issue 12, end to end against the real
//! binary: unsigned POST forms as anonymous PutObject, signed forms under
//! the signer's own policies, `s3:ExistingObjectTag/<key>`, BlockPublicAcls
//! for ACL bodies and grant headers, PutBucketPolicy's resource and action
//! checks, STS GetSessionToken, and `aws:SourceIp` / `aws:SecureTransport`
//! for an IAM user over the plain and the TLS listener.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectOwnership, Owner, Permission,
    PublicAccessBlockConfiguration, Tag, Tagging, Type,
};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use base64::Engine as _;

mod binary;
use binary::*;

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

fn iam_with(endpoint: &str, http: SharedHttpClient) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(
        iam_config(endpoint, USER, PASSWORD)
            .http_client(http)
            .build(),
    )
}

fn s3_with(
    endpoint: &str,
    http: SharedHttpClient,
    access: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        s3_config(endpoint, access, secret, token)
            .http_client(http)
            .build(),
    )
}

/// Creates `name` with one key: (access key id, secret).
async fn user(iam: &aws_sdk_iam::Client, name: &str) -> (String, String) {
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .expect("create user");
    let out = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .expect("create key");
    let key = out.access_key().expect("key");
    (
        key.access_key_id().to_owned(),
        key.secret_access_key().to_owned(),
    )
}

async fn user_policy(iam: &aws_sdk_iam::Client, user: &str, doc: &str) {
    iam.put_user_policy()
        .user_name(user)
        .policy_name("p")
        .policy_document(doc)
        .send()
        .await
        .expect("put user policy");
}

async fn bucket(c: &aws_sdk_s3::Client, name: &str, ownership: Option<ObjectOwnership>) {
    c.create_bucket()
        .bucket(name)
        .set_object_ownership(ownership)
        .send()
        .await
        .expect("create bucket");
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(Err::<(), _>(e)))
}

async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(), String> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(Err::<(), _>(e)))
}

async fn exists(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    c.head_object().bucket(bucket).key(key).send().await.is_ok()
}

// ---------------------------------------------------------------------------
// POST forms (as tests/s3_post.rs builds them)
// ---------------------------------------------------------------------------

const BOUNDARY: &str = "----cairnGapsBoundary";

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn iso8601(t: u64) -> String {
    let s = cairn::auth::sigv4::format_amz_date(t as i64);
    format!(
        "{}-{}-{}T{}:{}:{}.000Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

/// The SigV4 fields of a form whose policy has `conditions` (plus the
/// credential ones), signed with `access`/`secret`.
fn signed(conditions: &[serde_json::Value], access: &str, secret: &str) -> Vec<(String, String)> {
    let t = now_secs();
    let stamp = cairn::auth::sigv4::format_amz_date(t as i64);
    let date = &stamp[..8];
    let credential = format!("{access}/{date}/{REGION}/s3/aws4_request");
    let mut all = conditions.to_vec();
    all.push(serde_json::json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}));
    all.push(serde_json::json!({"x-amz-credential": credential}));
    all.push(serde_json::json!({"x-amz-date": stamp}));
    let doc = serde_json::json!({"expiration": iso8601(t + 600), "conditions": all});
    let policy = base64::engine::general_purpose::STANDARD.encode(doc.to_string());
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [REGION, "s3", "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    let signature = hex::encode(hmac(&k, policy.as_bytes()));
    vec![
        kv("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        kv("X-Amz-Credential", &credential),
        kv("X-Amz-Date", &stamp),
        kv("Policy", &policy),
        kv("X-Amz-Signature", &signature),
    ]
}

/// A form: `fields`, then a small file, then the close.
fn form(fields: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in fields {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.txt\"\r\nContent-Type: text/plain\r\n\r\nform body\r\n--{BOUNDARY}--\r\n"
        )
        .as_bytes(),
    );
    out
}

/// POSTs `body` to `/bucket`; (status, error code).
fn post(srv: &Server, bucket: &str, body: &[u8]) -> (u16, String) {
    let headers = vec![
        kv("Host", &format!("127.0.0.1:{}", srv.port)),
        kv(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        ),
        kv("Content-Length", &body.len().to_string()),
    ];
    let r = raw_request(
        srv.port,
        &request_bytes("POST", &format!("/{bucket}"), &headers, body),
    )
    .expect("POST");
    let code = if r.status >= 300 {
        r.code()
    } else {
        String::new()
    };
    (r.status, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_form_is_an_anonymous_put_allowed_only_by_a_public_write_policy_or_acl() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "drop", None).await;
    let anon = |key: &str| form(&[kv("key", key)]);

    // No policy lets everyone write: refused, nothing lands.
    assert_eq!(
        post(&srv, "drop", &anon("uploads/a")),
        (403, "AccessDenied".into())
    );
    assert!(!exists(&c, "drop", "uploads/a").await);

    // A bucket policy granting s3:PutObject to "*" on a prefix.
    let public_write = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::drop/uploads/*"}]}"#;
    c.put_bucket_policy()
        .bucket("drop")
        .policy(public_write)
        .send()
        .await
        .expect("policy");
    assert_eq!(post(&srv, "drop", &anon("uploads/a")), (204, String::new()));
    assert_eq!(get_bytes(&c, "drop", "uploads/a").await, b"form body");
    assert_eq!(
        post(&srv, "drop", &anon("private/a")),
        (403, "AccessDenied".into())
    );
    assert!(!exists(&c, "drop", "private/a").await);
    // A public canned ACL in the form is refused while the bucket blocks
    // public ACLs, as the header is on PutObject.
    c.put_public_access_block()
        .bucket("drop")
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .build(),
        )
        .send()
        .await
        .expect("block");
    let with_acl = form(&[kv("key", "uploads/b"), kv("acl", "public-read")]);
    assert_eq!(post(&srv, "drop", &with_acl), (403, "AccessDenied".into()));
    assert!(!exists(&c, "drop", "uploads/b").await);

    // A bucket ACL granting AllUsers WRITE (public-read-write).
    bucket(&c, "open", Some(ObjectOwnership::ObjectWriter)).await;
    assert_eq!(post(&srv, "open", &anon("x")), (403, "AccessDenied".into()));
    c.put_bucket_acl()
        .bucket("open")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .expect("public-read-write");
    assert_eq!(post(&srv, "open", &anon("x")), (204, String::new()));
    assert!(exists(&c, "open", "x").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_form_is_authorised_by_the_signing_users_policies_and_conditions() {
    let srv = Server::start();
    let c = srv.client();
    let iam = iam_with(&srv.endpoint(), plain_http());
    bucket(&c, "forms", None).await;
    let (ak, sk) = user(&iam, "alice").await;
    // Home prefix only; no public ACLs; no "red" tags.
    user_policy(
        &iam,
        "alice",
        r#"{"Version":"2012-10-17","Statement":[
          {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::forms/home/${aws:username}/*"},
          {"Effect":"Deny","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read"}}},
          {"Effect":"Deny","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"s3:RequestObjectTag/team":"red"}}}]}"#,
    )
    .await;
    let tagging = |team: &str| {
        format!(
            "<Tagging><TagSet><Tag><Key>team</Key><Value>{team}</Value></Tag></TagSet></Tagging>"
        )
    };
    let submit = |key: &str, extra: &[(String, String)]| {
        let mut conditions = vec![
            serde_json::json!({"bucket": "forms"}),
            serde_json::json!(["starts-with", "$key", ""]),
        ];
        for (k, _) in extra {
            conditions.push(serde_json::json!(["starts-with", format!("${k}"), ""]));
        }
        let mut fields = vec![kv("key", key)];
        fields.extend(extra.iter().cloned());
        fields.extend(signed(&conditions, &ak, &sk));
        post(&srv, "forms", &form(&fields))
    };
    assert_eq!(submit("home/alice/a", &[]), (204, String::new()));
    assert!(exists(&c, "forms", "home/alice/a").await);
    assert_eq!(submit("home/bob/a", &[]), (403, "AccessDenied".into()));
    assert_eq!(
        submit("home/alice/p", &[kv("acl", "public-read")]),
        (403, "AccessDenied".into()),
        "s3:x-amz-acl comes from the form's acl field"
    );
    assert_eq!(
        submit("home/alice/r", &[kv("tagging", &tagging("red"))]),
        (403, "AccessDenied".into()),
        "s3:RequestObjectTag comes from the form's tagging field"
    );
    assert_eq!(
        submit(
            "home/alice/b",
            &[kv("tagging", &tagging("blue")), kv("acl", "private")]
        ),
        (204, String::new())
    );
    for key in ["home/bob/a", "home/alice/p", "home/alice/r"] {
        assert!(!exists(&c, "forms", key).await, "{key} landed");
    }
    let tags = c
        .get_object_tagging()
        .bucket("forms")
        .key("home/alice/b")
        .send()
        .await
        .expect("tags");
    assert_eq!(tags.tag_set()[0].value(), "blue");
}

// ---------------------------------------------------------------------------
// s3:ExistingObjectTag
// ---------------------------------------------------------------------------

async fn tag(c: &aws_sdk_s3::Client, key: &str, value: &str) {
    c.put_object_tagging()
        .bucket("tagged")
        .key(key)
        .tagging(
            Tagging::builder()
                .tag_set(
                    Tag::builder()
                        .key("classification")
                        .value(value)
                        .build()
                        .expect("tag"),
                )
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("put tagging");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_object_tag_condition_decides_reads_by_the_objects_current_tags() {
    let srv = Server::start();
    let c = srv.client();
    let iam = iam_with(&srv.endpoint(), plain_http());
    bucket(&c, "tagged", None).await;
    for k in ["pub", "sec", "none"] {
        put(&c, "tagged", k).await.expect("put");
    }
    tag(&c, "pub", "public").await;
    tag(&c, "sec", "secret").await;
    let (ak, sk) = user(&iam, "reader").await;
    user_policy(
        &iam,
        "reader",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectTagging"],"Resource":"arn:aws:s3:::tagged/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/classification":"public"}}}]}"#,
    )
    .await;
    let reader = client(&srv.endpoint(), &ak, &sk);
    assert_eq!(get(&reader, "tagged", "pub").await, Ok(()));
    assert_eq!(
        get(&reader, "tagged", "sec").await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        get(&reader, "tagged", "none").await,
        Err("AccessDenied".into())
    );
    let tagging = reader
        .get_object_tagging()
        .bucket("tagged")
        .key("pub")
        .send()
        .await;
    assert!(tagging.is_ok(), "{tagging:?}");
    // The tags are read per request: retagging changes the decision.
    tag(&c, "sec", "public").await;
    assert_eq!(get(&reader, "tagged", "sec").await, Ok(()));
    tag(&c, "pub", "secret").await;
    assert_eq!(
        get(&reader, "tagged", "pub").await,
        Err("AccessDenied".into())
    );
}

/// A copy reads the source version it names: its tags, not the latest
/// version's, are what `s3:ExistingObjectTag` sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_an_older_version_is_decided_by_that_versions_tags() {
    let srv = Server::start();
    let c = srv.client();
    let iam = iam_with(&srv.endpoint(), plain_http());
    bucket(&c, "vtagged", None).await;
    c.put_bucket_versioning()
        .bucket("vtagged")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let mut versions = Vec::new();
    for class in ["public", "secret"] {
        let out = c
            .put_object()
            .bucket("vtagged")
            .key("doc")
            .tagging(format!("classification={class}"))
            .body(ByteStream::from(class.as_bytes().to_vec()))
            .send()
            .await
            .expect("put");
        versions.push(out.version_id().expect("version id").to_owned());
    }
    let (ak, sk) = user(&iam, "copier").await;
    user_policy(
        &iam,
        "copier",
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::vtagged/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/classification":"public"}}},
            {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::vtagged/*"}]}"#,
    )
    .await;
    let copier = client(&srv.endpoint(), &ak, &sk);
    let copy = |source: String, to: &'static str| {
        let copier = copier.clone();
        async move {
            copier
                .copy_object()
                .bucket("vtagged")
                .key(to)
                .copy_source(source)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.code().unwrap_or("none").to_owned())
        }
    };
    assert_eq!(
        copy(format!("vtagged/doc?versionId={}", versions[0]), "old").await,
        Ok(())
    );
    assert_eq!(
        copy("vtagged/doc".to_owned(), "latest").await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        copy(format!("vtagged/doc?versionId={}", versions[1]), "new").await,
        Err("AccessDenied".into())
    );
    let old = c.get_object().bucket("vtagged").key("old").send().await;
    let body = old.expect("copied").body.collect().await.expect("body");
    assert_eq!(body.into_bytes().as_ref(), b"public");
}

// ---------------------------------------------------------------------------
// BlockPublicAcls for bodies and grant headers
// ---------------------------------------------------------------------------

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

fn acl_body(owner: &str, group: Option<&str>) -> AccessControlPolicy {
    let owner_grant = Grant::builder()
        .grantee(
            Grantee::builder()
                .r#type(Type::CanonicalUser)
                .id(owner)
                .build()
                .expect("grantee"),
        )
        .permission(Permission::FullControl)
        .build();
    let mut b = AccessControlPolicy::builder()
        .owner(Owner::builder().id(owner).build())
        .grants(owner_grant);
    if let Some(uri) = group {
        b = b.grants(
            Grant::builder()
                .grantee(
                    Grantee::builder()
                        .r#type(Type::Group)
                        .uri(uri)
                        .build()
                        .expect("grantee"),
                )
                .permission(Permission::Read)
                .build(),
        );
    }
    b.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_acl_bodies_and_grant_headers_are_refused_while_the_bucket_blocks_public_acls() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "acls", Some(ObjectOwnership::ObjectWriter)).await;
    put(&c, "acls", "k").await.expect("put");
    let owner = c
        .get_bucket_acl()
        .bucket("acls")
        .send()
        .await
        .expect("acl")
        .owner()
        .and_then(|o| o.id())
        .expect("owner id")
        .to_owned();
    let block = |on: bool| {
        PublicAccessBlockConfiguration::builder()
            .block_public_acls(on)
            .build()
    };
    c.put_public_access_block()
        .bucket("acls")
        .public_access_block_configuration(block(true))
        .send()
        .await
        .expect("block");
    for group in [ALL_USERS, AUTHENTICATED_USERS] {
        let body = acl_body(&owner, Some(group));
        let r = c
            .put_bucket_acl()
            .bucket("acls")
            .access_control_policy(body.clone())
            .send()
            .await;
        assert_eq!(code(r), "AccessDenied", "bucket body to {group}");
        let r = c
            .put_object_acl()
            .bucket("acls")
            .key("k")
            .access_control_policy(body)
            .send()
            .await;
        assert_eq!(code(r), "AccessDenied", "object body to {group}");
        let r = c
            .put_object_acl()
            .bucket("acls")
            .key("k")
            .grant_read(format!("uri=\"{group}\""))
            .send()
            .await;
        assert_eq!(code(r), "AccessDenied", "grant header to {group}");
    }
    let r = c
        .put_bucket_acl()
        .bucket("acls")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await;
    assert_eq!(code(r), "AccessDenied", "canned header");
    // Nothing changed; a private body is still accepted.
    let grants =
        |acl: aws_sdk_s3::operation::get_object_acl::GetObjectAclOutput| acl.grants().len();
    let acl = c
        .get_object_acl()
        .bucket("acls")
        .key("k")
        .send()
        .await
        .expect("get acl");
    assert_eq!(grants(acl), 1);
    c.put_object_acl()
        .bucket("acls")
        .key("k")
        .access_control_policy(acl_body(&owner, None))
        .send()
        .await
        .expect("private body");
    // Without the block, the same public body is accepted.
    c.put_public_access_block()
        .bucket("acls")
        .public_access_block_configuration(block(false))
        .send()
        .await
        .expect("unblock");
    c.put_object_acl()
        .bucket("acls")
        .key("k")
        .access_control_policy(acl_body(&owner, Some(ALL_USERS)))
        .send()
        .await
        .expect("public body");
    let acl = c
        .get_object_acl()
        .bucket("acls")
        .key("k")
        .send()
        .await
        .expect("get acl");
    assert_eq!(grants(acl), 2);
}

// ---------------------------------------------------------------------------
// PutBucketPolicy's own checks
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_policy_for_another_bucket_or_another_service_is_malformed() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "mine", None).await;
    let doc = |action: &str, resource: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"{action}","Resource":"{resource}"}}]}}"#
        )
    };
    for (action, resource, message) in [
        (
            "s3:GetObject",
            "arn:aws:s3:::otherbucket/*",
            "Policy has invalid resource",
        ),
        ("s3:GetObject", "*", "Policy has invalid resource"),
        (
            "iam:CreateUser",
            "arn:aws:s3:::mine/*",
            "Policy has invalid action",
        ),
    ] {
        let e = c
            .put_bucket_policy()
            .bucket("mine")
            .policy(doc(action, resource))
            .send()
            .await
            .expect_err("refused");
        assert_eq!(
            (e.code(), e.message()),
            (Some("MalformedPolicy"), Some(message)),
            "{action} on {resource}"
        );
    }
    assert_eq!(
        code(c.get_bucket_policy().bucket("mine").send().await),
        "NoSuchBucketPolicy"
    );
    c.put_bucket_policy()
        .bucket("mine")
        .policy(doc("s3:Get*", "arn:aws:s3:::mine/*"))
        .send()
        .await
        .expect("a policy for this bucket");
}

// ---------------------------------------------------------------------------
// STS GetSessionToken
// ---------------------------------------------------------------------------

fn lasts(c: &aws_sdk_sts::types::Credentials, asked: SystemTime) -> Duration {
    SystemTime::try_from(*c.expiration())
        .expect("expiration")
        .duration_since(asked)
        .expect("in the future")
}

fn near(d: Duration, secs: u64) -> bool {
    d > Duration::from_secs(secs - 30) && d < Duration::from_secs(secs + 60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_tokens_act_with_the_users_own_policies_for_their_duration() {
    let srv = Server::start();
    let c = srv.client();
    let iam = iam_with(&srv.endpoint(), plain_http());
    bucket(&c, "shared", None).await;
    put(&c, "shared", "other/x").await.expect("put");
    let (ak, sk) = user(&iam, "alice").await;
    user_policy(
        &iam,
        "alice",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::shared/home/${aws:username}/*"}]}"#,
    )
    .await;
    let alice = sts_client(&srv.endpoint(), &ak, &sk, None);

    let asked = SystemTime::now();
    let out = alice.get_session_token().send().await.expect("default");
    let creds = out.credentials().expect("credentials");
    assert!(near(lasts(creds, asked), 43_200), "12 hours by default");
    let out = alice
        .get_session_token()
        .duration_seconds(129_600)
        .send()
        .await
        .expect("36 hours");
    assert!(near(lasts(out.credentials().expect("c"), asked), 129_600));
    for bad in [899, 129_601] {
        assert_eq!(
            code(alice.get_session_token().duration_seconds(bad).send().await),
            "ValidationError",
            "{bad}"
        );
    }
    let out = alice
        .get_session_token()
        .duration_seconds(900)
        .send()
        .await
        .expect("15 minutes");
    let t = out.credentials().expect("credentials");
    assert!(near(lasts(t, asked), 900));
    assert!(t.access_key_id().starts_with("ASIA"));

    // The session acts as alice, with her policies.
    let temp = s3_with(
        &srv.endpoint(),
        plain_http(),
        t.access_key_id(),
        t.secret_access_key(),
        Some(t.session_token()),
    );
    assert_eq!(put(&temp, "shared", "home/alice/t").await, Ok(()));
    assert_eq!(get(&temp, "shared", "home/alice/t").await, Ok(()));
    assert_eq!(
        put(&temp, "shared", "home/bob/t").await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        get(&temp, "shared", "other/x").await,
        Err("AccessDenied".into())
    );
    let temp_sts = sts_client(
        &srv.endpoint(),
        t.access_key_id(),
        t.secret_access_key(),
        Some(t.session_token()),
    );
    let who = temp_sts.get_caller_identity().send().await.expect("who");
    assert_eq!(who.arn(), Some("arn:aws:iam::000000000000:user/alice"));
    assert_eq!(
        code(temp_sts.get_session_token().send().await),
        "AccessDenied",
        "session credentials cannot get another session"
    );
    // Her policy, as it is now: removing it stops the session's access.
    iam.delete_user_policy()
        .user_name("alice")
        .policy_name("p")
        .send()
        .await
        .expect("delete policy");
    assert_eq!(
        get(&temp, "shared", "home/alice/t").await,
        Err("AccessDenied".into())
    );
    // Without a token, or with a wrong one, the key is refused.
    let no_token = s3_with(
        &srv.endpoint(),
        plain_http(),
        t.access_key_id(),
        t.secret_access_key(),
        None,
    );
    assert_eq!(
        get(&no_token, "shared", "home/alice/t").await,
        Err("InvalidAccessKeyId".into())
    );

    // Root's sessions last at most an hour.
    let root = sts_client(&srv.endpoint(), USER, PASSWORD, None);
    let asked = SystemTime::now();
    let out = root
        .get_session_token()
        .duration_seconds(7_200)
        .send()
        .await
        .expect("root");
    let t = out.credentials().expect("credentials");
    assert!(near(lasts(t, asked), 3_600));
    let root_temp = s3_with(
        &srv.endpoint(),
        plain_http(),
        t.access_key_id(),
        t.secret_access_key(),
        Some(t.session_token()),
    );
    assert_eq!(get(&root_temp, "shared", "other/x").await, Ok(()));
}

// ---------------------------------------------------------------------------
// aws:SourceIp and aws:SecureTransport for an IAM user, both listeners
// ---------------------------------------------------------------------------

/// Every name resolves to loopback.
#[derive(Debug, Clone)]
struct Loopback;

impl ResolveDns for Loopback {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> DnsFuture<'a> {
        DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
    }
}

fn tls_http(cert_pem: &str) -> SharedHttpClient {
    let store = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(cert_pem.as_bytes().to_vec());
    let ctx = TlsContext::builder()
        .with_trust_store(store)
        .build()
        .expect("tls context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(ctx)
        .build_with_resolver(Loopback)
}

fn ip_policy(cidr: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::tls/*","Condition":{{"IpAddress":{{"aws:SourceIp":"{cidr}"}}}}}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_ip_and_secure_transport_decide_for_a_user_on_each_listener() {
    // Plain HTTP first.
    let mut srv = Server::start();
    let c = srv.client();
    let iam = iam_with(&srv.endpoint(), plain_http());
    bucket(&c, "tls", None).await;
    put(&c, "tls", "k").await.expect("put");
    let (ak, sk) = user(&iam, "ipuser").await;
    user_policy(&iam, "ipuser", &ip_policy("127.0.0.1/32")).await;
    let plain_user = client(&srv.endpoint(), &ak, &sk);
    assert_eq!(get(&plain_user, "tls", "k").await, Ok(()), "from 127.0.0.1");
    let tls_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::tls","arn:aws:s3:::tls/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    c.put_bucket_policy()
        .bucket("tls")
        .policy(tls_only)
        .send()
        .await
        .expect("bucket policy");
    assert_eq!(
        get(&plain_user, "tls", "k").await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        put(&plain_user, "tls", "k2").await,
        Err("AccessDenied".into())
    );

    // The same drives behind the TLS listener.
    let dir = std::mem::replace(&mut srv.dir, tempfile::tempdir().expect("tempdir"));
    drop(srv);
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let certs = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).expect("write key");
    let srv = Server::start_in(
        dir,
        &[
            "--tls-cert",
            cert_path.to_str().expect("utf-8"),
            "--tls-key",
            key_path.to_str().expect("utf-8"),
        ],
    );
    let endpoint = format!("https://localhost:{}", srv.port);
    let pem = cert.cert.pem();
    let tls_user = s3_with(&endpoint, tls_http(&pem), &ak, &sk, None);
    assert_eq!(get(&tls_user, "tls", "k").await, Ok(()), "over https");
    assert_eq!(put(&tls_user, "tls", "k2").await, Ok(()));
    // An identity policy for another network refuses the same request.
    let tls_iam = iam_with(&endpoint, tls_http(&pem));
    user_policy(&tls_iam, "ipuser", &ip_policy("10.0.0.0/8")).await;
    assert_eq!(get(&tls_user, "tls", "k").await, Err("AccessDenied".into()));
    user_policy(&tls_iam, "ipuser", &ip_policy("127.0.0.1/32")).await;
    assert_eq!(get(&tls_user, "tls", "k").await, Ok(()));
}
