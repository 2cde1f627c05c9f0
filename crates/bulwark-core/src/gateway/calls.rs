//! The tool calls a model proposes, read as intents for the action policy.
//!
//! Threat answered: a model steered by what it read (a web page, an alert, a tool's output)
//! proposes a call with side effects, and the agent's loop runs it. With `tool_calls = "judge"`
//! every proposed call is held whole (also in a stream) and judged before the agent sees it: an
//! allowed call passes; a blocked one, and one that waits for approval, is replaced by text saying
//! why, which the agent's loop reads as the model's answer. A call that was approved passes once
//! when the model proposes it again: the same function with the same arguments in the same
//! conversation has the same intent digest.

use serde_json::{Map, Value};

use super::cfg::ToolMapping;
use crate::action::intent::{Args, ExecutionIntent, IntentSource, Target};

/// A tool call the model proposed, held whole, with the conversation's values restored.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedCall {
    /// The call's id (`call_...`, `toolu_...`).
    pub id: String,
    /// The function's name.
    pub name: String,
    /// The arguments as the model wrote them (JSON text), restored.
    pub arguments: String,
}

/// What becomes of a proposed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallDecision {
    /// The agent gets the call.
    Allow,
    /// The agent gets this text in its place, and no call.
    Replace(String),
}

impl CallDecision {
    /// Whether the call passes.
    pub fn allowed(&self) -> bool {
        matches!(self, CallDecision::Allow)
    }
}

/// A proposed call as judged, for the exchange's audit record (never its arguments).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JudgedCall {
    /// The function's name.
    pub function: String,
    /// The action policy's verdict (`block` when no intent could be read).
    pub verdict: crate::Verdict,
    /// The rule that decided.
    pub rule: String,
    /// The approval a review created, found or consumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Whether the agent got the call.
    pub passed: bool,
}

/// Who proposed a call and where: the intent's `requested_by` and `source.session`.
#[derive(Debug, Clone)]
pub struct CallContext<'a> {
    /// The name of the agent's token.
    pub requested_by: &'a str,
    /// The conversation's key (an approval holds for the conversation it was asked in).
    pub conversation: &'a str,
    /// The argument names the function's schema declares in the request's `tools`, if it
    /// declares the function: the intent is read only from those (an argument the function
    /// does not take, `action: "get"` added by the model, does not change its class). A function
    /// the request does not declare, and `[gateway.tools]` does not map, is read by its
    /// `command` alone: its verb is `call` and its target unknown, the most restrictive reading.
    pub declared: Option<&'a std::collections::BTreeSet<String>>,
    /// Whether `[gateway.tools]` maps the function (the operator said which arguments it takes).
    pub mapped: bool,
}

/// The reason every intent read from a proposed call carries (it is part of the digest, so it
/// never changes with the model's wording).
pub const CALL_REASON: &str = "tool call proposed by the model through the Bulwark gateway";

/// Longest name copied into an intent (longer ones are cut; the intent bounds them too).
const MAX_NAME: usize = 256;

fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_NAME);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The intent the action policy judges for `call`, read with `mapping` (the function's entry in
/// `[gateway.tools]`, or the defaults). `Err` says why no intent could be read: arguments that
/// are not a JSON object, or an intent over its bounds; such a call is not passed.
pub fn intent_for(
    call: &ProposedCall,
    mapping: &ToolMapping,
    ctx: &CallContext<'_>,
) -> Result<ExecutionIntent, String> {
    let args: Map<String, Value> = if call.arguments.trim().is_empty() {
        Map::new()
    } else {
        // A key given twice reads one way here and another way in the agent's tool.
        crate::json::check_unique_keys(call.arguments.as_bytes())
            .map_err(|e| format!("its arguments are not usable JSON ({e})"))?;
        match serde_json::from_str::<Value>(&call.arguments) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err("its arguments are not a JSON object".into()),
            Err(e) => return Err(format!("its arguments are not JSON ({e})")),
        }
    };
    let readable = |key: &str| match ctx.declared {
        Some(d) => d.contains(key),
        None => ctx.mapped || key == mapping.command_arg,
    };
    let arg = |key: &str| {
        (!key.is_empty() && readable(key))
            .then(|| args.get(key).and_then(Value::as_str))
            .flatten()
            .filter(|s| !s.trim().is_empty())
    };
    let command = arg(&mapping.command_arg).map(str::to_string);
    let tool = if !mapping.tool.is_empty() {
        mapping.tool.clone()
    } else if command.is_some() {
        "shell".to_string()
    } else {
        cut(&call.name)
    };
    let action = if !mapping.action.is_empty() {
        mapping.action.clone()
    } else if let Some(a) = arg(&mapping.action_arg) {
        cut(a)
    } else if command.is_some() {
        "run".to_string()
    } else {
        "call".to_string()
    };
    let target = Target {
        kind: arg(&mapping.kind_arg).map(cut).unwrap_or_default(),
        name: arg(&mapping.name_arg).map(cut).unwrap_or_default(),
        namespace: arg(&mapping.namespace_arg).map(cut),
        cluster: arg(&mapping.cluster_arg).map(cut),
        labels: Default::default(),
    };
    // What the function does not take is not the policy's to read either (`namespace: "dev"`
    // added to a function that takes none would lower its tier).
    let mut intent_args = args.clone();
    for key in ["namespace", "cluster"] {
        if !readable(key) {
            intent_args.remove(key);
        }
    }
    if let Some(c) = command
        && mapping.command_arg != "command"
    {
        // The shell screen reads `args.command`.
        intent_args.insert("command".into(), Value::String(c));
    }
    let intent = ExecutionIntent {
        tool,
        action,
        target,
        args: Args(intent_args),
        requested_by: ctx.requested_by.to_string(),
        source: IntentSource {
            session: Some(cut(ctx.conversation)),
            ..IntentSource::default()
        },
        // The function's name is part of what is approved: an approval for `sandbox_exec`
        // is not one for `prod_exec` with the same command.
        reason: format!("{CALL_REASON}: {}", cut(&call.name)),
    };
    // The same bounds an intent sent to /v1/intents has.
    let json = serde_json::to_vec(&intent).map_err(|e| e.to_string())?;
    ExecutionIntent::from_json(&json).map_err(|e| e.to_string())
}

/// The text an agent gets in place of a blocked call.
pub fn blocked_text(call: &ProposedCall, summary: &str, why: &str) -> String {
    format!(
        "[bulwark] The tool call `{}` ({summary}) was blocked by policy and not run: {why}",
        call.name
    )
}

/// The text an agent gets in place of a call withheld for approval.
pub fn withheld_text(call: &ProposedCall, summary: &str, approval: &str, digest: &str) -> String {
    format!(
        "[bulwark] The tool call `{}` ({summary}) needs approval before it runs; it was withheld. \
         Approval {approval} (intent digest sha256:{digest}) is pending: once an approver runs \
         `bulwark approvals approve {approval} --digest sha256:{digest} --as APPROVER`, propose the \
         same call again and it passes once.",
        call.name
    )
}

/// The tool calls of a whole Chat Completions reply, every choice's, in order.
pub fn openai_calls(body: &Value) -> Vec<ProposedCall> {
    let mut out = Vec::new();
    for c in body
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for tc in c
            .pointer("/message/tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(openai_call(tc));
        }
        // The older single `function_call`, after the choice's tool calls.
        if let Some(fc) = c.pointer("/message/function_call").filter(|f| !f.is_null()) {
            out.push(openai_call(&serde_json::json!({ "function": fc })));
        }
    }
    out
}

