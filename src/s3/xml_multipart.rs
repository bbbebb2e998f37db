//! Multipart upload documents: the CompleteMultipartUpload request body, and
//! the Initiate, Complete, ListParts, ListMultipartUploads and UploadPartCopy
//! results.
//!
//! Top-level order follows each Response Syntax page, except that
//! ListMultipartUploads writes NextUploadIdMarker right after NextKeyMarker,
//! as its sample responses do. Those pages list the members of nested types
//! alphabetically, which no real response does, so inside `Part` and
//! `Upload` the order is that of AWS's samples, with checksum elements after
//! the rest. SDKs find elements by name.

use crate::auth::checksum::ChecksumAlgo;

use super::error::{S3Code, S3Error};
use super::xml::{
    malformed, require_blank, response, set_once, walk_elements, write_prefixes, ListOwner,
    S3Fields,
};

/// Highest part number S3 accepts ("a positive integer between 1 and 10,000").
pub const MAX_PART_NUMBER: u32 = 10_000;

/// `<ChecksumType>`: how a multipart object's checksum was formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumType {
    /// A checksum of the parts' checksums, its value suffixed `-<parts>`.
    Composite,
    /// A checksum of the whole object's bytes.
    FullObject,
}

impl ChecksumType {
    /// The wire name, as in `x-amz-checksum-type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumType::Composite => "COMPOSITE",
            ChecksumType::FullObject => "FULL_OBJECT",
        }
    }
}

/// The element carrying `algo`'s base64 value, e.g. `ChecksumCRC64NVME`.
fn checksum_element(algo: ChecksumAlgo) -> &'static str {
    match algo {
        ChecksumAlgo::Crc32 => "ChecksumCRC32",
        ChecksumAlgo::Crc32c => "ChecksumCRC32C",
        ChecksumAlgo::Crc64Nvme => "ChecksumCRC64NVME",
        ChecksumAlgo::Sha1 => "ChecksumSHA1",
        ChecksumAlgo::Sha256 => "ChecksumSHA256",
    }
}

/// Element names are case-sensitive, unlike the algorithm header values.
fn checksum_algo_of(element: &[u8]) -> Option<ChecksumAlgo> {
    ChecksumAlgo::ALL
        .into_iter()
        .find(|a| checksum_element(*a).as_bytes() == element)
}

/// `InitiateMultipartUploadResult`, CreateMultipartUpload's answer.
pub fn initiate_multipart_upload(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let capacity = 200 + bucket.len() + key.len() * 2 + upload_id.len();
    response("InitiateMultipartUploadResult", capacity, |w| {
        w.text("Bucket", bucket);
        w.text("Key", key);
        w.text("UploadId", upload_id);
    })
}

/// One `<Part>` of a CompleteMultipartUpload body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    /// As sent, less surrounding white space and one pair of quotes: clients
    /// send both `"abc"` and `abc`.
    pub etag: String,
    /// `(algorithm, base64 value)` of each `Checksum*` element, in document
    /// order, for the caller to compare with what UploadPart stored.
    pub checksums: Vec<(ChecksumAlgo, String)>,
}

fn normalize_etag(raw: &str) -> String {
    let t = raw.trim();
    t.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(t)
        .to_string()
}

/// The rules one part must meet. Part numbers below 1 are InvalidArgument
/// with the message S3 sends (versity/versitygw#1072, checked against S3).
/// One above 10,000 cannot have been uploaded, so it is a part that cannot
/// be found: InvalidPart, as versitygw answers (#1075); no public record
/// shows S3's own answer.
fn check_part(number: i64, etag: &str, prev: Option<&CompletedPart>) -> Result<u32, S3Error> {
    if number < 1 {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            "PartNumber must be >= 1",
        ));
    }
    let number = u32::try_from(number)
        .ok()
        .filter(|n| *n <= MAX_PART_NUMBER)
        .ok_or_else(|| S3Error::from_code(S3Code::InvalidPart))?;
    // Strictly ascending: a repeated number is out of order too.
    if prev.is_some_and(|p| number <= p.part_number) {
        return Err(S3Error::from_code(S3Code::InvalidPartOrder));
    }
    if etag.is_empty() {
        return Err(S3Error::from_code(S3Code::InvalidPart));
    }
    Ok(number)
}

