//! Identities on every core. Core 0 owns the state: every change is sent to
//! its owner task, which applies it, makes it durable through the
//! [`SystemStore`], builds a new [`Snapshot`] and installs it on every core
//! before answering. A core swaps its own `RefCell<Arc<Snapshot>>`, so the
//! request path reads its core's snapshot without a lock, and a change is
//! visible everywhere once it is acknowledged.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use crate::runtime::channel::{bounded, oneshot, Receiver, Sender};
use crate::runtime::companion::Companion;

use super::model::{
    canonical_user_id, key_aad, root_arn, root_canonical_id, Change, IamCode, IamError, IamState,
    KeyStatus, LastUsed, NewAccessKey, Outcome, User, ACCOUNT_ID,
};
use super::policy::{self, Policy, PolicyKind, PolicySet};
use super::root::RootCredentials;
use super::seal::{MasterKey, Secret};
use super::store::SystemStore;

/// A key's last use is recorded at most this often per core.
pub const LAST_USED_INTERVAL_MS: u64 = 60_000;
/// How often a core sends the uses it noted (one store write when there are
/// any): GetAccessKeyLastUsed shows a first use within seconds.
const LAST_USED_FLUSH: Duration = Duration::from_secs(5);
/// Bound on last-used entries a core holds between flushes.
const MAX_PENDING_LAST_USED: usize = 10_000;
/// Bound on changes waiting for core 0.
const CHANGE_QUEUE: usize = 64;
/// Longest core 0 waits for a core to install a snapshot (a core that
/// is stopping may never answer).
const INSTALL_WAIT: Duration = Duration::from_secs(5);

/// Who signed a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    Root,
    User,
    /// A service account of the user `name`, with its narrowing policy.
    ServiceAccount {
        policy: Option<String>,
    },
    /// No signature: only a bucket policy can allow it.
    Anonymous,
    /// STS temporary credentials without a role (MinIO's AssumeRole): they
    /// act as root (`root`) or as the user `name`, narrowed by the session
    /// policy when there is one (`iam::sts`).
    Session {
        root: bool,
        policy: Option<String>,
    },
    /// An assumed role's session: the role's policies (role `role`, by
    /// name as written), narrowed by the session policy. The principal's
    /// `arn` is `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` and its
    /// `id` `AROA…:SESSION`.
    AssumedRole {
        role: String,
        role_arn: String,
        session: String,
        policy: Option<String>,
    },
}

/// A principal's policies, compiled when the snapshot is built (once per
/// identity change), so a request only evaluates them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompiledPolicies {
    /// The user's inline and attached policies and those of each of its
    /// groups, merged; shared by all the user's keys.
    pub identity: Arc<PolicySet>,
    /// A service account's narrowing policy: what it may do is what both
    /// this and `identity` allow. `None`: it inherits the parent's.
    pub session: Option<Arc<PolicySet>>,
    /// A service account's own ARN for policy evaluation,
    /// `arn:aws:iam::ACCOUNT:service-account/KEY`, so that a bucket policy
    /// naming the parent user matches it as a related principal, narrowed
    /// by `session` (as AWS narrows a role session named by its role).
    pub service_account_arn: Option<String>,
}

impl Eq for CompiledPolicies {}

impl PrincipalKind {
    /// Root's key or root's temporary credentials: every identity
    /// permission (the latter narrowed by its session policy).
    pub fn acts_as_root(&self) -> bool {
        matches!(
            self,
            PrincipalKind::Root | PrincipalKind::Session { root: true, .. }
        )
    }
}

/// The verified identity behind a request, for authorisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// The user's name (the parent's for a service account), `root` for root.
    pub name: String,
    /// The user's id (`AIDA…`), the account id for root.
    pub id: String,
    pub arn: String,
    /// The user's groups, by name as written.
    pub groups: Vec<String>,
    pub access_key: String,
    /// S3's canonical user id: bucket and object owners, ACL grantees.
    pub canonical_id: String,
    /// Empty for root (it bypasses identity evaluation) and anonymous.
    pub policies: CompiledPolicies,
    /// The user's tenant: the namespace its bucket names are in; empty
    /// for the global one (root, anonymous, global users, sessions).
    pub tenant: String,
}

