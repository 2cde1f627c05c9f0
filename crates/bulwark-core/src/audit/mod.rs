//! The audit log: every decision, approval and configuration change, as tamper-evident evidence.
//!
//! Threat answered: an attacker on the host who edits, deletes, reorders or cuts off the record of
//! what Bulwark decided. Each record carries `hash` = HMAC-SHA256 (secret key) over its canonical
//! form (RFC 8785 JSON canonicalization of the record without `hash`), which covers `seq` and
//! `prev_hash`, the previous record's `hash`; the first record chains from [`GENESIS`]. Checkpoints
//! `{seq, hash, time, chain_sha256}` are signed with Ed25519: anyone holding only the public key can
//! check them, the chain's links, and (through `chain_sha256`, a running SHA-256 over every record)
//! the content of every record up to the last checkpoint. A log that ends before its last checkpoint,
//! or whose record at a checkpoint's `seq` has another hash, fails.
//!
//! This module is pure: sealing, canonical forms, signatures and verification. Writing files is the
//! store's job (`bulwark-store`), behind [`AuditSink`].

pub mod cfg;
pub mod events;
pub mod verify;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use verify::{
    Failure, FailureKind, HashText, Prepared, Verifier, VerifyOptions, VerifyReport, VerifyStatus,
    prepare, verify_bytes,
};

/// `prev_hash` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Prefix of the message a checkpoint signature covers (domain separation).
pub const CHECKPOINT_DOMAIN: &[u8] = b"bulwark-audit-checkpoint-v1\n";

/// The largest sequence number: 2^53, the largest integer RFC 8785 (IEEE-754 numbers) represents
/// exactly. A log reaching it refuses further records.
pub const MAX_SEQ: u64 = 1 << 53;

/// Largest record line accepted when reading (a longer line is malformed, not read into memory).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// What kind of event a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A guard's verdict.
    Decision,
    /// A human approval, rejection or execution.
    Approval,
    /// A configuration change (including audit key rotation and recovery).
    ConfigChange,
    /// Authentication of a caller.
    Auth,
    /// An egress decision.
    Egress,
    /// An inbound webhook.
    Ingress,
    /// A vault operation.
    Vault,
    /// Anything an operator or script records.
    Custom,
}

impl EventType {
    /// Every type, for messages.
    pub const ALL: [EventType; 8] = [
        EventType::Decision,
        EventType::Approval,
        EventType::ConfigChange,
        EventType::Auth,
        EventType::Egress,
        EventType::Ingress,
        EventType::Vault,
        EventType::Custom,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Decision => "decision",
            EventType::Approval => "approval",
            EventType::ConfigChange => "config_change",
            EventType::Auth => "auth",
            EventType::Egress => "egress",
            EventType::Ingress => "ingress",
            EventType::Vault => "vault",
            EventType::Custom => "custom",
        }
    }

    /// Parse a snake_case name.
    pub fn parse(s: &str) -> Result<EventType, String> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                format!("one of {}", names.join(", "))
            })
    }
}

/// An event to record: what producers hand to an [`AuditSink`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// What kind of event.
    pub event_type: EventType,
    /// Who did it (a client, an operator, a guard).
    pub actor: String,
    /// What was done (`egress.check`, `approval.approve`, ...).
    pub action: String,
    /// What it was done to (a URL, an approval id, a file).
    pub resource: String,
    /// How it ended (`allow`, `deny`, `ok`, `error`, ...).
    pub outcome: String,
    /// Anything else, as JSON; the sink redacts secrets and personal data before writing it.
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// The event cut to fit one record ([`MAX_RECORD_BYTES`]): each text field to 4 KiB, and
    /// details whose JSON would not fit replaced by `{"truncated": true, "details_bytes": N}`.
    /// A record the log writes must be one the log can read back: a producer that hands over
    /// more (a provider's reply copied into details) must not make the log unverifiable.
    pub fn bounded(mut self) -> AuditEvent {
        const FIELD: usize = 4096;
        for f in [
            &mut self.actor,
            &mut self.action,
            &mut self.resource,
            &mut self.outcome,
        ] {
            if f.len() > FIELD {
                let mut cut = FIELD;
                while !f.is_char_boundary(cut) {
                    cut -= 1;
                }
                f.truncate(cut);
            }
        }
        let len = serde_json::to_vec(&self.details).map_or(usize::MAX, |v| v.len());
        // Room for the fields above, the hashes and the JSON around them.
        if len > MAX_RECORD_BYTES - 32 * 1024 {
            self.details = serde_json::json!({"truncated": true, "details_bytes": len});
        }
        self
    }
}

