//! Bulwark's network edge. The guards in `bulwark-core` decide; this crate acts on sockets.
//!
//! It holds the sidecar HTTP API ([`api`], axum), the egress proxy ([`proxy`], hyper), approval
//! notifications ([`notify`]) and the system resolver both use.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod deliver;
mod gateway;
mod mcp;
pub mod notify;
pub mod proxy;

use std::net::{IpAddr, ToSocketAddrs};

use bulwark_core::egress::{ResolveError, Resolver};

/// The operating system's resolver (getaddrinfo: /etc/hosts, then DNS), as HTTP clients use it.
/// Blocking: call it off the async runtime's worker threads.
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, ResolveError> {
        (host, port)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect())
            .map_err(|e| ResolveError(e.to_string()))
    }
}

/// Count one guard decision for `/metrics`: `bulwark_decisions_total{guard, verdict}` (guard
/// `content`, `egress`, `action` or `ingress`).
pub(crate) fn count_decision(guard: &'static str, verdict: &str) {
    metrics::counter!("bulwark_decisions_total", "guard" => guard, "verdict" => verdict.to_string())
        .increment(1);
}

/// Record how long one durable audit append took: `bulwark_audit_append_seconds`.
pub(crate) fn observe_audit_append(started: std::time::Instant) {
    metrics::histogram!("bulwark_audit_append_seconds").record(started.elapsed().as_secs_f64());
}

/// On every SIGHUP, run `reload` off the async workers and log what came of it: `Ok` the new
/// configuration is in force, `Err` it was refused and the one in force stays.
#[cfg(unix)]
pub(crate) fn on_hangup(reload: impl Fn() -> Result<(), String> + Send + Sync + 'static) {
    let reload = std::sync::Arc::new(reload);
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP: the configuration is not reloadable");
            return;
        };
        while hup.recv().await.is_some() {
            let reload = reload.clone();
            match tokio::task::spawn_blocking(move || reload()).await {
                Ok(Ok(())) => tracing::info!("configuration reloaded"),
                Ok(Err(e)) => tracing::error!(
                    "configuration NOT reloaded, the previous one stays in force: {e}"
                ),
                Err(e) => tracing::error!("configuration reload failed: {e}"),
            }
        }
    });
}

/// How `bulwark serve` and `bulwark egress proxy` re-read their configuration on SIGHUP.
pub type Reloader =
    std::sync::Arc<dyn Fn() -> Result<bulwark_core::SecurityConfig, String> + Send + Sync>;

/// Log to standard error at `BULWARK_LOG` (`off`, `error`, `warn`, `info` (default), `debug`,
/// `trace`). Every proxy decision is logged at `info`.
pub fn init_logging() {
    let level = match std::env::var("BULWARK_LOG").as_deref() {
        Ok("off") => None,
        Ok("error") => Some(tracing::Level::ERROR),
        Ok("warn") => Some(tracing::Level::WARN),
        Ok("debug") => Some(tracing::Level::DEBUG),
        Ok("trace") => Some(tracing::Level::TRACE),
        _ => Some(tracing::Level::INFO),
    };
    if let Some(level) = level {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(level)
            .try_init();
    }
}

/// Resolves on Ctrl-C or SIGTERM: the signal to stop accepting and drain.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
