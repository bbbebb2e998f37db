//! Storage classes (issue 17 part 4): `x-amz-storage-class` on every write
//! against the real binary (STANDARD, REDUCED_REDUNDANCY, an operator's
//! COLD class on its own drives), shown on HEAD, listings and attributes,
//! refused when unknown; and `Engine::transition`, which moves a version's
//! bytes to another class's drives with GET exact before, during and after,
//! across a restart and an index rebuild.

mod binary;
mod common;

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectAttributes, StorageClass as Sc,
};

use binary::{code, get_bytes, Server};
use cairn::engine::class::{ClassSpec, DriveRef};
use cairn::engine::layout::Layout;
use cairn::engine::meta::VersionSel;
use cairn::engine::record::Kind;
use cairn::engine::transition::TransitionOutcome;
use cairn::engine::{EngineError, Versioning};
use common::{config, drives, lose_index, run, scan_records, FoundRecord};

/// A 6-drive node (4+2) whose drives 4 and 5 are the COLD class (1+1).
const CONFIG: &str = "[[storage_class]]\nname = \"COLD\"\ndrives = [4, 5]\nlayout = \"1+1\"\n";

/// Larger than the inline limit: its bytes go to shards.
const BIG: usize = 300_000;

fn start_node() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("cairn.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let extra: Vec<String> = vec![
        dir.path().join("drive4").display().to_string(),
        dir.path().join("drive5").display().to_string(),
        "--config".into(),
        cfg.display().to_string(),
    ];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    Server::start_in(dir, &extra)
}

fn node_drives(dir: &Path) -> Vec<PathBuf> {
    (0..6).map(|i| dir.join(format!("drive{i}"))).collect()
}

/// The drives holding shard records of `key` (of any version), and their
/// layouts.
fn shard_homes(records: &[FoundRecord], key: &str) -> (Vec<usize>, Vec<Layout>) {
    let mut drives: Vec<usize> = Vec::new();
    let mut layouts: Vec<Layout> = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.header.kind == Kind::Shard && r.header.key == key)
    {
        if !drives.contains(&r.drive) {
            drives.push(r.drive);
        }
        if !layouts.contains(&r.header.layout) {
            layouts.push(r.header.layout);
        }
    }
    drives.sort_unstable();
    (drives, layouts)
}

