//! The content guard: secrets and personal data in text an agent reads, writes or logs.
//!
//! Threat answered: credentials and personal data leaking through prompts, tool output, logs and
//! repositories. The [`Scanner`] is compiled once from configuration and shared across threads; it
//! finds candidates with a literal prefilter (Aho-Corasick over every rule's anchors), runs each
//! rule's regex only in a window around its anchors, then validates (entropy, checksums, formats).
//! Findings never carry the raw value, only a short redacted preview.

pub mod boundary;
pub mod cfg;
mod checks;
mod disguised;
mod engine;
pub mod injection;
pub mod pii;
pub mod redact;
pub mod report;
mod rules;

use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use regex::bytes::Regex;

pub use checks::github_token_with_checksum;
pub use redact::{
    RedactError, Redacted, RedactingMakeWriter, RedactingWriter, Redactor, StreamRedactor,
};

use crate::config::problems::Problems;
use crate::finding::{Finding, FindingKind, Severity, Span, Verdict, preview};
pub use cfg::{InjectionConfig, Operator, PiiConfig, RedactConfig, ScanConfig, SecretsConfig};
use engine::*;
use rules::{Check, RuleSpec, Window};

/// Which detector families a scan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detectors {
    /// Secret detectors.
    pub secrets: bool,
    /// Personal-data detectors.
    pub pii: bool,
    /// Prompt-injection detection.
    pub injection: bool,
}

impl Detectors {
    /// Every detector family.
    pub const ALL: Detectors = Detectors {
        secrets: true,
        pii: true,
        injection: true,
    };

    /// Secrets and personal data: the default for files and for redaction.
    pub const CONTENT: Detectors = Detectors {
        secrets: true,
        pii: true,
        injection: false,
    };

    /// Parse a comma-separated list such as `secrets,pii` (`all` selects every family).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut d = Detectors {
            secrets: false,
            pii: false,
            injection: false,
        };
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "secrets" | "secret" => d.secrets = true,
                "pii" => d.pii = true,
                "injection" => d.injection = true,
                "all" => d = Detectors::ALL,
                other => {
                    return Err(format!(
                        "unknown detector {other:?}: expected a comma-separated list of secrets, pii, injection, all"
                    ));
                }
            }
        }
        if !d.secrets && !d.pii && !d.injection {
            return Err("no detector selected: expected secrets, pii, injection or all".into());
        }
        Ok(d)
    }
}

/// Everything one scan of one text concluded.
#[derive(Debug, Clone)]
pub struct Assessment {
    /// The verdict over every finding.
    pub verdict: Verdict,
    /// Findings sorted by start offset.
    pub findings: Vec<Finding>,
    /// The prompt-injection score (0 to 1) when injection detection ran.
    pub injection_score: Option<f32>,
}

/// A description of one rule, for `bulwark scan --list-rules`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleInfo {
    /// Stable id.
    pub id: &'static str,
    /// What it finds.
    pub kind: FindingKind,
    /// Severity of its findings.
    pub severity: Severity,
    /// A human description.
    pub description: &'static str,
}

/// Every rule id, secrets and PII: what configuration may name.
pub fn rule_ids() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> = rules::secret_rules().iter().map(|r| r.id).collect();
    ids.extend(pii::PII_RULES.iter().map(|r| r.0));
    ids
}

/// Check `[scan]` and `[redact]`: their own ranges, then the names they give (trusted sources,
/// rule ids) against what the content guard knows.
pub fn check_config(scan: &ScanConfig, redact: &RedactConfig, p: &mut Problems) {
    scan.check(p);
    redact.check(p);
    for s in &scan.injection.trusted_sources {
        if let Err(e) = crate::scan::injection::Source::parse(s) {
            p.invalid("scan.injection.trusted_sources", format!("{s:?}"), &e);
        }
    }
    let known = rule_ids();
    for (i, r) in scan.secrets.disabled_rules.iter().enumerate() {
        if !known.contains(&r.as_str()) {
            p.invalid(
                format!("scan.secrets.disabled_rules[{i}]"),
                format!("{r:?}"),
                "a rule id listed by `bulwark scan --list-rules`",
            );
        }
    }
    for r in redact.rules.keys() {
        if !known.contains(&r.as_str()) {
            p.invalid(
                format!("redact.rules.{r}"),
                format!("{r:?}"),
                "a rule id listed by `bulwark scan --list-rules`",
            );
        }
    }
}

