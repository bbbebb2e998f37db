//! Reading a whole small request body (an admin API document, an IAM or
//! STS form) into memory: bounded by a size, each piece waited for at most
//! the idle timeout, and refused with S3's errors (`EntityTooLarge`,
//! `RequestTimeout`, `IncompleteBody`, all 400).

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::s3::error::{S3Code, S3Error};

/// The body of a request with `headers`, at most `max` bytes: a declared
/// `Content-Length` over it is refused before anything is read.
pub async fn read_bounded(
    headers: &http::HeaderMap,
    mut body: Incoming,
    max: usize,
    idle: Duration,
) -> Result<Vec<u8>, S3Error> {
    let too_large = || {
        S3Error::new(
            S3Code::EntityTooLarge,
            format!("The request body is larger than {max} bytes."),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    loop {
        let frame = crate::runtime::timeout(idle, body.frame())
            .await
            .map_err(|_| {
                S3Error::new(
                    S3Code::RequestTimeout,
                    "The request body did not arrive in time.",
                )
            })?;
        match frame {
            None => return Ok(bytes),
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    if bytes.len() + d.len() > max {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(d);
                }
            }
            Some(Err(_)) => {
                return Err(S3Error::new(
                    S3Code::IncompleteBody,
                    "The request body ended early.",
                ))
            }
        }
    }
}
