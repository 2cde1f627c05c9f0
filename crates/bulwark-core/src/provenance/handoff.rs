//! The model gateway shares its judgement of a call with the MCP gateway.
//!
//! Threat answered: an MCP gateway sees only its own server's results, not the conversation, so
//! alone it cannot tell a write the user asked for from one a page asked for. The model gateway
//! can: it saw the user's words, every tool result and the call the model proposed. When it
//! passes a call (allowed, or approved), it leaves a [`Handoff`] in the state database: the
//! call's name, the digest of its arguments, the conversation and how many untrusted pieces that
//! conversation held. The MCP gateway, about to hold a call on its own session's taint, takes the
//! matching handoff instead: the call was judged where the whole context was known, as a call of
//! at least the class the MCP gateway gives it. A handoff is taken once and lives
//! [`HANDOFF_TTL_MS`]; it carries no argument value.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::action::ActionClass;
use crate::approval::ApprovalError;

/// How long a handoff waits for the MCP call it is for (ms): an agent runs a call it was given
/// at once.
pub const HANDOFF_TTL_MS: u64 = 10 * 60 * 1000;

/// A call the model gateway passed, judged in its conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// [`args_key`] of the call's arguments.
    pub key: String,
    /// The function's name as the model called it (`mcp__fs__write_file`, `fs_write_file`).
    pub tool: String,
    /// The conversation it was proposed in.
    pub conversation: String,
    /// Untrusted pieces in that conversation's context.
    pub untrusted: usize,
    /// The class the model gateway judged it as: an MCP call of a graver class (the two
    /// gateways map the tool differently) is not covered by it.
    pub class: ActionClass,
    /// The provenance rule that sent it to approval, when one did (it was approved).
    pub rule: String,
    /// When it stops counting (ms since the epoch).
    pub expires_ms: u64,
}

/// Where handoffs live: the state database, which the sidecar and every `bulwark mcp wrap`
/// process share.
pub trait HandoffStore: Send + Sync {
    /// Leave a handoff (and drop the expired ones).
    fn put_handoff(&self, h: &Handoff) -> Result<(), ApprovalError>;
    /// Take, once, an unexpired handoff with this key for MCP tool `tool` ([`same_tool`]).
    fn take_handoff(
        &self,
        key: &str,
        tool: &str,
        now_ms: u64,
    ) -> Result<Option<Handoff>, ApprovalError>;
}

/// The key of a call's arguments: the hex SHA-256 of their canonical JSON (RFC 8785), so the
/// same arguments written with other spacing or key order match. No arguments, `null` or an empty
/// text are `{}`. `None` when the text is not JSON.
pub fn args_key(arguments: &str) -> Option<String> {
    let v: serde_json::Value = if arguments.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(arguments).ok()?
    };
    Some(value_key(&v))
}

/// [`args_key`] of arguments already read.
pub fn value_key(v: &serde_json::Value) -> String {
    let empty = serde_json::json!({});
    let v = if v.is_null() { &empty } else { v };
    let canonical = serde_jcs::to_string(v).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Whether the model's function `called` is MCP tool `tool`: the same name, or the name with a
/// client's prefix (`mcp__fs__write_file`, `fs_write_file`, `fs.write_file`, `fs-write_file`).
pub fn same_tool(called: &str, tool: &str) -> bool {
    if called == tool {
        return true;
    }
    called
        .strip_suffix(tool)
        .and_then(|prefix| prefix.chars().last())
        .is_some_and(|c| matches!(c, '_' | '.' | '-' | '/' | ':'))
        && !tool.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_arguments_in_another_order_or_spacing_match() {
        let a = args_key(r#"{"path":"a.txt","content":"x"}"#).unwrap();
        let b = args_key("{ \"content\": \"x\",\n \"path\": \"a.txt\" }").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, args_key(r#"{"path":"b.txt","content":"x"}"#).unwrap());
        assert_eq!(args_key(""), args_key("{}"));
        assert_eq!(args_key("{}").unwrap(), value_key(&serde_json::Value::Null));
        assert_eq!(args_key("{not json"), None);
    }

    #[test]
    fn a_client_prefix_names_the_same_tool_and_a_longer_name_does_not() {
        assert!(same_tool("write_file", "write_file"));
        assert!(same_tool("mcp__fs__write_file", "write_file"));
        assert!(same_tool("fs.write_file", "write_file"));
        assert!(same_tool("fs-write_file", "write_file"));
        assert!(!same_tool("rewrite_file", "write_file"));
        assert!(!same_tool("write_file_now", "write_file"));
        assert!(!same_tool("anything", ""));
    }
}
