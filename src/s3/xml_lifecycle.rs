//! The `LifecycleConfiguration` document of Put/GetBucketLifecycleConfiguration:
//! 1 to [`MAX_RULES`] `Rule`s, each with an optional `ID`, a `Status`, the
//! objects it names (its own `Prefix`, the older form, or a `Filter` holding
//! one of `Prefix`, `Tag`, `ObjectSizeGreaterThan`, `ObjectSizeLessThan`,
//! `And`) and at least one action: `Expiration` (`Days`, `Date` or
//! `ExpiredObjectDeleteMarker`), `NoncurrentVersionExpiration`,
//! `AbortIncompleteMultipartUpload`, `Transition`,
//! `NoncurrentVersionTransition`. Pure: parsing and checking, no I/O.

use crate::engine::class::STANDARD;
use crate::iam::policy::parse_date;
use crate::lifecycle::{
    And, Expiration, Filter, Lifecycle, NoncurrentExpiration, Rule, Scope, Tag, Transition,
    TransitionWhen, DAY_MS,
};

use super::error::{S3Code, S3Error};
use super::xml::{iso8601_ms, malformed, require_blank, response, set_once, walk_elements};

const ROOT: &str = "LifecycleConfiguration";

/// AWS's limit on rules in one configuration.
pub const MAX_RULES: usize = 1000;

/// Longest rule ID S3 takes.
pub const MAX_ID_LEN: usize = 255;

