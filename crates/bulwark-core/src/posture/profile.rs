//! `picoclaw-profile/v1`: what a PicoClaw installation's configuration exposes, and fingerprints
//! of the files that must not change unnoticed.
//!
//! The signals come from the raw text of each configuration file, with the markers ClawSec's
//! guardian uses, so a profile made here and one made there agree. The digest is SHA-256 of the
//! profile without `digests`, as compact JSON with keys sorted recursively.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::{canonical_json, sha256_hex};

/// The schema this module writes.
pub const SCHEMA_VERSION: &str = "picoclaw-profile/v1";

/// Configuration files bigger than this are not read (their signals count as absent).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The configuration file names looked for in the PicoClaw home, in order.
pub const CONFIG_FILE_NAMES: [&str; 6] = [
    "config.yaml",
    "config.yml",
    "config.json",
    "launcher-config.json",
    ".security.yml",
    "security.yml",
];

/// What the configuration text exposes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Signals {
    /// The web UI or gateway listens on every interface, or is marked public.
    pub public_web_ui: bool,
    /// Authentication is off or its secret is empty.
    pub auth_disabled: bool,
    /// Signature checks can be skipped.
    pub allow_unsigned: bool,
    /// Tools are not confined to the workspace.
    pub unrestricted_workspace: bool,
    /// MCP servers are configured.
    pub mcp_enabled: bool,
    /// Tools (shell, filesystem, code execution) are configured.
    pub tools_enabled: bool,
    /// A scheduler (cron) is configured.
    pub scheduler_enabled: bool,
    /// Values that look like secrets written in the configuration.
    pub secret_markers: u64,
}

struct Markers {
    literal: &'static [&'static str],
    patterns: Vec<regex::Regex>,
}

impl Markers {
    fn new(literal: &'static [&'static str], patterns: &[&str]) -> Markers {
        Markers {
            literal,
            patterns: patterns
                .iter()
                .map(|p| regex::Regex::new(&format!("(?i){p}")).expect("static pattern"))
                .collect(),
        }
    }

    fn found(&self, lower: &str, text: &str) -> bool {
        self.literal.iter().any(|m| lower.contains(m))
            || self.patterns.iter().any(|p| p.is_match(text))
    }
}

