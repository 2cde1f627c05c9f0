//! The MCP gateway's Streamable HTTP transport: `/mcp/{name}` on the sidecar, in front of the
//! server `[mcp.servers.NAME] url` names. The decisions are core's `mcp::Session`, as for
//! `bulwark mcp wrap`: every message the client posts goes through it before the server sees it,
//! and every message of the server's answer (one JSON body, or each event of a stream) before the
//! client does.
//!
//! Threat answered, beyond the session's: a client whose HTTP headers say one thing and whose body
//! another. A gateway or load balancer that routes on `Mcp-Method` and `Mcp-Name` would act on
//! the headers while the server acts on the body: a header that names another method or tool than
//! the body is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bulwark_core::approval::{Approvals, Clock, SystemClock};
use bulwark_core::audit::AuditSink;
use bulwark_core::mcp::session::{
    INTERNAL_ERROR, INVALID_REQUEST, SharedContext, error, new_context,
};
use bulwark_core::mcp::{Env, Out, ServerIdentity, Session};
use http_body_util::{BodyExt, Full};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::api::Shared;
use crate::gateway::client;
use crate::gateway::sse::{ChannelBody, Events};

/// How long a server has to answer a message (its head; then, in a stream, between two events).
const TIMEOUT: Duration = Duration::from_secs(300);
/// How long a message Bulwark sends on its own (a re-check) waits for the server.
const FOLLOWUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Sessions kept at once (by token, server and `Mcp-Session-Id`); past it the least recently used
/// is forgotten.
const MAX_SESSIONS: usize = 1024;
/// A session unused this long is forgotten.
const IDLE: Duration = Duration::from_secs(3600);
/// Headers passed on to the server, as the client sent them.
const PASSED: &[&str] = &["mcp-session-id", "mcp-protocol-version", "last-event-id"];

/// One server with a URL, compiled with its key.
#[derive(Clone)]
pub(crate) struct McpUpstream {
    url: url::Url,
    key: Option<SecretString>,
}

/// `[mcp.servers.NAME]` with a `url`, by name.
#[derive(Default)]
pub(crate) struct McpUpstreams(HashMap<String, McpUpstream>);

impl McpUpstreams {
    /// Compile the servers with a URL; `secret` resolves an `api_key` (named by its key path).
    pub(crate) fn compile(
        cfg: &bulwark_core::mcp::McpConfig,
        secret: &crate::gateway::SecretOf<'_>,
    ) -> Result<McpUpstreams, String> {
        let mut out = HashMap::new();
        for (name, s) in &cfg.servers {
            if let Some(url) = &s.url {
                let key = secret(&format!("mcp.servers.{name}.api_key"), &s.api_key)?;
                out.insert(
                    name.clone(),
                    McpUpstream {
                        url: url.clone(),
                        key,
                    },
                );
            }
        }
        Ok(McpUpstreams(out))
    }
}

type Key = (String, String, String);

/// A session and when it was last used.
type Kept = (Arc<Mutex<Session>>, Instant);

/// The sessions of the HTTP transport, kept across reloads: Bulwark's state of each, and the
/// token each server session id was given to.
#[derive(Default)]
pub(crate) struct McpSessions(
    Mutex<HashMap<Key, Kept>>,
    Mutex<HashMap<(String, String), (String, Instant)>>,
    Mutex<HashMap<(String, bulwark_core::mcp::ItemKind), Instant>>,
    /// The provenance context of a token's messages to a server, whatever their session (what
    /// the server gave the client taints its later calls).
    Mutex<HashMap<(String, String), (SharedContext, Instant)>>,
    /// The server streams (GET) each token has open.
    Mutex<HashMap<String, usize>>,
);

/// Sessions one token may keep at once: past it, its own least recently used is forgotten, not
/// another token's.
const SESSIONS_PER_TOKEN: usize = 256;
/// Server streams (GET) one token may hold open at once.
const STREAMS_PER_TOKEN: usize = 8;

