//! `bulwark posture profile|drift`, `bulwark advisories verify|check`, `bulwark supply-chain
//! verify`: the host's posture, signed advisories and release verification, in the formats of
//! ClawSec's picoclaw-security-guardian.
//!
//! Every command reads what it is given and writes only the output it is told (`--output`,
//! `--state`) and standard output. Exit codes: 0 fine, 1 a finding or a failed verification,
//! 2 unusable input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bulwark_core::posture::advisory::{self, Installed};
use bulwark_core::posture::drift;
use bulwark_core::posture::profile::{self, FileFacts, ProfileInput, Signals};
use bulwark_core::posture::signature::{DetachedSignature, Manifest, PublicKey, verify};
use bulwark_core::posture::{Severity, canonical_json, sha256_hex};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{Fatal, PlainFormat};

/// Largest feed, manifest or profile read.
const MAX_DOCUMENT: u64 = 64 * 1024 * 1024;
/// Largest key or signature file read.
const MAX_SMALL: u64 = 64 * 1024;

#[derive(Subcommand, Debug)]
pub enum PostureCommand {
    /// Write a `picoclaw-profile/v1` profile of a PicoClaw installation.
    Profile(ProfileArgs),
    /// Compare two profiles; exit 1 when a change is at or above --fail-on.
    Drift(DriftArgs),
    /// Review the installation: findings with severity and remediation (text, JSON or SARIF).
    Review(ReviewArgs),
}

/// How configuration files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Raw-text markers, as ClawSec's guardian reads them (profiles compare across tools).
    Heuristic,
    /// PicoClaw's and Bulwark's configuration parsed field by field; secrets found by the
    /// content guard.
    Precise,
}

/// Where the PicoClaw installation is.
#[derive(Args, Debug)]
pub struct Installation {
    /// The PicoClaw home (default: $PICOCLAW_HOME, else ~/.picoclaw).
    #[arg(long, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Another PicoClaw configuration file to read ($PICOCLAW_CONFIG is read too).
    #[arg(long = "picoclaw-config", value_name = "FILE")]
    picoclaw_config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReviewArgs {
    #[command(flatten)]
    installation: Installation,
    /// How to read the configuration.
    #[arg(long, value_enum, default_value_t = Mode::Precise)]
    mode: Mode,
    /// Exit 1 when a finding is at or above this: critical, high, medium, low, info or none.
    #[arg(long = "fail-on", default_value = "high", value_name = "SEVERITY")]
    fail_on: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = crate::Format::Text)]
    format: crate::Format,
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// Write the profile here (0600; must stay under the PicoClaw home; never through a symlink).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    installation: Installation,
    /// How to read the configuration: precise (parsed fields, secrets counted by the content
    /// guard, as `posture review` counts them) or heuristic (ClawSec's raw-text markers, for
    /// profiles compared with ones ClawSec made).
    #[arg(long, value_enum, default_value_t = Mode::Precise)]
    mode: Mode,
    /// A further file to fingerprint (repeatable).
    #[arg(long = "watch", value_name = "FILE")]
    watch: Vec<String>,
    /// A release artifact to fingerprint, e.g. the picoclaw binary (repeatable).
    #[arg(long = "artifact", value_name = "FILE")]
    artifacts: Vec<String>,
    /// Feed verification state to record (default: HOME/security/clawsec/feed-verification-state.json
    /// when it exists).
    #[arg(long = "feed-state", value_name = "FILE")]
    feed_state: Option<PathBuf>,
    /// Output format (json: the profile itself).
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    format: PlainFormat,
}

#[derive(Args, Debug)]
pub struct DriftArgs {
    /// The approved profile.
    #[arg(long, value_name = "FILE")]
    baseline: PathBuf,
    /// The profile made now.
    #[arg(long, value_name = "FILE")]
    current: PathBuf,
    /// Exit 1 when a finding is at or above this: critical, high, medium, low, info or none.
    #[arg(long = "fail-on", default_value = "critical", value_name = "SEVERITY")]
    fail_on: String,
    /// Output format (json: `{summary, findings}`).
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    format: PlainFormat,
}

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

