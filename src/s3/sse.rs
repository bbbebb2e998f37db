//! Server-side encryption as the S3 API sees it: which mode a write asks
//! for (headers, or the bucket's default), its data key and the header the
//! engine stores, the data key of a stored version for a read, and the SSE
//! headers of responses. The formats and keys are `crate::sse`
//! (docs/ENCRYPTION.md); the engine seals and opens.
//!
//! Parsing and the response headers are pure; making and opening data keys
//! asks this core's snapshot of the KMS's keys (`sse::service::data_keys`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

use crate::engine::buckets::BucketSse;
use crate::engine::meta::{sse_header, Attr};
use crate::engine::sealing::Seal;
use crate::engine::Engine;
use crate::sse::customer::{self, CustomerKey, SseCError, Transport, Which};
use crate::sse::header::{KeySource, Mode, SseHeader, MAX_CONTEXT};
use crate::sse::key::{nonce_base, DataKey};
use crate::sse::kms::{self, Context, KmsError, DEFAULT_KEY};
use crate::sse::package::{Layout, ObjectId};
use crate::sse::service::{self, Op};

use super::error::{S3Code, S3Error};

pub const SSE: &str = "x-amz-server-side-encryption";
pub const KMS_KEY_ID: &str = "x-amz-server-side-encryption-aws-kms-key-id";
pub const CONTEXT: &str = "x-amz-server-side-encryption-context";
pub const BUCKET_KEY: &str = "x-amz-server-side-encryption-bucket-key-enabled";
const CUSTOMER_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
const CUSTOMER_KEY_MD5: &str = "x-amz-server-side-encryption-customer-key-md5";

/// The account id in the ARNs cairn reports (as `iam::model` does).
const ACCOUNT_ID: &str = crate::iam::model::ACCOUNT_ID;

/// What a write asks for.
#[derive(Debug, Default)]
pub enum Requested {
    /// Stored in the clear (unless the bucket's default says otherwise).
    #[default]
    Plain,
    /// `AES256`: the built-in KMS's default key.
    S3,
    /// `aws:kms`: a named key (the default key when none is named), and the
    /// client's encryption context.
    Kms {
        key_id: Option<String>,
        context: Option<Context>,
        bucket_key: bool,
    },
    /// SSE-C: the customer's key, checked against its MD5.
    Customer(CustomerKey),
}

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::new(S3Code::InvalidArgument, msg)
}

const NOT_FOR_THIS_OPERATION: &str =
    "x-amz-server-side-encryption header is not supported for this operation.";
const KMS_NEEDS_AWS_KMS: &str = "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms";

/// The SSE headers that ask for a mode (not the SSE-C ones).
fn mode_headers(h: &HeaderMap) -> impl Iterator<Item = &HeaderName> {
    h.keys().filter(|n| {
        let n = n.as_str();
        n.starts_with(SSE) && !n.starts_with("x-amz-server-side-encryption-customer-")
    })
}

fn text<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).map(|v| v.to_str().unwrap_or("").trim())
}

/// The SSE headers of a write (PutObject, CreateMultipartUpload, the
/// destination of CopyObject), with S3's refusals.
pub fn parse_write(h: &HeaderMap, transport: Transport) -> Result<Requested, S3Error> {
    customer::check_exclusive(h)?;
    if let Some(k) = customer::parse(h, Which::Object, transport)? {
        if mode_headers(h).next().is_some() {
            return Err(SseCError::IncompatibleMethod.into());
        }
        return Ok(Requested::Customer(k));
    }
    let bucket_key = match text(h, BUCKET_KEY) {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(invalid(
                "Invalid value for header x-amz-server-side-encryption-bucket-key-enabled",
            ))
        }
    };
    let kms_only = h.contains_key(KMS_KEY_ID) || h.contains_key(CONTEXT);
    match text(h, SSE) {
        None if kms_only => Err(invalid(KMS_NEEDS_AWS_KMS)),
        None => Ok(Requested::Plain),
        Some("AES256") if kms_only => Err(invalid(KMS_NEEDS_AWS_KMS)),
        Some("AES256") => Ok(Requested::S3),
        Some("aws:kms") => Ok(Requested::Kms {
            key_id: text(h, KMS_KEY_ID)
                .filter(|s| !s.is_empty())
                .map(|s| kms::key_id_from_request(s).to_owned()),
            context: h
                .get(CONTEXT)
                .map(|v| parse_context(v.as_bytes()))
                .transpose()?,
            bucket_key,
        }),
        // `aws:kms:dsse` (dual-layer) is not implemented: refused as S3
        // refuses a method it does not know, never stored as something else.
        Some(_) => Err(invalid("The encryption method specified is not supported")),
    }
}

