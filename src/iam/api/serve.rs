//! Answering one IAM Query API request: reads from the core's snapshot,
//! changes sent to core 0 through [`Identities::change`], every answer
//! written as AWS's XML document through [`crate::xmlw`].

use std::collections::{BTreeMap, BTreeSet};

use crate::iam::identities::{Identities, Principal, PrincipalKind};
use crate::iam::model::{
    new_id, AccessKey, Change, Group, IamCode, IamError, IamState, ManagedPolicy, Outcome, Role,
    Target, User, ACCOUNT_ID,
};
use crate::xmlw::{self, Writer};

use super::request::{Holder, IamRequest, Page, PolicyScope, RequestError};

pub const IAM_XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// A finished answer: HTTP status and XML body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// The error code of a failure (for the audit log).
    pub error: Option<&'static str>,
}

/// An error as the Query APIs answer it: `ErrorResponse/Error/Code`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// IAM's answer to an action it does not have (an STS action signed
    /// for `iam`, say).
    pub fn invalid_action(name: &str, version: &str) -> ApiError {
        ApiError::new(
            400,
            "InvalidAction",
            format!("Could not find operation {name} for version {version}"),
        )
    }

    /// The error document in `xmlns` (`Type` is `Receiver` for the
    /// server's own failures, as AWS writes it).
    pub fn answer(&self, xmlns: &str, request_id: &str) -> Answer {
        let kind = if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        let body = xmlw::document("ErrorResponse", Some(xmlns), 256, |w| {
            w.element("Error", |w| {
                w.text("Type", kind);
                w.text("Code", self.code);
                w.text("Message", &self.message);
            });
            w.text("RequestId", request_id);
        });
        Answer {
            status: self.status,
            body,
            error: Some(self.code),
        }
    }
}

impl From<IamError> for ApiError {
    fn from(e: IamError) -> ApiError {
        ApiError::new(e.code.http_status(), e.code.as_str(), e.message)
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        let status = if e.code == "LimitExceeded" { 409 } else { 400 };
        ApiError::new(status, e.code, e.message)
    }
}

/// Answers `req` for `caller`, who is already authorised for its action.
pub async fn serve(
    ids: &Identities,
    caller: &Principal,
    req: IamRequest,
    request_id: &str,
) -> Answer {
    let name = req.name();
    match answer(ids, caller, req).await {
        Ok(result) => Answer {
            status: 200,
            body: response(name, IAM_XMLNS, request_id, result),
            error: None,
        },
        Err(e) => e.answer(IAM_XMLNS, request_id),
    }
}

