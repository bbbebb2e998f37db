//! Event notifications (issue 17 part 3). Here, a bucket's rules as the
//! bucket table keeps them and the pure functions that say which rules an
//! event reaches and whether two rules overlap; `event`, an event and the
//! message a target receives; `targets`, the operator's targets;
//! `deliver`, the threads that send. The S3 side
//! (`s3/xml_notification.rs`) parses the document and checks each
//! destination against the targets; the engine writes events in the
//! transaction of their change (`engine/outbox.rs`).

use serde::{Deserialize, Serialize};

pub mod deliver;
pub mod event;
pub mod mark;
pub mod nats;
pub mod targets;

/// The event types a rule may name: S3's list (wildcards are the `:*`
/// forms). cairn raises the `ObjectCreated`, `ObjectRemoved`,
/// `ObjectTagging`, `ObjectAcl` and `LifecycleExpiration` ones; the others
/// are accepted, as S3 accepts them on any bucket, and never happen here.
pub const EVENTS: [&str; 27] = [
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:Replication:OperationNotTracked",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
];

/// The element a rule came in, answered back in the same one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleKind {
    /// `TopicConfiguration` (`Topic`).
    Topic,
    /// `QueueConfiguration` (`Queue`).
    Queue,
    /// `CloudFunctionConfiguration` (`CloudFunction`).
    Function,
}

impl RuleKind {
    /// The service its ARNs name.
    pub fn service(self) -> &'static str {
        match self {
            RuleKind::Topic => "sns",
            RuleKind::Queue => "sqs",
            RuleKind::Function => "lambda",
        }
    }
}

/// The rules of one bucket, in the order the client sent them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    pub rules: Vec<NotifyRule>,
}

/// One configuration: where events go, which, and for which keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyRule {
    /// The client's `Id`, or one made up when it sent none (as S3 does).
    pub id: String,
    pub kind: RuleKind,
    /// The destination's ARN, naming one of the operator's targets.
    pub arn: String,
    /// Event types as sent, each in [`EVENTS`].
    pub events: Vec<String>,
    /// The `prefix` and `suffix` filter rules (empty: none).
    pub prefix: String,
    pub suffix: String,
}

/// Whether the configured event type `pattern` names `event` (an exact
/// type such as `s3:ObjectCreated:Put`).
pub fn event_matches(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(family) => event.starts_with(family),
        None => pattern == event,
    }
}

/// Whether two configured event types can name one event.
fn events_overlap(a: &str, b: &str) -> bool {
    let family = |p: &str| p.strip_suffix('*').map(str::to_owned);
    match (family(a), family(b)) {
        (Some(fa), Some(fb)) => fa.starts_with(&fb) || fb.starts_with(&fa),
        (Some(f), None) => b.starts_with(&f),
        (None, Some(f)) => a.starts_with(&f),
        (None, None) => a == b,
    }
}

impl NotifyRule {
    /// Whether `event` on `key` reaches this rule's destination.
    pub fn matches(&self, event: &str, key: &str) -> bool {
        key.starts_with(self.prefix.as_str())
            && key.ends_with(self.suffix.as_str())
            && self.events.iter().any(|p| event_matches(p, event))
    }

    /// Whether some key and event could reach both rules: S3 refuses such
    /// a pair in one bucket ("Configurations overlap").
    pub fn overlaps(&self, other: &NotifyRule) -> bool {
        let prefixes = self.prefix.starts_with(other.prefix.as_str())
            || other.prefix.starts_with(self.prefix.as_str());
        let suffixes = self.suffix.ends_with(other.suffix.as_str())
            || other.suffix.ends_with(self.suffix.as_str());
        prefixes
            && suffixes
            && self
                .events
                .iter()
                .any(|a| other.events.iter().any(|b| events_overlap(a, b)))
    }
}

impl Notifications {
    /// The first pair of rules that overlap, if any.
    pub fn overlapping(&self) -> Option<(&NotifyRule, &NotifyRule)> {
        self.rules.iter().enumerate().find_map(|(i, a)| {
            self.rules[i + 1..]
                .iter()
                .find(|b| a.overlaps(b))
                .map(|b| (a, b))
        })
    }

    /// The rules `event` on `key` reaches, in configuration order.
    pub fn reached<'a>(
        &'a self,
        event: &'a str,
        key: &'a str,
    ) -> impl Iterator<Item = &'a NotifyRule> {
        self.rules.iter().filter(move |r| r.matches(event, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(events: &[&str], prefix: &str, suffix: &str) -> NotifyRule {
        NotifyRule {
            id: "r".into(),
            kind: RuleKind::Queue,
            arn: "arn:cairn:sqs::hook:webhook".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            prefix: prefix.into(),
            suffix: suffix.into(),
        }
    }

    #[test]
    fn a_wildcard_names_its_family_and_an_exact_type_only_itself() {
        assert!(event_matches("s3:ObjectCreated:*", "s3:ObjectCreated:Put"));
        assert!(event_matches(
            "s3:ObjectCreated:*",
            "s3:ObjectCreated:CompleteMultipartUpload"
        ));
        assert!(!event_matches(
            "s3:ObjectCreated:*",
            "s3:ObjectRemoved:Delete"
        ));
        assert!(event_matches(
            "s3:ObjectRemoved:Delete",
            "s3:ObjectRemoved:Delete"
        ));
        assert!(!event_matches(
            "s3:ObjectRemoved:Delete",
            "s3:ObjectRemoved:DeleteMarkerCreated"
        ));
    }

    #[test]
    fn a_rule_names_keys_by_prefix_and_suffix() {
        let r = rule(&["s3:ObjectCreated:*"], "images/", ".jpg");
        assert!(r.matches("s3:ObjectCreated:Put", "images/a.jpg"));
        assert!(!r.matches("s3:ObjectCreated:Put", "images/a.png"));
        assert!(!r.matches("s3:ObjectCreated:Put", "docs/a.jpg"));
        assert!(!r.matches("s3:ObjectRemoved:Delete", "images/a.jpg"));
        let all = rule(&["s3:ObjectRemoved:*"], "", "");
        assert!(all.matches("s3:ObjectRemoved:DeleteMarkerCreated", "any"));
    }

    #[test]
    fn rules_overlap_when_a_key_and_an_event_could_reach_both() {
        let jpg = rule(&["s3:ObjectCreated:*"], "images/", ".jpg");
        // Another suffix, another prefix range, or other events: no overlap.
        assert!(!jpg.overlaps(&rule(&["s3:ObjectCreated:*"], "images/", ".png")));
        assert!(!jpg.overlaps(&rule(&["s3:ObjectCreated:*"], "docs/", ".jpg")));
        assert!(!jpg.overlaps(&rule(&["s3:ObjectRemoved:*"], "images/", ".jpg")));
        // A wider prefix, no suffix, or one event of the family: overlap.
        assert!(jpg.overlaps(&rule(&["s3:ObjectCreated:*"], "im", "")));
        assert!(jpg.overlaps(&rule(&["s3:ObjectCreated:Put"], "images/2024/", "g")));
        let cfg = Notifications {
            rules: vec![
                jpg.clone(),
                rule(&["s3:ObjectRemoved:*"], "", ""),
                rule(&["s3:ObjectCreated:Copy"], "", ".jpg"),
            ],
        };
        let (a, b) = cfg.overlapping().expect("overlap");
        assert_eq!((a, b), (&cfg.rules[0], &cfg.rules[2]));
        let reached: Vec<_> = cfg
            .reached("s3:ObjectCreated:Copy", "images/x.jpg")
            .collect();
        assert_eq!(reached.len(), 2);
    }
}
