//! OpenAI Chat Completions (`POST /v1/chat/completions`): what the model reads, redacted, and
//! what it writes, restored; whole replies and server-sent event streams.
//!
//! Every text the model will read is redacted: `content` (a string, or the `text` of its parts)
//! of every role, `refusal`, and the `arguments` of the tool calls in the history (parsed as JSON
//! when they are, so a value is replaced inside its string and the JSON stays valid). Tool results
//! (`role: tool`, and the older `role: function`) are also judged for prompt injection, with the
//! tool's name. Anything else in the body passes untouched.

use serde_json::Value;

use super::common::{
    JSON_TEXT, content_text, is_structural, judge_tool_result, model_and_stream, redact_texts,
    restore_texts,
};
pub use super::common::{Prepared, ShapeError, ToolResult};
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
        out.push(format!("{role}\0{}", content_text(m.get("content"))));
        if role == "user" {
            break;
        }
    }
    out
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
    let (model, stream) = model_and_stream(obj)?;
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
            let text = content_text(m.get("content"));
            let source = tool_source(&tool);
            p.tool_results
                .push(judge_tool_result(scanner, i, tool, &text, &source));
        }
        let at = format!("messages[{i}]");
        if !matches!(
            m.get("content"),
            None | Some(Value::Null | Value::String(_) | Value::Array(_))
        ) {
            return Err(ShapeError::new(
                format!("{at}.content"),
                "expected a string or an array of content parts",
            ));
        }
        // Every text of the message the model reads, whatever field or part type carries it:
        // content (strings and parts), refusal, name, reasoning, tool calls (function arguments
        // inside their JSON, custom inputs). Only the protocol's structure and binary data pass.
        let mut whole = Value::Object(std::mem::take(m));
        let done = redact_texts(&mut whole, &|| at.clone(), scanner, conversation, &mut p);
        if let Value::Object(o) = whole {
            *m = o;
        }
        done?;
    }
    if let Some(prediction) = obj.get_mut("prediction") {
        redact_texts(
            prediction,
            &|| "prediction".into(),
            scanner,
            conversation,
            &mut p,
        )?;
    }
    Ok(p)
}

/// Put the conversation's values back into a whole reply: every text of every choice's message
/// (content, refusal, reasoning, tool-call arguments as JSON, custom inputs). Returns how many
/// texts changed.
pub fn restore_reply(body: &mut Value, conv: &Conversation) -> usize {
    let Some(choices) = body.get_mut("choices").and_then(Value::as_array_mut) else {
        return 0;
    };
    choices
        .iter_mut()
        .filter_map(|c| c.get_mut("message"))
        .map(|m| restore_texts(m, conv))
        .sum()
}

/// One step of a streamed text's place in a delta: an object key, or an array element told apart
/// by its `index` (its position when it has none).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Elem(u64),
}

/// Most texts one stream restores at once (choices times fields times tool calls).
const MAX_STREAMED_TEXTS: usize = 256;

/// Restores a Chat Completions event stream, one `data:` payload at a time: every text of every
/// choice's delta, each through a restorer of its own.
#[derive(Debug, Default)]
pub struct ChatStream {
    restorers: std::collections::BTreeMap<(u64, Vec<Seg>), Restorer>,
    /// The last chunk, as a template for the one that carries what is left at the end.
    last: Option<Value>,
}

/// What [`stream_walk`] calls for each text: its place, the text, how values are written into it.
type VisitText<'a> = dyn FnMut(&[Seg], &mut String, Escape) -> Result<(), String> + 'a;

