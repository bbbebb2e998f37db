//! The actions a policy can name (`s3:GetObject`, `iam:CreateUser` …), as
//! one closed enum so that a compiled policy statement is a bitset over it
//! and matching an action costs one bit test on the request path.
//!
//! Names follow AWS's service authorization reference. A policy may name an
//! action cairn does not know (another service's, or one it does not serve):
//! such a pattern simply matches nothing here.

use super::wildcard;

macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        /// One IAM action. `as_str` is its policy name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum Action {
            $($variant,)*
        }

        impl Action {
            /// Every action, in declaration order (`ALL[a as usize] == a`).
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }
    };
}

actions! {
    // s3: objects
    S3GetObject => "s3:GetObject",
    S3GetObjectVersion => "s3:GetObjectVersion",
    S3PutObject => "s3:PutObject",
    S3DeleteObject => "s3:DeleteObject",
    S3DeleteObjectVersion => "s3:DeleteObjectVersion",
    S3GetObjectAttributes => "s3:GetObjectAttributes",
    S3GetObjectVersionAttributes => "s3:GetObjectVersionAttributes",
    S3GetObjectTagging => "s3:GetObjectTagging",
    S3GetObjectVersionTagging => "s3:GetObjectVersionTagging",
    S3PutObjectTagging => "s3:PutObjectTagging",
    S3PutObjectVersionTagging => "s3:PutObjectVersionTagging",
    S3DeleteObjectTagging => "s3:DeleteObjectTagging",
    S3DeleteObjectVersionTagging => "s3:DeleteObjectVersionTagging",
    S3GetObjectAcl => "s3:GetObjectAcl",
    S3GetObjectVersionAcl => "s3:GetObjectVersionAcl",
    S3PutObjectAcl => "s3:PutObjectAcl",
    S3PutObjectVersionAcl => "s3:PutObjectVersionAcl",
    S3GetObjectRetention => "s3:GetObjectRetention",
    S3PutObjectRetention => "s3:PutObjectRetention",
    S3GetObjectLegalHold => "s3:GetObjectLegalHold",
    S3PutObjectLegalHold => "s3:PutObjectLegalHold",
    S3BypassGovernanceRetention => "s3:BypassGovernanceRetention",
    S3RestoreObject => "s3:RestoreObject",
    S3AbortMultipartUpload => "s3:AbortMultipartUpload",
    S3ListMultipartUploadParts => "s3:ListMultipartUploadParts",
    // s3: buckets
    S3ListAllMyBuckets => "s3:ListAllMyBuckets",
    S3CreateBucket => "s3:CreateBucket",
    S3DeleteBucket => "s3:DeleteBucket",
    S3ListBucket => "s3:ListBucket",
    S3ListBucketVersions => "s3:ListBucketVersions",
    S3ListBucketMultipartUploads => "s3:ListBucketMultipartUploads",
    S3GetBucketLocation => "s3:GetBucketLocation",
    S3GetBucketVersioning => "s3:GetBucketVersioning",
    S3PutBucketVersioning => "s3:PutBucketVersioning",
    S3GetBucketPolicy => "s3:GetBucketPolicy",
    S3PutBucketPolicy => "s3:PutBucketPolicy",
    S3DeleteBucketPolicy => "s3:DeleteBucketPolicy",
    S3GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
    S3GetBucketAcl => "s3:GetBucketAcl",
    S3PutBucketAcl => "s3:PutBucketAcl",
    S3GetBucketTagging => "s3:GetBucketTagging",
    S3PutBucketTagging => "s3:PutBucketTagging",
    S3GetBucketCors => "s3:GetBucketCORS",
    S3PutBucketCors => "s3:PutBucketCORS",
    S3GetLifecycleConfiguration => "s3:GetLifecycleConfiguration",
    S3PutLifecycleConfiguration => "s3:PutLifecycleConfiguration",
    S3GetEncryptionConfiguration => "s3:GetEncryptionConfiguration",
    S3PutEncryptionConfiguration => "s3:PutEncryptionConfiguration",
    S3GetBucketObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
    S3PutBucketObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
    S3GetBucketPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
    S3PutBucketPublicAccessBlock => "s3:PutBucketPublicAccessBlock",
    S3GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
    S3PutBucketOwnershipControls => "s3:PutBucketOwnershipControls",
    S3GetBucketNotification => "s3:GetBucketNotification",
    S3PutBucketNotification => "s3:PutBucketNotification",
    S3GetBucketWebsite => "s3:GetBucketWebsite",
    S3PutBucketWebsite => "s3:PutBucketWebsite",
    S3DeleteBucketWebsite => "s3:DeleteBucketWebsite",
    S3GetReplicationConfiguration => "s3:GetReplicationConfiguration",
    S3PutReplicationConfiguration => "s3:PutReplicationConfiguration",
    S3GetBucketLogging => "s3:GetBucketLogging",
    S3PutBucketLogging => "s3:PutBucketLogging",
    // iam: users and access keys
    IamCreateUser => "iam:CreateUser",
    IamGetUser => "iam:GetUser",
    IamUpdateUser => "iam:UpdateUser",
    IamListUsers => "iam:ListUsers",
    IamDeleteUser => "iam:DeleteUser",
    IamTagUser => "iam:TagUser",
    IamUntagUser => "iam:UntagUser",
    IamListUserTags => "iam:ListUserTags",
    IamCreateAccessKey => "iam:CreateAccessKey",
    IamListAccessKeys => "iam:ListAccessKeys",
    IamUpdateAccessKey => "iam:UpdateAccessKey",
    IamDeleteAccessKey => "iam:DeleteAccessKey",
    IamGetAccessKeyLastUsed => "iam:GetAccessKeyLastUsed",
    // iam: groups
    IamCreateGroup => "iam:CreateGroup",
    IamGetGroup => "iam:GetGroup",
    IamListGroups => "iam:ListGroups",
    IamDeleteGroup => "iam:DeleteGroup",
    IamAddUserToGroup => "iam:AddUserToGroup",
    IamRemoveUserFromGroup => "iam:RemoveUserFromGroup",
    IamListGroupsForUser => "iam:ListGroupsForUser",
    // iam: inline policies
    IamPutUserPolicy => "iam:PutUserPolicy",
    IamGetUserPolicy => "iam:GetUserPolicy",
    IamListUserPolicies => "iam:ListUserPolicies",
    IamDeleteUserPolicy => "iam:DeleteUserPolicy",
    IamPutGroupPolicy => "iam:PutGroupPolicy",
    IamGetGroupPolicy => "iam:GetGroupPolicy",
    IamListGroupPolicies => "iam:ListGroupPolicies",
    IamDeleteGroupPolicy => "iam:DeleteGroupPolicy",
    IamPutRolePolicy => "iam:PutRolePolicy",
    IamGetRolePolicy => "iam:GetRolePolicy",
    IamListRolePolicies => "iam:ListRolePolicies",
    IamDeleteRolePolicy => "iam:DeleteRolePolicy",
    // iam: managed policies
    IamCreatePolicy => "iam:CreatePolicy",
    IamGetPolicy => "iam:GetPolicy",
    IamGetPolicyVersion => "iam:GetPolicyVersion",
    IamListPolicies => "iam:ListPolicies",
    IamDeletePolicy => "iam:DeletePolicy",
    IamAttachUserPolicy => "iam:AttachUserPolicy",
    IamDetachUserPolicy => "iam:DetachUserPolicy",
    IamListAttachedUserPolicies => "iam:ListAttachedUserPolicies",
    IamAttachGroupPolicy => "iam:AttachGroupPolicy",
    IamDetachGroupPolicy => "iam:DetachGroupPolicy",
    IamListAttachedGroupPolicies => "iam:ListAttachedGroupPolicies",
    IamAttachRolePolicy => "iam:AttachRolePolicy",
    IamDetachRolePolicy => "iam:DetachRolePolicy",
    IamListAttachedRolePolicies => "iam:ListAttachedRolePolicies",
    // iam: roles
    IamCreateRole => "iam:CreateRole",
    IamGetRole => "iam:GetRole",
    IamListRoles => "iam:ListRoles",
    IamDeleteRole => "iam:DeleteRole",
    // admin: cairn's admin API (`/_cairn/admin/v1/`), named as MinIO names
    // its admin actions so MinIO admin policies carry over.
    AdminServerInfo => "admin:ServerInfo",
    AdminStorageInfo => "admin:StorageInfo",
    AdminDataUsageInfo => "admin:DataUsageInfo",
    AdminServerTrace => "admin:ServerTrace",
    AdminConsoleLog => "admin:ConsoleLog",
    AdminPrometheus => "admin:Prometheus",
    AdminHeal => "admin:Heal",
    AdminConfigUpdate => "admin:ConfigUpdate",
    AdminServiceRestart => "admin:ServiceRestart",
    AdminServiceStop => "admin:ServiceStop",
    AdminCreateUser => "admin:CreateUser",
    AdminDeleteUser => "admin:DeleteUser",
    AdminListUsers => "admin:ListUsers",
    AdminEnableUser => "admin:EnableUser",
    AdminDisableUser => "admin:DisableUser",
    AdminGetUser => "admin:GetUser",
    AdminAddUserToGroup => "admin:AddUserToGroup",
    AdminRemoveUserFromGroup => "admin:RemoveUserFromGroup",
    AdminGetGroup => "admin:GetGroup",
    AdminListGroups => "admin:ListGroups",
    AdminEnableGroup => "admin:EnableGroup",
    AdminDisableGroup => "admin:DisableGroup",
    AdminCreateServiceAccount => "admin:CreateServiceAccount",
    AdminUpdateServiceAccount => "admin:UpdateServiceAccount",
    AdminRemoveServiceAccount => "admin:RemoveServiceAccount",
    AdminListServiceAccounts => "admin:ListServiceAccounts",
    AdminListTemporaryAccounts => "admin:ListTemporaryAccounts",
    AdminCreatePolicy => "admin:CreatePolicy",
    AdminDeletePolicy => "admin:DeletePolicy",
    AdminGetPolicy => "admin:GetPolicy",
    AdminAttachUserOrGroupPolicy => "admin:AttachUserOrGroupPolicy",
    AdminUpdatePolicyAssociation => "admin:UpdatePolicyAssociation",
    AdminListUserPolicies => "admin:ListUserPolicies",
    AdminSetBucketQuota => "admin:SetBucketQuota",
    AdminGetBucketQuota => "admin:GetBucketQuota",
    AdminBucketInfo => "admin:BucketInfo",
    AdminExportIam => "admin:ExportIAM",
    AdminImportIam => "admin:ImportIAM",
    AdminKmsCreateKey => "admin:KMSCreateKey",
    AdminKmsListKeys => "admin:KMSListKeys",
    AdminKmsKeyStatus => "admin:KMSKeyStatus",
    AdminKmsRotateKey => "admin:KMSRotateKey",
    AdminKmsDisableKey => "admin:KMSDisableKey",
    AdminKmsEnableKey => "admin:KMSEnableKey",
    // sts
    StsAssumeRole => "sts:AssumeRole",
    StsGetCallerIdentity => "sts:GetCallerIdentity",
    StsGetSessionToken => "sts:GetSessionToken",
}

