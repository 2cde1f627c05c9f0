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

/// Record a decision on held alert `id` (`ingress.release`, `ingress.drop`), when there is a log.
fn record(
    audit: Option<&dyn AuditSink>,
    by: &str,
    action: &str,
    id: &str,
    outcome: &str,
    details: serde_json::Value,
) -> Result<(), ApprovalError> {
    match audit {
        Some(log) => log
            .append(AuditEvent {
                event_type: EventType::Ingress,
                actor: by.to_string(),
                action: action.into(),
                resource: format!("held:{id}"),
                outcome: outcome.into(),
                details,
            })
            .map(|_| ())
            .map_err(|e| ApprovalError::Audit(e.to_string())),
        None => Ok(()),
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

/// Release `alert` through `hop` as `by`: move it from `held` to `releasing` (the move is the lock:
/// of two releases, one sends), record that it is being sent, forward it byte for byte, then move it
/// to `released`, or back to `held` when delivery fails, and record the outcome (`ingress.release`).
/// A crash while sending leaves it `releasing`, with the first record saying it was being sent.
pub fn release(
    store: &dyn HeldStore,
    audit: Option<&dyn AuditSink>,
    alert: &HeldAlert,
    hop: &Forward,
    by: &str,
    now_ms: u64,
) -> Result<Release, ApprovalError> {
    if !store.settle(&alert.id, HeldState::Held, HeldState::Releasing, by, now_ms)? {
        return Ok(Release::NotHeld);
    }
    let note = |outcome: &str, details: serde_json::Value| {
        record(audit, by, "ingress.release", &alert.id, outcome, details)
    };
    if let Err(e) = note("sending", serde_json::json!({"source": alert.source})) {
        store.settle(&alert.id, HeldState::Releasing, HeldState::Held, by, now_ms)?;
        return Err(e);
    }
    let sent = hop.send(&alert.body());
    let outcome = match sent {
        Ok(status) if (200..300).contains(&status) => Release::Forwarded(status),
        Ok(status) => Release::Failed(format!("forward_to answered HTTP {status}")),
        Err(ref e) => Release::Failed(format!("forward_to could not be reached: {e}")),
    };
    let next = if matches!(outcome, Release::Forwarded(_)) {
        HeldState::Released
    } else {
        HeldState::Held
    };
    store.settle(&alert.id, HeldState::Releasing, next, by, now_ms)?;
    note(
        if next == HeldState::Released {
            "ok"
        } else {
            "error"
        },
        serde_json::json!({"source": alert.source, "upstream_status": sent.as_ref().ok(),
            "error": sent.as_ref().err()}),
    )?;
    Ok(outcome)
}

/// How long a release may take, sending included (the delivery times out at 10 s): an alert
/// `releasing` for longer was left so by a process that stopped mid-delivery.
pub const IN_DOUBT_AFTER_MS: u64 = 60_000;

/// What settling a delivery in doubt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Settled: `released` when the receiver got it, `held` again (to release or drop) when not.
    Settled(HeldState),
    /// Not `releasing` (never was, or already settled): nothing changed.
    NotInDoubt,
    /// A release started this long ago may still be sending: nothing changed.
    StillSending(u64),
}

/// Settle `alert`, left `releasing` by a crash during its delivery, as `by`, who checked the
/// receiver: `delivered` moves it to `released`, otherwise back to `held`. Recorded as
/// `ingress.release` with outcome `settled`. Refused while a release may still be sending. The
/// move is conditional, as a release's is: of two settlements, one takes effect.
pub fn settle_in_doubt(
    store: &dyn HeldStore,
    audit: Option<&dyn AuditSink>,
    alert: &HeldAlert,
    delivered: bool,
    by: &str,
    now_ms: u64,
) -> Result<Settle, ApprovalError> {
    let id = alert.id.as_str();
    if alert.state != HeldState::Releasing {
        return Ok(Settle::NotInDoubt);
    }
    let since = now_ms.saturating_sub(alert.decided_ms.unwrap_or(0));
    if since < IN_DOUBT_AFTER_MS {
        return Ok(Settle::StillSending(since));
    }
    let to = if delivered {
        HeldState::Released
    } else {
        HeldState::Held
    };
    if !store.settle(id, HeldState::Releasing, to, by, now_ms)? {
        return Ok(Settle::NotInDoubt);
    }
    record(
        audit,
        by,
        "ingress.release",
        id,
        "settled",
        serde_json::json!({"source": alert.source, "delivered": delivered,
            "state": to.as_str(), "releasing_since": alert.decided_ms.map(rfc3339)}),
    )?;
    Ok(Settle::Settled(to))
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
    record(audit, by, "ingress.drop", id, "ok", serde_json::Value::Null)?;
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

/// A held payload as a person may read it: every string of a JSON payload redacted as the text it
/// decodes to (so `\u0041`-style escapes cannot carry a secret past the redactor), then the
/// document pretty-printed; anything else redacted as text.
pub fn readable_payload(redactor: &bulwark_core::Redactor, body: &[u8]) -> String {
    fn walk(v: &mut serde_json::Value, redactor: &bulwark_core::Redactor) {
        match v {
            serde_json::Value::String(s) => *s = redactor.redact(s).text,
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, redactor)),
            serde_json::Value::Object(map) => {
                // Keys can carry data too: a map is rebuilt with its keys redacted.
                let old = std::mem::take(map);
                for (k, mut val) in old {
                    walk(&mut val, redactor);
                    map.insert(redactor.redact(&k).text, val);
                }
            }
            _ => {}
        }
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut v) => {
            walk(&mut v, redactor);
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        Err(_) => redactor.redact(&String::from_utf8_lossy(body)).text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::Verdict;
    use bulwark_store::state_db::StateDb;

    /// A crash mid-delivery leaves an alert `releasing`. It is settled once, by hand, after the
    /// receiver was checked, and never while a release may still be sending.
    #[test]
    fn a_delivery_in_doubt_is_settled_once_and_never_while_it_may_be_sending() {
        let dir = tempfile::tempdir().expect("dir");
        let db = StateDb::open(&dir.path().join("state.db")).expect("db");
        let t0 = 1_800_000_000_000;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let a = HeldAlert::new("am", t0, Verdict::Block, vec![], "application/json", b"{}")
                .expect("alert");
            db.hold(&a).expect("hold");
            // The release that crashed: moved to `releasing`, never settled.
            assert!(
                db.settle(&a.id, HeldState::Held, HeldState::Releasing, "bob", t0)
                    .expect("move")
            );
            ids.push(a.id);
        }
        let (a, b) = (&ids[0], &ids[1]);
        let read = |id: &str| db.held(id).expect("read").expect("alert");
        let stale = read(a);
        // Within a minute the release may still be sending: refused, nothing changed.
        assert_eq!(
            settle_in_doubt(&db, None, &read(a), true, "alice", t0 + 30_000).expect("settle"),
            Settle::StillSending(30_000)
        );
        assert_eq!(
            db.held(a).expect("read").expect("alert").state,
            HeldState::Releasing
        );
        let later = t0 + IN_DOUBT_AFTER_MS + 1;
        assert_eq!(
            settle_in_doubt(&db, None, &read(a), true, "alice", later).expect("settle"),
            Settle::Settled(HeldState::Released)
        );
        assert_eq!(
            settle_in_doubt(&db, None, &read(a), false, "alice", later).expect("settle"),
            Settle::NotInDoubt,
            "settled once"
        );
        // Not delivered: held again, so it can be released or dropped.
        assert_eq!(
            settle_in_doubt(&db, None, &read(b), false, "alice", later).expect("settle"),
            Settle::Settled(HeldState::Held)
        );
        assert!(drop_held(&db, None, b, "alice", later).expect("drop"));
        // A reading taken before another settlement (still `releasing`) changes nothing: the
        // move is conditional on the stored state.
        assert_eq!(
            settle_in_doubt(&db, None, &stale, false, "alice", later).expect("settle"),
            Settle::NotInDoubt
        );
        assert_eq!(read(a).state, HeldState::Released);
    }
}