/// `x-amz-server-side-encryption-context`: base64 of a JSON object whose
/// values are strings.
pub fn parse_context(v: &[u8]) -> Result<Context, S3Error> {
    let bad = || {
        invalid(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string \
             holding JSON which represents a string-string map",
        )
    };
    let raw = B64.decode(v).map_err(|_| bad())?;
    let ctx: Context = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if kms::context_bytes(&ctx).len() > MAX_CONTEXT {
        return Err(invalid("The encryption context is too long."));
    }
    Ok(ctx)
}

/// Where the bucket's default encryption applies: a write that asks for
/// nothing gets `default` (SSE-S3 or SSE-KMS; `None` while the bucket has
/// no default). The one place a bucket default meets a request.
pub fn with_bucket_default(req: Requested, default: Option<Requested>) -> Requested {
    match (req, default) {
        (Requested::Plain, Some(d)) => d,
        (r, _) => r,
    }
}

/// The bucket's default encryption (PutBucketEncryption) as a request.
pub fn bucket_default(engine: &Engine, bucket: &str) -> Result<Option<Requested>, S3Error> {
    Ok(engine
        .bucket_encryption(bucket)?
        .map(|e| match e.algorithm {
            BucketSse::Aes256 => Requested::S3,
            BucketSse::Kms => Requested::Kms {
                key_id: e
                    .kms_key_id
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(|s| kms::key_id_from_request(s).to_owned()),
                context: None,
                bucket_key: e.bucket_key_enabled,
            },
        }))
}

/// What a write asks for: its headers (or a POST form's fields), else the
/// bucket's default encryption.
pub fn for_headers(
    engine: &Engine,
    bucket: &str,
    h: &HeaderMap,
    transport: Transport,
    sigv2: bool,
) -> Result<Requested, S3Error> {
    let mut req = parse_write(h, transport)?;
    if matches!(req, Requested::Plain) {
        req = with_bucket_default(req, bucket_default(engine, bucket)?);
    }
    if sigv2 && matches!(req, Requested::Kms { .. }) {
        return Err(kms_needs_sigv4());
    }
    Ok(req)
}

/// What a write (PutObject, CreateMultipartUpload, CopyObject's target)
/// asks for: its headers, else the bucket's default encryption.
pub fn for_write(ctx: &super::common::ctx::Ctx<'_>, bucket: &str) -> Result<Requested, S3Error> {
    for_headers(
        ctx.engine,
        bucket,
        ctx.headers(),
        ctx.transport(),
        ctx.auth.sigv2,
    )
}

/// S3 serves SSE-KMS objects only to SigV4 requests.
fn kms_needs_sigv4() -> S3Error {
    invalid(
        "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4.",
    )
}

/// Whether a request names an encryption (a copy onto itself may then
/// proceed: it changes the object's encryption).
pub fn names_encryption(h: &HeaderMap) -> bool {
    h.keys().any(|n| n.as_str().starts_with(SSE))
}

/// UploadPart: only the SSE-C headers (the upload's key, repeated).
pub fn parse_part(h: &HeaderMap, transport: Transport) -> Result<Option<CustomerKey>, S3Error> {
    reject_mode_headers(h)?;
    Ok(customer::parse(h, Which::Object, transport)?)
}

/// GET, HEAD, UploadPart: a mode is chosen when writing, never here.
pub fn reject_mode_headers(h: &HeaderMap) -> Result<(), S3Error> {
    match mode_headers(h).next() {
        Some(_) => Err(invalid(NOT_FOR_THIS_OPERATION)),
        None => Ok(()),
    }
}

