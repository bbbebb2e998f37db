//! `cairn admin compaction|repair|config|trace` against the real binary:
//! the background, configuration and trace endpoints through the client.

mod binary;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use binary::cli::Cli;
use binary::{Server, USER};
use serde_json::Value;

#[test]
fn compaction_and_repair_status_show_the_state_and_a_run_starts() {
    let s = Server::start();
    let cli = Cli::for_server(&s);
    for what in [
        &["compaction", "status", "local"][..],
        &["repair", "status", "local"],
    ] {
        let v = cli.json(what);
        let state = v["state"].as_str().expect("state");
        assert!(["idle", "running", "paused"].contains(&state), "{v}");
        assert!(v["runs"].is_u64() && v["failures"].is_u64(), "{v}");
        let human = cli.ok(what);
        assert!(human.contains("State") && human.contains(state), "{human}");
    }
    let before = cli.json(&["compaction", "status", "local"])["runs"]
        .as_u64()
        .unwrap_or(0);
    cli.ok(&["compaction", "run", "local"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = cli.json(&["compaction", "status", "local"]);
        if v["runs"].as_u64().unwrap_or(0) > before {
            break;
        }
        assert!(Instant::now() < deadline, "the run never counted: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn config_set_changes_a_setting_and_history_names_who() {
    let s = Server::start();
    let cli = Cli::for_server(&s);
    let all = cli.json(&["config", "get", "local"]);
    let settings = all["settings"].as_array().expect("settings");
    let first = &settings[0];
    let name = first["name"].as_str().expect("name").to_owned();
    let human = cli.ok(&["config", "get", "local"]);
    assert!(human.contains(&name), "{human}");
    let one = cli.json(&["config", "get", "local", &name]);
    assert_eq!(one["name"], name.as_str());

    // The log level is a setting every node has.
    cli.ok(&["config", "set", "local", "log.level", "debug"]);
    assert_eq!(
        cli.json(&["config", "get", "local", "log.level"])["value"],
        "debug"
    );
    let h = cli.json(&["config", "history", "local"]);
    let last = h["changes"]
        .as_array()
        .and_then(|c| c.last())
        .expect("a change");
    assert_eq!(last["name"], "log.level");
    assert_eq!(last["new"], "debug");
    assert_eq!(last["accessKey"], USER);
    assert!(cli
        .ok(&["config", "history", "local"])
        .contains("log.level"));
    let o = cli
        .command(&["config", "set", "local", "no_such_setting", "1"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn trace_prints_one_line_per_request_matching_the_filter() {
    let s = Server::start();
    let cli = Cli::for_server(&s);
    cli.ok(&["mb", "local/traced"]);
    let mut child = cli
        .command(&["trace", "local", "--bucket", "traced", "--errors", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("trace");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Requests until one is seen (the subscription starts asynchronously):
    // a 404 in the bucket matches, a success does not.
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = loop {
        let _ = cli.command(&["cat", "local/traced/missing"]).output();
        let _ = cli.command(&["ls", "local/traced"]).output();
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            break l;
        }
        assert!(Instant::now() < deadline, "no trace line");
    };
    let v: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["bucket"], "traced");
    assert_eq!(v["status"], 404);
    assert_eq!(v["error"], "NoSuchKey");
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let _ = child.wait();
}
