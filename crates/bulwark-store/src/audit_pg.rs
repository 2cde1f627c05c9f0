//! The PostgreSQL backend of the audit log (`[audit] backend = "postgres"`, in the database
//! `[store] url` names): the same records, checkpoints and verification as the file and SQLite
//! backends, with one hash chain per instance (`[store] instance`) so that sidecars sharing the
//! database never write the same chain.
//!
//! Tables (created by the schema migration, see [`crate::postgres`]):
//! `audit_records(instance, seq, line)`, primary key `(instance, seq)`, where `line` is the
//! record's JSON line exactly as the file backend writes it; `audit_checkpoints(id, instance,
//! line)`. Both refuse UPDATE, DELETE and TRUNCATE by trigger; give the sidecar's role only
//! INSERT and SELECT on them (docs/fleet.md has the SQL). A batch of records is one statement
//! (`UNNEST` of two arrays): one round trip and one commit per group commit.
//!
//! One writer per instance: the writer holds a session advisory lock named after the instance on
//! its own connection, so a second process given the same instance is refused instead of forking
//! the chain.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark_core::Redactor;
use bulwark_core::audit::{Chain, Checkpoint, Verifier, VerifyOptions, VerifyReport};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use crate::StoreError;
use crate::audit_file::{
    AuditLog, DirVerify, FileLogOptions, LineSink, OpenReport, Storage, Writer,
};
use crate::keys::AuditKeys;
use crate::postgres::Pg;

/// An audit log in a PostgreSQL database: every instance's chain, or one instance's.
#[derive(Clone)]
pub struct PgLog {
    db: Arc<Pg>,
    /// `PostgreSQL HOST:PORT/DB`, as a path for messages that name a log's place.
    name: PathBuf,
}

impl std::fmt::Debug for PgLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLog").field("db", &self.name).finish()
    }
}

impl PgLog {
    /// Connect to the database at `url` (its schema brought up to date).
    pub fn connect(url: &secrecy::SecretString) -> Result<PgLog, StoreError> {
        let db = Pg::shared(url)?;
        Ok(PgLog {
            name: PathBuf::from(&db.name),
            db,
        })
    }

    /// `PostgreSQL HOST:PORT/DB`.
    pub fn name(&self) -> &Path {
        &self.name
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Database(format!("{}: {e}", self.name.display()))
    }

