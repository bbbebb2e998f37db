//! Tag sets: the `Tagging` document of Put/GetObjectTagging and
//! Put/GetBucketTagging, and the `x-amz-tagging` header.
//!
//! Limits are AWS's (user guide "Categorizing your storage using tags" and
//! "Using cost allocation S3 bucket tags"): keys of 1 to 128 and values of
//! 0 to 256 characters, counted in UTF-16 code units as S3 stores them ("in
//! UTF-16, characters consume either 1 or 2 character positions"); unique
//! keys; no `aws:` keys. Error codes and messages are S3's as observed in
//! public reports: the count limit is BadRequest, not InvalidTag
//! (boto/boto3#1213, versity/versitygw#1204).

use std::collections::HashSet;

use super::error::{S3Code, S3Error};
use super::xml::{malformed, require_blank, response, set_once, walk_elements};

const MAX_KEY_UNITS: usize = 128;
const MAX_VALUE_UNITS: usize = 256;

/// What a tag set belongs to, which sets how many tags it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagTarget {
    Object,
    Bucket,
}

impl TagTarget {
    pub fn max_tags(self) -> usize {
        match self {
            TagTarget::Object => 10,
            TagTarget::Bucket => 50,
        }
    }

    fn too_many(self) -> S3Error {
        S3Error::new(
            S3Code::BadRequest,
            match self {
                TagTarget::Object => "Object tags cannot be greater than 10",
                TagTarget::Bucket => "Bucket tag count cannot be greater than 50",
            },
        )
    }
}

fn invalid_key() -> S3Error {
    S3Error::new(
        S3Code::InvalidTag,
        "The TagKey you have provided is invalid",
    )
}

fn invalid_value() -> S3Error {
    S3Error::new(
        S3Code::InvalidTag,
        "The TagValue you have provided is invalid",
    )
}

/// AWS's tag alphabet: "Unicode letters or numbers, white space, and the
/// following symbols: _ . : / = + @ -" (`[\p{L}\p{Z}\p{N}_.:/=+\-@]`). S3
/// enforces it: a key holding `&` or `[{,}]` and a value holding `,` were
/// InvalidTag (versity/versitygw#1663, aws/aws-cli#2841,
/// gardenlinux/gardenlinux#3720). `is_alphanumeric` is
/// `\p{L}\p{N}` plus a few combining marks, and white space that is not a
/// control character is exactly `\p{Z}`, so this errs, if anywhere, towards
/// accepting.
fn tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '@' | '-')
        || (c.is_whitespace() && !c.is_control())
}

/// One tag's rules, key first.
fn check_tag(key: &str, value: &str) -> Result<(), S3Error> {
    let units = key.encode_utf16().count();
    if units == 0 || units > MAX_KEY_UNITS || !key.chars().all(tag_char) {
        return Err(invalid_key());
    }
    // The prefix AWS reserves for its own tags (InvalidTag, as S3 answered
    // in cloud-custodian/cloud-custodian#370).
    if key.starts_with("aws:") {
        return Err(S3Error::new(
            S3Code::InvalidTag,
            "Your TagKey cannot be prefixed with aws:",
        ));
    }
    if value.encode_utf16().count() > MAX_VALUE_UNITS || !value.chars().all(tag_char) {
        return Err(invalid_value());
    }
    Ok(())
}

/// Checks every tag in order and then the count, the order S3 reports
/// faults in: a bad tag at position 48 outranks a duplicate at 49 and a
/// set of 60 (scality/cloudserver#4451, tested against S3).
fn check_tags(tags: &[(String, String)], target: TagTarget) -> Result<(), S3Error> {
    let mut seen = HashSet::with_capacity(tags.len());
    for (key, value) in tags {
        check_tag(key, value)?;
        if !seen.insert(key.as_str()) {
            return Err(S3Error::new(
                S3Code::InvalidTag,
                "Cannot provide multiple Tags with the same key",
            ));
        }
    }
    if tags.len() > target.max_tags() {
        return Err(target.too_many());
    }
    Ok(())
}

