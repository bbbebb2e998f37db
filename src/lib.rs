//! cairn: an S3-compatible object storage node for Linux servers full of NVMe
//! drives. One process per machine, one io_uring executor per core, each
//! owning its partitions of the key space; erasure coding across the drives.
//!
//! Where a request flows: `http` (every core accepts) -> `engine` (reads on
//! the receiving core, writes on the partition's owner core) -> `runtime`
//! (io_uring, O_DIRECT, companion threads).

pub mod admin;
pub mod auth;
pub mod bucket_logging;
pub mod cli;
pub mod config;
pub mod console;
pub mod engine;
pub mod format_version;
pub mod hash;
pub mod http;
pub mod iam;
pub mod lifecycle;
pub mod logs;
pub mod metrics;
pub mod node;
pub mod notify;
pub mod runtime;
pub mod s3;
pub mod sse;
pub mod website;
pub mod xmlw;
