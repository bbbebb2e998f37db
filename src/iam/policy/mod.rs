//! AWS's policy language, compiled once and evaluated per request.
//!
//! Pure: no I/O and no clock (the request carries the time). The flow:
//!
//! 1. [`Policy::parse`] (or [`Policy::parse_limited`] with a [`SizeLimit`])
//!    checks a JSON document as IAM (`PolicyKind::Identity`: no `Principal`)
//!    or S3 (`PolicyKind::Resource`, a bucket policy: `Principal` required)
//!    do, and compiles it: actions to an [`ActionSet`] bitset (`NotAction`
//!    to its complement), resources to [`pattern::Pattern`]s split into text
//!    and `${…}` variables, conditions to (operator, key, typed values). A
//!    [`PolicyError`] names the problem (`message()` is the body for S3's
//!    `MalformedPolicy` and IAM's `MalformedPolicyDocument`);
//!    `is_limit_exceeded` tells the size limits apart (IAM's `LimitExceeded`).
//! 2. A principal's identity policies (user inline, groups' inline, attached
//!    managed) are merged once per change into one [`PolicySet`].
//! 3. Per request, build a [`Request`] (action, resource ARN, principal, time,
//!    condition keys; all borrowed) and call [`evaluate`] with the identity
//!    set, the bucket policy and any session policy. Explicit deny wins; then
//!    an allow from the identity policies (narrowed by the session policy when
//!    there is one) or from the bucket policy; else implicit deny. Root has
//!    every identity permission; only a bucket policy's deny stops it, and
//!    never for Get/Put/DeleteBucketPolicy (AWS's lock-out escape).
//!
//! Evaluation allocates nothing: statements are matched in place, variables
//! read from the request where the pattern refers to them, and typed values
//! formatted on the stack when a string operator needs their text.
//!
//! Where AWS leaves room: an account principal (`"123456789012"`,
//! `arn:aws:iam::123456789012:root`) in an `Allow` names the root user only
//! (the account's users need their own identity allow, as AWS requires in a
//! single account); in a `Deny` it covers every identity of the account.
//! A bucket policy's allow to a session's role is narrowed by the session
//! policy; an allow naming the principal's own ARN is not (AWS's rule for
//! session ARNs). Unknown actions and condition keys are accepted and never
//! match or are always absent, as IAM accepts other services' names.

mod condition;
mod pattern;
mod request;
mod values;

/// ISO 8601 dates as the date operators read them (object lock reuses it).
pub use values::parse_date;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value as Json};

pub use request::{Key, KnownKey, Principal, PrincipalType, Request, Value, KEY_COUNT};

use crate::iam::action::{Action, ActionSet};
use condition::Condition;
use pattern::Pattern;

/// Where a policy is attached, which decides whether it names principals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role, or a session policy: IAM refuses
    /// `Principal` and `NotPrincipal`.
    Identity,
    /// A bucket policy: every statement names its principals.
    Resource,
}

impl PolicyKind {
    /// The size limit [`Policy::parse`] applies.
    pub fn default_limit(self) -> SizeLimit {
        match self {
            PolicyKind::Identity => SizeLimit::ManagedPolicy,
            PolicyKind::Resource => SizeLimit::BucketPolicy,
        }
    }
}

/// AWS's documented size limits. IAM counts characters without whitespace;
/// S3 counts a bucket policy's bytes; session policies count characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeLimit {
    /// 20 KB.
    BucketPolicy,
    /// 6,144 characters.
    ManagedPolicy,
    /// 2,048 characters, for all of a user's inline policies together.
    UserInline,
    /// 5,120 characters, all of a group's inline policies.
    GroupInline,
    /// 10,240 characters, all of a role's inline policies.
    RoleInline,
    /// 2,048 characters (STS session policies).
    SessionPolicy,
}

impl SizeLimit {
    pub const fn max(self) -> usize {
        match self {
            SizeLimit::BucketPolicy => 20 * 1024,
            SizeLimit::ManagedPolicy => 6144,
            SizeLimit::UserInline | SizeLimit::SessionPolicy => 2048,
            SizeLimit::GroupInline => 5120,
            SizeLimit::RoleInline => 10_240,
        }
    }

    /// The size of `json` as this limit counts it (bytes where it is not
    /// UTF-8: it is refused anyway).
    pub fn measure(self, json: &[u8]) -> usize {
        let Ok(text) = std::str::from_utf8(json) else {
            return json.len();
        };
        match self {
            SizeLimit::BucketPolicy => json.len(),
            SizeLimit::SessionPolicy => text.chars().count(),
            _ => text.chars().filter(|c| !c.is_whitespace()).count(),
        }
    }