impl Principal {
    /// The caller of an unsigned request.
    pub fn anonymous() -> Principal {
        Principal {
            kind: PrincipalKind::Anonymous,
            name: String::new(),
            id: String::new(),
            arn: String::new(),
            groups: Vec::new(),
            access_key: String::new(),
            canonical_id: String::new(),
            policies: CompiledPolicies::default(),
            tenant: String::new(),
        }
    }
}

impl Principal {
    /// How policy evaluation sees this principal, given to `f` (the view
    /// borrows a local list of the ARNs it is also known by: a service
    /// account's parent user, an assumed role's role).
    pub fn with_policy_view<R>(&self, f: impl FnOnce(policy::Principal<'_>) -> R) -> R {
        use policy::PrincipalType as T;
        let (kind, arn, related): (T, &str, Option<&str>) = match &self.kind {
            PrincipalKind::Anonymous => return f(policy::Principal::ANONYMOUS),
            PrincipalKind::Root | PrincipalKind::Session { root: true, .. } => {
                (T::Root, &self.arn, None)
            }
            PrincipalKind::User | PrincipalKind::Session { root: false, .. } => {
                (T::User, &self.arn, None)
            }
            PrincipalKind::ServiceAccount { .. } => (
                T::ServiceAccount,
                self.policies
                    .service_account_arn
                    .as_deref()
                    .unwrap_or(&self.arn),
                Some(self.arn.as_str()),
            ),
            PrincipalKind::AssumedRole { role_arn, .. } => {
                (T::AssumedRole, &self.arn, Some(role_arn.as_str()))
            }
        };
        let related = related.map(|a| [a]);
        f(policy::Principal {
            kind,
            account: ACCOUNT_ID,
            arn,
            other_arns: related.as_ref().map_or(&[][..], |a| &a[..]),
            canonical_id: Some(&self.canonical_id),
            username: matches!(kind, T::User | T::ServiceAccount).then_some(self.name.as_str()),
            userid: Some(&self.id),
        })
    }
}

/// A user's identity policies merged: its inline and attached policies,
/// then each group's. A stored policy that no longer parses (a parser
/// stricter than the one that accepted it) is skipped with a warning: the
/// user loses what it allowed, and the node still starts.
pub(crate) fn user_policies(state: &IamState, user: &User) -> PolicySet {
    let mut docs: Vec<(&str, &str, &str)> = Vec::new();
    docs.extend(
        user.inline
            .iter()
            .map(|(n, d)| (user.arn.as_str(), n.as_str(), d.as_str())),
    );
    let managed = |arns: &'_ std::collections::BTreeSet<String>| {
        arns.iter()
            .filter_map(|arn| state.policies.get(arn))
            .map(|p| (p.arn.as_str(), p.name.as_str(), p.document.as_str()))
            .collect::<Vec<_>>()
    };
    docs.extend(managed(&user.attached));
    for g in user.groups.iter().filter_map(|g| state.group(g)) {
        docs.extend(
            g.inline
                .iter()
                .map(|(n, d)| (g.arn.as_str(), n.as_str(), d.as_str())),
        );
        docs.extend(managed(&g.attached));
    }
    let mut set = PolicySet::default();
    for (owner, name, doc) in docs {
        match Policy::parse(doc.as_bytes(), PolicyKind::Identity) {
            Ok(p) => set.extend(p.set()),
            Err(e) => tracing::warn!(owner, policy = name, error = %e, "stored policy skipped"),
        }
    }
    set
}

/// A service account's narrowing policy. One that does not parse narrows
/// to nothing (an empty set allows nothing): a key meant to be limited must
/// never get its parent's whole access.
fn narrowing_policy(key: &str, doc: &str) -> Arc<PolicySet> {
    match Policy::parse(doc.as_bytes(), PolicyKind::Identity) {
        Ok(p) => Arc::new(p.set().clone()),
        Err(e) => {
            tracing::warn!(access_key = key, error = %e, "service account policy does not parse: it allows nothing");
            Arc::new(PolicySet::default())
        }
    }
}

