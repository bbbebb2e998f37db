//! `cairn admin trace ALIAS`: the node's requests as they finish, from
//! `GET trace` (application/x-ndjson, one access-log record a line; a
//! `{"dropped": N}` line says the node skipped N for a slow reader).

use std::io::{BufRead, BufReader, Read, Write};

use clap::Args;
use serde_json::Value;

use super::client::Client;
use super::output::s;
use super::{CliError, Ctx};

/// Longest line read; a longer one is skipped (records are a few hundred bytes).
const MAX_LINE: u64 = 1 << 20;

#[derive(Args, Debug)]
pub struct TraceArgs {
    pub alias: String,
    /// Only requests to this bucket.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Only keys under this prefix.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only answers of this status: 4xx, 5xx or a code such as 404.
    #[arg(long)]
    pub status: Option<String>,
    /// Only failed requests (status 400 and above).
    #[arg(long)]
    pub errors: bool,
    /// Only requests signed by this user.
    #[arg(long)]
    pub user: Option<String>,
}

pub fn run(ctx: &Ctx, a: TraceArgs) -> Result<(), CliError> {
    if let Some(st) = &a.status {
        let ok = matches!(st.as_str(), "4xx" | "5xx")
            || (st.len() == 3 && st.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(CliError::Usage(format!(
                "--status {st:?}: give 4xx, 5xx or a three-digit code"
            )));
        }
    }
    let mut query: Vec<(&str, &str)> = Vec::new();
    for (k, v) in [
        ("bucket", &a.bucket),
        ("prefix", &a.prefix),
        ("status", &a.status),
        ("user", &a.user),
    ] {
        if let Some(v) = v {
            query.push((k, v.as_str()));
        }
    }
    if a.errors {
        query.push(("errors", "true"));
    }
    let resp = Client::connect(ctx, &a.alias)?.admin_stream("trace", &query)?;
    let mut reader = BufReader::new(resp.into_body().into_reader());
    let mut out = std::io::stdout().lock();
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE)
            .read_line(&mut line)
            .map_err(|e| CliError::Connect(format!("trace stream: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            eprintln!("cairn: skipped a trace line that is not JSON");
            continue;
        };
        if let Some(d) = v["dropped"].as_u64() {
            eprintln!(
                "cairn: warning: the node dropped {d} trace records (this reader is too slow)"
            );
            continue;
        }
        let printed = if ctx.json {
            writeln!(out, "{text}")
        } else {
            writeln!(out, "{}", human(&v))
        };
        // A closed pipe (`| head`) ends the trace quietly.
        if printed.and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
    }
}

/// One request as a line: time, status, method, operation, path, timings,
/// bytes, user and error.
pub fn human(v: &Value) -> String {
    let path = match (v["bucket"].as_str(), v["key"].as_str()) {
        (Some(b), Some(k)) => format!("/{b}/{k}"),
        (Some(b), None) => format!("/{b}"),
        _ => "/".to_owned(),
    };
    let mut line = format!(
        "{} {} {:<6} {:<24} {path} {}ms in={} out={} user={}",
        s(v, "time"),
        s(v, "status"),
        s(v, "method"),
        s(v, "operation"),
        s(v, "total_ms"),
        s(v, "bytes_in"),
        s(v, "bytes_out"),
        s(v, "user"),
    );
    if let Some(e) = v["error"].as_str() {
        line.push_str(" error=");
        line.push_str(e);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_record_reads_as_one_line() {
        let v: Value = serde_json::from_str(
            r#"{"time":"2026-12-05T08:00:00.000Z","request_id":"1","method":"GET",
               "operation":"GetObject","bucket":"b","key":"k/x","status":404,
               "error":"NoSuchKey","bytes_in":0,"bytes_out":210,"ttfb_ms":1.5,"total_ms":2.25,
               "user":"alice"}"#,
        )
        .expect("json");
        let l = human(&v);
        assert!(l.contains("404"), "{l}");
        assert!(l.contains("/b/k/x"), "{l}");
        assert!(l.contains("error=NoSuchKey"), "{l}");
        assert!(l.contains("user=alice"), "{l}");
        assert!(!l.contains('\n'));
    }
}
