//! API authentication: tokens with scopes.
//!
//! Threat answered: any local user or process calling the sidecar. Every route but the health and
//! metrics probes needs a token, and every token carries scopes that name what it may do. A token
//! is `bwk_<id>_<secret>`: the id (16 hex digits) finds the record, the SHA-256 of the whole token
//! is compared with the stored hash in constant time. Only the hash is stored; the token is shown
//! once, when it is created.

use std::collections::BTreeSet;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `/v1/scan`, `/v1/redact`, `/v1/wrap`.
    Scan,
    /// `/v1/egress/check`.
    Egress,
    /// `/v1/intents`, reading approvals, and consuming them (the executor).
    Intents,
    /// Approving and rejecting (the token's name is the approver), reading approvals.
    Approve,
    /// `/v1/audit` and `/v1/audit/verify`.
    Audit,
    /// The model gateway (`/v1/chat/completions`): an agent talking to its model through Bulwark.
    Gateway,
    /// The MCP gateway (`/mcp/{name}`): an MCP client talking to its servers through Bulwark.
    Mcp,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 7] = [
        Scope::Scan,
        Scope::Egress,
        Scope::Intents,
        Scope::Approve,
        Scope::Audit,
        Scope::Gateway,
        Scope::Mcp,
    ];

    /// The name on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Scan => "scan",
            Scope::Egress => "egress",
            Scope::Intents => "intents",
            Scope::Approve => "approve",
            Scope::Audit => "audit",
            Scope::Gateway => "gateway",
            Scope::Mcp => "mcp",
        }
    }

    /// Parse `scan,intents,...`.
    pub fn parse_list(s: &str) -> Result<BTreeSet<Scope>, String> {
        let mut out = BTreeSet::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = Scope::ALL
                .into_iter()
                .find(|sc| sc.as_str() == part)
                .ok_or_else(|| {
                    format!(
                        "{part:?} is not a scope: expected {}",
                        Scope::ALL.map(Scope::as_str).join(", ")
                    )
                })?;
            out.insert(scope);
        }
        if out.is_empty() {
            return Err(format!(
                "no scope given: expected some of {}",
                Scope::ALL.map(Scope::as_str).join(", ")
            ));
        }
        Ok(out)
    }
}

/// A stored token: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// 16 hex digits, the token's lookup key.
    pub id: String,
    /// The principal the token authenticates (an approver's name, an agent's name).
    pub name: String,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    /// SHA-256 of the whole token, hex.
    pub sha256: String,
    /// Created (ms since the epoch).
    pub created_ms: u64,
    /// Revoked (ms since the epoch), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<u64>,
}

/// Why a token could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// A bad name.
    #[error("token name {0:?}: expected 1-64 letters, digits, `-`, `_` or `.`")]
    BadName(String),
    /// No randomness.
    #[error("no random source: {0}")]
    Random(String),
}

/// A valid principal name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Make a token for `name`: the token (show it once) and its record.
pub fn new_token(
    name: &str,
    scopes: BTreeSet<Scope>,
    now_ms: u64,
) -> Result<(SecretString, TokenRecord), TokenError> {
    if !valid_name(name) {
        return Err(TokenError::BadName(name.to_string()));
    }
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| TokenError::Random(e.to_string()))?;
    let id = hex::encode(id);
    let (secret, _) = crate::egress::clients::new_client_token()
        .map_err(|e| TokenError::Random(e.to_string()))?;
    let token = SecretString::from(format!("bwk_{id}_{}", secret.expose_secret()));
    let record = TokenRecord {
        id,
        name: name.to_string(),
        scopes,
        sha256: crate::egress::clients::token_hash(&token),
        created_ms: now_ms,
        revoked_ms: None,
    };
    Ok((token, record))
}

/// The id part of a presented token, if it has the token's shape.
pub fn token_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix("bwk_")?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some(id)
}

/// Does `presented` match `record` (constant-time hash comparison; revoked tokens never match)?
pub fn matches(record: &TokenRecord, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    if record.revoked_ms.is_some() {
        return false;
    }
    let h = hex::encode(Sha256::digest(presented.as_bytes()));
    h.as_bytes().ct_eq(record.sha256.as_bytes()).into()
}

/// A new web console session: the cookie's value (random, from the OS) and the hex SHA-256 it
/// is stored under (the cookie itself is never stored).
pub fn new_session() -> Result<(SecretString, String), TokenError> {
    crate::egress::clients::new_client_token().map_err(|e| TokenError::Random(e.to_string()))
}

/// The hex SHA-256 a session cookie is stored under.
pub fn session_id(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

/// The CSRF token of the session whose cookie is `cookie`: HMAC-SHA256 keyed by the cookie, so it
/// is never stored, and knowing it (it is in every form) tells nothing of the cookie.
pub fn csrf_token(cookie: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(cookie.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"bulwark console csrf v1");
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time equality of a presented secret (a CSRF token, a cookie) and the expected one.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    presented.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_fail_closed() {
        let scopes = Scope::parse_list("scan, intents").unwrap();
        let (token, mut rec) = new_token("agent-1", scopes.clone(), 5).unwrap();
        let t = token.expose_secret();
        assert_eq!(token_id(t), Some(rec.id.as_str()));
        assert!(matches(&rec, t));
        assert!(!matches(&rec, &format!("{t}x")));
        assert!(!matches(&rec, &t[..t.len() - 1]));
        rec.revoked_ms = Some(6);
        assert!(!matches(&rec, t));
        assert!(!format!("{rec:?}").contains(t));
        assert_eq!(token_id("bwk_zz_x"), None);
        assert_eq!(token_id("Bearer x"), None);
        assert!(Scope::parse_list("scan,root").unwrap_err().contains("root"));
        assert!(Scope::parse_list("").is_err());
        assert!(new_token("a b", scopes, 0).is_err());
    }
}
