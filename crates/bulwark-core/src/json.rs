//! JSON as Bulwark judges it: every object key once.
//!
//! Threat answered: a parser differential. With `{"namespace":"kube-system","namespace":"payments"}`
//! one parser keeps the last value and another the first, so a guard that judges one value can
//! forward a body whose consumer acts on the other. Every body Bulwark judges (intents, API
//! requests, webhook payloads) is refused when an object repeats a key.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// An object that repeats a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {}", self.what())]
pub struct DuplicateKey {
    /// Where the object is: `$`, `$.labels`, `$.alerts[0].labels`.
    pub path: String,
    /// The repeated key.
    pub key: String,
}

impl DuplicateKey {
    /// What is wrong, without the place: the key, and what to do.
    pub fn what(&self) -> String {
        format!(
            "duplicate key {:?} in one object (parsers disagree on which value counts): send each key once",
            self.key
        )
    }
}

/// Check that no object in `bytes` repeats a key. Text that is not JSON passes: parsing it is the
/// caller's business, and its error says more.
pub fn check_unique_keys(bytes: &[u8]) -> Result<(), DuplicateKey> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut found = None;
    let _ = Walk {
        path: "$".into(),
        found: &mut found,
    }
    .deserialize(&mut de);
    match found {
        Some(d) => Err(d),
        None => Ok(()),
    }
}

/// Whether `bytes` is JSON nested deeper than the parser follows (128 levels). Such a body cannot be
/// judged here (its keys are not checked, its strings not scanned), while a consumer with a deeper
/// limit would read it: callers refuse it.
pub fn too_deep(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(_) => false,
        Err(e) => e.to_string().contains("recursion limit exceeded"),
    }
}

/// Walks one value, recording the first duplicate key in `found`.
struct Walk<'f> {
    path: String,
    found: &'f mut Option<DuplicateKey>,
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
                *self.found = Some(DuplicateKey {
                    path: self.path,
                    key,
                });
                return Err(serde::de::Error::custom(Stop));
            }
            let path = format!("{}.{key}", self.path);
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
        assert_eq!((e.path.as_str(), e.key.as_str()), ("$", "namespace"));
        let e = check_unique_keys(
            br#"{"alerts":[{"labels":{"a":1}},{"labels":{"a":1,"b":{"c":[],"c":[]}}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "$.alerts[1].labels.b");
        // Escapes are read: "a" and "\u0061" are one key.
        assert!(check_unique_keys(br#"{"a":1,"\u0061":2}"#).is_err());
    }

    #[test]
    fn distinct_keys_and_non_json_pass() {
        assert!(check_unique_keys(br#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#).is_ok());
        assert!(check_unique_keys(b"not json at all").is_ok());
        assert!(check_unique_keys(b"").is_ok());
        // Deep nesting stops at the parser's recursion limit, without a panic, and is reported.
        let deep = format!("{}{{\"a\":1,\"a\":2}}{}", "[".repeat(200), "]".repeat(200));
        assert!(too_deep(deep.as_bytes()));
        assert!(!too_deep(br#"[[{"a":1}]]"#) && !too_deep(b"not json"));
    }
}
