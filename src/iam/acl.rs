//! S3 access control lists, as a pure model: grants of five permissions to
//! canonical users and to S3's predefined groups, the canned ACLs, and the
//! question authorisation asks of them ([`acl_allows`], [`acl_permission`]).
//!
//! E-mail grantees do not appear here: S3 resolves an e-mail address to the
//! account's canonical user when the ACL is written, and so does cairn (the
//! S3 layer, from the user's `email` tag). Parsing of headers and XML, and
//! the ownership rules, live in the S3 layer.

use serde::{Deserialize, Serialize};

use super::action::Action;

/// S3 allows at most this many grants in one ACL.
pub const MAX_GRANTS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Read,
        Permission::Write,
        Permission::ReadAcp,
        Permission::WriteAcp,
        Permission::FullControl,
    ];

    /// The name in XML and in the `x-amz-grant-*` header suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether a grant of `self` gives `wanted`: FULL_CONTROL gives all.
    pub fn covers(self, wanted: Permission) -> bool {
        self == wanted || self == Permission::FullControl
    }
}

/// S3's predefined groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Group {
    /// Everyone, signed or not.
    AllUsers,
    /// Any signed request (any identity this node knows).
    AuthenticatedUsers,
    /// S3's server access log writer; no request here is ever it.
    LogDelivery,
}

impl Group {
    pub const ALL: [Group; 3] = [
        Group::AllUsers,
        Group::AuthenticatedUsers,
        Group::LogDelivery,
    ];

    pub fn uri(self) -> &'static str {
        match self {
            Group::AllUsers => "http://acs.amazonaws.com/groups/global/AllUsers",
            Group::AuthenticatedUsers => {
                "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
            }
            Group::LogDelivery => "http://acs.amazonaws.com/groups/s3/LogDelivery",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.uri() == uri)
    }
    /// Whether a grant to this group makes a resource public (S3's
    /// BlockPublicAcls and IgnorePublicAcls: AllUsers and
    /// AuthenticatedUsers).
    pub fn is_public(self) -> bool {
        matches!(self, Group::AllUsers | Group::AuthenticatedUsers)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grantee {
    /// A canonical user id (64 hex digits).
    User(String),
    Group(Group),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// An ACL: its owner's canonical id and the grants, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub owner: String,
    pub grants: Vec<Grant>,
}

/// The canned ACLs (`x-amz-acl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canned {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    AwsExecRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
    LogDeliveryWrite,
}

impl Canned {
    pub const ALL: [Canned; 8] = [
        Canned::Private,
        Canned::PublicRead,
        Canned::PublicReadWrite,
        Canned::AuthenticatedRead,
        Canned::AwsExecRead,
        Canned::BucketOwnerRead,
        Canned::BucketOwnerFullControl,
        Canned::LogDeliveryWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Canned::Private => "private",
            Canned::PublicRead => "public-read",
            Canned::PublicReadWrite => "public-read-write",
            Canned::AuthenticatedRead => "authenticated-read",
            Canned::AwsExecRead => "aws-exec-read",
            Canned::BucketOwnerRead => "bucket-owner-read",
            Canned::BucketOwnerFullControl => "bucket-owner-full-control",
            Canned::LogDeliveryWrite => "log-delivery-write",
        }
    }

    pub fn parse(s: &str) -> Option<Canned> {
        Canned::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The grants, as S3's user guide ("Canned ACL") lists them. `owner`
    /// owns the resource; `bucket_owner` is the bucket's owner (the same
    /// for a bucket, where the `bucket-owner-*` ACLs are plain private).
    /// `aws-exec-read` grants EC2's AMI reader, which never calls here: it
    /// is private.
    pub fn grants(self, owner: &str, bucket_owner: &str) -> Acl {
        let mut acl = Acl::private(owner);
        let group = |g, permission| Grant {
            grantee: Grantee::Group(g),
            permission,
        };
        let extra: Vec<Grant> = match self {
            Canned::Private | Canned::AwsExecRead => vec![],
            Canned::PublicRead => vec![group(Group::AllUsers, Permission::Read)],
            Canned::PublicReadWrite => vec![
                group(Group::AllUsers, Permission::Read),
                group(Group::AllUsers, Permission::Write),
            ],
            Canned::AuthenticatedRead => vec![group(Group::AuthenticatedUsers, Permission::Read)],
            Canned::BucketOwnerRead | Canned::BucketOwnerFullControl => {
                let permission = if self == Canned::BucketOwnerRead {
                    Permission::Read
                } else {
                    Permission::FullControl
                };
                vec![Grant {
                    grantee: Grantee::User(bucket_owner.to_owned()),
                    permission,
                }]
            }
            Canned::LogDeliveryWrite => vec![
                group(Group::LogDelivery, Permission::Write),
                group(Group::LogDelivery, Permission::ReadAcp),
            ],
        };
        for g in extra {
            acl.push(g);
        }
        acl
    }
}

