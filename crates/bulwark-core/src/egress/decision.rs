//! What the egress guard answers: allow or deny, a stable reason, the pinned addresses; and the
//! resolver that answers names from a fixed table (`--resolve`).

use super::*;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The connection may be made, to the pinned addresses only.
    Allow,
    /// The connection must not be made.
    Deny,
}

impl Decision {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }

    /// The shared verdict: allow or block.
    pub fn verdict(self) -> crate::Verdict {
        match self {
            Decision::Allow => crate::Verdict::Allow,
            Decision::Deny => crate::Verdict::Block,
        }
    }
}

/// Why: a stable code for scripts and dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Allowed: every address is globally reachable.
    PublicAddress,
    /// Allowed: an operator's `allow_cidrs` entry opens the address.
    AllowCidr,
    /// Allowed: the egress guard is turned off (`[egress] enabled = false`).
    GuardDisabled,
    /// The URL does not parse, or has no host.
    InvalidUrl,
    /// The scheme is not in `schemes`.
    SchemeNotAllowed,
    /// The port is not in `ports`.
    PortNotAllowed,
    /// The host matches `deny_domains`.
    DomainDenied,
    /// `allow_domains` is set and the host is not in it.
    NotAllowlisted,
    /// A loopback, private, link-local, reserved or other non-global address (or `localhost`).
    PrivateAddress,
    /// A cloud metadata endpoint, by address or by name.
    MetadataEndpoint,
    /// IPv4 inside IPv6 (mapped, NAT64, 6to4, Teredo, ...) carrying a forbidden address.
    EmbeddedAddress,
    /// The address is in the operator's `deny_cidrs`.
    DeniedCidr,
    /// The name did not resolve (or resolved to nothing).
    Unresolvable,
    /// The name resolved to allowed and forbidden addresses: a DNS-rebinding signal.
    MixedAnswers,
    /// The destination is the proxy itself.
    SelfConnection,
}

impl Reason {
    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PublicAddress => "public_address",
            Reason::AllowCidr => "allow_cidr",
            Reason::GuardDisabled => "guard_disabled",
            Reason::InvalidUrl => "invalid_url",
            Reason::SchemeNotAllowed => "scheme_not_allowed",
            Reason::PortNotAllowed => "port_not_allowed",
            Reason::DomainDenied => "domain_denied",
            Reason::NotAllowlisted => "not_allowlisted",
            Reason::PrivateAddress => "private_address",
            Reason::MetadataEndpoint => "metadata_endpoint",
            Reason::EmbeddedAddress => "embedded_address",
            Reason::DeniedCidr => "denied_cidr",
            Reason::Unresolvable => "unresolvable",
            Reason::MixedAnswers => "mixed_answers",
            Reason::SelfConnection => "self_connection",
        }
    }
}

/// The guard's answer about one URL.
///
/// Guarantees: `decision` is `allow` only if every address in `addresses` passed; the caller must
/// connect to those addresses and no others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressDecision {
    /// Allow or deny.
    pub decision: Decision,
    /// A stable code.
    pub reason: Reason,
    /// A sentence for a human: what was judged and why.
    pub message: String,
    /// The URL as a client would serialize it (absent when it does not parse).
    pub url: Option<String>,
    /// The host the request would connect to: lowercased, IDNA-encoded, trailing dots removed,
    /// IPv4 in dotted-decimal, IPv6 in brackets.
    pub host: Option<String>,
    /// The port, explicit or the scheme's default.
    pub port: Option<u16>,
    /// The addresses the connection may use (pinning); empty on denial.
    pub addresses: Vec<IpAddr>,
    /// The policy profile that decided (`default` for the top-level `[egress]` lists).
    pub profile: String,
}

impl EgressDecision {
    /// Whether the connection may be made.
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allow
    }
}

/// Why a name did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ResolveError(pub String);

/// Static answers, like curl's `--resolve HOST:PORT:ADDR[,ADDR...]`: no DNS at all; a name that
/// is not listed does not resolve.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    pub(super) entries: Vec<(String, Option<u16>, Vec<IpAddr>)>,
}

impl StaticResolver {
    /// An empty resolver: nothing resolves.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the answers for `host` (any port when `port` is `None`).
    pub fn insert(&mut self, host: &str, port: Option<u16>, addrs: Vec<IpAddr>) {
        self.entries
            .push((normalize_name(&host.to_ascii_lowercase()), port, addrs));
    }

    /// Parse and add one `HOST:PORT:ADDR[,ADDR...]` entry (`PORT` may be `*`; IPv6 addresses may be
    /// bracketed). The host is matched in canonical form: lowercased, IDNA-encoded.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), String> {
        let expected = "HOST:PORT:ADDR[,ADDR...] (e.g. example.com:443:93.184.215.14)";
        let (host, rest) = entry
            .split_once(':')
            .ok_or_else(|| format!("--resolve {entry:?}: expected {expected}"))?;
        let (port, addrs) = rest
            .split_once(':')
            .ok_or_else(|| format!("--resolve {entry:?}: expected {expected}"))?;
        let port = match port {
            "*" => None,
            p => Some(p.parse::<u16>().map_err(|_| {
                format!("--resolve {entry:?}: port {p:?} is not a number from 0 to 65535 or `*`")
            })?),
        };
        let host = match Host::parse(host) {
            Ok(Host::Domain(d)) => d,
            Ok(other) => other.to_string(),
            Err(e) => return Err(format!("--resolve {entry:?}: host {host:?}: {e}")),
        };
        let mut list = Vec::new();
        for a in addrs.split(',') {
            let a = a.trim();
            let bare = a
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(a);
            let ip = bare.parse::<IpAddr>().map_err(|_| {
                format!("--resolve {entry:?}: {a:?} is not an IPv4 or IPv6 address")
            })?;
            list.push(ip);
        }
        self.insert(&host, port, list);
        Ok(())
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, ResolveError> {
        self.entries
            .iter()
            .find(|(h, p, _)| h == host && p.is_none_or(|p| p == port))
            .map(|(_, _, a)| a.clone())
            .ok_or_else(|| ResolveError(format!("{host}:{port} is not in the --resolve list")))
    }
}
