//! The POST policy of a browser upload: who signed it (SigV4 or SigV2 over
//! the base64 policy), and whether the form keeps to it (expiration,
//! `eq`/`starts-with`/`content-length-range` conditions, and AWS's rule that
//! every field but a few is named by a condition).
//!
//! Pure: the clock and the secret lookup are passed in.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use crate::auth::sigv4::{
    self, AuthKind, PayloadMode, SecretLookup, SigningKeyCache, Verified, ALGORITHM,
};

use crate::s3::error::{S3Code, S3Error};

/// Most conditions in one policy (a 20 KB form holds far fewer).
pub const MAX_CONDITIONS: usize = 256;

/// The form's fields (not the file): names lower-cased, as field names are
/// case-insensitive; a repeated field's values joined by commas, as AWS
/// compares them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn insert(&mut self, name: &str, value: String) {
        let name = name.to_ascii_lowercase();
        match self.0.get_mut(&name) {
            Some(v) => {
                v.push(',');
                v.push_str(&value);
            }
            None => {
                self.0.insert(name, value);
            }
        }
    }

    /// Takes a field out, by its lower-case name.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0.remove(name)
    }

    /// The value of a field, by its lower-case name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Replaces `${filename}` in every value (AWS expands it in all fields
    /// before checking the policy).
    pub fn expand_filename(&mut self, filename: &str) {
        for v in self.0.values_mut() {
            if v.contains("${filename}") {
                *v = v.replace("${filename}", filename);
            }
        }
    }
}

/// One condition, field names lower-cased without the `$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Eq {
        field: String,
        value: String,
    },
    StartsWith {
        field: String,
        prefix: String,
    },
    /// Inclusive bounds on the file's size.
    LengthRange {
        min: u64,
        max: u64,
    },
}

impl Condition {
    /// As AWS quotes a failed condition.
    fn describe(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match self {
            Condition::Eq { field, value } => {
                format!("[\"eq\", {}, {}]", q(&format!("${field}")), q(value))
            }
            Condition::StartsWith { field, prefix } => format!(
                "[\"starts-with\", {}, {}]",
                q(&format!("${field}")),
                q(prefix)
            ),
            Condition::LengthRange { min, max } => {
                format!("[\"content-length-range\", {min}, {max}]")
            }
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            Condition::Eq { field, .. } | Condition::StartsWith { field, .. } => Some(field),
            Condition::LengthRange { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// Unix seconds after which the policy is refused.
    pub expiration: i64,
    pub conditions: Vec<Condition>,
}

impl PostPolicy {
    /// The file size the policy allows, inclusive (the tightest of several
    /// ranges), if it names one.
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().fold(None, |acc, c| match c {
            Condition::LengthRange { min, max } => Some(match acc {
                None => (*min, *max),
                Some((a, b)) => ((*min).max(a), (*max).min(b)),
            }),
            _ => acc,
        })
    }
}

fn invalid_policy(why: &str) -> S3Error {
    S3Error::new(
        S3Code::InvalidPolicyDocument,
        format!("Invalid Policy: {why}"),
    )
}

fn denied(why: &str) -> S3Error {
    S3Error::new(
        S3Code::AccessDenied,
        format!("Invalid according to Policy: {why}"),
    )
}

/// AWS's answer to a form without a field it needs.
pub fn missing_field(name: &str) -> S3Error {
    S3Error::new(
        S3Code::InvalidArgument,
        format!(
            "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
        ),
    )
}

/// Decodes the `policy` field: base64 of a JSON document.
pub fn parse_policy(b64: &str) -> Result<PostPolicy, S3Error> {
    let json = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| invalid_policy("Invalid Base64 encoding."))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&json).map_err(|_| invalid_policy("Invalid JSON."))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| invalid_policy("Invalid JSON."))?;
    let expiration = match obj.get("expiration") {
        None => return Err(invalid_policy("Policy missing expiration.")),
        Some(v) => v
            .as_str()
            .and_then(parse_iso8601)
            .ok_or_else(|| invalid_policy("Invalid 'expiration' value."))?,
    };
    let list = match obj.get("conditions") {
        None => return Err(invalid_policy("Policy missing conditions.")),
        Some(v) => v
            .as_array()
            .ok_or_else(|| invalid_policy("Invalid 'conditions' value."))?,
    };
    if list.len() > MAX_CONDITIONS {
        return Err(invalid_policy("Too many conditions."));
    }
    let mut conditions = Vec::with_capacity(list.len());
    for c in list {
        parse_condition(c, &mut conditions)?;
    }
    Ok(PostPolicy {
        expiration,
        conditions,
    })
}

