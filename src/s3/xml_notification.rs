//! The `NotificationConfiguration` document of
//! Put/GetBucketNotificationConfiguration: any number of
//! `TopicConfiguration`, `QueueConfiguration` and
//! `CloudFunctionConfiguration`, each with an optional `Id`, its
//! destination's ARN, one or more `Event`s and an optional `Filter` of
//! `S3Key` `FilterRule`s (`prefix`, `suffix`). An empty document removes
//! every rule. Pure: parsing and checking, no I/O; whether each ARN names
//! one of the operator's targets is the caller's question.

use crate::notify::{Notifications, NotifyRule, RuleKind, EVENTS};

use super::error::{S3Code, S3Error};
use super::xml::{malformed, require_blank, response, set_once, walk_elements};

const ROOT: &str = "NotificationConfiguration";

/// Longest `Id` S3 takes.
const MAX_ID_LEN: usize = 255;
/// Rules in one configuration: S3 documents no limit; this bounds the
/// bucket record and the matching each write does.
pub const MAX_RULES: usize = 100;
/// Longest filter value (a key is at most 1024 bytes).
const MAX_FILTER_LEN: usize = 1024;

fn invalid(message: &str) -> S3Error {
    S3Error::new(S3Code::InvalidArgument, message.to_owned())
}

/// A configuration element as the document gives it, before it is checked.
#[derive(Default)]
struct Raw {
    id: Option<String>,
    arn: Option<String>,
    events: Vec<String>,
    filter_rules: Vec<(Option<String>, Option<String>)>,
    rule_name: Option<String>,
    rule_value: Option<String>,
}

/// The element names of each kind: the container and its ARN.
fn kind_of(container: &[u8]) -> Option<(RuleKind, &'static [u8])> {
    match container {
        b"TopicConfiguration" => Some((RuleKind::Topic, b"Topic")),
        b"QueueConfiguration" => Some((RuleKind::Queue, b"Queue")),
        b"CloudFunctionConfiguration" => Some((RuleKind::Function, b"CloudFunction")),
        _ => None,
    }
}

/// PutBucketNotificationConfiguration's body, with S3's answers to a bad
/// one: anything outside the schema, or a configuration without an ARN or
/// an event, is MalformedXML; an event S3 does not know, a filter rule
/// named other than `prefix`/`suffix` or given twice, and two rules that a
/// key and an event could both reach are InvalidArgument. `new_id` makes
/// the ID of a rule sent without one.
pub fn parse_notifications(
    body: &[u8],
    mut new_id: impl FnMut() -> String,
) -> Result<Notifications, S3Error> {
    let mut rules: Vec<NotifyRule> = Vec::new();
    let mut cur = Raw::default();
    walk_elements(body, ROOT.as_bytes(), |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        match p.as_slice() {
            [_] => require_blank(&text),
            [_, c] => {
                require_blank(&text)?;
                let (kind, _) = kind_of(c).ok_or_else(malformed)?;
                if rules.len() == MAX_RULES {
                    return Err(invalid("Too many notification configurations."));
                }
                let raw = std::mem::take(&mut cur);
                rules.push(finish(raw, kind, &mut new_id)?);
                Ok(())
            }
            [_, c, field] => {
                let (_, arn) = kind_of(c).ok_or_else(malformed)?;
                match *field {
                    b"Id" => set_once(&mut cur.id, text),
                    b"Event" => {
                        cur.events.push(text.trim().to_owned());
                        Ok(())
                    }
                    b"Filter" => require_blank(&text),
                    f if f == arn => set_once(&mut cur.arn, text.trim().to_owned()),
                    _ => Err(malformed()),
                }
            }
            [_, c, b"Filter", b"S3Key"] if kind_of(c).is_some() => require_blank(&text),
            [_, c, b"Filter", b"S3Key", b"FilterRule"] if kind_of(c).is_some() => {
                require_blank(&text)?;
                let rule = (cur.rule_name.take(), cur.rule_value.take());
                cur.filter_rules.push(rule);
                Ok(())
            }
            [_, c, b"Filter", b"S3Key", b"FilterRule", b"Name"] if kind_of(c).is_some() => {
                set_once(&mut cur.rule_name, text.trim().to_owned())
            }
            [_, c, b"Filter", b"S3Key", b"FilterRule", b"Value"] if kind_of(c).is_some() => {
                set_once(&mut cur.rule_value, text)
            }
            _ => Err(malformed()),
        }
    })?;
    let n = Notifications { rules };
    if n.overlapping().is_some() {
        return Err(invalid(
            "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
        ));
    }
    Ok(n)
}

