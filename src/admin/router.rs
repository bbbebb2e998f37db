//! The endpoint table: one row per endpoint (method, path pattern under
//! `/_cairn/admin/v1/`, the admin action that authorises it, a name for
//! metrics and logs, and the function that serves it). Adding an endpoint
//! is one row here and one function in its area's file.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use http::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::engine::Engine;
use crate::http::ratelimit::RateLimits;
use crate::iam::action::Action;
use crate::iam::identities::{Identities, Principal};
use crate::s3::common::response::ResBody;

use super::error::AdminError;
use super::{
    background, buckets, dedup, drives, groups, info, keys, kms, notify, policies, settings,
    tenants, trace, users,
};

/// What a handler sees of its request.
pub struct Call<'a> {
    pub ids: &'a Identities,
    pub engine: &'a Rc<Engine>,
    pub caller: &'a Principal,
    pub rate_limits: &'a std::sync::Arc<RateLimits>,
    pub request_id: &'a str,
    /// The caller's address, for the audit log.
    pub remote: std::net::IpAddr,
    /// The path's `{}` segments, percent-decoded, in order.
    pub params: Vec<String>,
    pub raw_query: &'a str,
    pub body: &'a [u8],
    /// What the audit line of a change should say besides its target (an
    /// old and new value); never a secret.
    pub audit_detail: std::cell::RefCell<Option<String>>,
}

/// A handler's answer.
pub enum Answer {
    /// A JSON document with its status.
    Json(http::StatusCode, Value),
    /// 204, no body.
    NoContent,
    /// A body streamed until the client goes away, with its content type.
    Stream(ResBody, &'static str),
}

/// A JSON document is 200; `Value::Null` is 204.
impl From<Value> for Answer {
    fn from(v: Value) -> Answer {
        if v.is_null() {
            Answer::NoContent
        } else {
            Answer::Json(http::StatusCode::OK, v)
        }
    }
}

pub type Reply<'a> = Pin<Box<dyn Future<Output = Result<Answer, AdminError>> + 'a>>;
pub type Handler = for<'a> fn(&'a Call<'a>) -> Reply<'a>;

pub struct Endpoint {
    pub method: Method,
    /// Segments under `/_cairn/admin/v1/`; `{}` matches one segment.
    pub path: &'static str,
    pub action: Action,
    pub name: &'static str,
    pub handler: Handler,
}

macro_rules! endpoints {
    ($($method:ident $path:literal => $action:ident, $name:literal, $handler:path;)*) => {
        /// Every endpoint of v1.
        pub fn table() -> &'static [Endpoint] {
            static TABLE: std::sync::OnceLock<Vec<Endpoint>> = std::sync::OnceLock::new();
            TABLE.get_or_init(|| vec![$(Endpoint {
                method: Method::$method,
                path: $path,
                action: Action::$action,
                name: $name,
                handler: |c| Box::pin(async move { $handler(c).await.map(Answer::from) }),
            },)*])
        }
    };
}

