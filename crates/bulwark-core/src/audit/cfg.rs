//! `[audit]`: the tamper-evident audit log's settings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;

/// `[audit]`: the tamper-evident audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Record decisions in the audit log. Off, nothing Bulwark decides leaves evidence.
    pub enabled: bool,
    /// Where records go: `file` (JSON Lines segments in `dir`), `sqlite` (one database, `db`) or
    /// `postgres` (the database `[store] url` names, shared by several sidecars).
    pub backend: AuditBackend,
    /// Directory of the file backend (segments and checkpoints); empty means `$BULWARK_HOME/audit`.
    pub dir: String,
    /// Database of the SQLite backend; empty means `$BULWARK_HOME/audit.db`.
    pub db: String,
    /// A segment file is closed and a new one started past this many bytes.
    pub segment_max_bytes: u64,
    /// Also start a new segment when the UTC day changes.
    pub rotate_daily: bool,
    /// Sign a checkpoint after this many records...
    pub checkpoint_every: u64,
    /// ...or this many seconds after the last one, whichever comes first (and on close).
    pub checkpoint_secs: u64,
    /// Batch appends: one fsync for up to `group_max` records arriving within
    /// `group_window_micros`; each append is acknowledged only once its batch is durable. Off,
    /// every append is fsync'd alone.
    pub group_commit: bool,
    /// Most records in one batch.
    pub group_max: usize,
    /// How long a batch waits for more records after its first, in microseconds. 0 (the default)
    /// takes whatever is queued: records that arrive during one batch's fsync form the next.
    pub group_window_micros: u64,
    /// Records no caller waits for (the model gateway's exchanges, the egress proxy's decisions
    /// without `audit_wait`, refused callers) gather for this long, in microseconds, after the
    /// first of them is queued, and are written with one fsync: under load the writer syncs a few
    /// hundred times a second instead of continuously. A record a caller waits for ends the wait
    /// at once. 0 (or `group_commit` off) writes them as soon as the writer is free, like the
    /// others.
    pub submit_window_micros: u64,
    /// File backend: prune whole segments older than this many days (0 keeps everything).
    pub retention_days: u64,
    /// Secrets are always redacted from records (details and resource). Personal data is kept
    /// unless this is on: IP addresses and e-mail addresses are often the evidence itself.
    pub redact_pii: bool,
    /// `vault:NAME`: the HMAC keys (hex, one per line, oldest first) come from the vault instead
    /// of `$BULWARK_HOME/keys/audit-hmac.keys`. Empty: the key file (created on first use).
    pub hmac_keys: crate::vault::cfg::SecretRef,
    /// `vault:NAME`: the Ed25519 checkpoint signing key (hex) comes from the vault instead of
    /// `$BULWARK_HOME/keys/audit-signing.key`. Empty: the key file.
    pub signing_key: crate::vault::cfg::SecretRef,
    /// What a writer verifies before it appends: `full` (every record: a log damaged anywhere is
    /// not appended to) or `since_checkpoint` (the last signed checkpoint, the record it names,
    /// and every record after it: open time stays flat as the log grows; older damage is left to
    /// `bulwark audit verify`).
    pub open_verify: OpenVerify,
}

/// How much of the audit log a writer checks when it opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpenVerify {
    /// Every record, link, MAC and checkpoint.
    Full,
    /// From the last signed checkpoint on.
    SinceCheckpoint,
}

/// The audit log's storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditBackend {
    /// Append-only JSON Lines segments in a directory.
    File,
    /// One SQLite database (WAL, synchronous = FULL).
    Sqlite,
    /// The PostgreSQL database `[store] url` names, shared by several sidecars: one hash chain
    /// per instance (`[store] instance`), in tables that refuse UPDATE, DELETE and TRUNCATE.
    Postgres,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            enabled: true,
            backend: AuditBackend::File,
            dir: String::new(),
            db: String::new(),
            segment_max_bytes: 64 * 1024 * 1024,
            rotate_daily: true,
            checkpoint_every: 1000,
            checkpoint_secs: 60,
            group_commit: true,
            group_max: 256,
            group_window_micros: 0,
            submit_window_micros: 2000,
            retention_days: 0,
            redact_pii: false,
            hmac_keys: crate::vault::cfg::SecretRef::Unset,
            signing_key: crate::vault::cfg::SecretRef::Unset,
            open_verify: OpenVerify::Full,
        }
    }
}

impl AuditConfig {
    /// Check the values serde cannot: ranges.
    pub fn check(&self, p: &mut Problems) {
        p.range(
            "audit.segment_max_bytes",
            self.segment_max_bytes,
            4096,
            1 << 40,
        );
        p.range("audit.checkpoint_every", self.checkpoint_every, 1, 1 << 32);
        p.range("audit.checkpoint_secs", self.checkpoint_secs, 1, 86_400);
        p.range("audit.group_max", self.group_max as u64, 1, 65_536);
        p.range(
            "audit.group_window_micros",
            self.group_window_micros,
            0,
            1_000_000,
        );
        p.range(
            "audit.submit_window_micros",
            self.submit_window_micros,
            0,
            1_000_000,
        );
        p.range("audit.retention_days", self.retention_days, 0, 36_500);
    }
}