    pub fn check(self, json: &[u8]) -> Result<(), PolicyError> {
        let size = self.measure(json);
        if size > self.max() {
            return Err(PolicyError::TooLarge { limit: self, size });
        }
        Ok(())
    }
}

/// Why a policy was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not a valid policy; the message names the problem.
    #[error("{0}")]
    Malformed(String),
    /// Over its [`SizeLimit`] (IAM's `LimitExceeded`).
    #[error("policy size {size} exceeds the limit of {}", limit.max())]
    TooLarge { limit: SizeLimit, size: usize },
}

impl PolicyError {
    /// The message for the error response body.
    pub fn message(&self) -> String {
        self.to_string()
    }

    pub fn is_limit_exceeded(&self) -> bool {
        matches!(self, PolicyError::TooLarge { .. })
    }
}

fn malformed(msg: impl Into<String>) -> PolicyError {
    PolicyError::Malformed(msg.into())
}

/// The policy language version. `2008-10-17` (also what an absent
/// `Version` means) has no policy variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V2008_10_17,
    V2012_10_17,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// The outcome of [`evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// How a statement's principal element matched the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hit {
    /// By the caller's own ARN or canonical id.
    Named,
    /// By `*`, a role or parent ARN, the account, or `NotPrincipal`.
    Other,
}

#[derive(Clone, Debug, PartialEq)]
struct PrincipalSpec {
    negated: bool,
    any: bool,
    /// ARNs; an account id is kept as `arn:aws:iam::ID:root`.
    aws: Box<[Box<str>]>,
    canonical: Box<[Box<str>]>,
}

impl PrincipalSpec {
    fn matches(&self, p: &Principal<'_>, effect: Effect) -> Option<Hit> {
        if self.any {
            return Some(Hit::Other);
        }
        if p.kind == PrincipalType::Anonymous {
            return None;
        }
        if self.canonical.iter().any(|c| Some(&**c) == p.canonical_id) {
            return Some(Hit::Named);
        }
        let mut hit = None;
        for arn in &*self.aws {
            if **arn == *p.arn {
                return Some(Hit::Named);
            }
            if p.other_arns.iter().any(|o| **arn == **o)
                || (effect == Effect::Deny && account_root_of(arn) == Some(p.account))
            {
                hit = Some(Hit::Other);
            }
        }
        hit
    }

    fn applies(&self, p: &Principal<'_>, effect: Effect) -> Option<Hit> {
        let hit = self.matches(p, effect);
        if self.negated {
            return hit.is_none().then_some(Hit::Other);
        }
        hit
    }
}

/// The account of an `arn:aws:iam::ACCOUNT:root` ARN.
fn account_root_of(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:aws:iam::")?.strip_suffix(":root")
}

#[derive(Clone, Debug, PartialEq)]
struct Statement {
    effect: Effect,
    /// `None` in identity policies.
    principal: Option<PrincipalSpec>,
    /// What `Action` matches, or what `NotAction` does not.
    actions: ActionSet,
    resources: Box<[Pattern]>,
    not_resource: bool,
    conditions: Box<[Condition]>,
}

impl Statement {
    fn applies(&self, req: &Request<'_>) -> Option<Hit> {
        if !self.actions.contains(req.action) {
            return None;
        }
        let hit = match &self.principal {
            None => Hit::Other,
            Some(spec) => spec.applies(&req.principal, self.effect)?,
        };
        let named = self.resources.iter().any(|p| p.matches(req, req.resource));
        if named == self.not_resource || !self.conditions.iter().all(|c| c.holds(req)) {
            return None;
        }
        Some(hit)
    }
}

/// Compiled statements of one or more policies, evaluated together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicySet {
    statements: Vec<Statement>,
    /// Every action some allow (resp. deny) statement may apply to: a
    /// request for any other action skips the set with one bit test.
    allow: ActionSet,
    deny: ActionSet,
    /// Some statement's condition reads `s3:ExistingObjectTag/*`: only
    /// then does a request look up the object's tags.
    existing_tags: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Verdict {
    deny: bool,
    allow: bool,
    /// An allow by a statement naming the caller's own ARN.
    allow_named: bool,
}

