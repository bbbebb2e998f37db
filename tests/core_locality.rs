//! Cores touch only their own keys: object operations on keys that core 1
//! owns (PUT, GET, HEAD, listing, tagging, DELETE, a multipart upload),
//! sent over many connections so that the kernel spreads them over both
//! cores' listeners, hand core 0 no work at all (no write, no job run on
//! it); core 1 is handed the writes that arrived on core 0. The same load on core 0's keys is the
//! control: then core 0 is handed work. Counted by the server itself
//! (`cairn_core_handed_total`).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Tag, Tagging};
use aws_sdk_s3::Client;
use cairn::engine::placement::{owner_core, partition_of};

mod binary;
use binary::*;

const BUCKET: &str = "locality";
const CLIENTS: usize = 12;

fn partitions(srv: &Server) -> u16 {
    let f = std::fs::read(srv.dir.path().join("drive0/.cairn/format.json")).expect("format.json");
    let v: serde_json::Value = serde_json::from_slice(&f).expect("format json");
    v["partitions"].as_u64().expect("partitions") as u16
}

/// `n` keys under `prefix` whose partition core `core` owns.
fn keys_of(core: usize, prefix: &str, partitions: u16, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}/k{i}"))
        .filter(|k| owner_core(partition_of(BUCKET, k, partitions), 2) == core)
        .take(n)
        .collect()
}

/// Work each core has been handed, from `/metrics`.
fn handed(srv: &Server) -> [u64; 2] {
    let r = raw_request(
        srv.port,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .expect("metrics");
    let text = String::from_utf8_lossy(&r.body).into_owned();
    let mut out = [0u64; 2];
    for (core, slot) in out.iter_mut().enumerate() {
        let name = format!("cairn_core_handed_total{{core=\"{core}\"}} ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&name))
            .unwrap_or_else(|| panic!("{name} missing from /metrics"));
        *slot = line[name.len()..].trim().parse().expect("count");
    }
    out
}

/// Every kind of object operation on `key`, through `c`.
async fn exercise(c: &Client, key: &str) {
    let body = data(3000, key.len() as u64);
    c.put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put");
    assert_eq!(get_bytes(c, BUCKET, key).await, body);
    c.head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("head");
    c.put_object_tagging()
        .bucket(BUCKET)
        .key(key)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("k").value("v").build().expect("tag"))
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("tagging");
    c.list_objects_v2()
        .bucket(BUCKET)
        .prefix(key)
        .send()
        .await
        .expect("list");
    let up = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("create upload");
    let id = up.upload_id().expect("id");
    let part = c
        .upload_part()
        .bucket(BUCKET)
        .key(key)
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("part");
    c.complete_multipart_upload()
        .bucket(BUCKET)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap_or_default())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    c.delete_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("delete");
}

/// The load on `keys`, each client (its own connections) taking a share.
async fn load(srv: &Server, keys: &[String]) {
    let clients: Vec<Client> = (0..CLIENTS).map(|_| srv.client()).collect();
    let mut tasks = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let mine: Vec<String> = keys.iter().skip(i).step_by(CLIENTS).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for k in mine {
                exercise(&c, &k).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn object_operations_hand_core_zero_nothing_but_its_own_keys() {
    let srv = Server::start();
    srv.client()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("bucket");
    let p = partitions(&srv);
    let before = handed(&srv);

    load(&srv, &keys_of(1, "one", p, 48)).await;
    let after = handed(&srv);
    assert_eq!(
        after[0], before[0],
        "core 0 was handed work for keys it does not own"
    );
    // Writes that arrived on core 0 went to core 1: the load did reach
    // both listeners (else the check above proves nothing).
    assert!(after[1] > before[1], "no write crossed cores: {after:?}");

    // The control: core 0's own keys do reach it from core 1.
    load(&srv, &keys_of(0, "zero", p, 48)).await;
    assert!(handed(&srv)[0] > after[0], "the counter never moves");
}