/// One open server stream of a token, counted until it ends.
pub(crate) struct StreamSlot {
    state: Shared,
    token: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self
            .state
            .mcp_sessions
            .4
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.token);
            }
        }
    }
}

impl McpSessions {
    /// A slot for one more server stream of `token`, unless it holds [`STREAMS_PER_TOKEN`].
    fn open_stream(state: &Shared, token: &str) -> Option<StreamSlot> {
        let mut open = state
            .mcp_sessions
            .4
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let n = open.entry(token.to_string()).or_default();
        if *n >= STREAMS_PER_TOKEN {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            state: state.clone(),
            token: token.to_string(),
        })
    }

    /// The provenance context of `token`'s messages to `server`, whatever their session.
    fn context(&self, token: &str, server: &str) -> SharedContext {
        let mut map = self.3.lock().unwrap_or_else(|p| p.into_inner());
        kept(
            &mut map,
            (token.to_string(), server.to_string()),
            new_context,
        )
    }

    /// Whether `server`'s list of `kind` is due for a re-check before use (and now it is not).
    fn due(&self, server: &str, kind: bulwark_core::mcp::ItemKind, every: Duration) -> bool {
        let mut checked = self.2.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let key = (server.to_string(), kind);
        match checked.get(&key) {
            Some(at) if now.duration_since(*at) < every => false,
            _ => {
                if checked.len() >= MAX_SESSIONS {
                    checked.clear();
                }
                checked.insert(key, now);
                true
            }
        }
    }

    /// The server gave session `id` to `token`.
    fn own(&self, server: &str, id: &str, token: &str) {
        let mut owners = self.1.lock().unwrap_or_else(|p| p.into_inner());
        let key = (server.to_string(), id.to_string());
        // Full: a token's own oldest grant is forgotten first, then the oldest of all (never all
        // of them, which would let any token use any session id it knows).
        if !owners.contains_key(&key) {
            let theirs = owners.values().filter(|(t, _)| t == token).count();
            let oldest = if theirs >= MAX_SESSIONS {
                owners
                    .iter()
                    .filter(|(_, (t, _))| t == token)
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            } else if owners.len() >= 4 * MAX_SESSIONS {
                owners
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            } else {
                None
            };
            if let Some(oldest) = oldest {
                owners.remove(&oldest);
            }
        }
        owners
            .entry(key)
            .or_insert_with(|| (token.to_string(), Instant::now()));
    }

    /// Whether `token` may use the server's session `id`: the session it was given, or one this
    /// sidecar has not seen given (it started after, or forgot).
    fn may_use(&self, server: &str, id: &str, token: &str) -> bool {
        self.1
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(server.to_string(), id.to_string()))
            .is_none_or(|(owner, _)| owner == token)
    }

    fn get(&self, key: Key, make: impl FnOnce() -> Session) -> Arc<Mutex<Session>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(&key) {
            let theirs: Vec<(&Key, &Instant)> = map
                .iter()
                .filter(|(k, _)| k.0 == key.0)
                .map(|(k, (_, at))| (k, at))
                .collect();
            if theirs.len() >= SESSIONS_PER_TOKEN
                && let Some(oldest) = theirs
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| (*k).clone())
            {
                map.remove(&oldest);
            }
        }
        kept(&mut map, key, || Arc::new(Mutex::new(make())))
    }

    fn forget(&self, key: &Key) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// The value kept under `key` (made when there is none), marked used now: values unused for
/// [`IDLE`] are forgotten, and past [`MAX_SESSIONS`] the least recently used.
fn kept<K: Clone + Eq + std::hash::Hash, V: Clone>(
    map: &mut HashMap<K, (V, Instant)>,
    key: K,
    make: impl FnOnce() -> V,
) -> V {
    let now = Instant::now();
    map.retain(|_, (_, used)| now.duration_since(*used) < IDLE);
    if let Some((v, used)) = map.get_mut(&key) {
        *used = now;
        return v.clone();
    }
    if map.len() >= MAX_SESSIONS
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(k, _)| k.clone())
    {
        map.remove(&oldest);
    }
    let v = make();
    map.insert(key, (v.clone(), now));
    v
}

