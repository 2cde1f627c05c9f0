//! The sidecar HTTP API: every guard over JSON, for agents written in any language.
//!
//! Threat answered: a local process (or anyone who reaches the port) calling the guards, approving
//! actions or reading the audit log. Every route but `/healthz`, `/readyz` and `/metrics` needs an
//! API token; each route needs a scope; approvers are the principals of tokens with the `approve`
//! scope; failed authentications are audited and rate limited per client address. Bad input gets a
//! 4xx JSON error that names the field (`{"error": {"code", "message"}}`), never a 500 or a panic.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, MatchedPath, Query, Request, State,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use bulwark_core::action::{
    ActionDecision, ActionEnv, ActionPolicy, ExecutionIntent, IntentDigest,
};
use bulwark_core::approval::{
    ApprovalError, ApprovalId, Approvals, Approvers, StateName, SystemClock,
};
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::auth::{Scope, TokenRecord};
use bulwark_core::egress::EgressGuard;
use bulwark_core::ratelimit::Limits;
use bulwark_core::scan::boundary::{self, WrapOptions};
use bulwark_core::scan::injection::Source;
use bulwark_core::{Detectors, Redactor, Scanner, SecurityConfig};
use bulwark_store::AuditLog;
use bulwark_store::state_db::StateDb;
use bulwark_store::vault_file::Secrets;
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::OpenApi;

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
    ("post", "/v1/ingress/{source}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

/// How long a token list read from the database is trusted (a revocation takes effect within it).
const TOKEN_CACHE: Duration = Duration::from_secs(2);

/// An unknown token id re-reads the list at most this often (a token created while the server
/// runs works within this time, and random ids cannot turn every request into a database read).
const TOKEN_MISS_REFRESH: Duration = Duration::from_millis(250);

/// An error answer: status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    policy: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            policy: None,
        }
    }
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
    fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    fn limited(policy: String, retry_after: Duration) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("rate limit {policy} reached: retry later"),
        );
        e.retry_after = Some(retry_after.as_secs_f64().ceil().max(1.0) as u64);
        e.policy = Some(policy);
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
            // IETF RateLimit headers: the policy (`"name";q=quota;w=window`) and what is left.
            if let Some(p) = &self.policy {
                let (name, params) = p.split_once(';').unwrap_or((p.as_str(), ""));
                if let Ok(v) = HeaderValue::from_str(&format!("\"{name}\";{params}")) {
                    h.insert("ratelimit-policy", v);
                }
                if let Ok(v) = HeaderValue::from_str(&format!("\"{name}\";r=0;t={s}")) {
                    h.insert("ratelimit", v);
                }
            }
        }
        resp
    }
}

