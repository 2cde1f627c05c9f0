//! Anthropic Messages (`POST /v1/messages`): what the model reads, redacted, and what it writes,
//! restored; whole replies and event streams.
//!
//! Redacted: `system` (a string or text blocks), and in every message its `content` (a string, or
//! blocks): `text` blocks, the `input` of `tool_use` blocks (every string inside), and the content
//! of `tool_result` blocks (a string or text blocks), which are also judged for prompt injection
//! with the tool's name. `thinking` and `redacted_thinking` blocks pass untouched: the provider
//! signs them, and a changed one is refused.

use serde_json::Value;

use super::calls::{CallDecision, ProposedCall, anthropic_call, is_call_block};
pub use super::common::{Prepared, ShapeError};
use super::common::{
    all_text, begin, content_text, declared_tools, end, judge_tool_result, label, redact_message,
    redact_rest, restore_texts,
};
use super::placeholders::{Conversation, Placeholders};
use super::restore::{Escape, Restorer, restore};
use super::{Emit, EventRestorer, HeldCalls, SseEvent};
use crate::provenance::Origin;
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
    conversation: &mut impl Placeholders,
    tool_source: &dyn Fn(&str) -> Source,
) -> Result<Prepared, ShapeError> {
    let (obj, mut p) = begin(body)?;
    if let Some(system) = obj.get_mut("system") {
        if !matches!(system, Value::String(_) | Value::Array(_) | Value::Null) {
            return Err(ShapeError::new(
                "system",
                "expected a string or an array of content blocks",
            ));
        }
        label(
            &mut p,
            Origin::System,
            "system".into(),
            &content_text(Some(system)),
        );
        redact_message(system, "system", scanner, conversation, &mut p)?;
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
        if mo.get("role").and_then(Value::as_str) == Some("user") {
            label(
                &mut p,
                Origin::User,
                at.clone(),
                &content_text(mo.get("content")),
            );
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
                        // A server tool's result (web search, web fetch, code execution, an
                        // MCP server's) or a search result: untrusted, by its type.
                        Some(t) if t.ends_with("_tool_result") || t == "search_result" => {
                            let text = all_text(Some(b));
                            p.provenance
                                .add(Origin::Tool(t.into()), at.clone(), &text, 0.0);
                        }
                        Some("tool_result") => {
                            let tool = b
                                .get("tool_use_id")
                                .and_then(Value::as_str)
                                .and_then(|id| calls.get(id).cloned())
                                .unwrap_or_else(|| "unknown".to_string());
                            let text = content_text(b.get("content"));
                            let source = tool_source(&tool);
                            judge_tool_result(
                                &mut p,
                                scanner,
                                (i, format!("messages[{i}]")),
                                tool,
                                &text,
                                &source,
                            );
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
        redact_message(m, &at, scanner, conversation, &mut p)?;
    }
    declared_tools(obj.get("tools"), &mut p);
    for server in obj
        .get("mcp_servers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = server.get("name").and_then(Value::as_str).unwrap_or("mcp");
        p.provenance
            .add_unseen([Origin::Tool(format!("hosted:mcp.{name}"))], "reply");
    }
    redact_rest(obj, &["system", "messages"], scanner, conversation, &mut p)?;
    end(conversation, p)
}

/// Neutralise what the model wrote in a whole reply (before its values are restored): the text of
/// every `text` block.
pub fn guard_reply(body: &mut Value, policy: &super::output::OutputPolicy) {
    for b in body
        .get_mut("content")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if b.get("type").and_then(Value::as_str) == Some("text")
            && let Some(Value::String(s)) = b.get_mut("text")
        {
            *s = policy.text(s);
        }
    }
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

/// Most bytes of tool inputs one stream holds at once while they are judged.
const MAX_HELD_BYTES: usize = 1024 * 1024;

/// Restores a Messages event stream: `text_delta` as text, `input_json_delta` as JSON text, one
/// restorer per content block; what a block still holds goes out as one more delta before its
/// `content_block_stop`. Made with [`MessagesStream::holding_calls`], it holds each `tool_use`
/// block whole until it is judged.
#[derive(Debug, Default)]
pub struct MessagesStream {
    blocks: std::collections::BTreeMap<u64, (Restorer, &'static str)>,
    hold: bool,
    /// Held `tool_use` blocks: their start block and their input's JSON so far.
    held: std::collections::BTreeMap<u64, (Value, String)>,
    held_bytes: usize,
    /// Calls judged in this message, and how many passed.
    judged: usize,
    passed: usize,
    usage: Option<Value>,
    output: Option<std::sync::Arc<super::output::OutputPolicy>>,
}

impl MessagesStream {
    /// A restorer for one stream that passes `tool_use` blocks on as they come (restored).
    pub fn new() -> MessagesStream {
        MessagesStream::default()
    }

    /// A restorer for one stream that holds every `tool_use` block whole until it is judged.
    pub fn holding_calls() -> MessagesStream {
        MessagesStream {
            hold: true,
            ..MessagesStream::default()
        }
    }

    /// The same, with every text the model writes passing `policy` first.
    pub fn guarding(mut self, policy: Option<std::sync::Arc<super::output::OutputPolicy>>) -> Self {
        self.output = policy;
        self
    }

    /// The held `tool_use` block at `index`, taken out as a call.
    fn take_block(&mut self, conv: &Conversation, index: u64) -> Option<(ProposedCall, Value)> {
        let (block, json) = self.held.remove(&index)?;
        self.held_bytes = self.held_bytes.saturating_sub(json.len());
        let json = (!json.trim().is_empty()).then(|| restore(conv, &json, Escape::Json));
        let call = anthropic_call(&block, json);
        Some((call, serde_json::json!({"index": index, "block": block})))
    }

    /// The held blocks at `indexes` as calls to judge; `then` is an event that goes out after
    /// them (a `message_delta` whose stop reason depends on what passed).
    fn held_calls(
        &mut self,
        conv: &Conversation,
        indexes: &[u64],
        then: Option<Value>,
    ) -> Option<HeldCalls> {
        let mut calls = Vec::new();
        let mut blocks = Vec::new();
        for &i in indexes {
            if let Some((c, b)) = self.take_block(conv, i) {
                calls.push(c);
                blocks.push(b);
            }
        }
        if calls.is_empty() && then.is_none() {
            return None;
        }
        Some(HeldCalls {
            calls,
            at: serde_json::json!({"blocks": blocks, "then": then}),
        })
    }

    /// A `message_delta` as it goes out: a message whose calls were all withheld has none left
    /// to run.
    fn delta_out(&self, mut v: Value) -> SseEvent {
        if self.judged > 0
            && self.passed == 0
            && v.pointer("/delta/stop_reason").and_then(Value::as_str) == Some("tool_use")
        {
            v["delta"]["stop_reason"] = Value::String("end_turn".into());
        }
        SseEvent {
            name: Some("message_delta".into()),
            data: v.to_string(),
        }
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
    fn event(&mut self, conv: &Conversation, ev: SseEvent) -> Result<Vec<Emit>, String> {
        let Some(mut v) = super::common::event_json(&ev.data)? else {
            return Ok(Vec::new());
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
                if let Some((_, json)) = self.held.get_mut(&index) {
                    // A held call's input waits whole; anything else in a held block is dropped
                    // with it.
                    if let Some(p) = v.pointer("/delta/partial_json").and_then(Value::as_str) {
                        json.push_str(p);
                        self.held_bytes += p.len();
                        if self.held_bytes > MAX_HELD_BYTES {
                            return Err(format!(
                                "bulwark: the stream's tool inputs are larger than {MAX_HELD_BYTES} bytes"
                            ));
                        }
                    }
                    return Ok(Vec::new());
                }
                let (field, escape, kind) = match delta_kind.as_str() {
                    "text_delta" => ("text", Escape::Text, "text_delta"),
                    "input_json_delta" => ("partial_json", Escape::Json, "input_json_delta"),
                    _ => return Ok(vec![Emit::Event(ev)]),
                };
                if let Some(Value::String(s)) = v.get_mut("delta").and_then(|d| d.get_mut(field)) {
                    if !self.blocks.contains_key(&index) && self.blocks.len() >= MAX_BLOCKS {
                        return Err(format!(
                            "bulwark: the stream carries more than {MAX_BLOCKS} content blocks at once"
                        ));
                    }
                    let output = self.output.as_ref();
                    let (r, _) = self
                        .blocks
                        .entry(index)
                        .or_insert_with(|| (Restorer::guarded(escape, output), kind));
                    *s = r.push(conv, s);
                }
            }
            "content_block_start" => {
                if self.hold
                    && let Some(block) = v.get("content_block").filter(|b| is_call_block(b))
                {
                    if self.held.len() >= MAX_BLOCKS {
                        return Err(format!(
                            "bulwark: the stream holds more than {MAX_BLOCKS} tool calls at once"
                        ));
                    }
                    let mut block = block.clone();
                    restore_texts(&mut block, conv);
                    self.held.insert(index, (block, String::new()));
                    return Ok(Vec::new());
                }
                // A block may start with text (or a tool's input) already in it.
                if let Some(block) = v.get_mut("content_block") {
                    restore_texts(block, conv);
                }
            }
            "content_block_stop" => {
                if let Some(held) = self.held_calls(conv, &[index], None) {
                    // The block's events go out when the call is judged.
                    return Ok(vec![Emit::Calls(held)]);
                }
                out.extend(self.rest_of(conv, index).map(Emit::Event));
            }
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage").filter(|u| u.is_object()) {
                    self.usage = Some(u.clone());
                }
                if let Some(m) = v.get_mut("message") {
                    restore_texts(m, conv);
                }
                // A message may start with its content in it: calls there are judged too.
                let calls = super::calls::anthropic_calls(&v["message"]);
                if self.hold && !calls.is_empty() {
                    return Ok(vec![Emit::Calls(HeldCalls {
                        calls,
                        at: serde_json::json!({ "start": v }),
                    })]);
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage").and_then(Value::as_object) {
                    let mut merged = self
                        .usage
                        .take()
                        .and_then(|u| u.as_object().cloned())
                        .unwrap_or_default();
                    for (k, x) in u {
                        if !x.is_null() {
                            merged.insert(k.clone(), x.clone());
                        }
                    }
                    self.usage = Some(Value::Object(merged));
                }
                // Calls whose block never stopped are judged before the message says how it
                // stopped.
                if !self.held.is_empty() {
                    let indexes: Vec<u64> = self.held.keys().copied().collect();
                    if let Some(h) = self.held_calls(conv, &indexes, Some(v)) {
                        return Ok(vec![Emit::Calls(h)]);
                    }
                    return Ok(Vec::new());
                }
                return Ok(vec![Emit::Event(self.delta_out(v))]);
            }
            "message_stop" => out.extend(self.flush(conv)),
            _ => return Ok(vec![Emit::Event(ev)]),
        }
        out.push(Emit::Event(SseEvent {
            name: ev.name,
            data: v.to_string(),
        }));
        Ok(out)
    }

    fn flush(&mut self, conv: &Conversation) -> Vec<Emit> {
        let mut out: Vec<Emit> = Vec::new();
        let held: Vec<u64> = self.held.keys().copied().collect();
        out.extend(self.held_calls(conv, &held, None).map(Emit::Calls));
        let indexes: Vec<u64> = self.blocks.keys().copied().collect();
        out.extend(
            indexes
                .into_iter()
                .filter_map(|i| self.rest_of(conv, i))
                .map(Emit::Event),
        );
        out
    }

    fn resolve(&mut self, held: HeldCalls, decisions: &[CallDecision]) -> Vec<SseEvent> {
        let ev = |name: &str, data: Value| SseEvent {
            name: Some(name.into()),
            data: data.to_string(),
        };
        for d in decisions {
            self.judged += 1;
            if d.allowed() {
                self.passed += 1;
            }
        }
        if let Some(start) = held.at.get("start") {
            let mut v = start.clone();
            if let Some(m) = v.get_mut("message") {
                super::calls::anthropic_apply(m, decisions);
            }
            return vec![ev("message_start", v)];
        }
        let mut out = Vec::new();
        let blocks = held.at["blocks"].as_array().cloned().unwrap_or_default();
        for ((call, d), b) in held.calls.iter().zip(decisions).zip(blocks) {
            let index = b["index"].as_u64().unwrap_or(0);
            match d {
                CallDecision::Allow if b["block"]["type"] == "tool_use" => {
                    let mut block = b["block"].clone();
                    block["input"] = serde_json::json!({});
                    out.push(ev("content_block_start", serde_json::json!({"type": "content_block_start", "index": index, "content_block": block})));
                    out.push(ev("content_block_delta", serde_json::json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": call.arguments}})));
                }
                // Another kind of call block passes as it came (its deltas were not kept).
                CallDecision::Allow => {
                    out.push(ev("content_block_start", serde_json::json!({"type": "content_block_start", "index": index, "content_block": b["block"]})));
                }
                CallDecision::Replace(text) => {
                    out.push(ev("content_block_start", serde_json::json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
                    out.push(ev("content_block_delta", serde_json::json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}})));
                }
            }
            out.push(ev(
                "content_block_stop",
                serde_json::json!({"type": "content_block_stop", "index": index}),
            ));
        }
        if let Some(then) = held.at.get("then").filter(|t| !t.is_null()) {
            out.push(self.delta_out(then.clone()));
        }
        out
    }

    fn usage(&self) -> Option<Value> {
        self.usage.clone()
    }

    fn error_event(message: &str) -> SseEvent {
        SseEvent {
            name: Some("error".into()),
            data: serde_json::json!({"type": "error", "error": {"type": "api_error", "message": message}})
                .to_string(),
        }
    }
}
