//! The `CORSConfiguration` document of Put/GetBucketCors: up to
//! [`MAX_RULES`] `CORSRule`s, each with an optional `ID`, one or more
//! `AllowedOrigin` and `AllowedMethod`, any number of `AllowedHeader` and
//! `ExposeHeader`, and an optional `MaxAgeSeconds`.

use crate::engine::buckets::{BucketCors, CorsRule};

use super::error::{S3Code, S3Error};
use super::xml::{malformed, require_blank, response, set_once, walk_elements};

const ROOT: &str = "CORSConfiguration";

/// AWS's limit on rules in one configuration.
pub const MAX_RULES: usize = 100;

/// The methods a rule may allow (AWS's list).
pub const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// Longest rule ID S3 takes.
const MAX_ID_LEN: usize = 255;

/// PutBucketCors's body, with S3's answers to a bad one: anything outside
/// the schema, no rule, more than [`MAX_RULES`], a rule without an origin
/// or a method, or a bad `MaxAgeSeconds` is MalformedXML; a method S3 does
/// not allow or a second `*` in an origin or header is InvalidRequest, as
/// is a `*` in an exposed header.
pub fn parse_cors(body: &[u8]) -> Result<BucketCors, S3Error> {
    let mut rules: Vec<CorsRule> = Vec::new();
    let mut cur = CorsRule::default();
    let mut max_age: Option<String> = None;
    walk_elements(body, ROOT.as_bytes(), |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        match p.as_slice() {
            [_] => require_blank(&text),
            [_, b"CORSRule"] => {
                require_blank(&text)?;
                if rules.len() == MAX_RULES {
                    return Err(malformed());
                }
                cur.max_age_seconds = match max_age.take() {
                    None => None,
                    Some(s) => Some(s.trim().parse::<u32>().map_err(|_| malformed())?),
                };
                rules.push(std::mem::take(&mut cur));
                Ok(())
            }
            [_, b"CORSRule", b"ID"] => set_once(&mut cur.id, text),
            [_, b"CORSRule", b"AllowedOrigin"] => {
                cur.allowed_origins.push(text.trim().to_owned());
                Ok(())
            }
            [_, b"CORSRule", b"AllowedMethod"] => {
                cur.allowed_methods.push(text.trim().to_owned());
                Ok(())
            }
            [_, b"CORSRule", b"AllowedHeader"] => {
                cur.allowed_headers.push(text.trim().to_owned());
                Ok(())
            }
            [_, b"CORSRule", b"ExposeHeader"] => {
                cur.expose_headers.push(text.trim().to_owned());
                Ok(())
            }
            [_, b"CORSRule", b"MaxAgeSeconds"] => set_once(&mut max_age, text),
            _ => Err(malformed()),
        }
    })?;
    if rules.is_empty() {
        return Err(malformed());
    }
    for r in &rules {
        check_rule(r)?;
    }
    Ok(BucketCors { rules })
}

fn check_rule(r: &CorsRule) -> Result<(), S3Error> {
    if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
        return Err(malformed());
    }
    if r.id.as_ref().is_some_and(|id| id.len() > MAX_ID_LEN) {
        return Err(malformed());
    }
    if let Some(m) = r
        .allowed_methods
        .iter()
        .find(|m| !METHODS.contains(&m.as_str()))
    {
        return Err(S3Error::new(
            S3Code::InvalidRequest,
            format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}"),
        ));
    }
    let wildcards = |s: &String| s.bytes().filter(|&b| b == b'*').count();
    if let Some(o) = r.allowed_origins.iter().find(|o| wildcards(o) > 1) {
        return Err(S3Error::new(
            S3Code::InvalidRequest,
            format!("AllowedOrigin \"{o}\" can not have more than one wildcard."),
        ));
    }
    if let Some(h) = r.allowed_headers.iter().find(|h| wildcards(h) > 1) {
        return Err(S3Error::new(
            S3Code::InvalidRequest,
            format!("AllowedHeader \"{h}\" can not have more than one wildcard."),
        ));
    }
    if let Some(h) = r.expose_headers.iter().find(|h| wildcards(h) > 0) {
        return Err(S3Error::new(
            S3Code::InvalidRequest,
            format!(
                "ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
            ),
        ));
    }
    Ok(())
}

