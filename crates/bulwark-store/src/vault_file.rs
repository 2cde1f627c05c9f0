//! The vault on disk: one JSON file (`bulwark-vault/1`, see docs/vault.md), 0600, replaced
//! atomically (temporary file, fsync, rename, fsync of the directory) under an exclusive lock, so
//! concurrent writers serialize and a crash leaves the old vault or the new one, never half.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bulwark_core::vault::cfg::SecretRef;
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
                "set {PASSPHRASE_ENV} to the vault passphrase (an unattended host can keep the vault key in the OS keychain or a key file: `bulwark vault rotate-key --keychain` or `--key-file`)"
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

/// How a caller supplies the key provider a vault file's key-encryption key asks for.
pub type ProviderFor<'a> = dyn Fn(&KekSpec) -> Result<Box<dyn KeyProvider>, VaultStoreError> + 'a;

/// The configuration's `vault:NAME` references, decrypted with one unlock of the vault, and a
/// lookup that answers them and falls back to the environment for anything else.
pub struct Secrets {
    values: std::collections::HashMap<String, SecretString>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("references", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// No references (nothing from the vault).
    pub fn none() -> Secrets {
        Secrets {
            values: Default::default(),
        }
    }

    /// Decrypt every `vault:NAME` reference of `cfg` (`SecurityConfig::vault_references`), with
    /// the key from the keychain, the key file or `$BULWARK_VAULT_PASSPHRASE` (read through `env`).
    /// The vault is only opened when there is a reference; each error names the setting.
    pub fn load(
        cfg: &bulwark_core::SecurityConfig,
        store: &VaultStore,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secrets, VaultStoreError> {
        Secrets::load_with(cfg, store, &|spec| Ok(provider_for(spec, env)?))
    }

    /// [`Secrets::load`] with the caller's key provider (a command line may ask on a terminal).
    pub fn load_with(
        cfg: &bulwark_core::SecurityConfig,
        store: &VaultStore,
        provider_for: &ProviderFor<'_>,
    ) -> Result<Secrets, VaultStoreError> {
        let refs = cfg.vault_references();
        let mut values = std::collections::HashMap::new();
        if refs.is_empty() {
            return Ok(Secrets { values });
        }
        let in_setting = |key: &str, e: VaultError| {
            VaultStoreError::Vault(VaultError::Invalid(format!("{key}: {e}")))
        };
        let f = store.load()?.ok_or_else(|| {
            in_setting(
                &refs[0].0,
                VaultError::Invalid(format!(
                    "{} refers to the vault, but there is no vault at {} (`bulwark vault init`)",
                    refs[0].1,
                    store.path().display()
                )),
            )
        })?;
        let provider = provider_for(&f.kek)?;
        let u = f.unlock(provider.as_ref())?;
        for (key, r) in refs {
            let Some(name) = r.vault_name() else { continue };
            let secret = u.get(&f, name).map_err(|e| in_setting(&key, e))?;
            values.insert(name.to_string(), secret);
        }
        Ok(Secrets { values })
    }

    /// A vault reference's value, if `load` resolved it.
    pub fn get(&self, r: &SecretRef) -> Option<&SecretString> {
        r.vault_name().and_then(|n| self.values.get(n))
    }

    /// A secret setting's value, wherever it comes from: `None` when unset, an error (naming the
    /// reference, never a value) when it cannot be read.
    pub fn value(
        &self,
        r: &SecretRef,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<SecretString>, String> {
        match r {
            SecretRef::Unset => Ok(None),
            SecretRef::Literal(v) => Ok(Some(SecretString::from(v.to_string()))),
            SecretRef::Vault(n) => self
                .values
                .get(n)
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("{r}: the vault reference was not loaded")),
            SecretRef::Env(n) => env(n)
                .filter(|v| !v.is_empty())
                .map(|v| Some(SecretString::from(v)))
                .ok_or_else(|| format!("{r}: the environment variable {n} is not set")),
            SecretRef::File(path) => read_secret_file(path).map(Some),
        }
    }

    /// The lookup the guards take: a secret reference as written (`vault:NAME`, `env:NAME`,
    /// `file:/PATH`), else an environment variable's name.
    pub fn lookup(&self, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        use secrecy::ExposeSecret;
        match SecretRef::parse(key) {
            SecretRef::Literal(_) | SecretRef::Unset => env(key),
            r => self
                .value(&r, env)
                .ok()
                .flatten()
                .map(|s| s.expose_secret().to_string()),
        }
    }
}

/// Largest secret file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A `file:PATH` secret: the file's text without its final line break.
fn read_secret_file(path: &Path) -> Result<SecretString, String> {
    use std::io::Read;
    let shown = path.display();
    let f = std::fs::File::open(path).map_err(|e| format!("file:{shown}: cannot read it: {e}"))?;
    let mut text = zeroize::Zeroizing::new(String::new());
    f.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("file:{shown}: cannot read it as text: {e}"))?;
    if text.len() as u64 > MAX_SECRET_FILE {
        return Err(format!("file:{shown}: larger than {MAX_SECRET_FILE} bytes"));
    }
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if value.is_empty() {
        return Err(format!("file:{shown}: the file is empty"));
    }
    Ok(SecretString::from(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secret_settings_resolve_from_the_environment_files_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let s = Secrets::none();
        let env = |k: &str| (k == "HOOK").then(|| "https://hooks.example/T1".to_string());
        let value = |r: &str| {
            s.value(&SecretRef::parse(r), &env)
                .map(|v| v.map(|v| v.expose_secret().to_string()))
        };
        assert_eq!(value(""), Ok(None));
        assert_eq!(value("plain"), Ok(Some("plain".into())));
        assert_eq!(
            value("env:HOOK"),
            Ok(Some("https://hooks.example/T1".into()))
        );
        let file = dir.path().join("token");
        for (written, read) in [("t0k\n", "t0k"), ("t0k\r\n", "t0k"), ("a\nb", "a\nb")] {
            std::fs::write(&file, written).unwrap();
            assert_eq!(
                value(&format!("file:{}", file.display())),
                Ok(Some(read.into()))
            );
        }
        // Errors name the reference, never a value.
        std::fs::write(&file, "\n").unwrap();
        let empty = value(&format!("file:{}", file.display())).unwrap_err();
        assert!(empty.contains("empty"), "{empty}");
        std::fs::write(&file, vec![b'x'; 70 * 1024]).unwrap();
        assert!(
            value(&format!("file:{}", file.display()))
                .unwrap_err()
                .contains("larger")
        );
        assert!(
            value("file:/nonexistent/x")
                .unwrap_err()
                .contains("file:/nonexistent/x")
        );
        assert!(value("env:UNSET_ONE").unwrap_err().contains("UNSET_ONE"));
        assert!(value("vault:name").unwrap_err().contains("vault:name"));
        // The guards' lookup: references as written, else a variable's name.
        assert_eq!(
            s.lookup("HOOK", &env).as_deref(),
            Some("https://hooks.example/T1")
        );
        assert_eq!(
            s.lookup("env:HOOK", &env).as_deref(),
            Some("https://hooks.example/T1")
        );
        assert_eq!(s.lookup("env:NOPE", &env), None);
    }
}
