//! SSE-C: the customer sends the key with every request and it is never
//! stored. The object keeps a salted HMAC of it to recognise it later (as
//! S3 does) and its data key wrapped under a key derived from it.
//!
//! Header checks run in S3's order (as MinIO and other S3 servers observed
//! it): secure transport, algorithm present, algorithm AES256, key present,
//! key MD5 present, key 32 bytes of base64, MD5 matches.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use md5::{Digest as _, Md5};
use rand::RngCore;
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::key::{self, DataKey, KEY_LEN, WRAPPED_LEN};
use super::SseError;
use crate::s3::error::{S3Code, S3Error};

pub const ALGORITHM: &str = "AES256";
pub const SALT_LEN: usize = 16;

/// The three headers of the object a request writes or reads, or of a
/// copy's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Object,
    CopySource,
}

impl Which {
    /// (algorithm, key, key MD5) header names.
    pub fn names(self) -> [&'static str; 3] {
        match self {
            Which::Object => [
                "x-amz-server-side-encryption-customer-algorithm",
                "x-amz-server-side-encryption-customer-key",
                "x-amz-server-side-encryption-customer-key-md5",
            ],
            Which::CopySource => [
                "x-amz-copy-source-server-side-encryption-customer-algorithm",
                "x-amz-copy-source-server-side-encryption-customer-key",
                "x-amz-copy-source-server-side-encryption-customer-key-md5",
            ],
        }
    }
}

/// Every way SSE-C headers or keys can be wrong, with S3's code and message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SseCError {
    #[error("SSE-C over plain HTTP")]
    Insecure,
    #[error("SSE-C without an algorithm")]
    MissingAlgorithm,
    #[error("SSE-C algorithm is not AES256")]
    InvalidAlgorithm,
    #[error("SSE-C without a key")]
    MissingKey,
    #[error("SSE-C without the key's MD5")]
    MissingKeyMd5,
    #[error("SSE-C key is not 32 bytes of base64")]
    InvalidKey,
    #[error("SSE-C key MD5 does not match")]
    KeyMd5Mismatch,
    /// SSE-C and `x-amz-server-side-encryption` on one request.
    #[error("SSE-C with another encryption method")]
    IncompatibleMethod,
    /// A read without SSE-C headers of an object stored with SSE-C.
    #[error("object needs its SSE-C key")]
    KeyRequired,
    /// SSE-C headers on a read of an object stored without SSE-C.
    #[error("SSE-C headers for an object without SSE-C")]
    NotApplicable,
    /// Another key than the object's.
    #[error("wrong SSE-C key")]
    WrongKey,
}

impl SseCError {
    pub fn code(self) -> S3Code {
        match self {
            SseCError::Insecure | SseCError::KeyRequired | SseCError::NotApplicable => {
                S3Code::InvalidRequest
            }
            SseCError::InvalidAlgorithm => S3Code::InvalidEncryptionAlgorithmError,
            SseCError::WrongKey => S3Code::AccessDenied,
            _ => S3Code::InvalidArgument,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            SseCError::Insecure => "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
            SseCError::MissingAlgorithm => "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
            SseCError::InvalidAlgorithm => "The Encryption request you specified is not valid. Supported value: AES256.",
            SseCError::MissingKey => "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
            SseCError::MissingKeyMd5 => "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
            SseCError::InvalidKey => "The secret key was invalid for the specified algorithm.",
            SseCError::KeyMd5Mismatch => "The calculated MD5 hash of the key did not match the hash that was provided.",
            SseCError::IncompatibleMethod => "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
            SseCError::KeyRequired => "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
            SseCError::NotApplicable => "The encryption parameters are not applicable to this object.",
            SseCError::WrongKey => "Access Denied",
        }
    }
}

impl From<SseCError> for S3Error {
    fn from(e: SseCError) -> S3Error {
        S3Error::new(e.code(), e.message())
    }
}

/// A customer's key, checked against its MD5. Never printed, wiped when
/// dropped.
pub struct CustomerKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    /// Base64 of the key's MD5, echoed in responses.
    md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomerKey(md5 {})", self.md5)
    }
}

