//! The S3 entry point: authenticates a request, routes it to a [`Route`],
//! runs the operation and turns every failure into an S3 XML
//! error. One [`S3Api`] per core (no locks: the signing-key cache and the
//! request counter belong to the core).

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;

use base64::Engine as _;
use futures_util::FutureExt;
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::engine::Engine;
use crate::http::conns::{Conn, LogBudget};
use crate::http::ratelimit::RateLimits;
use crate::iam::identities::{Identities, Principal};
use crate::logs::access::RequestLog;
use crate::logs::bucket::ServerLog;

use super::auth::Authenticator;
use super::authorize::{Authorizer, BucketAccessCache};
use super::common::ctx::{ApiSettings, Ctx, S3Result};
use super::common::response::error_response;
pub use super::common::response::ResBody;
use super::error::{S3Code, S3Error};
use super::router::{Op, Route};
use super::xml::ListOwner;

/// One core's S3 front end.
pub struct S3Api {
    pub engine: Rc<Engine>,
    pub auth: Authenticator,
    /// What operations read: owner, scheme, idle timeout.
    pub settings: ApiSettings,
    /// Virtual-hosted-style requests are recognised under this domain.
    domain: Option<String>,
    /// Website requests (`Host: bucket.<website_domain>`) under this one.
    website_domain: Option<String>,
    /// Whether `/_cairn/console/` serves the web console.
    pub console: bool,
    requests: Cell<u64>,
    metrics: Rc<crate::metrics::CoreMetrics>,
    /// Refused authentications logged at info, at a bounded rate.
    refused_log: LogBudget,
    /// Request-rate limits, shared by every core.
    pub rate_limits: Arc<RateLimits>,
    /// This core's compiled bucket policies.
    access: BucketAccessCache,
    /// The principal of every unsigned request.
    anonymous: Arc<Principal>,
    /// Whether some bucket has logging on, for the bucket table of this
    /// generation.
    bucket_logs: Cell<Option<(u64, bool)>>,
}

impl S3Api {
    pub fn new(
        engine: Rc<Engine>,
        ids: Rc<Identities>,
        metrics: Rc<crate::metrics::CoreMetrics>,
        http: &crate::config::HttpSettings,
        rate_limits: Arc<RateLimits>,
    ) -> S3Api {
        // A stable, canonical-user-ID-shaped owner derived from the key, so
        // listings look the same on every core and across restarts.
        // Uptime (admin API) counts from the first front end built.
        crate::admin::started_ms();
        let root = &ids.root().access_key;
        let id = crate::iam::model::root_canonical_id(root);
        let owner = ListOwner {
            id,
            display_name: root.clone(),
        };
        S3Api {
            engine,
            auth: Authenticator::new(ids.clone(), http.domain.clone()),
            settings: ApiSettings {
                owner,
                identities: ids,
                scheme: if http.tls.is_some() { "https" } else { "http" },
                idle_timeout: http.idle_timeout,
                sse_c_allow_http: http.sse_c_allow_http,
            },
            domain: http.domain.clone(),
            website_domain: http.website_domain.clone(),
            console: http.console,
            requests: Cell::new(0),
            metrics,
            refused_log: LogBudget::new(),
            rate_limits,
            access: BucketAccessCache::default(),
            anonymous: Arc::new(Principal::anonymous()),
            bucket_logs: Cell::new(None),
        }
    }

    /// Whether a request names its bucket in the host (under `--domain`):
    /// its whole path is then an object key.
    pub fn is_virtual_hosted(&self, headers: &http::HeaderMap) -> bool {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        super::router::vhost_bucket(host, self.domain.as_deref()).is_some()
    }

