//! The egress guard: may an agent connect to this URL?
//!
//! Threat answered: server-side request forgery. An agent that fetches URLs can be talked into
//! fetching `http://169.254.169.254/` (cloud credentials), a service on the host's loopback, or the
//! private network behind it, by a URL written to confuse parsers (`http://0x7f.1/`,
//! `http://a@127.0.0.1:80@example.com/`, full-width dots) or by a name whose DNS answer changes
//! between the check and the connection (rebinding).
//!
//! The guard parses URLs by the WHATWG URL standard (as browsers and most HTTP clients do), so the
//! host it judges is the host a client would connect to. Names are resolved through a [`Resolver`]:
//! every answer must be allowed, a mixed answer is denied as a rebinding signal, and the addresses
//! that passed are returned so the caller connects to them and nothing else (pinning). Nothing here
//! opens a socket: the CLI passes the system resolver, tests pass a fake, the proxy its own.

pub mod address;
pub mod cfg;
pub mod clients;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::Serialize;
use url::{Host, Url};

pub use address::{AddressClass, InnerClass, classify};

use crate::config::problems::Problems;
pub use cfg::{
    EgressConfig, EgressProfileConfig, PortRule, ProxyClientConfig, ProxyConfig, ResponseScan,
};

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

/// Name resolution, injected so the guard never opens a socket itself.
pub trait Resolver {
    /// The addresses `host` resolves to for a connection to `port`.
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, ResolveError>;
}

/// Static answers, like curl's `--resolve HOST:PORT:ADDR[,ADDR...]`: no DNS at all; a name that
/// is not listed does not resolve.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    entries: Vec<(String, Option<u16>, Vec<IpAddr>)>,
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

/// A configuration value the egress guard cannot compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` = {value}: expected {expected}")]
pub struct EgressConfigError {
    /// Dotted key path, e.g. `egress.profiles.crawler.allow_cidrs[1]`.
    pub key: String,
    /// The offending value, rendered.
    pub value: String,
    /// What would be accepted.
    pub expected: String,
}

/// Schemes whose URLs have a network host (WHATWG "special" schemes other than `file`).
pub const NETWORK_SCHEMES: &[&str] = &["http", "https", "ws", "wss", "ftp"];

#[derive(Debug, Clone)]
struct CidrRule {
    net: IpNet,
    port: Option<u16>,
    text: String,
}

impl CidrRule {
    fn parse(s: &str) -> Option<CidrRule> {
        // `ADDR[/LEN][:PORT]`; a port only after a length, since IPv6 addresses hold colons.
        let (net, port) = match s.split_once('/') {
            Some((addr, rest)) => match rest.split_once(':') {
                Some((len, port)) => (
                    address::parse_net(&format!("{addr}/{len}"))?,
                    Some(port.parse::<u16>().ok()?),
                ),
                None => (address::parse_net(s)?, None),
            },
            None => (address::parse_net(s)?, None),
        };
        let net = net.trunc();
        Some(CidrRule {
            net,
            port,
            text: s.to_string(),
        })
    }

    fn matches(&self, ip: IpAddr, port: u16) -> bool {
        self.net.contains(&ip) && self.port.is_none_or(|p| p == port)
    }
}

/// The most specific rule of a list that matches (longest prefix).
fn most_specific(rules: &[CidrRule], ip: IpAddr, port: u16) -> Option<&CidrRule> {
    rules
        .iter()
        .filter(|r| r.matches(ip, port))
        .max_by_key(|r| r.net.prefix_len() + if r.port.is_some() { 1 } else { 0 })
}

#[derive(Debug, Clone, Default)]
struct DomainSet {
    exact: Vec<String>,
    suffixes: Vec<String>,
}