/// GetBucketCors's answer: the rules as stored, elements in AWS's order.
pub fn cors_document(c: &BucketCors) -> Vec<u8> {
    response(ROOT, 64 + 256 * c.rules.len(), |w| {
        for r in &c.rules {
            w.element("CORSRule", |w| {
                w.text_opt("ID", r.id.as_deref());
                for h in &r.allowed_headers {
                    w.text("AllowedHeader", h);
                }
                for m in &r.allowed_methods {
                    w.text("AllowedMethod", m);
                }
                for o in &r.allowed_origins {
                    w.text("AllowedOrigin", o);
                }
                for h in &r.expose_headers {
                    w.text("ExposeHeader", h);
                }
                if let Some(s) = r.max_age_seconds {
                    w.num("MaxAgeSeconds", u64::from(s));
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(rules: &str) -> String {
        format!(
            "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{rules}</CORSConfiguration>"
        )
    }

    fn err(body: &str) -> S3Error {
        parse_cors(body.as_bytes()).unwrap_err()
    }

    /// The example of AWS's PutBucketCors page.
    const AWS_EXAMPLE: &str = "<CORSConfiguration>\
         <CORSRule>\
           <AllowedOrigin>http://www.example.com</AllowedOrigin>\
           <AllowedMethod>PUT</AllowedMethod>\
           <AllowedMethod>POST</AllowedMethod>\
           <AllowedMethod>DELETE</AllowedMethod>\
           <AllowedHeader>*</AllowedHeader>\
           <MaxAgeSeconds>3000</MaxAgeSeconds>\
           <ExposeHeader>x-amz-server-side-encryption</ExposeHeader>\
         </CORSRule>\
         <CORSRule>\
           <AllowedOrigin>*</AllowedOrigin>\
           <AllowedMethod>GET</AllowedMethod>\
           <AllowedHeader>*</AllowedHeader>\
           <MaxAgeSeconds>3000</MaxAgeSeconds>\
         </CORSRule>\
       </CORSConfiguration>";

    #[test]
    fn aws_example_parses_to_its_rules_in_order() {
        let c = parse_cors(AWS_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(
            c.rules,
            vec![
                CorsRule {
                    id: None,
                    allowed_origins: vec!["http://www.example.com".into()],
                    allowed_methods: vec!["PUT".into(), "POST".into(), "DELETE".into()],
                    allowed_headers: vec!["*".into()],
                    expose_headers: vec!["x-amz-server-side-encryption".into()],
                    max_age_seconds: Some(3000),
                },
                CorsRule {
                    id: None,
                    allowed_origins: vec!["*".into()],
                    allowed_methods: vec!["GET".into()],
                    allowed_headers: vec!["*".into()],
                    expose_headers: vec![],
                    max_age_seconds: Some(3000),
                },
            ]
        );
    }

    #[test]
    fn a_document_reads_back_as_the_rules_it_was_written_from() {
        let mut c = parse_cors(AWS_EXAMPLE.as_bytes()).unwrap();
        c.rules[1].id = Some("read <all>".into());
        let again = parse_cors(&cors_document(&c)).unwrap();
        assert_eq!(again, c);
        let text = String::from_utf8(cors_document(&c)).unwrap();
        assert!(
            text.contains("<CORSRule><ID>read &lt;all&gt;</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>"),
            "{text}"
        );
    }

    #[test]
    fn bad_configurations_get_s3s_codes_and_messages() {
        let rule = |inner: &str| doc(&format!("<CORSRule>{inner}</CORSRule>"));
        let ok = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>";
        for (body, code, message) in [
            (doc(""), S3Code::MalformedXML, None),
            ("<CORSConfiguration".to_owned(), S3Code::MalformedXML, None),
            (
                rule("<AllowedMethod>GET</AllowedMethod>"),
                S3Code::MalformedXML,
                None,
            ),
            (
                rule("<AllowedOrigin>*</AllowedOrigin>"),
                S3Code::MalformedXML,
                None,
            ),
            (
                rule(&format!("{ok}<Unknown>1</Unknown>")),
                S3Code::MalformedXML,
                None,
            ),
            (
                rule(&format!("{ok}<MaxAgeSeconds>-1</MaxAgeSeconds>")),
                S3Code::MalformedXML,
                None,
            ),
            (
                rule(&format!("{ok}<ID>a</ID><ID>b</ID>")),
                S3Code::MalformedXML,
                None,
            ),
            (
                rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>"),
                S3Code::InvalidRequest,
                Some("Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
            ),
            (
                rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>"),
                S3Code::InvalidRequest,
                Some("Found unsupported HTTP method in CORS config. Unsupported method is get"),
            ),
            (
                rule("<AllowedOrigin>http://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"),
                S3Code::InvalidRequest,
                Some("AllowedOrigin \"http://*.*.com\" can not have more than one wildcard."),
            ),
            (
                rule(&format!("{ok}<AllowedHeader>x-*-*</AllowedHeader>")),
                S3Code::InvalidRequest,
                Some("AllowedHeader \"x-*-*\" can not have more than one wildcard."),
            ),
            (
                rule(&format!("{ok}<ExposeHeader>*</ExposeHeader>")),
                S3Code::InvalidRequest,
                Some("ExposeHeader \"*\" contains wildcard. We currently do not support wildcard for ExposeHeader."),
            ),
        ] {
            let e = err(&body);
            assert_eq!(e.code, code, "{body}");
            if let Some(m) = message {
                assert_eq!(e.message, m, "{body}");
            }
        }
    }

    #[test]
    fn at_most_a_hundred_rules() {
        let one = "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>";
        let hundred = doc(&one.repeat(MAX_RULES));
        assert_eq!(parse_cors(hundred.as_bytes()).unwrap().rules.len(), 100);
        assert_eq!(
            err(&doc(&one.repeat(MAX_RULES + 1))).code,
            S3Code::MalformedXML
        );
    }
}