    /// The bucket whose website a request asks for: its Host is
    /// `<bucket>.<--website-domain>`. A Host under both domains belongs to
    /// the longer one, whose operator meant it.
    pub fn website_bucket(&self, headers: &http::HeaderMap) -> Option<String> {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        let bucket = super::router::vhost_bucket(host, self.website_domain.as_deref())?;
        let s3_is_longer = match (&self.domain, &self.website_domain) {
            (Some(d), Some(w)) => d.len() > w.len(),
            _ => false,
        };
        if s3_is_longer && super::router::vhost_bucket(host, self.domain.as_deref()).is_some() {
            return None;
        }
        Some(bucket)
    }

    /// Unique per request on this node: time, core, per-core counter.
    fn request_id(&self) -> String {
        let n = self.requests.get().wrapping_add(1);
        self.requests.set(n);
        let ms = crate::engine::now_ms();
        format!(
            "{:011X}{:02X}{:07X}",
            ms & 0xFFF_FFFF_FFFF,
            self.engine.core & 0xFF,
            n & 0xFFF_FFFF
        )
    }

    /// Serves one request from `conn`. Never fails: errors become S3 XML,
    /// and a panic in an operation becomes a 500 without taking the core
    /// down.
    pub async fn handle(&self, req: Request<Incoming>, conn: &Conn) -> Response<ResBody> {
        use tracing::Instrument as _;
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let website = self.website_bucket(req.headers());
        let bytes_in = content_length(req.headers());
        // CORS headers are added after the operation, for its answer and
        // for any error; without `Origin` this lookup is all it costs.
        let cors = req
            .headers()
            .get(http::header::ORIGIN)
            .filter(|_| method != Method::OPTIONS)
            .map(|o| (o.clone(), req.headers().get(http::header::HOST).cloned()));
        // Server access logs (PutBucketLogging) need more of the head,
        // kept while any bucket has logging on.
        let server = self
            .bucket_logs_on()
            .then(|| ServerLog::begin(&method, req.uri(), req.headers()));
        let raw_host = server.as_ref().and_then(|_| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        });
        // The access log and trace record; written when the response is sent.
        let mut log = RequestLog::begin(
            self.request_id(),
            method.clone(),
            conn.peer.ip(),
            req.headers(),
            bytes_in,
            self.metrics.begin(),
            server,
        );
        let request_id = log.request_id();
        let expects_continue = req
            .headers()
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let span = tracing::debug_span!("request", request_id, trace_id = %log.trace().trace_hex());
        let outcome = catch_panics(
            self.dispatch(req, conn, &log, website.as_deref())
                .instrument(span),
            request_id,
            &method,
            &path,
        )
        .await;
        let error = outcome.as_ref().err().map(|e| e.code);
        if let Some(code) = error.filter(|&c| is_auth_failure(c)) {
            self.metrics.auth_failure(code.as_str());
        }
        let mut resp = match outcome {
            Ok(r) => r,
            // A browser is reading a website: S3's HTML page.
            Err(e) if website.is_some() => super::website_host::error_page(&e, request_id, &method),
            Err(e) => error_response(&e, request_id, &method),
        };
        if let Some((origin, host)) = cors {
            let host = host.as_ref().and_then(|h| h.to_str().ok());
            // A tenant's user's path names its tenant's bucket, not the
            // global one (`tenant.rs`).
            let bucket = match &website {
                Some(b) => Some(b.clone()),
                None if log.in_tenant() => log.tenant_bucket(),
                None => super::router::bucket_of(&path, host, self.domain.as_deref()),
            };
            if let Some(bucket) = bucket {
                super::cors::add_response_headers(
                    &self.engine,
                    &bucket,
                    &method,
                    &origin,
                    resp.headers_mut(),
                );
            }
        }
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(HeaderName::from_static("x-amz-request-id"), v);
        }
        h.insert(
            crate::logs::trace::TRACERESPONSE,
            log.trace().header_value(),
        );
        let id2 = base64::engine::general_purpose::STANDARD
            .encode(format!("cairn/{}/{request_id}", self.engine.core));
        if let Ok(v) = HeaderValue::from_str(&id2) {
            h.insert(HeaderName::from_static("x-amz-id-2"), v);
        }
        h.insert(http::header::SERVER, HeaderValue::from_static("cairn"));
        let status = resp.status();
        // A client that waits for 100 Continue sends no body after a final
        // refusal, so the connection cannot tell where the next request
        // starts (hyper would read its first bytes as the body): close it.
        if expects_continue && !status.is_success() {
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        let took = log.started().elapsed();
        self.metrics.record(
            log.op.get(),
            status.as_u16(),
            took,
            bytes_in,
            content_length(resp.headers()),
        );
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            tracing::warn!(request_id, trace_id = %log.trace().trace_hex(), %method, path, status = status.as_u16(), ms = took.as_millis() as u64, "request failed");
        } else {
            tracing::debug!(request_id, trace_id = %log.trace().trace_hex(), %method, path, status = status.as_u16(), ms = took.as_millis() as u64, "request");
        }
        if log.wants_server_line() {
            let target = self.server_target(
                &log,
                (&path, raw_host.as_deref(), website.as_deref()),
                resp.headers(),
                &id2,
                (&method, bytes_in, status),
            );
            let batch = resp
                .extensions_mut()
                .remove::<crate::logs::bucket::BatchDeleted>();
            let target = target.map(|mut t| {
                t.batch = batch.map(|b| b.0).unwrap_or_default();
                t
            });
            log.set_server_target(target);
        }
        log.finish(resp, error.map(S3Code::as_str))
    }

    async fn dispatch(
        &self,
        req: Request<Incoming>,
        conn: &Conn,
        log: &RequestLog,
        website: Option<&str>,
    ) -> S3Result {
        let (request_id, op) = (log.request_id(), &log.op);
        let (parts, body) = req.into_parts();
        if log.wants_detail() {
            log.set_claimed_key(super::auth::claimed_access_key(&parts));
        }
        // Before authentication: a flood of bad signatures costs an HMAC each.
        if let Err(secs) = self.rate_limits.check_ip(conn.peer.ip()) {
            op.set("RateLimited");
            return Err(slow_down(secs));
        }
        if let Some(bucket) = website {
            if conn.admin_only.get() {
                op.set("NotAdmin");
                return Ok(crate::admin::no_such_endpoint(parts.uri.path(), request_id));
            }
            op.set("Website");
            log.set_principal(&self.anonymous);
            log.set_target(Some(bucket), None);
            let host = super::website_host::Host {
                settings: &self.settings,
                engine: &self.engine,
                access: &self.access,
                anonymous: self.anonymous.clone(),
                peer: conn.peer.ip(),
                request_id,
            };
            return super::website_host::serve(host, parts, bucket).await;
        }
        // IAM and STS calls share the endpoint; their own path serves them.
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        let vhost = super::router::vhost_bucket(host, self.domain.as_deref());
        let admin = vhost.is_none() && crate::admin::is_admin_path(parts.uri.path());
        if conn.admin_only.get() && !admin {
            op.set("NotAdmin");
            return Ok(crate::admin::no_such_endpoint(parts.uri.path(), request_id));
        }
        if admin {
            let api = crate::admin::AdminApi {
                auth: &self.auth,
                engine: &self.engine,
                rate_limits: &self.rate_limits,
                idle_timeout: self.settings.idle_timeout,
                log,
            };
            return Ok(crate::admin::serve(&api, parts, body, request_id, conn, op).await);
        }
        if crate::iam::api::http::is_query_api(&parts, vhost.as_deref()) {
            op.set("QueryApi");
            let api = crate::iam::api::http::QueryApi {
                auth: &self.auth,
                rate_limits: &self.rate_limits,
                idle_timeout: self.settings.idle_timeout,
                metrics: &self.metrics,
                log,
            };
            return Ok(crate::iam::api::http::serve(&api, parts, body, request_id, conn, op).await);
        }
        // A CORS preflight carries no credentials: answered from the
        // bucket's rules, limited per IP (above) only.
        if parts.method == Method::OPTIONS {
            op.set("Options");
            let route = self.route(&parts)?;
            log.set_target(route.bucket.as_deref(), route.key.as_deref());
            return super::cors::preflight(&self.engine, route.bucket.as_deref(), &parts.headers)
                .map_err(|e| e.with_resource(route.error_resource()));
        }
        // A browser form carries its credentials in its fields.
        if super::post::is_form_post(&parts) {
            if let Ok(Route {
                bucket: Some(bucket),
                op: Op::PostObject {},
                ..
            }) = self.route(&parts)
            {
                op.set("PostObject");
                log.set_target(Some(&bucket), None);
                let api = super::post::PostApi {
                    settings: &self.settings,
                    engine: &self.engine,
                    auth: &self.auth,
                    access: &self.access,
                    log,
                };
                return super::post::post_object(&api, parts, &bucket, body, request_id, conn)
                    .await
                    .map_err(|e| e.with_resource(format!("/{bucket}")));
            }
        }
        let raw_query = parts.uri.query().unwrap_or("");
        let anonymous = crate::auth::sigv4::detect(&parts.headers, raw_query)
            == crate::auth::sigv4::AuthKind::Anonymous;
        let (auth, principal) = if anonymous {
            (
                super::authorize::unsigned(&parts.headers),
                self.anonymous.clone(),
            )
        } else {
            match self.auth.authenticate(&parts) {
                Ok(a) => a,
                Err(e) => {
                    self.log_refused(&parts, &e, request_id, conn, false);
                    return Err(e);
                }
            }
        };
        log.set_principal(&principal);
        if !anonymous {
            if let Err(secs) = self.rate_limits.check_key(&auth.access_key) {
                op.set("RateLimited");
                return Err(slow_down(secs));
            }
            conn.set_authenticated();
        }
        op.set("Unrouted");
        let route = match self.route(&parts) {
            Ok(r) => r,
            // Nothing is said to an unsigned request before it is allowed.
            Err(_) if anonymous => {
                let e = S3Error::from_code(S3Code::AccessDenied);
                self.log_refused(&parts, &e, request_id, conn, true);
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        op.set(route.name());
        // Errors name the bucket as the client did; the log, CORS headers
        // and everything after name the caller's tenant's bucket.
        let resource = route.error_resource();
        super::tenant::check_named(&route, anonymous)
            .map_err(|e| e.with_resource(resource.clone()))?;
        let mut route = route;
        let entered = super::tenant::enter(&principal.tenant, &mut route);
        if !principal.tenant.is_empty() {
            log.set_in_tenant(route.bucket.as_deref());
        }
        log.set_target(route.bucket.as_deref(), route.key.as_deref());
        if let Err(e) = entered {
            return Err(e.with_resource(resource));
        }
        let table = self.engine.buckets();
        // S3 answers an unsigned request for a bucket that does not exist
        // with 404 NoSuchBucket: no bucket policy could allow it.
        if anonymous
            && !matches!(route.op, Op::CreateBucket {})
            && route.bucket.as_deref().is_some_and(|b| !table.contains(b))
        {
            return Err(S3Error::from_code(S3Code::NoSuchBucket).with_resource(resource));
        }
        let authz = Authorizer::new(
            principal.clone(),
            &self.engine,
            &self.settings.owner.id,
            &self.access,
            table,
            conn.peer.ip(),
            self.settings.scheme == "https",
        );
        if let Err(e) = authz.authorize_route(&route, &parts.headers) {
            self.log_refused(&parts, &e, request_id, conn, true);
            return Err(e.with_resource(resource));
        }
        let ctx = Ctx {
            api: &self.settings,
            engine: &self.engine,
            parts,
            auth,
            principal,
            request_id,
            authz,
        };
        run(ctx, route, body).await.map_err(|e| {
            if e.resource.is_none() {
                e.with_resource(resource)
            } else {
                e
            }
        })
    }
}

impl S3Api {
    /// Whether any bucket has logging on: rechecked once per bucket table.
    fn bucket_logs_on(&self) -> bool {
        let table = self.engine.buckets();
        match self.bucket_logs.get() {
            Some((g, on)) if g == table.generation => on,
            _ => {
                let on = table.buckets.values().any(|b| b.logging.is_some());
                self.bucket_logs.set(Some((table.generation, on)));
                on
            }
        }
    }

    /// Where a request's server access log line goes: its bucket's
    /// logging target, with what the line needs from the response; `None`
    /// when the bucket (or the request) has none. `at` is the path, Host
    /// and website bucket; `req` the method, declared body length and the
    /// answer's status.
    fn server_target(
        &self,
        log: &RequestLog,
        at: (&str, Option<&str>, Option<&str>),
        resp: &http::HeaderMap,
        host_id: &str,
        req: (&Method, u64, StatusCode),
    ) -> Option<crate::logs::bucket::Target> {
        let (path, host, website) = at;
        let (bucket, key) = match (log.target(), website) {
            ((Some(b), k), _) => (b, k),
            ((None, _), Some(b)) => (b.to_owned(), None),
            ((None, _), None) => {
                let (b, k) = super::router::target_of(path, host, self.domain.as_deref())?;
                (b?, k)
            }
        };
        let table = self.engine.buckets();
        let info = table.get(&bucket)?;
        let config = info.logging.clone()?;
        let owner = info.owner.as_ref().map_or_else(
            || self.settings.owner.id.clone(),
            |o| o.canonical_id.clone(),
        );
        let header = |name: &str| resp.get(name).and_then(|v| v.to_str().ok());
        // A range's total, a whole object's length, or what a PUT sent.
        let (method, bytes_in, status) = req;
        let object_size = header("content-range")
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.parse().ok())
            .or_else(|| match *method {
                Method::GET | Method::HEAD if key.is_some() => {
                    header("content-length").and_then(|v| v.parse().ok())
                }
                Method::PUT if key.is_some() && bytes_in > 0 => Some(bytes_in),
                _ => None,
            })
            .filter(|_| status.is_success());
        Some(crate::logs::bucket::Target {
            source: bucket,
            owner,
            config,
            key,
            website: website.is_some(),
            object_size,
            version_id: header("x-amz-version-id").map(str::to_owned),
            host_id: host_id.to_owned(),
            batch: Vec::new(),
        })
    }

    /// Refused authentication is what an operator looks for when a client
    /// cannot get in, or someone is guessing keys: logged at info, at most
    /// `LogBudget::PER_SECOND` lines a second per core. The claimed access
    /// key is logged, never the signature. A request that a policy (or the
    /// lack of one) refuses is logged the same way, as "access denied".
    fn log_refused(
        &self,
        parts: &http::request::Parts,
        e: &S3Error,
        request_id: &str,
        conn: &Conn,
        by_policy: bool,
    ) {
        let Some(suppressed) = self.refused_log.take(crate::engine::now_ms()) else {
            return;
        };
        let key = super::auth::claimed_access_key(parts);
        let path = parts.uri.path();
        let path = &path[..path.floor_char_boundary(MAX_LOGGED_PATH)];
        if by_policy {
            tracing::info!(
                request_id,
                client = %conn.peer,
                access_key = ?key.as_deref().unwrap_or("-"),
                code = e.code.as_str(),
                method = %parts.method,
                path,
                suppressed,
                "access denied"
            );
            return;
        }
        tracing::info!(
            request_id,
            client = %conn.peer,
            access_key = ?key.as_deref().unwrap_or("-"),
            code = e.code.as_str(),
            method = %parts.method,
            path,
            suppressed,
            "authentication refused"
        );
    }

    /// The operation a request names (path or virtual-hosted style).
    fn route(&self, parts: &http::request::Parts) -> Result<Route, S3Error> {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        Route::parse(
            &parts.method,
            parts.uri.path(),
            parts.uri.query().unwrap_or(""),
            host,
            self.domain.as_deref(),
            &parts.headers,
        )
    }
}

