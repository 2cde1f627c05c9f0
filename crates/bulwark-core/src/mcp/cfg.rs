//! `[mcp]`: the MCP gateway's settings.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;
use crate::gateway::cfg::{ToolMapping, ToolResultPolicy};

/// `[mcp]`: MCP servers wrapped by Bulwark (`bulwark mcp wrap`): their definitions pinned, their
/// descriptions and results scanned, their tool calls judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// What to do with a tool result, prompt or resource the injection detector blocks: `block`
    /// (the client gets a JSON-RPC error instead), `annotate` (it passes, after a note that it is
    /// untrusted data) or `off`.
    pub results: ToolResultPolicy,
    /// Replace secrets and personal data in results, prompts and resources (per `[redact]`)
    /// before the client (and its model) reads them.
    pub redact_results: bool,
    /// Largest JSON-RPC message read either way, in bytes; a larger one is refused.
    pub max_message_bytes: usize,
    /// Most client requests awaiting the server's answer; past it new requests are refused.
    pub max_pending: usize,
    /// Over HTTP, where no `list_changed` reaches Bulwark between requests: how many seconds what
    /// a server lists is trusted before a call of one of its tools or prompts; older, Bulwark
    /// lists again first (0: before every call).
    pub http_recheck_secs: u64,
    /// Apply `[action.provenance]` within a session: once a result of a server whose tools
    /// (`mcp.SERVER.*`) `trusted_tools` does not name reached the client, a write or destructive
    /// call waits for approval, and a destination or long copy from a result is the result's
    /// choice. A call the model gateway passed in its conversation (it saw the user's words), to
    /// a token in the server's `handoffs_from`, is judged by that conversation instead.
    pub provenance: bool,
    /// Per server, by the name given to `bulwark mcp wrap --name`.
    pub servers: BTreeMap<String, McpServerConfig>,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            results: ToolResultPolicy::Block,
            redact_results: true,
            max_message_bytes: 16 * 1024 * 1024,
            max_pending: 1024,
            http_recheck_secs: 10,
            provenance: true,
            servers: BTreeMap::new(),
        }
    }
}

/// `[mcp.servers.NAME]`: one MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct McpServerConfig {
    /// The server's Streamable HTTP endpoint (`https://mcp.example.com/mcp`): the sidecar serves
    /// it at `/mcp/NAME`. Empty: a stdio server (`bulwark mcp wrap`) only.
    #[serde(with = "crate::config::typed::http_url")]
    #[schemars(with = "String")]
    pub url: Option<url::Url>,
    /// Sent to `url` as `Authorization: Bearer` (`vault:NAME`, `env:NAME` or `file:/PATH`); the
    /// client's own credential to Bulwark never reaches the server.
    pub api_key: crate::vault::cfg::SecretRef,
    /// Trust the server's own annotations (`readOnlyHint`, `destructiveHint`) to classify its
    /// tools, where `tools` does not. An untrusted server's annotations are pinned but never
    /// read: its calls are `call`, which the action policy treats as destructive.
    pub trusted: bool,
    /// Names of agents' tokens (`bulwark token create --name`) whose model-gateway judgements
    /// this server takes ([`crate::provenance::handoff`]): a call the model gateway passed to one
    /// of them, in a conversation that held untrusted content, does not wait again on this
    /// session's provenance rules. Over HTTP the client's own token is taken too.
    pub handoffs_from: Vec<String>,
    /// How a call of one tool reads as an intent (the same keys as `[gateway.tools.NAME]`):
    /// `action = "read"` classifies it; `namespace_arg` names the argument tiers judge.
    pub tools: BTreeMap<String, ToolMapping>,
}

/// Whether `name` can name a server: 1 to 64 of `a-z`, `0-9`, `_` and `-` (it is part of the
/// intent's tool, `mcp.NAME.TOOL`, and of the pin's key).
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
}

/// What a server name must be, for messages.
pub const SERVER_NAME_RULE: &str = "1 to 64 lowercase letters, digits, '_' or '-'";

impl McpConfig {
    /// Check the values serde cannot.
    pub fn check(&self, p: &mut Problems) {
        if !(1024..=1024 * 1024 * 1024).contains(&self.max_message_bytes) {
            p.invalid(
                "mcp.max_message_bytes",
                self.max_message_bytes.to_string(),
                "a number of bytes from 1024 to 1073741824 (default 16777216)",
            );
        }
        if !(1..=65_536).contains(&self.max_pending) {
            p.invalid(
                "mcp.max_pending",
                self.max_pending.to_string(),
                "a number from 1 to 65536 (default 1024)",
            );
        }
        if self.http_recheck_secs > 86_400 {
            p.invalid(
                "mcp.http_recheck_secs",
                self.http_recheck_secs.to_string(),
                "a number of seconds from 0 to 86400 (default 10)",
            );
        }
        for name in self.servers.keys() {
            if !valid_server_name(name) {
                p.invalid(
                    format!("mcp.servers.{name}"),
                    format!("{name:?}"),
                    format!("a server name of {SERVER_NAME_RULE}"),
                );
            }
        }
    }

    /// The settings of server `name` (the defaults when it has none).
    pub fn server(&self, name: &str) -> McpServerConfig {
        self.servers.get(name).cloned().unwrap_or_default()
    }
}
