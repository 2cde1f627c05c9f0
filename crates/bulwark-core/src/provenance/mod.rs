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
//! 1. a write or destructive call in a tainted context needs approval, in every mode;
//! 2. a call that sends data out, in a context that holds untrusted content and secrets or
//!    personal data, is refused (the "lethal trifecta");
//! 3. a destination (URL, e-mail address, host) that appears only in untrusted content, or a
//!    value copied from it, is attacker-chosen: a call that sends to it, or writes with it, needs
//!    approval.
//!
//! The rules only make a decision stricter. What each piece says is kept (bounded) while a
//! request is judged, and never in a decision: a [`Taint`] names pieces and arguments, not values.

pub mod cfg;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use cfg::{ProvenanceConfig, RuleEffect};

use crate::Verdict;
use crate::action::{ActionClass, ActionDecision, ExecutionIntent};

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
    /// Sources of earlier turns that this request does not carry (a stored response it
    /// continues), and pieces past the bound: labels without text.
    earlier: Vec<Origin>,
}

impl Provenance {
    /// An empty context.
    pub fn new() -> Provenance {
        Provenance::default()
    }

    /// Add a piece. Its text is kept (lowercased) while the context is under its bounds.
    pub fn add(&mut self, origin: Origin, at: impl Into<String>, text: &str, injection_score: f32) {
        if self.pieces.len() >= MAX_PIECES {
            // Past the bound, one more untrusted piece still taints: kept as a label.
            if !matches!(origin, Origin::Assistant) && !self.earlier.contains(&origin) {
                self.earlier.push(origin);
            }
            return;
        }
        let room = MAX_TEXT.saturating_sub(self.bytes);
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
    /// more). Secrets where no piece is (the model's own turns) count wherever they are; personal
    /// data there is what the model repeated from the pieces, counted where it came from.
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
            self.sensitive += secrets;
        }
    }

    /// Note secrets or personal data that count wherever they came from: in the request's tool
    /// definitions and metadata, or kept from earlier turns it does not carry.
    pub fn add_sensitive(&mut self, n: usize) {
        self.sensitive += n;
    }

    /// Note the sources of earlier turns the request does not carry.
    pub fn add_earlier(&mut self, origins: impl IntoIterator<Item = Origin>) {
        self.earlier.extend(origins);
    }

    /// The pieces.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }
}

/// An untrusted piece a call was proposed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaintSource {
    /// Where it is in the request (`messages[3]`), or `earlier` for a turn the request does not
    /// carry.
    pub at: String,
    /// `tool:NAME`, `user` or `system`.
    pub source: String,
    /// The injection detector's score, in thousandths.
    pub injection: u16,
}

/// An argument whose value came from untrusted content (the value itself is in the intent, not
/// here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChosenArg {
    /// The argument (`args.to`, `args.command`).
    pub arg: String,
    /// The untrusted piece it came from.
    pub from: String,
    /// Why: `destination only in untrusted content` or `copied: N characters in common`.
    pub why: String,
}

/// What the untrusted part of a context means for one call: the approver's view.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Taint {
    /// The untrusted pieces in the context (at most [`MAX_LISTED`], the most suspicious first).
    pub sources: Vec<TaintSource>,
    /// Untrusted pieces in all.
    pub untrusted: usize,
    /// Arguments whose values came from untrusted content.
    pub chosen: Vec<ChosenArg>,
    /// Whether the call sends data out.
    pub sends: bool,
    /// Whether the context holds secrets or personal data.
    pub sensitive: bool,
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

/// Tools that send data out, whatever their verb (globs over the name).
const SENDERS: &[&str] = &[
    "send*",
    "*_send",
    "*send_*",
    "post_*",
    "*_post",
    "forward*",
    "*_email",
    "*email_*",
    "reply*",
    "http*",
    "*webhook*",
    "upload*",
    "publish*",
    "share*",
    "notify*",
    "page_*",
    "*message*",
    "*slack*",
    "*tweet*",
    "comment*",
    "invite*",
    "*_comment",
    "create_issue",
    "create_pull_request",
    "add_collaborator",
    "transfer*",
    "wire*",
    "pay*",
];