fn json_rpc(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Run one step of `session` off the async workers, with the stores, the audit log and the policy
/// in force.
async fn step(
    state: &Shared,
    session: &Arc<Mutex<Session>>,
    f: impl FnOnce(&mut Session, &Env<'_>) -> Vec<Out> + Send + 'static,
) -> Vec<Out> {
    let (state, session) = (state.clone(), session.clone());
    let done = tokio::task::spawn_blocking(move || {
        let c = state.c();
        let approvers = state
            .approvers()
            .unwrap_or_else(|_| bulwark_core::approval::Approvers::from_config(&c.cfg.approval));
        let approvals = Approvals::new(
            &*state.db,
            state.audit.as_ref().map(|a| a as &dyn AuditSink),
            approvers,
            c.cfg.approval.ttl_secs,
            &SystemClock,
        );
        let env = Env {
            policy: &c.policy,
            pins: &*state.db,
            approvals: &approvals,
            audit: state.audit.as_ref().map(|a| a as &dyn AuditSink),
            probe: &bulwark_store::fs::OsPaths,
            clock: &SystemClock,
            handoffs: Some(&*state.db),
        };
        let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut s, &env);
        let server = s.identity().name.clone();
        for w in s.warnings.drain(..) {
            tracing::warn!("mcp {server}: {w}");
        }
        out
    })
    .await;
    done.unwrap_or_default()
}

/// A header's value as visible ASCII; `Err` says what is wrong with it.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, String> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| format!("bulwark: the {name} header is not visible ASCII")),
    }
}

/// Why the headers and the body disagree, if they do.
fn header_mismatch(headers: &HeaderMap, body: &Value) -> Result<(), String> {
    let method = body.get("method").and_then(Value::as_str);
    if let Some(h) = header_text(headers, "mcp-method")?
        && Some(h) != method
    {
        return Err(format!(
            "bulwark: the Mcp-Method header says {h:?} but the body's method is {:?}",
            method.unwrap_or("")
        ));
    }
    if let Some(h) = header_text(headers, "mcp-name")? {
        let params = body.get("params");
        let named = match method {
            Some("resources/read") => params.and_then(|p| p.get("uri")),
            _ => params.and_then(|p| p.get("name")),
        }
        .and_then(Value::as_str);
        if named != Some(h) {
            return Err(format!(
                "bulwark: the Mcp-Name header says {h:?} but the body names {:?}",
                named.unwrap_or("")
            ));
        }
    }
    Ok(())
}

/// A request to the server: the client's MCP headers, Bulwark's credential, never the client's.
fn upstream_request(
    up: &McpUpstream,
    headers: &HeaderMap,
    m: Method,
    body: Bytes,
) -> Result<hyper::Request<Full<Bytes>>, String> {
    let target = match up.url.query() {
        Some(q) => format!("{}?{q}", up.url.path()),
        None => up.url.path().to_string(),
    };
    let mut req = hyper::Request::builder()
        .method(m)
        .uri(target)
        .header(header::ACCEPT, "application/json, text/event-stream");
    if let Some(h) = up.url.host_str() {
        let host = match up.url.port() {
            Some(p) => format!("{h}:{p}"),
            None => h.to_string(),
        };
        req = req.header(header::HOST, host);
    }
    for h in PASSED {
        if let Some(v) = headers.get(*h) {
            req = req.header(*h, v.clone());
        }
    }
    if let Some(k) = &up.key {
        req = req.header(
            header::AUTHORIZATION,
            format!("Bearer {}", k.expose_secret()),
        );
    }
    if !body.is_empty() {
        req = req.header(header::CONTENT_TYPE, "application/json");
        // `Mcp-Method` and `Mcp-Name` say what this body is (the client's were checked against
        // its own; a message of Bulwark's gets its own).
        if let Ok(v) = serde_json::from_slice::<Value>(&body)
            && let Some(m) = v.get("method").and_then(Value::as_str)
        {
            let params = v.get("params");
            let named = match m {
                "tools/call" | "prompts/get" => params.and_then(|p| p.get("name")),
                "resources/read" => params.and_then(|p| p.get("uri")),
                _ => None,
            }
            .and_then(Value::as_str);
            if let Ok(hv) = HeaderValue::from_str(m) {
                req = req.header("mcp-method", hv);
            }
            if let Some(hv) = named.and_then(|n| HeaderValue::from_str(n).ok()) {
                req = req.header("mcp-name", hv);
            }
        }
    }
    req.body(Full::new(body)).map_err(|e| e.to_string())
}

