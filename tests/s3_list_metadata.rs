//! MinIO's `metadata=true` on ListObjectsV2 (minio-go's `WithMetadata`,
//! `warp list --metadata`), against the real binary: each entry carries the
//! object's content type, stored headers, `x-amz-meta-*` and tags, each
//! only where the caller may read them; without the parameter the listing
//! is byte for byte the plain one. The SDK cannot ask for it, so the
//! listings are raw signed requests.

use std::time::SystemTime;

use aws_sdk_s3::primitives::ByteStream;

mod binary;
use binary::*;

fn list(srv: &Server, query: &str) -> String {
    let path = format!("/lmeta?{query}");
    let s = sign(
        srv.port,
        "GET",
        &path,
        &[],
        &sha256_hex(b""),
        PASSWORD,
        SystemTime::now(),
    );
    let r = raw_request(srv.port, &request_bytes("GET", &path, &s.headers, b"")).expect("list");
    let body = String::from_utf8(r.body).expect("utf-8");
    assert_eq!(r.status, 200, "{body}");
    body
}

/// The `<Contents>` block of `key`.
fn contents<'a>(xml: &'a str, key: &str) -> &'a str {
    let at = xml
        .find(&format!("<Key>{key}</Key>"))
        .unwrap_or_else(|| panic!("{key} not listed: {xml}"));
    let start = xml[..at].rfind("<Contents>").expect("open");
    let end = at + xml[at..].find("</Contents>").expect("close");
    &xml[start..end]
}

/// `xml` without any `<tag>…</tag>`.
fn without(xml: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = String::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        out.push_str(&rest[..i]);
        let j = rest[i..].find(&close).expect("closed") + i + close.len();
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_metadata_returns_each_keys_metadata_and_tags_where_readable() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("lmeta")
        .send()
        .await
        .expect("bucket");
    for i in 0..4 {
        let mut put = c
            .put_object()
            .bucket("lmeta")
            .key(format!("a/{i}"))
            .content_type(format!("text/x-{i}"))
            .metadata("color", format!("c{i}"))
            .metadata("Two-Words", "x&y")
            .body(ByteStream::from_static(b"data"));
        if i == 1 {
            put = put.cache_control("max-age=9").tagging("k=v&sp=a%20b");
        }
        put.send().await.expect("put");
    }
    c.put_object()
        .bucket("lmeta")
        .key("secret/x")
        .metadata("color", "hidden")
        .tagging("t=1")
        .body(ByteStream::from_static(b"s"))
        .send()
        .await
        .expect("put secret");
    // Nobody may GetObject under secret/ (a deny binds root too): its
    // metadata stays out of listings, its tags do not.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::lmeta/secret/*"}]}"#;
    c.put_bucket_policy()
        .bucket("lmeta")
        .policy(deny)
        .send()
        .await
        .expect("policy");

    let with = list(&srv, "list-type=2&metadata=true");
    for i in 0..4 {
        let e = contents(&with, &format!("a/{i}"));
        assert!(
            e.contains(&format!("<content-type>text/x-{i}</content-type>")),
            "{e}"
        );
        assert!(
            e.contains(&format!("<X-Amz-Meta-Color>c{i}</X-Amz-Meta-Color>")),
            "{e}"
        );
        assert!(
            e.contains("<X-Amz-Meta-Two-Words>x&amp;y</X-Amz-Meta-Two-Words>"),
            "{e}"
        );
        assert!(e.contains("<Internal><K>"), "{e}");
        assert_eq!(e.contains("<UserTags>"), i == 1, "{e}");
    }
    let tagged = contents(&with, "a/1");
    assert!(
        tagged.contains("<cache-control>max-age=9</cache-control>"),
        "{tagged}"
    );
    assert!(
        tagged.contains("<UserTags>k=v&amp;sp=a%20b</UserTags>"),
        "{tagged}"
    );
    let secret = contents(&with, "secret/x");
    assert!(!secret.contains("UserMetadata"), "{secret}");
    assert!(!secret.contains("hidden"), "{secret}");
    assert!(secret.contains("<UserTags>t=1</UserTags>"), "{secret}");

    // Pages carry it too.
    let page = list(&srv, "list-type=2&max-keys=2&metadata=true");
    assert!(
        page.contains("<X-Amz-Meta-Color>c1</X-Amz-Meta-Color>"),
        "{page}"
    );
    assert!(page.contains("<IsTruncated>true</IsTruncated>"), "{page}");

    // Without the parameter (or with it false) nothing changes: the plain
    // listing is the metadata one without its additions.
    let plain = list(&srv, "list-type=2");
    assert!(!plain.contains("UserMetadata") && !plain.contains("UserTags"));
    assert_eq!(list(&srv, "list-type=2&metadata=false"), plain);
    let stripped = without(
        &without(&without(&with, "UserMetadata"), "UserTags"),
        "Internal",
    );
    assert_eq!(stripped, plain);
}
