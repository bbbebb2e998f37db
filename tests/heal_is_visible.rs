//! A heal in progress is visible, with one percentage, everywhere an
//! operator looks: `GET info`, `GET drives`, `/health/ready` and `cairn
//! admin heal status` (the real binaries). A drive is wiped while the node
//! runs; the heal is paused part-way so it stays in progress and every view
//! is read at one still point; after `resume` every view says `ok` again.

mod binary;

use std::time::Duration;

use binary::cli::Cli;
use binary::{raw_request, Server};
use serde_json::Value;

/// Probes run every 2 s and the heal is slow on purpose: ample room on a
/// loaded machine.
const SEEN_WITHIN: Duration = Duration::from_secs(120);

fn ready(s: &Server) -> String {
    let r = raw_request(
        s.port,
        b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200, "/health/ready");
    String::from_utf8_lossy(&r.body).into_owned()
}

fn wait_for<T>(what: &str, s: &Server, f: impl FnMut() -> Option<T>) -> T {
    s.wait_for(what, SEEN_WITHIN, f)
}

/// The healing drive's share done, as `GET background/heal` says it.
fn heal_progress(cli: &Cli) -> Option<f64> {
    cli.json(&["heal", "status", "local"])["drives"][0]["progress"].as_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_heal_shows_the_same_percentage_in_every_view_and_ok_once_done() {
    // Slow enough that the heal is caught part-way.
    let mut s = Server::start_with(&["--heal-rate", "2MiB", "--heal-idle-rate", "2MiB"]);
    let cli = Cli::for_server(&s);
    let c = s.client();
    c.create_bucket().bucket("vis").send().await.unwrap();
    for i in 0..48 {
        c.put_object()
            .bucket("vis")
            .key(format!("obj-{i}"))
            .body(binary::data(400_000, i).into())
            .send()
            .await
            .unwrap();
    }
    let list = cli.json(&["drive", "list", "local"]);
    assert_eq!(list["health"], "ok", "{list:#}");
    assert_eq!(list["healingPercent"], Value::Null, "{list:#}");
    let index = (0..4)
        .find(|&d| list["drives"][d]["holdsIndex"] == true)
        .expect("one drive holds the index");
    let wiped = (index + 1) % 4;
    let path = s.dir.path().join(format!("drive{wiped}"));
    std::fs::remove_dir_all(&path).unwrap();
    std::fs::create_dir(&path).unwrap();

    // Caught part-way, then paused: the heal stays in progress, still.
    wait_for("the heal under way", &s, || {
        heal_progress(&cli).filter(|&f| f > 0.0)
    });
    cli.ok(&["heal", "pause", "local"]);
    // The batch in flight when paused ends; then progress stands still.
    let mut last = heal_progress(&cli);
    let progress = wait_for("the paused heal standing still", &s, || {
        std::thread::sleep(Duration::from_millis(1500));
        let now = heal_progress(&cli);
        let still = (now == last).then_some(now);
        last = now;
        still
    })
    .expect("the paused drive is still healing");
    assert!(progress > 0.0 && progress < 1.0, "{progress}");

    let status = cli.json(&["heal", "status", "local"]);
    let pct = status["drives"][0]["percent"].as_u64().unwrap();
    assert_eq!(status["drives"][0]["drive"], wiped, "{status:#}");
    assert_eq!(pct, (progress * 100.0).floor() as u64, "{status:#}");
    let healing = format!("healing {pct}%");

    let info = cli.json(&["info", "local"]);
    assert_eq!(info["health"], format!("ok, {healing}"), "{info:#}");
    assert_eq!(info["healingPercent"], pct, "{info:#}");
    assert_eq!(info["drives"][wiped]["heal"]["percent"], pct, "{info:#}");

    let drives = cli.json(&["drive", "list", "local"]);
    assert_eq!(drives["health"], format!("ok, {healing}"), "{drives:#}");
    assert_eq!(drives["healingPercent"], pct, "{drives:#}");
    let heal = &drives["drives"][wiped]["heal"];
    assert_eq!(heal["percent"], pct, "{drives:#}");
    assert_eq!(heal["progress"].as_f64(), Some(progress), "{drives:#}");
    assert!(
        heal["etaSeconds"].is_u64(),
        "an ETA once some is done: {drives:#}"
    );
    for d in (0..4).filter(|&d| d != wiped) {
        assert_eq!(drives["drives"][d]["heal"], Value::Null, "{drives:#}");
    }

    let body = ready(&s);
    assert!(
        body.starts_with(&format!("ready: ok, {healing}\n")),
        "{body}"
    );
    assert!(
        body.contains(&format!("drive {wiped}: ok, {healing},")),
        "{body}"
    );

    // The text forms name it too.
    let text = cli.ok(&["heal", "status", "local"]);
    assert!(
        text.contains(&format!("drive {wiped} ")) && text.contains(&healing),
        "{text}"
    );
    let table = cli.ok(&["drive", "list", "local"]);
    assert!(table.contains(&format!("Health: ok, {healing}")), "{table}");
    assert!(
        table.contains("HEALING") && table.contains(&format!("{pct}%")),
        "{table}"
    );

    // Resumed, the heal ends and every view says ok.
    cli.ok(&["heal", "resume", "local"]);
    wait_for("the heal done", &s, || {
        let st = cli.json(&["heal", "status", "local"]);
        (st["drives"] == serde_json::json!([])).then_some(())
    });
    let info = cli.json(&["info", "local"]);
    assert_eq!(info["health"], "ok", "{info:#}");
    assert_eq!(info["healingPercent"], Value::Null, "{info:#}");
    let drives = cli.json(&["drive", "list", "local"]);
    assert_eq!(drives["health"], "ok", "{drives:#}");
    assert!(
        (0..4).all(|d| drives["drives"][d]["heal"].is_null()),
        "{drives:#}"
    );
    assert!(ready(&s).starts_with("ready: ok\n"));
    assert!(cli
        .ok(&["heal", "status", "local"])
        .contains("No drive is healing."));
    // And the objects read back whole.
    for i in [0, 23, 47] {
        assert_eq!(
            binary::get_bytes(&c, "vis", &format!("obj-{i}")).await,
            binary::data(400_000, i)
        );
    }
    s.restart();
    assert_eq!(cli.json(&["drive", "list", "local"])["health"], "ok");
}