#[tokio::test]
async fn each_class_round_trips_and_shows_in_head_listings_and_attributes() {
    let srv = start_node();
    let c = srv.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let classes = [
        ("std", None, "STANDARD"),
        ("rrs", Some("REDUCED_REDUNDANCY"), "REDUCED_REDUNDANCY"),
        ("cold", Some("COLD"), "COLD"),
        ("named-std", Some("STANDARD"), "STANDARD"),
    ];
    for (i, (key, class, _)) in classes.iter().enumerate() {
        let body = binary::data(BIG, i as u64);
        let mut put = c
            .put_object()
            .bucket("bkt")
            .key(*key)
            .body(ByteStream::from(body.clone()));
        if let Some(class) = class {
            put = put.storage_class(Sc::from(*class));
        }
        put.send().await.expect("put");
        assert!(
            get_bytes(&c, "bkt", key).await == body,
            "{key}: bytes differ"
        );
    }
    for (key, _, shown) in classes {
        let h = c
            .head_object()
            .bucket("bkt")
            .key(key)
            .send()
            .await
            .expect("head");
        // S3 sends the header for every class but STANDARD.
        let want = (shown != "STANDARD").then_some(shown);
        assert_eq!(h.storage_class().map(|s| s.as_str()), want, "{key}");
        let a = c
            .get_object_attributes()
            .bucket("bkt")
            .key(key)
            .object_attributes(ObjectAttributes::StorageClass)
            .send()
            .await
            .expect("attributes");
        assert_eq!(a.storage_class().map(|s| s.as_str()), Some(shown), "{key}");
    }
    let list = c
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .expect("list");
    let listed: Vec<(&str, &str)> = list
        .contents()
        .iter()
        .map(|o| (o.key().unwrap(), o.storage_class().unwrap().as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("cold", "COLD"),
            ("named-std", "STANDARD"),
            ("rrs", "REDUCED_REDUNDANCY"),
            ("std", "STANDARD")
        ]
    );
    let v1 = c
        .list_objects()
        .bucket("bkt")
        .send()
        .await
        .expect("list v1");
    assert_eq!(v1.contents()[0].storage_class().unwrap().as_str(), "COLD");
    let versions = c
        .list_object_versions()
        .bucket("bkt")
        .send()
        .await
        .expect("versions");
    assert_eq!(
        versions.versions()[0].storage_class().unwrap().as_str(),
        "COLD"
    );

    // Multipart: the upload's class is its parts' and the object's.
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .storage_class(Sc::from("COLD"))
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().unwrap();
    let uploads = c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .expect("uploads");
    assert_eq!(
        uploads.uploads()[0].storage_class().unwrap().as_str(),
        "COLD"
    );
    let parts_data = [binary::data(5 << 20, 40), binary::data(BIG, 41)];
    let mut done = Vec::new();
    for (n, p) in parts_data.iter().enumerate() {
        let n = n as i32 + 1;
        let r = c
            .upload_part()
            .bucket("bkt")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .expect("part");
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let parts = c
        .list_parts()
        .bucket("bkt")
        .key("mp")
        .upload_id(id)
        .send()
        .await
        .expect("parts");
    assert_eq!(parts.storage_class().unwrap().as_str(), "COLD");
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .expect("complete");
    let h = c
        .head_object()
        .bucket("bkt")
        .key("mp")
        .send()
        .await
        .expect("head mp");
    assert_eq!(h.storage_class().map(|s| s.as_str()), Some("COLD"));
    assert!(get_bytes(&c, "bkt", "mp").await == parts_data.concat());

    // CopyObject takes the request's class, else STANDARD (as S3).
    c.copy_object()
        .bucket("bkt")
        .key("copy-cold")
        .copy_source("bkt/std")
        .storage_class(Sc::from("COLD"))
        .send()
        .await
        .expect("copy into COLD");
    c.copy_object()
        .bucket("bkt")
        .key("copy-plain")
        .copy_source("bkt/cold")
        .send()
        .await
        .expect("copy without a class");
    let class_of = |key: &'static str| {
        let c = c.clone();
        async move {
            let h = c
                .head_object()
                .bucket("bkt")
                .key(key)
                .send()
                .await
                .expect("head");
            h.storage_class().map(|s| s.as_str().to_owned())
        }
    };
    assert_eq!(class_of("copy-cold").await.as_deref(), Some("COLD"));
    assert_eq!(class_of("copy-plain").await, None);
    // Naming a class makes a copy onto itself a change S3 allows.
    c.copy_object()
        .bucket("bkt")
        .key("std")
        .copy_source("bkt/std")
        .storage_class(Sc::from("REDUCED_REDUNDANCY"))
        .send()
        .await
        .expect("copy onto itself into another class");
    assert_eq!(class_of("std").await.as_deref(), Some("REDUCED_REDUNDANCY"));
    assert!(get_bytes(&c, "bkt", "std").await == binary::data(BIG, 0));
}

#[tokio::test]
async fn an_unknown_class_is_invalid_storage_class_and_nothing_is_stored() {
    let srv = start_node();
    let c = srv.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    c.put_object()
        .bucket("bkt")
        .key("src")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    // S3's classes cairn does not have, and names nobody defined.
    for class in ["GLACIER", "STANDARD_IA", "DEEP_ARCHIVE", "cold", "NOPE"] {
        let put = c
            .put_object()
            .bucket("bkt")
            .key("k")
            .storage_class(Sc::from(class))
            .body(ByteStream::from_static(b"data"))
            .send()
            .await;
        assert_eq!(code(put), "InvalidStorageClass", "{class}");
        let mp = c
            .create_multipart_upload()
            .bucket("bkt")
            .key("k")
            .storage_class(Sc::from(class))
            .send()
            .await;
        assert_eq!(code(mp), "InvalidStorageClass", "{class}");
        let copy = c
            .copy_object()
            .bucket("bkt")
            .key("k")
            .copy_source("bkt/src")
            .storage_class(Sc::from(class))
            .send()
            .await;
        assert_eq!(code(copy), "InvalidStorageClass", "{class}");
    }
    let list = c
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .expect("list");
    assert_eq!(list.key_count(), Some(1), "only src is stored");
    let uploads = c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .expect("uploads");
    assert!(uploads.uploads().is_empty());
}

#[tokio::test]
async fn a_custom_class_puts_its_shards_only_on_its_drives() {
    let mut srv = start_node();
    let c = srv.client();
    c.create_bucket()
        .bucket("bkt")
        .send()
        .await
        .expect("bucket");
    let body = binary::data(3 << 20, 5);
    for (key, class) in [("cold", Some("COLD")), ("standard", None)] {
        let mut put = c
            .put_object()
            .bucket("bkt")
            .key(key)
            .body(ByteStream::from(body.clone()));
        if let Some(class) = class {
            put = put.storage_class(Sc::from(class));
        }
        put.send().await.expect("put");
    }
    let mut records = Vec::new();
    srv.restart_after(|dir| records = scan_records(&node_drives(dir), 16));
    let one_one = Layout { data: 1, parity: 1 };
    assert_eq!(shard_homes(&records, "cold"), (vec![4, 5], vec![one_one]));
    let four_two = Layout { data: 4, parity: 2 };
    assert_eq!(
        shard_homes(&records, "standard"),
        ((0..6).collect(), vec![four_two])
    );
    assert!(get_bytes(&c, "bkt", "cold").await == body);
}

