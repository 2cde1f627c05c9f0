//! `bulwark audit append|verify|tail|export|recover|rotate-key`: the tamper-evident audit log.

use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bulwark_core::SecurityConfig;
use bulwark_core::audit::{AuditEvent, AuditRecord, AuditSink, EventType, FailureKind};
use bulwark_store::AuditLog;
use bulwark_store::audit_file::{DirVerify, remove_torn_tail, segment_files};
use bulwark_store::audit_open::LogSource;
use bulwark_store::keys::{KeyFiles, read_public_key};
use clap::Subcommand;

use crate::{Fatal, PlainFormat, load_config};

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Record an event of your own (operators and scripts).
    Append {
        /// Event type: decision, approval, config_change, auth, egress, ingress, vault, custom.
        #[arg(long = "type", value_name = "TYPE")]
        event_type: String,
        /// Who did it.
        #[arg(long)]
        actor: String,
        /// What was done.
        #[arg(long)]
        action: String,
        /// What it was done to.
        #[arg(long)]
        resource: String,
        /// How it ended.
        #[arg(long, default_value = "ok")]
        outcome: String,
        /// Details, as a JSON value (secrets and personal data in it are redacted).
        #[arg(long, value_name = "JSON")]
        details: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Verify the chain, the MACs (when the HMAC key is here) and the signed checkpoints
    /// (exit 0 verified, 1 failed, 2 usage error, 3 verified but not every record authenticated:
    /// no HMAC key and records no signed checkpoint covers).
    Verify {
        /// A file-backend log directory (default: the configured log).
        #[arg(long, value_name = "DIR", conflicts_with = "db")]
        path: Option<PathBuf>,
        /// A SQLite-backend database (default: the configured log).
        #[arg(long, value_name = "FILE")]
        db: Option<PathBuf>,
        /// The checkpoint public key file (default: $BULWARK_HOME/keys/audit-signing.pub).
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Print the last records.
    Tail {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 10)]
        lines: usize,
        /// Keep printing records as they are appended.
        #[arg(long, short = 'f')]
        follow: bool,
        /// `json` prints one record a line, as stored.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Print records since a time, one JSON object a line (for a SIEM).
    Export {
        /// RFC 3339 time (`2026-11-22T00:00:00Z`) or a duration ago (`24h`, `7days`).
        #[arg(long, value_name = "TIME")]
        since: String,
        /// Output format (JSON Lines).
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
    /// Remove a torn last line left by a crash (kept in a side file), and record that it did.
    Recover {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Seal records with a new HMAC key from now on (the rotation is recorded with the old key).
    RotateKey,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One record a line, as stored.
    Jsonl,
}

struct Paths {
    home: PathBuf,
}

fn paths(_cfg: &SecurityConfig) -> Result<Paths, Fatal> {
    Ok(Paths {
        home: crate::home_dir()?,
    })
}

impl Paths {
    /// The log to read back, connected only by the commands that read it (an append goes through
    /// the running sidecar's relay without it).
    fn source(&self, cfg: &SecurityConfig) -> Result<LogSource, Fatal> {
        crate::audit_source(cfg, &self.home)
    }
}

/// The audit keys: files in `$BULWARK_HOME/keys`, or the vault (`[audit] hmac_keys`,
/// `signing_key`).
fn key_files(cfg: &SecurityConfig, p: &Paths) -> Result<KeyFiles, Fatal> {
    let secrets = crate::secrets(cfg)?;
    KeyFiles::configured(&cfg.audit, &p.home, &secrets).map_err(Fatal::from)
}

/// Open the log for appending, as every writer does (keys created on first use).
fn open_log(
    cfg: &SecurityConfig,
    p: &Paths,
) -> Result<(AuditLog, bulwark_store::audit_file::OpenReport), Fatal> {
    if !cfg.audit.enabled {
        return Err(Fatal(
            "the audit log is turned off ([audit] enabled = false)".into(),
        ));
    }
    crate::open_audit(cfg, &p.home)
}

pub fn run(cmd: AuditCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    let p = paths(&cfg)?;
    match cmd {
        AuditCommand::Append {
            event_type,
            actor,
            action,
            resource,
            outcome,
            details,
            format,
        } => {
            let event_type = EventType::parse(&event_type)
                .map_err(|e| Fatal(format!("--type {event_type:?}: expected {e}")))?;
            let details = match details {
                Some(d) => serde_json::from_str(&d)
                    .map_err(|e| Fatal(format!("--details: not JSON ({e})")))?,
                None => serde_json::Value::Null,
            };
            for (flag, v) in [
                ("--actor", &actor),
                ("--action", &action),
                ("--resource", &resource),
            ] {
                if v.trim().is_empty() {
                    return Err(Fatal(format!("{flag}: expected a non-empty value")));
                }
            }
            let (log, _) = open_log(&cfg, &p)?;
            let r = log
                .append(AuditEvent {
                    event_type,
                    actor,
                    action,
                    resource,
                    outcome,
                    details,
                })
                .map_err(|e| Fatal(e.to_string()))?;
            drop(log);
            let mut out = std::io::stdout().lock();
            match format {
                PlainFormat::Json => writeln!(out, "{}", serde_json::to_string(&r)?)?,
                PlainFormat::Text => writeln!(out, "appended record {} ({})", r.seq, r.hash)?,
            }
            Ok(0)
        }
        AuditCommand::Verify {
            path,
            db,
            public_key,
            format,
        } => {
            let source = match (path, db) {
                (Some(d), _) => LogSource::Dir(d),
                (None, Some(f)) => LogSource::Db(f),
                (None, None) => p.source(&cfg)?,
            };
            verify(&cfg, &p, &source, public_key, format)
        }
        AuditCommand::Tail {
            lines,
            follow,
            format,
        } => tail(&p.source(&cfg)?, lines, follow, format),
        AuditCommand::Export { since, format: _ } => export(&p.source(&cfg)?, &since),
        AuditCommand::Recover { yes } => recover(&cfg, &p, yes),
        AuditCommand::RotateKey => {
            let (log, _) = open_log(&cfg, &p)?;
            if log.is_relayed() {
                return Err(Fatal(
                    "`bulwark serve` is running on this home and seals records with the key it loaded: stop it, rotate the key, then start it again".into(),
                ));
            }
            let files = key_files(&cfg, &p)?;
            let old = files
                .load_or_create()
                .map_err(|e| Fatal(e.to_string()))?
                .current()
                .id()
                .to_string();
            // The rotation is recorded first, sealed with the old key.
            log.append(AuditEvent {
                event_type: EventType::ConfigChange,
                actor: std::env::var("USER").unwrap_or_else(|_| "operator".into()),
                action: "audit.rotate_key".into(),
                resource: files.hmac_location(),
                outcome: "ok".into(),
                details: serde_json::json!({"old_key_id": old}),
            })
            .map_err(|e| Fatal(e.to_string()))?;
            drop(log);
            let (old, new) = match cfg.audit.hmac_keys.vault_name() {
                Some(name) => crate::vault_cmd::append_audit_key(&cfg, &p.home, name)?,
                None => files.rotate_hmac().map_err(|e| Fatal(e.to_string()))?,
            };
            println!(
                "new HMAC key {new} seals records from now on (old key {old} is kept to verify older records)"
            );
            Ok(0)
        }
    }
}

fn verify(
    cfg: &SecurityConfig,
    p: &Paths,
    source: &LogSource,
    public_key: Option<PathBuf>,
    format: PlainFormat,
) -> Result<u8, Fatal> {
    let exists = match source {
        LogSource::Dir(d) => d.is_dir(),
        LogSource::Db(f) => f.is_file(),
        LogSource::Pg(_) => true,
    };
    if !exists {
        return Err(Fatal(format!(
            "{} holds no audit log (pass --path DIR or --db FILE)",
            source.path().display()
        )));
    }
    let files = key_files(cfg, p)?;
    let keys = files
        .load_hmac()
        .map_err(|e| Fatal(e.to_string()))?
        .unwrap_or_default();
    let public = match public_key {
        Some(f) => Some(read_public_key(&f).map_err(|e| Fatal(e.to_string()))?),
        None => files.load_public().map_err(|e| Fatal(e.to_string()))?,
    };
    let (report, _) = source
        .verify(&DirVerify {
            keys: &keys,
            public_key: public,
        })
        .map_err(|e| Fatal(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    match format {
        PlainFormat::Json => writeln!(out, "{}", serde_json::to_string(&report)?)?,
        PlainFormat::Text => match &report.failure {
            None => {
                writeln!(
                    out,
                    "ok: {} records (last seq {}), {} checkpoints{}{}",
                    report.records,
                    report.last_seq,
                    report.checkpoints_checked,
                    if report.signatures_checked && report.checkpoints_checked == 0 {
                        ", no checkpoint to check a signature of"
                    } else if report.signatures_checked {
                        ", signatures verified"
                    } else {
                        ", signatures NOT checked (no public key)"
                    },
                    if report.macs_checked {
                        ", MACs verified"
                    } else {
                        ", MACs NOT checked (no HMAC key: links and checkpoints only)"
                    }
                )?;
                if report.unauthenticated > 0 {
                    writeln!(
                        out,
                        "INCOMPLETE: {} record(s) after record {} are linked but not authenticated: no HMAC key was given and no signed checkpoint covers them, so they could have been forged{}",
                        report.unauthenticated,
                        report.authenticated_through,
                        if report.checkpoints_checked == 0 {
                            " (the log has no checkpoint at all)"
                        } else {
                            ""
                        }
                    )?;
                }
            }
            Some(f) => {
                writeln!(
                    out,
                    "FAILED: {} at {}: {}",
                    f.kind.as_str(),
                    f.place(),
                    f.message
                )?;
                writeln!(
                    out,
                    "  {} records verified before it (last good seq {})",
                    report.records, report.last_seq
                )?;
                if f.kind == FailureKind::TornTail {
                    writeln!(
                        out,
                        "  this is a crash, not tampering: `bulwark audit recover` removes the torn line"
                    )?;
                }
            }
        },
    }
    if format == PlainFormat::Text {
        for n in &report.notices {
            writeln!(out, "notice: {n}")?;
        }
    }
    // 0 verified, 1 failed, 3 verified as far as it goes but not authenticated throughout.
    use bulwark_core::audit::VerifyStatus;
    Ok(match report.status {
        VerifyStatus::Verified => 0,
        VerifyStatus::Failed => 1,
        VerifyStatus::Incomplete => 3,
    })
}

/// Print a record a follow found; a write error is kept in `err` and stops the reading.
fn print_followed(
    out: &mut impl Write,
    line: &[u8],
    format: PlainFormat,
    err: &mut Option<std::io::Error>,
) -> bool {
    match print_record(out, line, format) {
        Ok(()) => true,
        Err(e) => {
            *err = Some(e);
            false
        }
    }
}

fn print_record(out: &mut impl Write, line: &[u8], format: PlainFormat) -> std::io::Result<()> {
    match format {
        PlainFormat::Json => {
            out.write_all(line)?;
            out.write_all(b"\n")
        }
        PlainFormat::Text => match serde_json::from_slice::<AuditRecord>(line) {
            Ok(r) => writeln!(
                out,
                "{:>6} {} {} {} {} {} -> {}",
                r.seq,
                r.timestamp,
                r.event_type.as_str(),
                r.actor,
                r.action,
                r.resource,
                r.outcome
            ),
            Err(_) => writeln!(out, "(not a record) {}", String::from_utf8_lossy(line)),
        },
    }
}

fn tail(source: &LogSource, n: usize, follow: bool, format: PlainFormat) -> Result<u8, Fatal> {
    // Where each PostgreSQL chain ends before the first read: following starts there, so a record
    // appended meanwhile may be printed twice but is never missed.
    let pg_ends = match source {
        LogSource::Pg(log) if follow => log.last_seqs().map_err(|e| Fatal(e.to_string()))?,
        _ => Default::default(),
    };
    let mut last: VecDeque<Vec<u8>> = VecDeque::with_capacity(n.min(10_000));
    let mut last_id = i64::MIN;
    source
        .for_each_line(&mut |line, complete, _, line_no| {
            last_id = line_no as i64;
            if complete && !line.is_empty() && n > 0 {
                if last.len() == n {
                    last.pop_front();
                }
                last.push_back(line.to_vec());
            }
            true
        })
        .map_err(|e| Fatal(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    for l in &last {
        print_record(&mut out, l, format)?;
    }
    out.flush()?;
    drop(out);
    if !follow {
        return Ok(0);
    }
    let dir = match source {
        LogSource::Dir(d) => d,
        LogSource::Db(db) => loop {
            // Follow a database: the rows above the last id seen.
            std::thread::sleep(Duration::from_millis(250));
            let mut out = std::io::stdout().lock();
            let mut err = None;
            bulwark_store::audit_sqlite::for_each_db_line_after(
                db,
                last_id,
                &mut |line, _, _, id| {
                    last_id = id as i64;
                    print_followed(&mut out, line, format, &mut err)
                },
            )
            .map_err(|e| Fatal(e.to_string()))?;
            if let Some(e) = err {
                return Err(Fatal(e.to_string()));
            }
            out.flush()?;
        },
        LogSource::Pg(log) => {
            // Follow every instance's chain: the rows above the last seq seen in each.
            let mut seen = pg_ends;
            loop {
                let mut out = std::io::stdout().lock();
                let mut err = None;
                for instance in log.instances().map_err(|e| Fatal(e.to_string()))? {
                    // A new instance is followed from its first record.
                    let after = seen.entry(instance.clone()).or_insert(i64::MIN);
                    let whole = log
                        .for_each_line_after(&instance, *after, &mut |line, _, _, seq| {
                            *after = seq as i64;
                            print_followed(&mut out, line, format, &mut err)
                        })
                        .map_err(|e| Fatal(e.to_string()))?;
                    if !whole {
                        break;
                    }
                }
                if let Some(e) = err {
                    return Err(Fatal(e.to_string()));
                }
                out.flush()?;
                drop(out);
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    };
    // Follow: read what is appended to the newest segment, and to the segments after it.
    let mut segment = segment_files(dir).map_err(|e| Fatal(e.to_string()))?.pop();
    let mut offset = segment
        .as_ref()
        .and_then(|s| std::fs::metadata(s).ok())
        .map_or(0, |m| m.len());
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let segments = segment_files(dir).map_err(|e| Fatal(e.to_string()))?;
        let Some(current) = segment.clone().or_else(|| segments.first().cloned()) else {
            continue;
        };
        let mut f = std::fs::File::open(&current).map_err(|e| Fatal(e.to_string()))?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))?;
        let mut reader = std::io::BufReader::new(f);
        let mut out = std::io::stdout().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            let got = reader.read_until(b'\n', &mut line)?;
            if got == 0 || line.last() != Some(&b'\n') {
                break; // wait for the rest of a line being written
            }
            offset += got as u64;
            line.pop();
            print_record(&mut out, &line, format)?;
        }
        out.flush()?;
        if let Some(next) = segments.iter().find(|s| **s > current) {
            let len = std::fs::metadata(&current).map_or(0, |m| m.len());
            if offset >= len {
                segment = Some(next.clone());
                offset = 0;
            }
        } else {
            segment = Some(current);
        }
    }
}

/// `--since`: an RFC 3339 time (`2026-11-22T00:00:00Z`) or a duration ago (`24h`, `7days`).
pub(crate) fn parse_since(since: &str) -> Result<std::time::SystemTime, Fatal> {
    match humantime::parse_rfc3339_weak(since) {
        Ok(t) => Ok(t),
        Err(_) => {
            let ago = humantime::parse_duration(since).map_err(|_| {
                Fatal(format!(
                    "--since {since:?}: expected an RFC 3339 time (2026-11-22T00:00:00Z) or a duration (24h, 7days)"
                ))
            })?;
            Ok(std::time::SystemTime::now()
                .checked_sub(ago)
                .unwrap_or(std::time::UNIX_EPOCH))
        }
    }
}

/// Every whole record of `source` stamped at or after `since`, in order, until `f` says stop.
pub(crate) fn for_each_record(
    source: &LogSource,
    since: std::time::SystemTime,
    f: &mut dyn FnMut(&[u8], AuditRecord) -> bool,
) -> Result<(), Fatal> {
    source
        .for_each_line(&mut |line, complete, _, _| {
            if !complete {
                return true;
            }
            let Ok(r) = serde_json::from_slice::<AuditRecord>(line) else {
                return true;
            };
            let at = humantime::parse_rfc3339(&r.timestamp).unwrap_or(std::time::UNIX_EPOCH);
            at < since || f(line, r)
        })
        .map_err(|e| Fatal(e.to_string()))
}

fn export(source: &LogSource, since: &str) -> Result<u8, Fatal> {
    let since_time = parse_since(since)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut err = None;
    for_each_record(source, since_time, &mut |line, _| match out
        .write_all(line)
        .and_then(|()| out.write_all(b"\n"))
    {
        Ok(()) => true,
        Err(e) => {
            err = Some(e);
            false
        }
    })?;
    if let Some(e) = err {
        return Err(Fatal(e.to_string()));
    }
    out.flush()?;
    Ok(0)
}

fn recover(cfg: &SecurityConfig, p: &Paths, yes: bool) -> Result<u8, Fatal> {
    let source = p.source(cfg)?;
    let dir = match &source {
        LogSource::Dir(d) => d,
        LogSource::Db(db) => {
            println!(
                "nothing to recover: {} is a SQLite database, whose commits are atomic (no torn records)",
                db.display()
            );
            return Ok(0);
        }
        LogSource::Pg(log) => {
            println!(
                "nothing to recover: {} is a PostgreSQL database, whose commits are atomic (no torn records)",
                log.name().display()
            );
            return Ok(0);
        }
    };
    let Some(seg) = segment_files(dir).map_err(|e| Fatal(e.to_string()))?.pop() else {
        println!("nothing to recover: {} holds no segments", dir.display());
        return Ok(0);
    };
    let text_len = std::fs::metadata(&seg).map_or(0, |m| m.len());
    let ends_clean = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(&seg).map_err(|e| Fatal(e.to_string()))?;
        let mut last = [0u8; 1];
        text_len == 0
            || (f.seek(SeekFrom::End(-1)).is_ok()
                && f.read_exact(&mut last).is_ok()
                && last[0] == b'\n')
    };
    if ends_clean {
        println!(
            "nothing to recover: {} ends with a complete record",
            seg.display()
        );
        return Ok(0);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Fatal(
                "the last line is torn; pass --yes to remove it (it is kept in a side file and the removal is logged)".into(),
            ));
        }
        eprint!(
            "{} ends in a torn line. Remove it (kept in a side file, and logged)? [y/N] ",
            seg.display()
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing changed");
            return Ok(1);
        }
    }
    if cfg.audit.enabled {
        // Opening the log removes the torn tail and records that it did.
        let (log, report) = open_log(cfg, p)?;
        drop(log);
        if let Some(r) = report.recovered {
            println!(
                "removed {} bytes from {} (kept in {}); recorded in the log",
                r.bytes,
                r.segment.display(),
                r.kept_in.display()
            );
        }
    } else if let Some(r) = remove_torn_tail(dir).map_err(|e| Fatal(e.to_string()))? {
        println!(
            "removed {} bytes from {} (kept in {}); not recorded: [audit] enabled = false",
            r.bytes,
            r.segment.display(),
            r.kept_in.display()
        );
    }
    Ok(0)
}
