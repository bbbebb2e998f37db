//! Golden bytes of every on-disk payload (issue 15, "formats that can
//! evolve"; docs/ARCHITECTURE.md "On disk" lists them). `tests/golden/disk/
//! payloads/` holds files written once by today's encoders from the fixed
//! values below (`regenerate_golden_payloads`, ignored), named
//! `<payload>.v<format>.<ext>`, and committed as bytes:
//!
//! - every file decodes with today's decoder to exactly its values, so a
//!   later binary still reads what this one wrote;
//! - a file of the current format is exactly what today's encoder writes,
//!   so an encoding cannot change without a new format number;
//! - each payload with its format raised by one is refused as written by a
//!   newer cairn, not as corrupt.
//!
//! When a format changes: bump its number, keep the old files (their test
//! now goes through the old-format decoder), and add files of the new one
//! (see docs/TESTING.md). Files the node wrote before JSON files named
//! their format come from the golden drive set (`golden_drive_set.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cairn::admin::settings::{Change, Saved, SavedValue, STORE_FORMAT};
use cairn::engine::buckets::{
    BucketCors, BucketEncryption, BucketInfo, BucketOwner, BucketSse, BucketTable, CorsRule,
    DefaultRetention, ObjectLockConfig, ObjectOwnership, PublicAccessBlock, RetentionPeriod,
    Versioning, TABLE_FORMAT,
};
use cairn::engine::class::ClassAttr;
use cairn::engine::drive_service::{Hold, HoldKind, Saved as DriveHolds};
use cairn::engine::format::{decode_format, encode_format, DriveFormat};
use cairn::engine::heal::{
    HealFile, HealId, HealPass, PartitionHeal, HEAL_FORMAT, PARTITION_HEAL_FORMAT,
};
use cairn::engine::index::ScrubPos;
use cairn::engine::index::{decode_stale, encode_stale, segment_ref_key, ContentRow, Holder};
use cairn::engine::layout::Layout;
use cairn::engine::meta::{
    decode_commit_parts, decode_entry, decode_part_payload, decode_upload_payload,
    encode_commit_payload, encode_entry, encode_part_payload, encode_upload_payload, Attr, DataLoc,
    IndexEntry, LockMode, ObjectMeta, PartData, PartEntry, PartMeta, RecordLoc, Retention,
    UploadChecksum, UploadEntry, UploadMeta, VersionSel,
};
use cairn::engine::outbox::{decode_events, encode_events, Queued};
use cairn::engine::rebuild::{
    decode_tombstone, decode_upload_end, encode_tombstone, encode_upload_end,
};
use cairn::engine::record::{header_key, Kind, RecordError, RecordHeader, FORMAT_VERSION};
use cairn::engine::usage::BucketUsage;
use cairn::format_version::{json_format, JsonError};
use cairn::iam::model::{
    key_aad, AccessKey, Group, IamState, KeyStatus, LastUsed, ManagedPolicy, Role, ServiceAccount,
    Tenant, User, STATE_FORMAT,
};
use cairn::iam::seal::{MasterKey, SealError, Sealed};
use cairn::iam::store::{DriveStore, FrameError, SystemStore, FRAME_FORMAT};
use cairn::lifecycle::{
    And, Expiration, Filter as LifecycleFilter, Lifecycle, NoncurrentExpiration,
    Rule as LifecycleRule, Scope, Tag, TransitionMinimum,
};
use cairn::notify::event::EventRow;
use cairn::notify::{Notifications, NotifyRule, RuleKind};
use cairn::sse::header::{KeySource, Mode, SseHeader};
use cairn::sse::kms::{BuiltinKms, Context, DataKeys, Kms, KmsError, KmsState, STATE_FILE};
use cairn::sse::SseError;
use cairn::website::{
    Condition, Protocol, Redirect, RedirectAll, Replace, RoutingRule, Site, Website,
};

mod common;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/disk/payloads")
}

fn read(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("golden file {}: {e}", p.display()))
}

/// The set id the golden records' header checksums are keyed with.
const SET_ID: &str = "0123456789abcdef0123456789abcdef";
/// The golden master key: `golden:` and 32 bytes of 0x5A.
const MASTER_KEY: &str = "golden:WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo=";

fn key() -> u32 {
    header_key(SET_ID)
}

fn master() -> MasterKey {
    MasterKey::parse(MASTER_KEY).expect("the golden master key")
}

// ---------------------------------------------------------------------------
// The fixed values
// ---------------------------------------------------------------------------

const VERSION: u128 = 0x18ee_7e82_6ab9_d64c_0000_0000_0000_000b;
const UPLOAD: u128 = 0x18ee_7e82_63bb_808d_0000_0000_0000_0005;

fn loc(drive: u16, segment: u32, offset: u64) -> RecordLoc {
    RecordLoc {
        drive,
        segment,
        offset,
        len: 8192,
    }
}

fn header(kind: Kind, part_number: u32, stripe: u32, shard: u8, data_len: u64) -> RecordHeader {
    RecordHeader {
        format: FORMAT_VERSION,
        kind,
        partition: 3,
        bucket: "photos".into(),
        key: "2026/cat.jpg".into(),
        version: if matches!(kind, Kind::Upload | Kind::Part | Kind::UploadEnd) {
            UPLOAD
        } else {
            VERSION
        },
        part_number,
        stripe,
        shard,
        layout: Layout { data: 2, parity: 2 },
        data_len,
        payload_len: 0,
        seq: 0x0000_0007_0000_002a,
        payload_crc: 0,
    }
}

fn sse_attr() -> Attr {
    Attr::Sse(
        SseHeader {
            mode: Mode::S3,
            layout: cairn::sse::package::Layout::from_log2(16).unwrap(),
            nonce_base: [0xA0; 12],
            key: KeySource::Kms {
                key_id: "cairn-sse-s3".into(),
                key_version: 1,
                context: Vec::new(),
                wrapped: vec![0xEE; 78],
            },
        }
        .encode(),
    )
}

fn object_meta(data: DataLoc, attrs: Vec<Attr>) -> ObjectMeta {
    ObjectMeta {
        version: VERSION,
        seq: 0x0000_0007_0000_002a,
        size: 300_000,
        etag: "acbd18db4cc2f85cedef654fccc4a4d8".into(),
        modified_ms: 1_796_512_399_708,
        null: false,
        delete_marker: false,
        content_type: Some("image/jpeg".into()),
        headers: vec![
            ("cache-control".into(), "no-cache".into()),
            ("x-amz-checksum-crc32c".into(), "yZRlqg==".into()),
        ],
        user_meta: vec![("colour".into(), "blue".into())],
        layout: (2, 2),
        rotation: 3,
        data,
        tags: vec![("kind".into(), "cat".into()), ("keep".into(), "yes".into())],
        attrs,
    }
}

fn inline_meta() -> ObjectMeta {
    let mut m = object_meta(
        DataLoc::Inline,
        vec![
            Attr::Retention(Retention {
                mode: LockMode::Compliance,
                until_ms: 4_102_444_800_000,
            }),
            Attr::LegalHold,
            sse_attr(),
        ],
    );
    m.size = 11;
    m.null = true;
    m
}

const INLINE_DATA: &[u8] = b"inline data";

fn stripes_meta() -> ObjectMeta {
    object_meta(
        DataLoc::Stripes(vec![
            vec![
                Some(loc(0, 0x0010_0000, 0)),
                Some(loc(1, 0x0010_0000, 8192)),
                None,
                Some(loc(3, 0x0010_0001, 4096)),
            ],
            vec![
                Some(loc(1, 0x0010_0000, 16384)),
                Some(loc(2, 0x0010_0000, 0)),
                Some(loc(3, 0x0010_0001, 12288)),
                Some(loc(0, 0x0010_0000, 8192)),
            ],
        ]),
        vec![Attr::LegalHoldOff, cold_attr(0x0000_0007_0000_0029)],
    )
}

/// A deduplicated version (record format 4 with `DataLoc::Content`).
fn content_meta() -> ObjectMeta {
    object_meta(
        DataLoc::Content {
            ids: vec![[0x11; 32], [0xc4; 32], [0x11; 32]],
        },
        vec![Attr::LegalHoldOff],
    )
}