endpoints! {
    GET "info" => AdminServerInfo, "AdminServerInfo", info::server_info;
    GET "drives" => AdminStorageInfo, "AdminListDrives", drives::list;
    POST "drives/{}/offline" => AdminHeal, "AdminDriveOffline", drives::offline;
    POST "drives/{}/online" => AdminHeal, "AdminDriveOnline", drives::online;

    GET "users" => AdminListUsers, "AdminListUsers", users::list;
    POST "users" => AdminCreateUser, "AdminCreateUser", users::create;
    GET "users/{}" => AdminGetUser, "AdminGetUser", users::get;
    DELETE "users/{}" => AdminDeleteUser, "AdminDeleteUser", users::remove;
    POST "users/{}/enable" => AdminEnableUser, "AdminEnableUser", users::enable;
    POST "users/{}/disable" => AdminDisableUser, "AdminDisableUser", users::disable;

    // Tenants are namespaces of users: the user actions authorise them.
    GET "tenants" => AdminListUsers, "AdminListTenants", tenants::list;
    POST "tenants" => AdminCreateUser, "AdminCreateTenant", tenants::create;
    GET "tenants/{}" => AdminGetUser, "AdminGetTenant", tenants::get;
    DELETE "tenants/{}" => AdminDeleteUser, "AdminDeleteTenant", tenants::remove;
    GET "tenants/{}/quota" => AdminGetUser, "AdminGetTenantQuota", tenants::get_quota;
    PUT "tenants/{}/quota" => AdminCreateUser, "AdminSetTenantQuota", tenants::set_quota;

    GET "groups" => AdminListGroups, "AdminListGroups", groups::list;
    POST "groups" => AdminAddUserToGroup, "AdminCreateGroup", groups::create;
    GET "groups/{}" => AdminGetGroup, "AdminGetGroup", groups::get;
    DELETE "groups/{}" => AdminRemoveUserFromGroup, "AdminDeleteGroup", groups::remove;
    POST "groups/{}/members" => AdminAddUserToGroup, "AdminAddGroupMembers", groups::add_members;
    POST "groups/{}/members/remove" => AdminRemoveUserFromGroup, "AdminRemoveGroupMembers", groups::remove_members;

    GET "accesskeys" => AdminListServiceAccounts, "AdminListAccessKeys", keys::list;
    POST "accesskeys" => AdminCreateServiceAccount, "AdminCreateAccessKey", keys::create;
    GET "accesskeys/{}" => AdminListServiceAccounts, "AdminGetAccessKey", keys::get;
    PUT "accesskeys/{}" => AdminUpdateServiceAccount, "AdminEditAccessKey", keys::edit;
    DELETE "accesskeys/{}" => AdminRemoveServiceAccount, "AdminRevokeAccessKey", keys::revoke;

    GET "policies" => AdminGetPolicy, "AdminListPolicies", policies::list;
    POST "policies" => AdminCreatePolicy, "AdminCreatePolicy", policies::create;
    GET "policies/{}" => AdminGetPolicy, "AdminGetPolicy", policies::get;
    DELETE "policies/{}" => AdminDeletePolicy, "AdminDeletePolicy", policies::remove;
    POST "policies/{}/attach" => AdminAttachUserOrGroupPolicy, "AdminAttachPolicy", policies::attach;
    POST "policies/{}/detach" => AdminAttachUserOrGroupPolicy, "AdminDetachPolicy", policies::detach;

    GET "usage" => AdminDataUsageInfo, "AdminUsage", buckets::usage;
    GET "buckets" => AdminBucketInfo, "AdminListBuckets", buckets::list;
    GET "buckets/{}" => AdminBucketInfo, "AdminBucketInfo", buckets::get;
    GET "buckets/{}/quota" => AdminGetBucketQuota, "AdminGetBucketQuota", buckets::get_quota;
    PUT "buckets/{}/quota" => AdminSetBucketQuota, "AdminSetBucketQuota", buckets::set_quota;
    GET "buckets/{}/dedup" => AdminBucketInfo, "AdminGetBucketDedup", buckets::get_dedup;
    PUT "buckets/{}/dedup" => AdminConfigUpdate, "AdminSetBucketDedup", buckets::set_dedup;
    GET "dedup" => AdminDataUsageInfo, "AdminDedupStatus", dedup::status;
    POST "dedup/gc" => AdminHeal, "AdminDedupGc", dedup::gc;

    GET "background" => AdminServerInfo, "AdminBackground", background::all;
    GET "background/{}" => AdminServerInfo, "AdminBackgroundJob", background::one;
    POST "background/compaction/run" => AdminHeal, "AdminRunCompaction", background::run_compaction;
    POST "background/scrub/run" => AdminHeal, "AdminRunScrub", background::run_scrub;
    POST "background/lifecycle/run" => AdminHeal, "AdminRunLifecycle", background::run_lifecycle;
    POST "background/{}/pause" => AdminHeal, "AdminPauseBackground", background::pause;
    POST "background/{}/resume" => AdminHeal, "AdminResumeBackground", background::resume;

    // Before `config/{}`: the first row that matches serves.
    GET "config/history" => AdminServerInfo, "AdminConfigHistory", settings::history;
    GET "config" => AdminServerInfo, "AdminListConfig", settings::list;
    GET "config/{}" => AdminServerInfo, "AdminGetConfig", settings::get;
    PUT "config/{}" => AdminConfigUpdate, "AdminSetConfig", settings::set;

    GET "trace" => AdminServerTrace, "AdminTrace", trace::trace;

    GET "kms/keys" => AdminKmsListKeys, "AdminKMSListKeys", kms::list;
    POST "kms/keys" => AdminKmsCreateKey, "AdminKMSCreateKey", kms::create;
    GET "kms/keys/{}" => AdminKmsKeyStatus, "AdminKMSKeyStatus", kms::info;
    POST "kms/keys/{}/rotate" => AdminKmsRotateKey, "AdminKMSRotateKey", kms::rotate;
    POST "kms/keys/{}/disable" => AdminKmsDisableKey, "AdminKMSDisableKey", kms::disable;
    POST "kms/keys/{}/enable" => AdminKmsEnableKey, "AdminKMSEnableKey", kms::enable;

    GET "notify/targets" => AdminServerInfo, "AdminListNotifyTargets", notify::list;
    PUT "notify/targets/{}" => AdminConfigUpdate, "AdminSetNotifyTarget", notify::put;
    DELETE "notify/targets/{}" => AdminConfigUpdate, "AdminRemoveNotifyTarget", notify::remove;
}

