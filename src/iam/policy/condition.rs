//! Condition operators, compiled to (operator, key, typed values) and
//! evaluated as AWS documents: values of one condition OR'ed, keys and
//! operators AND'ed, an absent key false except for negated operators,
//! `…IfExists`, `Null` and `ForAllValues:`.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::pattern::Pattern;
use super::request::{Key, KnownKey, Request, Scalar};
use super::values::{self, Cidr, StackStr};

/// The operator family, without negation or qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// Every operator name AWS accepts, before `IfExists` and set qualifiers:
/// (name, family, negated).
const OPERATORS: &[(&str, Op, bool)] = &[
    ("StringEquals", Op::StringEquals, false),
    ("StringNotEquals", Op::StringEquals, true),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase, false),
    (
        "StringNotEqualsIgnoreCase",
        Op::StringEqualsIgnoreCase,
        true,
    ),
    ("StringLike", Op::StringLike, false),
    ("StringNotLike", Op::StringLike, true),
    ("NumericEquals", Op::NumericEquals, false),
    ("NumericNotEquals", Op::NumericEquals, true),
    ("NumericLessThan", Op::NumericLessThan, false),
    ("NumericLessThanEquals", Op::NumericLessThanEquals, false),
    ("NumericGreaterThan", Op::NumericGreaterThan, false),
    (
        "NumericGreaterThanEquals",
        Op::NumericGreaterThanEquals,
        false,
    ),
    ("DateEquals", Op::DateEquals, false),
    ("DateNotEquals", Op::DateEquals, true),
    ("DateLessThan", Op::DateLessThan, false),
    ("DateLessThanEquals", Op::DateLessThanEquals, false),
    ("DateGreaterThan", Op::DateGreaterThan, false),
    ("DateGreaterThanEquals", Op::DateGreaterThanEquals, false),
    ("Bool", Op::Bool, false),
    ("BinaryEquals", Op::BinaryEquals, false),
    ("IpAddress", Op::IpAddress, false),
    ("NotIpAddress", Op::IpAddress, true),
    // ArnEquals and ArnLike are the same test (AWS: per-component wildcards).
    ("ArnEquals", Op::ArnLike, false),
    ("ArnNotEquals", Op::ArnLike, true),
    ("ArnLike", Op::ArnLike, false),
    ("ArnNotLike", Op::ArnLike, true),
    ("Null", Op::Null, false),
];

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qualifier {
    None,
    AnyValue,
    AllValues,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Strings(Box<[Pattern]>),
    Numbers(Box<[f64]>),
    Dates(Box<[i64]>),
    Bools(Box<[bool]>),
    Binary(Box<[Box<[u8]>]>),
    Cidrs(Box<[Cidr]>),
    /// The six colon-separated components of each ARN.
    Arns(Box<[[Pattern; 6]]>),
}

/// One compiled `"Operator": {"key": values}` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub op: Op,
    pub negated: bool,
    pub if_exists: bool,
    pub qualifier: Qualifier,
    pub key: Key,
    pub values: Values,
}

/// The parts of an operator name: (family, negated, IfExists, qualifier).
pub fn parse_operator(name: &str) -> Option<(Op, bool, bool, Qualifier)> {
    let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
        (Qualifier::AnyValue, r)
    } else if let Some(r) = name.strip_prefix("ForAllValues:") {
        (Qualifier::AllValues, r)
    } else {
        (Qualifier::None, name)
    };
    let (rest, if_exists) = match rest.strip_suffix("IfExists") {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let &(_, op, negated) = OPERATORS.iter().find(|(n, _, _)| *n == rest)?;
    // Null tests presence itself; neither IfExists nor a set qualifier
    // means anything with it.
    if op == Op::Null && (if_exists || qualifier != Qualifier::None) {
        return None;
    }
    Some((op, negated, if_exists, qualifier))
}

/// Compiles one key's values for `op`; `Err` names the bad value.
pub fn compile_values(op: Op, raw: &[String], vars: bool) -> Result<Values, String> {
    fn each<T>(
        raw: &[String],
        f: impl Fn(&str) -> Option<T>,
        what: &str,
    ) -> Result<Box<[T]>, String> {
        raw.iter()
            .map(|s| f(s).ok_or_else(|| format!("{what} {s:?}")))
            .collect()
    }
    Ok(match op {
        Op::StringEquals | Op::StringEqualsIgnoreCase | Op::StringLike => {
            Values::Strings(raw.iter().map(|s| Pattern::compile(s, vars)).collect())
        }
        Op::NumericEquals
        | Op::NumericLessThan
        | Op::NumericLessThanEquals
        | Op::NumericGreaterThan
        | Op::NumericGreaterThanEquals => {
            Values::Numbers(each(raw, values::parse_number, "invalid number")?)
        }
        Op::DateEquals
        | Op::DateLessThan
        | Op::DateLessThanEquals
        | Op::DateGreaterThan
        | Op::DateGreaterThanEquals => {
            Values::Dates(each(raw, values::parse_date, "invalid date")?)
        }
        Op::Bool | Op::Null => Values::Bools(each(raw, values::parse_bool, "invalid boolean")?),
        Op::BinaryEquals => Values::Binary(each(
            raw,
            |s| STANDARD.decode(s).ok().map(Vec::into_boxed_slice),
            "invalid base64",
        )?),
        Op::IpAddress => Values::Cidrs(each(raw, Cidr::parse, "invalid IP address or CIDR block")?),
        Op::ArnLike => Values::Arns(each(raw, |s| arn_parts(s, vars), "invalid ARN")?),
    })
}

