//! Authentication glue: SigV4 or SigV2 (header or presigned) against every
//! key of this core's identity snapshot (root, users' keys, service
//! accounts), with a per-core signing-key cache for SigV4. Anonymous
//! requests are refused: cairn has no public buckets yet.
//!
//! An unknown or inactive key, a disabled user's key and an expired key are
//! all refused with `InvalidAccessKeyId` (403), as MinIO does for disabled
//! and expired keys: a client is not told which of them it was.
//!
//! Temporary (`ASIA…`) keys carry their secret in the session token
//! (`x-amz-security-token` header, `X-Amz-Security-Token` query parameter,
//! form field), opened through a per-core cache (`iam::sts`): a token that
//! does not open is `InvalidToken` (400), an expired one `ExpiredToken`
//! (400); no token, or a session whose user or role is gone or disabled,
//! `InvalidAccessKeyId`. A token sent with a long-term key is `InvalidToken`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use crate::auth::sigv2;
use crate::auth::sigv4::{self, AuthKind, RequestParts, SigningKeyCache, Verified};
use crate::iam::identities::{Identities, Principal, PrincipalKind, Snapshot};
use crate::iam::sts::{self, Refusal, SessionCache};

use super::error::{S3Code, S3Error};

pub struct Authenticator {
    ids: Rc<Identities>,
    /// Owned by this core; borrowed only for the synchronous verify call.
    cache: RefCell<SigningKeyCache>,
    /// The snapshot generation the cache was filled under: a new snapshot
    /// empties it, so no revoked key's derived key outlives a change.
    cache_generation: Cell<u64>,
    /// `--domain`: a SigV2 signature covers the bucket a Host names.
    domain: Option<String>,
    /// Opened STS session tokens, this core's.
    sessions: RefCell<SessionCache>,
}

impl Authenticator {
    pub fn new(ids: Rc<Identities>, domain: Option<String>) -> Authenticator {
        Authenticator {
            cache_generation: Cell::new(ids.snapshot().generation),
            ids,
            cache: RefCell::new(SigningKeyCache::default()),
            domain,
            sessions: RefCell::new(SessionCache::default()),
        }
    }

    pub fn identities(&self) -> &Rc<Identities> {
        &self.ids
    }

    /// Verifies the request's signature (the body, if signed, is checked
    /// while it streams: see `body.rs`) and names who signed it. A scope
    /// for another service (`iam`, `sts`) is refused as S3 refuses it
    /// (`sigv4::verify`).
    pub fn authenticate(
        &self,
        parts: &http::request::Parts,
    ) -> Result<(Verified, Arc<Principal>), S3Error> {
        let (verified, principal, now_ms) = self.verify(parts, None)?;
        self.note_used(&verified, &principal, now_ms);
        Ok((verified, principal))
    }

    /// Verifies a Query API request (IAM, STS) whose whole body is in hand
    /// (`body_sha256`, lowercase hex, stands in for an absent
    /// `x-amz-content-sha256`). The caller checks the scope's service.
    pub fn authenticate_query_api(
        &self,
        parts: &http::request::Parts,
        body_sha256: &str,
    ) -> Result<(Verified, Arc<Principal>), S3Error> {
        let (verified, principal, now_ms) = self.verify(parts, Some(body_sha256))?;
        self.note_used(&verified, &principal, now_ms);
        Ok((verified, principal))
    }

    fn note_used(&self, verified: &Verified, principal: &Principal, now_ms: u64) {
        // Long-term keys only: root's is not in the store, a session's
        // is in its token.
        if matches!(
            principal.kind,
            PrincipalKind::User | PrincipalKind::ServiceAccount { .. }
        ) {
            self.ids.note_used(
                &principal.access_key,
                verified.service.as_str(),
                &verified.region,
                now_ms,
            );
        }
    }