fn json_bool(key: &str, value: bool) -> String {
    format!(r#""{key}"\s*:\s*{value}"#)
}

fn json_empty(key: &str) -> String {
    format!(r#""{key}"\s*:\s*"\s*""#)
}

fn json_string(key: &str, value: &str) -> String {
    format!(r#""{key}"\s*:\s*"{}""#, regex::escape(value))
}

struct AllMarkers {
    public_web_ui: Markers,
    auth_disabled: Markers,
    allow_unsigned: Markers,
    unrestricted_workspace: Markers,
    mcp: Markers,
    tools: Markers,
    scheduler: Markers,
    secret: regex::Regex,
}

static MARKERS: LazyLock<AllMarkers> = LazyLock::new(|| AllMarkers {
    public_web_ui: Markers::new(
        &[
            "public: true",
            "bind: 0.0.0.0",
            "host: 0.0.0.0",
            "-public",
            r#""public": true"#,
            r#""bind": "0.0.0.0""#,
            r#""host": "0.0.0.0""#,
            r#""listen": "0.0.0.0""#,
        ],
        &[
            &json_bool("public", true),
            &json_string("bind", "0.0.0.0"),
            &json_string("host", "0.0.0.0"),
            &json_string("listen", "0.0.0.0"),
        ],
    ),
    auth_disabled: Markers::new(
        &[
            "auth: false",
            "disable_auth: true",
            "no_auth: true",
            "password: ''",
            r#"password: """#,
            r#""auth": false"#,
            r#""disable_auth": true"#,
            r#""no_auth": true"#,
            r#""require_auth": false"#,
            r#""dashboard_auth": false"#,
            r#""password": """#,
            r#""dashboard_password_hash": """#,
            r#""launcher_token": """#,
        ],
        &[
            &json_bool("auth", false),
            &json_bool("disable_auth", true),
            &json_bool("no_auth", true),
            &json_bool("require_auth", false),
            &json_bool("dashboard_auth", false),
            &json_empty("password"),
            &json_empty("dashboard_password_hash"),
            &json_empty("launcher_token"),
        ],
    ),
    allow_unsigned: Markers::new(
        &[
            "allow_unsigned",
            "skip_signature",
            "disable_signature",
            "insecure_skip_verify",
        ],
        &[],
    ),
    unrestricted_workspace: Markers::new(
        &[
            "restrict_to_workspace: false",
            "workspace_restriction: false",
            "sandbox: false",
            r#""restrict_to_workspace": false"#,
            r#""workspace_restriction": false"#,
            r#""sandbox": false"#,
        ],
        &[
            &json_bool("restrict_to_workspace", false),
            &json_bool("workspace_restriction", false),
            &json_bool("sandbox", false),
        ],
    ),
    mcp: Markers::new(
        &[
            "mcp:",
            "mcp_servers",
            "modelcontextprotocol",
            r#""mcp""#,
            r#""mcp_servers""#,
        ],
        &[],
    ),
    tools: Markers::new(
        &[
            "tools:",
            "code_execution",
            "shell",
            "filesystem",
            r#""tools""#,
            r#""exec""#,
            r#""shell""#,
        ],
        &[],
    ),
    scheduler: Markers::new(&["cron", "schedule", "scheduler"], &[]),
    secret: regex::Regex::new(
        r#"(?i)(api[_-]?key|token|secret|password)\s*[":=]+\s*['"]?[^\s'"]{8,}"#,
    )
    .expect("static pattern"),
});

impl Signals {
    /// The signals of one configuration file's text.
    pub fn from_text(text: &str) -> Signals {
        let m = &*MARKERS;
        let lower = text.to_lowercase();
        Signals {
            public_web_ui: m.public_web_ui.found(&lower, text),
            auth_disabled: m.auth_disabled.found(&lower, text),
            allow_unsigned: m.allow_unsigned.found(&lower, text),
            unrestricted_workspace: m.unrestricted_workspace.found(&lower, text),
            mcp_enabled: m.mcp.found(&lower, text),
            tools_enabled: m.tools.found(&lower, text),
            scheduler_enabled: m.scheduler.found(&lower, text),
            secret_markers: m.secret.find_iter(text).count() as u64,
        }
    }

    /// Combine the signals of several files: a flag set in any of them is set; markers add up.
    pub fn merge(&mut self, other: &Signals) {
        self.public_web_ui |= other.public_web_ui;
        self.auth_disabled |= other.auth_disabled;
        self.allow_unsigned |= other.allow_unsigned;
        self.unrestricted_workspace |= other.unrestricted_workspace;
        self.mcp_enabled |= other.mcp_enabled;
        self.tools_enabled |= other.tools_enabled;
        self.scheduler_enabled |= other.scheduler_enabled;
        self.secret_markers += other.secret_markers;
    }
}

/// What is known about a path that exists (following symbolic links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// `file`, `directory` or `other`.
    pub kind: &'static str,
    /// Size in bytes (files only).
    pub size: Option<u64>,
    /// Permission bits (`mode & 0o777`).
    pub mode: u32,
    /// SHA-256 of the content (files only).
    pub sha256: Option<String>,
}

/// One integrity entry: `{path, exists: false}`, or `{path, exists, type, size, mode, sha256}`.
pub fn fingerprint(path: &str, facts: Option<&FileFacts>) -> Value {
    match facts {
        None => json!({"path": path, "exists": false}),
        Some(f) => json!({
            "path": path,
            "exists": true,
            "type": f.kind,
            "size": f.size,
            "mode": format!("{:03o}", f.mode & 0o777),
            "sha256": f.sha256,
        }),
    }
}

/// Everything a profile is made of.
#[derive(Debug, Clone)]
pub struct ProfileInput {
    /// The PicoClaw home (absolute).
    pub home: String,
    /// The configuration files looked at, in order (existing or not).
    pub config_paths: Vec<String>,
    /// Fingerprints of the watched files (`fingerprint`).
    pub watched_files: Vec<Value>,
    /// Fingerprints of release artifacts.
    pub release_artifacts: Vec<Value>,
    /// The merged signals.
    pub signals: Signals,
    /// RFC 3339 time.
    pub generated_at: String,
    /// `posture.feed_verification` (`{"status": "unknown"}` when nothing is known).
    pub feed_verification: Value,
    /// `posture.runtime.gateways`.
    pub gateways: Value,
    /// How the signals were derived, recorded as `generator.mode` when not the raw-text
    /// heuristic (`precise`).
    pub mode: Option<&'static str>,
}

/// Build the profile, with its digest.
pub fn build(input: ProfileInput) -> Value {
    let s = &input.signals;
    let mut profile = json!({
        "schema_version": SCHEMA_VERSION,
        "platform": "picoclaw",
        "generated_at": input.generated_at,
        "generator": {"name": "bulwark", "version": env!("CARGO_PKG_VERSION")},
        "posture": {
            "runtime": {
                "home": input.home,
                "config_paths": input.config_paths,
                "gateways": input.gateways,
                "ui": {"public_web_ui": s.public_web_ui, "auth_disabled": s.auth_disabled},
                "tools": {"enabled": s.tools_enabled, "unrestricted_workspace": s.unrestricted_workspace},
                "mcp": {"enabled": s.mcp_enabled},
                "scheduler": {"enabled": s.scheduler_enabled},
                "risky_toggles": {"allow_unsigned_mode": s.allow_unsigned},
                "secrets": {"config_secret_markers": s.secret_markers},
            },
            "integrity": {
                "watched_files": input.watched_files,
                "release_artifacts": input.release_artifacts,
            },
            "feed_verification": input.feed_verification,
        },
    });
    if let Some(mode) = input.mode {
        profile["generator"]["mode"] = json!(mode);
    }
    let digest = digest(&profile);
    profile["digests"] = json!({"canonical_sha256": digest});
    profile
}

/// The digest of a profile: SHA-256 of its canonical JSON without `digests`.
pub fn digest(profile: &Value) -> String {
    let mut body = profile.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("digests");
    }
    sha256_hex(canonical_json(&body).as_bytes())
}

/// Check a profile read back: an object whose `digests.canonical_sha256`, when present, matches
/// its content. Returns whether a digest was there to check.
pub fn check(profile: &Value) -> Result<bool, String> {
    if !profile.is_object() {
        return Err("not a profile: expected a JSON object".into());
    }
    match profile.pointer("/digests/canonical_sha256") {
        None => Ok(false),
        Some(Value::String(want)) => {
            let got = digest(profile);
            if got.eq_ignore_ascii_case(want) {
                Ok(true)
            } else {
                Err(format!(
                    "digests.canonical_sha256 is {want} but the content hashes to {got}: the profile was changed after it was made"
                ))
            }
        }
        Some(other) => Err(format!(
            "digests.canonical_sha256 = {other}: expected 64 hex digits"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clawsec_documented_case() {
        let s = Signals::from_text("bind: 0.0.0.0\nauth: false\nmcp:\n  servers: []\n");
        assert!(s.public_web_ui && s.auth_disabled && s.mcp_enabled);
        assert!(!s.unrestricted_workspace && !s.allow_unsigned);
    }

    #[test]
    fn json_spacing_variants_match() {
        let s = Signals::from_text(
            r#"{"gateway": {"host":"0.0.0.0"}, "restrict_to_workspace" :false, "password":"  "}"#,
        );
        assert!(s.public_web_ui && s.unrestricted_workspace && s.auth_disabled);
        let quiet = Signals::from_text(
            r#"{"gateway": {"host": "127.0.0.1"}, "restrict_to_workspace": true}"#,
        );
        assert_eq!(quiet, Signals::default());
    }

    #[test]
    fn secret_markers_count_values_not_names() {
        let s = Signals::from_text(
            "api_key: sk-live-1234567890\ntoken = \"short\"\npassword: \"hunter2hunter2\"\n",
        );
        assert_eq!(s.secret_markers, 2);
    }

    #[test]
    fn digest_covers_everything_but_itself() {
        let p = build(ProfileInput {
            home: "/h".into(),
            config_paths: vec!["/h/config.json".into()],
            watched_files: vec![fingerprint("/h/config.json", None)],
            release_artifacts: vec![],
            signals: Signals::default(),
            generated_at: "2026-01-01T00:00:00.000Z".into(),
            feed_verification: json!({"status": "unknown"}),
            gateways: json!({}),
            mode: None,
        });
        let d = p["digests"]["canonical_sha256"].as_str().unwrap();
        assert_eq!(d.len(), 64);
        assert_eq!(check(&p), Ok(true));
        let mut changed = p.clone();
        changed["posture"]["runtime"]["mcp"]["enabled"] = json!(true);
        assert!(check(&changed).is_err());
    }
}