struct KeyEntry {
    secret: Secret,
    principal: Arc<Principal>,
    /// Active key of an enabled user.
    usable: bool,
    expires_ms: Option<u64>,
}

/// One generation of the identity state, as every core sees it.
pub struct Snapshot {
    pub generation: u64,
    pub state: Arc<IamState>,
    keys: HashMap<String, KeyEntry>,
}

impl Snapshot {
    /// Opens every sealed secret once, so authentication never decrypts.
    /// Fails on the first secret that does not open (a wrong master key).
    pub fn build(
        generation: u64,
        state: Arc<IamState>,
        root: &RootCredentials,
        master: &MasterKey,
    ) -> Result<Snapshot, String> {
        let mut keys = HashMap::with_capacity(state.keys.len() + 1);
        // Compiled once per user, shared by its keys.
        let mut compiled: HashMap<&str, Arc<PolicySet>> = HashMap::new();
        for k in state.keys.values() {
            let secret = master
                .open(&k.sealed, &key_aad(&k.id))
                .map_err(|e| format!("access key {}: {e}", k.id))?;
            let Some(user) = state.user(&k.user) else {
                continue;
            };
            let groups = user
                .groups
                .iter()
                .filter_map(|g| state.group(g).map(|g| g.name.clone()))
                .collect();
            let kind = match &k.service {
                Some(sa) => PrincipalKind::ServiceAccount {
                    policy: sa.policy.clone(),
                },
                None => PrincipalKind::User,
            };
            let identity = compiled
                .entry(user.name.as_str())
                .or_insert_with(|| Arc::new(user_policies(&state, user)))
                .clone();
            let session = k
                .service
                .as_ref()
                .and_then(|sa| sa.policy.as_deref())
                .map(|doc| narrowing_policy(&k.id, doc));
            let principal = Arc::new(Principal {
                kind,
                name: user.name.clone(),
                id: user.id.clone(),
                arn: user.arn.clone(),
                groups,
                access_key: k.id.clone(),
                canonical_id: canonical_user_id(&user.id),
                policies: CompiledPolicies {
                    identity,
                    session,
                    service_account_arn: k
                        .service
                        .is_some()
                        .then(|| format!("arn:aws:iam::{ACCOUNT_ID}:service-account/{}", k.id)),
                },
                tenant: user.tenant.clone(),
            });
            keys.insert(
                k.id.clone(),
                KeyEntry {
                    secret,
                    principal,
                    usable: user.enabled && k.status == KeyStatus::Active,
                    expires_ms: k.expires_ms,
                },
            );
        }
        // Root last: its key wins over any other of the same id.
        keys.insert(
            root.access_key.clone(),
            KeyEntry {
                secret: root.secret_key.clone(),
                principal: Arc::new(Principal {
                    kind: PrincipalKind::Root,
                    name: "root".into(),
                    id: ACCOUNT_ID.into(),
                    arn: root_arn(),
                    groups: Vec::new(),
                    access_key: root.access_key.clone(),
                    canonical_id: root_canonical_id(&root.access_key),
                    policies: CompiledPolicies::default(),
                    tenant: String::new(),
                }),
                usable: true,
                expires_ms: None,
            },
        );
        Ok(Snapshot {
            generation,
            state,
            keys,
        })
    }

    /// The secret and principal of a key that may sign now: `None` for an
    /// unknown or inactive key, a disabled user's key or an expired key.
    pub fn lookup(&self, access_key: &str, now_ms: u64) -> Option<(&Secret, &Arc<Principal>)> {
        let e = self.keys.get(access_key)?;
        let live = e.usable && e.expires_ms.is_none_or(|t| now_ms < t);
        live.then_some((&e.secret, &e.principal))
    }
}

struct Request {
    change: Change,
    reply: oneshot::Sender<Result<Outcome, IamError>>,
}

struct Install {
    snapshot: Arc<Snapshot>,
    done: oneshot::Sender<()>,
}

