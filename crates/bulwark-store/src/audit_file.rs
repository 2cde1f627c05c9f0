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
    let path = checkpoints_path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // A torn last checkpoint line (crash while signing) is ignored: its records are durable.
        match serde_json::from_str(line) {
            Ok(c) => out.push(c),
            Err(_) if i + 1 == text.lines().count() && !text.ends_with('\n') => {}
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
    Ok(out)
}

/// Read the pruning anchor, if any.
pub fn read_anchor(dir: &Path) -> Result<Option<Checkpoint>, StoreError> {
    let path = anchor_path(dir);
    match std::fs::read_to_string(&path) {
        Ok(t) => serde_json::from_str(&t)
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

/// Verify a log from its last signed checkpoint on: the checkpoint's signature, that the record it
/// names is there with the hash it names, and every record after it (links, MACs, later
/// checkpoints, torn tail), resuming the chain from the checkpoint. What a writer needs before it
/// appends, in time proportional to what was written since the checkpoint; the records before it
/// are `bulwark audit verify`'s to check.
///
/// `lines_from(seq, sink)` feeds the log's lines from (at the latest) the record `seq` on; lines
/// before it are skipped here. `None` when this cannot be done (no checkpoint, a bad signature,
/// the record missing, another hash, an unreadable line before it): verify the whole log then,
/// which names the problem.
pub(crate) fn verify_from_checkpoint(
    mut checkpoints: Vec<Checkpoint>,
    keys: &AuditKeys,
    lines_from: &(dyn Fn(u64, &mut LineSink<'_>) -> Result<(), StoreError> + Sync),
) -> Result<Option<(VerifyReport, Chain)>, StoreError> {
    use std::sync::atomic::{AtomicU8, Ordering};
    let public = keys.signer.public();
    checkpoints.sort_by_key(|c| c.seq);
    let Some(cp) = checkpoints.last().cloned() else {
        return Ok(None);
    };
    if !cp.verify_signature(&public) {
        return Ok(None);
    }
    let Ok(start) = Chain::resume(&cp) else {
        return Ok(None);
    };
    // 0: before the checkpoint's record; 1: it matched; 2: give up (verify everything).
    let stage = AtomicU8::new(0);
    let hmac: Vec<&AuditKey> = keys.hmac.iter().collect();
    let v = Verifier::new(VerifyOptions {
        keys: keys.hmac.iter().collect(),
        public_key: Some(public),
        // Later checkpoints (normally none) are checked as their records go by.
        checkpoints: checkpoints.into_iter().filter(|c| c.seq > cp.seq).collect(),
        start: Some(start),
    });
    let source = |sink: &mut LineSink<'_>| {
        lines_from(cp.seq, &mut |line, complete, file, line_no| {
            if stage.load(Ordering::Relaxed) == 0 {
                match leading_seq(line) {
                    Some(seq) if seq < cp.seq => return true,
                    Some(seq) if seq == cp.seq && complete => {
                        // The record the checkpoint names: its MAC holds and its hash is the one
                        // signed.
                        let same = matches!(
                            bulwark_core::audit::prepare(line, &hmac),
                            bulwark_core::audit::Prepared::Record { seq, hash, mac_ok: Some(true), .. }
                                if seq == cp.seq && hash.is(&cp.hash)
                        );
                        stage.store(if same { 1 } else { 2 }, Ordering::Relaxed);
                        return same;
                    }
                    _ => {
                        stage.store(2, Ordering::Relaxed);
                        return false;
                    }
                }
            }
            sink(line, complete, file, line_no)
        })
    };
    let v = verify_parallel(&source, v)?;
    if stage.load(Ordering::Relaxed) != 1 {
        return Ok(None);
    }
    Ok(Some(v.finish_with_chain()))
}

/// What a writer checks when it opens a log directory: everything, or with `since_checkpoint`,
/// from the last signed checkpoint on when there is one ([`verify_from_checkpoint`]).
fn verify_for_append(
    dir: &Path,
    keys: &AuditKeys,
    mode: bulwark_core::config::OpenVerify,
) -> Result<(VerifyReport, Chain), StoreError> {
    let full = || {
        verify_dir(
            dir,
            &DirVerify {
                keys: &keys.hmac,
                public_key: Some(keys.signer.public()),
            },
        )
    };
    if mode == bulwark_core::config::OpenVerify::Full {
        return full();
    }
    let segments = segment_files(dir)?;
    // The segment holding a record: the last one whose first record is at or before it.
    let first_seqs: Vec<Option<u64>> = segments
        .iter()
        .map(|seg| {
            let f = std::fs::File::open(seg).ok()?;
            let mut line = Vec::new();
            BufReader::new(f)
                .take(64)
                .read_until(b'\n', &mut line)
                .ok()?;
            leading_seq(&line)
        })
        .collect();
    let lines_from = |seq: u64, sink: &mut LineSink<'_>| -> Result<(), StoreError> {
        let k = first_seqs
            .iter()
            .rposition(|s| s.is_some_and(|s| s <= seq))
            .unwrap_or(0);
        for_each_segment_line(&segments[k..], |l, c, f, n| sink(l, c, f, n))
    };
    match verify_from_checkpoint(read_checkpoints(dir)?, keys, &lines_from)? {
        Some(done) => Ok(done),
        None => full(),
    }
}

/// What a verification of a log directory is checked against.
pub struct DirVerify<'a> {
    /// HMAC keys (empty: MACs unchecked).
    pub keys: &'a [AuditKey],
    /// The checkpoint public key (`None`: signatures unchecked).
    pub public_key: Option<VerifyingKey>,
}

/// Verify the log in `dir`: every segment, the checkpoints and the anchor.
pub fn verify_dir(dir: &Path, with: &DirVerify<'_>) -> Result<(VerifyReport, Chain), StoreError> {
    // Damage to the checkpoints or the anchor is a verification failure like damage to a record.
    let damaged = |e: StoreError| match e {
        StoreError::Damaged {
            kind,
            where_,
            message,
            ..
        } => {
            let kind = match kind {
                "bad_signature" => FailureKind::BadSignature,
                _ => FailureKind::Malformed,
            };
            Ok((
                VerifyReport::failed(kind, where_, message),
                Chain::default(),
            ))
        }
        other => Err(other),
    };
    let checkpoints = match read_checkpoints(dir) {
        Ok(c) => c,
        Err(e) => return damaged(e),
    };
    let anchor = match read_anchor(dir) {
        Ok(a) => a,
        Err(e) => return damaged(e),
    };
    if let (Some(a), Some(pk)) = (&anchor, &with.public_key)
        && !a.verify_signature(pk)
    {
        return damaged(StoreError::Damaged {
            dir: dir.to_path_buf(),
            kind: "bad_signature",
            where_: anchor_path(dir).display().to_string(),
            message: "the pruning anchor is not signed by this public key".into(),
        });
    }
    let start = match &anchor {
        Some(a) => Some(Chain::resume(a)?),
        None => None,
    };
    let v = Verifier::new(VerifyOptions {
        keys: with.keys.iter().collect(),
        public_key: with.public_key,
        checkpoints,
        start,
    });
    let v = verify_parallel(&|f: &mut LineSink<'_>| for_each_line(dir, f), v)?;
    Ok(v.finish_with_chain())
}

/// A callback that receives lines: `(line, complete, file, line_no)`, false to stop.
pub type LineSink<'a> = dyn FnMut(&[u8], bool, &str, u64) -> bool + 'a;

/// Something that feeds every line of a log, in order, to a [`LineSink`].
pub type LineSource<'a> = dyn Fn(&mut LineSink<'_>) -> Result<(), StoreError> + Sync + 'a;

/// Lines of one batch: their bytes in one buffer, where each begins and ends, whether it was
/// complete, and its file (an index into `files`, the batch's own table) and line number.
struct Batch {
    buf: Vec<u8>,
    lines: Vec<(usize, usize, bool, u32, u64)>,
    files: Vec<String>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            buf: Vec::with_capacity(1 << 20),
            lines: Vec::with_capacity(BATCH_LINES),
            files: Vec::new(),
        }
    }
}

