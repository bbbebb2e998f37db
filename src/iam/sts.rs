//! STS temporary credentials: what AssumeRole grants, and the stateless
//! session token that carries it.
//!
//! A token is the session itself (access key id, secret, whom it acts as,
//! expiry, session policy) sealed with the master key (AES-256-GCM, bound
//! to the access key id as associated data), URL-safe base64. AssumeRole
//! writes nothing to the identity store, and any core holding the master
//! key verifies a token by opening it; [`SessionCache`] keeps opened tokens
//! per core so the AES open is not on every request. What a token names is
//! looked up in the current snapshot on every request, so a deleted or
//! disabled user (or a deleted role) stops its sessions at once.
//!
//! Pure: no I/O; the clock is passed in.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use rand::Rng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::action::Action;
use super::identities::{CompiledPolicies, Principal, PrincipalKind, Snapshot};
use super::model::{canonical_user_id, new_id, root_arn, root_canonical_id, IamState, ACCOUNT_ID};
use super::policy::{self, Decision, Inputs, Policy, PolicyKind, PolicySet, SizeLimit};
use super::seal::{MasterKey, Sealed, Secret};

/// AWS's bounds on `DurationSeconds` (AssumeRole).
pub const MIN_DURATION_SECS: u32 = 900;
pub const MAX_DURATION_SECS: u32 = 43_200;
pub const DEFAULT_DURATION_SECS: u32 = 3_600;
/// GetSessionToken's bounds (AWS's): an IAM user's session lasts 15
/// minutes to 36 hours, 12 hours unless asked; root's at most an hour,
/// a longer one being cut to an hour.
pub const MAX_USER_SESSION_SECS: u32 = 129_600;
pub const DEFAULT_USER_SESSION_SECS: u32 = 43_200;
pub const MAX_ROOT_SESSION_SECS: u32 = 3_600;
/// A role assumed with a role session's credentials (role chaining) lasts
/// at most an hour, as in AWS.
pub const MAX_CHAINED_SECS: u32 = 3_600;
/// Temporary access key ids start so (AWS's prefix), and only they.
pub const TEMPORARY_PREFIX: &str = "ASIA";
/// Longer tokens are refused unopened. A token holds at most a 2,048
/// character session policy (up to 4 bytes each in UTF-8) plus names and
/// the secret: well under this once base64-encoded.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Opened tokens a core keeps (oldest evicted first).
pub const SESSION_CACHE_CAPACITY: usize = 4096;
/// The token format, so it can change later.
const TOKEN_V1: u8 = 1;
const SECRET_LEN: usize = 40;

/// Whom a session acts as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    /// Root, as identified by its canonical id (a digest of the root access
    /// key): sessions end when the root key changes.
    Root { canonical: String },
    /// A user, by name and unique id (a user deleted and created again
    /// under the same name does not inherit the sessions).
    User { name: String, id: String },
    /// A role, by name, id and ARN, under a session name.
    Role {
        name: String,
        id: String,
        arn: String,
        session: String,
    },
}

