//! Address classes: which IP addresses an agent may connect to.
//!
//! Threat answered: a fetch that reaches the host's loopback, the private network or a cloud
//! metadata service. The tables follow the IANA IPv4 and IPv6 special-purpose address registries
//! (every block that is not globally reachable is forbidden, and so are the anycast sinks AS112 and
//! AMT: nothing an agent fetches lives there), plus multicast, the reserved 240/4 block and every
//! IPv6 address outside the global-unicast block 2000::/3. Cloud metadata endpoints are named even
//! where their address is public (168.63.129.16). IPv4 carried inside IPv6 (mapped, compatible,
//! SIIT, NAT64, 6to4, Teredo) is decoded and judged as the IPv4 address it reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// What an address is, for the egress guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Globally reachable unicast: an agent may connect.
    Public,
    /// A cloud metadata endpoint (credentials live there), named for its provider.
    Metadata(&'static str),
    /// A special-purpose block that is not globally reachable, named with its RFC.
    Forbidden(&'static str),
    /// IPv4 inside IPv6: judged as the IPv4 address it carries.
    Embedded {
        /// The embedding, e.g. `NAT64 64:ff9b::/96`.
        scheme: &'static str,
        /// The IPv4 address carried.
        inner: Ipv4Addr,
        /// The class of the IPv4 address (never `Embedded`).
        class: InnerClass,
    },
}

/// The class of an embedded IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InnerClass {
    /// Globally reachable.
    Public,
    /// A metadata endpoint.
    Metadata(&'static str),
    /// Not globally reachable.
    Forbidden(&'static str),
}

impl AddressClass {
    /// Whether an agent may connect to it (before any operator allow or deny list).
    pub fn is_public(self) -> bool {
        matches!(
            self,
            AddressClass::Public
                | AddressClass::Embedded {
                    class: InnerClass::Public,
                    ..
                }
        )
    }

    /// A phrase for messages, e.g. `loopback (RFC 1122)`.
    pub fn describe(self) -> String {
        match self {
            AddressClass::Public => "globally reachable".into(),
            AddressClass::Metadata(p) => format!("cloud metadata endpoint ({p})"),
            AddressClass::Forbidden(what) => what.into(),
            AddressClass::Embedded {
                scheme,
                inner,
                class,
            } => {
                let c = match class {
                    InnerClass::Public => "globally reachable".to_string(),
                    InnerClass::Metadata(p) => format!("cloud metadata endpoint ({p})"),
                    InnerClass::Forbidden(what) => what.to_string(),
                };
                format!("{scheme} carrying {inner}: {c}")
            }
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

#[allow(clippy::too_many_arguments)]
const fn v6(segs: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(
            segs[0], segs[1], segs[2], segs[3], segs[4], segs[5], segs[6], segs[7],
        ),
        len,
    )
}

/// Cloud metadata endpoints by IPv4 address, checked before the range tables.
pub const METADATA_V4: &[(Ipv4Addr, &str)] = &[
    (
        Ipv4Addr::new(169, 254, 169, 254),
        "AWS, GCP, Azure, OpenStack, DigitalOcean, Hetzner, ...",
    ),
    (Ipv4Addr::new(169, 254, 170, 2), "AWS ECS task credentials"),
    (Ipv4Addr::new(169, 254, 170, 23), "AWS EKS Pod Identity"),
    (Ipv4Addr::new(100, 100, 100, 200), "Alibaba Cloud"),
    (Ipv4Addr::new(168, 63, 129, 16), "Azure WireServer"),
    (Ipv4Addr::new(192, 0, 0, 192), "Oracle Cloud"),
    (Ipv4Addr::new(169, 254, 42, 42), "Scaleway"),
];

/// Cloud metadata endpoints by IPv6 address.
pub const METADATA_V6: &[(Ipv6Addr, &str)] = &[
    (
        Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
        "AWS (Nitro IPv6)",
    ),
    (
        Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),
        "AWS EKS Pod Identity (IPv6)",
    ),
    (
        Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254),
        "GCP (IPv6)",
    ),
    (
        Ipv6Addr::new(0xfd00, 0x42, 0, 0, 0, 0, 0, 0x42),
        "Scaleway (IPv6)",
    ),
];

/// Cloud metadata services by host name (compared after lowercasing and removing trailing dots).
pub const METADATA_NAMES: &[(&str, &str)] = &[
    ("metadata.google.internal", "GCP"),
    ("metadata.goog", "GCP"),
    ("metadata", "GCP and others (short name)"),
    ("metadata.tencentyun.com", "Tencent Cloud"),
    ("instance-data", "AWS"),
    ("instance-data.ec2.internal", "AWS"),
    ("metadata.platformequinix.com", "Equinix Metal"),
    ("metadata.packet.net", "Equinix Metal (Packet)"),
];

/// IPv4 blocks that are not globally reachable, most specific first where they nest.
pub const FORBIDDEN_V4: &[(Ipv4Net, &str)] = &[
    (v4(255, 255, 255, 255, 32), "limited broadcast (RFC 919)"),
    (v4(0, 0, 0, 0, 8), "\"this network\" (RFC 791)"),
    (v4(10, 0, 0, 0, 8), "private-use (RFC 1918)"),
    (
        v4(100, 64, 0, 0, 10),
        "shared address space / CGNAT (RFC 6598)",
    ),
    (v4(127, 0, 0, 0, 8), "loopback (RFC 1122)"),
    (v4(169, 254, 0, 0, 16), "link-local (RFC 3927)"),
    (v4(172, 16, 0, 0, 12), "private-use (RFC 1918)"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments (RFC 6890)"),
    (v4(192, 0, 2, 0, 24), "documentation TEST-NET-1 (RFC 5737)"),
    (v4(192, 31, 196, 0, 24), "AS112-v4 anycast sink (RFC 7535)"),
    (v4(192, 52, 193, 0, 24), "AMT anycast (RFC 7450)"),
    (
        v4(192, 88, 99, 0, 24),
        "deprecated 6to4 relay anycast (RFC 7526)",
    ),
    (v4(192, 168, 0, 0, 16), "private-use (RFC 1918)"),
    (
        v4(192, 175, 48, 0, 24),
        "AS112 direct delegation sink (RFC 7534)",
    ),
    (v4(198, 18, 0, 0, 15), "benchmarking (RFC 2544)"),
    (
        v4(198, 51, 100, 0, 24),
        "documentation TEST-NET-2 (RFC 5737)",
    ),
    (
        v4(203, 0, 113, 0, 24),
        "documentation TEST-NET-3 (RFC 5737)",
    ),
    (v4(224, 0, 0, 0, 4), "multicast (RFC 5771)"),
    (v4(240, 0, 0, 0, 4), "reserved (RFC 1112)"),
];

/// The NAT64 local-use prefix: its embedded address is not judged, the block is denied.
const NAT64_LOCAL: Ipv6Net = v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48);
const NAT64_WKP: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
const MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
const SIIT: Ipv6Net = v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96);
const COMPATIBLE: Ipv6Net = v6([0, 0, 0, 0, 0, 0, 0, 0], 96);
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);
const TEREDO: Ipv6Net = v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32);
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// IPv6 blocks inside 2000::/3 that are not globally reachable (everything outside 2000::/3 is
/// forbidden too, apart from the IPv4 embeddings).
pub const FORBIDDEN_V6: &[(Ipv6Net, &str)] = &[
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation (RFC 3849)",
    ),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF protocol assignments (RFC 2928)",
    ),
    (
        v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48),
        "AS112 direct delegation sink (RFC 7534)",
    ),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "documentation (RFC 9637)",
    ),
];

