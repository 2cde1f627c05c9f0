//! OpenAI Responses (`POST /v1/responses`): what the model reads, redacted, and what it writes,
//! restored; whole responses and their event streams.
//!
//! Redacted: `instructions`, and `input` (a string, or items): every text of every item, the
//! `arguments` of `function_call` items inside their JSON, and the `output` of
//! `function_call_output` items, which is also judged for prompt injection with the tool's name.
//! `reasoning` items pass untouched both ways: the provider encrypts them.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::calls::{CallDecision, ProposedCall};
pub use super::common::{Prepared, ShapeError};
use super::common::{
    all_text, begin, content_text, declared_tools, end, judge_tool_result, label, redact_message,
    redact_rest, restore_texts,
};
use super::placeholders::{Conversation, Placeholders};
use super::restore::{Escape, Restorer};
use super::{Emit, EventRestorer, HeldCalls, SseEvent};
use crate::provenance::Origin;
use crate::scan::Scanner;
use crate::scan::injection::Source;

/// An item's type: `type`, or `message` for an item with a role and no type.
fn item_type(item: &Value) -> &str {
    match item.get("type").and_then(Value::as_str) {
        Some(t) => t,
        None if item.get("role").is_some() => "message",
        None => "",
    }
}

/// The texts that open a conversation: the instructions and the first input.
pub fn opening(body: &Value) -> Vec<String> {
    let mut out = vec![format!(
        "instructions\0{}",
        content_text(body.get("instructions"))
    )];
    match body.get("input") {
        Some(Value::String(s)) => out.push(format!("user\0{s}")),
        Some(Value::Array(items)) => {
            if let Some(first) = items.first() {
                out.push(format!("{}\0{}", item_type(first), first));
            }
        }
        _ => {}
    }
    out
}

