//! Object lock: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold, the `x-amz-object-lock-*` headers of writes and
//! of GET/HEAD, and who may bypass GOVERNANCE retention. The rules
//! themselves are the engine's (`engine::lock`), so no path skips them.

use http::{HeaderMap, HeaderValue, StatusCode};
use hyper::body::Incoming;

use crate::engine::meta::{Attr, Locked, ObjectMeta, Retention};
use crate::engine::{now_ms, Engine, VersionSel};
use crate::iam::action::Action;

use super::authorize::Authorizer;
use super::common::copy_source::read_version;
use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::response::{status_only, xml};
use super::common::version::add_version_header;
use super::error::{S3Code, S3Error};
use super::router::{Check, Resource};
use super::xml::iso8601_ms;
use super::xml_lock::{
    legal_hold, mode_name, object_lock_config, parse_legal_hold, parse_legal_hold_status,
    parse_mode, parse_object_lock_config, parse_retain_until, parse_retention, retention,
};

/// Longest lock document accepted (they are a few hundred bytes).
const MAX_LOCK_BODY: usize = 16 << 10;

const MODE: &str = "x-amz-object-lock-mode";
const UNTIL: &str = "x-amz-object-lock-retain-until-date";
const HOLD: &str = "x-amz-object-lock-legal-hold";
const BYPASS: &str = "x-amz-bypass-governance-retention";

fn missing_config() -> S3Error {
    S3Error::new(
        S3Code::InvalidRequest,
        "Bucket is missing Object Lock Configuration",
    )
}

fn denied() -> S3Error {
    S3Error::from_code(S3Code::AccessDenied)
}

fn allows(
    authz: &Authorizer<'_>,
    headers: &HeaderMap,
    action: Action,
    bucket: &str,
    key: &str,
) -> bool {
    let check = Check {
        action,
        resource: Resource::Object { bucket, key },
    };
    authz.allows(check, headers)
}

/// Whether the request asks to bypass GOVERNANCE retention and its caller
/// holds `s3:BypassGovernanceRetention` on the object.
pub fn bypass_governance(ctx: &Ctx<'_>, bucket: &str, key: &str) -> bool {
    ctx.header(BYPASS)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        && allows(
            &ctx.authz,
            ctx.headers(),
            Action::S3BypassGovernanceRetention,
            bucket,
            key,
        )
}

fn require_lock(ctx: &Ctx<'_>, bucket: &str) -> Result<(), S3Error> {
    match ctx.engine.object_lock(bucket)? {
        Some(_) => Ok(()),
        None => Err(missing_config()),
    }
}

/// S3 requires Content-MD5 or a checksum on the lock documents and on
/// writes that set a lock.
fn require_integrity(ctx: &Ctx<'_>, what: &str) -> Result<(), S3Error> {
    if ctx.has_integrity_header() {
        Ok(())
    } else {
        Err(integrity_missing(what))
    }
}

fn integrity_missing(what: &str) -> S3Error {
    S3Error::new(
        S3Code::InvalidRequest,
        format!("Content-MD5 OR x-amz-checksum- HTTP header is required for {what} requests with Object Lock parameters"),
    )
}

/// The lock a new version gets from a write's `headers` (PUT, POST form,
/// Copy, CreateMultipartUpload): its own retention and legal hold, each
/// needing its permission, or else the bucket's default retention. A
/// PutObject that sets a lock must carry an integrity check
/// (`integrity_ok` false refuses it).
pub fn write_attrs(
    engine: &Engine,
    authz: &Authorizer<'_>,
    headers: &HeaderMap,
    (bucket, key): (&str, &str),
    integrity_ok: bool,
) -> Result<Vec<Attr>, S3Error> {
    let get = |n: &str| headers.get(n).map(|v| v.to_str().unwrap_or("\u{0}"));
    let (mode, until, hold) = (get(MODE), get(UNTIL), get(HOLD));
    let config = engine.object_lock(bucket)?;
    let asked = mode.is_some() || until.is_some() || hold.is_some();
    let Some(config) = config else {
        return if asked {
            Err(missing_config())
        } else {
            Ok(Vec::new())
        };
    };
    if asked && !integrity_ok {
        return Err(integrity_missing("Put Object"));
    }
    let now = now_ms();
    let mut attrs = Vec::new();
    match (mode, until) {
        (None, None) => {
            if let Some(d) = config.default_retention {
                attrs.push(Attr::Retention(d.from(now)));
            }
        }
        (Some(m), Some(u)) => {
            let mode = parse_mode(m.trim()).ok_or_else(|| {
                S3Error::new(S3Code::InvalidArgument, "Unknown wormMode directive.")
            })?;
            let until_ms = parse_retain_until(u, now)?;
            if !allows(authz, headers, Action::S3PutObjectRetention, bucket, key) {
                return Err(denied());
            }
            attrs.push(Attr::Retention(Retention { mode, until_ms }));
        }
        _ => return Err(S3Error::new(
            S3Code::InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )),
    }
    if let Some(h) = hold {
        let on = parse_legal_hold_status(h.trim()).ok_or_else(|| {
            S3Error::new(
                S3Code::InvalidArgument,
                "Legal Hold must be either of 'ON' or 'OFF'",
            )
        })?;
        if !allows(authz, headers, Action::S3PutObjectLegalHold, bucket, key) {
            return Err(denied());
        }
        attrs.push(if on {
            Attr::LegalHold
        } else {
            Attr::LegalHoldOff
        });
    }
    Ok(attrs)
}

