//! The credential vault: secrets at rest, encrypted, bound to their names.
//!
//! Threat answered: API keys kept in plaintext config files, read by anyone (or any agent tool)
//! that can read the file. Entries are encrypted with XChaCha20-Poly1305 (or AES-256-GCM) under a
//! random data key, with a fresh random nonce per write and associated data that binds the vault
//! id, the entry's name, its version and the data key's version: an entry copied under another
//! name, into another vault or under another version does not decrypt. A manifest MAC over every
//! (name, version) pair, keyed from the data key, detects an entry rolled back or removed on disk.
//! The data key is wrapped by a key-encryption key from a [`KeyProvider`] (a passphrase through
//! Argon2id, or a key file). Rolling the whole file back to an older, consistent copy is not
//! detectable from the file alone.
//!
//! This module is pure: it turns a [`VaultFile`] (the documented JSON format) and keys into
//! secrets and back. Reading, locking and atomically writing the file is the store's job.

pub mod cfg;
pub mod picoclaw;

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{KeyInit as _, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The format tag of the vault file.
pub const FORMAT: &str = "bulwark-vault/1";

/// Longest entry name.
pub const MAX_NAME: usize = 128;
/// Largest secret value.
pub const MAX_VALUE: usize = 64 * 1024;

/// The AEAD that encrypts entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cipher {
    /// XChaCha20-Poly1305 (24-byte random nonces): the default.
    Xchacha20poly1305,
    /// AES-256-GCM (12-byte random nonces).
    Aes256gcm,
}

/// How the key-encryption key is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum KekSpec {
    /// Argon2id over a passphrase.
    Passphrase {
        /// Memory in KiB.
        m_kib: u32,
        /// Iterations.
        t: u32,
        /// Lanes.
        p: u32,
        /// Salt, base64.
        salt: String,
    },
    /// 32 bytes (64 hex digits) in a 0600 file.
    KeyFile {
        /// The file.
        path: String,
    },
    /// 32 random bytes in the OS keychain (Secret Service).
    Keychain {
        /// The keychain item's service.
        service: String,
        /// The keychain item's account.
        account: String,
    },
}

/// A wrapped key or an encrypted entry: nonce and ciphertext (with tag), base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// The nonce, base64.
    pub nonce: String,
    /// Ciphertext and tag, base64.
    pub ciphertext: String,
}

/// One stored secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1 on creation, +1 on every write.
    pub version: u64,
    /// First written (RFC 3339).
    pub created: String,
    /// Last written (RFC 3339).
    pub updated: String,
    /// The sealed value.
    pub sealed: Sealed,
}

/// The vault file (JSON, documented in docs/vault.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultFile {
    /// [`FORMAT`].
    pub format: String,
    /// Random 128-bit id, hex.
    pub vault_id: String,
    /// The entry cipher.
    pub cipher: Cipher,
    /// How the key-encryption key is made.
    pub kek: KekSpec,
    /// The version of the data key (raised by `rotate-data-key`).
    pub dek_version: u64,
    /// The data key, wrapped by the key-encryption key.
    pub data_key: Sealed,
    /// Raised on every change.
    pub generation: u64,
    /// The entries by name.
    pub entries: BTreeMap<String, Entry>,
    /// HMAC-SHA256 (key derived from the data key) over the generation and every (name,
    /// version), hex.
    pub manifest_mac: String,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The key-encryption key does not open the data key: wrong passphrase or key file.
    #[error(
        "the vault does not open with this key: wrong passphrase or key file (nothing was changed)"
    )]
    WrongKey,
    /// An entry does not decrypt.
    #[error(
        "entry {0:?} does not decrypt: it was altered, moved from another name or vault, or damaged"
    )]
    Entry(String),
    /// The manifest does not match the entries.
    #[error(
        "the vault's manifest does not match its entries: an entry was rolled back, removed or added outside Bulwark"
    )]
    Manifest,
    /// No such entry.
    #[error("no entry named {0:?} (`bulwark vault list` shows the names)")]
    NotFound(String),
    /// A bad name or value.
    #[error("{0}")]
    Invalid(String),
    /// The file is not a vault this version reads.
    #[error("not a vault file: {0}")]
    Format(String),
    /// Key derivation or randomness failed.
    #[error("{0}")]
    Crypto(String),
}

