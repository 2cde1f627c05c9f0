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
    JSON_TEXT, begin, content_text, declared_tools, end, is_structural, judge_tool_result, label,
    redact_message, redact_rest, restore_texts,
};
pub use super::common::{Prepared, ShapeError, ToolResult};
use super::placeholders::{Conversation, Placeholders};
use super::restore::{Escape, Restorer};
use crate::provenance::Origin;
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
    conversation: &mut impl Placeholders,
    tool_source: &dyn Fn(&str) -> Source,
) -> Result<Prepared, ShapeError> {
    let (obj, mut p) = begin(body)?;
    let Some(Value::Array(messages)) = obj.get_mut("messages") else {
        return Err(ShapeError::new("messages", "expected an array of messages"));
    };
    if messages.is_empty() {
        return Err(ShapeError::new("messages", "expected at least one message"));
    }
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
            judge_tool_result(
                &mut p,
                scanner,
                (i, format!("messages[{i}]")),
                tool,
                &text,
                &source,
            );
        }
        let at = format!("messages[{i}]");
        match role.as_str() {
            "system" | "developer" => label(
                &mut p,
                Origin::System,
                at.clone(),
                &content_text(m.get("content")),
            ),
            "user" => label(
                &mut p,
                Origin::User,
                at.clone(),
                &content_text(m.get("content")),
            ),
            "assistant" | "tool" | "function" => {}
            // Any other role (`ipython`, `Tool`) carries what the agent put there: a tool's
            // result, untrusted.
            other => label(
                &mut p,
                Origin::Tool(other.chars().take(64).collect()),
                at.clone(),
                &content_text(m.get("content")),
            ),
        }
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
        let done = redact_message(&mut whole, &at, scanner, conversation, &mut p);
        if let Value::Object(o) = whole {
            *m = o;
        }
        done?;
    }
    declared_tools(obj.get("tools"), &mut p);
    // The legacy `functions` declare functions too.
    declared_tools(obj.get("functions"), &mut p);
    if obj.get("web_search_options").is_some_and(|v| !v.is_null()) {
        p.provenance
            .add_unseen([Origin::Tool("hosted:web_search".into())], "reply");
    }
    redact_rest(obj, &["messages"], scanner, conversation, &mut p)?;
    end(conversation, p)
}

/// Neutralise what the model wrote in a whole reply (before its values are restored): every
/// choice's `content` and `refusal`.
pub fn guard_reply(body: &mut Value, policy: &super::output::OutputPolicy) {
    for c in body
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        for k in ["content", "refusal"] {
            if let Some(Value::String(s)) = c.get_mut("message").and_then(|m| m.get_mut(k)) {
                *s = policy.text(s);
            }
        }
    }
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

/// Most bytes of tool calls one stream holds at once while they are judged.
const MAX_HELD_BYTES: usize = 1024 * 1024;

/// A tool call held whole until it is judged: choice, and its place among the choice's calls.
#[derive(Debug, Default)]
struct HeldCall {
    id: String,
    name: String,
    arguments: String,
    /// The older `function_call` of a message, not an element of `tool_calls`.
    legacy: bool,
}

impl HeldCall {
    fn size(&self) -> usize {
        self.id.len() + self.name.len() + self.arguments.len()
    }
}

/// Restores a Chat Completions event stream, one `data:` payload at a time: every text of every
/// choice's delta, each through a restorer of its own. Made with [`ChatStream::holding_calls`],
/// it holds each proposed tool call whole until its choice finishes, to be judged.
#[derive(Debug, Default)]
pub struct ChatStream {
    restorers: std::collections::BTreeMap<(u64, Vec<Seg>), Restorer>,
    /// The last chunk, as a template for the one that carries what is left at the end.
    last: Option<Value>,
    hold: bool,
    held: std::collections::BTreeMap<(u64, u64), HeldCall>,
    held_bytes: usize,
    /// Choices that have sent text (a replaced call's text goes after a blank line).
    spoke: std::collections::BTreeSet<u64>,
    usage: Option<Value>,
    output: Option<std::sync::Arc<super::output::OutputPolicy>>,
}

