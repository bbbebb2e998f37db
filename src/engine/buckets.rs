//! The bucket table: small, global, owned by core 0 and copied to every core
//! on change, so bucket lookups never leave the receiving core. Persisted as
//! `buckets.json` on every drive (atomic rename + fsync), the copy with the
//! highest generation winning at start-up. The file names its format
//! ([`TABLE_FORMAT`]; none means 1); a copy of a newer format stops
//! start-up rather than be passed over for an older copy.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bucket_logging::BucketLogging;
use crate::format_version::{decode_json, encode_json, JsonError};
use crate::iam::acl::Acl;
use crate::lifecycle::Lifecycle;
use crate::notify::Notifications;
use crate::runtime::file::write_file_durable;
use crate::website::Website;

use super::format::META_DIR;
use super::meta::{LockMode, Retention};

/// A bucket's versioning state; once enabled it can only be suspended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    #[default]
    Off,
    Enabled,
    Suspended,
}

/// S3 Object Ownership: who owns the objects written to a bucket, and
/// whether ACLs apply at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are off; the bucket owner owns every object.
    BucketOwnerEnforced,
    /// Objects written with `bucket-owner-full-control` belong to the
    /// bucket owner, others to their writer.
    BucketOwnerPreferred,
    /// The writer owns each object.
    ObjectWriter,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub created_ms: u64,
    #[serde(default)]
    pub versioning: Versioning,
    /// The bucket's tag set, when one is configured.
    #[serde(default)]
    pub tags: Option<Vec<(String, String)>>,
    /// Who created it; `None` for buckets made before owners were kept,
    /// which belong to root.
    #[serde(default)]
    pub owner: Option<BucketOwner>,
    /// The bucket policy as the client sent it (checked when stored).
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// The bucket's ACL; `None` is private to the bucket owner.
    #[serde(default)]
    pub acl: Option<Acl>,
    /// The ownership controls; `None` (buckets made before they existed,
    /// or after DeleteBucketOwnershipControls) behaves as ObjectWriter.
    #[serde(default)]
    pub ownership: Option<ObjectOwnership>,
    /// Hard quota on the bytes of all the bucket's versions (see `usage.rs`).
    #[serde(default)]
    pub quota: Option<u64>,
    /// Object lock, once enabled never disabled (versioning stays on).
    #[serde(default)]
    pub object_lock: Option<ObjectLockConfig>,
    /// The default encryption of new objects (PutBucketEncryption);
    /// `None`: objects are stored as their writes ask.
    #[serde(default)]
    pub encryption: Option<BucketEncryption>,
    /// The CORS rules browsers are answered from (PutBucketCors); `None`:
    /// cross-origin requests get no CORS headers. Since format 2.
    #[serde(default)]
    pub cors: Option<BucketCors>,
    /// The lifecycle rules (PutBucketLifecycleConfiguration); `None`: none
    /// configured. Since format 3.
    #[serde(default)]
    pub lifecycle: Option<Lifecycle>,
    /// The website configuration (PutBucketWebsite) that requests to
    /// `<bucket>.<--website-domain>` are served by; `None`: not a website.
    /// Since format 4.
    #[serde(default)]
    pub website: Option<Website>,
    /// The event notification rules (PutBucketNotificationConfiguration);
    /// `None`: none. Since format 5.
    #[serde(default)]
    pub notifications: Option<Notifications>,
    /// Where its server access log goes (PutBucketLogging); `None`: not
    /// logged. Since format 6.
    #[serde(default)]
    pub logging: Option<BucketLogging>,
    /// Deduplication opted in (`cairn admin bucket dedup`). Only the
    /// choice is kept so far: objects are stored as in any bucket until
    /// content-addressed storage lands (docs/ARCHITECTURE.md,
    /// "Deduplication"). Since format 8.
    #[serde(default)]
    pub dedup: bool,
}

/// A bucket's CORS configuration: rules tried in order, the first that
/// matches a request answers it (checked when stored, see `s3/xml_cors.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketCors {
    pub rules: Vec<CorsRule>,
}

/// One `CORSRule`. Origins and headers may hold one `*` each; methods are
/// among GET, PUT, POST, DELETE and HEAD.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<u32>,
}

/// A bucket's default encryption: what a write without SSE headers gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    pub algorithm: BucketSse,
    /// As the client sent it (a bare id or a key ARN); S3 does not check it
    /// when the configuration is stored, only when a write uses it.
    pub kms_key_id: Option<String>,
    pub bucket_key_enabled: bool,
}

/// `SSEAlgorithm`: `AES256` (SSE-S3) or `aws:kms` (SSE-KMS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketSse {
    Aes256,
    Kms,
}

