//! A bucket's lifecycle configuration (issue 17): the rules as stored in the
//! bucket table (`BucketInfo::lifecycle`, `buckets.json` format 3) and the
//! pure functions that say which rules apply to an object, when it
//! expires, and what the worker (`engine/lifecycle.rs`) does to a key's
//! versions on a given day. No I/O and no clock: the S3 side
//! (`s3/xml_lifecycle.rs`) parses and checks the document, and the worker
//! asks the same [`Rule::matches`] the `x-amz-expiration` header uses.

use serde::{Deserialize, Serialize};

/// One day in milliseconds: expiry dates are whole days, midnight UTC.
pub const DAY_MS: u64 = 86_400_000;

/// Versions smaller than this move to another class only when a rule's
/// own size filter names them (S3's default since 2024-09).
pub const TRANSITION_MIN_SIZE: u64 = 128 * 1024;

/// The rules of one bucket, in the order the client sent them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub rules: Vec<Rule>,
    /// `x-amz-transition-default-minimum-object-size`. Since
    /// `buckets.json` format 9.
    #[serde(default, skip_serializing_if = "TransitionMinimum::is_default")]
    pub transition_minimum: TransitionMinimum,
}

/// S3's `x-amz-transition-default-minimum-object-size`. Both values keep
/// versions under [`TRANSITION_MIN_SIZE`] where they are unless a rule
/// filters by size: `varies_by_storage_class` lifts the minimum only for
/// S3's Glacier classes, and a node has none of those. Kept and answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransitionMinimum {
    #[default]
    AllStorageClasses128K,
    VariesByStorageClass,
}

impl TransitionMinimum {
    pub const HEADER: &'static str = "x-amz-transition-default-minimum-object-size";

