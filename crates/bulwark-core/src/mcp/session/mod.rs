//! One MCP session between a client and a server, with Bulwark between them: every JSON-RPC
//! message either way goes through [`Session::from_client`] or [`Session::from_server`], which
//! say what to send on. Transport-independent: `bulwark mcp wrap` feeds it lines of a stdio
//! pipe.
//!
//! Threats answered: a server that changes its definitions after approval (pins, see
//! [`super::pins`]), hides instructions in them or returns injected text or secrets (see
//! [`super::content`]); a model that calls a tool with side effects (every `tools/call` is judged
//! by the action policy, with approvals for review); a client that calls a hidden tool; and a
//! malformed, oversized or flooding peer (bounded, answered with JSON-RPC errors, never a panic).
//! Methods Bulwark does not know pass through untouched.

mod pinning;

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use super::cfg::{McpConfig, McpServerConfig};
use super::content;
use super::pins::{Definitions, ItemKind, PinStore, ServerPin};
use crate::action::PathProbe;
use crate::approval::{Approvals, Clock, Review};
use crate::audit::{AuditEvent, AuditSink, EventType};
use crate::gateway::calls::{CallContext, ProposedCall, intent_for};
use crate::gateway::cfg::ToolMapping;
use crate::scan::injection::Source;
use crate::{Policy, Verdict};

/// JSON-RPC: the message is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: invalid parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: an internal error (the server went away, a message was too large).
pub const INTERNAL_ERROR: i64 = -32603;
/// Refused by Bulwark's policy: a blocked call or result, a call waiting for approval, a held
/// tool.
pub const REFUSED: i64 = -32001;

/// Most items of one kind a session keeps from the server's lists; past it, items are hidden.
pub const MAX_ITEMS: usize = 4096;
/// How long a re-check of a list waits for the server's answer (ms).
const RECHECK_WAIT_MS: u64 = 10_000;
/// Most bytes of one kind's definitions a session keeps from the server's lists; past it, items
/// are hidden.
pub const MAX_ITEM_BYTES: usize = 8 * 1024 * 1024;
/// Most changes an approval's intent lists by name (the rest are counted).
const MAX_LISTED_CHANGES: usize = 64;

/// What the session needs from outside: the compiled policy, the stores and the audit log.
pub struct Env<'a> {
    /// The policy in force.
    pub policy: &'a Policy,
    /// Where pins live.
    pub pins: &'a dyn PinStore,
    /// Approvals (of changed definitions and of calls the action policy sends to review).
    pub approvals: &'a Approvals<'a>,
    /// The audit log (`None` when `[audit] enabled = false`).
    pub audit: Option<&'a dyn AuditSink>,
    /// Symbolic links, for the action policy's path checks.
    pub probe: &'a dyn PathProbe,
    /// The time.
    pub clock: &'a dyn Clock,
}

/// A message to send on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// To the client, one JSON text.
    ToClient(String),
    /// To the server, one JSON text.
    ToServer(String),
}

/// A client request forwarded, awaiting the server's answer.
#[derive(Debug, Clone)]
struct Asked {
    /// The client's id, as it sent it.
    id: Value,
    method: String,
    /// `tools/call`: the tool's name.
    tool: Option<String>,
    /// A list request that named a cursor (a later page).
    paged: bool,
}

/// Who a server is: the operator's name and what it runs.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// The operator's name (`--name`).
    pub name: String,
    /// The hex SHA-256 of the canonical JSON of the command and its arguments.
    pub identity: String,
    /// The program's file name, for lists.
    pub program: String,
}

impl ServerIdentity {
    /// The identity of a stdio server: `command` and `args` hashed, never stored.
    pub fn stdio(name: &str, command: &str, args: &[String]) -> ServerIdentity {
        let mut all = vec![command.to_string()];
        all.extend(args.iter().cloned());
        ServerIdentity {
            name: name.to_string(),
            identity: super::pins::digest(&all),
            program: std::path::Path::new(command)
                .file_name()
                .map(|f| f.to_string_lossy().chars().take(128).collect())
                .unwrap_or_default(),
        }
    }

