//! `FormDecoder` (PostObject's multipart/form-data parser): the result must
//! not depend on how the body is split across `feed` calls, what it holds
//! outside the file stays within its limits, and forms written by an
//! independent encoder decode to exactly their fields and file.
#![no_main]

use arbitrary::Arbitrary;
use cairn::s3::post::form::{
    FormDecoder, FormError, FormEvent, MAX_FIELD_LEN, MAX_FORM_BYTES, MAX_PARTS,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    boundary: String,
    body: Body,
    /// Fragment lengths for `feed`, cycled.
    splits: Vec<u16>,
}

#[derive(Arbitrary, Debug)]
enum Body {
    Raw(Vec<u8>),
    Valid {
        preamble: bool,
        fields: Vec<(String, Vec<u8>)>,
        file: Option<(Option<String>, Vec<u8>)>,
        after: Vec<(String, Vec<u8>)>,
        /// (position, xor) byte flips applied after encoding.
        flips: Vec<(u16, u8)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Field(String, Vec<u8>),
    FileStart(Option<String>),
    Data(Vec<u8>),
    FileEnd,
}

fn decode(boundary: &str, body: &[u8], splits: &[usize]) -> (Vec<Ev>, Result<(), FormError>) {
    let Ok(mut d) = FormDecoder::new(boundary) else {
        return (Vec::new(), Err(FormError::Malformed("boundary")));
    };
    let mut evs: Vec<Ev> = Vec::new();
    let mut file_bytes = 0usize;
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = if splits.is_empty() {
            rest.len()
        } else {
            splits[i % splits.len()].min(rest.len())
        };
        i += 1;
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        let r = d.feed(piece, &mut |e| match e {
            FormEvent::Field { name, value } => {
                assert!(value.len() <= MAX_FIELD_LEN);
                evs.push(Ev::Field(name.to_owned(), value.to_vec()))
            }
            FormEvent::FileStart { filename, .. } => {
                if let Some(f) = filename {
                    assert!(!f.contains(['/', '\\']), "{f:?}");
                }
                evs.push(Ev::FileStart(filename.map(str::to_owned)))
            }
            FormEvent::FileData(s) => {
                assert!(!s.is_empty());
                file_bytes += s.len();
                if let Some(Ev::Data(prev)) = evs.last_mut() {
                    prev.extend_from_slice(s);
                } else {
                    evs.push(Ev::Data(s.to_vec()));
                }
            }
            FormEvent::FileEnd => evs.push(Ev::FileEnd),
        });
        assert!(d.form_bytes() <= MAX_FORM_BYTES);
        assert!(file_bytes <= body.len());
        if r.is_err() {
            // Sticky.
            assert_eq!(d.feed(b"\r\n", &mut |_| {}), r);
            return (evs, r);
        }
    }
    let parts = evs
        .iter()
        .filter(|e| matches!(e, Ev::Field(..) | Ev::FileStart(_)))
        .count();
    assert!(parts <= MAX_PARTS);
    (evs, d.finish())
}

/// A name that survives a quoted Content-Disposition parameter as written.
fn clean(name: &str) -> String {
    let n: String = name
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(40)
        .collect();
    if n.eq_ignore_ascii_case("file") || n.is_empty() {
        format!("f{n}")
    } else {
        n
    }
}

fuzz_target!(|input: Input| {
    let boundary: String = input
        .boundary
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "'()+_,-./:=?".contains(*c))
        .take(70)
        .collect();
    let boundary = if boundary.is_empty() {
        "b".to_owned()
    } else {
        boundary
    };
    let splits: Vec<usize> = input
        .splits
        .iter()
        .map(|&s| usize::from(s % 512) + 1)
        .collect();
    let delimiter = format!("\r\n--{boundary}");
    let (body, want) = match input.body {
        Body::Raw(b) => (b, None),
        Body::Valid {
            preamble,
            fields,
            file,
            after,
            flips,
        } => {
            let mut out = Vec::new();
            let mut want = Vec::new();
            if preamble {
                out.extend_from_slice(b"preamble\r\n");
            }
            let delim_in = |v: &[u8]| {
                let d = delimiter.as_bytes();
                v.windows(d.len()).any(|w| w == d) || v.ends_with(&d[..2]) || v.starts_with(&d[2..])
            };
            let part = |out: &mut Vec<u8>,
                        want: &mut Vec<Ev>,
                        name: &str,
                        value: &[u8],
                        file: Option<&Option<String>>| {
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                match file {
                    Some(Some(f)) => {
                        let f = clean(f);
                        out.extend_from_slice(format!("Content-Disposition: form-data; name=\"file\"; filename=\"{f}\"\r\n\r\n").as_bytes());
                        let last = f.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
                        want.push(Ev::FileStart(Some(last)));
                    }
                    Some(None) => {
                        out.extend_from_slice(
                            b"Content-Disposition: form-data; name=\"file\"\r\n\r\n",
                        );
                        want.push(Ev::FileStart(None));
                    }
                    None => {
                        out.extend_from_slice(
                            format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                                .as_bytes(),
                        );
                    }
                }
                out.extend_from_slice(value);
                out.extend_from_slice(b"\r\n");
                match file {
                    Some(_) => {
                        if !value.is_empty() {
                            want.push(Ev::Data(value.to_vec()));
                        }
                        want.push(Ev::FileEnd);
                    }
                    None => want.push(Ev::Field(name.to_owned(), value.to_vec())),
                }
            };
            let mut valid = true;
            for (n, v) in &fields {
                valid &= !delim_in(v);
                part(&mut out, &mut want, &clean(n), v, None);
            }
            if let Some((name, content)) = &file {
                valid &= !delim_in(content);
                part(&mut out, &mut want, "file", content, Some(name));
            }
            for (n, v) in &after {
                valid &= !delim_in(v);
                part(&mut out, &mut want, &clean(n), v, None);
            }
            out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            let flipped = flips
                .iter()
                .any(|&(p, x)| x != 0 && usize::from(p) < out.len());
            for (p, x) in flips {
                if let Some(b) = out.get_mut(usize::from(p)) {
                    *b ^= x;
                }
            }
            (out, (valid && !flipped).then_some(want))
        }
    };
    let one = decode(&boundary, &body, &[]);
    assert_eq!(decode(&boundary, &body, &splits), one, "split {splits:?}");
    assert_eq!(decode(&boundary, &body, &[1]), one, "byte by byte");
    if let Some(want) = want {
        // Within the limits, an encoded form decodes to exactly what was encoded.
        let within = match &one.1 {
            Err(FormError::TooLarge | FormError::TooManyParts) => false,
            _ => true,
        };
        if within {
            assert_eq!(one, (want, Ok(())));
        }
    }
});