/// Longer paths are cut in log lines.
const MAX_LOGGED_PATH: usize = 256;

/// The Content-Length of a request or response head, 0 when absent (a
/// streamed body is counted by its declared length only).
fn content_length(h: &http::HeaderMap) -> u64 {
    h.get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs an operation; a panic inside it becomes 500 InternalError (logged)
/// instead of unwinding into the connection task and the core's executor.
/// A broken engine invariant is not a panic: it stops the process
/// (`engine::invariant`), so nothing here can serve on after it.
async fn catch_panics(
    op: impl std::future::Future<Output = S3Result>,
    request_id: &str,
    method: &Method,
    path: &str,
) -> S3Result {
    match AssertUnwindSafe(op).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(request_id, %method, path, panic = what, "handler panicked");
            Err(S3Error::from_code(S3Code::InternalError))
        }
    }
}

async fn run(ctx: Ctx<'_>, route: Route, body: Incoming) -> S3Result {
    use super::{
        acl, attributes, bucket, bucket_policy, copy, cors, delete, encryption, get, lifecycle,
        list, lock, logging, multipart, notification, put, tagging, versions, website, zip,
    };
    use Op::*;
    // The table guarantees the bucket for bucket operations and both for
    // object operations (`Op::scope`), so the empty defaults are never used.
    let Route { bucket, key, op } = route;
    let (b, k) = (
        bucket.as_deref().unwrap_or(""),
        key.as_deref().unwrap_or(""),
    );
    let name = op.name();
    match op {
        ListBuckets {} => bucket::list_buckets(&ctx),
        CreateBucket {} => bucket::create_bucket(&ctx, b, body).await,
        HeadBucket {} => bucket::head_bucket(&ctx, b),
        DeleteBucket {} => bucket::delete_bucket(&ctx, b).await,
        GetBucketLocation {} => bucket::get_location(&ctx, b),
        GetBucketVersioning {} => versions::get_versioning(&ctx, b),
        PutBucketVersioning {} => versions::put_versioning(&ctx, b, body).await,
        ListObjectVersions { params } => versions::list_object_versions(&ctx, b, &params),
        GetBucketObjectLockConfig {} => lock::get_lock_config(&ctx, b),
        PutBucketObjectLockConfig {} => lock::put_lock_config(&ctx, b, body).await,
        GetBucketCors {} => cors::get_bucket_cors(&ctx, b),
        PutBucketCors {} => cors::put_bucket_cors(&ctx, b, body).await,
        DeleteBucketCors {} => cors::delete_bucket_cors(&ctx, b).await,
        GetBucketLifecycle {} => lifecycle::get_bucket_lifecycle(&ctx, b),
        PutBucketLifecycle {} => lifecycle::put_bucket_lifecycle(&ctx, b, body).await,
        DeleteBucketLifecycle {} => lifecycle::delete_bucket_lifecycle(&ctx, b).await,
        GetBucketWebsite {} => website::get_bucket_website(&ctx, b),
        GetBucketNotificationConfiguration {} => notification::get_bucket_notification(&ctx, b),
        PutBucketNotificationConfiguration {} => {
            notification::put_bucket_notification(&ctx, b, body).await
        }
        GetBucketLogging {} => logging::get_bucket_logging(&ctx, b),
        PutBucketLogging {} => logging::put_bucket_logging(&ctx, b, body).await,
        PutBucketWebsite {} => website::put_bucket_website(&ctx, b, body).await,
        DeleteBucketWebsite {} => website::delete_bucket_website(&ctx, b).await,
        GetBucketPolicy {} => bucket_policy::get_policy(&ctx, b),
        PutBucketPolicy {} => bucket_policy::put_policy(&ctx, b, body).await,
        DeleteBucketPolicy {} => bucket_policy::delete_policy(&ctx, b).await,
        GetBucketPolicyStatus {} => bucket_policy::get_policy_status(&ctx, b),
        GetPublicAccessBlock {} => bucket_policy::get_public_access_block(&ctx, b),
        PutPublicAccessBlock {} => bucket_policy::put_public_access_block(&ctx, b, body).await,
        DeletePublicAccessBlock {} => bucket_policy::delete_public_access_block(&ctx, b).await,
        GetBucketEncryption {} => encryption::get_bucket_encryption(&ctx, b),
        PutBucketEncryption {} => encryption::put_bucket_encryption(&ctx, b, body).await,
        DeleteBucketEncryption {} => encryption::delete_bucket_encryption(&ctx, b).await,
        GetBucketAcl {} => acl::get_bucket_acl(&ctx, b),
        PutBucketAcl {} => acl::put_bucket_acl(&ctx, b, body).await,
        GetObjectAcl { version } => acl::get_object_acl(&ctx, b, k, version),
        PutObjectAcl { version } => acl::put_object_acl(&ctx, b, k, version, body).await,
        GetObjectRetention { version } => lock::get_retention(&ctx, b, k, version),
        PutObjectRetention { version } => lock::put_retention(&ctx, b, k, version, body).await,
        GetObjectLegalHold { version } => lock::get_legal_hold(&ctx, b, k, version),
        PutObjectLegalHold { version } => lock::put_legal_hold(&ctx, b, k, version, body).await,
        GetBucketOwnershipControls {} => acl::get_ownership_controls(&ctx, b),
        PutBucketOwnershipControls {} => acl::put_ownership_controls(&ctx, b, body).await,
        DeleteBucketOwnershipControls {} => acl::delete_ownership_controls(&ctx, b).await,
        GetBucketTagging {} => tagging::get_bucket_tagging(&ctx, b),
        PutBucketTagging {} => tagging::put_bucket_tagging(&ctx, b, body).await,
        DeleteBucketTagging {} => tagging::delete_bucket_tagging(&ctx, b).await,
        GetObjectTagging { version } => tagging::get_object_tagging(&ctx, b, k, version),
        GetObjectAttributes { version } => attributes::get_object_attributes(&ctx, b, k, version),
        PutObjectTagging { version } => {
            tagging::put_object_tagging(&ctx, b, k, version, body).await
        }
        DeleteObjectTagging { version } => {
            tagging::delete_object_tagging(&ctx, b, k, version).await
        }
        ListObjects { params } => list::list_objects_v1(&ctx, b, &params),
        ListObjectsV2 { params } => list::list_objects_v2(&ctx, b, &params),
        ListMultipartUploads { params } => multipart::list_multipart_uploads(&ctx, b, &params),
        DeleteObjects {} => delete::delete_objects(&ctx, b, body).await,
        // A form would have been served before authentication.
        PostObject {} => Err(S3Error::new(
            S3Code::PreconditionFailed,
            "Bucket POST must be of the enclosure-type multipart/form-data",
        )),
        PutObject {} => {
            super::body::require_length(ctx.headers())?;
            put::put_object(&ctx, b, k, body).await
        }
        CopyObject { source } => copy::copy_object(&ctx, b, k, &source).await,
        GetObject {
            version,
            part_number,
            overrides,
        } => get::get_object(&ctx, b, k, version, part_number, &overrides, false).await,
        HeadObject {
            version,
            part_number,
            overrides,
        } => get::get_object(&ctx, b, k, version, part_number, &overrides, true).await,
        GetZipMember {
            member,
            version,
            overrides,
        } => zip::get_member(&ctx, b, k, &member, version, &overrides, false).await,
        HeadZipMember {
            member,
            version,
            overrides,
        } => zip::get_member(&ctx, b, k, &member, version, &overrides, true).await,
        DeleteObject { version } => delete::delete_object(&ctx, b, k, version).await,
        CreateMultipartUpload {} => multipart::create_multipart_upload(&ctx, b, k).await,
        UploadPart {
            part_number,
            upload_id,
        } => {
            super::body::require_length(ctx.headers())?;
            multipart::upload_part(&ctx, b, k, part_number, upload_id, body).await
        }
        UploadPartCopy {
            part_number,
            upload_id,
            source,
        } => multipart::upload_part_copy(&ctx, b, k, part_number, upload_id, &source).await,
        CompleteMultipartUpload { upload_id } => {
            multipart::complete_multipart_upload(&ctx, b, k, upload_id, body).await
        }
        AbortMultipartUpload { upload_id } => {
            multipart::abort_multipart_upload(&ctx, b, k, upload_id).await
        }
        ListParts { upload_id, params } => multipart::list_parts(&ctx, b, k, upload_id, &params),
        // OPTIONS is answered before authentication (`S3Api::dispatch`)
        // and never gets here.
        Options {} | Unknown {} => Err(S3Error::new(
            S3Code::NotImplemented,
            format!("{name} is not implemented yet."),
        )),
    }
}

