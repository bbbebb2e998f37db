//! IAM and STS Query API requests: a form (`Action=CreateUser&UserName=…`)
//! parsed into a typed [`IamRequest`]. Pure: shape only (required parameters,
//! numbers, enumerations, member lists); names and policies are judged by
//! the model and the policy compiler.

use std::collections::BTreeMap;

use crate::iam::action::Action;
use crate::iam::model::KeyStatus;

/// Forms larger than this are refused before parsing. IAM's largest
/// parameter is a policy document (at most 131,072 characters for a
/// managed policy with URL encoding overhead well under 4×).
pub const MAX_FORM_BYTES: usize = 512 * 1024;

/// More parameters than any IAM action takes, with room for 50 tags.
const MAX_PARAMS: usize = 256;

/// AWS's default and largest page for `MaxItems`.
pub const DEFAULT_MAX_ITEMS: u32 = 100;
const MAX_MAX_ITEMS: u32 = 1000;

/// The most `member.N` entries read from one list parameter (AWS allows
/// 50 tags on a user or role).
const MAX_LIST_MEMBERS: usize = 50;

/// STS durations, in seconds: AWS's bounds for AssumeRole.
pub const MIN_SESSION_SECS: u32 = 900;
pub const MAX_SESSION_SECS: u32 = 43_200;
pub const DEFAULT_SESSION_SECS: u32 = 3_600;

/// A request that could not be read; `code` is IAM's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub code: &'static str,
    pub message: String,
}

fn validation(message: String) -> RequestError {
    RequestError {
        code: "ValidationError",
        message,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A page request: `Marker` from the previous page's answer, `MaxItems`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub marker: Option<String>,
    pub max_items: u32,
}

/// `ListPolicies`' `Scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    All,
    Aws,
    Local,
}

/// Whose inline policies or attachments a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    User(String),
    Group(String),
    Role(String),
}

/// One IAM or STS action with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamRequest {
    CreateUser {
        name: String,
        path: Option<String>,
        tags: Vec<Tag>,
    },
    /// Without a name: the caller.
    GetUser {
        name: Option<String>,
    },
    UpdateUser {
        name: String,
        new_name: Option<String>,
        new_path: Option<String>,
    },
    ListUsers {
        path_prefix: Option<String>,
        page: Page,
    },
    DeleteUser {
        name: String,
    },
    TagUser {
        name: String,
        tags: Vec<Tag>,
    },
    UntagUser {
        name: String,
        keys: Vec<String>,
    },
    ListUserTags {
        name: String,
        page: Page,
    },
    /// Without a user name: a key for the caller.
    CreateAccessKey {
        user: Option<String>,
    },
    ListAccessKeys {
        user: Option<String>,
        page: Page,
    },
    UpdateAccessKey {
        user: Option<String>,
        key_id: String,
        status: KeyStatus,
    },
    DeleteAccessKey {
        user: Option<String>,
        key_id: String,
    },
    GetAccessKeyLastUsed {
        key_id: String,
    },
    CreateGroup {
        name: String,
        path: Option<String>,
    },
    GetGroup {
        name: String,
        page: Page,
    },
    ListGroups {
        path_prefix: Option<String>,
        page: Page,
    },
    DeleteGroup {
        name: String,
    },
    AddUserToGroup {
        group: String,
        user: String,
    },
    RemoveUserFromGroup {
        group: String,
        user: String,
    },
    ListGroupsForUser {
        user: String,
        page: Page,
    },
    PutInlinePolicy {
        holder: Holder,
        policy_name: String,
        document: String,
    },
    GetInlinePolicy {
        holder: Holder,
        policy_name: String,
    },
    ListInlinePolicies {
        holder: Holder,
        page: Page,
    },
    DeleteInlinePolicy {
        holder: Holder,
        policy_name: String,
    },
    CreatePolicy {
        name: String,
        path: Option<String>,
        document: String,
        description: Option<String>,
        tags: Vec<Tag>,
    },
    GetPolicy {
        arn: String,
    },
    GetPolicyVersion {
        arn: String,
        version_id: String,
    },
    ListPolicies {
        scope: PolicyScope,
        only_attached: bool,
        path_prefix: Option<String>,
        page: Page,
    },
    DeletePolicy {
        arn: String,
    },
    AttachPolicy {
        holder: Holder,
        arn: String,
    },
    DetachPolicy {
        holder: Holder,
        arn: String,
    },
    ListAttachedPolicies {
        holder: Holder,
        path_prefix: Option<String>,
        page: Page,
    },
    CreateRole {
        name: String,
        path: Option<String>,
        trust_policy: String,
        description: Option<String>,
        max_session_secs: Option<u32>,
        tags: Vec<Tag>,
    },
    GetRole {
        name: String,
    },
    ListRoles {
        path_prefix: Option<String>,
        page: Page,
    },
    DeleteRole {
        name: String,
    },
    AssumeRole {
        role_arn: Option<String>,
        session_name: Option<String>,
        duration_secs: u32,
        policy: Option<String>,
    },
    GetCallerIdentity,
    GetSessionToken {
        /// `None`: the default, which depends on the caller.
        duration_secs: Option<u32>,
    },
}

