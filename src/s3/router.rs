//! Maps an HTTP request onto the S3 operation it names: one declarative
//! table ([`route_table!`] below) turns method, path, query and the copy
//! source header into a [`Route`] `{ bucket, key, op }`, where [`Op`] holds
//! every value the operation reads from the query string, already checked.
//! Operations never look at the query string again.
//!
//! Each [`Op`] names the IAM action AWS documents for it ([`Op::action`]),
//! and a [`Route`] gives the resource ARN, any further authorisations
//! ([`Route::extra_checks`]) and the policy condition values it carries
//! ([`Route::conditions`]).
//!
//! Addressing: path style (`/bucket/key`) always works; virtual-hosted style
//! (`Host: bucket.<domain>`) is used when a domain is configured and the Host
//! is a subdomain of it. Keys are taken from the raw path and percent-decoded
//! exactly once, with no normalisation: `//`, a trailing `/`, a leading `/`
//! and `%2F` all survive, and `+` stays a plus (only query strings treat `+`
//! as a space).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use crate::engine::VersionSel;
use crate::iam::action::Action;

use super::error::{S3Code, S3Error};
use super::tenant::external_name;
use super::xml_versioning::NULL_VERSION_ID;

/// S3's limit on key length, in UTF-8 bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// S3's default and largest page (keys, parts, uploads).
pub const MAX_KEYS: usize = 1000;

/// Part numbers run from 1 to this.
pub const MAX_PART_NUMBER: u32 = 10_000;

const COPY_SOURCE: &str = "x-amz-copy-source";

// ---------------------------------------------------------------------------
// Checked values
// ---------------------------------------------------------------------------

/// A version id as clients write it: `null`, or 32 hex digits of the
/// engine's time-ordered id (so ids sort by age).
pub fn format_version_id(sel: VersionSel) -> String {
    match sel {
        VersionSel::Null => NULL_VERSION_ID.to_owned(),
        VersionSel::Id(v) => format!("{v:032x}"),
    }
}

/// A version id as the engine names it; anything that is not an id cairn
/// could have made is InvalidArgument, as S3 answers a malformed one.
pub fn parse_version_id(v: &str) -> Result<VersionSel, S3Error> {
    if v == NULL_VERSION_ID {
        return Ok(VersionSel::Null);
    }
    if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(id) = u128::from_str_radix(v, 16) {
            return Ok(VersionSel::Id(id));
        }
    }
    Err(S3Error::new(
        S3Code::InvalidArgument,
        "Invalid version id specified",
    ))
}

/// A `versionId` parameter: AWS refuses an explicitly empty one rather
/// than reading the latest version.
fn version_param(v: Option<&str>) -> Result<Option<VersionSel>, S3Error> {
    match v {
        None => Ok(None),
        Some("") => Err(S3Error::new(
            S3Code::InvalidArgument,
            "Version id cannot be the empty string",
        )),
        Some(v) => parse_version_id(v).map(Some),
    }
}

/// A multipart upload id: the engine's 128-bit id, on the wire big-endian
/// in base64url (22 characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId(pub u128);

impl UploadId {
    /// `None` for anything that is not exactly an id of ours: 22 characters
    /// are 16 bytes, and the decoder refuses non-zero trailing bits, so
    /// every id has one spelling.
    pub fn parse(s: &str) -> Option<UploadId> {
        let mut out = [0u8; 16];
        if s.len() != 22 || URL_SAFE_NO_PAD.decode_slice(s, &mut out).ok()? != 16 {
            return None;
        }
        Some(UploadId(u128::from_be_bytes(out)))
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0.to_be_bytes()))
    }
}

/// A parsed `x-amz-copy-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    /// `None` copies the latest version.
    pub version: Option<VersionSel>,
}

/// `response-*` query parameters and the header each one overrides.
const OVERRIDES: [(&str, HeaderName); 6] = [
    ("response-content-type", header::CONTENT_TYPE),
    ("response-content-language", header::CONTENT_LANGUAGE),
    ("response-expires", header::EXPIRES),
    ("response-cache-control", header::CACHE_CONTROL),
    ("response-content-disposition", header::CONTENT_DISPOSITION),
    ("response-content-encoding", header::CONTENT_ENCODING),
];

/// The response headers a GET or HEAD asked to override, in the order
/// they are set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseOverrides(pub Vec<(HeaderName, HeaderValue)>);

/// A page size (`max-keys`, `max-uploads`, `max-parts`): what was asked
/// for, and what is served (at most [`MAX_KEYS`], which is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    /// The value sent, for the `s3:max-keys` condition; `None` when absent.
    pub requested: Option<u64>,
    pub limit: usize,
}

impl PageSize {
    pub const DEFAULT: PageSize = PageSize {
        requested: None,
        limit: MAX_KEYS,
    };
}

impl Default for PageSize {
    fn default() -> PageSize {
        PageSize::DEFAULT
    }
}

/// A ListObjectsV2 continuation token: the last name returned, base64url,
/// opaque to clients; the listing resumes strictly after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinuationToken {
    /// As sent, echoed in the response.
    pub raw: String,
    /// The key to resume after.
    pub after: String,
}

pub fn encode_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(last.as_bytes())
}

pub fn decode_token(token: &str) -> Result<String, S3Error> {
    let bad = || {
        S3Error::new(
            S3Code::InvalidArgument,
            "The continuation token provided is incorrect",
        )
    };
    let raw = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    if s.is_empty() {
        return Err(bad());
    }
    Ok(s)
}

/// ListObjects (V1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListV1Params {
    /// `None` when the request sent no such parameter (for conditions);
    /// operations read an absent one as empty.
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    pub marker: String,
    pub max_keys: PageSize,
    pub encoding_url: bool,
}

/// ListObjectsV2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListV2Params {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    pub max_keys: PageSize,
    /// An empty token is no token, as on S3 (clients send one on a first
    /// page).
    pub continuation: Option<ContinuationToken>,
    /// Empty is absent.
    pub start_after: Option<String>,
    pub encoding_url: bool,
    pub fetch_owner: bool,
    /// MinIO's `metadata=true` (minio-go's `WithMetadata`, warp's `list
    /// --metadata`): each entry also carries the object's metadata and tags.
    pub metadata: bool,
}

/// ListObjectVersions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListVersionsParams {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    /// Empty is absent.
    pub key_marker: Option<String>,
    /// As sent (empty when absent), echoed in the response.
    pub version_id_marker: String,
    pub version_marker: Option<VersionSel>,
    pub max_keys: PageSize,
    pub encoding_url: bool,
}

/// ListMultipartUploads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListUploadsParams {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    pub key_marker: String,
    /// As sent, echoed in the response; empty without a key marker, which
    /// S3 ignores it without.
    pub upload_id_marker: String,
    pub after_upload: Option<UploadId>,
    pub max_uploads: PageSize,
    pub encoding_url: bool,
}

/// ListParts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListPartsParams {
    /// 0 when absent; numbers past any part list nothing.
    pub part_number_marker: u32,
    pub max_parts: PageSize,
}

// ---------------------------------------------------------------------------
// Operations: what each one carries, where it acts, which IAM action it is
// ---------------------------------------------------------------------------

/// What an operation acts on, which decides its resource ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `*` (ListBuckets).
    Service,
    /// `arn:aws:s3:::bucket`.
    Bucket,
    /// `arn:aws:s3:::bucket/key`.
    Object,
    /// Whatever the request names (OPTIONS, unknown operations).
    Any,
}

/// The operation table. Each line: the variant and the checked values it
/// carries, its scope, and its IAM action per AWS's "Actions, resources and
/// condition keys for Amazon S3" (`A | V`: `V` when the request names a
/// version). Generates [`Op`], `name`, `scope`, `action` and `NAMES`.
macro_rules! ops {
    (@action $s:ident, $op:ident, []) => { None };
    (@action $s:ident, $op:ident, [$a:ident]) => { Some(Action::$a) };
    (@action $s:ident, $op:ident, [$a:ident | $v:ident]) => {
        Some(match $s {
            Op::$op { version: Some(_), .. } => Action::$v,
            _ => Action::$a,
        })
    };
    ($(
        $(#[doc = $doc:literal])*
        $op:ident { $($field:ident : $ty:ty),* $(,)? } $scope:ident => [$($action:ident $(| $versioned:ident)?)?];
    )*) => {
        /// One S3 operation, with the values it reads from the request
        /// line, already checked.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Op {
            $($(#[doc = $doc])* $op { $($field: $ty),* },)*
        }

        impl Op {
            /// Every operation's name, in table order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($op)),*];

            /// The operation's name, for logs and metrics.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Op::$op { .. } => stringify!($op),)*
                }
            }

            pub fn scope(&self) -> Scope {
                match self {
                    $(Op::$op { .. } => Scope::$scope,)*
                }
            }

            /// The IAM action the request itself is authorised as; `None`
            /// for OPTIONS (a CORS preflight carries no credentials and is
            /// answered from the bucket's CORS rules) and for operations
            /// cairn does not serve (answered 501 whoever asks).
            pub fn action(&self) -> Option<Action> {
                match self {
                    $(Op::$op { .. } => ops!(@action self, $op, [$($action $(| $versioned)?)?]),)*
                }
            }
        }
    };
}

