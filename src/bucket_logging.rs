//! Server access logging (issue 17 part 7): a bucket's `LoggingEnabled`
//! configuration as stored in the bucket table (`BucketInfo::logging`,
//! `buckets.json` format 6), one request as a line of S3's server access
//! log format, and the names of the log objects. Pure: `s3/xml_logging.rs`
//! parses and writes the document, `s3/logging.rs` serves
//! Get/PutBucketLogging, `logs/bucket.rs` batches the lines and writes the
//! objects.

use crate::engine::buckets::name_in_tenant;
use std::io::Write as _;

use serde::{Deserialize, Serialize};

use crate::iam::acl::Grant;

/// The account every log object key of the partitioned form names: cairn
/// has one account, the one its ARNs carry.
pub const ACCOUNT_ID: &str = "000000000000";
/// The region every bucket reports.
pub const REGION: &str = "us-east-1";

/// Where a bucket's access log goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLogging {
    pub target_bucket: String,
    /// May be empty; S3 adds no separator.
    pub target_prefix: String,
    /// Grants given on every log object beside the target owner's full
    /// control (resolved to canonical ids and groups when stored).
    #[serde(default)]
    pub target_grants: Vec<Grant>,
    /// `None`: the client sent no `TargetObjectKeyFormat` (simple keys).
    #[serde(default)]
    pub key_format: Option<KeyFormat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyFormat {
    /// `[prefix]YYYY-mm-DD-HH-MM-SS-UNIQUE`.
    Simple,
    /// `[prefix]account/region/bucket/YYYY/mm/DD/YYYY-mm-DD-HH-MM-SS-UNIQUE`.
    Partitioned(DateSource),
}

/// Which day a partitioned key's `YYYY/mm/DD` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DateSource {
    /// The day of the requests it holds (an object holds one day's).
    EventTime,
    /// The day it was written.
    DeliveryTime,
}

impl DateSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DateSource::EventTime => "EventTime",
            DateSource::DeliveryTime => "DeliveryTime",
        }
    }

    pub fn parse(s: &str) -> Option<DateSource> {
        match s {
            "EventTime" => Some(DateSource::EventTime),
            "DeliveryTime" => Some(DateSource::DeliveryTime),
            _ => None,
        }
    }
}

impl BucketLogging {
    /// Whether the requests of day `a` and day `b` (Unix ms) may share one
    /// log object: only partitioning by event time cares.
    pub fn same_object(&self, a_ms: u64, b_ms: u64) -> bool {
        match self.key_format {
            Some(KeyFormat::Partitioned(DateSource::EventTime)) => {
                a_ms / 86_400_000 == b_ms / 86_400_000
            }
            _ => true,
        }
    }

    /// The key of a log object of `source`'s requests, the first of them
    /// received at `first_event_ms`, written at `delivery_ms`; `unique`
    /// tells objects written in the same second apart.
    pub fn object_key(
        &self,
        source: &str,
        first_event_ms: u64,
        delivery_ms: u64,
        unique: u64,
    ) -> String {
        let mut k = self.target_prefix.clone();
        if let Some(KeyFormat::Partitioned(src)) = self.key_format {
            let day_ms = match src {
                DateSource::EventTime => first_event_ms,
                DateSource::DeliveryTime => delivery_ms,
            };
            let (y, m, d, ..) = civil(day_ms);
            // A tenant's bucket by the name its users know.
            let source = name_in_tenant(source);
            k.push_str(&format!(
                "{ACCOUNT_ID}/{REGION}/{source}/{y:04}/{m:02}/{d:02}/"
            ));
        }
        let (y, m, d, hh, mm, ss) = civil(delivery_ms);
        k.push_str(&format!(
            "{y:04}-{m:02}-{d:02}-{hh:02}-{mm:02}-{ss:02}-{unique:016X}"
        ));
        k
    }
}

/// UTC calendar fields of Unix milliseconds.
fn civil(ms: u64) -> (i64, i64, i64, u64, u64, u64) {
    let secs = ms / 1000;
    let (y, m, d) = crate::auth::sigv4::civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// How a request was authenticated, for the signature and auth type fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    /// SigV4 (`true`) or SigV2 in the `Authorization` header.
    Header {
        v4: bool,
    },
    /// A presigned URL.
    Query {
        v4: bool,
    },
    /// A browser form (PostObject).
    Form,
}

