//! Access control end to end, against the real binary: users, groups and
//! policies made through the IAM API (aws-sdk-iam), their keys used with
//! aws-sdk-s3, and every decision checked from what the client sees.

mod binary;

use aws_sdk_s3::primitives::ByteStream;
use binary::{client, code, iam_client, Server, PASSWORD, USER};

fn iam(s: &Server) -> aws_sdk_iam::Client {
    iam_client(&s.endpoint(), USER, PASSWORD)
}

/// Creates `name` with a key; returns an S3 client signing as it.
async fn user(s: &Server, iam: &aws_sdk_iam::Client, name: &str) -> aws_sdk_s3::Client {
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .expect("create user");
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .expect("create key");
    let key = key.access_key().expect("key");
    client(&s.endpoint(), key.access_key_id(), key.secret_access_key())
}

/// Puts an inline policy on `user`.
async fn put_policy(iam: &aws_sdk_iam::Client, user: &str, name: &str, doc: &str) {
    iam.put_user_policy()
        .user_name(user)
        .policy_name(name)
        .policy_document(doc)
        .send()
        .await
        .expect("put user policy");
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

const ALLOW_ALL_S3: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;

const HOME_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["s3:PutObject","s3:GetObject","s3:DeleteObject"],
   "Resource":"arn:aws:s3:::shared/home/${aws:username}/*"},
  {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared",
   "Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_scoped_user_writes_its_home_and_nothing_else() {
    let s = Server::start();
    let root = s.client();
    root.create_bucket()
        .bucket("shared")
        .send()
        .await
        .expect("bucket");
    let iam = iam(&s);
    let alice = user(&s, &iam, "alice").await;
    // No policy yet: nothing is allowed.
    assert_eq!(
        put(&alice, "shared", "home/alice/a").await,
        Err("AccessDenied".into())
    );
    put_policy(&iam, "alice", "home", HOME_POLICY).await;
    put(&alice, "shared", "home/alice/a")
        .await
        .expect("own home");
    get(&alice, "shared", "home/alice/a")
        .await
        .expect("read own");
    assert_eq!(
        put(&alice, "shared", "home/bob/a").await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        put(&alice, "shared", "top").await,
        Err("AccessDenied".into())
    );
    put(&root, "shared", "home/bob/b")
        .await
        .expect("root writes");
    assert_eq!(
        get(&alice, "shared", "home/bob/b").await,
        Err("AccessDenied".into())
    );
    // The listing condition: her prefix only.
    let mine = alice
        .list_objects_v2()
        .bucket("shared")
        .prefix("home/alice/")
        .send()
        .await
        .expect("list own prefix");
    assert_eq!(mine.key_count(), Some(1));
    let all = alice.list_objects_v2().bucket("shared").send().await;
    assert_eq!(code(all), "AccessDenied");
    // Removing the policy takes effect at once.
    iam.delete_user_policy()
        .user_name("alice")
        .policy_name("home")
        .send()
        .await
        .expect("delete policy");
    assert_eq!(
        get(&alice, "shared", "home/alice/a").await,
        Err("AccessDenied".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_policy_applies_to_its_members_only_while_they_are_members() {
    let s = Server::start();
    s.client()
        .create_bucket()
        .bucket("team")
        .send()
        .await
        .expect("bucket");
    let iam = iam(&s);
    let carol = user(&s, &iam, "carol").await;
    let dave = user(&s, &iam, "dave").await;
    iam.create_group()
        .group_name("writers")
        .send()
        .await
        .expect("group");
    let arn = iam
        .create_policy()
        .policy_name("team-write")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::team/*"}]}"#,
        )
        .send()
        .await
        .expect("policy")
        .policy()
        .and_then(|p| p.arn().map(str::to_owned))
        .expect("arn");
    iam.attach_group_policy()
        .group_name("writers")
        .policy_arn(&arn)
        .send()
        .await
        .expect("attach");
    iam.add_user_to_group()
        .group_name("writers")
        .user_name("carol")
        .send()
        .await
        .expect("add");
    put(&carol, "team", "x").await.expect("member writes");
    assert_eq!(put(&dave, "team", "x").await, Err("AccessDenied".into()));
    iam.remove_user_from_group()
        .group_name("writers")
        .user_name("carol")
        .send()
        .await
        .expect("remove");
    assert_eq!(put(&carol, "team", "y").await, Err("AccessDenied".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_or_deleted_key_is_refused_at_once() {
    let s = Server::start();
    s.client()
        .create_bucket()
        .bucket("keys")
        .send()
        .await
        .expect("bucket");
    let iam = iam(&s);
    iam.create_user()
        .user_name("erin")
        .send()
        .await
        .expect("user");
    put_policy(&iam, "erin", "all", ALLOW_ALL_S3).await;
    let key = iam
        .create_access_key()
        .user_name("erin")
        .send()
        .await
        .expect("key");
    let key = key.access_key().expect("key");
    let erin = client(&s.endpoint(), key.access_key_id(), key.secret_access_key());
    put(&erin, "keys", "a").await.expect("active key works");
    iam.update_access_key()
        .user_name("erin")
        .access_key_id(key.access_key_id())
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .expect("deactivate");
    assert_eq!(
        put(&erin, "keys", "b").await,
        Err("InvalidAccessKeyId".into())
    );
    iam.update_access_key()
        .user_name("erin")
        .access_key_id(key.access_key_id())
        .status(aws_sdk_iam::types::StatusType::Active)
        .send()
        .await
        .expect("reactivate");
    put(&erin, "keys", "c")
        .await
        .expect("reactivated key works");
    iam.delete_access_key()
        .user_name("erin")
        .access_key_id(key.access_key_id())
        .send()
        .await
        .expect("delete");
    assert_eq!(
        put(&erin, "keys", "d").await,
        Err("InvalidAccessKeyId".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_policy_deny_beats_an_identity_allow() {
    let s = Server::start();
    let root = s.client();
    root.create_bucket()
        .bucket("guarded")
        .send()
        .await
        .expect("bucket");
    let iam = iam(&s);
    let frank = user(&s, &iam, "frank").await;
    put_policy(&iam, "frank", "all", ALLOW_ALL_S3).await;
    put(&frank, "guarded", "locked/a")
        .await
        .expect("allowed before the deny");
    root.put_bucket_policy()
        .bucket("guarded")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/frank"},"Action":"s3:*","Resource":"arn:aws:s3:::guarded/locked/*"}]}"#,
        )
        .send()
        .await
        .expect("bucket policy");
    assert_eq!(
        put(&frank, "guarded", "locked/b").await,
        Err("AccessDenied".into())
    );
    assert_eq!(
        get(&frank, "guarded", "locked/a").await,
        Err("AccessDenied".into())
    );
    put(&frank, "guarded", "open/a")
        .await
        .expect("outside the deny");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_policy_alone_can_grant_a_user_access() {
    let s = Server::start();
    let root = s.client();
    root.create_bucket()
        .bucket("granted")
        .send()
        .await
        .expect("bucket");
    put(&root, "granted", "doc").await.expect("root writes");
    let iam = iam(&s);
    let gina = user(&s, &iam, "gina").await;
    assert_eq!(
        get(&gina, "granted", "doc").await,
        Err("AccessDenied".into())
    );
    root.put_bucket_policy()
        .bucket("granted")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/gina"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::granted/*"}]}"#,
        )
        .send()
        .await
        .expect("bucket policy");
    get(&gina, "granted", "doc")
        .await
        .expect("the bucket policy allows");
    assert_eq!(
        put(&gina, "granted", "doc2").await,
        Err("AccessDenied".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_grants_admit_where_no_policy_decides_and_a_policy_deny_still_wins() {
    let s = Server::start();
    let root = s.client();
    root.create_bucket()
        .bucket("acls")
        .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
        .send()
        .await
        .expect("bucket with ACLs on");
    root.put_object()
        .bucket("acls")
        .key("public")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .expect("public-read object");
    put(&root, "acls", "private").await.expect("private object");
    let anon = |key: &str| {
        binary::raw_request(
            s.port,
            format!("GET /acls/{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .expect("raw GET")
        .status
    };
    assert_eq!(anon("public"), 200, "AllUsers READ admits anyone");
    assert_eq!(anon("private"), 403);
    let iam = iam(&s);
    let hank = user(&s, &iam, "hank").await;
    get(&hank, "acls", "public")
        .await
        .expect("a user with no policy reads by the ACL");
    assert_eq!(
        get(&hank, "acls", "private").await,
        Err("AccessDenied".into())
    );
    // A user's own bucket: the creator owns it, its ACL gives it full control.
    let own = hank.create_bucket().bucket("hanks").send().await;
    assert_eq!(code(own), "AccessDenied", "creating needs s3:CreateBucket");
    put_policy(&iam, "hank", "deny-public", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::acls/public"}]}"#).await;
    assert_eq!(
        get(&hank, "acls", "public").await,
        Err("AccessDenied".into())
    );
    // BlockPublicAcls refuses a new public ACL; IgnorePublicAcls closes the old.
    root.put_public_access_block()
        .bucket("acls")
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .build(),
        )
        .send()
        .await
        .expect("access block");
    let again = root
        .put_object()
        .bucket("acls")
        .key("public2")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(code(again), "AccessDenied");
    assert_eq!(anon("public"), 403, "IgnorePublicAcls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_bucket_name_is_taken_and_a_user_may_use_its_own_bucket() {
    let s = Server::start();
    let iam = iam(&s);
    let ivy = user(&s, &iam, "ivy").await;
    let jon = user(&s, &iam, "jon").await;
    for name in ["ivy", "jon"] {
        put_policy(&iam, name, "create", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:CreateBucket","s3:ListAllMyBuckets"],"Resource":"*"}]}"#).await;
    }
    ivy.create_bucket()
        .bucket("ivys")
        .send()
        .await
        .expect("ivy creates");
    // The owner's full control (ACLs are off, so it is the owner's alone).
    put(&ivy, "ivys", "a").await.expect("owner writes");
    get(&ivy, "ivys", "a").await.expect("owner reads");
    assert_eq!(get(&jon, "ivys", "a").await, Err("AccessDenied".into()));
    let taken = jon.create_bucket().bucket("ivys").send().await;
    assert_eq!(code(taken), "BucketAlreadyExists");
    let again = ivy.create_bucket().bucket("ivys").send().await;
    assert_eq!(code(again), "BucketAlreadyOwnedByYou");
    let seen = |c: aws_sdk_s3::Client| async move {
        c.list_buckets()
            .send()
            .await
            .expect("list")
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(seen(ivy.clone()).await, vec!["ivys".to_string()]);
    assert!(seen(jon.clone()).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_calls_the_iam_actions_its_policy_allows_and_no_others() {
    let s = Server::start();
    let root_iam = iam(&s);
    root_iam
        .create_user()
        .user_name("kim")
        .send()
        .await
        .expect("user");
    put_policy(&root_iam, "kim", "read-iam", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:ListUsers","iam:GetUser"],"Resource":"*"}]}"#).await;
    let key = root_iam
        .create_access_key()
        .user_name("kim")
        .send()
        .await
        .expect("key");
    let key = key.access_key().expect("key");
    let kim = iam_client(&s.endpoint(), key.access_key_id(), key.secret_access_key());
    let users = kim.list_users().send().await.expect("allowed: ListUsers");
    assert_eq!(users.users().len(), 1);
    let denied = kim.create_user().user_name("eve").send().await;
    assert_eq!(code(denied), "AccessDenied");
    assert!(
        root_iam.get_user().user_name("eve").send().await.is_err(),
        "nothing created"
    );
}