const BATCH_LINES: usize = 2048;

/// Read the segments on one thread, parse and check MACs on the others, and feed the results to
/// the verifier in log order.
pub(crate) fn verify_parallel<'k>(
    source: &LineSource<'_>,
    mut v: Verifier<'k>,
) -> Result<Verifier<'k>, StoreError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let keys: Vec<&AuditKey> = v.keys().to_vec();
    let (work_tx, work_rx) = crossbeam_channel::bounded::<(u64, Batch)>(workers * 2);
    let (done_tx, done_rx) =
        crossbeam_channel::bounded::<(u64, Batch, Vec<bulwark_core::audit::Prepared>)>(workers * 2);
    std::thread::scope(|scope| -> Result<(), StoreError> {
        let reader = scope.spawn(move || -> Result<(), StoreError> {
            let mut idx = 0u64;
            let mut batch = Batch::new();
            let mut stopped = false;
            source(&mut |line, complete, file, line_no| {
                if batch.files.last().map(String::as_str) != Some(file) {
                    batch.files.push(file.to_string());
                }
                let start = batch.buf.len();
                batch.buf.extend_from_slice(line);
                let file_idx = batch.files.len() as u32 - 1;
                batch
                    .lines
                    .push((start, batch.buf.len(), complete, file_idx, line_no));
                if batch.lines.len() == BATCH_LINES {
                    let full = std::mem::replace(&mut batch, Batch::new());
                    if work_tx.send((idx, full)).is_err() {
                        stopped = true;
                        return false;
                    }
                    idx += 1;
                }
                true
            })?;
            if !stopped && !batch.lines.is_empty() {
                let _ = work_tx.send((idx, batch));
            }
            drop(work_tx);
            Ok(())
        });
        for _ in 0..workers {
            let work_rx = work_rx.clone();
            let done_tx = done_tx.clone();
            let keys = keys.clone();
            scope.spawn(move || {
                for (idx, batch) in work_rx.iter() {
                    let prepared = batch
                        .lines
                        .iter()
                        .map(|&(s, e, complete, _, _)| {
                            if complete {
                                bulwark_core::audit::prepare(&batch.buf[s..e], &keys)
                            } else {
                                bulwark_core::audit::Prepared::Blank
                            }
                        })
                        .collect();
                    if done_tx.send((idx, batch, prepared)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        drop(work_rx);
        // Feed in order; batches may finish out of order.
        let mut pending = std::collections::BTreeMap::new();
        let mut next = 0u64;
        for (idx, batch, prepared) in done_rx.iter() {
            pending.insert(idx, (batch, prepared));
            while let Some((batch, prepared)) = pending.remove(&next) {
                next += 1;
                if !v.wants_more() {
                    continue;
                }
                for ((_, _, complete, file, line_no), p) in batch.lines.iter().zip(prepared) {
                    let file = batch.files.get(*file as usize).map_or("?", String::as_str);
                    v.feed_prepared(p, *complete, file, *line_no);
                }
            }
        }
        reader.join().map_err(|_| {
            StoreError::io(
                Path::new("audit log"),
                std::io::Error::other("the reader thread panicked"),
            )
        })?
    })?;
    Ok(v)
}

/// A torn tail that was removed: where, how many bytes, and where the fragment was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The segment.
    pub segment: PathBuf,
    /// Bytes removed.
    pub bytes: u64,
    /// The file keeping them.
    pub kept_in: PathBuf,
}

/// Remove a torn last line (bytes after the last newline of the last segment), keeping it in a
/// side file. Returns `None` when the log ends with a complete line.
pub fn remove_torn_tail(dir: &Path) -> Result<Option<Recovered>, StoreError> {
    let Some(seg) = segment_files(dir)?.pop() else {
        return Ok(None);
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&seg)
        .map_err(|e| StoreError::io(&seg, e))?;
    let len = f.metadata().map_err(|e| StoreError::io(&seg, e))?.len();
    if len == 0 {
        return Ok(None);
    }
    // Find the last newline, reading backwards in blocks.
    let mut end = len;
    let mut keep = 0u64;
    let mut block = vec![0u8; 64 * 1024];
    'search: while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))
            .map_err(|e| StoreError::io(&seg, e))?;
        f.read_exact(&mut block[..n])
            .map_err(|e| StoreError::io(&seg, e))?;
        if let Some(i) = memchr::memrchr(b'\n', &block[..n]) {
            keep = start + i as u64 + 1;
            break 'search;
        }
        end = start;
    }
    if keep == len {
        return Ok(None);
    }
    let mut fragment = Vec::new();
    f.seek(SeekFrom::Start(keep))
        .map_err(|e| StoreError::io(&seg, e))?;
    f.read_to_end(&mut fragment)
        .map_err(|e| StoreError::io(&seg, e))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let kept_in = seg.with_extension(format!("jsonl.torn-{stamp}"));
    write_private_atomic(&kept_in, &fragment).map_err(|e| StoreError::io(&kept_in, e))?;
    f.set_len(keep).map_err(|e| StoreError::io(&seg, e))?;
    f.sync_all().map_err(|e| StoreError::io(&seg, e))?;
    Ok(Some(Recovered {
        segment: seg,
        bytes: len - keep,
        kept_in,
    }))
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
    redactor: Option<std::sync::Arc<Redactor>>,
    relayed: bool,
    _writer: std::sync::Arc<WriterThread>,
}

struct WriterThread {
    handle: std::sync::Mutex<Option<JoinHandle<()>>>,
    stop: Sender<()>,
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

/// The file backend's storage: the current segment, rotated by size and day.
struct FileStorage {
    dir: PathBuf,
    segment_max_bytes: u64,
    rotate_daily: bool,
    segment: PathBuf,
    file: std::fs::File,
    segment_len: u64,
    segment_day: Option<String>,
    checkpoints: std::fs::File,
}

pub(crate) struct Writer {
    pub(crate) opts: FileLogOptions,
    pub(crate) keys: AuditKeys,
    pub(crate) chain: Chain,
    pub(crate) storage: Box<dyn Storage>,
    pub(crate) since_checkpoint: u64,
    pub(crate) last_checkpoint: Instant,
    pub(crate) failed: Option<String>,
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
            redactor: None,
            relayed: true,
            _writer: std::sync::Arc::new(WriterThread {
                handle: std::sync::Mutex::new(Some(handle)),
                stop: stop_tx,
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
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
        let handle = std::thread::Builder::new()
            .name("bulwark-audit-writer".into())
            .spawn(move || w.run(rx, stop_rx))
            .map_err(|e| StoreError::io(Path::new("audit writer thread"), e))?;
        Ok(AuditLog {
            tx,
            redactor: redactor.map(std::sync::Arc::new),
            relayed: false,
            _writer: std::sync::Arc::new(WriterThread {
                handle: std::sync::Mutex::new(Some(handle)),
                stop: stop_tx,
            }),
        })
    }
}

impl AuditLog {
    /// Redact and canonicalize on the caller's thread; the writer only seals, writes and syncs.
    fn job(&self, mut event: AuditEvent, ack: Ack) -> Result<Job, AuditError> {
        if let Some(r) = &self.redactor {
            event.details = redact_details(event.details, r);
            event.resource = r.redact(&event.resource).text;
        }
        let details = bulwark_core::audit::canonical_details(&event.details)?;
        Ok(Job::Append(event, details, ack))
    }

    /// Queue an event without waiting for it to be durable (a crash can lose what is queued).
    /// Never blocks: when the queue is full the event is refused with an error.
    pub fn submit(&self, event: AuditEvent) -> Result<(), AuditError> {
        let job = self.job(event, Ack::Nobody)?;
        self.try_queue(job)
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
        self.tx.try_send(job).map_err(|e| match e {
            crossbeam_channel::TrySendError::Full(_) => {
                AuditError::Store("the audit queue is full".into())
            }
            crossbeam_channel::TrySendError::Disconnected(_) => {
                AuditError::Store("the audit writer has stopped".into())
            }
        })
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
    let source = LogSource::from_config(&cfg.audit, home);
    if files.hmac_file_missing() && source.has_records() {
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSource {
    /// A file-backend directory.
    Dir(PathBuf),
    /// A SQLite database.
    Db(PathBuf),
}

impl LogSource {
    /// The log the configuration describes (`home` resolves empty paths).
    pub fn from_config(cfg: &AuditConfig, home: &Path) -> LogSource {
        match cfg.backend {
            bulwark_core::config::AuditBackend::File => {
                LogSource::Dir(FileLogOptions::from_config(cfg, home).dir)
            }
            bulwark_core::config::AuditBackend::Sqlite => LogSource::Db(if cfg.db.is_empty() {
                home.join("audit.db")
            } else {
                PathBuf::from(&cfg.db)
            }),
        }
    }

    /// Whether it holds any record (a segment or a database with content).
    pub fn has_records(&self) -> bool {
        match self {
            LogSource::Dir(d) => segment_files(d)
                .map(|segs| {
                    segs.iter()
                        .any(|s| std::fs::metadata(s).is_ok_and(|m| m.len() > 0))
                })
                .unwrap_or(false),
            LogSource::Db(db) => std::fs::metadata(db).is_ok_and(|m| m.len() > 0),
        }
    }

    /// Where it is, for messages.
    pub fn path(&self) -> &Path {
        match self {
            LogSource::Dir(p) | LogSource::Db(p) => p,
        }
    }

    /// Every line of the log, in order (see [`for_each_line`]).
    pub fn for_each_line(&self, f: &mut LineSink<'_>) -> Result<(), StoreError> {
        match self {
            LogSource::Dir(d) => for_each_line(d, f),
            LogSource::Db(db) => crate::audit_sqlite::for_each_db_line(db, f),
        }
    }

    /// Verify the log.
    pub fn verify(&self, with: &DirVerify<'_>) -> Result<(VerifyReport, Chain), StoreError> {
        match self {
            LogSource::Dir(d) => verify_dir(d, with),
            LogSource::Db(db) => crate::audit_sqlite::verify_db(db, with),
        }
    }
}

fn new_segment_path(dir: &Path, n: u64) -> PathBuf {
    segments_dir(dir).join(format!("{n:08}.jsonl"))
}

/// The UTC day (`YYYY-MM-DD`) of a segment's first record.
fn first_record_day(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut line = String::new();
    BufReader::new(f)
        .take(MAX_RECORD_BYTES as u64)
        .read_line(&mut line)
        .ok()?;
    let r: AuditRecord = serde_json::from_str(line.trim_end()).ok()?;
    r.timestamp.get(..10).map(str::to_string)
}

/// The last record of a segment, read from its end.
fn last_record(path: &Path) -> Option<AuditRecord> {
    let text = std::fs::read(path).ok()?;
    let body = text.strip_suffix(b"\n")?;
    let start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
    serde_json::from_slice(&body[start..]).ok()
}

/// Prune whole segments whose last record is older than the retention period (never the newest),
/// leaving a signed anchor for the last pruned record.
fn prune(
    opts: &FileLogOptions,
    keys: &AuditKeys,
    segments: &mut Vec<PathBuf>,
) -> Result<Vec<PathBuf>, StoreError> {
    let cutoff = std::time::SystemTime::now()
        .checked_sub(Duration::from_secs(opts.retention_days * 86_400))
        .unwrap_or(std::time::UNIX_EPOCH);
    let mut prunable = 0;
    for seg in segments.iter().take(segments.len().saturating_sub(1)) {
        let old = last_record(seg)
            .and_then(|r| humantime::parse_rfc3339(&r.timestamp).ok())
            .is_some_and(|t| t < cutoff);
        if !old {
            break;
        }
        prunable += 1;
    }
    if prunable == 0 {
        return Ok(Vec::new());
    }
    // The chain state at the end of the last pruned segment: replay up to there.
    let last_pruned = last_record(&segments[prunable - 1]).ok_or_else(|| StoreError::Damaged {
        dir: opts.dir.clone(),
        kind: "malformed",
        where_: segments[prunable - 1].display().to_string(),
        message: "cannot read its last record".into(),
    })?;
    let anchor = read_anchor(&opts.dir)?;
    let mut chain = match &anchor {
        Some(a) => Chain::resume(a)?,
        None => Chain::genesis(),
    };
    for seg in &segments[..prunable] {
        let text = std::fs::read(seg).map_err(|e| StoreError::io(seg, e))?;
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let r: AuditRecord = serde_json::from_slice(line).map_err(|e| StoreError::Damaged {
                dir: opts.dir.clone(),
                kind: "malformed",
                where_: seg.display().to_string(),
                message: e.to_string(),
            })?;
            let canonical = bulwark_core::audit::canonical_unsigned(&r)?;
            chain.advance(
                &bulwark_core::audit::record_digest(&canonical, &r.hash),
                &r.hash,
                r.seq,
            );
        }
    }
    debug_assert_eq!(chain.last_hash(), last_pruned.hash);
    let anchor = keys.signer.checkpoint(&chain, now_rfc3339())?;
    let path = anchor_path(&opts.dir);
    let text = serde_json::to_vec(&anchor).map_err(|e| StoreError::Keys(e.to_string()))?;
    write_private_atomic(&path, &text).map_err(|e| StoreError::io(&path, e))?;
    let pruned: Vec<PathBuf> = segments.drain(..prunable).collect();
    for seg in &pruned {
        std::fs::remove_file(seg).map_err(|e| StoreError::io(seg, e))?;
    }
    sync_dir(&segments_dir(&opts.dir)).map_err(|e| StoreError::io(&opts.dir, e))?;
    Ok(pruned)
}

impl Storage for FileStorage {
    fn write_records(
        &mut self,
        buf: &[u8],
        _lines: &[(u64, std::ops::Range<usize>)],
        first_timestamp: &str,
    ) -> Result<(), StoreError> {
        let day = first_timestamp.get(..10).unwrap_or_default().to_string();
        self.rotate_if_needed(buf.len() as u64, &day)?;
        self.file
            .write_all(buf)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| StoreError::io(&self.segment, e))?;
        if self.segment_day.is_none() {
            self.segment_day = Some(day);
        }
        self.segment_len += buf.len() as u64;
        Ok(())
    }

    fn write_checkpoint(&mut self, line: &[u8]) -> Result<(), StoreError> {
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        let path = checkpoints_path(&self.dir);
        self.checkpoints
            .write_all(&bytes)
            .and_then(|()| self.checkpoints.sync_data())
            .map_err(|e| StoreError::io(&path, e))
    }
}

impl FileStorage {
    fn rotate_if_needed(&mut self, incoming: u64, day: &str) -> Result<(), StoreError> {
        let too_big = self.segment_len > 0 && self.segment_len + incoming > self.segment_max_bytes;
        let new_day = self.rotate_daily
            && self.segment_len > 0
            && self.segment_day.as_deref().is_some_and(|d| d != day);
        if !(too_big || new_day) {
            return Ok(());
        }
        let next = new_segment_path(&self.dir, segment_number(&self.segment) + 1);
        let file = private_options()
            .create_new(true)
            .append(true)
            .open(&next)
            .map_err(|e| StoreError::io(&next, e))?;
        sync_dir(&segments_dir(&self.dir)).map_err(|e| StoreError::io(&self.dir, e))?;
        self.segment = next;
        self.file = file;
        self.segment_len = 0;
        self.segment_day = None;
        Ok(())
    }
}

impl Writer {
    pub(crate) fn new(
        opts: FileLogOptions,
        keys: AuditKeys,
        chain: Chain,
        storage: Box<dyn Storage>,
    ) -> Writer {
        Writer {
            opts,
            keys,
            chain,
            storage,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            failed: None,
            _lock: None,
        }
    }

    /// Seal and write one record at once (used while opening, before producers exist; its
    /// details are the store's own and need no redaction).
    pub(crate) fn append_now(&mut self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        let before = self.chain.clone();
        let r = self.chain.seal(event, now_rfc3339(), self.keys.current())?;
        let mut line = serde_json::to_vec(&r).map_err(|e| StoreError::Keys(e.to_string()))?;
        let range = 0..line.len();
        line.push(b'\n');
        if let Err(e) = self
            .storage
            .write_records(&line, &[(r.seq, range)], &r.timestamp)
        {
            self.chain = before;
            return Err(e);
        }
        self.since_checkpoint += 1;
        Ok(r)
    }

    fn checkpoint(&mut self) {
        if self.since_checkpoint == 0 || self.failed.is_some() {
            // Nothing new to cover: wait a whole interval again instead of waking every moment.
            self.last_checkpoint = Instant::now();
            return;
        }
        let result = self
            .keys
            .signer
            .checkpoint(&self.chain, now_rfc3339())
            .map_err(|e| e.to_string())
            .and_then(|cp| serde_json::to_vec(&cp).map_err(|e| e.to_string()))
            .and_then(|line| {
                self.storage
                    .write_checkpoint(&line)
                    .map_err(|e| e.to_string())
            });
        match result {
            Ok(()) => {
                self.since_checkpoint = 0;
                self.last_checkpoint = Instant::now();
            }
            // Records stay durable; the next checkpoint covers them.
            Err(e) => eprintln!("bulwark: audit checkpoint not written: {e}"),
        }
    }

    fn run(mut self, rx: Receiver<Job>, stop: Receiver<()>) {
        loop {
            let wait = self
                .opts
                .checkpoint_interval
                .saturating_sub(self.last_checkpoint.elapsed());
            let first = crossbeam_channel::select! {
                recv(rx) -> job => match job {
                    Ok(j) => j,
                    Err(_) => break,
                },
                recv(stop) -> _ => {
                    // Drain what producers already sent, then stop.
                    let rest: Vec<Job> = rx.try_iter().collect();
                    if !rest.is_empty() {
                        self.commit(rest);
                    }
                    break;
                }
                default(wait.max(Duration::from_millis(1))) => {
                    self.checkpoint();
                    continue;
                }
            };
            let mut batch = vec![first];
            if self.opts.group_commit {
                let deadline = Instant::now() + self.opts.group_window;
                while batch.len() < self.opts.group_max {
                    match rx.recv_deadline(deadline) {
                        Ok(j) => batch.push(j),
                        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                            break;
                        }
                    }
                }
            }
            self.commit(batch);
            if self.since_checkpoint >= self.opts.checkpoint_every
                || self.last_checkpoint.elapsed() >= self.opts.checkpoint_interval
            {
                self.checkpoint();
            }
        }
        self.checkpoint();
    }

    fn commit(&mut self, batch: Vec<Job>) {
        if let Some(why) = &self.failed {
            for Job::Append(_, _, ack) in batch {
                ack.send(Err(AuditError::Store(why.clone())));
            }
            return;
        }
        let before = self.chain.clone();
        let mut buf = Vec::with_capacity(batch.len() * 512);
        let mut lines = Vec::with_capacity(batch.len());
        let mut sealed = Vec::with_capacity(batch.len());
        for Job::Append(event, details, ack) in batch {
            let sealed_record =
                self.chain
                    .seal_with_details(event, &details, now_rfc3339(), self.keys.current());
            match sealed_record.and_then(|r| {
                let start = buf.len();
                serde_json::to_writer(&mut buf, &r)
                    .map_err(|e| AuditError::Canonical(e.to_string()))?;
                lines.push((r.seq, start..buf.len()));
                buf.push(b'\n');
                Ok(r)
            }) {
                Ok(r) => sealed.push((r, ack)),
                Err(e) => {
                    // Undo this one record: reseal nothing after it.
                    ack.send(Err(e));
                    self.chain = before.clone();
                    for (_, ack) in sealed.drain(..) {
                        ack.send(Err(AuditError::Store(
                            "a record in the same batch could not be sealed; retry".into(),
                        )));
                    }
                    return;
                }
            }
        }
        let first_ts = sealed
            .first()
            .map(|(r, _)| r.timestamp.clone())
            .unwrap_or_default();
        match self.storage.write_records(&buf, &lines, &first_ts) {
            Ok(()) => {
                self.since_checkpoint += sealed.len() as u64;
                for (r, ack) in sealed {
                    ack.send(Ok(r));
                }
            }
            Err(e) => {
                // Not durable: nothing is acknowledged, and the writer stops accepting records
                // (the file may now end in a torn line; reopening recovers it).
                let why = format!("writing the audit log failed: {e}; restart to recover");
                self.chain = before;
                self.failed = Some(why.clone());
                for (_, ack) in sealed {
                    ack.send(Err(AuditError::Store(why.clone())));
                }
            }
        }
    }
}
