//! Response bodies and the responses operations build from them.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};

use crate::s3::error::S3Error;

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
    let mut r = if *method == Method::HEAD || !e.has_body() {
        status_only(status)
    } else {
        let host_id = base64::engine::general_purpose::STANDARD.encode(request_id);
        xml(status, e.to_xml(request_id, &host_id))
    };
    for (name, value) in &e.headers {
        r.headers_mut().insert(name.clone(), value.clone());
    }
    r
}

pub fn quoted_etag(etag: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{etag}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// A single-part write's checksums and their type, as S3 returns them.
pub fn add_checksum_headers(r: &mut Response<ResBody>, checksums: &[(String, String)]) {
    let h = r.headers_mut();
    for (name, value) in checksums {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    if !checksums.is_empty() {
        h.insert(
            "x-amz-checksum-type",
            HeaderValue::from_static("FULL_OBJECT"),
        );
    }
}