    pub fn as_str(self) -> &'static str {
        match self {
            TransitionMinimum::AllStorageClasses128K => "all_storage_classes_128K",
            TransitionMinimum::VariesByStorageClass => "varies_by_storage_class",
        }
    }

    pub fn parse(s: &str) -> Option<TransitionMinimum> {
        [
            TransitionMinimum::AllStorageClasses128K,
            TransitionMinimum::VariesByStorageClass,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    fn is_default(&self) -> bool {
        *self == TransitionMinimum::default()
    }
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
    /// `Transition`s, then `NoncurrentVersionTransition`s, in the order
    /// sent. Since `buckets.json` format 7.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<Transition>,
}

/// A `Transition` or `NoncurrentVersionTransition`: when a version moves
/// to `class`, one of the node's storage classes other than STANDARD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub when: TransitionWhen,
    pub class: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransitionWhen {
    /// The current version, days after it was written (0: the next
    /// midnight UTC).
    Days(u32),
    /// The current version, from this midnight UTC (milliseconds).
    DateMs(u64),
    /// A noncurrent version, days after it became noncurrent, keeping the
    /// newest `newer_noncurrent_versions` where they are.
    Noncurrent {
        noncurrent_days: u32,
        newer_noncurrent_versions: Option<u32>,
    },
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
    /// Whether the rule's filter names sizes: it then overrides the
    /// transition minimum.
    fn filters_by_size(&self) -> bool {
        match &self.scope {
            Scope::Filter(Some(Filter::SizeGreaterThan(_) | Filter::SizeLessThan(_))) => true,
            Scope::Filter(Some(Filter::And(a))) => {
                a.size_greater_than.is_some() || a.size_less_than.is_some()
            }
            _ => false,
        }
    }

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

/// One version of a key as the worker sees it.
#[derive(Clone, Copy, Debug)]
pub struct VersionFacts<'a> {
    pub created_ms: u64,
    pub size: u64,
    pub tags: &'a [(String, String)],
    pub delete_marker: bool,
    /// Its storage class's name.
    pub class: &'a str,
}

/// What the worker does to one key's versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action<'r> {
    /// Delete the latest version as a DELETE without a version id would:
    /// gone in an unversioned bucket, behind a new delete marker in a
    /// versioned one.
    ExpireCurrent,
    /// Remove the latest version, a delete marker with no noncurrent
    /// version left behind it.
    RemoveDeleteMarker,
    /// Remove the noncurrent version at this place (0: the newest).
    RemoveNoncurrent(usize),
    /// Move the latest version's data to this storage class.
    TransitionCurrent(&'r str),
    /// Move the noncurrent version at this place to this storage class.
    TransitionNoncurrent(usize, &'r str),
}

/// What the enabled rules do at `now_ms` to a key whose latest version is
/// `latest` and whose noncurrent versions, newest first, are `noncurrent`.
/// Object lock is not looked at here: the engine refuses to remove a
/// locked version, whatever the plan says.
///
/// A version that is not removed moves to the class of the transition
/// that came due last among those of the enabled rules naming it (the
/// first rule's on a tie), unless it is of that class already; a delete
/// marker never moves.
pub fn plan<'r>(
    lc: &'r Lifecycle,
    key: &str,
    latest: &VersionFacts<'_>,
    noncurrent: &[VersionFacts<'_>],
    now_ms: u64,
) -> Vec<Action<'r>> {
    fn facts<'a>(key: &'a str, v: &VersionFacts<'a>) -> ObjectFacts<'a> {
        ObjectFacts {
            key,
            size: v.size,
            tags: v.tags,
        }
    }
    let mut out = Vec::new();
    if !latest.delete_marker {
        if current_expiry(lc, &facts(key, latest), latest.created_ms)
            .is_some_and(|(at, _)| at <= now_ms)
        {
            out.push(Action::ExpireCurrent);
        } else if let Some(class) = due_class(lc, &facts(key, latest), now_ms, |w| match w {
            TransitionWhen::Days(d) => Some(expiry_after_days(latest.created_ms, d)),
            TransitionWhen::DateMs(ms) => Some(ms),
            TransitionWhen::Noncurrent { .. } => None,
        }) {
            if class != latest.class {
                out.push(Action::TransitionCurrent(class));
            }
        }
    } else if noncurrent.is_empty() && delete_marker_expired(lc, key, latest.created_ms, now_ms) {
        out.push(Action::RemoveDeleteMarker);
    }
    for (i, v) in noncurrent.iter().enumerate() {
        // Noncurrent since its successor was written.
        let since = if i == 0 {
            latest.created_ms
        } else {
            noncurrent[i - 1].created_ms
        };
        let expired = lc.rules.iter().filter(|r| r.enabled).any(|r| {
            r.noncurrent_expiration.is_some_and(|n| {
                i >= n.newer_noncurrent_versions.unwrap_or(0) as usize
                    && expiry_after_days(since, n.noncurrent_days) <= now_ms
                    && r.matches(&facts(key, v))
            })
        });
        if expired {
            out.push(Action::RemoveNoncurrent(i));
            continue;
        }
        if v.delete_marker {
            continue;
        }
        let class = due_class(lc, &facts(key, v), now_ms, |w| match w {
            TransitionWhen::Noncurrent {
                noncurrent_days,
                newer_noncurrent_versions,
            } if i >= newer_noncurrent_versions.unwrap_or(0) as usize => {
                Some(expiry_after_days(since, noncurrent_days))
            }
            _ => None,
        });
        if let Some(class) = class.filter(|c| *c != v.class) {
            out.push(Action::TransitionNoncurrent(i, class));
        }
    }
    out
}

/// The class of the transition due last by `now_ms` among the enabled
/// rules that name `o`, each transition's time given by `at` (None: not of
/// the kind asked about).
fn due_class<'r>(
    lc: &'r Lifecycle,
    o: &ObjectFacts<'_>,
    now_ms: u64,
    at: impl Fn(TransitionWhen) -> Option<u64>,
) -> Option<&'r str> {
    let mut best: Option<(u64, &'r str)> = None;
    let small = o.size < TRANSITION_MIN_SIZE;
    for r in lc
        .rules
        .iter()
        .filter(|r| r.enabled && (!small || r.filters_by_size()))
    {
        for t in &r.transitions {
            let Some(when) = at(t.when).filter(|&w| w <= now_ms) else {
                continue;
            };
            if best.is_some_and(|(b, _)| b >= when) || !r.matches(o) {
                continue;
            }
            best = Some((when, t.class.as_str()));
        }
    }
    best.map(|(_, c)| c)
}

