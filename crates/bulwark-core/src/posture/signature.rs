//! Detached signatures and checksum manifests for advisory feeds and releases.
//!
//! - Ed25519 over the exact bytes: public keys as SPKI PEM (`openssl pkey -pubout`), signatures
//!   as base64 text, `{"signature": "<base64>"}`, or the raw 64 bytes (`openssl pkeyutl -sign
//!   -rawin` output as is).
//! - minisign: public keys as `minisign.pub` files or their `RW...` line, signatures as `.minisig`
//!   files (pre-hashed, as minisign makes them by default; legacy signatures are refused).
//! - Checksum manifests: JSON (`{"algorithm": "sha256", "files": {name: hex | {"sha256": hex}}}`
//!   or the `files` object at top level) or text (`<64 hex>  [*]path`, as `sha256sum` writes).

use std::collections::BTreeMap;

use base64::Engine;
use ed25519_dalek::pkcs8::DecodePublicKey;

/// A trusted public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// Ed25519 from an SPKI PEM.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// A minisign key.
    Minisign(Box<minisign_verify::PublicKey>),
}

impl PublicKey {
    /// Parse a key file's text: SPKI PEM, a `minisign.pub` file, or a bare `RW...` line.
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let t = text.trim();
        if t.starts_with("-----BEGIN PUBLIC KEY-----") {
            return ed25519_dalek::VerifyingKey::from_public_key_pem(t)
                .map(PublicKey::Ed25519)
                .map_err(|e| {
                    format!(
                        "not an Ed25519 SPKI public key ({e}); RSA and EC keys are not accepted"
                    )
                });
        }
        if t.starts_with("-----BEGIN") {
            return Err("expected a PUBLIC KEY PEM (SPKI), not a private key or certificate: `openssl pkey -in KEY -pubout`".into());
        }
        let minisign = if t.starts_with("untrusted comment:") {
            minisign_verify::PublicKey::decode(t)
        } else {
            minisign_verify::PublicKey::from_base64(t)
        };
        minisign
            .map(|k| PublicKey::Minisign(Box::new(k)))
            .map_err(|e| format!("not an SPKI PEM nor a minisign public key ({e})"))
    }

    /// `ed25519` or `minisign`.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::Ed25519(_) => "ed25519",
            PublicKey::Minisign(_) => "minisign",
        }
    }
}

/// A detached signature.
pub enum DetachedSignature {
    /// 64 bytes of Ed25519.
    Ed25519(ed25519_dalek::Signature),
    /// A minisign signature file.
    Minisign(Box<minisign_verify::Signature>),
}

impl std::fmt::Debug for DetachedSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DetachedSignature::Ed25519(s) => write!(f, "Ed25519({s:?})"),
            DetachedSignature::Minisign(s) => write!(f, "Minisign({:?})", s.trusted_comment()),
        }
    }
}

impl DetachedSignature {
    /// Parse a signature file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<DetachedSignature, String> {
        if bytes.len() == 64 && std::str::from_utf8(bytes).map_or(true, |s| s.trim().len() != 64) {
            return Ok(DetachedSignature::Ed25519(
                ed25519_dalek::Signature::from_bytes(bytes.try_into().expect("64 bytes")),
            ));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| {
                format!(
                    "{} bytes that are neither text nor a raw 64-byte Ed25519 signature",
                    bytes.len()
                )
            })?
            .trim();
        if text.starts_with("untrusted comment:") {
            return minisign_verify::Signature::decode(text)
                .map(|s| DetachedSignature::Minisign(Box::new(s)))
                .map_err(|e| format!("not a valid minisign signature ({e})"));
        }
        let b64 = if text.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("signature JSON: {e}"))?;
            v.get("signature")
                .and_then(serde_json::Value::as_str)
                .ok_or("signature JSON: expected {\"signature\": \"<base64>\"}")?
                .to_string()
        } else {
            text.to_string()
        };
        let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(compact.trim_end_matches('='))
            })
            .map_err(|_| "the signature is not base64".to_string())?;
        let arr: [u8; 64] = raw.as_slice().try_into().map_err(|_| {
            format!(
                "an Ed25519 signature is 64 bytes, this one is {}",
                raw.len()
            )
        })?;
        Ok(DetachedSignature::Ed25519(
            ed25519_dalek::Signature::from_bytes(&arr),
        ))
    }
}

