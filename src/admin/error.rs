//! The admin API's errors: a JSON body `{"Code", "Message", "RequestId"}`
//! with the status a client can act on (400 bad input, 403 refused, 404
//! missing, 409 conflict, 503 when the change could not be made durable).

use http::StatusCode;

use crate::iam::model::{IamCode, IamError};
use crate::s3::error::S3Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AdminError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AdminError {
        AdminError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid(message: impl Into<String>) -> AdminError {
        AdminError::bad_request("InvalidArgument", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn access_denied(message: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// The JSON body.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "Code": self.code,
            "Message": self.message,
            "RequestId": request_id,
        }))
        .unwrap_or_default()
    }
}

/// An identity change's failure, with the area's own codes for a missing
/// or existing entity (`NoSuchUser`, `UserAlreadyExists` …).
pub fn from_iam(e: IamError, missing: &'static str, exists: &'static str) -> AdminError {
    let (status, code) = match e.code {
        IamCode::NoSuchEntity => (StatusCode::NOT_FOUND, missing),
        IamCode::EntityAlreadyExists => (StatusCode::CONFLICT, exists),
        IamCode::LimitExceeded => (StatusCode::CONFLICT, "LimitExceeded"),
        IamCode::DeleteConflict => (StatusCode::CONFLICT, "DeleteConflict"),
        IamCode::ValidationError | IamCode::InvalidInput => {
            (StatusCode::BAD_REQUEST, "InvalidArgument")
        }
        IamCode::MalformedPolicyDocument => (StatusCode::BAD_REQUEST, "MalformedPolicy"),
        IamCode::ServiceFailure => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
    };
    AdminError::new(status, code, e.message)
}

/// A refused authentication, with S3's code and status (a client's SDK
/// already knows what `SignatureDoesNotMatch` or `InvalidAccessKeyId` mean).
impl From<S3Error> for AdminError {
    fn from(e: S3Error) -> AdminError {
        let message = if e.message.is_empty() {
            e.code.default_message().to_owned()
        } else {
            e.message
        };
        AdminError::new(e.code.status(), e.code.as_str(), message)
    }
}
