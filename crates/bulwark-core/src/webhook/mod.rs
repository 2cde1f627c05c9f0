//! Webhook ingress: is this request really from the sender it claims, now, and for the first time?
//!
//! Threat answered: forged or replayed alert and chat webhooks that an agent would act on (an
//! "alert" that asks the SRE copilot to scale production to zero). Each source has one scheme:
//! Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`), GitHub
//! (`X-Hub-Signature-256: sha256=<hex>`), Slack (`X-Slack-Signature: v0=<hex>` over
//! `v0:<timestamp>:<body>`), a generic HMAC-SHA256 header (hex, optionally `sha256=`, with an
//! optional timestamp header), or a bearer token (what AlertManager's `http_config` sends). MACs
//! and tokens are compared in constant time; timestamps must be within the tolerance; message ids
//! are remembered for the tolerance window, so a replay is refused. Payload strings can then be
//! held to label allowlists ([`LabelPolicy`]) and scanned by the content guard.

pub mod cfg;
pub mod held;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use base64::Engine;
use globset::{Glob, GlobMatcher};
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

pub use cfg::{IngressConfig, IngressSourceConfig, Scheme};

use crate::config::problems::Problems;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A header the scheme needs is missing or malformed.
    #[error("header {0} is missing or malformed")]
    Header(String),
    /// The signature or token does not match.
    #[error("the signature does not match")]
    BadSignature,
    /// The timestamp is outside the tolerance.
    #[error("the timestamp is {skew} seconds from now: more than the {tolerance} s tolerance")]
    Stale {
        /// Seconds between the timestamp and now.
        skew: u64,
        /// The tolerance.
        tolerance: u64,
    },
    /// This message id was already accepted.
    #[error("message {0:?} was already received (replay)")]
    Replay(String),
    /// The replay cache several sidecars share could not be asked (it fails closed).
    #[error("the shared replay cache cannot be checked: {0}")]
    Unavailable(String),
}

/// What a verified request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The sender's message id, when the scheme has one.
    pub message_id: Option<String>,
    /// The signed timestamp, when the scheme has one.
    pub timestamp: Option<u64>,
}

/// One source's verifier: compiled once, shared.
pub struct WebhookVerifier {
    scheme: Scheme,
    key: SecretBox<Vec<u8>>,
    header: String,
    timestamp_header: String,
    tolerance_secs: u64,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("scheme", &self.scheme)
            .field("key", &"[REDACTED]")
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

impl WebhookVerifier {
    /// A verifier for `scheme` with `secret` (for Standard Webhooks, `whsec_<base64>` is decoded;
    /// other secrets are used as bytes). `header` names the signature header of `hmac_sha256`;
    /// `timestamp_header` (optional) the header whose value is signed as `<timestamp>.<body>`.
    pub fn new(
        scheme: Scheme,
        secret: &secrecy::SecretString,
        header: &str,
        timestamp_header: &str,
        tolerance_secs: u64,
    ) -> Result<WebhookVerifier, String> {
        let s = secret.expose_secret();
        if s.is_empty() {
            return Err("the secret is empty".into());
        }
        let key = match (scheme, s.strip_prefix("whsec_")) {
            (Scheme::StandardWebhooks, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "a whsec_ secret must be base64 after the prefix".to_string())?,
            _ => s.as_bytes().to_vec(),
        };
        if scheme == Scheme::HmacSha256 && header.is_empty() {
            return Err("scheme hmac_sha256 needs `header`".into());
        }
        Ok(WebhookVerifier {
            scheme,
            key: SecretBox::new(Box::new(key)),
            header: header.to_ascii_lowercase(),
            timestamp_header: timestamp_header.to_ascii_lowercase(),
            tolerance_secs,
        })
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        // HMAC takes keys of any length; an empty result would match no signature.
        let Ok(mut m) = <HmacSha256 as KeyInit>::new_from_slice(self.key.expose_secret()) else {
            return Vec::new();
        };
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().to_vec()
    }

    fn fresh(&self, ts: &str, name: &str, now_secs: u64) -> Result<u64, WebhookError> {
        let t: u64 = ts
            .trim()
            .parse()
            .map_err(|_| WebhookError::Header(name.to_string()))?;
        let skew = t.abs_diff(now_secs);
        if skew > self.tolerance_secs {
            return Err(WebhookError::Stale {
                skew,
                tolerance: self.tolerance_secs,
            });
        }
        Ok(t)
    }

