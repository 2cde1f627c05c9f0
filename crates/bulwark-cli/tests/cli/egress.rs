//! `bulwark egress check` and proxy client tokens.

use super::*;

#[test]
fn egress_check_decides_and_exits() {
    // Address literals need no DNS.
    let o = run(bulwark().args(["egress", "check", "http://0x7f.1/"]), b"");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stdout(&o).contains("private_address"), "{}", stdout(&o));
    let o = run(
        bulwark().args([
            "egress",
            "check",
            "--format",
            "json",
            "http://[::ffff:a9fe:a9fe]/x",
        ]),
        b"",
    );
    assert_eq!(code(&o), 1);
    let v = json(&o);
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reason"], "metadata_endpoint");
    assert_eq!(v["host"], "[::ffff:169.254.169.254]");

    // --resolve pins the answer; the canonical host is matched (case, trailing dot, IDNA).
    let o = run(
        bulwark().args([
            "egress",
            "check",
            "--format",
            "json",
            "--resolve",
            "bücher.example:443:93.184.215.14",
            "https://BÜCHER.example./a",
        ]),
        b"",
    );
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["host"], "xn--bcher-kva.example");
    assert_eq!(v["addresses"][0], "93.184.215.14");

    // A rebinding answer, a name left out of --resolve (no DNS is used), an invalid URL; then usage
    // errors, which exit 2 and say what is expected on stderr.
    for (args, want, needle) in [
        (
            &[
                "--resolve",
                "a.example:*:93.184.215.14,127.0.0.1",
                "http://a.example/",
            ][..],
            1,
            "mixed_answers",
        ),
        (
            &["--resolve", "a.example:443:8.8.8.8", "http://b.example/"][..],
            1,
            "unresolvable",
        ),
        (&["http://exa mple.com/"][..], 1, "invalid_url"),
        (
            &["--resolve", "nonsense", "http://a/"][..],
            2,
            "HOST:PORT:ADDR",
        ),
        (
            &["--profile", "nope", "http://a/"][..],
            2,
            "no such egress profile",
        ),
    ] {
        let o = run(bulwark().args(["egress", "check"]).args(args), b"");
        assert_eq!(code(&o), want, "{args:?}: {o:?}");
        let out = if want == 2 {
            String::from_utf8_lossy(&o.stderr).into_owned()
        } else {
            stdout(&o)
        };
        assert!(out.contains(needle), "{args:?}: {out}");
    }

    // Profiles from the configuration, and an invalid URL.
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bulwark.toml");
    std::fs::write(
        &cfg,
        "[egress.profiles.docs]\nallow_domains = [\"*.python.org\"]\n",
    )
    .expect("write");
    let o = run(
        bulwark().args([
            "--config",
            cfg.to_str().expect("path"),
            "egress",
            "check",
            "--profile",
            "docs",
            "--resolve",
            "pypi.org:443:151.101.0.223",
            "https://pypi.org/",
        ]),
        b"",
    );
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("not_allowlisted"), "{}", stdout(&o));
}

#[test]
fn egress_client_token_round_trips_through_config_check() {
    let o = run(
        bulwark().args([
            "egress",
            "client-token",
            "--name",
            "crawler",
            "--format",
            "json",
        ]),
        b"",
    );
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    let token = v["token"].as_str().expect("token");
    assert!(token.len() >= 43);
    let hash = v["token_sha256"].as_str().expect("hash");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bulwark.toml");
    std::fs::write(
        &cfg,
        format!(
            "[egress.proxy.clients.crawler]\nprofile = \"default\"\ntoken_sha256 = \"{hash}\"\n"
        ),
    )
    .expect("write");
    let o = run(
        bulwark().args(["config", "check", cfg.to_str().expect("path")]),
        b"",
    );
    assert_eq!(code(&o), 0, "{o:?}");
    std::fs::write(
        &cfg,
        "[egress.proxy.clients.crawler]\nprofile = \"missing\"\ntoken_sha256 = \"00\"\n",
    )
    .expect("write");
    let o = run(
        bulwark().args(["config", "check", cfg.to_str().expect("path")]),
        b"",
    );
    assert_eq!(code(&o), 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("egress.proxy.clients.crawler.profile"),
        "{o:?}"
    );
}