impl Acl {
    /// The default: the owner has FULL_CONTROL, nobody else anything.
    pub fn private(owner: &str) -> Acl {
        Acl {
            owner: owner.to_owned(),
            grants: vec![Grant {
                grantee: Grantee::User(owner.to_owned()),
                permission: Permission::FullControl,
            }],
        }
    }

    /// Adds a grant unless the same one is already there.
    pub fn push(&mut self, g: Grant) {
        if !self.grants.contains(&g) {
            self.grants.push(g);
        }
    }

    /// Whether this ACL gives anyone but `owner` anything, i.e. whether it
    /// says more than "`owner` has FULL_CONTROL". Buckets whose ownership
    /// controls are `BucketOwnerEnforced` accept only such ACLs.
    pub fn only_owner_full_control(&self, owner: &str) -> bool {
        self.grants.iter().all(|g| {
            g.grantee == Grantee::User(owner.to_owned()) && g.permission == Permission::FullControl
        })
    }

    /// Whether some grant goes to a public group ([`Group::is_public`]).
    pub fn is_public(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(g.grantee, Grantee::Group(group) if group.is_public()))
    }

    /// The text form kept in the object's metadata.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(s: &str) -> Option<Acl> {
        serde_json::from_str(s).ok()
    }
}

/// Who is asking, as ACLs see it: a canonical user id when the request was
/// signed by a known identity, and whether it was signed at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller<'a> {
    pub canonical_id: Option<&'a str>,
    pub authenticated: bool,
}

impl Caller<'_> {
    pub const ANONYMOUS: Caller<'static> = Caller {
        canonical_id: None,
        authenticated: false,
    };
}

/// Whether `acl` grants `caller` `wanted`. The owner always may read and
/// write the ACL itself (S3: "the owner … always has READ_ACP and
/// WRITE_ACP"), whatever the grants say.
pub fn acl_allows(acl: &Acl, caller: Caller<'_>, wanted: Permission) -> bool {
    if matches!(wanted, Permission::ReadAcp | Permission::WriteAcp)
        && caller.canonical_id == Some(acl.owner.as_str())
    {
        return true;
    }
    acl.grants.iter().any(|g| {
        g.permission.covers(wanted)
            && match &g.grantee {
                Grantee::User(id) => caller.canonical_id == Some(id.as_str()),
                Grantee::Group(Group::AllUsers) => true,
                Grantee::Group(Group::AuthenticatedUsers) => caller.authenticated,
                Grantee::Group(Group::LogDelivery) => false,
            }
    })
}

/// Which ACL an action is decided by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AclTarget {
    Bucket,
    Object,
}