/// A deduplicated multipart object: contents, and its part table beside
/// them (`Attr::Multipart`).
fn content_multipart_meta() -> ObjectMeta {
    let table = [part_data(1), part_data(2)].map(|p| PartData {
        stripes: Vec::new(),
        ..p
    });
    let mut m = object_meta(
        DataLoc::Content {
            ids: vec![[0x5a; 32], [0xa5; 32]],
        },
        vec![Attr::Multipart {
            upload: UPLOAD,
            parts: table.to_vec(),
        }],
    );
    m.etag = "0d4b2e3c1c5a8e0bfa7d84a1e6f1b93a-2".into();
    m
}

/// A content object's count row.
fn content_row() -> ContentRow {
    ContentRow {
        count: 100,
        zero_since_ms: 1_790_000_000_123,
        size: 1 << 20,
    }
}

/// Record format 4's storage class attribute.
fn cold_attr(data_gen: u64) -> Attr {
    Attr::StorageClass(ClassAttr {
        name: "COLD".into(),
        data_gen,
    })
}

/// A value as a format before storage classes holds it.
fn without_class(attrs: &mut Vec<Attr>) {
    attrs.retain(|a| !matches!(a, Attr::StorageClass(_)));
}

fn part_data(number: u32) -> PartData {
    PartData {
        number,
        size: 150 << 10,
        etag: "9e107d9d372bb6826bd81d3542a419d6".into(),
        checksums: vec![("x-amz-checksum-crc32".into(), "NhCmhg==".into())],
        modified_ms: 1_796_512_399_000 + u64::from(number),
        rotation: 1,
        stripes: vec![vec![
            Some(loc(1, 0x0010_0000, 0)),
            Some(loc(2, 0x0010_0000, 0)),
            Some(loc(3, 0x0010_0000, 0)),
            None,
        ]],
    }
}

fn parts_meta() -> ObjectMeta {
    let mut m = object_meta(
        DataLoc::Parts {
            upload: UPLOAD,
            parts: vec![part_data(1), part_data(2)],
        },
        vec![
            sse_attr(),
            Attr::PartNonces(vec![(1, [0x11; 12]), (2, [0x22; 12])]),
        ],
    );
    m.etag = "0d4b2e3c1c5a8e0bfa7d84a1e6f1b93a-2".into();
    m
}

fn upload_meta() -> UploadMeta {
    UploadMeta {
        upload: UPLOAD,
        created_ms: 1_796_512_398_000,
        content_type: Some("application/octet-stream".into()),
        headers: vec![("content-encoding".into(), "gzip".into())],
        user_meta: vec![("owner".into(), "ops".into())],
        layout: (2, 2),
        rotation: 1,
        tags: vec![("stage".into(), "raw".into())],
        checksum: Some(UploadChecksum {
            algorithm: "CRC32".into(),
            full_object: false,
        }),
        attrs: vec![
            Attr::Retention(Retention {
                mode: LockMode::Governance,
                until_ms: 4_102_444_800_000,
            }),
            sse_attr(),
            cold_attr(0),
        ],
    }
}

fn part_meta() -> PartMeta {
    PartMeta {
        upload: UPLOAD,
        seq: 0x0000_0007_0000_0031,
        layout: (2, 2),
        part: part_data(2),
        attrs: vec![Attr::NonceBase([0x22; 12]), cold_attr(0)],
    }
}

const ENDED_MS: u64 = 1_796_512_400_123;

/// Every record file: name, header (payload fields still to fill) and
/// payload, as today's writer makes them.
fn records() -> Vec<(&'static str, RecordHeader, Vec<u8>)> {
    let v = FORMAT_VERSION;
    assert_eq!(v, 4, "a new record format needs its own golden files");
    vec![
        (
            "record-shard.v4.bin",
            header(Kind::Shard, 0, 1, 2, 1 << 20),
            (0..=255u8).cycle().take(5000).collect(),
        ),
        (
            "record-commit-inline.v4.bin",
            header(Kind::Commit, 0, 0, 1, 11),
            encode_commit_payload(&inline_meta(), b"", INLINE_DATA),
        ),
        (
            "record-commit-stripes.v4.bin",
            header(Kind::Commit, 0, 0, 0, 300_000),
            encode_commit_payload(&stripes_meta(), b"", b""),
        ),
        (
            "record-commit-parts.v4.bin",
            header(Kind::Commit, 0, 0, 2, 300_000),
            encode_commit_payload(&parts_meta(), b"", b""),
        ),
        (
            "record-commit-content.v4.bin",
            header(Kind::Commit, 0, 0, 0, 300_000),
            encode_commit_payload(&content_meta(), b"", b""),
        ),
        (
            "record-commit-content-multipart.v4.bin",
            header(Kind::Commit, 0, 0, 0, 300_000),
            encode_commit_payload(&content_multipart_meta(), b"", b""),
        ),
        (
            "record-tombstone-null.v4.bin",
            header(Kind::Tombstone, 0, 0, 0, 0),
            encode_tombstone(VersionSel::Null, b""),
        ),
        (
            "record-tombstone-version.v4.bin",
            header(Kind::Tombstone, 0, 0, 1, 0),
            encode_tombstone(VersionSel::Id(VERSION), b""),
        ),
        (
            "record-commit-events.v4.bin",
            header(Kind::Commit, 0, 0, 0, 300_000),
            encode_commit_payload(&stripes_meta(), &encode_events(&events()), b""),
        ),
        (
            "record-tombstone-events.v4.bin",
            header(Kind::Tombstone, 0, 0, 1, 0),
            encode_tombstone(VersionSel::Id(VERSION), &encode_events(&events())),
        ),
        (
            "record-upload.v4.bin",
            header(Kind::Upload, 0, 0, 0, 0),
            encode_upload_payload(&upload_meta()),
        ),
        (
            "record-part.v4.bin",
            header(Kind::Part, 2, 0, 1, 150 << 10),
            encode_part_payload(&part_meta()),
        ),
        (
            "record-upload-end.v4.bin",
            header(Kind::UploadEnd, 0, 0, 0, 0),
            encode_upload_end(ENDED_MS).to_vec(),
        ),
    ]
}

/// The notification events a change's record carries (format 4).
fn events() -> Vec<Queued> {
    let row = |name: &str, seq: u64| EventRow {
        name: name.into(),
        time_ms: ENDED_MS,
        bucket: "photos".into(),
        key: "2024/cat.jpg".into(),
        version_id: Some(format!("{VERSION:032x}")),
        size: Some(300_000),
        etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
        seq,
        config_id: "new-photos".into(),
        principal: "AKIAGOLDEN".into(),
        source_ip: "192.0.2.7".into(),
        request_id: "1809A6D4B5C2E001".into(),
    };
    vec![
        Queued {
            target: "orders".into(),
            row: row("ObjectCreated:Put", 7),
        },
        Queued {
            target: "audit-hook".into(),
            row: row("ObjectCreated:Put", 7),
        },
    ]
}

/// A whole record as the engine writes it: header, payload, zeroes to 4 KiB.
fn encode_record(mut h: RecordHeader, payload: &[u8]) -> Vec<u8> {
    h.payload_len = payload.len() as u32;
    h.payload_crc = crc32c::crc32c(payload);
    let mut buf = vec![0u8; h.record_len()];
    h.encode_into(&mut buf, key());
    let hl = h.header_len();
    buf[hl..hl + payload.len()].copy_from_slice(payload);
    buf
}

/// Rewrites a record's format and reseals its header checksum, as a cairn
/// writing that format with the same frame would.
fn with_format(mut rec: Vec<u8>, format: u16) -> Vec<u8> {
    let hl = u16::from_le_bytes([rec[8], rec[9]]) as usize;
    rec[4..6].copy_from_slice(&format.to_le_bytes());
    rec[68..72].fill(0);
    let crc = crc32c::crc32c_append(key(), &rec[..hl]);
    rec[68..72].copy_from_slice(&crc.to_le_bytes());
    rec
}

/// Drops the trailing empty attribute list of a postcard-encoded value:
/// what formats before `Attr` wrote.
fn without_attrs(mut b: Vec<u8>) -> Vec<u8> {
    assert_eq!(b.pop(), Some(0), "an empty attribute list is one zero byte");
    b
}

