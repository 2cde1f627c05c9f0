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
use crate::finding::{Finding, FindingKind, Severity, Verdict, preview};
pub use cfg::{InjectionConfig, Operator, PiiConfig, RedactConfig, ScanConfig, SecretsConfig};
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

struct CompiledRule {
    id: &'static str,
    description: &'static str,
    severity: Severity,
    source: String,
    /// The rule's [`RuleSpec::groups`] regex, if it has one.
    groups_source: Option<String>,
    /// Compiled on first use: most rules never fire in a given process, and compiling all of them up
    /// front would cost every short-lived `bulwark` run tens of milliseconds.
    matcher: std::sync::OnceLock<Option<Matcher>>,
    check: Check,
    window: Window,
}

/// A rule's compiled regex and the indices of its named groups.
struct Matcher {
    regex: Regex,
    /// The regex that finds the groups over each match of `regex`, anchored at both ends (see
    /// [`RuleSpec::groups`]); the group indices are this one's. Without it, `regex` finds them.
    groups: Option<Regex>,
    secret_group: Option<usize>,
    xml_group: Option<usize>,
    name_group: Option<usize>,
    quote_group: Option<usize>,
    op_group: Option<usize>,
    name_quote_group: Option<usize>,
    comma_quote_group: Option<usize>,
}

impl Matcher {
    /// ASCII semantics: `\w`, `\s` and case folding stay small and fast; non-ASCII bytes in a value
    /// are matched by negated classes byte by byte.
    fn compile(source: &str, groups: Option<&str>) -> Result<Self, regex::Error> {
        let build = |source: &str| {
            regex::bytes::RegexBuilder::new(source)
                .unicode(false)
                .size_limit(20 << 20)
                .build()
        };
        let regex = build(source)?;
        let groups = groups
            .map(|g| build(&format!(r"\A(?:{g})\z")))
            .transpose()?;
        let names = groups.as_ref().unwrap_or(&regex);
        let group = |name: &str| names.capture_names().position(|n| n == Some(name));
        Ok(Matcher {
            secret_group: group("s"),
            xml_group: group("x"),
            name_group: group("name"),
            quote_group: group("q"),
            op_group: group("op"),
            name_quote_group: group("nq"),
            comma_quote_group: group("cq"),
            regex,
            groups,
        })
    }
}

impl CompiledRule {
    fn matcher(&self) -> Option<&Matcher> {
        // Every rule's regex is checked by a unit test (`every_rule_compiles_and_there_are_enough`);
        // were one to fail anyway, that rule would find nothing rather than take the scanner down.
        self.matcher
            .get_or_init(|| Matcher::compile(&self.source, self.groups_source.as_deref()).ok())
            .as_ref()
    }
}

/// A set of literals searched leftmost-longest: with Teddy (`packed`, vector instructions) where the
/// CPU has them, which verifies its candidates itself; else with an Aho-Corasick automaton.
struct Literals {
    searcher: Searcher,
    /// For each pattern as the searcher numbers it, its index in the caller's list.
    index: Vec<usize>,
}

enum Searcher {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl Literals {
    fn new(patterns: &[&[u8]]) -> Result<Self, ScanError> {
        let index = teddy_order(patterns);
        let ordered: Vec<&[u8]> = index.iter().map(|&i| patterns[i]).collect();
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(&ordered)
            .build();
        let searcher = match packed {
            Some(searcher) => Searcher::Packed(searcher),
            None => AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&ordered)
                .map(Searcher::Automaton)
                .map_err(|e| ScanError::Compile {
                    rule: "prefilter".into(),
                    message: e.to_string(),
                })?,
        };
        Ok(Literals { searcher, index })
    }

    /// Every leftmost-longest match that starts in `span` of `text`, in order, as (start, end, the
    /// pattern's index in the list given to [`Literals::new`]).
    fn find_iter<'a>(
        &'a self,
        text: &'a [u8],
        span: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (usize, usize, usize)> + 'a {
        let (mut at, end) = (span.start, span.end);
        std::iter::from_fn(move || {
            let m = match &self.searcher {
                Searcher::Packed(p) => p.find_in(text, aho_corasick::Span { start: at, end }),
                Searcher::Automaton(a) => a.find(Input::new(text).span(at..end)),
            }?;
            at = m.end().max(m.start() + 1);
            Some((m.start(), m.end(), self.index[m.pattern().as_usize()]))
        })
    }
}

/// How many buckets Teddy makes for `n` patterns: 16 (fat Teddy) for more than 32 where the CPU has
/// AVX2, else 8.
fn teddy_buckets(n: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if n > 32 && std::arch::is_x86_feature_detected!("avx2") {
        return 16;
    }
    8
}

/// The order to give Teddy `patterns` in (as indices into them). Teddy puts a pattern in bucket
/// `id % buckets` (counted down), unless an earlier one has the same low halves of its first bytes,
/// and it verifies a candidate against every pattern of its bucket: a bucket is best made of
/// patterns that start alike, which add few bytes to each other's fingerprint. So patterns sorted by
/// their first bytes (ASCII case folded) are dealt into the buckets in runs: `sk_live_`, `sk_prod_`
/// and `sk_test_` share one. With three automata of long anchors, this took the secret scan of the
/// mixed bench corpus from 15.5 to 11.7 ms per 8 MiB: dealt in the order they came, some buckets
/// matched nearly everywhere.
fn teddy_order(patterns: &[&[u8]]) -> Vec<usize> {
    let n = patterns.len();
    let mut sorted: Vec<usize> = (0..n).collect();
    sorted.sort_by_cached_key(|&i| {
        let p = patterns[i];
        let folded: Vec<u8> = p
            .iter()
            .take(TEDDY_MASK)
            .map(u8::to_ascii_lowercase)
            .collect();
        (folded, p)
    });
    let buckets = teddy_buckets(n);
    let ids = (0..buckets).flat_map(|b| (b..n).step_by(buckets));
    let mut order = vec![0; n];
    for (id, i) in ids.zip(sorted) {
        order[id] = i;
    }
    order
}

/// One prefilter automaton and, for each of its patterns, the rules it wakes.
struct Prefilter {
    automaton: Literals,
    rules_of_pattern: Vec<Vec<u16>>,
}

/// The second stage for keyword rules: service names searched only in the lines a wake word found.
struct KeywordGate {
    automaton: AhoCorasick,
    rules_of_pattern: Vec<Vec<u16>>,
}

/// In a prefilter's rule list, this index stands for the keyword gate rather than a rule.
const GATE: u16 = u16::MAX;

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