/// The ARN S3 reports for a KMS key.
pub fn key_arn(key_id: &str) -> String {
    format!(
        "arn:aws:kms:{}:{ACCOUNT_ID}:key/{key_id}",
        super::bucket::REGION
    )
}

/// The identity an SSE-C data key is wrapped for. The version id is not
/// known when the key is made (the engine assigns it); the packages bind it.
fn customer_aad(bucket: &str, key: &str) -> [u8; 32] {
    ObjectId {
        bucket: bucket.as_bytes(),
        key: key.as_bytes(),
        version: b"",
    }
    .digest()
}

/// S3's answer when KMS refuses.
pub fn kms_error(e: KmsError) -> S3Error {
    match e {
        KmsError::NotFound(id) | KmsError::InvalidId(id) => {
            S3Error::new(S3Code::KMSNotFoundException, format!("Invalid keyId {id}"))
        }
        KmsError::Disabled(id) => S3Error::new(
            S3Code::KMSDisabledException,
            format!("{} is disabled.", key_arn(&id)),
        ),
        e => {
            tracing::error!(error = %e, "KMS");
            S3Error::from_code(S3Code::InternalError)
        }
    }
}

/// A data key under `key_id`: a fresh one, or (`shared`) the one derived
/// for `context`. The default key is created the first time it is needed.
async fn generate(
    key_id: &str,
    context: &Context,
    shared: bool,
) -> Result<crate::sse::kms::GeneratedKey, S3Error> {
    let make = |keys: &dyn crate::sse::kms::DataKeys| match shared {
        true => keys.derive_data_key(key_id, context),
        false => keys.generate_data_key(key_id, context),
    };
    let keys = service::data_keys().await.map_err(kms_error)?;
    match make(&*keys) {
        Err(KmsError::NotFound(_)) if key_id == DEFAULT_KEY => {
            let s =
                service::current().ok_or_else(|| kms_error(KmsError::Store("no KMS".into())))?;
            s.call(Op::EnsureDefault).await.map_err(kms_error)?;
            let keys = service::data_keys().await.map_err(kms_error)?;
            make(&*keys).map_err(kms_error)
        }
        r => r.map_err(kms_error),
    }
}

/// How a new object is sealed and what its responses say about it.
pub struct NewSeal {
    pub seal: Seal,
    pub echo: Echo,
}

/// The data key and header of a new object (or upload) at `bucket/key`;
/// `None` for a plain write. `dedup`: the bucket deduplicates; an SSE-S3 or
/// SSE-KMS object without an encryption context of its own then gets the
/// bucket's shared key (bound to the bucket's ARN), so its stripes can be
/// shared contents (`engine::sealing::Seal::shared`).
pub async fn seal_for(
    bucket: &str,
    key: &str,
    req: &Requested,
    dedup: bool,
) -> Result<Option<NewSeal>, S3Error> {
    let shared = dedup
        && match req {
            Requested::S3 => true,
            Requested::Kms { context, .. } => context.as_ref().is_none_or(|c| c.is_empty()),
            _ => false,
        };
    // As the caller knows it (a tenant's bucket without its tenant).
    let external = super::tenant::external_name(bucket);
    let arn = || {
        let arn = match shared {
            true => format!("arn:aws:s3:::{external}"),
            false => format!("arn:aws:s3:::{external}/{key}"),
        };
        ("aws:s3:arn".to_owned(), arn)
    };
    let (mode, key_id, context, bucket_key) = match req {
        Requested::Plain => return Ok(None),
        Requested::Customer(ck) => {
            let dk = DataKey::generate();
            let fingerprint = ck.fingerprint();
            let wrapped = ck.wrap(&fingerprint, &dk, &customer_aad(bucket, key));
            let header = header(
                Mode::Customer,
                KeySource::Customer {
                    fingerprint,
                    wrapped,
                },
            )?;
            let echo = Echo::customer(Some(ck.key_md5()));
            return Ok(Some(NewSeal {
                seal: Seal {
                    key: dk,
                    header,
                    shared: false,
                },
                echo,
            }));
        }
        // SSE-S3's data keys are bound to the object too.
        Requested::S3 => (Mode::S3, DEFAULT_KEY, Context::from([arn()]), false),
        Requested::Kms {
            key_id,
            context,
            bucket_key,
        } => {
            let mut c = context.clone().unwrap_or_default();
            if !c.contains_key("aws:s3:arn") {
                let (k, v) = arn();
                c.insert(k, v);
            }
            let id = key_id.as_deref().unwrap_or(DEFAULT_KEY);
            if !kms::valid_key_id(id) {
                return Err(kms_error(KmsError::NotFound(id.to_owned())));
            }
            (Mode::Kms, id, c, *bucket_key)
        }
    };
    let g = generate(key_id, &context, shared).await?;
    let context_bytes = kms::context_bytes(&context);
    let header = header(
        mode,
        KeySource::Kms {
            key_id: g.key_id.clone(),
            key_version: g.key_version,
            context: context_bytes.clone(),
            wrapped: g.wrapped,
        },
    )?;
    let echo = Echo {
        mode,
        key_id: Some(g.key_id),
        context: (mode == Mode::Kms).then_some(context_bytes),
        bucket_key,
        customer_md5: None,
    };
    Ok(Some(NewSeal {
        seal: Seal {
            key: g.key,
            header,
            shared,
        },
        echo,
    }))
}

