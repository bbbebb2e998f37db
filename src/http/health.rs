//! `/health/live` and `/health/ready`, and the `cairn health` probe of them.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::engine::Engine;

pub fn live() -> Response<Full<Bytes>> {
    text(StatusCode::OK, "ok\n")
}

/// Ready when the drives are formatted, the index is open and a write quorum
/// of drives is online. A full drive is not an offline one: the node stays
/// ready (reads and deletes are served, and deletes are how space comes
/// back), and the body says which drives are full and that new data is
/// refused. The first line names the set's health (`SetHealth::summary`):
/// `ready: ok`, `ready: degraded: 2 drives`, `ready: ok, healing 42%`.
pub fn ready(engine: &Engine) -> Response<Full<Bytes>> {
    let shared = &engine.shared;
    let online = shared.online_drives().len();
    let needed = shared.layout.write_quorum();
    let mut drives = String::new();
    let mut full = Vec::new();
    let health = shared.set_health();
    for d in 0..shared.set.drives.len() {
        let state = shared.drive_state(d);
        if state == "full" {
            full.push(d);
        }
        let healing = health
            .heal_of(d)
            .map(|h| format!(", healing {}%", h.percent()))
            .unwrap_or_default();
        drives.push_str(&format!(
            "drive {d}: {state}{healing}, {} bytes free, reserve {}\n",
            shared.space.free(d),
            shared.space.reserve(d)
        ));
    }
    if online < needed {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not ready: {online} drives online, {needed} needed\n{drives}"),
        );
    }
    let writable = (0..shared.set.drives.len())
        .filter(|&d| shared.drive_writable(d))
        .count();
    let health = health.summary();
    let head = if writable < needed {
        format!(
            "ready: {health}; storage full: drives {full:?} are full; new object data is refused (507), reads and deletes are served\n"
        )
    } else if !full.is_empty() {
        format!("ready: {health}; drives {full:?} full\n")
    } else {
        format!("ready: {health}\n")
    };
    text(StatusCode::OK, &format!("{head}{drives}"))
}

/// `cairn health`: GET `/health/ready` from the node listening on `listen`
/// (plain HTTP; a TLS listener is asked through its own port by an HTTPS
/// client instead). Returns the body when it answers 200.
pub fn probe(listen: SocketAddr, timeout: Duration) -> Result<String, String> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let fail = |e: std::io::Error| format!("{addr}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(fail)?;
    s.set_read_timeout(Some(timeout)).map_err(fail)?;
    s.set_write_timeout(Some(timeout)).map_err(fail)?;
    s.write_all(b"GET /health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(fail)?;
    // The answer is a few lines per drive; bound what is read all the same.
    let mut out = Vec::new();
    s.take(1 << 20).read_to_end(&mut out).map_err(fail)?;
    let out = String::from_utf8_lossy(&out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    match head.split_whitespace().nth(1) {
        Some("200") => Ok(body.to_owned()),
        Some(code) => Err(format!("{addr}: not ready ({code}): {}", body.trim_end())),
        None => Err(format!("{addr}: no HTTP answer")),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}