/// Whether a delete marker written at `created_ms`, the key's only version,
/// is removed at `now_ms`: by `ExpiredObjectDeleteMarker`, or by an
/// `Expiration` by `Days` or `Date` once the marker itself is that old (S3
/// removes such markers under those rules too). A marker has no size and
/// no tags.
fn delete_marker_expired(lc: &Lifecycle, key: &str, created_ms: u64, now_ms: u64) -> bool {
    let facts = ObjectFacts {
        key,
        size: 0,
        tags: &[],
    };
    lc.rules.iter().filter(|r| r.enabled).any(|r| {
        let due = match r.expiration {
            Some(Expiration::ExpiredObjectDeleteMarker(on)) => on,
            Some(Expiration::Days(d)) => expiry_after_days(created_ms, d) <= now_ms,
            Some(Expiration::DateMs(ms)) => ms <= now_ms,
            None => false,
        };
        due && r.matches(&facts)
    })
}

/// When a multipart upload of `key` begun at `created_ms` may be aborted,
/// and by which rule: the earliest enabled `AbortIncompleteMultipartUpload`
/// that names the key (such rules filter by prefix only: an upload has no
/// size and its tags are not the object's yet). S3 answers it as
/// `x-amz-abort-date` and `x-amz-abort-rule-id`.
pub fn upload_abort<'r>(lc: &'r Lifecycle, key: &str, created_ms: u64) -> Option<(u64, &'r str)> {
    let facts = ObjectFacts {
        key,
        size: 0,
        tags: &[],
    };
    let mut best: Option<(u64, &'r str)> = None;
    for r in lc.rules.iter().filter(|r| r.enabled) {
        let Some(days) = r.abort_incomplete_upload_days else {
            continue;
        };
        let at = expiry_after_days(created_ms, days);
        if best.is_some_and(|(b, _)| b <= at) || !r.matches(&facts) {
            continue;
        }
        best = Some((at, r.id.as_str()));
    }
    best
}

/// Whether a multipart upload of `key` begun at `created_ms` is aborted at
/// `now_ms` (see [`upload_abort`]).
pub fn upload_expired(lc: &Lifecycle, key: &str, created_ms: u64, now_ms: u64) -> bool {
    upload_abort(lc, key, created_ms).is_some_and(|(at, _)| at <= now_ms)
}

impl Lifecycle {
    /// Whether any rule is enabled: a bucket without one is not walked.
    pub fn any_enabled(&self) -> bool {
        self.rules.iter().any(|r| r.enabled)
    }

    /// The key prefixes the enabled rules can name, none inside another,
    /// in order: the worker walks only these ranges of a bucket. `[""]`
    /// when some rule names keys by something other than a prefix alone
    /// would bound (no prefix at all).
    pub fn walk_prefixes(&self) -> Vec<String> {
        let mut ps: Vec<String> = Vec::new();
        for r in self.rules.iter().filter(|r| r.enabled) {
            let p = match &r.scope {
                Scope::Prefix(p) | Scope::Filter(Some(Filter::Prefix(p))) => p.as_str(),
                Scope::Filter(Some(Filter::And(a))) => a.prefix.as_deref().unwrap_or(""),
                Scope::Filter(_) => "",
            };
            ps.push(p.to_owned());
        }
        ps.sort();
        ps.dedup();
        let mut out: Vec<String> = Vec::with_capacity(ps.len());
        for p in ps {
            // Sorted: a prefix of `p` sorts before it, so it is the last kept.
            if out.last().is_none_or(|q| !p.starts_with(q.as_str())) {
                out.push(p);
            }
        }
        out
    }
}

/// Where a walk of a bucket's keys stands, between batches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cursor {
    /// Go on after this key (done).
    After(String),
    /// Go on from this key (not yet seen).
    From(String),
}

