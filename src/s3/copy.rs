//! CopyObject: the source streams from its reader into an ordinary engine
//! write, so a copy is as durable as a PUT and never holds the object in
//! memory. UploadPartCopy uses the same body (`common::copy_source`).

use http::StatusCode;

use crate::auth::checksum::ChecksumAlgo;
use crate::engine::meta::IndexEntry;
use crate::engine::PutOptions;

use super::common::acl::{acl_for_new_object, is_internal_header};
use super::common::copy_source::{md5_of_etag, read_copy_source, CopyBody};
use super::common::ctx::{require_bucket, Ctx, S3Result};
use super::common::expiration::{add_written_expiration, tags_for_expiration};
use super::common::metadata::{put_options, storage_class, tags_from_header, CHECKSUM_PREFIX};
use super::common::preconditions::check_write_preconditions;
use super::common::response::xml;
use super::common::version::add_version_header;
use super::conditional::{check_copy_source, write_condition, Outcome};
use super::error::{S3Code, S3Error};
use super::router::{format_version_id, CopySource};
use super::xml::copy_object_result;

pub async fn copy_object(ctx: &Ctx<'_>, bucket: &str, key: &str, source: &CopySource) -> S3Result {
    require_bucket(ctx, bucket)?;
    let src_version = source.version;
    let requested = super::sse::for_write(ctx, bucket)?;
    let source_key = super::sse::parse_read(
        ctx.headers(),
        crate::sse::customer::Which::CopySource,
        ctx.transport(),
    )?;
    // Registered before the lookup: compaction keeps what it points to.
    let guard = ctx.engine.begin_read();
    let src = read_copy_source(ctx, &source.bucket, &source.key, src_version)?;
    let access = super::sse::check_read(source_key, &src.meta.attrs)?;
    if check_copy_source(ctx.headers(), &src.meta.etag, src.meta.modified_ms) != Outcome::Proceed {
        return Err(S3Error::from_code(S3Code::PreconditionFailed));
    }
    let replace = match ctx.header("x-amz-metadata-directive") {
        None => false,
        Some(d) if d.eq_ignore_ascii_case("COPY") => false,
        Some(d) if d.eq_ignore_ascii_case("REPLACE") => true,
        Some(_) => {
            return Err(S3Error::new(
                S3Code::InvalidArgument,
                "Unknown metadata directive.",
            ))
        }
    };
    // Naming an encryption is a change: S3 lets a copy onto itself re-encrypt.
    let same_encryption = !super::sse::names_encryption(ctx.headers());
    // So is naming a storage class (S3's way to change an object's class).
    let class = storage_class(ctx.headers(), &ctx.engine.shared.classes)?;
    if source.bucket == bucket
        && source.key == key
        && src_version.is_none()
        && !replace
        && same_encryption
        && ctx.header("x-amz-storage-class").is_none()
    {
        return Err(S3Error::new(
            S3Code::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing \
             the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let mut opts = if replace {
        put_options(ctx.headers(), &ctx.engine.shared.classes)?
    } else {
        PutOptions {
            content_type: src.meta.content_type.clone(),
            // A multipart source's checksum does not describe the copy.
            headers: src
                .meta
                .headers
                .iter()
                // Nor does its encryption: the copy's is its own.
                .filter(|(n, _)| {
                    !n.starts_with(CHECKSUM_PREFIX)
                        && !is_internal_header(n)
                        && !n.starts_with(super::sse::SSE)
                })
                .cloned()
                .collect(),
            user_meta: src.meta.user_meta.clone(),
            // The copy takes the request's class, else STANDARD, as on S3.
            class,
            ..Default::default()
        }
    };
    opts.tags = match ctx.header("x-amz-tagging-directive") {
        None => src.meta.tags.clone(),
        Some(d) if d.eq_ignore_ascii_case("COPY") => src.meta.tags.clone(),
        Some(d) if d.eq_ignore_ascii_case("REPLACE") => tags_from_header(ctx.headers())?,
        Some(_) => {
            return Err(S3Error::new(
                S3Code::InvalidArgument,
                "Unknown tagging directive.",
            ))
        }
    };
    // The copy gets the request's ACL (private without one), never the
    // source's, as on S3.
    opts.headers.extend(acl_for_new_object(ctx, bucket)?);
    opts.event = ctx.origin(bucket, crate::notify::event::Action::Copy);
    // The copy's lock comes from the request (or the bucket), never the source.
    opts.attrs =
        super::lock::write_attrs(ctx.engine, &ctx.authz, ctx.headers(), (bucket, key), true)?;
    check_write_preconditions(ctx, bucket, key)?;
    opts.condition = write_condition(ctx.headers());
    let sealed =
        super::sse::seal_for(bucket, key, &requested, ctx.engine.deduplicates(bucket)).await?;
    let echo = sealed.as_ref().map(|s| s.echo.clone());
    if let Some(e) = echo.as_ref().filter(|e| e.bucket_key) {
        opts.headers
            .push((super::sse::BUCKET_KEY.to_owned(), e.bucket_key.to_string()));
    }
    opts.seal = sealed.map(|s| s.seal);
    // An SSE-C source's ETag is keyed, not its MD5: the copy hashes.
    let md5 = md5_of_etag(&src.meta.etag).filter(|_| !access.is_customer());
    let algo = copy_checksum_algo(&src);
    let unseal = access
        .data_key(&source.bucket, &source.key, ctx.auth.sigv2)
        .await?;
    let reader = ctx
        .engine
        .open_reader(guard, &source.bucket, &source.key, src, None, unseal)
        .await?;
    let mut body = CopyBody::new(reader, md5, Some(algo));
    let lifecycle_tags = tags_for_expiration(ctx, bucket, &opts.tags);
    let info = match ctx.engine.put(bucket, key, opts, &mut body).await {
        Ok(info) => info,
        Err(e) => return Err(body.take_error().unwrap_or_else(|| e.into())),
    };
    let mut r = xml(
        StatusCode::OK,
        copy_object_result(&info.etag, info.modified_ms),
    );
    add_version_header(ctx, &mut r, bucket, info.sel);
    add_written_expiration(
        ctx,
        r.headers_mut(),
        (bucket, key),
        &info,
        lifecycle_tags.as_deref(),
    );
    if let Some(e) = &echo {
        e.add_to(r.headers_mut(), true);
    }
    if let Some(v) = src_version {
        if let Ok(h) = http::HeaderValue::from_str(&format_version_id(v)) {
            r.headers_mut().insert("x-amz-copy-source-version-id", h);
        }
    }
    Ok(r)
}

/// The checksum a copy gets, computed as it is written: the source's
/// algorithm when its checksum covers the whole object, else S3's default
/// CRC64NVME (a COMPOSITE value describes the source's parts, not the copy).
fn copy_checksum_algo(src: &IndexEntry) -> ChecksumAlgo {
    let h = &src.meta.headers;
    let full = h
        .iter()
        .any(|(n, v)| n == "x-amz-checksum-type" && v == "FULL_OBJECT");
    h.iter()
        .filter(|_| full)
        .find_map(|(n, _)| ChecksumAlgo::from_header_name(n))
        .unwrap_or(ChecksumAlgo::Crc64Nvme)
}
