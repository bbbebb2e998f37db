//! ACLs as requests carry them (`x-amz-acl`, `x-amz-grant-*`, an
//! `AccessControlPolicy` body) and as buckets and objects keep them, with
//! S3 Object Ownership's rules for who owns what.
//!
//! A bucket's ACL is in the bucket table. An object's ACL is a stored
//! header of the version ([`ACL_HEADER`], a name no HTTP header can have,
//! so GET and HEAD can never send it), present only when the ACL is not
//! the default (private to the bucket owner): object records written
//! before ACLs existed, and objects that never had one, read as private.

use http::HeaderMap;

use crate::engine::buckets::BucketTable;
use crate::engine::meta::ObjectMeta;
use crate::engine::ObjectOwnership;
use crate::iam::acl::{Acl, Canned, Grant, Grantee, Group, Permission, MAX_GRANTS};
use crate::iam::model::{canonical_user_id, IamState};
use crate::s3::error::{S3Code, S3Error};
use crate::s3::xml_acl::{parse_ownership_name, GranteeRef};

use super::ctx::{ApiSettings, Ctx};
use crate::engine::Engine;

/// The stored header holding an object version's ACL (see the module
/// comment). `:` is not a token character, so this is no header name.
pub const ACL_HEADER: &str = ":acl";

/// The user tag that holds a user's e-mail address, for e-mail grantees.
pub const EMAIL_TAG: &str = "email";

/// The `x-amz-grant-*` headers and the permission each grants.
const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// The ownership controls CreateBucket gives a bucket that names none:
/// S3's default for new buckets since April 2023 (ACLs off). Requests
/// sending `x-amz-acl: private` or `bucket-owner-full-control`, as rclone
/// and older SDKs do, still succeed under it.
pub const NEW_BUCKET_OWNERSHIP: ObjectOwnership = ObjectOwnership::BucketOwnerEnforced;

/// The bucket's owner: its creator, or root for buckets made before
/// owners were recorded.
pub fn bucket_owner(api: &ApiSettings, engine: &Engine, bucket: &str) -> String {
    engine
        .buckets()
        .buckets
        .get(bucket)
        .and_then(|b| b.owner.as_ref().map(|o| o.canonical_id.clone()))
        .unwrap_or_else(|| api.owner.id.clone())
}

/// What a request says about the ACL of what it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclRequest {
    None,
    Canned(Canned),
    Grants(Vec<(GranteeRef, Permission)>),
}

impl AclRequest {
    /// Whether the ACL asked for grants AllUsers or AuthenticatedUsers
    /// anything (judged as [`Acl::is_public`] judges a stored ACL).
    pub fn is_public(&self) -> bool {
        match self {
            AclRequest::None => false,
            AclRequest::Canned(c) => c.grants("", "").is_public(),
            AclRequest::Grants(g) => g.iter().any(|(r, _)| {
                matches!(r, GranteeRef::Uri(uri) if Group::from_uri(uri).is_some_and(Group::is_public))
            }),
        }
    }
}

/// S3's `BlockPublicAcls`: an ACL that is `public` (from headers, a body
/// or a form field) is refused with 403 AccessDenied while `bucket`'s
/// public access block says so. The one check every way of setting an
/// ACL goes through.
pub fn check_public_acl(table: &BucketTable, bucket: &str, public: bool) -> Result<(), S3Error> {
    let blocked = table
        .get(bucket)
        .and_then(|i| i.public_access_block)
        .is_some_and(|b| b.blocks_public_acls());
    if public && blocked {
        return Err(S3Error::new(
            S3Code::AccessDenied,
            "Access Denied: the bucket's public access block (BlockPublicAcls) refuses public ACLs",
        ));
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::new(S3Code::InvalidArgument, msg)
}

/// `x-amz-acl` or the `x-amz-grant-*` headers (both at once is
/// InvalidRequest, as on S3; a bad value InvalidArgument).
pub fn acl_from_headers(headers: &HeaderMap) -> Result<AclRequest, S3Error> {
    let canned = match headers.get("x-amz-acl") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| Canned::parse(v.trim()))
                .ok_or_else(|| invalid("The canned ACL in x-amz-acl is not one S3 defines."))?,
        ),
    };
    let mut grants = Vec::new();
    let mut any_grant = false;
    for (name, permission) in GRANT_HEADERS {
        for v in headers.get_all(name) {
            any_grant = true;
            let v = v
                .to_str()
                .map_err(|_| invalid(format!("The {name} header is not ASCII.")))?;
            for g in parse_grant_header(v)? {
                grants.push((g, permission));
            }
        }
    }
    match (canned, any_grant) {
        (Some(_), true) => Err(S3Error::new(
            S3Code::InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(c), false) => Ok(AclRequest::Canned(c)),
        (None, true) if grants.len() > MAX_GRANTS => Err(invalid(format!(
            "An ACL can have at most {MAX_GRANTS} grants."
        ))),
        (None, true) => Ok(AclRequest::Grants(grants)),
        (None, false) => Ok(AclRequest::None),
    }
}

