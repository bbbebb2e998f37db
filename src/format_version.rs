//! Format versions of what cairn keeps on its drives (docs/ARCHITECTURE.md,
//! "On disk"). Every payload says which format it was written in; a reader
//! takes every format up to its own and refuses a newer one with
//! [`NewerFormat`], never calling it corrupt: a file a newer cairn wrote is
//! not damaged, and treating it as damage would drop or overwrite it.
//!
//! JSON files carry their format as a top-level `"format"` member. Files
//! written before it existed have none, which means format 1: what they
//! hold is exactly format 1.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The member of a JSON document that names its format.
pub const JSON_MEMBER: &str = "format";

/// A payload written in a format newer than this binary reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} was written by a newer cairn: format {found}, this binary reads up to {known}; \
     run that version or later"
)]
pub struct NewerFormat {
    /// What was being read ("record", "iam.state", ...).
    pub what: &'static str,
    pub found: u32,
    pub known: u32,
}

impl NewerFormat {
    /// `Err` when `found` is above `known`.
    pub fn check(what: &'static str, found: u32, known: u32) -> Result<(), NewerFormat> {
        if found > known {
            Err(NewerFormat { what, found, known })
        } else {
            Ok(())
        }
    }
}

/// Why a versioned JSON document did not decode.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error(transparent)]
    Newer(#[from] NewerFormat),
    #[error("{what}: {source}")]
    Malformed {
        what: &'static str,
        source: serde_json::Error,
    },
}

/// Only the format member: read first, so that a document a newer cairn
/// wrote is refused as newer even when the rest no longer parses as ours.
#[derive(Deserialize)]
struct Probe {
    #[serde(default = "first_format")]
    format: u32,
}

fn first_format() -> u32 {
    1
}

/// The format of a JSON document (absent: 1), refused when above `known`.
pub fn json_format(what: &'static str, bytes: &[u8], known: u32) -> Result<u32, JsonError> {
    let malformed = |source| JsonError::Malformed { what, source };
    // An object, not the array form serde would also take for a struct.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(malformed(serde::de::Error::custom("not a JSON object")));
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(malformed)?;
    if probe.format == 0 {
        return Err(malformed(serde::de::Error::custom(
            "format 0 does not exist",
        )));
    }
    NewerFormat::check(what, probe.format, known)?;
    Ok(probe.format)
}

/// Decodes a JSON document of format up to `known`: its format and value.
/// The value's own type ignores the format member.
pub fn decode_json<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    known: u32,
) -> Result<(u32, T), JsonError> {
    let format = json_format(what, bytes, known)?;
    let value =
        serde_json::from_slice(bytes).map_err(|source| JsonError::Malformed { what, source })?;
    Ok((format, value))
}

/// A value with the format member in front of its own members.
#[derive(Serialize)]
struct Versioned<'a, T> {
    format: u32,
    #[serde(flatten)]
    value: &'a T,
}

/// Encodes `value` (a JSON object) with `"format": format` first.
pub fn encode_json<T: Serialize>(
    format: u32,
    value: &T,
    pretty: bool,
) -> serde_json::Result<Vec<u8>> {
    let v = Versioned { format, value };
    if pretty {
        serde_json::to_vec_pretty(&v)
    } else {
        serde_json::to_vec(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Doc {
        name: String,
    }

    #[test]
    fn a_document_without_a_format_is_format_1() {
        let (f, d): (u32, Doc) = decode_json("doc", br#"{"name":"a"}"#, 1).unwrap();
        assert_eq!((f, d.name.as_str()), (1, "a"));
    }

    #[test]
    fn encoded_documents_name_their_format_first_and_decode_back() {
        let doc = Doc { name: "a".into() };
        let b = encode_json(2, &doc, false).unwrap();
        assert_eq!(b, br#"{"format":2,"name":"a"}"#);
        assert_eq!(decode_json::<Doc>("doc", &b, 2).unwrap(), (2, doc));
    }

    #[test]
    fn a_newer_format_is_refused_as_newer_even_when_the_rest_does_not_parse() {
        let e = decode_json::<Doc>("doc", br#"{"format":3,"renamed":1}"#, 2).unwrap_err();
        match e {
            JsonError::Newer(n) => {
                assert_eq!((n.found, n.known), (3, 2));
                assert_eq!(
                    n.to_string(),
                    "doc was written by a newer cairn: format 3, this binary reads up to 2; \
                     run that version or later"
                );
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn format_0_and_non_objects_are_malformed() {
        for bad in [
            &br#"{"format":0,"name":"a"}"#[..],
            b"[]",
            b"{",
            br#"{"format":"x"}"#,
        ] {
            assert!(
                matches!(json_format("doc", bad, 5), Err(JsonError::Malformed { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
