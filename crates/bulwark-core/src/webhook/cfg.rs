//! `[ingress]`: webhook sources and how each is verified.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[ingress]`: verified webhooks forwarded to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct IngressConfig {
    /// Seconds a signed timestamp may be from now; message ids are remembered twice as long.
    pub tolerance_secs: u64,
    /// Most message ids remembered for replay detection.
    pub replay_capacity: usize,
    /// Requests per minute per source (0: no limit).
    pub source_per_min: u32,
    /// The sources, by the name in the URL: `/v1/ingress/NAME`.
    pub sources: BTreeMap<String, IngressSourceConfig>,
}

impl Default for IngressConfig {
    fn default() -> Self {
        IngressConfig {
            tolerance_secs: 300,
            replay_capacity: 100_000,
            source_per_min: 600,
            sources: BTreeMap::new(),
        }
    }
}

/// `[ingress.sources.NAME]`: one webhook sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressSourceConfig {
    /// `standard_webhooks`, `github`, `slack`, `hmac_sha256` or `bearer`.
    pub scheme: Scheme,
    /// The environment variable holding the secret (preferred: nothing secret in the file).
    #[serde(default)]
    pub secret_env: String,
    /// The secret, when `secret_env` is empty: `vault:NAME`, `env:NAME`, `file:/PATH`, or the value
    /// itself (`bulwark config check` warns).
    #[serde(default)]
    pub secret: crate::vault::cfg::SecretRef,
    /// `hmac_sha256`: the header carrying the hex signature (`sha256=` prefix optional).
    #[serde(default)]
    pub header: String,
    /// `hmac_sha256`: a header whose timestamp is signed as `<timestamp>.<body>` (optional).
    #[serde(default)]
    pub timestamp_header: String,
    /// Client addresses allowed to send (`ADDR[/LEN]`); empty: any.
    #[serde(default)]
    pub allow_cidrs: Vec<crate::config::typed::Net>,
    /// Proxies in front of Bulwark whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<crate::config::typed::Net>,
    /// Where verified payloads go (the agent's own endpoint, http or https); empty: judged, not
    /// forwarded.
    #[serde(default, with = "crate::config::typed::http_url")]
    #[schemars(with = "String")]
    pub forward_to: Option<url::Url>,
    /// A token sent to `forward_to` as `Authorization: Bearer` (the agent's own credential):
    /// `vault:NAME`, `env:NAME` or `file:/PATH`, never the value itself. Empty: none.
    #[serde(default)]
    pub forward_token: crate::vault::cfg::SecretRef,
    /// Hold payloads back from at this verdict: `block` (default) or `review`.
    #[serde(default = "default_hold")]
    pub hold_at: crate::finding::Verdict,
    /// Allowed label values: `alertname = ["HighLatency*"]`; every `labels` object in the payload
    /// must carry each label named here with a matching value.
    #[serde(default)]
    pub labels: BTreeMap<String, Vec<String>>,
}

fn default_hold() -> crate::finding::Verdict {
    crate::finding::Verdict::Block
}

/// How a source proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Standard Webhooks v1.
    StandardWebhooks,
    /// GitHub's `X-Hub-Signature-256`.
    Github,
    /// Slack's v0 signature.
    Slack,
    /// HMAC-SHA256 of the body in a configured header.
    HmacSha256,
    /// `Authorization: Bearer <secret>`.
    Bearer,
}
