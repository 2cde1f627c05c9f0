//! The audit log's keys under `$BULWARK_HOME/keys`: created from the OS random source on first use,
//! 0600, refused when other users can read them.
//!
//! - `audit-hmac.keys`: one HMAC key per line (hex), oldest first; the last one seals new records.
//!   Rotation appends a line, so older records stay verifiable.
//! - `audit-signing.key`: the Ed25519 secret that signs checkpoints (hex).
//! - `audit-signing.pub`: its public key (hex), to publish: it verifies checkpoints and the chain
//!   without the HMAC key.
//!
//! With `[audit] hmac_keys` or `signing_key` set to `vault:NAME`, that key comes from the vault
//! instead (same text as the file) and no key file is created for it.

use std::path::{Path, PathBuf};

use bulwark_core::audit::{AuditKey, CheckpointKey, public_key_from_hex};
use ed25519_dalek::VerifyingKey;

use secrecy::{ExposeSecret, SecretString};

use crate::StoreError;
use crate::fs::{
    check_private, create_private_dir, create_private_exclusive, write_private_atomic,
};

/// The audit keys of one installation.
#[derive(Debug)]
pub struct AuditKeys {
    /// Every HMAC key, oldest first; the last seals new records.
    pub hmac: Vec<AuditKey>,
    /// The checkpoint signing key.
    pub signer: CheckpointKey,
}

impl AuditKeys {
    /// The key that seals new records.
    pub fn current(&self) -> &AuditKey {
        self.hmac
            .last()
            .expect("load_or_create never returns an empty key list")
    }
}

/// A key held in the vault: its reference (for messages) and its text.
#[derive(Clone)]
struct VaultKey {
    reference: String,
    text: SecretString,
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reference)
    }
}

/// The files, in `dir` (normally `$BULWARK_HOME/keys`), or keys from the vault.
#[derive(Debug, Clone)]
pub struct KeyFiles {
    dir: PathBuf,
    hmac_vault: Option<VaultKey>,
    signing_vault: Option<VaultKey>,
}

