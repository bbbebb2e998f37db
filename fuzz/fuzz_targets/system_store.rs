//! System store and drive file decoding (`src/iam/store.rs`, `iam/model.rs`,
//! `engine/buckets.rs`, `engine/format.rs`, `admin/settings.rs`,
//! `sse/kms.rs`, `iam/seal.rs`): any bytes decode to a value or an error,
//! never a panic; whatever decodes encodes to something that decodes to
//! the same value (the frame to the very same bytes); values built from
//! arbitrary data round trip; a format above the known one is always
//! refused as newer.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use cairn::admin::settings::{Change, Saved, SavedValue, STORE_FORMAT};
use cairn::engine::buckets::{
    BucketEncryption, BucketInfo, BucketOwner, BucketSse, BucketTable, DefaultRetention,
    ObjectLockConfig, ObjectOwnership, PublicAccessBlock, RetentionPeriod, Versioning,
    TABLE_FORMAT,
};
use cairn::engine::format::{decode_format, encode_format, DriveFormat};
use cairn::engine::meta::LockMode;
use cairn::format_version::{json_format, JsonError};
use cairn::iam::model::{
    AccessKey, Group, IamState, KeyStatus, LastUsed, ManagedPolicy, Role, ServiceAccount, User,
    STATE_FORMAT,
};
use cairn::iam::seal::{MasterKey, SealError, Sealed};
use cairn::iam::store::{DriveStore, FrameError, FRAME_FORMAT};
use cairn::sse::kms::{KmsState, StoredKey, StoredVersion, STATE_V1};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    /// Bytes found in a drive's `.cairn` file.
    Raw(Vec<u8>),
    /// A frame around arbitrary or encoded state.
    Frame {
        generation: u64,
        payload: Vec<u8>,
    },
    Buckets(u64, Vec<(String, Bucket)>, u8),
    Iam(Vec<UserIn>, Vec<KeyIn>, Vec<PolicyIn>, u8),
    Settings(Vec<(String, String, String)>, Vec<ChangeIn>, u8),
    Kms(Vec<(String, u64, bool, Vec<(u32, u64, Vec<u8>)>)>, u8),
    Format(FormatIn),
    Sealed(Vec<u8>, Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Bucket {
    created_ms: u64,
    versioning: u8,
    tags: Option<Vec<(String, String)>>,
    owner: Option<(String, String)>,
    policy: Option<String>,
    block: Option<[bool; 4]>,
    acl_owner: Option<String>,
    ownership: Option<u8>,
    quota: Option<u64>,
    lock: Option<Option<(bool, bool, u32)>>,
    encryption: Option<(bool, Option<String>, bool)>,
}

#[derive(Arbitrary, Debug)]
struct UserIn {
    name: String,
    id: String,
    path: String,
    created_ms: u64,
    enabled: bool,
    tags: Vec<(String, String)>,
    groups: BTreeSet<String>,
    inline: BTreeMap<String, String>,
}

#[derive(Arbitrary, Debug)]
struct KeyIn {
    id: String,
    user: String,
    sealed: Vec<u8>,
    active: bool,
    expires_ms: Option<u64>,
    last_used: Option<(u64, String, String)>,
    service: Option<(String, Option<String>)>,
}

#[derive(Arbitrary, Debug)]
struct PolicyIn {
    name: String,
    document: String,
    attachments: u32,
    role: bool,
}

#[derive(Arbitrary, Debug)]
struct ChangeIn {
    time_ms: u64,
    access_key: String,
    user: String,
    name: String,
    old: String,
    new: String,
}

#[derive(Arbitrary, Debug)]
struct FormatIn {
    format_version: u8,
    node_id: String,
    set_id: String,
    drive_index: u16,
    drive_count: u16,
    layout: String,
    partitions: u16,
}

fn bucket(b: Bucket) -> BucketInfo {
    BucketInfo {
        created_ms: b.created_ms,
        versioning: [Versioning::Off, Versioning::Enabled, Versioning::Suspended]
            [usize::from(b.versioning % 3)],
        tags: b.tags,
        owner: b
            .owner
            .map(|(canonical_id, arn)| BucketOwner { canonical_id, arn }),
        policy: b.policy,
        public_access_block: b.block.map(|f| PublicAccessBlock {
            block_public_acls: f[0],
            ignore_public_acls: f[1],
            block_public_policy: f[2],
            restrict_public_buckets: f[3],
        }),
        acl: b.acl_owner.map(|o| cairn::iam::acl::Acl::private(&o)),
        ownership: b.ownership.map(|o| {
            [
                ObjectOwnership::BucketOwnerEnforced,
                ObjectOwnership::BucketOwnerPreferred,
                ObjectOwnership::ObjectWriter,
            ][usize::from(o % 3)]
        }),
        quota: b.quota,
        object_lock: b.lock.map(|d| ObjectLockConfig {
            default_retention: d.map(|(compliance, years, n)| DefaultRetention {
                mode: if compliance {
                    LockMode::Compliance
                } else {
                    LockMode::Governance
                },
                period: if years {
                    RetentionPeriod::Years(n)
                } else {
                    RetentionPeriod::Days(n)
                },
            }),
        }),
        encryption: b
            .encryption
            .map(|(kms, kms_key_id, bucket_key_enabled)| BucketEncryption {
                algorithm: if kms {
                    BucketSse::Kms
                } else {
                    BucketSse::Aes256
                },
                kms_key_id,
                bucket_key_enabled,
            }),
    }
}

fn iam_state(users: Vec<UserIn>, keys: Vec<KeyIn>, policies: Vec<PolicyIn>) -> IamState {
    let mut s = IamState::default();
    for u in users {
        s.groups.insert(
            u.id.clone(),
            Group {
                name: u.name.clone(),
                id: u.id.clone(),
                path: u.path.clone(),
                arn: format!("arn:aws:iam::000000000000:group{}{}", u.path, u.name),
                created_ms: u.created_ms,
                members: BTreeSet::from([u.name.to_lowercase()]),
                inline: BTreeMap::new(),
                attached: BTreeSet::new(),
            },
        );
        s.users.insert(
            u.name.to_lowercase(),
            User {
                arn: format!("arn:aws:iam::000000000000:user{}{}", u.path, u.name),
                name: u.name,
                id: u.id,
                path: u.path,
                created_ms: u.created_ms,
                enabled: u.enabled,
                tags: u.tags,
                groups: u.groups,
                inline: u.inline,
                attached: BTreeSet::new(),
            },
        );
    }
    for k in keys {
        s.keys.insert(
            k.id.clone(),
            AccessKey {
                id: k.id,
                user: k.user,
                sealed: Sealed::from_bytes(k.sealed),
                status: if k.active {
                    KeyStatus::Active
                } else {
                    KeyStatus::Inactive
                },
                expires_ms: k.expires_ms,
                description: String::new(),
                created_ms: 0,
                last_used: k.last_used.map(|(at_ms, service, region)| LastUsed {
                    at_ms,
                    service,
                    region,
                }),
                service: k
                    .service
                    .map(|(name, policy)| ServiceAccount { name, policy }),
            },
        );
    }
    for p in policies {
        let arn = format!("arn:aws:iam::000000000000:policy/{}", p.name);
        if p.role {
            s.roles.insert(
                p.name.to_lowercase(),
                Role {
                    name: p.name.clone(),
                    id: p.name,
                    path: "/".into(),
                    arn,
                    description: String::new(),
                    trust_policy: p.document,
                    max_session_secs: p.attachments,
                    created_ms: 0,
                    inline: BTreeMap::new(),
                    attached: BTreeSet::new(),
                },
            );
        } else {
            s.policies.insert(
                arn.clone(),
                ManagedPolicy {
                    name: p.name.clone(),
                    id: p.name,
                    path: "/".into(),
                    arn,
                    description: String::new(),
                    default_version: "v1".into(),
                    document: p.document,
                    attachments: p.attachments,
                    created_ms: 0,
                    updated_ms: 0,
                },
            );
        }
    }
    s
}

/// `what` with its format raised to `format` (> known) is refused as newer.
fn newer_refused<T: std::fmt::Debug>(what: &str, r: Result<T, JsonError>, format: u32) {
    match r {
        Err(JsonError::Newer(n)) => assert_eq!(n.found, format, "{what}"),
        other => panic!("{what} of format {format}: {other:?}"),
    }
}

/// Sets the `"format"` member of an encoded JSON object.
fn with_format(json: &[u8], format: u32) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(json).expect("encoded JSON parses");
    v["format"] = serde_json::json!(format);
    serde_json::to_vec(&v).expect("JSON encodes")
}