/// Check the shape of a Responses request, redact every text the model reads in place, and
/// judge the tool results.
pub fn prepare(
    body: &mut Value,
    scanner: &Scanner,
    conversation: &mut impl Placeholders,
    tool_source: &dyn Fn(&str) -> Source,
) -> Result<Prepared, ShapeError> {
    let (obj, mut p) = begin(body)?;
    if let Some(instructions) = obj.get_mut("instructions") {
        if !matches!(instructions, Value::String(_) | Value::Null) {
            return Err(ShapeError::new("instructions", "expected a string"));
        }
        label(
            &mut p,
            Origin::System,
            "instructions".into(),
            &content_text(Some(instructions)),
        );
        redact_message(instructions, "instructions", scanner, conversation, &mut p)?;
    }
    let stored = obj.get("previous_response_id").is_some() || obj.get("conversation").is_some();
    match obj.get_mut("input") {
        Some(s @ Value::String(_)) => {
            label(&mut p, Origin::User, "input".into(), &content_text(Some(s)));
            redact_message(s, "input", scanner, conversation, &mut p)?;
        }
        Some(Value::Array(items)) => {
            let mut calls: HashMap<String, String> = HashMap::new();
            for (i, item) in items.iter_mut().enumerate() {
                let at = format!("input[{i}]");
                if !item.is_object() {
                    return Err(ShapeError::new(at, "expected an input item (an object)"));
                }
                match item_type(item) {
                    "message" => {
                        if !matches!(item.get("role"), Some(Value::String(_))) {
                            return Err(ShapeError::new(
                                format!("{at}.role"),
                                "expected user, system, developer or assistant",
                            ));
                        }
                        if !matches!(
                            item.get("content"),
                            Some(Value::String(_) | Value::Array(_))
                        ) {
                            return Err(ShapeError::new(
                                format!("{at}.content"),
                                "expected a string or an array of content parts",
                            ));
                        }
                        let origin = match item.get("role").and_then(Value::as_str) {
                            Some("user") => Some(Origin::User),
                            Some("system" | "developer") => Some(Origin::System),
                            Some("assistant") => None,
                            // Any other role (`tool`) carries what the agent put there.
                            other => Some(Origin::Tool(
                                other.unwrap_or("unknown").chars().take(64).collect(),
                            )),
                        };
                        if let Some(o) = origin {
                            label(&mut p, o, at.clone(), &content_text(item.get("content")));
                        }
                    }
                    t if t == "mcp_call" || t.ends_with("_output") => {
                        let (tool, text) = if t == "mcp_call" {
                            // A hosted MCP server's answer: read by the model like any tool's.
                            (mcp_name(item), all_text(item.get("output")))
                        } else {
                            let tool = item
                                .get("call_id")
                                .and_then(Value::as_str)
                                .and_then(|id| calls.get(id).cloned())
                                .unwrap_or_else(|| "unknown".to_string());
                            let text = if matches!(
                                t,
                                "function_call_output" | "custom_tool_call_output"
                            ) {
                                content_text(item.get("output"))
                            } else {
                                // A shell's stdout and stderr, a patch's log, a screenshot's URL.
                                all_text(item.get("output"))
                            };
                            (tool, text)
                        };
                        let source = tool_source(&tool);
                        judge_tool_result(&mut p, scanner, (i, at.clone()), tool, &text, &source);
                    }
                    t if !t.is_empty() && is_call_item(item) => {
                        let call = call_of(item);
                        calls.insert(call.id, call.name);
                        // An item of a type not known to be the model's own call (a reference
                        // to a stored item, a type added since) may carry anything: untrusted.
                        if !KNOWN_CALLS.contains(&t) {
                            label_item(&mut p, t, &at, item);
                        }
                    }
                    "" => {
                        return Err(ShapeError::new(
                            format!("{at}.type"),
                            "expected the item's type (message, function_call, function_call_output, ...)",
                        ));
                    }
                    // The model's own reasoning, encrypted.
                    "reasoning" => {}
                    // A hosted tool's call with its results (web search, file search, code
                    // interpreter), a reference to a stored item, a compaction: what they carry
                    // came from outside.
                    t => label_item(&mut p, t, &at, item),
                }
                redact_message(item, &at, scanner, conversation, &mut p)?;
            }
        }
        None | Some(Value::Null) if stored => {}
        _ => {
            return Err(ShapeError::new(
                "input",
                "expected a string or an array of input items",
            ));
        }
    }
    declared_tools(obj.get("tools"), &mut p);
    if stored {
        // The earlier turns are the provider's: the tools whose results they carried still
        // taint this one.
        // And the values they carried are in the conversation's map.
        p.provenance.add_sensitive(conversation.with(|c| c.len()));
    }
    redact_rest(
        obj,
        &[
            "instructions",
            "input",
            "previous_response_id",
            "conversation",
        ],
        scanner,
        conversation,
        &mut p,
    )?;
    end(conversation, p)
}

/// Neutralise what the model wrote in a whole response (before its values are restored): the
/// text of every `output_text` part of every message item.
pub fn guard_reply(body: &mut Value, policy: &super::output::OutputPolicy) {
    for item in body
        .get_mut("output")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        guard_item(item, &|s| policy.text(s));
    }
}

/// The `output_text` parts of a message item, through `f`.
fn guard_item(item: &mut Value, f: &dyn Fn(&str) -> String) {
    for part in item
        .get_mut("content")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        guard_part(part, f);
    }
}

fn guard_part(part: &mut Value, f: &dyn Fn(&str) -> String) {
    if part.get("type").and_then(Value::as_str) == Some("output_text")
        && let Some(Value::String(s)) = part.get_mut("text")
    {
        *s = f(s);
    }
}

/// The whole texts a stream's non-delta event repeats (`output_text.done`, a part, an item, a
/// final response), through the guard, uncounted: its deltas were counted.
fn guard_event(v: &mut Value, policy: &super::output::OutputPolicy) {
    let f = |s: &str| policy.text_again(s);
    if v.get("type").and_then(Value::as_str) == Some("response.output_text.done")
        && let Some(Value::String(s)) = v.get_mut("text")
    {
        *s = f(s);
    }
    if let Some(part) = v.get_mut("part") {
        guard_part(part, &f);
    }
    if let Some(item) = v.get_mut("item") {
        guard_item(item, &f);
    }
    for item in v
        .pointer_mut("/response/output")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        guard_item(item, &f);
    }
}

