//! `bulwark posture profile|drift|review`: the host's posture, in the formats of ClawSec's
//! picoclaw-security-guardian; and the file reading the posture, advisory and supply-chain
//! commands share.
//!
//! Every command reads what it is given and writes only the output it is told (`--output`,
//! `--state`) and standard output. Exit codes: 0 fine, 1 a finding or a failed verification,
//! 2 unusable input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bulwark_core::posture::drift;
use bulwark_core::posture::profile::{self, FileFacts, ProfileInput, Signals};
use bulwark_core::posture::signature::{DetachedSignature, PublicKey, verify};
use bulwark_core::posture::{Severity, canonical_json};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{Fatal, PlainFormat};

/// Largest feed, manifest or profile read.
pub(crate) const MAX_DOCUMENT: u64 = 64 * 1024 * 1024;
/// Largest key or signature file read.
pub(crate) const MAX_SMALL: u64 = 64 * 1024;

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

/// Read at most `limit` bytes of a file; larger is an error naming it.
pub(crate) fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Fatal> {
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

pub(crate) fn read_text(path: &Path, limit: u64, what: &str) -> Result<String, Fatal> {
    String::from_utf8(read_limited(path, limit, what)?)
        .map_err(|_| Fatal(format!("{what} {}: not UTF-8 text", path.display())))
}

pub(crate) fn read_json(path: &Path, what: &str) -> Result<Value, Fatal> {
    let text = read_text(path, MAX_DOCUMENT, what)?;
    serde_json::from_str(&text).map_err(|e| Fatal(format!("{what} {}: {e}", path.display())))
}

/// Pretty JSON with keys sorted (what profiles and states look like on disk).
pub(crate) fn sorted_pretty(v: &Value) -> String {
    let sorted: Value = serde_json::from_str(&canonical_json(v)).unwrap_or_else(|_| v.clone());
    serde_json::to_string_pretty(&sorted).unwrap_or_default()
}

pub(crate) fn print_json(v: &Value) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", sorted_pretty(v))?;
    Ok(())
}

pub(crate) fn sha256_file(path: &Path) -> std::io::Result<String> {
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
pub(crate) fn facts(path: &Path) -> Option<FileFacts> {
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

pub(crate) fn absolute(p: &Path) -> Result<PathBuf, Fatal> {
    let cwd = std::env::current_dir()
        .map_err(|e| Fatal(format!("cannot read the current directory: {e}")))?;
    Ok(bulwark_core::action::workspace::lexical(&cwd.join(p)))
}

/// `~`, `~/...`, `$PICOCLAW_HOME/...`, else an absolute path (as ClawSec expands them).
pub(crate) fn expand(raw: &str, home: &Path) -> Result<String, Fatal> {
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
pub(crate) fn confine_output(raw: &Path, home: &Path) -> Result<PathBuf, Fatal> {
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

pub(crate) fn write_output(path: &Path, text: &str) -> Result<(), Fatal> {
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
pub(crate) fn check_signature(
    bytes: &[u8],
    sig: &Path,
    key: &Path,
) -> Result<Result<(), String>, Fatal> {
    let sig_bytes = read_limited(sig, MAX_SMALL, "signature")?;
    let key_text = read_text(key, MAX_SMALL, "public key")?;
    let key = PublicKey::parse(&key_text)
        .map_err(|e| Fatal(format!("public key {}: {e}", key.display())))?;
    Ok(DetachedSignature::parse(&sig_bytes)
        .map_err(|e| format!("signature {}: {e}", sig.display()))
        .and_then(|s| verify(bytes, &s, &key)))
}

pub(crate) fn base_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
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