type Key32 = Zeroizing<[u8; 32]>;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str, what: &str) -> Result<Vec<u8>, VaultError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| VaultError::Format(format!("{what} is not base64")))
}

fn random<const N: usize>() -> Result<[u8; N], VaultError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| VaultError::Crypto(format!("no random source: {e}")))?;
    Ok(b)
}

fn seal(cipher: Cipher, key: &[u8; 32], aad: &[u8], msg: &[u8]) -> Result<Sealed, VaultError> {
    use chacha20poly1305::aead::{Aead, Payload};
    let payload = Payload { msg, aad };
    let (nonce, ct) = match cipher {
        Cipher::Xchacha20poly1305 => {
            let n: [u8; 24] = random()?;
            let c = chacha20poly1305::XChaCha20Poly1305::new_from_slice(key)
                .map_err(|e| VaultError::Crypto(e.to_string()))?;
            let ct = c
                .encrypt(&n.into(), payload)
                .map_err(|_| VaultError::Crypto("encryption failed".into()))?;
            (n.to_vec(), ct)
        }
        Cipher::Aes256gcm => {
            let n: [u8; 12] = random()?;
            let c = aes_gcm::Aes256Gcm::new_from_slice(key)
                .map_err(|e| VaultError::Crypto(e.to_string()))?;
            let ct =
                aes_gcm::aead::Aead::encrypt(&c, &n.into(), aes_gcm::aead::Payload { msg, aad })
                    .map_err(|_| VaultError::Crypto("encryption failed".into()))?;
            (n.to_vec(), ct)
        }
    };
    Ok(Sealed {
        nonce: b64(&nonce),
        ciphertext: b64(&ct),
    })
}

/// Open `s`; `None` when the key, nonce, associated data or ciphertext is wrong.
fn open(cipher: Cipher, key: &[u8; 32], aad: &[u8], s: &Sealed) -> Option<Zeroizing<Vec<u8>>> {
    use chacha20poly1305::aead::{Aead, Payload};
    let nonce = unb64(&s.nonce, "nonce").ok()?;
    let ct = unb64(&s.ciphertext, "ciphertext").ok()?;
    let payload = Payload { msg: &ct, aad };
    let pt = match cipher {
        Cipher::Xchacha20poly1305 => {
            let n: [u8; 24] = nonce.try_into().ok()?;
            chacha20poly1305::XChaCha20Poly1305::new_from_slice(key)
                .ok()?
                .decrypt(&n.into(), payload)
                .ok()?
        }
        Cipher::Aes256gcm => {
            let n: [u8; 12] = nonce.try_into().ok()?;
            let c = aes_gcm::Aes256Gcm::new_from_slice(key).ok()?;
            aes_gcm::aead::Aead::decrypt(&c, &n.into(), aes_gcm::aead::Payload { msg: &ct, aad })
                .ok()?
        }
    };
    Some(Zeroizing::new(pt))
}

fn dek_aad(vault_id: &str, dek_version: u64) -> Vec<u8> {
    format!("{FORMAT}|data-key|{vault_id}|{dek_version}").into_bytes()
}

fn entry_aad(vault_id: &str, name: &str, version: u64, dek_version: u64) -> Vec<u8> {
    format!("{FORMAT}|entry|{vault_id}|{dek_version}|{version}|{name}").into_bytes()
}

