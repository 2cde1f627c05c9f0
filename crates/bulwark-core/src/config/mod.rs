//! The one configuration schema, `bulwark.toml`: this module composes the sections each guard owns
//! (`scan::cfg`, `egress::cfg`, `action::cfg`, ...), loads them, applies environment overrides and
//! reports every problem at once.
//!
//! Threat answered: a guard that is misconfigured silently is worse than none. Every field has a safe
//! default, unknown keys are errors (a typo must not turn a guard off), and every error names the key
//! path, the bad value and what was expected, with the line and column in the file (or the
//! environment variable that set it).

pub mod locate;
mod overrides;
pub mod problems;
pub mod server;
mod template;
pub mod typed;

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::action::cfg::{
    ActionConfig, ActionMode, ExecConfig, ExecNetwork, ExecProgramConfig, ShellConfig,
    ShellProgramConfig, TierConfig, TierEffect, ToolClassesConfig, WorkspaceConfig,
};
pub use crate::approval::cfg::ApprovalConfig;
pub use crate::audit::cfg::{AuditBackend, AuditConfig, OpenVerify};
pub use crate::egress::cfg::{
    EgressConfig, EgressProfileConfig, PortRule, ProxyClientConfig, ProxyConfig, ResponseScan,
};
pub use crate::scan::cfg::{
    InjectionConfig, Operator, PiiConfig, RedactConfig, ScanConfig, SecretsConfig,
};
pub use crate::vault::cfg::{SecretForm, SecretRef, VAULT_PREFIX, VaultConfig};
pub use crate::webhook::cfg::{IngressConfig, IngressSourceConfig};
pub use locate::{ConfigSource, bulwark_home, locate};
use problems::{Problems, Report};
pub use server::{ConsoleConfig, LimitsConfig, OidcConfig, ServerConfig, StoreConfig};
pub use template::default_file;

/// The whole configuration. Each guard has its own section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Content guard: secret and personal-data detection.
    pub scan: ScanConfig,
    /// Redaction of what the content guard finds.
    pub redact: RedactConfig,
    /// Egress guard: which URLs agents may fetch, and the egress proxy.
    pub egress: EgressConfig,
    /// The tamper-evident audit log.
    pub audit: AuditConfig,
    /// Action guard: which tool calls run, wait for a human, or never run.
    pub action: ActionConfig,
    /// Human approvals of actions the action guard sends to review.
    pub approval: ApprovalConfig,
    /// Bulwark's own state database.
    pub store: StoreConfig,
    /// The sidecar HTTP API (`bulwark serve`).
    pub server: ServerConfig,
    /// Webhook ingress (`POST /v1/ingress/{source}`).
    pub ingress: IngressConfig,
    /// The credential vault.
    pub vault: VaultConfig,
    /// The model gateway: Bulwark as the agent's model provider.
    pub gateway: crate::gateway::cfg::GatewayConfig,
    /// The MCP gateway: MCP servers wrapped by Bulwark (`bulwark mcp wrap`).
    pub mcp: crate::mcp::cfg::McpConfig,
    /// The web console for approvers (`/console`).
    pub console: ConsoleConfig,
}

/// What went wrong loading or validating a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Every problem found: syntax, unknown keys, wrong types, out-of-range or inconsistent
    /// values, misspelt overrides.
    #[error("{0}")]
    Invalid(Box<Report>),
}

/// Most problems one load reports; past it, the rest are left for the next run.
const MAX_PROBLEMS: usize = 100;