/// Put the values back into a whole response: every text of every output item (messages,
/// function call arguments as JSON); reasoning passes as it is.
pub fn restore_reply(body: &mut Value, conv: &Conversation) -> usize {
    match body.get_mut("output") {
        Some(items @ Value::Array(_)) => restore_texts(items, conv),
        _ => 0,
    }
}

/// Output item types that are not calls the agent runs: messages, reasoning and compaction, and
/// the hosted tools the provider has already run itself (their results included). Every other
/// item, a type unknown today included, is a call the agent would run and is judged: function and
/// custom tool calls, `local_shell_call`, `shell_call`, `apply_patch_call`, `computer_call`,
/// `mcp_approval_request` (the agent's approval lets the provider call an MCP server), `program`.
const NOT_CALLS: &[&str] = &[
    "message",
    "reasoning",
    "compaction",
    "additional_tools",
    "web_search_call",
    "file_search_call",
    "image_generation_call",
    "code_interpreter_call",
    "mcp_call",
    "mcp_list_tools",
    "tool_search_call",
];

/// The call items the model writes, as the API knows them today.
const KNOWN_CALLS: &[&str] = &[
    "function_call",
    "custom_tool_call",
    "local_shell_call",
    "shell_call",
    "apply_patch_call",
    "computer_call",
    "mcp_approval_request",
    "program",
];

/// Whether an output item is a call the agent runs (see [`NOT_CALLS`]).
fn is_call_item(item: &Value) -> bool {
    let t = item_type(item);
    !(NOT_CALLS.contains(&t) || t.ends_with("_output"))
}

/// A word quoted for a shell. A NUL byte cannot be quoted: such a word is judged as it is.
fn quote(w: &str) -> String {
    shlex::try_quote(w).map_or_else(|_| w.to_string(), |q| q.into_owned())
}

/// An input item that came from outside, labelled untrusted by its type, with every text in it
/// (even none: an item that only refers to a stored one still taints).
fn label_item(p: &mut Prepared, kind: &str, at: &str, item: &Value) {
    let text = all_text(Some(item));
    p.provenance.add(
        Origin::Tool(kind.chars().take(64).collect()),
        at,
        &text,
        0.0,
    );
}

/// The name a hosted MCP server's tool is judged by: `mcp.SERVER.TOOL`.
fn mcp_name(item: &Value) -> String {
    let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
    format!("mcp.{}.{}", s("server_label"), s("name"))
}

/// An output item as the call the action policy judges.
///
/// - `function_call`: its name and arguments; `custom_tool_call`: its name, with `{"input"}`;
/// - `local_shell_call` (`local_shell`): the argv (after its environment, as assignments) as
///   one shell-quoted `command`, with `working_directory`;
/// - `shell_call` (`shell`): its commands as one `command`, a line each;
/// - `apply_patch_call` (`apply_patch`): `action` (create_file, update_file, delete_file),
///   `path` and `diff`;
/// - `computer_call` (`computer`): the action's fields, with `action` its type;
/// - `mcp_approval_request` (`mcp.SERVER.TOOL`): the tool's arguments, with `server_label`;
/// - any other type: named by its type, with the whole item as arguments.
fn call_of(item: &Value) -> ProposedCall {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let t = item_type(item);
    let id = match item.get("call_id").and_then(Value::as_str) {
        Some(id) => id.to_string(),
        None => s(item.get("id")),
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|w| match w {
                Value::String(w) => w.clone(),
                w => w.to_string(),
            })
            .collect()
    };
    let (name, arguments) = match t {
        "function_call" => (
            s(item.get("name")),
            match item.get("arguments") {
                // Arguments sent as an object are judged as they are.
                Some(a @ (Value::Object(_) | Value::Array(_))) => a.to_string(),
                a => s(a),
            },
        ),
        "custom_tool_call" => (
            s(item.get("name")),
            json!({ "input": s(item.get("input")) }).to_string(),
        ),
        "local_shell_call" => {
            let action = item.get("action");
            let mut words: Vec<String> = action
                .and_then(|a| a.get("env"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let v = quote(v.as_str().unwrap_or_default());
                    let name = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    // A name that is not one is quoted whole: read as a program, not a setting.
                    if name {
                        format!("{k}={v}")
                    } else {
                        quote(&format!("{k}={v}"))
                    }
                })
                .collect();
            words.extend(
                strings(action.and_then(|a| a.get("command")))
                    .iter()
                    .map(|w| quote(w)),
            );
            let command = words.join(" ");
            let mut args = json!({ "command": command });
            if let Some(wd) = action.and_then(|a| a.get("working_directory")) {
                args["working_directory"] = wd.clone();
            }
            ("local_shell".into(), args.to_string())
        }
        "shell_call" => {
            let commands = strings(item.pointer("/action/commands"));
            (
                "shell".into(),
                json!({ "command": commands.join("\n") }).to_string(),
            )
        }
        "apply_patch_call" => {
            let op = item.get("operation");
            let f = |k: &str| op.and_then(|o| o.get(k)).cloned().unwrap_or(Value::Null);
            (
                "apply_patch".into(),
                json!({ "action": f("type"), "path": f("path"), "diff": f("diff") }).to_string(),
            )
        }
        "computer_call" => {
            let mut args = item
                .get("action")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(kind) = args.remove("type") {
                args.insert("action".into(), kind);
            }
            ("computer".into(), Value::Object(args).to_string())
        }
        "mcp_approval_request" => {
            let arguments = s(item.get("arguments"));
            let arguments = match serde_json::from_str::<Value>(&arguments) {
                Ok(Value::Object(mut args)) => {
                    args.insert("server_label".into(), json!(s(item.get("server_label"))));
                    Value::Object(args).to_string()
                }
                // Arguments that are not an object are judged as they came (and refused).
                _ => arguments,
            };
            (mcp_name(item), arguments)
        }
        other => (other.to_string(), item.to_string()),
    };
    ProposedCall {
        id,
        name,
        arguments,
    }
}

