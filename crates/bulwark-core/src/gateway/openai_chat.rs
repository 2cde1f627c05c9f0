//! OpenAI Chat Completions (`POST /v1/chat/completions`): what the model reads, redacted, and
//! what it writes, restored; whole replies and server-sent event streams.
//!
//! Every text the model will read is redacted: `content` (a string, or the `text` of its parts)
//! of every role, `refusal`, and the `arguments` of the tool calls in the history (parsed as JSON
//! when they are, so a value is replaced inside its string and the JSON stays valid). Tool results
//! (`role: tool`, and the older `role: function`) are also judged for prompt injection, with the
//! tool's name. Anything else in the body passes untouched.

use serde_json::Value;

use super::placeholders::{Conversation, redact_text};
use super::restore::{Escape, Restorer};
use crate::finding::{Finding, Verdict};
use crate::scan::injection::Source;
use crate::scan::{Detectors, Scanner};

/// A body that is not a Chat Completions request: the parameter and what was expected, as the
/// API's own `invalid_request_error` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// The parameter, e.g. `messages[2].content`.
    pub param: String,
    /// What is wrong.
    pub message: String,
}

impl ShapeError {
    fn new(param: impl Into<String>, message: impl Into<String>) -> ShapeError {
        ShapeError {
            param: param.into(),
            message: message.into(),
        }
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
}

/// The texts that open a conversation, which name it when the agent sends no conversation id:
/// the system and first user messages (they stay the same turn after turn).
pub fn opening(body: &Value) -> Vec<String> {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        out.push(format!("{role}\0{}", text_of(m.get("content"))));
        if role == "user" {
            break;
        }
    }
    out
}

fn text_of(content: Option<&Value>) -> String {
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

/// Check the shape of a request body, redact every text the model reads in place, and judge the
/// tool results. `tool_source` names the injection source of a tool's results (`tool_output`
/// unless configured per tool).
pub fn prepare(
    body: &mut Value,
    scanner: &Scanner,
    conversation: &mut Conversation,
    tool_source: &dyn Fn(&str) -> Source,
) -> Result<Prepared, ShapeError> {
    let Some(obj) = body.as_object_mut() else {
        return Err(ShapeError::new("body", "expected a JSON object"));
    };
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
    let Some(Value::Array(messages)) = obj.get_mut("messages") else {
        return Err(ShapeError::new("messages", "expected an array of messages"));
    };
    if messages.is_empty() {
        return Err(ShapeError::new("messages", "expected at least one message"));
    }
    let mut p = Prepared {
        model,
        stream,
        ..Prepared::default()
    };
    // Tool call id -> function name, from the assistant messages seen so far.
    let mut calls: std::collections::HashMap<String, String> = Default::default();
    for (i, m) in messages.iter_mut().enumerate() {
        let Some(m) = m.as_object_mut() else {
            return Err(ShapeError::new(
                format!("messages[{i}]"),
                "expected an object",
            ));
        };
        let role = match m.get("role") {
            Some(Value::String(r)) => r.clone(),
            _ => {
                return Err(ShapeError::new(
                    format!("messages[{i}].role"),
                    "expected system, developer, user, assistant or tool",
                ));
            }
        };
        if let Some(Value::Array(tcs)) = m.get("tool_calls") {
            for tc in tcs {
                if let (Some(id), Some(name)) = (
                    tc.get("id").and_then(Value::as_str),
                    tc.pointer("/function/name").and_then(Value::as_str),
                ) {
                    calls.insert(id.to_string(), name.to_string());
                }
            }
        }
        if matches!(role.as_str(), "tool" | "function") {
            let tool = match role.as_str() {
                "tool" => m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .and_then(|id| calls.get(id).cloned()),
                _ => m.get("name").and_then(Value::as_str).map(str::to_string),
            }
            .unwrap_or_else(|| "unknown".to_string());
            let text = text_of(m.get("content"));
            let a = scanner.assess(
                text.as_bytes(),
                Detectors {
                    secrets: false,
                    pii: false,
                    injection: true,
                },
                &tool_source(&tool),
            );
            p.tool_results.push(ToolResult {
                message: i,
                tool,
                verdict: a.verdict,
                score: a.injection_score.unwrap_or(0.0),
                findings: a.findings,
            });
        }
        let at = |field: &str| format!("messages[{i}].{field}");
        match m.get_mut("content") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => redact_into(s, scanner, conversation, &mut p),
            Some(Value::Array(parts)) => {
                for (j, part) in parts.iter_mut().enumerate() {
                    match part.get_mut("text") {
                        Some(Value::String(s)) => redact_into(s, scanner, conversation, &mut p),
                        Some(_) => {
                            return Err(ShapeError::new(
                                format!("{}[{j}].text", at("content")),
                                "expected a string",
                            ));
                        }
                        None => {}
                    }
                }
            }
            Some(_) => {
                return Err(ShapeError::new(
                    at("content"),
                    "expected a string or an array of content parts",
                ));
            }
        }
        if let Some(Value::String(s)) = m.get_mut("refusal") {
            redact_into(s, scanner, conversation, &mut p);
        }
        if let Some(Value::Array(tcs)) = m.get_mut("tool_calls") {
            for tc in tcs.iter_mut() {
                if let Some(Value::String(args)) = tc.pointer_mut("/function/arguments") {
                    redact_arguments(args, scanner, conversation, &mut p);
                }
            }
        }
        if let Some(Value::String(args)) = m
            .get_mut("function_call")
            .and_then(|f| f.get_mut("arguments"))
        {
            redact_arguments(args, scanner, conversation, &mut p);
        }
    }
    Ok(p)
}

