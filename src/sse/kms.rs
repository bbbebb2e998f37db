//! Key management: the [`Kms`] trait (so an external KMS, Vault Transit or
//! KMIP, can be added later) and [`BuiltinKms`], the node's own.
//!
//! The built-in KMS holds named keys, each a list of versions of 256 random
//! bits. A data key is wrapped (AES-256-GCM) under the key's current
//! version, bound to the key id, the version and the encryption context;
//! the wrapped blob names its key and version, so rotating a key adds a
//! version and old objects still open. Key material is sealed under the
//! node's master key (`iam::seal`) and kept in the system store (a
//! [`DriveStore`](crate::iam::store::DriveStore) file of its own,
//! `.cairn/kms.state`, on every drive).
//!
//! Disabled keys follow AWS KMS: "disabling a KMS key prevents the key from
//! being used in cryptographic operations", so a disabled key neither makes
//! data keys nor unwraps them: objects under it cannot be read until it is
//! enabled again. The SSE-S3 default key cannot be disabled (as AWS's own
//! SSE-S3 keys cannot), or every SSE-S3 object would become unreadable.
//!
//! Mutations take `&mut self` and write the store (blocking); the data path
//! uses [`Kms::data_keys`], an immutable [`Keyring`] snapshot shared across
//! cores without a lock and replaced after each change.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rand::RngCore;
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::key::{self, DataKey, KEY_LEN, WRAPPED_LEN};
use crate::format_version::{decode_json, JsonError, NewerFormat};
use crate::iam::seal::{MasterKey, Sealed};
use crate::iam::store::SystemStore;

/// The key SSE-S3 wraps under, created on first use.
pub const DEFAULT_KEY: &str = "cairn-sse-s3";
/// The built-in KMS's file in each drive's meta directory.
pub const STATE_FILE: &str = "kms.state";
pub const MAX_KEYS: usize = 10_000;
pub const MAX_VERSIONS: usize = 1_000;
const MAX_KEY_ID: usize = 64;
/// The wrapped data key's format (its first byte).
pub const WRAP_V1: u8 = 1;
/// The format of `kms.state`'s JSON this binary writes (and the newest it reads).
pub const STATE_V1: u32 = 1;

/// An encryption context: AWS's string map, kept sorted so its bytes are
/// canonical.
pub type Context = BTreeMap<String, String>;

/// The context's canonical bytes (sorted JSON; empty for no context), as
/// stored in the object header and bound into the wrapped key.
pub fn context_bytes(context: &Context) -> Vec<u8> {
    if context.is_empty() {
        return Vec::new();
    }
    serde_json::to_vec(context).expect("a string map serialises")
}

/// The inverse of [`context_bytes`].
pub fn context_from_bytes(bytes: &[u8]) -> Result<Context, KmsError> {
    if bytes.is_empty() {
        return Ok(Context::new());
    }
    serde_json::from_slice(bytes).map_err(|_| KmsError::Malformed)
}

/// The key id of `x-amz-server-side-encryption-aws-kms-key-id`: a bare id,
/// or a key ARN (`arn:aws:kms:REGION:ACCOUNT:key/ID`).
pub fn key_id_from_request(s: &str) -> &str {
    match s.strip_prefix("arn:").and_then(|r| r.rsplit_once(":key/")) {
        Some((_, id)) => id,
        None => s,
    }
}

/// 1-64 letters, digits, '-', '_' or '.'.
pub fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c))
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    #[error("KMS key {0:?} does not exist")]
    NotFound(String),
    #[error("KMS key {0:?} is disabled")]
    Disabled(String),
    #[error("KMS key {0:?} already exists")]
    AlreadyExists(String),
    #[error("invalid KMS key id {0:?}: 1-64 letters, digits, '-', '_' or '.'")]
    InvalidId(String),
    /// Wrong key version, another encryption context, or altered bytes.
    #[error("the data key does not open (another context, or altered)")]
    DoesNotOpen,
    #[error("malformed wrapped key or context")]
    Malformed,
    #[error("the SSE-S3 default key \"cairn-sse-s3\" cannot be disabled")]
    DefaultKeyStaysEnabled,
    #[error("KMS limit reached: {0}")]
    Limit(&'static str),
    #[error("the KMS change could not be stored: {0}")]
    Store(String),
    /// A wrapped data key of a format this binary does not read.
    #[error(transparent)]
    Newer(NewerFormat),
}

