//! The `BucketLoggingStatus` document of Get/PutBucketLogging: empty
//! (logging off), or one `LoggingEnabled` with `TargetBucket`,
//! `TargetPrefix`, optional `TargetGrants` (`Grant`s of a `Grantee` and a
//! `Permission` among FULL_CONTROL, READ, WRITE) and an optional
//! `TargetObjectKeyFormat` holding either `SimplePrefix` or
//! `PartitionedPrefix` (`PartitionDateSource` EventTime or DeliveryTime).
//! Pure: whether the target bucket may take the logs is the caller's
//! question.

use crate::bucket_logging::{BucketLogging, DateSource, KeyFormat};
use crate::iam::acl::{Grantee, Permission, MAX_GRANTS};

use super::error::{S3Code, S3Error};
use super::xml::{malformed, require_blank, response, set_once, walk_elements};
use super::xml_acl::GranteeRef;

const ROOT: &str = "BucketLoggingStatus";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Longest `TargetPrefix`: a log object's key is the prefix and at most
/// 134 bytes more (the partitioned form with a 63-byte bucket name), and a
/// key is at most 1,024 bytes. cairn's limit; S3 documents none.
pub const MAX_PREFIX_LEN: usize = 1024 - 134;

/// `LoggingEnabled` as sent: grants not yet resolved to users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggingRequest {
    pub target_bucket: String,
    pub target_prefix: String,
    pub grants: Vec<(GranteeRef, Permission)>,
    pub key_format: Option<KeyFormat>,
}

/// The pieces of the element being read.
#[derive(Default)]
struct Open {
    enabled: bool,
    bucket: Option<String>,
    prefix: Option<String>,
    grants: Vec<(GranteeRef, Permission)>,
    grants_seen: bool,
    grantee: Option<GranteeRef>,
    permission: Option<Permission>,
    id: Option<String>,
    email: Option<String>,
    uri: Option<String>,
    display: Option<String>,
    key_format: Option<KeyFormat>,
    date_source: Option<DateSource>,
}