fn openai_call(tc: &Value) -> ProposedCall {
    let s = |p: &str| {
        tc.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    // A custom tool's call carries `custom.input`, free text.
    let arguments = match tc.pointer("/function/arguments") {
        Some(Value::String(a)) => a.clone(),
        // Arguments sent as an object (not the API's shape, but an agent may read them): judged
        // as they are.
        Some(a @ (Value::Object(_) | Value::Array(_))) => a.to_string(),
        _ => match tc.pointer("/custom/input") {
            Some(Value::String(i)) => serde_json::json!({ "input": i }).to_string(),
            _ => String::new(),
        },
    };
    let name = match tc.pointer("/function/name") {
        Some(Value::String(n)) => n.clone(),
        _ => s("/custom/name"),
    };
    ProposedCall {
        id: s("/id"),
        name,
        arguments,
    }
}

/// Apply `decisions` (one per call of [`openai_calls`], in order) to a whole reply: replaced
/// calls leave their choice's `tool_calls`, their text is added to its `content`, and a choice
/// left without calls finishes with `stop`.
pub fn openai_apply(body: &mut Value, decisions: &[CallDecision]) {
    let mut d = decisions.iter();
    for c in body
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let Some(m) = c.get_mut("message").and_then(Value::as_object_mut) else {
            continue;
        };
        let mut texts = Vec::new();
        let mut left = 0;
        if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
            calls.retain(|_| match d.next() {
                Some(CallDecision::Replace(t)) => {
                    texts.push(t.clone());
                    false
                }
                _ => true,
            });
            left += calls.len();
            if calls.is_empty() {
                m.remove("tool_calls");
            }
        }
        if m.get("function_call").is_some_and(|f| !f.is_null()) {
            match d.next() {
                Some(CallDecision::Replace(t)) => {
                    texts.push(t.clone());
                    m.remove("function_call");
                }
                _ => left += 1,
            }
        }
        let none_left = left == 0;
        if !texts.is_empty() {
            let mut content = m
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            for t in texts {
                if !content.is_empty() {
                    content.push_str("\n\n");
                }
                content.push_str(&t);
            }
            m.insert("content".into(), Value::String(content));
        }
        if none_left
            && matches!(
                c.get("finish_reason").and_then(Value::as_str),
                Some("tool_calls" | "function_call")
            )
        {
            c["finish_reason"] = Value::String("stop".into());
        }
    }
}

/// The call blocks of a whole Messages reply, in order (see [`is_call_block`]).
pub fn anthropic_calls(body: &Value) -> Vec<ProposedCall> {
    body.get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|b| is_call_block(b))
        .map(|b| anthropic_call(b, None))
        .collect()
}

/// A call block as the call the action policy judges: a `tool_use` by its name, with its input
/// (`input`: the JSON a stream gave for it, else the block's own); a block of any other type by
/// its type, with the whole block as its arguments.
pub(crate) fn anthropic_call(b: &Value, input: Option<String>) -> ProposedCall {
    let text = |k: &str| {
        b.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let kind = text("type");
    if kind != "tool_use" {
        return ProposedCall {
            id: text("id"),
            name: kind,
            arguments: b.to_string(),
        };
    }
    ProposedCall {
        id: text("id"),
        name: text("name"),
        arguments: input
            .unwrap_or_else(|| b.get("input").map(Value::to_string).unwrap_or_default()),
    }
}

/// Content block types that are not calls the agent runs: text and thinking, the server tools
/// the provider runs itself, and their results. Every other block, a type unknown today
/// included, is judged as a call: `tool_use` (the agent's tools, `bash`, the text editor and
/// computer use among them) and whatever a provider adds.
const NOT_CALL_BLOCKS: &[&str] = &[
    "text",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "mcp_tool_use",
    "container_upload",
];

/// Whether a content block is a call the agent runs (see [`NOT_CALL_BLOCKS`]).
pub(crate) fn is_call_block(b: &Value) -> bool {
    let t = b.get("type").and_then(Value::as_str).unwrap_or_default();
    !(NOT_CALL_BLOCKS.contains(&t) || t.ends_with("_tool_result"))
}

/// Apply `decisions` (one per call of [`anthropic_calls`]) to a whole reply: a replaced call's
/// block becomes a text block; a reply left without calls stops with `end_turn`.
pub fn anthropic_apply(body: &mut Value, decisions: &[CallDecision]) {
    let mut d = decisions.iter();
    let mut left = 0;
    if let Some(blocks) = body.get_mut("content").and_then(Value::as_array_mut) {
        for b in blocks.iter_mut() {
            if !is_call_block(b) {
                continue;
            }
            match d.next() {
                Some(CallDecision::Replace(t)) => {
                    *b = serde_json::json!({"type": "text", "text": t});
                }
                _ => left += 1,
            }
        }
    }
    if left == 0 && body.get("stop_reason").and_then(Value::as_str) == Some("tool_use") {
        body["stop_reason"] = Value::String("end_turn".into());
    }
}
