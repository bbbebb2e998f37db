//! Golden tests: every response document cairn writes, byte for byte,
//! against files in `tests/golden/xml/`. They pin the output the scoped
//! writer must keep (escaping, `encoding-type=url`, element order, empty
//! elements). `CAIRN_BLESS_GOLDEN=1 cargo test --lib xml_golden` rewrites
//! the files; a diff in review then shows exactly what changed on the wire.

use std::path::PathBuf;

use crate::auth::checksum::ChecksumAlgo;
use crate::engine::meta::{DataLoc, IndexEntry, ObjectMeta, PartData};
use crate::iam::acl::{Acl, Canned, Grant, Grantee, Group, Permission};

use super::attributes::{document as attributes_document, Wanted};
use super::error::{S3Code, S3Error};
use super::xml::*;
use super::xml_acl::{access_control_policy, ownership_controls};
use super::xml_multipart::*;
use super::xml_tagging::tagging;
use super::xml_versioning::*;

/// Every character class the escaper treats specially: the five markup
/// characters, CR (written as a reference), LF and tab (kept), other C0
/// controls (references), non-ASCII, and a space and `+` for URL encoding.
const NASTY: &str = "a&b<c>\"d'e\r\nf\tg\u{1}h\u{1f}é 한+%~*/";

const T: u64 = 1_255_369_830_123; // 2009-10-12T17:50:30.123Z

fn owner() -> ListOwner {
    ListOwner {
        id: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a".into(),
        display_name: "me&you<>".into(),
    }
}

fn entries() -> Vec<ListEntry> {
    vec![
        ListEntry {
            key: "plain/key.txt".into(),
            last_modified_ms: T,
            etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            size: 0,
            class: None,
            metadata: None,
        },
        ListEntry {
            key: NASTY.into(),
            last_modified_ms: 0,
            etag: "\"9b2cf535f27731c974343645a3985328-3\"".into(),
            size: u64::MAX,
            class: None,
            metadata: None,
        },
    ]
}

fn prefixes() -> Vec<String> {
    vec!["dir/".into(), format!("{NASTY}/")]
}

fn list_v2(url: bool, fetch_owner: bool) -> ListV2Response {
    ListV2Response {
        name: "bucket".into(),
        prefix: "p r+e/".into(),
        delimiter: "/".into(),
        max_keys: 1000,
        is_truncated: true,
        continuation_token: Some("tok+/= &<".into()),
        next_continuation_token: Some("next==".into()),
        start_after: Some(NASTY.into()),
        encoding_type_url: url,
        fetch_owner,
        owner: owner(),
        contents: entries(),
        common_prefixes: prefixes(),
    }
}

fn list_v1(url: bool) -> ListV1Response {
    ListV1Response {
        name: "bucket".into(),
        prefix: "".into(),
        marker: "m n&".into(),
        next_marker: Some(NASTY.into()),
        delimiter: " ".into(),
        max_keys: 2,
        is_truncated: false,
        encoding_type_url: url,
        owner: owner(),
        contents: entries(),
        common_prefixes: prefixes(),
    }
}

fn versions(url: bool) -> ListVersionsResponse {
    ListVersionsResponse {
        name: "bucket".into(),
        prefix: "v/".into(),
        key_marker: NASTY.into(),
        version_id_marker: "null".into(),
        next_key_marker: Some("v/next key".into()),
        next_version_id_marker: Some("0000000000000000000000000000000a".into()),
        max_keys: 3,
        delimiter: "/".into(),
        is_truncated: true,
        encoding_type_url: url,
        owner: owner(),
        entries: vec![
            VersionEntry {
                key: NASTY.into(),
                version_id: Some("0000000000000000000000000000000b".into()),
                is_latest: true,
                last_modified_ms: T,
                kind: VersionKind::DeleteMarker,
            },
            VersionEntry {
                key: NASTY.into(),
                version_id: None,
                is_latest: false,
                last_modified_ms: T - 1,
                kind: VersionKind::Object {
                    etag: "abc".into(),
                    size: 42,
                    checksum_algorithm: Some(ChecksumAlgo::Crc64Nvme),
                    checksum_type: Some(ChecksumType::FullObject),
                    class: None,
                },
            },
            VersionEntry {
                key: "v/x".into(),
                version_id: Some("0000000000000000000000000000000c".into()),
                is_latest: true,
                last_modified_ms: 0,
                kind: VersionKind::Object {
                    etag: "\"q\"".into(),
                    size: 0,
                    checksum_algorithm: None,
                    checksum_type: None,
                    class: None,
                },
            },
        ],
        common_prefixes: prefixes(),
    }
}

