//! `bulwark vault ...`: the credential vault from the command line. `open` opens it (key
//! providers, new keys, audit records), `picoclaw` imports a PicoClaw installation's credentials.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use bulwark_core::vault::{KekSpec, VaultFile};
use bulwark_store::vault_file::VaultStore;
use clap::Subcommand;
use secrecy::{ExposeSecret, SecretString};

use crate::{Fatal, PlainFormat, env_lookup, home_dir, load_config};

mod open;
mod picoclaw;

use bulwark_store::vault_file::PASSPHRASE_ENV;
use open::{NEW_PASSPHRASE_ENV, audit, keychain_kek, new_kek, now, provider_of, vault_err};
pub use open::{append_audit_key, provider_for};

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
        #[arg(long, value_enum, default_value_t = picoclaw::Reference::Enc)]
        reference: picoclaw::Reference,
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
            let f = open::load(&store)?;
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
            let f = open::load(&store)?;
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
        } => picoclaw::import(
            &cfg,
            &home,
            &store,
            &picoclaw::Import {
                dir: picoclaw_dir,
                prefix,
                reference,
                dry_run,
                format,
            },
        ),
        VaultCommand::Run { env, command } => {
            let f = open::load(&store)?;
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
