//! PostObject: browser uploads with a POST policy (`POST /bucket`,
//! `multipart/form-data`). The form carries its own credentials (the
//! signature over the `policy` field), so it is served before header
//! authentication; the IAM action it needs is `s3:PutObject`, with the
//! form's `acl`, `tagging` and encryption fields as the condition values a
//! PutObject's headers would give. A form without credentials is an
//! anonymous PutObject: a bucket policy or ACL must let everyone write.
//!
//! The fields before `file` are read whole (bounded by `form`'s limits) and
//! checked against the policy; the file then streams into the engine like a
//! PUT body. Everything that can only be known at the end (the size against
//! `content-length-range`, checksums, a second file, the close delimiter) is
//! checked before the body reports its end, so a refused upload never
//! becomes visible.

pub mod fanout;
pub mod form;
pub mod policy;

use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, ETAG, LOCATION};
use http::{HeaderMap, HeaderName, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::auth::checksum::{ChecksumAlgo, ChecksumValue, Checksummer};
use crate::engine::{BodyChunk, BodySource, Engine, EngineError};
use crate::hash::Md5Lane;
use crate::http::conns::Conn;
use crate::iam::acl::Canned;
use crate::iam::action::Action;
use crate::iam::identities::Principal;

use self::form::{FormDecoder, FormError, FormEvent};
use self::policy::{missing_field, Fields};
use super::auth::Authenticator;
use super::authorize::{unsigned, Authorizer};
use super::body::{header_checksum, MAX_OBJECT_SIZE};
use super::common::acl::{check_public_acl, new_object_acl, AclRequest};
use super::common::ctx::{ApiSettings, Ctx, S3Result};
use super::common::metadata::{header_bytes, header_text, put_options};
use super::common::response::{add_checksum_headers, full, quoted_etag, status_only, xml, ResBody};
use super::common::version::add_version_header;
use super::error::{S3Code, S3Error};
use super::xml_tagging::{parse_tagging, TagTarget};

/// Fields that become the object's headers, as the same PUT headers would.
fn is_header_field(name: &str) -> bool {
    matches!(
        name,
        "content-type" | "cache-control" | "content-disposition" | "content-encoding" | "expires"
    ) || name.starts_with("x-amz-meta-")
        || name.starts_with("x-amz-checksum-")
        || name.starts_with("x-amz-server-side-encryption")
        || name.starts_with("x-amz-object-lock-")
        || name == "x-amz-storage-class"
}

fn form_error(e: FormError) -> S3Error {
    match e {
        FormError::TooLarge => S3Error::new(
            S3Code::MaxPostPreDataLengthExceededError,
            "Your POST request fields preceding the upload file were too large.",
        ),
        FormError::Malformed(why) => {
            tracing::debug!(why, "malformed POST form");
            S3Error::from_code(S3Code::MalformedPOSTRequest)
        }
        FormError::TooManyParts => S3Error::from_code(S3Code::MalformedPOSTRequest),
    }
}

fn one_file() -> S3Error {
    S3Error::from_code(S3Code::IncorrectNumberOfFilesInPostRequest)
}

/// Whether a request is a browser form upload (served by [`post_object`]
/// before header authentication).
pub fn is_form_post(parts: &http::request::Parts) -> bool {
    parts.method == http::Method::POST
        && parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(form::is_form_content_type)
}

/// What the form asks for once the object is stored.
enum Answer {
    Status(StatusCode),
    Redirect(String),
}

fn answer(fields: &Fields) -> Answer {
    let redirect = fields
        .get("success_action_redirect")
        .or_else(|| fields.get("redirect"));
    // AWS ignores a redirect it cannot interpret.
    if let Some(url) = redirect.filter(|u| u.starts_with("http://") || u.starts_with("https://")) {
        return Answer::Redirect(url.to_owned());
    }
    Answer::Status(match fields.get("success_action_status") {
        Some("200") => StatusCode::OK,
        Some("201") => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    })
}

fn query_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Serves a browser upload to `bucket`.
/// The handler's pieces a form upload uses: it authenticates itself.
pub struct PostApi<'a> {
    pub settings: &'a ApiSettings,
    pub engine: &'a Rc<Engine>,
    pub auth: &'a Authenticator,
    pub access: &'a crate::s3::authorize::BucketAccessCache,
    /// The request's log: a tenant's form moves its target.
    pub log: &'a crate::logs::access::RequestLog,
}