/// What [`ChatStream::step`] hands on.
enum ChatOut {
    Data(String),
    Calls(super::HeldCalls),
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
    /// A restorer for one stream that passes tool calls on as they come (restored).
    pub fn new() -> ChatStream {
        ChatStream::default()
    }

    /// A restorer for one stream that holds every tool call whole until it is judged.
    pub fn holding_calls() -> ChatStream {
        ChatStream {
            hold: true,
            ..ChatStream::default()
        }
    }

    /// The same, with every text the model writes passing `policy` first.
    pub fn guarding(mut self, policy: Option<std::sync::Arc<super::output::OutputPolicy>>) -> Self {
        self.output = policy;
        self
    }

    /// One event's `data` (a chunk's JSON, or `[DONE]`) of a stream made with
    /// [`ChatStream::new`]: the payloads to send on, in order. `Err` when a payload is not JSON,
    /// or when the stream asks for more texts at once than a stream restores
    /// ([`MAX_STREAMED_TEXTS`]).
    pub fn event(&mut self, conv: &Conversation, data: &str) -> Result<Vec<String>, String> {
        Ok(self
            .step(conv, data)?
            .into_iter()
            .filter_map(|o| match o {
                ChatOut::Data(d) => Some(d),
                ChatOut::Calls(_) => None,
            })
            .collect())
    }

    /// Take a delta's tool calls (and legacy `function_call`) into `held`.
    fn take_calls(&mut self, index: u64, delta: &mut Value) -> Result<(), String> {
        let Some(d) = delta.as_object_mut() else {
            return Ok(());
        };
        let mut pieces: Vec<(u64, Value, bool)> = Vec::new();
        if let Some(Value::Array(tcs)) = d.remove("tool_calls") {
            for (pos, tc) in tcs.into_iter().enumerate() {
                let i = tc
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(pos as u64);
                pieces.push((i, tc, false));
            }
        }
        if let Some(fc) = d.remove("function_call") {
            pieces.push((u64::MAX, serde_json::json!({ "function": fc }), true));
        }
        for (i, tc, legacy) in pieces {
            let h = self.held.entry((index, i)).or_default();
            let before = h.size();
            h.legacy = legacy;
            let text = |p: &str| tc.pointer(p).and_then(Value::as_str).unwrap_or_default();
            h.id.push_str(text("/id"));
            h.name.push_str(text("/function/name"));
            h.arguments.push_str(text("/function/arguments"));
            if let Some(input) = tc.pointer("/custom/input").and_then(Value::as_str) {
                h.name.push_str(text("/custom/name"));
                h.arguments.push_str(input);
            }
            self.held_bytes += h.size() - before;
        }
        if self.held_bytes > MAX_HELD_BYTES {
            return Err(format!(
                "bulwark: the stream's tool calls are larger than {MAX_HELD_BYTES} bytes"
            ));
        }
        Ok(())
    }

    /// The held calls of the choices in `choices` (all of them when `None`), taken out.
    fn take_held(&mut self, conv: &Conversation, choices: Option<&[u64]>) -> super::HeldCalls {
        let keys: Vec<(u64, u64)> = self
            .held
            .keys()
            .filter(|(c, _)| choices.is_none_or(|cs| cs.contains(c)))
            .copied()
            .collect();
        let mut calls = Vec::new();
        let mut places = Vec::new();
        for k in keys {
            let Some(h) = self.held.remove(&k) else {
                continue;
            };
            self.held_bytes = self.held_bytes.saturating_sub(h.size());
            calls.push(super::calls::ProposedCall {
                id: h.id,
                name: h.name,
                arguments: super::restore::restore(conv, &h.arguments, Escape::Json),
            });
            places.push(serde_json::json!([k.0, h.legacy]));
        }
        super::HeldCalls {
            calls,
            at: serde_json::json!({ "places": places, "finish": Value::Null }),
        }
    }

