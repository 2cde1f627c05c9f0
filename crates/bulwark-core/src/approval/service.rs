//! `Approvals`: the transitions, run against a store, a clock and the audit log.
//!
//! Each transition loads the approval, applies the typed transition, and writes the result with a
//! compare-and-swap on its version; a lost race reloads and tries again (or, for consume, finds the
//! approval executed and refuses). The transition is then recorded in the audit log; refused
//! attempts are recorded too (a replayed or forged approval is evidence). When the audit log cannot
//! take the record the caller gets an error: a consumer must not execute on an error.
//!
//! Two kinds of caller. The local owner (the CLI, which can read the state database anyway) uses
//! [`Approvals::get`], [`Approvals::list`], [`Approvals::reject`] and [`Approvals::consume`], which
//! see every approval and trust the principal they are given. An authenticated principal (the HTTP
//! API's token name) uses the `_as` methods, which bind every approval to its requester: only the
//! requester may consume or withdraw it; the requester and the approvers may read it; for anyone
//! else it does not exist ([`ApprovalError::NotFound`], the same answer as for an unknown id, so
//! existence does not leak). Listing shows a principal the approvals it requested, plus every
//! pending one when it is an approver.

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

/// Who calls a transition.
#[derive(Clone, Copy)]
enum Caller<'p> {
    /// The local owner, acting as the principal it names (trusted).
    Owner(&'p str),
    /// An authenticated principal, held to the approvals it may see.
    Bound(&'p str),
}

impl<'p> Caller<'p> {
    fn name(self) -> &'p str {
        match self {
            Caller::Owner(p) | Caller::Bound(p) => p,
        }
    }
}

/// How many of a principal's newest approvals of one state [`Approvals::find_as`] looks at.
pub const FIND_WINDOW: usize = 1000;

