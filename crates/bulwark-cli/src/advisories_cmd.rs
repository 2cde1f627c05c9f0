//! `bulwark advisories verify|check`: signed advisory feeds, in the format of ClawSec's
//! picoclaw-security-guardian. Exit codes: 0 fine, 1 a finding or a failed verification, 2
//! unusable input.

use std::io::Write;
use std::path::PathBuf;

use bulwark_core::posture::advisory::{self, Installed};
use bulwark_core::posture::sha256_hex;
use bulwark_core::posture::signature::{Manifest, PublicKey};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::posture_cmd::*;
use crate::{Fatal, PlainFormat};

#[derive(Subcommand, Debug)]
pub enum AdvisoriesCommand {
    /// Verify a signed advisory feed and write the verification state.
    Verify(AdvisoriesVerifyArgs),
    /// List the advisories that concern a platform, from a verified feed.
    Check(AdvisoriesCheckArgs),
}

#[derive(Args, Debug)]
pub struct AdvisoriesVerifyArgs {
    /// The feed (JSON), checked byte for byte.
    #[arg(long, value_name = "FILE")]
    feed: PathBuf,
    /// Its detached signature: base64, {"signature": ...}, raw 64 bytes, or a .minisig file.
    #[arg(long, value_name = "FILE")]
    signature: PathBuf,
    /// The trusted public key: Ed25519 SPKI PEM, or a minisign public key.
    #[arg(long = "public-key", value_name = "FILE")]
    public_key: PathBuf,
    /// A checksum manifest covering the feed and its signature...
    #[arg(long, value_name = "FILE", requires = "checksums_signature")]
    checksums: Option<PathBuf>,
    /// ...and the manifest's own signature (same key).
    #[arg(
        long = "checksums-signature",
        value_name = "FILE",
        requires = "checksums"
    )]
    checksums_signature: Option<PathBuf>,
    /// Where to write the verification state (feed-verification-state.json).
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Output format (json: the state).
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    format: PlainFormat,
}

#[derive(Args, Debug)]
pub struct AdvisoriesCheckArgs {
    /// The feed (JSON).
    #[arg(long, value_name = "FILE")]
    feed: PathBuf,
    /// The state `advisories verify` wrote.
    #[arg(long, value_name = "FILE")]
    state: PathBuf,
    /// Read an unverified feed anyway (reported loudly).
    #[arg(long = "allow-unsigned")]
    allow_unsigned: bool,
    /// The platform whose advisories to keep.
    #[arg(long, default_value = "picoclaw")]
    platform: String,
    /// Installed versions, NAME=VERSION (repeatable): keep only the advisories that apply, and
    /// exit 1 when one does.
    #[arg(long = "installed", value_name = "NAME=VERSION")]
    installed: Vec<String>,
    /// Output format (json: `{status, feed_version, verified_state, count, advisories}`).
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    format: PlainFormat,
}

fn run_advisories_verify(a: AdvisoriesVerifyArgs) -> Result<u8, Fatal> {
    let feed = read_limited(&a.feed, MAX_DOCUMENT, "feed")?;
    let key_text = read_text(&a.public_key, MAX_SMALL, "public key")?;
    let key_kind = PublicKey::parse(&key_text)
        .map_err(|e| Fatal(format!("public key {}: {e}", a.public_key.display())))?
        .kind();
    let mut failure = check_signature(&feed, &a.signature, &a.public_key)?
        .err()
        .map(|e| format!("feed signature: {e}"));
    let mut checksums = Value::Null;
    if let (Some(c), Some(cs), None) = (&a.checksums, &a.checksums_signature, &failure) {
        let manifest_bytes = read_limited(c, MAX_DOCUMENT, "checksum manifest")?;
        let result = check_signature(&manifest_bytes, cs, &a.public_key)?
            .map_err(|e| format!("checksum manifest signature: {e}"))
            .and_then(|()| {
                let text = std::str::from_utf8(&manifest_bytes)
                    .map_err(|_| "checksum manifest: not UTF-8".to_string())?;
                let m = Manifest::parse(text).map_err(|e| format!("checksum manifest: {e}"))?;
                for (path, bytes) in [
                    (&a.feed, feed.clone()),
                    (
                        &a.signature,
                        read_limited(&a.signature, MAX_SMALL, "signature").map_err(|e| e.0)?,
                    ),
                ] {
                    let name = base_name(path);
                    let (entry, want) = m
                        .lookup(None, &name)?
                        .ok_or_else(|| format!("checksum manifest has no entry for {name}"))?;
                    let got = sha256_hex(&bytes);
                    if got != want {
                        return Err(format!(
                            "checksum manifest: {entry} should hash to {want}, {} hashes to {got}",
                            path.display()
                        ));
                    }
                }
                Ok(())
            });
        checksums = json!({"path": c.display().to_string(), "verified": result.is_ok()});
        failure = result.err();
    }
    let verified = failure.is_none();
    let state = json!({
        "schema_version": "1",
        "checked_at": humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        "status": if verified { "verified" } else { "unverified" },
        "feed": {"path": a.feed.display().to_string(), "sha256": sha256_hex(&feed)},
        "signature": a.signature.display().to_string(),
        "public_key": {"kind": key_kind, "sha256": sha256_hex(key_text.trim().as_bytes())},
        "checksums": checksums,
        "error": failure,
    });
    // Written whatever the outcome: a failed check must not leave an older "verified" behind.
    write_output(&a.state, &format!("{}\n", sorted_pretty(&state)))?;
    match a.format {
        PlainFormat::Json => print_json(&state)?,
        PlainFormat::Text => match &failure {
            None => println!(
                "verified: {} is signed by the {key_kind} key {} (state written to {})",
                a.feed.display(),
                a.public_key.display(),
                a.state.display()
            ),
            Some(e) => println!(
                "UNVERIFIED: {e} (state written to {} with status unverified)",
                a.state.display()
            ),
        },
    }
    Ok(u8::from(!verified))
}

