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
        assert_eq!(d.reason(), *reason, "{url}: {d:?}");
        assert_eq!(d.is_allowed(), !d.addresses().is_empty(), "{url}: {d:?}");
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
        assert_eq!(d.decision(), Decision::Deny, "{url}: {d:?}");
        assert!(
            matches!(d.reason(), Reason::PrivateAddress | Reason::EmbeddedAddress),
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
        d.addresses(),
        vec!["93.184.215.14".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(d.host(), Some("example.com"));
    // An allowance carries what a forwarding proxy sends: no second parse of the URL.
    r.add_entry("example.com:8080:93.184.215.14").unwrap();
    let d = check(&g, "http://user@Example.COM:8080/a/../b?q=1#frag", &r);
    let Outcome::Allow {
        target, addresses, ..
    } = d.outcome()
    else {
        panic!("{d:?}")
    };
    assert_eq!(
        (target.origin_form(), target.host_header(), target.port()),
        ("/b?q=1", "example.com:8080", 8080)
    );
    assert_eq!(addresses.len(), 1);
    let d = check(&g, "http://[2606:4700::1111]", &r);
    let t = d.target().unwrap();
    assert_eq!(
        (t.origin_form(), t.host_header()),
        ("/", "[2606:4700::1111]")
    );
    // A denial carries no address, whatever the reason.
    let d = check(&g, "https://nowhere.test/", &r);
    assert!(matches!(d.outcome(), Outcome::Deny { .. }) && d.addresses().is_empty());
    assert_eq!(
        serde_json::to_value(&d).unwrap()["addresses"],
        serde_json::json!([])
    );
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
            Plan::Decided(d) => assert_eq!(d.reason(), Reason::InvalidUrl, "{bad}"),
            Plan::Resolve(_) => panic!("{bad} accepted"),
        }
    }
    match p.plan_authority("127.0.0.1:443") {
        Plan::Decided(d) => assert_eq!(d.reason(), Reason::PrivateAddress),
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
