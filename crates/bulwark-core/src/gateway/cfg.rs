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
    /// The tool calls a model proposes: `judge` (by the action policy, before the agent sees
    /// them: allowed calls pass, blocked ones become text, ones that need review are withheld
    /// until approved) or `off` (passed as the model wrote them, restored).
    pub tool_calls: ToolCallPolicy,
    /// How a proposed call of a function becomes the intent the action policy judges, by function
    /// name. A function not listed is read with the defaults of [`ToolMapping`].
    pub tools: BTreeMap<String, ToolMapping>,
    /// Budgets per agent token and model: requests, tokens and cost per minute and per day.
    pub budgets: Vec<super::budget::BudgetConfig>,
    /// What models cost, per million tokens, by model glob (the first matching glob in name
    /// order): what `cost_per_day` and the usage report count.
    pub prices: BTreeMap<String, super::budget::PriceConfig>,
    /// The reply tokens a request reserves when it names no `max_tokens`.
    pub default_max_tokens: u64,
    /// Neutralise what the model writes back: the URL of a markdown image, or of a link carrying
    /// data, to a host not named in `[egress] allow_domains`, and secrets echoed in its text.
    pub reply_guard: bool,
}

/// What happens to the tool calls a model proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolCallPolicy {
    /// Judge each call with the action policy before the agent sees it.
    Judge,
    /// Pass every call on.
    Off,
}

/// `[gateway.tools.FUNCTION]`: how a call of one function reads as an intent
/// (`tool action kind/name in namespace`, and the call's arguments as `args`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolMapping {
    /// The intent's tool. Empty: `shell` when the call has a string `command_arg`, else the
    /// function's name.
    pub tool: String,
    /// The intent's verb. Empty: the string argument `action_arg`, else `run` for a shell
    /// command, else `call`.
    pub action: String,
    /// The argument that names the verb.
    pub action_arg: String,
    /// The argument that holds a shell command line (screened word by word, as `args.command`).
    pub command_arg: String,
    /// The arguments that name the target's kind, name, namespace and cluster.
    pub kind_arg: String,
    /// See `kind_arg`.
    pub name_arg: String,
    /// See `kind_arg`: the namespace is what tiers classify.
    pub namespace_arg: String,
    /// See `kind_arg`.
    pub cluster_arg: String,
}

impl Default for ToolMapping {
    fn default() -> Self {
        ToolMapping {
            tool: String::new(),
            action: String::new(),
            action_arg: "action".into(),
            command_arg: "command".into(),
            kind_arg: "kind".into(),
            name_arg: "name".into(),
            namespace_arg: "namespace".into(),
            cluster_arg: "cluster".into(),
        }
    }
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
            tool_calls: ToolCallPolicy::Judge,
            tools: BTreeMap::new(),
            budgets: Vec::new(),
            prices: BTreeMap::new(),
            default_max_tokens: 4096,
            reply_guard: true,
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
            "gateway.default_max_tokens",
            self.default_max_tokens,
            1,
            10_000_000,
        );
        super::budget::check(&self.budgets, &self.prices, p);
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
