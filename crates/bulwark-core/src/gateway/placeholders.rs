//! Conversation-scoped placeholders: `[RULE#N]`, e.g. `[email#1]`, `[aws-access-key-id#2]`.
//!
//! A placeholder names the rule that found the value (so the model knows what kind of thing it
//! is) and a number counted per rule within one conversation. The map from placeholders to values
//! lives in memory only, in a bounded store ([`Conversations`]) that forgets a conversation after
//! its idle time; values are zeroized when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::finding::Finding;
use crate::scan::{Detectors, Scanner};

/// Longest rule name a placeholder carries (longer names are cut).
pub(super) const MAX_RULE: usize = 48;
/// Most digits of a placeholder's number.
pub(super) const MAX_DIGITS: usize = 6;
/// Longest placeholder: `[` rule `#` digits `]`.
pub(super) const MAX_PLACEHOLDER: usize = 1 + MAX_RULE + 1 + MAX_DIGITS + 1;

/// How much one conversation and the whole store may hold.
#[derive(Debug, Clone, Copy)]
pub struct ConversationLimits {
    /// Distinct values one conversation maps; past it, new values are replaced by a one-way
    /// `[REDACTED:RULE]` that is never restored.
    pub values_per_conversation: usize,
    /// Conversations kept at once; past it, the least recently used is forgotten.
    pub conversations: usize,
    /// A conversation unused this long is forgotten.
    pub idle: Duration,
    /// Bytes of values one conversation keeps; past it, new values are redacted one-way.
    pub bytes_per_conversation: usize,
    /// Bytes of values all conversations keep together; past it, the least recently used
    /// conversations are forgotten, and new values are redacted one-way until there is room.
    pub total_bytes: usize,
}