/// One sealed record, as written (one JSON line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// 1, 2, 3, ... without gaps.
    pub seq: u64,
    /// RFC 3339 UTC time, microseconds.
    pub timestamp: String,
    /// What kind of event.
    pub event_type: EventType,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what.
    pub resource: String,
    /// How it ended.
    pub outcome: String,
    /// Redacted details.
    pub details: serde_json::Value,
    /// Which HMAC key sealed it (first 16 hex digits of SHA-256 of the key).
    pub key_id: String,
    /// The previous record's `hash` ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// HMAC-SHA256 over the canonical form of every other field, hex.
    pub hash: String,
}

/// What went wrong sealing, signing or reading keys.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The canonical form could not be produced (a number JSON cannot represent, ...).
    #[error("cannot canonicalize the record: {0}")]
    Canonical(String),
    /// No random source for a new key.
    #[error("no random source for a new key: {0}")]
    Random(String),
    /// Key material is not what was expected.
    #[error("{what}: {problem}")]
    Key {
        /// Which key.
        what: String,
        /// What is wrong.
        problem: String,
    },
    /// The store failed (I/O, full disk, closed writer).
    #[error("audit store: {0}")]
    Store(String),
}

/// The secret HMAC key that seals records.
pub struct AuditKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
    /// The keyed HMAC state, computed once and cloned per record (zeroized on drop).
    keyed: hmac::Hmac<Sha256>,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey({}, [REDACTED])", self.id)
    }
}

fn unhex<const N: usize>(s: &str, what: &str) -> Result<Zeroizing<[u8; N]>, AuditError> {
    let mut out = Zeroizing::new([0u8; N]);
    hex::decode_to_slice(s.trim(), out.as_mut()).map_err(|_| AuditError::Key {
        what: what.to_string(),
        problem: format!("expected {} hex digits", N * 2),
    })?;
    Ok(out)
}

fn random32() -> Result<Zeroizing<[u8; 32]>, AuditError> {
    let mut k = Zeroizing::new([0u8; 32]);
    getrandom::fill(k.as_mut()).map_err(|e| AuditError::Random(e.to_string()))?;
    Ok(k)
}

impl AuditKey {
    /// A new key from the OS random source.
    pub fn generate() -> Result<AuditKey, AuditError> {
        Ok(AuditKey::from_bytes(random32()?))
    }

    /// A key from its bytes.
    pub fn from_bytes(key: Zeroizing<[u8; 32]>) -> AuditKey {
        let id = hex::encode(&Sha256::digest(key.as_ref())[..8]);
        let keyed = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key.as_ref())
            .expect("HMAC takes keys of any length");
        AuditKey { id, key, keyed }
    }

    /// A key from its hex form (the key file's content).
    pub fn from_hex(s: &str) -> Result<AuditKey, AuditError> {
        Ok(AuditKey::from_bytes(unhex::<32>(s, "audit HMAC key")?))
    }

    /// The hex form, for the key file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.key.as_ref()))
    }

    /// The key id records carry.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, canonical: &[u8]) -> [u8; 32] {
        let mut m = self.keyed.clone();
        m.update(canonical);
        m.finalize().into_bytes().into()
    }

    /// Whether `record.hash` is this key's MAC of the record (constant-time comparison).
    pub fn verifies(&self, record: &AuditRecord) -> Result<bool, AuditError> {
        Ok(self.verifies_canonical(&canonical_unsigned(record)?, &record.hash))
    }

    /// Whether `hash` (hex) is this key's MAC of `canonical` (constant-time comparison).
    pub fn verifies_canonical(&self, canonical: &[u8], hash: &str) -> bool {
        let expected = self.mac(canonical);
        let Ok(given) = unhex::<32>(hash, "hash") else {
            return false;
        };
        bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], &given[..]))
    }
}