/// A fresh data key: use `key`, store `wrapped` (and the id and version, for
/// responses and the admin API).
#[derive(Debug)]
pub struct GeneratedKey {
    pub key: DataKey,
    pub wrapped: Vec<u8>,
    pub key_id: String,
    pub key_version: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub enabled: bool,
    pub created_ms: u64,
    pub current_version: u32,
    pub versions: Vec<VersionInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: u32,
    pub created_ms: u64,
}

/// What the data path needs: make and open data keys. Implementations are
/// immutable snapshots, shared across cores.
pub trait DataKeys: Send + Sync {
    fn generate_data_key(&self, key_id: &str, context: &Context) -> Result<GeneratedKey, KmsError>;
    /// The data key of `context` under the key's current version: the
    /// same key every time (wrapped afresh), so that what is sealed under
    /// it can be shared (a deduplicating bucket's content). `decrypt`
    /// opens it as any other.
    fn derive_data_key(&self, key_id: &str, context: &Context) -> Result<GeneratedKey, KmsError>;
    fn decrypt(&self, wrapped: &[u8], context: &Context) -> Result<DataKey, KmsError>;
}

/// A KMS: data keys plus key management. Blocking: an external KMS would
/// call out over the network, the built-in one writes the system store.
pub trait Kms: DataKeys {
    /// The current snapshot for the data path.
    fn data_keys(&self) -> Arc<dyn DataKeys>;
    fn create_key(&mut self, key_id: &str, now_ms: u64) -> Result<KeyInfo, KmsError>;
    fn list_keys(&self) -> Vec<KeyInfo>;
    fn key_info(&self, key_id: &str) -> Result<KeyInfo, KmsError>;
    fn set_enabled(&mut self, key_id: &str, enabled: bool) -> Result<KeyInfo, KmsError>;
    /// A new version becomes current; older ones still unwrap.
    fn rotate(&mut self, key_id: &str, now_ms: u64) -> Result<KeyInfo, KmsError>;
    /// The SSE-S3 key's id, creating the key on first use.
    fn ensure_default_key(&mut self, now_ms: u64) -> Result<String, KmsError>;
}

/// The durable state: key material only sealed. It has named its format
/// (`"format"`) from the start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsState {
    pub format: u32,
    pub keys: BTreeMap<String, StoredKey>,
}

impl KmsState {
    /// Decodes the system store's payload (any format this binary reads).
    pub fn decode(payload: &[u8]) -> Result<KmsState, JsonError> {
        decode_json("kms.state", payload, STATE_V1).map(|(_, s)| s)
    }

    /// The system store's payload as this binary writes it.
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }
}

