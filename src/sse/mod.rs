//! Server-side encryption at rest (issue 14): the pure parts, without I/O on
//! the data path. docs/ENCRYPTION.md describes the formats byte by byte.
//!
//! - [`package`]: an object (or a multipart part) is sealed in packages of
//!   64 KiB of plaintext, AES-256-GCM, one tag each, every package bound to
//!   the object, the part, its index and whether it is the last.
//! - [`key`]: a data key (random per object) and wrapping it under a key
//!   encryption key.
//! - [`header`]: what the object record stores: format version, mode,
//!   package size, nonce base, wrapped data key and where it came from.
//! - [`kms`]: the [`kms::Kms`] trait and the built-in KMS (named, versioned
//!   keys sealed under the node's master key, kept in the system store).
//! - [`customer`]: SSE-C headers, their S3 errors, and the salted HMAC kept
//!   to recognise a customer key.
//! - [`service`]: the built-in KMS in a running node: one owner thread,
//!   a handle on every core.

pub mod customer;
pub mod header;
pub mod key;
pub mod kms;
pub mod package;
pub mod service;

/// Why sealing, opening or decoding failed. Opening failures say nothing
/// more than "does not open": which check failed is not the caller's to know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// The tag does not verify: the bytes were altered, truncated,
    /// reordered, moved from another object or part, or the key is wrong.
    #[error("encrypted data does not open (altered, moved, truncated or wrong key)")]
    DoesNotOpen,
    /// A caller broke the API's contract (buffer sizes, package order).
    #[error("encryption misuse: {0}")]
    Misuse(&'static str),
    /// A stored header or wrapped key that does not decode.
    #[error("malformed encryption record: {0}")]
    Malformed(&'static str),
    /// A stored header of a format this binary does not read.
    #[error(transparent)]
    Newer(crate::format_version::NewerFormat),
    /// A ciphertext length no plaintext length maps to, or a range outside
    /// the object.
    #[error("invalid length or range: {0}")]
    Length(&'static str),
}