/// How many actions there are; the width of an [`ActionSet`].
pub const ACTION_COUNT: usize = Action::ALL.len();

const WORDS: usize = ACTION_COUNT.div_ceil(64);

impl Action {
    /// The action named exactly `name`; AWS compares action names without
    /// regard to case.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }

    /// The service prefix (`s3`, `iam`, `sts`, `admin`).
    pub fn service(self) -> &'static str {
        let name = self.as_str();
        name.split_once(':').map_or(name, |(service, _)| service)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of actions, one bit each: what a compiled statement's `Action` or
/// `NotAction` list matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ActionSet([u64; WORDS]);

impl ActionSet {
    pub const EMPTY: ActionSet = ActionSet([0; WORDS]);

    /// Every action a policy pattern (`s3:Get*`, `*`, `iam:?etUser`)
    /// matches, compared without regard to case as AWS does.
    pub fn matching(pattern: &str) -> ActionSet {
        let mut set = ActionSet::EMPTY;
        for &a in Action::ALL {
            if wildcard::matches_ignore_ascii_case(pattern, a.as_str()) {
                set.insert(a);
            }
        }
        set
    }

    pub fn insert(&mut self, a: Action) {
        let i = a as usize;
        self.0[i / 64] |= 1 << (i % 64);
    }