impl KeyFiles {
    /// Key files in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> KeyFiles {
        KeyFiles {
            dir: dir.into(),
            hmac_vault: None,
            signing_vault: None,
        }
    }

    /// The keys `[audit]` describes: files in `home/keys`, except those set to `vault:NAME`, read
    /// from `secrets` (loaded by `Secrets::load`).
    pub fn configured(
        cfg: &bulwark_core::config::AuditConfig,
        home: &Path,
        secrets: &crate::vault_file::Secrets,
    ) -> Result<KeyFiles, StoreError> {
        let from_vault = |setting: &str,
                          reference: &bulwark_core::vault::cfg::SecretRef|
         -> Result<Option<VaultKey>, StoreError> {
            if reference.is_unset() {
                return Ok(None);
            }
            let text = secrets.get(reference).cloned().ok_or_else(|| {
                StoreError::Keys(format!(
                    "audit.{setting} = {reference}: the vault reference was not loaded"
                ))
            })?;
            Ok(Some(VaultKey {
                reference: reference.to_string(),
                text,
            }))
        };
        Ok(KeyFiles {
            dir: home.join("keys"),
            hmac_vault: from_vault("hmac_keys", &cfg.hmac_keys)?,
            signing_vault: from_vault("signing_key", &cfg.signing_key)?,
        })
    }

    /// Where the HMAC keys live, for messages and records: the file or the vault reference.
    pub fn hmac_location(&self) -> String {
        match &self.hmac_vault {
            Some(v) => v.reference.clone(),
            None => self.hmac_path().display().to_string(),
        }
    }

    /// The HMAC key file.
    pub fn hmac_path(&self) -> PathBuf {
        self.dir.join("audit-hmac.keys")
    }

    /// The signing key file.
    pub fn signing_path(&self) -> PathBuf {
        self.dir.join("audit-signing.key")
    }

    /// The public key file.
    pub fn public_path(&self) -> PathBuf {
        self.dir.join("audit-signing.pub")
    }

    fn read_secret(&self, path: &Path) -> Result<Option<String>, StoreError> {
        match std::fs::read_to_string(path) {
            Ok(s) => {
                check_private(path).map_err(|e| StoreError::io(path, e))?;
                Ok(Some(s))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    fn parse_hmac(&self, text: &str) -> Result<Vec<AuditKey>, StoreError> {
        let origin = self.hmac_location();
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                AuditKey::from_hex(l)
                    .map_err(|e| StoreError::Keys(format!("{origin}:{}: {e}", i + 1)))
            })
            .collect()
    }

    /// The HMAC keys held in the vault (never empty), if they are.
    fn vault_hmac(&self) -> Result<Option<Vec<AuditKey>>, StoreError> {
        let Some(v) = &self.hmac_vault else {
            return Ok(None);
        };
        let keys = self.parse_hmac(v.text.expose_secret())?;
        if keys.is_empty() {
            return Err(StoreError::Keys(format!(
                "{}: no HMAC key (expected 64 hex digits per line, e.g. from `openssl rand -hex 32`)",
                v.reference
            )));
        }
        Ok(Some(keys))
    }

    /// The signing key held in the vault, if it is.
    fn vault_signer(&self) -> Result<Option<CheckpointKey>, StoreError> {
        let Some(v) = &self.signing_vault else {
            return Ok(None);
        };
        CheckpointKey::from_hex(v.text.expose_secret())
            .map(Some)
            .map_err(|e| StoreError::Keys(format!("{}: {e}", v.reference)))
    }

    /// Whether the HMAC key lives in a file (not the vault) and that file does not exist.
    pub fn hmac_file_missing(&self) -> bool {
        self.hmac_vault.is_none() && !self.hmac_path().exists()
    }

    /// Load the keys, or create the missing ones. Safe when several processes start at once on a
    /// new home: each key file is created exclusively (complete when visible, never replaced), and a
    /// process that loses the race uses the winner's key.
    pub fn load_or_create(&self) -> Result<AuditKeys, StoreError> {
        create_private_dir(&self.dir).map_err(|e| StoreError::io(&self.dir, e))?;
        let hmac_path = self.hmac_path();
        let hmac = match self.vault_hmac()? {
            Some(keys) => keys,
            None => self.file_or_create(
                &hmac_path,
                |text| self.parse_hmac(text),
                || {
                    let key = AuditKey::generate().map_err(|e| StoreError::Keys(e.to_string()))?;
                    Ok(format!("{}\n", key.to_hex().as_str()))
                },
            )?,
        };
        if hmac.is_empty() {
            return Err(StoreError::Keys(format!(
                "{}: no HMAC key in the file (expected 64 hex digits per line): restore it from a backup, or move it aside to start a new log",
                hmac_path.display()
            )));
        }
        let signing_path = self.signing_path();
        let signer = match self.vault_signer()? {
            Some(key) => key,
            None => self.file_or_create(
                &signing_path,
                |text| {
                    CheckpointKey::from_hex(text)
                        .map_err(|e| StoreError::Keys(format!("{}: {e}", signing_path.display())))
                },
                || {
                    let key =
                        CheckpointKey::generate().map_err(|e| StoreError::Keys(e.to_string()))?;
                    Ok(format!("{}\n", key.to_hex().as_str()))
                },
            )?,
        };
        let public_path = self.public_path();
        let public = format!("{}\n", signer.public_hex());
        if std::fs::read_to_string(&public_path).ok().as_deref() != Some(public.as_str()) {
            write_private_atomic(&public_path, public.as_bytes())
                .map_err(|e| StoreError::io(&public_path, e))?;
        }
        Ok(AuditKeys { hmac, signer })
    }

    /// Read a key file, or create it with `make`'s text if it does not exist; when another process
    /// creates it first, read theirs.
    fn file_or_create<T>(
        &self,
        path: &Path,
        parse: impl Fn(&str) -> Result<T, StoreError>,
        make: impl Fn() -> Result<String, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(text) = self.read_secret(path)? {
            return parse(&text);
        }
        let text = zeroize::Zeroizing::new(make()?);
        if create_private_exclusive(path, text.as_bytes()).map_err(|e| StoreError::io(path, e))? {
            return parse(&text);
        }
        match self.read_secret(path)? {
            Some(theirs) => parse(&theirs),
            None => Err(StoreError::Keys(format!(
                "{} was created by another process and is gone again: check what else manages this directory",
                path.display()
            ))),
        }
    }

    /// The HMAC keys, if the file exists (for verification; nothing is created).
    pub fn load_hmac(&self) -> Result<Option<Vec<AuditKey>>, StoreError> {
        if let Some(keys) = self.vault_hmac()? {
            return Ok(Some(keys));
        }
        let path = self.hmac_path();
        match self.read_secret(&path)? {
            Some(text) => Ok(Some(self.parse_hmac(&text)?)),
            None => Ok(None),
        }
    }

    /// The public key, if the file exists.
    pub fn load_public(&self) -> Result<Option<VerifyingKey>, StoreError> {
        if let Some(k) = self.vault_signer()? {
            return Ok(Some(k.public()));
        }
        let path = self.public_path();
        match std::fs::read_to_string(&path) {
            Ok(s) => read_public_key_text(&s, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    /// Add a new HMAC key that seals records from now on. Returns the old and new key ids.
    /// Keys held in the vault are rotated there (`bulwark audit rotate-key` does it).
    pub fn rotate_hmac(&self) -> Result<(String, String), StoreError> {
        if let Some(v) = &self.hmac_vault {
            return Err(StoreError::Keys(format!(
                "the HMAC keys are in the vault ({}): rotate them there",
                v.reference
            )));
        }
        let keys = self.load_or_create()?;
        let old = keys.current().id().to_string();
        let new = AuditKey::generate().map_err(|e| StoreError::Keys(e.to_string()))?;
        let mut text = zeroize::Zeroizing::new(String::new());
        for k in keys.hmac.iter().chain(std::iter::once(&new)) {
            text.push_str(k.to_hex().as_str());
            text.push('\n');
        }
        let path = self.hmac_path();
        write_private_atomic(&path, text.as_bytes()).map_err(|e| StoreError::io(&path, e))?;
        Ok((old, new.id().to_string()))
    }
}

/// Read a public key file (64 hex digits).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, StoreError> {
    let text = std::fs::read_to_string(path).map_err(|e| StoreError::io(path, e))?;
    read_public_key_text(&text, path)
}

fn read_public_key_text(text: &str, path: &Path) -> Result<VerifyingKey, StoreError> {
    public_key_from_hex(text).map_err(|e| StoreError::Keys(format!("{}: {e}", path.display())))
}
