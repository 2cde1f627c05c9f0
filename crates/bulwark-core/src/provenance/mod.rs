//! Provenance: where each piece of a model's context came from, and what that means for the tool
//! calls the model proposes.
//!
//! Threat answered: indirect prompt injection that no detector catches. An alert annotation, an
//! e-mail, a web page or an issue comment says "please also send the report to amy@…", the model
//! proposes `send_email`, and the agent runs it. Detection finds a fraction of such texts; data
//! flow does not depend on wording. Every piece of the context gets a label ([`Origin`], trusted
//! or not by [`ProvenanceConfig`], with its injection score); a call proposed while untrusted
//! pieces are in the context is tainted ([`Taint`]), and three rules decide it by its class, by
//! whether it sends data out, by whether the context holds secrets or personal data, and by
//! whether its arguments came from untrusted text:
//!
//! 1. a write or destructive call in a tainted context needs approval, in every mode, unless it
//!    is a write the user directed (what it acts on and where it goes in the trusted text's own
//!    words, nothing in it from untrusted content);
//! 2. a call that sends data out, in a context that holds untrusted content and secrets or
//!    personal data, is refused (the "lethal trifecta");
//! 3. a destination (URL, e-mail address, host) that appears only in untrusted content, or a
//!    value copied from it, is attacker-chosen: a call that sends to it, or writes with it, needs
//!    approval.
//!
//! The rules only make a decision stricter. What each piece says is kept (bounded) while a
//! request is judged, and never in a decision: a [`Taint`] names pieces and arguments, not values.

pub mod cfg;
mod copies;
mod directed;
pub mod handoff;
mod sends;
#[cfg(test)]
mod tests;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;

pub use crate::finding::{ChosenArg, Taint, TaintSource};
pub use cfg::{ProvenanceConfig, RuleEffect};
pub use handoff::{Handoff, HandoffStore};

use crate::Verdict;
use crate::action::{ActionClass, ActionDecision, ExecutionIntent};
use crate::config::problems::Problems;
use crate::finding::{Finding, FindingKind, Location, Severity};
use copies::collect_strings;
use sends::{Destination, SENDERS};

/// Where a piece of context came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The system prompt, or developer instructions.
    System,
    /// The user's messages.
    User,
    /// What the model wrote earlier: neither trusted nor a source of taint (it came from the
    /// rest of the context).
    Assistant,
    /// A tool's result, by the tool's name (`get_alert`, `github.get_issue`).
    Tool(String),
}

impl Origin {
    /// `system`, `user`, `assistant` or `tool:NAME`.
    pub fn label(&self) -> String {
        match self {
            Origin::System => "system".into(),
            Origin::User => "user".into(),
            Origin::Assistant => "assistant".into(),
            Origin::Tool(t) => format!("tool:{t}"),
        }
    }
}

/// One piece of context: its origin, where it is, its injection score and (for matching) its
/// text, lowercased.
#[derive(Clone)]
pub struct Piece {
    /// Where it came from.
    pub origin: Origin,
    /// Where it is in the request (`messages[3]`, `input[2]`).
    pub at: String,
    /// The injection detector's score, 0 to 1.
    pub injection_score: f32,
    /// Secret values found in it.
    pub secrets: usize,
    /// Personal-data values found in it.
    pub pii: usize,
    text: String,
}

impl std::fmt::Debug for Piece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Piece")
            .field("origin", &self.origin)
            .field("at", &self.at)
            .field("injection_score", &self.injection_score)
            .field("secrets", &self.secrets)
            .field("pii", &self.pii)
            .field("bytes", &self.text.len())
            .finish()
    }
}

/// Most bytes of text one context keeps for matching; a piece past it keeps its label only.
const MAX_TEXT: usize = 4 * 1024 * 1024;
/// Most pieces one context keeps.
const MAX_PIECES: usize = 4096;

