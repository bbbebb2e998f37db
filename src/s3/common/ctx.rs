//! The context every operation runs in.

use std::rc::Rc;
use std::time::Duration;

use http::HeaderMap;

use crate::auth::sigv4::Verified;
use crate::engine::Engine;

use super::response::ResBody;
use crate::s3::error::{S3Code, S3Error};
use crate::s3::xml::ListOwner;

/// The front end's settings that operations read.
pub struct ApiSettings {
    /// What listings report as the owner of every object (single tenant).
    pub owner: ListOwner,
    /// `http` or `https`, for URLs in responses.
    pub scheme: &'static str,
    /// Longest wait for the next piece of a request body.
    pub idle_timeout: Duration,
    /// Who exists: ACL grantees by canonical id or e-mail.
    pub identities: Rc<crate::iam::identities::Identities>,
    /// `--sse-c-allow-http`: SSE-C keys accepted without TLS.
    pub sse_c_allow_http: bool,
}

pub type S3Result<T = http::Response<ResBody>> = Result<T, S3Error>;

/// What every operation gets: the request head and who signed it. What
/// the query string says is in the operation's `router::Op`.
pub struct Ctx<'a> {
    pub api: &'a ApiSettings,
    pub engine: &'a Rc<Engine>,
    pub parts: http::request::Parts,
    pub auth: Verified,
    /// Who signed the request (anonymous when nobody did).
    pub principal: std::sync::Arc<crate::iam::identities::Principal>,
    pub request_id: &'a str,
    /// For operations that authorise more as they go (DeleteObjects per
    /// key, ListBuckets per bucket).
    pub authz: crate::s3::authorize::Authorizer<'a>,
}

impl Ctx<'_> {
    /// This request as the origin of a change, for event notifications.
    pub fn origin(
        &self,
        bucket: &str,
        action: crate::notify::event::Action,
    ) -> Option<crate::notify::event::Origin> {
        self.authz.origin(self.request_id, bucket, action)
    }

    /// A small request body read whole (an XML or JSON document), verified
    /// like any other body, refused past `limit` bytes.
    pub async fn read_document(
        &self,
        body: hyper::body::Incoming,
        limit: usize,
    ) -> S3Result<Vec<u8>> {
        crate::s3::body::RequestBody::new(
            body,
            self.headers(),
            &self.auth,
            self.api.idle_timeout,
            limit as u64,
        )?
        .read_to_end(limit)
        .await
    }

    /// Operations whose body S3 requires an integrity check for
    /// (DeleteObjects, PutBucketEncryption): Content-MD5 or a checksum.
    pub fn require_content_md5(&self) -> Result<(), S3Error> {
        if self.has_integrity_header() {
            Ok(())
        } else {
            Err(S3Error::new(
                S3Code::InvalidRequest,
                "Missing required header for this request: Content-MD5",
            ))
        }
    }

    /// How the request arrived, for the SSE-C transport rule.
    pub fn transport(&self) -> crate::sse::customer::Transport {
        crate::sse::customer::Transport {
            secure: self.api.scheme == "https",
            allow_plain_http: self.api.sse_c_allow_http,
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// A request header as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the request carries an integrity check S3 requires on some
    /// requests: Content-MD5 or one of the additional checksums (in a
    /// header or announced as a trailer).
    pub fn has_integrity_header(&self) -> bool {
        let h = self.headers();
        h.contains_key("content-md5")
            || h.contains_key("x-amz-trailer")
            || crate::auth::checksum::ChecksumAlgo::ALL
                .iter()
                .any(|a| h.contains_key(a.header_name()))
    }
}

pub fn require_bucket(ctx: &Ctx<'_>, bucket: &str) -> Result<(), S3Error> {
    if ctx.engine.bucket_exists(bucket) {
        Ok(())
    } else {
        Err(S3Error::from_code(S3Code::NoSuchBucket))
    }
}