/// Verify `message` (its exact bytes). `Err` says why not.
pub fn verify(
    message: &[u8],
    signature: &DetachedSignature,
    key: &PublicKey,
) -> Result<(), String> {
    match (signature, key) {
        (DetachedSignature::Ed25519(sig), PublicKey::Ed25519(k)) => k
            .verify_strict(message, sig)
            .map_err(|_| "the Ed25519 signature does not match these bytes and this key".into()),
        (DetachedSignature::Minisign(sig), PublicKey::Minisign(k)) => {
            k.verify(message, sig, false).map_err(|e| match e {
                minisign_verify::Error::UnexpectedKeyId => {
                    "the minisign signature was made by another key (key id differs)".to_string()
                }
                minisign_verify::Error::UnexpectedAlgorithm => {
                    "legacy (not pre-hashed) minisign signatures are not accepted".to_string()
                }
                _ => "the minisign signature does not match these bytes and this key".to_string(),
            })
        }
        (DetachedSignature::Ed25519(_), PublicKey::Minisign(_)) => Err(
            "a raw Ed25519 signature cannot be checked with a minisign public key (pass the .minisig file)".into(),
        ),
        (DetachedSignature::Minisign(_), PublicKey::Ed25519(_)) => Err(
            "a minisign signature cannot be checked with an SPKI public key (pass the minisign .pub file)".into(),
        ),
    }
}

/// A checksum manifest: normalized path -> lowercase SHA-256 hex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The entries.
    pub files: BTreeMap<String, String>,
}

