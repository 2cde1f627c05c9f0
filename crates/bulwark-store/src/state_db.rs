//! The state database (SQLite, `[store] db`): approvals (one row each, transitions as
//! compare-and-swap updates), settings, and API tokens (hashes only).
//!
//! Table `approvals(id TEXT PRIMARY KEY, state TEXT, version INTEGER, created_ms INTEGER,
//! expires_ms INTEGER, record TEXT, intent TEXT)`: `record` is the approval's JSON
//! ([`ApprovalRecord`]), `intent` the canonical JSON of the intent it is for. A transition is
//! `UPDATE ... WHERE id = ? AND version = ?`: SQLite runs it atomically, across threads and
//! processes, so of many racing writers exactly one changes a given version. Table
//! `settings(key TEXT PRIMARY KEY, value TEXT)` remembers things such as the last action mode.
//! Table `mcp_pins(key TEXT PRIMARY KEY, version INTEGER, record TEXT)` holds each MCP server's
//! pinned definitions ([`ServerPin`] as JSON), written by compare-and-swap on `version`.
//! Table `provenance_handoffs(id INTEGER PRIMARY KEY, key TEXT, expires_ms INTEGER, record TEXT)`
//! holds the calls the model gateway passed ([`Handoff`] as JSON, no argument values), each taken
//! once by a `DELETE` that only one process's statement can match.
//! Table `console_sessions(id TEXT PRIMARY KEY, token_id TEXT, expires_ms INTEGER, record TEXT)`
//! holds the web console's sign-ins ([`ConsoleSession`] as JSON) by the hex SHA-256 of their
//! cookie; `console_flows(id TEXT PRIMARY KEY, expires_ms INTEGER, record TEXT)` its single
//! sign-on flows in progress, each taken once.

use std::path::Path;
use std::sync::Mutex;

use bulwark_core::approval::{ApprovalError, ApprovalId, ApprovalRecord, ApprovalStore, StateName};
use bulwark_core::auth::TokenRecord;
use bulwark_core::mcp::{PinStore, ServerPin};
use bulwark_core::provenance::handoff::Wanted;
use bulwark_core::provenance::{Handoff, HandoffStore};
use bulwark_core::webhook::held::{HeldAlert, HeldState, HeldStore};
use sqlx::Row;
use sqlx::sqlite::SqliteConnection;

use crate::StoreError;
use crate::postgres::Pg;
use crate::sqlite::{connect, runtime};
use secrecy::SecretString;

const DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, state TEXT NOT NULL, \
     version INTEGER NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, \
     record TEXT NOT NULL, intent TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS approvals_by_state ON approvals(state, expires_ms)",
    "CREATE INDEX IF NOT EXISTS approvals_by_created ON approvals(created_ms)",
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS api_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, \
     record TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS held_alerts (id TEXT PRIMARY KEY, state TEXT NOT NULL, \
     received_ms INTEGER NOT NULL, record TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS held_by_state ON held_alerts(state, received_ms)",
    "CREATE TABLE IF NOT EXISTS mcp_pins (key TEXT PRIMARY KEY, version INTEGER NOT NULL, \
     record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS provenance_handoffs (id INTEGER PRIMARY KEY, key TEXT NOT NULL, \
     expires_ms INTEGER NOT NULL, record TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS handoffs_by_key ON provenance_handoffs(key, expires_ms)",
    "CREATE INDEX IF NOT EXISTS handoffs_by_expiry ON provenance_handoffs(expires_ms)",
    "CREATE TABLE IF NOT EXISTS console_sessions (id TEXT PRIMARY KEY, token_id TEXT NOT NULL, \
     expires_ms INTEGER NOT NULL, record TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS console_sessions_by_expiry ON console_sessions(expires_ms)",
    "CREATE TABLE IF NOT EXISTS console_flows (id TEXT PRIMARY KEY, expires_ms INTEGER NOT NULL, \
     record TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS console_flows_by_expiry ON console_flows(expires_ms)",
];

/// A web console sign-in, stored under the SHA-256 of its cookie (the cookie itself is never
/// stored): whose token it was made with, and until when it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsoleSession {
    /// The API token's id: the session ends when the token is revoked.
    pub token_id: String,
    /// The token's name (the approver principal).
    pub name: String,
    /// Signed in (ms since the epoch).
    pub created_ms: u64,
    /// Ends (ms since the epoch).
    pub expires_ms: u64,
    /// The person an identity provider named, for a single sign-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