pub async fn post_object(
    api: &PostApi<'_>,
    parts: http::request::Parts,
    bucket: &str,
    incoming: Incoming,
    request_id: &str,
    conn: &Conn,
) -> S3Result {
    let boundary = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(form::boundary_from_content_type)
        .ok_or_else(|| S3Error::from_code(S3Code::MalformedPOSTRequest))?;
    let decoder = FormDecoder::new(&boundary).map_err(form_error)?;
    let mut body = PostBody::new(incoming, decoder, api.settings.idle_timeout);
    if let Err(e) = body.read_fields().await {
        body.drain().await;
        return Err(e);
    }
    match authorize_and_store(api, parts, bucket, &mut body, request_id, conn).await {
        Ok(r) => Ok(r),
        Err(e) => {
            body.drain().await;
            Err(e)
        }
    }
}

async fn authorize_and_store(
    api: &PostApi<'_>,
    parts: http::request::Parts,
    bucket: &str,
    body: &mut PostBody,
    request_id: &str,
    conn: &Conn,
) -> S3Result {
    let mut fields = std::mem::take(&mut body.fields);
    let fanout = fanout::take_list(&mut fields)?;
    fields.expand_filename(body.filename.as_deref().unwrap_or(""));
    let key = fields
        .get("key")
        .filter(|k| !k.is_empty())
        .ok_or_else(|| missing_field("key"))?
        .to_owned();
    let now = (crate::engine::now_ms() / 1000) as i64;
    let (auth, principal) = match api.auth.verify_post(&fields, now)? {
        Some(signed) => {
            conn.set_authenticated();
            signed
        }
        None => (unsigned(&parts.headers), Arc::new(Principal::anonymous())),
    };
    // The form's bucket, as the signer's users name it, is joined to the
    // signer's tenant here: a form is routed before it is authenticated.
    let named = bucket;
    // `tenant:bucket` names a tenant's bucket for anonymous forms only.
    if auth.kind != crate::auth::sigv4::AuthKind::Anonymous
        && named.contains(crate::s3::tenant::SEPARATOR)
    {
        return Err(S3Code::InvalidBucketName.into());
    }
    let stored = crate::s3::tenant::internal_name(&principal.tenant, named);
    let bucket = stored.as_str();
    if !principal.tenant.is_empty() {
        api.log.set_in_tenant(Some(bucket));
        api.log.set_target(Some(bucket), None);
    }
    if !api.engine.bucket_exists(bucket) {
        return Err(S3Code::NoSuchBucket.into());
    }
    let anonymous = auth.kind == crate::auth::sigv4::AuthKind::Anonymous;
    let authz = Authorizer::new(
        principal.clone(),
        api.engine,
        &api.settings.owner.id,
        api.access,
        api.engine.buckets(),
        conn.peer.ip(),
        api.settings.scheme == "https",
    );
    let put = crate::s3::router::Check {
        action: Action::S3PutObject,
        resource: crate::s3::router::Resource::Object { bucket, key: &key },
    };
    // A malformed `tagging` field is refused below, once allowed.
    let tags = fields
        .get("tagging")
        .and_then(|xml| parse_tagging(xml.as_bytes(), TagTarget::Object).ok())
        .unwrap_or_default();
    let tag_refs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // A fan-out form stores nothing at its own key: each copy is
    // authorised on its key.
    if fanout.is_none()
        && !authz.allows_with_tags(put, &condition_headers(&parts.headers, &fields), &tag_refs)
    {
        return Err(S3Error::from_code(S3Code::AccessDenied));
    }
    // An anonymous form to a publicly writable bucket needs no policy
    // (AWS: "required if the bucket is not publicly writable"); one it
    // does carry is still enforced.
    let policy = match fields.get("policy") {
        None if anonymous => None,
        p => Some(policy::parse_policy(p.unwrap_or(""))?),
    };
    if let Some(policy) = &policy {
        policy::check(policy, &fields, named, now)?;
    }

    let mut headers = HeaderMap::new();
    for (name, value) in fields.iter().filter(|(n, _)| is_header_field(n)) {
        let invalid = || {
            S3Error::new(
                S3Code::InvalidArgument,
                format!("The {name} field is not valid."),
            )
        };
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let v = HeaderValue::from_bytes(&header_bytes(value)).map_err(|_| invalid())?;
        headers.insert(n, v);
    }
    let transport = crate::sse::customer::Transport {
        secure: api.settings.scheme == "https",
        allow_plain_http: api.settings.sse_c_allow_http,
    };
    let requested =
        crate::s3::sse::for_headers(api.engine, bucket, &headers, transport, auth.sigv2)?;
    let mut opts = put_options(&headers, &api.engine.shared.classes)?;
    let checksum = header_checksum(&headers)?;
    if let Some(xml) = fields.get("tagging") {
        opts.tags = parse_tagging(xml.as_bytes(), TagTarget::Object)?;
    }
    // The form's canned `acl`, under the bucket's ownership controls as
    // for PutObject.
    let acl = match fields.get("acl") {
        None => AclRequest::None,
        Some(a) => AclRequest::Canned(
            Canned::parse(a)
                .ok_or_else(|| S3Error::new(S3Code::InvalidArgument, "Invalid canned ACL."))?,
        ),
    };
    check_public_acl(&api.engine.buckets(), bucket, acl.is_public())?;
    let acl_headers = new_object_acl(
        api.settings,
        api.engine,
        &principal.canonical_id,
        &acl,
        bucket,
    )?;
    let (min, max) = policy
        .as_ref()
        .and_then(|p| p.length_range())
        .unwrap_or((0, MAX_OBJECT_SIZE));
    let origin = authz.origin(request_id, bucket, crate::notify::event::Action::Post);
    if let Some(entries) = fanout {
        body.begin(min, max.min(fanout::MAX_FILE), checksum)?;
        let file = body.read_whole().await?;
        let plan = fanout::Plan {
            bucket,
            conditions: condition_headers(&parts.headers, &fields),
            headers,
            acl: acl_headers,
            requested,
            authz: &authz,
            origin,
        };
        let lines = fanout::store(api, &plan, &file, &entries).await;
        let mut r = Response::new(full(lines));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(r);
    }
    opts.headers.extend(acl_headers);
    opts.attrs = crate::s3::lock::write_attrs(api.engine, &authz, &headers, (bucket, &key), true)?;
    let answer = answer(&fields);
    body.begin(min, max.min(MAX_OBJECT_SIZE), checksum)?;
    let sealed =
        crate::s3::sse::seal_for(bucket, &key, &requested, api.engine.deduplicates(bucket)).await?;
    let echo = sealed.as_ref().map(|s| s.echo.clone());
    if let Some(e) = echo.as_ref().filter(|e| e.bucket_key) {
        opts.headers.push((
            crate::s3::sse::BUCKET_KEY.to_owned(),
            e.bucket_key.to_string(),
        ));
    }
    opts.seal = sealed.map(|s| s.seal);
    opts.event = origin;

    let info = match api.engine.put(bucket, &key, opts, body).await {
        Ok(info) => info,
        Err(e) => return Err(body.take_error().unwrap_or_else(|| e.into())),
    };
    let ctx = Ctx {
        api: api.settings,
        engine: api.engine,
        parts,
        auth,
        principal,
        request_id,
        authz,
    };
    let etag = quoted_etag(&info.etag);
    let etag_text = etag.to_str().unwrap_or("").to_owned();
    let location = format!(
        "{}://{}/{}/{}",
        api.settings.scheme,
        ctx.header("host").unwrap_or("localhost"),
        named,
        super::xml::s3_url_encode(&key)
    );
    let mut r: Response<ResBody> = match answer {
        Answer::Redirect(url) => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let to = format!(
                "{url}{sep}bucket={}&key={}&etag={}",
                query_escape(named),
                query_escape(&key),
                query_escape(&etag_text)
            );
            let mut r = status_only(StatusCode::SEE_OTHER);
            if let Ok(v) = HeaderValue::from_str(&to) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
        Answer::Status(StatusCode::CREATED) => xml(
            StatusCode::CREATED,
            post_response(&location, named, &key, &etag_text),
        ),
        Answer::Status(s) => {
            let mut r = status_only(s);
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(LOCATION, v);
            }
            r
        }
    };
    r.headers_mut().insert(ETAG, etag);
    add_checksum_headers(&mut r, &body.checksums());
    add_version_header(&ctx, &mut r, bucket, info.sel);
    if let Some(e) = echo {
        e.add_to(r.headers_mut(), true);
    }
    Ok(r)
}

