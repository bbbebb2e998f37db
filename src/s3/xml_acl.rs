//! ACL documents: the `AccessControlPolicy` of Get/PutBucketAcl and
//! Get/PutObjectAcl, and the `OwnershipControls` of the bucket ownership
//! operations.

use crate::engine::ObjectOwnership;
use crate::iam::acl::{Acl, Grantee, Permission, MAX_GRANTS};

use super::error::{S3Code, S3Error};
use super::xml::{require_blank, response, set_once, walk_elements};

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The `AccessControlPolicy` GetBucketAcl and GetObjectAcl answer. Users
/// are written with their display name when `display` knows one; groups
/// by URI, each grantee with its `xsi:type` as S3 writes it.
pub fn access_control_policy(acl: &Acl, display: impl Fn(&str) -> Option<String>) -> Vec<u8> {
    response("AccessControlPolicy", 400 + acl.grants.len() * 300, |w| {
        w.element("Owner", |w| {
            w.text("ID", &acl.owner);
            w.text_opt("DisplayName", display(&acl.owner).as_deref());
        });
        w.element("AccessControlList", |w| {
            for g in &acl.grants {
                w.element("Grant", |w| {
                    let kind = match g.grantee {
                        Grantee::User(_) => "CanonicalUser",
                        Grantee::Group(_) => "Group",
                    };
                    w.element_attrs("Grantee", &[("xmlns:xsi", XSI), ("xsi:type", kind)], |w| {
                        match &g.grantee {
                            Grantee::User(id) => {
                                w.text("ID", id);
                                w.text_opt("DisplayName", display(id).as_deref());
                            }
                            Grantee::Group(group) => w.text("URI", group.uri()),
                        }
                    });
                    w.text("Permission", g.permission.as_str());
                });
            }
        });
    })
}

/// A grantee as a request names it, before it is resolved to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GranteeRef {
    Id(String),
    Email(String),
    Uri(String),
}

/// A parsed `AccessControlPolicy` request body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyBody {
    pub owner: Option<String>,
    pub grants: Vec<(GranteeRef, Permission)>,
}

pub fn malformed_acl() -> S3Error {
    S3Error::from_code(S3Code::MalformedACLError)
}

/// An `AccessControlPolicy` body. Each `Grant` needs one `Grantee` naming
/// exactly one of `ID`, `EmailAddress`, `URI` (the `xsi:type` attribute is
/// not read: the child says which), and one known `Permission`; anything
/// else, and any XML fault, is MalformedACLError as S3 answers. The caller
/// bounds the body's size.
pub fn parse_access_control_policy(body: &[u8]) -> Result<PolicyBody, S3Error> {
    let mut out = PolicyBody::default();
    let mut acl_list = false;
    let (mut id, mut email, mut uri, mut name) = (None, None, None, None);
    let mut grantee: Option<GranteeRef> = None;
    let mut permission: Option<Permission> = None;
    let mut owner_id: Option<String> = None;
    let mut owner_name: Option<String> = None;
    let r = walk_elements(body, b"AccessControlPolicy", |path, text| {
        let names: Vec<&[u8]> = path.iter().map(|p| p.as_slice()).collect();
        match names.as_slice() {
            [_] => require_blank(&text),
            [_, b"Owner"] => {
                require_blank(&text)?;
                out.owner = Some(owner_id.take().ok_or_else(malformed_acl)?);
                owner_name = None;
                Ok(())
            }
            [_, b"Owner", b"ID"] => set_once(&mut owner_id, text),
            [_, b"Owner", b"DisplayName"] => set_once(&mut owner_name, text),
            [_, b"AccessControlList"] => {
                require_blank(&text)?;
                if acl_list {
                    return Err(malformed_acl());
                }
                acl_list = true;
                Ok(())
            }
            [_, b"AccessControlList", b"Grant"] => {
                require_blank(&text)?;
                let g = grantee.take().ok_or_else(malformed_acl)?;
                let p = permission.take().ok_or_else(malformed_acl)?;
                if out.grants.len() == MAX_GRANTS {
                    return Err(S3Error::new(
                        S3Code::MalformedACLError,
                        format!("An ACL can have at most {MAX_GRANTS} grants."),
                    ));
                }
                out.grants.push((g, p));
                Ok(())
            }
            [_, b"AccessControlList", b"Grant", b"Grantee"] => {
                require_blank(&text)?;
                name = None;
                let g = match (id.take(), email.take(), uri.take()) {
                    (Some(i), None, None) => GranteeRef::Id(i),
                    (None, Some(e), None) => GranteeRef::Email(e),
                    (None, None, Some(u)) => GranteeRef::Uri(u),
                    _ => return Err(malformed_acl()),
                };
                set_once(&mut grantee, g)
            }
            [_, b"AccessControlList", b"Grant", b"Grantee", field] => match *field {
                b"ID" => set_once(&mut id, text.trim().to_owned()),
                b"EmailAddress" => set_once(&mut email, text.trim().to_owned()),
                b"URI" => set_once(&mut uri, text.trim().to_owned()),
                b"DisplayName" => set_once(&mut name, text),
                _ => Err(malformed_acl()),
            },
            [_, b"AccessControlList", b"Grant", b"Permission"] => {
                let p = Permission::parse(text.trim()).ok_or_else(malformed_acl)?;
                set_once(&mut permission, p)
            }
            _ => Err(malformed_acl()),
        }
    });
    match r {
        // The document's own faults are the ACL's.
        Err(e) if e.code == S3Code::MalformedXML => Err(malformed_acl()),
        Err(e) => Err(e),
        Ok(()) if !acl_list => Err(malformed_acl()),
        Ok(()) => Ok(out),
    }
}