fn parse_condition(c: &serde_json::Value, out: &mut Vec<Condition>) -> Result<(), S3Error> {
    use serde_json::Value;
    match c {
        // {"acl": "public-read"}: exact matches, one per member.
        Value::Object(m) => {
            if m.is_empty() {
                return Err(invalid_policy("Invalid Simple-Condition: empty object."));
            }
            for (k, v) in m {
                let value = scalar(v).ok_or_else(|| {
                    invalid_policy("Invalid Simple-Condition: value must be a string.")
                })?;
                out.push(Condition::Eq {
                    field: k.trim_start_matches('$').to_ascii_lowercase(),
                    value,
                });
            }
            Ok(())
        }
        Value::Array(a) => {
            let op = a.first().and_then(Value::as_str).unwrap_or("");
            if op.eq_ignore_ascii_case("content-length-range") {
                let bound = |i: usize| a.get(i).and_then(non_negative);
                return match (a.len(), bound(1), bound(2)) {
                    (3, Some(min), Some(max)) if min <= max => {
                        out.push(Condition::LengthRange { min, max });
                        Ok(())
                    }
                    _ => Err(invalid_policy(
                        "Invalid content-length-range: expecting [\"content-length-range\", min, max].",
                    )),
                };
            }
            let (3, Some(field), Some(value)) = (
                a.len(),
                a.get(1).and_then(Value::as_str),
                a.get(2).and_then(scalar),
            ) else {
                return Err(invalid_policy(
                    "Invalid condition: expecting [operation, \"$field\", value].",
                ));
            };
            let Some(field) = field.strip_prefix('$') else {
                return Err(invalid_policy(
                    "Invalid condition: field names start with '$'.",
                ));
            };
            let field = field.to_ascii_lowercase();
            if op.eq_ignore_ascii_case("eq") {
                out.push(Condition::Eq { field, value });
            } else if op.eq_ignore_ascii_case("starts-with") {
                out.push(Condition::StartsWith {
                    field,
                    prefix: value,
                });
            } else {
                return Err(invalid_policy("Invalid condition: unknown operation."));
            }
            Ok(())
        }
        _ => Err(invalid_policy(
            "Invalid condition: expecting an object or an array.",
        )),
    }
}

/// A string, or a number written as one (`"success_action_status": 201`).
fn scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn non_negative(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `2007-12-01T12:00:00.000Z` (fraction optional) to unix seconds.
fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let tail = &s[19..];
    let frac = tail.strip_suffix('Z')?;
    if !(frac.is_empty()
        || (frac.len() > 1
            && frac.len() <= 10
            && frac.starts_with('.')
            && frac[1..].bytes().all(|c| c.is_ascii_digit())))
    {
        return None;
    }
    let compact = format!(
        "{}{}{}T{}{}{}Z",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    );
    sigv4::parse_amz_date(&compact)
}

/// Fields that need no condition (AWS: "each form field that you specify
/// in a form (except x-amz-signature, file, policy, and field names that
/// have an x-ignore- prefix) must appear in the list of conditions"; the
/// SigV2 form adds AWSAccessKeyId and signature).
fn exempt(name: &str) -> bool {
    matches!(
        name,
        "policy" | "x-amz-signature" | "signature" | "awsaccesskeyid" | "file"
    ) || name.starts_with("x-ignore-")
}

