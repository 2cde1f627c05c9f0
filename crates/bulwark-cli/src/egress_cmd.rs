//! `bulwark egress check|proxy|client-token`: the egress guard from the command line.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use bulwark_core::egress::{EgressGuard, StaticResolver};
use clap::Subcommand;
use secrecy::ExposeSecret;

use crate::{Fatal, PlainFormat, load_config};

#[derive(Subcommand, Debug)]
pub enum EgressCommand {
    /// Decide whether an agent may fetch a URL (exit 0 allowed, 1 denied, 2 usage error).
    Check {
        /// The URL, as the agent would request it.
        url: String,
        /// Static answers instead of DNS, like curl's: HOST:PORT:ADDR[,ADDR...] (PORT may be `*`).
        /// With any --resolve, no DNS is used at all.
        #[arg(long, value_name = "HOST:PORT:ADDR[,ADDR...]")]
        resolve: Vec<String>,
        /// The egress profile to judge by (default: the top-level [egress] lists).
        #[arg(long, value_name = "NAME")]
        profile: Option<String>,
        /// `json` prints {"decision", "reason", "message", "url", "host", "port", "addresses", "profile"}.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Run the egress proxy: HTTP forward proxy and CONNECT tunnels that enforce the guard.
    Proxy {
        /// Address to listen on (default: [egress.proxy] listen, 127.0.0.1:3128).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<SocketAddr>,
    },
    /// Make a proxy client token: prints the token once and the configuration lines that hold its
    /// hash.
    ClientToken {
        /// The client's name (its Proxy-Authorization user name).
        #[arg(long)]
        name: String,
        /// The egress profile the client gets.
        #[arg(long, default_value = "default")]
        profile: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
}

use bulwark_server::SystemResolver;

pub fn run(cmd: EgressCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    match cmd {
        EgressCommand::Check {
            url,
            resolve,
            profile,
            format,
        } => check(&url, &resolve, profile.as_deref(), format, explicit),
        EgressCommand::Proxy { listen } => {
            let (cfg, source) = load_config(explicit)?;
            let again = explicit.map(Path::to_path_buf);
            let reload: bulwark_server::api::Reloader = std::sync::Arc::new(move || {
                load_config(again.as_deref())
                    .map(|(cfg, _)| cfg)
                    .map_err(|e| e.0)
            });
            bulwark_server::proxy::run_blocking(&cfg, listen, &source.to_string(), reload)
                .map_err(|e| Fatal(e.to_string()))?;
            Ok(0)
        }
        EgressCommand::ClientToken {
            name,
            profile,
            format,
        } => client_token(&name, &profile, format, explicit),
    }
}

fn compile(explicit: Option<&Path>) -> Result<EgressGuard, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    EgressGuard::from_config(&cfg.egress).map_err(|e| Fatal(e.to_string()))
}

fn check(
    url: &str,
    resolve: &[String],
    profile: Option<&str>,
    format: PlainFormat,
    explicit: Option<&Path>,
) -> Result<u8, Fatal> {
    let guard = compile(explicit)?;
    let policy = guard.policy(profile).ok_or_else(|| {
        Fatal(format!(
            "--profile {:?}: no such egress profile (profiles: {})",
            profile.unwrap_or_default(),
            guard.profile_names().join(", ")
        ))
    })?;
    let decision = if resolve.is_empty() {
        policy.check_url(url, &SystemResolver)
    } else {
        let mut r = StaticResolver::new();
        for entry in resolve {
            r.add_entry(entry).map_err(Fatal)?;
        }
        policy.check_url(url, &r)
    };
    let mut out = std::io::stdout().lock();
    match format {
        PlainFormat::Json => writeln!(out, "{}", serde_json::to_string(&decision)?)?,
        PlainFormat::Text => {
            let target = decision.url().unwrap_or(url);
            let addrs = decision
                .addresses()
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            if decision.is_allowed() {
                writeln!(out, "allow {target} -> {addrs}")?;
            } else {
                writeln!(out, "deny {target}")?;
            }
            writeln!(
                out,
                "  {}: {} (profile {})",
                decision.reason().as_str(),
                decision.message(),
                decision.profile()
            )?;
        }
    }
    Ok(if decision.is_allowed() { 0 } else { 1 })
}

fn client_token(
    name: &str,
    profile: &str,
    format: PlainFormat,
    explicit: Option<&Path>,
) -> Result<u8, Fatal> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Fatal(format!(
            "--name {name:?}: expected letters, digits, `-` and `_` (it is the Proxy-Authorization user name)"
        )));
    }
    let guard = compile(explicit)?;
    if guard.policy(Some(profile)).is_none() {
        return Err(Fatal(format!(
            "--profile {profile:?}: no such egress profile (profiles: {})",
            guard.profile_names().join(", ")
        )));
    }
    let (token, hash) = bulwark_core::egress::clients::new_client_token()
        .map_err(|e| Fatal(format!("no random source: {e}")))?;
    let token = token.expose_secret();
    let mut out = std::io::stdout().lock();
    match format {
        PlainFormat::Json => writeln!(
            out,
            "{}",
            serde_json::json!({
                "name": name,
                "profile": profile,
                "token": token,
                "token_sha256": hash,
            })
        )?,
        PlainFormat::Text => {
            writeln!(
                out,
                "# token for {name} (shown once, not stored): {}",
                token
            )?;
            writeln!(
                out,
                "# the client uses: http://{name}:<token>@<proxy address> (e.g. curl -x)"
            )?;
            writeln!(out, "[egress.proxy.clients.{name}]")?;
            writeln!(out, "profile = \"{profile}\"")?;
            writeln!(out, "token_sha256 = \"{hash}\"")?;
        }
    }
    Ok(0)
}
