//! `bulwark held`: alerts the ingress guard held back. List and read them; release one (forward it
//! to its source's `forward_to`, once) or drop it; settle a delivery a crash left in doubt.

use std::io::Write;
use std::path::Path;

use bulwark_core::approval::{Approvers, rfc3339};
use bulwark_core::audit::AuditSink;
use bulwark_core::webhook::held::{HeldAlert, HeldState, HeldStore};
use bulwark_server::deliver::{Release, Settle, listed};
use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::action_cmd::Context;
use crate::{Fatal, PlainFormat, load_config};

#[derive(Subcommand, Debug)]
pub enum HeldCommand {
    /// Held alerts, newest first (never their payloads).
    List {
        /// `held` (default), `released`, `dropped` or `all`.
        #[arg(long, default_value = "held")]
        state: String,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// One alert with its payload, secrets and personal data redacted for reading.
    Show {
        /// The held alert id.
        id: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Forward a held alert to its source's `forward_to`, once (exit 0 forwarded; 1 refused, or not
    /// delivered and still held; 2 not an approver or no such alert).
    Release {
        /// The held alert id.
        id: String,
        /// Who decides ([approval] approvers lists who may).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
    },
    /// Drop a held alert: it is never forwarded (exit 0 dropped; 1 no longer held; 2 not an
    /// approver or no such alert).
    Drop {
        /// The held alert id.
        id: String,
        /// Who decides ([approval] approvers lists who may).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
    },
    /// Settle an alert left `releasing` by a crash during its delivery, once you have checked the
    /// receiver: `--delivered` marks it released, `--not-delivered` holds it again (to release or
    /// drop). Refused within a minute of the release starting (exit 0 settled; 1 not in doubt,
    /// or maybe still sending; 2 not an approver or no such alert).
    Settle {
        /// The held alert id.
        id: String,
        /// Who decides ([approval] approvers lists who may).
        #[arg(long = "as", value_name = "PRINCIPAL")]
        principal: String,
        /// The receiver got it.
        #[arg(
            long,
            conflicts_with = "not_delivered",
            required_unless_present = "not_delivered"
        )]
        delivered: bool,
        /// The receiver did not get it.
        #[arg(long)]
        not_delivered: bool,
    },
}