ops! {
    /// CORS preflight; the caller answers it from the bucket's CORS config.
    Options {} Any => [];
    /// An operation S3 has and cairn does not serve: 501 NotImplemented.
    Unknown {} Any => [];
    ListBuckets {} Service => [S3ListAllMyBuckets];
    CreateBucket {} Bucket => [S3CreateBucket];
    HeadBucket {} Bucket => [S3ListBucket];
    DeleteBucket {} Bucket => [S3DeleteBucket];
    GetBucketLocation {} Bucket => [S3GetBucketLocation];
    GetBucketVersioning {} Bucket => [S3GetBucketVersioning];
    PutBucketVersioning {} Bucket => [S3PutBucketVersioning];
    GetBucketObjectLockConfig {} Bucket => [S3GetBucketObjectLockConfiguration];
    PutBucketObjectLockConfig {} Bucket => [S3PutBucketObjectLockConfiguration];
    GetBucketCors {} Bucket => [S3GetBucketCors];
    PutBucketCors {} Bucket => [S3PutBucketCors];
    DeleteBucketCors {} Bucket => [S3PutBucketCors];
    GetBucketLifecycle {} Bucket => [S3GetLifecycleConfiguration];
    PutBucketLifecycle {} Bucket => [S3PutLifecycleConfiguration];
    DeleteBucketLifecycle {} Bucket => [S3PutLifecycleConfiguration];
    GetBucketWebsite {} Bucket => [S3GetBucketWebsite];
    PutBucketWebsite {} Bucket => [S3PutBucketWebsite];
    DeleteBucketWebsite {} Bucket => [S3DeleteBucketWebsite];
    GetBucketNotificationConfiguration {} Bucket => [S3GetBucketNotification];
    PutBucketNotificationConfiguration {} Bucket => [S3PutBucketNotification];
    GetBucketLogging {} Bucket => [S3GetBucketLogging];
    PutBucketLogging {} Bucket => [S3PutBucketLogging];
    GetBucketPolicy {} Bucket => [S3GetBucketPolicy];
    PutBucketPolicy {} Bucket => [S3PutBucketPolicy];
    DeleteBucketPolicy {} Bucket => [S3DeleteBucketPolicy];
    GetBucketPolicyStatus {} Bucket => [S3GetBucketPolicyStatus];
    GetBucketEncryption {} Bucket => [S3GetEncryptionConfiguration];
    PutBucketEncryption {} Bucket => [S3PutEncryptionConfiguration];
    DeleteBucketEncryption {} Bucket => [S3PutEncryptionConfiguration];
    GetBucketTagging {} Bucket => [S3GetBucketTagging];
    PutBucketTagging {} Bucket => [S3PutBucketTagging];
    DeleteBucketTagging {} Bucket => [S3PutBucketTagging];
    GetBucketAcl {} Bucket => [S3GetBucketAcl];
    GetPublicAccessBlock {} Bucket => [S3GetBucketPublicAccessBlock];
    PutPublicAccessBlock {} Bucket => [S3PutBucketPublicAccessBlock];
    DeletePublicAccessBlock {} Bucket => [S3PutBucketPublicAccessBlock];
    PutBucketAcl {} Bucket => [S3PutBucketAcl];
    GetBucketOwnershipControls {} Bucket => [S3GetBucketOwnershipControls];
    PutBucketOwnershipControls {} Bucket => [S3PutBucketOwnershipControls];
    /// AWS authorises the delete as `s3:PutBucketOwnershipControls`.
    DeleteBucketOwnershipControls {} Bucket => [S3PutBucketOwnershipControls];
    /// V1 listing (no `list-type`, or any value but 2).
    ListObjects { params: ListV1Params } Bucket => [S3ListBucket];
    ListObjectsV2 { params: ListV2Params } Bucket => [S3ListBucket];
    ListObjectVersions { params: ListVersionsParams } Bucket => [S3ListBucketVersions];
    ListMultipartUploads { params: ListUploadsParams } Bucket => [S3ListBucketMultipartUploads];
    /// Authorised per key named in the body (see [`Route::extra_checks`]).
    DeleteObjects {} Bucket => [S3DeleteObject];
    /// A browser form upload: the key and the credentials are form fields.
    PostObject {} Bucket => [S3PutObject];
    PutObject {} Object => [S3PutObject];
    /// Also reads the source (see [`Route::extra_checks`]).
    CopyObject { source: CopySource } Object => [S3PutObject];
    GetObject {
        version: Option<VersionSel>,
        part_number: Option<u32>,
        overrides: ResponseOverrides,
    } Object => [S3GetObject | S3GetObjectVersion];
    HeadObject {
        version: Option<VersionSel>,
        part_number: Option<u32>,
        overrides: ResponseOverrides,
    } Object => [S3GetObject | S3GetObjectVersion];
    /// MinIO's `x-minio-extract`: `member` of the zip at the route's key
    /// (see [`zip_member`]); authorised as a read of the zip.
    GetZipMember {
        member: String,
        version: Option<VersionSel>,
        overrides: ResponseOverrides,
    } Object => [S3GetObject | S3GetObjectVersion];
    HeadZipMember {
        member: String,
        version: Option<VersionSel>,
        overrides: ResponseOverrides,
    } Object => [S3GetObject | S3GetObjectVersion];
    DeleteObject { version: Option<VersionSel> } Object => [S3DeleteObject | S3DeleteObjectVersion];
    GetObjectTagging { version: Option<VersionSel> } Object
        => [S3GetObjectTagging | S3GetObjectVersionTagging];
    /// Also needs `s3:GetObject` (see [`Route::extra_checks`]).
    GetObjectAttributes { version: Option<VersionSel> } Object
        => [S3GetObjectAttributes | S3GetObjectVersionAttributes];
    PutObjectTagging { version: Option<VersionSel> } Object
        => [S3PutObjectTagging | S3PutObjectVersionTagging];
    DeleteObjectTagging { version: Option<VersionSel> } Object
        => [S3DeleteObjectTagging | S3DeleteObjectVersionTagging];
    GetObjectAcl { version: Option<VersionSel> } Object => [S3GetObjectAcl | S3GetObjectVersionAcl];
    PutObjectAcl { version: Option<VersionSel> } Object => [S3PutObjectAcl | S3PutObjectVersionAcl];
    GetObjectRetention { version: Option<VersionSel> } Object => [S3GetObjectRetention];
    /// Shortening or removing GOVERNANCE retention also needs
    /// `s3:BypassGovernanceRetention` (checked by the handler).
    PutObjectRetention { version: Option<VersionSel> } Object => [S3PutObjectRetention];
    GetObjectLegalHold { version: Option<VersionSel> } Object => [S3GetObjectLegalHold];
    PutObjectLegalHold { version: Option<VersionSel> } Object => [S3PutObjectLegalHold];
    CreateMultipartUpload {} Object => [S3PutObject];
    UploadPart { part_number: u32, upload_id: UploadId } Object => [S3PutObject];
    /// Also reads the source (see [`Route::extra_checks`]).
    UploadPartCopy { part_number: u32, upload_id: UploadId, source: CopySource } Object
        => [S3PutObject];
    CompleteMultipartUpload { upload_id: UploadId } Object => [S3PutObject];
    AbortMultipartUpload { upload_id: UploadId } Object => [S3AbortMultipartUpload];
    ListParts { upload_id: UploadId, params: ListPartsParams } Object
        => [S3ListMultipartUploadParts];
}

impl Op {
    /// The version the request names (`versionId`), if the operation takes
    /// one.
    pub fn version(&self) -> Option<VersionSel> {
        match self {
            Op::GetObject { version, .. }
            | Op::HeadObject { version, .. }
            | Op::GetZipMember { version, .. }
            | Op::HeadZipMember { version, .. }
            | Op::DeleteObject { version }
            | Op::GetObjectTagging { version }
            | Op::GetObjectAttributes { version }
            | Op::PutObjectTagging { version }
            | Op::DeleteObjectTagging { version }
            | Op::GetObjectAcl { version }
            | Op::PutObjectAcl { version }
            | Op::GetObjectRetention { version }
            | Op::PutObjectRetention { version }
            | Op::GetObjectLegalHold { version }
            | Op::PutObjectLegalHold { version } => *version,
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Route: the request as policy evaluation sees it
// ---------------------------------------------------------------------------

/// A request, parsed once: the bucket and key it names and the operation.
/// The router guarantees `bucket` for bucket operations and both for object
/// operations ([`Op::scope`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub op: Op,
}

/// What a policy statement's `Resource` is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// `*`: ListBuckets acts on no bucket.
    All,
    Bucket(&'a str),
    Object {
        bucket: &'a str,
        key: &'a str,
    },
}

impl fmt::Display for Resource<'_> {
    /// The ARN (`arn:aws:s3:::bucket/key`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::All => f.write_str("*"),
            // A tenant's bucket by the name its users know it by: their
            // policies say `arn:aws:s3:::b` for their tenant's `b`.
            Resource::Bucket(b) => write!(f, "arn:aws:s3:::{}", external_name(b)),
            Resource::Object { bucket, key } => {
                write!(f, "arn:aws:s3:::{}/{key}", external_name(bucket))
            }
        }
    }
}

/// One authorisation: an action on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check<'a> {
    pub action: Action,
    pub resource: Resource<'a>,
}

/// Authorisations a request needs besides [`Route::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtraChecks<'a> {
    None,
    /// One more: reading the copy source (CopyObject, UploadPartCopy), or
    /// `s3:GetObject`/`GetObjectVersion` beside GetObjectAttributes' own;
    /// with the version read (its tags and `s3:VersionId` are what the
    /// policy sees).
    Also(Check<'a>, Option<VersionSel>),
    /// DeleteObjects: the keys are in the body, so the operation must
    /// authorise each one as it reads it, with [`delete_check`] (a key
    /// refused is an `AccessDenied` entry in the result, as on S3).
    EachDeletedKey,
}

/// What deleting `key` (or one version of it) in `bucket` needs: the
/// per-key authorisation of DeleteObjects.
pub fn delete_check<'a>(bucket: &'a str, key: &'a str, version: Option<VersionSel>) -> Check<'a> {
    Check {
        action: if version.is_some() {
            Action::S3DeleteObjectVersion
        } else {
            Action::S3DeleteObject
        },
        resource: Resource::Object { bucket, key },
    }
}

/// The policy condition values the request line gives (`s3:prefix`,
/// `s3:delimiter`, `s3:max-keys` for listings; `s3:VersionId`). A key is
/// `None` when the request did not send it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConditionValues<'a> {
    pub prefix: Option<&'a str>,
    pub delimiter: Option<&'a str>,
    pub max_keys: Option<u64>,
    pub version_id: Option<VersionSel>,
}

fn listing<'a>(
    prefix: &'a Option<String>,
    delimiter: &'a Option<String>,
    max_keys: PageSize,
) -> ConditionValues<'a> {
    ConditionValues {
        prefix: prefix.as_deref(),
        delimiter: delimiter.as_deref(),
        max_keys: max_keys.requested,
        version_id: None,
    }
}

impl Route {
    /// Parses a request. `raw_path` and `raw_query` are exactly as received
    /// (still percent-encoded); `host` is the Host header or `:authority`.
    pub fn parse(
        method: &Method,
        raw_path: &str,
        raw_query: &str,
        host: Option<&str>,
        domain: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Route, S3Error> {
        let (bucket, key) = split_path(raw_path, host, domain)?;
        let scope = match (&bucket, &key) {
            (None, _) => Scope::Service,
            (Some(_), None) => Scope::Bucket,
            (Some(_), Some(_)) => Scope::Object,
        };
        let req = Req {
            method,
            scope,
            query: parse_query(raw_query),
            headers,
        };
        let op = route_op(&req)?;
        let (key, op) = zip_member(key, op, headers);
        Ok(Route { bucket, key, op })
    }

    pub fn name(&self) -> &'static str {
        self.op.name()
    }

    /// `/bucket` or `/bucket/key`, for `<Resource>` in error documents.
    pub fn error_resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".to_string(),
        }
    }

    /// The resource the operation acts on (its ARN by `Display`).
    pub fn resource(&self) -> Resource<'_> {
        match (&self.bucket, &self.key, self.op.scope()) {
            (_, _, Scope::Service) | (None, _, _) => Resource::All,
            (Some(b), _, Scope::Bucket) | (Some(b), None, _) => Resource::Bucket(b),
            (Some(b), Some(k), _) => Resource::Object { bucket: b, key: k },
        }
    }

    /// The request's own authorisation: its action on its resource. `None`
    /// when the request names nothing to authorise here: OPTIONS, unknown
    /// operations, and DeleteObjects (see [`Route::extra_checks`]).
    pub fn check(&self) -> Option<Check<'_>> {
        if matches!(self.op, Op::DeleteObjects {}) {
            return None;
        }
        Some(Check {
            action: self.op.action()?,
            resource: self.resource(),
        })
    }

    /// Authorisations beyond [`Route::check`] that the request needs too
    /// (AWS's "S3 API operations to permission mappings").
    pub fn extra_checks(&self) -> ExtraChecks<'_> {
        let read = |version: Option<VersionSel>| {
            if version.is_some() {
                Action::S3GetObjectVersion
            } else {
                Action::S3GetObject
            }
        };
        match &self.op {
            Op::CopyObject { source } | Op::UploadPartCopy { source, .. } => ExtraChecks::Also(
                Check {
                    action: read(source.version),
                    resource: Resource::Object {
                        bucket: &source.bucket,
                        key: &source.key,
                    },
                },
                source.version,
            ),
            Op::GetObjectAttributes { version } => ExtraChecks::Also(
                Check {
                    action: read(*version),
                    resource: self.resource(),
                },
                *version,
            ),
            Op::DeleteObjects {} => ExtraChecks::EachDeletedKey,
            _ => ExtraChecks::None,
        }
    }

    /// The condition values this request carries.
    pub fn conditions(&self) -> ConditionValues<'_> {
        match &self.op {
            Op::ListObjects { params: p } => listing(&p.prefix, &p.delimiter, p.max_keys),
            Op::ListObjectsV2 { params: p } => listing(&p.prefix, &p.delimiter, p.max_keys),
            Op::ListObjectVersions { params: p } => listing(&p.prefix, &p.delimiter, p.max_keys),
            Op::ListMultipartUploads { params: p } => {
                listing(&p.prefix, &p.delimiter, p.max_uploads)
            }
            op => ConditionValues {
                version_id: op.version(),
                ..ConditionValues::default()
            },
        }
    }
}

/// MinIO's zip extension: a GET or HEAD with `x-minio-extract: true` of a
/// key holding `.zip/` reads the member after the first `.zip/` of the zip
/// before it (whether or not an object has the whole key, as MinIO), so
/// the route's key becomes the zip's.
fn zip_member(key: Option<String>, op: Op, headers: &HeaderMap) -> (Option<String>, Op) {
    const MARK: &str = ".zip/";
    let extract = headers
        .get("x-minio-extract")
        .is_some_and(|v| v.as_bytes() == b"true");
    let at = key
        .as_deref()
        .filter(|_| extract && matches!(op, Op::GetObject { .. } | Op::HeadObject { .. }))
        .and_then(|k| k.find(MARK));
    let (Some(at), Some(k)) = (at, key.as_deref()) else {
        return (key, op);
    };
    let zip = Some(k[..at + MARK.len() - 1].to_owned());
    let member = k[at + MARK.len()..].to_owned();
    match op {
        Op::GetObject {
            version, overrides, ..
        } => (
            zip,
            Op::GetZipMember {
                member,
                version,
                overrides,
            },
        ),
        Op::HeadObject {
            version, overrides, ..
        } => (
            zip,
            Op::HeadZipMember {
                member,
                version,
                overrides,
            },
        ),
        op => (key, op),
    }
}