/// IPv6 blocks outside 2000::/3, named for messages (all forbidden).
const NAMED_OUTSIDE_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified (RFC 4291)"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback (RFC 4291)"),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "local-use NAT64 prefix (RFC 8215)",
    ),
    (
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "discard-only (RFC 6666)",
    ),
    (
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "SRv6 SIDs (RFC 9602)",
    ),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique-local (RFC 4193)",
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "link-local (RFC 4291)",
    ),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local, deprecated (RFC 3879)",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast (RFC 4291)"),
];

pub use crate::config::typed::parse_net;

/// Classify an IPv4 address.
pub fn classify_v4(ip: Ipv4Addr) -> InnerClass {
    if let Some((_, p)) = METADATA_V4.iter().find(|(m, _)| *m == ip) {
        return InnerClass::Metadata(p);
    }
    match FORBIDDEN_V4.iter().find(|(net, _)| net.contains(&ip)) {
        Some((_, what)) => InnerClass::Forbidden(what),
        None => InnerClass::Public,
    }
}

/// The IPv4 address an IPv6 address carries, if it is one of the embeddings, with the embedding's
/// name. `::` and `::1` are not embeddings.
pub fn embedded_v4(ip: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if MAPPED.contains(&ip) {
        return Some(("IPv4-mapped ::ffff:0:0/96", low32));
    }
    if SIIT.contains(&ip) {
        return Some(("SIIT ::ffff:0:0:0/96", low32));
    }
    if COMPATIBLE.contains(&ip) && bits > 1 {
        return Some(("IPv4-compatible ::/96", low32));
    }
    if NAT64_WKP.contains(&ip) {
        return Some(("NAT64 64:ff9b::/96", low32));
    }
    if SIX_TO_FOUR.contains(&ip) {
        let inner = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return Some(("6to4 2002::/16", inner));
    }
    if TEREDO.contains(&ip) {
        // The Teredo client's public address is stored bit-inverted in the last 32 bits.
        return Some(("Teredo 2001::/32", Ipv4Addr::from(!(bits as u32))));
    }
    None
}

