//! `bulwark vault`: encrypted entries, concurrent writers, key files, the terminal prompt, the OS keychain, `vault:` references.

use super::*;

/// Run `bulwark ARGS` on a terminal (`script` from util-linux) in home `h`, typing each line of
/// `typed` after a pause, with no passphrase in the environment. Returns what the terminal showed.
#[cfg(unix)]
fn on_terminal(h: &Path, args: &str, typed: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let bin = env!("CARGO_BIN_EXE_bulwark");
    let typing: String = typed
        .iter()
        .map(|t| format!("sleep 0.5; printf '{t}\\n'; "))
        .collect();
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "({typing}sleep 1) | script -qec '{bin} {args}' /dev/null"
        ))
        .env("BULWARK_HOME", h)
        .env("HOME", h)
        .env_remove("BULWARK_VAULT_PASSPHRASE")
        .env_remove("BULWARK_CONFIG");
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.output().expect("script")
}

#[test]
fn vault_stores_encrypted_secrets_and_detects_tampering() {
    let home = vault_home();
    let h = home.path();
    let o = run(
        in_home(h)
            .env_remove("BULWARK_VAULT_PASSPHRASE")
            .args(["vault", "init"]),
        b"",
    );
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("BULWARK_VAULT_PASSPHRASE"));
    assert_eq!(code(&run(vault_cmd(h, "pw-1").arg("init"), b"")), 0);
    assert_eq!(
        code(&run(vault_cmd(h, "pw-1").arg("init"), b"")),
        2,
        "a second init changes nothing"
    );
    assert_eq!(
        code(&run(
            vault_cmd(h, "pw-1").args(["set", "openai"]),
            b"sk-live-abc\n"
        )),
        0
    );
    assert_eq!(
        code(&run(
            vault_cmd(h, "pw-1").args(["set", "slack"]),
            b"xoxb-123"
        )),
        0
    );
    let file = h.join("vault.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("sk-live-abc") && !text.contains("xoxb-123"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let o = run(vault_cmd(h, "pw-1").args(["get", "openai"]), b"");
    assert_eq!(stdout(&o), "sk-live-abc");
    // Wrong passphrase: a clear error, nothing written.
    let before = std::fs::read(&file).unwrap();
    let o = run(vault_cmd(h, "pw-2").args(["set", "x"]), b"v");
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrong passphrase"));
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // The list shows names, never values; run passes secrets in the environment only.
    let o = run(vault_cmd(h, "pw-1").args(["list", "--format", "json"]), b"");
    assert!(stdout(&o).contains("\"openai\"") && !stdout(&o).contains("sk-live"));
    let o = run(
        vault_cmd(h, "pw-1").args([
            "run",
            "--env",
            "KEY=openai",
            "--",
            "sh",
            "-c",
            "test \"$KEY\" = sk-live-abc",
        ]),
        b"",
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).is_empty());
    // A flipped ciphertext byte names the entry; swapped ciphertexts are detected.
    let mut v: serde_json::Value = serde_json::from_slice(&before).unwrap();
    let ct = v["entries"]["openai"]["sealed"]["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    let mut flipped = ct.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    v["entries"]["openai"]["sealed"]["ciphertext"] = String::from_utf8(flipped).unwrap().into();
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = run(vault_cmd(h, "pw-1").args(["get", "openai"]), b"");
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"openai\""));
    let mut v: serde_json::Value = serde_json::from_slice(&before).unwrap();
    let a = v["entries"]["openai"]["sealed"].clone();
    v["entries"]["openai"]["sealed"] = v["entries"]["slack"]["sealed"].clone();
    v["entries"]["slack"]["sealed"] = a;
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(
        code(&run(vault_cmd(h, "pw-1").args(["get", "slack"]), b"")),
        2
    );
    std::fs::write(&file, &before).unwrap();
    // A crash between the temporary write and the rename leaves the old vault intact.
    std::fs::write(h.join("vault.tmp"), b"{half a vau").unwrap();
    assert_eq!(
        stdout(&run(vault_cmd(h, "pw-1").args(["get", "slack"]), b"")),
        "xoxb-123"
    );
    assert_eq!(
        code(&run(vault_cmd(h, "pw-1").args(["set", "third"]), b"3")),
        0
    );
    // Rotations keep the values.
    let o = run(
        vault_cmd(h, "pw-1")
            .env("BULWARK_VAULT_NEW_PASSPHRASE", "pw-new")
            .arg("rotate-key"),
        b"",
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        code(&run(vault_cmd(h, "pw-1").args(["get", "slack"]), b"")),
        2
    );
    assert_eq!(
        code(&run(vault_cmd(h, "pw-new").arg("rotate-data-key"), b"")),
        0
    );
    assert_eq!(
        stdout(&run(vault_cmd(h, "pw-new").args(["get", "slack"]), b"")),
        "xoxb-123"
    );
    // Every operation is in the audit log, without a value.
    let log = stdout(&run(
        in_home(h).args(["audit", "export", "--since", "1970-01-01T00:00:00Z"]),
        b"",
    ));
    assert!(
        log.contains("vault.set")
            && log.contains("vault.rotate_data_key")
            && log.contains("vault.run")
    );
    assert!(!log.contains("sk-live-abc") && !log.contains("xoxb-123"));
}