// ---------------------------------------------------------------------------
// The route table
// ---------------------------------------------------------------------------

/// A condition a table row puts on the request.
#[derive(Debug, Clone, Copy)]
enum Cond {
    /// The query has this parameter, with or without a value.
    Has(&'static str),
    /// The query has one of these parameters.
    AnyOf(&'static [&'static str]),
    /// The query's first `name` parameter has exactly this value.
    Value(&'static str, &'static str),
    /// The request has this header.
    Header(&'static str),
}

/// Subresources S3 has but cairn does not implement: their presence must
/// never fall through to a default operation (a GET `?inventory` must not
/// answer with a listing, a PUT `?restore` must not overwrite the object).
const UNSUPPORTED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "analytics",
    "attributes",
    "intelligent-tiering",
    "inventory",
    "metadataConfiguration",
    "metadataTable",
    "metrics",
    "publicAccessBlock",
    "renameObject",
    "replication",
    "requestPayment",
    "restore",
    "select",
    "session",
    "torrent",
];

/// The route table: rows are tried in order and the first whose method,
/// scope and conditions all hold names the operation; no match is
/// `Unknown`. `ANY` matches every method, scope `Any` every scope. A field
/// `f` is filled by `Req::f()`, `f: p` by `Req::p()`, in the order written
/// (which decides which error a request with several bad values gets).
/// `Refuse(msg)` answers InvalidRequest.
macro_rules! route_table {
    (@method ANY) => { None };
    (@method $m:ident) => { Some(Method::$m) };
    (@field $r:ident, $f:ident) => { $r.$f()? };
    (@field $r:ident, $f:ident, $p:ident) => { $r.$p()? };
    (@build $r:ident, Refuse($msg:literal)) => {
        Err(S3Error::new(S3Code::InvalidRequest, $msg))
    };
    (@build $r:ident, $op:ident { $($f:ident $(: $p:ident)?),* }) => {
        Ok(Op::$op { $($f: route_table!(@field $r, $f $(, $p)?)),* })
    };
    ($( $m:ident $scope:ident [$($cond:expr),*] => $op:ident $fields:tt, )*) => {
        fn route_op(r: &Req<'_>) -> Result<Op, S3Error> {
            use Cond::*;
            $(
                if r.method_is(route_table!(@method $m))
                    && r.scope_is(Scope::$scope)
                    $(&& r.holds($cond))*
                {
                    return route_table!(@build r, $op $fields);
                }
            )*
            Ok(Op::Unknown {})
        }
    };
}

route_table! {
    OPTIONS Any     []                                  => Options {},
    GET    Service  []                                  => ListBuckets {},
    // `attributes` is unsupported on buckets only.
    GET    Object   [Has("attributes")]                 => GetObjectAttributes { version },
    // Before the unsupported list, which keeps it off objects.
    GET    Bucket   [Has("publicAccessBlock")]          => GetPublicAccessBlock {},
    PUT    Bucket   [Has("publicAccessBlock")]          => PutPublicAccessBlock {},
    DELETE Bucket   [Has("publicAccessBlock")]          => DeletePublicAccessBlock {},
    ANY    Bucket   [AnyOf(UNSUPPORTED_SUBRESOURCES)]   => Unknown {},
    // Retention and legal hold are object subresources only.
    ANY    Bucket   [AnyOf(&["retention", "legal-hold"])] => Unknown {},
    ANY    Object   [AnyOf(UNSUPPORTED_SUBRESOURCES)]   => Unknown {},
    ANY    Object   [Has("ownershipControls")]          => Unknown {},
    GET    Bucket   [Has("website")]                    => GetBucketWebsite {},
    PUT    Bucket   [Has("website")]                    => PutBucketWebsite {},
    DELETE Bucket   [Has("website")]                    => DeleteBucketWebsite {},
    ANY    Any      [Has("website")]                    => Unknown {},
    GET    Bucket   [Has("notification")]               => GetBucketNotificationConfiguration {},
    PUT    Bucket   [Has("notification")]               => PutBucketNotificationConfiguration {},
    ANY    Any      [Has("notification")]               => Unknown {},
    GET    Bucket   [Has("logging")]                    => GetBucketLogging {},
    PUT    Bucket   [Has("logging")]                    => PutBucketLogging {},
    ANY    Any      [Has("logging")]                    => Unknown {},

    GET    Bucket   [Has("location")]                   => GetBucketLocation {},
    GET    Bucket   [Has("versioning")]                 => GetBucketVersioning {},
    GET    Bucket   [Has("object-lock")]                => GetBucketObjectLockConfig {},
    GET    Bucket   [Has("cors")]                       => GetBucketCors {},
    GET    Bucket   [Has("lifecycle")]                  => GetBucketLifecycle {},
    GET    Bucket   [Has("policyStatus")]               => GetBucketPolicyStatus {},
    GET    Bucket   [Has("policy")]                     => GetBucketPolicy {},
    GET    Bucket   [Has("encryption")]                 => GetBucketEncryption {},
    GET    Bucket   [Has("tagging")]                    => GetBucketTagging {},
    GET    Bucket   [Has("acl")]                        => GetBucketAcl {},
    GET    Bucket   [Has("ownershipControls")]          => GetBucketOwnershipControls {},
    GET    Bucket   [Has("uploads")]                    => ListMultipartUploads { params: list_uploads },
    GET    Bucket   [Has("versions")]                   => ListObjectVersions { params: list_versions },
    GET    Bucket   [AnyOf(&["delete", "uploadId", "partNumber"])] => Unknown {},
    GET    Bucket   [Value("list-type", "2")]           => ListObjectsV2 { params: list_v2 },
    GET    Bucket   []                                  => ListObjects { params: list_v1 },
    HEAD   Bucket   []                                  => HeadBucket {},
    PUT    Bucket   [Has("versioning")]                 => PutBucketVersioning {},
    PUT    Bucket   [Has("cors")]                       => PutBucketCors {},
    PUT    Bucket   [Has("lifecycle")]                  => PutBucketLifecycle {},
    PUT    Bucket   [Has("policy")]                     => PutBucketPolicy {},
    PUT    Bucket   [Has("encryption")]                 => PutBucketEncryption {},
    PUT    Bucket   [Has("tagging")]                    => PutBucketTagging {},
    PUT    Bucket   [Has("acl")]                        => PutBucketAcl {},
    PUT    Bucket   [Has("ownershipControls")]          => PutBucketOwnershipControls {},
    PUT    Bucket   [Has("object-lock")]                => PutBucketObjectLockConfig {},
    PUT    Bucket   [AnyOf(&["location", "uploads", "uploadId", "delete"])]
                                                        => Unknown {},
    PUT    Bucket   []                                  => CreateBucket {},
    DELETE Bucket   [Has("cors")]                       => DeleteBucketCors {},
    DELETE Bucket   [Has("lifecycle")]                  => DeleteBucketLifecycle {},
    DELETE Bucket   [Has("policy")]                     => DeleteBucketPolicy {},
    DELETE Bucket   [Has("encryption")]                 => DeleteBucketEncryption {},
    DELETE Bucket   [Has("tagging")]                    => DeleteBucketTagging {},
    DELETE Bucket   [Has("ownershipControls")]          => DeleteBucketOwnershipControls {},
    DELETE Bucket   [AnyOf(&["acl", "versioning", "object-lock", "uploads", "uploadId", "delete"])]
                                                        => Unknown {},
    DELETE Bucket   []                                  => DeleteBucket {},
    POST   Bucket   [Has("delete")]                     => DeleteObjects {},
    // A bare POST is a browser form upload.
    POST   Bucket   []                                  => PostObject {},

    GET    Object   [Has("uploads")]
        => Refuse("Key is not expected for the GET method ?uploads subresource"),
    GET    Object   [Has("versions")]
        => Refuse("There is no such thing as the ?versions sub-resource for a key"),
    HEAD   Object   [Has("versions")]
        => Refuse("There is no such thing as the ?versions sub-resource for a key"),
    GET    Object   [Has("tagging")]                    => GetObjectTagging { version },
    GET    Object   [Has("acl")]                        => GetObjectAcl { version },
    GET    Object   [Has("retention")]                  => GetObjectRetention { version },
    GET    Object   [Has("legal-hold")]                 => GetObjectLegalHold { version },
    GET    Object   [Has("uploadId")]                   => ListParts { upload_id, params: list_parts },
    // HEAD on a subresource is not an S3 operation.
    HEAD   Object   [AnyOf(&["tagging", "acl", "uploadId", "retention", "legal-hold"])] => Unknown {},
    GET    Object   []                                  => GetObject { version, part_number, overrides },
    HEAD   Object   []                                  => HeadObject { version, part_number, overrides },
    PUT    Object   [Has("tagging")]                    => PutObjectTagging { version },
    PUT    Object   [Has("acl")]                        => PutObjectAcl { version },
    PUT    Object   [Has("retention")]                  => PutObjectRetention { version },
    PUT    Object   [Has("legal-hold")]                 => PutObjectLegalHold { version },
    PUT    Object   [Has("uploads")]                    => Unknown {},
    PUT    Object   [Has("uploadId"), Header(COPY_SOURCE)]
        => UploadPartCopy { part_number: part, source, upload_id },
    PUT    Object   [Has("uploadId")]                   => UploadPart { part_number: part, upload_id },
    // A stray partNumber without uploadId is ignored, as S3 ignores query
    // parameters an operation does not take.
    PUT    Object   [Header(COPY_SOURCE)]               => CopyObject { source },
    PUT    Object   []                                  => PutObject {},
    DELETE Object   [Has("tagging")]                    => DeleteObjectTagging { version },
    DELETE Object   [Has("uploadId")]                   => AbortMultipartUpload { upload_id },
    DELETE Object   [AnyOf(&["acl", "uploads", "retention", "legal-hold"])] => Unknown {},
    DELETE Object   []                                  => DeleteObject { version },
    POST   Object   [Has("uploads")]                    => CreateMultipartUpload {},
    POST   Object   [Has("uploadId")]                   => CompleteMultipartUpload { upload_id },
}

/// The request while it is routed: the table's conditions and the parsers
/// that fill each operation's fields.
struct Req<'a> {
    method: &'a Method,
    scope: Scope,
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
}