/// The seal of a stored upload (or version) of `bucket` whose data key is
/// the bucket's shared one (`seal_for` with `dedup`): its header names the
/// bucket's ARN as the whole context. None for any other.
pub async fn shared_seal(bucket: &str, attrs: &[Attr]) -> Result<Option<Seal>, S3Error> {
    let Some(header) = stored_header(attrs)? else {
        return Ok(None);
    };
    let KeySource::Kms {
        context, wrapped, ..
    } = &header.key
    else {
        return Ok(None);
    };
    let arn = format!("arn:aws:s3:::{}", super::tenant::external_name(bucket));
    let ctx = Context::from([("aws:s3:arn".to_owned(), arn)]);
    if *context != kms::context_bytes(&ctx) {
        return Ok(None);
    }
    let keys = service::data_keys().await.map_err(kms_error)?;
    let key = keys.decrypt(wrapped, &ctx).map_err(kms_error)?;
    Ok(Some(Seal {
        key,
        header,
        shared: true,
    }))
}

fn header(mode: Mode, key: KeySource) -> Result<SseHeader, S3Error> {
    let h = SseHeader {
        mode,
        layout: Layout::DEFAULT,
        nonce_base: nonce_base(),
        key,
    };
    h.check().map_err(|e| {
        tracing::error!(error = %e, "building an encryption header");
        S3Error::from_code(S3Code::InternalError)
    })?;
    Ok(h)
}

/// The SSE response headers of an object or upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Echo {
    pub mode: Mode,
    pub key_id: Option<String>,
    /// The encryption context's canonical JSON (SSE-KMS).
    pub context: Option<Vec<u8>>,
    pub bucket_key: bool,
    pub customer_md5: Option<String>,
}

impl Echo {
    fn customer(md5: Option<&str>) -> Echo {
        Echo {
            mode: Mode::Customer,
            key_id: None,
            context: None,
            bucket_key: false,
            customer_md5: md5.map(str::to_owned),
        }
    }

    /// From a stored header; `customer` is the request's (matching) SSE-C
    /// key, `bucket_key` whether the write asked for a bucket key.
    pub fn of(h: &SseHeader, customer: Option<&CustomerKey>, bucket_key: bool) -> Echo {
        match &h.key {
            KeySource::Customer { .. } => Echo::customer(customer.map(|k| k.key_md5())),
            KeySource::Kms {
                key_id, context, ..
            } => Echo {
                mode: h.mode,
                key_id: Some(key_id.clone()),
                context: (h.mode == Mode::Kms).then(|| context.clone()),
                bucket_key,
                customer_md5: None,
            },
        }
    }