fn redact_into(s: &mut String, scanner: &Scanner, conv: &mut Conversation, p: &mut Prepared) {
    let r = redact_text(scanner, Detectors::CONTENT, conv, s);
    if r.reversible + r.one_way == 0 {
        return;
    }
    p.redacted += r.reversible;
    p.redacted_one_way += r.one_way;
    p.placeholders.extend(r.placeholders);
    for f in &r.findings {
        *p.rules.entry(f.rule.clone()).or_insert(0) += 1;
    }
    *s = r.text;
}

/// Tool-call arguments are JSON text: the strings inside are redacted and the JSON written
/// again; arguments that are not JSON are redacted as text.
fn redact_arguments(
    args: &mut String,
    scanner: &Scanner,
    conv: &mut Conversation,
    p: &mut Prepared,
) {
    let Ok(mut v) = serde_json::from_str::<Value>(args) else {
        return redact_into(args, scanner, conv, p);
    };
    let mut changed = false;
    walk_strings(&mut v, &mut |s| {
        let before = p.redacted + p.redacted_one_way;
        redact_into(s, scanner, conv, p);
        changed |= p.redacted + p.redacted_one_way != before;
    });
    if changed {
        *args = v.to_string();
    }
}

fn walk_strings(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

/// Put the conversation's values back into a whole reply: every choice's `content`, `refusal` and
/// tool-call `arguments`. Returns how many texts changed.
pub fn restore_reply(body: &mut Value, conv: &Conversation) -> usize {
    let mut changed = 0;
    let Some(choices) = body.get_mut("choices").and_then(Value::as_array_mut) else {
        return 0;
    };
    for c in choices {
        let Some(m) = c.get_mut("message") else {
            continue;
        };
        changed += restore_message(m, conv, None);
    }
    changed
}

/// Restore the texts of one message or delta. With `stream`, through that choice's restorers.
fn restore_message(
    m: &mut Value,
    conv: &Conversation,
    mut stream: Option<&mut ChoiceRestorers>,
) -> usize {
    let mut changed = 0;
    let mut apply =
        |s: &mut String, key: Field, escape: Escape, stream: &mut Option<&mut ChoiceRestorers>| {
            let new = match stream {
                Some(r) => r.get(key, escape).push(conv, s),
                None => super::restore::restore(conv, s, escape),
            };
            if new != *s {
                changed += 1;
                *s = new;
            }
        };
    if let Some(Value::String(s)) = m.get_mut("content") {
        apply(s, Field::Content, Escape::Text, &mut stream);
    }
    if let Some(Value::String(s)) = m.get_mut("refusal") {
        apply(s, Field::Refusal, Escape::Text, &mut stream);
    }
    if let Some(Value::Array(tcs)) = m.get_mut("tool_calls") {
        for (pos, tc) in tcs.iter_mut().enumerate() {
            // Streamed tool calls are told apart by `index`; whole ones by position.
            let index = tc
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            if let Some(Value::String(s)) = tc.pointer_mut("/function/arguments") {
                apply(s, Field::Arguments(index), Escape::Json, &mut stream);
            }
        }
    }
    if let Some(Value::String(s)) = m.pointer_mut("/function_call/arguments") {
        apply(s, Field::Arguments(u64::MAX), Escape::Json, &mut stream);
    }
    changed
}

/// A streamed text of one choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Field {
    Content,
    Refusal,
    Arguments(u64),
}

