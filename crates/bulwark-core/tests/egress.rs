//! The egress guard on hostile input: the SSRF corpora in `$BULWARK_CORPORA/ssrf` (skipped with a
//! notice when unset), DNS rebinding, and every textual form of forbidden IPv4 addresses.
//!
//! Tables: `BULWARK_CORPORA=../shared/corpora cargo test -p bulwark-core --test egress -- --nocapture`

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use bulwark_core::SecurityConfig;
use bulwark_core::egress::{
    Decision, EgressDecision, EgressGuard, EgressPolicy, Reason, ResolveError, Resolver,
    StaticResolver,
};
use proptest::prelude::*;
use serde_json::Value;

fn corpora() -> Option<PathBuf> {
    match std::env::var_os("BULWARK_CORPORA") {
        Some(p) => Some(PathBuf::from(p).join("ssrf")),
        None => {
            eprintln!("BULWARK_CORPORA is unset: skipping the SSRF corpus tests (CI sets it)");
            None
        }
    }
}

fn jsonl(path: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line: {e}")))
        .collect()
}

fn guard(toml_text: &str) -> EgressGuard {
    let cfg = SecurityConfig::from_toml(toml_text, "test").expect("config");
    EgressGuard::from_config(&cfg.egress).expect("guard")
}

/// A public address standing for "somewhere on the internet".
const PUBLIC: Ipv4Addr = Ipv4Addr::new(93, 184, 215, 14);

/// The corpora's names, answered without DNS: `A.B.C.D.nip.io` is A.B.C.D (as the real service
/// answers), `localhost` is loopback, metadata names are the metadata address, anything else is a
/// public address. A name that is not a host name at all does not resolve.
struct CorpusResolver;

impl Resolver for CorpusResolver {
    fn resolve(&self, host: &str, _port: u16) -> Result<Vec<IpAddr>, ResolveError> {
        if let Some(ip) = host
            .strip_suffix(".nip.io")
            .and_then(|h| h.parse::<Ipv4Addr>().ok())
        {
            return Ok(vec![IpAddr::V4(ip)]);
        }
        if host == "localhost" {
            return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
        }
        if host.starts_with("metadata") {
            return Ok(vec![IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254))]);
        }
        if host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        {
            return Ok(vec![IpAddr::V4(PUBLIC)]);
        }
        Err(ResolveError(format!("{host:?} is not a host name")))
    }
}

/// Independent of the guard's tables: is this IPv4 address globally reachable unicast? Built from
/// the standard library's predicates and the RFC blocks they lack.
fn independent_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (64..128).contains(&o[1]))
        || (o[0] == 198 && (18..20).contains(&o[1]))
        || o[0] >= 240
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 192 && o[1] == 88 && o[2] == 99))
}

/// Independent of the guard: is this IPv6 address globally reachable, with IPv4-mapped and
/// IPv4-compatible addresses judged by the IPv4 address they reach?
fn independent_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return independent_public_v4(v4);
    }
    if ip.is_loopback() || ip.is_unspecified() {
        return false;
    }
    if let Some(v4) = ip.to_ipv4() {
        return independent_public_v4(v4);
    }
    let s = ip.segments();
    // Only 2000::/3 is allocated for global unicast; documentation 2001:db8::/32 is not public.
    (s[0] & 0xe000) == 0x2000 && !(s[0] == 0x2001 && s[1] == 0x0db8)
}

fn independent_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => independent_public_v4(v),
        IpAddr::V6(v) => independent_public_v6(v),
    }
}

/// The URL a labelled row stands for.
fn row_url(input: &str, kind: &str) -> String {
    match kind {
        "url" => input.to_string(),
        "hostport" => format!("http://{input}/"),
        _ => {
            let bare = input.trim_start_matches('[').trim_end_matches(']');
            if bare.contains(':') {
                format!("http://[{bare}]/")
            } else {
                format!("http://{bare}/")
            }
        }
    }
}

