//! The S3 entry point: authenticates a request, routes it through
//! [`Endpoint`], runs the operation and turns every failure into an S3 XML
//! error. One [`S3Api`] per core (no locks: the signing-key cache and the
//! request counter belong to the core).

use std::cell::Cell;
use std::convert::Infallible;
use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use sha2::Digest;

use crate::auth::chunked::ChunkError;
use crate::auth::sigv4::{AuthError, Verified};
use crate::engine::{Engine, EngineError};
use crate::http::conns::{Conn, LogBudget};
use crate::iam::root::RootCredentials;

use super::auth::Authenticator;
use super::error::{S3Code, S3Error};
use super::router::{parse_query, Endpoint};
use super::xml::ListOwner;

/// Every response body: small documents and streamed objects alike. Not
/// `Send`: object streams hold the core's `Rc<Engine>`.
pub type ResBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = io::Error>>>;

pub fn full(b: impl Into<Bytes>) -> ResBody {
    Box::pin(Full::new(b.into()).map_err(|e: Infallible| match e {}))
}

pub fn empty() -> ResBody {
    Box::pin(Empty::<Bytes>::new().map_err(|e: Infallible| match e {}))
}

/// A response with an XML document.
pub fn xml(status: StatusCode, body: Vec<u8>) -> Response<ResBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r
}

/// A response without a body.
pub fn status_only(status: StatusCode) -> Response<ResBody> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// One core's S3 front end.
pub struct S3Api {
    pub engine: Rc<Engine>,
    pub auth: Authenticator,
    /// What listings report as the owner of every object (single tenant).
    pub owner: ListOwner,
    /// Virtual-hosted-style requests are recognised under this domain.
    domain: Option<String>,
    /// `http` or `https`, for URLs in responses.
    pub scheme: &'static str,
    /// Longest wait for the next piece of a request body.
    pub idle_timeout: std::time::Duration,
    requests: Cell<u64>,
    metrics: Rc<crate::metrics::CoreMetrics>,
    /// Refused authentications logged at info, at a bounded rate.
    refused_log: LogBudget,
}

/// What every operation gets: the request head, its query, who signed it.
pub struct Ctx<'a> {
    pub api: &'a S3Api,
    pub engine: &'a Rc<Engine>,
    pub parts: http::request::Parts,
    pub query: Vec<(String, String)>,
    pub auth: Verified,
    pub request_id: &'a str,
}

impl Ctx<'_> {
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// A request header as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub type S3Result<T = Response<ResBody>> = Result<T, S3Error>;

