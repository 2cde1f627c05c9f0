//! `Approvals`: the transitions, run against a store, a clock and the audit log.
//!
//! Each transition loads the approval, applies the typed transition, and writes the result with a
//! compare-and-swap on its version; a lost race reloads and tries again (or, for consume, finds the
//! approval executed and refuses). The transition is then recorded in the audit log; refused
//! attempts are recorded too (a replayed or forged approval is evidence). When the audit log cannot
//! take the record the caller gets an error: a consumer must not execute on an error.

use crate::action::{ActionDecision, ExecutionIntent, IntentDigest};
use crate::audit::{AuditEvent, AuditSink, EventType};

use super::{
    AfterVote, AnyApproval, Approval, ApprovalError, ApprovalId, ApprovalRecord, ApprovalStore,
    Approvers, Executed, Pending, StateName,
};

/// Where time comes from (tests inject one).
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// Compare-and-swap attempts before a transition gives up as contended.
const MAX_ATTEMPTS: usize = 64;

/// Approval transitions against a store.
pub struct Approvals<'a> {
    store: &'a dyn ApprovalStore,
    audit: Option<&'a dyn AuditSink>,
    approvers: Approvers,
    ttl_ms: u64,
    clock: &'a dyn Clock,
}

impl<'a> Approvals<'a> {
    /// `audit` is `None` only when `[audit] enabled = false`.
    pub fn new(
        store: &'a dyn ApprovalStore,
        audit: Option<&'a dyn AuditSink>,
        approvers: Approvers,
        ttl_secs: u64,
        clock: &'a dyn Clock,
    ) -> Approvals<'a> {
        Approvals {
            store,
            audit,
            approvers,
            ttl_ms: ttl_secs.saturating_mul(1000),
            clock,
        }
    }

    fn record(
        &self,
        actor: &str,
        action: &str,
        id: &str,
        outcome: &str,
        details: serde_json::Value,
    ) -> Result<(), ApprovalError> {
        let Some(audit) = self.audit else {
            return Ok(());
        };
        audit
            .append(AuditEvent {
                event_type: EventType::Approval,
                actor: actor.to_string(),
                action: action.to_string(),
                resource: format!("approval:{id}"),
                outcome: outcome.to_string(),
                details,
            })
            .map(|_| ())
            .map_err(|e| ApprovalError::Audit(e.to_string()))
    }

    /// Record a refused attempt, then return its error.
    fn refused<T>(
        &self,
        actor: &str,
        action: &str,
        id: &str,
        e: ApprovalError,
    ) -> Result<T, ApprovalError> {
        self.record(
            actor,
            action,
            id,
            "denied",
            serde_json::json!({"reason": e.to_string()}),
        )?;
        Err(e)
    }

    /// Compare the action mode with the last one this store saw; a change (or the first mode
    /// seen) is recorded in the audit log as a configuration change. Returns the previous mode.
    pub fn note_mode(
        &self,
        mode: crate::config::ActionMode,
        origin: &str,
    ) -> Result<Option<String>, ApprovalError> {
        const KEY: &str = "action.mode";
        let previous = self.store.setting(KEY)?;
        if previous.as_deref() == Some(mode.as_str()) {
            return Ok(previous);
        }
        if let Some(audit) = self.audit {
            audit
                .append(AuditEvent {
                    event_type: EventType::ConfigChange,
                    actor: "bulwark".into(),
                    action: "action.mode".into(),
                    resource: origin.to_string(),
                    outcome: mode.as_str().to_string(),
                    details: serde_json::json!({"from": previous, "to": mode.as_str()}),
                })
                .map_err(|e| ApprovalError::Audit(e.to_string()))?;
        }
        self.store.set_setting(KEY, mode.as_str())?;
        Ok(previous)
    }

    /// Create a pending approval for an intent whose verdict is review.
    pub fn create(
        &self,
        intent: &ExecutionIntent,
        decision: &ActionDecision,
    ) -> Result<Approval<Pending>, ApprovalError> {
        let a = Approval::<Pending>::create(intent, decision, self.clock.now_ms(), self.ttl_ms)?;
        let json = intent
            .canonical()
            .map_err(|e| ApprovalError::Store(e.to_string()))?;
        let json = String::from_utf8(json).map_err(|e| ApprovalError::Store(e.to_string()))?;
        let rec = AnyApproval::Pending(a.clone()).to_record();
        self.store.insert(&rec, &json)?;
        self.record(
            &intent.requested_by,
            "approval.create",
            a.id.as_str(),
            "pending",
            serde_json::json!({
                "digest": a.digest.as_str(),
                "summary": rec.summary,
                "needed": a.needed,
                "expires_at": rec.expires(),
            }),
        )?;
        Ok(a)
    }

    fn load(&self, id: &ApprovalId) -> Result<(AnyApproval, String), ApprovalError> {
        let (rec, intent) = self
            .store
            .load(id)?
            .ok_or_else(|| ApprovalError::NotFound(id.to_string()))?;
        if &rec.id != id {
            return Err(ApprovalError::Damaged {
                id: id.to_string(),
                problem: format!("the row holds the record of {}", rec.id),
            });
        }
        Ok((AnyApproval::from_record(rec)?, intent))
    }

    /// Write `next` over the version `prev`; record it when it lands.
    fn swap(&self, prev: u64, next: &AnyApproval) -> Result<bool, ApprovalError> {
        self.store.replace(prev, &next.to_record())
    }

    /// If it expired, record that (once) and return the expired approval.
    fn settle_expiry(&self, a: AnyApproval) -> Result<AnyApproval, ApprovalError> {
        let now = self.clock.now_ms();
        let (prev, next) = match a {
            AnyApproval::Pending(p) => {
                let v = p.version;
                match p.expire(now) {
                    Ok(e) => (v, AnyApproval::Expired(e)),
                    Err(p) => return Ok(AnyApproval::Pending(*p)),
                }
            }
            AnyApproval::Approved(p) => {
                let v = p.version;
                match p.expire(now) {
                    Ok(e) => (v, AnyApproval::Expired(e)),
                    Err(p) => return Ok(AnyApproval::Approved(*p)),
                }
            }
            other => return Ok(other),
        };
        if self.swap(prev, &next)? {
            let rec = next.to_record();
            self.record(
                "bulwark",
                "approval.expire",
                rec.id.as_str(),
                "expired",
                serde_json::json!({"expired_at": rec.expires(), "votes": rec.votes.len()}),
            )?;
            Ok(next)
        } else {
            // Someone else moved it first: read what they wrote.
            let id = next.to_record().id;
            Ok(self.load(&id)?.0)
        }
    }

    /// The approval (its expiry recorded if it passed) and its intent.
    pub fn get(&self, id: &ApprovalId) -> Result<(ApprovalRecord, ExecutionIntent), ApprovalError> {
        let (a, json) = self.load(id)?;
        let a = self.settle_expiry(a)?;
        let intent =
            ExecutionIntent::from_json(json.as_bytes()).map_err(|e| ApprovalError::Damaged {
                id: id.to_string(),
                problem: format!("stored intent: {e}"),
            })?;
        Ok((a.to_record(), intent))
    }

    /// Approvals, newest first (expiries recorded), optionally of one state.
    pub fn list(
        &self,
        state: Option<StateName>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        // Pending and approved ones past their expiry are settled first (in bounded batches).
        loop {
            let due = self.store.due(self.clock.now_ms(), 256)?;
            if due.is_empty() {
                break;
            }
            let before = due.len();
            let mut moved = 0;
            for rec in due {
                let a = self.settle_expiry(AnyApproval::from_record(rec)?)?;
                if a.state() == StateName::Expired {
                    moved += 1;
                }
            }
            if before < 256 || moved == 0 {
                break;
            }
        }
        self.store.list(state, limit)
    }

    /// A transition of a pending approval, retried while concurrent writers win the
    /// compare-and-swap: load, settle expiry, require `Pending` (`wanted` names the refused
    /// transition), apply `step`, swap, record with `details`. Refusals are recorded too.
    fn on_pending(
        &self,
        id: &ApprovalId,
        principal: &str,
        action: &str,
        wanted: &'static str,
        step: impl Fn(Approval<Pending>, u64) -> Result<AnyApproval, ApprovalError>,
        details: impl Fn(&ApprovalRecord) -> serde_json::Value,
    ) -> Result<ApprovalRecord, ApprovalError> {
        for _ in 0..MAX_ATTEMPTS {
            let (a, _) = match self.load(id) {
                Ok(x) => x,
                Err(e) => return self.refused(principal, action, id.as_str(), e),
            };
            let pending = match self.settle_expiry(a)? {
                AnyApproval::Pending(p) => p,
                other => {
                    let e = wrong_state(&other, wanted);
                    return self.refused(principal, action, id.as_str(), e);
                }
            };
            let prev = pending.version;
            let next = match step(pending, self.clock.now_ms()) {
                Ok(next) => next,
                Err(e) => return self.refused(principal, action, id.as_str(), e),
            };
            if self.swap(prev, &next)? {
                let rec = next.to_record();
                self.record(
                    principal,
                    action,
                    id.as_str(),
                    rec.state.as_str(),
                    details(&rec),
                )?;
                return Ok(rec);
            }
        }
        Err(ApprovalError::Contended(id.to_string()))
    }

    /// One approver's approval, given the digest the approver saw.
    pub fn approve(
        &self,
        id: &ApprovalId,
        digest: &IntentDigest,
        principal: &str,
    ) -> Result<ApprovalRecord, ApprovalError> {
        self.on_pending(
            id,
            principal,
            "approval.approve",
            "approved",
            |pending, now| {
                Ok(
                    match pending.approve(digest, principal, &self.approvers, now)? {
                        AfterVote::Pending(p) => AnyApproval::Pending(p),
                        AfterVote::Approved(p) => AnyApproval::Approved(p),
                    },
                )
            },
            |rec| {
                serde_json::json!({
                    "digest": rec.digest.as_str(),
                    "votes": rec.votes.len(),
                    "needed": rec.needed,
                })
            },
        )
    }

    /// Reject (an approver, or the requester withdrawing).
    pub fn reject(
        &self,
        id: &ApprovalId,
        principal: &str,
        reason: &str,
    ) -> Result<ApprovalRecord, ApprovalError> {
        self.on_pending(
            id,
            principal,
            "approval.reject",
            "rejected",
            |pending, now| {
                pending
                    .reject(principal, reason, &self.approvers, now)
                    .map(AnyApproval::Rejected)
            },
            |rec| serde_json::json!({"reason": rec.reason}),
        )
    }

    /// Execute an approved intent: succeeds once, for the approved intent only, before expiry.
    /// Only on `Ok` may the caller run the action.
    pub fn consume(
        &self,
        id: &ApprovalId,
        intent: &ExecutionIntent,
        by: &str,
    ) -> Result<Approval<Executed>, ApprovalError> {
        const ACTION: &str = "approval.consume";
        let (a, _) = match self.load(id) {
            Ok(x) => x,
            Err(e) => return self.refused(by, ACTION, id.as_str(), e),
        };
        let a = self.settle_expiry(a)?;
        let approved = match a {
            AnyApproval::Approved(p) => p,
            other => {
                let e = wrong_state(&other, "consumed");
                return self.refused(by, ACTION, id.as_str(), e);
            }
        };
        let prev = approved.version;
        let executed = match approved.consume(intent, by, self.clock.now_ms()) {
            Ok(x) => x,
            Err(e) => return self.refused(by, ACTION, id.as_str(), e),
        };
        let next = AnyApproval::Executed(executed.clone());
        if !self.swap(prev, &next)? {
            // Another consumer won the race: this one must not execute.
            let state = self
                .load(id)
                .map(|(a, _)| a.state())
                .unwrap_or(StateName::Executed);
            let e = ApprovalError::WrongState {
                id: id.to_string(),
                state,
                wanted: "consumed",
            };
            return self.refused(by, ACTION, id.as_str(), e);
        }
        self.record(
            by,
            ACTION,
            id.as_str(),
            "executed",
            serde_json::json!({"digest": executed.digest.as_str()}),
        )?;
        Ok(executed)
    }
}

fn wrong_state(a: &AnyApproval, wanted: &'static str) -> ApprovalError {
    let rec = a.to_record();
    if a.state() == StateName::Expired {
        return ApprovalError::Expired {
            id: rec.id.to_string(),
            at: rec.expires(),
        };
    }
    ApprovalError::WrongState {
        id: rec.id.to_string(),
        state: a.state(),
        wanted,
    }
}
