//! The S3 request-body XML parsers (CreateBucket, DeleteObjects): bounded,
//! well-formed output on any bytes, and exact round trips of bodies written
//! with the module's own escaper and `location` writer.
#![no_main]

use arbitrary::Arbitrary;
use cairn::s3::error::{push_escaped, S3Code};
use cairn::s3::xml::{
    location, parse_create_bucket, parse_delete_objects, DeleteRequest, MAX_DELETE_OBJECTS,
    S3_XMLNS,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(Vec<u8>),
    Delete {
        quiet: Option<bool>,
        objects: Vec<(String, Option<String>)>,
        /// At 0xF000 and above, `objects` is cycled to 990-1009 entries so
        /// the 1,000-key limit is reachable from a small input (rarely: such
        /// bodies are slow to parse).
        repeat: u16,
        style: Style,
    },
    Create {
        region: String,
        style: Style,
    },
}

/// Variations every S3 client may send and the parsers must accept.
#[derive(Arbitrary, Debug)]
struct Style {
    bom: bool,
    decl: bool,
    /// Element names as `s3:Name` with a prefixed namespace declaration.
    prefixed: bool,
    /// Whitespace between elements.
    ws: u8,
    /// An `<ETag>` child in each `<Object>` (ignored by the parser).
    etag: bool,
}

impl Style {
    fn start(&self, out: &mut Vec<u8>) {
        if self.bom {
            out.extend_from_slice(b"\xEF\xBB\xBF");
        }
        if self.decl {
            out.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        }
    }

    fn ws(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            ["", " ", "\n  ", "\r\n\t", "\r"][usize::from(self.ws % 5)].as_bytes(),
        );
    }

    fn name(&self, n: &str) -> String {
        if self.prefixed {
            format!("s3:{n}")
        } else {
            n.to_owned()
        }
    }

    fn open(&self, out: &mut Vec<u8>, n: &str) {
        out.extend_from_slice(format!("<{}>", self.name(n)).as_bytes());
    }

    fn close(&self, out: &mut Vec<u8>, n: &str) {
        out.extend_from_slice(format!("</{}>", self.name(n)).as_bytes());
    }

    fn text(&self, out: &mut Vec<u8>, n: &str, v: &str) {
        self.open(out, n);
        push_escaped(out, v);
        self.close(out, n);
    }
}

fuzz_target!(|input: Input| match input {
    Input::Raw(body) => {
        check_delete_shape(&body, parse_delete_objects(&body).map_err(|e| e.code));
        match parse_create_bucket(&body).map_err(|e| e.code) {
            Ok(Some(r)) => assert!(!r.is_empty() && r.trim() == r, "{r:?}"),
            Ok(None) => {}
            Err(c) => assert_eq!(c, S3Code::MalformedXML),
        }
    }
    Input::Delete {
        quiet,
        objects,
        repeat,
        style,
    } => {
        let n = if repeat < 0xF000 || objects.is_empty() {
            objects.len()
        } else {
            MAX_DELETE_OBJECTS - 10 + usize::from(repeat) % 20
        };
        let objects: Vec<_> = objects.into_iter().cycle().take(n).collect();
        let mut body = Vec::new();
        style.start(&mut body);
        let root = style.name("Delete");
        if style.prefixed {
            body.extend_from_slice(format!("<{root} xmlns:s3=\"{S3_XMLNS}\">").as_bytes());
        } else {
            body.extend_from_slice(format!("<{root} xmlns=\"{S3_XMLNS}\">").as_bytes());
        }
        if let Some(q) = quiet {
            style.ws(&mut body);
            style.text(&mut body, "Quiet", if q { "true" } else { "false" });
        }
        for (key, version) in &objects {
            style.ws(&mut body);
            style.open(&mut body, "Object");
            style.text(&mut body, "Key", key);
            if let Some(v) = version {
                style.ws(&mut body);
                style.text(&mut body, "VersionId", v);
            }
            if style.etag {
                style.text(&mut body, "ETag", "\"abc\"");
            }
            style.close(&mut body, "Object");
        }
        style.ws(&mut body);
        body.extend_from_slice(format!("</{root}>").as_bytes());

        let got = parse_delete_objects(&body).map_err(|e| e.code);
        check_delete_shape(&body, got.clone());
        // NUL is the one character XML cannot carry, even as a reference.
        let has_nul = objects
            .iter()
            .any(|(k, v)| k.contains('\0') || v.as_deref().is_some_and(|v| v.contains('\0')));
        let valid = !objects.is_empty()
            && objects.len() <= MAX_DELETE_OBJECTS
            && !has_nul
            && objects.iter().all(|(k, _)| !k.is_empty());
        let want = if valid {
            Ok(DeleteRequest {
                quiet: quiet.unwrap_or(false),
                objects: objects
                    .into_iter()
                    .map(|(k, v)| (k, v.filter(|v| !v.is_empty())))
                    .collect(),
            })
        } else {
            Err(S3Code::MalformedXML)
        };
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&body));
    }
    Input::Create { region, style } => {
        // GetBucketLocation's body, re-rooted as a CreateBucket body.
        let loc = location(&region);
        let start = loc.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        let mut body = Vec::new();
        style.start(&mut body);
        body.extend_from_slice(
            format!("<CreateBucketConfiguration xmlns=\"{S3_XMLNS}\">").as_bytes(),
        );
        style.ws(&mut body);
        body.extend_from_slice(&loc[start..]);
        style.ws(&mut body);
        body.extend_from_slice(b"</CreateBucketConfiguration>");

        let got = parse_create_bucket(&body).map_err(|e| e.code);
        let want = if region.contains('\0') {
            Err(S3Code::MalformedXML)
        } else if region == "us-east-1" {
            Ok(None)
        } else {
            Ok(Some(region.trim().to_owned()).filter(|r| !r.is_empty()))
        };
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&body));
    }
});

/// What any DeleteObjects answer must look like, whatever the body.
fn check_delete_shape(body: &[u8], r: Result<DeleteRequest, S3Code>) {
    match r {
        Ok(req) => {
            assert!(
                (1..=MAX_DELETE_OBJECTS).contains(&req.objects.len()),
                "{} objects",
                req.objects.len()
            );
            for (k, v) in &req.objects {
                assert!(!k.is_empty(), "{}", String::from_utf8_lossy(body));
                assert!(v.as_ref().is_none_or(|v| !v.is_empty()));
            }
        }
        Err(c) => assert_eq!(c, S3Code::MalformedXML),
    }
}
