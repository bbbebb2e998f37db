//! Cases from AWS's documentation (IAM policy evaluation logic, condition
//! operators, S3 bucket policy examples, the home-folder policy), then a
//! property test that nothing panics on arbitrary policies and requests.

use std::net::IpAddr;

use super::*;

const ACCT: &str = "123456789012";
const ALICE_ARN: &str = "arn:aws:iam::123456789012:user/alice";
const ROOT_ARN: &str = "arn:aws:iam::123456789012:root";
/// 2024-01-01T00:00:00Z.
const NOW: i64 = 1_704_067_200_000;

fn alice() -> Principal<'static> {
    Principal {
        kind: PrincipalType::User,
        account: ACCT,
        arn: ALICE_ARN,
        other_arns: &[],
        canonical_id: Some("c0ffee"),
        username: Some("alice"),
        userid: Some("AIDAALICE"),
    }
}

fn bob() -> Principal<'static> {
    Principal {
        arn: "arn:aws:iam::123456789012:user/bob",
        username: Some("bob"),
        userid: Some("AIDABOB"),
        canonical_id: None,
        ..alice()
    }
}

fn root() -> Principal<'static> {
    Principal {
        kind: PrincipalType::Root,
        arn: ROOT_ARN,
        username: None,
        userid: Some(ACCT),
        ..alice()
    }
}

fn identity(json: &str) -> Policy {
    Policy::parse(json.as_bytes(), PolicyKind::Identity).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn bucket(json: &str) -> Policy {
    Policy::parse(json.as_bytes(), PolicyKind::Resource).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn req<'a>(action: Action, resource: &'a str, p: Principal<'a>) -> Request<'a> {
    Request::new(action, resource, p, NOW)
}

fn decide(id: Option<&Policy>, res: Option<&Policy>, r: &Request<'_>) -> Decision {
    evaluate(&Inputs {
        request: r,
        identity: id.map(Policy::set),
        resource: res.map(Policy::set),
        session: None,
    })
}

use Action::*;
use Decision::{Allow as A, ExplicitDeny as D, ImplicitDeny as I};

#[test]
fn home_folder_policy_confines_each_user_to_home_slash_username() {
    // IAM User Guide, "allows IAM users to access their own home directory in S3".
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"ListRoot","Action":"s3:ListBucket","Effect":"Allow","Resource":"arn:aws:s3:::amzn-s3-demo-bucket",
         "Condition":{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}},
        {"Sid":"Home","Action":["s3:*"],"Effect":"Allow",
         "Resource":["arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}","arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"]}]}"#,
    );
    let b = "arn:aws:s3:::amzn-s3-demo-bucket";
    let list = |prefix: &'static str, who| {
        req(S3ListBucket, b, who).with(KnownKey::S3Prefix, Value::Str(prefix))
    };
    let cases = [
        (
            req(
                S3PutObject,
                "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/a.txt",
                alice(),
            ),
            A,
        ),
        (
            req(
                S3GetObject,
                "arn:aws:s3:::amzn-s3-demo-bucket/home/alice",
                alice(),
            ),
            A,
        ),
        (
            req(
                S3PutObject,
                "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/a.txt",
                alice(),
            ),
            I,
        ),
        (
            req(
                S3PutObject,
                "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/a.txt",
                bob(),
            ),
            A,
        ),
        (
            req(
                S3PutObject,
                "arn:aws:s3:::amzn-s3-demo-bucket/home/alicex/a",
                alice(),
            ),
            I,
        ),
        (
            req(S3PutObject, "arn:aws:s3:::amzn-s3-demo-bucket/x", alice()),
            I,
        ),
        (list("home/alice/docs/", alice()), A),
        (list("", alice()), A),
        (list("home/", alice()), A),
        (list("home/bob/", alice()), I),
        (req(S3ListBucket, b, alice()), I),
        (
            req(
                S3PutObject,
                "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/a",
                Principal {
                    username: None,
                    ..alice()
                },
            ),
            I,
        ),
    ];
    for (i, (r, want)) in cases.iter().enumerate() {
        assert_eq!(decide(Some(&p), None, r), *want, "case {i}: {r:?}");
    }
}

#[test]
fn version_2008_treats_variables_as_text() {
    let p = identity(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}}"#,
    );
    assert_eq!(p.version(), Version::V2008_10_17);
    assert_eq!(
        decide(
            Some(&p),
            None,
            &req(S3GetObject, "arn:aws:s3:::b/alice/x", alice())
        ),
        I
    );
    assert_eq!(
        decide(
            Some(&p),
            None,
            &req(S3GetObject, "arn:aws:s3:::b/${aws:username}/x", alice())
        ),
        A
    );
}

