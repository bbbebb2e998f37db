//! The IAM Query API against the real binary, driven by aws-sdk-iam as
//! `aws iam` and Terraform drive AWS: users, access keys (a deactivated
//! key is refused by S3 at once), groups, inline and managed policies,
//! roles, AWS's error codes and pagination, who may call it, and how
//! requests signed for another service are answered.

mod binary;

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{PolicyScopeType, StatusType, Tag};
use aws_sdk_iam::Client;
use binary::{iam_client as iam, raw_request, request_bytes, Server, PASSWORD, USER};

fn root_iam(s: &Server) -> Client {
    iam(&s.endpoint(), USER, PASSWORD)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The IAM error code of a failed SDK call.
fn code<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("no error code in {e:?}"))
            .to_owned(),
    }
}

/// Policy documents come back URL-encoded, as AWS sends them (boto3
/// decodes them; the Rust SDK leaves that to the caller).
fn decoded(doc: &str) -> String {
    percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .expect("utf-8")
        .into_owned()
}

fn allow(action: &str, resource: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}]}}"#
    )
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"sts:AssumeRole"}]}"#;

#[test]
fn users_and_access_keys_are_managed_and_a_deactivated_key_is_refused_at_once() {
    let s = Server::start();
    rt().block_on(async {
        let c = root_iam(&s);
        let created = c
            .create_user()
            .user_name("alice")
            .tags(Tag::builder().key("team").value("data").build().unwrap())
            .send()
            .await
            .unwrap();
        let u = created.user().unwrap();
        assert_eq!(u.user_name(), "alice");
        assert_eq!(u.arn(), "arn:aws:iam::000000000000:user/alice");
        assert!(u.user_id().starts_with("AIDA"), "{}", u.user_id());
        assert_eq!(
            code(c.create_user().user_name("ALICE").send().await),
            "EntityAlreadyExists"
        );
        assert_eq!(
            code(c.get_user().user_name("nobody").send().await),
            "NoSuchEntity"
        );
        assert_eq!(
            code(c.create_user().user_name("bad name").send().await),
            "ValidationError"
        );
        let got = c.get_user().user_name("alice").send().await.unwrap();
        assert_eq!(got.user().unwrap().user_id(), u.user_id());
        let listed = c.list_users().send().await.unwrap();
        assert_eq!(
            listed
                .users()
                .iter()
                .map(|u| u.user_name())
                .collect::<Vec<_>>(),
            ["alice"]
        );
        c.tag_user()
            .user_name("alice")
            .tags(Tag::builder().key("env").value("prod").build().unwrap())
            .send()
            .await
            .unwrap();
        let tags = c.list_user_tags().user_name("alice").send().await.unwrap();
        let mut tags: Vec<(&str, &str)> =
            tags.tags().iter().map(|t| (t.key(), t.value())).collect();
        tags.sort();
        assert_eq!(tags, [("env", "prod"), ("team", "data")]);

        // A key: the secret is shown once, then only its metadata.
        let key = c
            .create_access_key()
            .user_name("alice")
            .send()
            .await
            .unwrap();
        let key = key.access_key().unwrap();
        let (id, secret) = (
            key.access_key_id().to_owned(),
            key.secret_access_key().to_owned(),
        );
        assert_eq!(key.status(), &StatusType::Active);
        assert_eq!(secret.len(), 40);
        let keys = c
            .list_access_keys()
            .user_name("alice")
            .send()
            .await
            .unwrap();
        let meta = keys.access_key_metadata();
        assert_eq!(meta.len(), 1);
        assert_eq!(meta[0].access_key_id(), Some(id.as_str()));
        assert_eq!(meta[0].status(), Some(&StatusType::Active));

        // The key signs S3 requests at once, and its use is recorded.
        let s3 = binary::client(&s.endpoint(), &id, &secret);
        // Authenticated: with no policy, refused by authorisation only.
        assert_eq!(binary::code(s3.list_buckets().send().await), "AccessDenied");
        let deadline = Instant::now() + Duration::from_secs(30);
        let used = loop {
            let r = c
                .get_access_key_last_used()
                .access_key_id(&id)
                .send()
                .await
                .unwrap();
            let last = r.access_key_last_used().unwrap().clone();
            if last.last_used_date().is_some() {
                assert_eq!(r.user_name(), Some("alice"));
                break last;
            }
            assert_eq!(last.service_name(), "N/A");
            assert!(Instant::now() < deadline, "last use never recorded");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert_eq!(used.service_name(), "s3");
        assert_eq!(used.region(), "us-east-1");

        // A user's key cannot manage IAM, but may ask who it is.
        let alice = iam(&s.endpoint(), &id, &secret);
        assert_eq!(
            code(alice.create_user().user_name("mallory").send().await),
            "AccessDenied"
        );
        assert_eq!(code(alice.list_users().send().await), "AccessDenied");
        let me = alice.get_user().send().await.unwrap();
        assert_eq!(me.user().unwrap().user_name(), "alice");

        // Deactivated: refused by the very next S3 request.
        c.update_access_key()
            .user_name("alice")
            .access_key_id(&id)
            .status(StatusType::Inactive)
            .send()
            .await
            .unwrap();
        assert_eq!(
            binary::code(s3.list_buckets().send().await),
            "InvalidAccessKeyId"
        );
        let keys = c
            .list_access_keys()
            .user_name("alice")
            .send()
            .await
            .unwrap();
        assert_eq!(
            keys.access_key_metadata()[0].status(),
            Some(&StatusType::Inactive)
        );
        c.update_access_key()
            .user_name("alice")
            .access_key_id(&id)
            .status(StatusType::Active)
            .send()
            .await
            .unwrap();
        // Authenticated: with no policy, refused by authorisation only.
        assert_eq!(binary::code(s3.list_buckets().send().await), "AccessDenied");

        // A user with a key cannot be deleted; renamed, it keeps the key.
        assert_eq!(
            code(c.delete_user().user_name("alice").send().await),
            "DeleteConflict"
        );
        c.update_user()
            .user_name("alice")
            .new_user_name("alicia")
            .send()
            .await
            .unwrap();
        assert_eq!(
            code(c.get_user().user_name("alice").send().await),
            "NoSuchEntity"
        );
        // Authenticated: with no policy, refused by authorisation only.
        assert_eq!(binary::code(s3.list_buckets().send().await), "AccessDenied");
        c.delete_access_key()
            .user_name("alicia")
            .access_key_id(&id)
            .send()
            .await
            .unwrap();
        assert_eq!(
            binary::code(s3.list_buckets().send().await),
            "InvalidAccessKeyId"
        );
        assert_eq!(
            code(
                c.delete_access_key()
                    .user_name("alicia")
                    .access_key_id(&id)
                    .send()
                    .await
            ),
            "NoSuchEntity"
        );
        c.delete_user().user_name("alicia").send().await.unwrap();
        assert_eq!(
            code(c.get_user().user_name("alicia").send().await),
            "NoSuchEntity"
        );
        // Root asking about itself.
        let root = c.get_user().send().await.unwrap();
        assert_eq!(root.user().unwrap().arn(), "arn:aws:iam::000000000000:root");
    });
}

#[test]
fn groups_inline_and_managed_policies_and_roles_follow_aws() {
    let s = Server::start();
    rt().block_on(async {
        let c = root_iam(&s);
        c.create_user().user_name("bob").send().await.unwrap();
        let g = c.create_group().group_name("devs").send().await.unwrap();
        assert_eq!(
            g.group().unwrap().arn(),
            "arn:aws:iam::000000000000:group/devs"
        );
        assert_eq!(
            code(c.create_group().group_name("DEVS").send().await),
            "EntityAlreadyExists"
        );
        c.add_user_to_group()
            .group_name("devs")
            .user_name("bob")
            .send()
            .await
            .unwrap();
        let of_bob = c
            .list_groups_for_user()
            .user_name("bob")
            .send()
            .await
            .unwrap();
        assert_eq!(of_bob.groups()[0].group_name(), "devs");
        let members = c.get_group().group_name("devs").send().await.unwrap();
        assert_eq!(members.users()[0].user_name(), "bob");
        assert_eq!(
            code(
                c.add_user_to_group()
                    .group_name("nope")
                    .user_name("bob")
                    .send()
                    .await
            ),
            "NoSuchEntity"
        );

        // Inline policies, user and group.
        let read = allow("s3:GetObject", "arn:aws:s3:::data/*");
        c.put_user_policy()
            .user_name("bob")
            .policy_name("read")
            .policy_document(&read)
            .send()
            .await
            .unwrap();
        let got = c
            .get_user_policy()
            .user_name("bob")
            .policy_name("read")
            .send()
            .await
            .unwrap();
        assert_eq!(decoded(got.policy_document()), read);
        assert!(!got.policy_document().contains('{'), "sent URL-encoded");
        let err = c
            .put_user_policy()
            .user_name("bob")
            .policy_name("bad")
            .policy_document(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("MalformedPolicyDocument"));
        assert!(err.message().unwrap_or("").contains("Action"), "{err:?}");
        assert_eq!(
            code(
                c.put_user_policy()
                    .user_name("bob")
                    .policy_name("notjson")
                    .policy_document("{")
                    .send()
                    .await
            ),
            "MalformedPolicyDocument"
        );
        let names = c
            .list_user_policies()
            .user_name("bob")
            .send()
            .await
            .unwrap();
        assert_eq!(names.policy_names(), ["read"]);
        c.put_group_policy()
            .group_name("devs")
            .policy_name("list")
            .policy_document(allow("s3:ListBucket", "*"))
            .send()
            .await
            .unwrap();
        let gp = c
            .get_group_policy()
            .group_name("devs")
            .policy_name("list")
            .send()
            .await
            .unwrap();
        assert_eq!(decoded(gp.policy_document()), allow("s3:ListBucket", "*"));
        let names = c
            .list_group_policies()
            .group_name("devs")
            .send()
            .await
            .unwrap();
        assert_eq!(names.policy_names(), ["list"]);
        assert_eq!(
            code(c.delete_group().group_name("devs").send().await),
            "DeleteConflict"
        );
        c.delete_group_policy()
            .group_name("devs")
            .policy_name("list")
            .send()
            .await
            .unwrap();
        c.delete_user_policy()
            .user_name("bob")
            .policy_name("read")
            .send()
            .await
            .unwrap();
        assert_eq!(
            code(
                c.get_user_policy()
                    .user_name("bob")
                    .policy_name("read")
                    .send()
                    .await
            ),
            "NoSuchEntity"
        );

        // Managed policies.
        let doc = allow("s3:*", "*");
        let p = c
            .create_policy()
            .policy_name("full")
            .policy_document(&doc)
            .description("everything")
            .send()
            .await
            .unwrap();
        let p = p.policy().unwrap();
        let arn = p.arn().unwrap().to_owned();
        assert_eq!(arn, "arn:aws:iam::000000000000:policy/full");
        assert_eq!(p.default_version_id(), Some("v1"));
        assert_eq!(
            code(
                c.create_policy()
                    .policy_name("bad")
                    .policy_document(r#"{"Statement":[]}"#)
                    .send()
                    .await
            ),
            "MalformedPolicyDocument"
        );
        let got = c.get_policy().policy_arn(&arn).send().await.unwrap();
        assert_eq!(got.policy().unwrap().policy_name(), Some("full"));
        let v = c
            .get_policy_version()
            .policy_arn(&arn)
            .version_id("v1")
            .send()
            .await
            .unwrap();
        let v = v.policy_version().unwrap();
        assert_eq!(decoded(v.document().unwrap()), doc);
        assert!(v.is_default_version());
        assert_eq!(
            code(
                c.get_policy_version()
                    .policy_arn(&arn)
                    .version_id("v2")
                    .send()
                    .await
            ),
            "NoSuchEntity"
        );
        let listed = c
            .list_policies()
            .scope(PolicyScopeType::Local)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.policies().len(), 1);
        let aws = c
            .list_policies()
            .scope(PolicyScopeType::Aws)
            .send()
            .await
            .unwrap();
        assert!(aws.policies().is_empty());
        c.attach_user_policy()
            .user_name("bob")
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        c.attach_group_policy()
            .group_name("devs")
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        let attached = c
            .list_attached_user_policies()
            .user_name("bob")
            .send()
            .await
            .unwrap();
        let a = &attached.attached_policies()[0];
        assert_eq!(
            (a.policy_name(), a.policy_arn()),
            (Some("full"), Some(arn.as_str()))
        );
        let attached = c
            .list_attached_group_policies()
            .group_name("devs")
            .send()
            .await
            .unwrap();
        assert_eq!(attached.attached_policies().len(), 1);
        let counted = c.get_policy().policy_arn(&arn).send().await.unwrap();
        assert_eq!(counted.policy().unwrap().attachment_count(), Some(2));
        assert_eq!(
            code(c.delete_policy().policy_arn(&arn).send().await),
            "DeleteConflict"
        );
        c.detach_user_policy()
            .user_name("bob")
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        c.detach_group_policy()
            .group_name("devs")
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        assert_eq!(
            code(
                c.detach_user_policy()
                    .user_name("bob")
                    .policy_arn(&arn)
                    .send()
                    .await
            ),
            "NoSuchEntity"
        );
        c.delete_policy().policy_arn(&arn).send().await.unwrap();
        assert_eq!(
            code(c.get_policy().policy_arn(&arn).send().await),
            "NoSuchEntity"
        );
        c.remove_user_from_group()
            .group_name("devs")
            .user_name("bob")
            .send()
            .await
            .unwrap();
        c.delete_group().group_name("devs").send().await.unwrap();

        // Roles, for AssumeRole.
        let r = c
            .create_role()
            .role_name("app")
            .assume_role_policy_document(TRUST)
            .max_session_duration(7200)
            .send()
            .await
            .unwrap();
        let r = r.role().unwrap();
        assert_eq!(r.arn(), "arn:aws:iam::000000000000:role/app");
        assert_eq!(decoded(r.assume_role_policy_document().unwrap()), TRUST);
        assert_eq!(r.max_session_duration(), Some(7200));
        assert_eq!(
            code(
                c.create_role()
                    .role_name("APP")
                    .assume_role_policy_document(TRUST)
                    .send()
                    .await
            ),
            "EntityAlreadyExists"
        );
        c.put_role_policy()
            .role_name("app")
            .policy_name("p")
            .policy_document(allow("s3:GetObject", "*"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            code(c.delete_role().role_name("app").send().await),
            "DeleteConflict"
        );
        c.delete_role_policy()
            .role_name("app")
            .policy_name("p")
            .send()
            .await
            .unwrap();
        c.delete_role().role_name("app").send().await.unwrap();
        assert_eq!(
            code(c.get_role().role_name("app").send().await),
            "NoSuchEntity"
        );
    });
}

#[test]
fn listings_page_with_max_items_and_marker() {
    let s = Server::start();
    rt().block_on(async {
        let c = root_iam(&s);
        let mut names: Vec<String> = (0..7).map(|i| format!("user{i}")).collect();
        for n in &names {
            c.create_user().user_name(n).send().await.unwrap();
        }
        let mut seen = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = c
                .list_users()
                .max_items(3)
                .set_marker(marker.clone())
                .send()
                .await
                .unwrap();
            pages += 1;
            assert!(page.users().len() <= 3);
            seen.extend(page.users().iter().map(|u| u.user_name().to_owned()));
            if !page.is_truncated() {
                assert_eq!(page.marker(), None);
                break;
            }
            marker = Some(page.marker().expect("a marker when truncated").to_owned());
            assert!(pages < 10, "pagination does not end");
        }
        assert_eq!(pages, 3);
        names.sort();
        assert_eq!(seen, names);
        // The SDK's own paginator gets the same.
        let all: Vec<String> = c
            .list_users()
            .max_items(2)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.user_name().to_owned())
            .collect();
        assert_eq!(all, names);
        assert_eq!(
            code(c.list_users().max_items(0).send().await),
            "ValidationError"
        );
    });
}