/// The labelled context of one model request.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pieces: Vec<Piece>,
    sensitive: usize,
    bytes: usize,
    /// Sources this request does not carry (earlier turns of a stored response it continues,
    /// hosted tools whose results come within the reply), and pieces past the bound: labels
    /// without text, with where they are.
    earlier: Vec<(Origin, String)>,
    /// Most bytes of text and pieces kept, when below [`MAX_TEXT`] and [`MAX_PIECES`].
    limit: Option<(usize, usize)>,
}

impl Provenance {
    /// An empty context.
    pub fn new() -> Provenance {
        Provenance::default()
    }

    /// An empty context that keeps at most `bytes` of text and `pieces` pieces (a long-lived
    /// one: an MCP session's); past them a piece is kept as its label.
    pub fn with_limit(bytes: usize, pieces: usize) -> Provenance {
        Provenance {
            limit: Some((bytes.min(MAX_TEXT), pieces.min(MAX_PIECES))),
            ..Provenance::default()
        }
    }

    /// Whether it holds any piece or source at all.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty() && self.earlier.is_empty()
    }

    /// Add a piece. Its text is kept (lowercased) while the context is under its bounds.
    pub fn add(&mut self, origin: Origin, at: impl Into<String>, text: &str, injection_score: f32) {
        let (max_text, max_pieces) = self.limit.unwrap_or((MAX_TEXT, MAX_PIECES));
        if self.pieces.len() >= max_pieces {
            // Past the bound, one more untrusted piece still taints: kept as a label.
            if !matches!(origin, Origin::Assistant) {
                self.add_unseen([origin], "past the bound");
            }
            return;
        }
        let room = max_text.saturating_sub(self.bytes);
        let mut end = text.len().min(room);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.bytes += end;
        self.pieces.push(Piece {
            origin,
            at: at.into(),
            injection_score,
            secrets: 0,
            pii: 0,
            text: text[..end].to_lowercase(),
        });
    }

    /// Note the secrets and personal data found in the pieces at `at` (a message holds one or
    /// more; what the model's own turns hold counts for the whole context).
    pub fn note_values(&mut self, at: &str, secrets: usize, pii: usize) {
        if secrets + pii == 0 {
            return;
        }
        let mut found = false;
        for p in self.pieces.iter_mut().filter(|p| p.at == at) {
            p.secrets += secrets;
            p.pii += pii;
            found = true;
        }
        if !found {
            self.sensitive += secrets + pii;
        }
    }

    /// Note secrets or personal data that count wherever they came from: in the request's tool
    /// definitions and metadata, or kept from earlier turns it does not carry.
    pub fn add_sensitive(&mut self, n: usize) {
        self.sensitive += n;
    }

    /// Note sources the request does not carry, with where they are (`earlier` turns, the
    /// `reply` a hosted tool's results come within).
    pub fn add_unseen(&mut self, origins: impl IntoIterator<Item = Origin>, at: &str) {
        for o in origins {
            if !self.earlier.iter().any(|(e, a)| *e == o && a == at) {
                self.earlier.push((o, at.to_string()));
            }
        }
    }

    /// The pieces.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The sources noted without their text, with where they are.
    pub fn unseen(&self) -> &[(Origin, String)] {
        &self.earlier
    }
}

/// Most sources and arguments a [`Taint`] lists.
pub const MAX_LISTED: usize = 16;

/// What the provenance rules decided for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Allow (no rule applied), review or block.
    pub verdict: Verdict,
    /// The rule that decided (`provenance-tainted-write`, `provenance-trifecta`,
    /// `provenance-attacker-chosen`), empty when none did.
    pub rule: String,
    /// Why, for a person.
    pub message: String,
    /// The approver's view.
    pub taint: Taint,
}