impl DomainSet {
    fn parse(list: &[String], key: &str) -> Result<DomainSet, EgressConfigError> {
        let mut set = DomainSet::default();
        for (i, entry) in list.iter().enumerate() {
            let err = || EgressConfigError {
                key: format!("{key}[{i}]"),
                value: format!("{entry:?}"),
                expected: "a host name (`api.example.com`) or `*.` and a domain (`*.example.com`)"
                    .into(),
            };
            let (wild, name) = match entry.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, entry.as_str()),
            };
            let name = match Host::parse(name) {
                Ok(Host::Domain(d)) if !d.contains('*') => normalize_name(&d),
                _ => return Err(err()),
            };
            if name.is_empty() {
                return Err(err());
            }
            if wild {
                set.suffixes.push(format!(".{name}"));
            } else {
                set.exact.push(name);
            }
        }
        Ok(set)
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.suffixes.is_empty()
    }

    fn matches(&self, host: &str) -> bool {
        self.exact.iter().any(|e| e == host) || self.suffixes.iter().any(|s| host.ends_with(&**s))
    }
}

#[derive(Debug, Clone, Copy)]
struct PortRange(u16, u16);

/// One compiled egress policy (the top-level `[egress]` lists, or one profile).
///
/// Compile once with [`EgressGuard::from_config`], share across threads, check many URLs.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    name: String,
    enabled: bool,
    schemes: Vec<String>,
    ports: Vec<PortRange>,
    allow_domains: DomainSet,
    deny_domains: DomainSet,
    allow_cidrs: Vec<CidrRule>,
    deny_cidrs: Vec<CidrRule>,
    self_addresses: Vec<SocketAddr>,
}

/// A URL that passed every check that needs no DNS: its name must now be resolved, and the answers
/// given to [`EgressPolicy::finish`].
#[derive(Debug, Clone)]
pub struct PendingName {
    url: String,
    host: String,
    port: u16,
}

impl PendingName {
    /// The canonical host name to resolve (lowercased, IDNA-encoded, no trailing dot).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port the connection will use.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// What [`EgressPolicy::plan`] found.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Decided without DNS (an address literal, or a denial).
    Decided(EgressDecision),
    /// A name to resolve.
    Resolve(PendingName),
}

/// Lowercase, trailing dots removed.
fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_string()
}

fn is_localhost_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// The outcome for one address.
enum AddrVerdict {
    Public,
    OpenedByCidr,
    Denied(Reason, String),
}

