//! Multipart uploads end to end: the real `cairn` binary driven by the AWS
//! SDK for Rust (and raw requests for the payload modes an SDK chooses on
//! its own): every multipart operation and its errors, a 1 GiB upload of
//! parts sent concurrently and out of order, UploadPartCopy with ranges,
//! listing pages, checksums checked against independently computed values,
//! GET/HEAD `partNumber`, and the expiry of abandoned uploads.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    EncodingType,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
use futures_util::stream::{self, StreamExt};
use md5::Digest as _;
use rand::{RngCore, SeedableRng};

mod binary;
use binary::*;

const MIB: usize = 1 << 20;

/// Pseudo-random bytes from a seed, fast even in a debug build (the RNG is
/// an optimised dependency).
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The multipart ETag computed here: MD5 of the parts' binary MD5s, `-N`.
fn md5_of_md5s(parts: &[&[u8]]) -> String {
    let mut h = md5::Md5::new();
    for p in parts {
        h.update(md5::Md5::digest(p));
    }
    format!("\"{}-{}\"", hex::encode(h.finalize()), parts.len())
}

async fn create(c: &Client, bucket: &str, key: &str) -> String {
    c.create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("create upload")
        .upload_id()
        .expect("upload id")
        .to_owned()
}

async fn put_part(c: &Client, bucket: &str, key: &str, id: &str, n: i32, body: &[u8]) -> String {
    c.upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("part {n}: {e:?}"))
        .e_tag()
        .expect("etag")
        .to_owned()
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
                .collect(),
        ))
        .build()
}

async fn complete(
    c: &Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: &[(i32, &str)],
) -> Result<
    aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput,
    aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadError,
    >,
> {
    c.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(completed(parts))
        .send()
        .await
}

async fn get_range(c: &Client, bucket: &str, key: &str, range: &str) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .range(range)
        .send()
        .await
        .expect("ranged get")
        .body
        .collect()
        .await
        .expect("body")
        .into_bytes()
        .to_vec()
}

async fn bucket(c: &Client, name: &str) {
    c.create_bucket()
        .bucket(name)
        .send()
        .await
        .expect("create bucket");
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn every_operation_and_its_errors() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "mpu").await;

    // Create keeps the object metadata for the completed object.
    let id = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("photos/big.bin")
        .content_type("video/mp4")
        .cache_control("max-age=60")
        .metadata("owner", "tests")
        .send()
        .await
        .expect("create")
        .upload_id()
        .expect("id")
        .to_owned();

    let p1 = bytes(5 * MIB + 7, 1);
    let p2_old = bytes(MIB, 2);
    let p2 = bytes(3 * MIB, 3);
    let e1 = put_part(&c, "mpu", "photos/big.bin", &id, 1, &p1).await;
    let e2_old = put_part(&c, "mpu", "photos/big.bin", &id, 2, &p2_old).await;
    assert_eq!(e1, format!("\"{}\"", md5_hex(&p1)));
    // A re-upload replaces the part.
    let e2 = put_part(&c, "mpu", "photos/big.bin", &id, 2, &p2).await;
    let listed = c
        .list_parts()
        .bucket("mpu")
        .key("photos/big.bin")
        .upload_id(&id)
        .send()
        .await
        .expect("list parts");
    let seen: Vec<(i32, String, i64)> = listed
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap_or(0),
                p.e_tag().unwrap_or("").to_owned(),
                p.size().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, e1.clone(), p1.len() as i64),
            (2, e2.clone(), p2.len() as i64)
        ]
    );
    assert!(listed.initiator().is_some() && listed.owner().is_some());

    // The replaced part's ETag, a part never uploaded, parts out of order.
    for (parts, want) in [
        (vec![(1, e1.as_str()), (2, e2_old.as_str())], "InvalidPart"),
        (vec![(1, e1.as_str()), (3, e2.as_str())], "InvalidPart"),
        (vec![(2, e2.as_str()), (1, e1.as_str())], "InvalidPartOrder"),
        (vec![], "MalformedXML"),
    ] {
        assert_eq!(
            code(complete(&c, "mpu", "photos/big.bin", &id, &parts).await),
            want,
            "{parts:?}"
        );
    }
    // Every part but the last must be at least 5 MiB.
    let small_first = create(&c, "mpu", "small-first").await;
    let s1 = put_part(&c, "mpu", "small-first", &small_first, 1, &p2).await;
    let s2 = put_part(&c, "mpu", "small-first", &small_first, 2, &p2).await;
    assert_eq!(
        code(
            complete(
                &c,
                "mpu",
                "small-first",
                &small_first,
                &[(1, &s1), (2, &s2)]
            )
            .await
        ),
        "EntityTooSmall"
    );

    let done = complete(&c, "mpu", "photos/big.bin", &id, &[(1, &e1), (2, &e2)])
        .await
        .expect("complete");
    let whole = [p1.clone(), p2.clone()].concat();
    assert_eq!(done.e_tag(), Some(md5_of_md5s(&[&p1, &p2]).as_str()));
    assert_eq!(done.bucket(), Some("mpu"));
    assert_eq!(done.key(), Some("photos/big.bin"));
    assert!(
        done.location()
            .is_some_and(|l| l.ends_with("/mpu/photos/big.bin")),
        "{:?}",
        done.location()
    );
    let head = c
        .head_object()
        .bucket("mpu")
        .key("photos/big.bin")
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(whole.len() as i64));
    assert_eq!(head.e_tag(), done.e_tag());
    assert_eq!(head.content_type(), Some("video/mp4"));
    assert_eq!(head.cache_control(), Some("max-age=60"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("tests")
    );
    assert!(get_bytes(&c, "mpu", "photos/big.bin").await == whole);

    // A completed upload is gone, but a retried Complete (its answer lost,
    // say) gets the same answer while the object is current.
    let again = complete(&c, "mpu", "photos/big.bin", &id, &[(1, &e1), (2, &e2)])
        .await
        .expect("retried complete");
    assert_eq!(again.e_tag(), done.e_tag());
    assert_eq!(
        code(complete(&c, "mpu", "photos/big.bin", &id, &[(1, &e1)]).await),
        "NoSuchUpload"
    );
    assert_eq!(
        code(
            c.list_parts()
                .bucket("mpu")
                .key("photos/big.bin")
                .upload_id(&id)
                .send()
                .await
        ),
        "NoSuchUpload"
    );

    // Abort: 204, then NoSuchUpload for everything, including a second abort.
    let gone = create(&c, "mpu", "gone").await;
    put_part(&c, "mpu", "gone", &gone, 1, b"bytes").await;
    c.abort_multipart_upload()
        .bucket("mpu")
        .key("gone")
        .upload_id(&gone)
        .send()
        .await
        .expect("abort");
    for id in [gone.as_str(), "not-an-upload-id", "AAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(
            code(
                c.abort_multipart_upload()
                    .bucket("mpu")
                    .key("gone")
                    .upload_id(id)
                    .send()
                    .await
            ),
            "NoSuchUpload",
            "{id}"
        );
        assert_eq!(
            code(
                c.upload_part()
                    .bucket("mpu")
                    .key("gone")
                    .upload_id(id)
                    .part_number(1)
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await
            ),
            "NoSuchUpload"
        );
    }
    // An upload id belongs to its key.
    assert_eq!(
        code(
            c.list_parts()
                .bucket("mpu")
                .key("other-key")
                .upload_id(&small_first)
                .send()
                .await
        ),
        "NoSuchUpload"
    );
    assert_eq!(
        code(
            c.create_multipart_upload()
                .bucket("no-such-bucket")
                .key("k")
                .send()
                .await
        ),
        "NoSuchBucket"
    );
    let listed = c
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .expect("list uploads");
    let keys: Vec<&str> = listed.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(keys, ["small-first"]);
}

