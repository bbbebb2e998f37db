//! Request spans to an OpenTelemetry collector: OTLP/HTTP with a JSON body,
//! POSTed to `{endpoint}/v1/traces` from the exporter's own thread, a batch
//! at a time. Plain HTTP only: the collector (or agent) is expected on the
//! machine or the local network; see docs/ARCHITECTURE.md for why this is
//! not the opentelemetry-otlp crate.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::sink::Consumer;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of the collector's answer read (its status line is enough).
const MAX_ANSWER: usize = 16 << 10;

#[derive(Default)]
pub struct Stats {
    pub exported: AtomicU64,
    pub failures: AtomicU64,
}

pub struct Exporter {
    /// `host:port` for the connection and the Host header.
    authority: String,
    path: String,
    /// The envelope before the spans: resource and scope.
    head: Vec<u8>,
    pub stats: Arc<Stats>,
    /// Seconds of the last failure warning.
    warned: u64,
}

impl Exporter {
    /// `http://host[:port][/prefix]`: spans go to `/prefix/v1/traces` (the
    /// OTLP exporters' rule for a base endpoint) unless the path already
    /// ends in `/v1/traces`.
    pub fn new(endpoint: &str) -> Result<Exporter, String> {
        let bad = |why: &str| format!("CAIRN_OTLP_ENDPOINT {endpoint:?}: {why}");
        let rest = if let Some(r) = endpoint.strip_prefix("http://") {
            r
        } else if endpoint.starts_with("https://") {
            return Err(bad(
                "only http:// is supported (send to a local collector, which can forward over TLS)",
            ));
        } else {
            return Err(bad("must start with http://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("needs a host"));
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !authority.ends_with(']')
        {
            authority.to_owned()
        } else {
            format!("{authority}:4318")
        };
        let path = path.trim_end_matches('/');
        let path = if path.ends_with("/v1/traces") {
            path.to_owned()
        } else {
            format!("{path}/v1/traces")
        };
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let mut head = Vec::new();
        head.extend_from_slice(br#"{"resourceSpans":[{"resource":{"attributes":["#);
        for (i, (k, v)) in [
            ("service.name", "cairn"),
            ("service.version", env!("CARGO_PKG_VERSION")),
            ("host.name", host.as_str()),
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                head.push(b',');
            }
            head.extend_from_slice(br#"{"key":"#);
            super::json::string(&mut head, k.as_bytes());
            head.extend_from_slice(br#","value":{"stringValue":"#);
            super::json::string(&mut head, v.as_bytes());
            head.extend_from_slice(b"}}");
        }
        head.extend_from_slice(br#"]},"scopeSpans":[{"scope":{"name":"cairn","version":"#);
        super::json::string(&mut head, env!("CARGO_PKG_VERSION").as_bytes());
        head.extend_from_slice(br#"},"spans":["#);
        Ok(Exporter {
            authority,
            path,
            head,
            stats: Arc::new(Stats::default()),
            warned: 0,
        })
    }

    fn post(&self, body: &[u8]) -> Result<(), String> {
        let addr = self
            .authority
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or("no address")?;
        let mut s =
            TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| e.to_string())?;
        let _ = s.set_write_timeout(Some(IO_TIMEOUT));
        let _ = s.set_read_timeout(Some(IO_TIMEOUT));
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.authority,
            body.len()
        );
        s.write_all(head.as_bytes())
            .and_then(|()| s.write_all(body))
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        let _ = s.take(MAX_ANSWER as u64).read_to_end(&mut answer);
        let status = answer
            .strip_prefix(b"HTTP/1.1 ")
            .or_else(|| answer.strip_prefix(b"HTTP/1.0 "))
            .and_then(|r| r.get(..3))
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or("no HTTP answer")?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("collector answered {status}"))
        }
    }
}

impl Consumer for Exporter {
    fn consume(&mut self, batches: &[Vec<u8>]) {
        let mut body =
            Vec::with_capacity(self.head.len() + batches.iter().map(Vec::len).sum::<usize>() + 8);
        body.extend_from_slice(&self.head);
        let mut spans = 0u64;
        // Each line is one span object; raw newlines only separate them.
        for line in batches.iter().flat_map(|b| b.split(|&c| c == b'\n')) {
            if line.is_empty() {
                continue;
            }
            if spans > 0 {
                body.push(b',');
            }
            body.extend_from_slice(line);
            spans += 1;
        }
        body.extend_from_slice(b"]}]}]}");
        if spans == 0 {
            return;
        }
        match self.post(&body) {
            Ok(()) => {
                self.stats.exported.fetch_add(spans, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                let now = crate::engine::now_ms() / 1000;
                if now >= self.warned + 10 {
                    self.warned = now;
                    tracing::warn!(endpoint = %self.authority, error = %e, spans, "OTLP export failed: spans dropped");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_gets_the_traces_path_and_a_default_port() {
        let e = Exporter::new("http://collector").expect("ok");
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("collector:4318", "/v1/traces")
        );
        let e = Exporter::new("http://127.0.0.1:9/otlp/").expect("ok");
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("127.0.0.1:9", "/otlp/v1/traces")
        );
        let e = Exporter::new("http://[::1]:4000/v1/traces").expect("ok");
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("[::1]:4000", "/v1/traces")
        );
        assert!(Exporter::new("https://x").is_err());
        assert!(Exporter::new("x:4318").is_err());
    }

    #[test]
    fn a_batch_becomes_one_valid_otlp_document() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let collector = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let mut s = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("nothing was posted: {e}"),
                }
            };
            s.set_nonblocking(false).expect("blocking");
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).expect("read");
                req.extend_from_slice(&buf[..n]);
                if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&req[..i]).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.parse().ok())
                        .expect("length");
                    if req.len() >= i + 4 + len {
                        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                            .expect("write");
                        return (head, req[i + 4..i + 4 + len].to_vec());
                    }
                }
                assert!(n > 0, "request ended early");
            }
        });
        let mut e = Exporter::new(&format!("http://127.0.0.1:{port}")).expect("ok");
        e.consume(&[
            b"{\"name\":\"a\"}\n{\"name\":\"b\"}\n".to_vec(),
            b"{\"name\":\"c\"}\n".to_vec(),
        ]);
        let (head, body) = collector.join().expect("collector");
        assert!(head.starts_with("POST /v1/traces HTTP/1.1"), "{head}");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        let rs = &v["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0]["value"]["stringValue"],
            "cairn"
        );
        let names: Vec<&str> = rs["scopeSpans"][0]["spans"]
            .as_array()
            .expect("spans")
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(e.stats.exported.load(Ordering::Relaxed), 3);
    }
}
