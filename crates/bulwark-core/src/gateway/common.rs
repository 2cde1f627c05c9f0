//! What every provider API's exchange shares: the shape error, what preparing a request found,
//! and redacting texts and JSON values in place.

use serde_json::Value;

use super::placeholders::{Conversation, Placeholders, redact_text};
use super::restore::{Escape, restore};
use crate::finding::{Finding, Verdict};
use crate::scan::injection::Source;
use crate::scan::{Detectors, Scanner};

/// A body that is not the API's request: the parameter and what was expected, as the API's own
/// `invalid_request_error` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// The parameter, e.g. `messages[2].content`.
    pub param: String,
    /// What is wrong.
    pub message: String,
}

impl ShapeError {
    pub(super) fn new(param: impl Into<String>, message: impl Into<String>) -> ShapeError {
        ShapeError {
            param: param.into(),
            message: message.into(),
        }
    }

    /// The error body the Anthropic API answers with (status 400).
    pub fn anthropic_body(&self) -> Value {
        serde_json::json!({"type": "error", "error": {
            "type": "invalid_request_error",
            "message": format!("{}: {}", self.param, self.message),
        }})
    }

    /// The error body the OpenAI API answers with (status 400).
    pub fn body(&self) -> Value {
        serde_json::json!({"error": {
            "message": format!("{}: {}", self.param, self.message),
            "type": "invalid_request_error",
            "param": self.param,
            "code": null,
        }})
    }
}

/// A tool result judged for prompt injection.
#[derive(Debug, Clone)]
pub struct ToolResult {
    /// Index in `messages`.
    pub message: usize,
    /// The tool's name (from the assistant call it answers), or `unknown`.
    pub tool: String,
    /// The verdict of the injection detector, with the source the tool's name gives.
    pub verdict: Verdict,
    /// The injection score, 0 to 1.
    pub score: f32,
    /// The injection findings.
    pub findings: Vec<Finding>,
}

/// What [`prepare`] did to a request.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The `model` asked for.
    pub model: String,
    /// Whether the reply is a stream.
    pub stream: bool,
    /// Values replaced by placeholders the reply gets back.
    pub redacted: usize,
    /// Values replaced one-way (the conversation's map was full).
    pub redacted_one_way: usize,
    /// Secret and personal-data findings by rule id (counts; never values).
    pub rules: std::collections::BTreeMap<String, usize>,
    /// Every tool result, judged.
    pub tool_results: Vec<ToolResult>,
    /// The placeholders this request carries: what its reply may get back
    /// ([`Conversation::subset`]).
    pub placeholders: std::collections::BTreeSet<String>,
    /// Secret and personal-data values found (each occurrence).
    secrets: usize,
    pii: usize,
    /// The functions the request declares, with their schemas' argument names: a proposed
    /// call's intent is read only from arguments its function declares.
    pub declared: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    /// Where every piece of the context came from, for the provenance rules.
    pub provenance: crate::provenance::Provenance,
    /// Signed blocks seen, by where they are and their type, with the keys of the values they
    /// hold: checked by [`end`] against the whole request's values.
    signed: Vec<(String, String, Vec<[u8; 32]>)>,
}

pub(super) fn redact_into(
    s: &mut String,
    scanner: &Scanner,
    conv: &mut impl Placeholders,
    p: &mut Prepared,
) {
    let r = redact_text(scanner, Detectors::CONTENT, conv, s);
    if r.reversible + r.one_way == 0 {
        return;
    }
    p.redacted += r.reversible;
    p.redacted_one_way += r.one_way;
    p.placeholders.extend(r.placeholders);
    for f in &r.findings {
        *p.rules.entry(f.rule.clone()).or_insert(0) += 1;
        match f.kind {
            crate::finding::FindingKind::Secret => p.secrets += 1,
            _ => p.pii += 1,
        }
    }
    *s = r.text;
}