impl SecurityConfig {
    /// Load from a located source, then apply `BULWARK_<KEY_PATH>` environment overrides, then
    /// check. Every problem is reported at once.
    pub fn load(
        source: &ConfigSource,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let (origin, text) = match source {
            ConfigSource::File(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError::Read {
                    path: p.clone(),
                    source: e,
                })?;
                (p.display().to_string(), text)
            }
            ConfigSource::Defaults => ("built-in defaults".to_string(), String::new()),
        };
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("BULWARK_"))
            .collect();
        let mut cfg = Self::parse_with(&origin, &text, &names, env)?;
        let base = match source {
            ConfigSource::File(p) => p.parent().map(Path::to_path_buf),
            ConfigSource::Defaults => None,
        };
        cfg.read_namespace_labels(base.as_deref())?;
        Ok(cfg)
    }

    /// Merge `[action] namespace_labels_file` into `namespace_labels` (the inline entries win).
    fn read_namespace_labels(&mut self, base: Option<&Path>) -> Result<(), ConfigError> {
        /// Largest labels file read.
        const MAX_BYTES: u64 = 16 * 1024 * 1024;
        let name = &self.action.namespace_labels_file;
        if name.is_empty() {
            return Ok(());
        }
        let path = match base {
            Some(b) if Path::new(name).is_relative() => b.join(name),
            _ => PathBuf::from(name),
        };
        let invalid = |expected: String| {
            let mut p = Problems::default();
            p.invalid(
                "action.namespace_labels_file",
                format!("{name:?}"),
                expected,
            );
            ConfigError::Invalid(Box::new(Report::new(
                &path.display().to_string(),
                "",
                &[],
                p.into_vec(),
            )))
        };
        let read = || -> std::io::Result<Vec<u8>> {
            use std::io::Read;
            let mut bytes = Vec::new();
            std::fs::File::open(&path)?
                .take(MAX_BYTES + 1)
                .read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        let bytes = read().map_err(|e| ConfigError::Read {
            path: path.clone(),
            source: e,
        })?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(invalid(format!("a file of at most {MAX_BYTES} bytes")));
        }
        let labels = crate::action::tiers::parse_namespace_labels(&bytes).map_err(invalid)?;
        for (ns, l) in labels {
            self.action.namespace_labels.entry(ns).or_insert(l);
        }
        Ok(())
    }

    /// Parse and check a TOML document, without environment overrides. `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        Self::parse_with(origin, text, &[], &|_| None)
    }

    /// [`SecurityConfig::load`] on a text, with `vars` as the whole environment: its `BULWARK_*`
    /// names are overrides (a misspelled one is a problem), the rest is there for `env:` values.
    pub fn from_toml_with_env(
        text: &str,
        origin: &str,
        vars: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let names: Vec<String> = vars
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k.starts_with("BULWARK_"))
            .collect();
        let env = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        Self::parse_with(origin, text, &names, &env)
    }

    /// The text, then the overrides in `env` (whose `BULWARK_*` names are `names`), then the
    /// checks; every problem found on the way, or the configuration.
    fn parse_with(
        origin: &str,
        text: &str,
        names: &[String],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut p = Problems::default();
        let mut placed = Vec::new();
        overrides::check_names(names, text, &mut p, &mut placed);
        let mut table = match text.parse::<toml::Table>() {
            Ok(t) => t,
            Err(_) => {
                for e in toml::de::DeTable::parse_recoverable(text).1 {
                    p.parse("", e.message(), e.span());
                }
                return Err(ConfigError::Invalid(Box::new(Report::new(
                    origin,
                    text,
                    &placed,
                    p.into_vec(),
                ))));
            }
        };
        placed.extend(overrides::apply(&mut table, env));
        let cfg = deserialize_all(table, &mut p);
        cfg.check(&mut p);
        if p.is_empty() {
            return Ok(cfg);
        }
        let mut list = p.into_vec();
        list.truncate(MAX_PROBLEMS);
        Err(ConfigError::Invalid(Box::new(Report::new(
            origin, text, &placed, list,
        ))))
    }

    /// Every setting that holds a secret: (key path, value, the forms it allows). Set ones only.
    /// Callers resolve them (the vault ones with one unlock); `check` checks their forms.
    pub fn secret_settings(&self) -> Vec<(String, &SecretRef, &'static [SecretForm])> {
        const VAULT_ONLY: &[SecretForm] = &[SecretForm::Vault];
        let mut out: Vec<(String, &SecretRef, &'static [SecretForm])> = vec![
            (
                "redact.pseudonym_key".to_string(),
                &self.redact.pseudonym_key,
                SecretForm::REFERENCES,
            ),
            (
                "audit.hmac_keys".to_string(),
                &self.audit.hmac_keys,
                VAULT_ONLY,
            ),
            (
                "audit.signing_key".to_string(),
                &self.audit.signing_key,
                VAULT_ONLY,
            ),
            (
                "approval.notify_url".to_string(),
                &self.approval.notify_url,
                SecretForm::ANY,
            ),
            (
                "server.limits.redis".to_string(),
                &self.server.limits.redis,
                SecretForm::ANY,
            ),
            ("store.url".to_string(), &self.store.url, SecretForm::ANY),
            (
                "approval.slack.signing_secret".to_string(),
                &self.approval.slack.signing_secret,
                SecretForm::REFERENCES,
            ),
            (
                "approval.slack.bot_token".to_string(),
                &self.approval.slack.bot_token,
                SecretForm::REFERENCES,
            ),
            (
                "approval.discord.bot_token".to_string(),
                &self.approval.discord.bot_token,
                SecretForm::REFERENCES,
            ),
            (
                "console.oidc.client_secret".to_string(),
                &self.console.oidc.client_secret,
                SecretForm::REFERENCES,
            ),
        ];
        for (name, u) in &self.gateway.upstreams {
            out.push((
                format!("gateway.upstreams.{name}.api_key"),
                &u.api_key,
                SecretForm::REFERENCES,
            ));
        }
        for (name, m) in &self.mcp.servers {
            out.push((
                format!("mcp.servers.{name}.api_key"),
                &m.api_key,
                SecretForm::REFERENCES,
            ));
        }
        for (name, src) in &self.ingress.sources {
            out.push((
                format!("ingress.sources.{name}.secret"),
                &src.secret,
                SecretForm::ANY,
            ));
            out.push((
                format!("ingress.sources.{name}.forward_token"),
                &src.forward_token,
                SecretForm::REFERENCES,
            ));
        }
        out.retain(|(_, v, _)| !v.is_unset());
        out
    }

    /// The settings that are `vault:NAME` references: (key path, reference). Empty when nothing
    /// needs the vault.
    pub fn vault_references(&self) -> Vec<(String, &SecretRef)> {
        self.secret_settings()
            .into_iter()
            .filter(|(_, v, _)| v.vault_name().is_some())
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    /// Every check that types alone cannot express, run by every command that loads the
    /// configuration and by `config check`: each guard checks its own section, then the references
    /// that cross sections.
    pub fn check(&self, p: &mut Problems) {
        crate::scan::check_config(&self.scan, &self.redact, p);
        crate::egress::check_config(&self.egress, p);
        self.audit.check(p);
        crate::action::check_config(&self.action, p);
        crate::provenance::check_config(&self.action.provenance, p);
        self.approval.check(p);
        self.server.check(p);
        self.store.check(p);
        if self.audit.backend == AuditBackend::Postgres && self.store.url.is_unset() {
            p.invalid(
                "audit.backend",
                "\"postgres\"",
                "[store] url set to the PostgreSQL database the log goes to, or backend = \"file\" or \"sqlite\"",
            );
        }
        if (self.approval.slack.enabled || self.approval.discord.enabled)
            && self.ingress.tolerance_secs < 150
        {
            p.invalid(
                "ingress.tolerance_secs",
                self.ingress.tolerance_secs.to_string(),
                "150 or more while [approval.slack] or [approval.discord] is enabled: a click is accepted for 300 s and its replay refused for twice this",
            );
        }
        crate::webhook::check_config(&self.ingress, p);
        self.vault.check(p);
        self.gateway.check(p);
        self.mcp.check(p);
        self.console.check(p);
        for (key, value, forms) in self.secret_settings() {
            value.check(&key, forms, p);
        }
    }

    /// The checks of [`SecurityConfig::check`] as a result; `origin` names the configuration.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let mut p = Problems::default();
        self.check(&mut p);
        if p.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(Box::new(Report::new(
                origin,
                "",
                &[],
                p.into_vec(),
            ))))
        }
    }

    /// The JSON Schema of the whole file.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(SecurityConfig)).unwrap_or_default()
    }
}