impl IamRequest {
    /// The action a policy must allow for this request.
    pub fn action(&self) -> Action {
        use IamRequest as R;
        match self {
            R::CreateUser { .. } => Action::IamCreateUser,
            R::GetUser { .. } => Action::IamGetUser,
            R::UpdateUser { .. } => Action::IamUpdateUser,
            R::ListUsers { .. } => Action::IamListUsers,
            R::DeleteUser { .. } => Action::IamDeleteUser,
            R::TagUser { .. } => Action::IamTagUser,
            R::UntagUser { .. } => Action::IamUntagUser,
            R::ListUserTags { .. } => Action::IamListUserTags,
            R::CreateAccessKey { .. } => Action::IamCreateAccessKey,
            R::ListAccessKeys { .. } => Action::IamListAccessKeys,
            R::UpdateAccessKey { .. } => Action::IamUpdateAccessKey,
            R::DeleteAccessKey { .. } => Action::IamDeleteAccessKey,
            R::GetAccessKeyLastUsed { .. } => Action::IamGetAccessKeyLastUsed,
            R::CreateGroup { .. } => Action::IamCreateGroup,
            R::GetGroup { .. } => Action::IamGetGroup,
            R::ListGroups { .. } => Action::IamListGroups,
            R::DeleteGroup { .. } => Action::IamDeleteGroup,
            R::AddUserToGroup { .. } => Action::IamAddUserToGroup,
            R::RemoveUserFromGroup { .. } => Action::IamRemoveUserFromGroup,
            R::ListGroupsForUser { .. } => Action::IamListGroupsForUser,
            R::PutInlinePolicy { holder, .. } => holder.pick(
                Action::IamPutUserPolicy,
                Action::IamPutGroupPolicy,
                Action::IamPutRolePolicy,
            ),
            R::GetInlinePolicy { holder, .. } => holder.pick(
                Action::IamGetUserPolicy,
                Action::IamGetGroupPolicy,
                Action::IamGetRolePolicy,
            ),
            R::ListInlinePolicies { holder, .. } => holder.pick(
                Action::IamListUserPolicies,
                Action::IamListGroupPolicies,
                Action::IamListRolePolicies,
            ),
            R::DeleteInlinePolicy { holder, .. } => holder.pick(
                Action::IamDeleteUserPolicy,
                Action::IamDeleteGroupPolicy,
                Action::IamDeleteRolePolicy,
            ),
            R::CreatePolicy { .. } => Action::IamCreatePolicy,
            R::GetPolicy { .. } => Action::IamGetPolicy,
            R::GetPolicyVersion { .. } => Action::IamGetPolicyVersion,
            R::ListPolicies { .. } => Action::IamListPolicies,
            R::DeletePolicy { .. } => Action::IamDeletePolicy,
            R::AttachPolicy { holder, .. } => holder.pick(
                Action::IamAttachUserPolicy,
                Action::IamAttachGroupPolicy,
                Action::IamAttachRolePolicy,
            ),
            R::DetachPolicy { holder, .. } => holder.pick(
                Action::IamDetachUserPolicy,
                Action::IamDetachGroupPolicy,
                Action::IamDetachRolePolicy,
            ),
            R::ListAttachedPolicies { holder, .. } => holder.pick(
                Action::IamListAttachedUserPolicies,
                Action::IamListAttachedGroupPolicies,
                Action::IamListAttachedRolePolicies,
            ),
            R::CreateRole { .. } => Action::IamCreateRole,
            R::GetRole { .. } => Action::IamGetRole,
            R::ListRoles { .. } => Action::IamListRoles,
            R::DeleteRole { .. } => Action::IamDeleteRole,
            R::AssumeRole { .. } => Action::StsAssumeRole,
            R::GetCallerIdentity => Action::StsGetCallerIdentity,
            R::GetSessionToken { .. } => Action::StsGetSessionToken,
        }
    }

