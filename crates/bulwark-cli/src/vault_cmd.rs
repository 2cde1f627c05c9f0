//! `bulwark vault ...`: the credential vault from the command line.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use bulwark_core::SecurityConfig;
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::vault::{Argon2Params, KekSpec, KeyBytes, KeyProvider, Passphrase, VaultFile};
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
    /// Create the vault. Its key goes to the OS keychain when one is reachable and no passphrase
    /// is set; else a passphrase ($BULWARK_VAULT_PASSPHRASE or typed) protects it; or a key file.
    Init {
        /// Protect it with a 0600 key file instead (created with a random key if missing).
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
        /// Do not try the OS keychain.
        #[arg(long)]
        no_keychain: bool,
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
    /// Re-wrap the data key: a new passphrase ($BULWARK_VAULT_NEW_PASSPHRASE), key file, or
    /// OS keychain key.
    RotateKey {
        /// Switch to (or rotate) a key file instead of a passphrase.
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
        /// Switch to (or rotate) a random key kept in the OS keychain.
        #[arg(long, conflicts_with = "key_file")]
        keychain: bool,
    },
    /// A new data key: every entry re-encrypted.
    RotateDataKey,
    /// Move a PicoClaw installation's credentials into the vault: those in `.security.yml`
    /// (plaintext, `file://` and `enc://` values) and the plaintext ones in config.json, which
    /// are replaced there by references PicoClaw reads (config.json is backed up first).
    ImportPicoclaw {
        /// PicoClaw's config directory (where config.json and .security.yml are). (`--config`
        /// stays Bulwark's own configuration file.)
        #[arg(long = "picoclaw-config", value_name = "DIR")]
        picoclaw_dir: PathBuf,
        /// Vault names are PREFIX + the key path.
        #[arg(long, default_value = "picoclaw/")]
        prefix: String,
        /// What replaces a credential in config.json: `enc` (PicoClaw's own encryption, with
        /// PICOCLAW_KEY_PASSPHRASE and its SSH key, as PicoClaw runs) or `file` (a file of mode
        /// 0600 under DIR/bulwark-secrets/, read through `file://`).
        #[arg(long, value_enum, default_value_t = crate::picoclaw_cmd::Reference::Enc)]
        reference: crate::picoclaw_cmd::Reference,
        /// Say what would be imported and replaced, and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
        format: PlainFormat,
    },
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

/// The passphrase typed on the terminal during this command, with the key specification (salt
/// and parameters) it was typed for: a command that opens the vault twice (its own work, then the
/// audit keys for its record) asks once. Another specification (after `rotate-key`) asks again.
static TYPED: std::sync::Mutex<Option<(KekSpec, SecretString)>> = std::sync::Mutex::new(None);

/// The key provider a vault file asks for: its key file, or the passphrase from the
/// environment or, on a terminal, a hidden prompt.
pub fn provider_for(spec: &KekSpec) -> Result<Box<dyn KeyProvider>, Fatal> {
    if matches!(spec, KekSpec::Passphrase { .. })
        && env_lookup(PASSPHRASE_ENV).is_none_or(|p| p.is_empty())
    {
        let mut typed = TYPED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((for_spec, pass)) = typed.as_ref()
            && for_spec == spec
        {
            return Ok(Box::new(Passphrase(pass.clone())));
        }
        let pass = passphrase(PASSPHRASE_ENV, false)?;
        *typed = Some((spec.clone(), pass.clone()));
        return Ok(Box::new(Passphrase(pass)));
    }
    bulwark_store::vault_file::provider_for(spec, &env_lookup).map_err(vault_err)
}

/// The key provider of the vault in `store`, asked for before its lock is taken (a prompt must
/// not hold other writers up).
pub(crate) fn provider_of(store: &VaultStore) -> Result<Box<dyn KeyProvider>, Fatal> {
    let f = store
        .load()
        .map_err(vault_err)?
        .ok_or_else(|| no_vault(&store.path().display().to_string()))?;
    provider_for(&f.kek)
}

/// The passphrase from `var`, else typed on the terminal (hidden; twice when `confirm`).
fn passphrase(var: &str, confirm: bool) -> Result<SecretString, Fatal> {
    if let Some(p) = env_lookup(var).filter(|p| !p.is_empty()) {
        return Ok(SecretString::from(p));
    }
    let no_tty = || {
        Fatal(format!(
            "set {var} to the vault passphrase, or run on a terminal to type it (an unattended host can keep the key in the OS keychain or in a key file: `bulwark vault init --key-file`)"
        ))
    };
    if !std::io::stderr().is_terminal() {
        return Err(no_tty());
    }
    let what = if var == NEW_PASSPHRASE_ENV {
        "New vault passphrase: "
    } else {
        "Vault passphrase: "
    };
    let first = zeroize::Zeroizing::new(rpassword::prompt_password(what).map_err(|_| no_tty())?);
    if first.is_empty() {
        return Err(Fatal("the passphrase is empty".into()));
    }
    if confirm {
        let again =
            zeroize::Zeroizing::new(rpassword::prompt_password("Again: ").map_err(|_| no_tty())?);
        if *again != *first {
            return Err(Fatal(
                "the two passphrases differ: nothing was changed".into(),
            ));
        }
    }
    Ok(SecretString::from(first.to_string()))
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

/// A new key-encryption key (`init`, `rotate-key`): a key file when one is named, else a
/// passphrase from `var` or typed twice, stretched with the configured Argon2id parameters.
fn new_kek(
    cfg: &SecurityConfig,
    key_file_path: Option<&Path>,
    var: &str,
) -> Result<(KekSpec, Box<dyn KeyProvider>), Fatal> {
    Ok(match key_file_path {
        Some(p) => {
            let (spec, key) = key_file(p)?;
            (spec, Box::new(key))
        }
        None => (
            KekSpec::new_passphrase(argon2(cfg)).map_err(vault_err)?,
            Box::new(Passphrase(passphrase(var, true)?)),
        ),
    })
}

/// A new random key-encryption key kept in the OS keychain, under a new account name.
fn keychain_kek() -> Result<(KekSpec, Box<dyn KeyProvider>), String> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(|e| format!("no random source: {e}"))?;
    let account = format!("vault-{}", hex::encode(id));
    let key = bulwark_store::keychain::create("bulwark", &account)?;
    eprintln!(
        "the vault key is kept in the OS keychain (service \"bulwark\", account {account:?})"
    );
    let spec = KekSpec::Keychain {
        service: "bulwark".into(),
        account,
    };
    Ok((spec, Box::new(key)))
}

fn argon2(cfg: &SecurityConfig) -> Argon2Params {
    Argon2Params {
        m_kib: cfg.vault.argon2_memory_kib,
        t: cfg.vault.argon2_iterations,
        p: cfg.vault.argon2_parallelism,
    }
}

pub(crate) fn now() -> String {
    bulwark_core::audit::now_rfc3339()
}

/// Record a vault operation (names only, never values) when the audit log is on.
pub(crate) fn audit(
    cfg: &SecurityConfig,
    home: &Path,
    action: &str,
    resource: &str,
    outcome: &str,
) -> Result<(), Fatal> {
    if !cfg.audit.enabled {
        return Ok(());
    }
    let (log, _) = crate::open_audit(cfg, home)?;
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

/// `bulwark audit rotate-key` with `[audit] hmac_keys = "vault:NAME"`: a new HMAC key is appended
/// to that entry (the older keys stay, to verify older records). Returns the old and new key ids.
pub fn append_audit_key(
    cfg: &SecurityConfig,
    home: &Path,
    name: &str,
) -> Result<(String, String), Fatal> {
    use bulwark_core::audit::AuditKey;
    use secrecy::ExposeSecret;
    let store = VaultStore::new(cfg.vault.file(home));
    let provider = provider_of(&store)?;
    let new = AuditKey::generate().map_err(vault_err)?;
    let old = store
        .update(|f| {
            let u = f.unlock(provider.as_ref())?;
            let current = u.get(f, name)?;
            let mut text = zeroize::Zeroizing::new(String::new());
            let mut old = None;
            for (i, line) in current.expose_secret().lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let key = AuditKey::from_hex(line).map_err(|e| {
                    bulwark_core::vault::VaultError::Invalid(format!(
                        "vault:{name}:{}: {e}; nothing was changed",
                        i + 1
                    ))
                })?;
                old = Some(key.id().to_string());
                text.push_str(line.trim());
                text.push('\n');
            }
            text.push_str(new.to_hex().as_str());
            u.set(f, name, &SecretString::from(text.to_string()), &now())?;
            Ok(old.unwrap_or_default())
        })
        .map_err(vault_err)?;
    audit(cfg, home, "vault.set", name, "ok")?;
    Ok((old, new.id().to_string()))
}

pub(crate) fn vault_err(e: impl std::fmt::Display) -> Fatal {
    Fatal(e.to_string())
}

pub fn run(cmd: VaultCommand, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    let home = home_dir()?;
    let store = VaultStore::new(cfg.vault.file(&home));
    let path = store.path().display().to_string();
    match cmd {
        VaultCommand::Init {
            key_file: kf,
            no_keychain,
        } => {
            if store.load().map_err(vault_err)?.is_some() {
                return Err(Fatal(format!(
                    "a vault already exists at {path}: nothing was changed"
                )));
            }
            let passphrase_set = env_lookup(PASSPHRASE_ENV).is_some_and(|p| !p.is_empty());
            let keychain = if kf.is_none() && !no_keychain && !passphrase_set {
                match keychain_kek() {
                    Ok(k) => Some(k),
                    Err(e) => {
                        eprintln!(
                            "{e}: falling back to a passphrase ({PASSPHRASE_ENV}, or typed on a terminal)"
                        );
                        None
                    }
                }
            } else {
                None
            };
            let (spec, provider) = match keychain {
                Some(k) => k,
                None => new_kek(&cfg, kf.as_deref(), PASSPHRASE_ENV)?,
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
            // The value: typed at a hidden prompt on a terminal, else read from standard input.
            let value = if std::io::stdin().is_terminal() {
                zeroize::Zeroizing::new(
                    rpassword::prompt_password(format!("Value for {name}: "))
                        .map_err(|e| Fatal(format!("cannot read the value: {e}")))?,
                )
            } else {
                let mut v = zeroize::Zeroizing::new(String::new());
                std::io::stdin()
                    .take(bulwark_core::vault::MAX_VALUE as u64 + 2)
                    .read_to_string(&mut v)
                    .map_err(|e| {
                        Fatal(format!("cannot read the value from standard input: {e}"))
                    })?;
                v
            };
            let trimmed = value.strip_suffix('\n').unwrap_or(&value);
            let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
            if trimmed.is_empty() {
                return Err(Fatal("the value is empty: nothing was stored".into()));
            }
            let secret = SecretString::from(trimmed.to_string());
            let provider = provider_of(&store)?;
            let version = store
                .update(|f| {
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
            let provider = provider_of(&store)?;
            store
                .update(|f| {
                    let u = f.unlock(provider.as_ref())?;
                    u.remove(f, &name)
                })
                .map_err(vault_err)?;
            audit(&cfg, &home, "vault.remove", &name, "ok")?;
            eprintln!("removed {name:?}");
            Ok(0)
        }
        VaultCommand::RotateKey {
            key_file: kf,
            keychain,
        } => {
            // The current key is asked for first: a wrong passphrase leaves no keychain item.
            let provider = provider_of(&store)?;
            let (spec, next) = if keychain {
                keychain_kek().map_err(Fatal)?
            } else {
                new_kek(&cfg, kf.as_deref(), NEW_PASSPHRASE_ENV)?
            };
            let new_item = match &spec {
                KekSpec::Keychain { service, account } => Some((service.clone(), account.clone())),
                _ => None,
            };
            let rotated = store.update(|f| {
                let old = f.kek.clone();
                let u = f.unlock(provider.as_ref())?;
                u.rotate_kek(f, spec, next.as_ref())?;
                Ok(old)
            });
            let old = match rotated {
                Ok(old) => old,
                Err(e) => {
                    // The vault still uses its old key: the new keychain item would be an orphan.
                    if let Some((service, account)) = &new_item {
                        let _ = bulwark_store::keychain::delete(service, account);
                    }
                    return Err(vault_err(e));
                }
            };
            audit(&cfg, &home, "vault.rotate_key", &path, "ok")?;
            eprintln!("the data key is wrapped under the new key; entries are unchanged");
            if let KekSpec::Keychain { service, account } = &old
                && let Err(e) = bulwark_store::keychain::delete(service, account)
            {
                eprintln!(
                    "the old key stays in the OS keychain ({service}/{account}): {e}; remove it with your keychain's tools"
                );
            }
            Ok(0)
        }
        VaultCommand::RotateDataKey => {
            let provider = provider_of(&store)?;
            let n = store
                .update(|f| {
                    let u = f.unlock(provider.as_ref())?;
                    u.rotate_dek(f, provider.as_ref())?;
                    Ok(f.entries.len())
                })
                .map_err(vault_err)?;
            audit(&cfg, &home, "vault.rotate_data_key", &path, "ok")?;
            eprintln!("a new data key; {n} entries re-encrypted");
            Ok(0)
        }
        VaultCommand::ImportPicoclaw {
            picoclaw_dir,
            prefix,
            reference,
            dry_run,
            format,
        } => crate::picoclaw_cmd::import(
            &cfg,
            &home,
            &store,
            &crate::picoclaw_cmd::Import {
                dir: picoclaw_dir,
                prefix,
                reference,
                dry_run,
                format,
            },
        ),
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

/// A key path as a vault name: `providers[0].api_key` -> `providers.0.api_key`.
pub(crate) fn vault_name(prefix: &str, key: &str) -> String {
    let mut out = String::from(prefix);
    for c in key.chars() {
        match c {
            '[' => out.push('.'),
            ']' => {}
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') => out.push(c),
            _ => out.push('_'),
        }
    }
    out
}