impl Req<'_> {
    fn method_is(&self, m: Option<Method>) -> bool {
        m.is_none_or(|m| *self.method == m)
    }

    fn scope_is(&self, s: Scope) -> bool {
        s == Scope::Any || s == self.scope
    }

    fn holds(&self, c: Cond) -> bool {
        match c {
            Cond::Has(name) => self.has(name),
            Cond::AnyOf(names) => self.query.iter().any(|(k, _)| names.contains(&k.as_str())),
            Cond::Value(name, value) => self.get(name) == Some(value),
            Cond::Header(name) => self.headers.contains_key(name),
        }
    }

    /// The first value of `name` (case-sensitive, as S3 parameter names are).
    fn get(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }

    /// An optional text parameter, `None` when absent.
    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// An optional text parameter where empty means absent.
    fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    fn version(&self) -> Result<Option<VersionSel>, S3Error> {
        version_param(self.get("versionId"))
    }

    fn part_number(&self) -> Result<Option<u32>, S3Error> {
        let Some(raw) = self.get("partNumber") else {
            return Ok(None);
        };
        let bad = || {
            S3Error::new(
                S3Code::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        };
        if raw.is_empty() || raw.len() > 5 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match raw.parse::<u32>() {
            Ok(n) if (1..=MAX_PART_NUMBER).contains(&n) => Ok(Some(n)),
            _ => Err(bad()),
        }
    }

    /// The part number an upload needs.
    fn part(&self) -> Result<u32, S3Error> {
        self.part_number()?.ok_or_else(|| {
            S3Error::new(
                S3Code::InvalidArgument,
                "partNumber is required with uploadId",
            )
        })
    }

    /// An id that is not one of ours names no upload.
    fn upload_id(&self) -> Result<UploadId, S3Error> {
        self.get("uploadId")
            .and_then(UploadId::parse)
            .ok_or_else(|| S3Error::from_code(S3Code::NoSuchUpload))
    }

    fn source(&self) -> Result<CopySource, S3Error> {
        let v = self
            .headers
            .get(COPY_SOURCE)
            .ok_or_else(|| S3Error::new(S3Code::InvalidArgument, "Missing x-amz-copy-source"))?;
        let v = v.to_str().map_err(|_| {
            S3Error::new(S3Code::InvalidArgument, "Invalid x-amz-copy-source header")
        })?;
        parse_copy_source(v)
    }

    fn overrides(&self) -> Result<ResponseOverrides, S3Error> {
        let mut out = Vec::new();
        for (param, name) in OVERRIDES {
            if let Some(v) = self.get(param) {
                let v = HeaderValue::from_str(v).map_err(|_| {
                    S3Error::new(
                        S3Code::InvalidArgument,
                        format!("Invalid value for {param}."),
                    )
                })?;
                out.push((name, v));
            }
        }
        Ok(ResponseOverrides(out))
    }

    /// A page size parameter: at most 1,000, which is also the default.
    fn page_size(&self, name: &str) -> Result<PageSize, S3Error> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(PageSize::DEFAULT),
            Some(v) => {
                if !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(S3Error::new(
                        S3Code::InvalidArgument,
                        format!("Provided {name} not an integer or within integer range"),
                    ));
                }
                // Digit strings too long for u64 are far above the cap anyway.
                let n = v.parse::<u64>().unwrap_or(u64::MAX);
                Ok(PageSize {
                    requested: Some(n),
                    limit: usize::try_from(n).unwrap_or(MAX_KEYS).min(MAX_KEYS),
                })
            }
        }
    }

    fn encoding_url(&self) -> Result<bool, S3Error> {
        match self.get("encoding-type") {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
            Some(_) => Err(S3Error::new(
                S3Code::InvalidArgument,
                "Invalid Encoding Method specified in Request",
            )),
        }
    }

    /// A non-negative integer marker, 0 when absent.
    fn marker(&self, name: &str) -> Result<u32, S3Error> {
        match self.get(name).map(str::trim) {
            None | Some("") => Ok(0),
            // Beyond any part number: nothing follows it.
            Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => Ok(v.parse().unwrap_or(u32::MAX)),
            Some(_) => Err(S3Error::new(
                S3Code::InvalidArgument,
                format!("Provided {name} not an integer or within integer range"),
            )),
        }
    }

    fn list_v1(&self) -> Result<ListV1Params, S3Error> {
        Ok(ListV1Params {
            prefix: self.text("prefix"),
            delimiter: self.text("delimiter"),
            marker: self.get("marker").unwrap_or("").to_owned(),
            max_keys: self.page_size("max-keys")?,
            encoding_url: self.encoding_url()?,
        })
    }

    fn list_v2(&self) -> Result<ListV2Params, S3Error> {
        let max_keys = self.page_size("max-keys")?;
        let encoding_url = self.encoding_url()?;
        let continuation = match self.non_empty("continuation-token") {
            Some(raw) => Some(ContinuationToken {
                after: decode_token(&raw)?,
                raw,
            }),
            None => None,
        };
        Ok(ListV2Params {
            prefix: self.text("prefix"),
            delimiter: self.text("delimiter"),
            max_keys,
            continuation,
            start_after: self.non_empty("start-after"),
            encoding_url,
            fetch_owner: self
                .get("fetch-owner")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            metadata: self
                .get("metadata")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    fn list_versions(&self) -> Result<ListVersionsParams, S3Error> {
        let key_marker = self.non_empty("key-marker");
        let version_id_marker = self.non_empty("version-id-marker");
        if version_id_marker.is_some() && key_marker.is_none() {
            return Err(S3Error::new(
                S3Code::InvalidArgument,
                "A version-id marker cannot be specified without a key marker.",
            ));
        }
        let version_marker = version_id_marker
            .as_deref()
            .map(parse_version_id)
            .transpose()?;
        Ok(ListVersionsParams {
            prefix: self.text("prefix"),
            delimiter: self.text("delimiter"),
            key_marker,
            version_id_marker: version_id_marker.unwrap_or_default(),
            version_marker,
            max_keys: self.page_size("max-keys")?,
            encoding_url: self.encoding_url()?,
        })
    }

    fn list_uploads(&self) -> Result<ListUploadsParams, S3Error> {
        let max_uploads = self.page_size("max-uploads")?;
        let encoding_url = self.encoding_url()?;
        let key_marker = self.get("key-marker").unwrap_or("").to_owned();
        // S3 ignores upload-id-marker without key-marker.
        let upload_id_marker = if key_marker.is_empty() {
            String::new()
        } else {
            self.get("upload-id-marker").unwrap_or("").to_owned()
        };
        let after_upload = if upload_id_marker.is_empty() {
            None
        } else {
            Some(UploadId::parse(&upload_id_marker).ok_or_else(|| {
                S3Error::new(S3Code::InvalidArgument, "Invalid upload-id-marker.")
            })?)
        };
        Ok(ListUploadsParams {
            prefix: self.text("prefix"),
            delimiter: self.text("delimiter"),
            key_marker,
            upload_id_marker,
            after_upload,
            max_uploads,
            encoding_url,
        })
    }

    fn list_parts(&self) -> Result<ListPartsParams, S3Error> {
        Ok(ListPartsParams {
            part_number_marker: self.marker("part-number-marker")?,
            max_parts: self.page_size("max-parts")?,
        })
    }
}

// ---------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------

/// Splits and decodes a raw query string (`a=1&b&c=x+y%21`) in order.
/// `+` decodes to a space, a parameter without `=` gets an empty value, and
/// invalid UTF-8 is replaced rather than rejected (no S3 parameter we route
/// on can legitimately contain it).
fn parse_query(raw: &str) -> Vec<(String, String)> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_query_part(k), decode_query_part(v))
        })
        .collect()
}

fn decode_query_part(s: &str) -> String {
    if s.contains('+') {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    } else {
        percent_decode_str(s).decode_utf8_lossy().into_owned()
    }
}

// ---------------------------------------------------------------------------
// Path and host
// ---------------------------------------------------------------------------

/// Host without port, lowercased (DNS names are case-insensitive).
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if host.starts_with('[') {
        // IPv6 literal: keep the brackets, drop any port after them.
        host.find(']').map_or(host, |i| &host[..=i])
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The bucket named by a virtual-hosted Host, if any.
pub(crate) fn vhost_bucket(host: Option<&str>, domain: Option<&str>) -> Option<String> {
    let domain = host_name(domain?.trim_start_matches('.'));
    if domain.is_empty() {
        return None;
    }
    let host = host_name(host?);
    let bucket = host.strip_suffix(&domain)?.strip_suffix('.')?;
    (!bucket.is_empty()).then(|| bucket.to_string())
}

/// A bucket name from a request. `:` joins a tenant to its buckets' names
/// (`tenant.rs`): only a path may name a tenant's bucket so, `tenant:bucket`
/// (`in_path`), and the handler takes that form from unsigned requests
/// alone (`tenant::check_named`), so no signed caller reaches another
/// tenant's bucket.
fn decode_bucket(raw: &str, in_path: bool) -> Result<String, S3Error> {
    let invalid = || S3Error::from_code(S3Code::InvalidBucketName);
    let b = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid())?
        .into_owned();
    if b.is_empty() || b.contains('/') {
        return Err(invalid());
    }
    if b.contains(super::tenant::SEPARATOR)
        && !(in_path && crate::engine::buckets::valid_stored_name(&b))
    {
        return Err(invalid());
    }
    Ok(b)
}

/// Decodes a key, checking S3's length limit on the decoded bytes.
pub(crate) fn decode_key(raw: &str) -> Result<String, S3Error> {
    let bytes: Vec<u8> = percent_decode_str(raw).collect();
    if bytes.len() > MAX_KEY_LEN {
        return Err(S3Error::from_code(S3Code::KeyTooLongError));
    }
    String::from_utf8(bytes)
        .map_err(|_| S3Error::new(S3Code::InvalidArgument, "Object key is not valid UTF-8"))
}

/// `(bucket, key)` from the path and Host. An empty key means a bucket-level
/// request (`/bucket` and `/bucket/` are the same resource to S3).
/// The bucket a request names (path or virtual-hosted style), `None` when
/// it names none or not a well-formed one.
pub fn bucket_of(raw_path: &str, host: Option<&str>, domain: Option<&str>) -> Option<String> {
    split_path(raw_path, host, domain).ok()?.0
}

/// The bucket and key a request's path (and Host) name, without routing
/// it: for records of requests refused before they were routed.
pub fn target_of(
    raw_path: &str,
    host: Option<&str>,
    domain: Option<&str>,
) -> Option<(Option<String>, Option<String>)> {
    split_path(raw_path, host, domain).ok()
}

