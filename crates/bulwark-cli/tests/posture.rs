//! `bulwark posture`, `bulwark advisories` and `bulwark supply-chain`, driven as an operator
//! drives them, with keys and signatures made by real tools (openssl, minisign, node).

use std::path::Path;
use std::process::{Command, Output};

fn bulwark(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bulwark"));
    c.current_dir(dir)
        .env_remove("BULWARK_CONFIG")
        .env_remove("PICOCLAW_CONFIG")
        .env_remove("PICOCLAW_HOME")
        .env("BULWARK_HOME", dir.join("bulwark-home"))
        .env("HOME", dir);
    c
}

fn out(c: &mut Command) -> Output {
    c.output().expect("run bulwark")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

/// Whether an external tool is there; when `require` names a variable CI sets, it must be.
fn have(tool: &str, arg: &str, require: &str) -> bool {
    let ok = Command::new(tool).arg(arg).output().is_ok();
    if !ok {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but {tool} is not installed"
        );
        eprintln!("notice: {tool} is missing: skipping (.ci/run installs it)");
    }
    ok
}

fn sh(dir: &Path, script: &str) {
    let o = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(o.status.success(), "{script}: {}", text(&o));
}

#[test]
fn profile_matches_clawsec_documented_case_and_confines_its_output() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("picoclaw");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.yaml"),
        "bind: 0.0.0.0\nauth: false\nmcp:\n  servers: []\n",
    )
    .unwrap();
    // A configuration file over 1 MiB is not read.
    std::fs::write(
        home.join("security.yml"),
        format!("{}\nallow_unsigned: true\n", "#".repeat(1024 * 1024)),
    )
    .unwrap();
    let o = out(bulwark(&home).args([
        "posture",
        "profile",
        "--home",
        ".",
        "--output",
        "security/clawsec/baseline.json",
        "--format",
        "json",
    ]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let p = json(&o);
    let r = &p["posture"]["runtime"];
    assert_eq!(p["schema_version"], "picoclaw-profile/v1");
    assert_eq!(p["platform"], "picoclaw");
    assert_eq!(r["ui"]["public_web_ui"], true);
    assert_eq!(r["ui"]["auth_disabled"], true);
    assert_eq!(r["mcp"]["enabled"], true);
    assert_eq!(r["risky_toggles"]["allow_unsigned_mode"], false);
    let digest = p["digests"]["canonical_sha256"].as_str().unwrap();
    assert!(digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()));
    let written = home.join("security/clawsec/baseline.json");
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&written).unwrap()).unwrap();
    assert_eq!(on_disk["digests"], p["digests"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&written).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let files = r["config_paths"].as_array().unwrap();
    assert_eq!(files.len(), 6, "{files:?}");
    let watched = p["posture"]["integrity"]["watched_files"]
        .as_array()
        .unwrap();
    let yaml = watched
        .iter()
        .find(|w| w["path"].as_str().unwrap().ends_with("config.yaml"))
        .unwrap();
    assert_eq!(yaml["exists"], true);
    assert_eq!(yaml["type"], "file");
    assert_eq!(yaml["sha256"].as_str().unwrap().len(), 64);
    assert!(
        watched
            .iter()
            .any(|w| w["path"].as_str().unwrap().ends_with("config.json") && w["exists"] == false)
    );

    // The digest is the one an independent implementation (Node) computes.
    if have("node", "--version", "BULWARK_REQUIRE_NODE") {
        let script = "const fs=require('fs'),c=require('crypto');\
            function s(v){if(Array.isArray(v))return v.map(s);if(!v||typeof v!=='object')return v;\
            const o={};for(const k of Object.keys(v).sort())o[k]=s(v[k]);return o}\
            const p=JSON.parse(fs.readFileSync(process.argv[1]));delete p.digests;\
            process.stdout.write(c.createHash('sha256').update(JSON.stringify(s(p))).digest('hex'))";
        let o = Command::new("node")
            .args(["-e", script])
            .arg(&written)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), digest, "{}", text(&o));
    }

    // Outputs that leave the home are refused, and nothing is written.
    for bad in ["../escape.json", "/tmp/bulwark-escape.json"] {
        let o = out(bulwark(&home).args(["posture", "profile", "--home", ".", "--output", bad]));
        assert_eq!(code(&o), 2, "{bad}: {}", text(&o));
        assert!(text(&o).contains("must stay under"), "{}", text(&o));
    }
    assert!(!tmp.path().join("escape.json").exists());
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(tmp.path().join("outside.json"), home.join("link.json"))
            .unwrap();
        std::os::unix::fs::symlink(tmp.path(), home.join("up")).unwrap();
        for bad in ["link.json", "up/x.json"] {
            let o =
                out(bulwark(&home).args(["posture", "profile", "--home", ".", "--output", bad]));
            assert_eq!(code(&o), 2, "{bad}: {}", text(&o));
        }
        assert!(!tmp.path().join("outside.json").exists());
        assert!(!tmp.path().join("x.json").exists());
    }
}