fn parts() -> ListPartsResponse {
    ListPartsResponse {
        bucket: "bucket".into(),
        key: NASTY.into(),
        upload_id: "upload&id".into(),
        part_number_marker: 0,
        next_part_number_marker: 2,
        max_parts: 2,
        is_truncated: true,
        parts: vec![
            PartEntry {
                part_number: 1,
                last_modified_ms: T,
                etag: "e1".into(),
                size: 5 << 20,
                checksum: Some((
                    ChecksumAlgo::Sha256,
                    "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".into(),
                )),
            },
            PartEntry {
                part_number: 2,
                last_modified_ms: T,
                etag: "\"e2\"".into(),
                size: 1,
                checksum: None,
            },
        ],
        initiator: owner(),
        owner: owner(),
        checksum_algorithm: Some(ChecksumAlgo::Sha256),
        checksum_type: Some(ChecksumType::Composite),
        class: None,
    }
}

fn uploads(url: bool) -> ListUploadsResponse {
    ListUploadsResponse {
        bucket: "bucket".into(),
        key_marker: "k m".into(),
        upload_id_marker: "u&m".into(),
        next_key_marker: NASTY.into(),
        next_upload_id_marker: "next-upload".into(),
        prefix: "".into(),
        delimiter: "/".into(),
        max_uploads: 1000,
        is_truncated: false,
        encoding_type_url: url,
        uploads: vec![
            UploadEntry {
                key: NASTY.into(),
                upload_id: "u1".into(),
                initiator: owner(),
                owner: owner(),
                initiated_ms: T,
                checksum_algorithm: Some(ChecksumAlgo::Crc32c),
                checksum_type: Some(ChecksumType::Composite),
                class: None,
            },
            UploadEntry {
                key: "plain".into(),
                upload_id: "u2".into(),
                initiator: owner(),
                owner: owner(),
                initiated_ms: 0,
                checksum_algorithm: None,
                checksum_type: None,
                class: None,
            },
        ],
        common_prefixes: prefixes(),
    }
}

fn meta(data: DataLoc, headers: &[(&str, &str)]) -> IndexEntry {
    IndexEntry {
        meta: ObjectMeta {
            version: 1,
            seq: 1,
            size: 10 << 20,
            etag: "9b2cf535f27731c974343645a3985328-3".into(),
            modified_ms: T,
            null: false,
            delete_marker: false,
            content_type: None,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            user_meta: vec![],
            layout: (2, 1),
            rotation: 0,
            data,
            tags: vec![],
            attrs: Vec::new(),
        },
        commits: vec![],
    }
}

fn part_data(number: u32, checksums: &[(&str, &str)]) -> PartData {
    PartData {
        number,
        size: 5 << 20,
        etag: format!("e{number}"),
        checksums: checksums
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        modified_ms: T,
        rotation: 0,
        stripes: vec![],
    }
}

const ALL_ATTRS: Wanted = Wanted {
    etag: true,
    checksum: true,
    object_parts: true,
    storage_class: true,
    object_size: true,
};

/// Every document, by golden file name.
/// The owner (with a display name), another user (without), and each
/// group.
fn acl_with_every_grantee() -> Acl {
    let mut acl = Canned::PublicReadWrite.grants(&owner().id, &owner().id);
    acl.push(Grant {
        grantee: Grantee::User(
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be".into(),
        ),
        permission: Permission::ReadAcp,
    });
    for g in [Group::AuthenticatedUsers, Group::LogDelivery] {
        acl.push(Grant {
            grantee: Grantee::Group(g),
            permission: Permission::WriteAcp,
        });
    }
    acl
}