/// Every rule with its description.
pub fn rule_catalog() -> Vec<RuleInfo> {
    let mut v: Vec<RuleInfo> = rules::secret_rules()
        .iter()
        .map(|r| RuleInfo {
            id: r.id,
            kind: FindingKind::Secret,
            severity: r.severity,
            description: r.description,
        })
        .collect();
    v.extend(pii::PII_RULES.iter().map(|(id, sev, desc)| RuleInfo {
        id,
        kind: FindingKind::Pii,
        severity: *sev,
        description: desc,
    }));
    v.extend(
        injection::patterns::patterns()
            .into_iter()
            .map(|p| RuleInfo {
                id: p.id,
                kind: FindingKind::Injection,
                severity: Severity::Info,
                description: p.description,
            }),
    );
    v.extend(
        injection::SIGNAL_RULES
            .iter()
            .map(|&(id, description)| RuleInfo {
                id,
                kind: FindingKind::Injection,
                severity: Severity::Info,
                description,
            }),
    );
    v
}

/// An error building a scanner: a rule that does not compile (a bug, reported with the rule id).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The injection detector could not be built.
    #[error(transparent)]
    Injection(#[from] injection::InjectionError),
    /// A rule's regex or the prefilter failed to build.
    #[error("rule {rule} does not compile: {message}")]
    Compile {
        /// The rule id.
        rule: String,
        /// The compiler's message.
        message: String,
    },
}

struct Inner {
    rules: Vec<CompiledRule>,
    /// Every anchor, searched where the text is not plain prose (see [`is_plain`]).
    prefilters: Vec<Prefilter>,
    /// The anchors made of plain bytes only, searched in runs of plain prose: nothing else can
    /// occur there.
    plain_prefilters: Vec<Prefilter>,
    /// The length of the longest anchor.
    longest_anchor: usize,
    gate: Option<KeywordGate>,
    pii: pii::PiiDetector,
    secrets_enabled: bool,
    generic_min_entropy: f64,
    review_at: Severity,
    block_at: Severity,
    injection: Option<injection::InjectionDetector>,
}

/// The compiled content guard. Cheap to clone (an `Arc`), safe to share across threads.
#[derive(Clone)]
pub struct Scanner {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("secret_rules", &self.inner.rules.len())
            .finish_non_exhaustive()
    }
}

impl Scanner {
    /// Compile a scanner from the `[scan]` section.
    pub fn new(cfg: &ScanConfig) -> Result<Self, ScanError> {
        let specs: Vec<RuleSpec> = rules::secret_rules()
            .into_iter()
            .filter(|r| !cfg.secrets.disabled_rules.iter().any(|d| d == r.id))
            .collect();
        let compiled: Vec<CompiledRule> = specs
            .iter()
            .map(|s| CompiledRule {
                id: s.id,
                description: s.description,
                severity: s.severity,
                source: s.regex.clone(),
                groups_source: s.groups.clone(),
                matcher: std::sync::OnceLock::new(),
                check: s.check,
                window: s.window,
            })
            .collect();
        let gate = build_gate(&specs)?;
        let anchors = prefilter_anchors(&specs, gate.is_some());
        let longest_anchor = anchors.first().map_or(0, |a| a.0.len());
        let plain: Vec<_> = anchors
            .iter()
            .filter(|(a, _)| a.bytes().all(is_plain))
            .cloned()
            .collect();
        let prefilters = build_prefilters(&anchors, false)?;
        let plain_prefilters = build_prefilters(&plain, true)?;
        let disabled_pii = cfg.secrets.disabled_rules.clone();
        // `scan.enabled = false` turns personal data off too.
        let pii_cfg = crate::scan::cfg::PiiConfig {
            enabled: cfg.enabled && cfg.pii.enabled,
            ..cfg.pii.clone()
        };
        Ok(Scanner {
            inner: Arc::new(Inner {
                rules: compiled,
                prefilters,
                plain_prefilters,
                longest_anchor,
                gate,
                pii: pii::PiiDetector::new(&pii_cfg, &disabled_pii),
                secrets_enabled: cfg.enabled && cfg.secrets.enabled,
                generic_min_entropy: cfg.secrets.generic_min_entropy,
                review_at: cfg.review_at,
                block_at: cfg.block_at,
                injection: if cfg.enabled && cfg.injection.enabled {
                    Some(injection::InjectionDetector::new(&cfg.injection)?)
                } else {
                    None
                },
            }),
        })
    }

