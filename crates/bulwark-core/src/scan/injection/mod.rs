//! Prompt-injection detection: instructions hidden in text an agent reads.
//!
//! Threat answered: web pages, e-mails, alert annotations, tool output and MCP tool descriptions
//! written by an attacker who wants the agent to follow *their* instructions. The
//! [`InjectionDetector`] normalizes the text (undoing invisible characters, homoglyphs, leetspeak
//! and spaced letters; see [`normalize`]), decodes hidden layers (base64, hex, URL-encoding, ROT13,
//! Unicode tag characters) and notes hidden HTML ([`layers`]), matches 70-odd patterns in 13
//! categories ([`patterns`]), weighs orders addressed to the model inside untrusted data
//! ([`directive`]), and adds a linear model over n-grams ([`model`]) for paraphrases. The
//! whole input is read, never truncated; the model reads it in overlapping windows.
//!
//! Scoring: per category the strongest pattern counts; categories combine as independent evidence
//! (`1 - Π(1 - w)`), so one strong signal or several weak ones of different kinds add up, while ten
//! weak hits of one kind do not. The document score is the larger of that and the model's
//! probability. Thresholds depend on the [`Source`]: text from untrusted sources is held stricter.

pub mod corpus;
mod directive;
pub mod layers;
mod matching;
pub mod model;
pub mod normalize;
pub mod patterns;
mod source;

use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;

use crate::finding::{Finding, FindingKind, Severity, Verdict};
use crate::scan::cfg::InjectionConfig;
use layers::{Encoding, Hidden};
use model::{CATEGORIES, CategoryFeatures, Model};
use normalize::Normalized;
pub use patterns::Category;
pub use source::Source;

/// Rules that are not patterns: the document score, the model, hidden content, obfuscation and
/// decoded layers. With the pattern ids, every rule an injection finding can carry.
pub const SIGNAL_RULES: &[(&str, &str)] = &[
    (
        "injection-score",
        "the document's prompt-injection score reached the review or block threshold of its source",
    ),
    (
        "injection-model",
        "the statistical model rates a passage as an injection",
    ),
    (
        "hidden-instruction",
        "hidden HTML (styled or marked invisible, a comment, alt or title text, <noscript>), a markdown comment, Unicode tag text or variation selectors hold an injection pattern",
    ),
    (
        "hidden-ai-address",
        "hidden content addresses an AI or gives orders",
    ),
    (
        "hidden-text",
        "hidden HTML holds text a reader does not see",
    ),
    (
        "addressed-instruction",
        "an order inside untrusted data addresses the model (its answer, an AI by name, what the user wants), follows a fake system or turn marker, offers code that ships data out, or asks to send the conversation's results or secrets to a target",
    ),
    ("invisible-characters", "invisible characters inside words"),
    (
        "homoglyphs",
        "words mix Latin letters with look-alikes from other scripts",
    ),
    ("spaced-letters", "runs of s p a c e d letters"),
    (
        "unicode-tag-text",
        "text in invisible Unicode tag characters",
    ),
    (
        "variation-selector-text",
        "text smuggled in variation selectors",
    ),
    (
        "zero-width-run",
        "a long run of zero-width characters that can carry hidden data",
    ),
    ("encoded-base64", "base64 text hides an injection pattern"),
    ("encoded-hex", "hex text hides an injection pattern"),
    (
        "encoded-url",
        "percent-encoded text hides an injection pattern",
    ),
    ("encoded-rot13", "ROT13 text hides an injection pattern"),
    (
        "encoded-html",
        "the HTML as a browser shows it (character references decoded, formatting tags and comments removed) holds an injection pattern the source does not",
    ),
];

/// The committed model weights (see [`model`]).
static MODEL_BYTES: &[u8] = include_bytes!("../../../models/injection.bin");

static MODEL: LazyLock<Result<Arc<Model>, String>> =
    LazyLock::new(|| Model::from_bytes(MODEL_BYTES).map(Arc::new));