pub fn ownership_name(o: ObjectOwnership) -> &'static str {
    match o {
        ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
        ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
        ObjectOwnership::ObjectWriter => "ObjectWriter",
    }
}

pub fn parse_ownership_name(s: &str) -> Option<ObjectOwnership> {
    [
        ObjectOwnership::BucketOwnerEnforced,
        ObjectOwnership::BucketOwnerPreferred,
        ObjectOwnership::ObjectWriter,
    ]
    .into_iter()
    .find(|o| ownership_name(*o) == s)
}

/// The `OwnershipControls` GetBucketOwnershipControls answers.
pub fn ownership_controls(o: ObjectOwnership) -> Vec<u8> {
    response("OwnershipControls", 200, |w| {
        w.element("Rule", |w| w.text("ObjectOwnership", ownership_name(o)));
    })
}

/// An `OwnershipControls` body: exactly one `Rule` with one known
/// `ObjectOwnership`; anything else is MalformedXML.
pub fn parse_ownership_controls(body: &[u8]) -> Result<ObjectOwnership, S3Error> {
    let malformed = || S3Error::from_code(S3Code::MalformedXML);
    let mut value: Option<ObjectOwnership> = None;
    let mut rule: Option<ObjectOwnership> = None;
    walk_elements(body, b"OwnershipControls", |path, text| {
        let names: Vec<&[u8]> = path.iter().map(|p| p.as_slice()).collect();
        match names.as_slice() {
            [_] => require_blank(&text),
            [_, b"Rule"] => {
                require_blank(&text)?;
                let v = value.take().ok_or_else(malformed)?;
                set_once(&mut rule, v)
            }
            [_, b"Rule", b"ObjectOwnership"] => {
                let v = parse_ownership_name(text.trim()).ok_or_else(malformed)?;
                set_once(&mut value, v)
            }
            _ => Err(malformed()),
        }
    })?;
    rule.ok_or_else(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::acl::{Canned, Group};

    fn doc(grants: &str) -> String {
        format!(
            r#"<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner><ID>owner</ID><DisplayName>me</DisplayName></Owner>
  <AccessControlList>{grants}</AccessControlList>
</AccessControlPolicy>"#
        )
    }

    fn grant(grantee: &str, kind: &str, permission: &str) -> String {
        format!(
            r#"<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="{kind}">{grantee}</Grantee><Permission>{permission}</Permission></Grant>"#
        )
    }

    #[test]
    fn a_policy_body_gives_each_grantee_and_permission() {
        let body = doc(&[
            grant(
                "<ID>abc</ID><DisplayName>x</DisplayName>",
                "CanonicalUser",
                "FULL_CONTROL",
            ),
            grant(
                "<EmailAddress>a@example.com</EmailAddress>",
                "AmazonCustomerByEmail",
                "READ_ACP",
            ),
            grant(
                &format!("<URI>{}</URI>", Group::AllUsers.uri()),
                "Group",
                "READ",
            ),
        ]
        .concat());
        let p = parse_access_control_policy(body.as_bytes()).unwrap();
        assert_eq!(p.owner.as_deref(), Some("owner"));
        assert_eq!(
            p.grants,
            vec![
                (GranteeRef::Id("abc".into()), Permission::FullControl),
                (
                    GranteeRef::Email("a@example.com".into()),
                    Permission::ReadAcp
                ),
                (
                    GranteeRef::Uri(Group::AllUsers.uri().into()),
                    Permission::Read
                ),
            ]
        );
        // An empty list is a valid ACL (it removes every grant).
        assert_eq!(
            parse_access_control_policy(doc("").as_bytes())
                .unwrap()
                .grants,
            vec![]
        );
    }

    #[test]
    fn malformed_policy_bodies_are_malformed_acl_errors() {
        let cases = [
            "".to_owned(),
            "<AccessControlPolicy>".to_owned(),
            "<Other/>".to_owned(),
            // No AccessControlList.
            "<AccessControlPolicy><Owner><ID>o</ID></Owner></AccessControlPolicy>".to_owned(),
            doc(&grant("<ID>a</ID>", "CanonicalUser", "EVERYTHING")),
            doc(&grant("<ID>a</ID>", "CanonicalUser", "")),
            doc(&grant("<ID>a</ID><URI>u</URI>", "CanonicalUser", "READ")),
            doc(&grant("", "CanonicalUser", "READ")),
            doc(&grant("<Name>a</Name>", "CanonicalUser", "READ")),
            doc("<Grant><Permission>READ</Permission></Grant>"),
            doc("<Grant><Grantee><ID>a</ID></Grantee></Grant>"),
            doc(&grant("<ID>a</ID>", "CanonicalUser", "READ").repeat(MAX_GRANTS + 1)),
        ];
        for body in cases {
            let e = parse_access_control_policy(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, S3Code::MalformedACLError, "{body}");
        }
        let most = doc(&grant("<ID>a</ID>", "CanonicalUser", "READ").repeat(MAX_GRANTS));
        assert!(parse_access_control_policy(most.as_bytes()).is_ok());
    }

    #[test]
    fn the_answer_parses_back_to_the_same_grants() {
        let acl = Canned::PublicReadWrite.grants("owner", "owner");
        let xml = access_control_policy(&acl, |id| (id == "owner").then(|| "me".into()));
        let p = parse_access_control_policy(&xml).unwrap();
        assert_eq!(p.owner.as_deref(), Some("owner"));
        assert_eq!(
            p.grants,
            vec![
                (GranteeRef::Id("owner".into()), Permission::FullControl),
                (
                    GranteeRef::Uri(Group::AllUsers.uri().into()),
                    Permission::Read
                ),
                (
                    GranteeRef::Uri(Group::AllUsers.uri().into()),
                    Permission::Write
                ),
            ]
        );
    }

    #[test]
    fn ownership_controls_round_trip_and_refuse_anything_else() {
        for o in [
            ObjectOwnership::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter,
        ] {
            assert_eq!(parse_ownership_controls(&ownership_controls(o)).unwrap(), o);
        }
        for bad in [
            "",
            "<OwnershipControls/>",
            "<OwnershipControls><Rule/></OwnershipControls>",
            "<OwnershipControls><Rule><ObjectOwnership>Mine</ObjectOwnership></Rule></OwnershipControls>",
            "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>",
            "<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule></OwnershipControls>",
        ] {
            let e = parse_ownership_controls(bad.as_bytes()).unwrap_err();
            assert_eq!(e.code, S3Code::MalformedXML, "{bad}");
        }
    }
}
