//! The admin API: HTTP+JSON under `/_cairn/admin/v1/` on the S3 port (no
//! bucket name starts with `_`, so no bucket is shadowed). Requests are
//! SigV4-signed for service `s3`, as MinIO's admin API is, with the body's
//! real SHA-256 as the payload hash; each endpoint is authorised by one
//! admin action (`admin:CreateUser` …) in the caller's identity policies,
//! evaluated on the resource `arn:aws:s3:::*` (root may do everything).
//! Endpoints live in [`router::table`]; docs/ADMIN_API.md describes them.

pub mod background;
pub mod buckets;
pub mod dedup;
pub mod drives;
pub mod error;
pub mod groups;
pub mod info;
pub mod keys;
pub mod kms;
pub mod notify;
pub mod policies;
pub mod router;
pub mod settings;
pub mod tenants;
pub mod trace;
pub mod users;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use crate::auth::sigv4::{self, AuthKind, PayloadMode};
use crate::engine::Engine;
use crate::http::conns::Conn;
use crate::http::ratelimit::RateLimits;
use crate::s3::auth::Authenticator;
use crate::s3::common::response::{full, ResBody};

use error::AdminError;
use router::{Answer, Call, Found};

/// Every admin path starts with this.
pub const PREFIX: &str = "/_cairn/admin/";
/// The current version's prefix.
pub const V1: &str = "/_cairn/admin/v1/";
/// Largest request body: a policy document is at most 6144 characters.
pub const MAX_BODY: usize = 64 << 10;
/// The resource every admin action is evaluated on: what `"Resource": "*"`
/// and `"Resource": "arn:aws:s3:::*"` match, and a bucket's ARN does not.
pub const ADMIN_RESOURCE: &str = "arn:aws:s3:::*";

/// Whether a path-style request is for the admin API.
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with(PREFIX) || path == PREFIX.trim_end_matches('/')
}

/// When this process started serving, for uptime.
pub fn started_ms() -> u64 {
    static STARTED: OnceLock<u64> = OnceLock::new();
    *STARTED.get_or_init(crate::engine::now_ms)
}

/// What the admin API borrows from the core's S3 front end.
pub struct AdminApi<'a> {
    pub auth: &'a Authenticator,
    pub engine: &'a Rc<Engine>,
    pub rate_limits: &'a std::sync::Arc<RateLimits>,
    /// Longest wait for the next piece of the body.
    pub idle_timeout: Duration,
    /// The request's access-log record: it names the caller once known.
    pub log: &'a crate::logs::access::RequestLog,
}

/// Serves one admin request; never fails (errors are JSON). `op` names the
/// endpoint for the metrics once it is known.
pub async fn serve(
    api: &AdminApi<'_>,
    parts: http::request::Parts,
    body: Incoming,
    request_id: &str,
    conn: &Conn,
    op: &Cell<&'static str>,
) -> Response<ResBody> {
    match call(api, &parts, body, request_id, conn, op).await {
        Ok(Answer::Json(status, v)) => {
            respond(status, serde_json::to_vec_pretty(&v).unwrap_or_default())
        }
        Ok(Answer::NoContent) => respond(StatusCode::NO_CONTENT, Vec::new()),
        Ok(Answer::Stream(body, content_type)) => {
            let mut r = Response::new(body);
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            r
        }
        Err(e) => {
            if e.status == StatusCode::FORBIDDEN {
                tracing::info!(
                    request_id,
                    client = %conn.peer,
                    access_key = crate::s3::auth::claimed_access_key(&parts).as_deref().unwrap_or("-"),
                    code = e.code,
                    method = %parts.method,
                    path = parts.uri.path(),
                    "admin request refused"
                );
            }
            let mut r = respond(e.status, e.body(request_id));
            if parts.method == Method::HEAD {
                *r.body_mut() = full(Vec::new());
            }
            r
        }
    }
}