/// Errors building the detector.
#[derive(Debug, thiserror::Error)]
pub enum InjectionError {
    /// A pattern does not compile (a bug in the table).
    #[error("injection pattern {id} does not compile: {message}")]
    Pattern {
        /// Pattern id.
        id: &'static str,
        /// The regex error.
        message: String,
    },
    /// A pattern has no literal the prefilter could look for (a bug in the table).
    #[error("injection pattern {0} has no useful anchor literal ({1}): give it explicit anchors")]
    NoAnchor(&'static str, String),
    /// The prefilter automaton could not be built.
    #[error("injection prefilter: {0}")]
    Prefilter(String),
    /// The compiled-in model is unreadable.
    #[error("injection model: {0}")]
    Model(String),
}

/// The result of looking at one text.
#[derive(Debug, Clone)]
pub struct InjectionReport {
    /// The document score, 0 to 1.
    pub score: f32,
    /// The model's probability for the most suspicious window (0 when the model is off).
    pub model_score: f32,
    /// `allow`, `review` or `block` under the thresholds of the source.
    pub verdict: Verdict,
    /// Categories that fired, strongest first.
    pub categories: Vec<Category>,
    /// Findings: empty when the verdict is `allow`. One `injection-score` finding carries the
    /// verdict's severity; the others (pattern, layer and model evidence) are `info`.
    pub findings: Vec<Finding>,
}

/// One piece of evidence.
#[derive(Debug, Clone)]
struct Signal {
    rule: &'static str,
    category: Category,
    weight: f32,
    /// Span in the normalized view (for the model's windows); `None` for evidence from a layer.
    norm: Option<(usize, usize)>,
    /// Span in the original text.
    orig: (usize, usize),
    message: String,
}

struct CompiledPattern {
    spec: patterns::Pattern,
    /// Every match starts at one of the anchors (the regex's own literal prefixes, or anchors
    /// listed in [`patterns::STARTS_AT_ANCHORS`]), so one anchored search there is enough;
    /// otherwise a window around the anchor is searched.
    prefix: bool,
    /// The regex opens with `\b`.
    word_start: bool,
    /// Compiled on first use: a `bulwark` run that reads one short text should not pay for
    /// compiling 80-odd Unicode regexes.
    matcher: std::sync::OnceLock<Result<regex_automata::meta::Regex, String>>,
}

impl CompiledPattern {
    fn matcher(&self) -> Option<&regex_automata::meta::Regex> {
        self.matcher
            .get_or_init(|| {
                regex_automata::meta::Regex::new(self.spec.regex).map_err(|e| e.to_string())
            })
            .as_ref()
            .ok()
    }
}

/// A pattern a prefilter literal wakes, and how to search for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Wake {
    pattern: u16,
    /// For prefix-anchored patterns, where in the literal's match the pattern's own anchor starts
    /// (an anchored search there); `None`: search a window around the match.
    at: Option<u16>,
}

/// The compiled injection detector. Cheap to clone, safe to share.
#[derive(Clone)]
pub struct InjectionDetector {
    inner: Arc<DetectorInner>,
}

struct DetectorInner {
    patterns: Vec<CompiledPattern>,
    prefilter: AhoCorasick,
    /// For each prefilter literal, the patterns it wakes.
    wakes: Vec<Vec<Wake>>,
    model: Option<Arc<Model>>,
    cfg: InjectionConfig,
}

impl std::fmt::Debug for InjectionDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectionDetector")
            .field("patterns", &self.inner.patterns.len())
            .field("model", &self.inner.model.is_some())
            .finish_non_exhaustive()
    }
}

/// Words that address an AI, for hidden content.
static AI_ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:ai|assistant|llm|language\s+model|agent|chatbot|bot|gpt|claude|gemini|copilot|model)s?\b[^\n]{0,200}\b(?:you\s+(?:must|should|will|need)|must|should|always|never|do\s+not|don'?t|please|instead|ignore|follow|execute|run|send)\b|\b(?:you\s+(?:must|should|need\s+to|will)|always|never|do\s+not)\b[^\n]{0,200}\b(?:ai|assistant|llm|agent|model|response|answer|reply|summary|user)\b")
        .expect("static regex")
});