    fn verify(
        &self,
        parts: &http::request::Parts,
        body_sha256: Option<&str>,
    ) -> Result<(Verified, Arc<Principal>, u64), S3Error> {
        let raw_query = parts.uri.query().unwrap_or("");
        let req = RequestParts {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query,
            headers: &parts.headers,
        };
        let now = SystemTime::now();
        let now_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let snapshot = self.ids.snapshot();
        let signer = RefCell::new(None);
        let token = security_token(parts);
        let refused = Cell::new(None);
        let lookup = |key: &str| -> Option<String> {
            match self.secret_of(&snapshot, key, token.as_deref(), now_ms) {
                Ok((secret, principal)) => {
                    *signer.borrow_mut() = Some(principal);
                    Some(secret)
                }
                Err(code) => {
                    refused.set(Some(code));
                    None
                }
            }
        };
        let refusal = |e| token_refusal(e, refused.get());
        let verified = if sigv2::detect(&parts.headers, raw_query).is_some() {
            let host = parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok());
            let bucket = super::router::vhost_bucket(host, self.domain.as_deref());
            sigv2::verify(&req, bucket.as_deref(), now, &lookup).map_err(refusal)?
        } else {
            if sigv4::detect(&parts.headers, raw_query) == AuthKind::Anonymous {
                return Err(S3Error::from_code(S3Code::AccessDenied));
            }
            let mut cache = self.cache.borrow_mut();
            if snapshot.generation != self.cache_generation.get() {
                *cache = SigningKeyCache::default();
                self.cache_generation.set(snapshot.generation);
            }
            match body_sha256 {
                Some(h) => sigv4::verify_with_body(&req, h, now, &lookup, &mut cache),
                None => sigv4::verify(&req, now, &lookup, &mut cache),
            }
            .map_err(refusal)?
        };
        let principal = signer
            .into_inner()
            .ok_or_else(|| S3Error::from_code(S3Code::InvalidAccessKeyId))?;
        Ok((verified, principal, now_ms))
    }

    /// Verifies a browser form's signature over its policy (`s3::post`)
    /// and names who signed it; `Ok(None)` when the form carries no
    /// credentials.
    pub fn verify_post(
        &self,
        fields: &super::post::policy::Fields,
        now: i64,
    ) -> Result<Option<(Verified, Arc<Principal>)>, S3Error> {
        let now_ms = u64::try_from(now).unwrap_or(0).saturating_mul(1000);
        let snapshot = self.ids.snapshot();
        let signer = RefCell::new(None);
        let token = fields.get("x-amz-security-token");
        let refused = Cell::new(None);
        let lookup = |key: &str| -> Option<String> {
            match self.secret_of(&snapshot, key, token, now_ms) {
                Ok((secret, principal)) => {
                    *signer.borrow_mut() = Some(principal);
                    Some(secret)
                }
                Err(code) => {
                    refused.set(Some(code));
                    None
                }
            }
        };
        let mut cache = self.cache.borrow_mut();
        if snapshot.generation != self.cache_generation.get() {
            *cache = SigningKeyCache::default();
            self.cache_generation.set(snapshot.generation);
        }
        let Some(verified) = super::post::policy::verify_signature(
            fields, now, &lookup, &mut cache,
        )
        .map_err(|e| match refused.get() {
            Some(code) if e.code == S3Code::InvalidAccessKeyId => S3Error::from_code(code),
            _ => e,
        })?
        else {
            return Ok(None);
        };
        let principal = signer
            .into_inner()
            .ok_or_else(|| S3Error::from_code(S3Code::InvalidAccessKeyId))?;
        Ok(Some((verified, principal)))
    }
}

impl Authenticator {
    /// The secret and principal of `key`: a long-term key from the
    /// snapshot, a temporary one from its session token.
    fn secret_of(
        &self,
        snapshot: &Snapshot,
        key: &str,
        token: Option<&str>,
        now_ms: u64,
    ) -> Result<(String, Arc<Principal>), S3Code> {
        if sts::is_temporary(key) {
            let (secret, principal) = self
                .sessions
                .borrow_mut()
                .resolve(
                    self.ids.master(),
                    snapshot,
                    &self.ids.root().access_key,
                    key,
                    token,
                    now_ms,
                )
                .map_err(|r| match r {
                    Refusal::MissingToken | Refusal::Revoked => S3Code::InvalidAccessKeyId,
                    Refusal::InvalidToken => S3Code::InvalidToken,
                    Refusal::Expired => S3Code::ExpiredToken,
                })?;
            return Ok((secret.expose().to_owned(), principal));
        }
        if token.is_some() {
            return Err(S3Code::InvalidToken);
        }
        let (secret, principal) = snapshot
            .lookup(key, now_ms)
            .ok_or(S3Code::InvalidAccessKeyId)?;
        Ok((secret.expose().to_owned(), principal.clone()))
    }
}

/// A verifier's `InvalidAccessKeyId` is the token's refusal when the
/// lookup refused a token.
fn token_refusal(e: sigv4::AuthError, refused: Option<S3Code>) -> S3Error {
    match (e, refused) {
        (sigv4::AuthError::InvalidAccessKeyId, Some(code)) => S3Error::from_code(code),
        (e, _) => S3Error::from(e),
    }
}

/// Longest session token considered; longer ones are refused unopened.
const MAX_TOKEN_HEADER: usize = sts::MAX_TOKEN_LEN + 1;