/// Argon2id parameters for a new passphrase-protected vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KekSpec {
    /// A passphrase spec with a fresh random salt.
    pub fn new_passphrase(p: Argon2Params) -> Result<KekSpec, VaultError> {
        let salt: [u8; 16] = random()?;
        Ok(KekSpec::Passphrase {
            m_kib: p.m_kib,
            t: p.t,
            p: p.p,
            salt: b64(&salt),
        })
    }
}

/// Where the key-encryption key comes from.
pub trait KeyProvider {
    /// The key for `spec` (the passphrase provider runs Argon2id with the spec's parameters).
    fn kek(&self, spec: &KekSpec) -> Result<SecretBox<[u8; 32]>, VaultError>;
}

/// A passphrase, stretched with Argon2id.
pub struct Passphrase(pub SecretString);

impl KeyProvider for Passphrase {
    fn kek(&self, spec: &KekSpec) -> Result<SecretBox<[u8; 32]>, VaultError> {
        let KekSpec::Passphrase { m_kib, t, p, salt } = spec else {
            return Err(VaultError::Invalid(
                "this vault is protected by a key file or the OS keychain, not a passphrase".into(),
            ));
        };
        if self.0.expose_secret().is_empty() {
            return Err(VaultError::Invalid("the passphrase is empty".into()));
        }
        let salt = unb64(salt, "kek.salt")?;
        let params = argon2::Params::new(*m_kib, *t, *p, Some(32))
            .map_err(|e| VaultError::Format(format!("kek Argon2id parameters: {e}")))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Box::new([0u8; 32]);
        a.hash_password_into(self.0.expose_secret().as_bytes(), &salt, out.as_mut())
            .map_err(|e| VaultError::Crypto(format!("Argon2id: {e}")))?;
        Ok(SecretBox::new(out))
    }
}

/// A raw 32-byte key: a key file's (64 hex digits) or the OS keychain's.
pub struct KeyBytes(pub SecretBox<[u8; 32]>);

impl KeyBytes {
    /// Parse a key file's content.
    pub fn from_hex(s: &str) -> Result<KeyBytes, VaultError> {
        let v = Zeroizing::new(
            hex::decode(s.trim())
                .map_err(|_| VaultError::Invalid("the key file must hold 64 hex digits".into()))?,
        );
        let arr: [u8; 32] = v
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Invalid("the key file must hold 64 hex digits".into()))?;
        Ok(KeyBytes(SecretBox::new(Box::new(arr))))
    }

    /// A fresh random key, and its hex form for the file.
    pub fn generate() -> Result<(KeyBytes, Zeroizing<String>), VaultError> {
        let k: [u8; 32] = random()?;
        let hexed = Zeroizing::new(hex::encode(k));
        Ok((KeyBytes(SecretBox::new(Box::new(k))), hexed))
    }
}

impl KeyProvider for KeyBytes {
    fn kek(&self, spec: &KekSpec) -> Result<SecretBox<[u8; 32]>, VaultError> {
        if matches!(spec, KekSpec::Passphrase { .. }) {
            return Err(VaultError::Invalid(
                "this vault is protected by a passphrase, not a key".into(),
            ));
        }
        Ok(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

/// An opened vault: the data key in memory (zeroized on drop).
pub struct Unlocked {
    dek: Key32,
}

impl std::fmt::Debug for Unlocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unlocked([REDACTED])")
    }
}

/// Whether `name` can name an entry: 1 to [`MAX_NAME`] letters, digits, `-`, `_`, `.` or `/`.
pub fn check_name(name: &str) -> Result<(), VaultError> {
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
    {
        return Err(VaultError::Invalid(format!(
            "entry name {:?}: expected 1-{MAX_NAME} letters, digits, `-`, `_`, `.` or `/`",
            name.chars().take(40).collect::<String>()
        )));
    }
    Ok(())
}

impl Unlocked {
    fn manifest_key(&self) -> Key32 {
        let hk = hkdf::Hkdf::<Sha256>::new(None, self.dek.as_ref());
        let mut k = Zeroizing::new([0u8; 32]);
        // 32 bytes never exceed HKDF's output limit.
        let _ = hk.expand(b"bulwark-vault manifest", k.as_mut());
        k
    }

