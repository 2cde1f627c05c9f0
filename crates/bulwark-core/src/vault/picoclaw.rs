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

/// The AES-256-GCM key of one `enc://` value: HKDF-SHA256 over HMAC-SHA256(SHA-256(SSH key
/// file), passphrase), with the value's salt and PicoClaw's info string.
fn value_key(
    salt: &[u8],
    ssh_key_file: &[u8],
    passphrase: &SecretString,
) -> Result<aes_gcm::Aes256Gcm, VaultError> {
    let hmac_key: Zeroizing<[u8; 32]> = Zeroizing::new(Sha256::digest(ssh_key_file).into());
    let mut m = <hmac::Hmac<Sha256>>::new_from_slice(hmac_key.as_ref())
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    m.update(passphrase.expose_secret().as_bytes());
    let ikm: Zeroizing<[u8; 32]> = Zeroizing::new(m.finalize().into_bytes().into());
    let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), ikm.as_ref());
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand(b"picoclaw-credential-v1", key.as_mut())
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    <aes_gcm::Aes256Gcm as aes_gcm::KeyInit>::new_from_slice(key.as_ref())
        .map_err(|e| VaultError::Crypto(e.to_string()))
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
    let cipher = value_key(salt, ssh_key_file, passphrase)?;
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

/// Encrypt `value` as PicoClaw does: the `enc://` value (with its prefix), under a fresh random
/// salt and nonce from the operating system.
pub fn encrypt(
    value: &SecretString,
    ssh_key_file: &[u8],
    passphrase: &SecretString,
) -> Result<String, VaultError> {
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut salt)
        .and_then(|()| getrandom::fill(&mut nonce))
        .map_err(|e| VaultError::Crypto(format!("no random source: {e}")))?;
    let cipher = value_key(&salt, ssh_key_file, passphrase)?;
    let ct = aes_gcm::aead::Aead::encrypt(&cipher, &nonce.into(), value.expose_secret().as_bytes())
        .map_err(|e| VaultError::Crypto(e.to_string()))?;
    let mut raw = Vec::with_capacity(16 + 12 + ct.len());
    raw.extend_from_slice(&salt);
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&ct);
    Ok(format!(
        "enc://{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))
}

/// A plaintext credential in PicoClaw's `config.json`, in a field where PicoClaw also reads an
/// `enc://` or `file://` reference.
pub struct ConfigSecret {
    /// Dotted key path (array items as `[i]`): `model_list[0].api_keys[0]`.
    pub key: String,
    /// The line it is on (from 1).
    pub line: usize,
    /// The bytes of its JSON string literal in the file, quotes included.
    pub span: std::ops::Range<usize>,
    /// The value.
    pub value: SecretString,
}

impl std::fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSecret")
            .field("key", &self.key)
            .field("line", &self.line)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

/// Channel settings PicoClaw types as secure strings (`channel_list.NAME.settings.FIELD`).
const CHANNEL_SECRETS: &[&str] = &[
    "token",
    "bot_token",
    "app_token",
    "app_secret",
    "client_secret",
    "channel_secret",
    "channel_access_token",
    "access_token",
    "encrypt_key",
    "verification_token",
    "secret",
    "password",
    "nickserv_password",
    "sasl_password",
    "webhook_url",
    "username",
];

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Whether PicoClaw (configuration version 3) reads the string at `path` as a secure string,
/// which resolves `enc://` and `file://`: model API keys, channel secrets, web search keys, the
/// skills' GitHub token and registry tokens. Anywhere else a reference would be taken literally.
fn resolves_references(path: &[Step]) -> bool {
    use Step::{Index, Key};
    let k = |s: &Step, want: &str| matches!(s, Key(x) if x == want);
    match path {
        [m, Index(_), a, Index(_)] => k(m, "model_list") && k(a, "api_keys"),
        [c, Key(_), s, Key(f)] if k(c, "channel_list") && k(s, "settings") => {
            CHANNEL_SECRETS.contains(&f.as_str())
        }
        [t, w, Key(_), a, Index(_)] if k(t, "tools") && k(w, "web") => k(a, "api_keys"),
        [t, w, Key(_), a] if k(t, "tools") && k(w, "web") => k(a, "api_key"),
        [t, s, g, tok] if k(t, "tools") && k(s, "skills") && k(g, "github") => k(tok, "token"),
        [t, s, .., a] => k(t, "tools") && k(s, "skills") && k(a, "auth_token"),
        _ => false,
    }
}

/// Every non-empty plaintext credential in `config.json` text (references already there are
/// left alone), in file order. The text must be one JSON object.
pub fn config_secrets(json: &str) -> Result<Vec<ConfigSecret>, VaultError> {
    serde_json::from_str::<serde_json::Value>(json)
        .map_err(|e| VaultError::Format(format!("config.json: {e}")))?
        .is_object()
        .then_some(())
        .ok_or_else(|| VaultError::Format("config.json: expected a JSON object".into()))?;
    let mut walk = Strings {
        b: json.as_bytes(),
        i: 0,
        out: Vec::new(),
    };
    walk.value(&mut Vec::new(), 0)?;
    let mut found = Vec::new();
    for (path, span) in walk.out {
        if !resolves_references(&path) {
            continue;
        }
        let value: String = serde_json::from_str(&json[span.clone()])
            .map_err(|e| VaultError::Format(format!("config.json: {e}")))?;
        if value.trim().is_empty() || value.starts_with("enc://") || value.starts_with("file://") {
            continue;
        }
        let mut key = String::new();
        for step in &path {
            match step {
                Step::Key(s) if key.is_empty() => key.push_str(s),
                Step::Key(s) => {
                    key.push('.');
                    key.push_str(s);
                }
                Step::Index(i) => key.push_str(&format!("[{i}]")),
            }
        }
        found.push(ConfigSecret {
            key,
            line: json[..span.start].matches('\n').count() + 1,
            span,
            value: SecretString::from(value),
        });
    }
    Ok(found)
}

/// The string values of a JSON text that serde_json has accepted, with their key paths and the
/// bytes of their literals.
struct Strings<'a> {
    b: &'a [u8],
    i: usize,
    out: Vec<(Vec<Step>, std::ops::Range<usize>)>,
}