/// One request, as its log line tells it. Empty strings and `None` are
/// written `-`.
#[derive(Clone, Debug, Default)]
pub struct Record<'a> {
    pub bucket_owner: &'a str,
    pub bucket: &'a str,
    pub time_ms: u64,
    pub remote_ip: &'a str,
    /// The requester's ARN or canonical id; empty when anonymous.
    pub requester: &'a str,
    pub request_id: &'a str,
    pub operation: &'a str,
    pub key: Option<&'a str>,
    /// `METHOD /path?query HTTP/1.1`.
    pub request_uri: &'a str,
    /// 0 for a lifecycle action, which has none (written `-`).
    pub status: u16,
    pub error_code: Option<&'a str>,
    pub bytes_sent: u64,
    pub object_size: Option<u64>,
    /// `None` for a lifecycle action, which has no request to time.
    pub total_ms: Option<u64>,
    pub turnaround_ms: Option<u64>,
    pub referer: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub version_id: Option<&'a str>,
    pub host_id: &'a str,
    pub auth: Option<Auth>,
    pub cipher_suite: Option<&'a str>,
    pub host: Option<&'a str>,
    pub tls_version: Option<&'a str>,
}

impl Record<'_> {
    /// The line, without its newline: space-separated fields in S3's
    /// order, `-` for an empty one, the request URI, referer and user
    /// agent in double quotes.
    pub fn write(&self, out: &mut Vec<u8>) {
        let (y, m, d, hh, mm, ss) = civil(self.time_ms);
        field(out, self.bucket_owner);
        field(out, name_in_tenant(self.bucket));
        let _ = write!(
            out,
            "[{d:02}/{}/{y:04}:{hh:02}:{mm:02}:{ss:02} +0000] ",
            MONTHS[(m as usize).saturating_sub(1) % 12]
        );
        field(out, self.remote_ip);
        field(out, self.requester);
        field(out, self.request_id);
        field(out, self.operation);
        match self.key {
            Some(k) if !k.is_empty() => {
                crate::xmlw::push_s3_url_encoded(out, k);
                out.push(b' ');
            }
            _ => out.extend_from_slice(b"- "),
        }
        quoted(out, Some(self.request_uri));
        number(out, Some(u64::from(self.status)).filter(|&s| s > 0));
        field(out, self.error_code.unwrap_or(""));
        number(out, Some(self.bytes_sent).filter(|&n| n > 0));
        number(out, self.object_size);
        number(out, self.total_ms);
        number(out, self.turnaround_ms);
        quoted(out, self.referer);
        quoted(out, self.user_agent);
        field(out, self.version_id.unwrap_or(""));
        field(out, self.host_id);
        let (sig, kind) = match self.auth {
            None | Some(Auth::Anonymous) => ("", ""),
            Some(Auth::Header { v4 }) => (if v4 { "SigV4" } else { "SigV2" }, "AuthHeader"),
            Some(Auth::Query { v4 }) => (if v4 { "SigV4" } else { "SigV2" }, "QueryString"),
            Some(Auth::Form) => ("SigV4", "AuthHeader"),
        };
        field(out, sig);
        field(out, self.cipher_suite.unwrap_or(""));
        field(out, kind);
        field(out, self.host.unwrap_or(""));
        field(out, self.tls_version.unwrap_or(""));
        // Access point ARN (cairn has none) and "ACL required" (never:
        // ACL decisions are not kept per request).
        out.extend_from_slice(b"- -");
    }
}

/// A bare field and its separator. Spaces and controls would split or
/// break the line: they are written `\xHH`.
fn field(out: &mut Vec<u8>, v: &str) {
    if v.is_empty() {
        out.extend_from_slice(b"- ");
        return;
    }
    for &b in v.as_bytes() {
        if b <= b' ' || b == 0x7f {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b);
        }
    }
    out.push(b' ');
}

