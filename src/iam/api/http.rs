//! The IAM and STS Query APIs over HTTP, on the S3 endpoint: a form POST to
//! `/` (or a GET `/?Action=…` signed for `iam`/`sts`) is read whole
//! (bounded), verified with its body's hash, sent to the API its credential
//! scope names and answered in that API's XML. The S3 path never sees it.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use crate::auth::sigv4::{self, AuthKind, PayloadMode, Service};
use crate::http::conns::Conn;
use crate::http::ratelimit::RateLimits;
use crate::iam::action::Action;
use crate::iam::identities::Principal;
use crate::iam::model::{user_arn, ACCOUNT_ID};
use crate::s3::auth::Authenticator;
use crate::s3::common::response::{full, ResBody};
use crate::s3::error::{S3Code, S3Error};

use super::request::{self, Holder, IamRequest, MAX_FORM_BYTES};
use super::serve::{self, Answer, ApiError, IAM_XMLNS, STS_XMLNS};

const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// Whether a request is a Query API call rather than an S3 operation: a
/// form POST to the root of the endpoint (S3 has no operation there; a
/// browser upload is multipart and names a bucket), or a GET of the root
/// with `Action=` signed for `iam` or `sts`.
pub fn is_query_api(parts: &http::request::Parts, vhost_bucket: Option<&str>) -> bool {
    if parts.uri.path() != "/" || vhost_bucket.is_some() {
        return false;
    }
    let query = parts.uri.query().unwrap_or("");
    match parts.method {
        Method::POST => parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case(FORM_TYPE))
            }),
        Method::GET => {
            query.split('&').any(|p| p.starts_with("Action="))
                && matches!(
                    sigv4::claimed_service(&parts.headers, query),
                    Some(Service::Iam | Service::Sts)
                )
        }
        _ => false,
    }
}

/// What the Query API path borrows from the core's S3 front end.
pub struct QueryApi<'a> {
    pub auth: &'a Authenticator,
    pub rate_limits: &'a RateLimits,
    /// Longest wait for the next piece of the body.
    pub idle_timeout: Duration,
    /// Where refused credentials are counted (`cairn_auth_failures_total`).
    pub metrics: &'a crate::metrics::CoreMetrics,
    /// The request's access-log record: it names the caller once known.
    pub log: &'a crate::logs::access::RequestLog,
}

/// The IAM and STS codes that count as authentication failures, as the
/// S3 path counts its own: bad, unknown or expired credentials, and what no
/// policy allows.
fn is_auth_failure(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
            | "ExpiredToken"
            | "RequestExpired"
    )
}

/// Serves one Query API call; never fails (errors are the API's XML).
/// `op` names the action for the metrics once it is known.
pub async fn serve(
    api: &QueryApi<'_>,
    parts: http::request::Parts,
    body: Incoming,
    request_id: &str,
    conn: &Conn,
    op: &std::cell::Cell<&'static str>,
) -> Response<ResBody> {
    let form = match read_form(&parts, body, api.idle_timeout).await {
        Ok(f) => f,
        Err(e) => return respond(e.answer(IAM_XMLNS, request_id), request_id),
    };
    let answer = match call(api, &parts, &form, request_id, conn, op).await {
        Ok(a) => a,
        Err((e, xmlns)) => {
            if is_auth_failure(e.code) {
                api.metrics.auth_failure(e.code);
            }
            e.answer(xmlns, request_id)
        }
    };
    respond(answer, request_id)
}

/// The form: the body of a POST, the query of a GET (whose body must be
/// empty, as its hash is signed). Returns the form and the body's hash.
struct Form {
    text: Vec<u8>,
    body_sha256: String,
}

async fn read_form(
    parts: &http::request::Parts,
    body: Incoming,
    idle: Duration,
) -> Result<Form, ApiError> {
    let bytes = crate::http::body::read_bounded(&parts.headers, body, MAX_FORM_BYTES, idle)
        .await
        .map_err(|e| ApiError::new(e.status().as_u16(), e.code.as_str(), e.message))?;
    let body_sha256 = hex::encode(Sha256::digest(&bytes));
    let text = if parts.method == Method::GET {
        parts.uri.query().unwrap_or("").as_bytes().to_vec()
    } else {
        bytes
    };
    Ok(Form { text, body_sha256 })
}