#[test]
fn escapes_stand_for_themselves_not_wildcards() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}${?}${$}/*"}}"#,
    );
    assert_eq!(
        decide(
            Some(&p),
            None,
            &req(S3GetObject, "arn:aws:s3:::b/*?$/k", alice())
        ),
        A
    );
    assert_eq!(
        decide(
            Some(&p),
            None,
            &req(S3GetObject, "arn:aws:s3:::b/ab$/k", alice())
        ),
        I
    );
}

#[test]
fn explicit_deny_wins_then_any_allow_else_implicit_deny() {
    // IAM User Guide, "Policy evaluation logic" for a single account.
    let allow_all = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    let deny_delete = bucket(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let grant_bob = bucket(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let get = req(S3GetObject, "arn:aws:s3:::b/k", alice());
    let del = req(S3DeleteObject, "arn:aws:s3:::b/k", alice());
    let bob_get = req(S3GetObject, "arn:aws:s3:::b/k", bob());
    let cases: [(Option<&Policy>, Option<&Policy>, &Request<'_>, Decision); 8] = [
        (Some(&allow_all), None, &get, A),
        (Some(&allow_all), Some(&deny_delete), &del, D),
        (Some(&allow_all), Some(&deny_delete), &get, A),
        (None, None, &get, I),
        (None, Some(&grant_bob), &bob_get, A),
        (None, Some(&grant_bob), &get, I),
        (Some(&allow_all), Some(&grant_bob), &bob_get, A),
        (None, Some(&deny_delete), &del, D),
    ];
    for (i, (id, res, r, want)) in cases.into_iter().enumerate() {
        assert_eq!(decide(id, res, r), want, "case {i}");
    }
}

#[test]
fn bucket_policy_ip_restriction_from_the_s3_examples() {
    // S3 User Guide, "Restricting access to specific IP addresses".
    let p = bucket(
        r#"{"Version":"2012-10-17","Id":"S3PolicyId1","Statement":[{"Sid":"IPAllow","Effect":"Allow","Principal":"*",
        "Action":"s3:*","Resource":"arn:aws:s3:::examplebucket/*",
        "Condition":{"IpAddress":{"aws:SourceIp":"54.240.143.0/24"},"NotIpAddress":{"aws:SourceIp":"54.240.143.188/32"}}}]}"#,
    );
    assert_eq!(p.id(), Some("S3PolicyId1"));
    let from = |ip: &str| {
        req(
            S3GetObject,
            "arn:aws:s3:::examplebucket/k",
            Principal::ANONYMOUS,
        )
        .with(KnownKey::SourceIp, Value::Ip(ip.parse::<IpAddr>().unwrap()))
    };
    assert_eq!(decide(None, Some(&p), &from("54.240.143.1")), A);
    assert_eq!(decide(None, Some(&p), &from("54.240.143.188")), I);
    assert_eq!(decide(None, Some(&p), &from("54.240.144.1")), I);
    assert_eq!(decide(None, Some(&p), &from("::ffff:54.240.143.2")), A);
    // No source address: IpAddress is false.
    let none = req(
        S3GetObject,
        "arn:aws:s3:::examplebucket/k",
        Principal::ANONYMOUS,
    );
    assert_eq!(decide(None, Some(&p), &none), I);
}

#[test]
fn deny_without_tls_applies_to_every_caller() {
    // S3 User Guide, "Enforce encryption of data in transit" (aws:SecureTransport).
    let p = bucket(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
        {"Sid":"TLS","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],
         "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    );
    let over = |tls| {
        req(S3GetObject, "arn:aws:s3:::b/k", alice())
            .with(KnownKey::SecureTransport, Value::Bool(tls))
    };
    assert_eq!(decide(None, Some(&p), &over(true)), A);
    assert_eq!(decide(None, Some(&p), &over(false)), D);
    // Bool on an absent key is false: not denied, and alice is allowed by name.
    assert_eq!(
        decide(
            None,
            Some(&p),
            &req(S3GetObject, "arn:aws:s3:::b/k", alice())
        ),
        A
    );
}

#[test]
fn public_read_reaches_anonymous_callers_for_get_only() {
    let p = bucket(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":["arn:aws:s3:::b/*"]}]}"#,
    );
    assert_eq!(
        decide(
            None,
            Some(&p),
            &req(S3GetObject, "arn:aws:s3:::b/k", Principal::ANONYMOUS)
        ),
        A
    );
    assert_eq!(
        decide(
            None,
            Some(&p),
            &req(S3PutObject, "arn:aws:s3:::b/k", Principal::ANONYMOUS)
        ),
        I
    );
    assert_eq!(
        decide(
            None,
            Some(&p),
            &req(S3ListBucket, "arn:aws:s3:::b", Principal::ANONYMOUS)
        ),
        I
    );
    assert_eq!(
        decide(
            None,
            Some(&p),
            &req(S3GetObject, "arn:aws:s3:::other/k", Principal::ANONYMOUS)
        ),
        I
    );
    assert!(p.is_public());
}

#[test]
fn condition_operators_decide_as_aws_documents() {
    // (operator block, request key set or not, expected condition result)
    let date = |s: &'static str| Value::Time(values::parse_date(s).unwrap());
    type Case = (&'static str, Option<(KnownKey, Value<'static>)>, bool);
    let cases: Vec<Case> = vec![
        (
            r#"{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("bucket-owner-full-control"))),
            true,
        ),
        (
            r#"{"StringEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("public-read"))),
            false,
        ),
        (
            r#"{"StringEquals":{"s3:x-amz-acl":["private","public-read"]}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("public-read"))),
            true,
        ),
        (
            r#"{"StringEquals":{"s3:x-amz-acl":"private"}}"#,
            None,
            false,
        ),
        (
            r#"{"StringNotEquals":{"s3:x-amz-acl":"private"}}"#,
            None,
            true,
        ),
        (
            r#"{"StringNotEquals":{"s3:x-amz-acl":["private","public-read"]}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("public-read"))),
            false,
        ),
        (
            r#"{"StringNotEquals":{"s3:x-amz-acl":"private"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("public-read"))),
            true,
        ),
        (
            r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"private"}}"#,
            None,
            true,
        ),
        (
            r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"private"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("public-read"))),
            false,
        ),
        (
            r#"{"StringEqualsIgnoreCase":{"aws:PrincipalType":"user"}}"#,
            None,
            true,
        ),
        (
            r#"{"StringEquals":{"aws:PrincipalType":"user"}}"#,
            None,
            false,
        ),
        (
            r#"{"StringNotEqualsIgnoreCase":{"aws:username":"ALICE"}}"#,
            None,
            false,
        ),
        (
            r#"{"StringLike":{"aws:UserAgent":"aws-cli/*"}}"#,
            Some((KnownKey::UserAgent, Value::Str("aws-cli/2.15 Python"))),
            true,
        ),
        (
            r#"{"StringNotLike":{"aws:Referer":["http://www.example.com/*"]}}"#,
            Some((KnownKey::Referer, Value::Str("http://www.example.com/a"))),
            false,
        ),
        (
            r#"{"StringNotLike":{"aws:Referer":["http://www.example.com/*"]}}"#,
            None,
            true,
        ),
        (
            r#"{"StringEquals":{"s3:x-amz-acl":"${aws:username}"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("alice"))),
            true,
        ),
        (
            r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#,
            Some((KnownKey::S3MaxKeys, Value::Str("10"))),
            true,
        ),
        (
            r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#,
            Some((KnownKey::S3MaxKeys, Value::Str("11"))),
            false,
        ),
        (
            r#"{"NumericLessThan":{"s3:max-keys":10}}"#,
            Some((KnownKey::S3MaxKeys, Value::Int(9))),
            true,
        ),
        (
            r#"{"NumericNotEquals":{"s3:max-keys":"10"}}"#,
            Some((KnownKey::S3MaxKeys, Value::Str("x"))),
            true,
        ),
        (
            r#"{"NumericGreaterThan":{"s3:max-keys":"10"}}"#,
            Some((KnownKey::S3MaxKeys, Value::Str("x"))),
            false,
        ),
        (
            r#"{"NumericGreaterThanEquals":{"s3:object-lock-remaining-retention-days":"10"}}"#,
            Some((
                KnownKey::S3ObjectLockRemainingRetentionDays,
                Value::Str("10.0"),
            )),
            true,
        ),
        (
            r#"{"DateLessThan":{"aws:CurrentTime":"2024-06-30T00:00:00Z"}}"#,
            None,
            true,
        ),
        (
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2024-06-30T00:00:00Z"}}"#,
            None,
            false,
        ),
        (
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-01-01"}}"#,
            None,
            true,
        ),
        (
            r#"{"DateLessThan":{"aws:EpochTime":"1704067201"}}"#,
            None,
            true,
        ),
        (
            r#"{"NumericLessThan":{"aws:EpochTime":"1704067200"}}"#,
            None,
            false,
        ),
        (
            r#"{"DateEquals":{"s3:object-lock-retain-until-date":"2025-01-01T00:00:00Z"}}"#,
            Some((KnownKey::S3ObjectLockRetainUntilDate, date("2025-01-01"))),
            true,
        ),
        (
            r#"{"DateNotEquals":{"s3:object-lock-retain-until-date":"2025-01-01T00:00:00Z"}}"#,
            Some((
                KnownKey::S3ObjectLockRetainUntilDate,
                Value::Str("2025-01-01T00:00:00Z"),
            )),
            false,
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
            Some((KnownKey::SecureTransport, Value::Bool(true))),
            true,
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":true}}"#,
            Some((KnownKey::SecureTransport, Value::Str("TRUE"))),
            true,
        ),
        (r#"{"Bool":{"aws:SecureTransport":"false"}}"#, None, false),
        (
            r#"{"BoolIfExists":{"aws:SecureTransport":"false"}}"#,
            None,
            true,
        ),
        (
            r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#,
            None,
            true,
        ),
        (
            r#"{"Null":{"s3:x-amz-server-side-encryption":"true"}}"#,
            Some((KnownKey::S3XAmzServerSideEncryption, Value::Str("AES256"))),
            false,
        ),
        (
            r#"{"Null":{"s3:x-amz-server-side-encryption":"false"}}"#,
            Some((KnownKey::S3XAmzServerSideEncryption, Value::Str("AES256"))),
            true,
        ),
        (
            r#"{"StringEquals":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"k1"}}"#,
            Some((
                KnownKey::S3XAmzServerSideEncryptionAwsKmsKeyId,
                Value::Str("k1"),
            )),
            true,
        ),
        (
            r#"{"StringEquals":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"k1"}}"#,
            None,
            false,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":["2001:DB8:1234:5678::/64","203.0.113.0/24"]}}"#,
            Some((
                KnownKey::SourceIp,
                Value::Ip("2001:db8:1234:5678::9".parse().unwrap()),
            )),
            true,
        ),
        (
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            Some((KnownKey::SourceIp, Value::Str("203.0.113.7"))),
            true,
        ),
        (
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            None,
            true,
        ),
        (
            r#"{"StringEquals":{"aws:SourceIp":"203.0.113.7"}}"#,
            Some((
                KnownKey::SourceIp,
                Value::Ip("203.0.113.7".parse().unwrap()),
            )),
            true,
        ),
        (
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/al*"}}"#,
            None,
            true,
        ),
        (
            r#"{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/bob"}}"#,
            None,
            false,
        ),
        (
            r#"{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/bob"}}"#,
            None,
            true,
        ),
        (
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:*:iam:*:123456789012:user/alice"}}"#,
            None,
            true,
        ),
        (
            r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/alice?"}}"#,
            None,
            false,
        ),
        (
            r#"{"BinaryEquals":{"s3:x-amz-acl":"cHJpdmF0ZQ=="}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("private"))),
            true,
        ),
        // Several keys in one operator, and several operators: AND.
        (
            r#"{"StringEquals":{"s3:x-amz-acl":"private","aws:username":"alice"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("private"))),
            true,
        ),
        (
            r#"{"StringEquals":{"s3:x-amz-acl":"private","aws:username":"bob"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("private"))),
            false,
        ),
        (
            r#"{"StringEquals":{"s3:x-amz-acl":"private"},"Bool":{"aws:SecureTransport":"true"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("private"))),
            false,
        ),
        // Condition key names compare without case.
        (
            r#"{"StringEquals":{"AWS:USERNAME":"alice","S3:X-Amz-Acl":"private"}}"#,
            Some((KnownKey::S3XAmzAcl, Value::Str("private"))),
            true,
        ),
        // A key cairn never supplies is absent.
        (
            r#"{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}"#,
            None,
            false,
        ),
        (
            r#"{"StringNotEquals":{"aws:PrincipalOrgID":"o-1"}}"#,
            None,
            true,
        ),
    ];
    for (i, (cond, value, want)) in cases.into_iter().enumerate() {
        let json = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{cond}}}}}"#
        );
        let p = identity(&json);
        let mut r = req(S3PutObject, "arn:aws:s3:::b/k", alice());
        if let Some((k, v)) = value {
            r.set(k, v);
        }
        let got = decide(Some(&p), None, &r) == A;
        assert_eq!(got, want, "case {i}: {cond} with {value:?}");
    }
}

#[test]
fn set_qualifiers_follow_aws_rules_for_multivalued_keys() {
    // IAM User Guide, "Multivalued context keys": tag keys limited to a list.
    let all =
        r#"{"ForAllValues:StringEquals":{"s3:RequestObjectTagKeys":["Owner","CreationDate"]}}"#;
    let any = r#"{"ForAnyValue:StringEquals":{"s3:RequestObjectTagKeys":["Owner"]}}"#;
    let not_all = r#"{"ForAllValues:StringNotEquals":{"s3:RequestObjectTagKeys":["Secret"]}}"#;
    let not_any = r#"{"ForAnyValue:StringNotEquals":{"s3:RequestObjectTagKeys":["Owner"]}}"#;
    let plain = r#"{"StringEquals":{"s3:RequestObjectTagKeys":"Owner"}}"#;
    let any_ifexists =
        r#"{"ForAnyValue:StringEqualsIfExists":{"s3:RequestObjectTagKeys":"Owner"}}"#;
    let owner: &[(&str, &str)] = &[("Owner", "alice")];
    let owner_secret: &[(&str, &str)] = &[("Owner", "alice"), ("Secret", "x")];
    let none: &[(&str, &str)] = &[];
    let cases = [
        (all, owner, true),
        (all, owner_secret, false),
        (all, none, true),
        (any, owner_secret, true),
        (any, none, false),
        (not_all, owner, true),
        (not_all, owner_secret, false),
        (not_all, none, true),
        (not_any, owner, false),
        (not_any, owner_secret, true),
        (not_any, none, false),
        (plain, owner_secret, true),
        (any_ifexists, none, true),
    ];
    for (i, (cond, tags, want)) in cases.into_iter().enumerate() {
        let json = format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:PutObjectTagging","Resource":"*","Condition":{cond}}}}}"#
        );
        let p = identity(&json);
        let mut r = req(S3PutObjectTagging, "arn:aws:s3:::b/k", alice());
        r.request_object_tags = tags;
        assert_eq!(
            decide(Some(&p), None, &r) == A,
            want,
            "case {i}: {cond} with {tags:?}"
        );
    }
    // An explicit list overrides the pairs.
    let p = identity(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{all}}}}}"#
    ));
    let r = req(S3PutObject, "arn:aws:s3:::b/k", alice()).with(
        KnownKey::S3RequestObjectTagKeys,
        Value::List(&["Owner", "Other"]),
    );
    assert_eq!(decide(Some(&p), None, &r), I);
}

#[test]
fn object_tag_conditions_read_the_named_tag() {
    // S3 User Guide, "Tagging and access control policies".
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*",
        "Condition":{"StringEquals":{"s3:ExistingObjectTag/environment":"production"}}},
        {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*",
        "Condition":{"StringEquals":{"s3:RequestObjectTag/Owner":"${aws:username}"}}}]}"#,
    );
    let mut r = req(S3GetObject, "arn:aws:s3:::b/k", alice());
    r.existing_object_tags = &[("environment", "production")];
    assert_eq!(decide(Some(&p), None, &r), A);
    r.existing_object_tags = &[("Environment", "production")];
    assert_eq!(decide(Some(&p), None, &r), I, "tag keys are case-sensitive");
    let mut w = req(S3PutObject, "arn:aws:s3:::b/k", alice());
    w.request_object_tags = &[("Owner", "alice")];
    assert_eq!(decide(Some(&p), None, &w), A);
    w.request_object_tags = &[("Owner", "bob")];
    assert_eq!(decide(Some(&p), None, &w), I);
}

#[test]
fn not_action_and_not_resource_invert_their_lists() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","NotAction":"iam:*","Resource":"*"},
        {"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::mine","arn:aws:s3:::mine/*"]}]}"#,
    );
    assert_eq!(
        decide(
            Some(&p),
            None,
            &req(S3GetObject, "arn:aws:s3:::mine/k", alice())
        ),
        A
    );
    assert_eq!(
        decide(
            Some(&p),
            None,
            &req(S3GetObject, "arn:aws:s3:::other/k", alice())
        ),
        D
    );
    assert_eq!(
        decide(
            Some(&p),
            None,
            &req(IamCreateUser, "arn:aws:iam::123456789012:user/x", alice())
        ),
        I
    );
    assert_eq!(
        decide(
            Some(&p),
            None,
            &req(StsAssumeRole, "arn:aws:iam::123456789012:role/r", alice())
        ),
        A
    );
}

#[test]
fn principals_match_by_arn_account_and_canonical_id() {
    let by = |principal: &str, effect: &str| {
        bucket(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"{effect}","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}}}"#
        ))
    };
    let get = |p| req(S3GetObject, "arn:aws:s3:::b/k", p);
    let cases = [
        (
            by(r#"{"AWS":"arn:aws:iam::123456789012:user/alice"}"#, "Allow"),
            get(alice()),
            A,
        ),
        (
            by(
                r#"{"AWS":["arn:aws:iam::123456789012:user/alice"]}"#,
                "Allow",
            ),
            get(bob()),
            I,
        ),
        (
            by(r#"{"CanonicalUser":"c0ffee"}"#, "Allow"),
            get(alice()),
            A,
        ),
        // An account in an Allow names its root; users need their own allow.
        (by(r#"{"AWS":"123456789012"}"#, "Allow"), get(root()), A),
        (by(r#"{"AWS":"123456789012"}"#, "Allow"), get(alice()), I),
        (
            by(r#"{"AWS":"arn:aws:iam::123456789012:root"}"#, "Allow"),
            get(alice()),
            I,
        ),
        // In a Deny it covers the account's identities.
        (by(r#"{"AWS":"123456789012"}"#, "Deny"), get(alice()), D),
        (by(r#"{"AWS":"999999999999"}"#, "Deny"), get(alice()), I),
        (by(r#"{"AWS":"*"}"#, "Allow"), get(Principal::ANONYMOUS), A),
        (
            by(r#"{"AWS":"arn:aws:iam::123456789012:user/alice"}"#, "Allow"),
            get(Principal::ANONYMOUS),
            I,
        ),
        (
            by(r#"{"Service":"logging.s3.amazonaws.com"}"#, "Allow"),
            get(alice()),
            I,
        ),
    ];
    for (i, (p, r, want)) in cases.iter().enumerate() {
        assert_eq!(decide(None, Some(p), r), *want, "case {i}");
    }
    // NotPrincipal with Deny: everyone but alice is refused.
    let p = bucket(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
        {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::123456789012:user/alice"]},"Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    assert_eq!(decide(None, Some(&p), &get(alice())), A);
    assert_eq!(decide(None, Some(&p), &get(bob())), D);
    assert_eq!(decide(None, Some(&p), &get(Principal::ANONYMOUS)), D);
}

#[test]
fn session_policy_narrows_identity_allows_but_not_named_grants() {
    let full = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    let read_only = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let session_arn = "arn:aws:sts::123456789012:assumed-role/reader/s1";
    let role: &[&str] = &["arn:aws:iam::123456789012:role/reader"];
    let session = Principal {
        kind: PrincipalType::AssumedRole,
        arn: session_arn,
        other_arns: role,
        username: None,
        userid: Some("AROAREADER:s1"),
        ..alice()
    };
    let to_role = bucket(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/reader"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let to_session = bucket(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::123456789012:assumed-role/reader/s1"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let run = |res: Option<&Policy>, action| {
        let r = req(action, "arn:aws:s3:::b/k", session);
        evaluate(&Inputs {
            request: &r,
            identity: Some(full.set()),
            resource: res.map(Policy::set),
            session: Some(read_only.set()),
        })
    };
    assert_eq!(run(None, S3GetObject), A);
    assert_eq!(run(None, S3PutObject), I);
    assert_eq!(run(Some(&to_role), S3PutObject), I);
    assert_eq!(run(Some(&to_session), S3PutObject), A);
}

#[test]
fn root_has_every_permission_but_a_bucket_deny_except_on_the_policy_itself() {
    let deny_all = bucket(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}}"#,
    );
    assert_eq!(
        decide(None, None, &req(S3GetObject, "arn:aws:s3:::b/k", root())),
        A
    );
    assert_eq!(
        decide(
            None,
            Some(&deny_all),
            &req(S3GetObject, "arn:aws:s3:::b/k", root())
        ),
        D
    );
    assert_eq!(
        decide(
            None,
            Some(&deny_all),
            &req(S3DeleteBucketPolicy, "arn:aws:s3:::b", root())
        ),
        A
    );
    assert_eq!(
        decide(
            None,
            Some(&deny_all),
            &req(S3DeleteBucketPolicy, "arn:aws:s3:::b", alice())
        ),
        D
    );
}

#[test]
fn merged_identity_policies_act_as_one() {
    let user = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
    );
    let group = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}}"#,
    );
    let guard = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/locked/*"}}"#,
    );
    let set = PolicySet::merge([&user, &group, &guard]);
    assert_eq!(set.len(), 3);
    let run = |action, res: &str| {
        let r = req(action, res, alice());
        evaluate(&Inputs {
            request: &r,
            identity: Some(&set),
            resource: None,
            session: None,
        })
    };
    assert_eq!(run(S3GetObject, "arn:aws:s3:::b/k"), A);
    assert_eq!(run(S3PutObject, "arn:aws:s3:::b/k"), A);
    assert_eq!(run(S3PutObject, "arn:aws:s3:::b/locked/k"), D);
    assert_eq!(run(S3DeleteObject, "arn:aws:s3:::b/k"), I);
}

#[test]
fn list_all_my_buckets_uses_the_star_resource() {
    let p = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::*"}}"#,
    );
    let q = identity(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    let r = req(S3ListAllMyBuckets, "arn:aws:s3:::*", alice());
    assert_eq!(decide(Some(&p), None, &r), A);
    assert_eq!(decide(Some(&q), None, &r), I);
}

#[test]
fn malformed_policies_are_refused_with_a_message_naming_the_problem() {
    let stmt = |body: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{body}]}}"#);
    let ok = r#""Effect":"Allow","Action":"s3:GetObject","Resource":"*""#;
    let cases: Vec<(String, PolicyKind, &str)> = vec![
        ("not json".into(), PolicyKind::Identity, "not valid JSON"),
        ("[]".into(), PolicyKind::Identity, "JSON object"),
        (
            r#"{"Version":"2012-10-17"}"#.into(),
            PolicyKind::Identity,
            "no Statement",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[]}"#.into(),
            PolicyKind::Identity,
            "must not be empty",
        ),
        (
            r#"{"Version":"2013-01-01","Statement":[]}"#.into(),
            PolicyKind::Identity,
            "Version",
        ),
        (
            format!(r#"{{"Version":"2012-10-17","Extra":1,"Statement":{{{ok}}}}}"#),
            PolicyKind::Identity,
            "unknown policy element \"Extra\"",
        ),
        (
            stmt(&format!(r#"{{{ok},"Foo":"x"}}"#)),
            PolicyKind::Identity,
            "unknown element \"Foo\"",
        ),
        (
            stmt(r#"{"Effect":"Permit","Action":"s3:GetObject","Resource":"*"}"#),
            PolicyKind::Identity,
            "invalid Effect",
        ),
        (
            stmt(r#"{"Action":"s3:GetObject","Resource":"*"}"#),
            PolicyKind::Identity,
            "missing Effect",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#),
            PolicyKind::Identity,
            "Action must not be empty",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"","Resource":"*"}"#),
            PolicyKind::Identity,
            "Action must not be empty",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"GetObject","Resource":"*"}"#),
            PolicyKind::Identity,
            "invalid action",
        ),
        (
            stmt(r#"{"Effect":"Allow","Resource":"*"}"#),
            PolicyKind::Identity,
            "missing Action",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}"#),
            PolicyKind::Identity,
            "cannot both",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"s3:*","Resource":"bucket/*"}"#),
            PolicyKind::Identity,
            "invalid resource \"bucket/*\"",
        ),
        (
            stmt(r#"{"Effect":"Allow","Action":"s3:*"}"#),
            PolicyKind::Identity,
            "missing Resource",
        ),
        (
            stmt(&format!(r#"{{{ok},"Principal":"*"}}"#)),
            PolicyKind::Identity,
            "not allowed in an identity policy",
        ),
        (
            stmt(&format!("{{{ok}}}")),
            PolicyKind::Resource,
            "missing Principal",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Principal":{{"AWS":"arn:aws:iam::1234:user/*"}}}}"#
            )),
            PolicyKind::Resource,
            "invalid principal",
        ),
        (
            stmt(&format!(r#"{{{ok},"Principal":{{"Users":"x"}}}}"#)),
            PolicyKind::Resource,
            "unknown principal type",
        ),
        (
            stmt(&format!(r#"{{{ok},"Principal":"alice"}}"#)),
            PolicyKind::Resource,
            "Principal must be",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"StringMatches":{{"aws:username":"a"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid condition operator \"StringMatches\"",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"StringLikeIgnoreCase":{{"aws:username":"a"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid condition operator",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"NullIfExists":{{"aws:username":"true"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid condition operator",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"NumericLessThan":{{"s3:max-keys":"ten"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid number \"ten\"",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"DateLessThan":{{"aws:CurrentTime":"tomorrow"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid date",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"IpAddress":{{"aws:SourceIp":"10.0.0.0/33"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid IP address",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"Bool":{{"aws:SecureTransport":"yes"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid boolean",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"StringEquals":{{"username":"a"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid condition key",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"ArnLike":{{"aws:PrincipalArn":"arn:*:user/alice"}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid ARN",
        ),
        (
            stmt(&format!(
                r#"{{{ok},"Condition":{{"StringEquals":{{"aws:username":[]}}}}}}"#
            )),
            PolicyKind::Identity,
            "invalid values",
        ),
        (
            stmt(&format!(r#"{{"Sid":"A",{ok}}},{{"Sid":"A",{ok}}}"#)),
            PolicyKind::Identity,
            "duplicate Sid \"A\"",
        ),
    ];
    for (json, kind, want) in cases {
        match Policy::parse(json.as_bytes(), kind) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => {
                assert!(!e.is_limit_exceeded());
                assert!(
                    e.message().contains(want),
                    "{json}: {:?} lacks {want:?}",
                    e.message()
                );
            }
        }
    }
}

#[test]
fn size_limits_are_aws_figures_and_reported_apart() {
    let policy = |pad: usize| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Sid":"{}","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}}}"#,
            "a".repeat(pad)
        )
    };
    let base = SizeLimit::ManagedPolicy.measure(policy(0).as_bytes());
    let at = policy(6144 - base);
    assert_eq!(SizeLimit::ManagedPolicy.measure(at.as_bytes()), 6144);
    assert!(Policy::parse(at.as_bytes(), PolicyKind::Identity).is_ok());
    // Whitespace is not counted.
    let spaced = at.replace(",", " ,\n ");
    assert!(Policy::parse(spaced.as_bytes(), PolicyKind::Identity).is_ok());
    let over = policy(6145 - base);
    let err = Policy::parse(over.as_bytes(), PolicyKind::Identity).unwrap_err();
    assert!(err.is_limit_exceeded(), "{err}");
    assert!(err.message().contains("6144"), "{err}");
    let err = Policy::parse_limited(at.as_bytes(), PolicyKind::Identity, SizeLimit::UserInline)
        .unwrap_err();
    assert_eq!(
        err,
        PolicyError::TooLarge {
            limit: SizeLimit::UserInline,
            size: 6144
        }
    );
    assert!(
        Policy::parse_limited(at.as_bytes(), PolicyKind::Identity, SizeLimit::RoleInline).is_ok()
    );
    // A bucket policy counts bytes, whitespace included, up to 20 KB.
    let b = |pad: usize| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Sid":"{}","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}}}"#,
            " ".repeat(pad)
        )
    };
    let base = b(0).len();
    assert!(Policy::parse(b(20480 - base).as_bytes(), PolicyKind::Resource).is_ok());
    assert!(
        Policy::parse(b(20481 - base).as_bytes(), PolicyKind::Resource)
            .unwrap_err()
            .is_limit_exceeded()
    );
    assert_eq!(SizeLimit::GroupInline.max(), 5120);
    assert_eq!(SizeLimit::SessionPolicy.max(), 2048);
}

#[test]
fn public_policy_status_follows_s3_rules() {
    let pb = |principal: &str, cond: &str| {
        let cond = if cond.is_empty() {
            String::new()
        } else {
            format!(r#","Condition":{cond}"#)
        };
        bucket(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{cond}}}}}"#
        ))
        .is_public()
    };
    let cases = [
        (r#""*""#, "", true),
        (r#"{"AWS":"*"}"#, "", true),
        (r#"{"AWS":"123456789012"}"#, "", false),
        (r#"{"CanonicalUser":"c0ffee"}"#, "", false),
        (
            r#""*""#,
            r#"{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            false,
        ),
        (
            r#""*""#,
            r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#,
            true,
        ),
        (
            r#""*""#,
            r#"{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#,
            true,
        ),
        (
            r#""*""#,
            r#"{"StringEquals":{"aws:SourceAccount":"123456789012"}}"#,
            false,
        ),
        (
            r#""*""#,
            r#"{"StringLike":{"aws:SourceAccount":"12345*"}}"#,
            true,
        ),
        (
            r#""*""#,
            r#"{"StringEquals":{"aws:userid":"AIDAALICE"}}"#,
            false,
        ),
        (
            r#""*""#,
            r#"{"StringLike":{"aws:userid":"AROLEID:*"}}"#,
            true,
        ),
        (
            r#""*""#,
            r#"{"StringEquals":{"aws:PrincipalAccount":"${aws:username}"}}"#,
            true,
        ),
        (
            r#""*""#,
            r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::logs"}}"#,
            false,
        ),
        (
            r#""*""#,
            r#"{"StringEquals":{"s3:x-amz-acl":"private"}}"#,
            true,
        ),
        (
            r#""*""#,
            r#"{"StringEquals":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"arn:aws:kms:us-east-1:123456789012:key/k1"}}"#,
            false,
        ),
        (
            r#""*""#,
            r#"{"StringLike":{"s3:x-amz-server-side-encryption-aws-kms-key-id":"*"}}"#,
            true,
        ),
    ];
    for (principal, cond, want) in cases {
        assert_eq!(pb(principal, cond), want, "{principal} {cond}");
    }
    let deny_only = bucket(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}}"#,
    );
    assert!(!deny_only.is_public());
}

#[test]
fn evaluation_of_the_benchmark_case_does_not_allocate_a_decision_per_policy() {
    // The shapes the benchmark runs: 3 identity policies of 10 statements
    // each, merged, plus a bucket policy with conditions.
    let (set, bp) = bench_case();
    let r = req(
        S3GetObject,
        "arn:aws:s3:::photos/home/alice/cat.jpg",
        alice(),
    )
    .with(
        KnownKey::SourceIp,
        Value::Ip("203.0.113.9".parse().unwrap()),
    )
    .with(KnownKey::SecureTransport, Value::Bool(true));
    let inputs = Inputs {
        request: &r,
        identity: Some(&set),
        resource: Some(bp.set()),
        session: None,
    };
    assert_eq!(set.len(), 30);
    assert_eq!(evaluate(&inputs), A);
    let other = req(S3DeleteObject, "arn:aws:s3:::photos/home/bob/x", alice());
    assert_eq!(
        evaluate(&Inputs {
            request: &other,
            ..inputs
        }),
        D
    );
}

/// The benchmark's policies (also used by `benches/policy.rs`, which builds
/// the same JSON).
fn bench_case() -> (PolicySet, Policy) {
    let docs = crate::iam::policy::bench_policies();
    let ids: Vec<Policy> = docs.0.iter().map(|j| identity(j)).collect();
    (PolicySet::merge(&ids), bucket(&docs.1))
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "Version",
        "2012-10-17",
        "2008-10-17",
        "Id",
        "Statement",
        "Sid",
        "Effect",
        "Allow",
        "Deny",
        "Principal",
        "NotPrincipal",
        "AWS",
        "CanonicalUser",
        "Service",
        "*",
        "123456789012",
        ALICE_ARN,
        ROOT_ARN,
        "Action",
        "NotAction",
        "s3:*",
        "s3:Get*",
        "s3:GetObject",
        "iam:?etUser",
        "Resource",
        "NotResource",
        "arn:aws:s3:::b/*",
        "arn:aws:s3:::b/${aws:username}/${*}",
        "arn:aws:s3:::b/${",
        "Condition",
        "StringEquals",
        "StringNotLike",
        "ForAllValues:StringLike",
        "ForAnyValue:StringNotEqualsIgnoreCase",
        "NumericLessThanIfExists",
        "DateGreaterThan",
        "Bool",
        "Null",
        "IpAddress",
        "NotIpAddress",
        "ArnLike",
        "BinaryEquals",
        "aws:SourceIp",
        "aws:username",
        "aws:CurrentTime",
        "s3:max-keys",
        "s3:prefix",
        "s3:RequestObjectTagKeys",
        "s3:ExistingObjectTag/k",
        "true",
        "10",
        "2024-01-01T00:00:00Z",
        "10.0.0.0/8",
        "::/0",
        "home/${aws:username}/*",
        "cHJpdmF0ZQ==",
        "",
        "é?*",
    ];

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let word =
            proptest::sample::select(WORDS).prop_map(|w| serde_json::Value::String(w.into()));
        let leaf = prop_oneof![
            word.clone(),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            ".{0,8}".prop_map(serde_json::Value::String),
            Just(serde_json::Value::Null),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                proptest::collection::vec((proptest::sample::select(WORDS), inner), 0..6).prop_map(
                    |kv| {
                        serde_json::Value::Object(
                            kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                        )
                    }
                ),
            ]
        })
    }

    /// Mostly well-formed policies with fuzzed parts.
    fn policy_json() -> impl Strategy<Value = String> {
        (json(), json(), json(), json(), json(), any::<bool>()).prop_map(|(p, a, r, c, extra, resource)| {
            let mut s = serde_json::json!({"Effect": "Allow", "Action": a, "Resource": r, "Condition": c});
            if resource {
                s["Principal"] = p;
            }
            if let serde_json::Value::Object(m) = &extra {
                for (k, v) in m {
                    s[k] = v.clone();
                }
            }
            serde_json::json!({"Version": "2012-10-17", "Statement": [s]}).to_string()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

        #[test]
        fn parse_and_evaluate_never_panic(
            doc in prop_oneof![policy_json(), json().prop_map(|j| j.to_string())],
            action in 0..Action::ALL.len(),
            resource in prop_oneof![proptest::sample::select(WORDS).prop_map(str::to_string), ".{0,40}"],
            kind in any::<bool>(),
            anonymous in any::<bool>(),
            ip in any::<[u8; 4]>(),
            text in ".{0,16}",
            tags in proptest::collection::vec((".{0,4}", ".{0,4}"), 0..3),
            now in any::<i64>(),
        ) {
            let kind = if kind { PolicyKind::Resource } else { PolicyKind::Identity };
            let Ok(p) = Policy::parse(doc.as_bytes(), kind) else { return Ok(()) };
            let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let principal = if anonymous { Principal::ANONYMOUS } else { alice() };
            let now = now / 4;
            let mut r = Request::new(Action::ALL[action], &resource, principal, now)
                .with(KnownKey::SourceIp, Value::Ip(IpAddr::from(ip)))
                .with(KnownKey::S3Prefix, Value::Str(&text))
                .with(KnownKey::S3MaxKeys, Value::Str(&text))
                .with(KnownKey::Referer, Value::Time(now));
            r.existing_object_tags = &tags;
            r.request_object_tags = &tags;
            let _ = p.is_public();
            let set = p.set();
            let _ = evaluate(&Inputs { request: &r, identity: Some(set), resource: Some(set), session: Some(set) });
        }
    }
}