    /// The instances that wrote records or checkpoints, in order.
    pub fn instances(&self) -> Result<Vec<String>, StoreError> {
        self.db
            .with(|c| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT DISTINCT instance FROM audit_records \
                         UNION SELECT DISTINCT instance FROM audit_checkpoints ORDER BY 1",
                    )
                    .fetch_all(c)
                    .await?;
                    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
                })
            })
            .map_err(|e| self.err(e))
    }

    /// Each instance's last record's `seq`.
    pub fn last_seqs(&self) -> Result<std::collections::BTreeMap<String, i64>, StoreError> {
        self.db
            .with(|c| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT instance, MAX(seq) FROM audit_records GROUP BY instance",
                    )
                    .fetch_all(c)
                    .await?;
                    rows.iter()
                        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                        .collect()
                })
            })
            .map_err(|e| self.err(e))
    }

    /// Whether any instance wrote a record.
    pub fn has_records(&self) -> Result<bool, StoreError> {
        self.db
            .with(|c| {
                Box::pin(async move {
                    sqlx::query("SELECT EXISTS (SELECT 1 FROM audit_records)")
                        .fetch_one(c)
                        .await?
                        .try_get::<bool, _>(0)
                })
            })
            .map_err(|e| self.err(e))
    }

    /// Every checkpoint of `instance`'s chain, in order.
    pub fn checkpoints(&self, instance: &str) -> Result<Vec<Checkpoint>, StoreError> {
        let i = instance.to_string();
        let lines = self
            .db
            .with(move |c| {
                Box::pin(async move {
                    let rows = sqlx::query(
                        "SELECT line FROM audit_checkpoints WHERE instance = $1 ORDER BY id",
                    )
                    .bind(i)
                    .fetch_all(c)
                    .await?;
                    rows.iter()
                        .map(|r| r.try_get::<String, _>(0))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .map_err(|e| self.err(e))?;
        lines
            .iter()
            .map(|line| {
                serde_json::from_str(line).map_err(|e| StoreError::Damaged {
                    dir: self.name.clone(),
                    kind: "malformed",
                    where_: format!("audit_checkpoints of instance {instance:?}"),
                    message: format!("not a checkpoint ({e})"),
                })
            })
            .collect()
    }

    /// Call `f(line, true, "instance I seq N", N)` for each of `instance`'s records whose `seq`
    /// is above `after`, in order, in pages (bounded memory). `f` returns false to stop; the
    /// result says whether it did.
    pub fn for_each_line_after(
        &self,
        instance: &str,
        mut after: i64,
        f: &mut LineSink<'_>,
    ) -> Result<bool, StoreError> {
        loop {
            let i = instance.to_string();
            let rows: Vec<(i64, String)> = self
                .db
                .with(move |c| {
                    Box::pin(async move {
                        let rows = sqlx::query(
                            "SELECT seq, line FROM audit_records WHERE instance = $1 AND seq > $2 \
                             ORDER BY seq LIMIT 4096",
                        )
                        .bind(i)
                        .bind(after)
                        .fetch_all(c)
                        .await?;
                        rows.iter()
                            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                            .collect::<Result<Vec<_>, sqlx::Error>>()
                    })
                })
                .map_err(|e| self.err(e))?;
            if rows.is_empty() {
                return Ok(true);
            }
            for (seq, line) in &rows {
                after = *seq;
                let place = format!("instance {instance:?} seq {seq}");
                if !f(line.as_bytes(), true, &place, *seq as u64) {
                    return Ok(false);
                }
            }
        }
    }

    /// Every record of every instance: instance by instance, each in `seq` order.
    pub fn for_each_line(&self, f: &mut LineSink<'_>) -> Result<(), StoreError> {
        for instance in self.instances()? {
            if !self.for_each_line_after(&instance, i64::MIN, f)? {
                break;
            }
        }
        Ok(())
    }

    /// Verify one instance's chain against its checkpoints.
    pub fn verify_instance(
        &self,
        instance: &str,
        with: &DirVerify<'_>,
    ) -> Result<(VerifyReport, Chain), StoreError> {
        let v = Verifier::new(VerifyOptions {
            keys: with.keys.iter().collect(),
            public_key: with.public_key,
            checkpoints: self.checkpoints(instance)?,
            start: None,
        });
        let v = crate::audit_file::verify_parallel(
            &|f: &mut LineSink<'_>| self.for_each_line_after(instance, i64::MIN, f).map(|_| ()),
            v,
        )?;
        Ok(v.finish_with_chain())
    }

    /// Verify every instance's chain. The report adds them up (records, checkpoints) and says
    /// each instance's count in `notices`; it stops at the first instance that fails, whose name
    /// the failure's message starts with.
    pub fn verify(&self, with: &DirVerify<'_>) -> Result<(VerifyReport, Chain), StoreError> {
        let mut total: Option<(VerifyReport, Chain)> = None;
        for instance in self.instances()? {
            let (mut r, chain) = self.verify_instance(&instance, with)?;
            if let Some(f) = &mut r.failure {
                f.message = format!("instance {instance:?}: {}", f.message);
            }
            r.notices = r
                .notices
                .into_iter()
                .map(|n| format!("instance {instance:?}: {n}"))
                .collect();
            r.notices.push(format!(
                "instance {instance:?}: {} records (last seq {})",
                r.records, r.last_seq
            ));
            let failed = r.failure.is_some();
            total = Some(match total {
                None => (r, chain),
                Some((mut t, _)) => {
                    t.records += r.records;
                    t.checkpoints_checked += r.checkpoints_checked;
                    t.unauthenticated += r.unauthenticated;
                    t.macs_checked &= r.macs_checked;
                    t.signatures_checked &= r.signatures_checked;
                    t.notices.extend(r.notices);
                    if !r.ok || t.status != r.status && t.ok {
                        t.ok = r.ok;
                        t.status = r.status;
                    }
                    t.failure = r.failure;
                    t.last_seq = r.last_seq;
                    t.last_hash = r.last_hash;
                    t.authenticated_through = r.authenticated_through;
                    (t, chain)
                }
            });
            if failed {
                break;
            }
        }
        match total {
            Some(t) => Ok(t),
            // No instance wrote anything: an empty log verifies.
            None => Ok(Verifier::new(VerifyOptions {
                keys: with.keys.iter().collect(),
                public_key: with.public_key,
                checkpoints: Vec::new(),
                start: None,
            })
            .finish_with_chain()),
        }
    }
}

/// The instance this process writes as: `[store] instance`, else the host's name (a pod's name in
/// Kubernetes), else `bulwark`.
pub fn instance_name(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_string();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "bulwark".into())
}

/// The storage the writer thread uses: a connection of its own, holding the instance's lock.
struct PgStorage {
    log: PgLog,
    instance: String,
    conn: PgConnection,
    /// The last record this writer knows is stored (its JSON line), to recognize the chain's end
    /// after a lost connection.
    last_line: Option<String>,
}

/// Whether `e` says the connection went away (the server restarted, the session was
/// terminated, the network dropped) rather than that the statement was refused.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// How long the writer tries to connect again after losing its connection, while the records
/// of the batch wait (unacknowledged).
const RECONNECT_FOR: std::time::Duration = std::time::Duration::from_secs(10);

impl PgStorage {
    fn insert(&mut self, seqs: &[i64], texts: &[&str]) -> Result<(), sqlx::Error> {
        let conn = &mut self.conn;
        self.log
            .db
            .call(
                sqlx::query(
                    "INSERT INTO audit_records (instance, seq, line) \
                     SELECT $1, s, l FROM UNNEST($2::bigint[], $3::text[]) AS t(s, l)",
                )
                .bind(&self.instance)
                .bind(seqs)
                .bind(texts)
                .execute(conn),
            )
            .map(|_| ())
    }

    /// The stored line of record `seq` of this instance.
    fn line_at(&mut self, seq: i64) -> Result<Option<String>, StoreError> {
        line_at(&self.log, &mut self.conn, &self.instance, seq)
    }

    /// A new connection holding the instance's lock again, tried for [`RECONNECT_FOR`].
    fn reconnect(&mut self) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + RECONNECT_FOR;
        loop {
            match lock_instance(&self.log, &self.instance, std::time::Duration::ZERO) {
                Ok(conn) => {
                    self.conn = conn;
                    tracing::warn!(
                        "{}: the audit writer of instance {:?} connected again",
                        self.log.name.display(),
                        self.instance
                    );
                    return Ok(());
                }
                Err(e) if std::time::Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(250)),
            }
        }
    }

    /// The instance's last `seq` in the database.
    fn tail(&mut self) -> Result<i64, StoreError> {
        let conn = &mut self.conn;
        self.log
            .db
            .call(async {
                sqlx::query_scalar::<_, Option<i64>>(
                    "SELECT max(seq) FROM audit_records WHERE instance = $1",
                )
                .bind(&self.instance)
                .fetch_one(conn)
                .await
            })
            .map(|t| t.unwrap_or(0))
            .map_err(|e| self.log.err(e))
    }
}