/// A quoted field: `"-"` when absent or empty; a quote, a backslash or a
/// control inside is escaped (`\"`, `\\`, `\xHH`) so the line splits
/// unambiguously.
fn quoted(out: &mut Vec<u8>, v: Option<&str>) {
    out.push(b'"');
    match v.filter(|v| !v.is_empty()) {
        None => out.push(b'-'),
        Some(v) => {
            for &b in v.as_bytes() {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    0..=0x1f | 0x7f => {
                        let _ = write!(out, "\\x{b:02X}");
                    }
                    _ => out.push(b),
                }
            }
        }
    }
    out.extend_from_slice(b"\" ");
}

fn number(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(n) => {
            let _ = write!(out, "{n} ");
        }
        None => out.extend_from_slice(b"- "),
    }
}

/// The requester field of a lifecycle action's line: the name S3 writes
/// there, so log readers that pick lifecycle lines by it find cairn's.
pub const LIFECYCLE_REQUESTER: &str = "AmazonS3";
/// The operation field of each key a DeleteObjects deleted, one line each
/// beside the request's own `REST.POST.MULTI_OBJECT_DELETE` line.
pub const BATCH_DELETE: &str = "BATCH.DELETE.OBJECT";

/// The operation field of a lifecycle transition to storage class
/// `class`: S3's own abbreviations for its classes (Glacier Flexible
/// Retrieval has none), `S3.TRANSITION_<CLASS>.OBJECT` for any other.
pub fn transition_operation(class: &str) -> String {
    let short = match class {
        "GLACIER" => return "S3.TRANSITION.OBJECT".into(),
        "STANDARD_IA" => "SIA",
        "ONEZONE_IA" => "ZIA",
        "INTELLIGENT_TIERING" => "INT",
        "GLACIER_IR" => "GIR",
        "DEEP_ARCHIVE" => "GDA",
        other => other,
    };
    format!("S3.TRANSITION_{short}.OBJECT")
}