/// What every core shares: the store, the keys, the channels to core 0 and
/// from it.
pub struct IamHome {
    store: Box<dyn SystemStore>,
    master: MasterKey,
    root: RootCredentials,
    initial: (u64, IamState),
    initial_snapshot: Arc<Snapshot>,
    requests: (Sender<Request>, Receiver<Request>),
    installs: Vec<(Sender<Install>, Receiver<Install>)>,
}

/// What start-up learnt from the store, for its log line.
#[derive(Debug)]
pub struct OpenReport {
    pub generation: u64,
    pub users: usize,
    pub keys: usize,
    pub skipped: Vec<(std::path::PathBuf, String)>,
}

impl IamHome {
    /// Loads the newest state and opens its secrets. Blocking; runs at
    /// start-up. A secret that does not open is a start-up error: the
    /// master key is not the one the state was sealed with.
    pub fn open(
        store: Box<dyn SystemStore>,
        master: MasterKey,
        root: RootCredentials,
        cores: usize,
    ) -> Result<(IamHome, OpenReport), String> {
        let loaded = store
            .load()
            .map_err(|e| format!("reading the identity store: {e}"))?;
        let (generation, state) = match loaded.newest {
            Some((g, payload)) => {
                let state = IamState::decode(&payload)
                    .map_err(|e| format!("identity store generation {g}: {e}"))?;
                (g, state)
            }
            None => (0, IamState::default()),
        };
        let state = Arc::new(state);
        let snapshot = Snapshot::build(generation, state.clone(), &root, &master).map_err(|e| {
            format!(
                "identity store: {e}. The master key {:?} is not the one these secrets were sealed \
                 with: start with the original key (CAIRN_KMS_MASTER_KEY, --kms-master-key-file or \
                 .cairn/master.key)",
                master.name()
            )
        })?;
        let report = OpenReport {
            generation,
            users: state.users.len(),
            keys: state.keys.len(),
            skipped: loaded.skipped,
        };
        let home = IamHome {
            store,
            master,
            root,
            initial: (generation, (*state).clone()),
            initial_snapshot: Arc::new(snapshot),
            requests: bounded(CHANGE_QUEUE),
            installs: (0..cores).map(|_| bounded(4)).collect(),
        };
        Ok((home, report))
    }

    pub fn root(&self) -> &RootCredentials {
        &self.root
    }
}

/// A core's handle on the identities.
pub struct Identities {
    core: usize,
    home: Arc<IamHome>,
    snapshot: RefCell<Arc<Snapshot>>,
    last_used: RefCell<LastUsedBatch>,
}

impl Drop for Identities {
    fn drop(&mut self) {
        // Ends this core's loops while its executor still runs.
        self.home.installs[self.core].1.close();
        if self.core == 0 {
            self.home.requests.1.close();
        }
    }
}

impl Identities {
    /// Starts this core's handle (and on core 0 the owner task). Must run on
    /// the core's executor; `companion` runs the blocking store writes.
    pub fn start(core: usize, home: Arc<IamHome>, companion: Companion) -> Rc<Identities> {
        let ids = Rc::new(Identities {
            core,
            snapshot: RefCell::new(home.initial_snapshot.clone()),
            home: home.clone(),
            last_used: RefCell::new(LastUsedBatch::default()),
        });
        let installs = home.installs[core].1.clone();
        let weak = Rc::downgrade(&ids);
        crate::runtime::spawn(async move {
            while let Ok(i) = installs.recv().await {
                let Some(me) = weak.upgrade() else { break };
                *me.snapshot.borrow_mut() = i.snapshot;
                let _ = i.done.send(());
            }
        });
        if core == 0 {
            crate::runtime::spawn(own(home, Rc::downgrade(&ids), companion));
        }
        let weak = Rc::downgrade(&ids);
        crate::runtime::spawn(async move {
            loop {
                crate::runtime::sleep(LAST_USED_FLUSH).await;
                let Some(me) = weak.upgrade() else { break };
                let entries = me.last_used.borrow_mut().take(crate::engine::now_ms());
                if !entries.is_empty() {
                    if let Err(e) = me.change(Change::RecordLastUsed { entries }).await {
                        tracing::debug!(error = %e, "recording access keys' last use");
                    }
                }
            }
        });
        ids
    }

