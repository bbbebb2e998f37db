//! Event notifications against the real binary (issue 17 part 3): a
//! webhook target added with `cairn admin notify add`, rules set with
//! aws-sdk-s3, and a receiver this test runs on loopback. Configuration
//! calls answer S3's shapes and errors; each change a rule takes arrives
//! once, as S3's event record, with the auth token; filters hold; one key's
//! events arrive in order; events wait while the receiver is down and
//! across a `kill -9` of the node, and arrive exactly once afterwards.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Event, FilterRule,
    FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration,
    S3KeyFilter, Tag, Tagging, VersioningConfiguration,
};
use aws_sdk_s3::Client;
mod binary;
use binary::cli::Cli;
use binary::webhook::Receiver;
use binary::*;

const TOKEN: &str = "hook-secret";
const ARN: &str = "arn:cairn:sqs::hook:webhook";

fn rule(id: &str, events: &[Event], prefix: &str, suffix: &str) -> QueueConfiguration {
    let mut rules = Vec::new();
    if !prefix.is_empty() {
        rules.push(
            FilterRule::builder()
                .name(FilterRuleName::Prefix)
                .value(prefix)
                .build(),
        );
    }
    if !suffix.is_empty() {
        rules.push(
            FilterRule::builder()
                .name(FilterRuleName::Suffix)
                .value(suffix)
                .build(),
        );
    }
    QueueConfiguration::builder()
        .id(id)
        .queue_arn(ARN)
        .set_events(Some(events.to_vec()))
        .filter(
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build(),
        )
        .build()
        .expect("queue configuration")
}

async fn set_rules(c: &Client, bucket: &str, rules: Vec<QueueConfiguration>) -> Result<(), String> {
    let r = c
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_queue_configurations(Some(rules))
                .build(),
        )
        .send()
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) => Err(code::<(), _>(Err(e))),
    }
}

/// A node with target `hook` pointing at a fresh receiver.
fn node() -> (Server, Receiver, Cli) {
    let s = Server::start();
    let rx = Receiver::start();
    let cli = Cli::for_server(&s);
    let out = cli.ok(&[
        "notify",
        "add",
        "local",
        "hook",
        &rx.url(),
        "--auth-token",
        TOKEN,
    ]);
    assert!(out.contains(ARN), "{out}");
    (s, rx, cli)
}

