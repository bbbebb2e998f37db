//! Authentication: AWS Signature V4 and V2 (header and presigned), aws-chunked
//! streaming bodies with chunk signatures and trailing checksums, and the
//! x-amz-checksum-* algorithms. Pure functions: no I/O, the clock is passed in.

pub mod checksum;
pub mod chunked;
pub mod sigv2;
pub mod sigv4;