fn approval_error(e: ApprovalError) -> ApiError {
    use ApprovalError as E;
    let (status, code) = match &e {
        E::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        E::BadId(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        E::Expired { .. } => (StatusCode::GONE, "expired"),
        E::DigestMismatch { .. } => (StatusCode::CONFLICT, "digest_mismatch"),
        E::NotApprover { .. } | E::SelfApproval { .. } | E::NotRequester { .. } => {
            (StatusCode::FORBIDDEN, "forbidden")
        }
        E::AlreadyVoted { .. } | E::WrongState { .. } | E::Contended(_) => {
            (StatusCode::CONFLICT, "conflict")
        }
        E::NotReview(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        E::Damaged { .. } | E::Store(_) | E::Audit(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    ApiError::new(status, code, e.to_string())
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The token's name.
    pub name: String,
    scopes: std::collections::BTreeSet<Scope>,
}

impl Principal {
    fn require(&self, scope: Scope) -> Result<(), ApiError> {
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

/// What the configuration compiles to: swapped whole on reload (SIGHUP).
pub struct Compiled {
    cfg: SecurityConfig,
    scanner: Scanner,
    redactor: Redactor,
    egress: EgressGuard,
    policy: ActionPolicy,
    limits: Limits,
    ingress: HashMap<String, IngressSource>,
    /// `[approval] notify_url`, resolved from the vault when it is a `vault:NAME` reference.
    notify_url: Option<secrecy::SecretString>,
}

/// One compiled webhook source.
struct IngressSource {
    verifier: bulwark_core::webhook::WebhookVerifier,
    labels: bulwark_core::webhook::LabelPolicy,
    allow: Vec<ipnet::IpNet>,
    trusted_proxies: Vec<ipnet::IpNet>,
    forward_to: String,
    /// Sent to `forward_to` as a bearer token (from the vault).
    forward_token: Option<secrecy::SecretString>,
    hold_at: bulwark_core::Verdict,
}

fn nets(list: &[String]) -> Vec<ipnet::IpNet> {
    list.iter()
        .filter_map(|c| {
            c.parse::<ipnet::IpNet>()
                .ok()
                .or_else(|| c.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
        })
        .collect()
}

fn compile_ingress(
    cfg: &bulwark_core::config::IngressConfig,
    secrets: &Secrets,
) -> Result<HashMap<String, IngressSource>, ServeError> {
    let mut out = HashMap::new();
    for (name, src) in &cfg.sources {
        let secret = if src.secret_env.is_empty() {
            // `vault:NAME` is read from the vault; anything else is the secret itself.
            secrets.value(&src.secret)
        } else {
            secrecy::SecretString::from(std::env::var(&src.secret_env).map_err(|_| {
                ServeError::Config(format!(
                    "ingress.sources.{name}.secret_env: the environment variable {} is not set",
                    src.secret_env
                ))
            })?)
        };
        let verifier = bulwark_core::webhook::WebhookVerifier::new(
            src.scheme,
            &secret,
            &src.header,
            &src.timestamp_header,
            cfg.tolerance_secs,
        )
        .map_err(|e| ServeError::Config(format!("ingress.sources.{name}: {e}")))?;
        let labels = bulwark_core::webhook::LabelPolicy::new(&src.labels)
            .map_err(|e| ServeError::Config(format!("ingress.sources.{name}.{e}")))?;
        out.insert(
            name.clone(),
            IngressSource {
                verifier,
                labels,
                allow: nets(&src.allow_cidrs),
                trusted_proxies: nets(&src.trusted_proxies),
                forward_to: src.forward_to.clone(),
                forward_token: secrets.get(&src.forward_token).cloned(),
                hold_at: src.hold_at,
            },
        );
    }
    Ok(out)
}

/// The configuration's `vault:NAME` references, decrypted (one vault unlock).
fn load_secrets(cfg: &SecurityConfig, home: &Path) -> Result<Secrets, ServeError> {
    let vault = bulwark_store::vault_file::VaultStore::new(cfg.vault.file(home));
    Secrets::load(cfg, &vault, &|k| std::env::var(k).ok())
        .map_err(|e| ServeError::Config(e.to_string()))
}

impl Compiled {
    fn new(cfg: SecurityConfig, home: &Path, secrets: &Secrets) -> Result<Compiled, ServeError> {
        let env = |k: &str| std::env::var(k).ok();
        let scanner = Scanner::new(&cfg.scan).map_err(|e| ServeError::Config(e.to_string()))?;
        let redactor = Redactor::new(scanner.clone(), &cfg.redact, &|k| secrets.lookup(k, &env))
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let egress = EgressGuard::from_config(&cfg.egress).map_err(|e| {
            ServeError::Config(format!(
                "`{}` = {}: expected {}",
                e.key, e.value, e.expected
            ))
        })?;
        let policy = ActionPolicy::from_config(
            &cfg.action,
            &ActionEnv {
                workspace_root: bulwark_core::action::workspace_root(&cfg.action, home),
                home: std::env::var_os("HOME").map(Into::into),
            },
        )
        .map_err(|e| ServeError::Config(e.to_string()))?;
        let route_paths: Vec<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
        let limits = Limits::new(
            &cfg.server.limits,
            cfg.ingress.source_per_min,
            0,
            &route_paths,
            bulwark_core::ratelimit::DefaultClock::default(),
        )
        .map_err(|e| ServeError::Config(e.to_string()))?;
        let ingress = compile_ingress(&cfg.ingress, secrets)?;
        let notify_url =
            (!cfg.approval.notify_url.is_empty()).then(|| secrets.value(&cfg.approval.notify_url));
        Ok(Compiled {
            ingress,
            notify_url,
            cfg,
            scanner,
            redactor,
            egress,
            policy,
            limits,
        })
    }
}

/// Everything a request needs: the compiled configuration (swappable) and what lives as long as
/// the process (the state database, the audit log, the token cache, metrics).
pub struct AppState {
    compiled: arc_swap::ArcSwap<Compiled>,
    /// `[audit]` as the log was opened (the log is not reopened on reload).
    audit_cfg: bulwark_core::config::AuditConfig,
    /// The audit keys as the log was opened (files, or the vault).
    audit_keys: bulwark_store::keys::KeyFiles,
    home: std::path::PathBuf,
    origin: String,
    db: Arc<StateDb>,
    audit: Option<AuditLog>,
    /// Commands on this home append to `audit` through it instead of waiting for its lock.
    _relay: Option<bulwark_store::audit_relay::Relay>,
    tokens: RwLock<(Instant, Arc<HashMap<String, TokenRecord>>)>,
    replay: bulwark_core::webhook::ReplayCache,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The egress proxy `bulwark serve` runs beside the API, reloaded with it.
    proxy: std::sync::OnceLock<Arc<crate::proxy::ProxyState>>,
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Configuration.
    #[error("{0}")]
    Config(String),
    /// The store or audit log.
    #[error("{0}")]
    Store(String),
    /// Sockets.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding program's): then ours only
            // renders what it records itself.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl AppState {
    /// Compile the configuration and open the state database and the audit log under `home`.
    pub fn open(cfg: SecurityConfig, origin: String, home: &Path) -> Result<AppState, ServeError> {
        let env = |k: &str| std::env::var(k).ok();
        let secrets = load_secrets(&cfg, home)?;
        let db = StateDb::open(&cfg.store.db_path(home))
            .map_err(|e| ServeError::Store(e.to_string()))?;
        let audit_keys = bulwark_store::keys::KeyFiles::configured(&cfg.audit, home, &secrets)
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let audit = if cfg.audit.enabled {
            Some(
                bulwark_store::audit_file::open_configured(&cfg, home, &secrets, &env)
                    .map_err(|e| ServeError::Store(e.to_string()))?
                    .0,
            )
        } else {
            None
        };
        let relay = match &audit {
            Some(log) => Some(
                bulwark_store::audit_relay::Relay::start(
                    log.clone(),
                    &bulwark_store::audit_relay::socket_path(home),
                )
                .map_err(|e| ServeError::Store(e.to_string()))?,
            ),
            None => None,
        };
        let audit_cfg = cfg.audit.clone();
        let replay = bulwark_core::webhook::ReplayCache::new(
            cfg.ingress.tolerance_secs,
            cfg.ingress.replay_capacity,
        );
        let state = AppState {
            compiled: arc_swap::ArcSwap::from_pointee(Compiled::new(cfg, home, &secrets)?),
            audit_cfg,
            audit_keys,
            home: home.to_path_buf(),
            origin,
            db: Arc::new(db),
            audit,
            _relay: relay,
            tokens: RwLock::new((Instant::now() - TOKEN_CACHE * 2, Arc::new(HashMap::new()))),
            replay,
            metrics: prometheus(),
            proxy: std::sync::OnceLock::new(),
        };
        state
            .refresh_tokens()
            .map_err(|e| ServeError::Store(e.message))?;
        Ok(state)
    }

    /// The configuration in force.
    fn c(&self) -> Arc<Compiled> {
        self.compiled.load_full()
    }

    /// Replace the compiled configuration (SIGHUP). A configuration that does not compile is
    /// refused and the one in force kept. The audit log, the state database and the listen
    /// address stay as they were opened; rate-limit counters start afresh.
    pub fn reload(&self, cfg: SecurityConfig) -> Result<(), ServeError> {
        // Compile the proxy's policy first, from the same configuration: both are put in force,
        // or neither, so the API and the proxy never enforce different egress policies.
        let proxy = match self.proxy.get() {
            Some(p) => p
                .compile(&cfg)
                .map(|pol| Some((p, pol)))
                .map_err(|e| ServeError::Config(e.to_string())),
            None => Ok(None),
        };
        let result = proxy.and_then(|proxy| {
            load_secrets(&cfg, &self.home)
                .and_then(|secrets| Compiled::new(cfg, &self.home, &secrets))
                .map(|c| (c, proxy))
        });
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.audit(AuditEvent {
            event_type: EventType::ConfigChange,
            actor: "bulwark".into(),
            action: "server.reload".into(),
            resource: self.origin.clone(),
            outcome: outcome.into(),
            details: serde_json::json!({"error": result.as_ref().err().map(|e| e.to_string())}),
        });
        let (compiled, proxy) = result?;
        self.compiled.store(Arc::new(compiled));
        if let Some((p, pol)) = proxy {
            p.swap(pol);
        }
        Ok(())
    }

    fn refresh_tokens(&self) -> Result<Arc<HashMap<String, TokenRecord>>, ApiError> {
        let all = self
            .db
            .tokens()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let map: HashMap<String, TokenRecord> = all
            .into_iter()
            .filter(|t| t.revoked_ms.is_none())
            .map(|t| (t.id.clone(), t))
            .collect();
        let map = Arc::new(map);
        if let Ok(mut g) = self.tokens.write() {
            *g = (Instant::now(), map.clone());
        }
        Ok(map)
    }

    /// Active tokens, re-read from the database at most every [`TOKEN_CACHE`].
    fn current_tokens(&self) -> Result<Arc<HashMap<String, TokenRecord>>, ApiError> {
        if let Ok(g) = self.tokens.read()
            && g.0.elapsed() < TOKEN_CACHE
        {
            return Ok(g.1.clone());
        }
        // A short local read, at most every two seconds.
        self.refresh_tokens()
    }

    /// After an unknown token id: the list re-read if it is older than [`TOKEN_MISS_REFRESH`].
    async fn tokens_after_miss(
        self: &Arc<Self>,
    ) -> Result<Arc<HashMap<String, TokenRecord>>, ApiError> {
        if let Ok(g) = self.tokens.read()
            && g.0.elapsed() < TOKEN_MISS_REFRESH
        {
            return Ok(g.1.clone());
        }
        let s = self.clone();
        blocking(move || s.refresh_tokens()).await
    }

    /// [`AppState::current_tokens`] from an async task.
    async fn tokens_async(self: &Arc<Self>) -> Result<Arc<HashMap<String, TokenRecord>>, ApiError> {
        if let Ok(g) = self.tokens.read()
            && g.0.elapsed() < TOKEN_CACHE
        {
            return Ok(g.1.clone());
        }
        let s = self.clone();
        blocking(move || s.refresh_tokens()).await
    }

    fn approvers(&self) -> Result<Approvers, ApiError> {
        let tokens = self.current_tokens()?;
        Ok(Approvers::from_names(
            tokens
                .values()
                .filter(|t| t.scopes.contains(&Scope::Approve))
                .map(|t| t.name.clone()),
        ))
    }

    fn audit(&self, event: AuditEvent) {
        if let Some(a) = &self.audit {
            // Evidence of refused callers must not block the refusal itself.
            let _ = a.submit(event);
        }
    }
}

type Shared = Arc<AppState>;

/// JSON bodies: `application/json` only (415 otherwise), field-naming errors (400).
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let v = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            ApiError::bad_request(format!("`{path}`: {}", e.inner()))
        })?;
        de.end().map_err(|e| {
            ApiError::bad_request(format!("trailing data after the JSON body: {e}"))
        })?;
        Ok(ApiJson(v))
    }
}

async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("expected Content-Type: application/json, got {ct:?}"),
        ));
    }
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is larger than [server] max_body_bytes",
            )
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })
}

