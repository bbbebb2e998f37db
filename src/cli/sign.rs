//! Client-side AWS Signature Version 4, as minio-go signs over plain HTTP:
//! the `Authorization` header, presigned URLs, and the chunk signature chain
//! of `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` bodies. Used by `cairn admin` and,
//! by path, by tools/cairn-bench (which keeps no dependency on the server).

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex (signatures are hex-encoded several times per request).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    to_hex(&Sha256::digest(data))
}

/// Unix seconds to `yyyymmddThhmmssZ`.
pub fn amz_date(unix: u64) -> String {
    // Days to civil date (Howard Hinnant's algorithm).
    let days = (unix / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = unix % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// AWS UriEncode: everything but `A-Za-z0-9-._~` (and `/` in paths) as `%XX`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The canonical request. `path` and `query` are already canonical (the
/// client builds them encoded and sorted); `headers` are lowercase names,
/// sorted, values trimmed.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload_hash: &str,
) -> String {
    let mut c = String::with_capacity(256);
    for part in [method, "\n", path, "\n", query, "\n"] {
        c.push_str(part);
    }
    for (name, value) in headers {
        for part in [name, ":", value, "\n"] {
            c.push_str(part);
        }
    }
    c.push('\n');
    c.push_str(&signed_headers(headers));
    c.push('\n');
    c.push_str(payload_hash);
    c
}

fn signed_headers(headers: &[(&str, &str)]) -> String {
    let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    names.join(";")
}

pub fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Holds the credentials and the signing key of the current day.
#[derive(Clone)]
pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    day: String,
    key: [u8; 32],
}

/// A signed request: the header to send and what the chunk chain continues from.
pub struct Signature {
    pub authorization: String,
    pub seed: String,
    pub key: [u8; 32],
    pub scope: String,
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Self {
        Signer {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            day: String::new(),
            key: [0; 32],
        }
    }

    fn key_for(&mut self, day: &str) -> [u8; 32] {
        if self.day != day {
            let k = hmac_sha256(
                format!("AWS4{}", self.secret_key).as_bytes(),
                day.as_bytes(),
            );
            let k = hmac_sha256(&k, self.region.as_bytes());
            let k = hmac_sha256(&k, b"s3");
            self.key = hmac_sha256(&k, b"aws4_request");
            self.day = day.to_owned();
        }
        self.key
    }

    /// Signs a request whose `headers` (sorted, lowercase) include `host`,
    /// `x-amz-content-sha256` and `x-amz-date` = `timestamp`.
    pub fn sign(
        &mut self,
        timestamp: &str,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
    ) -> Signature {
        debug_assert!(headers.windows(2).all(|w| w[0].0 < w[1].0));
        let day = &timestamp[..8];
        let key = self.key_for(day);
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let creq = canonical_request(method, path, query, headers, payload_hash);
        let seed = to_hex(&hmac_sha256(
            &key,
            string_to_sign(timestamp, &scope, &creq).as_bytes(),
        ));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={},Signature={seed}",
            self.access_key,
            signed_headers(headers)
        );
        Signature {
            authorization,
            seed,
            key,
            scope,
        }
    }
}

impl Signer {
    /// Query-string authentication (a presigned URL) signing only `host`:
    /// the canonical query to append to `path`, `X-Amz-Signature` last.
    /// `extra` pairs (already unencoded) are signed with it.
    pub fn presign(
        &mut self,
        timestamp: &str,
        method: &str,
        path: &str,
        host: &str,
        expires_secs: u64,
        extra: &[(&str, &str)],
    ) -> String {
        let day = &timestamp[..8];
        let key = self.key_for(day);
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let credential = format!("{}/{scope}", self.access_key);
        let expires = expires_secs.to_string();
        let mut pairs: Vec<(String, String)> = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", credential.as_str()),
            ("X-Amz-Date", timestamp),
            ("X-Amz-Expires", expires.as_str()),
            ("X-Amz-SignedHeaders", "host"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
        pairs.sort();
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let creq = canonical_request(method, path, &query, &[("host", host)], UNSIGNED_PAYLOAD);
        let signature = to_hex(&hmac_sha256(
            &key,
            string_to_sign(timestamp, &scope, &creq).as_bytes(),
        ));
        format!("{query}&X-Amz-Signature={signature}")
    }
}

/// Continues the signature chain of an aws-chunked body, one chunk at a time.
pub struct ChunkSigner {
    key: [u8; 32],
    prefix: String,
    prev: String,
}

impl ChunkSigner {
    pub fn new(sig: &Signature, timestamp: &str) -> Self {
        ChunkSigner {
            key: sig.key,
            prefix: format!("AWS4-HMAC-SHA256-PAYLOAD\n{timestamp}\n{}\n", sig.scope),
            prev: sig.seed.clone(),
        }
    }

