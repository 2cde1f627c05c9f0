//! What the API runs on: the compiled configuration (swapped whole on reload), the state database, the audit log and its relay, the token cache, the egress proxy beside it.

use super::*;

/// What the configuration compiles to: the guards' [`Policy`] (shared with the egress proxy
/// `serve` runs) and what only the API needs. Swapped whole on reload (SIGHUP).
pub struct Compiled {
    pub(crate) policy: Arc<Policy>,
    pub(crate) limits: Limits,
    pub(crate) ingress: HashMap<String, IngressSource>,
    /// `[approval] notify_url`, resolved from the vault when it is a `vault:NAME` reference.
    pub(crate) notify_url: Option<secrecy::SecretString>,
    /// `[gateway]`: the upstreams with their keys.
    pub(crate) gateway: Arc<crate::gateway::Upstreams>,
    /// `[mcp.servers]` with a `url`: the MCP servers `/mcp/{name}` serves, with their keys.
    pub(crate) mcp: Arc<crate::mcp::McpUpstreams>,
    /// `[approval.slack]` and `[approval.discord]`, with their secrets.
    pub(crate) chats: super::Chats,
    /// `[console.oidc] client_secret`, resolved.
    pub(crate) oidc_secret: Option<secrecy::SecretString>,
    /// `[server] trusted_proxies`.
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
}

/// One compiled webhook source.
pub(crate) struct IngressSource {
    pub(crate) verifier: bulwark_core::webhook::WebhookVerifier,
    pub(crate) labels: bulwark_core::webhook::LabelPolicy,
    pub(crate) allow: Vec<ipnet::IpNet>,
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
    pub(crate) forward_to: String,
    /// Sent to `forward_to` as a bearer token (from the vault).
    pub(crate) forward_token: Option<secrecy::SecretString>,
    pub(crate) hold_at: bulwark_core::Verdict,
}

pub(crate) fn compile_ingress(
    cfg: &bulwark_core::config::IngressConfig,
    secrets: &Secrets,
) -> Result<HashMap<String, IngressSource>, ServeError> {
    let mut out = HashMap::new();
    let env = |k: &str| std::env::var(k).ok();
    for (name, src) in &cfg.sources {
        let setting = |field: &str, e: String| {
            ServeError::Config(format!("ingress.sources.{name}.{field}: {e}"))
        };
        let secret = if src.secret_env.is_empty() {
            secrets
                .value(&src.secret, &env)
                .map_err(|e| setting("secret", e))?
                .unwrap_or_else(|| secrecy::SecretString::from(String::new()))
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
                allow: src.allow_cidrs.iter().map(|n| n.0).collect(),
                trusted_proxies: src.trusted_proxies.iter().map(|n| n.0).collect(),
                forward_to: src
                    .forward_to
                    .as_ref()
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                forward_token: secrets
                    .value(&src.forward_token, &env)
                    .map_err(|e| setting("forward_token", e))?,
                hold_at: src.hold_at,
            },
        );
    }
    Ok(out)
}

/// The configuration's `vault:NAME` references, decrypted (one vault unlock).
pub(crate) fn load_secrets(cfg: &SecurityConfig, home: &Path) -> Result<Secrets, ServeError> {
    let vault = bulwark_store::vault_file::VaultStore::new(cfg.vault.file(home));
    Secrets::load(cfg, &vault, &|k| std::env::var(k).ok())
        .map_err(|e| ServeError::Config(e.to_string()))
}

impl std::ops::Deref for Compiled {
    type Target = Policy;

    /// The guards: `c.scanner`, `c.egress`, `c.action`, `c.cfg`.
    fn deref(&self) -> &Policy {
        &self.policy
    }
}