/// Where the state lives.
enum Backend {
    /// One SQLite file; calls are serialized on one connection.
    Sqlite(Mutex<Option<(tokio::runtime::Runtime, SqliteConnection)>>),
    /// The PostgreSQL database several sidecars share.
    Pg(std::sync::Arc<Pg>),
}

/// Run the same statements on whichever database holds the state: `$body` (a closure over a
/// connection, returning a boxed future) is compiled once per backend. The SQL is written once:
/// numbered placeholders (`$1`) mean the same thing to SQLite and PostgreSQL.
macro_rules! on_db {
    ($db:expr, move |$c:ident| $body:expr) => {
        match &$db.backend {
            Backend::Sqlite(s) => $db.sqlite(s, move |$c| $body),
            Backend::Pg(p) => p.with(move |$c| $body).map_err(|e| $db.err(e)),
        }
    };
}

/// The state database: a SQLite file ([`StateDb::open`]) or the PostgreSQL database sidecars
/// share ([`StateDb::connect`]). Safe to share across threads; several processes may open the
/// same database.
pub struct StateDb {
    /// The file's path, or `PostgreSQL HOST:PORT/DB`: for messages.
    name: String,
    backend: Backend,
}

fn to_i64(name: &str, v: u64) -> Result<i64, ApprovalError> {
    i64::try_from(v)
        .map_err(|_| ApprovalError::Store(format!("{name}: value {v} does not fit the database")))
}

impl StateDb {
    /// Open (creating it 0600) the database at `path`.
    pub fn open(path: &Path) -> Result<StateDb, StoreError> {
        let rt = runtime(path)?;
        let conn = connect(&rt, path, true, DDL)?;
        Ok(StateDb {
            name: path.display().to_string(),
            backend: Backend::Sqlite(Mutex::new(Some((rt, conn)))),
        })
    }

    /// Connect to the PostgreSQL database at `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`),
    /// creating or updating its tables.
    pub fn connect(url: &SecretString) -> Result<StateDb, StoreError> {
        let pg = Pg::shared(url)?;
        Ok(StateDb {
            name: pg.name.clone(),
            backend: Backend::Pg(pg),
        })
    }

    /// The database `[store]` names: PostgreSQL when `url` resolves to one, else the SQLite file
    /// (`db`, by default `home/bulwark.db`). `url` is the resolved `[store] url`.
    pub fn configured(
        store: &bulwark_core::config::StoreConfig,
        url: Option<&SecretString>,
        home: &Path,
    ) -> Result<StateDb, StoreError> {
        match url {
            Some(url) => StateDb::connect(url),
            None => StateDb::open(&store.db_path(home)),
        }
    }

    /// The file's path, or `PostgreSQL HOST:PORT/DB`.
    ///
    /// Every method blocks: from an async runtime, call them with `spawn_blocking`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether several processes on several hosts may share it (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Pg(_))
    }

    /// The model gateway's budget counters in this database, for several sidecars to share
    /// (PostgreSQL); `None` for SQLite, whose sidecar counts in its own process. With
    /// `fail_open`, a request is let through uncounted while the database cannot be asked.
    pub fn budgets(&self, fail_open: bool) -> Option<crate::budget_pg::PgBudgets> {
        match &self.backend {
            Backend::Pg(p) => Some(crate::budget_pg::PgBudgets::new(p.clone(), fail_open)),
            Backend::Sqlite(_) => None,
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> ApprovalError {
        ApprovalError::Store(format!("{}: {e}", self.name))
    }

    fn sqlite<T>(
        &self,
        inner: &Mutex<Option<(tokio::runtime::Runtime, SqliteConnection)>>,
        f: impl for<'c> FnOnce(
            &'c mut SqliteConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + 'c>,
        >,
    ) -> Result<T, ApprovalError> {
        let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
        let (rt, conn) = guard
            .as_mut()
            .ok_or_else(|| self.err("the database is closed"))?;
        rt.block_on(f(conn)).map_err(|e| self.err(e))
    }

    /// Pick the statement for this backend, where the two dialects differ.
    fn dialect(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => sqlite,
            Backend::Pg(_) => postgres,
        }
    }

    fn parse(&self, json: &str) -> Result<ApprovalRecord, ApprovalError> {
        serde_json::from_str(json).map_err(|e| ApprovalError::Damaged {
            id: "?".into(),
            problem: format!("{}: not an approval record ({e})", self.name),
        })
    }

    fn json(&self, r: &ApprovalRecord) -> Result<String, ApprovalError> {
        serde_json::to_string(r).map_err(|e| self.err(e))
    }
}

