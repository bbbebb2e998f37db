//! `/health/live` and `/health/ready`.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::engine::Engine;

pub fn live() -> Response<Full<Bytes>> {
    text(StatusCode::OK, "ok\n")
}

/// Ready when the drives are formatted, the index is open and a write quorum
/// of drives is online.
pub fn ready(engine: &Engine) -> Response<Full<Bytes>> {
    let online = engine.shared.online_drives().len();
    let needed = engine.shared.layout.write_quorum();
    if online >= needed {
        text(StatusCode::OK, "ready\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("not ready: {online} drives online, {needed} needed\n"),
        )
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