impl PolicySet {
    /// The statements of several policies (a user's inline, groups' and
    /// attached policies), compiled once per change.
    pub fn merge<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> PolicySet {
        let mut set = PolicySet::default();
        for p in policies {
            set.extend(&p.set);
        }
        set
    }

    pub fn extend(&mut self, other: &PolicySet) {
        self.statements.extend(other.statements.iter().cloned());
        self.allow = self.allow.union(&other.allow);
        self.deny = self.deny.union(&other.deny);
        self.existing_tags |= other.existing_tags;
    }

    fn push(&mut self, s: Statement) {
        let set = match s.effect {
            Effect::Allow => &mut self.allow,
            Effect::Deny => &mut self.deny,
        };
        *set = set.union(&s.actions);
        self.existing_tags |= s
            .conditions
            .iter()
            .any(|c| matches!(c.key, Key::ExistingObjectTag(_)));
        self.statements.push(s);
    }

    /// Whether evaluation may read `s3:ExistingObjectTag/<key>` (computed
    /// when compiled, so requests that cannot need the tags never read
    /// them).
    pub fn uses_existing_object_tags(&self) -> bool {
        self.existing_tags
    }

    pub fn len(&self) -> usize {
        self.statements.len()
    }

    /// Only the deny statements: what a bucket policy still does when its
    /// grants are set aside (a public access block's
    /// `RestrictPublicBuckets`).
    pub fn denies_only(&self) -> PolicySet {
        let mut set = PolicySet::default();
        for s in self.statements.iter().filter(|s| s.effect == Effect::Deny) {
            set.push(s.clone());
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    fn verdict(&self, req: &Request<'_>) -> Verdict {
        let mut v = Verdict::default();
        if !self.allow.contains(req.action) && !self.deny.contains(req.action) {
            return v;
        }
        for s in &self.statements {
            // Once allowed, another allow changes nothing unless it could
            // name the caller; only a deny still could.
            if s.effect == Effect::Allow && v.allow && (v.allow_named || s.principal.is_none()) {
                if !self.deny.contains(req.action) {
                    break;
                }
                continue;
            }
            match (s.applies(req), s.effect) {
                (None, _) => {}
                (Some(_), Effect::Deny) => {
                    v.deny = true;
                    return v;
                }
                (Some(hit), Effect::Allow) => {
                    v.allow = true;
                    v.allow_named |= hit == Hit::Named;
                }
            }
        }
        v
    }
}

/// A parsed and compiled policy document.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    version: Version,
    id: Option<String>,
    kind: PolicyKind,
    set: PolicySet,
}

const TOP_KEYS: &[&str] = &["Version", "Id", "Statement"];
const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

impl Policy {
    /// Parses and compiles `json` under `kind`'s default size limit.
    pub fn parse(json: &[u8], kind: PolicyKind) -> Result<Policy, PolicyError> {
        Policy::parse_limited(json, kind, kind.default_limit())
    }

