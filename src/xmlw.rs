//! The XML response writer shared by the S3, IAM and STS APIs.
//!
//! Elements balance by construction: a document is one root written by
//! [`document`], and every child is opened and closed by one call
//! ([`Writer::element`] around a closure, or a leaf method), so no code can
//! leave an element open or close the wrong one. There is no way to write
//! raw markup, and all text goes through [`push_escaped`] (or the
//! `encoding-type=url` encoder, whose output needs no escaping).
//!
//! No intermediate tree: calls append straight to one `Vec<u8>`, so a
//! 1,000-key listing stays a few hundred KB of memcpy (`benches/s3.rs`,
//! `list_objects_v2_1000_keys`).

/// The XML declaration every response starts with.
const DECL: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A whole document: the declaration, then `root` (with `xmlns` when
/// given) holding what `body` writes. `capacity` is a guess of the final
/// size, so a listing is written without reallocating.
pub fn document(
    root: &str,
    xmlns: Option<&str>,
    capacity: usize,
    body: impl FnOnce(&mut Writer<'_>),
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(capacity.max(DECL.len() + 2 * root.len() + 5));
    buf.extend_from_slice(DECL);
    open_root(&mut buf, root, xmlns);
    buf.push(b'>');
    body(&mut Writer { buf: &mut buf });
    close(&mut buf, root);
    buf
}

/// A document whose root has no content: `<root xmlns="…"/>`, as S3
/// answers GetBucketLocation for us-east-1 and an unset versioning state.
pub fn empty_document(root: &str, xmlns: Option<&str>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(DECL.len() + root.len() + 64);
    buf.extend_from_slice(DECL);
    open_root(&mut buf, root, xmlns);
    buf.extend_from_slice(b"/>");
    buf
}

fn open_root(buf: &mut Vec<u8>, root: &str, xmlns: Option<&str>) {
    buf.push(b'<');
    buf.extend_from_slice(root.as_bytes());
    if let Some(ns) = xmlns {
        buf.extend_from_slice(b" xmlns=\"");
        push_escaped(buf, ns);
        buf.push(b'"');
    }
}

#[inline]
fn open(buf: &mut Vec<u8>, name: &str) {
    buf.push(b'<');
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'>');
}

#[inline]
fn close(buf: &mut Vec<u8>, name: &str) {
    buf.extend_from_slice(b"</");
    buf.extend_from_slice(name.as_bytes());
    buf.push(b'>');
}

/// The inside of one open element. Only [`document`] makes one, and every
/// method leaves the element as balanced as it found it.
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
}

impl Writer<'_> {
    /// `<name>…</name>` around what `body` writes.
    #[inline]
    pub fn element(&mut self, name: &str, body: impl FnOnce(&mut Writer<'_>)) {
        open(self.buf, name);
        body(self);
        close(self.buf, name);
    }

    /// [`Writer::element`] with attributes (`name="value"`, values
    /// escaped), as the `xsi:type` of an ACL grantee.
    pub fn element_attrs(
        &mut self,
        name: &str,
        attrs: &[(&str, &str)],
        body: impl FnOnce(&mut Writer<'_>),
    ) {
        self.buf.push(b'<');
        self.buf.extend_from_slice(name.as_bytes());
        for (n, v) in attrs {
            self.buf.push(b' ');
            self.buf.extend_from_slice(n.as_bytes());
            self.buf.extend_from_slice(b"=\"");
            push_escaped(self.buf, v);
            self.buf.push(b'"');
        }
        self.buf.push(b'>');
        body(self);
        close(self.buf, name);
    }

    /// Escaped text directly inside the current element.
    #[inline]
    pub fn content(&mut self, value: &str) {
        push_escaped(self.buf, value);
    }

    /// `<name>value</name>`, `value` escaped.
    #[inline]
    pub fn text(&mut self, name: &str, value: &str) {
        open(self.buf, name);
        push_escaped(self.buf, value);
        close(self.buf, name);
    }

    /// `<name>` around the pieces, each escaped, with no `String` joining
    /// them first.
    #[inline]
    pub fn text_concat(&mut self, name: &str, pieces: &[&str]) {
        open(self.buf, name);
        for p in pieces {
            push_escaped(self.buf, p);
        }
        close(self.buf, name);
    }

    /// [`Writer::text`] when there is a value; nothing otherwise.
    #[inline]
    pub fn text_opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }

    /// Text that is URL-encoded instead when a listing asked for
    /// `encoding-type=url` (see [`push_s3_url_encoded`]).
    #[inline]
    pub fn text_enc(&mut self, name: &str, value: &str, url: bool) {
        if url {
            open(self.buf, name);
            push_s3_url_encoded(self.buf, value);
            close(self.buf, name);
        } else {
            self.text(name, value);
        }
    }

    /// `<name>` and a decimal number.
    #[inline]
    pub fn num(&mut self, name: &str, value: u64) {
        open(self.buf, name);
        push_u64(self.buf, value);
        close(self.buf, name);
    }

    /// `<name>true</name>` or `false`.
    #[inline]
    pub fn boolean(&mut self, name: &str, value: bool) {
        self.text(name, if value { "true" } else { "false" });
    }

    /// `<name>` around text a formatter (a date, say) appends to the buffer
    /// without a `String` in between. What it appends is checked and
    /// escaped if it needs to be, so a formatter cannot break the document.
    #[inline]
    pub fn text_with(&mut self, name: &str, format: impl FnOnce(&mut Vec<u8>)) {
        open(self.buf, name);
        let start = self.buf.len();
        format(self.buf);
        if self.buf[start..].iter().any(|&b| needs_escape(b)) {
            let raw = self.buf.split_off(start);
            push_escaped_bytes(self.buf, &raw);
        }
        close(self.buf, name);
    }
}