/// What goes inside `<{Action}Result>`; `None` for actions without one.
type Body = Option<Box<dyn FnOnce(&mut Writer<'_>)>>;

fn response(name: &str, xmlns: &str, request_id: &str, body: Body) -> Vec<u8> {
    xmlw::document(&format!("{name}Response"), Some(xmlns), 1024, |w| {
        if let Some(body) = body {
            w.element(&format!("{name}Result"), body);
        }
        w.element("ResponseMetadata", |w| w.text("RequestId", request_id));
    })
}

fn some(f: impl FnOnce(&mut Writer<'_>) + 'static) -> Body {
    Some(Box::new(f))
}

fn no_such(what: &str, name: &str) -> IamError {
    IamError::new(
        IamCode::NoSuchEntity,
        format!("The {what} with name {name} cannot be found."),
    )
}

fn target(h: Holder) -> Target {
    match h {
        Holder::User(n) => Target::User(n),
        Holder::Group(n) => Target::Group(n),
        Holder::Role(n) => Target::Role(n),
    }
}

/// The user a request without `UserName` means: the caller (root has no
/// user record, so it must name one).
fn user_or_caller(user: Option<String>, caller: &Principal) -> Result<String, IamError> {
    match (user, &caller.kind) {
        (Some(u), _) => Ok(u),
        (None, PrincipalKind::Root) => Err(IamError::new(
            IamCode::ValidationError,
            "The root user has no IAM user record: name one with UserName.",
        )),
        (None, _) => Ok(caller.name.clone()),
    }
}

async fn answer(ids: &Identities, caller: &Principal, req: IamRequest) -> Result<Body, ApiError> {
    use IamRequest as R;
    let name = req.name();
    let snap = ids.snapshot();
    let state: &IamState = &snap.state;
    Ok(match req {
        R::CreateUser { name, path, tags } => {
            let change = Change::CreateUser {
                name,
                path: path.unwrap_or_else(|| "/".into()),
                tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
                id: new_id("AIDA"),
                tenant: String::new(),
            };
            let user = expect_user(ids.change(change).await?)?;
            some(move |w| w.element("User", |w| write_user(w, &user)))
        }
        R::GetUser { name } => {
            let user = match name {
                Some(n) => state.user(&n).cloned().ok_or_else(|| no_such("user", &n))?,
                None => caller_user(state, caller)?,
            };
            some(move |w| w.element("User", |w| write_user(w, &user)))
        }
        R::UpdateUser {
            name,
            new_name,
            new_path,
        } => {
            ids.change(Change::UpdateUser {
                name,
                new_name,
                new_path,
            })
            .await?;
            None
        }
        R::ListUsers { path_prefix, page } => {
            let users: Vec<User> = state
                .users
                .values()
                .filter(|u| path_prefix.as_deref().is_none_or(|p| u.path.starts_with(p)))
                .cloned()
                .collect();
            let (items, next) = paginate(users, &page, |u| u.name.clone());
            some(move |w| {
                w.element("Users", |w| {
                    for u in &items {
                        w.element("member", |w| write_user(w, u));
                    }
                });
                truncation(w, next.as_deref());
            })
        }
        R::DeleteUser { name } => {
            ids.change(Change::DeleteUser { name }).await?;
            None
        }
        R::TagUser { name, tags } => {
            let tags = tags.into_iter().map(|t| (t.key, t.value)).collect();
            ids.change(Change::TagUser { name, tags }).await?;
            None
        }
        R::UntagUser { name, keys } => {
            ids.change(Change::UntagUser { name, keys }).await?;
            None
        }
        R::ListUserTags { name, page } => {
            let user = state.user(&name).ok_or_else(|| no_such("user", &name))?;
            let (tags, next) = paginate(user.tags.clone(), &page, |t| t.0.clone());
            some(move |w| {
                w.element("Tags", |w| {
                    for (k, v) in &tags {
                        w.element("member", |w| {
                            w.text("Key", k);
                            w.text("Value", v);
                        });
                    }
                });
                truncation(w, next.as_deref());
            })
        }
        R::CreateAccessKey { user } => {
            let user = user_or_caller(user, caller)?;
            let new = ids.new_access_key();
            let secret = new.secret.expose().to_owned();
            let change = Change::CreateAccessKey {
                user,
                id: new.id.clone(),
                sealed: new.sealed.clone(),
                description: String::new(),
                expires_ms: None,
                service: None,
            };
            let key = expect_key(ids.change(change).await?)?;
            some(move |w| {
                w.element("AccessKey", |w| {
                    w.text("UserName", &key.user);
                    w.text("AccessKeyId", &key.id);
                    w.text("Status", key.status.as_str());
                    w.text("SecretAccessKey", &secret);
                    date(w, "CreateDate", key.created_ms);
                })
            })
        }
        R::ListAccessKeys { user, page } => {
            let user = user_or_caller(user, caller)?;
            let u = state.user(&user).ok_or_else(|| no_such("user", &user))?;
            // Service accounts (MinIO's) are not IAM access keys.
            let keys: Vec<AccessKey> = state
                .keys_of(&u.name)
                .filter(|k| k.service.is_none())
                .cloned()
                .collect();
            let (keys, next) = paginate(keys, &page, |k| k.id.clone());
            let owner = u.name.clone();
            some(move |w| {
                w.element("AccessKeyMetadata", |w| {
                    for k in &keys {
                        w.element("member", |w| {
                            w.text("UserName", &owner);
                            w.text("AccessKeyId", &k.id);
                            w.text("Status", k.status.as_str());
                            date(w, "CreateDate", k.created_ms);
                        });
                    }
                });
                truncation(w, next.as_deref());
            })
        }
        R::UpdateAccessKey {
            user,
            key_id,
            status,
        } => {
            ids.change(Change::UpdateAccessKey {
                user,
                id: key_id,
                status,
            })
            .await?;
            None
        }
        R::DeleteAccessKey { user, key_id } => {
            ids.change(Change::DeleteAccessKey { user, id: key_id })
                .await?;
            None
        }
        R::GetAccessKeyLastUsed { key_id } => {
            let key = state.keys.get(&key_id).cloned().ok_or_else(|| {
                IamError::new(
                    IamCode::NoSuchEntity,
                    format!("The Access Key with id {key_id} cannot be found"),
                )
            })?;
            some(move |w| {
                w.text("UserName", &key.user);
                w.element("AccessKeyLastUsed", |w| match &key.last_used {
                    Some(l) => {
                        date(w, "LastUsedDate", l.at_ms);
                        w.text("ServiceName", &l.service);
                        w.text("Region", &l.region);
                    }
                    None => {
                        w.text("ServiceName", "N/A");
                        w.text("Region", "N/A");
                    }
                });
            })
        }
        R::CreateGroup { name, path } => {
            let change = Change::CreateGroup {
                name,
                path: path.unwrap_or_else(|| "/".into()),
                id: new_id("AGPA"),
            };
            let group = expect_group(ids.change(change).await?)?;
            some(move |w| w.element("Group", |w| write_group(w, &group)))
        }
        R::GetGroup { name, page } => {
            let group = state
                .group(&name)
                .cloned()
                .ok_or_else(|| no_such("group", &name))?;
            let members: Vec<User> = group
                .members
                .iter()
                .filter_map(|m| state.user(m).cloned())
                .collect();
            let (members, next) = paginate(members, &page, |u| u.name.clone());
            some(move |w| {
                w.element("Group", |w| write_group(w, &group));
                w.element("Users", |w| {
                    for u in &members {
                        w.element("member", |w| write_user(w, u));
                    }
                });
                truncation(w, next.as_deref());
            })
        }
        R::ListGroups { path_prefix, page } => {
            let groups: Vec<Group> = state
                .groups
                .values()
                .filter(|g| path_prefix.as_deref().is_none_or(|p| g.path.starts_with(p)))
                .cloned()
                .collect();
            groups_page(groups, &page)
        }
        R::DeleteGroup { name } => {
            ids.change(Change::DeleteGroup { name }).await?;
            None
        }
        R::AddUserToGroup { group, user } => {
            ids.change(Change::AddUserToGroup { group, user }).await?;
            None
        }
        R::RemoveUserFromGroup { group, user } => {
            ids.change(Change::RemoveUserFromGroup { group, user })
                .await?;
            None
        }
        R::ListGroupsForUser { user, page } => {
            let u = state.user(&user).ok_or_else(|| no_such("user", &user))?;
            let groups: Vec<Group> = u
                .groups
                .iter()
                .filter_map(|g| state.group(g).cloned())
                .collect();
            groups_page(groups, &page)
        }
        R::PutInlinePolicy {
            holder,
            policy_name,
            document,
        } => {
            ids.change(Change::PutInlinePolicy {
                target: target(holder),
                name: policy_name,
                document,
            })
            .await?;
            None
        }
        R::GetInlinePolicy {
            holder,
            policy_name,
        } => {
            let (label, holder_name, inline) = inline_of(state, &holder)?;
            let doc = inline.get(&policy_name).cloned().ok_or_else(|| {
                IamError::new(
                    IamCode::NoSuchEntity,
                    format!("The {label} policy with name {policy_name} cannot be found."),
                )
            })?;
            let label = holder_label(&holder);
            some(move |w| {
                w.text(label, &holder_name);
                w.text("PolicyName", &policy_name);
                policy_document(w, "PolicyDocument", &doc);
            })
        }
        R::ListInlinePolicies { holder, page } => {
            let (_, _, inline) = inline_of(state, &holder)?;
            let names: Vec<String> = inline.keys().cloned().collect();
            let (names, next) = paginate(names, &page, Clone::clone);
            some(move |w| {
                w.element("PolicyNames", |w| {
                    for n in &names {
                        w.text("member", n);
                    }
                });
                truncation(w, next.as_deref());
            })
        }
        R::DeleteInlinePolicy {
            holder,
            policy_name,
        } => {
            ids.change(Change::DeleteInlinePolicy {
                target: target(holder),
                name: policy_name,
            })
            .await?;
            None
        }
        R::CreatePolicy {
            name,
            path,
            document,
            description,
            tags: _,
        } => {
            let change = Change::CreatePolicy {
                name,
                path: path.unwrap_or_else(|| "/".into()),
                description: description.unwrap_or_default(),
                document,
                id: new_id("ANPA"),
            };
            let p = expect_policy(ids.change(change).await?)?;
            some(move |w| w.element("Policy", |w| write_policy(w, &p)))
        }
        R::GetPolicy { arn } => {
            let p = managed(state, &arn)?.clone();
            some(move |w| w.element("Policy", |w| write_policy(w, &p)))
        }
        R::GetPolicyVersion { arn, version_id } => {
            let p = managed(state, &arn)?.clone();
            if version_id != p.default_version {
                return Err(IamError::new(
                    IamCode::NoSuchEntity,
                    format!(
                        "Policy {arn} version {version_id} does not exist or is not attachable."
                    ),
                )
                .into());
            }
            some(move |w| {
                w.element("PolicyVersion", |w| {
                    policy_document(w, "Document", &p.document);
                    w.text("VersionId", &p.default_version);
                    w.boolean("IsDefaultVersion", true);
                    date(w, "CreateDate", p.updated_ms);
                })
            })
        }
        R::ListPolicies {
            scope,
            only_attached,
            path_prefix,
            page,
        } => {
            // cairn has no AWS-managed policies: `AWS` scope lists none.
            let policies: Vec<ManagedPolicy> = state
                .policies
                .values()
                .filter(|_| scope != PolicyScope::Aws)
                .filter(|p| !only_attached || p.attachments > 0)
                .filter(|p| {
                    path_prefix
                        .as_deref()
                        .is_none_or(|pre| p.path.starts_with(pre))
                })
                .cloned()
                .collect();
            let (policies, next) = paginate(policies, &page, |p| p.arn.clone());
            some(move |w| {
                w.element("Policies", |w| {
                    for p in &policies {
                        w.element("member", |w| write_policy(w, p));
                    }
                });
                truncation(w, next.as_deref());
            })
        }
        R::DeletePolicy { arn } => {
            ids.change(Change::DeletePolicy { arn }).await?;
            None
        }
        R::AttachPolicy { holder, arn } => {
            ids.change(Change::AttachPolicy {
                target: target(holder),
                arn,
            })
            .await?;
            None
        }
        R::DetachPolicy { holder, arn } => {
            ids.change(Change::DetachPolicy {
                target: target(holder),
                arn,
            })
            .await?;
            None
        }
        R::ListAttachedPolicies {
            holder,
            path_prefix,
            page,
        } => {
            let attached = attached_of(state, &holder)?;
            let list: Vec<(String, String)> = attached
                .iter()
                .filter_map(|arn| state.policies.get(arn))
                .filter(|p| {
                    path_prefix
                        .as_deref()
                        .is_none_or(|pre| p.path.starts_with(pre))
                })
                .map(|p| (p.name.clone(), p.arn.clone()))
                .collect();
            let (list, next) = paginate(list, &page, |p| p.1.clone());
            some(move |w| {
                w.element("AttachedPolicies", |w| {
                    for (name, arn) in &list {
                        w.element("member", |w| {
                            w.text("PolicyName", name);
                            w.text("PolicyArn", arn);
                        });
                    }
                });
                truncation(w, next.as_deref());
            })
        }
        R::CreateRole {
            name,
            path,
            trust_policy,
            description,
            max_session_secs,
            tags: _,
        } => {
            let change = Change::CreateRole {
                name,
                path: path.unwrap_or_else(|| "/".into()),
                description: description.unwrap_or_default(),
                trust_policy,
                max_session_secs: max_session_secs.unwrap_or(3600),
                id: new_id("AROA"),
            };
            let role = expect_role(ids.change(change).await?)?;
            some(move |w| w.element("Role", |w| write_role(w, &role)))
        }
        R::GetRole { name } => {
            let role = state
                .role(&name)
                .cloned()
                .ok_or_else(|| no_such("role", &name))?;
            some(move |w| w.element("Role", |w| write_role(w, &role)))
        }
        R::ListRoles { path_prefix, page } => {
            let roles: Vec<Role> = state
                .roles
                .values()
                .filter(|r| path_prefix.as_deref().is_none_or(|p| r.path.starts_with(p)))
                .cloned()
                .collect();
            let (roles, next) = paginate(roles, &page, |r| r.name.clone());
            some(move |w| {
                w.element("Roles", |w| {
                    for r in &roles {
                        w.element("member", |w| write_role(w, r));
                    }
                });
                truncation(w, next.as_deref());
            })
        }
        R::DeleteRole { name } => {
            ids.change(Change::DeleteRole { name }).await?;
            None
        }
        // STS's actions, signed for `iam`: IAM has no such operation.
        R::AssumeRole { .. } | R::GetCallerIdentity | R::GetSessionToken { .. } => {
            return Err(ApiError::invalid_action(name, "2010-05-08"))
        }
    })
}

fn caller_user(state: &IamState, caller: &Principal) -> Result<User, IamError> {
    match caller.kind {
        PrincipalKind::Root => Ok(User {
            name: "root".into(),
            id: ACCOUNT_ID.into(),
            path: "/".into(),
            arn: caller.arn.clone(),
            created_ms: 0,
            enabled: true,
            tags: Vec::new(),
            groups: BTreeSet::new(),
            inline: Default::default(),
            attached: BTreeSet::new(),
            tenant: String::new(),
        }),
        _ => state
            .user(&caller.name)
            .cloned()
            .ok_or_else(|| no_such("user", &caller.name)),
    }
}

fn holder_label(h: &Holder) -> &'static str {
    match h {
        Holder::User(_) => "UserName",
        Holder::Group(_) => "GroupName",
        Holder::Role(_) => "RoleName",
    }
}

fn inline_of<'a>(
    state: &'a IamState,
    h: &Holder,
) -> Result<(&'static str, String, &'a BTreeMap<String, String>), IamError> {
    Ok(match h {
        Holder::User(n) => {
            let u = state.user(n).ok_or_else(|| no_such("user", n))?;
            ("user", u.name.clone(), &u.inline)
        }
        Holder::Group(n) => {
            let g = state.group(n).ok_or_else(|| no_such("group", n))?;
            ("group", g.name.clone(), &g.inline)
        }
        Holder::Role(n) => {
            let r = state.role(n).ok_or_else(|| no_such("role", n))?;
            ("role", r.name.clone(), &r.inline)
        }
    })
}