/// Deserialize `table`, reporting each key serde refuses (unknown, wrong type) and trying again
/// without it, so one run finds them all; the keys refused take their defaults.
fn deserialize_all(mut table: toml::Table, p: &mut Problems) -> SecurityConfig {
    for _ in 0..MAX_PROBLEMS {
        let value = toml::Value::Table(table.clone());
        match serde_path_to_error::deserialize::<_, SecurityConfig>(value) {
            Ok(cfg) => return cfg,
            Err(e) => {
                let mut path: Vec<String> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                        serde_path_to_error::Segment::Seq { index } => Some(format!("[{index}]")),
                        _ => None,
                    })
                    .collect();
                let message = e.inner().message().to_string();
                // serde names an unknown key in its message, not its path.
                if let Some(name) = message
                    .strip_prefix("unknown field `")
                    .and_then(|m| m.split('`').next())
                    && path.last().map(String::as_str) != Some(name)
                {
                    path.push(name.to_string());
                }
                p.parse(dotted(&path), message, None);
                if !remove_path(&mut table, &path) {
                    break;
                }
            }
        }
    }
    SecurityConfig::default()
}

/// `scan.pii.email`, `ingress.sources.am.allow_cidrs[2]`.
fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !out.is_empty() && !seg.starts_with('[') {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
}