impl EgressPolicy {
    fn compile(
        name: &str,
        base: &EgressConfig,
        profile: Option<&EgressProfileConfig>,
        key: &str,
    ) -> Result<EgressPolicy, EgressConfigError> {
        let pick = |p: Option<&Vec<String>>, b: &Vec<String>| p.unwrap_or(b).clone();
        let schemes = pick(profile.and_then(|p| p.schemes.as_ref()), &base.schemes);
        let ports_cfg = profile
            .and_then(|p| p.ports.clone())
            .unwrap_or_else(|| base.ports.clone());
        let keyed = |field: &str| {
            if profile.is_some() {
                format!("{key}.{field}")
            } else {
                format!("egress.{field}")
            }
        };
        for (i, s) in schemes.iter().enumerate() {
            if !NETWORK_SCHEMES.contains(&s.as_str()) {
                return Err(EgressConfigError {
                    key: format!("{}[{i}]", keyed("schemes")),
                    value: format!("{s:?}"),
                    expected: format!("one of {}", NETWORK_SCHEMES.join(", ")),
                });
            }
        }
        let mut ports = Vec::new();
        for (i, p) in ports_cfg.iter().enumerate() {
            let range = match p {
                PortRule::Number(n) => Some(PortRange(*n, *n)),
                PortRule::Text(t) if t == "*" => Some(PortRange(0, u16::MAX)),
                PortRule::Text(t) => t.split_once('-').and_then(|(a, b)| {
                    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                    (a <= b).then_some(PortRange(a, b))
                }),
            };
            ports.push(range.ok_or_else(|| EgressConfigError {
                key: format!("{}[{i}]", keyed("ports")),
                value: match p {
                    PortRule::Number(n) => n.to_string(),
                    PortRule::Text(t) => format!("{t:?}"),
                },
                expected: "a port number, a range \"8000-8100\", or \"*\" for any port".into(),
            })?);
        }
        let cidrs = |list: &Vec<String>, field: &str| -> Result<Vec<CidrRule>, EgressConfigError> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    CidrRule::parse(s).ok_or_else(|| EgressConfigError {
                        key: format!("{}[{i}]", keyed(field)),
                        value: format!("{s:?}"),
                        expected: "an address or CIDR block, optionally with a port: \
                                   \"10.0.1.0/24\", \"fd00::/8\", \"10.0.0.5/32:8200\""
                            .into(),
                    })
                })
                .collect()
        };
        type Field = fn(&EgressProfileConfig) -> &Option<Vec<String>>;
        let list =
            |field: Field, base: &Vec<String>| pick(profile.and_then(|p| field(p).as_ref()), base);
        let allow_cidrs = cidrs(&list(|p| &p.allow_cidrs, &base.allow_cidrs), "allow_cidrs")?;
        let deny_cidrs = cidrs(&list(|p| &p.deny_cidrs, &base.deny_cidrs), "deny_cidrs")?;
        let allow_domains = DomainSet::parse(
            &list(|p| &p.allow_domains, &base.allow_domains),
            &keyed("allow_domains"),
        )?;
        let deny_domains = DomainSet::parse(
            &list(|p| &p.deny_domains, &base.deny_domains),
            &keyed("deny_domains"),
        )?;
        Ok(EgressPolicy {
            name: name.to_string(),
            enabled: base.enabled,
            schemes,
            ports,
            allow_domains,
            deny_domains,
            allow_cidrs,
            deny_cidrs,
            self_addresses: Vec::new(),
        })
    }

    /// The profile name (`default` for the top-level lists).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Declare the addresses the caller itself listens on: connections to them are denied
    /// (`self_connection`). A listener on an unspecified address (`0.0.0.0:3128`) denies every
    /// non-public address on its port.
    pub fn set_self_addresses(&mut self, addrs: Vec<SocketAddr>) {
        self.self_addresses = addrs;
    }

    /// `here` is the URL, host and port judged (absent when the URL did not parse).
    fn decision(
        &self,
        (decision, reason): (Decision, Reason),
        message: String,
        here: Option<(&str, &str, u16)>,
        addresses: Vec<IpAddr>,
    ) -> EgressDecision {
        EgressDecision {
            decision,
            reason,
            message,
            url: here.map(|t| t.0.to_string()),
            host: here.map(|t| t.1.to_string()),
            port: here.map(|t| t.2),
            addresses,
            profile: self.name.clone(),
        }
    }

    fn deny(
        &self,
        reason: Reason,
        message: String,
        u: Option<(&str, &str, u16)>,
    ) -> EgressDecision {
        self.decision((Decision::Deny, reason), message, u, Vec::new())
    }

    /// Decide a URL, resolving its host through `resolver` when it is a name.
    pub fn check_url(&self, url: &str, resolver: &dyn Resolver) -> EgressDecision {
        match self.plan(url) {
            Plan::Decided(d) => d,
            Plan::Resolve(p) => {
                let answers = resolver.resolve(&p.host, p.port);
                self.finish(p, answers)
            }
        }
    }

    /// Every check that needs no DNS. For a name that passes them, returns the name to resolve.
    pub fn plan(&self, raw: &str) -> Plan {
        let parsed = match Url::parse(raw.trim_matches(|c: char| c.is_ascii_whitespace())) {
            Ok(u) => u,
            Err(e) => {
                return Plan::Decided(self.deny(
                    Reason::InvalidUrl,
                    format!("not a valid URL ({e})"),
                    None,
                ));
            }
        };
        self.plan_parsed(&parsed)
    }

    /// The checks for a CONNECT tunnel to `authority` (`host:port`, nothing else), judged as an
    /// `https` URL to that host and port whatever protocol the tunnel carries.
    pub fn plan_authority(&self, authority: &str) -> Plan {
        let bad = authority.is_empty()
            || authority
                .bytes()
                .any(|b| matches!(b, b'/' | b'\\' | b'@' | b'?' | b'#') || b <= b' ' || b >= 0x7f);
        let has_port = authority.rsplit_once(':').is_some_and(|(h, p)| {
            !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
        });
        if bad || !has_port {
            return Plan::Decided(self.deny(
                Reason::InvalidUrl,
                format!("CONNECT target {authority:?} is not host:port"),
                None,
            ));
        }
        let url = format!("https://{authority}/");
        match Url::parse(&url) {
            // The default port vanishes from a parsed URL: decisions name the authority asked for.
            Ok(u) => self.plan_inner(&u, Some(authority)),
            Err(e) => Plan::Decided(self.deny(
                Reason::InvalidUrl,
                format!("CONNECT target {authority:?} is not host:port ({e})"),
                None,
            )),
        }
    }

    fn plan_parsed(&self, u: &Url) -> Plan {
        self.plan_inner(u, None)
    }

    /// `tunnel` is the CONNECT authority (any scheme may pass through a tunnel; the port decides).
    fn plan_inner(&self, u: &Url, tunnel: Option<&str>) -> Plan {
        let canonical = tunnel.unwrap_or(u.as_str());
        let scheme_denied = |here| {
            Plan::Decided(self.deny(
                Reason::SchemeNotAllowed,
                format!(
                    "scheme {:?} is not allowed (allowed: {})",
                    u.scheme(),
                    self.schemes.join(", ")
                ),
                here,
            ))
        };
        let Some(port) = u.port_or_known_default() else {
            return scheme_denied(None);
        };
        // The host as decisions name it, and the address when the host is a literal one.
        let (host, literal) = match u.host() {
            Some(Host::Domain(d)) => (normalize_name(d), None),
            Some(Host::Ipv4(a)) => (a.to_string(), Some(IpAddr::V4(a))),
            Some(Host::Ipv6(a)) => (format!("[{a}]"), Some(IpAddr::V6(a))),
            None => {
                return Plan::Decided(self.deny(
                    Reason::InvalidUrl,
                    "the URL has no host".into(),
                    None,
                ));
            }
        };
        let here = Some((canonical, host.as_str(), port));
        if !self.enabled {
            if let Some(ip) = literal {
                return Plan::Decided(self.decision(
                    (Decision::Allow, Reason::GuardDisabled),
                    "the egress guard is turned off ([egress] enabled = false)".into(),
                    here,
                    vec![ip],
                ));
            }
            return Plan::Resolve(PendingName {
                url: canonical.to_string(),
                host,
                port,
            });
        }
        if tunnel.is_none() && !self.schemes.iter().any(|s| s == u.scheme()) {
            return scheme_denied(here);
        }
        if !self.ports.iter().any(|r| r.0 <= port && port <= r.1) {
            return Plan::Decided(self.deny(
                Reason::PortNotAllowed,
                format!("port {port} is not in the allowed ports"),
                here,
            ));
        }
        let ip = match literal {
            Some(ip) => ip,
            None => {
                if host.is_empty() {
                    return Plan::Decided(self.deny(
                        Reason::InvalidUrl,
                        "the URL has an empty host".into(),
                        here,
                    ));
                }
                if let Some(provider) = address::metadata_name(&host) {
                    return Plan::Decided(self.deny(
                        Reason::MetadataEndpoint,
                        format!("{host} is a cloud metadata service ({provider})"),
                        here,
                    ));
                }
                if is_localhost_name(&host) {
                    return Plan::Decided(self.deny(
                        Reason::PrivateAddress,
                        format!("{host} is a loopback name (RFC 6761)"),
                        here,
                    ));
                }
                if self.deny_domains.matches(&host) {
                    return Plan::Decided(self.deny(
                        Reason::DomainDenied,
                        format!("{host} matches deny_domains"),
                        here,
                    ));
                }
                if !self.allow_domains.is_empty() && !self.allow_domains.matches(&host) {
                    return Plan::Decided(self.deny(
                        Reason::NotAllowlisted,
                        format!("{host} is not in allow_domains"),
                        here,
                    ));
                }
                return Plan::Resolve(PendingName {
                    url: canonical.to_string(),
                    host,
                    port,
                });
            }
        };
        let verdict = self.judge_address(ip, port);
        if !self.allow_domains.is_empty() && !matches!(verdict, AddrVerdict::Denied(..)) {
            return Plan::Decided(self.deny(
                Reason::NotAllowlisted,
                format!("{host} is an address, and allow_domains lists names only"),
                here,
            ));
        }
        Plan::Decided(match verdict {
            AddrVerdict::Denied(reason, msg) => self.deny(reason, msg, here),
            AddrVerdict::Public => self.decision(
                (Decision::Allow, Reason::PublicAddress),
                format!("{ip} is {}", classify(ip).describe()),
                Some((canonical, &host, port)),
                vec![ip],
            ),
            AddrVerdict::OpenedByCidr => self.decision(
                (Decision::Allow, Reason::AllowCidr),
                format!("{ip} is opened by allow_cidrs"),
                Some((canonical, &host, port)),
                vec![ip],
            ),
        })
    }

    /// Judge the resolver's answers for a pending name.
    pub fn finish(
        &self,
        pending: PendingName,
        answers: Result<Vec<IpAddr>, ResolveError>,
    ) -> EgressDecision {
        let here = Some((pending.url.as_str(), pending.host.as_str(), pending.port));
        let mut addrs = match answers {
            Ok(a) if !a.is_empty() => a,
            Ok(_) => {
                return self.deny(
                    Reason::Unresolvable,
                    format!("{} resolved to no address", pending.host),
                    here,
                );
            }
            Err(e) => {
                return self.deny(
                    Reason::Unresolvable,
                    format!("{} did not resolve: {e}", pending.host),
                    here,
                );
            }
        };
        let mut seen = std::collections::HashSet::new();
        addrs.retain(|a| seen.insert(*a));
        if !self.enabled {
            return self.decision(
                (Decision::Allow, Reason::GuardDisabled),
                "the egress guard is turned off ([egress] enabled = false)".into(),
                here,
                addrs,
            );
        }
        let mut denied: Option<(Reason, String)> = None;
        let mut passed = 0usize;
        let mut all_public = true;
        for &ip in &addrs {
            match self.judge_address(ip, pending.port) {
                AddrVerdict::Public => passed += 1,
                AddrVerdict::OpenedByCidr => {
                    passed += 1;
                    all_public = false;
                }
                AddrVerdict::Denied(r, m) => {
                    if denied.is_none() {
                        denied = Some((r, m));
                    }
                }
            }
        }
        if let Some((reason, msg)) = denied {
            if passed > 0 {
                return self.deny(
                    Reason::MixedAnswers,
                    format!(
                        "{} resolved to allowed and forbidden addresses (a DNS-rebinding signal): {msg}",
                        pending.host
                    ),
                    here,
                );
            }
            return self.deny(reason, format!("{} resolved to {msg}", pending.host), here);
        }
        let list = addrs
            .iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let (reason, message) = if all_public {
            (
                Reason::PublicAddress,
                format!("{} resolved to globally reachable {list}", pending.host),
            )
        } else {
            (
                Reason::AllowCidr,
                format!("{} resolved to {list}, opened by allow_cidrs", pending.host),
            )
        };
        self.decision((Decision::Allow, reason), message, here, addrs)
    }

    fn judge_address(&self, ip: IpAddr, port: u16) -> AddrVerdict {
        let canon = ip.to_canonical();
        let class = classify(ip);
        for s in &self.self_addresses {
            let same_ip = s.ip().to_canonical() == canon;
            let unspecified_listener = s.ip().is_unspecified() && !class.is_public();
            if s.port() == port && (same_ip || unspecified_listener) {
                return AddrVerdict::Denied(
                    Reason::SelfConnection,
                    format!("{ip} port {port} is this proxy's own listening address"),
                );
            }
        }
        if matches!(
            class,
            AddressClass::Metadata(_)
                | AddressClass::Embedded {
                    class: InnerClass::Metadata(_),
                    ..
                }
        ) {
            return AddrVerdict::Denied(
                Reason::MetadataEndpoint,
                format!("{ip} is {}", class.describe()),
            );
        }
        // Operator lists: the most specific entry wins; on a tie, deny.
        let inner = match class {
            AddressClass::Embedded { inner, .. } => Some(IpAddr::V4(inner)),
            _ => None,
        };
        let deny = most_specific(&self.deny_cidrs, canon, port)
            .or_else(|| inner.and_then(|i| most_specific(&self.deny_cidrs, i, port)));
        let allow = most_specific(&self.allow_cidrs, canon, port);
        match (deny, allow) {
            (Some(d), Some(a)) if a.net.prefix_len() > d.net.prefix_len() => {
                return AddrVerdict::OpenedByCidr;
            }
            (Some(d), _) => {
                return AddrVerdict::Denied(
                    Reason::DeniedCidr,
                    format!("{ip} is in deny_cidrs entry {}", d.text),
                );
            }
            (None, Some(_)) => return AddrVerdict::OpenedByCidr,
            (None, None) => {}
        }
        match class {
            AddressClass::Public
            | AddressClass::Embedded {
                class: InnerClass::Public,
                ..
            } => AddrVerdict::Public,
            AddressClass::Embedded { .. } => AddrVerdict::Denied(
                Reason::EmbeddedAddress,
                format!("{ip} is {}", class.describe()),
            ),
            _ => AddrVerdict::Denied(
                Reason::PrivateAddress,
                format!("{ip} is {}", class.describe()),
            ),
        }
    }
}