/// Patterns per automaton: Aho-Corasick keeps its vectorised (Teddy) prefilter up to about this many.
const PATTERNS_PER_AUTOMATON: usize = 64;
/// Teddy fingerprints the first (at most) four bytes of each pattern, as many as the automaton's
/// shortest pattern has: one shorter anchor weakens the fingerprint of all the others.
const TEDDY_MASK: usize = 4;
/// The unit in which runs of plain prose are found and skipped (see [`is_plain`]): large enough that
/// a skip saves more than it costs to start one more search.
const PLAIN_BLOCK: usize = 4096;
/// How far a single-line window reaches before and after its anchor.
const LINE_BEFORE: usize = 1024;
const LINE_AFTER: usize = 4096;

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
            self.scan_secrets(text, &mut out);
        }
        if detectors.pii {
            self.inner.pii.scan(text, &mut out);
        }
        out.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        resolve_overlaps(&mut out);
        let mut injection_score = None;
        if detectors.injection
            && let Some(det) = &self.inner.injection
        {
            let report = det.analyze(text, source, self.inner.review_at, self.inner.block_at);
            injection_score = Some(report.score);
            if !report.findings.is_empty() {
                out.extend(report.findings);
                out.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
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
            // Fill the buffer up to `chunk` new bytes.
            let target = buf.len() + chunk;
            while buf.len() < target {
                let old = buf.len();
                buf.resize(target, 0);
                match reader.read(&mut buf[old..]) {
                    Ok(0) => {
                        buf.truncate(old);
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        buf.truncate(old + n);
                        total += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(old),
                    Err(e) => return Err(e),
                }
            }
            let cut = if eof {
                buf.len()
            } else {
                let limit = buf.len().saturating_sub(redact::STREAM_TAIL);
                let lo = limit.saturating_sub(redact::STREAM_TAIL / 2);
                memchr::memrchr(b'\n', &buf[lo..limit]).map_or(limit, |i| lo + i + 1)
            };
            let mut found = self.assess(&buf, detectors, source).findings;
            found.retain(|f| f.start < cut);
            crate::finding::locate(&mut found, &buf);
            for mut f in found {
                if f.line == Some(1) {
                    f.column = f.column.map(|c| c + col_base);
                }
                f.line = f.line.map(|l| l + line_base - 1);
                let (s, e) = (f.start, f.end);
                let lo = s.saturating_sub(4096);
                let ls = memchr::memrchr(b'\n', &buf[lo..s]).map_or(lo, |i| lo + i + 1);
                let hi = (e + 4096).min(buf.len());
                let le = memchr::memchr(b'\n', &buf[e..hi]).map_or(hi, |i| e + i);
                f.start += base;
                f.end += base;
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

    fn scan_secrets(&self, text: &[u8], out: &mut Vec<Finding>) {
        let inner = &*self.inner;
        // Per rule (and, last, for the keyword gate): the window waiting to be searched, merged while
        // hits overlap.
        let gate_slot = inner.rules.len();
        let mut pending: Vec<Option<(usize, usize)>> = vec![None; inner.rules.len() + 1];
        // The slots holding a window, so a short text costs its hits, not the number of rules.
        let mut touched: Vec<usize> = Vec::new();
        // Every pass's windows, as (slot, start, end): searched once all passes are done, so that
        // windows of one rule found by different passes (`password` and `pass` are in different
        // automata) are merged too and no line is searched twice by the same rule.
        let mut windows: Vec<(usize, usize, usize)> = Vec::new();
        // Runs of plain prose (at least a block long) can hold only the plain anchors: there, the
        // few automata of those; elsewhere, every automaton. A run's edges are searched with the
        // plain automata too, keeping the anchors that overlap the run (the others lie inside the
        // text around it, searched in full).
        let busy = not_plain_spans(text, inner.longest_anchor);
        let mut calm = Vec::new();
        let mut at = 0;
        for span in busy
            .iter()
            .chain(std::iter::once(&(text.len()..text.len())))
        {
            if span.start > at {
                calm.push(at..span.start);
            }
            at = span.end;
        }
        let reach = inner.longest_anchor.saturating_sub(1);
        let passes = inner
            .prefilters
            .iter()
            .map(|pf| (pf, &busy, false))
            .chain(inner.plain_prefilters.iter().map(|pf| (pf, &calm, true)));
        for (pf, spans, calm) in passes {
            let hits = spans.iter().flat_map(|span| {
                let search = if calm {
                    span.start.saturating_sub(reach)..(span.end + reach).min(text.len())
                } else {
                    span.clone()
                };
                let keep = span.clone();
                pf.automaton
                    .find_iter(text, search)
                    .filter(move |&(s, e, _)| !calm || (e > keep.start && s < keep.end))
            });
            for (start, end, pattern) in hits {
                for &ri in &pf.rules_of_pattern[pattern] {
                    let (slot, w) = if ri == GATE {
                        (gate_slot, Window::Element)
                    } else {
                        (ri as usize, inner.rules[ri as usize].window)
                    };
                    let (ws, we) = window(text, start, end, w);
                    match &mut pending[slot] {
                        Some((ps, pe)) if ws <= *pe => {
                            *ps = (*ps).min(ws);
                            *pe = (*pe).max(we);
                        }
                        p => {
                            match p.take() {
                                Some((ps, pe)) => windows.push((slot, ps, pe)),
                                None => touched.push(slot),
                            }
                            *p = Some((ws, we));
                        }
                    }
                }
            }
            // Each automaton reports in text order: a slot's windows are merged as they come.
            for slot in touched.drain(..) {
                if let Some((ps, pe)) = pending[slot].take() {
                    windows.push((slot, ps, pe));
                }
            }
        }
        // Rule by rule (in rule order: of two findings of the same span, the first stays), each
        // rule's windows in text order, merged where they overlap.
        windows.sort_unstable();
        // The specific rules' findings, once they are all in (the generic rule comes after them):
        // a generic value over one of them would be dropped in the end, so it is not checked.
        let mut specific: Option<SpanIndex> = None;
        let mut merged = windows.into_iter().peekable();
        while let Some((slot, ws, mut we)) = merged.next() {
            while let Some((_, _, next_end)) = merged.next_if(|&(s, nws, _)| s == slot && nws <= we)
            {
                we = we.max(next_end);
            }
            if specific.is_none()
                && inner
                    .rules
                    .get(slot)
                    .is_some_and(|r| r.id == rules::GENERIC_RULE)
            {
                specific = Some(specific_spans(out));
            }
            self.flush(slot, text, ws, we, specific.as_ref(), out);
        }
        paired_aws_secrets(text, out);
    }

    /// Search a merged window: with its rule, or, for the gate slot, with the keyword rules whose
    /// service names appear in it. The generic rule passes over values in `specific` spans.
    fn flush(
        &self,
        slot: usize,
        text: &[u8],
        ws: usize,
        we: usize,
        specific: Option<&SpanIndex>,
        out: &mut Vec<Finding>,
    ) {
        if slot < self.inner.rules.len() {
            self.confirm(slot, text, ws, we, specific, out);
            return;
        }
        let Some(gate) = &self.inner.gate else { return };
        let mut done: Vec<(u16, usize)> = Vec::new();
        for m in gate.automaton.find_iter(&text[ws..we]) {
            let (ks, ke) = window(text, ws + m.start(), ws + m.end(), Window::Element);
            for &ri in &gate.rules_of_pattern[m.pattern().as_usize()] {
                if done.contains(&(ri, ks)) {
                    continue;
                }
                done.push((ri, ks));
                self.confirm(ri as usize, text, ks, ke, None, out);
            }
        }
    }

    /// Run rule `ri`'s regex over `text[ws..we]` and validate each match. The generic rule passes
    /// over values that overlap a span of `specific`, where it yields (see [`resolve_overlaps`]).
    fn confirm(
        &self,
        ri: usize,
        text: &[u8],
        ws: usize,
        we: usize,
        specific: Option<&SpanIndex>,
        out: &mut Vec<Finding>,
    ) {
        let rule = &self.inner.rules[ri];
        let generic = rule.id == rules::GENERIC_RULE;
        let Some(mm) = rule.matcher() else { return };
        let hay = &text[ws..we];
        // Each match's groups, with the offset in `hay` their positions count from.
        let narrow = mm.groups.as_ref().map(|g| {
            mm.regex
                .find_iter(hay)
                .filter_map(move |m| g.captures(&hay[m.range()]).map(|c| (m.start(), c)))
        });
        let whole = match narrow {
            Some(_) => None,
            None => Some(mm.regex.captures_iter(hay).map(|c| (0, c))),
        };
        for (base, caps) in narrow
            .into_iter()
            .flatten()
            .chain(whole.into_iter().flatten())
        {
            let at = ws + base;
            let get = |g: Option<usize>| g.and_then(|g| caps.get(g));
            let xml = get(mm.xml_group);
            let Some(m) = get(mm.secret_group).or(xml).or_else(|| caps.get(0)) else {
                continue;
            };
            let value = m.as_bytes();
            if generic && specific.is_some_and(|s| s.overlaps(at + m.start(), at + m.end())) {
                continue;
            }
            let ok = match rule.check {
                Check::Format => true,
                Check::Keyword(min) => {
                    !checks::is_example_value(value) && checks::entropy(value) >= min
                }
                Check::Entropy(min) => {
                    !checks::is_example_token(value) && checks::entropy(value) >= min
                }
                Check::GithubChecksum => {
                    !checks::is_example_token(value) && checks::github_checksum_ok(value)
                }
                Check::Jwt => checks::jwt_header_ok(value),
                Check::UrlPassword => checks::credential_pair_ok(value),
                Check::PrivateKeyBody => checks::private_key_body_ok(value),
                Check::KubernetesSecret => checks::kubernetes_secret_ok(hay, value),
                Check::Generic => {
                    let bytes = |g: Option<usize>| get(g).map(|n| n.as_bytes()).unwrap_or_default();
                    let space_after_op = get(mm.op_group)
                        .is_some_and(|o| matches!(hay.get(base + o.end()), Some(b' ' | b'\t')));
                    let ctx = Assignment {
                        name: bytes(mm.name_group),
                        op: bytes(mm.op_group),
                        space_after_op,
                        name_quoted: !bytes(mm.name_quote_group).is_empty()
                            || get(mm.comma_quote_group).is_some(),
                        value_quoted: xml.is_some()
                            || get(mm.comma_quote_group).is_some()
                            || mm.quote_group.is_none_or(|g| caps.get(g).is_some()),
                    };
                    generic_ok(&ctx, value, self.inner.generic_min_entropy)
                }
            };
            if !ok {
                continue;
            }
            let (start, mut end) = if matches!(rule.check, Check::PrivateKeyBody) {
                // Redact the whole block, armour included.
                let whole = caps.get(0).map_or(m, |w| w);
                (at + whole.start(), at + whole.end())
            } else {
                (at + m.start(), at + m.end())
            };
            // A quoted value runs to its closing quote: `"Tr0ub4dor&3x yz#Q"` is one secret, and
            // redacting up to its first space would leave the rest in clear.
            if let Some(q) = get(mm.quote_group).and_then(|q| q.as_bytes().last().copied())
                && matches!(q, b'"' | b'\'' | b'`')
                && text.get(end) != Some(&q)
            {
                let rest = &text[end..(end + MAX_QUOTED_TAIL).min(text.len())];
                if let Some(close) = rest.iter().position(|&b| b == q || b == b'\n')
                    && rest[close] == q
                {
                    end += close;
                }
            }
            let message = if matches!(rule.check, Check::GithubChecksum) {
                format!("{} (checksum verified)", rule.description)
            } else {
                rule.description.to_string()
            };
            out.push(Finding {
                field: None,
                kind: FindingKind::Secret,
                rule: rule.id.to_string(),
                category: None,
                severity: rule.severity,
                start,
                end,
                line: None,
                column: None,
                message,
                preview: preview(&text[start..end]),
            });
        }
    }
}

/// Longest stretch a quoted secret is followed past its first unquoted-looking end to its closing
/// quote.
const MAX_QUOTED_TAIL: usize = 512;

/// An AWS secret access key written right after its key id (`AKIA...:wJalr...`, `AKIA... wJalr...`),
/// where no `aws_secret_access_key =` names it: 40 characters of its alphabet after one separator.
fn paired_aws_secrets(text: &[u8], out: &mut Vec<Finding>) {
    const KEY_LEN: usize = 40;
    let ids: Vec<usize> = out
        .iter()
        .filter(|f| f.rule == "aws-access-key-id")
        .map(|f| f.end)
        .collect();
    let is_key_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'=');
    for id_end in ids {
        let Some(&sep) = text.get(id_end) else {
            continue;
        };
        if !matches!(sep, b':' | b'/' | b' ' | b'\t' | b',' | b';' | b'|' | b'=') {
            continue;
        }
        let start = id_end + 1;
        let end = start + KEY_LEN;
        let Some(value) = text.get(start..end) else {
            continue;
        };
        if !value.iter().all(|&b| is_key_byte(b))
            || text.get(end).is_some_and(|&b| is_key_byte(b))
            || checks::entropy(value) < 3.5
            || out
                .iter()
                .any(|f| f.start < end && start < f.end && f.rule != rules::GENERIC_RULE)
        {
            continue;
        }
        out.push(Finding {
            field: None,
            kind: FindingKind::Secret,
            rule: "aws-secret-access-key".to_string(),
            category: None,
            severity: Severity::Critical,
            start,
            end,
            line: None,
            column: None,
            message: "AWS secret access key (written after its key id)".to_string(),
            preview: preview(value),
        });
    }
}

/// What surrounds a value in an assignment, for the generic rule.
struct Assignment<'a> {
    name: &'a [u8],
    op: &'a [u8],
    space_after_op: bool,
    name_quoted: bool,
    value_quoted: bool,
}

/// The generic assignment rule's validation: the name must end in a secret word, the value must not be
/// a placeholder, a reference, code or a path, and must carry enough entropy.
fn generic_ok(a: &Assignment<'_>, value: &[u8], min_entropy: f64) -> bool {
    let Some(keyword) = checks::secret_name_keyword(a.name) else {
        return false;
    };
    let password = matches!(keyword, "password" | "passwd" | "pwd" | "passphrase");
    let min_len = if password { 8 } else { 10 };
    if value.len() < min_len
        || checks::is_placeholder(value)
        || checks::looks_like_path_or_url(value)
    {
        return false;
    }
    if !a.value_quoted && checks::looks_like_code_reference(value) {
        return false;
    }
    // `group:artifact` and `host:port` are not assignments: a bare colon needs a space or quotes.
    if a.op == b":" && !a.space_after_op && !a.value_quoted && !a.name_quoted {
        return false;
    }
    if value.iter().all(u8::is_ascii_digit) && value.len() < 16 {
        return false;
    }
    // A bare `key` names many things (map keys, XML attributes): ask for a key-like value.
    if keyword == "key" {
        let has_digit = value.iter().any(u8::is_ascii_digit);
        let has_alpha = value.iter().any(u8::is_ascii_alphabetic);
        let dotted_identifier = value.contains(&b'.')
            && value.iter().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if value.len() < 16
            || !has_digit
            || !has_alpha
            || dotted_identifier
            || checks::entropy(value) < 3.5
        {
            return false;
        }
    }
    checks::entropy(value) >= min_entropy
}

/// The verdict for findings given thresholds.
pub fn verdict_for(findings: &[Finding], review_at: Severity, block_at: Severity) -> Verdict {
    match findings.iter().map(|f| f.severity).max() {
        Some(s) if s >= block_at => Verdict::Block,
        Some(s) if s >= review_at => Verdict::Review,
        _ => Verdict::Allow,
    }
}

/// The spans of the secrets in `findings` found by specific rules: the generic rule yields to them.
fn specific_spans(findings: &[Finding]) -> SpanIndex {
    SpanIndex::new(
        findings
            .iter()
            .filter(|f| f.kind == FindingKind::Secret && f.rule != rules::GENERIC_RULE)
            .map(|f| (f.start, f.end)),
    )
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
                .map(|f| (f.start, f.end)),
        )
    };
    let specific = specific_spans(findings);
    let secrets = spans(&|f| f.kind == FindingKind::Secret);
    let pii = spans(&|f| f.kind == FindingKind::Pii);
    let mut seen: std::collections::HashSet<(usize, usize, FindingKind)> =
        std::collections::HashSet::new();
    findings.retain(|f| {
        // The generic rule yields to specific ones; personal data inside a secret is part of it.
        if (f.rule == rules::GENERIC_RULE && specific.overlaps(f.start, f.end))
            || (f.kind == FindingKind::Pii && secrets.overlaps(f.start, f.end))
        {
            return false;
        }
        // An IPv4 address inside an IPv6 one (any PII inside a larger PII span) is part of it.
        if f.kind == FindingKind::Pii && pii.strictly_contains(f.start, f.end) {
            return false;
        }
        seen.insert((f.start, f.end, f.kind))
    });
}

