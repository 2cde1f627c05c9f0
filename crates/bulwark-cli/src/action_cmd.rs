//! `bulwark intent check` and `bulwark approvals ...`: the action guard and human approvals.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bulwark_core::action::{
    ActionDecision, ExecutionIntent, IntentDigest, intent::MAX_INTENT_BYTES,
};
use bulwark_core::approval::{
    Approval, ApprovalError, ApprovalId, ApprovalRecord, Approvals, Approvers, Pending, StateName,
    SystemClock,
};
use bulwark_core::audit::{AuditEvent, AuditSink};
use bulwark_core::{Policy, SecurityConfig, Verdict};
use bulwark_store::AuditLog;
use bulwark_store::fs::OsPaths;
use bulwark_store::state_db::StateDb;
use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::{Fatal, PlainFormat, env_lookup, home_dir, load_config, open_input};

#[derive(Subcommand, Debug)]
pub enum IntentCommand {
    /// Judge an ExecutionIntent (JSON) with the action policy: exit 0 allow, 1 review or block,
    /// 2 input error. A review verdict creates a pending approval; every verdict is audited.
    Check {
        /// The intent file; `-` or nothing reads standard input.
        input: Option<PathBuf>,
        /// Judge only: record nothing, create no approval.
        #[arg(long)]
        dry_run: bool,
        /// `json` prints {"verdict", "rule", "message", "class", "mode", "tier",
        /// "approvals_needed", "digest", "summary", "findings", "approval"}.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApprovalsCommand {
    /// List approvals, newest first (expired ones are marked as such first).
    List {
        /// Only this state: pending, approved, rejected, expired, executed.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Show one approval, its digest and its intent (secrets in the arguments redacted).
    Show {
        /// The approval id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Approve: needs the digest `show` printed, an approver principal, not the requester
    /// (exit 0 recorded, 1 refused).
    Approve {
        /// The approval id.
        id: String,
        /// The intent digest you reviewed (from `bulwark approvals show`).
        #[arg(long, value_name = "SHA256")]
        digest: String,
        /// The approver ([approval] approvers lists who may).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Reject (an approver, or the requester withdrawing); final.
    Reject {
        /// The approval id.
        id: String,
        /// Who rejects.
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
        /// Why (recorded).
        #[arg(long, default_value = "")]
        reason: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Consume an approval to execute its intent: exit 0 means run it now (this succeeds once),
    /// 1 means do not run it (not approved, expired, already executed, or another intent).
    Consume {
        /// The approval id.
        id: String,
        /// The intent about to run; `-` or nothing reads standard input.
        input: Option<PathBuf>,
        /// Who executes (default: the intent's requested_by).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
}

/// What the approvals commands (and `bulwark exec`) need open.
pub(crate) struct Context {
    /// The configuration and its guards, compiled once for the command.
    pub(crate) policy: Policy,
    origin: String,
    store: StateDb,
    pub(crate) audit: Option<AuditLog>,
    /// The configuration's `vault:NAME` references, decrypted.
    secrets: bulwark_store::vault_file::Secrets,
}

impl Context {
    pub(crate) fn open(cfg: SecurityConfig, origin: String) -> Result<Context, Fatal> {
        let (policy, secrets) = crate::compile_policy(cfg)?;
        Context::with_policy(policy, secrets, origin)
    }

    /// [`Context::open`] without opening the audit log (a long-running command opens it as a
    /// [`bulwark_store::audit_relay::SharedLog`], with [`Context::audit_opener`]).
    pub(crate) fn open_unaudited(cfg: SecurityConfig, origin: String) -> Result<Context, Fatal> {
        let (mut policy, secrets) = crate::compile_policy(cfg)?;
        let enabled = policy.cfg.audit.enabled;
        policy.cfg.audit.enabled = false;
        let mut ctx = Context::with_policy(policy, secrets, origin)?;
        ctx.policy.cfg.audit.enabled = enabled;
        Ok(ctx)
    }

    /// How to open the configured audit log again and again (through a relay when one answers);
    /// `None` when `[audit] enabled = false`.
    pub(crate) fn audit_opener(&self) -> Result<Option<bulwark_store::audit_relay::Opener>, Fatal> {
        if !self.cfg().audit.enabled {
            return Ok(None);
        }
        let (cfg, home) = (self.cfg().clone(), home_dir()?);
        let secrets = crate::secrets(&cfg)?;
        Ok(Some(Box::new(move || {
            bulwark_store::audit_open::open_or_relay(&cfg, &home, &secrets, &env_lookup)
                .map(|(l, _)| l)
        })))
    }

    /// Open the state database and the audit log for a policy already compiled.
    pub(crate) fn with_policy(
        policy: Policy,
        secrets: bulwark_store::vault_file::Secrets,
        origin: String,
    ) -> Result<Context, Fatal> {
        let home = home_dir()?;
        let cfg = &policy.cfg;
        let store = crate::state_db(cfg, &secrets, &home)?;
        let audit = if cfg.audit.enabled {
            Some(bulwark_store::audit_open::open_or_relay(cfg, &home, &secrets, &env_lookup)?.0)
        } else {
            None
        };
        Ok(Context {
            policy,
            origin,
            store,
            audit,
            secrets,
        })
    }

    /// The configuration the command loaded.
    pub(crate) fn cfg(&self) -> &SecurityConfig {
        &self.policy.cfg
    }

    /// The state database.
    pub(crate) fn store(&self) -> &StateDb {
        &self.store
    }

    /// A secret setting's value (`key` names it in errors): `None` when unset.
    pub(crate) fn secret(
        &self,
        key: &str,
        value: &bulwark_core::config::SecretRef,
    ) -> Result<Option<secrecy::SecretString>, Fatal> {
        self.secrets
            .value(value, &env_lookup)
            .map_err(|e| Fatal(format!("{key}: {e}")))
    }

    pub(crate) fn approvals(&self) -> Approvals<'_> {
        Approvals::new(
            &self.store,
            self.audit.as_ref().map(|a| a as &dyn AuditSink),
            Approvers::from_config(&self.cfg().approval),
            self.cfg().approval.ttl_secs,
            &SystemClock,
        )
    }
}

pub(crate) fn read_intent(input: Option<&Path>) -> Result<ExecutionIntent, Fatal> {
    let (name, reader) = open_input(input)?;
    let mut bytes = Vec::new();
    reader
        .take(MAX_INTENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Fatal(format!("cannot read {name}: {e}")))?;
    ExecutionIntent::from_json(&bytes).map_err(|e| Fatal(format!("{name}: {e}")))
}

/// Judge an intent with the policy's action guard (records nothing).
pub(crate) fn evaluate(policy: &Policy, intent: &ExecutionIntent) -> Result<ActionDecision, Fatal> {
    policy
        .action
        .evaluate(intent, &OsPaths)
        .map_err(|e| Fatal(e.to_string()))
}

/// What recording a verdict produced.
#[derive(Default)]
pub(crate) struct Recorded {
    /// The pending approval a review created.
    pub(crate) approval: Option<Approval<Pending>>,
    /// Whether its notification was sent (when one is configured).
    pub(crate) notified: Option<Result<(), String>>,
}

/// Record a verdict as `bulwark intent check` does: the mode seen, the `action.check` audit record
/// and, for a review when `create_approval`, a pending approval (notified when configured).
pub(crate) fn record(
    ctx: &Context,
    intent: &ExecutionIntent,
    decision: &ActionDecision,
    create_approval: bool,
) -> Result<Recorded, Fatal> {
    let ap = ctx.approvals();
    ap.note_mode(decision.mode, &ctx.origin)
        .map_err(|e| Fatal(e.to_string()))?;
    if let Some(audit) = &ctx.audit {
        audit
            .append(AuditEvent::from((intent, decision)))
            .map_err(|e| Fatal(format!("the decision could not be recorded: {e}")))?;
    }
    let mut out = Recorded::default();
    if decision.verdict == Verdict::Review && create_approval {
        let a = ap
            .create(intent, decision)
            .map_err(|e| Fatal(e.to_string()))?;
        if let Some(url) = ctx.secret("approval.notify_url", &ctx.cfg().approval.notify_url)? {
            out.notified = Some(bulwark_server::notify::pending(
                url.expose_secret(),
                &a,
                ctx.audit.as_ref(),
            ));
        }
        out.approval = Some(a);
    }
    Ok(out)
}

/// Consume approval `id` for `intent` as `bulwark approvals consume` does: `Ok(Ok(record))` means
/// run it now (this succeeds once); `Ok(Err(code))` that it was refused (the reason is printed).
pub(crate) fn consume(
    ap: &Approvals<'_>,
    id: &str,
    intent: &ExecutionIntent,
    by: &str,
) -> Result<Result<ApprovalRecord, u8>, Fatal> {
    let id = ApprovalId::parse(id).map_err(|e| Fatal(e.to_string()))?;
    match ap.consume(&id, intent, by) {
        Ok(executed) => Ok(Ok(
            bulwark_core::approval::AnyApproval::Executed(executed).to_record()
        )),
        Err(e) => refusal(e).map(Err),
    }
}

pub fn run_intent(cmd: IntentCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let IntentCommand::Check {
        input,
        dry_run,
        format,
    } = cmd;
    let intent = read_intent(input.as_deref())?;
    let (cfg, source) = load_config(explicit)?;
    let (policy, secrets) = crate::compile_policy(cfg)?;
    let decision = evaluate(&policy, &intent)?;
    let Recorded { approval, notified } = if dry_run {
        Recorded::default()
    } else {
        let ctx = Context::with_policy(policy, secrets, source.to_string())?;
        record(&ctx, &intent, &decision, true)?
    };
    let approval_json = approval.as_ref().map(|a| {
        serde_json::json!({
            "id": a.id().as_str(),
            "digest": a.digest().as_str(),
            "needed": a.needed(),
            "expires_at": humantime::format_rfc3339_millis(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(a.expires_ms())
            ).to_string(),
            "notified": notified.as_ref().map(|n| n.is_ok()),
        })
    });
    let mut out = std::io::stdout().lock();
    match format {
        PlainFormat::Json => {
            let mut v = serde_json::to_value(&decision)?;
            v["approval"] = approval_json.unwrap_or(serde_json::Value::Null);
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        PlainFormat::Text => {
            writeln!(out, "{}: {}", decision.verdict.as_str(), decision.summary)?;
            writeln!(out, "  rule:   {}: {}", decision.rule, decision.message)?;
            writeln!(
                out,
                "  class:  {}   mode: {}   tier: {}",
                decision.class.as_str(),
                decision.mode.as_str(),
                decision.tier.as_deref().unwrap_or("-")
            )?;
            writeln!(out, "  digest: {}", decision.digest)?;
            for f in decision.findings.iter().filter(|f| f.rule != decision.rule) {
                writeln!(
                    out,
                    "  - {} [{}] {}: {}",
                    f.severity.as_str(),
                    f.field().unwrap_or("-"),
                    f.rule,
                    f.message
                )?;
            }
            if let Some(a) = &approval {
                writeln!(
                    out,
                    "  approval {} pending: {} approver(s) needed. An approver reviews it with\n    bulwark approvals show {}\n  and approves the digest shown there with\n    bulwark approvals approve {} --digest DIGEST --as PRINCIPAL",
                    a.id(),
                    a.needed(),
                    a.id(),
                    a.id()
                )?;
            }
            if let Some(Err(e)) = &notified {
                writeln!(out, "  warning: the approval notification failed: {e}")?;
            }
        }
    }
    Ok(if decision.verdict == Verdict::Allow {
        0
    } else {
        1
    })
}

fn record_json(r: &ApprovalRecord) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["created_at"] = r.created().into();
    v["expires_at"] = r.expires().into();
    v
}

/// Exit code for a refused transition (1) or an environment failure (2).
fn refusal(e: ApprovalError) -> Result<u8, Fatal> {
    match e {
        ApprovalError::BadId(_)
        | ApprovalError::Damaged { .. }
        | ApprovalError::Store(_)
        | ApprovalError::Audit(_)
        | ApprovalError::Contended(_) => Err(Fatal(e.to_string())),
        other => {
            eprintln!("bulwark: refused: {other}");
            Ok(1)
        }
    }
}

/// The approver's view of where a call's context came from: the untrusted pieces, and each
/// argument that came from one with its value (as `intent` shows it, secrets masked).
fn print_provenance(
    out: &mut impl Write,
    t: &bulwark_core::provenance::Taint,
    intent: &serde_json::Value,
) -> std::io::Result<()> {
    let mut notes = vec![format!(
        "tainted by {} untrusted piece{}",
        t.untrusted,
        if t.untrusted == 1 { "" } else { "s" }
    )];
    if t.sends {
        notes.push("sends data out".into());
    }
    if t.sensitive {
        notes.push("secrets or personal data in context".into());
    }
    writeln!(out, "provenance {}", notes.join("; "))?;
    for s in &t.sources {
        writeln!(
            out,
            "  untrusted {} at {} (injection {:.2})",
            s.source,
            s.at,
            f64::from(s.injection) / 1000.0
        )?;
    }
    for c in &t.chosen {
        let value = arg_value(intent, &c.arg)
            .map(|v| match v {
                serde_json::Value::String(s) => format!("{s:?}"),
                v => v.to_string(),
            })
            .unwrap_or_else(|| "?".into());
        let value: String = value.chars().take(200).collect();
        writeln!(
            out,
            "  from untrusted: {} = {value} from {} ({})",
            c.arg, c.from, c.why
        )?;
    }
    Ok(())
}

/// The value at an argument path (`args.to`, `args.items[2].url`) of an intent.
fn arg_value<'a>(intent: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut v = intent;
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        v = v.get(key)?;
        for idx in rest.split('[') {
            if let Some(i) = idx.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()) {
                v = v.get(i)?;
            }
        }
    }
    Some(v)
}

fn print_record(format: PlainFormat, r: &ApprovalRecord) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    match format {
        PlainFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &record_json(r))?;
            writeln!(out)?;
        }
        PlainFormat::Text => {
            writeln!(
                out,
                "{} {}: {} {} {} ({} of {} approvals)",
                r.id,
                r.state.as_str(),
                r.summary.tool,
                r.summary.action,
                r.summary.target,
                r.votes.len(),
                r.needed
            )?;
        }
    }
    Ok(())
}

