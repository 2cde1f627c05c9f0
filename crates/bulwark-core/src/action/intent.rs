//! `ExecutionIntent`: what an agent asks to do, as strict, bounded JSON, and its digest.
//!
//! Threat answered: an intent shaped to be read one way by Bulwark and another by the tool that
//! runs it. Unknown fields and duplicate keys are rejected (a parser that keeps the first duplicate
//! and one that keeps the last would see different intents), sizes and nesting are bounded, and the
//! digest is the SHA-256 of the RFC 8785 canonical form, so two encodings of one intent have one
//! digest and any change in meaning changes it.
//!
//! RFC 8785 writes every number as an IEEE 754 double, so numbers are held to what a double keeps
//! exactly: an integer outside ±(2^53 − 1) (`1152921504606846977` would be digested as
//! `1152921504606847000`, the digest of another message id), a whole number written as a fraction,
//! with an exponent or as `-0` (`1.0`, `1e3`: digested as `1`, `1000`), and a fraction with more
//! digits than its double keeps (`0.10000000000000000001`: digested as `0.1`) are refused, naming
//! the field; such values travel as strings. So equal digests mean equal intents, and the number an
//! approver is shown is the number that was sent.

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
/// The JSON Schema pattern of a name [`ExecutionIntent::check`] requires: not blank, no control
/// characters. (Its byte bound cannot be said in JSON Schema, which counts characters.)
const REQUIRED_NAME: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";
/// The JSON Schema pattern of an optional name: no control characters.
const NAME: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
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
/// Largest integer magnitude accepted in an intent: 2^53 − 1. Every integer in ±(2^53 − 1) is an
/// exact IEEE 754 double (what RFC 8785, JavaScript and many JSON readers use); beyond it,
/// neighbouring integers share one.
pub const MAX_EXACT_INTEGER: u64 = (1 << 53) - 1;

/// What an agent asks to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecutionIntent {
    /// The tool that would run it: `kubectl`, `shell`, `write_file`, `aws`, ...
    #[schemars(pattern(REQUIRED_NAME))]
    pub tool: String,
    /// The tool's verb: `get`, `delete`, `scale`, `run`, ...
    #[schemars(pattern(REQUIRED_NAME))]
    pub action: String,
    /// What it acts on.
    #[serde(default)]
    pub target: Target,
    /// The tool's arguments (a JSON object; `command` holds a shell tool's command line, `path`,
    /// `file`, ... a file tool's paths).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, ArgValue>")]
    pub args: Args,
    /// Who asks: the agent, session or user on whose behalf it acts.
    #[schemars(pattern(REQUIRED_NAME))]
    pub requested_by: String,
    /// Where the request came from.
    #[serde(default)]
    pub source: IntentSource,
    /// Why, in the requester's words.
    #[serde(default)]
    pub reason: String,
}

/// The JSON Schema of a value in `args`: any JSON value whose numbers the digest keeps exactly
/// (integers within ±[`MAX_EXACT_INTEGER`], fractions that are not whole numbers). The depth,
/// count and string bounds are checked, not described.
struct ArgValue;

impl JsonSchema for ArgValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ArgValue".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let me = generator.subschema_for::<ArgValue>();
        schemars::json_schema!({
            "description": "A JSON value; a whole number is written as an integer within ±(2^53 - 1)",
            "anyOf": [
                {"type": ["string", "boolean", "null"]},
                {"type": "integer", "minimum": -(MAX_EXACT_INTEGER as i64), "maximum": MAX_EXACT_INTEGER},
                {"type": "number", "not": {"multipleOf": 1}},
                {"type": "array", "items": me},
                {"type": "object", "additionalProperties": me}
            ]
        })
    }
}

/// What an intent acts on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Target {
    /// Resource kind: `deployment`, `pod`, `file`, `instance`, ...
    #[schemars(pattern(NAME))]
    pub kind: String,
    /// Resource name.
    #[schemars(pattern(NAME))]
    pub name: String,
    /// Namespace (Kubernetes namespace, project, account alias): what tiers classify.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(NAME))]
    pub namespace: Option<String>,
    /// Cluster or account.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(NAME))]
    pub cluster: Option<String>,
    /// Labels the caller reports for the namespace: recorded in the digest, never used for the
    /// tier (tier labels come only from `[action.namespace_labels]` and its file).
    #[schemars(extend(
        "propertyNames" = {"pattern": REQUIRED_NAME},
        "additionalProperties" = {"type": "string", "pattern": NAME},
        "maxProperties" = MAX_LABELS
    ))]
    pub labels: BTreeMap<String, String>,
}

/// Where an intent came from.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IntentSource {
    /// The alert that prompted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(NAME))]
    pub alert_id: Option<String>,
    /// The agent session.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(NAME))]
    pub session: Option<String>,
    /// The chat channel or other input channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(NAME))]
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
        crate::json::check_unique_keys(bytes).map_err(|e| IntentError::new(e.path(), e.what()))?;
        if !crate::json::opens_object(bytes) {
            return Err(IntentError::new(".", "expected a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let intent: ExecutionIntent = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            IntentError::new(&path, e.inner().to_string())
        })?;
        de.end()
            .map_err(|e| IntentError::new(".", format!("trailing data after the intent: {e}")))?;
        intent.check()?;
        // The values are held exactly; now the text they came from must say no more than they do.
        NumberTexts { b: bytes, i: 0 }.value("")?;
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

    /// The RFC 8785 canonical JSON of the intent. Refused when a number in `args` would not keep
    /// its value there (see the module documentation), so no two different intents share it.
    pub fn canonical(&self) -> Result<Vec<u8>, IntentError> {
        for (k, v) in &self.args.0 {
            check_numbers(&format!("args.{k}"), v)?;
        }
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
        serde_json::Value::Number(n) => check_number(field, n),
        _ => Ok(()),
    }
}