    /// Adds the headers; `with_context` where S3 returns the encryption
    /// context (PutObject, CopyObject, CreateMultipartUpload).
    pub fn add_to(&self, h: &mut HeaderMap, with_context: bool) {
        let mut put = |name: &'static str, v: &str| {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(HeaderName::from_static(name), v);
            }
        };
        match self.mode {
            Mode::Customer => {
                put(CUSTOMER_ALGORITHM, customer::ALGORITHM);
                if let Some(m) = &self.customer_md5 {
                    put(CUSTOMER_KEY_MD5, m);
                }
            }
            Mode::S3 => put(SSE, "AES256"),
            Mode::Kms => {
                put(SSE, "aws:kms");
                if let Some(id) = &self.key_id {
                    put(KMS_KEY_ID, &key_arn(id));
                }
                if with_context {
                    if let Some(c) = self.context.as_ref().filter(|c| !c.is_empty()) {
                        put(CONTEXT, &B64.encode(c));
                    }
                }
                if self.bucket_key {
                    put(BUCKET_KEY, "true");
                }
            }
        }
    }
}

/// Whether the stored headers record a bucket key (`x-amz-server-side-encryption-bucket-key-enabled`).
pub fn stored_bucket_key(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(n, v)| n == BUCKET_KEY && v == "true")
}

/// The stored header of a version or upload; a header that does not
/// decode is the server's fault.
pub fn stored_header(attrs: &[Attr]) -> Result<Option<SseHeader>, S3Error> {
    match sse_header(attrs) {
        None => Ok(None),
        Some(Ok(h)) => Ok(Some(h)),
        Some(Err(e)) => {
            tracing::error!(error = %e, "stored encryption header");
            Err(S3Error::from_code(S3Code::InternalError))
        }
    }
}

/// CompleteMultipartUpload's SSE headers: S3 returns the mode, the KMS key
/// and the bucket key, never the SSE-C ones.
pub fn add_completion_headers(
    h: &mut HeaderMap,
    attrs: &[Attr],
    stored_headers: &[(String, String)],
) -> Result<(), S3Error> {
    if let Some(hdr) = stored_header(attrs)?.filter(|x| x.mode != Mode::Customer) {
        Echo::of(&hdr, None, stored_bucket_key(stored_headers)).add_to(h, false);
    }
    Ok(())
}

/// A read of a stored version (GET, HEAD, a copy's source) once its SSE-C
/// headers were checked against it.
pub struct ReadAccess {
    header: Option<SseHeader>,
    customer: Option<CustomerKey>,
}

/// The SSE-C headers of a read (`which`: the object's own, or a copy
/// source's), checked before the object is looked up.
pub fn parse_read(
    h: &HeaderMap,
    which: Which,
    transport: Transport,
) -> Result<Option<CustomerKey>, S3Error> {
    Ok(customer::parse(h, which, transport)?)
}

/// Checks the SSE-C key a read supplied against the version's header,
/// with S3's errors.
pub fn check_read(supplied: Option<CustomerKey>, attrs: &[Attr]) -> Result<ReadAccess, S3Error> {
    let header = stored_header(attrs)?;
    let stored = header.as_ref().and_then(|h| match &h.key {
        KeySource::Customer { fingerprint, .. } => Some(fingerprint),
        KeySource::Kms { .. } => None,
    });
    customer::check_read(stored, supplied.as_ref())?;
    Ok(ReadAccess {
        header,
        customer: supplied,
    })
}

impl ReadAccess {
    pub fn header(&self) -> Option<&SseHeader> {
        self.header.as_ref()
    }

    pub fn is_customer(&self) -> bool {
        self.header
            .as_ref()
            .is_some_and(|h| h.mode == Mode::Customer)
    }

    pub fn echo(&self, bucket_key: bool) -> Option<Echo> {
        self.header
            .as_ref()
            .map(|h| Echo::of(h, self.customer.as_ref(), bucket_key))
    }

