//! The egress proxy: an HTTP forward proxy and CONNECT tunnels that enforce the egress guard on
//! the connection actually made.
//!
//! Threat answered: an agent tool (or a library it uses) fetching an internal or metadata address,
//! directly or through DNS rebinding. Every request is judged by [`bulwark_core::egress`]; the proxy
//! connects only to the addresses the guard pinned, never re-resolves, refuses connections back to
//! itself, and forwards the request as the guard parsed it (origin-form path and `Host` from the
//! WHATWG parse), so the upstream sees the host that was judged. TLS in CONNECT tunnels passes
//! through untouched. Redirects are the client's to follow: each new request is judged again.

mod forward;
mod tunnel;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bulwark_core::config::{ProxyConfig, ResponseScan};
use bulwark_core::egress::clients::{ClientAuthError, ProxyClients};
use bulwark_core::egress::{EgressDecision, EgressGuard, EgressPolicy, Plan, ResolveError};
use bulwark_core::scan::Detectors;
use bulwark_core::scan::injection::Source;
use bulwark_core::{Policy, Scanner, SecurityConfig, Verdict};
use bytes::Bytes;
use http_body::{Body as _, Frame};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};

use forward::*;
use tunnel::*;

/// The body type of every response the proxy sends.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The configuration does not compile (already named by `bulwark config check`).
    #[error("egress configuration: {0}")]
    Config(String),
    /// The listening socket could not be opened.
    #[error(
        "cannot listen on {addr}: {source} (is another process using the port? pass --listen ADDR:PORT)"
    )]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

/// What the configuration compiles to for the proxy: swapped whole on reload, and loaded once
/// per request, so one request is decided by one policy throughout.
pub struct ProxyPolicy {
    guard: EgressGuard,
    clients: ProxyClients,
    cfg: ProxyConfig,
    scanner: Option<Scanner>,
    /// `[egress.proxy] client_per_sec`, per client address.
    limit: Option<bulwark_core::ratelimit::Limiter<std::net::IpAddr>>,
}

impl ProxyPolicy {
    /// Compile the proxy's policy for a listener bound to `local` (connections back to it are
    /// refused).
    /// Its per-client limit counts in `store`.
    pub fn compile(
        cfg: &SecurityConfig,
        local: SocketAddr,
        store: &Arc<dyn bulwark_core::ratelimit::LimitStore>,
    ) -> Result<ProxyPolicy, ProxyError> {
        let guard =
            EgressGuard::from_config(&cfg.egress).map_err(|e| ProxyError::Config(e.to_string()))?;
        let scanner = match cfg.egress.proxy.scan_responses {
            ResponseScan::Off => None,
            _ => Some(Scanner::new(&cfg.scan).map_err(|e| ProxyError::Config(e.to_string()))?),
        };
        ProxyPolicy::assemble(cfg, guard, scanner, local, store)
    }

    /// The proxy's policy from guards already compiled (`bulwark serve`: the API's [`Policy`]),
    /// so the API and the proxy decide with the same egress guard and scanner, compiled once.
    pub fn from_policy(
        policy: &Policy,
        local: SocketAddr,
        store: &Arc<dyn bulwark_core::ratelimit::LimitStore>,
    ) -> Result<ProxyPolicy, ProxyError> {
        let scanner = match policy.cfg.egress.proxy.scan_responses {
            ResponseScan::Off => None,
            _ => Some(policy.scanner.clone()),
        };
        ProxyPolicy::assemble(&policy.cfg, policy.egress.clone(), scanner, local, store)
    }

    fn assemble(
        cfg: &SecurityConfig,
        mut guard: EgressGuard,
        scanner: Option<Scanner>,
        local: SocketAddr,
        store: &Arc<dyn bulwark_core::ratelimit::LimitStore>,
    ) -> Result<ProxyPolicy, ProxyError> {
        // Connections back to the proxy's own listener are refused.
        guard.set_self_addresses(&[local]);
        let clients = ProxyClients::from_config(&cfg.egress.proxy)
            .map_err(|e| ProxyError::Config(e.to_string()))?;
        Ok(ProxyPolicy {
            guard,
            clients,
            cfg: cfg.egress.proxy.clone(),
            scanner,
            limit: bulwark_core::ratelimit::Rate::per_second(cfg.egress.proxy.client_per_sec)
                .map(|r| bulwark_core::ratelimit::Limiter::new("proxy-client", r, store.clone())),
        })
    }

    /// The names of the egress profiles.
    pub fn profile_names(&self) -> Vec<&str> {
        self.guard.profile_names()
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(self.cfg.idle_timeout_secs)
    }

    fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.connect_timeout_secs)
    }
}

/// The proxy as it runs: its listener's address, the audit log, the open tunnels, and the policy
/// in force, which a reload (SIGHUP) replaces atomically. `bulwark serve` reloads it together
/// with the API's, from the same configuration.
pub struct ProxyState {
    audit: Option<bulwark_store::AuditLog>,
    local: SocketAddr,
    /// Sized by `max_tunnels` at start; a reload does not resize it.
    tunnels: Arc<Semaphore>,
    policy: arc_swap::ArcSwap<ProxyPolicy>,
    /// Where the per-client limit counts, kept across reloads.
    store: Arc<dyn bulwark_core::ratelimit::LimitStore>,
}

/// One request's view: the policy loaded when it arrived, and the process-wide parts.
struct Snapshot {
    audit: Option<bulwark_store::AuditLog>,
    tunnels: Arc<Semaphore>,
    pol: Arc<ProxyPolicy>,
}

impl ProxyState {
    /// Compile the proxy's state for a listener bound to `local`. Every decision is recorded in
    /// `audit` when given, before it takes effect.
    pub fn new(
        cfg: &SecurityConfig,
        local: SocketAddr,
        audit: Option<bulwark_store::AuditLog>,
    ) -> Result<ProxyState, ProxyError> {
        let store = Arc::new(bulwark_core::ratelimit::InProcess::new(
            bulwark_core::ratelimit::DefaultClock::default(),
        ));
        ProxyState::build(cfg, local, audit, store, |store| {
            ProxyPolicy::compile(cfg, local, store)
        })
    }

    /// [`ProxyState::new`] with the guards of an already compiled [`Policy`] (`bulwark serve`),
    /// its per-client limit counted in the sidecar's `store`.
    pub fn for_policy(
        policy: &Policy,
        local: SocketAddr,
        audit: Option<bulwark_store::AuditLog>,
        store: Arc<dyn bulwark_core::ratelimit::LimitStore>,
    ) -> Result<ProxyState, ProxyError> {
        ProxyState::build(&policy.cfg, local, audit, store, |store| {
            ProxyPolicy::from_policy(policy, local, store)
        })
    }

    fn build(
        cfg: &SecurityConfig,
        local: SocketAddr,
        audit: Option<bulwark_store::AuditLog>,
        store: Arc<dyn bulwark_core::ratelimit::LimitStore>,
        policy: impl FnOnce(
            &Arc<dyn bulwark_core::ratelimit::LimitStore>,
        ) -> Result<ProxyPolicy, ProxyError>,
    ) -> Result<ProxyState, ProxyError> {
        Ok(ProxyState {
            audit,
            local,
            tunnels: Arc::new(Semaphore::new(cfg.egress.proxy.max_tunnels)),
            policy: arc_swap::ArcSwap::from_pointee(policy(&store)?),
            store,
        })
    }

    /// Compile `cfg` for this proxy's listener, without putting it in force.
    pub fn compile(&self, cfg: &SecurityConfig) -> Result<ProxyPolicy, ProxyError> {
        ProxyPolicy::compile(cfg, self.local, &self.store)
    }

    /// This proxy's policy from guards already compiled, without putting it in force.
    pub fn from_policy(&self, policy: &Policy) -> Result<ProxyPolicy, ProxyError> {
        ProxyPolicy::from_policy(policy, self.local, &self.store)
    }

    /// Put a compiled policy in force: requests that arrive from now on are decided by it.
    pub fn swap(&self, policy: ProxyPolicy) {
        self.policy.store(Arc::new(policy));
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<ProxyPolicy> {
        self.policy.load_full()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            audit: self.audit.clone(),
            tunnels: self.tunnels.clone(),
            pol: self.policy.load_full(),
        }
    }
}

