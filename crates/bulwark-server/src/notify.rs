//! Approval and held-alert notifications: one POST of the summary (never argument values, never a
//! held payload) to `[approval] notify_url`, Slack- and Discord-compatible. A failed notification does not undo the approval
//! request; it is reported and recorded in the audit log.

use std::time::Duration;

use bulwark_core::approval::{Approval, Pending, notification_body};
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::webhook::held::HeldAlert;
use bulwark_store::AuditLog;

/// How long a notification may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Tell the webhook about a new pending approval (blocking, at most [`TIMEOUT`]). The URL itself is never printed: webhook URLs
/// carry their secret in the path.
pub fn pending(url: &str, a: &Approval<Pending>, audit: Option<&AuditLog>) -> Result<(), String> {
    post(
        url,
        &notification_body(a),
        audit,
        "approval.notify",
        &format!("approval:{}", a.id()),
    )
}

/// Tell the webhook that an alert was held back: its source, verdict and rules, never the payload
/// (it is the attacker's text), and how to release or drop it.
pub fn held(url: &str, alert: &HeldAlert, audit: Option<&AuditLog>) -> Result<(), String> {
    let rules = alert.rules.join(", ");
    let text = format!(
        "Bulwark held an alert from source {}: verdict {}, rules {}. Release or drop it: `bulwark held show {}`",
        alert.source.replace('@', "@\u{200b}"),
        alert.verdict.as_str(),
        if rules.is_empty() { "none" } else { &rules },
        alert.id
    );
    let body = serde_json::json!({
        "text": text,
        "content": text,
        "allowed_mentions": {"parse": []},
        "bulwark": {"held_id": alert.id, "source": alert.source, "verdict": alert.verdict, "rules": alert.rules},
    });
    post(
        url,
        &body,
        audit,
        "ingress.notify",
        &format!("held:{}", alert.id),
    )
}

/// POST `body` to the webhook (blocking, at most [`TIMEOUT`]) and record the outcome as `action`
/// on `resource`.
fn post(
    url: &str,
    body: &serde_json::Value,
    audit: Option<&AuditLog>,
    action: &str,
    resource: &str,
) -> Result<(), String> {
    post_json(url, None, body, audit, action, resource).map(|_| ())
}

/// Post a chat message with the platform's API (blocking, at most [`TIMEOUT`]): `authorization`
/// is the header's value (`Bearer xoxb-...`, `Bot ...`), never shown. A Slack answer of
/// `{"ok": false}` is a failure. The outcome is recorded as `action` on `resource`.
pub fn chat_post(
    url: &str,
    authorization: &secrecy::SecretString,
    body: &serde_json::Value,
    audit: Option<&AuditLog>,
    action: &str,
    resource: &str,
) -> Result<serde_json::Value, String> {
    post_json(url, Some(authorization), body, audit, action, resource)
}

/// Tell a Slack `response_url` what a click did (shown only to its clicker), with `blocks` when
/// it offers buttons.
pub fn slack_reply(
    url: &str,
    text: &str,
    blocks: Option<&serde_json::Value>,
) -> Result<(), String> {
    let mut body = serde_json::json!({
        "response_type": "ephemeral",
        "replace_original": false,
        "text": text,
    });
    if let Some(b) = blocks {
        body["blocks"] = b.clone();
    }
    post_json(url, None, &body, None, "", "").map(|_| ())
}

fn post_json(
    url: &str,
    authorization: Option<&secrecy::SecretString>,
    body: &serde_json::Value,
    audit: Option<&AuditLog>,
    action: &str,
    resource: &str,
) -> Result<serde_json::Value, String> {
    use secrecy::ExposeSecret;
    let body = body.to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .max_redirects(0)
        .http_status_as_error(true)
        .build()
        .into();
    let mut req = agent
        .post(url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("User-Agent", concat!("bulwark/", env!("CARGO_PKG_VERSION")));
    if let Some(a) = authorization {
        req = req.header("Authorization", a.expose_secret());
    }
    let result = req
        .send(body.as_bytes())
        .map_err(|e| match e {
            ureq::Error::StatusCode(code) => format!("the webhook answered HTTP {code}"),
            other => format!(
                "the webhook could not be reached: {}",
                redact_url(&other.to_string(), url)
            ),
        })
        .and_then(|mut r| {
            let text = r
                .body_mut()
                .with_config()
                .limit(1024 * 1024)
                .read_to_string()
                .unwrap_or_default();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            // Slack answers 200 with {"ok": false, "error": "..."} when it refuses.
            if v.get("ok") == Some(&serde_json::Value::Bool(false)) {
                return Err(format!(
                    "the chat API refused: {}",
                    v["error"].as_str().unwrap_or("no reason given")
                ));
            }
            Ok(v)
        });
    if let Some(log) = audit {
        // Best effort: what was notified about is already recorded.
        let _ = log.append(AuditEvent {
            event_type: EventType::Approval,
            actor: "bulwark".into(),
            action: action.into(),
            resource: resource.into(),
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
