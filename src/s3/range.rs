//! The GetObject/HeadObject `Range` header, interpreted the way S3 does.
//!
//! S3 supports a single byte range and is lenient: anything it cannot use is
//! ignored and the whole object is served with 200, and only a syntactically
//! valid range that misses the object entirely is 416 InvalidRange.
//! Sources for each rule:
//!
//! * Multiple ranges (`bytes=0-1,3-4`) are ignored: 200 with the full body and
//!   no Content-Range. Observed on AWS in awslabs/aws-c-s3#257 (`bytes=0-499,
//!   500-502` -> 200, full Content-Length) and basho/riak_cs#304 ("AWS S3
//!   respond whole resource when multiple ranges are requested"). The AWS
//!   GetObject page: "Amazon S3 doesn't support retrieving multiple ranges of
//!   data per GET request."
//! * Unparseable ranges are ignored: boto/boto3#775 (random strings -> whole
//!   file), scality/cloudserver#2194 ("an invalid range with the object GET
//!   API results in retrieving the entire object rather than an error"),
//!   versity/versitygw#1120 (`bytes=invalid-range`, `bytes=33-10` -> full
//!   object), noobaa/noobaa-core#9889 (`bytes=1-0`, `bytes=3-0` on AWS ->
//!   full object).
//! * `start >= size` is 416 InvalidRange; an end past the object is clamped:
//!   scality/cloudserver#400, minio/minio#2098, chimera-nas/chimera#704.
//! * Suffix larger than the object yields the whole object as a 206 with
//!   `bytes 0-(size-1)/size`: versity/versitygw#1258 (measured on AWS).
//! * Empty objects: `bytes=0-`, `bytes=0-0` and any `first-last` range are
//!   416 InvalidRange. minio/minio-java#636 shows AWS answering `bytes=0-` on
//!   an empty object with InvalidRange, and minio/minio#17713 reverted a
//!   change that served it as 200 after re-checking against AWS. A suffix
//!   range (`bytes=-N`, N > 0) on an empty object is instead served as a
//!   plain 200 with an empty body: apache/arrow-rs-object-store#846 ("For a
//!   zero-byte object, AWS S3 responds with: HTTP/1.1 200 OK,
//!   Content-Length: 0"), floci-io/floci#1141 (Trino's empty-file test
//!   against S3), and versitygw's AWS-derived ParseObjectRange.
//! * `bytes=-0` is 416 (RFC 9110 14.1.1: a zero suffix is unsatisfiable;
//!   versitygw returns InvalidRange for it, also on empty objects).
//! * Whitespace: none is accepted inside the spec (versitygw parses the
//!   numbers strictly and ignores the range otherwise). The unit is matched
//!   case-insensitively, as RFC 9110 14.1 requires for range units.

use std::cmp::Ordering;

use super::error::{S3Code, S3Error};

/// The one way a well-formed single range can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// 416 InvalidRange; send `Content-Range: bytes */{size}` with it
    /// (see [`content_range_unsatisfied`]).
    #[error("the requested range is not satisfiable (object size {size})")]
    NotSatisfiable { size: u64 },
}

impl From<RangeError> for S3Error {
    fn from(_: RangeError) -> Self {
        S3Error::from_code(S3Code::InvalidRange)
    }
}

/// Parses a `Range` header against an object of `size` bytes.
///
/// `Ok(Some((start, end_exclusive)))` means serve 206 with those bytes;
/// `Ok(None)` means ignore the header and serve the whole object with 200.
pub fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, RangeError> {
    let header = header.trim();
    let Some((unit, spec)) = header.split_once('=') else {
        return Ok(None);
    };
    if !unit.eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = Err(RangeError::NotSatisfiable { size });

    if first.is_empty() {
        // Suffix range: the last N bytes.
        let Some(n) = parse_digits(last) else {
            return Ok(None);
        };
        if n == 0 {
            return unsatisfiable;
        }
        if size == 0 {
            return Ok(None);
        }
        return Ok(Some((size - n.min(size), size)));
    }

    let Some(start) = parse_digits(first) else {
        return Ok(None);
    };
    if last.is_empty() {
        // Open-ended: `start-`.
        if start >= size {
            return unsatisfiable;
        }
        return Ok(Some((start, size)));
    }
    let Some(end) = parse_digits(last) else {
        return Ok(None);
    };
    // Compared as written: past u64 both sides saturate to the same value.
    if cmp_digits(first, last) == Ordering::Greater {
        // Syntactically invalid per RFC 9110, so ignored rather than 416.
        return Ok(None);
    }
    if start >= size {
        return unsatisfiable;
    }
    Ok(Some((start, end.saturating_add(1).min(size))))
}

/// Only ASCII digits (no sign, no spaces); values past u64 saturate, which
/// keeps the ordering against the object size right (a huge start is
/// unsatisfiable, a huge end or suffix clamps to the object).
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// Orders two digit strings by value, whatever their length.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `Content-Range` for a 206: `bytes {start}-{end_excl-1}/{size}`. An empty
/// span (which `parse_range` never yields) renders as the unsatisfied form
/// rather than underflowing.
pub fn content_range(start: u64, end_excl: u64, size: u64) -> String {
    if end_excl <= start {
        return content_range_unsatisfied(size);
    }
    format!("bytes {start}-{}/{size}", end_excl - 1)
}

