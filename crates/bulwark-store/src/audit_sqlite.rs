//! The SQLite backend of the audit log: the same records, checkpoints and verification as the file
//! backend, in one database file (WAL journal, `synchronous = FULL`: a batch is durable when its
//! transaction commits, and a crash can never leave half a record).
//!
//! Tables: `audit_records(id INTEGER PRIMARY KEY, line TEXT NOT NULL)`, where `id` is the record's
//! `seq` and `line` its JSON line exactly as the file backend writes it, and
//! `audit_checkpoints(id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)`. Verification
//! reads records in `id` order, so a row whose content was swapped, edited or deleted is named as in
//! a file.

use std::path::{Path, PathBuf};

use bulwark_core::Redactor;
use bulwark_core::audit::{Chain, Checkpoint, Verifier, VerifyOptions, VerifyReport};
use sqlx::sqlite::SqliteConnection;
use sqlx::{Connection, Row};

use crate::StoreError;
use crate::audit_file::{
    AuditLog, DirVerify, FileLogOptions, LineSink, OpenReport, Storage, Writer, verify_parallel,
};
use crate::keys::AuditKeys;

use crate::sqlite::{db_error, runtime};

/// The audit tables.
const AUDIT_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_records (id INTEGER PRIMARY KEY, line TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT NOT NULL)",
];

fn connect(
    rt: &tokio::runtime::Runtime,
    path: &Path,
    create: bool,
) -> Result<SqliteConnection, StoreError> {
    crate::sqlite::connect(rt, path, create, AUDIT_DDL)
}

/// Read every checkpoint in the database.
pub fn read_db_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, StoreError> {
    let rt = runtime(path)?;
    let mut conn = connect(&rt, path, false)?;
    let rows = rt
        .block_on(
            sqlx::query("SELECT line FROM audit_checkpoints ORDER BY id").fetch_all(&mut conn),
        )
        .map_err(|e| db_error(path, e))?;
    rows.iter()
        .map(|row| {
            let line: String = row.try_get(0).map_err(|e| db_error(path, e))?;
            serde_json::from_str(&line).map_err(|e| StoreError::Damaged {
                dir: path.to_path_buf(),
                kind: "malformed",
                where_: format!("{} audit_checkpoints", path.display()),
                message: format!("not a checkpoint ({e})"),
            })
        })
        .collect()
}

/// Call `f(line, true, "<db> id N", N)` for every record row in `id` order, in pages (bounded
/// memory). `f` returns false to stop.
pub fn for_each_db_line(path: &Path, f: &mut LineSink<'_>) -> Result<(), StoreError> {
    for_each_db_line_after(path, i64::MIN, f)
}

/// [`for_each_db_line`] for the rows whose `id` is above `after` (to follow a growing log).
pub fn for_each_db_line_after(
    path: &Path,
    mut after: i64,
    f: &mut LineSink<'_>,
) -> Result<(), StoreError> {
    let rt = runtime(path)?;
    let mut conn = connect(&rt, path, false)?;
    let name = format!("{} audit_records", path.display());
    loop {
        let rows = rt
            .block_on(
                sqlx::query(
                    "SELECT id, line FROM audit_records WHERE id > ? ORDER BY id LIMIT 4096",
                )
                .bind(after)
                .fetch_all(&mut conn),
            )
            .map_err(|e| db_error(path, e))?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            let id: i64 = row.try_get(0).map_err(|e| db_error(path, e))?;
            let line: String = row.try_get(1).map_err(|e| db_error(path, e))?;
            after = id;
            if !f(line.as_bytes(), true, &name, id as u64) {
                return Ok(());
            }
        }
    }
}