#[test]
fn drift_reports_changes_and_fails_at_the_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::write(
        home.join("config.json"),
        r#"{"gateway": {"host": "127.0.0.1"}, "agents": {"defaults": {"restrict_to_workspace": true}}}"#,
    )
    .unwrap();
    std::fs::write(home.join("picoclaw"), b"binary v1").unwrap();
    let profile = |name: &str| {
        let o = out(bulwark(home).args([
            "posture",
            "profile",
            "--home",
            ".",
            "--artifact",
            "$PICOCLAW_HOME/picoclaw",
            "--output",
            name,
        ]));
        assert_eq!(code(&o), 0, "{}", text(&o));
    };
    profile("base.json");
    profile("same.json");
    let drift = |extra: &[&str]| {
        out(bulwark(home)
            .args([
                "posture",
                "drift",
                "--baseline",
                "base.json",
                "--current",
                "cur.json",
            ])
            .args(extra))
    };
    std::fs::copy(home.join("same.json"), home.join("cur.json")).unwrap();
    let o = drift(&["--format", "json"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(json(&o)["findings"].as_array().unwrap().len(), 0);

    // The gateway opens, the workspace restriction goes, the binary changes.
    std::fs::write(
        home.join("config.json"),
        r#"{"gateway": {"host": "0.0.0.0"}, "agents": {"defaults": {"restrict_to_workspace": false}}}"#,
    )
    .unwrap();
    std::fs::write(home.join("picoclaw"), b"binary v2").unwrap();
    profile("cur.json");
    let o = drift(&["--format", "json"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let r = json(&o);
    let codes: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "PUBLIC_WEB_UI_ENABLED",
            "RELEASE_ARTIFACT_DRIFT",
            "WATCHED_FILE_DRIFT",
            "WORKSPACE_RESTRICTION_DISABLED"
        ]
    );
    assert_eq!(r["summary"]["critical"], 4);
    assert_eq!(code(&drift(&["--fail-on", "none"])), 0);
    assert!(text(&drift(&[])).contains("WORKSPACE_RESTRICTION_DISABLED"));
    // The reverse is information only.
    let o = out(bulwark(home).args([
        "posture",
        "drift",
        "--baseline",
        "cur.json",
        "--current",
        "base.json",
        "--fail-on",
        "high",
        "--format",
        "json",
    ]));
    let r = json(&o);
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "WORKSPACE_RESTRICTION_RESTORED" && f["severity"] == "info")
    );
    // Still critical: the fingerprints differ both ways.
    assert_eq!(code(&o), 1);

    // A baseline edited after it was made is refused.
    let mut b: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.join("base.json")).unwrap()).unwrap();
    b["posture"]["runtime"]["ui"]["public_web_ui"] = serde_json::json!(true);
    std::fs::write(home.join("base.json"), b.to_string()).unwrap();
    let o = drift(&[]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o).contains("changed after it was made"),
        "{}",
        text(&o)
    );
    assert_eq!(code(&drift(&["--fail-on", "severe"])), 2);
}