/// Spans sorted by start (longest first on a tie) with the running maximum of their ends, so that
/// overlap and containment queries take a binary search instead of a walk over every span: a chunk
/// full of e-mail addresses must not make overlap resolution quadratic.
struct SpanIndex {
    spans: Vec<(usize, usize)>,
    max_end: Vec<usize>,
}

impl SpanIndex {
    fn new(spans: impl Iterator<Item = (usize, usize)>) -> Self {
        let mut spans: Vec<(usize, usize)> = spans.collect();
        spans.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
        let max_end = spans
            .iter()
            .scan(0, |m, &(_, e)| {
                *m = (*m).max(e);
                Some(*m)
            })
            .collect();
        SpanIndex { spans, max_end }
    }

    /// Whether some span overlaps `start..end`.
    fn overlaps(&self, start: usize, end: usize) -> bool {
        let k = self.spans.partition_point(|&(s, _)| s < end);
        k > 0 && self.max_end[k - 1] > start
    }

    /// Whether some span other than `start..end` itself contains it.
    fn strictly_contains(&self, start: usize, end: usize) -> bool {
        let k = self.spans.partition_point(|&(s, _)| s < start);
        (k > 0 && self.max_end[k - 1] >= end)
            || self
                .spans
                .get(k)
                .is_some_and(|&(s, e)| s == start && e > end)
    }
}