impl S3Api {
    pub fn new(
        engine: Rc<Engine>,
        creds: Arc<RootCredentials>,
        metrics: Rc<crate::metrics::CoreMetrics>,
        http: &crate::config::HttpSettings,
    ) -> S3Api {
        // A stable, canonical-user-ID-shaped owner derived from the key, so
        // listings look the same on every core and across restarts.
        let id = hex::encode(sha2::Sha256::digest(creds.access_key.as_bytes()));
        let owner = ListOwner {
            id,
            display_name: creds.access_key.clone(),
        };
        S3Api {
            engine,
            auth: Authenticator::new(creds),
            owner,
            domain: http.domain.clone(),
            scheme: if http.tls.is_some() { "https" } else { "http" },
            idle_timeout: http.idle_timeout,
            requests: Cell::new(0),
            metrics,
            refused_log: LogBudget::new(),
        }
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
        let started = Instant::now();
        let request_id = self.request_id();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let bytes_in = content_length(req.headers());
        let op = Cell::new("Unauthenticated");
        let outcome = catch_panics(
            self.dispatch(req, &request_id, &op, conn),
            &request_id,
            &method,
            &path,
        )
        .await;
        let mut resp = match outcome {
            Ok(r) => r,
            Err(e) => error_response(&e, &request_id, &method),
        };
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert(HeaderName::from_static("x-amz-request-id"), v);
        }
        let id2 = base64::engine::general_purpose::STANDARD
            .encode(format!("cairn/{}/{request_id}", self.engine.core));
        if let Ok(v) = HeaderValue::from_str(&id2) {
            h.insert(HeaderName::from_static("x-amz-id-2"), v);
        }
        h.insert(http::header::SERVER, HeaderValue::from_static("cairn"));
        let status = resp.status();
        self.metrics.record(
            op.get(),
            status.as_u16(),
            started.elapsed(),
            bytes_in,
            content_length(resp.headers()),
        );
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            tracing::warn!(request_id, %method, path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "request failed");
        } else {
            tracing::debug!(request_id, %method, path, status = status.as_u16(), ms = started.elapsed().as_millis() as u64, "request");
        }
        resp
    }

    async fn dispatch(
        &self,
        req: Request<Incoming>,
        request_id: &str,
        op: &Cell<&'static str>,
        conn: &Conn,
    ) -> S3Result {
        let (parts, body) = req.into_parts();
        // A browser form carries its credentials in its fields.
        if super::post::is_form_post(&parts) {
            let query = parse_query(parts.uri.query().unwrap_or(""));
            if let Ok(Endpoint::PostObject { bucket }) = self.endpoint(&parts, &query) {
                op.set("PostObject");
                return super::post::post_object(self, parts, &bucket, body, request_id, conn)
                    .await
                    .map_err(|e| e.with_resource(format!("/{bucket}")));
            }
        }
        let auth = match self.auth.authenticate(&parts) {
            Ok(a) => a,
            Err(e) => {
                if let Some(missing) = self.anonymous_missing_bucket(&parts) {
                    return Err(missing);
                }
                self.log_refused(&parts, &e, request_id, conn);
                return Err(e);
            }
        };
        conn.set_authenticated();
        op.set("Unrouted");
        let query = parse_query(parts.uri.query().unwrap_or(""));
        let endpoint = self.endpoint(&parts, &query)?;
        op.set(endpoint.name());
        let resource = endpoint.resource();
        let ctx = Ctx {
            api: self,
            engine: &self.engine,
            parts,
            query,
            auth,
            request_id,
        };
        run(ctx, endpoint, body).await.map_err(|e| {
            if e.resource.is_none() {
                e.with_resource(resource)
            } else {
                e
            }
        })
    }
}