const FEED: &str = r#"{"version": "2026.11.2", "advisories": [
  {"id": "CLAW-2026-001", "severity": "high", "title": "Gateway auth bypass", "platforms": ["picoclaw"], "affected": ["picoclaw@<1.2.3"]},
  {"id": "CVE-2026-4242", "severity": "critical", "title": "Path traversal", "platforms": ["nvd"], "affected": ["cpe:2.3:a:sipeed:picoclaw:1.2.0:*:*:*:*:*:*:*"]},
  {"id": "OC-1", "severity": "low", "title": "OpenClaw only", "platforms": ["openclaw"], "affected": ["openclaw@<9.0.0"]},
  {"id": "GEN-1", "severity": "medium", "title": "Prompt injection via alerts", "platforms": []}
]}
"#;

#[test]
fn advisories_verify_openssl_signatures_and_check_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    if !have("openssl", "version", "BULWARK_REQUIRE_OPENSSL") {
        return;
    }
    std::fs::write(d.join("feed.json"), FEED).unwrap();
    sh(
        d,
        "openssl genpkey -algorithm ed25519 -out signing.pem && \
         openssl pkey -in signing.pem -pubout -out signing.pub.pem && \
         openssl genpkey -algorithm ed25519 -out other.pem && \
         openssl pkey -in other.pem -pubout -out other.pub.pem && \
         openssl pkeyutl -sign -rawin -inkey signing.pem -in feed.json -out feed.raw && \
         base64 -w0 feed.raw > feed.json.sig && \
         sha256sum feed.json feed.json.sig > checksums.txt && \
         openssl pkeyutl -sign -rawin -inkey signing.pem -in checksums.txt -out checksums.raw && \
         base64 -w0 checksums.raw > checksums.txt.sig",
    );
    let verify = |feed: &str, sig: &str, key: &str, extra: &[&str]| {
        out(bulwark(d)
            .args(["advisories", "verify", "--feed", feed, "--signature", sig])
            .args([
                "--public-key",
                key,
                "--state",
                "state.json",
                "--format",
                "json",
            ])
            .args(extra))
    };
    let state = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("state.json")).unwrap()).unwrap()
    };
    let o = verify("feed.json", "feed.json.sig", "signing.pub.pem", &[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(state()["status"], "verified");
    // Raw signature bytes, as openssl writes them, verify too; and with the signed manifest.
    assert_eq!(
        code(&verify("feed.json", "feed.raw", "signing.pub.pem", &[])),
        0
    );
    let with_manifest = [
        "--checksums",
        "checksums.txt",
        "--checksums-signature",
        "checksums.txt.sig",
    ];
    let o = verify(
        "feed.json",
        "feed.json.sig",
        "signing.pub.pem",
        &with_manifest,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert_eq!(json(&o)["checksums"]["verified"], true);

    // The check: picoclaw@<1.2.3 and the CPE both concern picoclaw; OpenClaw's does not.
    let check = |extra: &[&str]| {
        out(bulwark(d)
            .args([
                "advisories",
                "check",
                "--feed",
                "feed.json",
                "--state",
                "state.json",
            ])
            .args(["--format", "json"])
            .args(extra))
    };
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    let o = check(&[]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["verified_state"], "verified");
    assert_eq!(v["feed_version"], "2026.11.2");
    assert_eq!(ids(&v), ["CLAW-2026-001", "CVE-2026-4242", "GEN-1"]);
    assert_eq!(v["count"], 3);
    // With the installed version, only what applies (exit 1: something applies).
    let o = check(&["--installed", "picoclaw=1.2.0"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(ids(&json(&o)), ["CLAW-2026-001", "CVE-2026-4242", "GEN-1"]);
    let o = check(&["--installed", "picoclaw=1.2.3"]);
    assert_eq!(ids(&json(&o)), ["GEN-1"]);
    assert_eq!(code(&check(&["--installed", "picoclaw"])), 2);

    // Tampering: the feed, the signature, the key, a truncated signature, the manifest.
    let feed = std::fs::read(d.join("feed.json")).unwrap();
    let mut tampered = feed.clone();
    let at = FEED.find("<1.2.3").unwrap() + 1;
    tampered[at] = b'0';
    std::fs::write(d.join("tampered.json"), &tampered).unwrap();
    let o = verify("tampered.json", "feed.json.sig", "signing.pub.pem", &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(state()["status"], "unverified");
    // A failed verification replaces the earlier "verified" state: check fails closed.
    let o = check(&[]);
    assert_eq!(code(&o), 1);
    assert!(text(&o).contains("not verified"), "{}", text(&o));
    let o = check(&["--allow-unsigned"]);
    assert_eq!(code(&o), 0);
    assert!(text(&o).contains("WARNING"), "{}", text(&o));
    assert!(
        json(&o)["warning"]
            .as_str()
            .unwrap()
            .contains("--allow-unsigned")
    );

    let mut raw = std::fs::read(d.join("feed.raw")).unwrap();
    raw[10] ^= 1;
    std::fs::write(d.join("flipped.raw"), &raw).unwrap();
    assert_eq!(
        code(&verify("feed.json", "flipped.raw", "signing.pub.pem", &[])),
        1
    );
    assert_eq!(
        code(&verify("feed.json", "feed.json.sig", "other.pub.pem", &[])),
        1
    );
    let sig = std::fs::read_to_string(d.join("feed.json.sig")).unwrap();
    std::fs::write(d.join("short.sig"), &sig[..sig.len() / 2]).unwrap();
    let o = verify("feed.json", "short.sig", "signing.pub.pem", &[]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        json(&o)["error"].as_str().unwrap().contains("64 bytes"),
        "{}",
        text(&o)
    );
    // A private key where the public key belongs is refused with what to do.
    let o = verify("feed.json", "feed.json.sig", "signing.pem", &[]);
    assert_eq!(code(&o), 2);
    assert!(text(&o).contains("-pubout"), "{}", text(&o));
    let manifest = std::fs::read_to_string(d.join("checksums.txt")).unwrap();
    std::fs::write(d.join("checksums.txt"), manifest.replacen('a', "b", 1)).unwrap();
    let o = verify(
        "feed.json",
        "feed.json.sig",
        "signing.pub.pem",
        &with_manifest,
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(
        json(&o)["error"]
            .as_str()
            .unwrap()
            .contains("checksum manifest signature"),
        "{}",
        text(&o)
    );

    // Verified, then the feed changes on disk: the state no longer vouches for it.
    std::fs::write(d.join("checksums.txt"), manifest).unwrap();
    assert_eq!(
        code(&verify(
            "feed.json",
            "feed.json.sig",
            "signing.pub.pem",
            &[]
        )),
        0
    );
    std::fs::write(d.join("feed.json"), &tampered).unwrap();
    let o = check(&[]);
    assert_eq!(code(&o), 1);
    assert!(text(&o).contains("stale"), "{}", text(&o));
}

#[test]
fn supply_chain_verifies_openssl_and_minisign_signed_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    if !have("openssl", "version", "BULWARK_REQUIRE_OPENSSL") {
        return;
    }
    std::fs::create_dir_all(d.join("dist/linux")).unwrap();
    std::fs::create_dir_all(d.join("dist/darwin")).unwrap();
    std::fs::write(d.join("dist/linux/picoclaw"), b"\x7fELF picoclaw linux").unwrap();
    std::fs::write(d.join("dist/darwin/picoclaw"), b"\xcf\xfa picoclaw darwin").unwrap();
    std::fs::write(d.join("picoclaw"), b"\x7fELF picoclaw linux").unwrap();
    sh(
        d,
        "openssl genpkey -algorithm ed25519 -out k.pem && openssl pkey -in k.pem -pubout -out k.pub && \
         openssl genpkey -algorithm ed25519 -out other.pem && openssl pkey -in other.pem -pubout -out other.pub && \
         sha256sum ./dist/linux/picoclaw > SHA256SUMS && \
         openssl pkeyutl -sign -rawin -inkey k.pem -in SHA256SUMS -out SHA256SUMS.raw && \
         base64 -w0 SHA256SUMS.raw > SHA256SUMS.sig && \
         sha256sum dist/linux/picoclaw dist/darwin/picoclaw > BOTH",
    );
    let verify = |args: &[&str]| {
        out(bulwark(d)
            .args(["supply-chain", "verify", "--format", "json"])
            .args(args))
    };
    let base = ["--artifact", "picoclaw", "--checksums", "SHA256SUMS"];
    let signed = [
        &base[..],
        &["--signature", "SHA256SUMS.sig", "--public-key", "k.pub"],
    ]
    .concat();
    let o = verify(&signed);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["ok"], true);
    assert_eq!(v["checksum"]["status"], "verified");
    assert_eq!(v["signature"]["status"], "verified");
    assert_eq!(v["checksum"]["expected"], v["checksum"]["actual"]);

    // Checksum only is integrity, not provenance.
    let o = verify(&base);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["signature"]["status"], "missing");
    let o = verify(&[&base[..], &["--allow-unsigned-checksums"]].concat());
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["signature"]["status"], "unsigned_checksum_only");
    assert_eq!(json(&o)["signature"]["ok"], serde_json::Value::Null);

    // A changed artifact, another key, a tampered manifest.
    std::fs::write(d.join("evil"), b"\x7fELF evil").unwrap();
    let o = verify(&[
        "--artifact",
        "evil",
        "--checksums",
        "SHA256SUMS",
        "--manifest-name",
        "dist/linux/picoclaw",
        "--signature",
        "SHA256SUMS.sig",
        "--public-key",
        "k.pub",
    ]);
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["checksum"]["status"], "mismatch");
    let o = verify(
        &[
            &base[..],
            &["--signature", "SHA256SUMS.sig", "--public-key", "other.pub"],
        ]
        .concat(),
    );
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["signature"]["status"], "mismatch");
    let o = verify(&[
        "--artifact",
        "picoclaw",
        "--checksums",
        "BOTH",
        "--allow-unsigned-checksums",
    ]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("ambiguous"), "{}", text(&o));
    let o = verify(&[
        "--artifact",
        "picoclaw",
        "--checksums",
        "BOTH",
        "--manifest-name",
        "dist/linux/picoclaw",
        "--allow-unsigned-checksums",
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let sums = std::fs::read_to_string(d.join("SHA256SUMS")).unwrap();
    std::fs::write(
        d.join("SHA256SUMS"),
        sums.replace("dist/linux", "dist/linux/"),
    )
    .unwrap();
    let o = verify(&signed);
    assert_eq!(code(&o), 1, "{}", text(&o));
    std::fs::write(d.join("SHA256SUMS"), &sums).unwrap();

    // Debian's minisign: the same manifest signed with a minisign key.
    if !have("minisign", "-v", "BULWARK_REQUIRE_MINISIGN") {
        return;
    }
    sh(
        d,
        "minisign -G -W -p ms.pub -s ms.key >/dev/null && \
         minisign -S -s ms.key -m SHA256SUMS -x SHA256SUMS.minisig >/dev/null && \
         minisign -G -W -p ms2.pub -s ms2.key >/dev/null && sed -n 2p ms.pub > ms.line",
    );
    for key in ["ms.pub", "ms.line"] {
        let o = verify(
            &[
                &base[..],
                &["--signature", "SHA256SUMS.minisig", "--public-key", key],
            ]
            .concat(),
        );
        assert_eq!(code(&o), 0, "{key}: {}", text(&o));
    }
    let o = verify(
        &[
            &base[..],
            &[
                "--signature",
                "SHA256SUMS.minisig",
                "--public-key",
                "ms2.pub",
            ],
        ]
        .concat(),
    );
    assert_eq!(code(&o), 1);
    assert!(
        json(&o)["message"]
            .as_str()
            .unwrap()
            .contains("another key"),
        "{}",
        text(&o)
    );
    let o = verify(
        &[
            &base[..],
            &["--signature", "SHA256SUMS.minisig", "--public-key", "k.pub"],
        ]
        .concat(),
    );
    assert_eq!(code(&o), 1);
    std::fs::write(d.join("SHA256SUMS"), sums.to_uppercase()).unwrap();
    let o = verify(
        &[
            &base[..],
            &[
                "--signature",
                "SHA256SUMS.minisig",
                "--public-key",
                "ms.pub",
            ],
        ]
        .concat(),
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
}

#[test]
fn advisories_verify_a_minisign_signed_feed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    if !have("minisign", "-v", "BULWARK_REQUIRE_MINISIGN") {
        return;
    }
    std::fs::write(d.join("feed.json"), FEED).unwrap();
    sh(
        d,
        "minisign -G -W -p ms.pub -s ms.key >/dev/null && \
         minisign -S -s ms.key -m feed.json >/dev/null",
    );
    let o = out(bulwark(d).args([
        "advisories",
        "verify",
        "--feed",
        "feed.json",
        "--signature",
        "feed.json.minisig",
        "--public-key",
        "ms.pub",
        "--state",
        "state.json",
    ]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("minisign"), "{}", text(&o));
}

/// A PicoClaw installation as operators leave them: a public gateway, an open channel, exec
/// without deny patterns, an MCP server fetched by npx with a token, secrets in plaintext.
fn risky_installation(home: &Path) {
    std::fs::write(
        home.join("config.json"),
        r#"{
  "agents": {"defaults": {"workspace": "~/.picoclaw/workspace", "restrict_to_workspace": false}},
  "model_list": [{"model_name": "gpt4", "model": "openai/gpt-5.2",
                  "api_key": "sk-proj-Z8bQ2rW5tY7uI9oP1aS3dF6gH8jK0lZxCvBnM4qW7eR2tY5u"}],
  "channels": {
    "telegram": {"enabled": true, "allow_from": []},
    "discord": {"enabled": true, "allow_from": ["1234"]},
    "slack": {"enabled": false, "allow_from": []}
  },
  "tools": {
    "exec": {"enable_deny_patterns": false, "custom_deny_patterns": [], "allow_remote": true},
    "cron": {"allow_command": true},
    "mcp": {"enabled": true, "servers": {
      "github": {"enabled": true, "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                 "env": {"GITHUB_TOKEN": "from-env"}},
      "docs": {"enabled": true, "type": "http", "url": "http://mcp.internal.example:8080/mcp"}}}
  },
  "gateway": {"host": "0.0.0.0", "port": 18790},
  "notes": "the word shell here is not a setting"
}"#,
    )
    .unwrap();
    std::fs::write(
        home.join("launcher-config.json"),
        r#"{"public": true, "port": 18800}"#,
    )
    .unwrap();
    std::fs::write(
        home.join(".security.yml"),
        "channels:\n  telegram:\n    token: \"123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\"\n  slack:\n    bot_token: \"enc://c2FsdHNhbHRzYWx0c2FsdG5vbmNlbm9uY2VjaXBoZXJ0ZXh0\"\n",
    )
    .unwrap();
}

/// The review a user reads, pinned (text and JSON): a change shows up as a snapshot diff.
#[test]
fn review_output_is_pinned() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("picoclaw");
    std::fs::create_dir_all(&home).unwrap();
    risky_installation(&home);
    let shown = |extra: &[&str]| {
        let o = out(bulwark(&home)
            .args(["posture", "review", "--home", "."])
            .args(extra));
        format!("exit: {:?}\n{}", o.status.code(), text(&o))
            .replace(&tmp.path().display().to_string(), "[TMP]")
    };
    insta::assert_snapshot!("review_text", shown(&[]));
    insta::assert_snapshot!("review_json", shown(&["--format", "json"]));
}

#[test]
fn review_reads_fields_and_says_what_to_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("picoclaw");
    std::fs::create_dir_all(&home).unwrap();
    risky_installation(&home);
    let review = |extra: &[&str]| {
        out(bulwark(&home)
            .args(["posture", "review", "--home", "."])
            .args(extra))
    };
    let o = review(&["--format", "json"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["mode"], "precise");
    let findings = v["findings"].as_array().unwrap();
    let has = |code: &str| findings.iter().filter(|f| f["code"] == code).count();
    for c in [
        "PUBLIC_WEB_UI_EXPOSED",
        "WEB_UI_AUTH_DISABLED",
        "WORKSPACE_UNRESTRICTED",
        "PLAINTEXT_SECRET_MARKERS",
        "TOOLING_REVIEW_REQUIRED",
        "EXEC_WITHOUT_DENY_PATTERNS",
        "EXEC_REMOTE_ALLOWED",
        "SCHEDULER_REVIEW_REQUIRED",
        "SCHEDULER_RUNS_COMMANDS",
        "MULTI_CHANNEL_AUTH_REVIEW",
        "CHANNEL_OPEN_TO_ANYONE",
    ] {
        assert!(
            has(c) >= 1,
            "{c} missing: {}",
            serde_json::to_string_pretty(&v).unwrap()
        );
    }
    // One MCP finding per server, saying what it reaches.
    assert_eq!(has("MCP_REVIEW_REQUIRED"), 2);
    let gh = findings
        .iter()
        .find(|f| f["code"] == "MCP_REVIEW_REQUIRED" && f["details"]["server"] == "github")
        .unwrap();
    let msg = gh["message"].as_str().unwrap();
    assert!(
        msg.contains("npx -y @modelcontextprotocol/server-github") && msg.contains("GITHUB_TOKEN"),
        "{msg}"
    );
    assert_eq!(gh["severity"], "high");
    let docs = findings
        .iter()
        .find(|f| f["code"] == "MCP_REVIEW_REQUIRED" && f["details"]["server"] == "docs")
        .unwrap();
    assert!(docs["message"].as_str().unwrap().contains("plain HTTP"));
    // Secrets: where and which detector, never the value.
    let secrets = findings
        .iter()
        .find(|f| f["code"] == "PLAINTEXT_SECRET_MARKERS")
        .unwrap();
    assert_eq!(secrets["details"]["count"], 2, "{secrets}");
    let all = serde_json::to_string(&v).unwrap();
    assert!(!all.contains("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") && !all.contains("Z8bQ2rW5"));
    assert!(all.contains("channels.telegram.token"));
    for f in findings {
        assert!(!f["remediation"].as_str().unwrap().is_empty());
    }
    // The text report names the fix; the threshold decides the exit code.
    let o = review(&[]);
    assert!(
        text(&o).contains("fix: Set agents.defaults.restrict_to_workspace = true"),
        "{}",
        text(&o)
    );
    assert_eq!(code(&review(&["--fail-on", "none"])), 0);

    // SARIF, validated by Microsoft's SARIF Multitool when CI installed it.
    let o = review(&["--format", "sarif", "--fail-on", "none"]);
    assert_eq!(code(&o), 0);
    let sarif = json(&o);
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), findings.len());
    assert!(results.iter().all(|r| r["ruleIndex"].is_u64()));
    if let Some(tool) = std::env::var_os("BULWARK_SARIF_MULTITOOL") {
        let file = tmp.path().join("review.sarif");
        std::fs::write(&file, &o.stdout).unwrap();
        let v = Command::new(tool)
            .arg("validate")
            .arg(&file)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&v.stdout);
        assert!(
            v.status.success() && report.contains("Analysis completed successfully"),
            "{report}"
        );
        assert!(!report.contains(": error "), "{report}");
    }

    // The heuristic mode sees less: no launcher auth field, no channels.
    let o = review(&[
        "--mode",
        "heuristic",
        "--format",
        "json",
        "--fail-on",
        "none",
    ]);
    let h = json(&o);
    let hcodes: Vec<&str> = h["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(!hcodes.contains(&"CHANNEL_OPEN_TO_ANYONE"), "{hcodes:?}");
    assert!(hcodes.contains(&"PUBLIC_WEB_UI_EXPOSED"));

    // Precise profiles record the channels and their mode, and drift compares them.
    let o = out(bulwark(&home).args([
        "posture", "profile", "--home", ".", "--mode", "precise", "--format", "json",
    ]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let p = json(&o);
    assert_eq!(p["generator"]["mode"], "precise");
    assert_eq!(p["posture"]["runtime"]["gateways"]["telegram"], true);
    assert!(p["posture"]["runtime"]["gateways"].get("slack").is_none());
    assert_eq!(p["posture"]["runtime"]["ui"]["auth_disabled"], true);
    assert_eq!(
        p["posture"]["runtime"]["secrets"]["config_secret_markers"],
        2
    );
}

#[test]
fn review_survives_hostile_files_and_checks_bulwark_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("picoclaw");
    std::fs::create_dir_all(&home).unwrap();
    // Broken JSON with a public bind in it, YAML nested past any sane depth, binary noise.
    std::fs::write(
        home.join("config.json"),
        "{\"gateway\": {\"host\": \"0.0.0.0\",,,",
    )
    .unwrap();
    std::fs::write(
        home.join(".security.yml"),
        format!("{}x: 1\n", "- ".repeat(5000)),
    )
    .unwrap();
    std::fs::write(
        home.join("launcher-config.json"),
        [0xffu8, 0xfe, 0x00, 0x7b],
    )
    .unwrap();
    std::fs::write(home.join("config.yaml"), " ".repeat(2 * 1024 * 1024)).unwrap();
    let bulwark_toml = tmp.path().join("bulwark.toml");
    std::fs::write(
        &bulwark_toml,
        "[server]\nlisten = \"0.0.0.0:8844\"\nallow_plaintext_public = true\n[action]\nmode = \"autonomous\"\n[audit]\nenabled = false\n",
    )
    .unwrap();
    let o = out(bulwark(&home).args(["--config"]).arg(&bulwark_toml).args([
        "posture",
        "review",
        "--home",
        ".",
        "--format",
        "json",
        "--fail-on",
        "none",
    ]));
    assert_eq!(code(&o), 0, "{}", text(&o));
    let v = json(&o);
    let codes: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    for c in [
        "CONFIG_NOT_PARSED",
        "PUBLIC_WEB_UI_EXPOSED",
        "BULWARK_API_PUBLIC_PLAINTEXT",
        "BULWARK_AUDIT_DISABLED",
        "BULWARK_AUTONOMOUS_MODE",
    ] {
        assert!(codes.contains(&c), "{c}: {codes:?}");
    }
    let api = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "BULWARK_API_PUBLIC_PLAINTEXT")
        .unwrap();
    assert_eq!(api["severity"], "critical");
    assert_eq!(api["file"], bulwark_toml.display().to_string());
    let files = v["files"].as_array().unwrap();
    assert!(files.iter().any(|f| f["read_as"] == "bulwark"));
    assert!(
        files
            .iter()
            .any(|f| f["read_as"] == "skipped" && f["error"] == "larger than 1 MiB"),
        "{files:?}"
    );
}

