//! Verification of a file-backed log: every segment in parallel batches against the chain, the
//! MACs and the signed checkpoints; resuming from a checkpoint to append; removing a torn tail.

use super::*;

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
pub(crate) fn verify_for_append(
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
    verify_on_open(
        mode,
        keys,
        || read_checkpoints(dir),
        &lines_from,
        |_| full(),
    )
}

/// What a writer checks when it opens a log, whatever the backend: with `since_checkpoint`, from
/// the last signed checkpoint on when there is one ([`verify_from_checkpoint`], reading records
/// with `lines_from`), else everything (`full`, given the writer's keys).
pub(crate) fn verify_on_open(
    mode: bulwark_core::config::OpenVerify,
    keys: &AuditKeys,
    checkpoints: impl FnOnce() -> Result<Vec<Checkpoint>, StoreError>,
    lines_from: &(dyn Fn(u64, &mut LineSink<'_>) -> Result<(), StoreError> + Sync),
    full: impl FnOnce(&DirVerify<'_>) -> Result<(VerifyReport, Chain), StoreError>,
) -> Result<(VerifyReport, Chain), StoreError> {
    if mode == bulwark_core::config::OpenVerify::SinceCheckpoint
        && let Some(done) = verify_from_checkpoint(checkpoints()?, keys, lines_from)?
    {
        return Ok(done);
    }
    full(&DirVerify {
        keys: &keys.hmac,
        public_key: Some(keys.signer.public()),
    })
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
    let (checkpoints, torn) = match read_checkpoints_noting(dir) {
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
    let (mut report, chain) = v.finish_with_chain();
    if let Some(at) = torn {
        report.notices.push(format!(
            "{at}: the last checkpoint line is cut off (a crash while it was written): it was not checked, and the records are verified without it"
        ));
    }
    Ok((report, chain))
}

/// A callback that receives lines: `(line, complete, file, line_no)`, false to stop.
pub type LineSink<'a> = dyn FnMut(&[u8], bool, &str, u64) -> bool + 'a;

/// Something that feeds every line of a log, in order, to a [`LineSink`].
pub type LineSource<'a> = dyn Fn(&mut LineSink<'_>) -> Result<(), StoreError> + Sync + 'a;

/// Lines of one batch: their bytes in one buffer, where each begins and ends, whether it was
/// complete, and its file (an index into `files`, the batch's own table) and line number.
pub(crate) struct Batch {
    pub(crate) buf: Vec<u8>,
    pub(crate) lines: Vec<(usize, usize, bool, u32, u64)>,
    pub(crate) files: Vec<String>,
}

impl Batch {
    pub(crate) fn new() -> Batch {
        Batch {
            buf: Vec::with_capacity(1 << 20),
            lines: Vec::with_capacity(BATCH_LINES),
            files: Vec::new(),
        }
    }
}

pub(crate) const BATCH_LINES: usize = 2048;

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
