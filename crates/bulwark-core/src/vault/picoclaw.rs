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

/// How deep `.security.yml` may nest: PicoClaw's needs three or four levels.
const MAX_YAML_DEPTH: usize = 32;

/// Read a YAML text's events one by one (the loader recurses once per level, so a deep text would
/// exhaust the stack), refusing what loading must not see: an alias (`*name`: loading copies what
/// each names, so a few hundred bytes of nested aliases expand to gigabytes), or nesting deeper
/// than [`MAX_YAML_DEPTH`].
fn check_yaml_shape(yaml: &str) -> Result<(), VaultError> {
    use yaml_rust2::parser::{Event, Parser};
    let mut parser = Parser::new_from_str(yaml);
    let mut depth = 0usize;
    loop {
        let (event, _) = parser
            .next_token()
            .map_err(|e| VaultError::Invalid(format!(".security.yml: {e}")))?;
        match event {
            Event::StreamEnd => return Ok(()),
            Event::Alias(_) => {
                return Err(VaultError::Invalid(
                    ".security.yml uses YAML aliases (`*name`), which PicoClaw's credentials never need: refused, nothing was imported".into(),
                ));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_YAML_DEPTH {
                    return Err(VaultError::Invalid(format!(
                        ".security.yml nests deeper than {MAX_YAML_DEPTH} levels"
                    )));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
}

/// Every non-empty string in the document, by key path. Numbers, booleans and nulls are not
/// credentials and are skipped. Aliases and keys that are not strings or numbers are refused.
pub fn credentials(yaml: &str) -> Result<Vec<Found>, VaultError> {
    use yaml_rust2::{Yaml, YamlLoader};
    check_yaml_shape(yaml)?;
    let docs = YamlLoader::load_from_str(yaml)
        .map_err(|e| VaultError::Invalid(format!(".security.yml: {e}")))?;
    fn walk(y: &Yaml, path: String, depth: usize, out: &mut Vec<Found>) -> Result<(), VaultError> {
        if depth > MAX_YAML_DEPTH {
            return Err(VaultError::Invalid(format!(
                ".security.yml nests deeper than {MAX_YAML_DEPTH} levels"
            )));
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
                        // Its content is never shown: it could be a credential.
                        _ => {
                            return Err(VaultError::Invalid(format!(
                                ".security.yml: under `{}`, a key that is not a string or number: refused",
                                if path.is_empty() { "." } else { &path }
                            )));
                        }
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
            .map_err(|_| VaultError::Invalid("an enc:// value is not base64".into()))?,
    );
    if raw.len() < 16 + 12 + 16 {
        return Err(VaultError::Invalid("an enc:// value is too short".into()));
    }
    let (salt, rest) = raw.split_at(16);
    let (nonce, ct) = rest.split_at(12);
    let cipher = value_key(salt, ssh_key_file, passphrase)?;
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| VaultError::Invalid("an enc:// nonce is not 12 bytes".into()))?;
    let pt = Zeroizing::new(
        aes_gcm::aead::Aead::decrypt(&cipher, &nonce.into(), ct).map_err(|_| {
            VaultError::Invalid(
                "an enc:// value does not decrypt: wrong PICOCLAW_KEY_PASSPHRASE or SSH key file, or a damaged value".into(),
            )
        })?,
    );
    let s = String::from_utf8(pt.to_vec())
        .map_err(|_| VaultError::Invalid("an enc:// value is not UTF-8 text".into()))?;
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

/// A key as Go's `encoding/json` compares field names (PicoClaw's reader): case folded, with
/// `ſ` read as `s` and the Kelvin sign as `k`.
fn fold(key: &str) -> String {
    key.chars()
        .flat_map(|c| match c {
            '\u{17F}' => 's'.to_lowercase(),
            '\u{212A}' => 'k'.to_lowercase(),
            c => c.to_lowercase(),
        })
        .collect()
}

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
    // Go matches field names case-insensitively: `"API_KEYS"` is read as `api_keys`.
    let k = |s: &Step, want: &str| matches!(s, Key(x) if fold(x) == want);
    match path {
        [m, Index(_), a, Index(_)] => k(m, "model_list") && k(a, "api_keys"),
        [c, Key(_), s, Key(f)] if k(c, "channel_list") && k(s, "settings") => {
            CHANNEL_SECRETS.contains(&fold(f).as_str())
        }
        [t, w, Key(_), a, Index(_)] if k(t, "tools") && k(w, "web") => k(a, "api_keys"),
        [t, w, Key(_), a] if k(t, "tools") && k(w, "web") => k(a, "api_key"),
        [t, s, g, tok] if k(t, "tools") && k(s, "skills") && k(g, "github") => k(tok, "token"),
        [t, s, .., a] => k(t, "tools") && k(s, "skills") && k(a, "auth_token"),
        _ => false,
    }
}

/// Every non-empty plaintext credential in `config.json` text (references already there are
/// left alone), in file order. The text must be one JSON object in which no object has two keys
/// PicoClaw could take for one (the same key twice, or keys that differ only in case): which of
/// them it reads is not for Bulwark to guess.
pub fn config_secrets(json: &str) -> Result<Vec<ConfigSecret>, VaultError> {
    crate::json::check_unique_keys(json.as_bytes())
        .map_err(|e| VaultError::Invalid(format!("config.json: {e}")))?;
    serde_json::from_str::<serde_json::Value>(json)
        .map_err(|e| VaultError::Invalid(format!("config.json: {e}")))?
        .is_object()
        .then_some(())
        .ok_or_else(|| VaultError::Invalid("config.json: expected a JSON object".into()))?;
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
            .map_err(|e| VaultError::Invalid(format!("config.json: {e}")))?;
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
            .ok_or_else(|| VaultError::Invalid("config.json: unexpected end".into()))
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
                None => return Err(VaultError::Invalid("config.json: unclosed string".into())),
            }
        }
    }

    fn value(&mut self, path: &mut Vec<Step>, depth: usize) -> Result<(), VaultError> {
        if depth > 64 {
            return Err(VaultError::Invalid(
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
                let mut folded = std::collections::HashMap::new();
                loop {
                    self.peek()?;
                    let k = self.string()?;
                    let key: String = serde_json::from_slice(&self.b[k])
                        .map_err(|e| VaultError::Invalid(format!("config.json: {e}")))?;
                    if let Some(other) = folded.insert(fold(&key), key.clone()) {
                        return Err(VaultError::Invalid(format!(
                            "config.json: keys {other:?} and {key:?} in one object differ only in case, and PicoClaw reads field names regardless of case: keep one, then import"
                        )));
                    }
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
    fn keys_are_read_as_picoclaw_reads_them() {
        // Go's encoding/json matches field names regardless of case (and reads `ſ` as `s`).
        let j = r#"{"Model_List": [{"API_KEYS": ["sk-upper"]}],
            "channel_list": {"tg": {"Settings": {"Token": "123:abc", "api_keyſ": "x"}}}}"#;
        let keys: Vec<String> = config_secrets(j)
            .unwrap()
            .into_iter()
            .map(|f| f.key)
            .collect();
        assert_eq!(
            keys,
            vec![
                "Model_List[0].API_KEYS[0]",
                "channel_list.tg.Settings.Token"
            ]
        );
        // Two keys PicoClaw could take for one: refused, naming them.
        let e = config_secrets(
            r#"{"channel_list": {"tg": {"settings": {"token": "a", "token": "b"}}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("duplicate key \"token\""), "{e}");
        let e = config_secrets(
            r#"{"channel_list": {"tg": {"settings": {"token": "a", "Token": "b"}}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("differ only in case"), "{e}");
    }

    #[test]
    fn yaml_aliases_and_complex_keys_are_refused_without_expanding_or_showing_them() {
        let mut bomb =
            String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
        for (i, prev) in ["a", "b", "c", "d", "e", "f", "g"].iter().enumerate() {
            let name = (b'b' + i as u8) as char;
            bomb.push_str(&format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 10].join(",")
            ));
        }
        let e = credentials(&bomb).unwrap_err().to_string();
        assert!(e.contains("aliases"), "{e}");
        let e = credentials("? [sk-in-a-key]\n: v\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a string or number") && !e.contains("sk-in-a-key"),
            "{e}"
        );
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