fn window(text: &[u8], start: usize, end: usize, w: Window) -> (usize, usize) {
    match w {
        Window::Line | Window::Element => {
            let lo = start.saturating_sub(LINE_BEFORE);
            let ws = memchr::memrchr(b'\n', &text[lo..start]).map_or(lo, |i| lo + i + 1);
            let hi = (end + LINE_AFTER).min(text.len());
            let lines = if w == Window::Element { 3 } else { 1 };
            let mut we = end;
            for _ in 0..lines {
                match memchr::memchr(b'\n', &text[we..hi]) {
                    Some(i) => we += i + 1,
                    None => {
                        we = hi;
                        break;
                    }
                }
            }
            let we = if we > end && we < hi { we - 1 } else { we };
            (ws, we)
        }
        Window::Lines { before, after } => {
            (start.saturating_sub(before), (end + after).min(text.len()))
        }
    }
}

/// The case-sensitive forms an anchor is searched in: itself, or for case-insensitive anchors its
/// lower-case, UPPER-case and Capitalised forms (`token`, `TOKEN`, `Token`: what code and
/// configuration use), so that every automaton is a plain literal search that can use SIMD.
fn anchor_forms(anchor: &str, ci: bool) -> Vec<String> {
    if !ci {
        return vec![anchor.to_string()];
    }
    let lower = anchor.to_ascii_lowercase();
    let mut cap = lower.clone();
    if let Some(first) = cap.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let mut forms = vec![lower, anchor.to_ascii_uppercase(), cap];
    forms.sort();
    forms.dedup();
    forms
}

