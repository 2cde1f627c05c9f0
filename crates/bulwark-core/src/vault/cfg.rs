//! `[vault]`: the credential vault's settings.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;

/// How a setting refers to a vault entry: `vault:NAME`.
pub const VAULT_PREFIX: &str = "vault:";

/// Where a secret setting's value comes from, as written in `bulwark.toml`:
///
/// - `vault:NAME`: an entry of Bulwark's vault;
/// - `env:NAME`: an environment variable of the process that loads the configuration;
/// - `file:/ABSOLUTE/PATH`: a file's text without its final line break (a mounted Kubernetes
///   secret, a systemd credential);
/// - anything else: the value itself, where the setting allows one;
/// - empty: not set.
///
/// Its `Debug` output never shows a value written in the file.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum SecretRef {
    /// Not set.
    #[default]
    Unset,
    /// The value itself.
    Literal(zeroize::Zeroizing<String>),
    /// `env:NAME`.
    Env(String),
    /// `file:PATH`.
    File(PathBuf),
    /// `vault:NAME`.
    Vault(String),
}

/// The ways a secret may be given; each setting allows some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretForm {
    /// The value written in the file.
    Literal,
    /// `env:NAME`.
    Env,
    /// `file:PATH`.
    File,
    /// `vault:NAME`.
    Vault,
}

impl SecretForm {
    /// Every form but the value written in the file.
    pub const REFERENCES: &'static [SecretForm] =
        &[SecretForm::Env, SecretForm::File, SecretForm::Vault];
    /// Every form.
    pub const ANY: &'static [SecretForm] = &[
        SecretForm::Literal,
        SecretForm::Env,
        SecretForm::File,
        SecretForm::Vault,
    ];

    fn describe(self) -> &'static str {
        match self {
            SecretForm::Literal => "the value itself",
            SecretForm::Env => "env:NAME",
            SecretForm::File => "file:/ABSOLUTE/PATH",
            SecretForm::Vault => "vault:NAME",
        }
    }
}

impl SecretRef {
    /// Read a setting's text.
    pub fn parse(text: &str) -> SecretRef {
        if text.is_empty() {
            SecretRef::Unset
        } else if let Some(n) = text.strip_prefix(VAULT_PREFIX) {
            SecretRef::Vault(n.to_string())
        } else if let Some(n) = text.strip_prefix("env:") {
            SecretRef::Env(n.to_string())
        } else if let Some(p) = text.strip_prefix("file:") {
            SecretRef::File(PathBuf::from(p))
        } else {
            SecretRef::Literal(zeroize::Zeroizing::new(text.to_string()))
        }
    }

    /// Whether nothing is set.
    pub fn is_unset(&self) -> bool {
        matches!(self, SecretRef::Unset)
    }

    /// The form it is given in; `None` when unset.
    pub fn form(&self) -> Option<SecretForm> {
        match self {
            SecretRef::Unset => None,
            SecretRef::Literal(_) => Some(SecretForm::Literal),
            SecretRef::Env(_) => Some(SecretForm::Env),
            SecretRef::File(_) => Some(SecretForm::File),
            SecretRef::Vault(_) => Some(SecretForm::Vault),
        }
    }

    /// The vault entry's name, for `vault:NAME`.
    pub fn vault_name(&self) -> Option<&str> {
        match self {
            SecretRef::Vault(n) => Some(n),
            _ => None,
        }
    }

    /// How the setting is written, for messages: references in full, a value as `(a value)`.
    pub fn shown(&self) -> String {
        match self {
            SecretRef::Literal(_) => "(a value written in the file)".into(),
            other => other.text(),
        }
    }

    /// The setting's text (a literal value included).
    fn text(&self) -> String {
        match self {
            SecretRef::Unset => String::new(),
            SecretRef::Literal(v) => v.to_string(),
            SecretRef::Env(n) => format!("env:{n}"),
            SecretRef::File(p) => format!("file:{}", p.display()),
            SecretRef::Vault(n) => format!("{VAULT_PREFIX}{n}"),
        }
    }