/// Run the proxy until interrupted (Ctrl-C), on a runtime of its own. Logs go to stderr.
pub fn run_blocking(
    cfg: &SecurityConfig,
    listen: Option<SocketAddr>,
    config_origin: &str,
    reload: crate::Reloader,
) -> Result<(), ProxyError> {
    let addr = listen.unwrap_or(cfg.egress.proxy.listen);
    crate::init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ProxyError::Runtime)?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ProxyError::Listen { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| ProxyError::Listen { addr, source })?;
        let audit = if cfg.audit.enabled {
            let home = bulwark_core::config::bulwark_home(&|k| std::env::var(k).ok()).ok_or_else(|| {
                ProxyError::Config("neither $BULWARK_HOME nor $HOME is set: set BULWARK_HOME".into())
            })?;
            let env = |k: &str| std::env::var(k).ok();
            let vault = bulwark_store::vault_file::VaultStore::new(cfg.vault.file(&home));
            let secrets = bulwark_store::vault_file::Secrets::load(cfg, &vault, &env)
                .map_err(|e| ProxyError::Config(e.to_string()))?;
            let (log, _) = bulwark_store::audit_open::open_or_relay(cfg, &home, &secrets, &env)
                .map_err(|e| ProxyError::Config(format!("audit log: {e}")))?;
            Some(log)
        } else {
            tracing::warn!("[audit] enabled = false: egress decisions are not recorded in the audit log");
            None
        };
        let state = Arc::new(ProxyState::new(cfg, local, audit)?);
        if !local.ip().is_loopback() {
            tracing::warn!(%local, "the egress proxy listens beyond loopback: anyone who can reach it can use it");
        }
        if !cfg.egress.enabled {
            tracing::warn!("[egress] enabled = false: the proxy forwards every request unchecked");
        }
        tracing::info!(%local, config = config_origin, profiles = ?state.policy().profile_names(), "egress proxy listening");
        #[cfg(unix)]
        reload_on_hangup(state.clone(), reload);
        #[cfg(not(unix))]
        let _ = reload;
        tokio::select! {
            r = serve(listener, state) => r.map_err(|source| ProxyError::Listen { addr, source }),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted: egress proxy stopped");
                Ok(())
            }
        }
    })
}

/// On every SIGHUP: re-read the configuration and put the proxy's new policy in force, or keep the
/// one in force when it does not load or compile.
#[cfg(unix)]
fn reload_on_hangup(state: Arc<ProxyState>, reload: crate::Reloader) {
    crate::on_hangup(move || {
        let outcome = reload().and_then(|cfg| state.compile(&cfg).map_err(|e| e.to_string()));
        if let Some(log) = &state.audit {
            let error = outcome.as_ref().err().map(String::as_str);
            let event = bulwark_core::audit::AuditEvent::reload("egress proxy", error);
            if let Err(e) = log.submit(event) {
                tracing::error!(error = %e, "audit log unavailable: the reload was not recorded");
            }
        }
        state.swap(outcome?);
        Ok(())
    });
}

/// Accept connections on `listener` and serve each on its own task, forever.
pub async fn serve(listener: TcpListener, state: Arc<ProxyState>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let upstream: Arc<Mutex<Option<Pooled>>> = Arc::new(Mutex::new(None));
            let svc_state = state.clone();
            let svc = hyper::service::service_fn(move |req| {
                handle(svc_state.clone(), peer, upstream.clone(), req)
            });
            let pol = state.policy();
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(pol.idle())
                .max_buf_size(pol.cfg.max_header_bytes.max(8192))
                .max_header_size(pol.cfg.max_header_bytes);
            drop(pol);
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await
            {
                tracing::debug!(%peer, error = %e, "client connection ended with an error");
            }
        });
    }
}

