//! The lists a profile is compiled into: CIDR rules with optional ports, domain sets with
//! wildcards, port ranges, and name normalization.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct CidrRule {
    pub(super) net: IpNet,
    pub(super) port: Option<u16>,
    pub(super) text: String,
}

impl CidrRule {
    pub(super) fn parse(s: &str) -> Option<CidrRule> {
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

    pub(super) fn matches(&self, ip: IpAddr, port: u16) -> bool {
        self.net.contains(&ip) && self.port.is_none_or(|p| p == port)
    }
}

/// The most specific rule of a list that matches (longest prefix).
pub(super) fn most_specific(rules: &[CidrRule], ip: IpAddr, port: u16) -> Option<&CidrRule> {
    rules
        .iter()
        .filter(|r| r.matches(ip, port))
        .max_by_key(|r| r.net.prefix_len() + if r.port.is_some() { 1 } else { 0 })
}

#[derive(Debug, Clone, Default)]
pub(super) struct DomainSet {
    pub(super) exact: Vec<String>,
    pub(super) suffixes: Vec<String>,
}

impl DomainSet {
    pub(super) fn parse(list: &[String], key: &str) -> Result<DomainSet, EgressConfigError> {
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

    pub(super) fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.suffixes.is_empty()
    }

    pub(super) fn matches(&self, host: &str) -> bool {
        self.exact.iter().any(|e| e == host) || self.suffixes.iter().any(|s| host.ends_with(&**s))
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct PortRange(pub(super) u16, pub(super) u16);

/// Lowercase, trailing dots removed.
pub(super) fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_string()
}

pub(super) fn is_localhost_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}