/// S3's operation field for a request: `REST.<METHOD>.<RESOURCE>` (or
/// `WEBSITE.…` for a website request), the resource named after the
/// operation cairn routed it to (`op`, `Op::name`). A request refused
/// before it was routed names `OBJECT` or `BUCKET` by whether it names a
/// key.
pub fn operation(method: &str, op: &str, has_key: bool, website: bool) -> String {
    let resource = match op {
        "PutObject" | "GetObject" | "HeadObject" | "DeleteObject" | "PostObject"
        | "GetZipMember" | "HeadZipMember" | "Website" => "OBJECT",
        "CopyObject" => return "REST.COPY.OBJECT".into(),
        "UploadPartCopy" => return "REST.COPY.PART".into(),
        "DeleteObjects" => "MULTI_OBJECT_DELETE",
        "ListObjects" | "ListObjectsV2" | "CreateBucket" | "DeleteBucket" | "HeadBucket" => {
            "BUCKET"
        }
        "ListBuckets" => "SERVICE",
        "ListObjectVersions" => "BUCKETVERSIONS",
        "GetBucketLocation" => "LOCATION",
        "GetBucketVersioning" | "PutBucketVersioning" => "VERSIONING",
        "GetBucketLogging" | "PutBucketLogging" => "LOGGING_STATUS",
        "GetBucketObjectLockConfig" | "PutBucketObjectLockConfig" => "OBJECT_LOCK_CONFIGURATION",
        "GetBucketCors" | "PutBucketCors" | "DeleteBucketCors" => "CORS",
        "GetBucketLifecycle" | "PutBucketLifecycle" | "DeleteBucketLifecycle" => "LIFECYCLE",
        "GetBucketWebsite" | "PutBucketWebsite" | "DeleteBucketWebsite" => "WEBSITE",
        "GetBucketNotificationConfiguration" | "PutBucketNotificationConfiguration" => {
            "NOTIFICATION"
        }
        "GetBucketPolicy" | "PutBucketPolicy" | "DeleteBucketPolicy" => "BUCKETPOLICY",
        "GetBucketPolicyStatus" => "BUCKETPOLICYSTATUS",
        "GetBucketEncryption" | "PutBucketEncryption" | "DeleteBucketEncryption" => "ENCRYPTION",
        "GetBucketTagging" | "PutBucketTagging" | "DeleteBucketTagging" => "TAGGING",
        "GetObjectTagging" | "PutObjectTagging" | "DeleteObjectTagging" => "OBJECT_TAGGING",
        "GetBucketAcl" | "PutBucketAcl" | "GetObjectAcl" | "PutObjectAcl" => "ACL",
        "GetPublicAccessBlock" | "PutPublicAccessBlock" | "DeletePublicAccessBlock" => {
            "PUBLIC_ACCESS_BLOCK"
        }
        "GetBucketOwnershipControls"
        | "PutBucketOwnershipControls"
        | "DeleteBucketOwnershipControls" => "OWNERSHIP_CONTROLS",
        "GetObjectAttributes" => "OBJECT_ATTRIBUTES",
        "GetObjectRetention" | "PutObjectRetention" => "RETENTION",
        "GetObjectLegalHold" | "PutObjectLegalHold" => "LEGAL_HOLD",
        "ListMultipartUploads" | "CreateMultipartUpload" => "UPLOADS",
        "UploadPart" => "PART",
        "CompleteMultipartUpload" | "AbortMultipartUpload" | "ListParts" => "UPLOAD",
        "Options" => "PREFLIGHT",
        _ if has_key => "OBJECT",
        _ => "BUCKET",
    };
    let api = if website { "WEBSITE" } else { "REST" };
    format!("{api}.{method}.{resource}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(prefix: &str, key_format: Option<KeyFormat>) -> BucketLogging {
        BucketLogging {
            target_bucket: "logs".into(),
            target_prefix: prefix.into(),
            target_grants: Vec::new(),
            key_format,
        }
    }

    // 2026-12-07T08:36:44.123Z and a minute before midnight the day before.
    const T: u64 = 1_796_632_604_123;
    const EVE: u64 = 1_796_601_540_000;

    #[test]
    fn simple_keys_are_the_prefix_then_the_delivery_second_then_a_unique_part() {
        assert_eq!(
            cfg("logs/", None).object_key("src", EVE, T, 0xAB),
            "logs/2026-12-07-08-36-44-00000000000000AB"
        );
        assert_eq!(
            cfg("", Some(KeyFormat::Simple)).object_key("src", T, T, u64::MAX),
            "2026-12-07-08-36-44-FFFFFFFFFFFFFFFF"
        );
    }

    #[test]
    fn partitioned_keys_name_account_region_bucket_and_the_chosen_day() {
        let event = cfg("p/", Some(KeyFormat::Partitioned(DateSource::EventTime)));
        assert_eq!(
            event.object_key("src", EVE, T, 1),
            "p/000000000000/us-east-1/src/2026/12/06/2026-12-07-08-36-44-0000000000000001"
        );
        let delivery = cfg("p/", Some(KeyFormat::Partitioned(DateSource::DeliveryTime)));
        assert_eq!(
            delivery.object_key("src", EVE, T, 1),
            "p/000000000000/us-east-1/src/2026/12/07/2026-12-07-08-36-44-0000000000000001"
        );
        assert_eq!(
            delivery.object_key("acme:src", EVE, T, 1),
            "p/000000000000/us-east-1/src/2026/12/07/2026-12-07-08-36-44-0000000000000001",
            "a tenant's bucket by its users' name"
        );
        assert!(!event.same_object(EVE, T), "one event day per object");
        assert!(delivery.same_object(EVE, T));
        assert!(cfg("", None).same_object(EVE, T));
    }

    fn line(r: &Record<'_>) -> String {
        let mut out = Vec::new();
        r.write(&mut out);
        String::from_utf8(out).expect("ASCII")
    }

    #[test]
    fn a_full_line_has_every_field_in_order() {
        let r = Record {
            bucket_owner: "owner1",
            bucket: "src",
            time_ms: T,
            remote_ip: "127.0.0.1",
            requester: "arn:aws:iam::000000000000:user/alice",
            request_id: "REQ1",
            operation: "REST.PUT.OBJECT",
            key: Some("dir/a b+c"),
            request_uri: "PUT /src/dir/a%20b%2Bc HTTP/1.1",
            status: 200,
            error_code: None,
            bytes_sent: 0,
            object_size: Some(4096),
            total_ms: Some(12),
            turnaround_ms: Some(3),
            referer: None,
            user_agent: Some("aws-sdk-rust/1.0 \"x\""),
            version_id: Some("0123"),
            host_id: "aWQy",
            auth: Some(Auth::Header { v4: true }),
            cipher_suite: None,
            host: Some("127.0.0.1:9000"),
            tls_version: None,
        };
        assert_eq!(
            line(&r),
            "owner1 src [07/Dec/2026:08:36:44 +0000] 127.0.0.1 \
             arn:aws:iam::000000000000:user/alice REQ1 REST.PUT.OBJECT dir/a%20b%2Bc \
             \"PUT /src/dir/a%20b%2Bc HTTP/1.1\" 200 - - 4096 12 3 \"-\" \
             \"aws-sdk-rust/1.0 \\\"x\\\"\" 0123 aWQy SigV4 - AuthHeader 127.0.0.1:9000 - - -"
        );
    }

    #[test]
    fn empty_fields_are_dashes_and_nothing_can_split_a_field() {
        let r = Record {
            bucket: "b",
            time_ms: EVE,
            request_uri: "GET /b?x=\"1\"\n HTTP/1.1",
            status: 403,
            error_code: Some("AccessDenied"),
            bytes_sent: 243,
            user_agent: Some("curl/8 \\ \t"),
            remote_ip: "::1",
            request_id: "id 2",
            operation: "REST.GET.BUCKET",
            auth: Some(Auth::Anonymous),
            ..Default::default()
        };
        let l = line(&r);
        assert_eq!(
            l,
            "- b [06/Dec/2026:23:59:00 +0000] ::1 - id\\x202 REST.GET.BUCKET - \
             \"GET /b?x=\\\"1\\\"\\x0A HTTP/1.1\" 403 AccessDenied 243 - - - \"-\" \
             \"curl/8 \\\\ \\x09\" - - - - - - - - -"
        );
        // Splitting on spaces outside quotes gives S3's 26 fields.
        assert_eq!(split(&l).len(), 26, "{l}");
    }

    /// Splits a line as log readers do: on spaces, keeping `[..]` and
    /// `".."` (with `\"` inside) whole.
    fn split(l: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let (mut quote, mut bracket, mut esc) = (false, false, false);
        for c in l.chars() {
            match c {
                _ if esc => {
                    cur.push(c);
                    esc = false
                }
                '\\' if quote => {
                    cur.push(c);
                    esc = true
                }
                '"' => {
                    quote = !quote;
                    cur.push(c)
                }
                '[' if !quote => {
                    bracket = true;
                    cur.push(c)
                }
                ']' if !quote => {
                    bracket = false;
                    cur.push(c)
                }
                ' ' if !quote && !bracket => out.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        out.push(cur);
        out
    }

    #[test]
    fn transitions_are_named_by_s3_abbreviations_or_the_class() {
        assert_eq!(
            transition_operation("STANDARD_IA"),
            "S3.TRANSITION_SIA.OBJECT"
        );
        assert_eq!(transition_operation("GLACIER"), "S3.TRANSITION.OBJECT");
        assert_eq!(transition_operation("COLD"), "S3.TRANSITION_COLD.OBJECT");
    }

    #[test]
    fn operations_are_named_as_s3_names_them() {
        assert_eq!(
            operation("PUT", "PutObject", true, false),
            "REST.PUT.OBJECT"
        );
        assert_eq!(
            operation("GET", "ListObjectsV2", false, false),
            "REST.GET.BUCKET"
        );
        assert_eq!(
            operation("GET", "GetBucketLogging", false, false),
            "REST.GET.LOGGING_STATUS"
        );
        assert_eq!(
            operation("PUT", "CopyObject", true, false),
            "REST.COPY.OBJECT"
        );
        assert_eq!(
            operation("POST", "CompleteMultipartUpload", true, false),
            "REST.POST.UPLOAD"
        );
        assert_eq!(
            operation("GET", "Unauthenticated", true, false),
            "REST.GET.OBJECT"
        );
        assert_eq!(
            operation("GET", "Website", true, true),
            "WEBSITE.GET.OBJECT"
        );
    }
}