// ---------------------------------------------------------------------------
// Engine::transition
// ---------------------------------------------------------------------------

fn cold_config(d: &common::Drives) -> cairn::engine::EngineConfig {
    let mut cfg = config(d, Some(Layout { data: 4, parity: 2 }));
    cfg.storage_classes = vec![ClassSpec {
        name: "COLD".into(),
        drives: vec![DriveRef::Index(4), DriveRef::Path(d.paths[5].clone())],
        layout: "1+1".into(),
    }];
    cfg
}

/// The drives and layouts of `key`'s shard records whose header carries
/// data generation `gen`.
fn shards_of_gen(paths: &[PathBuf], key: &str, gen: u64) -> (Vec<usize>, Vec<Layout>) {
    let records: Vec<FoundRecord> = scan_records(paths, 16)
        .into_iter()
        .filter(|r| r.header.seq == gen)
        .collect();
    shard_homes(&records, key)
}

#[test]
fn a_transition_to_a_cold_class_moves_the_bytes_and_get_stays_exact() {
    let d = drives(6);
    let cfg = cold_config(&d);
    let big = common::data((5 << 20) + 77, 1);
    let parts = [common::data(5 << 20, 2), common::data(123_457, 3)];
    let small = common::data(1000, 4);
    let (etag, version) = run(&cfg, |e| {
        let (big, parts, small) = (big.clone(), parts.clone(), small.clone());
        async move {
            e.create_bucket("bkt").await.unwrap();
            e.set_versioning("bkt", Versioning::Enabled).await.unwrap();
            common::put(&e, "bkt", "big", &big).await;
            let p: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            common::put_multipart(&e, "bkt", "mp", &p).await;
            common::put(&e, "bkt", "small", &small).await;
            e.set_tags("bkt", "big", None, vec![("t".into(), "1".into())], None)
                .await
                .unwrap();
            let before = e.head("bkt", "big").unwrap();
            // A read opened before the transition streams the old data to
            // its end: compaction keeps it until the read is done.
            let guard = e.begin_read();
            let old = e.head("bkt", "big").unwrap();
            let mut during = e
                .open_reader(guard, "bkt", "big", old, None, None)
                .await
                .unwrap();
            for key in ["big", "mp", "small"] {
                let r = e.transition("bkt", key, None, "COLD").await.unwrap();
                assert_eq!(r, TransitionOutcome::Moved, "{key}");
            }
            assert!(
                during.read_all().await.unwrap() == big,
                "a read across the transition"
            );
            let after = e.head("bkt", "big").unwrap();
            assert_eq!(
                (
                    after.meta.version,
                    &after.meta.etag,
                    &after.meta.tags,
                    after.meta.size
                ),
                (
                    before.meta.version,
                    &before.meta.etag,
                    &before.meta.tags,
                    before.meta.size
                ),
                "same version, ETag, tags and size"
            );
            assert_eq!(after.meta.layout, (1, 1));
            assert_eq!(cairn::engine::class::class_name(&after.meta.attrs), "COLD");
            assert!(common::get(&e, "bkt", "big").await.unwrap() == big);
            assert!(common::get(&e, "bkt", "mp").await.unwrap() == parts.concat());
            assert!(common::get(&e, "bkt", "small").await.unwrap() == small);
            let again = e.transition("bkt", "big", None, "COLD").await.unwrap();
            assert_eq!(again, TransitionOutcome::Already);
            (after.meta.etag, after.meta.version)
        }
    });
    // The moved bytes are on the COLD drives only, in its layout.
    let gens = run(&cfg, |e| {
        let big = big.clone();
        async move {
            assert!(
                common::get(&e, "bkt", "big").await.unwrap() == big,
                "after a restart"
            );
            let gen = |key| cairn::engine::class::data_gen(&e.head("bkt", key).unwrap().meta.attrs);
            [gen("big"), gen("mp")]
        }
    });
    let one_one = Layout { data: 1, parity: 1 };
    for (key, gen) in [("big", gens[0]), ("mp", gens[1])] {
        assert!(gen > 0, "{key}");
        assert_eq!(
            shards_of_gen(&d.paths, key, gen),
            (vec![4, 5], vec![one_one]),
            "{key}"
        );
    }

    // A rebuilt index finds the moved data, not the old shards that share
    // its identity.
    lose_index(&d.paths);
    run(&cfg, |e| async move {
        let h = e.head("bkt", "big").unwrap();
        assert_eq!(
            (h.meta.etag.as_str(), h.meta.version),
            (etag.as_str(), version)
        );
        assert_eq!(cairn::engine::class::class_name(&h.meta.attrs), "COLD");
        assert!(
            common::get(&e, "bkt", "big").await.unwrap() == big,
            "after a rebuild"
        );
        assert!(common::get(&e, "bkt", "mp").await.unwrap() == parts.concat());
        assert!(common::get(&e, "bkt", "small").await.unwrap() == small);
        // And back: a transition to STANDARD spreads it over every drive.
        let r = e.transition("bkt", "big", None, "STANDARD").await.unwrap();
        assert_eq!(r, TransitionOutcome::Moved);
        assert!(common::get(&e, "bkt", "big").await.unwrap() == big);
    });
}