/// Records of older formats, rebuilt from their frozen layouts (format 1:
/// commit and upload metadata end before the attributes; formats 1 and 2:
/// part metadata too). The header layout is the same in formats 1 to 3.
fn older_records() -> Vec<(&'static str, Vec<u8>)> {
    let mut commit = stripes_meta();
    commit.attrs.clear();
    let mut p = encode_commit_payload(&commit, b"", b"");
    let len = u32::from_le_bytes(p[0..4].try_into().unwrap()) as usize;
    let m = without_attrs(p[4..4 + len].to_vec());
    p = [&(m.len() as u32).to_le_bytes()[..], &m].concat();
    let mut upload = upload_meta();
    upload.attrs.clear();
    let mut part = part_meta();
    part.attrs.clear();
    vec![
        (
            "record-commit-stripes.v1.bin",
            with_format(encode_record(header(Kind::Commit, 0, 0, 0, 300_000), &p), 1),
        ),
        (
            "record-upload.v1.bin",
            with_format(
                encode_record(
                    header(Kind::Upload, 0, 0, 0, 0),
                    &without_attrs(encode_upload_payload(&upload)),
                ),
                1,
            ),
        ),
        (
            "record-part.v2.bin",
            with_format(
                encode_record(
                    header(Kind::Part, 2, 0, 1, 150 << 10),
                    &without_attrs(encode_part_payload(&part)),
                ),
                2,
            ),
        ),
    ]
}

fn index_entry() -> IndexEntry {
    IndexEntry {
        meta: stripes_meta(),
        commits: vec![loc(0, 0, 4096), loc(1, 0, 0), loc(2, 0, 8192)],
    }
}

fn upload_entry() -> UploadEntry {
    UploadEntry {
        meta: upload_meta(),
        commits: vec![loc(1, 0, 0), loc(2, 0, 0), loc(3, 0, 0)],
    }
}

fn part_entry() -> PartEntry {
    PartEntry {
        meta: part_meta(),
        commits: vec![loc(1, 0, 4096), loc(2, 0, 4096), loc(3, 0, 4096)],
    }
}

fn usage() -> BucketUsage {
    BucketUsage {
        objects: 7,
        bytes: 1_234_567,
        versions: 9,
        version_bytes: 2_345_678,
        delete_markers: 1,
        stored_bytes: 5_000_000,
        uploads: 2,
        upload_parts: 3,
        upload_bytes: 30_000,
        upload_stored_bytes: 90_112,
    }
}

fn heal_file() -> HealFile {
    HealFile {
        format: 1,
        generation: 3,
        drives: vec![HealId {
            drive: 2,
            since_ms: 1_764_000_000_000,
        }],
    }
}

fn partition_heal() -> PartitionHeal {
    let h = |drive, since_ms| HealId { drive, since_ms };
    PartitionHeal {
        format: 1,
        pass: Some(HealPass {
            heals: vec![h(2, 1_764_000_000_000)],
            at: Some(ScrubPos {
                db: 1,
                key: b"bkt\0key".to_vec(),
            }),
            walked: 42,
        }),
        done: vec![h(1, 1_763_000_000_000)],
    }
}

fn drive_format() -> DriveFormat {
    drive_format_of(4)
}

/// The drive format file of `format_version` (from 2 on, only the
/// number changes: it says which record formats the drives may hold).
fn drive_format_of(format_version: u32) -> DriveFormat {
    DriveFormat {
        format_version,
        node_id: "00112233445566778899aabbccddeeff".into(),
        set_id: SET_ID.into(),
        drive_index: 1,
        drive_count: 4,
        layout: "2+2".into(),
        partitions: 16,
    }
}

fn bucket_table() -> BucketTable {
    let mut t = BucketTable {
        generation: 12,
        ..Default::default()
    };
    t.buckets.insert(
        "plain".into(),
        BucketInfo {
            created_ms: 1_796_512_399_645,
            ..Default::default()
        },
    );
    t.buckets.insert(
        "everything".into(),
        BucketInfo {
            created_ms: 1_796_512_399_708,
            versioning: Versioning::Enabled,
            tags: Some(vec![("team".into(), "storage".into())]),
            owner: Some(BucketOwner {
                canonical_id: "c0ffee".into(),
                arn: "arn:aws:iam::000000000000:user/alice".into(),
            }),
            policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
            public_access_block: Some(PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: false,
                block_public_policy: true,
                restrict_public_buckets: false,
            }),
            acl: Some(cairn::iam::acl::Acl::private("c0ffee")),
            ownership: Some(ObjectOwnership::BucketOwnerPreferred),
            quota: Some(1 << 30),
            object_lock: Some(ObjectLockConfig {
                default_retention: Some(DefaultRetention {
                    mode: LockMode::Governance,
                    period: RetentionPeriod::Days(30),
                }),
            }),
            encryption: Some(BucketEncryption {
                algorithm: BucketSse::Kms,
                kms_key_id: Some("golden-key".into()),
                bucket_key_enabled: true,
            }),
            cors: None,
            lifecycle: None,
            website: None,
            notifications: None,
            logging: None,
            dedup: false,
        },
    );
    t
}

/// Format 2: the table of format 1 with CORS rules on "everything".
fn bucket_table_v2() -> BucketTable {
    let mut t = bucket_table();
    if let Some(b) = t.buckets.get_mut("everything") {
        b.cors = Some(BucketCors {
            rules: vec![
                CorsRule {
                    id: Some("app".into()),
                    allowed_origins: vec!["https://*.example.com".into()],
                    allowed_methods: vec!["GET".into(), "PUT".into()],
                    allowed_headers: vec!["*".into()],
                    expose_headers: vec!["ETag".into()],
                    max_age_seconds: Some(3000),
                },
                CorsRule {
                    id: None,
                    allowed_origins: vec!["*".into()],
                    allowed_methods: vec!["HEAD".into()],
                    ..Default::default()
                },
            ],
        });
    }
    t
}

/// Format 3: the table of format 2 with lifecycle rules on "everything",
/// one of each scope form and action cairn stores.
fn bucket_table_v3() -> BucketTable {
    let mut t = bucket_table_v2();
    if let Some(b) = t.buckets.get_mut("everything") {
        b.lifecycle = Some(Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![
                LifecycleRule {
                    id: "logs".into(),
                    enabled: true,
                    scope: Scope::Prefix("logs/".into()),
                    expiration: Some(Expiration::Days(30)),
                    noncurrent_expiration: Some(NoncurrentExpiration {
                        noncurrent_days: 7,
                        newer_noncurrent_versions: Some(3),
                    }),
                    abort_incomplete_upload_days: Some(2),
                    transitions: Vec::new(),
                },
                LifecycleRule {
                    id: "dated".into(),
                    enabled: false,
                    scope: Scope::Filter(Some(LifecycleFilter::And(And {
                        prefix: Some("tmp/".into()),
                        tags: vec![Tag {
                            key: "class".into(),
                            value: "scratch".into(),
                        }],
                        size_greater_than: Some(1),
                        size_less_than: Some(1 << 20),
                    }))),
                    expiration: Some(Expiration::DateMs(1_356_220_800_000)),
                    noncurrent_expiration: None,
                    abort_incomplete_upload_days: None,
                    transitions: Vec::new(),
                },
                LifecycleRule {
                    id: "markers".into(),
                    enabled: true,
                    scope: Scope::Filter(None),
                    expiration: Some(Expiration::ExpiredObjectDeleteMarker(true)),
                    noncurrent_expiration: None,
                    abort_incomplete_upload_days: None,
                    transitions: Vec::new(),
                },
                LifecycleRule {
                    id: "tagged".into(),
                    enabled: true,
                    scope: Scope::Filter(Some(LifecycleFilter::Tag(Tag {
                        key: "k".into(),
                        value: "v".into(),
                    }))),
                    expiration: Some(Expiration::Days(1)),
                    noncurrent_expiration: None,
                    abort_incomplete_upload_days: None,
                    transitions: Vec::new(),
                },
                LifecycleRule {
                    id: "sizes".into(),
                    enabled: true,
                    scope: Scope::Filter(Some(LifecycleFilter::SizeGreaterThan(5))),
                    expiration: None,
                    noncurrent_expiration: None,
                    abort_incomplete_upload_days: Some(1),
                    transitions: Vec::new(),
                },
                LifecycleRule {
                    id: "small".into(),
                    enabled: true,
                    scope: Scope::Filter(Some(LifecycleFilter::SizeLessThan(5))),
                    expiration: Some(Expiration::Days(9)),
                    noncurrent_expiration: None,
                    abort_incomplete_upload_days: None,
                    transitions: Vec::new(),
                },
                LifecycleRule {
                    id: "prefix".into(),
                    enabled: true,
                    scope: Scope::Filter(Some(LifecycleFilter::Prefix("p/".into()))),
                    expiration: Some(Expiration::Days(4)),
                    noncurrent_expiration: None,
                    abort_incomplete_upload_days: None,
                    transitions: Vec::new(),
                },
            ],
        });
    }
    t
}