/// Rows where a source's semantics differ from this guard's, each with the reason. The test fails
/// if one of these stops differing (the list must stay true).
const DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "frenchbread",
        "226.84.185.150",
        "private-ip counts multicast (224/4) as public; Bulwark denies it",
    ),
    (
        "frenchbread",
        "227.202.96.196",
        "private-ip counts multicast (224/4) as public; Bulwark denies it",
    ),
    (
        "frenchbread",
        "::1fff:0.0.0.0",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "::1fff:10.0.0.0",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "::1fff:0:0.0.0.0",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "::1fff:0:10.0.0.0",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "2001:2:ffff:ffff:ffff:ffff:ffff:ffff",
        "in 2001::/23, IETF protocol assignments, not globally reachable (IANA)",
    ),
    (
        "frenchbread",
        "64:ff9a::0.0.0.0",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "64:ff9a::255.255.255.255",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "99::",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "99::ffff:ffff:ffff:ffff",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "101::",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "101::ffff:ffff:ffff:ffff",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "2001:10::",
        "in 2001::/23 (deprecated ORCHID), not globally reachable (IANA)",
    ),
    (
        "frenchbread",
        "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff",
        "in 2001::/23 (deprecated ORCHID), not globally reachable (IANA)",
    ),
    (
        "frenchbread",
        "fb00::",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "frenchbread",
        "fec0::",
        "site-local fec0::/10 is deprecated, not public; Bulwark denies it",
    ),
    (
        "frenchbread",
        "64:ff9b::16.10.11.1",
        "private-ip denies all of NAT64; Bulwark judges the embedded 16.10.11.1 (public)",
    ),
    (
        "daenney",
        "[::ffff:129.144.52.38]:80",
        "daenney denies every IPv4-mapped address; Bulwark judges the 129.144.52.38 it reaches (public)",
    ),
    (
        "smokescreen",
        "[64:ff9b::808:808]",
        "smokescreen denies all of NAT64; Bulwark judges the embedded 8.8.8.8 (public)",
    ),
    (
        "smokescreen",
        "[2002:808:808::1]",
        "smokescreen denies all of 6to4; Bulwark judges the embedded 8.8.8.8 (public)",
    ),
    (
        "smokescreen",
        "[64:ff9c::1]",
        "outside 2000::/3, the only block allocated for global unicast",
    ),
    (
        "smokescreen",
        "10.0.0.1",
        "port 321: smokescreen's test opens it by a rule the corpus does not record",
    ),
    (
        "arkadiyt",
        "64:ff9b:1:808:8:800::",
        "the local-use NAT64 prefix 64:ff9b:1::/48 is denied whatever it embeds",
    ),
];

fn smokescreen_guard() -> EgressGuard {
    let mut g = guard(
        "[egress]\nports = [\"*\"]\n\
         allow_cidrs = [\"8.8.9.0/24\", \"10.0.1.0/24\", \"172.16.1.0/24\", \"192.168.1.0/24\", \"127.0.1.0/24\"]\n\
         deny_cidrs = [\"1.1.1.1/32\", \"8.8.8.8/32:321\"]\n",
    );
    g.set_self_addresses(&[
        "127.0.0.1:4750".parse().expect("addr"),
        "192.168.1.100:4750".parse().expect("addr"),
        "[::1]:4750".parse().expect("addr"),
    ]);
    g
}

fn note_port(note: &str) -> Option<u16> {
    note.split_whitespace()
        .find_map(|w| w.strip_prefix("port="))
        .and_then(|p| p.parse().ok())
}

