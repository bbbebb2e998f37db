//! `/health/live` and `/health/ready`.

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
/// refused.
pub fn ready(engine: &Engine) -> Response<Full<Bytes>> {
    let shared = &engine.shared;
    let online = shared.online_drives().len();
    let needed = shared.layout.write_quorum();
    let mut drives = String::new();
    let mut full = Vec::new();
    for d in 0..shared.set.drives.len() {
        let state = if !shared.drive_online(d) {
            "offline"
        } else if shared.space.is_full(d) {
            full.push(d);
            "full"
        } else {
            "ok"
        };
        drives.push_str(&format!(
            "drive {d}: {state}, {} bytes free, reserve {}\n",
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
    let head = if writable < needed {
        format!(
            "ready, storage full: drives {full:?} are full; new object data is refused (507), reads and deletes are served\n"
        )
    } else if !full.is_empty() {
        format!("ready, drives {full:?} full\n")
    } else {
        "ready\n".to_owned()
    };
    text(StatusCode::OK, &format!("{head}{drives}"))
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
