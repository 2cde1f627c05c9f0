//! `bulwark vault import-picoclaw` on PicoClaw installations as PicoClaw lays them out: credentials
//! in `.security.yml` (plaintext, `file://`, `enc://`) and in config.json. `enc://` values are made
//! and read back by Python's `cryptography` package, independently of Bulwark's code.

mod common;
use common::{vault_cmd, vault_home};

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    common::run_with_stdin(cmd, stdin)
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// Whether python3 with `cryptography` is there; CI sets BULWARK_REQUIRE_PYTHON_CRYPTOGRAPHY.
fn python_cryptography() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("BULWARK_REQUIRE_PYTHON_CRYPTOGRAPHY").is_none(),
            "BULWARK_REQUIRE_PYTHON_CRYPTOGRAPHY is set but python3 with cryptography is missing"
        );
        eprintln!(
            "notice: python3 with the cryptography package is missing: skipping (.ci/run installs it)"
        );
    }
    ok
}

const SSH_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

const PY_PICOCLAW_ENC: &str = r#"
import base64, hashlib, hmac, os, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
key_file, passphrase, value = sys.argv[1], sys.argv[2], sys.argv[3]
ikm = hmac.new(hashlib.sha256(open(key_file, 'rb').read()).digest(), passphrase.encode(), hashlib.sha256).digest()
salt, nonce = os.urandom(16), os.urandom(12)
key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b'picoclaw-credential-v1').derive(ikm)
print('enc://' + base64.b64encode(salt + nonce + AESGCM(key).encrypt(nonce, value.encode(), None)).decode())
"#;

#[test]
fn vault_imports_a_picoclaw_installation() {
    if !python_cryptography() {
        return;
    }
    let home = vault_home();
    let h = home.path();
    assert_eq!(code(&run(vault_cmd(h, "pw").arg("init"), b"")), 0);
    let pc = h.join("picoclaw");
    std::fs::create_dir_all(pc.join("secrets")).unwrap();
    std::fs::write(pc.join("config.json"), "{}").unwrap();
    std::fs::write(pc.join("secrets/slack.txt"), "xoxb-from-file\n").unwrap();
    let ssh_key = h.join("picoclaw_ed25519.key");
    std::fs::write(&ssh_key, SSH_KEY).unwrap();
    let enc = Command::new("python3")
        .args(["-c", PY_PICOCLAW_ENC])
        .arg(&ssh_key)
        .args(["pico-pass", "sk-ant-encrypted-42"])
        .output()
        .expect("python3");
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let enc = String::from_utf8(enc.stdout).unwrap().trim().to_string();
    std::fs::write(
        pc.join(".security.yml"),
        format!("channels:\n  telegram:\n    token: \"123456:plain-token\"\n  slack:\n    bot_token: file://secrets/slack.txt\nproviders:\n  anthropic:\n    api_key: {enc}\n"),
    )
    .unwrap();
    let import = |pass: &str| {
        run(
            vault_cmd(h, "pw")
                .env("PICOCLAW_KEY_PASSPHRASE", pass)
                .env("PICOCLAW_SSH_KEY_PATH", &ssh_key)
                .args(["import-picoclaw", "--picoclaw-config"])
                .arg(&pc)
                .args(["--format", "json"]),
            b"",
        )
    };
    // A wrong passphrase: a clear error, nothing imported.
    let o = import("wrong");
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.contains("providers.anthropic.api_key"), "{err}");
    assert!(stdout(&run(vault_cmd(h, "pw").arg("list"), b"")).contains("no entries"));
    let o = import("pico-pass");
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stderr));
    let report = json(&o);
    assert_eq!(report.as_array().unwrap().len(), 3);
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == "providers.anthropic.api_key" && r["source"] == "enc")
    );
    assert!(!stdout(&o).contains("sk-ant-encrypted-42"));
    let get = |name: &str| stdout(&run(vault_cmd(h, "pw").args(["get", name]), b""));
    assert_eq!(
        get("picoclaw/providers.anthropic.api_key"),
        "sk-ant-encrypted-42"
    );
    assert_eq!(get("picoclaw/channels.slack.bot_token"), "xoxb-from-file");
    assert_eq!(
        get("picoclaw/channels.telegram.token"),
        "123456:plain-token"
    );
    // A file:// reference that escapes the config directory is refused.
    std::fs::write(h.join("outside.txt"), "x").unwrap();
    std::fs::write(pc.join(".security.yml"), "a:\n  b: file://../outside.txt\n").unwrap();
    let o = import("pico-pass");
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("outside the config directory"));
}