/// The start of preparing any API's request: the body as an object, and what preparing found so
/// far (its `model` and `stream`).
pub(super) fn begin(
    body: &mut Value,
) -> Result<(&mut serde_json::Map<String, Value>, Prepared), ShapeError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ShapeError::new("body", "expected a JSON object"));
    };
    let (model, stream) = model_and_stream(obj)?;
    Ok((
        obj,
        Prepared {
            model,
            stream,
            ..Prepared::default()
        },
    ))
}

/// A request's `model` (required, a non-empty string) and `stream` (a boolean, false when absent).
fn model_and_stream(obj: &serde_json::Map<String, Value>) -> Result<(String, bool), ShapeError> {
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => {
            return Err(ShapeError::new(
                "model",
                "expected the model's name, a string",
            ));
        }
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ShapeError::new("stream", "expected true or false")),
    };
    Ok((model, stream))
}

/// The text of a `content` value, as a reader sees it: the string, or the `text` of every part
/// or block, one per line.
pub(super) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Keys whose values are the protocol's structure, not text a model reads: a value that is one
/// of the protocol's words ([`is_word`]) passes untouched; anything else there (an id, a
/// name) is read like any other text, so a secret put in an id is redacted.
const STRUCTURAL: &[&str] = &[
    "role",
    "type",
    "id",
    "tool_call_id",
    "tool_use_id",
    "index",
    "media_type",
    "detail",
    "format",
    "file_id",
    "cache_control",
    "finish_reason",
    "stop_reason",
    "object",
    "model",
    "call_id",
    "item_id",
    "status",
    "previous_response_id",
];

/// Keys whose values are binary data (base64): passed as they are.
const BINARY: &[&str] = &["data", "file_data", "encrypted_content", "signature"];

/// The shortest base64 taken for binary data: shorter strings (where a key or a token fits) are
/// read as text.
const MIN_BINARY: usize = 256;

/// Keys whose string values are JSON text (tool-call arguments).
pub(super) const JSON_TEXT: &[&str] = &["arguments", "partial_json"];

/// Keys whose values are data a tool call carries (Anthropic's `input`, arguments sent as an
/// object): every key, string and number inside is the model's reading.
const DATA: &[&str] = &["input", "arguments"];

/// Block types the provider signs or encrypts (Anthropic's thinking, OpenAI's reasoning items):
/// passed as they are, both ways.
const SIGNED: &[&str] = &["thinking", "redacted_thinking", "reasoning"];

/// A signed block without its signature and opaque parts, for reading what it says.
fn strip_signed(v: &mut Value) {
    if let Value::Object(o) = v {
        for k in ["signature", "encrypted_content", "id", "type"] {
            o.remove(k);
        }
        // `redacted_thinking` carries only opaque data.
        if o.contains_key("data") && o.len() == 1 {
            o.remove("data");
        }
    }
}

fn is_signed(o: &serde_json::Map<String, Value>) -> bool {
    o.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| SIGNED.contains(&t))
}

/// Whether a string is inline binary data: a base64 `data:` URL (`data:image/png;base64,...`),
/// its header without spaces and its payload base64 only.
fn is_inline_data(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("data:") else {
        return false;
    };
    let Some(comma) = rest.get(..rest.len().min(256)).and_then(|h| h.find(',')) else {
        return false;
    };
    let header = &rest[..comma];
    header.ends_with(";base64")
        && !header.contains(char::is_whitespace)
        && is_base64(&rest[comma + 1..])
}

/// Whether a string is base64 (line breaks allowed) and at least [`MIN_BINARY`] long, as binary
/// data is carried: nothing a model reads as text.
fn is_base64(s: &str) -> bool {
    s.len() >= MIN_BINARY
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_' | b'\n' | b'\r')
        })
}

