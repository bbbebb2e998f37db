//! Fan-out uploads (MinIO's extension; minio-go's `PutObjectFanOut`,
//! `warp fanout`): a PostObject form whose `x-minio-fanout-list` field
//! names copies, one JSON object per copy (`key`, and optionally
//! `metadata`, `tags`, `contentType`, `contentEncoding`,
//! `contentDisposition`, `contentLanguage`, `cacheControl`, `retention`,
//! `retainUntil`), stores the one uploaded file once per copy and answers
//! one JSON line per copy (`key`, `etag`, `versionId`, `lastModified`, or
//! `error`), in list order.
//!
//! As MinIO, the list is not a form value the policy must name, and the
//! file is held in memory, at most [`MAX_FILE`] bytes (MinIO's limit): it
//! is read from the network once and hashed once; every copy is an
//! ordinary PUT of the same buffers. Each copy is authorised as
//! `s3:PutObject` on its own key (MinIO asks `s3:PutObjectFanOut` once, on
//! the form's key, which cairn's IAM does not have): a copy refused, or
//! whose metadata is invalid, gets an `error` line and the others are
//! stored.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use serde::Deserialize;

use crate::engine::{BodyChunk, BodySource, ObjectInfo, Versioning};
use crate::iam::action::Action;
use crate::s3::authorize::Authorizer;
use crate::s3::common::metadata::put_options;
use crate::s3::error::{S3Code, S3Error};
use crate::s3::router::{format_version_id, Check, Resource};

use super::policy::Fields;
use super::PostApi;

/// The form field holding the list.
pub const FIELD: &str = super::form::FANOUT_FIELD;
/// Most copies one form asks for (MinIO sets no limit; a list this long
/// is 1,000 PUTs from one request).
pub const MAX_ENTRIES: usize = 1000;
/// Longest list (the form decoder holds it to this too).
pub const MAX_LIST_BYTES: usize = super::form::MAX_FANOUT_LIST_LEN;
/// Largest file fanned out (MinIO's `maxFanOutSize`).
pub const MAX_FILE: u64 = 16 << 20;
/// Copies stored at once.
const IN_FLIGHT: usize = 16;

/// One copy, as minio-go's `PutObjectFanOutEntry` encodes it (unknown
/// members are ignored, as Go's decoder does).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(default)]
    pub key: String,
    pub metadata: Option<BTreeMap<String, String>>,
    pub tags: Option<BTreeMap<String, String>>,
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub retention: Option<String>,
    pub retain_until: Option<String>,
}

fn malformed(why: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        S3Code::MalformedPOSTRequest,
        format!("The body of your POST request is not well-formed multipart/form-data. ({why})"),
    )
}

/// Parses the list: JSON objects one after another (whitespace between
/// them, as Go's encoder writes one per line). Anything else refuses the
/// whole form, as MinIO does.
pub fn parse_list(list: &str) -> Result<Vec<Entry>, S3Error> {
    if list.len() > MAX_LIST_BYTES {
        return Err(malformed(format!(
            "{FIELD} is longer than {MAX_LIST_BYTES} bytes"
        )));
    }
    let mut out = Vec::new();
    for e in serde_json::Deserializer::from_str(list).into_iter::<Entry>() {
        out.push(e.map_err(|e| malformed(format!("{FIELD}: {e}")))?);
        if out.len() > MAX_ENTRIES {
            return Err(malformed(format!(
                "{FIELD} names more than {MAX_ENTRIES} objects"
            )));
        }
    }
    Ok(out)
}

/// Removes the list from the form's fields (so the policy never sees
/// it); `None` when the form has none or an empty one (an ordinary
/// upload, as MinIO).
pub fn take_list(fields: &mut Fields) -> Result<Option<Vec<Entry>>, S3Error> {
    let Some(list) = fields.remove(FIELD) else {
        return Ok(None);
    };
    let entries = parse_list(&list)?;
    Ok((!entries.is_empty()).then_some(entries))
}