    /// The action's name as the Query API spells it, for the response
    /// document (`<CreateUserResponse>`).
    pub fn name(&self) -> &'static str {
        let action = self.action().as_str();
        action.split_once(':').map_or(action, |(_, name)| name)
    }
}

impl Holder {
    fn pick(&self, user: Action, group: Action, role: Action) -> Action {
        match self {
            Holder::User(_) => user,
            Holder::Group(_) => group,
            Holder::Role(_) => role,
        }
    }
}

/// A decoded form: every parameter once (a repeated name is refused, as
/// its meaning would be ambiguous).
struct Form(BTreeMap<String, String>);

impl Form {
    fn parse(body: &[u8]) -> Result<Form, RequestError> {
        if body.len() > MAX_FORM_BYTES {
            return Err(validation(format!(
                "The request body is larger than {MAX_FORM_BYTES} bytes."
            )));
        }
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if map.len() == MAX_PARAMS {
                return Err(validation(format!(
                    "The request has more than {MAX_PARAMS} parameters."
                )));
            }
            if map.insert(k.clone().into_owned(), v.into_owned()).is_some() {
                return Err(RequestError {
                    code: "InvalidParameterCombination",
                    message: format!("The parameter {k} is given more than once."),
                });
            }
        }
        Ok(Form(map))
    }

    fn opt(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn req(&self, name: &str) -> Result<String, RequestError> {
        self.opt(name).ok_or_else(|| {
            validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy \
                 constraint: Member must not be null",
                lower_first(name)
            ))
        })
    }

    fn u32_in(&self, name: &str, min: u32, max: u32) -> Result<Option<u32>, RequestError> {
        let Some(v) = self.0.get(name) else {
            return Ok(None);
        };
        match v.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(validation(format!(
                "1 validation error detected: Value '{v}' at '{}' failed to satisfy \
                 constraint: Member must have value between {min} and {max}",
                lower_first(name)
            ))),
        }
    }

    fn bool(&self, name: &str) -> Result<bool, RequestError> {
        match self.0.get(name).map(String::as_str) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(validation(format!(
                "Invalid value '{v}' for {name}: expected true or false"
            ))),
        }
    }

    fn page(&self) -> Result<Page, RequestError> {
        Ok(Page {
            marker: self.opt("Marker"),
            max_items: self
                .u32_in("MaxItems", 1, MAX_MAX_ITEMS)?
                .unwrap_or(DEFAULT_MAX_ITEMS),
        })
    }

    /// `Name.member.1`, `Name.member.2` … in order, stopping at the first
    /// gap as the AWS SDKs never leave one.
    fn members(&self, name: &str) -> Result<Vec<String>, RequestError> {
        let mut out = Vec::new();
        for i in 1.. {
            let Some(v) = self.0.get(&format!("{name}.member.{i}")) else {
                break;
            };
            if out.len() == MAX_LIST_MEMBERS {
                return Err(RequestError {
                    code: "LimitExceeded",
                    message: format!("{name} has more than {MAX_LIST_MEMBERS} members."),
                });
            }
            out.push(v.clone());
        }
        Ok(out)
    }

    /// `Tags.member.N.Key` / `.Value`.
    fn tags(&self) -> Result<Vec<Tag>, RequestError> {
        let mut out = Vec::new();
        for i in 1.. {
            let Some(key) = self.0.get(&format!("Tags.member.{i}.Key")) else {
                break;
            };
            if out.len() == MAX_LIST_MEMBERS {
                return Err(RequestError {
                    code: "LimitExceeded",
                    message: format!("More than {MAX_LIST_MEMBERS} tags."),
                });
            }
            let value = self
                .opt(&format!("Tags.member.{i}.Value"))
                .unwrap_or_default();
            out.push(Tag {
                key: key.clone(),
                value,
            });
        }
        Ok(out)
    }

    fn status(&self) -> Result<KeyStatus, RequestError> {
        match self.req("Status")?.as_str() {
            "Active" => Ok(KeyStatus::Active),
            "Inactive" => Ok(KeyStatus::Inactive),
            v => Err(validation(format!(
                "1 validation error detected: Value '{v}' at 'status' failed to satisfy \
                 constraint: Member must satisfy enum value set: [Active, Inactive]"
            ))),
        }
    }

    fn scope(&self) -> Result<PolicyScope, RequestError> {
        match self.0.get("Scope").map(String::as_str) {
            None | Some("All") => Ok(PolicyScope::All),
            Some("AWS") => Ok(PolicyScope::Aws),
            Some("Local") => Ok(PolicyScope::Local),
            Some(v) => Err(validation(format!(
                "1 validation error detected: Value '{v}' at 'scope' failed to satisfy \
                 constraint: Member must satisfy enum value set: [All, AWS, Local]"
            ))),
        }
    }
}