impl ApprovalStore for StateDb {
    fn insert(&self, record: &ApprovalRecord, intent_json: &str) -> Result<(), ApprovalError> {
        let json = self.json(record)?;
        let id = record.id.to_string();
        let state = record.state.as_str();
        let version = to_i64(&self.name, record.version)?;
        let created = to_i64(&self.name, record.created_ms)?;
        let expires = to_i64(&self.name, record.expires_ms)?;
        let intent = intent_json.to_string();
        on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO approvals (id, state, version, created_ms, expires_ms, record, intent) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(state)
                .bind(version)
                .bind(created)
                .bind(expires)
                .bind(json)
                .bind(intent)
                .execute(c)
                .await
                .map(|_| ())
            })
        })
    }

    fn load(&self, id: &ApprovalId) -> Result<Option<(ApprovalRecord, String)>, ApprovalError> {
        let id = id.to_string();
        let row = on_db!(self, move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT record, intent FROM approvals WHERE id = $1")
                    .bind(id)
                    .fetch_optional(c)
                    .await?;
                row.map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
                    .transpose()
            })
        })?;
        row.map(|(rec, intent)| Ok((self.parse(&rec)?, intent)))
            .transpose()
    }

    fn list(
        &self,
        state: Option<StateName>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let state = state.map(|s| s.as_str().to_string());
        let rows = on_db!(self, move |c| {
            Box::pin(async move {
                let rows =
                    match state {
                        Some(s) => {
                            sqlx::query(
                                "SELECT record FROM approvals WHERE state = $1 \
                             ORDER BY created_ms DESC, id LIMIT $2",
                            )
                            .bind(s)
                            .bind(limit)
                            .fetch_all(c)
                            .await?
                        }
                        None => sqlx::query(
                            "SELECT record FROM approvals ORDER BY created_ms DESC, id LIMIT $1",
                        )
                        .bind(limit)
                        .fetch_all(c)
                        .await?,
                    };
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<Vec<_>, _>>()
            })
        })?;
        rows.iter().map(|r| self.parse(r)).collect()
    }

    fn list_visible(
        &self,
        requested_by: &str,
        all_pending: bool,
        state: Option<StateName>,
        limit: usize,
    ) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let state = state.map(|s| s.as_str().to_string());
        let who = requested_by.to_string();
        // The requester is kept in the record's JSON.
        let sql = self.dialect(
            "SELECT record FROM approvals \
             WHERE (json_extract(record, '$.requested_by') = $1 \
                    OR ($2 AND state = 'pending')) \
               AND ($3 IS NULL OR state = $4) \
             ORDER BY created_ms DESC, id LIMIT $5",
            "SELECT record FROM approvals \
             WHERE ((record::jsonb ->> 'requested_by') = $1 \
                    OR ($2 AND state = 'pending')) \
               AND ($3::text IS NULL OR state = $4) \
             ORDER BY created_ms DESC, id LIMIT $5",
        );
        let rows = on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(sql)
                    .bind(who)
                    .bind(all_pending)
                    .bind(state.clone())
                    .bind(state)
                    .bind(limit)
                    .fetch_all(c)
                    .await?
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<Vec<_>, _>>()
            })
        })?;
        let records = rows
            .iter()
            .map(|r| self.parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        // Checked again on the parsed records: what a principal is shown never rests on SQL alone.
        Ok(records
            .into_iter()
            .filter(|r| {
                r.requested_by == requested_by || all_pending && r.state == StateName::Pending
            })
            .collect())
    }

    fn due(&self, now_ms: u64, limit: usize) -> Result<Vec<ApprovalRecord>, ApprovalError> {
        let now = to_i64(&self.name, now_ms)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = on_db!(self, move |c| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT record FROM approvals WHERE state IN ('pending', 'approved') \
                     AND expires_ms <= $1 ORDER BY expires_ms LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(c)
                .await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<Vec<_>, _>>()
            })
        })?;
        rows.iter().map(|r| self.parse(r)).collect()
    }

    fn replace(
        &self,
        expected_version: u64,
        record: &ApprovalRecord,
    ) -> Result<bool, ApprovalError> {
        if record.version <= expected_version {
            return Err(self.err(format!(
                "approval {}: a transition must raise the version (from {expected_version} to {})",
                record.id, record.version
            )));
        }
        let json = self.json(record)?;
        let id = record.id.to_string();
        let state = record.state.as_str();
        let version = to_i64(&self.name, record.version)?;
        let expected = to_i64(&self.name, expected_version)?;
        let changed = on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE approvals SET state = $1, version = $2, record = $3 \
                     WHERE id = $4 AND version = $5",
                )
                .bind(state)
                .bind(version)
                .bind(json)
                .bind(id)
                .bind(expected)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
            })
        })?;
        Ok(changed == 1)
    }

    fn setting(&self, key: &str) -> Result<Option<String>, ApprovalError> {
        let key = key.to_string();
        on_db!(self, move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(c)
                    .await?;
                row.map(|r| r.try_get::<String, _>(0)).transpose()
            })
        })
    }

    fn set_setting(&self, key: &str, value: &str) -> Result<(), ApprovalError> {
        let key = key.to_string();
        let value = value.to_string();
        on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES ($1, $2) \
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value)
                .execute(c)
                .await
                .map(|_| ())
            })
        })
    }
}