    fn manifest(&self, f: &VaultFile) -> String {
        let Ok(mut m) = <hmac::Hmac<Sha256>>::new_from_slice(self.manifest_key().as_ref()) else {
            return String::new();
        };
        m.update(
            format!(
                "{FORMAT}|{}|{}|{}\n",
                f.vault_id, f.dek_version, f.generation
            )
            .as_bytes(),
        );
        for (name, e) in &f.entries {
            m.update(format!("{name}\u{0}{}\n", e.version).as_bytes());
        }
        hex::encode(m.finalize().into_bytes())
    }

    fn stamp(&self, f: &mut VaultFile) {
        f.generation += 1;
        f.manifest_mac = self.manifest(f);
    }

    /// Decrypt one entry.
    pub fn get(&self, f: &VaultFile, name: &str) -> Result<SecretString, VaultError> {
        let e = f
            .entries
            .get(name)
            .ok_or_else(|| VaultError::NotFound(name.to_string()))?;
        let pt = open(
            f.cipher,
            &self.dek,
            &entry_aad(&f.vault_id, name, e.version, f.dek_version),
            &e.sealed,
        )
        .ok_or_else(|| VaultError::Entry(name.to_string()))?;
        let s = String::from_utf8(pt.to_vec()).map_err(|_| VaultError::Entry(name.to_string()))?;
        Ok(SecretString::from(s))
    }

    /// Encrypt `value` under `name` (a new version, a fresh nonce).
    pub fn set(
        &self,
        f: &mut VaultFile,
        name: &str,
        value: &SecretString,
        now: &str,
    ) -> Result<u64, VaultError> {
        check_name(name)?;
        let v = value.expose_secret();
        if v.len() > MAX_VALUE {
            return Err(VaultError::Invalid(format!(
                "the value is {} bytes: at most {MAX_VALUE}",
                v.len()
            )));
        }
        let (version, created) = match f.entries.get(name) {
            Some(e) => (e.version + 1, e.created.clone()),
            None => (1, now.to_string()),
        };
        let sealed = seal(
            f.cipher,
            &self.dek,
            &entry_aad(&f.vault_id, name, version, f.dek_version),
            v.as_bytes(),
        )?;
        f.entries.insert(
            name.to_string(),
            Entry {
                version,
                created,
                updated: now.to_string(),
                sealed,
            },
        );
        self.stamp(f);
        Ok(version)
    }

    /// Remove an entry.
    pub fn remove(&self, f: &mut VaultFile, name: &str) -> Result<(), VaultError> {
        f.entries
            .remove(name)
            .ok_or_else(|| VaultError::NotFound(name.to_string()))?;
        self.stamp(f);
        Ok(())
    }

    /// Re-wrap the data key under a new key-encryption key (cheap: entries are untouched).
    pub fn rotate_kek(
        &self,
        f: &mut VaultFile,
        spec: KekSpec,
        provider: &dyn KeyProvider,
    ) -> Result<(), VaultError> {
        let kek = provider.kek(&spec)?;
        f.data_key = seal(
            f.cipher,
            kek.expose_secret(),
            &dek_aad(&f.vault_id, f.dek_version),
            self.dek.as_ref(),
        )?;
        f.kek = spec;
        self.stamp(f);
        Ok(())
    }