/// The session token: the `x-amz-security-token` header, else the query
/// parameter (`X-Amz-Security-Token` for SigV4, `x-amz-security-token`
/// for SigV2 presigned URLs).
fn security_token(parts: &http::request::Parts) -> Option<String> {
    if let Some(v) = parts.headers.get("x-amz-security-token") {
        let v = &v.as_bytes()[..v.len().min(MAX_TOKEN_HEADER)];
        return Some(String::from_utf8_lossy(v).into_owned());
    }
    let query = parts.uri.query().unwrap_or("");
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        let v = &v[..v.floor_char_boundary(3 * MAX_TOKEN_HEADER)];
        k.eq_ignore_ascii_case("x-amz-security-token")
            .then(|| percent_decode(v))
    })
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
    use crate::iam::identities::IamHome;
    use crate::iam::model::{new_id, Change, KeyStatus};
    use crate::iam::root::RootCredentials;
    use crate::iam::seal::{MasterKey, Secret};
    use crate::iam::store::DriveStore;
    use crate::runtime::channel::{bounded, oneshot};
    use crate::runtime::companion::Companion;

    /// A GET signed now in the Authorization header.
    fn signed(access: &str, secret: &str) -> http::request::Parts {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let identity =
            aws_credential_types::Credentials::new(access, secret, None, None, "test").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let uri = "http://localhost/bucket";
        let headers = [("host", "localhost")];
        let signable = SignableRequest::new(
            "GET",
            uri,
            headers.iter().copied(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut req = http::Request::builder()
            .method("GET")
            .uri(uri)
            .header("host", "localhost")
            .body(())
            .unwrap();
        instructions.apply_to_request_http1x(&mut req);
        req.into_parts().0
    }

    type Ask = (
        http::request::Parts,
        oneshot::Sender<Result<String, &'static str>>,
    );

    fn outcome(auth: &Authenticator, parts: &http::request::Parts) -> Result<String, &'static str> {
        auth.authenticate(parts)
            .map(|(_, p)| p.name.clone())
            .map_err(|e| e.code.as_str())
    }

    #[test]
    fn a_new_key_signs_on_every_core_and_a_revoked_one_is_refused_at_once() {
        let t = tempfile::tempdir().unwrap();
        let drives: Vec<std::path::PathBuf> = (0..3)
            .map(|i| {
                let d = t.path().join(format!("d{i}"));
                std::fs::create_dir_all(d.join(crate::engine::format::META_DIR)).unwrap();
                d
            })
            .collect();
        let master = MasterKey::generate("t");
        let master_again = MasterKey::parse(&master.encode()).unwrap();
        let root = RootCredentials {
            access_key: "rootkey".into(),
            secret_key: Secret::new("root-secret-1234".into()),
        };
        let store = DriveStore::new(drives.clone(), 2);
        let (home, _) = IamHome::open(Box::new(store), master, root.clone(), 2).unwrap();
        let home = Arc::new(home);

        // Core 1 authenticates what core 0 sends it.
        let (ask_tx, ask_rx) = bounded::<Ask>(1);
        let home1 = home.clone();
        let core1 = std::thread::spawn(move || {
            crate::runtime::block_on(async move {
                let companion = Companion::start("test-comp-1".into()).unwrap();
                let auth = Authenticator::new(Identities::start(1, home1, companion), None);
                while let Ok((parts, reply)) = ask_rx.recv().await {
                    let _ = reply.send(outcome(&auth, &parts));
                }
            })
            .unwrap()
        });
        let key_id = crate::runtime::block_on(async move {
            let companion = Companion::start("test-comp-0".into()).unwrap();
            let ids = Identities::start(0, home, companion);
            let auth = Authenticator::new(ids.clone(), None);
            let on_core1 = |parts: http::request::Parts| {
                let ask_tx = ask_tx.clone();
                async move {
                    let (tx, rx) = oneshot::channel();
                    ask_tx.send((parts, tx)).await.unwrap();
                    rx.await.unwrap()
                }
            };
            let root_req = signed("rootkey", "root-secret-1234");
            assert_eq!(on_core1(root_req.clone()).await, Ok("root".into()));

            ids.change(Change::CreateUser {
                name: "alice".into(),
                path: "/".into(),
                tags: vec![],
                id: new_id("AIDA"),
                tenant: String::new(),
            })
            .await
            .unwrap();
            let k = ids.new_access_key();
            let req = signed(&k.id, k.secret.expose());
            assert_eq!(on_core1(req.clone()).await, Err("InvalidAccessKeyId"));
            ids.change(Change::CreateAccessKey {
                user: "alice".into(),
                id: k.id.clone(),
                sealed: k.sealed.clone(),
                description: String::new(),
                expires_ms: None,
                service: None,
            })
            .await
            .unwrap();
            // Acknowledged means installed everywhere: no waiting.
            assert_eq!(on_core1(req.clone()).await, Ok("alice".into()));
            assert_eq!(outcome(&auth, &req), Ok("alice".into()));
            let wrong = signed(&k.id, "not-the-secret");
            assert_eq!(on_core1(wrong).await, Err("SignatureDoesNotMatch"));

            ids.change(Change::UpdateAccessKey {
                user: Some("alice".into()),
                id: k.id.clone(),
                status: KeyStatus::Inactive,
            })
            .await
            .unwrap();
            // The cached signing key of both cores must not keep it working.
            assert_eq!(on_core1(req.clone()).await, Err("InvalidAccessKeyId"));
            assert_eq!(outcome(&auth, &req), Err("InvalidAccessKeyId"));
            ids.change(Change::UpdateAccessKey {
                user: None,
                id: k.id.clone(),
                status: KeyStatus::Active,
            })
            .await
            .unwrap();
            ids.change(Change::SetUserEnabled {
                name: "alice".into(),
                enabled: false,
            })
            .await
            .unwrap();
            assert_eq!(on_core1(req.clone()).await, Err("InvalidAccessKeyId"));
            assert_eq!(on_core1(root_req).await, Ok("root".into()));
            // A refused change leaves every core as it was.
            let e = ids
                .change(Change::DeleteUser {
                    name: "nobody".into(),
                })
                .await
                .unwrap_err();
            assert_eq!(e.code, crate::iam::model::IamCode::NoSuchEntity);
            assert_eq!(ids.snapshot().generation, 5);
            k.id
        })
        .unwrap();
        core1.join().unwrap();

        // Durable: the next start finds the key, sealed, and opens it.
        let store = DriveStore::new(drives.clone(), 2);
        let (_, report) = IamHome::open(Box::new(store), master_again, root, 1).unwrap();
        assert_eq!((report.generation, report.users, report.keys), (5, 1, 1));
        let on_disk = std::fs::read(crate::iam::store::state_path(&drives[0])).unwrap();
        assert!(String::from_utf8_lossy(&on_disk).contains(&key_id));
    }

    fn parts(auth: Option<&str>, query: &str) -> http::request::Parts {
        let mut b = http::Request::builder().uri(format!("/b/k?{query}"));
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).expect("request").into_parts().0
    }

    /// A SigV2 header request as boto3's `s3` signer sends it, now.
    fn v2_request(
        host: &str,
        path: &str,
        signed_resource: &str,
        secret: &str,
    ) -> http::request::Parts {
        let date = super::super::xml::http_date(crate::engine::now_ms());
        let sts = format!("GET\n\n\n{date}\n{signed_resource}");
        let sig = sigv2::sign(secret, sts.as_bytes());
        http::Request::builder()
            .uri(path)
            .header("host", host)
            .header("date", date)
            .header("authorization", format!("AWS root:{sig}"))
            .body(())
            .expect("request")
            .into_parts()
            .0
    }

    /// Runs `check` with an authenticator whose only key is `root:secret`,
    /// on an executor (identities start their tasks there).
    fn with_root_only(domain: Option<&str>, check: impl FnOnce(&Authenticator) + 'static) {
        let t = tempfile::tempdir().unwrap();
        let drive = t.path().join("d0");
        std::fs::create_dir_all(drive.join(crate::engine::format::META_DIR)).unwrap();
        let root = RootCredentials {
            access_key: "root".into(),
            secret_key: Secret::new("secret".into()),
        };
        let store = DriveStore::new(vec![drive], 1);
        let (home, _) = IamHome::open(Box::new(store), MasterKey::generate("t"), root, 1).unwrap();
        let domain = domain.map(str::to_owned);
        crate::runtime::block_on(async move {
            let companion = Companion::start("test-comp-v2".into()).unwrap();
            let ids = Identities::start(0, Arc::new(home), companion);
            check(&Authenticator::new(ids, domain));
        })
        .unwrap();
    }

    #[test]
    fn sigv2_requests_verify_with_the_bucket_a_virtual_host_names() {
        with_root_only(Some("s3.example.com"), |auth| {
            let ok = |p: &http::request::Parts| auth.authenticate(p).map(|(v, _)| v.access_key);
            let path_style = v2_request("s3.example.com", "/bkt/k", "/bkt/k", "secret");
            assert_eq!(ok(&path_style).as_deref(), Ok("root"));
            let vhost = v2_request("bkt.s3.example.com:9000", "/k", "/bkt/k", "secret");
            assert_eq!(ok(&vhost).as_deref(), Ok("root"));
            let vhost_unbucketed = v2_request("bkt.s3.example.com", "/k", "/k", "secret");
            assert_eq!(
                ok(&vhost_unbucketed).map_err(|e| e.code),
                Err(S3Code::SignatureDoesNotMatch)
            );
            let wrong_secret = v2_request("s3.example.com", "/bkt/k", "/bkt/k", "guess");
            let e = auth.authenticate(&wrong_secret).unwrap_err();
            assert_eq!(
                (e.code, e.status().as_u16()),
                (S3Code::SignatureDoesNotMatch, 403)
            );
        });
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
