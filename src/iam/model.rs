//! The identity model: users, groups, access keys, service accounts, inline
//! and managed policies, roles. Pure: no I/O, no clock, no randomness.
//! Every change is a [`Change`] carrying whatever was generated for it (ids,
//! sealed secrets), applied by [`IamState::apply`] with the time passed in,
//! so replaying the same changes gives the same state (what a replicated log
//! such as etcd needs).
//!
//! Names follow AWS IAM: unique without regard to case, kept as written.
//! Maps are keyed by the lowercased name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::format_version::{decode_json, encode_json, JsonError};

use super::seal::{MasterKey, Sealed, Secret};

/// cairn's one account: the 12-digit id in every ARN. The all-zero id is
/// the one local AWS emulators use, so tools that parse ARNs accept it.
pub const ACCOUNT_ID: &str = "000000000000";

// AWS IAM quotas and name rules (IAM User Guide, "IAM and AWS STS quotas";
// API reference, CreateUser/CreateGroup/CreateRole/CreatePolicy).
pub const MAX_USERS: usize = 5000;
pub const MAX_GROUPS: usize = 300;
pub const MAX_ROLES: usize = 1000;
pub const MAX_MANAGED_POLICIES: usize = 1500;
pub const MAX_GROUPS_PER_USER: usize = 10;
pub const MAX_ATTACHED_POLICIES: usize = 10;
/// AWS allows 2; MinIO users expect several per user, so 10.
pub const MAX_ACCESS_KEYS_PER_USER: usize = 10;
/// MinIO sets no limit; one keeps the state bounded.
pub const MAX_SERVICE_ACCOUNTS_PER_USER: usize = 100;
pub const MAX_TAGS: usize = 50;
pub const MAX_TAG_KEY: usize = 128;
pub const MAX_TAG_VALUE: usize = 256;
pub const MAX_USER_NAME: usize = 64;
pub const MAX_GROUP_NAME: usize = 128;
pub const MAX_ROLE_NAME: usize = 64;
pub const MAX_POLICY_NAME: usize = 128;
pub const MAX_PATH: usize = 512;
/// Tenants (Ceph RGW's rules for a tenant name: `[a-z0-9_-]`, 1 to 64).
pub const MAX_TENANTS: usize = 1000;
pub const MAX_TENANT_NAME: usize = 64;
pub const MAX_DESCRIPTION: usize = 1000;
/// Aggregate size of a user's / group's / role's inline policies, in
/// non-whitespace characters.
pub const USER_INLINE_SIZE: usize = 2048;
pub const GROUP_INLINE_SIZE: usize = 5120;
pub const ROLE_INLINE_SIZE: usize = 10240;
pub const MANAGED_POLICY_SIZE: usize = 6144;
pub const TRUST_POLICY_SIZE: usize = 2048;
/// Role session duration bounds, seconds (1 h default, 12 h at most).
pub const MIN_SESSION_SECS: u32 = 3600;
pub const MAX_SESSION_SECS: u32 = 43200;

/// AWS IAM's error codes, each with its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IamCode {
    NoSuchEntity,
    EntityAlreadyExists,
    LimitExceeded,
    DeleteConflict,
    ValidationError,
    InvalidInput,
    MalformedPolicyDocument,
    /// The change could not be made durable (too few drives).
    ServiceFailure,
}

impl IamCode {
    pub fn as_str(self) -> &'static str {
        match self {
            IamCode::NoSuchEntity => "NoSuchEntity",
            IamCode::EntityAlreadyExists => "EntityAlreadyExists",
            IamCode::LimitExceeded => "LimitExceeded",
            IamCode::DeleteConflict => "DeleteConflict",
            IamCode::ValidationError => "ValidationError",
            IamCode::InvalidInput => "InvalidInput",
            IamCode::MalformedPolicyDocument => "MalformedPolicyDocument",
            IamCode::ServiceFailure => "ServiceFailure",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            IamCode::NoSuchEntity => 404,
            IamCode::EntityAlreadyExists | IamCode::LimitExceeded | IamCode::DeleteConflict => 409,
            IamCode::ValidationError | IamCode::InvalidInput | IamCode::MalformedPolicyDocument => {
                400
            }
            IamCode::ServiceFailure => 500,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamError {
    pub code: IamCode,
    pub message: String,
}

impl IamError {
    pub fn new(code: IamCode, message: impl Into<String>) -> IamError {
        IamError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for IamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for IamError {}

type R<T> = Result<T, IamError>;

fn no_such(what: &str, name: &str) -> IamError {
    IamError::new(
        IamCode::NoSuchEntity,
        format!("The {what} with name {name} cannot be found."),
    )
}

fn exists(what: &str, name: &str) -> IamError {
    IamError::new(
        IamCode::EntityAlreadyExists,
        format!("{what} with name {name} already exists."),
    )
}

fn limit(what: &str, n: usize) -> IamError {
    IamError::new(
        IamCode::LimitExceeded,
        format!("Cannot exceed quota for {what}: {n}"),
    )
}

fn conflict(msg: impl Into<String>) -> IamError {
    IamError::new(IamCode::DeleteConflict, msg)
}

fn invalid(msg: impl Into<String>) -> IamError {
    IamError::new(IamCode::ValidationError, msg)
}

/// Checks an identity policy (inline, managed, a service account's) with
/// the policy compiler: its message in `MalformedPolicyDocument`, a
/// document past the managed-policy size in `LimitExceeded`.
pub fn check_policy_document(doc: &str) -> R<()> {
    use crate::iam::policy::{Policy, PolicyKind};
    Policy::parse(doc.as_bytes(), PolicyKind::Identity)
        .map(|_| ())
        .map_err(|e| {
            let code = if e.is_limit_exceeded() {
                IamCode::LimitExceeded
            } else {
                IamCode::MalformedPolicyDocument
            };
            IamError::new(code, e.message())
        })
}

/// A role's trust policy names principals and no resource, which neither
/// policy kind of the compiler describes: checked as JSON here, judged by
/// AssumeRole.
fn check_trust_policy(doc: &str) -> R<()> {
    match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err(IamError::new(
            IamCode::MalformedPolicyDocument,
            "The trust policy must be a JSON object.",
        )),
        Err(e) => Err(IamError::new(
            IamCode::MalformedPolicyDocument,
            format!("The trust policy is not valid JSON: {e}"),
        )),
    }
}

fn policy_size(doc: &str) -> usize {
    doc.chars().filter(|c| !c.is_whitespace()).count()
}

/// `[\w+=,.@-]+`, 1 to `max` characters.
fn check_name(what: &str, name: &str, max: usize) -> R<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"_+=,.@-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "The specified value for {what} is invalid. It must contain only alphanumeric characters and/or the following: +=,.@_- and be 1 to {max} characters long."
        )))
    }
}

/// `/` alone, or `/…/` of printable ASCII, at most 512 characters.
fn check_path(path: &str) -> R<()> {
    let ok = path.len() <= MAX_PATH
        && path.starts_with('/')
        && path.ends_with('/')
        && path.bytes().all(|c| (0x21..=0x7e).contains(&c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "The specified value for path is invalid. It must begin and end with / and contain only printable ASCII characters.",
        ))
    }
}