    /// Parses and compiles `json`, refusing it past `limit`.
    pub fn parse_limited(
        json: &[u8],
        kind: PolicyKind,
        limit: SizeLimit,
    ) -> Result<Policy, PolicyError> {
        limit.check(json)?;
        let text = std::str::from_utf8(json).map_err(|_| malformed("policy is not UTF-8"))?;
        let doc: Json = serde_json::from_str(text)
            .map_err(|e| malformed(format!("policy is not valid JSON: {e}")))?;
        let Json::Object(top) = doc else {
            return Err(malformed("policy must be a JSON object"));
        };
        if let Some(k) = top.keys().find(|k| !TOP_KEYS.contains(&k.as_str())) {
            return Err(malformed(format!("unknown policy element {k:?}")));
        }
        let version = match top.get("Version") {
            None => Version::V2008_10_17,
            Some(Json::String(v)) if v == "2012-10-17" => Version::V2012_10_17,
            Some(Json::String(v)) if v == "2008-10-17" => Version::V2008_10_17,
            Some(v) => return Err(malformed(format!("invalid Version {v}"))),
        };
        let id = match top.get("Id") {
            None => None,
            Some(Json::String(s)) => Some(s.clone()),
            Some(_) => return Err(malformed("Id must be a string")),
        };
        let statements: Vec<&Map<String, Json>> = match top.get("Statement") {
            None => return Err(malformed("policy has no Statement")),
            Some(Json::Object(s)) => vec![s],
            Some(Json::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.as_object()
                        .ok_or_else(|| malformed(format!("statement {} is not an object", i + 1)))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(malformed("Statement must be an object or an array")),
        };
        if statements.is_empty() {
            return Err(malformed("Statement must not be empty"));
        }
        let vars = version == Version::V2012_10_17;
        let mut sids: Vec<&str> = Vec::new();
        let mut set = PolicySet::default();
        for (i, s) in statements.into_iter().enumerate() {
            let name = match s.get("Sid") {
                None => format!("statement {}", i + 1),
                Some(Json::String(sid)) => {
                    if sids.contains(&sid.as_str()) {
                        return Err(malformed(format!("duplicate Sid {sid:?}")));
                    }
                    sids.push(sid);
                    format!("statement {sid:?}")
                }
                Some(_) => {
                    return Err(malformed(format!(
                        "statement {}: Sid must be a string",
                        i + 1
                    )))
                }
            };
            let stmt =
                compile_statement(s, kind, vars).map_err(|e| malformed(format!("{name}: {e}")))?;
            set.push(stmt);
        }
        Ok(Policy {
            version,
            id,
            kind,
            set,
        })
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// The compiled statements, for [`Inputs`] and [`PolicySet::merge`].
    pub fn set(&self) -> &PolicySet {
        &self.set
    }

    /// Whether S3 would call this bucket policy public (GetBucketPolicyStatus,
    /// public access blocks): some `Allow` reaches every principal (`*`, or
    /// `NotPrincipal`) without a condition pinning a fixed value (no
    /// wildcard, no variable) of `aws:SourceIp` (a CIDR narrower than /0),
    /// `aws:SourceArn`, `aws:SourceVpc`, `aws:SourceVpce`, `aws:SourceOwner`,
    /// `aws:SourceAccount`, `aws:userid`, `aws:PrincipalArn`,
    /// `aws:PrincipalAccount`, `aws:PrincipalOrgID` or
    /// `s3:x-amz-server-side-encryption-aws-kms-key-id`.
    pub fn is_public(&self) -> bool {
        self.set.statements.iter().any(|s| {
            let everyone = s.principal.as_ref().is_some_and(|p| p.any || p.negated);
            s.effect == Effect::Allow && everyone && !s.conditions.iter().any(pins_caller)
        })
    }
}

fn pins_caller(c: &Condition) -> bool {
    const OTHER_KEYS: &[&str] = &[
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceowner",
        "aws:sourceaccount",
        "aws:principalorgid",
    ];
    let key = match &c.key {
        Key::Known(k) => matches!(
            k,
            KnownKey::SourceIp
                | KnownKey::Userid
                | KnownKey::PrincipalArn
                | KnownKey::PrincipalAccount
                | KnownKey::S3XAmzServerSideEncryptionAwsKmsKeyId
        ),
        Key::Other(name) => OTHER_KEYS.contains(&&**name),
        _ => false,
    };
    key && c.is_fixed() && (c.op == condition::Op::IpAddress) == c.key_is(KnownKey::SourceIp)
}

/// A string or a non-empty array of strings (`Action`, `Resource`, …).
fn strings<'a>(v: &'a Json, what: &str) -> Result<Vec<&'a str>, String> {
    let list: Vec<&str> = match v {
        Json::String(s) => vec![s.as_str()],
        Json::Array(items) => items
            .iter()
            .map(|i| i.as_str().ok_or_else(|| format!("{what} must be strings")))
            .collect::<Result<_, _>>()?,
        _ => return Err(format!("{what} must be a string or an array of strings")),
    };
    if list.is_empty() || list.iter().any(|s| s.is_empty()) {
        return Err(format!("{what} must not be empty"));
    }
    Ok(list)
}

/// One of two mutually exclusive elements (`Action`/`NotAction` …):
/// (value, negated).
fn one_of<'a>(
    s: &'a Map<String, Json>,
    pos: &str,
    neg: &str,
) -> Result<Option<(&'a Json, bool)>, String> {
    match (s.get(pos), s.get(neg)) {
        (Some(_), Some(_)) => Err(format!("{pos} and {neg} cannot both be present")),
        (Some(v), None) => Ok(Some((v, false))),
        (None, Some(v)) => Ok(Some((v, true))),
        (None, None) => Ok(None),
    }
}