fn normalize(path: &str) -> String {
    let p = path.trim();
    p.strip_prefix("./").unwrap_or(p).to_string()
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Manifest {
    /// Parse JSON or `sha256sum` text. Duplicate paths, an algorithm other than sha256 and
    /// unreadable text lines are errors (a manifest is read whole or not at all).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("the checksum manifest is empty".into());
        }
        let mut files = BTreeMap::new();
        let insert = |path: &str, hash: &str, files: &mut BTreeMap<String, String>| {
            let p = normalize(path);
            if files
                .insert(p.clone(), hash.trim().to_ascii_lowercase())
                .is_some()
            {
                return Err(format!("duplicate checksum entry: {p}"));
            }
            Ok(())
        };
        if trimmed.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(trimmed)
                .map_err(|e| format!("checksum manifest JSON: {e}"))?;
            if let Some(a) = v.get("algorithm")
                && !a.as_str().is_some_and(|a| a.eq_ignore_ascii_case("sha256"))
            {
                return Err(format!(
                    "checksum manifest algorithm {a}: only sha256 is supported"
                ));
            }
            let source = match v.get("files") {
                Some(f) if f.is_object() => f,
                _ => &v,
            };
            for (path, entry) in source.as_object().into_iter().flatten() {
                let hash = entry
                    .as_str()
                    .or_else(|| entry.get("sha256").and_then(serde_json::Value::as_str));
                if let Some(h) = hash.filter(|h| is_hex64(h.trim())) {
                    insert(path, h, &mut files)?;
                }
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                let l = line.trim_end_matches('\r');
                if l.trim().is_empty() || l.trim_start().starts_with('#') {
                    continue;
                }
                let (hash, rest) = l.split_at_checked(64).unwrap_or((l, ""));
                let path = rest.trim_start_matches([' ', '\t']);
                let sep_ok = rest.len() > path.len();
                let path = path.strip_prefix('*').unwrap_or(path);
                if !is_hex64(hash) || !sep_ok || path.is_empty() {
                    return Err(format!(
                        "checksum manifest line {}: expected `<64 hex digits>  <path>`",
                        i + 1
                    ));
                }
                insert(path, hash, &mut files)?;
            }
        }
        if files.is_empty() {
            return Err("the checksum manifest has no sha256 entries".into());
        }
        Ok(Manifest { files })
    }

    /// The expected hash of an artifact: by `manifest_name`, then its path, then its base name
    /// (exact entry, else the one entry with that base name). Returns the entry name and hash.
    pub fn lookup(
        &self,
        manifest_name: Option<&str>,
        artifact: &str,
    ) -> Result<Option<(String, String)>, String> {
        let base = basename(artifact).to_string();
        for candidate in manifest_name
            .into_iter()
            .map(str::to_string)
            .chain([artifact.to_string(), base.clone()])
        {
            let c = normalize(&candidate);
            if let Some(h) = self.files.get(&c) {
                return Ok(Some((c, h.clone())));
            }
        }
        let same_base: Vec<(&String, &String)> = self
            .files
            .iter()
            .filter(|(p, _)| basename(p) == base)
            .collect();
        match same_base.as_slice() {
            [] => Ok(None),
            [(p, h)] => Ok(Some(((*p).clone(), (*h).clone()))),
            many => Err(format!(
                "ambiguous checksum basename {base:?}: {} entries ({}); pass --manifest-name",
                many.len(),
                many.iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer;
    use ed25519_dalek::pkcs8::EncodePublicKey;

    fn keypair() -> (ed25519_dalek::SigningKey, String) {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
        let pem = sk
            .verifying_key()
            .to_public_key_pem(Default::default())
            .unwrap();
        (sk, pem)
    }

    #[test]
    fn ed25519_in_every_signature_form() {
        let (sk, pem) = keypair();
        let key = PublicKey::parse(&pem).unwrap();
        let msg = b"{\"advisories\":[]}\n";
        let sig = sk.sign(msg).to_bytes();
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
        for form in [
            sig.to_vec(),
            format!("{b64}\n").into_bytes(),
            format!("{{\"signature\": \"{b64}\"}}").into_bytes(),
        ] {
            let s = DetachedSignature::parse(&form).unwrap();
            verify(msg, &s, &key).unwrap();
            assert!(verify(b"{\"advisories\":[1]}\n", &s, &key).is_err());
        }
        let (_, other) = keypair();
        let s = DetachedSignature::parse(b64.as_bytes()).unwrap();
        assert!(verify(msg, &s, &PublicKey::parse(&other).unwrap()).is_err());
        assert!(DetachedSignature::parse(&b64.as_bytes()[..40]).is_err());
        assert!(
            PublicKey::parse("-----BEGIN PRIVATE KEY-----\nAA\n-----END PRIVATE KEY-----").is_err()
        );
    }

    #[test]
    fn manifests() {
        let h = "a".repeat(64);
        let m = Manifest::parse(&format!(
            "{h}  ./dist/picoclaw\n{}  *feed.json\n",
            "B".repeat(64)
        ))
        .unwrap();
        assert_eq!(
            m.lookup(None, "/tmp/x/feed.json").unwrap().unwrap().1,
            "b".repeat(64)
        );
        assert_eq!(
            m.lookup(None, "picoclaw").unwrap().unwrap().0,
            "dist/picoclaw"
        );
        assert!(m.lookup(None, "other").unwrap().is_none());
        let amb = Manifest::parse(&format!("{h}  a/picoclaw\n{h}  b/picoclaw\n")).unwrap();
        assert!(
            amb.lookup(None, "/x/picoclaw")
                .unwrap_err()
                .contains("ambiguous")
        );
        assert_eq!(
            amb.lookup(Some("b/picoclaw"), "/x/picoclaw")
                .unwrap()
                .unwrap()
                .0,
            "b/picoclaw"
        );
        assert!(
            Manifest::parse(&format!("{h}  a\n{h}  ./a\n"))
                .unwrap_err()
                .contains("duplicate")
        );
        assert!(
            Manifest::parse("not a manifest\n")
                .unwrap_err()
                .contains("line 1")
        );
        let j = Manifest::parse(&format!(
            r#"{{"schema_version": "1", "algorithm": "sha256", "files": {{"feed.json": "{h}", "feed.json.sig": {{"sha256": "{h}"}}}}}}"#
        ))
        .unwrap();
        assert_eq!(j.files.len(), 2);
        let top = Manifest::parse(&format!(r#"{{"feed.json": "{h}"}}"#)).unwrap();
        assert_eq!(top.files.len(), 1);
        assert!(Manifest::parse(r#"{"algorithm": "md5", "files": {}}"#).is_err());
    }
}
