//! S3 error codes and the XML error document: the one table every error
//! answered to a client goes through, auth and aws-chunked errors included
//! (they map in through one `From` each, below).
//!
//! Codes and HTTP statuses follow AWS's "Error responses / List of error
//! codes" page (docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html);
//! `statuses_match_aws_list` checks each against a copy of it. Where the page
//! is silent the source is noted on the variant.

use std::fmt;

use http::header::{HeaderName, HeaderValue};
use http::StatusCode;

use crate::auth::chunked::ChunkError;
use crate::auth::sigv4::AuthError;
use crate::engine::EngineError;

/// Writes the [`S3Code`] enum and its three lookups from one table: a
/// variant's name is its `<Code>`, then its status and stock message.
/// A variant's `<Code>` is its name unless given in brackets (codes with a
/// dot, such as `KMS.NotFoundException`).
macro_rules! s3_codes {
    (@name $code:ident) => { stringify!($code) };
    (@name $code:ident $name:literal) => { $name };
    ($( $(#[$doc:meta])* $code:ident $([$name:literal])? = $status:ident, $message:expr; )+) => {
        /// An S3 error code. `as_str()` is the exact `<Code>` text clients match on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum S3Code {
            $( $(#[$doc])* $code, )+
        }

        impl S3Code {
            /// Every code, in table order.
            pub const ALL: &'static [S3Code] = &[$(S3Code::$code),+];

            /// The `<Code>` string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(S3Code::$code => s3_codes!(@name $code $($name)?),)+
                }
            }

            /// The HTTP status AWS documents for this code.
            pub fn status(self) -> StatusCode {
                match self {
                    $(S3Code::$code => StatusCode::$status,)+
                }
            }

            /// AWS's stock message for the code, for callers with nothing better.
            pub fn default_message(self) -> &'static str {
                match self {
                    $(S3Code::$code => $message,)+
                }
            }
        }
    };
}