/// `Content-Range` for a 416: `bytes */{size}`.
pub fn content_range_unsatisfied(size: u64) -> String {
    format!("bytes */{size}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nr(size: u64) -> Result<Option<(u64, u64)>, RangeError> {
        Err(RangeError::NotSatisfiable { size })
    }

    #[test]
    fn simple_ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(parse_range("bytes=10-10", 100), Ok(Some((10, 11))));
        assert_eq!(parse_range("bytes=99-99", 100), Ok(Some((99, 100))));
        assert_eq!(parse_range("bytes=0-0", 1), Ok(Some((0, 1))));
    }

    #[test]
    fn open_ended() {
        assert_eq!(parse_range("bytes=5-", 100), Ok(Some((5, 100))));
        assert_eq!(parse_range("bytes=0-", 100), Ok(Some((0, 100))));
        assert_eq!(parse_range("bytes=99-", 100), Ok(Some((99, 100))));
        assert_eq!(parse_range("bytes=100-", 100), nr(100));
    }

    #[test]
    fn suffix() {
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some((90, 100))));
        assert_eq!(parse_range("bytes=-100", 100), Ok(Some((0, 100))));
        assert_eq!(parse_range("bytes=-150", 100), Ok(Some((0, 100))));
        assert_eq!(parse_range("bytes=-1", 1), Ok(Some((0, 1))));
        assert_eq!(parse_range("bytes=-0", 100), nr(100));
        assert_eq!(
            parse_range("bytes=-99999999999999999999999", 100),
            Ok(Some((0, 100)))
        );
    }

    #[test]
    fn end_clamps() {
        assert_eq!(parse_range("bytes=0-999", 100), Ok(Some((0, 100))));
        assert_eq!(
            parse_range("bytes=50-18446744073709551615", 100),
            Ok(Some((50, 100)))
        );
        assert_eq!(
            parse_range("bytes=50-999999999999999999999999", 100),
            Ok(Some((50, 100)))
        );
    }

    #[test]
    fn start_past_end_is_416() {
        assert_eq!(parse_range("bytes=100-200", 100), nr(100));
        assert_eq!(parse_range("bytes=100-100", 100), nr(100));
        assert_eq!(parse_range("bytes=500-", 100), nr(100));
        assert_eq!(parse_range("bytes=99999999999999999999999-", 100), nr(100));
    }

    #[test]
    fn empty_object() {
        assert_eq!(parse_range("bytes=0-", 0), nr(0));
        assert_eq!(parse_range("bytes=0-0", 0), nr(0));
        assert_eq!(parse_range("bytes=1-2", 0), nr(0));
        assert_eq!(parse_range("bytes=-1", 0), Ok(None));
        assert_eq!(parse_range("bytes=-512", 0), Ok(None));
        assert_eq!(parse_range("bytes=-0", 0), nr(0));
        assert_eq!(parse_range("bytes=abc", 0), Ok(None));
    }

    #[test]
    fn ignored_headers() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=abc",
            "bytes=a-b",
            "bytes=5",
            "bytes=5-2",
            "bytes=1-0",
            "bytes=3-0",
            "bytes=0-1,3-4",
            "bytes=0-1, 3-4",
            "bytes=200-300,0-1",
            "items=0-1",
            "=0-1",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=-+2",
            "bytes= 0-1",
            "bytes=0 -1",
            "bytes=0-1 x",
            "bytes=0--1",
            "bytes=1-2-3",
            "bytes==0-1",
            "bytes=0x1-2",
            "bytes=١-٢",
        ] {
            assert_eq!(parse_range(h, 100), Ok(None), "{h:?}");
        }
    }

    #[test]
    fn reversed_ranges_past_u64_are_ignored() {
        // Both ends saturate to u64::MAX; found by fuzz/ (target `range`).
        for h in [
            "bytes=55555555555555555555555-5555555555555555555100",
            "bytes=18446744073709551616-18446744073709551615",
        ] {
            assert_eq!(parse_range(h, 0), Ok(None), "{h}");
            assert_eq!(parse_range(h, 100), Ok(None), "{h}");
        }
        assert_eq!(
            parse_range("bytes=18446744073709551615-18446744073709551616", 100),
            nr(100)
        );
        assert_eq!(
            parse_range("bytes=000050-99999999999999999999999", 100),
            Ok(Some((50, 100)))
        );
    }

    #[test]
    fn unit_case_and_outer_whitespace() {
        assert_eq!(parse_range("Bytes=0-1", 10), Ok(Some((0, 2))));
        assert_eq!(parse_range("BYTES=0-1", 10), Ok(Some((0, 2))));
        assert_eq!(parse_range("  bytes=0-1  ", 10), Ok(Some((0, 2))));
    }

    #[test]
    fn content_range_format() {
        assert_eq!(content_range(0, 10, 100), "bytes 0-9/100");
        assert_eq!(content_range(99, 100, 100), "bytes 99-99/100");
        assert_eq!(content_range(0, 0, 0), "bytes */0");
        assert_eq!(content_range(5, 3, 10), "bytes */10");
        assert_eq!(content_range_unsatisfied(42), "bytes */42");
        let (s, e) = parse_range("bytes=-10", 100).unwrap().unwrap();
        assert_eq!(content_range(s, e, 100), "bytes 90-99/100");
    }

    #[test]
    fn error_maps_to_invalid_range() {
        let e: S3Error = RangeError::NotSatisfiable { size: 3 }.into();
        assert_eq!(e.code, S3Code::InvalidRange);
        assert_eq!(e.status().as_u16(), 416);
    }

    #[test]
    fn results_are_always_in_bounds() {
        let specs = [
            "0",
            "1",
            "5",
            "9",
            "10",
            "11",
            "",
            "18446744073709551615",
            "99999999999999999999",
        ];
        for size in [0u64, 1, 5, 10, 11] {
            for a in specs {
                for b in specs {
                    let h = format!("bytes={a}-{b}");
                    if let Ok(Some((s, e))) = parse_range(&h, size) {
                        assert!(s < e && e <= size, "{h} size {size} -> {s}..{e}");
                    }
                }
            }
        }
    }
}
