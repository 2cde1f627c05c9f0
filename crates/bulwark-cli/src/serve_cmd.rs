//! `bulwark serve` (the sidecar HTTP API) and `bulwark token create|list|revoke` (its API tokens).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use bulwark_core::auth::{Scope, new_token};
use clap::{Args, Subcommand};
use secrecy::ExposeSecret;

use crate::{Fatal, PlainFormat, home_dir, load_config};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default: [server] listen, 127.0.0.1:8844).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token: printed once, stored only as a hash.
    Create {
        /// The principal the token authenticates (an agent's or an approver's name).
        #[arg(long)]
        name: String,
        /// What it may do, comma-separated: scan, egress, intents, approve, audit.
        #[arg(long, value_name = "LIST")]
        scope: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// List tokens (names, ids, scopes, dates; never the tokens).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Revoke the active token with this name or id (the server notices within 2 seconds).
    Revoke {
        /// Name or id.
        name: String,
    },
}

pub fn run_serve(args: ServeArgs, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, source) = load_config(explicit)?;
    let explicit = explicit.map(Path::to_path_buf);
    let reload: bulwark_server::api::Reloader = std::sync::Arc::new(move || {
        load_config(explicit.as_deref())
            .map(|(cfg, _)| cfg)
            .map_err(|Fatal(m)| m)
    });
    bulwark_server::api::run_blocking(cfg, args.listen, source.to_string(), reload)
        .map_err(|e| Fatal(e.to_string()))?;
    Ok(0)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn date(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

pub fn run_token(cmd: TokenCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    let db = crate::state_db(&cfg, &crate::secrets(&cfg)?, &home_dir()?)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        TokenCommand::Create {
            name,
            scope,
            format,
        } => {
            let scopes = Scope::parse_list(&scope).map_err(|e| Fatal(format!("--scope: {e}")))?;
            let (token, rec) =
                new_token(&name, scopes, now_ms()).map_err(|e| Fatal(format!("--name: {e}")))?;
            db.insert_token(&rec).map_err(|e| Fatal(e.to_string()))?;
            let scopes: Vec<&str> = rec.scopes.iter().map(|s| s.as_str()).collect();
            match format {
                PlainFormat::Json => writeln!(
                    out,
                    "{}",
                    serde_json::json!({"name": rec.name, "id": rec.id, "scopes": scopes, "token": token.expose_secret()})
                )?,
                PlainFormat::Text => {
                    writeln!(out, "{}", token.expose_secret())?;
                    eprintln!(
                        "token for {:?} (id {}, scopes {}): shown once, stored only as a hash. Send it as `Authorization: Bearer <token>`.",
                        rec.name,
                        rec.id,
                        scopes.join(",")
                    );
                }
            }
            Ok(0)
        }
        TokenCommand::List { format } => {
            let all = db.tokens().map_err(|e| Fatal(e.to_string()))?;
            match format {
                PlainFormat::Json => {
                    let v: Vec<_> = all
                        .iter()
                        .map(|t| {
                            serde_json::json!({"name": t.name, "id": t.id, "scopes": t.scopes,
                                "created_at": date(t.created_ms), "revoked_at": t.revoked_ms.map(date)})
                        })
                        .collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
                PlainFormat::Text => {
                    if all.is_empty() {
                        writeln!(
                            out,
                            "no tokens: `bulwark token create --name NAME --scope LIST`"
                        )?;
                    }
                    for t in &all {
                        let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                        writeln!(
                            out,
                            "{}  {:<20} {:<32} created {}{}",
                            t.id,
                            t.name,
                            scopes.join(","),
                            date(t.created_ms),
                            t.revoked_ms
                                .map(|r| format!("  REVOKED {}", date(r)))
                                .unwrap_or_default()
                        )?;
                    }
                }
            }
            Ok(0)
        }
        TokenCommand::Revoke { name } => {
            let n = db
                .revoke_token(&name, now_ms())
                .map_err(|e| Fatal(e.to_string()))?;
            if n == 0 {
                eprintln!("bulwark: no active token named or with id {name:?}");
                return Ok(1);
            }
            writeln!(out, "revoked {n} token(s) for {name:?}")?;
            Ok(0)
        }
    }
}