#[test]
fn vault_concurrent_writers_and_key_files() {
    let home = vault_home();
    let h = home.path();
    let key = h.join("vault.key");
    let o = run(
        in_home(h).args(["vault", "init", "--key-file"]).arg(&key),
        b"",
    );
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    // Two groups of processes set different entries at once: all of them are present.
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut c = in_home(h);
            c.args(["vault", "set", &format!("entry-{i}")])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = c.spawn().expect("spawn");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("value-{i}").as_bytes())
                .unwrap();
            child
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for i in 0..8 {
        let o = run(
            in_home(h).args(["vault", "get", &format!("entry-{i}")]),
            b"",
        );
        assert_eq!(stdout(&o), format!("value-{i}"));
    }
    // A key file others can read is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = run(in_home(h).args(["vault", "get", "entry-0"]), b"");
        assert_eq!(code(&o), 2);
        assert!(String::from_utf8_lossy(&o.stderr).contains("chmod 600"));
    }
}

/// PicoClaw's enc:// format, produced by Python's `cryptography` package (an independent
/// implementation): base64(salt | nonce | AES-256-GCM(key = HKDF-SHA256(ikm = HMAC-SHA256(
/// SHA-256(ssh key file), passphrase), salt, "picoclaw-credential-v1"))).
#[cfg(unix)]
#[test]
fn vault_asks_for_the_passphrase_on_a_terminal_without_echo() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("notice: `script` (util-linux) is missing: skipping the terminal prompt test");
        return;
    }
    let home = vault_home();
    let h = home.path();
    assert_eq!(code(&run(vault_cmd(h, "typed-pass").arg("init"), b"")), 0);
    assert_eq!(
        code(&run(
            vault_cmd(h, "typed-pass").args(["set", "openai"]),
            b"sk-from-vault"
        )),
        0
    );
    // `script` gives the command a terminal; the passphrase is typed there.
    let out = on_terminal(h, "vault get openai", &["typed-pass"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Vault passphrase:") && text.contains("sk-from-vault"),
        "{text:?}"
    );
    assert!(
        !text.contains("typed-pass"),
        "the passphrase must not be echoed: {text:?}"
    );
    // The value itself can be typed too (hidden), then the passphrase.
    let out = on_terminal(h, "vault set second", &["typed-value", "typed-pass"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Value for second:") && !text.contains("typed-value"),
        "{text:?}"
    );
    let o = run(vault_cmd(h, "typed-pass").args(["get", "second"]), b"");
    assert_eq!(stdout(&o), "typed-value");
    // Without a terminal and without the variable: a message that says what to do.
    let o = run(
        in_home(h)
            .env_remove("BULWARK_VAULT_PASSPHRASE")
            .args(["vault", "get", "openai"]),
        b"",
    );
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("BULWARK_VAULT_PASSPHRASE"));
    // With the audit key in the vault, a command on a terminal opens the vault for its audit
    // record too, with the passphrase typed once (no environment variable needed).
    let key = std::fs::read_to_string(h.join("keys/audit-hmac.keys")).unwrap();
    assert_eq!(
        code(&run(
            vault_cmd(h, "typed-pass").args(["set", "audit-hmac"]),
            key.trim().as_bytes()
        )),
        0
    );
    let toml = std::fs::read_to_string(h.join("bulwark.toml")).unwrap();
    std::fs::write(
        h.join("bulwark.toml"),
        format!("{toml}[audit]\nhmac_keys = \"vault:audit-hmac\"\n"),
    )
    .unwrap();
    std::fs::remove_file(h.join("keys/audit-hmac.keys")).unwrap();
    let out = on_terminal(h, "vault get openai", &["typed-pass"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.matches("Vault passphrase:").count() == 1 && text.contains("sk-from-vault"),
        "{text:?}"
    );
    assert!(out.status.success(), "{text:?}");
    assert!(!h.join("keys/audit-hmac.keys").exists());
    let o = run(vault_cmd(h, "typed-pass").args(["list"]), b"");
    assert_eq!(code(&o), 0, "{o:?}");
}

#[cfg(unix)]
#[test]
fn vault_init_falls_back_from_a_missing_keychain_with_a_message() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("notice: `script` (util-linux) is missing: skipping the keychain fallback test");
        return;
    }
    let home = vault_home();
    let h = home.path();
    // No Secret Service at this address: the keychain is missing, as on a server or in CI.
    let out = on_terminal(
        h,
        "vault init",
        &["pw-x", "pw-x"],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no OS keychain") && text.contains("falling back to a passphrase"),
        "{text:?}"
    );
    assert!(text.contains("created the vault"), "{text:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.join("vault.json")).unwrap()).unwrap();
    assert_eq!(v["kek"]["provider"], "passphrase");
    assert_eq!(code(&run(vault_cmd(h, "pw-x").args(["set", "k"]), b"v")), 0);
}

