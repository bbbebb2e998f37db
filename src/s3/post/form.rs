//! Push decoder for the `multipart/form-data` body of a browser upload
//! (RFC 7578, framing from RFC 2046 §5.1.1).
//!
//! Pure: the caller feeds the body in whatever pieces the network delivers
//! ([`FormDecoder::feed`]) and calls [`FormDecoder::finish`] at its end.
//! Ordinary fields are buffered and handed over whole; the part named
//! `file` is streamed: [`FormEvent::FileData`] slices point into the caller's
//! input wherever they can (a few bytes held back at a piece boundary, in
//! case they start the next delimiter, come from the decoder's own buffer).
//!
//! Everything but the file's content (preamble, delimiters, part headers,
//! field values, epilogue) counts against [`MAX_FORM_BYTES`], AWS's limit,
//! so the buffered part of a form is bounded whatever the client sends.

use memchr::memmem;

/// RFC 2046's longest boundary.
pub const MAX_BOUNDARY_LEN: usize = 70;
/// AWS: "The form data and boundaries (excluding the contents of the file)
/// cannot exceed 20 KB."
pub const MAX_FORM_BYTES: usize = 20 * 1024;
/// Most parts in one form (fields, the file, and any after it).
pub const MAX_PARTS: usize = 128;
/// Longest header block of one part, CRLFs included.
pub const MAX_PART_HEADER_LEN: usize = 2 * 1024;
/// Longest single field value (the policy is the long one).
pub const MAX_FIELD_LEN: usize = 16 * 1024;
/// MinIO's fan-out list (`fanout`): read apart from the form's values, as
/// MinIO does, so it may be longer than any field and does not count
/// against [`MAX_FORM_BYTES`].
pub const FANOUT_FIELD: &str = "x-minio-fanout-list";
/// Longest fan-out list: a thousand entries with some metadata each.
pub const MAX_FANOUT_LIST_LEN: usize = 1 << 20;
/// What may follow a delimiter before its CRLF (RFC 2046 transport padding).
const MAX_PADDING: usize = 64;

/// The name of the part whose content is the object.
pub const FILE_FIELD: &str = "file";

/// What the decoder reports, in body order.
#[derive(Debug, PartialEq, Eq)]
pub enum FormEvent<'a> {
    /// A complete field other than the file; `name` as sent (case kept).
    Field { name: &'a str, value: &'a [u8] },
    /// The file part begins. `filename` is the last path segment of what the
    /// client sent (browsers may send `C:\dir\a.txt`), if it sent one.
    FileStart {
        filename: Option<&'a str>,
        content_type: Option<&'a str>,
    },
    /// The next piece of the file's content (never empty).
    FileData(&'a [u8]),
    /// The file part ended.
    FileEnd,
}

