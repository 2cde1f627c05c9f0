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