/// The keyword gate: an ASCII case-insensitive automaton over every keyword rule's service names.
fn build_gate(specs: &[RuleSpec]) -> Result<Option<KeywordGate>, ScanError> {
    let mut names: Vec<(String, Vec<u16>)> = Vec::new();
    for (ri, s) in specs.iter().enumerate() {
        for k in &s.keywords {
            let k = k.to_ascii_lowercase();
            match names.iter_mut().find(|(n, _)| *n == k) {
                Some((_, rs)) => rs.push(ri as u16),
                None => names.push((k, vec![ri as u16])),
            }
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    // Overlapping names (`linkedin`, `linked-in`) each find their own rules. A DFA: it searches
    // every woken window, and is several times faster than the default NFA for this many names.
    let automaton = AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(true)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(names.iter().map(|(n, _)| n.as_bytes()))
        .map_err(|e| ScanError::Compile {
            rule: "keyword gate".into(),
            message: e.to_string(),
        })?;
    Ok(Some(KeywordGate {
        automaton,
        rules_of_pattern: names.into_iter().map(|(_, r)| r).collect(),
    }))
}

/// Every distinct anchor form with the rules it wakes, longest first.
fn prefilter_anchors(specs: &[RuleSpec], gate: bool) -> Vec<(String, Vec<u16>)> {
    // Distinct anchor forms, each with the rules it wakes (the wake words also wake the gate).
    let mut anchors: Vec<(String, Vec<u16>)> = Vec::new();
    let wake = rules::WAKE_WORDS.iter().map(|w| (w, true, GATE));
    let anchored = specs
        .iter()
        .enumerate()
        .flat_map(|(ri, s)| s.anchors.iter().map(move |a| (a, s.anchors_ci, ri as u16)));
    for (a, ci, ri) in anchored.chain(wake.filter(|_| gate)) {
        for form in anchor_forms(a, ci) {
            add_wakes(&mut anchors, &form, &[ri]);
        }
    }
    // Rules searched around a hit's line can be woken by a part of their anchor as well.
    let movable = |rs: &[u16]| {
        rs.iter().all(|&r| {
            r == GATE || matches!(specs[r as usize].window, Window::Line | Window::Element)
        })
    };
    fewer_anchors(&mut anchors, movable);
    // Leftmost-longest search reports one anchor per position: list longer anchors first (they are
    // grouped by length), and let an anchor also wake the rules of every anchor it contains
    // (`pat-na1-` wakes what `pat` would).
    anchors.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    let contained: Vec<Vec<u16>> = anchors
        .iter()
        .map(|(long, _)| {
            let mut rs: Vec<u16> = anchors
                .iter()
                .filter(|(short, _)| long.contains(short.as_str()))
                .flat_map(|(_, r)| r.iter().copied())
                .collect();
            rs.sort_unstable();
            rs.dedup();
            rs
        })
        .collect();
    for (a, rs) in anchors.iter_mut().zip(contained) {
        a.1 = rs;
    }
    anchors
}

/// Fewer anchors: each automaton holds at most [`PATTERNS_PER_AUTOMATON`], and each automaton is
/// one more pass over the text. Where `movable` says an anchor's rules may be woken at a part of
/// it (rules searched in the hit's line, which a part of the anchor lies on too):
/// - an anchor that holds another is dropped, and the longest one it holds wakes its rules too
///   (`password` by `pass`, `xkeysib-` by `key`);
/// - two anchors that begin with the same [`TEDDY_MASK`] bytes or more become that common beginning
///   (`duffel_live_` and `duffel_test_`: `duffel_`), longest common beginnings first.
///
/// Every text that held a dropped anchor holds its replacement, on the same line, so no rule is
/// woken less; some are woken more (by `duffel_` alone), which costs a search of a line.
fn fewer_anchors(anchors: &mut Vec<(String, Vec<u16>)>, movable: impl Fn(&[u16]) -> bool) {
    // Shortest first: an anchor's rules go to an anchor that is itself kept.
    anchors.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(&b.0)));
    let mut kept: Vec<(String, Vec<u16>)> = Vec::with_capacity(anchors.len());
    for (anchor, rules) in anchors.drain(..) {
        let holder = kept
            .iter_mut()
            .filter(|(part, _)| anchor.contains(part.as_str()))
            .max_by_key(|(part, _)| part.len());
        match holder {
            Some((_, into)) if movable(&rules) => add_rules(into, &rules),
            _ => kept.push((anchor, rules)),
        }
    }
    loop {
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let common = |a: &str, b: &str| {
            let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            (0..=n).rev().find(|&k| a.is_char_boundary(k)).unwrap_or(0)
        };
        let best = (1..kept.len())
            .filter(|&i| movable(&kept[i - 1].1) && movable(&kept[i].1))
            .map(|i| (common(&kept[i - 1].0, &kept[i].0), i))
            .filter(|&(n, _)| n >= TEDDY_MASK)
            .max_by_key(|&(n, i)| (n, std::cmp::Reverse(i)));
        let Some((n, i)) = best else { break };
        let (b, b_rules) = kept.remove(i);
        let (a, mut rules) = kept.remove(i - 1);
        add_rules(&mut rules, &b_rules);
        debug_assert!(b.starts_with(&a[..n]));
        add_wakes(&mut kept, &a[..n], &rules);
    }
    *anchors = kept;
}

/// Let `anchor` wake `rules` too: in its entry of `anchors`, or in a new one.
fn add_wakes(anchors: &mut Vec<(String, Vec<u16>)>, anchor: &str, rules: &[u16]) {
    match anchors.iter_mut().find(|(a, _)| a == anchor) {
        Some((_, into)) => add_rules(into, rules),
        None => anchors.push((anchor.to_string(), rules.to_vec())),
    }
}

/// Add `rules` to a list of rules to wake, each once.
fn add_rules(into: &mut Vec<u16>, rules: &[u16]) {
    for &r in rules {
        if !into.contains(&r) {
            into.push(r);
        }
    }
}

/// The prefilter automata for `anchors` (longest first), at most [`PATTERNS_PER_AUTOMATON`] each.
/// Anchors shorter than [`TEDDY_MASK`] would weaken the fingerprint of longer ones, so they get
/// automata of their own (one, today: on the mixed bench corpus one automaton of all 35 three-byte
/// anchors took 1.8 ms less per 8 MiB than three of 12). With `small` (the few anchors searched in
/// plain prose) automata are a quarter of that size: there a larger one verified far more
/// candidates (one automaton of 27 plain anchors: 7.2 ms per 8 MiB, two: 2.2 ms).
fn build_prefilters(
    anchors: &[(String, Vec<u16>)],
    small: bool,
) -> Result<Vec<Prefilter>, ScanError> {
    let cap = if small {
        PATTERNS_PER_AUTOMATON / 4
    } else {
        PATTERNS_PER_AUTOMATON
    };
    let short = |a: &(String, Vec<u16>)| a.0.len() < TEDDY_MASK;
    let mut out = Vec::new();
    let mut rest = anchors;
    while !rest.is_empty() {
        // Outside plain prose, full-length anchors and short ones never share an automaton. The
        // automata of one class are of even size: a tiny last one would not use Teddy at all.
        let same = if small {
            rest.len()
        } else {
            rest.iter()
                .take_while(|a| short(a) == short(&rest[0]))
                .count()
        };
        let size = same.div_ceil(same.div_ceil(cap));
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let patterns: Vec<&[u8]> = chunk.iter().map(|(k, _)| k.as_bytes()).collect();
        out.push(Prefilter {
            automaton: Literals::new(&patterns)?,
            rules_of_pattern: chunk.iter().map(|(_, r)| r.clone()).collect(),
        });
    }
    Ok(out)
}