    /// A new data key: every entry re-encrypted, the key wrapped under the same KEK. Returns
    /// the new unlocked vault.
    pub fn rotate_dek(
        &self,
        f: &mut VaultFile,
        provider: &dyn KeyProvider,
    ) -> Result<Unlocked, VaultError> {
        let kek = provider.kek(&f.kek)?;
        // The caller proved it holds the KEK: it must open the current data key.
        if open(
            f.cipher,
            kek.expose_secret(),
            &dek_aad(&f.vault_id, f.dek_version),
            &f.data_key,
        )
        .is_none()
        {
            return Err(VaultError::WrongKey);
        }
        let mut next = f.clone();
        next.dek_version += 1;
        let new = Unlocked {
            dek: Zeroizing::new(random()?),
        };
        next.data_key = seal(
            f.cipher,
            kek.expose_secret(),
            &dek_aad(&next.vault_id, next.dek_version),
            new.dek.as_ref(),
        )?;
        for (name, e) in next.entries.iter_mut() {
            let value = self.get(f, name)?;
            e.sealed = seal(
                f.cipher,
                &new.dek,
                &entry_aad(&f.vault_id, name, e.version, next.dek_version),
                value.expose_secret().as_bytes(),
            )?;
        }
        new.stamp(&mut next);
        *f = next;
        Ok(new)
    }
}

impl VaultFile {
    /// A new, empty vault.
    pub fn create(
        cipher: Cipher,
        spec: KekSpec,
        provider: &dyn KeyProvider,
    ) -> Result<(VaultFile, Unlocked), VaultError> {
        let id: [u8; 16] = random()?;
        let kek = provider.kek(&spec)?;
        let unlocked = Unlocked {
            dek: Zeroizing::new(random()?),
        };
        let vault_id = hex::encode(id);
        let mut f = VaultFile {
            format: FORMAT.into(),
            data_key: seal(
                cipher,
                kek.expose_secret(),
                &dek_aad(&vault_id, 1),
                unlocked.dek.as_ref(),
            )?,
            vault_id,
            cipher,
            kek: spec,
            dek_version: 1,
            generation: 0,
            entries: BTreeMap::new(),
            manifest_mac: String::new(),
        };
        unlocked.stamp(&mut f);
        Ok((f, unlocked))
    }

    /// Parse the file's JSON.
    pub fn from_json(bytes: &[u8]) -> Result<VaultFile, VaultError> {
        let f: VaultFile =
            serde_json::from_slice(bytes).map_err(|e| VaultError::Format(e.to_string()))?;
        if f.format != FORMAT {
            return Err(VaultError::Format(format!(
                "format {:?}, this Bulwark reads {FORMAT:?}",
                f.format
            )));
        }
        Ok(f)
    }

