//! Authorisation of every S3 request, after routing and before the
//! operation runs: the route's action on its resource ([`Route::check`]),
//! any further checks ([`Route::extra_checks`]), evaluated with
//! [`policy::evaluate`] against the caller's identity policies (compiled
//! into the identity snapshot once per IAM change) and the bucket policy
//! (compiled once per core per bucket-table change, [`BucketAccessCache`]).
//!
//! The decision itself ([`decide`]) is a pure function of the principal,
//! the check, the compiled bucket policy and the request's environment.
//! `s3:ExistingObjectTag/*` costs an index read, so the object's tags are
//! looked up only for the actions S3 supplies the key for, and only when a
//! policy that applies (identity, session, bucket) mentions the key
//! ([`PolicySet::uses_existing_object_tags`], known when compiled).

use crate::notify::event::{Action as EventAction, Origin};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

use http::HeaderMap;

use crate::auth::sigv4::{AuthKind, PayloadMode, Verified};
use crate::engine::buckets::{BucketInfo, BucketOwner, BucketTable};
use crate::engine::{Engine, VersionSel};
use crate::iam::acl::{acl_allows, acl_permission, AclTarget, Caller, Grantee};
use crate::iam::action::Action;
use crate::iam::identities::{Principal, PrincipalKind};
use crate::iam::policy::{self, Decision, Inputs, KnownKey, Policy, PolicyKind, PolicySet, Value};

use super::common::acl::{
    acl_from_headers, check_public_acl, effective_bucket_acl, effective_object_acl,
};
use super::common::metadata::tags_from_header;
use super::error::{S3Code, S3Error};
use super::router::{
    delete_check, format_version_id, Check, ConditionValues, ExtraChecks, Op, Resource, Route,
};

/// A bucket's policy, compiled.
#[derive(Debug, Default)]
pub struct BucketAccess {
    policy: PolicySet,
    /// What anonymous callers are evaluated against when the bucket's
    /// public access block restricts a public policy: its denies only.
    restricted: Option<PolicySet>,
}

impl BucketAccess {
    /// `None` when the bucket has no policy. A stored policy that no
    /// longer parses is skipped with a warning (it was checked when it was
    /// stored, by this parser or an older one).
    pub fn compile(name: &str, info: &BucketInfo) -> Option<BucketAccess> {
        let doc = info.policy.as_deref()?;
        let policy = match Policy::parse(doc.as_bytes(), PolicyKind::Resource) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(bucket = name, error = %e, "stored bucket policy skipped");
                return None;
            }
        };
        let restrict = info
            .public_access_block
            .is_some_and(|b| b.restrict_public_buckets);
        Some(BucketAccess {
            restricted: (restrict && policy.is_public()).then(|| policy.set().denies_only()),
            policy: policy.set().clone(),
        })
    }

    fn for_caller(&self, anonymous: bool) -> &PolicySet {
        match &self.restricted {
            Some(denies) if anonymous => denies,
            _ => &self.policy,
        }
    }
}

/// One core's compiled bucket policies, rebuilt when the bucket table's
/// generation changes (never parsed per request).
#[derive(Default)]
pub struct BucketAccessCache {
    generation: Cell<Option<u64>>,
    compiled: RefCell<HashMap<String, Rc<BucketAccess>>>,
}

impl BucketAccessCache {
    pub fn get(&self, table: &BucketTable, bucket: &str) -> Option<Rc<BucketAccess>> {
        if self.generation.get() != Some(table.generation) {
            let compiled = table
                .buckets
                .iter()
                .filter_map(|(name, info)| {
                    BucketAccess::compile(name, info).map(|a| (name.clone(), Rc::new(a)))
                })
                .collect();
            *self.compiled.borrow_mut() = compiled;
            self.generation.set(Some(table.generation));
        }
        self.compiled.borrow().get(bucket).cloned()
    }
}

/// What a request brings besides its route: where it came from and how.
#[derive(Clone, Copy, Debug)]
pub struct Env<'a> {
    pub headers: &'a HeaderMap,
    /// The connection's peer; `X-Forwarded-For` is never trusted.
    pub peer: IpAddr,
    /// Arrived over the TLS listener.
    pub secure: bool,
    pub now_ms: i64,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The tags a request sets and the tags its object already has.
