//! Snowball uploads against the real binary with aws-sdk-s3: a tar (plain,
//! gzip, zstd) PUT with `x-amz-meta-snowball-auto-extract: true` becomes
//! its members (names with slashes, directories, MinIO's prefix and
//! ignore-dirs headers, the request's metadata); a corrupt or refused
//! archive stores nothing; a member outside the caller's policy refuses
//! the whole archive; no spool file outlives its request.

use std::io::Write;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

mod binary;
use binary::*;

/// (key, bytes) of the members `archive` packs.
fn members(n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let len = match i % 5 {
                0 => 0,
                1 => 1,
                2 => 512,
                3 => 4_000 + i,
                _ => (1 << 20) + 3,
            };
            (
                format!("logs/day-{}/part {i}.bin", i % 3),
                data(len, i as u64),
            )
        })
        .collect()
}

fn archive(files: &[(String, Vec<u8>)], dirs: &[&str]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        b.append_data(&mut h, d, std::io::empty()).expect("dir");
    }
    for (name, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, body.as_slice())
            .expect("member");
    }
    b.into_inner().expect("tar")
}

/// A member whose name is written into the header as given: the `tar`
/// crate cleans names (and refuses `..` and absolute ones), clients'
/// archivers do not all do so.
fn raw_member(b: &mut tar::Builder<Vec<u8>>, name: &str, body: &[u8], kind: tar::EntryType) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_cksum();
    b.append(&h, body).expect("member");
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).expect("gzip");
    e.finish().expect("gzip")
}

async fn snowball(
    c: &Client,
    bucket: &str,
    body: Vec<u8>,
    extra: &[(&str, &str)],
) -> Result<(), String> {
    let mut req = c
        .put_object()
        .bucket(bucket)
        .key("uploads/batch.tar")
        .metadata("snowball-auto-extract", "true")
        .body(ByteStream::from(body));
    for (k, v) in extra {
        req = req.metadata(*k, *v);
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| code(Err::<(), _>(e)))
}

async fn keys(c: &Client, bucket: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .expect("list");
        for o in r.contents() {
            out.push((
                o.key().unwrap_or_default().to_owned(),
                o.size().unwrap_or(-1),
            ));
        }
        token = r.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

fn spool_is_empty(srv: &Server) -> bool {
    let mut left = Vec::new();
    for d in std::fs::read_dir(srv.dir.path()).expect("drives").flatten() {
        let spool = d.path().join(".cairn/spool");
        if let Ok(entries) = std::fs::read_dir(&spool) {
            left.extend(entries.flatten().map(|e| e.path()));
        }
    }
    assert!(left.is_empty(), "spool files left: {left:?}");
    true
}

#[tokio::test]
async fn an_archive_becomes_its_members_in_every_compression() {
    let srv = Server::start();
    let c = srv.client();
    let files = members(40);
    let tar = archive(&files, &["photos/2024/"]);
    let bodies = [
        ("plain", tar.clone()),
        ("gzip", gzip(&tar)),
        (
            "zstd",
            zstd::stream::encode_all(tar.as_slice(), 3).expect("zstd"),
        ),
    ];
    for (name, body) in bodies {
        let bucket = format!("snow-{name}");
        c.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("bucket");
        snowball(&c, &bucket, body, &[("team", "ingest")])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut want: Vec<(String, i64)> = files
            .iter()
            .map(|(k, b)| (k.clone(), b.len() as i64))
            .collect();
        want.push(("photos/2024/".into(), 0));
        want.sort();
        assert_eq!(keys(&c, &bucket).await, want, "{name}: the listing");
        for (k, b) in files.iter().step_by(7) {
            assert_eq!(&get_bytes(&c, &bucket, k).await, b, "{name}: {k}");
            let h = c
                .head_object()
                .bucket(&bucket)
                .key(k)
                .send()
                .await
                .expect("head");
            assert_eq!(h.e_tag(), Some(format!("\"{}\"", md5_hex(b)).as_str()));
            let meta = h.metadata().expect("metadata");
            assert_eq!(meta.get("team").map(String::as_str), Some("ingest"));
            assert!(!meta.contains_key("snowball-auto-extract"), "{meta:?}");
        }
    }
    assert!(spool_is_empty(&srv));
}

#[tokio::test]
async fn the_prefix_and_ignore_dirs_headers_place_members() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("snow")
        .send()
        .await
        .expect("bucket");
    let mut b = tar::Builder::new(Vec::new());
    raw_member(&mut b, "./", b"", tar::EntryType::Directory);
    raw_member(&mut b, "empty/", b"", tar::EntryType::Directory);
    raw_member(&mut b, "./a.txt", b"a", tar::EntryType::Regular);
    raw_member(&mut b, "/abs/b.txt", b"bb", tar::EntryType::Regular);
    raw_member(&mut b, "x//y/./c.txt", b"ccc", tar::EntryType::Regular);
    let tar = b.into_inner().expect("tar");
    snowball(
        &c,
        "snow",
        tar.clone(),
        &[("minio-snowball-prefix", "/tenant-a/in/")],
    )
    .await
    .expect("with prefix");
    snowball(
        &c,
        "snow",
        tar,
        &[
            ("minio-snowball-prefix", "t2"),
            ("minio-snowball-ignore-dirs", "true"),
        ],
    )
    .await
    .expect("ignoring dirs");
    let got: Vec<String> = keys(&c, "snow").await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        got,
        [
            "t2/a.txt",
            "t2/abs/b.txt",
            "t2/x/y/c.txt",
            "tenant-a/in/a.txt",
            "tenant-a/in/abs/b.txt",
            "tenant-a/in/empty/",
            "tenant-a/in/x/y/c.txt",
        ]
    );
}

