//! OpenAI Chat Completions (`POST /v1/chat/completions`): what the model reads, redacted, and
//! what it writes, restored; whole replies and server-sent event streams.
//!
//! Every text the model will read is redacted: `content` (a string, or the `text` of its parts)
//! of every role, `refusal`, and the `arguments` of the tool calls in the history (parsed as JSON
//! when they are, so a value is replaced inside its string and the JSON stays valid). Tool results
//! (`role: tool`, and the older `role: function`) are also judged for prompt injection, with the
//! tool's name. Anything else in the body passes untouched.

use serde_json::Value;

pub use super::common::{Prepared, ShapeError, ToolResult};
use super::common::{judge_tool_result, redact_arguments, redact_into};
use super::placeholders::Conversation;
use super::restore::{Escape, Restorer};
use crate::scan::Scanner;
use crate::scan::injection::Source;

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
            let source = tool_source(&tool);
            p.tool_results
                .push(judge_tool_result(scanner, i, tool, &text, &source));
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

impl super::EventRestorer for ChatStream {
    fn event(&mut self, conv: &Conversation, ev: super::SseEvent) -> Vec<super::SseEvent> {
        ChatStream::event(self, conv, &ev.data)
            .into_iter()
            .map(|data| super::SseEvent { name: None, data })
            .collect()
    }

    fn flush(&mut self, conv: &Conversation) -> Vec<super::SseEvent> {
        ChatStream::flush(self, conv)
            .into_iter()
            .map(|data| super::SseEvent { name: None, data })
            .collect()
    }

    fn error_event(message: &str) -> super::SseEvent {
        super::SseEvent {
            name: None,
            data: serde_json::json!({"error": {
                "message": message, "type": "upstream_error", "param": null, "code": "upstream_stream_error",
            }})
            .to_string(),
        }
    }
}
