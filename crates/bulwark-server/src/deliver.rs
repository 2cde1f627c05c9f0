//! Deliveries to an agent's webhook endpoint (`[ingress.sources.NAME] forward_to`): a payload
//! the ingress guard let through, or a held alert an approver released. The sidecar and the CLI
//! release held alerts through the same code, so a release happens once whoever makes it.

use std::time::Duration;

use bulwark_core::approval::{ApprovalError, rfc3339};
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::webhook::held::{HeldAlert, HeldState, HeldStore};

/// One delivery to the agent's `forward_to`, with the verdict in headers.
pub struct Forward {
    /// The agent's endpoint.
    pub url: String,
    /// `Bearer TOKEN` for it, when configured.
    pub bearer: Option<String>,
    /// The sender's content type.
    pub content_type: String,
    /// `X-Bulwark-Verdict`.
    pub verdict: String,
    /// `X-Bulwark-Source`.
    pub source: String,
    /// `X-Bulwark-Findings`: rule ids, comma-separated.
    pub rules: String,
}

impl Forward {
    /// POST the body, no redirects, 10 s at most: the HTTP status, or why there is none.
    pub fn send(&self, body: &[u8]) -> Result<u16, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent
            .post(&self.url)
            .header("Content-Type", &self.content_type)
            .header("X-Bulwark-Verdict", &self.verdict)
            .header("X-Bulwark-Findings", &self.rules)
            .header("X-Bulwark-Source", &self.source);
        if let Some(b) = &self.bearer {
            req = req.header("Authorization", b.as_str());
        }
        req.send(body)
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }
}

/// What a release came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Forwarded: the agent's endpoint answered this 2xx status.
    Forwarded(u16),
    /// Not held any more (released or dropped by someone else, or unknown): nothing was sent.
    NotHeld,
    /// Delivery failed, and the alert is held again: why.
    Failed(String),
}

/// Release `alert` through `hop` as `by`: move it out of `held` (the move is the lock: of two
/// releases, one sends), forward it byte for byte, put it back when delivery fails, and record the
/// outcome (`ingress.release`).
pub fn release(
    store: &dyn HeldStore,
    audit: Option<&dyn AuditSink>,
    alert: &HeldAlert,
    hop: &Forward,
    by: &str,
    now_ms: u64,
) -> Result<Release, ApprovalError> {
    if !store.settle(&alert.id, HeldState::Held, HeldState::Released, by, now_ms)? {
        return Ok(Release::NotHeld);
    }
    let sent = hop.send(&alert.body());
    let outcome = match sent {
        Ok(status) if (200..300).contains(&status) => Release::Forwarded(status),
        Ok(status) => Release::Failed(format!("forward_to answered HTTP {status}")),
        Err(ref e) => Release::Failed(format!("forward_to could not be reached: {e}")),
    };
    if matches!(outcome, Release::Failed(_)) {
        store.settle(&alert.id, HeldState::Released, HeldState::Held, by, now_ms)?;
    }
    if let Some(log) = audit {
        log.append(AuditEvent {
            event_type: EventType::Ingress,
            actor: by.to_string(),
            action: "ingress.release".into(),
            resource: format!("held:{}", alert.id),
            outcome: if matches!(outcome, Release::Forwarded(_)) { "ok" } else { "error" }.into(),
            details: serde_json::json!({"source": alert.source, "upstream_status": sent.as_ref().ok(),
                "error": sent.as_ref().err()}),
        })
        .map_err(|e| ApprovalError::Audit(e.to_string()))?;
    }
    Ok(outcome)
}

/// Drop held alert `id` as `by` (it is never forwarded) and record it (`ingress.drop`); `false`
/// when it is not held any more.
pub fn drop_held(
    store: &dyn HeldStore,
    audit: Option<&dyn AuditSink>,
    id: &str,
    by: &str,
    now_ms: u64,
) -> Result<bool, ApprovalError> {
    if !store.settle(id, HeldState::Held, HeldState::Dropped, by, now_ms)? {
        return Ok(false);
    }
    if let Some(log) = audit {
        log.append(AuditEvent {
            event_type: EventType::Ingress,
            actor: by.to_string(),
            action: "ingress.drop".into(),
            resource: format!("held:{id}"),
            outcome: "ok".into(),
            details: serde_json::Value::Null,
        })
        .map_err(|e| ApprovalError::Audit(e.to_string()))?;
    }
    Ok(true)
}

/// A held alert as listed: everything but the payload.
pub fn listed(a: &HeldAlert) -> serde_json::Value {
    serde_json::json!({
        "id": a.id, "source": a.source, "state": a.state, "verdict": a.verdict, "rules": a.rules,
        "received_at": rfc3339(a.received_ms),
        "decided_by": a.decided_by,
        "decided_at": a.decided_ms.map(rfc3339),
    })
}
