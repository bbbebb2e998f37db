//! The `ServerSideEncryptionConfiguration` document of Put/GetBucketEncryption:
//! one `Rule` with `ApplyServerSideEncryptionByDefault` (`SSEAlgorithm`,
//! optional `KMSMasterKeyID`) and an optional `BucketKeyEnabled`.

use crate::engine::buckets::{BucketEncryption, BucketSse};

use super::error::{S3Code, S3Error};
use super::xml::{malformed, require_blank, response, set_once, walk_elements};

const ROOT: &str = "ServerSideEncryptionConfiguration";

pub fn algorithm_name(a: BucketSse) -> &'static str {
    match a {
        BucketSse::Aes256 => "AES256",
        BucketSse::Kms => "aws:kms",
    }
}

/// PutBucketEncryption's body, with S3's answers to a bad one: anything
/// outside the schema, not exactly one rule, or an unknown algorithm is
/// MalformedXML; a key id beside `AES256` is InvalidArgument. The key id
/// itself is not looked up (S3 does not validate it here either).
pub fn parse_encryption(body: &[u8]) -> Result<BucketEncryption, S3Error> {
    let mut rules = 0u32;
    let mut by_default = false;
    let mut algorithm: Option<String> = None;
    let mut key_id: Option<String> = None;
    let mut bucket_key: Option<String> = None;
    walk_elements(body, ROOT.as_bytes(), |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        match p.as_slice() {
            [_] => require_blank(&text),
            [_, b"Rule"] => {
                rules += 1;
                require_blank(&text)
            }
            [_, b"Rule", b"ApplyServerSideEncryptionByDefault"] if !by_default => {
                by_default = true;
                require_blank(&text)
            }
            [_, b"Rule", b"ApplyServerSideEncryptionByDefault", b"SSEAlgorithm"] => {
                set_once(&mut algorithm, text)
            }
            [_, b"Rule", b"ApplyServerSideEncryptionByDefault", b"KMSMasterKeyID"] => {
                set_once(&mut key_id, text)
            }
            [_, b"Rule", b"BucketKeyEnabled"] => set_once(&mut bucket_key, text),
            _ => Err(malformed()),
        }
    })?;
    if rules != 1 || !by_default {
        return Err(malformed());
    }
    let algorithm = match algorithm.as_deref().map(str::trim) {
        Some("AES256") => BucketSse::Aes256,
        Some("aws:kms") => BucketSse::Kms,
        Some("aws:kms:dsse") => {
            return Err(S3Error::new(
                S3Code::NotImplemented,
                "Dual-layer server-side encryption (aws:kms:dsse) is not supported.",
            ))
        }
        _ => return Err(malformed()),
    };
    if algorithm == BucketSse::Aes256 && key_id.is_some() {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse",
        ));
    }
    let bucket_key_enabled = match bucket_key.as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(malformed()),
    };
    Ok(BucketEncryption {
        algorithm,
        // An empty id is none: the default key, as when it is left out.
        kms_key_id: key_id
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty()),
        bucket_key_enabled,
    })
}