fn refused(status: StatusCode, id: &Value, code: i64, why: &str) -> Response {
    json_rpc(status, error(id, code, why))
}

/// `/mcp/{name}`: one message from the client (POST), the stream a server sends on its own in a
/// session (GET: its notifications and requests, each through the session), the end of a session
/// (DELETE).
pub(crate) async fn handle(
    state: &Shared,
    token: &str,
    name: &str,
    method: Method,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let c = state.c();
    let Some(up) = c.mcp.0.get(name) else {
        return refused(
            StatusCode::NOT_FOUND,
            &Value::Null,
            INVALID_REQUEST,
            &format!("bulwark: no MCP server `{name}` with a url: set [mcp.servers.{name}] url"),
        );
    };
    let session_id = match header_text(headers, "mcp-session-id") {
        Ok(Some(id)) if id.len() > 256 => {
            return refused(
                StatusCode::BAD_REQUEST,
                &Value::Null,
                INVALID_REQUEST,
                "bulwark: the Mcp-Session-Id header is longer than 256 characters",
            );
        }
        Ok(id) => id.map(str::to_string),
        Err(why) => return refused(StatusCode::BAD_REQUEST, &Value::Null, INVALID_REQUEST, &why),
    };
    // A session the server gave another token is not this one's to use or end.
    if let Some(id) = &session_id
        && !state.mcp_sessions.may_use(name, id, token)
    {
        return refused(
            StatusCode::NOT_FOUND,
            &Value::Null,
            INVALID_REQUEST,
            "bulwark: no such session for this token",
        );
    }
    match method {
        Method::POST => {}
        // The server's own stream belongs to a session: without one there is nothing to guard
        // it with, and no server sends on it.
        Method::GET if session_id.is_none() => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, HeaderValue::from_static("POST, DELETE"))],
            )
                .into_response();
        }
        Method::GET => {}
        Method::DELETE => {
            if let Some(id) = &session_id {
                state
                    .mcp_sessions
                    .forget(&(token.to_string(), name.to_string(), id.clone()));
            }
            let Ok(req) = upstream_request(up, headers, Method::DELETE, Bytes::new()) else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            return match client::send(&up.url, req, TIMEOUT).await {
                Ok(r) => r.status().into_response(),
                Err(e) => refused(
                    StatusCode::BAD_GATEWAY,
                    &Value::Null,
                    INTERNAL_ERROR,
                    &format!("bulwark: {e}"),
                ),
            };
        }
        _ => {
            return (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, HeaderValue::from_static("POST, DELETE"))],
            )
                .into_response();
        }
    }
    let body = match body {
        Ok(b) if method == Method::GET => {
            if !b.is_empty() {
                return refused(
                    StatusCode::BAD_REQUEST,
                    &Value::Null,
                    INVALID_REQUEST,
                    "bulwark: a GET opens the server's stream and carries no message",
                );
            }
            b
        }
        Ok(b) => b,
        Err(e) => {
            return refused(
                e.status(),
                &Value::Null,
                INVALID_REQUEST,
                &format!(
                    "bulwark: the message could not be read ({}); [mcp] max_message_bytes is {}",
                    e.body_text(),
                    c.cfg.mcp.max_message_bytes
                ),
            );
        }
    };
    // Read once here for what the transport needs (the id, the headers' check, the method); the
    // session reads the message for itself.
    let (id, used) = match serde_json::from_slice::<Value>(&body) {
        Ok(v) => {
            let id = v.get("id").cloned().unwrap_or(Value::Null);
            if let Err(why) = header_mismatch(headers, &v) {
                return refused(StatusCode::BAD_REQUEST, &id, INVALID_REQUEST, &why);
            }
            let used = match v.get("method").and_then(Value::as_str) {
                Some("tools/call") => Some(bulwark_core::mcp::ItemKind::Tool),
                Some("prompts/get") => Some(bulwark_core::mcp::ItemKind::Prompt),
                Some("resources/read") => Some(bulwark_core::mcp::ItemKind::ResourceTemplate),
                _ => None,
            };
            (id, used)
        }
        Err(_) => (Value::Null, None),
    };
    // Without a session id each message is a session of its own (what is held is read from the
    // pins, not from what another client listed); with one, the session is the token's.
    // Touched by every message, so a context in use is never forgotten as idle.
    let context = state.mcp_sessions.context(token, name);
    let make = || {
        let mut s = Session::new(ServerIdentity::http(name, &up.url), &c.cfg.mcp);
        // Over HTTP every message but the handshake's own comes after it.
        s.past_handshake();
        // An approval of a call holds for the client's session, or for the token when it has
        // none (each of its messages is a session of its own).
        s.set_scope(&match &session_id {
            Some(sid) => format!("http:{token}:{sid}"),
            None => format!("http:{token}"),
        });
        // What the server gave the client taints its later calls, session or not, and a session
        // forgotten (idle, or pushed out by other sessions) does not forget it: one context per
        // token and server.
        s.share_context(context.clone());
        s.take_handoffs_from(token);
        s
    };
    let session = match &session_id {
        Some(sid) => state
            .mcp_sessions
            .get((token.to_string(), name.to_string(), sid.clone()), make),
        None => Arc::new(Mutex::new(make())),
    };
    // Bulwark's own requests carry the session's headers, not the client's stream position.
    let mut own_headers = headers.clone();
    own_headers.remove("last-event-id");
    let followup = Followup {
        up: up.clone(),
        headers: own_headers,
    };
    if method == Method::GET {
        let Some(slot) = McpSessions::open_stream(state, token) else {
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                &Value::Null,
                INVALID_REQUEST,
                &format!(
                    "bulwark: this token holds {STREAMS_PER_TOKEN} server streams open already; close one first"
                ),
            );
        };
        return server_stream(state, up, headers, session, followup, slot).await;
    }
    // Before an item is used, what the server lists is read again when it is older than
    // `[mcp] http_recheck_secs`: a definition changed since is held before the call is judged.
    if let Some(kind) = used
        && state
            .mcp_sessions
            .due(name, kind, Duration::from_secs(c.cfg.mcp.http_recheck_secs))
    {
        let now = SystemClock.now_ms();
        let outs = step(state, &session, move |s, _| vec![s.recheck(kind, now)]).await;
        for o in outs {
            if let Out::ToServer(m) = o {
                followup.send(state, &session, m).await;
            }
        }
    }
    let line = body.to_vec();
    let outs = step(state, &session, move |s, env| {
        // Another session of this server may have held a change since this one read the pin.
        if used.is_some() {
            s.reload_pin();
        }
        s.from_client(env, &line)
    })
    .await;
    let forward = match outs.into_iter().next() {
        Some(Out::ToServer(m)) => m,
        Some(Out::ToClient(m)) => return json_rpc(StatusCode::OK, m),
        None => return StatusCode::ACCEPTED.into_response(),
    };
    let req = match upstream_request(up, headers, Method::POST, Bytes::from(forward)) {
        Ok(r) => r,
        Err(e) => return refused(StatusCode::BAD_GATEWAY, &id, INTERNAL_ERROR, &e),
    };
    let resp = match client::send(&up.url, req, TIMEOUT).await {
        Ok(r) => r,
        Err(e) => {
            let why = format!("bulwark: the MCP server `{name}` could not be reached ({e})");
            return unanswered(&session, &id, StatusCode::BAD_GATEWAY, why).await;
        }
    };
    let status = resp.status();
    let session_header = resp.headers().get("mcp-session-id").cloned();
    if let Some(sid) = session_header.as_ref().and_then(|v| v.to_str().ok()) {
        state.mcp_sessions.own(name, sid, token);
    }
    let is_sse = crate::gateway::sse::is_event_stream(resp.headers());
    let mut answer = if is_sse {
        relay_stream(state, session, resp.into_body(), id, followup, None)
    } else {
        let limit = c.cfg.mcp.max_message_bytes;
        let body = tokio::time::timeout(
            TIMEOUT,
            http_body_util::Limited::new(resp.into_body(), limit).collect(),
        )
        .await;
        let body = match body {
            Ok(Ok(b)) => b.to_bytes(),
            _ => {
                let why = format!(
                    "bulwark: the MCP server `{name}` sent no usable answer (over [mcp] max_message_bytes, cut off, or too slow)"
                );
                return unanswered(&session, &id, StatusCode::BAD_GATEWAY, why).await;
            }
        };
        let line = body.to_vec();
        let outs = if body.is_empty() {
            Vec::new()
        } else {
            step(state, &session, move |s, env| s.from_server(env, &line)).await
        };
        let mut reply = None;
        for o in outs {
            match o {
                Out::ToClient(m) if reply.is_none() => reply = Some(m),
                Out::ToClient(_) => {}
                Out::ToServer(m) => followup.send(state, &session, m).await,
            }
        }
        match reply {
            Some(m) => json_rpc(status, m),
            None if state_awaits(&session, &id) => {
                let why = format!(
                    "bulwark: the MCP server `{name}` answered HTTP {} without an answer to this request",
                    status.as_u16()
                );
                return unanswered(&session, &id, StatusCode::BAD_GATEWAY, why).await;
            }
            None => status.into_response(),
        }
    };
    if let Some(v) = session_header {
        answer.headers_mut().insert("mcp-session-id", v);
    }
    answer
}

