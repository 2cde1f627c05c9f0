//! The PostgreSQL database several sidecars share (`[store] url`): one pool per process on a
//! runtime of its own (the stores' methods block, as SQLite's do), the schema brought up to date
//! at start by sqlx's migrator under PostgreSQL's advisory lock, so sidecars starting at once
//! migrate once.
//!
//! The schema (migration 1) holds the state tables SQLite has (approvals, settings, API tokens,
//! held alerts, MCP pins, provenance handoffs) and the audit log: `audit_records(instance, seq,
//! line)` and `audit_checkpoints(id, instance, line)`, one hash chain per instance, both refusing
//! UPDATE, DELETE and TRUNCATE by trigger. Migration 2 adds `console_sessions`, the web
//! console's sign-ins, migration 3 `console_flows`, its single sign-on flows in progress, and
//! migration 4 `budget_windows`, the model gateway's budget counters (crate::budget_pg).

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::StoreError;

/// The schema, as one migration (later versions add migrations; a migration once released is
/// never edited: sqlx refuses a database whose applied migration's checksum changed).
const SCHEMA_V1: &str = r#"
CREATE TABLE approvals (id TEXT PRIMARY KEY, state TEXT NOT NULL, version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, record TEXT NOT NULL,
    intent TEXT NOT NULL);
CREATE INDEX approvals_by_state ON approvals(state, expires_ms);
CREATE INDEX approvals_by_created ON approvals(created_ms);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE api_tokens (seq BIGINT GENERATED ALWAYS AS IDENTITY, id TEXT PRIMARY KEY,
    name TEXT NOT NULL, record TEXT NOT NULL, revoked BOOLEAN NOT NULL DEFAULT FALSE);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens(name) WHERE NOT revoked;
CREATE TABLE held_alerts (id TEXT PRIMARY KEY, state TEXT NOT NULL, received_ms BIGINT NOT NULL,
    record TEXT NOT NULL);
CREATE INDEX held_by_state ON held_alerts(state, received_ms);
CREATE TABLE mcp_pins (key TEXT PRIMARY KEY, version BIGINT NOT NULL, record TEXT NOT NULL);
CREATE TABLE provenance_handoffs (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key TEXT NOT NULL, expires_ms BIGINT NOT NULL, record TEXT NOT NULL);
CREATE INDEX handoffs_by_key ON provenance_handoffs(key, expires_ms);
CREATE INDEX handoffs_by_expiry ON provenance_handoffs(expires_ms);

CREATE TABLE audit_records (instance TEXT NOT NULL, seq BIGINT NOT NULL, line TEXT NOT NULL,
    PRIMARY KEY (instance, seq));
CREATE TABLE audit_checkpoints (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance TEXT NOT NULL, line TEXT NOT NULL);
CREATE INDEX audit_checkpoints_by_instance ON audit_checkpoints(instance, id);
CREATE FUNCTION bulwark_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'bulwark: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION bulwark_append_only();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION bulwark_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION bulwark_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION bulwark_append_only();
"#;

/// Migration 2: the web console's sign-in sessions (by the SHA-256 of their cookie).
const SCHEMA_V2: &str = r#"
CREATE TABLE console_sessions (id TEXT PRIMARY KEY, token_id TEXT NOT NULL,
    expires_ms BIGINT NOT NULL, record TEXT NOT NULL);
CREATE INDEX console_sessions_by_expiry ON console_sessions(expires_ms);
"#;

/// Migration 3: single sign-on flows in progress (by the SHA-256 of their cookie), each taken once.
const SCHEMA_V3: &str = r#"
CREATE TABLE console_flows (id TEXT PRIMARY KEY, expires_ms BIGINT NOT NULL, record TEXT NOT NULL);
CREATE INDEX console_flows_by_expiry ON console_flows(expires_ms);
"#;

/// Migration 4: the model gateway's budget windows (requests, tokens and cost of one token name,
/// model glob and UTC minute or day), and the two functions that charge and settle them, each one
/// statement (crate::budget_pg).
const SCHEMA_V4: &str = r#"
CREATE TABLE budget_windows (key TEXT COLLATE "C" PRIMARY KEY, ends_s BIGINT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0, tokens BIGINT NOT NULL DEFAULT 0,
    micros BIGINT NOT NULL DEFAULT 0);
CREATE INDEX budget_windows_by_end ON budget_windows(ends_s);
CREATE FUNCTION bulwark_budget_charge(in_keys TEXT[], in_ends BIGINT[], in_requests BIGINT[],
    in_tokens BIGINT[], in_micros BIGINT[], check_keys TEXT[], check_fields INT[],
    check_adds BIGINT[], check_limits BIGINT[]) RETURNS INT LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $fn$