/// The Ed25519 key that signs checkpoints.
pub struct CheckpointKey {
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointKey(public {}, [REDACTED])", self.public_hex())
    }
}

impl CheckpointKey {
    /// A new key from the OS random source.
    pub fn generate() -> Result<CheckpointKey, AuditError> {
        Ok(CheckpointKey {
            key: SigningKey::from_bytes(&*random32()?),
        })
    }

    /// A key from its hex secret (the key file's content).
    pub fn from_hex(s: &str) -> Result<CheckpointKey, AuditError> {
        let secret = unhex::<32>(s, "audit signing key")?;
        Ok(CheckpointKey {
            key: SigningKey::from_bytes(&secret),
        })
    }

    /// The hex secret, for the key file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.key.to_bytes()))
    }

    /// The public key, hex: publish it.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// The public key.
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Sign a checkpoint of the chain as it stands.
    pub fn checkpoint(&self, chain: &Chain, time: String) -> Result<Checkpoint, AuditError> {
        let mut c = Checkpoint {
            seq: chain.next_seq - 1,
            hash: chain.prev_hash.clone(),
            time,
            chain_sha256: hex::encode(chain.chain_sha256),
            signature: String::new(),
        };
        let sig = self.key.sign(&c.signed_message()?);
        c.signature = hex::encode(sig.to_bytes());
        Ok(c)
    }
}

/// Parse a public key (64 hex digits, as `bulwark audit` publishes it).
pub fn public_key_from_hex(s: &str) -> Result<VerifyingKey, AuditError> {
    let bytes = unhex::<32>(s, "audit public key")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| AuditError::Key {
        what: "audit public key".into(),
        problem: e.to_string(),
    })
}

/// A signed statement: "the record with `seq` has `hash`, and the running SHA-256 over every record
/// up to it is `chain_sha256`", at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The last record covered.
    pub seq: u64,
    /// That record's hash.
    pub hash: String,
    /// When the checkpoint was made (RFC 3339 UTC).
    pub time: String,
    /// Running SHA-256 over the records up to `seq` (see [`Chain`]), hex.
    pub chain_sha256: String,
    /// Ed25519 signature over [`CHECKPOINT_DOMAIN`] followed by the canonical form of the other
    /// four fields, hex.
    pub signature: String,
}

impl Checkpoint {
    /// The exact bytes the signature covers.
    pub fn signed_message(&self) -> Result<Vec<u8>, AuditError> {
        let body = serde_json::json!({
            "seq": self.seq,
            "hash": self.hash,
            "time": self.time,
            "chain_sha256": self.chain_sha256,
        });
        let mut msg = CHECKPOINT_DOMAIN.to_vec();
        msg.extend(serde_jcs::to_vec(&body).map_err(|e| AuditError::Canonical(e.to_string()))?);
        Ok(msg)
    }