/// What [`Approvals::review`] found or did.
#[derive(Debug, Clone)]
pub enum Review {
    /// An approved approval was consumed: the action runs now.
    Resumed(ApprovalRecord),
    /// An approval for the same intent is still pending.
    Pending(ApprovalRecord),
    /// A new pending approval.
    Created(Approval<Pending>),
}

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

    /// Refuse a principal an approval it may not see: recorded as denied with the real reason,
    /// answered as [`ApprovalError::NotFound`] (what an unknown id gets).
    fn hidden<T>(&self, actor: &str, action: &str, id: &ApprovalId) -> Result<T, ApprovalError> {
        self.record(
            actor,
            action,
            id.as_str(),
            "denied",
            serde_json::json!({
                "reason": format!(
                    "`{actor}` neither requested approval {id} nor is an approver: answered as not found"
                )
            }),
        )?;
        Err(ApprovalError::NotFound(id.to_string()))
    }

    /// Compare the action mode with the last one this store saw; a change (or the first mode
    /// seen) is recorded in the audit log as a configuration change. Returns the previous mode.
    pub fn note_mode(
        &self,
        mode: crate::action::cfg::ActionMode,
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

    /// May `principal` see this approval? Its requester and the approvers may.
    fn visible_to(&self, rec: &ApprovalRecord, principal: &str) -> bool {
        rec.requested_by == principal || self.approvers.contains(principal)
    }

    /// [`Approvals::get`] for an authenticated principal: its own approvals, or any as an approver;
    /// [`ApprovalError::NotFound`] otherwise.
    pub fn get_as(
        &self,
        id: &ApprovalId,
        principal: &str,
    ) -> Result<(ApprovalRecord, ExecutionIntent), ApprovalError> {
        let visible = self
            .store
            .load(id)?
            .is_some_and(|(rec, _)| self.visible_to(&rec, principal));
        if !visible {
            return Err(ApprovalError::NotFound(id.to_string()));
        }
        self.get(id)
    }

    /// [`Approvals::list`] for an authenticated principal: the approvals it requested, plus every
    /// pending one when it is an approver.
    pub fn list_as(
        &self,
        principal: &str,
        state: Option<StateName>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        self.settle_due()?;
        self.store
            .list_visible(principal, self.approvers.contains(principal), state, limit)
    }

    /// The newest approval of `state` that `principal` requested for the intent with `digest`
    /// (compared in constant time), among its newest [`FIND_WINDOW`]; expiries recorded first.
    pub fn find_as(
        &self,
        principal: &str,
        digest: &IntentDigest,
        state: StateName,
    ) -> Result<Option<ApprovalRecord>, ApprovalError> {
        self.settle_due()?;
        Ok(self
            .store
            .list_visible(principal, false, Some(state), FIND_WINDOW)?
            .into_iter()
            .find(|r| r.requested_by == principal && r.digest.ct_eq(digest)))
    }

    /// What a review verdict comes to for an intent that is proposed again and again (a model's
    /// tool call, an MCP `tools/call`): an approved approval its requester asked for the same
    /// digest is consumed (the call passes, once); else a pending one is reused; else one is
    /// created.
    pub fn review(
        &self,
        intent: &ExecutionIntent,
        decision: &ActionDecision,
    ) -> Result<Review, ApprovalError> {
        let who = &intent.requested_by;
        if let Some(rec) = self.find_as(who, &decision.digest, StateName::Approved)? {
            let done = self.consume_as(&rec.id, intent, who)?;
            return Ok(Review::Resumed(AnyApproval::Executed(done).to_record()));
        }
        if let Some(rec) = self.find_as(who, &decision.digest, StateName::Pending)? {
            return Ok(Review::Pending(rec));
        }
        self.create(intent, decision).map(Review::Created)
    }

    /// Approvals, newest first (expiries recorded), optionally of one state.
    pub fn list(
        &self,
        state: Option<StateName>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        self.settle_due()?;
        self.store.list(state, limit)
    }

    /// Record the expiry of pending and approved approvals past it (in bounded batches).
    fn settle_due(&self) -> Result<(), ApprovalError> {
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
        Ok(())
    }

    /// A transition of a pending approval, retried while concurrent writers win the
    /// compare-and-swap: load, settle expiry, require `Pending` (`wanted` names the refused
    /// transition), apply `step`, swap, record with `details`. Refusals are recorded too.
    /// A [`Caller::Bound`] caller is answered [`ApprovalError::NotFound`] for an approval it may
    /// not see, before anything else about it is said.
    fn on_pending(
        &self,
        id: &ApprovalId,
        caller: Caller<'_>,
        action: &str,
        wanted: &'static str,
        step: impl Fn(Approval<Pending>, u64) -> Result<AnyApproval, ApprovalError>,
        details: impl Fn(&ApprovalRecord) -> serde_json::Value,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let principal = caller.name();
        for _ in 0..MAX_ATTEMPTS {
            let (a, _) = match self.load(id) {
                Ok(x) => x,
                Err(e) => return self.refused(principal, action, id.as_str(), e),
            };
            if matches!(caller, Caller::Bound(_)) && !self.visible_to(&a.to_record(), principal) {
                return self.hidden(principal, action, id);
            }
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
            Caller::Owner(principal),
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
        self.reject_by(id, Caller::Owner(principal), reason)
    }

    /// [`Approvals::reject`] for an authenticated principal: an approver, or the requester
    /// withdrawing; for anyone else the approval does not exist ([`ApprovalError::NotFound`]).
    pub fn reject_as(
        &self,
        id: &ApprovalId,
        principal: &str,
        reason: &str,
    ) -> Result<ApprovalRecord, ApprovalError> {
        self.reject_by(id, Caller::Bound(principal), reason)
    }

    fn reject_by(
        &self,
        id: &ApprovalId,
        caller: Caller<'_>,
        reason: &str,
    ) -> Result<ApprovalRecord, ApprovalError> {
        let principal = caller.name();
        self.on_pending(
            id,
            caller,
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
    /// Only on `Ok` may the caller run the action. `by` is recorded as the executor, unchecked
    /// (the local owner's call; see [`Approvals::consume_as`]).
    pub fn consume(
        &self,
        id: &ApprovalId,
        intent: &ExecutionIntent,
        by: &str,
    ) -> Result<Approval<Executed>, ApprovalError> {
        self.consume_by(id, intent, Caller::Owner(by))
    }

    /// [`Approvals::consume`] for an authenticated principal: only the approval's requester may
    /// consume it. An approver who is not the requester gets [`ApprovalError::NotRequester`];
    /// anyone else [`ApprovalError::NotFound`].
    pub fn consume_as(
        &self,
        id: &ApprovalId,
        intent: &ExecutionIntent,
        principal: &str,
    ) -> Result<Approval<Executed>, ApprovalError> {
        self.consume_by(id, intent, Caller::Bound(principal))
    }

    fn consume_by(
        &self,
        id: &ApprovalId,
        intent: &ExecutionIntent,
        caller: Caller<'_>,
    ) -> Result<Approval<Executed>, ApprovalError> {
        const ACTION: &str = "approval.consume";
        let by = caller.name();
        let (a, _) = match self.load(id) {
            Ok(x) => x,
            Err(e) => return self.refused(by, ACTION, id.as_str(), e),
        };
        if let Caller::Bound(_) = caller {
            let rec = a.to_record();
            if !self.visible_to(&rec, by) {
                return self.hidden(by, ACTION, id);
            }
            if rec.requested_by != by {
                let e = ApprovalError::NotRequester {
                    principal: by.to_string(),
                    id: id.to_string(),
                };
                return self.refused(by, ACTION, id.as_str(), e);
            }
        }
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
