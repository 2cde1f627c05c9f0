//! Serving: plain HTTP or TLS, graceful shutdown, reload on SIGHUP, and `bulwark serve` itself.

use super::*;

/// Serve the API on `listener` until `shutdown` completes; in-flight requests are drained.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_connections(listener, state, None, shutdown).await
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
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve_connections(listener, state, Some(acceptor), shutdown).await
}

/// What every connection is held to, from `[server]` as the server started.
#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    /// For a request head (and for a TLS handshake).
    head: Duration,
    /// For a request body, once its head arrived.
    body: Duration,
    /// Open connections per client address.
    per_client: u32,
}

/// Open connections per client address.
#[derive(Default)]
struct Slots(std::sync::Mutex<HashMap<std::net::IpAddr, u32>>);

/// One open connection of one client; dropped when the connection ends.
struct Slot {
    slots: Arc<Slots>,
    ip: std::net::IpAddr,
}

impl Slots {
    /// A slot for `ip`, or `None` when it already holds `max`.
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, max: u32) -> Option<Slot> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self
            .slots
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Accept connections until `shutdown`, each in its own task: a client past its connection cap is
/// closed at once, a head (or TLS handshake) that takes too long closes the connection, a body that
/// takes too long gets 408. Then drain for at most 30 s.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    state: Shared,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let limits = {
        let c = state.c();
        ConnectionLimits {
            head: Duration::from_secs(c.cfg.server.header_timeout_secs),
            body: Duration::from_secs(c.cfg.server.body_timeout_secs),
            per_client: c.cfg.server.connections_per_client,
        }
    };
    let app = router(state.clone());
    let slots = Arc::new(Slots::default());
    // Failed-authentication counts are recorded as their windows close, and all at the end.
    let flusher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                state.flush_auth_failures(false);
            }
        })
    };
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(slot) = slots.take(peer.ip(), limits.per_client) else {
            metrics::counter!("bulwark_connections_refused_total").increment(1);
            tracing::debug!(%peer, "connection refused: the client holds [server] connections_per_client");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (app, watcher, tls) = (app.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    let req = req.map(|b| axum::body::Body::new(DeadlineBody::new(b, limits.body)));
                    let mut app = app.clone();
                    async move { tower::Service::call(&mut app, req).await }
                },
            );
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.head);
            match tls {
                Some(acceptor) => {
                    // A client that never finishes its handshake does not hold a task forever.
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(limits.head, acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(stream), svc))
                        .await;
                }
                None => {
                    let _ = watcher
                        .watch(http.serve_connection(TokioIo::new(tcp), svc))
                        .await;
                }
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
    flusher.abort();
    state.flush_auth_failures(true);
    Ok(())
}

/// A request body that fails with [`BodyTimedOut`] once `deadline` passes before its end.
struct DeadlineBody {
    inner: hyper::body::Incoming,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    fn new(inner: hyper::body::Incoming, within: Duration) -> DeadlineBody {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(within)),
        }
    }
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        use std::future::Future;
        let this = &mut *self;
        if let std::task::Poll::Ready(frame) = std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            return std::task::Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match this.deadline.as_mut().poll(cx) {
            std::task::Poll::Ready(()) => std::task::Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that did not arrive within `[server] body_timeout_secs`.
#[derive(Debug, thiserror::Error)]
#[error("the body did not arrive in time")]
pub(crate) struct BodyTimedOut;

/// On every SIGHUP: re-read the configuration and swap it in, or keep the one in force.
#[cfg(unix)]
pub(crate) fn reload_on_hangup(state: Shared, reload: Reloader) {
    crate::on_hangup(move || match reload() {
        Ok(cfg) => state.reload(cfg).map_err(|e| e.to_string()),
        Err(e) => {
            state.audit(AuditEvent::reload(&state.origin, Some(&e)));
            Err(e)
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
    let addr: SocketAddr = listen.unwrap_or(cfg.server.listen);
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
            let paddr: SocketAddr = proxy_cfg.egress.proxy.listen;
            let pl = tokio::net::TcpListener::bind(paddr).await.map_err(|e| {
                ServeError::Config(format!(
                    "cannot listen on {paddr} for the egress proxy: {e} (another process may hold it: stop it, or choose another address with [egress.proxy] listen)"
                ))
            })?;
            let plocal = pl.local_addr()?;
            let pstate = Arc::new(
                crate::proxy::ProxyState::for_policy(
                    &state.c().policy,
                    plocal,
                    state.audit_log(),
                    state.limit_store.clone(),
                )
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
