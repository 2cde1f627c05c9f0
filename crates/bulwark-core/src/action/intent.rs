//! `ExecutionIntent`: what an agent asks to do, as strict, bounded JSON, and its digest.
//!
//! Threat answered: an intent shaped to be read one way by Bulwark and another by the tool that
//! runs it. Unknown fields and duplicate keys are rejected (a parser that keeps the first duplicate
//! and one that keeps the last would see different intents), sizes and nesting are bounded, and the
//! digest is the SHA-256 of the RFC 8785 canonical form, so two encodings of one intent have one
//! digest and any change in meaning changes it.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

/// Largest intent document, in bytes.
pub const MAX_INTENT_BYTES: usize = 64 * 1024;
/// Longest name field (`tool`, `action`, target fields, `requested_by`, source fields, labels).
pub const MAX_NAME_BYTES: usize = 256;
/// Longest `reason`.
pub const MAX_REASON_BYTES: usize = 4096;
/// Longest string inside `args` (a command line, a file's content).
pub const MAX_ARG_STRING_BYTES: usize = 16 * 1024;
/// Deepest nesting inside `args`.
pub const MAX_ARGS_DEPTH: usize = 8;
/// Most values (members and elements, all levels) inside `args`.
pub const MAX_ARGS_VALUES: usize = 1024;
/// Most labels on a target.
pub const MAX_LABELS: usize = 64;

/// What an agent asks to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionIntent {
    /// The tool that would run it: `kubectl`, `shell`, `write_file`, `aws`, ...
    pub tool: String,
    /// The tool's verb: `get`, `delete`, `scale`, `run`, ...
    pub action: String,
    /// What it acts on.
    #[serde(default)]
    pub target: Target,
    /// The tool's arguments (a JSON object; `command` holds a shell tool's command line, `path`,
    /// `file`, ... a file tool's paths).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub args: Args,
    /// Who asks: the agent, session or user on whose behalf it acts.
    pub requested_by: String,
    /// Where the request came from.
    #[serde(default)]
    pub source: IntentSource,
    /// Why, in the requester's words.
    #[serde(default)]
    pub reason: String,
}

/// What an intent acts on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Target {
    /// Resource kind: `deployment`, `pod`, `file`, `instance`, ...
    pub kind: String,
    /// Resource name.
    pub name: String,
    /// Namespace (Kubernetes namespace, project, account alias): what tiers classify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Cluster or account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The namespace's labels, as a cluster admin set them.
    pub labels: BTreeMap<String, String>,
}

/// Where an intent came from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IntentSource {
    /// The alert that prompted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<String>,
    /// The agent session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The chat channel or other input channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// An intent's arguments: a JSON object without duplicate keys, bounded in depth and size.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Args(pub serde_json::Map<String, serde_json::Value>);

impl Args {
    /// The string argument `key`, if there is one.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.as_str())
    }
}