#[test]
fn labelled_vectors() {
    let Some(dir) = corpora() else { return };
    let rows = jsonl(&dir.join("labelled.jsonl"));
    assert!(rows.len() >= 280, "labelled.jsonl has {} rows", rows.len());
    let default = guard("");
    let any_port = guard("[egress]\nports = [\"*\"]\n");
    let daenney = guard("[egress]\nports = [80, 443]\n");
    let smoke = smokescreen_guard();
    // source -> (rows, agree, documented deviations)
    let mut table: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut used = vec![false; DEVIATIONS.len()];
    let mut failures = Vec::new();
    for row in &rows {
        let input = row["input"].as_str().expect("input");
        let kind = row["kind"].as_str().expect("kind");
        let expect = row["expect"].as_str().expect("expect");
        let source = row["source"].as_str().expect("source");
        let note = row["note"].as_str().unwrap_or("");
        let short = source.split(['/', ' ']).nth(1).unwrap_or(source);
        let mut url = row_url(input, kind);
        let policy: &EgressPolicy = if source.starts_with("stripe/smokescreen") {
            if let Some(p) = note_port(note) {
                let bare = input.trim_start_matches('[').trim_end_matches(']');
                url = if bare.contains(':') {
                    format!("http://[{bare}]:{p}/")
                } else {
                    format!("http://{bare}:{p}/")
                };
            }
            smoke.policy(None).expect("policy")
        } else if source.starts_with("daenney") {
            daenney.policy(None).expect("policy")
        } else if kind == "url" {
            // Judge the address, not the test's port 12456.
            any_port.policy(None).expect("policy")
        } else {
            default.policy(None).expect("policy")
        };
        let mut d = policy.check_url(&url, &CorpusResolver);
        // A redirect is the client's to follow: the new request is checked again.
        if let Some(target) = note.split("redirect to ").nth(1) {
            assert!(d.is_allowed(), "{url} itself is public: {d:?}");
            d = policy.check_url(target.trim(), &CorpusResolver);
        }
        let got = if d.is_allowed() { "allow" } else { "block" };
        let entry = table.entry(short.to_string()).or_default();
        entry.0 += 1;
        if got == expect {
            entry.1 += 1;
            if kind == "url" && expect == "block" {
                assert_ne!(d.reason(), Reason::PortNotAllowed, "{url}");
            }
            continue;
        }
        match DEVIATIONS
            .iter()
            .position(|(s, i, _)| source.contains(s) && *i == input)
        {
            Some(i) => {
                used[i] = true;
                entry.2 += 1;
            }
            None => failures.push(format!("{source}: {url}: expected {expect}, got {d:?}")),
        }
    }
    println!("\n| source | rows | agree | documented deviations |\n|---|---:|---:|---:|");
    for (s, (n, a, dev)) in &table {
        println!("| {s} | {n} | {a} | {dev} |");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (i, u) in used.iter().enumerate() {
        assert!(
            u,
            "stale deviation (the guard now agrees): {:?}",
            DEVIATIONS[i]
        );
    }
}

/// The host a client would connect to, computed with the WHATWG parser but judged without the
/// guard: `None` when the URL does not parse for a network scheme.
fn connected(url: &str) -> Option<(String, Option<IpAddr>)> {
    let u = url::Url::parse(url).ok()?;
    let ip = match u.host()? {
        url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
        url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
        url::Host::Domain(d) => CorpusResolver
            .resolve(d.trim_end_matches('.'), 80)
            .ok()
            .and_then(|a| a.first().copied()),
    };
    Some((u.scheme().to_string(), ip))
}

#[test]
fn payload_urls() {
    let Some(dir) = corpora() else { return };
    let rows = jsonl(&dir.join("payload_urls.jsonl"));
    assert!(
        rows.len() >= 800,
        "payload_urls.jsonl has {} rows",
        rows.len()
    );
    let g = guard("[egress]\nports = [\"*\"]\n");
    let policy = g.policy(None).expect("policy");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for row in &rows {
        let url = row["url"].as_str().expect("url");
        let d: EgressDecision = policy.check_url(url, &CorpusResolver);
        *reasons.entry(d.reason().as_str()).or_default() += 1;
        let class = match connected(url) {
            None => "does not parse",
            Some((scheme, _)) if scheme != "http" && scheme != "https" => "other scheme",
            Some((_, None)) => "name that does not resolve",
            Some((_, Some(ip))) if independent_public(ip) => "public host",
            Some((_, Some(_))) => "non-public host",
        };
        *counts.entry(class).or_default() += 1;
        if std::env::var_os("BULWARK_EVAL_VERBOSE").is_some() {
            println!("{class}\t{}\t{url}", d.reason().as_str());
        }
        if class != "public host" && d.decision() != Decision::Deny {
            failures.push(format!("{url} ({class}) allowed: {d:?}"));
        }
    }
    println!("\n| connected host (computed independently) | URLs |\n|---|---:|");
    for (c, n) in &counts {
        println!("| {c} | {n} |");
    }
    println!("\n| guard reason | URLs |\n|---|---:|");
    for (r, n) in &reasons {
        println!("| {r} | {n} |");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(counts.get("non-public host").copied().unwrap_or(0) >= 450);
}

#[test]
fn blocklist_prefixes_are_denied() {
    let Some(dir) = corpora() else { return };
    let text = std::fs::read_to_string(dir.join("blocklist_prefixes.json")).expect("read");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let policy_guard = guard("");
    let policy = policy_guard.policy(None).expect("policy");
    let r = StaticResolver::new();
    let mut checked = 0;
    for (list, entries) in doc.as_object().expect("object") {
        for e in entries.as_array().expect("array") {
            let prefix = e.get("prefix").unwrap_or(e).as_str().expect("prefix");
            let net: ipnet::IpNet = prefix.parse().expect("prefix");
            // daenney lists 2000::/3 as the global-unicast block it allows, and denies NAT64 and
            // 6to4 wholesale where Bulwark judges the embedded address.
            if ["2000::/3", "64:ff9b::/96", "2002::/16"].contains(&prefix) {
                continue;
            }
            for ip in [net.network(), net.broadcast()] {
                let url = match ip {
                    IpAddr::V4(a) => format!("http://{a}/"),
                    IpAddr::V6(a) => format!("http://[{a}]/"),
                };
                let d = policy.check_url(&url, &r);
                assert_eq!(
                    d.decision(),
                    Decision::Deny,
                    "{list} {prefix}: {url}: {d:?}"
                );
                checked += 1;
            }
        }
    }
    println!("blocklist prefixes: {checked} boundary addresses denied");
    assert!(checked >= 70);
}

#[test]
fn rebinding_answers_are_denied() {
    let g = guard("");
    let p = g.policy(None).expect("policy");
    let mut r = StaticResolver::new();
    r.add_entry("rebind.example:*:93.184.215.14,127.0.0.1")
        .expect("entry");
    r.add_entry("rebind6.example:*:2606:4700::1,[::ffff:10.0.0.1]")
        .expect("entry");
    r.add_entry("meta.example:*:93.184.215.14,169.254.169.254")
        .expect("entry");
    for host in ["rebind.example", "rebind6.example", "meta.example"] {
        let d = p.check_url(&format!("https://{host}/"), &r);
        assert_eq!(d.reason(), Reason::MixedAnswers, "{host}: {d:?}");
        assert!(d.addresses().is_empty());
    }
    // A name whose every answer is forbidden is denied for what it reaches.
    r.add_entry("evil.example:*:127.0.0.1").expect("entry");
    assert_eq!(
        p.check_url("https://evil.example/", &r).reason(),
        Reason::PrivateAddress
    );
}

/// Forbidden IPv4 blocks, listed here independently of the guard's table.
const FORBIDDEN: &[(u32, u8)] = &[
    (0x0000_0000, 8),
    (0x0a00_0000, 8),
    (0x6440_0000, 10),
    (0x7f00_0000, 8),
    (0xa9fe_0000, 16),
    (0xac10_0000, 12),
    (0xc000_0000, 24),
    (0xc000_0200, 24),
    (0xc058_6300, 24),
    (0xc0a8_0000, 16),
    (0xc612_0000, 15),
    (0xc633_6400, 24),
    (0xcb00_7100, 24),
    (0xe000_0000, 4),
    (0xf000_0000, 4),
];

fn forbidden_v4() -> impl Strategy<Value = Ipv4Addr> {
    (0..FORBIDDEN.len(), any::<u32>()).prop_map(|(i, r)| {
        let (base, len) = FORBIDDEN[i];
        let host_mask = if len == 0 { u32::MAX } else { u32::MAX >> len };
        Ipv4Addr::from(base | (r & host_mask))
    })
}

/// Every way a client may write `ip` in a URL host.
fn textual_forms(ip: Ipv4Addr) -> Vec<String> {
    let [a, b, c, d] = ip.octets();
    let n = u32::from(ip);
    let (hi, lo) = (n >> 16, n & 0xffff);
    vec![
        format!("{a}.{b}.{c}.{d}"),
        format!("{n}"),
        format!("0x{n:x}"),
        format!("0{n:o}"),
        format!("0{a:o}.0{b:o}.0{c:o}.0{d:o}"),
        format!("0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}"),
        format!("{a}.{b}.{}", (u32::from(c) << 8) | u32::from(d)),
        format!("{a}.{}", n & 0x00ff_ffff),
        format!("0x{a:X}.{b}.0{c:o}.{d}"),
        format!("[::ffff:{a}.{b}.{c}.{d}]"),
        format!("[::ffff:{hi:x}:{lo:x}]"),
        format!("[0:0:0:0:0:ffff:{a}.{b}.{c}.{d}]"),
        format!("[::{a}.{b}.{c}.{d}]"),
        format!("[::ffff:0:{a}.{b}.{c}.{d}]"),
        format!("[64:ff9b::{hi:x}:{lo:x}]"),
        format!("[2002:{hi:x}:{lo:x}::1]"),
        format!(
            "[2001:0:4136:e378:8000:63bf:{:x}:{:x}]",
            !hi & 0xffff,
            !lo & 0xffff
        ),
        format!("{a}\u{ff0e}{b}\u{ff0e}{c}\u{ff0e}{d}"),
        format!("user:pw@{a}.{b}.{c}.{d}"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn forbidden_ipv4_is_denied_in_every_form(ip in forbidden_v4()) {
        prop_assume!(!independent_public_v4(ip));
        let g = guard("[egress]\nports = [\"*\"]\n");
        let p = g.policy(None).expect("policy");
        let r = StaticResolver::new();
        for form in textual_forms(ip) {
            let url = format!("http://{form}/x");
            let d = p.check_url(&url, &r);
            prop_assert_eq!(d.decision(), Decision::Deny, "{} ({}): {:?}", url, ip, d);
        }
    }

    #[test]
    fn public_ipv4_is_allowed_in_every_form(n in any::<u32>()) {
        let ip = Ipv4Addr::from(n);
        prop_assume!(independent_public_v4(ip) && ip != Ipv4Addr::new(168, 63, 129, 16));
        let g = guard("");
        let p = g.policy(None).expect("policy");
        let r = StaticResolver::new();
        for form in textual_forms(ip) {
            let url = format!("http://{form}/x");
            let d = p.check_url(&url, &r);
            prop_assert_eq!(d.decision(), Decision::Allow, "{} ({}): {:?}", url, ip, d);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,60}") {
        let g = guard("");
        let p = g.policy(None).expect("policy");
        let r = StaticResolver::new();
        let _ = p.check_url(&s, &r);
        let _ = p.check_url(&format!("http://{s}/"), &r);
        let _ = p.plan_authority(&s);
    }
}
