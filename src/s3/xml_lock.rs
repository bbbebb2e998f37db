//! Object lock documents: `ObjectLockConfiguration` (Put/GetObjectLock-
//! Configuration), `Retention` (Put/GetObjectRetention) and `LegalHold`
//! (Put/GetObjectLegalHold), and the `x-amz-object-lock-*` header values.
//! Pure: dates are checked against a clock the caller passes.

use crate::engine::buckets::{DefaultRetention, ObjectLockConfig, RetentionPeriod};
use crate::engine::meta::{LockMode, Retention};
use crate::iam::policy::parse_date;

use super::error::{S3Code, S3Error};
use super::xml::{malformed, require_blank, response, set_once, walk_elements, S3Fields};

/// Longest default retention S3 allows (100 years; days count the same).
const MAX_YEARS: u32 = 100;
const MAX_DAYS: u32 = 36_500;

pub fn parse_mode(s: &str) -> Option<LockMode> {
    match s {
        "GOVERNANCE" => Some(LockMode::Governance),
        "COMPLIANCE" => Some(LockMode::Compliance),
        _ => None,
    }
}

pub fn mode_name(m: LockMode) -> &'static str {
    match m {
        LockMode::Governance => "GOVERNANCE",
        LockMode::Compliance => "COMPLIANCE",
    }
}

/// `ON`/`OFF` of a legal hold, as the header and the document spell it.
pub fn parse_legal_hold_status(s: &str) -> Option<bool> {
    match s {
        "ON" => Some(true),
        "OFF" => Some(false),
        _ => None,
    }
}

fn positive_period() -> S3Error {
    S3Error::new(
        S3Code::InvalidArgument,
        "Default retention period must be a positive integer value",
    )
}

/// An ISO 8601 retain-until date, to milliseconds; it must lie after `now_ms`.
pub fn parse_retain_until(s: &str, now_ms: u64) -> Result<u64, S3Error> {
    let ms = parse_date(s.trim())
        .and_then(|ms| u64::try_from(ms).ok())
        .ok_or_else(|| {
            S3Error::new(
                S3Code::InvalidArgument,
                "The retain until date must be a valid ISO 8601 date.",
            )
        })?;
    if ms <= now_ms {
        return Err(S3Error::new(
            S3Code::InvalidArgument,
            "The retain until date must be in the future!",
        ));
    }
    Ok(ms)
}

/// PutObjectLockConfiguration's body. `ObjectLockEnabled` must be
/// `Enabled`; a `Rule` holds one `DefaultRetention` with a `Mode` and
/// exactly one of `Days` and `Years`, a positive number.
pub fn parse_object_lock_config(body: &[u8]) -> Result<ObjectLockConfig, S3Error> {
    let mut enabled: Option<String> = None;
    let mut rule = false;
    let mut default = false;
    let mut mode: Option<String> = None;
    let mut days: Option<String> = None;
    let mut years: Option<String> = None;
    walk_elements(body, b"ObjectLockConfiguration", |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        match p.as_slice() {
            [_] => require_blank(&text),
            [_, b"ObjectLockEnabled"] => set_once(&mut enabled, text),
            [_, b"Rule"] if !rule => {
                rule = true;
                require_blank(&text)
            }
            [_, b"Rule", b"DefaultRetention"] if !default => {
                default = true;
                require_blank(&text)
            }
            [_, b"Rule", b"DefaultRetention", b"Mode"] => set_once(&mut mode, text),
            [_, b"Rule", b"DefaultRetention", b"Days"] => set_once(&mut days, text),
            [_, b"Rule", b"DefaultRetention", b"Years"] => set_once(&mut years, text),
            _ => Err(malformed()),
        }
    })?;
    if enabled.as_deref() != Some("Enabled") || (rule && !default) {
        return Err(malformed());
    }
    if !default {
        return Ok(ObjectLockConfig::default());
    }
    let mode = mode.as_deref().and_then(parse_mode).ok_or_else(malformed)?;
    let number = |s: &str, max: u32| -> Result<u32, S3Error> {
        match s.trim().parse::<i64>() {
            Ok(n) if n > 0 && n <= i64::from(max) => Ok(n as u32),
            Ok(_) => Err(positive_period()),
            Err(_) => Err(malformed()),
        }
    };
    let period = match (days, years) {
        (Some(d), None) => RetentionPeriod::Days(number(&d, MAX_DAYS)?),
        (None, Some(y)) => RetentionPeriod::Years(number(&y, MAX_YEARS)?),
        _ => return Err(malformed()),
    };
    Ok(ObjectLockConfig {
        default_retention: Some(DefaultRetention { mode, period }),
    })
}

