//! `bulwark gateway usage`: what agents spent through the model gateway, from the audit log.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use bulwark_core::gateway::budget::{Prices, Tokens};
use clap::Subcommand;

use crate::{Fatal, PlainFormat, load_config};

#[derive(Subcommand, Debug)]
pub enum GatewayCommand {
    /// Requests, tokens and cost per agent token and model, from the audit log's
    /// `gateway.exchange` records; cost from `[gateway.prices]`.
    Usage {
        /// RFC 3339 time or a duration ago (`24h`, `7days`). Default: the start of today (UTC),
        /// the window `cost_per_day` budgets count.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
}

/// One (token, model) row of the report.
#[derive(Debug, Default, serde::Serialize)]
struct Row {
    token: String,
    model: String,
    requests: u64,
    /// Requests a budget refused.
    over_budget: u64,
    /// Requests refused for a tool result that carried injection.
    blocked: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// In the unit of `[gateway.prices]`; `null` when no price matches the model.
    cost: Option<f64>,
    tool_calls: u64,
    tool_calls_withheld: u64,
}

pub fn run(cmd: GatewayCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    let GatewayCommand::Usage { since, format } = cmd;
    let since = match since {
        Some(s) => crate::audit_cmd::parse_since(&s)?,
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(now - now % 86_400)
        }
    };
    let prices = Prices::new(&cfg.gateway.prices).map_err(Fatal)?;
    let home = crate::home_dir()?;
    let source = crate::audit_source(&cfg, &home)?;
    let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
    crate::audit_cmd::for_each_record(&source, since, &mut |_, r| {
        if r.action != "gateway.exchange" {
            return true;
        }
        let row = rows
            .entry((r.actor.clone(), r.resource.clone()))
            .or_insert_with(|| Row {
                token: r.actor.clone(),
                model: r.resource.clone(),
                ..Row::default()
            });
        row.requests += 1;
        match r.outcome.as_str() {
            "over_budget" => row.over_budget += 1,
            "blocked" => row.blocked += 1,
            _ => {}
        }
        if let Some(t) = r.details.get("usage").and_then(Tokens::of_usage) {
            row.input_tokens += t.input;
            row.output_tokens += t.output;
        }
        for c in r
            .details
            .get("tool_calls")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            row.tool_calls += 1;
            if c.get("passed") == Some(&serde_json::Value::Bool(false)) {
                row.tool_calls_withheld += 1;
            }
        }
        true
    })?;
    for row in rows.values_mut() {
        row.cost = prices.of(&row.model).map(|_| {
            prices.micros(
                &row.model,
                Tokens {
                    input: row.input_tokens,
                    output: row.output_tokens,
                },
            ) as f64
                / 1_000_000.0
        });
    }
    let rows: Vec<Row> = rows.into_values().collect();
    let mut out = std::io::stdout().lock();
    match format {
        PlainFormat::Json => {
            let since = humantime::format_rfc3339_seconds(since).to_string();
            serde_json::to_writer_pretty(
                &mut out,
                &serde_json::json!({"since": since, "usage": rows}),
            )
            .map_err(|e| Fatal(e.to_string()))?;
            writeln!(out)?;
        }
        PlainFormat::Text => {
            writeln!(out, "since {}", humantime::format_rfc3339_seconds(since))?;
            writeln!(
                out,
                "{:<16} {:<28} {:>8} {:>8} {:>12} {:>12} {:>12} {:>10}",
                "TOKEN", "MODEL", "REQUESTS", "REFUSED", "INPUT", "OUTPUT", "COST", "WITHHELD"
            )?;
            for r in &rows {
                writeln!(
                    out,
                    "{:<16} {:<28} {:>8} {:>8} {:>12} {:>12} {:>12} {:>10}",
                    r.token,
                    r.model,
                    r.requests,
                    r.over_budget + r.blocked,
                    r.input_tokens,
                    r.output_tokens,
                    r.cost.map_or("-".to_string(), |c| format!("{c:.4}")),
                    format!("{}/{}", r.tool_calls_withheld, r.tool_calls),
                )?;
            }
            if rows.is_empty() {
                writeln!(out, "(no gateway exchanges in the audit log since then)")?;
            }
        }
    }
    Ok(0)
}