/// Format 4: the table of format 3 with a website on "everything" (index
/// and error documents, a routing rule of each form) and a redirect of
/// every request on "plain".
fn bucket_table_v4() -> BucketTable {
    let mut t = bucket_table_v3();
    if let Some(b) = t.buckets.get_mut("everything") {
        b.website = Some(Website::Site(Site {
            index_suffix: "index.html".into(),
            error_key: Some("errors/404.html".into()),
            rules: vec![
                RoutingRule {
                    condition: Some(Condition {
                        key_prefix: Some("docs/".into()),
                        error_code: None,
                    }),
                    redirect: Redirect {
                        replace: Some(Replace::Prefix("documents/".into())),
                        ..Default::default()
                    },
                },
                RoutingRule {
                    condition: Some(Condition {
                        key_prefix: Some("old/".into()),
                        error_code: Some(404),
                    }),
                    redirect: Redirect {
                        host: Some("archive.example.com".into()),
                        protocol: Some(Protocol::Https),
                        code: Some(302),
                        replace: Some(Replace::Key("gone.html".into())),
                    },
                },
                RoutingRule {
                    condition: None,
                    redirect: Redirect {
                        protocol: Some(Protocol::Http),
                        ..Default::default()
                    },
                },
            ],
        }));
    }
    if let Some(b) = t.buckets.get_mut("plain") {
        b.website = Some(Website::RedirectAll(RedirectAll {
            host: "www.example.com".into(),
            protocol: None,
        }));
    }
    t
}

/// Format 5: the table of format 4 with event notification rules on
/// "everything" (one of each kind, a prefix and a suffix filter).
fn bucket_table_v5() -> BucketTable {
    let mut t = bucket_table_v4();
    let rule =
        |id: &str, kind, arn: &str, events: &[&str], prefix: &str, suffix: &str| NotifyRule {
            id: id.into(),
            kind,
            arn: arn.into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            prefix: prefix.into(),
            suffix: suffix.into(),
        };
    if let Some(b) = t.buckets.get_mut("everything") {
        b.notifications = Some(Notifications {
            rules: vec![
                rule(
                    "images",
                    RuleKind::Queue,
                    "arn:cairn:sqs::hook:webhook",
                    &["s3:ObjectCreated:*"],
                    "images/",
                    ".jpg",
                ),
                rule(
                    "removed",
                    RuleKind::Topic,
                    "arn:cairn:sns::hook:webhook",
                    &[
                        "s3:ObjectRemoved:Delete",
                        "s3:ObjectRemoved:DeleteMarkerCreated",
                    ],
                    "",
                    "",
                ),
                rule(
                    "tags",
                    RuleKind::Function,
                    "arn:cairn:lambda::hook:webhook",
                    &["s3:ObjectTagging:*"],
                    "logs/",
                    "",
                ),
            ],
        });
    }
    t
}

/// Format 6: the table of format 5 with server access logging on
/// "everything" (partitioned keys by event time, one grant) and on
/// "plain" (simple keys, no grant, no key format sent).
fn bucket_table_v6() -> BucketTable {
    use cairn::bucket_logging::{BucketLogging, DateSource, KeyFormat};
    use cairn::iam::acl::{Grant, Grantee, Group, Permission};
    let mut t = bucket_table_v5();
    if let Some(b) = t.buckets.get_mut("everything") {
        b.logging = Some(BucketLogging {
            target_bucket: "plain".into(),
            target_prefix: "logs/everything/".into(),
            target_grants: vec![Grant {
                grantee: Grantee::Group(Group::AuthenticatedUsers),
                permission: Permission::Read,
            }],
            key_format: Some(KeyFormat::Partitioned(DateSource::EventTime)),
        });
    }
    if let Some(b) = t.buckets.get_mut("plain") {
        b.logging = Some(BucketLogging {
            target_bucket: "plain".into(),
            target_prefix: String::new(),
            target_grants: Vec::new(),
            key_format: None,
        });
    }
    t
}

/// Format 7: the table of format 6 with lifecycle transitions on
/// "everything" (by days, by date, and of noncurrent versions).
fn bucket_table_v7() -> BucketTable {
    use cairn::lifecycle::{Transition, TransitionWhen};
    let mut t = bucket_table_v6();
    if let Some(lc) = t
        .buckets
        .get_mut("everything")
        .and_then(|b| b.lifecycle.as_mut())
    {
        lc.rules[0].transitions = vec![
            Transition {
                when: TransitionWhen::Days(30),
                class: "COLD".into(),
            },
            Transition {
                when: TransitionWhen::Noncurrent {
                    noncurrent_days: 7,
                    newer_noncurrent_versions: Some(2),
                },
                class: "REDUCED_REDUNDANCY".into(),
            },
        ];
        lc.rules[1].transitions = vec![Transition {
            when: TransitionWhen::DateMs(1_356_134_400_000),
            class: "COLD".into(),
        }];
    }
    t
}

/// Format 8: the table of format 7 with deduplication on "plain".
fn bucket_table_v8() -> BucketTable {
    let mut t = bucket_table_v7();
    if let Some(b) = t.buckets.get_mut("plain") {
        b.dedup = true;
    }
    t
}

/// Format 9: the lifecycle of "everything" with the transition minimum
/// that is not the default.
fn bucket_table_v9() -> BucketTable {
    let mut t = bucket_table_v8();
    if let Some(lc) = t
        .buckets
        .get_mut("everything")
        .and_then(|b| b.lifecycle.as_mut())
    {
        lc.transition_minimum = TransitionMinimum::VariesByStorageClass;
    }
    t
}

fn bucket_table_v10() -> BucketTable {
    let mut t = bucket_table_v9();
    t.tenant_quotas.insert("acme".into(), 10 << 30);
    t
}

const USER_KEY_ID: &str = "AKIAGOLDENUSERKEY001";
const USER_SECRET: &str = "golden-user-secret-0123456789abcdefghij";