/// The headers policy conditions read, as a PutObject would send them:
/// the browser's `Referer` and `User-Agent`, and the form's `acl` and
/// encryption fields in place of `x-amz-acl`,
/// `x-amz-server-side-encryption` and its KMS key id.
fn condition_headers(request: &HeaderMap, fields: &Fields) -> HeaderMap {
    let mut h = HeaderMap::new();
    for name in [http::header::REFERER, http::header::USER_AGENT] {
        if let Some(v) = request.get(&name) {
            h.insert(name, v.clone());
        }
    }
    let from_fields = [
        ("x-amz-acl", "acl"),
        (
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption",
        ),
        (
            "x-amz-server-side-encryption-aws-kms-key-id",
            "x-amz-server-side-encryption-aws-kms-key-id",
        ),
    ];
    for (header, field) in from_fields {
        if let Some(v) = fields
            .get(field)
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(HeaderName::from_static(header), v);
        }
    }
    h
}

/// The `PostResponse` document of `success_action_status` 201.
fn post_response(location: &str, bucket: &str, key: &str, etag: &str) -> Vec<u8> {
    crate::xmlw::document("PostResponse", None, 256, |w| {
        w.text("Location", location);
        w.text("Bucket", bucket);
        w.text("Key", key);
        w.text("ETag", etag);
    })
}

