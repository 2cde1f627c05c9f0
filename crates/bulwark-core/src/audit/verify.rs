//! Verification of an audit log: links, MACs, checkpoints, and a name for the first thing wrong.
//!
//! The verifier reads the log's lines in order, once. On the first record that does not continue
//! the chain it keeps reading only to learn what happened there (was the expected record moved
//! later, is the next record linked to this one, does this sequence number come again), then names
//! the record and the kind of damage: modified, deleted, inserted, reordered, truncated, or a torn
//! last line (a crash, not tampering).

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use super::{AuditKey, AuditRecord, Chain, Checkpoint, canonical_unsigned, record_digest};

/// What is wrong with a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A record's content, sequence number, link or MAC was changed.
    Modified,
    /// Records are missing from the middle of the log.
    Deleted,
    /// A record that does not belong was added (forged or replayed).
    Inserted,
    /// A record stands out of order.
    Reordered,
    /// The log ends before its last signed checkpoint.
    Truncated,
    /// The last line was cut short by a crash: not tampering (`bulwark audit recover`).
    TornTail,
    /// A line is not a record at all.
    Malformed,
    /// The record at a checkpoint's `seq` has another hash, or the content before it changed.
    CheckpointMismatch,
    /// A checkpoint's signature does not verify with the public key.
    BadSignature,
    /// A record was sealed with an HMAC key that is not available.
    UnknownKey,
}

impl FailureKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Modified => "modified",
            FailureKind::Deleted => "deleted",
            FailureKind::Inserted => "inserted",
            FailureKind::Reordered => "reordered",
            FailureKind::Truncated => "truncated",
            FailureKind::TornTail => "torn_tail",
            FailureKind::Malformed => "malformed",
            FailureKind::CheckpointMismatch => "checkpoint_mismatch",
            FailureKind::BadSignature => "bad_signature",
            FailureKind::UnknownKey => "unknown_key",
        }
    }
}

/// The first thing wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What kind of damage.
    pub kind: FailureKind,
    /// The record it is about (the expected sequence number where the record itself is gone).
    pub seq: Option<u64>,
    /// `file:line` of the line it was found at, when there is one.
    pub location: Option<String>,
    /// A sentence for a human.
    pub message: String,
}

impl Failure {
    /// Where it is, for messages: `file:line`, else `record N`.
    pub fn place(&self) -> String {
        self.location
            .clone()
            .or(self.seq.map(|s| format!("record {s}")))
            .unwrap_or_default()
    }
}

/// What a verification concluded, as `bulwark audit verify`'s exit status says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VerifyStatus {
    /// Every check passed and every record is authenticated (exit 0).
    Verified,
    /// A check failed (exit 1).
    Failed,
    /// Every check made passed, but some records are not authenticated (exit 3): see
    /// `unauthenticated`.
    Incomplete,
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// `verified`, `failed` or `incomplete`: the conclusion, as the exit status gives it.
    pub status: VerifyStatus,
    /// Whether every check made passed (the chain holds). True beside `incomplete` too: read
    /// `status` for the conclusion.
    pub ok: bool,
    /// Records read before the first failure (all of them when `ok`).
    pub records: u64,
    /// The last good record's sequence number (0 for an empty log).
    pub last_seq: u64,
    /// The last good record's hash.
    pub last_hash: String,
    /// Whether record MACs were checked (the HMAC key was available).
    pub macs_checked: bool,
    /// Checkpoints matched against the log.
    pub checkpoints_checked: usize,
    /// Whether checkpoint signatures were checked (a public key was given).
    pub signatures_checked: bool,
    /// The last record whose content is authenticated: every record when MACs were checked, else
    /// the last record a signed checkpoint covers (0: none).
    pub authenticated_through: u64,
    /// Records after `authenticated_through`: linked to the chain, but nothing proves they were
    /// not forged (no HMAC key, and no signed checkpoint covers them yet).
    pub unauthenticated: u64,
    /// The first failure.
    pub failure: Option<Failure>,
    /// What was seen and set aside without failing, for a human (a checkpoint line cut off at the
    /// end of its file by a crash).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

impl VerifyReport {
    /// A log that could not be read as one: a failure before any record (a malformed checkpoints
    /// file, a pruning anchor with a bad signature).
    pub fn failed(kind: FailureKind, location: String, message: String) -> VerifyReport {
        VerifyReport {
            status: VerifyStatus::Failed,
            ok: false,
            records: 0,
            last_seq: 0,
            last_hash: String::new(),
            macs_checked: false,
            checkpoints_checked: 0,
            signatures_checked: false,
            authenticated_through: 0,
            unauthenticated: 0,
            failure: Some(Failure {
                kind,
                seq: None,
                location: Some(location),
                message,
            }),
            notices: Vec::new(),
        }
    }

