//! Approvals in the state database (SQLite, `[store] db`): one row per approval, transitions as compare-and-swap updates.
//!
//! Table `approvals(id TEXT PRIMARY KEY, state TEXT, version INTEGER, created_ms INTEGER,
//! expires_ms INTEGER, record TEXT, intent TEXT)`: `record` is the approval's JSON
//! ([`ApprovalRecord`]), `intent` the canonical JSON of the intent it is for. A transition is
//! `UPDATE ... WHERE id = ? AND version = ?`: SQLite runs it atomically, across threads and
//! processes, so of many racing writers exactly one changes a given version. Table
//! `settings(key TEXT PRIMARY KEY, value TEXT)` remembers things such as the last action mode.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bulwark_core::approval::{ApprovalError, ApprovalId, ApprovalRecord, ApprovalStore, StateName};
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
];

/// The approvals tables of the state database. Safe to share across threads (calls are serialized on one
/// connection); several processes may open the same file.
pub struct SqliteApprovals {
    path: PathBuf,
    inner: Mutex<(tokio::runtime::Runtime, SqliteConnection)>,
}

fn to_i64(path: &Path, v: u64) -> Result<i64, ApprovalError> {
    i64::try_from(v).map_err(|_| {
        ApprovalError::Store(format!(
            "{}: value {v} does not fit the database",
            path.display()
        ))
    })
}

impl SqliteApprovals {
    /// Open (creating it 0600) the database at `path`.
    pub fn open(path: &Path) -> Result<SqliteApprovals, StoreError> {
        let rt = runtime(path)?;
        let conn = connect(&rt, path, true, DDL)?;
        Ok(SqliteApprovals {
            path: path.to_path_buf(),
            inner: Mutex::new((rt, conn)),
        })
    }

    /// Where it is.
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
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| self.err("a thread panicked while using the database"))?;
        let (rt, conn) = &mut *guard;
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

impl ApprovalStore for SqliteApprovals {
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
