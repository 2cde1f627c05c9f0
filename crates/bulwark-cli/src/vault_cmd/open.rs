//! Opening the vault from the command line: the key provider a vault file asks for (its key file,
//! the OS keychain, or the passphrase from the environment or a hidden prompt), new
//! key-encryption keys, vault names, and the audit records of vault operations. Shared by the
//! `vault` subcommands and the PicoClaw import (`picoclaw`).

use std::io::IsTerminal;
use std::path::Path;

use bulwark_core::SecurityConfig;
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::vault::{Argon2Params, KekSpec, KeyBytes, KeyProvider, Passphrase};
use bulwark_store::vault_file::{PASSPHRASE_ENV, VaultStore};
use secrecy::SecretString;

use crate::{Fatal, env_lookup};

/// The new passphrase's environment variable (`rotate-key`).
pub(crate) const NEW_PASSPHRASE_ENV: &str = "BULWARK_VAULT_NEW_PASSPHRASE";

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
    provider_for(&load(store)?.kek)
}

/// The vault file in `store`, or an error saying how to create one.
pub(super) fn load(store: &VaultStore) -> Result<bulwark_core::vault::VaultFile, Fatal> {
    store
        .load()
        .map_err(vault_err)?
        .ok_or_else(|| no_vault(&store.path().display().to_string()))
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
pub(super) fn new_kek(
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
pub(super) fn keychain_kek() -> Result<(KekSpec, Box<dyn KeyProvider>), String> {
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
