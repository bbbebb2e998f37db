//! S3 additional checksums (`x-amz-checksum-*`): algorithm names, incremental
//! computation and the base64 wire form.
//!
//! Used for `x-amz-checksum-*` request headers and for the checksum trailer of
//! `aws-chunked` bodies. All parsing here is total: bad input yields `None`,
//! never a panic.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::Digest as _;

/// A checksum algorithm S3 accepts in `x-amz-checksum-*` / `x-amz-trailer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumAlgo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgo {
    /// Every algorithm, e.g. to scan a request for `x-amz-checksum-*` headers.
    pub const ALL: [ChecksumAlgo; 5] = [
        ChecksumAlgo::Crc32,
        ChecksumAlgo::Crc32c,
        ChecksumAlgo::Crc64Nvme,
        ChecksumAlgo::Sha1,
        ChecksumAlgo::Sha256,
    ];

    /// Parses a header name such as `x-amz-checksum-crc32` (ASCII case-insensitive,
    /// because header and trailer names are case-insensitive on the wire).
    pub fn from_header_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(name))
    }

    /// The lowercase header / trailer name, e.g. `x-amz-checksum-crc64nvme`.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgo::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgo::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgo::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgo::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgo::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Parses the algorithm as named in `x-amz-checksum-algorithm` /
    /// `x-amz-sdk-checksum-algorithm` (`CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`,
    /// `SHA256`; case-insensitive as SDKs differ in casing).
    pub fn from_algorithm_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.algorithm_name().eq_ignore_ascii_case(name))
    }

    /// The name S3 uses in `x-amz-checksum-algorithm` and in XML (`CRC64NVME`).
    pub fn algorithm_name(self) -> &'static str {
        match self {
            ChecksumAlgo::Crc32 => "CRC32",
            ChecksumAlgo::Crc32c => "CRC32C",
            ChecksumAlgo::Crc64Nvme => "CRC64NVME",
            ChecksumAlgo::Sha1 => "SHA1",
            ChecksumAlgo::Sha256 => "SHA256",
        }
    }

    /// Length in bytes of the raw (not base64) digest.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgo::Crc32 | ChecksumAlgo::Crc32c => 4,
            ChecksumAlgo::Crc64Nvme => 8,
            ChecksumAlgo::Sha1 => 20,
            ChecksumAlgo::Sha256 => 32,
        }
    }
}

/// A finished raw digest. Fixed-size storage so that checksumming allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChecksumValue {
    algo: ChecksumAlgo,
    bytes: [u8; 32],
}

impl ChecksumValue {
    /// Builds a value from raw bytes; `None` if the length does not fit `algo`.
    pub fn from_raw(algo: ChecksumAlgo, raw: &[u8]) -> Option<Self> {
        if raw.len() != algo.digest_len() {
            return None;
        }
        let mut bytes = [0u8; 32];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Self { algo, bytes })
    }

    /// Parses the base64 form carried in a header or trailer. Rejects bad
    /// base64 and digests of the wrong length (S3 answers both with a 400).
    pub fn from_base64(algo: ChecksumAlgo, value: &str) -> Option<Self> {
        // Decode into a stack buffer: 32 raw bytes need at most 44 base64 chars,
        // so anything longer is wrong for every algorithm.
        if value.len() > 44 {
            return None;
        }
        let mut buf = [0u8; 33];
        let n = STANDARD.decode_slice(value.as_bytes(), &mut buf).ok()?;
        Self::from_raw(algo, &buf[..n])
    }

    pub fn algo(&self) -> ChecksumAlgo {
        self.algo
    }

    /// Raw digest bytes (big-endian for the CRCs, as S3 transmits them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algo.digest_len()]
    }

    /// Standard base64 with padding, the form S3 uses in headers and XML.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.as_bytes())
    }
}

impl std::fmt::Debug for ChecksumValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algo.algorithm_name(), self.to_base64())
    }
}

enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc_fast::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

/// Incremental checksum over a sequence of slices.
pub struct Checksummer {
    state: State,
}