/// How a path under the prefix matched the table.
pub enum Found {
    Endpoint(&'static Endpoint, Vec<String>),
    /// The path exists with other methods (405).
    WrongMethod,
    NotFound,
}

/// The endpoint for `method` and `rest` (the path after the prefix).
pub fn find(method: &Method, rest: &str) -> Found {
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let mut path_matched = false;
    for e in table() {
        let Some(params) = matches(e.path, &segments) else {
            continue;
        };
        if e.method == *method {
            return Found::Endpoint(e, params);
        }
        path_matched = true;
    }
    if path_matched {
        Found::WrongMethod
    } else {
        Found::NotFound
    }
}

fn matches(pattern: &str, segments: &[&str]) -> Option<Vec<String>> {
    let pattern: Vec<&str> = pattern.split('/').collect();
    if pattern.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (p, s) in pattern.iter().zip(segments) {
        if *p == "{}" {
            if s.is_empty() {
                return None;
            }
            let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
            params.push(decoded.into_owned());
        } else if p != s {
            return None;
        }
    }
    Some(params)
}

impl Call<'_> {
    /// The `i`th path parameter (the table guarantees it).
    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map_or("", String::as_str)
    }

    /// A query parameter, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.raw_query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The body as `T`; an empty body reads as `{}`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, AdminError> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            self.body
        };
        serde_json::from_slice(body).map_err(|e| {
            AdminError::bad_request(
                "MalformedJSON",
                format!("The request body is not valid: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_row_and_capture_decoded_segments() {
        let Found::Endpoint(e, p) = find(&Method::POST, "users/al%20ice/enable") else {
            panic!("no match")
        };
        assert_eq!(e.name, "AdminEnableUser");
        assert_eq!(p, vec!["al ice".to_owned()]);
        let Found::Endpoint(e, p) = find(&Method::GET, "users/") else {
            panic!("no match")
        };
        assert_eq!((e.name, p.len()), ("AdminListUsers", 0));
        assert!(matches!(find(&Method::PATCH, "users"), Found::WrongMethod));
        assert!(matches!(find(&Method::GET, "nothing"), Found::NotFound));
        assert!(matches!(
            find(&Method::GET, "users//enable"),
            Found::NotFound
        ));
    }

    #[test]
    fn every_row_is_reachable_and_named_once() {
        let t = table();
        for (i, e) in t.iter().enumerate() {
            assert!(
                t[..i]
                    .iter()
                    .all(|o| o.name != e.name && (o.path != e.path || o.method != e.method)),
                "{} repeated",
                e.name
            );
            assert_eq!(e.action.service(), "admin", "{}", e.name);
            let concrete = e.path.replace("{}", "x");
            match find(&e.method, &concrete) {
                Found::Endpoint(found, _) => assert_eq!(found.name, e.name),
                _ => panic!("{} unreachable", e.name),
            }
        }
    }
}
