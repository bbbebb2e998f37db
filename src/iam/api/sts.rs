//! The STS Query API's answers (`AssumeRole`, `GetSessionToken`,
//! `GetCallerIdentity`), for
//! calls `http.rs` has read, verified and found signed for `sts`. The
//! sessions themselves are `iam::sts`.

use crate::iam::identities::{Identities, Principal};
use crate::iam::model::ACCOUNT_ID;
use crate::iam::sts::{self, StsError};

use super::request::{self, IamRequest};
use super::serve::{Answer, ApiError, STS_XMLNS};

impl From<StsError> for ApiError {
    fn from(e: StsError) -> ApiError {
        ApiError::new(e.code.http_status(), e.code.as_str(), e.message)
    }
}

/// Answers one STS call by `caller`.
pub fn serve(
    ids: &Identities,
    caller: &Principal,
    form: &[u8],
    request_id: &str,
) -> Result<Answer, ApiError> {
    let req = request::parse(form).map_err(ApiError::from)?;
    let body = match req {
        // Roles are global: a session of one would step out of the
        // caller's tenant. A session token (the console's sign-in) acts
        // as its user, in the user's tenant.
        IamRequest::AssumeRole { .. } if !caller.tenant.is_empty() => {
            return Err(ApiError::new(
                403,
                "AccessDenied",
                "A tenant's users cannot assume roles.",
            ))
        }
        IamRequest::AssumeRole {
            role_arn,
            session_name,
            duration_secs,
            policy,
        } => {
            let now_ms = crate::engine::now_ms();
            let ask = sts::AssumeRole {
                role_arn,
                session_name,
                duration_secs,
                policy,
            };
            let grant = sts::assume_role(&ids.snapshot().state, caller, &ask, now_ms)?;
            let arn = grant.arn.clone();
            let assumed_id = grant.assumed_id.clone();
            let (session, token) = mint(ids, grant, now_ms)?;
            assume_role_result(&session, &token, &arn, &assumed_id, request_id)
        }
        IamRequest::GetSessionToken { duration_secs } => {
            let now_ms = crate::engine::now_ms();
            let grant = sts::get_session_token(caller, duration_secs)?;
            let (session, token) = mint(ids, grant, now_ms)?;
            session_token_result(&session, &token, request_id)
        }
        IamRequest::GetCallerIdentity => caller_identity(caller, request_id),
        other => return Err(ApiError::invalid_action(other.name(), "2011-06-15")),
    };
    Ok(Answer {
        status: 200,
        body,
        error: None,
    })
}

fn mint(
    ids: &Identities,
    grant: sts::Grant,
    now_ms: u64,
) -> Result<(sts::Session, String), ApiError> {
    sts::mint(
        ids.master(),
        grant.subject,
        grant.policy,
        grant.duration_secs,
        now_ms,
    )
    .ok_or_else(|| {
        ApiError::new(
            400,
            "PackedPolicyTooLarge",
            "The session policy and names are too large for a session token.",
        )
    })
}

fn credentials(w: &mut crate::xmlw::Writer<'_>, s: &sts::Session, token: &str) {
    let expiration = crate::s3::xml::iso8601_ms(s.expires_ms);
    w.element("Credentials", |w| {
        w.text("AccessKeyId", &s.access_key);
        w.text("SecretAccessKey", s.secret.expose());
        w.text("SessionToken", token);
        w.text("Expiration", &expiration);
    });
}

fn session_token_result(s: &sts::Session, token: &str, request_id: &str) -> Vec<u8> {
    crate::xmlw::document(
        "GetSessionTokenResponse",
        Some(STS_XMLNS),
        512 + token.len(),
        |w| {
            w.element("GetSessionTokenResult", |w| credentials(w, s, token));
            w.element("ResponseMetadata", |w| w.text("RequestId", request_id));
        },
    )
}

fn assume_role_result(
    s: &sts::Session,
    token: &str,
    arn: &str,
    assumed_id: &str,
    request_id: &str,
) -> Vec<u8> {
    crate::xmlw::document(
        "AssumeRoleResponse",
        Some(STS_XMLNS),
        512 + token.len(),
        |w| {
            w.element("AssumeRoleResult", |w| {
                credentials(w, s, token);
                w.element("AssumedRoleUser", |w| {
                    w.text("Arn", arn);
                    w.text("AssumedRoleId", assumed_id);
                });
            });
            w.element("ResponseMetadata", |w| w.text("RequestId", request_id));
        },
    )
}

fn caller_identity(p: &Principal, request_id: &str) -> Vec<u8> {
    crate::xmlw::document("GetCallerIdentityResponse", Some(STS_XMLNS), 512, |w| {
        w.element("GetCallerIdentityResult", |w| {
            w.text("Arn", &p.arn);
            w.text("UserId", &p.id);
            w.text("Account", ACCOUNT_ID);
        });
        w.element("ResponseMetadata", |w| w.text("RequestId", request_id));
    })
}
