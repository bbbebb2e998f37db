//! The everyday object commands, so no aws CLI is needed: `ls`, `cp`,
//! `cat`, `rm`, `mb`, `rb`, `presign`. A remote path is
//! `ALIAS[/BUCKET[/KEY]]` whose first part is a configured alias; anything
//! else (or anything starting with `/` or `./`) is a local file.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use super::alias;
use super::client::{Client, Node, Payload};
use super::output::{self, parse_secs};
use super::sign::uri_encode;
use super::{confirm, CliError, Ctx};

/// Files above this go up as a multipart upload.
pub const MULTIPART_THRESHOLD: u64 = 64 << 20;
/// Part size (raised for files so large that 10,000 parts would not do).
const PART_SIZE: u64 = 16 << 20;
/// S3's most parts in one upload.
const MAX_PARTS: u64 = 10_000;
/// Most list pages followed (1,000 keys each).
pub const MAX_LIST_PAGES: usize = 1_000_000;
/// Longest a presigned URL may live (SigV4's limit).
const MAX_PRESIGN_SECS: u64 = 7 * 86_400;

#[derive(Args, Debug)]
pub struct LsArgs {
    /// ALIAS, ALIAS/BUCKET or ALIAS/BUCKET/PREFIX
    pub target: String,
    /// Every key under the prefix, not one level.
    #[arg(long, short)]
    pub recursive: bool,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// A local file or ALIAS/BUCKET/KEY.
    pub source: String,
    /// ALIAS/BUCKET[/KEY] or a local file or directory.
    pub target: String,
}

#[derive(Args, Debug)]
pub struct CatArgs {
    /// ALIAS/BUCKET/KEY
    pub object: String,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// ALIAS/BUCKET/KEY, or ALIAS/BUCKET/PREFIX with --recursive.
    pub target: String,
    /// Remove every object under the prefix.
    #[arg(long, short)]
    pub recursive: bool,
    /// Remove every version and delete marker too (of the key, or with
    /// --recursive of every key under the prefix).
    #[arg(long)]
    pub versions: bool,
    /// Do not ask.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct MbArgs {
    /// ALIAS/BUCKET
    pub bucket: String,
}

#[derive(Args, Debug)]
pub struct RbArgs {
    /// ALIAS/BUCKET
    pub bucket: String,
    /// Do not ask.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct PresignArgs {
    /// ALIAS/BUCKET/KEY
    pub object: String,
    /// How long the URL works: seconds, or 30m, 12h, 7d (at most 7d).
    #[arg(long, default_value = "7d")]
    pub expires: String,
}

/// `ALIAS/BUCKET/KEY` split.
#[derive(Debug, PartialEq)]
pub struct Remote {
    pub alias: String,
    pub bucket: String,
    pub key: String,
}

impl Remote {
    fn parse(s: &str) -> Remote {
        let mut it = s.splitn(3, '/');
        Remote {
            alias: it.next().unwrap_or("").to_owned(),
            bucket: it.next().unwrap_or("").to_owned(),
            key: it.next().unwrap_or("").to_owned(),
        }
    }

    pub fn bucket_path(&self) -> String {
        format!("/{}", uri_encode(&self.bucket, false))
    }

    pub fn object_path(&self) -> String {
        format!(
            "/{}/{}",
            uri_encode(&self.bucket, false),
            uri_encode(&self.key, true)
        )
    }

    pub fn display(&self) -> String {
        format!("{}/{}/{}", self.alias, self.bucket, self.key)
    }

    pub fn need_bucket(&self) -> Result<(), CliError> {
        if self.bucket.is_empty() {
            return Err(CliError::Usage(format!("{}: name a bucket", self.alias)));
        }
        Ok(())
    }

    pub fn need_key(&self) -> Result<(), CliError> {
        self.need_bucket()?;
        if self.key.is_empty() {
            return Err(CliError::Usage(format!(
                "{}/{}: name an object",
                self.alias, self.bucket
            )));
        }
        Ok(())
    }
}

/// True when `s` names an object on an alias rather than a local file.
fn is_remote(s: &str) -> bool {
    if s.starts_with('/') || s.starts_with("./") || s.starts_with("../") {
        return false;
    }
    alias::exists(s.split('/').next().unwrap_or(""))
}

pub fn remote(s: &str) -> Result<Remote, CliError> {
    if !is_remote(s) {
        // Let the alias lookup name the known aliases.
        alias::get(s.split('/').next().unwrap_or(""))?;
    }
    Ok(Remote::parse(s))
}