fn run_advisories_check(a: AdvisoriesCheckArgs) -> Result<u8, Fatal> {
    let installed = a
        .installed
        .iter()
        .map(|s| Installed::parse(s).map_err(|e| Fatal(format!("--installed {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let feed_bytes = read_limited(&a.feed, MAX_DOCUMENT, "feed")?;
    let state = match std::fs::metadata(&a.state) {
        Ok(_) => read_json(&a.state, "feed state")?,
        Err(_) => json!({"status": "missing"}),
    };
    let mut verified_state = state
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();
    // A state is about particular bytes: a feed changed since is not the one verified.
    if verified_state == "verified"
        && let Some(want) = state.pointer("/feed/sha256").and_then(Value::as_str)
        && want != sha256_hex(&feed_bytes)
    {
        verified_state = "stale".into();
    }
    let mut warning = None;
    if verified_state != "verified" {
        let why = format!(
            "the advisory feed {} is not verified (state {}: {verified_state})",
            a.feed.display(),
            a.state.display()
        );
        if !a.allow_unsigned {
            eprintln!(
                "bulwark: {why}; run `bulwark advisories verify` first (or pass --allow-unsigned to read it anyway)"
            );
            return Ok(1);
        }
        eprintln!("WARNING: {why}; reading it anyway because of --allow-unsigned");
        warning = Some(format!("{why}; read with --allow-unsigned"));
    }
    let feed: Value = serde_json::from_slice(&feed_bytes)
        .map_err(|e| Fatal(format!("feed {}: {e}", a.feed.display())))?;
    let kept = advisory::select(&feed, &a.platform, &installed)
        .map_err(|e| Fatal(format!("feed {}: {e}", a.feed.display())))?;
    let advisories: Vec<Value> = kept
        .iter()
        .map(|k| {
            let mut adv = k.advisory.clone();
            if !installed.is_empty() {
                adv["matched"] = json!(k.matched);
            }
            adv
        })
        .collect();
    let mut out = json!({
        "status": "ok",
        "feed_version": feed.get("version").cloned().unwrap_or(Value::Null),
        "verified_state": verified_state,
        "count": advisories.len(),
        "advisories": advisories,
    });
    if let Some(w) = &warning {
        out["warning"] = json!(w);
    }
    match a.format {
        PlainFormat::Json => print_json(&out)?,
        PlainFormat::Text => {
            let mut o = std::io::stdout().lock();
            writeln!(
                o,
                "{} advisories concern {}{} (feed {}, state {verified_state})",
                kept.len(),
                a.platform,
                if installed.is_empty() {
                    ""
                } else {
                    " and apply to the installed versions"
                },
                out["feed_version"]
            )?;
            for k in &kept {
                let f = |key: &str| {
                    k.advisory
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                writeln!(o, "  {:<20} {:<9} {}", f("id"), f("severity"), f("title"))?;
            }
        }
    }
    Ok(u8::from(!installed.is_empty() && !kept.is_empty()))
}

pub fn run_advisories(cmd: AdvisoriesCommand) -> Result<u8, Fatal> {
    match cmd {
        AdvisoriesCommand::Verify(a) => run_advisories_verify(a),
        AdvisoriesCommand::Check(a) => run_advisories_check(a),
    }
}