#[inline]
fn needs_escape(b: u8) -> bool {
    matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'') || (b < 0x20 && b != b'\t' && b != b'\n')
}

/// Escapes element text. CR is written as a character reference because XML
/// parsers normalise a literal CR to LF; other C0 controls (illegal in XML
/// 1.0 even as references) are written as references so the bytes survive for
/// lenient parsers, which is also what S3 does for such keys.
#[inline]
pub fn push_escaped(out: &mut Vec<u8>, s: &str) {
    push_escaped_bytes(out, s.as_bytes());
}

#[inline]
fn push_escaped_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&apos;",
            b'\r' => b"&#xD;",
            b'\t' | b'\n' => continue,
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                push_char_ref(out, b);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn push_char_ref(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(b"&#x");
    if b >= 0x10 {
        out.push(HEX[(b >> 4) as usize]);
    }
    out.push(HEX[(b & 0xf) as usize]);
    out.push(b';');
}

/// Decimal digits of `v`.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// S3's `encoding-type=url` encoding: every byte outside `A-Za-z0-9 - _ . *`
/// and '/' percent-encoded as UTF-8, a space as `%20` (S3 never writes `+`;
/// s3-tests' test_bucket_list_encoding_basic, checked against AWS, expects
/// `quux%20ab/`), and `test_file(3).png` as `test_file%283%29.png` as the
/// EncodingType documentation shows. Plus-aware decoders (botocore
/// `unquote_plus`, Go `url.QueryUnescape`) read `%20` as a space too.
#[inline]
pub fn push_s3_url_encoded(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b)
            }
            _ => {
                out.push(b'%');
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    #[test]
    fn nested_elements_close_in_order() {
        let doc = document("R", Some("urn:x"), 0, |w| {
            w.element("A", |w| {
                w.text("B", "b");
                w.element("C", |w| w.num("D", 42));
                w.boolean("E", false);
            });
            w.text_opt("F", None);
            w.text_opt("G", Some("g"));
            w.text_concat("H", &["\"", "a&b", "\""]);
        });
        assert_eq!(
            s(doc),
            format!(
                "{HEAD}<R xmlns=\"urn:x\"><A><B>b</B><C><D>42</D></C><E>false</E></A>\
                 <G>g</G><H>&quot;a&amp;b&quot;</H></R>"
            )
        );
    }

    #[test]
    fn roots_with_and_without_namespace() {
        assert_eq!(
            s(document("Error", None, 0, |_| {})),
            format!("{HEAD}<Error></Error>")
        );
        assert_eq!(
            s(empty_document("L", Some("a&b"))),
            format!("{HEAD}<L xmlns=\"a&amp;b\"/>")
        );
        assert_eq!(s(empty_document("L", None)), format!("{HEAD}<L/>"));
        let iam = "https://iam.amazonaws.com/doc/2010-05-08/";
        assert!(s(document("CreateUserResponse", Some(iam), 0, |_| {}))
            .contains("<CreateUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"));
    }

    #[test]
    fn text_is_escaped_with_cr_as_a_reference() {
        let doc = document("R", None, 0, |w| {
            w.text("T", "a<b>&\"c'\r\n\t\u{1}\u{1f}é");
            w.content("x&y");
        });
        assert_eq!(
            s(doc),
            format!("{HEAD}<R><T>a&lt;b&gt;&amp;&quot;c&apos;&#xD;\n\t&#x1;&#x1F;é</T>x&amp;y</R>")
        );
    }

    #[test]
    fn url_encoded_text() {
        let doc = document("R", None, 0, |w| {
            w.text_enc("K", "a b+c/한<\r", true);
            w.text_enc("K", "a b+c/한<\r", false);
        });
        assert_eq!(
            s(doc),
            format!("{HEAD}<R><K>a%20b%2Bc/%ED%95%9C%3C%0D</K><K>a b+c/한&lt;&#xD;</K></R>")
        );
    }

    #[test]
    fn formatted_text_cannot_inject_markup() {
        let doc = document("R", None, 0, |w| {
            w.text_with("D", |b| b.extend_from_slice(b"2009-10-12T17:50:30.000Z"));
            w.text_with("X", |b| b.extend_from_slice(b"</R><evil/>\r"));
        });
        assert_eq!(
            s(doc),
            format!(
                "{HEAD}<R><D>2009-10-12T17:50:30.000Z</D><X>&lt;/R&gt;&lt;evil/&gt;&#xD;</X></R>"
            )
        );
    }

    #[test]
    fn numbers() {
        let doc = document("R", None, 0, |w| {
            w.num("A", 0);
            w.num("B", u64::MAX);
        });
        assert!(s(doc).contains("<A>0</A><B>18446744073709551615</B>"));
    }
}