    /// Verified, and every record authenticated.
    pub fn complete(&self) -> bool {
        self.ok && self.unauthenticated == 0
    }
}

/// What a verification checks against.
#[derive(Default)]
pub struct VerifyOptions<'a> {
    /// HMAC keys by which records may be sealed; empty means MACs are not checked.
    pub keys: Vec<&'a AuditKey>,
    /// The checkpoint public key; `None` means signatures are not checked.
    pub public_key: Option<VerifyingKey>,
    /// Checkpoints, in any order.
    pub checkpoints: Vec<Checkpoint>,
    /// Where the log starts (an anchor left by pruning), else genesis.
    pub start: Option<Chain>,
}

#[derive(Debug, Clone)]
struct Seen {
    seq: u64,
    prev_hash: HashText,
    hash: HashText,
    mac_ok: Option<bool>,
}

/// A record's hex hash as text, held inline (no allocation crosses threads). A field that is not
/// 64 characters never equals a real hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashText {
    len: u8,
    bytes: [u8; 64],
}

impl HashText {
    fn new(s: &str) -> HashText {
        let mut bytes = [0u8; 64];
        if s.len() == 64 {
            bytes.copy_from_slice(s.as_bytes());
            HashText { len: 64, bytes }
        } else {
            let n = s.len().min(64);
            bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
            HashText { len: 255, bytes }
        }
    }

    fn as_str(&self) -> &str {
        let n = usize::from(self.len.min(64));
        std::str::from_utf8(&self.bytes[..n]).unwrap_or("")
    }

    /// Whether this is exactly the 64-character hash `s`.
    pub fn is(&self, s: &str) -> bool {
        self.len == 64 && s.len() == 64 && self.bytes[..] == *s.as_bytes()
    }
}

impl std::fmt::Debug for HashText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A line parsed and checked on its own: the part of verification any thread can do.
#[derive(Debug)]
pub enum Prepared {
    /// An empty line, or one not worth reading.
    Blank,
    /// Not a record: why.
    Invalid(String),
    /// A record, reduced to what the chain needs.
    Record {
        /// Its sequence number.
        seq: u64,
        /// Its `prev_hash`.
        prev_hash: HashText,
        /// Its `hash`.
        hash: HashText,
        /// Its [`record_digest`] (`None` if it has no canonical form).
        digest: Option<[u8; 32]>,
        /// MAC check (`None` when no key was given).
        mac_ok: Option<bool>,
        /// The sealing key's id when it is not among the keys.
        unknown_key: Option<String>,
    },
}

/// Parse a complete line and check its MAC with `keys` (empty: not checked).
pub fn prepare(line: &[u8], keys: &[&AuditKey]) -> Prepared {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Prepared::Blank;
    }
    let record: AuditRecord = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => return Prepared::Invalid(e.to_string()),
    };
    let canonical = canonical_unsigned(&record).ok();
    let (mac_ok, unknown_key) = match (keys.is_empty(), &canonical) {
        (true, _) => (None, None),
        (false, None) => (Some(false), None),
        (false, Some(c)) => match keys.iter().find(|k| k.id() == record.key_id) {
            Some(k) => (Some(k.verifies_canonical(c, &record.hash)), None),
            None => (None, Some(record.key_id.clone())),
        },
    };
    Prepared::Record {
        seq: record.seq,
        prev_hash: HashText::new(&record.prev_hash),
        hash: HashText::new(&record.hash),
        digest: canonical.map(|c| record_digest(&c, &record.hash)),
        mac_ok,
        unknown_key,
    }
}

/// The first record that broke the chain, and what was learned after it.
struct Anomaly {
    record: Seen,
    location: String,
    expected: u64,
    prev: String,
    next: Option<Seen>,
    expected_later: bool,
    own_seq_later: bool,
    unknown_key: Option<String>,
}

/// A streaming verifier: [`Verifier::feed`] each line in order, then [`Verifier::finish`].
pub struct Verifier<'a> {
    keys: Vec<&'a AuditKey>,
    public_key: Option<VerifyingKey>,
    checkpoints: Vec<Checkpoint>,
    next_checkpoint: usize,
    chain: Chain,
    records: u64,
    torn: Option<String>,
    anomaly: Option<Anomaly>,
    failure: Option<Failure>,
}