/// The `x-amz-object-lock-*` headers of a GET or HEAD: as on S3, only for
/// a caller who may read the retention (`s3:GetObjectRetention`) or the
/// legal hold (`s3:GetObjectLegalHold`).
pub fn add_lock_headers(
    ctx: &Ctx<'_>,
    h: &mut HeaderMap,
    meta: &ObjectMeta,
    (bucket, key): (&str, &str),
) {
    let may = |a: Action| allows(&ctx.authz, ctx.headers(), a, bucket, key);
    if let Some(r) = meta.retention() {
        if may(Action::S3GetObjectRetention) {
            h.insert(MODE, HeaderValue::from_static(mode_name(r.mode)));
            if let Ok(v) = HeaderValue::from_str(&iso8601_ms(r.until_ms)) {
                h.insert(UNTIL, v);
            }
        }
    }
    if meta.legal_hold() && may(Action::S3GetObjectLegalHold) {
        h.insert(HOLD, HeaderValue::from_static("ON"));
    }
}

pub fn get_lock_config(ctx: &Ctx<'_>, bucket: &str) -> S3Result {
    require_bucket(ctx, bucket)?;
    match ctx.engine.object_lock(bucket)? {
        Some(c) => Ok(xml(StatusCode::OK, object_lock_config(&c))),
        None => Err(S3Error::from_code(
            S3Code::ObjectLockConfigurationNotFoundError,
        )),
    }
}

pub async fn put_lock_config(ctx: &Ctx<'_>, bucket: &str, body: Incoming) -> S3Result {
    require_bucket(ctx, bucket)?;
    require_integrity(ctx, "PutObjectLockConfiguration")?;
    let config = parse_object_lock_config(&ctx.read_document(body, MAX_LOCK_BODY).await?)?;
    ctx.engine.set_object_lock(bucket, config).await?;
    Ok(status_only(StatusCode::OK))
}

pub fn get_retention(ctx: &Ctx<'_>, bucket: &str, key: &str, sel: Option<VersionSel>) -> S3Result {
    require_bucket(ctx, bucket)?;
    require_lock(ctx, bucket)?;
    let entry = read_version(ctx, bucket, key, sel)?;
    let r = entry
        .meta
        .retention()
        .ok_or_else(|| S3Error::from_code(S3Code::NoSuchObjectLockConfiguration))?;
    let mut res = xml(StatusCode::OK, retention(&r));
    add_version_header(ctx, &mut res, bucket, entry.meta.sel());
    Ok(res)
}

pub async fn put_retention(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
    body: Incoming,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    require_lock(ctx, bucket)?;
    require_integrity(ctx, "PutObjectRetention")?;
    let next = parse_retention(&ctx.read_document(body, MAX_LOCK_BODY).await?, now_ms())?;
    let bypass = bypass_governance(ctx, bucket, key);
    let changed = ctx
        .engine
        .set_retention(bucket, key, sel, next, bypass)
        .await?;
    let mut r = status_only(StatusCode::OK);
    add_version_header(ctx, &mut r, bucket, changed);
    Ok(r)
}

pub fn get_legal_hold(ctx: &Ctx<'_>, bucket: &str, key: &str, sel: Option<VersionSel>) -> S3Result {
    require_bucket(ctx, bucket)?;
    require_lock(ctx, bucket)?;
    let entry = read_version(ctx, bucket, key, sel)?;
    if !entry.meta.legal_hold_set() {
        return Err(S3Error::new(
            S3Code::NoSuchObjectLockConfiguration,
            "The specified object does not have a ObjectLock configuration",
        ));
    }
    let mut r = xml(StatusCode::OK, legal_hold(entry.meta.legal_hold()));
    add_version_header(ctx, &mut r, bucket, entry.meta.sel());
    Ok(r)
}

pub async fn put_legal_hold(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    sel: Option<VersionSel>,
    body: Incoming,
) -> S3Result {
    require_bucket(ctx, bucket)?;
    require_lock(ctx, bucket)?;
    require_integrity(ctx, "PutObjectLegalHold")?;
    let on = parse_legal_hold(&ctx.read_document(body, MAX_LOCK_BODY).await?)?;
    let changed = ctx.engine.set_legal_hold(bucket, key, sel, on).await?;
    let mut r = status_only(StatusCode::OK);
    add_version_header(ctx, &mut r, bucket, changed);
    Ok(r)
}