    /// Whether the signature is the holder of `public`'s.
    pub fn verify_signature(&self, public: &VerifyingKey) -> bool {
        let Ok(sig) = unhex::<64>(&self.signature, "signature") else {
            return false;
        };
        let Ok(msg) = self.signed_message() else {
            return false;
        };
        public
            .verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// The canonical form of a record without its `hash` (RFC 8785): what the HMAC covers.
///
/// The record's members are written in RFC 8785 order (sorted by name) with JSON string escaping,
/// which for strings is exactly RFC 8785's (`"`, `\\` and control characters escaped, `\u00xx` in
/// lowercase hex, nothing else); `details` goes through a full RFC 8785 canonicalizer (sorted
/// members, ECMAScript number form). A property test checks the result against canonicalizing the
/// whole record.
pub fn canonical_unsigned(r: &AuditRecord) -> Result<Vec<u8>, AuditError> {
    canonical_with_details(r, &canonical_details(&r.details)?)
}

/// The RFC 8785 form of a `details` value (producers can compute it on their own thread).
pub fn canonical_details(details: &serde_json::Value) -> Result<Vec<u8>, AuditError> {
    match details {
        serde_json::Value::Null => Ok(b"null".to_vec()),
        d => serde_jcs::to_vec(d).map_err(|e| AuditError::Canonical(e.to_string())),
    }
}

/// The canonical form of `r` without `hash`, given the canonical form of its `details`.
fn canonical_with_details(r: &AuditRecord, details: &[u8]) -> Result<Vec<u8>, AuditError> {
    fn field(out: &mut Vec<u8>, name: &str, value: &str) -> Result<(), AuditError> {
        out.push(b',');
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        serde_json::to_writer(&mut *out, value).map_err(|e| AuditError::Canonical(e.to_string()))
    }
    let mut out = Vec::with_capacity(
        320 + details.len() + r.actor.len() + r.action.len() + r.resource.len() + r.outcome.len(),
    );
    out.extend_from_slice(b"{\"action\":");
    serde_json::to_writer(&mut out, &r.action).map_err(|e| AuditError::Canonical(e.to_string()))?;
    field(&mut out, "actor", &r.actor)?;
    out.extend_from_slice(b",\"details\":");
    out.extend_from_slice(details);
    field(&mut out, "event_type", r.event_type.as_str())?;
    field(&mut out, "key_id", &r.key_id)?;
    field(&mut out, "outcome", &r.outcome)?;
    field(&mut out, "prev_hash", &r.prev_hash)?;
    field(&mut out, "resource", &r.resource)?;
    out.extend_from_slice(b",\"seq\":");
    out.extend_from_slice(r.seq.to_string().as_bytes());
    field(&mut out, "timestamp", &r.timestamp)?;
    out.push(b'}');
    Ok(out)
}

/// What one record adds to the running SHA-256: `SHA-256(canonical_unsigned(record) || hash)`,
/// where `hash` is the record's hex `hash` field.
pub fn record_digest(canonical: &[u8], hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(canonical);
    h.update(hash.as_bytes());
    h.finalize().into()
}

/// The chain's state: the next sequence number, the last hash, and the running SHA-256
/// `c = SHA-256(c || record_digest(record))` over every record so far (32 zero bytes before the
/// first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    next_seq: u64,
    prev_hash: String,
    chain_sha256: [u8; 32],
}

impl Default for Chain {
    fn default() -> Self {
        Chain::genesis()
    }
}

impl Chain {
    /// An empty log.
    pub fn genesis() -> Chain {
        Chain {
            next_seq: 1,
            prev_hash: GENESIS.to_string(),
            chain_sha256: [0; 32],
        }
    }

    /// The chain as it stood at a signed checkpoint or pruning anchor: the next record follows it.
    /// Fails when the anchor's hex fields are malformed.
    pub fn resume(anchor: &Checkpoint) -> Result<Chain, AuditError> {
        let sha = unhex::<32>(&anchor.chain_sha256, "anchor chain_sha256")?;
        unhex::<32>(&anchor.hash, "anchor hash")?;
        Ok(Chain {
            next_seq: anchor.seq + 1,
            prev_hash: anchor.hash.clone(),
            chain_sha256: *sha,
        })
    }

    /// The sequence number the next record gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The last record's hash ([`GENESIS`] when empty).
    pub fn last_hash(&self) -> &str {
        &self.prev_hash
    }

    /// The running SHA-256, hex.
    pub fn chain_sha256(&self) -> String {
        hex::encode(self.chain_sha256)
    }

    /// Seal an event as the next record. `details` should already be redacted.
    pub fn seal(
        &mut self,
        event: AuditEvent,
        timestamp: String,
        key: &AuditKey,
    ) -> Result<AuditRecord, AuditError> {
        let event = event.bounded();
        let details = canonical_details(&event.details)?;
        self.seal_with_details(event, &details, timestamp, key)
    }

    /// [`Chain::seal`], given the [`canonical_details`] of `event.details` (computed beforehand,
    /// on the producer's thread).
    pub fn seal_with_details(
        &mut self,
        event: AuditEvent,
        canonical_details: &[u8],
        timestamp: String,
        key: &AuditKey,
    ) -> Result<AuditRecord, AuditError> {
        if self.next_seq > MAX_SEQ {
            return Err(AuditError::Store(format!(
                "the log has reached its largest sequence number ({MAX_SEQ}): start a new log directory"
            )));
        }
        let mut r = AuditRecord {
            seq: self.next_seq,
            timestamp,
            event_type: event.event_type,
            actor: event.actor,
            action: event.action,
            resource: event.resource,
            outcome: event.outcome,
            details: event.details,
            key_id: key.id.clone(),
            prev_hash: self.prev_hash.clone(),
            hash: String::new(),
        };
        let canonical = canonical_with_details(&r, canonical_details)?;
        r.hash = hex::encode(key.mac(&canonical));
        self.advance(&record_digest(&canonical, &r.hash), &r.hash, r.seq);
        Ok(r)
    }