/// Remove the value at `path` (the whole array for an index); false when it is not there.
fn remove_path(table: &mut toml::Table, path: &[String]) -> bool {
    let keys: Vec<&String> = path.iter().filter(|s| !s.starts_with('[')).collect();
    let Some((last, parents)) = keys.split_last() else {
        return false;
    };
    let mut cur = table;
    for k in parents {
        match cur.get_mut(k.as_str()) {
            Some(toml::Value::Table(t)) => cur = t,
            _ => return false,
        }
    }
    cur.remove(last.as_str()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn namespace_labels_file_is_read_relative_to_the_config() {
        let dir = std::env::temp_dir().join(format!(
            "bulwark-ns-labels-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("namespaces.json"),
            r#"{"items":[{"metadata":{"name":"payments-prod","labels":{"bulwark.io/tier":"production"}}},{"metadata":{"name":"sandbox","labels":{"bulwark.io/tier":"dev"}}}]}"#,
        )
        .unwrap();
        let cfg_path = dir.join("bulwark.toml");
        std::fs::write(
            &cfg_path,
            "[action]\nnamespace_labels_file = \"namespaces.json\"\n[action.namespace_labels]\nsandbox = { \"bulwark.io/tier\" = \"staging\" }\n",
        )
        .unwrap();
        let cfg = SecurityConfig::load(&ConfigSource::File(cfg_path.clone()), &no_env).unwrap();
        let l = &cfg.action.namespace_labels;
        assert_eq!(l["payments-prod"]["bulwark.io/tier"], "production");
        // The inline entry wins over the file.
        assert_eq!(l["sandbox"]["bulwark.io/tier"], "staging");
        std::fs::write(dir.join("namespaces.json"), "{\"x\": 1}").unwrap();
        let err = SecurityConfig::load(&ConfigSource::File(cfg_path.clone()), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("action.namespace_labels_file"), "{err}");
        std::fs::remove_file(dir.join("namespaces.json")).unwrap();
        let err = SecurityConfig::load(&ConfigSource::File(cfg_path), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("namespaces.json"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn with_vars(text: &str, vars: &[&str]) -> Result<SecurityConfig, ConfigError> {
        SecurityConfig::parse_with("bulwark.toml", text, &names(vars), &no_env)
    }

    #[test]
    fn a_misspelt_override_is_an_error_with_a_suggestion() {
        let err = with_vars("", &["BULWARK_SCAN_PII_EMIAL"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable BULWARK_SCAN_PII_EMIAL"),
            "{err}"
        );
        assert!(err.contains("did you mean BULWARK_SCAN_PII_EMAIL"), "{err}");
        // Known keys, Bulwark's own variables, other prefixes and env: secrets pass.
        with_vars(
            "# the HMAC secret is in env:BULWARK_AUDIT_HMAC_SECRET\n",
            &[
                "BULWARK_SCAN_PII_EMAIL",
                "BULWARK_ACTION_MODE",
                "BULWARK_HOME",
                "BULWARK_VAULT_PASSPHRASE",
                "BULWARK_CORPORA",
                "BULWARK_REQUIRE_CURL",
                "BULWARK_AUDIT_HMAC_SECRET",
            ],
        )
        .unwrap();
        let err = with_vars("", &["BULWARK_EGRESS_NOTHING_LIKE_IT"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("config schema"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_place() {
        let text = "[scan]\nmax_file_bytes = 0\n\n[scan.pii]\nemial = true\n\n[audit]\ngroup_max = \"many\"\nretention_days = 99999\n\n[server]\nlisten = \"0.0.0.0:8844\"\n";
        let env = |k: &str| (k == "BULWARK_REDACT_MASK_KEEP").then(|| "99".to_string());
        let err = SecurityConfig::parse_with(
            "bulwark.toml",
            text,
            &names(&["BULWARK_SCAN_PII_EMIAL", "BULWARK_REDACT_MASK_KEEP"]),
            &env,
        )
        .unwrap_err();
        let ConfigError::Invalid(report) = &err else {
            panic!("{err}")
        };
        let found: Vec<(String, problems::Place)> = report
            .problems()
            .map(|(p, place)| (p.key.clone(), place.clone()))
            .collect();
        let at = |line, column| problems::Place::File { line, column };
        let env = |v: &str| problems::Place::Env { var: v.into() };
        for want in [
            (
                "BULWARK_SCAN_PII_EMIAL".to_string(),
                env("BULWARK_SCAN_PII_EMIAL"),
            ),
            ("scan.pii.emial".to_string(), at(5, 9)),
            ("audit.group_max".to_string(), at(8, 13)),
            ("scan.max_file_bytes".to_string(), at(2, 18)),
            (
                "redact.mask_keep".to_string(),
                env("BULWARK_REDACT_MASK_KEEP"),
            ),
            ("audit.retention_days".to_string(), at(9, 18)),
            ("server.listen".to_string(), at(12, 10)),
        ] {
            assert!(found.contains(&want), "{want:?} not in {found:?}");
        }
        assert_eq!(found.len(), 7, "{found:?}");
        let shown = err.to_string();
        assert!(shown.contains("7 problems"), "{shown}");
        assert!(
            shown.contains("error: at `scan.pii.emial`: unknown field"),
            "{shown}"
        );
        assert!(shown.contains("--> bulwark.toml:5:9"), "{shown}");
        let json = report.to_json();
        assert_eq!(json[2]["place"]["line"], 5, "{json}");
    }

    #[test]
    fn every_syntax_error_is_reported() {
        let err = SecurityConfig::from_toml("a = \nb = [1,\n[c\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f.toml:1:"), "{err}");
        assert!(err.contains("problems"), "{err}");
    }

    #[test]
    fn a_shared_limit_store_is_checked_without_showing_its_url() {
        let err = SecurityConfig::from_toml(
            "[server.limits]\nredis = \"http://:hunter2@cache:6379/0\"\nfail_open = [\"tool\", \"tools\"]\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("server.limits.redis")
                && err.contains("\"http\"")
                && !err.contains("hunter2"),
            "{err}"
        );
        assert!(
            err.contains("server.limits.fail_open[1]") && err.contains("ingress-replay"),
            "{err}"
        );
        let cfg = SecurityConfig::from_toml(
            "[server.limits]\nredis = \"redis://:hunter2@cache:6379/0\"\nfail_open = [\"tool\"]\n",
            "f.toml",
        )
        .unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
        for (url, says) in [
            (
                "rediss://:hunter2@cache:6380/0",
                "TLS to Redis is not supported",
            ),
            ("redis://:hunter2@cache:6379/cache", "DB a number"),
        ] {
            let err = SecurityConfig::from_toml(
                &format!("[server.limits]\nredis = \"{url}\"\n"),
                "f.toml",
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(says) && !err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn public_plain_http_is_refused_by_the_checks_every_command_runs() {
        let err = SecurityConfig::from_toml("[server]\nlisten = \"0.0.0.0:8844\"\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.listen") && err.contains("tls_cert"),
            "{err}"
        );
        SecurityConfig::from_toml(
            "[server]\nlisten = \"0.0.0.0:8844\"\nallow_plaintext_public = true\n",
            "f.toml",
        )
        .unwrap();
    }

    #[test]
    fn single_sign_on_settings_are_checked_and_named() {
        let ok = "[console]\nenabled = true\npublic_url = \"https://bulwark.example/console\"\n\
                  [console.oidc]\nenabled = true\nissuer = \"https://id.example\"\n\
                  client_id = \"bulwark\"\nclient_secret = \"env:OIDC_SECRET\"\n\
                  users = { \"alice@example.com\" = \"alice\" }\n";
        let cfg = SecurityConfig::from_toml(ok, "f.toml").unwrap();
        assert_eq!(
            cfg.console.oidc.redirect(&cfg.console.public_url),
            "https://bulwark.example/console/oidc/callback"
        );
        let err = SecurityConfig::from_toml(
            "[console.oidc]\nenabled = true\nissuer = \"http://id.example\"\nclaim = \"name\"\n\
             client_secret = \"literal-secret\"\nusers = { \"bob@example.com\" = \"bob smith\" }\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        for key in [
            "console.oidc.issuer",
            "console.oidc.client_id",
            "console.oidc.redirect_url",
            "console.oidc.claim",
            "console.oidc.users",
            "console.oidc.client_secret",
        ] {
            assert!(err.contains(key), "{key}: {err}");
        }
        assert!(!err.contains("literal-secret"), "{err}");
    }

    #[test]
    fn default_file_parses_to_defaults() {
        let cfg = SecurityConfig::from_toml(&default_file(), "default").expect("default file");
        assert_eq!(cfg, SecurityConfig::default());
    }

    #[test]
    fn unknown_key_is_an_error_with_its_path() {
        let err = SecurityConfig::from_toml("[scan.pii]\nemial = true\n", "f.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("scan.pii"), "{msg}");
        assert!(msg.contains("emial"), "{msg}");
        assert!(msg.contains(":2:"), "{msg}");
    }

    #[test]
    fn wrong_type_names_key_and_line() {
        let err =
            SecurityConfig::from_toml("[scan]\nenabled = true\nmax_file_bytes = \"big\"\n", "f")
                .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("scan.max_file_bytes"), "{msg}");
        assert!(msg.contains(":3:"), "{msg}");
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let err = SecurityConfig::from_toml("[redact]\nmask_keep = 30\n", "f").unwrap_err();
        assert!(err.to_string().contains("redact.mask_keep"));
        let err =
            SecurityConfig::from_toml("[scan]\nreview_at = \"high\"\nblock_at = \"low\"\n", "f")
                .unwrap_err();
        assert!(err.to_string().contains("scan.block_at"));
        let err =
            SecurityConfig::from_toml("[scan.secrets]\ndisabled_rules = [\"no-such-rule\"]\n", "f")
                .unwrap_err();
        assert!(err.to_string().contains("disabled_rules[0]"));
    }

    #[test]
    fn environment_overrides_by_key_path() {
        let env = |k: &str| match k {
            "BULWARK_SCAN_PII_EMAIL" => Some("false".to_string()),
            "BULWARK_REDACT_SECRET" => Some("mask".to_string()),
            _ => None,
        };
        let cfg = SecurityConfig::load(&ConfigSource::Defaults, &env).expect("load");
        assert!(!cfg.scan.pii.email);
        assert_eq!(cfg.redact.secret, Operator::Mask);
        let bad = |k: &str| (k == "BULWARK_SCAN_MAX_FILE_BYTES").then(|| "lots".to_string());
        let err = SecurityConfig::load(&ConfigSource::Defaults, &bad).unwrap_err();
        assert!(
            err.to_string().contains("BULWARK_SCAN_MAX_FILE_BYTES"),
            "{err}"
        );
        assert!(SecurityConfig::load(&ConfigSource::Defaults, &no_env).is_ok());
    }

    #[test]
    fn a_text_with_its_own_environment_loads_as_load_does() {
        let vars = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, x)| (k.to_string(), x.to_string()))
                .collect()
        };
        let cfg = SecurityConfig::from_toml_with_env(
            "[redact]\nsecret = \"mask\"\n",
            "t.toml",
            &vars(&[("BULWARK_SCAN_PII_EMAIL", "false"), ("PATH", "/bin")]),
        )
        .expect("load");
        assert!(!cfg.scan.pii.email);
        assert_eq!(cfg.redact.secret, Operator::Mask);
        let err = SecurityConfig::from_toml_with_env(
            "",
            "t.toml",
            &vars(&[("BULWARK_SCAN_PII_EMIAL", "false")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("BULWARK_SCAN_PII_EMIAL"), "{err}");
    }

    #[test]
    fn schema_lists_sections() {
        let s = SecurityConfig::json_schema().to_string();
        assert!(s.contains("max_file_bytes") && s.contains("pseudonym_key_env"));
    }
}
