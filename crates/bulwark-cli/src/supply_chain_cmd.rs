//! `bulwark supply-chain verify`: a release against its signed checksum manifest. Exit codes: 0
//! verified, 1 a failed verification, 2 unusable input.

use std::path::PathBuf;

use bulwark_core::posture::signature::Manifest;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::posture_cmd::*;
use crate::{Fatal, PlainFormat};

#[derive(Subcommand, Debug)]
pub enum SupplyChainCommand {
    /// Check a release artifact against a signed checksum manifest.
    Verify(SupplyChainArgs),
}

#[derive(Args, Debug)]
pub struct SupplyChainArgs {
    /// The artifact (binary, archive).
    #[arg(long, value_name = "FILE")]
    artifact: PathBuf,
    /// The checksum manifest (JSON, or `sha256sum` text).
    #[arg(long, value_name = "FILE")]
    checksums: PathBuf,
    /// The manifest's detached signature (base64, JSON, raw, or .minisig).
    #[arg(long, value_name = "FILE", requires = "public_key")]
    signature: Option<PathBuf>,
    /// The trusted public key (Ed25519 SPKI PEM, or minisign).
    #[arg(long = "public-key", value_name = "FILE", requires = "signature")]
    public_key: Option<PathBuf>,
    /// The artifact's name in the manifest (default: its path, then its base name).
    #[arg(long = "manifest-name", value_name = "NAME")]
    manifest_name: Option<String>,
    /// Accept a checksum match without a signature (integrity only, not provenance).
    #[arg(long = "allow-unsigned-checksums")]
    allow_unsigned_checksums: bool,
    /// Output format (json: `{checksum, signature, ok, message}`).
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    format: PlainFormat,
}

fn run_supply_chain(a: SupplyChainArgs) -> Result<u8, Fatal> {
    let manifest_bytes = read_limited(&a.checksums, MAX_DOCUMENT, "checksum manifest")?;
    let text = std::str::from_utf8(&manifest_bytes).map_err(|_| {
        Fatal(format!(
            "checksum manifest {}: not UTF-8",
            a.checksums.display()
        ))
    })?;
    let manifest = Manifest::parse(text)
        .map_err(|e| Fatal(format!("checksum manifest {}: {e}", a.checksums.display())))?;
    let artifact = a.artifact.display().to_string();
    let found = manifest
        .lookup(a.manifest_name.as_deref(), &artifact)
        .map_err(|e| Fatal(format!("checksum manifest {}: {e}", a.checksums.display())))?;
    let actual = sha256_file(&a.artifact)
        .map_err(|e| Fatal(format!("artifact {}: {e}", a.artifact.display())))?;
    let checksum = match &found {
        None => json!({"ok": false, "status": "missing", "artifact": artifact,
            "expected": null, "actual": actual}),
        Some((_, expected)) => json!({"ok": *expected == actual,
            "status": if *expected == actual { "verified" } else { "mismatch" },
            "artifact": artifact, "expected": expected, "actual": actual}),
    };
    let checksum_ok = checksum["ok"] == true;
    let (signature, ok, message) = match (&a.signature, &a.public_key) {
        (Some(sig), Some(key)) => match check_signature(&manifest_bytes, sig, key)? {
            Ok(()) => (
                json!({"ok": true, "status": "verified"}),
                checksum_ok,
                if checksum_ok {
                    "the artifact matches a checksum manifest signed by the trusted key".to_string()
                } else {
                    format!("the signed manifest does not vouch for this artifact ({})", checksum["status"].as_str().unwrap_or(""))
                },
            ),
            Err(e) => (json!({"ok": false, "status": "mismatch", "error": e}), false, e),
        },
        _ if a.allow_unsigned_checksums => (
            json!({"ok": null, "status": "unsigned_checksum_only"}),
            checksum_ok,
            "checksum only: integrity, not provenance (no signature was checked)".to_string(),
        ),
        _ => (
            json!({"ok": false, "status": "missing"}),
            false,
            "a detached signature and a trusted public key are required (--signature, --public-key); --allow-unsigned-checksums accepts a bare checksum".to_string(),
        ),
    };
    let out = json!({"checksum": checksum, "signature": signature, "ok": ok, "message": message});
    match a.format {
        PlainFormat::Json => print_json(&out)?,
        PlainFormat::Text => {
            println!(
                "{}: {} (checksum {}, signature {})",
                if ok { "OK" } else { "NOT OK" },
                message,
                out["checksum"]["status"].as_str().unwrap_or(""),
                out["signature"]["status"].as_str().unwrap_or("")
            );
        }
    }
    Ok(u8::from(!ok))
}

pub fn run_supply_chain_cmd(cmd: SupplyChainCommand) -> Result<u8, Fatal> {
    match cmd {
        SupplyChainCommand::Verify(a) => run_supply_chain(a),
    }
}