/// A bucket's object lock configuration: present means enabled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLockConfig {
    /// Applied to new versions written without retention of their own.
    pub default_retention: Option<DefaultRetention>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: LockMode,
    pub period: RetentionPeriod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionPeriod {
    Days(u32),
    Years(u32),
}

impl DefaultRetention {
    /// The retention a version written at `now_ms` gets. A year is 365
    /// days, as S3 counts it.
    pub fn from(&self, now_ms: u64) -> Retention {
        let days = match self.period {
            RetentionPeriod::Days(d) => u64::from(d),
            RetentionPeriod::Years(y) => u64::from(y) * 365,
        };
        Retention {
            mode: self.mode,
            until_ms: now_ms.saturating_add(days * 86_400_000),
        }
    }
}

/// The principal that created a bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketOwner {
    /// S3's canonical user id.
    pub canonical_id: String,
    pub arn: String,
}

/// A bucket's `PublicAccessBlockConfiguration`; absent flags are false.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// For the ACL code: a PUT of a public ACL (canned `public-read`,
    /// `public-read-write`, `authenticated-read`, or a grant to AllUsers or
    /// AuthenticatedUsers) must be refused with AccessDenied.
    pub fn blocks_public_acls(&self) -> bool {
        self.block_public_acls
    }

    /// For the ACL code: public grants in stored ACLs must be ignored when
    /// access is evaluated.
    pub fn ignores_public_acls(&self) -> bool {
        self.ignore_public_acls
    }
}

/// A change to the bucket table, made by core 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BucketChange {
    /// `owner` `None`: owned by root; with the new bucket's ACL and
    /// ownership controls; `object_lock` also turns versioning on.
    Create {
        owner: Option<BucketOwner>,
        acl: Option<Acl>,
        ownership: Option<ObjectOwnership>,
        object_lock: bool,
    },
    Delete,
    Versioning(Versioning),
    Tags(Option<Vec<(String, String)>>),
    /// Sets (Some) or deletes (None) the bucket policy.
    Policy(Option<String>),
    PublicAccessBlock(Option<PublicAccessBlock>),
    Acl(Option<Acl>),
    Ownership(Option<ObjectOwnership>),
    /// Sets (Some) or clears (None) the hard quota in bytes.
    Quota(Option<u64>),
    /// Enables object lock or replaces its configuration.
    ObjectLock(ObjectLockConfig),
    /// Sets (Some) or deletes (None) the default encryption.
    Encryption(Option<BucketEncryption>),
    /// Sets (Some) or deletes (None) the CORS configuration.
    Cors(Option<BucketCors>),
    /// Sets (Some) or deletes (None) the lifecycle configuration.
    Lifecycle(Option<Lifecycle>),
    /// Sets (Some) or deletes (None) the website configuration.
    Website(Option<Website>),
    /// Sets the event notification rules (None or no rule: none).
    Notifications(Option<Notifications>),
    /// Sets (Some) or turns off (None) server access logging.
    Logging(Option<BucketLogging>),
    /// Turns deduplication on or off.
    Dedup(bool),
    /// Sets (Some) or clears (None) a tenant's quota: the name this change
    /// is sent with is the tenant's, not a bucket's.
    TenantQuota(Option<u64>),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketTable {
    pub generation: u64,
    pub buckets: BTreeMap<String, BucketInfo>,
    /// Hard quotas of tenants (format 10), on the bytes of every version of
    /// all their buckets together, by tenant name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tenant_quotas: BTreeMap<String, u64>,
    /// Each bucket's quota ledger (in memory only).
    #[serde(skip)]
    pub ledgers: super::usage::Ledgers,
}

fn table_path(drive: &Path) -> std::path::PathBuf {
    drive.join(META_DIR).join("buckets.json")
}

/// The format of `buckets.json` this binary writes (and the newest it reads).
/// 2 added `BucketInfo::cors`, 3 `BucketInfo::lifecycle`, 4
/// `BucketInfo::website`, 5 `BucketInfo::notifications`, 6
/// `BucketInfo::logging`, 7 lifecycle transitions (`Rule::transitions`),
/// 8 `BucketInfo::dedup`, 9 lifecycle's transition minimum, 10
/// `BucketTable::tenant_quotas`; a file of an older format reads as having
/// none (dedup off).
pub const TABLE_FORMAT: u32 = 10;

