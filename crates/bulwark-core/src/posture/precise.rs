//! Precise posture: PicoClaw's configuration parsed field by field instead of matched as text.
//!
//! Read: `config.json` (schema v3: `gateway`, `agents.defaults`, `tools.exec`, `tools.mcp`,
//! `tools.cron`, `channels`), `launcher-config.json` (`public`, `allowed_cidrs`,
//! `dashboard_password_hash`, `launcher_token`), `.security.yml` (credentials: plaintext,
//! `file://` or `enc://`) and Bulwark's own `bulwark.toml`. Plaintext secrets are found with the
//! content guard's detectors, not a keyword pattern. A file that is not one of these schemas
//! (`config.yaml`, ...) falls back to the raw-text markers, and the report says so.
//!
//! Where PicoClaw's own default is unknown or a value is missing, the reading that exposes more
//! is taken: a missing `enabled` on a configured tool or MCP server counts as on.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use super::profile::Signals;
use crate::scan::Scanner;

/// What kind of file a source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schema {
    /// PicoClaw's `config.json`.
    PicoclawConfig,
    /// PicoClaw's `launcher-config.json`.
    Launcher,
    /// PicoClaw's `.security.yml` / `security.yml`.
    SecurityYml,
    /// Any other configuration file: raw-text markers only.
    Heuristic,
}

impl Schema {
    /// The schema a file name implies.
    pub fn for_name(name: &str) -> Schema {
        match name {
            "config.json" => Schema::PicoclawConfig,
            "launcher-config.json" => Schema::Launcher,
            ".security.yml" | "security.yml" => Schema::SecurityYml,
            _ => Schema::Heuristic,
        }
    }
}

/// One file read.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// Its path.
    pub path: String,
    /// How it was read.
    pub read_as: Schema,
    /// Why it could not be parsed (its raw-text markers were used instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The gateway (`config.json` `gateway`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Gateway {
    /// Listen host.
    pub host: String,
    /// Reachable beyond this machine.
    pub public: bool,
    /// `allowed_cidrs` (empty: anyone who can reach it).
    pub allowed_cidrs: Vec<String>,
}

/// The launcher's web UI (`launcher-config.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Launcher {
    /// `public`: listens on every interface.
    pub public: bool,
    /// `allowed_cidrs`.
    pub allowed_cidrs: Vec<String>,
    /// A password hash or launcher token is set, and auth is not turned off.
    pub auth: bool,
}

/// The exec tool (`tools.exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Exec {
    /// On.
    pub enabled: bool,
    /// `enable_deny_patterns` (PicoClaw's built-in dangerous-command patterns).
    pub deny_patterns: bool,
    /// `custom_deny_patterns` count.
    pub custom_deny: usize,
    /// `allow_remote`.
    pub allow_remote: bool,
}

/// One MCP server: its own trust boundary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct McpServer {
    /// Its name in `tools.mcp.servers`.
    pub name: String,
    /// `stdio`, `sse` or `http`.
    pub transport: String,
    /// The command a stdio server runs, with its arguments.
    pub command: Vec<String>,
    /// The URL of an sse/http server.
    pub url: String,
    /// Environment variable names given to it (values never reported).
    pub env: Vec<String>,
    /// An `env_file` it reads.
    pub env_file: String,
    /// HTTP header names sent to it.
    pub headers: Vec<String>,
}

/// A chat channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Channel {
    /// `telegram`, `discord`, ...
    pub name: String,
    /// `allow_from` is empty: anyone can talk to the agent.
    pub open: bool,
}

/// A plaintext secret (where and which detector; never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretAt {
    /// The file.
    pub file: String,
    /// A key path (`channels.telegram.token`) or `line N`.
    pub location: String,
    /// The detector, or `security-yml-plaintext`.
    pub rule: String,
}

/// Bulwark's own exposure (`bulwark.toml`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BulwarkFacts {
    /// The file.
    pub path: String,
    /// `server.listen`.
    pub listen: String,
    /// The API listens beyond loopback.
    pub api_public: bool,
    /// Over plain HTTP (no `tls_cert`).
    pub api_plaintext: bool,
    /// `[egress.proxy] listen` is beyond loopback.
    pub proxy_public: bool,
    /// Proxy clients need no token.
    pub proxy_open: bool,
    /// `[action] mode`.
    pub action_mode: String,
    /// `[action.workspace] restrict`.
    pub workspace_restricted: bool,
    /// `[audit] enabled`.
    pub audit_enabled: bool,
}