/// Where the next batch of a walk over the ranges of `prefixes` (see
/// [`Lifecycle::walk_prefixes`]) begins: the first key to take (after it
/// when `exclusive`), and the prefix of the range it is in. None when the
/// walk is past every range. `cursor` None: the walk begins.
pub fn next_range<'p>(
    prefixes: &'p [String],
    cursor: Option<&Cursor>,
) -> Option<(String, bool, &'p str)> {
    let (at, exclusive) = match cursor {
        None => return prefixes.first().map(|p| (p.clone(), false, p.as_str())),
        Some(Cursor::After(k)) => (k, true),
        Some(Cursor::From(k)) => (k, false),
    };
    if let Some(p) = prefixes.iter().find(|p| at.starts_with(p.as_str())) {
        return Some((at.clone(), exclusive, p.as_str()));
    }
    // Keys under a prefix sort before any later prefix that is not one of
    // them, so the next range is the first prefix past `at`.
    prefixes
        .iter()
        .find(|p| p.as_str() > at.as_str())
        .map(|p| (p.clone(), false, p.as_str()))
}

/// The cursor after a range under `prefix` is walked to its end: the next
/// range's start, or None when it was the last.
pub fn past_range(prefixes: &[String], prefix: &str) -> Option<Cursor> {
    if prefix.is_empty() {
        return None;
    }
    prefixes
        .iter()
        .find(|p| p.as_str() > prefix && !p.starts_with(prefix))
        .map(|p| Cursor::From(p.clone()))
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
            transitions: Vec::new(),
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
            transition_minimum: Default::default(),
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
            transition_minimum: Default::default(),
            rules: vec![later, dated],
        };
        assert_eq!(
            current_expiry(&lc, &other, JAN15_1030),
            Some((JAN19 - DAY_MS, "dated"))
        );
        // No expiring rule names it: no expiry.
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![rule("noncurrent only", Scope::Filter(None), None)],
        };
        assert_eq!(current_expiry(&lc, &other, JAN15_1030), None);
    }

    #[test]
    fn a_tie_goes_to_the_first_rule() {
        let a = rule("a", Scope::Filter(None), Some(Expiration::Days(3)));
        let b = rule("b", Scope::Filter(None), Some(Expiration::Days(3)));
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![a, b],
        };
        let t = tags(&[]);
        let o = ObjectFacts {
            key: "k",
            size: 0,
            tags: &t,
        };
        assert_eq!(current_expiry(&lc, &o, JAN15_1030), Some((JAN19, "a")));
    }

    fn v(created_ms: u64, delete_marker: bool) -> VersionFacts<'static> {
        VersionFacts {
            created_ms,
            size: TRANSITION_MIN_SIZE,
            tags: &[],
            delete_marker,
            class: "STANDARD",
        }
    }

    fn noncurrent_rule(days: u32, keep: Option<u32>) -> Rule {
        let mut r = rule("nc", Scope::Filter(None), None);
        r.noncurrent_expiration = Some(NoncurrentExpiration {
            noncurrent_days: days,
            newer_noncurrent_versions: keep,
        });
        r
    }

    #[test]
    fn the_current_version_expires_at_its_midnight_and_not_before() {
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![rule(
                "r",
                Scope::Prefix("logs/".into()),
                Some(Expiration::Days(3)),
            )],
        };
        let written = v(JAN15_1030, false);
        assert!(plan(&lc, "logs/a", &written, &[], JAN19 - 1).is_empty());
        assert_eq!(
            plan(&lc, "logs/a", &written, &[], JAN19),
            vec![Action::ExpireCurrent]
        );
        // Outside the rule's prefix, or the rule disabled: never.
        assert!(plan(&lc, "keep/a", &written, &[], u64::MAX).is_empty());
        let mut off = lc.clone();
        off.rules[0].enabled = false;
        assert!(plan(&off, "logs/a", &written, &[], u64::MAX).is_empty());
    }

    #[test]
    fn noncurrent_versions_expire_from_when_they_were_replaced_keeping_the_newest() {
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![noncurrent_rule(1, Some(1))],
        };
        // Written a day apart; the latest on day 3, so the newest
        // noncurrent one (day 2) became noncurrent on day 3.
        let d = |n: u64| JAN15_1030 + n * DAY_MS;
        let latest = v(d(3), false);
        let old = [v(d(2), false), v(d(1), false), v(d(0), true)];
        // Day 1 + 1 day, rounded to midnight: the oldest (replaced on day 1)
        // expires at the midnight after day 2. The newest noncurrent one is
        // kept by NewerNoncurrentVersions whatever its age.
        let at = expiry_after_days(d(1), 1);
        assert_eq!(
            plan(&lc, "k", &latest, &old, at),
            vec![Action::RemoveNoncurrent(2)]
        );
        assert!(plan(&lc, "k", &latest, &old, at - 1).is_empty());
        assert_eq!(
            plan(&lc, "k", &latest, &old, u64::MAX),
            vec![Action::RemoveNoncurrent(1), Action::RemoveNoncurrent(2)]
        );
        // Without NewerNoncurrentVersions every old one goes.
        let all = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![noncurrent_rule(1, None)],
        };
        assert_eq!(plan(&all, "k", &latest, &old, u64::MAX).len(), 3);
    }

    fn moving(when: TransitionWhen, class: &str) -> Rule {
        let mut r = rule("t", Scope::Prefix("logs/".into()), None);
        r.transitions.push(Transition {
            when,
            class: class.into(),
        });
        r
    }

    #[test]
    fn the_current_version_moves_to_the_class_due_last_unless_it_is_there() {
        let mut r = moving(TransitionWhen::Days(3), "COLD");
        r.transitions.push(Transition {
            when: TransitionWhen::Days(1),
            class: "REDUCED_REDUNDANCY".into(),
        });
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![r],
        };
        let written = v(JAN15_1030, false);
        let day1 = expiry_after_days(JAN15_1030, 1);
        assert!(plan(&lc, "logs/a", &written, &[], day1 - 1).is_empty());
        assert_eq!(
            plan(&lc, "logs/a", &written, &[], day1),
            vec![Action::TransitionCurrent("REDUCED_REDUNDANCY")]
        );
        assert_eq!(
            plan(&lc, "logs/a", &written, &[], JAN19),
            vec![Action::TransitionCurrent("COLD")]
        );
        // Already there, outside the prefix, a delete marker: nothing.
        let cold = VersionFacts {
            class: "COLD",
            ..written
        };
        assert!(plan(&lc, "logs/a", &cold, &[], JAN19).is_empty());
        assert!(plan(&lc, "keep/a", &written, &[], JAN19).is_empty());
        assert!(plan(&lc, "logs/a", &v(JAN15_1030, true), &[], JAN19).is_empty());
        // By date; an expiration due as well wins.
        let mut dated = moving(TransitionWhen::DateMs(JAN19), "COLD");
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![dated.clone()],
        };
        assert!(plan(&lc, "logs/a", &written, &[], JAN19 - 1).is_empty());
        assert_eq!(
            plan(&lc, "logs/a", &written, &[], JAN19),
            vec![Action::TransitionCurrent("COLD")]
        );
        dated.expiration = Some(Expiration::DateMs(JAN19));
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![dated],
        };
        assert_eq!(
            plan(&lc, "logs/a", &written, &[], JAN19),
            vec![Action::ExpireCurrent]
        );
    }

    #[test]
    fn a_version_under_128_kib_moves_only_when_its_rule_filters_by_size() {
        let small = VersionFacts {
            size: TRANSITION_MIN_SIZE - 1,
            ..v(JAN15_1030, false)
        };
        let plain = moving(TransitionWhen::Days(1), "COLD");
        for minimum in [
            TransitionMinimum::AllStorageClasses128K,
            TransitionMinimum::VariesByStorageClass,
        ] {
            let lc = Lifecycle {
                rules: vec![plain.clone()],
                transition_minimum: minimum,
            };
            assert!(plan(&lc, "logs/a", &small, &[], JAN19).is_empty());
            assert_eq!(
                plan(&lc, "logs/a", &v(JAN15_1030, false), &[], JAN19),
                vec![Action::TransitionCurrent("COLD")]
            );
        }
        for filter in [
            Filter::SizeGreaterThan(0),
            Filter::SizeLessThan(1 << 20),
            Filter::And(And {
                prefix: Some("logs/".into()),
                size_greater_than: Some(100),
                ..And::default()
            }),
        ] {
            let mut r = plain.clone();
            r.scope = Scope::Filter(Some(filter));
            let lc = Lifecycle {
                rules: vec![r],
                transition_minimum: Default::default(),
            };
            assert_eq!(
                plan(&lc, "logs/a", &small, &[], JAN19),
                vec![Action::TransitionCurrent("COLD")]
            );
        }
        assert_eq!(
            TransitionMinimum::parse("varies_by_storage_class"),
            Some(TransitionMinimum::VariesByStorageClass)
        );
        assert_eq!(TransitionMinimum::parse("all_storage_classes_128k"), None);
    }

    #[test]
    fn noncurrent_versions_move_from_when_they_were_replaced_keeping_the_newest() {
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![moving(
                TransitionWhen::Noncurrent {
                    noncurrent_days: 1,
                    newer_noncurrent_versions: Some(1),
                },
                "COLD",
            )],
        };
        let d = |n: u64| JAN15_1030 + n * DAY_MS;
        let latest = v(d(3), false);
        let old = [v(d(2), false), v(d(1), true), v(d(0), false)];
        // The oldest was replaced on day 1 (by the marker): due the
        // midnight after day 2. The marker never moves; the newest
        // noncurrent one is kept; the current one is not named.
        let at = expiry_after_days(d(1), 1);
        assert!(plan(&lc, "logs/k", &latest, &old, at - 1).is_empty());
        assert_eq!(
            plan(&lc, "logs/k", &latest, &old, at),
            vec![Action::TransitionNoncurrent(2, "COLD")]
        );
        // Removed beats moved.
        let mut both = lc.clone();
        both.rules.push(noncurrent_rule(1, Some(1)));
        assert_eq!(
            plan(&both, "logs/k", &latest, &old, at),
            vec![Action::RemoveNoncurrent(2)]
        );
    }

    #[test]
    fn a_lone_delete_marker_is_removed_by_the_rules_that_say_so() {
        let marker = v(JAN15_1030, true);
        let flag = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![rule(
                "m",
                Scope::Filter(None),
                Some(Expiration::ExpiredObjectDeleteMarker(true)),
            )],
        };
        assert_eq!(
            plan(&flag, "k", &marker, &[], JAN15_1030),
            vec![Action::RemoveDeleteMarker]
        );
        // Not while a noncurrent version is behind it.
        let behind = [v(JAN15_1030 - DAY_MS, false)];
        assert!(plan(&flag, "k", &marker, &behind, u64::MAX).is_empty());
        // Off: never.
        let off = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![rule(
                "m",
                Scope::Filter(None),
                Some(Expiration::ExpiredObjectDeleteMarker(false)),
            )],
        };
        assert!(plan(&off, "k", &marker, &[], u64::MAX).is_empty());
        // By Days once the marker is that old; a tag filter never names it.
        let days = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![rule("d", Scope::Filter(None), Some(Expiration::Days(3)))],
        };
        assert!(plan(&days, "k", &marker, &[], JAN19 - 1).is_empty());
        assert_eq!(
            plan(&days, "k", &marker, &[], JAN19),
            vec![Action::RemoveDeleteMarker]
        );
        let tagged = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![rule(
                "t",
                Scope::Filter(Some(Filter::Tag(tag("a", "b")))),
                Some(Expiration::Days(1)),
            )],
        };
        assert!(plan(&tagged, "k", &marker, &[], u64::MAX).is_empty());
    }

    #[test]
    fn an_upload_is_aborted_days_after_it_began_under_its_rule_prefix() {
        let mut r = rule("u", Scope::Prefix("tmp/".into()), None);
        r.abort_incomplete_upload_days = Some(3);
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![r],
        };
        assert!(!upload_expired(&lc, "tmp/a", JAN15_1030, JAN19 - 1));
        assert!(upload_expired(&lc, "tmp/a", JAN15_1030, JAN19));
        assert!(!upload_expired(&lc, "other", JAN15_1030, u64::MAX));
        // The earliest of two rules that name it is the one answered.
        let mut sooner = rule("soon", Scope::Prefix("tmp/a".into()), None);
        sooner.abort_incomplete_upload_days = Some(1);
        let lc = Lifecycle {
            transition_minimum: Default::default(),
            rules: vec![lc.rules[0].clone(), sooner],
        };
        assert_eq!(
            upload_abort(&lc, "tmp/a", JAN15_1030),
            Some((JAN19 - 2 * DAY_MS, "soon"))
        );
        assert_eq!(upload_abort(&lc, "tmp/b", JAN15_1030), Some((JAN19, "u")));
    }

    #[test]
    fn the_walk_covers_each_rule_prefix_once_and_nothing_else() {
        let with = |scopes: Vec<Scope>| Lifecycle {
            transition_minimum: Default::default(),
            rules: scopes
                .into_iter()
                .map(|s| rule("r", s, Some(Expiration::Days(1))))
                .collect(),
        };
        let lc = with(vec![
            Scope::Prefix("logs/b".into()),
            Scope::Filter(Some(Filter::Prefix("logs/".into()))),
            Scope::Filter(Some(Filter::And(And {
                prefix: Some("tmp/".into()),
                ..And::default()
            }))),
        ]);
        let ps = lc.walk_prefixes();
        assert_eq!(ps, ["logs/", "tmp/"]);
        // Any rule without a prefix: the whole bucket.
        let tag = Scope::Filter(Some(Filter::Tag(tag("a", "b"))));
        assert_eq!(
            with(vec![Scope::Prefix("x".into()), tag]).walk_prefixes(),
            [""]
        );

        assert_eq!(
            next_range(&ps, None),
            Some(("logs/".into(), false, "logs/"))
        );
        let after = |k: &str| Cursor::After(k.into());
        assert_eq!(
            next_range(&ps, Some(&after("logs/7"))),
            Some(("logs/7".into(), true, "logs/"))
        );
        // Between ranges, or before the first: the next range's start.
        assert_eq!(
            next_range(&ps, Some(&after("m"))),
            Some(("tmp/".into(), false, "tmp/"))
        );
        assert_eq!(
            next_range(&ps, Some(&after("a"))),
            Some(("logs/".into(), false, "logs/"))
        );
        assert_eq!(next_range(&ps, Some(&after("u"))), None);
        assert_eq!(past_range(&ps, "logs/"), Some(Cursor::From("tmp/".into())));
        assert_eq!(
            next_range(&ps, Some(&Cursor::From("tmp/".into()))),
            Some(("tmp/".into(), false, "tmp/"))
        );
        assert_eq!(past_range(&ps, "tmp/"), None);
        assert_eq!(past_range(&[String::new()], ""), None);
    }
}
