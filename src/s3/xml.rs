//! S3 XML response builders, request-body parsers and date formatting.
//!
//! Builders write through the scoped writer in [`crate::xmlw`]: elements
//! balance by construction, and there is no intermediate tree, so a
//! 1,000-key listing is a few hundred KB of memcpy. Element order follows
//! AWS's response syntax pages (and, where those are silent, responses
//! measured against real S3 and quoted in comments).

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::xmlw::{self, push_s3_url_encoded, push_u64, Writer};

use super::error::{S3Code, S3Error};

/// The S3 XML namespace used on every response root.
pub const S3_XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// S3 caps DeleteObjects at 1,000 keys; more is reported as MalformedXML
/// (observed from AWS: aws/aws-sdk-java#1293, boto/boto3#3297, ceph/ceph#23544).
pub const MAX_DELETE_OBJECTS: usize = 1000;

/// Nesting deeper than any S3 request schema needs is rejected outright.
const MAX_XML_DEPTH: usize = 32;

// ---------------------------------------------------------------------------
// Writer helpers
// ---------------------------------------------------------------------------

/// An S3 response document: `root` in S3's namespace around what `body`
/// writes. `capacity` is a guess of the size, to write without reallocating.
pub(super) fn response(root: &str, capacity: usize, body: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    xmlw::document(root, Some(S3_XMLNS), capacity, body)
}

/// The field shapes S3 documents share, on top of the generic writer.
pub(super) trait S3Fields {
    /// `2009-10-12T17:50:30.000Z`.
    fn date(&mut self, name: &str, ms: u64);
    /// An ETag, quoted (as `&quot;`) whether it came quoted or bare.
    fn etag(&mut self, name: &str, etag: &str);
    /// `<name><ID/><DisplayName/></name>`, the shape of every owner and
    /// initiator element.
    fn owner(&mut self, name: &str, owner: &ListOwner);
}

impl S3Fields for Writer<'_> {
    #[inline]
    fn date(&mut self, name: &str, ms: u64) {
        self.text_with(name, |buf| push_iso8601_ms(buf, ms));
    }

    #[inline]
    fn etag(&mut self, name: &str, etag: &str) {
        if is_quoted(etag) {
            self.text(name, etag);
        } else {
            self.text_concat(name, &["\"", etag, "\""]);
        }
    }

    #[inline]
    fn owner(&mut self, name: &str, owner: &ListOwner) {
        self.element(name, |w| {
            w.text("ID", &owner.id);
            w.text("DisplayName", &owner.display_name);
        });
    }
}

fn is_quoted(etag: &str) -> bool {
    etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"')
}

/// S3's `encoding-type=url` encoding as a string (see
/// [`xmlw::push_s3_url_encoded`]).
pub fn s3_url_encode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    push_s3_url_encoded(&mut out, s);
    // Only ASCII is ever written, so this cannot fail.
    String::from_utf8(out).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Response builders
// ---------------------------------------------------------------------------

/// `ListAllMyBucketsResult`; `buckets` is `(name, creation time in ms)`.
pub fn list_buckets<S: AsRef<str>>(
    owner_id: &str,
    owner_name: &str,
    buckets: &[(S, u64)],
) -> Vec<u8> {
    response("ListAllMyBucketsResult", 256 + buckets.len() * 110, |w| {
        w.element("Owner", |w| {
            w.text("ID", owner_id);
            w.text("DisplayName", owner_name);
        });
        w.element("Buckets", |w| {
            for (name, created) in buckets {
                w.element("Bucket", |w| {
                    w.text("Name", name.as_ref());
                    w.date("CreationDate", *created);
                });
            }
        });
    })
}

/// One `<Contents>` entry of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListEntry {
    pub key: String,
    pub last_modified_ms: u64,
    /// Quoted or bare; written quoted either way.
    pub etag: String,
    pub size: u64,
    /// The storage class; None: STANDARD.
    pub class: Option<String>,
    /// Only with MinIO's `metadata=true` (boxed: a plain listing pays one
    /// pointer per entry).
    pub metadata: Option<Box<EntryMetadata>>,
}

/// What MinIO's `metadata=true` adds to a `<Contents>` entry, each part
/// only when the caller may read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryMetadata {
    /// `<UserMetadata>` children, (element name, value); a name that is
    /// not an XML name ([`is_xml_name`]) is left out when written. None
    /// without `s3:GetObject`.
    pub user: Option<Vec<(String, String)>>,
    /// `<UserTags>`, the tag set in URL query form (`k=v&k2=v2`). None
    /// without `s3:GetObjectTagging` or without tags.
    pub tags: Option<String>,
    /// `<Internal><K/><M/></Internal>`: data and parity shards (with
    /// `user`, as MinIO).
    pub layout: Option<(u8, u8)>,
}