impl BucketTable {
    /// Loads the newest copy among the drives; a copy that does not decode
    /// is passed over, one of a newer format is an error. Blocking.
    pub fn load<'a>(drives: impl Iterator<Item = &'a Path>) -> Result<BucketTable, String> {
        let mut newest: Option<BucketTable> = None;
        for d in drives {
            let path = table_path(d);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            match BucketTable::decode(&bytes) {
                Ok(t) if newest.as_ref().is_none_or(|n| t.generation > n.generation) => {
                    newest = Some(t)
                }
                Ok(_) => {}
                Err(JsonError::Newer(n)) => return Err(format!("{}: {n}", path.display())),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "bucket table copy skipped (rewritten on the next change)")
                }
            }
        }
        Ok(newest.unwrap_or_default())
    }

    /// Decodes a `buckets.json` of any format this binary reads.
    pub fn decode(bytes: &[u8]) -> Result<BucketTable, JsonError> {
        decode_json("buckets.json", bytes, TABLE_FORMAT).map(|(_, t)| t)
    }

    /// `buckets.json` as this binary writes it.
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        encode_json(TABLE_FORMAT, self, true)
    }

    /// Writes this table to every drive; succeeds if at least `quorum` copies
    /// were written. Blocking.
    pub fn store<'a>(
        &self,
        drives: impl Iterator<Item = &'a Path>,
        quorum: usize,
    ) -> io::Result<()> {
        let json = self.encode().map_err(io::Error::other)?;
        let mut ok = 0;
        let mut last_err = None;
        for d in drives {
            match write_file_durable(&table_path(d), &json) {
                Ok(()) => ok += 1,
                Err(e) => last_err = Some(e),
            }
        }
        if ok >= quorum.max(1) {
            Ok(())
        } else {
            Err(last_err.unwrap_or_else(|| io::Error::other("no drive to store the bucket table")))
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.buckets.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&BucketInfo> {
        self.buckets.get(name)
    }

    pub fn versioning(&self, name: &str) -> Option<Versioning> {
        self.buckets.get(name).map(|b| b.versioning)
    }
}

/// Joins a tenant to its buckets' names in the table (`s3::tenant`).
pub const TENANT_SEPARATOR: char = ':';

/// The tenant a stored bucket belongs to (`""`: the global namespace).
pub fn tenant_of(stored: &str) -> &str {
    stored.split_once(TENANT_SEPARATOR).map_or("", |(t, _)| t)
}

/// The name a tenant's users know a stored bucket by (the name itself for
/// a global bucket).
pub fn name_in_tenant(stored: &str) -> &str {
    stored
        .split_once(TENANT_SEPARATOR)
        .map_or(stored, |(_, b)| b)
}

/// A name the bucket table may hold: an S3 bucket name, or a tenant's
/// bucket, `tenant:name` (`s3::tenant`; the tenant as `iam::model` checks
/// it, the name by S3's rules). No S3 name holds `:`, so the two never meet.
pub fn valid_stored_name(name: &str) -> bool {
    match name.split_once(TENANT_SEPARATOR) {
        None => valid_bucket_name(name),
        Some((tenant, bucket)) => {
            (1..=64).contains(&tenant.len())
                && tenant
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
                && valid_bucket_name(bucket)
        }
    }
}

/// S3 bucket naming rules (3-63 chars; lowercase letters, digits, dots,
/// hyphens; starts and ends with a letter or digit; no "..", not an IP
/// address, no reserved prefixes or suffixes).
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return false;
    }
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !edge(b[0]) || !edge(b[b.len() - 1]) {
        return false;
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return false;
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return false;
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket", "a.b.c", "0123", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "a_b",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_tenants_bucket_is_a_tenant_name_and_an_s3_name() {
        for ok in [
            "abc",
            "acme:abc",
            "a_b-1:my-bucket",
            &format!("{}:abc", "t".repeat(64)),
        ] {
            assert!(valid_stored_name(ok), "{ok}");
        }
        for bad in [
            ":abc",
            "acme:",
            "acme:ab",
            "Acme:abc",
            "a.b:abc",
            "a:b:abc",
            &format!("{}:abc", "t".repeat(65)),
        ] {
            assert!(!valid_stored_name(bad), "{bad}");
        }
    }

    #[test]
    fn newest_copy_wins() {
        let t = tempfile::tempdir().unwrap();
        let d: Vec<_> = (0..3).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &d {
            std::fs::create_dir_all(p.join(META_DIR)).unwrap();
        }
        let mut tab = BucketTable {
            generation: 1,
            ..Default::default()
        };
        tab.buckets.insert(
            "one".into(),
            BucketInfo {
                created_ms: 1,
                ..Default::default()
            },
        );
        tab.store(d.iter().map(|p| p.as_path()), 3).unwrap();
        tab.generation = 2;
        tab.buckets.insert(
            "two".into(),
            BucketInfo {
                created_ms: 2,
                versioning: Versioning::Enabled,
                tags: Some(vec![("k".into(), "v".into())]),
                owner: Some(BucketOwner {
                    canonical_id: "c".into(),
                    arn: "arn:aws:iam::000000000000:user/alice".into(),
                }),
                policy: Some("{}".into()),
                public_access_block: Some(PublicAccessBlock {
                    block_public_policy: true,
                    ..Default::default()
                }),
                acl: Some(crate::iam::acl::Acl::private("o")),
                ownership: Some(ObjectOwnership::ObjectWriter),
                quota: Some(1 << 30),
                object_lock: Some(ObjectLockConfig {
                    default_retention: Some(DefaultRetention {
                        mode: LockMode::Governance,
                        period: RetentionPeriod::Years(1),
                    }),
                }),
                encryption: Some(BucketEncryption {
                    algorithm: BucketSse::Kms,
                    kms_key_id: Some("arn:aws:kms:us-east-1:000000000000:key/k1".into()),
                    bucket_key_enabled: true,
                }),
                cors: Some(BucketCors {
                    rules: vec![CorsRule {
                        allowed_origins: vec!["*".into()],
                        allowed_methods: vec!["GET".into()],
                        ..Default::default()
                    }],
                }),
                lifecycle: Some(Lifecycle {
                    transition_minimum: Default::default(),
                    rules: vec![crate::lifecycle::Rule {
                        id: "expire logs".into(),
                        enabled: true,
                        scope: crate::lifecycle::Scope::Prefix("logs/".into()),
                        expiration: Some(crate::lifecycle::Expiration::Days(7)),
                        noncurrent_expiration: None,
                        abort_incomplete_upload_days: Some(2),
                        transitions: Vec::new(),
                    }],
                }),
                website: Some(Website::Site(crate::website::Site {
                    index_suffix: "index.html".into(),
                    error_key: Some("404.html".into()),
                    rules: Vec::new(),
                })),
                notifications: Some(crate::notify::Notifications {
                    rules: vec![crate::notify::NotifyRule {
                        id: "images".into(),
                        kind: crate::notify::RuleKind::Queue,
                        arn: "arn:cairn:sqs::hook:webhook".into(),
                        events: vec!["s3:ObjectCreated:*".into()],
                        prefix: "images/".into(),
                        suffix: String::new(),
                    }],
                }),
                logging: Some(BucketLogging {
                    target_bucket: "one".into(),
                    target_prefix: "logs/".into(),
                    target_grants: vec![crate::iam::acl::Grant {
                        grantee: crate::iam::acl::Grantee::Group(
                            crate::iam::acl::Group::AuthenticatedUsers,
                        ),
                        permission: crate::iam::acl::Permission::Read,
                    }],
                    key_format: Some(crate::bucket_logging::KeyFormat::Partitioned(
                        crate::bucket_logging::DateSource::EventTime,
                    )),
                }),
                dedup: true,
            },
        );
        tab.store(d[..1].iter().map(|p| p.as_path()), 1).unwrap();
        let loaded = BucketTable::load(d.iter().map(|p| p.as_path())).unwrap();
        assert_eq!(loaded, tab);
    }

    #[test]
    fn a_copy_of_a_newer_format_stops_the_load() {
        let t = tempfile::tempdir().unwrap();
        let d: Vec<_> = (0..2).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &d {
            std::fs::create_dir_all(p.join(META_DIR)).unwrap();
        }
        BucketTable {
            generation: 4,
            ..Default::default()
        }
        .store(d.iter().map(|p| p.as_path()), 2)
        .unwrap();
        let newer = format!(
            r#"{{"format":{},"generation":1,"tables":[]}}"#,
            TABLE_FORMAT + 1
        );
        std::fs::write(table_path(&d[1]), newer).unwrap();
        let e = BucketTable::load(d.iter().map(|p| p.as_path())).unwrap_err();
        let want = format!(
            "buckets.json was written by a newer cairn: format {}, this binary reads up to {}",
            TABLE_FORMAT + 1,
            TABLE_FORMAT
        );
        assert!(e.contains(&want), "{e}");
        // A copy that is merely damaged is passed over.
        std::fs::write(table_path(&d[1]), b"{ torn").unwrap();
        let loaded = BucketTable::load(d.iter().map(|p| p.as_path())).unwrap();
        assert_eq!(loaded.generation, 4);
    }

    #[test]
    fn a_table_written_before_owners_and_policies_still_loads() {
        let old = br#"{"generation":3,"buckets":{"b1":{"created_ms":5,"versioning":"Enabled"}}}"#;
        let t = BucketTable::decode(old).unwrap();
        let b = t.get("b1").unwrap();
        assert_eq!((b.created_ms, b.versioning), (5, Versioning::Enabled));
        assert_eq!(
            (&b.owner, &b.policy, b.public_access_block),
            (&None, &None, None)
        );
        assert_eq!(b.encryption, None);
    }
}