/// Everything precise mode learned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    /// The files and how each was read.
    pub files: Vec<FileReport>,
    /// The gateway, when `config.json` has one.
    pub gateway: Option<Gateway>,
    /// The launcher, when `launcher-config.json` was read.
    pub launcher: Option<Launcher>,
    /// `agents.defaults.restrict_to_workspace` (default true).
    pub restrict_to_workspace: bool,
    /// `tools.allow_read_paths` and `allow_write_paths` outside the workspace.
    pub extra_paths: Vec<String>,
    /// The exec tool.
    pub exec: Option<Exec>,
    /// Active MCP servers.
    pub mcp: Vec<McpServer>,
    /// The cron tool is on.
    pub cron: bool,
    /// Cron jobs may run shell commands (`tools.cron.allow_command`).
    pub cron_commands: bool,
    /// Enabled channels.
    pub channels: Vec<Channel>,
    /// Plaintext secrets.
    pub secrets: Vec<SecretAt>,
    /// Signature checks can be skipped (raw-text markers: no schema field is known).
    pub unsigned_allowed: bool,
    /// Signals of files read heuristically.
    pub heuristic: Signals,
    /// Bulwark's own configuration, when read.
    pub bulwark: Option<BulwarkFacts>,
}

/// A file to read: path, schema, text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path (for reports).
    pub path: String,
    /// How to read it.
    pub schema: Schema,
    /// Its text.
    pub text: String,
}

fn is_public_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    if h.is_empty() {
        return false;
    }
    match h.parse::<IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => !h.eq_ignore_ascii_case("localhost"),
    }
}

fn on(v: Option<&Value>) -> bool {
    // Missing counts as on (see the module documentation); only an explicit false is off.
    !matches!(v, Some(Value::Bool(false)))
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn read_config(c: &Value, f: &mut Facts) {
    if let Some(g) = c.get("gateway").filter(|g| g.is_object()) {
        let host = g
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or("127.0.0.1")
            .to_string();
        f.gateway = Some(Gateway {
            public: is_public_host(&host),
            host,
            allowed_cidrs: strings(g.get("allowed_cidrs")),
        });
    }
    f.restrict_to_workspace = on(c.pointer("/agents/defaults/restrict_to_workspace"));
    let tools = c.get("tools");
    for k in ["allow_read_paths", "allow_write_paths"] {
        f.extra_paths.extend(
            strings(tools.and_then(|t| t.get(k)))
                .into_iter()
                .map(|p| format!("{k}: {p}")),
        );
    }
    if let Some(e) = tools.and_then(|t| t.get("exec")).filter(|e| e.is_object()) {
        f.exec = Some(Exec {
            enabled: on(e.get("enabled")),
            deny_patterns: on(e.get("enable_deny_patterns")),
            custom_deny: strings(e.get("custom_deny_patterns")).len(),
            allow_remote: e.get("allow_remote") == Some(&Value::Bool(true)),
        });
    }
    if let Some(m) = tools
        .and_then(|t| t.get("mcp"))
        .filter(|m| on(m.get("enabled")))
    {
        for (name, s) in m
            .get("servers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if !on(s.get("enabled")) {
                continue;
            }
            let command = s
                .get("command")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let url = s
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let transport = s
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| if url.is_empty() { "stdio" } else { "sse" }.to_string());
            let mut argv = vec![command];
            argv.extend(strings(s.get("args")));
            argv.retain(|a| !a.is_empty());
            f.mcp.push(McpServer {
                name: name.clone(),
                transport,
                command: argv,
                url,
                env: keys(s.get("env")),
                env_file: s
                    .get("env_file")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                headers: keys(s.get("headers")),
            });
        }
    }
    if let Some(cron) = tools.and_then(|t| t.get("cron")).filter(|c| c.is_object()) {
        f.cron = on(cron.get("enabled"));
        f.cron_commands = f.cron && cron.get("allow_command") == Some(&Value::Bool(true));
    }
    for (name, ch) in c
        .get("channels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if ch.get("enabled") == Some(&Value::Bool(true)) {
            f.channels.push(Channel {
                name: name.clone(),
                open: strings(ch.get("allow_from"))
                    .iter()
                    .all(|s| s.trim().is_empty()),
            });
        }
    }
}

fn read_launcher(l: &Value) -> Launcher {
    let nonempty = |k: &str| {
        l.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    };
    let auth_off = ["require_auth", "dashboard_auth", "auth"]
        .iter()
        .any(|k| l.get(*k) == Some(&Value::Bool(false)))
        || ["disable_auth", "no_auth"]
            .iter()
            .any(|k| l.get(*k) == Some(&Value::Bool(true)));
    Launcher {
        public: l.get("public") == Some(&Value::Bool(true))
            || l.get("host")
                .and_then(Value::as_str)
                .is_some_and(is_public_host),
        allowed_cidrs: strings(l.get("allowed_cidrs")),
        auth: !auth_off && (nonempty("dashboard_password_hash") || nonempty("launcher_token")),
    }
}