/// `posture profile` and `posture review` count the same secrets by default (both read the
/// configuration precisely); a heuristic profile counts ClawSec's markers, and drift does not
/// compare counts made the two ways.
#[test]
fn profile_and_review_count_the_same_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::write(
        home.join("config.json"),
        r#"{
  "version": 3,
  "agents": {"defaults": {"model_name": "gpt", "model_token": "gpt-4o-mini-2024"}},
  "model_list": [{"model_name": "gpt", "model": "openai/gpt-4o", "api_keys": ["sk-proj-T3stKeyAbcdefghijklmnopqrstuvwxyz0123456789"]}],
  "channel_list": {"telegram": {"enabled": true, "settings": {"token": "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"}},
                   "irc": {"enabled": true, "settings": {"password": "file://secrets/irc.txt"}}}
}"#,
    )
    .unwrap();
    let profile = |extra: &[&str]| {
        let o = out(bulwark(home)
            .args(["posture", "profile", "--home", ".", "--format", "json"])
            .args(extra));
        assert_eq!(code(&o), 0, "{}", text(&o));
        json(&o)
    };
    let count =
        |p: &serde_json::Value| p["posture"]["runtime"]["secrets"]["config_secret_markers"].clone();
    let precise = profile(&["--output", "precise.json"]);
    let o = out(bulwark(home).args(["posture", "review", "--home", ".", "--format", "json"]));
    let review = json(&o);
    let reviewed = review["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "PLAINTEXT_SECRET_MARKERS")
        .map(|f| f["details"]["count"].clone())
        .unwrap_or_else(|| panic!("no secret finding: {review}"));
    assert_eq!(count(&precise), 2);
    assert_eq!(count(&precise), reviewed, "profile and review agree");
    // The markers count `model_token` (no secret) and a `file://` reference, and miss the API
    // key under `api_keys`.
    let heuristic = profile(&["--mode", "heuristic", "--output", "heuristic.json"]);
    assert_eq!(count(&heuristic), 3);
    let o = out(bulwark(home).args([
        "posture",
        "drift",
        "--baseline",
        "precise.json",
        "--current",
        "heuristic.json",
        "--format",
        "json",
    ]));
    let report = json(&o);
    let codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"PROFILE_MODE_CHANGED"), "{report}");
    assert!(!codes.contains(&"SECRET_MARKERS_INCREASED"), "{report}");
}