/// The form body: fields first ([`PostBody::read_fields`]), then the file
/// as the engine pulls it ([`BodySource`]).
struct PostBody {
    incoming: Incoming,
    decoder: FormDecoder,
    idle: Duration,
    /// The fields before the file.
    fields: Fields,
    /// The file part's name, once it began.
    filename: Option<String>,
    files: usize,
    /// The file part ended.
    file_done: bool,
    /// A second `file` part came.
    extra_file: bool,
    /// The file's content read so far, not yet handed to the engine.
    ready: VecDeque<Bytes>,
    received: u64,
    min_len: u64,
    max_len: u64,
    /// Set by `begin`: from then on content is hashed as it arrives.
    md5: Option<Md5Lane>,
    checksums: Vec<(Checksummer, Option<ChecksumValue>)>,
    verified: Vec<ChecksumValue>,
    /// The request body has ended.
    incoming_done: bool,
    ended: bool,
    error: Option<S3Error>,
}

impl PostBody {
    fn new(incoming: Incoming, decoder: FormDecoder, idle: Duration) -> PostBody {
        PostBody {
            incoming,
            decoder,
            idle,
            fields: Fields::default(),
            filename: None,
            files: 0,
            file_done: false,
            extra_file: false,
            ready: VecDeque::new(),
            received: 0,
            min_len: 0,
            max_len: MAX_OBJECT_SIZE,
            md5: None,
            checksums: Vec::new(),
            verified: Vec::new(),
            incoming_done: false,
            ended: false,
            error: None,
        }
    }

