//! `[vault]`: the credential vault's settings.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;

/// How a setting refers to a vault entry: `vault:NAME`.
pub const VAULT_PREFIX: &str = "vault:";

/// `[vault]`: the credential vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    /// The vault file; empty means `$BULWARK_HOME/vault.json`.
    pub path: String,
    /// Cipher of a new vault: `xchacha20poly1305` or `aes256gcm`.
    pub cipher: crate::vault::Cipher,
    /// Argon2id memory (KiB) for a new passphrase.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations for a new passphrase.
    pub argon2_iterations: u32,
    /// Argon2id lanes for a new passphrase.
    pub argon2_parallelism: u32,
}

impl VaultConfig {
    /// The vault file under `home` unless `path` names one.
    pub fn file(&self, home: &Path) -> PathBuf {
        if self.path.is_empty() {
            home.join("vault.json")
        } else {
            PathBuf::from(&self.path)
        }
    }
}

impl Default for VaultConfig {
    fn default() -> Self {
        VaultConfig {
            path: String::new(),
            cipher: crate::vault::Cipher::Xchacha20poly1305,
            argon2_memory_kib: 65536,
            argon2_iterations: 3,
            argon2_parallelism: 1,
        }
    }
}

impl VaultConfig {
    /// Check the values serde cannot: the Argon2 cost ranges.
    pub fn check(&self, p: &mut Problems) {
        let lanes = u64::from(self.argon2_parallelism.max(1));
        p.range(
            "vault.argon2_memory_kib",
            u64::from(self.argon2_memory_kib),
            8 * lanes,
            4 * 1024 * 1024,
        );
        p.range(
            "vault.argon2_iterations",
            u64::from(self.argon2_iterations),
            1,
            100,
        );
        p.range(
            "vault.argon2_parallelism",
            u64::from(self.argon2_parallelism),
            1,
            16,
        );
    }
}
