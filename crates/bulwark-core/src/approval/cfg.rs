//! `[approval]`: who approves, for how long an approval stands, who is told.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;
use crate::vault::cfg::SecretRef;

pub use super::chat::ChatDetails;

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
    /// Approval requests posted to a Slack channel with Approve and Reject buttons.
    pub slack: SlackConfig,
    /// Approval requests posted to a Discord channel with Approve and Reject buttons.
    pub discord: DiscordConfig,
}

/// `[approval.slack]`: a Slack app posts each new approval request to `channel`, and its
/// interactivity Request URL (`/v1/interactions/slack`) takes the buttons' clicks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    /// Post and take clicks. Off by default.
    pub enabled: bool,
    /// The app's signing secret (`vault:NAME`, `env:NAME`, `file:/PATH`): every click is checked
    /// against it (Slack's v0 signature, within five minutes).
    pub signing_secret: SecretRef,
    /// The bot token (`xoxb-...`) that posts with `chat.postMessage`.
    pub bot_token: SecretRef,
    /// The channel id (`C0123ABCD`) requests are posted to; clicks are taken from it only.
    pub channel: String,
    /// The workspace id (`T0123ABCD`) the app is installed in: clicks from users of any other
    /// workspace (a Slack Connect channel shares users across organizations) are refused.
    pub team_id: String,
    /// Slack's Web API; another only to test.
    pub api_url: String,
    /// Slack user id (`U0123ABCD`) -> the Bulwark principal it approves as (the name of a token
    /// with the `approve` scope). Anyone else is refused.
    pub users: BTreeMap<String, String>,
    /// What the message shows.
    pub details: ChatDetails,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            enabled: false,
            signing_secret: SecretRef::Unset,
            bot_token: SecretRef::Unset,
            channel: String::new(),
            team_id: String::new(),
            api_url: "https://slack.com/api".into(),
            users: BTreeMap::new(),
            details: ChatDetails::None,
        }
    }
}

/// `[approval.discord]`: a Discord application's bot posts each new approval request to
/// `channel_id`, and its Interactions Endpoint URL (`/v1/interactions/discord`) takes the
/// buttons' clicks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Post and take clicks. Off by default.
    pub enabled: bool,
    /// The application's public key (64 hex digits, from its General Information page): every
    /// interaction's Ed25519 signature is checked against it.
    pub public_key: String,
    /// The bot token that posts messages.
    pub bot_token: SecretRef,
    /// The channel id requests are posted to; clicks are taken from it only.
    pub channel_id: String,
    /// The server (guild) id the channel is in; clicks from anywhere else are refused.
    pub guild_id: String,
    /// Discord's API; another only to test.
    pub api_url: String,
    /// Discord user id -> the Bulwark principal it approves as. Anyone else is refused.
    pub users: BTreeMap<String, String>,
    /// What the message shows.
    pub details: ChatDetails,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            enabled: false,
            public_key: String::new(),
            bot_token: SecretRef::Unset,
            channel_id: String::new(),
            guild_id: String::new(),
            api_url: "https://discord.com/api/v10".into(),
            users: BTreeMap::new(),
            details: ChatDetails::None,
        }
    }
}

/// Check a URL Bulwark calls out to (a chat's API, an identity provider): HTTPS, or plain HTTP
/// to loopback (a test's fake).
pub(crate) fn check_api_url(key: &str, url: &str, p: &mut Problems) {
    let ok = url::Url::parse(url).is_ok_and(|u| {
        u.scheme() == "https"
            || u.scheme() == "http"
                && u.host().is_some_and(|h| match h {
                    url::Host::Ipv4(ip) => ip.is_loopback(),
                    url::Host::Ipv6(ip) => ip.is_loopback(),
                    url::Host::Domain(d) => d == "localhost",
                })
    });
    if !ok {
        p.invalid(
            key,
            format!("{url:?}"),
            "an https:// URL (http:// only to loopback)",
        );
    }
}

/// Check the user map: ids of digits or letters, principals without spaces.
fn check_users(key: &str, users: &BTreeMap<String, String>, p: &mut Problems) {
    for (id, who) in users {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            p.invalid(
                format!("{key}.{id:?}"),
                format!("{id:?}"),
                "a platform user id (letters and digits)",
            );
        }
        if who.trim().is_empty() || who.chars().any(char::is_whitespace) {
            p.invalid(
                format!("{key}.{id}"),
                format!("{who:?}"),
                "a principal name without spaces",
            );
        }
    }
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            approvers: Vec::new(),
            roles: BTreeMap::new(),
            ttl_secs: 900,
            notify_url: SecretRef::Unset,
            slack: SlackConfig::default(),
            discord: DiscordConfig::default(),
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
        let sl = &a.slack;
        if sl.enabled {
            for (key, v) in [
                ("approval.slack.signing_secret", &sl.signing_secret),
                ("approval.slack.bot_token", &sl.bot_token),
            ] {
                if v.is_unset() {
                    p.invalid(key, "\"\"", "vault:NAME, env:NAME or file:/PATH");
                }
            }
            if sl.channel.is_empty() || !sl.channel.chars().all(|c| c.is_ascii_alphanumeric()) {
                p.invalid(
                    "approval.slack.channel",
                    format!("{:?}", sl.channel),
                    "a channel id such as C0123ABCD",
                );
            }
            if sl.team_id.is_empty() || !sl.team_id.chars().all(|c| c.is_ascii_alphanumeric()) {
                p.invalid(
                    "approval.slack.team_id",
                    format!("{:?}", sl.team_id),
                    "the workspace id such as T0123ABCD (clicks from other workspaces are refused)",
                );
            }
            check_api_url("approval.slack.api_url", &sl.api_url, p);
        }
        check_users("approval.slack.users", &sl.users, p);
        let d = &a.discord;
        if d.enabled {
            if crate::approval::chat::DiscordKey::parse(&d.public_key).is_err() {
                p.invalid(
                    "approval.discord.public_key",
                    format!("{:?}", d.public_key),
                    "the application's public key: 64 hex digits",
                );
            }
            if d.bot_token.is_unset() {
                p.invalid(
                    "approval.discord.bot_token",
                    "\"\"",
                    "vault:NAME, env:NAME or file:/PATH",
                );
            }
            if d.channel_id.is_empty() || !d.channel_id.chars().all(|c| c.is_ascii_digit()) {
                p.invalid(
                    "approval.discord.channel_id",
                    format!("{:?}", d.channel_id),
                    "a channel id (digits)",
                );
            }
            if d.guild_id.is_empty() || !d.guild_id.chars().all(|c| c.is_ascii_digit()) {
                p.invalid(
                    "approval.discord.guild_id",
                    format!("{:?}", d.guild_id),
                    "the server (guild) id (digits; clicks from elsewhere are refused)",
                );
            }
            check_api_url("approval.discord.api_url", &d.api_url, p);
        }
        check_users("approval.discord.users", &d.users, p);
    }
}