fn compile_statement(
    s: &Map<String, Json>,
    kind: PolicyKind,
    vars: bool,
) -> Result<Statement, String> {
    if let Some(k) = s.keys().find(|k| !STATEMENT_KEYS.contains(&k.as_str())) {
        return Err(format!("unknown element {k:?}"));
    }
    let effect = match s.get("Effect") {
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(e) => return Err(format!("invalid Effect {e}")),
        None => return Err("missing Effect".into()),
    };
    let principal = match (one_of(s, "Principal", "NotPrincipal")?, kind) {
        (Some(_), PolicyKind::Identity) => {
            return Err("Principal and NotPrincipal are not allowed in an identity policy".into())
        }
        (None, PolicyKind::Resource) => return Err("missing Principal".into()),
        (None, PolicyKind::Identity) => None,
        (Some((v, negated)), PolicyKind::Resource) => Some(compile_principal(v, negated)?),
    };
    let (actions, not_action) = one_of(s, "Action", "NotAction")?.ok_or("missing Action")?;
    let mut set = ActionSet::EMPTY;
    for a in strings(actions, "Action")? {
        if a != "*"
            && !a
                .split_once(':')
                .is_some_and(|(svc, name)| !svc.is_empty() && !name.is_empty())
        {
            return Err(format!("invalid action {a:?}: must be service:action"));
        }
        set = set.union(&ActionSet::matching(a));
    }
    if not_action {
        set = complement(&set);
    }
    let (resources, not_resource) =
        one_of(s, "Resource", "NotResource")?.ok_or("missing Resource")?;
    let resources = strings(resources, "Resource")?
        .into_iter()
        .map(|r| {
            let arn = r.starts_with("arn:") && r.splitn(6, ':').count() == 6;
            if r == "*" || arn {
                Ok(Pattern::compile(r, vars))
            } else {
                Err(format!("invalid resource {r:?}: must be an ARN or *"))
            }
        })
        .collect::<Result<_, _>>()?;
    let conditions = match s.get("Condition") {
        None => Box::default(),
        Some(c) => compile_conditions(c, vars)?,
    };
    Ok(Statement {
        effect,
        principal,
        actions: set,
        resources,
        not_resource,
        conditions,
    })
}

fn complement(set: &ActionSet) -> ActionSet {
    let mut out = ActionSet::EMPTY;
    for &a in Action::ALL {
        if !set.contains(a) {
            out.insert(a);
        }
    }
    out
}

fn compile_principal(v: &Json, negated: bool) -> Result<PrincipalSpec, String> {
    let mut spec = PrincipalSpec {
        negated,
        any: false,
        aws: Box::default(),
        canonical: Box::default(),
    };
    let map = match v {
        Json::String(s) if s == "*" => {
            spec.any = true;
            return Ok(spec);
        }
        Json::Object(m) if !m.is_empty() => m,
        _ => return Err("Principal must be \"*\" or a non-empty object".into()),
    };
    let (mut aws, mut canonical) = (Vec::new(), Vec::new());
    for (kind, ids) in map {
        let ids = strings(ids, "Principal")?;
        match kind.as_str() {
            "AWS" => {
                for id in ids {
                    if id == "*" {
                        spec.any = true;
                    } else if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) {
                        aws.push(format!("arn:aws:iam::{id}:root").into_boxed_str());
                    } else if (id.starts_with("arn:aws:iam::") || id.starts_with("arn:aws:sts::"))
                        && id.splitn(6, ':').count() == 6
                        && !id.contains(['*', '?'])
                    {
                        aws.push(id.into());
                    } else {
                        return Err(format!("invalid principal {id:?}"));
                    }
                }
            }
            "CanonicalUser" => {
                if let Some(bad) = ids.iter().find(|id| id.contains(['*', '?'])) {
                    return Err(format!("invalid principal {bad:?}"));
                }
                canonical.extend(ids.into_iter().map(Box::<str>::from));
            }
            // Accepted so that policies written for AWS load; cairn has no
            // service or federated principals, so they match nobody.
            "Service" | "Federated" => {}
            other => return Err(format!("unknown principal type {other:?}")),
        }
    }
    spec.aws = aws.into();
    spec.canonical = canonical.into();
    Ok(spec)
}

