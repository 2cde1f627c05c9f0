//! Approval notifications: one POST of the summary (never argument values) to `[approval]
//! notify_url`, Slack- and Discord-compatible. A failed notification does not undo the approval
//! request; it is reported and recorded in the audit log.

use std::time::Duration;

use bulwark_core::approval::{Approval, Pending, notification_body};
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_store::AuditLog;

/// How long a notification may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Tell the webhook about a new pending approval (blocking, at most [`TIMEOUT`]). The URL itself is never printed: webhook URLs
/// carry their secret in the path.
pub fn pending(url: &str, a: &Approval<Pending>, audit: Option<&AuditLog>) -> Result<(), String> {
    let body = notification_body(a).to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .max_redirects(0)
        .http_status_as_error(true)
        .build()
        .into();
    let result = agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("bulwark/", env!("CARGO_PKG_VERSION")))
        .send(body.as_bytes())
        .map(|_| ())
        .map_err(|e| match e {
            ureq::Error::StatusCode(code) => format!("the webhook answered HTTP {code}"),
            other => format!(
                "the webhook could not be reached: {}",
                redact_url(&other.to_string(), url)
            ),
        });
    if let Some(log) = audit {
        // Best effort: the approval itself is already recorded.
        let _ = log.append(AuditEvent {
            event_type: EventType::Approval,
            actor: "bulwark".into(),
            action: "approval.notify".into(),
            resource: format!("approval:{}", a.id()),
            outcome: if result.is_ok() { "ok" } else { "error" }.into(),
            details: serde_json::json!({"error": result.as_ref().err()}),
        });
    }
    result
}

/// Remove the webhook URL (and its secret path) from an error message.
fn redact_url(message: &str, url: &str) -> String {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let mut m = message.replace(url, "[webhook]");
    if let Ok(u) = url::Url::parse(url) {
        m = m.replace(u.path(), "/[path]");
    }
    if host.is_empty() {
        m
    } else {
        m.replace("[webhook]", &format!("webhook at {host}"))
    }
}
