//! The client's side of a session: its requests, and the tool calls among them judged.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{
    Asked, Env, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, Out, REFUSED, Session, error,
    id_key,
};
use crate::Verdict;
use crate::approval::Review;
use crate::audit::AuditEvent;
use crate::gateway::calls::{CallContext, ProposedCall, intent_for};
use crate::gateway::cfg::ToolMapping;
use crate::mcp::pins::{ChangeKind, ItemKind};

impl Session {
    pub(super) fn client_request(
        &mut self,
        env: &Env<'_>,
        msg: Value,
        method: String,
        id: Value,
    ) -> Vec<Out> {
        if !(id.is_string() || id.is_i64() || id.is_u64()) {
            return vec![Out::ToClient(error(
                &Value::Null,
                INVALID_REQUEST,
                "bulwark: a request's `id` is a string or an integer",
            ))];
        }
        let key = id_key(&id);
        if self.asked.contains_key(&key) {
            return vec![Out::ToClient(error(
                &id,
                INVALID_REQUEST,
                "bulwark: a request with this id is still awaiting its answer",
            ))];
        }
        if self.asked.len() >= self.mcp.max_pending {
            return vec![Out::ToClient(error(
                &id,
                INTERNAL_ERROR,
                &format!(
                    "bulwark: {} requests are awaiting the server's answer ([mcp] max_pending); try again",
                    self.asked.len()
                ),
            ))];
        }
        let params = msg.get("params");
        let mut tool = None;
        let refusal = match method.as_str() {
            "tools/call" => match params.and_then(|p| p.get("name")).and_then(Value::as_str) {
                None => Some((
                    INVALID_PARAMS,
                    "bulwark: `params.name` names the tool to call".to_string(),
                )),
                Some(name) => {
                    tool = Some(name.to_string());
                    let args = params.and_then(|p| p.get("arguments")).cloned();
                    self.judge_call(env, name, args).err()
                }
            },
            "prompts/get" => params
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .and_then(|n| {
                    self.hidden(env, ItemKind::Prompt, n)
                        .or_else(|| self.unpinned(env, ItemKind::Prompt, n))
                }),
            "resources/read" => params
                .and_then(|p| p.get("uri"))
                .and_then(Value::as_str)
                .and_then(|n| {
                    self.hidden(env, ItemKind::Resource, n)
                        .or_else(|| self.held_template_of(env, n))
                }),
            _ => None,
        };
        if let Some((code, why)) = refusal {
            return vec![Out::ToClient(error(&id, code, &why))];
        }
        let paged = params
            .and_then(|p| p.get("cursor"))
            .is_some_and(|c| !c.is_null());
        self.asked.insert(
            key,
            Asked {
                id,
                method,
                tool,
                paged,
            },
        );
        vec![Out::ToServer(msg.to_string())]
    }

    /// Why item `key` of `kind` may not be used: held, or (for a tool) not pinned.
    pub(super) fn hidden(
        &mut self,
        env: &Env<'_>,
        kind: ItemKind,
        key: &str,
    ) -> Option<(i64, String)> {
        let k = (kind, key.to_string());
        if self.pin.is_none() {
            self.load_pin(env);
        }
        if self.held.contains(&k) || self.awaits_approval(kind, key) {
            // Perhaps approved meanwhile.
            self.reconcile(env);
        }
        // Held here, or by the change another session saw (this one may not have listed).
        if self.held.contains(&k) || self.awaits_approval(kind, key) {
            let approval = self
                .pin
                .as_ref()
                .and_then(|p| p.pending.as_ref())
                .map(|p| format!(" (approval {})", p.approval))
                .unwrap_or_default();
            return Some((
                REFUSED,
                format!(
                    "bulwark: the {} `{key}` of MCP server `{}` is not approved: its definition is new or changed since it was pinned, or carries instructions to the model; it is hidden until an approver approves it{approval}. See `bulwark mcp pins show {}`.",
                    kind.as_str(),
                    self.id.name,
                    self.id.name
                ),
            ));
        }
        None
    }