/// Every compiled egress policy of a configuration: the default and the named profiles.
#[derive(Debug, Clone)]
pub struct EgressGuard {
    default: EgressPolicy,
    profiles: BTreeMap<String, EgressPolicy>,
}

impl EgressGuard {
    /// Compile `[egress]` and every `[egress.profiles.NAME]`. A profile's lists replace the
    /// top-level ones they name; the lists it omits are inherited.
    pub fn from_config(cfg: &EgressConfig) -> Result<EgressGuard, EgressConfigError> {
        let default = EgressPolicy::compile("default", cfg, None, "egress")?;
        let mut profiles = BTreeMap::new();
        for (name, p) in &cfg.profiles {
            let key = format!("egress.profiles.{name}");
            profiles.insert(
                name.clone(),
                EgressPolicy::compile(name, cfg, Some(p), &key)?,
            );
        }
        Ok(EgressGuard { default, profiles })
    }

    /// The policy of a profile, or the default for `None` (or `default`).
    pub fn policy(&self, profile: Option<&str>) -> Option<&EgressPolicy> {
        match profile {
            None | Some("default") => Some(&self.default),
            Some(p) => self.profiles.get(p),
        }
    }

    /// Every profile name, `default` first.
    pub fn profile_names(&self) -> Vec<&str> {
        std::iter::once("default")
            .chain(self.profiles.keys().map(String::as_str))
            .collect()
    }