    /// A scanner with the default configuration.
    pub fn with_defaults() -> Result<Self, ScanError> {
        Self::new(&ScanConfig::default())
    }

    /// Number of secret rules.
    pub fn secret_rule_count(&self) -> usize {
        self.inner.rules.len()
    }

    /// Compile every rule's regex now instead of on first use (for long-running servers that prefer
    /// to pay once at start). Fails with the first rule that does not compile.
    pub fn precompile(&self) -> Result<(), ScanError> {
        for r in &self.inner.rules {
            if r.matcher().is_none() {
                let message = Matcher::compile(&r.source, r.groups_source.as_deref())
                    .err()
                    .map_or_else(String::new, |e| e.to_string());
                return Err(ScanError::Compile {
                    rule: r.id.to_string(),
                    message,
                });
            }
        }
        if let Some(d) = &self.inner.injection {
            d.precompile()?;
        }
        Ok(())
    }

    /// Scan text with every enabled detector. Findings are sorted by start offset; `line` and
    /// `column` are left empty (see [`crate::finding::locate`]).
    pub fn scan(&self, text: &[u8]) -> Vec<Finding> {
        self.scan_with(text, Detectors::ALL)
    }

    /// Scan text with the chosen detector families (injection, if chosen, as text from an
    /// untrusted source of unknown kind: `other`).
    pub fn scan_with(&self, text: &[u8], detectors: Detectors) -> Vec<Finding> {
        self.assess(text, detectors, &injection::Source::other())
            .findings
    }

    /// Scan text from `source` and conclude: findings, verdict and injection score. The source only
    /// matters to injection detection (untrusted sources get stricter thresholds).
    pub fn assess(
        &self,
        text: &[u8],
        detectors: Detectors,
        source: &injection::Source,
    ) -> Assessment {
        let mut out = Vec::new();
        if detectors.secrets && self.inner.secrets_enabled {
            let busy = self.scan_secrets(text, &mut out);
            self.scan_disguised_secrets(text, &busy, &mut out);
        }
        if detectors.pii {
            self.inner.pii.scan(text, &mut out);
        }
        out.sort_by(|a, b| {
            a.sort_span()
                .start
                .cmp(&b.sort_span().start)
                .then(b.sort_span().end.cmp(&a.sort_span().end))
        });
        resolve_overlaps(&mut out);
        let mut injection_score = None;
        if detectors.injection
            && let Some(det) = &self.inner.injection
        {
            let report = det.analyze(text, source, self.inner.review_at, self.inner.block_at);
            injection_score = Some(report.score);
            if !report.findings.is_empty() {
                out.extend(report.findings);
                out.sort_by(|a, b| {
                    a.sort_span()
                        .start
                        .cmp(&b.sort_span().start)
                        .then(b.sort_span().end.cmp(&a.sort_span().end))
                });
            }
        }
        Assessment {
            verdict: self.verdict(&out),
            findings: out,
            injection_score,
        }
    }

    /// The injection detector, when injection detection is enabled.
    pub fn injection(&self) -> Option<&injection::InjectionDetector> {
        self.inner.injection.as_ref()
    }