/// Checks the form against the policy at `now` (unix seconds). `fields`
/// must already have `${filename}` expanded; `bucket` is the target.
pub fn check(policy: &PostPolicy, fields: &Fields, bucket: &str, now: i64) -> Result<(), S3Error> {
    if now > policy.expiration {
        return Err(denied("Policy expired."));
    }
    let value = |field: &str| -> String {
        if field == "bucket" {
            bucket.to_owned()
        } else {
            fields.get(field).unwrap_or("").to_owned()
        }
    };
    for c in &policy.conditions {
        let ok = match c {
            Condition::Eq { field, value: want } => value(field) == *want,
            Condition::StartsWith { field, prefix } => value(field).starts_with(prefix.as_str()),
            // Enforced while the file streams.
            Condition::LengthRange { .. } => true,
        };
        if !ok {
            return Err(denied(&format!(
                "Policy Condition failed: {}",
                c.describe()
            )));
        }
    }
    for (name, _) in fields.iter() {
        if exempt(name) {
            continue;
        }
        if !policy.conditions.iter().any(|c| c.field() == Some(name)) {
            return Err(denied(&format!("Extra input fields: {name}")));
        }
    }
    Ok(())
}

/// Verifies the form's signature over its `policy` field: SigV4
/// (`x-amz-algorithm`, `x-amz-credential`, `x-amz-date`, `x-amz-signature`)
/// or SigV2 (`AWSAccessKeyId`, `signature`, HMAC-SHA1; `now` stands for its
/// missing date). `Ok(None)`: the form
/// carries no credentials (anonymous).
pub fn verify_signature(
    fields: &Fields,
    now: i64,
    secrets: &dyn SecretLookup,
    cache: &mut SigningKeyCache,
) -> Result<Option<Verified>, S3Error> {
    let v4 = ["x-amz-algorithm", "x-amz-credential", "x-amz-signature"]
        .iter()
        .any(|f| fields.get(f).is_some());
    let v2 = fields.get("awsaccesskeyid").is_some() || fields.get("signature").is_some();
    if !v4 && !v2 {
        return Ok(None);
    }
    let need = |f: &'static str| fields.get(f).ok_or_else(|| missing_field(f));
    let policy = need("policy")?;
    if v4 {
        verify_v4(fields, policy, secrets, cache).map(Some)
    } else {
        let access_key = fields
            .get("awsaccesskeyid")
            .ok_or_else(|| missing_field("AWSAccessKeyId"))?;
        let signature = need("signature")?;
        verify_v2(access_key, signature, policy, now, secrets).map(Some)
    }
}

fn verify_v4(
    fields: &Fields,
    policy: &str,
    secrets: &dyn SecretLookup,
    cache: &mut SigningKeyCache,
) -> Result<Verified, S3Error> {
    let need = |f: &'static str| fields.get(f).ok_or_else(|| missing_field(f));
    let algorithm = need("x-amz-algorithm")?;
    let credential = need("x-amz-credential")?;
    let date = need("x-amz-date")?;
    let signature = need("x-amz-signature")?;
    if algorithm != ALGORITHM {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            "The x-amz-algorithm field must be AWS4-HMAC-SHA256.",
        ));
    }
    let bad_credential = || {
        S3Error::new(
            S3Code::InvalidArgument,
            "Invalid x-amz-credential: expecting \"<YOUR-AKID>/YYYYMMDD/REGION/s3/aws4_request\".",
        )
    };
    let mut it = credential.rsplitn(5, '/');
    let (Some("aws4_request"), Some("s3"), Some(region), Some(scope_date), Some(access_key)) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return Err(bad_credential());
    };
    if access_key.is_empty() || region.is_empty() || scope_date.len() != 8 {
        return Err(bad_credential());
    }
    if sigv4::parse_amz_date(date).is_none() || !date.starts_with(scope_date) {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            "The x-amz-date field must be yyyyMMdd'T'HHmmss'Z' on the credential's date.",
        ));
    }
    let secret = secrets
        .secret(access_key)
        .ok_or_else(|| S3Error::from_code(S3Code::InvalidAccessKeyId))?;
    let signing_key = cache.get_or_derive(access_key, &secret, scope_date, region);
    let computed = sigv4::hmac_sha256(&signing_key, policy.as_bytes());
    let mut provided = [0u8; 32];
    if hex::decode_to_slice(signature, &mut provided).is_err()
        || !bool::from(computed.ct_eq(&provided))
    {
        return Err(S3Error::from_code(S3Code::SignatureDoesNotMatch));
    }
    Ok(Verified {
        kind: AuthKind::PostPolicy,
        access_key: access_key.to_owned(),
        region: region.to_owned(),
        service: sigv4::Service::S3,
        date: scope_date.to_owned(),
        timestamp: date.to_owned(),
        signing_key,
        seed_signature: hex::encode(computed),
        payload: PayloadMode::Unsigned,
        sigv2: false,
    })
}