impl S3Api {
    /// Refused authentication is what an operator looks for when a client
    /// cannot get in, or someone is guessing keys: logged at info, at most
    /// `LogBudget::PER_SECOND` lines a second per core. The claimed access
    /// key is logged, never the signature.
    fn log_refused(
        &self,
        parts: &http::request::Parts,
        e: &S3Error,
        request_id: &str,
        conn: &Conn,
    ) {
        let Some(suppressed) = self.refused_log.take(crate::engine::now_ms()) else {
            return;
        };
        let key = super::auth::claimed_access_key(parts);
        let path = parts.uri.path();
        let path = &path[..path.floor_char_boundary(MAX_LOGGED_PATH)];
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
    fn endpoint(
        &self,
        parts: &http::request::Parts,
        query: &[(String, String)],
    ) -> Result<Endpoint, S3Error> {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        Endpoint::parse_with_query(
            &parts.method,
            parts.uri.path(),
            query,
            host,
            self.domain.as_deref(),
            &parts.headers,
        )
    }

    /// S3 answers an anonymous request for a bucket that does not exist
    /// with 404 NoSuchBucket, not 403: no bucket policy could allow it.
    fn anonymous_missing_bucket(&self, parts: &http::request::Parts) -> Option<S3Error> {
        let raw_query = parts.uri.query().unwrap_or("");
        if crate::auth::sigv4::detect(&parts.headers, raw_query)
            != crate::auth::sigv4::AuthKind::Anonymous
        {
            return None;
        }
        let endpoint = self.endpoint(parts, &parse_query(raw_query)).ok()?;
        let bucket = endpoint.bucket()?;
        (!self.engine.bucket_exists(bucket))
            .then(|| S3Error::from_code(S3Code::NoSuchBucket).with_resource(endpoint.resource()))
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

async fn run(ctx: Ctx<'_>, endpoint: Endpoint, body: Incoming) -> S3Result {
    use super::{attributes, bucket, copy, delete, get, list, multipart, put, tagging, versions};
    use Endpoint::*;
    match endpoint {
        ListBuckets => bucket::list_buckets(&ctx),
        CreateBucket { bucket } => bucket::create_bucket(&ctx, &bucket, body).await,
        HeadBucket { bucket } => bucket::head_bucket(&ctx, &bucket),
        DeleteBucket { bucket } => bucket::delete_bucket(&ctx, &bucket).await,
        GetBucketLocation { bucket } => bucket::get_location(&ctx, &bucket),
        GetBucketVersioning { bucket } => versions::get_versioning(&ctx, &bucket),
        PutBucketVersioning { bucket } => versions::put_versioning(&ctx, &bucket, body).await,
        ListObjectVersions { bucket } => versions::list_object_versions_handler(&ctx, &bucket),
        GetBucketObjectLockConfig { bucket } => {
            bucket::not_configured(&ctx, &bucket, S3Code::ObjectLockConfigurationNotFoundError)
        }
        GetBucketCors { bucket } => {
            bucket::not_configured(&ctx, &bucket, S3Code::NoSuchCORSConfiguration)
        }
        GetBucketLifecycle { bucket } => {
            bucket::not_configured(&ctx, &bucket, S3Code::NoSuchLifecycleConfiguration)
        }
        GetBucketPolicy { bucket } | GetBucketPolicyStatus { bucket } => {
            bucket::not_configured(&ctx, &bucket, S3Code::NoSuchBucketPolicy)
        }
        GetBucketEncryption { bucket } => bucket::not_configured(
            &ctx,
            &bucket,
            S3Code::ServerSideEncryptionConfigurationNotFoundError,
        ),
        GetBucketTagging { bucket } => tagging::get_bucket_tagging(&ctx, &bucket),
        PutBucketTagging { bucket } => tagging::put_bucket_tagging(&ctx, &bucket, body).await,
        DeleteBucketTagging { bucket } => tagging::delete_bucket_tagging(&ctx, &bucket).await,
        GetObjectTagging {
            bucket,
            key,
            version_id,
        } => tagging::get_object_tagging(&ctx, &bucket, &key, version_id.as_deref()),
        GetObjectAttributes {
            bucket,
            key,
            version_id,
        } => attributes::get_object_attributes(&ctx, &bucket, &key, version_id.as_deref()),
        PutObjectTagging {
            bucket,
            key,
            version_id,
        } => tagging::put_object_tagging(&ctx, &bucket, &key, version_id.as_deref(), body).await,
        DeleteObjectTagging {
            bucket,
            key,
            version_id,
        } => tagging::delete_object_tagging(&ctx, &bucket, &key, version_id.as_deref()).await,
        ListObjects { bucket } => list::list_objects_v1(&ctx, &bucket),
        ListObjectsV2 { bucket } => list::list_objects_v2(&ctx, &bucket),
        ListMultipartUploads { bucket } => multipart::list_multipart_uploads(&ctx, &bucket),
        DeleteObjects { bucket } => delete::delete_objects(&ctx, &bucket, body).await,
        // A form would have been served before authentication.
        PostObject { .. } => Err(S3Error::new(
            S3Code::PreconditionFailed,
            "Bucket POST must be of the enclosure-type multipart/form-data",
        )),
        PutObject { bucket, key } => {
            super::body::require_length(ctx.headers())?;
            put::put_object(&ctx, &bucket, &key, body).await
        }
        CopyObject {
            bucket,
            key,
            source,
        } => copy::copy_object(&ctx, &bucket, &key, &source).await,
        GetObject {
            bucket,
            key,
            version_id,
            part_number,
        }
        | HeadObject {
            bucket,
            key,
            version_id,
            part_number,
        } => {
            let head = ctx.parts.method == Method::HEAD;
            get::get_object(
                &ctx,
                &bucket,
                &key,
                version_id.as_deref(),
                part_number,
                head,
            )
            .await
        }
        DeleteObject {
            bucket,
            key,
            version_id,
        } => delete::delete_object(&ctx, &bucket, &key, version_id.as_deref()).await,
        CreateMultipartUpload { bucket, key } => {
            multipart::create_multipart_upload(&ctx, &bucket, &key).await
        }
        UploadPart {
            bucket,
            key,
            part_number,
            upload_id,
        } => {
            super::body::require_length(ctx.headers())?;
            multipart::upload_part(&ctx, &bucket, &key, part_number, &upload_id, body).await
        }
        UploadPartCopy {
            bucket,
            key,
            part_number,
            upload_id,
            source,
        } => {
            multipart::upload_part_copy(&ctx, &bucket, &key, part_number, &upload_id, &source).await
        }
        CompleteMultipartUpload {
            bucket,
            key,
            upload_id,
        } => multipart::complete_multipart_upload(&ctx, &bucket, &key, &upload_id, body).await,
        AbortMultipartUpload {
            bucket,
            key,
            upload_id,
        } => multipart::abort_multipart_upload(&ctx, &bucket, &key, &upload_id).await,
        ListParts {
            bucket,
            key,
            upload_id,
        } => multipart::list_parts(&ctx, &bucket, &key, &upload_id),
        // Not built yet: bucket configuration writes, ACLs, CORS preflight.
        other => Err(S3Error::new(
            S3Code::NotImplemented,
            format!("{} is not implemented yet.", other.name()),
        )),
    }
}

/// The S3 error document (no body for HEAD and 304).
pub fn error_response(e: &S3Error, request_id: &str, method: &Method) -> Response<ResBody> {
    let status = e.status();
    // 501 is the expected answer for what is not built yet, not a fault.
    if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
        tracing::warn!(
            request_id,
            code = e.code.as_str(),
            message = e.message,
            "server error"
        );
    }
    if *method == Method::HEAD || !e.has_body() {
        return status_only(status);
    }
    let host_id = base64::engine::general_purpose::STANDARD.encode(request_id);
    xml(status, e.to_xml(request_id, &host_id))
}

// ---------------------------------------------------------------------------
// Error mapping
// ---------------------------------------------------------------------------

impl From<EngineError> for S3Error {
    fn from(e: EngineError) -> S3Error {
        match e {
            EngineError::NoSuchBucket => S3Code::NoSuchBucket.into(),
            // Single tenant: every existing bucket is the caller's own.
            EngineError::BucketExists => S3Code::BucketAlreadyOwnedByYou.into(),
            EngineError::BucketNotEmpty => S3Code::BucketNotEmpty.into(),
            EngineError::NoSuchKey => S3Code::NoSuchKey.into(),
            EngineError::NoSuchVersion => S3Code::NoSuchVersion.into(),
            EngineError::DeleteMarker => S3Error::new(
                S3Code::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            ),
            EngineError::InvalidKey(why) if why.contains("longer") => {
                S3Code::KeyTooLongError.into()
            }
            EngineError::InvalidKey(why) => S3Error::new(
                S3Code::InvalidArgument,
                format!("Invalid object key: {why}"),
            ),
            EngineError::InvalidBucketName => S3Code::InvalidBucketName.into(),
            EngineError::NoSuchUpload => S3Code::NoSuchUpload.into(),
            EngineError::InvalidPart(why) => S3Error::new(S3Code::InvalidPart, why),
            EngineError::InvalidPartOrder => S3Code::InvalidPartOrder.into(),
            EngineError::ConditionConflict => S3Code::ConditionalRequestConflict.into(),
            EngineError::EntityTooSmall => S3Code::EntityTooSmall.into(),
            EngineError::WriteQuorum { online, needed } => {
                S3Error::insufficient_drives(online, needed)
            }
            EngineError::ReadQuorum { have, need } => S3Error::insufficient_drives(have, need),
            EngineError::StorageFull(_) => S3Code::XMinioStorageFull.into(),
            // The request body's own failure is reported by the handler
            // (see `RequestBody::take_error`); this is the fallback.
            EngineError::Body(_) => S3Code::IncompleteBody.into(),
            EngineError::ShuttingDown => S3Error::new(
                S3Code::ServiceUnavailable,
                "The server is shutting down. Please retry.",
            ),
            e @ (EngineError::Io(_) | EngineError::Index(_) | EngineError::Internal(_)) => {
                tracing::error!(error = %e, "engine error");
                S3Code::InternalError.into()
            }
        }
    }
}

impl From<AuthError> for S3Error {
    fn from(e: AuthError) -> S3Error {
        let code = match e {
            AuthError::SignatureDoesNotMatch => S3Code::SignatureDoesNotMatch,
            AuthError::InvalidAccessKeyId => S3Code::InvalidAccessKeyId,
            AuthError::RequestTimeTooSkewed => S3Code::RequestTimeTooSkewed,
            AuthError::RequestExpired
            | AuthError::RequestNotYetValid
            | AuthError::HeadersNotSigned
            | AuthError::MissingDate
            | AuthError::Anonymous => S3Code::AccessDenied,
            AuthError::AuthorizationHeaderMalformed(_) => S3Code::AuthorizationHeaderMalformed,
            AuthError::AuthorizationQueryParametersError(_) => {
                S3Code::AuthorizationQueryParametersError
            }
            AuthError::MissingContentSha256 | AuthError::UnsupportedAuthMechanism => {
                S3Code::InvalidRequest
            }
            AuthError::InvalidArgument(_) => S3Code::InvalidArgument,
            AuthError::XAmzContentSHA256Mismatch => S3Code::XAmzContentSHA256Mismatch,
        };
        S3Error::new(code, e.message())
    }
}

impl From<ChunkError> for S3Error {
    fn from(e: ChunkError) -> S3Error {
        let code = match e {
            ChunkError::SignatureDoesNotMatch => S3Code::SignatureDoesNotMatch,
            ChunkError::Malformed(_) | ChunkError::IncompleteBody => S3Code::IncompleteBody,
            ChunkError::BadDigest => S3Code::BadDigest,
            ChunkError::InvalidTrailer(_) => S3Code::MalformedTrailerError,
            ChunkError::InvalidChunkSize => S3Code::InvalidChunkSizeError,
        };
        S3Error::new(code, e.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn engine_errors_map_to_s3_codes() {
        let c = |e: EngineError| S3Error::from(e).code;
        assert_eq!(c(EngineError::NoSuchBucket), S3Code::NoSuchBucket);
        assert_eq!(
            c(EngineError::BucketExists),
            S3Code::BucketAlreadyOwnedByYou
        );
        assert_eq!(c(EngineError::BucketNotEmpty), S3Code::BucketNotEmpty);
        assert_eq!(
            c(EngineError::InvalidKey("key longer than 1024 bytes")),
            S3Code::KeyTooLongError
        );
        assert_eq!(
            c(EngineError::InvalidKey("key contains NUL")),
            S3Code::InvalidArgument
        );
        assert_eq!(
            c(EngineError::WriteQuorum {
                online: 1,
                needed: 3
            }),
            S3Code::ServiceUnavailable
        );
        assert_eq!(
            c(EngineError::StorageFull("x".into())),
            S3Code::XMinioStorageFull
        );
        assert_eq!(c(EngineError::Internal("x".into())), S3Code::InternalError);
    }

    #[test]
    fn auth_and_chunk_errors_keep_their_status() {
        for e in [
            AuthError::SignatureDoesNotMatch,
            AuthError::InvalidAccessKeyId,
            AuthError::RequestTimeTooSkewed,
            AuthError::Anonymous,
            AuthError::MissingContentSha256,
            AuthError::XAmzContentSHA256Mismatch,
        ] {
            let s = S3Error::from(e);
            assert_eq!(s.code.as_str(), e.code());
            assert_eq!(s.status().as_u16(), e.http_status());
        }
        for e in [
            ChunkError::SignatureDoesNotMatch,
            ChunkError::IncompleteBody,
            ChunkError::BadDigest,
        ] {
            let s = S3Error::from(e);
            assert_eq!(s.code.as_str(), e.code());
            assert_eq!(s.status().as_u16(), e.http_status());
        }
    }
}
