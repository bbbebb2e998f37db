//! Deduplication, first increment: the per-bucket opt-in
//! (`cairn admin bucket dedup`), kept in the bucket table across restarts,
//! and objects of a dedup bucket reading back exact. Content-addressed
//! storage is not built yet (docs/ARCHITECTURE.md, "Deduplication").

mod binary;

use binary::cli::Cli;
use binary::{data, get_bytes, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dedup_choice_is_per_bucket_and_survives_a_kill_9() {
    let mut s = Server::start();
    let c = s.client();
    for b in ["ddb", "plain"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    let cli = Cli::for_server(&s);
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb"])["dedup"],
        false
    );
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb", "on"])["dedup"],
        true
    );
    assert_eq!(
        cli.ok(&["bucket", "dedup", "local", "ddb"]).trim(),
        "ddb: dedup on"
    );
    assert_eq!(cli.json(&["bucket", "info", "local", "ddb"])["dedup"], true);
    assert_eq!(
        cli.json(&["bucket", "info", "local", "plain"])["dedup"],
        false
    );
    let o = cli.run(&["bucket", "dedup", "local", "none", "on"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("NoSuchBucket"), "{}", o.stderr);
    assert_eq!(
        cli.run(&["bucket", "dedup", "local", "ddb", "maybe"]).code,
        2
    );

    // The same bytes under many keys, inline-sized and striped.
    let small = data(3000, 1);
    let big = data(3 << 20, 2);
    for i in 0..4 {
        for (name, body) in [("small", &small), ("big", &big)] {
            c.put_object()
                .bucket("ddb")
                .key(format!("{name}-{i}"))
                .body(body.clone().into())
                .send()
                .await
                .unwrap();
        }
    }

    s.kill9_restart();
    let c = s.client();
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb"])["dedup"],
        true
    );
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "plain"])["dedup"],
        false
    );
    for i in 0..4 {
        assert!(get_bytes(&c, "ddb", &format!("small-{i}")).await == small);
        assert!(get_bytes(&c, "ddb", &format!("big-{i}")).await == big);
    }
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb", "off"])["dedup"],
        false
    );
    s.restart();
    assert_eq!(
        cli.json(&["bucket", "dedup", "local", "ddb"])["dedup"],
        false
    );
}