/// The big upload: 1 GiB in 64 parts of 16 MiB, sent 8 at a time in
/// a shuffled order, read back byte-exact whole, by part and in ranges that
/// straddle part boundaries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gigabyte_upload_of_concurrent_out_of_order_parts_reads_back_exactly() {
    const PARTS: usize = 64;
    const PART: usize = 16 * MIB;
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "big").await;
    let id = create(&c, "big", "gig").await;
    let part = |n: usize| bytes(PART, 1000 + n as u64);

    // Part numbers in a scrambled order (37 is coprime to 64).
    let order: Vec<usize> = (0..PARTS).map(|i| (i * 37 + 11) % PARTS + 1).collect();
    let started = std::time::Instant::now();
    let mut etags: Vec<(usize, String)> = stream::iter(order)
        .map(|n| {
            let c = c.clone();
            let id = id.clone();
            async move {
                let body = part(n);
                let e = put_part(&c, "big", "gig", &id, n as i32, &body).await;
                assert_eq!(e, format!("\"{}\"", md5_hex(&body)), "part {n}");
                (n, e)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    etags.sort();
    let uploaded = started.elapsed();
    let names: Vec<(i32, &str)> = etags.iter().map(|(n, e)| (*n as i32, e.as_str())).collect();
    let done = complete(&c, "big", "gig", &id, &names)
        .await
        .expect("complete");
    // The ETag computed here from the parts' own MD5s.
    let mut h = md5::Md5::new();
    for n in 1..=PARTS {
        h.update(md5::Md5::digest(part(n)));
    }
    let want = format!("\"{}-{PARTS}\"", hex::encode(h.finalize()));
    assert_eq!(done.e_tag(), Some(want.as_str()));

    // Whole object, streamed and compared part by part.
    let started = std::time::Instant::now();
    let o = c
        .get_object()
        .bucket("big")
        .key("gig")
        .send()
        .await
        .expect("get");
    assert_eq!(o.content_length(), Some((PARTS * PART) as i64));
    assert_eq!(o.e_tag(), Some(want.as_str()));
    let mut body = o.body;
    let mut buf: Vec<u8> = Vec::with_capacity(PART);
    let mut n = 1;
    while let Some(chunk) = body.try_next().await.expect("body") {
        buf.extend_from_slice(&chunk);
        while buf.len() >= PART {
            let rest = buf.split_off(PART);
            assert!(buf == part(n), "part {n} of the GET differs");
            buf = rest;
            n += 1;
        }
    }
    assert_eq!((n, buf.len()), (PARTS + 1, 0), "GET ended early");
    let read = started.elapsed();

    // Ranges within a part, across one boundary and across several.
    let at = |n: usize| ((n - 1) * PART) as u64;
    let expect = |start: u64, end: u64| {
        let mut out = Vec::new();
        let first = start as usize / PART + 1;
        let last = (end as usize - 1) / PART + 1;
        for n in first..=last {
            let p = part(n);
            let s = (start.max(at(n)) - at(n)) as usize;
            let e = (end.min(at(n) + PART as u64) - at(n)) as usize;
            out.extend_from_slice(&p[s..e]);
        }
        out
    };
    for (start, end) in [
        (at(5) + 100, at(5) + 5000),
        (at(10) - 1, at(10) + 1),
        (at(33) - 3 * MIB as u64, at(35) + 123),
        (at(64) - 1, at(64) + PART as u64),
    ] {
        let got = get_range(&c, "big", "gig", &format!("bytes={start}-{}", end - 1)).await;
        assert!(got == expect(start, end), "range {start}..{end}");
    }
    // A part by number: 206, its bytes, the part count.
    let o = c
        .get_object()
        .bucket("big")
        .key("gig")
        .part_number(17)
        .send()
        .await
        .expect("get part");
    assert_eq!(o.parts_count(), Some(PARTS as i32));
    let range = format!("bytes {}-{}/{}", at(17), at(18) - 1, PARTS * PART);
    assert_eq!(o.content_range(), Some(range.as_str()));
    let got = o.body.collect().await.expect("body").into_bytes();
    assert!(got == part(17));
    eprintln!("1 GiB: parts uploaded in {uploaded:.1?}, read back in {read:.1?}");
}

#[tokio::test]
async fn upload_part_copy_with_ranges_and_conditions() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "src").await;
    bucket(&c, "dst").await;
    let single = bytes(7 * MIB + 3, 10);
    c.put_object()
        .bucket("src")
        .key("single")
        .body(ByteStream::from(single.clone()))
        .send()
        .await
        .expect("put source");
    // A multipart source, so copies read across its part boundary too.
    let m1 = bytes(5 * MIB, 11);
    let m2 = bytes(4 * MIB, 12);
    let mid = create(&c, "src", "multi").await;
    let me1 = put_part(&c, "src", "multi", &mid, 1, &m1).await;
    let me2 = put_part(&c, "src", "multi", &mid, 2, &m2).await;
    complete(&c, "src", "multi", &mid, &[(1, &me1), (2, &me2)])
        .await
        .expect("complete source");
    let multi = [m1.clone(), m2.clone()].concat();
    let single_etag = format!("\"{}\"", md5_hex(&single));

    let id = create(&c, "dst", "copied").await;
    let copy = |n: i32, src: &str, range: Option<&str>| {
        let mut r = c
            .upload_part_copy()
            .bucket("dst")
            .key("copied")
            .upload_id(&id)
            .part_number(n)
            .copy_source(src);
        if let Some(range) = range {
            r = r.copy_source_range(range);
        }
        r
    };
    // Whole single-part source: the part's ETag is the source's.
    let r = copy(1, "src/single", None).send().await.expect("copy 1");
    let e1 = r
        .copy_part_result()
        .and_then(|p| p.e_tag())
        .unwrap()
        .to_owned();
    assert_eq!(e1, single_etag);
    // Ranges: across the multipart source's boundary, and a tail.
    let across = (2 * MIB, 7 * MIB + 10);
    let r = copy(
        2,
        "src/multi",
        Some(&format!("bytes={}-{}", across.0, across.1 - 1)),
    )
    .send()
    .await
    .expect("copy 2");
    let e2 = r
        .copy_part_result()
        .and_then(|p| p.e_tag())
        .unwrap()
        .to_owned();
    let tail = &single[single.len() - 100..];
    let r = copy(
        3,
        "/src/single",
        Some(&format!(
            "bytes={}-{}",
            single.len() - 100,
            single.len() - 1
        )),
    )
    .copy_source_if_match(&single_etag)
    .send()
    .await
    .expect("copy 3");
    let e3 = r
        .copy_part_result()
        .and_then(|p| p.e_tag())
        .unwrap()
        .to_owned();
    assert_eq!(e3, format!("\"{}\"", md5_hex(tail)));

    // Conditions and bad ranges.
    assert_eq!(
        code(
            copy(4, "src/single", None)
                .copy_source_if_match("\"nope\"")
                .send()
                .await
        ),
        "PreconditionFailed"
    );
    assert_eq!(
        code(
            copy(4, "src/single", None)
                .copy_source_if_none_match(&single_etag)
                .send()
                .await
        ),
        "PreconditionFailed"
    );
    for bad in ["bytes=5-1", "bytes=0-", "items=0-1"] {
        assert_eq!(
            code(copy(4, "src/single", Some(bad)).send().await),
            "InvalidArgument",
            "{bad}"
        );
    }
    let past = format!("bytes=0-{}", single.len());
    assert_eq!(
        code(copy(4, "src/single", Some(&past)).send().await),
        "InvalidRange"
    );
    assert_eq!(code(copy(4, "src/missing", None).send().await), "NoSuchKey");

    let done = complete(&c, "dst", "copied", &id, &[(1, &e1), (2, &e2), (3, &e3)])
        .await
        .expect("complete");
    let want = [
        single.clone(),
        multi[across.0..across.1].to_vec(),
        tail.to_vec(),
    ]
    .concat();
    let parts: [&[u8]; 3] = [&single, &multi[across.0..across.1], tail];
    assert_eq!(done.e_tag(), Some(md5_of_md5s(&parts).as_str()));
    assert!(get_bytes(&c, "dst", "copied").await == want);
}

