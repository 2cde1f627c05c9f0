//! `bulwark config init|check|schema`, shell completions and the manual page.

use super::*;

#[test]
fn config_init_check_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    // A misspelt override is an error naming it and the key it resembles, for every command.
    for args in [&["config", "check"][..], &["scan", "-"][..]] {
        let o = run(
            bulwark()
                .env("BULWARK_HOME", &home)
                .env("BULWARK_SCAN_PII_EMIAL", "false")
                .args(args),
            b"hello",
        );
        assert_eq!(code(&o), 2, "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("BULWARK_SCAN_PII_EMIAL")
                && err.contains("did you mean BULWARK_SCAN_PII_EMAIL"),
            "{err}"
        );
    }
    let o = run(
        bulwark()
            .env("BULWARK_HOME", &home)
            .args(["config", "init"]),
        b"",
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let file = home.join("bulwark.toml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(&home).expect("meta").permissions().mode() & 0o777,
            0o700
        );
    }
    assert_eq!(
        code(&run(
            bulwark()
                .env("BULWARK_HOME", &home)
                .args(["config", "init"]),
            b""
        )),
        2,
        "no overwrite"
    );
    let o = run(
        bulwark()
            .env("BULWARK_HOME", &home)
            .args(["config", "check"]),
        b"",
    );
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("is valid"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[scan]\nenabled = true\n[scan.pii]\nemial = false\n").expect("write");
    let o = run(bulwark().args(["config", "check"]).arg(&bad), b"");
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(":4:") && err.contains("emial") && err.contains("scan.pii"),
        "{err}"
    );
    std::fs::write(&bad, "[scan.pii]\nemail = false\n").expect("write");
    let o = run(bulwark().args(["config", "check"]).arg(&bad), b"");
    assert!(
        stdout(&o).contains("scan.pii.email = false"),
        "check explains what is off"
    );
    let o = run(bulwark().args(["config", "schema"]), b"");
    let v = json(&o);
    assert!(v.to_string().contains("max_file_bytes"));
    // A bad file given to any command stops it with exit 2.
    std::fs::write(&bad, "[scan]\nblock_at = \"never\"\n").expect("write");
    assert_eq!(
        code(&run(bulwark().arg("--config").arg(&bad).arg("scan"), b"x")),
        2
    );
}

/// `bulwark completions bash` is a script bash loads and completes with (subcommands at every
/// depth); zsh and fish scripts and the manual page are produced too.
#[cfg(unix)]
#[test]
fn completions_and_the_manual_page() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let script = h.join("bulwark.bash");
    let o = run(in_home(h).args(["completions", "bash"]), b"");
    assert_eq!(code(&o), 0, "{o:?}");
    std::fs::write(&script, &o.stdout).expect("script");
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let program = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}; _bulwark bulwark {} {}; echo \"${{COMPREPLY[@]}}\"",
            script.display(),
            words.join(" "),
            words.len() - 1,
            line.len(),
            words[words.len() - 1],
            words[words.len() - 2],
        );
        let o = Command::new("bash")
            .args(["-c", &program])
            .output()
            .expect("bash");
        stdout(&o).trim().to_string()
    };
    assert_eq!(complete("bulwark sc"), "scan");
    assert_eq!(complete("bulwark audit ve"), "verify");
    assert_eq!(complete("bulwark approvals co"), "consume");
    for shell in ["zsh", "fish"] {
        let o = run(in_home(h).args(["completions", shell]), b"");
        assert_eq!(code(&o), 0, "{o:?}");
        assert!(stdout(&o).contains("supply-chain"), "{shell}");
    }
    let o = run(in_home(h).arg("man"), b"");
    assert_eq!(code(&o), 0, "{o:?}");
    let page = stdout(&o);
    assert!(page.contains(".TH bulwark 1"), "{page}");
    assert!(page.contains("security guardian for AI agents"), "{page}");
}