/// GET: the server's own stream in a session, relayed event by event through the session (a
/// `list_changed` on it re-checks the list before the client hears of it; what the server sends
/// is guarded as any answer). A server that offers none answers 405, passed on.
async fn server_stream(
    state: &Shared,
    up: &McpUpstream,
    headers: &HeaderMap,
    session: Arc<Mutex<Session>>,
    followup: Followup,
    slot: StreamSlot,
) -> Response {
    let req = match upstream_request(up, headers, Method::GET, Bytes::new()) {
        Ok(r) => r,
        Err(e) => return refused(StatusCode::BAD_GATEWAY, &Value::Null, INTERNAL_ERROR, &e),
    };
    let resp = match client::send(&up.url, req, TIMEOUT).await {
        Ok(r) => r,
        Err(e) => {
            return refused(
                StatusCode::BAD_GATEWAY,
                &Value::Null,
                INTERNAL_ERROR,
                &format!("bulwark: the MCP server could not be reached ({e})"),
            );
        }
    };
    let is_sse = crate::gateway::sse::is_event_stream(resp.headers());
    if !resp.status().is_success() || !is_sse {
        // 405 (no stream offered), 404 (the session ended), ...: the status alone, no body the
        // session has not read.
        let status = if resp.status().is_success() {
            StatusCode::BAD_GATEWAY
        } else {
            resp.status()
        };
        return status.into_response();
    }
    relay_stream(
        state,
        session,
        resp.into_body(),
        Value::Null,
        followup,
        Some(slot),
    )
}