type CallError = (ApiError, &'static str);

async fn call(
    api: &QueryApi<'_>,
    parts: &http::request::Parts,
    form: &Form,
    request_id: &str,
    conn: &Conn,
    op: &std::cell::Cell<&'static str>,
) -> Result<Answer, CallError> {
    let iam = |e: ApiError| (e, IAM_XMLNS);
    let raw_query = parts.uri.query().unwrap_or("");
    if sigv4::detect(&parts.headers, raw_query) == AuthKind::Anonymous {
        return Err(iam(ApiError::new(
            403,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )));
    }
    // A scope for S3 is refused before its signature is checked, as IAM
    // does (an S3 scope also asks for a header the SDKs send only to S3).
    if sigv4::claimed_service(&parts.headers, raw_query) == Some(Service::S3) {
        return Err(iam(wrong_scope(&form.text)));
    }
    let (verified, caller) = api
        .auth
        .authenticate_query_api(parts, &form.body_sha256)
        .map_err(|e| iam(auth_error(e)))?;
    api.log.set_principal(&caller);
    // An explicit payload hash is signed, so the body must match it.
    match verified.payload {
        PayloadMode::Sha256(h) if hex::encode(h) == form.body_sha256 => {}
        PayloadMode::Sha256(_) => {
            return Err(iam(ApiError::new(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )))
        }
        _ => {
            return Err(iam(ApiError::new(
                400,
                "IncompleteSignature",
                "The Query API needs the body signed (its SHA-256 as the payload hash).",
            )))
        }
    }
    if let Err(secs) = api.rate_limits.check_key(&verified.access_key) {
        return Err(iam(ApiError::new(
            400,
            "Throttling",
            format!("Rate exceeded; retry in {secs} s."),
        )));
    }
    conn.set_authenticated();
    match verified.service {
        // Users, groups, roles and policies are global: a tenant's user
        // managing them would step out of its tenant.
        Service::Iam if !caller.tenant.is_empty() => {
            return Err(iam(ApiError::new(
                403,
                "AccessDenied",
                "A tenant's users cannot call IAM.",
            )))
        }
        Service::Iam => {}
        Service::Sts => {
            op.set("STS");
            return super::sts::serve(api.auth.identities(), &caller, &form.text, request_id)
                .map_err(|e| (e, STS_XMLNS));
        }
        // SigV2, which names no service, is S3's alone.
        Service::S3 => return Err(iam(wrong_scope(&form.text))),
    }
    let req = request::parse(&form.text).map_err(|e| iam(e.into()))?;
    op.set(req.name());
    let action = req.action();
    let resource = resource_arn(&req, &caller);
    let audit = |status: u16, error: Option<&str>| {
        if crate::logs::audit::is_change(action.as_str()) {
            crate::logs::audit::record(&crate::logs::audit::AuditEvent {
                request_id,
                principal: &caller,
                remote: Some(conn.peer.ip()),
                action: action.as_str(),
                target: &resource,
                detail: None,
                status,
                error,
            });
        }
    };
    if !self_service(&req) && !authorize_iam(&caller, action, &resource) {
        audit(403, Some("AccessDenied"));
        return Err(iam(ApiError::new(
            403,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: {} on resource: {resource}",
                caller.arn,
                action.as_str()
            ),
        )));
    }
    let ids = api.auth.identities();
    let answer = serve::serve(ids, &caller, req, request_id).await;
    audit(answer.status, answer.error);
    Ok(answer)
}

/// IAM's answer to a credential scope for another service.
fn wrong_scope(form: &[u8]) -> ApiError {
    let wanted = match request::parse(form) {
        Ok(r) if r.action().service() == "sts" => "sts",
        _ => "iam",
    };
    ApiError::new(
        403,
        "SignatureDoesNotMatch",
        format!("Credential should be scoped to correct service: '{wanted}'."),
    )
}

/// Whether a caller may perform an IAM action on a resource: root always;
/// anyone else by its compiled identity policies (and session policy), as
/// AWS evaluates IAM calls (no resource policy applies to IAM users).
pub fn authorize_iam(principal: &Principal, action: Action, resource_arn: &str) -> bool {
    let now_ms = i64::try_from(crate::engine::now_ms()).unwrap_or(i64::MAX);
    principal.with_policy_view(|who| {
        let req = crate::iam::policy::Request::new(action, resource_arn, who, now_ms);
        crate::iam::policy::evaluate(&crate::iam::policy::Inputs {
            request: &req,
            identity: Some(&principal.policies.identity),
            resource: None,
            session: principal.policies.session.as_deref(),
        })
        .is_allowed()
    })
}

