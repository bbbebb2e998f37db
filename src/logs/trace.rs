//! W3C trace context: a request's `traceparent` is taken up (its trace id
//! kept, its span becoming our parent), or a new trace is started; the
//! request's own span id is new either way.

use http::header::{HeaderMap, HeaderName, HeaderValue};

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The response header (W3C Trace Context Level 2): the same format, naming
/// the server's span.
pub const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// The caller's span, when a valid `traceparent` came.
    pub parent: Option<[u8; 8]>,
    /// This request's span.
    pub span_id: [u8; 8],
    /// The caller's sampled flag; a trace started here is sampled.
    pub sampled: bool,
}

impl TraceContext {
    /// From the request's `traceparent` (exactly one, valid), else a new trace.
    pub fn from_headers(h: &HeaderMap) -> TraceContext {
        let mut all = h.get_all(TRACEPARENT).iter();
        let parsed = match (all.next(), all.next()) {
            (Some(v), None) => parse(v.as_bytes()),
            _ => None,
        };
        let span_id = nonzero(|| rand::random::<u64>().to_be_bytes());
        match parsed {
            Some((trace_id, parent, flags)) => TraceContext {
                trace_id,
                parent: Some(parent),
                span_id,
                sampled: flags & 1 == 1,
            },
            None => TraceContext {
                trace_id: nonzero(|| rand::random::<u128>().to_be_bytes()),
                parent: None,
                span_id,
                sampled: true,
            },
        }
    }

    /// `00-{trace}-{span}-{flags}`, naming this request's span.
    pub fn header_value(&self) -> HeaderValue {
        let mut v = Vec::with_capacity(55);
        v.extend_from_slice(b"00-");
        super::json::hex_into(&mut v, &self.trace_id);
        v.push(b'-');
        super::json::hex_into(&mut v, &self.span_id);
        v.extend_from_slice(if self.sampled { b"-01" } else { b"-00" });
        // Only hex digits and dashes: always a valid header value.
        HeaderValue::from_maybe_shared(bytes::Bytes::from(v))
            .unwrap_or(HeaderValue::from_static(""))
    }

    pub fn trace_hex(&self) -> String {
        hex::encode(self.trace_id)
    }
}

fn nonzero<const N: usize>(f: impl Fn() -> [u8; N]) -> [u8; N] {
    loop {
        let v = f();
        if v.iter().any(|&b| b != 0) {
            return v;
        }
    }
}

/// `version-traceid-parentid-flags`. Version 00 is exactly 55 characters;
/// a later version may append fields after a dash; ff is invalid, as are
/// uppercase hex and all-zero ids.
fn parse(v: &[u8]) -> Option<([u8; 16], [u8; 8], u8)> {
    if v.len() < 55 || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let version = hex_byte(&v[0..2])?;
    if version == 0xff || (version == 0 && v.len() != 55) || (v.len() > 55 && v[55] != b'-') {
        return None;
    }
    let mut trace = [0u8; 16];
    for (i, b) in trace.iter_mut().enumerate() {
        *b = hex_byte(&v[3 + 2 * i..5 + 2 * i])?;
    }
    let mut parent = [0u8; 8];
    for (i, b) in parent.iter_mut().enumerate() {
        *b = hex_byte(&v[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&v[53..55])?;
    if trace == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace, parent, flags))
}

fn hex_byte(two: &[u8]) -> Option<u8> {
    let d = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(d(two[0])? << 4 | d(two[1])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(TRACEPARENT, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn a_valid_traceparent_keeps_its_trace_and_becomes_the_parent() {
        let t = TraceContext::from_headers(&with(&[GOOD]));
        assert_eq!(t.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            t.parent,
            Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert!(t.sampled);
        assert_ne!(Some(t.span_id), t.parent);
        let back = t.header_value();
        let back = back.to_str().expect("ascii");
        assert!(back.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(back.ends_with("-01"));
        assert_eq!(back.len(), 55);
        let unsampled = GOOD.replace("-01", "-00");
        assert!(!TraceContext::from_headers(&with(&[&unsampled])).sampled);
        // A later version may carry more fields.
        let future = format!("{}-extra", GOOD.replacen("00", "cc", 1));
        assert!(TraceContext::from_headers(&with(&[&future]))
            .parent
            .is_some());
    }

    #[test]
    fn an_invalid_or_repeated_traceparent_starts_a_new_trace() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let t = TraceContext::from_headers(&with(&[bad]));
            assert_eq!(t.parent, None, "{bad:?}");
            assert_ne!(t.trace_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert!(t.sampled);
        }
        assert_eq!(
            TraceContext::from_headers(&with(&[GOOD, GOOD])).parent,
            None
        );
        let a = TraceContext::from_headers(&HeaderMap::new());
        let b = TraceContext::from_headers(&HeaderMap::new());
        assert_ne!(a.trace_id, b.trace_id, "new traces get their own ids");
    }
}
