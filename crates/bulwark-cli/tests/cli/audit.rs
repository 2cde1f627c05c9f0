//! `bulwark audit`: append, verify (with the HMAC key or the public key alone), tamper, export, recover, both backends.

use super::*;

#[test]
fn audit_append_verify_tamper_tail_export_recover() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = |args: &[&str]| {
        let mut c = bulwark();
        c.env("BULWARK_HOME", home.path()).args(args);
        run(&mut c, b"")
    };
    for i in 0..3 {
        let o = h(&[
            "audit",
            "append",
            "--type",
            "custom",
            "--actor",
            "ops",
            "--action",
            "deploy",
            "--resource",
            &format!("svc-{i}"),
            "--details",
            r#"{"key": "AKIALALEMEL33243OLIB"}"#,
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
    }
    let o = h(&["audit", "verify", "--format", "json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["records"], 3);
    assert_eq!(v["macs_checked"], true);
    assert_eq!(v["signatures_checked"], true);

    let o = h(&["audit", "tail", "-n", "2"]);
    let out = stdout(&o);
    assert!(
        out.contains("svc-1") && out.contains("svc-2") && !out.contains("svc-0"),
        "{out}"
    );
    let o = h(&["audit", "export", "--since", "1h"]);
    let exported = stdout(&o);
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(
        !lines[0].contains("AKIALALEMEL33243OLIB"),
        "details are redacted"
    );
    let o = h(&["audit", "export", "--since", "2999-01-01T00:00:00Z"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(
        code(&h(&["audit", "export", "--since", "yesterday-ish"])),
        2
    );
    assert_eq!(
        code(&h(&[
            "audit",
            "append",
            "--type",
            "nope",
            "--actor",
            "a",
            "--action",
            "b",
            "--resource",
            "c"
        ])),
        2
    );

    // A torn tail: reported as such, refused without --yes off a terminal, then recovered.
    let seg = home.path().join("audit/segments/00000001.jsonl");
    let mut text = std::fs::read_to_string(&seg).expect("read");
    let clean = text.clone();
    text.push_str("{\"seq\":4,\"times");
    std::fs::write(&seg, &text).expect("write");
    let o = h(&["audit", "verify"]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("torn_tail"), "{}", stdout(&o));
    assert_eq!(code(&h(&["audit", "recover"])), 2);
    let o = h(&["audit", "recover", "--yes"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(stdout(&o).contains("removed 15 bytes"), "{}", stdout(&o));
    assert_eq!(code(&h(&["audit", "verify"])), 0);

    // Tampering: a changed record is named.
    let now = std::fs::read_to_string(&seg).expect("read");
    assert!(now.starts_with(&clean));
    std::fs::write(&seg, now.replacen("svc-1", "svc-9", 1)).expect("write");
    let o = h(&["audit", "verify"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("modified") && stdout(&o).contains("record 2"),
        "{}",
        stdout(&o)
    );
    // ...and nothing is appended to a damaged log.
    assert_eq!(
        code(&h(&[
            "audit",
            "append",
            "--type",
            "custom",
            "--actor",
            "a",
            "--action",
            "b",
            "--resource",
            "c"
        ])),
        2
    );
}

#[test]
fn audit_open_verify_since_checkpoint_keeps_writers_fast_and_verify_complete() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = |mode: &str, args: &[&str]| {
        let mut c = bulwark();
        c.env("BULWARK_HOME", home.path())
            .env("BULWARK_AUDIT_OPEN_VERIFY", mode)
            .args(args);
        run(&mut c, b"")
    };
    let append = |mode: &str, what: &str| {
        h(
            mode,
            &[
                "audit",
                "append",
                "--type",
                "custom",
                "--actor",
                "ops",
                "--action",
                "deploy",
                "--resource",
                what,
            ],
        )
    };
    for i in 0..4 {
        assert_eq!(code(&append("full", &format!("svc-{i}"))), 0);
    }
    // An old record is changed (each command closes the log with a signed checkpoint).
    let seg = home.path().join("audit/segments/00000001.jsonl");
    let text = std::fs::read_to_string(&seg).expect("segment");
    std::fs::write(&seg, text.replacen("svc-1", "svc-X", 1)).expect("tamper");
    // full refuses to append; since_checkpoint appends (the damage is before its checkpoint)...
    let o = append("full", "after");
    assert_eq!(code(&o), 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not verify"),
        "{o:?}"
    );
    assert_eq!(code(&append("since_checkpoint", "after")), 0);
    // ...and `audit verify` still checks everything, whatever the mode.
    let o = h("since_checkpoint", &["audit", "verify", "--format", "json"]);
    assert_eq!(code(&o), 1, "{o:?}");
    assert_eq!(json(&o)["failure"]["kind"], "modified");
    // `config check` says what the mode gives up.
    let o = h("since_checkpoint", &["config", "check"]);
    assert!(stdout(&o).contains("audit.open_verify"), "{o:?}");
}

#[test]
fn audit_with_the_sqlite_backend() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = |args: &[&str]| {
        let mut c = bulwark();
        c.env("BULWARK_HOME", home.path())
            .env("BULWARK_AUDIT_BACKEND", "sqlite")
            .args(args);
        run(&mut c, b"")
    };
    for i in 0..3 {
        let o = h(&[
            "audit",
            "append",
            "--type",
            "auth",
            "--actor",
            "ci",
            "--action",
            "login",
            "--resource",
            &format!("user-{i}"),
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
    }
    assert!(home.path().join("audit.db").is_file());
    let o = h(&["audit", "verify", "--format", "json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(json(&o)["records"], 3);
    // --db names a database explicitly, whatever the configuration says.
    let mut c = bulwark();
    c.env("BULWARK_HOME", home.path()).args([
        "audit",
        "verify",
        "--db",
        home.path().join("audit.db").to_str().expect("path"),
    ]);
    assert_eq!(code(&run(&mut c, b"")), 0);
    let o = h(&["audit", "tail", "-n", "1"]);
    assert!(
        stdout(&o).contains("user-2") && !stdout(&o).contains("user-1"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        stdout(&h(&["audit", "export", "--since", "1h"]))
            .lines()
            .count(),
        3
    );
    let o = h(&["audit", "recover", "--yes"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("atomic"));
}

/// An auditor with only the public key cannot be told a forged log verified: records no signed
/// checkpoint covers make `audit verify --public-key` exit 3 and say so, and a damaged checkpoints
/// file is a verification failure (exit 1, with the JSON report), not a usage error.
#[test]
fn public_key_verification_does_not_vouch_for_what_it_cannot_check() {
    let writer = tempfile::tempdir().expect("writer");
    let forger = tempfile::tempdir().expect("forger");
    let auditor = tempfile::tempdir().expect("auditor");
    let append = |home: &Path, actor: &str| {
        let o = run(
            in_home(home).args([
                "audit",
                "append",
                "--type",
                "custom",
                "--actor",
                actor,
                "--action",
                "note",
                "--resource",
                "r",
                "--outcome",
                "ok",
            ]),
            b"",
        );
        assert_eq!(code(&o), 0, "{o:?}");
    };
    for who in ["a", "b", "c"] {
        append(writer.path(), who);
        append(forger.path(), who);
    }
    let public = writer.path().join("keys/audit-signing.pub");
    let verify = |dir: &Path, format: &str| {
        run(
            in_home(auditor.path())
                .args(["audit", "verify", "--format", format, "--path"])
                .arg(dir)
                .arg("--public-key")
                .arg(&public),
            b"",
        )
    };
    // The writer's own log, every record under a signed checkpoint: verified.
    let o = verify(&writer.path().join("audit"), "json");
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(json(&o)["unauthenticated"], 0, "{}", stdout(&o));
    assert_eq!(json(&o)["status"], "verified", "{}", stdout(&o));
    // A checkpoint line cut off at the end of the file (a crash while signing) is set aside with
    // a notice, never silently.
    let cps = writer.path().join("audit/checkpoints.jsonl");
    let whole = std::fs::read_to_string(&cps).expect("checkpoints");
    std::fs::write(&cps, format!("{whole}{{\"seq\": 3, \"hash\": \"ab")).expect("torn");
    let o = verify(&writer.path().join("audit"), "text");
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(
        stdout(&o).contains("notice: ") && stdout(&o).contains("checkpoint line is cut off"),
        "{}",
        stdout(&o)
    );
    let o = verify(&writer.path().join("audit"), "json");
    assert_eq!(
        json(&o)["notices"].as_array().map(Vec::len),
        Some(1),
        "{}",
        stdout(&o)
    );
    // Damage is not a crash: checkpoints joined by `\r` into one unterminated line, or a byte
    // that is not UTF-8, fail verification (exit 1, with the JSON report).
    std::fs::write(&cps, whole.replace('\n', "\r")).expect("joined");
    let o = verify(&writer.path().join("audit"), "json");
    assert_eq!(code(&o), 1, "{o:?}");
    assert_eq!(json(&o)["status"], "failed", "{}", stdout(&o));
    let mut bad = whole.clone().into_bytes();
    bad.insert(5, 0xFF);
    std::fs::write(&cps, bad).expect("byte");
    let o = verify(&writer.path().join("audit"), "json");
    assert_eq!(code(&o), 1, "{o:?}");
    assert_eq!(json(&o)["failure"]["kind"], "malformed", "{}", stdout(&o));
    std::fs::write(&cps, &whole).expect("restore");
    // A log written with other keys, its checkpoints removed: linked, but nothing vouches for it.
    std::fs::remove_file(forger.path().join("audit/checkpoints.jsonl")).expect("rm");
    let o = verify(&forger.path().join("audit"), "text");
    assert_eq!(code(&o), 3, "{o:?}");
    assert!(
        stdout(&o).contains("INCOMPLETE: 3 record(s)"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("no checkpoint to check a signature of"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("could have been forged"),
        "{}",
        stdout(&o)
    );
    let o = verify(&forger.path().join("audit"), "json");
    assert_eq!(code(&o), 3, "{o:?}");
    // `ok` says the chain holds; `status` gives the conclusion the exit status gives.
    assert_eq!(json(&o)["status"], "incomplete");
    assert_eq!(json(&o)["unauthenticated"], 3);
    assert_eq!(json(&o)["authenticated_through"], 0);
    // The writer's log with its checkpoints file damaged in the middle: a failure, with JSON.
    let cps = writer.path().join("audit/checkpoints.jsonl");
    let text = std::fs::read_to_string(&cps).expect("checkpoints");
    std::fs::write(&cps, format!("{{not a checkpoint\n{text}")).expect("damage");
    let o = verify(&writer.path().join("audit"), "json");
    assert_eq!(code(&o), 1, "{o:?}");
    let v = json(&o);
    assert_eq!(v["ok"], false);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["failure"]["kind"], "malformed", "{v}");
    assert!(
        v["failure"]["location"]
            .as_str()
            .unwrap_or("")
            .ends_with("checkpoints.jsonl:1"),
        "{v}"
    );
}