/// The function calls of a whole response, in order.
pub fn calls(body: &Value) -> Vec<ProposedCall> {
    body.get("output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|i| is_call_item(i))
        .map(call_of)
        .collect()
}

/// The message item that stands in for a call that did not pass.
fn text_item(id: &Value, text: &str, status: &str) -> Value {
    json!({
        "type": "message", "id": id, "role": "assistant", "status": status,
        "content": if status == "completed" {
            json!([{"type": "output_text", "text": text, "annotations": []}])
        } else {
            json!([])
        },
    })
}

/// Apply `decisions` (one per call of [`calls`]) to a whole response: a replaced call's item
/// becomes an assistant message with the text.
pub fn apply(body: &mut Value, decisions: &[CallDecision]) {
    let mut d = decisions.iter();
    for item in body
        .get_mut("output")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if !is_call_item(item) {
            continue;
        }
        if let Some(CallDecision::Replace(t)) = d.next() {
            let id = item.get("id").cloned().unwrap_or(Value::Null);
            *item = text_item(&id, t, "completed");
        }
    }
}

/// Most texts and calls one stream holds at once.
const MAX_STREAMED: usize = 256;
/// Most bytes of call arguments one stream holds while they are judged.
const MAX_HELD_BYTES: usize = 1024 * 1024;

/// Restores a Responses event stream: every `*.delta` text through a restorer of its own (what
/// it holds goes out as one more delta before its `*.done`), every other event's texts whole.
/// Made with [`ResponsesStream::holding_calls`], it holds each function call item whole until
/// it is judged.
#[derive(Debug, Default)]
pub struct ResponsesStream {
    restorers: BTreeMap<(String, u64, u64), (Restorer, Value)>,
    hold: bool,
    /// Held call items by output index: their `output_item.added` event and arguments so far.
    held: BTreeMap<u64, (Value, String)>,
    held_bytes: usize,
    /// Calls decided: passed (with the arguments that passed), or the message item that
    /// replaced them.
    passed: HashMap<String, String>,
    replaced: HashMap<String, Value>,
    usage: Option<Value>,
    id: Option<String>,
    output: Option<std::sync::Arc<super::output::OutputPolicy>>,
}

impl ResponsesStream {
    /// A restorer that passes function calls on as they come (restored).
    pub fn new() -> ResponsesStream {
        ResponsesStream::default()
    }

