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
    fn a_long_adversarial_pattern_stays_cheap() {
        let text = "a".repeat(5000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!matches(&pattern, &text));
    }
}