/// A `Tagging` request body, as `(key, value)` in document order. `TagSet`
/// is required and may be empty (which clears the tags); each `Tag` needs
/// exactly one `Key` and one `Value` (possibly empty), and keys and values
/// are kept exactly as the XML encodes them, white space included. Anything
/// else is MalformedXML, reported before any tag rule. The caller bounds the
/// body's size.
pub fn parse_tagging(body: &[u8], target: TagTarget) -> Result<Vec<(String, String)>, S3Error> {
    let mut tags: Vec<(String, String)> = Vec::new();
    let mut tag_set = false;
    let mut key: Option<String> = None;
    let mut value: Option<String> = None;
    walk_elements(body, b"Tagging", |path, text| match path {
        [_] => require_blank(&text),
        [_, set] if set.as_slice() == b"TagSet" => {
            require_blank(&text)?;
            if tag_set {
                return Err(malformed());
            }
            tag_set = true;
            Ok(())
        }
        [_, set, tag] if set.as_slice() == b"TagSet" && tag.as_slice() == b"Tag" => {
            require_blank(&text)?;
            let k = key.take().ok_or_else(malformed)?;
            let v = value.take().ok_or_else(malformed)?;
            tags.push((k, v));
            Ok(())
        }
        [_, set, tag, field] if set.as_slice() == b"TagSet" && tag.as_slice() == b"Tag" => {
            match field.as_slice() {
                b"Key" => set_once(&mut key, text),
                b"Value" => set_once(&mut value, text),
                _ => Err(malformed()),
            }
        }
        _ => Err(malformed()),
    })?;
    if !tag_set {
        return Err(malformed());
    }
    check_tags(&tags, target)?;
    Ok(tags)
}

/// The `Tagging` document GetObjectTagging and GetBucketTagging answer.
pub fn tagging<K: AsRef<str>, V: AsRef<str>>(tags: &[(K, V)]) -> Vec<u8> {
    response("Tagging", 160 + tags.len() * 64, |w| {
        w.element("TagSet", |w| {
            for (key, value) in tags {
                w.element("Tag", |w| {
                    w.text("Key", key.as_ref());
                    w.text("Value", value.as_ref());
                });
            }
        });
    })
}