    fn step(&mut self, conv: &Conversation, data: &str) -> Result<Vec<ChatOut>, String> {
        if data.trim() == "[DONE]" {
            let mut out = self.flush_out(conv);
            out.push(ChatOut::Data(data.to_string()));
            return Ok(out);
        }
        let Some(mut chunk) = super::common::event_json(data)? else {
            return Ok(Vec::new());
        };
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        let mut finishing: Vec<u64> = Vec::new();
        let mut took = false;
        if let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                let finished = c.get("finish_reason").is_some_and(|f| !f.is_null());
                if self.hold
                    && let Some(delta) = c.get_mut("delta")
                {
                    let before = delta.as_object().map_or(0, |o| o.len());
                    self.take_calls(index, delta)?;
                    took |= delta.as_object().map_or(0, |o| o.len()) < before;
                }
                let restorers = &mut self.restorers;
                let output = self.output.as_ref();
                if let Some(delta) = c.get_mut("delta") {
                    if delta
                        .get("content")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty())
                    {
                        self.spoke.insert(index);
                    }
                    stream_walk(delta, &mut Vec::new(), &mut |path, s, escape| {
                        let key = (index, path.to_vec());
                        if !restorers.contains_key(&key) && restorers.len() >= MAX_STREAMED_TEXTS {
                            return Err(format!(
                                "bulwark: the stream carries more than {MAX_STREAMED_TEXTS} texts at once"
                            ));
                        }
                        *s = restorers
                            .entry(key)
                            .or_insert_with(|| Restorer::guarded(escape, output))
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
                    if self.held.keys().any(|(i, _)| *i == index) {
                        finishing.push(index);
                    }
                }
            }
        }
        self.last = Some(chunk.clone());
        if !finishing.is_empty() {
            // What the chunk says goes out now; its finish reasons go out after the calls are
            // judged, matching what passed (a call replaced by text leaves the choice with
            // nothing to call).
            let mut said = chunk.clone();
            let mut finish = chunk;
            for c in said
                .get_mut("choices")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                c["finish_reason"] = Value::Null;
            }
            if let Some(o) = said.as_object_mut() {
                o.remove("usage");
            }
            for c in finish
                .get_mut("choices")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                c["delta"] = Value::Object(Default::default());
            }
            let mut held = self.take_held(conv, Some(&finishing));
            held.at["finish"] = finish;
            let mut out = Vec::new();
            if !chunk_is_empty(&said) {
                out.push(ChatOut::Data(said.to_string()));
            }
            out.push(ChatOut::Calls(held));
            return Ok(out);
        }
        if took && chunk_is_empty(&chunk) {
            return Ok(Vec::new());
        }
        Ok(vec![ChatOut::Data(chunk.to_string())])
    }

    /// The stream ended without its choices saying so: what is still held back, as one more
    /// chunk (and calls to judge).
    pub fn flush(&mut self, conv: &Conversation) -> Vec<String> {
        self.flush_out(conv)
            .into_iter()
            .filter_map(|o| match o {
                ChatOut::Data(d) => Some(d),
                ChatOut::Calls(_) => None,
            })
            .collect()
    }

    fn flush_out(&mut self, conv: &Conversation) -> Vec<ChatOut> {
        let mut out = Vec::new();
        if !self.held.is_empty() {
            out.push(ChatOut::Calls(self.take_held(conv, None)));
        }
        let pending = std::mem::take(&mut self.restorers);
        let mut deltas: std::collections::BTreeMap<u64, Value> = Default::default();
        for ((index, path), mut r) in pending {
            let rest = r.finish(conv);
            if !rest.is_empty() {
                append_at(deltas.entry(index).or_insert(Value::Null), &path, &rest);
            }
        }
        if deltas.is_empty() {
            return out;
        }
        let choices: Vec<Value> = deltas
            .into_iter()
            .map(|(index, delta)| serde_json::json!({"index": index, "delta": delta, "finish_reason": null}))
            .collect();
        out.push(ChatOut::Data(self.template(choices).to_string()));
        out
    }

    /// A chunk like the stream's last one, with `choices`.
    fn template(&self, choices: Vec<Value>) -> Value {
        let mut chunk = self
            .last
            .clone()
            .unwrap_or_else(|| serde_json::json!({"object": "chat.completion.chunk"}));
        chunk["choices"] = Value::Array(choices);
        if let Some(o) = chunk.as_object_mut() {
            o.remove("usage");
        }
        chunk
    }

    /// The chunks that replace held calls: each allowed call whole (renumbered from 0 in its
    /// choice), each replaced one as text, then the finishing chunk they were held with.
    fn resolve_chunks(
        &mut self,
        held: super::HeldCalls,
        decisions: &[super::calls::CallDecision],
    ) -> Vec<String> {
        let places = held.at["places"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::new();
        let mut passed: std::collections::BTreeMap<u64, u64> = Default::default();
        for ((call, place), d) in held.calls.into_iter().zip(places).zip(decisions) {
            let choice = place[0].as_u64().unwrap_or(0);
            let legacy = place[1].as_bool().unwrap_or(false);
            let delta = match d {
                super::calls::CallDecision::Allow => {
                    let n = passed.entry(choice).or_insert(0);
                    let f = serde_json::json!({"name": call.name, "arguments": call.arguments});
                    let delta = if legacy {
                        serde_json::json!({ "function_call": f })
                    } else {
                        serde_json::json!({"tool_calls": [{"index": *n, "id": call.id, "type": "function", "function": f}]})
                    };
                    *n += 1;
                    delta
                }
                super::calls::CallDecision::Replace(text) => {
                    let text = if self.spoke.insert(choice) {
                        text.clone()
                    } else {
                        format!("\n\n{text}")
                    };
                    serde_json::json!({ "content": text })
                }
            };
            out.push(
                self.template(vec![
                    serde_json::json!({"index": choice, "delta": delta, "finish_reason": null}),
                ])
                .to_string(),
            );
        }
        let mut finish = held.at["finish"].clone();
        if let Some(choices) = finish.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                let reason = c.get("finish_reason").and_then(Value::as_str);
                if matches!(reason, Some("tool_calls" | "function_call"))
                    && !passed.contains_key(&index)
                {
                    c["finish_reason"] = Value::String("stop".into());
                }
            }
        }
        if !finish.is_null() {
            out.push(finish.to_string());
        }
        out
    }
}

