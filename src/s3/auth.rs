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
}
