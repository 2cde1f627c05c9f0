//! Bulwark's guards: pure decision logic for the trust boundaries of an AI agent.
//!
//! Core decides, edges act: nothing in this crate opens a socket, a database or (outside
//! configuration loading) a file. See `ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod action;
pub mod approval;
pub mod audit;
pub mod auth;
pub mod config;
pub mod egress;
pub mod finding;
pub mod gateway;
pub mod json;
pub mod mcp;
pub mod policy;
pub mod posture;
pub mod provenance;
pub mod ratelimit;
pub mod scan;
pub mod vault;
pub mod webhook;

pub use config::{ConfigError, ConfigSource, SecurityConfig};
pub use finding::{Finding, FindingKind, LineColumn, Location, Severity, Span, Verdict};
pub use policy::{Policy, PolicyError};
pub use scan::{Assessment, Detectors, Redactor, Scanner};
