//! Hashing kernels of the request path.
//!
//! - `md5x`: multi-buffer MD5 (AVX-512 / AVX2 kernels, scalar fallback).
//! - `md5_batch`: the per-core batcher that hashes the ETags of concurrent
//!   uploads together through `md5x` (`Md5Lane`, used by `s3::body`).

pub mod md5_batch;
pub mod md5x;
pub mod sha256x;

pub use md5_batch::Md5Lane;