    /// Check the form against what `key` allows, and the reference's own syntax.
    pub fn check(&self, key: &str, allowed: &[SecretForm], p: &mut Problems) {
        let Some(form) = self.form() else { return };
        let expected = || {
            let forms: Vec<&str> = allowed.iter().map(|f| f.describe()).collect();
            format!("empty, or {}", forms.join(", or "))
        };
        if !allowed.contains(&form) {
            if matches!(self, SecretRef::Literal(_)) {
                // Its source line would quote the secret: the place is named, the line not shown.
                p.invalid_secret(key, self.shown(), expected());
            } else {
                p.invalid(key, self.shown(), expected());
            }
            return;
        }
        let bad = match self {
            SecretRef::Vault(n) => crate::vault::check_name(n).err().map(|e| e.to_string()),
            SecretRef::Env(n) => {
                let ok = n
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                (!ok).then(|| "env:NAME: a variable name of letters, digits and `_`".to_string())
            }
            SecretRef::File(path) => (!path.is_absolute())
                .then(|| "file:PATH: an absolute path (file:/run/secrets/NAME)".to_string()),
            SecretRef::Unset | SecretRef::Literal(_) => None,
        };
        if let Some(why) = bad {
            p.invalid(key, self.shown(), why);
        }
    }
}

impl From<&str> for SecretRef {
    fn from(text: &str) -> SecretRef {
        SecretRef::parse(text)
    }
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl std::fmt::Display for SecretRef {
    /// References in full; a value written in the file is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        Ok(SecretRef::parse(&text))
    }
}

impl JsonSchema for SecretRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A secret: vault:NAME, env:NAME, file:/ABSOLUTE/PATH, the value itself where the setting allows one, or empty."
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_references_read_check_and_never_show_a_value() {
        let all = [
            "",
            "vault:ops/slack",
            "env:SLACK_HOOK",
            "file:/run/secrets/hook",
            "s3cr3t",
        ];
        let forms: Vec<Option<SecretForm>> =
            all.iter().map(|t| SecretRef::parse(t).form()).collect();
        assert_eq!(
            forms,
            [
                None,
                Some(SecretForm::Vault),
                Some(SecretForm::Env),
                Some(SecretForm::File),
                Some(SecretForm::Literal)
            ]
        );
        // Written back as read, through TOML.
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct T {
            k: SecretRef,
        }
        for t in all {
            let v = T {
                k: SecretRef::parse(t),
            };
            let text = toml::to_string(&v).unwrap();
            assert_eq!(toml::from_str::<T>(&text).unwrap(), v, "{text}");
        }
        // A value written in the file is never shown; references are.
        let lit = SecretRef::parse("s3cr3t-value");
        assert!(!format!("{lit:?} {lit}").contains("s3cr3t"));
        assert_eq!(SecretRef::parse("env:A_B").to_string(), "env:A_B");

        let problems = |r: &str, allowed: &[SecretForm]| {
            let mut p = Problems::default();
            SecretRef::parse(r).check("x.key", allowed, &mut p);
            p.into_vec()
                .into_iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        };
        assert!(problems("vault:ok-name", SecretForm::REFERENCES).is_empty());
        assert!(problems("", &[SecretForm::Vault]).is_empty());
        for (r, allowed, says) in [
            ("s3cr3t", SecretForm::REFERENCES, "env:NAME"),
            ("env:1BAD", SecretForm::ANY, "variable name"),
            ("env:", SecretForm::ANY, "variable name"),
            ("file:relative/path", SecretForm::ANY, "absolute path"),
            ("vault:bad name", SecretForm::ANY, "entry name"),
            ("env:OK", &[SecretForm::Vault], "vault:NAME"),
        ] {
            let got = problems(r, allowed);
            assert!(
                got.len() == 1 && got[0].contains("x.key") && got[0].contains(says),
                "{r}: {got:?}"
            );
            assert!(!got[0].contains("s3cr3t"), "{got:?}");
        }
    }
}