    /// Check a request. `header` looks a header up by lowercase name.
    pub fn verify(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now_secs: u64,
    ) -> Result<Verified, WebhookError> {
        let need = |name: &str| header(name).ok_or_else(|| WebhookError::Header(name.to_string()));
        match self.scheme {
            Scheme::StandardWebhooks => {
                let id = need("webhook-id")?;
                let ts_raw = need("webhook-timestamp")?;
                let ts = self.fresh(&ts_raw, "webhook-timestamp", now_secs)?;
                let sigs = need("webhook-signature")?;
                let mac = self.mac(&[id.as_bytes(), b".", ts_raw.trim().as_bytes(), b".", body]);
                let ok = sigs.split_whitespace().any(|s| {
                    s.strip_prefix("v1,")
                        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                        .is_some_and(|sig| ct_eq(&sig, &mac))
                });
                if !ok {
                    return Err(WebhookError::BadSignature);
                }
                Ok(Verified {
                    message_id: Some(id),
                    timestamp: Some(ts),
                })
            }
            Scheme::Github => {
                let sig = need("x-hub-signature-256")?;
                let hex_sig = sig
                    .trim()
                    .strip_prefix("sha256=")
                    .ok_or_else(|| WebhookError::Header("x-hub-signature-256".into()))?;
                let sig = hex::decode(hex_sig)
                    .map_err(|_| WebhookError::Header("x-hub-signature-256".into()))?;
                if !ct_eq(&sig, &self.mac(&[body])) {
                    return Err(WebhookError::BadSignature);
                }
                Ok(Verified {
                    // `X-GitHub-Delivery` is not signed: a replay with a new delivery id would
                    // pass. The body's MAC identifies the delivery.
                    message_id: Some(hex::encode(&sig)),
                    timestamp: None,
                })
            }
            Scheme::Slack => {
                let ts_raw = need("x-slack-request-timestamp")?;
                let ts = self.fresh(&ts_raw, "x-slack-request-timestamp", now_secs)?;
                let sig = need("x-slack-signature")?;
                let sig = sig
                    .trim()
                    .strip_prefix("v0=")
                    .and_then(|h| hex::decode(h).ok())
                    .ok_or_else(|| WebhookError::Header("x-slack-signature".into()))?;
                let mac = self.mac(&[b"v0:", ts_raw.trim().as_bytes(), b":", body]);
                if !ct_eq(&sig, &mac) {
                    return Err(WebhookError::BadSignature);
                }
                Ok(Verified {
                    // Slack has no message id: the signature itself identifies a delivery.
                    message_id: Some(hex::encode(&sig)),
                    timestamp: Some(ts),
                })
            }
            Scheme::HmacSha256 => {
                let raw = need(&self.header)?;
                let hex_sig = raw.trim();
                let hex_sig = hex_sig.strip_prefix("sha256=").unwrap_or(hex_sig);
                let sig =
                    hex::decode(hex_sig).map_err(|_| WebhookError::Header(self.header.clone()))?;
                let (mac, ts) = if self.timestamp_header.is_empty() {
                    (self.mac(&[body]), None)
                } else {
                    let ts_raw = need(&self.timestamp_header)?;
                    let ts = self.fresh(&ts_raw, &self.timestamp_header, now_secs)?;
                    (self.mac(&[ts_raw.trim().as_bytes(), b".", body]), Some(ts))
                };
                if !ct_eq(&sig, &mac) {
                    return Err(WebhookError::BadSignature);
                }
                Ok(Verified {
                    message_id: ts.map(|_| hex::encode(&sig)),
                    timestamp: ts,
                })
            }
            Scheme::Bearer => {
                let auth = need("authorization")?;
                let token = auth
                    .trim()
                    .strip_prefix("Bearer ")
                    .ok_or_else(|| WebhookError::Header("authorization".into()))?;
                if !ct_eq(token.trim().as_bytes(), self.key.expose_secret()) {
                    return Err(WebhookError::BadSignature);
                }
                Ok(Verified {
                    message_id: None,
                    timestamp: None,
                })
            }
        }
    }
}

/// Ids seen (id -> when), and the order they came in (for forgetting the oldest).
type Seen = (HashMap<String, u64>, VecDeque<(u64, String)>);

/// A replay store's answer, which may need another process (a shared store) to give.
pub type Checking<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), WebhookError>> + Send + 'a>>;

/// Where the message ids of accepted webhooks are remembered: [`ReplayCache`] in this process,
/// or a store several sidecars share (Redis, in bulwark-store), so a message replayed to another
/// replica is refused too.
pub trait ReplayStore: Send + Sync {
    /// Record `id` (scoped by `source`); `Err(Replay)` if it was seen within the window,
    /// `Err(Unavailable)` if a shared store cannot say.
    fn first_time<'a>(&'a self, source: &'a str, id: &'a str, now_secs: u64) -> Checking<'a>;
    /// Forget `id` (a delivery that could not be forwarded, so the sender's retry is accepted).
    fn forget<'a>(&'a self, source: &'a str, id: &'a str) -> Checking<'a>;
}

