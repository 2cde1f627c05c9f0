//! The file backend of the audit log: append-only JSON Lines in segments, one writer thread, group
//! commit, signed checkpoints, torn-tail recovery and retention.
//!
//! Layout of the log directory:
//! - `segments/00000001.jsonl`, `00000002.jsonl`, ...: records, one JSON object a line, in order.
//! - `checkpoints.jsonl`: signed checkpoints, one a line.
//! - `anchor.json`: after pruning, the signed checkpoint of the last pruned record; the log
//!   verifies from there.
//! - `*.torn-UNIXTIME`: fragments of torn last lines, kept as evidence when recovered.
//!
//! Durability: a record is acknowledged only after the write that holds it has been fsync'd. With
//! group commit, records arriving within a short window share one write and one fsync.

mod storage;
mod verify;

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bulwark_core::Redactor;
use bulwark_core::audit::{
    AuditError, AuditEvent, AuditKey, AuditRecord, AuditSink, Chain, Checkpoint, EventType,
    FailureKind, MAX_RECORD_BYTES, Verifier, VerifyOptions, VerifyReport, now_rfc3339,
    redact_details,
};
use bulwark_core::config::AuditConfig;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ed25519_dalek::VerifyingKey;

use crate::fs::{create_private_dir, private_options, sync_dir, write_private_atomic};
use crate::keys::AuditKeys;

use storage::*;
pub use verify::*;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Key files are missing, malformed or too open.
    #[error("audit keys: {0}")]
    Keys(String),
    /// The existing log does not verify: appending to it would hide the damage.
    #[error(
        "the audit log in {dir} does not verify ({kind} at {where_}): {message}; nothing was appended. Inspect it with `bulwark audit verify`"
    )]
    Damaged {
        /// The log directory.
        dir: PathBuf,
        /// The failure kind.
        kind: &'static str,
        /// Where.
        where_: String,
        /// What.
        message: String,
    },
    /// The log could not be sealed or signed.
    #[error("{0}")]
    Audit(#[from] AuditError),
    /// Another process is writing the log.
    #[error(
        "the audit log at {path} is in use by another bulwark process (it holds {lock}): one writer at a time keeps the chain intact; stop that process or wait for it, then try again"
    )]
    InUse {
        /// The log.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The configuration the log needs (redaction) does not compile.
    #[error("configuration: {0}")]
    Config(String),
    /// The shared database (PostgreSQL) refused or could not be reached; the message names it
    /// without its password.
    #[error("{0}")]
    Database(String),
}

