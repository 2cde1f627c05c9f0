//! What every provider API's exchange shares: the shape error, what preparing a request found,
//! and redacting texts and JSON values in place.

use serde_json::Value;

use super::placeholders::{Conversation, redact_text};
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
}

pub(super) fn redact_into(
    s: &mut String,
    scanner: &Scanner,
    conv: &mut Conversation,
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
    }
    *s = r.text;
}

/// Tool-call arguments are JSON text: the strings inside are redacted and the JSON written
/// again; arguments that are not JSON are redacted as text.
pub(super) fn redact_arguments(
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

pub(super) fn walk_strings(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

/// Judge a tool's result for prompt injection, with the source its name is given.
pub(super) fn judge_tool_result(
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

/// Redact every string inside a JSON value (a tool call's `input`).
pub(super) fn redact_value(
    v: &mut Value,
    scanner: &Scanner,
    conv: &mut Conversation,
    p: &mut Prepared,
) {
    walk_strings(v, &mut |s| redact_into(s, scanner, conv, p));
}