/// An intent body: parsed by the intent's own strict parser.
pub struct IntentBody(pub ExecutionIntent);

impl<S: Send + Sync> FromRequest<S> for IntentBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        ExecutionIntent::from_json(&bytes)
            .map(IntentBody)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
}

// ---------------------------------------------------------------------------------------------
// Authentication, limits, metrics.

async fn authenticate(
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
    req.extensions_mut().insert(Principal {
        name: record.name.clone(),
        scopes: record.scopes.clone(),
    });
    next.run(req).await
}

async fn record_metrics(req: Request, next: Next) -> Response {
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

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not a method of {}: see /openapi.json",
            req.method(),
            req.uri().path()
        ),
    )
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route: see /openapi.json",
    )
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
        .route("/v1/ingress/{source}", post(ingress))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Handlers.

/// `POST /v1/scan` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// The text to scan.
    text: String,
    /// Where it comes from (`user`, `web`, `email`, `tool_output`, `alert`, ...): how strict
    /// injection detection is. Default `other` (untrusted).
    #[serde(default)]
    source: Option<String>,
    /// Detector families, comma-separated: secrets, pii, injection, all. Default all.
    #[serde(default)]
    detectors: Option<String>,
}

fn parse_source(s: Option<&str>) -> Result<Source, ApiError> {
    Source::parse(s.unwrap_or("other"))
        .map_err(|e| ApiError::bad_request(format!("`source`: expected {e}")))
}

fn parse_detectors(s: Option<&str>, default: Detectors) -> Result<Detectors, ApiError> {
    match s {
        None => Ok(default),
        Some(list) => {
            Detectors::parse(list).map_err(|e| ApiError::bad_request(format!("`detectors`: {e}")))
        }
    }
}

