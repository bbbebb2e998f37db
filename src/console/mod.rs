//! The web console at `/_cairn/console/` on the S3 port (no bucket name
//! starts with `_`). The front end (console/, built into console/dist and
//! committed) is embedded at build time by build.rs; nothing is fetched at
//! run time. It signs its own S3 and admin API requests in the browser, so
//! serving it needs no credentials. docs/CONSOLE.md describes it.

use bytes::Bytes;
use http::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
};
use http::{HeaderMap, Method, Response, StatusCode};
use http_body_util::Full;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

pub const PREFIX: &str = "/_cairn/console/";

/// Only same-origin scripts, styles, images and requests; no inline script
/// or style element, no framing, no plugins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

pub fn is_console_path(path: &str) -> bool {
    path.starts_with(PREFIX) || path == PREFIX.trim_end_matches('/')
}

/// The embedded file at `rel` (a path under console/dist).
pub fn asset(rel: &str) -> Option<&'static [u8]> {
    assets::ASSETS
        .binary_search_by(|(p, _)| (*p).cmp(rel))
        .ok()
        .map(|i| assets::ASSETS[i].1)
}

fn content_type(rel: &str) -> &'static str {
    match rel.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Answers a request for a console path.
pub fn serve(method: &Method, path: &str, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let mut r = answer(method, path, headers);
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    // Presigned share links must not leak through Referer.
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    r
}

fn answer(method: &Method, path: &str, headers: &HeaderMap) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let Some(rest) = path.strip_prefix(PREFIX) else {
        let mut r = text(StatusCode::PERMANENT_REDIRECT, "");
        r.headers_mut()
            .insert(LOCATION, HeaderValue::from_static(PREFIX));
        return r;
    };
    let rel = if rest.is_empty() { "index.html" } else { rest };
    let Some(body) = asset(rel) else {
        return text(StatusCode::NOT_FOUND, "No such console file.\n");
    };
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(body));
    // Vite names built assets by their content hash: they never change.
    let cache = if rel.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if matches {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else if method == Method::HEAD {
        let mut r = Response::new(Full::new(Bytes::new()));
        r.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        r
    } else {
        Response::new(Full::new(Bytes::from_static(body)))
    };
    let h = r.headers_mut();
    if !matches {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(rel)));
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(ETAG, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_console_is_embedded_with_its_hashed_assets() {
        let index =
            std::str::from_utf8(asset("index.html").expect("index.html embedded")).expect("utf-8");
        // No inline script: the page works under script-src 'self'.
        assert!(!index.contains("<script>") && !index.contains("<script type=\"module\">"));
        let script = index
            .split("src=\"/_cairn/console/")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("index.html loads a script from the console");
        assert!(
            script.starts_with("assets/") && script.ends_with(".js"),
            "{script}"
        );
        assert!(asset(script).is_some(), "{script} is embedded");
    }

    #[test]
    fn console_paths_are_only_under_the_reserved_prefix() {
        assert!(is_console_path("/_cairn/console/"));
        assert!(is_console_path("/_cairn/console"));
        assert!(is_console_path("/_cairn/console/assets/x.js"));
        assert!(!is_console_path("/_cairn/consoles"));
        assert!(!is_console_path("/bucket/_cairn/console/"));
    }

    #[test]
    fn assets_are_immutable_and_the_page_is_revalidated() {
        let h = HeaderMap::new();
        let page = serve(&Method::GET, "/_cairn/console/", &h);
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()[CACHE_CONTROL], "no-cache");
        assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self';"));
        let etag = page.headers()[ETAG].clone();
        let mut cond = HeaderMap::new();
        cond.insert(IF_NONE_MATCH, etag);
        assert_eq!(
            serve(&Method::GET, "/_cairn/console/index.html", &cond).status(),
            StatusCode::NOT_MODIFIED
        );
        let js = assets::ASSETS
            .iter()
            .find(|(p, _)| p.starts_with("assets/") && p.ends_with(".js"))
            .expect("a built script");
        let r = serve(&Method::GET, &format!("{PREFIX}{}", js.0), &h);
        assert_eq!(
            r.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(r.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8");
        assert_eq!(
            serve(&Method::GET, "/_cairn/console/../Cargo.toml", &h).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            serve(&Method::PUT, "/_cairn/console/", &h).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let moved = serve(&Method::GET, "/_cairn/console", &h);
        assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(moved.headers()[LOCATION], "/_cairn/console/");
    }
}
