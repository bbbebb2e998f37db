//! NATS notification targets against the real binary and a real
//! `nats-server` (Debian's package; `.ci/run` installs it, and under
//! CI=true a missing server fails the test instead of skipping it).
//! A JetStream target stores every change's event in a stream, once and in
//! key order, across an outage of the NATS server and a `kill -9` of the
//! node; a plain target reaches a subscriber; the configuration checks
//! that a rule names a target of its kind.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_s3::Client;
use futures_util::StreamExt;
mod binary;
use binary::cli::Cli;
use binary::*;

const TOKEN: &str = "nats-secret";
const SUBJECT: &str = "cairn.events";
const ARN: &str = "arn:cairn:sqs::bus:nats";

/// A nats-server on loopback with JetStream, its store in `dir`, that the
/// test can stop and start again on the same port.
struct Nats {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Nats {
    /// None (the test skips) when nats-server is missing outside CI.
    fn start() -> Option<Nats> {
        if Command::new("nats-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "nats-server is missing (.ci/run installs Debian's nats-server)"
            );
            eprintln!("SKIPPED: nats-server is not installed");
            return None;
        }
        let mut n = Nats {
            port: free_port(),
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        n.up();
        Some(n)
    }

    fn up(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js"])
            .args(["-sd", self.dir.path().to_str().expect("utf-8")])
            .args(["--auth", TOKEN])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let t = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn client(&self) -> async_nats::Client {
        async_nats::ConnectOptions::with_token(TOKEN.into())
            .connect(self.url())
            .await
            .expect("connect to nats-server")
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.down();
    }
}

fn rule(id: &str, arn: &str, events: &[Event]) -> QueueConfiguration {
    QueueConfiguration::builder()
        .id(id)
        .queue_arn(arn)
        .set_events(Some(events.to_vec()))
        .build()
        .expect("rule")
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

async fn put(c: &Client, bucket: &str, key: &str) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("every PUT succeeds, whatever the target's state");
}

/// Every message the stream holds: (event name, key), in stream order.
async fn stored(js: &jetstream::Context) -> Vec<(String, String)> {
    let mut s = js.get_stream("CAIRN").await.expect("stream");
    let last = s.info().await.expect("stream info").state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        let m = s.get_raw_message(seq).await;
        let Ok(m) = m else { continue };
        let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON event");
        let r = &v["Records"][0];
        out.push((
            r["eventName"].as_str().expect("eventName").to_owned(),
            r["s3"]["object"]["key"].as_str().expect("key").to_owned(),
        ));
    }
    out
}

async fn wait_stored(s: &Server, js: &jetstream::Context, n: usize) -> Vec<(String, String)> {
    let t = std::time::Instant::now();
    loop {
        let got = stored(js).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{} of {n} events stored\n{}",
            got.len(),
            s.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_target_stores_each_change_once_across_an_outage_and_kill_9() {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let js = jetstream::new(nats.client().await);
    js.create_stream(stream::Config {
        name: "CAIRN".into(),
        subjects: vec![SUBJECT.into()],
        ..Default::default()
    })
    .await
    .expect("stream");

    let mut s = Server::start();
    let cli = Cli::for_server(&s);
    // A NATS target needs its subject.
    let refused = cli.run(&["notify", "add", "local", "bus", &nats.url()]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(refused.stderr.contains("subject"), "{}", refused.stderr);
    let out = cli.ok(&[
        "notify",
        "add",
        "local",
        "bus",
        &nats.url(),
        "--subject",
        SUBJECT,
        "--jetstream",
        "--auth-token",
        TOKEN,
    ]);
    assert!(out.contains(ARN), "{out}");
    let listed = cli.json(&["notify", "list", "local"]);
    let t = &listed["targets"][0];
    assert_eq!(t["type"], "nats");
    assert_eq!(t["subject"], SUBJECT);
    assert_eq!(t["jetStream"], true);

    let c = s.client();
    c.create_bucket()
        .bucket("evt")
        .send()
        .await
        .expect("bucket");
    // A rule must name the target as what it is.
    assert_eq!(
        set_rules(
            &c,
            "evt",
            vec![rule(
                "w",
                "arn:cairn:sqs::bus:webhook",
                &[Event::S3ObjectCreated]
            )]
        )
        .await,
        Err("InvalidArgument".into())
    );
    set_rules(
        &c,
        "evt",
        vec![rule(
            "all",
            ARN,
            &[Event::S3ObjectCreated, Event::S3ObjectRemoved],
        )],
    )
    .await
    .expect("rules");

    for i in 0..10 {
        put(&c, "evt", &format!("k{i:03}")).await;
    }
    c.delete_object()
        .bucket("evt")
        .key("k003")
        .send()
        .await
        .expect("delete");
    let got = wait_stored(&s, &js, 11).await;
    let mut want: Vec<(String, String)> = (0..10)
        .map(|i| ("ObjectCreated:Put".to_owned(), format!("k{i:03}")))
        .collect();
    want.push(("ObjectRemoved:Delete".into(), "k003".into()));
    let k003: Vec<&(String, String)> = got.iter().filter(|(_, k)| k == "k003").collect();
    assert_eq!(k003, vec![&want[3], &want[10]], "one key's events in order");
    let mut sorted = got.clone();
    sorted.sort();
    want.sort();
    assert_eq!(sorted, want, "each change once");

    // The NATS server goes away: writes go on, their events wait.
    nats.down();
    for i in 10..20 {
        put(&c, "evt", &format!("k{i:03}")).await;
    }
    s.wait_for(
        "the target to be seen down",
        Duration::from_secs(30),
        || {
            let t = cli.json(&["notify", "list", "local"]);
            (t["targets"][0]["online"] == false && t["targets"][0]["pending"] == 10).then_some(())
        },
    );
    // The node dies too; the events are in its outbox and come back.
    s.kill9_restart();
    nats.up();
    let js = jetstream::new(nats.client().await);
    let got = wait_stored(&s, &js, 21).await;
    s.wait_for("the outbox to empty", Duration::from_secs(30), || {
        let t = cli.json(&["notify", "list", "local"]);
        (t["targets"][0]["pending"] == 0 && t["targets"][0]["online"] == true).then_some(())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = stored(&js).await;
    assert_eq!(got_after.len(), got.len(), "nothing more arrives");
    let mut keys: Vec<String> = got_after
        .iter()
        .filter(|(n, _)| n == "ObjectCreated:Put")
        .map(|(_, k)| k.clone())
        .collect();
    keys.sort();
    let want: Vec<String> = (0..20).map(|i| format!("k{i:03}")).collect();
    assert_eq!(keys, want, "each acknowledged PUT's event exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_nats_target_reaches_a_subscriber() {
    let Some(nats) = Nats::start() else {
        return;
    };
    let sub_client = nats.client().await;
    let mut sub = sub_client
        .subscribe("cairn.plain")
        .await
        .expect("subscribe");
    sub_client.flush().await.expect("flush");

    let s = Server::start();
    let cli = Cli::for_server(&s);
    // A wrong token: the target is down, and says why.
    cli.ok(&[
        "notify",
        "add",
        "local",
        "plain",
        &nats.url(),
        "--subject",
        "cairn.plain",
        "--auth-token",
        "wrong",
    ]);
    let c = s.client();
    c.create_bucket()
        .bucket("plain-b")
        .send()
        .await
        .expect("bucket");
    set_rules(
        &c,
        "plain-b",
        vec![rule(
            "all",
            "arn:cairn:sqs::plain:nats",
            &[Event::S3ObjectCreated],
        )],
    )
    .await
    .expect("rules");
    put(&c, "plain-b", "first").await;
    s.wait_for(
        "the target to be seen down",
        Duration::from_secs(30),
        || {
            let t = cli.json(&["notify", "list", "local"]);
            let t = &t["targets"][0];
            (t["online"] == false && t["lastError"].as_str().is_some_and(|e| !e.is_empty()))
                .then_some(())
        },
    );
    // The right token: the waiting event arrives, then the next.
    cli.ok(&[
        "notify",
        "add",
        "local",
        "plain",
        &nats.url(),
        "--subject",
        "cairn.plain",
        "--auth-token",
        TOKEN,
    ]);
    put(&c, "plain-b", "second").await;
    let mut keys = Vec::new();
    while keys.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .unwrap_or_else(|_| panic!("events: got {keys:?}\n{}", s.log()))
            .expect("subscription open");
        assert!(
            m.headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .is_some(),
            "each message carries its change's id"
        );
        let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON event");
        assert_eq!(v["EventName"], "s3:ObjectCreated:Put");
        keys.push(
            v["Records"][0]["s3"]["object"]["key"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    keys.sort();
    assert_eq!(keys, ["first", "second"], "the waiting event and the next");
}