    /// The identity of a Streamable HTTP server: its URL hashed (it may carry a token), its host
    /// shown.
    pub fn http(name: &str, url: &url::Url) -> ServerIdentity {
        ServerIdentity {
            name: name.to_string(),
            identity: super::pins::digest(&url.as_str()),
            program: url.host_str().unwrap_or("").chars().take(128).collect(),
        }
    }

    /// The key its pin is stored under.
    pub fn key(&self) -> String {
        ServerPin::key_of(&self.name, &self.identity)
    }
}

/// The state of one session.
pub struct Session {
    id: ServerIdentity,
    key: String,
    server_cfg: McpServerConfig,
    mcp: McpConfig,
    /// `mcp:NAME`: who asks for approvals.
    requested_by: String,
    /// The session's id (approvals of calls hold for the session they were asked in).
    session: String,
    source: Source,
    asked: HashMap<String, Asked>,
    /// Bulwark's own list requests (after a `list_changed`), by id.
    own: HashMap<String, (ItemKind, u64)>,
    own_count: u64,
    /// What the server showed, in pinned form.
    seen: Definitions,
    /// Whether `initialize` was answered (its `instructions` are in `seen`).
    initialized: bool,
    /// Kinds whose whole list was seen (removals count only then).
    whole: BTreeSet<ItemKind>,
    /// Kinds of which a list (a page) was seen.
    listed_now: BTreeSet<ItemKind>,

