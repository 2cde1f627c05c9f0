//! `bulwark`: the command line of the Bulwark guards.
//!
//! Exit codes everywhere: 0 clean / allowed / valid, 1 findings / denied, 2 usage, input or
//! environment error (with a message on stderr that says what to do), 141 when standard output
//! was closed under the command.
#![forbid(unsafe_code)]

mod action_cmd;
mod advisories_cmd;
mod audit_cmd;
mod baseline;
mod boundary_cmd;
mod config_cmd;
mod egress_cmd;
mod exec_cmd;
mod gateway_cmd;
mod held_cmd;
mod mcp_cmd;
mod mcp_wrap;
mod posture_cmd;
mod redact_cmd;
mod report;
mod sandbox;
mod scan_cmd;
mod serve_cmd;
mod supply_chain_cmd;
mod vault_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use bulwark_core::config::{self, ConfigSource, SecurityConfig};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Bulwark: a security guardian for AI agents.
#[derive(Parser, Debug)]
#[command(
    name = "bulwark",
    version,
    about = "Bulwark, a security guardian for AI agents: content, egress and action guards, approvals, a tamper-evident audit log, a vault, posture checks, and the sidecar that serves them",
    long_about = None
)]
struct Cli {
    /// Configuration file (default: $BULWARK_CONFIG, else $BULWARK_HOME/bulwark.toml, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the sidecar: every guard over HTTP on 127.0.0.1:8844 (API tokens required).
    Serve(serve_cmd::ServeArgs),
    /// API tokens for the sidecar: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(serve_cmd::TokenCommand),
    /// Find secrets, personal data and prompt injection in files, directories or standard input.
    Scan(scan_cmd::ScanArgs),
    /// Write a copy of the input with secrets and personal data replaced.
    Redact(redact_cmd::RedactArgs),
    /// Wrap untrusted text in delimiters with a random id, neutralizing forged ones inside.
    Wrap(boundary_cmd::WrapArgs),
    /// Strip invisible characters and hidden HTML, and neutralize role markers and template tokens.
    Sanitize(boundary_cmd::SanitizeArgs),
    /// Decide which URLs agents may fetch, and run the egress proxy that enforces it.
    #[command(subcommand)]
    Egress(egress_cmd::EgressCommand),
    /// The tamper-evident audit log: append, verify, tail, export, recover, rotate-key.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// The model gateway: what agents spent through it (`usage`).
    #[command(subcommand)]
    Gateway(gateway_cmd::GatewayCommand),
    /// Judge what an agent wants to do (tool calls) with the action policy.
    #[command(subcommand)]
    Intent(action_cmd::IntentCommand),
    /// Human approvals of reviewed actions: list, show, approve, reject, consume.
    #[command(subcommand)]
    Approvals(action_cmd::ApprovalsCommand),
    /// MCP servers behind the guard: `wrap` a stdio server (pinned definitions, scanned texts,
    /// judged calls); `pins` list, show, approve, reset.
    #[command(subcommand)]
    Mcp(mcp_cmd::McpCommand),
    /// Alerts the ingress guard held back: list, show, release (forward once), drop.
    #[command(subcommand)]
    Held(held_cmd::HeldCommand),
    /// Run a command the action policy allows (or a human approved) under kernel confinement
    /// (Linux Landlock): credentials unreadable, writes only to the workspace, no network by
    /// default. Exit status: the command's (128+N when killed by signal N).
    Exec(exec_cmd::ExecArgs),
    /// The confined child of `bulwark exec` (internal).
    #[command(name = "__sandbox", hide = true)]
    Sandbox(exec_cmd::SandboxArgs),
    /// The credential vault: init, set, get, list, rm, rotate-key, rotate-data-key, run.
    #[command(subcommand)]
    Vault(vault_cmd::VaultCommand),
    /// Create, check and describe bulwark.toml.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// The agent host's posture: picoclaw-profile/v1 profiles and drift between them.
    #[command(subcommand)]
    Posture(posture_cmd::PostureCommand),
    /// Signed advisory feeds: verify the signature, list what concerns you.
    #[command(subcommand)]
    Advisories(advisories_cmd::AdvisoriesCommand),
    /// Release verification: an artifact against a signed checksum manifest.
    #[command(subcommand, name = "supply-chain")]
    SupplyChain(supply_chain_cmd::SupplyChainCommand),
    /// Print a shell completion script: `bulwark completions bash > /etc/bash_completion.d/bulwark`,
    /// `bulwark completions zsh > "${fpath[1]}/_bulwark"`, `bulwark completions fish >
    /// ~/.config/fish/completions/bulwark.fish`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `bulwark man > bulwark.1 && man ./bulwark.1`.
    Man,
}

