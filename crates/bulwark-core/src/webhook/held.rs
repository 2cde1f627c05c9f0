//! Held alerts: webhook payloads the ingress guard kept back, waiting for a person to release
//! (forward once) or drop them.
//!
//! Threat answered: an alert carrying an injection or a label outside the allowlist is stopped,
//! and must not simply vanish either: the sender got 202, so without this nobody would know it
//! came, and a real incident behind it would be lost. Every transition happens exactly once.

use serde::{Deserialize, Serialize};

use crate::approval::ApprovalError;
use crate::finding::Verdict;

/// Where a held alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldState {
    /// Waiting for a person.
    Held,
    /// Being forwarded now. An alert left here by a crash has a delivery in doubt: the audit log's
    /// `ingress.release` records say whether it was sent.
    Releasing,
    /// Forwarded to the agent once, by a person's decision.
    Released,
    /// Thrown away by a person's decision.
    Dropped,
}

impl HeldState {
    /// The names `parse` accepts, for messages and documents.
    pub const NAMES: &str = "held, releasing, released or dropped";

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            HeldState::Held => "held",
            HeldState::Releasing => "releasing",
            HeldState::Released => "released",
            HeldState::Dropped => "dropped",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Option<HeldState> {
        [
            HeldState::Held,
            HeldState::Releasing,
            HeldState::Released,
            HeldState::Dropped,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
    }

    /// A list filter: a state, or `all` (`None`). The error says what was expected.
    pub fn parse_filter(s: &str) -> Result<Option<HeldState>, String> {
        match s {
            "all" => Ok(None),
            s => HeldState::parse(s)
                .map(Some)
                .ok_or_else(|| format!("{s:?}: expected {} or all", HeldState::NAMES)),
        }
    }
}

/// One payload held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAlert {
    /// 32 hex digits from the OS's random source.
    pub id: String,
    /// The `[ingress.sources]` name it came to.
    pub source: String,
    /// When it came (ms since the epoch).
    pub received_ms: u64,
    /// The verdict that held it.
    pub verdict: Verdict,
    /// The rules that matched (ids only).
    pub rules: Vec<String>,
    /// The sender's `Content-Type`.
    pub content_type: String,
    /// The payload exactly as sent, base64 (it is forwarded byte for byte on release).
    pub body_b64: String,
    /// Where it stands.
    pub state: HeldState,
    /// Who released or dropped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_ms: Option<u64>,
}

impl HeldAlert {
    /// A new held alert with a fresh id.
    pub fn new(
        source: &str,
        received_ms: u64,
        verdict: Verdict,
        rules: Vec<String>,
        content_type: &str,
        body: &[u8],
    ) -> Result<HeldAlert, ApprovalError> {
        use base64::Engine;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|e| ApprovalError::Store(format!("no randomness: {e}")))?;
        Ok(HeldAlert {
            id: hex::encode(id),
            source: source.to_string(),
            received_ms,
            verdict,
            rules,
            content_type: content_type.to_string(),
            body_b64: base64::engine::general_purpose::STANDARD.encode(body),
            state: HeldState::Held,
            decided_by: None,
            decided_ms: None,
        })
    }

    /// The payload as sent.
    pub fn body(&self) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&self.body_b64)
            .unwrap_or_default()
    }

    /// An id someone typed or sent: 32 hex digits in either case, nothing around them; as
    /// stored: lowercase. The error names the value and what was expected.
    pub fn parse_id(id: &str) -> Result<String, String> {
        let t = id;
        if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(t.to_ascii_lowercase())
        } else {
            let shown: String = t.chars().take(64).collect();
            Err(format!(
                "{shown:?} is not a held alert id: expected 32 hex digits (as `bulwark held list` prints)"
            ))
        }
    }
}

/// Where held alerts live. [`HeldStore::settle`] must be atomic across threads and processes:
/// of two people releasing one alert at once, one forwards it.
pub trait HeldStore: Send + Sync {
    /// Keep a new held alert.
    fn hold(&self, alert: &HeldAlert) -> Result<(), ApprovalError>;
    /// One held alert.
    fn held(&self, id: &str) -> Result<Option<HeldAlert>, ApprovalError>;
    /// Held alerts, newest first, optionally of one state, at most `limit`.
    fn list_held(
        &self,
        state: Option<HeldState>,
        limit: usize,
    ) -> Result<Vec<HeldAlert>, ApprovalError>;
    /// Move alert `id` from `from` to `to`, recording who and when; `Ok(false)` when it is not in
    /// `from` (already decided by someone else, or unknown).
    fn settle(
        &self,
        id: &str,
        from: HeldState,
        to: HeldState,
        by: &str,
        at_ms: u64,
    ) -> Result<bool, ApprovalError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_hex_and_bodies_round_trip() {
        let body = b"{\"alerts\":[]}\x00\xff";
        let a = HeldAlert::new(
            "am",
            1,
            Verdict::Block,
            vec!["ingress-label".into()],
            "application/json",
            body,
        )
        .expect("alert");
        let b = HeldAlert::new("am", 1, Verdict::Block, vec![], "application/json", body)
            .expect("alert");
        assert!(HeldAlert::parse_id(&a.id).as_deref() == Ok(a.id.as_str()) && a.id != b.id);
        assert_eq!(a.body(), body);
        assert!(HeldAlert::parse_id("../etc").is_err());
        assert_eq!(HeldAlert::parse_id(&a.id.to_uppercase()), Ok(a.id.clone()));
        assert_eq!(HeldState::parse("released"), Some(HeldState::Released));
        assert_eq!(HeldState::parse("gone"), None);
    }
}