fn compile_conditions(v: &Json, vars: bool) -> Result<Box<[Condition]>, String> {
    let Json::Object(ops) = v else {
        return Err("Condition must be an object".into());
    };
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let (op, negated, if_exists, qualifier) = condition::parse_operator(op_name)
            .ok_or_else(|| format!("invalid condition operator {op_name:?}"))?;
        let Json::Object(keys) = keys else {
            return Err(format!("{op_name} must map condition keys to values"));
        };
        if keys.is_empty() {
            return Err(format!("{op_name} names no condition key"));
        }
        for (key_name, raw) in keys {
            let key = Key::parse(key_name)
                .ok_or_else(|| format!("invalid condition key {key_name:?}"))?;
            let raw = condition_values(raw)
                .ok_or_else(|| format!("invalid values for {key_name:?} in {op_name}"))?;
            let values = condition::compile_values(op, &raw, vars)
                .map_err(|e| format!("{op_name} {key_name}: {e}"))?;
            out.push(Condition {
                op,
                negated,
                if_exists,
                qualifier,
                key,
                values,
            });
        }
    }
    Ok(out.into())
}

/// A condition's values: a string, number or boolean, or a non-empty array
/// of them, as text.
fn condition_values(v: &Json) -> Option<Vec<String>> {
    let one = |v: &Json| match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Json::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Json::Array(_) => None,
        v => one(v).map(|s| vec![s]),
    }
}

/// Everything one evaluation looks at.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    pub request: &'a Request<'a>,
    /// The principal's identity policies, merged ([`PolicySet::merge`]);
    /// `None` for anonymous callers.
    pub identity: Option<&'a PolicySet>,
    /// The bucket policy.
    pub resource: Option<&'a PolicySet>,
    /// An STS session policy or a service account's narrowing policy: an
    /// identity allow counts only if this allows too.
    pub session: Option<&'a PolicySet>,
}

/// AWS's decision for one request.
pub fn evaluate(inputs: &Inputs<'_>) -> Decision {
    let req = inputs.request;
    let root = req.principal.kind == PrincipalType::Root;
    if root
        && matches!(
            req.action,
            Action::S3GetBucketPolicy | Action::S3PutBucketPolicy | Action::S3DeleteBucketPolicy
        )
    {
        return Decision::Allow;
    }
    let verdict = |set: Option<&PolicySet>| set.map(|s| s.verdict(req));
    let identity = verdict(inputs.identity).unwrap_or_default();
    if identity.deny {
        return Decision::ExplicitDeny;
    }
    let resource = verdict(inputs.resource).unwrap_or_default();
    if resource.deny {
        return Decision::ExplicitDeny;
    }
    let session = verdict(inputs.session);
    if session.is_some_and(|s| s.deny) {
        return Decision::ExplicitDeny;
    }
    let session_allows = session.is_none_or(|s| s.allow);
    let identity_allows = (root || identity.allow) && session_allows;
    let resource_allows = resource.allow_named || (resource.allow && session_allows);
    if identity_allows || resource_allows {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// The benchmark's case (issue 12, "How fast"), shared with the unit test
/// that checks its decisions: three identity policies of ten statements
/// (allows, a conditional list, denies the request's action must be tested
/// against) and a bucket policy with conditions.
#[doc(hidden)]
pub fn bench_policies() -> (Vec<String>, String) {
    let identity = (0..3)
        .map(|p| {
            let statements: Vec<String> = (0..10)
                .map(|i| match (p, i, i % 3) {
                    (2, 9, _) => r#"{"Sid":"Home","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::photos/home/${aws:username}/*","Condition":{"StringEquals":{"aws:PrincipalType":"User"}}}"#.to_string(),
                    (1, 9, _) => r#"{"Sid":"NoForeignDeletes","Effect":"Deny","Action":"s3:Delete*","NotResource":"arn:aws:s3:::photos/home/${aws:username}/*"}"#.to_string(),
                    (_, _, 0) => format!(r#"{{"Sid":"Read{p}x{i}","Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::data-{p}-{i}/*"}}"#),
                    (_, _, 1) => format!(r#"{{"Sid":"List{p}x{i}","Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::data-{p}-{i}","Condition":{{"StringLike":{{"s3:prefix":["home/${{aws:username}}/*"]}}}}}}"#),
                    _ => format!(r#"{{"Sid":"Private{p}x{i}","Effect":"Deny","Action":"s3:*Object","Resource":"arn:aws:s3:::photos/private-{p}-{i}/*"}}"#),
                })
                .collect();
            format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, statements.join(","))
        })
        .collect();
    let bucket = r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"TlsOnly","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}},
        {"Sid":"Offices","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*","Condition":{"NotIpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]}}},
        {"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/alice"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/home/*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}},
        {"Sid":"Public","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/public/*"}]}"#;
    (identity, bucket.to_string())
}