/// Output formats shared by reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for a person.
    Text,
    /// One JSON document.
    Json,
    /// SARIF 2.1.0 (for code-scanning dashboards).
    Sarif,
}

/// `--format` for commands without SARIF.
#[derive(Args, Debug, Clone)]
pub struct TextOrJson {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    pub format: PlainFormat,
}

/// Text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlainFormat {
    /// Lines for a person.
    Text,
    /// One JSON document.
    Json,
}

/// An error that ends the command with exit code 2.
#[derive(Debug)]
pub struct Fatal(pub String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Self {
        Fatal(e.to_string())
    }
}

fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The configuration's `vault:NAME` references, decrypted with one unlock (the vault is only
/// opened when there are some).
pub fn secrets(cfg: &SecurityConfig) -> Result<bulwark_store::vault_file::Secrets, Fatal> {
    if cfg.vault_references().is_empty() {
        return Ok(bulwark_store::vault_file::Secrets::none());
    }
    let store = bulwark_store::vault_file::VaultStore::new(cfg.vault.file(&home_dir()?));
    // The same key sources as the vault commands: on a terminal, the passphrase is asked for.
    bulwark_store::vault_file::Secrets::load_with(cfg, &store, &|spec| {
        vault_cmd::provider_for(spec).map_err(|Fatal(m)| {
            bulwark_store::vault_file::VaultStoreError::Vault(
                bulwark_core::vault::VaultError::Invalid(m),
            )
        })
    })
    .map_err(Fatal::from)
}

/// Compile the configuration into the one [`bulwark_core::Policy`] a command decides with, as the
/// sidecar does; with the configuration's `vault:NAME` references decrypted (the vault is unlocked
/// only when there are some). Commands that use one guard alone (`scan`, `egress check`) compile
/// just that guard from the same loaded configuration.
pub fn compile_policy(
    cfg: SecurityConfig,
) -> Result<(bulwark_core::Policy, bulwark_store::vault_file::Secrets), Fatal> {
    let secrets = secrets(&cfg)?;
    let policy =
        bulwark_core::Policy::compile(cfg, &home_dir()?, &|k| secrets.lookup(k, &env_lookup))
            .map_err(|e| Fatal(e.to_string()))?;
    Ok((policy, secrets))
}

/// Open the audit log the configuration describes, for appending (keys from files or the vault);
/// through the running sidecar's relay when `bulwark serve` runs on this home.
pub fn open_audit(
    cfg: &SecurityConfig,
    home: &std::path::Path,
) -> Result<
    (
        bulwark_store::AuditLog,
        bulwark_store::audit_file::OpenReport,
    ),
    Fatal,
> {
    let secrets = secrets(cfg)?;
    bulwark_store::audit_open::open_or_relay(cfg, home, &secrets, &env_lookup).map_err(Fatal::from)
}

/// The state database `[store]` names: the PostgreSQL one sidecars share when `url` is set, else
/// the SQLite file.
pub fn state_db(
    cfg: &SecurityConfig,
    secrets: &bulwark_store::vault_file::Secrets,
    home: &std::path::Path,
) -> Result<bulwark_store::state_db::StateDb, Fatal> {
    let url = secrets
        .value(&cfg.store.url, &env_lookup)
        .map_err(|e| Fatal(format!("store.url: {e}")))?;
    bulwark_store::state_db::StateDb::configured(&cfg.store, url.as_ref(), home)
        .map_err(|e| Fatal(e.to_string()))
}

/// Where the configured audit log is read back from (for PostgreSQL, connected to `[store] url`).
pub fn audit_source(
    cfg: &SecurityConfig,
    home: &std::path::Path,
) -> Result<bulwark_store::audit_open::LogSource, Fatal> {
    let secrets = secrets(cfg)?;
    bulwark_store::audit_open::LogSource::configured(cfg, home, &secrets, &env_lookup)
        .map_err(Fatal::from)
}

