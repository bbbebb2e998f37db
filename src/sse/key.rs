//! Data keys: 256 random bits per object, kept in memory only while a
//! request uses them, stored only wrapped (AES-256-GCM under a key
//! encryption key: a KMS key version, or one derived from an SSE-C key).

use std::fmt;

use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use zeroize::Zeroizing;

use super::SseError;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// A wrapped data key: random nonce, sealed key, tag.
pub const WRAPPED_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

/// An object's data key. Never printed, wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    pub fn generate() -> DataKey {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        rand::thread_rng().fill_bytes(&mut k[..]);
        DataKey(k)
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> DataKey {
        DataKey(Zeroizing::new(bytes))
    }

    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The AES-256-GCM key, for sealing packages or wrapping other keys.
    pub fn cipher(&self) -> LessSafeKey {
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0[..]).expect("AES-256 takes a 32-byte key"),
        )
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A random 96-bit nonce base: one per object, and one per multipart part
/// upload (a part uploaded twice must not reuse the first upload's nonces).
pub fn nonce_base() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut n);
    n
}

/// Wraps `key` under `kek`, bound to `aad` (what the key belongs to).
pub fn wrap(kek: &LessSafeKey, key: &DataKey, aad: &[u8]) -> [u8; WRAPPED_LEN] {
    let mut out = [0u8; WRAPPED_LEN];
    let nonce = nonce_base();
    out[..NONCE_LEN].copy_from_slice(&nonce);
    out[NONCE_LEN..NONCE_LEN + KEY_LEN].copy_from_slice(&key.0[..]);
    let tag = kek
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[NONCE_LEN..NONCE_LEN + KEY_LEN],
        )
        .expect("AES-GCM sealing cannot fail below its length limit");
    out[NONCE_LEN + KEY_LEN..].copy_from_slice(tag.as_ref());
    out
}

/// Opens a key wrapped by [`wrap`] with the same `kek` and `aad`.
pub fn unwrap(kek: &LessSafeKey, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, SseError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(SseError::Malformed("a wrapped data key is 60 bytes"));
    }
    let nonce = Nonce::try_assume_unique_for_key(&wrapped[..NONCE_LEN])
        .map_err(|_| SseError::Malformed("nonce"))?;
    let mut body = Zeroizing::new([0u8; KEY_LEN + TAG_LEN]);
    body.copy_from_slice(&wrapped[NONCE_LEN..]);
    let plain = kek
        .open_in_place(nonce, Aad::from(aad), &mut body[..])
        .map_err(|_| SseError::DoesNotOpen)?;
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(plain);
    let key = DataKey::from_bytes(key);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_with_its_kek_and_aad() {
        let kek = DataKey::generate();
        let dk = DataKey::generate();
        let w = wrap(&kek.cipher(), &dk, b"object-a");
        assert_eq!(unwrap(&kek.cipher(), &w, b"object-a").unwrap(), dk);
        assert_eq!(
            unwrap(&kek.cipher(), &w, b"object-b"),
            Err(SseError::DoesNotOpen)
        );
        assert_eq!(
            unwrap(&DataKey::generate().cipher(), &w, b"object-a"),
            Err(SseError::DoesNotOpen)
        );
        for i in 0..WRAPPED_LEN {
            let mut t = w;
            t[i] ^= 0x80;
            assert!(unwrap(&kek.cipher(), &t, b"object-a").is_err(), "byte {i}");
        }
        assert!(matches!(
            unwrap(&kek.cipher(), &w[1..], b"object-a"),
            Err(SseError::Malformed(_))
        ));
        // Random nonces: the same key wraps differently each time.
        assert_ne!(w, wrap(&kek.cipher(), &dk, b"object-a"));
    }

    #[test]
    fn data_keys_never_print() {
        let dk = DataKey::from_bytes([0x41; KEY_LEN]);
        assert_eq!(format!("{dk:?}"), "DataKey(<redacted>)");
    }
}
