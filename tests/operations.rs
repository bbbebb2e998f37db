//! What operators install next to the binary stays true to it: every metric
//! the Grafana dashboard and the alert rules in `contrib/` query is one a
//! running node serves on `/metrics`, and the dashboard is valid JSON whose
//! panels all query something.

mod binary;
use binary::*;

fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .match_indices("cairn_")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

fn served(metrics: &str, name: &str) -> bool {
    metrics.lines().any(|l| {
        l.strip_prefix("# TYPE ").map_or(
            l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")),
            |t| t.split_whitespace().next() == Some(name),
        )
    })
}

#[test]
fn dashboard_and_alerts_query_only_metrics_the_node_serves() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dashboard =
        std::fs::read_to_string(format!("{root}/contrib/grafana/cairn-dashboard.json")).unwrap();
    let alerts =
        std::fs::read_to_string(format!("{root}/contrib/prometheus/cairn-alerts.yml")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard is JSON");
    let panels = doc["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    for p in panels {
        let targets = p["targets"].as_array().expect("targets");
        assert!(
            targets
                .iter()
                .all(|t| t["expr"].as_str().is_some_and(|e| e.contains("cairn_"))),
            "panel {} queries nothing of cairn's",
            p["title"]
        );
    }

    let s = Server::start();
    // One request of each kind so that labelled series exist.
    let _ = raw_request(
        s.port,
        b"GET /no-such-bucket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let metrics = raw_request(
        s.port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(metrics.status, 200);
    let metrics = String::from_utf8(metrics.body).unwrap();
    let mut queried = metric_names(&dashboard);
    queried.extend(metric_names(&alerts));
    queried.sort();
    queried.dedup();
    // Summaries are queried by their base name.
    let missing: Vec<&String> = queried
        .iter()
        .filter(|n| !served(&metrics, n.trim_end_matches("_count")))
        .collect();
    assert!(queried.len() >= 10, "{queried:?}");
    assert!(missing.is_empty(), "queried but not served: {missing:?}");
}

#[test]
fn metric_names_are_found_in_queries() {
    assert_eq!(
        metric_names(r#"rate(cairn_requests_total{op="x"}[1m]) / cairn_drive_full"#),
        vec!["cairn_drive_full", "cairn_requests_total"]
    );
    assert!(served(
        "# TYPE cairn_drive_full gauge\ncairn_drive_full{drive=\"0\"} 0\n",
        "cairn_drive_full"
    ));
    assert!(!served(
        "# TYPE cairn_drive_full_x gauge\n",
        "cairn_drive_full"
    ));
}