impl Default for KmsState {
    fn default() -> Self {
        KmsState {
            format: STATE_V1,
            keys: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    pub created_ms: u64,
    pub enabled: bool,
    /// Oldest first; the last is current.
    pub versions: Vec<StoredVersion>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredVersion {
    pub version: u32,
    pub created_ms: u64,
    /// 32 random bytes, base64, sealed under the master key.
    pub material: Sealed,
}

impl StoredKey {
    fn info(&self, id: &str) -> KeyInfo {
        KeyInfo {
            id: id.to_owned(),
            enabled: self.enabled,
            created_ms: self.created_ms,
            current_version: self.versions.last().map_or(0, |v| v.version),
            versions: self
                .versions
                .iter()
                .map(|v| VersionInfo {
                    version: v.version,
                    created_ms: v.created_ms,
                })
                .collect(),
        }
    }
}

fn material_aad(id: &str, version: u32) -> Vec<u8> {
    format!("cairn-kms-key:{id}:{version}").into_bytes()
}

fn new_version(master: &MasterKey, id: &str, version: u32, now_ms: u64) -> StoredVersion {
    let mut raw = Zeroizing::new([0u8; KEY_LEN]);
    rand::thread_rng().fill_bytes(&mut raw[..]);
    // `MasterKey` seals text: the material goes in as base64.
    let text = Zeroizing::new(B64.encode(&raw[..]));
    StoredVersion {
        version,
        created_ms: now_ms,
        material: master.seal(text.as_bytes(), &material_aad(id, version)),
    }
}

/// The associated data of a wrapped data key: its KMS key, version and
/// encryption context.
fn wrap_aad(id: &str, version: u32, context: &Context) -> Vec<u8> {
    let ctx = context_bytes(context);
    let mut a = Vec::with_capacity(24 + id.len() + ctx.len());
    a.extend_from_slice(b"cairn-kms-dk-v1\0");
    a.push(id.len() as u8);
    a.extend_from_slice(id.as_bytes());
    a.extend_from_slice(&version.to_be_bytes());
    a.extend_from_slice(&ctx);
    a
}

/// The built-in KMS's wrapped blob: version byte, key id (length-prefixed),
/// key version (4 bytes BE), then nonce, sealed data key and tag.
fn encode_wrapped(id: &str, version: u32, sealed: &[u8; WRAPPED_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + id.len() + 4 + WRAPPED_LEN);
    out.push(WRAP_V1);
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(sealed);
    out
}

fn decode_wrapped(b: &[u8]) -> Result<(&str, u32, &[u8]), KmsError> {
    let (&v, rest) = b.split_first().ok_or(KmsError::Malformed)?;
    if v == 0 {
        return Err(KmsError::Malformed);
    }
    NewerFormat::check("wrapped data key", u32::from(v), u32::from(WRAP_V1))
        .map_err(KmsError::Newer)?;
    let (&n, rest) = rest.split_first().ok_or(KmsError::Malformed)?;
    let n = n as usize;
    if rest.len() != n + 4 + WRAPPED_LEN {
        return Err(KmsError::Malformed);
    }
    let id = std::str::from_utf8(&rest[..n]).map_err(|_| KmsError::Malformed)?;
    let version = u32::from_be_bytes(rest[n..n + 4].try_into().expect("4 bytes"));
    Ok((id, version, &rest[n + 4..]))
}

/// The built-in KMS's keys, opened: an immutable snapshot.
pub struct Keyring {
    keys: BTreeMap<String, RingKey>,
}

struct RingKey {
    enabled: bool,
    current: u32,
    versions: BTreeMap<u32, LessSafeKey>,
    /// Per version, the key `derive_data_key` derives from (not the
    /// material itself: an HMAC of it).
    derive: BTreeMap<u32, Zeroizing<[u8; KEY_LEN]>>,
}

/// HMAC-SHA-256 of `data` under `key`.
fn hmac(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    use hmac::Mac;
    let mut m = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .expect("HMAC takes a key of any length");
    m.update(data);
    m.finalize().into_bytes().into()
}

impl Keyring {
    fn build(state: &KmsState, master: &MasterKey) -> Result<Keyring, String> {
        let mut keys = BTreeMap::new();
        for (id, k) in &state.keys {
            let mut versions = BTreeMap::new();
            let mut derive = BTreeMap::new();
            for v in &k.versions {
                let text = master
                    .open(&v.material, &material_aad(id, v.version))
                    .map_err(|e| format!("KMS key {id:?} version {}: {e}", v.version))?;
                let raw =
                    Zeroizing::new(B64.decode(text.expose().as_bytes()).map_err(|_| {
                        format!("KMS key {id:?} version {}: not base64", v.version)
                    })?);
                let cipher = UnboundKey::new(&AES_256_GCM, &raw[..])
                    .map_err(|_| format!("KMS key {id:?} version {}: not 32 bytes", v.version))?;
                versions.insert(v.version, LessSafeKey::new(cipher));
                derive.insert(
                    v.version,
                    Zeroizing::new(hmac(&raw[..], b"cairn-kms-derive-v1")),
                );
            }
            let current = k.versions.last().map_or(0, |v| v.version);
            keys.insert(
                id.clone(),
                RingKey {
                    enabled: k.enabled,
                    current,
                    versions,
                    derive,
                },
            );
        }
        Ok(Keyring { keys })
    }

    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    fn usable(&self, key_id: &str) -> Result<&RingKey, KmsError> {
        let k = self
            .keys
            .get(key_id)
            .ok_or_else(|| KmsError::NotFound(key_id.to_owned()))?;
        if !k.enabled {
            return Err(KmsError::Disabled(key_id.to_owned()));
        }
        Ok(k)
    }
}

impl DataKeys for Keyring {
    fn generate_data_key(&self, key_id: &str, context: &Context) -> Result<GeneratedKey, KmsError> {
        let k = self.usable(key_id)?;
        let kek = k
            .versions
            .get(&k.current)
            .ok_or_else(|| KmsError::NotFound(key_id.to_owned()))?;
        let dk = DataKey::generate();
        let sealed = key::wrap(kek, &dk, &wrap_aad(key_id, k.current, context));
        Ok(GeneratedKey {
            key: dk,
            wrapped: encode_wrapped(key_id, k.current, &sealed),
            key_id: key_id.to_owned(),
            key_version: k.current,
        })
    }

    fn derive_data_key(&self, key_id: &str, context: &Context) -> Result<GeneratedKey, KmsError> {
        let k = self.usable(key_id)?;
        let not_found = || KmsError::NotFound(key_id.to_owned());
        let kek = k.versions.get(&k.current).ok_or_else(not_found)?;
        let from = k.derive.get(&k.current).ok_or_else(not_found)?;
        let aad = wrap_aad(key_id, k.current, context);
        let dk = DataKey::from_bytes(hmac(&from[..], &aad));
        let sealed = key::wrap(kek, &dk, &aad);
        Ok(GeneratedKey {
            key: dk,
            wrapped: encode_wrapped(key_id, k.current, &sealed),
            key_id: key_id.to_owned(),
            key_version: k.current,
        })
    }

    fn decrypt(&self, wrapped: &[u8], context: &Context) -> Result<DataKey, KmsError> {
        let (id, version, sealed) = decode_wrapped(wrapped)?;
        let k = self.usable(id)?;
        let kek = k.versions.get(&version).ok_or(KmsError::DoesNotOpen)?;
        key::unwrap(kek, sealed, &wrap_aad(id, version, context)).map_err(|_| KmsError::DoesNotOpen)
    }
}

/// What start-up learnt from the store, for its log line.
#[derive(Debug)]
pub struct OpenReport {
    pub generation: u64,
    pub keys: usize,
    pub skipped: Vec<(std::path::PathBuf, String)>,
}

/// The node's own KMS.
pub struct BuiltinKms {
    store: Box<dyn SystemStore>,
    master: Arc<MasterKey>,
    generation: u64,
    state: KmsState,
    keyring: Arc<Keyring>,
}

impl BuiltinKms {
    /// Loads the newest state and opens every key version. Blocking; runs
    /// at start-up. Material that does not open is an error: the master
    /// key is not the one it was sealed with.
    pub fn open(
        store: Box<dyn SystemStore>,
        master: Arc<MasterKey>,
    ) -> Result<(BuiltinKms, OpenReport), String> {
        let loaded = store
            .load()
            .map_err(|e| format!("reading the KMS store: {e}"))?;
        let (generation, state) = match loaded.newest {
            Some((g, payload)) => {
                let state = KmsState::decode(&payload)
                    .map_err(|e| format!("KMS store generation {g}: {e}"))?;
                (g, state)
            }
            None => (0, KmsState::default()),
        };
        let keyring = Keyring::build(&state, &master).map_err(|e| {
            format!(
                "KMS store: {e}. The master key {:?} is not the one these keys were sealed with",
                master.name()
            )
        })?;
        let report = OpenReport {
            generation,
            keys: state.keys.len(),
            skipped: loaded.skipped,
        };
        Ok((
            BuiltinKms {
                store,
                master,
                generation,
                state,
                keyring: Arc::new(keyring),
            },
            report,
        ))
    }

    /// The immutable snapshot, typed (the trait's is `dyn`).
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keyring.clone()
    }

    /// Makes `next` durable, then current. On a failed write nothing
    /// changes (the generation is spent: a failed write may have reached
    /// some drives).
    fn commit(&mut self, next: KmsState) -> Result<(), KmsError> {
        let keyring = Keyring::build(&next, &self.master).map_err(KmsError::Store)?;
        let payload = next.encode().map_err(|e| KmsError::Store(e.to_string()))?;
        self.generation += 1;
        self.store
            .store(self.generation, &payload)
            .map_err(|e| KmsError::Store(e.to_string()))?;
        self.state = next;
        self.keyring = Arc::new(keyring);
        Ok(())
    }

    fn stored(&self, key_id: &str) -> Result<&StoredKey, KmsError> {
        self.state
            .keys
            .get(key_id)
            .ok_or_else(|| KmsError::NotFound(key_id.to_owned()))
    }
}

impl DataKeys for BuiltinKms {
    fn generate_data_key(&self, key_id: &str, context: &Context) -> Result<GeneratedKey, KmsError> {
        self.keyring.generate_data_key(key_id, context)
    }

    fn derive_data_key(&self, key_id: &str, context: &Context) -> Result<GeneratedKey, KmsError> {
        self.keyring.derive_data_key(key_id, context)
    }

    fn decrypt(&self, wrapped: &[u8], context: &Context) -> Result<DataKey, KmsError> {
        self.keyring.decrypt(wrapped, context)
    }
}

impl Kms for BuiltinKms {
    fn data_keys(&self) -> Arc<dyn DataKeys> {
        self.keyring.clone()
    }

    fn create_key(&mut self, key_id: &str, now_ms: u64) -> Result<KeyInfo, KmsError> {
        if !valid_key_id(key_id) {
            return Err(KmsError::InvalidId(key_id.to_owned()));
        }
        if self.state.keys.contains_key(key_id) {
            return Err(KmsError::AlreadyExists(key_id.to_owned()));
        }
        if self.state.keys.len() >= MAX_KEYS {
            return Err(KmsError::Limit("at most 10000 keys"));
        }
        let key = StoredKey {
            created_ms: now_ms,
            enabled: true,
            versions: vec![new_version(&self.master, key_id, 1, now_ms)],
        };
        let info = key.info(key_id);
        let mut next = self.state.clone();
        next.keys.insert(key_id.to_owned(), key);
        self.commit(next)?;
        Ok(info)
    }

    fn list_keys(&self) -> Vec<KeyInfo> {
        self.state.keys.iter().map(|(id, k)| k.info(id)).collect()
    }

    fn key_info(&self, key_id: &str) -> Result<KeyInfo, KmsError> {
        Ok(self.stored(key_id)?.info(key_id))
    }

    fn set_enabled(&mut self, key_id: &str, enabled: bool) -> Result<KeyInfo, KmsError> {
        if self.stored(key_id)?.enabled == enabled {
            return self.key_info(key_id);
        }
        if key_id == DEFAULT_KEY && !enabled {
            return Err(KmsError::DefaultKeyStaysEnabled);
        }
        let mut next = self.state.clone();
        let k = next.keys.get_mut(key_id).expect("checked above");
        k.enabled = enabled;
        let info = k.info(key_id);
        self.commit(next)?;
        Ok(info)
    }

    fn rotate(&mut self, key_id: &str, now_ms: u64) -> Result<KeyInfo, KmsError> {
        let k = self.stored(key_id)?;
        if k.versions.len() >= MAX_VERSIONS {
            return Err(KmsError::Limit("at most 1000 versions of a key"));
        }
        let version = k.versions.last().map_or(0, |v| v.version) + 1;
        let v = new_version(&self.master, key_id, version, now_ms);
        let mut next = self.state.clone();
        let k = next.keys.get_mut(key_id).expect("checked above");
        k.versions.push(v);
        let info = k.info(key_id);
        self.commit(next)?;
        Ok(info)
    }

    fn ensure_default_key(&mut self, now_ms: u64) -> Result<String, KmsError> {
        if !self.state.keys.contains_key(DEFAULT_KEY) {
            self.create_key(DEFAULT_KEY, now_ms)?;
        }
        Ok(DEFAULT_KEY.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::format::META_DIR;
    use crate::iam::store::{DriveStore, Loaded};
    use std::path::PathBuf;

    fn drives(t: &tempfile::TempDir, n: usize) -> Vec<PathBuf> {
        let d: Vec<PathBuf> = (0..n).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &d {
            std::fs::create_dir_all(p.join(META_DIR)).unwrap();
        }
        d
    }

    fn store(d: &[PathBuf]) -> Box<dyn SystemStore> {
        Box::new(DriveStore::named(d.to_vec(), 2, STATE_FILE))
    }

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn kms(t: &tempfile::TempDir) -> (BuiltinKms, Vec<PathBuf>, Arc<MasterKey>) {
        let d = drives(t, 3);
        let master = Arc::new(MasterKey::generate("test"));
        let (k, report) = BuiltinKms::open(store(&d), master.clone()).unwrap();
        assert_eq!((report.generation, report.keys), (0, 0));
        (k, d, master)
    }

    #[test]
    fn a_data_key_opens_only_with_its_context() {
        let t = tempfile::tempdir().unwrap();
        let (mut k, _, _) = kms(&t);
        k.create_key("app", 1).unwrap();
        let c = ctx(&[("aws:s3:arn", "arn:aws:s3:::b/k")]);
        let g = k.generate_data_key("app", &c).unwrap();
        assert_eq!((g.key_id.as_str(), g.key_version), ("app", 1));
        assert_eq!(k.decrypt(&g.wrapped, &c).unwrap(), g.key);
        assert_eq!(k.data_keys().decrypt(&g.wrapped, &c).unwrap(), g.key);
        assert_eq!(
            k.decrypt(&g.wrapped, &ctx(&[("aws:s3:arn", "arn:aws:s3:::b/other")])),
            Err(KmsError::DoesNotOpen)
        );
        assert_eq!(
            k.decrypt(&g.wrapped, &Context::new()),
            Err(KmsError::DoesNotOpen)
        );
        for i in 0..g.wrapped.len() {
            let mut w = g.wrapped.clone();
            w[i] ^= 1;
            assert!(k.decrypt(&w, &c).is_err(), "byte {i}");
        }
        assert_eq!(
            k.generate_data_key("nope", &c).unwrap_err(),
            KmsError::NotFound("nope".into())
        );
        // Two data keys from one KMS key differ.
        assert_ne!(k.generate_data_key("app", &c).unwrap().key, g.key);
    }

    #[test]
    fn a_derived_data_key_is_the_same_for_its_context_and_key_version_only() {
        let t = tempfile::tempdir().unwrap();
        let (mut k, d, master) = kms(&t);
        k.create_key("app", 1).unwrap();
        k.create_key("other", 1).unwrap();
        let c = ctx(&[("aws:s3:arn", "arn:aws:s3:::b")]);
        let a = k.derive_data_key("app", &c).unwrap();
        let b = k.data_keys().derive_data_key("app", &c).unwrap();
        assert_eq!(a.key, b.key, "the same key each time");
        assert_ne!(a.wrapped, b.wrapped, "wrapped afresh");
        assert_eq!(k.decrypt(&b.wrapped, &c).unwrap(), a.key);
        assert_ne!(
            k.derive_data_key("app", &ctx(&[("aws:s3:arn", "arn:aws:s3:::c")]))
                .unwrap()
                .key,
            a.key
        );
        assert_ne!(k.derive_data_key("other", &c).unwrap().key, a.key);
        assert_ne!(k.generate_data_key("app", &c).unwrap().key, a.key);
        // Across a restart, from the stored material.
        drop(k);
        let (mut k, _) = BuiltinKms::open(store(&d), master).unwrap();
        assert_eq!(k.derive_data_key("app", &c).unwrap().key, a.key);
        // A new version derives a new key; the old one still opens.
        k.rotate("app", 2).unwrap();
        let r = k.derive_data_key("app", &c).unwrap();
        assert_eq!(r.key_version, 2);
        assert_ne!(r.key, a.key);
        assert_eq!(k.decrypt(&a.wrapped, &c).unwrap(), a.key);
    }

    #[test]
    fn rotation_keeps_old_versions_unwrapping() {
        let t = tempfile::tempdir().unwrap();
        let (mut k, _, _) = kms(&t);
        k.create_key("app", 1).unwrap();
        let c = Context::new();
        let old = k.generate_data_key("app", &c).unwrap();
        let info = k.rotate("app", 2).unwrap();
        assert_eq!(info.current_version, 2);
        assert_eq!(
            info.versions
                .iter()
                .map(|v| (v.version, v.created_ms))
                .collect::<Vec<_>>(),
            [(1, 1), (2, 2)]
        );
        let new = k.generate_data_key("app", &c).unwrap();
        assert_eq!(new.key_version, 2);
        assert_eq!(k.decrypt(&old.wrapped, &c).unwrap(), old.key);
        assert_eq!(k.decrypt(&new.wrapped, &c).unwrap(), new.key);
        assert!(matches!(k.rotate("nope", 3), Err(KmsError::NotFound(_))));
    }

    #[test]
    fn a_disabled_key_neither_makes_nor_opens_data_keys_until_enabled() {
        let t = tempfile::tempdir().unwrap();
        let (mut k, _, _) = kms(&t);
        k.create_key("app", 1).unwrap();
        let c = Context::new();
        let g = k.generate_data_key("app", &c).unwrap();
        let snapshot = k.data_keys();
        assert!(!k.set_enabled("app", false).unwrap().enabled);
        let disabled = KmsError::Disabled("app".into());
        assert_eq!(k.generate_data_key("app", &c).unwrap_err(), disabled);
        assert_eq!(k.decrypt(&g.wrapped, &c).unwrap_err(), disabled);
        assert_eq!(k.data_keys().decrypt(&g.wrapped, &c).unwrap_err(), disabled);
        // A snapshot taken before the change is the old state.
        assert!(snapshot.decrypt(&g.wrapped, &c).is_ok());
        assert!(k.set_enabled("app", true).unwrap().enabled);
        assert_eq!(k.decrypt(&g.wrapped, &c).unwrap(), g.key);
    }

    #[test]
    fn the_default_key_is_created_once_and_stays_enabled() {
        let t = tempfile::tempdir().unwrap();
        let (mut k, _, _) = kms(&t);
        assert!(!k.keyring().has_key(DEFAULT_KEY));
        assert_eq!(k.ensure_default_key(5).unwrap(), DEFAULT_KEY);
        let first = k.key_info(DEFAULT_KEY).unwrap();
        assert_eq!(k.ensure_default_key(6).unwrap(), DEFAULT_KEY);
        assert_eq!(k.key_info(DEFAULT_KEY).unwrap(), first);
        assert!(k.keyring().has_key(DEFAULT_KEY));
        assert_eq!(
            k.set_enabled(DEFAULT_KEY, false),
            Err(KmsError::DefaultKeyStaysEnabled)
        );
        assert_eq!(k.rotate(DEFAULT_KEY, 7).unwrap().current_version, 2);
    }

    #[test]
    fn key_ids_are_checked_and_unique() {
        let t = tempfile::tempdir().unwrap();
        let (mut k, _, _) = kms(&t);
        let long = "x".repeat(65);
        for bad in ["", "a b", "a/b", "é", long.as_str()] {
            assert!(
                matches!(k.create_key(bad, 1), Err(KmsError::InvalidId(_))),
                "{bad}"
            );
        }
        k.create_key("a-b_c.1", 1).unwrap();
        assert!(matches!(
            k.create_key("a-b_c.1", 2),
            Err(KmsError::AlreadyExists(_))
        ));
        assert_eq!(
            key_id_from_request("arn:aws:kms:us-east-1:123456789012:key/app"),
            "app"
        );
        assert_eq!(key_id_from_request("app"), "app");
        assert_eq!(
            k.list_keys()
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>(),
            ["a-b_c.1"]
        );
    }

    #[test]
    fn keys_survive_a_restart_of_the_store_and_need_the_same_master_key() {
        let t = tempfile::tempdir().unwrap();
        let (mut k, d, master) = kms(&t);
        k.create_key("app", 1).unwrap();
        k.create_key("other", 2).unwrap();
        let c = ctx(&[("k", "v")]);
        let old = k.generate_data_key("app", &c).unwrap();
        k.rotate("app", 3).unwrap();
        k.set_enabled("other", false).unwrap();
        let before = k.list_keys();
        drop(k);

        let (k, report) = BuiltinKms::open(store(&d), master.clone()).unwrap();
        assert_eq!((report.generation, report.keys), (4, 2));
        assert_eq!(k.list_keys(), before);
        assert_eq!(k.decrypt(&old.wrapped, &c).unwrap(), old.key);
        assert_eq!(k.generate_data_key("app", &c).unwrap().key_version, 2);
        assert!(matches!(
            k.generate_data_key("other", &c),
            Err(KmsError::Disabled(_))
        ));

        // No key material in the clear on the drives, raw or base64.
        let on_disk = std::fs::read(d[0].join(META_DIR).join(STATE_FILE)).unwrap();
        for v in &k.state.keys["app"].versions {
            let text = master
                .open(&v.material, &material_aad("app", v.version))
                .unwrap();
            let raw = B64.decode(text.expose()).unwrap();
            assert!(!on_disk.windows(raw.len()).any(|w| w == raw));
            assert!(!on_disk
                .windows(text.expose().len())
                .any(|w| w == text.expose().as_bytes()));
        }
        drop(k);

        // Another master key cannot open the store.
        let e = BuiltinKms::open(store(&d), Arc::new(MasterKey::generate("test")))
            .err()
            .unwrap();
        assert!(e.contains("master key"), "{e}");
    }

    #[test]
    fn a_newer_state_or_wrapped_key_is_refused_as_newer() {
        let t = tempfile::tempdir().unwrap();
        let (mut k, d, master) = kms(&t);
        k.create_key("app", 1).unwrap();
        let mut g = k.generate_data_key("app", &Context::new()).unwrap();
        g.wrapped[0] = WRAP_V1 + 1;
        let e = k.decrypt(&g.wrapped, &Context::new()).unwrap_err();
        assert!(matches!(e, KmsError::Newer(_)), "{e}");
        assert!(
            e.to_string()
                .contains("wrapped data key was written by a newer cairn"),
            "{e}"
        );
        drop(k);

        let newer = format!(r#"{{"format":{},"keyring":[]}}"#, STATE_V1 + 1);
        store(&d).store(9, newer.as_bytes()).unwrap();
        let e = BuiltinKms::open(store(&d), master).err().unwrap();
        assert!(
            e.contains(
                "kms.state was written by a newer cairn: format 2, this binary reads up to 1"
            ),
            "{e}"
        );
    }

    struct FailingStore;

    impl SystemStore for FailingStore {
        fn load(&self) -> std::io::Result<Loaded> {
            Ok(Loaded::default())
        }
        fn store(&self, _: u64, _: &[u8]) -> std::io::Result<()> {
            Err(std::io::Error::other("no quorum"))
        }
    }

    #[test]
    fn a_change_that_is_not_stored_changes_nothing() {
        let master = Arc::new(MasterKey::generate("test"));
        let (mut k, _) = BuiltinKms::open(Box::new(FailingStore), master).unwrap();
        assert!(matches!(k.create_key("app", 1), Err(KmsError::Store(_))));
        assert!(k.list_keys().is_empty());
        assert!(!k.keyring().has_key("app"));
    }
}
