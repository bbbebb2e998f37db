//! S3 error codes and the XML error document.
//!
//! Codes and HTTP statuses follow AWS's "Error responses / List of error
//! codes" page (docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
//! Where the page is silent the choice is noted on the variant.

use std::fmt;

use http::StatusCode;

/// An S3 error code. `as_str()` is the exact `<Code>` text clients match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum S3Code {
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    BadDigest,
    /// 400 with an operation-specific message; S3 uses it for tag sets over
    /// their limit (observed, not in the error table).
    BadRequest,
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    /// 409: a conditional write raced another write (AWS conditional writes).
    ConditionalRequestConflict,
    EntityTooLarge,
    EntityTooSmall,
    IllegalVersioningConfigurationException,
    IncompleteBody,
    /// PostObject: the form has no `file` field, or more than one.
    IncorrectNumberOfFilesInPostRequest,
    InternalError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidBucketName,
    /// AWS returns 400 for a streaming chunk below 8 KiB that is not the last.
    InvalidChunkSizeError,
    InvalidDigest,
    InvalidLocationConstraint,
    InvalidPart,
    InvalidPartOrder,
    /// PostObject: the `policy` field is not a valid policy document.
    InvalidPolicyDocument,
    /// 416: GetObject `partNumber` beyond the object's part count.
    InvalidPartNumber,
    InvalidRange,
    InvalidRequest,
    InvalidStorageClass,
    InvalidTag,
    InvalidURI,
    KeyTooLongError,
    /// PostObject: the body is not well-formed multipart/form-data.
    MalformedPOSTRequest,
    MalformedXML,
    MalformedTrailerError,
    /// PostObject: the fields before the file exceed AWS's 20 KB.
    MaxPostPreDataLengthExceededError,
    MetadataTooLarge,
    MethodNotAllowed,
    MissingContentLength,
    MissingRequestBodyError,
    MissingSecurityHeader,
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchCORSConfiguration,
    NoSuchKey,
    NoSuchLifecycleConfiguration,
    NoSuchTagSet,
    NoSuchUpload,
    NoSuchVersion,
    NotImplemented,
    /// 304. Carries no body: see [`S3Error::has_body`].
    NotModified,
    ObjectLockConfigurationNotFoundError,
    OperationAborted,
    PreconditionFailed,
    RequestTimeTooSkewed,
    RequestTimeout,
    ServerSideEncryptionConfigurationNotFoundError,
    ServiceUnavailable,
    SignatureDoesNotMatch,
    SlowDown,
    TooManyBuckets,
    UnexpectedContent,
    XAmzContentSHA256Mismatch,
    /// MinIO's 507 for a full backend; clients treat it as retryable.
    XMinioStorageFull,
}

