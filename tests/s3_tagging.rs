//! Object and bucket tagging end to end with aws-sdk-s3: tags set on write
//! (`x-amz-tagging`), replaced and removed in place without a new version,
//! per version, carried or replaced by copies, counted on GET, and held to
//! AWS's limits.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Tag, Tagging, TaggingDirective, VersioningConfiguration,
};
use aws_sdk_s3::Client;

mod binary;
use binary::*;

fn tag_set(pairs: &[(&str, &str)]) -> Tagging {
    let mut t = Tagging::builder();
    for (k, v) in pairs {
        t = t.tag_set(Tag::builder().key(*k).value(*v).build().unwrap());
    }
    t.build().unwrap()
}

async fn tags_of(
    c: &Client,
    bucket: &str,
    key: &str,
    version: Option<&str>,
) -> Vec<(String, String)> {
    let r = c
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .expect("get tagging");
    r.tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tags_are_set_replaced_removed_and_counted() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("tags").send().await.unwrap();
    // Inline and striped objects: a retag rewrites the commit record, which
    // carries an inline object's bytes.
    for (key, size) in [("small", 1000usize), ("large", 3 << 20)] {
        let body = data(size, 7);
        c.put_object()
            .bucket("tags")
            .key(key)
            .tagging("project=cairn&stage=test%20run")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            tags_of(&c, "tags", key, None).await,
            pairs(&[("project", "cairn"), ("stage", "test run")])
        );
        let g = c.get_object().bucket("tags").key(key).send().await.unwrap();
        assert_eq!(g.tag_count(), Some(2));
        let etag = g.e_tag().unwrap().to_owned();
        c.put_object_tagging()
            .bucket("tags")
            .key(key)
            .tagging(tag_set(&[("only", "one")]))
            .send()
            .await
            .unwrap();
        assert_eq!(
            tags_of(&c, "tags", key, None).await,
            pairs(&[("only", "one")])
        );
        let g = c.get_object().bucket("tags").key(key).send().await.unwrap();
        assert_eq!(g.tag_count(), Some(1));
        assert_eq!(g.e_tag(), Some(etag.as_str()), "retagging keeps the object");
        assert_eq!(g.body.collect().await.unwrap().into_bytes().to_vec(), body);
        c.delete_object_tagging()
            .bucket("tags")
            .key(key)
            .send()
            .await
            .unwrap();
        assert!(tags_of(&c, "tags", key, None).await.is_empty());
        let h = c.get_object().bucket("tags").key(key).send().await.unwrap();
        assert_eq!(h.tag_count(), None);
    }

    // Copies carry the source's tags unless told to replace them.
    c.put_object_tagging()
        .bucket("tags")
        .key("small")
        .tagging(tag_set(&[("a", "1")]))
        .send()
        .await
        .unwrap();
    c.copy_object()
        .bucket("tags")
        .key("copied")
        .copy_source("tags/small")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&c, "tags", "copied", None).await,
        pairs(&[("a", "1")])
    );
    c.copy_object()
        .bucket("tags")
        .key("replaced")
        .copy_source("tags/small")
        .tagging_directive(TaggingDirective::Replace)
        .tagging("b=2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_of(&c, "tags", "replaced", None).await,
        pairs(&[("b", "2")])
    );

    // AWS's limits.
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    let eleven: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        code(
            c.put_object_tagging()
                .bucket("tags")
                .key("small")
                .tagging(tag_set(&eleven))
                .send()
                .await
        ),
        "BadRequest"
    );
    let long = "k".repeat(129);
    assert_eq!(
        code(
            c.put_object_tagging()
                .bucket("tags")
                .key("small")
                .tagging(tag_set(&[(long.as_str(), "v")]))
                .send()
                .await
        ),
        "InvalidTag"
    );
    assert_eq!(
        code(
            c.put_object()
                .bucket("tags")
                .key("bad")
                .tagging("a=1&a=2")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
        ),
        "InvalidArgument"
    );
    assert_eq!(
        tags_of(&c, "tags", "small", None).await,
        pairs(&[("a", "1")])
    );
    assert_eq!(
        code(
            c.get_object_tagging()
                .bucket("tags")
                .key("missing")
                .send()
                .await
        ),
        "NoSuchKey"
    );
    assert_eq!(
        code(
            c.put_object_tagging()
                .bucket("tags")
                .key("missing")
                .tagging(tag_set(&[("a", "1")]))
                .send()
                .await
        ),
        "NoSuchKey"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_belong_to_one_version() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("vtags").send().await.unwrap();
    c.put_bucket_versioning()
        .bucket("vtags")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v1 = c
        .put_object()
        .bucket("vtags")
        .key("k")
        .tagging("gen=1")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    let v2 = c
        .put_object()
        .bucket("vtags")
        .key("k")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    assert!(tags_of(&c, "vtags", "k", None).await.is_empty());
    assert_eq!(
        tags_of(&c, "vtags", "k", Some(&v1)).await,
        pairs(&[("gen", "1")])
    );
    let r = c
        .put_object_tagging()
        .bucket("vtags")
        .key("k")
        .version_id(&v1)
        .tagging(tag_set(&[("gen", "old")]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version_id(), Some(v1.as_str()));
    assert_eq!(
        tags_of(&c, "vtags", "k", Some(&v1)).await,
        pairs(&[("gen", "old")])
    );
    assert!(tags_of(&c, "vtags", "k", Some(&v2)).await.is_empty());
    // Retagging made no version: still two, in the same order.
    let l = c
        .list_object_versions()
        .bucket("vtags")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = l.versions().iter().filter_map(|v| v.version_id()).collect();
    assert_eq!(ids, [v2.as_str(), v1.as_str()]);
    // A delete marker has no tags.
    let marker = c
        .delete_object()
        .bucket("vtags")
        .key("k")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    assert_eq!(
        code(
            c.get_object_tagging()
                .bucket("vtags")
                .key("k")
                .version_id(&marker)
                .send()
                .await
        ),
        "MethodNotAllowed"
    );
    assert_eq!(
        code(c.get_object_tagging().bucket("vtags").key("k").send().await),
        "NoSuchKey"
    );
    assert_eq!(
        tags_of(&c, "vtags", "k", Some(&v1)).await,
        pairs(&[("gen", "old")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_tags_are_put_got_and_deleted() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("btags").send().await.unwrap();
    assert_eq!(
        code(c.get_bucket_tagging().bucket("btags").send().await),
        "NoSuchTagSet"
    );
    c.put_bucket_tagging()
        .bucket("btags")
        .tagging(tag_set(&[("cost", "storage"), ("env", "test")]))
        .send()
        .await
        .unwrap();
    let r = c.get_bucket_tagging().bucket("btags").send().await.unwrap();
    let got: Vec<(String, String)> = r
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    assert_eq!(got, pairs(&[("cost", "storage"), ("env", "test")]));
    c.delete_bucket_tagging()
        .bucket("btags")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(c.get_bucket_tagging().bucket("btags").send().await),
        "NoSuchTagSet"
    );
    assert_eq!(
        code(c.get_bucket_tagging().bucket("nosuchbucket").send().await),
        "NoSuchBucket"
    );
}