/// Common English words and injection words as ROT13 renders them, as whole words: the gate for
/// rotating a text (`the you and your ignore previous instructions system prompt`).
static ROT13_WORDS: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
    regex::bytes::Regex::new(r"\b(?:gur|lbh|naq|lbhe|vtaber|cerivbhf|vafgehpgvbaf|flfgrz|cebzcg)\b")
        .expect("static regex")
});

/// Signals one pattern contributes per text (and per decoded layer).
const MAX_SIGNALS_PER_PATTERN: usize = 16;

/// The pattern score below which a text is never blocked, only sent for review.
const PATTERN_EVIDENCE_TO_BLOCK: f32 = 0.5;

/// Texts longer than this are read in segments of [`SEGMENT`] bytes that overlap by [`OVERLAP`]
/// (on every core): far longer than any pattern's match or the model's window, so whatever one
/// segment cuts in two, the next holds whole.
const SEGMENTED_ABOVE: usize = 1 << 20;
const SEGMENT: usize = 256 << 10;
const OVERLAP: usize = 4 << 10;

/// The evidence of one text: what [`InjectionDetector::analyze`] scores.
#[derive(Default)]
struct Evidence {
    signals: Vec<Signal>,
    model_score: f32,
    /// The model's strongest window, as a span of the original text.
    model_span: (usize, usize),
}

impl Evidence {
    /// Add another segment's evidence. The result does not depend on the order of merging: the
    /// model's window is the strongest (the earliest among equals), and at most
    /// [`MAX_SIGNALS_PER_PATTERN`] signals of each rule are kept, the earliest.
    fn merge(&mut self, other: Evidence) {
        let better = other.model_score > self.model_score
            || (other.model_score == self.model_score
                && other.model_score > 0.0
                && other.model_span < self.model_span);
        if better {
            self.model_score = other.model_score;
            self.model_span = other.model_span;
        }
        self.signals.extend(other.signals);
        self.signals.sort_by(|a, b| {
            a.rule
                .cmp(b.rule)
                .then(a.orig.cmp(&b.orig))
                .then(b.weight.total_cmp(&a.weight))
                .then(a.message.cmp(&b.message))
        });
        // Overlapping segments see the same match twice.
        self.signals
            .dedup_by(|a, b| a.rule == b.rule && a.orig == b.orig && a.weight == b.weight);
        let mut kept = 0usize;
        let mut rule = "";
        self.signals.retain(|s| {
            if s.rule != rule {
                rule = s.rule;
                kept = 0;
            }
            kept += 1;
            kept <= MAX_SIGNALS_PER_PATTERN
        });
    }
}

/// The cores this process may use, asked once (the standard library reads the affinity mask and
/// cgroup quota files to answer).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Cut a large text into segments of about [`SEGMENT`] bytes, each reaching [`OVERLAP`] bytes into
/// the next. Cuts fall after a newline or a space where one is near, so words (and UTF-8
/// characters) stay whole; elsewhere before a byte that starts a character.
fn segments(text: &[u8]) -> Vec<(usize, usize)> {
    let cut_near = |at: usize| -> usize {
        if at >= text.len() {
            return text.len();
        }
        let floor = at.saturating_sub(OVERLAP / 2);
        if let Some(p) = text[floor..at]
            .iter()
            .rposition(|&b| b == b'\n' || b == b' ')
        {
            return floor + p + 1;
        }
        let mut c = at;
        while c > floor && (text[c] & 0xC0) == 0x80 {
            c -= 1;
        }
        c
    };
    let mut out = Vec::new();
    let mut start = 0usize;
    loop {
        let end = cut_near(start + SEGMENT + OVERLAP);
        out.push((start, end));
        if end >= text.len() {
            break;
        }
        let next = cut_near(start + SEGMENT);
        start = if next > start { next } else { end };
    }
    out
}

