//! The report of a content scan over named inputs: what `bulwark scan --format json` prints and
//! what the sidecar's `/v1/scan` answers. Rendering (text, SARIF) is the CLI's.

use serde::Serialize;

use crate::{Finding, Verdict};

/// A finding in a named input.
#[derive(Debug, Clone, Serialize)]
pub struct Located {
    /// The file, or `-` for standard input.
    pub path: String,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// Salted fingerprint (stable across runs for the same value, rule and path).
    #[serde(skip)]
    pub fingerprint: String,
}

/// An input that could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct InputError {
    /// The input.
    pub path: String,
    /// Why it could not be read.
    pub error: String,
}

/// An input that was passed over on purpose.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The input.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Inputs scanned.
    pub files_scanned: usize,
    /// Bytes scanned.
    pub bytes_scanned: u64,
    /// Findings a baseline accepted.
    pub suppressed_by_baseline: usize,
    /// Findings an inline `bulwark:allow` comment accepted.
    pub suppressed_inline: usize,
}

/// Everything `bulwark scan` has to say.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The verdict over every finding.
    pub verdict: Verdict,
    /// Findings, with the input they are in.
    pub findings: Vec<Located>,
    /// Inputs that could not be read.
    pub errors: Vec<InputError>,
    /// Inputs passed over on purpose.
    pub skipped: Vec<Skipped>,
    /// Counters.
    pub stats: Stats,
}

impl Report {
    /// The exit code: 2 when an input could not be read, else 1 with findings, else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            2
        } else if !self.findings.is_empty() {
            1
        } else {
            0
        }
    }
}

impl Report {
    /// The report of one text scanned under the name `path`.
    pub fn of_text(path: &str, bytes: usize, verdict: Verdict, findings: Vec<Finding>) -> Report {
        Report {
            verdict,
            findings: findings
                .into_iter()
                .map(|finding| Located {
                    path: path.to_string(),
                    finding,
                    fingerprint: String::new(),
                })
                .collect(),
            errors: Vec::new(),
            skipped: Vec::new(),
            stats: Stats {
                files_scanned: 1,
                bytes_scanned: bytes as u64,
                ..Stats::default()
            },
        }
    }
}