/// What the object stores to recognise its customer key: a random salt and
/// HMAC-SHA256(key, salt). Without the key it reveals nothing about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyFingerprint {
    pub salt: [u8; SALT_LEN],
    pub mac: [u8; 32],
}

/// How the request arrived, and whether the operator allows SSE-C over
/// plain HTTP (MinIO refuses it unless told otherwise).
#[derive(Clone, Copy, Debug)]
pub struct Transport {
    pub secure: bool,
    pub allow_plain_http: bool,
}

/// Reads one set of SSE-C headers: `Ok(None)` when none of the three is
/// present.
pub fn parse(
    headers: &HeaderMap,
    which: Which,
    transport: Transport,
) -> Result<Option<CustomerKey>, SseCError> {
    let [alg, key, md5] = which.names().map(|n| headers.get(n).map(|v| v.as_bytes()));
    if alg.is_none() && key.is_none() && md5.is_none() {
        return Ok(None);
    }
    if !transport.secure && !transport.allow_plain_http {
        return Err(SseCError::Insecure);
    }
    let alg = alg.ok_or(SseCError::MissingAlgorithm)?;
    if alg != ALGORITHM.as_bytes() {
        return Err(SseCError::InvalidAlgorithm);
    }
    let key = key.ok_or(SseCError::MissingKey)?;
    let md5 = md5.ok_or(SseCError::MissingKeyMd5)?;
    let raw = Zeroizing::new(B64.decode(key).map_err(|_| SseCError::InvalidKey)?);
    let key: [u8; KEY_LEN] = raw
        .as_slice()
        .try_into()
        .map_err(|_| SseCError::InvalidKey)?;
    let key = Zeroizing::new(key);
    let computed = B64.encode(Md5::digest(&key[..]));
    if computed.as_bytes() != md5 {
        return Err(SseCError::KeyMd5Mismatch);
    }
    Ok(Some(CustomerKey { key, md5: computed }))
}

/// Refuses SSE-C together with `x-amz-server-side-encryption`.
pub fn check_exclusive(headers: &HeaderMap) -> Result<(), SseCError> {
    let ssec = Which::Object
        .names()
        .iter()
        .any(|n| headers.contains_key(*n));
    if ssec && headers.contains_key("x-amz-server-side-encryption") {
        return Err(SseCError::IncompatibleMethod);
    }
    Ok(())
}

/// The read-side check of GET, HEAD and a copy's source: the object's
/// fingerprint (`None` for an object without SSE-C) against the key the
/// request supplied.
pub fn check_read(
    stored: Option<&KeyFingerprint>,
    supplied: Option<&CustomerKey>,
) -> Result<(), SseCError> {
    match (stored, supplied) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(SseCError::NotApplicable),
        (Some(_), None) => Err(SseCError::KeyRequired),
        (Some(f), Some(k)) if k.matches(f) => Ok(()),
        (Some(_), Some(_)) => Err(SseCError::WrongKey),
    }
}

impl CustomerKey {
    /// For tests and callers that hold raw key bytes.
    pub fn from_bytes(key: [u8; KEY_LEN]) -> CustomerKey {
        let md5 = B64.encode(Md5::digest(key));
        CustomerKey {
            key: Zeroizing::new(key),
            md5,
        }
    }

    /// Base64 of the key's MD5, for `x-amz-server-side-encryption-customer-key-MD5`.
    pub fn key_md5(&self) -> &str {
        &self.md5
    }

