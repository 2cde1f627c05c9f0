//! Where records go on disk: JSON Lines segments, rotated by size and day, pruned by age behind
//! a signed anchor; the writer thread's side of the file backend.

use super::*;

/// The file backend's storage: the current segment, rotated by size and day.
pub(crate) struct FileStorage {
    pub(crate) dir: PathBuf,
    pub(crate) segment_max_bytes: u64,
    pub(crate) rotate_daily: bool,
    pub(crate) segment: PathBuf,
    pub(crate) file: std::fs::File,
    pub(crate) segment_len: u64,
    pub(crate) segment_day: Option<String>,
    pub(crate) checkpoints: std::fs::File,
}

pub(crate) fn new_segment_path(dir: &Path, n: u64) -> PathBuf {
    segments_dir(dir).join(format!("{n:08}.jsonl"))
}

/// The UTC day (`YYYY-MM-DD`) of a segment's first record.
pub(crate) fn first_record_day(path: &Path) -> Option<String> {
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
pub(crate) fn last_record(path: &Path) -> Option<AuditRecord> {
    let text = std::fs::read(path).ok()?;
    let body = text.strip_suffix(b"\n")?;
    let start = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
    serde_json::from_slice(&body[start..]).ok()
}

/// Prune whole segments whose last record is older than the retention period (never the newest),
/// leaving a signed anchor for the last pruned record.
pub(crate) fn prune(
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
    pub(crate) fn rotate_if_needed(&mut self, incoming: u64, day: &str) -> Result<(), StoreError> {
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
            health: Default::default(),
            _lock: None,
        }
    }

    /// Seal and write one record at once (used while opening, before producers exist; its
    /// details are the store's own and need no redaction).
    pub(super) fn append_now(&mut self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
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

    pub(super) fn checkpoint(&mut self) {
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

    pub(super) fn run(mut self, q: Queues) {
        loop {
            let wait = self
                .opts
                .checkpoint_interval
                .saturating_sub(self.last_checkpoint.elapsed());
            let mut waited = Vec::new();
            let mut last = false;
            crossbeam_channel::select! {
                recv(q.rx) -> job => last = self.received(job, &q.rx, &mut waited),
                recv(q.wake) -> _ => {
                    // Records nobody waits for: let more gather, unless one a caller waits for,
                    // or the stop, comes first. Producers do not wake this thread meanwhile.
                    crossbeam_channel::select! {
                        recv(q.rx) -> job => last = self.received(job, &q.rx, &mut waited),
                        recv(q.stop) -> _ => last = true,
                        default(self.opts.submit_window) => {}
                    }
                },
                recv(q.stop) -> _ => last = true,
                default(wait.max(Duration::from_millis(1))) => {
                    self.checkpoint();
                    continue;
                }
            };
            // The next record nobody waits for rings again; every one queued before is taken now,
            // ahead of those a caller waits for (a thread that submits one record and then
            // appends another has them sealed in that order).
            q.rung.store(false, std::sync::atomic::Ordering::SeqCst);
            let mut batch: Vec<Job> = q.unwaited.try_iter().collect();
            batch.append(&mut waited);
            if last {
                // Drain what producers already sent, then stop.
                batch.extend(q.rx.try_iter());
                self.commit_all(batch);
                break;
            }
            self.commit_all(batch);
        }
        self.checkpoint();
    }

    /// A record from the main queue, with those of the group window after it; `true` when every
    /// handle is gone.
    fn received(
        &self,
        job: Result<Job, crossbeam_channel::RecvError>,
        rx: &Receiver<Job>,
        waited: &mut Vec<Job>,
    ) -> bool {
        match job {
            Ok(j) => {
                waited.push(j);
                self.gather(rx, waited);
                false
            }
            Err(_) => true,
        }
    }

    /// With group commit on, add to a batch the records that arrive within the group window.
    fn gather(&self, rx: &Receiver<Job>, batch: &mut Vec<Job>) {
        if !self.opts.group_commit {
            return;
        }
        let deadline = Instant::now() + self.opts.group_window;
        while batch.len() < self.opts.group_max {
            match rx.recv_deadline(deadline) {
                Ok(j) => batch.push(j),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    }

    /// Commit in batches of at most `group_max` records (one each with group commit off).
    fn commit_all(&mut self, mut jobs: Vec<Job>) {
        let most = if self.opts.group_commit {
            self.opts.group_max.max(1)
        } else {
            1
        };
        while !jobs.is_empty() {
            let rest = jobs.split_off(most.min(jobs.len()));
            self.commit(jobs);
            jobs = rest;
            if self.since_checkpoint >= self.opts.checkpoint_every
                || self.last_checkpoint.elapsed() >= self.opts.checkpoint_interval
            {
                self.checkpoint();
            }
        }
    }

    pub(super) fn commit(&mut self, batch: Vec<Job>) {
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
        let mut jobs = batch.into_iter();
        while let Some(Job::Append(event, details, ack)) = jobs.next() {
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
                    // Undo this one record: reseal nothing after it. The batch's others, sealed
                    // or not, are refused with a reason (not dropped unanswered).
                    ack.send(Err(e));
                    self.chain = before.clone();
                    let others = sealed
                        .drain(..)
                        .map(|(_, ack)| ack)
                        .chain(jobs.map(|Job::Append(_, _, ack)| ack));
                    for ack in others {
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
                let _ = self.health.set(why.clone());
                for (_, ack) in sealed {
                    ack.send(Err(AuditError::Store(why.clone())));
                }
            }
        }
    }
}