/// A bucket whose every created object is an event, and `n` PUTs to it
/// (the receiver down): each must succeed whatever the target's state.
async fn put_while_down(c: &Client, bucket: &str, n: usize) {
    c.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .expect("bucket");
    set_rules(
        c,
        bucket,
        vec![rule("all", &[Event::S3ObjectCreated], "", "")],
    )
    .await
    .expect("rules");
    for i in 0..n {
        c.put_object()
            .bucket(bucket)
            .key(format!("k{i:03}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("every PUT succeeds, whatever the target's state");
    }
}

fn wait_events(s: &Server, rx: &Receiver, n: usize) -> Vec<(String, String)> {
    s.wait_for("the events", Duration::from_secs(30), || {
        let e = rx.events();
        (e.len() >= n).then_some(e)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_calls_answer_s3s_shapes_and_errors() {
    let (s, _rx, cli) = node();
    let c = s.client();
    c.create_bucket()
        .bucket("cfg")
        .send()
        .await
        .expect("bucket");
    let got = c
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .expect("get none");
    assert!(got.queue_configurations().is_empty(), "no rules yet");

    // An ARN that names no target is refused.
    let mut bad = rule("r", &[Event::S3ObjectCreated], "", "");
    bad.queue_arn = "arn:cairn:sqs::nowhere:webhook".into();
    assert_eq!(
        set_rules(&c, "cfg", vec![bad]).await,
        Err("InvalidArgument".into())
    );
    // Two rules one key and event could both reach overlap.
    let overlap = vec![
        rule("a", &[Event::S3ObjectCreated], "img/", ""),
        rule("b", &[Event::S3ObjectCreatedPut], "img/2024/", ".jpg"),
    ];
    assert_eq!(
        set_rules(&c, "cfg", overlap).await,
        Err("InvalidArgument".into())
    );
    assert_eq!(
        set_rules(
            &c,
            "cfg",
            vec![rule("x", &[Event::from("s3:ObjectEaten:*")], "", "")]
        )
        .await,
        Err("InvalidArgument".into())
    );

    let rules = vec![
        rule("jpgs", &[Event::S3ObjectCreated], "img/", ".jpg"),
        rule("gone", &[Event::S3ObjectRemovedDelete], "", ""),
    ];
    set_rules(&c, "cfg", rules).await.expect("put rules");
    let got = c
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .expect("get");
    let q = got.queue_configurations();
    assert_eq!(q.len(), 2);
    assert_eq!((q[0].id(), q[0].queue_arn()), (Some("jpgs"), ARN));
    assert_eq!(q[0].events(), &[Event::S3ObjectCreated]);
    let f = q[0].filter().and_then(|f| f.key()).expect("filter");
    assert_eq!(f.filter_rules().len(), 2);

    // Removing the target while a rule names it: the rule stays, the
    // target's list is empty, and an empty configuration removes the rules.
    let listed = cli.json(&["notify", "list", "local"]);
    assert_eq!(listed["targets"][0]["name"], "hook");
    assert_eq!(
        listed["targets"][0]["authToken"], true,
        "the token is never shown"
    );
    set_rules(&c, "cfg", Vec::new()).await.expect("empty");
    let got = c
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .expect("get");
    assert!(got.queue_configurations().is_empty());
    cli.ok(&["notify", "remove", "local", "hook", "--force"]);
    assert!(cli.json(&["notify", "list", "local"])["targets"]
        .as_array()
        .is_some_and(|a| a.is_empty()));
    assert_eq!(
        set_rules(
            &c,
            "cfg",
            vec![rule("jpgs", &[Event::S3ObjectCreated], "", "")]
        )
        .await,
        Err("InvalidArgument".into()),
        "a removed target is no destination"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_change_a_rule_takes_arrives_once_as_s3s_event_in_key_order() {
    let (s, rx, _cli) = node();
    let c = s.client();
    c.create_bucket()
        .bucket("evt")
        .send()
        .await
        .expect("bucket");
    c.put_bucket_versioning()
        .bucket("evt")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
    let rules = vec![
        rule("created", &[Event::S3ObjectCreated], "in/", ""),
        rule("removed", &[Event::S3ObjectRemoved], "in/", ""),
        rule("tagged", &[Event::S3ObjectTagging], "in/", ""),
    ];
    set_rules(&c, "evt", rules).await.expect("rules");

    let put = |k: &'static str| {
        c.put_object()
            .bucket("evt")
            .key(k)
            .body(ByteStream::from_static(b"hello"))
            .send()
    };
    put("in/a b.txt").await.expect("put");
    put("out/ignored").await.expect("put outside the prefix");
    c.copy_object()
        .bucket("evt")
        .key("in/copy")
        .copy_source("evt/in/a b.txt")
        .send()
        .await
        .expect("copy");
    let up = c
        .create_multipart_upload()
        .bucket("evt")
        .key("in/mp")
        .send()
        .await
        .expect("create");
    let id = up.upload_id().expect("id");
    let part = c
        .upload_part()
        .bucket("evt")
        .key("in/mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .expect("part");
    c.complete_multipart_upload()
        .bucket("evt")
        .key("in/mp")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().expect("etag"))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete");
    c.put_object_tagging()
        .bucket("evt")
        .key("in/copy")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("k").value("v").build().expect("tag"))
                .build()
                .expect("tagging"),
        )
        .send()
        .await
        .expect("tag");
    c.delete_object()
        .bucket("evt")
        .key("in/copy")
        .send()
        .await
        .expect("delete (a marker)");
    c.delete_object()
        .bucket("evt")
        .key("in/never-written")
        .send()
        .await
        .expect("delete of nothing");

    let want: Vec<(&str, &str)> = vec![
        ("ObjectCreated:Put", "in%2Fa+b.txt"),
        ("ObjectCreated:Copy", "in%2Fcopy"),
        ("ObjectCreated:CompleteMultipartUpload", "in%2Fmp"),
        ("ObjectTagging:Put", "in%2Fcopy"),
        ("ObjectRemoved:DeleteMarkerCreated", "in%2Fcopy"),
        ("ObjectRemoved:DeleteMarkerCreated", "in%2Fnever-written"),
    ];
    let got = wait_events(&s, &rx, want.len());
    // One key's events in the order of its changes; keys may interleave.
    let mut by_key: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, key) in &want {
        by_key.entry(key).or_default().push(name);
    }
    let mut got_by_key: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, key) in &got {
        got_by_key
            .entry(key.as_str())
            .or_default()
            .push(name.as_str());
    }
    assert_eq!(
        got_by_key, by_key,
        "every change once, in key order: {got:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.events().len(), want.len(), "nothing more arrives");

    let all = rx.got.lock().expect("lock").clone();
    for (auth, _) in &all {
        assert_eq!(auth.as_deref(), Some("Bearer hook-secret"));
    }
    let first = &all
        .iter()
        .find(|(_, v)| v["Records"][0]["eventName"] == "ObjectCreated:Put")
        .expect("the put")
        .1;
    assert_eq!(first["EventName"], "s3:ObjectCreated:Put");
    let r = &first["Records"][0];
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["s3"]["bucket"]["name"], "evt");
    assert_eq!(r["s3"]["configurationId"], "created");
    assert_eq!(r["s3"]["object"]["size"], 5);
    assert_eq!(r["s3"]["object"]["eTag"], md5_hex(b"hello"));
    assert!(r["s3"]["object"]["versionId"]
        .as_str()
        .is_some_and(|v| v.len() == 32));
    assert!(!r["responseElements"]["x-amz-request-id"]
        .as_str()
        .unwrap_or("")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_for_a_receiver_that_is_down_and_survive_kill_9() {
    let (mut s, rx, cli) = node();
    let c = s.client();
    const N: usize = 40;
    rx.down.store(true, Ordering::SeqCst);
    put_while_down(&c, "que", N).await;
    // Tried and refused: the target shows as down with its events waiting.
    s.wait_for(
        "the target to be seen down",
        Duration::from_secs(30),
        || {
            let t = cli.json(&["notify", "list", "local"]);
            (t["targets"][0]["online"] == false && t["targets"][0]["pending"] == N as u64)
                .then_some(())
        },
    );
    assert!(rx.events().is_empty());

    s.kill9_restart();
    rx.down.store(false, Ordering::SeqCst);
    let got = wait_events(&s, &rx, N);
    let mut keys: Vec<String> = got.iter().map(|(_, k)| k.clone()).collect();
    keys.sort();
    let want: Vec<String> = (0..N).map(|i| format!("k{i:03}")).collect();
    assert_eq!(keys, want, "each acknowledged PUT's event exactly once");
    s.wait_for("the outbox to empty", Duration::from_secs(30), || {
        let t = cli.json(&["notify", "list", "local"]);
        (t["targets"][0]["pending"] == 0 && t["targets"][0]["online"] == true).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.events().len(), N, "nothing is sent twice");
}

/// The delivery mark in `/metrics`, in ms (0 before one is stored).
fn delivery_mark_ms(s: &Server) -> u64 {
    metrics_text(s)
        .lines()
        .find_map(|l| l.strip_prefix("cairn_notify_delivery_mark_seconds "))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| (v * 1000.0) as u64)
}

/// A power loss costs the index (rebuilt from the drives once the boot id
/// changed), and the outbox with it: the records carry their events, so
/// those not yet delivered come back and arrive once; those delivered
/// before the delivery mark was stored are not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undelivered_events_survive_a_power_loss_and_delivered_ones_are_not_sent_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let boot = dir.path().join("boot_id");
    std::fs::write(&boot, "boot-one\n").expect("boot id");
    let boot_env = boot.to_str().expect("utf-8 path").to_owned();
    let mut s = Server::start_env(
        dir,
        &[],
        &[(cairn::engine::index::BOOT_ID_FILE_ENV, boot_env.as_str())],
    );
    let rx = Receiver::start();
    let cli = Cli::for_server(&s);
    cli.ok(&["notify", "add", "local", "hook", &rx.url()]);
    let c = s.client();
    c.create_bucket()
        .bucket("plost")
        .send()
        .await
        .expect("bucket");
    let all = [Event::S3ObjectCreated, Event::S3ObjectRemoved];
    set_rules(&c, "plost", vec![rule("all", &all, "", "")])
        .await
        .expect("rules");
    let put = |key: String| {
        let c = c.clone();
        async move {
            c.put_object()
                .bucket("plost")
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .expect("put");
        }
    };
    const EARLY: usize = 10;
    for i in 0..EARLY {
        put(format!("early-{i:02}")).await;
    }
    wait_events(&s, &rx, EARLY);
    let delivered_by = cairn::engine::now_ms();
    s.wait_for(
        "the delivery mark to pass the delivered events",
        Duration::from_secs(30),
        || (delivery_mark_ms(&s) > delivered_by).then_some(()),
    );

    rx.down.store(true, Ordering::SeqCst);
    const LATE: usize = 20;
    for i in 0..LATE {
        put(format!("late-{i:02}")).await;
    }
    c.delete_object()
        .bucket("plost")
        .key("early-00")
        .send()
        .await
        .expect("delete");
    s.wait_for("the late events to wait", Duration::from_secs(30), || {
        let t = cli.json(&["notify", "list", "local"]);
        (t["targets"][0]["pending"] == (LATE + 1) as u64).then_some(())
    });

    // The power goes: the process dies and the machine boots again.
    s.kill9_restart_after(|_| std::fs::write(&boot, "boot-two\n").expect("boot id"));
    assert!(
        s.log().contains("deleted unread, it may be torn"),
        "the index was rebuilt from the drives"
    );
    rx.down.store(false, Ordering::SeqCst);
    let got = wait_events(&s, &rx, EARLY + LATE + 1);
    s.wait_for("the outbox to empty", Duration::from_secs(30), || {
        let t = cli.json(&["notify", "list", "local"]);
        (t["targets"][0]["pending"] == 0).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let got_now = rx.events();
    assert_eq!(got_now.len(), got.len(), "nothing more arrives");
    let mut count: HashMap<(String, String), usize> = HashMap::new();
    for e in got_now {
        *count.entry(e).or_default() += 1;
    }
    for ((name, key), n) in &count {
        assert_eq!(*n, 1, "{name} {key} arrived {n} times");
    }
    let late_after_loss = (0..LATE)
        .filter(|i| count.contains_key(&("ObjectCreated:Put".to_owned(), format!("late-{i:02}"))))
        .count();
    assert_eq!(
        late_after_loss, LATE,
        "every acknowledged PUT's event: {count:?}"
    );
    assert!(
        count.contains_key(&("ObjectRemoved:Delete".to_owned(), "early-00".to_owned())),
        "the delete's event: {count:?}"
    );
    assert_eq!(count.len(), EARLY + LATE + 1, "{count:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_falls_behind_is_bounded_counted_and_logged() {
    let mut s = Server::start();
    let rx = Receiver::start();
    let cli = Cli::for_server(&s);
    // One event per partition (the limit is split over the 16 partitions).
    cli.ok(&[
        "notify",
        "add",
        "local",
        "hook",
        &rx.url(),
        "--queue-limit",
        "1",
    ]);
    let c = s.client();
    const N: u64 = 40;
    rx.down.store(true, Ordering::SeqCst);
    put_while_down(&c, "full", N as usize).await;
    let t = &cli.json(&["notify", "list", "local"])["targets"][0];
    let (pending, dropped) = (
        t["pending"].as_u64().expect("pending"),
        t["dropped"].as_u64().expect("dropped"),
    );
    assert!(pending <= 16, "at most one waiting per partition: {t}");
    assert_eq!(pending + dropped, N, "{t}");
    assert!(s.log().contains("queue is full"), "the drop is logged");
    let metrics = metrics_text(&s);
    assert!(
        metrics.contains(&format!(
            "cairn_notify_events_dropped_total{{target=\"hook\"}} {dropped}"
        )),
        "{metrics}"
    );
    // Across a kill -9: the waiting ones are counted from the outbox
    // again, the dropped ones were stored when they were dropped.
    s.kill9_restart();
    let again = &cli.json(&["notify", "list", "local"])["targets"][0];
    assert_eq!(again["pending"], pending, "{again}");
    assert_eq!(again["dropped"], dropped, "{again}");
    rx.down.store(false, Ordering::SeqCst);
    let got = wait_events(&s, &rx, pending as usize);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(got.len() as u64, pending);
    assert_eq!(rx.events().len() as u64, pending, "the kept ones, once");
}

/// `/metrics` as root sees it.
fn metrics_text(s: &Server) -> String {
    let r = raw_request(
        s.port,
        b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .expect("metrics");
    String::from_utf8_lossy(&r.body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_is_verified_against_its_ca_or_the_systems_roots() {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("cert");
    let key =
        rustls_pki_types::PrivateKeyDer::try_from(c.signing_key.serialize_der()).expect("key");
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![c.cert.der().clone()], key)
    .expect("server config");
    let rx = Receiver::start_tls(Some(Arc::new(cfg)));
    let url = format!("https://127.0.0.1:{}/events", rx.port);
    let s = Server::start();
    let cli = Cli::for_server(&s);
    let ca = s.dir.path().join("hook-ca.pem");
    std::fs::write(&ca, c.cert.pem()).expect("write ca");
    let ca = ca.to_str().expect("utf-8");
    cli.ok(&["notify", "add", "local", "trusted", &url, "--ca-cert", ca]);
    cli.ok(&["notify", "add", "local", "untrusted", &url]);
    let c3 = s.client();
    for (bucket, target) in [("tls-ok", "trusted"), ("tls-bad", "untrusted")] {
        c3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("bucket");
        let mut r = rule("all", &[Event::S3ObjectCreated], "", "");
        r.queue_arn = format!("arn:cairn:sqs::{target}:webhook");
        set_rules(&c3, bucket, vec![r]).await.expect("rules");
        c3.put_object()
            .bucket(bucket)
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect("put");
    }
    let got = wait_events(&s, &rx, 1);
    assert_eq!(got, vec![("ObjectCreated:Put".to_owned(), "k".to_owned())]);
    let untrusted = s.wait_for(
        "the untrusted target to fail",
        Duration::from_secs(30),
        || {
            let all = cli.json(&["notify", "list", "local"]);
            let t = all["targets"]
                .as_array()?
                .iter()
                .find(|t| t["name"] == "untrusted")?
                .clone();
            (t["failed"].as_u64() > Some(0)).then_some(t)
        },
    );
    assert_eq!(untrusted["online"], false, "{untrusted}");
    assert_eq!(untrusted["pending"], 1, "the event waits: {untrusted}");
    let why = untrusted["lastError"]
        .as_str()
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        why.contains("certificate") || why.contains("issuer"),
        "{why}"
    );
    assert_eq!(
        rx.events().len(),
        1,
        "nothing arrived from the untrusted target"
    );
}