fn scan_secrets(scanner: &Scanner, path: &str, text: &str, out: &mut Vec<SecretAt>) {
    let detectors = crate::Detectors {
        secrets: true,
        pii: false,
        injection: false,
    };
    for finding in scanner.scan_with(text.as_bytes(), detectors) {
        let line = text[..finding.sort_span().start.min(text.len())]
            .matches('\n')
            .count()
            + 1;
        out.push(SecretAt {
            file: path.to_string(),
            location: format!("line {line}"),
            rule: finding.rule.clone(),
        });
    }
}

/// Read every source. `bulwark` is Bulwark's own configuration with its path, when there is a
/// file.
pub fn analyze(
    sources: &[Source],
    bulwark: Option<(&str, &crate::SecurityConfig)>,
    scanner: &Scanner,
) -> Facts {
    let mut f = Facts {
        restrict_to_workspace: true,
        ..Facts::default()
    };
    let markers = |text: &str, f: &mut Facts| {
        let s = Signals::from_text(text);
        f.unsigned_allowed |= s.allow_unsigned;
        s
    };
    for src in sources {
        let mut report = FileReport {
            path: src.path.clone(),
            read_as: src.schema,
            error: None,
        };
        let parsed: Result<(), String> = match src.schema {
            Schema::PicoclawConfig => serde_json::from_str::<Value>(&src.text)
                .map_err(|e| e.to_string())
                .and_then(|v| {
                    if v.is_object() {
                        read_config(&v, &mut f);
                        scan_secrets(scanner, &src.path, &src.text, &mut f.secrets);
                        Ok(())
                    } else {
                        Err("expected a JSON object".into())
                    }
                }),
            Schema::Launcher => serde_json::from_str::<Value>(&src.text)
                .map_err(|e| e.to_string())
                .map(|v| {
                    f.launcher = Some(read_launcher(&v));
                    scan_secrets(scanner, &src.path, &src.text, &mut f.secrets);
                }),
            Schema::SecurityYml => crate::vault::picoclaw::credentials(&src.text)
                .map_err(|e| match e {
                    crate::vault::VaultError::Format(m) => m,
                    other => other.to_string(),
                })
                .map(|found| {
                    for c in found {
                        if matches!(c.value, crate::vault::picoclaw::Stated::Plain(_)) {
                            f.secrets.push(SecretAt {
                                file: src.path.clone(),
                                location: c.key,
                                rule: "security-yml-plaintext".into(),
                            });
                        }
                    }
                }),
            Schema::Heuristic => Err(String::new()),
        };
        let s = markers(&src.text, &mut f);
        if let Err(e) = parsed {
            // Not a known schema, or not parseable: the raw-text markers stand in.
            f.heuristic.merge(&s);
            if src.schema != Schema::Heuristic {
                report.error = Some(e);
                report.read_as = Schema::Heuristic;
            }
            if report.read_as == Schema::Heuristic {
                scan_secrets(scanner, &src.path, &src.text, &mut f.secrets);
            }
        }
        f.files.push(report);
    }
    if let Some((path, cfg)) = bulwark {
        f.bulwark = Some(BulwarkFacts {
            path: path.to_string(),
            listen: cfg.server.listen.to_string(),
            api_public: !cfg.server.listen.ip().is_loopback(),
            api_plaintext: cfg.server.tls_cert.is_empty(),
            // Whether it runs inside `serve` or as `bulwark egress proxy`, this is where it listens.
            proxy_public: !cfg.egress.proxy.listen.ip().is_loopback(),
            proxy_open: !cfg.egress.proxy.require_client_auth,
            action_mode: format!("{:?}", cfg.action.mode).to_lowercase(),
            workspace_restricted: cfg.action.workspace.restrict,
            audit_enabled: cfg.audit.enabled,
        });
    }
    f
}

impl Facts {
    /// The `picoclaw-profile/v1` signals these facts give (precise mode's profile).
    pub fn signals(&self) -> Signals {
        let h = &self.heuristic;
        Signals {
            public_web_ui: h.public_web_ui
                || self.gateway.as_ref().is_some_and(|g| g.public)
                || self.launcher.as_ref().is_some_and(|l| l.public),
            auth_disabled: h.auth_disabled || self.launcher.as_ref().is_some_and(|l| !l.auth),
            allow_unsigned: self.unsigned_allowed,
            unrestricted_workspace: h.unrestricted_workspace || !self.restrict_to_workspace,
            mcp_enabled: h.mcp_enabled || !self.mcp.is_empty(),
            tools_enabled: h.tools_enabled || self.exec.as_ref().is_some_and(|e| e.enabled),
            scheduler_enabled: h.scheduler_enabled || self.cron,
            secret_markers: self.secrets.len() as u64,
        }
    }