fn set(h: &mut HeaderMap, name: &str, value: &str) -> Result<(), S3Error> {
    let invalid = || {
        S3Error::new(
            S3Code::InvalidArgument,
            format!("The fan-out entry's {name} is not valid."),
        )
    };
    let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
    let v = HeaderValue::from_str(value).map_err(|_| invalid())?;
    h.insert(n, v);
    Ok(())
}

fn query_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The headers a PutObject of this copy would carry: the form's, with the
/// entry's over them. The stored metadata, tags and lock settings are then
/// read from them as from any PUT's.
pub fn entry_headers(form: &HeaderMap, e: &Entry) -> Result<HeaderMap, S3Error> {
    let mut h = form.clone();
    let plain = [
        ("content-type", &e.content_type),
        ("content-encoding", &e.content_encoding),
        ("content-disposition", &e.content_disposition),
        ("content-language", &e.content_language),
        ("cache-control", &e.cache_control),
        ("x-amz-object-lock-mode", &e.retention),
        ("x-amz-object-lock-retain-until-date", &e.retain_until),
    ];
    for (name, value) in plain {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            set(&mut h, name, v)?;
        }
    }
    if let Some(meta) = &e.metadata {
        for (k, v) in meta {
            // Go's client sends the bare names or with the prefix.
            let k = k.to_ascii_lowercase();
            let k = k.strip_prefix("x-amz-meta-").unwrap_or(&k);
            set(&mut h, &format!("x-amz-meta-{k}"), v)?;
        }
    }
    if let Some(tags) = e.tags.as_ref().filter(|t| !t.is_empty()) {
        let q: Vec<String> = tags
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        set(&mut h, "x-amz-tagging", &q.join("&"))?;
    }
    Ok(h)
}

/// One answer line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Stored {
        key: String,
        etag: String,
        version_id: Option<String>,
        modified_ms: u64,
    },
    Failed {
        key: String,
        error: String,
    },
}

impl Line {
    /// The line as minio-go's `PutObjectFanOutResponse` reads it.
    pub fn to_json(&self) -> String {
        let v = match self {
            Line::Stored {
                key,
                etag,
                version_id,
                modified_ms,
            } => {
                let mut m = serde_json::Map::new();
                m.insert("key".into(), key.clone().into());
                m.insert("etag".into(), etag.clone().into());
                if let Some(id) = version_id {
                    m.insert("versionId".into(), id.clone().into());
                }
                m.insert(
                    "lastModified".into(),
                    crate::s3::xml::iso8601_ms(*modified_ms).into(),
                );
                serde_json::Value::Object(m)
            }
            Line::Failed { key, error } => serde_json::json!({ "key": key, "error": error }),
        };
        let mut s = v.to_string();
        s.push('\n');
        s
    }
}

/// What every copy shares.
pub struct Plan<'a, 'z> {
    pub bucket: &'a str,
    /// The form's fields as PutObject headers.
    pub headers: HeaderMap,
    /// The policy conditions' view of the request.
    pub conditions: HeaderMap,
    /// The form's ACL as stored headers.
    pub acl: Option<(String, String)>,
    pub requested: crate::s3::sse::Requested,
    pub authz: &'a Authorizer<'z>,
    /// Who posted, for event notifications (each copy is a Post event).
    pub origin: Option<crate::notify::event::Origin>,
}

/// The file, read once.
pub struct File {
    pub chunks: Vec<Bytes>,
    pub md5: [u8; 16],
    pub checksums: Vec<(String, String)>,
}

/// A copy's body: the shared buffers, and the MD5 and checksums computed
/// once for all.
struct CopyBody<'a> {
    file: &'a File,
    next: usize,
}

impl BodySource for CopyBody<'_> {
    async fn next_chunk(&mut self) -> crate::engine::Result<BodyChunk> {
        let c = match self.file.chunks.get(self.next) {
            Some(b) => BodyChunk::Data(b.clone()),
            None => BodyChunk::End(Some(self.file.md5)),
        };
        self.next += 1;
        Ok(c)
    }

    fn supplies_md5(&self) -> bool {
        true
    }

    fn checksums(&self) -> Vec<(String, String)> {
        self.file.checksums.clone()
    }
}