impl Subject {
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` for a role; the
    /// caller's own ARN otherwise (as AWS answers for GetSessionToken's
    /// credentials).
    pub fn arn(&self, user_arn: impl FnOnce() -> String) -> String {
        match self {
            Subject::Root { .. } => root_arn(),
            Subject::User { .. } => user_arn(),
            Subject::Role { name, session, .. } => assumed_role_arn(name, session),
        }
    }
}

pub fn assumed_role_arn(role: &str, session: &str) -> String {
    format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{session}")
}

/// An opened (or freshly minted) session.
#[derive(Debug, PartialEq, Eq)]
pub struct Session {
    pub access_key: String,
    pub secret: Secret,
    pub subject: Subject,
    pub expires_ms: u64,
    /// The session policy, as given (checked when the session was granted).
    pub policy: Option<String>,
}

/// The sealed form; short field names keep tokens small.
#[derive(Serialize, Deserialize)]
struct TokenBody {
    v: u8,
    key: String,
    secret: String,
    sub: Subject,
    exp: u64,
    pol: Option<String>,
}

fn token_aad(access_key: &str) -> Vec<u8> {
    format!("cairn-sts-session:{access_key}").into_bytes()
}

/// Why a token does not stand for a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of this node's master key for this access key, or
    /// altered (S3's `InvalidToken`).
    Invalid,
    /// Past its expiry (`ExpiredToken`).
    Expired,
}

/// Whether `access_key` is a temporary one (its secret is in a token).
pub fn is_temporary(access_key: &str) -> bool {
    access_key.len() == 20 && access_key.starts_with(TEMPORARY_PREFIX)
}

/// Mints a session: a new `ASIA…` key, a 40-character secret, and its
/// token. `None` when the token would exceed [`MAX_TOKEN_LEN`] (AWS's
/// `PackedPolicyTooLarge`).
pub fn mint(
    master: &MasterKey,
    subject: Subject,
    policy: Option<String>,
    duration_secs: u32,
    now_ms: u64,
) -> Option<(Session, String)> {
    use rand::distributions::Alphanumeric;
    let access_key = new_id(TEMPORARY_PREFIX);
    let secret: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    let expires_ms = now_ms.saturating_add(u64::from(duration_secs) * 1000);
    let body = TokenBody {
        v: TOKEN_V1,
        key: access_key.clone(),
        secret,
        sub: subject,
        exp: expires_ms,
        pol: policy,
    };
    let plain = Zeroizing::new(serde_json::to_vec(&body).ok()?);
    let sealed = master.seal(&plain, &token_aad(&access_key));
    let token = B64.encode(sealed.as_bytes());
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let session = Session {
        access_key,
        secret: Secret::new(body.secret),
        subject: body.sub,
        expires_ms,
        policy: body.pol,
    };
    Some((session, token))
}

/// Opens `token` for a request signed with `access_key` at `now_ms`.
pub fn open(
    master: &MasterKey,
    access_key: &str,
    token: &str,
    now_ms: u64,
) -> Result<Session, TokenError> {
    let session = open_unchecked(master, access_key, token)?;
    if now_ms >= session.expires_ms {
        return Err(TokenError::Expired);
    }
    Ok(session)
}

/// Opens a token without looking at its expiry (the cache checks that on
/// every use).
fn open_unchecked(
    master: &MasterKey,
    access_key: &str,
    token: &str,
) -> Result<Session, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Invalid);
    }
    let raw = B64
        .decode(token.as_bytes())
        .map_err(|_| TokenError::Invalid)?;
    let plain = master
        .open(&Sealed::from_bytes(raw), &token_aad(access_key))
        .map_err(|_| TokenError::Invalid)?;
    let body: TokenBody = serde_json::from_str(plain.expose()).map_err(|_| TokenError::Invalid)?;
    // The associated data already binds the key; a mismatch is a bug in
    // whoever sealed it.
    if body.v != TOKEN_V1 || body.key != access_key {
        return Err(TokenError::Invalid);
    }
    Ok(Session {
        access_key: body.key,
        secret: Secret::new(body.secret),
        subject: body.sub,
        expires_ms: body.exp,
        policy: body.pol,
    })
}

// ---------------------------------------------------------------------------
// What AssumeRole grants
// ---------------------------------------------------------------------------

/// STS's error codes for AssumeRole and GetCallerIdentity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StsCode {
    ValidationError,
    MalformedPolicyDocument,
    PackedPolicyTooLarge,
    AccessDenied,
}

impl StsCode {
    pub fn as_str(self) -> &'static str {
        match self {
            StsCode::ValidationError => "ValidationError",
            StsCode::MalformedPolicyDocument => "MalformedPolicyDocument",
            StsCode::PackedPolicyTooLarge => "PackedPolicyTooLarge",
            StsCode::AccessDenied => "AccessDenied",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            StsCode::AccessDenied => 403,
            _ => 400,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsError {
    pub code: StsCode,
    pub message: String,
}

fn sts_error(code: StsCode, message: impl Into<String>) -> StsError {
    StsError {
        code,
        message: message.into(),
    }
}

/// AssumeRole's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRole {
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
    pub duration_secs: u32,
    pub policy: Option<String>,
}

/// What a caller may be granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub subject: Subject,
    pub policy: Option<String>,
    pub duration_secs: u32,
    /// `AssumedRoleUser`: the session's ARN and id.
    pub arn: String,
    pub assumed_id: String,
}

/// The ARN prefix of roles in cairn's account.
fn role_arn_prefix() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:role/")
}

/// Decides AssumeRole for `caller` against the identity state.
///
/// * No `RoleArn`, or one that does not name a role of cairn's account
///   (`arn:aws:iam::000000000000:role/…`; MinIO clients send placeholders
///   such as `arn:xxx:xxx:xxx:xxxx`): MinIO's form. The credentials act as
///   the caller (root or a user, with its own policies) narrowed by the
///   session policy.
/// * A `RoleArn` in cairn's account: AWS's form. The role must exist (else
///   `AccessDenied`, as AWS answers without saying whether it exists), the
///   caller must not be root (AWS: roles may not be assumed by root), and
///   the role's trust policy, with the caller's identity policies, must
///   allow `sts:AssumeRole` on it. The credentials act as
///   `assumed-role/ROLE/SESSION` with the role's policies.
/// * Temporary credentials and service accounts cannot get more (MinIO's
///   rule), except that a role session may assume a role (AWS's role
///   chaining, at most [`MAX_CHAINED_SECS`]).
pub fn assume_role(
    state: &IamState,
    caller: &Principal,
    req: &AssumeRole,
    now_ms: u64,
) -> Result<Grant, StsError> {
    if !(MIN_DURATION_SECS..=MAX_DURATION_SECS).contains(&req.duration_secs) {
        return Err(sts_error(
            StsCode::ValidationError,
            format!(
                "1 validation error detected: Value '{}' at 'durationSeconds' failed to satisfy \
                 constraint: Member must have value between {MIN_DURATION_SECS} and \
                 {MAX_DURATION_SECS}",
                req.duration_secs
            ),
        ));
    }
    if let Some(p) = &req.policy {
        check_session_policy(p)?;
    }
    let denied = |why: &str| sts_error(StsCode::AccessDenied, why);
    let role = req
        .role_arn
        .as_deref()
        .filter(|arn| arn.starts_with(&role_arn_prefix()));
    let Some(role_arn) = role else {
        let subject = match &caller.kind {
            PrincipalKind::Root => Subject::Root {
                canonical: caller.canonical_id.clone(),
            },
            PrincipalKind::User => Subject::User {
                name: caller.name.clone(),
                id: caller.id.clone(),
            },
            PrincipalKind::ServiceAccount { .. }
            | PrincipalKind::Session { .. }
            | PrincipalKind::AssumedRole { .. }
            | PrincipalKind::Anonymous => {
                return Err(denied(
                    "Temporary credentials and service accounts cannot request temporary credentials without a role.",
                ))
            }
        };
        return Ok(Grant {
            subject,
            policy: req.policy.clone(),
            duration_secs: req.duration_secs,
            arn: caller.arn.clone(),
            assumed_id: caller.id.clone(),
        });
    };
    let not_authorized = || {
        denied(&format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.arn
        ))
    };
    let session = req.session_name.as_deref().ok_or_else(|| {
        sts_error(
            StsCode::ValidationError,
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy \
             constraint: Member must not be null",
        )
    })?;
    check_session_name(session)?;
    let role = state
        .roles
        .values()
        .find(|r| r.arn == role_arn)
        .ok_or_else(not_authorized)?;
    let (identity, session_policy, chained) = match &caller.kind {
        PrincipalKind::Root => return Err(denied("Roles may not be assumed by root accounts.")),
        PrincipalKind::User => (user_policies(state, &caller.name)?, None, false),
        PrincipalKind::ServiceAccount { .. }
        | PrincipalKind::Session { .. }
        | PrincipalKind::Anonymous => {
            return Err(denied(
                "Temporary credentials and service accounts cannot assume roles.",
            ))
        }
        PrincipalKind::AssumedRole { role, policy, .. } => {
            let own = state.role(role).ok_or_else(not_authorized)?;
            let session = match policy {
                Some(p) => Some(parse_policy(p, PolicyKind::Identity)?.set().clone()),
                None => None,
            };
            (role_policies(state, own)?, session, true)
        }
    };
    let limit = if chained {
        MAX_CHAINED_SECS
    } else {
        role.max_session_secs
    };
    if req.duration_secs > limit {
        return Err(sts_error(
            StsCode::ValidationError,
            if chained {
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".to_string()
            } else {
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .to_string()
            },
        ));
    }
    let trust = trust_policy(&role.trust_policy)?;
    let other_arns: Vec<&str> = match &caller.kind {
        PrincipalKind::AssumedRole { role_arn, .. } => vec![role_arn.as_str()],
        _ => Vec::new(),
    };
    let who = policy::Principal {
        kind: match caller.kind {
            PrincipalKind::AssumedRole { .. } => policy::PrincipalType::AssumedRole,
            _ => policy::PrincipalType::User,
        },
        account: ACCOUNT_ID,
        arn: &caller.arn,
        other_arns: &other_arns,
        canonical_id: Some(&caller.canonical_id),
        username: (caller.kind == PrincipalKind::User).then_some(caller.name.as_str()),
        userid: Some(&caller.id),
    };
    let request = policy::Request::new(
        Action::StsAssumeRole,
        &role.arn,
        who,
        i64::try_from(now_ms).unwrap_or(i64::MAX),
    );
    let decision = policy::evaluate(&Inputs {
        request: &request,
        identity: Some(&identity),
        resource: Some(trust.set()),
        session: session_policy.as_ref(),
    });
    if decision != Decision::Allow {
        return Err(not_authorized());
    }
    Ok(Grant {
        subject: Subject::Role {
            name: role.name.clone(),
            id: role.id.clone(),
            arn: role.arn.clone(),
            session: session.to_owned(),
        },
        policy: req.policy.clone(),
        duration_secs: req.duration_secs,
        arn: assumed_role_arn(&role.name, session),
        assumed_id: format!("{}:{session}", role.id),
    })
}

/// Decides GetSessionToken for `caller`: root or an IAM user, with its
/// long-term key, gets a session that acts as itself with its own
/// policies (no session policy). Temporary credentials and service
/// accounts are refused, as AWS refuses session credentials.
pub fn get_session_token(
    caller: &Principal,
    duration_secs: Option<u32>,
) -> Result<Grant, StsError> {
    if let Some(d) =
        duration_secs.filter(|d| !(MIN_DURATION_SECS..=MAX_USER_SESSION_SECS).contains(d))
    {
        return Err(sts_error(
            StsCode::ValidationError,
            format!(
                "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy \
                 constraint: Member must have value between {MIN_DURATION_SECS} and \
                 {MAX_USER_SESSION_SECS}"
            ),
        ));
    }
    let asked = duration_secs.unwrap_or(DEFAULT_USER_SESSION_SECS);
    let (subject, secs) = match &caller.kind {
        PrincipalKind::Root => (
            Subject::Root {
                canonical: caller.canonical_id.clone(),
            },
            asked.min(MAX_ROOT_SESSION_SECS),
        ),
        PrincipalKind::User => (
            Subject::User {
                name: caller.name.clone(),
                id: caller.id.clone(),
            },
            asked,
        ),
        PrincipalKind::Session { .. } | PrincipalKind::AssumedRole { .. } => {
            return Err(sts_error(
                StsCode::AccessDenied,
                "Cannot call GetSessionToken with session credentials",
            ))
        }
        PrincipalKind::ServiceAccount { .. } | PrincipalKind::Anonymous => {
            return Err(sts_error(
                StsCode::AccessDenied,
                "Service accounts cannot request temporary credentials.",
            ))
        }
    };
    Ok(Grant {
        subject,
        policy: None,
        duration_secs: secs,
        arn: caller.arn.clone(),
        assumed_id: caller.id.clone(),
    })
}

/// A session policy: at most 2,048 characters, an identity policy.
pub fn check_session_policy(doc: &str) -> Result<(), StsError> {
    match Policy::parse_limited(
        doc.as_bytes(),
        PolicyKind::Identity,
        SizeLimit::SessionPolicy,
    ) {
        Ok(_) => Ok(()),
        Err(e) if e.is_limit_exceeded() => Err(sts_error(
            StsCode::ValidationError,
            "1 validation error detected: Value at 'policy' failed to satisfy constraint: \
             Member must have length less than or equal to 2048",
        )),
        Err(e) => Err(sts_error(StsCode::MalformedPolicyDocument, e.message())),
    }
}

/// `[\w+=,.@-]{2,64}`, AWS's RoleSessionName.
fn check_session_name(name: &str) -> Result<(), StsError> {
    let ok = (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_+=,.@-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(sts_error(
            StsCode::ValidationError,
            "1 validation error detected: Value at 'roleSessionName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have \
             length between 2 and 64",
        ))
    }
}

/// A stored policy that no longer compiles refuses the request: skipping
/// it could skip a deny.
fn parse_policy(doc: &str, kind: PolicyKind) -> Result<Policy, StsError> {
    // Stored policies were bounded when they were put; the largest limit
    // only keeps this from refusing one of them for its size.
    Policy::parse_limited(doc.as_bytes(), kind, SizeLimit::BucketPolicy).map_err(|e| {
        sts_error(
            StsCode::AccessDenied,
            format!(
                "A policy that decides this request does not compile: {}",
                e.message()
            ),
        )
    })
}

/// A role's trust policy: a resource policy whose resource is the role,
/// so AWS writes its statements without `Resource`; the compiler requires
/// one, so a missing one is the role (`*`).
fn trust_policy(doc: &str) -> Result<Policy, StsError> {
    let mut json: serde_json::Value = serde_json::from_str(doc).map_err(|e| {
        sts_error(
            StsCode::AccessDenied,
            format!("The role's trust policy is not valid JSON: {e}"),
        )
    })?;
    let statements = match json.get_mut("Statement") {
        Some(serde_json::Value::Array(list)) => list.iter_mut().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    for st in statements {
        if let serde_json::Value::Object(st) = st {
            if !st.contains_key("Resource") && !st.contains_key("NotResource") {
                st.insert("Resource".into(), "*".into());
            }
        }
    }
    parse_policy(&json.to_string(), PolicyKind::Resource)
}

fn managed<'a>(state: &'a IamState, arns: impl Iterator<Item = &'a String>) -> Vec<&'a str> {
    arns.filter_map(|a| state.policies.get(a).map(|p| p.document.as_str()))
        .collect()
}

/// A user's identity policies: inline, its groups' inline, attached managed
/// (its own and its groups').
fn user_policies(state: &IamState, name: &str) -> Result<PolicySet, StsError> {
    let Some(user) = state.user(name) else {
        return Ok(PolicySet::default());
    };
    let mut docs: Vec<&str> = user.inline.values().map(String::as_str).collect();
    docs.extend(managed(state, user.attached.iter()));
    for g in user.groups.iter().filter_map(|g| state.group(g)) {
        docs.extend(g.inline.values().map(String::as_str));
        docs.extend(managed(state, g.attached.iter()));
    }
    compile(&docs)
}

fn role_policies(state: &IamState, role: &super::model::Role) -> Result<PolicySet, StsError> {
    let mut docs: Vec<&str> = role.inline.values().map(String::as_str).collect();
    docs.extend(managed(state, role.attached.iter()));
    compile(&docs)
}

fn compile(docs: &[&str]) -> Result<PolicySet, StsError> {
    let policies = docs
        .iter()
        .map(|d| parse_policy(d, PolicyKind::Identity))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PolicySet::merge(&policies))
}

// ---------------------------------------------------------------------------
// Verification on the request path
// ---------------------------------------------------------------------------

/// Why temporary credentials were refused; the S3 layer names the codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An `ASIA…` key without a token.
    MissingToken,
    /// A token that does not open for this key (or a token sent with a
    /// long-term key).
    InvalidToken,
    Expired,
    /// The user is disabled or gone, the role gone, root's key changed.
    Revoked,
}

/// The principal a session acts as, from the current identity state.
pub fn principal_of(
    session: &Session,
    state: &IamState,
    root_access_key: &str,
) -> Result<Principal, Refusal> {
    let policy = session.policy.clone();
    let narrowing = session.policy.as_deref().map(session_set);
    Ok(match &session.subject {
        Subject::Root { canonical } => {
            if *canonical != root_canonical_id(root_access_key) {
                return Err(Refusal::Revoked);
            }
            Principal {
                kind: PrincipalKind::Session { root: true, policy },
                name: "root".into(),
                id: ACCOUNT_ID.into(),
                arn: root_arn(),
                groups: Vec::new(),
                access_key: session.access_key.clone(),
                canonical_id: canonical.clone(),
                policies: CompiledPolicies {
                    session: narrowing,
                    ..CompiledPolicies::default()
                },
                tenant: String::new(),
            }
        }
        Subject::User { name, id } => {
            let user = state
                .user(name)
                .filter(|u| u.id == *id && u.enabled)
                .ok_or(Refusal::Revoked)?;
            Principal {
                kind: PrincipalKind::Session {
                    root: false,
                    policy,
                },
                name: user.name.clone(),
                id: user.id.clone(),
                arn: user.arn.clone(),
                groups: user
                    .groups
                    .iter()
                    .filter_map(|g| state.group(g).map(|g| g.name.clone()))
                    .collect(),
                access_key: session.access_key.clone(),
                canonical_id: canonical_user_id(&user.id),
                policies: CompiledPolicies {
                    identity: Arc::new(super::identities::user_policies(state, user)),
                    session: narrowing,
                    service_account_arn: None,
                },
                tenant: user.tenant.clone(),
            }
        }
        Subject::Role {
            name,
            id,
            arn,
            session: session_name,
        } => {
            let role = state
                .role(name)
                .filter(|r| r.id == *id)
                .ok_or(Refusal::Revoked)?;
            Principal {
                kind: PrincipalKind::AssumedRole {
                    role: role.name.clone(),
                    role_arn: arn.clone(),
                    session: session_name.clone(),
                    policy,
                },
                name: role.name.clone(),
                id: format!("{}:{session_name}", role.id),
                arn: assumed_role_arn(&role.name, session_name),
                groups: Vec::new(),
                access_key: session.access_key.clone(),
                canonical_id: canonical_user_id(&role.id),
                policies: CompiledPolicies {
                    identity: Arc::new(role_policies(state, role).unwrap_or_default()),
                    session: narrowing,
                    service_account_arn: None,
                },
                tenant: String::new(),
            }
        }
    })
}

/// A session policy compiled; one that no longer parses (it was checked
/// when the session was granted) allows nothing.
fn session_set(doc: &str) -> Arc<PolicySet> {
    Arc::new(
        parse_policy(doc, PolicyKind::Identity)
            .map(|p| p.set().clone())
            .unwrap_or_default(),
    )
}

struct Cached {
    session: Session,
    /// The principal as of a snapshot generation.
    principal: Option<(u64, Arc<Principal>)>,
}

/// A core's opened tokens, keyed by the token's SHA-256, at most
/// [`SESSION_CACHE_CAPACITY`] (oldest evicted first). Holds no verdict
/// about the principal beyond one snapshot generation.
pub struct SessionCache {
    map: HashMap<[u8; 32], Cached>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
}

impl Default for SessionCache {
    fn default() -> Self {
        SessionCache::new(SESSION_CACHE_CAPACITY)
    }
}

impl SessionCache {
    pub fn new(capacity: usize) -> SessionCache {
        SessionCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The secret and principal of temporary key `access_key` presenting
    /// `token` at `now_ms`.
    pub fn resolve(
        &mut self,
        master: &MasterKey,
        snapshot: &Snapshot,
        root_access_key: &str,
        access_key: &str,
        token: Option<&str>,
        now_ms: u64,
    ) -> Result<(Secret, Arc<Principal>), Refusal> {
        use sha2::Digest;
        let token = token.ok_or(Refusal::MissingToken)?;
        let id: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if !self.map.contains_key(&id) {
            let session =
                open_unchecked(master, access_key, token).map_err(|_| Refusal::InvalidToken)?;
            if self.capacity == 0 {
                let mut once = Cached {
                    session,
                    principal: None,
                };
                return answer(&mut once, snapshot, root_access_key, access_key, now_ms);
            }
            while self.map.len() >= self.capacity {
                match self.order.pop_front() {
                    Some(old) => {
                        self.map.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(id);
            self.map.insert(
                id,
                Cached {
                    session,
                    principal: None,
                },
            );
        }
        let cached = self.map.get_mut(&id).ok_or(Refusal::InvalidToken)?;
        answer(cached, snapshot, root_access_key, access_key, now_ms)
    }
}

fn answer(
    cached: &mut Cached,
    snapshot: &Snapshot,
    root_access_key: &str,
    access_key: &str,
    now_ms: u64,
) -> Result<(Secret, Arc<Principal>), Refusal> {
    // A token opened for one key is no token for another.
    if cached.session.access_key != access_key {
        return Err(Refusal::InvalidToken);
    }
    if now_ms >= cached.session.expires_ms {
        return Err(Refusal::Expired);
    }
    let principal = match &cached.principal {
        Some((generation, p)) if *generation == snapshot.generation => p.clone(),
        _ => {
            let p = Arc::new(principal_of(
                &cached.session,
                &snapshot.state,
                root_access_key,
            )?);
            cached.principal = Some((snapshot.generation, p.clone()));
            p
        }
    };
    Ok((cached.session.secret.clone(), principal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::model::{Change, Target};
    use crate::iam::root::RootCredentials;

    const NOW: u64 = 1_800_000_000_000;
    const ROOT_KEY: &str = "rootkey";

    fn user_subject() -> Subject {
        Subject::User {
            name: "alice".into(),
            id: "AIDAALICE".into(),
        }
    }

    #[test]
    fn a_minted_token_opens_to_its_session_until_it_expires() {
        let m = MasterKey::generate("t");
        let (s, token) = mint(&m, user_subject(), Some("{}".into()), 900, NOW).unwrap();
        assert!(is_temporary(&s.access_key), "{}", s.access_key);
        assert_eq!(s.secret.expose().len(), 40);
        assert!(s.secret.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(s.expires_ms, NOW + 900_000);
        // URL-safe: goes in a query string as it is.
        assert!(token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(!token.contains(s.secret.expose()));
        let opened = open(&m, &s.access_key, &token, NOW + 899_999).unwrap();
        assert_eq!(opened, s);
        assert_eq!(
            open(&m, &s.access_key, &token, NOW + 900_000),
            Err(TokenError::Expired)
        );
        // Two sessions never share a key or a secret.
        let (t, _) = mint(&m, user_subject(), None, 900, NOW).unwrap();
        assert_ne!(
            (t.access_key, t.secret.expose()),
            (s.access_key.clone(), s.secret.expose())
        );
    }

    #[test]
    fn a_tampered_moved_or_foreign_token_does_not_open() {
        let m = MasterKey::generate("t");
        let (s, token) = mint(&m, user_subject(), None, 3600, NOW).unwrap();
        // Another node's master key.
        let other = MasterKey::generate("t");
        assert_eq!(
            open(&other, &s.access_key, &token, NOW),
            Err(TokenError::Invalid)
        );
        // Presented with another access key (AAD binds it).
        let (t, _) = mint(&m, user_subject(), None, 3600, NOW).unwrap();
        assert_eq!(
            open(&m, &t.access_key, &token, NOW),
            Err(TokenError::Invalid)
        );
        // Any changed character.
        let bytes = token.as_bytes();
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.to_vec();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(b).unwrap();
            assert_eq!(
                open(&m, &s.access_key, &altered, NOW),
                Err(TokenError::Invalid),
                "char {i}"
            );
        }
        for junk in ["", "not base64 !", "AAAA", &"A".repeat(MAX_TOKEN_LEN + 1)] {
            assert_eq!(open(&m, &s.access_key, junk, NOW), Err(TokenError::Invalid));
        }
    }

    #[test]
    fn a_token_never_prints_its_secret() {
        let m = MasterKey::generate("t");
        let (s, _) = mint(&m, user_subject(), None, 3600, NOW).unwrap();
        assert!(!format!("{s:?}").contains(s.secret.expose()));
    }

    /// alice (enabled, in group devs), bob (disabled), role `reader` that
    /// trusts alice, role `locked` that trusts nobody.
    fn state() -> IamState {
        let mut s = IamState::default();
        let changes = [
            Change::CreateUser {
                name: "alice".into(),
                path: "/".into(),
                tags: vec![],
                id: "AIDAALICE".into(),
                tenant: String::new(),
            },
            Change::CreateUser {
                name: "bob".into(),
                path: "/".into(),
                tags: vec![],
                id: "AIDABOB".into(),
                tenant: String::new(),
            },
            Change::SetUserEnabled {
                name: "bob".into(),
                enabled: false,
            },
            Change::CreateGroup {
                name: "Devs".into(),
                path: "/".into(),
                id: "AGPADEVS".into(),
            },
            Change::AddUserToGroup {
                group: "devs".into(),
                user: "alice".into(),
            },
            Change::CreateRole {
                name: "Reader".into(),
                path: "/".into(),
                description: String::new(),
                trust_policy: format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{ACCOUNT_ID}:user/alice","arn:aws:iam::{ACCOUNT_ID}:role/Chainer"]}},"Action":"sts:AssumeRole"}}]}}"#
                ),
                max_session_secs: 7200,
                id: "AROAREADER".into(),
            },
            Change::PutInlinePolicy {
                target: Target::Role("Reader".into()),
                name: "read".into(),
                document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#.into(),
            },
            Change::CreateRole {
                name: "Chainer".into(),
                path: "/".into(),
                description: String::new(),
                trust_policy: format!(
                    r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT_ID}:user/alice"}},"Action":"sts:AssumeRole"}}]}}"#
                ),
                max_session_secs: 43200,
                id: "AROACHAINER".into(),
            },
            Change::CreateRole {
                name: "Locked".into(),
                path: "/".into(),
                description: String::new(),
                trust_policy: r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}"#.into(),
                max_session_secs: 3600,
                id: "AROALOCKED".into(),
            },
        ];
        for c in &changes {
            s.apply(c, 1).unwrap();
        }
        s
    }

    fn snapshot(state: IamState, generation: u64, m: &MasterKey) -> Snapshot {
        let root = RootCredentials {
            access_key: ROOT_KEY.into(),
            secret_key: Secret::new("rootsecret".into()),
        };
        Snapshot::build(generation, Arc::new(state), &root, m).unwrap()
    }

    fn caller(snap: &Snapshot, key: &str) -> Principal {
        (**snap.lookup(key, NOW).unwrap().1).clone()
    }

    fn alice(state: &IamState) -> Principal {
        let u = state.user("alice").unwrap();
        Principal {
            kind: PrincipalKind::User,
            name: u.name.clone(),
            id: u.id.clone(),
            arn: u.arn.clone(),
            groups: vec!["Devs".into()],
            access_key: "AKIAALICE".into(),
            canonical_id: canonical_user_id(&u.id),
            policies: CompiledPolicies::default(),
            tenant: String::new(),
        }
    }

    fn ask(
        role: Option<&str>,
        session: Option<&str>,
        secs: u32,
        policy: Option<&str>,
    ) -> AssumeRole {
        AssumeRole {
            role_arn: role.map(str::to_owned),
            session_name: session.map(str::to_owned),
            duration_secs: secs,
            policy: policy.map(str::to_owned),
        }
    }

    fn code(r: Result<Grant, StsError>) -> Result<Grant, StsCode> {
        r.map_err(|e| e.code)
    }

    const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;

    #[test]
    fn without_a_role_the_session_acts_as_the_caller_narrowed_by_its_policy() {
        let m = MasterKey::generate("t");
        let st = state();
        let snap = snapshot(st.clone(), 1, &m);
        let root = caller(&snap, ROOT_KEY);
        let g = assume_role(&st, &root, &ask(None, None, 3600, Some(READ_ONLY)), NOW).unwrap();
        assert_eq!(
            g.subject,
            Subject::Root {
                canonical: root_canonical_id(ROOT_KEY)
            }
        );
        assert_eq!(g.policy.as_deref(), Some(READ_ONLY));
        // MinIO ignores a RoleArn outside cairn's account (clients send
        // placeholders).
        let g = assume_role(
            &st,
            &alice(&st),
            &ask(Some("arn:xxx:xxx:xxx:xxxx"), None, 900, None),
            NOW,
        )
        .unwrap();
        assert_eq!(g.subject, user_subject());
        assert_eq!(g.arn, alice(&st).arn);
    }

    #[test]
    fn durations_and_session_policies_are_checked() {
        let st = state();
        let a = alice(&st);
        for secs in [899, 43_201, 0] {
            assert_eq!(
                code(assume_role(&st, &a, &ask(None, None, secs, None), NOW)).err(),
                Some(StsCode::ValidationError),
                "{secs}"
            );
        }
        for secs in [900, 43_200] {
            assert!(assume_role(&st, &a, &ask(None, None, secs, None), NOW).is_ok());
        }
        let bad = code(assume_role(
            &st,
            &a,
            &ask(None, None, 900, Some("{nope")),
            NOW,
        ));
        assert_eq!(bad.err(), Some(StsCode::MalformedPolicyDocument));
        let with_principal =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        let bad = code(assume_role(
            &st,
            &a,
            &ask(None, None, 900, Some(with_principal)),
            NOW,
        ));
        assert_eq!(bad.err(), Some(StsCode::MalformedPolicyDocument));
        let big = format!(
            r#"{{"Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "x".repeat(2048)
        );
        let bad = code(assume_role(&st, &a, &ask(None, None, 900, Some(&big)), NOW));
        assert_eq!(bad.err(), Some(StsCode::ValidationError));
    }

    #[test]
    fn a_role_is_assumed_only_as_its_trust_policy_allows() {
        let st = state();
        let a = alice(&st);
        let reader = format!("arn:aws:iam::{ACCOUNT_ID}:role/Reader");
        let g = assume_role(&st, &a, &ask(Some(&reader), Some("s1"), 3600, None), NOW).unwrap();
        assert_eq!(
            g.subject,
            Subject::Role {
                name: "Reader".into(),
                id: "AROAREADER".into(),
                arn: reader.clone(),
                session: "s1".into()
            }
        );
        assert_eq!(
            g.arn,
            format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/Reader/s1")
        );
        assert_eq!(g.assumed_id, "AROAREADER:s1");
        // Beyond the role's MaxSessionDuration.
        assert_eq!(
            code(assume_role(
                &st,
                &a,
                &ask(Some(&reader), Some("s1"), 7201, None),
                NOW
            ))
            .err(),
            Some(StsCode::ValidationError)
        );
        // A session name is required, of AWS's shape.
        for name in [None, Some("x"), Some("has space")] {
            assert_eq!(
                code(assume_role(
                    &st,
                    &a,
                    &ask(Some(&reader), name, 900, None),
                    NOW
                ))
                .err(),
                Some(StsCode::ValidationError),
                "{name:?}"
            );
        }
        // Not trusted; unknown role (same answer); root.
        let locked = format!("arn:aws:iam::{ACCOUNT_ID}:role/Locked");
        let missing = format!("arn:aws:iam::{ACCOUNT_ID}:role/Nope");
        for arn in [&locked, &missing] {
            assert_eq!(
                code(assume_role(
                    &st,
                    &a,
                    &ask(Some(arn), Some("s1"), 900, None),
                    NOW
                ))
                .err(),
                Some(StsCode::AccessDenied),
                "{arn}"
            );
        }
        let m = MasterKey::generate("t");
        let root = caller(&snapshot(st.clone(), 1, &m), ROOT_KEY);
        assert_eq!(
            code(assume_role(
                &st,
                &root,
                &ask(Some(&reader), Some("s1"), 900, None),
                NOW
            ))
            .err(),
            Some(StsCode::AccessDenied)
        );
        // An identity deny of sts:AssumeRole wins over the trust policy.
        let mut denied = st.clone();
        denied
            .apply(
                &Change::PutInlinePolicy {
                    target: Target::Group("devs".into()),
                    name: "no-roles".into(),
                    document: r#"{"Statement":[{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}"#.into(),
                },
                2,
            )
            .unwrap();
        assert_eq!(
            code(assume_role(
                &denied,
                &a,
                &ask(Some(&reader), Some("s1"), 900, None),
                NOW
            ))
            .err(),
            Some(StsCode::AccessDenied)
        );
    }

    #[test]
    fn temporary_credentials_chain_only_to_a_role_for_an_hour() {
        let m = MasterKey::generate("t");
        let st = state();
        let snap = snapshot(st.clone(), 1, &m);
        let a = alice(&st);
        let chainer = format!("arn:aws:iam::{ACCOUNT_ID}:role/Chainer");
        let reader = format!("arn:aws:iam::{ACCOUNT_ID}:role/Reader");
        let g = assume_role(&st, &a, &ask(Some(&chainer), Some("cc"), 7200, None), NOW).unwrap();
        let (s, _) = mint(&m, g.subject, None, g.duration_secs, NOW).unwrap();
        let role_session = principal_of(&s, &snap.state, ROOT_KEY).unwrap();
        // Reader trusts the Chainer role: its sessions may assume it.
        assert!(assume_role(
            &st,
            &role_session,
            &ask(Some(&reader), Some("rr"), 3600, None),
            NOW
        )
        .is_ok());
        assert_eq!(
            code(assume_role(
                &st,
                &role_session,
                &ask(Some(&reader), Some("rr"), 3601, None),
                NOW
            ))
            .err(),
            Some(StsCode::ValidationError)
        );
        assert_eq!(
            code(assume_role(
                &st,
                &role_session,
                &ask(None, None, 900, None),
                NOW
            ))
            .err(),
            Some(StsCode::AccessDenied)
        );
        // A user's session gets nothing more.
        let (s, _) = mint(&m, user_subject(), None, 900, NOW).unwrap();
        let user_session = principal_of(&s, &snap.state, ROOT_KEY).unwrap();
        for role in [None, Some(reader.as_str())] {
            assert_eq!(
                code(assume_role(
                    &st,
                    &user_session,
                    &ask(role, Some("rr"), 900, None),
                    NOW
                ))
                .err(),
                Some(StsCode::AccessDenied)
            );
        }
    }

    #[test]
    fn session_tokens_follow_awss_duration_bounds_and_expire() {
        let m = MasterKey::generate("t");
        let st = state();
        let snap = snapshot(st.clone(), 1, &m);
        let root = caller(&snap, ROOT_KEY);
        let secs = |p: &Principal, d: Option<u32>| get_session_token(p, d).map(|g| g.duration_secs);
        assert_eq!(secs(&alice(&st), None), Ok(DEFAULT_USER_SESSION_SECS));
        assert_eq!(secs(&alice(&st), Some(900)), Ok(900));
        assert_eq!(secs(&alice(&st), Some(129_600)), Ok(129_600));
        for bad in [899, 129_601] {
            assert_eq!(
                get_session_token(&alice(&st), Some(bad)).map_err(|e| e.code),
                Err(StsCode::ValidationError)
            );
        }
        // Root: an hour at most, a longer request cut to an hour.
        assert_eq!(secs(&root, None), Ok(MAX_ROOT_SESSION_SECS));
        assert_eq!(secs(&root, Some(900)), Ok(900));
        let g = get_session_token(&alice(&st), Some(900)).unwrap();
        assert_eq!(
            (g.subject.clone(), g.policy.clone()),
            (user_subject(), None)
        );

        // The session acts as alice until it expires, then never again.
        let (s, token) = mint(&m, g.subject, None, g.duration_secs, NOW).unwrap();
        let mut cache = SessionCache::new(2);
        let (_, p) = cache
            .resolve(&m, &snap, ROOT_KEY, &s.access_key, Some(&token), NOW)
            .unwrap();
        assert_eq!(p.name, "alice");
        assert_eq!(
            get_session_token(&p, None).map_err(|e| e.code),
            Err(StsCode::AccessDenied),
            "session credentials cannot get another session"
        );
        let end = NOW + 900_000;
        assert!(cache
            .resolve(&m, &snap, ROOT_KEY, &s.access_key, Some(&token), end - 1)
            .is_ok());
        assert_eq!(
            cache
                .resolve(&m, &snap, ROOT_KEY, &s.access_key, Some(&token), end + 1)
                .err(),
            Some(Refusal::Expired)
        );
    }

    #[test]
    fn verification_follows_expiry_and_the_current_identity_state() {
        let m = MasterKey::generate("t");
        let mut st = state();
        let snap = snapshot(st.clone(), 1, &m);
        let mut cache = SessionCache::new(2);
        let (s, token) = mint(&m, user_subject(), Some(READ_ONLY.into()), 900, NOW).unwrap();
        let key = s.access_key.clone();
        let (secret, p) = cache
            .resolve(&m, &snap, ROOT_KEY, &key, Some(&token), NOW)
            .unwrap();
        assert_eq!(secret, s.secret);
        assert_eq!(
            p.kind,
            PrincipalKind::Session {
                root: false,
                policy: Some(READ_ONLY.into())
            }
        );
        assert_eq!(
            (p.name.as_str(), p.groups.clone()),
            ("alice", vec!["Devs".to_string()])
        );
        assert_eq!(p.access_key, key);
        assert!(
            matches!(&p.kind, PrincipalKind::Session { policy: Some(d), .. } if d == READ_ONLY)
        );
        assert!(!p.kind.acts_as_root());
        let at =
            |cache: &mut SessionCache, snap: &Snapshot, token: Option<&str>, key: &str, now| {
                cache
                    .resolve(&m, snap, ROOT_KEY, key, token, now)
                    .map(|(_, p)| p.name.clone())
            };
        // Cached: the same answer, and expiry still checked on every use.
        assert_eq!(
            at(&mut cache, &snap, Some(&token), &key, NOW + 899_999),
            Ok("alice".into())
        );
        assert_eq!(
            at(&mut cache, &snap, Some(&token), &key, NOW + 900_000),
            Err(Refusal::Expired)
        );
        assert_eq!(
            at(&mut cache, &snap, None, &key, NOW),
            Err(Refusal::MissingToken)
        );
        assert_eq!(
            at(&mut cache, &snap, Some("garbage"), &key, NOW),
            Err(Refusal::InvalidToken)
        );
        // A cached token presented with another key is refused too.
        let (other, _) = mint(&m, user_subject(), None, 900, NOW).unwrap();
        assert_eq!(
            at(&mut cache, &snap, Some(&token), &other.access_key, NOW),
            Err(Refusal::InvalidToken)
        );
        // Disabled: refused with the next snapshot, although cached.
        st.apply(
            &Change::SetUserEnabled {
                name: "alice".into(),
                enabled: false,
            },
            2,
        )
        .unwrap();
        let snap2 = snapshot(st.clone(), 2, &m);
        assert_eq!(
            at(&mut cache, &snap2, Some(&token), &key, NOW),
            Err(Refusal::Revoked)
        );
        // Deleted and created again under the same name: still refused.
        st.apply(
            &Change::RemoveUserFromGroup {
                group: "devs".into(),
                user: "alice".into(),
            },
            3,
        )
        .unwrap();
        st.apply(
            &Change::DeleteUser {
                name: "alice".into(),
            },
            3,
        )
        .unwrap();
        st.apply(
            &Change::CreateUser {
                name: "alice".into(),
                path: "/".into(),
                tags: vec![],
                id: "AIDAALICE2".into(),
                tenant: String::new(),
            },
            3,
        )
        .unwrap();
        let snap3 = snapshot(st, 3, &m);
        assert_eq!(
            at(&mut cache, &snap3, Some(&token), &key, NOW),
            Err(Refusal::Revoked)
        );
        // Bounded.
        for _ in 0..5 {
            let (s, t) = mint(
                &m,
                Subject::Root {
                    canonical: root_canonical_id(ROOT_KEY),
                },
                None,
                900,
                NOW,
            )
            .unwrap();
            assert!(cache
                .resolve(&m, &snap3, ROOT_KEY, &s.access_key, Some(&t), NOW)
                .is_ok());
        }
        assert_eq!(cache.len(), 2);
        let root_session = Subject::Root {
            canonical: root_canonical_id(ROOT_KEY),
        };
        let (s, t) = mint(&m, root_session, None, 900, NOW).unwrap();
        let (_, p) = cache
            .resolve(&m, &snap3, ROOT_KEY, &s.access_key, Some(&t), NOW)
            .unwrap();
        assert!(p.kind.acts_as_root() && p.policies.session.is_none());
        assert_eq!(
            (p.arn.as_str(), p.id.as_str()),
            (root_arn().as_str(), ACCOUNT_ID)
        );
        // Root's sessions end when the root key changes.
        let (s, t) = mint(
            &m,
            Subject::Root {
                canonical: root_canonical_id(ROOT_KEY),
            },
            None,
            900,
            NOW,
        )
        .unwrap();
        assert_eq!(
            cache
                .resolve(&m, &snap3, "newroot", &s.access_key, Some(&t), NOW)
                .map(|_| ()),
            Err(Refusal::Revoked)
        );
    }

    #[test]
    fn an_assumed_role_session_names_its_role_and_ends_with_it() {
        let m = MasterKey::generate("t");
        let mut st = state();
        let reader = format!("arn:aws:iam::{ACCOUNT_ID}:role/Reader");
        let g = assume_role(
            &st,
            &alice(&st),
            &ask(Some(&reader), Some("s1"), 900, None),
            NOW,
        )
        .unwrap();
        let (s, _) = mint(&m, g.subject, None, 900, NOW).unwrap();
        let p = principal_of(&s, &st, ROOT_KEY).unwrap();
        assert_eq!(
            p.kind,
            PrincipalKind::AssumedRole {
                role: "Reader".into(),
                role_arn: reader,
                session: "s1".into(),
                policy: None
            }
        );
        assert_eq!(p.arn, g.arn);
        assert_eq!(p.id, "AROAREADER:s1");
        st.apply(
            &Change::DeleteInlinePolicy {
                target: Target::Role("Reader".into()),
                name: "read".into(),
            },
            2,
        )
        .unwrap();
        st.apply(
            &Change::DeleteRole {
                name: "Reader".into(),
            },
            2,
        )
        .unwrap();
        assert_eq!(principal_of(&s, &st, ROOT_KEY), Err(Refusal::Revoked));
    }
}