    /// This core's current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    pub fn root(&self) -> &RootCredentials {
        &self.home.root
    }

    /// The master key, for STS session tokens (`iam::sts`).
    pub fn master(&self) -> &MasterKey {
        &self.home.master
    }

    /// A fresh access key (id, secret, sealed secret) for a
    /// [`Change::CreateAccessKey`]; its secret is the caller's to show once.
    pub fn new_access_key(&self) -> NewAccessKey {
        NewAccessKey::generate(&self.home.master)
    }

    /// Applies a change on core 0, durably. When this returns Ok every core
    /// (this one included) has the new snapshot.
    pub async fn change(&self, change: Change) -> Result<Outcome, IamError> {
        let stopping = || IamError::new(IamCode::ServiceFailure, "the node is shutting down");
        let (tx, rx) = oneshot::channel();
        self.home
            .requests
            .0
            .send(Request { change, reply: tx })
            .await
            .map_err(|_| stopping())?;
        rx.await.map_err(|_| stopping())?
    }

    /// Notes that `access_key` signed a request; written at most once per
    /// [`LAST_USED_INTERVAL_MS`] per key and core.
    pub fn note_used(&self, access_key: &str, service: &str, region: &str, now_ms: u64) {
        self.last_used
            .borrow_mut()
            .note(access_key, service, region, now_ms);
    }
}

/// Core 0's owner task: one change at a time, in arrival order.
async fn own(home: Arc<IamHome>, me: Weak<Identities>, companion: Companion) {
    let (mut generation, mut state) = home.initial.clone();
    let requests = home.requests.1.clone();
    while let Ok(req) = requests.recv().await {
        if me.upgrade().is_none() {
            break;
        }
        let mut next = state.clone();
        let result = match next.apply(&req.change, crate::engine::now_ms()) {
            Err(e) => Err(e),
            Ok(outcome) => {
                // A generation is never reused, even after a failed write
                // that may have reached some drives.
                generation += 1;
                match persist(&home, &companion, generation, &next).await {
                    Err(e) => {
                        tracing::warn!(error = %e, "identity change not stored");
                        Err(IamError::new(
                            IamCode::ServiceFailure,
                            format!("The change could not be stored: {e}"),
                        ))
                    }
                    Ok(()) => {
                        state = next;
                        install(&home, generation, &state).await;
                        Ok(outcome)
                    }
                }
            }
        };
        let _ = req.reply.send(result);
    }
}

async fn persist(
    home: &Arc<IamHome>,
    companion: &Companion,
    generation: u64,
    state: &IamState,
) -> Result<(), String> {
    let payload = state.encode().map_err(|e| e.to_string())?;
    let h = home.clone();
    companion
        .run(move || h.store.store(generation, &payload))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Builds the snapshot and installs it on every core, waiting for each.
async fn install(home: &Arc<IamHome>, generation: u64, state: &IamState) {
    let snapshot = match Snapshot::build(
        generation,
        Arc::new(state.clone()),
        &home.root,
        &home.master,
    ) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            // Only this node seals, with this key: a secret that does not
            // open is a bug, and the old snapshot stays.
            tracing::error!(error = %e, "identity snapshot not built");
            return;
        }
    };
    for (tx, _) in &home.installs {
        let (done, wait) = oneshot::channel();
        let msg = Install {
            snapshot: snapshot.clone(),
            done,
        };
        if tx.send(msg).await.is_ok() {
            let _ = crate::runtime::timeout(INSTALL_WAIT, wait).await;
        }
    }
}

/// A core's batch of last-used times.
#[derive(Default)]
pub struct LastUsedBatch {
    pending: HashMap<String, LastUsed>,
    /// When each key was last noted, to skip it until the interval passes.
    noted: HashMap<String, u64>,
}

