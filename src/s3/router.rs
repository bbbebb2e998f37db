//! Maps an HTTP request onto the S3 operation it names, Garage-style: one
//! `Endpoint` variant per operation, with the bucket, key and identifying
//! query parameters already decoded and validated.
//!
//! Addressing: path style (`/bucket/key`) always works; virtual-hosted style
//! (`Host: bucket.<domain>`) is used when a domain is configured and the Host
//! is a subdomain of it. Keys are taken from the raw path and percent-decoded
//! exactly once, with no normalisation: `//`, a trailing `/`, a leading `/`
//! and `%2F` all survive, and `+` stays a plus (only query strings treat `+`
//! as a space).

use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use super::error::{S3Code, S3Error};

/// S3's limit on key length, in UTF-8 bytes.
pub const MAX_KEY_LEN: usize = 1024;

const COPY_SOURCE: &str = "x-amz-copy-source";

/// A parsed `x-amz-copy-source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

/// One S3 operation. `Unknown` is answered with 501 NotImplemented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket {
        bucket: String,
    },
    HeadBucket {
        bucket: String,
    },
    DeleteBucket {
        bucket: String,
    },
    GetBucketLocation {
        bucket: String,
    },
    GetBucketVersioning {
        bucket: String,
    },
    PutBucketVersioning {
        bucket: String,
    },
    GetBucketObjectLockConfig {
        bucket: String,
    },
    GetBucketCors {
        bucket: String,
    },
    PutBucketCors {
        bucket: String,
    },
    DeleteBucketCors {
        bucket: String,
    },
    GetBucketLifecycle {
        bucket: String,
    },
    PutBucketLifecycle {
        bucket: String,
    },
    DeleteBucketLifecycle {
        bucket: String,
    },
    GetBucketPolicy {
        bucket: String,
    },
    PutBucketPolicy {
        bucket: String,
    },
    DeleteBucketPolicy {
        bucket: String,
    },
    GetBucketPolicyStatus {
        bucket: String,
    },
    GetBucketEncryption {
        bucket: String,
    },
    PutBucketEncryption {
        bucket: String,
    },
    DeleteBucketEncryption {
        bucket: String,
    },
    GetBucketTagging {
        bucket: String,
    },
    PutBucketTagging {
        bucket: String,
    },
    DeleteBucketTagging {
        bucket: String,
    },
    GetBucketAcl {
        bucket: String,
    },
    /// V1 listing (no `list-type`, or any value but 2).
    ListObjects {
        bucket: String,
    },
    ListObjectsV2 {
        bucket: String,
    },
    ListObjectVersions {
        bucket: String,
    },
    ListMultipartUploads {
        bucket: String,
    },
    DeleteObjects {
        bucket: String,
    },
    /// A browser form upload: the key is a form field.
    PostObject {
        bucket: String,
    },
    PutObject {
        bucket: String,
        key: String,
    },
    CopyObject {
        bucket: String,
        key: String,
        source: CopySource,
    },
    GetObject {
        bucket: String,
        key: String,
        version_id: Option<String>,
        part_number: Option<u32>,
    },
    HeadObject {
        bucket: String,
        key: String,
        version_id: Option<String>,
        part_number: Option<u32>,
    },
    DeleteObject {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    GetObjectTagging {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    GetObjectAttributes {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    PutObjectTagging {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    DeleteObjectTagging {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    GetObjectAcl {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    CreateMultipartUpload {
        bucket: String,
        key: String,
    },
    UploadPart {
        bucket: String,
        key: String,
        part_number: u32,
        upload_id: String,
    },
    UploadPartCopy {
        bucket: String,
        key: String,
        part_number: u32,
        upload_id: String,
        source: CopySource,
    },
    CompleteMultipartUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    AbortMultipartUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    ListParts {
        bucket: String,
        key: String,
        upload_id: String,
    },
    /// CORS preflight; the caller answers it from the bucket's CORS config.
    Options {
        bucket: Option<String>,
        key: Option<String>,
    },
    Unknown {
        bucket: Option<String>,
        key: Option<String>,
    },
}

impl Endpoint {
    /// Parses a request. `raw_path` and `raw_query` are exactly as received
    /// (still percent-encoded); `host` is the Host header or `:authority`.
    pub fn parse(
        method: &Method,
        raw_path: &str,
        raw_query: &str,
        host: Option<&str>,
        domain: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Endpoint, S3Error> {
        let query = parse_query(raw_query);
        Self::parse_with_query(method, raw_path, &query, host, domain, headers)
    }

    /// As [`Endpoint::parse`], for callers that already ran [`parse_query`]
    /// and want to reuse it for listing parameters.
    pub fn parse_with_query(
        method: &Method,
        raw_path: &str,
        query: &[(String, String)],
        host: Option<&str>,
        domain: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<Endpoint, S3Error> {
        let (bucket, key) = split_path(raw_path, host, domain)?;
        if method == Method::OPTIONS {
            return Ok(Endpoint::Options { bucket, key });
        }
        match (bucket, key) {
            (None, _) if method == Method::GET => Ok(Endpoint::ListBuckets),
            (None, _) => Ok(Endpoint::Unknown {
                bucket: None,
                key: None,
            }),
            (Some(bucket), None) => Ok(bucket_endpoint(method, bucket, query)),
            (Some(bucket), Some(key)) => object_endpoint(method, bucket, key, query, headers),
        }
    }

    /// The operation's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        use Endpoint::*;
        match self {
            ListBuckets => "ListBuckets",
            CreateBucket { .. } => "CreateBucket",
            HeadBucket { .. } => "HeadBucket",
            DeleteBucket { .. } => "DeleteBucket",
            GetBucketLocation { .. } => "GetBucketLocation",
            GetBucketVersioning { .. } => "GetBucketVersioning",
            PutBucketVersioning { .. } => "PutBucketVersioning",
            GetBucketObjectLockConfig { .. } => "GetBucketObjectLockConfig",
            GetBucketCors { .. } => "GetBucketCors",
            PutBucketCors { .. } => "PutBucketCors",
            DeleteBucketCors { .. } => "DeleteBucketCors",
            GetBucketLifecycle { .. } => "GetBucketLifecycle",
            PutBucketLifecycle { .. } => "PutBucketLifecycle",
            DeleteBucketLifecycle { .. } => "DeleteBucketLifecycle",
            GetBucketPolicy { .. } => "GetBucketPolicy",
            PutBucketPolicy { .. } => "PutBucketPolicy",
            DeleteBucketPolicy { .. } => "DeleteBucketPolicy",
            GetBucketPolicyStatus { .. } => "GetBucketPolicyStatus",
            GetBucketEncryption { .. } => "GetBucketEncryption",
            PutBucketEncryption { .. } => "PutBucketEncryption",
            DeleteBucketEncryption { .. } => "DeleteBucketEncryption",
            GetBucketTagging { .. } => "GetBucketTagging",
            PutBucketTagging { .. } => "PutBucketTagging",
            DeleteBucketTagging { .. } => "DeleteBucketTagging",
            GetBucketAcl { .. } => "GetBucketAcl",
            ListObjects { .. } => "ListObjects",
            ListObjectsV2 { .. } => "ListObjectsV2",
            ListObjectVersions { .. } => "ListObjectVersions",
            ListMultipartUploads { .. } => "ListMultipartUploads",
            DeleteObjects { .. } => "DeleteObjects",
            PostObject { .. } => "PostObject",
            PutObject { .. } => "PutObject",
            CopyObject { .. } => "CopyObject",
            GetObject { .. } => "GetObject",
            HeadObject { .. } => "HeadObject",
            DeleteObject { .. } => "DeleteObject",
            GetObjectTagging { .. } => "GetObjectTagging",
            GetObjectAttributes { .. } => "GetObjectAttributes",
            PutObjectTagging { .. } => "PutObjectTagging",
            DeleteObjectTagging { .. } => "DeleteObjectTagging",
            GetObjectAcl { .. } => "GetObjectAcl",
            CreateMultipartUpload { .. } => "CreateMultipartUpload",
            UploadPart { .. } => "UploadPart",
            UploadPartCopy { .. } => "UploadPartCopy",
            CompleteMultipartUpload { .. } => "CompleteMultipartUpload",
            AbortMultipartUpload { .. } => "AbortMultipartUpload",
            ListParts { .. } => "ListParts",
            Options { .. } => "Options",
            Unknown { .. } => "Unknown",
        }
    }

    /// The target bucket, if the request names one.
    pub fn bucket(&self) -> Option<&str> {
        use Endpoint::*;
        match self {
            ListBuckets => None,
            Options { bucket, .. } | Unknown { bucket, .. } => bucket.as_deref(),
            CreateBucket { bucket }
            | HeadBucket { bucket }
            | DeleteBucket { bucket }
            | GetBucketLocation { bucket }
            | GetBucketVersioning { bucket }
            | PutBucketVersioning { bucket }
            | GetBucketObjectLockConfig { bucket }
            | GetBucketCors { bucket }
            | PutBucketCors { bucket }
            | DeleteBucketCors { bucket }
            | GetBucketLifecycle { bucket }
            | PutBucketLifecycle { bucket }
            | DeleteBucketLifecycle { bucket }
            | GetBucketPolicy { bucket }
            | PutBucketPolicy { bucket }
            | DeleteBucketPolicy { bucket }
            | GetBucketPolicyStatus { bucket }
            | GetBucketEncryption { bucket }
            | PutBucketEncryption { bucket }
            | DeleteBucketEncryption { bucket }
            | GetBucketTagging { bucket }
            | PutBucketTagging { bucket }
            | DeleteBucketTagging { bucket }
            | GetBucketAcl { bucket }
            | ListObjects { bucket }
            | ListObjectsV2 { bucket }
            | ListObjectVersions { bucket }
            | ListMultipartUploads { bucket }
            | DeleteObjects { bucket }
            | PostObject { bucket } => Some(bucket),
            PutObject { bucket, .. }
            | CopyObject { bucket, .. }
            | GetObject { bucket, .. }
            | HeadObject { bucket, .. }
            | DeleteObject { bucket, .. }
            | GetObjectTagging { bucket, .. }
            | GetObjectAttributes { bucket, .. }
            | PutObjectTagging { bucket, .. }
            | DeleteObjectTagging { bucket, .. }
            | GetObjectAcl { bucket, .. }
            | CreateMultipartUpload { bucket, .. }
            | UploadPart { bucket, .. }
            | UploadPartCopy { bucket, .. }
            | CompleteMultipartUpload { bucket, .. }
            | AbortMultipartUpload { bucket, .. }
            | ListParts { bucket, .. } => Some(bucket),
        }
    }

    /// The target key, for object operations.
    pub fn key(&self) -> Option<&str> {
        use Endpoint::*;
        match self {
            Options { key, .. } | Unknown { key, .. } => key.as_deref(),
            PutObject { key, .. }
            | CopyObject { key, .. }
            | GetObject { key, .. }
            | HeadObject { key, .. }
            | DeleteObject { key, .. }
            | GetObjectTagging { key, .. }
            | GetObjectAttributes { key, .. }
            | PutObjectTagging { key, .. }
            | DeleteObjectTagging { key, .. }
            | GetObjectAcl { key, .. }
            | CreateMultipartUpload { key, .. }
            | UploadPart { key, .. }
            | UploadPartCopy { key, .. }
            | CompleteMultipartUpload { key, .. }
            | AbortMultipartUpload { key, .. }
            | ListParts { key, .. } => Some(key),
            _ => None,
        }
    }

    /// `/bucket` or `/bucket/key`, for `<Resource>` in error documents.
    pub fn resource(&self) -> String {
        match (self.bucket(), self.key()) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------

/// Splits and decodes a raw query string (`a=1&b&c=x+y%21`) in order.
/// `+` decodes to a space, a parameter without `=` gets an empty value, and
/// invalid UTF-8 is replaced rather than rejected (no S3 parameter we route
/// on can legitimately contain it).
pub fn parse_query(raw: &str) -> Vec<(String, String)> {
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

/// The first value of `name` (case-sensitive, as S3 parameter names are).
pub fn query_get<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether `name` is present, with or without a value.
pub fn query_has(query: &[(String, String)], name: &str) -> bool {
    query.iter().any(|(k, _)| k == name)
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
fn vhost_bucket(host: Option<&str>, domain: Option<&str>) -> Option<String> {
    let domain = host_name(domain?.trim_start_matches('.'));
    if domain.is_empty() {
        return None;
    }
    let host = host_name(host?);
    let bucket = host.strip_suffix(&domain)?.strip_suffix('.')?;
    (!bucket.is_empty()).then(|| bucket.to_string())
}

fn decode_bucket(raw: &str) -> Result<String, S3Error> {
    let invalid = || S3Error::from_code(S3Code::InvalidBucketName);
    let b = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid())?
        .into_owned();
    if b.is_empty() || b.contains('/') {
        return Err(invalid());
    }
    Ok(b)
}

/// Decodes a key, checking S3's length limit on the decoded bytes.
fn decode_key(raw: &str) -> Result<String, S3Error> {
    let bytes: Vec<u8> = percent_decode_str(raw).collect();
    if bytes.len() > MAX_KEY_LEN {
        return Err(S3Error::from_code(S3Code::KeyTooLongError));
    }
    String::from_utf8(bytes)
        .map_err(|_| S3Error::new(S3Code::InvalidArgument, "Object key is not valid UTF-8"))
}

/// `(bucket, key)` from the path and Host. An empty key means a bucket-level
/// request (`/bucket` and `/bucket/` are the same resource to S3).
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
            (Some(decode_bucket(raw_bucket)?), rest)
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
    let bucket = decode_bucket(raw_bucket).map_err(|_| invalid())?;
    let key = decode_key(raw_key)?;
    let version_id = match query_get(&parse_query(query), "versionId") {
        Some("") => {
            return Err(S3Error::new(
                S3Code::InvalidArgument,
                "Version id cannot be the empty string",
            ))
        }
        Some(v) => Some(v.to_string()),
        None => None,
    };
    Ok(CopySource {
        bucket,
        key,
        version_id,
    })
}

// ---------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------

/// Subresources S3 has but cairn does not implement: their presence must
/// never fall through to a default operation (a GET `?website` must not
/// answer with a listing, a PUT `?retention` must not overwrite the object).
const UNSUPPORTED_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "analytics",
    "attributes",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "logging",
    "metadataConfiguration",
    "metadataTable",
    "metrics",
    "notification",
    "ownershipControls",
    "publicAccessBlock",
    "renameObject",
    "replication",
    "requestPayment",
    "restore",
    "retention",
    "select",
    "session",
    "torrent",
    "website",
];

fn has_unsupported(query: &[(String, String)]) -> bool {
    query
        .iter()
        .any(|(k, _)| UNSUPPORTED_SUBRESOURCES.contains(&k.as_str()))
}

fn bucket_endpoint(method: &Method, bucket: String, q: &[(String, String)]) -> Endpoint {
    use Endpoint::*;
    let has = |name| query_has(q, name);
    let unknown = |bucket| Unknown {
        bucket: Some(bucket),
        key: None,
    };
    if has_unsupported(q) {
        return unknown(bucket);
    }
    match *method {
        Method::GET => {
            if has("location") {
                GetBucketLocation { bucket }
            } else if has("versioning") {
                GetBucketVersioning { bucket }
            } else if has("object-lock") {
                GetBucketObjectLockConfig { bucket }
            } else if has("cors") {
                GetBucketCors { bucket }
            } else if has("lifecycle") {
                GetBucketLifecycle { bucket }
            } else if has("policyStatus") {
                GetBucketPolicyStatus { bucket }
            } else if has("policy") {
                GetBucketPolicy { bucket }
            } else if has("encryption") {
                GetBucketEncryption { bucket }
            } else if has("tagging") {
                GetBucketTagging { bucket }
            } else if has("acl") {
                GetBucketAcl { bucket }
            } else if has("uploads") {
                ListMultipartUploads { bucket }
            } else if has("versions") {
                ListObjectVersions { bucket }
            } else if has("delete") || has("uploadId") || has("partNumber") {
                unknown(bucket)
            } else if query_get(q, "list-type") == Some("2") {
                ListObjectsV2 { bucket }
            } else {
                ListObjects { bucket }
            }
        }
        Method::HEAD => HeadBucket { bucket },
        Method::PUT => {
            if has("versioning") {
                PutBucketVersioning { bucket }
            } else if has("cors") {
                PutBucketCors { bucket }
            } else if has("lifecycle") {
                PutBucketLifecycle { bucket }
            } else if has("policy") {
                PutBucketPolicy { bucket }
            } else if has("encryption") {
                PutBucketEncryption { bucket }
            } else if has("tagging") {
                PutBucketTagging { bucket }
            } else if has("acl")
                || has("object-lock")
                || has("location")
                || has("uploads")
                || has("uploadId")
                || has("delete")
            {
                unknown(bucket)
            } else {
                CreateBucket { bucket }
            }
        }
        Method::DELETE => {
            if has("cors") {
                DeleteBucketCors { bucket }
            } else if has("lifecycle") {
                DeleteBucketLifecycle { bucket }
            } else if has("policy") {
                DeleteBucketPolicy { bucket }
            } else if has("encryption") {
                DeleteBucketEncryption { bucket }
            } else if has("tagging") {
                DeleteBucketTagging { bucket }
            } else if has("acl")
                || has("versioning")
                || has("object-lock")
                || has("uploads")
                || has("uploadId")
                || has("delete")
            {
                unknown(bucket)
            } else {
                DeleteBucket { bucket }
            }
        }
        // POST ?delete is DeleteObjects; a bare POST is a browser form
        // upload (PostObject, IAM action s3:PutObject).
        Method::POST if has("delete") => DeleteObjects { bucket },
        Method::POST if q.is_empty() => PostObject { bucket },
        _ => unknown(bucket),
    }
}

fn version_id(q: &[(String, String)]) -> Result<Option<String>, S3Error> {
    match query_get(q, "versionId") {
        // AWS rejects an explicitly empty versionId rather than ignoring it.
        Some("") => Err(S3Error::new(
            S3Code::InvalidArgument,
            "Version id cannot be the empty string",
        )),
        Some(v) => Ok(Some(v.to_string())),
        None => Ok(None),
    }
}

fn part_number(q: &[(String, String)]) -> Result<Option<u32>, S3Error> {
    let Some(raw) = query_get(q, "partNumber") else {
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
        Ok(n) if (1..=10_000).contains(&n) => Ok(Some(n)),
        _ => Err(bad()),
    }
}

fn copy_source(headers: &HeaderMap) -> Result<Option<CopySource>, S3Error> {
    let Some(v) = headers.get(COPY_SOURCE) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| S3Error::new(S3Code::InvalidArgument, "Invalid x-amz-copy-source header"))?;
    parse_copy_source(v).map(Some)
}

fn object_endpoint(
    method: &Method,
    bucket: String,
    key: String,
    q: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Endpoint, S3Error> {
    use Endpoint::*;
    let has = |name| query_has(q, name);
    let upload_id = query_get(q, "uploadId").map(str::to_string);
    // `attributes` is unsupported on buckets only.
    if *method == Method::GET && has("attributes") {
        return Ok(GetObjectAttributes {
            bucket,
            key,
            version_id: version_id(q)?,
        });
    }
    if has_unsupported(q) {
        return Ok(Unknown {
            bucket: Some(bucket),
            key: Some(key),
        });
    }
    let ep = match *method {
        Method::GET | Method::HEAD => {
            if *method == Method::GET && has("uploads") {
                return Err(S3Error::new(
                    S3Code::InvalidRequest,
                    "Key is not expected for the GET method ?uploads subresource",
                ));
            }
            if has("versions") {
                return Err(S3Error::new(
                    S3Code::InvalidRequest,
                    "There is no such thing as the ?versions sub-resource for a key",
                ));
            }
            let is_get = *method == Method::GET;
            if is_get && has("tagging") {
                GetObjectTagging {
                    bucket,
                    key,
                    version_id: version_id(q)?,
                }
            } else if is_get && has("acl") {
                GetObjectAcl {
                    bucket,
                    key,
                    version_id: version_id(q)?,
                }
            } else if let (true, Some(upload_id)) = (is_get, upload_id) {
                ListParts {
                    bucket,
                    key,
                    upload_id,
                }
            } else if has("tagging") || has("acl") || has("uploadId") {
                // HEAD on a subresource is not an S3 operation.
                Unknown {
                    bucket: Some(bucket),
                    key: Some(key),
                }
            } else {
                let version_id = version_id(q)?;
                let part_number = part_number(q)?;
                if is_get {
                    GetObject {
                        bucket,
                        key,
                        version_id,
                        part_number,
                    }
                } else {
                    HeadObject {
                        bucket,
                        key,
                        version_id,
                        part_number,
                    }
                }
            }
        }
        Method::PUT => {
            if has("tagging") {
                PutObjectTagging {
                    bucket,
                    key,
                    version_id: version_id(q)?,
                }
            } else if has("acl") || has("uploads") {
                Unknown {
                    bucket: Some(bucket),
                    key: Some(key),
                }
            } else if let Some(upload_id) = upload_id {
                let part_number = part_number(q)?.ok_or_else(|| {
                    S3Error::new(
                        S3Code::InvalidArgument,
                        "partNumber is required with uploadId",
                    )
                })?;
                match copy_source(headers)? {
                    Some(source) => UploadPartCopy {
                        bucket,
                        key,
                        part_number,
                        upload_id,
                        source,
                    },
                    None => UploadPart {
                        bucket,
                        key,
                        part_number,
                        upload_id,
                    },
                }
            } else {
                // A stray partNumber without uploadId is ignored, as S3
                // ignores query parameters an operation does not take.
                match copy_source(headers)? {
                    Some(source) => CopyObject {
                        bucket,
                        key,
                        source,
                    },
                    None => PutObject { bucket, key },
                }
            }
        }
        Method::DELETE => {
            if has("tagging") {
                DeleteObjectTagging {
                    bucket,
                    key,
                    version_id: version_id(q)?,
                }
            } else if let Some(upload_id) = upload_id {
                AbortMultipartUpload {
                    bucket,
                    key,
                    upload_id,
                }
            } else if has("acl") || has("uploads") {
                Unknown {
                    bucket: Some(bucket),
                    key: Some(key),
                }
            } else {
                DeleteObject {
                    bucket,
                    key,
                    version_id: version_id(q)?,
                }
            }
        }
        Method::POST => {
            if has("uploads") {
                CreateMultipartUpload { bucket, key }
            } else if let Some(upload_id) = upload_id {
                CompleteMultipartUpload {
                    bucket,
                    key,
                    upload_id,
                }
            } else {
                Unknown {
                    bucket: Some(bucket),
                    key: Some(key),
                }
            }
        }
        _ => Unknown {
            bucket: Some(bucket),
            key: Some(key),
        },
    };
    Ok(ep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn route(method: Method, target: &str) -> Result<Endpoint, S3Error> {
        route_h(method, target, &HeaderMap::new())
    }

    fn route_h(method: Method, target: &str, headers: &HeaderMap) -> Result<Endpoint, S3Error> {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Endpoint::parse(&method, path, query, Some("localhost:9000"), None, headers)
    }

    fn ok(method: Method, target: &str) -> Endpoint {
        route(method, target).unwrap_or_else(|e| panic!("{target}: {e}"))
    }

    fn b(s: &str) -> String {
        s.to_string()
    }

    fn copy_headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COPY_SOURCE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn service_level() {
        assert_eq!(ok(Method::GET, "/"), Endpoint::ListBuckets);
        assert_eq!(ok(Method::GET, ""), Endpoint::ListBuckets);
        assert_eq!(ok(Method::GET, "/?x-id=ListBuckets"), Endpoint::ListBuckets);
        assert_eq!(
            ok(Method::PUT, "/"),
            Endpoint::Unknown {
                bucket: None,
                key: None
            }
        );
        assert_eq!(
            ok(Method::HEAD, "/"),
            Endpoint::Unknown {
                bucket: None,
                key: None
            }
        );
    }

    #[test]
    fn bucket_operations() {
        use Endpoint::*;
        let bk = || b("bkt");
        let cases: Vec<(Method, &str, Endpoint)> = vec![
            (Method::PUT, "/bkt", CreateBucket { bucket: bk() }),
            (Method::PUT, "/bkt/", CreateBucket { bucket: bk() }),
            (Method::HEAD, "/bkt", HeadBucket { bucket: bk() }),
            (Method::DELETE, "/bkt", DeleteBucket { bucket: bk() }),
            (
                Method::GET,
                "/bkt?location",
                GetBucketLocation { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?versioning",
                GetBucketVersioning { bucket: bk() },
            ),
            (
                Method::PUT,
                "/bkt?versioning",
                PutBucketVersioning { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?object-lock",
                GetBucketObjectLockConfig { bucket: bk() },
            ),
            (Method::GET, "/bkt?cors", GetBucketCors { bucket: bk() }),
            (Method::PUT, "/bkt?cors", PutBucketCors { bucket: bk() }),
            (
                Method::DELETE,
                "/bkt?cors",
                DeleteBucketCors { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?lifecycle",
                GetBucketLifecycle { bucket: bk() },
            ),
            (
                Method::PUT,
                "/bkt?lifecycle",
                PutBucketLifecycle { bucket: bk() },
            ),
            (
                Method::DELETE,
                "/bkt?lifecycle",
                DeleteBucketLifecycle { bucket: bk() },
            ),
            (Method::GET, "/bkt?policy", GetBucketPolicy { bucket: bk() }),
            (Method::PUT, "/bkt?policy", PutBucketPolicy { bucket: bk() }),
            (
                Method::DELETE,
                "/bkt?policy",
                DeleteBucketPolicy { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?policyStatus",
                GetBucketPolicyStatus { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?encryption",
                GetBucketEncryption { bucket: bk() },
            ),
            (
                Method::PUT,
                "/bkt?encryption",
                PutBucketEncryption { bucket: bk() },
            ),
            (
                Method::DELETE,
                "/bkt?encryption",
                DeleteBucketEncryption { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?tagging",
                GetBucketTagging { bucket: bk() },
            ),
            (
                Method::PUT,
                "/bkt?tagging",
                PutBucketTagging { bucket: bk() },
            ),
            (
                Method::DELETE,
                "/bkt?tagging",
                DeleteBucketTagging { bucket: bk() },
            ),
            (Method::GET, "/bkt?acl", GetBucketAcl { bucket: bk() }),
            (Method::GET, "/bkt", ListObjects { bucket: bk() }),
            (Method::GET, "/bkt/", ListObjects { bucket: bk() }),
            (
                Method::GET,
                "/bkt?prefix=a&delimiter=%2F&max-keys=5",
                ListObjects { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?list-type=1",
                ListObjects { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?list-type=bogus",
                ListObjects { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?list-type=2",
                ListObjectsV2 { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?list-type=2&prefix=&encoding-type=url&fetch-owner=true",
                ListObjectsV2 { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?versions",
                ListObjectVersions { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?versions&prefix=x",
                ListObjectVersions { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?uploads",
                ListMultipartUploads { bucket: bk() },
            ),
            (
                Method::GET,
                "/bkt?uploads=",
                ListMultipartUploads { bucket: bk() },
            ),
            (Method::POST, "/bkt?delete", DeleteObjects { bucket: bk() }),
            (Method::POST, "/bkt?delete=", DeleteObjects { bucket: bk() }),
            (Method::POST, "/bkt", PostObject { bucket: bk() }),
            (Method::POST, "/bkt/", PostObject { bucket: bk() }),
        ];
        for (m, target, want) in cases {
            assert_eq!(ok(m.clone(), target), want, "{m} {target}");
        }
    }

    #[test]
    fn unsupported_bucket_subresources_are_unknown() {
        let unknown = Endpoint::Unknown {
            bucket: Some(b("bkt")),
            key: None,
        };
        for (m, target) in [
            (Method::GET, "/bkt?website"),
            (Method::GET, "/bkt?logging"),
            (Method::GET, "/bkt?notification"),
            (Method::GET, "/bkt?replication"),
            (Method::GET, "/bkt?publicAccessBlock"),
            (Method::GET, "/bkt?ownershipControls"),
            (Method::GET, "/bkt?list-type=2&website"),
            (Method::GET, "/bkt?delete"),
            (Method::PUT, "/bkt?website"),
            (Method::PUT, "/bkt?acl"),
            (Method::PUT, "/bkt?object-lock"),
            (Method::DELETE, "/bkt?website"),
            (Method::DELETE, "/bkt?versioning"),
            (Method::POST, "/bkt?website"),
            (Method::PATCH, "/bkt"),
        ] {
            assert_eq!(ok(m.clone(), target), unknown, "{m} {target}");
        }
    }

    #[test]
    fn object_operations() {
        use Endpoint::*;
        let (bk, k) = (|| b("bkt"), || b("dir/obj.txt"));
        let cases: Vec<(Method, &str, Endpoint)> = vec![
            (
                Method::PUT,
                "/bkt/dir/obj.txt",
                PutObject {
                    bucket: bk(),
                    key: k(),
                },
            ),
            (
                Method::GET,
                "/bkt/dir/obj.txt",
                GetObject {
                    bucket: bk(),
                    key: k(),
                    version_id: None,
                    part_number: None,
                },
            ),
            (
                Method::GET,
                "/bkt/dir/obj.txt?versionId=v1&partNumber=3&x-id=GetObject",
                GetObject {
                    bucket: bk(),
                    key: k(),
                    version_id: Some(b("v1")),
                    part_number: Some(3),
                },
            ),
            (
                Method::GET,
                "/bkt/dir/obj.txt?response-content-type=text%2Fplain",
                GetObject {
                    bucket: bk(),
                    key: k(),
                    version_id: None,
                    part_number: None,
                },
            ),
            (
                Method::HEAD,
                "/bkt/dir/obj.txt?versionId=null",
                HeadObject {
                    bucket: bk(),
                    key: k(),
                    version_id: Some(b("null")),
                    part_number: None,
                },
            ),
            (
                Method::DELETE,
                "/bkt/dir/obj.txt",
                DeleteObject {
                    bucket: bk(),
                    key: k(),
                    version_id: None,
                },
            ),
            (
                Method::DELETE,
                "/bkt/dir/obj.txt?versionId=abc%2B",
                DeleteObject {
                    bucket: bk(),
                    key: k(),
                    version_id: Some(b("abc+")),
                },
            ),
            (
                Method::GET,
                "/bkt/dir/obj.txt?tagging",
                GetObjectTagging {
                    bucket: bk(),
                    key: k(),
                    version_id: None,
                },
            ),
            (
                Method::PUT,
                "/bkt/dir/obj.txt?tagging&versionId=v",
                PutObjectTagging {
                    bucket: bk(),
                    key: k(),
                    version_id: Some(b("v")),
                },
            ),
            (
                Method::DELETE,
                "/bkt/dir/obj.txt?tagging",
                DeleteObjectTagging {
                    bucket: bk(),
                    key: k(),
                    version_id: None,
                },
            ),
            (
                Method::GET,
                "/bkt/dir/obj.txt?acl",
                GetObjectAcl {
                    bucket: bk(),
                    key: k(),
                    version_id: None,
                },
            ),
            (
                Method::POST,
                "/bkt/dir/obj.txt?uploads",
                CreateMultipartUpload {
                    bucket: bk(),
                    key: k(),
                },
            ),
            (
                Method::POST,
                "/bkt/dir/obj.txt?uploads=",
                CreateMultipartUpload {
                    bucket: bk(),
                    key: k(),
                },
            ),
            (
                Method::PUT,
                "/bkt/dir/obj.txt?partNumber=1&uploadId=UP%2F1",
                UploadPart {
                    bucket: bk(),
                    key: k(),
                    part_number: 1,
                    upload_id: b("UP/1"),
                },
            ),
            (
                Method::PUT,
                "/bkt/dir/obj.txt?uploadId=U&partNumber=10000",
                UploadPart {
                    bucket: bk(),
                    key: k(),
                    part_number: 10000,
                    upload_id: b("U"),
                },
            ),
            (
                Method::POST,
                "/bkt/dir/obj.txt?uploadId=U",
                CompleteMultipartUpload {
                    bucket: bk(),
                    key: k(),
                    upload_id: b("U"),
                },
            ),
            (
                Method::DELETE,
                "/bkt/dir/obj.txt?uploadId=U",
                AbortMultipartUpload {
                    bucket: bk(),
                    key: k(),
                    upload_id: b("U"),
                },
            ),
            (
                Method::GET,
                "/bkt/dir/obj.txt?uploadId=U&max-parts=10&part-number-marker=2",
                ListParts {
                    bucket: bk(),
                    key: k(),
                    upload_id: b("U"),
                },
            ),
            (
                Method::PUT,
                "/bkt/dir/obj.txt?partNumber=1",
                PutObject {
                    bucket: bk(),
                    key: k(),
                },
            ),
        ];
        for (m, target, want) in cases {
            assert_eq!(ok(m.clone(), target), want, "{m} {target}");
        }
    }

    #[test]
    fn copy_operations() {
        use Endpoint::*;
        let h = copy_headers("/src-bkt/a%20b/c%2Bd.txt?versionId=v9");
        let src = CopySource {
            bucket: b("src-bkt"),
            key: b("a b/c+d.txt"),
            version_id: Some(b("v9")),
        };
        assert_eq!(
            route_h(Method::PUT, "/bkt/dst", &h).unwrap(),
            CopyObject {
                bucket: b("bkt"),
                key: b("dst"),
                source: src.clone()
            }
        );
        assert_eq!(
            route_h(Method::PUT, "/bkt/dst?partNumber=2&uploadId=U", &h).unwrap(),
            UploadPartCopy {
                bucket: b("bkt"),
                key: b("dst"),
                part_number: 2,
                upload_id: b("U"),
                source: src,
            }
        );
        // The copy-source header does not turn other methods into copies.
        assert_eq!(
            route_h(Method::GET, "/bkt/dst", &h).unwrap().name(),
            "GetObject"
        );
        let bad = copy_headers("nokey");
        assert_eq!(
            route_h(Method::PUT, "/bkt/dst", &bad).unwrap_err().code,
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
                version_id: None
            }
        );
        assert_eq!(p("/bkt//a//b/").unwrap().key, "/a//b/");
        assert_eq!(p("/bkt/a%3Fb").unwrap().key, "a?b");
        assert_eq!(p("/bkt/a+b").unwrap().key, "a+b");
        assert_eq!(p("/bkt/%E2%82%AC").unwrap().key, "€");
        assert_eq!(
            p("/bkt/k?versionId=a%2Bb").unwrap().version_id,
            Some(b("a+b"))
        );
        assert_eq!(p("/bkt/k?other=1").unwrap().version_id, None);
        for bad in [
            "", "/", "bkt", "bkt/", "/bkt/", "/bkt", "//key", "/%FF/k", "/a%2Fb/k",
        ] {
            assert_eq!(p(bad).unwrap_err().code, S3Code::InvalidArgument, "{bad}");
        }
        assert_eq!(
            p("/bkt/k?versionId=").unwrap_err().code,
            S3Code::InvalidArgument
        );
        assert_eq!(p("/bkt/%FF").unwrap_err().code, S3Code::InvalidArgument);
        let long = format!("/bkt/{}", "k".repeat(1025));
        assert_eq!(p(&long).unwrap_err().code, S3Code::KeyTooLongError);
    }

    #[test]
    fn object_level_errors_and_unknowns() {
        assert_eq!(
            route(Method::GET, "/bkt/k?uploads").unwrap_err().code,
            S3Code::InvalidRequest
        );
        assert_eq!(
            route(Method::GET, "/bkt/k?versions").unwrap_err().code,
            S3Code::InvalidRequest
        );
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
                route(Method::GET, target).unwrap_err().code,
                S3Code::InvalidArgument,
                "{target}"
            );
        }
        assert_eq!(
            route(Method::PUT, "/bkt/k?uploadId=U").unwrap_err().code,
            S3Code::InvalidArgument
        );
        assert_eq!(
            route(Method::PUT, "/bkt/k?uploadId=U&partNumber=0")
                .unwrap_err()
                .code,
            S3Code::InvalidArgument
        );
        let unknown = Endpoint::Unknown {
            bucket: Some(b("bkt")),
            key: Some(b("k")),
        };
        for (m, target) in [
            (Method::GET, "/bkt/k?retention"),
            (Method::GET, "/bkt/k?legal-hold"),
            (Method::HEAD, "/bkt/k?attributes"),
            (Method::PUT, "/bkt/k?attributes"),
            (Method::GET, "/bkt/k?torrent"),
            (Method::PUT, "/bkt/k?acl"),
            (Method::PUT, "/bkt/k?retention"),
            (Method::POST, "/bkt/k?restore"),
            (Method::POST, "/bkt/k?select&select-type=2"),
            (Method::POST, "/bkt/k"),
            (Method::HEAD, "/bkt/k?tagging"),
            (Method::PATCH, "/bkt/k"),
        ] {
            assert_eq!(ok(m.clone(), target), unknown, "{m} {target}");
        }
    }

    #[test]
    fn object_attributes_route() {
        assert_eq!(
            ok(Method::GET, "/bkt/k?attributes&versionId=null"),
            Endpoint::GetObjectAttributes {
                bucket: b("bkt"),
                key: b("k"),
                version_id: Some(b("null")),
            }
        );
        assert_eq!(
            ok(Method::GET, "/bkt?attributes"),
            Endpoint::Unknown {
                bucket: Some(b("bkt")),
                key: None,
            }
        );
    }

    #[test]
    fn tricky_keys_survive() {
        let key = |target: &str| ok(Method::GET, target).key().map(str::to_string);
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
        assert_eq!(ok(Method::GET, "/bkt/a%2Fb").bucket(), Some("bkt"));
    }

    #[test]
    fn key_limits_and_encoding() {
        let k1024 = "k".repeat(1024);
        assert_eq!(
            ok(Method::PUT, &format!("/bkt/{k1024}")).key(),
            Some(k1024.as_str())
        );
        let k1025 = "k".repeat(1025);
        assert_eq!(
            route(Method::PUT, &format!("/bkt/{k1025}"))
                .unwrap_err()
                .code,
            S3Code::KeyTooLongError
        );
        // The limit is on decoded bytes: 342 x "€" (3 bytes) = 1026 bytes.
        let euros = "%E2%82%AC".repeat(342);
        assert_eq!(
            route(Method::PUT, &format!("/bkt/{euros}"))
                .unwrap_err()
                .code,
            S3Code::KeyTooLongError
        );
        // Encoded form may be long while the decoded key fits.
        let enc = "%41".repeat(1024);
        assert_eq!(
            ok(Method::PUT, &format!("/bkt/{enc}")).key().map(str::len),
            Some(1024)
        );
        for bad in ["/bkt/%FF", "/bkt/a%C3", "/bkt/%ED%A0%80"] {
            assert_eq!(
                route(Method::GET, bad).unwrap_err().code,
                S3Code::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_buckets() {
        for bad in ["/%FF/k", "/%FF", "/a%2Fb/k", "//k"] {
            assert_eq!(
                route(Method::GET, bad).unwrap_err().code,
                S3Code::InvalidBucketName,
                "{bad}"
            );
        }
        assert_eq!(ok(Method::GET, "/my%2Dbucket").bucket(), Some("my-bucket"));
    }

    #[test]
    fn virtual_hosted_style() {
        let h = HeaderMap::new();
        let vh = |host: &str, path: &str, query: &str| {
            Endpoint::parse(
                &Method::GET,
                path,
                query,
                Some(host),
                Some("s3.example.com"),
                &h,
            )
            .unwrap()
        };
        assert_eq!(
            vh("bkt.s3.example.com", "/", ""),
            Endpoint::ListObjects { bucket: b("bkt") }
        );
        assert_eq!(
            vh("bkt.s3.example.com:9000", "", "list-type=2"),
            Endpoint::ListObjectsV2 { bucket: b("bkt") }
        );
        assert_eq!(
            vh("BKT.S3.Example.COM.", "/a//b/", ""),
            Endpoint::GetObject {
                bucket: b("bkt"),
                key: b("a//b/"),
                version_id: None,
                part_number: None
            }
        );
        // Dotted bucket names.
        assert_eq!(
            vh("my.dotted.bkt.s3.example.com", "/k", "").bucket(),
            Some("my.dotted.bkt")
        );
        // The first path segment is part of the key, not a bucket.
        assert_eq!(
            vh("bkt.s3.example.com", "/other/k", "").key(),
            Some("other/k")
        );
        assert_eq!(vh("bkt.s3.example.com", "//k", "").key(), Some("/k"));
        // The bare domain, another host, or no domain: path style.
        assert_eq!(vh("s3.example.com", "/bkt/k", "").bucket(), Some("bkt"));
        assert_eq!(vh("s3.example.com:443", "/", ""), Endpoint::ListBuckets);
        assert_eq!(vh("127.0.0.1:9000", "/bkt/k", "").key(), Some("k"));
        assert_eq!(vh("[::1]:9000", "/bkt/k", "").bucket(), Some("bkt"));
        assert_eq!(vh("evils3.example.com", "/bkt/k", "").bucket(), Some("bkt"));
        assert_eq!(vh(".s3.example.com", "/bkt/k", "").bucket(), Some("bkt"));
        let no_domain = Endpoint::parse(
            &Method::GET,
            "/bkt/k",
            "",
            Some("bkt.s3.example.com"),
            None,
            &h,
        )
        .unwrap();
        assert_eq!(no_domain.bucket(), Some("bkt"));
        assert_eq!(no_domain.key(), Some("k"));
        let no_host =
            Endpoint::parse(&Method::GET, "/bkt/k", "", None, Some("s3.example.com"), &h).unwrap();
        assert_eq!(no_host.key(), Some("k"));
        // Domain configured with a leading dot or a port still matches.
        let dotted = Endpoint::parse(
            &Method::GET,
            "/k",
            "",
            Some("bkt.s3.example.com"),
            Some(".s3.example.com"),
            &h,
        )
        .unwrap();
        assert_eq!(dotted.bucket(), Some("bkt"));
        // Virtual-hosted PUT of a bucket.
        let put = Endpoint::parse(
            &Method::PUT,
            "/",
            "",
            Some("newb.s3.example.com"),
            Some("s3.example.com"),
            &h,
        )
        .unwrap();
        assert_eq!(put, Endpoint::CreateBucket { bucket: b("newb") });
    }

    #[test]
    fn options_requests() {
        assert_eq!(
            ok(Method::OPTIONS, "/bkt/k"),
            Endpoint::Options {
                bucket: Some(b("bkt")),
                key: Some(b("k"))
            }
        );
        assert_eq!(
            ok(Method::OPTIONS, "/"),
            Endpoint::Options {
                bucket: None,
                key: None
            }
        );
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
        assert_eq!(query_get(&q, "a"), Some("1"));
        assert_eq!(query_get(&q, "b"), Some(""));
        assert_eq!(query_get(&q, "A"), None);
        assert!(query_has(&q, "e"));
        assert!(!query_has(&q, "zz"));
        assert_eq!(parse_query(""), vec![]);
        assert_eq!(parse_query("?x=1"), vec![(b("x"), b("1"))]);
        assert_eq!(parse_query("%2B+k=v"), vec![(b("+ k"), b("v"))]);
    }

    #[test]
    fn accessors() {
        let e = ok(Method::GET, "/bkt/some/key");
        assert_eq!(e.name(), "GetObject");
        assert_eq!(e.resource(), "/bkt/some/key");
        let e = ok(Method::GET, "/bkt?list-type=2");
        assert_eq!(e.name(), "ListObjectsV2");
        assert_eq!(e.bucket(), Some("bkt"));
        assert_eq!(e.key(), None);
        assert_eq!(e.resource(), "/bkt");
        assert_eq!(Endpoint::ListBuckets.resource(), "/");
        assert_eq!(Endpoint::ListBuckets.bucket(), None);
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
                        let _ = Endpoint::parse(m, p, q, h, Some("b"), &HeaderMap::new());
                        let _ = Endpoint::parse(m, p, q, h, Some(""), &HeaderMap::new());
                    }
                }
            }
        }
    }
}