/// Why a body is not an acceptable form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormError {
    /// Bad framing or part headers; the text is for logs.
    Malformed(&'static str),
    /// More than [`MAX_FORM_BYTES`] outside the file, or a field or header
    /// block over its own limit.
    TooLarge,
    /// More than [`MAX_PARTS`] parts.
    TooManyParts,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sink {
    /// Preamble: read and dropped.
    Discard,
    /// A field value, kept until its end.
    Field,
    /// The file: streamed out.
    File,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Looking for the next delimiter, passing what comes before to `Sink`.
    Scan(Sink),
    /// After a delimiter: `--` (the close) or padding then CRLF.
    AfterDelimiter,
    /// Reading a part's header lines.
    Headers,
    /// After the close delimiter: ignored.
    Epilogue,
    Failed(FormError),
}

pub struct FormDecoder {
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    finder: memmem::Finder<'static>,
    state: State,
    /// Bytes at the end of the last piece that may begin a delimiter: a
    /// proper prefix of `delimiter`.
    held: Vec<u8>,
    /// The line being read (after a delimiter, or a header line).
    line: Vec<u8>,
    /// The current part's header bytes so far.
    header_len: usize,
    /// The current part's `name`, `filename`, `Content-Type`.
    name: Option<String>,
    filename: Option<String>,
    content_type: Option<String>,
    disposition_seen: bool,
    /// The current field's value.
    value: Vec<u8>,
    /// The current field is the fan-out list.
    fanout: bool,
    /// Bytes outside the file so far.
    form_bytes: usize,
    parts: usize,
}

impl FormDecoder {
    /// A decoder for `boundary` (from [`boundary_from_content_type`]).
    pub fn new(boundary: &str) -> Result<FormDecoder, FormError> {
        if boundary.is_empty()
            || boundary.len() > MAX_BOUNDARY_LEN
            || boundary.bytes().any(|b| b.is_ascii_control())
        {
            return Err(FormError::Malformed("invalid boundary"));
        }
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let finder = memmem::Finder::new(&delimiter).into_owned();
        Ok(FormDecoder {
            delimiter,
            finder,
            state: State::Scan(Sink::Discard),
            // The first delimiter may open the body without a CRLF before
            // it: scan as if one had been read.
            held: b"\r\n".to_vec(),
            line: Vec::new(),
            header_len: 0,
            name: None,
            filename: None,
            content_type: None,
            disposition_seen: false,
            value: Vec::new(),
            fanout: false,
            form_bytes: 0,
            parts: 0,
        })
    }

    /// Bytes outside the file read so far.
    pub fn form_bytes(&self) -> usize {
        self.form_bytes
    }

    /// Decodes the next piece of the body. Errors are sticky.
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut impl FnMut(FormEvent<'_>),
    ) -> Result<(), FormError> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        let r = self.feed_inner(input, out);
        if let Err(e) = r {
            self.state = State::Failed(e);
        }
        r
    }

    /// The body ended: it must have ended with the close delimiter.
    pub fn finish(&self) -> Result<(), FormError> {
        match self.state {
            State::Failed(e) => Err(e),
            State::Epilogue => Ok(()),
            _ => Err(FormError::Malformed(
                "the body ended before the close delimiter",
            )),
        }
    }

    fn count(&mut self, n: usize) -> Result<(), FormError> {
        self.form_bytes += n;
        if self.form_bytes > MAX_FORM_BYTES {
            return Err(FormError::TooLarge);
        }
        Ok(())
    }

    fn feed_inner(
        &mut self,
        mut input: &[u8],
        out: &mut impl FnMut(FormEvent<'_>),
    ) -> Result<(), FormError> {
        while !input.is_empty() {
            match self.state {
                State::Scan(sink) => {
                    let (used, found) = self.scan(input, sink, out)?;
                    input = &input[used..];
                    if found {
                        self.count(self.delimiter.len())?;
                        self.end_part(sink, out)?;
                        self.state = State::AfterDelimiter;
                    }
                }
                State::AfterDelimiter => {
                    let b = input[0];
                    input = &input[1..];
                    self.count(1)?;
                    self.line.push(b);
                    if self.line == b"--" {
                        self.line.clear();
                        self.state = State::Epilogue;
                    } else if self.line.ends_with(b"\r\n") {
                        let pad = &self.line[..self.line.len() - 2];
                        if !pad.iter().all(|&c| c == b' ' || c == b'\t') {
                            return Err(FormError::Malformed("garbage after a delimiter"));
                        }
                        self.line.clear();
                        self.start_part()?;
                    } else if self.line.len() > MAX_PADDING
                        || (self.line.len() == 2 && self.line[0] == b'-')
                    {
                        return Err(FormError::Malformed("garbage after a delimiter"));
                    }
                }
                State::Headers => {
                    let take = match memchr::memchr(b'\n', input) {
                        Some(i) => i + 1,
                        None => input.len(),
                    };
                    self.header_len += take;
                    if self.header_len > MAX_PART_HEADER_LEN {
                        return Err(FormError::TooLarge);
                    }
                    self.count(take)?;
                    self.line.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if self.line.ends_with(b"\n") {
                        let line = std::mem::take(&mut self.line);
                        self.header_line(&line, out)?;
                    }
                }
                State::Epilogue => {
                    self.count(input.len())?;
                    input = &[];
                }
                State::Failed(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// A new part's headers follow.
    fn start_part(&mut self) -> Result<(), FormError> {
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return Err(FormError::TooManyParts);
        }
        self.header_len = 0;
        self.name = None;
        self.filename = None;
        self.content_type = None;
        self.disposition_seen = false;
        self.state = State::Headers;
        Ok(())
    }

    fn header_line(
        &mut self,
        line: &[u8],
        out: &mut impl FnMut(FormEvent<'_>),
    ) -> Result<(), FormError> {
        let Some(line) = line.strip_suffix(b"\r\n") else {
            return Err(FormError::Malformed("a part header line ends without CRLF"));
        };
        if line.is_empty() {
            return self.end_headers(out);
        }
        let text = std::str::from_utf8(line)
            .map_err(|_| FormError::Malformed("a part header is not UTF-8"))?;
        let (name, value) = text
            .split_once(':')
            .ok_or(FormError::Malformed("a part header has no colon"))?;
        if name.is_empty() || name.starts_with([' ', '\t']) {
            return Err(FormError::Malformed("a part header has no name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-disposition") {
            if self.disposition_seen {
                return Err(FormError::Malformed("two Content-Disposition headers"));
            }
            self.disposition_seen = true;
            let (field, filename) = parse_disposition(value)?;
            self.name = Some(field);
            self.filename = filename;
        } else if name.eq_ignore_ascii_case("content-type") {
            self.content_type = Some(value.to_owned());
        }
        Ok(())
    }

    fn end_headers(&mut self, out: &mut impl FnMut(FormEvent<'_>)) -> Result<(), FormError> {
        let Some(name) = self.name.as_deref() else {
            return Err(FormError::Malformed("a part has no form-data name"));
        };
        if name.eq_ignore_ascii_case(FILE_FIELD) {
            out(FormEvent::FileStart {
                filename: self.filename.as_deref().map(last_segment),
                content_type: self.content_type.as_deref(),
            });
            self.state = State::Scan(Sink::File);
        } else {
            self.fanout = name.eq_ignore_ascii_case(FANOUT_FIELD);
            self.value.clear();
            self.state = State::Scan(Sink::Field);
        }
        Ok(())
    }

    fn end_part(
        &mut self,
        sink: Sink,
        out: &mut impl FnMut(FormEvent<'_>),
    ) -> Result<(), FormError> {
        match sink {
            Sink::Discard => {}
            Sink::File => out(FormEvent::FileEnd),
            Sink::Field => {
                let name = self.name.as_deref().unwrap_or("");
                out(FormEvent::Field {
                    name,
                    value: &self.value,
                });
                self.value.clear();
            }
        }
        Ok(())
    }

    /// Passes bytes up to the next delimiter to `sink`. Returns how much of
    /// `input` it used and whether the delimiter ended there (its bytes
    /// included in the count).
    fn scan(
        &mut self,
        input: &[u8],
        sink: Sink,
        out: &mut impl FnMut(FormEvent<'_>),
    ) -> Result<(usize, bool), FormError> {
        let d_len = self.delimiter.len();
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            // The earliest start inside `held` that `input` may complete.
            for i in 0..held.len() {
                let rest = &held[i..];
                if !self.delimiter.starts_with(rest) {
                    continue;
                }
                let need = d_len - rest.len();
                let n = need.min(input.len());
                if input[..n] != self.delimiter[rest.len()..rest.len() + n] {
                    continue;
                }
                self.pass(sink, &held[..i], out)?;
                if n == need {
                    return Ok((n, true));
                }
                // `input` ran out inside the delimiter.
                let mut keep = rest.to_vec();
                keep.extend_from_slice(input);
                self.held = keep;
                return Ok((input.len(), false));
            }
            self.pass(sink, &held, out)?;
        }
        if let Some(p) = self.finder.find(input) {
            self.pass(sink, &input[..p], out)?;
            return Ok((p + d_len, true));
        }
        // Hold back the longest end of `input` that begins the delimiter.
        let tail = input.len().min(d_len - 1);
        let from = input.len() - tail;
        let mut keep = 0;
        for (j, &b) in input[from..].iter().enumerate() {
            if b == b'\r' && self.delimiter.starts_with(&input[from + j..]) {
                keep = tail - j;
                break;
            }
        }
        let cut = input.len() - keep;
        self.pass(sink, &input[..cut], out)?;
        self.held = input[cut..].to_vec();
        Ok((input.len(), false))
    }

    fn pass(
        &mut self,
        sink: Sink,
        data: &[u8],
        out: &mut impl FnMut(FormEvent<'_>),
    ) -> Result<(), FormError> {
        if data.is_empty() {
            return Ok(());
        }
        match sink {
            Sink::Discard => self.count(data.len()),
            Sink::File => {
                out(FormEvent::FileData(data));
                Ok(())
            }
            Sink::Field => {
                let max = if self.fanout {
                    MAX_FANOUT_LIST_LEN
                } else {
                    MAX_FIELD_LEN
                };
                if self.value.len() + data.len() > max {
                    return Err(FormError::TooLarge);
                }
                if !self.fanout {
                    self.count(data.len())?;
                }
                self.value.extend_from_slice(data);
                Ok(())
            }
        }
    }
}

/// The text after the last `/` or `\`: AWS keeps only the file's own name.
fn last_segment(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// `form-data; name="x"; filename="y"` → (`x`, `Some(y)`).
fn parse_disposition(value: &str) -> Result<(String, Option<String>), FormError> {
    let mut rest = value;
    let kind_end = rest.find(';').unwrap_or(rest.len());
    if !rest[..kind_end].trim().eq_ignore_ascii_case("form-data") {
        return Err(FormError::Malformed("a part is not form-data"));
    }
    rest = &rest[kind_end..];
    let mut name = None;
    let mut filename = None;
    while let Some(r) = rest.strip_prefix(';') {
        let r = r.trim_start_matches([' ', '\t']);
        if r.is_empty() {
            break;
        }
        let eq = r.find('=').ok_or(FormError::Malformed(
            "a Content-Disposition parameter has no value",
        ))?;
        let key = r[..eq].trim();
        let (val, after) = param_value(&r[eq + 1..])?;
        if key.eq_ignore_ascii_case("name") {
            name = Some(val);
        } else if key.eq_ignore_ascii_case("filename") {
            filename = Some(val);
        }
        rest = after.trim_start_matches([' ', '\t']);
    }
    if !rest.is_empty() {
        return Err(FormError::Malformed("bad Content-Disposition parameters"));
    }
    let name = name.ok_or(FormError::Malformed("a part has no form-data name"))?;
    Ok((name, filename))
}

/// A quoted string (`\"` and `\\` unescaped, any other `\` kept, since
/// browsers percent-encode quotes and leave backslashes alone) or a token.
fn param_value(s: &str) -> Result<(String, &str), FormError> {
    let s = s.trim_start_matches([' ', '\t']);
    let Some(body) = s.strip_prefix('"') else {
        let end = s.find(';').unwrap_or(s.len());
        return Ok((s[..end].trim_end().to_owned(), &s[end..]));
    };
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &body[i + 1..])),
            '\\' => match chars.clone().next() {
                Some((_, n @ ('"' | '\\'))) => {
                    out.push(n);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    Err(FormError::Malformed("an unterminated quoted string"))
}

/// The boundary of a `multipart/form-data` Content-Type, `None` for any
/// other type.
pub fn boundary_from_content_type(value: &str) -> Option<String> {
    let mut params = value.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            return Some(v.to_owned());
        }
    }
    None
}

/// Whether a Content-Type names a multipart form (boundary or not).
pub fn is_form_content_type(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Ev {
        Field(String, Vec<u8>),
        FileStart(Option<String>, Option<String>),
        Data(Vec<u8>),
        FileEnd,
    }

    /// Decodes `body` fed in `pieces`; consecutive file data merged.
    fn decode(boundary: &str, pieces: &[&[u8]]) -> (Vec<Ev>, Result<(), FormError>) {
        let mut d = FormDecoder::new(boundary).expect("boundary");
        let mut evs: Vec<Ev> = Vec::new();
        for p in pieces {
            let r = d.feed(p, &mut |e| {
                let ev = match e {
                    FormEvent::Field { name, value } => Ev::Field(name.to_owned(), value.to_vec()),
                    FormEvent::FileStart {
                        filename,
                        content_type,
                    } => {
                        Ev::FileStart(filename.map(str::to_owned), content_type.map(str::to_owned))
                    }
                    FormEvent::FileData(s) => {
                        assert!(!s.is_empty(), "empty file data");
                        if let Some(Ev::Data(prev)) = evs.last_mut() {
                            prev.extend_from_slice(s);
                            return;
                        }
                        Ev::Data(s.to_vec())
                    }
                    FormEvent::FileEnd => Ev::FileEnd,
                };
                evs.push(ev);
            });
            if r.is_err() {
                return (evs, r);
            }
        }
        let r = d.finish();
        (evs, r)
    }

    fn whole(boundary: &str, body: &[u8]) -> (Vec<Ev>, Result<(), FormError>) {
        decode(boundary, &[body])
    }

    const B: &str = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

    /// File content full of near-delimiters.
    fn tricky_content() -> Vec<u8> {
        let mut c = b"start\r\n\r\n--\r\n-".to_vec();
        c.extend_from_slice(format!("\r\n--{}", &B[..B.len() - 1]).as_bytes());
        c.extend_from_slice(b"X\r\r\n\r\n--");
        c.extend_from_slice(&B.as_bytes()[..10]);
        c.extend_from_slice(b"end\r\n");
        c
    }

    fn sample_form(content: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(format!("--{B}\r\n").as_bytes());
        f.extend_from_slice(b"Content-Disposition: form-data; name=\"key\"\r\n\r\n");
        f.extend_from_slice(b"uploads/${filename}");
        f.extend_from_slice(format!("\r\n--{B}\r\n").as_bytes());
        f.extend_from_slice(b"content-disposition: form-data; name=\"X-Amz-Meta-Note\"\r\n\r\n");
        f.extend_from_slice(b"line one\r\nline two");
        f.extend_from_slice(format!("\r\n--{B}\r\n").as_bytes());
        f.extend_from_slice(b"Content-Disposition: form-data; name=\"empty\"\r\n\r\n");
        f.extend_from_slice(format!("\r\n--{B}\r\n").as_bytes());
        f.extend_from_slice(
            b"Content-Disposition: form-data; name=\"file\"; filename=\"C:\\\\dir\\\\a \\\"q\\\".txt\"\r\n",
        );
        f.extend_from_slice(b"Content-Type: text/plain\r\n\r\n");
        f.extend_from_slice(content);
        f.extend_from_slice(format!("\r\n--{B}\r\n").as_bytes());
        f.extend_from_slice(b"Content-Disposition: form-data; name=\"after\"\r\n\r\nignored");
        f.extend_from_slice(format!("\r\n--{B}--\r\n").as_bytes());
        f
    }

    fn sample_events(content: &[u8]) -> Vec<Ev> {
        vec![
            Ev::Field("key".into(), b"uploads/${filename}".to_vec()),
            Ev::Field("X-Amz-Meta-Note".into(), b"line one\r\nline two".to_vec()),
            Ev::Field("empty".into(), Vec::new()),
            Ev::FileStart(Some("a \"q\".txt".into()), Some("text/plain".into())),
            Ev::Data(content.to_vec()),
            Ev::FileEnd,
            Ev::Field("after".into(), b"ignored".to_vec()),
        ]
    }

    #[test]
    fn a_form_decodes_the_same_at_every_split_point() {
        let content = tricky_content();
        let body = sample_form(&content);
        let want = sample_events(&content);
        assert_eq!(whole(B, &body), (want.clone(), Ok(())));
        for i in 0..=body.len() {
            let (a, b) = body.split_at(i);
            assert_eq!(decode(B, &[a, b]), (want.clone(), Ok(())), "split at {i}");
        }
        // Three pieces, with an empty one, around every point near the file.
        for i in 0..body.len() {
            let j = (i + 7).min(body.len());
            let p = [&body[..i], &b""[..], &body[i..j], &body[j..]];
            assert_eq!(decode(B, &p), (want.clone(), Ok(())), "split at {i},{j}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode(B, &bytes), (want, Ok(())), "byte by byte");
    }

    #[test]
    fn file_data_is_streamed_not_buffered() {
        // A file far beyond every form limit passes, in pieces no bigger than fed.
        let content = vec![b'-'; 5 * MAX_FORM_BYTES];
        let body = sample_form(&content);
        let mut d = FormDecoder::new(B).expect("boundary");
        let mut got = 0usize;
        for piece in body.chunks(4096) {
            d.feed(piece, &mut |e| {
                if let FormEvent::FileData(s) = e {
                    assert!(s.len() <= 4096 + B.len() + 4);
                    got += s.len();
                }
            })
            .expect("feed");
        }
        d.finish().expect("closed");
        assert_eq!(got, content.len());
        assert!(d.form_bytes() < 1024, "{}", d.form_bytes());
    }

    #[test]
    fn preamble_padding_and_epilogue_are_ignored() {
        let body = format!(
            "preamble text\r\n--{B}  \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--{B}\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nxyz\r\n--{B}--epilogue\r\nmore"
        );
        let (evs, r) = whole(B, body.as_bytes());
        assert_eq!(r, Ok(()));
        assert_eq!(
            evs,
            vec![
                Ev::Field("a".into(), b"1".to_vec()),
                Ev::FileStart(None, None),
                Ev::Data(b"xyz".to_vec()),
                Ev::FileEnd,
            ]
        );
        // An empty file gives no data event.
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"FILE\"; filename=\"\"\r\n\r\n\r\n--{B}--"
        );
        assert_eq!(
            whole(B, body.as_bytes()),
            (
                vec![Ev::FileStart(Some(String::new()), None), Ev::FileEnd],
                Ok(())
            )
        );
    }

    fn malformed(body: &str) -> FormError {
        let (_, r) = whole(B, body.as_bytes());
        r.expect_err(body)
    }

    #[test]
    fn malformed_forms_are_refused() {
        let part = |h: &str| format!("--{B}\r\n{h}\r\n\r\nv\r\n--{B}--");
        for body in [
            String::new(),
            format!("--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\nv"),
            format!("--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--{B}"),
            format!("--{B}\r\nContent-Disposition: form-data; name=a\r\n"),
            format!("--{B}x\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--{B}--"),
            format!("--{B}-x\r\n"),
            part("Content-Type: text/plain"),
            part("Content-Disposition: attachment; name=a"),
            part("Content-Disposition: form-data; filename=a"),
            part("Content-Disposition: form-data; name=\"a"),
            part("Content-Disposition: form-data; name"),
            part("Content-Disposition form-data; name=a"),
            part(
                "Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b",
            ),
            part(" Folded: x"),
            format!("--{B}\r\nContent-Disposition: form-data; name=a\n\r\nv\r\n--{B}--"),
        ] {
            assert!(
                matches!(malformed(&body), FormError::Malformed(_)),
                "{body:?}"
            );
        }
        let mut latin1 = format!("--{B}\r\nContent-Disposition: form-data; name=").into_bytes();
        latin1.extend_from_slice(b"\xff\r\n\r\nv\r\n--");
        latin1.extend_from_slice(B.as_bytes());
        latin1.extend_from_slice(b"--");
        assert!(matches!(whole(B, &latin1).1, Err(FormError::Malformed(_))));
        for b in ["", &"x".repeat(MAX_BOUNDARY_LEN + 1), "a\r\nb"] {
            assert!(FormDecoder::new(b).is_err(), "{b:?}");
        }
        assert!(FormDecoder::new(&"x".repeat(MAX_BOUNDARY_LEN)).is_ok());
    }

    #[test]
    fn errors_are_sticky() {
        let mut d = FormDecoder::new(B).expect("boundary");
        let bad = format!("--{B}\r\nNo colon\r\n\r\n");
        assert!(d.feed(bad.as_bytes(), &mut |_| {}).is_err());
        let good = format!("\r\n--{B}--");
        assert!(d.feed(good.as_bytes(), &mut |_| {}).is_err());
        assert!(d.finish().is_err());
    }

    #[test]
    fn form_limits_hold() {
        // Too many parts.
        let mut body = String::new();
        for i in 0..=MAX_PARTS {
            body.push_str(&format!(
                "--{B}\r\nContent-Disposition: form-data; name=f{i}\r\n\r\n\r\n"
            ));
        }
        assert_eq!(whole(B, body.as_bytes()).1, Err(FormError::TooManyParts));
        // One field too long.
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\n{}\r\n--{B}--",
            "v".repeat(MAX_FIELD_LEN + 1)
        );
        assert_eq!(whole(B, body.as_bytes()).1, Err(FormError::TooLarge));
        // One part's headers too long.
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=a\r\nX-Pad: {}\r\n\r\nv\r\n--{B}--",
            "p".repeat(MAX_PART_HEADER_LEN)
        );
        assert_eq!(whole(B, body.as_bytes()).1, Err(FormError::TooLarge));
        // Fields each within limits, together over the form's.
        let mut body = String::new();
        for i in 0..3 {
            body.push_str(&format!(
                "--{B}\r\nContent-Disposition: form-data; name=f{i}\r\n\r\n{}\r\n",
                "v".repeat(MAX_FORM_BYTES / 3)
            ));
        }
        assert_eq!(whole(B, body.as_bytes()).1, Err(FormError::TooLarge));
        // A preamble or epilogue without end.
        let body = "x".repeat(MAX_FORM_BYTES + 1);
        assert_eq!(whole(B, body.as_bytes()).1, Err(FormError::TooLarge));
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=file\r\n\r\n\r\n--{B}--{}",
            "e".repeat(MAX_FORM_BYTES)
        );
        assert_eq!(whole(B, body.as_bytes()).1, Err(FormError::TooLarge));
        // Padding after a delimiter is bounded.
        let body = format!("--{B}{}", " ".repeat(MAX_PADDING + 1));
        assert!(matches!(
            whole(B, body.as_bytes()).1,
            Err(FormError::Malformed(_))
        ));
    }

    #[test]
    fn the_fanout_list_has_its_own_limit_outside_the_forms() {
        let list = "v".repeat(MAX_FORM_BYTES * 2);
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=key\r\n\r\nk\r\n\
             --{B}\r\nContent-Disposition: form-data; name=X-Minio-Fanout-List\r\n\r\n{list}\r\n\
             --{B}\r\nContent-Disposition: form-data; name=file\r\n\r\nF\r\n--{B}--"
        );
        let (evs, r) = whole(B, body.as_bytes());
        assert_eq!(r, Ok(()));
        assert!(evs.contains(&Ev::Field("X-Minio-Fanout-List".into(), list.into_bytes())));
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=x-minio-fanout-list\r\n\r\n{}\r\n--{B}--",
            "v".repeat(MAX_FANOUT_LIST_LEN + 1)
        );
        assert_eq!(whole(B, body.as_bytes()).1, Err(FormError::TooLarge));
        // Any other field keeps the ordinary limit.
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=x-minio-fanout\r\n\r\n{}\r\n--{B}--",
            "v".repeat(MAX_FIELD_LEN + 1)
        );
        assert_eq!(whole(B, body.as_bytes()).1, Err(FormError::TooLarge));
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary_from_content_type("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary_from_content_type("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b\"")
                .as_deref(),
            Some("a b")
        );
        assert_eq!(boundary_from_content_type("multipart/form-data"), None);
        assert_eq!(
            boundary_from_content_type("multipart/mixed; boundary=a"),
            None
        );
        assert_eq!(boundary_from_content_type("text/plain"), None);
        assert!(is_form_content_type("multipart/form-data"));
        assert!(is_form_content_type(" MULTIPART/FORM-DATA ; boundary=x"));
        assert!(!is_form_content_type("application/x-www-form-urlencoded"));
    }

    #[test]
    fn file_names_keep_their_last_segment() {
        assert_eq!(last_segment("C:\\Program Files\\a.txt"), "a.txt");
        assert_eq!(last_segment("dir/sub/b.png"), "b.png");
        assert_eq!(last_segment("plain"), "plain");
        assert_eq!(last_segment("trailing/"), "");
        assert_eq!(
            parse_disposition("form-data; name=\"f\\\"x\"; filename=\"a\\b\"").expect("ok"),
            ("f\"x".to_owned(), Some("a\\b".to_owned()))
        );
        assert_eq!(
            parse_disposition("FORM-DATA;name=k ;filename*=UTF-8''x").expect("ok"),
            ("k".to_owned(), None)
        );
    }
}