pub fn ls(ctx: &Ctx, a: LsArgs) -> Result<(), CliError> {
    let r = remote(&a.target)?;
    let mut c = Client::connect(ctx, &r.alias)?;
    if r.bucket.is_empty() {
        let (_, doc) = c.s3("GET", "/", &[], &[], Payload::Empty)?;
        let doc = doc.unwrap_or_default();
        let buckets: Vec<Value> = doc
            .child("Buckets")
            .map(|b| {
                b.all("Bucket")
                    .map(|x| json!({"name": x.text_of("Name"), "creationDate": x.text_of("CreationDate")}))
                    .collect()
            })
            .unwrap_or_default();
        if ctx.json {
            output::json(&json!({ "buckets": buckets }));
        } else {
            for b in &buckets {
                println!(
                    "[{}]  {}/",
                    short_time(b["creationDate"].as_str().unwrap_or("")),
                    b["name"].as_str().unwrap_or("")
                );
            }
        }
        return Ok(());
    }
    let delimiter = if a.recursive { None } else { Some("/") };
    let (objects, prefixes) = list(&mut c, &r, delimiter)?;
    if ctx.json {
        output::json(&json!({"objects": objects, "prefixes": prefixes}));
        return Ok(());
    }
    for p in &prefixes {
        println!("{:>21}  {:>10}  {p}", "", "PRE");
    }
    for o in &objects {
        println!(
            "[{}]  {:>10}  {}",
            short_time(o["lastModified"].as_str().unwrap_or("")),
            output::bytes(o["size"].as_u64().unwrap_or(0)),
            o["key"].as_str().unwrap_or("")
        );
    }
    Ok(())
}

/// `2026-12-05T08:34:35.120Z` -> `2026-12-05 08:34:35`.
fn short_time(t: &str) -> String {
    t.get(..19).unwrap_or(t).replace('T', " ")
}

/// Every object (and common prefix) under `r.key`, following pages.
fn list(
    c: &mut Client,
    r: &Remote,
    delimiter: Option<&str>,
) -> Result<(Vec<Value>, Vec<String>), CliError> {
    let (mut objects, mut prefixes) = (Vec::new(), Vec::new());
    let mut token = String::new();
    for _ in 0..MAX_LIST_PAGES {
        let mut q: Vec<(&str, &str)> = vec![("list-type", "2"), ("prefix", r.key.as_str())];
        if let Some(d) = delimiter {
            q.push(("delimiter", d));
        }
        if !token.is_empty() {
            q.push(("continuation-token", token.as_str()));
        }
        let (_, doc) = c.s3("GET", &r.bucket_path(), &q, &[], Payload::Empty)?;
        let doc: Node = doc.unwrap_or_default();
        for o in doc.all("Contents") {
            objects.push(json!({
                "key": o.text_of("Key"),
                "size": o.text_of("Size").parse::<u64>().unwrap_or(0),
                "lastModified": o.text_of("LastModified"),
                "etag": o.text_of("ETag"),
            }));
        }
        for p in doc.all("CommonPrefixes") {
            prefixes.push(p.text_of("Prefix").to_owned());
        }
        let next = doc.text_of("NextContinuationToken");
        if doc.text_of("IsTruncated") != "true" || next.is_empty() || next == token {
            return Ok((objects, prefixes));
        }
        token = next.to_owned();
    }
    Err(CliError::Failed("too many list pages".into()))
}

