//! The session against its pin: first use, changes held for approval, approvals applied.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Env, MAX_LISTED_CHANGES, Session};
use crate::action::intent::{Args, IntentSource, Target};
use crate::action::{ActionClass, ActionDecision, ExecutionIntent};
use crate::approval::{ApprovalId, StateName};
use crate::mcp::pins::{
    Change, ChangeKind, Definitions, ItemKind, PendingPin, ServerPin, canonical, differing_fields,
};
use crate::{Verdict, audit::AuditEvent, audit::EventType};

/// Attempts at a pin write before the session gives up (another writer kept winning).
const ATTEMPTS: usize = 8;

/// What became of a pending change.
enum Settled {
    /// Approved: pin the proposal (by these approvers).
    Apply(String),
    /// Still undecided, or rejected: keep holding.
    Keep,
    /// Expired or gone: ask again.
    Drop,
}

impl Session {
    pub(super) fn load_pin(&mut self, env: &Env<'_>) {
        match env.pins.load_pin(&self.key) {
            Ok(p) => self.pin = p,
            Err(e) => self
                .warnings
                .push(format!("the pin of `{}` cannot be read: {e}", self.key)),
        }
    }

    /// Compare what the server showed with its pin: pin on first use, apply an approval made
    /// elsewhere, hold what is added or changed and ask for its approval. When the store cannot
    /// be read or written, everything not already shown as pinned is held (fail closed).
    pub(super) fn reconcile(&mut self, env: &Env<'_>) {
        for _ in 0..ATTEMPTS {
            match self.try_reconcile(env) {
                Ok(true) => return,
                Ok(false) => continue,
                Err(e) => {
                    self.warnings.push(format!(
                        "pins of `{}`: {e}; holding every unpinned definition",
                        self.key
                    ));
                    break;
                }
            }
        }
        self.hold_all_unpinned();
    }

    fn hold_all_unpinned(&mut self) {
        let pinned = self
            .pin
            .as_ref()
            .map(|p| p.pinned.clone())
            .unwrap_or_default();
        for kind in ItemKind::ALL {
            for (k, form) in self.seen.items(kind) {
                if pinned.items(kind).get(k).map(canonical) != Some(canonical(form)) {
                    self.held.insert((kind, k.clone()));
                }
            }
        }
        self.instructions_held |= self.initialized && self.seen.instructions != pinned.instructions;
    }

    fn record_pin(
        &mut self,
        env: &Env<'_>,
        action: &str,
        outcome: &str,
        details: Value,
    ) -> Result<(), String> {
        if let Some(audit) = env.audit {
            audit
                .append(AuditEvent {
                    event_type: EventType::ConfigChange,
                    actor: self.requested_by.clone(),
                    action: action.into(),
                    resource: format!("mcp:{}", self.key),
                    outcome: outcome.into(),
                    details,
                })
                .map_err(|e| format!("the audit log refused a record: {e}"))?;
        }
        Ok(())
    }