impl StateDb {
    /// Store a new API token record (the hash, never the token). Refused if an active token
    /// already has this name.
    pub fn insert_token(&self, rec: &TokenRecord) -> Result<(), ApprovalError> {
        if self
            .tokens()?
            .iter()
            .any(|t| t.name == rec.name && t.revoked_ms.is_none())
        {
            return Err(self.err(format!(
                "an active token named {:?} exists: revoke it first (`bulwark token revoke {}`)",
                rec.name, rec.name
            )));
        }
        let json = serde_json::to_string(rec).map_err(|e| self.err(e))?;
        let (id, name) = (rec.id.clone(), rec.name.clone());
        on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO api_tokens (id, name, record) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(name)
                    .bind(json)
                    .execute(c)
                    .await
                    .map(|_| ())
            })
        })?;
        if let Err(e) = self.tokens_changed() {
            tracing::warn!("created, but the other sidecars could not be told at once: {e}");
        }
        Ok(())
    }

    /// Every token record, revoked ones included, oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, ApprovalError> {
        let sql = self.dialect(
            "SELECT record FROM api_tokens ORDER BY rowid",
            "SELECT record FROM api_tokens ORDER BY seq",
        );
        let rows = on_db!(self, move |c| {
            Box::pin(async move {
                let rows = sqlx::query(sql).fetch_all(c).await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<Vec<_>, _>>()
            })
        })?;
        rows.iter()
            .map(|r| {
                serde_json::from_str(r).map_err(|e| ApprovalError::Damaged {
                    id: "api_tokens".into(),
                    problem: format!("not a token record ({e})"),
                })
            })
            .collect()
    }

    /// Revoke the active token named `name` (or with id `name`); returns how many were revoked.
    pub fn revoke_token(&self, name: &str, now_ms: u64) -> Result<usize, ApprovalError> {
        let mut n = 0;
        for mut t in self.tokens()? {
            if t.revoked_ms.is_none() && (t.name == name || t.id == name) {
                t.revoked_ms = Some(now_ms);
                let json = serde_json::to_string(&t).map_err(|e| self.err(e))?;
                let id = t.id.clone();
                on_db!(self, move |c| {
                    Box::pin(async move {
                        sqlx::query(
                            "UPDATE api_tokens SET record = $1, revoked = TRUE WHERE id = $2",
                        )
                        .bind(json)
                        .bind(id)
                        .execute(c)
                        .await
                        .map(|_| ())
                    })
                })?;
                n += 1;
            }
        }
        if n > 0
            && let Err(e) = self.tokens_changed()
        {
            // Revoked all the same: the other sidecars see it when their cache expires.
            tracing::warn!("revoked, but the other sidecars could not be told at once: {e}");
        }
        Ok(n)
    }

    /// Tell the other sidecars on a shared database that the tokens changed.
    fn tokens_changed(&self) -> Result<(), ApprovalError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Pg(p) => p
                .with(|c| {
                    Box::pin(async move {
                        sqlx::query("SELECT pg_notify($1, '')")
                            .bind(crate::postgres::TOKENS_CHANNEL)
                            .execute(c)
                            .await
                            .map(|_| ())
                    })
                })
                .map_err(|e| self.err(e)),
        }
    }

    /// On a shared database, call `changed` whenever a process changes the API tokens (a
    /// revocation, a new token), and whenever the connection listening for that was lost and
    /// made again (a change may have been missed then), so a cache can be dropped at once rather
    /// than when it expires. Returns false on SQLite, where there is nothing to listen to.
    pub fn watch_tokens(&self, changed: impl Fn() + Send + Sync + 'static) -> bool {
        match &self.backend {
            Backend::Sqlite(_) => false,
            Backend::Pg(p) => {
                p.listen(crate::postgres::TOKENS_CHANNEL, changed);
                true
            }
        }
    }
}