s3_codes! {
    /// 400: the bucket's ownership controls are `BucketOwnerEnforced` (user
    /// guide, "Troubleshooting" for Object Ownership).
    AccessControlListNotSupported = BAD_REQUEST, "The bucket does not allow ACLs";
    /// 403: a CORS preflight no rule allows (observed: S3 answers a refused
    /// `OPTIONS` with it; not in the error table).
    AccessForbidden = FORBIDDEN, "CORSResponse: This CORS request is not allowed.";
    AccessDenied = FORBIDDEN, "Access Denied";
    AccountProblem = FORBIDDEN,
        "There is a problem with your AWS account that prevents the action from completing successfully.";
    AllAccessDisabled = FORBIDDEN, "All access to this Amazon S3 resource has been disabled.";
    AmbiguousGrantByEmailAddress = BAD_REQUEST,
        "The email address you provided is associated with more than one account.";
    AuthorizationHeaderMalformed = BAD_REQUEST, "The authorization header is malformed.";
    AuthorizationQueryParametersError = BAD_REQUEST,
        "Error parsing the X-Amz-Credential parameter or other query authorization parameters.";
    BadDigest = BAD_REQUEST, "The Content-MD5 you specified did not match what we received.";
    /// 400 with an operation-specific message; S3 uses it for tag sets over
    /// their limit (observed, not in the error table).
    BadRequest = BAD_REQUEST, "Bad Request";
    BucketAlreadyExists = CONFLICT,
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    BucketAlreadyOwnedByYou = CONFLICT,
        "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty = CONFLICT, "The bucket you tried to delete is not empty";
    /// 409: a conditional write raced another write (AWS conditional writes).
    ConditionalRequestConflict = CONFLICT,
        "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.";
    CredentialsNotSupported = BAD_REQUEST, "This request does not support credentials.";
    EntityTooLarge = BAD_REQUEST, "Your proposed upload exceeds the maximum allowed object size.";
    EntityTooSmall = BAD_REQUEST, "Your proposed upload is smaller than the minimum allowed object size.";
    ExpiredToken = BAD_REQUEST, "The provided token has expired.";
    IllegalVersioningConfigurationException = BAD_REQUEST,
        "The versioning configuration specified in the request is invalid.";
    IncompleteBody = BAD_REQUEST,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    IncorrectNumberOfFilesInPostRequest = BAD_REQUEST,
        "POST requires exactly one file upload per request.";
    InternalError = INTERNAL_SERVER_ERROR, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId = FORBIDDEN,
        "The AWS access key ID you provided does not exist in our records.";
    InvalidArgument = BAD_REQUEST, "Invalid Argument";
    /// 400: `BucketOwnerEnforced` asked for while the bucket ACL grants
    /// others access (user guide, "Troubleshooting" for Object Ownership).
    InvalidBucketAclWithObjectOwnership = BAD_REQUEST,
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting";
    InvalidBucketName = BAD_REQUEST, "The specified bucket is not valid.";
    InvalidBucketState = CONFLICT, "The request is not valid with the current state of the bucket.";
    /// Not in AWS's list. 400, the status cairn has always sent; the
    /// aws-chunked decoder once claimed 403 without a source.
    InvalidChunkSizeError = BAD_REQUEST,
        "Only the last chunk is allowed to have a size less than 8192 bytes";
    InvalidDigest = BAD_REQUEST, "The Content-MD5 you specified is not valid.";
    InvalidEncryptionAlgorithmError = BAD_REQUEST,
        "The Encryption request you specified is not valid. Supported value: AES256.";
    InvalidLocationConstraint = BAD_REQUEST, "The specified location constraint is not valid.";
    InvalidPart = BAD_REQUEST,
        "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
    InvalidPartOrder = BAD_REQUEST,
        "The list of parts was not in ascending order. The parts list must be specified in order by part number.";
    /// Not in AWS's list. 400 for GetObject `partNumber` past the object's
    /// parts, as the compatibility tests expect (tests/compat/test_edges.py).
    InvalidPartNumber = BAD_REQUEST, "The requested partnumber is not satisfiable";
    /// A POST form that does not meet its policy's conditions.
    InvalidPolicyDocument = BAD_REQUEST,
        "The content of the form does not meet the conditions specified in the policy document.";
    InvalidRange = RANGE_NOT_SATISFIABLE, "The requested range is not satisfiable";
    InvalidRequest = BAD_REQUEST, "Invalid Request";
    InvalidSecurity = FORBIDDEN, "The provided security credentials are not valid.";
    InvalidStorageClass = BAD_REQUEST, "The storage class you specified is not valid.";
    /// Not in AWS's list; 400 in the tagging error list.
    InvalidTag = BAD_REQUEST, "The tag provided was not a valid tag.";
    /// 400: an SSE-KMS key that is disabled (S3 passes KMS's error on).
    KMSDisabledException["KMS.DisabledException"] = BAD_REQUEST, "The KMS key is disabled.";
    /// 400: an SSE-KMS key that does not exist (S3 passes KMS's error on).
    KMSNotFoundException["KMS.NotFoundException"] = BAD_REQUEST, "Invalid keyId";
    InvalidTargetBucketForLogging = BAD_REQUEST,
        "The target bucket for logging does not exist, is not owned by you, or does not have the appropriate grants for the log-delivery group.";
    InvalidToken = BAD_REQUEST, "The provided token is malformed or otherwise invalid.";
    InvalidURI = BAD_REQUEST, "Couldn't parse the specified URI.";
    KeyTooLongError = BAD_REQUEST, "Your key is too long";
    MalformedACLError = BAD_REQUEST,
        "The XML you provided was not well-formed or did not validate against our published schema.";
    MalformedPOSTRequest = BAD_REQUEST,
        "The body of your POST request is not well-formed multipart/form-data.";
    /// 400: a bucket policy that does not parse or validate; callers name
    /// the problem in the message.
    MalformedPolicy = BAD_REQUEST, "Policies must be valid JSON and the first byte must be '{'";
    MalformedXML = BAD_REQUEST,
        "The XML you provided was not well-formed or did not validate against our published schema";
    /// Not in AWS's list; 400 in the checksum trailer documentation.
    MalformedTrailerError = BAD_REQUEST,
        "The request contained trailing data that was not well-formed or did not conform to our published schema.";
    MaxPostPreDataLengthExceededError = BAD_REQUEST,
        "Your POST request fields preceding the upload file were too large.";
    MetadataTooLarge = BAD_REQUEST, "Your metadata headers exceed the maximum allowed metadata size.";
    MethodNotAllowed = METHOD_NOT_ALLOWED, "The specified method is not allowed against this resource.";
    MissingContentLength = LENGTH_REQUIRED, "You must provide the Content-Length HTTP header.";
    MissingRequestBodyError = BAD_REQUEST, "Request Body is empty";
    MissingSecurityHeader = BAD_REQUEST, "Your request is missing a required header.";
    NoSuchBucket = NOT_FOUND, "The specified bucket does not exist";
    NoSuchBucketPolicy = NOT_FOUND, "The bucket policy does not exist";
    /// Not in AWS's list; 404 as GetBucketCors documents it.
    NoSuchCORSConfiguration = NOT_FOUND, "The CORS configuration does not exist";
    NoSuchKey = NOT_FOUND, "The specified key does not exist.";
    NoSuchLifecycleConfiguration = NOT_FOUND, "The lifecycle configuration does not exist";
    /// Not in AWS's list; 404 as GetObjectRetention answers a version
    /// without retention.
    NoSuchObjectLockConfiguration = NOT_FOUND,
        "The specified object does not have a ObjectLock configuration";
    /// Not in AWS's list; 404 as GetPublicAccessBlock answers a bucket
    /// without one.
    NoSuchPublicAccessBlockConfiguration = NOT_FOUND,
        "The public access block configuration was not found";
    /// Not in AWS's list; 404 as GetBucketTagging answers an untagged bucket.
    NoSuchTagSet = NOT_FOUND, "The TagSet does not exist";
    NoSuchUpload = NOT_FOUND,
        "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.";
    NoSuchVersion = NOT_FOUND, "The specified version does not exist.";
    /// Not in AWS's list; 404 as GetBucketWebsite (and the website
    /// endpoint) answers a bucket without a website configuration.
    NoSuchWebsiteConfiguration = NOT_FOUND,
        "The specified bucket does not have a website configuration";
    NotImplemented = NOT_IMPLEMENTED,
        "A header you provided implies functionality that is not implemented.";
    /// 304. Carries no body: see [`S3Error::has_body`].
    NotModified = NOT_MODIFIED, "Not Modified";
    /// Not in AWS's list; 404 as GetObjectLockConfiguration answers.
    ObjectLockConfigurationNotFoundError = NOT_FOUND,
        "Object Lock configuration does not exist for this bucket";
    OperationAborted = CONFLICT,
        "A conflicting conditional operation is currently in progress against this resource. Try again.";
    /// Not in AWS's list; 404 as GetBucketOwnershipControls answers a
    /// bucket without them.
    OwnershipControlsNotFoundError = NOT_FOUND, "The bucket ownership controls were not found";
    PreconditionFailed = PRECONDITION_FAILED, "At least one of the pre-conditions you specified did not hold";
    /// Ceph RGW's answer to a write past a user's or tenant's quota.
    QuotaExceeded = FORBIDDEN, "The tenant's quota is exceeded.";
    RequestIsNotMultiPartContent = BAD_REQUEST,
        "Bucket POST must be of the enclosure-type multipart/form-data.";
    RequestTimeTooSkewed = FORBIDDEN,
        "The difference between the request time and the server's time is too large.";
    /// AWS documents 400, not 408.
    RequestTimeout = BAD_REQUEST,
        "Your socket connection to the server was not read from or written to within the timeout period.";
    /// Not in AWS's list; 404 as GetBucketEncryption answers.
    ServerSideEncryptionConfigurationNotFoundError = NOT_FOUND,
        "The server side encryption configuration was not found";
    ServiceUnavailable = SERVICE_UNAVAILABLE, "Please reduce your request rate.";
    SignatureDoesNotMatch = FORBIDDEN,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    SlowDown = SERVICE_UNAVAILABLE, "Please reduce your request rate.";
    TokenRefreshRequired = BAD_REQUEST, "The provided token must be refreshed.";
    TooManyBuckets = BAD_REQUEST, "You have attempted to create more buckets than allowed.";
    UnexpectedContent = BAD_REQUEST, "This request does not support content.";
    UnresolvableGrantByEmailAddress = BAD_REQUEST,
        "The email address you provided does not match any account on record.";
    UserKeyMustBeSpecified = BAD_REQUEST,
        "The bucket POST must contain the specified field name. If it is specified, check the order of the fields.";
    /// Not in AWS's list; 400 as S3 answers a payload whose SHA-256 differs
    /// from the signed one.
    XAmzContentSHA256Mismatch = BAD_REQUEST,
        "The provided 'x-amz-content-sha256' header does not match what was computed.";
    /// MinIO's answer to a write that would pass the bucket's hard quota
    /// (its S3 layer maps `BucketQuotaExceeded` to this admin code, 400).
    XMinioAdminBucketQuotaExceeded = BAD_REQUEST, "Bucket quota exceeded";
    /// MinIO's 507 for a full backend; clients treat it as retryable.
    XMinioStorageFull = INSUFFICIENT_STORAGE,
        "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.";
}