    /// Unwrap the data key and check the manifest.
    pub fn unlock(&self, provider: &dyn KeyProvider) -> Result<Unlocked, VaultError> {
        let kek = provider.kek(&self.kek)?;
        let dek = open(
            self.cipher,
            kek.expose_secret(),
            &dek_aad(&self.vault_id, self.dek_version),
            &self.data_key,
        )
        .ok_or(VaultError::WrongKey)?;
        let dek: [u8; 32] = dek
            .as_slice()
            .try_into()
            .map_err(|_| VaultError::Format("the data key is not 32 bytes".into()))?;
        let u = Unlocked {
            dek: Zeroizing::new(dek),
        };
        use subtle::ConstantTimeEq;
        if !bool::from(
            u.manifest(self)
                .as_bytes()
                .ct_eq(self.manifest_mac.as_bytes()),
        ) {
            return Err(VaultError::Manifest);
        }
        Ok(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Argon2Params = Argon2Params {
        m_kib: 64,
        t: 1,
        p: 1,
    };

    fn pass(p: &str) -> Passphrase {
        Passphrase(SecretString::from(p.to_string()))
    }

    fn vault(cipher: Cipher) -> (VaultFile, Unlocked) {
        VaultFile::create(
            cipher,
            KekSpec::new_passphrase(FAST).unwrap(),
            &pass("correct horse"),
        )
        .unwrap()
    }

    #[test]
    fn round_trip_both_ciphers_and_rotations() {
        for cipher in [Cipher::Xchacha20poly1305, Cipher::Aes256gcm] {
            let (mut f, u) = vault(cipher);
            u.set(
                &mut f,
                "openai/api-key",
                &SecretString::from("sk-live-1"),
                "t0",
            )
            .unwrap();
            u.set(&mut f, "slack", &SecretString::from("xoxb-2"), "t0")
                .unwrap();
            let json = serde_json::to_vec(&f).unwrap();
            assert!(!String::from_utf8_lossy(&json).contains("sk-live-1"));
            let f2 = VaultFile::from_json(&json).unwrap();
            let u2 = f2.unlock(&pass("correct horse")).unwrap();
            assert_eq!(
                u2.get(&f2, "openai/api-key").unwrap().expose_secret(),
                "sk-live-1"
            );
            assert_eq!(f2.unlock(&pass("wrong")).err(), Some(VaultError::WrongKey));
            // rotate-key: new passphrase opens, old does not, entries untouched.
            let mut f3 = f2.clone();
            u2.rotate_kek(
                &mut f3,
                KekSpec::new_passphrase(FAST).unwrap(),
                &pass("new pass"),
            )
            .unwrap();
            assert_eq!(f3.entries, f2.entries);
            assert!(f3.unlock(&pass("correct horse")).is_err());
            let u3 = f3.unlock(&pass("new pass")).unwrap();
            // rotate-data-key: every ciphertext changes, values stay.
            let mut f4 = f3.clone();
            let u4 = u3.rotate_dek(&mut f4, &pass("new pass")).unwrap();
            assert_ne!(f4.entries["slack"].sealed, f3.entries["slack"].sealed);
            assert_eq!(u4.get(&f4, "slack").unwrap().expose_secret(), "xoxb-2");
            assert!(f4.unlock(&pass("new pass")).is_ok());
        }
    }

    #[test]
    fn tampering_is_detected() {
        let (mut f, u) = vault(Cipher::Xchacha20poly1305);
        u.set(&mut f, "a", &SecretString::from("alpha"), "t")
            .unwrap();
        u.set(&mut f, "b", &SecretString::from("bravo"), "t")
            .unwrap();
        // A flipped ciphertext byte names the entry.
        let mut g = f.clone();
        let mut ct = unb64(&g.entries["a"].sealed.ciphertext, "").unwrap();
        ct[3] ^= 1;
        g.entries.get_mut("a").unwrap().sealed.ciphertext = b64(&ct);
        assert_eq!(u.get(&g, "a").err(), Some(VaultError::Entry("a".into())));
        // Two entries' ciphertexts swapped.
        let mut g = f.clone();
        let (sa, sb) = (g.entries["a"].sealed.clone(), g.entries["b"].sealed.clone());
        g.entries.get_mut("a").unwrap().sealed = sb;
        g.entries.get_mut("b").unwrap().sealed = sa;
        assert!(u.get(&g, "a").is_err() && u.get(&g, "b").is_err());
        // An entry rolled back to an older version (consistent with itself).
        let old = f.entries["a"].clone();
        u.set(&mut f, "a", &SecretString::from("alpha-2"), "t")
            .unwrap();
        let mut g = f.clone();
        g.entries.insert("a".into(), old);
        assert_eq!(
            g.unlock(&pass("correct horse")).err(),
            Some(VaultError::Manifest)
        );
        // An entry removed on disk.
        let mut g = f.clone();
        g.entries.remove("b");
        assert_eq!(
            g.unlock(&pass("correct horse")).err(),
            Some(VaultError::Manifest)
        );
        // An entry moved into another vault.
        let (mut other, ou) = vault(Cipher::Xchacha20poly1305);
        ou.set(&mut other, "x", &SecretString::from("x"), "t")
            .unwrap();
        other.entries.insert("a".into(), f.entries["a"].clone());
        assert!(ou.get(&other, "a").is_err());
        assert!(
            u.set(&mut f, "bad name", &SecretString::from("v"), "t")
                .is_err()
        );
        assert!(format!("{u:?}").contains("REDACTED"));
    }
}
