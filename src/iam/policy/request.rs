//! What a request brings to evaluation: the action, the resource ARN, the
//! principal and the condition keys' values, all borrowed so that building
//! one costs no allocation.

use std::net::IpAddr;

use crate::iam::action::Action;

macro_rules! keys {
    ($($variant:ident => $name:literal,)*) => {
        /// A condition key cairn supplies from the request. Adding a key is
        /// one line here; the request layer then `set`s its value.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum KnownKey {
            $($variant,)*
        }

        impl KnownKey {
            /// Every key, in declaration order (`ALL[k as usize] == k`).
            pub const ALL: &'static [KnownKey] = &[$(KnownKey::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(KnownKey::$variant => $name,)*
                }
            }
        }
    };
}

keys! {
    SourceIp => "aws:SourceIp",
    SecureTransport => "aws:SecureTransport",
    Referer => "aws:Referer",
    UserAgent => "aws:UserAgent",
    CurrentTime => "aws:CurrentTime",
    EpochTime => "aws:EpochTime",
    Username => "aws:username",
    Userid => "aws:userid",
    PrincipalType => "aws:PrincipalType",
    PrincipalArn => "aws:PrincipalArn",
    PrincipalAccount => "aws:PrincipalAccount",
    S3Prefix => "s3:prefix",
    S3Delimiter => "s3:delimiter",
    S3MaxKeys => "s3:max-keys",
    S3XAmzAcl => "s3:x-amz-acl",
    S3XAmzServerSideEncryption => "s3:x-amz-server-side-encryption",
    S3XAmzServerSideEncryptionAwsKmsKeyId => "s3:x-amz-server-side-encryption-aws-kms-key-id",
    S3RequestObjectTagKeys => "s3:RequestObjectTagKeys",
    S3VersionId => "s3:VersionId",
    S3ObjectLockMode => "s3:object-lock-mode",
    S3ObjectLockRetainUntilDate => "s3:object-lock-retain-until-date",
    S3ObjectLockRemainingRetentionDays => "s3:object-lock-remaining-retention-days",
    S3ObjectLockLegalHold => "s3:object-lock-legal-hold",
    S3XAmzCopySource => "s3:x-amz-copy-source",
    S3XAmzMetadataDirective => "s3:x-amz-metadata-directive",
    S3XAmzStorageClass => "s3:x-amz-storage-class",
    S3XAmzContentSha256 => "s3:x-amz-content-sha256",
    S3SignatureVersion => "s3:signatureversion",
    S3AuthType => "s3:authType",
    S3LocationConstraint => "s3:LocationConstraint",
}

/// How many known keys there are: the width of a request's value table.
pub const KEY_COUNT: usize = KnownKey::ALL.len();

impl KnownKey {
    /// The key named `name`; AWS compares key names without regard to case.
    pub fn parse(name: &str) -> Option<KnownKey> {
        KnownKey::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
    }
}

/// A condition key as a policy names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Known(KnownKey),
    /// `s3:ExistingObjectTag/<tag key>`; tag keys are case-sensitive.
    ExistingObjectTag(Box<str>),
    /// `s3:RequestObjectTag/<tag key>`.
    RequestObjectTag(Box<str>),
    /// A well-formed key cairn never supplies (another service's, or one not
    /// served yet): always absent. Kept lower-cased for the public-policy
    /// check, which looks some of them up by name.
    Other(Box<str>),
}

const EXISTING_TAG: &str = "s3:ExistingObjectTag/";
const REQUEST_TAG: &str = "s3:RequestObjectTag/";

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

impl Key {
    /// A key name from a policy, or `None` when it is not of the form
    /// `service:name`.
    pub fn parse(name: &str) -> Option<Key> {
        if let Some(tag) = strip_prefix_ignore_case(name, EXISTING_TAG) {
            return (!tag.is_empty()).then(|| Key::ExistingObjectTag(tag.into()));
        }
        if let Some(tag) = strip_prefix_ignore_case(name, REQUEST_TAG) {
            return (!tag.is_empty()).then(|| Key::RequestObjectTag(tag.into()));
        }
        if let Some(k) = KnownKey::parse(name) {
            return Some(Key::Known(k));
        }
        let (service, rest) = name.split_once(':')?;
        let well_formed = !service.is_empty()
            && !rest.is_empty()
            && name
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '$' && c != '{');
        well_formed.then(|| Key::Other(name.to_ascii_lowercase().into()))
    }
}

/// A condition key's value in a request. Typed where the server knows the
/// type; string operators see the value's text (formatted on the stack).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    Str(&'a str),
    /// A multi-valued key (`s3:RequestObjectTagKeys` …).
    List(&'a [&'a str]),
    /// The keys of tag pairs, as a multi-valued key.
    TagKeys(&'a [(&'a str, &'a str)]),
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    /// Milliseconds since the Unix epoch.
    Time(i64),
}

/// One element of a [`Value`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Time(i64),
}