    /// Why a resource may not be read by `uri`: it expands a held template (its text up to the
    /// first `{` starts the URI, both percent-decoded and in any case; a URI two templates could
    /// give is refused if either is held).
    fn held_template_of(&mut self, env: &Env<'_>, uri: &str) -> Option<(i64, String)> {
        let kind = ItemKind::ResourceTemplate;
        let mut templates: Vec<String> = self
            .seen
            .items(kind)
            .keys()
            .cloned()
            .chain(self.pin.iter().flat_map(|p| {
                p.pending
                    .iter()
                    .flat_map(|c| c.changes.iter())
                    .filter(|c| c.kind == kind.as_str())
                    .map(|c| c.name.clone())
            }))
            .collect();
        templates.sort();
        templates.dedup();
        // Compared as a lenient server would read them: percent-decoded, in any case.
        let plain = |x: &str| {
            percent_encoding::percent_decode_str(x)
                .decode_utf8_lossy()
                .to_lowercase()
        };
        let uri = plain(uri);
        for t in templates {
            let literal = plain(t.split('{').next().unwrap_or_default());
            // A template that starts with a variable names no fixed place: it matches nothing
            // by prefix (its reads are guarded as any other).
            if literal.is_empty() || !uri.starts_with(&literal) {
                continue;
            }
            if let Some(r) = self.hidden(env, kind, &t) {
                return Some(r);
            }
        }
        None
    }

    /// Whether the change awaiting approval adds or changes item `key` of `kind`.
    fn awaits_approval(&self, kind: ItemKind, key: &str) -> bool {
        self.pin
            .as_ref()
            .and_then(|p| p.pending.as_ref())
            .is_some_and(|p| {
                p.changes.iter().any(|c| {
                    c.kind == kind.as_str() && c.name == key && c.change != ChangeKind::Removed
                })
            })
    }

    /// Why item `key` of `kind` may not be used: it is not among the server's pinned items (a
    /// client lists before it uses).
    pub(super) fn unpinned(
        &mut self,
        env: &Env<'_>,
        kind: ItemKind,
        key: &str,
    ) -> Option<(i64, String)> {
        if self.pin.is_none() {
            self.load_pin(env);
        }
        let pinned = self
            .pin
            .as_ref()
            .is_some_and(|p| p.pinned.items(kind).contains_key(key));
        (!pinned).then(|| {
            (
                REFUSED,
                format!(
                    "bulwark: `{key}` is not among the approved {}s of MCP server `{}` (list them first: only a listed, pinned {} can be used)",
                    kind.as_str(),
                    self.id.name,
                    kind.as_str()
                ),
            )
        })
    }