#[tokio::test]
async fn a_corrupt_or_unsafe_archive_stores_nothing() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("snow")
        .send()
        .await
        .expect("bucket");
    let files = members(12);
    let tar = archive(&files, &[]);
    let mut bad_sum = tar.clone();
    // A byte of the third member's header name: the first member is
    // empty (one header), the second holds 1 byte (header and a block).
    let third = 512 + 512 + 512;
    bad_sum[third + 3] ^= 1;
    let gz = gzip(&tar);
    let mut bad_gz = gz.clone();
    let mid = bad_gz.len() / 2;
    bad_gz[mid] ^= 0x40;
    let mut escape = tar::Builder::new(Vec::new());
    raw_member(&mut escape, "ok.txt", b"1", tar::EntryType::Regular);
    raw_member(
        &mut escape,
        "in/../../up.txt",
        b"2",
        tar::EntryType::Regular,
    );
    let escape = escape.into_inner().expect("tar");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("cut inside a member", tar[..tar.len() / 2].to_vec()),
        (
            "cut before the end marker",
            tar[..tar.len() - 1024].to_vec(),
        ),
        ("a header checksum", bad_sum),
        ("gzip cut short", gz[..gz.len() - 9].to_vec()),
        ("gzip damaged", bad_gz),
        ("not an archive", b"hello, this is not a tar".to_vec()),
        ("a name with ..", escape),
    ];
    for (what, body) in cases {
        assert_eq!(
            snowball(&c, "snow", body, &[]).await,
            Err("InvalidArgument".to_owned()),
            "{what}"
        );
        assert_eq!(keys(&c, "snow").await, Vec::new(), "{what}: objects stored");
    }
    assert!(spool_is_empty(&srv));
}

#[tokio::test]
async fn a_member_outside_the_callers_policy_refuses_the_archive() {
    let srv = Server::start();
    let admin = srv.client();
    admin
        .create_bucket()
        .bucket("snow")
        .send()
        .await
        .expect("bucket");
    let iam = iam_client(&srv.endpoint(), USER, PASSWORD);
    iam.create_user()
        .user_name("loader")
        .send()
        .await
        .expect("user");
    let key = iam
        .create_access_key()
        .user_name("loader")
        .send()
        .await
        .expect("key");
    let key = key.access_key().expect("key");
    iam.put_user_policy()
        .user_name("loader")
        .policy_name("uploads")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::snow/uploads/*"}]}"#,
        )
        .send()
        .await
        .expect("policy");
    let loader = client(
        &srv.endpoint(),
        key.access_key_id(),
        key.secret_access_key(),
    );
    let inside = vec![("uploads/a".to_owned(), b"a".to_vec())];
    let mut outside = inside.clone();
    outside.push(("elsewhere/b".to_owned(), b"b".to_vec()));
    assert_eq!(
        snowball(&loader, "snow", archive(&outside, &[]), &[]).await,
        Err("AccessDenied".to_owned())
    );
    assert_eq!(keys(&admin, "snow").await, Vec::new());
    snowball(&loader, "snow", archive(&inside, &[]), &[])
        .await
        .expect("allowed members");
    assert_eq!(
        keys(&admin, "snow").await,
        vec![("uploads/a".to_owned(), 1)]
    );
}