fn master() -> MasterKey {
    MasterKey::parse("fuzz:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("key")
}

fuzz_target!(|input: Input| match input {
    Input::Raw(bytes) => {
        if let Ok((g, p)) = DriveStore::decode(&bytes) {
            assert_eq!(DriveStore::encode(g, p), bytes, "the frame is canonical");
        }
        if let Ok(t) = BucketTable::decode(&bytes) {
            assert_eq!(BucketTable::decode(&t.encode().unwrap()).unwrap(), t);
        }
        if let Ok(s) = IamState::decode(&bytes) {
            assert_eq!(IamState::decode(&s.encode().unwrap()).unwrap(), s);
        }
        if let Ok(s) = Saved::decode(&bytes) {
            assert_eq!(Saved::decode(&s.encode().unwrap()).unwrap(), s);
        }
        if let Ok(s) = KmsState::decode(&bytes) {
            assert_eq!(KmsState::decode(&s.encode().unwrap()).unwrap(), s);
        }
        if let Ok(f) = decode_format(&bytes) {
            assert_eq!(decode_format(&encode_format(&f)).unwrap(), f);
        }
        if let Ok(f) = json_format("fuzz", &bytes, 3) {
            assert!((1..=3).contains(&f));
        }
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Ok(k) = MasterKey::parse(text) {
                assert_eq!(MasterKey::parse(&k.encode()).unwrap().encode(), k.encode());
            }
        }
    }
    Input::Frame {
        generation,
        payload,
    } => {
        let b = DriveStore::encode(generation, &payload);
        assert_eq!(DriveStore::decode(&b).unwrap(), (generation, &payload[..]));
        // Every digit above the frame's format: newer.
        let mut newer = b.clone();
        let above = (generation % u64::from(9 - FRAME_FORMAT)) as u8;
        newer[7] = b'0' + FRAME_FORMAT + 1 + above;
        match DriveStore::decode(&newer) {
            Err(FrameError::Newer(n)) => assert!(n.found > u32::from(FRAME_FORMAT)),
            other => panic!("{other:?}"),
        }
        if !payload.is_empty() {
            let mut torn = b;
            torn.pop();
            assert!(matches!(
                DriveStore::decode(&torn),
                Err(FrameError::Damaged(_))
            ));
        }
    }
    Input::Buckets(generation, buckets, up) => {
        let mut t = BucketTable {
            generation,
            ..Default::default()
        };
        for (name, b) in buckets {
            t.buckets.insert(name, bucket(b));
        }
        let json = t.encode().unwrap();
        assert_eq!(BucketTable::decode(&json).unwrap(), t);
        let f = TABLE_FORMAT + 1 + u32::from(up);
        newer_refused(
            "buckets.json",
            BucketTable::decode(&with_format(&json, f)),
            f,
        );
    }
    Input::Iam(users, keys, policies, up) => {
        let s = iam_state(users, keys, policies);
        let json = s.encode().unwrap();
        assert_eq!(IamState::decode(&json).unwrap(), s);
        let f = STATE_FORMAT + 1 + u32::from(up);
        newer_refused("iam.state", IamState::decode(&with_format(&json, f)), f);
    }
    Input::Settings(values, history, up) => {
        let s = Saved {
            values: values
                .into_iter()
                .map(|(name, value, default)| SavedValue {
                    name,
                    value,
                    default,
                })
                .collect(),
            history: history
                .into_iter()
                .map(|c| Change {
                    time_ms: c.time_ms,
                    access_key: c.access_key,
                    user: c.user,
                    name: c.name,
                    old: c.old,
                    new: c.new,
                })
                .collect(),
        };
        let json = s.encode().unwrap();
        assert_eq!(Saved::decode(&json).unwrap(), s);
        let f = STORE_FORMAT + 1 + u32::from(up);
        newer_refused("settings.state", Saved::decode(&with_format(&json, f)), f);
    }
    Input::Kms(keys, up) => {
        let s = KmsState {
            format: STATE_V1,
            keys: keys
                .into_iter()
                .map(|(id, created_ms, enabled, versions)| {
                    let versions = versions
                        .into_iter()
                        .map(|(version, created_ms, material)| StoredVersion {
                            version,
                            created_ms,
                            material: Sealed::from_bytes(material),
                        })
                        .collect();
                    (
                        id,
                        StoredKey {
                            created_ms,
                            enabled,
                            versions,
                        },
                    )
                })
                .collect(),
        };
        let json = s.encode().unwrap();
        assert_eq!(KmsState::decode(&json).unwrap(), s);
        let f = STATE_V1 + 1 + u32::from(up);
        newer_refused("kms.state", KmsState::decode(&with_format(&json, f)), f);
    }
    Input::Format(f) => {
        let f = DriveFormat {
            format_version: u32::from(f.format_version),
            node_id: f.node_id,
            set_id: f.set_id,
            drive_index: usize::from(f.drive_index),
            drive_count: usize::from(f.drive_count),
            layout: f.layout,
            partitions: f.partitions,
        };
        let json = encode_format(&f);
        match decode_format(&json) {
            Ok(g) => assert_eq!(g, f),
            Err(e) => assert!(
                f.format_version > cairn::engine::format::FORMAT_VERSION
                    && e.contains("written by a newer cairn"),
                "{e}"
            ),
        }
    }
    Input::Sealed(bytes, aad) => {
        let m = master();
        match m.open(&Sealed::from_bytes(bytes.clone()), &aad) {
            Ok(_) | Err(SealError::Malformed) | Err(SealError::DoesNotOpen(_)) => {}
            Err(SealError::Newer(n)) => assert!(bytes[0] > 1 && n.found == u32::from(bytes[0])),
        }
        // Sealing then opening gives the secret back (as UTF-8 text).
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let sealed = m.seal(text.as_bytes(), &aad);
        assert_eq!(m.open(&sealed, &aad).unwrap().expose(), text);
    }
});