/// PutBucketLogging's body: `None` turns logging off. Anything outside the
/// schema (an unknown or repeated element, a `LoggingEnabled` without
/// `TargetBucket` or `TargetPrefix`, a grant without grantee or with a
/// permission other than the three, both key formats, an unknown date
/// source) is MalformedXML; a prefix over [`MAX_PREFIX_LEN`] is
/// InvalidArgument.
pub fn parse_logging(body: &[u8]) -> Result<Option<LoggingRequest>, S3Error> {
    let mut o = Open::default();
    walk_elements(body, ROOT.as_bytes(), |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        match p.as_slice() {
            [_] => require_blank(&text),
            [_, b"LoggingEnabled"] => {
                require_blank(&text)?;
                if o.enabled {
                    return Err(malformed());
                }
                o.enabled = true;
                Ok(())
            }
            [_, b"LoggingEnabled", b"TargetBucket"] => set_once(&mut o.bucket, text.trim().into()),
            [_, b"LoggingEnabled", b"TargetPrefix"] => set_once(&mut o.prefix, text),
            [_, b"LoggingEnabled", b"TargetGrants"] => {
                require_blank(&text)?;
                if std::mem::replace(&mut o.grants_seen, true) {
                    return Err(malformed());
                }
                Ok(())
            }
            [_, b"LoggingEnabled", b"TargetGrants", b"Grant"] => {
                require_blank(&text)?;
                let g = o.grantee.take().ok_or_else(malformed)?;
                let p = o.permission.take().ok_or_else(malformed)?;
                if o.grants.len() == MAX_GRANTS {
                    return Err(malformed());
                }
                o.grants.push((g, p));
                Ok(())
            }
            [_, b"LoggingEnabled", b"TargetGrants", b"Grant", b"Grantee"] => {
                require_blank(&text)?;
                o.display = None;
                let g = match (o.id.take(), o.email.take(), o.uri.take()) {
                    (Some(i), None, None) => GranteeRef::Id(i),
                    (None, Some(e), None) => GranteeRef::Email(e),
                    (None, None, Some(u)) => GranteeRef::Uri(u),
                    _ => return Err(malformed()),
                };
                set_once(&mut o.grantee, g)
            }
            [_, b"LoggingEnabled", b"TargetGrants", b"Grant", b"Grantee", field] => match *field {
                b"ID" => set_once(&mut o.id, text.trim().to_owned()),
                b"EmailAddress" => set_once(&mut o.email, text.trim().to_owned()),
                b"URI" => set_once(&mut o.uri, text.trim().to_owned()),
                b"DisplayName" => set_once(&mut o.display, text),
                _ => Err(malformed()),
            },
            [_, b"LoggingEnabled", b"TargetGrants", b"Grant", b"Permission"] => {
                let p = match text.trim() {
                    "FULL_CONTROL" => Permission::FullControl,
                    "READ" => Permission::Read,
                    "WRITE" => Permission::Write,
                    _ => return Err(malformed()),
                };
                set_once(&mut o.permission, p)
            }
            [_, b"LoggingEnabled", b"TargetObjectKeyFormat"] => {
                require_blank(&text)?;
                // An empty format is the simple one.
                if o.key_format.is_none() {
                    o.key_format = Some(KeyFormat::Simple);
                }
                Ok(())
            }
            [_, b"LoggingEnabled", b"TargetObjectKeyFormat", b"SimplePrefix"] => {
                require_blank(&text)?;
                set_once(&mut o.key_format, KeyFormat::Simple)
            }
            [_, b"LoggingEnabled", b"TargetObjectKeyFormat", b"PartitionedPrefix"] => {
                require_blank(&text)?;
                // S3's default date source.
                let src = o.date_source.take().unwrap_or(DateSource::EventTime);
                set_once(&mut o.key_format, KeyFormat::Partitioned(src))
            }
            [_, b"LoggingEnabled", b"TargetObjectKeyFormat", b"PartitionedPrefix", b"PartitionDateSource"] =>
            {
                let src = DateSource::parse(text.trim()).ok_or_else(malformed)?;
                set_once(&mut o.date_source, src)
            }
            _ => Err(malformed()),
        }
    })?;
    if !o.enabled {
        return Ok(None);
    }
    let (Some(target_bucket), Some(target_prefix)) = (o.bucket, o.prefix) else {
        return Err(malformed());
    };
    if target_bucket.is_empty() {
        return Err(malformed());
    }
    if target_prefix.len() > MAX_PREFIX_LEN {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            format!("The TargetPrefix is longer than {MAX_PREFIX_LEN} bytes."),
        ));
    }
    Ok(Some(LoggingRequest {
        target_bucket,
        target_prefix,
        grants: o.grants,
        key_format: o.key_format,
    }))
}