/// A form POST to `/`, signed with aws-sigv4 for `service` as the SDKs sign
/// Query API calls (no `x-amz-content-sha256`).
fn signed_form(port: u16, service: &str, form: &str) -> Vec<u8> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity =
        aws_credential_types::Credentials::new(USER, PASSWORD, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = format!("127.0.0.1:{port}");
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let uri = format!("http://{host}/");
    let signable = SignableRequest::new(
        "POST",
        &uri,
        headers.iter().copied(),
        SignableBody::Bytes(form.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = http::Request::builder().method("POST").uri(&uri);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let mut req = req.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    let mut h: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    h.push(("content-length".into(), form.len().to_string()));
    request_bytes("POST", "/", &h, form.as_bytes())
}

#[test]
fn each_api_refuses_a_scope_for_another_service_as_aws_does() {
    let s = Server::start();
    let form = "Action=ListUsers&Version=2010-05-08";
    let ok = raw_request(s.port, &signed_form(s.port, "iam", form)).unwrap();
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let body = String::from_utf8_lossy(&ok.body);
    assert!(
        body.contains(r#"<ListUsersResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">"#)
            && body.contains("<RequestId>"),
        "{body}"
    );

    // An S3 scope on the IAM API.
    let r = raw_request(s.port, &signed_form(s.port, "s3", form)).unwrap();
    let body = String::from_utf8_lossy(&r.body);
    assert_eq!(
        (r.status, r.code()),
        (403, "SignatureDoesNotMatch".into()),
        "{body}"
    );
    assert!(body.contains("<ErrorResponse") && body.contains("<Type>Sender</Type>"));
    assert!(
        body.contains("scoped to correct service: &apos;iam&apos;"),
        "{body}"
    );

    // The same form signed for STS is STS's to answer.
    let sts = "Action=GetCallerIdentity&Version=2011-06-15";
    let r = raw_request(s.port, &signed_form(s.port, "sts", sts)).unwrap();
    let body = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, 200, "{body}");
    assert!(
        body.contains("https://sts.amazonaws.com/doc/2011-06-15/")
            && body.contains("<Arn>arn:aws:iam::000000000000:root</Arn>"),
        "{body}"
    );
    // An STS action signed for IAM is not an IAM action.
    let r = raw_request(s.port, &signed_form(s.port, "iam", sts)).unwrap();
    assert_eq!((r.status, r.code()), (400, "InvalidAction".into()));

    // An IAM scope on an S3 operation.
    let signed = binary::sign(
        s.port,
        "GET",
        "/",
        &[],
        &binary::sha256_hex(b""),
        PASSWORD,
        SystemTime::now(),
    );
    let iam_scoped: Vec<(String, String)> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.replace("/us-east-1/s3/", "/us-east-1/iam/")))
        .collect();
    let r = raw_request(s.port, &request_bytes("GET", "/", &iam_scoped, b"")).unwrap();
    assert_eq!(
        (r.status, r.code()),
        (400, "AuthorizationHeaderMalformed".into()),
        "{}",
        String::from_utf8_lossy(&r.body)
    );

    // Unsigned, tampered, unknown.
    let anon = request_bytes(
        "POST",
        "/",
        &[
            ("Host".into(), "x".into()),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("Content-Length".into(), form.len().to_string()),
        ],
        form.as_bytes(),
    );
    let r = raw_request(s.port, &anon).unwrap();
    assert_eq!(
        (r.status, r.code()),
        (403, "MissingAuthenticationToken".into())
    );
    let mut tampered = signed_form(s.port, "iam", form);
    let n = tampered.len();
    tampered[n - 1] = b'9';
    let r = raw_request(s.port, &tampered).unwrap();
    assert_eq!((r.status, r.code()), (403, "SignatureDoesNotMatch".into()));
    let r = raw_request(s.port, &signed_form(s.port, "iam", "Action=Frobnicate")).unwrap();
    assert_eq!((r.status, r.code()), (400, "InvalidAction".into()));
    let r = raw_request(
        s.port,
        &signed_form(s.port, "iam", "Action=GetUser&UserName=x"),
    )
    .unwrap();
    assert_eq!((r.status, r.code()), (404, "NoSuchEntity".into()));
    assert!(r.header("content-type").is_some_and(|t| t.contains("xml")));
    rt().block_on(async {
        let stranger = iam(&s.endpoint(), "AKIAUNKNOWNUNKNOWN00", "secret");
        assert_eq!(
            code(stranger.list_users().send().await),
            "InvalidClientTokenId"
        );
        // S3 keeps working beside it.
        s.client()
            .create_bucket()
            .bucket("still-s3")
            .send()
            .await
            .unwrap();
    });
}
