//! Authentication, scopes, the failed-authentication limit, client addresses, metrics per route.

use super::*;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    pub(crate) scopes: std::collections::BTreeSet<Scope>,
}

impl Principal {
    pub(crate) fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this token lacks the `{}` scope (create one with `bulwark token create --scope {}`)",
                    scope.as_str(),
                    scope.as_str()
                ),
            ))
        }
    }
}

pub(crate) async fn authenticate(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    // Webhook senders prove themselves with their own scheme (see `ingress`).
    if matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/v1/ingress/") {
        return next.run(req).await;
    }
    let c = s.c();
    if let Some(g) = &c.limits.global
        && let Err(d) = g.check()
    {
        return ApiError::limited(d.policy, d.retry_after).into_response();
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let tokens = match s.tokens_async().await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let id = bulwark_core::auth::token_id(presented);
    let tokens = match id {
        Some(id) if !tokens.contains_key(id) => match s.tokens_after_miss().await {
            Ok(t) => t,
            Err(e) => return e.into_response(),
        },
        _ => tokens,
    };
    let record = id
        .and_then(|id| tokens.get(id))
        .filter(|r| bulwark_core::auth::matches(r, presented));
    let Some(record) = record else {
        let reason = if presented.is_empty() {
            "no bearer token"
        } else {
            "unknown or revoked token"
        };
        s.audit(AuditEvent {
            event_type: EventType::Auth,
            actor: peer.ip().to_string(),
            action: "api.authenticate".into(),
            resource: path.to_string(),
            outcome: "denied".into(),
            details: serde_json::json!({"reason": reason}),
        });
        metrics::counter!("bulwark_auth_failures_total").increment(1);
        if let Some(l) = &c.limits.auth_failures
            && let Err(d) = l.check(&peer.ip())
        {
            return ApiError::limited(d.policy, d.retry_after).into_response();
        }
        let mut resp = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("{reason}: send Authorization: Bearer <token> (`bulwark token create`)"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    };
    if let Some(l) = c.limits.token_overrides.get(&record.name) {
        if let Err(d) = l.check() {
            return ApiError::limited(d.policy, d.retry_after).into_response();
        }
    } else if let Some(l) = &c.limits.token
        && let Err(d) = l.check(&record.id)
    {
        return ApiError::limited(d.policy, d.retry_after).into_response();
    }
    if let Some(route) = req.extensions().get::<MatchedPath>()
        && let Some(l) = c.limits.routes.get(route.as_str())
        && let Err(d) = l.check()
    {
        return ApiError::limited(d.policy, d.retry_after).into_response();
    }
    let principal = Principal {
        name: record.name.clone(),
        scopes: record.scopes.clone(),
    };
    // The scope before the body: a token without it learns nothing from body validation.
    if let Some(route) = req.extensions().get::<MatchedPath>()
        && let accepted = route_scopes(route.as_str())
        && let Some(first) = accepted.first()
        && !accepted.iter().any(|s| principal.scopes.contains(s))
    {
        return principal.require(*first).err().map_or_else(
            || StatusCode::FORBIDDEN.into_response(),
            IntoResponse::into_response,
        );
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// The scopes a route accepts (any one of them); empty: any valid token. Handlers check again, so
/// a route missing here is still guarded.
pub(crate) fn route_scopes(route: &str) -> &'static [Scope] {
    match route {
        "/v1/scan" | "/v1/redact" | "/v1/wrap" => &[Scope::Scan],
        "/v1/egress/check" => &[Scope::Egress],
        "/v1/intents" | "/v1/approvals/{id}/consume" => &[Scope::Intents],
        "/v1/approvals" | "/v1/approvals/{id}" | "/v1/approvals/{id}/reject" => {
            &[Scope::Approve, Scope::Intents]
        }
        "/v1/approvals/{id}/approve" => &[Scope::Approve],
        "/v1/audit" | "/v1/audit/verify" => &[Scope::Audit],
        _ => &[],
    }
}

pub(crate) async fn record_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("bulwark_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("bulwark_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The client's address: the peer, or (when the peer is a trusted proxy) the last address in
/// `X-Forwarded-For` that is not a trusted proxy.
pub(crate) fn client_ip(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return peer;
    }
    let chain: Vec<std::net::IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    chain
        .into_iter()
        .rev()
        .find(|a| !trusted.iter().any(|n| n.contains(a)))
        .unwrap_or(peer)
}