fn state_awaits(session: &Arc<Mutex<Session>>, id: &Value) -> bool {
    !id.is_null() && session.lock().unwrap_or_else(|p| p.into_inner()).awaits(id)
}

/// The request `id` got no answer from the server: it stops awaiting one, and the client gets an
/// error saying why.
async fn unanswered(
    session: &Arc<Mutex<Session>>,
    id: &Value,
    status: StatusCode,
    why: String,
) -> Response {
    let id2 = id.clone();
    let failed = {
        let why = why.clone();
        let session = session.clone();
        tokio::task::spawn_blocking(move || {
            session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .fail(&id2, &why)
        })
        .await
        .ok()
        .flatten()
    };
    json_rpc(
        status,
        failed.unwrap_or_else(|| error(id, INTERNAL_ERROR, &why)),
    )
}

/// Where messages the session sends to the server on its own go (a re-check of a list after
/// `list_changed`, the refusal of a server's request): a request of their own, whose answer goes
/// through the session and reaches no client.
#[derive(Clone)]
struct Followup {
    up: McpUpstream,
    headers: HeaderMap,
}

impl Followup {
    /// Send it and take its answer through the session before the exchange goes on (so a
    /// re-check of a list is done before the client's next message can use what it lists).
    async fn send(&self, state: &Shared, session: &Arc<Mutex<Session>>, message: String) {
        let Ok(req) = upstream_request(&self.up, &self.headers, Method::POST, Bytes::from(message))
        else {
            return;
        };
        let Ok(resp) = client::send(&self.up.url, req, FOLLOWUP_TIMEOUT).await else {
            return;
        };
        let is_sse = crate::gateway::sse::is_event_stream(resp.headers());
        let limit = state.c().cfg.mcp.max_message_bytes;
        let Ok(Ok(body)) = tokio::time::timeout(
            FOLLOWUP_TIMEOUT,
            http_body_util::Limited::new(resp.into_body(), limit).collect(),
        )
        .await
        else {
            return;
        };
        let body = body.to_bytes();
        // One JSON answer, or the data of each event of a stream.
        let mut lines = Vec::new();
        if !is_sse {
            lines.push(body.to_vec());
        } else {
            let mut events = Events::default();
            lines.extend(events.push(&body).into_iter().map(|e| e.data.into_bytes()));
            lines.extend(events.finish().map(|e| e.data.into_bytes()));
        }
        for line in lines {
            // What it says to send on is dropped: a follow-up does not start another.
            step(state, session, move |s, env| s.from_server(env, &line)).await;
        }
    }
}

