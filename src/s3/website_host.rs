//! Website hosting: a request whose Host is `<bucket>.<--website-domain>`
//! is served from the bucket's website configuration (PutBucketWebsite,
//! `website.rs`) as S3's website endpoint serves it ([`serve`]): GET and HEAD only, unsigned, each read
//! authorised as an anonymous `s3:GetObject` (so only what the bucket
//! policy or ACL makes public is served), index documents for `/` and
//! keys ending in `/`, routing rules and redirects, the error document in
//! place of an error, and S3's HTML error page otherwise ([`error_page`]).
//! The object itself is read by GetObject's own code, so ranges and
//! conditional headers behave as on any GET.
//!
//! Which key goes where is decided by the pure functions of
//! `crate::website`. Like `handler`, this is an entry point above the
//! operations: it calls GetObject's code rather than copy it.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::engine::Engine;
use crate::iam::identities::Principal;
use crate::website::{url_path, Origin, Redirection, Website};

use super::authorize::{unsigned, Authorizer, BucketAccessCache};
use super::common::ctx::{ApiSettings, Ctx, S3Result};
use super::common::response::{full, status_only, ResBody};
use super::error::{S3Code, S3Error};
use super::router::{decode_key, Op, ResponseOverrides, Route};

/// S3's website endpoint names the key (or bucket) an error is about in
/// these headers, and its error page lists them.
const DETAIL_KEY: HeaderName = HeaderName::from_static("x-amz-error-detail-key");
const DETAIL_BUCKET: HeaderName = HeaderName::from_static("x-amz-error-detail-bucketname");
const ERROR_CODE: HeaderName = HeaderName::from_static("x-amz-error-code");
const ERROR_MESSAGE: HeaderName = HeaderName::from_static("x-amz-error-message");

/// Request headers that would change what the error document reads: it
/// is served whole, whatever the failed read asked for.
const READ_CONDITIONS: [HeaderName; 5] = [
    header::RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_UNMODIFIED_SINCE,
];

/// What serving a website needs from the core's front end.
pub struct Host<'a> {
    pub settings: &'a ApiSettings,
    pub engine: &'a Rc<Engine>,
    pub access: &'a BucketAccessCache,
    pub anonymous: Arc<Principal>,
    pub peer: IpAddr,
    pub request_id: &'a str,
}

fn with_detail(e: S3Error, name: HeaderName, value: &str) -> S3Error {
    match HeaderValue::from_str(value) {
        Ok(v) => e.with_header(name, v),
        Err(_) => e,
    }
}

fn bucket_error(code: S3Code, bucket: &str) -> S3Error {
    with_detail(S3Error::from_code(code), DETAIL_BUCKET, bucket)
}

fn redirect(r: Redirection) -> S3Result {
    let mut resp =
        status_only(StatusCode::from_u16(r.code).unwrap_or(StatusCode::MOVED_PERMANENTLY));
    // Keys are percent-encoded into the location, but a configured host
    // is stored as sent: one that is not header text cannot be sent to.
    let location = HeaderValue::from_str(&r.location)
        .map_err(|_| S3Error::new(S3Code::InvalidRequest, "Invalid redirect location"))?;
    resp.headers_mut().insert(header::LOCATION, location);
    Ok(resp)
}

/// GetObject or HeadObject of the latest version of `key`, as anybody.
fn object_route(bucket: &str, key: &str, head: bool) -> Route {
    let (version, part_number, overrides) = (None, None, ResponseOverrides::default());
    Route {
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        op: if head {
            Op::HeadObject {
                version,
                part_number,
                overrides,
            }
        } else {
            Op::GetObject {
                version,
                part_number,
                overrides,
            }
        },
    }
}

/// Reads `key` for an anonymous caller: refused as S3 refuses one, then
/// GetObject's own answer.
async fn read(ctx: &Ctx<'_>, bucket: &str, key: &str, head: bool) -> S3Result {
    ctx.authz
        .authorize_route(&object_route(bucket, key, head), ctx.headers())?;
    let overrides = ResponseOverrides::default();
    super::get::get_object(ctx, bucket, key, None, None, &overrides, head).await
}

/// Whether an anonymous caller could read `key` (it exists and is theirs
/// to read).
fn readable(ctx: &Ctx<'_>, bucket: &str, key: &str) -> bool {
    let allowed = ctx
        .authz
        .authorize_route(&object_route(bucket, key, false), ctx.headers())
        .is_ok();
    allowed && matches!(ctx.engine.lookup(bucket, key, None), Ok(Some(e)) if !e.meta.delete_marker)
}