    /// A restorer that holds every function call whole until it is judged.
    pub fn holding_calls() -> ResponsesStream {
        ResponsesStream {
            hold: true,
            ..ResponsesStream::default()
        }
    }

    /// The same, with every text the model writes passing `policy` first.
    pub fn guarding(mut self, policy: Option<std::sync::Arc<super::output::OutputPolicy>>) -> Self {
        self.output = policy;
        self
    }

    /// The deltas still held for `output_index` (all when `None`), as delta events.
    fn rest(&mut self, conv: &Conversation, output_index: Option<u64>) -> Vec<Emit> {
        let keys: Vec<(String, u64, u64)> = self
            .restorers
            .keys()
            .filter(|k| output_index.is_none_or(|o| k.1 == o))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for k in keys {
            let Some((mut r, mut template)) = self.restorers.remove(&k) else {
                continue;
            };
            let rest = r.finish(conv);
            if !rest.is_empty() {
                template["delta"] = Value::String(rest);
                out.push(Emit::Event(SseEvent {
                    name: template
                        .get("type")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    data: template.to_string(),
                }));
            }
        }
        out
    }

    /// A final response (`response.completed`, `.incomplete`, `.failed`): restored, with the
    /// calls already decided applied; calls never streamed as items are judged now.
    fn final_response(&mut self, conv: &Conversation, mut v: Value, name: Option<String>) -> Emit {
        if let Some(p) = &self.output {
            guard_event(&mut v, p);
        }
        if let Some(r) = v.get_mut("response") {
            restore_reply(r, conv);
            if let Some(u) = r.get("usage").filter(|u| u.is_object()) {
                self.usage = Some(u.clone());
            }
        }
        let mut undecided = Vec::new();
        for item in v
            .pointer_mut("/response/output")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if !is_call_item(item) {
                continue;
            }
            let call = call_of(item);
            if let Some(m) = self.replaced.get(&call.id) {
                let id = item.get("id").cloned().unwrap_or(Value::Null);
                *item = m.clone();
                item["id"] = id;
            } else if self.hold && self.passed.get(&call.id) != Some(&call.arguments) {
                // Not judged, or judged with other arguments: judged now.
                undecided.push(call);
            }
        }
        if !undecided.is_empty() {
            return Emit::Calls(HeldCalls {
                calls: undecided,
                at: json!({"final": v, "name": name}),
            });
        }
        Emit::Event(SseEvent {
            name,
            data: v.to_string(),
        })
    }
}

