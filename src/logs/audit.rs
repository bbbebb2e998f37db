//! The audit log: one JSON line for every change to identities or to the
//! node's administration (IAM Query API, admin API), and every refused
//! attempt at one. Lines are few, so each goes to the writer at once.

use std::net::IpAddr;

use crate::iam::identities::Principal;

use super::json::Object;

/// What changed, who asked, from where, and how it ended.
pub struct AuditEvent<'a> {
    pub request_id: &'a str,
    pub principal: &'a Principal,
    pub remote: Option<IpAddr>,
    /// The action as policies name it: `iam:CreateUser`, `admin:ConfigSet`.
    pub action: &'a str,
    /// The resource acted on (an ARN, a bucket, a setting's name).
    pub target: &'a str,
    /// Anything else worth keeping (a policy attached, a new value); never
    /// a secret.
    pub detail: Option<&'a str>,
    pub status: u16,
    /// The error code when it failed.
    pub error: Option<&'a str>,
}

/// Whether an IAM action changes something (everything but reads), so that
/// its calls are audited.
pub fn is_change(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    !["Get", "List", "Simulate"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Writes `e` to the audit log, if there is one. Never waits: a full queue
/// drops the line and counts it.
pub fn record(e: &AuditEvent<'_>) {
    let Some(sink) = super::LOGS.get().and_then(|l| l.audit.as_ref()) else {
        return;
    };
    let mut line = Vec::with_capacity(512);
    write_line(&mut line, e, crate::engine::now_ms());
    line.push(b'\n');
    if sink.offer(line, 1).is_some() {
        tracing::warn!(
            action = e.action,
            target = e.target,
            "audit log writer is behind: line dropped"
        );
    }
}

fn write_line(out: &mut Vec<u8>, e: &AuditEvent<'_>, now_ms: u64) {
    let p = e.principal;
    let remote = e.remote.map(|ip| ip.to_string());
    let mut o = Object::begin(out);
    o.time("time", now_ms)
        .str("request_id", e.request_id)
        .str("user", &p.name)
        .str("arn", &p.arn)
        .str("access_key", &p.access_key)
        .opt_str("remote_addr", remote.as_deref())
        .str("action", e.action)
        .str("target", e.target)
        .opt_str("detail", e.detail)
        .u64("status", u64::from(e.status))
        .str(
            "outcome",
            if (200..300).contains(&e.status) {
                "success"
            } else {
                "failure"
            },
        )
        .opt_str("error", e.error);
    o.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_not_changes() {
        for a in [
            "iam:CreateUser",
            "iam:AttachUserPolicy",
            "iam:DeleteAccessKey",
            "admin:ConfigSet",
        ] {
            assert!(is_change(a), "{a}");
        }
        for a in [
            "iam:GetUser",
            "iam:ListUsers",
            "admin:ListUsers",
            "iam:SimulatePrincipalPolicy",
        ] {
            assert!(!is_change(a), "{a}");
        }
    }

    #[test]
    fn an_audit_line_names_the_caller_the_change_and_the_outcome() {
        let p = Principal::anonymous();
        let mut out = Vec::new();
        write_line(
            &mut out,
            &AuditEvent {
                request_id: "r1",
                principal: &p,
                remote: Some("10.0.0.1".parse().expect("ip")),
                action: "iam:CreateUser",
                target: "arn:aws:iam::000000000000:user/a\"b",
                detail: None,
                status: 409,
                error: Some("EntityAlreadyExists"),
            },
            0,
        );
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["remote_addr"], "10.0.0.1");
        assert_eq!(v["target"], "arn:aws:iam::000000000000:user/a\"b");
        assert_eq!(v["outcome"], "failure");
        assert_eq!(v["error"], "EntityAlreadyExists");
        assert_eq!(v["detail"], serde_json::Value::Null);
    }
}