impl Drop for StateDb {
    fn drop(&mut self) {
        // The last handle may go away on an async runtime's thread (a server shutting down):
        // a runtime must not be dropped there, so it is shut down in the background.
        if let Backend::Sqlite(inner) = &self.backend
            && let Some((rt, conn)) = inner.lock().ok().and_then(|mut g| g.take())
        {
            drop(conn);
            rt.shutdown_background();
        }
    }
}

impl HeldStore for StateDb {
    fn hold(&self, alert: &HeldAlert) -> Result<(), ApprovalError> {
        let json = serde_json::to_string(alert).map_err(|e| self.err(e))?;
        let (id, state) = (alert.id.clone(), alert.state.as_str());
        let received = to_i64(&self.name, alert.received_ms)?;
        on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO held_alerts (id, state, received_ms, record) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(state)
                .bind(received)
                .bind(json)
                .execute(c)
                .await
                .map(|_| ())
            })
        })
    }

    fn held(&self, id: &str) -> Result<Option<HeldAlert>, ApprovalError> {
        let id = id.to_string();
        let row = on_db!(self, move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT record FROM held_alerts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(c)
                    .await?;
                row.map(|r| r.try_get::<String, _>(0)).transpose()
            })
        })?;
        row.map(|r| self.parse_held(&r)).transpose()
    }

    fn list_held(
        &self,
        state: Option<HeldState>,
        limit: usize,
    ) -> Result<Vec<HeldAlert>, ApprovalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let state = state.map(|s| s.as_str().to_string());
        let rows = on_db!(self, move |c| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT record FROM held_alerts WHERE ($1 IS NULL OR state = $2) \
                     ORDER BY received_ms DESC, id LIMIT $3",
                )
                .bind(state.clone())
                .bind(state)
                .bind(limit)
                .fetch_all(c)
                .await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<Vec<_>, _>>()
            })
        })?;
        rows.iter().map(|r| self.parse_held(r)).collect()
    }

    fn settle(
        &self,
        id: &str,
        from: HeldState,
        to: HeldState,
        by: &str,
        at_ms: u64,
    ) -> Result<bool, ApprovalError> {
        let Some(mut alert) = self.held(id)? else {
            return Ok(false);
        };
        if alert.state != from {
            return Ok(false);
        }
        alert.state = to;
        alert.decided_by = (to != HeldState::Held).then(|| by.to_string());
        alert.decided_ms = (to != HeldState::Held).then_some(at_ms);
        let json = serde_json::to_string(&alert).map_err(|e| self.err(e))?;
        let (id, from, to) = (id.to_string(), from.as_str(), to.as_str());
        // The state in the WHERE clause makes the move happen once, whoever races.
        let changed = on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE held_alerts SET state = $1, record = $2 WHERE id = $3 AND state = $4",
                )
                .bind(to)
                .bind(json)
                .bind(id)
                .bind(from)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
            })
        })?;
        Ok(changed == 1)
    }
}

impl StateDb {
    fn parse_held(&self, json: &str) -> Result<HeldAlert, ApprovalError> {
        serde_json::from_str(json).map_err(|e| ApprovalError::Damaged {
            id: "?".into(),
            problem: format!("{}: not a held alert ({e})", self.name),
        })
    }
}