/// The ACL permission that allows `action`, and on which ACL it is looked
/// up (S3 user guide, "Access control list (ACL) overview", mapping of ACL
/// permissions to access policy permissions). Writing an object is a WRITE
/// on its bucket. `None`: no ACL grant allows the action (only policies
/// and ownership do).
pub fn acl_permission(action: Action) -> Option<(AclTarget, Permission)> {
    use AclTarget::{Bucket, Object};
    use Action::*;
    Some(match action {
        S3GetObject | S3GetObjectVersion => (Object, Permission::Read),
        S3GetObjectAcl | S3GetObjectVersionAcl => (Object, Permission::ReadAcp),
        S3PutObjectAcl | S3PutObjectVersionAcl => (Object, Permission::WriteAcp),
        S3ListBucket | S3ListBucketVersions | S3ListBucketMultipartUploads => {
            (Bucket, Permission::Read)
        }
        S3PutObject | S3DeleteObject => (Bucket, Permission::Write),
        S3GetBucketAcl => (Bucket, Permission::ReadAcp),
        S3PutBucketAcl => (Bucket, Permission::WriteAcp),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "aaaa";
    const OTHER: &str = "bbbb";

    fn user(id: &str) -> Caller<'_> {
        Caller {
            canonical_id: Some(id),
            authenticated: true,
        }
    }

    fn grantees(acl: &Acl) -> Vec<(Grantee, Permission)> {
        acl.grants
            .iter()
            .map(|g| (g.grantee.clone(), g.permission))
            .collect()
    }

    #[test]
    fn canned_acls_grant_what_the_user_guide_lists() {
        let owner_fc = (Grantee::User(OWNER.into()), Permission::FullControl);
        let all = |p| (Grantee::Group(Group::AllUsers), p);
        let cases: [(Canned, Vec<(Grantee, Permission)>); 8] = [
            (Canned::Private, vec![owner_fc.clone()]),
            (Canned::AwsExecRead, vec![owner_fc.clone()]),
            (
                Canned::PublicRead,
                vec![owner_fc.clone(), all(Permission::Read)],
            ),
            (
                Canned::PublicReadWrite,
                vec![
                    owner_fc.clone(),
                    all(Permission::Read),
                    all(Permission::Write),
                ],
            ),
            (
                Canned::AuthenticatedRead,
                vec![
                    owner_fc.clone(),
                    (Grantee::Group(Group::AuthenticatedUsers), Permission::Read),
                ],
            ),
            (
                Canned::BucketOwnerRead,
                vec![
                    owner_fc.clone(),
                    (Grantee::User(OTHER.into()), Permission::Read),
                ],
            ),
            (
                Canned::BucketOwnerFullControl,
                vec![
                    owner_fc.clone(),
                    (Grantee::User(OTHER.into()), Permission::FullControl),
                ],
            ),
            (
                Canned::LogDeliveryWrite,
                vec![
                    owner_fc.clone(),
                    (Grantee::Group(Group::LogDelivery), Permission::Write),
                    (Grantee::Group(Group::LogDelivery), Permission::ReadAcp),
                ],
            ),
        ];
        for (canned, want) in cases {
            let acl = canned.grants(OWNER, OTHER);
            assert_eq!(acl.owner, OWNER);
            assert_eq!(grantees(&acl), want, "{}", canned.as_str());
            assert_eq!(Canned::parse(canned.as_str()), Some(canned));
        }
        // The object writer is the bucket owner: one grant, not two.
        assert_eq!(
            grantees(&Canned::BucketOwnerFullControl.grants(OWNER, OWNER)),
            vec![owner_fc]
        );
        assert_eq!(Canned::parse("Private"), None);
        assert_eq!(Canned::parse("public_read"), None);
    }

    #[test]
    fn acl_allows_follows_grantees_and_full_control() {
        let public = Canned::PublicRead.grants(OWNER, OWNER);
        assert!(acl_allows(&public, Caller::ANONYMOUS, Permission::Read));
        assert!(!acl_allows(&public, Caller::ANONYMOUS, Permission::Write));
        assert!(!acl_allows(&public, Caller::ANONYMOUS, Permission::ReadAcp));
        assert!(acl_allows(&public, user(OTHER), Permission::Read));
        assert!(!acl_allows(&public, user(OTHER), Permission::WriteAcp));
        for p in Permission::ALL {
            assert!(acl_allows(&public, user(OWNER), p), "{p:?}");
        }

        let authed = Canned::AuthenticatedRead.grants(OWNER, OWNER);
        assert!(!acl_allows(&authed, Caller::ANONYMOUS, Permission::Read));
        assert!(acl_allows(&authed, user(OTHER), Permission::Read));
        let signed_unknown = Caller {
            canonical_id: None,
            authenticated: true,
        };
        assert!(acl_allows(&authed, signed_unknown, Permission::Read));

        let private = Acl::private(OWNER);
        assert!(!acl_allows(&private, user(OTHER), Permission::Read));
        assert!(!acl_allows(&private, Caller::ANONYMOUS, Permission::Read));

        // A grant to one user gives that user only what it names.
        let mut acl = Acl::private(OWNER);
        acl.push(Grant {
            grantee: Grantee::User(OTHER.into()),
            permission: Permission::ReadAcp,
        });
        assert!(acl_allows(&acl, user(OTHER), Permission::ReadAcp));
        assert!(!acl_allows(&acl, user(OTHER), Permission::Read));
        assert!(!acl_allows(&acl, user("cccc"), Permission::ReadAcp));

        // The owner keeps READ_ACP and WRITE_ACP even with no grant left.
        let bare = Acl {
            owner: OWNER.into(),
            grants: vec![],
        };
        assert!(acl_allows(&bare, user(OWNER), Permission::WriteAcp));
        assert!(acl_allows(&bare, user(OWNER), Permission::ReadAcp));
        assert!(!acl_allows(&bare, user(OWNER), Permission::Read));

        // LogDelivery is never a caller here.
        let log = Canned::LogDeliveryWrite.grants(OWNER, OWNER);
        assert!(!acl_allows(&log, user(OTHER), Permission::Write));
        assert!(!acl_allows(&log, Caller::ANONYMOUS, Permission::Write));
    }

    #[test]
    fn actions_map_to_the_acl_that_decides_them() {
        use Action::*;
        let cases = [
            (S3GetObject, Some((AclTarget::Object, Permission::Read))),
            (
                S3GetObjectVersion,
                Some((AclTarget::Object, Permission::Read)),
            ),
            (S3ListBucket, Some((AclTarget::Bucket, Permission::Read))),
            (S3PutObject, Some((AclTarget::Bucket, Permission::Write))),
            (S3DeleteObject, Some((AclTarget::Bucket, Permission::Write))),
            (
                S3GetObjectAcl,
                Some((AclTarget::Object, Permission::ReadAcp)),
            ),
            (
                S3PutObjectVersionAcl,
                Some((AclTarget::Object, Permission::WriteAcp)),
            ),
            (
                S3GetBucketAcl,
                Some((AclTarget::Bucket, Permission::ReadAcp)),
            ),
            (
                S3PutBucketAcl,
                Some((AclTarget::Bucket, Permission::WriteAcp)),
            ),
            (S3PutBucketPolicy, None),
            (S3DeleteBucket, None),
            (S3PutObjectTagging, None),
        ];
        for (action, want) in cases {
            assert_eq!(acl_permission(action), want, "{}", action.as_str());
        }
    }

    #[test]
    fn only_owner_full_control_spots_any_other_grant() {
        assert!(Acl::private(OWNER).only_owner_full_control(OWNER));
        assert!(Canned::BucketOwnerFullControl
            .grants(OWNER, OWNER)
            .only_owner_full_control(OWNER));
        assert!(!Canned::PublicRead
            .grants(OWNER, OWNER)
            .only_owner_full_control(OWNER));
        // Private, but owned by someone else than the bucket owner.
        assert!(!Acl::private(OTHER).only_owner_full_control(OWNER));
    }

    #[test]
    fn stored_text_round_trips() {
        let acl = Canned::LogDeliveryWrite.grants(OWNER, OTHER);
        assert_eq!(Acl::decode(&acl.encode()), Some(acl));
        assert_eq!(Acl::decode("not json"), None);
    }
}