/// The classes S3's schema lets a transition name (`TransitionStorageClass`).
/// cairn defines none of them, so a transition to one is refused with
/// InvalidStorageClass, as S3 refuses a class it does not offer; a name
/// outside this list that the node does not define either does not
/// validate at all.
const TRANSITION_CLASSES: [&str; 6] = [
    "GLACIER",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

#[derive(Default)]
struct RawExpiration {
    days: Option<String>,
    date: Option<String>,
    marker: Option<String>,
}

#[derive(Default)]
struct RawNoncurrent {
    days: Option<String>,
    newer: Option<String>,
}

#[derive(Default)]
struct RawTransition {
    days: Option<String>,
    date: Option<String>,
    class: Option<String>,
    newer: Option<String>,
}

/// A `Rule` as the document gives it, before it is checked.
#[derive(Default)]
struct RawRule {
    id: Option<String>,
    status: Option<String>,
    prefix: Option<String>,
    /// The predicates directly in `Filter` (one at most is valid).
    filter: Option<Vec<Filter>>,
    expiration: Option<RawExpiration>,
    noncurrent: Option<RawNoncurrent>,
    abort: Option<RawNoncurrent>,
    transitions: Vec<RawTransition>,
    noncurrent_transitions: Vec<RawTransition>,
}

/// The containers open while a rule is read (their children close first).
#[derive(Default)]
struct Open {
    rule: RawRule,
    filter: Vec<Filter>,
    and: And,
    tag_key: Option<String>,
    tag_value: Option<String>,
    expiration: RawExpiration,
    noncurrent: RawNoncurrent,
    transition: RawTransition,
}

fn size(text: &str) -> Result<u64, S3Error> {
    text.trim().parse().map_err(|_| malformed())
}

fn invalid_argument(message: &str) -> S3Error {
    S3Error::new(S3Code::InvalidArgument, message)
}

fn invalid_request(message: &str) -> S3Error {
    S3Error::new(S3Code::InvalidRequest, message)
}

/// PutBucketLifecycleConfiguration's body, checked as S3 checks it (the
/// first fault found answers). A rule without an `ID` gets `new_id()`,
/// drawn again until it differs from every other rule's.
///
/// MalformedXML: anything outside the schema (an unknown or repeated
/// element, a `Status` other than Enabled/Disabled, a number or date that
/// does not parse, a transition class S3 does not define), a rule with both
/// its own `Prefix` and a `Filter` or with neither, a `Filter` with more
/// than one predicate, an `Expiration` with none or both of `Days` and
/// `Date`. InvalidRequest (S3's error table): no rule, more than 1,000, a
/// rule with no action, `ObjectSizeLessThan` not above
/// `ObjectSizeGreaterThan`, a tag key twice in an `And`,
/// `ExpiredObjectDeleteMarker` or `AbortIncompleteMultipartUpload` in a rule
/// that filters by tags. InvalidArgument: an
/// ID over 255 characters or on two rules, a count of days below 1, a
/// `Date` not at midnight UTC, `ExpiredObjectDeleteMarker` with `Days` or
/// `Date`, an Expiration (or NoncurrentVersionExpiration) not after a
/// transition of its rule, two transitions of a rule to one class.
/// InvalidStorageClass: a transition to a class of S3's the node lacks.
/// `classes`: the node's storage class names.
pub fn parse_lifecycle(
    body: &[u8],
    classes: &[&str],
    mut new_id: impl FnMut() -> String,
) -> Result<Lifecycle, S3Error> {
    let mut raw: Vec<RawRule> = Vec::new();
    let mut o = Open::default();
    walk_elements(body, ROOT.as_bytes(), |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        let Some((_, inner)) = p.split_first() else {
            return Err(malformed());
        };
        let [b"Rule", rest @ ..] = inner else {
            return if inner.is_empty() {
                require_blank(&text)
            } else {
                Err(malformed())
            };
        };
        let r = &mut o.rule;
        match rest {
            [] => {
                require_blank(&text)?;
                if raw.len() == MAX_RULES {
                    return Err(invalid_request(
                        "The number of lifecycle rules must not exceed the allowed limit of 1000 rules.",
                    ));
                }
                raw.push(std::mem::take(r));
                Ok(())
            }
            [b"ID"] => set_once(&mut r.id, text),
            [b"Status"] => set_once(&mut r.status, text),
            [b"Prefix"] => set_once(&mut r.prefix, text),
            [b"Filter"] => {
                require_blank(&text)?;
                set_once(&mut r.filter, std::mem::take(&mut o.filter))
            }
            [b"Filter", b"Prefix"] => {
                o.filter.push(Filter::Prefix(text));
                Ok(())
            }
            [b"Filter", b"ObjectSizeGreaterThan"] => {
                o.filter.push(Filter::SizeGreaterThan(size(&text)?));
                Ok(())
            }
            [b"Filter", b"ObjectSizeLessThan"] => {
                o.filter.push(Filter::SizeLessThan(size(&text)?));
                Ok(())
            }
            [b"Filter", b"And", b"Tag", b"Key"] | [b"Filter", b"Tag", b"Key"] => {
                set_once(&mut o.tag_key, text)
            }
            [b"Filter", b"And", b"Tag", b"Value"] | [b"Filter", b"Tag", b"Value"] => {
                set_once(&mut o.tag_value, text)
            }
            [b"Filter", b"Tag"] | [b"Filter", b"And", b"Tag"] => {
                require_blank(&text)?;
                let tag = Tag {
                    key: o.tag_key.take().ok_or_else(malformed)?,
                    value: o.tag_value.take().ok_or_else(malformed)?,
                };
                if rest.len() == 2 {
                    o.filter.push(Filter::Tag(tag));
                } else {
                    o.and.tags.push(tag);
                }
                Ok(())
            }
            [b"Filter", b"And"] => {
                require_blank(&text)?;
                o.filter.push(Filter::And(std::mem::take(&mut o.and)));
                Ok(())
            }
            [b"Filter", b"And", b"Prefix"] => set_once(&mut o.and.prefix, text),
            [b"Filter", b"And", b"ObjectSizeGreaterThan"] => {
                set_once(&mut o.and.size_greater_than, size(&text)?)
            }
            [b"Filter", b"And", b"ObjectSizeLessThan"] => {
                set_once(&mut o.and.size_less_than, size(&text)?)
            }
            [b"Expiration"] => {
                require_blank(&text)?;
                set_once(&mut r.expiration, std::mem::take(&mut o.expiration))
            }
            [b"Expiration", b"Days"] => set_once(&mut o.expiration.days, text),
            [b"Expiration", b"Date"] => set_once(&mut o.expiration.date, text),
            [b"Expiration", b"ExpiredObjectDeleteMarker"] => {
                set_once(&mut o.expiration.marker, text)
            }
            [b"NoncurrentVersionExpiration" | b"AbortIncompleteMultipartUpload"] => {
                require_blank(&text)?;
                let slot = if rest[0] == b"NoncurrentVersionExpiration" {
                    &mut r.noncurrent
                } else {
                    &mut r.abort
                };
                set_once(slot, std::mem::take(&mut o.noncurrent))
            }
            [b"NoncurrentVersionExpiration", b"NoncurrentDays"]
            | [b"AbortIncompleteMultipartUpload", b"DaysAfterInitiation"] => {
                set_once(&mut o.noncurrent.days, text)
            }
            [b"NoncurrentVersionExpiration", b"NewerNoncurrentVersions"] => {
                set_once(&mut o.noncurrent.newer, text)
            }
            [b"Transition"] => {
                require_blank(&text)?;
                r.transitions.push(std::mem::take(&mut o.transition));
                Ok(())
            }
            [b"NoncurrentVersionTransition"] => {
                require_blank(&text)?;
                r.noncurrent_transitions
                    .push(std::mem::take(&mut o.transition));
                Ok(())
            }
            [b"Transition", b"Days"] | [b"NoncurrentVersionTransition", b"NoncurrentDays"] => {
                set_once(&mut o.transition.days, text)
            }
            [b"Transition", b"Date"] => set_once(&mut o.transition.date, text),
            [b"Transition" | b"NoncurrentVersionTransition", b"StorageClass"] => {
                set_once(&mut o.transition.class, text)
            }
            [b"NoncurrentVersionTransition", b"NewerNoncurrentVersions"] => {
                set_once(&mut o.transition.newer, text)
            }
            _ => Err(malformed()),
        }
    })?;
    if raw.is_empty() {
        return Err(invalid_request(
            "At least one lifecycle rule must be specified.",
        ));
    }
    let mut ids: std::collections::HashSet<String> = std::collections::HashSet::new();
    for id in raw.iter().filter_map(|r| r.id.as_deref()) {
        // S3 counts UTF-16 units, as its SDKs measure the field.
        if id.encode_utf16().count() > MAX_ID_LEN {
            return Err(invalid_argument(
                "ID length should not exceed allowed limit of 255",
            ));
        }
        if !id.is_empty() && !ids.insert(id.to_owned()) {
            return Err(invalid_argument(
                "Rule ID must be unique. Found same ID for more than one rule",
            ));
        }
    }
    let mut rules = Vec::with_capacity(raw.len());
    for r in raw {
        let mut rule = check_rule(&r, classes)?;
        if rule.id.is_empty() {
            rule.id = loop {
                let id = new_id();
                if ids.insert(id.clone()) {
                    break id;
                }
            };
        }
        rules.push(rule);
    }
    Ok(Lifecycle {
        rules,
        transition_minimum: Default::default(),
    })
}

