//! `parse_range` against a reference that compares decimal strings exactly
//! (no saturation), and the bounds of every range it returns.
#![no_main]

use std::cmp::Ordering;

use arbitrary::Arbitrary;
use cairn::s3::range::{content_range, parse_range, RangeError};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Num {
    Empty,
    Small(u8),
    Any(u64),
    /// Leading zeros, then a value.
    Padded(u8, u64),
    /// Arbitrary-length digit strings, past u64.
    Digits(Vec<u8>),
}

impl Num {
    fn render(&self) -> String {
        match self {
            Num::Empty => String::new(),
            Num::Small(n) => n.to_string(),
            Num::Any(n) => n.to_string(),
            Num::Padded(z, n) => format!("{}{n}", "0".repeat(usize::from(z % 24))),
            Num::Digits(d) => d.iter().map(|b| char::from(b'0' + b % 10)).collect(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Header {
    Raw(String),
    /// `{unit}={first}-{last}` with optional surrounding text, so the
    /// well-formed shapes are reached often.
    Form {
        unit: u8,
        first: Num,
        last: Num,
        before: String,
        after: String,
    },
}

#[derive(Arbitrary, Debug)]
enum Size {
    Small(u8),
    Any(u64),
}

fuzz_target!(|input: (Header, Size)| {
    let (header, size) = input;
    let header = match header {
        Header::Raw(s) => s,
        Header::Form {
            unit,
            first,
            last,
            before,
            after,
        } => {
            let unit = ["bytes", "BYTES", "Bytes", "byte", "items"][usize::from(unit % 5)];
            format!("{before}{unit}={}-{}{after}", first.render(), last.render())
        }
    };
    let size = match size {
        Size::Small(n) => u64::from(n),
        Size::Any(n) => n,
    };

    let got = parse_range(&header, size);
    match got {
        Ok(Some((start, end))) => {
            assert!(
                start < end && end <= size,
                "{header:?} size {size}: {start}..{end}"
            );
            assert_eq!(
                content_range(start, end, size),
                format!("bytes {start}-{}/{size}", end - 1)
            );
        }
        Ok(None) => {}
        Err(RangeError::NotSatisfiable { size: s }) => assert_eq!(s, size),
    }
    let want = reference(&header, size).map_err(|()| RangeError::NotSatisfiable { size });
    assert_eq!(got, want, "{header:?} size {size}");
});

/// The contract from range.rs's module docs, written the plain way: one
/// `bytes=` prefix, one `-`, digits on each side, numbers of any length.
/// `Err(())` is 416.
fn reference(header: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let h = header.trim();
    let Some(spec) = h
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case("bytes="))
        .map(|_| &h[6..])
    else {
        return Ok(None);
    };
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let is_num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    let size_s = size.to_string();
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ok(None),
        (true, false) => {
            if !is_num(b) {
                return Ok(None);
            }
            if cmp_dec(b, "0") == Ordering::Equal {
                return Err(());
            }
            if size == 0 {
                return Ok(None);
            }
            if cmp_dec(b, &size_s) != Ordering::Less {
                return Ok(Some((0, size)));
            }
            Ok(Some((size - to_u64(b), size)))
        }
        (false, true) => {
            if !is_num(a) {
                return Ok(None);
            }
            if cmp_dec(a, &size_s) != Ordering::Less {
                return Err(());
            }
            Ok(Some((to_u64(a), size)))
        }
        (false, false) => {
            if !is_num(a) || !is_num(b) {
                return Ok(None);
            }
            if cmp_dec(a, b) == Ordering::Greater {
                return Ok(None);
            }
            if cmp_dec(a, &size_s) != Ordering::Less {
                return Err(());
            }
            // a <= b < size here, so b + 1 fits.
            let end = if cmp_dec(b, &size_s) != Ordering::Less {
                size
            } else {
                to_u64(b) + 1
            };
            Ok(Some((to_u64(a), end)))
        }
    }
}

/// Compares two non-empty digit strings by value.
fn cmp_dec(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Only called on digit strings known to be below some u64.
fn to_u64(s: &str) -> u64 {
    s.parse().expect("checked below a u64")
}
