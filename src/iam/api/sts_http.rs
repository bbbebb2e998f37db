//! STS over HTTP: `POST /` with a form body (`Action=AssumeRole&…`, as
//! MinIO serves it and the AWS SDKs send it) signed for service `sts`.
//! AWS's XML answers, errors as `<ErrorResponse>`.
//!
//! The Query API signs the body's SHA-256 without sending it as
//! `x-amz-content-sha256`, so the (small, bounded) form is read before the
//! signature is checked and its hash stands in for the header.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use crate::auth::sigv4::STS_SERVICE;
use crate::iam::identities::Principal;
use crate::iam::model::ACCOUNT_ID;
use crate::iam::sts::{self, StsError};
use crate::s3::auth::Authenticator;
use crate::s3::common::response::{full, ResBody};
use crate::s3::error::{S3Code, S3Error};

use super::request::{self, IamRequest};

/// STS forms are small: a 2,048-character session policy, URL-encoded,
/// and a few names.
pub const MAX_STS_FORM: usize = 64 * 1024;
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// A request for STS: `POST /` whose SigV4 credential scope names `sts`.
pub fn is_sts(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::POST
        && parts.uri.path() == "/"
        && credential_service(&parts.headers) == Some(STS_SERVICE)
}

/// The service of `Credential=AK/DATE/REGION/SERVICE/aws4_request`.
fn credential_service(headers: &http::HeaderMap) -> Option<&str> {
    let h = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let cred = h.split_once("Credential=")?.1;
    let cred = cred.split([',', ' ']).next()?;
    cred.rsplit('/').nth(1)
}

/// An STS error: code, status, message.
struct Failure {
    code: &'static str,
    status: u16,
    message: String,
}

impl From<StsError> for Failure {
    fn from(e: StsError) -> Failure {
        Failure {
            code: e.code.as_str(),
            status: e.code.http_status(),
            message: e.message,
        }
    }
}

impl From<S3Error> for Failure {
    /// Authentication failures in STS's words where they differ.
    fn from(e: S3Error) -> Failure {
        match e.code {
            S3Code::InvalidAccessKeyId => Failure {
                code: "InvalidClientTokenId",
                status: 403,
                message: "The security token included in the request is invalid.".into(),
            },
            code => Failure {
                code: code.as_str(),
                status: code.status().as_u16(),
                message: e.message,
            },
        }
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        code,
        status: 400,
        message: message.into(),
    }
}

/// Serves one STS request; never fails (errors become `<ErrorResponse>`).
pub async fn serve(
    auth: &Authenticator,
    parts: http::request::Parts,
    body: Incoming,
    request_id: &str,
    idle: Duration,
) -> Response<ResBody> {
    match answer(auth, parts, body, request_id, idle).await {
        Ok(doc) => xml(StatusCode::OK, doc),
        Err(f) => {
            let doc = crate::xmlw::document("ErrorResponse", Some(XMLNS), 256, |w| {
                w.element("Error", |w| {
                    w.text(
                        "Type",
                        if f.status >= 500 {
                            "Receiver"
                        } else {
                            "Sender"
                        },
                    );
                    w.text("Code", f.code);
                    w.text("Message", &f.message);
                });
                w.text("RequestId", request_id);
            });
            xml(
                StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST),
                doc,
            )
        }
    }
}

fn xml(status: StatusCode, body: Vec<u8>) -> Response<ResBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    r
}