    /// The signature of the next chunk, given the SHA-256 of its data (the
    /// final, empty chunk included).
    pub fn next(&mut self, chunk_sha256: &[u8; 32]) -> &str {
        let mut sts = String::with_capacity(self.prefix.len() + 64 * 3 + 3);
        sts.push_str(&self.prefix);
        sts.push_str(&self.prev);
        sts.push('\n');
        sts.push_str(EMPTY_SHA256);
        sts.push('\n');
        sts.push_str(&to_hex(chunk_sha256));
        self.prev = to_hex(&hmac_sha256(&self.key, sts.as_bytes()));
        &self.prev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // AWS's examples ("Signature Calculations for the Authorization Header"),
    // all at 2013-05-24T00:00:00Z with these credentials.
    const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    const SK: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const T: &str = "20130524T000000Z";

    fn signer() -> Signer {
        Signer::new(AK, SK, "us-east-1")
    }

    #[test]
    fn amz_date_formats_utc() {
        assert_eq!(amz_date(1_369_353_600), T);
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(951_827_696), "20000229T123456Z");
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
    }

    #[test]
    fn uri_encode_keeps_unreserved_only() {
        assert_eq!(uri_encode("a/b c$~.-_", true), "a/b%20c%24~.-_");
        assert_eq!(uri_encode("a/b+=", false), "a%2Fb%2B%3D");
    }

    #[test]
    fn aws_example_get_object_with_range() {
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", T),
        ];
        let creq = canonical_request("GET", "/test.txt", "", &headers, EMPTY_SHA256);
        assert_eq!(
            sha256_hex(creq.as_bytes()),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let sig = signer().sign(T, "GET", "/test.txt", "", &headers, EMPTY_SHA256);
        assert_eq!(
            sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn aws_example_put_object() {
        let body_sha = sha256_hex(b"Welcome to Amazon S3.");
        let headers = [
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", body_sha.as_str()),
            ("x-amz-date", T),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ];
        let path = format!("/{}", uri_encode("test$file.text", true));
        let sig = signer().sign(T, "PUT", &path, "", &headers, &body_sha);
        assert_eq!(
            sig.seed,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn aws_example_list_objects_and_lifecycle() {
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", T),
        ];
        let mut s = signer();
        let list = s.sign(T, "GET", "/", "max-keys=2&prefix=J", &headers, EMPTY_SHA256);
        assert_eq!(
            list.seed,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
        let lifecycle = s.sign(T, "GET", "/", "lifecycle=", &headers, EMPTY_SHA256);
        assert_eq!(
            lifecycle.seed,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    /// "Transferring Payload in Multiple Chunks": 66,560 bytes of 'a' in a
    /// 64 KiB chunk, a 1 KiB chunk and the final empty chunk.
    #[test]
    fn aws_example_streaming_put() {
        let headers = [
            ("content-encoding", "aws-chunked"),
            ("content-length", "66824"),
            ("host", "s3.amazonaws.com"),
            ("x-amz-content-sha256", STREAMING_PAYLOAD),
            ("x-amz-date", T),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ];
        let sig = signer().sign(
            T,
            "PUT",
            "/examplebucket/chunkObject.txt",
            "",
            &headers,
            STREAMING_PAYLOAD,
        );
        assert_eq!(
            sig.seed,
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
        );
        let mut chain = ChunkSigner::new(&sig, T);
        let data = vec![b'a'; 66_560];
        let expect = [
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        ];
        for (chunk, want) in [&data[..65_536], &data[65_536..], &[][..]]
            .iter()
            .zip(expect)
        {
            assert_eq!(chain.next(&Sha256::digest(chunk).into()), want);
        }
    }

    /// "Authenticating Requests: Using Query Parameters": GET test.txt for
    /// 86400 seconds.
    #[test]
    fn aws_example_presigned_get() {
        let q = signer().presign(
            T,
            "GET",
            "/test.txt",
            "examplebucket.s3.amazonaws.com",
            86_400,
            &[],
        );
        assert_eq!(
            q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn signing_key_follows_the_day() {
        let mut s = signer();
        let h = [("host", "h"), ("x-amz-date", T)];
        let a = s.sign(T, "GET", "/", "", &h, EMPTY_SHA256).key;
        let next = "20130525T000000Z";
        let b = s.sign(
            next,
            "GET",
            "/",
            "",
            &[("host", "h"), ("x-amz-date", next)],
            EMPTY_SHA256,
        );
        assert_ne!(a, b.key);
        assert_eq!(b.scope, "20130525/us-east-1/s3/aws4_request");
    }
}