fn progress(len: u64, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

pub fn cp(ctx: &Ctx, a: CpArgs) -> Result<(), CliError> {
    match (is_remote(&a.source), is_remote(&a.target)) {
        (false, true) => upload(ctx, Path::new(&a.source), remote(&a.target)?),
        (true, false) => download(ctx, remote(&a.source)?, Path::new(&a.target)),
        (true, true) => copy(ctx, remote(&a.source)?, remote(&a.target)?),
        (false, false) => Err(CliError::Usage(format!(
            "neither {:?} nor {:?} starts with an alias (see `cairn admin alias list`)",
            a.source, a.target
        ))),
    }
}

fn local_err(path: &Path, e: std::io::Error) -> CliError {
    CliError::Failed(format!("{}: {e}", path.display()))
}

fn upload(ctx: &Ctx, src: &Path, mut dst: Remote) -> Result<(), CliError> {
    dst.need_bucket()?;
    if dst.key.is_empty() || dst.key.ends_with('/') {
        let name = src
            .file_name()
            .ok_or_else(|| CliError::Usage(format!("{}: not a file", src.display())))?;
        dst.key.push_str(&name.to_string_lossy());
    }
    let mut file = File::open(src).map_err(|e| local_err(src, e))?;
    let meta = file.metadata().map_err(|e| local_err(src, e))?;
    if !meta.is_file() {
        return Err(CliError::Usage(format!("{}: not a file", src.display())));
    }
    let size = meta.len();
    let mut c = Client::connect(ctx, &dst.alias)?;
    let bar = progress(size, ctx.json);
    let etag = if size <= MULTIPART_THRESHOLD {
        let mut buf = Vec::with_capacity(size as usize);
        file.read_to_end(&mut buf).map_err(|e| local_err(src, e))?;
        let (head, _) = c.s3("PUT", &dst.object_path(), &[], &[], Payload::Bytes(&buf))?;
        bar.inc(size);
        header(&head, "etag")
    } else {
        let error = |e: std::io::Error| local_err(src, e);
        let from = Source {
            reader: &mut file,
            error: &error,
        };
        multipart(&mut c, &dst, from, size, &[], &bar)?
    };
    bar.finish_and_clear();
    uploaded(ctx, &src.display().to_string(), &dst, size, &etag);
    Ok(())
}

/// What an upload or a copy between aliases prints when done.
fn uploaded(ctx: &Ctx, src: &str, dst: &Remote, size: u64, etag: &str) {
    if ctx.json {
        output::json(&json!({"source": src, "target": dst.display(), "size": size, "etag": etag}));
    } else {
        println!("{src} -> {} ({})", dst.display(), output::bytes(size));
    }
}

fn header(head: &ureq::http::Response<()>, name: &str) -> String {
    head.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Where a multipart upload's bytes come from: a reader, and how its
/// failures are told (a local file's are exit 1, a download's exit 3).
struct Source<'a> {
    reader: &'a mut dyn Read,
    error: &'a dyn Fn(std::io::Error) -> CliError,
}

/// Uploads `size` bytes of `src` in parts, `headers` (content type, user
/// metadata) on the upload; aborts the upload if any step fails.
fn multipart(
    c: &mut Client,
    dst: &Remote,
    src: Source<'_>,
    size: u64,
    headers: &[(&str, &str)],
    bar: &ProgressBar,
) -> Result<String, CliError> {
    let path = dst.object_path();
    let (_, doc) = c.s3("POST", &path, &[("uploads", "")], headers, Payload::Empty)?;
    let upload_id = doc
        .as_ref()
        .map(|d| d.text_of("UploadId").to_owned())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| CliError::Failed("the server gave no UploadId".into()))?;
    let result = send_parts(c, &path, &upload_id, src, size, bar);
    if result.is_err() {
        // Best effort: the node also expires abandoned uploads.
        let _ = c.s3(
            "DELETE",
            &path,
            &[("uploadId", upload_id.as_str())],
            &[],
            Payload::Empty,
        );
    }
    result
}

fn send_parts(
    c: &mut Client,
    path: &str,
    upload_id: &str,
    src: Source<'_>,
    size: u64,
    bar: &ProgressBar,
) -> Result<String, CliError> {
    let part_size = PART_SIZE.max(size.div_ceil(MAX_PARTS));
    // The one buffer: memory stays at a part whatever the object's size.
    let mut buf = vec![0u8; part_size as usize];
    let mut complete = String::from("<CompleteMultipartUpload>");
    let mut sent = 0u64;
    let mut number = 0u64;
    while sent < size {
        number += 1;
        let len = part_size.min(size - sent) as usize;
        src.reader.read_exact(&mut buf[..len]).map_err(src.error)?;
        let n = number.to_string();
        let (head, _) = c.s3(
            "PUT",
            path,
            &[("partNumber", n.as_str()), ("uploadId", upload_id)],
            &[],
            Payload::Bytes(&buf[..len]),
        )?;
        let etag = header(&head, "etag");
        complete.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
            xml_escape(&etag)
        ));
        sent += len as u64;
        bar.inc(len as u64);
    }
    complete.push_str("</CompleteMultipartUpload>");
    let (_, doc) = c.s3(
        "POST",
        path,
        &[("uploadId", upload_id)],
        &[("content-type", "application/xml")],
        Payload::Bytes(complete.as_bytes()),
    )?;
    Ok(doc
        .map(|d| d.text_of("ETag").to_owned())
        .unwrap_or_default())
}

