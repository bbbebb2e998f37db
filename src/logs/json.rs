//! One JSON object a line, written straight into a byte buffer: no
//! intermediate values, so formatting a log line allocates nothing once the
//! buffer has grown.

use std::io::Write as _;

/// Appends `s` as a JSON string. Quotes, backslashes and control characters
/// are escaped; bytes that are not UTF-8 (a key is bytes to a client) become
/// U+FFFD, so every line stays valid JSON.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        escape_valid(out, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
    out.push(b'"');
}

fn escape_valid(out: &mut Vec<u8>, s: &[u8]) {
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
}

/// Writes the members of one object; `end` closes it.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    pub fn begin(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, first: true }
    }

    /// The buffer, positioned for a member's value. Names are the
    /// program's own, written without escaping.
    fn name(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    pub fn str(&mut self, name: &str, v: &str) -> &mut Self {
        string(self.name(name), v.as_bytes());
        self
    }

    pub fn bytes(&mut self, name: &str, v: &[u8]) -> &mut Self {
        string(self.name(name), v);
        self
    }

    /// `null` for `None`.
    pub fn opt_str(&mut self, name: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(name, v),
            None => {
                self.name(name).extend_from_slice(b"null");
                self
            }
        }
    }

    pub fn u64(&mut self, name: &str, v: u64) -> &mut Self {
        let _ = write!(self.name(name), "{v}");
        self
    }

    /// A duration in milliseconds with microsecond precision.
    pub fn millis(&mut self, name: &str, d: std::time::Duration) -> &mut Self {
        let us = d.as_micros();
        let _ = write!(self.name(name), "{}.{:03}", us / 1000, us % 1000);
        self
    }

    /// A time as RFC 3339 UTC with milliseconds.
    pub fn time(&mut self, name: &str, unix_ms: u64) -> &mut Self {
        rfc3339_ms(self.name(name), unix_ms);
        self
    }

    /// Bytes as a string of lowercase hex (trace and span ids).
    pub fn hex(&mut self, name: &str, v: &[u8]) -> &mut Self {
        let out = self.name(name);
        out.push(b'"');
        hex_into(out, v);
        out.push(b'"');
        self
    }

    /// A value the caller has already written as JSON.
    pub fn raw(&mut self, name: &str, json: &[u8]) -> &mut Self {
        self.name(name).extend_from_slice(json);
        self
    }

    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds
/// (`2026-12-05T08:36:44.123Z`).
pub fn rfc3339_ms(out: &mut Vec<u8>, unix_ms: u64) {
    let secs = (unix_ms / 1000) as i64;
    let (y, m, d) = crate::auth::sigv4::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "\"{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z\"",
        s / 3600,
        s / 60 % 60,
        s % 60,
        unix_ms % 1000
    );
}

/// Lowercase hex of `bytes`, as trace and span ids are written.
pub fn hex_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &[u8]) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).expect("always UTF-8")
    }

    #[test]
    fn quotes_backslashes_and_controls_are_escaped() {
        assert_eq!(quoted(br#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quoted(b"l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(quoted(b"\x00\x1b\x7f"), r#""\u0000\u001b\u007f""#);
        // Whatever goes in, the line parses back to the same text.
        let key = "dir/\"quoted\" \u{1}\u{e9}\u{1F600}\\end";
        let back: String = serde_json::from_str(&quoted(key.as_bytes())).expect("valid JSON");
        assert_eq!(back, key);
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters() {
        let q = quoted(b"ok\xff\xfe-\xc3");
        let back: String = serde_json::from_str(&q).expect("valid JSON");
        assert_eq!(back, "ok\u{FFFD}\u{FFFD}-\u{FFFD}");
    }

    #[test]
    fn an_object_is_valid_json_with_its_members_in_order() {
        let mut out = Vec::new();
        let mut o = Object::begin(&mut out);
        o.str("a", "x\"y")
            .opt_str("b", None)
            .u64("c", 42)
            .millis("d", std::time::Duration::from_micros(1_234_567))
            .raw("e", b"[1]");
        o.end();
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"a":"x\"y","b":null,"c":42,"d":1234.567,"e":[1]}"#
        );
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["d"], 1234.567);
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        let mut out = Vec::new();
        rfc3339_ms(&mut out, 1_796_373_404_123);
        assert_eq!(out, b"\"2026-12-04T08:36:44.123Z\"");
        out.clear();
        rfc3339_ms(&mut out, 951_782_400_007);
        assert_eq!(out, b"\"2000-02-29T00:00:00.007Z\"");
    }
}