#[tokio::test]
async fn list_multipart_uploads_pages_with_prefixes_and_markers() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "lst").await;
    let keys = [
        "a",
        "a",
        "dir/1",
        "dir/2",
        "dir/sub/3",
        "e f+g",
        "x/y/z",
        "z",
    ];
    let mut ids = Vec::new();
    for k in keys {
        ids.push((k, create(&c, "lst", k).await));
    }
    // Uploads of one key are in the order they began.
    let all = c
        .list_multipart_uploads()
        .bucket("lst")
        .send()
        .await
        .expect("list");
    let got: Vec<(String, String)> = all
        .uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap_or("").to_owned(),
                u.upload_id().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ids
        .iter()
        .map(|(k, i)| (k.to_string(), i.clone()))
        .collect();
    assert_eq!(got, want);
    assert!(!all.is_truncated().unwrap_or(true));
    assert!(all.uploads()[0].initiated().is_some());

    // With a delimiter, pages of two items, following the markers.
    let mut items = Vec::new();
    let (mut km, mut um): (Option<String>, Option<String>) = (None, None);
    for _ in 0..10 {
        let page = c
            .list_multipart_uploads()
            .bucket("lst")
            .delimiter("/")
            .max_uploads(2)
            .set_key_marker(km.clone())
            .set_upload_id_marker(um.clone())
            .send()
            .await
            .expect("page");
        for u in page.uploads() {
            items.push(u.key().unwrap_or("").to_owned());
        }
        for p in page.common_prefixes() {
            items.push(format!("prefix {}", p.prefix().unwrap_or("")));
        }
        if !page.is_truncated().unwrap_or(false) {
            km = None;
            break;
        }
        km = page.next_key_marker().map(str::to_owned);
        um = page
            .next_upload_id_marker()
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
    }
    assert!(km.is_none(), "the listing did not end");
    items.sort();
    assert_eq!(items, ["a", "a", "e f+g", "prefix dir/", "prefix x/", "z"]);
    // A prefix, and URL encoding.
    let sub = c
        .list_multipart_uploads()
        .bucket("lst")
        .prefix("dir/")
        .delimiter("/")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("prefix");
    let ks: Vec<&str> = sub.uploads().iter().filter_map(|u| u.key()).collect();
    assert_eq!(ks, ["dir/1", "dir/2"]);
    let ps: Vec<&str> = sub
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(ps, ["dir/sub/"]);
    let enc = c
        .list_multipart_uploads()
        .bucket("lst")
        .prefix("e f")
        .encoding_type(EncodingType::Url)
        .send()
        .await
        .expect("encoded");
    // The SDK leaves the encoding to the caller.
    assert_eq!(enc.uploads()[0].key(), Some("e%20f%2Bg"));
    assert_eq!(enc.prefix(), Some("e%20f"));
    // Past the second upload of "a" by key and id marker.
    let after = c
        .list_multipart_uploads()
        .bucket("lst")
        .key_marker("a")
        .upload_id_marker(&ids[0].1)
        .max_uploads(1)
        .send()
        .await
        .expect("markers");
    assert_eq!(after.uploads()[0].upload_id(), Some(ids[1].1.as_str()));
    assert!(after.is_truncated().unwrap_or(false));
    assert_eq!(
        code(
            c.list_multipart_uploads()
                .bucket("lst")
                .max_uploads(-1)
                .send()
                .await
        ),
        "InvalidArgument"
    );
}