impl Default for ConversationLimits {
    fn default() -> Self {
        ConversationLimits {
            values_per_conversation: 10_000,
            conversations: 10_000,
            idle: Duration::from_secs(24 * 3600),
            bytes_per_conversation: 1024 * 1024,
            total_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The placeholders of one conversation, both ways.
pub struct Conversation {
    /// Placeholder text to the value it stands for.
    originals: HashMap<String, Zeroizing<String>>,
    /// SHA-256 of (rule, value) to its placeholder: the value is not kept twice.
    placeholders: HashMap<[u8; 32], String>,
    /// The last number given per rule.
    counters: HashMap<String, u32>,
    limit: usize,
    /// Bytes of the values kept, and the most allowed.
    bytes: usize,
    max_bytes: usize,
    /// The store's count of every conversation's bytes, and its most.
    total: Option<(Arc<AtomicUsize>, usize)>,
    /// The tools whose results the conversation carried (at most [`MAX_TOOLS_SEEN`]): what
    /// taints a later turn that does not carry them again.
    tools_seen: std::collections::BTreeSet<String>,
}

/// Most tool names a conversation remembers.
const MAX_TOOLS_SEEN: usize = 256;

impl Drop for Conversation {
    fn drop(&mut self) {
        if let Some((total, _)) = &self.total {
            total.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Conversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversation")
            .field("values", &self.originals.len())
            .finish_non_exhaustive()
    }
}

impl Conversation {
    /// An empty map holding at most `limit` values (of any size).
    pub fn new(limit: usize) -> Conversation {
        Conversation {
            originals: HashMap::new(),
            placeholders: HashMap::new(),
            counters: HashMap::new(),
            limit,
            bytes: 0,
            max_bytes: usize::MAX,
            total: None,
            tools_seen: Default::default(),
        }
    }

    /// The placeholder for `value` found by `rule`: the one it already has, else a new one. `None`
    /// when the conversation is full (the caller redacts one-way).
    pub fn placeholder(&mut self, rule: &str, value: &str) -> Option<String> {
        let rule = placeholder_rule(rule);
        let mut h = Sha256::new();
        h.update(rule.as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if let Some(p) = self.placeholders.get(&key) {
            return Some(p.clone());
        }
        if self.originals.len() >= self.limit || self.bytes + value.len() > self.max_bytes {
            return None;
        }
        if let Some((total, max)) = &self.total
            && total.fetch_add(value.len(), Ordering::Relaxed) + value.len() > *max
        {
            total.fetch_sub(value.len(), Ordering::Relaxed);
            return None;
        }
        self.bytes += value.len();
        let n = self.counters.entry(rule.clone()).or_insert(0);
        if *n >= 999_999 {
            return None;
        }
        *n += 1;
        let p = format!("[{rule}#{n}]");
        self.originals
            .insert(p.clone(), Zeroizing::new(value.to_string()));
        self.placeholders.insert(key, p.clone());
        Some(p)
    }

    /// The keys of every value this conversation maps (hashes of rule and value, never the
    /// values), for [`Conversation::knows_any`].
    pub(super) fn value_keys(&self) -> Vec<[u8; 32]> {
        self.placeholders.keys().copied().collect()
    }

    /// Whether this conversation maps one of the values `keys` stand for (found by the same
    /// rule).
    pub(super) fn knows_any(&self, keys: &[[u8; 32]]) -> bool {
        keys.iter().any(|k| self.placeholders.contains_key(k))
    }

    /// Remember that the conversation carried a result of `tool`.
    pub(super) fn note_tool(&mut self, tool: &str) {
        if self.tools_seen.len() < MAX_TOOLS_SEEN || self.tools_seen.contains(tool) {
            self.tools_seen.insert(tool.chars().take(128).collect());
        } else {
            // Past the bound every further tool is one name: still a source of taint.
            self.tools_seen.insert("(more tools)".into());
        }
    }

    /// The tools whose results the conversation carried.
    pub(super) fn tools_seen(&self) -> impl Iterator<Item = &String> {
        self.tools_seen.iter()
    }

    /// The value a placeholder stands for in this conversation.
    pub fn original(&self, placeholder: &str) -> Option<&str> {
        self.originals.get(placeholder).map(|v| v.as_str())
    }

    /// A conversation holding only `placeholders` (those it knows): what one exchange may
    /// restore. A reply gets back only values its own request carried, so a placeholder typed
    /// into a request (by a user whose conversation happens to share a map) stays as it is.
    pub fn subset<'a>(&self, placeholders: impl IntoIterator<Item = &'a String>) -> Conversation {
        let mut out = Conversation::new(usize::MAX);
        for p in placeholders {
            if let Some(v) = self.originals.get(p) {
                out.originals.insert(p.clone(), v.clone());
            }
        }
        out
    }

    /// A copy of every value it maps, for restoring a reply that may name any of them (a turn
    /// that continues a response the provider stored, whose earlier turns this request does not
    /// carry).
    pub fn whole(&self) -> Conversation {
        self.subset(self.originals.keys())
    }

    /// How many values it maps.
    pub fn len(&self) -> usize {
        self.originals.len()
    }

    /// Whether it maps nothing yet.
    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }
}

/// Where one request's placeholders come from: a [`Conversation`] the caller holds for the whole
/// request, or a conversation other requests share (`Arc<Mutex<Conversation>>`), locked only while
/// one text's values get their placeholders. Scanning, the costly part, runs outside the lock, so
/// concurrent requests of one conversation (an agent's parallel calls, sub-agents with one
/// conversation id) are not served one after another.
pub trait Placeholders {
    /// Run `f` on the conversation (for a shared one, under its lock and only for `f`).
    fn with<R>(&mut self, f: impl FnOnce(&mut Conversation) -> R) -> R;
}

impl Placeholders for Conversation {
    fn with<R>(&mut self, f: impl FnOnce(&mut Conversation) -> R) -> R {
        f(self)
    }
}

impl Placeholders for Arc<Mutex<Conversation>> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Conversation) -> R) -> R {
        f(&mut self.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A rule id as a placeholder carries it: lowercase letters, digits and `-`, at most
/// [`MAX_RULE`] bytes.
fn placeholder_rule(rule: &str) -> String {
    let mut out: String = rule
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(MAX_RULE)
        .collect();
    if out.is_empty() {
        out.push_str("value");
    }
    out
}

/// What [`redact_text`] made of a text.
#[derive(Debug, Clone)]
pub struct Redaction {
    /// The text with every secret and personal value replaced.
    pub text: String,
    /// What was found, in the text as it was (spans of the original).
    pub findings: Vec<Finding>,
    /// Values replaced by a placeholder that replies get back.
    pub reversible: usize,
    /// Values replaced one-way (the conversation was full).
    pub one_way: usize,
    /// The placeholders put in, each once.
    pub placeholders: Vec<String>,
}

/// Replace the secrets and personal data `scanner` finds in `text` (with `detectors`; injection is
/// never replaced) by the conversation's placeholders.
pub fn redact_text(
    scanner: &Scanner,
    detectors: Detectors,
    conversation: &mut impl Placeholders,
    text: &str,
) -> Redaction {
    let detectors = Detectors {
        injection: false,
        ..detectors
    };
    let findings = scanner.scan_with(text.as_bytes(), detectors);
    let mut out = String::with_capacity(text.len());
    let (mut reversible, mut one_way) = (0, 0);
    let mut placeholders: Vec<String> = Vec::new();
    let mut pos = 0;
    // Findings come sorted by start, longest first on a tie: the first of overlapping ones wins.
    // A text with none never takes a shared conversation's lock.
    let give = |conversation: &mut Conversation| {
        for f in &findings {
            let Some(span) = f.span() else { continue };
            let (start, end) = (
                floor_char(text, span.start),
                ceil_char(text, span.end.min(text.len())),
            );
            if start < pos || start >= end {
                continue;
            }
            out.push_str(&text[pos..start]);
            match conversation.placeholder(&f.rule, &text[start..end]) {
                Some(p) => {
                    out.push_str(&p);
                    reversible += 1;
                    if !placeholders.contains(&p) {
                        placeholders.push(p);
                    }
                }
                None => {
                    out.push_str(&format!("[REDACTED:{}]", placeholder_rule(&f.rule)));
                    one_way += 1;
                }
            }
            pos = end;
        }
    };
    if !findings.is_empty() {
        conversation.with(give);
    }
    out.push_str(&text[pos..]);
    Redaction {
        text: out,
        findings,
        reversible,
        one_way,
        placeholders,
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}

/// The name of a conversation's map: one agent token's conversation, named by the header the
/// agent sent, else by the conversation's first messages (they stay the same turn after turn).
/// Different tokens never share a map, whatever they send.
pub fn conversation_key(token: &str, header: Option<&str>, first_messages: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(token.as_bytes());
    h.update([0]);
    match header {
        Some(id) => {
            h.update(b"header\0");
            h.update(id.as_bytes());
        }
        None => {
            h.update(b"prefix\0");
            for m in first_messages {
                h.update((m.len() as u64).to_le_bytes());
                h.update(m.as_bytes());
            }
        }
    }
    hex::encode(&h.finalize()[..16])
}

/// One kept conversation and when it was last used.
type Kept = (Arc<Mutex<Conversation>>, Instant);

/// Forget the least recently used conversation; `false` when there is none.
fn forget_oldest(all: &mut HashMap<String, Kept>) -> bool {
    let oldest = all
        .iter()
        .min_by_key(|(_, (_, used))| *used)
        .map(|(k, _)| k.clone());
    oldest.is_some_and(|k| all.remove(&k).is_some())
}

/// Every live conversation's map, bounded in number and idle time.
pub struct Conversations {
    limits: ConversationLimits,
    /// Bytes of values kept by every live conversation.
    total: Arc<AtomicUsize>,
    inner: Mutex<HashMap<String, Kept>>,
}

impl std::fmt::Debug for Conversations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conversations")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Conversations {
    /// An empty store.
    pub fn new(limits: ConversationLimits) -> Conversations {
        Conversations {
            limits,
            total: Arc::new(AtomicUsize::new(0)),
            inner: Mutex::new(HashMap::new()),
        }
    }

    /// The map named `key`, made when new; `now` is the caller's clock.
    pub fn get(&self, key: &str, now: Instant) -> Arc<Mutex<Conversation>> {
        let mut all = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((c, used)) = all.get_mut(key)
            && now.saturating_duration_since(*used) < self.limits.idle
        {
            *used = now;
            return c.clone();
        }
        if all.len() >= self.limits.conversations {
            let idle = self.limits.idle;
            all.retain(|_, (_, used)| now.saturating_duration_since(*used) < idle);
        }
        // Over the byte budget, or the count: forget the least recently used.
        while (self.total.load(Ordering::Relaxed) > self.limits.total_bytes / 10 * 9
            || all.len() >= self.limits.conversations.max(1))
            && forget_oldest(&mut all)
        {}
        let mut fresh = Conversation::new(self.limits.values_per_conversation);
        fresh.max_bytes = self.limits.bytes_per_conversation;
        fresh.total = Some((self.total.clone(), self.limits.total_bytes));
        let c = Arc::new(Mutex::new(fresh));
        all.insert(key.to_string(), (c.clone(), now));
        c
    }

    /// Bytes of values all live conversations keep (those still in use by a request included).
    pub fn bytes(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// How many conversations are kept.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