/// Scan text: the report `bulwark scan --format json` prints for standard input (`{"verdict",
/// "findings", "errors", "skipped", "stats"}`, each finding's `path` is `-`), plus
/// `injection_score`.
#[utoipa::path(post, path = "/v1/scan", request_body = ScanRequest,
    responses((status = 200, description = "verdict, findings, errors, skipped, stats, injection_score")),
    security(("bearer" = ["scan"])))]
async fn scan(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    ApiJson(r): ApiJson<ScanRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Scan)?;
    let source = parse_source(r.source.as_deref())?;
    let detectors = parse_detectors(r.detectors.as_deref(), Detectors::ALL)?;
    let a = s.c().scanner.assess(r.text.as_bytes(), detectors, &source);
    let report =
        bulwark_core::scan::report::Report::of_text("-", r.text.len(), a.verdict, a.findings);
    let mut v = serde_json::to_value(&report).unwrap_or_default();
    v["injection_score"] = serde_json::json!(a.injection_score);
    Ok(axum::Json(v).into_response())
}

/// `POST /v1/redact` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactRequest {
    /// The text to redact.
    text: String,
    /// Detector families: secrets, pii (default both).
    #[serde(default)]
    detectors: Option<String>,
}

/// Redact text: `{"text", "findings"}`, as `bulwark redact --format json`.
#[utoipa::path(post, path = "/v1/redact", request_body = RedactRequest,
    responses((status = 200, description = "text, findings")), security(("bearer" = ["scan"])))]
async fn redact(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    ApiJson(r): ApiJson<RedactRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Scan)?;
    let detectors = parse_detectors(r.detectors.as_deref(), Detectors::CONTENT)?;
    let out = s
        .c()
        .redactor
        .clone()
        .with_detectors(detectors)
        .redact(&r.text);
    Ok(axum::Json(serde_json::json!({"text": out.text, "findings": out.findings})).into_response())
}

/// `POST /v1/wrap` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapRequest {
    /// The untrusted text.
    text: String,
    /// Where it comes from (default `other`).
    #[serde(default)]
    source: Option<String>,
    /// Datamarking: `true` puts the default mark (`ˆ`) between words, a one-character string puts
    /// that character, `false` or absent none.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    datamark: Option<serde_json::Value>,
}

/// What `datamark` asks for: `true` (the default mark), one character, or nothing.
fn datamark_of(v: Option<&serde_json::Value>) -> Result<Option<char>, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "`datamark`: expected true (the default mark {}), false, or a single character",
                bulwark_core::scan::boundary::DEFAULT_DATAMARK
            ),
        )
    };
    match v {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => Ok(None),
        Some(serde_json::Value::Bool(true)) => {
            Ok(Some(bulwark_core::scan::boundary::DEFAULT_DATAMARK))
        }
        Some(serde_json::Value::String(s)) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Some(c)),
                _ => Err(bad()),
            }
        }
        Some(_) => Err(bad()),
    }
}

/// Wrap untrusted text in delimiters with a random id, as `bulwark wrap --format json`.
#[utoipa::path(post, path = "/v1/wrap", request_body = WrapRequest,
    responses((status = 200, description = "text, id, source, ...")), security(("bearer" = ["scan"])))]
async fn wrap(
    Extension(p): Extension<Principal>,
    ApiJson(r): ApiJson<WrapRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Scan)?;
    let source = parse_source(r.source.as_deref())?;
    let wrapped = boundary::wrap(
        &r.text,
        &source,
        &WrapOptions {
            datamark: datamark_of(r.datamark.as_ref())?,
        },
    )
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(axum::Json(wrapped).into_response())
}

/// `POST /v1/egress/check` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressRequest {
    /// The URL, as the agent would request it.
    url: String,
    /// The egress profile (default: the top-level lists).
    #[serde(default)]
    profile: Option<String>,
}

/// Decide whether an agent may fetch a URL, as `bulwark egress check --format json`.
#[utoipa::path(post, path = "/v1/egress/check", request_body = EgressRequest,
    responses((status = 200, description = "decision, reason, message, url, host, port, addresses, profile")),
    security(("bearer" = ["egress"])))]
async fn egress_check(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    ApiJson(r): ApiJson<EgressRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Egress)?;
    let st = s.clone();
    let decision = blocking(move || {
        let c = st.c();
        let policy = c.egress.policy(r.profile.as_deref()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`profile`: no such egress profile (profiles: {})",
                c.egress.profile_names().join(", ")
            ))
        })?;
        let d = policy.check_url(&r.url, &crate::SystemResolver);
        Ok(serde_json::to_value(&d).unwrap_or_default())
    })
    .await?;
    if let Some(a) = &s.audit {
        let _ = a.submit(AuditEvent {
            event_type: EventType::Egress,
            actor: p.name.clone(),
            action: "egress.check".into(),
            resource: decision["url"].as_str().unwrap_or_default().to_string(),
            outcome: decision["decision"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            details: serde_json::json!({"reason": decision["reason"]}),
        });
    }
    Ok(axum::Json(decision).into_response())
}

/// Judge an intent, as `bulwark intent check --format json`; a review creates a pending approval.
/// `requested_by` must be the caller's token name.
#[utoipa::path(post, path = "/v1/intents", request_body(content = Object, description = "an ExecutionIntent"),
    responses((status = 200, description = "verdict, rule, class, mode, tier, digest, findings, approval")),
    security(("bearer" = ["intents"])))]