/// How far the model's windows reach, and how far apart they start.
const WINDOW: usize = 1024;
const STRIDE: usize = 768;

impl InjectionDetector {
    /// Compile the pattern table and load the compiled-in model (when `cfg.model` is on).
    pub fn new(cfg: &InjectionConfig) -> Result<Self, InjectionError> {
        let model = if cfg.model {
            Some(MODEL.clone().map_err(InjectionError::Model)?)
        } else {
            None
        };
        Self::build(cfg, model)
    }

    /// Compile the pattern table and use `model` instead of the compiled-in weights (for
    /// evaluating a freshly trained model, or weights trained on an operator's own data).
    pub fn with_model(cfg: &InjectionConfig, model: Model) -> Result<Self, InjectionError> {
        Self::build(cfg, Some(Arc::new(model)))
    }

    fn build(cfg: &InjectionConfig, model: Option<Arc<Model>>) -> Result<Self, InjectionError> {
        let mut compiled = Vec::new();
        let mut literals: Vec<(String, u16)> = Vec::new();
        for (i, spec) in patterns::patterns().into_iter().enumerate() {
            let prefix = spec.anchors.is_empty();
            let anchors = if prefix {
                prefix_literals(spec.regex).map_err(|why| InjectionError::NoAnchor(spec.id, why))?
            } else {
                spec.anchors.iter().map(|a| a.to_string()).collect()
            };
            for a in anchors {
                literals.push((a, i as u16));
            }
            compiled.push(CompiledPattern {
                word_start: spec.regex.starts_with(r"\b"),
                prefix: prefix || patterns::STARTS_AT_ANCHORS.contains(&spec.id),
                spec,
                matcher: std::sync::OnceLock::new(),
            });
        }
        // One entry per literal; a literal that contains another also wakes the other's patterns
        // (at each place the other occurs in it), so leftmost-longest matching never hides a
        // shorter anchor.
        literals.sort();
        literals.dedup();
        let mut uniq: Vec<(String, Vec<u16>)> = Vec::new();
        for (lit, p) in literals {
            match uniq.last_mut() {
                Some((l, ps)) if *l == lit => ps.push(p),
                _ => uniq.push((lit, vec![p])),
            }
        }
        let wake = |p: u16, at: usize| Wake {
            pattern: p,
            at: compiled[p as usize].prefix.then_some(at as u16),
        };
        // Which literals occur inside which: one overlapping search of every literal through an
        // automaton of all of them (comparing every pair would cost a million substring searches).
        let all = AhoCorasick::new(uniq.iter().map(|(l, _)| l.as_str()))
            .map_err(|e| InjectionError::Prefilter(e.to_string()))?;
        let mut wakes: Vec<Vec<Wake>> = Vec::with_capacity(uniq.len());
        for (lit, _) in &uniq {
            let mut w: Vec<Wake> = Vec::new();
            for m in all.find_overlapping_iter(lit.as_str()) {
                let ops = &uniq[m.pattern().as_usize()].1;
                w.extend(ops.iter().map(|&p| wake(p, m.start())));
            }
            w.sort_unstable();
            w.dedup();
            wakes.push(w);
        }
        let prefilter = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(uniq.iter().map(|(l, _)| l.as_str()))
            .map_err(|e| InjectionError::Prefilter(e.to_string()))?;
        Ok(InjectionDetector {
            inner: Arc::new(DetectorInner {
                patterns: compiled,
                prefilter,
                wakes,
                model,
                cfg: cfg.clone(),
            }),
        })
    }

    /// Compile every pattern now instead of on first use (for servers that prefer to pay once at
    /// start); fails with the first pattern that does not compile.
    pub fn precompile(&self) -> Result<(), InjectionError> {
        for p in &self.inner.patterns {
            p.matcher();
            if let Some(Err(message)) = p.matcher.get() {
                return Err(InjectionError::Pattern {
                    id: p.spec.id,
                    message: message.clone(),
                });
            }
        }
        Ok(())
    }