#[derive(Clone, Copy, Debug, Default)]
pub struct ObjectTags<'a> {
    /// `s3:RequestObjectTag/<key>`, `s3:RequestObjectTagKeys`.
    pub request: &'a [(&'a str, &'a str)],
    /// `s3:ExistingObjectTag/<key>`.
    pub existing: &'a [(&'a str, &'a str)],
}

/// AWS's decision for `check` by `who`, with `bucket`'s compiled policy
/// (the bucket the check's resource is in), the request's environment, the
/// condition values of its route and the object's tags.
pub fn decide(
    who: &Principal,
    check: Check<'_>,
    bucket: Option<&BucketAccess>,
    env: &Env<'_>,
    cond: &ConditionValues<'_>,
    tags: ObjectTags<'_>,
) -> Decision {
    let arn = check.resource.to_string();
    let anonymous = who.kind == PrincipalKind::Anonymous;
    who.with_policy_view(|principal| {
        evaluate_as(
            who, principal, check, &arn, bucket, env, cond, tags, anonymous,
        )
    })
}

#[allow(clippy::too_many_arguments)]
fn evaluate_as(
    who: &Principal,
    principal: policy::Principal<'_>,
    check: Check<'_>,
    arn: &str,
    bucket: Option<&BucketAccess>,
    env: &Env<'_>,
    cond: &ConditionValues<'_>,
    tags: ObjectTags<'_>,
    anonymous: bool,
) -> Decision {
    let mut req = policy::Request::new(check.action, arn, principal, env.now_ms);
    req.set(KnownKey::SourceIp, Value::Ip(env.peer));
    req.set(KnownKey::SecureTransport, Value::Bool(env.secure));
    let from_headers = [
        (KnownKey::Referer, "referer"),
        (KnownKey::UserAgent, "user-agent"),
        (KnownKey::S3XAmzAcl, "x-amz-acl"),
        (
            KnownKey::S3XAmzServerSideEncryption,
            "x-amz-server-side-encryption",
        ),
        (
            KnownKey::S3XAmzServerSideEncryptionAwsKmsKeyId,
            "x-amz-server-side-encryption-aws-kms-key-id",
        ),
    ];
    for (key, name) in from_headers {
        if let Some(v) = header(env.headers, name) {
            req.set(key, Value::Str(v));
        }
    }
    if let Some(p) = cond.prefix {
        req.set(KnownKey::S3Prefix, Value::Str(p));
    }
    if let Some(d) = cond.delimiter {
        req.set(KnownKey::S3Delimiter, Value::Str(d));
    }
    if let Some(n) = cond.max_keys {
        req.set(
            KnownKey::S3MaxKeys,
            Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
        );
    }
    let version = cond.version_id.map(format_version_id);
    if let Some(v) = &version {
        req.set(KnownKey::S3VersionId, Value::Str(v));
    }
    req.request_object_tags = tags.request;
    req.existing_object_tags = tags.existing;
    let session = who.policies.session.as_deref();
    policy::evaluate(&Inputs {
        request: &req,
        identity: (!anonymous).then_some(&*who.policies.identity),
        resource: bucket.map(|b| b.for_caller(anonymous)),
        session,
    })
}

/// Whether `who` owns the bucket `info` describes; buckets from before
/// owners were recorded belong to root.
pub fn owns(info: &BucketInfo, who: &Principal) -> bool {
    match &info.owner {
        None => who.kind.acts_as_root(),
        Some(o) => who.kind != PrincipalKind::Anonymous && o.canonical_id == who.canonical_id,
    }
}

/// The owner a bucket created by `who` records (`None`: root).
pub fn owner_of_new_bucket(who: &Principal) -> Option<BucketOwner> {
    (!who.kind.acts_as_root()).then(|| BucketOwner {
        canonical_id: who.canonical_id.clone(),
        arn: who.arn.clone(),
    })
}

/// What body reading needs for an unsigned request: no signature chain; a
/// declared SHA-256 is still checked.
pub fn unsigned(headers: &HeaderMap) -> Verified {
    let declared = header(headers, "x-amz-content-sha256").and_then(PayloadMode::parse);
    let payload = match declared {
        Some(p @ (PayloadMode::Sha256(_) | PayloadMode::StreamingUnsignedTrailer)) => p,
        _ => PayloadMode::Unsigned,
    };
    Verified {
        kind: AuthKind::Anonymous,
        access_key: String::new(),
        region: super::bucket::REGION.to_owned(),
        date: String::new(),
        timestamp: String::new(),
        signing_key: [0; 32],
        seed_signature: String::new(),
        payload,
        service: crate::auth::sigv4::Service::S3,
        sigv2: false,
    }
}