    /// The next frame of the request body; `None` at its end.
    async fn frame(&mut self) -> Result<Option<Bytes>, S3Error> {
        loop {
            let frame = crate::runtime::timeout(self.idle, self.incoming.frame())
                .await
                .map_err(|_| S3Error::from_code(S3Code::RequestTimeout))?;
            match frame {
                None => {
                    self.incoming_done = true;
                    return Ok(None);
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "POST body failed");
                    return Err(S3Error::from_code(S3Code::IncompleteBody));
                }
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// Reads up to the start of the file part.
    async fn read_fields(&mut self) -> Result<(), S3Error> {
        while self.files == 0 {
            match self.frame().await? {
                Some(data) => self.accept(data)?,
                None => {
                    self.decoder.finish().map_err(form_error)?;
                    return Err(one_file());
                }
            }
        }
        Ok(())
    }

    /// Takes one frame of the wire body.
    fn accept(&mut self, data: Bytes) -> Result<(), S3Error> {
        let PostBody {
            decoder,
            fields,
            filename,
            files,
            file_done,
            extra_file,
            ready,
            received,
            md5,
            checksums,
            ..
        } = self;
        let base = data.as_ptr() as usize;
        let mut file_open = *files == 1 && !*file_done;
        decoder
            .feed(&data, &mut |ev| match ev {
                FormEvent::Field { name, value } => {
                    // AWS ignores fields after the file.
                    if *files == 0 {
                        fields.insert(name, header_text(value));
                    }
                }
                FormEvent::FileStart { filename: f, .. } => {
                    *files += 1;
                    if *files == 1 {
                        *filename = f.map(str::to_owned);
                        file_open = true;
                    } else {
                        *extra_file = true;
                    }
                }
                FormEvent::FileData(s) if file_open => {
                    // The decoder hands out slices of its input where it
                    // can: share the buffer instead of copying.
                    let off = (s.as_ptr() as usize).wrapping_sub(base);
                    let piece = if off <= data.len() && s.len() <= data.len() - off {
                        data.slice(off..off + s.len())
                    } else {
                        Bytes::copy_from_slice(s)
                    };
                    *received += piece.len() as u64;
                    if let Some(m) = md5 {
                        m.update(piece.clone());
                        for (c, _) in checksums.iter_mut() {
                            c.update(&piece);
                        }
                    }
                    ready.push_back(piece);
                }
                FormEvent::FileData(_) => {}
                FormEvent::FileEnd => {
                    if file_open {
                        file_open = false;
                        *file_done = true;
                    }
                }
            })
            .map_err(form_error)?;
        if self.extra_file {
            return Err(one_file());
        }
        self.check_max()
    }

    fn check_max(&self) -> Result<(), S3Error> {
        if self.received > self.max_len {
            return Err(S3Error::new(
                S3Code::EntityTooLarge,
                format!(
                    "Your proposed upload exceeds the maximum allowed size ({} bytes).",
                    self.max_len
                ),
            ));
        }
        Ok(())
    }

    /// The policy allowed the upload: from here the content is hashed and
    /// held to `min..=max` bytes and to the form's checksum, if any.
    fn begin(
        &mut self,
        min: u64,
        max: u64,
        checksum: Option<ChecksumValue>,
    ) -> Result<(), S3Error> {
        self.min_len = min;
        self.max_len = max;
        if let Some(v) = checksum {
            self.checksums.push((Checksummer::new(v.algo()), Some(v)));
        }
        // S3 gives every object a checksum: CRC64NVME when the client sends none.
        if checksum.is_none() {
            self.checksums
                .push((Checksummer::new(ChecksumAlgo::Crc64Nvme), None));
        }
        let mut md5 = Md5Lane::new();
        for piece in &self.ready {
            md5.update(piece.clone());
            for (c, _) in self.checksums.iter_mut() {
                c.update(piece);
            }
        }
        self.md5 = Some(md5);
        self.check_max()
    }

    /// The whole file (after [`PostBody::begin`], which bounds it), with
    /// its MD5 and checksums: a fan-out stores it many times.
    async fn read_whole(&mut self) -> Result<fanout::File, S3Error> {
        let mut chunks = Vec::new();
        loop {
            match self.next_chunk().await {
                Ok(BodyChunk::Data(b)) => chunks.push(b),
                Ok(BodyChunk::End(md5)) => {
                    let md5 = md5.ok_or_else(|| S3Error::from_code(S3Code::InternalError))?;
                    return Ok(fanout::File {
                        chunks,
                        md5,
                        checksums: self.checksums(),
                    });
                }
                Err(e) => return Err(self.take_error().unwrap_or_else(|| S3Error::from(e))),
            }
        }
    }

    fn take_error(&mut self) -> Option<S3Error> {
        self.error.take()
    }

    fn fail(&mut self, e: S3Error) -> EngineError {
        let msg = e.to_string();
        self.error = Some(e);
        EngineError::Body(msg)
    }

    /// End-of-body checks: the form closed, one file, its size and checksums.
    fn finish(&mut self) -> Result<(), S3Error> {
        self.decoder.finish().map_err(form_error)?;
        if self.received < self.min_len {
            return Err(S3Error::new(
                S3Code::EntityTooSmall,
                format!(
                    "Your proposed upload is smaller than the minimum allowed size ({} bytes).",
                    self.min_len
                ),
            ));
        }
        for (c, want) in std::mem::take(&mut self.checksums) {
            let got = c.finalize();
            if want.is_some_and(|w| w != got) {
                return Err(S3Error::new(
                    S3Code::BadDigest,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        got.algo().algorithm_name()
                    ),
                ));
            }
            self.verified.push(got);
        }
        Ok(())
    }

    /// Discards what is left of the body, bounded as a PUT's drain is.
    async fn drain(&mut self) {
        const DRAIN_LIMIT: u64 = 1 << 20;
        const DRAIN_TIME: Duration = Duration::from_secs(2);
        if self.incoming_done {
            return;
        }
        let deadline = std::time::Instant::now() + DRAIN_TIME;
        let mut n = 0u64;
        while n < DRAIN_LIMIT {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match crate::runtime::timeout(left, self.incoming.frame()).await {
                Ok(Some(Ok(f))) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                _ => break,
            }
        }
    }
}

impl BodySource for PostBody {
    fn supplies_md5(&self) -> bool {
        true
    }

    fn checksums(&self) -> Vec<(String, String)> {
        self.verified
            .iter()
            .map(|v| (v.algo().header_name().to_owned(), v.to_base64()))
            .collect()
    }

    async fn next_chunk(&mut self) -> crate::engine::Result<BodyChunk> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(BodyChunk::Data(b));
            }
            if let Some(e) = &self.error {
                return Err(EngineError::Body(e.to_string()));
            }
            if self.ended {
                return Err(EngineError::Body("the body was already consumed".into()));
            }
            let frame = match self.frame().await {
                Ok(f) => f,
                Err(e) => return Err(self.fail(e)),
            };
            match frame {
                Some(data) => {
                    if let Err(e) = self.accept(data) {
                        return Err(self.fail(e));
                    }
                    if let Some(m) = self.md5.as_mut() {
                        m.settle().await;
                    }
                }
                None => {
                    if let Err(e) = self.finish() {
                        return Err(self.fail(e));
                    }
                    let md5 = match self.md5.as_mut() {
                        Some(m) => m.finish().await,
                        None => return Err(self.fail(S3Error::from_code(S3Code::InternalError))),
                    };
                    self.ended = true;
                    return Ok(BodyChunk::End(Some(md5)));
                }
            }
        }
    }
}