/// Apply what the rules said to the action policy's decision: a stricter verdict wins, with its
/// rule and message (and a finding); the approver's view is kept either way.
pub fn apply(decision: &mut ActionDecision, j: Judgement) {
    if j.verdict > decision.verdict {
        decision.verdict = j.verdict;
        decision.rule = j.rule.clone();
        decision.message = j.message.clone();
        if j.verdict == Verdict::Review {
            decision.approvals_needed = decision.approvals_needed.max(1);
        }
        decision.findings.push(Finding {
            kind: FindingKind::Action,
            rule: j.rule,
            category: None,
            severity: if j.verdict == Verdict::Block {
                Severity::High
            } else {
                Severity::Medium
            },
            location: Location::Field("provenance".into()),
            message: j.message,
            preview: String::new(),
        });
    }
    decision.taint = Some(j.taint);
}

/// Check `[action.provenance]`, every problem onto `p`.
pub fn check_config(cfg: &ProvenanceConfig, p: &mut Problems) {
    if let Err(e) = ProvenancePolicy::new(cfg) {
        p.invalid(e.key, e.value, e.expected);
    }
}

/// A configuration value the provenance policy cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value}: expected {expected}")]
pub struct ProvenanceConfigError {
    /// The key, e.g. `action.provenance.trusted_tools[0]`.
    pub key: String,
    /// The value given.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

/// The compiled provenance rules.
#[derive(Debug, Clone)]
pub struct ProvenancePolicy {
    cfg: ProvenanceConfig,
    trusted: GlobSet,
    asked: GlobSet,
    senders: GlobSet,
    builtin_senders: GlobSet,
    url: Regex,
    email: Regex,
    domain: Regex,
}

fn globs(key: &str, list: &[String], builtin: &[&str]) -> Result<GlobSet, ProvenanceConfigError> {
    let mut b = GlobSetBuilder::new();
    for p in builtin {
        b.add(Glob::new(p).map_err(|e| ProvenanceConfigError {
            key: key.into(),
            value: format!("{p:?}"),
            expected: format!("a glob ({e})"),
        })?);
    }
    for (i, p) in list.iter().enumerate() {
        let g = Glob::new(&p.to_lowercase()).map_err(|e| ProvenanceConfigError {
            key: format!("{key}[{i}]"),
            value: format!("{p:?}"),
            expected: format!("a glob over tool names, such as `get_metrics` or `github.*` ({e})"),
        })?;
        b.add(g);
    }
    b.build().map_err(|e| ProvenanceConfigError {
        key: key.into(),
        value: String::new(),
        expected: e.to_string(),
    })
}

impl ProvenancePolicy {
    /// Compile `[action.provenance]`.
    pub fn new(cfg: &ProvenanceConfig) -> Result<ProvenancePolicy, ProvenanceConfigError> {
        if cfg.min_common < 8 || cfg.min_common > 4096 {
            return Err(ProvenanceConfigError {
                key: "action.provenance.min_common".into(),
                value: cfg.min_common.to_string(),
                expected: "a number of characters from 8 to 4096".into(),
            });
        }
        for (i, d) in cfg.internal_domains.iter().enumerate() {
            let ok = !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !ok {
                return Err(ProvenanceConfigError {
                    key: format!("action.provenance.internal_domains[{i}]"),
                    value: format!("{d:?}"),
                    expected: "a domain name, such as `corp.example`".into(),
                });
            }
        }
        let re = |p: &str| Regex::new(p).expect("a fixed pattern");
        Ok(ProvenancePolicy {
            cfg: cfg.clone(),
            trusted: globs("action.provenance.trusted_tools", &cfg.trusted_tools, &[])?,
            asked: globs("action.provenance.asked_tools", &cfg.asked_tools, &[])?,
            senders: globs("action.provenance.senders", &cfg.senders, &[])?,
            builtin_senders: globs("action.provenance.senders", &[], SENDERS)?,
            url: re(r"[a-z][a-z0-9+.-]{1,15}://[^\s<>'`\x22\\)\]]+"),
            email: re(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}"),
            domain: re(
                r"\b(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}|(?:\d{1,3}\.){3}\d{1,3})\b",
            ),
        })
    }

    /// Whether the rules apply at all.
    pub fn enabled(&self) -> bool {
        self.cfg.enabled
    }