pub fn run_approvals(cmd: ApprovalsCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, source) = load_config(explicit)?;
    let ctx = Context::open(cfg, source.to_string())?;
    let ap = ctx.approvals();
    let parse_id = |s: &str| ApprovalId::parse(s).map_err(|e| Fatal(e.to_string()));
    match cmd {
        ApprovalsCommand::List {
            state,
            limit,
            format,
        } => {
            let state = match state.as_deref() {
                None => None,
                Some(s) => Some(StateName::parse(s).ok_or_else(|| {
                    Fatal(format!(
                        "--state {s:?}: expected pending, approved, rejected, expired or executed"
                    ))
                })?),
            };
            let list = ap.list(state, limit).map_err(|e| Fatal(e.to_string()))?;
            let mut out = std::io::stdout().lock();
            match format {
                PlainFormat::Json => {
                    let v: Vec<_> = list.iter().map(record_json).collect();
                    serde_json::to_writer_pretty(&mut out, &v)?;
                    writeln!(out)?;
                }
                PlainFormat::Text => {
                    if list.is_empty() {
                        writeln!(out, "no approvals")?;
                    }
                    for r in &list {
                        writeln!(
                            out,
                            "{}  {:<9} {} {} {}{}  tier {}  {}/{} approvals  requested by {}  expires {}",
                            r.id,
                            r.state.as_str(),
                            r.summary.tool,
                            r.summary.action,
                            r.summary.target,
                            r.summary
                                .namespace
                                .as_deref()
                                .map(|n| format!(" in {n}"))
                                .unwrap_or_default(),
                            r.summary.tier.as_deref().unwrap_or("-"),
                            r.votes.len(),
                            r.needed,
                            r.requested_by,
                            r.expires()
                        )?;
                    }
                }
            }
            Ok(0)
        }
        ApprovalsCommand::Show { id, format } => {
            let id = parse_id(&id)?;
            let (r, intent) = match ap.get(&id) {
                Ok(x) => x,
                Err(e) => return refusal(e),
            };
            // Secrets in the arguments are not shown; the digest covers the real values.
            let redactor = ctx
                .policy
                .redactor
                .clone()
                .with_detectors(bulwark_core::Detectors {
                    secrets: true,
                    pii: false,
                    injection: false,
                });
            let shown =
                bulwark_core::audit::redact_details(serde_json::to_value(&intent)?, &redactor);
            let mut out = std::io::stdout().lock();
            match format {
                PlainFormat::Json => {
                    let v = serde_json::json!({"approval": record_json(&r), "intent": shown});
                    serde_json::to_writer_pretty(&mut out, &v)?;
                    writeln!(out)?;
                }
                PlainFormat::Text => {
                    writeln!(out, "approval  {}", r.id)?;
                    writeln!(out, "state     {}", r.state.as_str())?;
                    writeln!(out, "digest    {}", r.digest)?;
                    writeln!(
                        out,
                        "tier      {}",
                        r.summary.tier.as_deref().unwrap_or("-")
                    )?;
                    writeln!(out, "class     {}", r.summary.class.as_str())?;
                    writeln!(out, "rule      {}", r.summary.rule)?;
                    if let Some(t) = &r.summary.provenance {
                        print_provenance(&mut out, t, &shown)?;
                    }
                    writeln!(out, "requested {} by {}", r.created(), r.requested_by)?;
                    writeln!(out, "expires   {}", r.expires())?;
                    let votes: Vec<&str> = r.votes.iter().map(|v| v.approver.as_str()).collect();
                    writeln!(
                        out,
                        "approvals {} of {} ({})",
                        votes.len(),
                        r.needed,
                        votes.join(", ")
                    )?;
                    if let Some(by) = &r.decided_by {
                        writeln!(out, "by        {by}")?;
                    }
                    if let Some(reason) = &r.reason {
                        writeln!(out, "reason    {reason}")?;
                    }
                    writeln!(out, "intent:")?;
                    serde_json::to_writer_pretty(&mut out, &shown)?;
                    writeln!(out)?;
                }
            }
            Ok(0)
        }
        ApprovalsCommand::Approve {
            id,
            digest,
            principal,
            format,
        } => {
            let id = parse_id(&id)?;
            let digest =
                IntentDigest::parse(&digest).map_err(|e| Fatal(format!("--digest: {e}")))?;
            match ap.approve(&id, &digest, &principal) {
                Ok(r) => print_record(format, &r).map(|_| 0),
                Err(e) => refusal(e),
            }
        }
        ApprovalsCommand::Reject {
            id,
            principal,
            reason,
            format,
        } => {
            let id = parse_id(&id)?;
            match ap.reject(&id, &principal, &reason) {
                Ok(r) => print_record(format, &r).map(|_| 0),
                Err(e) => refusal(e),
            }
        }
        ApprovalsCommand::Consume {
            id,
            input,
            principal,
            format,
        } => {
            let intent = read_intent(input.as_deref())?;
            let by = principal.unwrap_or_else(|| intent.requested_by.clone());
            match consume(&ap, &id, &intent, &by)? {
                Ok(r) => print_record(format, &r).map(|_| 0),
                Err(code) => Ok(code),
            }
        }
    }
}
