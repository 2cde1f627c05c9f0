//! `Policy`: what a configuration compiles to for the guards that decide, as one value.
//!
//! A process compiles it once per configuration, shares it read-only (behind an `Arc`), and puts a
//! new one in force whole (the sidecar swaps it atomically on SIGHUP). A request or a command
//! that loads it decides everything with that one value, so a reload in the middle of a request
//! cannot mix two configurations. The sidecar's API and its egress proxy take their guards from
//! the same `Policy`.

use std::path::Path;

use crate::SecurityConfig;
use crate::action::{ActionEnv, ActionPolicy, workspace_root};
use crate::egress::EgressGuard;
use crate::provenance::ProvenancePolicy;
use crate::scan::{Redactor, Scanner};

/// The compiled guards of one configuration, with the configuration they came from.
#[derive(Debug)]
pub struct Policy {
    /// The configuration, as loaded and checked.
    pub cfg: SecurityConfig,
    /// The content guard (`[scan]`).
    pub scanner: Scanner,
    /// Redaction (`[redact]`), over the same scanner.
    pub redactor: Redactor,
    /// The egress guard (`[egress]`).
    pub egress: EgressGuard,
    /// The action guard (`[action]`).
    pub action: ActionPolicy,
    /// The provenance rules over the calls a model proposes (`[action.provenance]`).
    pub provenance: ProvenancePolicy,
}

/// A configuration that does not compile: what and where, for a person.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl Policy {
    /// Compile `cfg`. `home` is Bulwark's home (the default workspace lives there); `lookup`
    /// reads environment variables and vault references the redactor's pseudonym key may name.
    pub fn compile(
        cfg: SecurityConfig,
        home: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Policy, PolicyError> {
        let scanner = Scanner::new(&cfg.scan).map_err(|e| PolicyError(e.to_string()))?;
        let redactor = Redactor::new(scanner.clone(), &cfg.redact, lookup)
            .map_err(|e| PolicyError(e.to_string()))?;
        let egress = EgressGuard::from_config(&cfg.egress).map_err(|e| {
            PolicyError(format!(
                "`{}` = {}: expected {}",
                e.key, e.value, e.expected
            ))
        })?;
        let action = ActionPolicy::from_config(
            &cfg.action,
            &ActionEnv {
                workspace_root: workspace_root(&cfg.action, home),
                home: lookup("HOME").filter(|h| !h.is_empty()).map(Into::into),
            },
        )
        .map_err(|e| PolicyError(e.to_string()))?;
        let provenance = ProvenancePolicy::new(&cfg.action.provenance)
            .map_err(|e| PolicyError(e.to_string()))?;
        Ok(Policy {
            cfg,
            scanner,
            redactor,
            egress,
            action,
            provenance,
        })
    }
}