/// Whether a chunk says nothing: every choice's delta empty, no finish, no usage.
fn chunk_is_empty(chunk: &Value) -> bool {
    chunk.get("usage").is_none_or(Value::is_null)
        && chunk
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().all(|c| {
                    c.get("finish_reason").is_none_or(Value::is_null)
                        && c.get("delta").and_then(Value::as_object).is_none_or(|d| {
                            d.is_empty() || (d.len() == 1 && d.contains_key("role"))
                        })
                })
            })
}

impl super::EventRestorer for ChatStream {
    fn event(
        &mut self,
        conv: &Conversation,
        ev: super::SseEvent,
    ) -> Result<Vec<super::Emit>, String> {
        Ok(self.step(conv, &ev.data)?.into_iter().map(emit).collect())
    }

    fn flush(&mut self, conv: &Conversation) -> Vec<super::Emit> {
        self.flush_out(conv).into_iter().map(emit).collect()
    }

    fn resolve(
        &mut self,
        held: super::HeldCalls,
        decisions: &[super::calls::CallDecision],
    ) -> Vec<super::SseEvent> {
        self.resolve_chunks(held, decisions)
            .into_iter()
            .map(|data| super::SseEvent { name: None, data })
            .collect()
    }

    fn usage(&self) -> Option<Value> {
        self.usage.clone()
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

fn emit(o: ChatOut) -> super::Emit {
    match o {
        ChatOut::Data(data) => super::Emit::Event(super::SseEvent { name: None, data }),
        ChatOut::Calls(h) => super::Emit::Calls(h),
    }
}