fn finish(
    raw: Raw,
    kind: RuleKind,
    new_id: &mut impl FnMut() -> String,
) -> Result<NotifyRule, S3Error> {
    let arn = raw.arn.filter(|a| !a.is_empty()).ok_or_else(malformed)?;
    if raw.events.is_empty() {
        return Err(malformed());
    }
    if let Some(e) = raw.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
        return Err(invalid(&format!(
            "The event '{e}' is not supported for notifications."
        )));
    }
    let id = match raw.id {
        Some(id) if id.len() > MAX_ID_LEN => return Err(invalid("The ID is too long.")),
        Some(id) if !id.is_empty() => id,
        _ => new_id(),
    };
    let (mut prefix, mut suffix) = (None, None);
    for (name, value) in raw.filter_rules {
        let (name, value) = (name.ok_or_else(malformed)?, value.unwrap_or_default());
        if value.len() > MAX_FILTER_LEN {
            return Err(invalid("The filter rule value is too long."));
        }
        let slot = match name.to_ascii_lowercase().as_str() {
            "prefix" => &mut prefix,
            "suffix" => &mut suffix,
            _ => return Err(invalid("filter rule name must be either prefix or suffix")),
        };
        if slot.replace(value).is_some() {
            return Err(invalid(&format!(
                "Cannot specify more than one {} rule in a filter.",
                name.to_ascii_lowercase()
            )));
        }
    }
    Ok(NotifyRule {
        id,
        kind,
        arn,
        events: raw.events,
        prefix: prefix.unwrap_or_default(),
        suffix: suffix.unwrap_or_default(),
    })
}

