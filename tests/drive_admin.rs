//! Drives held out of service: `cairn admin drive offline` stops all I/O to
//! a drive (its files are not touched while writes go on at quorum), the
//! hold outlives a restart, `/health/ready` says the set is degraded, and
//! `drive online` brings the drive back with the writes it missed repaired
//! onto it. A drive that keeps failing is taken out of service by the node.

mod binary;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use binary::cli::Cli;
use binary::{raw_request, Server};
use serde_json::Value;

/// Probes run every 2 s; a loaded machine gets ample room.
const SEEN_WITHIN: Duration = Duration::from_secs(60);

fn drive(s: &Server, d: usize) -> PathBuf {
    s.dir.path().join(format!("drive{d}"))
}

fn get(s: &Server, path: &str) -> (u16, String) {
    let r = raw_request(
        s.port,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

/// Every file under `dir` but the drive states (written to every drive on
/// each change), with its length and modification time.
fn files(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                todo.push(e.path());
            } else if e.file_name() != "drives.state" {
                out.insert(e.path(), (m.len(), m.modified().unwrap()));
            }
        }
    }
    out
}

fn drives(cli: &Cli) -> Value {
    cli.json(&["drive", "list", "local"])
}

fn wait_for(what: &str, s: &Server, f: impl FnMut() -> Option<Value>) -> Value {
    s.wait_for(what, SEEN_WITHIN, f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_held_offline_is_left_alone_outlives_a_restart_and_is_repaired_when_back() {
    let mut s = Server::start();
    let cli = Cli::for_server(&s);
    let c = s.client();
    c.create_bucket().bucket("held").send().await.unwrap();
    for i in 0..4 {
        c.put_object()
            .bucket("held")
            .key(format!("before-{i}"))
            .body(binary::data(300_000, i).into())
            .send()
            .await
            .unwrap();
    }
    let list = drives(&cli);
    assert_eq!(list["health"], "ok", "{list:#}");
    let index = (0..4)
        .find(|&d| list["drives"][d]["holdsIndex"] == true)
        .expect("one drive holds the index");
    let held = (index + 3) % 4;
    let other = (index + 2) % 4;

    // The index drive cannot be held while the node runs.
    let o = cli.run(&["drive", "offline", "local", &index.to_string()]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("DriveHoldsIndex"), "{}", o.stderr);
    let o = cli.run(&["drive", "offline", "local", "9"]);
    assert!(o.stderr.contains("NoSuchDrive"), "{}", o.stderr);

    let v = cli.json(&[
        "drive",
        "offline",
        "local",
        &held.to_string(),
        "--reason",
        "new cable",
    ]);
    assert_eq!(v["state"], "held", "{v:#}");
    assert_eq!(v["hold"]["reason"], "new cable");
    // A second hold would leave fewer drives than writes need (2+2: 3).
    let o = cli.run(&["drive", "offline", "local", &other.to_string()]);
    assert!(o.stderr.contains("WriteQuorumAtRisk"), "{}", o.stderr);
    let (status, body) = get(&s, "/health/ready");
    assert_eq!(status, 200);
    assert!(body.starts_with("ready: degraded: 1 drive\n"), "{body}");
    assert!(body.contains(&format!("drive {held}: held")), "{body}");
    assert!(get(&s, "/metrics")
        .1
        .contains(&format!("cairn_drive_held{{drive=\"{held}\"}} 1")));

    // Writes go on at quorum and nothing on the held drive changes.
    let before = files(&drive(&s, held));
    for i in 0..6 {
        c.put_object()
            .bucket("held")
            .key(format!("during-{i}"))
            .body(binary::data(200_000 + i, 10 + i as u64).into())
            .send()
            .await
            .unwrap();
    }
    c.delete_object()
        .bucket("held")
        .key("before-0")
        .send()
        .await
        .unwrap();
    for i in 1..4 {
        assert_eq!(
            binary::get_bytes(&c, "held", &format!("before-{i}")).await,
            binary::data(300_000, i)
        );
    }
    assert_eq!(
        files(&drive(&s, held)),
        before,
        "the held drive was written"
    );
    let remembered = cli.json(&["repair", "status", "local"])["remembered"]
        .as_u64()
        .unwrap();
    assert!(
        remembered >= 6,
        "writes taken without it are remembered: {remembered}"
    );

    // The hold outlives a restart, and the index does not move onto it.
    s.restart();
    let list = drives(&cli);
    assert_eq!(list["health"], "degraded: 1 drive", "{list:#}");
    assert_eq!(list["drives"][held]["state"], "held", "{list:#}");
    assert_eq!(list["drives"][held]["holdsIndex"], false);
    assert_eq!(files(&drive(&s, held)), before, "start-up wrote to it");
    for i in 0..6 {
        assert_eq!(
            binary::get_bytes(&c, "held", &format!("during-{i}")).await,
            binary::data(200_000 + i, 10 + i as u64)
        );
    }

    let v = cli.json(&["drive", "online", "local", &held.to_string()]);
    assert_eq!(v["state"], "ok", "{v:#}");
    assert_eq!(v["hold"], Value::Null);
    assert_eq!(drives(&cli)["health"], "ok");
    // What it missed is repaired onto it.
    wait_for("repairs done", &s, || {
        let r = cli.json(&["repair", "status", "local"]);
        (r["remembered"] == 0).then_some(r)
    });
    let after = files(&drive(&s, held));
    assert!(
        after.len() > before.len(),
        "repair wrote new segments to the returned drive"
    );
    assert!(get(&s, "/health/ready").1.starts_with("ready: ok\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drive_that_keeps_failing_is_taken_out_of_service_until_the_operator_returns_it() {
    let mut s = Server::start();
    let cli = Cli::for_server(&s);
    let c = s.client();
    c.create_bucket().bucket("flaky").send().await.unwrap();
    let list = drives(&cli);
    let index = (0..4)
        .find(|&d| list["drives"][d]["holdsIndex"] == true)
        .unwrap();
    let d = (index + 1) % 4;
    let path = drive(&s, d);
    let away = s.dir.path().join("away");
    let state = |cli: &Cli| drives(cli)["drives"][d]["state"].clone();
    // Three times gone and back within the hour: out of service.
    for round in 1..=3 {
        std::fs::rename(&path, &away).unwrap();
        let seen = wait_for("offline", &s, || {
            let st = state(&cli);
            (st == "offline" || st == "outOfService").then_some(st)
        });
        std::fs::rename(&away, &path).unwrap();
        if round < 3 {
            assert_eq!(seen, "offline");
            wait_for("back", &s, || (state(&cli) == "ok").then_some(Value::Null));
        }
    }
    let v = wait_for("out of service", &s, || {
        let l = drives(&cli);
        (l["drives"][d]["state"] == "outOfService").then_some(l)
    });
    assert!(
        v["drives"][d]["hold"]["reason"]
            .as_str()
            .unwrap()
            .contains("went offline 3 times"),
        "{v:#}"
    );
    // It stays out while its probe passes again, and after a restart.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(state(&cli), "outOfService");
    c.put_object()
        .bucket("flaky")
        .key("k")
        .body(binary::data(100_000, 1).into())
        .send()
        .await
        .unwrap();
    s.restart();
    assert_eq!(state(&cli), "outOfService");
    assert!(get(&s, "/metrics")
        .1
        .contains(&format!("cairn_drive_held{{drive=\"{d}\"}} 2")));
    let v = cli.json(&["drive", "online", "local", &d.to_string()]);
    assert_eq!(v["state"], "ok", "{v:#}");
    assert_eq!(
        binary::get_bytes(&c, "flaky", "k").await,
        binary::data(100_000, 1)
    );
}