    /// `Ok(false)`: another writer came first; try again.
    fn try_reconcile(&mut self, env: &Env<'_>) -> Result<bool, String> {
        let now = env.clock.now_ms();
        let stored = env.pins.load_pin(&self.key).map_err(|e| e.to_string())?;
        let fresh = stored.is_none();
        let mut pin = stored.unwrap_or_else(|| ServerPin {
            key: self.key.clone(),
            name: self.id.name.clone(),
            identity: self.id.identity.clone(),
            program: self.id.program.clone(),
            pinned: Definitions::default(),
            version: 0,
            updated_ms: now,
            pinned_by: "first-use".into(),
            initialized: false,
            listed: Vec::new(),
            pending: None,
        });
        let prev = pin.version;

        // First use: what has never been seen is pinned as seen, but for what the scan flags.
        let mut first: Vec<&str> = Vec::new();
        if self.initialized && !pin.initialized {
            pin.initialized = true;
            if self.instructions_flagged.is_empty() {
                pin.pinned.instructions = self.seen.instructions.clone();
            }
            first.push("instructions");
        }
        // Only a kind's first list (its first page) is pinned on first use: what a later page or
        // list adds is new, and held.
        for kind in ItemKind::ALL {
            if !self.listed_now.contains(&kind) || pin.listed.contains(&kind) {
                continue;
            }
            for (k, form) in self.seen.items(kind) {
                if self
                    .flagged
                    .get(&(kind, k.clone()))
                    .is_none_or(Vec::is_empty)
                {
                    pin.pinned
                        .items_mut(kind)
                        .entry(k.clone())
                        .or_insert_with(|| form.clone());
                }
            }
            pin.listed.push(kind);
            first.push(kind.as_str());
        }

        // An approval decided elsewhere.
        let mut applied = None;
        let mut dropped = false;
        if let Some(p) = pin.pending.clone() {
            match self.settle(env, &p)? {
                Settled::Apply(by) => {
                    pin.pinned = p.proposed.clone();
                    pin.pinned_by = by.clone();
                    pin.pending = None;
                    applied = Some((p, by));
                }
                Settled::Drop => {
                    pin.pending = None;
                    dropped = true;
                }
                Settled::Keep => {}
            }
        }

        let (changes, proposed, held, instructions_held) = self.compare(&pin.pinned);
        let digest = proposed.digest();
        // A change asked for after this session last listed came from a newer view of the
        // server than this session's: it stands (this session's items it names stay refused).
        let stale = pin
            .pending
            .as_ref()
            .is_some_and(|p| p.asked_ms > self.listed_ms);
        let ask = !changes.is_empty()
            && !stale
            && pin.pending.as_ref().is_none_or(|p| p.digest != digest);
        let mut approval = None;
        if ask {
            if let Some(old) = &pin.pending {
                // Superseded: the definitions it is for are no longer what the server shows.
                let old = old.approval.clone();
                self.withdraw(env, &old);
            }
            approval = Some(self.ask(env, &changes, &digest)?);
            pin.pending = Some(PendingPin {
                approval: approval.clone().unwrap_or_default(),
                digest: digest.clone(),
                proposed,
                changes: changes.clone(),
                asked_ms: now,
            });
        }
        let wrote = !first.is_empty() || applied.is_some() || ask || dropped;
        if wrote {
            pin.version = prev + 1;
            pin.updated_ms = now;
            let landed = if fresh {
                env.pins.insert_pin(&pin)
            } else {
                env.pins.replace_pin(prev, &pin)
            }
            .map_err(|e| e.to_string())?;
            if !landed {
                return Ok(false);
            }
            if !first.is_empty() {
                self.record_pin(
                    env,
                    "mcp.pin",
                    "pinned",
                    json!({
                        "first_use": first,
                        "digest": pin.pinned.digest(),
                        "tools": pin.pinned.tools.len(),
                        "prompts": pin.pinned.prompts.len(),
                        "resources": pin.pinned.resources.len(),
                        "resource_templates": pin.pinned.resource_templates.len(),
                    }),
                )?;
            }
            if let Some((p, by)) = &applied {
                self.record_pin(env, "mcp.pin", "approved", json!({
                    "approval": p.approval, "digest": p.digest, "by": by, "changes": p.changes.len(),
                }))?;
            }
            if let Some(a) = &approval {
                self.record_pin(
                    env,
                    "mcp.list",
                    "held",
                    json!({
                        "approval": a, "digest": digest, "changes": changes_json(&changes),
                    }),
                )?;
            }
        }
        self.held = held;
        self.instructions_held = instructions_held;
        self.pin = Some(pin);
        Ok(true)
    }

    /// What differs between what the server showed and `pinned`: the changes, the whole set as it
    /// would be pinned, the items to hold, and whether the instructions are held.
    fn compare(
        &self,
        pinned: &Definitions,
    ) -> (Vec<Change>, Definitions, BTreeSet<(ItemKind, String)>, bool) {
        let mut changes = Vec::new();
        let mut proposed = pinned.clone();
        let mut held = BTreeSet::new();
        let mut instructions_held = false;
        if self.initialized && self.seen.instructions != pinned.instructions {
            instructions_held = self.seen.instructions.is_some();
            changes.push(Change {
                kind: "instructions".into(),
                name: String::new(),
                change: match (&pinned.instructions, &self.seen.instructions) {
                    (None, _) => ChangeKind::Added,
                    (_, None) => ChangeKind::Removed,
                    _ => ChangeKind::Changed,
                },
                fields: vec!["instructions".into()],
                findings: self.instructions_flagged.clone(),
            });
            proposed.instructions = self.seen.instructions.clone();
        }
        for kind in ItemKind::ALL {
            for (k, form) in self.seen.items(kind) {
                let (change, fields) = match pinned.items(kind).get(k) {
                    Some(p) if canonical(p) == canonical(form) => continue,
                    Some(p) => (ChangeKind::Changed, differing_fields(kind, p, form)),
                    None => (
                        ChangeKind::Added,
                        form.as_object()
                            .map(|o| o.keys().cloned().collect())
                            .unwrap_or_default(),
                    ),
                };
                held.insert((kind, k.clone()));
                changes.push(Change {
                    kind: kind.as_str().into(),
                    name: k.clone(),
                    change,
                    fields,
                    findings: self
                        .flagged
                        .get(&(kind, k.clone()))
                        .cloned()
                        .unwrap_or_default(),
                });
                proposed.items_mut(kind).insert(k.clone(), form.clone());
            }
            if self.whole.contains(&kind) {
                for k in pinned.items(kind).keys() {
                    if !self.seen.items(kind).contains_key(k) {
                        changes.push(Change {
                            kind: kind.as_str().into(),
                            name: k.clone(),
                            change: ChangeKind::Removed,
                            fields: Vec::new(),
                            findings: Vec::new(),
                        });
                        proposed.items_mut(kind).remove(k);
                    }
                }
            }
        }
        (changes, proposed, held, instructions_held)
    }