async fn intents(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    IntentBody(intent): IntentBody,
) -> Result<Response, ApiError> {
    p.require(Scope::Intents)?;
    if intent.requested_by != p.name {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`requested_by` is {:?} but the token belongs to {:?}: an agent requests in its own name",
                intent.requested_by, p.name
            ),
        ));
    }
    if let Some(l) = &s.c().limits.tool
        && let Err(d) = l.check(&intent.tool)
    {
        return Err(ApiError::limited(d.policy, d.retry_after));
    }
    let st = s.clone();
    let v = blocking(move || {
        let d: ActionDecision = st.c()
            .policy
            .evaluate(&intent, &bulwark_store::fs::OsPaths)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let approvers = st.approvers()?;
        let ap = Approvals::new(&*st.db, st.audit.as_ref().map(|a| a as &dyn AuditSink), approvers, st.c().cfg.approval.ttl_secs, &SystemClock);
        ap.note_mode(d.mode, &st.origin).map_err(approval_error)?;
        if let Some(a) = &st.audit {
            a.append(AuditEvent {
                event_type: EventType::Decision,
                actor: intent.requested_by.clone(),
                action: "action.check".into(),
                resource: d.summary.clone(),
                outcome: d.verdict.as_str().into(),
                details: serde_json::json!({"digest": d.digest.as_str(), "rule": d.rule, "class": d.class,
                    "mode": d.mode, "tier": d.tier, "source": intent.source}),
            })
            .map_err(|e| ApiError::internal(format!("the decision could not be recorded: {e}")))?;
        }
        let mut v = serde_json::to_value(&d).unwrap_or_default();
        v["approval"] = serde_json::Value::Null;
        if d.verdict == bulwark_core::Verdict::Review {
            let a = ap.create(&intent, &d).map_err(approval_error)?;
            if let Some(url) = st.c().notify_url.clone() {
                // In the background: the webhook's answer does not hold up the agent.
                let (pending, audit) = (a.clone(), st.audit.clone());
                std::thread::spawn(move || {
                    if let Err(e) = crate::notify::pending(url.expose_secret(), &pending, audit.as_ref()) {
                        tracing::warn!("approval notification failed: {e}");
                    }
                });
            }
            let rec = bulwark_core::approval::AnyApproval::Pending(a).to_record();
            v["approval"] = record_json(&rec);
        }
        Ok(v)
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

fn record_json(r: &bulwark_core::approval::ApprovalRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["created_at"] = r.created().into();
    v["expires_at"] = r.expires().into();
    v
}

fn approvals_for(s: &AppState) -> Result<Approvals<'_>, ApiError> {
    Ok(Approvals::new(
        &*s.db,
        s.audit.as_ref().map(|a| a as &dyn AuditSink),
        s.approvers()?,
        s.c().cfg.approval.ttl_secs,
        &SystemClock,
    ))
}

/// `GET /v1/approvals` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// pending, approved, rejected, expired or executed.
    state: Option<String>,
    /// At most this many (default 50, at most 1000).
    limit: Option<usize>,
}

/// List approvals, newest first: those the caller requested, plus every pending one if the caller
/// is an approver (holds the `approve` scope).
#[utoipa::path(get, path = "/v1/approvals", params(ListQuery),
    responses((status = 200, description = "approval records")), security(("bearer" = ["approve", "intents"])))]
