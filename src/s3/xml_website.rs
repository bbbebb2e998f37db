//! The `WebsiteConfiguration` document of Put/GetBucketWebsite: either
//! `RedirectAllRequestsTo` (`HostName`, `Protocol`) alone, or an
//! `IndexDocument` (`Suffix`) with an optional `ErrorDocument` (`Key`) and
//! up to [`MAX_RULES`] `RoutingRules`, each a `Redirect` (`HostName`,
//! `HttpRedirectCode`, `Protocol`, `ReplaceKeyPrefixWith` or
//! `ReplaceKeyWith`) under an optional `Condition` (`KeyPrefixEquals`,
//! `HttpErrorCodeReturnedEquals`).
//!
//! S3's codes and messages for a bad document are LocalStack's and
//! Ceph RGW's, which both copy them from S3: anything outside the schema
//! is MalformedXML; a missing or bad index suffix and a
//! `RedirectAllRequestsTo` beside anything else are InvalidArgument; bad
//! rules are InvalidRequest.

use crate::website::{
    Condition, Protocol, Redirect, RedirectAll, Replace, RoutingRule, Site, Website,
};

use super::error::{S3Code, S3Error};
use super::xml::{malformed, require_blank, response, set_once, walk_elements};

const ROOT: &str = "WebsiteConfiguration";

/// S3's limit on routing rules in one configuration.
pub const MAX_RULES: usize = 50;

fn invalid_argument(message: &str) -> S3Error {
    S3Error::new(S3Code::InvalidArgument, message)
}

fn invalid_request(message: impl Into<String>) -> S3Error {
    S3Error::new(S3Code::InvalidRequest, message)
}

/// The elements of one `Redirect` as sent.
#[derive(Default)]
struct RawRedirect {
    host: Option<String>,
    protocol: Option<String>,
    code: Option<String>,
    replace_prefix: Option<String>,
    replace_key: Option<String>,
}

/// The elements of one `Condition` as sent.
#[derive(Default)]
struct RawCondition {
    key_prefix: Option<String>,
    error_code: Option<String>,
}

#[derive(Default)]
struct RawRule {
    condition: Option<RawCondition>,
    redirect: Option<RawRedirect>,
}

/// The document as sent, before S3's rules are checked: each element
/// `Some` when present (its own elements `None` when absent).
#[derive(Default)]
struct Raw {
    redirect_all: Option<(Option<String>, Option<String>)>,
    index: Option<Option<String>>,
    error: Option<Option<String>>,
    rules: Option<Vec<RawRule>>,
}

/// The leaves of the element being read, moved into [`Raw`] when it
/// closes.
#[derive(Default)]
struct Open {
    host: Option<String>,
    protocol: Option<String>,
    suffix: Option<String>,
    key: Option<String>,
    rules: Vec<RawRule>,
    condition: Option<RawCondition>,
    redirect: Option<RawRedirect>,
    cond: RawCondition,
    redir: RawRedirect,
}

