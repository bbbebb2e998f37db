//! IAM's wildcards: `*` matches any run of characters (including none and
//! including `/`), `?` exactly one character. Used for action names,
//! resource ARNs and `StringLike` conditions.
//!
//! Greedy with one backtrack point, so the cost is O(pattern × text) in the
//! worst case and linear for the patterns policies actually contain.

/// Whether `text` matches `pattern`, case-sensitively (resources, values).
pub fn matches(pattern: &str, text: &str) -> bool {
    glob(pattern, text, |a, b| a == b)
}

/// Whether `text` matches `pattern` with ASCII case folded (action names,
/// `StringLikeIgnoreCase`).
pub fn matches_ignore_ascii_case(pattern: &str, text: &str) -> bool {
    glob(pattern, text, |a, b| a.eq_ignore_ascii_case(&b))
}

fn glob(pattern: &str, text: &str, eq: impl Fn(u8, u8) -> bool) -> bool {
    // Bytes, not chars: no allocation on the request path. Literals compare
    // byte by byte (UTF-8 is self-synchronising); `?` takes one whole char.
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it has swallowed up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(b'?') => {
                pi += 1;
                ti += utf8_len(t[ti]);
            }
            Some(&c) if eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + utf8_len(t[st]);
                    pi = sp + 1;
                    ti = next;
                    star = Some((sp, next));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// One part of a pattern assembled at match time: `Glob` text has `*` and
/// `?` as wildcards, `Literal` text (a policy variable's value, `${*}`)
/// matches only itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Glob(&'a str),
    Literal(&'a str),
}

impl<'a> Piece<'a> {
    fn parts(self) -> (&'a [u8], bool) {
        match self {
            Piece::Glob(s) => (s.as_bytes(), true),
            Piece::Literal(s) => (s.as_bytes(), false),
        }
    }
}

#[derive(Clone, Copy)]
enum Tok {
    Star,
    One,
    Byte(u8),
    End,
}

/// Whether `text` matches the concatenation of `count` pieces (`piece(i)`
/// for `i` in `0..count`), case-sensitively. The pieces are produced on
/// demand, so a pattern with policy variables is matched without building
/// the substituted string. Same algorithm and bounds as [`matches`].
pub fn matches_pieces<'a>(count: usize, piece: impl Fn(usize) -> Piece<'a>, text: &str) -> bool {
    // A position is (piece index, byte offset in that piece).
    let tok_at = |mut pos: (usize, usize)| -> ((usize, usize), Tok) {
        while pos.0 < count {
            let (bytes, glob) = piece(pos.0).parts();
            if let Some(&b) = bytes.get(pos.1) {
                let tok = match b {
                    b'*' if glob => Tok::Star,
                    b'?' if glob => Tok::One,
                    _ => Tok::Byte(b),
                };
                return (pos, tok);
            }
            pos = (pos.0 + 1, 0);
        }
        (pos, Tok::End)
    };
    let t = text.as_bytes();
    let mut p = (0, 0);
    let mut ti = 0;
    let mut star: Option<((usize, usize), usize)> = None;
    while ti < t.len() {
        let (pos, tok) = tok_at(p);
        let after = (pos.0, pos.1 + 1);
        match tok {
            Tok::Star => {
                star = Some((pos, ti));
                p = after;
            }
            Tok::One => {
                p = after;
                ti += utf8_len(t[ti]);
            }
            Tok::Byte(c) if c == t[ti] => {
                p = after;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + utf8_len(t[st]);
                    p = (sp.0, sp.1 + 1);
                    ti = next;
                    star = Some((sp, next));
                }
                None => return false,
            },
        }
    }
    loop {
        match tok_at(p) {
            (_, Tok::End) => return true,
            (pos, Tok::Star) => p = (pos.0, pos.1 + 1),
            _ => return false,
        }
    }
}

/// Length of the UTF-8 sequence a leading byte starts (1 for a stray
/// continuation byte, which `&str` never starts with).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks_match_as_iam_defines_them() {
        let cases = [
            ("*", "", true),
            ("*", "anything/at/all", true),
            ("", "", true),
            ("", "a", false),
            ("a", "", false),
            ("?", "", false),
            ("?", "é", true),
            ("home/*", "home/alice/x", true),
            ("home/*", "home", false),
            ("home/*/x", "home/a/b/x", true),
            ("*.jpg", "a.jpg.png", false),
            ("*.jpg", "a.png.jpg", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("arn:aws:s3:::b/?", "arn:aws:s3:::b/ab", false),
            ("**", "x", true),
            ("*?", "", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(matches(p, t), want, "{p:?} vs {t:?}");
        }
    }

    #[test]
    fn case_folding_is_a_choice() {
        assert!(!matches("s3:get*", "s3:GetObject"));
        assert!(matches_ignore_ascii_case("s3:get*", "s3:GetObject"));
    }

    #[test]
    fn pieces_match_like_their_concatenation_with_literals_kept_literal() {
        let cases: [(&[Piece], &str, bool); 8] = [
            (
                &[
                    Piece::Glob("home/"),
                    Piece::Literal("alice"),
                    Piece::Glob("/*"),
                ],
                "home/alice/x",
                true,
            ),
            (
                &[
                    Piece::Glob("home/"),
                    Piece::Literal("alice"),
                    Piece::Glob("/*"),
                ],
                "home/bob/x",
                false,
            ),
            (&[Piece::Glob("a"), Piece::Literal("*")], "a*", true),
            (&[Piece::Glob("a"), Piece::Literal("*")], "ab", false),
            (&[Piece::Glob("a"), Piece::Glob("*")], "ab", true),
            (
                &[Piece::Literal(""), Piece::Glob("*"), Piece::Literal("?")],
                "xyz?",
                true,
            ),
            (
                &[Piece::Literal(""), Piece::Glob("*"), Piece::Literal("?")],
                "xyz",
                false,
            ),
            (&[], "", true),
        ];
        for (pieces, text, want) in cases {
            assert_eq!(
                matches_pieces(pieces.len(), |i| pieces[i], text),
                want,
                "{pieces:?} vs {text:?}"
            );
        }
        // One glob piece behaves exactly as `matches`.
        for (p, t) in [
            ("a*b*c", "aXbYbZc"),
            ("*?", ""),
            ("?", "é"),
            ("home/*", "home"),
        ] {
            assert_eq!(
                matches_pieces(1, |_| Piece::Glob(p), t),
                matches(p, t),
                "{p:?} {t:?}"
            );
        }
    }

    #[test]
    fn a_long_adversarial_pattern_stays_cheap() {
        let text = "a".repeat(5000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!matches(&pattern, &text));
    }
}
