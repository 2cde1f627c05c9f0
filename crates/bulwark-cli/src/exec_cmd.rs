//! `bulwark exec`: run a command the action policy allows (or a human approved) under kernel
//! confinement (Linux Landlock), and record how it ended.
//!
//! The checks happen here, in the parent; the confinement in a child, `bulwark __sandbox`, which
//! applies the ruleset to itself and then becomes the command (see [`crate::sandbox`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Instant;

use bulwark_core::Verdict;
use bulwark_core::action::{
    ActionDecision, ExecutionIntent, classes::normalize_verb, workspace_root,
};
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::config::{ActionMode, ExecNetwork, SecurityConfig};
use clap::{Args, ValueEnum};

use crate::action_cmd::{self, Context};
use crate::sandbox::{self, SandboxSpec, SandboxStatus};
use crate::{Fatal, env_lookup, home_dir, load_config};

mod command;
use command::*;

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The action mode to judge the command in (default: the configuration's [action] mode).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// The ExecutionIntent this command carries out (JSON; `-` reads standard input), such as the
    /// one an approval was given for. It must be a shell tool's, for this command. Without it, the
    /// intent is tool `shell`, action `run`, the command line in args.
    #[arg(long, value_name = "FILE")]
    intent: Option<PathBuf>,
    /// An approved approval of this command's intent: consumed (once) when the verdict is review.
    #[arg(long, value_name = "ID")]
    approval: Option<String>,
    /// The command's network (default: [action.exec] network, or the program's own).
    #[arg(long, value_enum)]
    network: Option<NetworkArg>,
    /// Where the kernel has no Landlock, run the command unconfined (recorded in the audit log)
    /// instead of refusing.
    #[arg(long)]
    allow_unconfined: bool,
    /// The working directory (default: the workspace root); part of the intent as `args.cwd`.
    #[arg(long, value_name = "DIR", conflicts_with = "intent")]
    cwd: Option<PathBuf>,
    /// A shell command line, screened as a whole and run with `/bin/sh -c` inside the confinement
    /// (for an agent's shell tool).
    #[arg(
        short = 'c',
        long = "command",
        value_name = "LINE",
        conflicts_with = "argv"
    )]
    command: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, value_name = "CMD")]
    argv: Vec<OsString>,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
enum ModeArg {
    /// Only reads run.
    ReadOnly,
    /// Reads and writes run; destructive commands need an approval.
    Supervised,
    /// Everything runs, except where a tier demands approval or blocks.
    Autonomous,
}

impl From<ModeArg> for ActionMode {
    fn from(m: ModeArg) -> ActionMode {
        match m {
            ModeArg::ReadOnly => ActionMode::ReadOnly,
            ModeArg::Supervised => ActionMode::Supervised,
            ModeArg::Autonomous => ActionMode::Autonomous,
        }
    }
}

/// `--network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NetworkArg {
    /// No TCP connection or listening socket.
    None,
    /// TCP only to the egress proxy's port; HTTP_PROXY and HTTPS_PROXY set.
    Proxy,
    /// Not confined.
    Open,
}

impl From<NetworkArg> for ExecNetwork {
    fn from(n: NetworkArg) -> ExecNetwork {
        match n {
            NetworkArg::None => ExecNetwork::None,
            NetworkArg::Proxy => ExecNetwork::Proxy,
            NetworkArg::Open => ExecNetwork::Open,
        }
    }
}

/// `bulwark __sandbox` (hidden): the confined child.
#[derive(Args, Debug)]
pub struct SandboxArgs {
    /// What to confine the command to (JSON).
    #[arg(long)]
    spec: String,
    /// The command.
    #[arg(last = true, required = true)]
    argv: Vec<OsString>,
}

pub fn run_sandbox(args: SandboxArgs) -> u8 {
    sandbox::run_helper(&args.spec, &args.argv)
}

/// The directory the intent runs in: its `cwd` (relative to the workspace root, `~` the home),
/// else the workspace root.
fn run_dir(intent: &ExecutionIntent, root: &Path, home: &Path) -> PathBuf {
    let named = CWD_KEYS.iter().rev().find_map(|k| intent.args.str(k));
    match named {
        None => root.to_path_buf(),
        Some("~") => home.to_path_buf(),
        Some(p) => match p.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => root.join(p),
        },
    }
}