impl fmt::Display for S3Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An S3 error ready to be rendered with [`S3Error::to_xml`], with any
/// headers S3 sends alongside it (`x-amz-delete-marker`, `Content-Range`,
/// `Allow`, `Retry-After`, …), so no operation builds an error response by
/// hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct S3Error {
    pub code: S3Code,
    pub message: String,
    pub resource: Option<String>,
    /// Added to the response as they are; empty for most errors, so no
    /// allocation.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl S3Error {
    pub fn new(code: S3Code, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            resource: None,
            headers: Vec::new(),
        }
    }

    /// An error carrying AWS's stock message for `code`.
    pub fn from_code(code: S3Code) -> Self {
        Self::new(code, code.default_message())
    }

    /// Sets `<Resource>`, conventionally `/bucket` or `/bucket/key`.
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Adds a response header, replacing an earlier one of the same name.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    /// Not enough drives online to read or write: S3 has no code for this,
    /// and 503 is what SDKs retry with backoff.
    pub fn insufficient_drives(online: usize, needed: usize) -> Self {
        Self::new(
            S3Code::ServiceUnavailable,
            format!(
                "Insufficient drives online: {online} available, {needed} required. Please retry later."
            ),
        )
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// False for 304: RFC 9110 forbids a body there (HEAD responses never
    /// carry one either, which the caller must handle by method).
    pub fn has_body(&self) -> bool {
        self.code != S3Code::NotModified
    }

    /// The `<Error>` document AWS sends (no namespace), all text escaped.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> Vec<u8> {
        let capacity = 160 + self.message.len() + self.resource.as_ref().map_or(0, |r| r.len());
        crate::xmlw::document("Error", None, capacity, |w| {
            w.text("Code", self.code.as_str());
            w.text("Message", &self.message);
            w.text_opt("Resource", self.resource.as_deref());
            w.text("RequestId", request_id);
            w.text("HostId", host_id);
        })
    }
}