impl PinStore for StateDb {
    fn load_pin(&self, key: &str) -> Result<Option<ServerPin>, ApprovalError> {
        let key = key.to_string();
        let row = on_db!(self, move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT record FROM mcp_pins WHERE key = $1")
                    .bind(key)
                    .fetch_optional(c)
                    .await?;
                row.map(|r| r.try_get::<String, _>(0)).transpose()
            })
        })?;
        row.map(|r| self.parse_pin(&r)).transpose()
    }

    fn insert_pin(&self, pin: &ServerPin) -> Result<bool, ApprovalError> {
        let json = serde_json::to_string(pin).map_err(|e| self.err(e))?;
        let key = pin.key.clone();
        let version = to_i64(&self.name, pin.version)?;
        let n = on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO mcp_pins (key, version, record) VALUES ($1, $2, $3) \
                     ON CONFLICT(key) DO NOTHING",
                )
                .bind(key)
                .bind(version)
                .bind(json)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
            })
        })?;
        Ok(n == 1)
    }

    fn replace_pin(&self, prev: u64, pin: &ServerPin) -> Result<bool, ApprovalError> {
        let json = serde_json::to_string(pin).map_err(|e| self.err(e))?;
        let key = pin.key.clone();
        let version = to_i64(&self.name, pin.version)?;
        let prev = to_i64(&self.name, prev)?;
        let n = on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE mcp_pins SET version = $1, record = $2 WHERE key = $3 AND version = $4",
                )
                .bind(version)
                .bind(json)
                .bind(key)
                .bind(prev)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
            })
        })?;
        Ok(n == 1)
    }

    fn list_pins(&self) -> Result<Vec<ServerPin>, ApprovalError> {
        let rows = on_db!(self, move |c| {
            Box::pin(async move {
                let rows = sqlx::query("SELECT record FROM mcp_pins ORDER BY key")
                    .fetch_all(c)
                    .await?;
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<Vec<_>, _>>()
            })
        })?;
        rows.iter().map(|r| self.parse_pin(r)).collect()
    }

    fn remove_pin(&self, key: &str) -> Result<bool, ApprovalError> {
        let key = key.to_string();
        let n = on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM mcp_pins WHERE key = $1")
                    .bind(key)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
            })
        })?;
        Ok(n == 1)
    }
}

impl StateDb {
    /// Store a console session under `id` (the hex SHA-256 of its cookie).
    pub fn insert_session(&self, id: &str, session: &ConsoleSession) -> Result<(), ApprovalError> {
        let id = id.to_string();
        let token_id = session.token_id.clone();
        let expires = to_i64("expires_ms", session.expires_ms)?;
        let json = serde_json::to_string(session).map_err(|e| self.err(e))?;
        on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO console_sessions (id, token_id, expires_ms, record) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(token_id)
                .bind(expires)
                .bind(json)
                .execute(c)
                .await
                .map(|_| ())
            })
        })
    }

    /// The session stored under `id`, if it has not ended by `now_ms`.
    pub fn session(&self, id: &str, now_ms: u64) -> Result<Option<ConsoleSession>, ApprovalError> {
        let id = id.to_string();
        let now = to_i64("now", now_ms)?;
        let json: Option<String> = on_db!(self, move |c| {
            Box::pin(async move {
                let row = sqlx::query(
                    "SELECT record FROM console_sessions WHERE id = $1 AND expires_ms > $2",
                )
                .bind(id)
                .bind(now)
                .fetch_optional(c)
                .await?;
                row.map(|r| r.try_get::<String, _>(0)).transpose()
            })
        })?;
        json.map(|j| {
            serde_json::from_str(&j).map_err(|e| ApprovalError::Damaged {
                id: "?".into(),
                problem: format!("{}: not a console session ({e})", self.name),
            })
        })
        .transpose()
    }

    /// End the session stored under `id`; `Ok(false)` when there was none.
    pub fn remove_session(&self, id: &str) -> Result<bool, ApprovalError> {
        let id = id.to_string();
        let n = on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM console_sessions WHERE id = $1")
                    .bind(id)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
            })
        })?;
        Ok(n == 1)
    }

    /// Store a sign-in flow in progress (`record`, opaque here) under `id` until `expires_ms`,
    /// forgetting the flows that ended by `now_ms`.
    pub fn insert_flow(
        &self,
        id: &str,
        record: &str,
        now_ms: u64,
        expires_ms: u64,
    ) -> Result<(), ApprovalError> {
        let (id, record) = (id.to_string(), record.to_string());
        let now = to_i64("now", now_ms)?;
        let expires = to_i64("expires_ms", expires_ms)?;
        on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM console_flows WHERE expires_ms <= $1")
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                sqlx::query(
                    "INSERT INTO console_flows (id, expires_ms, record) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(expires)
                .bind(record)
                .execute(&mut *c)
                .await
                .map(|_| ())
            })
        })
    }

    /// Take the flow stored under `id` if it has not ended by `now_ms`: its record, once (one
    /// `DELETE ... RETURNING`, which only one caller's statement can match).
    pub fn take_flow(&self, id: &str, now_ms: u64) -> Result<Option<String>, ApprovalError> {
        let id = id.to_string();
        let now = to_i64("now", now_ms)?;
        on_db!(self, move |c| {
            Box::pin(async move {
                let row = sqlx::query(
                    "DELETE FROM console_flows WHERE id = $1 AND expires_ms > $2 RETURNING record",
                )
                .bind(id)
                .bind(now)
                .fetch_optional(c)
                .await?;
                row.map(|r| r.try_get::<String, _>(0)).transpose()
            })
        })
    }

    /// Forget the sessions that ended by `now_ms`; how many.
    pub fn purge_sessions(&self, now_ms: u64) -> Result<u64, ApprovalError> {
        let now = to_i64("now", now_ms)?;
        on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1")
                    .bind(now)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
            })
        })
    }

    fn parse_pin(&self, json: &str) -> Result<ServerPin, ApprovalError> {
        serde_json::from_str(json).map_err(|e| ApprovalError::Damaged {
            id: "?".into(),
            problem: format!("{}: not an MCP pin ({e})", self.name),
        })
    }
}