/// Serves one request to `bucket`'s website. Errors are answered by the
/// caller with [`error_page`].
pub async fn serve(h: Host<'_>, parts: http::request::Parts, bucket: &str) -> S3Result {
    let head = match parts.method {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            return Err(S3Error::from_code(S3Code::MethodNotAllowed)
                .with_header(header::ALLOW, HeaderValue::from_static("GET, HEAD")))
        }
    };
    let table = h.engine.buckets();
    let Some(info) = table.get(bucket) else {
        return Err(bucket_error(S3Code::NoSuchBucket, bucket));
    };
    let Some(config) = info.website.clone() else {
        return Err(bucket_error(S3Code::NoSuchWebsiteConfiguration, bucket));
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let origin = Origin {
        scheme: h.settings.scheme,
        host: &host,
    };
    let site = match config {
        Website::RedirectAll(all) => return redirect(all.redirection(parts.uri.path(), origin)),
        Website::Site(site) => site,
    };
    let path = parts.uri.path();
    let key = decode_key(path.strip_prefix('/').unwrap_or(path))?;
    if let Some(r) = site.redirect_before(&key, origin) {
        return redirect(r);
    }
    let object = site.object_key(&key);
    let authz = Authorizer::new(
        h.anonymous.clone(),
        h.engine,
        &h.settings.owner.id,
        h.access,
        table.clone(),
        h.peer,
        h.settings.scheme == "https",
    );
    let mut ctx = Ctx {
        api: h.settings,
        engine: h.engine,
        auth: unsigned(&parts.headers),
        parts,
        principal: h.anonymous,
        request_id: h.request_id,
        authz,
    };
    let e = match read(&ctx, bucket, &object, head).await {
        Ok(r) => return Ok(r),
        Err(e) => with_detail(e, DETAIL_KEY, &object),
    };
    let status = e.status();
    // A "folder" asked for without its slash is sent to it.
    if e.code == S3Code::NoSuchKey {
        if let Some(index) = site.folder_index(&key) {
            if readable(&ctx, bucket, &index) {
                return redirect(Redirection {
                    code: StatusCode::FOUND.as_u16(),
                    location: url_path(&format!("{key}/")),
                });
            }
        }
    }
    if let Some(r) = site.redirect_after(&key, status.as_u16(), origin) {
        return redirect(r);
    }
    if let Some(doc) = site
        .error_key
        .as_deref()
        .filter(|_| status.is_client_error())
    {
        for name in &READ_CONDITIONS {
            ctx.parts.headers.remove(name);
        }
        // An error document that cannot be read leaves S3's own page.
        if let Ok(mut r) = read(&ctx, bucket, doc, head).await {
            if r.status() == StatusCode::OK {
                *r.status_mut() = status;
                add_error_headers(r.headers_mut(), &e);
                return Ok(r);
            }
        }
    }
    Err(e)
}

fn add_error_headers(h: &mut http::HeaderMap, e: &S3Error) {
    h.insert(ERROR_CODE, HeaderValue::from_static(e.code.as_str()));
    if let Ok(v) = HeaderValue::from_str(&e.message) {
        h.insert(ERROR_MESSAGE, v);
    }
    for (name, value) in &e.headers {
        h.insert(name.clone(), value.clone());
    }
}

/// `s` with HTML's special characters escaped.
fn html_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// S3's website error page: an HTML list of the code, the message, the
/// key or bucket concerned and the request's ids, with the error's
/// status and headers (no body for HEAD).
pub fn error_page(e: &S3Error, request_id: &str, method: &Method) -> Response<ResBody> {
    let status = e.status();
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let mut page = String::with_capacity(512);
    let mut item = |label: &str, value: &str| {
        page.push_str("<li>");
        page.push_str(label);
        page.push_str(": ");
        html_escape(&mut page, value);
        page.push_str("</li>\n");
    };
    item("Code", e.code.as_str());
    item("Message", &e.message);
    for (name, value) in &e.headers {
        let label = if *name == DETAIL_KEY {
            "Key"
        } else if *name == DETAIL_BUCKET {
            "BucketName"
        } else {
            continue;
        };
        item(label, value.to_str().unwrap_or(""));
    }
    item("RequestId", request_id);
    item(
        "HostId",
        &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, request_id),
    );
    let mut doc = String::with_capacity(page.len() + 160);
    let _ = write!(
        doc,
        "<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n{page}</ul>\n<hr/>\n</body>\n</html>\n"
    );
    let mut r = if *method == Method::HEAD {
        status_only(status)
    } else {
        let mut r = Response::new(full(doc));
        *r.status_mut() = status;
        r
    };
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    add_error_headers(r.headers_mut(), e);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn body(r: Response<ResBody>) -> String {
        let bytes = futures_util::FutureExt::now_or_never(r.into_body().collect())
            .expect("ready")
            .expect("body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[test]
    fn the_error_page_is_html_naming_code_message_and_key() {
        let e = with_detail(
            S3Error::from_code(S3Code::NoSuchKey),
            DETAIL_KEY,
            "a<b>.html",
        );
        let r = error_page(&e, "REQ1", &Method::GET);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(r.headers()["x-amz-error-code"], "NoSuchKey");
        assert_eq!(
            r.headers()["x-amz-error-message"],
            "The specified key does not exist."
        );
        assert_eq!(r.headers()["x-amz-error-detail-key"], "a<b>.html");
        let page = body(r);
        assert!(
            page.starts_with("<html>\n<head><title>404 Not Found</title></head>\n<body>\n<h1>404 Not Found</h1>\n<ul>\n<li>Code: NoSuchKey</li>\n<li>Message: The specified key does not exist.</li>\n<li>Key: a&lt;b&gt;.html</li>\n<li>RequestId: REQ1</li>\n"),
            "{page}"
        );
        let e = bucket_error(S3Code::NoSuchWebsiteConfiguration, "site");
        let head = error_page(&e, "REQ2", &Method::HEAD);
        assert_eq!(
            head.headers()["x-amz-error-code"],
            "NoSuchWebsiteConfiguration"
        );
        assert_eq!(body(head), "");
        let page = body(error_page(&e, "REQ2", &Method::GET));
        assert!(page.contains("<li>BucketName: site</li>"), "{page}");
    }

    #[test]
    fn only_reads_are_routed_as_objects() {
        assert_eq!(object_route("b", "k", true).op.name(), "HeadObject");
        let get = object_route("b", "k/index.html", false);
        assert_eq!(get.op.name(), "GetObject");
        assert_eq!(get.check().map(|c| c.action.as_str()), Some("s3:GetObject"));
        assert_eq!(get.resource().to_string(), "arn:aws:s3:::b/k/index.html");
    }
}