impl LastUsedBatch {
    pub fn note(&mut self, access_key: &str, service: &str, region: &str, now_ms: u64) {
        if self
            .noted
            .get(access_key)
            .is_some_and(|&t| now_ms < t + LAST_USED_INTERVAL_MS)
            || self.pending.len() >= MAX_PENDING_LAST_USED
        {
            return;
        }
        self.noted.insert(access_key.to_owned(), now_ms);
        self.pending.insert(
            access_key.to_owned(),
            LastUsed {
                at_ms: now_ms,
                service: service.to_owned(),
                region: region.to_owned(),
            },
        );
    }

    /// The entries to record, emptying the batch.
    pub fn take(&mut self, now_ms: u64) -> Vec<(String, LastUsed)> {
        self.noted
            .retain(|_, t| now_ms < *t + LAST_USED_INTERVAL_MS);
        self.pending.drain().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::model::{new_id, ServiceAccount, STATE_FORMAT};

    fn root() -> RootCredentials {
        RootCredentials {
            access_key: "rootkey".into(),
            secret_key: Secret::new("rootsecret".into()),
        }
    }

    fn state_with_key(m: &MasterKey, service: Option<ServiceAccount>) -> (IamState, NewAccessKey) {
        let mut s = IamState::default();
        s.apply(
            &Change::CreateUser {
                name: "alice".into(),
                path: "/".into(),
                tags: vec![],
                id: new_id("AIDA"),
                tenant: String::new(),
            },
            1,
        )
        .unwrap();
        s.apply(
            &Change::CreateGroup {
                name: "Devs".into(),
                path: "/".into(),
                id: new_id("AGPA"),
            },
            1,
        )
        .unwrap();
        s.apply(
            &Change::AddUserToGroup {
                group: "devs".into(),
                user: "alice".into(),
            },
            1,
        )
        .unwrap();
        let k = NewAccessKey::generate(m);
        s.apply(
            &Change::CreateAccessKey {
                user: "alice".into(),
                id: k.id.clone(),
                sealed: k.sealed.clone(),
                description: String::new(),
                expires_ms: Some(10_000),
                service,
            },
            1,
        )
        .unwrap();
        (s, k)
    }

    #[test]
    fn lookup_refuses_inactive_disabled_and_expired_keys() {
        let m = MasterKey::generate("t");
        let (mut s, k) = state_with_key(&m, None);
        let snap = Snapshot::build(1, Arc::new(s.clone()), &root(), &m).unwrap();
        let (secret, p) = snap.lookup(&k.id, 5_000).unwrap();
        assert_eq!(secret.expose(), k.secret.expose());
        assert_eq!(p.kind, PrincipalKind::User);
        assert_eq!(
            (p.name.as_str(), p.groups.clone()),
            ("alice", vec!["Devs".to_string()])
        );
        assert!(p.arn.ends_with(":user/alice"));
        assert!(snap.lookup(&k.id, 10_000).is_none(), "expired");
        assert!(snap.lookup("AKIAUNKNOWN", 5_000).is_none());
        let (_, r) = snap.lookup("rootkey", 5_000).unwrap();
        assert_eq!(r.kind, PrincipalKind::Root);

        s.apply(
            &Change::UpdateAccessKey {
                user: None,
                id: k.id.clone(),
                status: KeyStatus::Inactive,
            },
            2,
        )
        .unwrap();
        let snap = Snapshot::build(2, Arc::new(s.clone()), &root(), &m).unwrap();
        assert!(snap.lookup(&k.id, 5_000).is_none(), "inactive");
        s.apply(
            &Change::UpdateAccessKey {
                user: None,
                id: k.id.clone(),
                status: KeyStatus::Active,
            },
            3,
        )
        .unwrap();
        s.apply(
            &Change::SetUserEnabled {
                name: "alice".into(),
                enabled: false,
            },
            3,
        )
        .unwrap();
        let snap = Snapshot::build(3, Arc::new(s), &root(), &m).unwrap();
        assert!(snap.lookup(&k.id, 5_000).is_none(), "disabled user");
    }

    #[test]
    fn a_service_account_signs_as_its_parent_with_its_policy() {
        let m = MasterKey::generate("t");
        let doc = r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
        let sa = ServiceAccount {
            name: "ci".into(),
            policy: Some(doc.into()),
        };
        let (s, k) = state_with_key(&m, Some(sa));
        let snap = Snapshot::build(1, Arc::new(s), &root(), &m).unwrap();
        let (_, p) = snap.lookup(&k.id, 1).unwrap();
        assert_eq!(p.name, "alice");
        assert_eq!(
            p.kind,
            PrincipalKind::ServiceAccount {
                policy: Some(doc.into())
            }
        );
    }

    /// Whether `p` may do `action` on `resource` by its compiled policies.
    fn allowed(p: &Principal, action: crate::iam::action::Action, resource: &str) -> bool {
        use crate::iam::policy::{evaluate, Inputs, Principal as Who, PrincipalType, Request};
        let who = Who {
            kind: PrincipalType::User,
            account: ACCOUNT_ID,
            arn: &p.arn,
            other_arns: &[],
            canonical_id: Some(&p.canonical_id),
            username: Some(&p.name),
            userid: Some(&p.id),
        };
        let req = Request::new(action, resource, who, 0);
        evaluate(&Inputs {
            request: &req,
            identity: Some(&p.policies.identity),
            resource: None,
            session: p.policies.session.as_deref(),
        })
        .is_allowed()
    }

    #[test]
    fn user_group_and_managed_policies_compile_into_each_principal() {
        use crate::iam::action::Action::{S3DeleteObject, S3GetObject, S3PutObject};
        use crate::iam::model::Target;
        let allow = |action: &str, resource: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"{resource}"}}]}}"#
            )
        };
        let m = MasterKey::generate("t");
        let (mut s, k) = state_with_key(&m, None);
        let changes = [
            Change::PutInlinePolicy {
                target: Target::User("alice".into()),
                name: "home".into(),
                document: allow("s3:PutObject", "arn:aws:s3:::b/home/${aws:username}/*"),
            },
            Change::PutInlinePolicy {
                target: Target::Group("devs".into()),
                name: "read".into(),
                document: allow("s3:GetObject", "arn:aws:s3:::b/*"),
            },
            Change::CreatePolicy {
                name: "del".into(),
                path: "/".into(),
                description: String::new(),
                document: allow("s3:DeleteObject", "arn:aws:s3:::b/tmp/*"),
                id: new_id("ANPA"),
            },
            Change::AttachPolicy {
                target: Target::Group("devs".into()),
                arn: format!("arn:aws:iam::{ACCOUNT_ID}:policy/del"),
            },
        ];
        for c in &changes {
            s.apply(c, 1).unwrap();
        }
        // A stored policy this parser refuses: skipped, not fatal.
        s.users
            .get_mut("alice")
            .unwrap()
            .inline
            .insert("broken".into(), "{not json".into());
        let read_only = allow("s3:GetObject", "*");
        let sa = NewAccessKey::generate(&m);
        let broken_sa = NewAccessKey::generate(&m);
        for (key, policy) in [(&sa, read_only.as_str()), (&broken_sa, read_only.as_str())] {
            s.apply(
                &Change::CreateAccessKey {
                    user: "alice".into(),
                    id: key.id.clone(),
                    sealed: key.sealed.clone(),
                    description: String::new(),
                    expires_ms: None,
                    service: Some(ServiceAccount {
                        name: key.id.clone(),
                        policy: Some(policy.into()),
                    }),
                },
                1,
            )
            .unwrap();
        }
        // A stored narrowing policy this parser refuses (the model checks
        // new ones, so it can only come from an older version).
        if let Some(sa) = s
            .keys
            .get_mut(&broken_sa.id)
            .and_then(|k| k.service.as_mut())
        {
            sa.policy = Some("[]".into());
        }
        let snap = Snapshot::build(1, Arc::new(s), &root(), &m).unwrap();
        let (_, p) = snap.lookup(&k.id, 1).unwrap();
        assert_eq!(p.policies.identity.len(), 3);
        assert!(p.policies.session.is_none());
        assert!(allowed(p, S3PutObject, "arn:aws:s3:::b/home/alice/f"));
        assert!(!allowed(p, S3PutObject, "arn:aws:s3:::b/home/bob/f"));
        assert!(
            allowed(p, S3GetObject, "arn:aws:s3:::b/any"),
            "group inline"
        );
        assert!(
            allowed(p, S3DeleteObject, "arn:aws:s3:::b/tmp/x"),
            "group attached"
        );
        assert!(!allowed(p, S3DeleteObject, "arn:aws:s3:::b/home/alice/f"));

        let (_, p) = snap.lookup(&sa.id, 1).unwrap();
        assert!(Arc::ptr_eq(
            &p.policies.identity,
            &snap.lookup(&k.id, 1).unwrap().1.policies.identity
        ));
        assert!(allowed(p, S3GetObject, "arn:aws:s3:::b/any"));
        assert!(
            !allowed(p, S3PutObject, "arn:aws:s3:::b/home/alice/f"),
            "narrowed"
        );
        let (_, p) = snap.lookup(&broken_sa.id, 1).unwrap();
        assert!(
            !allowed(p, S3GetObject, "arn:aws:s3:::b/any"),
            "narrowed to nothing"
        );
        let (_, r) = snap.lookup("rootkey", 1).unwrap();
        assert!(r.policies.identity.is_empty());
    }

    #[test]
    fn a_wrong_master_key_is_a_clear_error() {
        let m = MasterKey::generate("right");
        let (s, _) = state_with_key(&m, None);
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d0");
        std::fs::create_dir_all(d.join(crate::engine::format::META_DIR)).unwrap();
        let store = super::super::store::DriveStore::new(vec![d.clone()], 1);
        store.store(4, &serde_json::to_vec(&s).unwrap()).unwrap();
        let e = IamHome::open(
            Box::new(super::super::store::DriveStore::new(vec![d.clone()], 1)),
            MasterKey::generate("wrong"),
            root(),
            1,
        )
        .err()
        .expect("a wrong key must not open the store");
        assert!(e.contains("master key") && e.contains("wrong"), "{e}");
        let (home, report) = IamHome::open(
            Box::new(super::super::store::DriveStore::new(vec![d], 1)),
            m,
            root(),
            1,
        )
        .unwrap();
        assert_eq!((report.generation, report.users, report.keys), (4, 1, 1));
        assert_eq!(home.initial_snapshot.generation, 4);
    }

    #[test]
    fn a_state_of_a_newer_format_stops_the_open() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d0");
        std::fs::create_dir_all(d.join(crate::engine::format::META_DIR)).unwrap();
        let store = super::super::store::DriveStore::new(vec![d.clone()], 1);
        let newer = format!(r#"{{"format":{},"principals":[]}}"#, STATE_FORMAT + 1);
        store.store(2, newer.as_bytes()).unwrap();
        let e = IamHome::open(Box::new(store), MasterKey::generate("k"), root(), 1)
            .err()
            .expect("a newer state must not open");
        let says = format!(
            "iam.state was written by a newer cairn: format {}, this binary reads up to {STATE_FORMAT}",
            STATE_FORMAT + 1
        );
        assert!(e.contains(&says), "{e}");
    }

    #[test]
    fn last_use_is_batched_once_per_interval_per_key() {
        let mut b = LastUsedBatch::default();
        b.note("K1", "s3", "us-east-1", 1_000);
        b.note("K1", "s3", "eu-west-1", 2_000);
        b.note("K2", "s3", "us-east-1", 2_000);
        let mut got = b.take(3_000);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].1.at_ms, got[0].1.region.as_str()),
            (1_000, "us-east-1")
        );
        b.note("K1", "s3", "us-east-1", 30_000);
        assert!(b.take(30_000).is_empty(), "within the interval");
        b.note("K1", "s3", "us-east-1", 1_000 + LAST_USED_INTERVAL_MS);
        assert_eq!(b.take(70_000).len(), 1);
    }
}
