//! The source of a copy (CopyObject, UploadPartCopy): which version it
//! reads, and that version streamed as a request body.

use crate::auth::checksum::{ChecksumAlgo, ChecksumValue, Checksummer};
use crate::engine::meta::IndexEntry;
use crate::engine::read::ObjectReader;
use crate::engine::{BodyChunk, BodySource, EngineError, VersionSel};

use super::ctx::Ctx;
use crate::s3::error::{S3Code, S3Error};

/// The source object (or a range of it) as a request body.
pub struct CopyBody {
    reader: ObjectReader,
    /// The source's ETag when it is a plain MD5 (single-part objects), so the
    /// copy does not hash the data again.
    md5: Option<[u8; 16]>,
    /// A checksum to compute over what is copied (an upload's algorithm),
    /// and its value once the copy ended.
    sum: Option<Checksummer>,
    done: Option<ChecksumValue>,
    error: Option<S3Error>,
}

impl CopyBody {
    pub fn new(
        reader: ObjectReader,
        md5: Option<[u8; 16]>,
        checksum: Option<ChecksumAlgo>,
    ) -> CopyBody {
        CopyBody {
            reader,
            md5,
            sum: checksum.map(Checksummer::new),
            done: None,
            error: None,
        }
    }

    /// Why reading the source failed, if it did.
    pub fn take_error(&mut self) -> Option<S3Error> {
        self.error.take()
    }
}

impl BodySource for CopyBody {
    fn supplies_md5(&self) -> bool {
        self.md5.is_some()
    }

    fn checksums(&self) -> Vec<(String, String)> {
        self.done
            .iter()
            .map(|v| (v.algo().header_name().to_owned(), v.to_base64()))
            .collect()
    }

    async fn next_chunk(&mut self) -> crate::engine::Result<BodyChunk> {
        match self.reader.next_chunk().await {
            Some(Ok(b)) => {
                if let Some(s) = &mut self.sum {
                    s.update(&b);
                }
                Ok(BodyChunk::Data(b))
            }
            None => {
                self.done = self.sum.take().map(Checksummer::finalize);
                Ok(BodyChunk::End(self.md5))
            }
            Some(Err(e)) => {
                let msg = e.to_string();
                self.error = Some(e.into());
                Err(EngineError::Body(format!("reading the copy source: {msg}")))
            }
        }
    }
}

pub fn md5_of_etag(etag: &str) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(etag, &mut out).ok()?;
    Some(out)
}

/// The version a copy reads: the latest or the named one. S3 answers a
/// delete marker as the latest with NoSuchKey and a named one with
/// InvalidRequest (a marker has no data to copy).
/// The version a subresource request (tagging, retention, legal hold)
/// names; a delete marker has none of those (405, as S3 answers).
pub fn read_version(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
) -> Result<IndexEntry, S3Error> {
    read_copy_source(ctx, bucket, key, version).map_err(|e| {
        if e.code == S3Code::InvalidRequest {
            S3Error::new(
                S3Code::MethodNotAllowed,
                "The specified method is not allowed against this resource.",
            )
        } else {
            e
        }
    })
}

pub fn read_copy_source(
    ctx: &Ctx<'_>,
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
) -> Result<IndexEntry, S3Error> {
    match ctx.engine.lookup(bucket, key, version)? {
        None if version.is_some() => Err(S3Error::from_code(S3Code::NoSuchVersion)),
        None => Err(S3Error::from_code(S3Code::NoSuchKey)),
        Some(e) if e.meta.delete_marker && version.is_some() => Err(S3Error::new(
            S3Code::InvalidRequest,
            "The source of a copy request may not specifically refer to a delete marker by version id.",
        )),
        Some(e) if e.meta.delete_marker => Err(S3Error::from_code(S3Code::NoSuchKey)),
        Some(e) => Ok(e),
    }
}
