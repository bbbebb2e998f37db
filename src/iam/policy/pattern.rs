//! Resource and condition-value patterns, split at compile time into text
//! and `${…}` policy variables so that a request substitutes nothing: the
//! matcher reads the variable's value in place.

use super::request::{Key, Request, Value};
use crate::iam::wildcard::{self, Piece};

#[derive(Clone, Debug, PartialEq)]
enum Seg {
    /// Policy text: `*` and `?` are wildcards where the operator has them.
    Text(Box<str>),
    /// `${*}`, `${?}`, `${$}`: the character itself, never a wildcard.
    Escaped(&'static str),
    Var(Key),
}

/// A compiled pattern (`arn:aws:s3:::bucket/home/${aws:username}/*`).
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    segs: Box<[Seg]>,
    /// The literal text every match starts with (the first segment's text
    /// up to its first wildcard): one `memcmp` turns away most resources
    /// before the matcher runs, as policies name other buckets far more
    /// often than the request's.
    lead: Box<str>,
}

impl Pattern {
    /// `vars` is false for version 2008-10-17 policies, where `${…}` is
    /// plain text as AWS treats it.
    pub fn compile(s: &str, vars: bool) -> Pattern {
        let mut segs = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("${").filter(|_| vars) {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + 2 + len];
            let seg = match name {
                "*" => Seg::Escaped("*"),
                "?" => Seg::Escaped("?"),
                "$" => Seg::Escaped("$"),
                // A key that cannot be named stays unresolved: it never matches.
                _ => Seg::Var(Key::parse(name).unwrap_or_else(|| Key::Other(name.into()))),
            };
            if start > 0 {
                segs.push(Seg::Text(rest[..start].into()));
            }
            segs.push(seg);
            rest = &rest[start + 3 + len..];
        }
        if !rest.is_empty() || segs.is_empty() {
            segs.push(Seg::Text(rest.into()));
        }
        let lead = match segs.first() {
            Some(Seg::Text(t)) => t.split(['*', '?']).next().unwrap_or_default().into(),
            _ => Box::default(),
        };
        Pattern {
            segs: segs.into(),
            lead,
        }
    }

    /// The pattern's text when it has no variables or escapes.
    fn plain(&self) -> Option<&str> {
        match &*self.segs {
            [Seg::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Whether the pattern is fixed: no wildcard and no variable (the
    /// public-policy check's notion of a fixed value).
    pub fn is_fixed(&self) -> bool {
        self.segs.iter().all(|s| match s {
            Seg::Text(t) => !t.contains(['*', '?']),
            Seg::Escaped(_) => true,
            Seg::Var(_) => false,
        })
    }

    /// Whether every variable has a single text value in `req`.
    fn resolves(&self, req: &Request<'_>) -> bool {
        self.segs.iter().all(|s| match s {
            Seg::Var(k) => var_value(req, k).is_some(),
            _ => true,
        })
    }

    fn piece<'a>(&'a self, req: &Request<'a>, i: usize) -> Piece<'a> {
        match &self.segs[i] {
            Seg::Text(t) => Piece::Glob(t),
            Seg::Escaped(e) => Piece::Literal(e),
            Seg::Var(k) => Piece::Literal(var_value(req, k).unwrap_or("")),
        }
    }

    /// `*`/`?` matching, case-sensitive (resources, `StringLike`). A
    /// variable absent from the request makes the pattern match nothing.
    pub fn matches(&self, req: &Request<'_>, text: &str) -> bool {
        // `lead` ends where the pattern has a wildcard or a variable, or at
        // its end: a character boundary of both strings.
        let Some(rest) = text.strip_prefix(&*self.lead) else {
            return false;
        };
        if let Some(p) = self.plain() {
            return wildcard::matches(&p[self.lead.len()..], rest);
        }
        self.resolves(req)
            && wildcard::matches_pieces(self.segs.len(), |i| self.piece(req, i), text)
    }

    /// Exact comparison (`StringEquals`, optionally without case): `*` and
    /// `?` are ordinary characters.
    pub fn equals(&self, req: &Request<'_>, text: &str, ignore_case: bool) -> bool {
        let eq = |a: &[u8], b: &[u8]| {
            if ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        if let Some(p) = self.plain() {
            return eq(p.as_bytes(), text.as_bytes());
        }
        if !self.resolves(req) {
            return false;
        }
        let mut rest = text.as_bytes();
        for i in 0..self.segs.len() {
            let part = match self.piece(req, i) {
                Piece::Glob(s) | Piece::Literal(s) => s.as_bytes(),
            };
            match rest.split_at_checked(part.len()) {
                Some((head, tail)) if eq(head, part) => rest = tail,
                _ => return false,
            }
        }
        rest.is_empty()
    }
}

/// A variable's value: single-valued text keys only (a typed or
/// multi-valued value leaves the variable unresolved).
fn var_value<'a>(req: &Request<'a>, key: &Key) -> Option<&'a str> {
    match req.get(key)? {
        Value::Str(s) => Some(s),
        Value::Bool(true) => Some("true"),
        Value::Bool(false) => Some("false"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::action::Action;
    use crate::iam::policy::{Principal, PrincipalType};
    use proptest::prelude::*;

    fn alice() -> Principal<'static> {
        Principal {
            kind: PrincipalType::User,
            account: "123456789012",
            arn: "arn:aws:iam::123456789012:user/alice",
            other_arns: &[],
            canonical_id: None,
            username: Some("a*"),
            userid: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, .. ProptestConfig::default() })]

        /// The `lead` check only turns away what the matcher would refuse.
        #[test]
        fn the_literal_lead_never_changes_a_match(
            pattern in "(a|b|/|\\*|\\?|\\$\\{aws:username\\}|\\$\\{\\*\\}|é){0,8}",
            text in "(a|b|/|\\*|é){0,10}",
        ) {
            let p = Pattern::compile(&pattern, true);
            let req = Request::new(Action::S3GetObject, "", alice(), 0);
            let full = p.resolves(&req)
                && wildcard::matches_pieces(p.segs.len(), |i| p.piece(&req, i), &text);
            prop_assert_eq!(p.matches(&req, &text), full);
        }
    }
}