impl Storage for PgStorage {
    fn write_records(
        &mut self,
        buf: &[u8],
        lines: &[(u64, std::ops::Range<usize>)],
        _first_timestamp: &str,
    ) -> Result<(), StoreError> {
        let mut seqs = Vec::with_capacity(lines.len());
        let mut texts = Vec::with_capacity(lines.len());
        for (seq, range) in lines {
            seqs.push(i64::try_from(*seq).map_err(|e| self.log.err(e))?);
            texts.push(std::str::from_utf8(&buf[range.clone()]).map_err(|e| self.log.err(e))?);
        }
        let (Some(&first), Some(&last)) = (seqs.first(), seqs.last()) else {
            return Ok(());
        };
        let stored = texts.last().map(|t| t.to_string());
        // One statement: atomic, and durable once it returns (synchronous_commit on).
        match self.insert(&seqs, &texts) {
            Ok(()) => {
                self.last_line = stored;
                return Ok(());
            }
            Err(e) if !connection_lost(&e) => return Err(self.log.err(e)),
            Err(e) => tracing::warn!(
                "{}: the audit writer of instance {:?} lost its connection ({e}); connecting again",
                self.log.name.display(),
                self.instance
            ),
        }
        // Whether the batch landed before the connection went is unknown: look at the chain's end,
        // and check it is this writer's (its lock was gone meanwhile), byte for byte.
        self.reconnect()?;
        let tail = self.tail()?;
        if tail == last && self.line_at(last)? == stored {
            self.last_line = stored;
            return Ok(());
        }
        if tail == first - 1 && (tail == 0 || self.line_at(tail)? == self.last_line) {
            self.insert(&seqs, &texts).map_err(|e| self.log.err(e))?;
            self.last_line = stored;
            return Ok(());
        }
        Err(self.log.err(format!(
            "the chain of instance {:?} does not end where this writer left it (at record {} or {last}; it ends at {tail}, or with another record): another process wrote to it",
            self.instance,
            first - 1
        )))
    }