fn verify_v2(
    access_key: &str,
    signature: &str,
    policy: &str,
    now: i64,
    secrets: &dyn SecretLookup,
) -> Result<Verified, S3Error> {
    let secret = secrets
        .secret(access_key)
        .ok_or_else(|| S3Error::from_code(S3Code::InvalidAccessKeyId))?;
    let mut mac = match Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes any key length"),
    };
    mac.update(policy.as_bytes());
    let computed = mac.finalize().into_bytes();
    let provided = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .unwrap_or_default();
    if !bool::from(computed.as_slice().ct_eq(provided.as_slice())) {
        return Err(S3Error::from_code(S3Code::SignatureDoesNotMatch));
    }
    let timestamp = sigv4::format_amz_date(now);
    Ok(Verified {
        kind: AuthKind::PostPolicy,
        access_key: access_key.to_owned(),
        region: "us-east-1".to_owned(),
        service: sigv4::Service::S3,
        date: timestamp[..8].to_owned(),
        timestamp,
        // SigV2 derives no signing key; nothing downstream chains from it.
        signing_key: [0; 32],
        seed_signature: hex::encode(computed),
        payload: PayloadMode::Unsigned,
        sigv2: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sigv4::Credentials;

    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    /// 2015-12-29T00:00:00Z, the date of AWS's POST example.
    const T: i64 = 1_451_347_200;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::default();
        for (k, v) in pairs {
            f.insert(k, (*v).to_owned());
        }
        f
    }

    fn policy(conditions: &str) -> PostPolicy {
        parse_policy(&b64(&format!(
            "{{\"expiration\": \"2015-12-30T12:00:00.000Z\", \"conditions\": [{conditions}]}}"
        )))
        .expect("policy")
    }

    fn code(r: Result<impl std::fmt::Debug, S3Error>) -> (S3Code, String) {
        let e = r.expect_err("an error");
        (e.code, e.message)
    }

    #[test]
    fn conditions_match_as_aws_documents_them() {
        let p = policy(
            r#"{"bucket": "sigv4examplebucket"},
               ["starts-with", "$key", "user/user1/"],
               {"acl": "public-read"},
               {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},
               ["starts-with", "$Content-Type", "image/"],
               {"x-amz-meta-uuid": "14365123651274"},
               ["starts-with", "$x-amz-meta-tag", ""],
               {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},
               {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
               {"x-amz-date": "20151229T000000Z"}"#,
        );
        let mut form = fields(&[
            ("key", "user/user1/${filename}"),
            ("acl", "public-read"),
            (
                "success_action_redirect",
                "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
            ),
            ("Content-Type", "image/jpeg"),
            ("x-amz-meta-uuid", "14365123651274"),
            ("X-Amz-Meta-Tag", ""),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            ),
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Date", "20151229T000000Z"),
            ("Policy", "ignored"),
            ("X-Amz-Signature", "ignored"),
            ("x-ignore-flash", "anything"),
        ]);
        form.expand_filename("photo.jpg");
        assert_eq!(form.get("key"), Some("user/user1/photo.jpg"));
        check(&p, &form, "sigv4examplebucket", T).expect("allowed");

        let refused = |f: &Fields, bucket: &str| code(check(&p, f, bucket, T));
        let (c, m) = refused(&form, "otherbucket");
        assert_eq!(c, S3Code::AccessDenied);
        assert_eq!(
            m,
            "Invalid according to Policy: Policy Condition failed: [\"eq\", \"$bucket\", \"sigv4examplebucket\"]"
        );
        let mut f = form.clone();
        f.0.insert("key".into(), "user/user2/photo.jpg".into());
        assert!(refused(&f, "sigv4examplebucket")
            .1
            .contains("[\"starts-with\", \"$key\", \"user/user1/\"]"));
        let mut f = form.clone();
        f.0.insert("content-type".into(), "text/html".into());
        assert!(refused(&f, "sigv4examplebucket")
            .1
            .contains("$content-type"));
        let mut f = form.clone();
        f.0.remove("acl");
        assert!(refused(&f, "sigv4examplebucket")
            .1
            .contains("[\"eq\", \"$acl\", \"public-read\"]"));
        let mut f = form.clone();
        f.insert("x-amz-meta-extra", "1".into());
        assert_eq!(
            refused(&f, "sigv4examplebucket").1,
            "Invalid according to Policy: Extra input fields: x-amz-meta-extra"
        );
        let (c, m) = code(check(&p, &form, "sigv4examplebucket", T + 2 * 86_400));
        assert_eq!(c, S3Code::AccessDenied);
        assert_eq!(m, "Invalid according to Policy: Policy expired.");
    }

    #[test]
    fn repeated_fields_are_compared_joined() {
        let p = policy(r#"{"x-amz-meta-tag": "Ninja,Stallman"}, ["starts-with", "$key", ""]"#);
        let f = fields(&[
            ("x-amz-meta-tag", "Ninja"),
            ("X-AMZ-META-TAG", "Stallman"),
            ("key", "k"),
        ]);
        check(&p, &f, "b", T).expect("joined values match");
    }

    #[test]
    fn length_ranges_combine_and_bad_policies_are_refused() {
        let p = policy(r#"["content-length-range", 1, 100], ["content-length-range", "10", 1000]"#);
        assert_eq!(p.length_range(), Some((10, 100)));
        assert_eq!(policy("").length_range(), None);
        let invalid = |doc: &str| code(parse_policy(&b64(doc))).0;
        let exp = "\"expiration\": \"2015-12-30T12:00:00Z\"";
        for doc in [
            "not json".to_owned(),
            "[]".to_owned(),
            "{\"conditions\": []}".to_owned(),
            format!("{{{exp}}}"),
            "{\"expiration\": \"tomorrow\", \"conditions\": []}".to_owned(),
            "{\"expiration\": \"2015-12-30T12:00:00.Z\", \"conditions\": []}".to_owned(),
            format!("{{{exp}, \"conditions\": {{}}}}"),
            format!("{{{exp}, \"conditions\": [[\"content-length-range\", 10, 1]]}}"),
            format!("{{{exp}, \"conditions\": [[\"content-length-range\", -1, 1]]}}"),
            format!("{{{exp}, \"conditions\": [[\"content-length-range\", 1]]}}"),
            format!("{{{exp}, \"conditions\": [[\"eq\", \"key\", \"x\"]]}}"),
            format!("{{{exp}, \"conditions\": [[\"regex\", \"$key\", \"x\"]]}}"),
            format!("{{{exp}, \"conditions\": [[\"eq\", \"$key\"]]}}"),
            format!("{{{exp}, \"conditions\": [{{\"key\": [\"x\"]}}]}}"),
            format!("{{{exp}, \"conditions\": [{{}}]}}"),
            format!("{{{exp}, \"conditions\": [\"key\"]}}"),
        ] {
            assert_eq!(invalid(&doc), S3Code::InvalidPolicyDocument, "{doc}");
        }
        assert_eq!(code(parse_policy("%%%")).0, S3Code::InvalidPolicyDocument);
        let p = parse_policy(&b64(&format!(
            "{{{exp}, \"conditions\": [{{\"success_action_status\": 201}}]}}"
        )))
        .expect("numbers read as strings");
        assert_eq!(p.expiration, T + 36 * 3600);
        check(&p, &fields(&[("success_action_status", "201")]), "b", T).expect("ok");
    }

    #[test]
    fn signatures_verify_with_the_credential_secret() {
        let secrets = Credentials {
            access_key: AK.into(),
            secret_key: SK.into(),
        };
        let mut cache = SigningKeyCache::default();
        let doc = b64("{\"expiration\": \"2015-12-30T12:00:00.000Z\", \"conditions\": []}");
        let key = sigv4::derive_signing_key(SK, "20151229", "us-east-1", "s3");
        let sig = hex::encode(sigv4::hmac_sha256(&key, doc.as_bytes()));
        let cred = format!("{AK}/20151229/us-east-1/s3/aws4_request");
        let v4 = |sig: &str, cred: &str| {
            fields(&[
                ("policy", doc.as_str()),
                ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
                ("x-amz-credential", cred),
                ("x-amz-date", "20151229T000000Z"),
                ("x-amz-signature", sig),
            ])
        };
        let mut verify = |f: &Fields| verify_signature(f, T, &secrets, &mut cache);
        let ok = verify(&v4(&sig, &cred)).expect("verifies").expect("signed");
        assert_eq!(ok.access_key, AK);
        assert_eq!(ok.kind, AuthKind::PostPolicy);
        assert_eq!(ok.region, "us-east-1");
        let mut wrong = sig.clone().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).expect("hex");
        assert_eq!(
            code(verify(&v4(&wrong, &cred))).0,
            S3Code::SignatureDoesNotMatch
        );
        assert_eq!(
            code(verify(&v4("zz", &cred))).0,
            S3Code::SignatureDoesNotMatch
        );
        let other = "OTHERKEY/20151229/us-east-1/s3/aws4_request";
        assert_eq!(code(verify(&v4(&sig, other))).0, S3Code::InvalidAccessKeyId);
        let region = format!("{AK}/20151229/eu-west-1/s3/aws4_request");
        assert_eq!(
            code(verify(&v4(&sig, &region))).0,
            S3Code::SignatureDoesNotMatch
        );
        for bad in [
            format!("{AK}/20151229/us-east-1/iam/aws4_request"),
            format!("{AK}/20151230/us-east-1/s3/aws4_request"),
            "/20151229/us-east-1/s3/aws4_request".to_owned(),
            "garbage".to_owned(),
        ] {
            assert_eq!(
                code(verify(&v4(&sig, &bad))).0,
                S3Code::InvalidArgument,
                "{bad}"
            );
        }
        let mut f = v4(&sig, &cred);
        f.0.remove("x-amz-date");
        assert_eq!(code(verify(&f)).0, S3Code::InvalidArgument);
        let mut f = v4(&sig, &cred);
        f.0.remove("policy");
        assert_eq!(code(verify(&f)).0, S3Code::InvalidArgument);
        let mut f = v4(&sig, &cred);
        f.0.insert("x-amz-algorithm".into(), "AWS4-ECDSA-P256-SHA256".into());
        assert_eq!(code(verify(&f)).0, S3Code::InvalidArgument);

        // SigV2: base64 HMAC-SHA1 of the policy.
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(SK.as_bytes()).expect("key");
        mac.update(doc.as_bytes());
        let sig2 = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let v2 = |sig: &str, ak: &str| {
            fields(&[
                ("policy", doc.as_str()),
                ("AWSAccessKeyId", ak),
                ("signature", sig),
            ])
        };
        let ok = verify(&v2(&sig2, AK)).expect("verifies").expect("signed");
        assert_eq!(ok.access_key, AK);
        assert_eq!(code(verify(&v2(&sig, AK))).0, S3Code::SignatureDoesNotMatch);
        assert_eq!(
            code(verify(&v2(&sig2, "NOPE"))).0,
            S3Code::InvalidAccessKeyId
        );

        // No credentials: anonymous, whatever else the form holds.
        assert_eq!(
            verify(&fields(&[("policy", doc.as_str()), ("key", "k")])),
            Ok(None)
        );
    }
}
