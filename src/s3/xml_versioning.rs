//! Versioning documents: the PutBucketVersioning body, the
//! GetBucketVersioning answer and the ListObjectVersions result.

use crate::auth::checksum::ChecksumAlgo;

use super::error::{S3Code, S3Error};
use crate::xmlw;

use super::xml::{
    malformed, require_blank, response, set_once, walk_elements, write_prefixes, ListOwner,
    S3Fields, S3_XMLNS,
};
use super::xml_multipart::ChecksumType;

/// The version ID S3 lists, and accepts in `versionId`, for an object
/// written while versioning was off or suspended.
pub const NULL_VERSION_ID: &str = "null";

/// A bucket's versioning state once it has been set. A bucket that never had
/// it set is unversioned, which no request can return to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersioningStatus {
    Enabled,
    Suspended,
}

impl VersioningStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VersioningStatus::Enabled => "Enabled",
            VersioningStatus::Suspended => "Suspended",
        }
    }
}

/// PutBucketVersioning body. S3 answers a `Status` other than `Enabled` or
/// `Suspended` (case counts) with MalformedXML (noobaa/noobaa-core#7325,
/// matched to S3), as it does any element but `Status` and `MfaDelete`:
/// `MFADelete`, as the member list spells it, included (aws/aws-cli#375).
/// `MfaDelete` `Disabled` is what cairn has, so it is accepted; `Enabled`
/// needs MFA devices cairn does not have, so it is NotImplemented, as
/// Scality's CloudServer answers. A document without `Status` changes
/// nothing cairn stores, so it is IllegalVersioningConfigurationException
/// ("the versioning configuration specified in the request is invalid").
pub fn parse_versioning_configuration(body: &[u8]) -> Result<VersioningStatus, S3Error> {
    let mut status: Option<String> = None;
    let mut mfa_delete: Option<String> = None;
    walk_elements(body, b"VersioningConfiguration", |path, text| match path {
        [_] => require_blank(&text),
        [_, field] => match field.as_slice() {
            b"Status" => set_once(&mut status, text),
            b"MfaDelete" => set_once(&mut mfa_delete, text),
            _ => Err(malformed()),
        },
        _ => Err(malformed()),
    })?;
    let status = match status.as_deref().map(str::trim) {
        None => None,
        Some("Enabled") => Some(VersioningStatus::Enabled),
        Some("Suspended") => Some(VersioningStatus::Suspended),
        Some(_) => return Err(malformed()),
    };
    match mfa_delete.as_deref().map(str::trim) {
        None | Some("Disabled") => {}
        Some("Enabled") => {
            return Err(S3Error::new(
                S3Code::NotImplemented,
                "MFA Delete is not supported.",
            ))
        }
        Some(_) => return Err(malformed()),
    }
    status.ok_or_else(|| S3Error::from_code(S3Code::IllegalVersioningConfigurationException))
}

/// GetBucketVersioning. A bucket that never had versioning set answers the
/// empty element, as AWS documents. `MfaDelete` is only written for buckets
/// configured with it, which cairn never has.
pub fn versioning_configuration(status: Option<VersioningStatus>) -> Vec<u8> {
    match status {
        None => xmlw::empty_document("VersioningConfiguration", Some(S3_XMLNS)),
        Some(s) => response("VersioningConfiguration", 160, |w| {
            w.text("Status", s.as_str());
        }),
    }
}

/// What a ListObjectVersions entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionKind {
    /// An object version: `<Version>`.
    Object {
        /// Quoted or bare; written quoted either way.
        etag: String,
        size: u64,
        checksum_algorithm: Option<ChecksumAlgo>,
        checksum_type: Option<ChecksumType>,
        /// The storage class; None: STANDARD.
        class: Option<String>,
    },
    /// `<DeleteMarker>`: no ETag, size or storage class.
    DeleteMarker,
}

/// One entry of a ListObjectVersions result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub key: String,
    /// `None` for an object with no version ID of its own: listed as `null`.
    pub version_id: Option<String>,
    pub is_latest: bool,
    pub last_modified_ms: u64,
    pub kind: VersionKind,
}

/// ListObjectVersions result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListVersionsResponse {
    pub name: String,
    pub prefix: String,
    /// The request's markers, empty when it had none; always written, as in
    /// AWS's samples (`<KeyMarker/>`).
    pub key_marker: String,
    pub version_id_marker: String,
    /// AWS writes these only on a truncated page; the caller passes `None`
    /// otherwise.
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
    pub max_keys: u64,
    /// Empty means "no delimiter": AWS then omits the element.
    pub delimiter: String,
    pub is_truncated: bool,
    /// `encoding-type=url`: KeyMarker, NextKeyMarker, Prefix, Key and
    /// Delimiter (and the common prefixes) are URL-encoded; version IDs are
    /// not.
    pub encoding_type_url: bool,
    /// Written into every entry.
    pub owner: ListOwner,
    /// Written as given: AWS interleaves versions and delete markers in key
    /// order, newest first within a key.
    pub entries: Vec<VersionEntry>,
    /// Common prefixes, each including the trailing delimiter.
    pub common_prefixes: Vec<String>,
}