    fn write_checkpoint(&mut self, line: &[u8]) -> Result<(), StoreError> {
        let line = std::str::from_utf8(line).map_err(|e| self.log.err(e))?;
        for attempt in 0..2 {
            let conn = &mut self.conn;
            let done = self.log.db.call(
                sqlx::query("INSERT INTO audit_checkpoints (instance, line) VALUES ($1, $2)")
                    .bind(&self.instance)
                    .bind(line)
                    .execute(conn),
            );
            match done {
                Ok(_) => return Ok(()),
                // A checkpoint written twice is checked twice: harmless.
                Err(e) if attempt == 0 && connection_lost(&e) => self.reconnect()?,
                Err(e) => return Err(self.log.err(e)),
            }
        }
        Ok(())
    }
}

/// The stored line of record `seq` of `instance`.
fn line_at(
    log: &PgLog,
    conn: &mut PgConnection,
    instance: &str,
    seq: i64,
) -> Result<Option<String>, StoreError> {
    log.db
        .call(
            sqlx::query_scalar::<_, String>(
                "SELECT line FROM audit_records WHERE instance = $1 AND seq = $2",
            )
            .bind(instance)
            .bind(seq)
            .fetch_optional(conn),
        )
        .map_err(|e| log.err(e))
}

/// A connection of its own holding `instance`'s session lock, waiting up to `wait` for another
/// process to release it.
fn lock_instance(
    log: &PgLog,
    instance: &str,
    wait: std::time::Duration,
) -> Result<PgConnection, StoreError> {
    let mut conn = log
        .db
        .call(PgConnection::connect_with(&log.db.options))
        .map_err(|e| log.err(e))?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        let got: bool = log
            .db
            .call(async {
                sqlx::query("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                    .bind(format!("bulwark-audit:{instance}"))
                    .fetch_one(&mut conn)
                    .await?
                    .try_get(0)
            })
            .map_err(|e| log.err(e))?;
        if got {
            return Ok(conn);
        }
        if std::time::Instant::now() >= deadline {
            return Err(StoreError::Database(format!(
                "{}: another bulwark process writes the audit chain of instance {instance:?}: give each sidecar its own [store] instance (by default the host's name), or stop the other one",
                log.name.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// How long opening waits for another process to release the instance's chain.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl AuditLog {
    /// Open the log of `instance` in the database, verify that instance's chain with the keys, and
    /// start the writer. `opts` gives the checkpoint and group-commit settings. Fails closed like
    /// [`AuditLog::open`]; refused while another process writes as the same instance.
    pub fn open_postgres(
        log: &PgLog,
        instance: &str,
        opts: FileLogOptions,
        keys: AuditKeys,
        redactor: Option<Redactor>,
    ) -> Result<(AuditLog, OpenReport), StoreError> {
        // A session lock, held by this connection while the writer lives.
        let conn = lock_instance(log, instance, LOCK_WAIT)?;
        let lines_from = |seq: u64, sink: &mut LineSink<'_>| {
            log.for_each_line_after(instance, i64::try_from(seq).unwrap_or(i64::MAX) - 1, sink)
                .map(|_| ())
        };
        let (verified, chain) = crate::audit_file::verify_on_open(
            opts.open_verify,
            &keys,
            || log.checkpoints(instance),
            &lines_from,
            |with| log.verify_instance(instance, with),
        )?;
        if let Some(f) = &verified.failure {
            return Err(StoreError::damaged(&log.name, f));
        }
        let mut conn = conn;
        let last_line = line_at(
            log,
            &mut conn,
            instance,
            i64::try_from(verified.last_seq).unwrap_or(i64::MAX),
        )?;
        let storage = PgStorage {
            log: log.clone(),
            instance: instance.to_string(),
            conn,
            last_line,
        };
        let w = Writer::new(opts, keys, chain, Box::new(storage));
        let report = OpenReport {
            checked: verified.records,
            last_seq: verified.last_seq,
            ..OpenReport::default()
        };
        Ok((AuditLog::start(w, redactor)?, report))
    }
}