/// Most handoffs kept at once; past it the oldest are dropped (a handoff lost makes the MCP
/// gateway stricter, never looser).
const MAX_HANDOFFS: i64 = 16_384;

impl HandoffStore for StateDb {
    fn put_handoff(&self, h: &Handoff, now_ms: u64) -> Result<(), ApprovalError> {
        let json = serde_json::to_string(h).map_err(|e| self.err(e))?;
        let key = h.key.clone();
        let expires = to_i64(&self.name, h.expires_ms)?;
        let now = to_i64(&self.name, now_ms)?;
        on_db!(self, move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM provenance_handoffs WHERE expires_ms <= $1")
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                // Ids only grow: the newest are the highest, found by the primary key.
                sqlx::query(
                    "DELETE FROM provenance_handoffs WHERE id <= \
                     (SELECT MAX(id) FROM provenance_handoffs) - $1",
                )
                .bind(MAX_HANDOFFS - 1)
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "INSERT INTO provenance_handoffs (key, expires_ms, record) VALUES ($1, $2, $3)",
                )
                .bind(key)
                .bind(expires)
                .bind(json)
                .execute(&mut *c)
                .await
                .map(|_| ())
            })
        })
    }

    fn take_handoff(&self, w: &Wanted<'_>) -> Result<Option<Handoff>, ApprovalError> {
        let k = w.key.to_string();
        let now = to_i64(&self.name, w.now_ms)?;
        let rows: Vec<(i64, String)> = on_db!(self, move |c| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT id, record FROM provenance_handoffs WHERE key = $1 AND expires_ms > $2 \
                     ORDER BY id LIMIT 256",
                )
                .bind(k)
                .bind(now)
                .fetch_all(c)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?)))
                    .collect::<Result<Vec<_>, sqlx::Error>>()
            })
        })?;
        for (id, record) in rows {
            // A damaged row is not a judgement: skipped, never matched.
            let Ok(h) = serde_json::from_str::<Handoff>(&record) else {
                continue;
            };
            if !w.covered_by(&h) {
                continue;
            }
            // Taken once: of two processes racing for it, one deletes the row.
            let n = on_db!(self, move |c| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM provenance_handoffs WHERE id = $1")
                        .bind(id)
                        .execute(c)
                        .await
                        .map(|r| r.rows_affected())
                })
            })?;
            if n == 1 {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }
}