/// Read at most `limit` bytes of a file; larger is an error naming it.
fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Fatal> {
    let f =
        std::fs::File::open(path).map_err(|e| Fatal(format!("{what} {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Fatal(format!("{what} {}: {e}", path.display())))?;
    if buf.len() as u64 > limit {
        return Err(Fatal(format!(
            "{what} {} is larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

fn read_text(path: &Path, limit: u64, what: &str) -> Result<String, Fatal> {
    String::from_utf8(read_limited(path, limit, what)?)
        .map_err(|_| Fatal(format!("{what} {}: not UTF-8 text", path.display())))
}

fn read_json(path: &Path, what: &str) -> Result<Value, Fatal> {
    let text = read_text(path, MAX_DOCUMENT, what)?;
    serde_json::from_str(&text).map_err(|e| Fatal(format!("{what} {}: {e}", path.display())))
}

/// Pretty JSON with keys sorted (what profiles and states look like on disk).
fn sorted_pretty(v: &Value) -> String {
    let sorted: Value = serde_json::from_str(&canonical_json(v)).unwrap_or_else(|_| v.clone());
    serde_json::to_string_pretty(&sorted).unwrap_or_default()
}

fn print_json(v: &Value) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", sorted_pretty(v))?;
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// What a path is, following symbolic links (as ClawSec's fingerprints do).
fn facts(path: &Path) -> Option<FileFacts> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o777
    };
    #[cfg(not(unix))]
    let mode = if meta.permissions().readonly() {
        0o444
    } else {
        0o644
    };
    let kind = if meta.is_file() {
        "file"
    } else if meta.is_dir() {
        "directory"
    } else {
        "other"
    };
    Some(FileFacts {
        kind,
        size: meta.is_file().then_some(meta.len()),
        mode,
        // An unreadable file is fingerprinted without a hash (drift shows when that changes).
        sha256: if meta.is_file() {
            sha256_file(path).ok()
        } else {
            None
        },
    })
}

fn absolute(p: &Path) -> Result<PathBuf, Fatal> {
    let cwd = std::env::current_dir()
        .map_err(|e| Fatal(format!("cannot read the current directory: {e}")))?;
    Ok(bulwark_core::action::workspace::lexical(&cwd.join(p)))
}

/// `~`, `~/...`, `$PICOCLAW_HOME/...`, else an absolute path (as ClawSec expands them).
fn expand(raw: &str, home: &Path) -> Result<String, Fatal> {
    let user_home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| Fatal(format!("{raw}: $HOME is not set")))
    };
    let v = raw.trim();
    let p = if v == "~" {
        user_home()?
    } else if let Some(rest) = v.strip_prefix("~/") {
        user_home()?.join(rest)
    } else if let Some(rest) = v.strip_prefix("$PICOCLAW_HOME/") {
        home.join(rest)
    } else {
        absolute(Path::new(v))?
    };
    Ok(p.display().to_string())
}

fn dedup(list: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// The output path, confined to `home` after symbolic links are resolved, and not a link itself.
fn confine_output(raw: &Path, home: &Path) -> Result<PathBuf, Fatal> {
    use bulwark_core::action::{PathContext, PathProblem, Workspace};
    let abs = absolute(raw)?;
    let ws = Workspace::new(
        PathContext {
            root: home.to_path_buf(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        },
        &[],
        &[],
    );
    let text = abs
        .to_str()
        .ok_or_else(|| Fatal(format!("{}: not UTF-8", abs.display())))?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    ws.check(text, &cwd, true, &bulwark_store::fs::OsPaths)
        .map_err(|e| match e {
            PathProblem::Outside {
                resolved,
                via_symlink,
            } => Fatal(format!(
                "--output {}: the output path must stay under the PicoClaw home {}{}",
                raw.display(),
                home.display(),
                if via_symlink {
                    format!(" (a symbolic link takes it to {})", resolved.display())
                } else {
                    String::new()
                }
            )),
            other => Fatal(format!("--output {}: {other:?}", raw.display())),
        })?;
    if std::fs::symlink_metadata(&abs).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Fatal(format!(
            "--output {}: the output path must not be a symbolic link",
            raw.display()
        )));
    }
    Ok(abs)
}

fn write_output(path: &Path, text: &str) -> Result<(), Fatal> {
    if let Some(parent) = path.parent() {
        bulwark_store::fs::create_private_dir(parent)
            .map_err(|e| Fatal(format!("cannot create {}: {e}", parent.display())))?;
    }
    bulwark_store::fs::write_private_atomic(path, text.as_bytes())
        .map_err(|e| Fatal(format!("cannot write {}: {e}", path.display())))
}

fn picoclaw_home(arg: Option<&Path>) -> Result<PathBuf, Fatal> {
    match arg {
        Some(p) => absolute(p),
        None => match std::env::var_os("PICOCLAW_HOME").filter(|v| !v.is_empty()) {
            Some(h) => absolute(Path::new(&h)),
            None => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".picoclaw"))
                .ok_or_else(|| Fatal("set PICOCLAW_HOME or HOME, or pass --home".into())),
        },
    }
}

/// The configuration files of an installation: the PicoClaw home and the candidate paths.
struct Located {
    home: PathBuf,
    config_paths: Vec<String>,
}

fn locate(inst: &Installation) -> Result<Located, Fatal> {
    let home = picoclaw_home(inst.home.as_deref())?;
    let mut candidates = Vec::new();
    if let Some(c) = std::env::var_os("PICOCLAW_CONFIG").filter(|v| !v.is_empty()) {
        candidates.push(expand(&c.to_string_lossy(), &home)?);
    }
    if let Some(c) = &inst.picoclaw_config {
        candidates.push(expand(&c.to_string_lossy(), &home)?);
    }
    for name in profile::CONFIG_FILE_NAMES {
        candidates.push(home.join(name).display().to_string());
    }
    Ok(Located {
        home,
        config_paths: dedup(candidates),
    })
}

/// The text of each readable file (regular, at most 1 MiB, also if it grows while read), in order.
fn read_sources(paths: &[String]) -> Vec<(String, String)> {
    paths
        .iter()
        .filter(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() <= profile::MAX_CONFIG_BYTES)
        })
        .filter_map(|p| {
            let mut bytes = Vec::new();
            std::fs::File::open(p)
                .and_then(|f| {
                    f.take(profile::MAX_CONFIG_BYTES + 1)
                        .read_to_end(&mut bytes)
                })
                .ok()
                .filter(|n| *n as u64 <= profile::MAX_CONFIG_BYTES)
                .map(|_| (p.clone(), String::from_utf8_lossy(&bytes).into_owned()))
        })
        .collect()
}