/// Whether a string is one of the protocol's words (`user`, `tool_use`, `gpt-4o-mini`,
/// `text/plain`): short, starting with a lowercase letter, then lowercase letters, digits and
/// `_ . : / -`. Ids with capitals, keys, e-mail addresses and numbers are not words.
fn is_word(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() <= 64
        && b.first().is_some_and(u8::is_ascii_lowercase)
        && b.iter().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'.' | b':' | b'/' | b'-')
        })
}

/// Whether an object key is a plain field name (`content`, `tool_call_id`), never redacted:
/// lowercase letters, digits and `_`, starting with a letter or `_`.
fn is_field_name(k: &str) -> bool {
    let b = k.as_bytes();
    b.len() <= 64
        && b.first()
            .is_some_and(|c| c.is_ascii_lowercase() || *c == b'_')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Whether the value at structural or binary key `k` passes untouched.
fn passes(k: &str, v: &Value) -> bool {
    match v {
        Value::String(s) if STRUCTURAL.contains(&k) => is_word(s),
        Value::String(s) if BINARY.contains(&k) => is_base64(s) || is_inline_data(s),
        // Numbers and booleans (`index`) carry no text.
        Value::Number(_) | Value::Bool(_) | Value::Null => STRUCTURAL.contains(&k),
        _ => false,
    }
}

/// Redact the keys of an object that are not plain field names (a key that is an e-mail
/// address, an account id, a customer's name, in `metadata`, a schema, an extra field).
fn redact_keys(
    o: &mut serde_json::Map<String, Value>,
    scanner: &Scanner,
    conv: &mut impl Placeholders,
    p: &mut Prepared,
) {
    if o.keys().all(|k| is_field_name(k)) {
        return;
    }
    let old = std::mem::take(o);
    for (mut k, x) in old {
        if !is_field_name(&k) {
            redact_into(&mut k, scanner, conv, p);
        }
        o.insert(k, x);
    }
}

/// Redact every text of a protocol object (a message, a content block) that a model reads: every
/// string, except the protocol's structure and binary data; tool-call arguments inside their JSON
/// ([`redact_data`]). `at` names the object in errors; it is only built when one is reported,
/// not for every key walked.
pub(super) fn redact_texts(
    v: &mut Value,
    at: &dyn Fn() -> String,
    scanner: &Scanner,
    conv: &mut impl Placeholders,
    p: &mut Prepared,
) -> Result<(), ShapeError> {
    match v {
        Value::String(s) if !is_inline_data(s) => redact_into(s, scanner, conv, p),
        Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                redact_texts(x, &|| format!("{}[{i}]", at()), scanner, conv, p)?;
            }
        }
        Value::Object(o) if is_signed(o) => {
            // Signed by the provider: changing it breaks it. It holds what the model thought over
            // redacted text, so placeholders, and what the model made up itself; one of the
            // agent's own values in it was put there, and is refused, not sent.
            // Which values it holds is known only once the whole request is read (a value may
            // come later in another message): [`end`] checks.
            let mut probe = Conversation::new(usize::MAX);
            let mut found = Prepared::default();
            let mut copy = Value::Object(o.clone());
            strip_signed(&mut copy);
            redact_texts(&mut copy, at, scanner, &mut probe, &mut found)?;
            // What it holds is private all the same: counted for the provenance rules.
            p.secrets += found.secrets;
            p.pii += found.pii;
            if found.redacted > 0 {
                let kind = o.get("type").and_then(Value::as_str).unwrap_or("thinking");
                p.signed.push((at(), kind.to_string(), probe.value_keys()));
            }
        }
        Value::Object(o) => {
            redact_keys(o, scanner, conv, p);
            for (k, x) in o.iter_mut() {
                if passes(k, x) {
                    continue;
                }
                let here = || format!("{}.{k}", at());
                match x {
                    Value::String(s) if JSON_TEXT.contains(&k.as_str()) => {
                        redact_json_text(s, &here, scanner, conv, p)?;
                    }
                    _ if DATA.contains(&k.as_str()) => redact_data(x, scanner, conv, p),
                    _ => redact_texts(x, &here, scanner, conv, p)?,
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The end of preparing any API's request, once every value in it is known: a signed block
/// (thinking, reasoning) that holds one of the conversation's values cannot be redacted without
/// breaking its signature, and is refused.
pub(super) fn end(conv: &mut impl Placeholders, mut p: Prepared) -> Result<Prepared, ShapeError> {
    // What the conversation read before and this request no longer carries (a trimmed history,
    // the turns of a stored response) still taints it; what it carries now is remembered.
    let here: std::collections::BTreeSet<String> = p
        .provenance
        .pieces()
        .iter()
        .map(|x| &x.origin)
        .chain(p.provenance.unseen().iter().map(|(o, _)| o))
        .filter_map(|o| match o {
            crate::provenance::Origin::Tool(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    // One look at the conversation, under its lock if it is shared.
    let (earlier, signed) = conv.with(|conv| {
        let earlier: Vec<crate::provenance::Origin> = conv
            .tools_seen()
            .filter(|t| !here.contains(*t))
            .map(|t| crate::provenance::Origin::Tool(t.clone()))
            .collect();
        for t in &here {
            conv.note_tool(t);
        }
        let signed = p
            .signed
            .iter()
            .position(|(_, _, keys)| conv.knows_any(keys));
        (earlier, signed)
    });
    p.provenance.add_unseen(earlier, "earlier");
    if let Some((at, kind, _)) = signed.map(|i| &p.signed[i]) {
        return Err(ShapeError::new(
            at.clone(),
            format!(
                "a signed {kind} block carries a value this conversation redacts elsewhere; it cannot be redacted without breaking its signature: send the block as the provider wrote it, or drop it"
            ),
        ));
    }
    p.signed.clear();
    Ok(p)
}

/// [`redact_texts`] for one message (or `system`, `instructions`, an input item) at `at`: the
/// secrets and personal data found in it are noted against its pieces in the provenance.
pub(super) fn redact_message(
    v: &mut Value,
    at: &str,
    scanner: &Scanner,
    conv: &mut impl Placeholders,
    p: &mut Prepared,
) -> Result<(), ShapeError> {
    let before = (p.secrets, p.pii);
    let done = redact_texts(v, &|| at.to_string(), scanner, conv, p);
    p.provenance
        .note_values(at, p.secrets - before.0, p.pii - before.1);
    done
}

/// Tool-call arguments are JSON text: read as JSON (a repeated key is refused: which copy the
/// tool would use is unknown), redacted as data, and written again. Arguments that are not JSON
/// are redacted as text.
fn redact_json_text(
    args: &mut String,
    at: &dyn Fn() -> String,
    scanner: &Scanner,
    conv: &mut impl Placeholders,
    p: &mut Prepared,
) -> Result<(), ShapeError> {
    if let Err(e @ crate::json::Unjudgeable::DuplicateKey { .. }) =
        crate::json::check_unique_keys(args.as_bytes())
    {
        return Err(ShapeError::new(
            at(),
            format!(
                "the arguments' JSON repeats a key ({e}): which copy the tool would use is unknown"
            ),
        ));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(mut v) => {
            redact_data(&mut v, scanner, conv, p);
            *args = v.to_string();
        }
        Err(_) => redact_into(args, scanner, conv, p),
    }
    Ok(())
}

/// Redact data a tool call carries: every string, every object key, and every number whose digits
/// the scanner flags (a card number written as a number becomes its placeholder, a string).
pub(super) fn redact_data(
    v: &mut Value,
    scanner: &Scanner,
    conv: &mut impl Placeholders,
    p: &mut Prepared,
) {
    match v {
        Value::String(s) => redact_into(s, scanner, conv, p),
        Value::Number(n) => {
            let mut text = n.to_string();
            let before = p.redacted + p.redacted_one_way;
            redact_into(&mut text, scanner, conv, p);
            if p.redacted + p.redacted_one_way != before {
                *v = Value::String(text);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_data(x, scanner, conv, p)),
        Value::Object(o) => {
            let old = std::mem::take(o);
            for (mut k, mut x) in old {
                redact_into(&mut k, scanner, conv, p);
                redact_data(&mut x, scanner, conv, p);
                o.insert(k, x);
            }
        }
        _ => {}
    }
}

/// Restore every text of a reply's protocol object: strings (JSON text as JSON string content),
/// and the keys and strings of tool-call data.
pub(super) fn restore_texts(v: &mut Value, conv: &Conversation) -> usize {
    let mut changed = 0;
    restore_walk(v, conv, false, &mut changed);
    changed
}

fn restore_walk(v: &mut Value, conv: &Conversation, data: bool, changed: &mut usize) {
    let put = |s: &mut String, escape: Escape, changed: &mut usize| {
        let new = restore(conv, s, escape);
        if new != *s {
            *changed += 1;
            *s = new;
        }
    };
    match v {
        Value::String(s) => put(s, Escape::Text, changed),
        Value::Array(a) => a
            .iter_mut()
            .for_each(|x| restore_walk(x, conv, data, changed)),
        Value::Object(o) if data => {
            let old = std::mem::take(o);
            for (mut k, mut x) in old {
                put(&mut k, Escape::Text, changed);
                restore_walk(&mut x, conv, true, changed);
                o.insert(k, x);
            }
        }
        Value::Object(o) if is_signed(o) => {}
        Value::Object(o) => {
            if o.keys().any(|k| !is_field_name(k)) {
                let old = std::mem::take(o);
                for (mut k, x) in old {
                    if !is_field_name(&k) {
                        put(&mut k, Escape::Text, changed);
                    }
                    o.insert(k, x);
                }
            }
            for (k, x) in o.iter_mut() {
                if passes(k, x) {
                    continue;
                }
                match x {
                    Value::String(s) if JSON_TEXT.contains(&k.as_str()) => {
                        put(s, Escape::Json, changed)
                    }
                    _ => restore_walk(x, conv, DATA.contains(&k.as_str()), changed),
                }
            }
        }
        _ => {}
    }
}

/// Whether a key's string values are structure (never restored in a stream either).
pub(super) fn is_structural(key: &str) -> bool {
    STRUCTURAL.contains(&key) || BINARY.contains(&key)
}

/// Judge a tool's result (at `message`, named `at`) for prompt injection, with the source its
/// name is given, and label it as the tool's in the context's provenance.
pub(super) fn judge_tool_result(
    p: &mut Prepared,
    scanner: &Scanner,
    (message, at): (usize, String),
    tool: String,
    text: &str,
    source: &Source,
) {
    // The conversation remembers the tool with every other source, in [`end`].
    let r = assess_tool_result(scanner, message, tool, text, source);
    p.provenance.add(
        crate::provenance::Origin::Tool(r.tool.clone()),
        at,
        text,
        r.score,
    );
    p.tool_results.push(r);
}

/// Every string inside a value, one per line.
pub(super) fn all_text(v: Option<&Value>) -> String {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(v) = v {
        walk(v, &mut out);
    }
    out.join("\n")
}

/// The functions a request's `tools` declare, with the argument names their schemas declare
/// (Chat's `function.parameters`, Responses' `parameters`, Anthropic's `input_schema`); and
/// the hosted tools it enables (any other tool `type`, but Anthropic's client tools `bash`,
/// `text_editor` and `computer`), whose results the provider puts within its reply: those taint
/// the calls of the reply.
pub(super) fn declared_tools(tools: Option<&Value>, p: &mut Prepared) {
    for t in tools.and_then(Value::as_array).into_iter().flatten() {
        let f = t.get("function").unwrap_or(t);
        let kind = t.get("type").and_then(Value::as_str).unwrap_or("function");
        let client = matches!(kind, "function" | "custom")
            || ["bash_", "text_editor_", "computer_", "memory_"]
                .iter()
                .any(|c| kind.starts_with(c));
        if !client {
            p.provenance.add_unseen(
                [crate::provenance::Origin::Tool(format!("hosted:{kind}"))],
                "reply",
            );
            continue;
        }
        let Some(name) = f.get("name").and_then(Value::as_str) else {
            continue;
        };
        if !matches!(kind, "function" | "custom") {
            // Anthropic's own client tools have no schema: read with the defaults.
            continue;
        }
        let schema = f.get("parameters").or_else(|| f.get("input_schema"));
        let args: std::collections::BTreeSet<String> = match schema {
            Some(s) => s
                .get("properties")
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default(),
            // A custom tool takes free text (read as `input`); a function without parameters
            // takes none.
            None if kind == "custom" => ["input".to_string()].into(),
            None => Default::default(),
        };
        // Declared twice: only what both declarations take.
        p.declared
            .entry(name.to_string())
            .and_modify(|d| d.retain(|a| args.contains(a)))
            .or_insert(args);
    }
}

/// Label a message's text in the context's provenance (`system` or `user`).
pub(super) fn label(p: &mut Prepared, origin: crate::provenance::Origin, at: String, text: &str) {
    if !text.is_empty() {
        p.provenance.add(origin, at, text, 0.0);
    }
}

fn assess_tool_result(
    scanner: &Scanner,
    message: usize,
    tool: String,
    text: &str,
    source: &Source,
) -> ToolResult {
    let a = scanner.assess(
        text.as_bytes(),
        Detectors {
            secrets: false,
            pii: false,
            injection: true,
        },
        source,
    );
    ToolResult {
        message,
        tool,
        verdict: a.verdict,
        score: a.injection_score.unwrap_or(0.0),
        findings: a.findings,
    }
}

/// A stream event's data as JSON. `Ok(None)`: empty data, dropped. `Err`: data that is not JSON
/// (or nests deeper than the parser goes) cannot be checked for values to restore or calls to
/// judge, and an agent's parser may read it all the same: the stream ends there.
pub(super) fn event_json(data: &str) -> Result<Option<Value>, String> {
    if data.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str::<Value>(data).map(Some).map_err(|e| {
        format!("bulwark: the upstream sent an event that is not JSON ({e}); it cannot be checked, so the stream ends here")
    })
}

/// Redact every other top-level field of a request (everything but `handled`, `model` and
/// `stream`): tool definitions and their schemas, `response_format`, `user`, `metadata`, stop
/// sequences, prompt variables... The model reads some of them and the provider keeps the rest;
/// numbers and identifiers pass as they are.
pub(super) fn redact_rest(
    obj: &mut serde_json::Map<String, Value>,
    handled: &[&str],
    scanner: &Scanner,
    conv: &mut impl Placeholders,
    p: &mut Prepared,
) -> Result<(), ShapeError> {
    // What the rest holds (tool definitions, metadata) is the agent's own: it counts as
    // private data for the provenance rules.
    let before = (p.secrets, p.pii);
    for (k, v) in obj.iter_mut() {
        if handled.contains(&k.as_str()) || matches!(k.as_str(), "model" | "stream") {
            continue;
        }
        if let Value::Object(o) = v {
            // Not a protocol object of its own (`metadata`, `prompt`): every key is read.
            redact_keys(o, scanner, conv, p);
            for (k2, x) in o.iter_mut() {
                redact_texts(x, &|| format!("{k}.{k2}"), scanner, conv, p)?;
            }
        } else {
            redact_texts(v, &|| k.clone(), scanner, conv, p)?;
        }
    }
    let found = (p.secrets - before.0) + (p.pii - before.1);
    p.provenance.add_sensitive(found);
    Ok(())
}
