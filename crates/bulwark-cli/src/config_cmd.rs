//! `bulwark config init|check|schema`.

use bulwark_core::config::SecretRef;
use std::io::Write;
use std::path::{Path, PathBuf};

use bulwark_core::config::{self, ConfigSource, SecurityConfig};
use clap::Subcommand;

use crate::{Fatal, env_lookup};

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Write a commented default bulwark.toml (default: $BULWARK_HOME/bulwark.toml).
    Init {
        /// Where to write it; `-` prints it.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate a configuration and explain what it turns off.
    Check {
        /// The file to check (default: the file Bulwark would load).
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = crate::PlainFormat::Text)]
        format: crate::PlainFormat,
    },
    /// Print the JSON Schema of bulwark.toml.
    Schema,
}

pub fn run(cmd: ConfigCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    match cmd {
        ConfigCommand::Init { output, force } => init(output, force),
        ConfigCommand::Check { file, format } => check(file.as_deref().or(explicit), format),
        ConfigCommand::Schema => {
            let schema = SecurityConfig::json_schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(0)
        }
    }
}

fn init(output: Option<PathBuf>, force: bool) -> Result<u8, Fatal> {
    let path = match output {
        Some(p) if p.as_os_str() == "-" => {
            print!("{}", config::default_file());
            return Ok(0);
        }
        Some(p) => p,
        None => config::bulwark_home(&env_lookup)
            .ok_or_else(|| {
                Fatal("neither $BULWARK_HOME nor $HOME is set: pass --output FILE".into())
            })?
            .join("bulwark.toml"),
    };
    if path.exists() && !force {
        return Err(Fatal(format!(
            "{} already exists: nothing written (pass --force to replace it)",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    write_private(&path, config::default_file().as_bytes())
        .map_err(|e| Fatal(format!("cannot write {}: {e}", path.display())))?;
    println!("wrote {}", path.display());
    Ok(0)
}

fn create_private_dir(dir: &Path) -> Result<(), Fatal> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .map_err(|e| Fatal(format!("cannot create {}: {e}", dir.display())))
}

/// Write a file readable by its owner only (0600), replacing it atomically.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("toml.tmp");
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn check(file: Option<&Path>, format: crate::PlainFormat) -> Result<u8, Fatal> {
    let source = config::locate(file, &env_lookup);
    let result = SecurityConfig::load(&source, &env_lookup);
    let cfg = match result {
        Ok(c) => c,
        Err(e) => {
            if format == crate::PlainFormat::Json {
                let problems = match &e {
                    config::ConfigError::Invalid(report) => report.to_json(),
                    config::ConfigError::Read { .. } => serde_json::json!([]),
                };
                let v = serde_json::json!({
                    "valid": false,
                    "source": source.to_string(),
                    "error": e.to_string(),
                    "problems": problems,
                });
                println!("{v}");
            } else {
                eprintln!("{e}");
            }
            return Ok(2);
        }
    };
    let costs = explain(&cfg);
    if format == crate::PlainFormat::Json {
        let v = serde_json::json!({
            "valid": true,
            "source": source.to_string(),
            "warnings": costs,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &source {
            ConfigSource::File(p) => println!("ok: {} is valid", p.display()),
            ConfigSource::Defaults => {
                println!("ok: no configuration file found; using built-in defaults")
            }
        }
        for c in &costs {
            println!("warning: {c}");
        }
    }
    Ok(0)
}

/// What each weakened setting costs, in words.
fn explain(cfg: &SecurityConfig) -> Vec<String> {
    let mut out = Vec::new();
    let s = &cfg.scan;
    if !s.enabled {
        out.push(
            "scan.enabled = false: no secret or personal data is detected or redacted anywhere"
                .into(),
        );
    }
    if !s.secrets.enabled {
        out.push(
            "scan.secrets.enabled = false: credentials pass through prompts, logs and files unseen"
                .into(),
        );
    }
    for r in &s.secrets.disabled_rules {
        out.push(format!(
            "scan.secrets.disabled_rules contains {r:?}: that detector is off"
        ));
    }
    if s.secrets.generic_min_entropy > 4.0 {
        out.push(format!(
            "scan.secrets.generic_min_entropy = {}: generic password/token assignments below this are not reported",
            s.secrets.generic_min_entropy
        ));
    }
    let p = &s.pii;
    if !p.enabled {
        out.push("scan.pii.enabled = false: personal data is neither detected nor redacted".into());
    } else {
        for (on, name) in [
            (p.email, "email"),
            (p.phone, "phone"),
            (p.credit_card, "credit_card"),
            (p.iban, "iban"),
            (p.ip_address, "ip_address"),
            (p.us_ssn, "us_ssn"),
        ] {
            if !on {
                out.push(format!(
                    "scan.pii.{name} = false: that kind of personal data is not detected"
                ));
            }
        }
    }
    let inj = &s.injection;
    let defaults = bulwark_core::config::InjectionConfig::default();
    if !inj.enabled {
        out.push(
            "scan.injection.enabled = false: instructions hidden in web pages, e-mail and tool output reach the agent unflagged"
                .into(),
        );
    } else {
        if !inj.model {
            out.push("scan.injection.model = false: paraphrased injections that no pattern names are missed (on the shared corpus, recall on s_labs_validation falls from about 81% to 14%)".into());
        }
        if inj.untrusted_review_score > defaults.untrusted_review_score
            || inj.untrusted_block_score > defaults.untrusted_block_score
        {
            out.push(format!(
                "scan.injection.untrusted_review_score = {} / untrusted_block_score = {}: weaker injections from web pages, e-mail and tool output pass (defaults {} / {})",
                inj.untrusted_review_score,
                inj.untrusted_block_score,
                defaults.untrusted_review_score,
                defaults.untrusted_block_score
            ));
        }
        for t in &inj.trusted_sources {
            if t != "user" {
                out.push(format!(
                    "scan.injection.trusted_sources contains {t:?}: text from that source is held to the lenient thresholds of the agent's own user"
                ));
            }
        }
        if inj.decode_depth == 0 {
            out.push("scan.injection.decode_depth = 0: base64, hex and URL-encoded instructions are not decoded".into());
        }
    }
    explain_egress(&cfg.egress, &mut out);
    explain_action(cfg, &mut out);
    for (name, src) in &cfg.ingress.sources {
        if matches!(src.secret, SecretRef::Literal(_)) {
            out.push(format!("ingress.sources.{name}.secret is in the file: anyone who reads bulwark.toml can forge that sender's webhooks (use secret_env, or secret = \"vault:NAME\", \"env:NAME\" or \"file:/PATH\")"));
        }
        if src.allow_cidrs.is_empty() {
            out.push(format!("ingress.sources.{name}.allow_cidrs is empty: any address may send (the signature still has to verify)"));
        }
        if src.scheme == bulwark_core::webhook::Scheme::Github
            || src.scheme == bulwark_core::webhook::Scheme::Bearer
        {
            out.push(format!("ingress.sources.{name}: scheme {:?} signs no timestamp, so an old request is refused only while its id (if any) is remembered", src.scheme));
        }
    }
    if cfg.vault.argon2_memory_kib < 19 * 1024 {
        out.push(format!(
            "vault.argon2_memory_kib = {}: a stolen vault file is cheaper to brute-force (OWASP's floor is 19456 KiB)",
            cfg.vault.argon2_memory_kib
        ));
    }
    let srv = &cfg.server;
    if srv.allow_plaintext_public {
        out.push("server.allow_plaintext_public = true: beyond loopback, API tokens, intents and approvals cross the network unencrypted".into());
    }
    if !srv.listen.ip().is_loopback() {
        out.push(format!(
            "server.listen = \"{}\": the API is reachable from the network (it still needs tokens)",
            srv.listen
        ));
    }
    if srv.limits.token_per_sec == 0 {
        out.push(
            "server.limits.token_per_sec = 0: one token can send requests without limit".into(),
        );
    }
    if srv.limits.auth_failures_per_min == 0 {
        out.push(
            "server.limits.auth_failures_per_min = 0: token guessing is not slowed down".into(),
        );
    }
    if cfg.audit.enabled
        && cfg.audit.open_verify == bulwark_core::config::OpenVerify::SinceCheckpoint
    {
        out.push("audit.open_verify = \"since_checkpoint\": writers check the log only from its last signed checkpoint on, so damage to older records is found by `bulwark audit verify` (run it on a schedule), not when a writer opens the log".into());
    }
    if !cfg.audit.enabled {
        out.push("audit.enabled = false: no decision leaves evidence, and the egress proxy's decisions are not recorded".into());
    }
    if s.block_at > bulwark_core::Severity::High {
        out.push(format!(
            "scan.block_at = \"{}\": high-severity credentials get `review`, not `block`",
            s.block_at.as_str()
        ));
    }
    out
}

/// What each opened action and approval setting costs.
fn explain_action(cfg: &SecurityConfig, out: &mut Vec<String>) {
    use bulwark_core::config::{ActionMode, TierEffect};
    let a = &cfg.action;
    match a.mode {
        ActionMode::ReadOnly => {}
        ActionMode::Supervised => out.push("action.mode = \"supervised\": agents run writes (create, apply, edit) without a human; destructive actions still wait for approval".into()),
        ActionMode::Autonomous => out.push("action.mode = \"autonomous\": agents run writes and destructive actions without a human, except in tiers whose effect is approval or block".into()),
    }
    if !a.workspace.restrict {
        out.push("action.workspace.restrict = false: file tools and shell commands may read and write any path the agent's user can".into());
    }
    if !a.tiers.iter().any(|t| t.effect != TierEffect::Mode) {
        out.push("action.tiers: no tier demands approval or blocks: production namespaces are judged by the mode alone".into());
    }
    if !a.shell.allow.is_empty() {
        out.push(format!(
            "action.shell.allow has {} pattern(s): matching commands run as reads, even in read_only mode",
            a.shell.allow.len()
        ));
    }
    if a.exec.network == bulwark_core::config::ExecNetwork::Open {
        out.push("action.exec.network = \"open\": commands run with `bulwark exec` may connect anywhere (no egress guard)".into());
    }
    for (name, p) in &a.exec.programs {
        if !p.read.is_empty() {
            out.push(format!(
                "action.exec.programs.{name}.read: `{name}` (and everything it runs) may read {}",
                p.read.join(", ")
            ));
        }
        if p.network == Some(bulwark_core::config::ExecNetwork::Open) {
            out.push(format!(
                "action.exec.programs.{name}.network = \"open\": `{name}` may connect anywhere"
            ));
        }
    }
    if cfg.approval.approvers.is_empty() && a.mode != ActionMode::ReadOnly {
        out.push("approval.approvers is empty: nobody can approve, so every action sent to review stays blocked".into());
    }
    if let SecretRef::Literal(url) = &cfg.approval.notify_url {
        if url.starts_with("http://") {
            out.push("approval.notify_url is plain http: the approval summary and the webhook's secret path travel unencrypted".into());
        }
        out.push("approval.notify_url is in the file: a chat webhook URL is a credential (anyone holding it can post to the channel); keep it out of the file: notify_url = \"vault:NAME\", \"env:NAME\" or \"file:/PATH\"".into());
    }
}

/// What each opened egress setting costs.
fn explain_egress(e: &bulwark_core::config::EgressConfig, out: &mut Vec<String>) {
    use bulwark_core::config::PortRule;
    if !e.enabled {
        out.push("egress.enabled = false: agents may fetch loopback, private and cloud metadata addresses (`egress check` allows every URL that parses, the proxy forwards everything)".into());
        return;
    }
    let mut lists = vec![(
        "egress".to_string(),
        e.schemes.clone(),
        e.ports.clone(),
        e.allow_cidrs.clone(),
    )];
    for (name, p) in &e.profiles {
        lists.push((
            format!("egress.profiles.{name}"),
            p.schemes.clone().unwrap_or_else(|| e.schemes.clone()),
            p.ports.clone().unwrap_or_else(|| e.ports.clone()),
            p.allow_cidrs
                .clone()
                .unwrap_or_else(|| e.allow_cidrs.clone()),
        ));
    }
    for (key, schemes, ports, cidrs) in lists {
        if ports
            .iter()
            .any(|p| matches!(p, PortRule::Text(t) if t == "*"))
        {
            out.push(format!("{key}.ports contains \"*\": agents may reach any port of a public host (SSH, databases, SMTP)"));
        }
        for s in schemes
            .iter()
            .filter(|s| !["http", "https"].contains(&s.as_str()))
        {
            out.push(format!(
                "{key}.schemes contains {s:?}: agents may fetch with that protocol too"
            ));
        }
        for c in &cidrs {
            out.push(format!("{key}.allow_cidrs contains {c:?}: agents may reach those non-public addresses (metadata endpoints stay denied)"));
        }
    }
    let proxy = &e.proxy;
    if !proxy.listen.ip().is_loopback() {
        out.push(format!(
            "egress.proxy.listen = \"{}\": anyone who can reach that address can use the proxy",
            proxy.listen
        ));
    }
    if !proxy.audit_wait {
        out.push("egress.proxy.audit_wait = false: egress decisions are recorded in the background; a crash can lose the last ones".into());
    }
    if !proxy.clients.is_empty() && !proxy.require_client_auth {
        out.push("egress.proxy.require_client_auth = false: clients without credentials get the default profile".into());
    }
}