/// Why an intent was refused before any policy looked at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("intent: `{field}`: {message}")]
pub struct IntentError {
    /// The field at fault (`args.command`, `target.labels`, ... or `.` for the document).
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl IntentError {
    fn new(field: &str, message: impl Into<String>) -> IntentError {
        IntentError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The SHA-256 of an intent's RFC 8785 canonical JSON, as 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct IntentDigest(String);

impl IntentDigest {
    /// Parse what an approver typed: 64 hex digits, optionally prefixed `sha256:`.
    pub fn parse(s: &str) -> Result<IntentDigest, IntentError> {
        let hex = s.trim().strip_prefix("sha256:").unwrap_or(s.trim());
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IntentError::new(
                "digest",
                format!(
                    "{s:?} is not a digest: expected 64 hex digits (as `bulwark approvals show` prints)"
                ),
            ));
        }
        Ok(IntentDigest(hex.to_ascii_lowercase()))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Equal in constant time (digests are compared where an attacker chooses one side).
    pub fn ct_eq(&self, other: &IntentDigest) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Display for IntentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ExecutionIntent {
    /// Parse and check an intent document. Errors name the field and what was expected.
    pub fn from_json(bytes: &[u8]) -> Result<ExecutionIntent, IntentError> {
        if bytes.len() > MAX_INTENT_BYTES {
            return Err(IntentError::new(
                ".",
                format!(
                    "the document is {} bytes: at most {MAX_INTENT_BYTES} are accepted",
                    bytes.len()
                ),
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let intent: ExecutionIntent = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            IntentError::new(&path, e.inner().to_string())
        })?;
        de.end()
            .map_err(|e| IntentError::new(".", format!("trailing data after the intent: {e}")))?;
        intent.check()?;
        Ok(intent)
    }

    /// Check bounds and required fields of an intent built in code.
    pub fn check(&self) -> Result<(), IntentError> {
        let name = |field: &str, v: &str, required: bool| -> Result<(), IntentError> {
            if required && v.trim().is_empty() {
                return Err(IntentError::new(field, "must not be empty"));
            }
            if v.len() > MAX_NAME_BYTES {
                return Err(IntentError::new(
                    field,
                    format!("{} bytes: at most {MAX_NAME_BYTES}", v.len()),
                ));
            }
            if v.chars().any(|c| c.is_control()) {
                return Err(IntentError::new(
                    field,
                    "control characters are not allowed",
                ));
            }
            Ok(())
        };
        name("tool", &self.tool, true)?;
        name("action", &self.action, true)?;
        name("requested_by", &self.requested_by, true)?;
        name("target.kind", &self.target.kind, false)?;
        name("target.name", &self.target.name, false)?;
        if let Some(n) = &self.target.namespace {
            name("target.namespace", n, false)?;
        }
        if let Some(c) = &self.target.cluster {
            name("target.cluster", c, false)?;
        }
        if self.target.labels.len() > MAX_LABELS {
            return Err(IntentError::new(
                "target.labels",
                format!("{} labels: at most {MAX_LABELS}", self.target.labels.len()),
            ));
        }
        for (k, v) in &self.target.labels {
            name(&format!("target.labels.{k}"), k, true)?;
            name(&format!("target.labels.{k}"), v, false)?;
        }
        for (field, v) in [
            ("source.alert_id", &self.source.alert_id),
            ("source.session", &self.source.session),
            ("source.channel", &self.source.channel),
        ] {
            if let Some(v) = v {
                name(field, v, false)?;
            }
        }
        if self.reason.len() > MAX_REASON_BYTES {
            return Err(IntentError::new(
                "reason",
                format!("{} bytes: at most {MAX_REASON_BYTES}", self.reason.len()),
            ));
        }
        let mut budget = MAX_ARGS_VALUES;
        for (k, v) in &self.args.0 {
            check_value(&format!("args.{k}"), v, 1, &mut budget)?;
        }
        Ok(())
    }

    /// The RFC 8785 canonical JSON of the intent.
    pub fn canonical(&self) -> Result<Vec<u8>, IntentError> {
        serde_jcs::to_vec(self)
            .map_err(|e| IntentError::new(".", format!("cannot canonicalize: {e}")))
    }

    /// The SHA-256 of [`ExecutionIntent::canonical`].
    pub fn digest(&self) -> Result<IntentDigest, IntentError> {
        Ok(IntentDigest(hex::encode(Sha256::digest(self.canonical()?))))
    }

    /// `tool action kind/name in namespace@cluster`, for people and audit records.
    pub fn summary(&self) -> String {
        let mut s = format!("{} {}", self.tool, self.action);
        let t = &self.target;
        if !t.kind.is_empty() || !t.name.is_empty() {
            s.push(' ');
            match (t.kind.is_empty(), t.name.is_empty()) {
                (false, false) => s.push_str(&format!("{}/{}", t.kind, t.name)),
                (false, true) => s.push_str(&t.kind),
                _ => s.push_str(&t.name),
            }
        }
        if let Some(ns) = &t.namespace {
            s.push_str(&format!(" in {ns}"));
        }
        if let Some(c) = &t.cluster {
            s.push_str(&format!("@{c}"));
        }
        s
    }
}

fn check_value(
    field: &str,
    v: &serde_json::Value,
    depth: usize,
    budget: &mut usize,
) -> Result<(), IntentError> {
    if depth > MAX_ARGS_DEPTH {
        return Err(IntentError::new(
            field,
            format!("nested deeper than {MAX_ARGS_DEPTH} levels"),
        ));
    }
    if *budget == 0 {
        return Err(IntentError::new(
            field,
            format!("more than {MAX_ARGS_VALUES} values in args"),
        ));
    }
    *budget -= 1;
    match v {
        serde_json::Value::String(s) if s.len() > MAX_ARG_STRING_BYTES => Err(IntentError::new(
            field,
            format!("{} bytes: at most {MAX_ARG_STRING_BYTES}", s.len()),
        )),
        serde_json::Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            check_value(&format!("{field}[{i}]"), item, depth + 1, budget)
        }),
        serde_json::Value::Object(map) => map.iter().try_for_each(|(k, item)| {
            check_value(&format!("{field}.{k}"), item, depth + 1, budget)
        }),
        _ => Ok(()),
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Args, D::Error> {
        match (StrictValue { depth: 0 }).deserialize(d)? {
            serde_json::Value::Object(map) => Ok(Args(map)),
            _ => Err(serde::de::Error::custom("expected a JSON object")),
        }
    }
}

/// Builds a `serde_json::Value`, refusing duplicate object keys and nesting past the limit while
/// parsing (so a hostile document cannot exhaust the stack before [`ExecutionIntent::check`]).
struct StrictValue {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.depth > MAX_ARGS_DEPTH {
            return Err(serde::de::Error::custom(format!(
                "nested deeper than {MAX_ARGS_DEPTH} levels"
            )));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(v)
            .map(serde_json::Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue {
            depth: self.depth + 1,
        })? {
            out.push(v);
            if out.len() > MAX_ARGS_VALUES {
                return Err(serde::de::Error::custom(format!(
                    "more than {MAX_ARGS_VALUES} values in args"
                )));
            }
        }
        Ok(serde_json::Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key {key:?}: each key may appear once"
                )));
            }
            let v = map.next_value_seed(StrictValue {
                depth: self.depth + 1,
            })?;
            out.insert(key, v);
            if out.len() > MAX_ARGS_VALUES {
                return Err(serde::de::Error::custom(format!(
                    "more than {MAX_ARGS_VALUES} values in args"
                )));
            }
        }
        Ok(serde_json::Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ExecutionIntent, IntentError> {
        ExecutionIntent::from_json(s.as_bytes())
    }

    #[test]
    fn a_realistic_intent_parses_and_its_digest_ignores_encoding() {
        let a = parse(
            r#"{"tool":"kubectl","action":"scale","target":{"kind":"deployment","name":"api",
            "namespace":"payments-prod","labels":{"team":"pay"}},"args":{"replicas":0},
            "requested_by":"sre-copilot","source":{"alert_id":"A-1"},"reason":"alert"}"#,
        )
        .unwrap();
        let b = parse(
            r#"{"requested_by":"sre-copilot","reason":"alert","source":{"alert_id":"A-1"},
            "args":{"replicas":0},"tool":"kubectl","action":"scale","target":{"labels":{"team":"pay"},
            "namespace":"payments-prod","name":"api","kind":"deployment"}}"#,
        )
        .unwrap();
        assert_eq!(a.digest().unwrap(), b.digest().unwrap());
        let mut c = a.clone();
        c.args.0.insert("replicas".into(), 1.into());
        assert_ne!(a.digest().unwrap(), c.digest().unwrap());
        assert_eq!(a.summary(), "kubectl scale deployment/api in payments-prod");
    }

    #[test]
    fn hostile_intents_are_refused_naming_the_field() {
        let cases = [
            (
                r#"{"tool":"x","action":"get","requested_by":"a","extra":1}"#,
                "extra",
            ),
            (
                r#"{"tool":"x","action":"get","requested_by":"a","target":{"nmespace":"p"}}"#,
                "nmespace",
            ),
            (
                r#"{"tool":"x","action":"get","requested_by":"a","args":{"c":1,"c":2}}"#,
                "duplicate key",
            ),
            (r#"{"tool":"","action":"get","requested_by":"a"}"#, "tool"),
            (r#"{"tool":"x","action":"get"}"#, "requested_by"),
            (
                r#"{"tool":"x","action":"get","requested_by":"a","args":[1]}"#,
                "object",
            ),
            (
                r#"{"tool":"x","action":"get","requested_by":"a"} {}"#,
                "trailing",
            ),
            (
                r#"{"tool":"x\u0000","action":"get","requested_by":"a"}"#,
                "control",
            ),
        ];
        for (doc, needle) in cases {
            let e = parse(doc).expect_err(doc).to_string();
            assert!(e.contains(needle), "{doc}: {e}");
        }
        let deep = format!(
            r#"{{"tool":"x","action":"get","requested_by":"a","args":{{"a":{}1{}}}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(parse(&deep).unwrap_err().to_string().contains("deeper"));
        let big = format!(
            r#"{{"tool":"x","action":"get","requested_by":"a","args":{{"a":"{}"}}}}"#,
            "x".repeat(MAX_INTENT_BYTES)
        );
        assert!(parse(&big).unwrap_err().to_string().contains("bytes"));
        let long = format!(
            r#"{{"tool":"x","action":"get","requested_by":"a","args":{{"a":"{}"}}}}"#,
            "x".repeat(MAX_ARG_STRING_BYTES + 1)
        );
        assert!(parse(&long).unwrap_err().to_string().contains("args.a"));
    }

    #[test]
    fn digests_parse_with_or_without_prefix() {
        let d = "ab".repeat(32);
        assert_eq!(
            IntentDigest::parse(&format!("sha256:{d}"))
                .unwrap()
                .as_str(),
            d
        );
        assert!(IntentDigest::parse("abc").is_err());
        assert!(
            IntentDigest::parse(&d.to_uppercase())
                .unwrap()
                .ct_eq(&IntentDigest(d))
        );
    }
}