impl Checksummer {
    pub fn new(algo: ChecksumAlgo) -> Self {
        let state = match algo {
            ChecksumAlgo::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgo::Crc32c => State::Crc32c(0),
            ChecksumAlgo::Crc64Nvme => {
                State::Crc64Nvme(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc64Nvme))
            }
            ChecksumAlgo::Sha1 => State::Sha1(sha1::Sha1::new()),
            ChecksumAlgo::Sha256 => State::Sha256(sha2::Sha256::new()),
        };
        Self { state }
    }

    pub fn algo(&self) -> ChecksumAlgo {
        match self.state {
            State::Crc32(_) => ChecksumAlgo::Crc32,
            State::Crc32c(_) => ChecksumAlgo::Crc32c,
            State::Crc64Nvme(_) => ChecksumAlgo::Crc64Nvme,
            State::Sha1(_) => ChecksumAlgo::Sha1,
            State::Sha256(_) => ChecksumAlgo::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            State::Crc64Nvme(d) => d.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    pub fn finalize(self) -> ChecksumValue {
        let algo = self.algo();
        let mut bytes = [0u8; 32];
        match self.state {
            State::Crc32(h) => bytes[..4].copy_from_slice(&h.finalize().to_be_bytes()),
            State::Crc32c(c) => bytes[..4].copy_from_slice(&c.to_be_bytes()),
            State::Crc64Nvme(d) => bytes[..8].copy_from_slice(&d.finalize().to_be_bytes()),
            State::Sha1(h) => bytes[..20].copy_from_slice(&h.finalize()),
            State::Sha256(h) => bytes.copy_from_slice(&h.finalize()),
        }
        ChecksumValue { algo, bytes }
    }

    /// Convenience: finalize straight to the base64 wire form.
    pub fn finalize_base64(self) -> String {
        self.finalize().to_base64()
    }
}

/// One-shot checksum of a buffer.
pub fn checksum(algo: ChecksumAlgo, data: &[u8]) -> ChecksumValue {
    let mut c = Checksummer::new(algo);
    c.update(data);
    c.finalize()
}

impl ChecksumAlgo {
    /// The CRCs: their values over consecutive pieces combine into the
    /// value of the whole (multipart FULL_OBJECT checksums).
    fn crc(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            ChecksumAlgo::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgo::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgo::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            ChecksumAlgo::Sha1 | ChecksumAlgo::Sha256 => None,
        }
    }

    pub fn is_crc(self) -> bool {
        self.crc().is_some()
    }
}

