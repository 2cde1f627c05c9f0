//! `/v1/chat/completions`, `/v1/responses`, `/v1/messages`, `/v1/models`: the model gateway's
//! routes (the work is in `crate::gateway`).

use super::*;

/// The gateway's routes answer when it is on, to tokens of scope `gateway`.
fn admit(s: &Shared, p: &Principal) -> Result<(), ApiError> {
    if !s.c().gateway.enabled() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the model gateway is off: set [gateway] enabled = true and an upstream",
        ));
    }
    p.require(Scope::Gateway)
}

/// One exchange of `api`, once the token may use the gateway and the body was read (a body that
/// could not be read, such as one over `max_body_bytes`, is answered in the API's shape).
async fn exchange(
    s: &Shared,
    p: &Principal,
    api: crate::gateway::Api,
    headers: &axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    admit(s, p)?;
    let body = match body {
        Ok(b) => b,
        Err(e) => return Ok(api.unreadable(e.status(), e.body_text())),
    };
    Ok(crate::gateway::handle(
        s,
        api,
        crate::gateway::Exchange {
            token: &p.name,
            headers,
            body,
        },
    )
    .await)
}

/// `POST /v1/chat/completions` in OpenAI's own shape (not in `/openapi.json`: see docs/gateway.md).
pub(crate) async fn chat_completions(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    exchange(&s, &p, crate::gateway::Api::OpenaiChat, &headers, body).await
}

/// `POST /v1/responses` in OpenAI's own shape (not in `/openapi.json`: see docs/gateway.md).
pub(crate) async fn responses(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    exchange(&s, &p, crate::gateway::Api::OpenaiResponses, &headers, body).await
}

/// `POST /v1/messages` in Anthropic's own shape (not in `/openapi.json`: see docs/gateway.md).
pub(crate) async fn messages(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    exchange(
        &s,
        &p,
        crate::gateway::Api::AnthropicMessages,
        &headers,
        body,
    )
    .await
}

/// `GET /v1/models`: the upstreams' models, in the shape of the API the agent speaks.
pub(crate) async fn models(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    admit(&s, &p)?;
    Ok(crate::gateway::models(&s, &headers).await)
}

/// `/mcp/{name}`: the MCP Streamable HTTP transport in front of `[mcp.servers.NAME] url`, to
/// tokens of scope `mcp` (not in `/openapi.json`: see docs/mcp.md).
pub(crate) async fn mcp(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(name): axum::extract::Path<String>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    p.require(Scope::Mcp)?;
    Ok(crate::mcp::handle(&s, &p.name, &name, method, &headers, body).await)
}
