//! `[scan]` and `[redact]`: the content guard's settings.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::finding::Severity;

use crate::config::problems::Problems;

/// `[scan]`: the content guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Turn the content guard on or off. Off means nothing is detected and nothing is redacted.
    pub enabled: bool,
    /// Files larger than this many bytes are skipped by `bulwark scan` (and reported as skipped).
    pub max_file_bytes: u64,
    /// The lowest severity that makes the verdict `review`.
    pub review_at: Severity,
    /// The lowest severity that makes the verdict `block`.
    pub block_at: Severity,
    /// Secret detectors.
    pub secrets: SecretsConfig,
    /// Personal-data detectors.
    pub pii: PiiConfig,
    /// Prompt-injection detection.
    pub injection: InjectionConfig,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            enabled: true,
            max_file_bytes: 10 * 1024 * 1024,
            review_at: Severity::Low,
            block_at: Severity::High,
            secrets: SecretsConfig::default(),
            pii: PiiConfig::default(),
            injection: InjectionConfig::default(),
        }
    }
}

/// `[scan.injection]`: prompt-injection detection. A text gets a score from 0 to 1 (patterns and a
/// statistical model); thresholds turn the score into `review` or `block`, stricter for text from
/// untrusted sources (web pages, e-mail, tool output, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct InjectionConfig {
    /// Turn prompt-injection detection on or off.
    pub enabled: bool,
    /// Score (0 to 1) at which text from a trusted source needs review.
    pub review_score: f32,
    /// Score at which text from a trusted source is blocked.
    pub block_score: f32,
    /// Score at which text from any other source needs review.
    pub untrusted_review_score: f32,
    /// Score at which text from any other source is blocked.
    pub untrusted_block_score: f32,
    /// Sources whose text is held to the trusted thresholds. Every other source (`web`, `email`,
    /// `tool_output`, `alert`, `mcp_tool_description`, `document`, unknown names) is untrusted.
    pub trusted_sources: Vec<String>,
    /// Use the statistical model as well as the patterns (it finds paraphrases patterns miss).
    pub model: bool,
    /// Model probability at which the model alone is evidence; below it, the model only
    /// strengthens pattern evidence (at half weight). Lower finds more paraphrased attacks and flags
    /// more benign instruction-heavy text (role-play prompts, system prompts).
    pub model_threshold: f32,
    /// How many encoding layers (base64 in hex in ...) are decoded and scanned, 0 to 4.
    pub decode_depth: u8,
    /// At most this many decoded bytes are scanned per text.
    pub max_decoded_bytes: usize,
}

impl Default for InjectionConfig {
    fn default() -> Self {
        InjectionConfig {
            enabled: true,
            review_score: 0.5,
            block_score: 0.85,
            untrusted_review_score: 0.35,
            untrusted_block_score: 0.6,
            trusted_sources: vec!["user".into()],
            model: true,
            model_threshold: 0.94,
            decode_depth: 2,
            max_decoded_bytes: 1024 * 1024,
        }
    }
}

/// `[scan.secrets]`: credential detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// Turn every secret detector on or off.
    pub enabled: bool,
    /// Rule ids to turn off (see `bulwark scan --list-rules`), e.g. `["generic-secret"]`.
    pub disabled_rules: Vec<String>,
    /// Minimum Shannon entropy (bits per character) of a value assigned to a secret-looking name for
    /// the generic rule to report it. Lower finds more and reports more noise.
    pub generic_min_entropy: f64,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            enabled: true,
            disabled_rules: Vec::new(),
            generic_min_entropy: 3.0,
        }
    }
}

/// `[scan.pii]`: personal-data detectors, each one switchable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PiiConfig {
    /// Turn every personal-data detector on or off.
    pub enabled: bool,
    /// E-mail addresses.
    pub email: bool,
    /// Phone numbers in E.164 (`+14155550132`) and common national forms.
    pub phone: bool,
    /// Payment card numbers (Luhn checksum and issuer ranges).
    pub credit_card: bool,
    /// International bank account numbers (mod-97 checksum, country lengths).
    pub iban: bool,
    /// IPv4 and IPv6 addresses.
    pub ip_address: bool,
    /// US social security numbers (invalid ranges excluded).
    pub us_ssn: bool,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            enabled: true,
            email: true,
            phone: true,
            credit_card: true,
            iban: true,
            ip_address: true,
            us_ssn: true,
        }
    }
}