#[test]
fn vault_references_hold_the_audit_and_pseudonym_keys() {
    let home = vault_home();
    let h = home.path();
    let ok = |o: Output| {
        assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
        o
    };
    ok(run(vault_cmd(h, "pw").arg("init"), b""));
    // The log so far is sealed with the key file: move that key into the vault, then remove it.
    let key_file = h.join("keys/audit-hmac.keys");
    let first_key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();
    ok(run(
        vault_cmd(h, "pw").args(["set", "audit-hmac"]),
        first_key.as_bytes(),
    ));
    ok(run(
        vault_cmd(h, "pw").args(["set", "pseudo"]),
        b"pseudonym key from the vault",
    ));
    // The entries exist; now the configuration points at them.
    let base = std::fs::read_to_string(h.join("bulwark.toml")).unwrap();
    let with =
        |extra: &str| std::fs::write(h.join("bulwark.toml"), format!("{base}{extra}")).unwrap();
    with(
        "[audit]\nhmac_keys = \"vault:audit-hmac\"\n[redact]\npii = \"pseudonym\"\npseudonym_key = \"vault:pseudo\"\n",
    );
    std::fs::remove_file(&key_file).unwrap();
    let redact = |env_key: &str| {
        let mut c = in_home(h);
        c.env("BULWARK_VAULT_PASSPHRASE", "pw")
            .env("BULWARK_PSEUDONYM_KEY", env_key)
            .arg("redact");
        run(&mut c, b"mail alice@example.com\n")
    };
    // The vault's key wins over the environment's; with the same key in the environment and no
    // vault reference, the token is the same.
    let from_vault = stdout(&ok(redact("another key, not the vault's")));
    assert!(!from_vault.contains("alice@"), "{from_vault}");
    with("[audit]\nhmac_keys = \"vault:audit-hmac\"\n[redact]\npii = \"pseudonym\"\n");
    let from_env = stdout(&ok(redact("pseudonym key from the vault")));
    assert_eq!(from_vault, from_env);
    // A reference to a missing entry names the setting.
    with("[redact]\npii = \"pseudonym\"\npseudonym_key = \"vault:nope\"\n");
    let o = redact("x");
    assert_eq!(code(&o), 2, "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("redact.pseudonym_key") && err.contains("nope"),
        "{err}"
    );
    // A key written in the file itself is refused.
    with("[redact]\npseudonym_key = \"a-key-in-the-file\"\n");
    let o = run(in_home(h).args(["config", "check"]), b"");
    assert_ne!(code(&o), 0);
    assert!(
        stdout(&o).contains("redact.pseudonym_key")
            || String::from_utf8_lossy(&o.stderr).contains("redact.pseudonym_key")
    );

    // The audit log seals records with the vault's HMAC key: no key file is made.
    with("[audit]\nhmac_keys = \"vault:audit-hmac\"\n");
    let audit = |args: &[&str]| {
        let mut c = in_home(h);
        c.env("BULWARK_VAULT_PASSPHRASE", "pw")
            .arg("audit")
            .args(args);
        run(&mut c, b"")
    };
    ok(audit(&[
        "append",
        "--type",
        "custom",
        "--actor",
        "ops",
        "--action",
        "test",
        "--resource",
        "r",
        "--outcome",
        "ok",
    ]));
    assert!(!h.join("keys/audit-hmac.keys").exists());
    let v = ok(audit(&["verify", "--format", "json"]));
    assert_eq!(json(&v)["ok"], true, "{}", stdout(&v));
    assert_eq!(json(&v)["macs_checked"], true, "{}", stdout(&v));
    // Rotation appends a key to the vault entry; older records still verify.
    ok(audit(&["rotate-key"]));
    let keys = stdout(&ok(run(
        vault_cmd(h, "pw").args(["get", "audit-hmac"]),
        b"",
    )));
    let lines: Vec<&str> = keys.lines().collect();
    assert_eq!(lines.len(), 2, "{keys}");
    assert_eq!(lines[0], first_key);
    assert_ne!(lines[1], first_key);
    ok(audit(&[
        "append",
        "--type",
        "custom",
        "--actor",
        "ops",
        "--action",
        "after",
        "--resource",
        "r",
        "--outcome",
        "ok",
    ]));
    let v = ok(audit(&["verify", "--format", "json"]));
    assert_eq!(json(&v)["ok"], true, "{}", stdout(&v));
    // Without the right passphrase, the log is not verified against some other key.
    let mut c = in_home(h);
    c.env("BULWARK_VAULT_PASSPHRASE", "wrong")
        .args(["audit", "verify"]);
    let o = run(&mut c, b"");
    assert_ne!(code(&o), 0);
}