async fn list_approvals(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if p.require(Scope::Approve).is_err() {
        p.require(Scope::Intents)?;
    }
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(x) => Some(StateName::parse(x).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`state` {x:?}: expected pending, approved, rejected, expired or executed"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(50).min(1000);
    let v = blocking(move || {
        let list = approvals_for(&s)?
            .list_as(&p.name, state, limit)
            .map_err(approval_error)?;
        Ok(serde_json::Value::Array(
            list.iter().map(record_json).collect(),
        ))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

fn parse_id(id: &str) -> Result<ApprovalId, ApiError> {
    ApprovalId::parse(id).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// One approval and its intent (secrets in the arguments redacted), to its requester and the
/// approvers; 404 for anyone else.
#[utoipa::path(get, path = "/v1/approvals/{id}", params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "approval, intent"), (status = 404, description = "no such approval, or not the caller's to see")),
    security(("bearer" = ["approve", "intents"])))]
async fn get_approval(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    if p.require(Scope::Approve).is_err() {
        p.require(Scope::Intents)?;
    }
    let id = parse_id(&id)?;
    let v = blocking(move || {
        let (rec, intent) = approvals_for(&s)?
            .get_as(&id, &p.name)
            .map_err(approval_error)?;
        let redactor = s.c().redactor.clone().with_detectors(Detectors {
            secrets: true,
            pii: false,
            injection: false,
        });
        let shown = bulwark_core::audit::redact_details(
            serde_json::to_value(&intent).unwrap_or_default(),
            &redactor,
        );
        Ok(serde_json::json!({"approval": record_json(&rec), "intent": shown}))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// `POST /v1/approvals/{id}/approve` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The intent digest the approver reviewed.
    digest: String,
}

/// Approve as the token's principal (needs the `approve` scope; not the requester).
#[utoipa::path(post, path = "/v1/approvals/{id}/approve", request_body = ApproveRequest,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "the approval"), (status = 409, description = "digest mismatch or wrong state")),
    security(("bearer" = ["approve"])))]
async fn approve(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(r): ApiJson<ApproveRequest>,
) -> Result<Response, ApiError> {
    p.require(Scope::Approve)?;
    let id = parse_id(&id)?;
    let digest =
        IntentDigest::parse(&r.digest).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let v = blocking(move || {
        let rec = approvals_for(&s)?
            .approve(&id, &digest, &p.name)
            .map_err(approval_error)?;
        Ok(record_json(&rec))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// `POST /v1/approvals/{id}/reject` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Why (recorded).
    #[serde(default)]
    reason: String,
}

/// Reject as the token's principal (an approver, or the requester withdrawing); 404 for anyone else.
#[utoipa::path(post, path = "/v1/approvals/{id}/reject", request_body = RejectRequest,
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "the approval"), (status = 404, description = "no such approval, or not the caller's")),
    security(("bearer" = ["approve", "intents"])))]
async fn reject(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    ApiJson(r): ApiJson<RejectRequest>,
) -> Result<Response, ApiError> {
    if p.require(Scope::Approve).is_err() {
        p.require(Scope::Intents)?;
    }
    let id = parse_id(&id)?;
    let v = blocking(move || {
        let rec = approvals_for(&s)?
            .reject_as(&id, &p.name, &r.reason)
            .map_err(approval_error)?;
        Ok(record_json(&rec))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// Consume an approval with the intent about to run: 200 means run it now (once). Only the
/// approval's requester may; an approver gets 403, anyone else 404.
#[utoipa::path(post, path = "/v1/approvals/{id}/consume", request_body(content = Object, description = "the ExecutionIntent"),
    params(("id" = String, Path, description = "approval id")),
    responses((status = 200, description = "executed"), (status = 403, description = "an approver, not the requester"),
        (status = 404, description = "no such approval, or not the caller's"),
        (status = 409, description = "not approved, already executed or another intent"),
        (status = 410, description = "expired")),
    security(("bearer" = ["intents"])))]
async fn consume(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    axum::extract::Path(id): axum::extract::Path<String>,
    IntentBody(intent): IntentBody,
) -> Result<Response, ApiError> {
    p.require(Scope::Intents)?;
    let id = parse_id(&id)?;
    let v = blocking(move || {
        let ex = approvals_for(&s)?
            .consume_as(&id, &intent, &p.name)
            .map_err(approval_error)?;
        Ok(record_json(
            &bulwark_core::approval::AnyApproval::Executed(ex).to_record(),
        ))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

/// `GET /v1/audit` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Records after this sequence number (default 0: from the start).
    after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// A page of audit records: `{"records", "next_after"}`.
#[utoipa::path(get, path = "/v1/audit", params(AuditQuery),
    responses((status = 200, description = "records, next_after")), security(("bearer" = ["audit"])))]
async fn audit_page(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    p.require(Scope::Audit)?;
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let v = blocking(move || {
        let home = audit_home(&s)?;
        let source = bulwark_store::audit_file::LogSource::from_config(&s.audit_cfg, &home);
        let mut records = Vec::new();
        let mut last = after;
        source
            .for_each_line(&mut |line, _complete, _where, _n| {
                if let Ok(r) = serde_json::from_slice::<bulwark_core::audit::AuditRecord>(line)
                    && r.seq > after
                {
                    last = r.seq;
                    records.push(r);
                }
                records.len() < limit
            })
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(serde_json::json!({"records": records, "next_after": last}))
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

fn audit_home(s: &AppState) -> Result<std::path::PathBuf, ApiError> {
    if !s.audit_cfg.enabled {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the audit log is turned off ([audit] enabled = false)",
        ));
    }
    Ok(s.home.clone())
}

/// Verify the audit log (chain, MACs, signed checkpoints), as `bulwark audit verify --format json`.
#[utoipa::path(get, path = "/v1/audit/verify",
    responses((status = 200, description = "the verification report")), security(("bearer" = ["audit"])))]
async fn audit_verify(
    State(s): State<Shared>,
    Extension(p): Extension<Principal>,
) -> Result<Response, ApiError> {
    p.require(Scope::Audit)?;
    let v = blocking(move || {
        let home = audit_home(&s)?;
        let source = bulwark_store::audit_file::LogSource::from_config(&s.audit_cfg, &home);
        let files = &s.audit_keys;
        let keys = files
            .load_hmac()
            .map_err(|e| ApiError::internal(e.to_string()))?
            .ok_or_else(|| ApiError::internal("no audit keys"))?;
        let public = files
            .load_public()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let (report, _) = source
            .verify(&bulwark_store::audit_file::DirVerify {
                keys: &keys,
                public_key: public,
            })
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(serde_json::to_value(&report).unwrap_or_default())
    })
    .await?;
    Ok(axum::Json(v).into_response())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The client's address: the peer, or (when the peer is a trusted proxy) the last address in
/// `X-Forwarded-For` that is not a trusted proxy.
fn client_ip(
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

/// Receive a webhook for the agent: verify the sender (signature or token, timestamp, replay,
/// client address), hold the payload to its label allowlist, scan every string with the content
/// guard (source `alert`), and forward it to `forward_to` with `X-Bulwark-Verdict` and
/// `X-Bulwark-Findings`, or hold it back (202) at `hold_at`. Everything is audited.
#[utoipa::path(post, path = "/v1/ingress/{source}", params(("source" = String, Path, description = "[ingress.sources] name")),
    request_body(content = Object, description = "the sender's payload, verbatim"),
    responses((status = 200, description = "verdict, findings, forwarded, upstream_status"), (status = 202, description = "held back"),
        (status = 401, description = "bad signature, token or timestamp"), (status = 403, description = "client address not allowed"),
        (status = 409, description = "replay"), (status = 502, description = "forward_to failed")))]
async fn ingress(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::extract::Path(source): axum::extract::Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let c = s.c();
    let Some(src) = c.ingress.get(&source) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such ingress source (see [ingress.sources])",
        ));
    };
    let headers = req.headers().clone();
    let client = client_ip(peer.ip(), &headers, &src.trusted_proxies);
    let refuse = |status: StatusCode, code: &'static str, message: String| {
        s.audit(AuditEvent {
            event_type: EventType::Ingress,
            actor: client.to_string(),
            action: "ingress.receive".into(),
            resource: source.clone(),
            outcome: "denied".into(),
            details: serde_json::json!({"reason": message}),
        });
        metrics::counter!("bulwark_ingress_total", "source" => source.clone(), "outcome" => code)
            .increment(1);
        Err(ApiError::new(status, code, message))
    };
    if let Some(l) = &c.limits.source
        && let Err(d) = l.check(&source)
    {
        return Err(ApiError::limited(d.policy, d.retry_after));
    }
    if !src.allow.is_empty() && !src.allow.iter().any(|n| n.contains(&client)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("client {client} is not in allow_cidrs"),
        );
    }
    let body = Bytes::from_request(req, &()).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is larger than [server] max_body_bytes",
            )
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })?;
    let lookup = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let now = now_secs();
    let verified = match src.verifier.verify(&lookup, &body, now) {
        Ok(v) => v,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()),
    };
    if let Some(id) = &verified.message_id
        && let Err(e) = s.replay.check(&source, id, now)
    {
        return refuse(StatusCode::CONFLICT, "replay", e.to_string());
    }
    // The payload: labels, then every string through the content guard.
    let text = String::from_utf8_lossy(&body);
    let payload: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(text.to_string()));
    let mut findings = Vec::new();
    for (path, message) in src.labels.violations(&payload) {
        findings.push(bulwark_core::Finding {
            kind: bulwark_core::FindingKind::Ingress,
            rule: "ingress-label".into(),
            category: None,
            severity: bulwark_core::Severity::High,
            field: Some(path),
            start: 0,
            end: 0,
            line: None,
            column: None,
            message,
            preview: String::new(),
        });
    }
    let alert = Source::parse("alert").map_err(ApiError::internal)?;
    for (path, value) in bulwark_core::webhook::strings(&payload) {
        for mut f in c
            .scanner
            .assess(value.as_bytes(), Detectors::ALL, &alert)
            .findings
        {
            f.field = Some(path.clone());
            findings.push(f);
        }
    }
    let verdict = c.scanner.verdict(&findings);
    let verdict = findings
        .iter()
        .filter(|f| f.kind == bulwark_core::FindingKind::Ingress)
        .map(|_| bulwark_core::Verdict::Block)
        .fold(verdict, std::cmp::max);
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let rules_header = rules.iter().take(20).copied().collect::<Vec<_>>().join(",");
    let held = verdict >= src.hold_at;
    let record = |outcome: &str, upstream: Option<u16>| {
        s.audit(AuditEvent {
            event_type: EventType::Ingress,
            actor: client.to_string(),
            action: "ingress.receive".into(),
            resource: source.clone(),
            outcome: outcome.into(),
            details: serde_json::json!({"verdict": verdict, "message_id": verified.message_id,
                "rules": rules, "upstream_status": upstream}),
        });
        metrics::counter!("bulwark_ingress_total", "source" => source.clone(), "outcome" => outcome.to_string()).increment(1);
    };
    if held {
        record("held", None);
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({"verdict": verdict, "held": true, "forwarded": false, "findings": findings})),
        )
            .into_response());
    }
    if src.forward_to.is_empty() {
        record("accepted", None);
        return Ok(axum::Json(serde_json::json!({"verdict": verdict, "held": false, "forwarded": false, "findings": findings}))
            .into_response());
    }
    let url = src.forward_to.clone();
    let bearer = src
        .forward_token
        .as_ref()
        .map(|t| format!("Bearer {}", t.expose_secret()));
    let content_type = lookup("content-type").unwrap_or_else(|| "application/json".into());
    let (verdict_s, source_s, rules_s) = (
        verdict.as_str().to_string(),
        source.clone(),
        rules_header.clone(),
    );
    let forwarded = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent
            .post(&url)
            .header("Content-Type", &content_type)
            .header("X-Bulwark-Verdict", &verdict_s)
            .header("X-Bulwark-Findings", &rules_s)
            .header("X-Bulwark-Source", &source_s);
        if let Some(b) = &bearer {
            req = req.header("Authorization", b.as_str());
        }
        req.send(&body[..])
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?;
    match forwarded {
        Ok(status) if (200..300).contains(&status) => {
            record("forwarded", Some(status));
            Ok(axum::Json(
                serde_json::json!({"verdict": verdict, "held": false, "forwarded": true,
                "upstream_status": status, "findings": findings}),
            )
            .into_response())
        }
        other => {
            // Not delivered: the sender's retry must not count as a replay.
            if let Some(id) = &verified.message_id {
                s.replay.forget(&source, id);
            }
            let what = match &other {
                Ok(status) => format!("forward_to answered HTTP {status}"),
                Err(e) => format!("forward_to could not be reached: {e}"),
            };
            record("forward_failed", other.as_ref().ok().copied());
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "upstream", what))
        }
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "ok")))]
async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