/// GetBucketEncryption's answer; S3 always writes `BucketKeyEnabled`.
pub fn encryption_document(e: &BucketEncryption) -> Vec<u8> {
    response(ROOT, 360, |w| {
        w.element("Rule", |w| {
            w.element("ApplyServerSideEncryptionByDefault", |w| {
                w.text("SSEAlgorithm", algorithm_name(e.algorithm));
                w.text_opt("KMSMasterKeyID", e.kms_key_id.as_deref());
            });
            w.boolean("BucketKeyEnabled", e.bucket_key_enabled);
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(rule: &str) -> String {
        format!(
            "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             {rule}</ServerSideEncryptionConfiguration>"
        )
    }

    fn code(body: &str) -> S3Code {
        parse_encryption(body.as_bytes()).unwrap_err().code
    }

    #[test]
    fn the_get_document_is_byte_for_byte_s3s() {
        let kms = BucketEncryption {
            algorithm: BucketSse::Kms,
            kms_key_id: Some("arn:aws:kms:us-east-1:000000000000:key/a&b".into()),
            bucket_key_enabled: true,
        };
        assert_eq!(
            String::from_utf8(encryption_document(&kms)).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>\
             <KMSMasterKeyID>arn:aws:kms:us-east-1:000000000000:key/a&amp;b</KMSMasterKeyID>\
             </ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled>\
             </Rule></ServerSideEncryptionConfiguration>"
        );
        let s3 = BucketEncryption {
            algorithm: BucketSse::Aes256,
            kms_key_id: None,
            bucket_key_enabled: false,
        };
        assert_eq!(
            String::from_utf8(encryption_document(&s3)).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm>\
             </ApplyServerSideEncryptionByDefault><BucketKeyEnabled>false</BucketKeyEnabled>\
             </Rule></ServerSideEncryptionConfiguration>"
        );
    }

    #[test]
    fn every_configuration_round_trips() {
        for e in [
            BucketEncryption {
                algorithm: BucketSse::Aes256,
                kms_key_id: None,
                bucket_key_enabled: false,
            },
            BucketEncryption {
                algorithm: BucketSse::Aes256,
                kms_key_id: None,
                bucket_key_enabled: true,
            },
            BucketEncryption {
                algorithm: BucketSse::Kms,
                kms_key_id: None,
                bucket_key_enabled: false,
            },
            BucketEncryption {
                algorithm: BucketSse::Kms,
                kms_key_id: Some("my-key".into()),
                bucket_key_enabled: true,
            },
        ] {
            assert_eq!(parse_encryption(&encryption_document(&e)).unwrap(), e);
        }
    }

    #[test]
    fn what_sdks_send_is_understood() {
        let e = parse_encryption(
            doc("<Rule>\n  <ApplyServerSideEncryptionByDefault>\n    \
                 <SSEAlgorithm>aws:kms</SSEAlgorithm>\n    <KMSMasterKeyID>k1</KMSMasterKeyID>\n  \
                 </ApplyServerSideEncryptionByDefault>\n</Rule>")
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            e,
            BucketEncryption {
                algorithm: BucketSse::Kms,
                kms_key_id: Some("k1".into()),
                bucket_key_enabled: false,
            }
        );
        let empty_id = doc(
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm>\
             <KMSMasterKeyID></KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule>",
        );
        assert_eq!(
            parse_encryption(empty_id.as_bytes()).unwrap().kms_key_id,
            None
        );
    }

    #[test]
    fn a_bad_configuration_gets_s3s_code() {
        let by_default = |inner: &str| {
            doc(&format!(
                "<Rule><ApplyServerSideEncryptionByDefault>{inner}</ApplyServerSideEncryptionByDefault></Rule>"
            ))
        };
        let aes = "<SSEAlgorithm>AES256</SSEAlgorithm>";
        for (body, want) in [
            (String::new(), S3Code::MalformedXML),
            ("<ServerSideEncryptionConfiguration/>".into(), S3Code::MalformedXML),
            (doc(""), S3Code::MalformedXML),
            (doc("<Rule></Rule>"), S3Code::MalformedXML),
            (
                doc("<Rule><BucketKeyEnabled>true</BucketKeyEnabled></Rule>"),
                S3Code::MalformedXML,
            ),
            (by_default(""), S3Code::MalformedXML),
            (by_default("<SSEAlgorithm>DES</SSEAlgorithm>"), S3Code::MalformedXML),
            (by_default("<SSEAlgorithm>aes256</SSEAlgorithm>"), S3Code::MalformedXML),
            (
                by_default(&format!("{aes}{aes}")),
                S3Code::MalformedXML,
            ),
            (
                by_default(&format!("{aes}<Unknown>x</Unknown>")),
                S3Code::MalformedXML,
            ),
            (
                doc(&format!(
                    "<Rule><ApplyServerSideEncryptionByDefault>{aes}</ApplyServerSideEncryptionByDefault></Rule>\
                     <Rule><ApplyServerSideEncryptionByDefault>{aes}</ApplyServerSideEncryptionByDefault></Rule>"
                )),
                S3Code::MalformedXML,
            ),
            (
                doc(&format!(
                    "<Rule><ApplyServerSideEncryptionByDefault>{aes}</ApplyServerSideEncryptionByDefault>\
                     <BucketKeyEnabled>yes</BucketKeyEnabled></Rule>"
                )),
                S3Code::MalformedXML,
            ),
            (
                by_default("<SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID>"),
                S3Code::InvalidArgument,
            ),
            (
                by_default("<SSEAlgorithm>aws:kms:dsse</SSEAlgorithm>"),
                S3Code::NotImplemented,
            ),
            ("<Other/>".into(), S3Code::MalformedXML),
            ("<ServerSideEncryptionConfiguration>".into(), S3Code::MalformedXML),
        ] {
            assert_eq!(code(&body), want, "{body}");
        }
    }
}
