//! Anthropic Messages (`POST /v1/messages`): what the model reads, redacted, and what it writes,
//! restored; whole replies and event streams.
//!
//! Redacted: `system` (a string or text blocks), and in every message its `content` (a string, or
//! blocks): `text` blocks, the `input` of `tool_use` blocks (every string inside), and the content
//! of `tool_result` blocks (a string or text blocks), which are also judged for prompt injection
//! with the tool's name. `thinking` and `redacted_thinking` blocks pass untouched: the provider
//! signs them, and a changed one is refused.

use serde_json::Value;

pub use super::common::{Prepared, ShapeError};
use super::common::{
    content_text, judge_tool_result, model_and_stream, redact_texts, restore_texts,
};
use super::placeholders::Conversation;
use super::restore::{Escape, Restorer};
use super::{EventRestorer, SseEvent};
use crate::scan::Scanner;
use crate::scan::injection::Source;

/// The texts that open a conversation: the system prompt and the first user message.
pub fn opening(body: &Value) -> Vec<String> {
    let mut out = vec![format!("system\0{}", content_text(body.get("system")))];
    if let Some(first) = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
    {
        out.push(format!("user\0{}", content_text(first.get("content"))));
    }
    out
}

/// Check the shape of a Messages request, redact every text the model reads in place, and judge
/// the tool results.
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
    let mut p = Prepared {
        model,
        stream,
        ..Prepared::default()
    };
    if let Some(system) = obj.get_mut("system") {
        if !matches!(system, Value::String(_) | Value::Array(_) | Value::Null) {
            return Err(ShapeError::new(
                "system",
                "expected a string or an array of content blocks",
            ));
        }
        redact_texts(system, &|| "system".into(), scanner, conversation, &mut p)?;
    }
    let Some(Value::Array(messages)) = obj.get_mut("messages") else {
        return Err(ShapeError::new("messages", "expected an array of messages"));
    };
    if messages.is_empty() {
        return Err(ShapeError::new("messages", "expected at least one message"));
    }
    let mut calls: std::collections::HashMap<String, String> = Default::default();
    for (i, m) in messages.iter_mut().enumerate() {
        let at = format!("messages[{i}]");
        let Some(mo) = m.as_object() else {
            return Err(ShapeError::new(at, "expected an object"));
        };
        if !matches!(
            mo.get("role").and_then(Value::as_str),
            Some("user" | "assistant")
        ) {
            return Err(ShapeError::new(
                format!("{at}.role"),
                "expected user or assistant",
            ));
        }
        match mo.get("content") {
            Some(Value::String(_)) => {}
            Some(Value::Array(blocks)) => {
                for b in blocks {
                    match b.get("type").and_then(Value::as_str) {
                        Some("tool_use") => {
                            if let (Some(id), Some(name)) = (
                                b.get("id").and_then(Value::as_str),
                                b.get("name").and_then(Value::as_str),
                            ) {
                                calls.insert(id.to_string(), name.to_string());
                            }
                        }
                        Some("tool_result") => {
                            let tool = b
                                .get("tool_use_id")
                                .and_then(Value::as_str)
                                .and_then(|id| calls.get(id).cloned())
                                .unwrap_or_else(|| "unknown".to_string());
                            let text = content_text(b.get("content"));
                            let source = tool_source(&tool);
                            p.tool_results
                                .push(judge_tool_result(scanner, i, tool, &text, &source));
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                return Err(ShapeError::new(
                    format!("{at}.content"),
                    "expected a string or an array of content blocks",
                ));
            }
        }
        // Every text of the message the model reads, whatever block carries it; signed thinking
        // and binary data pass as they are.
        redact_texts(m, &|| at.clone(), scanner, conversation, &mut p)?;
    }
    Ok(p)
}

/// Put the values back into a whole reply: every text of every content block (text, every key
/// and string of `tool_use` inputs); signed thinking passes as it is.
pub fn restore_reply(body: &mut Value, conv: &Conversation) -> usize {
    match body.get_mut("content") {
        Some(blocks @ Value::Array(_)) => restore_texts(blocks, conv),
        _ => 0,
    }
}

/// Most content blocks one stream restores at once.
const MAX_BLOCKS: usize = 256;

/// Restores a Messages event stream: `text_delta` as text, `input_json_delta` as JSON text, one
/// restorer per content block; what a block still holds goes out as one more delta before its
/// `content_block_stop`.
#[derive(Debug, Default)]
pub struct MessagesStream {
    blocks: std::collections::BTreeMap<u64, (Restorer, &'static str)>,
}

impl MessagesStream {
    /// A restorer for one stream.
    pub fn new() -> MessagesStream {
        MessagesStream::default()
    }

    fn rest_of(&mut self, conv: &Conversation, index: u64) -> Option<SseEvent> {
        let (mut r, kind) = self.blocks.remove(&index)?;
        let rest = r.finish(conv);
        if rest.is_empty() {
            return None;
        }
        let field = if kind == "input_json_delta" {
            "partial_json"
        } else {
            "text"
        };
        let data = serde_json::json!({
            "type": "content_block_delta", "index": index,
            "delta": {"type": kind, field: rest},
        });
        Some(SseEvent {
            name: Some("content_block_delta".into()),
            data: data.to_string(),
        })
    }
}

impl EventRestorer for MessagesStream {
    fn event(&mut self, conv: &Conversation, ev: SseEvent) -> Result<Vec<SseEvent>, String> {
        let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
            return Ok(vec![ev]);
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        match kind.as_str() {
            "content_block_delta" => {
                let delta_kind = v
                    .pointer("/delta/type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let (field, escape, kind) = match delta_kind.as_str() {
                    "text_delta" => ("text", Escape::Text, "text_delta"),
                    "input_json_delta" => ("partial_json", Escape::Json, "input_json_delta"),
                    _ => return Ok(vec![ev]),
                };
                if let Some(Value::String(s)) = v.get_mut("delta").and_then(|d| d.get_mut(field)) {
                    if !self.blocks.contains_key(&index) && self.blocks.len() >= MAX_BLOCKS {
                        return Err(format!(
                            "bulwark: the stream carries more than {MAX_BLOCKS} content blocks at once"
                        ));
                    }
                    let (r, _) = self
                        .blocks
                        .entry(index)
                        .or_insert_with(|| (Restorer::new(escape), kind));
                    *s = r.push(conv, s);
                }
            }
            "content_block_start" => {
                // A block may start with text (or a tool's input) already in it.
                if let Some(block) = v.get_mut("content_block") {
                    restore_texts(block, conv);
                }
            }
            "content_block_stop" => {
                out.extend(self.rest_of(conv, index));
            }
            "message_stop" => out.extend(self.flush(conv)),
            _ => return Ok(vec![ev]),
        }
        out.push(SseEvent {
            name: ev.name,
            data: v.to_string(),
        });
        Ok(out)
    }

    fn flush(&mut self, conv: &Conversation) -> Vec<SseEvent> {
        let indexes: Vec<u64> = self.blocks.keys().copied().collect();
        indexes
            .into_iter()
            .filter_map(|i| self.rest_of(conv, i))
            .collect()
    }

    fn error_event(message: &str) -> SseEvent {
        SseEvent {
            name: Some("error".into()),
            data: serde_json::json!({"type": "error", "error": {"type": "api_error", "message": message}})
                .to_string(),
        }
    }
}
