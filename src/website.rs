//! A bucket's website configuration (issue 17 part 7): the document as
//! stored in the bucket table (`BucketInfo::website`, `buckets.json`
//! format 4) and the pure functions that turn a website request's key into
//! what to serve or where to redirect. No I/O: `s3/xml_website.rs` parses
//! and checks the document, `s3/website.rs` serves requests to
//! `<bucket>.<--website-domain>` with these answers.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

/// The redirect code of a routing rule that names none, as on S3.
pub const DEFAULT_REDIRECT_CODE: u16 = 301;

/// A bucket's `WebsiteConfiguration`: either every request is sent to
/// another host, or the bucket is served as a site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Website {
    RedirectAll(RedirectAll),
    Site(Site),
}

/// `RedirectAllRequestsTo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectAll {
    pub host: String,
    /// `None`: the protocol the request came with.
    pub protocol: Option<Protocol>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    Http,
    Https,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
}

/// `IndexDocument`, `ErrorDocument` and `RoutingRules`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// `IndexDocument/Suffix`: appended to keys that end in `/` (never
    /// empty, never holding a `/`).
    pub index_suffix: String,
    /// `ErrorDocument/Key`: served, with the error's status, in place of
    /// S3's error page.
    pub error_key: Option<String>,
    /// `RoutingRules`, tried in order (empty: the document had none; S3
    /// refuses an empty `RoutingRules`).
    pub rules: Vec<RoutingRule>,
}

/// One `RoutingRule`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// `None`: the rule applies to every request.
    pub condition: Option<Condition>,
    pub redirect: Redirect,
}

/// A rule's `Condition`: each part given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// `KeyPrefixEquals`.
    pub key_prefix: Option<String>,
    /// `HttpErrorCodeReturnedEquals` (4xx or 5xx): the rule applies only
    /// once reading the object failed with this status.
    pub error_code: Option<u16>,
}

/// A rule's `Redirect`: where the request is sent instead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// `None`: the host the request named.
    pub host: Option<String>,
    /// `None`: the protocol the request came with.
    pub protocol: Option<Protocol>,
    /// `HttpRedirectCode` (3xx but 300); `None` answers
    /// [`DEFAULT_REDIRECT_CODE`].
    pub code: Option<u16>,
    pub replace: Option<Replace>,
}

/// How a redirect rewrites the key; without one the key is kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Replace {
    /// `ReplaceKeyWith`: the whole key.
    Key(String),
    /// `ReplaceKeyPrefixWith`: the condition's `KeyPrefixEquals` (or
    /// nothing, without one) at the key's start.
    Prefix(String),
}

/// Where a request is redirected: the status and the `Location`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirection {
    pub code: u16,
    pub location: String,
}

/// What the request came with, for redirects that keep it.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The Host header as sent (port included).
    pub host: &'a str,
}

/// Bytes kept as they are in a `Location` path: RFC 3986's unreserved
/// characters and `/`, which separates the key's "folders".
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// `key` as a URL path (`/` first).
pub fn url_path(key: &str) -> String {
    format!("/{}", utf8_percent_encode(key, PATH))
}

impl Site {
    /// The object a request for `key` reads: the index document for the
    /// site's root (`""`) and for keys ending in `/`.
    pub fn object_key(&self, key: &str) -> String {
        if key.is_empty() || key.ends_with('/') {
            format!("{key}{}", self.index_suffix)
        } else {
            key.to_owned()
        }
    }

    /// The index document that would make `key` a folder, when `key` is
    /// not one already: a request for `docs` whose object is missing is
    /// sent to `docs/` if `docs/<suffix>` exists.
    pub fn folder_index(&self, key: &str) -> Option<String> {
        if key.is_empty() || key.ends_with('/') {
            None
        } else {
            Some(format!("{key}/{}", self.index_suffix))
        }
    }

    /// The redirect for `key` before the object is read: the first rule
    /// whose condition names no error code and whose prefix `key` has.
    pub fn redirect_before(&self, key: &str, origin: Origin<'_>) -> Option<Redirection> {
        self.rules
            .iter()
            .find(|r| r.matches(key, None))
            .map(|r| r.redirection(key, origin))
    }

    /// The redirect for `key` once reading it failed with `status`: the
    /// first rule whose condition names that code and whose prefix `key`
    /// has.
    pub fn redirect_after(
        &self,
        key: &str,
        status: u16,
        origin: Origin<'_>,
    ) -> Option<Redirection> {
        self.rules
            .iter()
            .find(|r| r.matches(key, Some(status)))
            .map(|r| r.redirection(key, origin))
    }
}

impl RoutingRule {
    /// Whether the rule applies to `key`, before the read (`failed`
    /// `None`) or after it failed with that status.
    fn matches(&self, key: &str, failed: Option<u16>) -> bool {
        let Some(c) = &self.condition else {
            return failed.is_none();
        };
        c.error_code == failed && c.key_prefix.as_deref().is_none_or(|p| key.starts_with(p))
    }

    /// Where the rule sends a request for `key`.
    fn redirection(&self, key: &str, origin: Origin<'_>) -> Redirection {
        let r = &self.redirect;
        let new_key = match &r.replace {
            None => key.to_owned(),
            Some(Replace::Key(k)) => k.clone(),
            Some(Replace::Prefix(p)) => {
                let old = self
                    .condition
                    .as_ref()
                    .and_then(|c| c.key_prefix.as_deref())
                    .unwrap_or("");
                format!("{p}{}", key.strip_prefix(old).unwrap_or(key))
            }
        };
        let scheme = r.protocol.map_or(origin.scheme, |p| p.as_str());
        let host = r.host.as_deref().unwrap_or(origin.host);
        Redirection {
            code: r.code.unwrap_or(DEFAULT_REDIRECT_CODE),
            location: format!("{scheme}://{host}{}", url_path(&new_key)),
        }
    }
}