/// A count of days or versions that must be at least 1; `what` names it in
/// S3's message.
fn positive(text: &str, what: &str) -> Result<u32, S3Error> {
    let n: i64 = text.trim().parse().map_err(|_| malformed())?;
    if n < 1 {
        return Err(invalid_argument(what));
    }
    u32::try_from(n).map_err(|_| malformed())
}

/// An ISO 8601 `Date`, which must be midnight UTC.
fn midnight(text: &str) -> Result<u64, S3Error> {
    let t = text.trim();
    // parse_date also takes epoch seconds, which the schema's timestamp
    // does not.
    if !t.contains('-') {
        return Err(malformed());
    }
    let ms = parse_date(t).ok_or_else(malformed)?;
    let ms = u64::try_from(ms).map_err(|_| invalid_argument("'Date' must be at midnight GMT"))?;
    if ms % DAY_MS != 0 {
        return Err(invalid_argument("'Date' must be at midnight GMT"));
    }
    Ok(ms)
}

fn check_rule(r: &RawRule, classes: &[&str]) -> Result<Rule, S3Error> {
    let enabled = match r.status.as_deref().map(str::trim) {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(malformed()),
    };
    let scope = match (&r.prefix, &r.filter) {
        (Some(p), None) => Scope::Prefix(p.clone()),
        (None, Some(f)) if f.len() <= 1 => Scope::Filter(f.first().cloned()),
        _ => return Err(malformed()),
    };
    if r.expiration.is_none()
        && r.noncurrent.is_none()
        && r.abort.is_none()
        && r.transitions.is_empty()
        && r.noncurrent_transitions.is_empty()
    {
        return Err(invalid_request(
            "At least one action needs to be specified in a rule",
        ));
    }
    if let Scope::Filter(Some(Filter::And(a))) = &scope {
        if let (Some(gt), Some(lt)) = (a.size_greater_than, a.size_less_than) {
            if lt <= gt {
                return Err(invalid_request(
                    "'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.",
                ));
            }
        }
        let mut keys = std::collections::HashSet::new();
        if !a.tags.iter().all(|t| keys.insert(t.key.as_str())) {
            return Err(invalid_request("Duplicate Tag Keys are not allowed."));
        }
    }
    let expiration = match &r.expiration {
        None => None,
        Some(e) => Some(match (&e.days, &e.date, &e.marker) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(invalid_argument(
                    "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.",
                ))
            }
            (Some(d), None, None) => Expiration::Days(positive(
                d,
                "'Days' for Expiration action must be a positive integer",
            )?),
            (None, Some(d), None) => Expiration::DateMs(midnight(d)?),
            (None, None, Some(m)) => Expiration::ExpiredObjectDeleteMarker(match m.trim() {
                "true" => true,
                "false" => false,
                _ => return Err(malformed()),
            }),
            _ => return Err(malformed()),
        }),
    };
    let noncurrent_expiration = match &r.noncurrent {
        None => None,
        Some(n) => Some(NoncurrentExpiration {
            noncurrent_days: positive(
                n.days.as_deref().ok_or_else(malformed)?,
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            )?,
            newer_noncurrent_versions: n
                .newer
                .as_deref()
                .map(|v| positive(v, "'NewerNoncurrentVersions' must be a positive integer"))
                .transpose()?,
        }),
    };
    let abort_incomplete_upload_days = match &r.abort {
        None => None,
        Some(a) => Some(positive(
            a.days.as_deref().ok_or_else(malformed)?,
            "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
        )?),
    };
    // The user guide: neither action can be taken on objects chosen by
    // their tags (a delete marker and an upload have none).
    let by_tags = match &scope {
        Scope::Filter(Some(Filter::Tag(_))) => true,
        Scope::Filter(Some(Filter::And(a))) => !a.tags.is_empty(),
        _ => false,
    };
    if by_tags && matches!(expiration, Some(Expiration::ExpiredObjectDeleteMarker(_))) {
        return Err(invalid_request(
            "ExpiredObjectDeleteMarker cannot be specified with Tags.",
        ));
    }
    if by_tags && abort_incomplete_upload_days.is_some() {
        return Err(invalid_request(
            "AbortIncompleteMultipartUpload cannot be specified with Tags.",
        ));
    }
    let transitions = check_transitions(r, expiration, noncurrent_expiration, classes)?;
    Ok(Rule {
        id: r.id.clone().unwrap_or_default(),
        enabled,
        scope,
        expiration,
        noncurrent_expiration,
        abort_incomplete_upload_days,
        transitions,
    })
}