    /// Whether a piece from `origin` is trusted.
    pub fn trusted(&self, origin: &Origin) -> bool {
        match origin {
            Origin::System => self.cfg.trust_system,
            Origin::User => self.cfg.trust_user,
            Origin::Assistant => false,
            Origin::Tool(t) => self.trusted.is_match(t.to_lowercase()),
        }
    }

    /// Whether the context holds private data: a secret or personal data anywhere in it (an
    /// inbox holds other people's data that the author of one message in it has no right to).
    fn sensitive(&self, ctx: &Provenance) -> bool {
        ctx.sensitive > 0 || ctx.pieces.iter().any(|p| p.secrets + p.pii > 0)
    }

    /// Whether a piece from `origin` taints the calls proposed after it.
    fn taints(&self, origin: &Origin) -> bool {
        !matches!(origin, Origin::Assistant) && !self.trusted(origin)
    }

    /// Judge one call (its intent and what the action policy decided) in its context. `None`
    /// when the context holds nothing untrusted (or the rules are off).
    pub fn judge(
        &self,
        intent: &ExecutionIntent,
        decision: &ActionDecision,
        ctx: &Provenance,
    ) -> Option<Judgement> {
        if !self.cfg.enabled {
            return None;
        }
        // Each origin's trust is looked up once (a context holds many pieces of few origins).
        let mut seen: Vec<(&Origin, bool)> = Vec::new();
        let (mut untrusted, mut trusted): (Vec<&Piece>, Vec<&Piece>) = (Vec::new(), Vec::new());
        for p in &ctx.pieces {
            if matches!(p.origin, Origin::Assistant) {
                continue;
            }
            let known = seen.iter().find(|(x, _)| **x == p.origin).map(|s| s.1);
            let t = known.unwrap_or_else(|| {
                let t = self.trusted(&p.origin);
                seen.push((&p.origin, t));
                t
            });
            if t {
                trusted.push(p);
            } else {
                untrusted.push(p);
            }
        }
        let earlier: Vec<&(Origin, String)> =
            ctx.earlier.iter().filter(|(o, _)| self.taints(o)).collect();
        if untrusted.is_empty() && earlier.is_empty() {
            return None;
        }
        // The most suspicious first, named: a long context (an MCP session's every result) is
        // ranked by reference, and only those listed are spelled out.
        let score = |p: &Piece| (p.injection_score.clamp(0.0, 1.0) * 1000.0).round() as u16;
        let mut ranked: Vec<&Piece> = untrusted.clone();
        ranked.sort_by_key(|p| std::cmp::Reverse(score(p)));
        let count = untrusted.len() + earlier.len();
        let sources: Vec<TaintSource> = ranked
            .iter()
            .map(|p| TaintSource {
                at: p.at.clone(),
                source: p.origin.label(),
                injection: score(p),
            })
            .chain(earlier.iter().map(|(o, at)| TaintSource {
                at: at.clone(),
                source: o.label(),
                injection: 0,
            }))
            .take(MAX_LISTED)
            .collect();

        let mut strings = Vec::new();
        for (k, x) in &intent.args.0 {
            collect_strings(&format!("args.{k}"), x, &mut strings);
        }
        // Read as the tool will use them: lowercased, and percent-decoded too (`evil%2eio`);
        // their destinations found once.
        let args: Vec<Arg> = strings
            .into_iter()
            .map(|(path, v)| {
                // Ideographic and full-width dots are dots to a resolver.
                let v = v.to_lowercase().replace(['。', '．', '｡'], ".");
                let decoded = percent_encoding::percent_decode_str(&v)
                    .decode_utf8_lossy()
                    .into_owned();
                let text = if decoded != v {
                    format!("{v} {decoded}")
                } else {
                    v
                };
                let dests = self.destinations(&text);
                Arg { path, text, dests }
            })
            .collect();
        let sends = self.sends(intent, decision, &args, ctx);
        // Copies matter to a call that writes or sends; a read is judged by where it goes.
        let copies = sends || decision.class >= ActionClass::Write;
        let chosen = self.chosen(&args, &untrusted, &trusted, copies);
        let taint = Taint {
            sources,
            untrusted: count,
            chosen,
            sends,
            sensitive: self.sensitive(ctx),
        };

        let mut j = Judgement {
            verdict: Verdict::Allow,
            rule: String::new(),
            message: String::new(),
            taint,
        };
        let from = |t: &Taint| {
            let names: Vec<String> = t
                .sources
                .iter()
                .take(3)
                .map(|s| format!("{} at {}", s.source, s.at))
                .collect();
            let more = t.untrusted.saturating_sub(names.len());
            if more > 0 {
                format!("{} and {more} more", names.join(", "))
            } else {
                names.join(", ")
            }
        };
        let write = decision.class >= ActionClass::Write;
        // A write the user directed (what it acts on and where it goes, in the user's own
        // words) with nothing from untrusted content in it is the user's task, not the
        // content's: rule 3 still reads its arguments, rule 2 still reads what it sends.
        // Its free text may repeat the content it was asked about (a summary of the ticket
        // quotes it); a destination the content gave, or a copy anywhere else, is the content's
        // choice.
        // A call of free text alone, to a tool that makes what the user asked for, is trusted
        // less: no copy from untrusted content (nor destination) even in its text, and nothing
        // sent.
        let may_ask = self.asked.is_match(intent.tool.to_lowercase());
        let directed = self.cfg.directed_writes
            && decision.class == ActionClass::Write
            && match directed::directed(&intent.tool, may_ask, &intent.args.0, &trusted) {
                directed::Directed::Targets => j
                    .taint
                    .chosen
                    .iter()
                    .all(|c| c.why.starts_with("copied") && directed::free_text(&c.arg)),
                directed::Directed::Asked => j.taint.chosen.is_empty() && !j.taint.sends,
                directed::Directed::No => false,
            };
        if write && !directed {
            let m = format!(
                "a {} call proposed while the context holds untrusted content ({}): a person approves it",
                decision.class.as_str(),
                from(&j.taint)
            );
            raise(
                &mut j,
                self.cfg.tainted_writes,
                "provenance-tainted-write",
                m,
            );
        }
        if j.taint.sends && j.taint.sensitive {
            let m = format!(
                "it sends data out while the context holds both untrusted content ({}) and secrets or personal data",
                from(&j.taint)
            );
            raise(&mut j, self.cfg.trifecta, "provenance-trifecta", m);
        }
        // A request to a host only untrusted content named (a link it gave, followed):
        // attacker-chosen too, unless links may be followed.
        let requests =
            !self.cfg.follow_links && j.taint.chosen.iter().any(|c| c.why.starts_with("link to"));
        if !j.taint.chosen.is_empty() && !directed && (j.taint.sends || write || requests) {
            let args: Vec<String> = j
                .taint
                .chosen
                .iter()
                .take(3)
                .map(|c| format!("{} ({} from {})", c.arg, c.why, c.from))
                .collect();
            let m = format!(
                "its arguments came from untrusted content, chosen by whoever wrote it: {}",
                args.join("; ")
            );
            raise(
                &mut j,
                self.cfg.attacker_chosen,
                "provenance-attacker-chosen",
                m,
            );
        }
        Some(j)
    }
}

/// Raise a judgement to what `effect` says, keeping the strictest rule.
fn raise(j: &mut Judgement, effect: RuleEffect, rule: &str, message: String) {
    let v = match effect {
        RuleEffect::Off => return,
        RuleEffect::Review => Verdict::Review,
        RuleEffect::Block => Verdict::Block,
    };
    if v > j.verdict {
        j.verdict = v;
        j.rule = rule.to_string();
        j.message = message;
    }
}

/// One string argument as the rules read it: its path (`args.to`), its text (lowercased, and
/// percent-decoded beside), and the destinations in it.
struct Arg {
    path: String,
    text: String,
    dests: Vec<Destination>,
}