impl S3Code {
    /// The `<Code>` string.
    pub fn as_str(self) -> &'static str {
        use S3Code::*;
        match self {
            AccessDenied => "AccessDenied",
            AuthorizationHeaderMalformed => "AuthorizationHeaderMalformed",
            AuthorizationQueryParametersError => "AuthorizationQueryParametersError",
            BadDigest => "BadDigest",
            BadRequest => "BadRequest",
            BucketAlreadyExists => "BucketAlreadyExists",
            BucketAlreadyOwnedByYou => "BucketAlreadyOwnedByYou",
            BucketNotEmpty => "BucketNotEmpty",
            ConditionalRequestConflict => "ConditionalRequestConflict",
            EntityTooLarge => "EntityTooLarge",
            EntityTooSmall => "EntityTooSmall",
            IllegalVersioningConfigurationException => "IllegalVersioningConfigurationException",
            IncompleteBody => "IncompleteBody",
            IncorrectNumberOfFilesInPostRequest => "IncorrectNumberOfFilesInPostRequest",
            InternalError => "InternalError",
            InvalidAccessKeyId => "InvalidAccessKeyId",
            InvalidArgument => "InvalidArgument",
            InvalidBucketName => "InvalidBucketName",
            InvalidChunkSizeError => "InvalidChunkSizeError",
            InvalidDigest => "InvalidDigest",
            InvalidLocationConstraint => "InvalidLocationConstraint",
            InvalidPart => "InvalidPart",
            InvalidPartOrder => "InvalidPartOrder",
            InvalidPolicyDocument => "InvalidPolicyDocument",
            InvalidPartNumber => "InvalidPartNumber",
            InvalidRange => "InvalidRange",
            InvalidRequest => "InvalidRequest",
            InvalidStorageClass => "InvalidStorageClass",
            InvalidTag => "InvalidTag",
            InvalidURI => "InvalidURI",
            KeyTooLongError => "KeyTooLongError",
            MalformedPOSTRequest => "MalformedPOSTRequest",
            MalformedXML => "MalformedXML",
            MalformedTrailerError => "MalformedTrailerError",
            MaxPostPreDataLengthExceededError => "MaxPostPreDataLengthExceededError",
            MetadataTooLarge => "MetadataTooLarge",
            MethodNotAllowed => "MethodNotAllowed",
            MissingContentLength => "MissingContentLength",
            MissingRequestBodyError => "MissingRequestBodyError",
            MissingSecurityHeader => "MissingSecurityHeader",
            NoSuchBucket => "NoSuchBucket",
            NoSuchBucketPolicy => "NoSuchBucketPolicy",
            NoSuchCORSConfiguration => "NoSuchCORSConfiguration",
            NoSuchKey => "NoSuchKey",
            NoSuchLifecycleConfiguration => "NoSuchLifecycleConfiguration",
            NoSuchTagSet => "NoSuchTagSet",
            NoSuchUpload => "NoSuchUpload",
            NoSuchVersion => "NoSuchVersion",
            NotImplemented => "NotImplemented",
            NotModified => "NotModified",
            ObjectLockConfigurationNotFoundError => "ObjectLockConfigurationNotFoundError",
            OperationAborted => "OperationAborted",
            PreconditionFailed => "PreconditionFailed",
            RequestTimeTooSkewed => "RequestTimeTooSkewed",
            RequestTimeout => "RequestTimeout",
            ServerSideEncryptionConfigurationNotFoundError => {
                "ServerSideEncryptionConfigurationNotFoundError"
            }
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
            SlowDown => "SlowDown",
            TooManyBuckets => "TooManyBuckets",
            UnexpectedContent => "UnexpectedContent",
            XAmzContentSHA256Mismatch => "XAmzContentSHA256Mismatch",
            XMinioStorageFull => "XMinioStorageFull",
        }
    }

    /// The HTTP status AWS documents for this code.
    pub fn status(self) -> StatusCode {
        use S3Code::*;
        match self {
            NotModified => StatusCode::NOT_MODIFIED,
            AuthorizationHeaderMalformed
            | AuthorizationQueryParametersError
            | BadDigest
            | BadRequest
            | EntityTooLarge
            | EntityTooSmall
            | IllegalVersioningConfigurationException
            | IncompleteBody
            | IncorrectNumberOfFilesInPostRequest
            | InvalidArgument
            | InvalidBucketName
            | InvalidChunkSizeError
            | InvalidDigest
            | InvalidLocationConstraint
            | InvalidPart
            | InvalidPartNumber
            | InvalidPartOrder
            | InvalidPolicyDocument
            | InvalidRequest
            | InvalidStorageClass
            | InvalidTag
            | InvalidURI
            | KeyTooLongError
            | MalformedPOSTRequest
            | MalformedXML
            | MalformedTrailerError
            | MaxPostPreDataLengthExceededError
            | MetadataTooLarge
            | MissingRequestBodyError
            | MissingSecurityHeader
            // AWS documents RequestTimeout as 400, not 408.
            | RequestTimeout
            | TooManyBuckets
            | UnexpectedContent
            | XAmzContentSHA256Mismatch => StatusCode::BAD_REQUEST,
            AccessDenied | InvalidAccessKeyId | RequestTimeTooSkewed | SignatureDoesNotMatch => {
                StatusCode::FORBIDDEN
            }
            NoSuchBucket
            | NoSuchBucketPolicy
            | NoSuchCORSConfiguration
            | NoSuchKey
            | NoSuchLifecycleConfiguration
            | NoSuchTagSet
            | NoSuchUpload
            | NoSuchVersion
            | ObjectLockConfigurationNotFoundError
            | ServerSideEncryptionConfigurationNotFoundError => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            BucketAlreadyExists
            | BucketAlreadyOwnedByYou
            | BucketNotEmpty
            | ConditionalRequestConflict
            | OperationAborted => StatusCode::CONFLICT,
            MissingContentLength => StatusCode::LENGTH_REQUIRED,
            PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            InvalidRange => StatusCode::RANGE_NOT_SATISFIABLE,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ServiceUnavailable | SlowDown => StatusCode::SERVICE_UNAVAILABLE,
            XMinioStorageFull => StatusCode::INSUFFICIENT_STORAGE,
        }
    }

    /// AWS's stock message for the code, for callers with nothing better.
    pub fn default_message(self) -> &'static str {
        use S3Code::*;
        match self {
            AccessDenied => "Access Denied",
            AuthorizationHeaderMalformed => "The authorization header is malformed.",
            AuthorizationQueryParametersError => {
                "Error parsing the X-Amz-Credential parameter or other query authorization parameters."
            }
            BadDigest => "The Content-MD5 you specified did not match what we received.",
            BadRequest => "Bad Request",
            BucketAlreadyExists => {
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
            }
            BucketAlreadyOwnedByYou => {
                "Your previous request to create the named bucket succeeded and you already own it."
            }
            BucketNotEmpty => "The bucket you tried to delete is not empty",
            ConditionalRequestConflict => {
                "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part."
            }
            EntityTooLarge => "Your proposed upload exceeds the maximum allowed object size.",
            EntityTooSmall => "Your proposed upload is smaller than the minimum allowed object size.",
            IllegalVersioningConfigurationException => {
                "The versioning configuration specified in the request is invalid."
            }
            IncompleteBody => {
                "You did not provide the number of bytes specified by the Content-Length HTTP header."
            }
            IncorrectNumberOfFilesInPostRequest => {
                "POST requires exactly one file upload per request."
            }
            InternalError => "We encountered an internal error. Please try again.",
            InvalidAccessKeyId => {
                "The AWS access key ID you provided does not exist in our records."
            }
            InvalidArgument => "Invalid Argument",
            InvalidBucketName => "The specified bucket is not valid.",
            InvalidChunkSizeError => {
                "Only the last chunk is allowed to have a size less than 8192 bytes"
            }
            InvalidDigest => "The Content-MD5 you specified is not valid.",
            InvalidLocationConstraint => "The specified location constraint is not valid.",
            InvalidPart => {
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
            }
            InvalidPartOrder => {
                "The list of parts was not in ascending order. The parts list must be specified in order by part number."
            }
            InvalidPartNumber => "The requested partnumber is not satisfiable",
            InvalidPolicyDocument => {
                "The content of the form does not meet the conditions specified in the policy document."
            }
            InvalidRange => "The requested range is not satisfiable",
            InvalidRequest => "Invalid Request",
            InvalidStorageClass => "The storage class you specified is not valid.",
            InvalidTag => "The tag provided was not a valid tag.",
            InvalidURI => "Couldn't parse the specified URI.",
            KeyTooLongError => "Your key is too long",
            MalformedPOSTRequest => {
                "The body of your POST request is not well-formed multipart/form-data."
            }
            MalformedXML => {
                "The XML you provided was not well-formed or did not validate against our published schema"
            }
            MalformedTrailerError => {
                "The request contained trailing data that was not well-formed or did not conform to our published schema."
            }
            MaxPostPreDataLengthExceededError => {
                "Your POST request fields preceding the upload file were too large."
            }
            MetadataTooLarge => "Your metadata headers exceed the maximum allowed metadata size.",
            MethodNotAllowed => "The specified method is not allowed against this resource.",
            MissingContentLength => "You must provide the Content-Length HTTP header.",
            MissingRequestBodyError => "Request Body is empty",
            MissingSecurityHeader => "Your request is missing a required header.",
            NoSuchBucket => "The specified bucket does not exist",
            NoSuchBucketPolicy => "The bucket policy does not exist",
            NoSuchCORSConfiguration => "The CORS configuration does not exist",
            NoSuchKey => "The specified key does not exist.",
            NoSuchLifecycleConfiguration => "The lifecycle configuration does not exist",
            NoSuchTagSet => "The TagSet does not exist",
            NoSuchUpload => {
                "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
            }
            NoSuchVersion => {
                "The specified version does not exist."
            }
            NotImplemented => {
                "A header you provided implies functionality that is not implemented."
            }
            NotModified => "Not Modified",
            ObjectLockConfigurationNotFoundError => {
                "Object Lock configuration does not exist for this bucket"
            }
            OperationAborted => {
                "A conflicting conditional operation is currently in progress against this resource. Try again."
            }
            PreconditionFailed => "At least one of the pre-conditions you specified did not hold",
            RequestTimeTooSkewed => {
                "The difference between the request time and the server's time is too large."
            }
            RequestTimeout => {
                "Your socket connection to the server was not read from or written to within the timeout period."
            }
            ServerSideEncryptionConfigurationNotFoundError => {
                "The server side encryption configuration was not found"
            }
            ServiceUnavailable => "Please reduce your request rate.",
            SignatureDoesNotMatch => {
                "The request signature we calculated does not match the signature you provided. Check your key and signing method."
            }
            SlowDown => "Please reduce your request rate.",
            TooManyBuckets => "You have attempted to create more buckets than allowed.",
            UnexpectedContent => "This request does not support content.",
            XAmzContentSHA256Mismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            }
            XMinioStorageFull => {
                "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed."
            }
        }
    }
}

