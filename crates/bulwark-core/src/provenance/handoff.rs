//! The model gateway shares its judgement of a call with the MCP gateway.
//!
//! Threat answered: an MCP gateway sees only its own server's results, not the conversation, so
//! alone it cannot tell a write the user asked for from one a page asked for. The model gateway
//! can: it saw the user's words, every tool result and the call the model proposed. When it
//! passes a call (allowed, or approved), it leaves a [`Handoff`] in the state database: the
//! call's name, the digest of its arguments, the agent's token, the conversation and how many
//! untrusted pieces that conversation held. The MCP gateway, about to send a call to approval on
//! its own session's taint, takes the matching handoff instead ([`Wanted::covered_by`]): the same
//! arguments and tool on this server, from a token the server accepts judgements from, judged as
//! at least the class the MCP gateway gives it, in a conversation that held untrusted content (so
//! the results that taint the session were in it). A handoff never lifts a refusal, is taken once
//! and lives [`HANDOFF_TTL_MS`]; it carries no argument value.

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
    /// The name of the agent's token the call was proposed to.
    pub token: String,
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

/// What an MCP call needs of a handoff to take it.
#[derive(Debug, Clone)]
pub struct Wanted<'a> {
    /// [`args_key`] of the call's arguments.
    pub key: &'a str,
    /// The tool's name at its server.
    pub tool: &'a str,
    /// The server's name (`bulwark mcp wrap --name`).
    pub server: &'a str,
    /// The tokens whose judgements this server takes.
    pub from: &'a [String],
    /// The class the MCP gateway judged the call as.
    pub class: ActionClass,
    /// Now (ms since the epoch).
    pub now_ms: u64,
}

impl Wanted<'_> {
    /// Whether `h` covers this call: the same arguments, the same tool of this server, from a
    /// token the server takes judgements from, judged as at least this class in a conversation
    /// that held untrusted content (one that held none did not see what taints the session), and
    /// not expired.
    pub fn covered_by(&self, h: &Handoff) -> bool {
        h.key == self.key
            && same_tool(&h.tool, self.tool, self.server)
            && self.from.contains(&h.token)
            && h.class >= self.class
            && h.untrusted > 0
            && h.expires_ms > self.now_ms
    }
}

/// Where handoffs live: the state database, which the sidecar and every `bulwark mcp wrap`
/// process share.
pub trait HandoffStore: Send + Sync {
    /// Leave a handoff (and drop the expired ones, and the oldest past the store's bounds).
    fn put_handoff(&self, h: &Handoff, now_ms: u64) -> Result<(), ApprovalError>;
    /// Take, once, the oldest handoff that covers `w` ([`Wanted::covered_by`]).
    fn take_handoff(&self, w: &Wanted<'_>) -> Result<Option<Handoff>, ApprovalError>;
}

/// The key of a call's arguments: the hex SHA-256 of their JSON with keys sorted at every depth
/// and numbers as written (an integer past 2^53 stays itself), so the same arguments written
/// with other spacing or key order match. No arguments, `null` or an empty text are `{}`. `None`
/// when the text is not JSON.
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
    let canonical = crate::posture::canonical_json(v);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Whether the model's function `called` is tool `tool` of server `server`: the same name, or
/// the name with a client's prefix that names the server (`mcp__fs__write_file`,
/// `fs_write_file`, `fs.write_file`, `fs-write_file` for `write_file` of `fs`).
pub fn same_tool(called: &str, tool: &str, server: &str) -> bool {
    if tool.is_empty() {
        return false;
    }
    if called == tool {
        return true;
    }
    let Some(prefix) = called.strip_suffix(tool) else {
        return false;
    };
    let sep = |c: char| matches!(c, '_' | '.' | '-' | '/' | ':');
    let Some(prefix) = prefix.strip_suffix(sep) else {
        return false;
    };
    // The prefix ends with the server's name (after the client's own marker, if any).
    let prefix = prefix.trim_end_matches(sep).to_ascii_lowercase();
    let server = server.to_ascii_lowercase();
    !server.is_empty()
        && prefix
            .strip_suffix(&server)
            .is_some_and(|before| before.is_empty() || before.ends_with(sep))
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
        // Integers past 2^53 are not rounded into each other.
        assert_ne!(
            args_key(r#"{"id":9007199254740993}"#),
            args_key(r#"{"id":9007199254740992}"#)
        );
    }

    #[test]
    fn a_prefix_that_names_the_server_names_the_same_tool_and_no_other_does() {
        assert!(same_tool("write_file", "write_file", "fs"));
        assert!(same_tool("mcp__fs__write_file", "write_file", "fs"));
        assert!(same_tool("fs.write_file", "write_file", "fs"));
        assert!(same_tool("fs-write_file", "write_file", "fs"));
        assert!(same_tool("mcp_FS_write_file", "write_file", "fs"));
        assert!(!same_tool("mcp__other__write_file", "write_file", "fs"));
        assert!(!same_tool("x_write_file", "write_file", "fs"));
        assert!(!same_tool("rewrite_file", "write_file", "fs"));
        assert!(!same_tool("write_file_now", "write_file", "fs"));
        assert!(!same_tool("dry-run", "run", "fs"));
        assert!(same_tool("mcp__my-fs__write_file", "write_file", "my-fs"));
        assert!(!same_tool(
            "mcp__notmy-fs__write_file",
            "write_file",
            "my-fs"
        ));
        assert!(!same_tool("anything", "", "fs"));
    }

    fn handoff() -> Handoff {
        Handoff {
            key: "k".into(),
            tool: "mcp__fs__write_file".into(),
            token: "agent".into(),
            conversation: "c".into(),
            untrusted: 1,
            class: ActionClass::Write,
            rule: String::new(),
            expires_ms: 2_000,
        }
    }

    #[test]
    fn a_handoff_covers_only_its_own_call_from_an_accepted_token() {
        let from = vec!["agent".to_string()];
        let w = Wanted {
            key: "k",
            tool: "write_file",
            server: "fs",
            from: &from,
            class: ActionClass::Write,
            now_ms: 1_000,
        };
        assert!(w.covered_by(&handoff()));
        assert!(
            !Wanted {
                from: &[],
                ..w.clone()
            }
            .covered_by(&handoff())
        );
        assert!(
            !Wanted {
                key: "other",
                ..w.clone()
            }
            .covered_by(&handoff())
        );
        assert!(
            !Wanted {
                server: "web",
                ..w.clone()
            }
            .covered_by(&handoff())
        );
        assert!(
            !Wanted {
                class: ActionClass::Destructive,
                ..w.clone()
            }
            .covered_by(&handoff())
        );
        assert!(
            !Wanted {
                now_ms: 2_000,
                ..w.clone()
            }
            .covered_by(&handoff())
        );
        // A conversation that held nothing untrusted did not see what taints the session.
        let blind = Handoff {
            untrusted: 0,
            ..handoff()
        };
        assert!(!w.covered_by(&blind));
    }
}