    fn mac(&self, label: &[u8], salt: &[u8; SALT_LEN]) -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..])
            .expect("HMAC takes a key of any length");
        m.update(label);
        m.update(salt);
        m.finalize().into_bytes().into()
    }

    /// A new fingerprint with a fresh salt, to store with the object.
    pub fn fingerprint(&self) -> KeyFingerprint {
        let mut salt = [0u8; SALT_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        KeyFingerprint {
            salt,
            mac: self.mac(b"cairn-ssec-fingerprint-v1", &salt),
        }
    }

    /// True when this is the key `f` was made from (constant time).
    pub fn matches(&self, f: &KeyFingerprint) -> bool {
        self.mac(b"cairn-ssec-fingerprint-v1", &f.salt)[..]
            .ct_eq(&f.mac[..])
            .into()
    }

    /// The key encryption key for the data key: derived per object (salt),
    /// never the customer's key itself.
    fn kek(&self, salt: &[u8; SALT_LEN]) -> LessSafeKey {
        let k = Zeroizing::new(self.mac(b"cairn-ssec-kek-v1", salt));
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k[..]).expect("32-byte key"))
    }

    /// Wraps the object's data key; `aad` names the object
    /// ([`super::package::ObjectId::digest`]).
    pub fn wrap(&self, f: &KeyFingerprint, dk: &DataKey, aad: &[u8]) -> [u8; WRAPPED_LEN] {
        key::wrap(&self.kek(&f.salt), dk, aad)
    }

    pub fn unwrap(
        &self,
        f: &KeyFingerprint,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<DataKey, SseError> {
        key::unwrap(&self.kek(&f.salt), wrapped, aad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const SECURE: Transport = Transport {
        secure: true,
        allow_plain_http: false,
    };

    fn headers(which: Which, alg: Option<&str>, key: Option<&str>, md5: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        let [a, k, m] = which.names();
        for (name, v) in [(a, alg), (k, key), (m, md5)] {
            if let Some(v) = v {
                h.insert(name, HeaderValue::from_str(v).unwrap());
            }
        }
        h
    }

    fn good_key() -> (String, String) {
        let raw = [7u8; 32];
        (B64.encode(raw), B64.encode(Md5::digest(raw)))
    }

    fn good() -> (&'static str, &'static str) {
        let (k, m) = good_key();
        (k.leak(), m.leak())
    }

    #[test]
    fn valid_headers_give_the_key_for_the_object_and_the_copy_source() {
        let (k, m) = good();
        for which in [Which::Object, Which::CopySource] {
            let h = headers(which, Some("AES256"), Some(k), Some(m));
            let key = parse(&h, which, SECURE).unwrap().unwrap();
            assert_eq!(key.key_md5(), m);
            assert_eq!(*key.key, [7u8; 32]);
            assert!(!format!("{key:?}").contains(k));
        }
        // The copy source's headers are not the object's, and the reverse.
        let h = headers(Which::CopySource, Some("AES256"), Some(k), Some(m));
        assert!(parse(&h, Which::Object, SECURE).unwrap().is_none());
        assert!(parse(&HeaderMap::new(), Which::Object, SECURE)
            .unwrap()
            .is_none());
    }

    #[test]
    fn each_header_mistake_has_its_s3_error() {
        let (k, m) = good();
        let short: &str = B64.encode([7u8; 31]).leak();
        let short_md5: &str = B64.encode(Md5::digest([7u8; 31])).leak();
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            SseCError,
            &'a str,
        );
        let cases: [Case<'_>; 9] = [
            (
                None,
                Some(k),
                Some(m),
                SseCError::MissingAlgorithm,
                "InvalidArgument",
            ),
            (
                Some("AES128"),
                Some(k),
                Some(m),
                SseCError::InvalidAlgorithm,
                "InvalidEncryptionAlgorithmError",
            ),
            (
                Some("aes256"),
                Some(k),
                Some(m),
                SseCError::InvalidAlgorithm,
                "InvalidEncryptionAlgorithmError",
            ),
            (
                Some("AES256"),
                None,
                Some(m),
                SseCError::MissingKey,
                "InvalidArgument",
            ),
            (
                Some("AES256"),
                Some(k),
                None,
                SseCError::MissingKeyMd5,
                "InvalidArgument",
            ),
            (
                Some("AES256"),
                Some("not base64!"),
                Some(m),
                SseCError::InvalidKey,
                "InvalidArgument",
            ),
            (
                Some("AES256"),
                Some(short),
                Some(short_md5),
                SseCError::InvalidKey,
                "InvalidArgument",
            ),
            (
                Some("AES256"),
                Some(k),
                Some(short_md5),
                SseCError::KeyMd5Mismatch,
                "InvalidArgument",
            ),
            (
                Some("AES256"),
                Some(k),
                Some("garbage"),
                SseCError::KeyMd5Mismatch,
                "InvalidArgument",
            ),
        ];
        for which in [Which::Object, Which::CopySource] {
            for (alg, key, md5, want, code) in cases {
                let got = parse(&headers(which, alg, key, md5), which, SECURE).unwrap_err();
                assert_eq!(got, want, "{alg:?} {key:?} {md5:?}");
                let e = S3Error::from(got);
                assert_eq!((e.code.as_str(), e.status().as_u16()), (code, 400));
            }
        }
    }

    #[test]
    fn plain_http_is_refused_unless_the_operator_allows_it() {
        let (k, m) = good();
        let h = headers(Which::Object, Some("AES256"), Some(k), Some(m));
        let plain = Transport {
            secure: false,
            allow_plain_http: false,
        };
        let e = parse(&h, Which::Object, plain).unwrap_err();
        assert_eq!(e, SseCError::Insecure);
        assert_eq!(S3Error::from(e).code, S3Code::InvalidRequest);
        // Checked first: even a half-formed set is refused for the transport.
        let h1 = headers(Which::Object, None, Some(k), None);
        assert_eq!(
            parse(&h1, Which::Object, plain).unwrap_err(),
            SseCError::Insecure
        );
        let allowed = Transport {
            secure: false,
            allow_plain_http: true,
        };
        assert!(parse(&h, Which::Object, allowed).unwrap().is_some());
        // No SSE-C headers: nothing to refuse.
        assert!(parse(&HeaderMap::new(), Which::Object, plain)
            .unwrap()
            .is_none());
    }

    #[test]
    fn ssec_with_another_method_is_refused() {
        let (k, m) = good();
        let mut h = headers(Which::Object, Some("AES256"), Some(k), Some(m));
        assert!(check_exclusive(&h).is_ok());
        h.insert(
            "x-amz-server-side-encryption",
            HeaderValue::from_static("AES256"),
        );
        let e = check_exclusive(&h).unwrap_err();
        assert_eq!(
            (e, e.code()),
            (SseCError::IncompatibleMethod, S3Code::InvalidArgument)
        );
        assert!(check_exclusive(&headers(Which::CopySource, Some("AES256"), None, None)).is_ok());
    }

    #[test]
    fn reads_need_exactly_the_objects_key() {
        let a = CustomerKey::from_bytes([1; 32]);
        let b = CustomerKey::from_bytes([2; 32]);
        let f = a.fingerprint();
        assert_eq!(check_read(Some(&f), Some(&a)), Ok(()));
        assert_eq!(check_read(None, None), Ok(()));
        let cases = [
            (
                check_read(Some(&f), Some(&b)),
                SseCError::WrongKey,
                "AccessDenied",
                403,
            ),
            (
                check_read(Some(&f), None),
                SseCError::KeyRequired,
                "InvalidRequest",
                400,
            ),
            (
                check_read(None, Some(&a)),
                SseCError::NotApplicable,
                "InvalidRequest",
                400,
            ),
        ];
        for (got, want, code, status) in cases {
            assert_eq!(got, Err(want));
            let e = S3Error::from(want);
            assert_eq!((e.code.as_str(), e.status().as_u16()), (code, status));
        }
    }

    #[test]
    fn the_fingerprint_is_salted_and_never_the_key() {
        let a = CustomerKey::from_bytes([1; 32]);
        let (f1, f2) = (a.fingerprint(), a.fingerprint());
        assert_ne!(f1, f2, "a fresh salt each time");
        assert!(a.matches(&f1) && a.matches(&f2));
        assert_ne!(&f1.mac[..], &[1u8; 32][..]);
        let mut bad = f1;
        bad.mac[0] ^= 1;
        assert!(!a.matches(&bad));
    }

    #[test]
    fn the_data_key_opens_only_with_the_customer_key_and_object() {
        let a = CustomerKey::from_bytes([1; 32]);
        let f = a.fingerprint();
        let dk = DataKey::generate();
        let w = a.wrap(&f, &dk, b"obj");
        assert_eq!(a.unwrap(&f, &w, b"obj"), Ok(dk));
        assert!(a.unwrap(&f, &w, b"other").is_err());
        assert!(CustomerKey::from_bytes([2; 32])
            .unwrap(&f, &w, b"obj")
            .is_err());
        // Another salt derives another key encryption key.
        assert!(a.unwrap(&a.fingerprint(), &w, b"obj").is_err());
    }
}
