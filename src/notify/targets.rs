//! The operator's notification targets: where events go (HTTP webhooks,
//! NATS subjects), named by ARNs that bucket rules cite. Kept in the system store
//! (`.cairn/notify.state` on every drive) and changed through the admin
//! API; the set is node-wide (every core reads it, the admin call that
//! changes it stores it before it answers). Pure parts (ARNs, checks,
//! the stored form) are tested here; `deliver.rs` sends.

use serde::{Deserialize, Serialize};

use crate::format_version::{decode_json, encode_json, JsonError};

/// The file in each drive's `.cairn` that keeps the targets.
pub const STORE_FILE: &str = "notify.state";
/// Format of the stored targets. 2: NATS targets (`subject`,
/// `jetstream`); a format-1 file is a list of webhooks.
pub const STORE_FORMAT: u32 = 2;
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
/// NATS's own limit on a subject is the server's payload limit; a subject
/// this long is already a mistake.
const MAX_SUBJECT: usize = 256;

/// How a target is reached, told by its endpoint's scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `http://` or `https://`: each event is POSTed.
    Webhook,
    /// `nats://` or `tls://` (NATS over TLS): each event is published to
    /// the target's subject.
    Nats,
}

impl Kind {
    /// The last field of the target's ARN, as MinIO names its types.
    pub fn arn_type(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Nats => "nats",
        }
    }
}

/// One target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    /// `http://` or `https://` URL events are POSTed to, or the
    /// `nats://` (`tls://`) server they are published on; a NATS URL may
    /// carry `user:password@`.
    pub endpoint: String,
    /// A webhook's `Authorization: Bearer <token>` (a token with a space in
    /// it is sent as it is, as MinIO does); a NATS server's token.
    pub auth_token: Option<String>,
    /// PEM certificates trusted for an `https` (`tls`) endpoint instead of
    /// the system's roots.
    pub ca_cert: Option<String>,
    /// Events waiting for this target, over the node; beyond it new
    /// events are dropped (counted and logged).
    pub queue_limit: u64,
    /// A NATS target's subject (required for one, refused for a webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A NATS target publishes through JetStream and counts an event sent
    /// only once a stream stored it (otherwise once the server has it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub jetstream: bool,
}

impl Target {
    /// What the endpoint's scheme says the target is (None: neither, which
    /// `check` refuses).
    pub fn kind(&self) -> Option<Kind> {
        let scheme = self.endpoint.split_once("://")?.0;
        match scheme {
            "http" | "https" => Some(Kind::Webhook),
            "nats" | "tls" => Some(Kind::Nats),
            _ => None,
        }
    }

    /// The ARN a bucket rule of `service` (`sqs`, `sns`, `lambda`) uses.
    pub fn arn(&self, service: &str) -> String {
        let kind = self.kind().unwrap_or(Kind::Webhook).arn_type();
        format!("arn:cairn:{service}::{}:{kind}", self.name)
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
        const URLS: &str = "an http://, https://, nats:// or tls:// URL";
        let kind = self.kind().ok_or(format!("endpoint: {URLS}"))?;
        let rest = self.endpoint.split_once("://").map_or("", |(_, r)| r);
        if rest.is_empty() || rest.starts_with('/') || self.endpoint.len() > MAX_ENDPOINT {
            return Err(format!("endpoint: {URLS} with a host"));
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
        match (kind, &self.subject) {
            (Kind::Nats, Some(s)) => check_subject(s)?,
            (Kind::Nats, None) => return Err("subject: a NATS target needs one".into()),
            (Kind::Webhook, Some(_)) => return Err("subject: only for a NATS target".into()),
            (Kind::Webhook, None) => {}
        }
        if self.jetstream && kind != Kind::Nats {
            return Err("jetStream: only for a NATS target".into());
        }
        Ok(())
    }
}

/// A subject events are published to: tokens of printable characters
/// separated by dots, no wildcards (a publish names one subject).
fn check_subject(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_SUBJECT
        && s.split('.').all(|t| {
            !t.is_empty() && t != "*" && t != ">" && t.bytes().all(|b| b.is_ascii_graphic())
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "subject: 1 to {MAX_SUBJECT} printable characters in dot-separated tokens, no wildcards"
        ))
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
/// `arn:cairn:<service>::<name>:<type>`, or MinIO's `arn:minio:…` form of
/// it, which MinIO's tools write.
pub fn target_of_arn<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    arn_parts(arn, service).map(|(name, _)| name)
}

/// The target name and kind an ARN names.
pub fn arn_parts<'a>(arn: &'a str, service: &str) -> Option<(&'a str, Kind)> {
    // Without allocating: every event a change makes parses its rule's.
    let mut it = arn.split(':');
    let p: [&str; 6] = std::array::from_fn(|_| it.next().unwrap_or(""));
    if it.next().is_some() {
        return None;
    }
    let kind = match p[5] {
        "webhook" => Kind::Webhook,
        "nats" => Kind::Nats,
        _ => return None,
    };
    match p {
        ["arn", "cairn" | "minio", s, "", name, _] if s == service => {
            check_name(name).ok().map(|_| (name, kind))
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
            subject: None,
            jetstream: false,
        }
    }

    fn nats() -> Target {
        Target {
            name: "bus".into(),
            endpoint: "nats://user:pass@127.0.0.1:4222".into(),
            auth_token: None,
            ca_cert: None,
            queue_limit: 10,
            subject: Some("cairn.events".into()),
            jetstream: true,
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
        let n = nats();
        assert_eq!(n.arn("sqs"), "arn:cairn:sqs::bus:nats");
        assert_eq!(arn_parts(&n.arn("sqs"), "sqs"), Some(("bus", Kind::Nats)));
        assert_eq!(
            arn_parts("arn:minio:sqs::bus:nats", "sqs"),
            Some(("bus", Kind::Nats))
        );
        for bad in [
            "arn:aws:sqs:us-east-1:123456789012:orders",
            "arn:cairn:sqs::orders:kafka",
            "arn:cairn:sqs::or/ders:webhook",
            "arn:cairn:sqs:::webhook",
            "arn:cairn:sqs::orders:webhook:webhook",
            "arn:cairn:sqs:orders:webhook",
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
            Target {
                subject: Some("cairn.events".into()),
                ..target()
            },
            Target {
                jetstream: true,
                ..target()
            },
            Target {
                subject: None,
                ..nats()
            },
            Target {
                endpoint: "kafka://x:9092".into(),
                ..nats()
            },
        ] {
            assert!(broken.check().is_err(), "{broken:?}");
        }
        assert_eq!(nats().check(), Ok(()));
        for bad in ["", "a..b", "a.*", "a.>", "a b", ".a", "a."] {
            let t = Target {
                subject: Some(bad.into()),
                ..nats()
            };
            assert!(t.check().is_err(), "{bad:?}");
        }
        for good in ["a", "cairn.events", "orders-eu.created_v2"] {
            assert_eq!(check_subject(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn the_stored_form_round_trips() {
        let s = Saved {
            targets: vec![target(), nats()],
        };
        assert_eq!(Saved::decode(&s.encode().unwrap()).unwrap(), s);
        // A webhook stores no NATS fields, so its form is format 1's.
        let text = String::from_utf8(s.encode().unwrap()).unwrap();
        assert_eq!(text.matches("subject").count(), 1, "{text}");
    }
}