impl Strings<'_> {
    fn blank(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Result<u8, VaultError> {
        self.blank();
        self.b
            .get(self.i)
            .copied()
            .ok_or_else(|| VaultError::Format("config.json: unexpected end".into()))
    }

    fn string(&mut self) -> Result<std::ops::Range<usize>, VaultError> {
        let start = self.i;
        self.i += 1;
        loop {
            match self.b.get(self.i) {
                Some(b'\\') => self.i += 2,
                Some(b'"') => {
                    self.i += 1;
                    return Ok(start..self.i);
                }
                Some(_) => self.i += 1,
                None => return Err(VaultError::Format("config.json: unclosed string".into())),
            }
        }
    }

    fn value(&mut self, path: &mut Vec<Step>, depth: usize) -> Result<(), VaultError> {
        if depth > 64 {
            return Err(VaultError::Format(
                "config.json nests deeper than 64 levels".into(),
            ));
        }
        match self.peek()? {
            b'{' => {
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Ok(());
                }
                loop {
                    self.peek()?;
                    let k = self.string()?;
                    let key: String = serde_json::from_slice(&self.b[k])
                        .map_err(|e| VaultError::Format(format!("config.json: {e}")))?;
                    self.peek()?;
                    self.i += 1; // ':'
                    path.push(Step::Key(key));
                    self.value(path, depth + 1)?;
                    path.pop();
                    let c = self.peek()?;
                    self.i += 1;
                    if c == b'}' {
                        return Ok(());
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Ok(());
                }
                let mut n = 0;
                loop {
                    path.push(Step::Index(n));
                    self.value(path, depth + 1)?;
                    path.pop();
                    n += 1;
                    let c = self.peek()?;
                    self.i += 1;
                    if c == b']' {
                        return Ok(());
                    }
                }
            }
            b'"' => {
                let span = self.string()?;
                self.out.push((path.clone(), span));
                Ok(())
            }
            _ => {
                while self
                    .b
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    self.i += 1;
                }
                Ok(())
            }
        }
    }
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
    fn config_json_credentials_are_found_where_picoclaw_resolves_references() {
        let j = r#"{
  "version": 3,
  "model_list": [
    {"model_name": "gpt", "api_keys": ["sk-one", "enc://AAAA", ""], "api_base": "https://x"},
    {"model_name": "claude", "api_keys": ["sk-\"two\""]}
  ],
  "channel_list": {"telegram": {"enabled": true, "settings": {"token": "123:abc", "allow_from": ["42"]}}},
  "tools": {"web": {"brave": {"api_keys": ["b1"]}, "baidu_search": {"api_key": "b2"}},
            "skills": {"github": {"token": "ghp_x"}, "registries": {"hub": {"auth_token": "t"}}}},
  "agents": {"defaults": {"token": "not-a-secure-field"}}
}"#;
        let found = config_secrets(j).unwrap();
        let keys: Vec<&str> = found.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "model_list[0].api_keys[0]",
                "model_list[1].api_keys[0]",
                "channel_list.telegram.settings.token",
                "tools.web.brave.api_keys[0]",
                "tools.web.baidu_search.api_key",
                "tools.skills.github.token",
                "tools.skills.registries.hub.auth_token"
            ]
        );
        assert_eq!(found[1].value.expose_secret(), "sk-\"two\"");
        assert_eq!(&j[found[1].span.clone()], r#""sk-\"two\"""#);
        assert_eq!(found[2].line, 7);
        assert!(config_secrets("[1]").is_err());
        assert!(config_secrets("{\"a\": ").is_err());
        assert!(config_secrets(&"[".repeat(100_000)).is_err());
    }

    #[test]
    fn encrypted_values_decrypt_and_are_fresh_each_time() {
        let p = SecretString::from("pass".to_string());
        let v = SecretString::from("sk-ant-secret".to_string());
        let a = encrypt(&v, b"ssh key bytes", &p).unwrap();
        let b = encrypt(&v, b"ssh key bytes", &p).unwrap();
        assert_ne!(a, b, "a fresh salt and nonce each time");
        let a = a.strip_prefix("enc://").unwrap();
        assert_eq!(
            decrypt(a, b"ssh key bytes", &p).unwrap().expose_secret(),
            "sk-ant-secret"
        );
        assert!(decrypt(a, b"another key", &p).is_err());
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