/// The raw-text signals of every file, merged (ClawSec's reading).
fn heuristic_signals(texts: &[(String, String)]) -> Signals {
    let mut signals = Signals::default();
    for (_, text) in texts {
        signals.merge(&Signals::from_text(text));
    }
    signals
}

/// Precise facts: each file by its schema, Bulwark's own configuration when it is a file.
fn precise_facts(
    texts: &[(String, String)],
    explicit: Option<&Path>,
) -> Result<bulwark_core::posture::precise::Facts, Fatal> {
    use bulwark_core::posture::precise::{Schema, Source, analyze};
    let (cfg, source) = crate::load_config(explicit)?;
    let sources: Vec<Source> = texts
        .iter()
        .map(|(path, text)| Source {
            path: path.clone(),
            schema: Schema::for_name(&base_name(Path::new(path))),
            text: text.clone(),
        })
        .collect();
    let scanner = bulwark_core::Scanner::new(&cfg.scan)?;
    let bulwark_file = match &source {
        bulwark_core::ConfigSource::File(p) => Some(p.display().to_string()),
        _ => None,
    };
    Ok(analyze(
        &sources,
        bulwark_file.as_deref().map(|p| (p, &cfg)),
        &scanner,
    ))
}

fn run_profile(args: ProfileArgs, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let Located { home, config_paths } = locate(&args.installation)?;
    let mut watched = Vec::new();
    for w in &args.watch {
        watched.push(expand(w, &home)?);
    }
    watched.extend(config_paths.iter().cloned());
    let watched = dedup(watched);
    let mut artifacts = Vec::new();
    for a in &args.artifacts {
        artifacts.push(expand(a, &home)?);
    }
    let artifacts = dedup(artifacts);
    let output = match &args.output {
        Some(o) => Some(confine_output(o, &home)?),
        None => None,
    };

    let texts = read_sources(&watched);
    let (signals, gateways) = match args.mode {
        Mode::Heuristic => (heuristic_signals(&texts), json!({})),
        Mode::Precise => {
            let facts = precise_facts(&texts, explicit)?;
            (facts.signals(), facts.gateways())
        }
    };
    let fingerprints = |list: &[String]| -> Vec<Value> {
        list.iter()
            .map(|p| profile::fingerprint(p, facts(Path::new(p)).as_ref()))
            .collect()
    };
    let state_path = match &args.feed_state {
        Some(p) => Some(p.clone()),
        None => {
            let p = home.join("security/clawsec/feed-verification-state.json");
            p.is_file().then_some(p)
        }
    };
    let feed_verification = match state_path {
        Some(p) => {
            let state = read_json(&p, "feed state")?;
            json!({"status": state.get("status").and_then(Value::as_str).unwrap_or("unknown")})
        }
        None => json!({"status": "unknown"}),
    };
    let p = profile::build(ProfileInput {
        home: home.display().to_string(),
        config_paths,
        watched_files: fingerprints(&watched),
        release_artifacts: fingerprints(&artifacts),
        signals,
        generated_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        feed_verification,
        gateways,
        mode: (args.mode == Mode::Precise).then_some("precise"),
    });
    if let Some(out) = &output {
        write_output(out, &format!("{}\n", sorted_pretty(&p)))?;
    }
    match args.format {
        PlainFormat::Json => print_json(&p)?,
        PlainFormat::Text => {
            let mut out = std::io::stdout().lock();
            let r = &p["posture"]["runtime"];
            writeln!(out, "picoclaw profile of {}", home.display())?;
            for (label, v) in [
                ("public web UI", &r["ui"]["public_web_ui"]),
                ("web UI auth disabled", &r["ui"]["auth_disabled"]),
                ("tools enabled", &r["tools"]["enabled"]),
                (
                    "workspace unrestricted",
                    &r["tools"]["unrestricted_workspace"],
                ),
                ("MCP enabled", &r["mcp"]["enabled"]),
                ("scheduler enabled", &r["scheduler"]["enabled"]),
                (
                    "unsigned mode allowed",
                    &r["risky_toggles"]["allow_unsigned_mode"],
                ),
                (
                    "secret markers in config",
                    &r["secrets"]["config_secret_markers"],
                ),
            ] {
                writeln!(out, "  {label:<26} {v}")?;
            }
            let files = p["posture"]["integrity"]["watched_files"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|f| f["exists"] == true).count());
            writeln!(out, "  watched files present      {files}")?;
            writeln!(
                out,
                "  feed verification          {}",
                p["posture"]["feed_verification"]["status"]
            )?;
            writeln!(
                out,
                "digest sha256:{}",
                p["digests"]["canonical_sha256"].as_str().unwrap_or("")
            )?;
            if let Some(o) = &output {
                writeln!(out, "written to {}", o.display())?;
            }
        }
    }
    Ok(0)
}

