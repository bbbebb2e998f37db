//! S3 versioning end to end: the real binary driven by aws-sdk-s3. Every
//! version stays readable by its id, delete markers hide and restore keys,
//! the `null` version follows S3's rules when versioning is suspended, and
//! ListObjectVersions pages exactly (key ascending, newest first).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, ObjectIdentifier, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use std::time::SystemTime;

mod binary;
use binary::*;

/// A signed request over raw TCP, for the headers of error responses that
/// the SDK does not surface.
fn raw_signed(srv: &Server, method: &str, path: &str, body: &[u8]) -> RawResponse {
    let payload = sha256_hex(body);
    let len = body.len().to_string();
    let s = sign(
        srv.port,
        method,
        path,
        &[("content-length", &len)],
        &payload,
        PASSWORD,
        SystemTime::now(),
    );
    raw_request(srv.port, &request_bytes(method, path, &s.headers, body)).expect("raw request")
}

async fn set_versioning(c: &Client, bucket: &str, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .expect("put versioning");
}

async fn put(c: &Client, bucket: &str, key: &str, body: &[u8]) -> Option<String> {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put")
        .version_id
}

async fn get_version(c: &Client, bucket: &str, key: &str, version: &str) -> Vec<u8> {
    let r = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .expect("get version");
    assert_eq!(r.version_id(), Some(version));
    r.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The text of every `<tag>` element directly inside `block`, in order.
fn elements<'a>(block: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = block;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

/// (key, version id, is latest, is delete marker) of every entry, all pages,
/// in the order of the XML (the SDK splits versions from delete markers).
/// The SDK lists the same page, to check it reads cairn's document.
async fn all_versions(
    srv: &Server,
    c: &Client,
    bucket: &str,
    page: i32,
) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let mut markers: Option<(String, String)> = None;
    for _ in 0..1000 {
        let mut query = format!("versions&max-keys={page}");
        if let Some((k, v)) = &markers {
            query.push_str(&format!("&key-marker={k}&version-id-marker={v}"));
        }
        let r = raw_signed(srv, "GET", &format!("/{bucket}?{query}"), b"");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let doc = String::from_utf8(r.body.clone()).unwrap();
        let sdk = c
            .list_object_versions()
            .bucket(bucket)
            .max_keys(page)
            .set_key_marker(markers.as_ref().map(|m| m.0.clone()))
            .set_version_id_marker(markers.as_ref().map(|m| m.1.clone()))
            .send()
            .await
            .expect("list versions");
        let mut n = 0;
        let mut rest = doc.as_str();
        loop {
            let v = rest.find("<Version>");
            let d = rest.find("<DeleteMarker>");
            let (start, marker) = match (v, d) {
                (Some(v), Some(d)) if d < v => (d, true),
                (Some(v), _) => (v, false),
                (None, Some(d)) => (d, true),
                (None, None) => break,
            };
            let end_tag = if marker {
                "</DeleteMarker>"
            } else {
                "</Version>"
            };
            let end = start + rest[start..].find(end_tag).unwrap();
            let block = &rest[start..end];
            out.push((
                elements(block, "Key")[0].to_owned(),
                elements(block, "VersionId")[0].to_owned(),
                elements(block, "IsLatest")[0] == "true",
                marker,
            ));
            n += 1;
            rest = &rest[end..];
        }
        assert!(n <= page as usize);
        assert_eq!(sdk.versions().len() + sdk.delete_markers().len(), n);
        if elements(&doc, "IsTruncated")[0] != "true" {
            assert_eq!(sdk.is_truncated(), Some(false));
            return out;
        }
        let k = elements(&doc, "NextKeyMarker")[0].to_owned();
        let v = elements(&doc, "NextVersionIdMarker")[0].to_owned();
        assert_eq!(sdk.next_key_marker(), Some(k.as_str()));
        markers = Some((k, v));
    }
    panic!("listing did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_delete_list_read_restore_suspend_resume() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("ver").send().await.unwrap();
    let got = c
        .get_bucket_versioning()
        .bucket("ver")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), None, "a new bucket is unversioned");
    // A version from before versioning is the null version.
    assert_eq!(put(&c, "ver", "k", b"v0").await, None);
    set_versioning(&c, "ver", BucketVersioningStatus::Enabled).await;
    let got = c
        .get_bucket_versioning()
        .bucket("ver")
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), Some(&BucketVersioningStatus::Enabled));

    let mut ids = Vec::new();
    for body in [&b"v1"[..], b"v2", b"v3"] {
        let id = put(&c, "ver", "k", body).await.expect("a version id");
        assert_ne!(id, "null");
        ids.push(id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids are time-ordered");
    assert_eq!(get_bytes(&c, "ver", "k").await, b"v3");

    // Delete: a marker hides the key.
    let d = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    let marker = d.version_id().expect("the marker's id").to_owned();
    let err = c
        .get_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 404);
    let raw = raw_signed(&srv, "GET", "/ver/k", b"");
    assert_eq!(raw.status, 404);
    assert_eq!(raw.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.header("x-amz-version-id"), Some(marker.as_str()));
    // The marker by id: 405.
    let raw = raw_signed(&srv, "GET", &format!("/ver/k?versionId={marker}"), b"");
    assert_eq!(raw.status, 405);
    assert_eq!(raw.code(), "MethodNotAllowed");
    let listed = c.list_objects_v2().bucket("ver").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "a deleted key is not listed");

    // Every version is listed, newest first, and reads back.
    let v = all_versions(&srv, &c, "ver", 1000).await;
    let want: Vec<(String, String, bool, bool)> = vec![
        ("k".into(), marker.clone(), true, true),
        ("k".into(), ids[2].clone(), false, false),
        ("k".into(), ids[1].clone(), false, false),
        ("k".into(), ids[0].clone(), false, false),
        ("k".into(), "null".into(), false, false),
    ];
    assert_eq!(v, want);
    for (id, body) in ids.iter().zip([&b"v1"[..], b"v2", b"v3"]) {
        assert_eq!(get_version(&c, "ver", "k", id).await, body);
    }
    assert_eq!(get_version(&c, "ver", "k", "null").await, b"v0");
    let h = c
        .head_object()
        .bucket("ver")
        .key("k")
        .version_id(&ids[0])
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_length(), Some(2));

    // Removing the marker restores the key.
    let d = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&marker)
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    assert_eq!(d.version_id(), Some(marker.as_str()));
    assert_eq!(get_bytes(&c, "ver", "k").await, b"v3");

    // Deleting a version for good; the latest one promotes the next.
    c.delete_object()
        .bucket("ver")
        .key("k")
        .version_id(&ids[2])
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "ver", "k").await, b"v2");
    assert_eq!(
        code(
            c.get_object()
                .bucket("ver")
                .key("k")
                .version_id(&ids[2])
                .send()
                .await
        ),
        "NoSuchVersion"
    );

    // Suspended: writes replace the null version, wherever it is.
    set_versioning(&c, "ver", BucketVersioningStatus::Suspended).await;
    assert_eq!(put(&c, "ver", "k", b"s1").await.as_deref(), Some("null"));
    assert_eq!(get_bytes(&c, "ver", "k").await, b"s1");
    assert_eq!(get_version(&c, "ver", "k", "null").await, b"s1");
    assert_eq!(put(&c, "ver", "k", b"s2").await.as_deref(), Some("null"));
    let v = all_versions(&srv, &c, "ver", 1000).await;
    assert_eq!(
        v,
        vec![
            ("k".into(), "null".into(), true, false),
            ("k".into(), ids[1].clone(), false, false),
            ("k".into(), ids[0].clone(), false, false),
        ],
        "v0 (the old null version) was replaced"
    );
    // A suspended delete makes a null marker, replacing the null version.
    let d = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    assert_eq!(d.version_id(), Some("null"));
    let v = all_versions(&srv, &c, "ver", 1000).await;
    assert_eq!(
        v,
        vec![
            ("k".into(), "null".into(), true, true),
            ("k".into(), ids[1].clone(), false, false),
            ("k".into(), ids[0].clone(), false, false),
        ]
    );

    // Resumed: new versions again; the old ones stay.
    set_versioning(&c, "ver", BucketVersioningStatus::Enabled).await;
    let id4 = put(&c, "ver", "k", b"v4").await.unwrap();
    assert_ne!(id4, "null");
    assert_eq!(get_bytes(&c, "ver", "k").await, b"v4");
    assert_eq!(all_versions(&srv, &c, "ver", 1000).await.len(), 4);
    assert_eq!(get_version(&c, "ver", "k", &ids[0]).await, b"v1");

    // A versioned bucket is not empty while any version remains.
    assert_eq!(
        code(c.delete_bucket().bucket("ver").send().await),
        "BucketNotEmpty"
    );
    // Malformed ids are InvalidArgument.
    assert_eq!(
        code(
            c.get_object()
                .bucket("ver")
                .key("k")
                .version_id("nope")
                .send()
                .await
        ),
        "InvalidArgument"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_versions_pages_exactly_with_markers_and_delimiters() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("pages").send().await.unwrap();
    set_versioning(&c, "pages", BucketVersioningStatus::Enabled).await;
    // Keys with 1..=4 versions, some deleted, some under "dir/".
    let mut want = Vec::new();
    for i in 0..12 {
        let key = if i % 3 == 0 {
            format!("dir/{i:02}")
        } else {
            format!("k{i:02}")
        };
        let mut versions = Vec::new();
        for n in 0..(i % 4 + 1) {
            let id = put(&c, "pages", &key, format!("{key}-{n}").as_bytes())
                .await
                .unwrap();
            versions.push((id, false));
        }
        if i % 5 == 0 {
            let d = c
                .delete_object()
                .bucket("pages")
                .key(&key)
                .send()
                .await
                .unwrap();
            versions.push((d.version_id().unwrap().to_owned(), true));
        }
        let n = versions.len();
        for (j, (id, marker)) in versions.into_iter().rev().enumerate() {
            want.push((key.clone(), id, j == 0 && n > 0, marker));
        }
    }
    // Keys ascending; within a key newest first, as pushed.
    want.sort_by(|a, b| a.0.cmp(&b.0));
    for page in [1, 2, 3, 7, 1000] {
        assert_eq!(
            all_versions(&srv, &c, "pages", page).await,
            want,
            "page {page}"
        );
    }

    // Delimiter: keys under dir/ roll up into one common prefix.
    let r = c
        .list_object_versions()
        .bucket("pages")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = r
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["dir/"]);
    let top = want.iter().filter(|w| !w.0.starts_with("dir/")).count();
    assert_eq!(r.versions().len() + r.delete_markers().len(), top);
    // Prefix.
    let r = c
        .list_object_versions()
        .bucket("pages")
        .prefix("dir/")
        .send()
        .await
        .unwrap();
    let under = want.iter().filter(|w| w.0.starts_with("dir/")).count();
    assert_eq!(r.versions().len() + r.delete_markers().len(), under);
    // A version marker without a key marker is refused.
    assert_eq!(
        code(
            c.list_object_versions()
                .bucket("pages")
                .version_id_marker("null")
                .send()
                .await
        ),
        "InvalidArgument"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_and_multi_delete_name_versions() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("cpv").send().await.unwrap();
    set_versioning(&c, "cpv", BucketVersioningStatus::Enabled).await;
    let old = put(&c, "cpv", "src", b"old bytes").await.unwrap();
    put(&c, "cpv", "src", b"new bytes").await.unwrap();

    // Copy from an older version; the response names both versions.
    let r = c
        .copy_object()
        .bucket("cpv")
        .key("dst")
        .copy_source(format!("cpv/src?versionId={old}"))
        .send()
        .await
        .expect("copy a version");
    assert_eq!(r.copy_source_version_id(), Some(old.as_str()));
    let dst_id = r.version_id().expect("the copy's version").to_owned();
    assert_eq!(get_bytes(&c, "cpv", "dst").await, b"old bytes");
    assert_eq!(get_version(&c, "cpv", "dst", &dst_id).await, b"old bytes");
    // Restoring an old version onto its own key needs no REPLACE.
    c.copy_object()
        .bucket("cpv")
        .key("src")
        .copy_source(format!("cpv/src?versionId={old}"))
        .send()
        .await
        .expect("restore by copy");
    assert_eq!(get_bytes(&c, "cpv", "src").await, b"old bytes");
    assert_eq!(
        code(
            c.copy_object()
                .bucket("cpv")
                .key("x")
                .copy_source("cpv/src?versionId=00000000000000000000000000000001")
                .send()
                .await
        ),
        "NoSuchVersion"
    );

    // DeleteObjects: a marker for one key, one version of another for good.
    let del = Delete::builder()
        .objects(ObjectIdentifier::builder().key("dst").build().unwrap())
        .objects(
            ObjectIdentifier::builder()
                .key("src")
                .version_id(&old)
                .build()
                .unwrap(),
        )
        .quiet(false)
        .build()
        .unwrap();
    let r = c
        .delete_objects()
        .bucket("cpv")
        .delete(del)
        .send()
        .await
        .expect("multi-delete");
    assert!(r.errors().is_empty(), "{:?}", r.errors());
    let dst = r.deleted().iter().find(|d| d.key() == Some("dst")).unwrap();
    assert_eq!(dst.delete_marker(), Some(true));
    assert!(dst.delete_marker_version_id().is_some());
    let src = r.deleted().iter().find(|d| d.key() == Some("src")).unwrap();
    assert_eq!(src.version_id(), Some(old.as_str()));
    assert_eq!(
        code(
            c.get_object()
                .bucket("cpv")
                .key("src")
                .version_id(&old)
                .send()
                .await
        ),
        "NoSuchVersion"
    );
    assert_eq!(
        code(c.get_object().bucket("cpv").key("dst").send().await),
        "NoSuchKey"
    );
    assert_eq!(get_version(&c, "cpv", "dst", &dst_id).await, b"old bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unversioned_buckets_send_no_version_headers() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("plain").send().await.unwrap();
    assert_eq!(put(&c, "plain", "k", b"a").await, None);
    let h = c
        .head_object()
        .bucket("plain")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(h.version_id(), None);
    let d = c
        .delete_object()
        .bucket("plain")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker(), None);
    assert_eq!(d.version_id(), None);
    let v = all_versions(&srv, &c, "plain", 10).await;
    assert!(
        v.is_empty(),
        "a deleted key leaves nothing in an unversioned bucket"
    );
    put(&c, "plain", "k", b"b").await;
    assert_eq!(
        all_versions(&srv, &c, "plain", 10).await,
        vec![("k".into(), "null".into(), true, false)]
    );
    // The configuration must name a status.
    let r = raw_signed(
        &srv,
        "PUT",
        "/plain?versioning",
        b"<VersioningConfiguration><Status>Off</Status></VersioningConfiguration>",
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "MalformedXML");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_multipart_upload_is_a_new_tagged_version() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("mpv").send().await.unwrap();
    set_versioning(&c, "mpv", BucketVersioningStatus::Enabled).await;
    let first = put(&c, "mpv", "big", b"small first").await.unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("mpv")
        .key("big")
        .tagging("from=multipart")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let body = data(6 << 20, 3);
    let p1 = c
        .upload_part()
        .bucket("mpv")
        .key("big")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(body[..5 << 20].to_vec()))
        .send()
        .await
        .unwrap();
    // Part 2 copies from the first version by id.
    let p2 = c
        .upload_part_copy()
        .bucket("mpv")
        .key("big")
        .upload_id(id)
        .part_number(2)
        .copy_source(format!("mpv/big?versionId={first}"))
        .send()
        .await
        .unwrap();
    assert_eq!(p2.copy_source_version_id(), Some(first.as_str()));
    let done = c
        .complete_multipart_upload()
        .bucket("mpv")
        .key("big")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p1.e_tag().unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(p2.copy_part_result().unwrap().e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v = done
        .version_id()
        .expect("Complete names the new version")
        .to_owned();
    assert_ne!(v, first);
    let mut want = body[..5 << 20].to_vec();
    want.extend_from_slice(b"small first");
    assert_eq!(get_bytes(&c, "mpv", "big").await, want);
    assert_eq!(get_version(&c, "mpv", "big", &first).await, b"small first");
    let tags = c
        .get_object_tagging()
        .bucket("mpv")
        .key("big")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set()[0].key(), "from");
    let listed = all_versions(&srv, &c, "mpv", 1000).await;
    assert_eq!(
        listed,
        vec![
            ("big".into(), v, true, false),
            ("big".into(), first, false, false)
        ]
    );
}
