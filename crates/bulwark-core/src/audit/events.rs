//! Typed audit events, made from decisions: the CLI, the API and the egress proxy record the same
//! event for the same decision, because they build it here and nowhere else.

use super::{AuditEvent, EventType};
use crate::action::{ActionDecision, ExecutionIntent};
use crate::egress::EgressDecision;

impl From<(&ExecutionIntent, &ActionDecision)> for AuditEvent {
    /// `action.check`: an intent judged, by the CLI (`intent check`, `exec`) or the API
    /// (`/v1/intents`).
    fn from((intent, d): (&ExecutionIntent, &ActionDecision)) -> AuditEvent {
        AuditEvent {
            event_type: EventType::Decision,
            actor: intent.requested_by.clone(),
            action: "action.check".into(),
            resource: d.summary.clone(),
            outcome: d.verdict.as_str().into(),
            details: serde_json::json!({
                "digest": d.digest.as_str(),
                "rule": d.rule,
                "class": d.class,
                "mode": d.mode,
                "tier": d.tier,
                "rules": d.findings.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
                "source": intent.source,
            }),
        }
    }
}

/// What one model-gateway exchange came to: what `gateway.exchange` records.
#[derive(Debug, Default)]
pub struct GatewayExchange<'a> {
    /// The model asked for (cut short by the caller).
    pub model: &'a str,
    /// The upstream that served it (empty when none did).
    pub upstream: &'a str,
    /// The conversation's key (a hash).
    pub conversation: &'a str,
    /// What preparing the request found, when it got that far.
    pub prepared: Option<&'a crate::gateway::openai_chat::Prepared>,
    /// The status the agent got.
    pub status: u16,
    /// `ok`, `blocked`, `invalid`, `no_upstream`, `upstream_status`, ...
    pub outcome: &'a str,
    /// The token counts of the provider's `usage`.
    pub usage: Option<&'a serde_json::Value>,
    /// The tool calls the model proposed, as judged.
    pub tool_calls: &'a [crate::gateway::calls::JudgedCall],
    /// What the reply guard did: URLs removed, secrets redacted.
    pub reply_guard: (usize, usize),
}

impl AuditEvent {
    /// `gateway.exchange`: one request of `token` through the model gateway, with counts and
    /// verdicts, never the prompt, the reply or a value.
    pub fn gateway_exchange(token: &str, x: &GatewayExchange<'_>) -> AuditEvent {
        let p = x.prepared;
        AuditEvent {
            event_type: EventType::Decision,
            actor: token.to_string(),
            action: "gateway.exchange".into(),
            resource: x.model.to_string(),
            outcome: x.outcome.to_string(),
            details: serde_json::json!({
                "upstream": x.upstream,
                "conversation": x.conversation,
                "stream": p.map(|p| p.stream),
                "redacted": p.map(|p| p.redacted),
                "redacted_one_way": p.map(|p| p.redacted_one_way),
                "rules": p.map(|p| &p.rules),
                "tool_results": p.map(|p| p.tool_results.iter().map(|t| serde_json::json!({
                    "message": t.message, "tool": t.tool, "verdict": t.verdict, "score": t.score,
                    "rules": t.findings.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()),
                "status": x.status,
                "usage": x.usage,
                "tool_calls": x.tool_calls,
                "reply_links_removed": x.reply_guard.0,
                "reply_secrets_redacted": x.reply_guard.1,
            }),
        }
    }
}

/// How an egress decision was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressAsk {
    /// `/v1/egress/check` or `bulwark egress check`.
    Check,
    /// A CONNECT through the egress proxy.
    Tunnel,
    /// A plain HTTP request through the egress proxy.
    Forward,
}

impl EgressAsk {
    fn action(self) -> &'static str {
        match self {
            EgressAsk::Check => "egress.check",
            EgressAsk::Tunnel => "egress.tunnel",
            EgressAsk::Forward => "egress.forward",
        }
    }
}

impl AuditEvent {
    /// `egress.check`, `egress.tunnel` or `egress.forward`: a URL judged for `actor`.
    pub fn egress(ask: EgressAsk, actor: String, d: &EgressDecision) -> AuditEvent {
        AuditEvent {
            event_type: EventType::Egress,
            actor,
            action: ask.action().into(),
            resource: d.url().unwrap_or_default().to_string(),
            outcome: d.decision().as_str().into(),
            details: serde_json::json!({
                "reason": d.reason().as_str(),
                "message": d.message(),
                "host": d.host(),
                "port": d.port(),
                "addresses": d.addresses(),
                "profile": d.profile(),
            }),
        }
    }

    /// `server.reload`: the configuration at `origin` put in force, or refused with `error`.
    pub fn reload(origin: &str, error: Option<&str>) -> AuditEvent {
        AuditEvent {
            event_type: EventType::ConfigChange,
            actor: "bulwark".into(),
            action: "server.reload".into(),
            resource: origin.to_string(),
            outcome: if error.is_some() { "error" } else { "ok" }.into(),
            details: serde_json::json!({ "error": error }),
        }
    }

    /// The same event with one more detail (`peer` for the proxy, ...).
    pub fn with_detail(mut self, key: &str, value: serde_json::Value) -> AuditEvent {
        if let Some(map) = self.details.as_object_mut() {
            map.insert(key.to_string(), value);
        }
        self
    }
}
