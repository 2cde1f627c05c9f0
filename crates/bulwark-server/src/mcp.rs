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
use bulwark_core::approval::{Approvals, SystemClock};
use bulwark_core::audit::AuditSink;
use bulwark_core::mcp::session::{INVALID_REQUEST, error};
use bulwark_core::mcp::{Env, Out, ServerIdentity, Session};
use http_body_util::{BodyExt, Full};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::api::Shared;
use crate::gateway::client;
use crate::gateway::sse::{ChannelBody, Events};

/// How long a server has to answer a message (its head; then, in a stream, between two events).
const TIMEOUT: Duration = Duration::from_secs(300);
/// Sessions kept at once (by token, server and `Mcp-Session-Id`); past it the least recently used
/// is forgotten.
const MAX_SESSIONS: usize = 1024;
/// A session unused this long is forgotten.
const IDLE: Duration = Duration::from_secs(3600);
/// Headers passed on to the server, as the client sent them.
const PASSED: &[&str] = &[
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];

/// One server with a URL, compiled with its key.
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

/// The sessions of the HTTP transport, kept across reloads.
#[derive(Default)]
pub(crate) struct McpSessions(Mutex<HashMap<Key, Kept>>);

impl McpSessions {
    fn get(&self, key: Key, make: impl FnOnce() -> Session) -> Arc<Mutex<Session>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, used)| now.duration_since(*used) < IDLE);
        if let Some((s, used)) = map.get_mut(&key) {
            *used = now;
            return s.clone();
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        let s = Arc::new(Mutex::new(make()));
        map.insert(key, (s.clone(), now));
        s
    }

    fn forget(&self, key: &Key) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
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

/// Why the headers and the body disagree, if they do.
fn header_mismatch(headers: &HeaderMap, body: &Value) -> Option<String> {
    let method = body.get("method").and_then(Value::as_str);
    if let Some(h) = headers.get("mcp-method") {
        let h = h.to_str().unwrap_or("\u{fffd}");
        if Some(h) != method {
            return Some(format!(
                "bulwark: the Mcp-Method header says {h:?} but the body's method is {:?}",
                method.unwrap_or("")
            ));
        }
    }
    if let Some(h) = headers.get("mcp-name") {
        let h = h.to_str().unwrap_or("\u{fffd}");
        let params = body.get("params");
        let named = match method {
            Some("resources/read") => params.and_then(|p| p.get("uri")),
            _ => params.and_then(|p| p.get("name")),
        }
        .and_then(Value::as_str);
        if named != Some(h) {
            return Some(format!(
                "bulwark: the Mcp-Name header says {h:?} but the body names {:?}",
                named.unwrap_or("")
            ));
        }
    }
    None
}