    /// Declare the proxy's own listening addresses on every policy.
    pub fn set_self_addresses(&mut self, addrs: &[SocketAddr]) {
        self.default.set_self_addresses(addrs.to_vec());
        for p in self.profiles.values_mut() {
            p.set_self_addresses(addrs.to_vec());
        }
    }
}

/// Check `[egress]`: every profile (by compiling the guard), the proxy's address and ranges, and
/// its clients.
pub fn check_config(egress: &EgressConfig, p: &mut Problems) {
    let guard = match EgressGuard::from_config(egress) {
        Ok(g) => Some(g),
        Err(e) => {
            p.invalid(e.key, e.value, e.expected);
            None
        }
    };
    let proxy = &egress.proxy;
    if proxy.listen.parse::<std::net::SocketAddr>().is_err() {
        p.invalid(
            "egress.proxy.listen",
            format!("{:?}", proxy.listen),
            "an address and port, e.g. \"127.0.0.1:3128\" or \"[::1]:3128\"",
        );
    }
    for (key, v, lo, hi) in [
        (
            "egress.proxy.max_tunnels",
            proxy.max_tunnels as u64,
            1,
            1_000_000,
        ),
        (
            "egress.proxy.max_header_bytes",
            proxy.max_header_bytes as u64,
            8192,
            1024 * 1024,
        ),
        (
            "egress.proxy.idle_timeout_secs",
            proxy.idle_timeout_secs,
            1,
            86_400,
        ),
        (
            "egress.proxy.connect_timeout_secs",
            proxy.connect_timeout_secs,
            1,
            600,
        ),
        (
            "egress.proxy.scan_max_bytes",
            proxy.scan_max_bytes as u64,
            1,
            64 * 1024 * 1024,
        ),
    ] {
        if !(lo..=hi).contains(&v) {
            p.invalid(key, v.to_string(), format!("a number from {lo} to {hi}"));
        }
    }
    for (name, client) in &proxy.clients {
        if let Some(guard) = &guard
            && guard.policy(Some(&client.profile)).is_none()
        {
            p.invalid(
                format!("egress.proxy.clients.{name}.profile"),
                format!("{:?}", client.profile),
                format!("one of the profiles: {}", guard.profile_names().join(", ")),
            );
        }
        let h = &client.token_sha256;
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            p.invalid(
                format!("egress.proxy.clients.{name}.token_sha256"),
                format!("{h:?}"),
                "64 hex digits (the SHA-256 of the token; `bulwark egress client-token` makes one)",
            );
        }
        if name.is_empty() || name.contains(':') {
            p.invalid(
                format!("egress.proxy.clients.{name}"),
                format!("{name:?}"),
                "a client name without `:` (it is the Proxy-Authorization user name)",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(toml_text: &str) -> EgressGuard {
        let cfg = crate::SecurityConfig::from_toml(toml_text, "test").expect("config");
        EgressGuard::from_config(&cfg.egress).expect("guard")
    }

    fn check(g: &EgressGuard, url: &str, r: &StaticResolver) -> EgressDecision {
        g.policy(None).expect("default").check_url(url, r)
    }

    /// Each URL gets its reason under `profile` (`None`: default).
    fn expect_reasons(
        g: &EgressGuard,
        profile: Option<&str>,
        r: &StaticResolver,
        cases: &[(&str, Reason)],
    ) {
        let p = g.policy(profile).expect("profile");
        for (url, reason) in cases {
            let d = p.check_url(url, r);
            assert_eq!(d.reason, *reason, "{url}: {d:?}");
            assert_eq!(d.is_allowed(), !d.addresses.is_empty(), "{url}: {d:?}");
        }
    }

    #[test]
    fn literal_forms_of_loopback_are_denied() {
        let g = guard("");
        let r = StaticResolver::new();
        for url in [
            "http://127.0.0.1/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::1]/",
            "http://example.com@127.0.0.1:80/",
            "http://127。0。0。1/",
            "http:\\\\127.0.0.1\\x",
        ] {
            let d = check(&g, url, &r);
            assert_eq!(d.decision, Decision::Deny, "{url}: {d:?}");
            assert!(
                matches!(d.reason, Reason::PrivateAddress | Reason::EmbeddedAddress),
                "{url}: {d:?}"
            );
        }
    }

    #[test]
    fn names_are_resolved_and_pinned() {
        let g = guard("");
        let mut r = StaticResolver::new();
        r.add_entry("example.com:443:93.184.215.14").unwrap();
        r.add_entry("rebind.test:*:93.184.215.14,127.0.0.1")
            .unwrap();
        r.add_entry("inside.test:443:10.1.2.3").unwrap();
        let d = check(&g, "https://EXAMPLE.com./a", &r);
        assert!(d.is_allowed(), "{d:?}");
        assert_eq!(
            d.addresses,
            vec!["93.184.215.14".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(d.host.as_deref(), Some("example.com"));
        expect_reasons(
            &g,
            None,
            &r,
            &[
                ("https://rebind.test/", Reason::MixedAnswers),
                ("https://inside.test/", Reason::PrivateAddress),
                ("https://nowhere.test/", Reason::Unresolvable),
                (
                    "http://metadata.google.internal./",
                    Reason::MetadataEndpoint,
                ),
                ("http://LOCALHOST/", Reason::PrivateAddress),
            ],
        );
    }

    #[test]
    fn schemes_ports_and_lists() {
        let g = guard(
            "[egress]\nallow_cidrs = [\"10.0.1.0/24\", \"10.9.0.0/16:8200\"]\ndeny_cidrs = [\"93.184.0.0/16\"]\n\
             ports = [80, 443, \"8200-8201\"]\n\
             [egress.profiles.docs]\nallow_domains = [\"docs.rs\", \"*.python.org\"]\n",
        );
        expect_reasons(
            &g,
            None,
            &StaticResolver::new(),
            &[
                ("gopher://8.8.8.8/", Reason::SchemeNotAllowed),
                ("file:///etc/passwd", Reason::SchemeNotAllowed),
                ("http://8.8.8.8:22/", Reason::PortNotAllowed),
                ("http://10.0.1.7/", Reason::AllowCidr),
                ("http://10.0.2.7/", Reason::PrivateAddress),
                ("http://10.9.3.3:8200/", Reason::AllowCidr),
                ("http://10.9.3.3:8201/", Reason::PrivateAddress),
                ("http://93.184.215.14/", Reason::DeniedCidr),
                ("http://[64:ff9b::5db8:d70e]/", Reason::DeniedCidr),
            ],
        );
        let mut r = StaticResolver::new();
        r.add_entry("docs.python.org:443:151.101.0.223").unwrap();
        expect_reasons(
            &g,
            Some("docs"),
            &r,
            &[
                ("https://docs.python.org/3/", Reason::PublicAddress),
                ("https://python.org/", Reason::NotAllowlisted),
                ("https://8.8.8.8/", Reason::NotAllowlisted),
            ],
        );
        assert!(g.policy(Some("nope")).is_none());
    }

    #[test]
    fn metadata_is_never_opened_by_a_cidr() {
        let g = guard("[egress]\nallow_cidrs = [\"169.254.0.0/16\", \"168.63.129.16\"]\n");
        expect_reasons(
            &g,
            None,
            &StaticResolver::new(),
            &[
                ("http://169.254.169.254/", Reason::MetadataEndpoint),
                ("http://168.63.129.16/", Reason::MetadataEndpoint),
                ("http://169.254.1.1/", Reason::AllowCidr),
            ],
        );
    }

    #[test]
    fn connect_authorities() {
        let g = guard("");
        let p = g.policy(None).unwrap();
        for bad in [
            "",
            "example.com",
            "a@b:443",
            "x/y:443",
            ":443",
            "example.com:",
        ] {
            match p.plan_authority(bad) {
                Plan::Decided(d) => assert_eq!(d.reason, Reason::InvalidUrl, "{bad}"),
                Plan::Resolve(_) => panic!("{bad} accepted"),
            }
        }
        match p.plan_authority("127.0.0.1:443") {
            Plan::Decided(d) => assert_eq!(d.reason, Reason::PrivateAddress),
            Plan::Resolve(_) => panic!(),
        }
        match p.plan_authority("Example.COM:443") {
            Plan::Resolve(n) => assert_eq!((n.host(), n.port()), ("example.com", 443)),
            Plan::Decided(d) => panic!("{d:?}"),
        }
    }

    #[test]
    fn self_connection() {
        let r = StaticResolver::new();
        let mut g = guard("[egress]\nallow_cidrs = [\"127.0.0.0/8\"]\n");
        g.set_self_addresses(&["127.0.0.1:3128".parse().unwrap()]);
        expect_reasons(
            &g,
            None,
            &r,
            &[("http://127.0.0.1:3128/", Reason::PortNotAllowed)],
        );
        let mut g = guard("[egress]\nallow_cidrs = [\"127.0.0.0/8\"]\nports = [\"*\"]\n");
        g.set_self_addresses(&["127.0.0.1:3128".parse().unwrap()]);
        expect_reasons(
            &g,
            None,
            &r,
            &[
                ("http://127.0.0.1:3128/", Reason::SelfConnection),
                ("http://[::ffff:127.0.0.1]:3128/", Reason::SelfConnection),
                ("http://127.0.0.1:3129/", Reason::AllowCidr),
            ],
        );
    }

    #[test]
    fn bad_configuration_names_the_key() {
        let cfg = crate::SecurityConfig::from_toml(
            "[egress.profiles.x]\nallow_cidrs = [\"10.0.0.0/99\"]\n",
            "t",
        );
        let msg = cfg.unwrap_err().to_string();
        assert!(msg.contains("egress.profiles.x.allow_cidrs[0]"), "{msg}");
    }
}