impl ReplayStore for ReplayCache {
    fn first_time<'a>(&'a self, source: &'a str, id: &'a str, now_secs: u64) -> Checking<'a> {
        Box::pin(std::future::ready(self.check(source, id, now_secs)))
    }

    fn forget<'a>(&'a self, source: &'a str, id: &'a str) -> Checking<'a> {
        ReplayCache::forget(self, source, id);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Message ids seen within the tolerance window, bounded in size.
pub struct ReplayCache {
    inner: Mutex<Seen>,
    window_secs: u64,
    capacity: usize,
}

impl ReplayCache {
    /// Remember ids for `window_secs`, at most `capacity` of them (the oldest are forgotten
    /// first; a sender cannot replay what it cannot get past the timestamp check anyway).
    pub fn new(window_secs: u64, capacity: usize) -> ReplayCache {
        ReplayCache {
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
            window_secs,
            capacity: capacity.max(1),
        }
    }

    /// Record `id` (scoped by `source`); `Err(Replay)` if it was seen within the window.
    pub fn check(&self, source: &str, id: &str, now_secs: u64) -> Result<(), WebhookError> {
        let key = format!("{source}\u{0}{id}");
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (seen, order) = &mut *g;
        while let Some((t, k)) = order.front() {
            if now_secs.saturating_sub(*t) > self.window_secs * 2 || seen.len() >= self.capacity {
                seen.remove(k);
                order.pop_front();
            } else {
                break;
            }
        }
        if seen.contains_key(&key) {
            return Err(WebhookError::Replay(id.chars().take(80).collect()));
        }
        seen.insert(key.clone(), now_secs);
        order.push_back((now_secs, key));
        Ok(())
    }
}

impl ReplayCache {
    /// Forget `id` (a delivery that could not be forwarded, so the sender's retry is accepted).
    pub fn forget(&self, source: &str, id: &str) {
        let key = format!("{source}\u{0}{id}");
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0.remove(&key);
    }
}

/// Allowed values of payload labels: `label -> globs`. A label named here must be present
/// wherever a `labels` object appears, and match one of its globs.
pub struct LabelPolicy {
    rules: Vec<(String, Vec<GlobMatcher>)>,
}

impl LabelPolicy {
    /// Compile `labels = { alertname = ["HighLatency*"], namespace = ["payments-*"] }`.
    pub fn new(rules: &BTreeMap<String, Vec<String>>) -> Result<LabelPolicy, String> {
        let mut out = Vec::new();
        for (label, globs) in rules {
            let mut ms = Vec::new();
            for g in globs {
                ms.push(
                    Glob::new(g)
                        .map_err(|e| format!("labels.{label}: {g:?}: {}", e.kind()))?
                        .compile_matcher(),
                );
            }
            out.push((label.clone(), ms));
        }
        Ok(LabelPolicy { rules: out })
    }

    /// Is it empty?
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every violation in `payload`: (JSON path, message).
    pub fn violations(&self, payload: &serde_json::Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.rules.is_empty() {
            return out;
        }
        let mut found_labels = false;
        walk_labels(payload, "$", &mut |path, labels| {
            found_labels = true;
            for (label, globs) in &self.rules {
                match labels.get(label).and_then(|v| v.as_str()) {
                    Some(v) if globs.iter().any(|g| g.is_match(v)) => {}
                    Some(v) => out.push((
                        format!("{path}.{label}"),
                        format!("label {label} = {v:?} is not allowed"),
                    )),
                    None => out.push((
                        format!("{path}.{label}"),
                        format!("label {label} is missing"),
                    )),
                }
            }
        });
        if !found_labels {
            out.push(("$".into(), "the payload has no labels to check".into()));
        }
        out
    }
}

fn walk_labels(
    v: &serde_json::Value,
    path: &str,
    f: &mut dyn FnMut(&str, &serde_json::Map<String, serde_json::Value>),
) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{path}.{k}");
                if k == "labels"
                    && let serde_json::Value::Object(labels) = child
                {
                    f(&p, labels);
                } else {
                    walk_labels(child, &p, f);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                walk_labels(child, &format!("{path}[{i}]"), f);
            }
        }
        _ => {}
    }
}