fn read(body: &[u8]) -> Result<Raw, S3Error> {
    let mut raw = Raw::default();
    let mut o = Open::default();
    walk_elements(body, ROOT.as_bytes(), |path, text| {
        let p: Vec<&[u8]> = path.iter().map(|e| e.as_slice()).collect();
        let trimmed = || text.trim().to_owned();
        match p.as_slice() {
            [_] => require_blank(&text),
            [_, b"RedirectAllRequestsTo"] => {
                require_blank(&text)?;
                let v = (o.host.take(), o.protocol.take());
                set_once(&mut raw.redirect_all, v)
            }
            [_, b"RedirectAllRequestsTo", b"HostName"] => set_once(&mut o.host, trimmed()),
            [_, b"RedirectAllRequestsTo", b"Protocol"] => set_once(&mut o.protocol, trimmed()),
            [_, b"IndexDocument"] => {
                require_blank(&text)?;
                set_once(&mut raw.index, o.suffix.take())
            }
            [_, b"IndexDocument", b"Suffix"] => set_once(&mut o.suffix, text),
            [_, b"ErrorDocument"] => {
                require_blank(&text)?;
                set_once(&mut raw.error, o.key.take())
            }
            [_, b"ErrorDocument", b"Key"] => set_once(&mut o.key, text),
            [_, b"RoutingRules"] => {
                require_blank(&text)?;
                set_once(&mut raw.rules, std::mem::take(&mut o.rules))
            }
            [_, b"RoutingRules", b"RoutingRule"] => {
                require_blank(&text)?;
                o.rules.push(RawRule {
                    condition: o.condition.take(),
                    redirect: o.redirect.take(),
                });
                Ok(())
            }
            [_, b"RoutingRules", b"RoutingRule", b"Condition"] => {
                require_blank(&text)?;
                set_once(&mut o.condition, std::mem::take(&mut o.cond))
            }
            [_, b"RoutingRules", b"RoutingRule", b"Condition", leaf] => {
                let slot = match *leaf {
                    b"KeyPrefixEquals" => &mut o.cond.key_prefix,
                    b"HttpErrorCodeReturnedEquals" => &mut o.cond.error_code,
                    _ => return Err(malformed()),
                };
                set_once(slot, text)
            }
            [_, b"RoutingRules", b"RoutingRule", b"Redirect"] => {
                require_blank(&text)?;
                set_once(&mut o.redirect, std::mem::take(&mut o.redir))
            }
            [_, b"RoutingRules", b"RoutingRule", b"Redirect", leaf] => {
                let (slot, value) = match *leaf {
                    b"HostName" => (&mut o.redir.host, trimmed()),
                    b"Protocol" => (&mut o.redir.protocol, trimmed()),
                    b"HttpRedirectCode" => (&mut o.redir.code, trimmed()),
                    b"ReplaceKeyPrefixWith" => (&mut o.redir.replace_prefix, text),
                    b"ReplaceKeyWith" => (&mut o.redir.replace_key, text),
                    _ => return Err(malformed()),
                };
                set_once(slot, value)
            }
            _ => Err(malformed()),
        }
    })?;
    Ok(raw)
}

fn protocol(p: Option<String>) -> Result<Option<Protocol>, S3Error> {
    match p.as_deref() {
        None => Ok(None),
        Some("http") => Ok(Some(Protocol::Http)),
        Some("https") => Ok(Some(Protocol::Https)),
        Some(_) => Err(invalid_request(
            "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.",
        )),
    }
}

fn redirect_code(code: &str) -> Result<u16, S3Error> {
    match code.parse::<u16>() {
        Ok(c) if (301..=399).contains(&c) => Ok(c),
        _ => Err(invalid_request(format!(
            "The provided HTTP redirect code ({code}) is not valid. Valid codes are 3XX except 300."
        ))),
    }
}

fn error_code(code: &str) -> Result<u16, S3Error> {
    match code.trim().parse::<u16>() {
        Ok(c) if (400..=599).contains(&c) => Ok(c),
        _ => Err(invalid_request(format!(
            "The provided HTTP error code ({code}) is not valid. Valid codes are 4XX or 5XX."
        ))),
    }
}

fn rule(raw: RawRule) -> Result<RoutingRule, S3Error> {
    let Some(r) = raw.redirect else {
        return Err(malformed());
    };
    if r.host.is_none()
        && r.protocol.is_none()
        && r.code.is_none()
        && r.replace_prefix.is_none()
        && r.replace_key.is_none()
    {
        return Err(malformed());
    }
    let condition = match raw.condition {
        None => None,
        Some(c) if c.key_prefix.is_none() && c.error_code.is_none() => {
            return Err(invalid_request(
                "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.",
            ))
        }
        Some(c) => Some(Condition {
            key_prefix: c.key_prefix,
            error_code: c.error_code.as_deref().map(error_code).transpose()?,
        }),
    };
    let replace = match (r.replace_prefix, r.replace_key) {
        (Some(_), Some(_)) => {
            return Err(invalid_request(
                "You can only define ReplaceKeyPrefix or ReplaceKey but not both.",
            ))
        }
        (Some(p), None) => Some(Replace::Prefix(p)),
        (None, Some(k)) => Some(Replace::Key(k)),
        (None, None) => None,
    };
    Ok(RoutingRule {
        condition,
        redirect: Redirect {
            host: r.host,
            protocol: protocol(r.protocol)?,
            code: r.code.as_deref().map(redirect_code).transpose()?,
            replace,
        },
    })
}

