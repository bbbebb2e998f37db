//! `Policy::parse` on any bytes and on JSON built from the language's own
//! vocabulary, then `evaluate` on fuzzed requests, checking that nothing
//! panics and that decisions keep their algebra: a policy used as its own
//! session policy changes nothing, an explicit deny stays a deny whatever is
//! added, and re-serialising the JSON compiles to the same policy.
#![no_main]

use std::net::IpAddr;

use arbitrary::Arbitrary;
use cairn::iam::action::Action;
use cairn::iam::policy::{
    evaluate, Decision, Inputs, KnownKey, Policy, PolicyKind, Principal, PrincipalType, Request, Value,
};
use libfuzzer_sys::fuzz_target;

const WORDS: &[&str] = &[
    "Version", "2012-10-17", "2008-10-17", "Id", "Statement", "Sid", "Effect", "Allow", "Deny", "Principal",
    "NotPrincipal", "AWS", "CanonicalUser", "Service", "*", "123456789012", "arn:aws:iam::123456789012:user/alice",
    "arn:aws:iam::123456789012:root", "Action", "NotAction", "s3:*", "s3:Get*", "s3:GetObject", "s3:?utObject",
    "Resource", "NotResource", "arn:aws:s3:::b/*", "arn:aws:s3:::b/${aws:username}/${*}", "arn:aws:s3:::b/${",
    "Condition", "StringEquals", "StringNotLike", "StringLike", "ForAllValues:StringLike",
    "ForAnyValue:StringNotEqualsIgnoreCase", "NumericLessThanIfExists", "NumericGreaterThan", "DateGreaterThan",
    "DateLessThanEquals", "Bool", "Null", "IpAddress", "NotIpAddress", "ArnLike", "ArnNotEquals", "BinaryEquals",
    "aws:SourceIp", "aws:username", "aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport", "s3:max-keys",
    "s3:prefix", "s3:RequestObjectTagKeys", "s3:ExistingObjectTag/k", "s3:RequestObjectTag/k", "aws:PrincipalArn",
    "true", "false", "10", "-1.5", "2024-01-01T00:00:00Z", "1704067200", "10.0.0.0/8", "::/0", "203.0.113.7",
    "home/${aws:username}/*", "arn:aws:iam::*:user/*", "cHJpdmF0ZQ==", "", "é?*",
];

#[derive(Arbitrary, Debug)]
enum J {
    Word(u8),
    Text(String),
    Num(i32),
    Bool(bool),
    Null,
    Array(Vec<J>),
    Object(Vec<(u8, J)>),
}