fn documents() -> Vec<(&'static str, Vec<u8>)> {
    let empty_prefixes: Vec<String> = Vec::new();
    let no_buckets: &[(&str, u64)] = &[];
    let crc = [
        ("x-amz-checksum-crc32", "AAAAAA=="),
        ("x-amz-checksum-type", "COMPOSITE"),
    ];
    let multipart = DataLoc::Parts {
        upload: 7,
        parts: vec![
            part_data(1, &[("x-amz-checksum-crc32", "p1&=")]),
            part_data(2, &[("x-amz-checksum-crc32", "p2==")]),
            part_data(3, &[]),
        ],
    };
    vec![
        (
            "list_buckets",
            list_buckets("oid", "me&you", &[("b1", T), (NASTY, 0)]),
        ),
        ("list_buckets_empty", list_buckets("o", "n", no_buckets)),
        ("list_v2", list_objects_v2(&list_v2(false, false))),
        ("list_v2_url_owner", list_objects_v2(&list_v2(true, true))),
        (
            "list_v2_minimal",
            list_objects_v2(&ListV2Response {
                name: "b".into(),
                max_keys: 0,
                ..Default::default()
            }),
        ),
        ("list_v1", list_objects_v1(&list_v1(false))),
        ("list_v1_url", list_objects_v1(&list_v1(true))),
        (
            "list_v1_no_next_marker",
            list_objects_v1(&ListV1Response {
                next_marker: None,
                delimiter: String::new(),
                contents: vec![],
                common_prefixes: empty_prefixes.clone(),
                ..list_v1(false)
            }),
        ),
        ("location_us_east_1", location("us-east-1")),
        ("location_empty", location("")),
        ("location_eu_west_1", location("eu-west-1")),
        ("location_escaped", location("r&<1>")),
        ("copy_object_result", copy_object_result("abc", T)),
        (
            "copy_object_result_quoted",
            copy_object_result("\"a&b\"", 0),
        ),
        (
            "delete_result",
            delete_result(&deleted(), &delete_errors(), false),
        ),
        (
            "delete_result_quiet",
            delete_result(&deleted(), &delete_errors(), true),
        ),
        ("delete_result_empty", delete_result(&[], &[], false)),
        ("versioning_unset", versioning_configuration(None)),
        (
            "versioning_enabled",
            versioning_configuration(Some(VersioningStatus::Enabled)),
        ),
        (
            "versioning_suspended",
            versioning_configuration(Some(VersioningStatus::Suspended)),
        ),
        ("list_versions", list_object_versions(&versions(false))),
        ("list_versions_url", list_object_versions(&versions(true))),
        (
            "list_versions_minimal",
            list_object_versions(&ListVersionsResponse {
                name: "b".into(),
                ..Default::default()
            }),
        ),
        (
            "tagging",
            tagging(&[("k1", "v1"), (NASTY, NASTY), ("empty", "")]),
        ),
        ("tagging_empty", tagging::<&str, &str>(&[])),
        (
            "access_control_policy",
            access_control_policy(&acl_with_every_grantee(), |id| {
                (id == owner().id).then(|| NASTY.to_owned())
            }),
        ),
        (
            "access_control_policy_private",
            access_control_policy(&Acl::private(&owner().id), |_| None),
        ),
        (
            "ownership_controls",
            ownership_controls(crate::engine::ObjectOwnership::BucketOwnerEnforced),
        ),
        (
            "initiate_multipart_upload",
            initiate_multipart_upload("bucket", NASTY, "upload-id"),
        ),
        (
            "complete_multipart_upload",
            complete_multipart_upload_result(
                "http://127.0.0.1:9000/bucket/a%26b",
                "bucket",
                NASTY,
                "9b2cf535f27731c974343645a3985328-3",
                None,
            ),
        ),
        (
            "complete_multipart_upload_checksum",
            complete_multipart_upload_result(
                "http://h/b/k",
                "b",
                "k",
                "\"e-2\"",
                Some((
                    ChecksumAlgo::Crc64Nvme,
                    "AAAAAAAAAAA=",
                    ChecksumType::FullObject,
                )),
            ),
        ),
        ("copy_part_result", copy_part_result("e1", T, None)),
        (
            "copy_part_result_checksum",
            copy_part_result("\"e1\"", 0, Some((ChecksumAlgo::Sha1, "x+/="))),
        ),
        ("list_parts", list_parts(&parts())),
        (
            "list_parts_minimal",
            list_parts(&ListPartsResponse::default()),
        ),
        ("list_uploads", list_multipart_uploads(&uploads(false))),
        ("list_uploads_url", list_multipart_uploads(&uploads(true))),
        (
            "list_uploads_minimal",
            list_multipart_uploads(&ListUploadsResponse::default()),
        ),
        (
            "attributes_single",
            attributes_document(&meta(DataLoc::Inline, &crc), ALL_ATTRS, 1000, 0),
        ),
        (
            "attributes_single_no_checksum",
            attributes_document(&meta(DataLoc::Inline, &[]), ALL_ATTRS, 1000, 0),
        ),
        (
            "attributes_multipart_page",
            attributes_document(&meta(multipart.clone(), &crc), ALL_ATTRS, 1, 1),
        ),
        (
            "attributes_multipart_unchecksummed",
            attributes_document(&meta(multipart, &[]), ALL_ATTRS, 1000, 0),
        ),
        (
            "attributes_size_only",
            attributes_document(
                &meta(DataLoc::Inline, &crc),
                Wanted {
                    object_size: true,
                    ..Wanted::default()
                },
                1000,
                0,
            ),
        ),
        (
            "error",
            S3Error::new(S3Code::NoSuchKey, "The specified key does not exist.")
                .with_resource("/b/k")
                .to_xml("REQ1", "HOST1"),
        ),
        (
            "error_escaped",
            S3Error::new(S3Code::InvalidArgument, NASTY)
                .with_resource(format!("/b/{NASTY}"))
                .to_xml("<r>", "&h"),
        ),
        (
            "error_no_resource",
            S3Error::from_code(S3Code::AccessDenied).to_xml("r", "h"),
        ),
    ]
}