fn split_path(
    raw_path: &str,
    host: Option<&str>,
    domain: Option<&str>,
) -> Result<(Option<String>, Option<String>), S3Error> {
    let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
    let (bucket, raw_key) = match vhost_bucket(host, domain) {
        Some(bucket) => (Some(bucket), path),
        None => {
            let (raw_bucket, rest) = path.split_once('/').unwrap_or((path, ""));
            if raw_bucket.is_empty() {
                if !rest.is_empty() {
                    // `//key`: a key with no bucket.
                    return Err(S3Error::from_code(S3Code::InvalidBucketName));
                }
                return Ok((None, None));
            }
            (Some(decode_bucket(raw_bucket, true)?), rest)
        }
    };
    let key = if raw_key.is_empty() {
        None
    } else {
        Some(decode_key(raw_key)?)
    };
    Ok((bucket, key))
}

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=v]`, URL-encoded. The
/// first raw `?` starts the query, so a literal `?` in a key must be `%3F`.
pub fn parse_copy_source(value: &str) -> Result<CopySource, S3Error> {
    let invalid = || {
        S3Error::new(
            S3Code::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    };
    let value = value.trim();
    let (path, query) = value.split_once('?').unwrap_or((value, ""));
    let path = path.strip_prefix('/').unwrap_or(path);
    let (raw_bucket, raw_key) = path.split_once('/').ok_or_else(invalid)?;
    if raw_bucket.is_empty() || raw_key.is_empty() {
        return Err(invalid());
    }
    let bucket = decode_bucket(raw_bucket, false).map_err(|_| invalid())?;
    let key = decode_key(raw_key)?;
    let query = parse_query(query);
    let version = query
        .iter()
        .find(|(k, _)| k == "versionId")
        .map(|(_, v)| v.as_str());
    Ok(CopySource {
        bucket,
        key,
        version: version_param(version)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "0000000000000000000000000000000a";
    const V1_SEL: VersionSel = VersionSel::Id(10);

    fn route(method: Method, target: &str) -> Result<Route, S3Error> {
        route_h(method, target, &HeaderMap::new())
    }

    fn route_h(method: Method, target: &str, headers: &HeaderMap) -> Result<Route, S3Error> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Route::parse(&method, path, query, Some("localhost:9000"), None, headers)
    }

    fn ok(method: Method, target: &str) -> Route {
        route(method, target).unwrap_or_else(|e| panic!("{target}: {e}"))
    }

    fn err(method: Method, target: &str) -> S3Code {
        match route(method, target) {
            Ok(r) => panic!("{target}: routed to {r:?}"),
            Err(e) => e.code,
        }
    }

    fn b(s: &str) -> String {
        s.to_string()
    }

    fn copy_headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COPY_SOURCE, HeaderValue::from_str(v).unwrap());
        h
    }

    fn id() -> UploadId {
        UploadId(0x0123_4567_89ab_cdef_0011_2233_4455_6677)
    }

    fn page(n: u64) -> PageSize {
        PageSize {
            requested: Some(n),
            limit: n.min(MAX_KEYS as u64) as usize,
        }
    }

    fn get_object(version: Option<VersionSel>, part_number: Option<u32>) -> Op {
        Op::GetObject {
            version,
            part_number,
            overrides: ResponseOverrides::default(),
        }
    }

    #[test]
    fn service_level() {
        for target in ["/", "", "/?x-id=ListBuckets"] {
            let r = ok(Method::GET, target);
            assert_eq!((r.bucket, r.key, r.op), (None, None, Op::ListBuckets {}));
        }
        for m in [Method::PUT, Method::HEAD] {
            let r = ok(m, "/");
            assert_eq!((r.bucket, r.key, r.op), (None, None, Op::Unknown {}));
        }
    }

    #[test]
    fn bucket_operations() {
        use Op::*;
        let v1 = ListV1Params::default();
        let v2 = ListV2Params::default();
        let token = format!(
            "/bkt?list-type=2&continuation-token={}&start-after=s&max-keys=5000",
            encode_token("a/b")
        );
        let versions = format!("/bkt?versions&prefix=x&key-marker=k&version-id-marker={V1}");
        let uploads = format!("/bkt?uploads&key-marker=k&upload-id-marker={}", id());
        let cases: Vec<(Method, &str, Op)> = vec![
            (Method::PUT, "/bkt", CreateBucket {}),
            (Method::PUT, "/bkt/", CreateBucket {}),
            (Method::HEAD, "/bkt", HeadBucket {}),
            (Method::DELETE, "/bkt", DeleteBucket {}),
            (Method::GET, "/bkt?location", GetBucketLocation {}),
            (Method::GET, "/bkt?versioning", GetBucketVersioning {}),
            (Method::PUT, "/bkt?versioning", PutBucketVersioning {}),
            (
                Method::GET,
                "/bkt?object-lock",
                GetBucketObjectLockConfig {},
            ),
            (
                Method::PUT,
                "/bkt?object-lock",
                PutBucketObjectLockConfig {},
            ),
            (Method::GET, "/bkt?cors", GetBucketCors {}),
            (Method::PUT, "/bkt?cors", PutBucketCors {}),
            (Method::DELETE, "/bkt?cors", DeleteBucketCors {}),
            (Method::GET, "/bkt?lifecycle", GetBucketLifecycle {}),
            (Method::PUT, "/bkt?lifecycle", PutBucketLifecycle {}),
            (Method::DELETE, "/bkt?lifecycle", DeleteBucketLifecycle {}),
            (Method::GET, "/bkt?website", GetBucketWebsite {}),
            (Method::GET, "/bkt?list-type=2&website", GetBucketWebsite {}),
            (Method::PUT, "/bkt?website", PutBucketWebsite {}),
            (Method::DELETE, "/bkt?website", DeleteBucketWebsite {}),
            (
                Method::GET,
                "/bkt?notification",
                GetBucketNotificationConfiguration {},
            ),
            (
                Method::PUT,
                "/bkt?notification",
                PutBucketNotificationConfiguration {},
            ),
            (Method::GET, "/bkt?logging", GetBucketLogging {}),
            (Method::PUT, "/bkt?logging", PutBucketLogging {}),
            (Method::GET, "/bkt?policy", GetBucketPolicy {}),
            (Method::PUT, "/bkt?policy", PutBucketPolicy {}),
            (Method::DELETE, "/bkt?policy", DeleteBucketPolicy {}),
            (Method::GET, "/bkt?policyStatus", GetBucketPolicyStatus {}),
            (
                Method::GET,
                "/bkt?publicAccessBlock",
                GetPublicAccessBlock {},
            ),
            (
                Method::PUT,
                "/bkt?publicAccessBlock",
                PutPublicAccessBlock {},
            ),
            (
                Method::DELETE,
                "/bkt?publicAccessBlock",
                DeletePublicAccessBlock {},
            ),
            (Method::GET, "/bkt?encryption", GetBucketEncryption {}),
            (Method::PUT, "/bkt?encryption", PutBucketEncryption {}),
            (Method::DELETE, "/bkt?encryption", DeleteBucketEncryption {}),
            (Method::GET, "/bkt?tagging", GetBucketTagging {}),
            (Method::PUT, "/bkt?tagging", PutBucketTagging {}),
            (Method::DELETE, "/bkt?tagging", DeleteBucketTagging {}),
            (Method::GET, "/bkt?acl", GetBucketAcl {}),
            (Method::PUT, "/bkt?acl", PutBucketAcl {}),
            (
                Method::GET,
                "/bkt?ownershipControls",
                GetBucketOwnershipControls {},
            ),
            (
                Method::PUT,
                "/bkt?ownershipControls",
                PutBucketOwnershipControls {},
            ),
            (
                Method::DELETE,
                "/bkt?ownershipControls",
                DeleteBucketOwnershipControls {},
            ),
            (Method::GET, "/bkt", ListObjects { params: v1.clone() }),
            (Method::GET, "/bkt/", ListObjects { params: v1.clone() }),
            (
                Method::GET,
                "/bkt?prefix=a&delimiter=%2F&max-keys=5&marker=m",
                ListObjects {
                    params: ListV1Params {
                        prefix: Some(b("a")),
                        delimiter: Some(b("/")),
                        marker: b("m"),
                        max_keys: page(5),
                        encoding_url: false,
                    },
                },
            ),
            (
                Method::GET,
                "/bkt?list-type=1",
                ListObjects { params: v1.clone() },
            ),
            (
                Method::GET,
                "/bkt?list-type=bogus",
                ListObjects { params: v1 },
            ),
            (
                Method::GET,
                "/bkt?list-type=2",
                ListObjectsV2 { params: v2.clone() },
            ),
            (
                Method::GET,
                "/bkt?list-type=2&prefix=&encoding-type=url&fetch-owner=true",
                ListObjectsV2 {
                    params: ListV2Params {
                        prefix: Some(b("")),
                        encoding_url: true,
                        fetch_owner: true,
                        ..v2.clone()
                    },
                },
            ),
            (
                Method::GET,
                "/bkt?list-type=2&metadata=true",
                ListObjectsV2 {
                    params: ListV2Params {
                        metadata: true,
                        ..v2.clone()
                    },
                },
            ),
            (
                Method::GET,
                &token,
                ListObjectsV2 {
                    params: ListV2Params {
                        continuation: Some(ContinuationToken {
                            raw: encode_token("a/b"),
                            after: b("a/b"),
                        }),
                        start_after: Some(b("s")),
                        max_keys: page(5000),
                        ..v2.clone()
                    },
                },
            ),
            // Empty tokens and start-after are none.
            (
                Method::GET,
                "/bkt?list-type=2&continuation-token=&start-after=",
                ListObjectsV2 { params: v2 },
            ),
            (
                Method::GET,
                "/bkt?versions",
                ListObjectVersions {
                    params: ListVersionsParams::default(),
                },
            ),
            (
                Method::GET,
                &versions,
                ListObjectVersions {
                    params: ListVersionsParams {
                        prefix: Some(b("x")),
                        key_marker: Some(b("k")),
                        version_id_marker: b(V1),
                        version_marker: Some(V1_SEL),
                        ..ListVersionsParams::default()
                    },
                },
            ),
            (
                Method::GET,
                "/bkt?uploads",
                ListMultipartUploads {
                    params: ListUploadsParams::default(),
                },
            ),
            (
                Method::GET,
                "/bkt?uploads=&max-uploads=3",
                ListMultipartUploads {
                    params: ListUploadsParams {
                        max_uploads: page(3),
                        ..ListUploadsParams::default()
                    },
                },
            ),
            (
                Method::GET,
                &uploads,
                ListMultipartUploads {
                    params: ListUploadsParams {
                        key_marker: b("k"),
                        upload_id_marker: id().to_string(),
                        after_upload: Some(id()),
                        ..ListUploadsParams::default()
                    },
                },
            ),
            // S3 ignores upload-id-marker without key-marker, even garbage.
            (
                Method::GET,
                "/bkt?uploads&upload-id-marker=zzz",
                ListMultipartUploads {
                    params: ListUploadsParams::default(),
                },
            ),
            (Method::POST, "/bkt?delete", DeleteObjects {}),
            (Method::POST, "/bkt?delete=", DeleteObjects {}),
            (Method::POST, "/bkt", PostObject {}),
            (Method::POST, "/bkt/", PostObject {}),
        ];
        for (m, target, want) in cases {
            let r = ok(m.clone(), target);
            assert_eq!(r.op, want, "{m} {target}");
            assert_eq!((r.bucket.as_deref(), r.key), (Some("bkt"), None));
        }
        // The bucket rows must not reach objects.
        assert_eq!(
            ok(Method::GET, "/bkt/k?publicAccessBlock").op,
            Op::Unknown {}
        );
    }

    #[test]
    fn bad_listing_parameters_are_invalid_arguments() {
        for target in [
            "/bkt?max-keys=-1",
            "/bkt?max-keys=abc",
            "/bkt?encoding-type=base64",
            "/bkt?list-type=2&max-keys=1.5",
            "/bkt?list-type=2&encoding-type=xml",
            "/bkt?list-type=2&continuation-token=!!!",
            "/bkt?list-type=2&continuation-token=_w",
            "/bkt?versions&max-keys=x",
            "/bkt?versions&encoding-type=x",
            "/bkt?versions&version-id-marker=null",
            "/bkt?versions&key-marker=k&version-id-marker=v1",
            "/bkt?uploads&max-uploads=-5",
            "/bkt?uploads&encoding-type=x",
            "/bkt?uploads&key-marker=k&upload-id-marker=zzz",
        ] {
            assert_eq!(
                err(Method::GET, target),
                S3Code::InvalidArgument,
                "{target}"
            );
        }
        let parts = |q: &str| format!("/bkt/k?uploadId={}&{q}", id());
        for q in [
            "part-number-marker=x",
            "part-number-marker=-1",
            "max-parts=a",
        ] {
            assert_eq!(err(Method::GET, &parts(q)), S3Code::InvalidArgument, "{q}");
        }
    }

    #[test]
    fn page_sizes_default_clamp_and_keep_what_was_asked() {
        let size = |q: &str| match ok(Method::GET, &format!("/bkt?{q}")).op {
            Op::ListObjects { params } => params.max_keys,
            other => panic!("{other:?}"),
        };
        assert_eq!(size(""), PageSize::DEFAULT);
        assert_eq!(size("max-keys="), PageSize::DEFAULT);
        assert_eq!(size("max-keys=5"), page(5));
        assert_eq!(size("max-keys=0"), page(0));
        assert_eq!(size("max-keys=%205"), page(5));
        assert_eq!(size("max-keys=5000").limit, MAX_KEYS);
        assert_eq!(
            size("max-keys=99999999999999999999999"),
            PageSize {
                requested: Some(u64::MAX),
                limit: MAX_KEYS
            }
        );
        let parts = |q: &str| match ok(Method::GET, &format!("/bkt/k?uploadId={}&{q}", id())).op {
            Op::ListParts { params, .. } => params,
            other => panic!("{other:?}"),
        };
        assert_eq!(parts(""), ListPartsParams::default());
        assert_eq!(
            parts("part-number-marker=7&max-parts=2"),
            ListPartsParams {
                part_number_marker: 7,
                max_parts: page(2)
            }
        );
        assert_eq!(
            parts("part-number-marker=99999999999").part_number_marker,
            u32::MAX
        );
    }

    #[test]
    fn unsupported_bucket_subresources_are_unknown() {
        for (m, target) in [
            (Method::GET, "/bkt?retention"),
            (Method::PUT, "/bkt?legal-hold"),
            (Method::DELETE, "/bkt?logging"),
            (Method::DELETE, "/bkt?notification"),
            (Method::GET, "/bkt?replication"),
            (Method::POST, "/bkt?publicAccessBlock"),
            (Method::GET, "/bkt?delete"),
            (Method::GET, "/bkt?attributes"),
            (Method::HEAD, "/bkt?website"),
            (Method::DELETE, "/bkt?versioning"),
            (Method::POST, "/bkt?website"),
            (Method::PATCH, "/bkt"),
        ] {
            let r = ok(m.clone(), target);
            assert_eq!(r.op, Op::Unknown {}, "{m} {target}");
            assert_eq!((r.bucket.as_deref(), r.key), (Some("bkt"), None));
        }
    }

    #[test]
    fn object_operations() {
        use Op::*;
        let id = id();
        let cases: Vec<(Method, String, Op)> = vec![
            (Method::PUT, b("/bkt/dir/obj.txt"), PutObject {}),
            (Method::GET, b("/bkt/dir/obj.txt"), get_object(None, None)),
            (
                Method::GET,
                format!("/bkt/dir/obj.txt?versionId={V1}&partNumber=3&x-id=GetObject"),
                get_object(Some(V1_SEL), Some(3)),
            ),
            (
                Method::GET,
                b("/bkt/dir/obj.txt?response-content-type=text%2Fplain&response-expires=x"),
                GetObject {
                    version: None,
                    part_number: None,
                    overrides: ResponseOverrides(vec![
                        (header::CONTENT_TYPE, HeaderValue::from_static("text/plain")),
                        (header::EXPIRES, HeaderValue::from_static("x")),
                    ]),
                },
            ),
            (
                Method::HEAD,
                b("/bkt/dir/obj.txt?versionId=null"),
                HeadObject {
                    version: Some(VersionSel::Null),
                    part_number: None,
                    overrides: ResponseOverrides::default(),
                },
            ),
            (
                Method::DELETE,
                b("/bkt/dir/obj.txt"),
                DeleteObject { version: None },
            ),
            // The id is percent-decoded like any query value.
            (
                Method::DELETE,
                b("/bkt/dir/obj.txt?versionId=%6Eull"),
                DeleteObject {
                    version: Some(VersionSel::Null),
                },
            ),
            (
                Method::GET,
                b("/bkt/dir/obj.txt?tagging"),
                GetObjectTagging { version: None },
            ),
            (
                Method::PUT,
                format!("/bkt/dir/obj.txt?tagging&versionId={}", V1.to_uppercase()),
                PutObjectTagging {
                    version: Some(V1_SEL),
                },
            ),
            (
                Method::DELETE,
                b("/bkt/dir/obj.txt?tagging"),
                DeleteObjectTagging { version: None },
            ),
            (
                Method::GET,
                b("/bkt/dir/obj.txt?acl"),
                GetObjectAcl { version: None },
            ),
            (
                Method::GET,
                format!("/bkt/dir/obj.txt?retention&versionId={V1}"),
                GetObjectRetention {
                    version: Some(V1_SEL),
                },
            ),
            (
                Method::PUT,
                b("/bkt/dir/obj.txt?retention"),
                PutObjectRetention { version: None },
            ),
            (
                Method::GET,
                b("/bkt/dir/obj.txt?legal-hold"),
                GetObjectLegalHold { version: None },
            ),
            (
                Method::PUT,
                format!("/bkt/dir/obj.txt?legal-hold&versionId={V1}"),
                PutObjectLegalHold {
                    version: Some(V1_SEL),
                },
            ),
            (
                Method::PUT,
                format!("/bkt/dir/obj.txt?acl&versionId={V1}"),
                PutObjectAcl {
                    version: Some(V1_SEL),
                },
            ),
            (
                Method::POST,
                b("/bkt/dir/obj.txt?uploads"),
                CreateMultipartUpload {},
            ),
            (
                Method::POST,
                b("/bkt/dir/obj.txt?uploads="),
                CreateMultipartUpload {},
            ),
            (
                Method::PUT,
                format!("/bkt/dir/obj.txt?partNumber=1&uploadId={id}"),
                UploadPart {
                    part_number: 1,
                    upload_id: id,
                },
            ),
            (
                Method::PUT,
                format!("/bkt/dir/obj.txt?uploadId={id}&partNumber=10000"),
                UploadPart {
                    part_number: 10000,
                    upload_id: id,
                },
            ),
            (
                Method::POST,
                format!("/bkt/dir/obj.txt?uploadId={id}"),
                CompleteMultipartUpload { upload_id: id },
            ),
            (
                Method::DELETE,
                format!("/bkt/dir/obj.txt?uploadId={id}"),
                AbortMultipartUpload { upload_id: id },
            ),
            (
                Method::GET,
                format!("/bkt/dir/obj.txt?uploadId={id}&max-parts=10&part-number-marker=2"),
                ListParts {
                    upload_id: id,
                    params: ListPartsParams {
                        part_number_marker: 2,
                        max_parts: page(10),
                    },
                },
            ),
            (
                Method::PUT,
                b("/bkt/dir/obj.txt?partNumber=1"),
                PutObject {},
            ),
        ];
        for (m, target, want) in cases {
            let r = ok(m.clone(), &target);
            assert_eq!(r.op, want, "{m} {target}");
            assert_eq!(
                (r.bucket.as_deref(), r.key.as_deref()),
                (Some("bkt"), Some("dir/obj.txt"))
            );
        }
    }

    #[test]
    fn bad_version_ids_are_invalid_arguments() {
        for (m, q) in [
            (Method::GET, "versionId="),
            (Method::GET, "versionId=v1"),
            (Method::GET, "versionId=NULL"),
            (Method::HEAD, "versionId=0000000000000000000000000000000g"),
            (
                Method::DELETE,
                "versionId=000000000000000000000000000000001",
            ),
            (Method::GET, "tagging&versionId=x"),
            (Method::PUT, "tagging&versionId=x"),
            (Method::DELETE, "tagging&versionId=x"),
            (Method::GET, "acl&versionId=x"),
            (Method::GET, "attributes&versionId=x"),
        ] {
            assert_eq!(
                err(m.clone(), &format!("/bkt/k?{q}")),
                S3Code::InvalidArgument,
                "{m} {q}"
            );
        }
    }

    #[test]
    fn foreign_upload_ids_name_no_upload() {
        let bad = [
            "U",
            "",
            "AAAAAAAAAAAAAAAAAAAAAA%3D",
            "AAAAAAAAAAAAAAAAAAAAAB",
        ];
        for u in bad {
            for (m, extra) in [
                (Method::PUT, "&partNumber=1"),
                (Method::POST, ""),
                (Method::DELETE, ""),
                (Method::GET, ""),
            ] {
                let target = format!("/bkt/k?uploadId={u}{extra}");
                assert_eq!(
                    err(m.clone(), &target),
                    S3Code::NoSuchUpload,
                    "{m} {target}"
                );
            }
        }
    }

    #[test]
    fn upload_ids_round_trip_and_reject_anything_else() {
        for n in [0u128, 1, u128::MAX, id().0] {
            let s = UploadId(n).to_string();
            assert_eq!(s.len(), 22);
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(UploadId::parse(&s), Some(UploadId(n)));
        }
        for bad in [
            "",
            "x",
            "AAAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAAA!",
            "AAAAAAAAAAAAAAAAAAAAAAAA",
            // Non-zero trailing bits: a second spelling of id 0.
            "AAAAAAAAAAAAAAAAAAAAAB",
        ] {
            assert_eq!(UploadId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn version_ids_round_trip_and_sort_by_age() {
        let old = VersionSel::Id(5 << 64);
        let new = VersionSel::Id((6 << 64) | 1);
        assert_eq!(parse_version_id(&format_version_id(old)).unwrap(), old);
        assert_eq!(parse_version_id("null").unwrap(), VersionSel::Null);
        assert!(format_version_id(old) < format_version_id(new));
        for bad in [
            "",
            "NULL",
            "abc",
            &"g".repeat(32),
            &"0".repeat(33),
            "+0000000000000000000000000000001",
        ] {
            let e = parse_version_id(bad).unwrap_err();
            assert_eq!(e.code, S3Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        for k in ["a", "dir/sub/", "ключ with spaces+plus", "x\u{1F600}"] {
            assert_eq!(decode_token(&encode_token(k)).unwrap(), k);
        }
        assert!(decode_token("").is_err());
        assert!(decode_token("!!!").is_err());
        assert!(decode_token(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])).is_err());
    }

    #[test]
    fn response_overrides_must_be_header_values() {
        for q in ["response-content-type=a%0Ab", "response-expires=%00"] {
            assert_eq!(
                err(Method::GET, &format!("/bkt/k?{q}")),
                S3Code::InvalidArgument,
                "{q}"
            );
        }
        // Every override is carried, in a fixed order.
        let r = ok(
            Method::HEAD,
            "/bkt/k?response-content-encoding=gzip&response-cache-control=no-cache\
             &response-content-disposition=inline&response-content-language=en",
        );
        let Op::HeadObject { overrides, .. } = r.op else {
            panic!("{r:?}");
        };
        let names: Vec<&str> = overrides.0.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-language",
                "cache-control",
                "content-disposition",
                "content-encoding"
            ]
        );
    }

    #[test]
    fn copy_operations() {
        let h = copy_headers("/src-bkt/a%20b/c%2Bd.txt?versionId=null");
        let src = CopySource {
            bucket: b("src-bkt"),
            key: b("a b/c+d.txt"),
            version: Some(VersionSel::Null),
        };
        assert_eq!(
            route_h(Method::PUT, "/bkt/dst", &h).unwrap().op,
            Op::CopyObject {
                source: src.clone()
            }
        );
        assert_eq!(
            route_h(
                Method::PUT,
                &format!("/bkt/dst?partNumber=2&uploadId={}", id()),
                &h
            )
            .unwrap()
            .op,
            Op::UploadPartCopy {
                part_number: 2,
                upload_id: id(),
                source: src,
            }
        );
        // The copy-source header does not turn other methods into copies.
        assert_eq!(
            route_h(Method::GET, "/bkt/dst", &h).unwrap().name(),
            "GetObject"
        );
        for bad in ["nokey", "/src/k?versionId=v9", "/src/k?versionId="] {
            let e = route_h(Method::PUT, "/bkt/dst", &copy_headers(bad)).unwrap_err();
            assert_eq!(e.code, S3Code::InvalidArgument, "{bad}");
        }
        let mut h = HeaderMap::new();
        h.insert(COPY_SOURCE, HeaderValue::from_bytes(b"/src/\xff").unwrap());
        assert_eq!(
            route_h(Method::PUT, "/bkt/dst", &h).unwrap_err().code,
            S3Code::InvalidArgument
        );
    }

    #[test]
    fn copy_source_parsing() {
        let p = |s| parse_copy_source(s);
        assert_eq!(
            p("bkt/key").unwrap(),
            CopySource {
                bucket: b("bkt"),
                key: b("key"),
                version: None
            }
        );
        assert_eq!(p("/bkt//a//b/").unwrap().key, "/a//b/");
        assert_eq!(p("/bkt/a%3Fb").unwrap().key, "a?b");
        assert_eq!(p("/bkt/a+b").unwrap().key, "a+b");
        assert_eq!(p("/bkt/%E2%82%AC").unwrap().key, "€");
        let encoded = format!("/bkt/k?versionId={}", V1.replace('a', "%61"));
        assert_eq!(p(&encoded).unwrap().version, Some(V1_SEL));
        assert_eq!(p("/bkt/k?other=1").unwrap().version, None);
        for bad in [
            "", "/", "bkt", "bkt/", "/bkt/", "/bkt", "//key", "/%FF/k", "/a%2Fb/k",
        ] {
            assert_eq!(p(bad).unwrap_err().code, S3Code::InvalidArgument, "{bad}");
        }
        for bad in ["/bkt/k?versionId=", "/bkt/k?versionId=a+b", "/bkt/%FF"] {
            assert_eq!(p(bad).unwrap_err().code, S3Code::InvalidArgument, "{bad}");
        }
        let long = format!("/bkt/{}", "k".repeat(1025));
        assert_eq!(p(&long).unwrap_err().code, S3Code::KeyTooLongError);
    }

    #[test]
    fn object_level_errors_and_unknowns() {
        assert_eq!(err(Method::GET, "/bkt/k?uploads"), S3Code::InvalidRequest);
        assert_eq!(err(Method::GET, "/bkt/k?versions"), S3Code::InvalidRequest);
        assert_eq!(err(Method::HEAD, "/bkt/k?versions"), S3Code::InvalidRequest);
        for target in [
            "/bkt/k?partNumber=0",
            "/bkt/k?partNumber=10001",
            "/bkt/k?partNumber=abc",
            "/bkt/k?partNumber=",
            "/bkt/k?partNumber=-1",
            "/bkt/k?partNumber=99999999999999999999",
            "/bkt/k?versionId=",
        ] {
            assert_eq!(
                err(Method::GET, target),
                S3Code::InvalidArgument,
                "{target}"
            );
        }
        // The part number is checked before the upload id.
        assert_eq!(
            err(Method::PUT, "/bkt/k?uploadId=U"),
            S3Code::InvalidArgument
        );
        assert_eq!(
            err(Method::PUT, "/bkt/k?uploadId=U&partNumber=0"),
            S3Code::InvalidArgument
        );
        for (m, target) in [
            (Method::HEAD, "/bkt/k?retention"),
            (Method::DELETE, "/bkt/k?legal-hold"),
            (Method::HEAD, "/bkt/k?attributes"),
            (Method::PUT, "/bkt/k?attributes"),
            (Method::GET, "/bkt/k?torrent"),
            (Method::PUT, "/bkt/k?ownershipControls"),
            (Method::GET, "/bkt/k?ownershipControls"),
            (Method::POST, "/bkt/k?restore"),
            (Method::POST, "/bkt/k?select&select-type=2"),
            (Method::POST, "/bkt/k"),
            (Method::HEAD, "/bkt/k?tagging"),
            (Method::HEAD, "/bkt/k?uploadId=U"),
            (Method::PATCH, "/bkt/k"),
        ] {
            let r = ok(m.clone(), target);
            assert_eq!(r.op, Op::Unknown {}, "{m} {target}");
            assert_eq!(
                (r.bucket.as_deref(), r.key.as_deref()),
                (Some("bkt"), Some("k"))
            );
        }
    }

    #[test]
    fn object_attributes_route() {
        assert_eq!(
            ok(Method::GET, "/bkt/k?attributes&versionId=null").op,
            Op::GetObjectAttributes {
                version: Some(VersionSel::Null),
            }
        );
    }

    #[test]
    fn tricky_keys_survive() {
        let key = |target: &str| ok(Method::GET, target).key;
        assert_eq!(key("/bkt/a//b"), Some(b("a//b")));
        assert_eq!(key("/bkt//lead"), Some(b("/lead")));
        assert_eq!(key("/bkt///"), Some(b("//")));
        assert_eq!(key("/bkt/dir/"), Some(b("dir/")));
        assert_eq!(key("/bkt/a%2Fb"), Some(b("a/b")));
        assert_eq!(key("/bkt/a%252F"), Some(b("a%2F")));
        assert_eq!(key("/bkt/a+b"), Some(b("a+b")));
        assert_eq!(key("/bkt/a%20b"), Some(b("a b")));
        assert_eq!(key("/bkt/%E2%82%AC/%F0%9F%92%A9"), Some(b("€/💩")));
        assert_eq!(key("/bkt/.."), Some(b("..")));
        assert_eq!(key("/bkt/./x/../y"), Some(b("./x/../y")));
        assert_eq!(key("/bkt/%zz%"), Some(b("%zz%")));
        assert_eq!(key("/bkt/a%0Db%00"), Some(b("a\rb\0")));
        assert_eq!(key("/bkt/q%3Fx=1"), Some(b("q?x=1")));
        assert_eq!(ok(Method::GET, "/bkt/a%2Fb").bucket, Some(b("bkt")));
    }

    #[test]
    fn key_limits_and_encoding() {
        let k1024 = "k".repeat(1024);
        assert_eq!(ok(Method::PUT, &format!("/bkt/{k1024}")).key, Some(k1024));
        let k1025 = "k".repeat(1025);
        assert_eq!(
            err(Method::PUT, &format!("/bkt/{k1025}")),
            S3Code::KeyTooLongError
        );
        // The limit is on decoded bytes: 342 x "€" (3 bytes) = 1026 bytes.
        let euros = "%E2%82%AC".repeat(342);
        assert_eq!(
            err(Method::PUT, &format!("/bkt/{euros}")),
            S3Code::KeyTooLongError
        );
        // Encoded form may be long while the decoded key fits.
        let enc = "%41".repeat(1024);
        assert_eq!(
            ok(Method::PUT, &format!("/bkt/{enc}")).key.map(|k| k.len()),
            Some(1024)
        );
        for bad in ["/bkt/%FF", "/bkt/a%C3", "/bkt/%ED%A0%80"] {
            assert_eq!(err(Method::GET, bad), S3Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn bad_buckets() {
        for bad in ["/%FF/k", "/%FF", "/a%2Fb/k", "//k"] {
            assert_eq!(err(Method::GET, bad), S3Code::InvalidBucketName, "{bad}");
        }
        assert_eq!(ok(Method::GET, "/my%2Dbucket").bucket, Some(b("my-bucket")));
    }

    #[test]
    fn virtual_hosted_style() {
        let h = HeaderMap::new();
        let vh = |host: &str, path: &str, query: &str| {
            Route::parse(
                &Method::GET,
                path,
                query,
                Some(host),
                Some("s3.example.com"),
                &h,
            )
            .unwrap()
        };
        let r = vh("bkt.s3.example.com", "/", "");
        assert_eq!(r.bucket, Some(b("bkt")));
        assert_eq!(r.name(), "ListObjects");
        assert_eq!(
            vh("bkt.s3.example.com:9000", "", "list-type=2").name(),
            "ListObjectsV2"
        );
        assert_eq!(
            vh("BKT.S3.Example.COM.", "/a//b/", ""),
            Route {
                bucket: Some(b("bkt")),
                key: Some(b("a//b/")),
                op: get_object(None, None),
            }
        );
        // Dotted bucket names.
        assert_eq!(
            vh("my.dotted.bkt.s3.example.com", "/k", "").bucket,
            Some(b("my.dotted.bkt"))
        );
        // The first path segment is part of the key, not a bucket.
        assert_eq!(
            vh("bkt.s3.example.com", "/other/k", "").key,
            Some(b("other/k"))
        );
        assert_eq!(vh("bkt.s3.example.com", "//k", "").key, Some(b("/k")));
        // The bare domain, another host, or no domain: path style.
        assert_eq!(vh("s3.example.com", "/bkt/k", "").bucket, Some(b("bkt")));
        assert_eq!(vh("s3.example.com:443", "/", "").op, Op::ListBuckets {});
        assert_eq!(vh("127.0.0.1:9000", "/bkt/k", "").key, Some(b("k")));
        assert_eq!(vh("[::1]:9000", "/bkt/k", "").bucket, Some(b("bkt")));
        assert_eq!(
            vh("evils3.example.com", "/bkt/k", "").bucket,
            Some(b("bkt"))
        );
        assert_eq!(vh(".s3.example.com", "/bkt/k", "").bucket, Some(b("bkt")));
        let no_domain = Route::parse(
            &Method::GET,
            "/bkt/k",
            "",
            Some("bkt.s3.example.com"),
            None,
            &h,
        )
        .unwrap();
        assert_eq!(no_domain.bucket, Some(b("bkt")));
        assert_eq!(no_domain.key, Some(b("k")));
        let no_host =
            Route::parse(&Method::GET, "/bkt/k", "", None, Some("s3.example.com"), &h).unwrap();
        assert_eq!(no_host.key, Some(b("k")));
        // Domain configured with a leading dot or a port still matches.
        let dotted = Route::parse(
            &Method::GET,
            "/k",
            "",
            Some("bkt.s3.example.com"),
            Some(".s3.example.com"),
            &h,
        )
        .unwrap();
        assert_eq!(dotted.bucket, Some(b("bkt")));
        // Virtual-hosted PUT of a bucket.
        let put = Route::parse(
            &Method::PUT,
            "/",
            "",
            Some("newb.s3.example.com"),
            Some("s3.example.com"),
            &h,
        )
        .unwrap();
        assert_eq!((put.bucket, put.op), (Some(b("newb")), Op::CreateBucket {}));
    }

    #[test]
    fn options_requests() {
        let r = ok(Method::OPTIONS, "/bkt/k?uploads");
        assert_eq!(
            (r.bucket, r.key, r.op),
            (Some(b("bkt")), Some(b("k")), Op::Options {})
        );
        let r = ok(Method::OPTIONS, "/");
        assert_eq!((r.bucket, r.key, r.op), (None, None, Op::Options {}));
    }

    #[test]
    fn query_parsing() {
        let q = parse_query("a=1&b&c=x+y%21&&d=%E2%82%AC&e=&f=%2B&a=2&g=%FF&h=a=b");
        assert_eq!(
            q,
            vec![
                (b("a"), b("1")),
                (b("b"), b("")),
                (b("c"), b("x y!")),
                (b("d"), b("€")),
                (b("e"), b("")),
                (b("f"), b("+")),
                (b("a"), b("2")),
                (b("g"), b("\u{FFFD}")),
                (b("h"), b("a=b")),
            ]
        );
        let h = HeaderMap::new();
        let req = Req {
            method: &Method::GET,
            scope: Scope::Bucket,
            query: q,
            headers: &h,
        };
        assert_eq!(req.get("a"), Some("1"));
        assert_eq!(req.get("b"), Some(""));
        assert_eq!(req.get("A"), None);
        assert!(req.has("e"));
        assert!(!req.has("zz"));
        assert_eq!(parse_query(""), vec![]);
        assert_eq!(parse_query("?x=1"), vec![(b("x"), b("1"))]);
        assert_eq!(parse_query("%2B+k=v"), vec![(b("+ k"), b("v"))]);
    }

    #[test]
    fn accessors() {
        let r = ok(Method::GET, "/bkt/some/key");
        assert_eq!(r.name(), "GetObject");
        assert_eq!(r.error_resource(), "/bkt/some/key");
        let r = ok(Method::GET, "/bkt?list-type=2");
        assert_eq!(r.name(), "ListObjectsV2");
        assert_eq!(r.error_resource(), "/bkt");
        assert_eq!(ok(Method::GET, "/").error_resource(), "/");
    }

    /// Every operation and the IAM action AWS's service authorization
    /// reference and "Required permissions for Amazon S3 API operations"
    /// give for it (with and without a version id where it matters).
    #[test]
    fn every_operation_names_the_action_aws_documents() {
        use Op::*;
        let v = Some(V1_SEL);
        let src = |version| CopySource {
            bucket: b("src"),
            key: b("k"),
            version,
        };
        let id = id();
        let cases: Vec<(Op, Option<&str>)> = vec![
            (Options {}, None),
            (Unknown {}, None),
            (ListBuckets {}, Some("s3:ListAllMyBuckets")),
            (CreateBucket {}, Some("s3:CreateBucket")),
            (HeadBucket {}, Some("s3:ListBucket")),
            (DeleteBucket {}, Some("s3:DeleteBucket")),
            (GetBucketLocation {}, Some("s3:GetBucketLocation")),
            (GetBucketVersioning {}, Some("s3:GetBucketVersioning")),
            (PutBucketVersioning {}, Some("s3:PutBucketVersioning")),
            (
                GetBucketObjectLockConfig {},
                Some("s3:GetBucketObjectLockConfiguration"),
            ),
            (
                PutBucketObjectLockConfig {},
                Some("s3:PutBucketObjectLockConfiguration"),
            ),
            (GetBucketCors {}, Some("s3:GetBucketCORS")),
            (PutBucketCors {}, Some("s3:PutBucketCORS")),
            (DeleteBucketCors {}, Some("s3:PutBucketCORS")),
            (GetBucketLifecycle {}, Some("s3:GetLifecycleConfiguration")),
            (PutBucketLifecycle {}, Some("s3:PutLifecycleConfiguration")),
            (
                DeleteBucketLifecycle {},
                Some("s3:PutLifecycleConfiguration"),
            ),
            (GetBucketWebsite {}, Some("s3:GetBucketWebsite")),
            (PutBucketWebsite {}, Some("s3:PutBucketWebsite")),
            (DeleteBucketWebsite {}, Some("s3:DeleteBucketWebsite")),
            (
                GetBucketNotificationConfiguration {},
                Some("s3:GetBucketNotification"),
            ),
            (
                PutBucketNotificationConfiguration {},
                Some("s3:PutBucketNotification"),
            ),
            (GetBucketLogging {}, Some("s3:GetBucketLogging")),
            (PutBucketLogging {}, Some("s3:PutBucketLogging")),
            (GetBucketPolicy {}, Some("s3:GetBucketPolicy")),
            (PutBucketPolicy {}, Some("s3:PutBucketPolicy")),
            (DeleteBucketPolicy {}, Some("s3:DeleteBucketPolicy")),
            (GetBucketPolicyStatus {}, Some("s3:GetBucketPolicyStatus")),
            (
                GetBucketEncryption {},
                Some("s3:GetEncryptionConfiguration"),
            ),
            (
                PutBucketEncryption {},
                Some("s3:PutEncryptionConfiguration"),
            ),
            (
                DeleteBucketEncryption {},
                Some("s3:PutEncryptionConfiguration"),
            ),
            (GetBucketTagging {}, Some("s3:GetBucketTagging")),
            (PutBucketTagging {}, Some("s3:PutBucketTagging")),
            (DeleteBucketTagging {}, Some("s3:PutBucketTagging")),
            (GetBucketAcl {}, Some("s3:GetBucketAcl")),
            (PutBucketAcl {}, Some("s3:PutBucketAcl")),
            (
                GetBucketOwnershipControls {},
                Some("s3:GetBucketOwnershipControls"),
            ),
            (
                PutBucketOwnershipControls {},
                Some("s3:PutBucketOwnershipControls"),
            ),
            (
                DeleteBucketOwnershipControls {},
                Some("s3:PutBucketOwnershipControls"),
            ),
            (
                GetPublicAccessBlock {},
                Some("s3:GetBucketPublicAccessBlock"),
            ),
            (
                PutPublicAccessBlock {},
                Some("s3:PutBucketPublicAccessBlock"),
            ),
            (
                DeletePublicAccessBlock {},
                Some("s3:PutBucketPublicAccessBlock"),
            ),
            (
                ListObjects {
                    params: ListV1Params::default(),
                },
                Some("s3:ListBucket"),
            ),
            (
                ListObjectsV2 {
                    params: ListV2Params::default(),
                },
                Some("s3:ListBucket"),
            ),
            (
                ListObjectVersions {
                    params: ListVersionsParams::default(),
                },
                Some("s3:ListBucketVersions"),
            ),
            (
                ListMultipartUploads {
                    params: ListUploadsParams::default(),
                },
                Some("s3:ListBucketMultipartUploads"),
            ),
            (DeleteObjects {}, Some("s3:DeleteObject")),
            (PostObject {}, Some("s3:PutObject")),
            (PutObject {}, Some("s3:PutObject")),
            (CopyObject { source: src(v) }, Some("s3:PutObject")),
            (get_object(None, Some(1)), Some("s3:GetObject")),
            (get_object(v, None), Some("s3:GetObjectVersion")),
            (
                HeadObject {
                    version: None,
                    part_number: None,
                    overrides: ResponseOverrides::default(),
                },
                Some("s3:GetObject"),
            ),
            (
                HeadObject {
                    version: Some(VersionSel::Null),
                    part_number: None,
                    overrides: ResponseOverrides::default(),
                },
                Some("s3:GetObjectVersion"),
            ),
            (
                GetZipMember {
                    member: "m".into(),
                    version: None,
                    overrides: ResponseOverrides::default(),
                },
                Some("s3:GetObject"),
            ),
            (
                HeadZipMember {
                    member: "m".into(),
                    version: v,
                    overrides: ResponseOverrides::default(),
                },
                Some("s3:GetObjectVersion"),
            ),
            (DeleteObject { version: None }, Some("s3:DeleteObject")),
            (DeleteObject { version: v }, Some("s3:DeleteObjectVersion")),
            (
                GetObjectTagging { version: None },
                Some("s3:GetObjectTagging"),
            ),
            (
                GetObjectTagging { version: v },
                Some("s3:GetObjectVersionTagging"),
            ),
            (
                GetObjectAttributes { version: None },
                Some("s3:GetObjectAttributes"),
            ),
            (
                GetObjectAttributes { version: v },
                Some("s3:GetObjectVersionAttributes"),
            ),
            (
                PutObjectTagging { version: None },
                Some("s3:PutObjectTagging"),
            ),
            (
                PutObjectTagging { version: v },
                Some("s3:PutObjectVersionTagging"),
            ),
            (
                DeleteObjectTagging { version: None },
                Some("s3:DeleteObjectTagging"),
            ),
            (
                DeleteObjectTagging { version: v },
                Some("s3:DeleteObjectVersionTagging"),
            ),
            (GetObjectAcl { version: None }, Some("s3:GetObjectAcl")),
            (GetObjectAcl { version: v }, Some("s3:GetObjectVersionAcl")),
            (PutObjectAcl { version: None }, Some("s3:PutObjectAcl")),
            (
                GetObjectRetention { version: v },
                Some("s3:GetObjectRetention"),
            ),
            (
                PutObjectRetention { version: None },
                Some("s3:PutObjectRetention"),
            ),
            (
                GetObjectLegalHold { version: None },
                Some("s3:GetObjectLegalHold"),
            ),
            (
                PutObjectLegalHold { version: v },
                Some("s3:PutObjectLegalHold"),
            ),
            (PutObjectAcl { version: v }, Some("s3:PutObjectVersionAcl")),
            (CreateMultipartUpload {}, Some("s3:PutObject")),
            (
                UploadPart {
                    part_number: 1,
                    upload_id: id,
                },
                Some("s3:PutObject"),
            ),
            (
                UploadPartCopy {
                    part_number: 1,
                    upload_id: id,
                    source: src(None),
                },
                Some("s3:PutObject"),
            ),
            (
                CompleteMultipartUpload { upload_id: id },
                Some("s3:PutObject"),
            ),
            (
                AbortMultipartUpload { upload_id: id },
                Some("s3:AbortMultipartUpload"),
            ),
            (
                ListParts {
                    upload_id: id,
                    params: ListPartsParams::default(),
                },
                Some("s3:ListMultipartUploadParts"),
            ),
        ];
        for (op, want) in &cases {
            assert_eq!(op.action().map(Action::as_str), *want, "{}", op.name());
        }
        // A new operation must be added here, with its documented action.
        for name in Op::NAMES {
            assert!(
                cases.iter().any(|(op, _)| op.name() == *name),
                "{name} has no expected action"
            );
        }
    }

    #[test]
    fn extract_reads_of_zip_paths_route_to_the_zip_and_its_member() {
        let mut h = HeaderMap::new();
        h.insert("x-minio-extract", HeaderValue::from_static("true"));
        let r = route_h(
            Method::GET,
            "/bkt/p/a.zip/dir/x.zip/m.txt?versionId=null",
            &h,
        )
        .unwrap();
        assert_eq!(r.key.as_deref(), Some("p/a.zip"));
        assert_eq!(
            r.op,
            Op::GetZipMember {
                member: b("dir/x.zip/m.txt"),
                version: Some(VersionSel::Null),
                overrides: ResponseOverrides::default(),
            }
        );
        assert_eq!(r.resource().to_string(), "arn:aws:s3:::bkt/p/a.zip");
        let r = route_h(Method::HEAD, "/bkt/a.zip/m", &h).unwrap();
        assert_eq!(
            (r.key.as_deref(), r.name()),
            (Some("a.zip"), "HeadZipMember")
        );
        // Without the header, another value, another method or no `.zip/`:
        // the key is an ordinary object's.
        assert_eq!(ok(Method::GET, "/bkt/a.zip/m").name(), "GetObject");
        let mut no = HeaderMap::new();
        no.insert("x-minio-extract", HeaderValue::from_static("false"));
        assert_eq!(
            route_h(Method::GET, "/bkt/a.zip/m", &no).unwrap().name(),
            "GetObject"
        );
        assert_eq!(
            route_h(Method::GET, "/bkt/a.zipx/m", &h).unwrap().name(),
            "GetObject"
        );
        assert_eq!(
            route_h(Method::GET, "/bkt/a.zip", &h).unwrap().name(),
            "GetObject"
        );
        let del = route_h(Method::DELETE, "/bkt/a.zip/m", &h).unwrap();
        assert_eq!(
            (del.key.as_deref(), del.name()),
            (Some("a.zip/m"), "DeleteObject")
        );
        let tags = route_h(Method::GET, "/bkt/a.zip/m?tagging", &h).unwrap();
        assert_eq!(tags.name(), "GetObjectTagging");
    }

    #[test]
    fn routes_name_their_resources_and_every_check() {
        let r = ok(Method::GET, "/");
        assert_eq!(r.resource().to_string(), "*");
        assert_eq!(
            r.check(),
            Some(Check {
                action: Action::S3ListAllMyBuckets,
                resource: Resource::All
            })
        );
        let r = ok(Method::HEAD, "/bkt");
        assert_eq!(r.resource().to_string(), "arn:aws:s3:::bkt");
        assert_eq!(r.check().map(|c| c.action), Some(Action::S3ListBucket));
        assert_eq!(r.extra_checks(), ExtraChecks::None);
        let r = ok(Method::GET, "/bkt/dir/a%20b");
        assert_eq!(r.resource().to_string(), "arn:aws:s3:::bkt/dir/a b");

        // Copies also read their source, as the version named.
        let h = copy_headers("/src/s%2Bk?versionId=null");
        for target in [
            "/bkt/k".to_owned(),
            format!("/bkt/k?uploadId={}&partNumber=1", id()),
        ] {
            let r = route_h(Method::PUT, &target, &h).unwrap();
            assert_eq!(r.check().map(|c| c.action), Some(Action::S3PutObject));
            let ExtraChecks::Also(c, Some(_)) = r.extra_checks() else {
                panic!("{target}: {:?}", r.extra_checks());
            };
            assert_eq!(c.action, Action::S3GetObjectVersion);
            assert_eq!(c.resource.to_string(), "arn:aws:s3:::src/s+k");
        }
        let r = route_h(Method::PUT, "/bkt/k", &copy_headers("/src/k")).unwrap();
        assert!(
            matches!(r.extra_checks(), ExtraChecks::Also(c, None) if c.action == Action::S3GetObject)
        );

        // GetObjectAttributes needs the read permission beside its own.
        let r = ok(Method::GET, "/bkt/k?attributes&versionId=null");
        assert_eq!(
            r.check().map(|c| c.action),
            Some(Action::S3GetObjectVersionAttributes)
        );
        assert_eq!(
            r.extra_checks(),
            ExtraChecks::Also(
                Check {
                    action: Action::S3GetObjectVersion,
                    resource: Resource::Object {
                        bucket: "bkt",
                        key: "k"
                    }
                },
                Some(VersionSel::Null)
            )
        );

        // DeleteObjects is authorised per key, as the body is read.
        let r = ok(Method::POST, "/bkt?delete");
        assert_eq!(r.check(), None);
        assert_eq!(r.extra_checks(), ExtraChecks::EachDeletedKey);
        let c = delete_check("bkt", "a/b", None);
        assert_eq!(
            (c.action, c.resource.to_string()),
            (Action::S3DeleteObject, b("arn:aws:s3:::bkt/a/b"))
        );
        assert_eq!(
            delete_check("bkt", "k", Some(VersionSel::Null)).action,
            Action::S3DeleteObjectVersion
        );

        // Neither a preflight nor an unknown operation is authorised here.
        assert_eq!(ok(Method::OPTIONS, "/bkt/k").check(), None);
        assert_eq!(ok(Method::PATCH, "/bkt/k").check(), None);
    }

    #[test]
    fn routes_carry_the_condition_values_they_were_sent() {
        fn c(target: &str) -> ConditionValues<'static> {
            let r = Box::leak(Box::new(ok(Method::GET, target)));
            r.conditions()
        }
        assert_eq!(
            c("/bkt?list-type=2&prefix=home%2Falice%2F&delimiter=%2F&max-keys=5000"),
            ConditionValues {
                prefix: Some("home/alice/"),
                delimiter: Some("/"),
                max_keys: Some(5000),
                version_id: None,
            }
        );
        assert_eq!(c("/bkt"), ConditionValues::default());
        assert_eq!(c("/bkt?prefix=").prefix, Some(""));
        assert_eq!(c("/bkt?versions&prefix=p").prefix, Some("p"));
        assert_eq!(c("/bkt?uploads&max-uploads=7").max_keys, Some(7));
        assert_eq!(
            c(&format!("/bkt/k?versionId={V1}")).version_id,
            Some(V1_SEL)
        );
        assert_eq!(c("/bkt/k"), ConditionValues::default());
    }

    #[test]
    fn routes_name_the_bucket_and_key_their_scope_needs() {
        let h = copy_headers("/src/k");
        let methods = [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::OPTIONS,
            Method::PATCH,
        ];
        let id = id();
        let queries = [
            String::new(),
            b("uploads"),
            b("delete"),
            b("tagging"),
            b("acl"),
            b("versions"),
            b("list-type=2"),
            b("attributes"),
            format!("uploadId={id}&partNumber=1"),
        ];
        for m in &methods {
            for path in ["/", "/bkt", "/bkt/k"] {
                for q in &queries {
                    let Ok(r) = Route::parse(m, path, q, None, None, &h) else {
                        continue;
                    };
                    match r.op.scope() {
                        Scope::Service => assert!(r.bucket.is_none(), "{m} {path}?{q}"),
                        Scope::Bucket => {
                            assert!(r.bucket.is_some() && r.key.is_none(), "{m} {path}?{q}")
                        }
                        Scope::Object => {
                            assert!(r.bucket.is_some() && r.key.is_some(), "{m} {path}?{q}")
                        }
                        Scope::Any => {}
                    }
                }
            }
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let methods = [
            Method::GET,
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::HEAD,
        ];
        let paths = [
            "",
            "/",
            "//",
            "///",
            "*",
            "%",
            "/%",
            "/b/%",
            "/b/%E2",
            "/b/%%%",
            "/\u{0}/\u{0}",
            "/b/\u{FFFF}",
        ];
        let queries = [
            "",
            "&",
            "=",
            "==&&",
            "uploadId",
            "partNumber=1&uploadId",
            "%",
            "+",
            "versionId=%",
            "versions&version-id-marker=%&key-marker=%",
            "list-type=2&continuation-token=%",
            "uploads&key-marker=a&upload-id-marker=%",
            "response-expires=%",
        ];
        let hosts = [
            None,
            Some(""),
            Some(":"),
            Some("["),
            Some("[::1"),
            Some("."),
            Some("a.b:c:d"),
        ];
        for m in &methods {
            for p in paths {
                for q in queries {
                    for h in hosts {
                        let _ = Route::parse(m, p, q, h, Some("b"), &HeaderMap::new());
                        let _ = Route::parse(m, p, q, h, Some(""), &HeaderMap::new());
                    }
                }
            }
        }
    }
}
