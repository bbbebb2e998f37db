//! A bucket's lifecycle configuration (issue 17): the rules as stored in the
//! bucket table (`BucketInfo::lifecycle`, `buckets.json` format 3) and the
//! pure functions that say which rules apply to an object and when it
//! expires. No I/O: the S3 side (`s3/xml_lifecycle.rs`) parses and checks
//! the document, and the expiry worker, once it exists, asks the same
//! [`Rule::matches`] the `x-amz-expiration` header uses.

use serde::{Deserialize, Serialize};

/// One day in milliseconds: expiry dates are whole days, midnight UTC.
pub const DAY_MS: u64 = 86_400_000;

/// The rules of one bucket, in the order the client sent them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub rules: Vec<Rule>,
}

/// One `Rule`. Its `ID` is the client's or, when it sent none, one cairn
/// made up when the configuration was stored (as S3 does).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    /// `Status`: a disabled rule is kept and reported, never applied.
    pub enabled: bool,
    pub scope: Scope,
    pub expiration: Option<Expiration>,
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// `AbortIncompleteMultipartUpload`'s `DaysAfterInitiation`.
    pub abort_incomplete_upload_days: Option<u32>,
}

/// Which objects a rule names, in the form the client used (GET answers
/// the same form back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// The rule's own `Prefix` (the form before `Filter` existed).
    Prefix(String),
    /// A `Filter`; `None` when empty: every object.
    Filter(Option<Filter>),
}

/// A `Filter` holds exactly one of these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Filter {
    Prefix(String),
    Tag(Tag),
    SizeGreaterThan(u64),
    SizeLessThan(u64),
    And(And),
}

/// `And`: every predicate it holds must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct And {
    pub prefix: Option<String>,
    pub tags: Vec<Tag>,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// An `Expiration` holds exactly one of `Days`, `Date` and
/// `ExpiredObjectDeleteMarker`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// Days after the version was written (at least 1).
    Days(u32),
    /// Midnight UTC, in milliseconds since the epoch.
    DateMs(u64),
    /// Remove a delete marker left with no noncurrent versions.
    ExpiredObjectDeleteMarker(bool),
}

/// `NoncurrentVersionExpiration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    /// Days after the version became noncurrent (at least 1).
    pub noncurrent_days: u32,
    /// How many noncurrent versions to keep whatever their age.
    pub newer_noncurrent_versions: Option<u32>,
}

/// What the filter of a rule is asked about: the object's key, size and
/// tags.
#[derive(Clone, Copy, Debug)]
pub struct ObjectFacts<'a> {
    pub key: &'a str,
    pub size: u64,
    pub tags: &'a [(String, String)],
}

impl Filter {
    fn matches(&self, o: &ObjectFacts<'_>) -> bool {
        match self {
            Filter::Prefix(p) => o.key.starts_with(p.as_str()),
            Filter::Tag(t) => has_tag(o.tags, t),
            Filter::SizeGreaterThan(n) => o.size > *n,
            Filter::SizeLessThan(n) => o.size < *n,
            Filter::And(a) => {
                a.prefix.as_deref().is_none_or(|p| o.key.starts_with(p))
                    && a.tags.iter().all(|t| has_tag(o.tags, t))
                    && a.size_greater_than.is_none_or(|n| o.size > n)
                    && a.size_less_than.is_none_or(|n| o.size < n)
            }
        }
    }
}

fn has_tag(tags: &[(String, String)], t: &Tag) -> bool {
    tags.iter().any(|(k, v)| *k == t.key && *v == t.value)
}

impl Rule {
    /// Whether the rule names the object (whatever its status).
    pub fn matches(&self, o: &ObjectFacts<'_>) -> bool {
        match &self.scope {
            Scope::Prefix(p) => o.key.starts_with(p.as_str()),
            Scope::Filter(None) => true,
            Scope::Filter(Some(f)) => f.matches(o),
        }
    }
}

/// The midnight UTC on which a version written at `created_ms` expires
/// after `days`: creation plus the days, rounded up to the next midnight
/// (S3's user guide: written 1/15 10:30 with 3 days expires 1/19 0:00).
pub fn expiry_after_days(created_ms: u64, days: u32) -> u64 {
    let day = created_ms / DAY_MS + u64::from(days) + 1;
    // Past the last representable midnight: that midnight.
    day.min(u64::MAX / DAY_MS) * DAY_MS
}