fn attached_of<'a>(state: &'a IamState, h: &Holder) -> Result<&'a BTreeSet<String>, IamError> {
    Ok(match h {
        Holder::User(n) => &state.user(n).ok_or_else(|| no_such("user", n))?.attached,
        Holder::Group(n) => &state.group(n).ok_or_else(|| no_such("group", n))?.attached,
        Holder::Role(n) => &state.role(n).ok_or_else(|| no_such("role", n))?.attached,
    })
}

fn managed<'a>(state: &'a IamState, arn: &str) -> Result<&'a ManagedPolicy, IamError> {
    state.policies.get(arn).ok_or_else(|| {
        IamError::new(
            IamCode::NoSuchEntity,
            format!("Policy {arn} does not exist or is not attachable."),
        )
    })
}

/// One page of `items` after the marker, in the order of `key` (the
/// marker is the key of the previous page's last item), and the next
/// marker when more follow.
fn paginate<T>(
    mut items: Vec<T>,
    page: &Page,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    items.sort_by_cached_key(&key);
    let max = page.max_items as usize;
    let mut out: Vec<T> = items
        .into_iter()
        .filter(|i| page.marker.as_deref().is_none_or(|m| key(i).as_str() > m))
        .take(max + 1)
        .collect();
    let next = (out.len() > max).then(|| {
        out.truncate(max);
        out.last().map(&key).unwrap_or_default()
    });
    (out, next)
}

