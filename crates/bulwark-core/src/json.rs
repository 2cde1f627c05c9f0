//! JSON as Bulwark judges it: every object key once, and no deeper than the parser reads.
//!
//! Threat answered: a parser differential. With `{"namespace":"kube-system","namespace":"payments"}`
//! one parser keeps the last value and another the first, so a guard that judges one value can
//! forward a body whose consumer acts on the other; and a body nested deeper than the parser
//! follows (fewer than 128 levels) hides what lies below from the guard, not from a consumer with a deeper
//! limit. Every body Bulwark judges (intents, API requests, webhook payloads) is refused in both
//! cases, by one walk. Places are written as serde paths are: `.` for the document,
//! `alerts[0].labels` below it.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Why a JSON text cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unjudgeable {
    /// An object repeats a key.
    #[error("`{}`: {}", self.path(), self.what())]
    DuplicateKey {
        /// Where the object is: `.`, `labels`, `alerts[0].labels`.
        path: String,
        /// The repeated key.
        key: String,
    },
    /// Nested deeper than the parser follows.
    #[error("`.`: {}", self.what())]
    TooDeep,
}

impl Unjudgeable {
    /// Where: the object with the repeated key, or `.` (the document).
    pub fn path(&self) -> &str {
        match self {
            Unjudgeable::DuplicateKey { path, .. } if !path.is_empty() => path,
            _ => ".",
        }
    }

    /// What is wrong, without the place, and what to do.
    pub fn what(&self) -> String {
        match self {
            Unjudgeable::DuplicateKey { key, .. } => format!(
                "duplicate key {key:?} in one object (parsers disagree on which value counts): send each key once"
            ),
            Unjudgeable::TooDeep => "the JSON nests 128 levels deep or more, past what the parser follows: what lies deeper cannot be judged, so it is refused".into(),
        }
    }
}

/// Check that no object in `bytes` repeats a key and that the parser reads all of it (fewer than 128
/// levels deep). Text that is otherwise not JSON passes: parsing it is the caller's business, and
/// its error says more.
pub fn check_unique_keys(bytes: &[u8]) -> Result<(), Unjudgeable> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut found = None;
    let walked = Walk {
        path: String::new(),
        found: &mut found,
    }
    .deserialize(&mut de);
    match (found, walked) {
        (Some(d), _) => Err(d),
        (None, Err(e)) if e.to_string().contains("recursion limit exceeded") => {
            Err(Unjudgeable::TooDeep)
        }
        (None, _) => Ok(()),
    }
}

/// Whether `bytes` opens a JSON object (`{` after any blanks). Bodies Bulwark reads into named
/// fields must: serde would otherwise read an array positionally, into the same fields.
pub fn opens_object(bytes: &[u8]) -> bool {
    opening(bytes) == Some(b'{')
}

/// The first byte of `bytes` after any blanks: what the text opens with (`{`, `[`, ...).
pub fn opening(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Walks one value, recording the first duplicate key in `found`.
struct Walk<'f> {
    path: String,
    found: &'f mut Option<Unjudgeable>,
}

/// Stops the walk once a duplicate is recorded.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("duplicate key")
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{i}]", self.path),
                found: &mut *self.found,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                *self.found = Some(Unjudgeable::DuplicateKey {
                    path: self.path,
                    key,
                });
                return Err(serde::de::Error::custom(Stop));
            }
            let path = if self.path.is_empty() {
                key
            } else {
                format!("{}.{key}", self.path)
            };
            map.next_value_seed(Walk {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_found_at_any_depth() {
        let e = check_unique_keys(br#"{"namespace":"kube-system","namespace":"payments-eu"}"#)
            .unwrap_err();
        assert_eq!(
            e,
            Unjudgeable::DuplicateKey {
                path: String::new(),
                key: "namespace".into()
            }
        );
        assert!(
            e.to_string()
                .starts_with("`.`: duplicate key \"namespace\""),
            "{e}"
        );
        let e = check_unique_keys(
            br#"{"alerts":[{"labels":{"a":1}},{"labels":{"a":1,"b":{"c":[],"c":[]}}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path(), "alerts[1].labels.b");
        // Escapes are read: "a" and "\u0061" are one key.
        assert!(check_unique_keys(br#"{"a":1,"\u0061":2}"#).is_err());
    }

    #[test]
    fn distinct_keys_and_non_json_pass() {
        assert!(check_unique_keys(br#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#).is_ok());
        assert!(check_unique_keys(b"not json at all").is_ok());
        assert!(check_unique_keys(b"").is_ok());
        // Deep nesting stops at the parser's recursion limit, without a panic, and is refused:
        // a key repeated below it could not be seen.
        let deep = format!("{}{{\"a\":1,\"a\":2}}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            check_unique_keys(deep.as_bytes()),
            Err(Unjudgeable::TooDeep)
        );
        let fine = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(check_unique_keys(fine.as_bytes()).is_ok());
    }
}