#[tokio::test]
async fn list_parts_pages() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "lparts").await;
    let id = create(&c, "lparts", "k").await;
    let mut etags = Vec::new();
    for n in [1, 2, 3, 5, 8] {
        etags.push((
            n,
            put_part(
                &c,
                "lparts",
                "k",
                &id,
                n,
                &bytes(100 + n as usize, n as u64),
            )
            .await,
        ));
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let page = c
            .list_parts()
            .bucket("lparts")
            .key("k")
            .upload_id(&id)
            .max_parts(2)
            .set_part_number_marker(marker.clone())
            .send()
            .await
            .expect("page");
        assert_eq!(page.max_parts(), Some(2));
        for p in page.parts() {
            seen.push((p.part_number().unwrap(), p.e_tag().unwrap().to_owned()));
        }
        if !page.is_truncated().unwrap_or(false) {
            marker = None;
            break;
        }
        marker = page.next_part_number_marker().map(str::to_owned);
    }
    assert!(marker.is_none());
    assert_eq!(seen, etags);
    assert_eq!(
        code(
            c.list_parts()
                .bucket("lparts")
                .key("k")
                .upload_id(&id)
                .part_number_marker("x")
                .send()
                .await
        ),
        "InvalidArgument"
    );
}

/// The CRC reference implementations of the `crc` crate, independent of the
/// server's.
fn crc_of(algo: &ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_NVME);
    match algo {
        ChecksumAlgorithm::Crc32 => CRC32.checksum(data).to_be_bytes().to_vec(),
        ChecksumAlgorithm::Crc32C => CRC32C.checksum(data).to_be_bytes().to_vec(),
        ChecksumAlgorithm::Crc64Nvme => CRC64.checksum(data).to_be_bytes().to_vec(),
        ChecksumAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        ChecksumAlgorithm::Sha256 => <sha2::Sha256 as sha2::Digest>::digest(data).to_vec(),
        other => panic!("{other:?}"),
    }
}

