//! `bulwark mcp`: MCP servers behind the guard. `wrap` runs a stdio server with Bulwark between it
//! and the client (the transport is `mcp_wrap`); `pins` shows, approves and resets what each server
//! was approved to show.

use std::path::Path;

use bulwark_core::action::IntentDigest;
use bulwark_core::approval::{ApprovalId, StateName};
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::mcp::{ChangeKind, ItemKind, PinStore, ServerPin};
use clap::Subcommand;

use crate::action_cmd::Context;
use crate::{Fatal, PlainFormat, load_config};

/// `bulwark mcp ...`
#[derive(Subcommand, Debug)]
pub enum McpCommand {
    /// Run an MCP server over stdio with Bulwark between it and the client: put
    /// `bulwark mcp wrap --name NAME -- CMD ARGS...` where the client's configuration starts the
    /// server. Definitions are pinned, texts scanned, tool calls judged. Exit status: the
    /// server's.
    Wrap {
        /// The server's name: what pins, approvals and `[mcp.servers.NAME]` call it
        /// (1 to 64 of a-z, 0-9, '_' and '-').
        #[arg(long)]
        name: String,
        /// The server's command and its arguments (after `--`).
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// What each server was approved to show: list, show, approve, reset.
    #[command(subcommand)]
    Pins(PinsCommand),
}

/// `bulwark mcp pins ...`
#[derive(Subcommand, Debug)]
pub enum PinsCommand {
    /// Every pinned server: its tools, prompts and resources, and any change awaiting approval.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// A server's pinned definitions, and the change awaiting approval as a diff.
    Show {
        /// The server's name (or its pin key, `NAME:IDENTITY`).
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Approve the change a server awaits (as `bulwark approvals approve` does); the running
    /// wrapper shows the approved definitions within a second, or when next started. Exit
    /// status 1 when refused.
    Approve {
        /// The server's name (or its pin key).
        name: String,
        /// The digest of the definitions you reviewed (from `bulwark mcp pins show`).
        #[arg(long, value_name = "SHA256")]
        digest: String,
        /// The approver ([approval] approvers lists who may).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
    },
    /// Forget a server's pins: its next lists are pinned on first use again.
    Reset {
        /// The server's name (or its pin key).
        name: String,
        /// Who resets (recorded in the audit log).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
    },
}

pub fn run(cmd: McpCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, source) = load_config(explicit)?;
    match cmd {
        McpCommand::Wrap { name, command } => {
            let ctx = Context::open_unaudited(cfg, source.to_string())?;
            crate::mcp_wrap::wrap(&ctx, &name, &command)
        }
        McpCommand::Pins(p) => pins(&Context::open(cfg, source.to_string())?, p),
    }
}

// ---------------------------------------------------------------------- pins

/// The pins `name` selects: its key, or every identity of a name.
fn select(store: &dyn PinStore, name: &str) -> Result<Vec<ServerPin>, Fatal> {
    let all = store.list_pins().map_err(|e| Fatal(e.to_string()))?;
    let found: Vec<ServerPin> = all
        .into_iter()
        .filter(|p| p.key == name || p.name == name)
        .collect();
    if found.is_empty() {
        return Err(Fatal(format!(
            "no MCP server named `{name}` is pinned (`bulwark mcp pins list` shows those that are)"
        )));
    }
    Ok(found)
}

fn one(store: &dyn PinStore, name: &str) -> Result<ServerPin, Fatal> {
    let mut found = select(store, name)?;
    if found.len() > 1 {
        let keys: Vec<&str> = found.iter().map(|p| p.key.as_str()).collect();
        return Err(Fatal(format!(
            "`{name}` names {} pinned servers (run with different commands): name one by its key: {}",
            found.len(),
            keys.join(", ")
        )));
    }
    Ok(found.remove(0))
}

fn state_of(ctx: &Context, approval: &str) -> String {
    ApprovalId::parse(approval)
        .ok()
        .and_then(|id| ctx.approvals().get(&id).ok())
        .map(|(r, _)| r.state.as_str().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn pins(ctx: &Context, cmd: PinsCommand) -> Result<u8, Fatal> {
    let store: &dyn PinStore = ctx.store();
    match cmd {
        PinsCommand::List { format } => {
            let all = store.list_pins().map_err(|e| Fatal(e.to_string()))?;
            if format == PlainFormat::Json {
                let v: Vec<serde_json::Value> = all.iter().map(|p| {
                    serde_json::json!({
                        "key": p.key, "name": p.name, "program": p.program, "identity": p.identity,
                        "digest": p.pinned.digest(), "tools": p.pinned.tools.keys().collect::<Vec<_>>(),
                        "prompts": p.pinned.prompts.len(), "resources": p.pinned.resources.len(),
                        "resource_templates": p.pinned.resource_templates.len(),
                        "pinned_by": p.pinned_by, "updated_ms": p.updated_ms,
                        "pending": p.pending.as_ref().map(|x| serde_json::json!({
                            "approval": x.approval, "state": state_of(ctx, &x.approval),
                            "digest": x.digest, "changes": x.changes.len(),
                        })),
                    })
                }).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            if all.is_empty() {
                println!(
                    "No MCP server is pinned yet: `bulwark mcp wrap --name NAME -- CMD` pins a server's definitions when a client first lists them."
                );
            }
            for p in &all {
                let pending = match &p.pending {
                    Some(x) => format!(
                        "{} change(s) awaiting approval {} ({})",
                        x.changes.len(),
                        x.approval,
                        state_of(ctx, &x.approval)
                    ),
                    None => "no change pending".into(),
                };
                println!(
                    "{}  {}  {} tools, {} prompts, {} resources, {} resource templates  pinned by {}  {pending}",
                    p.key,
                    p.program,
                    p.pinned.tools.len(),
                    p.pinned.prompts.len(),
                    p.pinned.resources.len(),
                    p.pinned.resource_templates.len(),
                    p.pinned_by
                );
            }
            Ok(0)
        }
        PinsCommand::Show { name, format } => {
            let found = select(store, &name)?;
            if format == PlainFormat::Json {
                let v: Vec<serde_json::Value> = found
                    .iter()
                    .map(|p| {
                        let mut v = serde_json::to_value(p).unwrap_or_default();
                        v["digest"] = p.pinned.digest().into();
                        if let Some(x) = &p.pending {
                            v["pending"]["state"] = state_of(ctx, &x.approval).into();
                        }
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            for p in &found {
                show(ctx, p);
            }
            Ok(0)
        }
        PinsCommand::Approve {
            name,
            digest,
            principal,
        } => {
            let p = one(store, &name)?;
            let Some(x) = &p.pending else {
                return Err(Fatal(format!(
                    "`{}` has no change awaiting approval",
                    p.key
                )));
            };
            let want = digest.strip_prefix("sha256:").unwrap_or(&digest);
            if want != x.digest {
                eprintln!(
                    "bulwark: refused: the definitions awaiting approval for `{}` have digest sha256:{}, not {digest}: review them again with `bulwark mcp pins show {}`",
                    p.key, x.digest, p.name
                );
                return Ok(1);
            }
            let id = ApprovalId::parse(&x.approval).map_err(|e| Fatal(e.to_string()))?;
            let ap = ctx.approvals();
            let (rec, _) = ap.get(&id).map_err(|e| Fatal(e.to_string()))?;
            let intent_digest =
                IntentDigest::parse(rec.digest.as_str()).map_err(|e| Fatal(e.to_string()))?;
            match ap.approve(&id, &intent_digest, &principal) {
                Ok(r) => {
                    let done = r.state == StateName::Approved;
                    println!(
                        "approval {}: {} ({} of {} approvals){}",
                        r.id,
                        r.state.as_str(),
                        r.votes.len(),
                        r.needed,
                        if done {
                            "; the wrapper of this server pins the new definitions within a second, or when next started"
                        } else {
                            ""
                        }
                    );
                    Ok(0)
                }
                Err(e) => {
                    eprintln!("bulwark: refused: {e}");
                    Ok(1)
                }
            }
        }
        PinsCommand::Reset { name, principal } => {
            let found = select(store, &name)?;
            for p in found {
                if store.remove_pin(&p.key).map_err(|e| Fatal(e.to_string()))? {
                    if let Some(audit) = &ctx.audit {
                        audit.append(AuditEvent {
                            event_type: EventType::ConfigChange,
                            actor: principal.clone(),
                            action: "mcp.pin".into(),
                            resource: format!("mcp:{}", p.key),
                            outcome: "reset".into(),
                            details: serde_json::json!({"digest": p.pinned.digest(), "tools": p.pinned.tools.len()}),
                        }).map_err(|e| Fatal(format!("the reset could not be recorded: {e}")))?;
                    }
                    println!(
                        "{}: pins forgotten; its next lists are pinned on first use",
                        p.key
                    );
                }
            }
            Ok(0)
        }
    }
}

/// A pin for a person: what is pinned, and the change awaiting approval, field by field.
fn show(ctx: &Context, p: &ServerPin) {
    println!(
        "server {}  ({}, identity sha256:{})",
        p.key, p.program, p.identity
    );
    println!("pinned by {}: sha256:{}", p.pinned_by, p.pinned.digest());
    for kind in ItemKind::ALL {
        for (k, v) in p.pinned.items(kind) {
            let d = v.get("description").and_then(|d| d.as_str()).unwrap_or("");
            let d: String = d.chars().take(100).collect();
            println!("  {} {k}: {d}", kind.as_str());
        }
    }
    let Some(x) = &p.pending else {
        println!("no change awaiting approval");
        return;
    };
    println!();
    println!(
        "awaiting approval {} ({}): definitions sha256:{}",
        x.approval,
        state_of(ctx, &x.approval),
        x.digest
    );
    for c in &x.changes {
        let findings = if c.findings.is_empty() {
            String::new()
        } else {
            format!("  [flagged: {}]", c.findings.join(", "))
        };
        let change = match c.change {
            ChangeKind::Added => "added",
            ChangeKind::Changed => "changed",
            ChangeKind::Removed => "removed",
        };
        println!("  {change} {} {}{findings}", c.kind, c.name);
        for f in p.field_changes(x, c) {
            diff_lines(&f.field, f.old.as_deref(), f.new.as_deref());
        }
    }
    println!();
    println!(
        "approve with: bulwark mcp pins approve {} --digest sha256:{} --as APPROVER",
        p.key, x.digest
    );
}

fn diff_lines(field: &str, old: Option<&str>, new: Option<&str>) {
    println!("    {field}:");
    for l in old.unwrap_or("").lines() {
        println!("    - {l}");
    }
    for l in new.unwrap_or("").lines() {
        println!("    + {l}");
    }
}
