//! The sidecar HTTP API: every guard over JSON, for agents written in any language.
//!
//! Threat answered: a local process (or anyone who reaches the port) calling the guards, approving
//! actions or reading the audit log. Every route but `/healthz`, `/readyz` and `/metrics` needs an
//! API token; each route needs a scope; approvers are the principals of tokens with the `approve`
//! scope; failed authentications are audited and rate limited per client address. Bad input gets a
//! 4xx JSON error that names the field (`{"error": {"code", "message"}}`), never a 500 or a panic.

mod actions;
mod audit;
mod auth;
mod chat;
mod console;
mod content;
mod doc;
mod egress;
mod errors;
mod gateway;
mod held;
mod ingress;
mod ops;
mod serve;
mod state;

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, MatchedPath, Query, Request, State,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bulwark_core::action::{ActionDecision, ExecutionIntent, IntentDigest};
use bulwark_core::approval::{
    ApprovalError, ApprovalId, Approvals, Approvers, StateName, SystemClock,
};
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::auth::{Scope, TokenRecord};
use bulwark_core::egress::EgressGuard;
use bulwark_core::ratelimit::Limits;
use bulwark_core::scan::boundary::{self, WrapOptions};
use bulwark_core::scan::injection::Source;
use bulwark_core::{Detectors, Policy, SecurityConfig};
use bulwark_store::AuditLog;
use bulwark_store::state_db::StateDb;
use bulwark_store::vault_file::Secrets;
use secrecy::ExposeSecret;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use utoipa::OpenApi;

pub use crate::Reloader;
pub use actions::*;
pub use audit::*;
pub use auth::*;
pub(crate) use chat::Chats;
pub use chat::*;
pub use console::CONSOLE_ROUTES;
pub use content::*;
pub use doc::ApiDoc;
pub use egress::*;
pub use errors::*;
pub(crate) use gateway::*;
pub use held::*;
pub use ingress::*;
pub use ops::*;
pub use serve::*;
pub use state::*;

/// Every route the API serves, with its method: the OpenAPI document is checked against this list.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/scan"),
    ("post", "/v1/redact"),
    ("post", "/v1/wrap"),
    ("post", "/v1/egress/check"),
    ("post", "/v1/intents"),
    ("get", "/v1/approvals"),
    ("get", "/v1/approvals/{id}"),
    ("post", "/v1/approvals/{id}/approve"),
    ("post", "/v1/approvals/{id}/reject"),
    ("post", "/v1/approvals/{id}/consume"),
    ("get", "/v1/audit"),
    ("get", "/v1/audit/verify"),
    ("get", "/v1/held"),
    ("get", "/v1/held/{id}"),
    ("post", "/v1/held/{id}/release"),
    ("post", "/v1/held/{id}/drop"),
    ("post", "/v1/held/{id}/settle"),
    ("post", "/v1/ingress/{source}"),
    ("post", "/v1/interactions/slack"),
    ("post", "/v1/interactions/discord"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

/// The model gateway's routes: the providers' own APIs, documented in docs/gateway.md rather than
/// in `/openapi.json`, served when `[gateway] enabled`.
pub const GATEWAY_ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/chat/completions"),
    ("post", "/v1/responses"),
    ("post", "/v1/messages"),
];

/// The MCP gateway's route: the MCP Streamable HTTP transport, documented in docs/mcp.md rather
/// than in `/openapi.json`, for the servers `[mcp.servers.NAME] url` names.
pub const MCP_ROUTES: &[(&str, &str)] = &[("post", "/mcp/{name}")];

/// How long a token list read from the database is trusted (a revocation takes effect within it).
const TOKEN_CACHE: Duration = Duration::from_secs(2);

/// An unknown token id re-reads the list at most this often (a token created while the server
/// runs works within this time, and random ids cannot turn every request into a database read).
const TOKEN_MISS_REFRESH: Duration = Duration::from_millis(250);

/// A refusal sent before the request's body was read (413 too large, 408 too slow) closes the
/// connection (`Connection: close`): the rest of the body is never read, so the connection cannot
/// carry another request, and a client that pooled it would see its next request dropped.
async fn close_unread(mut resp: Response) -> Response {
    if matches!(
        resp.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT
    ) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// The peer of a request's connection, when `ConnectInfo` was changed to the client behind a
/// trusted proxy: webhook sources judge addresses by their own `trusted_proxies` from here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// Behind a `[server] trusted_proxies` proxy, the client is the last address of
/// `X-Forwarded-For` that is not a trusted proxy: the layers after this one (failed
/// authentications, chat interactions, the console, audit records) see it as the request's
/// `ConnectInfo`; the connection's peer stays as [`Peer`].
async fn client_address(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    let c = s.c();
    if !c.trusted_proxies.is_empty()
        && let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied()
    {
        let client = auth::client_ip(peer.ip(), req.headers(), &c.trusted_proxies);
        if client != peer.ip() {
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client, 0)));
            req.extensions_mut().insert(Peer(peer));
        }
    }
    next.run(req).await
}

/// The API router over `state`.
pub fn router(state: Shared) -> Router {
    let limit = state.c().cfg.server.max_body_bytes;
    Router::new()
        .route("/v1/scan", post(scan))
        .route("/v1/redact", post(redact))
        .route("/v1/wrap", post(wrap))
        .route("/v1/egress/check", post(egress_check))
        .route("/v1/intents", post(intents))
        .route("/v1/approvals", get(list_approvals))
        .route("/v1/approvals/{id}", get(get_approval))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/reject", post(reject))
        .route("/v1/approvals/{id}/consume", post(consume))
        .route("/v1/audit", get(audit_page))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/held", get(list_held))
        .route("/v1/held/{id}", get(get_held))
        .route("/v1/held/{id}/release", post(release_held))
        .route("/v1/held/{id}/drop", post(drop_held))
        .route("/v1/held/{id}/settle", post(settle_held))
        .route("/v1/ingress/{source}", post(ingress))
        .route("/v1/interactions/slack", post(slack_interactions))
        .route("/v1/interactions/discord", post(discord_interactions))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/responses", post(responses))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route(
            "/mcp/{name}",
            post(gateway::mcp)
                .get(gateway::mcp)
                .delete(gateway::mcp)
                // An MCP message may be larger than an API body.
                .layer(DefaultBodyLimit::max(
                    state.c().cfg.mcp.max_message_bytes.max(limit),
                )),
        )
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client_address,
        ))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::map_response(close_unread))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