/// Programs a shell command sends data out with.
const NET_PROGRAMS: &[&str] = &[
    "curl", "wget", "nc", "ncat", "netcat", "socat", "ssh", "scp", "sftp", "rsync", "ftp",
    "telnet", "mail", "mailx", "sendmail", "mutt", "http", "https", "xh", "aws", "gcloud",
    "gsutil", "az", "kubectl", "gh", "s3cmd", "rclone", "openssl", "dig", "nslookup", "host",
    "ping",
];

/// The compiled provenance rules.
#[derive(Debug, Clone)]
pub struct ProvenancePolicy {
    cfg: ProvenanceConfig,
    trusted: GlobSet,
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
            senders: globs("action.provenance.senders", &cfg.senders, &[])?,
            builtin_senders: globs("action.provenance.senders", &[], SENDERS)?,
            url: re(r"[a-z][a-z0-9+.-]{1,15}://[^\s<>'`\x22\\)\]]+"),
            email: re(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}"),
            domain: re(r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b"),
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

    /// Whether the context holds private data: a secret anywhere, or personal data in a piece
    /// that is not untrusted. Personal data only an untrusted source wrote is known to whoever
    /// wrote it (an e-mail's sender and its `From:` address).
    fn sensitive(&self, ctx: &Provenance) -> bool {
        ctx.sensitive > 0
            || ctx
                .pieces
                .iter()
                .any(|p| p.secrets > 0 || (p.pii > 0 && !self.taints(&p.origin)))
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
        let untrusted: Vec<&Piece> = ctx
            .pieces
            .iter()
            .filter(|p| self.taints(&p.origin))
            .collect();
        let earlier: Vec<&Origin> = ctx.earlier.iter().filter(|o| self.taints(o)).collect();
        if untrusted.is_empty() && earlier.is_empty() {
            return None;
        }
        let trusted: Vec<&Piece> = ctx
            .pieces
            .iter()
            .filter(|p| self.trusted(&p.origin))
            .collect();
        let mut sources: Vec<TaintSource> = untrusted
            .iter()
            .map(|p| TaintSource {
                at: p.at.clone(),
                source: p.origin.label(),
                injection: (p.injection_score.clamp(0.0, 1.0) * 1000.0).round() as u16,
            })
            .chain(earlier.iter().map(|o| TaintSource {
                at: "earlier".into(),
                source: o.label(),
                injection: 0,
            }))
            .collect();
        let count = sources.len();
        sources.sort_by_key(|s| std::cmp::Reverse(s.injection));
        sources.truncate(MAX_LISTED);

        let mut strings = Vec::new();
        collect_strings(
            "args",
            &serde_json::Value::Object(intent.args.0.clone()),
            &mut strings,
        );
        let lowered: Vec<(String, String)> = strings
            .into_iter()
            .map(|(k, v)| (k, v.to_lowercase()))
            .collect();
        let chosen = self.chosen(&lowered, &untrusted, &trusted);
        let sends = self.sends(intent, decision, &lowered, ctx);
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
        if write {
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
        let requests = !self.cfg.follow_links
            && j.taint.chosen.iter().any(|c| c.why.starts_with("link to"));
        if !j.taint.chosen.is_empty() && (j.taint.sends || write || requests) {
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

    /// Whether a call sends data out: a sender by name, a verb in no class, a shell command
    /// with a network program, or a URL or e-mail address (outside the internal domains) that
    /// the context does not hold verbatim, or any outside one in a call that is not a read.
    fn sends(
        &self,
        intent: &ExecutionIntent,
        decision: &ActionDecision,
        args: &[(String, String)],
        ctx: &Provenance,
    ) -> bool {
        let tool = intent.tool.to_lowercase();
        let verb = format!("{tool}.{}", intent.action.to_lowercase());
        let read = decision.class == ActionClass::Read;
        let named = |set: &GlobSet| set.is_match(&tool) || set.is_match(&verb);
        // The operator's list always; the built-in names for what is not classified a read
        // (`read_email` is a read, not a sender), unless every destination the call names is
        // internal (a mail to a colleague stays in).
        let dests: Vec<Destination> = args
            .iter()
            .flat_map(|(_, v)| self.destinations(v))
            .collect();
        let stays_in = !dests.is_empty() && dests.iter().all(|d| self.internal(&d.host));
        if named(&self.senders) || (!read && !stays_in && named(&self.builtin_senders)) {
            return true;
        }
        if decision
            .findings
            .iter()
            .any(|f| f.rule == "action-unknown-verb")
        {
            return true;
        }
        if let Some(cmd) = intent.args.str("command") {
            let cmd = cmd.to_lowercase();
            let words = cmd.split(|c: char| {
                c.is_whitespace()
                    || matches!(c, ';' | '|' | '&' | '(' | ')' | '`' | '$' | '\'' | '"')
            });
            let mut git = false;
            for w in words {
                let base = w.rsplit('/').next().unwrap_or(w);
                if NET_PROGRAMS.contains(&base) || (git && base == "push") {
                    return true;
                }
                git |= base == "git";
            }
        }
        dests.iter().any(|d| {
            // A read sends only by the links it requests; one that follows a link the context
            // gave carries nothing of its own, nor does one that names only an origin
            // (`https://registry.npmjs.org`).
            !self.internal(&d.host)
                && (!read
                    || (d.link
                        && !d.bare
                        && !ctx.pieces.iter().any(|p| p.text.contains(&d.whole))))
        })
    }

    fn internal(&self, host: &str) -> bool {
        self.cfg.internal_domains.iter().any(|d| {
            let d = d.to_lowercase();
            host == d || host.ends_with(&format!(".{d}"))
        })
    }

    /// URLs, e-mail addresses and domain names in a lowercased text.
    fn destinations(&self, v: &str) -> Vec<Destination> {
        let mut out = Vec::new();
        // Where URLs and addresses are: a domain inside one (an address's local part) is not
        // one of its own.
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for m in self.url.find_iter(v) {
            spans.push((m.start(), m.end()));
            let whole = m
                .as_str()
                .trim_end_matches(['.', ',', ';', ':'])
                .to_string();
            let parsed = url::Url::parse(&whole).ok();
            let host = parsed
                .as_ref()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            let bare = parsed.as_ref().is_some_and(|u| {
                u.username().is_empty()
                    && u.password().is_none()
                    && matches!(u.path(), "" | "/")
                    && u.query().is_none()
                    && u.fragment().is_none()
            });
            if !host.is_empty() {
                out.push(Destination {
                    whole,
                    host,
                    bare,
                    link: true,
                });
            }
        }
        for m in self.email.find_iter(v) {
            spans.push((m.start(), m.end()));
            let whole = m.as_str().to_string();
            let host = whole.rsplit('@').next().unwrap_or_default().to_string();
            out.push(Destination {
                whole,
                host,
                bare: false,
                link: false,
            });
        }
        for m in self.domain.find_iter(v) {
            if spans.iter().any(|&(s, e)| m.start() < e && s < m.end()) {
                continue;
            }
            let host = m.as_str().to_string();
            // File names (`main.rs`, `values.yaml`) and code (`bh.session(`, `os.environ[`)
            // are not hosts.
            let code = matches!(v.as_bytes().get(m.end()), Some(b'(' | b'[' | b'='));
            if code || has_file_suffix(&host) || out.iter().any(|d| d.host == host) {
                continue;
            }
            out.push(Destination {
                whole: host.clone(),
                host,
                bare: true,
                link: false,
            });
        }
        out
    }

    /// Arguments whose values came from untrusted pieces: a destination that appears in an
    /// untrusted piece and in no trusted one, or a run of `min_common` characters shared with an
    /// untrusted piece and with no trusted one.
    fn chosen(
        &self,
        args: &[(String, String)],
        untrusted: &[&Piece],
        trusted: &[&Piece],
    ) -> Vec<ChosenArg> {
        let mut out = Vec::new();
        let in_trusted = |s: &str| trusted.iter().any(|p| p.text.contains(s));
        for (arg, v) in args {
            if out.len() >= MAX_LISTED {
                break;
            }
            let mut found = None;
            for d in self.destinations(v) {
                if self.internal(&d.host) || in_trusted(&d.host) {
                    continue;
                }
                if let Some(p) = untrusted.iter().find(|p| p.text.contains(&d.host)) {
                    let what = if d.link { "link to" } else { "destination" };
                    found = Some(ChosenArg {
                        arg: arg.clone(),
                        from: format!("{} at {}", p.origin.label(), p.at),
                        why: format!("{what} `{}` only in untrusted content", d.host),
                    });
                    break;
                }
            }
            if found.is_none() {
                let k = self.cfg.min_common;
                for p in untrusted {
                    if let Some(n) = common_run(v, &p.text, k, &in_trusted) {
                        found = Some(ChosenArg {
                            arg: arg.clone(),
                            from: format!("{} at {}", p.origin.label(), p.at),
                            why: format!("copied: {n} characters in common"),
                        });
                        break;
                    }
                }
            }
            out.extend(found);
        }
        out
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

struct Destination {
    /// The URL or address as written (lowercased).
    whole: String,
    host: String,
    /// A URL that names only its origin (no user, path, query or fragment), or a bare domain.
    bare: bool,
    /// A URL (a request goes there), not an address or a bare domain.
    link: bool,
}

fn has_file_suffix(host: &str) -> bool {
    const FILES: &[&str] = &[
        "rs", "py", "js", "ts", "go", "md", "txt", "json", "yaml", "yml", "toml", "sh", "log",
        "csv", "html", "css", "lock", "cfg", "conf", "ini", "xml", "java", "rb", "php", "c", "h",
        "cpp", "tf", "sql", "env", "pem", "key", "zip", "gz", "tar", "png", "jpg", "pdf", "tsx",
        "jsx", "vue", "kt", "swift", "lua", "pl", "ex", "exs", "erl", "hs", "ml", "scala",
    ];
    host.rsplit('.')
        .next()
        .is_some_and(|tld| FILES.contains(&tld))
}

/// Every string leaf of `v` with its path.
fn collect_strings(path: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) => out.push((path.to_string(), s.clone())),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_strings(&format!("{path}[{i}]"), x, out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                collect_strings(&format!("{path}.{k}"), x, out);
            }
        }
        _ => {}
    }
}

/// The length of a run of at least `k` bytes that `value` shares with `text` and that
/// `in_trusted` does not find in trusted text, if there is one. The value's windows of `k`
/// bytes are hashed into a set; the text is rolled over once.
fn common_run(
    value: &str,
    text: &str,
    k: usize,
    in_trusted: &dyn Fn(&str) -> bool,
) -> Option<usize> {
    let (v, t) = (value.as_bytes(), text.as_bytes());
    if v.len() < k || t.len() < k {
        return None;
    }
    const B: u64 = 0x100000001b3;
    let pow = (1..k).fold(1u64, |acc, _| acc.wrapping_mul(B));
    let hashes = |s: &[u8]| -> Vec<u64> {
        let mut h = 0u64;
        let mut out = Vec::with_capacity(s.len() + 1 - k);
        for (i, &b) in s.iter().enumerate() {
            if i >= k {
                h = h.wrapping_sub((s[i - k] as u64).wrapping_mul(pow));
            }
            h = h.wrapping_mul(B).wrapping_add(b as u64);
            if i + 1 >= k {
                out.push(h);
            }
        }
        out
    };
    let vh = hashes(v);
    let set: HashSet<u64> = vh.iter().copied().collect();
    for (j, h) in hashes(t).into_iter().enumerate() {
        if !set.contains(&h) {
            continue;
        }
        let window = &t[j..j + k];
        let Some(i) = vh
            .iter()
            .enumerate()
            .find(|(i, x)| **x == h && &v[*i..*i + k] == window)
            .map(|(i, _)| i)
        else {
            continue;
        };
        // Grow the run as far as both go.
        let mut n = k;
        while i + n < v.len() && j + n < t.len() && v[i + n] == t[j + n] {
            n += 1;
        }
        let run = String::from_utf8_lossy(&v[i..i + n]);
        if !in_trusted(&run) {
            return Some(n);
        }
    }
    None
}