    /// The data key of the version stored at `bucket/key`; `None` when it
    /// is stored in the clear. An SSE-KMS version's needs a SigV4 request
    /// (`sigv2` false), as S3 requires.
    pub async fn data_key(
        &self,
        bucket: &str,
        key: &str,
        sigv2: bool,
    ) -> Result<Option<DataKey>, S3Error> {
        let Some(h) = &self.header else {
            return Ok(None);
        };
        if sigv2 && h.mode == Mode::Kms {
            return Err(kms_needs_sigv4());
        }
        match &h.key {
            KeySource::Customer {
                fingerprint,
                wrapped,
            } => {
                let ck = self
                    .customer
                    .as_ref()
                    .ok_or_else(|| S3Error::from(SseCError::KeyRequired))?;
                ck.unwrap(fingerprint, wrapped, &customer_aad(bucket, key))
                    .map(Some)
                    .map_err(|e| {
                        // The key matched its fingerprint: the record is damaged.
                        tracing::error!(error = %e, bucket, key, "SSE-C data key does not open");
                        S3Error::from_code(S3Code::InternalError)
                    })
            }
            KeySource::Kms {
                context, wrapped, ..
            } => {
                let ctx = kms::context_from_bytes(context).map_err(kms_error)?;
                let keys = service::data_keys().await.map_err(kms_error)?;
                keys.decrypt(wrapped, &ctx).map(Some).map_err(kms_error)
            }
        }
    }
}

