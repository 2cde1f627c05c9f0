//! The vault on disk: one JSON file (`bulwark-vault/1`, see docs/vault.md), 0600, replaced
//! atomically (temporary file, fsync, rename, fsync of the directory) under an exclusive lock, so
//! concurrent writers serialize and a crash leaves the old vault or the new one, never half.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bulwark_core::vault::{VaultError, VaultFile};

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