fn bad_header() -> S3Error {
    S3Error::new(
        S3Code::InvalidArgument,
        "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
    )
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Decodes one query component: `+` is a space, as in every form encoder
/// (Python's `urlencode` writes spaces so); a `%` not followed by two hex
/// digits, or bytes that are not UTF-8, are `None`.
fn form_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_digit(*b.get(i + 1)?)?;
                let lo = hex_digit(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The `x-amz-tagging` header of PutObject, CopyObject and
/// CreateMultipartUpload: `k1=v1&k2=v2`, URL-query encoded, object limits.
/// Empty pairs are skipped and a bare `k` is `k` with the empty value;
/// an empty key, a second raw `=` in a pair, a bad escape or a repeated key
/// is InvalidArgument with S3's message (S3 answered `a=&a=` and
/// `TagSet=[{Key=string,Value=string}]` so: open-io/swift3#92,
/// aws/aws-cli#2841). The tag rules are those of [`parse_tagging`].
pub fn parse_tagging_header(value: &str) -> Result<Vec<(String, String)>, S3Error> {
    let mut tags: Vec<(String, String)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for pair in value.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k.is_empty() || v.contains('=') {
            return Err(bad_header());
        }
        let k = form_decode(k).ok_or_else(bad_header)?;
        let v = form_decode(v).ok_or_else(bad_header)?;
        check_tag(&k, &v)?;
        if !seen.insert(k.clone()) {
            return Err(bad_header());
        }
        tags.push((k, v));
    }
    // The header's count error is InvalidTag, unlike the Tagging body's
    // BadRequest, as S3 answers an x-amz-tagging of 11 tags.
    if tags.len() > TagTarget::Object.max_tags() {
        return Err(S3Error::new(
            S3Code::InvalidTag,
            "Object tags cannot be greater than 10",
        ));
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn doc(tags: &[(&str, &str)]) -> String {
        s(tagging(tags))
    }

    fn err(body: &str, target: TagTarget) -> S3Error {
        parse_tagging(body.as_bytes(), target).unwrap_err()
    }

    fn header_err(h: &str) -> S3Error {
        parse_tagging_header(h).unwrap_err()
    }

    #[test]
    fn aws_samples() {
        // PutObjectTagging's sample request.
        let body = "<Tagging>
  <TagSet>
     <Tag>
       <Key>tag1</Key>
       <Value>val1</Value>
     </Tag>
  </TagSet>
</Tagging>";
        assert_eq!(
            parse_tagging(body.as_bytes(), TagTarget::Object),
            Ok(pairs(&[("tag1", "val1")]))
        );
        // PutBucketTagging's.
        let body = "<Tagging>
  <TagSet>
    <Tag>
      <Key>Project</Key>
      <Value>Project One</Value>
    </Tag>
    <Tag>
      <Key>User</Key>
      <Value>jsmith</Value>
    </Tag>
  </TagSet>
</Tagging>";
        assert_eq!(
            parse_tagging(body.as_bytes(), TagTarget::Bucket),
            Ok(pairs(&[("Project", "Project One"), ("User", "jsmith")]))
        );
        // x-amz-tagging's sample.
        assert_eq!(
            parse_tagging_header("tag1=value1&tag2=value2"),
            Ok(pairs(&[("tag1", "value1"), ("tag2", "value2")]))
        );
    }

    #[test]
    fn document_shape_and_round_trip() {
        assert_eq!(
            doc(&[("a&b", "<c>"), ("k", "")]),
            format!(
                "{HEAD}<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>\
                 <Tag><Key>a&amp;b</Key><Value>&lt;c&gt;</Value></Tag>\
                 <Tag><Key>k</Key><Value></Value></Tag></TagSet></Tagging>"
            )
        );
        assert_eq!(
            doc(&[]),
            format!(
                "{HEAD}<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet></TagSet></Tagging>"
            )
        );
        let tags = pairs(&[
            (" spaced key ", "  v  "),
            ("ünï:çødé/x=y+z@w-1_2.3", "日本語 テキスト"),
            ("line\u{2028}sep", "nbsp\u{a0}here"),
            ("k", ""),
        ]);
        for target in [TagTarget::Object, TagTarget::Bucket] {
            assert_eq!(parse_tagging(&tagging(&tags), target), Ok(tags.clone()));
        }
        assert_eq!(
            parse_tagging(&tagging::<&str, &str>(&[]), TagTarget::Object),
            Ok(vec![])
        );
    }

    #[test]
    fn document_forms() {
        for (body, want) in [
            ("<Tagging><TagSet/></Tagging>", vec![]),
            ("<Tagging><TagSet></TagSet></Tagging>", vec![]),
            ("<Tagging><TagSet><Tag><Value>v</Value><Key>k</Key></Tag></TagSet></Tagging>", pairs(&[("k", "v")])),
            ("<Tagging><TagSet><Tag><Key>k</Key><Value/></Tag></TagSet></Tagging>", pairs(&[("k", "")])),
            ("<Tagging><TagSet><Tag><Key>k</Key><Value></Value></Tag></TagSet></Tagging>", pairs(&[("k", "")])),
            ("<Tagging><TagSet><Tag><Key>&#x41;b</Key><Value><![CDATA[x y]]></Value></Tag></TagSet></Tagging>", pairs(&[("Ab", "x y")])),
            ("\u{feff}<t:Tagging xmlns:t=\"u\"><t:TagSet><t:Tag><t:Key>k</t:Key><t:Value>v</t:Value></t:Tag></t:TagSet></t:Tagging>", pairs(&[("k", "v")])),
        ] {
            assert_eq!(parse_tagging(body.as_bytes(), TagTarget::Object), Ok(want), "{body}");
        }
    }

    #[test]
    fn document_malformed() {
        for bad in [
            "",
            "junk",
            "<Tagging/>",
            "<Tagging></Tagging>",
            "<Tagging><TagSet/><TagSet/></Tagging>",
            "<Tagging><Tag><Key>k</Key><Value>v</Value></Tag></Tagging>",
            "<Tagging><TagSet><Tag/></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>k</Key><Key>j</Key><Value>v</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Value>w</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Other/></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><key>k</key><Value>v</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>k<b/></Key><Value>v</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>x</TagSet></Tagging>",
            "<Tagging><TagSet><Tag>x<Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
            "<Tagging><TagSet/>x</Tagging>",
            "<Tags><TagSet/></Tags>",
            "<Tagging><TagSet/></Tagging><Tagging/>",
            "<Tagging><TagSet>",
            "<Tagging><TagSet><Tag><Key>&nope;</Key><Value>v</Value></Tag></TagSet></Tagging>",
            "<!DOCTYPE t [<!ENTITY e \"k\">]><Tagging><TagSet><Tag><Key>&e;</Key><Value>v</Value></Tag></TagSet></Tagging>",
            // Structure outranks the tag rules: a bad key, then a broken tag.
            "<Tagging><TagSet><Tag><Key></Key><Value>v</Value></Tag><Tag><Key>k</Key></Tag></TagSet></Tagging>",
        ] {
            assert_eq!(
                err(bad, TagTarget::Bucket).code,
                S3Code::MalformedXML,
                "{bad}"
            );
        }
    }

    fn set(tags: &[(String, String)]) -> String {
        s(tagging(tags))
    }

    #[test]
    fn tag_rules() {
        let key_msg = "The TagKey you have provided is invalid";
        let value_msg = "The TagValue you have provided is invalid";
        let one = |k: &str, v: &str| err(&set(&pairs(&[(k, v)])), TagTarget::Object);
        let ok = |k: &str, v: &str| {
            parse_tagging(set(&pairs(&[(k, v)])).as_bytes(), TagTarget::Object).map(|_| ())
        };
        // Lengths, in UTF-16 units: an astral character counts twice.
        assert_eq!(ok(&"k".repeat(128), &"v".repeat(256)), Ok(()));
        assert_eq!(ok(&"é".repeat(128), &"日".repeat(256)), Ok(()));
        assert_eq!(ok(&"𝒜".repeat(64), &"𝒜".repeat(128)), Ok(()));
        for (k, v, msg) in [
            ("", "v", key_msg),
            (&*"k".repeat(129), "v", key_msg),
            (&*"𝒜".repeat(65), "v", key_msg),
            ("k", &*"v".repeat(257), value_msg),
            ("k", &*"𝒜".repeat(129), value_msg),
            // Outside the alphabet.
            ("k?", "v", key_msg),
            ("ke&y", "v", key_msg),
            ("k*", "v", key_msg),
            ("k\t", "v", key_msg),
            ("k\n", "v", key_msg),
            ("k\u{1}", "v", key_msg),
            ("k", "v#", value_msg),
            ("platform", "metal,openstackbaremetal", value_msg),
            ("k", "v$", value_msg),
            ("k", "(v)", value_msg),
            ("k", "v\r", value_msg),
            ("aws:k", "v", "Your TagKey cannot be prefixed with aws:"),
        ] {
            let e = one(k, v);
            assert_eq!(e.code, S3Code::InvalidTag, "{k:?}={v:?}");
            assert_eq!(e.message, msg, "{k:?}={v:?}");
            assert_eq!(e.status().as_u16(), 400);
        }
        // Only the exact reserved prefix.
        assert_eq!(ok("aws", "v"), Ok(()));
        assert_eq!(ok("AWS:k", "v"), Ok(()));
        assert_eq!(ok("x-aws:k", "aws:v"), Ok(()));
        let e = err(
            &set(&pairs(&[("a", "1"), ("b", "2"), ("a", "3")])),
            TagTarget::Object,
        );
        assert_eq!(e.code, S3Code::InvalidTag);
        assert_eq!(e.message, "Cannot provide multiple Tags with the same key");
        // Keys are case-sensitive.
        assert!(parse_tagging(
            set(&pairs(&[("a", "1"), ("A", "2")])).as_bytes(),
            TagTarget::Object
        )
        .is_ok());
    }

    fn numbered(n: usize) -> Vec<(String, String)> {
        (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect()
    }

    #[test]
    fn counts() {
        assert_eq!(
            parse_tagging(set(&numbered(10)).as_bytes(), TagTarget::Object).map(|t| t.len()),
            Ok(10)
        );
        let e = err(&set(&numbered(11)), TagTarget::Object);
        assert_eq!(
            (e.code, e.message.as_str()),
            (S3Code::BadRequest, "Object tags cannot be greater than 10")
        );
        assert_eq!(e.status().as_u16(), 400);
        assert_eq!(
            parse_tagging(set(&numbered(50)).as_bytes(), TagTarget::Bucket).map(|t| t.len()),
            Ok(50)
        );
        let e = err(&set(&numbered(51)), TagTarget::Bucket);
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                S3Code::BadRequest,
                "Bucket tag count cannot be greater than 50"
            )
        );
        // Tag faults anywhere in the set outrank its size.
        let mut tags = numbered(60);
        tags[55].0 = "aws:x".into();
        assert_eq!(err(&set(&tags), TagTarget::Bucket).code, S3Code::InvalidTag);
        let mut tags = numbered(60);
        tags[59].0 = "k0".into();
        assert_eq!(err(&set(&tags), TagTarget::Bucket).code, S3Code::InvalidTag);
        // And in set order: the bad value at 2 before the duplicate at 3.
        let tags = pairs(&[("a", "1"), ("b", "2"), ("c", "bad?"), ("a", "4")]);
        assert_eq!(
            err(&set(&tags), TagTarget::Object).message,
            "The TagValue you have provided is invalid"
        );
    }

    #[test]
    fn header_forms() {
        let h = |v: &str| parse_tagging_header(v);
        assert_eq!(h(""), Ok(vec![]));
        assert_eq!(h("&"), Ok(vec![]));
        assert_eq!(h("&&&"), Ok(vec![]));
        assert_eq!(h("key"), Ok(pairs(&[("key", "")])));
        assert_eq!(h("key&"), Ok(pairs(&[("key", "")])));
        assert_eq!(h("key=&"), Ok(pairs(&[("key", "")])));
        assert_eq!(h("key1&key2=v"), Ok(pairs(&[("key1", ""), ("key2", "v")])));
        assert_eq!(h("key@=val@"), Ok(pairs(&[("key@", "val@")])));
        // Order kept; percent escapes and `+` decoded.
        assert_eq!(
            h("b=2&a=1&Project=Project+One&x%3Dy=a%2Bb%3Ac&%C3%A9t%C3%A9=%E6%97%A5%20n"),
            Ok(pairs(&[
                ("b", "2"),
                ("a", "1"),
                ("Project", "Project One"),
                ("x=y", "a+b:c"),
                ("été", "日 n"),
            ]))
        );
        assert_eq!(h("k=%2b%2F"), Ok(pairs(&[("k", "+/")])));
    }

    #[test]
    fn header_errors() {
        let arg = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.";
        for bad in [
            "=",
            "=v",
            "a=1&=2",
            "key%",
            "key%4",
            "key%zz=v",
            "k=%+1",
            "k=%ff%fe",
            "a=b=c",
            "TagSet=[{Key=string,Value=string}]",
            "key=val&key=val",
            "a=&a=",
            "a=1&b=2&a=3",
            "a%20b=1&a+b=2",
        ] {
            let e = header_err(bad);
            assert_eq!(
                (e.code, e.message.as_str()),
                (S3Code::InvalidArgument, arg),
                "{bad}"
            );
        }
        for (bad, msg) in [
            ("key?=val", "The TagKey you have provided is invalid"),
            ("key!=val", "The TagKey you have provided is invalid"),
            ("%09=v", "The TagKey you have provided is invalid"),
            ("key=val*", "The TagValue you have provided is invalid"),
            ("key=val%23", "The TagValue you have provided is invalid"),
            // aws-cli#2841: one key holding `[{,}]`.
            (
                "TagSet%3D%5B%7BKey%3Dstring%2CValue%3Dstring%7D%5D",
                "The TagKey you have provided is invalid",
            ),
            ("aws%3Ax=1", "Your TagKey cannot be prefixed with aws:"),
        ] {
            let e = header_err(bad);
            assert_eq!(
                (e.code, e.message.as_str()),
                (S3Code::InvalidTag, msg),
                "{bad}"
            );
        }
        let k = "k".repeat(128);
        assert!(parse_tagging_header(&format!("{k}={}", "v".repeat(256))).is_ok());
        assert_eq!(header_err(&format!("{k}k=v")).code, S3Code::InvalidTag);
        let ten: Vec<String> = (0..10).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            parse_tagging_header(&ten.join("&")).map(|t| t.len()),
            Ok(10)
        );
        let e = header_err(&format!("{}&k10=v", ten.join("&")));
        assert_eq!(
            (e.code, e.message.as_str()),
            (S3Code::InvalidTag, "Object tags cannot be greater than 10")
        );
    }

    #[test]
    fn header_and_document_agree() {
        let tags = pairs(&[
            ("Project", "Project One"),
            ("été", "日 n"),
            ("a/b", "c:d=e"),
        ]);
        let header: Vec<String> = tags
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    crate::s3::xml::s3_url_encode(k),
                    crate::s3::xml::s3_url_encode(v).replace('=', "%3D")
                )
            })
            .collect();
        let from_header = parse_tagging_header(&header.join("&")).unwrap();
        assert_eq!(from_header, tags);
        assert_eq!(
            parse_tagging(&tagging(&from_header), TagTarget::Object),
            Ok(tags)
        );
    }

    #[test]
    fn parsers_never_panic_on_fuzz() {
        let base = "<Tagging><TagSet><Tag><Key>k&amp;</Key><Value>é</Value></Tag><Tag><Key>a</Key><Value/></Tag></TagSet></Tagging>".as_bytes().to_vec();
        let header = "a=b&c%20d=%C3%A9&e".as_bytes().to_vec();
        let mut seed = 0xD1B5_4A32_D192_ED03u64;
        for _ in 0..5000 {
            let mut b = base.clone();
            let mut h = header.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
                let j = (seed >> 8) as usize % h.len();
                h[j] = (seed >> 40) as u8;
            }
            let _ = parse_tagging(&b, TagTarget::Object);
            b.truncate((seed as usize) % (b.len() + 1));
            let _ = parse_tagging(&b, TagTarget::Bucket);
            let _ = parse_tagging_header(&String::from_utf8_lossy(&h));
        }
    }
}
