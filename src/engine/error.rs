//! The engine's one error type. The S3 layer maps each variant to its code.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the bucket does not exist")]
    NoSuchBucket,
    #[error("the bucket already exists")]
    BucketExists,
    #[error("the bucket is not empty")]
    BucketNotEmpty,
    #[error("the key does not exist")]
    NoSuchKey,
    #[error("the version does not exist")]
    NoSuchVersion,
    /// The named version is a delete marker, which has no data or tags.
    #[error("the version is a delete marker")]
    DeleteMarker,
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// Longer than S3's 1,024 bytes: its own variant, as S3 has its own code.
    #[error("key longer than 1024 bytes")]
    KeyTooLong,
    #[error("invalid bucket name")]
    InvalidBucketName,
    #[error("the multipart upload does not exist")]
    NoSuchUpload,
    #[error("invalid part: {0}")]
    InvalidPart(String),
    #[error("the parts are not in ascending order")]
    InvalidPartOrder,
    #[error("a part other than the last is smaller than 5 MiB")]
    EntityTooSmall,
    #[error("not enough drives online to write: {online} online, {needed} needed")]
    WriteQuorum { online: usize, needed: usize },
    #[error("not enough intact shards to read: {have} of {need} needed")]
    ReadQuorum { have: usize, need: usize },
    #[error("storage full: {0}")]
    StorageFull(String),
    #[error("the request body failed: {0}")]
    Body(String),
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Index(#[from] super::index::IndexError),
    #[error("internal error: {0}")]
    Internal(String),
    /// The write would take the bucket past its hard quota.
    #[error("the bucket's quota is exceeded")]
    QuotaExceeded,
    /// The write would take its bucket's tenant past the tenant's quota.
    #[error("the tenant's quota is exceeded")]
    TenantQuotaExceeded,
    /// A conditional write's precondition no longer held at commit.
    #[error("a conflicting write changed the key")]
    ConditionConflict,
    /// The bucket's state forbids the change (S3's InvalidBucketState).
    #[error("{0}")]
    InvalidBucketState(&'static str),
    /// Object lock protects the version from the change.
    #[error("the version is protected by object lock: {0:?}")]
    ObjectLocked(super::lock::LockDenial),
    /// A storage class the node does not define (any more).
    #[error("invalid storage class: {0}")]
    InvalidStorageClass(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    pub fn from_io(e: io::Error) -> EngineError {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            EngineError::StorageFull(e.to_string())
        } else {
            EngineError::Io(e)
        }
    }
}