/// Classify an IPv6 address.
pub fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if let Some((_, p)) = METADATA_V6.iter().find(|(m, _)| *m == ip) {
        return AddressClass::Metadata(p);
    }
    if NAT64_LOCAL.contains(&ip) {
        return AddressClass::Forbidden("local-use NAT64 prefix (RFC 8215)");
    }
    if let Some((scheme, inner)) = embedded_v4(ip) {
        return AddressClass::Embedded {
            scheme,
            inner,
            class: classify_v4(inner),
        };
    }
    if GLOBAL_UNICAST.contains(&ip) {
        return match FORBIDDEN_V6.iter().find(|(net, _)| net.contains(&ip)) {
            Some((_, what)) => AddressClass::Forbidden(what),
            None => AddressClass::Public,
        };
    }
    let what = NAMED_OUTSIDE_V6
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map_or(
            "outside IPv6 global unicast 2000::/3 (RFC 4291)",
            |(_, w)| w,
        );
    AddressClass::Forbidden(what)
}

/// Classify any address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => match classify_v4(v4) {
            InnerClass::Public => AddressClass::Public,
            InnerClass::Metadata(p) => AddressClass::Metadata(p),
            InnerClass::Forbidden(w) => AddressClass::Forbidden(w),
        },
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether a host name is a metadata service name; returns its provider.
pub fn metadata_name(host: &str) -> Option<&'static str> {
    METADATA_NAMES
        .iter()
        .find(|(n, _)| *n == host)
        .map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> AddressClass {
        classify(s.parse().expect("address"))
    }

    #[test]
    fn ipv4_classes() {
        assert_eq!(c("8.8.8.8"), AddressClass::Public);
        assert!(matches!(c("127.0.0.1"), AddressClass::Forbidden(w) if w.contains("loopback")));
        assert!(
            matches!(c("255.255.255.255"), AddressClass::Forbidden(w) if w.contains("broadcast"))
        );
        assert!(matches!(c("198.19.1.1"), AddressClass::Forbidden(_)));
        assert!(matches!(c("192.0.0.8"), AddressClass::Forbidden(_)));
        assert!(matches!(c("240.1.2.3"), AddressClass::Forbidden(_)));
        assert!(matches!(c("168.63.129.16"), AddressClass::Metadata(_)));
        assert!(matches!(c("192.0.0.192"), AddressClass::Metadata(_)));
        assert_eq!(c("100.63.255.255"), AddressClass::Public);
        assert_eq!(c("100.128.0.0"), AddressClass::Public);
    }

    #[test]
    fn ipv6_embeddings_are_judged_as_ipv4() {
        for (s, inner, public) in [
            ("::ffff:127.0.0.1", "127.0.0.1", false),
            ("::ffff:8.8.8.8", "8.8.8.8", true),
            ("::ffff:0:10.0.0.1", "10.0.0.1", false),
            ("::10.0.0.1", "10.0.0.1", false),
            ("64:ff9b::808:808", "8.8.8.8", true),
            ("64:ff9b::a00:1", "10.0.0.1", false),
            ("2002:808:808::1", "8.8.8.8", true),
            ("2002:c0a8:ffff::", "192.168.255.255", false),
            (
                "2001:0:4136:e378:8000:63bf:3f57:fdf2",
                "192.168.2.13",
                false,
            ),
        ] {
            match c(s) {
                AddressClass::Embedded { inner: i, .. } => {
                    assert_eq!(i.to_string(), inner, "{s}");
                    assert_eq!(c(s).is_public(), public, "{s}");
                }
                other => panic!("{s}: {other:?}"),
            }
        }
        assert!(matches!(c("64:ff9b:1::a00:1"), AddressClass::Forbidden(_)));
        assert!(matches!(c("::"), AddressClass::Forbidden(w) if w.contains("unspecified")));
        assert!(matches!(c("::1"), AddressClass::Forbidden(w) if w.contains("loopback")));
    }

    #[test]
    fn ipv6_classes() {
        assert_eq!(c("2001:4860:4860::8888"), AddressClass::Public);
        assert_eq!(c("2001:db7::"), AddressClass::Public);
        assert!(matches!(c("2001:db8::1"), AddressClass::Forbidden(_)));
        assert!(matches!(c("fec0::1"), AddressClass::Forbidden(w) if w.contains("site-local")));
        assert!(matches!(c("fd00::1"), AddressClass::Forbidden(w) if w.contains("unique-local")));
        assert!(matches!(c("ff02::2"), AddressClass::Forbidden(w) if w.contains("multicast")));
        assert!(matches!(c("64:ff9c::1"), AddressClass::Forbidden(_)));
        assert!(matches!(c("fd00:ec2::254"), AddressClass::Metadata(_)));
        assert!(matches!(c("2001:10::1"), AddressClass::Forbidden(_)));
    }
}