fn read_profile(path: &Path, what: &str) -> Result<Value, Fatal> {
    let v = read_json(path, what)?;
    profile::check(&v).map_err(|e| Fatal(format!("{what} {}: {e}", path.display())))?;
    Ok(v)
}

fn run_drift(args: DriftArgs) -> Result<u8, Fatal> {
    let threshold =
        Severity::parse_threshold(&args.fail_on).map_err(|e| Fatal(format!("--fail-on {e}")))?;
    let baseline = read_profile(&args.baseline, "baseline")?;
    let current = read_profile(&args.current, "current profile")?;
    let report = drift::diff(&baseline, &current);
    match args.format {
        PlainFormat::Json => print_json(&serde_json::to_value(&report)?)?,
        PlainFormat::Text => {
            let mut out = std::io::stdout().lock();
            let s = &report.summary;
            writeln!(
                out,
                "drift: {} critical, {} high, {} medium, {} low, {} info",
                s.critical, s.high, s.medium, s.low, s.info
            )?;
            for f in &report.findings {
                writeln!(
                    out,
                    "  {:<8} {:<32} {}",
                    f.severity.as_str(),
                    f.code,
                    f.message
                )?;
            }
        }
    }
    Ok(u8::from(report.fails(threshold)))
}

/// Verify `bytes` against a signature file with a key file.
fn check_signature(bytes: &[u8], sig: &Path, key: &Path) -> Result<Result<(), String>, Fatal> {
    let sig_bytes = read_limited(sig, MAX_SMALL, "signature")?;
    let key_text = read_text(key, MAX_SMALL, "public key")?;
    let key = PublicKey::parse(&key_text)
        .map_err(|e| Fatal(format!("public key {}: {e}", key.display())))?;
    Ok(DetachedSignature::parse(&sig_bytes)
        .map_err(|e| format!("signature {}: {e}", sig.display()))
        .and_then(|s| verify(bytes, &s, &key)))
}