/// The identity state, with the user's key sealed as `sealed`.
fn iam_state(sealed: Sealed) -> IamState {
    let mut s = IamState::default();
    s.users.insert(
        "golden-user".into(),
        User {
            name: "Golden-User".into(),
            id: "AIDAGOLDENUSER000001".into(),
            path: "/staff/".into(),
            arn: "arn:aws:iam::000000000000:user/staff/Golden-User".into(),
            created_ms: 1_796_512_390_000,
            enabled: true,
            tags: vec![("dept".into(), "ops".into())],
            groups: BTreeSet::from(["readers".to_owned()]),
            inline: BTreeMap::from([(
                "read-plain".to_owned(),
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::plain/*"}]}"#.to_owned(),
            )]),
            attached: BTreeSet::from(["arn:aws:iam::000000000000:policy/list-all".to_owned()]),
            tenant: String::new(),
        },
    );
    s.groups.insert(
        "readers".into(),
        Group {
            name: "Readers".into(),
            id: "AGPAGOLDENGROUP00001".into(),
            path: "/".into(),
            arn: "arn:aws:iam::000000000000:group/Readers".into(),
            created_ms: 1_796_512_391_000,
            members: BTreeSet::from(["golden-user".to_owned()]),
            inline: BTreeMap::new(),
            attached: BTreeSet::new(),
        },
    );
    s.keys.insert(
        USER_KEY_ID.into(),
        AccessKey {
            id: USER_KEY_ID.into(),
            user: "Golden-User".into(),
            sealed,
            status: KeyStatus::Active,
            expires_ms: Some(4_102_444_800_000),
            description: "ci".into(),
            created_ms: 1_796_512_392_000,
            last_used: Some(LastUsed {
                at_ms: 1_796_512_393_000,
                service: "s3".into(),
                region: "us-east-1".into(),
            }),
            service: Some(ServiceAccount {
                name: "backup".into(),
                policy: None,
            }),
        },
    );
    s.policies.insert(
        "arn:aws:iam::000000000000:policy/list-all".into(),
        ManagedPolicy {
            name: "list-all".into(),
            id: "ANPAGOLDENPOLICY0001".into(),
            path: "/".into(),
            arn: "arn:aws:iam::000000000000:policy/list-all".into(),
            description: "lists".into(),
            default_version: "v1".into(),
            document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#.into(),
            attachments: 1,
            created_ms: 1_796_512_394_000,
            updated_ms: 1_796_512_395_000,
        },
    );
    s.roles.insert(
        "deployer".into(),
        Role {
            name: "Deployer".into(),
            id: "AROAGOLDENROLE000001".into(),
            path: "/".into(),
            arn: "arn:aws:iam::000000000000:role/Deployer".into(),
            description: String::new(),
            trust_policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#.into(),
            max_session_secs: 3600,
            created_ms: 1_796_512_396_000,
            inline: BTreeMap::new(),
            attached: BTreeSet::new(),
        },
    );
    s
}

/// Format 2: a tenant and a user in it, beside format 1's state.
fn iam_state_v2(sealed: Sealed) -> IamState {
    let mut s = iam_state(sealed);
    s.tenants.insert(
        "acme".into(),
        Tenant {
            name: "acme".into(),
            created_ms: 1_796_512_398_000,
        },
    );
    s.users.insert(
        "acme-user".into(),
        User {
            name: "Acme-User".into(),
            id: "AIDAGOLDENUSER000002".into(),
            path: "/".into(),
            arn: "arn:aws:iam::000000000000:user/Acme-User".into(),
            created_ms: 1_796_512_399_000,
            enabled: true,
            tags: Vec::new(),
            groups: BTreeSet::new(),
            inline: BTreeMap::new(),
            attached: BTreeSet::new(),
            tenant: "acme".into(),
        },
    );
    s
}

fn settings() -> Saved {
    Saved {
        values: vec![SavedValue {
            name: "ratelimit.requestsPerSecondPerKey".into(),
            value: "1000/1000".into(),
            default: "0".into(),
        }],
        history: vec![Change {
            time_ms: 1_796_512_397_000,
            access_key: "ROOTACCESSKEY0000001".into(),
            user: "root".into(),
            name: "ratelimit.requestsPerSecondPerKey".into(),
            old: "0".into(),
            new: "1000/1000".into(),
        }],
    }
}

fn drive_holds() -> DriveHolds {
    DriveHolds {
        holds: vec![
            Hold {
                drive: 2,
                kind: HoldKind::Offline,
                since_ms: 1_796_512_399_000,
                reason: "new cable".into(),
            },
            Hold {
                drive: 5,
                kind: HoldKind::OutOfService,
                since_ms: 1_796_512_399_500,
                reason: "went offline 3 times within 60 minutes".into(),
            },
        ],
    }
}

const SEALED_SECRET: &str = "golden sealed secret";
const SEALED_AAD: &[u8] = b"cairn-golden:sealed";
const KMS_CREATED_MS: u64 = 1_796_512_398_500;

fn kms_context() -> Context {
    Context::from([("aws:s3:arn".to_owned(), "arn:aws:s3:::plain/k".to_owned())])
}

fn drives(t: &tempfile::TempDir, n: usize) -> Vec<PathBuf> {
    let d: Vec<PathBuf> = (0..n).map(|i| t.path().join(format!("d{i}"))).collect();
    for p in &d {
        std::fs::create_dir_all(p.join(".cairn")).unwrap();
    }
    d
}

// ---------------------------------------------------------------------------
// Writing the golden files (once per format)
/// A `stale` row of the index: segments that may hold commit records.
fn stale_segments() -> Vec<(u16, u32)> {
    vec![(0, 0x0010_0003), (5, 0x0030_0001)]
}

/// A reverse-map key: a part's records in one segment.
fn ref_key() -> Vec<u8> {
    segment_ref_key(
        (2, 0x0020_0007),
        "bkt",
        "dir/key",
        Holder::Part {
            upload: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
            number: 3,
            seq: 0x0000_0001_0000_0009,
        },
    )
}

/// The notification targets as format 1 knew them: webhooks.
fn notify_targets_v1() -> cairn::notify::targets::Saved {
    use cairn::notify::targets::{Saved as Targets, Target};
    Targets {
        targets: vec![Target {
            name: "hook".into(),
            endpoint: "https://hooks.example.com/s3".into(),
            auth_token: Some("s3cret".into()),
            ca_cert: None,
            queue_limit: 1000,
            subject: None,
            jetstream: false,
        }],
    }
}

/// Format 2 adds NATS targets.
fn notify_targets() -> cairn::notify::targets::Saved {
    let mut s = notify_targets_v1();
    s.targets.push(cairn::notify::targets::Target {
        name: "bus".into(),
        endpoint: "nats://127.0.0.1:4222".into(),
        auth_token: Some("natstoken".into()),
        ca_cert: None,
        queue_limit: 500,
        subject: Some("cairn.events".into()),
        jetstream: true,
    });
    s
}

// ---------------------------------------------------------------------------

#[test]
#[ignore = "writes the golden files that do not exist yet: run only to add the files of a new format"]
fn regenerate_golden_payloads() {
    let out = dir();
    std::fs::create_dir_all(&out).unwrap();
    // A committed file is the evidence that its format stays readable:
    // only files that do not exist yet are written.
    let write = |name: &str, bytes: &[u8]| {
        use std::io::Write;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(out.join(name))
        {
            Ok(mut f) => f.write_all(bytes).unwrap(),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                eprintln!("{name} exists: kept as it is")
            }
            Err(e) => panic!("{name}: {e}"),
        }
    };
    for (name, h, payload) in records() {
        write(name, &encode_record(h, &payload));
    }
    for (name, bytes) in older_records() {
        write(name, &bytes);
    }
    write("index-entry.v4.bin", &encode_entry(&index_entry()));
    write(
        "index-upload.v4.bin",
        &postcard::to_allocvec(&upload_entry()).unwrap(),
    );
    write(
        "index-part.v4.bin",
        &postcard::to_allocvec(&part_entry()).unwrap(),
    );
    write(
        "index-usage.v1.bin",
        &postcard::to_allocvec(&usage()).unwrap(),
    );
    write(
        "index-content.v1.bin",
        &postcard::to_allocvec(&content_row()).unwrap(),
    );
    write("index-stale.v1.bin", &encode_stale(&stale_segments()));
    write("index-ref-key.v1.bin", &ref_key());
    write("format.v4.json", &encode_format(&drive_format()));
    write("heal.v1.json", &heal_file().encode());
    write("index-heal.v1.bin", &partition_heal().encode());
    write("buckets.v8.json", &bucket_table_v8().encode().unwrap());
    write("buckets.v9.json", &bucket_table_v9().encode().unwrap());
    write("buckets.v10.json", &bucket_table_v10().encode().unwrap());
    write(
        "system-store.v1.bin",
        &DriveStore::encode(7, b"{\"format\":1}"),
    );
    write("master.key", master().encode().as_bytes());

    let m = master();
    write(
        "sealed.v1.bin",
        m.seal(SEALED_SECRET.as_bytes(), SEALED_AAD).as_bytes(),
    );
    let sealed = m.seal(USER_SECRET.as_bytes(), &key_aad(USER_KEY_ID));
    write("iam.state.v2.json", &iam_state_v2(sealed).encode().unwrap());
    write("settings.state.v1.json", &settings().encode().unwrap());
    write("drives.state.v1.json", &drive_holds().encode().unwrap());
    write(
        "notify.state.v1.json",
        &cairn::format_version::encode_json(1, &notify_targets_v1(), false).unwrap(),
    );
    write("notify.state.v2.json", &notify_targets().encode().unwrap());

    // The KMS state and a data key it wrapped, by the built-in KMS itself.
    let t = tempfile::tempdir().unwrap();
    let d = drives(&t, 1);
    let store = Box::new(DriveStore::named(d.clone(), 1, STATE_FILE));
    let (mut kms, _) = BuiltinKms::open(store, std::sync::Arc::new(master())).unwrap();
    kms.create_key("golden-key", KMS_CREATED_MS).unwrap();
    let g = kms.generate_data_key("golden-key", &kms_context()).unwrap();
    let file = std::fs::read(d[0].join(".cairn").join(STATE_FILE)).unwrap();
    let (_, payload) = DriveStore::decode(&file).unwrap();
    write("kms.state.v1.json", payload);
    write("kms-wrapped.v1.bin", &g.wrapped);
    write("kms-data-key.bin", g.key.expose());

    // Root credentials, as start-up generates and seals them.
    let (c, _) = cairn::iam::root::resolve(None, None, &d, &master()).unwrap();
    write(
        "credentials.v1.json",
        &std::fs::read(cairn::iam::root::cred_path(&d[0])).unwrap(),
    );
    write(
        "credentials.expected.txt",
        format!("{} {}\n", c.access_key, c.secret_key.expose()).as_bytes(),
    );
}

// ---------------------------------------------------------------------------
// Today's decoders read every golden file to its values
// ---------------------------------------------------------------------------

/// A record's encoded events: those of `events()` in the files named so,
/// none in the others.
fn check_events(name: &str, encoded: &[u8]) {
    if name.contains("-events") {
        assert_eq!(decode_events(encoded), Some(events()), "{name}");
    } else {
        assert!(encoded.is_empty(), "{name} carries no events");
    }
}

/// The kind-specific payload of a record, decoded and checked.
fn check_payload(name: &str, h: &RecordHeader, payload: &[u8]) {
    match h.kind {
        Kind::Shard => assert_eq!(
            payload,
            (0..=255u8).cycle().take(5000).collect::<Vec<_>>(),
            "{name}"
        ),
        Kind::Commit => {
            let (meta, events, data) = decode_commit_parts(payload, h.format).expect(name);
            check_events(name, events);
            let mut want = match name {
                n if n.starts_with("record-commit-inline") => inline_meta(),
                n if n.starts_with("record-commit-parts") => parts_meta(),
                n if n.starts_with("record-commit-content-multipart") => content_multipart_meta(),
                n if n.starts_with("record-commit-content") => content_meta(),
                _ => stripes_meta(),
            };
            if h.format == 1 {
                want.attrs.clear();
            }
            if h.format < 4 {
                without_class(&mut want.attrs);
            }
            assert_eq!(meta, want, "{name}");
            let want_data: &[u8] = if meta.data == DataLoc::Inline {
                INLINE_DATA
            } else {
                b""
            };
            assert_eq!(data, want_data, "{name}");
            // The encryption header inside decodes too.
            if let Some(sse) = cairn::engine::meta::sse_header(&meta.attrs) {
                let sse = sse.expect("the encryption header decodes");
                assert_eq!((sse.mode, sse.nonce_base), (Mode::S3, [0xA0; 12]), "{name}");
            }
        }
        Kind::Tombstone => {
            let want = if h.shard == 0 {
                VersionSel::Null
            } else {
                VersionSel::Id(VERSION)
            };
            let (target, events) = decode_tombstone(payload).expect(name);
            assert_eq!(target, want, "{name}");
            check_events(name, events);
        }
        Kind::Upload => {
            let mut want = upload_meta();
            if h.format == 1 {
                want.attrs.clear();
            }
            if h.format < 4 {
                without_class(&mut want.attrs);
            }
            assert_eq!(
                decode_upload_payload(payload, h.format),
                Some(want),
                "{name}"
            );
        }
        Kind::Part => {
            let mut want = part_meta();
            if h.format < 3 {
                want.attrs.clear();
            }
            if h.format < 4 {
                without_class(&mut want.attrs);
            }
            assert_eq!(decode_part_payload(payload, h.format), Some(want), "{name}");
        }
        Kind::UploadEnd => assert_eq!(decode_upload_end(payload), Some(ENDED_MS), "{name}"),
    }
}

#[test]
fn golden_records_of_every_kind_and_format_decode_to_their_values() {
    let older: Vec<(&str, u16)> = vec![
        ("record-commit-stripes.v1.bin", 1),
        ("record-upload.v1.bin", 1),
        ("record-part.v2.bin", 2),
        ("record-shard.v3.bin", 3),
        ("record-commit-inline.v3.bin", 3),
        ("record-commit-stripes.v3.bin", 3),
        ("record-commit-parts.v3.bin", 3),
        ("record-tombstone-null.v3.bin", 3),
        ("record-tombstone-version.v3.bin", 3),
        ("record-upload.v3.bin", 3),
        ("record-part.v3.bin", 3),
        ("record-upload-end.v3.bin", 3),
    ];
    let unversioned =
        |n: &str| (1..=FORMAT_VERSION).fold(n.to_owned(), |n, v| n.replace(&format!(".v{v}"), ""));
    let all = records()
        .into_iter()
        .map(|(n, h, _)| (n, h))
        .chain(older.iter().map(|&(n, f)| {
            let (_, mut h, _) = records()
                .into_iter()
                .find(|(c, _, _)| unversioned(c) == unversioned(n))
                .expect("the same record in the current format");
            h.format = f;
            (n, h)
        }))
        .collect::<Vec<_>>();
    for (name, want) in all {
        let bytes = read(name);
        assert_eq!(bytes.len() % 4096, 0, "{name} is padded to 4 KiB");
        let h = RecordHeader::decode(&bytes, key()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let payload = h.payload(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut want = want;
        want.payload_len = h.payload_len;
        want.payload_crc = h.payload_crc;
        assert_eq!(h, want, "{name}");
        check_payload(name, &h, payload);
    }
}

#[test]
fn golden_index_values_decode_to_their_values() {
    assert_eq!(
        decode_entry(&read("index-entry.v4.bin")),
        Some(index_entry())
    );
    assert_eq!(
        postcard::from_bytes::<UploadEntry>(&read("index-upload.v4.bin")).unwrap(),
        upload_entry()
    );
    assert_eq!(
        postcard::from_bytes::<PartEntry>(&read("index-part.v4.bin")).unwrap(),
        part_entry()
    );
    // Entries a format-3 node wrote: the same values less their class.
    let mut e = index_entry();
    without_class(&mut e.meta.attrs);
    assert_eq!(decode_entry(&read("index-entry.v3.bin")), Some(e));
    let mut u = upload_entry();
    without_class(&mut u.meta.attrs);
    assert_eq!(
        postcard::from_bytes::<UploadEntry>(&read("index-upload.v3.bin")).unwrap(),
        u
    );
    let mut p = part_entry();
    without_class(&mut p.meta.attrs);
    assert_eq!(
        postcard::from_bytes::<PartEntry>(&read("index-part.v3.bin")).unwrap(),
        p
    );
    assert_eq!(
        postcard::from_bytes::<BucketUsage>(&read("index-usage.v1.bin")).unwrap(),
        usage()
    );
    assert_eq!(
        postcard::from_bytes::<ContentRow>(&read("index-content.v1.bin")).unwrap(),
        content_row()
    );
    assert_eq!(
        decode_stale(&read("index-stale.v1.bin")),
        Some(stale_segments())
    );
    assert_eq!(
        PartitionHeal::decode(&read("index-heal.v1.bin")).unwrap(),
        partition_heal()
    );
}

#[test]
fn golden_notification_targets_decode_to_their_values() {
    use cairn::notify::targets::Saved as Targets;
    assert_eq!(
        Targets::decode(&read("notify.state.v1.json")).unwrap(),
        notify_targets_v1()
    );
    assert_eq!(
        Targets::decode(&read("notify.state.v2.json")).unwrap(),
        notify_targets()
    );
}

#[test]
fn golden_drive_and_system_files_decode_to_their_values() {
    assert_eq!(
        decode_format(&read("format.v3.json")).unwrap(),
        drive_format_of(3)
    );
    assert_eq!(
        decode_format(&read("format.v4.json")).unwrap(),
        drive_format()
    );
    assert_eq!(
        HealFile::decode(&read("heal.v1.json")).unwrap(),
        heal_file()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v1.json")).unwrap(),
        bucket_table()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v2.json")).unwrap(),
        bucket_table_v2()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v3.json")).unwrap(),
        bucket_table_v3()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v4.json")).unwrap(),
        bucket_table_v4()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v5.json")).unwrap(),
        bucket_table_v5()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v6.json")).unwrap(),
        bucket_table_v6()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v7.json")).unwrap(),
        bucket_table_v7()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v8.json")).unwrap(),
        bucket_table_v8()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v9.json")).unwrap(),
        bucket_table_v9()
    );
    assert_eq!(
        BucketTable::decode(&read("buckets.v10.json")).unwrap(),
        bucket_table_v10()
    );
    assert_eq!(
        DriveStore::decode(&read("system-store.v1.bin")).unwrap(),
        (7, &b"{\"format\":1}"[..])
    );
    assert_eq!(
        Saved::decode(&read("settings.state.v1.json")).unwrap(),
        settings()
    );
    assert_eq!(
        DriveHolds::decode(&read("drives.state.v1.json")).unwrap(),
        drive_holds()
    );
    assert_eq!(
        MasterKey::parse(std::str::from_utf8(&read("master.key")).unwrap())
            .unwrap()
            .encode(),
        master().encode()
    );
    let m = master();
    assert_eq!(
        m.open(&Sealed::from_bytes(read("sealed.v1.bin")), SEALED_AAD)
            .unwrap()
            .expose(),
        SEALED_SECRET
    );

    // The identity state: every field, and the key's secret opens.
    let state = IamState::decode(&read("iam.state.v1.json")).unwrap();
    let sealed = state.keys[USER_KEY_ID].sealed.clone();
    assert_eq!(
        m.open(&sealed, &key_aad(USER_KEY_ID)).unwrap().expose(),
        USER_SECRET
    );
    assert_eq!(state, iam_state(sealed));
    let state = IamState::decode(&read("iam.state.v2.json")).unwrap();
    let sealed = state.keys[USER_KEY_ID].sealed.clone();
    assert_eq!(
        m.open(&sealed, &key_aad(USER_KEY_ID)).unwrap().expose(),
        USER_SECRET
    );
    assert_eq!(state, iam_state_v2(sealed));

    // The KMS state opens under the master key and unwraps its data key.
    let kms = KmsState::decode(&read("kms.state.v1.json")).unwrap();
    assert_eq!(kms.format, 1);
    assert_eq!(kms.keys.keys().collect::<Vec<_>>(), ["golden-key"]);
    let k = &kms.keys["golden-key"];
    assert_eq!(
        (k.created_ms, k.enabled, k.versions.len()),
        (KMS_CREATED_MS, true, 1)
    );
    assert_eq!(
        (k.versions[0].version, k.versions[0].created_ms),
        (1, KMS_CREATED_MS)
    );
    let t = tempfile::tempdir().unwrap();
    let d = drives(&t, 1);
    let store = DriveStore::named(d.clone(), 1, STATE_FILE);
    store.store(1, &read("kms.state.v1.json")).unwrap();
    let (builtin, _) = BuiltinKms::open(Box::new(store), std::sync::Arc::new(master())).unwrap();
    let dk = builtin
        .decrypt(&read("kms-wrapped.v1.bin"), &kms_context())
        .unwrap();
    assert_eq!(&dk.expose()[..], &read("kms-data-key.bin")[..]);

    // Root credentials, as start-up reads them.
    let expected = String::from_utf8(read("credentials.expected.txt")).unwrap();
    let (access, secret) = expected.trim().split_once(' ').unwrap();
    std::fs::write(
        cairn::iam::root::cred_path(&d[0]),
        read("credentials.v1.json"),
    )
    .unwrap();
    let (c, origin) = cairn::iam::root::resolve(None, None, &d, &master()).unwrap();
    assert!(
        matches!(origin, cairn::iam::root::Origin::Stored { .. }),
        "{origin:?}"
    );
    assert_eq!(
        (c.access_key.as_str(), c.secret_key.expose()),
        (access, secret)
    );
}

// ---------------------------------------------------------------------------
// Today's encoders write exactly the golden files of the current formats
// ---------------------------------------------------------------------------

#[test]
fn todays_encoders_write_the_golden_files_of_the_current_formats() {
    for (name, h, payload) in records() {
        assert!(
            encode_record(h, &payload) == read(name),
            "{name} is no longer what the encoder writes"
        );
    }
    let same = |name: &str, bytes: Vec<u8>| {
        assert!(
            bytes == read(name),
            "{name} is no longer what the encoder writes:\n{}",
            String::from_utf8_lossy(&bytes)
        );
    };
    same("index-entry.v4.bin", encode_entry(&index_entry()));
    same(
        "index-upload.v4.bin",
        postcard::to_allocvec(&upload_entry()).unwrap(),
    );
    same(
        "index-part.v4.bin",
        postcard::to_allocvec(&part_entry()).unwrap(),
    );
    same(
        "index-usage.v1.bin",
        postcard::to_allocvec(&usage()).unwrap(),
    );
    same(
        "index-content.v1.bin",
        postcard::to_allocvec(&content_row()).unwrap(),
    );
    same("index-stale.v1.bin", encode_stale(&stale_segments()));
    // The reverse map is found by prefix: its key layout is its format.
    same("index-ref-key.v1.bin", ref_key());
    same("format.v4.json", encode_format(&drive_format()));
    same("heal.v1.json", heal_file().encode());
    same("index-heal.v1.bin", partition_heal().encode());
    assert_eq!(
        (HEAL_FORMAT, PARTITION_HEAL_FORMAT),
        (1, 1),
        "a heal format changed: add its golden files, keep the old ones"
    );
    same("buckets.v10.json", bucket_table_v10().encode().unwrap());
    same(
        "system-store.v1.bin",
        DriveStore::encode(7, b"{\"format\":1}"),
    );
    same("master.key", master().encode().as_bytes().to_vec());
    same("settings.state.v1.json", settings().encode().unwrap());
    same("drives.state.v1.json", drive_holds().encode().unwrap());
    // Values sealed with a random nonce: decoded, then encoded again.
    let iam = IamState::decode(&read("iam.state.v2.json")).unwrap();
    same("iam.state.v2.json", iam.encode().unwrap());
    let kms = KmsState::decode(&read("kms.state.v1.json")).unwrap();
    same("kms.state.v1.json", kms.encode().unwrap());
    assert_eq!(
        json_format("credentials.json", &read("credentials.v1.json"), 1).unwrap(),
        1
    );
    assert_eq!(read("sealed.v1.bin")[0], 1);
    assert_eq!(read("kms-wrapped.v1.bin")[0], cairn::sse::kms::WRAP_V1);
    assert_eq!(
        (
            FORMAT_VERSION,
            TABLE_FORMAT,
            STATE_FORMAT,
            STORE_FORMAT,
            FRAME_FORMAT
        ),
        (4, 10, 2, 1, 1),
        "a format changed: add its golden files, keep the old ones"
    );
}

// ---------------------------------------------------------------------------
// One format higher is refused as newer, never as corrupt
// ---------------------------------------------------------------------------

fn is_newer(what: &str, e: &dyn std::fmt::Display) {
    let e = e.to_string();
    assert!(
        e.contains(&format!("{what} was written by a newer cairn")),
        "{what}: {e}"
    );
}

/// Raises the `"format"` member of a JSON document (1 when absent).
fn raise_json(bytes: &[u8], member: &str) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let f = v.get(member).and_then(|f| f.as_u64()).unwrap_or(1);
    v[member] = serde_json::json!(f + 1);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn every_payload_one_format_higher_is_refused_as_newer() {
    // Records: a sound header naming the next format.
    for (name, _, _) in records() {
        let raised = with_format(read(name), FORMAT_VERSION + 1);
        match RecordHeader::decode(&raised, key()) {
            Err(RecordError::Newer(n)) => {
                assert_eq!(
                    (n.found, n.known),
                    (u32::from(FORMAT_VERSION) + 1, u32::from(FORMAT_VERSION))
                );
                is_newer("record", &n);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // format.json.
    let e = decode_format(&raise_json(&read("format.v4.json"), "format_version")).unwrap_err();
    is_newer("format.json", &e);
    // JSON documents of the system store and the drives.
    match BucketTable::decode(&raise_json(&read("buckets.v10.json"), "format")) {
        Err(JsonError::Newer(n)) => is_newer("buckets.json", &n),
        other => panic!("{other:?}"),
    }
    match IamState::decode(&raise_json(&read("iam.state.v2.json"), "format")) {
        Err(JsonError::Newer(n)) => is_newer("iam.state", &n),
        other => panic!("{other:?}"),
    }
    match Saved::decode(&raise_json(&read("settings.state.v1.json"), "format")) {
        Err(JsonError::Newer(n)) => is_newer("settings.state", &n),
        other => panic!("{other:?}"),
    }
    match DriveHolds::decode(&raise_json(&read("drives.state.v1.json"), "format")) {
        Err(JsonError::Newer(n)) => is_newer("drives.state", &n),
        other => panic!("{other:?}"),
    }
    match KmsState::decode(&raise_json(&read("kms.state.v1.json"), "format")) {
        Err(JsonError::Newer(n)) => is_newer("kms.state", &n),
        other => panic!("{other:?}"),
    }
    match HealFile::decode(&raise_json(&read("heal.v1.json"), "format")) {
        Err(JsonError::Newer(n)) => is_newer("heal.json", &n),
        other => panic!("{other:?}"),
    }
    // A partition's heal state in its index: its first byte.
    let mut heal = read("index-heal.v1.bin");
    heal[0] += 1;
    is_newer(
        "partition heal state",
        &PartitionHeal::decode(&heal).unwrap_err(),
    );
    // The system store's frame.
    let mut frame = read("system-store.v1.bin");
    frame[7] += 1;
    match DriveStore::decode(&frame) {
        Err(FrameError::Newer(n)) => is_newer("system store file", &n),
        other => panic!("{other:?}"),
    }
    // Sealed secrets, wrapped data keys, encryption headers.
    let mut sealed = read("sealed.v1.bin");
    sealed[0] += 1;
    match master().open(&Sealed::from_bytes(sealed), SEALED_AAD) {
        Err(SealError::Newer(n)) => is_newer("sealed value", &n),
        other => panic!("{other:?}"),
    }
    let t = tempfile::tempdir().unwrap();
    let d = drives(&t, 1);
    let store = DriveStore::named(d.clone(), 1, STATE_FILE);
    store.store(1, &read("kms.state.v1.json")).unwrap();
    let (builtin, _) = BuiltinKms::open(Box::new(store), std::sync::Arc::new(master())).unwrap();
    let mut wrapped = read("kms-wrapped.v1.bin");
    wrapped[0] += 1;
    match builtin.decrypt(&wrapped, &kms_context()) {
        Err(KmsError::Newer(n)) => is_newer("wrapped data key", &n),
        other => panic!("{other:?}"),
    }
    let Attr::Sse(mut sse) = sse_attr() else {
        unreachable!()
    };
    sse[0] += 1;
    match SseHeader::decode(&sse) {
        Err(SseError::Newer(n)) => is_newer("encryption header", &n),
        other => panic!("{other:?}"),
    }
    // Root credentials: start-up refuses, and leaves the file alone.
    let raised = raise_json(&read("credentials.v1.json"), "format");
    std::fs::write(cairn::iam::root::cred_path(&d[0]), &raised).unwrap();
    let e = cairn::iam::root::resolve(None, None, &d, &master()).unwrap_err();
    is_newer("credentials.json", &e);
    assert_eq!(
        std::fs::read(cairn::iam::root::cred_path(&d[0])).unwrap(),
        raised
    );
}

// ---------------------------------------------------------------------------
// Files the node wrote before JSON files named their format
// ---------------------------------------------------------------------------

/// The golden drive set's files (written by the binary before `"format"`
/// existed) are format 1 and decode to what was written.
#[test]
fn files_written_before_formats_were_named_decode_as_format_1() {
    let drive =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/disk/driveset/drive0/.cairn");
    let file = |name: &str| std::fs::read(drive.join(name)).unwrap();
    let frame = |name: &str| DriveStore::decode(&file(name)).unwrap().1.to_vec();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(drive.join("../../manifest.json")).unwrap()).unwrap();

    let buckets = file("buckets.json");
    assert!(!String::from_utf8_lossy(&buckets).contains("\"format\""));
    assert_eq!(
        json_format("buckets.json", &buckets, TABLE_FORMAT).unwrap(),
        1
    );
    let t = BucketTable::decode(&buckets).unwrap();
    assert_eq!(
        t.buckets.keys().collect::<Vec<_>>(),
        ["locked", "plain", "versioned"]
    );
    assert_eq!(t.buckets["versioned"].versioning, Versioning::Enabled);
    assert!(t.buckets["locked"].object_lock.is_some());
    assert_eq!(
        t.buckets["plain"].tags,
        Some(vec![("team".to_owned(), "storage".to_owned())])
    );

    let iam = frame("iam.state");
    assert_eq!(json_format("iam.state", &iam, STATE_FORMAT).unwrap(), 1);
    let state = IamState::decode(&iam).unwrap();
    assert_eq!(state.users.keys().collect::<Vec<_>>(), ["golden-user"]);
    let user_key = manifest["user_access_key"].as_str().unwrap();
    assert_eq!(state.keys[user_key].user, "golden-user");
    assert!(state.users["golden-user"].inline.contains_key("read-plain"));

    let settings = frame("settings.state");
    assert_eq!(
        json_format("settings.state", &settings, STORE_FORMAT).unwrap(),
        1
    );
    let saved = Saved::decode(&settings).unwrap();
    assert_eq!(
        saved
            .values
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect::<Vec<_>>(),
        [("ratelimit.requestsPerSecondPerKey", "1000/1000")]
    );

    let kms = KmsState::decode(&frame("kms.state")).unwrap();
    assert_eq!(
        kms.keys.keys().collect::<Vec<_>>(),
        ["cairn-sse-s3", "golden-key"]
    );

    let creds = file("credentials.json");
    assert_eq!(json_format("credentials.json", &creds, 1).unwrap(), 1);
    let f = decode_format(&file("format.json")).unwrap();
    assert_eq!(
        (
            f.format_version,
            f.drive_count,
            f.layout.as_str(),
            f.partitions
        ),
        (3, 4, "2+2", 4)
    );
}

// ---------------------------------------------------------------------------
// Where a newer record surfaces: a rebuild refuses, start-up with it
// ---------------------------------------------------------------------------

/// Rewrites one record on a drive as a cairn of the next format would have
/// written it (same frame, resealed checksum).
fn raise_record_on_drive(d: &common::Drives, r: &common::FoundRecord) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&r.path)
        .unwrap();
    let mut block = vec![0u8; 4096];
    f.read_exact_at(&mut block, r.offset).unwrap();
    let rkey = cairn::engine::format::record_key_of_drive(&d.paths[r.drive]).unwrap();
    let hl = r.header.header_len();
    block[4..6].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    block[68..72].fill(0);
    let crc = crc32c::crc32c_append(rkey, &block[..hl]);
    block[68..72].copy_from_slice(&crc.to_le_bytes());
    f.write_all_at(&block, r.offset).unwrap();
    f.sync_all().unwrap();
}

/// Reads `bkt/small` (stored inline, in three commit copies) after raising
/// `raised` of its copies to the next format: what the read returned and
/// how many records it counted corrupt.
fn read_with_raised_copies(raised: usize) -> (Result<Vec<u8>, cairn::engine::EngineError>, u64) {
    let d = common::drives(4);
    let mut cfg = common::config(&d, None);
    // The read path alone: a scrub pass would rewrite the raised copies.
    cfg.scrub_interval = std::time::Duration::ZERO;
    common::run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        common::put(&e, "bkt", "small", b"hello").await;
    });
    let copies: Vec<_> = common::scan_records(&d.paths, cfg.partitions)
        .into_iter()
        .filter(|r| r.header.kind == Kind::Commit)
        .collect();
    assert_eq!(copies.len(), 3, "m+1 copies of the commit record");
    for r in &copies[..raised] {
        raise_record_on_drive(&d, r);
    }
    common::run_with(&cfg, true, |e, shared| async move {
        let got = common::get(&e, "bkt", "small").await;
        (got, common::counter(&shared.stats.corrupt_records))
    })
}

#[test]
fn a_read_that_meets_a_record_of_a_newer_format_uses_another_copy_and_counts_no_corruption() {
    // Two copies raised: the third serves the read.
    let (got, corrupt) = read_with_raised_copies(2);
    assert_eq!(got.unwrap(), b"hello");
    assert_eq!(corrupt, 0, "a record of a newer format is not corruption");
    // All three: no copy this binary reads, and still none counted corrupt.
    let (got, corrupt) = read_with_raised_copies(3);
    assert!(
        matches!(got, Err(cairn::engine::EngineError::ReadQuorum { .. })),
        "{got:?}"
    );
    assert_eq!(corrupt, 0, "a record of a newer format is not corruption");
}

#[test]
fn a_rebuild_that_meets_a_record_of_a_newer_format_refuses_to_start() {
    use cairn::engine::Engine;
    let d = common::drives(4);
    let cfg = common::config(&d, None);
    common::run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        common::put(&e, "bkt", "small", b"hello").await;
        common::put(&e, "bkt", "large", &common::data(300 << 10, 1)).await;
    });
    let commit = common::scan_records(&d.paths, cfg.partitions)
        .into_iter()
        .find(|r| r.header.kind == Kind::Commit && r.header.key == "large")
        .expect("a commit record of bkt/large");
    raise_record_on_drive(&d, &commit);
    common::lose_index(&d.paths);
    let e = Engine::open(&cfg).err().expect("start-up must refuse");
    assert!(
        e.contains("record was written by a newer cairn") && e.contains("cannot be rebuilt"),
        "{e}"
    );
}