fn part_checksum(
    algo: &ChecksumAlgorithm,
    o: &aws_sdk_s3::operation::upload_part::UploadPartOutput,
) -> Option<String> {
    match algo {
        ChecksumAlgorithm::Crc32 => o.checksum_crc32(),
        ChecksumAlgorithm::Crc32C => o.checksum_crc32_c(),
        ChecksumAlgorithm::Crc64Nvme => o.checksum_crc64_nvme(),
        ChecksumAlgorithm::Sha1 => o.checksum_sha1(),
        ChecksumAlgorithm::Sha256 => o.checksum_sha256(),
        _ => None,
    }
    .map(str::to_owned)
}

fn with_checksum(
    b: aws_sdk_s3::types::builders::CompletedPartBuilder,
    algo: &ChecksumAlgorithm,
    v: String,
) -> aws_sdk_s3::types::builders::CompletedPartBuilder {
    match algo {
        ChecksumAlgorithm::Crc32 => b.checksum_crc32(v),
        ChecksumAlgorithm::Crc32C => b.checksum_crc32_c(v),
        ChecksumAlgorithm::Crc64Nvme => b.checksum_crc64_nvme(v),
        ChecksumAlgorithm::Sha1 => b.checksum_sha1(v),
        ChecksumAlgorithm::Sha256 => b.checksum_sha256(v),
        _ => b,
    }
}

/// A PUT with a plain body signed by its SHA-256 and no checksum.
fn plain_put(srv: &Server, path: &str, body: &[u8]) -> RawResponse {
    let s = sign(
        srv.port,
        "PUT",
        path,
        &[("content-length", &body.len().to_string())],
        &sha256_hex(body),
        PASSWORD,
        SystemTime::now(),
    );
    raw_request(srv.port, &request_bytes("PUT", path, &s.headers, body)).expect("put")
}

/// A raw HEAD with checksum mode, for the headers whatever the SDK parses.
fn head_checksums(srv: &Server, path: &str) -> RawResponse {
    let s = sign(
        srv.port,
        "HEAD",
        path,
        &[("x-amz-checksum-mode", "ENABLED")],
        &sha256_hex(b""),
        PASSWORD,
        SystemTime::now(),
    );
    raw_request(srv.port, &request_bytes("HEAD", path, &s.headers, b"")).expect("head")
}