/// GetBucketNotificationConfiguration's answer: the rules as stored, each
/// in the element it came in (S3 lists topics, then queues, then
/// functions).
pub fn notifications_document(n: &Notifications) -> Vec<u8> {
    response(ROOT, 64 + 256 * n.rules.len(), |w| {
        for kind in [RuleKind::Topic, RuleKind::Queue, RuleKind::Function] {
            let (container, arn) = match kind {
                RuleKind::Topic => ("TopicConfiguration", "Topic"),
                RuleKind::Queue => ("QueueConfiguration", "Queue"),
                RuleKind::Function => ("CloudFunctionConfiguration", "CloudFunction"),
            };
            for r in n.rules.iter().filter(|r| r.kind == kind) {
                w.element(container, |w| {
                    w.text("Id", &r.id);
                    w.text(arn, &r.arn);
                    for e in &r.events {
                        w.text("Event", e);
                    }
                    if !r.prefix.is_empty() || !r.suffix.is_empty() {
                        w.element("Filter", |w| {
                            w.element("S3Key", |w| {
                                for (name, value) in [("prefix", &r.prefix), ("suffix", &r.suffix)]
                                {
                                    if !value.is_empty() {
                                        w.element("FilterRule", |w| {
                                            w.text("Name", name);
                                            w.text("Value", value);
                                        });
                                    }
                                }
                            });
                        });
                    }
                });
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(inner: &str) -> String {
        format!(
            "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{inner}</NotificationConfiguration>"
        )
    }

    fn parse(body: &str) -> Result<Notifications, S3Error> {
        let mut n = 0;
        parse_notifications(body.as_bytes(), || {
            n += 1;
            format!("made-{n}")
        })
    }

    fn code(body: &str) -> (S3Code, String) {
        let e = parse(body).unwrap_err();
        (e.code, e.message)
    }

    fn queue(id: &str, events: &[&str], filter: &str) -> String {
        let events: String = events
            .iter()
            .map(|e| format!("<Event>{e}</Event>"))
            .collect();
        format!(
            "<QueueConfiguration>{id}<Queue>arn:cairn:sqs::hook:webhook</Queue>{events}{filter}</QueueConfiguration>"
        )
    }

    fn filter(rules: &[(&str, &str)]) -> String {
        let rules: String = rules
            .iter()
            .map(|(n, v)| format!("<FilterRule><Name>{n}</Name><Value>{v}</Value></FilterRule>"))
            .collect();
        format!("<Filter><S3Key>{rules}</S3Key></Filter>")
    }

    #[test]
    fn every_kind_parses_and_reads_back() {
        let body = doc(&format!(
            "{}<TopicConfiguration><Topic>arn:cairn:sns::t:webhook</Topic><Event>s3:ObjectRemoved:*</Event></TopicConfiguration>\
             <CloudFunctionConfiguration><Id>f</Id><CloudFunction>arn:cairn:lambda::f:webhook</CloudFunction><Event>s3:ObjectTagging:Put</Event></CloudFunctionConfiguration>",
            queue(
                "<Id>images</Id>",
                &["s3:ObjectCreated:*"],
                &filter(&[("prefix", "images/"), ("Suffix", ".jpg")])
            )
        ));
        let n = parse(&body).unwrap();
        assert_eq!(n.rules.len(), 3);
        assert_eq!(
            n.rules[0],
            NotifyRule {
                id: "images".into(),
                kind: RuleKind::Queue,
                arn: "arn:cairn:sqs::hook:webhook".into(),
                events: vec!["s3:ObjectCreated:*".into()],
                prefix: "images/".into(),
                suffix: ".jpg".into(),
            }
        );
        assert_eq!(
            (n.rules[1].id.as_str(), n.rules[1].kind),
            ("made-1", RuleKind::Topic)
        );
        assert_eq!(n.rules[2].kind, RuleKind::Function);
        // The answer parses back to the same rules (in S3's kind order).
        let back = parse(std::str::from_utf8(&notifications_document(&n)).unwrap()).unwrap();
        let mut want = n.rules.clone();
        want.sort_by_key(|r| r.kind as u8);
        assert_eq!(back.rules, want);
    }

    #[test]
    fn an_empty_document_holds_no_rule() {
        assert!(parse(&doc("")).unwrap().rules.is_empty());
    }

    #[test]
    fn each_bad_document_gets_s3s_code() {
        let malformed = [
            doc("<Other/>"),
            doc("<QueueConfiguration><Event>s3:ObjectCreated:*</Event></QueueConfiguration>"),
            doc("<QueueConfiguration><Queue>arn</Queue></QueueConfiguration>"),
            doc("<QueueConfiguration><Topic>arn</Topic><Event>s3:ObjectCreated:*</Event></QueueConfiguration>"),
            doc(&queue("", &["s3:ObjectCreated:*"], "<Filter><Key/></Filter>")),
            "not xml".to_owned(),
        ];
        for body in malformed {
            assert_eq!(code(&body).0, S3Code::MalformedXML, "{body}");
        }
        let invalid = [
            (queue("", &["s3:ObjectCreated:Bogus"], ""), "not supported"),
            (
                queue("", &["s3:ObjectCreated:*"], &filter(&[("middle", "x")])),
                "prefix or suffix",
            ),
            (
                queue(
                    "",
                    &["s3:ObjectCreated:*"],
                    &filter(&[("prefix", "a"), ("Prefix", "b")]),
                ),
                "more than one prefix",
            ),
            (
                format!(
                    "{}{}",
                    queue(
                        "",
                        &["s3:ObjectCreated:*"],
                        &filter(&[("prefix", "images/")])
                    ),
                    queue(
                        "",
                        &["s3:ObjectCreated:Put"],
                        &filter(&[("suffix", ".jpg")])
                    )
                ),
                "Configurations overlap",
            ),
        ];
        for (inner, message) in invalid {
            let (c, m) = code(&doc(&inner));
            assert_eq!(c, S3Code::InvalidArgument, "{inner}");
            assert!(m.contains(message), "{inner}: {m}");
        }
        // Other events or disjoint filters do not overlap.
        let fine = format!(
            "{}{}",
            queue("", &["s3:ObjectCreated:*"], &filter(&[("suffix", ".jpg")])),
            queue("", &["s3:ObjectCreated:*"], &filter(&[("suffix", ".png")]))
        );
        assert_eq!(parse(&doc(&fine)).unwrap().rules.len(), 2);
    }
}