DECLARE
    used BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    -- A charge stuck behind a lock gives up soon (each wait); one the sidecar stopped waiting for
    -- and that is made later anyway is given back by the sidecar.
    PERFORM set_config('lock_timeout', '1500ms', true);
    -- Every window created if new and locked, in key order: charges racing on any number of
    -- sidecars take their rows one after the other.
    INSERT INTO budget_windows AS b (key, ends_s)
        SELECT k, e FROM unnest(in_keys, in_ends) AS w(k, e) ORDER BY k COLLATE "C"
        ON CONFLICT (key) DO UPDATE SET ends_s = b.ends_s;
    FOR i IN 1 .. coalesce(array_length(check_keys, 1), 0) LOOP
        SELECT CASE check_fields[i] WHEN 0 THEN w.requests WHEN 1 THEN w.tokens ELSE w.micros END
            INTO used FROM budget_windows AS w WHERE w.key = check_keys[i];
        IF check_limits[i] > 0 AND coalesce(used, 0) + check_adds[i] > check_limits[i] THEN
            RETURN i;
        END IF;
    END LOOP;
    UPDATE budget_windows AS b SET requests = LEAST(b.requests + v.r, 4611686018427387904),
        tokens = LEAST(b.tokens + v.t, 4611686018427387904),
        micros = LEAST(b.micros + v.m, 4611686018427387904)
        FROM unnest(in_keys, in_requests, in_tokens, in_micros) AS v(k, r, t, m) WHERE b.key = v.k;
    RETURN 0;
END
$fn$;
CREATE FUNCTION bulwark_budget_adjust(in_keys TEXT[], in_requests BIGINT[],
    in_tokens BIGINT[], in_micros BIGINT[]) RETURNS VOID LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $fn$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM set_config('lock_timeout', '5s', true);
    -- Locked in the order charges lock them; windows already deleted are left alone.
    PERFORM 1 FROM budget_windows WHERE key = ANY(in_keys) ORDER BY key FOR UPDATE;
    UPDATE budget_windows AS b
        SET requests = LEAST(GREATEST(b.requests + v.r, 0), 4611686018427387904),
        tokens = LEAST(GREATEST(b.tokens + v.t, 0), 4611686018427387904),
        micros = LEAST(GREATEST(b.micros + v.m, 0), 4611686018427387904)
        FROM unnest(in_keys, in_requests, in_tokens, in_micros) AS v(k, r, t, m) WHERE b.key = v.k;
END
$fn$;
"#;

/// The migrations, in order.
fn migrator() -> Migrator {
    let mut m = Migrator::with_migrations(vec![
        Migration::new(
            1,
            "bulwark state and audit log".into(),
            MigrationType::Simple,
            SCHEMA_V1.into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "console sessions".into(),
            MigrationType::Simple,
            SCHEMA_V2.into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "console sign-in flows".into(),
            MigrationType::Simple,
            SCHEMA_V3.into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            "gateway budget windows".into(),
            MigrationType::Simple,
            SCHEMA_V4.into_sql_str(),
            false,
        ),
    ]);
    m.dangerous_set_table_name("bulwark_migrations");
    m
}

/// The schema version this build writes.
const LATEST: i64 = 4;

/// Whether every migration this build knows was applied.
async fn up_to_date(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('bulwark_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(false);
    }
    let applied: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(version), 0) FROM bulwark_migrations WHERE success",
    )
    .fetch_one(pool)
    .await?;
    Ok(applied >= LATEST)
}

/// How long a call waits for a free connection (or for the server to answer a new one).
const ACQUIRE_FOR: Duration = Duration::from_secs(5);

/// Connections each process keeps at most.
const POOL_SIZE: u32 = 8;

/// A pool on its own runtime.
pub(crate) struct Pg {
    rt: Option<tokio::runtime::Runtime>,
    pub(crate) pool: PgPool,
    /// `PostgreSQL HOST:PORT/DB`, for messages (never the password).
    pub(crate) name: String,
    pub(crate) options: PgConnectOptions,
}

/// `PostgreSQL HOST:PORT/DB` for the options.
fn describe(o: &PgConnectOptions) -> String {
    format!(
        "PostgreSQL {}:{}/{}",
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or("(default database)")
    )
}

/// Parse `url` into connection options; the error never quotes the URL.
pub(crate) fn options(url: &SecretString) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url.expose_secret())
        .map(|o| {
            // A statement that hangs (a lock never granted, a server that stopped answering) ends.
            o.application_name("bulwark")
                .options([("statement_timeout", "30s")])
        })
        .map_err(|_| {
            StoreError::Config(
                "[store] url: not a PostgreSQL URL; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB (the value is not shown: it may hold a password)".into(),
            )
        })
}

/// How long a call may take on the client's side (a connection that stopped answering without
/// closing never ends a statement by itself).
const CALL_FOR: Duration = Duration::from_secs(35);

/// The pools this process opened, by URL: the state store, the audit writer and the audit
/// reader of one sidecar share one.
static POOLS: std::sync::Mutex<Vec<(SecretString, std::sync::Weak<Pg>)>> =
    std::sync::Mutex::new(Vec::new());