/// The six components of an ARN (the last one keeps its colons).
fn split_arn(s: &str) -> Option<[&str; 6]> {
    let mut it = s.splitn(6, ':');
    let parts = [
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ];
    Some(parts)
}

fn arn_parts(s: &str, vars: bool) -> Option<[Pattern; 6]> {
    split_arn(s).map(|p| p.map(|c| Pattern::compile(c, vars)))
}

impl Condition {
    /// Whether the condition holds for `req`.
    pub fn holds(&self, req: &Request<'_>) -> bool {
        let value = req.get(&self.key);
        if self.op == Op::Null {
            let Values::Bools(want_absent) = &self.values else {
                return false;
            };
            return want_absent.iter().any(|&absent| absent != value.is_some());
        }
        let Some(value) = value else {
            return self.if_exists
                || match self.qualifier {
                    Qualifier::None => self.negated,
                    Qualifier::AnyValue => false,
                    Qualifier::AllValues => true,
                };
        };
        let n = value.len();
        let hit = |i: usize| self.matches_one(req, value.item(i));
        match (self.qualifier, self.negated) {
            (Qualifier::None | Qualifier::AnyValue, false) => (0..n).any(hit),
            (Qualifier::None, true) => !(0..n).any(hit),
            (Qualifier::AnyValue, true) => (0..n).any(|i| !hit(i)),
            (Qualifier::AllValues, false) => (0..n).all(hit),
            (Qualifier::AllValues, true) => (0..n).all(|i| !hit(i)),
        }
    }

    /// Whether one request value matches any of the policy's values under
    /// the positive form of the operator.
    fn matches_one(&self, req: &Request<'_>, v: Scalar<'_>) -> bool {
        match &self.values {
            Values::Strings(patterns) => with_text(v, |text| {
                patterns.iter().any(|p| match self.op {
                    Op::StringLike => p.matches(req, text),
                    Op::StringEqualsIgnoreCase => p.equals(req, text, true),
                    _ => p.equals(req, text, false),
                })
            }),
            Values::Numbers(nums) => {
                let Some(x) = as_number(v) else { return false };
                nums.iter().any(|&n| match self.op {
                    Op::NumericEquals => x == n,
                    Op::NumericLessThan => x < n,
                    Op::NumericLessThanEquals => x <= n,
                    Op::NumericGreaterThan => x > n,
                    _ => x >= n,
                })
            }
            Values::Dates(dates) => {
                let Some(t) = as_date(v) else { return false };
                dates.iter().any(|&d| match self.op {
                    Op::DateEquals => t == d,
                    Op::DateLessThan => t < d,
                    Op::DateLessThanEquals => t <= d,
                    Op::DateGreaterThan => t > d,
                    _ => t >= d,
                })
            }
            Values::Bools(bools) => {
                let b = match v {
                    Scalar::Bool(b) => Some(b),
                    Scalar::Str(s) => values::parse_bool(s),
                    _ => None,
                };
                b.is_some_and(|b| bools.contains(&b))
            }
            Values::Binary(blobs) => {
                with_text(v, |text| blobs.iter().any(|b| **b == *text.as_bytes()))
            }
            Values::Cidrs(cidrs) => {
                let ip = match v {
                    Scalar::Ip(ip) => Some(ip),
                    Scalar::Str(s) => s.parse().ok(),
                    _ => None,
                };
                ip.is_some_and(|ip| cidrs.iter().any(|c| c.contains(ip)))
            }
            Values::Arns(arns) => with_text(v, |text| {
                split_arn(text).is_some_and(|parts| {
                    arns.iter()
                        .any(|arn| arn.iter().zip(parts).all(|(p, t)| p.matches(req, t)))
                })
            }),
        }
    }

    /// Whether this condition pins its key to fixed values (no wildcard, no
    /// variable), as the public-policy check requires.
    pub fn is_fixed(&self) -> bool {
        if self.negated || self.if_exists || self.qualifier == Qualifier::AllValues {
            return false;
        }
        match (&self.values, self.op) {
            (
                Values::Strings(p),
                Op::StringEquals | Op::StringEqualsIgnoreCase | Op::StringLike,
            ) => p.iter().all(Pattern::is_fixed),
            (Values::Arns(a), _) => a.iter().all(|arn| arn.iter().all(Pattern::is_fixed)),
            (Values::Cidrs(c), _) => c.iter().all(|c| c.prefix() > 0),
            _ => false,
        }
    }

    pub fn key_is(&self, k: KnownKey) -> bool {
        self.key == Key::Known(k)
    }
}

/// Runs `f` on the value's text form; typed values are formatted on the
/// stack.
fn with_text<R>(v: Scalar<'_>, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = StackStr::new();
    let text = match v {
        Scalar::Str(s) => s,
        Scalar::Bool(true) => "true",
        Scalar::Bool(false) => "false",
        Scalar::Int(n) => {
            let _ = write!(buf, "{n}");
            buf.as_str()
        }
        Scalar::Ip(ip) => {
            let _ = write!(buf, "{ip}");
            buf.as_str()
        }
        Scalar::Time(ms) => {
            values::write_date(&mut buf, ms);
            buf.as_str()
        }
    };
    f(text)
}

fn as_number(v: Scalar<'_>) -> Option<f64> {
    match v {
        Scalar::Int(n) => Some(n as f64),
        Scalar::Time(ms) => Some(ms.div_euclid(1000) as f64),
        Scalar::Str(s) => values::parse_number(s),
        _ => None,
    }
}

fn as_date(v: Scalar<'_>) -> Option<i64> {
    match v {
        Scalar::Time(ms) => Some(ms),
        Scalar::Int(secs) => secs.checked_mul(1000),
        Scalar::Str(s) => values::parse_date(s),
        _ => None,
    }
}
