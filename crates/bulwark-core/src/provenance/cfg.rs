//! `[action.provenance]`: which sources are trusted, and what each provenance rule does.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a provenance rule does to a call it applies to. It only ever makes a decision stricter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleEffect {
    /// The call waits for a person's approval.
    Review,
    /// The call is refused.
    Block,
    /// The rule is not applied.
    Off,
}

/// `[action.provenance]`: decide consequential calls by where the model's context came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProvenanceConfig {
    /// Apply the provenance rules to the calls the model gateway judges.
    pub enabled: bool,
    /// Whether the user's messages are trusted (an agent that relays other people's chat
    /// messages as `user` should say `false`).
    pub trust_user: bool,
    /// Whether the system prompt (and developer messages) are trusted.
    pub trust_system: bool,
    /// Tools whose results are trusted (globs over the tool's name; an MCP server's tools are
    /// `mcp.SERVER.*`): the organisation's own data that no outsider writes. Every other tool's
    /// result is untrusted.
    pub trusted_tools: Vec<String>,
    /// Rule 1: a write or destructive call proposed while the context holds untrusted content.
    /// Applies in every mode, autonomous included.
    pub tainted_writes: RuleEffect,
    /// Rule 1 spares a write (never a destructive call) that the user directed: every value
    /// that picks what it acts on or where it goes (every argument but free text: a body,
    /// subject, message, title, ...) is in the words of one of the user's messages, in order,
    /// and nothing in it came from untrusted content (rule 3) but quotes in its free text.
    /// `false`: every tainted write waits.
    pub directed_writes: bool,
    /// Tools (globs over the name) whose calls of free text alone (a title and a body) count as
    /// directed when a user message asks for a new one ("open a ticket for the accounts team"
    /// and `create_ticket`; the tool's name must hold a verb that makes: create, open, new, file,
    /// raise, submit, add, make, draft, log), with nothing copied from untrusted content and
    /// nothing sent. Empty by default: the model's own words, written after reading untrusted
    /// content, reach what such a tool makes.
    pub asked_tools: Vec<String>,
    /// Rule 2, the "lethal trifecta": a call that sends data out while the context holds both
    /// untrusted content and secrets or personal data.
    pub trifecta: RuleEffect,
    /// Rule 3: a call that sends data out to a destination (URL, e-mail address, host, account)
    /// that appears only in untrusted content, or a write whose arguments were copied from it.
    pub attacker_chosen: RuleEffect,
    /// Whether a read may fetch a URL that untrusted content gave, as it gave it (a browsing
    /// agent following links). Off: such a request is attacker-chosen (rule 3) and waits for
    /// approval. A URL with anything appended still sends data out.
    pub follow_links: bool,
    /// Characters an argument must share with an untrusted piece (and not with trusted text) to
    /// count as copied from it.
    pub min_common: usize,
    /// Tools (globs over the name, or `tool.verb`) that send data out, in addition to the
    /// built-in list (`send*`, `post_*`, `forward*`, `email_*`, `mail_*`, `http*`, `upload*`, ...).
    /// Any call with a URL or e-mail address the context does not hold verbatim sends data too,
    /// and so does a call whose verb is in no class.
    pub senders: Vec<String>,
    /// Domains that are not "out" (a URL or address on them or a subdomain is internal).
    pub internal_domains: Vec<String>,
}

impl Default for ProvenanceConfig {
    fn default() -> Self {
        ProvenanceConfig {
            enabled: true,
            trust_user: true,
            trust_system: true,
            trusted_tools: Vec::new(),
            tainted_writes: RuleEffect::Review,
            directed_writes: true,
            asked_tools: Vec::new(),
            trifecta: RuleEffect::Block,
            attacker_chosen: RuleEffect::Review,
            follow_links: false,
            min_common: 24,
            senders: Vec::new(),
            internal_domains: Vec::new(),
        }
    }
}