/// Whether a connection to `o` may cross a network unverified: not TLS checked against a CA
/// and the host name, and not to loopback or a Unix socket.
fn unverified(o: &PgConnectOptions) -> bool {
    use sqlx::postgres::PgSslMode;
    let host = o.get_host();
    let local = host.starts_with('/')
        || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !local
        && !matches!(
            o.get_ssl_mode(),
            PgSslMode::VerifyCa | PgSslMode::VerifyFull
        )
}

impl Pg {
    /// The pool of `url`: this process's, or a new one (schema brought up to date).
    pub(crate) fn shared(url: &SecretString) -> Result<std::sync::Arc<Pg>, StoreError> {
        let mut pools = POOLS.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|(_, p)| p.strong_count() > 0);
        if let Some(pg) = pools
            .iter()
            .find(|(u, _)| u.expose_secret() == url.expose_secret())
            .and_then(|(_, p)| p.upgrade())
        {
            return Ok(pg);
        }
        let pg = std::sync::Arc::new(Pg::connect(url)?);
        pools.push((url.clone(), std::sync::Arc::downgrade(&pg)));
        Ok(pg)
    }

    /// Connect to `url` and bring the schema up to date.
    fn connect(url: &SecretString) -> Result<Pg, StoreError> {
        let options = options(url)?;
        let name = describe(&options);
        if unverified(&options) {
            tracing::warn!(
                "{name}: the connection's TLS is not verified (sslmode {:?}): anyone on the path could read the state and change what the sidecars are told; add sslmode=verify-full (and sslrootcert=PATH for a private CA) to [store] url",
                options.get_ssl_mode()
            );
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bulwark-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Database(format!("{name}: {e}")))?;
        let pool = rt
            .block_on(async {
                let pool = PgPoolOptions::new()
                    .max_connections(POOL_SIZE)
                    .acquire_timeout(ACQUIRE_FOR)
                    .connect_with(options.clone())
                    .await?;
                // A sidecar whose role may not create tables (docs/fleet.md) finds the schema
                // up to date and leaves it alone; otherwise the migrator brings it up to date.
                if !up_to_date(&pool).await? {
                    migrator().run(&pool).await?;
                }
                Ok::<_, sqlx::Error>(pool)
            })
            .map_err(|e| {
                StoreError::Database(format!(
                    "{name}: {e}; check [store] url, that the server runs and that the user may connect (see docs/fleet.md)"
                ))
            })?;
        Ok(Pg {
            rt: Some(rt),
            pool,
            name,
            options,
        })
    }

    /// Run `f` on a pooled connection, blocking the calling thread (not a runtime's).
    pub(crate) fn with<T>(
        &self,
        f: impl for<'c> FnOnce(
            &'c mut PgConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + 'c>,
        >,
    ) -> Result<T, sqlx::Error> {
        self.call(async {
            let mut conn = self.pool.acquire().await?;
            f(&mut conn).await
        })
    }

    /// Run a database call on this pool's runtime, for at most [`CALL_FOR`]: past it, the call
    /// fails as a lost connection would.
    pub(crate) fn call<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        self.block_on(async {
            tokio::time::timeout(CALL_FOR, f).await.unwrap_or_else(|_| {
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} s", CALL_FOR.as_secs()),
                )))
            })
        })
    }

    /// Start `f` on this pool's runtime without blocking the caller: its handle can be awaited
    /// from any runtime (the server's).
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.rt
            .as_ref()
            .expect("the runtime lives until drop")
            .spawn(f)
    }

    /// Run a future on this pool's runtime.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt
            .as_ref()
            .expect("the runtime lives until drop")
            .block_on(f)
    }
}

/// The channel token changes are announced on.
pub(crate) const TOKENS_CHANNEL: &str = "bulwark_tokens";

impl Pg {
    /// Call `changed` on every notification on `channel`, and after the listening connection
    /// was lost (what was sent meanwhile is missed); runs until the pool's runtime stops.
    pub(crate) fn listen(&self, channel: &'static str, changed: impl Fn() + Send + Sync + 'static) {
        let pool = self.pool.clone();
        let name = self.name.clone();
        let rt = self.rt.as_ref().expect("the runtime lives until drop");
        rt.spawn(async move {
            let mut down = false;
            loop {
                let listener = async {
                    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    l.listen(channel).await?;
                    Ok::<_, sqlx::Error>(l)
                };
                let mut l = match listener.await {
                    Ok(l) => l,
                    Err(e) => {
                        if !down {
                            tracing::warn!("{name}: cannot listen for {channel}: {e}; trying again every second");
                            down = true;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                // Anything may have changed while nobody listened.
                changed();
                down = false;
                loop {
                    match l.try_recv().await {
                        Ok(Some(_)) => changed(),
                        // The connection was lost; the next call connects again.
                        Ok(None) => changed(),
                        Err(_) => break,
                    }
                }
            }
        });
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        // Possibly on an async runtime's thread (a server shutting down): a runtime must not be
        // dropped there, so it is shut down in the background.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