fn deleted() -> Vec<DeletedEntry> {
    vec![
        DeletedEntry {
            key: NASTY.into(),
            version_id: None,
            delete_marker: false,
            delete_marker_version_id: None,
        },
        DeletedEntry {
            key: "c".into(),
            version_id: Some("v1".into()),
            delete_marker: true,
            delete_marker_version_id: Some("m1".into()),
        },
    ]
}

fn delete_errors() -> Vec<DeleteError> {
    vec![DeleteError {
        key: NASTY.into(),
        code: S3Code::AccessDenied,
        message: "Access Denied".into(),
    }]
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/xml")
}

#[test]
fn every_document_matches_its_golden_bytes() {
    let dir = golden_dir();
    let bless = std::env::var_os("CAIRN_BLESS_GOLDEN").is_some();
    let docs = documents();
    let mut names: Vec<&str> = docs.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), docs.len(), "golden names must be unique");
    let mut mismatched = Vec::new();
    for (name, got) in &docs {
        let path = dir.join(format!("{name}.xml"));
        if bless {
            std::fs::create_dir_all(&dir).expect("golden dir");
            std::fs::write(&path, got).expect("write golden");
            continue;
        }
        let want = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (bless with CAIRN_BLESS_GOLDEN=1)", path.display())
        });
        if &want != got {
            mismatched.push(format!(
                "{name}:\n want {}\n  got {}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(got)
            ));
        }
    }
    assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
}

/// A golden file nobody checks is a file nobody notices going stale.
#[test]
fn every_golden_file_is_checked() {
    let names: Vec<String> = documents()
        .iter()
        .map(|(n, _)| format!("{n}.xml"))
        .collect();
    for entry in std::fs::read_dir(golden_dir()).expect("golden dir") {
        let file = entry.expect("entry").file_name();
        let file = file.to_string_lossy();
        assert!(
            names.iter().any(|n| *n == file),
            "unused golden file {file}"
        );
    }
}

/// Every document is well-formed XML whose text reads back as written:
/// the golden bytes could otherwise pin a broken escape.
#[test]
fn every_document_parses_back() {
    use quick_xml::events::Event;
    for (name, doc) in documents() {
        let mut reader = quick_xml::Reader::from_reader(doc.as_slice());
        let mut depth = 0usize;
        let mut roots = 0;
        loop {
            match reader.read_event() {
                Ok(Event::Start(_)) => {
                    if depth == 0 {
                        roots += 1;
                    }
                    depth += 1;
                }
                Ok(Event::Empty(_)) if depth == 0 => roots += 1,
                Ok(Event::End(_)) => depth -= 1,
                Ok(Event::Text(t)) => {
                    t.unescape().unwrap_or_else(|e| panic!("{name}: {e}"));
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert_eq!((depth, roots), (0, 1), "{name}");
    }
}
