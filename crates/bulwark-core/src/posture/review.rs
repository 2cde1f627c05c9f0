//! `bulwark posture review`: what in an agent host's configuration needs attention, each finding
//! with a severity and the change that fixes it.

use serde::Serialize;
use serde_json::{Value, json};

use super::Severity;
use super::precise::Facts;
use super::profile::Signals;

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewFinding {
    /// How much it matters.
    pub severity: Severity,
    /// Stable code.
    pub code: String,
    /// What is wrong.
    pub message: String,
    /// What to change.
    pub remediation: String,
    /// The file it comes from, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Specifics (names, counts; never secret values).
    #[serde(skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

/// Every code `review` can report, with a one-line description (SARIF rules, docs).
pub const CODES: [(&str, &str); 20] = [
    (
        "PUBLIC_WEB_UI_EXPOSED",
        "The gateway or web UI listens beyond this machine",
    ),
    (
        "WEB_UI_AUTH_DISABLED",
        "The web UI has no password or token",
    ),
    (
        "WORKSPACE_UNRESTRICTED",
        "Tools are not confined to the workspace",
    ),
    ("UNSIGNED_MODE_ALLOWED", "Signature checks can be skipped"),
    (
        "MCP_REVIEW_REQUIRED",
        "An MCP server is a trust boundary of its own",
    ),
    (
        "PLAINTEXT_SECRET_MARKERS",
        "Secrets are written in plaintext in configuration files",
    ),
    ("TOOLING_REVIEW_REQUIRED", "The agent can run commands"),
    (
        "EXEC_WITHOUT_DENY_PATTERNS",
        "The exec tool runs commands with no deny patterns",
    ),
    (
        "EXEC_REMOTE_ALLOWED",
        "Commands may come from remote channels",
    ),
    (
        "SCHEDULER_REVIEW_REQUIRED",
        "Scheduled jobs run without a human present",
    ),
    (
        "SCHEDULER_RUNS_COMMANDS",
        "Scheduled jobs may run shell commands",
    ),
    (
        "MULTI_CHANNEL_AUTH_REVIEW",
        "Several chat channels reach the same agent",
    ),
    (
        "CHANNEL_OPEN_TO_ANYONE",
        "A chat channel accepts messages from anyone",
    ),
    (
        "EXTRA_PATHS_OUTSIDE_WORKSPACE",
        "Paths outside the workspace are opened to tools",
    ),
    (
        "CONFIG_NOT_PARSED",
        "A configuration file could not be parsed; raw-text markers were used",
    ),
    (
        "BULWARK_API_PUBLIC_PLAINTEXT",
        "Bulwark's API listens beyond loopback without TLS",
    ),
    (
        "BULWARK_PROXY_OPEN",
        "Bulwark's egress proxy is reachable beyond loopback without client tokens",
    ),
    (
        "BULWARK_WORKSPACE_UNRESTRICTED",
        "Bulwark's action guard does not confine paths to the workspace",
    ),
    ("BULWARK_AUDIT_DISABLED", "Bulwark records no audit log"),
    (
        "BULWARK_AUTONOMOUS_MODE",
        "Bulwark lets agents act without approval",
    ),
];

struct Out(Vec<ReviewFinding>);

impl Out {
    fn add(
        &mut self,
        severity: Severity,
        code: &str,
        message: String,
        remediation: &str,
        file: Option<&str>,
        details: Value,
    ) {
        self.0.push(ReviewFinding {
            severity,
            code: code.into(),
            message,
            remediation: remediation.into(),
            file: file.map(str::to_string),
            details,
        });
    }
}

const FIX_PUBLIC: &str = "Listen on 127.0.0.1 and reach it over SSH or a VPN, or set allowed_cidrs to the addresses that need it";
const FIX_AUTH: &str =
    "Set a dashboard password (launcher-config.json dashboard_password_hash) or a launcher token";
const FIX_WORKSPACE: &str = "Set agents.defaults.restrict_to_workspace = true; open single paths with allow_read_paths instead";
const FIX_UNSIGNED: &str = "Remove allow_unsigned / skip_signature settings; verify feeds and releases (`bulwark advisories verify`, `bulwark supply-chain verify`)";
const FIX_SECRETS: &str = "Move them into the vault with `bulwark vault import-picoclaw --picoclaw-config DIR` (try --dry-run first): config.json's values become enc:// references PicoClaw reads";
const FIX_TOOLS: &str = "Keep exec off unless needed; screen its commands with `bulwark intent check` (read-only by default)";

fn heuristic(s: &Signals, out: &mut Out) {
    if s.public_web_ui {
        out.add(
            Severity::Critical,
            "PUBLIC_WEB_UI_EXPOSED",
            "a configuration file makes the web UI or gateway public (0.0.0.0 or public: true)"
                .into(),
            FIX_PUBLIC,
            None,
            Value::Null,
        );
    }
    if s.auth_disabled {
        out.add(
            Severity::Critical,
            "WEB_UI_AUTH_DISABLED",
            "a configuration file turns authentication off or leaves its secret empty".into(),
            FIX_AUTH,
            None,
            Value::Null,
        );
    }
    if s.unrestricted_workspace {
        out.add(
            Severity::High,
            "WORKSPACE_UNRESTRICTED",
            "workspace restriction is turned off".into(),
            FIX_WORKSPACE,
            None,
            Value::Null,
        );
    }
    if s.mcp_enabled {
        out.add(
            Severity::Medium,
            "MCP_REVIEW_REQUIRED",
            "MCP servers are configured".into(),
            "Review each MCP server: what it runs, what it can reach, which secrets it gets",
            None,
            Value::Null,
        );
    }
    if s.tools_enabled {
        out.add(
            Severity::Medium,
            "TOOLING_REVIEW_REQUIRED",
            "tools (shell, filesystem, code execution) are configured".into(),
            FIX_TOOLS,
            None,
            Value::Null,
        );
    }
    if s.scheduler_enabled {
        out.add(
            Severity::Medium,
            "SCHEDULER_REVIEW_REQUIRED",
            "a scheduler is configured".into(),
            "Review scheduled jobs: they act without anyone watching",
            None,
            Value::Null,
        );
    }
}

fn unsigned_allowed(out: &mut Out) {
    out.add(
        Severity::High,
        "UNSIGNED_MODE_ALLOWED",
        "a configuration file allows unsigned mode or skips signature checks".into(),
        FIX_UNSIGNED,
        None,
        Value::Null,
    );
}

/// Review from raw-text signals only (`--mode heuristic`).
pub fn review_signals(s: &Signals) -> Vec<ReviewFinding> {
    let mut out = Out(Vec::new());
    heuristic(s, &mut out);
    if s.allow_unsigned {
        unsigned_allowed(&mut out);
    }
    if s.secret_markers > 0 {
        out.add(
            Severity::High,
            "PLAINTEXT_SECRET_MARKERS",
            format!(
                "{} value(s) that look like secrets are written in configuration files",
                s.secret_markers
            ),
            FIX_SECRETS,
            None,
            json!({"count": s.secret_markers}),
        );
    }
    sort(out.0)
}

fn sort(mut v: Vec<ReviewFinding>) -> Vec<ReviewFinding> {
    v.sort_by(|a, b| {
        (std::cmp::Reverse(a.severity), &a.code, &a.message).cmp(&(
            std::cmp::Reverse(b.severity),
            &b.code,
            &b.message,
        ))
    });
    v
}

/// A stdio server whose package is fetched and run at start (its publisher decides what runs).
fn fetched_at_start(m: &super::precise::McpServer) -> bool {
    matches!(
        m.command.first().map(String::as_str),
        Some("npx" | "uvx" | "pipx" | "bunx" | "pnpm" | "docker")
    )
}

/// What an MCP server can reach, in words.
fn reach(m: &super::precise::McpServer) -> String {
    let mut parts = Vec::new();
    if m.transport == "stdio" || !m.command.is_empty() {
        let cmd = m.command.join(" ");
        let fetched = fetched_at_start(m);
        parts.push(format!(
            "runs `{}` as a local process with the agent's user rights (files, network, environment){}",
            if cmd.is_empty() { "?".into() } else { cmd },
            if fetched { "; the package is fetched and run at start, so its publisher can change what runs" } else { "" }
        ));
    }
    if !m.url.is_empty() {
        let plain = m.url.starts_with("http://");
        parts.push(format!(
            "sends the agent's requests to {} over {}{}",
            m.url,
            m.transport,
            if plain { " in plain HTTP" } else { "" }
        ));
    }
    if !m.env.is_empty() || !m.env_file.is_empty() {
        let mut e = m.env.join(", ");
        if !m.env_file.is_empty() {
            if !e.is_empty() {
                e.push_str(", ");
            }
            e.push_str(&format!("everything in {}", m.env_file));
        }
        parts.push(format!("receives environment {e}"));
    }
    if !m.headers.is_empty() {
        parts.push(format!("is sent headers {}", m.headers.join(", ")));
    }
    parts.join("; ")
}

/// Review the precise facts.
pub fn review(f: &Facts) -> Vec<ReviewFinding> {
    let mut out = Out(Vec::new());
    let file_of = |schema: super::precise::Schema| {
        f.files
            .iter()
            .find(|r| r.read_as == schema)
            .map(|r| r.path.as_str())
    };
    let config = file_of(super::precise::Schema::PicoclawConfig);
    let launcher = file_of(super::precise::Schema::Launcher);
    // Files read by markers contribute what markers can tell.
    heuristic(&f.heuristic, &mut out);
    for file in f.files.iter().filter(|r| r.error.is_some()) {
        out.add(
            Severity::Low,
            "CONFIG_NOT_PARSED",
            format!(
                "{} could not be parsed ({}); raw-text markers were used for it",
                file.path,
                file.error.as_deref().unwrap_or("")
            ),
            "Fix the file's syntax so every setting is read",
            Some(&file.path),
            Value::Null,
        );
    }
    if let Some(g) = f.gateway.as_ref().filter(|g| g.public) {
        let (sev, extra) = if g.allowed_cidrs.is_empty() {
            (
                Severity::Critical,
                " to anyone who can reach this host".to_string(),
            )
        } else {
            (
                Severity::Medium,
                format!(", limited to {}", g.allowed_cidrs.join(", ")),
            )
        };
        out.add(
            sev,
            "PUBLIC_WEB_UI_EXPOSED",
            format!("the gateway listens on {}{extra}", g.host),
            FIX_PUBLIC,
            config,
            json!({"host": g.host, "allowed_cidrs": g.allowed_cidrs}),
        );
    }
    if let Some(l) = &f.launcher {
        if l.public {
            let sev = if !l.auth {
                Severity::Critical
            } else if l.allowed_cidrs.is_empty() {
                Severity::High
            } else {
                Severity::Medium
            };
            out.add(
                sev,
                "PUBLIC_WEB_UI_EXPOSED",
                format!(
                    "the launcher web UI is public{}",
                    if l.allowed_cidrs.is_empty() {
                        String::new()
                    } else {
                        format!(", limited to {}", l.allowed_cidrs.join(", "))
                    }
                ),
                FIX_PUBLIC,
                launcher,
                json!({"allowed_cidrs": l.allowed_cidrs}),
            );
        }
        if !l.auth {
            let sev = if l.public {
                Severity::Critical
            } else {
                Severity::High
            };
            out.add(sev, "WEB_UI_AUTH_DISABLED", "the launcher web UI has no password hash or token (anyone who reaches it controls the agent)".into(), FIX_AUTH, launcher, Value::Null);
        }
    }
    if !f.restrict_to_workspace {
        out.add(Severity::High, "WORKSPACE_UNRESTRICTED", "agents.defaults.restrict_to_workspace is false: file and exec tools reach the whole filesystem".into(), FIX_WORKSPACE, config, Value::Null);
    }
    if !f.extra_paths.is_empty() {
        out.add(
            Severity::Low,
            "EXTRA_PATHS_OUTSIDE_WORKSPACE",
            format!(
                "{} path(s) outside the workspace are opened to tools",
                f.extra_paths.len()
            ),
            "Keep these lists to what the agent needs; never a home directory or /",
            config,
            json!({"paths": f.extra_paths}),
        );
    }
    if f.unsigned_allowed {
        unsigned_allowed(&mut out);
    }
    for m in &f.mcp {
        let fetched = fetched_at_start(m);
        let sev = if m.url.starts_with("http://")
            || fetched
            || !m.env.is_empty()
            || !m.env_file.is_empty()
        {
            Severity::High
        } else {
            Severity::Medium
        };
        out.add(sev, "MCP_REVIEW_REQUIRED", format!("MCP server {:?} {}", m.name, reach(m)), "Pin the server's version, give it only the secrets it needs, prefer https, and treat its tool descriptions as untrusted (`bulwark scan --source mcp_tool_description`)", config, json!({"server": m.name, "transport": m.transport, "env": m.env, "headers": m.headers}));
    }
    if !f.secrets.is_empty() {
        let mut rules: Vec<&str> = f.secrets.iter().map(|s| s.rule.as_str()).collect();
        rules.sort_unstable();
        rules.dedup();
        let locations: Vec<String> = f
            .secrets
            .iter()
            .map(|s| format!("{}: {}", s.file, s.location))
            .collect();
        out.add(
            Severity::High,
            "PLAINTEXT_SECRET_MARKERS",
            format!(
                "{} plaintext secret(s) in configuration files",
                f.secrets.len()
            ),
            FIX_SECRETS,
            f.secrets.first().map(|s| s.file.as_str()),
            json!({"count": f.secrets.len(), "rules": rules, "locations": locations}),
        );
    }
    if let Some(e) = f.exec.as_ref().filter(|e| e.enabled) {
        out.add(
            Severity::Medium,
            "TOOLING_REVIEW_REQUIRED",
            "the exec tool is on: the agent can run shell commands".into(),
            FIX_TOOLS,
            config,
            Value::Null,
        );
        if !e.deny_patterns && e.custom_deny == 0 {
            out.add(Severity::High, "EXEC_WITHOUT_DENY_PATTERNS", "tools.exec.enable_deny_patterns is false and there are no custom_deny_patterns: rm -rf, dd and shutdown are not blocked".into(), "Set tools.exec.enable_deny_patterns = true, and screen commands with `bulwark intent check`", config, Value::Null);
        }
        if e.allow_remote {
            out.add(
                Severity::High,
                "EXEC_REMOTE_ALLOWED",
                "tools.exec.allow_remote is true: messages from chat channels can lead to commands"
                    .into(),
                "Set tools.exec.allow_remote = false, or require approval (`bulwark approvals`)",
                config,
                Value::Null,
            );
        }
    }
    if f.cron {
        out.add(
            Severity::Medium,
            "SCHEDULER_REVIEW_REQUIRED",
            "the cron tool is on: jobs run without anyone watching".into(),
            "Review scheduled jobs; keep their tools read-only",
            config,
            Value::Null,
        );
        if f.cron_commands {
            out.add(
                Severity::High,
                "SCHEDULER_RUNS_COMMANDS",
                "tools.cron.allow_command is true: scheduled jobs may run shell commands".into(),
                "Set tools.cron.allow_command = false",
                config,
                Value::Null,
            );
        }
    }
    if f.channels.len() > 1 {
        let names: Vec<&str> = f.channels.iter().map(|c| c.name.as_str()).collect();
        out.add(
            Severity::Medium,
            "MULTI_CHANNEL_AUTH_REVIEW",
            format!(
                "{} chat channels reach the same agent ({})",
                names.len(),
                names.join(", ")
            ),
            "Check every channel's allow_from; the weakest one decides who can instruct the agent",
            config,
            json!({"channels": names}),
        );
    }
    for c in f.channels.iter().filter(|c| c.open) {
        out.add(Severity::High, "CHANNEL_OPEN_TO_ANYONE", format!("channel {} is enabled with an empty allow_from: anyone who finds the bot can instruct the agent", c.name), "Set channels.NAME.allow_from to the user ids that may talk to the agent", config, json!({"channel": c.name}));
    }
    if let Some(b) = &f.bulwark {
        let file = Some(b.path.as_str());
        if b.api_public && b.api_plaintext {
            out.add(Severity::Critical, "BULWARK_API_PUBLIC_PLAINTEXT", format!("Bulwark's API listens on {} without TLS: API tokens cross the network in the clear", b.listen), "Set server.tls_cert and server.tls_key, or listen on 127.0.0.1", file, Value::Null);
        }
        if b.proxy_public && b.proxy_open {
            out.add(Severity::High, "BULWARK_PROXY_OPEN", "Bulwark's egress proxy listens beyond loopback and takes clients without a token".into(), "Set egress.proxy.require_client_auth = true with [egress.proxy.clients], or listen on 127.0.0.1", file, Value::Null);
        }
        if !b.workspace_restricted {
            out.add(
                Severity::High,
                "BULWARK_WORKSPACE_UNRESTRICTED",
                "action.workspace.restrict is false: tool paths are not confined".into(),
                "Set [action.workspace] restrict = true",
                file,
                Value::Null,
            );
        }
        if !b.audit_enabled {
            out.add(
                Severity::High,
                "BULWARK_AUDIT_DISABLED",
                "audit.enabled is false: decisions leave no evidence".into(),
                "Set [audit] enabled = true",
                file,
                Value::Null,
            );
        }
        if b.action_mode == "autonomous" {
            out.add(Severity::Medium, "BULWARK_AUTONOMOUS_MODE", "action.mode is autonomous: writes and destructive actions run without approval unless a tier demands it".into(), "Use supervised mode, or tiers with effect = \"approval\" for production namespaces", file, Value::Null);
        }
    }
    // Markers and fields may report the same thing: keep the most severe of each code and message.
    let mut v = sort(out.0);
    v.dedup_by(|b, a| a.code == b.code && a.message == b.message);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed() {
        let f = Facts {
            restrict_to_workspace: false,
            ..Facts::default()
        };
        for finding in review(&f).iter().chain(
            review_signals(&Signals {
                public_web_ui: true,
                auth_disabled: true,
                allow_unsigned: true,
                unrestricted_workspace: true,
                mcp_enabled: true,
                tools_enabled: true,
                scheduler_enabled: true,
                secret_markers: 2,
            })
            .iter(),
        ) {
            assert!(
                CODES.iter().any(|(c, _)| *c == finding.code),
                "{}",
                finding.code
            );
            assert!(!finding.remediation.is_empty());
        }
    }
}