    /// The scan's rules per seen item.
    flagged: HashMap<(ItemKind, String), Vec<String>>,
    instructions_flagged: Vec<String>,
    /// Seen items that are not shown: added, changed or flagged, until approved.
    held: BTreeSet<(ItemKind, String)>,
    instructions_held: bool,
    pin: Option<ServerPin>,
    /// Problems for the operator (printed on stderr by the transport).
    pub warnings: Vec<String>,
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

/// A JSON-RPC error answer.
pub fn error(id: &Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

impl Session {
    /// A session with server `id`, under `[mcp]`.
    pub fn new(id: ServerIdentity, mcp: &McpConfig) -> Session {
        let short: String = id.name.chars().take(36).collect();
        let mut rand = [0u8; 8];
        // An id collision only lets one session's approved call pass in another of the same
        // server: the clock keeps ids apart if the OS has no randomness to give.
        if getrandom::fill(&mut rand).is_err() {
            rand = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
                .to_le_bytes();
        }
        Session {
            key: id.key(),
            server_cfg: mcp.server(&id.name),
            mcp: mcp.clone(),
            requested_by: format!("mcp:{}", id.name),
            session: hex::encode(rand),
            source: Source::parse(&format!("mcp.{short}")).unwrap_or_else(|_| Source::other()),
            id,
            asked: HashMap::new(),
            own: HashMap::new(),
            own_count: 0,
            seen: Definitions::default(),
            initialized: false,
            whole: BTreeSet::new(),
            listed_now: BTreeSet::new(),
            flagged: HashMap::new(),
            instructions_flagged: Vec::new(),
            held: BTreeSet::new(),
            instructions_held: false,
            pin: None,
            warnings: Vec::new(),
        }
    }

    /// The server's identity.
    pub fn identity(&self) -> &ServerIdentity {
        &self.id
    }

    /// Whether anything is held (the transport then calls [`Session::tick`] now and then, so an
    /// approval made elsewhere shows).
    pub fn holding(&self) -> bool {
        !self.held.is_empty() || self.instructions_held
    }

    fn record(
        &mut self,
        env: &Env<'_>,
        action: &str,
        resource: String,
        outcome: &str,
        details: Value,
    ) -> bool {
        let Some(audit) = env.audit else {
            return true;
        };
        match audit.append(AuditEvent {
            event_type: EventType::Decision,
            actor: self.requested_by.clone(),
            action: action.into(),
            resource,
            outcome: outcome.into(),
            details,
        }) {
            Ok(_) => true,
            Err(e) => {
                self.warnings
                    .push(format!("the audit log refused a record: {e}"));
                false
            }
        }
    }

    // ------------------------------------------------------------------ client to server

    /// A message from the client.
    pub fn from_client(&mut self, env: &Env<'_>, line: &[u8]) -> Vec<Out> {
        let msg = match parse(line) {
            Ok(m) => m,
            Err((code, why)) => return vec![Out::ToClient(error(&readable_id(line), code, &why))],
        };
        let Value::Object(o) = &msg else {
            let why = if msg.is_array() {
                "bulwark: JSON-RPC batches are not supported (the MCP revisions since 2025-06-18 have none); send one message per line"
            } else {
                "bulwark: a JSON-RPC message is an object"
            };
            return vec![Out::ToClient(error(&Value::Null, INVALID_REQUEST, why))];
        };
        let method = o.get("method").and_then(Value::as_str).map(str::to_string);
        let id = o.get("id").cloned();
        match (method, id) {
            (Some(method), Some(id)) => self.client_request(env, msg.clone(), method, id),
            // A notification, or the client's answer to a server request: passed on, as
            // written again (what the server reads is what was judged: one line, no raw
            // control characters).
            _ => vec![Out::ToServer(msg.to_string())],
        }
    }

    fn client_request(&mut self, env: &Env<'_>, msg: Value, method: String, id: Value) -> Vec<Out> {
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
                .and_then(|n| self.hidden(env, ItemKind::Resource, n)),
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
    fn hidden(&mut self, env: &Env<'_>, kind: ItemKind, key: &str) -> Option<(i64, String)> {
        let k = (kind, key.to_string());
        if self.held.contains(&k) {
            // Perhaps approved meanwhile.
            self.reconcile(env);
        }
        if self.held.contains(&k) {
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

    /// Why item `key` of `kind` may not be used: it is not among the server's pinned items (a
    /// client lists before it uses).
    fn unpinned(&mut self, env: &Env<'_>, kind: ItemKind, key: &str) -> Option<(i64, String)> {
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
    fn judge_call(
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
        let arguments = match args {
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
        let d = env
            .policy
            .action
            .evaluate(&intent, env.probe)
            .map_err(|e| {
                (
                    INVALID_PARAMS,
                    format!("bulwark: the call of `{name}` cannot be judged: {e}"),
                )
            })?;
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
    /// trusted server) its annotations, else the defaults (verb `call`).
    fn mapping(&self, name: &str, def: &Value) -> (ToolMapping, bool) {
        if let Some(m) = self.server_cfg.tools.get(name) {
            return (m.clone(), true);
        }
        let mut m = ToolMapping::default();
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

    // ------------------------------------------------------------------ server to client

    /// A message from the server.
    pub fn from_server(&mut self, env: &Env<'_>, line: &[u8]) -> Vec<Out> {
        let msg = match parse(line) {
            Ok(m) => m,
            Err((_, why)) => {
                self.warnings
                    .push(format!("dropped a message from the server: {why}"));
                return Vec::new();
            }
        };
        let Value::Object(o) = &msg else {
            self.warnings.push("dropped a message from the server: not a JSON-RPC object (batches are not supported)".into());
            return Vec::new();
        };
        let method = o.get("method").and_then(Value::as_str).map(str::to_string);
        match (method, o.get("id").cloned()) {
            (Some(m), None) => self.server_notification(env, msg.clone(), &m),
            // A request of the server's own (sampling, elicitation, roots): the client answers.
            (Some(m), Some(id)) => self.server_request(env, msg.clone(), &m, &id),
            (None, Some(id)) => self.server_answer(env, msg, &id),
            (None, None) => {
                self.warnings.push("dropped a message from the server: neither a request, a notification nor an answer".into());
                Vec::new()
            }
        }
    }

    /// Guard the `params` of a server's own message; `Some` says why it may not reach the client.
    fn guard_params(&mut self, env: &Env<'_>, msg: &mut Value, what: &str) -> Option<String> {
        let params = msg.get_mut("params")?;
        let g = content::guard_value(
            env.policy,
            params,
            &self.source,
            self.mcp.results,
            self.mcp.redact_results,
        );
        self.judged(env, what, &g)
    }

    /// Record what guarding found; `Some` is the refusal when it blocks.
    fn judged(&mut self, env: &Env<'_>, what: &str, g: &content::Guarded) -> Option<String> {
        let outcome = g.outcome(self.mcp.results);
        if outcome != "allow" || !g.injection.is_empty() {
            self.record(
                env,
                "mcp.result",
                format!("mcp:{}/{what}", self.id.name),
                outcome,
                json!({
                    "injection": g.injection,
                    "score": g.score,
                    "redacted": g.redacted,
                    "sensitive": g.sensitive,
                }),
            );
        }
        (outcome == "block").then(|| {
            format!(
                "bulwark: what MCP server `{}` sent for `{what}` was withheld: it carries instructions to the model ({}). Set [mcp] results = \"annotate\" to pass such answers with a warning.",
                self.id.name,
                g.injection.join(", ")
            )
        })
    }

    /// A request of the server's own (sampling, elicitation): its text reaches the client's model
    /// or user, so it is guarded like an answer; a refused one is answered to the server.
    fn server_request(
        &mut self,
        env: &Env<'_>,
        mut msg: Value,
        method: &str,
        id: &Value,
    ) -> Vec<Out> {
        match self.guard_params(env, &mut msg, method) {
            Some(why) => vec![Out::ToServer(error(id, REFUSED, &why))],
            None => vec![Out::ToClient(msg.to_string())],
        }
    }

    fn server_notification(&mut self, env: &Env<'_>, mut msg: Value, method: &str) -> Vec<Out> {
        let Some(kind) = ItemKind::ALL
            .into_iter()
            .find(|k| k.changed_notification() == method)
        else {
            // Log messages, progress: guarded like answers; a refused one is dropped.
            if let Some(why) = self.guard_params(env, &mut msg, method) {
                self.warnings.push(why);
                return Vec::new();
            }
            return vec![Out::ToClient(msg.to_string())];
        };
        let now = env.clock.now_ms();
        // A re-check the server never answered is given up after a while.
        self.own
            .retain(|_, (_, at)| now.saturating_sub(*at) < RECHECK_WAIT_MS);
        if self.own.values().any(|(k, _)| *k == kind) {
            // A re-check of this list is under way and the client was told: a flood of
            // notifications reaches it as one per round trip.
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.initialized {
            // Re-check at once, whether or not the client lists again.
            self.own_count += 1;
            let id = format!("bulwark-recheck-{}-{}", self.session, self.own_count);
            self.own
                .insert(id_key(&Value::String(id.clone())), (kind, now));
            out.push(Out::ToServer(
                json!({"jsonrpc": "2.0", "id": id, "method": kind.list_method()}).to_string(),
            ));
        }
        out.push(Out::ToClient(msg.to_string()));
        out
    }

    fn server_answer(&mut self, env: &Env<'_>, mut msg: Value, id: &Value) -> Vec<Out> {
        let key = id_key(id);
        let has = |m: &Value, k: &str| m.get(k).is_some_and(|v| !v.is_null());
        let (is_result, is_error) = (has(&msg, "result"), has(&msg, "error"));
        if let Some((kind, _)) = self.own.remove(&key) {
            if is_result
                && !is_error
                && let Some(result) = msg.get_mut("result")
            {
                let before = self.held.clone();
                self.on_list(env, kind, result, false);
                // Held items that became visible (approved elsewhere) or hidden are announced.
                if self.held.iter().any(|h| h.0 == kind && !before.contains(h))
                    || before.iter().any(|h| h.0 == kind && !self.held.contains(h))
                {
                    return vec![Out::ToClient(
                        json!({"jsonrpc": "2.0", "method": kind.changed_notification()})
                            .to_string(),
                    )];
                }
            }
            return Vec::new();
        }
        let Some(asked) = self.asked.remove(&key) else {
            self.warnings.push(format!(
                "dropped an answer from the server to id {key}, which no request awaits"
            ));
            return Vec::new();
        };
        if is_result == is_error {
            return vec![Out::ToClient(error(
                &asked.id,
                INTERNAL_ERROR,
                "bulwark: the server's answer has not exactly one of `result` and `error`",
            ))];
        }
        if is_error {
            // An error's message and data reach the model as text too.
            let what = asked.tool.clone().unwrap_or_else(|| asked.method.clone());
            if let Some(e) = msg.get_mut("error") {
                let g = content::guard_value(
                    env.policy,
                    e,
                    &self.source,
                    self.mcp.results,
                    self.mcp.redact_results,
                );
                if let Some(why) = self.judged(env, &what, &g) {
                    return vec![Out::ToClient(error(&asked.id, REFUSED, &why))];
                }
            }
            return vec![Out::ToClient(clean(msg, "result"))];
        }
        let Some(result) = msg.get_mut("result") else {
            return Vec::new();
        };
        match asked.method.as_str() {
            "initialize" | "server/discover" => self.on_initialize(env, result),
            m if ItemKind::of_list(m).is_some() => {
                let kind = ItemKind::of_list(m).unwrap_or(ItemKind::Tool);
                self.on_list(env, kind, result, asked.paged);
            }
            "ping" => {}
            // Every other answer (tool results, prompts, resources, tasks, completions, what a
            // later revision adds) may reach the model.
            _ => {
                let what = asked.tool.clone().unwrap_or_else(|| asked.method.clone());
                let g = content::guard_value(
                    env.policy,
                    result,
                    &self.source,
                    self.mcp.results,
                    self.mcp.redact_results,
                );
                if let Some(why) = self.judged(env, &what, &g) {
                    return vec![Out::ToClient(error(&asked.id, REFUSED, &why))];
                }
            }
        }
        vec![Out::ToClient(clean(msg, "error"))]
    }

    fn on_initialize(&mut self, env: &Env<'_>, result: &mut Value) {
        self.initialized = true;
        let instructions = result
            .get("instructions")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.instructions_flagged = instructions
            .as_deref()
            .map(|t| content::text_findings(env.policy, t))
            .unwrap_or_default();
        self.seen.instructions = instructions;
        self.reconcile(env);
        if self.instructions_held
            && let Some(o) = result.as_object_mut()
        {
            o.remove("instructions");
        }
    }

    fn on_list(&mut self, env: &Env<'_>, kind: ItemKind, result: &mut Value, paged: bool) {
        // `""` ends a list as a missing cursor does (clients read it so).
        let ended = result
            .get("nextCursor")
            .is_none_or(|c| c.is_null() || c.as_str() == Some(""));
        let whole = !paged && ended;
        self.listed_now.insert(kind);
        let items = match result.get_mut(kind.result_key()) {
            Some(Value::Array(a)) => std::mem::take(a),
            _ => Vec::new(),
        };
        if whole {
            self.seen.items_mut(kind).clear();
            self.flagged.retain(|k, _| k.0 != kind);
            self.whole.insert(kind);
        }
        let forms: Vec<Option<(String, Value)>> = items
            .iter()
            .map(|i| super::pins::pinned_form(kind, i))
            .collect();
        // A name listed twice would be judged by one copy and shown as both: neither is shown.
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (k, _) in forms.iter().flatten() {
            *count.entry(k.as_str()).or_default() += 1;
        }
        let twice: BTreeSet<String> = count
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k.to_string())
            .collect();
        let mut bytes: usize = self
            .seen
            .items(kind)
            .values()
            .map(|v| super::pins::canonical(v).len())
            .sum();
        let mut shown = Vec::with_capacity(items.len());
        let mut dropped = 0usize;
        for (item, form) in items.into_iter().zip(forms) {
            let Some((key, form)) = form else {
                dropped += 1;
                continue;
            };
            if twice.contains(&key) {
                dropped += 1;
                continue;
            }
            let size = super::pins::canonical(&form).len();
            let known = self.seen.items(kind).contains_key(&key);
            if !known && (self.seen.items(kind).len() >= MAX_ITEMS || bytes + size > MAX_ITEM_BYTES)
            {
                dropped += 1;
                continue;
            }
            bytes += size;
            let rules = content::definition_findings(env.policy, &form);
            self.flagged.insert((kind, key.clone()), rules);
            self.seen.items_mut(kind).insert(key.clone(), form);
            shown.push((key, item));
        }
        if dropped > 0 {
            self.warnings.push(format!(
                "hid {dropped} {}s of the server's list: without a usable {}, listed twice, or past {MAX_ITEMS} items or {MAX_ITEM_BYTES} bytes",
                kind.as_str(),
                kind.key_field()
            ));
        }
        self.reconcile(env);
        let visible: Vec<Value> = shown
            .into_iter()
            .filter(|(k, _)| !self.held.contains(&(kind, k.clone())))
            .map(|(_, item)| item)
            .collect();
        if let Some(o) = result.as_object_mut() {
            o.insert(kind.result_key().into(), Value::Array(visible));
        }
    }

    /// The server is gone (exited, closed its output): every awaiting request gets an error.
    pub fn server_gone(&mut self, why: &str) -> Vec<Out> {
        self.fail_awaiting(&format!(
            "bulwark: the MCP server `{}` {why} before answering",
            self.id.name
        ))
    }

    /// A message over `[mcp] max_message_bytes` came from the server and was dropped: it cannot be
    /// matched to its request, so every awaiting request gets an error (none waits forever).
    pub fn server_oversized(&mut self) -> Vec<Out> {
        self.warnings.push(format!(
            "dropped a message from the server over [mcp] max_message_bytes ({} bytes)",
            self.mcp.max_message_bytes
        ));
        self.fail_awaiting(&format!(
            "bulwark: the MCP server `{}` sent a message over [mcp] max_message_bytes ({} bytes); it was dropped",
            self.id.name, self.mcp.max_message_bytes
        ))
    }

    /// A message over `[mcp] max_message_bytes` came from the client and was dropped.
    pub fn client_oversized(&mut self) -> Vec<Out> {
        vec![Out::ToClient(error(
            &Value::Null,
            INVALID_REQUEST,
            &format!(
                "bulwark: a message over [mcp] max_message_bytes ({} bytes) was dropped",
                self.mcp.max_message_bytes
            ),
        ))]
    }

    fn fail_awaiting(&mut self, why: &str) -> Vec<Out> {
        self.own.clear();
        let mut out: Vec<Asked> = self.asked.drain().map(|(_, a)| a).collect();
        out.sort_by_key(|a| a.id.to_string());
        out.into_iter()
            .map(|a| Out::ToClient(error(&a.id, INTERNAL_ERROR, why)))
            .collect()
    }

    /// Called now and then while [`Session::holding`]: an approval made elsewhere takes effect,
    /// and the client is told its lists changed.
    pub fn tick(&mut self, env: &Env<'_>) -> Vec<Out> {
        let before = self.held.clone();
        self.reconcile(env);
        ItemKind::ALL
            .into_iter()
            .filter(|k| before.iter().any(|h| h.0 == *k && !self.held.contains(h)))
            .map(|k| {
                Out::ToClient(
                    json!({"jsonrpc": "2.0", "method": k.changed_notification()}).to_string(),
                )
            })
            .collect()
    }
}

fn withheld(name: &str, summary: &str, approval: &str, digest: &str) -> String {
    format!(
        "bulwark: the call `{name}` ({summary}) needs approval before it runs; it was not run. Approval {approval} (intent digest sha256:{digest}) is pending: once an approver runs `bulwark approvals approve {approval} --digest sha256:{digest} --as APPROVER`, make the same call again and it passes once."
    )
}

/// An answer without a `null` member of the kind it is not (`"error": null` beside a result).
fn clean(mut msg: Value, other: &str) -> String {
    if let Some(o) = msg.as_object_mut() {
        o.remove(other);
    }
    msg.to_string()
}

/// The `id` of a request that cannot be judged, when one can be read (so the client's request
/// ends with the refusal, not at its own timeout).
fn readable_id(line: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(line.trim_ascii()) {
        Ok(Value::Object(o)) => o
            .get("id")
            .filter(|i| i.is_string() || i.is_i64() || i.is_u64())
            .cloned()
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Parse one message: JSON, every key once (a key given twice reads one way here and another
/// way in the peer).
fn parse(line: &[u8]) -> Result<Value, (i64, String)> {
    let line = line.trim_ascii();
    crate::json::check_unique_keys(line).map_err(|e| {
        (
            INVALID_REQUEST,
            format!("bulwark: the message cannot be judged ({e})"),
        )
    })?;
    serde_json::from_slice(line).map_err(|e| {
        (
            PARSE_ERROR,
            format!("bulwark: the message is not JSON ({e})"),
        )
    })
}