#[test]
fn a_transition_names_a_version_the_node_has_and_a_class_it_defines() {
    let d = drives(6);
    let cfg = cold_config(&d);
    run(&cfg, |e| async move {
        e.create_bucket("bkt").await.unwrap();
        e.set_versioning("bkt", Versioning::Enabled).await.unwrap();
        common::put(&e, "bkt", "k", &common::data(200_000, 1)).await;
        let first = e.head("bkt", "k").unwrap().meta.sel();
        common::put(&e, "bkt", "k", &common::data(200_000, 2)).await;
        // A noncurrent version moves; the latest stays.
        let r = e.transition("bkt", "k", Some(first), "COLD").await.unwrap();
        assert_eq!(r, TransitionOutcome::Moved);
        assert!(common::get(&e, "bkt", "k").await.unwrap() == common::data(200_000, 2));
        assert_eq!(
            cairn::engine::class::class_name(&e.head("bkt", "k").unwrap().meta.attrs),
            "STANDARD"
        );
        let err = e.transition("bkt", "k", None, "GLACIER").await.unwrap_err();
        assert!(
            matches!(err, EngineError::InvalidStorageClass(_)),
            "{err:?}"
        );
        let err = e.transition("bkt", "nope", None, "COLD").await.unwrap_err();
        assert!(matches!(err, EngineError::NoSuchKey), "{err:?}");
        let err = e
            .transition("bkt", "k", Some(VersionSel::Id(7)), "COLD")
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::NoSuchVersion), "{err:?}");
        e.delete("bkt", "k", None, false).await.unwrap();
        let err = e.transition("bkt", "k", None, "COLD").await.unwrap_err();
        assert!(matches!(err, EngineError::DeleteMarker), "{err:?}");
    });
}

#[test]
fn a_transitioned_index_survives_cairn_repair_rebuild_index() {
    let d = drives(6);
    let cfg = cold_config(&d);
    let body = common::data(2 << 20, 9);
    run(&cfg, |e| {
        let body = body.clone();
        async move {
            e.create_bucket("bkt").await.unwrap();
            common::put(&e, "bkt", "k", &body).await;
            let r = e.transition("bkt", "k", None, "COLD").await.unwrap();
            assert_eq!(r, TransitionOutcome::Moved);
        }
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args([
            "repair",
            "--rebuild-index",
            "--partitions",
            "16",
            "--layout",
            "4+2",
        ])
        .args(&d.paths)
        .env_remove("CAIRN_CONFIG")
        .env_remove("CAIRN_DRIVES")
        .output()
        .expect("run cairn repair");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(&cfg, |e| async move {
        let h = e.head("bkt", "k").unwrap();
        assert_eq!(cairn::engine::class::class_name(&h.meta.attrs), "COLD");
        assert!(common::get(&e, "bkt", "k").await.unwrap() == body);
    });
}

#[test]
fn admin_info_shows_each_class_with_its_layout_and_drives() {
    let srv = start_node();
    let cli = binary::cli::Cli::for_server(&srv);
    let v = cli.json(&["info", "local"]);
    let classes = v["storageClasses"].as_array().expect("storageClasses");
    let names: Vec<&str> = classes
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["STANDARD", "REDUCED_REDUNDANCY", "COLD"], "{v}");
    let cold = &classes[2];
    assert_eq!(cold["layout"]["data"], 1, "{cold}");
    assert_eq!(cold["layout"]["parity"], 1, "{cold}");
    assert_eq!(cold["drives"], serde_json::json!([4, 5]), "{cold}");
    assert_eq!(
        classes[0]["drives"].as_array().map(Vec::len),
        Some(6),
        "STANDARD spans every drive: {v}"
    );
    let text = cli.ok(&["info", "local"]);
    let row = text
        .lines()
        .find(|l| l.starts_with("COLD"))
        .unwrap_or_else(|| panic!("no COLD row in {text}"));
    assert!(row.contains("1+1") && row.contains("4,5"), "{row}");
}