impl Compiled {
    pub(crate) fn new(
        cfg: SecurityConfig,
        home: &Path,
        secrets: &Secrets,
        limit_store: &Arc<dyn bulwark_core::ratelimit::LimitStore>,
    ) -> Result<Compiled, ServeError> {
        let env = |k: &str| std::env::var(k).ok();
        let ingress = compile_ingress(&cfg.ingress, secrets)?;
        let notify_url = secrets
            .value(&cfg.approval.notify_url, &env)
            .map_err(|e| ServeError::Config(format!("approval.notify_url: {e}")))?;
        let gateway = crate::gateway::Upstreams::compile(&cfg.gateway, &|key, r| {
            secrets.value(r, &env).map_err(|e| format!("{key}: {e}"))
        })
        .map_err(ServeError::Config)?;
        let mcp = crate::mcp::McpUpstreams::compile(&cfg.mcp, &|key, r| {
            secrets.value(r, &env).map_err(|e| format!("{key}: {e}"))
        })
        .map_err(ServeError::Config)?;
        let chats = super::Chats::compile(&cfg.approval, &cfg.console, &|key, r| {
            secrets
                .value(r, &env)
                .map_err(|e| format!("{key}: {e}"))?
                .ok_or_else(|| format!("{key}: not set"))
        })?;
        let oidc_secret = secrets
            .value(&cfg.console.oidc.client_secret, &env)
            .map_err(|e| ServeError::Config(format!("console.oidc.client_secret: {e}")))?;
        let policy = Policy::compile(cfg, home, &|k| secrets.lookup(k, &env))
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let cfg = &policy.cfg;
        let route_paths: Vec<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
        let limits = Limits::new(
            &cfg.server.limits,
            cfg.ingress.source_per_min,
            &route_paths,
            limit_store.clone(),
        )
        .map_err(|e| ServeError::Config(e.to_string()))?;
        let trusted_proxies = cfg.server.trusted_proxies.iter().map(|n| n.0).collect();
        Ok(Compiled {
            ingress,
            notify_url,
            policy: Arc::new(policy),
            limits,
            gateway: Arc::new(gateway),
            mcp: Arc::new(mcp),
            chats,
            oidc_secret,
            trusted_proxies,
        })
    }
}

/// Active tokens by id.
pub(crate) type TokenMap = Arc<HashMap<String, TokenRecord>>;

/// The token cache: the active tokens, when they were read, and the generation of token changes
/// announced by other processes at the time; a cache read before the last announcement is stale
/// whatever its age.
pub(crate) struct Tokens {
    cache: RwLock<(Instant, TokenMap, u64)>,
    generation: std::sync::atomic::AtomicU64,
}