async fn answer(
    auth: &Authenticator,
    mut parts: http::request::Parts,
    body: Incoming,
    request_id: &str,
    idle: Duration,
) -> Result<Vec<u8>, Failure> {
    let form = read_form(body, idle).await?;
    let digest = hex::encode(Sha256::digest(&form));
    match parts.headers.get("x-amz-content-sha256") {
        Some(v) if v.as_bytes() != digest.as_bytes() && v.as_bytes() != b"UNSIGNED-PAYLOAD" => {
            return Err(S3Error::from_code(S3Code::XAmzContentSHA256Mismatch).into());
        }
        Some(_) => {}
        None => {
            let v = HeaderValue::from_str(&digest).map_err(|_| invalid("InternalFailure", ""))?;
            parts.headers.insert("x-amz-content-sha256", v);
        }
    }
    let (_, principal) = auth.authenticate_for(&parts, STS_SERVICE)?;
    let req = request::parse(&form).map_err(|e| Failure {
        code: e.code,
        status: 400,
        message: e.message,
    })?;
    match req {
        IamRequest::AssumeRole {
            role_arn,
            session_name,
            duration_secs,
            policy,
        } => {
            let ids = auth.identities();
            let now_ms = crate::engine::now_ms();
            let ask = sts::AssumeRole {
                role_arn,
                session_name,
                duration_secs,
                policy,
            };
            let grant = sts::assume_role(&ids.snapshot().state, &principal, &ask, now_ms)?;
            let (session, token) = sts::mint(
                ids.master(),
                grant.subject,
                grant.policy,
                grant.duration_secs,
                now_ms,
            )
            .ok_or_else(|| {
                invalid(
                    "PackedPolicyTooLarge",
                    "The session policy and names are too large for a session token.",
                )
            })?;
            Ok(assume_role_result(
                &session,
                &token,
                &grant.arn,
                &grant.assumed_id,
                request_id,
            ))
        }
        IamRequest::GetCallerIdentity => Ok(caller_identity(&principal, request_id)),
        other => Err(invalid(
            "InvalidAction",
            format!(
                "Could not find operation {} for version 2011-06-15",
                other.name()
            ),
        )),
    }
}

/// The form, at most [`MAX_STS_FORM`] bytes, each frame within `idle`.
async fn read_form(mut body: Incoming, idle: Duration) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    loop {
        let frame = crate::runtime::timeout(idle, body.frame())
            .await
            .map_err(|_| invalid("RequestTimeout", "The request body was not sent in time."))?;
        let data: Bytes = match frame {
            None => return Ok(out),
            Some(Err(_)) => return Err(invalid("IncompleteBody", "The request body ended early.")),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => continue,
            },
        };
        if out.len() + data.len() > MAX_STS_FORM {
            return Err(invalid(
                "ValidationError",
                format!("The request body is larger than {MAX_STS_FORM} bytes."),
            ));
        }
        out.extend_from_slice(&data);
    }
}

fn assume_role_result(
    s: &sts::Session,
    token: &str,
    arn: &str,
    assumed_id: &str,
    request_id: &str,
) -> Vec<u8> {
    let expiration = crate::s3::xml::iso8601_ms(s.expires_ms);
    crate::xmlw::document("AssumeRoleResponse", Some(XMLNS), 512 + token.len(), |w| {
        w.element("AssumeRoleResult", |w| {
            w.element("Credentials", |w| {
                w.text("AccessKeyId", &s.access_key);
                w.text("SecretAccessKey", s.secret.expose());
                w.text("SessionToken", token);
                w.text("Expiration", &expiration);
            });
            w.element("AssumedRoleUser", |w| {
                w.text("Arn", arn);
                w.text("AssumedRoleId", assumed_id);
            });
        });
        w.element("ResponseMetadata", |w| w.text("RequestId", request_id));
    })
}

fn caller_identity(p: &Principal, request_id: &str) -> Vec<u8> {
    crate::xmlw::document("GetCallerIdentityResponse", Some(XMLNS), 512, |w| {
        w.element("GetCallerIdentityResult", |w| {
            w.text("Arn", &p.arn);
            w.text("UserId", &p.id);
            w.text("Account", ACCOUNT_ID);
        });
        w.element("ResponseMetadata", |w| w.text("RequestId", request_id));
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_posts_to_the_root_signed_for_sts_are_sts() {
        let req = |method: &str, path: &str, auth: &str| {
            http::Request::builder()
                .method(method)
                .uri(path)
                .header("authorization", auth)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        let sts = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00";
        let s3 = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";
        assert!(is_sts(&req("POST", "/", sts)));
        assert!(!is_sts(&req("POST", "/", s3)));
        assert!(!is_sts(&req("GET", "/", sts)));
        assert!(!is_sts(&req("POST", "/bucket", sts)));
        assert!(!is_sts(&req("POST", "/", "AWS AKID:c2ln")));
    }
}
