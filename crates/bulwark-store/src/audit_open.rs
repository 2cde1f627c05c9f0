//! Which audit log the configuration names, whatever its backend: opened for appending (by the
//! process, or through the running sidecar's relay) or read back ([`LogSource`]: the file,
//! SQLite or PostgreSQL log, to verify, tail and export).

use std::path::{Path, PathBuf};

use bulwark_core::Redactor;
use bulwark_core::audit::{Chain, VerifyReport};
use bulwark_core::config::AuditConfig;

use crate::StoreError;
use crate::audit_file::{
    AuditLog, DirVerify, FileLogOptions, LineSink, OpenReport, for_each_line, segment_files,
    verify_dir,
};

/// Open the audit log the configuration describes: `[audit]` options, keys in `home/keys`
/// (created on first use) or in the vault, secrets (and personal data if `[audit] redact_pii`)
/// redacted from every record's details and resource with the `[redact]` operators. `secrets`
/// holds the configuration's decrypted `vault:NAME` references; `env` reads the environment.
pub fn open_configured(
    cfg: &bulwark_core::SecurityConfig,
    home: &Path,
    secrets: &crate::vault_file::Secrets,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(AuditLog, OpenReport), StoreError> {
    let scanner =
        bulwark_core::Scanner::new(&cfg.scan).map_err(|e| StoreError::Config(e.to_string()))?;
    let redactor = Redactor::new(scanner, &cfg.redact, &|k| secrets.lookup(k, env))
        .map_err(|e| StoreError::Config(e.to_string()))?
        .with_detectors(bulwark_core::Detectors {
            secrets: true,
            pii: cfg.audit.redact_pii,
            injection: false,
        });
    let files = crate::keys::KeyFiles::configured(&cfg.audit, home, secrets)?;
    let source = LogSource::configured(cfg, home, secrets, env)?;
    // Records first, then the key file: a process that wrote records had created the key file
    // before (complete when visible), so records seen mean the file is seen too. The other order
    // let a second process starting on a new home see no key file, then the first one's records.
    if source.has_records()? && files.hmac_file_missing() {
        // A new key would make every existing record look forged: say what happened instead.
        return Err(StoreError::Keys(format!(
            "the audit log at {} holds records but its HMAC key file {} is missing, so nothing can be appended or verified: restore the keys directory from a backup; or, to start a new log, move the old one aside (its records stay checkable with `bulwark audit verify --public-key` against the signed checkpoints)",
            source.path().display(),
            files.hmac_location()
        )));
    }
    let keys = files.load_or_create()?;
    let opts = FileLogOptions::from_config(&cfg.audit, home);
    match source {
        LogSource::Dir(_) => AuditLog::open(opts, keys, Some(redactor)),
        LogSource::Db(db) => AuditLog::open_sqlite(&db, opts, keys, Some(redactor)),
        LogSource::Pg(log) => AuditLog::open_postgres(
            &log,
            &crate::audit_pg::instance_name(&cfg.store.instance),
            opts,
            keys,
            Some(redactor),
        ),
    }
}

/// For a command: append through the running sidecar's relay when one answers (so nothing waits
/// on its lock), else open the log as [`open_configured`] does.
pub fn open_or_relay(
    cfg: &bulwark_core::SecurityConfig,
    home: &Path,
    secrets: &crate::vault_file::Secrets,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(AuditLog, OpenReport), StoreError> {
    if let Some(stream) = crate::audit_relay::connect(home) {
        return Ok((AuditLog::relayed(stream)?, OpenReport::default()));
    }
    open_configured(cfg, home, secrets, env)
}

/// Where a log is stored, to read it back whatever the backend.
#[derive(Debug, Clone)]
pub enum LogSource {
    /// A file-backend directory.
    Dir(PathBuf),
    /// A SQLite database.
    Db(PathBuf),
    /// A PostgreSQL database: every instance's chain.
    Pg(crate::audit_pg::PgLog),
}

impl LogSource {
    /// The file or SQLite log the configuration describes (`home` resolves empty paths); `None`
    /// for `postgres`, which needs [`LogSource::configured`] to resolve `[store] url`.
    pub fn from_config(cfg: &AuditConfig, home: &Path) -> Option<LogSource> {
        match cfg.backend {
            bulwark_core::config::AuditBackend::File => {
                Some(LogSource::Dir(FileLogOptions::from_config(cfg, home).dir))
            }
            bulwark_core::config::AuditBackend::Sqlite => {
                Some(LogSource::Db(if cfg.db.is_empty() {
                    home.join("audit.db")
                } else {
                    PathBuf::from(&cfg.db)
                }))
            }
            bulwark_core::config::AuditBackend::Postgres => None,
        }
    }

    /// The log the configuration describes: for `postgres`, connected to the database
    /// `[store] url` names (`secrets` and `env` resolve it).
    pub fn configured(
        cfg: &bulwark_core::SecurityConfig,
        home: &Path,
        secrets: &crate::vault_file::Secrets,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LogSource, StoreError> {
        if let Some(s) = LogSource::from_config(&cfg.audit, home) {
            return Ok(s);
        }
        let url = secrets
            .value(&cfg.store.url, env)
            .map_err(|e| StoreError::Config(format!("store.url: {e}")))?
            .ok_or_else(|| {
                StoreError::Config(
                    "[audit] backend = \"postgres\" needs [store] url, the PostgreSQL database the log goes to".into(),
                )
            })?;
        Ok(LogSource::Pg(crate::audit_pg::PgLog::connect(&url)?))
    }

    /// Whether it holds any record (a segment or a database with content).
    pub fn has_records(&self) -> Result<bool, StoreError> {
        Ok(match self {
            LogSource::Dir(d) => segment_files(d)
                .map(|segs| {
                    segs.iter()
                        .any(|s| std::fs::metadata(s).is_ok_and(|m| m.len() > 0))
                })
                .unwrap_or(false),
            LogSource::Db(db) => std::fs::metadata(db).is_ok_and(|m| m.len() > 0),
            LogSource::Pg(log) => log.has_records()?,
        })
    }

    /// Where it is, for messages.
    pub fn path(&self) -> &Path {
        match self {
            LogSource::Dir(p) | LogSource::Db(p) => p,
            LogSource::Pg(log) => log.name(),
        }
    }

    /// Every line of the log, in order (see [`for_each_line`]).
    pub fn for_each_line(&self, f: &mut LineSink<'_>) -> Result<(), StoreError> {
        match self {
            LogSource::Dir(d) => for_each_line(d, f),
            LogSource::Db(db) => crate::audit_sqlite::for_each_db_line(db, f),
            LogSource::Pg(log) => log.for_each_line(f),
        }
    }

    /// Verify the log.
    pub fn verify(&self, with: &DirVerify<'_>) -> Result<(VerifyReport, Chain), StoreError> {
        match self {
            LogSource::Dir(d) => verify_dir(d, with),
            LogSource::Db(db) => crate::audit_sqlite::verify_db(db, with),
            LogSource::Pg(log) => log.verify(with),
        }
    }
}