/// `/mcp/{name}`: one message from the client (POST), the end of a session (DELETE); GET (a
/// stream the server opens on its own) is not offered.
pub(crate) async fn handle(
    state: &Shared,
    token: &str,
    name: &str,
    method: Method,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let c = state.c();
    let Some(up) = c.mcp.0.get(name) else {
        return json_rpc(
            StatusCode::NOT_FOUND,
            error(
                &Value::Null,
                INVALID_REQUEST,
                &format!(
                    "bulwark: no MCP server `{name}` with a url: set [mcp.servers.{name}] url"
                ),
            ),
        );
    };
    let session_id = headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect::<String>();
    let key: Key = (token.to_string(), name.to_string(), session_id);
    let request = |m: Method, body: Bytes, accept: &'static str| {
        let target = match up.url.query() {
            Some(q) => format!("{}?{q}", up.url.path()),
            None => up.url.path().to_string(),
        };
        let mut req = hyper::Request::builder()
            .method(m)
            .uri(target)
            .header(header::ACCEPT, accept);
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
        }
        req.body(Full::new(body))
    };
    match method {
        Method::POST => {}
        Method::DELETE => {
            state.mcp_sessions.forget(&key);
            let Ok(req) = request(Method::DELETE, Bytes::new(), "application/json") else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            return match client::send(&up.url, req, TIMEOUT).await {
                Ok(r) => r.status().into_response(),
                Err(e) => json_rpc(
                    StatusCode::BAD_GATEWAY,
                    error(&Value::Null, -32603, &format!("bulwark: {e}")),
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
    if body.len() > c.cfg.mcp.max_message_bytes {
        return json_rpc(
            StatusCode::PAYLOAD_TOO_LARGE,
            error(
                &Value::Null,
                INVALID_REQUEST,
                "bulwark: the message is over [mcp] max_message_bytes",
            ),
        );
    }
    if let Ok(v) = serde_json::from_slice::<Value>(&body)
        && let Some(why) = header_mismatch(headers, &v)
    {
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        return json_rpc(StatusCode::BAD_REQUEST, error(&id, INVALID_REQUEST, &why));
    }
    let session = state.mcp_sessions.get(key, || {
        Session::new(ServerIdentity::http(name, &up.url), &c.cfg.mcp)
    });
    let line = body.to_vec();
    let outs = step(state, &session, move |s, env| s.from_client(env, &line)).await;
    let forward = match outs.into_iter().next() {
        Some(Out::ToServer(m)) => m,
        Some(Out::ToClient(m)) => return json_rpc(StatusCode::OK, m),
        None => return StatusCode::ACCEPTED.into_response(),
    };
    let req = match request(
        Method::POST,
        Bytes::from(forward),
        "application/json, text/event-stream",
    ) {
        Ok(r) => r,
        Err(e) => {
            return json_rpc(
                StatusCode::BAD_GATEWAY,
                error(&Value::Null, -32603, &e.to_string()),
            );
        }
    };
    let resp = match client::send(&up.url, req, TIMEOUT).await {
        Ok(r) => r,
        Err(e) => {
            let why = format!("could not be reached ({e})");
            let outs = step(state, &session, move |s, _| s.server_gone(&why)).await;
            return match outs.into_iter().next() {
                Some(Out::ToClient(m)) => json_rpc(StatusCode::BAD_GATEWAY, m),
                _ => StatusCode::BAD_GATEWAY.into_response(),
            };
        }
    };
    let status = resp.status();
    let session_header = resp.headers().get("mcp-session-id").cloned();
    let is_sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut answer = if is_sse {
        relay_stream(state, session, resp.into_body())
    } else {
        let limit = c.cfg.mcp.max_message_bytes;
        let body = match tokio::time::timeout(
            TIMEOUT,
            http_body_util::Limited::new(resp.into_body(), limit).collect(),
        )
        .await
        {
            Ok(Ok(b)) => b.to_bytes(),
            _ => {
                let outs = step(state, &session, |s, _| s.server_oversized()).await;
                return match outs.into_iter().next() {
                    Some(Out::ToClient(m)) => json_rpc(StatusCode::BAD_GATEWAY, m),
                    _ => StatusCode::BAD_GATEWAY.into_response(),
                };
            }
        };
        if body.is_empty() {
            status.into_response()
        } else {
            let line = body.to_vec();
            let outs = step(state, &session, move |s, env| s.from_server(env, &line)).await;
            match outs.into_iter().find_map(|o| match o {
                Out::ToClient(m) => Some(m),
                Out::ToServer(_) => None,
            }) {
                Some(m) => json_rpc(status, m),
                None => status.into_response(),
            }
        }
    };
    if let Some(v) = session_header {
        answer.headers_mut().insert("mcp-session-id", v);
    }
    answer
}

/// The server's event stream, each event's message through the session on its way.
fn relay_stream(
    state: &Shared,
    session: Arc<Mutex<Session>>,
    mut upstream: hyper::body::Incoming,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let state = state.clone();
    let limit = state.c().cfg.mcp.max_message_bytes;
    tokio::spawn(async move {
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
                    let outs = step(&state, &session, |s, _| {
                        s.server_gone("broke off its stream")
                    })
                    .await;
                    send_events(&tx, outs).await;
                    return;
                }
            };
            for ev in events.push(&chunk) {
                let line = ev.data.into_bytes();
                let outs = step(&state, &session, move |s, env| s.from_server(env, &line)).await;
                if !send_events(&tx, outs).await {
                    return;
                }
            }
            if events.pending() > limit {
                let outs = step(&state, &session, |s, _| s.server_oversized()).await;
                send_events(&tx, outs).await;
                return;
            }
        }
        if let Some(ev) = events.finish() {
            let line = ev.data.into_bytes();
            let outs = step(&state, &session, move |s, env| s.from_server(env, &line)).await;
            send_events(&tx, outs).await;
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::new(ChannelBody(rx)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Send the messages for the client as events; `false` when the client went away.
async fn send_events(tx: &tokio::sync::mpsc::Sender<Bytes>, outs: Vec<Out>) -> bool {
    for o in outs {
        if let Out::ToClient(m) = o
            && tx
                .send(Bytes::from(format!("event: message\ndata: {m}\n\n")))
                .await
                .is_err()
        {
            return false;
        }
    }
    true
}