fn base_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
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

pub fn run_posture(cmd: PostureCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    match cmd {
        PostureCommand::Profile(a) => run_profile(a, explicit),
        PostureCommand::Drift(a) => run_drift(a),
        PostureCommand::Review(a) => run_review(a, explicit),
    }
}

fn run_review(a: ReviewArgs, explicit: Option<&Path>) -> Result<u8, Fatal> {
    use bulwark_core::posture::review::{self, CODES};
    let threshold =
        Severity::parse_threshold(&a.fail_on).map_err(|e| Fatal(format!("--fail-on {e}")))?;
    let Located { home, config_paths } = locate(&a.installation)?;
    let texts = read_sources(&config_paths);
    let (findings, files) = match a.mode {
        Mode::Heuristic => {
            let signals = heuristic_signals(&texts);
            let files: Vec<Value> = texts
                .iter()
                .map(|(p, _)| json!({"path": p, "read_as": "heuristic"}))
                .collect();
            (review::review_signals(&signals), files)
        }
        Mode::Precise => {
            let facts = precise_facts(&texts, explicit)?;
            let mut files: Vec<Value> = facts
                .files
                .iter()
                .map(|f| serde_json::to_value(f).unwrap_or_default())
                .collect();
            if let Some(b) = &facts.bulwark {
                files.push(json!({"path": b.path, "read_as": "bulwark"}));
            }
            (review::review(&facts), files)
        }
    };
    // Files that exist but were not read are listed too (a review must say what it did not see).
    let mut files = files;
    for p in &config_paths {
        if texts.iter().any(|(read, _)| read == p) {
            continue;
        }
        let why = match std::fs::metadata(p) {
            Err(_) => continue,
            Ok(m) if !m.is_file() => "not a regular file",
            Ok(m) if m.len() > profile::MAX_CONFIG_BYTES => "larger than 1 MiB",
            Ok(_) => "unreadable",
        };
        files.push(json!({"path": p, "read_as": "skipped", "error": why}));
    }
    let mut summary = json!({"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0});
    for f in &findings {
        summary[f.severity.as_str()] =
            json!(summary[f.severity.as_str()].as_u64().unwrap_or(0) + 1);
    }
    let failed = threshold.is_some_and(|t| findings.iter().any(|f| f.severity >= t));
    let mut out = std::io::stdout().lock();
    match a.format {
        crate::Format::Json => {
            let doc = json!({
                "mode": match a.mode { Mode::Heuristic => "heuristic", Mode::Precise => "precise" },
                "home": home.display().to_string(),
                "files": files,
                "summary": summary,
                "findings": findings,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        crate::Format::Text => {
            writeln!(
                out,
                "posture review of {} ({} file(s) read): {} critical, {} high, {} medium, {} low",
                home.display(),
                files.len(),
                summary["critical"],
                summary["high"],
                summary["medium"],
                summary["low"]
            )?;
            for f in &findings {
                writeln!(
                    out,
                    "  {:<8} {:<30} {}",
                    f.severity.as_str(),
                    f.code,
                    f.message
                )?;
                // Where, as the JSON says it: each place a secret stands (file and line).
                let places: Vec<&str> = f.details["locations"]
                    .as_array()
                    .map(|l| l.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                for place in places.iter().take(20) {
                    writeln!(out, "           at:  {place}")?;
                }
                if places.len() > 20 {
                    writeln!(
                        out,
                        "           ... and {} more (--format json lists them all)",
                        places.len() - 20
                    )?;
                }
                writeln!(out, "           fix: {}", f.remediation)?;
            }
        }
        crate::Format::Sarif => {
            let rules: Vec<Value> = CODES
                .iter()
                .map(|(code, text)| {
                    json!({"id": code, "name": crate::report::camel(&code.to_lowercase().replace('_', "-")),
                        "shortDescription": {"text": text},
                        "properties": {"tags": ["security", "posture"]}})
                })
                .collect();
            let results: Vec<Value> = findings
                .iter()
                .map(|f| {
                    // Files under the home are relative to PICOCLAW_HOME; others are file URIs.
                    let path = f.file.clone().unwrap_or_default();
                    let location = match Path::new(&path).strip_prefix(&home) {
                        Ok(rel) if !path.is_empty() => json!({
                            "uri": crate::report::sarif_uri(&rel.display().to_string()),
                            "uriBaseId": "PICOCLAW_HOME"
                        }),
                        _ if path.is_empty() => json!({"uri": ".", "uriBaseId": "PICOCLAW_HOME"}),
                        _ => crate::report::artifact_location(&path),
                    };
                    let mut r = json!({
                        "ruleId": f.code,
                        "level": crate::report::sarif_level(f.severity),
                        "message": {"text": format!("{} Fix: {}", f.message, f.remediation)},
                        "locations": [{"physicalLocation": {"artifactLocation": location}}],
                        "properties": {"severity": f.severity.as_str()}
                    });
                    if let Some(i) = CODES.iter().position(|(c, _)| *c == f.code) {
                        r["ruleIndex"] = json!(i);
                    }
                    r
                })
                .collect();
            let mut doc = crate::report::sarif_log(rules, results, Vec::new(), true);
            doc["runs"][0]["originalUriBaseIds"] = json!({"PICOCLAW_HOME": {
                "uri": format!("file://{}/", crate::report::sarif_uri(&home.display().to_string()).trim_end_matches('/'))
            }});
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
    }
    Ok(u8::from(failed))
}

pub fn run_advisories(cmd: AdvisoriesCommand) -> Result<u8, Fatal> {
    match cmd {
        AdvisoriesCommand::Verify(a) => run_advisories_verify(a),
        AdvisoriesCommand::Check(a) => run_advisories_check(a),
    }
}

pub fn run_supply_chain_cmd(cmd: SupplyChainCommand) -> Result<u8, Fatal> {
    match cmd {
        SupplyChainCommand::Verify(a) => run_supply_chain(a),
    }
}