impl EventRestorer for ResponsesStream {
    fn event(&mut self, conv: &Conversation, ev: SseEvent) -> Result<Vec<Emit>, String> {
        let Some(mut v) = super::common::event_json(&ev.data)? else {
            return Ok(Vec::new());
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let output_index = v.get("output_index").and_then(Value::as_u64);
        if let Some(id) = v.pointer("/response/id").and_then(Value::as_str) {
            self.id = Some(id.to_string());
        }
        // A held call: its events wait for the item's end.
        if let Some(o) = output_index
            && self.held.contains_key(&o)
        {
            if kind == "response.output_item.done" {
                let Some((added, _)) = self.held.remove(&o) else {
                    return Ok(Vec::new());
                };
                if let Some(item) = v.get_mut("item") {
                    restore_texts(item, conv);
                }
                let call = call_of(&v["item"]);
                self.held_bytes = self.held_bytes.saturating_sub(call.arguments.len());
                return Ok(vec![Emit::Calls(HeldCalls {
                    calls: vec![call],
                    at: json!({"added": added, "done": v}),
                })]);
            }
            if let Some(d) = v.get("delta").and_then(Value::as_str) {
                self.held_bytes += d.len();
                if self.held_bytes > MAX_HELD_BYTES {
                    return Err(format!(
                        "bulwark: the stream's function calls are larger than {MAX_HELD_BYTES} bytes"
                    ));
                }
            }
            return Ok(Vec::new());
        }
        let call_item = v.get("item").is_some_and(is_call_item);
        if self.hold && call_item {
            let Some(o) = output_index else {
                return Err(format!(
                    "bulwark: the upstream sent a function call ({kind}) without its output_index; it cannot be judged, so the stream ends here"
                ));
            };
            if kind == "response.output_item.added" {
                if self.held.len() >= MAX_STREAMED {
                    return Err(format!(
                        "bulwark: the stream holds more than {MAX_STREAMED} function calls at once"
                    ));
                }
                self.held.insert(o, (v, String::new()));
                return Ok(Vec::new());
            }
            // A call item that was never announced (or any other event carrying one): judged
            // whole, as if it had been.
            if let Some(item) = v.get_mut("item") {
                restore_texts(item, conv);
            }
            let mut item = v["item"].clone();
            let call = call_of(&item);
            if self.passed.get(&call.id) != Some(&call.arguments) {
                for k in ["arguments", "input"] {
                    if item.get(k).is_some() {
                        item[k] = Value::String(String::new());
                    }
                }
                let added = json!({"type": "response.output_item.added", "output_index": o, "item": item, "sequence_number": v.get("sequence_number")});
                return Ok(vec![Emit::Calls(HeldCalls {
                    calls: vec![call],
                    at: json!({"added": added, "done": v}),
                })]);
            }
        }
        if v.pointer("/response/output").is_some() {
            // A response object (created, in progress, completed, ...): restored, its calls
            // decided as they were or judged now.
            let mut out = if matches!(
                kind.as_str(),
                "response.completed" | "response.incomplete" | "response.failed"
            ) {
                self.rest(conv, None)
            } else {
                Vec::new()
            };
            out.push(self.final_response(conv, v, ev.name));
            return Ok(out);
        }
        let mut out = Vec::new();
        let content_index = v.get("content_index").and_then(Value::as_u64).unwrap_or(0);
        if let Some(base) = kind.strip_suffix(".delta")
            && !kind.contains("reasoning")
            && let Some(Value::String(d)) = v.get_mut("delta")
        {
            let key = (base.to_string(), output_index.unwrap_or(0), content_index);
            if !self.restorers.contains_key(&key) && self.restorers.len() >= MAX_STREAMED {
                return Err(format!(
                    "bulwark: the stream carries more than {MAX_STREAMED} texts at once"
                ));
            }
            let escape = if base.contains("arguments") {
                Escape::Json
            } else {
                Escape::Text
            };
            let mut d = std::mem::take(d);
            let output = self.output.as_ref();
            let (r, template) = self
                .restorers
                .entry(key)
                .or_insert_with(|| (Restorer::guarded(escape, output), Value::Null));
            d = r.push(conv, &d);
            v["delta"] = Value::String(d);
            *template = v.clone();
        } else if let Some(base) = kind.strip_suffix(".done") {
            // What a text still holds goes out before its end.
            let key = (base.to_string(), output_index.unwrap_or(0), content_index);
            if let Some((mut r, mut template)) = self.restorers.remove(&key) {
                let rest = r.finish(conv);
                if !rest.is_empty() {
                    template["delta"] = Value::String(rest);
                    out.push(Emit::Event(SseEvent {
                        name: Some(format!("{base}.delta")),
                        data: template.to_string(),
                    }));
                }
            }
            if kind == "response.output_item.done" {
                out.extend(self.rest(conv, output_index));
            }
            if let Some(p) = &self.output {
                guard_event(&mut v, p);
            }
            restore_texts(&mut v, conv);
        } else {
            if let Some(p) = &self.output {
                guard_event(&mut v, p);
            }
            restore_texts(&mut v, conv);
        }
        out.push(Emit::Event(SseEvent {
            name: ev.name,
            data: v.to_string(),
        }));
        Ok(out)
    }

    fn flush(&mut self, conv: &Conversation) -> Vec<Emit> {
        // Calls whose item never ended are not passed.
        self.held.clear();
        self.rest(conv, None)
    }

    fn resolve(&mut self, held: HeldCalls, decisions: &[CallDecision]) -> Vec<SseEvent> {
        let ev = |v: Value| SseEvent {
            name: v.get("type").and_then(Value::as_str).map(str::to_string),
            data: v.to_string(),
        };
        if let Some(mut fin) = held.at.get("final").cloned() {
            for (call, d) in held.calls.iter().zip(decisions) {
                match d {
                    CallDecision::Allow => {
                        self.passed.insert(call.id.clone(), call.arguments.clone());
                    }
                    CallDecision::Replace(t) => {
                        self.replaced
                            .insert(call.id.clone(), text_item(&Value::Null, t, "completed"));
                    }
                }
            }
            for item in fin
                .pointer_mut("/response/output")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if is_call_item(item)
                    && let Some(m) = self.replaced.get(&call_of(item).id)
                {
                    let id = item.get("id").cloned().unwrap_or(Value::Null);
                    *item = m.clone();
                    item["id"] = id;
                }
            }
            return vec![SseEvent {
                name: held.at["name"].as_str().map(str::to_string),
                data: fin.to_string(),
            }];
        }
        let (added, done) = (&held.at["added"], &held.at["done"]);
        let (Some(call), Some(d)) = (held.calls.first(), decisions.first()) else {
            return Vec::new();
        };
        let o = done["output_index"].clone();
        let seq = done["sequence_number"].clone();
        let item = &done["item"];
        let item_id = item.get("id").cloned().unwrap_or(Value::Null);
        match d {
            CallDecision::Allow
                if !matches!(item_type(item), "function_call" | "custom_tool_call") =>
            {
                // Another kind of call (a shell command, a patch, a computer action): announced
                // whole, as it ended (the deltas it was streamed with were not kept).
                self.passed.insert(call.id.clone(), call.arguments.clone());
                let mut added = added.clone();
                added["item"] = item.clone();
                vec![ev(added), ev(done.clone())]
            }
            CallDecision::Allow => {
                self.passed.insert(call.id.clone(), call.arguments.clone());
                let custom = item_type(item) == "custom_tool_call";
                let (kind, field, whole) = if custom {
                    (
                        "response.custom_tool_call_input",
                        "input",
                        item.get("input").cloned().unwrap_or(Value::Null),
                    )
                } else {
                    (
                        "response.function_call_arguments",
                        "arguments",
                        Value::String(call.arguments.clone()),
                    )
                };
                vec![
                    ev(added.clone()),
                    ev(
                        json!({"type": format!("{kind}.delta"), "item_id": item_id, "output_index": o, "delta": whole, "sequence_number": seq}),
                    ),
                    ev(
                        json!({"type": format!("{kind}.done"), "item_id": item_id, "output_index": o, field: whole, "sequence_number": seq}),
                    ),
                    ev(done.clone()),
                ]
            }
            CallDecision::Replace(text) => {
                let whole = text_item(&item_id, text, "completed");
                self.replaced.insert(call.id.clone(), whole.clone());
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                let at = |kind: &str, extra: Value| {
                    let mut v = json!({"type": kind, "item_id": item_id, "output_index": o, "content_index": 0, "sequence_number": seq});
                    if let (Some(v), Value::Object(e)) = (v.as_object_mut(), extra) {
                        v.extend(e);
                    }
                    ev(v)
                };
                vec![
                    ev(
                        json!({"type": "response.output_item.added", "output_index": o, "item": text_item(&item_id, "", "in_progress"), "sequence_number": seq}),
                    ),
                    at(
                        "response.content_part.added",
                        json!({"part": {"type": "output_text", "text": "", "annotations": []}}),
                    ),
                    at(
                        "response.output_text.delta",
                        json!({"delta": text, "logprobs": []}),
                    ),
                    at(
                        "response.output_text.done",
                        json!({"text": text, "logprobs": []}),
                    ),
                    at("response.content_part.done", json!({ "part": part })),
                    ev(
                        json!({"type": "response.output_item.done", "output_index": o, "item": whole, "sequence_number": seq}),
                    ),
                ]
            }
        }
    }

    fn usage(&self) -> Option<Value> {
        self.usage.clone()
    }

    fn reply_id(&self) -> Option<String> {
        self.id.clone()
    }

    fn error_event(message: &str) -> SseEvent {
        SseEvent {
            name: Some("error".into()),
            data: json!({
                "type": "error", "code": "upstream_stream_error", "message": message,
                "param": null, "sequence_number": 0,
                "error": {"type": "upstream_error", "code": "upstream_stream_error", "message": message},
            })
            .to_string(),
        }
    }
}