/// UploadPart and UploadPartCopy: the upload's data key, given the SSE-C
/// key the request repeats (S3 requires the one the upload began with).
pub async fn upload_key(
    bucket: &str,
    key: &str,
    upload_attrs: &[Attr],
    supplied: Option<CustomerKey>,
    sigv2: bool,
) -> Result<(Option<DataKey>, Option<Echo>), S3Error> {
    let header = stored_header(upload_attrs)?;
    let Some(h) = header else {
        return match supplied {
            Some(_) => Err(SseCError::NotApplicable.into()),
            None => Ok((None, None)),
        };
    };
    if let KeySource::Customer { fingerprint, .. } = &h.key {
        match &supplied {
            None => {
                return Err(S3Error::new(
                    S3Code::InvalidRequest,
                    "The multipart upload initiate requested encryption. Subsequent part requests \
                     must include the appropriate encryption parameters.",
                ))
            }
            Some(k) if !k.matches(fingerprint) => {
                return Err(invalid(
                    "The provided encryption parameters did not match the ones used originally.",
                ))
            }
            Some(_) => {}
        }
    } else if supplied.is_some() {
        return Err(SseCError::NotApplicable.into());
    }
    let access = ReadAccess {
        header: Some(h),
        customer: supplied,
    };
    let dk = access.data_key(bucket, key, sigv2).await?;
    Ok((dk, access.echo(false)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest as _, Md5};

    const PLAIN: Transport = Transport {
        secure: false,
        allow_plain_http: false,
    };
    const TLS: Transport = Transport {
        secure: true,
        allow_plain_http: false,
    };

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn err<T: std::fmt::Debug>(r: Result<T, S3Error>) -> (String, u16, String) {
        let e = r.unwrap_err();
        (e.code.as_str().to_owned(), e.status().as_u16(), e.message)
    }

    fn ssec(key: [u8; 32]) -> Vec<(&'static str, String)> {
        vec![
            (CUSTOMER_ALGORITHM, "AES256".into()),
            ("x-amz-server-side-encryption-customer-key", B64.encode(key)),
            (CUSTOMER_KEY_MD5, B64.encode(Md5::digest(key))),
        ]
    }

    fn hv(v: &[(&'static str, String)]) -> HeaderMap {
        h(&v.iter().map(|(a, b)| (*a, b.as_str())).collect::<Vec<_>>())
    }

    #[test]
    fn each_mode_is_parsed_from_its_headers() {
        assert!(matches!(parse_write(&h(&[]), PLAIN), Ok(Requested::Plain)));
        assert!(matches!(
            parse_write(&h(&[(SSE, "AES256")]), PLAIN),
            Ok(Requested::S3)
        ));
        let ctx = B64.encode(br#"{"a":"b"}"#);
        let r = parse_write(
            &h(&[
                (SSE, "aws:kms"),
                (KMS_KEY_ID, "arn:aws:kms:us-east-1:000000000000:key/app"),
                (CONTEXT, &ctx),
                (BUCKET_KEY, "TRUE"),
            ]),
            PLAIN,
        )
        .unwrap();
        let Requested::Kms {
            key_id,
            context,
            bucket_key,
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(key_id.as_deref(), Some("app"));
        assert_eq!(context.unwrap()["a"], "b");
        assert!(bucket_key);
        assert!(matches!(
            parse_write(&h(&[(SSE, "aws:kms")]), PLAIN),
            Ok(Requested::Kms {
                key_id: None,
                context: None,
                bucket_key: false
            })
        ));
        assert!(matches!(
            parse_write(&hv(&ssec([3; 32])), TLS),
            Ok(Requested::Customer(_))
        ));
    }

    #[test]
    fn write_header_mistakes_get_s3_errors() {
        let cases: Vec<(HeaderMap, &str, u16)> = vec![
            (h(&[(SSE, "AES128")]), "InvalidArgument", 400),
            (h(&[(SSE, "aws:kms:dsse")]), "InvalidArgument", 400),
            (h(&[(KMS_KEY_ID, "app")]), "InvalidArgument", 400),
            (
                h(&[(SSE, "AES256"), (KMS_KEY_ID, "app")]),
                "InvalidArgument",
                400,
            ),
            (
                h(&[(SSE, "aws:kms"), (CONTEXT, "not base64!")]),
                "InvalidArgument",
                400,
            ),
            (
                h(&[(SSE, "aws:kms"), (CONTEXT, &B64.encode(b"[1,2]"))]),
                "InvalidArgument",
                400,
            ),
            (
                h(&[(SSE, "aws:kms"), (CONTEXT, &B64.encode(br#"{"a":1}"#))]),
                "InvalidArgument",
                400,
            ),
            (
                h(&[(SSE, "aws:kms"), (BUCKET_KEY, "yes")]),
                "InvalidArgument",
                400,
            ),
        ];
        for (headers, code, status) in cases {
            let (c, s, _) = err(parse_write(&headers, TLS));
            assert_eq!((c.as_str(), s), (code, status), "{headers:?}");
        }
        // SSE-C with another method, over plain HTTP, with a wrong MD5.
        let mut both = ssec([3; 32]);
        both.push((SSE, "AES256".into()));
        assert_eq!(err(parse_write(&hv(&both), TLS)).0, "InvalidArgument");
        let mut with_kms = ssec([3; 32]);
        with_kms.push((KMS_KEY_ID, "app".into()));
        assert_eq!(err(parse_write(&hv(&with_kms), TLS)).0, "InvalidArgument");
        assert_eq!(
            err(parse_write(&hv(&ssec([3; 32])), PLAIN)),
            (
                "InvalidRequest".into(),
                400,
                SseCError::Insecure.message().into()
            )
        );
        let allowed = Transport {
            secure: false,
            allow_plain_http: true,
        };
        assert!(parse_write(&hv(&ssec([3; 32])), allowed).is_ok());
    }

    #[test]
    fn parts_and_reads_take_no_mode_headers() {
        for name in [SSE, KMS_KEY_ID, CONTEXT, BUCKET_KEY] {
            let (c, s, m) = err(parse_part(&h(&[(name, "AES256")]), TLS));
            assert_eq!(
                (c.as_str(), s, m.as_str()),
                ("InvalidArgument", 400, NOT_FOR_THIS_OPERATION)
            );
            assert!(reject_mode_headers(&h(&[(name, "x")])).is_err());
        }
        assert!(parse_part(&hv(&ssec([1; 32])), TLS).unwrap().is_some());
        assert!(parse_part(&h(&[]), TLS).unwrap().is_none());
        assert!(reject_mode_headers(&hv(&ssec([1; 32]))).is_ok());
    }

    #[test]
    fn the_bucket_default_applies_only_to_writes_that_ask_for_nothing() {
        assert!(matches!(
            with_bucket_default(Requested::Plain, Some(Requested::S3)),
            Requested::S3
        ));
        assert!(matches!(
            with_bucket_default(Requested::Plain, None),
            Requested::Plain
        ));
        let kms = Requested::Kms {
            key_id: None,
            context: None,
            bucket_key: false,
        };
        assert!(matches!(
            with_bucket_default(kms, Some(Requested::S3)),
            Requested::Kms { .. }
        ));
    }

    #[test]
    fn responses_carry_the_headers_s3_returns_per_mode() {
        let kms = Echo {
            mode: Mode::Kms,
            key_id: Some("app".into()),
            context: Some(br#"{"a":"b"}"#.to_vec()),
            bucket_key: true,
            customer_md5: None,
        };
        let mut m = HeaderMap::new();
        kms.add_to(&mut m, true);
        assert_eq!(m[SSE], "aws:kms");
        assert_eq!(m[KMS_KEY_ID], "arn:aws:kms:us-east-1:000000000000:key/app");
        assert_eq!(m[CONTEXT], B64.encode(br#"{"a":"b"}"#).as_str());
        assert_eq!(m[BUCKET_KEY], "true");
        let mut m = HeaderMap::new();
        kms.add_to(&mut m, false);
        assert!(!m.contains_key(CONTEXT));
        let s3 = Echo {
            mode: Mode::S3,
            key_id: Some(DEFAULT_KEY.into()),
            context: None,
            bucket_key: false,
            customer_md5: None,
        };
        let mut m = HeaderMap::new();
        s3.add_to(&mut m, true);
        assert_eq!(m.len(), 1);
        assert_eq!(m[SSE], "AES256");
        let mut m = HeaderMap::new();
        Echo::customer(Some("bWQ1")).add_to(&mut m, true);
        assert_eq!(m.len(), 2);
        assert_eq!(m[CUSTOMER_ALGORITHM], "AES256");
        assert_eq!(m[CUSTOMER_KEY_MD5], "bWQ1");
    }

    #[test]
    fn kms_refusals_are_s3s_kms_errors() {
        let e = kms_error(KmsError::NotFound("nope".into()));
        assert_eq!(
            (e.code.as_str(), e.status().as_u16(), e.message.as_str()),
            ("KMS.NotFoundException", 400, "Invalid keyId nope")
        );
        let e = kms_error(KmsError::Disabled("app".into()));
        assert_eq!(
            (e.code.as_str(), e.status().as_u16()),
            ("KMS.DisabledException", 400)
        );
        assert_eq!(kms_error(KmsError::DoesNotOpen).status().as_u16(), 500);
    }

    #[test]
    fn a_read_needs_exactly_the_ssec_key_the_version_was_written_with() {
        let a = CustomerKey::from_bytes([1; 32]);
        let fp = a.fingerprint();
        let hdr = SseHeader {
            mode: Mode::Customer,
            layout: Layout::DEFAULT,
            nonce_base: [0; 12],
            key: KeySource::Customer {
                fingerprint: fp,
                wrapped: a.wrap(&fp, &DataKey::generate(), &customer_aad("b", "k")),
            },
        };
        let attrs = vec![Attr::Sse(hdr.encode())];
        let read = |h: &HeaderMap, w| parse_read(h, w, TLS).unwrap();
        assert!(check_read(read(&hv(&ssec([1; 32])), Which::Object), &attrs).is_ok());
        let code = |r: Result<ReadAccess, S3Error>| {
            let e = r.err().expect("refused");
            (e.code.as_str().to_owned(), e.status().as_u16())
        };
        assert_eq!(
            code(check_read(read(&hv(&ssec([2; 32])), Which::Object), &attrs)),
            ("AccessDenied".into(), 403)
        );
        assert_eq!(
            code(check_read(read(&h(&[]), Which::Object), &attrs)),
            ("InvalidRequest".into(), 400)
        );
        // A copy source's key goes in the copy-source headers.
        assert_eq!(
            code(check_read(
                read(&hv(&ssec([1; 32])), Which::CopySource),
                &attrs
            )),
            ("InvalidRequest".into(), 400)
        );
        assert_eq!(
            code(check_read(read(&hv(&ssec([1; 32])), Which::Object), &[])),
            ("InvalidRequest".into(), 400)
        );
        assert!(check_read(read(&h(&[]), Which::Object), &[])
            .unwrap()
            .header()
            .is_none());
    }
}