    /// `posture.runtime.gateways`: each configured channel, on.
    pub fn gateways(&self) -> Value {
        Value::Object(
            self.channels
                .iter()
                .map(|c| (c.name.clone(), Value::Bool(true)))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(config: &str, launcher: Option<&str>, security: Option<&str>) -> Facts {
        let mut sources = vec![Source {
            path: "/h/config.json".into(),
            schema: Schema::PicoclawConfig,
            text: config.into(),
        }];
        if let Some(l) = launcher {
            sources.push(Source {
                path: "/h/launcher-config.json".into(),
                schema: Schema::Launcher,
                text: l.into(),
            });
        }
        if let Some(s) = security {
            sources.push(Source {
                path: "/h/.security.yml".into(),
                schema: Schema::SecurityYml,
                text: s.into(),
            });
        }
        let scanner = Scanner::new(&Default::default()).unwrap();
        analyze(&sources, None, &scanner)
    }

    #[test]
    fn fields_not_words() {
        // The word "shell" and "0.0.0.0" in a description are not settings.
        let f = facts(
            r#"{"agents": {"defaults": {"restrict_to_workspace": true}},
                "gateway": {"host": "127.0.0.1", "port": 18790},
                "notes": "never bind 0.0.0.0; the shell tool is off",
                "tools": {"exec": {"enabled": false}}}"#,
            None,
            None,
        );
        let s = f.signals();
        assert!(!s.public_web_ui && !s.tools_enabled && !s.unrestricted_workspace);
        assert!(
            Signals::from_text(r#"{"notes": "never bind 0.0.0.0; the shell tool is off"}"#)
                .tools_enabled
        );
    }

    #[test]
    fn everything_risky_is_seen() {
        let f = facts(
            r#"{"agents": {"defaults": {"restrict_to_workspace": false}},
                "gateway": {"host": "0.0.0.0"},
                "tools": {"exec": {"enable_deny_patterns": false, "allow_remote": true},
                          "cron": {"allow_command": true},
                          "mcp": {"enabled": true, "servers": {
                              "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/"], "env": {"TOKEN": "x"}},
                              "remote": {"type": "http", "url": "http://mcp.example.net/", "headers": {"Authorization": "Bearer x"}},
                              "off": {"enabled": false, "command": "x"}}}},
                "channels": {"telegram": {"enabled": true, "allow_from": []},
                             "discord": {"enabled": true, "allow_from": ["123"]},
                             "slack": {"enabled": false}},
                "model_list": [{"model_name": "m", "api_key": "sk-proj-Z8bQ2rW5tY7uI9oP1aS3dF6gH8jK0lZxCvBnM4qW7eR2tY5u"}]}"#,
            Some(r#"{"public": true, "dashboard_password_hash": ""}"#),
            Some(
                "channels:\n  telegram:\n    token: \"123456:ABCdef\"\n  slack:\n    bot_token: \"enc://AAAA\"\n",
            ),
        );
        let g = f.gateway.as_ref().unwrap();
        assert!(g.public);
        assert!(!f.restrict_to_workspace);
        let e = f.exec.as_ref().unwrap();
        assert!(e.enabled && !e.deny_patterns && e.allow_remote);
        assert!(f.cron && f.cron_commands);
        assert_eq!(f.mcp.len(), 2);
        let fs = f.mcp.iter().find(|m| m.name == "fs").unwrap();
        assert_eq!(fs.transport, "stdio");
        assert_eq!(fs.env, ["TOKEN"]);
        assert_eq!(f.channels.len(), 2);
        assert!(f.channels.iter().any(|c| c.name == "telegram" && c.open));
        assert!(f.channels.iter().any(|c| c.name == "discord" && !c.open));
        assert!(!f.launcher.as_ref().unwrap().auth);
        assert!(
            f.secrets
                .iter()
                .any(|s| s.location == "channels.telegram.token")
        );
        assert!(!f.secrets.iter().any(|s| s.location.contains("slack")));
        assert!(
            f.secrets.iter().any(|s| s.file.ends_with("config.json")),
            "{:?}",
            f.secrets
        );
        let s = f.signals();
        assert!(s.public_web_ui && s.auth_disabled && s.unrestricted_workspace && s.mcp_enabled);
        assert!(s.tools_enabled && s.scheduler_enabled);
        assert_eq!(f.gateways()["telegram"], true);
    }

    #[test]
    fn unparseable_files_fall_back_to_markers() {
        let f = facts("{ not json, bind: 0.0.0.0", None, None);
        assert_eq!(f.files[0].read_as, Schema::Heuristic);
        assert!(f.files[0].error.is_some());
        assert!(f.signals().public_web_ui);
    }
}