async fn call(
    api: &AdminApi<'_>,
    parts: &http::request::Parts,
    body: Incoming,
    request_id: &str,
    conn: &Conn,
    op: &Cell<&'static str>,
) -> Result<Answer, AdminError> {
    op.set("Admin");
    let raw_query = parts.uri.query().unwrap_or("");
    if sigv4::detect(&parts.headers, raw_query) == AuthKind::Anonymous {
        return Err(AdminError::access_denied(
            "Admin requests must be signed (AWS Signature Version 4, service s3).",
        ));
    }
    let body =
        crate::http::body::read_bounded(&parts.headers, body, MAX_BODY, api.idle_timeout).await?;
    let (verified, caller) = api.auth.authenticate(parts)?;
    api.log.set_principal(&caller);
    // The admin API acts on the whole node, above every tenant.
    if !caller.tenant.is_empty() {
        return Err(AdminError::access_denied(
            "A tenant's users cannot call the admin API.",
        ));
    }
    // The body is the whole request's meaning: its hash must be signed.
    match verified.payload {
        PayloadMode::Sha256(h) if h[..] == Sha256::digest(&body)[..] => {}
        PayloadMode::Sha256(_) => {
            return Err(AdminError::bad_request(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ))
        }
        _ => {
            return Err(AdminError::access_denied(
                "Admin requests must sign their body: x-amz-content-sha256 must be its SHA-256.",
            ))
        }
    }
    if let Err(secs) = api.rate_limits.check_key(&verified.access_key) {
        return Err(AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            format!("Rate exceeded; retry in {secs} s."),
        ));
    }
    conn.set_authenticated();
    let path = parts.uri.path();
    let Some(rest) = path.strip_prefix(V1) else {
        return Err(AdminError::not_found(
            "NoSuchVersion",
            format!("{path}: this node serves the admin API at {V1}."),
        ));
    };
    let (endpoint, params) = match router::find(&parts.method, rest) {
        Found::Endpoint(e, p) => (e, p),
        Found::WrongMethod => {
            return Err(AdminError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("{} is not allowed on {path}.", parts.method),
            ))
        }
        Found::NotFound => {
            return Err(AdminError::not_found(
                "NoSuchEndpoint",
                format!("{path} is not an admin endpoint."),
            ))
        }
    };
    op.set(endpoint.name);
    // Every change, done or refused, goes to the audit log; reads do not.
    let audit = |outcome: Result<(), &AdminError>, detail: Option<&str>| {
        if endpoint.method != Method::GET {
            crate::logs::audit::record(&crate::logs::audit::AuditEvent {
                request_id,
                principal: &caller,
                remote: Some(conn.peer.ip()),
                action: endpoint.action.as_str(),
                target: rest,
                detail,
                status: outcome.map_or_else(|e| e.status.as_u16(), |()| 200),
                error: outcome.err().map(|e| e.code),
            });
        }
    };
    if !crate::iam::api::http::authorize_iam(&caller, endpoint.action, ADMIN_RESOURCE) {
        let e = AdminError::access_denied(format!(
            "{} is not allowed to perform {}.",
            caller.arn,
            endpoint.action.as_str()
        ));
        audit(Err(&e), None);
        return Err(e);
    }
    let ids = api.auth.identities();
    let c = Call {
        ids,
        engine: api.engine,
        caller: &caller,
        rate_limits: api.rate_limits,
        request_id,
        remote: conn.peer.ip(),
        params,
        raw_query,
        body: &body,
        audit_detail: Default::default(),
    };
    let v = (endpoint.handler)(&c).await;
    audit(v.as_ref().map(|_| ()), c.audit_detail.borrow().as_deref());
    v
}

/// The answer to an S3 request on the admin-only listener.
pub fn no_such_endpoint(path: &str, request_id: &str) -> Response<ResBody> {
    let e = AdminError::not_found(
        "NoSuchEndpoint",
        format!("{path}: this address serves only the admin API."),
    );
    respond(e.status, e.body(request_id))
}

fn respond(status: StatusCode, body: Vec<u8>) -> Response<ResBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    if status != StatusCode::NO_CONTENT {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    r
}

/// A time in milliseconds as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: u64) -> String {
    crate::s3::xml::iso8601_ms(ms)
}

/// Parses an RFC 3339 UTC time (`2026-01-02T03:04:05Z`, fraction allowed)
/// into milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let (main, frac_ms) = match s.strip_suffix('Z')?.split_once('.') {
        Some((m, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let digits = &f[..f.len().min(3)];
            let ms: u64 = format!("{digits:0<3}").parse().ok()?;
            (m, ms)
        }
        Some(_) => return None,
        None => (s.strip_suffix('Z')?, 0),
    };
    let b = main.as_bytes();
    let shaped = b.len() == 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    if !shaped {
        return None;
    }
    let compact: String = main.chars().filter(|c| *c != '-' && *c != ':').collect();
    let secs = sigv4::parse_amz_date(&format!("{compact}Z"))?;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1000)?
        .checked_add(frac_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_round_trip_and_bad_ones_are_refused() {
        let ms = parse_rfc3339("2026-12-05T08:34:35Z").expect("parses");
        assert_eq!(rfc3339(ms), "2026-12-05T08:34:35.000Z");
        assert_eq!(parse_rfc3339("2026-12-05T08:34:35.25Z"), Some(ms + 250));
        for bad in [
            "",
            "2026-12-05",
            "2026-12-05T08:34:35",
            "x",
            "2026-13-05T08:34:35Z",
            "2026-12-05T08:34:35.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_reserved_prefix_is_admin() {
        assert!(is_admin_path("/_cairn/admin/v1/users"));
        assert!(is_admin_path("/_cairn/admin"));
        assert!(!is_admin_path("/_cairn"));
        assert!(!is_admin_path("/bucket/_cairn/admin/v1/users"));
    }
}