fn check_tags(tags: &[(String, String)]) -> R<()> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY || v.chars().count() > MAX_TAG_VALUE {
            return Err(invalid(format!(
                "Tag keys are 1 to {MAX_TAG_KEY} characters and values at most {MAX_TAG_VALUE}."
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid("Tag keys starting with aws: are reserved."));
        }
    }
    Ok(())
}

fn check_description(d: &str) -> R<()> {
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(invalid(format!(
            "The description is at most {MAX_DESCRIPTION} characters."
        )));
    }
    Ok(())
}

/// Merges `new` into `tags` (same key: value replaced).
fn merge_tags(tags: &mut Vec<(String, String)>, new: &[(String, String)]) -> R<()> {
    check_tags(new)?;
    let mut merged = tags.clone();
    for (k, v) in new {
        match merged.iter_mut().find(|(mk, _)| mk == k) {
            Some(e) => e.1 = v.clone(),
            None => merged.push((k.clone(), v.clone())),
        }
    }
    if merged.len() > MAX_TAGS {
        return Err(limit("tags per resource", MAX_TAGS));
    }
    *tags = merged;
    Ok(())
}

pub fn user_arn(path: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:user{path}{name}")
}

/// A user's canonical id (64 hex digits, as S3's): derived from the user's
/// unique id, so it survives renames and never repeats after a delete.
pub fn canonical_user_id(user_id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("cairn-user:{user_id}")))
}

/// Root's canonical id: the owner every listing has shown since the first
/// version (a digest of the root access key).
pub fn root_canonical_id(root_access_key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(root_access_key.as_bytes()))
}

pub fn root_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:root")
}

/// Ceph RGW's tenant names: 1 to 64 of `[a-z0-9_-]`. None has `:`, which
/// joins a tenant to its bucket names (`s3::tenant`).
pub fn check_tenant_name(name: &str) -> R<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TENANT_NAME
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "The tenant name {name:?} is invalid. It must contain only lowercase letters, digits, _ and - and be 1 to {MAX_TENANT_NAME} characters long."
        )))
    }
}

fn lower(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A random id of AWS's shape: the prefix (`AIDA` user, `AGPA` group, `AROA`
/// role, `ANPA` policy, `AKIA` access key) and 16 upper-case letters/digits.
pub fn new_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(prefix.len() + 16);
    s.push_str(prefix);
    for _ in 0..16 {
        s.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    s
}

/// The associated data binding a sealed secret to its access key.
pub fn key_aad(access_key_id: &str) -> Vec<u8> {
    format!("cairn-iam-access-key:{access_key_id}").into_bytes()
}

/// A fresh access key: the id, its secret (to show the caller once) and
/// the secret sealed for the store.
pub struct NewAccessKey {
    pub id: String,
    pub secret: Secret,
    pub sealed: Sealed,
}

impl NewAccessKey {
    pub fn generate(master: &MasterKey) -> NewAccessKey {
        use rand::distributions::Alphanumeric;
        let id = new_id("AKIA");
        let secret: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        let sealed = master.seal(secret.as_bytes(), &key_aad(&id));
        NewAccessKey {
            id,
            secret: Secret::new(secret),
            sealed,
        }
    }
}

impl fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAccessKey")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created_ms: u64,
    pub enabled: bool,
    pub tags: Vec<(String, String)>,
    /// Lowercased group names.
    pub groups: BTreeSet<String>,
    pub inline: BTreeMap<String, String>,
    /// Attached managed policies, by ARN.
    pub attached: BTreeSet<String>,
    /// The tenant whose buckets the user sees and names; empty: the
    /// global namespace (every user before tenants existed).
    #[serde(default)]
    pub tenant: String,
}

/// A namespace of buckets for some users (docs/ARCHITECTURE.md, "Tenants").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
    pub created_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub created_ms: u64,
    /// Lowercased user names.
    pub members: BTreeSet<String>,
    pub inline: BTreeMap<String, String>,
    pub attached: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::Inactive => "Inactive",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsed {
    pub at_ms: u64,
    pub service: String,
    pub region: String,
}

/// A service account (MinIO's): a key of a parent user that acts with the
/// parent's permissions, narrowed by its own policy when it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccount {
    pub name: String,
    pub policy: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    /// The user's name as written.
    pub user: String,
    pub sealed: Sealed,
    pub status: KeyStatus,
    pub expires_ms: Option<u64>,
    pub description: String,
    pub created_ms: u64,
    pub last_used: Option<LastUsed>,
    /// `Some` for a service account's key.
    pub service: Option<ServiceAccount>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub description: String,
    /// Only `v1` exists until policy versions are added.
    pub default_version: String,
    pub document: String,
    pub attachments: u32,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub id: String,
    pub path: String,
    pub arn: String,
    pub description: String,
    pub trust_policy: String,
    pub max_session_secs: u32,
    pub created_ms: u64,
    pub inline: BTreeMap<String, String>,
    pub attached: BTreeSet<String>,
}

/// What an inline or managed policy is attached to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    User(String),
    Group(String),
    Role(String),
}

/// One change to the identity state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    CreateUser {
        name: String,
        path: String,
        tags: Vec<(String, String)>,
        id: String,
        /// The user's tenant, which must exist; empty: global.
        #[serde(default)]
        tenant: String,
    },
    CreateTenant {
        name: String,
    },
    /// Refused while a user is in the tenant (its buckets are the
    /// caller's to check: the state holds no buckets).
    DeleteTenant {
        name: String,
    },
    DeleteUser {
        name: String,
    },
    /// IAM's UpdateUser: a new name and/or path. Groups, keys and the ARN
    /// follow the user.
    UpdateUser {
        name: String,
        new_name: Option<String>,
        new_path: Option<String>,
    },
    /// MinIO's enable/disable: a disabled user's keys are refused.
    SetUserEnabled {
        name: String,
        enabled: bool,
    },
    TagUser {
        name: String,
        tags: Vec<(String, String)>,
    },
    UntagUser {
        name: String,
        keys: Vec<String>,
    },
    /// A user's access key, or (with `service`) a service account's.
    CreateAccessKey {
        user: String,
        id: String,
        sealed: Sealed,
        description: String,
        expires_ms: Option<u64>,
        service: Option<ServiceAccount>,
    },
    /// `user` names the owner the caller expects (`None`: any).
    UpdateAccessKey {
        user: Option<String>,
        id: String,
        status: KeyStatus,
    },
    DeleteAccessKey {
        user: Option<String>,
        id: String,
    },
    /// The admin API's edit of a key: each `Some` (or `clear_*`) changes
    /// one field; a policy only on a service account's key.
    EditAccessKey {
        id: String,
        status: Option<KeyStatus>,
        description: Option<String>,
        expires_ms: Option<u64>,
        clear_expiry: bool,
        policy: Option<String>,
        clear_policy: bool,
    },
    /// Last-used times batched by the cores; unknown keys are skipped.
    RecordLastUsed {
        entries: Vec<(String, LastUsed)>,
    },
    CreateGroup {
        name: String,
        path: String,
        id: String,
    },
    DeleteGroup {
        name: String,
    },
    AddUserToGroup {
        group: String,
        user: String,
    },
    RemoveUserFromGroup {
        group: String,
        user: String,
    },
    PutInlinePolicy {
        target: Target,
        name: String,
        document: String,
    },
    DeleteInlinePolicy {
        target: Target,
        name: String,
    },
    CreatePolicy {
        name: String,
        path: String,
        description: String,
        document: String,
        id: String,
    },
    DeletePolicy {
        arn: String,
    },
    AttachPolicy {
        target: Target,
        arn: String,
    },
    DetachPolicy {
        target: Target,
        arn: String,
    },
    CreateRole {
        name: String,
        path: String,
        description: String,
        trust_policy: String,
        max_session_secs: u32,
        id: String,
    },
    DeleteRole {
        name: String,
    },
}