/// Open a file, or standard input for `None` or `-`, with the name messages use for it.
pub fn open_input(
    path: Option<&std::path::Path>,
) -> Result<(String, Box<dyn std::io::Read>), Fatal> {
    match path {
        None => Ok(("standard input".into(), Box::new(std::io::stdin()))),
        Some(p) if p.as_os_str() == "-" => {
            Ok(("standard input".into(), Box::new(std::io::stdin())))
        }
        Some(p) => {
            let f = std::fs::File::open(p)
                .map_err(|e| Fatal(format!("cannot read {}: {e}", p.display())))?;
            Ok((p.display().to_string(), Box::new(f)))
        }
    }
}

/// `$BULWARK_HOME` (default `~/.bulwark`), where state lives.
pub fn home_dir() -> Result<PathBuf, Fatal> {
    config::bulwark_home(&env_lookup)
        .ok_or_else(|| Fatal("neither $BULWARK_HOME nor $HOME is set: set BULWARK_HOME".into()))
}

/// Load the configuration the way every command does.
pub fn load_config(
    explicit: Option<&std::path::Path>,
) -> Result<(SecurityConfig, ConfigSource), Fatal> {
    let source = config::locate(explicit, &env_lookup);
    let cfg = SecurityConfig::load(&source, &env_lookup).map_err(|e| {
        Fatal(format!(
            "{e}\nhint: `bulwark config check` explains the file; `bulwark config schema` lists every key"
        ))
    })?;
    Ok((cfg, source))
}

/// The exit status of a command whose standard output was closed under it (`bulwark scan | head`):
/// 128 + SIGPIPE, what a shell reports for a Unix tool ended by a closed pipe.
const CLOSED_STDOUT: u8 = 141;

/// Whether `message` is the error a write to a closed pipe gives.
fn is_broken_pipe(message: &str) -> bool {
    message.contains(&std::io::Error::from(std::io::ErrorKind::BrokenPipe).to_string())
        || message.contains("Broken pipe")
}

/// End quietly when standard output is closed under us: `println!` panics on a closed pipe, and
/// the reader that went away wants no message, only the end.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("failed printing to stdout") && is_broken_pipe(message) {
            std::process::exit(i32::from(CLOSED_STDOUT));
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => serve_cmd::run_serve(args, cli.config.as_deref()),
        Command::Token(cmd) => serve_cmd::run_token(cmd, cli.config.as_deref()),
        Command::Scan(args) => scan_cmd::run(args, cli.config.as_deref()),
        Command::Redact(args) => redact_cmd::run(args, cli.config.as_deref()),
        Command::Wrap(args) => boundary_cmd::run_wrap(args, cli.config.as_deref()),
        Command::Sanitize(args) => boundary_cmd::run_sanitize(args, cli.config.as_deref()),
        Command::Egress(cmd) => egress_cmd::run(cmd, cli.config.as_deref()),
        Command::Audit(cmd) => audit_cmd::run(cmd, cli.config.as_deref()),
        Command::Gateway(cmd) => gateway_cmd::run(cmd, cli.config.as_deref()),
        Command::Intent(cmd) => action_cmd::run_intent(cmd, cli.config.as_deref()),
        Command::Approvals(cmd) => action_cmd::run_approvals(cmd, cli.config.as_deref()),
        Command::Mcp(cmd) => mcp_cmd::run(cmd, cli.config.as_deref()),
        Command::Held(cmd) => held_cmd::run(cmd, cli.config.as_deref()),
        Command::Exec(args) => exec_cmd::run(args, cli.config.as_deref()),
        Command::Sandbox(args) => Ok(exec_cmd::run_sandbox(args)),
        Command::Vault(cmd) => vault_cmd::run(cmd, cli.config.as_deref()),
        Command::Config(cmd) => config_cmd::run(cmd, cli.config.as_deref()),
        Command::Posture(cmd) => posture_cmd::run_posture(cmd, cli.config.as_deref()),
        Command::Advisories(cmd) => advisories_cmd::run_advisories(cmd),
        Command::SupplyChain(cmd) => supply_chain_cmd::run_supply_chain_cmd(cmd),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "bulwark", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map(|()| 0)
                .map_err(Fatal::from)
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .and_then(|()| std::io::Write::write_all(&mut std::io::stdout(), &page))
                .map(|()| 0)
                .map_err(Fatal::from)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Fatal(msg)) if is_broken_pipe(&msg) => ExitCode::from(CLOSED_STDOUT),
        Err(Fatal(msg)) => {
            // Configuration problems come rendered as compiler diagnostics, already headed `error:`.
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            eprintln!("bulwark: error: {msg}");
            ExitCode::from(2)
        }
    }
}