impl From<S3Code> for S3Error {
    fn from(code: S3Code) -> Self {
        Self::from_code(code)
    }
}

/// The verifier's errors, with its own messages (S3's wording where known).
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

/// The aws-chunked decoder's errors. S3 answers any malformed chunk
/// encoding as it answers truncation, so both are IncompleteBody.
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

impl From<EngineError> for S3Error {
    fn from(e: EngineError) -> S3Error {
        match e {
            EngineError::NoSuchBucket => S3Code::NoSuchBucket.into(),
            // Single tenant: every existing bucket is the caller's own.
            EngineError::BucketExists => S3Code::BucketAlreadyOwnedByYou.into(),
            EngineError::BucketNotEmpty => S3Code::BucketNotEmpty.into(),
            EngineError::NoSuchKey => S3Code::NoSuchKey.into(),
            EngineError::NoSuchVersion => S3Code::NoSuchVersion.into(),
            EngineError::DeleteMarker => S3Code::MethodNotAllowed.into(),
            EngineError::KeyTooLong => S3Code::KeyTooLongError.into(),
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
            EngineError::QuotaExceeded => S3Code::XMinioAdminBucketQuotaExceeded.into(),
            EngineError::TenantQuotaExceeded => S3Code::QuotaExceeded.into(),
            EngineError::InvalidBucketState(why) => S3Error::new(S3Code::InvalidBucketState, why),
            EngineError::InvalidStorageClass(why) => S3Error::new(S3Code::InvalidStorageClass, why),
            // AWS's wording: the refusal names object lock, not who asked.
            EngineError::ObjectLocked(_) => S3Error::new(
                S3Code::AccessDenied,
                "Access Denied because object protected by object lock.",
            ),
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

/// Kept here for callers that write escaped text outside a document.
pub use crate::xmlw::push_escaped;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_strings_match_variant_names() {
        let mut seen = std::collections::HashSet::new();
        for code in S3Code::ALL {
            // `KMS.X` codes are variants `KMSX`.
            assert_eq!(code.as_str().replace("KMS.", "KMS"), format!("{code:?}"));
            assert_eq!(code.to_string(), code.as_str());
            assert!(!code.default_message().is_empty());
            assert!(seen.insert(code.as_str()), "{code} twice");
        }
    }

    /// AWS's "List of error codes" (ErrorResponses.html), code and status,
    /// for every code cairn sends that the list has. Copied from the page
    /// (as s3s's generator also reads it), not from cairn's table, so a
    /// wrong status in the table fails here.
    const AWS_LIST: &[(&str, u16)] = &[
        ("AccessDenied", 403),
        ("AccountProblem", 403),
        ("AllAccessDisabled", 403),
        ("AmbiguousGrantByEmailAddress", 400),
        ("AuthorizationHeaderMalformed", 400),
        ("AuthorizationQueryParametersError", 400),
        ("BadDigest", 400),
        ("BucketAlreadyExists", 409),
        ("BucketAlreadyOwnedByYou", 409),
        ("BucketNotEmpty", 409),
        ("ConditionalRequestConflict", 409),
        ("CredentialsNotSupported", 400),
        ("EntityTooLarge", 400),
        ("EntityTooSmall", 400),
        ("ExpiredToken", 400),
        ("IllegalVersioningConfigurationException", 400),
        ("IncompleteBody", 400),
        ("IncorrectNumberOfFilesInPostRequest", 400),
        ("InternalError", 500),
        ("InvalidAccessKeyId", 403),
        ("InvalidArgument", 400),
        ("InvalidBucketName", 400),
        ("InvalidBucketState", 409),
        ("InvalidDigest", 400),
        ("InvalidEncryptionAlgorithmError", 400),
        ("InvalidLocationConstraint", 400),
        ("InvalidPart", 400),
        ("InvalidPartOrder", 400),
        ("InvalidPolicyDocument", 400),
        ("InvalidRange", 416),
        ("InvalidRequest", 400),
        ("InvalidSecurity", 403),
        ("InvalidStorageClass", 400),
        ("InvalidTargetBucketForLogging", 400),
        ("InvalidToken", 400),
        ("InvalidURI", 400),
        ("KeyTooLongError", 400),
        ("MalformedACLError", 400),
        ("MalformedPOSTRequest", 400),
        ("MalformedPolicy", 400),
        ("MalformedXML", 400),
        ("MaxPostPreDataLengthExceededError", 400),
        ("MetadataTooLarge", 400),
        ("MethodNotAllowed", 405),
        ("MissingContentLength", 411),
        ("MissingRequestBodyError", 400),
        ("MissingSecurityHeader", 400),
        ("NoSuchBucket", 404),
        ("NoSuchBucketPolicy", 404),
        ("NoSuchKey", 404),
        ("NoSuchLifecycleConfiguration", 404),
        ("NoSuchUpload", 404),
        ("NoSuchVersion", 404),
        ("NotImplemented", 501),
        ("NotModified", 304),
        ("OperationAborted", 409),
        ("PreconditionFailed", 412),
        ("RequestIsNotMultiPartContent", 400),
        ("RequestTimeTooSkewed", 403),
        ("RequestTimeout", 400),
        ("ServiceUnavailable", 503),
        ("SignatureDoesNotMatch", 403),
        ("SlowDown", 503),
        ("TokenRefreshRequired", 400),
        ("TooManyBuckets", 400),
        ("UnexpectedContent", 400),
        ("UnresolvableGrantByEmailAddress", 400),
        ("UserKeyMustBeSpecified", 400),
    ];

    /// Codes AWS's list does not have, with the status documented elsewhere
    /// (the variant's comment says where) or chosen by cairn.
    const ELSEWHERE: &[(&str, u16)] = &[
        ("AccessControlListNotSupported", 400),
        ("AccessForbidden", 403),
        ("BadRequest", 400),
        ("InvalidBucketAclWithObjectOwnership", 400),
        ("InvalidChunkSizeError", 400),
        ("InvalidPartNumber", 400),
        ("InvalidTag", 400),
        ("KMS.DisabledException", 400),
        ("KMS.NotFoundException", 400),
        ("MalformedTrailerError", 400),
        ("NoSuchCORSConfiguration", 404),
        ("NoSuchObjectLockConfiguration", 404),
        ("NoSuchPublicAccessBlockConfiguration", 404),
        ("NoSuchTagSet", 404),
        ("NoSuchWebsiteConfiguration", 404),
        ("ObjectLockConfigurationNotFoundError", 404),
        ("OwnershipControlsNotFoundError", 404),
        ("ServerSideEncryptionConfigurationNotFoundError", 404),
        ("XAmzContentSHA256Mismatch", 400),
        ("XMinioStorageFull", 507),
        ("XMinioAdminBucketQuotaExceeded", 400),
        ("QuotaExceeded", 403),
    ];

    #[test]
    fn statuses_match_aws_list() {
        for code in S3Code::ALL {
            let listed: Vec<u16> = AWS_LIST
                .iter()
                .chain(ELSEWHERE)
                .filter(|(c, _)| *c == code.as_str())
                .map(|(_, s)| *s)
                .collect();
            assert_eq!(
                listed.len(),
                1,
                "{code} must be in exactly one reference list"
            );
            assert_eq!(code.status().as_u16(), listed[0], "{code}");
        }
        for (name, _) in AWS_LIST.iter().chain(ELSEWHERE) {
            assert!(
                S3Code::ALL.iter().any(|c| c.as_str() == *name),
                "{name} listed but not in the table"
            );
        }
    }

    /// Codes the identity work (issue 12) answers with.
    #[test]
    fn identity_codes_exist() {
        for (code, status) in [
            (S3Code::AccessDenied, 403),
            (S3Code::InvalidAccessKeyId, 403),
            (S3Code::ExpiredToken, 400),
            (S3Code::InvalidToken, 400),
            (S3Code::MalformedPolicy, 400),
            (S3Code::NoSuchBucketPolicy, 404),
            (S3Code::NoSuchPublicAccessBlockConfiguration, 404),
            (S3Code::OwnershipControlsNotFoundError, 404),
            (S3Code::AccessControlListNotSupported, 400),
            (S3Code::InvalidPolicyDocument, 400),
            (S3Code::SlowDown, 503),
            (S3Code::MissingSecurityHeader, 400),
            (S3Code::AccountProblem, 403),
        ] {
            assert_eq!(code.status().as_u16(), status, "{code}");
        }
    }

    #[test]
    fn auth_errors_map_to_the_table() {
        let cases = [
            (
                AuthError::SignatureDoesNotMatch,
                "SignatureDoesNotMatch",
                403,
            ),
            (AuthError::InvalidAccessKeyId, "InvalidAccessKeyId", 403),
            (AuthError::RequestTimeTooSkewed, "RequestTimeTooSkewed", 403),
            (AuthError::RequestExpired, "AccessDenied", 403),
            (AuthError::RequestNotYetValid, "AccessDenied", 403),
            (AuthError::HeadersNotSigned, "AccessDenied", 403),
            (AuthError::MissingDate, "AccessDenied", 403),
            (AuthError::Anonymous, "AccessDenied", 403),
            (
                AuthError::AuthorizationHeaderMalformed("m"),
                "AuthorizationHeaderMalformed",
                400,
            ),
            (
                AuthError::AuthorizationQueryParametersError("q"),
                "AuthorizationQueryParametersError",
                400,
            ),
            (AuthError::MissingContentSha256, "InvalidRequest", 400),
            (AuthError::UnsupportedAuthMechanism, "InvalidRequest", 400),
            (AuthError::InvalidArgument("a"), "InvalidArgument", 400),
            (
                AuthError::XAmzContentSHA256Mismatch,
                "XAmzContentSHA256Mismatch",
                400,
            ),
        ];
        for (e, code, status) in cases {
            let s = S3Error::from(e);
            assert_eq!(
                (s.code.as_str(), s.status().as_u16()),
                (code, status),
                "{e:?}"
            );
            assert_eq!(s.message, e.message());
            assert!(!s.message.is_empty());
        }
        assert_eq!(
            S3Error::from(AuthError::InvalidArgument("why")).message,
            "why"
        );
    }

    #[test]
    fn chunk_errors_map_to_the_table() {
        let cases = [
            (
                ChunkError::SignatureDoesNotMatch,
                "SignatureDoesNotMatch",
                403,
            ),
            (ChunkError::Malformed("x"), "IncompleteBody", 400),
            (ChunkError::IncompleteBody, "IncompleteBody", 400),
            (ChunkError::BadDigest, "BadDigest", 400),
            (
                ChunkError::InvalidTrailer("x"),
                "MalformedTrailerError",
                400,
            ),
            (ChunkError::InvalidChunkSize, "InvalidChunkSizeError", 400),
        ];
        for (e, code, status) in cases {
            let s = S3Error::from(e);
            assert_eq!(
                (s.code.as_str(), s.status().as_u16()),
                (code, status),
                "{e:?}"
            );
            assert_eq!(s.message, e.message());
        }
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
        assert_eq!(c(EngineError::KeyTooLong), S3Code::KeyTooLongError);
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
    fn errors_carry_their_headers() {
        let e = S3Error::from_code(S3Code::SlowDown)
            .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1"))
            .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("2"))
            .with_header(
                HeaderName::from_static("x-amz-delete-marker"),
                HeaderValue::from_static("true"),
            );
        assert_eq!(
            e.headers,
            vec![
                (http::header::RETRY_AFTER, HeaderValue::from_static("2")),
                (
                    HeaderName::from_static("x-amz-delete-marker"),
                    HeaderValue::from_static("true")
                ),
            ]
        );
        assert!(S3Error::from_code(S3Code::NoSuchKey).headers.is_empty());
    }

    #[test]
    fn xml_document_shape() {
        let e = S3Error::new(S3Code::NoSuchKey, "The specified key does not exist.")
            .with_resource("/b/k");
        let xml = String::from_utf8(e.to_xml("REQ1", "HOST1")).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message><Resource>/b/k</Resource>\
             <RequestId>REQ1</RequestId><HostId>HOST1</HostId></Error>"
        );
    }

    #[test]
    fn xml_omits_missing_resource() {
        let xml =
            String::from_utf8(S3Error::from_code(S3Code::AccessDenied).to_xml("r", "h")).unwrap();
        assert!(!xml.contains("<Resource>"));
        assert!(xml.contains("<Message>Access Denied</Message>"));
    }

    #[test]
    fn xml_escapes_everything() {
        let e = S3Error::new(S3Code::InvalidArgument, "a<b>&\"c'\r\n\t\u{1}\u{1f}é")
            .with_resource("/b/<&>");
        let xml = String::from_utf8(e.to_xml("<r>", "&h")).unwrap();
        assert!(
            xml.contains("<Message>a&lt;b&gt;&amp;&quot;c&apos;&#xD;\n\t&#x1;&#x1F;é</Message>")
        );
        assert!(xml.contains("<Resource>/b/&lt;&amp;&gt;</Resource>"));
        assert!(xml.contains("<RequestId>&lt;r&gt;</RequestId><HostId>&amp;h</HostId>"));
    }

    #[test]
    fn xml_roundtrips_through_a_parser() {
        let msg = "key \"x\" & <y> \r\n";
        let e = S3Error::new(S3Code::InvalidArgument, msg);
        let xml = e.to_xml("r", "h");
        let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
        let mut in_msg = false;
        let mut got = String::new();
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Start(s) => in_msg = s.name().as_ref() == b"Message",
                quick_xml::events::Event::Text(t) if in_msg => got.push_str(&t.unescape().unwrap()),
                quick_xml::events::Event::End(_) => in_msg = false,
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(got, msg);
    }

    #[test]
    fn not_modified_has_no_body() {
        assert!(!S3Error::from_code(S3Code::NotModified).has_body());
        assert!(S3Error::from_code(S3Code::PreconditionFailed).has_body());
    }

    #[test]
    fn helpers() {
        let e = S3Error::insufficient_drives(1, 3);
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.message.contains("1 available, 3 required"));
        let e: S3Error = S3Code::XMinioStorageFull.into();
        assert_eq!(e.status().as_u16(), 507);
        assert!(e
            .message
            .starts_with("Storage backend has reached its minimum free drive threshold"));
        assert_eq!(e.to_string(), format!("XMinioStorageFull: {}", e.message));
    }
}