/// One `x-amz-grant-*` value: a comma list of `id="…"`,
/// `emailAddress="…"` or `uri="…"` (quotes optional).
pub fn parse_grant_header(v: &str) -> Result<Vec<GranteeRef>, S3Error> {
    let mut out = Vec::new();
    for item in split_outside_quotes(v) {
        let item = item.trim();
        let (kind, value) = item
            .split_once('=')
            .ok_or_else(|| invalid(format!("Invalid grant: '{item}'.")))?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        if value.is_empty() || value.contains('"') {
            return Err(invalid(format!("Invalid grant: '{item}'.")));
        }
        out.push(match kind.trim() {
            "id" => GranteeRef::Id(value.to_owned()),
            "emailAddress" => GranteeRef::Email(value.to_owned()),
            "uri" => GranteeRef::Uri(value.to_owned()),
            _ => return Err(invalid(format!("Invalid grantee type in '{item}'."))),
        });
    }
    Ok(out)
}

/// Splits at commas that are not inside double quotes.
fn split_outside_quotes(v: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&v[start..]);
    parts
}

/// Turns grants as a request names them into an ACL owned by `owner`
/// (see [`resolve_grants_in`]).
pub fn resolve_grants(
    api: &ApiSettings,
    owner: &str,
    grants: &[(GranteeRef, Permission)],
) -> Result<Acl, S3Error> {
    let snapshot = api.identities.snapshot();
    resolve_grants_in(&snapshot.state, &api.owner.id, owner, grants)
}

/// Grants resolved against the identities in `state` and root (`root_id`):
/// canonical ids must be identities this node knows (InvalidArgument, as
/// S3 answers an unknown id), an e-mail address is the user whose `email`
/// tag it is, compared without case (IAM users have no e-mail of their
/// own; UnresolvableGrantByEmailAddress when none has it), a URI one of
/// S3's groups (InvalidArgument).
pub fn resolve_grants_in(
    state: &IamState,
    root_id: &str,
    owner: &str,
    grants: &[(GranteeRef, Permission)],
) -> Result<Acl, S3Error> {
    let mut acl = Acl {
        owner: owner.to_owned(),
        grants: Vec::with_capacity(grants.len()),
    };
    for (g, permission) in grants {
        let grantee = match g {
            GranteeRef::Id(id) => {
                let known = id == root_id
                    || state
                        .users
                        .values()
                        .any(|u| canonical_user_id(&u.id) == *id);
                if !known {
                    return Err(invalid("Invalid id"));
                }
                Grantee::User(id.clone())
            }
            GranteeRef::Email(email) => {
                let user = state.users.values().find(|u| {
                    u.tags
                        .iter()
                        .any(|(k, v)| k == EMAIL_TAG && v.eq_ignore_ascii_case(email))
                });
                match user {
                    Some(u) => Grantee::User(canonical_user_id(&u.id)),
                    None => {
                        return Err(S3Error::from_code(S3Code::UnresolvableGrantByEmailAddress))
                    }
                }
            }
            GranteeRef::Uri(uri) => {
                Grantee::Group(Group::from_uri(uri).ok_or_else(|| invalid("Invalid group uri"))?)
            }
        };
        acl.push(Grant {
            grantee,
            permission: *permission,
        });
    }
    Ok(acl)
}

