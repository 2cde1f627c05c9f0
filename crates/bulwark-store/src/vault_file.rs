//! The vault on disk: one JSON file (`bulwark-vault/1`, see docs/vault.md), 0600, replaced
//! atomically (temporary file, fsync, rename, fsync of the directory) under an exclusive lock, so
//! concurrent writers serialize and a crash leaves the old vault or the new one, never half.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bulwark_core::vault::{KekSpec, KeyBytes, KeyProvider, Passphrase, VaultError, VaultFile};
use secrecy::SecretString;

use crate::StoreError;

/// How long a writer waits for another process's lock on the vault.
const VAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The vault file at a path.
#[derive(Debug, Clone)]
pub struct VaultStore {
    path: PathBuf,
}

/// A store or vault failure.
#[derive(Debug, thiserror::Error)]
pub enum VaultStoreError {
    /// The file could not be read, written or locked.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The vault refused.
    #[error("{0}")]
    Vault(#[from] VaultError),
}

impl VaultStore {
    /// The vault at `path` (nothing is read yet).
    pub fn new(path: PathBuf) -> VaultStore {
        VaultStore { path }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> Result<std::fs::File, StoreError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fs::create_private_dir(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        let mut lock = self.path.as_os_str().to_owned();
        lock.push(".lock");
        crate::fs::lock_writer(&self.path, Path::new(&lock), VAULT_LOCK_WAIT)
    }

    /// Read the vault; `None` when there is none yet.
    pub fn load(&self) -> Result<Option<VaultFile>, VaultStoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&self.path, e).into()),
        };
        crate::fs::check_private(&self.path).map_err(|e| StoreError::io(&self.path, e))?;
        Ok(Some(VaultFile::from_json(&bytes)?))
    }

    fn write(&self, f: &VaultFile) -> Result<(), VaultStoreError> {
        let json = serde_json::to_vec_pretty(f)
            .map_err(|e| StoreError::io(&self.path, std::io::Error::other(e.to_string())))?;
        crate::fs::write_private_atomic(&self.path, &json)
            .map_err(|e| StoreError::io(&self.path, e))?;
        Ok(())
    }

    /// Write a new vault; refused if one exists.
    pub fn create(&self, f: &VaultFile) -> Result<(), VaultStoreError> {
        let _lock = self.lock()?;
        if self.path.exists() {
            return Err(VaultError::Invalid(format!(
                "a vault already exists at {}: nothing was changed",
                self.path.display()
            ))
            .into());
        }
        self.write(f)
    }

    /// Read, change and write back under the lock: `change` sees the current file; when it fails,
    /// nothing is written.
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut VaultFile) -> Result<T, VaultError>,
    ) -> Result<T, VaultStoreError> {
        let _lock = self.lock()?;
        let mut f = self.load()?.ok_or_else(|| {
            VaultError::Invalid(format!(
                "no vault at {}: create one with `bulwark vault init`",
                self.path.display()
            ))
        })?;
        let out = change(&mut f)?;
        self.write(&f)?;
        Ok(out)
    }
}

/// The passphrase's environment variable.
pub const PASSPHRASE_ENV: &str = "BULWARK_VAULT_PASSPHRASE";

/// The key provider a vault asks for: the passphrase from `$BULWARK_VAULT_PASSPHRASE`, or its
/// key file (which must be 0600).
pub fn provider_for(
    spec: &KekSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Box<dyn KeyProvider>, VaultError> {
    match spec {
        KekSpec::Passphrase { .. } => match env(PASSPHRASE_ENV) {
            Some(p) if !p.is_empty() => Ok(Box::new(Passphrase(SecretString::from(p)))),
            _ => Err(VaultError::Invalid(format!(
                "set {PASSPHRASE_ENV} to the vault passphrase (no OS keychain support is built in; use a key file for an unattended host)"
            ))),
        },
        KekSpec::KeyFile { path } => {
            read_key_file(Path::new(path)).map(|k| Box::new(k) as Box<dyn KeyProvider>)
        }
        KekSpec::Keychain { service, account } => crate::keychain::load(service, account)
            .map(|k| Box::new(k) as Box<dyn KeyProvider>)
            .map_err(VaultError::Invalid),
    }
}

/// A key file's key; refused when other users can read the file.
pub fn read_key_file(path: &Path) -> Result<KeyBytes, VaultError> {
    crate::fs::check_private(path).map_err(|e| VaultError::Invalid(format!("key file: {e}")))?;
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        VaultError::Invalid(format!("cannot read the key file {}: {e}", path.display()))
    })?);
    KeyBytes::from_hex(&text).map_err(|e| VaultError::Invalid(format!("{}: {e}", path.display())))
}

/// Resolve a `vault:NAME` reference from configuration: open the vault and decrypt `NAME`.
/// Values without the `vault:` prefix are returned as they are.
pub fn resolve(
    value: &str,
    store: &VaultStore,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<SecretString, VaultStoreError> {
    let Some(name) = value.strip_prefix("vault:") else {
        return Ok(SecretString::from(value.to_string()));
    };
    let f = store.load()?.ok_or_else(|| {
        VaultError::Invalid(format!(
            "{value}: there is no vault at {} (`bulwark vault init`)",
            store.path().display()
        ))
    })?;
    let provider = provider_for(&f.kek, env)?;
    let u = f.unlock(provider.as_ref())?;
    Ok(u.get(&f, name)?)
}