    /// Number of patterns.
    pub fn pattern_count(&self) -> usize {
        self.inner.patterns.len()
    }

    /// Look at a text from `source`. `review_at` and `block_at` are the severities the summary
    /// finding takes when the verdict is `review` or `block`, so that the severity-based verdict of
    /// [`crate::scan::verdict_for`] agrees with this report.
    pub fn analyze(
        &self,
        text: &[u8],
        source: &Source,
        review_at: Severity,
        block_at: Severity,
    ) -> InjectionReport {
        let cfg = &self.inner.cfg;
        let trusted = cfg.trusted_sources.iter().any(|t| t == source.as_str());
        // Orders addressed to the model are evidence in data; a tool description is addressed to
        // the model by design (its poisoning has patterns of its own).
        let data = !trusted && !source.is_tool_description();
        let Evidence {
            mut signals,
            model_score,
            model_span,
        } = if text.len() > SEGMENTED_ABOVE {
            self.segmented_evidence(text, data)
        } else {
            self.evidence(text, data)
        };

        let mut best = [0f32; CATEGORIES];
        for s in &signals {
            let b = &mut best[s.category.index()];
            *b = b.max(s.weight);
        }
        let rule_score = 1.0 - best.iter().fold(1.0f32, |acc, w| acc * (1.0 - w));
        // The model alone counts only when it is sure; below that it strengthens pattern evidence.
        let model_evidence = if model_score >= cfg.model_threshold {
            model_score
        } else if rule_score >= 0.4 {
            model_score * 0.5
        } else {
            0.0
        };
        let score = 1.0 - (1.0 - rule_score) * (1.0 - model_evidence);
        let (review, block) = if trusted {
            (cfg.review_score, cfg.block_score)
        } else {
            (cfg.untrusted_review_score, cfg.untrusted_block_score)
        };
        // The model alone asks a human; blocking takes pattern evidence of at least moderate weight
        // (`PATTERN_EVIDENCE_TO_BLOCK`), so a benign prompt the model misjudges is held, not dropped.
        let model_only = rule_score < PATTERN_EVIDENCE_TO_BLOCK;
        let verdict = if score >= block && !model_only {
            Verdict::Block
        } else if score >= review {
            Verdict::Review
        } else {
            Verdict::Allow
        };
        let mut categories: Vec<(Category, f32)> = Category::ALL
            .iter()
            .map(|&c| (c, best[c.index()]))
            .filter(|&(_, w)| w > 0.0)
            .collect();
        categories.sort_by(|a, b| b.1.total_cmp(&a.1));
        let categories: Vec<Category> = categories.into_iter().map(|(c, _)| c).collect();
        let mut findings = Vec::new();
        if verdict != Verdict::Allow {
            signals.sort_by(|a, b| a.orig.0.cmp(&b.orig.0).then(b.weight.total_cmp(&a.weight)));
            signals.dedup_by(|a, b| a.rule == b.rule && a.orig == b.orig);
            let strongest = signals
                .iter()
                .max_by(|a, b| a.weight.total_cmp(&b.weight))
                .map(|s| s.orig);
            let summary_span = if model_score > rule_score || strongest.is_none() {
                model_span
            } else {
                strongest.unwrap_or(model_span)
            };
            let names: Vec<&str> = categories.iter().map(|c| c.as_str()).collect();
            let threshold = if verdict == Verdict::Block {
                block
            } else {
                review
            };
            let held = if score >= block && model_only {
                "; review, not block: the patterns alone are weak"
            } else {
                ""
            };
            findings.push(finding(
                "injection-score",
                "score",
                if verdict == Verdict::Block { block_at } else { review_at },
                summary_span,
                format!(
                    "prompt injection score {score:.2} (at or above {threshold:.2} for {} source {source}){}{}{held}",
                    if trusted { "trusted" } else { "untrusted" },
                    if names.is_empty() { String::new() } else { format!(": {}", names.join(", ")) },
                    if model_score > 0.0 { format!("; model {model_score:.2}") } else { String::new() },
                ),
                text,
            ));
            if model_score >= cfg.model_threshold {
                findings.push(finding(
                    "injection-model",
                    "model",
                    Severity::Info,
                    model_span,
                    format!("the statistical model rates this passage {model_score:.2}"),
                    text,
                ));
            }
            for s in signals {
                findings.push(finding(
                    s.rule,
                    s.category.as_str(),
                    Severity::Info,
                    s.orig,
                    s.message,
                    text,
                ));
            }
            findings.sort_by(|a, b| {
                a.sort_span()
                    .start
                    .cmp(&b.sort_span().start)
                    .then(b.severity.cmp(&a.severity))
            });
        }
        InjectionReport {
            score,
            model_score,
            verdict,
            categories,
            findings,
        }
    }