/// PutBucketWebsite's body, with S3's answers to a bad one (see the module
/// comment).
pub fn parse_website(body: &[u8]) -> Result<Website, S3Error> {
    let raw = read(body)?;
    if let Some((host, proto)) = raw.redirect_all {
        if raw.index.is_some() || raw.error.is_some() || raw.rules.is_some() {
            return Err(invalid_argument(
                "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
            ));
        }
        let host = host.ok_or_else(malformed)?;
        if host.is_empty() {
            return Err(invalid_argument(
                "A host name must be provided to redirect all requests (e.g. \"example.com\").",
            ));
        }
        return Ok(Website::RedirectAll(RedirectAll {
            host,
            protocol: protocol(proto)?,
        }));
    }
    let Some(suffix) = raw.index else {
        return Err(invalid_argument(
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
        ));
    };
    let index_suffix = match suffix {
        Some(s) if !s.is_empty() && !s.contains('/') => s,
        _ => {
            return Err(invalid_argument(
                "The IndexDocument Suffix is not well formed",
            ))
        }
    };
    let error_key = match raw.error {
        None => None,
        Some(Some(k)) if !k.is_empty() => Some(k),
        Some(_) => return Err(malformed()),
    };
    let rules = match raw.rules {
        None => Vec::new(),
        Some(r) if r.is_empty() => return Err(malformed()),
        Some(r) if r.len() > MAX_RULES => {
            return Err(invalid_request(format!(
                "{} routing rules provided, the number of routing rules in a website configuration is limited to {MAX_RULES}.",
                r.len()
            )))
        }
        Some(r) => r.into_iter().map(rule).collect::<Result<_, _>>()?,
    };
    Ok(Website::Site(Site {
        index_suffix,
        error_key,
        rules,
    }))
}

/// GetBucketWebsite's answer: the configuration as stored, elements in
/// AWS's order.
pub fn website_document(config: &Website) -> Vec<u8> {
    response(ROOT, 256, |w| match config {
        Website::RedirectAll(r) => w.element("RedirectAllRequestsTo", |w| {
            w.text("HostName", &r.host);
            w.text_opt("Protocol", r.protocol.map(Protocol::as_str));
        }),
        Website::Site(s) => {
            w.element("IndexDocument", |w| w.text("Suffix", &s.index_suffix));
            if let Some(k) = &s.error_key {
                w.element("ErrorDocument", |w| w.text("Key", k));
            }
            if !s.rules.is_empty() {
                w.element("RoutingRules", |w| {
                    for r in &s.rules {
                        w.element("RoutingRule", |w| rule_elements(w, r));
                    }
                });
            }
        }
    })
}