impl<'a> Verifier<'a> {
    /// A verifier for a log checked against `opts`.
    pub fn new(opts: VerifyOptions<'a>) -> Verifier<'a> {
        let mut checkpoints = opts.checkpoints;
        checkpoints.sort_by_key(|c| c.seq);
        let mut v = Verifier {
            keys: opts.keys,
            public_key: opts.public_key,
            checkpoints,
            next_checkpoint: 0,
            chain: opts.start.unwrap_or_default(),
            records: 0,
            torn: None,
            anomaly: None,
            failure: None,
        };
        if let Some(pk) = &v.public_key
            && let Some(bad) = v.checkpoints.iter().find(|c| !c.verify_signature(pk))
        {
            v.failure = Some(Failure {
                kind: FailureKind::BadSignature,
                seq: Some(bad.seq),
                location: None,
                message: format!(
                    "the checkpoint at seq {} is not signed by this public key (forged, or the wrong key)",
                    bad.seq
                ),
            });
        }
        // Checkpoints before the start (pruned records) cannot be matched.
        let start = v.chain.next_seq();
        v.next_checkpoint = v.checkpoints.iter().take_while(|c| c.seq < start).count();
        v
    }

    fn fail(
        &mut self,
        kind: FailureKind,
        seq: Option<u64>,
        location: Option<&str>,
        message: String,
    ) {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                kind,
                seq,
                location: location.map(str::to_string),
                message,
            });
        }
    }

    /// The HMAC keys this verifier checks MACs with (for [`prepare`] on other threads).
    pub fn keys(&self) -> &[&'a AuditKey] {
        &self.keys
    }

    /// One line of the log (without its newline). `complete` is false for a last line that did not
    /// end with a newline. `file` and `line_no` name it in failures.
    pub fn feed(&mut self, line: &[u8], complete: bool, file: &str, line_no: u64) {
        let prepared = if complete && self.wants_more() {
            prepare(line, &self.keys)
        } else {
            Prepared::Blank
        };
        self.feed_prepared(prepared, complete, file, line_no);
    }

    /// Whether feeding more lines can change the outcome.
    pub fn wants_more(&self) -> bool {
        self.failure.is_none() || self.anomaly.is_some()
    }

    /// One line already [`prepare`]d (on any thread), in log order.
    pub fn feed_prepared(&mut self, prepared: Prepared, complete: bool, file: &str, line_no: u64) {
        let location = || format!("{file}:{line_no}");
        if let Some(torn_at) = self.torn.take() {
            self.fail(
                FailureKind::Malformed,
                Some(self.chain.next_seq()),
                Some(&torn_at),
                "a line without its newline stands before other lines (a torn write in the middle of the log)".into(),
            );
        }
        if !self.wants_more() {
            return;
        }
        if !complete {
            self.torn = Some(location());
            return;
        }
        let (seq, prev_hash, hash, digest, mac_ok, unknown_key) = match prepared {
            Prepared::Blank => return,
            Prepared::Invalid(e) => {
                if self.anomaly.is_none() {
                    let expected = self.chain.next_seq();
                    self.fail(
                        FailureKind::Malformed,
                        Some(expected),
                        Some(&location()),
                        format!("the line where record {expected} should be is not a record ({e})"),
                    );
                }
                return;
            }
            Prepared::Record {
                seq,
                prev_hash,
                hash,
                digest,
                mac_ok,
                unknown_key,
            } => (seq, prev_hash, hash, digest, mac_ok, unknown_key),
        };
        let seen = Seen {
            seq,
            prev_hash,
            hash,
            mac_ok,
        };
        if let Some(a) = &mut self.anomaly {
            if a.next.is_none() {
                a.next = Some(seen);
            }
            a.expected_later |= seq == a.expected;
            a.own_seq_later |= seq == a.record.seq;
            return;
        }
        let expected = self.chain.next_seq();
        let fits = seq == expected
            && prev_hash.is(self.chain.last_hash())
            && mac_ok != Some(false)
            && unknown_key.is_none();
        let Some(digest) = digest.filter(|_| fits) else {
            self.anomaly = Some(Anomaly {
                record: seen,
                location: location(),
                expected,
                prev: self.chain.last_hash().to_string(),
                next: None,
                expected_later: false,
                own_seq_later: false,
                unknown_key,
            });
            return;
        };
        self.chain.advance(&digest, hash.as_str(), seq);
        self.records += 1;
        while let Some(cp) = self.checkpoints.get(self.next_checkpoint) {
            if cp.seq > seq {
                break;
            }
            self.next_checkpoint += 1;
            if cp.seq < seq {
                continue;
            }
            if !hash.is(&cp.hash) {
                self.fail(
                    FailureKind::CheckpointMismatch,
                    Some(seq),
                    Some(&location()),
                    format!(
                        "record {seq} has another hash than its signed checkpoint says (the log was rolled back or rewritten)"
                    ),
                );
            } else if cp.chain_sha256 != self.chain.chain_sha256() {
                self.fail(
                    FailureKind::CheckpointMismatch,
                    Some(seq),
                    Some(&location()),
                    format!(
                        "the content of a record at or before {seq} differs from what its signed checkpoint covers (a record was modified)"
                    ),
                );
            }
        }
    }

    fn classify(&mut self) {
        let Some(a) = self.anomaly.take() else {
            return;
        };
        let r = &a.record;
        let e = a.expected;
        let at = Some(a.location.as_str());
        if let Some(k) = &a.unknown_key
            && r.seq == e
            && r.prev_hash.is(&a.prev)
        {
            self.fail(
                FailureKind::UnknownKey,
                Some(e),
                at,
                format!("record {e} was sealed with HMAC key {k}, which is not available: pass every key the log used"),
            );
            return;
        }
        let next = a.next.as_ref();
        let (kind, seq, message) = if next.is_some_and(|n| n.seq == e + 1 && n.prev_hash == r.hash)
        {
            (
                FailureKind::Modified,
                e,
                format!("record {e} was modified (its content, seq, link or MAC no longer match)"),
            )
        } else if next.is_some_and(|n| n.seq == e && n.prev_hash.is(&a.prev))
            && r.mac_ok != Some(true)
        {
            (
                FailureKind::Inserted,
                e,
                format!("a record that does not belong was inserted before record {e}"),
            )
        } else if r.seq < e {
            (
                FailureKind::Inserted,
                e,
                format!(
                    "a record with seq {} was inserted where record {e} should be (seq {} came before)",
                    r.seq, r.seq
                ),
            )
        } else if r.seq > e && a.expected_later {
            if a.own_seq_later {
                (
                    FailureKind::Inserted,
                    e,
                    format!("a copy of record {} was inserted before record {e}", r.seq),
                )
            } else {
                (
                    FailureKind::Reordered,
                    e,
                    format!(
                        "record {e} stands after record {}: the records were reordered",
                        r.seq
                    ),
                )
            }
        } else if r.seq > e {
            (
                FailureKind::Deleted,
                e,
                if r.seq == e + 1 {
                    format!("record {e} was deleted")
                } else {
                    format!("records {e} to {} were deleted", r.seq - 1)
                },
            )
        } else {
            (
                FailureKind::Modified,
                e,
                format!("record {e} was modified (its content, link or MAC no longer match)"),
            )
        };
        self.fail(kind, Some(seq), at, message);
    }

    /// Conclude.
    pub fn finish(self) -> VerifyReport {
        self.finish_with_chain().0
    }

    /// Conclude, and return the chain as it stands after the last good record (to append after it).
    pub fn finish_with_chain(mut self) -> (VerifyReport, Chain) {
        self.classify();
        // A checkpoint only ever covers durable records: a cut inside its range is truncation,
        // even when the last line is left half-written to look like a crash.
        if let Some(last) = self.checkpoints.last()
            && last.seq >= self.chain.next_seq()
        {
            let have = self.chain.next_seq() - 1;
            self.fail(
                FailureKind::Truncated,
                Some(have + 1),
                None,
                format!(
                    "the log ends at record {have}, but a signed checkpoint covers record {}: records were cut off",
                    last.seq
                ),
            );
        }
        if let Some(torn_at) = self.torn.take() {
            let seq = self.chain.next_seq();
            self.fail(
                FailureKind::TornTail,
                Some(seq),
                Some(&torn_at),
                format!(
                    "the last line is incomplete (a crash while writing record {seq}; it was never acknowledged): `bulwark audit recover` removes it"
                ),
            );
        }
        let last_seq = self.chain.next_seq() - 1;
        let authenticated_through = if !self.keys.is_empty() {
            last_seq
        } else if self.public_key.is_some() {
            // Matched checkpoints, every one of them signature-checked in `new`.
            self.next_checkpoint
                .checked_sub(1)
                .and_then(|i| self.checkpoints.get(i))
                .map_or(0, |c| c.seq.min(last_seq))
        } else {
            0
        };
        let unauthenticated = last_seq - authenticated_through;
        let report = VerifyReport {
            status: match (&self.failure, unauthenticated) {
                (Some(_), _) => VerifyStatus::Failed,
                (None, 0) => VerifyStatus::Verified,
                (None, _) => VerifyStatus::Incomplete,
            },
            ok: self.failure.is_none(),
            records: self.records,
            last_seq,
            last_hash: self.chain.last_hash().to_string(),
            macs_checked: !self.keys.is_empty(),
            checkpoints_checked: self.next_checkpoint,
            signatures_checked: self.public_key.is_some(),
            authenticated_through,
            unauthenticated,
            failure: self.failure,
            notices: Vec::new(),
        };
        (report, self.chain)
    }
}

/// Verify a whole log held in memory (one segment's bytes, or several joined), for tests and small
/// logs; the store streams segments through [`Verifier`] instead.
pub fn verify_bytes(log: &[u8], name: &str, opts: VerifyOptions<'_>) -> VerifyReport {
    let mut v = Verifier::new(opts);
    let mut rest = log;
    let mut line_no = 0u64;
    while !rest.is_empty() {
        line_no += 1;
        let (line, complete, tail) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        v.feed(line, complete, name, line_no);
        rest = tail;
    }
    v.finish()
}