pub fn run(cmd: HeldCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, source) = load_config(explicit)?;
    let ctx = Context::open(cfg, source.to_string())?;
    let store = ctx.store();
    let load = |id: &str| -> Result<HeldAlert, Fatal> {
        let id = HeldAlert::parse_id(id).map_err(Fatal)?;
        store
            .held(&id)
            .map_err(|e| Fatal(e.to_string()))?
            .ok_or_else(|| Fatal(format!("no held alert {id}")))
    };
    let approver = |who: &str| -> Result<(), Fatal> {
        if Approvers::from_config(&ctx.cfg().approval).contains(who) {
            Ok(())
        } else {
            Err(Fatal(format!(
                "{who:?} is not an approver: [approval] approvers lists who may release or drop held alerts"
            )))
        }
    };
    let mut out = std::io::stdout().lock();
    match cmd {
        HeldCommand::List {
            state,
            limit,
            format,
        } => {
            let state =
                HeldState::parse_filter(&state).map_err(|e| Fatal(format!("--state {e}")))?;
            let list = store
                .list_held(state, limit)
                .map_err(|e| Fatal(e.to_string()))?;
            match format {
                PlainFormat::Json => {
                    let v: Vec<serde_json::Value> = list.iter().map(listed).collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
                PlainFormat::Text => {
                    for a in &list {
                        writeln!(
                            out,
                            "{}  {:<8} {:<7} {}  source {}  rules {}",
                            a.id,
                            a.state.as_str(),
                            a.verdict.as_str(),
                            rfc3339(a.received_ms),
                            a.source,
                            a.rules.join(",")
                        )?;
                    }
                    writeln!(out, "{} held alert(s)", list.len())?;
                }
            }
            Ok(0)
        }
        HeldCommand::Show { id, format } => {
            let a = load(&id)?;
            let payload =
                bulwark_server::deliver::readable_payload(&ctx.policy.redactor, &a.body());
            match format {
                PlainFormat::Json => {
                    let mut v = listed(&a);
                    v["payload"] = payload.into();
                    v["content_type"] = a.content_type.clone().into();
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
                PlainFormat::Text => {
                    writeln!(out, "id        {}", a.id)?;
                    writeln!(out, "state     {}", a.state.as_str())?;
                    writeln!(out, "source    {}", a.source)?;
                    writeln!(out, "verdict   {}", a.verdict.as_str())?;
                    writeln!(out, "rules     {}", a.rules.join(", "))?;
                    writeln!(out, "received  {}", rfc3339(a.received_ms))?;
                    if let (Some(by), Some(at)) = (&a.decided_by, a.decided_ms) {
                        writeln!(out, "decided   by {by} at {}", rfc3339(at))?;
                    }
                    writeln!(out, "payload ({}, redacted):\n{payload}", a.content_type)?;
                }
            }
            Ok(0)
        }
        HeldCommand::Release { id, principal } => {
            approver(&principal)?;
            let a = load(&id)?;
            let id = a.id.clone();
            let Some(src) = ctx.cfg().ingress.sources.get(&a.source) else {
                eprintln!(
                    "bulwark: refused: the alert's source {:?} is no longer configured: drop it",
                    a.source
                );
                return Ok(1);
            };
            let Some(forward_to) = &src.forward_to else {
                eprintln!(
                    "bulwark: refused: source {:?} has no forward_to: nothing to release to (drop it)",
                    a.source
                );
                return Ok(1);
            };
            let hop = bulwark_server::deliver::Forward {
                url: forward_to.to_string(),
                bearer: ctx
                    .secret(
                        &format!("ingress.sources.{}.forward_token", a.source),
                        &src.forward_token,
                    )?
                    .map(|t| format!("Bearer {}", t.expose_secret())),
                content_type: a.content_type.clone(),
                verdict: a.verdict.as_str().to_string(),
                source: a.source.clone(),
                rules: a.rules.join(","),
            };
            let audit = ctx.audit.as_ref().map(|l| l as &dyn AuditSink);
            match bulwark_server::deliver::release(store, audit, &a, &hop, &principal, now_ms())
                .map_err(|e| Fatal(e.to_string()))?
            {
                Release::Forwarded(status) => {
                    writeln!(
                        out,
                        "released {id}: forwarded to {} (HTTP {status})",
                        a.source
                    )?;
                    Ok(0)
                }
                Release::NotHeld => {
                    eprintln!("bulwark: refused: held alert {id} is no longer held");
                    Ok(1)
                }
                Release::Failed(why) => {
                    eprintln!("bulwark: not delivered: {why}; the alert stays held");
                    Ok(1)
                }
            }
        }
        HeldCommand::Drop { id, principal } => {
            approver(&principal)?;
            let id = load(&id)?.id;
            let audit = ctx.audit.as_ref().map(|l| l as &dyn AuditSink);
            if !bulwark_server::deliver::drop_held(store, audit, &id, &principal, now_ms())
                .map_err(|e| Fatal(e.to_string()))?
            {
                eprintln!("bulwark: refused: held alert {id} is no longer held");
                return Ok(1);
            }
            writeln!(out, "dropped {id}")?;
            Ok(0)
        }
        HeldCommand::Settle {
            id,
            principal,
            delivered,
            not_delivered: _,
        } => {
            approver(&principal)?;
            let alert = load(&id)?;
            let id = alert.id.as_str();
            let audit = ctx.audit.as_ref().map(|l| l as &dyn AuditSink);
            match bulwark_server::deliver::settle_in_doubt(
                store,
                audit,
                &alert,
                delivered,
                &principal,
                now_ms(),
            )
            .map_err(|e| Fatal(e.to_string()))?
            {
                Settle::Settled(state) => {
                    writeln!(out, "settled {id}: {}", state.as_str())?;
                    Ok(0)
                }
                Settle::NotInDoubt => {
                    eprintln!(
                        "bulwark: refused: held alert {id} is not `releasing`: there is no delivery in doubt"
                    );
                    Ok(1)
                }
                Settle::StillSending(ms) => {
                    eprintln!(
                        "bulwark: refused: its release started {} s ago and may still be sending: settle it after a minute",
                        ms / 1000
                    );
                    Ok(1)
                }
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