async fn store_one(
    api: &PostApi<'_>,
    plan: &Plan<'_, '_>,
    file: &File,
    e: &Entry,
) -> Result<ObjectInfo, S3Error> {
    let key = e.key.as_str();
    crate::engine::write::validate_key(key)?;
    let headers = entry_headers(&plan.headers, e)?;
    let mut opts = put_options(&headers, &api.engine.shared.classes)?;
    opts.event = plan.origin.clone();
    let tags: Vec<(&str, &str)> = opts
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let put = Check {
        action: Action::S3PutObject,
        resource: Resource::Object {
            bucket: plan.bucket,
            key,
        },
    };
    if !plan.authz.allows_with_tags(put, &plan.conditions, &tags) {
        return Err(S3Error::from_code(S3Code::AccessDenied));
    }
    opts.headers.extend(plan.acl.iter().cloned());
    opts.attrs =
        crate::s3::lock::write_attrs(api.engine, plan.authz, &headers, (plan.bucket, key), true)?;
    opts.seal = crate::s3::sse::seal_for(
        plan.bucket,
        key,
        &plan.requested,
        api.engine.deduplicates(plan.bucket),
    )
    .await?
    .map(|s| s.seal);
    let mut body = CopyBody { file, next: 0 };
    Ok(api.engine.put(plan.bucket, key, opts, &mut body).await?)
}