/// The ACL a request asks for, for something owned by `owner` in a bucket
/// owned by `bucket_owner`; `None` when it asks for none.
pub fn requested_acl(
    api: &ApiSettings,
    req: &AclRequest,
    owner: &str,
    bucket_owner: &str,
) -> Result<Option<Acl>, S3Error> {
    Ok(match req {
        AclRequest::None => None,
        AclRequest::Canned(c) => Some(c.grants(owner, bucket_owner)),
        AclRequest::Grants(g) => Some(resolve_grants(api, owner, g)?),
    })
}

/// A name as users and tools know it, for `DisplayName`.
pub fn display_name(ctx: &Ctx<'_>, canonical_id: &str) -> Option<String> {
    if canonical_id == ctx.api.owner.id {
        return Some(ctx.api.owner.display_name.clone());
    }
    let snapshot = ctx.api.identities.snapshot();
    let name = snapshot
        .state
        .users
        .values()
        .find(|u| canonical_user_id(&u.id) == canonical_id)
        .map(|u| u.name.clone());
    name
}

fn acls_disabled() -> S3Error {
    S3Error::from_code(S3Code::AccessControlListNotSupported)
}

/// The stored header for a newly written object version (PutObject,
/// CopyObject, CreateMultipartUpload), from the request's ACL headers and
/// the bucket's ownership controls; `None` stores nothing (private to the
/// bucket owner). Under `BucketOwnerEnforced` only ACLs that give the
/// bucket owner full control and nobody anything are accepted.
pub fn acl_for_new_object(
    ctx: &Ctx<'_>,
    bucket: &str,
) -> Result<Option<(String, String)>, S3Error> {
    let req = acl_from_headers(ctx.headers())?;
    new_object_acl(
        ctx.api,
        ctx.engine,
        &ctx.principal.canonical_id,
        &req,
        bucket,
    )
}

/// [`acl_for_new_object`] for a request already read: written by
/// `writer` (a canonical id), asking for `req`.
pub fn new_object_acl(
    api: &ApiSettings,
    engine: &Engine,
    writer: &str,
    req: &AclRequest,
    bucket: &str,
) -> Result<Option<(String, String)>, S3Error> {
    let (_, ownership) = engine.bucket_access(bucket)?;
    let bucket_owner = bucket_owner(api, engine, bucket);
    let owner = match ownership {
        Some(ObjectOwnership::BucketOwnerEnforced) => bucket_owner.clone(),
        Some(ObjectOwnership::BucketOwnerPreferred)
            if *req == AclRequest::Canned(Canned::BucketOwnerFullControl) =>
        {
            bucket_owner.clone()
        }
        _ => writer.to_owned(),
    };
    let acl =
        requested_acl(api, req, &owner, &bucket_owner)?.unwrap_or_else(|| Acl::private(&owner));
    if ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
        if !acl.only_owner_full_control(&bucket_owner) {
            return Err(acls_disabled());
        }
        return Ok(None);
    }
    Ok(stored_entry(&acl, &bucket_owner))
}

/// The header entry that keeps `acl`, or none when it is the default.
pub fn stored_entry(acl: &Acl, bucket_owner: &str) -> Option<(String, String)> {
    (*acl != Acl::private(bucket_owner)).then(|| (ACL_HEADER.to_owned(), acl.encode()))
}

/// An object version's ACL as authorisation and GetObjectAcl see it: the
/// bucket owner's full control alone when ACLs are off, else the stored
/// ACL, else private to the bucket owner.
pub fn effective_object_acl(
    meta: &ObjectMeta,
    bucket_owner: &str,
    ownership: Option<ObjectOwnership>,
) -> Acl {
    if ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
        return Acl::private(bucket_owner);
    }
    meta.headers
        .iter()
        .find(|(n, _)| n == ACL_HEADER)
        .and_then(|(_, v)| Acl::decode(v))
        .unwrap_or_else(|| Acl::private(bucket_owner))
}

/// A bucket's ACL as authorisation and GetBucketAcl see it.
pub fn effective_bucket_acl(
    stored: Option<Acl>,
    bucket_owner: &str,
    ownership: Option<ObjectOwnership>,
) -> Acl {
    match (ownership, stored) {
        (Some(ObjectOwnership::BucketOwnerEnforced), _) | (_, None) => Acl::private(bucket_owner),
        (_, Some(acl)) => acl,
    }
}

