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

/// Routes anyone may call, with no credential at all.
pub(crate) const PUBLIC: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// Whether `path` is called without an API token: the public routes, webhook ingress and chat
/// interactions, whose senders prove themselves with their own scheme (see `ingress`, `chat`),
/// and the web console, whose pages need a session cookie (see `console`).
pub(crate) fn without_token(path: &str) -> bool {
    PUBLIC.contains(&path)
        || path.starts_with("/v1/ingress/")
        || path.starts_with("/v1/interactions/")
        || path == "/console"
        || path.starts_with("/console/")
}

/// A client that failed to authenticate (no or a bad token, a bad chat signature): counted; past
/// its failure budget it gets the 429 returned here and leaves no record of its own; within it,
/// the first failure of a window is recorded at once and the rest as one count when the window
/// closes, so a flood of bad credentials cannot flood the audit log.
pub(crate) async fn failed_authentication(
    s: &AppState,
    c: &Compiled,
    ip: std::net::IpAddr,
    reason: &'static str,
    path: &str,
) -> Option<ApiError> {
    metrics::counter!("bulwark_auth_failures_total").increment(1);
    if let Some(l) = &c.limits.auth_failures
        && let Err(r) = l.check(&ip).await
    {
        s.auth_failures.note(ip, reason, path, true);
        return Some(ApiError::from(r));
    }
    if let Some(first) = s.auth_failures.note(ip, reason, path, false) {
        s.audit(first);
    }
    None
}

pub(crate) async fn authenticate(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if without_token(path) {
        return next.run(req).await;
    }
    let c = s.c();
    // Anthropic's SDKs send their key as `x-api-key`: on the gateway's routes it carries the
    // Bulwark token just as `Authorization: Bearer` does.
    let gateway_route = GATEWAY_ROUTES.iter().any(|(_, p)| *p == path);
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| {
            gateway_route
                .then(|| req.headers().get("x-api-key"))
                .flatten()
                .and_then(|v| v.to_str().ok())
        })
        .map(str::trim)
        .unwrap_or("");
    let record = match resolve_token(&s, presented).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some((token_id, principal)) = record else {
        let reason = if presented.is_empty() {
            "no bearer token"
        } else {
            "unknown or revoked token"
        };
        if let Some(over) = failed_authentication(&s, &c, peer.ip(), reason, path).await {
            return over.into_response();
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
    if let Err(e) = draw_limits(&c, &principal.name, token_id).await {
        return e.into_response();
    }
    let route_limit = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| c.limits.routes.get(route.as_str()));
    if let Some(l) = route_limit
        && let Err(r) = l.check_all().await
    {
        return ApiError::from(r).into_response();
    }
    // The scope before the body: a token without it learns nothing from body validation. A
    // route this table does not know is refused, whatever the handler would do.
    if let Some(route) = req.extensions().get::<MatchedPath>() {
        let Some(accepted) = route_scopes(route.as_str()) else {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{} has no scope assigned: refused", route.as_str()),
            )
            .into_response();
        };
        if let Some(first) = accepted.first()
            && !accepted.iter().any(|s| principal.scopes.contains(s))
        {
            return principal.require(*first).err().map_or_else(
                || StatusCode::FORBIDDEN.into_response(),
                IntoResponse::into_response,
            );
        }
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Draw on the allowance of all callers together and on the token's own: by authenticated
/// requests only (API calls and console pages), so a client without a token cannot use them up
/// for everyone (its failures have their own limit).
pub(crate) async fn draw_limits(
    c: &Compiled,
    name: &str,
    token_id: String,
) -> Result<(), ApiError> {
    if let Some(g) = &c.limits.global {
        g.check_all().await?;
    }
    match c.limits.token_overrides.get(name) {
        Some(l) => l.check_all().await?,
        None => {
            if let Some(l) = &c.limits.token {
                l.check(&token_id).await?;
            }
        }
    }
    Ok(())
}

/// The id and principal of the active token `presented` is (constant-time hash comparison), if
/// any. An id not in the cached list re-reads it (at most every `TOKEN_MISS_REFRESH`).
pub(crate) async fn resolve_token(
    s: &Shared,
    presented: &str,
) -> Result<Option<(String, Principal)>, ApiError> {
    let tokens = s.tokens_async().await?;
    let id = bulwark_core::auth::token_id(presented);
    let tokens = match id {
        Some(id) if !tokens.contains_key(id) => s.tokens_after_miss().await?,
        _ => tokens,
    };
    Ok(id
        .and_then(|id| tokens.get(id))
        .filter(|r| bulwark_core::auth::matches(r, presented))
        .map(|r| {
            (
                r.id.clone(),
                Principal {
                    name: r.name.clone(),
                    scopes: r.scopes.clone(),
                },
            )
        }))
}

/// The scopes a route accepts (any one of them); empty: any valid token; `None`: a route this
/// table does not know, which is refused (a new route must be given its scope here). Handlers
/// check again.
pub(crate) fn route_scopes(route: &str) -> Option<&'static [Scope]> {
    Some(match route {
        "/v1/scan" | "/v1/redact" | "/v1/wrap" => &[Scope::Scan],
        "/v1/egress/check" => &[Scope::Egress],
        "/v1/intents" | "/v1/approvals/{id}/consume" => &[Scope::Intents],
        "/v1/approvals" | "/v1/approvals/{id}" | "/v1/approvals/{id}/reject" => {
            &[Scope::Approve, Scope::Intents]
        }
        "/v1/approvals/{id}/approve"
        | "/v1/held"
        | "/v1/held/{id}"
        | "/v1/held/{id}/release"
        | "/v1/held/{id}/drop"
        | "/v1/held/{id}/settle" => &[Scope::Approve],
        "/v1/audit" | "/v1/audit/verify" => &[Scope::Audit],
        "/v1/chat/completions" | "/v1/responses" | "/v1/messages" | "/v1/models" => {
            &[Scope::Gateway]
        }
        "/mcp/{name}" => &[Scope::Mcp],
        "/openapi.json" => &[],
        _ => return None,
    })
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

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The client's address: the peer, or (when the peer is a trusted proxy) the last address in
/// `X-Forwarded-For` that is not a trusted proxy. The header is read from its right end, the hops
/// the trusted proxies added, and no further than they vouch for: an entry that cannot be read
/// (`unknown`, a name) ends the walk at the last trusted hop, never skipped to reach what the
/// client wrote further left. Entries may carry a port (`203.0.113.7:5123`, `[2001:db8::7]:443`);
/// IPv4-mapped IPv6 addresses are compared as IPv4 (a dual-stack listener's peers).
pub(crate) fn client_ip(
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |a: &std::net::IpAddr| trusted.iter().any(|n| n.contains(a));
    let mut hop = peer.to_canonical();
    if !is_trusted(&hop) {
        return hop;
    }
    let lines: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("unknown"))
        .collect();
    for entry in lines.iter().rev().flat_map(|l| l.rsplit(',')) {
        let Some(address) = forwarded_address(entry.trim()) else {
            return hop;
        };
        if !is_trusted(&address) {
            return address;
        }
        hop = address;
    }
    hop
}