/// A rule's transitions, checked as S3 checks them. The class must be one
/// of `classes` (the node's) other than STANDARD; one S3's schema defines
/// that the node does not is InvalidStorageClass (after the form is
/// checked), any other name MalformedXML.
fn check_transitions(
    r: &RawRule,
    expiration: Option<Expiration>,
    noncurrent_expiration: Option<NoncurrentExpiration>,
    classes: &[&str],
) -> Result<Vec<Transition>, S3Error> {
    let mut out = Vec::with_capacity(r.transitions.len() + r.noncurrent_transitions.len());
    let mut unknown: Option<&str> = None;
    for (t, current) in r
        .transitions
        .iter()
        .map(|t| (t, true))
        .chain(r.noncurrent_transitions.iter().map(|t| (t, false)))
    {
        let class = t.class.as_deref().map(str::trim).ok_or_else(malformed)?;
        let ours = class != STANDARD && classes.contains(&class);
        if !ours && !TRANSITION_CLASSES.contains(&class) {
            return Err(malformed());
        }
        let when = match (current, &t.days, &t.date) {
            (true, Some(d), None) => TransitionWhen::Days(days_at_least_0(
                d,
                "'Days' in Transition action must be greater than or equal to 0",
            )?),
            (true, None, Some(d)) => TransitionWhen::DateMs(midnight(d)?),
            (false, Some(d), None) => TransitionWhen::Noncurrent {
                noncurrent_days: days_at_least_0(
                    d,
                    "'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal to 0",
                )?,
                newer_noncurrent_versions: t
                    .newer
                    .as_deref()
                    .map(|v| positive(v, "'NewerNoncurrentVersions' must be a positive integer"))
                    .transpose()?,
            },
            _ => return Err(malformed()),
        };
        if !ours {
            unknown.get_or_insert(class);
            continue;
        }
        out.push(Transition {
            when,
            class: class.to_owned(),
        });
    }
    if let Some(class) = unknown {
        return Err(S3Error::new(
            S3Code::InvalidStorageClass,
            format!("The storage class you specified is not valid: {class} (this node does not define it)"),
        ));
    }
    for (i, t) in out.iter().enumerate() {
        let current = !matches!(t.when, TransitionWhen::Noncurrent { .. });
        let same_kind =
            |u: &Transition| current != matches!(u.when, TransitionWhen::Noncurrent { .. });
        if out[..i].iter().any(|u| same_kind(u) && u.class == t.class) {
            return Err(invalid_argument(if current {
                "'StorageClass' must be different for 'Transition' actions in same 'Rule'"
            } else {
                "'StorageClass' must be different for 'NoncurrentVersionTransition' actions in same 'Rule'"
            }));
        }
        let mixed = |a: TransitionWhen, b: TransitionWhen| {
            matches!(
                (a, b),
                (TransitionWhen::Days(_), TransitionWhen::DateMs(_))
                    | (TransitionWhen::DateMs(_), TransitionWhen::Days(_))
            )
        };
        if out[..i].iter().any(|u| mixed(u.when, t.when)) {
            return Err(invalid_request(
                "Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule",
            ));
        }
        match (t.when, expiration) {
            (TransitionWhen::Days(_), Some(Expiration::DateMs(_)))
            | (TransitionWhen::DateMs(_), Some(Expiration::Days(_))) => {
                return Err(invalid_request(
                    "Found mixed 'Date' and 'Days' based Expiration and Transition actions in lifecycle rule",
                ))
            }
            (TransitionWhen::Days(t), Some(Expiration::Days(e))) if e <= t => {
                return Err(invalid_argument(
                    "'Days' in the Expiration action must be greater than 'Days' in the Transition action",
                ))
            }
            (TransitionWhen::DateMs(t), Some(Expiration::DateMs(e))) if e <= t => {
                return Err(invalid_argument(
                    "'Date' in the Expiration action must be later than 'Date' in the Transition action",
                ))
            }
            (TransitionWhen::Noncurrent { noncurrent_days, .. }, _)
                if noncurrent_expiration.is_some_and(|n| n.noncurrent_days <= noncurrent_days) =>
            {
                return Err(invalid_argument(
                    "'NoncurrentDays' in the NoncurrentVersionExpiration action must be greater than 'NoncurrentDays' in the NoncurrentVersionTransition action",
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A count of days that may be 0.
fn days_at_least_0(text: &str, what: &str) -> Result<u32, S3Error> {
    let n: i64 = text.trim().parse().map_err(|_| malformed())?;
    if n < 0 {
        return Err(invalid_argument(what));
    }
    u32::try_from(n).map_err(|_| malformed())
}

fn write_filter(w: &mut crate::xmlw::Writer<'_>, f: &Filter) {
    let tag = |w: &mut crate::xmlw::Writer<'_>, t: &Tag| {
        w.element("Tag", |w| {
            w.text("Key", &t.key);
            w.text("Value", &t.value);
        })
    };
    match f {
        Filter::Prefix(p) => w.text("Prefix", p),
        Filter::Tag(t) => tag(w, t),
        Filter::SizeGreaterThan(n) => w.num("ObjectSizeGreaterThan", *n),
        Filter::SizeLessThan(n) => w.num("ObjectSizeLessThan", *n),
        Filter::And(a) => w.element("And", |w| {
            w.text_opt("Prefix", a.prefix.as_deref());
            for t in &a.tags {
                tag(w, t);
            }
            if let Some(n) = a.size_greater_than {
                w.num("ObjectSizeGreaterThan", n);
            }
            if let Some(n) = a.size_less_than {
                w.num("ObjectSizeLessThan", n);
            }
        }),
    }
}

/// GetBucketLifecycleConfiguration's answer: the rules as stored, each in
/// the form it was given (its own `Prefix` or a `Filter`).
pub fn lifecycle_document(lc: &Lifecycle) -> Vec<u8> {
    response(ROOT, 64 + 256 * lc.rules.len(), |w| {
        for r in &lc.rules {
            w.element("Rule", |w| {
                w.text("ID", &r.id);
                match &r.scope {
                    Scope::Prefix(p) => w.text("Prefix", p),
                    Scope::Filter(f) => w.element("Filter", |w| {
                        if let Some(f) = f {
                            write_filter(w, f);
                        }
                    }),
                }
                w.text("Status", if r.enabled { "Enabled" } else { "Disabled" });
                if let Some(e) = r.expiration {
                    w.element("Expiration", |w| match e {
                        Expiration::Days(d) => w.num("Days", u64::from(d)),
                        Expiration::DateMs(ms) => w.text("Date", &iso8601_ms(ms)),
                        Expiration::ExpiredObjectDeleteMarker(m) => {
                            w.boolean("ExpiredObjectDeleteMarker", m)
                        }
                    });
                }
                if let Some(n) = r.noncurrent_expiration {
                    w.element("NoncurrentVersionExpiration", |w| {
                        w.num("NoncurrentDays", u64::from(n.noncurrent_days));
                        if let Some(v) = n.newer_noncurrent_versions {
                            w.num("NewerNoncurrentVersions", u64::from(v));
                        }
                    });
                }
                for t in &r.transitions {
                    match t.when {
                        TransitionWhen::Days(d) => w.element("Transition", |w| {
                            w.num("Days", u64::from(d));
                            w.text("StorageClass", &t.class);
                        }),
                        TransitionWhen::DateMs(ms) => w.element("Transition", |w| {
                            w.text("Date", &iso8601_ms(ms));
                            w.text("StorageClass", &t.class);
                        }),
                        TransitionWhen::Noncurrent {
                            noncurrent_days,
                            newer_noncurrent_versions,
                        } => w.element("NoncurrentVersionTransition", |w| {
                            w.num("NoncurrentDays", u64::from(noncurrent_days));
                            if let Some(v) = newer_noncurrent_versions {
                                w.num("NewerNoncurrentVersions", u64::from(v));
                            }
                            w.text("StorageClass", &t.class);
                        }),
                    }
                }
                if let Some(d) = r.abort_incomplete_upload_days {
                    w.element("AbortIncompleteMultipartUpload", |w| {
                        w.num("DaysAfterInitiation", u64::from(d))
                    });
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node's classes in these tests.
    const CLASSES: [&str; 3] = ["STANDARD", "REDUCED_REDUNDANCY", "COLD"];

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("gen{n}")
        }
    }

    fn parse(body: &str) -> Result<Lifecycle, S3Error> {
        parse_lifecycle(body.as_bytes(), &CLASSES, ids())
    }

    fn doc(rules: &str) -> String {
        format!(
            "<LifecycleConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{rules}</LifecycleConfiguration>"
        )
    }

    fn rule(inner: &str) -> String {
        doc(&format!("<Rule>{inner}</Rule>"))
    }

    const EXPIRE: &str = "<Expiration><Days>1</Days></Expiration>";

    fn ok_rule(scope: &str) -> String {
        rule(&format!("<Status>Enabled</Status>{scope}{EXPIRE}"))
    }

    /// 2012-12-23T00:00:00Z.
    const DEC23: u64 = 1_356_220_800_000;

    /// The shape of AWS's PutBucketLifecycleConfiguration examples, with
    /// every element cairn stores.
    const EXAMPLE: &str = "<LifecycleConfiguration>\
        <Rule><ID>picture-deletion-rule</ID><Filter><Prefix>pictures/</Prefix></Filter>\
          <Status>Enabled</Status><Expiration><Date>2012-12-23T00:00:00.000Z</Date></Expiration></Rule>\
        <Rule><Prefix>logs/</Prefix><Status>Disabled</Status>\
          <Expiration><Days>365</Days></Expiration>\
          <NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays>\
            <NewerNoncurrentVersions>5</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
          <AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>\
        <Rule><ID>tagged</ID><Filter><And><Prefix>a/</Prefix>\
            <Tag><Key>k1</Key><Value>v1</Value></Tag><Tag><Key>k2</Key><Value></Value></Tag>\
            <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>20</ObjectSizeLessThan>\
          </And></Filter><Status>Enabled</Status>\
          <Expiration><Days>5</Days></Expiration></Rule>\
        <Rule><ID>all</ID><Filter></Filter><Status>Enabled</Status>\
          <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>\
        <Rule><ID>tag</ID><Filter><Tag><Key>t</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>\
          <Expiration><Days>2</Days></Expiration></Rule>\
        <Rule><ID>big</ID><Filter><ObjectSizeGreaterThan>0</ObjectSizeGreaterThan></Filter><Status>Enabled</Status>\
          <Expiration><Days>3</Days></Expiration></Rule>\
        <Rule><ID>small</ID><Filter><ObjectSizeLessThan>100</ObjectSizeLessThan></Filter><Status>Enabled</Status>\
          <Expiration><Days>4</Days></Expiration></Rule>\
      </LifecycleConfiguration>";

    fn r(id: &str, enabled: bool, scope: Scope, expiration: Option<Expiration>) -> Rule {
        Rule {
            id: id.into(),
            enabled,
            scope,
            expiration,
            noncurrent_expiration: None,
            abort_incomplete_upload_days: None,
            transitions: Vec::new(),
        }
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    #[test]
    fn every_form_parses_to_its_rule_in_order() {
        let lc = parse(EXAMPLE).unwrap();
        let mut logs = r(
            "gen1",
            false,
            Scope::Prefix("logs/".into()),
            Some(Expiration::Days(365)),
        );
        logs.noncurrent_expiration = Some(NoncurrentExpiration {
            noncurrent_days: 30,
            newer_noncurrent_versions: Some(5),
        });
        logs.abort_incomplete_upload_days = Some(7);
        assert_eq!(
            lc.rules,
            vec![
                r(
                    "picture-deletion-rule",
                    true,
                    Scope::Filter(Some(Filter::Prefix("pictures/".into()))),
                    Some(Expiration::DateMs(DEC23)),
                ),
                logs,
                r(
                    "tagged",
                    true,
                    Scope::Filter(Some(Filter::And(And {
                        prefix: Some("a/".into()),
                        tags: vec![tag("k1", "v1"), tag("k2", "")],
                        size_greater_than: Some(10),
                        size_less_than: Some(20),
                    }))),
                    Some(Expiration::Days(5)),
                ),
                r(
                    "all",
                    true,
                    Scope::Filter(None),
                    Some(Expiration::ExpiredObjectDeleteMarker(true)),
                ),
                r(
                    "tag",
                    true,
                    Scope::Filter(Some(Filter::Tag(tag("t", "v")))),
                    Some(Expiration::Days(2)),
                ),
                r(
                    "big",
                    true,
                    Scope::Filter(Some(Filter::SizeGreaterThan(0))),
                    Some(Expiration::Days(3)),
                ),
                r(
                    "small",
                    true,
                    Scope::Filter(Some(Filter::SizeLessThan(100))),
                    Some(Expiration::Days(4)),
                ),
            ]
        );
    }

    #[test]
    fn a_document_reads_back_as_the_rules_it_was_written_from() {
        let lc = parse(EXAMPLE).unwrap();
        let again = parse_lifecycle(&lifecycle_document(&lc), &CLASSES, || unreachable!()).unwrap();
        assert_eq!(again, lc);
        let text = String::from_utf8(lifecycle_document(&lc)).unwrap();
        assert!(
            text.contains("<Rule><ID>picture-deletion-rule</ID><Filter><Prefix>pictures/</Prefix></Filter><Status>Enabled</Status><Expiration><Date>2012-12-23T00:00:00.000Z</Date></Expiration></Rule>"),
            "{text}"
        );
        assert!(
            text.contains("<Rule><ID>gen1</ID><Prefix>logs/</Prefix><Status>Disabled</Status>"),
            "{text}"
        );
    }

    #[test]
    fn transitions_to_the_nodes_classes_parse_and_read_back() {
        let body = doc(
            "<Rule><ID>t</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter>\
             <Transition><Days>0</Days><StorageClass>REDUCED_REDUNDANCY</StorageClass></Transition>\
             <Transition><Days>30</Days><StorageClass>COLD</StorageClass></Transition>\
             <NoncurrentVersionTransition><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions><StorageClass>COLD</StorageClass></NoncurrentVersionTransition>\
             <Expiration><Days>31</Days></Expiration>\
             <NoncurrentVersionExpiration><NoncurrentDays>3</NoncurrentDays></NoncurrentVersionExpiration></Rule>\
             <Rule><ID>d</ID><Status>Enabled</Status><Prefix>x/</Prefix>\
             <Transition><Date>2012-12-23T00:00:00Z</Date><StorageClass>COLD</StorageClass></Transition></Rule>",
        );
        let lc = parse(&body).unwrap();
        let t = |when, class: &str| Transition {
            when,
            class: class.into(),
        };
        assert_eq!(
            lc.rules[0].transitions,
            vec![
                t(TransitionWhen::Days(0), "REDUCED_REDUNDANCY"),
                t(TransitionWhen::Days(30), "COLD"),
                t(
                    TransitionWhen::Noncurrent {
                        noncurrent_days: 2,
                        newer_noncurrent_versions: Some(3)
                    },
                    "COLD"
                ),
            ]
        );
        assert_eq!(
            lc.rules[1].transitions,
            vec![t(TransitionWhen::DateMs(DEC23), "COLD")]
        );
        let written = lifecycle_document(&lc);
        assert_eq!(
            parse_lifecycle(&written, &CLASSES, || unreachable!()).unwrap(),
            lc
        );
        let text = String::from_utf8(written).unwrap();
        assert!(
            text.contains("<Transition><Date>2012-12-23T00:00:00.000Z</Date><StorageClass>COLD</StorageClass></Transition>"),
            "{text}"
        );
        // The class names are the node's: another node without COLD
        // refuses the same document.
        let e = parse_lifecycle(body.as_bytes(), &["STANDARD"], ids()).unwrap_err();
        assert_eq!(e.code, S3Code::MalformedXML);
    }

    #[test]
    fn generated_ids_differ_from_the_clients() {
        let body = doc(&format!(
            "<Rule><ID>gen1</ID><Status>Enabled</Status><Prefix></Prefix>{EXPIRE}</Rule>\
             <Rule><Status>Enabled</Status><Prefix></Prefix>{EXPIRE}</Rule>\
             <Rule><ID></ID><Status>Enabled</Status><Prefix></Prefix>{EXPIRE}</Rule>"
        ));
        let lc = parse(&body).unwrap();
        let got: Vec<&str> = lc.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(got, ["gen1", "gen2", "gen3"]);
    }

    #[test]
    fn bad_configurations_get_s3s_codes_and_messages() {
        use S3Code::*;
        let id256 = "x".repeat(256);
        let cases: Vec<(String, S3Code, Option<&str>)> = vec![
            ("<LifecycleConfiguration".into(), MalformedXML, None),
            (doc("<Unknown/>"), MalformedXML, None),
            (
                doc(""),
                InvalidRequest,
                Some("At least one lifecycle rule must be specified."),
            ),
            // Status missing, or not one of the two.
            (rule(&format!("<Prefix></Prefix>{EXPIRE}")), MalformedXML, None),
            (
                rule(&format!("<Status>enabled</Status><Prefix></Prefix>{EXPIRE}")),
                MalformedXML,
                None,
            ),
            // Both a Prefix and a Filter, or neither.
            (
                ok_rule("<Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter>"),
                MalformedXML,
                None,
            ),
            (ok_rule(""), MalformedXML, None),
            // A Filter with two predicates.
            (
                ok_rule("<Filter><Prefix>a</Prefix><ObjectSizeLessThan>3</ObjectSizeLessThan></Filter>"),
                MalformedXML,
                None,
            ),
            (
                ok_rule("<Filter><Prefix>a</Prefix><And><Prefix>b</Prefix></And></Filter>"),
                MalformedXML,
                None,
            ),
            (
                ok_rule("<Filter><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>1</Value></Tag></Filter>"),
                MalformedXML,
                None,
            ),
            (
                ok_rule("<Filter><Tag><Key>a</Key></Tag></Filter>"),
                MalformedXML,
                None,
            ),
            (
                ok_rule("<Filter><ObjectSizeLessThan>-1</ObjectSizeLessThan></Filter>"),
                MalformedXML,
                None,
            ),
            (
                ok_rule("<Filter><And><And></And></And></Filter>"),
                MalformedXML,
                None,
            ),
            (
                ok_rule("<Filter><And><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan><ObjectSizeLessThan>5</ObjectSizeLessThan></And></Filter>"),
                InvalidRequest,
                Some("'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'."),
            ),
            (
                ok_rule("<Filter><And><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key><Value>2</Value></Tag></And></Filter>"),
                InvalidRequest,
                Some("Duplicate Tag Keys are not allowed."),
            ),
            // Actions on objects without tags, chosen by tags.
            (
                rule("<Status>Enabled</Status><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"),
                InvalidRequest,
                Some("ExpiredObjectDeleteMarker cannot be specified with Tags."),
            ),
            (
                rule("<Status>Enabled</Status><Filter><And><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>"),
                InvalidRequest,
                Some("AbortIncompleteMultipartUpload cannot be specified with Tags."),
            ),
            // No action.
            (
                rule("<Status>Enabled</Status><Filter></Filter>"),
                InvalidRequest,
                Some("At least one action needs to be specified in a rule"),
            ),
            // Expiration forms.
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration></Expiration>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><Days>0</Days></Expiration>"),
                InvalidArgument,
                Some("'Days' for Expiration action must be a positive integer"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><Days>-3</Days></Expiration>"),
                InvalidArgument,
                Some("'Days' for Expiration action must be a positive integer"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><Days>x</Days></Expiration>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>"),
                InvalidArgument,
                Some("'Date' must be at midnight GMT"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><Date>2030-01-01T00:00:00+01:00</Date></Expiration>"),
                InvalidArgument,
                Some("'Date' must be at midnight GMT"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><Date>1893456000</Date></Expiration>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"),
                InvalidArgument,
                Some("ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy."),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker></Expiration>"),
                MalformedXML,
                None,
            ),
            // The other actions' counts.
            (
                rule("<Status>Enabled</Status><Filter></Filter><NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>"),
                InvalidArgument,
                Some("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><NoncurrentVersionExpiration><NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>0</NewerNoncurrentVersions></NoncurrentVersionExpiration>"),
                InvalidArgument,
                Some("'NewerNoncurrentVersions' must be a positive integer"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>"),
                InvalidArgument,
                Some("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"),
            ),
            // IDs.
            (
                doc(&format!("<Rule><ID>{id256}</ID><Status>Enabled</Status><Prefix></Prefix>{EXPIRE}</Rule>")),
                InvalidArgument,
                Some("ID length should not exceed allowed limit of 255"),
            ),
            (
                doc(&format!(
                    "<Rule><ID>a</ID><Status>Enabled</Status><Prefix>x</Prefix>{EXPIRE}</Rule>\
                     <Rule><ID>a</ID><Status>Enabled</Status><Prefix>y</Prefix>{EXPIRE}</Rule>"
                )),
                InvalidArgument,
                Some("Rule ID must be unique. Found same ID for more than one rule"),
            ),
            (
                rule(&format!("<ID>a</ID><ID>b</ID><Status>Enabled</Status><Prefix></Prefix>{EXPIRE}")),
                MalformedXML,
                None,
            ),
            // Transitions: to a class neither S3 nor the node defines, or to
            // STANDARD, malformed; to one of S3's the node lacks, refused.
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>30</Days><StorageClass>WARM</StorageClass></Transition>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>1</Days><Date>2012-12-23T00:00:00Z</Date><StorageClass>COLD</StorageClass></Transition>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><NoncurrentVersionTransition><StorageClass>COLD</StorageClass></NoncurrentVersionTransition>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><NoncurrentVersionTransition><Date>2012-12-23T00:00:00Z</Date><StorageClass>COLD</StorageClass></NoncurrentVersionTransition>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>-1</Days><StorageClass>COLD</StorageClass></Transition>"),
                InvalidArgument,
                Some("'Days' in Transition action must be greater than or equal to 0"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Date>2012-12-23T10:00:00Z</Date><StorageClass>COLD</StorageClass></Transition>"),
                InvalidArgument,
                Some("'Date' must be at midnight GMT"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>5</Days><StorageClass>COLD</StorageClass></Transition><Expiration><Days>5</Days></Expiration>"),
                InvalidArgument,
                Some("'Days' in the Expiration action must be greater than 'Days' in the Transition action"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Date>2012-12-23T00:00:00Z</Date><StorageClass>COLD</StorageClass></Transition><Expiration><Date>2012-12-22T00:00:00Z</Date></Expiration>"),
                InvalidArgument,
                Some("'Date' in the Expiration action must be later than 'Date' in the Transition action"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>5</Days><StorageClass>COLD</StorageClass></Transition><Expiration><Date>2012-12-22T00:00:00Z</Date></Expiration>"),
                InvalidRequest,
                Some("Found mixed 'Date' and 'Days' based Expiration and Transition actions in lifecycle rule"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>5</Days><StorageClass>COLD</StorageClass></Transition><Transition><Date>2012-12-22T00:00:00Z</Date><StorageClass>REDUCED_REDUNDANCY</StorageClass></Transition>"),
                InvalidRequest,
                Some("Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>5</Days><StorageClass>COLD</StorageClass></Transition><Transition><Days>9</Days><StorageClass>COLD</StorageClass></Transition>"),
                InvalidArgument,
                Some("'StorageClass' must be different for 'Transition' actions in same 'Rule'"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><NoncurrentVersionTransition><NoncurrentDays>4</NoncurrentDays><StorageClass>COLD</StorageClass></NoncurrentVersionTransition><NoncurrentVersionExpiration><NoncurrentDays>4</NoncurrentDays></NoncurrentVersionExpiration>"),
                InvalidArgument,
                Some("'NoncurrentDays' in the NoncurrentVersionExpiration action must be greater than 'NoncurrentDays' in the NoncurrentVersionTransition action"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><NoncurrentVersionTransition><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>0</NewerNoncurrentVersions><StorageClass>COLD</StorageClass></NoncurrentVersionTransition>"),
                InvalidArgument,
                Some("'NewerNoncurrentVersions' must be a positive integer"),
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>30</Days><StorageClass>STANDARD</StorageClass></Transition>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><StorageClass>GLACIER</StorageClass></Transition>"),
                MalformedXML,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>"),
                InvalidStorageClass,
                None,
            ),
            (
                rule("<Status>Enabled</Status><Filter></Filter><NoncurrentVersionTransition><NoncurrentDays>30</NoncurrentDays><StorageClass>STANDARD_IA</StorageClass></NoncurrentVersionTransition>"),
                InvalidStorageClass,
                None,
            ),
        ];
        for (body, code, message) in cases {
            let e = parse(&body).unwrap_err();
            assert_eq!(e.code, code, "{body}");
            if let Some(m) = message {
                assert_eq!(e.message, m, "{body}");
            }
        }
    }

    #[test]
    fn a_thousand_rules_at_most() {
        let one = format!("<Rule><Status>Enabled</Status><Prefix></Prefix>{EXPIRE}</Rule>");
        let full = doc(&one.repeat(MAX_RULES));
        assert_eq!(parse(&full).unwrap().rules.len(), MAX_RULES);
        let e = parse(&doc(&one.repeat(MAX_RULES + 1))).unwrap_err();
        assert_eq!(e.code, S3Code::InvalidRequest);
        assert_eq!(
            e.message,
            "The number of lifecycle rules must not exceed the allowed limit of 1000 rules."
        );
    }

    #[test]
    fn an_id_of_255_characters_is_taken() {
        let id = "é".repeat(MAX_ID_LEN);
        let body = doc(&format!(
            "<Rule><ID>{id}</ID><Status>Enabled</Status><Prefix></Prefix>{EXPIRE}</Rule>"
        ));
        assert_eq!(parse(&body).unwrap().rules[0].id, id);
    }
}