/// `~/x` under the home, relative paths under `base`, absolute ones as they are.
fn expand(p: &str, home: &Path, base: &Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if p == "~" => home.to_path_buf(),
        None => base.join(p),
    }
}

/// Credential paths every confined command is denied, under the home directory.
pub const CREDENTIAL_PATHS: &[&str] = &[
    ".ssh",
    ".aws",
    ".netrc",
    ".config/gcloud",
    ".kube/config",
    ".docker/config.json",
    ".git-credentials",
    ".gnupg",
    ".azure",
];

/// A private directory (0700) for one run: the command's temporary directory and the helper's
/// report. Removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create() -> Result<PrivateDir, Fatal> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::temp_dir();
        for _ in 0..8 {
            let mut id = [0u8; 12];
            getrandom::fill(&mut id).map_err(|e| Fatal(format!("no random source: {e}")))?;
            let path = base.join(format!("bulwark-exec-{}", hex::encode(id)));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let dir = PrivateDir(path);
                    std::fs::DirBuilder::new()
                        .mode(0o700)
                        .create(dir.tmp())
                        .map_err(|e| {
                            Fatal(format!("cannot create {}: {e}", dir.tmp().display()))
                        })?;
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(dir.status())
                        .map_err(|e| {
                            Fatal(format!("cannot create {}: {e}", dir.status().display()))
                        })?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Fatal(format!(
                        "cannot create a private directory in {}: {e}",
                        base.display()
                    )));
                }
            }
        }
        Err(Fatal(format!(
            "cannot create a private directory in {}",
            base.display()
        )))
    }

    /// The command's `TMPDIR`.
    fn tmp(&self) -> PathBuf {
        self.0.join("tmp")
    }

    /// Where the helper reports the enforcement.
    fn status(&self) -> PathBuf {
        self.0.join("status")
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The executable `word` names: with a `/` as it is (relative to `dir`), else the first match on
/// `PATH`.
fn locate_program(word: &str, dir: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let found = if word.contains('/') {
        Some(dir.join(word))
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(word))
            .find(|p| {
                std::fs::metadata(p)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
    };
    found.and_then(|p| std::fs::canonicalize(p).ok())
}

/// How the run ended, for the audit record.
struct Outcome {
    outcome: &'static str,
    exit_code: Option<i32>,
    signal: Option<i32>,
    duration_ms: u64,
    confined: bool,
    status: Option<SandboxStatus>,
    reason: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn exec_event(
    intent: &ExecutionIntent,
    d: &ActionDecision,
    approval: Option<&str>,
    program: Option<&str>,
    allowance: Option<&str>,
    network: ExecNetwork,
    o: &Outcome,
) -> AuditEvent {
    AuditEvent {
        event_type: EventType::Decision,
        actor: intent.requested_by.clone(),
        action: "action.exec".into(),
        resource: d.summary.clone(),
        outcome: o.outcome.into(),
        details: serde_json::json!({
            "digest": d.digest.as_str(),
            "verdict": d.verdict.as_str(),
            "rule": d.rule,
            "mode": d.mode,
            "approval": approval,
            "program": program,
            "allowance": allowance,
            "network": network.as_str(),
            "exit_code": o.exit_code,
            "signal": o.signal,
            "duration_ms": o.duration_ms,
            "confined": o.confined,
            "landlock": o.status.as_ref().map(|s| s.enforcement.as_str()),
            "landlock_abi": o.status.as_ref().map(|s| s.abi),
            "reason": o.reason,
        }),
    }
}

fn audit(ctx: &Context, event: AuditEvent) -> Result<(), Fatal> {
    if let Some(log) = &ctx.audit {
        log.append(event)
            .map_err(|e| Fatal(format!("the run could not be recorded: {e}")))?;
    }
    Ok(())
}

/// Run `command` to its end. The terminal's SIGINT and SIGQUIT reach the command itself, so Bulwark
/// stays to record how it ended; SIGTERM and SIGHUP sent to Bulwark end the command (SIGKILL), and
/// the signal's name is returned with the status.
fn wait(command: std::process::Command) -> std::io::Result<(ExitStatus, Option<&'static str>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut quit = signal(SignalKind::quit())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut child = tokio::process::Command::from(command).spawn()?;
        let mut ended_by = None;
        loop {
            tokio::select! {
                status = child.wait() => return status.map(|s| (s, ended_by)),
                _ = int.recv() => {}
                _ = quit.recv() => {}
                _ = term.recv() => {
                    ended_by = Some("SIGTERM");
                    let _ = child.start_kill();
                }
                _ = hup.recv() => {
                    ended_by = Some("SIGHUP");
                    let _ = child.start_kill();
                }
            }
        }
    })
}

pub fn run(args: ExecArgs, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (mut cfg, source) = load_config(explicit)?;
    if let Some(m) = args.mode {
        cfg.action.mode = m.into();
    }
    let bulwark_home = home_dir()?;
    let home = env_lookup("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .ok_or_else(|| {
            Fatal(
                "$HOME is not set to an absolute path: bulwark exec hides the credential paths under it; set HOME"
                    .into(),
            )
        })?;
    let root = workspace_root(&cfg.action, &bulwark_home);

    // What to run, and the intent that describes it.
    let given_cmd = match (args.command, args.argv.is_empty()) {
        (Some(line), _) => Some(Cmd::Line(line)),
        (None, false) => Some(Cmd::Argv(
            args.argv
                .into_iter()
                .enumerate()
                .map(|(i, w)| {
                    w.into_string().map_err(|w| {
                        Fatal(format!(
                            "word {} of the command ({}) is not UTF-8: intents carry text",
                            i + 1,
                            Path::new(&w).display()
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        )),
        (None, true) => None,
    };
    let given_intent = match &args.intent {
        Some(p) => Some(action_cmd::read_intent(Some(p))?),
        None => None,
    };
    let (intent, cmd) = match (given_intent, given_cmd) {
        (Some(intent), given) => {
            let tool = normalize_verb(&intent.tool);
            if !cfg
                .action
                .shell_tools
                .iter()
                .any(|t| normalize_verb(t) == tool)
            {
                return Err(Fatal(format!(
                    "--intent: tool `{}` is not a shell tool ([action] shell_tools): bulwark exec runs what a shell tool's intent screens",
                    intent.tool
                )));
            }
            let cmd = match given {
                Some(cmd) if describes(&intent, &cmd) => cmd,
                Some(_) => {
                    return Err(Fatal(
                        "--intent: the intent's args.command is not the command given: bulwark exec runs only the command its intent was judged (and approved) for".into(),
                    ));
                }
                None => intent_command(&intent).ok_or_else(|| {
                    Fatal("--intent: the intent has no args.command to run".into())
                })?,
            };
            (intent, cmd)
        }
        (None, Some(cmd)) => (build_intent(&cfg, &cmd, args.cwd.as_deref())?, cmd),
        (None, None) => {
            return Err(Fatal(
                "nothing to run: give the command after `--` (bulwark exec -- ls -la), a command line with -c, or --intent FILE".into(),
            ));
        }
    };
    let words = cmd.words();
    let Some((program_word, program_args)) = words.split_first() else {
        return Err(Fatal("nothing to run: the command is empty".into()));
    };
    let cwd = run_dir(&intent, &root, &home);
    if cwd == root && !root.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| {
                Fatal(format!(
                    "cannot create the workspace {}: {e}",
                    root.display()
                ))
            })?;
    }
    if !cwd.is_dir() {
        return Err(Fatal(format!(
            "the working directory {} is not a directory",
            cwd.display()
        )));
    }

    // Judge it as `bulwark intent check` does, and record the verdict.
    let (policy, secrets) = crate::compile_policy(cfg)?;
    let decision = action_cmd::evaluate(&policy, &intent)?;
    let ctx = Context::with_policy(policy, secrets, source.to_string())?;
    let recorded = action_cmd::record(&ctx, &intent, &decision, args.approval.is_none())?;
    let cfg = ctx.cfg();
    match decision.verdict {
        Verdict::Block => {
            eprintln!(
                "bulwark: refused: blocked by rule `{}`: {}",
                decision.rule, decision.message
            );
            return Ok(1);
        }
        Verdict::Review if args.approval.is_none() => {
            eprintln!(
                "bulwark: refused: needs approval (rule `{}`: {})",
                decision.rule, decision.message
            );
            if let Some(a) = &recorded.approval {
                eprintln!(
                    "  approval {} pending: {} approver(s) needed. An approver reviews it with\n    bulwark approvals show {}\n  and approves the digest shown there; then run this again with --approval {}",
                    a.id(),
                    a.needed(),
                    a.id(),
                    a.id()
                );
            }
            if let Some(Err(e)) = &recorded.notified {
                eprintln!("  warning: the approval notification failed: {e}");
            }
            return Ok(1);
        }
        _ => {}
    }

    // The program's own allowance: only for a program outside every directory the command may
    // write (else the command could write a `kubectl` of its own and read the kubeconfig).
    let write_allow: Vec<PathBuf> = cfg
        .action
        .workspace
        .write_allow
        .iter()
        .map(|w| expand(w, &home, &root))
        .collect();
    let program = cmd.program().map(String::from);
    let allowance = program.as_deref().and_then(|p| {
        let a = cfg.action.exec.programs.get(p)?;
        let located = locate_program(program_word, &cwd);
        let writable = |exe: &Path| {
            std::iter::once(root.clone())
                .chain(write_allow.iter().cloned())
                .chain(std::iter::once(std::env::temp_dir()))
                .filter_map(|d| std::fs::canonicalize(d).ok())
                .any(|d| exe.starts_with(d))
        };
        match located {
            Some(exe) if !writable(&exe) => Some((p.to_string(), a)),
            Some(exe) => {
                eprintln!(
                    "bulwark: warning: {} is in a writable directory: the [action.exec.programs.{p}] allowance does not apply",
                    exe.display()
                );
                None
            }
            None => None,
        }
    });
    let network = args
        .network
        .map(ExecNetwork::from)
        .or(allowance.as_ref().and_then(|(_, a)| a.network))
        .unwrap_or(cfg.action.exec.network);
    let allowance_name = allowance.as_ref().map(|(n, _)| n.clone());

    let record_run = |outcome: Outcome| -> Result<(), Fatal> {
        audit(
            &ctx,
            exec_event(
                &intent,
                &decision,
                args.approval.as_deref(),
                program.as_deref(),
                allowance_name.as_deref(),
                network,
                &outcome,
            ),
        )
    };

    // Confinement: refuse where the kernel cannot, unless told to run unconfined.
    let confined = match sandbox::available() {
        Ok(()) => true,
        Err(why) if args.allow_unconfined => {
            eprintln!(
                "bulwark: warning: no Landlock ({why}): running the command unconfined (--allow-unconfined); this is recorded"
            );
            false
        }
        Err(why) => {
            record_run(Outcome {
                outcome: "refused",
                exit_code: None,
                signal: None,
                duration_ms: 0,
                confined: false,
                status: None,
                reason: Some(format!("landlock unavailable: {why}")),
            })?;
            eprintln!(
                "bulwark: error: this kernel does not enforce Landlock ({why}), so the command cannot be confined: not run.\n  Use a kernel with Landlock (Linux 5.13 or later, `landlock` in the lsm= boot list), or pass --allow-unconfined to run it without kernel confinement (recorded in the audit log)."
            );
            return Ok(2);
        }
    };

    // A review runs only on an approval of this very intent, consumed once.
    if decision.verdict == Verdict::Review {
        let id = args.approval.as_deref().unwrap_or_default();
        let by = intent.requested_by.clone();
        if let Err(code) = action_cmd::consume(&ctx.approvals(), id, &intent, &by)? {
            return Ok(code);
        }
    } else if let Some(id) = &args.approval {
        eprintln!(
            "bulwark: note: the verdict is allow: approval {id} was not needed and is left as it is"
        );
    }

    let private = PrivateDir::create()?;
    let mut writable = vec![private.tmp()];
    if decision.mode != ActionMode::ReadOnly {
        writable.push(root.clone());
        writable.extend(write_allow.iter().cloned());
    }
    let mut state = vec![
        bulwark_home.clone(),
        cfg.store.db_path(&bulwark_home),
        cfg.vault.file(&bulwark_home),
    ];
    for p in [&cfg.audit.dir, &cfg.audit.db] {
        if !p.is_empty() {
            state.push(PathBuf::from(p));
        }
    }
    // Files secret settings read (`file:/PATH`) are Bulwark's too.
    for (_, value, _) in cfg.secret_settings() {
        if let bulwark_core::vault::cfg::SecretRef::File(path) = value {
            state.push(path.clone());
        }
    }
    let proxy = match network {
        ExecNetwork::Proxy => {
            let mut addr = cfg.egress.proxy.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(match addr {
                    std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            Some(addr)
        }
        _ => None,
    };
    let spec = SandboxSpec {
        read: vec!["/".into(), root.clone()],
        write: writable,
        devices: vec!["/dev/null".into(), "/dev/tty".into(), "/dev/pts".into()],
        deny: CREDENTIAL_PATHS.iter().map(|p| home.join(p)).collect(),
        state,
        allow_read: allowance
            .as_ref()
            .map(|(_, a)| a.read.iter().map(|p| expand(p, &home, &root)).collect())
            .unwrap_or_default(),
        network,
        proxy_port: proxy.map(|a| a.port()),
        status_file: private.status(),
    };

    let mut command = if confined {
        let exe = std::env::current_exe()
            .map_err(|e| Fatal(format!("cannot find the bulwark executable: {e}")))?;
        let mut c = std::process::Command::new(exe);
        c.arg("__sandbox")
            .arg("--spec")
            .arg(serde_json::to_string(&spec)?)
            .arg("--")
            .args(&words);
        c
    } else {
        let mut c = std::process::Command::new(program_word);
        c.args(program_args);
        c
    };
    command.current_dir(&cwd).env("TMPDIR", private.tmp());
    // Bulwark's own secrets and settings stay with Bulwark.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("BULWARK_") {
            command.env_remove(k);
        }
    }
    if !cfg.redact.pseudonym_key_env.is_empty() {
        command.env_remove(&cfg.redact.pseudonym_key_env);
    }
    for src in cfg.ingress.sources.values() {
        if !src.secret_env.is_empty() {
            command.env_remove(&src.secret_env);
        }
    }
    // And every variable a secret setting reads (`env:NAME`): a database or Redis password, an
    // upstream's API key.
    for (_, value, _) in cfg.secret_settings() {
        if let bulwark_core::vault::cfg::SecretRef::Env(name) = value {
            command.env_remove(name);
        }
    }
    if let Some(addr) = proxy {
        let url = format!("http://{addr}");
        for k in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            command.env(k, &url);
        }
    }

    let started = Instant::now();
    let waited = wait(command);
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let status = if confined {
        std::fs::read(private.status())
            .ok()
            .and_then(|b| serde_json::from_slice::<SandboxStatus>(&b).ok())
    } else {
        None
    };
    drop(private);
    let mut outcome = Outcome {
        outcome: "exited",
        exit_code: None,
        signal: None,
        duration_ms,
        confined,
        status,
        reason: None,
    };
    let code = match waited {
        Ok((st, ended_by)) => {
            use std::os::unix::process::ExitStatusExt;
            outcome.exit_code = st.code();
            outcome.signal = st.signal();
            outcome.reason = ended_by.map(|s| format!("ended: Bulwark received {s}"));
            if confined && outcome.status.is_none() && ended_by.is_none() {
                outcome.outcome = "error";
                outcome.reason = Some("the sandbox could not be set up".into());
                record_run(outcome)?;
                return Err(Fatal(
                    "the command was not run: its confinement could not be set up (see above)"
                        .into(),
                ));
            }
            if outcome
                .status
                .as_ref()
                .is_some_and(|s| s.enforcement == "not_enforced")
            {
                // The helper stops before the command when the kernel enforced nothing.
                outcome.outcome = "refused";
                outcome.reason = Some("landlock: the kernel did not enforce the ruleset".into());
                record_run(outcome)?;
                eprintln!(
                    "bulwark: error: the kernel did not enforce the Landlock ruleset: the command was not run"
                );
                return Ok(2);
            }
            match (st.code(), st.signal()) {
                (Some(c), _) => u8::try_from(c).unwrap_or(1),
                (None, Some(s)) => {
                    outcome.outcome = "killed";
                    u8::try_from(128 + s).unwrap_or(255)
                }
                (None, None) => 1,
            }
        }
        Err(e) => {
            outcome.outcome = "error";
            outcome.reason = Some(e.to_string());
            record_run(outcome)?;
            return Err(Fatal(format!("cannot run {program_word}: {e}")));
        }
    };
    record_run(outcome)?;
    Ok(code)
}

#[cfg(test)]
mod tests;