/// Object checksums after Complete, for every algorithm and type S3 allows,
/// checked against values computed here: COMPOSITE is the checksum of the
/// concatenated raw part checksums with `-N`, FULL_OBJECT the CRC of the
/// whole object. Parts and GET/HEAD `partNumber` carry the part's own.
#[tokio::test]
async fn composite_and_full_object_checksums_match_independent_values() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "sums").await;
    let p1 = bytes(5 * MIB + 1, 21);
    let p2 = bytes(MIB + 17, 22);
    let whole = [p1.clone(), p2.clone()].concat();
    let cases = [
        (ChecksumAlgorithm::Crc32, ChecksumType::Composite),
        (ChecksumAlgorithm::Crc32C, ChecksumType::Composite),
        (ChecksumAlgorithm::Sha1, ChecksumType::Composite),
        (ChecksumAlgorithm::Sha256, ChecksumType::Composite),
        (ChecksumAlgorithm::Crc32, ChecksumType::FullObject),
        (ChecksumAlgorithm::Crc32C, ChecksumType::FullObject),
        (ChecksumAlgorithm::Crc64Nvme, ChecksumType::FullObject),
    ];
    for (algo, kind) in cases {
        let key = format!("{}-{}", algo.as_str(), kind.as_str());
        let created = c
            .create_multipart_upload()
            .bucket("sums")
            .key(&key)
            .checksum_algorithm(algo.clone())
            .checksum_type(kind.clone())
            .send()
            .await
            .expect("create");
        assert_eq!(created.checksum_algorithm(), Some(&algo));
        assert_eq!(created.checksum_type(), Some(&kind));
        let id = created.upload_id().unwrap().to_owned();
        let header = format!("x-amz-checksum-{}", algo.as_str().to_ascii_lowercase());
        let mut parts = Vec::new();
        for (n, body) in [(1, &p1), (2, &p2)] {
            // FULL_OBJECT parts may come without a checksum (the SDK always
            // sends one, so this one is raw): the server computes it.
            let (etag, value) = if kind == ChecksumType::FullObject && n == 2 {
                let path = format!("/sums/{key}?partNumber={n}&uploadId={id}");
                let r = plain_put(&srv, &path, body);
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                (
                    r.header("etag").unwrap().to_owned(),
                    r.header(&header).map(str::to_owned),
                )
            } else {
                let o = c
                    .upload_part()
                    .bucket("sums")
                    .key(&key)
                    .upload_id(&id)
                    .part_number(n)
                    .body(ByteStream::from(body.clone()))
                    .checksum_algorithm(algo.clone())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{key} part {n}: {e:?}"));
                (o.e_tag().unwrap().to_owned(), part_checksum(&algo, &o))
            };
            let value = value.expect("part checksum in the response");
            assert_eq!(value, b64(&crc_of(&algo, body)), "{key} part {n}");
            parts.push((n, etag, value));
        }
        // ListParts reports the algorithm, the type and each part's value.
        let lp = c
            .list_parts()
            .bucket("sums")
            .key(&key)
            .upload_id(&id)
            .send()
            .await
            .expect("list parts");
        assert_eq!(lp.checksum_algorithm(), Some(&algo));
        assert_eq!(lp.checksum_type(), Some(&kind));
        let listed: Vec<Option<&str>> = lp
            .parts()
            .iter()
            .map(|p| match algo {
                ChecksumAlgorithm::Crc32 => p.checksum_crc32(),
                ChecksumAlgorithm::Crc32C => p.checksum_crc32_c(),
                ChecksumAlgorithm::Crc64Nvme => p.checksum_crc64_nvme(),
                ChecksumAlgorithm::Sha1 => p.checksum_sha1(),
                _ => p.checksum_sha256(),
            })
            .collect();
        assert_eq!(
            listed,
            parts.iter().map(|p| Some(p.2.as_str())).collect::<Vec<_>>()
        );
        let want = match kind {
            ChecksumType::Composite => {
                let raw: Vec<u8> = [&p1, &p2].iter().flat_map(|p| crc_of(&algo, p)).collect();
                format!("{}-2", b64(&crc_of(&algo, &raw)))
            }
            _ => b64(&crc_of(&algo, &whole)),
        };
        let done = c
            .complete_multipart_upload()
            .bucket("sums")
            .key(&key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(
                        parts
                            .iter()
                            .map(|(n, e, v)| {
                                with_checksum(
                                    CompletedPart::builder().part_number(*n).e_tag(e),
                                    &algo,
                                    v.clone(),
                                )
                                .build()
                            })
                            .collect(),
                    ))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: complete: {e:?}"));
        let got = match algo {
            ChecksumAlgorithm::Crc32 => done.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => done.checksum_crc32_c(),
            ChecksumAlgorithm::Crc64Nvme => done.checksum_crc64_nvme(),
            ChecksumAlgorithm::Sha1 => done.checksum_sha1(),
            _ => done.checksum_sha256(),
        };
        assert_eq!(got, Some(want.as_str()), "{key}");
        assert_eq!(done.checksum_type(), Some(&kind), "{key}");

        // HEAD in checksum mode: the object's value and type; without it,
        // neither. A part: its own value.
        let h = head_checksums(&srv, &format!("/sums/{key}"));
        assert_eq!(h.header(&header), Some(want.as_str()), "{key}");
        assert_eq!(h.header("x-amz-checksum-type"), Some(kind.as_str()));
        let plain = c
            .head_object()
            .bucket("sums")
            .key(&key)
            .send()
            .await
            .expect("head");
        assert_eq!(plain.checksum_type(), None, "{key}: no checksum mode");
        let h = head_checksums(&srv, &format!("/sums/{key}?partNumber=2"));
        assert_eq!(h.status, 206);
        assert_eq!(h.header(&header), Some(parts[1].2.as_str()), "{key} part 2");
        // The SDK checks what it can (FULL_OBJECT values) on a full GET.
        let o = c
            .get_object()
            .bucket("sums")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("get");
        let body = o.body.collect().await.expect("validated body").into_bytes();
        assert!(body == whole, "{key}");
        // A range that is not the whole object has no checksum.
        let h = c
            .get_object()
            .bucket("sums")
            .key(&key)
            .range("bytes=0-99")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .expect("ranged get");
        assert_eq!(h.checksum_type(), None);
    }
}

