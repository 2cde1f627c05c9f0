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

use std::path::{Path, PathBuf};
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
use crate::sqlite::{connect, runtime};

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
];

/// The state database. Safe to share across threads (calls are serialized on one
/// connection); several processes may open the same file.
pub struct StateDb {
    path: PathBuf,
    inner: Mutex<Option<(tokio::runtime::Runtime, SqliteConnection)>>,
}

fn to_i64(path: &Path, v: u64) -> Result<i64, ApprovalError> {
    i64::try_from(v).map_err(|_| {
        ApprovalError::Store(format!(
            "{}: value {v} does not fit the database",
            path.display()
        ))
    })
}

impl StateDb {
    /// Open (creating it 0600) the database at `path`.
    pub fn open(path: &Path) -> Result<StateDb, StoreError> {
        let rt = runtime(path)?;
        let conn = connect(&rt, path, true, DDL)?;
        Ok(StateDb {
            path: path.to_path_buf(),
            inner: Mutex::new(Some((rt, conn))),
        })
    }

    /// Where it is.
    ///
    /// Every method blocks: from an async runtime, call them with `spawn_blocking`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: impl std::fmt::Display) -> ApprovalError {
        ApprovalError::Store(format!("{}: {e}", self.path.display()))
    }

    fn with<T>(
        &self,
        f: impl for<'c> FnOnce(
            &'c mut SqliteConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, sqlx::Error>> + 'c>,
        >,
    ) -> Result<T, ApprovalError> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (rt, conn) = guard
            .as_mut()
            .ok_or_else(|| self.err("the database is closed"))?;
        rt.block_on(f(conn)).map_err(|e| self.err(e))
    }

    fn parse(&self, json: &str) -> Result<ApprovalRecord, ApprovalError> {
        serde_json::from_str(json).map_err(|e| ApprovalError::Damaged {
            id: "?".into(),
            problem: format!("{}: not an approval record ({e})", self.path.display()),
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
        let version = to_i64(&self.path, record.version)?;
        let created = to_i64(&self.path, record.created_ms)?;
        let expires = to_i64(&self.path, record.expires_ms)?;
        let intent = intent_json.to_string();
        self.with(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO approvals (id, state, version, created_ms, expires_ms, record, intent) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        let row = self.with(move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT record, intent FROM approvals WHERE id = ?")
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
        let rows = self.with(move |c| {
            Box::pin(async move {
                let rows = match state {
                    Some(s) => {
                        sqlx::query(
                            "SELECT record FROM approvals WHERE state = ? \
                             ORDER BY created_ms DESC, id LIMIT ?",
                        )
                        .bind(s)
                        .bind(limit)
                        .fetch_all(c)
                        .await?
                    }
                    None => {
                        sqlx::query(
                            "SELECT record FROM approvals ORDER BY created_ms DESC, id LIMIT ?",
                        )
                        .bind(limit)
                        .fetch_all(c)
                        .await?
                    }
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
        let rows = self.with(move |c| {
            Box::pin(async move {
                // The requester is kept in the record's JSON.
                sqlx::query(
                    "SELECT record FROM approvals \
                     WHERE (json_extract(record, '$.requested_by') = ? \
                            OR (? AND state = 'pending')) \
                       AND (? IS NULL OR state = ?) \
                     ORDER BY created_ms DESC, id LIMIT ?",
                )
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
        let now = to_i64(&self.path, now_ms)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.with(move |c| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT record FROM approvals WHERE state IN ('pending', 'approved') \
                     AND expires_ms <= ? ORDER BY expires_ms LIMIT ?",
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
        let version = to_i64(&self.path, record.version)?;
        let expected = to_i64(&self.path, expected_version)?;
        let changed = self.with(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE approvals SET state = ?, version = ?, record = ? \
                     WHERE id = ? AND version = ?",
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
        self.with(move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT value FROM settings WHERE key = ?")
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
        self.with(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO settings (key, value) VALUES (?, ?) \
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
        self.with(move |c| {
            Box::pin(async move {
                sqlx::query("INSERT INTO api_tokens (id, name, record) VALUES (?, ?, ?)")
                    .bind(id)
                    .bind(name)
                    .bind(json)
                    .execute(c)
                    .await
                    .map(|_| ())
            })
        })
    }

    /// Every token record, revoked ones included, oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, ApprovalError> {
        let rows = self.with(|c| {
            Box::pin(async move {
                let rows = sqlx::query("SELECT record FROM api_tokens ORDER BY rowid")
                    .fetch_all(c)
                    .await?;
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
                self.with(move |c| {
                    Box::pin(async move {
                        sqlx::query("UPDATE api_tokens SET record = ?, revoked = 1 WHERE id = ?")
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
        Ok(n)
    }
}

impl Drop for StateDb {
    fn drop(&mut self) {
        // The last handle may go away on an async runtime's thread (a server shutting down):
        // a runtime must not be dropped there, so it is shut down in the background.
        if let Some((rt, conn)) = self.inner.lock().ok().and_then(|mut g| g.take()) {
            drop(conn);
            rt.shutdown_background();
        }
    }
}

impl HeldStore for StateDb {
    fn hold(&self, alert: &HeldAlert) -> Result<(), ApprovalError> {
        let json = serde_json::to_string(alert).map_err(|e| self.err(e))?;
        let (id, state) = (alert.id.clone(), alert.state.as_str());
        let received = to_i64(&self.path, alert.received_ms)?;
        self.with(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO held_alerts (id, state, received_ms, record) VALUES (?, ?, ?, ?)",
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
        let row = self.with(move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT record FROM held_alerts WHERE id = ?")
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
        let rows = self.with(move |c| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT record FROM held_alerts WHERE (? IS NULL OR state = ?) \
                     ORDER BY received_ms DESC, id LIMIT ?",
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
        let changed = self.with(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE held_alerts SET state = ?, record = ? WHERE id = ? AND state = ?",
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
            problem: format!("{}: not a held alert ({e})", self.path.display()),
        })
    }
}

impl PinStore for StateDb {
    fn load_pin(&self, key: &str) -> Result<Option<ServerPin>, ApprovalError> {
        let key = key.to_string();
        let row = self.with(move |c| {
            Box::pin(async move {
                let row = sqlx::query("SELECT record FROM mcp_pins WHERE key = ?")
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
        let version = to_i64(&self.path, pin.version)?;
        let n = self.with(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO mcp_pins (key, version, record) VALUES (?, ?, ?) \
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
        let version = to_i64(&self.path, pin.version)?;
        let prev = to_i64(&self.path, prev)?;
        let n = self.with(move |c| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE mcp_pins SET version = ?, record = ? WHERE key = ? AND version = ?",
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
        let rows = self.with(move |c| {
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
        let n = self.with(move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM mcp_pins WHERE key = ?")
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
    fn parse_pin(&self, json: &str) -> Result<ServerPin, ApprovalError> {
        serde_json::from_str(json).map_err(|e| ApprovalError::Damaged {
            id: "?".into(),
            problem: format!("{}: not an MCP pin ({e})", self.path.display()),
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
        let expires = to_i64(&self.path, h.expires_ms)?;
        let now = to_i64(&self.path, now_ms)?;
        self.with(move |c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM provenance_handoffs WHERE expires_ms <= ?")
                    .bind(now)
                    .execute(&mut *c)
                    .await?;
                // Ids only grow: the newest are the highest, found by the primary key.
                sqlx::query(
                    "DELETE FROM provenance_handoffs WHERE id <= \
                     (SELECT MAX(id) FROM provenance_handoffs) - ?",
                )
                .bind(MAX_HANDOFFS - 1)
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "INSERT INTO provenance_handoffs (key, expires_ms, record) VALUES (?, ?, ?)",
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
        let now = to_i64(&self.path, w.now_ms)?;
        let rows: Vec<(i64, String)> = self.with(move |c| {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT id, record FROM provenance_handoffs WHERE key = ? AND expires_ms > ? \
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
            let n = self.with(move |c| {
                Box::pin(async move {
                    sqlx::query("DELETE FROM provenance_handoffs WHERE id = ?")
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