/// 503 SlowDown from a rate limit, with the whole seconds until the next
/// request would be admitted (SDKs back off and retry on it).
fn slow_down(retry_after_secs: u64) -> S3Error {
    S3Error::from_code(S3Code::SlowDown).with_header(
        http::header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs),
    )
}

/// Refusals counted as authentication failures: bad or unknown
/// credentials, a clock too far off, expired or invalid session tokens, and
/// what a policy (or the lack of one) denies.
fn is_auth_failure(code: S3Code) -> bool {
    matches!(
        code,
        S3Code::AccessDenied
            | S3Code::InvalidAccessKeyId
            | S3Code::SignatureDoesNotMatch
            | S3Code::RequestTimeTooSkewed
            | S3Code::ExpiredToken
            | S3Code::InvalidToken
            | S3Code::AuthorizationHeaderMalformed
            | S3Code::AuthorizationQueryParametersError
            | S3Code::MissingSecurityHeader
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::common::response::status_only;

    #[test]
    fn a_panicking_operation_becomes_internal_error() {
        let op = async {
            let v: Vec<u8> = Vec::new();
            // An out-of-bounds index, as a bug in an operation would do.
            let _ = v[std::hint::black_box(3)];
            Ok(status_only(StatusCode::OK))
        };
        let r = catch_panics(op, "id", &Method::GET, "/b/k")
            .now_or_never()
            .expect("ready");
        assert_eq!(r.err().map(|e| e.code), Some(S3Code::InternalError));
        let ok = catch_panics(
            async { Ok(status_only(StatusCode::OK)) },
            "id",
            &Method::GET,
            "/",
        )
        .now_or_never()
        .expect("ready");
        assert_eq!(ok.map(|r| r.status()).ok(), Some(StatusCode::OK));
    }

    #[test]
    fn the_panic_net_does_not_turn_a_broken_engine_invariant_into_a_500() {
        use crate::engine::invariant::child;
        const NAME: &str = "s3::handler::tests::\
                            the_panic_net_does_not_turn_a_broken_engine_invariant_into_a_500";
        if child::is(NAME) {
            child::on_core_0_of_2(|e| async move {
                let key = child::key_owned_by(&e, "b", 1);
                // An engine bug: a delete run on a core that does not own
                // the key's partition.
                let op = async {
                    e.delete_owned("b", &key, None, false, None, None).await?;
                    Ok(status_only(StatusCode::NO_CONTENT))
                };
                let r = catch_panics(op, "id", &Method::DELETE, "/b/k").await;
                println!("the net answered {:?}", r.err().map(|e| e.code));
            });
            return;
        }
        let out = child::run(NAME);
        child::assert_aborted(&out, "is changed only by its owner", "the net answered");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("handler panicked"), "{stderr}");
    }
}