fn truncation(w: &mut Writer<'_>, next: Option<&str>) {
    w.boolean("IsTruncated", next.is_some());
    w.text_opt("Marker", next);
}

fn groups_page(groups: Vec<Group>, page: &Page) -> Body {
    let (groups, next) = paginate(groups, page, |g| g.name.clone());
    some(move |w| {
        w.element("Groups", |w| {
            for g in &groups {
                w.element("member", |w| write_group(w, g));
            }
        });
        truncation(w, next.as_deref());
    })
}

fn date(w: &mut Writer<'_>, name: &str, ms: u64) {
    w.text(name, &crate::s3::xml::iso8601_ms(ms));
}

/// Policy documents travel URL-encoded (RFC 3986) inside IAM's XML, as AWS
/// sends them; the SDKs decode them.
fn policy_document(w: &mut Writer<'_>, name: &str, doc: &str) {
    let encoded: String = percent_encoding::utf8_percent_encode(doc, RFC3986).to_string();
    w.text(name, &encoded);
}

const RFC3986: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn write_user(w: &mut Writer<'_>, u: &User) {
    w.text("Path", &u.path);
    w.text("UserName", &u.name);
    w.text("UserId", &u.id);
    w.text("Arn", &u.arn);
    date(w, "CreateDate", u.created_ms);
    if !u.tags.is_empty() {
        w.element("Tags", |w| {
            for (k, v) in &u.tags {
                w.element("member", |w| {
                    w.text("Key", k);
                    w.text("Value", v);
                });
            }
        });
    }
}

