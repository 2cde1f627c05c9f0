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

mod answers;
mod calls;
mod pinning;
mod taint;

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use super::cfg::{McpConfig, McpServerConfig};
use super::pins::{Definitions, ItemKind, PinStore, ServerPin};
use crate::Policy;
use crate::action::PathProbe;
use crate::approval::{Approvals, Clock};
use crate::audit::{AuditEvent, AuditSink, EventType};
use crate::provenance::{HandoffStore, Provenance};
use crate::scan::injection::Source;

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
/// Most bytes of result text, and most results, a session keeps to trace copies (past them,
/// results taint by their label alone).
const CONTEXT_BYTES: usize = 128 * 1024;
const CONTEXT_PIECES: usize = 256;

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
    /// Calls the model gateway passed, judged in their conversation (`None`: none are shared).
    pub handoffs: Option<&'a dyn HandoffStore>,
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
    /// A random tag in the ids of Bulwark's own requests.
    own_tag: String,
    /// What the server showed, in pinned form.
    seen: Definitions,
    /// Whether `initialize` was answered (its `instructions` are in `seen`).
    initialized: bool,
    /// Whether the server takes requests (the handshake is done): Bulwark may send its own.
    handshaken: bool,
    /// Kinds whose whole list was seen (removals count only then).
    whole: BTreeSet<ItemKind>,
    /// Kinds of which a list (a page) was seen.
    listed_now: BTreeSet<ItemKind>,
    /// When the server's last list was read (ms since the epoch).
    listed_ms: u64,

    /// The scan's rules per seen item.
    flagged: HashMap<(ItemKind, String), Vec<String>>,
    instructions_flagged: Vec<String>,
    /// Seen items that are not shown: added, changed or flagged, until approved.
    held: BTreeSet<(ItemKind, String)>,
    instructions_held: bool,
    pin: Option<ServerPin>,
    /// What this session's server gave the client's model (`[mcp] provenance`): every result
    /// from a server whose tools `[action.provenance] trusted_tools` does not name. Shared by
    /// the sessions of one client where each message is a session of its own (HTTP without a
    /// session id).
    context: SharedContext,
    /// The agents' tokens whose model-gateway judgements this session takes.
    handoffs_from: Vec<String>,
    /// Problems for the operator (printed on stderr by the transport).
    pub warnings: Vec<String>,
}

fn id_key(id: &Value) -> String {
    id.to_string()
}

/// A session's provenance context, shareable between sessions of one client.
pub type SharedContext = std::sync::Arc<std::sync::Mutex<Provenance>>;

/// An empty context, bounded as a session's is.
pub fn new_context() -> SharedContext {
    std::sync::Arc::new(std::sync::Mutex::new(Provenance::with_limit(
        CONTEXT_BYTES,
        CONTEXT_PIECES,
    )))
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
        let server_cfg = mcp.server(&id.name);
        Session {
            key: id.key(),
            handoffs_from: server_cfg.handoffs_from.clone(),
            server_cfg,
            mcp: mcp.clone(),
            requested_by: format!("mcp:{}", id.name),
            session: hex::encode(rand),
            source: Source::parse(&format!("mcp.{short}")).unwrap_or_else(|_| Source::other()),
            id,
            asked: HashMap::new(),
            own: HashMap::new(),
            own_count: 0,
            own_tag: hex::encode(rand),
            seen: Definitions::default(),
            initialized: false,
            handshaken: false,
            whole: BTreeSet::new(),
            listed_now: BTreeSet::new(),
            listed_ms: 0,
            flagged: HashMap::new(),
            instructions_flagged: Vec::new(),
            held: BTreeSet::new(),
            instructions_held: false,
            pin: None,
            context: new_context(),
            warnings: Vec::new(),
        }
    }

    /// Name what approvals of calls hold for (the intents' `source.session`; by default this
    /// session, which is new each run of the wrapper): over HTTP, the client's session or token,
    /// so a call approved after review passes when the client sends it again.
    pub fn set_scope(&mut self, scope: &str) {
        self.session = scope.chars().take(200).collect();
    }

    /// Keep what the server gives the client in `context`, shared with the client's other
    /// sessions of this server (over HTTP without a session id, each message is a session).
    pub fn share_context(&mut self, context: SharedContext) {
        self.context = context;
    }

    /// Take the model gateway's judgements of calls proposed to `token` too (over HTTP: the
    /// client's own token, whose agent may use both gateways).
    pub fn take_handoffs_from(&mut self, token: &str) {
        if !self.handoffs_from.iter().any(|t| t == token) {
            self.handoffs_from.push(token.to_string());
        }
    }

    /// Read the server's pin again at its next use (over HTTP, where another session of the
    /// same server may have held a change since this one loaded it).
    pub fn reload_pin(&mut self) {
        self.pin = None;
    }

    /// The handshake happened before this session began (an HTTP message with a session id, or
    /// the per-request revision): Bulwark may send the server requests of its own.
    pub fn past_handshake(&mut self) {
        self.handshaken = true;
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
            // A request without an id would run unjudged at a lenient server.
            (Some(method), None) if !method.starts_with("notifications/") => {
                vec![Out::ToClient(error(
                    &Value::Null,
                    INVALID_REQUEST,
                    &format!(
                        "bulwark: `{method}` without an id is neither a request Bulwark can judge nor a notification; give it an id"
                    ),
                ))]
            }
            // A notification, or the client's answer to a server request: passed on, as
            // written again (what the server reads is what was judged: one line, no raw
            // control characters).
            _ => vec![Out::ToServer(msg.to_string())],
        }
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

    /// The request `id` will get no answer (its HTTP exchange ended without one): it stops
    /// awaiting, with this error for the client.
    pub fn fail(&mut self, id: &Value, why: &str) -> Option<String> {
        self.asked
            .remove(&id_key(id))
            .map(|a| error(&a.id, INTERNAL_ERROR, why))
    }

    /// Whether the request `id` still awaits the server's answer.
    pub fn awaits(&self, id: &Value) -> bool {
        self.asked.contains_key(&id_key(id))
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