    /// Scan a reader of any size with bounded memory: it is read in chunks of `chunk` bytes, each
    /// scanned with the last [`redact::STREAM_TAIL`] bytes of the previous one, so a match that
    /// straddles a chunk boundary is found once. Injection detection, when chosen, judges each
    /// chunk as text from `source`. `on_finding` receives each finding (in order, with
    /// offsets, lines and columns relative to the whole stream), the matched bytes, and the line they
    /// are on (at most a few KiB of it). Returns the number of bytes read.
    pub fn scan_reader<R: std::io::Read>(
        &self,
        mut reader: R,
        detectors: Detectors,
        source: &injection::Source,
        chunk: usize,
        mut on_finding: impl FnMut(Finding, &[u8], &[u8]),
    ) -> std::io::Result<u64> {
        let chunk = chunk.max(redact::STREAM_TAIL);
        let mut buf: Vec<u8> = Vec::with_capacity(chunk + redact::STREAM_TAIL);
        let mut base: usize = 0; // stream offset of buf[0]
        let mut line_base: usize = 1; // line number of buf[0]
        let mut col_base: usize = 0; // bytes between the last newline and buf[0]
        let mut total: u64 = 0;
        let mut eof = false;
        while !eof {
            // Fill the buffer up to `chunk` new bytes, appending without zeroing first (a file
            // shorter than the chunk would otherwise pay for zeroing the whole chunk, twice).
            let n = std::io::Read::read_to_end(
                &mut std::io::Read::take(&mut reader, chunk as u64),
                &mut buf,
            )?;
            total += n as u64;
            eof = n < chunk;
            let cut = if eof {
                buf.len()
            } else {
                let limit = buf.len().saturating_sub(redact::STREAM_TAIL);
                let lo = limit.saturating_sub(redact::STREAM_TAIL / 2);
                memchr::memrchr(b'\n', &buf[lo..limit]).map_or(limit, |i| lo + i + 1)
            };
            let mut found = self.assess(&buf, detectors, source).findings;
            found.retain(|f| f.sort_span().start < cut);
            crate::finding::locate(&mut found, &buf);
            for mut f in found {
                let Span { start: s, end: e } = f.sort_span();
                let lo = s.saturating_sub(4096);
                let ls = memchr::memrchr(b'\n', &buf[lo..s]).map_or(lo, |i| lo + i + 1);
                let hi = (e + 4096).min(buf.len());
                let le = memchr::memchr(b'\n', &buf[e..hi]).map_or(hi, |i| e + i);
                f.shift(base, line_base - 1, col_base);
                on_finding(f, &buf[s..e], &buf[ls..le]);
            }
            let done = &buf[..cut];
            let newlines = memchr::memchr_iter(b'\n', done).count();
            match memchr::memrchr(b'\n', done) {
                Some(i) => col_base = cut - i - 1,
                None => col_base += cut,
            }
            line_base += newlines;
            base += cut;
            buf.drain(..cut);
        }
        Ok(total)
    }

    /// The verdict the configured thresholds give these findings.
    pub fn verdict(&self, findings: &[Finding]) -> Verdict {
        verdict_for(findings, self.inner.review_at, self.inner.block_at)
    }
}

/// The verdict for findings given thresholds.
pub fn verdict_for(findings: &[Finding], review_at: Severity, block_at: Severity) -> Verdict {
    match findings.iter().map(|f| f.severity).max() {
        Some(s) if s >= block_at => Verdict::Block,
        Some(s) if s >= review_at => Verdict::Review,
        _ => Verdict::Allow,
    }
}

/// Drop duplicates: the generic rule yields to any specific finding it overlaps, personal data inside
/// a secret is dropped, and of two findings with the same span and kind the first (more specific) stays.
fn resolve_overlaps(findings: &mut Vec<Finding>) {
    if findings.len() < 2 {
        return;
    }
    let spans = |keep: &dyn Fn(&Finding) -> bool| {
        SpanIndex::new(
            findings
                .iter()
                .filter(|f| keep(f))
                .map(|f| f.sort_span().into()),
        )
    };
    let specific = specific_spans(findings);
    let secrets = spans(&|f| f.kind == FindingKind::Secret);
    let pii = spans(&|f| f.kind == FindingKind::Pii);
    let mut seen: std::collections::HashSet<(usize, usize, FindingKind)> =
        std::collections::HashSet::new();
    findings.retain(|f| {
        let Span { start, end } = f.sort_span();
        // The generic rule yields to specific ones; personal data inside a secret is part of it.
        if (f.rule == rules::GENERIC_RULE && specific.overlaps(start, end))
            || (f.kind == FindingKind::Pii && secrets.overlaps(start, end))
        {
            return false;
        }
        // An IPv4 address inside an IPv6 one (any PII inside a larger PII span) is part of it.
        if f.kind == FindingKind::Pii && pii.strictly_contains(start, end) {
            return false;
        }
        seen.insert((start, end, f.kind))
    });
}

#[cfg(test)]
mod tests;