/// GetBucketLogging's answer: an empty `BucketLoggingStatus` when logging
/// is off; the key format only when the client sent one.
pub fn logging_document(l: Option<&BucketLogging>) -> Vec<u8> {
    response(ROOT, 512, |w| {
        let Some(l) = l else { return };
        w.element("LoggingEnabled", |w| {
            w.text("TargetBucket", &l.target_bucket);
            if !l.target_grants.is_empty() {
                w.element("TargetGrants", |w| {
                    for g in &l.target_grants {
                        w.element("Grant", |w| {
                            let kind = match g.grantee {
                                Grantee::User(_) => "CanonicalUser",
                                Grantee::Group(_) => "Group",
                            };
                            w.element_attrs(
                                "Grantee",
                                &[("xmlns:xsi", XSI), ("xsi:type", kind)],
                                |w| match &g.grantee {
                                    Grantee::User(id) => w.text("ID", id),
                                    Grantee::Group(group) => w.text("URI", group.uri()),
                                },
                            );
                            w.text("Permission", g.permission.as_str());
                        });
                    }
                });
            }
            w.text("TargetPrefix", &l.target_prefix);
            match l.key_format {
                None => {}
                Some(KeyFormat::Simple) => w.element("TargetObjectKeyFormat", |w| {
                    w.element("SimplePrefix", |_| {});
                }),
                Some(KeyFormat::Partitioned(src)) => w.element("TargetObjectKeyFormat", |w| {
                    w.element("PartitionedPrefix", |w| {
                        w.text("PartitionDateSource", src.as_str());
                    });
                }),
            }
        });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(inner: &str) -> Vec<u8> {
        format!(
            r#"<BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</BucketLoggingStatus>"#
        )
        .into_bytes()
    }

    fn code(inner: &str) -> S3Code {
        parse_logging(&doc(inner)).expect_err(inner).code
    }

    #[test]
    fn an_empty_status_turns_logging_off() {
        assert_eq!(parse_logging(&doc("")).unwrap(), None);
        assert_eq!(parse_logging(b"<BucketLoggingStatus/>").unwrap(), None);
    }

    #[test]
    fn every_shape_s3_documents_parses() {
        let r = parse_logging(&doc(
            "<LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>a/</TargetPrefix></LoggingEnabled>",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                r.target_bucket.as_str(),
                r.target_prefix.as_str(),
                r.key_format
            ),
            ("logs", "a/", None)
        );
        let r = parse_logging(&doc(
            r#"<LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix></TargetPrefix>
               <TargetGrants><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AuthenticatedUsers</URI></Grantee><Permission>READ</Permission></Grant>
               <Grant><Grantee><ID>abc</ID><DisplayName>x</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></TargetGrants>
               <TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>DeliveryTime</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat>
               </LoggingEnabled>"#,
        ))
        .unwrap()
        .unwrap();
        assert_eq!(r.target_prefix, "");
        assert_eq!(
            r.grants,
            vec![
                (
                    GranteeRef::Uri(
                        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers".into()
                    ),
                    Permission::Read
                ),
                (GranteeRef::Id("abc".into()), Permission::FullControl)
            ]
        );
        assert_eq!(
            r.key_format,
            Some(KeyFormat::Partitioned(DateSource::DeliveryTime))
        );
        let simple = parse_logging(&doc(
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix>p</TargetPrefix><TargetObjectKeyFormat><SimplePrefix/></TargetObjectKeyFormat></LoggingEnabled>",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(simple.key_format, Some(KeyFormat::Simple));
    }

    #[test]
    fn documents_outside_the_schema_are_malformed() {
        for bad in [
            "<LoggingEnabled><TargetPrefix>p</TargetPrefix></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetBucket>m</TargetBucket><TargetPrefix/></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><Other/></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/></LoggingEnabled><LoggingEnabled/>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><TargetGrants><Grant><Permission>READ</Permission></Grant></TargetGrants></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><TargetGrants><Grant><Grantee><ID>a</ID></Grantee><Permission>READ_ACP</Permission></Grant></TargetGrants></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><TargetObjectKeyFormat><SimplePrefix/><PartitionedPrefix/></TargetObjectKeyFormat></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>Now</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat></LoggingEnabled>",
            "<LoggingEnabled>text</LoggingEnabled>",
        ] {
            assert_eq!(code(bad), S3Code::MalformedXML, "{bad}");
        }
        assert_eq!(
            parse_logging(b"<Other/>").unwrap_err().code,
            S3Code::MalformedXML
        );
        let long = format!(
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix>{}</TargetPrefix></LoggingEnabled>",
            "p".repeat(MAX_PREFIX_LEN + 1)
        );
        assert_eq!(code(&long), S3Code::InvalidArgument);
    }

    #[test]
    fn the_document_answered_parses_back_to_the_configuration() {
        use crate::iam::acl::{Grant, Group};
        for key_format in [
            None,
            Some(KeyFormat::Simple),
            Some(KeyFormat::Partitioned(DateSource::EventTime)),
        ] {
            let l = BucketLogging {
                target_bucket: "logs".into(),
                target_prefix: "a&b/".into(),
                target_grants: vec![Grant {
                    grantee: Grantee::Group(Group::AllUsers),
                    permission: Permission::Write,
                }],
                key_format,
            };
            let back = parse_logging(&logging_document(Some(&l))).unwrap().unwrap();
            assert_eq!(back.target_bucket, l.target_bucket);
            assert_eq!(back.target_prefix, l.target_prefix);
            assert_eq!(back.key_format, l.key_format);
            assert_eq!(
                back.grants,
                vec![(
                    GranteeRef::Uri(Group::AllUsers.uri().into()),
                    Permission::Write
                )]
            );
        }
        assert_eq!(parse_logging(&logging_document(None)).unwrap(), None);
    }
}