/// AWS's messages name parameters in lower camel case (`userName`).
fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Parses a Query API form (the POST body, or the query string of a GET).
pub fn parse(form: &[u8]) -> Result<IamRequest, RequestError> {
    let f = Form::parse(form)?;
    let action = f.opt("Action").ok_or_else(|| RequestError {
        code: "MissingAction",
        message: "Missing Action".to_owned(),
    })?;
    use IamRequest as R;
    let user = || f.req("UserName").map(Holder::User);
    let group = || f.req("GroupName").map(Holder::Group);
    let role = || f.req("RoleName").map(Holder::Role);
    Ok(match action.as_str() {
        "CreateUser" => R::CreateUser {
            name: f.req("UserName")?,
            path: f.opt("Path"),
            tags: f.tags()?,
        },
        "GetUser" => R::GetUser {
            name: f.opt("UserName"),
        },
        "UpdateUser" => R::UpdateUser {
            name: f.req("UserName")?,
            new_name: f.opt("NewUserName"),
            new_path: f.opt("NewPath"),
        },
        "ListUsers" => R::ListUsers {
            path_prefix: f.opt("PathPrefix"),
            page: f.page()?,
        },
        "DeleteUser" => R::DeleteUser {
            name: f.req("UserName")?,
        },
        "TagUser" => R::TagUser {
            name: f.req("UserName")?,
            tags: f.tags()?,
        },
        "UntagUser" => R::UntagUser {
            name: f.req("UserName")?,
            keys: f.members("TagKeys")?,
        },
        "ListUserTags" => R::ListUserTags {
            name: f.req("UserName")?,
            page: f.page()?,
        },
        "CreateAccessKey" => R::CreateAccessKey {
            user: f.opt("UserName"),
        },
        "ListAccessKeys" => R::ListAccessKeys {
            user: f.opt("UserName"),
            page: f.page()?,
        },
        "UpdateAccessKey" => R::UpdateAccessKey {
            user: f.opt("UserName"),
            key_id: f.req("AccessKeyId")?,
            status: f.status()?,
        },
        "DeleteAccessKey" => R::DeleteAccessKey {
            user: f.opt("UserName"),
            key_id: f.req("AccessKeyId")?,
        },
        "GetAccessKeyLastUsed" => R::GetAccessKeyLastUsed {
            key_id: f.req("AccessKeyId")?,
        },
        "CreateGroup" => R::CreateGroup {
            name: f.req("GroupName")?,
            path: f.opt("Path"),
        },
        "GetGroup" => R::GetGroup {
            name: f.req("GroupName")?,
            page: f.page()?,
        },
        "ListGroups" => R::ListGroups {
            path_prefix: f.opt("PathPrefix"),
            page: f.page()?,
        },
        "DeleteGroup" => R::DeleteGroup {
            name: f.req("GroupName")?,
        },
        "AddUserToGroup" => R::AddUserToGroup {
            group: f.req("GroupName")?,
            user: f.req("UserName")?,
        },
        "RemoveUserFromGroup" => R::RemoveUserFromGroup {
            group: f.req("GroupName")?,
            user: f.req("UserName")?,
        },
        "ListGroupsForUser" => R::ListGroupsForUser {
            user: f.req("UserName")?,
            page: f.page()?,
        },
        "PutUserPolicy" | "PutGroupPolicy" | "PutRolePolicy" => R::PutInlinePolicy {
            holder: match action.as_str() {
                "PutUserPolicy" => user(),
                "PutGroupPolicy" => group(),
                _ => role(),
            }?,
            policy_name: f.req("PolicyName")?,
            document: f.req("PolicyDocument")?,
        },
        "GetUserPolicy" | "GetGroupPolicy" | "GetRolePolicy" => R::GetInlinePolicy {
            holder: match action.as_str() {
                "GetUserPolicy" => user(),
                "GetGroupPolicy" => group(),
                _ => role(),
            }?,
            policy_name: f.req("PolicyName")?,
        },
        "ListUserPolicies" | "ListGroupPolicies" | "ListRolePolicies" => R::ListInlinePolicies {
            holder: match action.as_str() {
                "ListUserPolicies" => user(),
                "ListGroupPolicies" => group(),
                _ => role(),
            }?,
            page: f.page()?,
        },
        "DeleteUserPolicy" | "DeleteGroupPolicy" | "DeleteRolePolicy" => R::DeleteInlinePolicy {
            holder: match action.as_str() {
                "DeleteUserPolicy" => user(),
                "DeleteGroupPolicy" => group(),
                _ => role(),
            }?,
            policy_name: f.req("PolicyName")?,
        },
        "CreatePolicy" => R::CreatePolicy {
            name: f.req("PolicyName")?,
            path: f.opt("Path"),
            document: f.req("PolicyDocument")?,
            description: f.opt("Description"),
            tags: f.tags()?,
        },
        "GetPolicy" => R::GetPolicy {
            arn: f.req("PolicyArn")?,
        },
        "GetPolicyVersion" => R::GetPolicyVersion {
            arn: f.req("PolicyArn")?,
            version_id: f.req("VersionId")?,
        },
        "ListPolicies" => R::ListPolicies {
            scope: f.scope()?,
            only_attached: f.bool("OnlyAttached")?,
            path_prefix: f.opt("PathPrefix"),
            page: f.page()?,
        },
        "DeletePolicy" => R::DeletePolicy {
            arn: f.req("PolicyArn")?,
        },
        "AttachUserPolicy" | "AttachGroupPolicy" | "AttachRolePolicy" => R::AttachPolicy {
            holder: match action.as_str() {
                "AttachUserPolicy" => user(),
                "AttachGroupPolicy" => group(),
                _ => role(),
            }?,
            arn: f.req("PolicyArn")?,
        },
        "DetachUserPolicy" | "DetachGroupPolicy" | "DetachRolePolicy" => R::DetachPolicy {
            holder: match action.as_str() {
                "DetachUserPolicy" => user(),
                "DetachGroupPolicy" => group(),
                _ => role(),
            }?,
            arn: f.req("PolicyArn")?,
        },
        "ListAttachedUserPolicies" | "ListAttachedGroupPolicies" | "ListAttachedRolePolicies" => {
            R::ListAttachedPolicies {
                holder: match action.as_str() {
                    "ListAttachedUserPolicies" => user(),
                    "ListAttachedGroupPolicies" => group(),
                    _ => role(),
                }?,
                path_prefix: f.opt("PathPrefix"),
                page: f.page()?,
            }
        }
        "CreateRole" => R::CreateRole {
            name: f.req("RoleName")?,
            path: f.opt("Path"),
            trust_policy: f.req("AssumeRolePolicyDocument")?,
            description: f.opt("Description"),
            max_session_secs: f.u32_in("MaxSessionDuration", 3_600, MAX_SESSION_SECS)?,
            tags: f.tags()?,
        },
        "GetRole" => R::GetRole {
            name: f.req("RoleName")?,
        },
        "ListRoles" => R::ListRoles {
            path_prefix: f.opt("PathPrefix"),
            page: f.page()?,
        },
        "DeleteRole" => R::DeleteRole {
            name: f.req("RoleName")?,
        },
        "AssumeRole" => R::AssumeRole {
            role_arn: f.opt("RoleArn"),
            session_name: f.opt("RoleSessionName"),
            duration_secs: f
                .u32_in("DurationSeconds", MIN_SESSION_SECS, MAX_SESSION_SECS)?
                .unwrap_or(DEFAULT_SESSION_SECS),
            policy: f.opt("Policy"),
        },
        "GetCallerIdentity" => R::GetCallerIdentity,
        "GetSessionToken" => R::GetSessionToken {
            duration_secs: f.u32_in(
                "DurationSeconds",
                crate::iam::sts::MIN_DURATION_SECS,
                crate::iam::sts::MAX_USER_SESSION_SECS,
            )?,
        },
        other => {
            return Err(RequestError {
                code: "InvalidAction",
                message: format!("Could not find operation {other} for version 2010-05-08"),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(form: &str) -> Result<IamRequest, RequestError> {
        parse(form.as_bytes())
    }

    #[test]
    fn a_create_user_form_as_the_aws_cli_sends_it() {
        let r = p(
            "Action=CreateUser&Version=2010-05-08&UserName=alice&Path=%2Fteam%2F\
                   &Tags.member.1.Key=dept&Tags.member.1.Value=eng&Tags.member.2.Key=x",
        )
        .expect("parses");
        assert_eq!(
            r,
            IamRequest::CreateUser {
                name: "alice".into(),
                path: Some("/team/".into()),
                tags: vec![
                    Tag {
                        key: "dept".into(),
                        value: "eng".into()
                    },
                    Tag {
                        key: "x".into(),
                        value: String::new()
                    },
                ],
            }
        );
        assert_eq!(r.action(), Action::IamCreateUser);
        assert_eq!(r.name(), "CreateUser");
    }

    #[test]
    fn policy_documents_survive_form_decoding() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
        let enc: String = form_urlencoded::byte_serialize(doc.as_bytes()).collect();
        let r = p(&format!(
            "Action=PutGroupPolicy&GroupName=devs&PolicyName=all&PolicyDocument={enc}"
        ))
        .expect("parses");
        assert_eq!(
            r,
            IamRequest::PutInlinePolicy {
                holder: Holder::Group("devs".into()),
                policy_name: "all".into(),
                document: doc.into(),
            }
        );
        assert_eq!(r.action(), Action::IamPutGroupPolicy);
    }

    #[test]
    fn each_holder_form_names_its_own_action() {
        let cases = [
            ("AttachUserPolicy&UserName=u", Action::IamAttachUserPolicy),
            (
                "AttachGroupPolicy&GroupName=g",
                Action::IamAttachGroupPolicy,
            ),
            ("AttachRolePolicy&RoleName=r", Action::IamAttachRolePolicy),
            ("DetachRolePolicy&RoleName=r", Action::IamDetachRolePolicy),
            (
                "ListAttachedGroupPolicies&GroupName=g",
                Action::IamListAttachedGroupPolicies,
            ),
        ];
        for (form, want) in cases {
            let r = p(&format!(
                "Action={form}&PolicyArn=arn:aws:iam::000000000000:policy/p"
            ))
            .expect(form);
            assert_eq!(r.action(), want, "{form}");
        }
        let wrong_holder = p("Action=AttachGroupPolicy&UserName=u&PolicyArn=a");
        assert_eq!(wrong_holder.map_err(|e| e.code), Err("ValidationError"));
    }

    #[test]
    fn missing_and_malformed_parameters_are_validation_errors() {
        let e = p("Action=DeleteUser").expect_err("no name");
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.contains("'userName'"), "{}", e.message);

        let e = p("Action=ListUsers&MaxItems=0").expect_err("zero page");
        assert_eq!(e.code, "ValidationError");
        let e = p("Action=ListUsers&MaxItems=1001").expect_err("page too large");
        assert_eq!(e.code, "ValidationError");
        assert_eq!(
            p("Action=ListUsers&MaxItems=1000&Marker=m").map(|r| match r {
                IamRequest::ListUsers { page, .. } => page,
                _ => unreachable!(),
            }),
            Ok(Page {
                marker: Some("m".into()),
                max_items: 1000
            })
        );

        let e = p("Action=UpdateAccessKey&AccessKeyId=AK&Status=active").expect_err("case");
        assert!(e.message.contains("[Active, Inactive]"), "{}", e.message);
        let e = p("Action=ListPolicies&Scope=Everything").expect_err("scope");
        assert_eq!(e.code, "ValidationError");
        let e = p("Action=ListPolicies&OnlyAttached=yes").expect_err("bool");
        assert_eq!(e.code, "ValidationError");
    }

    #[test]
    fn unknown_missing_or_repeated_actions_are_refused() {
        assert_eq!(
            p("Action=LaunchRocket").map_err(|e| e.code),
            Err("InvalidAction")
        );
        assert_eq!(p("UserName=a").map_err(|e| e.code), Err("MissingAction"));
        assert_eq!(
            p("Action=GetUser&UserName=a&UserName=b").map_err(|e| e.code),
            Err("InvalidParameterCombination")
        );
    }

    #[test]
    fn forms_and_lists_are_bounded() {
        let big = format!("Action=GetUser&UserName={}", "a".repeat(MAX_FORM_BYTES));
        assert_eq!(p(&big).map_err(|e| e.code), Err("ValidationError"));

        let many: String = (0..MAX_PARAMS + 1).map(|i| format!("&p{i}=v")).collect();
        assert_eq!(
            p(&format!("Action=GetUser{many}")).map_err(|e| e.code),
            Err("ValidationError")
        );

        let tags: String = (1..=MAX_LIST_MEMBERS + 1)
            .map(|i| format!("&Tags.member.{i}.Key=k{i}"))
            .collect();
        assert_eq!(
            p(&format!("Action=TagUser&UserName=u{tags}")).map_err(|e| e.code),
            Err("LimitExceeded")
        );
        let keys: String = (1..=3)
            .map(|i| format!("&TagKeys.member.{i}=k{i}"))
            .collect();
        assert_eq!(
            p(&format!("Action=UntagUser&UserName=u{keys}")),
            Ok(IamRequest::UntagUser {
                name: "u".into(),
                keys: vec!["k1".into(), "k2".into(), "k3".into()]
            })
        );
    }

    #[test]
    fn assume_role_durations_follow_sts_bounds() {
        let ok = p("Action=AssumeRole&Version=2011-06-15&DurationSeconds=900").expect("min");
        assert!(matches!(
            ok,
            IamRequest::AssumeRole {
                duration_secs: 900,
                ..
            }
        ));
        let default = p("Action=AssumeRole").expect("default");
        assert!(matches!(
            default,
            IamRequest::AssumeRole {
                duration_secs: DEFAULT_SESSION_SECS,
                ..
            }
        ));
        assert!(p("Action=AssumeRole&DurationSeconds=899").is_err());
        assert!(p("Action=AssumeRole&DurationSeconds=43201").is_err());
        assert_eq!(
            p("Action=AssumeRole").map(|r| r.action()),
            Ok(Action::StsAssumeRole)
        );
    }
}