fn rule_elements(w: &mut crate::xmlw::Writer<'_>, r: &RoutingRule) {
    if let Some(c) = &r.condition {
        w.element("Condition", |w| {
            if let Some(code) = c.error_code {
                w.num("HttpErrorCodeReturnedEquals", u64::from(code));
            }
            w.text_opt("KeyPrefixEquals", c.key_prefix.as_deref());
        });
    }
    let d = &r.redirect;
    w.element("Redirect", |w| {
        w.text_opt("HostName", d.host.as_deref());
        if let Some(code) = d.code {
            w.num("HttpRedirectCode", u64::from(code));
        }
        w.text_opt("Protocol", d.protocol.map(Protocol::as_str));
        match &d.replace {
            Some(Replace::Prefix(p)) => w.text("ReplaceKeyPrefixWith", p),
            Some(Replace::Key(k)) => w.text("ReplaceKeyWith", k),
            None => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(inner: &str) -> String {
        format!("<WebsiteConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{inner}</WebsiteConfiguration>")
    }

    fn err(inner: &str) -> S3Error {
        parse_website(doc(inner).as_bytes()).unwrap_err()
    }

    const INDEX: &str = "<IndexDocument><Suffix>index.html</Suffix></IndexDocument>";

    fn rules(rules: &str) -> String {
        format!("{INDEX}<RoutingRules>{rules}</RoutingRules>")
    }

    /// The routing rules example of AWS's PutBucketWebsite page, with a
    /// second rule on an error code.
    const AWS_EXAMPLE: &str =
        "<WebsiteConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">
        <IndexDocument><Suffix>index.html</Suffix></IndexDocument>
        <ErrorDocument><Key>SomeErrorDocument.html</Key></ErrorDocument>
        <RoutingRules>
          <RoutingRule>
            <Condition><KeyPrefixEquals>docs/</KeyPrefixEquals></Condition>
            <Redirect><ReplaceKeyPrefixWith>documents/</ReplaceKeyPrefixWith></Redirect>
          </RoutingRule>
          <RoutingRule>
            <Condition>
              <HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals>
            </Condition>
            <Redirect>
              <HostName>example.com</HostName>
              <Protocol>https</Protocol>
              <HttpRedirectCode>302</HttpRedirectCode>
              <ReplaceKeyWith>report-404/</ReplaceKeyWith>
            </Redirect>
          </RoutingRule>
        </RoutingRules>
      </WebsiteConfiguration>";

    #[test]
    fn aws_example_parses_to_its_site() {
        let w = parse_website(AWS_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(
            w,
            Website::Site(Site {
                index_suffix: "index.html".into(),
                error_key: Some("SomeErrorDocument.html".into()),
                rules: vec![
                    RoutingRule {
                        condition: Some(Condition {
                            key_prefix: Some("docs/".into()),
                            error_code: None,
                        }),
                        redirect: Redirect {
                            replace: Some(Replace::Prefix("documents/".into())),
                            ..Default::default()
                        },
                    },
                    RoutingRule {
                        condition: Some(Condition {
                            key_prefix: None,
                            error_code: Some(404),
                        }),
                        redirect: Redirect {
                            host: Some("example.com".into()),
                            protocol: Some(Protocol::Https),
                            code: Some(302),
                            replace: Some(Replace::Key("report-404/".into())),
                        },
                    },
                ],
            })
        );
    }

    #[test]
    fn a_document_reads_back_as_the_configuration_it_was_written_from() {
        let w = parse_website(AWS_EXAMPLE.as_bytes()).unwrap();
        let text = website_document(&w);
        assert_eq!(parse_website(&text).unwrap(), w);
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("<RoutingRule><Condition><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition><Redirect><HostName>example.com</HostName><HttpRedirectCode>302</HttpRedirectCode><Protocol>https</Protocol><ReplaceKeyWith>report-404/</ReplaceKeyWith></Redirect></RoutingRule>"),
            "{text}"
        );
        let all = parse_website(
            doc("<RedirectAllRequestsTo><HostName>a&amp;b.test</HostName></RedirectAllRequestsTo>")
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            all,
            Website::RedirectAll(RedirectAll {
                host: "a&b.test".into(),
                protocol: None,
            })
        );
        let text = String::from_utf8(website_document(&all)).unwrap();
        assert!(
            text.contains("<RedirectAllRequestsTo><HostName>a&amp;b.test</HostName></RedirectAllRequestsTo></WebsiteConfiguration>"),
            "{text}"
        );
        assert_eq!(parse_website(text.as_bytes()).unwrap(), all);
    }

    #[test]
    fn bad_configurations_get_s3s_codes_and_messages() {
        let redirect_all =
            "<RedirectAllRequestsTo><HostName>example.com</HostName></RedirectAllRequestsTo>";
        let to_host = "<Redirect><HostName>example.com</HostName></Redirect>";
        let on_rule = |inner: &str| rules(&format!("<RoutingRule>{inner}</RoutingRule>"));
        let with_redirect = |inner: &str| on_rule(&format!("<Redirect>{inner}</Redirect>"));
        for (inner, code, message) in [
            ("".to_owned(), S3Code::InvalidArgument, Some("A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty")),
            ("<IndexDocument><Suffix></Suffix></IndexDocument>".to_owned(), S3Code::InvalidArgument, Some("The IndexDocument Suffix is not well formed")),
            ("<IndexDocument></IndexDocument>".to_owned(), S3Code::InvalidArgument, Some("The IndexDocument Suffix is not well formed")),
            ("<IndexDocument><Suffix>a/index.html</Suffix></IndexDocument>".to_owned(), S3Code::InvalidArgument, Some("The IndexDocument Suffix is not well formed")),
            (format!("{redirect_all}{INDEX}"), S3Code::InvalidArgument, Some("RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.")),
            (format!("<ErrorDocument><Key>e</Key></ErrorDocument>{redirect_all}"), S3Code::InvalidArgument, None),
            ("<RedirectAllRequestsTo><HostName></HostName></RedirectAllRequestsTo>".to_owned(), S3Code::InvalidArgument, None),
            ("<RedirectAllRequestsTo><Protocol>http</Protocol></RedirectAllRequestsTo>".to_owned(), S3Code::MalformedXML, None),
            ("<RedirectAllRequestsTo><HostName>a</HostName><Protocol>ftp</Protocol></RedirectAllRequestsTo>".to_owned(), S3Code::InvalidRequest, Some("Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.")),
            (format!("{INDEX}<ErrorDocument></ErrorDocument>"), S3Code::MalformedXML, None),
            (format!("{INDEX}<ErrorDocument><Key></Key></ErrorDocument>"), S3Code::MalformedXML, None),
            (format!("{INDEX}{INDEX}"), S3Code::MalformedXML, None),
            (format!("{INDEX}<Unknown/>"), S3Code::MalformedXML, None),
            ("<IndexDocument><Suffix>a</Suffix><Suffix>b</Suffix></IndexDocument>".to_owned(), S3Code::MalformedXML, None),
            ("<IndexDocument>index.html</IndexDocument>".to_owned(), S3Code::MalformedXML, None),
            (rules(""), S3Code::MalformedXML, None),
            (on_rule("<Condition><KeyPrefixEquals>a</KeyPrefixEquals></Condition>"), S3Code::MalformedXML, None),
            (on_rule("<Redirect></Redirect>"), S3Code::MalformedXML, None),
            (on_rule(&format!("<Condition></Condition>{to_host}")), S3Code::InvalidRequest, Some("Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.")),
            (with_redirect("<ReplaceKeyWith>a</ReplaceKeyWith><ReplaceKeyPrefixWith>b/</ReplaceKeyPrefixWith>"), S3Code::InvalidRequest, Some("You can only define ReplaceKeyPrefix or ReplaceKey but not both.")),
            (with_redirect("<HttpRedirectCode>300</HttpRedirectCode>"), S3Code::InvalidRequest, Some("The provided HTTP redirect code (300) is not valid. Valid codes are 3XX except 300.")),
            (with_redirect("<HttpRedirectCode>200</HttpRedirectCode>"), S3Code::InvalidRequest, Some("The provided HTTP redirect code (200) is not valid. Valid codes are 3XX except 300.")),
            (with_redirect("<HttpRedirectCode>abc</HttpRedirectCode>"), S3Code::InvalidRequest, None),
            (with_redirect("<Protocol>HTTP</Protocol>"), S3Code::InvalidRequest, None),
            (on_rule(&format!("<Condition><HttpErrorCodeReturnedEquals>302</HttpErrorCodeReturnedEquals></Condition>{to_host}")), S3Code::InvalidRequest, Some("The provided HTTP error code (302) is not valid. Valid codes are 4XX or 5XX.")),
            (on_rule(&format!("<Condition><Other>1</Other></Condition>{to_host}")), S3Code::MalformedXML, None),
            (with_redirect("<Unknown>1</Unknown>"), S3Code::MalformedXML, None),
        ] {
            let e = err(&inner);
            assert_eq!(e.code, code, "{inner}");
            if let Some(m) = message {
                assert_eq!(e.message, m, "{inner}");
            }
        }
        assert_eq!(
            parse_website(b"<WebsiteConfiguration").unwrap_err().code,
            S3Code::MalformedXML
        );
        assert_eq!(
            parse_website(b"<CORSConfiguration/>").unwrap_err().code,
            S3Code::MalformedXML
        );
    }

    #[test]
    fn at_most_fifty_routing_rules() {
        let one =
            "<RoutingRule><Redirect><HostName>example.com</HostName></Redirect></RoutingRule>";
        let fifty = doc(&rules(&one.repeat(MAX_RULES)));
        match parse_website(fifty.as_bytes()).unwrap() {
            Website::Site(s) => assert_eq!(s.rules.len(), 50),
            other => panic!("{other:?}"),
        }
        let e = err(&rules(&one.repeat(MAX_RULES + 1)));
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                S3Code::InvalidRequest,
                "51 routing rules provided, the number of routing rules in a website configuration is limited to 50."
            )
        );
    }

    #[test]
    fn empty_prefixes_and_keys_are_values_not_absences() {
        let w = parse_website(
            doc(&rules("<RoutingRule><Condition><KeyPrefixEquals/></Condition><Redirect><ReplaceKeyWith></ReplaceKeyWith></Redirect></RoutingRule>"))
                .as_bytes(),
        )
        .unwrap();
        let Website::Site(s) = &w else {
            panic!("{w:?}")
        };
        assert_eq!(
            s.rules[0],
            RoutingRule {
                condition: Some(Condition {
                    key_prefix: Some(String::new()),
                    error_code: None,
                }),
                redirect: Redirect {
                    replace: Some(Replace::Key(String::new())),
                    ..Default::default()
                },
            }
        );
        assert_eq!(parse_website(&website_document(&w)).unwrap(), w);
    }
}