/// A real Secret Service (gnome-keyring in its own D-Bus session) keeps the vault key.
#[cfg(unix)]
#[test]
fn vault_keeps_its_key_in_a_real_secret_service() {
    let have = |cmd: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !available(
        have("dbus-run-session") && have("gnome-keyring-daemon"),
        "BULWARK_REQUIRE_KEYRING",
        "dbus-run-session and gnome-keyring-daemon (apt-get install dbus gnome-keyring)",
    ) {
        return;
    }
    let home = vault_home();
    let h = home.path();
    let bin = env!("CARGO_BIN_EXE_bulwark");
    // A second vault starts on a passphrase and moves its key into the keychain.
    let second = h.join("second");
    std::fs::create_dir_all(&second).unwrap();
    std::fs::copy(h.join("bulwark.toml"), second.join("bulwark.toml")).unwrap();
    let script = format!(
        "set -e\n\
         printf 'unlock' | gnome-keyring-daemon --unlock --components=secrets >/dev/null\n\
         '{bin}' vault init\n\
         printf 'sk-from-the-keychain' | '{bin}' vault set openai\n\
         '{bin}' vault rotate-key --keychain\n\
         '{bin}' vault get openai\n\
         export BULWARK_HOME='{second}'\n\
         BULWARK_VAULT_PASSPHRASE=pw '{bin}' vault init --no-keychain\n\
         printf 'moved' | BULWARK_VAULT_PASSPHRASE=pw '{bin}' vault set k\n\
         if BULWARK_VAULT_PASSPHRASE=wrong '{bin}' vault rotate-key --keychain; then exit 9; fi\n\
         BULWARK_VAULT_PASSPHRASE=pw '{bin}' vault rotate-key --keychain\n\
         printf ' '; '{bin}' vault get k\n",
        second = second.display()
    );
    let out = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env("BULWARK_HOME", h)
        .env("HOME", h)
        .env("XDG_DATA_HOME", h.join("data"))
        .env("XDG_RUNTIME_DIR", h)
        .env_remove("BULWARK_VAULT_PASSPHRASE")
        .env_remove("BULWARK_CONFIG")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("dbus-run-session");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\nsk-from-the-keychain")
            && String::from_utf8_lossy(&out.stdout).ends_with("\n moved"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains("kept in the OS keychain"), "{err}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.join("vault.json")).unwrap()).unwrap();
    assert_eq!(v["kek"]["provider"], "keychain");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(second.join("vault.json")).unwrap()).unwrap();
    assert_eq!(v["kek"]["provider"], "keychain");
    // The vault file alone opens nothing: without the keychain, the key is not there.
    let o = run(
        in_home(h)
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
            .args(["vault", "get", "openai"]),
        b"",
    );
    assert_ne!(code(&o), 0);
    assert!(!stdout(&o).contains("sk-from-the-keychain"));
}