    /// Move past a record, given its [`record_digest`], hash and sequence number.
    pub fn advance(&mut self, digest: &[u8; 32], hash: &str, seq: u64) {
        let mut h = Sha256::new();
        h.update(self.chain_sha256);
        h.update(digest);
        self.chain_sha256 = h.finalize().into();
        self.prev_hash.clear();
        self.prev_hash.push_str(hash);
        self.next_seq = seq + 1;
    }
}

/// Redact secrets and personal data in every string of a JSON value (object keys are kept).
pub fn redact_details(value: serde_json::Value, redactor: &crate::Redactor) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redactor.redact(&s).text),
        Value::Array(a) => {
            Value::Array(a.into_iter().map(|v| redact_details(v, redactor)).collect())
        }
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, redact_details(v, redactor)))
                .collect(),
        ),
        other => other,
    }
}

/// Where records go. One writer, many producers: `append` returns once the record is durable.
pub trait AuditSink: Send + Sync {
    /// Record an event; returns the sealed record once it is durable.
    fn append(&self, event: AuditEvent) -> Result<AuditRecord, AuditError>;
}

/// The current time, RFC 3339 UTC with microseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: u64) -> AuditEvent {
        AuditEvent {
            event_type: EventType::Decision,
            actor: "tester".into(),
            action: "scan".into(),
            resource: format!("file-{i}"),
            outcome: "allow".into(),
            details: serde_json::json!({"n": i, "b": 1.5e300, "s": "é\u{1}"}),
        }
    }

    #[test]
    fn seal_chains_and_verifies() {
        let key = AuditKey::generate().unwrap();
        let mut chain = Chain::genesis();
        let a = chain.seal(event(1), now_rfc3339(), &key).unwrap();
        let b = chain.seal(event(2), now_rfc3339(), &key).unwrap();
        assert_eq!(a.prev_hash, GENESIS);
        assert_eq!(b.prev_hash, a.hash);
        assert_eq!((a.seq, b.seq), (1, 2));
        assert!(key.verifies(&a).unwrap() && key.verifies(&b).unwrap());
        let mut c = b.clone();
        c.seq = 3;
        assert!(!key.verifies(&c).unwrap(), "seq is covered");
        let mut c = b.clone();
        c.prev_hash = GENESIS.into();
        assert!(!key.verifies(&c).unwrap(), "prev_hash is covered");
        let other = AuditKey::generate().unwrap();
        assert!(!other.verifies(&a).unwrap());
        // The canonical form sorts keys and has no `hash`.
        let canon = String::from_utf8(canonical_unsigned(&a).unwrap()).unwrap();
        assert!(
            canon.starts_with(
                "{\"action\":\"scan\",\"actor\":\"tester\",\"details\":{\"b\":1.5e+300,"
            ),
            "{canon}"
        );
        assert!(!canon.contains("\"hash\""));
    }

    #[test]
    fn checkpoints_sign_and_verify() {
        let key = AuditKey::generate().unwrap();
        let signer = CheckpointKey::generate().unwrap();
        let mut chain = Chain::genesis();
        chain.seal(event(1), now_rfc3339(), &key).unwrap();
        let cp = signer.checkpoint(&chain, now_rfc3339()).unwrap();
        assert_eq!(cp.seq, 1);
        let public = public_key_from_hex(&signer.public_hex()).unwrap();
        assert!(cp.verify_signature(&public));
        let mut forged = cp.clone();
        forged.seq = 2;
        assert!(!forged.verify_signature(&public));
        let reread = CheckpointKey::from_hex(&signer.to_hex()).unwrap();
        assert_eq!(reread.public_hex(), signer.public_hex());
        assert!(!format!("{signer:?}").contains(signer.to_hex().as_str()));
        assert!(!format!("{key:?}").contains(key.to_hex().as_str()));
    }
}