/// When the current version described by `o`, written at `created_ms`,
/// expires, and by which rule: the earliest among the enabled rules with
/// an `Expiration` by `Days` or `Date` that name it (the first such rule
/// on a tie). `None` when no such rule names it.
pub fn current_expiry<'r>(
    lc: &'r Lifecycle,
    o: &ObjectFacts<'_>,
    created_ms: u64,
) -> Option<(u64, &'r str)> {
    let mut best: Option<(u64, &'r str)> = None;
    for r in lc.rules.iter().filter(|r| r.enabled) {
        let at = match r.expiration {
            Some(Expiration::Days(d)) => expiry_after_days(created_ms, d),
            Some(Expiration::DateMs(ms)) => ms,
            Some(Expiration::ExpiredObjectDeleteMarker(_)) | None => continue,
        };
        if best.is_some_and(|(b, _)| b <= at) || !r.matches(o) {
            continue;
        }
        best = Some((at, r.id.as_str()));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, scope: Scope, expiration: Option<Expiration>) -> Rule {
        Rule {
            id: id.into(),
            enabled: true,
            scope,
            expiration,
            noncurrent_expiration: None,
            abort_incomplete_upload_days: None,
        }
    }

    fn tags(t: &[(&str, &str)]) -> Vec<(String, String)> {
        t.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    /// 2014-01-15T10:30:00Z, the user guide's example.
    const JAN15_1030: u64 = 1_389_781_800_000;
    /// 2014-01-19T00:00:00Z.
    const JAN19: u64 = 1_390_089_600_000;

    #[test]
    fn days_round_up_to_the_next_midnight_utc() {
        assert_eq!(expiry_after_days(JAN15_1030, 3), JAN19);
        // Written at midnight exactly: still the midnight after, as S3
        // counts whole days from the day after creation.
        assert_eq!(expiry_after_days(JAN19 - 4 * DAY_MS, 3), JAN19);
        assert_eq!(expiry_after_days(JAN19 - 3 * DAY_MS - 1, 3), JAN19);
        assert_eq!(expiry_after_days(0, 1), 2 * DAY_MS);
        assert_eq!(expiry_after_days(u64::MAX, u32::MAX) % DAY_MS, 0);
    }

    #[test]
    fn each_filter_form_names_the_objects_it_should() {
        let o = |key: &'static str, size: u64, t: &'static [(&str, &str)]| (key, size, tags(t));
        let objects = [
            o("logs/a", 10, &[]),
            o("logs/b", 5000, &[("class", "tmp")]),
            o("img/c", 10, &[("class", "tmp"), ("x", "y")]),
        ];
        let cases: Vec<(Scope, [bool; 3])> = vec![
            (Scope::Prefix("logs/".into()), [true, true, false]),
            (Scope::Prefix(String::new()), [true, true, true]),
            (Scope::Filter(None), [true, true, true]),
            (
                Scope::Filter(Some(Filter::Prefix("img/".into()))),
                [false, false, true],
            ),
            (
                Scope::Filter(Some(Filter::Tag(tag("class", "tmp")))),
                [false, true, true],
            ),
            (
                Scope::Filter(Some(Filter::Tag(tag("class", "TMP")))),
                [false, false, false],
            ),
            (
                Scope::Filter(Some(Filter::SizeGreaterThan(10))),
                [false, true, false],
            ),
            (
                Scope::Filter(Some(Filter::SizeLessThan(5000))),
                [true, false, true],
            ),
            (
                Scope::Filter(Some(Filter::And(And {
                    prefix: Some("logs/".into()),
                    tags: vec![tag("class", "tmp")],
                    ..Default::default()
                }))),
                [false, true, false],
            ),
            (
                Scope::Filter(Some(Filter::And(And {
                    tags: vec![tag("class", "tmp"), tag("x", "y")],
                    ..Default::default()
                }))),
                [false, false, true],
            ),
            (
                Scope::Filter(Some(Filter::And(And {
                    size_greater_than: Some(9),
                    size_less_than: Some(11),
                    ..Default::default()
                }))),
                [true, false, true],
            ),
        ];
        for (scope, want) in cases {
            let r = rule("r", scope.clone(), None);
            for ((key, size, t), want) in objects.iter().zip(want) {
                let facts = ObjectFacts {
                    key,
                    size: *size,
                    tags: t,
                };
                assert_eq!(r.matches(&facts), want, "{scope:?} on {key}");
            }
        }
    }

    #[test]
    fn the_earliest_enabled_expiration_that_names_the_object_wins() {
        let mut later = rule("later", Scope::Filter(None), Some(Expiration::Days(30)));
        let sooner = rule(
            "sooner",
            Scope::Prefix("logs/".into()),
            Some(Expiration::Days(3)),
        );
        let mut dated = rule(
            "dated",
            Scope::Filter(None),
            Some(Expiration::DateMs(JAN19 - DAY_MS)),
        );
        dated.enabled = false;
        let marker = rule(
            "marker",
            Scope::Filter(None),
            Some(Expiration::ExpiredObjectDeleteMarker(true)),
        );
        let lc = Lifecycle {
            rules: vec![marker, later.clone(), sooner, dated.clone()],
        };
        let t = tags(&[]);
        let logs = ObjectFacts {
            key: "logs/x",
            size: 1,
            tags: &t,
        };
        let other = ObjectFacts {
            key: "other",
            ..logs
        };
        assert_eq!(
            current_expiry(&lc, &logs, JAN15_1030),
            Some((JAN19, "sooner"))
        );
        assert_eq!(
            current_expiry(&lc, &other, JAN15_1030),
            Some((expiry_after_days(JAN15_1030, 30), "later"))
        );
        // Enabled, the dated rule is the earliest for both.
        dated.enabled = true;
        later.enabled = false;
        let lc = Lifecycle {
            rules: vec![later, dated],
        };
        assert_eq!(
            current_expiry(&lc, &other, JAN15_1030),
            Some((JAN19 - DAY_MS, "dated"))
        );
        // No expiring rule names it: no expiry.
        let lc = Lifecycle {
            rules: vec![rule("noncurrent only", Scope::Filter(None), None)],
        };
        assert_eq!(current_expiry(&lc, &other, JAN15_1030), None);
    }

    #[test]
    fn a_tie_goes_to_the_first_rule() {
        let a = rule("a", Scope::Filter(None), Some(Expiration::Days(3)));
        let b = rule("b", Scope::Filter(None), Some(Expiration::Days(3)));
        let lc = Lifecycle { rules: vec![a, b] };
        let t = tags(&[]);
        let o = ObjectFacts {
            key: "k",
            size: 0,
            tags: &t,
        };
        assert_eq!(current_expiry(&lc, &o, JAN15_1030), Some((JAN19, "a")));
    }
}