/// Escapes text for an XML element; CR as a reference, as XML parsers
/// would otherwise turn it into LF.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\r', "&#13;")
}

fn download(ctx: &Ctx, src: Remote, dst: &Path) -> Result<(), CliError> {
    src.need_key()?;
    let target: PathBuf = if dst.is_dir() {
        let name = src.key.rsplit('/').next().unwrap_or(&src.key);
        dst.join(name)
    } else {
        dst.to_path_buf()
    };
    let mut c = Client::connect(ctx, &src.alias)?;
    let resp =
        super::client::check(c.send("GET", &src.object_path(), &[], &[], Payload::Empty)?)?;
    let len: Option<u64> = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let bar = progress(len.unwrap_or(0), ctx.json);
    let mut file = File::create(&target).map_err(|e| local_err(&target, e))?;
    let mut body = resp.into_body().into_reader();
    let copied = copy_with(&mut body, &mut file, &bar, &target);
    bar.finish_and_clear();
    let n = match copied {
        Ok(n) if len.is_none_or(|l| l == n) => n,
        Ok(n) => {
            let _ = std::fs::remove_file(&target);
            return Err(CliError::Connect(format!(
                "the download ended after {n} of {} bytes",
                len.unwrap_or(0)
            )));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&target);
            return Err(e);
        }
    };
    if ctx.json {
        output::json(
            &json!({"source": src.display(), "target": target.display().to_string(), "size": n}),
        );
    } else {
        println!(
            "{} -> {} ({})",
            src.display(),
            target.display(),
            output::bytes(n)
        );
    }
    Ok(())
}

/// Copies a response body to a file; network failures are exit 3, the
/// file's are exit 1.
fn copy_with(
    body: &mut impl Read,
    out: &mut impl Write,
    bar: &ProgressBar,
    target: &Path,
) -> Result<u64, CliError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| CliError::Connect(format!("reading the object: {e}")))?;
        if n == 0 {
            out.flush().map_err(|e| local_err(target, e))?;
            return Ok(total);
        }
        out.write_all(&buf[..n]).map_err(|e| local_err(target, e))?;
        total += n as u64;
        bar.inc(n as u64);
    }
}

/// An object to another: CopyObject on the server within one alias, else
/// streamed from one alias to the other.
fn copy(ctx: &Ctx, src: Remote, mut dst: Remote) -> Result<(), CliError> {
    src.need_key()?;
    dst.need_bucket()?;
    if dst.key.is_empty() || dst.key.ends_with('/') {
        dst.key
            .push_str(src.key.rsplit('/').next().unwrap_or(&src.key));
    }
    if src.alias != dst.alias {
        return stream_copy(ctx, src, dst);
    }
    let source = src.object_path();
    let mut c = Client::connect(ctx, &dst.alias)?;
    c.s3(
        "PUT",
        &dst.object_path(),
        &[],
        &[("x-amz-copy-source", source.as_str())],
        Payload::Empty,
    )?;
    if ctx.json {
        output::json(&json!({"source": src.display(), "target": dst.display()}));
    } else {
        println!("{} -> {}", src.display(), dst.display());
    }
    Ok(())
}

/// Response headers an object keeps when copied between aliases: what
/// PutObject takes back (user metadata and the content headers).
fn kept_header(name: &str) -> bool {
    name.starts_with("x-amz-meta-")
        || matches!(
            name,
            "content-type"
                | "content-encoding"
                | "content-disposition"
                | "content-language"
                | "cache-control"
                | "expires"
        )
}