impl J {
    fn build(&self, depth: u32) -> serde_json::Value {
        use serde_json::Value as V;
        let word = |i: &u8| WORDS[usize::from(*i) % WORDS.len()].to_string();
        match self {
            _ if depth > 6 => V::Null,
            J::Word(i) => V::String(word(i)),
            J::Text(s) => V::String(s.clone()),
            J::Num(n) => V::from(*n),
            J::Bool(b) => V::from(*b),
            J::Null => V::Null,
            J::Array(items) => V::Array(items.iter().take(8).map(|j| j.build(depth + 1)).collect()),
            J::Object(kv) => V::Object(kv.iter().take(8).map(|(k, v)| (word(k), v.build(depth + 1))).collect()),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Stmt {
    deny: bool,
    principal: Option<J>,
    action: J,
    resource: J,
    condition: Option<J>,
    extra: Option<(u8, J)>,
}

#[derive(Arbitrary, Debug)]
enum Doc {
    Raw(Vec<u8>),
    Any(J),
    Policy { version: Option<u8>, statements: Vec<Stmt> },
}

#[derive(Arbitrary, Debug)]
struct Input {
    doc: Doc,
    other: Doc,
    resource_kind: bool,
    action: u16,
    resource: String,
    resource_word: Option<u8>,
    anonymous: bool,
    ip: [u8; 16],
    v4: bool,
    text: String,
    tags: Vec<(String, String)>,
    now: i64,
}

fn render(doc: &Doc) -> Vec<u8> {
    match doc {
        Doc::Raw(b) => b.clone(),
        Doc::Any(j) => j.build(0).to_string().into_bytes(),
        Doc::Policy { version, statements } => {
            let stmts: Vec<serde_json::Value> = statements
                .iter()
                .take(6)
                .map(|s| {
                    let mut o = serde_json::json!({
                        "Effect": if s.deny { "Deny" } else { "Allow" },
                        "Action": s.action.build(1),
                        "Resource": s.resource.build(1),
                    });
                    if let Some(p) = &s.principal {
                        o["Principal"] = p.build(1);
                    }
                    if let Some(c) = &s.condition {
                        o["Condition"] = c.build(1);
                    }
                    if let Some((k, v)) = &s.extra {
                        o[WORDS[usize::from(*k) % WORDS.len()]] = v.build(1);
                    }
                    o
                })
                .collect();
            let mut top = serde_json::json!({ "Statement": stmts });
            if let Some(v) = version {
                top["Version"] = serde_json::Value::String(WORDS[usize::from(*v) % WORDS.len()].into());
            }
            top.to_string().into_bytes()
        }
    }
}

fuzz_target!(|input: Input| {
    let kind = if input.resource_kind { PolicyKind::Resource } else { PolicyKind::Identity };
    let json = render(&input.doc);
    let Ok(policy) = Policy::parse(&json, kind) else { return };
    // Whitespace and key order do not change what a document means.
    let reparsed: serde_json::Value = serde_json::from_slice(&json).expect("accepted JSON parses");
    let again = serde_json::to_string_pretty(&reparsed).expect("serialises");
    if let Ok(p2) = Policy::parse(again.as_bytes(), kind) {
        assert_eq!(p2, policy);
    } else {
        // Only the size limit may refuse the pretty form.
        assert!(Policy::parse(again.as_bytes(), kind).unwrap_err().is_limit_exceeded());
    }
    let other = Policy::parse(&render(&input.other), PolicyKind::Resource).ok();

    let ip = if input.v4 {
        IpAddr::from([input.ip[0], input.ip[1], input.ip[2], input.ip[3]])
    } else {
        IpAddr::from(input.ip)
    };
    let tags: Vec<(&str, &str)> = input.tags.iter().take(4).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let principal = if input.anonymous {
        Principal::ANONYMOUS
    } else {
        Principal {
            kind: PrincipalType::User,
            account: "123456789012",
            arn: "arn:aws:iam::123456789012:user/alice",
            other_arns: &[],
            canonical_id: Some("c0ffee"),
            username: Some("alice"),
            userid: Some("AIDAALICE"),
        }
    };
    let resource = match input.resource_word {
        Some(w) => WORDS[usize::from(w) % WORDS.len()],
        None => input.resource.as_str(),
    };
    let action = Action::ALL[usize::from(input.action) % Action::ALL.len()];
    let mut r = Request::new(action, resource, principal, input.now / 4)
        .with(KnownKey::SourceIp, Value::Ip(ip))
        .with(KnownKey::S3Prefix, Value::Str(&input.text))
        .with(KnownKey::S3MaxKeys, Value::Str(&input.text))
        .with(KnownKey::UserAgent, Value::Time(input.now / 4));
    r.existing_object_tags = &tags;
    r.request_object_tags = &tags;

    let _ = policy.is_public();
    let set = policy.set();
    let run = |identity, resource, session| {
        evaluate(&Inputs { request: &r, identity, resource, session })
    };
    let alone = run(Some(set), None, None);
    assert_eq!(run(Some(set), None, Some(set)), alone, "a policy narrowing itself changes nothing");
    let with_other = run(Some(set), other.as_ref().map(Policy::set), None);
    if alone == Decision::ExplicitDeny {
        assert_eq!(with_other, Decision::ExplicitDeny, "deny wins whatever is added");
    }
    if alone == Decision::Allow && with_other != Decision::Allow {
        assert_eq!(with_other, Decision::ExplicitDeny, "an added policy can only add a deny");
    }
    let _ = run(None, Some(set), Some(set));
});
