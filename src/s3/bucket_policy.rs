//! Bucket policies (Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus) and
//! the bucket's public access block (Put/Get/DeletePublicAccessBlock). Both
//! live in the bucket table; `authorize` compiles them once per change.

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use hyper::body::Incoming;

use crate::engine::buckets::PublicAccessBlock;
use crate::iam::policy::{Policy, PolicyKind};
use crate::xmlw;

use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{full, status_only, xml};
use super::error::{S3Code, S3Error};
use super::xml::{malformed, require_blank, response, set_once, walk_elements};

/// Longest PutBucketPolicy body read; the policy's own limit (20 KiB, as
/// AWS) is the parser's, which names it in the MalformedPolicy message.
const MAX_POLICY_BODY: usize = 64 << 10;
/// Longest PutPublicAccessBlock document accepted (a real one is ~300
/// bytes).
const MAX_BLOCK_BODY: usize = 16 << 10;

fn stored_policy(ctx: &Ctx<'_>, bucket: &str) -> Result<String, S3Error> {
    let table = ctx.engine.buckets();
    let info = table
        .get(bucket)
        .ok_or_else(|| S3Error::from_code(S3Code::NoSuchBucket))?;
    info.policy
        .clone()
        .ok_or_else(|| S3Error::from_code(S3Code::NoSuchBucketPolicy))
}

fn public_access_block(ctx: &Ctx<'_>, bucket: &str) -> Result<Option<PublicAccessBlock>, S3Error> {
    let table = ctx.engine.buckets();
    let info = table
        .get(bucket)
        .ok_or_else(|| S3Error::from_code(S3Code::NoSuchBucket))?;
    Ok(info.public_access_block)
}