#[derive(Debug, Default)]
struct ChoiceRestorers(std::collections::BTreeMap<Field, Restorer>);

impl ChoiceRestorers {
    fn get(&mut self, f: Field, escape: Escape) -> &mut Restorer {
        self.0.entry(f).or_insert_with(|| Restorer::new(escape))
    }
}

/// Restores a Chat Completions event stream, one `data:` payload at a time.
#[derive(Debug, Default)]
pub struct ChatStream {
    choices: std::collections::BTreeMap<u64, ChoiceRestorers>,
    /// The last chunk, as a template for the one that carries what is left at the end.
    last: Option<Value>,
}

impl ChatStream {
    /// A restorer for one stream.
    pub fn new() -> ChatStream {
        ChatStream::default()
    }

    /// One event's `data` (a chunk's JSON, or `[DONE]`): the payloads to send on, in order.
    /// Payloads that are not JSON pass as they are.
    pub fn event(&mut self, conv: &Conversation, data: &str) -> Vec<String> {
        if data.trim() == "[DONE]" {
            let mut out = self.flush(conv);
            out.push(data.to_string());
            return out;
        }
        let Ok(mut chunk) = serde_json::from_str::<Value>(data) else {
            return vec![data.to_string()];
        };
        if let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                let finished = c.get("finish_reason").is_some_and(|f| !f.is_null());
                let restorers = self.choices.entry(index).or_default();
                if let Some(delta) = c.get_mut("delta") {
                    restore_message(delta, conv, Some(restorers));
                    if finished {
                        let rest = std::mem::take(restorers);
                        append_rest(delta, rest, conv);
                        self.choices.remove(&index);
                    }
                }
            }
        }
        self.last = Some(chunk.clone());
        vec![chunk.to_string()]
    }

    /// The stream ended without a choice saying so: what is still held back, as one more chunk.
    pub fn flush(&mut self, conv: &Conversation) -> Vec<String> {
        let pending = std::mem::take(&mut self.choices);
        let mut choices = Vec::new();
        for (index, r) in pending {
            let mut delta = serde_json::json!({});
            append_rest(&mut delta, r, conv);
            if delta.as_object().is_some_and(|o| !o.is_empty()) {
                choices.push(
                    serde_json::json!({"index": index, "delta": delta, "finish_reason": null}),
                );
            }
        }
        if choices.is_empty() {
            return Vec::new();
        }
        let mut chunk = self
            .last
            .clone()
            .unwrap_or_else(|| serde_json::json!({"object": "chat.completion.chunk"}));
        chunk["choices"] = Value::Array(choices);
        if let Some(o) = chunk.as_object_mut() {
            o.remove("usage");
        }
        vec![chunk.to_string()]
    }
}

/// Add what `r` still holds to `delta`'s texts.
fn append_rest(delta: &mut Value, r: ChoiceRestorers, conv: &Conversation) {
    for (field, mut restorer) in r.0 {
        let rest = restorer.finish(conv);
        if rest.is_empty() {
            continue;
        }
        let append = |slot: &mut Value| match slot {
            Value::String(s) => s.push_str(&rest),
            other => *other = Value::String(rest.clone()),
        };
        match field {
            Field::Content => append(&mut delta["content"]),
            Field::Refusal => append(&mut delta["refusal"]),
            Field::Arguments(index) => {
                if !delta.get("tool_calls").is_some_and(Value::is_array) {
                    delta["tool_calls"] = Value::Array(Vec::new());
                }
                let Some(tcs) = delta["tool_calls"].as_array_mut() else {
                    continue;
                };
                let pos = tcs
                    .iter()
                    .position(|t| t.get("index").and_then(Value::as_u64) == Some(index));
                match pos {
                    Some(p) => append(&mut tcs[p]["function"]["arguments"]),
                    None => tcs
                        .push(serde_json::json!({"index": index, "function": {"arguments": rest}})),
                }
            }
        }
    }
}