    /// Judge a `tools/call`: `Err` is the refusal the client gets.
    pub(super) fn judge_call(
        &mut self,
        env: &Env<'_>,
        name: &str,
        args: Option<Value>,
    ) -> Result<(), (i64, String)> {
        if let Some(r) = self.hidden(env, ItemKind::Tool, name) {
            self.record(
                env,
                "mcp.call",
                format!("mcp:{}/{name}", self.id.name),
                "block",
                json!({"rule": "mcp-tool-held"}),
            );
            return Err(r);
        }
        if self.pin.is_none() {
            self.load_pin(env);
        }
        let Some(def) = self
            .pin
            .as_ref()
            .and_then(|p| p.pinned.tools.get(name))
            .cloned()
        else {
            self.record(
                env,
                "mcp.call",
                format!("mcp:{}/{name}", self.id.name),
                "block",
                json!({"rule": "mcp-tool-unknown"}),
            );
            return Err((
                REFUSED,
                format!(
                    "bulwark: `{name}` is not among the approved tools of MCP server `{}` (list the tools first: only a listed, pinned tool can be called)",
                    self.id.name
                ),
            ));
        };
        let arguments = match &args {
            None | Some(Value::Null) => String::new(),
            Some(v @ Value::Object(_)) => v.to_string(),
            Some(_) => {
                return Err((
                    INVALID_PARAMS,
                    "bulwark: `params.arguments` is an object".into(),
                ));
            }
        };
        let declared: BTreeSet<String> = def
            .get("inputSchema")
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let (mapping, mapped) = self.mapping(name, &def);
        let call = ProposedCall {
            id: String::new(),
            name: format!("mcp.{}.{name}", self.id.name),
            arguments,
        };
        let ctx = CallContext {
            requested_by: &self.requested_by,
            conversation: &self.session,
            declared: Some(&declared),
            mapped,
        };
        let intent = intent_for(&call, &mapping, &ctx).map_err(|why| {
            (
                INVALID_PARAMS,
                format!("bulwark: the call of `{name}` cannot be judged: {why}"),
            )
        })?;
        let mut d = env
            .policy
            .action
            .evaluate(&intent, env.probe)
            .map_err(|e| {
                (
                    INVALID_PARAMS,
                    format!("bulwark: the call of `{name}` cannot be judged: {e}"),
                )
            })?;
        self.judge_provenance(env, name, args.as_ref(), &intent, &mut d);
        let unrecorded = |e: String| {
            (
                REFUSED,
                format!(
                    "bulwark: the call of `{name}` was not passed: its verdict could not be recorded ({e})"
                ),
            )
        };
        if let Some(audit) = env.audit {
            audit
                .append(AuditEvent::from((&intent, &d)))
                .map_err(|e| unrecorded(e.to_string()))?;
        }
        match d.verdict {
            Verdict::Allow => Ok(()),
            Verdict::Block => Err((
                REFUSED,
                format!(
                    "bulwark: the call `{name}` ({}) was blocked by policy and not run: {}",
                    d.summary, d.message
                ),
            )),
            Verdict::Review => match env.approvals.review(&intent, &d) {
                Ok(Review::Resumed(_)) => Ok(()),
                Ok(Review::Pending(rec)) => Err((
                    REFUSED,
                    withheld(name, &d.summary, rec.id.as_str(), d.digest.as_str()),
                )),
                Ok(Review::Created(a)) => Err((
                    REFUSED,
                    withheld(name, &d.summary, a.id().as_str(), d.digest.as_str()),
                )),
                Err(e) => Err(unrecorded(e.to_string())),
            },
        }
    }

    /// How a call of tool `name` reads as an intent: `[mcp.servers.NAME.tools.TOOL]`, else (for a
    /// trusted server) its annotations, else verb `call`. Without a mapping no argument names the
    /// verb or a command: an `action: "read"` the model writes does not make a call a read, nor a
    /// `command: "ls"` a shell read.
    pub(super) fn mapping(&self, name: &str, def: &Value) -> (ToolMapping, bool) {
        if let Some(m) = self.server_cfg.tools.get(name) {
            return (m.clone(), true);
        }
        let mut m = ToolMapping {
            action_arg: String::new(),
            command_arg: String::new(),
            ..ToolMapping::default()
        };
        if self.server_cfg.trusted {
            let hint = |h: &str| {
                def.get("annotations")
                    .and_then(|a| a.get(h))
                    .and_then(Value::as_bool)
            };
            if hint("readOnlyHint") == Some(true) {
                m.action = "read".into();
            } else if hint("destructiveHint") == Some(false) {
                m.action = "update".into();
            }
        }
        (m, false)
    }
}

fn withheld(name: &str, summary: &str, approval: &str, digest: &str) -> String {
    format!(
        "bulwark: the call `{name}` ({summary}) needs approval before it runs; it was not run. Approval {approval} (intent digest sha256:{digest}) is pending: once an approver runs `bulwark approvals approve {approval} --digest sha256:{digest} --as APPROVER`, make the same call again and it passes once."
    )
}