/// Checks the policy as S3 would (MalformedPolicy naming the problem) and
/// refuses a public one while the bucket blocks public policies.
pub async fn put_policy(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    let doc = ctx.read_document(body, MAX_POLICY_BODY).await?;
    let policy = Policy::parse(&doc, PolicyKind::Resource)
        .map_err(|e| S3Error::new(S3Code::MalformedPolicy, e.message()))?;
    check_scope(&doc, crate::s3::tenant::external_name(bucket))?;
    let blocks = public_access_block(ctx, bucket)?.is_some_and(|b| b.block_public_policy);
    if blocks && policy.is_public() {
        return Err(S3Error::new(
            S3Code::AccessDenied,
            "Access Denied: the bucket's public access block (BlockPublicPolicy) refuses public policies",
        ));
    }
    // Parsing checked it is UTF-8.
    let text = String::from_utf8(doc).map_err(|_| S3Error::from_code(S3Code::MalformedPolicy))?;
    ctx.engine.set_bucket_policy(bucket, Some(text)).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

/// What S3 checks beyond the policy language: every action is an S3 one
/// (`s3:Name`, wildcards allowed, or `*`) and every resource is this
/// bucket or objects in it, with S3's messages. S3 action names cairn
/// does not serve are accepted (they never match), as in identity
/// policies, so policies written for AWS still load.
fn check_scope(doc: &[u8], bucket: &str) -> Result<(), S3Error> {
    use serde_json::Value as Json;
    let refuse = |msg: &str| S3Error::new(S3Code::MalformedPolicy, msg);
    // Parsed once already; a failure here cannot happen.
    let json: Json = serde_json::from_slice(doc).map_err(|_| refuse("Policy is not valid JSON"))?;
    let statements: Vec<&Json> = match json.get("Statement") {
        Some(Json::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let texts = |s: &'_ Json, names: [&str; 2]| -> Vec<String> {
        names
            .iter()
            .filter_map(|n| s.get(*n))
            .flat_map(|v| match v {
                Json::String(t) => vec![t.clone()],
                Json::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            })
            .collect()
    };
    for s in statements {
        if !texts(s, ["Action", "NotAction"])
            .iter()
            .all(|a| is_s3_action(a))
        {
            return Err(refuse("Policy has invalid action"));
        }
        if !texts(s, ["Resource", "NotResource"])
            .iter()
            .all(|r| in_bucket(r, bucket))
        {
            return Err(refuse("Policy has invalid resource"));
        }
    }
    Ok(())
}

fn is_s3_action(a: &str) -> bool {
    if a == "*" {
        return true;
    }
    let Some((service, name)) = a.split_once(':') else {
        return false;
    };
    service.eq_ignore_ascii_case("s3")
        && !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
}

/// `arn:aws:s3:::BUCKET` or `arn:aws:s3:::BUCKET/…`, where BUCKET may be
/// a wildcard pattern that matches this bucket's name.
fn in_bucket(resource: &str, bucket: &str) -> bool {
    let Some(rest) = resource.strip_prefix("arn:aws:s3:::") else {
        return false;
    };
    let name = rest.split_once('/').map_or(rest, |(b, _)| b);
    !name.is_empty() && crate::iam::wildcard::matches(name, bucket)
}

/// The policy as it was stored.
pub fn get_policy(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    let text = stored_policy(ctx, bucket)?;
    let mut r = Response::new(full(text));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

pub async fn delete_policy(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_bucket_policy(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

pub fn get_policy_status(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    let text = stored_policy(ctx, bucket)?;
    // A stored policy that no longer parses grants nothing: not public.
    let public = Policy::parse(text.as_bytes(), PolicyKind::Resource).is_ok_and(|p| p.is_public());
    Ok(xml(StatusCode::OK, policy_status(public)))
}

pub async fn put_public_access_block(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    let doc = ctx.read_document(body, MAX_BLOCK_BODY).await?;
    let block = parse_public_access_block(&doc)?;
    ctx.engine
        .set_public_access_block(bucket, Some(block))
        .await?;
    Ok(status_only(StatusCode::OK))
}

pub fn get_public_access_block(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    let block = public_access_block(ctx, bucket)?
        .ok_or_else(|| S3Error::from_code(S3Code::NoSuchPublicAccessBlockConfiguration))?;
    Ok(xml(StatusCode::OK, public_access_block_document(&block)))
}

pub async fn delete_public_access_block(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    ctx.engine.set_public_access_block(bucket, None).await?;
    Ok(status_only(StatusCode::NO_CONTENT))
}

const BLOCK_ROOT: &str = "PublicAccessBlockConfiguration";
const BLOCK_FIELDS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

/// A `PublicAccessBlockConfiguration`: each flag at most once, `true` or
/// `false`; an absent one is false. Anything else is MalformedXML.
pub fn parse_public_access_block(body: &[u8]) -> Result<PublicAccessBlock, S3Error> {
    let mut flags: [Option<bool>; 4] = [None; 4];
    walk_elements(body, BLOCK_ROOT.as_bytes(), |path, text| match path {
        [_] => require_blank(&text),
        [_, field] => {
            let i = BLOCK_FIELDS
                .iter()
                .position(|f| f.as_bytes() == field.as_slice())
                .ok_or_else(malformed)?;
            let value = match text.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(malformed()),
            };
            set_once(&mut flags[i], value)
        }
        _ => Err(malformed()),
    })?;
    let [block_public_acls, ignore_public_acls, block_public_policy, restrict_public_buckets] =
        flags.map(|f| f.unwrap_or(false));
    Ok(PublicAccessBlock {
        block_public_acls,
        ignore_public_acls,
        block_public_policy,
        restrict_public_buckets,
    })
}

pub fn public_access_block_document(b: &PublicAccessBlock) -> Vec<u8> {
    let values = [
        b.block_public_acls,
        b.ignore_public_acls,
        b.block_public_policy,
        b.restrict_public_buckets,
    ];
    response(BLOCK_ROOT, 256, |w| {
        for (name, value) in BLOCK_FIELDS.iter().zip(values) {
            w.boolean(name, value);
        }
    })
}

pub fn policy_status(public: bool) -> Vec<u8> {
    response("PolicyStatus", 128, |w: &mut xmlw::Writer<'_>| {
        w.boolean("IsPublic", public);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_access_block_documents_round_trip_and_absent_flags_are_false() {
        let doc = br#"<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <BlockPublicAcls>true</BlockPublicAcls><RestrictPublicBuckets>true</RestrictPublicBuckets>
        </PublicAccessBlockConfiguration>"#;
        let b = parse_public_access_block(doc).expect("valid");
        assert_eq!(
            b,
            PublicAccessBlock {
                block_public_acls: true,
                restrict_public_buckets: true,
                ..Default::default()
            }
        );
        assert_eq!(
            parse_public_access_block(&public_access_block_document(&b)),
            Ok(b)
        );
        let text = String::from_utf8(public_access_block_document(&b)).expect("utf-8");
        assert!(
            text.contains("<IgnorePublicAcls>false</IgnorePublicAcls>"),
            "{text}"
        );
        assert!(
            String::from_utf8(policy_status(true))
                .expect("utf-8")
                .contains("<PolicyStatus xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsPublic>true</IsPublic></PolicyStatus>")
        );
    }

    #[test]
    fn bucket_policies_name_only_s3_actions_on_their_own_bucket() {
        let doc = |action: &str, resource: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":{action},"Resource":{resource}}}]}}"#
            )
        };
        let check = |action: &str, resource: &str| {
            check_scope(doc(action, resource).as_bytes(), "photos").map_err(|e| e.message)
        };
        assert_eq!(
            check(r#""s3:GetObject""#, r#""arn:aws:s3:::photos/*""#),
            Ok(())
        );
        assert_eq!(
            check(
                r#"["s3:List*","*"]"#,
                r#"["arn:aws:s3:::photos","arn:aws:s3:::pho*/home/*"]"#
            ),
            Ok(())
        );
        let invalid_resource = Err("Policy has invalid resource".to_owned());
        for r in [
            r#""arn:aws:s3:::otherbucket/*""#,
            r#""*""#,
            r#"["arn:aws:s3:::photos/*","arn:aws:s3:::photosx"]"#,
            r#""arn:aws:iam::000000000000:user/x""#,
        ] {
            assert_eq!(check(r#""s3:GetObject""#, r), invalid_resource, "{r}");
        }
        let invalid_action = Err("Policy has invalid action".to_owned());
        for a in [
            r#""iam:CreateUser""#,
            r#"["s3:GetObject","ec2:*"]"#,
            r#""s3:Get Object""#,
        ] {
            assert_eq!(
                check(a, r#""arn:aws:s3:::photos/*""#),
                invalid_action,
                "{a}"
            );
        }
    }

    #[test]
    fn malformed_public_access_blocks_are_refused() {
        for bad in [
            &b""[..],
            b"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>",
            b"<PublicAccessBlockConfiguration><Other>true</Other></PublicAccessBlockConfiguration>",
            b"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>",
            b"<Wrong><BlockPublicAcls>true</BlockPublicAcls></Wrong>",
        ] {
            assert_eq!(
                parse_public_access_block(bad).map_err(|e| e.code),
                Err(S3Code::MalformedXML),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
