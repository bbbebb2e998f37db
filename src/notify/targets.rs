//! The operator's notification targets: where events go (HTTP webhooks),
//! named by ARNs that bucket rules cite. Kept in the system store
//! (`.cairn/notify.state` on every drive) and changed through the admin
//! API; the set is node-wide (every core reads it, the admin call that
//! changes it stores it before it answers). Pure parts (ARNs, checks,
//! the stored form) are tested here; `deliver.rs` sends.

use serde::{Deserialize, Serialize};

use crate::format_version::{decode_json, encode_json, JsonError};

/// The file in each drive's `.cairn` that keeps the targets.
pub const STORE_FILE: &str = "notify.state";
/// Format of the stored targets.
pub const STORE_FORMAT: u32 = 1;
/// Targets a node keeps: each has a delivery thread.
pub const MAX_TARGETS: usize = 32;
/// Events a target may have waiting, over the node, unless set.
pub const DEFAULT_QUEUE_LIMIT: u64 = 100_000;
/// Most events a target may have waiting.
pub const MAX_QUEUE_LIMIT: u64 = 100_000_000;
const MAX_NAME: usize = 64;
const MAX_ENDPOINT: usize = 2048;
const MAX_TOKEN: usize = 4096;
const MAX_CA: usize = 64 * 1024;

/// One webhook target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    /// `http://` or `https://` URL events are POSTed to.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer <token>` (a token with a space in it
    /// is sent as it is, as MinIO does).
    pub auth_token: Option<String>,
    /// PEM certificates trusted for an `https` endpoint instead of the
    /// system's roots.
    pub ca_cert: Option<String>,
    /// Events waiting for this target, over the node; beyond it new
    /// events are dropped (counted and logged).
    pub queue_limit: u64,
}

impl Target {
    /// The ARN a bucket rule of `service` (`sqs`, `sns`, `lambda`) uses.
    pub fn arn(&self, service: &str) -> String {
        format!("arn:cairn:{service}::{}:webhook", self.name)
    }

    /// The `Authorization` header value, if any.
    pub fn authorization(&self) -> Option<String> {
        self.auth_token.as_ref().map(|t| {
            if t.contains(' ') {
                t.clone()
            } else {
                format!("Bearer {t}")
            }
        })
    }

    /// Checks a target the admin API was given.
    pub fn check(&self) -> Result<(), String> {
        check_name(&self.name)?;
        let rest = self
            .endpoint
            .strip_prefix("http://")
            .or_else(|| self.endpoint.strip_prefix("https://"))
            .ok_or("endpoint: an http:// or https:// URL")?;
        if rest.is_empty() || rest.starts_with('/') || self.endpoint.len() > MAX_ENDPOINT {
            return Err("endpoint: an http:// or https:// URL with a host".into());
        }
        if self.endpoint.chars().any(|c| c.is_control() || c == ' ') {
            return Err("endpoint: no spaces or control characters".into());
        }
        if let Some(t) = &self.auth_token {
            if t.is_empty() || t.len() > MAX_TOKEN || t.chars().any(char::is_control) {
                return Err(format!(
                    "authToken: 1 to {MAX_TOKEN} characters, no control characters"
                ));
            }
        }
        if let Some(ca) = &self.ca_cert {
            if ca.len() > MAX_CA || !ca.contains("-----BEGIN CERTIFICATE-----") {
                return Err("caCert: PEM certificates".into());
            }
        }
        if !(1..=MAX_QUEUE_LIMIT).contains(&self.queue_limit) {
            return Err(format!("queueLimit: 1 to {MAX_QUEUE_LIMIT}"));
        }
        Ok(())
    }
}

/// A target name: what its ARN and its outbox rows are keyed by.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("name: 1 to {MAX_NAME} letters, digits, '-' or '_'"));
    }
    Ok(())
}

/// The target name an ARN of a rule of `service` names: cairn's
/// `arn:cairn:<service>::<name>:webhook`, or MinIO's `arn:minio:…` form of
/// it, which MinIO's tools write.
pub fn target_of_arn<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let p: Vec<&str> = arn.split(':').collect();
    match p.as_slice() {
        ["arn", "cairn" | "minio", s, "", name, "webhook"] if *s == service => {
            check_name(name).ok().map(|_| *name)
        }
        _ => None,
    }
}

/// The stored form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub targets: Vec<Target>,
}

impl Saved {
    pub fn encode(&self) -> serde_json::Result<Vec<u8>> {
        encode_json(STORE_FORMAT, self, false)
    }

    pub fn decode(payload: &[u8]) -> Result<Saved, JsonError> {
        decode_json(STORE_FILE, payload, STORE_FORMAT).map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            name: "orders".into(),
            endpoint: "https://hooks.example.com/s3".into(),
            auth_token: Some("s3cret".into()),
            ca_cert: None,
            queue_limit: DEFAULT_QUEUE_LIMIT,
        }
    }

    #[test]
    fn arns_name_targets_for_their_service() {
        let t = target();
        assert_eq!(t.arn("sqs"), "arn:cairn:sqs::orders:webhook");
        assert_eq!(target_of_arn(&t.arn("sqs"), "sqs"), Some("orders"));
        assert_eq!(
            target_of_arn("arn:minio:sqs::orders:webhook", "sqs"),
            Some("orders")
        );
        assert_eq!(target_of_arn(&t.arn("sqs"), "sns"), None);
        for bad in [
            "arn:aws:sqs:us-east-1:123456789012:orders",
            "arn:cairn:sqs::orders:kafka",
            "arn:cairn:sqs::or/ders:webhook",
            "arn:cairn:sqs:::webhook",
            "orders",
        ] {
            assert_eq!(target_of_arn(bad, "sqs"), None, "{bad}");
        }
    }

    #[test]
    fn a_target_is_checked() {
        assert_eq!(target().check(), Ok(()));
        assert_eq!(target().authorization().as_deref(), Some("Bearer s3cret"));
        let mut t = target();
        t.auth_token = Some("Basic dXNlcg==".into());
        assert_eq!(t.authorization().as_deref(), Some("Basic dXNlcg=="));
        for broken in [
            Target {
                name: "no spaces".into(),
                ..target()
            },
            Target {
                endpoint: "ftp://x".into(),
                ..target()
            },
            Target {
                endpoint: "http://".into(),
                ..target()
            },
            Target {
                endpoint: "http://a b".into(),
                ..target()
            },
            Target {
                auth_token: Some(String::new()),
                ..target()
            },
            Target {
                ca_cert: Some("not pem".into()),
                ..target()
            },
            Target {
                queue_limit: 0,
                ..target()
            },
        ] {
            assert!(broken.check().is_err(), "{broken:?}");
        }
    }

    #[test]
    fn the_stored_form_round_trips() {
        let s = Saved {
            targets: vec![target()],
        };
        assert_eq!(Saved::decode(&s.encode().unwrap()).unwrap(), s);
    }
}