/// Readiness: the state database answers and the audit log accepts records.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
async fn readyz(State(s): State<Shared>) -> Response {
    let st = s.clone();
    let db_ok = blocking(move || {
        st.db
            .tokens()
            .map(|_| ())
            .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await
    .is_ok();
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(serde_json::json!({"status": if db_ok {"ready"} else {"not ready"}, "database": db_ok, "audit": s.audit.is_some()})))
        .into_response()
}

/// Prometheus metrics (text format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format")))]
async fn metrics_text(State(s): State<Shared>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    (headers, s.metrics.render()).into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI 3.1")))]
async fn openapi() -> Response {
    axum::Json(ApiDoc::openapi()).into_response()
}

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, generated from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(title = "Bulwark sidecar API", description = "Every guard over JSON. Errors are {\"error\": {\"code\", \"message\"}}."),
    paths(scan, redact, wrap, egress_check, intents, list_approvals, get_approval, approve, reject, consume,
        audit_page, audit_verify, ingress, healthz, readyz, metrics_text, openapi),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// Serve the API on `listener` until `shutdown` completes; in-flight requests are drained.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

impl AppState {
    /// The audit log this state writes (shared with the egress proxy in the same process).
    pub fn audit_log(&self) -> Option<AuditLog> {
        self.audit.clone()
    }

    /// How many active API tokens exist.
    pub fn token_count(&self) -> usize {
        self.current_tokens().map_or(0, |t| t.len())
    }
}

/// The rustls server configuration from PEM files: the certificate chain and its private key.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServeError::Config(format!("server.tls_cert {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ServeError::Config(format!(
            "server.tls_cert {}: no certificate in the file (expected PEM \"BEGIN CERTIFICATE\")",
            cert.display()
        )));
    }
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(key) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(key = %key.display(), "the TLS private key is readable by other users: chmod 600 it");
        }
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ServeError::Config(format!("server.tls_key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServeError::Config(format!("server.tls_cert/tls_key: {e}")))?;
    Ok(Arc::new(cfg))
}

/// Serve the API over TLS on `listener` until `shutdown` completes, then drain (at most 30 s).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    state: Shared,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    let app = router(state);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let (acceptor, app, watcher) = (acceptor.clone(), app.clone(), graceful.watcher());
        tokio::spawn(async move {
            // A client that never finishes its handshake does not hold a task forever.
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let mut app = app.clone();
                    async move { tower::Service::call(&mut app, req).await }
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            let _ = watcher.watch(conn).await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
    Ok(())
}

pub use crate::Reloader;

/// On every SIGHUP: re-read the configuration and swap it in, or keep the one in force.
#[cfg(unix)]
fn reload_on_hangup(state: Shared, reload: Reloader) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP: the configuration is not reloadable");
            return;
        };
        while hup.recv().await.is_some() {
            let (st, reload) = (state.clone(), reload.clone());
            let result = tokio::task::spawn_blocking(move || match reload() {
                Ok(cfg) => st.reload(cfg).map_err(|e| e.to_string()),
                Err(e) => {
                    st.audit(AuditEvent {
                        event_type: EventType::ConfigChange,
                        actor: "bulwark".into(),
                        action: "server.reload".into(),
                        resource: st.origin.clone(),
                        outcome: "error".into(),
                        details: serde_json::json!({"error": e}),
                    });
                    Err(e)
                }
            })
            .await;
            match result {
                Ok(Ok(())) => tracing::info!("configuration reloaded"),
                Ok(Err(e)) => tracing::error!(
                    "configuration NOT reloaded, the previous one stays in force: {e}"
                ),
                Err(e) => tracing::error!("configuration reload failed: {e}"),
            }
        }
    });
}