/// Every string in a JSON value with its path, for the content guard.
pub fn strings(v: &serde_json::Value) -> Vec<(String, &str)> {
    fn go<'a>(v: &'a serde_json::Value, path: String, out: &mut Vec<(String, &'a str)>) {
        match v {
            serde_json::Value::String(s) => out.push((path, s)),
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    go(x, format!("{path}[{i}]"), out);
                }
            }
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    go(x, format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    go(v, "$".into(), &mut out);
    out
}

/// Check `[ingress]`: source names, secrets, schemes, address lists, forward URLs and label globs.
pub fn check_config(ingress: &IngressConfig, p: &mut Problems) {
    for (name, src) in &ingress.sources {
        let key = |k: &str| format!("ingress.sources.{name}.{k}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            p.invalid(
                format!("ingress.sources.{name}"),
                format!("{name:?}"),
                "a source name of letters, digits, `-` and `_` (it is the URL path segment)",
            );
        }
        if src.secret_env.is_empty() == src.secret.is_unset() {
            p.invalid(
                key("secret_env"),
                format!("{:?}", src.secret_env),
                "exactly one of secret_env (an environment variable name, preferred) or secret",
            );
        }
        if src.scheme == Scheme::HmacSha256 && src.header.is_empty() {
            p.invalid(
                key("header"),
                "\"\"",
                "the header carrying the signature, e.g. \"X-Signature\" (scheme hmac_sha256)",
            );
        }
        if src.hold_at == crate::finding::Verdict::Allow {
            p.invalid(key("hold_at"), "\"allow\"", "\"block\" or \"review\"");
        }
        if let Err(e) = LabelPolicy::new(&src.labels) {
            p.invalid(key("labels"), e, "globs such as \"HighLatency*\"");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn headers<'a>(h: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name: &str| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
    }

    fn hmac_hex(key: &[u8], parts: &[&[u8]]) -> String {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap();
        for p in parts {
            m.update(p);
        }
        hex::encode(m.finalize().into_bytes())
    }

    #[test]
    fn github_and_slack_and_bearer() {
        let body = br#"{"action":"opened"}"#;
        let gh = WebhookVerifier::new(Scheme::Github, &SecretString::from("s3cret"), "", "", 300)
            .unwrap();
        let sig = format!("sha256={}", hmac_hex(b"s3cret", &[body]));
        let h = [
            ("X-Hub-Signature-256", sig.clone()),
            ("X-GitHub-Delivery", "d-1".into()),
        ];
        // The replay key is the body's MAC, not the unsigned delivery id.
        assert_eq!(
            gh.verify(&headers(&h), body, 0)
                .unwrap()
                .message_id
                .as_deref(),
            sig.strip_prefix("sha256=")
        );
        assert_eq!(
            gh.verify(&headers(&h), b"{}", 0),
            Err(WebhookError::BadSignature)
        );
        assert!(gh.verify(&headers(&[]), body, 0).is_err());
        let slack =
            WebhookVerifier::new(Scheme::Slack, &SecretString::from("k"), "", "", 300).unwrap();
        let sig = format!("v0={}", hmac_hex(b"k", &[b"v0:1000:", body]));
        let h = [
            ("x-slack-request-timestamp", "1000".to_string()),
            ("x-slack-signature", sig),
        ];
        assert!(slack.verify(&headers(&h), body, 1100).is_ok());
        assert!(matches!(
            slack.verify(&headers(&h), body, 2000),
            Err(WebhookError::Stale { .. })
        ));
        let bearer =
            WebhookVerifier::new(Scheme::Bearer, &SecretString::from("tok"), "", "", 300).unwrap();
        assert!(
            bearer
                .verify(&headers(&[("authorization", "Bearer tok".into())]), body, 0)
                .is_ok()
        );
        assert!(
            bearer
                .verify(&headers(&[("authorization", "Bearer to".into())]), body, 0)
                .is_err()
        );
        assert!(!format!("{bearer:?}").contains("tok\""));
    }

    #[test]
    fn replay_cache_refuses_repeats_and_forgets_old_ids() {
        let c = ReplayCache::new(300, 3);
        assert!(c.check("a", "m1", 1000).is_ok());
        assert!(matches!(
            c.check("a", "m1", 1001),
            Err(WebhookError::Replay(_))
        ));
        assert!(c.check("b", "m1", 1001).is_ok(), "ids are per source");
        assert!(
            c.check("a", "m1", 2000).is_ok(),
            "forgotten after twice the window"
        );
        for i in 0..10 {
            assert!(c.check("a", &format!("x{i}"), 2001).is_ok());
        }
    }

    #[test]
    fn label_policy_checks_every_labels_object() {
        let mut rules = BTreeMap::new();
        rules.insert("alertname".to_string(), vec!["High*".to_string()]);
        rules.insert("namespace".to_string(), vec!["payments-*".to_string()]);
        let p = LabelPolicy::new(&rules).unwrap();
        let ok = serde_json::json!({"alerts": [{"labels": {"alertname": "HighLatency", "namespace": "payments-prod"}}]});
        assert!(p.violations(&ok).is_empty());
        let bad = serde_json::json!({"alerts": [{"labels": {"alertname": "HighLatency", "namespace": "kube-system"}},
                                                 {"labels": {"alertname": "Other"}}]});
        let v = p.violations(&bad);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(
            p.violations(&serde_json::json!({"text": "hi"}))[0]
                .1
                .contains("no labels")
        );
    }
}
