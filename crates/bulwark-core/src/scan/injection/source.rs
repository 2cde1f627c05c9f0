//! [`Source`]: where a text came from, which sets how strictly it is judged.

/// The name of the source of MCP tool descriptions.
const TOOL_DESCRIPTION: &str = "mcp_tool_description";

/// Where a text came from. Names are lowercase words (`user`, `web`, `email`, `tool_output`,
/// `alert`, `mcp_tool_description`, `document`, ...); whether a source is trusted is configuration
/// (`scan.injection.trusted_sources`), and a name not listed there is untrusted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source(pub(super) String);

impl Source {
    /// Sources with a documented meaning. Others are accepted (and untrusted).
    pub const KNOWN: &'static [&'static str] = &[
        "user",
        "web",
        "email",
        "tool_output",
        "alert",
        TOOL_DESCRIPTION,
        "document",
        "code",
        "chat",
        "other",
    ];

    /// Parse a source name: 1 to 40 characters of `a-z`, `0-9`, `_`, `-`, `.`.
    pub fn parse(name: &str) -> Result<Source, String> {
        let ok = !name.is_empty()
            && name.len() <= 40
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
        if ok {
            Ok(Source(name.to_string()))
        } else {
            Err(format!(
                "a source name of 1 to 40 lowercase letters, digits, '_', '-' or '.', such as {}",
                Source::KNOWN.join(", ")
            ))
        }
    }

    /// The `other` source: untrusted, for text of unknown origin.
    pub fn other() -> Source {
        Source("other".into())
    }

    /// The `user` source: the agent's own operator.
    pub fn user() -> Source {
        Source("user".into())
    }

    /// The `mcp_tool_description` source: a tool server's description of its tools, addressed to
    /// the model by design.
    pub fn tool_description() -> Source {
        Source(TOOL_DESCRIPTION.into())
    }

    /// Whether this is [`Source::tool_description`].
    pub fn is_tool_description(&self) -> bool {
        self.0 == TOOL_DESCRIPTION
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