/// CompleteMultipartUpload body. Each `Part` needs exactly one `PartNumber`
/// and one `ETag`, in either order (SDKs write ETag first); any other
/// element, a checksum element twice, or an empty list is MalformedXML.
/// Part rules ([`check_part`]) are applied in document order, but reported
/// only once the whole body has parsed, so a broken document is MalformedXML
/// wherever the fault sits. Since part numbers must rise strictly within
/// 1..=10,000, at most 10,000 parts are ever kept. The caller bounds the
/// body's size.
pub fn parse_complete_multipart_upload(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    let mut parts: Vec<CompletedPart> = Vec::new();
    let mut invalid: Option<S3Error> = None;
    let mut number: Option<i64> = None;
    let mut etag: Option<String> = None;
    let mut checksums: Vec<(ChecksumAlgo, String)> = Vec::new();
    walk_elements(body, b"CompleteMultipartUpload", |path, text| match path {
        [_] => require_blank(&text),
        [_, part] if part.as_slice() == b"Part" => {
            require_blank(&text)?;
            let n = number.take().ok_or_else(malformed)?;
            let e = etag.take().ok_or_else(malformed)?;
            let checksums = std::mem::take(&mut checksums);
            if invalid.is_none() {
                match check_part(n, &e, parts.last()) {
                    Ok(part_number) => parts.push(CompletedPart {
                        part_number,
                        etag: e,
                        checksums,
                    }),
                    Err(err) => invalid = Some(err),
                }
            }
            Ok(())
        }
        [_, part, field] if part.as_slice() == b"Part" => match field.as_slice() {
            // XML Schema's int: optional sign, leading zeros, white space
            // collapsed. Anything else, or past i64, fails the schema.
            b"PartNumber" => {
                let n = text.trim().parse::<i64>().map_err(|_| malformed())?;
                set_once(&mut number, n)
            }
            b"ETag" => set_once(&mut etag, normalize_etag(&text)),
            other => {
                let algo = checksum_algo_of(other).ok_or_else(malformed)?;
                if checksums.iter().any(|(a, _)| *a == algo) {
                    return Err(malformed());
                }
                checksums.push((algo, text.trim().to_string()));
                Ok(())
            }
        },
        _ => Err(malformed()),
    })?;
    if let Some(err) = invalid {
        return Err(err);
    }
    if parts.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}

/// The checksum a completed object carries: algorithm, base64 value (with
/// its `-<parts>` suffix when composite) and type.
pub type ObjectChecksum<'a> = (ChecksumAlgo, &'a str, ChecksumType);

/// `CompleteMultipartUploadResult`. `location` is the object's URL, written
/// as given.
pub fn complete_multipart_upload_result(
    location: &str,
    bucket: &str,
    key: &str,
    etag: &str,
    checksum: Option<ObjectChecksum<'_>>,
) -> Vec<u8> {
    let capacity = 320 + location.len() + bucket.len() + key.len() * 2;
    response("CompleteMultipartUploadResult", capacity, |w| {
        w.text("Location", location);
        w.text("Bucket", bucket);
        w.text("Key", key);
        w.etag("ETag", etag);
        if let Some((algo, value, kind)) = checksum {
            w.text(checksum_element(algo), value);
            w.text("ChecksumType", kind.as_str());
        }
    })
}

/// `CopyPartResult`, UploadPartCopy's answer; `checksum` is the part's own,
/// present when the upload was created with a checksum algorithm. Same order
/// as [`super::xml::copy_object_result`].
pub fn copy_part_result(
    etag: &str,
    last_modified_ms: u64,
    checksum: Option<(ChecksumAlgo, &str)>,
) -> Vec<u8> {
    response("CopyPartResult", 256, |w| {
        w.date("LastModified", last_modified_ms);
        w.etag("ETag", etag);
        if let Some((algo, value)) = checksum {
            w.text(checksum_element(algo), value);
        }
    })
}

/// One `<Part>` of a ListParts result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified_ms: u64,
    /// Quoted or bare; written quoted either way.
    pub etag: String,
    pub size: u64,
    /// The part's `(algorithm, base64 value)` when the upload has one.
    pub checksum: Option<(ChecksumAlgo, String)>,
}