/// The upstream connection of one client connection, reused while the client asks for the same
/// pinned address and host.
struct Pooled {
    addr: SocketAddr,
    host: String,
    sender: hyper::client::conn::http1::SendRequest<ProxyBody>,
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<ProxyBody> {
    let mut r = Response::new(full(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    json_response(
        status,
        serde_json::json!({"error": {"code": code, "message": message}}),
    )
}

fn full(b: Bytes) -> ProxyBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn denial(d: &EgressDecision) -> Response<ProxyBody> {
    let mut r = json_response(
        StatusCode::FORBIDDEN,
        serde_json::to_value(d).unwrap_or_default(),
    );
    r.headers_mut().insert(
        HeaderName::from_static("x-bulwark-deny-reason"),
        HeaderValue::from_static(d.reason().as_str()),
    );
    r
}

fn log_decision(d: &EgressDecision, peer: SocketAddr, client: Option<&str>, method: &Method) {
    crate::count_decision("egress", d.decision().as_str());
    if !tracing::enabled!(target: "bulwark::egress", tracing::Level::INFO) {
        return;
    }
    let addrs: Vec<String> = d.addresses().iter().map(IpAddr::to_string).collect();
    tracing::info!(
        target: "bulwark::egress",
        decision = d.decision().as_str(),
        reason = d.reason().as_str(),
        %peer,
        client = client.unwrap_or("-"),
        profile = %d.profile(),
        %method,
        url = d.url().unwrap_or("-"),
        addresses = %addrs.join(","),
        message = %d.message(),
    );
}

/// Record a decision in the audit log before it takes effect. `Err` holds the response to send
/// instead (fail closed: no evidence, no connection).
async fn record(
    state: &Snapshot,
    d: &EgressDecision,
    peer: SocketAddr,
    client: Option<&str>,
    method: &Method,
) -> Result<(), Response<ProxyBody>> {
    let Some(log) = state.audit.clone() else {
        return Ok(());
    };
    use bulwark_core::audit::AuditEvent;
    use bulwark_core::audit::events::EgressAsk;
    let ask = if method == Method::CONNECT {
        EgressAsk::Tunnel
    } else {
        EgressAsk::Forward
    };
    let actor = client.map_or_else(|| format!("anonymous@{}", peer.ip()), str::to_string);
    let event =
        AuditEvent::egress(ask, actor, d).with_detail("peer", serde_json::json!(peer.to_string()));
    if !state.pol.cfg.audit_wait {
        if let Err(e) = log.submit(event) {
            tracing::error!(error = %e, "audit log unavailable: a decision was not recorded");
        }
        return Ok(());
    }
    let started = std::time::Instant::now();
    let appended = log.append_async(event).await;
    crate::observe_audit_append(started);
    match appended {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(error = %e, "audit log unavailable: request refused");
            Err(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit_unavailable",
                &format!(
                    "the decision could not be recorded in the audit log ({e}); nothing was forwarded"
                ),
            ))
        }
    }
}

async fn decide(state: &Snapshot, policy: &EgressPolicy, plan: Plan) -> EgressDecision {
    match plan {
        Plan::Decided(d) => d,
        Plan::Resolve(p) => {
            let lookup = tokio::net::lookup_host((p.host().to_string(), p.port()));
            let answers = match tokio::time::timeout(state.pol.connect_timeout(), lookup).await {
                Ok(Ok(it)) => Ok(it.map(|a| a.ip()).collect()),
                Ok(Err(e)) => Err(ResolveError(e.to_string())),
                Err(_) => Err(ResolveError(format!(
                    "no answer within {} s",
                    state.pol.cfg.connect_timeout_secs
                ))),
            };
            policy.finish(p, answers)
        }
    }
}

async fn connect_pinned(
    addrs: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::other("no address to connect to");
    for ip in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect((*ip, port))).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = e,
            Err(_) => {
                last = std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{ip}:{port} did not answer within {} s", timeout.as_secs()),
                )
            }
        }
    }
    Err(last)
}

async fn handle(
    state: Arc<ProxyState>,
    peer: SocketAddr,
    upstream: Arc<Mutex<Option<Pooled>>>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let state = Arc::new(state.snapshot());
    let refused = match &state.pol.limit {
        Some(l) => l.check(&peer.ip()).await.err(),
        None => None,
    };
    if let Some(bulwark_core::ratelimit::Refused::Unavailable(u)) = &refused {
        tracing::warn!(target: "bulwark::egress", %peer, error = %u, "proxy limit store out of reach");
        let mut r = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            &crate::api::fails_closed(u.limit, u),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Ok(r);
    }
    if let Some(bulwark_core::ratelimit::Refused::Over(d)) = refused {
        tracing::warn!(target: "bulwark::egress", %peer, policy = %d.policy, "proxy client over its rate");
        let mut r = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &format!(
                "more than [egress.proxy] client_per_sec from this address: retry in {} s",
                d.retry_after.as_secs().max(1)
            ),
        );
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&d.retry_after.as_secs().max(1).to_string()) {
            h.insert(header::RETRY_AFTER, v);
        }
        if let Ok(v) = HeaderValue::from_str(&d.policy) {
            h.insert("ratelimit-policy", v);
        }
        return Ok(r);
    }
    let auth = req
        .headers()
        .get(header::PROXY_AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let identity = match state.pol.clients.authenticate(auth) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(target: "bulwark::egress", %peer, error = %e, "proxy client refused");
            let mut r = error_response(
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                match e {
                    ClientAuthError::Missing => "client_auth_required",
                    ClientAuthError::Malformed => "client_auth_malformed",
                    ClientAuthError::Rejected => "client_auth_rejected",
                },
                &format!("{e}: send Proxy-Authorization: Basic base64(client-name:token)"),
            );
            r.headers_mut().insert(
                header::PROXY_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"bulwark egress proxy\""),
            );
            return Ok(r);
        }
    };
    let Some(policy) = state.pol.guard.policy(Some(identity.profile)) else {
        return Ok(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "unknown_profile",
            "the client's egress profile does not exist",
        ));
    };
    let client = identity.name.map(str::to_string);
    if req.method() == Method::CONNECT {
        return Ok(tunnel(state.clone(), policy, peer, client.as_deref(), req).await);
    }
    Ok(forward(&state, policy, peer, client.as_deref(), upstream, req).await)
}