/// Reads an `enc://` value back with Python's `cryptography`: what PicoClaw will do with it.
const PY_PICOCLAW_DEC: &str = r#"
import base64, hashlib, hmac, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes
key_file, passphrase, value = sys.argv[1], sys.argv[2], sys.argv[3]
raw = base64.b64decode(value[len('enc://'):])
salt, nonce, ct = raw[:16], raw[16:28], raw[28:]
ikm = hmac.new(hashlib.sha256(open(key_file, 'rb').read()).digest(), passphrase.encode(), hashlib.sha256).digest()
key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b'picoclaw-credential-v1').derive(ikm)
sys.stdout.write(AESGCM(key).decrypt(nonce, ct, None).decode())
"#;

/// A PicoClaw (configuration version 3) config.json with credentials in plaintext, laid out as
/// `picoclaw onboard` writes it.
const CONFIG_JSON: &str = r#"{
  "version": 3,
  "agents": {
    "defaults": {"model_name": "gpt-5", "workspace": "~/.picoclaw/workspace", "restrict_to_workspace": true}
  },
  "model_list": [
    {
      "model_name": "gpt-5",
      "model": "openai/gpt-5",
      "api_base": "https://api.openai.com/v1",
      "api_keys": ["sk-proj-T3stKeyAbcdefghijklmnopqrstuvwxyz0123456789"]
    }
  ],
  "channel_list": {
    "telegram": {
      "enabled": true,
      "type": "telegram",
      "settings": {"token": "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ", "allow_from": ["123456789"]}
    }
  },
  "tools": {"web": {"brave": {"enabled": true, "api_keys": ["BSA-brave-t3st-key"]}}},
  "gateway": {"host": "127.0.0.1", "port": 18790}
}
"#;

const SECRETS: [(&str, &str); 3] = [
    (
        "model_list.0.api_keys.0",
        "sk-proj-T3stKeyAbcdefghijklmnopqrstuvwxyz0123456789",
    ),
    (
        "channel_list.telegram.settings.token",
        "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ",
    ),
    ("tools.web.brave.api_keys.0", "BSA-brave-t3st-key"),
];

/// The values at the credentials' places in a config.json document.
fn places(doc: &serde_json::Value) -> Vec<String> {
    [
        &doc["model_list"][0]["api_keys"][0],
        &doc["channel_list"]["telegram"]["settings"]["token"],
        &doc["tools"]["web"]["brave"]["api_keys"][0],
    ]
    .iter()
    .map(|v| v.as_str().expect("a string").to_string())
    .collect()
}