    /// Withdraw a pending approval of definitions the server no longer shows (so approvers are
    /// not asked about them); one already decided is left as it is.
    fn withdraw(&mut self, env: &Env<'_>, approval: &str) {
        if let Ok(id) = ApprovalId::parse(approval)
            && let Ok((rec, _)) = env.approvals.get(&id)
            && rec.state == StateName::Pending
            && let Err(e) = env.approvals.reject(
                &id,
                &self.requested_by,
                "superseded: the server's definitions changed again",
            )
        {
            self.warnings
                .push(format!("approval {approval} could not be withdrawn: {e}"));
        }
    }

    /// What became of the approval of a pending change.
    fn settle(&mut self, env: &Env<'_>, p: &PendingPin) -> Result<Settled, String> {
        let Ok(id) = ApprovalId::parse(&p.approval) else {
            return Ok(Settled::Drop);
        };
        let (rec, intent) = match env.approvals.get(&id) {
            Ok(x) => x,
            Err(crate::approval::ApprovalError::NotFound(_)) => return Ok(Settled::Drop),
            Err(e) => return Err(e.to_string()),
        };
        let by = || {
            rec.votes
                .iter()
                .map(|v| v.approver.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        Ok(match rec.state {
            StateName::Approved => {
                // Consumed once; if another session consumed it first, it is executed all the same.
                let _ = env.approvals.consume(&id, &intent, &self.requested_by);
                Settled::Apply(by())
            }
            StateName::Executed => Settled::Apply(by()),
            StateName::Expired => Settled::Drop,
            StateName::Pending | StateName::Rejected => Settled::Keep,
        })
    }

    /// Ask for the approval of the definitions with `digest`; returns the approval's id.
    fn ask(&mut self, env: &Env<'_>, changes: &[Change], digest: &str) -> Result<String, String> {
        let mut args = serde_json::Map::new();
        args.insert("server".into(), json!(self.key));
        args.insert("definitions".into(), json!(format!("sha256:{digest}")));
        args.insert("changes".into(), changes_json(changes));
        let intent = ExecutionIntent {
            tool: "mcp".into(),
            action: "pin".into(),
            target: Target {
                kind: "mcp-server".into(),
                name: self.id.name.clone(),
                ..Target::default()
            },
            args: Args(args),
            requested_by: self.requested_by.clone(),
            source: IntentSource {
                session: Some(self.session.clone()),
                ..IntentSource::default()
            },
            reason: "the MCP server's definitions changed since they were pinned".into(),
        };
        let d = ActionDecision {
            verdict: Verdict::Review,
            rule: "mcp-definitions-changed".into(),
            message: format!(
                "MCP server `{}` shows {} definition(s) that are new, changed or flagged since it was pinned; they are hidden until approved",
                self.id.name,
                changes.len()
            ),
            class: ActionClass::Write,
            mode: env.policy.action.mode(),
            tier: None,
            approvals_needed: 1,
            digest: intent.digest().map_err(|e| e.to_string())?,
            summary: intent.summary(),
            findings: Vec::new(),
            taint: None,
        };
        let a = env
            .approvals
            .create(&intent, &d)
            .map_err(|e| e.to_string())?;
        Ok(a.id().as_str().to_string())
    }
}

/// The changes as an approval shows them: at most [`MAX_LISTED_CHANGES`] by name, then a count.
fn changes_json(changes: &[Change]) -> Value {
    let mut v: Vec<Value> = changes
        .iter()
        .take(MAX_LISTED_CHANGES)
        .map(|c| serde_json::to_value(c).unwrap_or_default())
        .collect();
    if changes.len() > MAX_LISTED_CHANGES {
        v.push(json!({"more": changes.len() - MAX_LISTED_CHANGES}));
    }
    Value::Array(v)
}