    /// The patterns' signals and the model's strongest window over one text, read whole; with
    /// `data` (an untrusted source other than a tool description), also the orders addressed to
    /// the model ([`directive`]).
    fn evidence(&self, text: &[u8], data: bool) -> Evidence {
        let cfg = &self.inner.cfg;
        let mut budget = cfg.max_decoded_bytes;
        let norm = normalize::normalize(text);
        let mut signals = Vec::new();
        self.collect(&norm, text, cfg.decode_depth, &mut budget, &mut signals);
        let (model_score, model_window) = match &self.inner.model {
            Some(m) => self.model_score(m, &norm, &signals),
            None => (0.0, (0, 0)),
        };
        // After the model: it was trained without these, on prompts users type.
        if data {
            directive::collect(text, &mut signals);
        }
        Evidence {
            signals,
            model_score,
            model_span: norm.original_span(model_window.0, model_window.1),
        }
    }

    /// [`InjectionDetector::evidence`] of a large text, read end to end in overlapping segments
    /// on every core. The segments depend on the text alone, never on the number of threads, so
    /// the report is the same on any machine.
    fn segmented_evidence(&self, text: &[u8], data: bool) -> Evidence {
        let segments = segments(text);
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = cores().min(segments.len());
        let work = || {
            let mut acc = Evidence::default();
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(start, end)) = segments.get(k) else {
                    break;
                };
                let mut part = self.evidence(&text[start..end], data);
                for s in &mut part.signals {
                    s.orig = (s.orig.0 + start, s.orig.1 + start);
                    // Spans of a segment's view mean nothing outside it.
                    s.norm = None;
                }
                part.model_span = (part.model_span.0 + start, part.model_span.1 + start);
                acc.merge(part);
            }
            acc
        };
        let mut all = Evidence::default();
        if threads <= 1 {
            all = work();
        } else {
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
                for w in workers {
                    match w.join() {
                        Ok(part) => all.merge(part),
                        // As on one thread: a panic is a bug, never a partial report.
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
            });
        }
        all
    }

    /// The model's highest probability over windows of the normalized text, and that window.
    fn model_score(
        &self,
        m: &Model,
        norm: &Normalized,
        signals: &[Signal],
    ) -> (f32, (usize, usize)) {
        let text = &norm.text;
        let mut best = (0f32, (0usize, 0usize));
        let mut start = 0usize;
        loop {
            let mut end = ceil_char(text, (start + WINDOW).min(text.len()));
            // End the window at a space so words stay whole.
            if end < text.len()
                && let Some(sp) = text.as_bytes()[start..end]
                    .iter()
                    .rposition(|&b| b == b' ' || b == b'\n')
                && sp > WINDOW / 2
            {
                end = start + sp;
            }
            // A window of fewer than three distinct words is no prose for the model to judge (a
            // run of one character, a heading, a number): patterns alone speak for it.
            let prose = distinct_words(&text[start..end], 3) >= 3;
            let mut cats: CategoryFeatures = [0.0; CATEGORIES];
            for s in signals {
                let inside = match s.norm {
                    Some((s0, e0)) => s0 < end && e0 > start,
                    None => true,
                };
                if inside {
                    let c = &mut cats[s.category.index()];
                    *c = c.max(s.weight);
                }
            }
            let p = if prose {
                m.text_probability(&text[start..end], &cats)
            } else {
                0.0
            };
            if p > best.0 {
                best = (p, (start, end));
            }
            if end >= text.len() {
                break;
            }
            let next = ceil_char(text, (start + STRIDE).min(end));
            start = if next > start { next } else { end };
        }
        best
    }

    /// Evidence for the model's training: hashed features and category features of a text, as
    /// [`InjectionDetector::analyze`] computes them for a single window.
    pub fn training_example(&self, text: &[u8]) -> (Vec<u32>, CategoryFeatures) {
        let cfg = &self.inner.cfg;
        let mut budget = cfg.max_decoded_bytes;
        let norm = normalize::normalize(text);
        let mut signals = Vec::new();
        self.collect(&norm, text, cfg.decode_depth, &mut budget, &mut signals);
        let mut cats: CategoryFeatures = [0.0; CATEGORIES];
        for s in &signals {
            let c = &mut cats[s.category.index()];
            *c = c.max(s.weight);
        }
        let mut hashed = Vec::new();
        model::features(&norm.text, &mut hashed);
        (hashed, cats)
    }
}