/// Calls any signed-in user may make about itself without a policy:
/// `GetUser` with no `UserName` (AWS answers it for the caller).
fn self_service(req: &IamRequest) -> bool {
    matches!(req, IamRequest::GetUser { name: None })
}

/// The ARN a request acts on, as IAM's policies name it.
fn resource_arn(req: &IamRequest, caller: &Principal) -> String {
    use IamRequest as R;
    let user = |n: &str| user_arn("/", n);
    let holder = |h: &Holder| match h {
        Holder::User(n) => user(n),
        Holder::Group(n) => format!("arn:aws:iam::{ACCOUNT_ID}:group/{n}"),
        Holder::Role(n) => format!("arn:aws:iam::{ACCOUNT_ID}:role/{n}"),
    };
    let group = |n: &str| holder(&Holder::Group(n.to_owned()));
    let role = |n: &str| holder(&Holder::Role(n.to_owned()));
    let own = |u: &Option<String>| u.as_deref().map_or_else(|| caller.arn.clone(), user);
    match req {
        R::CreateUser { name, .. }
        | R::UpdateUser { name, .. }
        | R::DeleteUser { name }
        | R::TagUser { name, .. }
        | R::UntagUser { name, .. }
        | R::ListUserTags { name, .. } => user(name),
        R::GetUser { name } => own(name),
        R::CreateAccessKey { user } | R::ListAccessKeys { user, .. } => own(user),
        R::UpdateAccessKey { user, .. } | R::DeleteAccessKey { user, .. } => own(user),
        R::ListGroupsForUser { user: u, .. } => user(u),
        R::CreateGroup { name, .. } | R::GetGroup { name, .. } | R::DeleteGroup { name } => {
            group(name)
        }
        R::AddUserToGroup { group: g, .. } | R::RemoveUserFromGroup { group: g, .. } => group(g),
        R::PutInlinePolicy { holder: h, .. }
        | R::GetInlinePolicy { holder: h, .. }
        | R::ListInlinePolicies { holder: h, .. }
        | R::DeleteInlinePolicy { holder: h, .. }
        | R::AttachPolicy { holder: h, .. }
        | R::DetachPolicy { holder: h, .. }
        | R::ListAttachedPolicies { holder: h, .. } => holder(h),
        R::CreatePolicy { name, .. } => format!("arn:aws:iam::{ACCOUNT_ID}:policy/{name}"),
        R::GetPolicy { arn } | R::GetPolicyVersion { arn, .. } | R::DeletePolicy { arn } => {
            arn.clone()
        }
        R::CreateRole { name, .. } | R::GetRole { name } | R::DeleteRole { name } => role(name),
        R::GetAccessKeyLastUsed { .. }
        | R::ListUsers { .. }
        | R::ListGroups { .. }
        | R::ListPolicies { .. }
        | R::ListRoles { .. }
        | R::AssumeRole { .. }
        | R::GetCallerIdentity
        | R::GetSessionToken { .. } => "*".to_owned(),
    }
}

/// Authentication failures in the Query APIs' words.
fn auth_error(e: S3Error) -> ApiError {
    let (status, code) = match e.code {
        S3Code::InvalidAccessKeyId => (403, "InvalidClientTokenId"),
        S3Code::SignatureDoesNotMatch => (403, "SignatureDoesNotMatch"),
        S3Code::RequestTimeTooSkewed => (403, "SignatureDoesNotMatch"),
        S3Code::AuthorizationHeaderMalformed | S3Code::AuthorizationQueryParametersError => {
            (400, "IncompleteSignature")
        }
        S3Code::AccessDenied => (403, "AccessDenied"),
        _ => (400, "InvalidRequest"),
    };
    let message = match e.code {
        S3Code::InvalidAccessKeyId => {
            "The security token included in the request is invalid.".into()
        }
        S3Code::RequestTimeTooSkewed => {
            "Signature expired: the request time is too far from the server's.".into()
        }
        _ => e.message,
    };
    ApiError::new(status, code, message)
}

fn respond(a: Answer, request_id: &str) -> Response<ResBody> {
    let mut r = Response::new(full(a.body));
    *r.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    r
}
