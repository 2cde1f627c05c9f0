//! `bulwark vault ...`: the credential vault from the command line.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use bulwark_core::SecurityConfig;
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::vault::{
    Argon2Params, KekSpec, KeyBytes, KeyProvider, Passphrase, VaultError, VaultFile,
};
use bulwark_store::vault_file::VaultStore;
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};

use crate::{Fatal, PlainFormat, env_lookup, home_dir, load_config};

use bulwark_store::vault_file::PASSPHRASE_ENV;
/// The new passphrase's environment variable (`rotate-key`).
const NEW_PASSPHRASE_ENV: &str = "BULWARK_VAULT_NEW_PASSPHRASE";

#[derive(Subcommand, Debug)]
pub enum VaultCommand {
    /// Create the vault, protected by a passphrase ($BULWARK_VAULT_PASSPHRASE) or a key file.
    Init {
        /// Protect it with a 0600 key file instead (created with a random key if missing).
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
    /// Store a secret: the value comes from standard input (never from an argument).
    Set {
        /// The entry name (letters, digits, `-`, `_`, `.`, `/`).
        name: String,
    },
    /// Print a secret to standard output.
    Get {
        /// The entry name.
        name: String,
    },
    /// Names and metadata only, never values.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
    /// Remove an entry.
    Rm {
        /// The entry name.
        name: String,
    },
    /// Re-wrap the data key: a new passphrase ($BULWARK_VAULT_NEW_PASSPHRASE) or key file.
    RotateKey {
        /// Switch to (or rotate) a key file instead of a passphrase.
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
    /// A new data key: every entry re-encrypted.
    RotateDataKey,
    /// Run COMMAND with secrets in its environment; nothing is printed.
    Run {
        /// VAR=NAME: put entry NAME in environment variable VAR (repeatable).
        #[arg(long = "env", value_name = "VAR=NAME", required = true)]
        env: Vec<String>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// The key provider a vault file asks for.
fn provider_for(spec: &KekSpec) -> Result<Box<dyn KeyProvider>, Fatal> {
    bulwark_store::vault_file::provider_for(spec, &env_lookup).map_err(vault_err)
}

fn passphrase(var: &str) -> Result<SecretString, Fatal> {
    match env_lookup(var) {
        Some(p) if !p.is_empty() => Ok(SecretString::from(p)),
        _ => Err(Fatal(format!(
            "set {var} to the vault passphrase (no OS keychain support and no hidden prompt are built in yet; use --key-file for an unattended host)"
        ))),
    }
}

fn read_key_file(path: &Path) -> Result<KeyBytes, Fatal> {
    bulwark_store::vault_file::read_key_file(path).map_err(vault_err)
}

/// A key file at `path`: read it, or create it with a random key.
fn key_file(path: &Path) -> Result<(KekSpec, KeyBytes), Fatal> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let key = if abs.exists() {
        read_key_file(&abs)?
    } else {
        let (key, hexed) = KeyBytes::generate()?;
        bulwark_store::fs::write_private_atomic(&abs, hexed.as_bytes())
            .map_err(|e| Fatal(format!("cannot write the key file {}: {e}", abs.display())))?;
        eprintln!(
            "created the key file {} (0600): back it up; without it the vault cannot be opened",
            abs.display()
        );
        key
    };
    Ok((
        KekSpec::KeyFile {
            path: abs.display().to_string(),
        },
        key,
    ))
}

fn argon2(cfg: &SecurityConfig) -> Argon2Params {
    Argon2Params {
        m_kib: cfg.vault.argon2_memory_kib,
        t: cfg.vault.argon2_iterations,
        p: cfg.vault.argon2_parallelism,
    }
}

fn now() -> String {
    bulwark_core::audit::now_rfc3339()
}

/// Record a vault operation (names only, never values) when the audit log is on.
fn audit(
    cfg: &SecurityConfig,
    home: &Path,
    action: &str,
    resource: &str,
    outcome: &str,
) -> Result<(), Fatal> {
    if !cfg.audit.enabled {
        return Ok(());
    }
    let (log, _) = bulwark_store::audit_file::open_configured(cfg, home, &env_lookup)?;
    log.append(AuditEvent {
        event_type: EventType::Vault,
        actor: env_lookup("USER").unwrap_or_else(|| "operator".into()),
        action: action.into(),
        resource: resource.into(),
        outcome: outcome.into(),
        details: serde_json::Value::Null,
    })
    .map_err(|e| Fatal(format!("the vault operation could not be recorded: {e}")))?;
    Ok(())
}

fn vault_err(e: impl std::fmt::Display) -> Fatal {
    Fatal(e.to_string())
}

pub fn run(cmd: VaultCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    let home = home_dir()?;
    let store = VaultStore::new(cfg.vault.file(&home));
    let path = store.path().display().to_string();
    match cmd {
        VaultCommand::Init { key_file: kf } => {
            if store.load().map_err(vault_err)?.is_some() {
                return Err(Fatal(format!(
                    "a vault already exists at {path}: nothing was changed"
                )));
            }
            let (spec, provider): (KekSpec, Box<dyn KeyProvider>) = match kf {
                Some(p) => {
                    let (spec, key) = key_file(&p)?;
                    (spec, Box::new(key))
                }
                None => (
                    KekSpec::new_passphrase(argon2(&cfg)).map_err(vault_err)?,
                    Box::new(Passphrase(passphrase(PASSPHRASE_ENV)?)),
                ),
            };
            let (file, _) =
                VaultFile::create(cfg.vault.cipher, spec, provider.as_ref()).map_err(vault_err)?;
            store.create(&file).map_err(vault_err)?;
            audit(&cfg, &home, "vault.init", &path, "ok")?;
            println!(
                "created the vault {path} ({:?}, vault id {})",
                file.cipher, file.vault_id
            );
            Ok(0)
        }
        VaultCommand::Set { name } => {
            if std::io::stdin().is_terminal() {
                return Err(Fatal(format!(
                    "pipe the value on standard input, e.g. `printf %s \"$VALUE\" | bulwark vault set {name}` (a hidden prompt is not built in yet)"
                )));
            }
            let mut value = zeroize::Zeroizing::new(String::new());
            std::io::stdin()
                .take(bulwark_core::vault::MAX_VALUE as u64 + 2)
                .read_to_string(&mut value)
                .map_err(|e| Fatal(format!("cannot read the value from standard input: {e}")))?;
            let trimmed = value.strip_suffix('\n').unwrap_or(&value);
            let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
            if trimmed.is_empty() {
                return Err(Fatal(
                    "the value on standard input is empty: nothing was stored".into(),
                ));
            }
            let secret = SecretString::from(trimmed.to_string());
            let version = store
                .update(|f| {
                    let provider = provider_for(&f.kek).map_err(|e| VaultError::Invalid(e.0))?;
                    let u = f.unlock(provider.as_ref())?;
                    u.set(f, &name, &secret, &now())
                })
                .map_err(vault_err)?;
            audit(&cfg, &home, "vault.set", &name, "ok")?;
            eprintln!("stored {name:?} (version {version})");
            Ok(0)
        }
        VaultCommand::Get { name } => {
            let f = store
                .load()
                .map_err(vault_err)?
                .ok_or_else(|| no_vault(&path))?;
            let provider = provider_for(&f.kek)?;
            let u = f.unlock(provider.as_ref()).map_err(vault_err)?;
            let v = u.get(&f, &name).map_err(vault_err)?;
            audit(&cfg, &home, "vault.get", &name, "ok")?;
            let mut out = std::io::stdout().lock();
            out.write_all(v.expose_secret().as_bytes())?;
            if out.is_terminal() {
                writeln!(out)?;
            }
            Ok(0)
        }
        VaultCommand::List { format } => {
            let f = store
                .load()
                .map_err(vault_err)?
                .ok_or_else(|| no_vault(&path))?;
            let mut out = std::io::stdout().lock();
            match format {
                PlainFormat::Json => {
                    let v: Vec<_> = f
                        .entries
                        .iter()
                        .map(|(n, e)| serde_json::json!({"name": n, "version": e.version, "created": e.created, "updated": e.updated}))
                        .collect();
                    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                }
                PlainFormat::Text => {
                    if f.entries.is_empty() {
                        writeln!(
                            out,
                            "no entries: `printf %s VALUE | bulwark vault set NAME`"
                        )?;
                    }
                    for (n, e) in &f.entries {
                        writeln!(out, "{n}  version {}  updated {}", e.version, e.updated)?;
                    }
                }
            }
            Ok(0)
        }
        VaultCommand::Rm { name } => {
            store
                .update(|f| {
                    let provider = provider_for(&f.kek).map_err(|e| VaultError::Invalid(e.0))?;
                    let u = f.unlock(provider.as_ref())?;
                    u.remove(f, &name)
                })
                .map_err(vault_err)?;
            audit(&cfg, &home, "vault.remove", &name, "ok")?;
            eprintln!("removed {name:?}");
            Ok(0)
        }
        VaultCommand::RotateKey { key_file: kf } => {
            let (spec, next): (KekSpec, Box<dyn KeyProvider>) = match kf {
                Some(p) => {
                    let (spec, key) = key_file(&p)?;
                    (spec, Box::new(key))
                }
                None => (
                    KekSpec::new_passphrase(argon2(&cfg)).map_err(vault_err)?,
                    Box::new(Passphrase(passphrase(NEW_PASSPHRASE_ENV)?)),
                ),
            };
            store
                .update(|f| {
                    let provider = provider_for(&f.kek).map_err(|e| VaultError::Invalid(e.0))?;
                    let u = f.unlock(provider.as_ref())?;
                    u.rotate_kek(f, spec, next.as_ref())
                })
                .map_err(vault_err)?;
            audit(&cfg, &home, "vault.rotate_key", &path, "ok")?;
            eprintln!("the data key is wrapped under the new key; entries are unchanged");
            Ok(0)
        }
        VaultCommand::RotateDataKey => {
            let n = store
                .update(|f| {
                    let provider = provider_for(&f.kek).map_err(|e| VaultError::Invalid(e.0))?;
                    let u = f.unlock(provider.as_ref())?;
                    u.rotate_dek(f, provider.as_ref())?;
                    Ok(f.entries.len())
                })
                .map_err(vault_err)?;
            audit(&cfg, &home, "vault.rotate_data_key", &path, "ok")?;
            eprintln!("a new data key; {n} entries re-encrypted");
            Ok(0)
        }
        VaultCommand::Run { env, command } => {
            let f = store
                .load()
                .map_err(vault_err)?
                .ok_or_else(|| no_vault(&path))?;
            let provider = provider_for(&f.kek)?;
            let u = f.unlock(provider.as_ref()).map_err(vault_err)?;
            let mut child = std::process::Command::new(&command[0]);
            child.args(&command[1..]);
            let mut names = Vec::new();
            for pair in &env {
                let (var, name) = pair
                    .split_once('=')
                    .filter(|(v, n)| !v.is_empty() && !n.is_empty())
                    .ok_or_else(|| Fatal(format!("--env {pair:?}: expected VAR=NAME")))?;
                let v = u.get(&f, name).map_err(vault_err)?;
                child.env(var, v.expose_secret());
                names.push(name.to_string());
            }
            audit(&cfg, &home, "vault.run", &names.join(","), "ok")?;
            let status = child
                .status()
                .map_err(|e| Fatal(format!("cannot start {:?}: {e}", command[0])))?;
            Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
        }
    }
}

fn no_vault(path: &str) -> Fatal {
    Fatal(format!(
        "no vault at {path}: create one with `bulwark vault init`"
    ))
}