/// GetObjectLockConfiguration's answer.
pub fn object_lock_config(c: &ObjectLockConfig) -> Vec<u8> {
    response("ObjectLockConfiguration", 320, |w| {
        w.text("ObjectLockEnabled", "Enabled");
        if let Some(d) = c.default_retention {
            w.element("Rule", |w| {
                w.element("DefaultRetention", |w| {
                    w.text("Mode", mode_name(d.mode));
                    match d.period {
                        RetentionPeriod::Days(n) => w.num("Days", n.into()),
                        RetentionPeriod::Years(n) => w.num("Years", n.into()),
                    }
                });
            });
        }
    })
}

/// PutObjectRetention's body: `None` for an empty `Retention` (no `Mode`
/// and no date), which asks to remove the retention.
pub fn parse_retention(body: &[u8], now_ms: u64) -> Result<Option<Retention>, S3Error> {
    let mut mode: Option<String> = None;
    let mut until: Option<String> = None;
    walk_elements(body, b"Retention", |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        match p.as_slice() {
            [_] => require_blank(&text),
            [_, b"Mode"] => set_once(&mut mode, text),
            [_, b"RetainUntilDate"] => set_once(&mut until, text),
            _ => Err(malformed()),
        }
    })?;
    match (mode, until) {
        (None, None) => Ok(None),
        (Some(m), Some(u)) => {
            let mode = parse_mode(m.trim()).ok_or_else(malformed)?;
            Ok(Some(Retention {
                mode,
                until_ms: parse_retain_until(&u, now_ms)?,
            }))
        }
        _ => Err(malformed()),
    }
}

/// GetObjectRetention's answer.
pub fn retention(r: &Retention) -> Vec<u8> {
    response("Retention", 200, |w| {
        w.text("Mode", mode_name(r.mode));
        w.date("RetainUntilDate", r.until_ms);
    })
}

/// PutObjectLegalHold's body: whether the hold is on.
pub fn parse_legal_hold(body: &[u8]) -> Result<bool, S3Error> {
    let mut status: Option<String> = None;
    walk_elements(body, b"LegalHold", |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        match p.as_slice() {
            [_] => require_blank(&text),
            [_, b"Status"] => set_once(&mut status, text),
            _ => Err(malformed()),
        }
    })?;
    status
        .as_deref()
        .map(str::trim)
        .and_then(parse_legal_hold_status)
        .ok_or_else(malformed)
}

