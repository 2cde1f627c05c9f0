//! Serving: plain HTTP or TLS, graceful shutdown, reload on SIGHUP, and `bulwark serve` itself.

use super::*;

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

/// On every SIGHUP: re-read the configuration and swap it in, or keep the one in force.
#[cfg(unix)]
pub(crate) fn reload_on_hangup(state: Shared, reload: Reloader) {
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
                    st.audit(AuditEvent::reload(&st.origin, Some(&e)));
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