fn write_group(w: &mut Writer<'_>, g: &Group) {
    w.text("Path", &g.path);
    w.text("GroupName", &g.name);
    w.text("GroupId", &g.id);
    w.text("Arn", &g.arn);
    date(w, "CreateDate", g.created_ms);
}

fn write_policy(w: &mut Writer<'_>, p: &ManagedPolicy) {
    w.text("PolicyName", &p.name);
    w.text("DefaultVersionId", &p.default_version);
    w.text("PolicyId", &p.id);
    w.text("Path", &p.path);
    w.text("Arn", &p.arn);
    w.num("AttachmentCount", u64::from(p.attachments));
    w.num("PermissionsBoundaryUsageCount", 0);
    w.boolean("IsAttachable", true);
    if !p.description.is_empty() {
        w.text("Description", &p.description);
    }
    date(w, "CreateDate", p.created_ms);
    date(w, "UpdateDate", p.updated_ms);
}

fn write_role(w: &mut Writer<'_>, r: &Role) {
    w.text("Path", &r.path);
    w.text("RoleName", &r.name);
    w.text("RoleId", &r.id);
    w.text("Arn", &r.arn);
    date(w, "CreateDate", r.created_ms);
    policy_document(w, "AssumeRolePolicyDocument", &r.trust_policy);
    if !r.description.is_empty() {
        w.text("Description", &r.description);
    }
    w.num("MaxSessionDuration", u64::from(r.max_session_secs));
}

fn unexpected() -> IamError {
    IamError::new(
        IamCode::ServiceFailure,
        "the change answered with another kind of record",
    )
}

fn expect_user(o: Outcome) -> Result<User, IamError> {
    match o {
        Outcome::User(u) => Ok(u),
        _ => Err(unexpected()),
    }
}

fn expect_group(o: Outcome) -> Result<Group, IamError> {
    match o {
        Outcome::Group(g) => Ok(g),
        _ => Err(unexpected()),
    }
}

fn expect_key(o: Outcome) -> Result<AccessKey, IamError> {
    match o {
        Outcome::AccessKey(k) => Ok(k),
        _ => Err(unexpected()),
    }
}

fn expect_policy(o: Outcome) -> Result<ManagedPolicy, IamError> {
    match o {
        Outcome::Policy(p) => Ok(p),
        _ => Err(unexpected()),
    }
}

fn expect_role(o: Outcome) -> Result<Role, IamError> {
    match o {
        Outcome::Role(r) => Ok(r),
        _ => Err(unexpected()),
    }
}
