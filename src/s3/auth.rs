//! Authentication glue: SigV4 (header or presigned) against the node's root
//! credentials, with a per-core signing-key cache. Anonymous requests are
//! refused: cairn has no public buckets yet.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::SystemTime;

use crate::auth::sigv4::{self, AuthKind, Credentials, RequestParts, SigningKeyCache, Verified};
use crate::iam::root::RootCredentials;

use super::error::{S3Code, S3Error};

pub struct Authenticator {
    secrets: Credentials,
    /// Owned by this core; borrowed only for the synchronous verify call.
    cache: RefCell<SigningKeyCache>,
}

impl Authenticator {
    pub fn new(root: Arc<RootCredentials>) -> Authenticator {
        Authenticator {
            secrets: Credentials {
                access_key: root.access_key.clone(),
                secret_key: root.secret_key.clone(),
            },
            cache: RefCell::new(SigningKeyCache::default()),
        }
    }

    /// Verifies the request's signature (the body, if signed, is checked
    /// while it streams: see `body.rs`).
    pub fn authenticate(&self, parts: &http::request::Parts) -> Result<Verified, S3Error> {
        let raw_query = parts.uri.query().unwrap_or("");
        if sigv4::detect(&parts.headers, raw_query) == AuthKind::Anonymous {
            return Err(S3Error::from_code(S3Code::AccessDenied));
        }
        let req = RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query,
            headers: &parts.headers,
        };
        let mut cache = self.cache.borrow_mut();
        sigv4::verify(&req, SystemTime::now(), &self.secrets, &mut cache).map_err(S3Error::from)
    }

    /// Verifies a browser form's signature over its policy (`s3::post`);
    /// `Ok(None)` when the form carries no credentials.
    pub fn verify_post(
        &self,
        fields: &super::post::policy::Fields,
        now: i64,
    ) -> Result<Option<Verified>, S3Error> {
        let mut cache = self.cache.borrow_mut();
        super::post::policy::verify_signature(fields, now, &self.secrets, &mut cache)
    }
}

/// Longest access key id kept for a log line.
const MAX_LOGGED_KEY: usize = 128;

/// The access key id a request claims, for logs: from `Credential=` (SigV4)
/// or `AWS id:` (SigV2) in the Authorization header, else from the
/// `X-Amz-Credential` or `AWSAccessKeyId` query parameter. Stops before the
/// first `/`, `,`, `:` or space, so the signature never comes with it.
pub fn claimed_access_key(parts: &http::request::Parts) -> Option<String> {
    let cut = |s: &str| -> String {
        let id = s.split(['/', ',', ':', ' ']).next().unwrap_or("");
        id[..id.floor_char_boundary(MAX_LOGGED_KEY)].to_owned()
    };
    if let Some(h) = parts.headers.get(http::header::AUTHORIZATION) {
        let h = String::from_utf8_lossy(h.as_bytes());
        if let Some((_, rest)) = h.split_once("Credential=") {
            return Some(cut(rest.trim_start()));
        }
        return h.strip_prefix("AWS ").map(|rest| cut(rest.trim_start()));
    }
    let query = parts.uri.query().unwrap_or("");
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        matches!(k, "X-Amz-Credential" | "AWSAccessKeyId").then(|| cut(&percent_decode(v)))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(auth: Option<&str>, query: &str) -> http::request::Parts {
        let mut b = http::Request::builder().uri(format!("/b/k?{query}"));
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn the_claimed_access_key_comes_without_the_signature() {
        let v4 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=deadbeef";
        assert_eq!(
            claimed_access_key(&parts(Some(v4), "")).as_deref(),
            Some("AKIDEXAMPLE")
        );
        let v2 = "AWS AKIDV2:c2lnbmF0dXJl";
        assert_eq!(
            claimed_access_key(&parts(Some(v2), "")).as_deref(),
            Some("AKIDV2")
        );
        let odd = "AWS4-HMAC-SHA256 Signature=deadbeef, Credential=K,SignedHeaders=host";
        assert_eq!(
            claimed_access_key(&parts(Some(odd), "")).as_deref(),
            Some("K")
        );
        assert_eq!(claimed_access_key(&parts(Some("Bearer x"), "")), None);
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDQ%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=deadbeef";
        assert_eq!(
            claimed_access_key(&parts(None, q)).as_deref(),
            Some("AKIDQ")
        );
        let v2q = "AWSAccessKeyId=AKIDV2Q&Signature=c2ln&Expires=1";
        assert_eq!(
            claimed_access_key(&parts(None, v2q)).as_deref(),
            Some("AKIDV2Q")
        );
        assert_eq!(claimed_access_key(&parts(None, "list-type=2")), None);
        let long = format!("AWS4-HMAC-SHA256 Credential={}/x", "K".repeat(1000));
        assert_eq!(
            claimed_access_key(&parts(Some(&long), "")).map(|k| k.len()),
            Some(MAX_LOGGED_KEY)
        );
    }
}