#[tokio::test]
async fn checksum_rules_refuse_what_s3_refuses() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "rules").await;
    let body = bytes(1000, 5);

    // Creation: a type without an algorithm, an algorithm the type cannot use.
    assert_eq!(
        code(
            c.create_multipart_upload()
                .bucket("rules")
                .key("k")
                .checksum_type(ChecksumType::FullObject)
                .send()
                .await
        ),
        "InvalidRequest"
    );
    assert_eq!(
        code(
            c.create_multipart_upload()
                .bucket("rules")
                .key("k")
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_type(ChecksumType::FullObject)
                .send()
                .await
        ),
        "InvalidRequest"
    );

    // A COMPOSITE CRC32C upload: parts of another algorithm are refused.
    let id = c
        .create_multipart_upload()
        .bucket("rules")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .send()
        .await
        .expect("create")
        .upload_id()
        .unwrap()
        .to_owned();
    assert_eq!(
        code(
            c.upload_part()
                .bucket("rules")
                .key("k")
                .upload_id(&id)
                .part_number(1)
                .checksum_algorithm(ChecksumAlgorithm::Sha1)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
        ),
        "InvalidRequest"
    );
    // A checksum that does not match the body.
    let r = c
        .upload_part()
        .bucket("rules")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_crc32_c("AAAAAA==")
        .body(ByteStream::from(body.clone()))
        .send()
        .await;
    assert_eq!(code(r), "BadDigest");
    let o = c
        .upload_part()
        .bucket("rules")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("part");
    let etag = o.e_tag().unwrap().to_owned();
    let good = o.checksum_crc32_c().unwrap().to_owned();
    // Complete must name each part's checksum, and the right one.
    assert_eq!(
        code(complete(&c, "rules", "k", &id, &[(1, &etag)]).await),
        "InvalidRequest"
    );
    let with = |v: &str| {
        CompletedMultipartUpload::builder()
            .parts(
                CompletedPart::builder()
                    .part_number(1)
                    .e_tag(&etag)
                    .checksum_crc32_c(v)
                    .build(),
            )
            .build()
    };
    assert_eq!(
        code(
            c.complete_multipart_upload()
                .bucket("rules")
                .key("k")
                .upload_id(&id)
                .multipart_upload(with("AAAAAA=="))
                .send()
                .await
        ),
        "InvalidPart"
    );
    // The object checksum sent with Complete must match.
    let r = c
        .complete_multipart_upload()
        .bucket("rules")
        .key("k")
        .upload_id(&id)
        .multipart_upload(with(&good))
        .checksum_crc32_c("AAAAAA==-1")
        .send()
        .await;
    assert_eq!(code(r), "BadDigest");
    c.complete_multipart_upload()
        .bucket("rules")
        .key("k")
        .upload_id(&id)
        .multipart_upload(with(&good))
        .mpu_object_size(body.len() as i64)
        .send()
        .await
        .expect("complete");

    // No algorithm declared: the SDK's default CRC32 on each part is
    // verified and kept, and the object gets S3's default checksum, a
    // FULL_OBJECT CRC64NVME (not the parts' CRC32).
    let id = create(&c, "rules", "plain").await;
    let o = c
        .upload_part()
        .bucket("rules")
        .key("plain")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("part");
    assert_eq!(
        o.checksum_crc32(),
        Some(b64(&crc_of(&ChecksumAlgorithm::Crc32, &body)).as_str())
    );
    let done = complete(&c, "rules", "plain", &id, &[(1, o.e_tag().unwrap())])
        .await
        .expect("complete");
    assert_eq!(done.checksum_crc32(), None);
    assert_eq!(
        done.checksum_crc64_nvme(),
        Some(b64(&crc_of(&ChecksumAlgorithm::Crc64Nvme, &body)).as_str())
    );
    assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
}

/// Every payload mode PutObject takes works for UploadPart too: signed
/// aws-chunked, unsigned aws-chunked with a trailer checksum (which the
/// part keeps), and a wrong trailer is BadDigest with nothing stored.
#[tokio::test]
async fn upload_part_takes_every_payload_mode() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "modes").await;
    let id = c
        .create_multipart_upload()
        .bucket("modes")
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .expect("create")
        .upload_id()
        .unwrap()
        .to_owned();
    let p1 = bytes(5 * MIB, 31);
    let p2 = bytes(5 * MIB + 70_000, 32);
    let p3 = bytes(3000, 33);

    // Signed chunks, no checksum: computed by the server (FULL_OBJECT).
    let r = streaming_put(
        srv.port,
        &format!("/modes/k?partNumber=1&uploadId={id}"),
        &p1,
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{}\"", md5_hex(&p1)).as_str())
    );
    let crc = |d: &[u8]| b64(&crc32fast::hash(d).to_be_bytes());
    assert_eq!(r.header("x-amz-checksum-crc32"), Some(crc(&p1).as_str()));

    // Unsigned chunks with a trailer, right and wrong.
    for (good, n) in [(false, 2), (true, 2)] {
        let mut sum = crc32fast::hash(&p2);
        if !good {
            sum ^= 1;
        }
        let path = format!("/modes/k?partNumber={n}&uploadId={id}");
        let r = unsigned_trailer_put(srv.port, &path, &p2, 64 << 10, sum);
        if good {
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            assert_eq!(r.header("x-amz-checksum-crc32"), Some(crc(&p2).as_str()));
        } else {
            assert_eq!((r.status, r.code().as_str()), (400, "BadDigest"));
            let parts = c
                .list_parts()
                .bucket("modes")
                .key("k")
                .upload_id(&id)
                .send()
                .await
                .expect("list");
            assert_eq!(parts.parts().len(), 1, "the bad part was not stored");
        }
    }
    // A plain signed body with Content-MD5.
    let md5 = b64(&md5::Md5::digest(&p3));
    let path = format!("/modes/k?partNumber=3&uploadId={id}");
    for (sent, status) in [(b64(&[0u8; 16]), 400), (md5.clone(), 200)] {
        let s = sign(
            srv.port,
            "PUT",
            &path,
            &[
                ("content-length", &p3.len().to_string()),
                ("content-md5", &sent),
            ],
            &sha256_hex(&p3),
            PASSWORD,
            SystemTime::now(),
        );
        let r =
            raw_request(srv.port, &request_bytes("PUT", &path, &s.headers, &p3)).expect("md5 part");
        assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    }
    let etags: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .map(|p| format!("\"{}\"", md5_hex(p)))
        .collect();
    let done = complete(
        &c,
        "modes",
        "k",
        &id,
        &[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])],
    )
    .await
    .expect("complete");
    let whole = [p1, p2, p3].concat();
    assert_eq!(done.checksum_crc32(), Some(crc(&whole).as_str()));
    assert!(get_bytes(&c, "modes", "k").await == whole);
}

