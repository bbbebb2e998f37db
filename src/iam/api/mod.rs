//! The IAM and STS Query APIs (`aws iam …`, boto3's IAM client, Terraform),
//! served on the S3 endpoint for requests signed for service `iam` or `sts`.

pub mod http;
pub mod request;
pub mod serve;
pub mod sts;