impl RedirectAll {
    /// Where every request goes: the same path on the configured host.
    pub fn redirection(&self, raw_path: &str, origin: Origin<'_>) -> Redirection {
        let scheme = self.protocol.map_or(origin.scheme, |p| p.as_str());
        let path = if raw_path.starts_with('/') {
            raw_path.to_owned()
        } else {
            format!("/{raw_path}")
        };
        Redirection {
            code: DEFAULT_REDIRECT_CODE,
            location: format!("{scheme}://{}{path}", self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: Origin<'static> = Origin {
        scheme: "http",
        host: "site.web.test:9000",
    };

    fn rule(prefix: Option<&str>, error: Option<u16>, redirect: Redirect) -> RoutingRule {
        RoutingRule {
            condition: (prefix.is_some() || error.is_some()).then(|| Condition {
                key_prefix: prefix.map(str::to_owned),
                error_code: error,
            }),
            redirect,
        }
    }

    fn site(rules: Vec<RoutingRule>) -> Site {
        Site {
            index_suffix: "index.html".into(),
            error_key: Some("404.html".into()),
            rules,
        }
    }

    #[test]
    fn the_root_and_folders_read_their_index_document() {
        let s = site(vec![]);
        assert_eq!(s.object_key(""), "index.html");
        assert_eq!(s.object_key("docs/"), "docs/index.html");
        assert_eq!(s.object_key("a//"), "a//index.html");
        assert_eq!(s.object_key("docs"), "docs");
        assert_eq!(s.object_key("docs/page.html"), "docs/page.html");
        assert_eq!(s.folder_index("docs"), Some("docs/index.html".into()));
        assert_eq!(s.folder_index("a/b.txt"), Some("a/b.txt/index.html".into()));
        assert_eq!(s.folder_index("docs/"), None);
        assert_eq!(s.folder_index(""), None);
    }

    #[test]
    fn rules_without_an_error_code_redirect_before_the_read_in_order() {
        let s = site(vec![
            rule(
                Some("docs/"),
                None,
                Redirect {
                    replace: Some(Replace::Prefix("documents/".into())),
                    ..Default::default()
                },
            ),
            rule(
                Some("d"),
                None,
                Redirect {
                    host: Some("example.com".into()),
                    protocol: Some(Protocol::Https),
                    code: Some(307),
                    replace: Some(Replace::Key("gone.html".into())),
                },
            ),
            rule(
                Some("x/"),
                Some(404),
                Redirect {
                    host: Some("elsewhere.test".into()),
                    ..Default::default()
                },
            ),
        ]);
        assert_eq!(
            s.redirect_before("docs/a b.html", ORIGIN),
            Some(Redirection {
                code: 301,
                location: "http://site.web.test:9000/documents/a%20b.html".into(),
            })
        );
        // The first rule that matches wins; the second catches the rest of `d`.
        assert_eq!(
            s.redirect_before("data", ORIGIN),
            Some(Redirection {
                code: 307,
                location: "https://example.com/gone.html".into(),
            })
        );
        assert_eq!(s.redirect_before("other", ORIGIN), None);
        // An error-code rule waits for the error.
        assert_eq!(s.redirect_before("x/1", ORIGIN), None);
        assert_eq!(s.redirect_after("x/1", 403, ORIGIN), None);
        assert_eq!(
            s.redirect_after("x/1", 404, ORIGIN),
            Some(Redirection {
                code: 301,
                location: "http://elsewhere.test/x/1".into(),
            })
        );
        // ... and rules without one do not apply after it.
        assert_eq!(s.redirect_after("docs/a", 404, ORIGIN), None);
    }

    #[test]
    fn a_rule_without_condition_takes_every_request_and_a_prefix_replaces_nothing() {
        let s = site(vec![rule(
            None,
            None,
            Redirect {
                replace: Some(Replace::Prefix("new/".into())),
                code: Some(302),
                ..Default::default()
            },
        )]);
        assert_eq!(
            s.redirect_before("a/b", ORIGIN)
                .map(|r| (r.code, r.location)),
            Some((302, "http://site.web.test:9000/new/a/b".into()))
        );
        let on_error = site(vec![rule(
            None,
            Some(404),
            Redirect {
                replace: Some(Replace::Key("".into())),
                ..Default::default()
            },
        )]);
        assert_eq!(on_error.redirect_before("a", ORIGIN), None);
        assert_eq!(
            on_error
                .redirect_after("a", 404, ORIGIN)
                .map(|r| r.location),
            Some("http://site.web.test:9000/".into())
        );
    }

    #[test]
    fn keys_are_percent_encoded_in_locations_but_for_slashes() {
        assert_eq!(url_path("a/b c/ü?#%"), "/a/b%20c/%C3%BC%3F%23%25");
        assert_eq!(url_path(""), "/");
    }

    #[test]
    fn redirect_all_keeps_the_path_and_the_requests_protocol_unless_told() {
        let all = RedirectAll {
            host: "example.com".into(),
            protocol: None,
        };
        assert_eq!(
            all.redirection("/a/b%20c", ORIGIN),
            Redirection {
                code: 301,
                location: "http://example.com/a/b%20c".into(),
            }
        );
        let https = RedirectAll {
            protocol: Some(Protocol::Https),
            ..all
        };
        assert_eq!(
            https.redirection("/", ORIGIN).location,
            "https://example.com/"
        );
    }
}