/// The CRC of `A ++ B` from the CRCs of `A` and `B` and the length of `B`;
/// `None` unless both are the same CRC algorithm.
pub fn crc_combine(a: ChecksumValue, b: ChecksumValue, b_len: u64) -> Option<ChecksumValue> {
    let algo = a.algo();
    let crc = algo.crc().filter(|_| b.algo() == algo)?;
    let as_u64 = |v: &ChecksumValue| {
        v.as_bytes()
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
    };
    let combined = if b_len == 0 {
        as_u64(&a)
    } else {
        crc_fast::checksum_combine(crc, as_u64(&a), as_u64(&b), b_len)
    };
    let n = algo.digest_len();
    ChecksumValue::from_raw(algo, &combined.to_be_bytes()[8 - n..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(algo: ChecksumAlgo, data: &[u8]) -> String {
        checksum(algo, data).to_base64()
    }

    // Independent reference implementations from the `crc` crate's catalogue.
    const REF_CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    const REF_CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    const REF_CRC64NVME: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_NVME);

    #[test]
    fn names_round_trip() {
        for a in ChecksumAlgo::ALL {
            assert_eq!(ChecksumAlgo::from_header_name(a.header_name()), Some(a));
            assert_eq!(
                ChecksumAlgo::from_header_name(&a.header_name().to_ascii_uppercase()),
                Some(a)
            );
            assert_eq!(
                ChecksumAlgo::from_algorithm_name(a.algorithm_name()),
                Some(a)
            );
            assert_eq!(
                ChecksumAlgo::from_algorithm_name(&a.algorithm_name().to_ascii_lowercase()),
                Some(a)
            );
        }
        assert_eq!(ChecksumAlgo::from_header_name("x-amz-checksum-md5"), None);
        assert_eq!(ChecksumAlgo::from_header_name("x-amz-checksum-"), None);
        assert_eq!(ChecksumAlgo::from_header_name(""), None);
        assert_eq!(ChecksumAlgo::from_algorithm_name("CRC64"), None);
    }

    #[test]
    fn check_values_of_the_crc_catalogue() {
        // "123456789" check values from the CRC catalogue (reveng).
        let v = checksum(ChecksumAlgo::Crc32, b"123456789");
        assert_eq!(v.as_bytes(), 0xCBF4_3926u32.to_be_bytes());
        let v = checksum(ChecksumAlgo::Crc32c, b"123456789");
        assert_eq!(v.as_bytes(), 0xE306_9283u32.to_be_bytes());
        let v = checksum(ChecksumAlgo::Crc64Nvme, b"123456789");
        assert_eq!(v.as_bytes(), 0xAE8B_1486_0A79_9888u64.to_be_bytes());
    }

    #[test]
    fn hello_world_vectors() {
        // CRC32("hello world") = 0x0d4a1185 -> DUoRhQ==.
        assert_eq!(b64(ChecksumAlgo::Crc32, b"hello world"), "DUoRhQ==");
        // CRC32C("hello world") = 0xc99465aa.
        assert_eq!(b64(ChecksumAlgo::Crc32c, b"hello world"), "yZRlqg==");
        // SHA-1 / SHA-256 of "hello world" (well-known hex digests).
        assert_eq!(
            checksum(ChecksumAlgo::Sha1, b"hello world").as_bytes(),
            hex::decode("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed").unwrap()
        );
        assert_eq!(
            checksum(ChecksumAlgo::Sha256, b"hello world").as_bytes(),
            hex::decode("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
                .unwrap()
        );
        assert_eq!(
            b64(ChecksumAlgo::Sha256, b"hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        assert_eq!(
            b64(ChecksumAlgo::Sha1, b"hello world"),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
    }

    #[test]
    fn aws_trailer_example_crc32c() {
        // AWS's chunked-trailer example: 66560 'a's carry x-amz-checksum-crc32c:sOO8/Q==.
        assert_eq!(b64(ChecksumAlgo::Crc32c, &[b'a'; 66560]), "sOO8/Q==");
    }

    #[test]
    fn empty_input() {
        assert_eq!(b64(ChecksumAlgo::Crc32, b""), "AAAAAA==");
        assert_eq!(b64(ChecksumAlgo::Crc32c, b""), "AAAAAA==");
        assert_eq!(b64(ChecksumAlgo::Crc64Nvme, b""), "AAAAAAAAAAA=");
        assert_eq!(
            b64(ChecksumAlgo::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn incremental_matches_reference_crates() {
        // Deterministic pseudo-random data, split at many points.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let data: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in [0usize, 1, 3, 15, 16, 17, 63, 64, 65, 255, 1000, 5000] {
            let d = &data[..len];
            let crc32 = REF_CRC32.checksum(d).to_be_bytes();
            let crc32c = REF_CRC32C.checksum(d).to_be_bytes();
            let crc64 = REF_CRC64NVME.checksum(d).to_be_bytes();
            let sha1 = sha1::Sha1::digest(d);
            let sha256 = sha2::Sha256::digest(d);
            let expected: [(ChecksumAlgo, &[u8]); 5] = [
                (ChecksumAlgo::Crc32, &crc32),
                (ChecksumAlgo::Crc32c, &crc32c),
                (ChecksumAlgo::Crc64Nvme, &crc64),
                (ChecksumAlgo::Sha1, &sha1),
                (ChecksumAlgo::Sha256, &sha256),
            ];
            for (algo, want) in expected {
                for split in [0, len / 3, len / 2, len] {
                    let mut c = Checksummer::new(algo);
                    assert_eq!(c.algo(), algo);
                    c.update(&d[..split]);
                    c.update(&d[split..]);
                    let v = c.finalize();
                    assert_eq!(v.as_bytes(), want, "{algo:?} len {len} split {split}");
                    assert_eq!(v.as_bytes().len(), algo.digest_len());
                }
            }
        }
    }

    #[test]
    fn base64_parsing() {
        let v = ChecksumValue::from_base64(ChecksumAlgo::Crc32, "DUoRhQ==").unwrap();
        assert_eq!(v.as_bytes(), [0x0d, 0x4a, 0x11, 0x85]);
        assert_eq!(v, checksum(ChecksumAlgo::Crc32, b"hello world"));
        assert_eq!(format!("{v:?}"), "CRC32:DUoRhQ==");
        // Wrong length for the algorithm.
        assert!(ChecksumValue::from_base64(ChecksumAlgo::Crc64Nvme, "DUoRhQ==").is_none());
        assert!(ChecksumValue::from_base64(ChecksumAlgo::Sha256, "DUoRhQ==").is_none());
        // Not base64, unpadded, empty, overlong.
        assert!(ChecksumValue::from_base64(ChecksumAlgo::Crc32, "DUoRhQ").is_none());
        assert!(ChecksumValue::from_base64(ChecksumAlgo::Crc32, "DUo!hQ==").is_none());
        assert!(ChecksumValue::from_base64(ChecksumAlgo::Crc32, "").is_none());
        assert!(ChecksumValue::from_base64(ChecksumAlgo::Crc32, &"A".repeat(1000)).is_none());
        assert!(ChecksumValue::from_base64(ChecksumAlgo::Crc32, " DUoRhQ==").is_none());
        // Longest legal value (SHA-256) parses.
        let s = b64(ChecksumAlgo::Sha256, b"x");
        assert_eq!(s.len(), 44);
        assert!(ChecksumValue::from_base64(ChecksumAlgo::Sha256, &s).is_some());
        assert!(ChecksumValue::from_raw(ChecksumAlgo::Sha1, &[0; 21]).is_none());
    }

    #[test]
    fn crc_combine_equals_the_crc_of_the_concatenation() {
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for algo in [
            ChecksumAlgo::Crc32,
            ChecksumAlgo::Crc32c,
            ChecksumAlgo::Crc64Nvme,
        ] {
            for split in [0, 1, 4096, 33_333, 69_999, 70_000] {
                let (a, b) = data.split_at(split);
                let whole = crc_combine(checksum(algo, a), checksum(algo, b), b.len() as u64);
                assert_eq!(whole, Some(checksum(algo, &data)), "{algo:?} split {split}");
            }
        }
        let want = REF_CRC64NVME.checksum(&data).to_be_bytes();
        let (a, b) = data.split_at(12_345);
        let v = crc_combine(
            checksum(ChecksumAlgo::Crc64Nvme, a),
            checksum(ChecksumAlgo::Crc64Nvme, b),
            b.len() as u64,
        );
        assert_eq!(v.unwrap().as_bytes(), want, "against the crc crate");
        let sha = checksum(ChecksumAlgo::Sha256, b"x");
        assert!(crc_combine(sha, sha, 1).is_none());
        let crc32 = checksum(ChecksumAlgo::Crc32, b"x");
        let crc32c = checksum(ChecksumAlgo::Crc32c, b"x");
        assert!(crc_combine(crc32, crc32c, 1).is_none(), "mixed algorithms");
    }

    #[test]
    fn base64_parsing_never_panics() {
        let alphabet = b"AZaz09+/=-_ \x00\xff";
        let mut x: u32 = 12345;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let len = (x >> 16) as usize % 50;
            let s: Vec<u8> = (0..len)
                .map(|i| alphabet[((x as usize) >> (i % 24)) % alphabet.len()])
                .collect();
            let s = String::from_utf8_lossy(&s);
            for a in ChecksumAlgo::ALL {
                let _ = ChecksumValue::from_base64(a, &s);
            }
        }
    }
}