impl Tokens {
    fn new() -> Tokens {
        Tokens {
            cache: RwLock::new((Instant::now(), Arc::new(HashMap::new()), u64::MAX)),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The cached tokens, if read less than `ttl` ago and after the last announced change.
    fn fresh(&self, ttl: Duration) -> Option<TokenMap> {
        let g = self.cache.read().ok()?;
        let now = self.generation.load(std::sync::atomic::Ordering::Acquire);
        (g.0.elapsed() < ttl && g.2 == now).then(|| g.1.clone())
    }

    /// Another process changed the tokens.
    fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Everything a request needs: the compiled configuration (swappable) and what lives as long as
/// the process (the state database, the audit log, the token cache, metrics).
pub struct AppState {
    pub(crate) compiled: arc_swap::ArcSwap<Compiled>,
    /// The audit keys as the log was opened (files, or the vault).
    pub(crate) audit_keys: bulwark_store::keys::KeyFiles,
    pub(crate) home: std::path::PathBuf,
    pub(crate) origin: String,
    pub(crate) db: Arc<StateDb>,
    pub(crate) audit: Option<AuditLog>,
    /// Commands on this home append to `audit` through it instead of waiting for its lock.
    pub(crate) _relay: Option<bulwark_store::audit_relay::Relay>,
    pub(crate) tokens: Arc<Tokens>,
    /// Where the audit log is read back from (`None` when it is off): for PostgreSQL, every
    /// instance's chain.
    pub(crate) audit_source: Option<bulwark_store::audit_open::LogSource>,
    /// This sidecar's instance name in a shared audit log.
    pub(crate) instance: String,
    /// Webhook message ids seen: in this process, or in the Redis the fleet shares.
    pub(crate) replay: Arc<dyn bulwark_core::webhook::ReplayStore>,
    /// `[server.limits] redis` as opened at start (for `/readyz`).
    pub(crate) redis: Option<Arc<bulwark_store::redis_store::RedisStore>>,
    pub(crate) metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Where every limit counts: kept across reloads, so a limit whose rate is unchanged carries
    /// its counts over.
    pub(crate) limit_store: Arc<dyn bulwark_core::ratelimit::LimitStore>,
    /// Failed authentications, aggregated per client and window before they reach `audit`.
    pub(crate) auth_failures: FailureLog,
    /// The egress proxy `bulwark serve` runs beside the API, reloaded with it.
    pub(crate) proxy: std::sync::OnceLock<Arc<crate::proxy::ProxyState>>,
    /// The model gateway's conversations (placeholders), kept across reloads.
    pub(crate) gateway: crate::gateway::Gateway,
    /// The MCP gateway's sessions over HTTP, kept across reloads.
    pub(crate) mcp_sessions: crate::mcp::McpSessions,
    /// The console's last audit verification, and when it ran.
    pub(crate) console_verified: std::sync::Mutex<Option<(Instant, serde_json::Value)>>,
    /// The OpenID Connect provider's metadata and keys as last discovered (or why that failed):
    /// when, and for which issuer.
    pub(crate) oidc_provider: std::sync::Mutex<Option<Discovered>>,
}

/// An OpenID Connect provider's discovery: when, for which issuer, and its metadata and keys (or
/// why they could not be had).
pub(crate) type Discovered = (
    Instant,
    String,
    Result<openidconnect::core::CoreProviderMetadata, String>,
);

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

pub(crate) fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
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
        let store_url = secrets
            .value(&cfg.store.url, &env)
            .map_err(|e| ServeError::Config(format!("store.url: {e}")))?;
        let db = StateDb::configured(&cfg.store, store_url.as_ref(), home)
            .map_err(|e| ServeError::Store(e.to_string()))?;
        let audit_keys = bulwark_store::keys::KeyFiles::configured(&cfg.audit, home, &secrets)
            .map_err(|e| ServeError::Config(e.to_string()))?;
        let audit = if cfg.audit.enabled {
            Some(
                bulwark_store::audit_open::open_configured(&cfg, home, &secrets, &env)
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
        let audit_source = if cfg.audit.enabled {
            Some(
                bulwark_store::audit_open::LogSource::configured(&cfg, home, &secrets, &env)
                    .map_err(|e| ServeError::Store(e.to_string()))?,
            )
        } else {
            None
        };
        let instance = bulwark_store::audit_pg::instance_name(&cfg.store.instance);
        let redis = secrets
            .value(&cfg.server.limits.redis, &env)
            .map_err(|e| ServeError::Config(format!("server.limits.redis: {e}")))?
            .map(|url| {
                bulwark_store::redis_store::RedisStore::new(
                    &url,
                    &cfg.server.limits.redis_prefix,
                    &cfg.server.limits.fail_open,
                    cfg.ingress.tolerance_secs,
                )
                .map_err(|e| ServeError::Config(e.to_string()))
            })
            .transpose()?;
        // Limits, replay ids and budgets count in the Redis the sidecars share, or in the
        // process (budgets in PostgreSQL when the state is there).
        let (limit_store, replay, budget_store): (
            Arc<dyn bulwark_core::ratelimit::LimitStore>,
            Arc<dyn bulwark_core::webhook::ReplayStore>,
            Arc<dyn bulwark_core::gateway::budget::BudgetStore>,
        ) = match &redis {
            Some(r) => (r.clone(), r.clone(), r.clone()),
            None => (
                Arc::new(bulwark_core::ratelimit::InProcess::new(
                    bulwark_core::ratelimit::DefaultClock::default(),
                )),
                Arc::new(bulwark_core::webhook::ReplayCache::new(
                    cfg.ingress.tolerance_secs,
                    cfg.ingress.replay_capacity,
                )),
                // Budgets in the PostgreSQL database the sidecars share, when there is one.
                match db.budgets(
                    cfg.server
                        .limits
                        .fail_open
                        .iter()
                        .any(|l| l == "gateway-budget"),
                ) {
                    Some(pg) => Arc::new(pg),
                    None => Arc::new(bulwark_core::gateway::budget::Counters::default()),
                },
            ),
        };
        let gateway = crate::gateway::Gateway::new(&cfg.gateway, budget_store);
        let tokens = Arc::new(Tokens::new());
        // On a shared database, a token revoked by any sidecar (or `bulwark token revoke`) is
        // dropped from this cache at once; the cache's short life is the fallback.
        let stale = Arc::downgrade(&tokens);
        db.watch_tokens(move || {
            if let Some(t) = stale.upgrade() {
                t.changed();
            }
        });
        let state = AppState {
            audit_source,
            instance,
            gateway,
            mcp_sessions: crate::mcp::McpSessions::default(),
            console_verified: std::sync::Mutex::new(None),
            oidc_provider: std::sync::Mutex::new(None),
            compiled: arc_swap::ArcSwap::from_pointee(Compiled::new(
                cfg,
                home,
                &secrets,
                &limit_store,
            )?),
            limit_store,
            audit_keys,
            home: home.to_path_buf(),
            origin,
            db: Arc::new(db),
            audit,
            _relay: relay,
            tokens,
            replay,
            redis,
            metrics: prometheus(),
            proxy: std::sync::OnceLock::new(),
            auth_failures: FailureLog::new(Duration::from_secs(60)),
        };
        state
            .refresh_tokens()
            .map_err(|e| ServeError::Store(e.message))?;
        Ok(state)
    }

    /// The configuration in force.
    pub(crate) fn c(&self) -> Arc<Compiled> {
        self.compiled.load_full()
    }

    /// Replace the compiled configuration (SIGHUP). A configuration that does not compile is
    /// refused and the one in force kept. The audit log, the state database, the listen address
    /// and the limit store (`[server.limits] redis`, `redis_prefix`, `fail_open`) stay as they
    /// were opened; a limit whose rate is unchanged keeps its counts.
    pub fn reload(&self, cfg: SecurityConfig) -> Result<(), ServeError> {
        // The proxy's policy is made from the same compiled guards: both are put in force, or
        // neither, so the API and the proxy never enforce different egress policies.
        let result = load_secrets(&cfg, &self.home)
            .and_then(|secrets| Compiled::new(cfg, &self.home, &secrets, &self.limit_store))
            .and_then(|c| match self.proxy.get() {
                Some(p) => p
                    .from_policy(&c.policy)
                    .map(|pol| (c, Some((p, pol))))
                    .map_err(|e| ServeError::Config(e.to_string())),
                None => Ok((c, None)),
            });
        let error = result.as_ref().err().map(|e| e.to_string());
        if let Ok((c, _)) = &result {
            let (new, old) = (&c.cfg.server.limits, &self.c().cfg.server.limits);
            if (&new.redis, &new.redis_prefix, &new.fail_open)
                != (&old.redis, &old.redis_prefix, &old.fail_open)
            {
                tracing::warn!(
                    "[server.limits] redis, redis_prefix and fail_open are read at start: the change takes effect at the next start"
                );
            }
            let old = &self.c().cfg;
            if c.cfg.store != old.store || c.cfg.audit != old.audit {
                tracing::warn!(
                    "[store] and [audit] are read at start (the state database and the audit log stay as they were opened): the change takes effect at the next start"
                );
            }
        }
        self.audit(AuditEvent::reload(&self.origin, error.as_deref()));
        let (compiled, proxy) = result?;
        self.compiled.store(Arc::new(compiled));
        if let Some((p, pol)) = proxy {
            p.swap(pol);
        }
        Ok(())
    }

    pub(crate) fn refresh_tokens(&self) -> Result<Arc<HashMap<String, TokenRecord>>, ApiError> {
        // Taken before the read: a change announced during it leaves the cache stale.
        let (started, generation) = (
            Instant::now(),
            self.tokens
                .generation
                .load(std::sync::atomic::Ordering::Acquire),
        );
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
        if let Ok(mut g) = self.tokens.cache.write() {
            *g = (started, map.clone(), generation);
        }
        Ok(map)
    }

    /// Active tokens, re-read from the database at most every [`TOKEN_CACHE`].
    pub(crate) fn current_tokens(&self) -> Result<Arc<HashMap<String, TokenRecord>>, ApiError> {
        if let Some(t) = self.tokens.fresh(TOKEN_CACHE) {
            return Ok(t);
        }
        // A short local read, at most every two seconds.
        self.refresh_tokens()
    }

    /// After an unknown token id: the list re-read if it is older than [`TOKEN_MISS_REFRESH`].
    pub(crate) async fn tokens_after_miss(
        self: &Arc<Self>,
    ) -> Result<Arc<HashMap<String, TokenRecord>>, ApiError> {
        if let Some(t) = self.tokens.fresh(TOKEN_MISS_REFRESH) {
            return Ok(t);
        }
        let s = self.clone();
        blocking(move || s.refresh_tokens()).await
    }

    /// [`AppState::current_tokens`] from an async task.
    pub(crate) async fn tokens_async(
        self: &Arc<Self>,
    ) -> Result<Arc<HashMap<String, TokenRecord>>, ApiError> {
        if let Some(t) = self.tokens.fresh(TOKEN_CACHE) {
            return Ok(t);
        }
        let s = self.clone();
        blocking(move || s.refresh_tokens()).await
    }

    pub(crate) fn approvers(&self) -> Result<Approvers, ApiError> {
        let tokens = self.current_tokens()?;
        Ok(Approvers::from_names(
            tokens
                .values()
                .filter(|t| t.scopes.contains(&Scope::Approve))
                .map(|t| t.name.clone()),
        ))
    }

    /// Record the failed-authentication counts of every closed window (all of them with `all`).
    pub(crate) fn flush_auth_failures(&self, all: bool) {
        for event in self.auth_failures.flush(all) {
            self.audit(event);
        }
    }

    pub(crate) fn audit(&self, event: AuditEvent) {
        if let Some(a) = &self.audit {
            // Evidence of refused callers must not block the refusal itself.
            let _ = a.submit(event);
        }
    }
}

pub(crate) type Shared = Arc<AppState>;

/// Run guard work on `bytes` of input off the async workers when it is large enough to matter:
/// below [`INLINE_BYTES`] a scan costs microseconds, less than moving it to the blocking pool.
/// Every content route goes through it, so none holds a worker for long.
pub(crate) async fn guard_work<T: Send + 'static>(
    bytes: usize,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if bytes < INLINE_BYTES {
        f()
    } else {
        blocking(f).await
    }
}

/// Inputs shorter than this are judged on the worker that received them.
pub(crate) const INLINE_BYTES: usize = 16 * 1024;

/// Run `f` on the blocking pool: database reads and writes, audit appends, large scans.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("worker failed: {e}")))?
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