#[tokio::test]
async fn get_and_head_by_part_number() {
    let srv = Server::start();
    let c = srv.client();
    bucket(&c, "parts").await;
    let single = bytes(300_000, 41);
    c.put_object()
        .bucket("parts")
        .key("single")
        .body(ByteStream::from(single.clone()))
        .send()
        .await
        .expect("put");
    // A single-part object is its own part 1.
    let o = c
        .get_object()
        .bucket("parts")
        .key("single")
        .part_number(1)
        .send()
        .await
        .expect("part 1");
    let range = format!("bytes 0-{}/{}", single.len() - 1, single.len());
    assert_eq!(o.content_range(), Some(range.as_str()));
    assert_eq!(o.parts_count(), None);
    assert!(o.body.collect().await.unwrap().into_bytes() == single);
    for n in [2, 10_000] {
        assert_eq!(
            code(
                c.get_object()
                    .bucket("parts")
                    .key("single")
                    .part_number(n)
                    .send()
                    .await
            ),
            "InvalidPartNumber"
        );
    }
    let h = c
        .head_object()
        .bucket("parts")
        .key("single")
        .part_number(2)
        .send()
        .await;
    assert!(h.is_err(), "HEAD of a missing part");

    let p1 = bytes(5 * MIB, 42);
    let p2 = bytes(4321, 43);
    let id = create(&c, "parts", "multi").await;
    let e1 = put_part(&c, "parts", "multi", &id, 1, &p1).await;
    let e2 = put_part(&c, "parts", "multi", &id, 2, &p2).await;
    complete(&c, "parts", "multi", &id, &[(1, &e1), (2, &e2)])
        .await
        .expect("complete");
    let h = c
        .head_object()
        .bucket("parts")
        .key("multi")
        .part_number(2)
        .send()
        .await
        .expect("head part 2");
    assert_eq!(h.content_length(), Some(p2.len() as i64));
    assert_eq!(h.parts_count(), Some(2));
    let total = p1.len() + p2.len();
    let range = format!("bytes {}-{}/{total}", p1.len(), total - 1);
    assert_eq!(h.content_range(), Some(range.as_str()));
    let o = c
        .get_object()
        .bucket("parts")
        .key("multi")
        .part_number(1)
        .send()
        .await
        .expect("part 1");
    assert_eq!(o.parts_count(), Some(2));
    assert!(o.body.collect().await.unwrap().into_bytes() == p1);
    assert_eq!(
        code(
            c.get_object()
                .bucket("parts")
                .key("multi")
                .part_number(3)
                .send()
                .await
        ),
        "InvalidPartNumber"
    );
    assert_eq!(
        code(
            c.get_object()
                .bucket("parts")
                .key("multi")
                .part_number(1)
                .range("bytes=0-1")
                .send()
                .await
        ),
        "InvalidRequest"
    );
    // Ranges across the part boundary stay exact.
    let whole = [p1.clone(), p2.clone()].concat();
    let b = p1.len();
    let got = get_range(&c, "parts", "multi", &format!("bytes={}-{}", b - 10, b + 9)).await;
    assert!(got == whole[b - 10..b + 10]);
    let got = get_range(&c, "parts", "multi", "bytes=-5000").await;
    assert!(got == whole[whole.len() - 5000..]);
}

/// `--multipart-expiry`: an upload left alone longer than that is aborted
/// by the server and its parts are gone.
#[tokio::test]
async fn abandoned_uploads_expire() {
    let srv = Server::start_with(&["--multipart-expiry", "2s"]);
    let c = srv.client();
    bucket(&c, "exp").await;
    let id = create(&c, "exp", "left").await;
    put_part(&c, "exp", "left", &id, 1, b"some bytes").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let l = c
            .list_multipart_uploads()
            .bucket("exp")
            .send()
            .await
            .expect("list");
        if l.uploads().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upload did not expire"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        code(
            c.list_parts()
                .bucket("exp")
                .key("left")
                .upload_id(&id)
                .send()
                .await
        ),
        "NoSuchUpload"
    );
    // A fresh upload still works.
    let id = create(&c, "exp", "fresh").await;
    let e = put_part(&c, "exp", "fresh", &id, 1, b"fresh").await;
    complete(&c, "exp", "fresh", &id, &[(1, &e)])
        .await
        .expect("complete");
    assert_eq!(get_bytes(&c, "exp", "fresh").await, b"fresh");
}