impl<'a> Value<'a> {
    pub fn len(&self) -> usize {
        match self {
            Value::List(l) => l.len(),
            Value::TagKeys(t) => t.len(),
            _ => 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` (`i < len()`).
    pub fn item(&self, i: usize) -> Scalar<'a> {
        match *self {
            Value::Str(s) => Scalar::Str(s),
            Value::List(l) => Scalar::Str(l[i]),
            Value::TagKeys(t) => Scalar::Str(t[i].0),
            Value::Bool(b) => Scalar::Bool(b),
            Value::Int(n) => Scalar::Int(n),
            Value::Ip(ip) => Scalar::Ip(ip),
            Value::Time(t) => Scalar::Time(t),
        }
    }
}

/// Who sends a request, as `aws:PrincipalType` and principal matching see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalType {
    Anonymous,
    /// The account's root user: every permission, bar a bucket policy's deny.
    Root,
    User,
    AssumedRole,
    /// A key that inherits or narrows its parent user's policy (MinIO's
    /// service accounts); narrowing is a session policy.
    ServiceAccount,
}

impl PrincipalType {
    /// The value of `aws:PrincipalType`.
    pub fn aws_name(self) -> &'static str {
        match self {
            PrincipalType::Anonymous => "Anonymous",
            PrincipalType::Root => "Account",
            PrincipalType::User | PrincipalType::ServiceAccount => "User",
            PrincipalType::AssumedRole => "AssumedRole",
        }
    }
}

/// The authenticated caller.
#[derive(Clone, Copy, Debug)]
pub struct Principal<'a> {
    pub kind: PrincipalType,
    /// The 12-digit account id (empty for anonymous).
    pub account: &'a str,
    /// The caller's own ARN: `arn:aws:iam::ACCOUNT:user/alice`,
    /// `arn:aws:iam::ACCOUNT:root`, `arn:aws:sts::ACCOUNT:assumed-role/R/S`.
    pub arn: &'a str,
    /// Further ARNs a `Principal` element may name it by: the role of an
    /// assumed-role session, a service account's parent user.
    pub other_arns: &'a [&'a str],
    /// The canonical user id (`CanonicalUser` principals, ACL grants).
    pub canonical_id: Option<&'a str>,
    /// `aws:username`: IAM users only (a service account's parent's name).
    pub username: Option<&'a str>,
    /// `aws:userid`: the unique id (`AIDA…`, `AROA…:session`, the account id
    /// for root).
    pub userid: Option<&'a str>,
}

impl Principal<'static> {
    pub const ANONYMOUS: Principal<'static> = Principal {
        kind: PrincipalType::Anonymous,
        account: "",
        arn: "",
        other_arns: &[],
        canonical_id: None,
        username: None,
        userid: None,
    };
}

/// One request, as evaluation sees it.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub action: Action,
    /// `arn:aws:s3:::bucket/key`, `arn:aws:s3:::bucket`, or for an action
    /// on no resource (`s3:ListAllMyBuckets`) `arn:aws:s3:::*`, which only
    /// `*` and `arn:aws:s3:::*`-like patterns match.
    pub resource: &'a str,
    pub principal: Principal<'a>,
    /// The object's current tags (`s3:ExistingObjectTag/<key>`).
    pub existing_object_tags: &'a [(&'a str, &'a str)],
    /// The tags the request sets (`s3:RequestObjectTag/<key>`, and
    /// `s3:RequestObjectTagKeys` unless set explicitly).
    pub request_object_tags: &'a [(&'a str, &'a str)],
    values: [Option<Value<'a>>; KEY_COUNT],
}

impl<'a> Request<'a> {
    /// A request at `now_ms` (Unix milliseconds; the caller's clock). Fills
    /// the keys derived from the principal and the time.
    pub fn new(action: Action, resource: &'a str, principal: Principal<'a>, now_ms: i64) -> Self {
        let mut r = Request {
            action,
            resource,
            principal,
            existing_object_tags: &[],
            request_object_tags: &[],
            values: [None; KEY_COUNT],
        };
        r.set(KnownKey::CurrentTime, Value::Time(now_ms));
        r.set(KnownKey::EpochTime, Value::Int(now_ms.div_euclid(1000)));
        r.set(
            KnownKey::PrincipalType,
            Value::Str(principal.kind.aws_name()),
        );
        if let Some(name) = principal.username {
            r.set(KnownKey::Username, Value::Str(name));
        }
        if let Some(id) = principal.userid {
            r.set(KnownKey::Userid, Value::Str(id));
        }
        if principal.kind != PrincipalType::Anonymous {
            r.set(KnownKey::PrincipalArn, Value::Str(principal.arn));
            r.set(KnownKey::PrincipalAccount, Value::Str(principal.account));
        }
        r
    }

    pub fn set(&mut self, key: KnownKey, value: Value<'a>) {
        self.values[key as usize] = Some(value);
    }

    pub fn with(mut self, key: KnownKey, value: Value<'a>) -> Self {
        self.set(key, value);
        self
    }

    /// The value of `key`, `None` when absent. An empty multi-valued key is
    /// absent, as AWS treats an empty set.
    pub fn get(&self, key: &Key) -> Option<Value<'a>> {
        let v = match key {
            Key::Known(KnownKey::S3RequestObjectTagKeys)
                if self.values[KnownKey::S3RequestObjectTagKeys as usize].is_none() =>
            {
                Some(Value::TagKeys(self.request_object_tags))
            }
            Key::Known(k) => self.values[*k as usize],
            Key::ExistingObjectTag(t) => tag(self.existing_object_tags, t),
            Key::RequestObjectTag(t) => tag(self.request_object_tags, t),
            Key::Other(_) => None,
        };
        v.filter(|v| !v.is_empty())
    }
}

fn tag<'a>(tags: &'a [(&'a str, &'a str)], key: &str) -> Option<Value<'a>> {
    tags.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| Value::Str(v))
}
