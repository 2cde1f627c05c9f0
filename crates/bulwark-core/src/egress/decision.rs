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

/// Why: a stable code for scripts and dashboards, whichever the answer was.
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

/// Why a connection may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllowReason {
    /// Every address is globally reachable.
    PublicAddress,
    /// An operator's `allow_cidrs` entry opens the address.
    AllowCidr,
    /// The egress guard is turned off.
    GuardDisabled,
}

impl From<AllowReason> for Reason {
    fn from(r: AllowReason) -> Reason {
        match r {
            AllowReason::PublicAddress => Reason::PublicAddress,
            AllowReason::AllowCidr => Reason::AllowCidr,
            AllowReason::GuardDisabled => Reason::GuardDisabled,
        }
    }
}

/// Why a connection must not be made: every [`Reason`] that is not an allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DenyReason(Reason);

impl DenyReason {
    /// The URL does not parse, or has no host.
    pub const INVALID_URL: DenyReason = DenyReason(Reason::InvalidUrl);

    /// A deny reason from its code; `None` for the codes that allow.
    pub const fn new(r: Reason) -> Option<DenyReason> {
        match r {
            Reason::PublicAddress | Reason::AllowCidr | Reason::GuardDisabled => None,
            r => Some(DenyReason(r)),
        }
    }

    /// The code.
    pub fn reason(self) -> Reason {
        self.0
    }
}

/// Where a judged URL would connect, as a client would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub(super) url: String,
    pub(super) scheme: String,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) origin_form: String,
    pub(super) host_header: String,
}

impl Target {
    /// The URL as a client would serialize it (the `host:port` asked for, for a CONNECT).
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The scheme (`https` for a CONNECT).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }
    /// The host: lowercased, IDNA-encoded, trailing dots removed, IPv4 in dotted-decimal, IPv6 in
    /// brackets.
    pub fn host(&self) -> &str {
        &self.host
    }
    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// The request target in origin form: path and query (`/a?b`), never the fragment.
    pub fn origin_form(&self) -> &str {
        &self.origin_form
    }
    /// The `Host` header a forwarded request carries: the host, and the port unless it is the
    /// scheme's default.
    pub fn host_header(&self) -> &str {
        &self.host_header
    }
}

/// Allow, with the addresses the connection may use, or deny, with why. An allowance always has a
/// target and at least one address; a denial never has addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The connection may be made, to the pinned addresses only.
    Allow {
        /// Why.
        reason: AllowReason,
        /// Where, as judged.
        target: Target,
        /// The addresses the connection may use (pinning): at least one.
        addresses: Vec<IpAddr>,
    },
    /// The connection must not be made.
    Deny {
        /// Why.
        reason: DenyReason,
        /// Where, when the URL parsed far enough to say.
        target: Option<Target>,
    },
}

/// The guard's answer about one URL. Built only by the guard.
///
/// In JSON: `decision`, `reason`, `message`, `url`, `host`, `port`, `addresses` (empty on denial)
/// and `profile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressDecision {
    pub(super) outcome: Outcome,
    pub(super) message: String,
    pub(super) profile: String,
}

impl EgressDecision {
    /// Allow or deny, and what each carries.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Whether the connection may be made.
    pub fn is_allowed(&self) -> bool {
        matches!(self.outcome, Outcome::Allow { .. })
    }

    /// Allow or deny, as a code.
    pub fn decision(&self) -> Decision {
        match self.outcome {
            Outcome::Allow { .. } => Decision::Allow,
            Outcome::Deny { .. } => Decision::Deny,
        }
    }

    /// The stable code of why.
    pub fn reason(&self) -> Reason {
        match &self.outcome {
            Outcome::Allow { reason, .. } => (*reason).into(),
            Outcome::Deny { reason, .. } => reason.reason(),
        }
    }

    /// Where the URL would connect; `None` when it did not parse far enough to say.
    pub fn target(&self) -> Option<&Target> {
        match &self.outcome {
            Outcome::Allow { target, .. } => Some(target),
            Outcome::Deny { target, .. } => target.as_ref(),
        }
    }

    /// The addresses the connection may use; empty on denial.
    pub fn addresses(&self) -> &[IpAddr] {
        match &self.outcome {
            Outcome::Allow { addresses, .. } => addresses,
            Outcome::Deny { .. } => &[],
        }
    }

    /// A sentence for a human: what was judged and why.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The policy profile that decided (`default` for the top-level `[egress]` lists).
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// The URL as a client would serialize it (absent when it does not parse).
    pub fn url(&self) -> Option<&str> {
        self.target().map(Target::url)
    }

    /// The host judged (absent when the URL does not parse).
    pub fn host(&self) -> Option<&str> {
        self.target().map(Target::host)
    }

    /// The port, explicit or the scheme's default (absent when the URL does not parse).
    pub fn port(&self) -> Option<u16> {
        self.target().map(Target::port)
    }
}

impl Serialize for EgressDecision {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            decision: Decision,
            reason: Reason,
            message: &'a str,
            url: Option<&'a str>,
            host: Option<&'a str>,
            port: Option<u16>,
            addresses: &'a [IpAddr],
            profile: &'a str,
        }
        Out {
            decision: self.decision(),
            reason: self.reason(),
            message: &self.message,
            url: self.url(),
            host: self.host(),
            port: self.port(),
            addresses: self.addresses(),
            profile: &self.profile,
        }
        .serialize(s)
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