/// What a change made, for the API's response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    User(User),
    Group(Group),
    AccessKey(AccessKey),
    Policy(ManagedPolicy),
    Role(Role),
}

/// The whole identity state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IamState {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    /// By access key id.
    pub keys: BTreeMap<String, AccessKey>,
    /// By ARN.
    pub policies: BTreeMap<String, ManagedPolicy>,
    pub roles: BTreeMap<String, Role>,
    /// By name (always lowercase).
    #[serde(default)]
    pub tenants: BTreeMap<String, Tenant>,
}

/// The format of the identity state's JSON this binary writes (and the
/// newest it reads); a state without `"format"` is format 1. Format 2
/// added tenants and each user's `tenant` (absent in 1: global).
pub const STATE_FORMAT: u32 = 2;

impl IamState {
    /// Decodes the system store's payload (any format this binary reads).
    pub fn decode(payload: &[u8]) -> Result<IamState, JsonError> {
        decode_json("iam.state", payload, STATE_FORMAT).map(|(_, s)| s)
    }

    /// The system store's payload as this binary writes it.
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        encode_json(STATE_FORMAT, self, false)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(&lower(name))
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(&lower(name))
    }

    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(&lower(name))
    }

    /// A user's keys (service accounts' too), oldest first.
    pub fn keys_of<'a>(&'a self, user: &'a str) -> impl Iterator<Item = &'a AccessKey> + 'a {
        let mut keys: Vec<&AccessKey> = self
            .keys
            .values()
            .filter(|k| k.user.eq_ignore_ascii_case(user))
            .collect();
        keys.sort_by_key(|k| (k.created_ms, k.id.clone()));
        keys.into_iter()
    }

    fn user_mut(&mut self, name: &str) -> R<&mut User> {
        self.users
            .get_mut(&lower(name))
            .ok_or_else(|| no_such("user", name))
    }

    fn group_mut(&mut self, name: &str) -> R<&mut Group> {
        self.groups
            .get_mut(&lower(name))
            .ok_or_else(|| no_such("group", name))
    }

    fn role_mut(&mut self, name: &str) -> R<&mut Role> {
        self.roles
            .get_mut(&lower(name))
            .ok_or_else(|| no_such("role", name))
    }

    fn id_taken(&self, id: &str) -> bool {
        self.users.values().any(|u| u.id == id)
            || self.groups.values().any(|g| g.id == id)
            || self.roles.values().any(|r| r.id == id)
            || self.policies.values().any(|p| p.id == id)
            || self.keys.contains_key(id)
    }

    fn check_new_id(&self, id: &str) -> R<()> {
        if id.is_empty() || self.id_taken(id) {
            return Err(IamError::new(
                IamCode::EntityAlreadyExists,
                format!("The id {id} is already in use."),
            ));
        }
        Ok(())
    }

    /// The inline policy map and its size limit of a target.
    fn inline_of(&mut self, target: &Target) -> R<(&mut BTreeMap<String, String>, usize)> {
        Ok(match target {
            Target::User(n) => (&mut self.user_mut(n)?.inline, USER_INLINE_SIZE),
            Target::Group(n) => (&mut self.group_mut(n)?.inline, GROUP_INLINE_SIZE),
            Target::Role(n) => (&mut self.role_mut(n)?.inline, ROLE_INLINE_SIZE),
        })
    }

    fn attached_of(&mut self, target: &Target) -> R<&mut BTreeSet<String>> {
        Ok(match target {
            Target::User(n) => &mut self.user_mut(n)?.attached,
            Target::Group(n) => &mut self.group_mut(n)?.attached,
            Target::Role(n) => &mut self.role_mut(n)?.attached,
        })
    }

    /// Applies one change. On error the state is unchanged.
    pub fn apply(&mut self, change: &Change, now_ms: u64) -> R<Outcome> {
        match change {
            Change::CreateUser {
                name,
                path,
                tags,
                id,
                tenant,
            } => {
                check_name("userName", name, MAX_USER_NAME)?;
                if !tenant.is_empty() && !self.tenants.contains_key(tenant) {
                    return Err(no_such("tenant", tenant));
                }
                check_path(path)?;
                check_tags(tags)?;
                if tags.len() > MAX_TAGS {
                    return Err(limit("tags per resource", MAX_TAGS));
                }
                if self.users.contains_key(&lower(name)) {
                    return Err(exists("User", name));
                }
                if self.users.len() >= MAX_USERS {
                    return Err(limit("users", MAX_USERS));
                }
                self.check_new_id(id)?;
                let u = User {
                    name: name.clone(),
                    id: id.clone(),
                    path: path.clone(),
                    arn: user_arn(path, name),
                    created_ms: now_ms,
                    enabled: true,
                    tags: tags.clone(),
                    groups: BTreeSet::new(),
                    inline: BTreeMap::new(),
                    attached: BTreeSet::new(),
                    tenant: tenant.clone(),
                };
                self.users.insert(lower(name), u.clone());
                Ok(Outcome::User(u))
            }
            Change::CreateTenant { name } => {
                check_tenant_name(name)?;
                if self.tenants.contains_key(name) {
                    return Err(exists("Tenant", name));
                }
                if self.tenants.len() >= MAX_TENANTS {
                    return Err(limit("tenants", MAX_TENANTS));
                }
                let t = Tenant {
                    name: name.clone(),
                    created_ms: now_ms,
                };
                self.tenants.insert(name.clone(), t);
                Ok(Outcome::Done)
            }
            Change::DeleteTenant { name } => {
                if !self.tenants.contains_key(name) {
                    return Err(no_such("tenant", name));
                }
                if self.users.values().any(|u| u.tenant == *name) {
                    return Err(conflict(
                        "Cannot delete tenant, must delete its users first.",
                    ));
                }
                self.tenants.remove(name);
                Ok(Outcome::Done)
            }
            Change::DeleteUser { name } => {
                let u = self.user(name).ok_or_else(|| no_such("user", name))?;
                // AWS refuses to delete a user that still has attached things.
                if self.keys_of(name).next().is_some() {
                    return Err(conflict(
                        "Cannot delete entity, must delete access keys first.",
                    ));
                }
                if !u.groups.is_empty() {
                    return Err(conflict(
                        "Cannot delete entity, must remove users from group first.",
                    ));
                }
                if !u.inline.is_empty() {
                    return Err(conflict(
                        "Cannot delete entity, must delete policies first.",
                    ));
                }
                if !u.attached.is_empty() {
                    return Err(conflict(
                        "Cannot delete entity, must detach all policies first.",
                    ));
                }
                self.users.remove(&lower(name));
                Ok(Outcome::Done)
            }
            Change::UpdateUser {
                name,
                new_name,
                new_path,
            } => {
                let old = self.user(name).ok_or_else(|| no_such("user", name))?;
                let to = new_name.clone().unwrap_or_else(|| old.name.clone());
                let path = new_path.clone().unwrap_or_else(|| old.path.clone());
                check_name("newUserName", &to, MAX_USER_NAME)?;
                check_path(&path)?;
                if lower(&to) != lower(name) && self.users.contains_key(&lower(&to)) {
                    return Err(exists("User", &to));
                }
                let mut u = old.clone();
                let before = u.name.clone();
                u.name = to.clone();
                u.path = path;
                u.arn = user_arn(&u.path, &u.name);
                for g in &u.groups {
                    if let Some(g) = self.groups.get_mut(g) {
                        g.members.remove(&lower(&before));
                        g.members.insert(lower(&to));
                    }
                }
                for k in self.keys.values_mut() {
                    if k.user.eq_ignore_ascii_case(&before) {
                        k.user = to.clone();
                    }
                }
                self.users.remove(&lower(&before));
                self.users.insert(lower(&to), u.clone());
                Ok(Outcome::User(u))
            }
            Change::SetUserEnabled { name, enabled } => {
                let u = self.user_mut(name)?;
                u.enabled = *enabled;
                Ok(Outcome::User(u.clone()))
            }
            Change::TagUser { name, tags } => {
                let u = self.user_mut(name)?;
                merge_tags(&mut u.tags, tags)?;
                Ok(Outcome::User(u.clone()))
            }
            Change::UntagUser { name, keys } => {
                let u = self.user_mut(name)?;
                u.tags.retain(|(k, _)| !keys.contains(k));
                Ok(Outcome::User(u.clone()))
            }
            Change::CreateAccessKey {
                user,
                id,
                sealed,
                description,
                expires_ms,
                service,
            } => {
                let u = self.user(user).ok_or_else(|| no_such("user", user))?;
                let owner = u.name.clone();
                check_description(description)?;
                if let Some(sa) = service {
                    if !sa.name.is_empty() {
                        check_name("name", &sa.name, MAX_USER_NAME)?;
                    }
                    if let Some(p) = &sa.policy {
                        check_policy_document(p)?;
                        if policy_size(p) > MANAGED_POLICY_SIZE {
                            return Err(limit("policy size", MANAGED_POLICY_SIZE));
                        }
                    }
                }
                if expires_ms.is_some_and(|e| e <= now_ms) {
                    return Err(invalid("The expiration must be in the future."));
                }
                let service_count = self.keys_of(user).filter(|k| k.service.is_some()).count();
                let key_count = self.keys_of(user).count() - service_count;
                if service.is_some() && service_count >= MAX_SERVICE_ACCOUNTS_PER_USER {
                    return Err(limit(
                        "service accounts per user",
                        MAX_SERVICE_ACCOUNTS_PER_USER,
                    ));
                }
                if service.is_none() && key_count >= MAX_ACCESS_KEYS_PER_USER {
                    return Err(limit("AccessKeysPerUser", MAX_ACCESS_KEYS_PER_USER));
                }
                if !id.starts_with("AKIA") || id.len() != 20 {
                    return Err(IamError::new(
                        IamCode::InvalidInput,
                        "An access key id is AKIA and 16 characters.",
                    ));
                }
                self.check_new_id(id)?;
                let k = AccessKey {
                    id: id.clone(),
                    user: owner,
                    sealed: sealed.clone(),
                    status: KeyStatus::Active,
                    expires_ms: *expires_ms,
                    description: description.clone(),
                    created_ms: now_ms,
                    last_used: None,
                    service: service.clone(),
                };
                self.keys.insert(id.clone(), k.clone());
                Ok(Outcome::AccessKey(k))
            }
            Change::UpdateAccessKey { user, id, status } => {
                let k = self.key_of_mut(user.as_deref(), id)?;
                k.status = *status;
                Ok(Outcome::AccessKey(k.clone()))
            }
            Change::DeleteAccessKey { user, id } => {
                self.key_of_mut(user.as_deref(), id)?;
                self.keys.remove(id);
                Ok(Outcome::Done)
            }
            Change::EditAccessKey {
                id,
                status,
                description,
                expires_ms,
                clear_expiry,
                policy,
                clear_policy,
            } => {
                if let Some(d) = description {
                    check_description(d)?;
                }
                if expires_ms.is_some_and(|e| e <= now_ms) {
                    return Err(invalid("The expiration must be in the future."));
                }
                if let Some(p) = policy {
                    check_policy_document(p)?;
                    if policy_size(p) > MANAGED_POLICY_SIZE {
                        return Err(limit("policy size", MANAGED_POLICY_SIZE));
                    }
                }
                let k = self.key_of_mut(None, id)?;
                if (policy.is_some() || *clear_policy) && k.service.is_none() {
                    return Err(IamError::new(
                        IamCode::InvalidInput,
                        "Only a service account's key has a policy of its own.",
                    ));
                }
                let mut edited = k.clone();
                if let Some(s) = status {
                    edited.status = *s;
                }
                if let Some(d) = description {
                    edited.description = d.clone();
                }
                if *clear_expiry {
                    edited.expires_ms = None;
                }
                if expires_ms.is_some() {
                    edited.expires_ms = *expires_ms;
                }
                if let Some(sa) = &mut edited.service {
                    if *clear_policy {
                        sa.policy = None;
                    }
                    if policy.is_some() {
                        sa.policy = policy.clone();
                    }
                }
                *k = edited.clone();
                Ok(Outcome::AccessKey(edited))
            }
            Change::RecordLastUsed { entries } => {
                for (id, used) in entries {
                    if let Some(k) = self.keys.get_mut(id) {
                        if k.last_used.as_ref().is_none_or(|l| l.at_ms < used.at_ms) {
                            k.last_used = Some(used.clone());
                        }
                    }
                }
                Ok(Outcome::Done)
            }
            Change::CreateGroup { name, path, id } => {
                check_name("groupName", name, MAX_GROUP_NAME)?;
                check_path(path)?;
                if self.groups.contains_key(&lower(name)) {
                    return Err(exists("Group", name));
                }
                if self.groups.len() >= MAX_GROUPS {
                    return Err(limit("groups", MAX_GROUPS));
                }
                self.check_new_id(id)?;
                let g = Group {
                    name: name.clone(),
                    id: id.clone(),
                    path: path.clone(),
                    arn: format!("arn:aws:iam::{ACCOUNT_ID}:group{path}{name}"),
                    created_ms: now_ms,
                    members: BTreeSet::new(),
                    inline: BTreeMap::new(),
                    attached: BTreeSet::new(),
                };
                self.groups.insert(lower(name), g.clone());
                Ok(Outcome::Group(g))
            }
            Change::DeleteGroup { name } => {
                let g = self.group(name).ok_or_else(|| no_such("group", name))?;
                if !g.members.is_empty() {
                    return Err(conflict(
                        "Cannot delete entity, must remove users from group first.",
                    ));
                }
                if !g.inline.is_empty() {
                    return Err(conflict(
                        "Cannot delete entity, must delete policies first.",
                    ));
                }
                if !g.attached.is_empty() {
                    return Err(conflict(
                        "Cannot delete entity, must detach all policies first.",
                    ));
                }
                self.groups.remove(&lower(name));
                Ok(Outcome::Done)
            }
            Change::AddUserToGroup { group, user } => {
                self.group(group).ok_or_else(|| no_such("group", group))?;
                let u = self.user_mut(user)?;
                if !u.groups.contains(&lower(group)) && u.groups.len() >= MAX_GROUPS_PER_USER {
                    return Err(limit("groups per user", MAX_GROUPS_PER_USER));
                }
                u.groups.insert(lower(group));
                self.group_mut(group)?.members.insert(lower(user));
                Ok(Outcome::Done)
            }
            Change::RemoveUserFromGroup { group, user } => {
                self.group(group).ok_or_else(|| no_such("group", group))?;
                let u = self.user_mut(user)?;
                if !u.groups.remove(&lower(group)) {
                    return Err(IamError::new(
                        IamCode::NoSuchEntity,
                        format!("User {user} is not in group {group}."),
                    ));
                }
                self.group_mut(group)?.members.remove(&lower(user));
                Ok(Outcome::Done)
            }
            Change::PutInlinePolicy {
                target,
                name,
                document,
            } => {
                check_name("policyName", name, MAX_POLICY_NAME)?;
                check_policy_document(document)?;
                let (inline, max) = self.inline_of(target)?;
                let others: usize = inline
                    .iter()
                    .filter(|(n, _)| *n != name)
                    .map(|(_, d)| policy_size(d))
                    .sum();
                if others + policy_size(document) > max {
                    return Err(limit("inline policy size", max));
                }
                inline.insert(name.clone(), document.clone());
                Ok(Outcome::Done)
            }
            Change::DeleteInlinePolicy { target, name } => {
                let (inline, _) = self.inline_of(target)?;
                inline.remove(name).ok_or_else(|| no_such("policy", name))?;
                Ok(Outcome::Done)
            }
            Change::CreatePolicy {
                name,
                path,
                description,
                document,
                id,
            } => {
                check_name("policyName", name, MAX_POLICY_NAME)?;
                check_path(path)?;
                check_description(description)?;
                check_policy_document(document)?;
                if policy_size(document) > MANAGED_POLICY_SIZE {
                    return Err(limit("policy size", MANAGED_POLICY_SIZE));
                }
                if self
                    .policies
                    .values()
                    .any(|p| p.name.eq_ignore_ascii_case(name))
                {
                    return Err(exists("A policy", name));
                }
                if self.policies.len() >= MAX_MANAGED_POLICIES {
                    return Err(limit("customer managed policies", MAX_MANAGED_POLICIES));
                }
                self.check_new_id(id)?;
                let arn = format!("arn:aws:iam::{ACCOUNT_ID}:policy{path}{name}");
                let p = ManagedPolicy {
                    name: name.clone(),
                    id: id.clone(),
                    path: path.clone(),
                    arn: arn.clone(),
                    description: description.clone(),
                    default_version: "v1".into(),
                    document: document.clone(),
                    attachments: 0,
                    created_ms: now_ms,
                    updated_ms: now_ms,
                };
                self.policies.insert(arn, p.clone());
                Ok(Outcome::Policy(p))
            }
            Change::DeletePolicy { arn } => {
                let p = self.policies.get(arn).ok_or_else(|| {
                    IamError::new(
                        IamCode::NoSuchEntity,
                        format!("Policy {arn} was not found."),
                    )
                })?;
                if p.attachments > 0 {
                    return Err(conflict("Cannot delete a policy attached to entities."));
                }
                self.policies.remove(arn);
                Ok(Outcome::Done)
            }
            Change::AttachPolicy { target, arn } => {
                if !self.policies.contains_key(arn) {
                    return Err(IamError::new(
                        IamCode::NoSuchEntity,
                        format!("Policy {arn} does not exist or is not attachable."),
                    ));
                }
                let attached = self.attached_of(target)?;
                if attached.contains(arn) {
                    return Ok(Outcome::Done);
                }
                if attached.len() >= MAX_ATTACHED_POLICIES {
                    return Err(limit("PoliciesPerEntity", MAX_ATTACHED_POLICIES));
                }
                attached.insert(arn.clone());
                if let Some(p) = self.policies.get_mut(arn) {
                    p.attachments += 1;
                }
                Ok(Outcome::Done)
            }
            Change::DetachPolicy { target, arn } => {
                let attached = self.attached_of(target)?;
                if !attached.remove(arn) {
                    return Err(IamError::new(
                        IamCode::NoSuchEntity,
                        format!("Policy {arn} was not found."),
                    ));
                }
                if let Some(p) = self.policies.get_mut(arn) {
                    p.attachments = p.attachments.saturating_sub(1);
                }
                Ok(Outcome::Done)
            }
            Change::CreateRole {
                name,
                path,
                description,
                trust_policy,
                max_session_secs,
                id,
            } => {
                check_name("roleName", name, MAX_ROLE_NAME)?;
                check_path(path)?;
                check_description(description)?;
                check_trust_policy(trust_policy)?;
                if policy_size(trust_policy) > TRUST_POLICY_SIZE {
                    return Err(limit("AssumeRolePolicySizeQuota", TRUST_POLICY_SIZE));
                }
                if !(MIN_SESSION_SECS..=MAX_SESSION_SECS).contains(max_session_secs) {
                    return Err(invalid(format!(
                        "The MaxSessionDuration is {MIN_SESSION_SECS} to {MAX_SESSION_SECS} seconds."
                    )));
                }
                if self.roles.contains_key(&lower(name)) {
                    return Err(exists("Role", name));
                }
                if self.roles.len() >= MAX_ROLES {
                    return Err(limit("roles", MAX_ROLES));
                }
                self.check_new_id(id)?;
                let r = Role {
                    name: name.clone(),
                    id: id.clone(),
                    path: path.clone(),
                    arn: format!("arn:aws:iam::{ACCOUNT_ID}:role{path}{name}"),
                    description: description.clone(),
                    trust_policy: trust_policy.clone(),
                    max_session_secs: *max_session_secs,
                    created_ms: now_ms,
                    inline: BTreeMap::new(),
                    attached: BTreeSet::new(),
                };
                self.roles.insert(lower(name), r.clone());
                Ok(Outcome::Role(r))
            }
            Change::DeleteRole { name } => {
                let r = self.role(name).ok_or_else(|| no_such("role", name))?;
                if !r.inline.is_empty() || !r.attached.is_empty() {
                    return Err(conflict(
                        "Cannot delete entity, must delete policies first.",
                    ));
                }
                self.roles.remove(&lower(name));
                Ok(Outcome::Done)
            }
        }
    }

    /// The key `id`, checked to belong to `user` when one is named.
    fn key_of_mut(&mut self, user: Option<&str>, id: &str) -> R<&mut AccessKey> {
        if let Some(u) = user {
            self.user(u).ok_or_else(|| no_such("user", u))?;
        }
        match self.keys.get_mut(id) {
            Some(k) if user.is_none_or(|u| k.user.eq_ignore_ascii_case(u)) => Ok(k),
            _ => Err(IamError::new(
                IamCode::NoSuchEntity,
                format!("The Access Key with id {id} cannot be found."),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000_000;

    fn user(name: &str) -> Change {
        Change::CreateUser {
            name: name.into(),
            path: "/".into(),
            tags: vec![],
            id: new_id("AIDA"),
            tenant: String::new(),
        }
    }

    fn key(user: &str, master: &MasterKey) -> (Change, String) {
        let k = NewAccessKey::generate(master);
        let id = k.id.clone();
        let c = Change::CreateAccessKey {
            user: user.into(),
            id: k.id,
            sealed: k.sealed,
            description: String::new(),
            expires_ms: None,
            service: None,
        };
        (c, id)
    }

    /// A valid identity policy whose Sid is `sid_len` characters long.
    fn doc_with_sid(sid_len: usize) -> String {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{}","Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}]}}"#,
            "x".repeat(sid_len)
        )
    }

    fn valid_doc() -> String {
        doc_with_sid(1)
    }

    fn code(r: R<Outcome>) -> IamCode {
        r.expect_err("the change should fail").code
    }

    #[test]
    fn a_tenant_takes_users_only_once_made_and_goes_only_when_it_has_none() {
        let mut s = IamState::default();
        let in_acme = |name: &str| Change::CreateUser {
            name: name.into(),
            path: "/".into(),
            tags: vec![],
            id: new_id("AIDA"),
            tenant: "acme".into(),
        };
        assert_eq!(code(s.apply(&in_acme("ann"), T)), IamCode::NoSuchEntity);
        let acme = Change::CreateTenant {
            name: "acme".into(),
        };
        s.apply(&acme, T).unwrap();
        assert_eq!(code(s.apply(&acme, T)), IamCode::EntityAlreadyExists);
        for bad in ["", "Acme", "a:b", "a.b", "é", &"a".repeat(65)] {
            let c = Change::CreateTenant { name: bad.into() };
            assert_eq!(code(s.apply(&c, T)), IamCode::ValidationError, "{bad:?}");
        }
        let Outcome::User(ann) = s.apply(&in_acme("ann"), T).unwrap() else {
            panic!()
        };
        assert_eq!(ann.tenant, "acme");
        let drop = Change::DeleteTenant {
            name: "acme".into(),
        };
        assert_eq!(code(s.apply(&drop, T)), IamCode::DeleteConflict);
        s.apply(&Change::DeleteUser { name: "ann".into() }, T)
            .unwrap();
        s.apply(&drop, T).unwrap();
        assert!(s.tenants.is_empty());
        assert_eq!(code(s.apply(&drop, T)), IamCode::NoSuchEntity);
    }

    #[test]
    fn users_are_unique_without_regard_to_case_and_named_as_aws_allows() {
        let mut s = IamState::default();
        let Outcome::User(u) = s.apply(&user("Alice"), T).unwrap() else {
            panic!()
        };
        assert_eq!(u.arn, "arn:aws:iam::000000000000:user/Alice");
        assert!(u.enabled && u.id.starts_with("AIDA") && u.id.len() == 20);
        assert_eq!(
            code(s.apply(&user("alice"), T)),
            IamCode::EntityAlreadyExists
        );
        assert_eq!(s.user("ALICE").unwrap().name, "Alice");
        for bad in ["", "a b", "a/b", "é", &"a".repeat(65)] {
            assert_eq!(
                code(s.apply(&user(bad), T)),
                IamCode::ValidationError,
                "{bad:?}"
            );
        }
        let pathed = Change::CreateUser {
            name: "bob".into(),
            path: "/eng/team/".into(),
            tags: vec![("dept".into(), "eng".into())],
            id: new_id("AIDA"),
            tenant: String::new(),
        };
        let Outcome::User(b) = s.apply(&pathed, T).unwrap() else {
            panic!()
        };
        assert_eq!(b.arn, "arn:aws:iam::000000000000:user/eng/team/bob");
        for bad_path in ["eng/", "/eng", "/a b/"] {
            let c = Change::CreateUser {
                name: "carol".into(),
                path: bad_path.into(),
                tags: vec![],
                id: new_id("AIDA"),
                tenant: String::new(),
            };
            assert_eq!(code(s.apply(&c, T)), IamCode::ValidationError);
        }
        assert_eq!(
            code(s.apply(
                &Change::DeleteUser {
                    name: "nobody".into()
                },
                T
            )),
            IamCode::NoSuchEntity
        );
        // A reused id is refused (ids are unique across entities).
        let dup = Change::CreateGroup {
            name: "g".into(),
            path: "/".into(),
            id: u.id.clone(),
        };
        assert_eq!(code(s.apply(&dup, T)), IamCode::EntityAlreadyExists);
    }

    #[test]
    fn tags_are_merged_and_bounded() {
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        let tag = |k: &str, v: &str| (k.to_string(), v.to_string());
        let t = Change::TagUser {
            name: "u".into(),
            tags: vec![tag("a", "1"), tag("b", "2")],
        };
        s.apply(&t, T).unwrap();
        let t = Change::TagUser {
            name: "u".into(),
            tags: vec![tag("a", "3")],
        };
        s.apply(&t, T).unwrap();
        assert_eq!(
            s.user("u").unwrap().tags,
            vec![tag("a", "3"), tag("b", "2")]
        );
        let many: Vec<_> = (0..MAX_TAGS).map(|i| tag(&format!("k{i}"), "v")).collect();
        let t = Change::TagUser {
            name: "u".into(),
            tags: many,
        };
        assert_eq!(code(s.apply(&t, T)), IamCode::LimitExceeded);
        let t = Change::TagUser {
            name: "u".into(),
            tags: vec![tag("aws:x", "v")],
        };
        assert_eq!(code(s.apply(&t, T)), IamCode::ValidationError);
        s.apply(
            &Change::UntagUser {
                name: "u".into(),
                keys: vec!["a".into()],
            },
            T,
        )
        .unwrap();
        assert_eq!(s.user("u").unwrap().tags, vec![tag("b", "2")]);
    }

    #[test]
    fn an_edit_changes_only_the_fields_it_names_and_a_policy_only_on_a_service_account() {
        let m = MasterKey::generate("t");
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        let (c, plain) = key("u", &m);
        s.apply(&c, T).unwrap();
        let sa = NewAccessKey::generate(&m);
        let sa_id = sa.id.clone();
        s.apply(
            &Change::CreateAccessKey {
                user: "u".into(),
                id: sa.id,
                sealed: sa.sealed,
                description: "ci".into(),
                expires_ms: Some(T + 1000),
                service: Some(ServiceAccount {
                    name: "ci".into(),
                    policy: None,
                }),
            },
            T,
        )
        .unwrap();
        let edit = |id: &str| Change::EditAccessKey {
            id: id.into(),
            status: None,
            description: None,
            expires_ms: None,
            clear_expiry: false,
            policy: None,
            clear_policy: false,
        };
        let with_policy = |id: &str| Change::EditAccessKey {
            id: id.into(),
            status: Some(KeyStatus::Inactive),
            description: None,
            expires_ms: None,
            clear_expiry: false,
            policy: Some(valid_doc()),
            clear_policy: false,
        };
        assert_eq!(
            code(s.apply(&with_policy(&plain), T)),
            IamCode::InvalidInput
        );
        assert_eq!(s.keys[&plain].status, KeyStatus::Active, "unchanged");
        let Outcome::AccessKey(k) = s.apply(&with_policy(&sa_id), T).unwrap() else {
            panic!()
        };
        assert_eq!(k.status, KeyStatus::Inactive);
        assert_eq!(k.description, "ci");
        assert_eq!(k.expires_ms, Some(T + 1000));
        assert_eq!(k.service.unwrap().policy, Some(valid_doc()));
        let clear = Change::EditAccessKey {
            id: sa_id.clone(),
            status: None,
            description: Some("nightly".into()),
            expires_ms: None,
            clear_expiry: true,
            policy: None,
            clear_policy: true,
        };
        s.apply(&clear, T).unwrap();
        let k = &s.keys[&sa_id];
        assert_eq!(k.description, "nightly");
        assert_eq!(k.expires_ms, None);
        assert_eq!(k.service.as_ref().unwrap().policy, None);
        let past = Change::EditAccessKey {
            id: sa_id.clone(),
            status: None,
            description: None,
            expires_ms: Some(T - 1),
            clear_expiry: false,
            policy: None,
            clear_policy: false,
        };
        assert_eq!(code(s.apply(&past, T)), IamCode::ValidationError);
        assert_eq!(
            code(s.apply(&edit("AKIANOSUCHKEY0000000"), T)),
            IamCode::NoSuchEntity
        );
    }

    #[test]
    fn access_keys_are_bounded_owned_and_block_user_deletion() {
        let m = MasterKey::generate("t");
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        s.apply(&user("v"), T).unwrap();
        let mut ids = Vec::new();
        for _ in 0..MAX_ACCESS_KEYS_PER_USER {
            let (c, id) = key("u", &m);
            s.apply(&c, T).unwrap();
            ids.push(id);
        }
        assert_eq!(code(s.apply(&key("u", &m).0, T)), IamCode::LimitExceeded);
        assert_eq!(
            code(s.apply(&key("nobody", &m).0, T)),
            IamCode::NoSuchEntity
        );
        if let (Change::CreateAccessKey { sealed, .. }, _) = key("v", &m) {
            let odd_id = Change::CreateAccessKey {
                user: "v".into(),
                id: "not-an-id".into(),
                sealed,
                description: String::new(),
                expires_ms: None,
                service: None,
            };
            assert_eq!(code(s.apply(&odd_id, T)), IamCode::InvalidInput);
        }
        // Service accounts have a limit of their own.
        let sa = NewAccessKey::generate(&m);
        let c = Change::CreateAccessKey {
            user: "u".into(),
            id: sa.id,
            sealed: sa.sealed,
            description: "ci".into(),
            expires_ms: Some(T + 1000),
            service: Some(ServiceAccount {
                name: "ci".into(),
                policy: Some(valid_doc()),
            }),
        };
        s.apply(&c, T).unwrap();
        let bad_policy = match c.clone() {
            Change::CreateAccessKey {
                user, description, ..
            } => {
                let k = NewAccessKey::generate(&m);
                Change::CreateAccessKey {
                    user,
                    id: k.id,
                    sealed: k.sealed,
                    description,
                    expires_ms: None,
                    service: Some(ServiceAccount {
                        name: String::new(),
                        policy: Some("not json".into()),
                    }),
                }
            }
            _ => unreachable!(),
        };
        assert_eq!(
            code(s.apply(&bad_policy, T)),
            IamCode::MalformedPolicyDocument
        );
        // An expiry in the past is refused.
        if let Change::CreateAccessKey {
            user,
            description,
            service,
            ..
        } = c
        {
            let k = NewAccessKey::generate(&m);
            let past = Change::CreateAccessKey {
                user,
                id: k.id,
                sealed: k.sealed,
                description,
                expires_ms: Some(T),
                service,
            };
            assert_eq!(code(s.apply(&past, T)), IamCode::ValidationError);
        }
        // Another user's key is not found under this user.
        let wrong_owner = Change::UpdateAccessKey {
            user: Some("v".into()),
            id: ids[0].clone(),
            status: KeyStatus::Inactive,
        };
        assert_eq!(code(s.apply(&wrong_owner, T)), IamCode::NoSuchEntity);
        let deactivate = Change::UpdateAccessKey {
            user: Some("U".into()),
            id: ids[0].clone(),
            status: KeyStatus::Inactive,
        };
        s.apply(&deactivate, T).unwrap();
        assert_eq!(s.keys[&ids[0]].status, KeyStatus::Inactive);
        assert_eq!(
            code(s.apply(&Change::DeleteUser { name: "u".into() }, T)),
            IamCode::DeleteConflict
        );
        for id in s.keys.keys().cloned().collect::<Vec<_>>() {
            s.apply(
                &Change::DeleteAccessKey {
                    user: Some("u".into()),
                    id,
                },
                T,
            )
            .unwrap();
        }
        s.apply(&Change::DeleteUser { name: "u".into() }, T)
            .unwrap();
        assert!(s.user("u").is_none());
    }

    #[test]
    fn last_used_keeps_the_newest_and_skips_deleted_keys() {
        let m = MasterKey::generate("t");
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        let (c, id) = key("u", &m);
        s.apply(&c, T).unwrap();
        let used = |at| LastUsed {
            at_ms: at,
            service: "s3".into(),
            region: "us-east-1".into(),
        };
        let rec = |at| Change::RecordLastUsed {
            entries: vec![(id.clone(), used(at)), ("AKIAGONE".into(), used(at))],
        };
        s.apply(&rec(T + 5), T).unwrap();
        s.apply(&rec(T + 1), T).unwrap();
        assert_eq!(s.keys[&id].last_used, Some(used(T + 5)));
    }

    #[test]
    fn groups_members_and_their_limits() {
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        let group = |n: &str| Change::CreateGroup {
            name: n.into(),
            path: "/".into(),
            id: new_id("AGPA"),
        };
        s.apply(&group("devs"), T).unwrap();
        assert_eq!(
            code(s.apply(&group("DEVS"), T)),
            IamCode::EntityAlreadyExists
        );
        let add = |g: &str| Change::AddUserToGroup {
            group: g.into(),
            user: "u".into(),
        };
        s.apply(&add("devs"), T).unwrap();
        assert_eq!(code(s.apply(&add("nope"), T)), IamCode::NoSuchEntity);
        for i in 1..MAX_GROUPS_PER_USER {
            s.apply(&group(&format!("g{i}")), T).unwrap();
            s.apply(&add(&format!("g{i}")), T).unwrap();
        }
        s.apply(&group("last"), T).unwrap();
        assert_eq!(code(s.apply(&add("last"), T)), IamCode::LimitExceeded);
        assert_eq!(
            code(s.apply(
                &Change::DeleteGroup {
                    name: "devs".into()
                },
                T
            )),
            IamCode::DeleteConflict
        );
        assert_eq!(
            code(s.apply(&Change::DeleteUser { name: "u".into() }, T)),
            IamCode::DeleteConflict
        );
        let rm = Change::RemoveUserFromGroup {
            group: "devs".into(),
            user: "u".into(),
        };
        s.apply(&rm, T).unwrap();
        assert_eq!(code(s.apply(&rm, T)), IamCode::NoSuchEntity);
        s.apply(
            &Change::DeleteGroup {
                name: "devs".into(),
            },
            T,
        )
        .unwrap();
    }

    #[test]
    fn inline_policies_are_checked_and_sized() {
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        let put = |name: &str, doc: String| Change::PutInlinePolicy {
            target: Target::User("u".into()),
            name: name.into(),
            document: doc,
        };
        assert_eq!(
            code(s.apply(&put("p", "{not json".into()), T)),
            IamCode::MalformedPolicyDocument
        );
        // The compiler's message names the problem.
        let e = s
            .apply(&put("p", r#"{"Statement":[{"Effect":"Allow"}]}"#.into()), T)
            .unwrap_err();
        assert_eq!(e.code, IamCode::MalformedPolicyDocument);
        assert!(e.message.contains("Action"), "{}", e.message);
        let overhead = policy_size(&doc_with_sid(0));
        let doc = |size: usize| doc_with_sid(size - overhead);
        s.apply(&put("p", doc(1000)), T).unwrap();
        // Replacing a policy counts its new size, not both.
        s.apply(&put("p", doc(1500)), T).unwrap();
        // Whitespace does not count.
        s.apply(&put("q", format!("{}{}", " ".repeat(5000), doc(500))), T)
            .unwrap();
        assert_eq!(
            code(s.apply(&put("r", doc(200)), T)),
            IamCode::LimitExceeded
        );
        let missing = Change::PutInlinePolicy {
            target: Target::Role("nope".into()),
            name: "p".into(),
            document: valid_doc(),
        };
        assert_eq!(code(s.apply(&missing, T)), IamCode::NoSuchEntity);
        let del = Change::DeleteInlinePolicy {
            target: Target::User("u".into()),
            name: "p".into(),
        };
        s.apply(&del, T).unwrap();
        assert_eq!(code(s.apply(&del, T)), IamCode::NoSuchEntity);
    }

    #[test]
    fn managed_policies_count_attachments_and_refuse_deletion_while_attached() {
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        let create = |n: &str| Change::CreatePolicy {
            name: n.into(),
            path: "/".into(),
            description: String::new(),
            document: valid_doc(),
            id: new_id("ANPA"),
        };
        let Outcome::Policy(p) = s.apply(&create("read"), T).unwrap() else {
            panic!()
        };
        assert_eq!(p.arn, "arn:aws:iam::000000000000:policy/read");
        assert_eq!(p.default_version, "v1");
        assert_eq!(
            code(s.apply(&create("READ"), T)),
            IamCode::EntityAlreadyExists
        );
        let attach = |arn: &str| Change::AttachPolicy {
            target: Target::User("u".into()),
            arn: arn.into(),
        };
        s.apply(&attach(&p.arn), T).unwrap();
        s.apply(&attach(&p.arn), T).unwrap();
        assert_eq!(s.policies[&p.arn].attachments, 1);
        assert_eq!(
            code(s.apply(&attach("arn:aws:iam::000000000000:policy/none"), T)),
            IamCode::NoSuchEntity
        );
        let del = Change::DeletePolicy { arn: p.arn.clone() };
        assert_eq!(code(s.apply(&del, T)), IamCode::DeleteConflict);
        for i in 1..MAX_ATTACHED_POLICIES {
            let Outcome::Policy(q) = s.apply(&create(&format!("p{i}")), T).unwrap() else {
                panic!()
            };
            s.apply(&attach(&q.arn), T).unwrap();
        }
        let Outcome::Policy(extra) = s.apply(&create("extra"), T).unwrap() else {
            panic!()
        };
        assert_eq!(
            code(s.apply(&attach(&extra.arn), T)),
            IamCode::LimitExceeded
        );
        let detach = Change::DetachPolicy {
            target: Target::User("u".into()),
            arn: p.arn.clone(),
        };
        s.apply(&detach, T).unwrap();
        assert_eq!(code(s.apply(&detach, T)), IamCode::NoSuchEntity);
        s.apply(&del, T).unwrap();
        assert_eq!(code(s.apply(&del, T)), IamCode::NoSuchEntity);
        let big = Change::CreatePolicy {
            name: "big".into(),
            path: "/".into(),
            description: String::new(),
            document: format!("\"{}\"", "x".repeat(MANAGED_POLICY_SIZE)),
            id: new_id("ANPA"),
        };
        assert_eq!(code(s.apply(&big, T)), IamCode::LimitExceeded);
    }

    #[test]
    fn roles_check_trust_policy_and_session_bounds() {
        let mut s = IamState::default();
        let role = |n: &str, secs: u32, trust: &str| Change::CreateRole {
            name: n.into(),
            path: "/".into(),
            description: String::new(),
            trust_policy: trust.into(),
            max_session_secs: secs,
            id: new_id("AROA"),
        };
        let Outcome::Role(r) = s.apply(&role("app", 3600, "{}"), T).unwrap() else {
            panic!()
        };
        assert_eq!(r.arn, "arn:aws:iam::000000000000:role/app");
        assert_eq!(
            code(s.apply(&role("APP", 3600, "{}"), T)),
            IamCode::EntityAlreadyExists
        );
        assert_eq!(
            code(s.apply(&role("x", 60, "{}"), T)),
            IamCode::ValidationError
        );
        assert_eq!(
            code(s.apply(&role("x", 3600, "["), T)),
            IamCode::MalformedPolicyDocument
        );
        let put = Change::PutInlinePolicy {
            target: Target::Role("app".into()),
            name: "p".into(),
            document: valid_doc(),
        };
        s.apply(&put, T).unwrap();
        let del = Change::DeleteRole { name: "app".into() };
        assert_eq!(code(s.apply(&del, T)), IamCode::DeleteConflict);
        s.apply(
            &Change::DeleteInlinePolicy {
                target: Target::Role("app".into()),
                name: "p".into(),
            },
            T,
        )
        .unwrap();
        s.apply(&del, T).unwrap();
        assert_eq!(code(s.apply(&del, T)), IamCode::NoSuchEntity);
    }

    #[test]
    fn a_renamed_user_keeps_its_groups_and_keys() {
        let m = MasterKey::generate("t");
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        s.apply(&user("taken"), T).unwrap();
        s.apply(
            &Change::CreateGroup {
                name: "g".into(),
                path: "/".into(),
                id: new_id("AGPA"),
            },
            T,
        )
        .unwrap();
        s.apply(
            &Change::AddUserToGroup {
                group: "g".into(),
                user: "u".into(),
            },
            T,
        )
        .unwrap();
        let (c, id) = key("u", &m);
        s.apply(&c, T).unwrap();
        let rename = |to: &str| Change::UpdateUser {
            name: "u".into(),
            new_name: Some(to.into()),
            new_path: Some("/eng/".into()),
        };
        assert_eq!(
            code(s.apply(&rename("TAKEN"), T)),
            IamCode::EntityAlreadyExists
        );
        assert_eq!(code(s.apply(&rename("a b"), T)), IamCode::ValidationError);
        let Outcome::User(u) = s.apply(&rename("w"), T).unwrap() else {
            panic!()
        };
        assert_eq!(u.arn, "arn:aws:iam::000000000000:user/eng/w");
        assert!(s.user("u").is_none());
        assert_eq!(s.keys[&id].user, "w");
        assert!(s.group("g").unwrap().members.contains("w"));
        assert_eq!(s.keys_of("w").count(), 1);
    }

    #[test]
    fn a_failed_change_leaves_the_state_unchanged() {
        let mut s = IamState::default();
        s.apply(&user("u"), T).unwrap();
        let before = s.clone();
        let _ = s.apply(
            &Change::AddUserToGroup {
                group: "missing".into(),
                user: "u".into(),
            },
            T,
        );
        assert_eq!(s, before);
    }

    #[test]
    fn error_codes_carry_aws_statuses() {
        assert_eq!(IamCode::NoSuchEntity.http_status(), 404);
        assert_eq!(IamCode::EntityAlreadyExists.http_status(), 409);
        assert_eq!(IamCode::LimitExceeded.http_status(), 409);
        assert_eq!(IamCode::DeleteConflict.http_status(), 409);
        assert_eq!(IamCode::MalformedPolicyDocument.http_status(), 400);
        assert_eq!(IamCode::ValidationError.as_str(), "ValidationError");
        assert_eq!(IamCode::ServiceFailure.http_status(), 500);
    }
}