/// ListParts result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPartsResponse {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// The request's `part-number-marker`; 0 when it had none.
    pub part_number_marker: u32,
    /// AWS: "specifies the last part in the list", the marker for the next
    /// page. Always written, as S3 does.
    pub next_part_number_marker: u32,
    pub max_parts: u64,
    pub is_truncated: bool,
    pub parts: Vec<PartEntry>,
    /// Who created the upload; "the same information as the Owner element"
    /// for an account.
    pub initiator: ListOwner,
    pub owner: ListOwner,
    /// The upload's algorithm and type, when it was created with one.
    pub checksum_algorithm: Option<ChecksumAlgo>,
    pub checksum_type: Option<ChecksumType>,
    /// The upload's storage class; None: STANDARD.
    pub class: Option<String>,
}

/// ListParts `ListPartsResult`.
pub fn list_parts(r: &ListPartsResponse) -> Vec<u8> {
    let capacity = 512 + r.key.len() * 2 + r.parts.len() * 260;
    response("ListPartsResult", capacity, |w| {
        w.text("Bucket", &r.bucket);
        w.text("Key", &r.key);
        w.text("UploadId", &r.upload_id);
        w.num("PartNumberMarker", r.part_number_marker.into());
        w.num("NextPartNumberMarker", r.next_part_number_marker.into());
        w.num("MaxParts", r.max_parts);
        w.boolean("IsTruncated", r.is_truncated);
        for p in &r.parts {
            w.element("Part", |w| {
                w.num("PartNumber", p.part_number.into());
                w.date("LastModified", p.last_modified_ms);
                w.etag("ETag", &p.etag);
                w.num("Size", p.size);
                if let Some((algo, value)) = &p.checksum {
                    w.text(checksum_element(*algo), value);
                }
            });
        }
        w.owner("Initiator", &r.initiator);
        w.owner("Owner", &r.owner);
        w.text(
            "StorageClass",
            r.class.as_deref().unwrap_or(crate::engine::class::STANDARD),
        );
        if let Some(algo) = r.checksum_algorithm {
            w.text("ChecksumAlgorithm", algo.algorithm_name());
        }
        if let Some(kind) = r.checksum_type {
            w.text("ChecksumType", kind.as_str());
        }
    })
}

/// One `<Upload>` of a ListMultipartUploads result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiator: ListOwner,
    pub owner: ListOwner,
    pub initiated_ms: u64,
    pub checksum_algorithm: Option<ChecksumAlgo>,
    pub checksum_type: Option<ChecksumType>,
    /// The upload's storage class; None: STANDARD.
    pub class: Option<String>,
}

/// ListMultipartUploads result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListUploadsResponse {
    pub bucket: String,
    /// The request's markers, empty when it had none; always written.
    pub key_marker: String,
    pub upload_id_marker: String,
    /// Written even when empty or not truncated: every AWS sample does.
    pub next_key_marker: String,
    pub next_upload_id_marker: String,
    pub prefix: String,
    /// Empty means "no delimiter": AWS then omits the element.
    pub delimiter: String,
    pub max_uploads: u64,
    pub is_truncated: bool,
    /// `encoding-type=url`: Delimiter, KeyMarker, Prefix, NextKeyMarker and
    /// Key (and the common prefixes) are URL-encoded; upload IDs are not.
    pub encoding_type_url: bool,
    pub uploads: Vec<UploadEntry>,
    /// Common prefixes, each including the trailing delimiter.
    pub common_prefixes: Vec<String>,
}