/// Whether a stored header is one GET/HEAD and copies must not pass on.
pub fn is_internal_header(name: &str) -> bool {
    name == ACL_HEADER
}

/// CreateBucket's `x-amz-object-ownership` and ACL headers: the new
/// bucket's ownership controls and ACL (`None`: private). An ACL that
/// grants anything beyond the owner's full control is refused under
/// `BucketOwnerEnforced` with InvalidBucketAclWithObjectOwnership.
pub fn new_bucket_access(
    ctx: &Ctx<'_>,
    bucket: &str,
) -> Result<(Option<Acl>, ObjectOwnership), S3Error> {
    let ownership = match ctx.headers().get("x-amz-object-ownership") {
        None => NEW_BUCKET_OWNERSHIP,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(parse_ownership_name)
            .ok_or_else(|| invalid("Invalid x-amz-object-ownership header"))?,
    };
    let owner = bucket_owner(ctx.api, ctx.engine, bucket);
    let req = acl_from_headers(ctx.headers())?;
    let acl = requested_acl(ctx.api, &req, &owner, &owner)?;
    if let Some(a) = &acl {
        if ownership == ObjectOwnership::BucketOwnerEnforced && !a.only_owner_full_control(&owner) {
            return Err(S3Error::from_code(
                S3Code::InvalidBucketAclWithObjectOwnership,
            ));
        }
    }
    Ok((acl.filter(|a| *a != Acl::private(&owner)), ownership))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn grant_headers_name_ids_emails_and_uris() {
        let v = r#"id="abc", emailAddress="a@example.com",uri="http://acs.amazonaws.com/groups/global/AllUsers""#;
        assert_eq!(
            parse_grant_header(v).unwrap(),
            vec![
                GranteeRef::Id("abc".into()),
                GranteeRef::Email("a@example.com".into()),
                GranteeRef::Uri("http://acs.amazonaws.com/groups/global/AllUsers".into()),
            ]
        );
        // Unquoted values, as some tools send them.
        assert_eq!(
            parse_grant_header("id=abc").unwrap(),
            vec![GranteeRef::Id("abc".into())]
        );
        // A comma inside quotes is part of the value.
        assert_eq!(
            parse_grant_header(r#"emailAddress="a,b@example.com""#).unwrap(),
            vec![GranteeRef::Email("a,b@example.com".into())]
        );
        for bad in [
            "",
            "abc",
            "name=\"x\"",
            "id=\"\"",
            "id=\"a\"b\"",
            "id=\"a\",",
            "id=x,,id=y",
        ] {
            let e = parse_grant_header(bad).unwrap_err();
            assert_eq!(e.code, S3Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn acl_headers_are_canned_or_grants_never_both() {
        assert_eq!(acl_from_headers(&headers(&[])).unwrap(), AclRequest::None);
        assert_eq!(
            acl_from_headers(&headers(&[("x-amz-acl", "public-read")])).unwrap(),
            AclRequest::Canned(Canned::PublicRead)
        );
        assert_eq!(
            acl_from_headers(&headers(&[
                ("x-amz-grant-read", "id=\"a\""),
                ("x-amz-grant-full-control", "id=\"b\", uri=\"u\""),
            ]))
            .unwrap(),
            AclRequest::Grants(vec![
                (GranteeRef::Id("a".into()), Permission::Read),
                (GranteeRef::Id("b".into()), Permission::FullControl),
                (GranteeRef::Uri("u".into()), Permission::FullControl),
            ])
        );
        let e = acl_from_headers(&headers(&[("x-amz-acl", "publicread")])).unwrap_err();
        assert_eq!(e.code, S3Code::InvalidArgument);
        let e = acl_from_headers(&headers(&[
            ("x-amz-acl", "private"),
            ("x-amz-grant-read", "id=\"a\""),
        ]))
        .unwrap_err();
        assert_eq!(e.code, S3Code::InvalidRequest);
        let e = acl_from_headers(&headers(&[("x-amz-grant-write", "who=\"a\"")])).unwrap_err();
        assert_eq!(e.code, S3Code::InvalidArgument);
    }

    fn user(name: &str, id: &str, tags: &[(&str, &str)]) -> crate::iam::model::User {
        crate::iam::model::User {
            name: name.into(),
            id: id.into(),
            path: "/".into(),
            arn: String::new(),
            created_ms: 0,
            enabled: true,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            groups: Default::default(),
            inline: Default::default(),
            attached: Default::default(),
            tenant: String::new(),
        }
    }

    #[test]
    fn grantees_resolve_to_known_users_by_id_or_email_tag() {
        let mut state = IamState::default();
        state.users.insert(
            "alice".into(),
            user("alice", "AIDAALICE", &[("email", "Alice@Example.com")]),
        );
        state
            .users
            .insert("bob".into(), user("bob", "AIDABOB", &[("team", "x")]));
        let alice = canonical_user_id("AIDAALICE");
        let bob = canonical_user_id("AIDABOB");
        let grants = [
            (
                GranteeRef::Email("alice@example.com".into()),
                Permission::Read,
            ),
            (GranteeRef::Id(bob.clone()), Permission::WriteAcp),
            (GranteeRef::Id("root".into()), Permission::FullControl),
            (
                GranteeRef::Uri(Group::AuthenticatedUsers.uri().into()),
                Permission::Read,
            ),
        ];
        let acl = resolve_grants_in(&state, "root", "root", &grants).unwrap();
        assert_eq!(acl.owner, "root");
        let got: Vec<_> = acl
            .grants
            .iter()
            .map(|g| (g.grantee.clone(), g.permission))
            .collect();
        assert_eq!(
            got,
            vec![
                (Grantee::User(alice), Permission::Read),
                (Grantee::User(bob), Permission::WriteAcp),
                (Grantee::User("root".into()), Permission::FullControl),
                (Grantee::Group(Group::AuthenticatedUsers), Permission::Read),
            ]
        );
        let refused = |g: GranteeRef| {
            resolve_grants_in(&state, "root", "root", &[(g, Permission::Read)])
                .unwrap_err()
                .code
        };
        assert_eq!(
            refused(GranteeRef::Email("bob@example.com".into())),
            S3Code::UnresolvableGrantByEmailAddress
        );
        assert_eq!(
            refused(GranteeRef::Id(canonical_user_id("AIDAGONE"))),
            S3Code::InvalidArgument
        );
        assert_eq!(
            refused(GranteeRef::Uri(
                "http://acs.amazonaws.com/groups/global/Everyone".into()
            )),
            S3Code::InvalidArgument
        );
    }

    fn meta_with(headers: Vec<(String, String)>) -> ObjectMeta {
        ObjectMeta {
            version: 1,
            seq: 1,
            size: 0,
            etag: String::new(),
            modified_ms: 0,
            null: true,
            delete_marker: false,
            content_type: None,
            headers,
            user_meta: vec![],
            layout: (1, 0),
            rotation: 0,
            data: crate::engine::meta::DataLoc::Inline,
            tags: vec![],
            attrs: Vec::new(),
        }
    }

    #[test]
    fn objects_without_a_stored_acl_are_private_to_the_bucket_owner() {
        let old = meta_with(vec![("cache-control".into(), "no-cache".into())]);
        assert_eq!(effective_object_acl(&old, "bo", None), Acl::private("bo"));
        let public = Canned::PublicRead.grants("w", "bo");
        let entry = stored_entry(&public, "bo").unwrap();
        assert_eq!(entry.0, ACL_HEADER);
        assert!(http::HeaderName::from_bytes(entry.0.as_bytes()).is_err());
        let stored = meta_with(vec![entry]);
        assert_eq!(effective_object_acl(&stored, "bo", None), public);
        assert_eq!(
            effective_object_acl(&stored, "bo", Some(ObjectOwnership::ObjectWriter)),
            public
        );
        // ACLs off: only the bucket owner, whatever was stored.
        assert_eq!(
            effective_object_acl(&stored, "bo", Some(ObjectOwnership::BucketOwnerEnforced)),
            Acl::private("bo")
        );
        // The default is not stored.
        assert_eq!(stored_entry(&Acl::private("bo"), "bo"), None);
        assert!(stored_entry(&Acl::private("w"), "bo").is_some());
    }
}