/// Whether `at` lies inside a word: the characters on both sides are letters, ASCII digits or `_`
/// (all of which `\w` counts as word characters, so `\b` cannot hold there).
fn inside_word(text: &str, at: usize) -> bool {
    let word = |c: char| c.is_alphabetic() || c.is_ascii_digit() || c == '_';
    let before = text[..at].chars().next_back();
    let after = text[at..].chars().next();
    matches!((before, after), (Some(b), Some(a)) if word(b) && word(a))
}

/// How many distinct whitespace-separated words `text` has, counting up to `limit`.
fn distinct_words(text: &str, limit: usize) -> usize {
    let mut seen: Vec<&str> = Vec::with_capacity(limit);
    for w in text.split_whitespace() {
        if !seen.contains(&w) {
            seen.push(w);
            if seen.len() >= limit {
                break;
            }
        }
    }
    seen.len()
}

/// A short, printable quote of matched text for messages (at most 80 characters).
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(80)
        .collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

fn finding(
    rule: &str,
    category: &str,
    severity: Severity,
    (start, end): (usize, usize),
    message: String,
    text: &[u8],
) -> Finding {
    let end = end.min(text.len());
    let start = start.min(end);
    Finding {
        kind: FindingKind::Injection,
        rule: rule.to_string(),
        category: Some(category.to_string()),
        severity,
        location: crate::Location::Span(crate::Span { start, end }),
        message,
        preview: quote(&String::from_utf8_lossy(&text[start..end])),
    }
}

/// The character boundary at or before `i` (`i` at most `s.len()`).
pub(crate) fn floor_char(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The literal prefixes of a regex, for the prefilter; an error when they are not a finite set of
/// useful (3 bytes or longer) literals.
fn prefix_literals(pattern: &str) -> Result<Vec<String>, String> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .map_err(|e| e.to_string())?;
    let mut ex = Extractor::new();
    ex.kind(ExtractKind::Prefix).limit_total(400).limit_class(4);
    let seq = ex.extract(&hir);
    let lits = seq.literals().ok_or("an infinite set of prefixes")?;
    let mut out = Vec::new();
    for l in lits {
        let s = String::from_utf8_lossy(l.as_bytes()).into_owned();
        if s.len() < 3 {
            return Err(format!("prefix {s:?} is shorter than 3 bytes"));
        }
        out.push(s);
    }
    if out.is_empty() {
        return Err("no prefix".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
