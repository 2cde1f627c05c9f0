//! PicoClaw's credential formats, read to move a PicoClaw installation's secrets into the vault.
//!
//! `.security.yml` (beside PicoClaw's `config.json`) holds secrets as plaintext strings,
//! `file://` references (relative to the config directory) or `enc://` values: base64 of
//! salt (16 bytes) | nonce (12) | AES-256-GCM ciphertext, whose key is HKDF-SHA256 with
//! ikm = HMAC-SHA256(key = SHA-256(the SSH private key file's bytes), message = passphrase),
//! the salt, and info `picoclaw-credential-v1`. This module only decodes; reading files (and
//! keeping `file://` inside the config directory) is the caller's job.

use base64::Engine;
use hmac::{KeyInit as _, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::VaultError;

/// A credential as `.security.yml` states it.
#[derive(Debug)]
pub enum Stated {
    /// The value itself.
    Plain(SecretString),
    /// A file under the config directory (the path after `file://`).
    File(String),
    /// An `enc://` value (the base64 after the prefix).
    Encrypted(String),
}

/// One credential found in `.security.yml`, with its key path (`channels.telegram.token`).
#[derive(Debug)]
pub struct Found {
    /// Dotted key path (array items as `[i]`).
    pub key: String,
    /// How it is stated.
    pub value: Stated,
}

/// Every non-empty string in the document, by key path. Numbers, booleans and nulls are not
/// credentials and are skipped.
pub fn credentials(yaml: &str) -> Result<Vec<Found>, VaultError> {
    use yaml_rust2::{Yaml, YamlLoader};
    let docs = YamlLoader::load_from_str(yaml)
        .map_err(|e| VaultError::Format(format!(".security.yml: {e}")))?;
    fn walk(y: &Yaml, path: String, depth: usize, out: &mut Vec<Found>) -> Result<(), VaultError> {
        if depth > 32 {
            return Err(VaultError::Format(
                ".security.yml nests deeper than 32 levels".into(),
            ));
        }
        match y {
            Yaml::String(s) if !s.trim().is_empty() => {
                let value = if let Some(rest) = s.strip_prefix("enc://") {
                    Stated::Encrypted(rest.trim().to_string())
                } else if let Some(rest) = s.strip_prefix("file://") {
                    Stated::File(rest.trim().to_string())
                } else {
                    Stated::Plain(SecretString::from(s.clone()))
                };
                out.push(Found { key: path, value });
            }
            Yaml::Hash(h) => {
                for (k, v) in h {
                    let k = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => format!("{other:?}"),
                    };
                    let p = if path.is_empty() {
                        k
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, p, depth + 1, out)?;
                }
            }
            Yaml::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, format!("{path}[{i}]"), depth + 1, out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut out = Vec::new();
    for d in &docs {
        walk(d, String::new(), 0, &mut out)?;
    }
    Ok(out)
}

/// Decrypt an `enc://` value (without the prefix) with the SSH key file's bytes and the
/// passphrase.
pub fn decrypt(
    b64: &str,
    ssh_key_file: &[u8],
    passphrase: &SecretString,
) -> Result<SecretString, VaultError> {
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| VaultError::Format("an enc:// value is not base64".into()))?,
    );
    if raw.len() < 16 + 12 + 16 {
        return Err(VaultError::Format("an enc:// value is too short".into()));
    }
    let (salt, rest) = raw.split_at(16);
    let (nonce, ct) = rest.split_at(12);
    let hmac_key: Zeroizing<[u8; 32]> = Zeroizing::new(Sha256::digest(ssh_key_file).into());
    let mut m = <hmac::Hmac<Sha256>>::new_from_slice(hmac_key.as_ref())
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    m.update(passphrase.expose_secret().as_bytes());
    let ikm: Zeroizing<[u8; 32]> = Zeroizing::new(m.finalize().into_bytes().into());
    let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), ikm.as_ref());
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(b"picoclaw-credential-v1", key.as_mut())
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    let cipher = <aes_gcm::Aes256Gcm as aes_gcm::KeyInit>::new_from_slice(key.as_ref())
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| VaultError::Format("an enc:// nonce is not 12 bytes".into()))?;
    let pt = Zeroizing::new(
        aes_gcm::aead::Aead::decrypt(&cipher, &nonce.into(), ct).map_err(|_| {
            VaultError::Invalid(
                "an enc:// value does not decrypt: wrong PICOCLAW_KEY_PASSPHRASE or SSH key file, or a damaged value".into(),
            )
        })?,
    );
    let s = String::from_utf8(pt.to_vec())
        .map_err(|_| VaultError::Format("an enc:// value is not UTF-8 text".into()))?;
    Ok(SecretString::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_by_key_path() {
        let y = "channels:\n  telegram:\n    token: \"123:abc\"\n    enabled: true\n  slack:\n    bot_token: file://secrets/slack.txt\nproviders:\n  - name: openai\n    api_key: enc://AAAA\n  - name: empty\n    api_key: \"\"\n";
        let found = credentials(y).unwrap();
        let keys: Vec<&str> = found.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "channels.telegram.token",
                "channels.slack.bot_token",
                "providers[0].name",
                "providers[0].api_key",
                "providers[1].name"
            ]
        );
        assert!(matches!(found[1].value, Stated::File(ref p) if p == "secrets/slack.txt"));
        assert!(matches!(found[3].value, Stated::Encrypted(_)));
        assert!(credentials("a: [unclosed").is_err());
    }

    #[test]
    fn bad_enc_values_are_refused() {
        let p = SecretString::from("pw".to_string());
        assert!(decrypt("not base64!", b"key", &p).is_err());
        assert!(decrypt("AAAA", b"key", &p).is_err());
        let junk = base64::engine::general_purpose::STANDARD.encode([7u8; 60]);
        assert!(
            decrypt(&junk, b"key", &p)
                .unwrap_err()
                .to_string()
                .contains("PICOCLAW_KEY_PASSPHRASE")
        );
    }
}