/// Bytes of plain lower-case prose: letters, space, newline and common punctuation. An anchor made
/// only of these must be searched everywhere; any other anchor cannot occur in a run of them.
fn is_plain(b: u8) -> bool {
    b.is_ascii_lowercase() || matches!(b, b' ' | b'\n' | b'.' | b',' | b'\'')
}

/// The spans of `text` an anchor holding a non-plain byte can overlap: every [`PLAIN_BLOCK`]
/// holding such a byte, widened by `reach - 1` on each side, merged. A block is tested 256 bytes at
/// a time (a loop the compiler vectorises) until one holds a non-plain byte: in code, logs or JSON,
/// the first one does.
fn not_plain_spans(text: &[u8], reach: usize) -> Vec<std::ops::Range<usize>> {
    let widen = reach.saturating_sub(1);
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    for (k, block) in text.chunks(PLAIN_BLOCK).enumerate() {
        if block
            .chunks(256)
            .all(|c| c.iter().fold(true, |plain, &b| plain & is_plain(b)))
        {
            continue;
        }
        let start = (k * PLAIN_BLOCK).saturating_sub(widen);
        let end = (k * PLAIN_BLOCK + block.len() + widen).min(text.len());
        match spans.last_mut() {
            Some(last) if start <= last.end => last.end = end,
            _ => spans.push(start..end),
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The content detectors (secrets and PII) these tests are about.
    fn scan(text: &str) -> Vec<Finding> {
        Scanner::with_defaults()
            .expect("scanner")
            .scan_with(text.as_bytes(), Detectors::CONTENT)
    }

    fn rules_of(text: &str) -> Vec<String> {
        scan(text).into_iter().map(|f| f.rule).collect()
    }

    #[test]
    fn every_rule_compiles_and_there_are_enough() {
        let s = Scanner::with_defaults().expect("scanner");
        s.precompile().expect("every rule compiles");
        assert!(s.secret_rule_count() >= 150, "{}", s.secret_rule_count());
        let ids = rule_ids();
        let mut dedup = ids.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(ids.len(), dedup.len(), "rule ids must be unique");
    }

    /// The generic rule's groups, found over each match by its cheaper `groups` regex, are the
    /// groups its own regex finds: on assignments built from the pieces that make the choice hard
    /// (names with several secret words, operators that start with a name character, quotes, XML).
    #[test]
    fn generic_groups_agree() {
        use proptest::prelude::*;
        let spec = rules::secret_rules()
            .into_iter()
            .find(|r| r.id == rules::GENERIC_RULE)
            .expect("the generic rule");
        let whole = Matcher::compile(&spec.regex, None).expect("regex");
        let narrow = Matcher::compile(&spec.regex, spec.groups.as_deref()).expect("groups");
        assert!(narrow.groups.is_some());
        let names = ["name", "s", "x", "q", "op", "nq", "cq"];
        let spans = |m: &Matcher, hay: &[u8]| -> Vec<Vec<Option<(usize, usize)>>> {
            let index = |r: &Regex, n: &str| r.capture_names().position(|c| c == Some(n));
            match &m.groups {
                None => m
                    .regex
                    .captures_iter(hay)
                    .map(|c| {
                        let mut v = vec![c.get(0).map(|g| (g.start(), g.end()))];
                        v.extend(names.iter().map(|n| {
                            index(&m.regex, n)
                                .and_then(|i| c.get(i))
                                .map(|g| (g.start(), g.end()))
                        }));
                        v
                    })
                    .collect(),
                Some(g) => m
                    .regex
                    .find_iter(hay)
                    .map(|f| {
                        let c = g.captures(&hay[f.range()]).expect("groups over a match");
                        let at = |x: regex::bytes::Match<'_>| {
                            (f.start() + x.start(), f.start() + x.end())
                        };
                        let mut v = vec![c.get(0).map(at)];
                        v.extend(
                            names
                                .iter()
                                .map(|n| index(g, n).and_then(|i| c.get(i)).map(at)),
                        );
                        v
                    })
                    .collect(),
            }
        };
        let pieces = [
            "password",
            "PASS",
            "token",
            "Secret",
            "api_key",
            "api-key",
            "apikey",
            "key",
            "db_",
            "my.",
            ".",
            "-",
            "_",
            "x",
            "9",
            " ",
            "\t",
            "=",
            ":",
            ":=",
            "::=",
            ".=",
            "+=",
            "||=",
            "?=",
            "=>",
            "\"",
            "'",
            "`",
            ",",
            "]",
            "<",
            ">",
            "</",
            "<password>",
            "</password>",
            "string ",
            "const ",
            "new String(\"",
            "String('",
            "\n",
            "aB3dE5gH",
            "Zq9~x/+",
            "{",
            "$",
            "\\",
            "(",
        ];
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(4000));
        runner
            .run(
                &proptest::collection::vec(0..pieces.len(), 1..24),
                |picks| {
                    let text: String = picks.iter().map(|&i| pieces[i]).collect();
                    prop_assert_eq!(
                        spans(&whole, text.as_bytes()),
                        spans(&narrow, text.as_bytes()),
                        "{:?}",
                        text
                    );
                    Ok(())
                },
            )
            .expect("the same groups");
        // And on realistic lines.
        for line in [
            "db_password = \"h0pk1ns~21sQ\"",
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9x1Qy",
            "  \"client_secret\": \"9f8e7d6c5b4a39281706\",",
            "var token string = \"tok_4f9a8b7c6d5e\"",
            "<apiToken>\n  4f9a8b7c6d5e3f2a\n</apiToken>",
            "config.token.=abcdef123456; other_pass := 'xyzzy-42-lives'",
        ] {
            assert_eq!(
                spans(&whole, line.as_bytes()),
                spans(&narrow, line.as_bytes()),
                "{line}"
            );
            assert!(!spans(&whole, line.as_bytes()).is_empty(), "{line}");
        }
    }

    #[test]
    fn fewer_anchors_keeps_every_wake() {
        let mut anchors: Vec<(String, Vec<u16>)> = [
            ("pass", vec![GATE]),
            ("password", vec![1]),
            ("duffel_live_", vec![2]),
            ("duffel_test_", vec![2, 3]),
            ("PRIVATE KEY", vec![4]),
            ("KEY", vec![GATE]),
            ("ghp_", vec![5]),
            ("gho_", vec![6]),
        ]
        .into_iter()
        .map(|(a, r)| (a.to_string(), r))
        .collect();
        // Rule 4 is searched in lines around its hit, not in the hit's line.
        fewer_anchors(&mut anchors, |rs| !rs.contains(&4));
        anchors.sort();
        let want: Vec<(String, Vec<u16>)> = [
            ("KEY", vec![GATE]),
            ("PRIVATE KEY", vec![4]),
            ("duffel_", vec![2, 3]),
            ("gho_", vec![6]),
            ("ghp_", vec![5]),
            ("pass", vec![GATE, 1]),
        ]
        .into_iter()
        .map(|(a, r)| (a.to_string(), r))
        .collect();
        assert_eq!(anchors, want);
    }

    /// Whatever anchors were dropped or shortened, each form of each rule's anchors still holds a
    /// prefilter anchor that wakes the rule.
    #[test]
    fn every_anchor_still_wakes_its_rule() {
        let specs = rules::secret_rules();
        let anchors = prefilter_anchors(&specs, true);
        let long = anchors.iter().filter(|a| a.0.len() >= TEDDY_MASK).count();
        // Three automata of long anchors: one more would be one more pass over every text.
        assert!(long <= 3 * PATTERNS_PER_AUTOMATON, "{long} long anchors");
        let wakes = |form: &str, ri: u16| {
            anchors
                .iter()
                .any(|(a, rs)| form.contains(a.as_str()) && rs.contains(&ri))
        };
        for (ri, spec) in specs.iter().enumerate() {
            for a in &spec.anchors {
                for form in anchor_forms(a, spec.anchors_ci) {
                    assert!(wakes(&form, ri as u16), "{} by {form:?}", spec.id);
                }
            }
        }
        for w in rules::WAKE_WORDS {
            for form in anchor_forms(w, true) {
                assert!(wakes(&form, GATE), "the gate by {form:?}");
            }
        }
    }

    #[test]
    fn finds_prefixed_tokens() {
        let gh = github_token_with_checksum("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ");
        assert_eq!(rules_of(&format!("token: {gh}")), vec!["github-pat"]);
        assert_eq!(
            rules_of("export AWS_ACCESS_KEY_ID=AKIALALEMEL33243OLIB"),
            vec!["aws-access-key-id"]
        );
        assert!(
            rules_of("xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD")
                .contains(&"slack-bot-token".to_string())
        );
    }

    #[test]
    fn github_token_with_a_bad_checksum_is_not_a_github_token() {
        let gh = github_token_with_checksum("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ");
        let bad = format!("{}AAAAAA", &gh[..34]);
        assert!(!rules_of(&format!("see {bad} here")).contains(&"github-pat".to_string()));
    }

    #[test]
    fn examples_and_placeholders_are_ignored() {
        assert!(scan("aws_access_key: AKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(scan("password = \"${DB_PASSWORD}\"").is_empty());
        assert!(scan("password = os.environ['DB_PASSWORD']").is_empty());
        assert!(scan("token = ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").is_empty());
    }

    #[test]
    fn generic_assignment_with_entropy() {
        let f = scan("db_password = \"h0pk1ns~21sZq\"");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "generic-secret");
        assert!(!f[0].preview.contains("pk1ns"));
        // A value a specific rule finds is that rule's alone, whichever automaton woke which
        // (a prefix rule, a keyword rule through the gate); the other assignments stay generic.
        let text = "slack_token = \"xoxb-384920175638-492817365029-k7Qp2vZr9XwLm4Ts8NbYc1Hd\"\n\
                    heroku_api_key = \"12345678-90ab-cdef-1234-567890abcdef\"\n\
                    db_password = \"h0pk1ns~21sZq\"";
        let rules: Vec<String> = scan(text).into_iter().map(|f| f.rule).collect();
        assert_eq!(
            rules,
            ["slack-bot-token", "heroku-api-key", "generic-secret"]
        );
    }

    #[test]
    fn private_keys_but_not_public_keys() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAn6/O8li+SX4m98LLYt/PKSzEmQ++ZBD7Loh9P13f4yQ92EF3\nyxR5MsXFu9PRsrYQA7/4UTPHiC4y2sAVCBg4C2yyBpUEtMQjyCESi6Y=\n-----END RSA PRIVATE KEY-----";
        let f = scan(key);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].start, f[0].end), (0, key.len()));
        let public = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAn6/O8li+SX4m98LLYt/PKSzEmQ\n-----END PUBLIC KEY-----";
        assert!(scan(public).is_empty());
    }

    #[test]
    fn kubernetes_secret_manifests() {
        let yaml = |kind: &str, entry: &str| {
            format!(
                "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: app\ntype: Opaque\ndata:\n{entry}\n"
            )
        };
        // Any data key, quoted or not, or a block scalar; `kind` before or after `data`.
        let dockercfg = "  .dockercfg: |\n    eyJhdXRocyI6eyJodHRwczovL2V4YW1wbGUvdjEvIjp7ImF1dGgiOiJvcGVuc2VzYW1lIn19fQo=";
        for entry in [
            "  extra: YWRtaW46cGFzc3dvcmQ=",
            "  config.json: 'YWRtaW46cGFzc3dvcmQ='",
            "  # base64\n  key: bXlwYXNzd29yZA==",
            "  username: YWRtaW4=\n  password: UyFCXCpkJHpEc2I9",
            dockercfg,
        ] {
            assert_eq!(
                rules_of(&yaml("Secret", entry)),
                vec!["kubernetes-secret-yaml"],
                "{entry}"
            );
        }
        let after = "apiVersion: v1\ndata:\n  extra: YWRtaW46cGFzc3dvcmQ=\nkind: \"secret\"\n";
        assert_eq!(rules_of(after), vec!["kubernetes-secret-yaml"]);
        // Not a Secret, too short to be a credential, a template.
        assert!(rules_of(&yaml("SopsSecret", "  extra: YWRtaW46cGFzc3dvcmQ=")).is_empty());
        assert!(rules_of(&yaml("ExternalSecret", dockercfg)).is_empty());
        assert!(rules_of(&yaml("Secret", "  extra: YmFyCg==")).is_empty());
        assert!(rules_of(&yaml("Secret", "  htpasswd: {{ htpasswd }}")).is_empty());
    }

    #[test]
    fn jwt_must_have_a_json_header() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        assert_eq!(rules_of(&format!("session cookie {jwt}"))[0], "jwt");
    }

    #[test]
    fn credentials_in_urls() {
        assert_eq!(
            rules_of("DATABASE_URL=postgres://app:Xk9#mQ2vLp@db.internal:5432/app"),
            vec!["url-credentials"]
        );
        assert!(scan("see postgres://user:password@localhost/db").is_empty());
    }

    #[test]
    fn verdicts_follow_thresholds() {
        let s = Scanner::with_defaults().expect("scanner");
        assert_eq!(s.verdict(&[]), Verdict::Allow);
        let f = s.scan(b"key AKIALALEMEL33243OLIB");
        assert_eq!(s.verdict(&f), Verdict::Block);
    }

    #[test]
    fn reader_scan_matches_whole_scan_across_chunk_boundaries() {
        let s = Scanner::with_defaults().expect("scanner");
        let mut text = String::new();
        for i in 0..4000 {
            text.push_str(&format!("line {i} filler text here\n"));
            if i % 997 == 0 {
                text.push_str("aws AKIALALEMEL33243OLIB and bob@example.org\n");
            }
        }
        let mut whole = s.scan(text.as_bytes());
        crate::finding::locate(&mut whole, text.as_bytes());
        let mut streamed = Vec::new();
        s.scan_reader(
            text.as_bytes(),
            Detectors::ALL,
            &injection::Source::other(),
            1,
            |f, _, _| streamed.push(f),
        )
        .expect("read");
        assert_eq!(streamed, whole);
    }

    #[test]
    fn a_redaction_covers_the_whole_secret() {
        let s = Scanner::with_defaults().expect("scanner");
        let spans = |text: &str| -> Vec<(String, String)> {
            s.scan(text.as_bytes())
                .into_iter()
                .filter(|f| f.kind == FindingKind::Secret)
                .map(|f| (f.rule, text[f.start..f.end].to_string()))
                .collect()
        };
        // A quoted value runs to its closing quote, spaces included.
        let r = spans(r#"password: "Tr0ub4dor&3x yz#Q""#);
        assert_eq!(
            r,
            [(
                "generic-secret".to_string(),
                "Tr0ub4dor&3x yz#Q".to_string()
            )]
        );
        // A secret key written right after its key id is found too.
        for sep in [":", " ", ","] {
            let text = format!("AKIALALEMEL33243OLIB{sep}wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
            let r = spans(&text);
            assert_eq!(r.len(), 2, "{sep:?}: {r:?}");
            assert_eq!(r[1].0, "aws-secret-access-key");
            assert_eq!(r[1].1, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        }
        // Words after a key id are not a secret key.
        assert_eq!(
            spans("id AKIALALEMEL33243OLIB then plain words follow here").len(),
            1
        );
    }

    #[test]
    fn disabled_guard_finds_nothing() {
        let cfg = ScanConfig {
            enabled: false,
            ..ScanConfig::default()
        };
        let s = Scanner::new(&cfg).expect("scanner");
        assert!(s.scan(b"AKIALALEMEL33243OLIB bob@example.org").is_empty());
        let mut cfg = ScanConfig::default();
        cfg.pii.email = false;
        cfg.secrets.disabled_rules = vec!["aws-access-key-id".into()];
        let s = Scanner::new(&cfg).expect("scanner");
        assert!(s.scan(b"AKIALALEMEL33243OLIB bob@example.org").is_empty());
    }

    /// Runs of plain prose are searched with the plain anchors only: a secret near, across or
    /// after a block edge, with its name far up a plain line, is found as it is on its own.
    #[test]
    fn secrets_in_plain_prose_are_found_at_every_offset_around_a_block_edge() {
        let s = Scanner::with_defaults().expect("scanner");
        let prose = "the agent reads the page, then writes a short note for the team. "
            .repeat(3 * PLAIN_BLOCK / 64);
        assert!(prose.bytes().all(is_plain));
        let gh = github_token_with_checksum("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ");
        let samples = [
            format!("token: {gh}"),
            "export AWS_ACCESS_KEY_ID=AKIALALEMEL33243OLIB".to_string(),
            "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD".to_string(),
            "db_password = \"h0pk1ns~21sZq\"".to_string(),
            format!("the secret api key of the staging cluster, as it was set, is {gh}"),
            // Woken only by `token`, a plain anchor far from any other byte.
            "the etsy token used by the shop sync job of the storefront team, kept here for now\n\
             etsy = \"k3Jd8sLq0PzX7mN2vB5cR1tY\""
                .to_string(),
        ];
        let shifted = |f: Vec<Finding>, by: usize| -> Vec<(String, usize, usize)> {
            f.into_iter()
                .filter(|f| f.kind == FindingKind::Secret)
                .map(|f| (f.rule, f.start - by, f.end - by))
                .collect()
        };
        for sample in &samples {
            let alone = shifted(s.scan(format!("\n{sample}\n").as_bytes()), 0);
            assert!(!alone.is_empty(), "{sample}");
            let edges = [1, PLAIN_BLOCK, 2 * PLAIN_BLOCK, 2 * PLAIN_BLOCK + 100];
            for at in edges
                .iter()
                .flat_map(|&e| e.saturating_sub(sample.len() + 2)..e + 2)
            {
                let text = format!(
                    "{}\n{sample}\n{}",
                    &prose[..at.max(1) - 1],
                    &prose[..PLAIN_BLOCK + 7]
                );
                let by = at.max(1) - 1;
                assert_eq!(
                    shifted(s.scan(text.as_bytes()), by),
                    alone,
                    "{sample} at {at}"
                );
            }
        }
    }

    #[test]
    fn plain_spans_cover_every_non_plain_byte_with_its_reach() {
        let mut text = vec![b'a'; 5 * PLAIN_BLOCK];
        assert!(not_plain_spans(&text, 40).is_empty());
        text[PLAIN_BLOCK + 5] = b'A';
        text[PLAIN_BLOCK + 9] = b'_';
        text[4 * PLAIN_BLOCK] = b'7';
        assert_eq!(
            not_plain_spans(&text, 40),
            vec![
                PLAIN_BLOCK - 39..2 * PLAIN_BLOCK + 39,
                4 * PLAIN_BLOCK - 39..5 * PLAIN_BLOCK
            ]
        );
        text[2 * PLAIN_BLOCK + 1] = b'-';
        text[3 * PLAIN_BLOCK] = b'\t';
        assert_eq!(
            not_plain_spans(&text, 40),
            vec![PLAIN_BLOCK - 39..5 * PLAIN_BLOCK]
        );
        assert!(not_plain_spans(b"", 40).is_empty());
        assert_eq!(not_plain_spans(b"Short", 40), vec![0..5]);
    }

    #[test]
    fn span_index_answers_like_a_scan_of_every_span() {
        let spans = [(0, 5), (3, 9), (3, 4), (10, 12), (20, 30), (22, 25)];
        let idx = SpanIndex::new(spans.iter().copied());
        for start in 0..32 {
            for end in start + 1..33 {
                let overlaps = spans.iter().any(|&(s, e)| s < end && start < e);
                let contains = spans
                    .iter()
                    .any(|&(s, e)| s <= start && end <= e && (s, e) != (start, end));
                assert_eq!(idx.overlaps(start, end), overlaps, "{start}..{end}");
                assert_eq!(
                    idx.strictly_contains(start, end),
                    contains,
                    "{start}..{end}"
                );
            }
        }
    }

    #[test]
    fn detectors_parse() {
        assert_eq!(Detectors::parse("secrets").map(|d| d.pii), Ok(false));
        assert!(Detectors::parse("secrets,bogus").is_err());
        assert!(Detectors::parse("").is_err());
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        let s = Scanner::with_defaults().expect("scanner");
        let mut junk = vec![0xffu8, 0xfe, b'a', b'k', b'e', b'y', b'=', 0xc3];
        junk.extend(std::iter::repeat_n(b'A', 10_000));
        junk.extend_from_slice(b"\0password=\xe2\x82");
        let _ = s.scan(&junk);
        let _ = s.scan(b"");
        let _ = s.scan("κλειδί=πολύ-μυστικό-λέξη-1234 ✓".as_bytes());
    }
}