/// The server's event stream, each event's message through the session on its way.
fn relay_stream(
    state: &Shared,
    session: Arc<Mutex<Session>>,
    mut upstream: hyper::body::Incoming,
    id: Value,
    followup: Followup,
    slot: Option<StreamSlot>,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let state = state.clone();
    let limit = state.c().cfg.mcp.max_message_bytes;
    tokio::spawn(async move {
        // Counted while the relay runs.
        let _slot = slot;
        let mut events = Events::default();
        loop {
            let next = tokio::select! {
                _ = tx.closed() => return,
                next = tokio::time::timeout(TIMEOUT, upstream.frame()) => next,
            };
            let chunk = match next {
                Ok(Some(Ok(f))) => match f.into_data() {
                    Ok(d) => d,
                    Err(_) => continue,
                },
                Ok(None) => break,
                _ => {
                    break;
                }
            };
            for ev in events.push(&chunk) {
                let line = ev.data.into_bytes();
                let outs = step(&state, &session, move |s, env| s.from_server(env, &line)).await;
                if !send_events(&tx, outs, &state, &session, &followup).await {
                    return;
                }
            }
            if events.pending() > limit {
                break;
            }
        }
        if events.pending() <= limit
            && let Some(ev) = events.finish()
        {
            let line = ev.data.into_bytes();
            let outs = step(&state, &session, move |s, env| s.from_server(env, &line)).await;
            send_events(&tx, outs, &state, &session, &followup).await;
        }
        // The stream ended (or broke off, or grew past the limit) without this request's answer:
        // it stops awaiting one, and the client is told.
        if state_awaits(&session, &id) {
            let id2 = id.clone();
            let failed = step(&state, &session, move |s, _| {
                s.fail(&id2, "bulwark: the MCP server's stream ended without an answer (cut off, or an event over [mcp] max_message_bytes)")
                    .map(Out::ToClient)
                    .into_iter()
                    .collect()
            })
            .await;
            send_events(&tx, failed, &state, &session, &followup).await;
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::new(ChannelBody(rx)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Send the messages for the client as events, and those for the server as follow-ups; `false`
/// when the client went away.
async fn send_events(
    tx: &tokio::sync::mpsc::Sender<Bytes>,
    outs: Vec<Out>,
    state: &Shared,
    session: &Arc<Mutex<Session>>,
    followup: &Followup,
) -> bool {
    for o in outs {
        match o {
            Out::ToClient(m) => {
                if tx
                    .send(Bytes::from(format!("event: message\ndata: {m}\n\n")))
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            Out::ToServer(m) => followup.send(state, session, m).await,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(
            ServerIdentity::stdio("t", "python3", &[]),
            &bulwark_core::mcp::McpConfig::default(),
        )
    }

    fn key(token: &str, n: usize) -> Key {
        (token.to_string(), "t".to_string(), format!("sid-{n}"))
    }

    #[test]
    fn a_token_that_opens_many_sessions_pushes_out_only_its_own() {
        let s = McpSessions::default();
        let victim = s.get(key("victim", 0), session);
        for n in 0..2 * SESSIONS_PER_TOKEN {
            s.get(key("flood", n), session);
        }
        let map = s.0.lock().unwrap();
        assert_eq!(
            map.keys().filter(|k| k.0 == "flood").count(),
            SESSIONS_PER_TOKEN
        );
        let kept = &map.get(&key("victim", 0)).expect("the victim's session").0;
        assert!(Arc::ptr_eq(kept, &victim));
    }

    #[test]
    fn a_token_that_floods_session_grants_forgets_its_own_first() {
        let s = McpSessions::default();
        s.own("t", "victim-sid", "victim");
        std::thread::sleep(Duration::from_millis(2));
        for n in 0..4 * MAX_SESSIONS {
            s.own("t", &format!("flood-{n}"), "flood");
        }
        // One token's flood forgets its own oldest grants, never the victim's.
        assert!(!s.may_use("t", "victim-sid", "flood"));
        assert!(s.may_use("t", "victim-sid", "victim"));
        assert!(!s.may_use("t", &format!("flood-{}", 4 * MAX_SESSIONS - 1), "victim"));
        // Many tokens together fill the store: then the oldest of all goes.
        for t in 0..4 {
            for n in 0..MAX_SESSIONS {
                s.own("t", &format!("many-{t}-{n}"), &format!("token-{t}"));
            }
        }
        assert!(s.may_use("t", "victim-sid", "flood"));
    }

    #[test]
    fn a_token_has_one_provenance_context_per_server() {
        let s = McpSessions::default();
        let a = s.context("a", "fs");
        assert!(Arc::ptr_eq(&a, &s.context("a", "fs")));
        assert!(!Arc::ptr_eq(&a, &s.context("b", "fs")));
        assert!(!Arc::ptr_eq(&a, &s.context("a", "web")));
    }
}
