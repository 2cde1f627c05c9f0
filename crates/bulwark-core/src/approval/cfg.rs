//! `[approval]`: who approves, for how long an approval stands, who is told.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;
use crate::vault::cfg::SecretRef;

/// `[approval]`: who approves, for how long an approval stands, where it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// Who may approve: principals (`alice`) or roles (`role:sre`). Nobody by default.
    pub approvers: Vec<String>,
    /// Roles: name -> principals.
    pub roles: BTreeMap<String, Vec<String>>,
    /// Seconds a pending approval stands before it expires (approved or not).
    pub ttl_secs: u64,
    /// Webhook told of each new pending approval (a Slack- and Discord-compatible JSON body with
    /// the summary only, never argument values). Empty: none. A chat webhook URL is a credential:
    /// `vault:NAME`, `env:NAME` or `file:/PATH` keep it out of the file.
    pub notify_url: SecretRef,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            approvers: Vec::new(),
            roles: BTreeMap::new(),
            ttl_secs: 900,
            notify_url: SecretRef::Unset,
        }
    }
}

impl ApprovalConfig {
    /// Check the values serde cannot: the TTL range, approver names and roles, the notify URL.
    pub fn check(&self, p: &mut Problems) {
        let a = self;
        if !(60..=7 * 86_400).contains(&a.ttl_secs) {
            p.invalid(
                "approval.ttl_secs",
                a.ttl_secs.to_string(),
                "a number of seconds from 60 to 604800 (default 900)",
            );
        }
        for (i, who) in a.approvers.iter().enumerate() {
            let key = format!("approval.approvers[{i}]");
            match who.strip_prefix("role:") {
                Some(role) if !a.roles.contains_key(role) => {
                    p.invalid(
                        &key,
                        format!("{who:?}"),
                        format!("a role defined under [approval.roles] (defined: {})", {
                            let names: Vec<&str> = a.roles.keys().map(String::as_str).collect();
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        }),
                    );
                }
                _ if who.trim().is_empty() || who.chars().any(char::is_whitespace) => {
                    p.invalid(
                        &key,
                        format!("{who:?}"),
                        "a principal name without spaces, or role:NAME",
                    );
                }
                _ => {}
            }
        }
        if let SecretRef::Literal(url) = &a.notify_url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => {}
                _ => {
                    // A webhook URL often holds its own credential: it is not shown.
                    p.invalid_secret(
                        "approval.notify_url",
                        "a value that is not an http(s) URL",
                        "an http(s) webhook URL, vault:NAME, env:NAME, file:/PATH, or empty for no notifications",
                    );
                }
            }
        }
    }
}
