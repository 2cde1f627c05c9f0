//! Baselines: findings a team has reviewed and accepted, recorded as salted fingerprints (never the
//! values), so `bulwark scan --baseline FILE` reports only what is new.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::Fatal;

#[derive(Debug, Serialize, Deserialize)]
struct BaselineFile {
    bulwark_baseline: u32,
    /// Hex-encoded random salt for the fingerprints.
    salt: String,
    findings: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    fingerprint: String,
    rule: String,
    path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
}

/// A loaded or new baseline.
pub struct Baseline {
    salt: Vec<u8>,
    known: HashSet<String>,
    entries: Vec<Entry>,
}

impl Baseline {
    /// A new, empty baseline with a fresh random salt from the OS.
    pub fn fresh() -> Result<Self, Fatal> {
        let mut salt = vec![0u8; 16];
        getrandom::fill(&mut salt)
            .map_err(|e| Fatal(format!("no OS randomness for the baseline salt: {e}")))?;
        Ok(Baseline {
            salt,
            known: HashSet::new(),
            entries: Vec::new(),
        })
    }

    /// Load a baseline written by `--write-baseline`.
    pub fn load(path: &Path) -> Result<Self, Fatal> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Fatal(format!("cannot read baseline {}: {e}", path.display())))?;
        let file: BaselineFile = serde_json::from_str(&text).map_err(|e| {
            Fatal(format!(
                "{} is not a Bulwark baseline ({e}); write one with `bulwark scan --write-baseline FILE`",
                path.display()
            ))
        })?;
        if file.bulwark_baseline != 1 {
            return Err(Fatal(format!(
                "{}: baseline version {} is not supported (expected 1)",
                path.display(),
                file.bulwark_baseline
            )));
        }
        let salt = hex::decode(&file.salt)
            .ok()
            .filter(|s| s.len() >= 16)
            .ok_or_else(|| {
                Fatal(format!(
                    "{}: `salt` must be at least 32 hex characters",
                    path.display()
                ))
            })?;
        Ok(Baseline {
            salt,
            known: file
                .findings
                .iter()
                .map(|e| e.fingerprint.clone())
                .collect(),
            entries: Vec::new(),
        })
    }

    /// The fingerprint of a finding under this baseline's salt.
    pub fn fingerprint(&self, rule: &str, path: &str, value: &[u8]) -> String {
        bulwark_core::finding::fingerprint(&self.salt, rule, path, value)
    }

    /// Whether a fingerprint is recorded.
    pub fn contains(&self, fp: &str) -> bool {
        self.known.contains(fp)
    }

    /// Record a finding.
    pub fn record(&mut self, fingerprint: String, rule: &str, path: &str, line: Option<usize>) {
        if self.known.insert(fingerprint.clone()) {
            self.entries.push(Entry {
                fingerprint,
                rule: rule.into(),
                path: path.into(),
                line,
            });
        }
    }

    /// Write the recorded findings (0600: fingerprints are salted hashes of secrets).
    pub fn write(&self, path: &Path) -> Result<(), Fatal> {
        let file = BaselineFile {
            bulwark_baseline: 1,
            salt: hex::encode(&self.salt),
            findings: self
                .entries
                .iter()
                .map(|e| Entry {
                    fingerprint: e.fingerprint.clone(),
                    rule: e.rule.clone(),
                    path: e.path.clone(),
                    line: e.line,
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&file)?;
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let mut f = o
            .open(path)
            .map_err(|e| Fatal(format!("cannot write baseline {}: {e}", path.display())))?;
        std::io::Write::write_all(&mut f, text.as_bytes())
            .and_then(|_| std::io::Write::write_all(&mut f, b"\n"))
            .map_err(|e| Fatal(format!("cannot write baseline {}: {e}", path.display())))
    }
}