/// ListObjectVersions `ListVersionsResult`. Entries are written in the
/// order of AWS's sample response; checksum elements sit between ETag and
/// Size, where S3's listings put them.
pub fn list_object_versions(r: &ListVersionsResponse) -> Vec<u8> {
    let url = r.encoding_type_url;
    let keys: usize = r.entries.iter().map(|e| e.key.len()).sum();
    let capacity = 512 + keys * 3 + r.entries.len() * 400 + r.common_prefixes.len() * 64;
    response("ListVersionsResult", capacity, |w| {
        w.text("Name", &r.name);
        w.text_enc("Prefix", &r.prefix, url);
        w.text_enc("KeyMarker", &r.key_marker, url);
        w.text("VersionIdMarker", &r.version_id_marker);
        if let Some(m) = &r.next_key_marker {
            w.text_enc("NextKeyMarker", m, url);
        }
        w.text_opt("NextVersionIdMarker", r.next_version_id_marker.as_deref());
        w.num("MaxKeys", r.max_keys);
        if !r.delimiter.is_empty() {
            w.text_enc("Delimiter", &r.delimiter, url);
        }
        w.boolean("IsTruncated", r.is_truncated);
        if url {
            w.text("EncodingType", "url");
        }
        for e in &r.entries {
            let name = match e.kind {
                VersionKind::Object { .. } => "Version",
                VersionKind::DeleteMarker => "DeleteMarker",
            };
            w.element(name, |w| {
                w.text_enc("Key", &e.key, url);
                w.text(
                    "VersionId",
                    e.version_id.as_deref().unwrap_or(NULL_VERSION_ID),
                );
                w.boolean("IsLatest", e.is_latest);
                w.date("LastModified", e.last_modified_ms);
                if let VersionKind::Object {
                    etag,
                    size,
                    checksum_algorithm,
                    checksum_type,
                    class,
                } = &e.kind
                {
                    w.etag("ETag", etag);
                    if let Some(algo) = checksum_algorithm {
                        w.text("ChecksumAlgorithm", algo.algorithm_name());
                    }
                    if let Some(kind) = checksum_type {
                        w.text("ChecksumType", kind.as_str());
                    }
                    w.num("Size", *size);
                    w.owner("Owner", &r.owner);
                    w.text(
                        "StorageClass",
                        class.as_deref().unwrap_or(crate::engine::class::STANDARD),
                    );
                } else {
                    w.owner("Owner", &r.owner);
                }
            });
        }
        write_prefixes(w, &r.common_prefixes, url);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_255_369_830_000; // 2009-10-12T17:50:30Z
    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    fn code(body: &[u8]) -> S3Code {
        parse_versioning_configuration(body).unwrap_err().code
    }

    #[test]
    fn versioning_aws_samples() {
        // PutBucketVersioning's sample request.
        let body = br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Status>Enabled</Status>
</VersioningConfiguration>"#;
        assert_eq!(
            parse_versioning_configuration(body),
            Ok(VersioningStatus::Enabled)
        );
        assert_eq!(
            parse_versioning_configuration(
                b"<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>"
            ),
            Ok(VersioningStatus::Suspended)
        );
        // Its MFA sample: not something cairn can do.
        let body = br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Status>Enabled</Status>
  <MfaDelete>Enabled</MfaDelete>
</VersioningConfiguration>"#;
        let e = parse_versioning_configuration(body).unwrap_err();
        assert_eq!(e.code, S3Code::NotImplemented);
        assert_eq!(e.status().as_u16(), 501);
        // What SDKs write, MfaDelete first, and what Terraform sends.
        assert_eq!(
            parse_versioning_configuration(
                b"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                  <MfaDelete>Disabled</MfaDelete><Status>Suspended</Status></VersioningConfiguration>"
            ),
            Ok(VersioningStatus::Suspended)
        );
        assert_eq!(
            parse_versioning_configuration(
                b"\xEF\xBB\xBF<x:VersioningConfiguration xmlns:x=\"u\"><x:Status> Enabled\n</x:Status></x:VersioningConfiguration>"
            ),
            Ok(VersioningStatus::Enabled)
        );
    }

    #[test]
    fn versioning_errors() {
        for bad in [
            &b""[..],
            b"garbage",
            b"<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
            b"<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>",
            b"<VersioningConfiguration><Status>suspend</Status></VersioningConfiguration>",
            b"<VersioningConfiguration><Status/></VersioningConfiguration>",
            b"<VersioningConfiguration><Status>Enabled</Status><Status>Enabled</Status></VersioningConfiguration>",
            b"<VersioningConfiguration><Status>Enabled</Status><MFADelete>Disabled</MFADelete></VersioningConfiguration>",
            b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Off</MfaDelete></VersioningConfiguration>",
            b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>",
            b"<VersioningConfiguration><Status><x/>Enabled</Status></VersioningConfiguration>",
            b"<VersioningConfiguration>x<Status>Enabled</Status></VersioningConfiguration>",
            b"<VersioningConfiguration><Status>Enabled</Status>x</VersioningConfiguration>",
            b"<Versioning><Status>Enabled</Status></Versioning>",
            b"<VersioningConfiguration><Status>Enabled</Status>",
            b"<!DOCTYPE v [<!ENTITY e \"Enabled\">]><VersioningConfiguration><Status>&e;</Status></VersioningConfiguration>",
            // A bad Status outranks the MFA refusal.
            b"<VersioningConfiguration><Status>On</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>",
        ] {
            assert_eq!(code(bad), S3Code::MalformedXML, "{}", String::from_utf8_lossy(bad));
        }
        for missing in [
            &b"<VersioningConfiguration/>"[..],
            b"<VersioningConfiguration>\n</VersioningConfiguration>",
            b"<VersioningConfiguration><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>",
        ] {
            let e = parse_versioning_configuration(missing).unwrap_err();
            assert_eq!(e.code, S3Code::IllegalVersioningConfigurationException);
            assert_eq!(e.status().as_u16(), 400);
        }
        assert_eq!(
            code(b"<VersioningConfiguration><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>"),
            S3Code::NotImplemented
        );
    }

    #[test]
    fn versioning_document_round_trips() {
        assert_eq!(
            s(versioning_configuration(None)),
            format!("{HEAD}<VersioningConfiguration {NS}/>")
        );
        assert_eq!(
            s(versioning_configuration(Some(VersioningStatus::Enabled))),
            format!("{HEAD}<VersioningConfiguration {NS}><Status>Enabled</Status></VersioningConfiguration>")
        );
        for st in [VersioningStatus::Enabled, VersioningStatus::Suspended] {
            assert_eq!(
                parse_versioning_configuration(&versioning_configuration(Some(st))),
                Ok(st)
            );
        }
        // The never-configured document is not something a PUT can send.
        assert_eq!(
            code(&versioning_configuration(None)),
            S3Code::IllegalVersioningConfigurationException
        );
    }

    fn version(key: &str, id: Option<&str>, latest: bool) -> VersionEntry {
        VersionEntry {
            key: key.into(),
            version_id: id.map(Into::into),
            is_latest: latest,
            last_modified_ms: T,
            kind: VersionKind::Object {
                etag: "fba9dede5f27731c9771645a39863328".into(),
                size: 434_234,
                checksum_algorithm: None,
                checksum_type: None,
                class: None,
            },
        }
    }

    fn marker(key: &str, id: &str, latest: bool) -> VersionEntry {
        VersionEntry {
            key: key.into(),
            version_id: Some(id.into()),
            is_latest: latest,
            last_modified_ms: T + 86_400_000,
            kind: VersionKind::DeleteMarker,
        }
    }

    #[test]
    fn list_versions_shape() {
        let r = ListVersionsResponse {
            name: "bucket".into(),
            prefix: "my".into(),
            max_keys: 5,
            owner: ListOwner {
                id: "75aa".into(),
                display_name: "mtd@amazon.com".into(),
            },
            entries: vec![
                version("my-image.jpg", Some("3/L4kqtJl40Nr8X8gdRQBpUMLUo"), true),
                marker(
                    "my-second-image.jpg",
                    "03jpff543dhffds434rfdsFDN943fdsFkdmqnh892",
                    true,
                ),
                version("my-second-image.jpg", None, false),
            ],
            ..Default::default()
        };
        assert_eq!(
            s(list_object_versions(&r)),
            format!(
                "{HEAD}<ListVersionsResult {NS}><Name>bucket</Name><Prefix>my</Prefix>\
                 <KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>5</MaxKeys>\
                 <IsTruncated>false</IsTruncated>\
                 <Version><Key>my-image.jpg</Key><VersionId>3/L4kqtJl40Nr8X8gdRQBpUMLUo</VersionId>\
                 <IsLatest>true</IsLatest><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\
                 <Owner><ID>75aa</ID><DisplayName>mtd@amazon.com</DisplayName></Owner>\
                 <StorageClass>STANDARD</StorageClass></Version>\
                 <DeleteMarker><Key>my-second-image.jpg</Key>\
                 <VersionId>03jpff543dhffds434rfdsFDN943fdsFkdmqnh892</VersionId>\
                 <IsLatest>true</IsLatest><LastModified>2009-10-13T17:50:30.000Z</LastModified>\
                 <Owner><ID>75aa</ID><DisplayName>mtd@amazon.com</DisplayName></Owner></DeleteMarker>\
                 <Version><Key>my-second-image.jpg</Key><VersionId>null</VersionId>\
                 <IsLatest>false</IsLatest><LastModified>2009-10-12T17:50:30.000Z</LastModified>\
                 <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>\
                 <Owner><ID>75aa</ID><DisplayName>mtd@amazon.com</DisplayName></Owner>\
                 <StorageClass>STANDARD</StorageClass></Version></ListVersionsResult>"
            )
        );
    }

    #[test]
    fn list_versions_truncated_delimited_checksums() {
        let r = ListVersionsResponse {
            name: "b".into(),
            key_marker: "a".into(),
            version_id_marker: NULL_VERSION_ID.into(),
            next_key_marker: Some("d/x".into()),
            next_version_id_marker: Some("v9".into()),
            max_keys: 2,
            delimiter: "/".into(),
            is_truncated: true,
            entries: vec![VersionEntry {
                kind: VersionKind::Object {
                    etag: "\"e-3\"".into(),
                    size: 1,
                    checksum_algorithm: Some(ChecksumAlgo::Crc64Nvme),
                    checksum_type: Some(ChecksumType::FullObject),
                    class: None,
                },
                ..version("b", Some("v1"), true)
            }],
            common_prefixes: vec!["c/".into()],
            ..Default::default()
        };
        let x = s(list_object_versions(&r));
        assert!(x.contains(
            "<Prefix></Prefix><KeyMarker>a</KeyMarker><VersionIdMarker>null</VersionIdMarker>\
             <NextKeyMarker>d/x</NextKeyMarker><NextVersionIdMarker>v9</NextVersionIdMarker>\
             <MaxKeys>2</MaxKeys><Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><Version>"
        ));
        assert!(x.contains(
            "<ETag>&quot;e-3&quot;</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm>\
             <ChecksumType>FULL_OBJECT</ChecksumType><Size>1</Size>"
        ));
        assert!(x.ends_with(
            "</Version><CommonPrefixes><Prefix>c/</Prefix></CommonPrefixes></ListVersionsResult>"
        ));
        assert!(!x.contains("EncodingType"));
    }

    #[test]
    fn list_versions_url_encoding() {
        let r = ListVersionsResponse {
            name: "b&c".into(),
            prefix: "run books/".into(),
            key_marker: "k m".into(),
            version_id_marker: "v+1 /".into(),
            next_key_marker: Some("n~".into()),
            next_version_id_marker: Some("w+2".into()),
            delimiter: " ".into(),
            encoding_type_url: true,
            entries: vec![
                version("run books/x+y%z<\r>", Some("id&1"), true),
                marker("a b", "m 1", false),
            ],
            common_prefixes: vec!["run books/한/".into()],
            ..Default::default()
        };
        let x = s(list_object_versions(&r));
        assert!(x.contains(
            "<Name>b&amp;c</Name><Prefix>run%20books/</Prefix><KeyMarker>k%20m</KeyMarker>\
             <VersionIdMarker>v+1 /</VersionIdMarker><NextKeyMarker>n%7E</NextKeyMarker>\
             <NextVersionIdMarker>w+2</NextVersionIdMarker><MaxKeys>0</MaxKeys>\
             <Delimiter>%20</Delimiter><IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>"
        ));
        assert!(
            x.contains("<Key>run%20books/x%2By%25z%3C%0D%3E</Key><VersionId>id&amp;1</VersionId>")
        );
        assert!(x.contains("<DeleteMarker><Key>a%20b</Key><VersionId>m 1</VersionId>"));
        assert!(
            x.contains("<CommonPrefixes><Prefix>run%20books/%ED%95%9C/</Prefix></CommonPrefixes>")
        );
    }

    #[test]
    fn versioning_never_panics_on_fuzz() {
        let base = b"<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>".to_vec();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..5000 {
            let mut b = base.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let _ = parse_versioning_configuration(&b);
            b.truncate((seed as usize) % (b.len() + 1));
            let _ = parse_versioning_configuration(&b);
        }
    }
}