/// Copies between two aliases (two nodes, or one under two keys): a GET
/// on the source read straight into a PUT, or into parts for a large
/// object, so memory stays bounded by one part.
fn stream_copy(ctx: &Ctx, src: Remote, dst: Remote) -> Result<(), CliError> {
    let mut from = Client::connect(ctx, &src.alias)?;
    let mut to = Client::connect(ctx, &dst.alias)?;
    let resp =
        super::client::check(from.send("GET", &src.object_path(), &[], &[], Payload::Empty)?)?;
    let size: u64 = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| CliError::Failed(format!("{}: no Content-Length", src.display())))?;
    let mut kept: Vec<(String, String)> = Vec::new();
    for (name, value) in resp.headers() {
        if !kept_header(name.as_str()) {
            continue;
        }
        let value = value.to_str().map_err(|_| {
            CliError::Failed(format!(
                "{}: header {name} is not ASCII and cannot be signed",
                src.display()
            ))
        })?;
        kept.push((name.as_str().to_owned(), value.to_owned()));
    }
    let headers: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let bar = progress(size, ctx.json);
    let mut body = resp.into_body().into_reader();
    let error = |e: std::io::Error| CliError::Connect(format!("reading {}: {e}", src.display()));
    let etag = if size <= MULTIPART_THRESHOLD {
        let mut buf = Vec::with_capacity(size as usize);
        (&mut body)
            .take(size)
            .read_to_end(&mut buf)
            .map_err(error)?;
        if buf.len() as u64 != size {
            return Err(CliError::Connect(format!(
                "{}: the download ended after {} of {size} bytes",
                src.display(),
                buf.len()
            )));
        }
        let (head, _) = to.s3(
            "PUT",
            &dst.object_path(),
            &[],
            &headers,
            Payload::Bytes(&buf),
        )?;
        bar.inc(size);
        header(&head, "etag")
    } else {
        let source = Source {
            reader: &mut body,
            error: &error,
        };
        multipart(&mut to, &dst, source, size, &headers, &bar)?
    };
    bar.finish_and_clear();
    uploaded(ctx, &src.display(), &dst, size, &etag);
    Ok(())
}

pub fn cat(ctx: &Ctx, a: CatArgs) -> Result<(), CliError> {
    let r = remote(&a.object)?;
    r.need_key()?;
    let mut c = Client::connect(ctx, &r.alias)?;
    let resp = super::client::check(c.send("GET", &r.object_path(), &[], &[], Payload::Empty)?)?;
    let mut body = resp.into_body().into_reader();
    let mut out = std::io::stdout().lock();
    copy_with(
        &mut body,
        &mut out,
        &ProgressBar::hidden(),
        Path::new("standard output"),
    )?;
    Ok(())
}

pub fn mb(ctx: &Ctx, a: MbArgs) -> Result<(), CliError> {
    let r = remote(&a.bucket)?;
    r.need_bucket()?;
    Client::connect(ctx, &r.alias)?.s3("PUT", &r.bucket_path(), &[], &[], Payload::Empty)?;
    if ctx.json {
        output::json(&json!({"status": "created", "bucket": r.bucket}));
    } else {
        println!("Bucket {}/{} created.", r.alias, r.bucket);
    }
    Ok(())
}

pub fn rb(ctx: &Ctx, a: RbArgs) -> Result<(), CliError> {
    let r = remote(&a.bucket)?;
    r.need_bucket()?;
    let mut c = Client::connect(ctx, &r.alias)?;
    confirm(a.force, &format!("Remove bucket {}/{}", r.alias, r.bucket))?;
    c.s3("DELETE", &r.bucket_path(), &[], &[], Payload::Empty)?;
    super::removed(
        ctx,
        "bucket",
        &r.bucket,
        &format!("Removed bucket {}/{}.", r.alias, r.bucket),
    );
    Ok(())
}

pub fn presign(ctx: &Ctx, a: PresignArgs) -> Result<(), CliError> {
    let r = remote(&a.object)?;
    r.need_key()?;
    let secs = parse_secs(&a.expires)
        .filter(|s| (1..=MAX_PRESIGN_SECS).contains(s))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--expires {:?}: give 1s to 7d (seconds, or with s, m, h, d)",
                a.expires
            ))
        })?;
    let url = Client::connect(ctx, &r.alias)?.presign("GET", &r.object_path(), secs);
    if ctx.json {
        output::json(&json!({"url": url, "expiresInSecs": secs}));
    } else {
        println!("{url}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_split_into_alias_bucket_and_key() {
        assert_eq!(
            Remote::parse("local/photos/2024/a b.jpg"),
            Remote {
                alias: "local".into(),
                bucket: "photos".into(),
                key: "2024/a b.jpg".into()
            }
        );
        let r = Remote::parse("local/photos/2024/a b.jpg");
        assert_eq!(r.object_path(), "/photos/2024/a%20b.jpg");
        let only = Remote::parse("local");
        assert!(only.bucket.is_empty() && only.key.is_empty());
        assert!(only.need_bucket().is_err());
        assert!(Remote::parse("local/b").need_key().is_err());
    }
}