impl fmt::Display for S3Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An S3 error ready to be rendered with [`S3Error::to_xml`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct S3Error {
    pub code: S3Code,
    pub message: String,
    pub resource: Option<String>,
}

impl S3Error {
    pub fn new(code: S3Code, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            resource: None,
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

    /// The `<Error>` document AWS sends, with all text XML-escaped.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            160 + self.message.len() + self.resource.as_ref().map_or(0, |r| r.len()),
        );
        out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        out.extend_from_slice(self.code.as_str().as_bytes());
        out.extend_from_slice(b"</Code><Message>");
        push_escaped(&mut out, &self.message);
        out.extend_from_slice(b"</Message>");
        if let Some(resource) = &self.resource {
            out.extend_from_slice(b"<Resource>");
            push_escaped(&mut out, resource);
            out.extend_from_slice(b"</Resource>");
        }
        out.extend_from_slice(b"<RequestId>");
        push_escaped(&mut out, request_id);
        out.extend_from_slice(b"</RequestId><HostId>");
        push_escaped(&mut out, host_id);
        out.extend_from_slice(b"</HostId></Error>");
        out
    }
}

impl From<S3Code> for S3Error {
    fn from(code: S3Code) -> Self {
        Self::from_code(code)
    }
}

/// Escapes element text. CR is written as a character reference because XML
/// parsers normalise a literal CR to LF; other C0 controls (illegal in XML
/// 1.0 even as references) are written as references so the bytes survive for
/// lenient parsers, which is also what S3 does for such keys.
pub fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            b'\r' => b"&#xD;",
            b'\t' | b'\n' => continue,
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                push_char_ref(out, b);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn push_char_ref(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(b"&#x");
    if b >= 0x10 {
        out.push(HEX[(b >> 4) as usize]);
    }
    out.push(HEX[(b & 0xf) as usize]);
    out.push(b';');
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[S3Code] = &[
        S3Code::AccessDenied,
        S3Code::AuthorizationHeaderMalformed,
        S3Code::AuthorizationQueryParametersError,
        S3Code::BadDigest,
        S3Code::BadRequest,
        S3Code::BucketAlreadyExists,
        S3Code::BucketAlreadyOwnedByYou,
        S3Code::BucketNotEmpty,
        S3Code::ConditionalRequestConflict,
        S3Code::EntityTooLarge,
        S3Code::EntityTooSmall,
        S3Code::IllegalVersioningConfigurationException,
        S3Code::IncompleteBody,
        S3Code::InternalError,
        S3Code::InvalidAccessKeyId,
        S3Code::InvalidArgument,
        S3Code::InvalidBucketName,
        S3Code::InvalidChunkSizeError,
        S3Code::InvalidDigest,
        S3Code::InvalidLocationConstraint,
        S3Code::InvalidPart,
        S3Code::InvalidPartOrder,
        S3Code::InvalidPartNumber,
        S3Code::InvalidRange,
        S3Code::InvalidRequest,
        S3Code::InvalidStorageClass,
        S3Code::InvalidTag,
        S3Code::InvalidURI,
        S3Code::KeyTooLongError,
        S3Code::MalformedXML,
        S3Code::MalformedTrailerError,
        S3Code::MetadataTooLarge,
        S3Code::MethodNotAllowed,
        S3Code::MissingContentLength,
        S3Code::MissingRequestBodyError,
        S3Code::MissingSecurityHeader,
        S3Code::NoSuchBucket,
        S3Code::NoSuchBucketPolicy,
        S3Code::NoSuchCORSConfiguration,
        S3Code::NoSuchKey,
        S3Code::NoSuchLifecycleConfiguration,
        S3Code::NoSuchTagSet,
        S3Code::NoSuchUpload,
        S3Code::NoSuchVersion,
        S3Code::NotImplemented,
        S3Code::NotModified,
        S3Code::ObjectLockConfigurationNotFoundError,
        S3Code::OperationAborted,
        S3Code::PreconditionFailed,
        S3Code::RequestTimeTooSkewed,
        S3Code::RequestTimeout,
        S3Code::ServerSideEncryptionConfigurationNotFoundError,
        S3Code::ServiceUnavailable,
        S3Code::SignatureDoesNotMatch,
        S3Code::SlowDown,
        S3Code::TooManyBuckets,
        S3Code::UnexpectedContent,
        S3Code::XAmzContentSHA256Mismatch,
        S3Code::XMinioStorageFull,
    ];

    #[test]
    fn code_strings_match_variant_names() {
        for code in ALL {
            assert_eq!(code.as_str(), format!("{code:?}"));
            assert_eq!(code.to_string(), code.as_str());
            assert!(!code.default_message().is_empty());
        }
    }

    #[test]
    fn statuses_match_aws_table() {
        let cases = [
            (S3Code::AccessDenied, 403),
            (S3Code::AuthorizationHeaderMalformed, 400),
            (S3Code::AuthorizationQueryParametersError, 400),
            (S3Code::BadDigest, 400),
            (S3Code::BadRequest, 400),
            (S3Code::BucketAlreadyExists, 409),
            (S3Code::BucketAlreadyOwnedByYou, 409),
            (S3Code::BucketNotEmpty, 409),
            (S3Code::EntityTooLarge, 400),
            (S3Code::EntityTooSmall, 400),
            (S3Code::IncompleteBody, 400),
            (S3Code::InternalError, 500),
            (S3Code::InvalidAccessKeyId, 403),
            (S3Code::InvalidArgument, 400),
            (S3Code::InvalidBucketName, 400),
            (S3Code::InvalidDigest, 400),
            (S3Code::InvalidPart, 400),
            (S3Code::InvalidPartOrder, 400),
            (S3Code::InvalidRange, 416),
            (S3Code::InvalidRequest, 400),
            (S3Code::InvalidStorageClass, 400),
            (S3Code::KeyTooLongError, 400),
            (S3Code::MalformedXML, 400),
            (S3Code::MalformedTrailerError, 400),
            (S3Code::MethodNotAllowed, 405),
            (S3Code::MissingContentLength, 411),
            (S3Code::MissingSecurityHeader, 400),
            (S3Code::NoSuchBucket, 404),
            (S3Code::NoSuchKey, 404),
            (S3Code::NoSuchUpload, 404),
            (S3Code::NoSuchVersion, 404),
            (S3Code::NoSuchBucketPolicy, 404),
            (S3Code::NoSuchCORSConfiguration, 404),
            (S3Code::NoSuchLifecycleConfiguration, 404),
            (S3Code::NoSuchTagSet, 404),
            (S3Code::NotImplemented, 501),
            (S3Code::ObjectLockConfigurationNotFoundError, 404),
            (S3Code::ServerSideEncryptionConfigurationNotFoundError, 404),
            (S3Code::PreconditionFailed, 412),
            (S3Code::NotModified, 304),
            (S3Code::RequestTimeTooSkewed, 403),
            (S3Code::RequestTimeout, 400),
            (S3Code::ServiceUnavailable, 503),
            (S3Code::SlowDown, 503),
            (S3Code::SignatureDoesNotMatch, 403),
            (S3Code::XAmzContentSHA256Mismatch, 400),
            (S3Code::InvalidChunkSizeError, 400),
            (S3Code::XMinioStorageFull, 507),
            (S3Code::ConditionalRequestConflict, 409),
            (S3Code::InvalidPartNumber, 400),
        ];
        for (code, status) in cases {
            assert_eq!(code.status().as_u16(), status, "{code}");
        }
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