/// Whether `name` can be written as an element name as it is: ASCII
/// letters, digits, `-`, `_` and `.`, starting with a letter or `_`.
pub fn is_xml_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Owner written into `<Contents><Owner>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOwner {
    pub id: String,
    pub display_name: String,
}

/// ListObjectsV2 result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListV2Response {
    pub name: String,
    pub prefix: String,
    /// Empty means "no delimiter": AWS then omits the element.
    pub delimiter: String,
    pub max_keys: u64,
    pub is_truncated: bool,
    /// Echoed as sent; opaque, so never URL-encoded.
    pub continuation_token: Option<String>,
    pub next_continuation_token: Option<String>,
    pub start_after: Option<String>,
    /// `encoding-type=url` was requested.
    pub encoding_type_url: bool,
    /// `fetch-owner=true`: V2 only includes `<Owner>` when asked.
    pub fetch_owner: bool,
    pub owner: ListOwner,
    pub contents: Vec<ListEntry>,
    /// Common prefixes, each including the trailing delimiter.
    pub common_prefixes: Vec<String>,
}

/// ListObjects (V1) result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListV1Response {
    pub name: String,
    pub prefix: String,
    /// Always written (empty when the request had none), as AWS does.
    pub marker: String,
    /// AWS only returns NextMarker when a delimiter was given; the caller
    /// decides and passes `None` otherwise.
    pub next_marker: Option<String>,
    pub delimiter: String,
    pub max_keys: u64,
    pub is_truncated: bool,
    pub encoding_type_url: bool,
    /// V1 always includes `<Owner>` in each entry.
    pub owner: ListOwner,
    pub contents: Vec<ListEntry>,
    pub common_prefixes: Vec<String>,
}

fn list_capacity(contents: &[ListEntry], prefixes: &[String]) -> usize {
    let keys: usize = contents.iter().map(|e| e.key.len()).sum();
    let pfx: usize = prefixes.iter().map(|p| p.len()).sum();
    512 + keys * 3 + contents.len() * 320 + pfx * 3 + prefixes.len() * 48
}

fn write_contents(w: &mut Writer<'_>, e: &ListEntry, url: bool, owner: Option<&ListOwner>) {
    w.element("Contents", |w| {
        w.text_enc("Key", &e.key, url);
        w.date("LastModified", e.last_modified_ms);
        w.etag("ETag", &e.etag);
        w.num("Size", e.size);
        if let Some(o) = owner {
            w.owner("Owner", o);
        }
        w.text(
            "StorageClass",
            e.class.as_deref().unwrap_or(crate::engine::class::STANDARD),
        );
        if let Some(m) = &e.metadata {
            write_entry_metadata(w, m);
        }
    });
}

/// MinIO's order: UserMetadata, UserTags, Internal.
fn write_entry_metadata(w: &mut Writer<'_>, m: &EntryMetadata) {
    if let Some(user) = &m.user {
        w.element("UserMetadata", |w| {
            for (name, value) in user {
                // Element names are written unescaped.
                if is_xml_name(name) {
                    w.text(name, value);
                }
            }
        });
    }
    w.text_opt("UserTags", m.tags.as_deref());
    if let Some((k, m)) = m.layout {
        w.element("Internal", |w| {
            w.num("K", u64::from(k));
            w.num("M", u64::from(m));
        });
    }
}

pub(super) fn write_prefixes(w: &mut Writer<'_>, prefixes: &[String], url: bool) {
    for p in prefixes {
        w.element("CommonPrefixes", |w| w.text_enc("Prefix", p, url));
    }
}

/// Delimiter, written only when the request had one (AWS omits it then).
fn write_delimiter(w: &mut Writer<'_>, delimiter: &str, url: bool) {
    if !delimiter.is_empty() {
        w.text_enc("Delimiter", delimiter, url);
    }
}

/// ListObjectsV2 `ListBucketResult`. KeyCount is computed as AWS defines it:
/// keys plus common prefixes returned.
pub fn list_objects_v2(r: &ListV2Response) -> Vec<u8> {
    let url = r.encoding_type_url;
    let capacity = list_capacity(&r.contents, &r.common_prefixes);
    response("ListBucketResult", capacity, |w| {
        w.text("Name", &r.name);
        w.text_enc("Prefix", &r.prefix, url);
        w.text_opt("ContinuationToken", r.continuation_token.as_deref());
        w.text_opt(
            "NextContinuationToken",
            r.next_continuation_token.as_deref(),
        );
        if let Some(s) = &r.start_after {
            w.text_enc("StartAfter", s, url);
        }
        w.num(
            "KeyCount",
            (r.contents.len() as u64).saturating_add(r.common_prefixes.len() as u64),
        );
        w.num("MaxKeys", r.max_keys);
        write_delimiter(w, &r.delimiter, url);
        if url {
            w.text("EncodingType", "url");
        }
        w.boolean("IsTruncated", r.is_truncated);
        let owner = r.fetch_owner.then_some(&r.owner);
        for e in &r.contents {
            write_contents(w, e, url, owner);
        }
        write_prefixes(w, &r.common_prefixes, url);
    })
}

/// ListObjects (V1) `ListBucketResult`.
pub fn list_objects_v1(r: &ListV1Response) -> Vec<u8> {
    let url = r.encoding_type_url;
    let capacity = list_capacity(&r.contents, &r.common_prefixes);
    response("ListBucketResult", capacity, |w| {
        w.text("Name", &r.name);
        w.text_enc("Prefix", &r.prefix, url);
        w.text_enc("Marker", &r.marker, url);
        if let Some(m) = &r.next_marker {
            w.text_enc("NextMarker", m, url);
        }
        w.num("MaxKeys", r.max_keys);
        write_delimiter(w, &r.delimiter, url);
        if url {
            w.text("EncodingType", "url");
        }
        w.boolean("IsTruncated", r.is_truncated);
        for e in &r.contents {
            write_contents(w, e, url, Some(&r.owner));
        }
        write_prefixes(w, &r.common_prefixes, url);
    })
}

/// GetBucketLocation: us-east-1 is reported as an empty element (AWS's
/// documented quirk: "Buckets in Region us-east-1 have a LocationConstraint
/// of null").
pub fn location(region: &str) -> Vec<u8> {
    if region.is_empty() || region == "us-east-1" {
        xmlw::empty_document("LocationConstraint", Some(S3_XMLNS))
    } else {
        response("LocationConstraint", 160, |w| w.content(region))
    }
}

/// CopyObjectResult (element order as in AWS's response syntax).
pub fn copy_object_result(etag: &str, last_modified_ms: u64) -> Vec<u8> {
    response("CopyObjectResult", 200, |w| {
        w.date("LastModified", last_modified_ms);
        w.etag("ETag", etag);
    })
}

/// A successfully deleted key in a DeleteObjects result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedEntry {
    pub key: String,
    pub version_id: Option<String>,
    /// The delete made a delete marker, or removed one.
    pub delete_marker: bool,
    /// The marker's version id when the delete made one.
    pub delete_marker_version_id: Option<String>,
}

/// A key that could not be deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteError {
    pub key: String,
    pub code: S3Code,
    pub message: String,
}

/// DeleteObjects `DeleteResult`. In quiet mode AWS reports only errors.
pub fn delete_result(deleted: &[DeletedEntry], errors: &[DeleteError], quiet: bool) -> Vec<u8> {
    let capacity = 128 + deleted.len() * 80 + errors.len() * 160;
    response("DeleteResult", capacity, |w| {
        if !quiet {
            for d in deleted {
                w.element("Deleted", |w| {
                    w.text("Key", &d.key);
                    w.text_opt("VersionId", d.version_id.as_deref());
                    if d.delete_marker {
                        w.text("DeleteMarker", "true");
                    }
                    w.text_opt(
                        "DeleteMarkerVersionId",
                        d.delete_marker_version_id.as_deref(),
                    );
                });
            }
        }
        for e in errors {
            w.element("Error", |w| {
                w.text("Key", &e.key);
                w.text("Code", e.code.as_str());
                w.text("Message", &e.message);
            });
        }
    })
}

// ---------------------------------------------------------------------------
// Request parsers
// ---------------------------------------------------------------------------

pub(super) fn malformed() -> S3Error {
    S3Error::from_code(S3Code::MalformedXML)
}

/// XML 1.0 section 2.11: parsers turn literal CRLF and CR into LF. Done on
/// the raw text before unescaping, so `&#xD;` still yields a real CR.
fn normalize_newlines(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains('\r') {
        return std::borrow::Cow::Borrowed(raw);
    }
    std::borrow::Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// What [`walk_xml`] reports: a leaf element's decoded text, or the close of
/// any element. `path` is the stack of local names (namespace prefixes
/// dropped, as S3 ignores them), innermost last.
enum Node<'a> {
    Leaf(&'a [Vec<u8>], String),
    End(&'a [Vec<u8>]),
}

/// A streaming walk over an S3 request body rooted at `root`. DOCTYPEs are
/// refused so no entity tricks reach us (quick-xml only knows the five
/// predefined entities anyway); mixed content, stray text, a second root and
/// unclosed elements are MalformedXML.
fn walk_xml(
    body: &[u8],
    root: &[u8],
    mut on: impl FnMut(Node<'_>) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    let mut reader = Reader::from_reader(strip_bom(body));
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut text = String::new();
    let mut has_text = false;
    let mut seen_root = false;

    let mut push = |stack: &mut Vec<Vec<u8>>, name: &[u8]| -> Result<(), S3Error> {
        if stack.is_empty() {
            if seen_root || name != root {
                return Err(malformed());
            }
            seen_root = true;
        }
        if stack.len() >= MAX_XML_DEPTH {
            return Err(malformed());
        }
        stack.push(name.to_vec());
        Ok(())
    };

    loop {
        match reader.read_event().map_err(|_| malformed())? {
            Event::Start(e) => {
                if has_text && !text.trim().is_empty() {
                    // Mixed content is not in any S3 schema.
                    return Err(malformed());
                }
                push(&mut stack, e.local_name().as_ref())?;
                text.clear();
                has_text = false;
            }
            Event::Empty(e) => {
                if has_text && !text.trim().is_empty() {
                    return Err(malformed());
                }
                push(&mut stack, e.local_name().as_ref())?;
                on(Node::Leaf(&stack, String::new()))?;
                on(Node::End(&stack))?;
                stack.pop();
                text.clear();
                has_text = false;
            }
            Event::Text(t) => {
                let raw = std::str::from_utf8(&t).map_err(|_| malformed())?;
                if stack.is_empty() {
                    if !raw.trim().is_empty() {
                        return Err(malformed());
                    }
                    continue;
                }
                let normalized = normalize_newlines(raw);
                let unescaped =
                    quick_xml::escape::unescape(&normalized).map_err(|_| malformed())?;
                text.push_str(&unescaped);
                has_text = true;
            }
            Event::CData(c) => {
                if stack.is_empty() {
                    return Err(malformed());
                }
                let raw = std::str::from_utf8(&c).map_err(|_| malformed())?;
                text.push_str(&normalize_newlines(raw));
                has_text = true;
            }
            Event::End(_) => {
                // quick-xml has already checked that the end name matches.
                // Text after a child element (`<a><b/>x</a>`) is mixed content.
                if has_text {
                    on(Node::Leaf(&stack, std::mem::take(&mut text)))?;
                }
                on(Node::End(&stack))?;
                stack.pop();
                text.clear();
                has_text = false;
            }
            Event::DocType(_) => return Err(malformed()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !seen_root || !stack.is_empty() {
        return Err(malformed());
    }
    Ok(())
}

fn path_is(path: &[Vec<u8>], want: &[&[u8]]) -> bool {
    path.len() == want.len() && path.iter().zip(want).all(|(a, b)| a.as_slice() == *b)
}

/// [`walk_xml`] as one call per closed element with that element's own text
/// (empty when it had none, e.g. `<a></a>`). A container's text is the
/// white space between its children, for [`require_blank`] to check.
pub(super) fn walk_elements(
    body: &[u8],
    root: &[u8],
    mut on: impl FnMut(&[Vec<u8>], String) -> Result<(), S3Error>,
) -> Result<(), S3Error> {
    let mut text = String::new();
    walk_xml(body, root, |node| match node {
        // walk_xml reports a leaf's text right before the same element's end.
        Node::Leaf(_, t) => {
            text = t;
            Ok(())
        }
        Node::End(path) => on(path, std::mem::take(&mut text)),
    })
}

/// Text after a container's last child is mixed content, not in any schema.
pub(super) fn require_blank(text: &str) -> Result<(), S3Error> {
    if text.trim().is_empty() {
        Ok(())
    } else {
        Err(malformed())
    }
}

/// Stores an element's value, refusing a second occurrence of the element.
pub(super) fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), S3Error> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(malformed()),
    }
}

/// CreateBucket body: `None` for an empty body or empty/absent
/// LocationConstraint (both mean us-east-1 to AWS).
pub fn parse_create_bucket(body: &[u8]) -> Result<Option<String>, S3Error> {
    if strip_bom(body).iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let mut location: Option<String> = None;
    walk_xml(body, b"CreateBucketConfiguration", |node| {
        if let Node::Leaf(path, text) = node {
            if path_is(path, &[b"CreateBucketConfiguration", b"LocationConstraint"]) {
                location = Some(text);
            }
        }
        Ok(())
    })?;
    Ok(location
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty()))
}

/// Parsed DeleteObjects body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteRequest {
    pub quiet: bool,
    /// `(key, version_id)` in request order.
    pub objects: Vec<(String, Option<String>)>,
}

/// DeleteObjects body. Keys keep every character the XML encodes (entities
/// and character references decoded, whitespace untouched). Unknown children
/// of `<Object>` (ETag, LastModifiedTime, Size) are ignored.
pub fn parse_delete_objects(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    let mut req = DeleteRequest::default();
    let mut key: Option<String> = None;
    let mut version: Option<String> = None;
    walk_xml(body, b"Delete", |node| {
        match node {
            Node::Leaf(path, text) => {
                if path_is(path, &[b"Delete", b"Object", b"Key"]) {
                    key = Some(text);
                } else if path_is(path, &[b"Delete", b"Object", b"VersionId"]) {
                    version = Some(text);
                } else if path_is(path, &[b"Delete", b"Quiet"]) {
                    let t = text.trim();
                    req.quiet = if t.eq_ignore_ascii_case("true") {
                        true
                    } else if t.eq_ignore_ascii_case("false") {
                        false
                    } else {
                        return Err(malformed());
                    };
                }
            }
            Node::End(path) => {
                if path_is(path, &[b"Delete", b"Object"]) {
                    let k = key.take().filter(|k| !k.is_empty()).ok_or_else(malformed)?;
                    let v = version.take().filter(|v| !v.is_empty());
                    if req.objects.len() >= MAX_DELETE_OBJECTS {
                        return Err(malformed());
                    }
                    req.objects.push((k, v));
                }
            }
        }
        Ok(())
    })?;
    if req.objects.is_empty() {
        return Err(malformed());
    }
    Ok(req)
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

/// (year, month, day) from days since 1970-01-01 (Howard Hinnant's
/// civil_from_days; exact for the whole u64-ms range).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
    milli: u32,
    weekday: usize,
}

fn split_ms(ms: u64) -> Parts {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = (secs % 86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        milli: (ms % 1000) as u32,
        // 1970-01-01 was a Thursday.
        weekday: ((days + 4) % 7) as usize,
    }
}

fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn push_year(out: &mut Vec<u8>, y: i64) {
    // Years are >= 1970 here; pad to four digits like every formatter does.
    let y = y.max(0) as u64;
    if y < 1000 {
        out.push(b'0');
    }
    push_u64(out, y);
}

fn push_iso8601_ms(out: &mut Vec<u8>, ms: u64) {
    let p = split_ms(ms);
    push_year(out, p.year);
    out.push(b'-');
    push_2(out, p.month);
    out.push(b'-');
    push_2(out, p.day);
    out.push(b'T');
    push_2(out, p.hour);
    out.push(b':');
    push_2(out, p.min);
    out.push(b':');
    push_2(out, p.sec);
    out.push(b'.');
    out.push(b'0' + (p.milli / 100) as u8);
    push_2(out, p.milli % 100);
    out.push(b'Z');
}

/// `2009-10-12T17:50:30.000Z`, the form S3 uses inside XML.
pub fn iso8601_ms(ms: u64) -> String {
    let mut out = Vec::with_capacity(24);
    push_iso8601_ms(&mut out, ms);
    String::from_utf8(out).unwrap_or_default()
}

/// RFC 7231 IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`, for Last-Modified
/// and friends. Hand-rolled because httpdate panics past year 9999.
pub fn http_date(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = split_ms(ms);
    let mut out = Vec::with_capacity(29);
    out.extend_from_slice(DAYS[p.weekday % 7].as_bytes());
    out.extend_from_slice(b", ");
    push_2(&mut out, p.day);
    out.push(b' ');
    let month = MONTHS[(p.month.clamp(1, 12) - 1) as usize];
    out.extend_from_slice(month.as_bytes());
    out.push(b' ');
    push_year(&mut out, p.year);
    out.push(b' ');
    push_2(&mut out, p.hour);
    out.push(b':');
    push_2(&mut out, p.min);
    out.push(b':');
    push_2(&mut out, p.sec);
    out.extend_from_slice(b" GMT");
    String::from_utf8(out).unwrap_or_default()
}

/// Parses any of RFC 7231's three HTTP-date forms (IMF-fixdate, RFC 850,
/// asctime) into ms since the epoch. `None` for anything else or pre-1970.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let t = httpdate::parse_http_date(s.trim()).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(d.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    const T: u64 = 1_255_369_830_000; // 2009-10-12T17:50:30Z

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(T), "2009-10-12T17:50:30.000Z");
        assert_eq!(iso8601_ms(T + 7), "2009-10-12T17:50:30.007Z");
        assert_eq!(iso8601_ms(T + 123), "2009-10-12T17:50:30.123Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        // No panic at the extreme.
        assert!(iso8601_ms(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400_999), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert!(http_date(u64::MAX).ends_with(" GMT"));
        // Agrees with httpdate across a spread of instants.
        let mut t = 0u64;
        while t < 4_000_000_000_000 {
            let expect = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(t),
            );
            assert_eq!(http_date(t), expect);
            t += 86_399_937_123;
        }
    }

    #[test]
    fn parse_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777_000)
        );
        assert_eq!(
            parse_http_date(" Sun, 06 Nov 1994 08:49:37 GMT "),
            Some(784_111_777_000)
        );
        assert_eq!(parse_http_date("2009-10-12T17:50:30Z"), None);
        assert_eq!(parse_http_date(""), None);
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(parse_http_date(&http_date(T)), Some(T));
    }

    #[test]
    fn url_encoding_matches_s3() {
        assert_eq!(s3_url_encode("a b.txt"), "a%20b.txt");
        assert_eq!(s3_url_encode("test_file(3).png"), "test_file%283%29.png");
        assert_eq!(s3_url_encode("a+b.txt"), "a%2Bb.txt");
        assert_eq!(s3_url_encode("100%.csv"), "100%25.csv");
        assert_eq!(s3_url_encode("한글/x.txt"), "%ED%95%9C%EA%B8%80/x.txt");
        assert_eq!(s3_url_encode("a~b*c-d_e.f/g"), "a%7Eb*c-d_e.f/g");
        assert_eq!(s3_url_encode("<&>\r\n\"'"), "%3C%26%3E%0D%0A%22%27");
        assert_eq!(s3_url_encode(""), "");
    }

    #[test]
    fn list_buckets_shape() {
        let x = s(list_buckets("oid", "me&you", &[("b1", T), ("b2", 0)]));
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListAllMyBucketsResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>oid</ID>\
             <DisplayName>me&amp;you</DisplayName></Owner><Buckets><Bucket><Name>b1</Name>\
             <CreationDate>2009-10-12T17:50:30.000Z</CreationDate></Bucket><Bucket>\
             <Name>b2</Name><CreationDate>1970-01-01T00:00:00.000Z</CreationDate></Bucket>\
             </Buckets></ListAllMyBucketsResult>"
        );
        let empty: &[(String, u64)] = &[];
        assert!(s(list_buckets("o", "n", empty)).contains("<Buckets></Buckets>"));
    }

    fn entry(key: &str) -> ListEntry {
        ListEntry {
            key: key.into(),
            last_modified_ms: T,
            etag: "abc".into(),
            size: 42,
            class: None,
            metadata: None,
        }
    }

    #[test]
    fn list_v2_shape() {
        let r = ListV2Response {
            name: "bkt".into(),
            prefix: "p/".into(),
            delimiter: "/".into(),
            max_keys: 1000,
            is_truncated: true,
            continuation_token: Some("tok+/=".into()),
            next_continuation_token: Some("next".into()),
            start_after: Some("p/a".into()),
            contents: vec![
                entry("p/x"),
                ListEntry {
                    etag: "\"q\"".into(),
                    ..entry("p/y")
                },
            ],
            common_prefixes: vec!["p/d/".into()],
            ..Default::default()
        };
        let x = s(list_objects_v2(&r));
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
             xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bkt</Name>\
             <Prefix>p/</Prefix><ContinuationToken>tok+/=</ContinuationToken>\
             <NextContinuationToken>next</NextContinuationToken><StartAfter>p/a</StartAfter>\
             <KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>\
             <IsTruncated>true</IsTruncated><Contents><Key>p/x</Key>\
             <LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;abc&quot;</ETag>\
             <Size>42</Size><StorageClass>STANDARD</StorageClass></Contents><Contents>\
             <Key>p/y</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
             <ETag>&quot;q&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass>\
             </Contents><CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>\
             </ListBucketResult>"
        );
    }

    #[test]
    fn list_v2_metadata_follows_minios_shape_and_skips_names_that_are_not_xml() {
        let r = ListV2Response {
            name: "b".into(),
            contents: vec![
                ListEntry {
                    metadata: Some(Box::new(EntryMetadata {
                        user: Some(vec![
                            ("content-type".into(), "text/plain".into()),
                            ("X-Amz-Meta-Color".into(), "a<b".into()),
                            ("X-Amz-Meta-a/b>".into(), "dropped".into()),
                        ]),
                        tags: Some("k=v&k2=v%202".into()),
                        layout: Some((2, 2)),
                    })),
                    ..entry("k")
                },
                ListEntry {
                    metadata: Some(Box::default()),
                    ..entry("denied")
                },
            ],
            ..Default::default()
        };
        let x = s(list_objects_v2(&r));
        assert!(
            x.contains(
                "<StorageClass>STANDARD</StorageClass><UserMetadata>\
                 <content-type>text/plain</content-type><X-Amz-Meta-Color>a&lt;b</X-Amz-Meta-Color>\
                 </UserMetadata><UserTags>k=v&amp;k2=v%202</UserTags>\
                 <Internal><K>2</K><M>2</M></Internal></Contents>"
            ),
            "{x}"
        );
        assert!(!x.contains("dropped"));
        // Nothing readable: the entry is a plain one.
        assert!(x.contains(
            "<Key>denied</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
             <ETag>&quot;abc&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>"
        ));
        assert!(is_xml_name("X-Amz-Meta-a.b_c"));
        assert!(!is_xml_name("1abc") && !is_xml_name("") && !is_xml_name("a b"));
    }

    #[test]
    fn list_v2_minimal_and_owner() {
        let r = ListV2Response {
            name: "b".into(),
            max_keys: 5,
            fetch_owner: true,
            owner: ListOwner {
                id: "id1".into(),
                display_name: "dn".into(),
            },
            contents: vec![entry("k")],
            ..Default::default()
        };
        let x = s(list_objects_v2(&r));
        assert!(x.contains("<Prefix></Prefix><KeyCount>1</KeyCount><MaxKeys>5</MaxKeys><IsTruncated>false</IsTruncated>"));
        assert!(!x.contains("Delimiter"));
        assert!(!x.contains("ContinuationToken"));
        assert!(!x.contains("StartAfter"));
        assert!(!x.contains("EncodingType"));
        assert!(x.contains("<Size>42</Size><Owner><ID>id1</ID><DisplayName>dn</DisplayName></Owner><StorageClass>STANDARD</StorageClass>"));
        let no_owner = s(list_objects_v2(&ListV2Response {
            fetch_owner: false,
            ..r
        }));
        assert!(!no_owner.contains("<Owner>"));
    }

    #[test]
    fn list_v2_url_encoding() {
        let r = ListV2Response {
            name: "b&c".into(),
            prefix: "run books/".into(),
            delimiter: " ".into(),
            start_after: Some("a+b".into()),
            continuation_token: Some("x y".into()),
            encoding_type_url: true,
            contents: vec![entry("run books/x+y%z<\r>")],
            common_prefixes: vec!["run books/한/".into()],
            ..Default::default()
        };
        let x = s(list_objects_v2(&r));
        assert!(x.contains("<Name>b&amp;c</Name>"));
        assert!(x.contains("<Prefix>run%20books/</Prefix>"));
        assert!(x.contains("<ContinuationToken>x y</ContinuationToken>"));
        assert!(x.contains("<StartAfter>a%2Bb</StartAfter>"));
        assert!(x.contains("<Delimiter>%20</Delimiter><EncodingType>url</EncodingType>"));
        assert!(x.contains("<Key>run%20books/x%2By%25z%3C%0D%3E</Key>"));
        assert!(x.contains("<Prefix>run%20books/%ED%95%9C/</Prefix>"));
    }

    #[test]
    fn list_v1_shape() {
        let r = ListV1Response {
            name: "b".into(),
            prefix: "".into(),
            marker: "".into(),
            next_marker: Some("k2".into()),
            delimiter: "/".into(),
            max_keys: 2,
            is_truncated: true,
            owner: ListOwner {
                id: "o".into(),
                display_name: "d".into(),
            },
            contents: vec![entry("k1"), entry("k2")],
            common_prefixes: vec![],
            encoding_type_url: false,
        };
        let x = s(list_objects_v1(&r));
        assert!(x.contains(
            "<Name>b</Name><Prefix></Prefix><Marker></Marker><NextMarker>k2</NextMarker>\
             <MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
        ));
        assert_eq!(
            x.matches("<Owner><ID>o</ID><DisplayName>d</DisplayName></Owner>")
                .count(),
            2
        );
        assert!(!x.contains("KeyCount"));
        let enc = s(list_objects_v1(&ListV1Response {
            marker: "m n".into(),
            next_marker: Some("a~".into()),
            encoding_type_url: true,
            ..r
        }));
        assert!(enc.contains("<Marker>m%20n</Marker><NextMarker>a%7E</NextMarker>"));
        assert!(enc.contains("<EncodingType>url</EncodingType>"));
    }

    #[test]
    fn thousand_keys_is_fast() {
        let r = ListV2Response {
            name: "bucket".into(),
            max_keys: 1000,
            contents: (0..1000)
                .map(|i| ListEntry {
                    key: format!("some/longish/prefix/object-{i:06}.bin"),
                    last_modified_ms: T + i,
                    etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
                    size: i * 1000,
                    class: None,
                    metadata: None,
                })
                .collect(),
            ..Default::default()
        };
        let start = std::time::Instant::now();
        let mut total = 0;
        for _ in 0..20 {
            total += list_objects_v2(&r).len();
        }
        let per = start.elapsed() / 20;
        assert!(total > 0);
        // ~0.2 ms in release. Debug builds (how tests run) are ~15x slower and
        // CI is shared, so only catch gross regressions there.
        let limit_ms = if cfg!(debug_assertions) { 50 } else { 1 };
        assert!(
            per < std::time::Duration::from_millis(limit_ms),
            "took {per:?}"
        );
    }

    #[test]
    fn listing_parses_back() {
        let r = ListV2Response {
            name: "b".into(),
            contents: vec![entry("a&b<c>\"d'\r\n\te")],
            ..Default::default()
        };
        let xml = list_objects_v2(&r);
        let mut reader = Reader::from_reader(xml.as_slice());
        let mut in_key = false;
        let mut key = String::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => in_key = e.name().as_ref() == b"Key",
                Event::Text(t) if in_key => key.push_str(&t.unescape().unwrap()),
                Event::End(_) => in_key = false,
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(key, "a&b<c>\"d'\r\n\te");
    }

    #[test]
    fn location_shapes() {
        let ns = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
        assert_eq!(
            s(location("us-east-1")),
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint {ns}/>")
        );
        assert_eq!(s(location("")), s(location("us-east-1")));
        assert_eq!(
            s(location("eu-west-1")),
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint {ns}>eu-west-1</LocationConstraint>")
        );
    }

    #[test]
    fn copy_result() {
        let x = s(copy_object_result("\"abc\"", T));
        assert!(x.ends_with(
            "<CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LastModified>2009-10-12T17:50:30.000Z</LastModified>\
             <ETag>&quot;abc&quot;</ETag></CopyObjectResult>"
        ));
        assert_eq!(s(copy_object_result("abc", T)), x);
    }

    #[test]
    fn delete_result_shapes() {
        let deleted = [
            DeletedEntry {
                key: "a&b".into(),
                version_id: None,
                delete_marker: false,
                delete_marker_version_id: None,
            },
            DeletedEntry {
                key: "c".into(),
                version_id: Some("v1".into()),
                delete_marker: false,
                delete_marker_version_id: None,
            },
            DeletedEntry {
                key: "e".into(),
                version_id: None,
                delete_marker: true,
                delete_marker_version_id: Some("m1".into()),
            },
        ];
        let errors = [DeleteError {
            key: "d".into(),
            code: S3Code::AccessDenied,
            message: "Access Denied".into(),
        }];
        let x = s(delete_result(&deleted, &errors, false));
        assert!(x.contains(
            "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Deleted><Key>a&amp;b</Key></Deleted><Deleted><Key>c</Key>\
             <VersionId>v1</VersionId></Deleted><Deleted><Key>e</Key><DeleteMarker>true</DeleteMarker>\
             <DeleteMarkerVersionId>m1</DeleteMarkerVersionId></Deleted>\
             <Error><Key>d</Key><Code>AccessDenied</Code>\
             <Message>Access Denied</Message></Error></DeleteResult>"
        ));
        let q = s(delete_result(&deleted, &errors, true));
        assert!(!q.contains("<Deleted>"));
        assert!(q.contains("<Error><Key>d</Key>"));
        assert!(s(delete_result(&[], &[], true)).ends_with(
            "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>"
        ));
    }

    #[test]
    fn create_bucket_bodies() {
        assert_eq!(parse_create_bucket(b""), Ok(None));
        assert_eq!(parse_create_bucket(b"  \r\n "), Ok(None));
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
   <LocationConstraint>eu-west-1</LocationConstraint>
</CreateBucketConfiguration>"#;
        assert_eq!(parse_create_bucket(body), Ok(Some("eu-west-1".into())));
        assert_eq!(
            parse_create_bucket(
                b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>"
            ),
            Ok(None)
        );
        assert_eq!(
            parse_create_bucket(b"<CreateBucketConfiguration/>"),
            Ok(None)
        );
        assert_eq!(
            parse_create_bucket(b"<s3:CreateBucketConfiguration xmlns:s3=\"x\"><s3:LocationConstraint>r1</s3:LocationConstraint><Bucket><Type>Directory</Type></Bucket></s3:CreateBucketConfiguration>"),
            Ok(Some("r1".into()))
        );
        for bad in [
            &b"<Foo/>"[..],
            b"not xml",
            b"<CreateBucketConfiguration>",
            b"<CreateBucketConfiguration></Other>",
            b"<CreateBucketConfiguration/><CreateBucketConfiguration/>",
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><CreateBucketConfiguration/>",
            b"<CreateBucketConfiguration><LocationConstraint>&bogus;</LocationConstraint></CreateBucketConfiguration>",
        ] {
            assert_eq!(
                parse_create_bucket(bad).unwrap_err().code,
                S3Code::MalformedXML,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn delete_objects_basic() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Quiet>true</Quiet>
  <Object><Key>a</Key></Object>
  <Object><Key>b</Key><VersionId>v2</VersionId><ETag>"x"</ETag></Object>
</Delete>"#;
        let r = parse_delete_objects(body).unwrap();
        assert!(r.quiet);
        assert_eq!(
            r.objects,
            vec![("a".into(), None), ("b".into(), Some("v2".into()))]
        );
        let r = parse_delete_objects(b"<Delete><Object><Key>k</Key></Object></Delete>").unwrap();
        assert!(!r.quiet);
        let r = parse_delete_objects(
            b"<Delete><Quiet>False</Quiet><Object><Key>k</Key><VersionId/></Object></Delete>",
        )
        .unwrap();
        assert!(!r.quiet);
        assert_eq!(r.objects, vec![("k".into(), None)]);
    }

    #[test]
    fn delete_objects_entities_and_whitespace() {
        let body =
            "<Delete><Object><Key>a &amp; b&#x0D;&#10;&lt;c&gt;&quot;&apos;&#xE9;</Key></Object>\
                    <Object><Key>  spaced  </Key></Object>\
                    <Object><Key><![CDATA[x<&>y]]></Key></Object>\
                    <Object><Key>line\r\nbreak\rx</Key></Object>\
                    <Object><Key>a<!-- c -->b</Key></Object>\
                    <Object><Key>ünï/çødé</Key></Object></Delete>";
        let r = parse_delete_objects(body.as_bytes()).unwrap();
        let keys: Vec<_> = r.objects.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "a & b\r\n<c>\"'é",
                "  spaced  ",
                "x<&>y",
                "line\nbreak\nx",
                "ab",
                "ünï/çødé"
            ]
        );
    }

    #[test]
    fn delete_objects_limits() {
        let mk = |n: usize| {
            let mut b = String::from("<Delete>");
            for i in 0..n {
                b.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
            }
            b.push_str("</Delete>");
            b
        };
        assert_eq!(
            parse_delete_objects(mk(1000).as_bytes())
                .unwrap()
                .objects
                .len(),
            1000
        );
        assert_eq!(
            parse_delete_objects(mk(1001).as_bytes()).unwrap_err().code,
            S3Code::MalformedXML
        );
    }

    #[test]
    fn delete_objects_rejects_garbage() {
        let deep = format!(
            "<Delete>{}{}</Delete>",
            "<a>".repeat(100),
            "</a>".repeat(100)
        );
        let bads: Vec<&[u8]> = vec![
            b"",
            b"<Delete></Delete>",
            b"<Delete/>",
            b"<Delete><Object></Object></Delete>",
            b"<Delete><Object><Key></Key></Object></Delete>",
            b"<Delete><Object><VersionId>v</VersionId></Object></Delete>",
            b"<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>",
            b"<Delete><Object><Key>k</Key></Object>",
            b"<Delete><Object><Key>k</Object></Key></Delete>",
            b"<Remove><Object><Key>k</Key></Object></Remove>",
            b"<Delete><Object><Key>k</Key></Object></Delete><Delete/>",
            b"junk<Delete><Object><Key>k</Key></Object></Delete>",
            b"<Delete>junk<Object><Key>k</Key></Object></Delete>",
            b"<Delete><Object><Key>&unknown;</Key></Object></Delete>",
            b"<Delete><Object><Key>&#0;</Key></Object></Delete>",
            b"<Delete><Object><Key>\xff\xfe</Key></Object></Delete>",
            b"<!DOCTYPE d [<!ENTITY e \"x\">]><Delete><Object><Key>&e;</Key></Object></Delete>",
            deep.as_bytes(),
        ];
        for b in bads {
            assert_eq!(
                parse_delete_objects(b).map_err(|e| e.code),
                Err(S3Code::MalformedXML),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
    }

    #[test]
    fn delete_objects_bom_and_prefix() {
        let r = parse_delete_objects(
            b"\xEF\xBB\xBF<s3:Delete xmlns:s3=\"u\"><s3:Object><s3:Key>k</s3:Key></s3:Object></s3:Delete>",
        )
        .unwrap();
        assert_eq!(r.objects, vec![("k".into(), None)]);
    }

    #[test]
    fn parsers_never_panic_on_fuzz() {
        // Cheap deterministic fuzz: mutate a valid body byte by byte.
        let base = b"<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key><VersionId>v</VersionId></Object></Delete>".to_vec();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..5000 {
            let mut b = base.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let _ = parse_delete_objects(&b);
            let _ = parse_create_bucket(&b);
            b.truncate((seed as usize) % (b.len() + 1));
            let _ = parse_delete_objects(&b);
        }
    }
}
