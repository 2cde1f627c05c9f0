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
use super::common::{judge_tool_result, redact_into, redact_value, walk_strings};
use super::placeholders::Conversation;
use super::restore::{Escape, Restorer, restore};
use super::{EventRestorer, SseEvent};
use crate::scan::Scanner;
use crate::scan::injection::Source;

fn blocks_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The texts that open a conversation: the system prompt and the first user message.
pub fn opening(body: &Value) -> Vec<String> {
    let mut out = vec![format!("system\0{}", blocks_text(body.get("system")))];
    if let Some(first) = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
    {
        out.push(format!("user\0{}", blocks_text(first.get("content"))));
    }
    out
}

/// Redact `text` blocks (and a plain string) of a `content` or `system` value in place.
fn redact_text_blocks(
    v: &mut Value,
    at: &str,
    scanner: &Scanner,
    conv: &mut Conversation,
    p: &mut Prepared,
) -> Result<(), ShapeError> {
    match v {
        Value::String(s) => redact_into(s, scanner, conv, p),
        Value::Array(blocks) => {
            for (j, b) in blocks.iter_mut().enumerate() {
                if b.get("type").and_then(Value::as_str) == Some("text") {
                    match b.get_mut("text") {
                        Some(Value::String(s)) => redact_into(s, scanner, conv, p),
                        _ => {
                            return Err(ShapeError::new(
                                format!("{at}[{j}].text"),
                                "expected a string",
                            ));
                        }
                    }
                }
            }
        }
        Value::Null => {}
        _ => {
            return Err(ShapeError::new(
                at,
                "expected a string or an array of content blocks",
            ));
        }
    }
    Ok(())
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
    let mut p = Prepared {
        model,
        stream,
        ..Prepared::default()
    };
    if let Some(system) = obj.get_mut("system") {
        redact_text_blocks(system, "system", scanner, conversation, &mut p)?;
    }
    let Some(Value::Array(messages)) = obj.get_mut("messages") else {
        return Err(ShapeError::new("messages", "expected an array of messages"));
    };
    if messages.is_empty() {
        return Err(ShapeError::new("messages", "expected at least one message"));
    }
    let mut calls: std::collections::HashMap<String, String> = Default::default();
    for (i, m) in messages.iter_mut().enumerate() {
        let at = format!("messages[{i}].content");
        let Some(m) = m.as_object_mut() else {
            return Err(ShapeError::new(
                format!("messages[{i}]"),
                "expected an object",
            ));
        };
        if !matches!(
            m.get("role").and_then(Value::as_str),
            Some("user" | "assistant")
        ) {
            return Err(ShapeError::new(
                format!("messages[{i}].role"),
                "expected user or assistant",
            ));
        }
        let Some(content) = m.get_mut("content") else {
            return Err(ShapeError::new(
                at,
                "expected a string or an array of content blocks",
            ));
        };
        redact_text_blocks(content, &at, scanner, conversation, &mut p)?;
        let Value::Array(blocks) = content else {
            continue;
        };
        for (j, b) in blocks.iter_mut().enumerate() {
            match b.get("type").and_then(Value::as_str) {
                Some("tool_use") => {
                    if let (Some(id), Some(name)) = (
                        b.get("id").and_then(Value::as_str),
                        b.get("name").and_then(Value::as_str),
                    ) {
                        calls.insert(id.to_string(), name.to_string());
                    }
                    if let Some(input) = b.get_mut("input") {
                        redact_value(input, scanner, conversation, &mut p);
                    }
                }
                Some("tool_result") => {
                    let tool = b
                        .get("tool_use_id")
                        .and_then(Value::as_str)
                        .and_then(|id| calls.get(id).cloned())
                        .unwrap_or_else(|| "unknown".to_string());
                    let text = blocks_text(b.get("content"));
                    let source = tool_source(&tool);
                    p.tool_results
                        .push(judge_tool_result(scanner, i, tool, &text, &source));
                    if let Some(c) = b.get_mut("content") {
                        redact_text_blocks(
                            c,
                            &format!("{at}[{j}].content"),
                            scanner,
                            conversation,
                            &mut p,
                        )?;
                    }
                }
                _ => {}
            }
        }
    }
    Ok(p)
}

/// Put the values back into a whole reply: `text` blocks and every string of `tool_use` inputs.
pub fn restore_reply(body: &mut Value, conv: &Conversation) -> usize {
    let mut changed = 0;
    let Some(blocks) = body.get_mut("content").and_then(Value::as_array_mut) else {
        return 0;
    };
    let mut put = |s: &mut String| {
        let new = restore(conv, s, Escape::Text);
        if new != *s {
            changed += 1;
            *s = new;
        }
    };
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(Value::String(s)) = b.get_mut("text") {
                    put(s);
                }
            }
            Some("tool_use") => {
                if let Some(input) = b.get_mut("input") {
                    walk_strings(input, &mut put);
                }
            }
            _ => {}
        }
    }
    changed
}

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
    fn event(&mut self, conv: &Conversation, ev: SseEvent) -> Vec<SseEvent> {
        let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
            return vec![ev];
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
                    _ => return vec![ev],
                };
                if let Some(Value::String(s)) = v.get_mut("delta").and_then(|d| d.get_mut(field)) {
                    let (r, _) = self
                        .blocks
                        .entry(index)
                        .or_insert_with(|| (Restorer::new(escape), kind));
                    *s = r.push(conv, s);
                }
            }
            "content_block_start" => {
                // A block may start with text already in it.
                if let Some(Value::String(s)) = v.pointer_mut("/content_block/text") {
                    *s = restore(conv, s, Escape::Text);
                }
                if let Some(input) = v.pointer_mut("/content_block/input") {
                    walk_strings(input, &mut |s| *s = restore(conv, s, Escape::Text));
                }
            }
            "content_block_stop" => {
                out.extend(self.rest_of(conv, index));
            }
            "message_stop" => out.extend(self.flush(conv)),
            _ => return vec![ev],
        }
        out.push(SseEvent {
            name: ev.name,
            data: v.to_string(),
        });
        out
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