/// The actions S3 supplies `s3:ExistingObjectTag/<key>` for: reads of an
/// object and of its tags and ACL, and changes to those (never PutObject
/// or DeleteObject, as S3's user guide says).
fn reads_existing_tags(action: Action) -> bool {
    use Action::*;
    matches!(
        action,
        S3GetObject
            | S3GetObjectVersion
            | S3GetObjectTagging
            | S3GetObjectVersionTagging
            | S3PutObjectTagging
            | S3PutObjectVersionTagging
            | S3DeleteObjectTagging
            | S3DeleteObjectVersionTagging
            | S3GetObjectAcl
            | S3GetObjectVersionAcl
            | S3PutObjectAcl
            | S3PutObjectVersionAcl
    )
}

fn denied() -> S3Error {
    S3Error::from_code(S3Code::AccessDenied)
}

/// The tags a write sets with `x-amz-tagging` (`s3:RequestObjectTag/*`);
/// none when the header is absent or malformed (the operation refuses a
/// malformed one itself).
fn request_tags(route: &Route, headers: &HeaderMap) -> Vec<(String, String)> {
    match route.op {
        Op::PutObject {} | Op::CopyObject { .. } | Op::CreateMultipartUpload {} => {
            tags_from_header(headers).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// One request's authoriser: who asks, from where, and this core's
/// compiled bucket policies. Operations that authorise more as they go
/// (DeleteObjects per key, ListBuckets per bucket) call it through `Ctx`.
pub struct Authorizer<'a> {
    principal: Arc<Principal>,
    /// For object ACLs, read only when no policy decides.
    engine: &'a Engine,
    /// The owner of buckets that record none (root's canonical id).
    root_owner: &'a str,
    cache: &'a BucketAccessCache,
    table: Arc<BucketTable>,
    peer: IpAddr,
    secure: bool,
    now_ms: i64,
}

impl<'a> Authorizer<'a> {
    pub fn new(
        principal: Arc<Principal>,
        engine: &'a Engine,
        root_owner: &'a str,
        cache: &'a BucketAccessCache,
        table: Arc<BucketTable>,
        peer: IpAddr,
        secure: bool,
    ) -> Authorizer<'a> {
        Authorizer {
            principal,
            engine,
            root_owner,
            cache,
            table,
            peer,
            secure,
            now_ms: i64::try_from(crate::engine::now_ms()).unwrap_or(i64::MAX),
        }
    }

    /// Who a change is, for the bucket's event notifications; None when
    /// the bucket has no rules (the common case, which allocates nothing).
    pub fn origin(&self, request_id: &str, bucket: &str, action: EventAction) -> Option<Origin> {
        if !self.engine.has_notifications(bucket) {
            return None;
        }
        let principal = match self.principal.access_key.as_str() {
            "" => "anonymous".to_owned(),
            key => key.to_owned(),
        };
        Some(Origin {
            action,
            principal,
            source_ip: self.peer.to_string(),
            request_id: request_id.to_owned(),
        })
    }

    fn env<'h>(&self, headers: &'h HeaderMap) -> Env<'h> {
        Env {
            headers,
            peer: self.peer,
            secure: self.secure,
            now_ms: self.now_ms,
        }
    }

    fn decide(
        &self,
        check: Check<'_>,
        headers: &HeaderMap,
        cond: &ConditionValues<'_>,
        request_tags: &[(&str, &str)],
    ) -> Decision {
        let bucket = match check.resource {
            super::router::Resource::All => None,
            super::router::Resource::Bucket(b)
            | super::router::Resource::Object { bucket: b, .. } => self.cache.get(&self.table, b),
        };
        let owned = self.existing_tags(check, bucket.as_deref(), cond.version_id);
        let existing: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let tags = ObjectTags {
            request: request_tags,
            existing: &existing,
        };
        decide(
            &self.principal,
            check,
            bucket.as_deref(),
            &self.env(headers),
            cond,
            tags,
        )
    }

    /// The object's tags, when the action is one S3 supplies
    /// `s3:ExistingObjectTag/*` for and some policy that applies reads it;
    /// otherwise none, without touching the index.
    fn existing_tags(
        &self,
        check: Check<'_>,
        bucket: Option<&BucketAccess>,
        version: Option<VersionSel>,
    ) -> Vec<(String, String)> {
        let Resource::Object { bucket: name, key } = check.resource else {
            return Vec::new();
        };
        if !reads_existing_tags(check.action) {
            return Vec::new();
        }
        let p = &self.principal.policies;
        let anonymous = self.principal.kind == PrincipalKind::Anonymous;
        let wanted = bucket.is_some_and(|b| b.policy.uses_existing_object_tags())
            || (!anonymous && p.identity.uses_existing_object_tags())
            || p.session
                .as_ref()
                .is_some_and(|s| s.uses_existing_object_tags());
        if !wanted {
            return Vec::new();
        }
        match self.engine.lookup(name, key, version) {
            Ok(Some(e)) if !e.meta.delete_marker => e.meta.tags,
            _ => Vec::new(),
        }
    }

    /// S3 evaluates ACLs beside policies: an explicit deny refuses, any
    /// allow admits, and when no policy decides, a grant in the bucket's
    /// or the object's ACL admits.
    fn permitted(&self, check: Check<'_>, decision: Decision, version: Option<VersionSel>) -> bool {
        match decision {
            Decision::Allow => true,
            Decision::ExplicitDeny => false,
            Decision::ImplicitDeny => self.acl_grants(check, version),
        }
    }

    fn acl_grants(&self, check: Check<'_>, version: Option<VersionSel>) -> bool {
        let Some((target, wanted)) = acl_permission(check.action) else {
            return false;
        };
        let (bucket, key) = match check.resource {
            Resource::All => return false,
            Resource::Bucket(b) => (b, None),
            Resource::Object { bucket, key } => (bucket, Some(key)),
        };
        let Some(info) = self.table.buckets.get(bucket) else {
            return false;
        };
        let owner = info
            .owner
            .as_ref()
            .map_or(self.root_owner, |o| o.canonical_id.as_str());
        let mut acl = match (target, key) {
            (AclTarget::Object, Some(key)) => match self.engine.lookup(bucket, key, version) {
                Ok(Some(e)) if !e.meta.delete_marker => {
                    effective_object_acl(&e.meta, owner, info.ownership)
                }
                _ => return false,
            },
            (AclTarget::Object, None) => return false,
            (AclTarget::Bucket, _) => effective_bucket_acl(info.acl.clone(), owner, info.ownership),
        };
        if info
            .public_access_block
            .is_some_and(|b| b.ignores_public_acls())
        {
            acl.grants
                .retain(|g| !matches!(g.grantee, Grantee::Group(_)));
        }
        let anonymous = self.principal.kind == PrincipalKind::Anonymous;
        let caller = Caller {
            canonical_id: (!anonymous).then_some(self.principal.canonical_id.as_str()),
            authenticated: !anonymous,
        };
        acl_allows(&acl, caller, wanted)
    }

    /// Whether `check` is allowed, with no route condition values (a
    /// bucket in a listing, a key in DeleteObjects).
    pub fn allows(&self, check: Check<'_>, headers: &HeaderMap) -> bool {
        let d = self.decide(check, headers, &ConditionValues::default(), &[]);
        self.permitted(check, d, None)
    }

    /// Whether `check` is allowed for a write that sets `tags` (a POST
    /// form's `tagging` field), with condition values from `headers`.
    pub fn allows_with_tags(
        &self,
        check: Check<'_>,
        headers: &HeaderMap,
        tags: &[(&str, &str)],
    ) -> bool {
        let d = self.decide(check, headers, &ConditionValues::default(), tags);
        self.permitted(check, d, None)
    }

    /// DeleteObjects: whether deleting `key` (or one version) is allowed.
    pub fn allows_delete(
        &self,
        bucket: &str,
        key: &str,
        version: Option<crate::engine::VersionSel>,
        headers: &HeaderMap,
    ) -> bool {
        let check = delete_check(bucket, key, version);
        let cond = ConditionValues {
            version_id: version,
            ..ConditionValues::default()
        };
        let d = self.decide(check, headers, &cond, &[]);
        self.permitted(check, d, version)
    }

    /// Authorises a routed request: its own check and any extra ones.
    /// Refused: 403 AccessDenied. Anonymous callers get nothing a bucket
    /// policy cannot name (OPTIONS and unknown operations included).
    pub fn authorize_route(&self, route: &Route, headers: &HeaderMap) -> Result<(), S3Error> {
        match route.check() {
            Some(check) => {
                let owned = request_tags(route, headers);
                let tags: Vec<(&str, &str)> = owned
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let cond = route.conditions();
                let d = self.decide(check, headers, &cond, &tags);
                if !self.permitted(check, d, cond.version_id) {
                    return Err(denied());
                }
                if self.blocks_public_acl(check, headers) {
                    return Err(denied());
                }
            }
            None if self.principal.kind == PrincipalKind::Anonymous
                && !matches!(route.op, Op::DeleteObjects {}) =>
            {
                return Err(denied());
            }
            None => {}
        }
        if let ExtraChecks::Also(check, version) = route.extra_checks() {
            let cond = ConditionValues {
                version_id: version,
                ..ConditionValues::default()
            };
            let d = self.decide(check, headers, &cond, &[]);
            if !self.permitted(check, d, version) {
                return Err(denied());
            }
        }
        Ok(())
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// `BlockPublicAcls` for an ACL set by headers (a public canned ACL,
    /// or a grant to AllUsers or AuthenticatedUsers); ACL bodies and form
    /// fields go through the same [`check_public_acl`]. Malformed ACL
    /// headers are left to the operation to refuse.
    fn blocks_public_acl(&self, check: Check<'_>, headers: &HeaderMap) -> bool {
        let bucket = match check.resource {
            Resource::Bucket(b) | Resource::Object { bucket: b, .. } => b,
            Resource::All => return false,
        };
        let public = acl_from_headers(headers).is_ok_and(|r| r.is_public());
        check_public_acl(&self.table, bucket, public).is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::buckets::PublicAccessBlock;
    use crate::iam::action::Action;
    use crate::iam::identities::CompiledPolicies;
    use crate::iam::model::ACCOUNT_ID;
    use crate::s3::router::Resource;

    fn set(json: &str) -> Arc<PolicySet> {
        Arc::new(
            Policy::parse(json.as_bytes(), PolicyKind::Identity)
                .expect("identity policy")
                .set()
                .clone(),
        )
    }

    fn user(name: &str, identity: &[&str], session: Option<&str>) -> Principal {
        let mut merged = PolicySet::default();
        for p in identity {
            merged.extend(&set(p));
        }
        let sa = session.is_some();
        Principal {
            kind: if sa {
                PrincipalKind::ServiceAccount {
                    policy: session.map(str::to_owned),
                }
            } else {
                PrincipalKind::User
            },
            name: name.into(),
            id: format!("AIDA{}", name.to_uppercase()),
            arn: format!("arn:aws:iam::{ACCOUNT_ID}:user/{name}"),
            groups: vec![],
            access_key: "AKIATEST".into(),
            canonical_id: format!("canon-{name}"),
            policies: CompiledPolicies {
                identity: Arc::new(merged),
                session: session.map(set),
                service_account_arn: sa
                    .then(|| format!("arn:aws:iam::{ACCOUNT_ID}:service-account/AKIATEST")),
            },
            tenant: String::new(),
        }
    }

    fn root() -> Principal {
        Principal {
            kind: PrincipalKind::Root,
            name: "root".into(),
            id: ACCOUNT_ID.into(),
            arn: format!("arn:aws:iam::{ACCOUNT_ID}:root"),
            groups: vec![],
            access_key: "root".into(),
            canonical_id: "canon-root".into(),
            policies: CompiledPolicies::default(),
            tenant: String::new(),
        }
    }

    fn bucket(policy: &str, block: Option<PublicAccessBlock>) -> BucketAccess {
        let info = BucketInfo {
            policy: Some(policy.into()),
            public_access_block: block,
            ..BucketInfo::default()
        };
        BucketAccess::compile("b", &info).expect("bucket policy")
    }

    struct Case<'a> {
        headers: HeaderMap,
        peer: &'a str,
        secure: bool,
    }

    impl Case<'_> {
        fn plain() -> Case<'static> {
            Case {
                headers: HeaderMap::new(),
                peer: "127.0.0.1",
                secure: false,
            }
        }

        fn decide(
            &self,
            who: &Principal,
            action: Action,
            resource: Resource<'_>,
            bucket: Option<&BucketAccess>,
        ) -> Decision {
            let env = Env {
                headers: &self.headers,
                peer: self.peer.parse().expect("ip"),
                secure: self.secure,
                now_ms: 1_700_000_000_000,
            };
            decide(
                who,
                Check { action, resource },
                bucket,
                &env,
                &ConditionValues::default(),
                ObjectTags::default(),
            )
        }
    }

    const OBJ: Resource<'static> = Resource::Object {
        bucket: "b",
        key: "home/alice/x",
    };
    const OTHER: Resource<'static> = Resource::Object {
        bucket: "b",
        key: "home/bob/x",
    };

    const ALICE_HOME: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::b/home/${aws:username}/*"}]}"#;
    const GROUP_READ_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
    const PUBLIC_READ: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    #[test]
    fn a_tenants_policy_names_its_buckets_as_its_users_do() {
        let c = Case::plain();
        let mut ann = user("ann", &[GROUP_READ_ALL], None);
        ann.tenant = "acme".into();
        let inside = Resource::Object {
            bucket: "acme:b",
            key: "x",
        };
        assert_eq!(
            c.decide(&ann, Action::S3GetObject, inside, None),
            Decision::Allow
        );
        let other = Resource::Object {
            bucket: "acme:c",
            key: "x",
        };
        assert_eq!(
            c.decide(&ann, Action::S3GetObject, other, None),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn a_users_prefix_policy_allows_its_home_and_nothing_else() {
        let c = Case::plain();
        let alice = user("alice", &[ALICE_HOME], None);
        assert_eq!(
            c.decide(&alice, Action::S3PutObject, OBJ, None),
            Decision::Allow
        );
        assert_eq!(
            c.decide(&alice, Action::S3PutObject, OTHER, None),
            Decision::ImplicitDeny
        );
        assert_eq!(
            c.decide(&alice, Action::S3DeleteObject, OBJ, None),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn a_group_policy_merged_into_the_identity_set_applies_to_members() {
        let c = Case::plain();
        let member = user("alice", &[ALICE_HOME, GROUP_READ_ALL], None);
        let outsider = user("alice", &[ALICE_HOME], None);
        assert_eq!(
            c.decide(&member, Action::S3GetObject, OTHER, None),
            Decision::Allow
        );
        assert_eq!(
            c.decide(&outsider, Action::S3GetObject, OTHER, None),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn a_service_account_policy_narrows_its_parents_and_the_bucket_policys_grants() {
        let c = Case::plain();
        let read_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        let sa = user("alice", &[ALICE_HOME], Some(read_only));
        assert_eq!(
            c.decide(&sa, Action::S3GetObject, OBJ, None),
            Decision::Allow
        );
        assert_eq!(
            c.decide(&sa, Action::S3PutObject, OBJ, None),
            Decision::ImplicitDeny,
            "the parent may write, the narrowing policy does not"
        );
        // A bucket policy naming the parent user reaches the service
        // account, narrowed like the parent's own policies.
        let to_alice = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:user/alice"}},"Action":["s3:DeleteObject","s3:GetObject"],"Resource":"arn:aws:s3:::b/*"}}]}}"#
        );
        let b = bucket(&to_alice, None);
        let parent = user("alice", &[], None);
        assert_eq!(
            c.decide(&parent, Action::S3DeleteObject, OTHER, Some(&b)),
            Decision::Allow
        );
        assert_eq!(
            c.decide(&sa, Action::S3DeleteObject, OTHER, Some(&b)),
            Decision::ImplicitDeny
        );
        let inheriting = Principal {
            kind: PrincipalKind::ServiceAccount { policy: None },
            policies: CompiledPolicies {
                session: None,
                ..sa.policies.clone()
            },
            ..sa.clone()
        };
        assert_eq!(
            c.decide(&inheriting, Action::S3DeleteObject, OTHER, Some(&b)),
            Decision::Allow
        );
    }

    #[test]
    fn anonymous_callers_get_only_what_the_bucket_policy_grants_everyone() {
        let c = Case::plain();
        let anon = Principal::anonymous();
        let b = bucket(PUBLIC_READ, None);
        assert_eq!(
            c.decide(&anon, Action::S3GetObject, OBJ, Some(&b)),
            Decision::Allow
        );
        for action in [
            Action::S3PutObject,
            Action::S3DeleteObject,
            Action::S3ListBucket,
        ] {
            assert_eq!(
                c.decide(&anon, action, OBJ, Some(&b)),
                Decision::ImplicitDeny
            );
        }
        assert_eq!(
            c.decide(&anon, Action::S3GetObject, OBJ, None),
            Decision::ImplicitDeny
        );
        // A user with no identity policy is allowed by the public grant too.
        let nobody = user("nobody", &[], None);
        assert_eq!(
            c.decide(&nobody, Action::S3GetObject, OBJ, Some(&b)),
            Decision::Allow
        );
    }

    #[test]
    fn restrict_public_buckets_sets_aside_a_public_policys_grants_to_anonymous() {
        let c = Case::plain();
        let anon = Principal::anonymous();
        let block = PublicAccessBlock {
            restrict_public_buckets: true,
            ..Default::default()
        };
        let b = bucket(PUBLIC_READ, Some(block));
        assert_eq!(
            c.decide(&anon, Action::S3GetObject, OBJ, Some(&b)),
            Decision::ImplicitDeny
        );
        let alice = user("alice", &[], None);
        assert_eq!(
            c.decide(&alice, Action::S3GetObject, OBJ, Some(&b)),
            Decision::Allow,
            "users of the bucket owner's account keep the grant"
        );
    }

    #[test]
    fn a_bucket_policy_deny_beats_root_and_identity_allows() {
        let c = Case::plain();
        let deny = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/home/*"}]}"#;
        let b = bucket(deny, None);
        assert_eq!(
            c.decide(&root(), Action::S3GetObject, OBJ, Some(&b)),
            Decision::ExplicitDeny
        );
        assert_eq!(
            c.decide(&root(), Action::S3GetObject, OBJ, None),
            Decision::Allow
        );
        let alice = user("alice", &[ALICE_HOME], None);
        assert_eq!(
            c.decide(&alice, Action::S3GetObject, OBJ, Some(&b)),
            Decision::ExplicitDeny
        );
        // Root can always replace the policy that locks it out.
        assert_eq!(
            c.decide(
                &root(),
                Action::S3PutBucketPolicy,
                Resource::Bucket("b"),
                Some(&b)
            ),
            Decision::Allow
        );
    }

    #[test]
    fn source_ip_and_secure_transport_come_from_the_connection() {
        let only_ten = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#;
        let b = bucket(only_ten, None);
        let mut c = Case::plain();
        // A forwarded-for header names an allowed address: never trusted.
        c.headers.insert(
            "x-forwarded-for",
            http::HeaderValue::from_static("10.1.2.3"),
        );
        assert_eq!(
            c.decide(&root(), Action::S3GetObject, OBJ, Some(&b)),
            Decision::ExplicitDeny
        );
        c.peer = "10.9.9.9";
        assert_eq!(
            c.decide(&root(), Action::S3GetObject, OBJ, Some(&b)),
            Decision::Allow
        );
        let tls_only = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        let b = bucket(tls_only, None);
        let mut c = Case::plain();
        assert_eq!(
            c.decide(&root(), Action::S3GetObject, OBJ, Some(&b)),
            Decision::ExplicitDeny
        );
        c.secure = true;
        assert_eq!(
            c.decide(&root(), Action::S3GetObject, OBJ, Some(&b)),
            Decision::Allow
        );
    }

    #[test]
    fn header_and_route_condition_keys_reach_the_policy() {
        let acl = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"s3:x-amz-acl":"private"}}}]}"#;
        let alice = user("alice", &[acl], None);
        let mut c = Case::plain();
        assert_eq!(
            c.decide(&alice, Action::S3PutObject, OBJ, None),
            Decision::ImplicitDeny
        );
        c.headers
            .insert("x-amz-acl", http::HeaderValue::from_static("private"));
        assert_eq!(
            c.decide(&alice, Action::S3PutObject, OBJ, None),
            Decision::Allow
        );
        let prefix = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}}]}"#;
        let alice = user("alice", &[prefix], None);
        let env = Env {
            headers: &c.headers,
            peer: "127.0.0.1".parse().expect("ip"),
            secure: false,
            now_ms: 0,
        };
        let list = |p: Option<&str>, tags: &[(&str, &str)]| {
            let cond = ConditionValues {
                prefix: p,
                ..ConditionValues::default()
            };
            let check = Check {
                action: Action::S3ListBucket,
                resource: Resource::Bucket("b"),
            };
            let tags = ObjectTags {
                request: tags,
                existing: &[],
            };
            decide(&alice, check, None, &env, &cond, tags)
        };
        assert_eq!(list(Some("home/alice/docs"), &[]), Decision::Allow);
        assert_eq!(list(Some("home/bob/"), &[]), Decision::ImplicitDeny);
        assert_eq!(list(None, &[]), Decision::ImplicitDeny);
        let tagged = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"s3:RequestObjectTag/team":"blue"}}}]}"#;
        let alice = user("alice", &[tagged], None);
        let put = |tags: &[(&str, &str)]| {
            let check = Check {
                action: Action::S3PutObject,
                resource: OBJ,
            };
            let tags = ObjectTags {
                request: tags,
                existing: &[],
            };
            decide(&alice, check, None, &env, &ConditionValues::default(), tags)
        };
        assert_eq!(put(&[("team", "blue")]), Decision::Allow);
        assert_eq!(put(&[("team", "red")]), Decision::ImplicitDeny);
    }

    #[test]
    fn existing_object_tags_decide_only_where_a_compiled_policy_reads_them() {
        let by_tag = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/classification":"public"}}}]}"#;
        let reader = user("reader", &[by_tag], None);
        assert!(reader.policies.identity.uses_existing_object_tags());
        assert!(!user("alice", &[ALICE_HOME, GROUP_READ_ALL], None)
            .policies
            .identity
            .uses_existing_object_tags());
        assert!(!bucket(PUBLIC_READ, None).policy.uses_existing_object_tags());
        let deny_secret = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/classification":"secret"}}}]}"#;
        assert!(bucket(deny_secret, None).policy.uses_existing_object_tags());

        let c = Case::plain();
        let env = Env {
            headers: &c.headers,
            peer: "127.0.0.1".parse().expect("ip"),
            secure: false,
            now_ms: 0,
        };
        let get = |existing: &[(&str, &str)]| {
            let check = Check {
                action: Action::S3GetObject,
                resource: OBJ,
            };
            let tags = ObjectTags {
                request: &[],
                existing,
            };
            decide(
                &reader,
                check,
                None,
                &env,
                &ConditionValues::default(),
                tags,
            )
        };
        assert_eq!(get(&[("classification", "public")]), Decision::Allow);
        assert_eq!(get(&[("classification", "secret")]), Decision::ImplicitDeny);
        assert_eq!(get(&[]), Decision::ImplicitDeny);
        assert!(reads_existing_tags(Action::S3PutObjectAcl));
        assert!(!reads_existing_tags(Action::S3PutObject));
        assert!(!reads_existing_tags(Action::S3DeleteObject));
    }

    #[test]
    fn buckets_belong_to_their_creator_and_old_ones_to_root() {
        let alice = user("alice", &[], None);
        let bob = user("bob", &[], None);
        let old = BucketInfo::default();
        assert!(owns(&old, &root()));
        assert!(!owns(&old, &alice));
        assert_eq!(owner_of_new_bucket(&root()), None);
        let made = BucketInfo {
            owner: owner_of_new_bucket(&alice),
            ..BucketInfo::default()
        };
        assert!(owns(&made, &alice));
        assert!(!owns(&made, &bob), "BucketAlreadyExists for anyone else");
        assert!(!owns(&made, &root()));
        assert!(!owns(&made, &Principal::anonymous()));
    }

    #[test]
    fn the_cache_recompiles_when_the_table_changes() {
        let cache = BucketAccessCache::default();
        let mut table = BucketTable::default();
        table.buckets.insert("b".into(), BucketInfo::default());
        assert!(cache.get(&table, "b").is_none());
        table.generation += 1;
        table.buckets.get_mut("b").expect("b").policy = Some(PUBLIC_READ.into());
        let b = cache.get(&table, "b").expect("compiled");
        let anon = Principal::anonymous();
        assert_eq!(
            Case::plain().decide(&anon, Action::S3GetObject, OBJ, Some(&b)),
            Decision::Allow
        );
        table.buckets.get_mut("b").expect("b").policy = Some("not json".into());
        table.generation += 1;
        assert!(cache.get(&table, "b").is_none(), "skipped, not a panic");
    }
}