/// One `X-Forwarded-For` entry's address: bare, with a port, or bracketed IPv6 with a port.
fn forwarded_address(entry: &str) -> Option<std::net::IpAddr> {
    let address = entry
        .parse::<std::net::IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))?;
    Some(address.to_canonical())
}

/// Failed authentications, aggregated per client address and window so that a client sending bad
/// tokens as fast as it can costs the audit log one record at its first failure and one count per
/// window after that, not one fsync'd record per request.
pub(crate) struct FailureLog {
    window: Duration,
    clients: std::sync::Mutex<HashMap<std::net::IpAddr, Failures>>,
}

/// One client's failures in the current window.
struct Failures {
    since: Instant,
    /// Seconds since the epoch when the window opened.
    since_unix: u64,
    /// Failures after the first, which was recorded at once.
    more: u64,
    /// Requests refused by the failure limit (429) without being checked.
    limited: u64,
    reason: &'static str,
    path: String,
}

/// Clients remembered at once; past it, every window is closed early.
const MAX_FAILING_CLIENTS: usize = 10_000;

impl FailureLog {
    /// Aggregate over windows of `window`.
    pub(crate) fn new(window: Duration) -> FailureLog {
        FailureLog {
            window,
            clients: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Count one failure (`limited`: one refused by the limit before any check). Returns the event
    /// to record now: the first failure of a client's window.
    pub(crate) fn note(
        &self,
        ip: std::net::IpAddr,
        reason: &'static str,
        path: &str,
        limited: bool,
    ) -> Option<AuditEvent> {
        let mut map = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = map.get_mut(&ip)
            && f.since.elapsed() < self.window
        {
            if limited {
                f.limited += 1;
            } else {
                f.more += 1;
            }
            f.reason = reason;
            return None;
        }
        map.insert(
            ip,
            Failures {
                since: Instant::now(),
                since_unix: now_secs(),
                more: 0,
                limited: u64::from(limited),
                reason,
                path: path.to_string(),
            },
        );
        (!limited).then(|| failure_event(ip, reason, path, serde_json::json!({"count": 1})))
    }

    /// The counts of every window that has closed (all of them with `all`), as events to record.
    pub(crate) fn flush(&self, all: bool) -> Vec<AuditEvent> {
        let mut map = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let all = all || map.len() > MAX_FAILING_CLIENTS;
        let closed: Vec<std::net::IpAddr> = map
            .iter()
            .filter(|(_, f)| all || f.since.elapsed() >= self.window)
            .map(|(ip, _)| *ip)
            .collect();
        closed
            .into_iter()
            .filter_map(|ip| {
                let f = map.remove(&ip)?;
                (f.more + f.limited > 0).then(|| {
                    failure_event(
                        ip,
                        f.reason,
                        &f.path,
                        serde_json::json!({
                            "count": f.more,
                            "refused_by_limit": f.limited,
                            "window_start": f.since_unix,
                            "window_secs": self.window.as_secs(),
                        }),
                    )
                })
            })
            .collect()
    }
}

fn failure_event(
    ip: std::net::IpAddr,
    reason: &str,
    path: &str,
    counts: serde_json::Value,
) -> AuditEvent {
    let mut details = serde_json::json!({ "reason": reason });
    if let (Some(d), Some(c)) = (details.as_object_mut(), counts.as_object()) {
        d.extend(c.clone());
    }
    AuditEvent {
        event_type: EventType::Auth,
        actor: ip.to_string(),
        action: "api.authenticate".into(),
        resource: path.to_string(),
        outcome: "denied".into(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the API serves has its scopes here, or is one of those that take no token.
    #[test]
    fn every_route_has_its_scopes() {
        for (_, path) in ROUTES.iter().chain(GATEWAY_ROUTES).chain(MCP_ROUTES) {
            assert!(
                without_token(path) || route_scopes(path).is_some(),
                "{path} has no scopes"
            );
        }
        assert!(route_scopes("/v1/new-route").is_none());
    }

    /// The client behind trusted proxies, as `X-Forwarded-For` lines read from the right.
    #[test]
    fn the_client_is_the_last_forwarded_address_no_trusted_proxy_vouches_past() {
        let trusted: Vec<ipnet::IpNet> = ["10.0.0.5/32", "10.0.1.0/24"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        let ip = |a: &str| a.parse::<std::net::IpAddr>().unwrap();
        let client = |peer: &str, lines: &[&str]| {
            let mut h = HeaderMap::new();
            for l in lines {
                h.append("x-forwarded-for", l.parse().unwrap());
            }
            client_ip(ip(peer), &h, &trusted)
        };
        // A peer that is not a trusted proxy is the client, whatever it sends.
        assert_eq!(client("203.0.113.9", &["198.51.100.7"]), ip("203.0.113.9"));
        // Behind one proxy, and behind two; what the client wrote on the left is not believed.
        assert_eq!(client("10.0.0.5", &["198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(
            client("10.0.0.5", &["1.2.3.4, 198.51.100.7, 10.0.1.9"]),
            ip("198.51.100.7")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client("10.0.0.5", &["1.2.3.4", "198.51.100.7, 10.0.1.9"]),
            ip("198.51.100.7")
        );
        // Ports and brackets, as some proxies write them.
        assert_eq!(
            client("10.0.0.5", &["198.51.100.7:5123"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client("10.0.0.5", &["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
        // An entry that cannot be read stops the walk at the last trusted hop: the client's own
        // entry before it is never reached.
        assert_eq!(
            client("10.0.0.5", &["198.51.100.7, unknown"]),
            ip("10.0.0.5")
        );
        assert_eq!(
            client("10.0.0.5", &["198.51.100.7, unknown, 10.0.1.9"]),
            ip("10.0.1.9")
        );
        assert_eq!(client("10.0.0.5", &["198.51.100.7,"]), ip("10.0.0.5"));
        // Nothing but proxies, or no header: the last proxy.
        assert_eq!(client("10.0.0.5", &["10.0.1.9"]), ip("10.0.1.9"));
        assert_eq!(client("10.0.0.5", &[]), ip("10.0.0.5"));
        // A dual-stack listener's IPv4-mapped peer is the IPv4 proxy, and mapped entries are
        // compared as IPv4 too.
        assert_eq!(
            client("::ffff:10.0.0.5", &["198.51.100.7, ::ffff:10.0.1.9"]),
            ip("198.51.100.7")
        );
    }
}
