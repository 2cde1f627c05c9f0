//! `[gateway]`: the model gateway's settings.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;
use crate::vault::cfg::SecretRef;

/// `[gateway]`: Bulwark as the agent's model provider (`POST /v1/chat/completions`,
/// `POST /v1/messages`, `GET /v1/models`), in front of the real one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Serve the gateway's routes on the sidecar (tokens need the `gateway` scope).
    pub enabled: bool,
    /// Where requests go, by name: each with its URL, its API and its key.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// The request header an agent may send to name its conversation (placeholders are kept per
    /// conversation); without it, a conversation is named by its first messages.
    pub conversation_header: String,
    /// Conversations whose placeholders are kept at once; past it the least recently used is
    /// forgotten.
    pub max_conversations: usize,
    /// Seconds a conversation's placeholders are kept after its last request.
    pub conversation_idle_secs: u64,
    /// Distinct values one conversation maps; past it, new values are redacted one-way.
    pub values_per_conversation: usize,
    /// Bytes of values one conversation keeps; past it, new values are redacted one-way.
    pub conversation_max_bytes: usize,
    /// Bytes of values all conversations keep together; past it the least recently used are
    /// forgotten.
    pub conversations_max_bytes: usize,
    /// What to do with a tool result the injection detector blocks: `block` (answer the agent
    /// with an error, nothing goes upstream), `annotate` (send it, marked as untrusted data) or
    /// `off`.
    pub tool_results: ToolResultPolicy,
    /// The injection source of each tool's results (`web`, `email`, `alert`, ...; how strictly
    /// they are judged). A tool not listed is `tool_output`, untrusted.
    pub tool_sources: BTreeMap<String, String>,
    /// Seconds an upstream has to answer: to send the whole reply, or, in a stream, between two
    /// events.
    pub timeout_secs: u64,
    /// Largest reply read whole from an upstream (streams are not bounded in total).
    pub max_reply_bytes: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            enabled: false,
            upstreams: BTreeMap::new(),
            conversation_header: "x-bulwark-conversation".into(),
            max_conversations: 10_000,
            conversation_idle_secs: 86_400,
            values_per_conversation: 10_000,
            conversation_max_bytes: 1024 * 1024,
            conversations_max_bytes: 256 * 1024 * 1024,
            tool_results: ToolResultPolicy::Block,
            tool_sources: BTreeMap::new(),
            timeout_secs: 300,
            max_reply_bytes: 32 * 1024 * 1024,
        }
    }
}

/// What happens to a tool result that carries prompt injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolResultPolicy {
    /// Refuse the request with an error the agent's SDK raises.
    Block,
    /// Send it upstream with a note before it that it is untrusted data, not instructions.
    Annotate,
    /// Judge and record only.
    Off,
}

/// The wire protocol an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamApi {
    /// OpenAI's Chat Completions (`/chat/completions`), as OpenAI and the many providers and
    /// local servers compatible with it speak it.
    Openai,
    /// Anthropic's Messages (`/messages`).
    Anthropic,
}

/// `[gateway.upstreams.NAME]`: one model provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// The API's base URL, as the provider's SDK takes it: `https://api.openai.com/v1`.
    #[serde(
        deserialize_with = "crate::config::typed::base_url",
        serialize_with = "crate::config::typed::url_text"
    )]
    #[schemars(with = "String")]
    pub url: url::Url,
    /// The protocol: `openai` (Chat Completions) or `anthropic` (Messages).
    #[serde(default = "default_api")]
    pub api: UpstreamApi,
    /// The provider key (sent as `Authorization: Bearer`, or `x-api-key` to Anthropic):
    /// `vault:NAME`, `env:NAME` or `file:/PATH`. Empty: the agent's own `Authorization` is not passed on either, unless
    /// `pass_through_key`.
    #[serde(default)]
    pub api_key: SecretRef,
    /// Send the agent's own provider key (`X-Bulwark-Upstream-Key`) upstream instead of one
    /// held here. Off: agents never need a provider key.
    #[serde(default)]
    pub pass_through_key: bool,
    /// The models this upstream serves (globs: `gpt-4o*`); empty: every model. The first
    /// upstream (by name) whose list matches a request's `model` gets it.
    #[serde(default)]
    pub models: Vec<String>,
}

fn default_api() -> UpstreamApi {
    UpstreamApi::Openai
}

impl GatewayConfig {
    /// Check what serde cannot: URLs, globs, sources, ranges.
    pub fn check(&self, p: &mut Problems) {
        if self.enabled && self.upstreams.is_empty() {
            p.invalid(
                "gateway.upstreams",
                "{}",
                "at least one upstream when the gateway is enabled: [gateway.upstreams.NAME] url = \"https://api.openai.com/v1\"",
            );
        }
        for (name, u) in &self.upstreams {
            let key = |f: &str| format!("gateway.upstreams.{name}.{f}");
            for (i, g) in u.models.iter().enumerate() {
                if globset::Glob::new(g).is_err() {
                    p.invalid(
                        format!("{}[{i}]", key("models")),
                        format!("{g:?}"),
                        "a model name or glob such as \"gpt-4o*\"",
                    );
                }
            }
            if u.pass_through_key && !u.api_key.is_unset() {
                p.invalid(
                    key("pass_through_key"),
                    "true",
                    "false when api_key is set (one key or the other)",
                );
            }
        }
        for (tool, src) in &self.tool_sources {
            if let Err(e) = crate::scan::injection::Source::parse(src) {
                p.invalid(
                    format!("gateway.tool_sources.{tool}"),
                    format!("{src:?}"),
                    e,
                );
            }
        }
        if self.conversation_header.is_empty()
            || !self
                .conversation_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            p.invalid(
                "gateway.conversation_header",
                format!("{:?}", self.conversation_header),
                "a header name of letters, digits and `-`",
            );
        }
        p.range(
            "gateway.max_conversations",
            self.max_conversations as u64,
            1,
            10_000_000,
        );
        p.range(
            "gateway.values_per_conversation",
            self.values_per_conversation as u64,
            1,
            10_000_000,
        );
        p.range(
            "gateway.conversation_idle_secs",
            self.conversation_idle_secs,
            1,
            30 * 86_400,
        );
        p.range("gateway.timeout_secs", self.timeout_secs, 1, 3_600);
        p.range(
            "gateway.conversation_max_bytes",
            self.conversation_max_bytes as u64,
            1024,
            1 << 30,
        );
        p.range(
            "gateway.conversations_max_bytes",
            self.conversations_max_bytes as u64,
            1024 * 1024,
            1 << 36,
        );
        p.range(
            "gateway.max_reply_bytes",
            self.max_reply_bytes as u64,
            1024,
            1 << 30,
        );
    }
}

/// An upstream's `models` globs, compiled: which models it serves (every model when empty).
#[derive(Debug, Clone)]
pub struct ModelMatcher {
    any: bool,
    globs: globset::GlobSet,
}

impl ModelMatcher {
    /// Compile `models`; the error names the glob that does not compile.
    pub fn new(models: &[String]) -> Result<ModelMatcher, String> {
        let mut b = globset::GlobSetBuilder::new();
        for g in models {
            b.add(globset::Glob::new(g).map_err(|e| format!("{g:?}: {e}"))?);
        }
        Ok(ModelMatcher {
            any: models.is_empty(),
            globs: b.build().map_err(|e| e.to_string())?,
        })
    }

    /// Whether `model` is served.
    pub fn matches(&self, model: &str) -> bool {
        self.any || self.globs.is_match(model)
    }
}