/// `bulwark serve`: the API (and the egress proxy when `[server] egress_proxy`), until Ctrl-C or
/// SIGTERM, draining in-flight requests; SIGHUP reloads the configuration through `reload`.
pub fn run_blocking(
    cfg: SecurityConfig,
    listen: Option<SocketAddr>,
    origin: String,
    reload: Reloader,
) -> Result<(), ServeError> {
    crate::init_logging();
    let addr: SocketAddr = match listen {
        Some(a) => a,
        None => cfg
            .server
            .listen
            .parse()
            .map_err(|_| ServeError::Config("server.listen is not ADDR:PORT".into()))?,
    };
    let tls = if cfg.server.tls_cert.is_empty() {
        None
    } else {
        Some(tls_config(
            Path::new(&cfg.server.tls_cert),
            Path::new(&cfg.server.tls_key),
        )?)
    };
    if !addr.ip().is_loopback() && tls.is_none() {
        if !cfg.server.allow_plaintext_public {
            return Err(ServeError::Config(format!(
                "refusing to serve plain HTTP on {addr}: set [server] tls_cert and tls_key (PEM files) to serve HTTPS, listen on loopback (the default, 127.0.0.1:8844), or set [server] allow_plaintext_public = true (API tokens then cross the network in clear)"
            )));
        }
        tracing::warn!(%addr, "ALLOW_PLAINTEXT_PUBLIC: serving plain HTTP beyond loopback; API tokens and approvals cross the network unencrypted");
    }
    let home = bulwark_core::config::bulwark_home(&|k| std::env::var(k).ok()).ok_or_else(|| {
        ServeError::Config("neither $BULWARK_HOME nor $HOME is set: set BULWARK_HOME".into())
    })?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let proxy_cfg = cfg.clone();
    let state = Arc::new(AppState::open(cfg, origin.clone(), &home)?);
    if state.token_count() == 0 {
        tracing::warn!(
            "no API tokens yet: every call but /healthz, /readyz and /metrics gets 401. Create one with `bulwark token create --name NAME --scope scan,egress,intents`"
        );
    }
    if state.audit.is_none() {
        tracing::warn!("[audit] enabled = false: decisions and approvals leave no evidence");
    }
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            ServeError::Config(format!(
                "cannot listen on {addr}: {e} (another process may hold it: stop it, or choose another address with --listen or [server] listen)"
            ))
        })?;
        let local = listener.local_addr()?;
        if proxy_cfg.server.egress_proxy {
            let paddr: SocketAddr =
                proxy_cfg.egress.proxy.listen.parse().map_err(|_| {
                    ServeError::Config("egress.proxy.listen is not ADDR:PORT".into())
                })?;
            let pl = tokio::net::TcpListener::bind(paddr).await.map_err(|e| {
                ServeError::Config(format!(
                    "cannot listen on {paddr} for the egress proxy: {e} (another process may hold it: stop it, or choose another address with [egress.proxy] listen)"
                ))
            })?;
            let plocal = pl.local_addr()?;
            let pstate = Arc::new(
                crate::proxy::ProxyState::new(&proxy_cfg, plocal, state.audit_log())
                    .map_err(|e| ServeError::Config(e.to_string()))?,
            );
            let _ = state.proxy.set(pstate.clone());
            tracing::info!(%plocal, "egress proxy listening");
            tokio::spawn(async move {
                if let Err(e) = crate::proxy::serve(pl, pstate).await {
                    tracing::error!(error = %e, "egress proxy stopped");
                }
            });
        }
        #[cfg(unix)]
        reload_on_hangup(state.clone(), reload);
        #[cfg(not(unix))]
        let _ = reload;
        match tls {
            Some(tls) => {
                tracing::info!(%local, config = %origin, "bulwark API listening (HTTPS)");
                serve_tls(listener, state, tls, crate::shutdown_signal()).await?;
            }
            None => {
                tracing::info!(%local, config = %origin, "bulwark API listening");
                serve(listener, state, crate::shutdown_signal()).await?;
            }
        }
        tracing::info!("stopped");
        Ok(())
    })
}