/// [`check_number`] over every number in `v` (for [`ExecutionIntent::canonical`]).
fn check_numbers(field: &str, v: &serde_json::Value) -> Result<(), IntentError> {
    match v {
        serde_json::Value::Number(n) => check_number(field, n),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_numbers(&format!("{field}[{i}]"), item)),
        serde_json::Value::Object(map) => map
            .iter()
            .try_for_each(|(k, item)| check_numbers(&format!("{field}.{k}"), item)),
        _ => Ok(()),
    }
}

/// A number the canonical form keeps exactly and tells from every other: an integer within
/// ±[`MAX_EXACT_INTEGER`], or a finite double that is not a whole number.
fn check_number(field: &str, n: &serde_json::Number) -> Result<(), IntentError> {
    let too_big = |shown: &str| {
        IntentError::new(
            field,
            format!(
                "{shown} is outside ±{MAX_EXACT_INTEGER} (2^53 - 1): the digest (RFC 8785, IEEE 754 \
                 doubles) would round it and match other numbers; send it as a string (\"{shown}\")"
            ),
        )
    };
    if let Some(u) = n.as_u64() {
        return if u > MAX_EXACT_INTEGER {
            Err(too_big(&u.to_string()))
        } else {
            Ok(())
        };
    }
    if let Some(i) = n.as_i64() {
        return if i.unsigned_abs() > MAX_EXACT_INTEGER {
            Err(too_big(&i.to_string()))
        } else {
            Ok(())
        };
    }
    let Some(f) = n.as_f64().filter(|f| f.is_finite()) else {
        return Err(IntentError::new(
            field,
            "not a finite number: send a number or a string",
        ));
    };
    if f.fract() != 0.0 {
        return Ok(());
    }
    // A whole number held as a double: written as `1.0`, `1e3` or `-0`, or too large for u64.
    if f.abs() > MAX_EXACT_INTEGER as f64 {
        return Err(too_big(&n.to_string()));
    }
    let whole = f as i64;
    Err(IntentError::new(
        field,
        format!(
            "{n} is a whole number written as a fraction, with an exponent or as -0, which the \
             digest cannot tell from {whole}: write it as the integer {whole}"
        ),
    ))
}

/// Walks the text of a parsed (so valid and bounded) intent document and checks that each number
/// says exactly what the digest keeps: `0.10000000000000000001` parses to the double `0.1`, so the
/// digest (and the approver) would see `0.1` while a reader with more precision would not.
struct NumberTexts<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> NumberTexts<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn malformed(&self) -> IntentError {
        IntentError::new(".", format!("unexpected text at byte {}", self.i))
    }

    fn eat(&mut self, c: u8) -> Result<(), IntentError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.malformed())
        }
    }

    /// A string token, quotes included.
    fn string(&mut self) -> Result<&'a [u8], IntentError> {
        self.ws();
        let start = self.i;
        self.eat(b'"')?;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(&self.b[start..self.i]);
                }
                Some(b'\\') => self.i += 2,
                Some(_) => self.i += 1,
                None => return Err(self.malformed()),
            }
        }
    }

    fn value(&mut self, path: &str) -> Result<(), IntentError> {
        let join = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    let raw = self.string()?;
                    let key: String = serde_json::from_slice(raw)
                        .map_err(|e| IntentError::new(path, e.to_string()))?;
                    self.eat(b':')?;
                    self.value(&join(&key))?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(self.malformed()),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                let mut n = 0usize;
                loop {
                    self.value(&format!("{path}[{n}]"))?;
                    n += 1;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(self.malformed()),
                    }
                }
            }
            Some(b'"') => self.string().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.i += 1;
                }
                let text =
                    std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.malformed())?;
                check_number_text(path, text)
            }
            Some(b't' | b'f' | b'n') => {
                while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                    self.i += 1;
                }
                Ok(())
            }
            _ => Err(self.malformed()),
        }
    }
}

/// Refuse a number whose text denotes another value than the one the digest keeps.
fn check_number_text(field: &str, text: &str) -> Result<(), IntentError> {
    let kept = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_jcs::to_string(&v).ok());
    match kept {
        Some(kept) if decimal(text).is_some() && decimal(text) == decimal(&kept) => Ok(()),
        Some(kept) => Err(IntentError::new(
            field,
            format!(
                "{text} has more digits than the IEEE 754 double the digest keeps (it would be \
                 digested, and shown to approvers, as {kept}): write {kept}, or send the exact \
                 value as a string"
            ),
        )),
        None => Err(IntentError::new(
            field,
            format!("{text} is not a number the digest can hold: send it as a string"),
        )),
    }
}

/// A JSON number's exact value as (negative, significant digits, exponent): value = digits × 10^exp,
/// digits without leading or trailing zeros (zero is `(false, "", 0)`). `None` if out of reach.
fn decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(p) => (&rest[..p], rest[p + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let lead = digits.trim_start_matches('0');
    let sig = lead.trim_end_matches('0');
    if sig.is_empty() {
        return Some((false, String::new(), 0));
    }
    let exp = exp
        .checked_sub(i64::try_from(frac.len()).ok()?)?
        .checked_add(i64::try_from(lead.len() - sig.len()).ok()?)?;
    Some((negative, sig.to_string(), exp))
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
mod tests;