/// Verify the log in a database file.
pub fn verify_db(path: &Path, with: &DirVerify<'_>) -> Result<(VerifyReport, Chain), StoreError> {
    if !path.is_file() {
        return Err(StoreError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such audit database"),
        ));
    }
    let v = Verifier::new(VerifyOptions {
        keys: with.keys.iter().collect(),
        public_key: with.public_key,
        checkpoints: read_db_checkpoints(path)?,
        start: None,
    });
    let v = verify_parallel(&|f: &mut LineSink<'_>| for_each_db_line(path, f), v)?;
    Ok(v.finish_with_chain())
}

/// The SQLite storage the writer thread uses.
struct SqliteStorage {
    path: PathBuf,
    rt: tokio::runtime::Runtime,
    conn: SqliteConnection,
}

impl Storage for SqliteStorage {
    fn write_records(
        &mut self,
        buf: &[u8],
        lines: &[(u64, std::ops::Range<usize>)],
        _first_timestamp: &str,
    ) -> Result<(), StoreError> {
        let path = &self.path;
        let conn = &mut self.conn;
        self.rt.block_on(async {
            let mut tx = conn.begin().await.map_err(|e| db_error(path, e))?;
            // One multi-row INSERT per chunk: a round trip to SQLite's worker per chunk, not per row.
            for chunk in lines.chunks(256) {
                let mut sql = String::from("INSERT INTO audit_records (id, line) VALUES ");
                for i in 0..chunk.len() {
                    sql.push_str(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
                }
                // Only constant placeholders are added to the text: the values are bound.
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (seq, range) in chunk {
                    let line =
                        std::str::from_utf8(&buf[range.clone()]).map_err(|e| db_error(path, e))?;
                    q = q.bind(*seq as i64).bind(line);
                }
                q.execute(&mut *tx).await.map_err(|e| db_error(path, e))?;
            }
            tx.commit().await.map_err(|e| db_error(path, e))
        })
    }

    fn write_checkpoint(&mut self, line: &[u8]) -> Result<(), StoreError> {
        let path = &self.path;
        let line = std::str::from_utf8(line).map_err(|e| db_error(path, e))?;
        self.rt
            .block_on(
                sqlx::query("INSERT INTO audit_checkpoints (line) VALUES (?)")
                    .bind(line)
                    .execute(&mut self.conn),
            )
            .map(|_| ())
            .map_err(|e| db_error(path, e))
    }
}

impl AuditLog {
    /// Open (or create) the log in the SQLite database `path`, verify what is there with the keys,
    /// and start the writer. `opts` gives the checkpoint and group-commit settings (its directory,
    /// segment and retention settings do not apply). Fails closed like [`AuditLog::open`].
    pub fn open_sqlite(
        path: &Path,
        opts: FileLogOptions,
        keys: AuditKeys,
        redactor: Option<Redactor>,
    ) -> Result<(AuditLog, OpenReport), StoreError> {
        let rt = runtime(path)?;
        let conn = connect(&rt, path, true)?;
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = crate::fs::lock_writer(path, Path::new(&lock_path), crate::fs::LOCK_WAIT)?;
        // From the last signed checkpoint on (the record it names is row `seq`), else everything.
        let lines_from = |seq: u64, sink: &mut LineSink<'_>| {
            for_each_db_line_after(path, i64::try_from(seq).unwrap_or(i64::MAX) - 1, sink)
        };
        let (verified, chain) = crate::audit_file::verify_on_open(
            opts.open_verify,
            &keys,
            || read_db_checkpoints(path),
            &lines_from,
            |with| verify_db(path, with),
        )?;
        if let Some(f) = &verified.failure {
            return Err(StoreError::damaged(path, f));
        }
        let storage = SqliteStorage {
            path: path.to_path_buf(),
            rt,
            conn,
        };
        let mut w = Writer::new(opts, keys, chain, Box::new(storage));
        w._lock = Some(lock);
        let report = OpenReport {
            checked: verified.records,
            last_seq: verified.last_seq,
            ..OpenReport::default()
        };
        Ok((AuditLog::start(w, redactor)?, report))
    }
}