impl StoreError {
    /// A log at `dir` that failed verification: appending is refused.
    pub fn damaged(dir: &Path, f: &bulwark_core::audit::Failure) -> StoreError {
        StoreError::Damaged {
            dir: dir.to_path_buf(),
            kind: f.kind.as_str(),
            where_: f.place(),
            message: f.message.clone(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// How the file log behaves (from `[audit]`).
#[derive(Debug, Clone)]
pub struct FileLogOptions {
    /// The log directory.
    pub dir: PathBuf,
    /// Segment size limit.
    pub segment_max_bytes: u64,
    /// New segment on a new UTC day.
    pub rotate_daily: bool,
    /// Checkpoint after this many records.
    pub checkpoint_every: u64,
    /// Checkpoint after this long.
    pub checkpoint_interval: Duration,
    /// Group commit on.
    pub group_commit: bool,
    /// Records per batch at most.
    pub group_max: usize,
    /// How long a batch waits for more records.
    pub group_window: Duration,
    /// How long records nobody waits for gather before they are written (zero: not at all).
    pub submit_window: Duration,
    /// Prune segments older than this many days (0: never).
    pub retention_days: u64,
    /// What is verified at open.
    pub open_verify: bulwark_core::config::OpenVerify,
}

impl FileLogOptions {
    /// Options from the configuration; `home` resolves an empty `dir`.
    pub fn from_config(cfg: &AuditConfig, home: &Path) -> FileLogOptions {
        FileLogOptions {
            dir: if cfg.dir.is_empty() {
                home.join("audit")
            } else {
                PathBuf::from(&cfg.dir)
            },
            segment_max_bytes: cfg.segment_max_bytes,
            rotate_daily: cfg.rotate_daily,
            checkpoint_every: cfg.checkpoint_every,
            checkpoint_interval: Duration::from_secs(cfg.checkpoint_secs),
            group_commit: cfg.group_commit,
            group_max: cfg.group_max,
            group_window: Duration::from_micros(cfg.group_window_micros),
            submit_window: Duration::from_micros(cfg.submit_window_micros),
            retention_days: cfg.retention_days,
            open_verify: cfg.open_verify,
        }
    }
}

fn segments_dir(dir: &Path) -> PathBuf {
    dir.join("segments")
}

fn checkpoints_path(dir: &Path) -> PathBuf {
    dir.join("checkpoints.jsonl")
}

fn anchor_path(dir: &Path) -> PathBuf {
    dir.join("anchor.json")
}

/// The segment files, in order.
pub fn segment_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let sdir = segments_dir(dir);
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(&sdir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StoreError::io(&sdir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(&sdir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.len() == 14
            && name.ends_with(".jsonl")
            && name[..8].bytes().all(|b| b.is_ascii_digit())
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn segment_number(path: &Path) -> u64 {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.get(..8))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Read the signed checkpoints (an absent file is none).
pub fn read_checkpoints(dir: &Path) -> Result<Vec<Checkpoint>, StoreError> {
    read_checkpoints_noting(dir).map(|(list, _)| list)
}

/// [`read_checkpoints`], and where a torn last line was set aside, if one was.
pub fn read_checkpoints_noting(
    dir: &Path,
) -> Result<(Vec<Checkpoint>, Option<String>), StoreError> {
    let path = checkpoints_path(dir);
    // Bytes, not text: a damaged byte is a malformed line (a verification failure), not an
    // unreadable file.
    let bytes = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let mut out = Vec::new();
    let mut torn = None;
    for (i, line) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let last = i + 1 == lines.len();
        // A torn last checkpoint line (crash while signing) is ignored: its records are durable.
        // It is the start of one checkpoint: a line holding several (joined by `\r`, say) is
        // damage, not a crash.
        let one_start =
            !line.contains(&b'\r') && line.windows(6).filter(|w| w == b"\"seq\":").count() <= 1;
        match serde_json::from_slice(line) {
            Ok(c) => out.push(c),
            Err(_) if last && one_start => {
                torn = Some(format!("{}:{}", path.display(), i + 1));
            }
            Err(e) => {
                return Err(StoreError::Damaged {
                    dir: dir.to_path_buf(),
                    kind: "malformed",
                    where_: format!("{}:{}", path.display(), i + 1),
                    message: format!("not a checkpoint ({e})"),
                });
            }
        }
    }
    Ok((out, torn))
}

/// Read the pruning anchor, if any.
pub fn read_anchor(dir: &Path) -> Result<Option<Checkpoint>, StoreError> {
    let path = anchor_path(dir);
    match std::fs::read(&path) {
        Ok(t) => serde_json::from_slice(&t)
            .map(Some)
            .map_err(|e| StoreError::Damaged {
                dir: dir.to_path_buf(),
                kind: "malformed",
                where_: path.display().to_string(),
                message: format!("not an anchor ({e})"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(&path, e)),
    }
}

/// Call `f(line, complete, file, line_no)` for every line of every segment, in order, in bounded
/// memory (a line longer than [`MAX_RECORD_BYTES`] is passed cut short, so it reads as malformed).
/// `f` returns false to stop.
pub fn for_each_line(
    dir: &Path,
    f: impl FnMut(&[u8], bool, &str, u64) -> bool,
) -> Result<(), StoreError> {
    for_each_segment_line(&segment_files(dir)?, f)
}

/// [`for_each_line`] over the given segments only.
fn for_each_segment_line(
    segments: &[PathBuf],
    mut f: impl FnMut(&[u8], bool, &str, u64) -> bool,
) -> Result<(), StoreError> {
    for seg in segments {
        let seg = seg.clone();
        let file = std::fs::File::open(&seg).map_err(|e| StoreError::io(&seg, e))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let name = seg.display().to_string();
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = (&mut reader)
                .take(MAX_RECORD_BYTES as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| StoreError::io(&seg, e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let mut complete = buf.last() == Some(&b'\n');
            if complete {
                buf.pop();
            } else if buf.len() > MAX_RECORD_BYTES {
                // An over-long line is passed cut short, as a complete (so malformed) line.
                complete = true;
                // Skip the rest of the over-long line.
                let mut sink = Vec::new();
                loop {
                    sink.clear();
                    let m = (&mut reader)
                        .take(MAX_RECORD_BYTES as u64)
                        .read_until(b'\n', &mut sink)
                        .map_err(|e| StoreError::io(&seg, e))?;
                    if m == 0 || sink.last() == Some(&b'\n') {
                        break;
                    }
                }
                buf.truncate(64);
            }
            if !f(&buf, complete, &name, line_no) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A record line's sequence number, read from its first field (`{"seq":N,`) without parsing the
/// rest. `None` for anything else.
fn leading_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Where the writer tells a producer what became of its record.
enum Ack {
    /// A thread blocked in [`AuditSink::append`].
    Thread(Sender<Result<AuditRecord, AuditError>>),
    /// A task awaiting [`AuditLog::append_async`]: woken directly by the writer thread.
    Task(tokio::sync::oneshot::Sender<Result<AuditRecord, AuditError>>),
    /// Nobody: [`AuditLog::submit`] does not wait.
    Nobody,
}

impl Ack {
    /// Tell the producer; one that stopped waiting is not an error.
    fn send(self, result: Result<AuditRecord, AuditError>) {
        match self {
            Ack::Thread(tx) => {
                let _ = tx.send(result);
            }
            Ack::Task(tx) => {
                let _ = tx.send(result);
            }
            Ack::Nobody => {}
        }
    }
}

/// An event, redacted and with its details canonicalized on the producer's thread, and where to
/// acknowledge it.
enum Job {
    Append(AuditEvent, Vec<u8>, Ack),
}

/// The audit log: a handle to its one writer thread. Clone it for every producer; `append` returns
/// once the record is durable. Dropping the last handle closes the log after a final checkpoint.
#[derive(Clone)]
pub struct AuditLog {
    tx: Sender<Job>,
    /// Where [`AuditLog::submit`] queues, when records nobody waits for gather (see
    /// `submit_window_micros`).
    unwaited: Option<Unwaited>,
    redactor: Option<std::sync::Arc<Redactor>>,
    relayed: bool,
    _writer: std::sync::Arc<WriterThread>,
}

/// The producers' side of the queue of records nobody waits for. Only the first record queued
/// after the writer last emptied it rings the writer's doorbell: the others cost no wake-up.
#[derive(Clone)]
struct Unwaited {
    tx: Sender<Job>,
    wake: Sender<()>,
    rung: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// The writer thread's side: records callers wait for, records nobody waits for and their
/// doorbell, and the stop signal.
struct Queues {
    rx: Receiver<Job>,
    unwaited: Receiver<Job>,
    wake: Receiver<()>,
    rung: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: Receiver<()>,
}

struct WriterThread {
    handle: std::sync::Mutex<Option<JoinHandle<()>>>,
    stop: Sender<()>,
    /// Set once the writer stopped accepting records.
    failed: std::sync::Arc<std::sync::OnceLock<String>>,
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Ok(mut h) = self.handle.lock()
            && let Some(h) = h.take()
        {
            let _ = h.join();
        }
    }
}

/// What opening a log found and did.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    /// Records checked at open: those after the last signed checkpoint, or every record when the
    /// log has no checkpoint yet.
    pub checked: u64,
    /// The last record's sequence number (0: empty).
    pub last_seq: u64,
    /// A torn tail that was removed (and recorded in the log).
    pub recovered: Option<Recovered>,
    /// Segments pruned by retention (and recorded in the log).
    pub pruned: Vec<PathBuf>,
}

/// Where sealed records and checkpoints become durable: segment files, or a SQLite database.
pub(crate) trait Storage: Send {
    /// Make the records durable after the existing ones. `buf` holds their JSON lines, each ending
    /// in a newline; `lines` gives each record's sequence number and line (without the newline).
    fn write_records(
        &mut self,
        buf: &[u8],
        lines: &[(u64, std::ops::Range<usize>)],
        first_timestamp: &str,
    ) -> Result<(), StoreError>;

    /// Make a checkpoint's JSON line (without newline) durable.
    fn write_checkpoint(&mut self, line: &[u8]) -> Result<(), StoreError>;
}

pub(crate) struct Writer {
    pub(crate) opts: FileLogOptions,
    pub(crate) keys: AuditKeys,
    pub(crate) chain: Chain,
    pub(crate) storage: Box<dyn Storage>,
    pub(crate) since_checkpoint: u64,
    pub(crate) last_checkpoint: Instant,
    pub(crate) failed: Option<String>,
    /// `failed`, for the handles (health checks).
    pub(crate) health: std::sync::Arc<std::sync::OnceLock<String>>,
    /// The exclusive lock on the log, held while the writer lives.
    pub(crate) _lock: Option<std::fs::File>,
}

impl AuditLog {
    /// Open (or create) the log in `opts.dir`, verify what is there with the keys, remove a torn
    /// tail if a crash left one, prune old segments, and start the writer.
    ///
    /// Fails closed: a log that does not verify is not appended to.
    pub fn open(
        opts: FileLogOptions,
        keys: AuditKeys,
        redactor: Option<Redactor>,
    ) -> Result<(AuditLog, OpenReport), StoreError> {
        create_private_dir(&segments_dir(&opts.dir)).map_err(|e| StoreError::io(&opts.dir, e))?;
        let lock = crate::fs::lock_writer(&opts.dir, &opts.dir.join("lock"), crate::fs::LOCK_WAIT)?;
        let mut report = OpenReport::default();
        let (mut verified, mut chain) = verify_for_append(&opts.dir, &keys, opts.open_verify)?;
        if verified.failure.as_ref().map(|f| f.kind) == Some(FailureKind::TornTail) {
            report.recovered = remove_torn_tail(&opts.dir)?;
            (verified, chain) = verify_for_append(&opts.dir, &keys, opts.open_verify)?;
        }
        if let Some(f) = &verified.failure {
            return Err(StoreError::damaged(&opts.dir, f));
        }
        report.checked = verified.records;
        report.last_seq = verified.last_seq;
        let mut segments = segment_files(&opts.dir)?;
        if opts.retention_days > 0 {
            report.pruned = prune(&opts, &keys, &mut segments)?;
        }
        let segment = match segments.last() {
            Some(s) => s.clone(),
            None => new_segment_path(&opts.dir, 1),
        };
        let file = private_options()
            .create(true)
            .append(true)
            .open(&segment)
            .map_err(|e| StoreError::io(&segment, e))?;
        sync_dir(&segments_dir(&opts.dir)).map_err(|e| StoreError::io(&opts.dir, e))?;
        let segment_len = file
            .metadata()
            .map_err(|e| StoreError::io(&segment, e))?
            .len();
        let segment_day = first_record_day(&segment);
        let cp_path = checkpoints_path(&opts.dir);
        let checkpoints = private_options()
            .create(true)
            .append(true)
            .open(&cp_path)
            .map_err(|e| StoreError::io(&cp_path, e))?;
        let storage = FileStorage {
            dir: opts.dir.clone(),
            segment_max_bytes: opts.segment_max_bytes,
            rotate_daily: opts.rotate_daily,
            segment,
            file,
            segment_len,
            segment_day,
            checkpoints,
        };
        let mut w = Writer::new(opts, keys, chain, Box::new(storage));
        w._lock = Some(lock);
        // What opening did is evidence too.
        if let Some(r) = &report.recovered {
            w.append_now(AuditEvent {
                event_type: EventType::ConfigChange,
                actor: "bulwark".into(),
                action: "audit.recover_torn_tail".into(),
                resource: r.segment.display().to_string(),
                outcome: "ok".into(),
                details: serde_json::json!({
                    "bytes_removed": r.bytes,
                    "kept_in": r.kept_in.display().to_string(),
                }),
            })?;
        }
        if !report.pruned.is_empty() {
            let names: Vec<String> = report
                .pruned
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            w.append_now(AuditEvent {
                event_type: EventType::ConfigChange,
                actor: "bulwark".into(),
                action: "audit.prune".into(),
                resource: w.opts.dir.display().to_string(),
                outcome: "ok".into(),
                details: serde_json::json!({
                    "segments": names,
                    "retention_days": w.opts.retention_days,
                }),
            })?;
        }
        Ok((AuditLog::start(w, redactor)?, report))
    }

    /// A log whose records are sealed elsewhere: `forward` hands each event (redaction is the
    /// other side's) to the writer that seals it and returns the record once it is durable.
    pub(crate) fn forwarding(
        mut forward: Box<dyn FnMut(AuditEvent) -> Result<AuditRecord, AuditError> + Send>,
    ) -> Result<AuditLog, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(16 * 1024);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let handle = std::thread::Builder::new()
            .name("bulwark-audit-forwarder".into())
            .spawn(move || {
                let mut run = |job: Job| {
                    let Job::Append(event, _, ack) = job;
                    ack.send(forward(event));
                };
                loop {
                    crossbeam_channel::select! {
                        recv(rx) -> job => match job {
                            Ok(j) => run(j),
                            Err(_) => break,
                        },
                        recv(stop_rx) -> _ => {
                            for j in rx.try_iter() {
                                run(j);
                            }
                            break;
                        }
                    }
                }
            })
            .map_err(|e| StoreError::io(Path::new("audit forwarder thread"), e))?;
        Ok(AuditLog {
            tx,
            unwaited: None,
            redactor: None,
            relayed: true,
            _writer: std::sync::Arc::new(WriterThread {
                handle: std::sync::Mutex::new(Some(handle)),
                stop: stop_tx,
                failed: Default::default(),
            }),
        })
    }

    /// Whether records go to a running sidecar's log (see [`crate::audit_relay`]) rather than to
    /// a log this process writes.
    pub fn is_relayed(&self) -> bool {
        self.relayed
    }

    /// Start the writer thread of an opened log.
    pub(crate) fn start(w: Writer, redactor: Option<Redactor>) -> Result<AuditLog, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(16 * 1024);
        let (unwaited_tx, unwaited_rx) = crossbeam_channel::bounded::<Job>(16 * 1024);
        let (wake_tx, wake_rx) = crossbeam_channel::bounded::<()>(1);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let rung = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Gathering saves fsyncs only with group commit; off, `submit` queues with the others
        // and the doorbell never rings.
        let gathers = w.opts.group_commit && !w.opts.submit_window.is_zero();
        let (unwaited, wake_rx) = if gathers {
            let u = Unwaited {
                tx: unwaited_tx,
                wake: wake_tx,
                rung: rung.clone(),
            };
            (Some(u), wake_rx)
        } else {
            (None, crossbeam_channel::never())
        };
        let queues = Queues {
            rx,
            unwaited: unwaited_rx,
            wake: wake_rx,
            rung,
            stop: stop_rx,
        };
        let failed = w.health.clone();
        let handle = std::thread::Builder::new()
            .name("bulwark-audit-writer".into())
            .spawn(move || w.run(queues))
            .map_err(|e| StoreError::io(Path::new("audit writer thread"), e))?;
        Ok(AuditLog {
            tx,
            unwaited,
            redactor: redactor.map(std::sync::Arc::new),
            relayed: false,
            _writer: std::sync::Arc::new(WriterThread {
                handle: std::sync::Mutex::new(Some(handle)),
                stop: stop_tx,
                failed,
            }),
        })
    }
}

impl AuditLog {
    /// Why the writer stopped accepting records (a write failed: the log's storage is out of
    /// reach or broken), if it did; every append then fails until the process restarts.
    pub fn failure(&self) -> Option<String> {
        self._writer.failed.get().cloned()
    }

    /// Redact and canonicalize on the caller's thread; the writer only seals, writes and syncs.
    fn job(&self, mut event: AuditEvent, ack: Ack) -> Result<Job, AuditError> {
        if let Some(r) = &self.redactor {
            event.details = redact_details(event.details, r);
            event.resource = r.redact(&event.resource).text;
        }
        let event = event.bounded();
        let details = bulwark_core::audit::canonical_details(&event.details)?;
        Ok(Job::Append(event, details, ack))
    }

    /// Queue an event without waiting for it to be durable (a crash can lose what is queued).
    /// Never blocks: when the queue is full the event is refused with an error.
    pub fn submit(&self, event: AuditEvent) -> Result<(), AuditError> {
        // A writer that stopped would drop it unwritten: say so instead.
        if let Some(why) = self.failure() {
            return Err(AuditError::Store(why));
        }
        let job = self.job(event, Ack::Nobody)?;
        let Some(u) = &self.unwaited else {
            return self.try_queue(job);
        };
        u.tx.try_send(job).map_err(queue_error)?;
        if !u.rung.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // Full means a ring is already pending: the writer will take this record with it.
            let _ = u.wake.try_send(());
        }
        Ok(())
    }

    /// Append from an async task and resolve once the record is durable, as [`AuditSink::append`]
    /// returns, but without holding a thread while the write and its fsync happen: the writer
    /// thread wakes the task itself. Redaction runs on the caller's thread. When the queue is full
    /// (the disk is far behind) the record is refused at once with an error instead of waiting for
    /// room, so that a caller can fail closed without blocking its runtime.
    pub async fn append_async(&self, event: AuditEvent) -> Result<AuditRecord, AuditError> {
        let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
        let job = self.job(event, Ack::Task(ack_tx))?;
        self.try_queue(job)?;
        ack_rx.await.map_err(|_| {
            AuditError::Store("the audit writer stopped before the record was durable".into())
        })?
    }

    fn try_queue(&self, job: Job) -> Result<(), AuditError> {
        self.tx.try_send(job).map_err(queue_error)
    }
}

fn queue_error(e: crossbeam_channel::TrySendError<Job>) -> AuditError {
    match e {
        crossbeam_channel::TrySendError::Full(_) => {
            AuditError::Store("the audit queue is full".into())
        }
        crossbeam_channel::TrySendError::Disconnected(_) => {
            AuditError::Store("the audit writer has stopped".into())
        }
    }
}

impl AuditSink for AuditLog {
    fn append(&self, event: AuditEvent) -> Result<AuditRecord, AuditError> {
        let (ack_tx, ack_rx) = crossbeam_channel::bounded(1);
        let job = self.job(event, Ack::Thread(ack_tx))?;
        self.tx
            .send(job)
            .map_err(|_| AuditError::Store("the audit writer has stopped".into()))?;
        ack_rx.recv().map_err(|_| {
            AuditError::Store("the audit writer stopped before the record was durable".into())
        })?
    }
}