/// GetObjectLegalHold's answer.
pub fn legal_hold(on: bool) -> Vec<u8> {
    response("LegalHold", 120, |w| {
        w.text("Status", if on { "ON" } else { "OFF" });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn code(e: S3Error) -> S3Code {
        e.code
    }

    #[test]
    fn a_lock_configuration_round_trips_with_days_or_years() {
        for (period, tag) in [
            (RetentionPeriod::Days(3), "<Days>3</Days>"),
            (RetentionPeriod::Years(2), "<Years>2</Years>"),
        ] {
            let c = ObjectLockConfig {
                default_retention: Some(DefaultRetention {
                    mode: LockMode::Compliance,
                    period,
                }),
            };
            let doc = object_lock_config(&c);
            let s = String::from_utf8(doc.clone()).unwrap();
            assert!(
                s.contains("<ObjectLockEnabled>Enabled</ObjectLockEnabled>"),
                "{s}"
            );
            assert!(s.contains(tag), "{s}");
            assert_eq!(parse_object_lock_config(&doc).unwrap(), c);
        }
        let bare = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>";
        assert_eq!(
            parse_object_lock_config(bare).unwrap(),
            ObjectLockConfig::default()
        );
    }

    #[test]
    fn a_bad_lock_configuration_is_refused_with_s3s_codes() {
        let doc = |inner: &str| {
            format!(
                "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
                 <Rule><DefaultRetention>{inner}</DefaultRetention></Rule></ObjectLockConfiguration>"
            )
        };
        for (inner, want) in [
            (
                "<Mode>GOVERNANCE</Mode><Days>0</Days>",
                S3Code::InvalidArgument,
            ),
            (
                "<Mode>GOVERNANCE</Mode><Years>-1</Years>",
                S3Code::InvalidArgument,
            ),
            (
                "<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>",
                S3Code::MalformedXML,
            ),
            ("<Mode>GOVERNANCE</Mode>", S3Code::MalformedXML),
            ("<Mode>SOMETIMES</Mode><Days>1</Days>", S3Code::MalformedXML),
            (
                "<Mode>GOVERNANCE</Mode><Days>x</Days>",
                S3Code::MalformedXML,
            ),
        ] {
            let e = parse_object_lock_config(doc(inner).as_bytes()).unwrap_err();
            assert_eq!(code(e), want, "{inner}");
        }
        let disabled = b"<ObjectLockConfiguration><ObjectLockEnabled>Disabled</ObjectLockEnabled></ObjectLockConfiguration>";
        assert_eq!(
            code(parse_object_lock_config(disabled).unwrap_err()),
            S3Code::MalformedXML
        );
    }

    #[test]
    fn retention_parses_future_dates_only_and_an_empty_one_removes() {
        let doc = |mode: &str, date: &str| {
            format!("<Retention><Mode>{mode}</Mode><RetainUntilDate>{date}</RetainUntilDate></Retention>")
        };
        let r = parse_retention(
            doc("COMPLIANCE", "2030-01-02T03:04:05.000Z").as_bytes(),
            NOW,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.mode, LockMode::Compliance);
        assert_eq!(r.until_ms, 1_893_553_445_000);
        let back = String::from_utf8(retention(&r)).unwrap();
        assert!(
            back.contains("<RetainUntilDate>2030-01-02T03:04:05.000Z</RetainUntilDate>"),
            "{back}"
        );
        assert_eq!(parse_retention(b"<Retention/>", NOW).unwrap(), None);
        let past = parse_retention(doc("GOVERNANCE", "2020-01-01T00:00:00Z").as_bytes(), NOW);
        assert_eq!(code(past.unwrap_err()), S3Code::InvalidArgument);
        let no_date = b"<Retention><Mode>GOVERNANCE</Mode></Retention>";
        assert_eq!(
            code(parse_retention(no_date, NOW).unwrap_err()),
            S3Code::MalformedXML
        );
    }

    #[test]
    fn legal_hold_is_on_or_off_and_nothing_else() {
        let doc = |s: &str| format!("<LegalHold><Status>{s}</Status></LegalHold>");
        assert!(parse_legal_hold(doc("ON").as_bytes()).unwrap());
        assert!(!parse_legal_hold(doc("OFF").as_bytes()).unwrap());
        assert_eq!(
            code(parse_legal_hold(doc("on").as_bytes()).unwrap_err()),
            S3Code::MalformedXML
        );
        assert!(String::from_utf8(legal_hold(true))
            .unwrap()
            .contains("<Status>ON</Status>"));
    }
}
