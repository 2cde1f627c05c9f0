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

mod decision;
mod lists;

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

pub use decision::*;
use lists::*;

/// Name resolution, injected so the guard never opens a socket itself.
pub trait Resolver {
    /// The addresses `host` resolves to for a connection to `port`.
    fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, ResolveError>;
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
    target: Target,
}

impl PendingName {
    /// The canonical host name to resolve (lowercased, IDNA-encoded, no trailing dot).
    pub fn host(&self) -> &str {
        &self.target.host
    }

    /// The port the connection will use.
    pub fn port(&self) -> u16 {
        self.target.port
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

    /// An allowance: to `addresses` (at least one) of `target`.
    fn allow(
        &self,
        reason: AllowReason,
        message: String,
        target: Target,
        addresses: Vec<IpAddr>,
    ) -> EgressDecision {
        if addresses.is_empty() {
            return self.deny(
                Reason::Unresolvable,
                format!("{} has no address to connect to", target.host),
                Some(&target),
            );
        }
        EgressDecision {
            outcome: Outcome::Allow {
                reason,
                target,
                addresses,
            },
            message,
            profile: self.name.clone(),
        }
    }

    /// A denial; `here` is the target judged (absent when the URL did not parse far enough).
    fn deny(&self, reason: Reason, message: String, here: Option<&Target>) -> EgressDecision {
        debug_assert!(DenyReason::new(reason).is_some(), "{reason:?} allows");
        EgressDecision {
            outcome: Outcome::Deny {
                reason: DenyReason::new(reason).unwrap_or(DenyReason::INVALID_URL),
                target: here.cloned(),
            },
            message,
            profile: self.name.clone(),
        }
    }

    /// Whether `host` (a name, lowercase) is one this guard names as a place to fetch from:
    /// listed in `allow_domains` and not in `deny_domains`. Without an allowlist no host is
    /// named, so nothing is trusted by name alone. No DNS: for judging links a model writes.
    pub fn names_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        !self.allow_domains.is_empty()
            && self.allow_domains.matches(&host)
            && !self.deny_domains.matches(&host)
    }

    /// Decide a URL, resolving its host through `resolver` when it is a name.
    pub fn check_url(&self, url: &str, resolver: &dyn Resolver) -> EgressDecision {
        match self.plan(url) {
            Plan::Decided(d) => d,
            Plan::Resolve(p) => {
                let answers = resolver.resolve(p.host(), p.port());
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
        let host_str = u.host_str().unwrap_or_default();
        let target = Target {
            url: canonical.to_string(),
            scheme: u.scheme().to_string(),
            host_header: match u.port() {
                Some(p) => format!("{host_str}:{p}"),
                None => host_str.to_string(),
            },
            origin_form: u[url::Position::BeforePath..url::Position::AfterQuery].to_string(),
            host,
            port,
        };
        let host = target.host.as_str();
        let here = Some(&target);
        if !self.enabled {
            if let Some(ip) = literal {
                return Plan::Decided(self.allow(
                    AllowReason::GuardDisabled,
                    "the egress guard is turned off ([egress] enabled = false)".into(),
                    target,
                    vec![ip],
                ));
            }
            return Plan::Resolve(PendingName { target });
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
                if let Some(provider) = address::metadata_name(host) {
                    return Plan::Decided(self.deny(
                        Reason::MetadataEndpoint,
                        format!("{host} is a cloud metadata service ({provider})"),
                        here,
                    ));
                }
                if is_localhost_name(host) {
                    return Plan::Decided(self.deny(
                        Reason::PrivateAddress,
                        format!("{host} is a loopback name (RFC 6761)"),
                        here,
                    ));
                }
                if self.deny_domains.matches(host) {
                    return Plan::Decided(self.deny(
                        Reason::DomainDenied,
                        format!("{host} matches deny_domains"),
                        here,
                    ));
                }
                if !self.allow_domains.is_empty() && !self.allow_domains.matches(host) {
                    return Plan::Decided(self.deny(
                        Reason::NotAllowlisted,
                        format!("{host} is not in allow_domains"),
                        here,
                    ));
                }
                return Plan::Resolve(PendingName { target });
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
            AddrVerdict::Public => self.allow(
                AllowReason::PublicAddress,
                format!("{ip} is {}", classify(ip).describe()),
                target,
                vec![ip],
            ),
            AddrVerdict::OpenedByCidr => self.allow(
                AllowReason::AllowCidr,
                format!("{ip} is opened by allow_cidrs"),
                target,
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
        let target = pending.target;
        let here = Some(&target);
        let mut addrs = match answers {
            Ok(a) if !a.is_empty() => a,
            Ok(_) => {
                return self.deny(
                    Reason::Unresolvable,
                    format!("{} resolved to no address", target.host),
                    here,
                );
            }
            Err(e) => {
                return self.deny(
                    Reason::Unresolvable,
                    format!("{} did not resolve: {e}", target.host),
                    here,
                );
            }
        };
        let mut seen = std::collections::HashSet::new();
        addrs.retain(|a| seen.insert(*a));
        if !self.enabled {
            return self.allow(
                AllowReason::GuardDisabled,
                "the egress guard is turned off ([egress] enabled = false)".into(),
                target,
                addrs,
            );
        }
        let mut denied: Option<(Reason, String)> = None;
        let mut passed = 0usize;
        let mut all_public = true;
        for &ip in &addrs {
            match self.judge_address(ip, target.port) {
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
                        target.host
                    ),
                    here,
                );
            }
            return self.deny(reason, format!("{} resolved to {msg}", target.host), here);
        }
        let list = addrs
            .iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let (reason, message) = if all_public {
            (
                AllowReason::PublicAddress,
                format!("{} resolved to globally reachable {list}", target.host),
            )
        } else {
            (
                AllowReason::AllowCidr,
                format!("{} resolved to {list}, opened by allow_cidrs", target.host),
            )
        };
        self.allow(reason, message, target, addrs)
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
mod tests;
