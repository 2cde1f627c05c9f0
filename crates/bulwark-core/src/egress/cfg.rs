//! `[egress]`: egress profiles and the egress proxy.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[egress]`: the egress guard (SSRF). The top-level lists are the `default` profile; named
/// profiles under `[egress.profiles.NAME]` give each agent or tool its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Turn the egress guard on or off. Off allows every URL that parses (and the proxy forwards
    /// everything): `bulwark config check` warns.
    pub enabled: bool,
    /// URL schemes allowed (`http`, `https`, `ws`, `wss`, `ftp`); every other scheme is denied.
    pub schemes: Vec<String>,
    /// Ports allowed: numbers, ranges such as `"8000-8100"`, or `"*"` for any port.
    pub ports: Vec<PortRule>,
    /// If not empty, only these host names may be fetched: exact names and `*.suffix` globs
    /// (`*.example.com` matches subdomains, not `example.com` itself). Address literals are then
    /// denied (`not_allowlisted`): give an internal service a name.
    pub allow_domains: Vec<String>,
    /// Host names never fetched, whatever they resolve to: exact names and `*.suffix` globs.
    pub deny_domains: Vec<String>,
    /// Address blocks deliberately opened although not public (an internal service you trust),
    /// optionally for one port: `"10.0.1.0/24"`, `"fd00:1::/64"`, `"10.0.0.5/32:8200"`. Cloud
    /// metadata endpoints are never opened. Where an allow and a deny entry both match, the more
    /// specific one wins; on a tie, deny.
    pub allow_cidrs: Vec<String>,
    /// Address blocks denied although public, same syntax as `allow_cidrs`.
    pub deny_cidrs: Vec<String>,
    /// Named profiles: each list a profile sets replaces the top-level one; lists it omits are
    /// inherited. The proxy picks a profile from the client's Proxy-Authorization.
    pub profiles: BTreeMap<String, EgressProfileConfig>,
    /// The egress proxy (`bulwark egress proxy`).
    pub proxy: ProxyConfig,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            enabled: true,
            schemes: vec!["http".into(), "https".into()],
            ports: vec![
                PortRule::Number(80),
                PortRule::Number(443),
                PortRule::Number(8080),
                PortRule::Number(8443),
            ],
            allow_domains: Vec::new(),
            deny_domains: Vec::new(),
            allow_cidrs: Vec::new(),
            deny_cidrs: Vec::new(),
            profiles: BTreeMap::new(),
            proxy: ProxyConfig::default(),
        }
    }
}

/// A port, a range, or any port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PortRule {
    /// One port, e.g. `443`.
    Number(u16),
    /// `"8000-8100"`, or `"*"` for any port.
    Text(String),
}

/// `[egress.profiles.NAME]`: the lists of one profile; an omitted list is inherited from `[egress]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EgressProfileConfig {
    /// Replaces `egress.schemes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schemes: Option<Vec<String>>,
    /// Replaces `egress.ports`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PortRule>>,
    /// Replaces `egress.allow_domains`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_domains: Option<Vec<String>>,
    /// Replaces `egress.deny_domains`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_domains: Option<Vec<String>>,
    /// Replaces `egress.allow_cidrs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_cidrs: Option<Vec<String>>,
    /// Replaces `egress.deny_cidrs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_cidrs: Option<Vec<String>>,
}

/// What the proxy does with plain-HTTP response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseScan {
    /// Pass bodies through untouched.
    Off,
    /// Scan textual bodies with the content guard and add `X-Bulwark-Verdict` and
    /// `X-Bulwark-Findings` headers.
    Header,
    /// As `header`, and answer 403 instead of a body whose verdict is `block`.
    Block,
}

/// `[egress.proxy]`: the forward proxy for agent tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Address and port to listen on (loopback by default).
    #[serde(deserialize_with = "crate::config::typed::socket_addr")]
    #[schemars(with = "String")]
    pub listen: std::net::SocketAddr,
    /// Most CONNECT tunnels open at once; more are answered 503.
    pub max_tunnels: usize,
    /// Largest request head (request line and headers) in bytes; larger requests are refused.
    pub max_header_bytes: usize,
    /// Seconds a client may take to send a request head, and a tunnel or connection may stay idle.
    pub idle_timeout_secs: u64,
    /// Seconds to wait for an upstream connection.
    pub connect_timeout_secs: u64,
    /// Scan plain-HTTP response bodies: `off`, `header` or `block`.
    pub scan_responses: ResponseScan,
    /// Largest body scanned; a larger body is passed with `X-Bulwark-Verdict: unscanned`
    /// (or refused under `block`).
    pub scan_max_bytes: usize,
    /// Refuse clients without valid Proxy-Authorization (407) instead of giving them the default
    /// profile.
    pub require_client_auth: bool,
    /// Wait until each decision is durable in the audit log before acting on it (a request whose
    /// decision cannot be recorded is refused). Off, decisions are recorded in the background:
    /// faster, but a crash can lose the last ones. Needs `[audit] enabled`.
    pub audit_wait: bool,
    /// Requests (and tunnels) per second per client address; past it, 429 with `Retry-After`.
    /// 0: no limit.
    pub client_per_sec: u32,
    /// Clients, by the user name they send in Proxy-Authorization (Basic): each gets a profile.
    pub clients: BTreeMap<String, ProxyClientConfig>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 3128)),
            max_tunnels: 256,
            max_header_bytes: 16 * 1024,
            idle_timeout_secs: 60,
            connect_timeout_secs: 10,
            scan_responses: ResponseScan::Off,
            scan_max_bytes: 1024 * 1024,
            require_client_auth: false,
            audit_wait: true,
            client_per_sec: 0,
            clients: BTreeMap::new(),
        }
    }
}

/// `[egress.proxy.clients.NAME]`: one proxy client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyClientConfig {
    /// The egress profile this client gets (`default` or a name under `[egress.profiles]`).
    pub profile: String,
    /// SHA-256 (hex) of the client's token, its Proxy-Authorization password. Create one with
    /// `bulwark egress client-token`; the token itself is never stored.
    pub token_sha256: String,
}