/// Stores every copy, [`IN_FLIGHT`] at a time; the answer's lines in
/// list order.
pub async fn store(
    api: &PostApi<'_>,
    plan: &Plan<'_, '_>,
    file: &File,
    entries: &[Entry],
) -> String {
    let versioned = !matches!(
        api.engine.versioning(plan.bucket),
        Ok(Versioning::Off) | Err(_)
    );
    let lines: Vec<Line> = futures_util::stream::iter(entries)
        .map(|e| async move {
            match store_one(api, plan, file, e).await {
                Ok(info) => Line::Stored {
                    key: e.key.clone(),
                    etag: info.etag,
                    version_id: versioned.then(|| format_version_id(info.sel)),
                    modified_ms: info.modified_ms,
                },
                Err(err) => Line::Failed {
                    key: e.key.clone(),
                    error: format!("{}: {}", err.code.as_str(), err.message),
                },
            }
        })
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    lines.iter().map(Line::to_json).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_as_minio_go_writes_them_parse_in_order() {
        let list = concat!(
            "{\"key\":\"a/copy-0.ext\",\"contentType\":\"text/plain\"}\n",
            "{\"key\":\"b\",\"metadata\":{\"Color\":\"red\"},\"tags\":{\"t\":\"1\"},",
            "\"retention\":\"GOVERNANCE\",\"retainUntil\":\"2030-01-02T03:04:05.123456789Z\",",
            "\"unknownField\":[1,2]}\n",
            "  {\"key\":\"c\"}{\"key\":\"d\"}\n"
        );
        let e = parse_list(list).unwrap();
        let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a/copy-0.ext", "b", "c", "d"]);
        assert_eq!(e[0].content_type.as_deref(), Some("text/plain"));
        assert_eq!(e[1].metadata.as_ref().unwrap()["Color"], "red");
        assert_eq!(e[1].retention.as_deref(), Some("GOVERNANCE"));
        assert_eq!(parse_list("").unwrap(), Vec::new());
        assert_eq!(parse_list(" \n ").unwrap(), Vec::new());
    }

    #[test]
    fn bad_json_and_oversized_lists_refuse_the_form() {
        for bad in [
            "{\"key\":\"a\"",
            "{\"key\":\"a\"} garbage",
            "[{\"key\":\"a\"}]",
            "{\"key\":5}",
            "{\"key\":\"a\",\"metadata\":{\"x\":1}}",
            "\"key\"",
        ] {
            let e = parse_list(bad).unwrap_err();
            assert_eq!(e.code, S3Code::MalformedPOSTRequest, "{bad}");
        }
        let many: String = (0..=MAX_ENTRIES)
            .map(|i| format!("{{\"key\":\"k{i}\"}}\n"))
            .collect();
        assert_eq!(
            parse_list(&many).unwrap_err().code,
            S3Code::MalformedPOSTRequest
        );
        let fits: String = (0..MAX_ENTRIES)
            .map(|i| format!("{{\"key\":\"k{i}\"}}\n"))
            .collect();
        assert_eq!(parse_list(&fits).unwrap().len(), MAX_ENTRIES);
        let long = format!("{{\"key\":\"{}\"}}", "x".repeat(MAX_LIST_BYTES));
        assert_eq!(
            parse_list(&long).unwrap_err().code,
            S3Code::MalformedPOSTRequest
        );
    }

    #[test]
    fn the_list_leaves_the_fields_the_policy_checks() {
        let mut f = Fields::default();
        f.insert("key", "k".into());
        f.insert("X-Minio-Fanout-List", "{\"key\":\"a\"}\n".into());
        let e = take_list(&mut f).unwrap().unwrap();
        assert_eq!(e.len(), 1);
        assert!(f.get(FIELD).is_none());
        assert_eq!(f.get("key"), Some("k"));
        let mut none = Fields::default();
        assert_eq!(take_list(&mut none).unwrap(), None);
        none.insert(FIELD, "\n".into());
        assert_eq!(take_list(&mut none).unwrap(), None);
    }

    #[test]
    fn an_entry_overrides_the_forms_headers_and_adds_its_own() {
        let mut form = HeaderMap::new();
        form.insert("content-type", HeaderValue::from_static("image/png"));
        form.insert("x-amz-meta-from-form", HeaderValue::from_static("1"));
        let e = Entry {
            key: "k".into(),
            content_type: Some("text/plain".into()),
            cache_control: Some("no-cache".into()),
            metadata: Some(BTreeMap::from([
                ("Color".into(), "red".into()),
                ("X-Amz-Meta-Size".into(), "big".into()),
            ])),
            tags: Some(BTreeMap::from([
                ("a b".into(), "c+d/e".into()),
                ("e".into(), "".into()),
            ])),
            retention: Some("COMPLIANCE".into()),
            retain_until: Some("2030-01-01T00:00:00Z".into()),
            ..Entry::default()
        };
        let h = entry_headers(&form, &e).unwrap();
        assert_eq!(h["content-type"], "text/plain");
        assert_eq!(h["cache-control"], "no-cache");
        assert_eq!(h["x-amz-meta-from-form"], "1");
        assert_eq!(h["x-amz-meta-color"], "red");
        assert_eq!(h["x-amz-meta-size"], "big");
        assert_eq!(h["x-amz-object-lock-mode"], "COMPLIANCE");
        let layout = crate::engine::layout::Layout { data: 1, parity: 0 };
        let classes = crate::engine::class::Classes::build(layout, &[], None, &[]).unwrap();
        let opts = put_options(&h, &classes).unwrap();
        assert_eq!(
            opts.tags,
            [
                ("a b".to_owned(), "c+d/e".to_owned()),
                ("e".to_owned(), String::new())
            ]
        );
        // A value no header can carry is the entry's error.
        let bad = Entry {
            key: "k".into(),
            content_type: Some("a\nb".into()),
            ..Entry::default()
        };
        assert_eq!(
            entry_headers(&form, &bad).unwrap_err().code,
            S3Code::InvalidArgument
        );
    }

    #[test]
    fn answer_lines_are_what_minio_go_decodes() {
        let ok = Line::Stored {
            key: "a\"b".into(),
            etag: "0123".into(),
            version_id: None,
            modified_ms: 1_700_000_000_123,
        };
        assert_eq!(
            ok.to_json(),
            "{\"etag\":\"0123\",\"key\":\"a\\\"b\",\"lastModified\":\"2023-11-14T22:13:20.123Z\"}\n"
        );
        let v = Line::Stored {
            key: "k".into(),
            etag: "e".into(),
            version_id: Some("null".into()),
            modified_ms: 0,
        };
        assert!(v.to_json().contains("\"versionId\":\"null\""));
        let bad = Line::Failed {
            key: "k".into(),
            error: "AccessDenied: Access Denied.".into(),
        };
        let j: serde_json::Value = serde_json::from_str(bad.to_json().trim_end()).unwrap();
        assert_eq!(j["error"], "AccessDenied: Access Denied.");
        assert_eq!(j["key"], "k");
    }
}