    pub fn contains(&self, a: Action) -> bool {
        let i = a as usize;
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    pub fn union(&self, other: &ActionSet) -> ActionSet {
        let mut out = *self;
        for (w, o) in out.0.iter_mut().zip(other.0) {
            *w |= o;
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_sits_at_its_own_index_with_a_unique_name() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
            assert_eq!(Action::parse(a.as_str()), Some(*a));
            assert_eq!(
                Action::ALL
                    .iter()
                    .filter(|b| b.as_str().eq_ignore_ascii_case(a.as_str()))
                    .count(),
                1,
                "{a} named twice"
            );
            assert!(matches!(a.service(), "s3" | "iam" | "sts" | "admin"), "{a}");
        }
    }

    #[test]
    fn action_names_are_compared_without_case() {
        assert_eq!(Action::parse("S3:getobject"), Some(Action::S3GetObject));
        assert_eq!(Action::parse("s3:GetObjects"), None);
        assert_eq!(Action::parse("ec2:RunInstances"), None);
    }

    #[test]
    fn patterns_match_the_actions_aws_would_match() {
        let get = ActionSet::matching("s3:Get*");
        assert!(get.contains(Action::S3GetObject));
        assert!(get.contains(Action::S3GetBucketPolicy));
        assert!(!get.contains(Action::S3PutObject));
        assert!(!get.contains(Action::IamGetUser));

        let all = ActionSet::matching("*");
        assert!(Action::ALL.iter().all(|a| all.contains(*a)));

        let s3 = ActionSet::matching("S3:*");
        assert!(s3.contains(Action::S3ListBucket));
        assert!(!s3.contains(Action::StsAssumeRole));

        let one = ActionSet::matching("iam:?etUser");
        assert!(one.contains(Action::IamGetUser));
        assert!(!one.contains(Action::IamCreateUser));

        assert!(ActionSet::matching("ec2:*").is_empty());

        let admin = ActionSet::matching("admin:*");
        assert!(admin.contains(Action::AdminServerInfo));
        assert!(admin.contains(Action::AdminHeal));
        assert!(!admin.contains(Action::IamCreateUser));
        assert!(!s3.contains(Action::AdminListUsers));
        let read = ActionSet::matching("admin:List*");
        assert!(read.contains(Action::AdminListUsers));
        assert!(!read.contains(Action::AdminCreateUser));
        assert!(ActionSet::matching("s3:GetObject")
            .union(&one)
            .contains(Action::IamGetUser));
    }
}
