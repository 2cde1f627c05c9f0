//! Persistence behind the core's traits. The guards in `bulwark-core` decide; this crate keeps
//! what must outlive a process: the audit log's segment files, checkpoints and keys, and the
//! state database (approvals, settings); and, for several sidecars, the limits and replay
//! protection they share in Redis.
//!
//! Files holding secrets are created 0600 in directories created 0700; writes that replace a file
//! go through a temporary file, fsync and rename, so a crash leaves the old or the new file, never
//! half of one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod audit_file;
pub mod audit_open;
pub mod audit_pg;
pub mod audit_relay;
pub mod audit_sqlite;
pub mod budget_pg;
pub mod fs;
pub mod keychain;
pub mod keys;
mod postgres;
pub mod redis_store;
mod sqlite;
pub mod state_db;
pub mod vault_file;

pub use audit_file::{AuditLog, FileLogOptions, StoreError};
