//! Provenance in an MCP session (`[mcp] provenance`): what the server gave the client's model
//! taints the calls the client makes after it.
//!
//! The session sees its server's results, not the conversation: it knows the client's model read
//! untrusted text, not what the user asked. So the rules of `[action.provenance]` apply with no
//! trusted text to direct a write: a write or destructive call after an untrusted result waits
//! for approval, and a destination or copy from a result is the result's choice. Where the model
//! gateway judged the call in its conversation and passed it, it left a handoff
//! ([`crate::provenance::handoff`]); a server that takes judgements from that agent's token
//! (`handoffs_from`, and over HTTP the client's own token) lets it stand instead of the wait.

use serde_json::{Value, json};

use super::{Env, Session};
use crate::action::{ActionDecision, ExecutionIntent};
use crate::provenance::{self, Origin, handoff};
use crate::{Detectors, FindingKind, Verdict};

impl Session {
    /// Add a result the client gets (a tool's result, a resource, a prompt) to the session's
    /// context, as from `mcp.SERVER.WHAT` (the tool, or the method), unless `trusted_tools` names it.
    pub(super) fn note_result(
        &mut self,
        env: &Env<'_>,
        what: &str,
        g: &crate::mcp::content::Guarded,
        text: &str,
    ) {
        if !self.mcp.provenance || !env.policy.provenance.enabled() {
            return;
        }
        let origin = Origin::Tool(format!("mcp.{}.{what}", self.id.name));
        if env.policy.provenance.trusted(&origin) {
            return;
        }
        let context = self.context.clone();
        let mut context = context.lock().unwrap_or_else(|p| p.into_inner());
        let n = context.pieces().len() + context.unseen().len() + 1;
        let at = format!("result {n} of {what}");
        context.add(origin, at.clone(), text, g.score);
        // Redacted values never reach the model; values passed as they are count.
        if !self.mcp.redact_results {
            let found = env.policy.scanner.scan_with(
                text.as_bytes(),
                Detectors {
                    secrets: true,
                    pii: true,
                    injection: false,
                },
            );
            let secrets = found
                .iter()
                .filter(|f| f.kind == FindingKind::Secret)
                .count();
            let pii = found.iter().filter(|f| f.kind == FindingKind::Pii).count();
            context.note_values(&at, secrets, pii);
        }
    }

    /// Apply the provenance rules to a call of tool `name` with `args`: the session's context,
    /// or the model gateway's judgement where it left one.
    pub(super) fn judge_provenance(
        &mut self,
        env: &Env<'_>,
        name: &str,
        args: Option<&Value>,
        intent: &ExecutionIntent,
        d: &mut ActionDecision,
    ) {
        if !self.mcp.provenance {
            return;
        }
        let j = {
            let context = self.context.lock().unwrap_or_else(|p| p.into_inner());
            if context.is_empty() {
                return;
            }
            env.policy.provenance.judge(intent, d, &context)
        };
        let Some(j) = j else {
            return;
        };
        // Only a wait for approval is lifted, never a refusal.
        if j.verdict == Verdict::Review
            && j.verdict > d.verdict
            && !self.handoffs_from.is_empty()
            && let Some(store) = env.handoffs
        {
            let key = handoff::value_key(args.unwrap_or(&Value::Null));
            let wanted = handoff::Wanted {
                key: &key,
                tool: name,
                server: &self.id.name,
                from: &self.handoffs_from,
                class: d.class,
                now_ms: env.clock.now_ms(),
            };
            match store.take_handoff(&wanted) {
                Ok(Some(h)) => {
                    self.record(
                        env,
                        "mcp.provenance",
                        format!("mcp:{}/{name}", self.id.name),
                        "shared",
                        json!({
                            "rule": j.rule,
                            "token": h.token,
                            "conversation": h.conversation,
                            "untrusted": h.untrusted,
                            "gateway_rule": h.rule,
                        }),
                    );
                    d.taint = Some(j.taint);
                    return;
                }
                Ok(None) => {}
                Err(e) => self.warnings.push(format!(
                    "the model gateway's judgements could not be read: {e}"
                )),
            }
        }
        provenance::apply(d, j);
    }
}