/// ListMultipartUploads `ListMultipartUploadsResult`.
pub fn list_multipart_uploads(r: &ListUploadsResponse) -> Vec<u8> {
    let url = r.encoding_type_url;
    let keys: usize = r.uploads.iter().map(|u| u.key.len()).sum();
    let capacity = 512 + keys * 3 + r.uploads.len() * 420 + r.common_prefixes.len() * 64;
    response("ListMultipartUploadsResult", capacity, |w| {
        w.text("Bucket", &r.bucket);
        w.text_enc("KeyMarker", &r.key_marker, url);
        w.text("UploadIdMarker", &r.upload_id_marker);
        w.text_enc("NextKeyMarker", &r.next_key_marker, url);
        w.text("NextUploadIdMarker", &r.next_upload_id_marker);
        w.text_enc("Prefix", &r.prefix, url);
        if !r.delimiter.is_empty() {
            w.text_enc("Delimiter", &r.delimiter, url);
        }
        w.num("MaxUploads", r.max_uploads);
        w.boolean("IsTruncated", r.is_truncated);
        for u in &r.uploads {
            w.element("Upload", |w| {
                w.text_enc("Key", &u.key, url);
                w.text("UploadId", &u.upload_id);
                w.owner("Initiator", &u.initiator);
                w.owner("Owner", &u.owner);
                w.text(
                    "StorageClass",
                    u.class.as_deref().unwrap_or(crate::engine::class::STANDARD),
                );
                w.date("Initiated", u.initiated_ms);
                if let Some(algo) = u.checksum_algorithm {
                    w.text("ChecksumAlgorithm", algo.algorithm_name());
                }
                if let Some(kind) = u.checksum_type {
                    w.text("ChecksumType", kind.as_str());
                }
            });
        }
        write_prefixes(w, &r.common_prefixes, url);
        if url {
            w.text("EncodingType", "url");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_255_369_830_000; // 2009-10-12T17:50:30Z
    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    fn owner(id: &str) -> ListOwner {
        ListOwner {
            id: id.into(),
            display_name: format!("{id}-name"),
        }
    }

    fn code(body: &[u8]) -> S3Code {
        parse_complete_multipart_upload(body).unwrap_err().code
    }

    fn part(n: u32, etag: &str) -> CompletedPart {
        CompletedPart {
            part_number: n,
            etag: etag.into(),
            checksums: vec![],
        }
    }

    #[test]
    fn initiate_shape() {
        assert_eq!(
            s(initiate_multipart_upload("b", "a&b<c>", "up/1+=")),
            format!(
                "{HEAD}<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Bucket>b</Bucket><Key>a&amp;b&lt;c&gt;</Key><UploadId>up/1+=</UploadId>\
                 </InitiateMultipartUploadResult>"
            )
        );
    }

    #[test]
    fn complete_aws_sample() {
        // The sample request on AWS's CompleteMultipartUpload page.
        let body = br#"<CompleteMultipartUpload>
  <Part>
    <PartNumber>1</PartNumber>
    <ETag>"a54357aff0632cce46d942af68356b38"</ETag>
  </Part>
  <Part>
    <PartNumber>2</PartNumber>
    <ETag>"0c78aef83f66abc1fa1e8477f296d394"</ETag>
  </Part>
  <Part>
    <PartNumber>3</PartNumber>
    <ETag>"acbd18db4cc2f85cedef654fccc4a4d8"</ETag>
  </Part>
</CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete_multipart_upload(body).unwrap(),
            vec![
                part(1, "a54357aff0632cce46d942af68356b38"),
                part(2, "0c78aef83f66abc1fa1e8477f296d394"),
                part(3, "acbd18db4cc2f85cedef654fccc4a4d8"),
            ]
        );
    }

    #[test]
    fn complete_sdk_shape_with_checksums() {
        // What aws-sdk-s3 writes: namespace, ETag before PartNumber, entities.
        let body = b"<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <Part><ETag>&quot;e1&quot;</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32>\
            <PartNumber>1</PartNumber></Part>\
            <Part><ETag>e2</ETag><ChecksumCRC64NVME> AAAAAAAAAAA= </ChecksumCRC64NVME>\
            <ChecksumSHA256>x</ChecksumSHA256><PartNumber> +0007 </PartNumber></Part>\
            <Part><PartNumber>10000</PartNumber><ETag> \"e3\" </ETag><ChecksumCRC32C>c</ChecksumCRC32C>\
            <ChecksumSHA1>s</ChecksumSHA1></Part>\
            </CompleteMultipartUpload>";
        let parts = parse_complete_multipart_upload(body).unwrap();
        assert_eq!(
            parts,
            vec![
                CompletedPart {
                    part_number: 1,
                    etag: "e1".into(),
                    checksums: vec![(ChecksumAlgo::Crc32, "AAAAAA==".into())],
                },
                CompletedPart {
                    part_number: 7,
                    etag: "e2".into(),
                    checksums: vec![
                        (ChecksumAlgo::Crc64Nvme, "AAAAAAAAAAA=".into()),
                        (ChecksumAlgo::Sha256, "x".into()),
                    ],
                },
                CompletedPart {
                    part_number: 10_000,
                    etag: "e3".into(),
                    checksums: vec![
                        (ChecksumAlgo::Crc32c, "c".into()),
                        (ChecksumAlgo::Sha1, "s".into()),
                    ],
                },
            ]
        );
        // A prefixed namespace and a BOM are fine too.
        let p = parse_complete_multipart_upload(
            b"\xEF\xBB\xBF<s3:CompleteMultipartUpload xmlns:s3=\"u\"><s3:Part>\
              <s3:PartNumber>4</s3:PartNumber><s3:ETag>q</s3:ETag></s3:Part>\
              </s3:CompleteMultipartUpload>",
        )
        .unwrap();
        assert_eq!(p, vec![part(4, "q")]);
    }

    #[test]
    fn complete_part_rules() {
        let one = |n: &str| {
            format!("<CompleteMultipartUpload><Part><PartNumber>{n}</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>")
        };
        let e = parse_complete_multipart_upload(one("0").as_bytes()).unwrap_err();
        assert_eq!(e.code, S3Code::InvalidArgument);
        assert_eq!(e.message, "PartNumber must be >= 1");
        assert_eq!(code(one("-4").as_bytes()), S3Code::InvalidArgument);
        assert_eq!(code(one("10001").as_bytes()), S3Code::InvalidPart);
        assert_eq!(code(one("4294967297").as_bytes()), S3Code::InvalidPart);
        for bad in ["", "x", "1.0", "1e3", "0x1", "99999999999999999999"] {
            assert_eq!(code(one(bad).as_bytes()), S3Code::MalformedXML, "{bad:?}");
        }
        let many = |nums: &[u32]| {
            let mut b = String::from("<CompleteMultipartUpload>");
            for n in nums {
                b.push_str(&format!(
                    "<Part><PartNumber>{n}</PartNumber><ETag>e{n}</ETag></Part>"
                ));
            }
            b.push_str("</CompleteMultipartUpload>");
            b
        };
        // Gaps are fine; the engine decides whether the parts exist.
        assert_eq!(
            parse_complete_multipart_upload(many(&[2, 5, 9]).as_bytes())
                .unwrap()
                .iter()
                .map(|p| p.part_number)
                .collect::<Vec<_>>(),
            vec![2, 5, 9]
        );
        assert_eq!(code(many(&[2, 1]).as_bytes()), S3Code::InvalidPartOrder);
        assert_eq!(code(many(&[1, 3, 3]).as_bytes()), S3Code::InvalidPartOrder);
        let e = parse_complete_multipart_upload(many(&[1, 3, 2]).as_bytes()).unwrap_err();
        assert_eq!(e, S3Error::from_code(S3Code::InvalidPartOrder));
        // The first broken rule in document order is the one reported.
        let b = many(&[3, 2]).replace(
            "</CompleteMultipartUpload>",
            "<Part><PartNumber>0</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
        );
        assert_eq!(code(b.as_bytes()), S3Code::InvalidPartOrder);
        // ...unless the document itself is broken further on.
        let b = many(&[3, 2]).replace(
            "</CompleteMultipartUpload>",
            "<Bogus/></CompleteMultipartUpload>",
        );
        assert_eq!(code(b.as_bytes()), S3Code::MalformedXML);
        // All 10,000 parts.
        let all: Vec<u32> = (1..=MAX_PART_NUMBER).collect();
        assert_eq!(
            parse_complete_multipart_upload(many(&all).as_bytes())
                .unwrap()
                .len(),
            10_000
        );
        // An ETag of nothing can match no part.
        for etag in ["", "\"\"", "  "] {
            let b = format!("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>");
            assert_eq!(code(b.as_bytes()), S3Code::InvalidPart, "{etag:?}");
        }
    }

    #[test]
    fn complete_rejects_malformed() {
        let deep = format!(
            "<CompleteMultipartUpload>{}{}</CompleteMultipartUpload>",
            "<a>".repeat(40),
            "</a>".repeat(40)
        );
        let bads: Vec<&[u8]> = vec![
            b"",
            b"   ",
            b"not xml",
            b"<CompleteMultipartUpload/>",
            b"<CompleteMultipartUpload>\n</CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part/></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ETag>f</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumCRC32>a</ChecksumCRC32><ChecksumCRC32>b</ChecksumCRC32></Part></CompleteMultipartUpload>",
            // Unknown elements, wrong case, algorithms cairn does not have.
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><Size>5</Size></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><partnumber>1</partnumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><Checksumcrc32>a</Checksumcrc32></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumSHA512>a</ChecksumSHA512></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part><Other/></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e<b/></ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><PartNumber>1</PartNumber></CompleteMultipartUpload>",
            // Mixed content, wrong root, second root, unclosed, entities.
            b"<CompleteMultipartUpload><Part>x<PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag>x</Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload>x<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>x</CompleteMultipartUpload>",
            b"<Complete><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Complete>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload><CompleteMultipartUpload/>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&bogus;</ETag></Part></CompleteMultipartUpload>",
            b"<!DOCTYPE c [<!ENTITY e \"x\">]><CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&e;</ETag></Part></CompleteMultipartUpload>",
            deep.as_bytes(),
        ];
        for b in bads {
            assert_eq!(
                code(b),
                S3Code::MalformedXML,
                "{}",
                String::from_utf8_lossy(b)
            );
        }
    }

    #[test]
    fn complete_result_shape() {
        let x = s(complete_multipart_upload_result(
            "http://h/b/k%20x",
            "b",
            "k x&",
            "3858f62230ac3c915f300c664312c11f-9",
            None,
        ));
        assert_eq!(
            x,
            format!(
                "{HEAD}<CompleteMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Location>http://h/b/k%20x</Location><Bucket>b</Bucket><Key>k x&amp;</Key>\
                 <ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>\
                 </CompleteMultipartUploadResult>"
            )
        );
        let x = s(complete_multipart_upload_result(
            "l",
            "b",
            "k",
            "\"e-2\"",
            Some((ChecksumAlgo::Crc32c, "AAAAAA==-2", ChecksumType::Composite)),
        ));
        assert!(x.contains(
            "<ETag>&quot;e-2&quot;</ETag><ChecksumCRC32C>AAAAAA==-2</ChecksumCRC32C>\
             <ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>"
        ));
        let x = s(complete_multipart_upload_result(
            "l",
            "b",
            "k",
            "e",
            Some((
                ChecksumAlgo::Crc64Nvme,
                "AAAAAAAAAAA=",
                ChecksumType::FullObject,
            )),
        ));
        assert!(x.contains(
            "<ChecksumCRC64NVME>AAAAAAAAAAA=</ChecksumCRC64NVME><ChecksumType>FULL_OBJECT</ChecksumType>"
        ));
    }

    #[test]
    fn copy_part_shape() {
        assert_eq!(
            s(copy_part_result("\"abc\"", T, None)),
            format!(
                "{HEAD}<CopyPartResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;abc&quot;</ETag></CopyPartResult>"
            )
        );
        assert!(s(copy_part_result(
            "abc",
            T,
            Some((ChecksumAlgo::Sha1, "c2hh"))
        ))
        .ends_with(
            "<ETag>&quot;abc&quot;</ETag><ChecksumSHA1>c2hh</ChecksumSHA1></CopyPartResult>"
        ));
    }

    #[test]
    fn list_parts_shape() {
        let r = ListPartsResponse {
            bucket: "b".into(),
            key: "k<1>".into(),
            upload_id: "u".into(),
            part_number_marker: 1,
            next_part_number_marker: 3,
            max_parts: 2,
            is_truncated: true,
            parts: vec![
                PartEntry {
                    part_number: 2,
                    last_modified_ms: T,
                    etag: "7778aef83f66abc1fa1e8477f296d394".into(),
                    size: 10_485_760,
                    checksum: None,
                },
                PartEntry {
                    part_number: 3,
                    last_modified_ms: T + 1,
                    etag: "\"aaaa18db4cc2f85cedef654fccc4a4x8\"".into(),
                    size: 10_485_760,
                    checksum: None,
                },
            ],
            initiator: owner("i"),
            owner: owner("o"),
            ..Default::default()
        };
        assert_eq!(
            s(list_parts(&r)),
            format!(
                "{HEAD}<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Bucket>b</Bucket><Key>k&lt;1&gt;</Key><UploadId>u</UploadId>\
                 <PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>3</NextPartNumberMarker>\
                 <MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>\
                 <Part><PartNumber>2</PartNumber><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;7778aef83f66abc1fa1e8477f296d394&quot;</ETag><Size>10485760</Size></Part>\
                 <Part><PartNumber>3</PartNumber><LastModified>2009-10-12T17:50:30.001Z</LastModified>\
                 <ETag>&quot;aaaa18db4cc2f85cedef654fccc4a4x8&quot;</ETag><Size>10485760</Size></Part>\
                 <Initiator><ID>i</ID><DisplayName>i-name</DisplayName></Initiator>\
                 <Owner><ID>o</ID><DisplayName>o-name</DisplayName></Owner>\
                 <StorageClass>STANDARD</StorageClass></ListPartsResult>"
            )
        );
        let x = s(list_parts(&ListPartsResponse {
            parts: vec![PartEntry {
                part_number: 1,
                etag: "e".into(),
                checksum: Some((ChecksumAlgo::Crc32, "AAAAAA==".into())),
                ..Default::default()
            }],
            checksum_algorithm: Some(ChecksumAlgo::Crc32),
            checksum_type: Some(ChecksumType::Composite),
            ..r
        }));
        assert!(x.contains("<Size>0</Size><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>"));
        assert!(x.ends_with(
            "<StorageClass>STANDARD</StorageClass><ChecksumAlgorithm>CRC32</ChecksumAlgorithm>\
             <ChecksumType>COMPOSITE</ChecksumType></ListPartsResult>"
        ));
        let empty = s(list_parts(&ListPartsResponse::default()));
        assert!(empty.contains(
            "<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>0</NextPartNumberMarker>\
             <MaxParts>0</MaxParts><IsTruncated>false</IsTruncated><Initiator>"
        ));
    }

    #[test]
    fn list_parts_round_trips_through_complete() {
        // What a client does: list the parts, then complete with them.
        let r = ListPartsResponse {
            parts: (1..=3)
                .map(|n| PartEntry {
                    part_number: n,
                    etag: format!("etag{n}"),
                    checksum: Some((ChecksumAlgo::Sha256, format!("c{n}"))),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let listed = s(list_parts(&r));
        let mut body = String::from("<CompleteMultipartUpload>");
        for chunk in listed.split("<Part>").skip(1) {
            let chunk = chunk.split("</Part>").next().unwrap();
            let keep = |name: &str| {
                let start = chunk.find(&format!("<{name}>")).unwrap();
                let end = chunk.find(&format!("</{name}>")).unwrap() + name.len() + 3;
                chunk[start..end].to_string()
            };
            body.push_str(&format!(
                "<Part>{}{}{}</Part>",
                keep("ETag"),
                keep("ChecksumSHA256"),
                keep("PartNumber")
            ));
        }
        body.push_str("</CompleteMultipartUpload>");
        let parts = parse_complete_multipart_upload(body.as_bytes()).unwrap();
        assert_eq!(parts.len(), 3);
        for (p, n) in parts.iter().zip(1..) {
            assert_eq!(p.part_number, n);
            assert_eq!(p.etag, format!("etag{n}"));
            assert_eq!(p.checksums, vec![(ChecksumAlgo::Sha256, format!("c{n}"))]);
        }
    }

    fn upload(key: &str) -> UploadEntry {
        UploadEntry {
            key: key.into(),
            upload_id: format!("id-{key}"),
            initiator: owner("i"),
            owner: owner("o"),
            initiated_ms: T,
            ..Default::default()
        }
    }

    #[test]
    fn list_uploads_shape() {
        let r = ListUploadsResponse {
            bucket: "bucket".into(),
            next_key_marker: "my-movie.m2ts".into(),
            next_upload_id_marker: "YW55IGlk".into(),
            max_uploads: 3,
            is_truncated: true,
            uploads: vec![upload("my-divisor")],
            ..Default::default()
        };
        assert_eq!(
            s(list_multipart_uploads(&r)),
            format!(
                "{HEAD}<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <Bucket>bucket</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>\
                 <NextKeyMarker>my-movie.m2ts</NextKeyMarker><NextUploadIdMarker>YW55IGlk</NextUploadIdMarker>\
                 <Prefix></Prefix><MaxUploads>3</MaxUploads><IsTruncated>true</IsTruncated>\
                 <Upload><Key>my-divisor</Key><UploadId>id-my-divisor</UploadId>\
                 <Initiator><ID>i</ID><DisplayName>i-name</DisplayName></Initiator>\
                 <Owner><ID>o</ID><DisplayName>o-name</DisplayName></Owner>\
                 <StorageClass>STANDARD</StorageClass><Initiated>2009-10-12T17:50:30.000Z</Initiated>\
                 </Upload></ListMultipartUploadsResult>"
            )
        );
        let x = s(list_multipart_uploads(&ListUploadsResponse {
            delimiter: "/".into(),
            uploads: vec![UploadEntry {
                checksum_algorithm: Some(ChecksumAlgo::Crc64Nvme),
                checksum_type: Some(ChecksumType::FullObject),
                ..upload("a")
            }],
            common_prefixes: vec!["photos/".into(), "videos/".into()],
            ..r
        }));
        assert!(x.contains("<Prefix></Prefix><Delimiter>/</Delimiter><MaxUploads>3</MaxUploads>"));
        assert!(x.contains(
            "<Initiated>2009-10-12T17:50:30.000Z</Initiated><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm>\
             <ChecksumType>FULL_OBJECT</ChecksumType></Upload>"
        ));
        assert!(x.ends_with(
            "</Upload><CommonPrefixes><Prefix>photos/</Prefix></CommonPrefixes>\
             <CommonPrefixes><Prefix>videos/</Prefix></CommonPrefixes></ListMultipartUploadsResult>"
        ));
        assert!(!x.contains("EncodingType"));
    }

    #[test]
    fn list_uploads_url_encoding() {
        let r = ListUploadsResponse {
            bucket: "b&c".into(),
            key_marker: "k m".into(),
            upload_id_marker: "u+1 /".into(),
            next_key_marker: "n~".into(),
            next_upload_id_marker: "v+2".into(),
            prefix: "run books/".into(),
            delimiter: " ".into(),
            encoding_type_url: true,
            uploads: vec![upload("run books/x+y%z<\r>")],
            common_prefixes: vec!["run books/한/".into()],
            ..Default::default()
        };
        let x = s(list_multipart_uploads(&r));
        assert!(x.contains(
            "<Bucket>b&amp;c</Bucket><KeyMarker>k%20m</KeyMarker><UploadIdMarker>u+1 /</UploadIdMarker>\
             <NextKeyMarker>n%7E</NextKeyMarker><NextUploadIdMarker>v+2</NextUploadIdMarker>\
             <Prefix>run%20books/</Prefix><Delimiter>%20</Delimiter>"
        ));
        assert!(x.contains(
            "<Key>run%20books/x%2By%25z%3C%0D%3E</Key><UploadId>id-run books/x+y%z&lt;&#xD;&gt;</UploadId>"
        ));
        assert!(x.ends_with(
            "<CommonPrefixes><Prefix>run%20books/%ED%95%9C/</Prefix></CommonPrefixes>\
             <EncodingType>url</EncodingType></ListMultipartUploadsResult>"
        ));
    }

    #[test]
    fn complete_never_panics_on_fuzz() {
        let base = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e&quot;</ETag>\
            <ChecksumCRC32>AA==</ChecksumCRC32></Part><Part><ETag>f</ETag><PartNumber>2</PartNumber></Part>\
            </CompleteMultipartUpload>"
            .to_vec();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..5000 {
            let mut b = base.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let _ = parse_complete_multipart_upload(&b);
            b.truncate((seed as usize) % (b.len() + 1));
            let _ = parse_complete_multipart_upload(&b);
        }
    }
}