/// How a found value is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// `[REDACTED:rule-id]`.
    Placeholder,
    /// Asterisks, keeping the last `mask_keep` characters.
    Mask,
    /// `[rule-id:0123abcd…]`: a keyed HMAC-SHA256 of the value, so the same value maps to the same token
    /// under one key, and different keys do not link. Needs a key (see `pseudonym_key_env`).
    Pseudonym,
}

/// `[redact]`: what replaces a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RedactConfig {
    /// Operator for secrets.
    pub secret: Operator,
    /// Operator for personal data.
    pub pii: Operator,
    /// Per-rule operators that win over the per-kind ones, e.g. `{ email = "pseudonym" }`.
    pub rules: BTreeMap<String, Operator>,
    /// How many trailing characters `mask` keeps (0 to 8).
    pub mask_keep: usize,
    /// Name of the environment variable holding the pseudonym key (at least 16 bytes). The key is never
    /// written in this file.
    pub pseudonym_key_env: String,
    /// The pseudonym key from somewhere else than `pseudonym_key_env`: `vault:NAME`, `env:NAME` or
    /// `file:/PATH`, never the key itself.
    pub pseudonym_key: crate::vault::cfg::SecretRef,
}

impl Default for RedactConfig {
    fn default() -> Self {
        RedactConfig {
            secret: Operator::Placeholder,
            pii: Operator::Placeholder,
            rules: BTreeMap::new(),
            mask_keep: 4,
            pseudonym_key_env: "BULWARK_PSEUDONYM_KEY".to_string(),
            pseudonym_key: crate::vault::cfg::SecretRef::Unset,
        }
    }
}

impl ScanConfig {
    /// Check the values serde cannot: ranges and orderings.
    pub fn check(&self, p: &mut Problems) {
        if self.max_file_bytes == 0 {
            p.invalid(
                "scan.max_file_bytes",
                "0",
                "a positive number of bytes, e.g. 10485760",
            );
        }
        if self.block_at < self.review_at {
            p.invalid(
                "scan.block_at",
                format!("\"{}\"", self.block_at.as_str()),
                format!(
                    "a severity at or above scan.review_at (\"{}\")",
                    self.review_at.as_str()
                ),
            );
        }
        let e = self.secrets.generic_min_entropy;
        if !(0.0..=8.0).contains(&e) || e.is_nan() {
            p.invalid(
                "scan.secrets.generic_min_entropy",
                e.to_string(),
                "a number of bits per character from 0.0 to 8.0 (default 3.0)",
            );
        }
        let inj = &self.injection;
        for (key, v) in [
            ("scan.injection.review_score", inj.review_score),
            ("scan.injection.block_score", inj.block_score),
            (
                "scan.injection.untrusted_review_score",
                inj.untrusted_review_score,
            ),
            (
                "scan.injection.untrusted_block_score",
                inj.untrusted_block_score,
            ),
            ("scan.injection.model_threshold", inj.model_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                p.invalid(key, v.to_string(), "a score from 0.0 to 1.0");
            }
        }
        if inj.block_score < inj.review_score {
            p.invalid(
                "scan.injection.block_score",
                inj.block_score.to_string(),
                format!(
                    "a score at or above scan.injection.review_score ({})",
                    inj.review_score
                ),
            );
        }
        if inj.untrusted_block_score < inj.untrusted_review_score {
            p.invalid(
                "scan.injection.untrusted_block_score",
                inj.untrusted_block_score.to_string(),
                format!(
                    "a score at or above scan.injection.untrusted_review_score ({})",
                    inj.untrusted_review_score
                ),
            );
        }
        if inj.decode_depth > 4 {
            p.invalid(
                "scan.injection.decode_depth",
                inj.decode_depth.to_string(),
                "a depth from 0 to 4 (default 2)",
            );
        }
    }
}

impl RedactConfig {
    /// Check the values serde cannot.
    pub fn check(&self, p: &mut Problems) {
        if self.mask_keep > 8 {
            p.invalid(
                "redact.mask_keep",
                self.mask_keep.to_string(),
                "a number of characters from 0 to 8",
            );
        }
        if self.pseudonym_key_env.is_empty()
            || !self
                .pseudonym_key_env
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            p.invalid(
                "redact.pseudonym_key_env",
                format!("{:?}", self.pseudonym_key_env),
                "an environment variable name (letters, digits, underscores)",
            );
        }
    }
}
