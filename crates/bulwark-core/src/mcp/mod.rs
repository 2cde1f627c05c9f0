//! The MCP gateway's decisions: servers' definitions pinned and compared, their texts scanned,
//! their tool calls judged, one session at a time.
//!
//! Threat answered: an MCP server is a separate trust boundary. It can change its tool
//! descriptions after it was approved (a rug pull), hide instructions to the model in a
//! description, or return injected text; and the model can call its tools with side effects.
//! Bulwark sits between the client and the server: `bulwark mcp wrap` for stdio. The protocol
//! shapes are read here; the transports (pipes, HTTP) live in the CLI and the server.

pub mod cfg;
pub mod content;
pub mod pins;
pub mod session;

pub use cfg::{McpConfig, McpServerConfig};
pub use pins::{Change, ChangeKind, Definitions, ItemKind, PendingPin, PinStore, ServerPin};
pub use session::{Env, Out, ServerIdentity, Session};