#[test]
fn config_json_credentials_move_to_the_vault_and_references_picoclaw_reads_replace_them() {
    if !python_cryptography() {
        return;
    }
    let home = vault_home();
    let h = home.path();
    assert_eq!(code(&run(vault_cmd(h, "pw").arg("init"), b"")), 0);
    let pc = h.join(".picoclaw");
    std::fs::create_dir_all(&pc).unwrap();
    let config = pc.join("config.json");
    std::fs::write(&config, CONFIG_JSON).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let ssh_key = h.join("picoclaw_ed25519.key");
    std::fs::write(&ssh_key, SSH_KEY).unwrap();
    let import = |extra: &[&str], pass: Option<&str>| {
        let mut c = vault_cmd(h, "pw");
        c.env("PICOCLAW_SSH_KEY_PATH", &ssh_key)
            .env_remove("PICOCLAW_KEY_PASSPHRASE")
            .args(["import-picoclaw", "--picoclaw-config"])
            .arg(&pc)
            .args(extra);
        if let Some(p) = pass {
            c.env("PICOCLAW_KEY_PASSPHRASE", p);
        }
        run(&mut c, b"")
    };
    let vault_list = || stdout(&run(vault_cmd(h, "pw").arg("list"), b""));
    let backups = || {
        std::fs::read_dir(&pc)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("config.json.bak-")
            })
            .map(|e| e.path())
            .collect::<Vec<_>>()
    };

    // Dry run: every credential named with its line, nothing changed.
    let o = import(&["--dry-run"], Some("pico-pass"));
    assert_eq!(code(&o), 0, "{}", common::text(&o));
    let out = stdout(&o);
    assert!(
        out.contains("config.json:11: model_list[0].api_keys[0]"),
        "{out}"
    );
    assert!(
        out.contains("config.json:18: channel_list.telegram.settings.token"),
        "{out}"
    );
    assert!(
        out.contains("would be replaced by an enc:// value") && out.contains("nothing was changed"),
        "{out}"
    );
    assert!(
        !out.contains("sk-proj-T3st"),
        "values are never printed: {out}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG_JSON);
    assert!(vault_list().contains("no entries") && backups().is_empty());

    // enc:// without PicoClaw's passphrase: a clear error, nothing changed.
    let o = import(&[], None);
    assert_eq!(code(&o), 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("PICOCLAW_KEY_PASSPHRASE") && err.contains("--reference file"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG_JSON);
    assert!(vault_list().contains("no entries") && backups().is_empty());

    // The import: values in the vault, enc:// values in config.json, a 0600 backup.
    let o = import(&["--format", "json"], Some("pico-pass"));
    assert_eq!(code(&o), 0, "{}", common::text(&o));
    let report = json(&o);
    assert_eq!(report.as_array().unwrap().len(), 3, "{report}");
    assert!(
        report
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["replaced_by"] == "enc" && r["file"] == "config.json")
    );
    for (name, value) in SECRETS {
        let got = stdout(&run(
            vault_cmd(h, "pw").args(["get", &format!("picoclaw/{name}")]),
            b"",
        ));
        assert_eq!(got, value, "{name}");
    }
    let text = std::fs::read_to_string(&config).unwrap();
    for (_, value) in SECRETS {
        assert!(
            !text.contains(value),
            "plaintext left in config.json: {text}"
        );
    }
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "config.json keeps its mode");
    // Everything but the three values is as it was, byte for byte.
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut restored = text.clone();
    for (enc, (_, value)) in places(&doc).iter().zip(SECRETS) {
        assert!(enc.starts_with("enc://"), "{enc}");
        restored = restored.replace(enc.as_str(), value);
        // PicoClaw's decryption (here Python's cryptography) reads each back.
        let dec = Command::new("python3")
            .args(["-c", PY_PICOCLAW_DEC])
            .arg(&ssh_key)
            .args(["pico-pass", enc])
            .output()
            .expect("python3");
        assert!(
            dec.status.success(),
            "{}",
            String::from_utf8_lossy(&dec.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&dec.stdout), value);
    }
    assert_eq!(restored, CONFIG_JSON);
    let b = backups();
    assert_eq!(b.len(), 1);
    assert_eq!(std::fs::read_to_string(&b[0]).unwrap(), CONFIG_JSON);
    assert_eq!(
        std::fs::metadata(&b[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(report[0]["backup"], b[0].display().to_string());

    // A second run finds nothing left to move.
    let o = import(&[], Some("pico-pass"));
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("no credentials"), "{}", stdout(&o));

    // --reference file: 0600 files under bulwark-secrets/, read through file://.
    std::fs::write(&config, CONFIG_JSON).unwrap();
    let o = import(&["--reference", "file"], None);
    assert_eq!(code(&o), 0, "{}", common::text(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    for (reference, (name, value)) in places(&doc).iter().zip(SECRETS) {
        assert_eq!(reference, &format!("file://bulwark-secrets/{name}"));
        let file = pc.join("bulwark-secrets").join(name);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), value);
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // An import run again over files holding the same values reuses them; never a file that
    // holds something else: then nothing changes.
    std::fs::write(&config, CONFIG_JSON).unwrap();
    let o = import(&["--reference", "file"], None);
    assert_eq!(code(&o), 0, "{}", common::text(&o));
    std::fs::write(&config, CONFIG_JSON).unwrap();
    let taken = pc.join("bulwark-secrets").join(SECRETS[0].0);
    std::fs::write(&taken, "someone else's").unwrap();
    let o = import(&["--reference", "file"], None);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists with other content"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG_JSON);
}

/// Found by a red-team pass: keys PicoClaw could read two ways, names that collide, paths in
/// channel names, linked files and a mode the umask narrowed. Each is refused before anything
/// changes, or handled so that nothing lands outside the config directory.
#[test]
fn hostile_picoclaw_configurations_change_nothing_or_stay_inside() {
    let home = vault_home();
    let h = home.path();
    assert_eq!(code(&run(vault_cmd(h, "pw").arg("init"), b"")), 0);
    let pc = h.join(".picoclaw");
    std::fs::create_dir_all(&pc).unwrap();
    let config = pc.join("config.json");
    let import = |reference: &str| {
        run(
            vault_cmd(h, "pw")
                .env_remove("PICOCLAW_KEY_PASSPHRASE")
                .args([
                    "import-picoclaw",
                    "--reference",
                    reference,
                    "--picoclaw-config",
                ])
                .arg(&pc),
            b"",
        )
    };
    let unchanged = |text: &str, o: &Output, why: &str| {
        assert_eq!(code(o), 2, "{why}: {}", common::text(o));
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text, "{why}");
        assert!(
            stdout(&run(vault_cmd(h, "pw").arg("list"), b"")).contains("no entries"),
            "{why}"
        );
    };
    for (text, why, says) in [
        (
            r#"{"channel_list": {"tg": {"settings": {"token": "FIRST-1111", "token": "LAST-2222"}}}}"#,
            "a repeated key",
            "duplicate key",
        ),
        (
            r#"{"channel_list": {"tg": {"settings": {"token": "a-111111", "Token": "b-222222"}}}}"#,
            "keys that differ in case",
            "differ only in case",
        ),
        (
            r#"{"channel_list": {"tele gram": {"settings": {"token": "AAA-1111"}}, "tele_gram": {"settings": {"token": "BBB-2222"}}}}"#,
            "two keys, one vault name",
            "would both be vault entry",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let o = import("file");
        unchanged(text, &o, why);
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{why}: {}",
            common::text(&o)
        );
        assert!(!pc.join("bulwark-secrets").exists(), "{why}");
    }
    // A linked config.json: replacing the link would leave the plaintext in its target.
    let real = h.join("real-config.json");
    let text = r#"{"channel_list": {"tg": {"settings": {"token": "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"}}}}"#;
    std::fs::write(&real, text).unwrap();
    std::fs::remove_file(&config).unwrap();
    std::os::unix::fs::symlink(&real, &config).unwrap();
    let o = import("file");
    unchanged(text, &o, "a linked config.json");
    assert!(String::from_utf8_lossy(&o.stderr).contains("symbolic link"));
    std::fs::remove_file(&config).unwrap();
    // A channel name with a path in it stays one file inside bulwark-secrets/; the mode of
    // config.json is kept whatever the umask.
    let text =
        r#"{"channel_list": {"x/../../../escaped": {"settings": {"token": "ESCAPE-1111"}}}}"#;
    std::fs::write(&config, text).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o664)).unwrap();
    let o = import("file");
    assert_eq!(code(&o), 0, "{}", common::text(&o));
    let files: Vec<_> = std::fs::read_dir(pc.join("bulwark-secrets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        !files[0].contains('/') && !files[0].contains(".."),
        "{files:?}"
    );
    assert!(!h.join("escaped.settings.token").exists());
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o664
    );
}
