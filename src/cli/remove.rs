//! `cairn admin rm`: one object, or (`-r`) every object under a prefix,
//! and with `--versions` every version and delete marker too. The listing
//! is read a page at a time and each page deleted with DeleteObjects
//! (1,000 keys a request), so memory stays at one page however many keys
//! there are. Keys the server refuses are reported one by one and the
//! command exits 1 once the rest are gone.

use base64::Engine as _;
use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::client::{Client, Node, Payload};
use super::objects::{remote, xml_escape, Remote, RmArgs, MAX_LIST_PAGES};
use super::output;
use super::{confirm, CliError, Ctx};

/// Most keys in one DeleteObjects request (S3's limit) and in one list page.
const BATCH: usize = 1000;
/// Per-key failures kept for the report; beyond this they are only counted.
const MAX_REPORTED: usize = 1000;

/// One object to delete: its key and, with `--versions`, the version.
type Target = (String, Option<String>);

/// The listing being walked: ListObjectsV2 or (`--versions`)
/// ListObjectVersions, a page at a time.
struct Pager<'a> {
    r: &'a Remote,
    versions: bool,
    /// Only `r.key` itself (not a prefix): `rm --versions KEY`.
    exact: bool,
    token: String,
    key_marker: String,
    version_marker: String,
    done: bool,
}

impl Pager<'_> {
    fn next(&mut self, c: &mut Client) -> Result<Vec<Target>, CliError> {
        if self.done {
            return Ok(Vec::new());
        }
        let max = BATCH.to_string();
        let mut q: Vec<(&str, &str)> =
            vec![("prefix", self.r.key.as_str()), ("max-keys", max.as_str())];
        if self.versions {
            q.push(("versions", ""));
            if !self.key_marker.is_empty() {
                q.push(("key-marker", self.key_marker.as_str()));
                if !self.version_marker.is_empty() {
                    q.push(("version-id-marker", self.version_marker.as_str()));
                }
            }
        } else {
            q.push(("list-type", "2"));
            if !self.token.is_empty() {
                q.push(("continuation-token", self.token.as_str()));
            }
        }
        let (_, doc) = c.s3("GET", &self.r.bucket_path(), &q, &[], Payload::Empty)?;
        let doc: Node = doc.unwrap_or_default();
        let mut page: Vec<Target> = Vec::new();
        if self.versions {
            for v in doc.children.iter() {
                if v.name == "Version" || v.name == "DeleteMarker" {
                    page.push((
                        v.text_of("Key").to_owned(),
                        Some(v.text_of("VersionId").to_owned()),
                    ));
                }
            }
        } else {
            for o in doc.all("Contents") {
                page.push((o.text_of("Key").to_owned(), None));
            }
        }
        if self.exact {
            page.retain(|(k, _)| *k == self.r.key);
        }
        let truncated = doc.text_of("IsTruncated") == "true";
        // A marker that does not move would list the same page for ever.
        if self.versions {
            let (k, v) = (
                doc.text_of("NextKeyMarker"),
                doc.text_of("NextVersionIdMarker"),
            );
            let stuck = k.is_empty() || (k == self.key_marker && v == self.version_marker);
            self.done = !truncated || stuck;
            self.key_marker = k.to_owned();
            self.version_marker = v.to_owned();
        } else {
            let next = doc.text_of("NextContinuationToken");
            self.done = !truncated || next.is_empty() || next == self.token;
            self.token = next.to_owned();
        }
        Ok(page)
    }
}

/// What the removal did, for the summary and `--json`.
#[derive(Default)]
struct Report {
    removed: u64,
    failed: u64,
    errors: Vec<Value>,
}

/// The DeleteObjects body for `batch` (quiet: only failures come back).
fn delete_body(batch: &[Target]) -> String {
    let mut body = String::from("<Delete><Quiet>true</Quiet>");
    for (key, version) in batch {
        body.push_str("<Object><Key>");
        body.push_str(&xml_escape(key));
        body.push_str("</Key>");
        if let Some(v) = version {
            body.push_str("<VersionId>");
            body.push_str(&xml_escape(v));
            body.push_str("</VersionId>");
        }
        body.push_str("</Object>");
    }
    body.push_str("</Delete>");
    body
}