/// Visit every text of a delta with its place.
fn stream_walk(v: &mut Value, path: &mut Vec<Seg>, f: &mut VisitText<'_>) -> Result<(), String> {
    match v {
        Value::String(s) => f(path, s, Escape::Text)?,
        Value::Array(a) => {
            for (pos, x) in a.iter_mut().enumerate() {
                let i = x.get("index").and_then(Value::as_u64).unwrap_or(pos as u64);
                path.push(Seg::Elem(i));
                let r = stream_walk(x, path, f);
                path.pop();
                r?;
            }
        }
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if is_structural(k) {
                    continue;
                }
                path.push(Seg::Key(k.clone()));
                let r = match x {
                    Value::String(s) if JSON_TEXT.contains(&k.as_str()) => f(path, s, Escape::Json),
                    _ => stream_walk(x, path, f),
                };
                path.pop();
                r?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Add `rest` to the text at `path` in `v`, making the objects and elements on the way.
fn append_at(v: &mut Value, path: &[Seg], rest: &str) {
    match path.split_first() {
        None => match v {
            Value::String(s) => s.push_str(rest),
            other => *other = Value::String(rest.to_string()),
        },
        Some((Seg::Key(k), tail)) => {
            if !v.is_object() {
                *v = Value::Object(Default::default());
            }
            if let Value::Object(o) = v {
                append_at(o.entry(k.clone()).or_insert(Value::Null), tail, rest);
            }
        }
        Some((Seg::Elem(n), tail)) => {
            if !v.is_array() {
                *v = Value::Array(Vec::new());
            }
            if let Value::Array(a) = v {
                let pos = a
                    .iter()
                    .position(|x| x.get("index").and_then(Value::as_u64) == Some(*n));
                let pos = pos.unwrap_or_else(|| {
                    a.push(serde_json::json!({"index": n}));
                    a.len() - 1
                });
                append_at(&mut a[pos], tail, rest);
            }
        }
    }
}

impl ChatStream {
    /// A restorer for one stream.
    pub fn new() -> ChatStream {
        ChatStream::default()
    }

    /// One event's `data` (a chunk's JSON, or `[DONE]`): the payloads to send on, in order.
    /// Payloads that are not JSON pass as they are. `Err` when the stream asks for more texts at
    /// once than a stream restores ([`MAX_STREAMED_TEXTS`]).
    pub fn event(&mut self, conv: &Conversation, data: &str) -> Result<Vec<String>, String> {
        if data.trim() == "[DONE]" {
            let mut out = self.flush(conv);
            out.push(data.to_string());
            return Ok(out);
        }
        let Ok(mut chunk) = serde_json::from_str::<Value>(data) else {
            return Ok(vec![data.to_string()]);
        };
        if let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                let finished = c.get("finish_reason").is_some_and(|f| !f.is_null());
                let restorers = &mut self.restorers;
                if let Some(delta) = c.get_mut("delta") {
                    stream_walk(delta, &mut Vec::new(), &mut |path, s, escape| {
                        let key = (index, path.to_vec());
                        if !restorers.contains_key(&key) && restorers.len() >= MAX_STREAMED_TEXTS {
                            return Err(format!(
                                "bulwark: the stream carries more than {MAX_STREAMED_TEXTS} texts at once"
                            ));
                        }
                        *s = restorers
                            .entry(key)
                            .or_insert_with(|| Restorer::new(escape))
                            .push(conv, s);
                        Ok(())
                    })?;
                }
                if finished {
                    // What this choice still holds goes out with its last chunk.
                    let mine: Vec<(u64, Vec<Seg>)> = self
                        .restorers
                        .keys()
                        .filter(|(i, _)| *i == index)
                        .cloned()
                        .collect();
                    for key in mine {
                        let Some(mut r) = self.restorers.remove(&key) else {
                            continue;
                        };
                        let rest = r.finish(conv);
                        if !rest.is_empty() {
                            append_at(&mut c["delta"], &key.1, &rest);
                        }
                    }
                }
            }
        }
        self.last = Some(chunk.clone());
        Ok(vec![chunk.to_string()])
    }

    /// The stream ended without its choices saying so: what is still held back, as one more
    /// chunk.
    pub fn flush(&mut self, conv: &Conversation) -> Vec<String> {
        let pending = std::mem::take(&mut self.restorers);
        let mut deltas: std::collections::BTreeMap<u64, Value> = Default::default();
        for ((index, path), mut r) in pending {
            let rest = r.finish(conv);
            if !rest.is_empty() {
                append_at(deltas.entry(index).or_insert(Value::Null), &path, &rest);
            }
        }
        if deltas.is_empty() {
            return Vec::new();
        }
        let choices: Vec<Value> = deltas
            .into_iter()
            .map(|(index, delta)| serde_json::json!({"index": index, "delta": delta, "finish_reason": null}))
            .collect();
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

impl super::EventRestorer for ChatStream {
    fn event(
        &mut self,
        conv: &Conversation,
        ev: super::SseEvent,
    ) -> Result<Vec<super::SseEvent>, String> {
        Ok(ChatStream::event(self, conv, &ev.data)?
            .into_iter()
            .map(|data| super::SseEvent { name: None, data })
            .collect())
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