/// Deletes one batch with DeleteObjects; prints each key removed and each
/// refused.
fn delete_batch(
    ctx: &Ctx,
    c: &mut Client,
    r: &Remote,
    batch: &[Target],
    report: &mut Report,
) -> Result<(), CliError> {
    let body = delete_body(batch);
    // S3 insists on Content-MD5 (or a checksum) for DeleteObjects.
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
    let (_, doc) = c.s3(
        "POST",
        &r.bucket_path(),
        &[("delete", "")],
        &[
            ("content-md5", md5.as_str()),
            ("content-type", "application/xml"),
        ],
        Payload::Bytes(body.as_bytes()),
    )?;
    let doc = doc.unwrap_or_default();
    let refused: Vec<(&str, &str, &str, &str)> = doc
        .all("Error")
        .map(|e| {
            (
                e.text_of("Key"),
                e.text_of("VersionId"),
                e.text_of("Code"),
                e.text_of("Message"),
            )
        })
        .collect();
    for (key, version, code, message) in &refused {
        report.failed += 1;
        let shown = if version.is_empty() {
            format!("{}/{}/{key}", r.alias, r.bucket)
        } else {
            format!("{}/{}/{key} (version {version})", r.alias, r.bucket)
        };
        if !ctx.json {
            eprintln!("cairn: {shown}: {code}: {message}");
        }
        if report.errors.len() < MAX_REPORTED {
            let mut e = json!({"key": key, "code": code, "message": message});
            if !version.is_empty() {
                e["versionId"] = json!(version);
            }
            report.errors.push(e);
        }
    }
    for (key, version) in batch {
        let failed = refused
            .iter()
            .any(|(k, v, _, _)| *k == key.as_str() && version.as_deref().is_none_or(|x| x == *v));
        if failed {
            continue;
        }
        report.removed += 1;
        if !ctx.json {
            match version {
                Some(v) => println!("Removed {}/{}/{key} (version {v})", r.alias, r.bucket),
                None => println!("Removed {}/{}/{key}", r.alias, r.bucket),
            }
        }
    }
    Ok(())
}

pub fn rm(ctx: &Ctx, a: RmArgs) -> Result<(), CliError> {
    let r = remote(&a.target)?;
    r.need_bucket()?;
    let mut c = Client::connect(ctx, &r.alias)?;
    if !a.recursive && !a.versions {
        r.need_key()?;
        c.s3("DELETE", &r.object_path(), &[], &[], Payload::Empty)?;
        if ctx.json {
            output::json(&json!({"status": "removed", "bucket": r.bucket, "removed": 1}));
        } else {
            println!("Removed {}", r.display());
        }
        return Ok(());
    }
    if !a.recursive {
        r.need_key()?;
    }
    let mut pager = Pager {
        r: &r,
        versions: a.versions,
        exact: !a.recursive,
        token: String::new(),
        key_marker: String::new(),
        version_marker: String::new(),
        done: false,
    };
    let mut page = pager.next(&mut c)?;
    if page.is_empty() && pager.done {
        return Err(CliError::Failed(format!(
            "no objects under {}",
            r.display()
        )));
    }
    let what = if a.versions {
        "versions and delete markers"
    } else {
        "objects"
    };
    let count = if pager.done {
        page.len().to_string()
    } else {
        format!("{} or more", page.len())
    };
    confirm(
        a.force,
        &format!("Remove {count} {what} under {}", r.display()),
    )?;
    let mut report = Report::default();
    for _ in 0..MAX_LIST_PAGES {
        for batch in page.chunks(BATCH) {
            delete_batch(ctx, &mut c, &r, batch, &mut report)?;
        }
        if pager.done {
            break;
        }
        page = pager.next(&mut c)?;
    }
    if ctx.json {
        output::json(&json!({
            "status": if report.failed == 0 { "removed" } else { "partial" },
            "bucket": r.bucket,
            "removed": report.removed,
            "failed": report.failed,
            "errors": report.errors,
        }));
    }
    if report.failed > 0 {
        return Err(CliError::Failed(format!(
            "{} of {} not removed under {}",
            report.failed,
            report.failed + report.removed,
            r.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_body_escapes_keys_and_names_versions() {
        let body = delete_body(&[("a&b<c>".into(), None), ("k\r".into(), Some("v1".into()))]);
        assert_eq!(
            body,
            "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b&lt;c&gt;</Key></Object>\
             <Object><Key>k&#13;</Key><VersionId>v1</VersionId></Object></Delete>"
        );
    }
}
