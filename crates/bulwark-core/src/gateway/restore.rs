//! Placeholders back to values in what the model writes: whole texts, and streams cut anywhere.
//!
//! A stream is restored as it comes. Of each chunk, everything is passed on at once except a tail
//! that could still become a placeholder: a `[` followed only by what a placeholder may hold, and
//! shorter than the longest one. That tail waits for the next chunk, so a placeholder split across
//! events is restored whole, and the agent never sees half of one.

use super::output::{OutputFilter, OutputPolicy};
use super::placeholders::{Conversation, MAX_DIGITS, MAX_PLACEHOLDER, MAX_RULE};

/// How a restored value is written into the text it lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// As it is: message text.
    Text,
    /// As the inside of a JSON string: tool-call arguments, which are JSON text.
    Json,
}

/// What a placeholder-shaped piece at the start of `s` is.
enum Piece {
    /// A whole placeholder of `len` bytes.
    Whole(usize),
    /// The start of one: more may come.
    Partial,
    /// Not a placeholder.
    No,
}

/// Read `s` (which starts with `[`) against `[RULE#DIGITS]`.
fn piece(s: &[u8]) -> Piece {
    let mut i = 1;
    while i < s.len()
        && i <= MAX_RULE
        && (s[i].is_ascii_lowercase() || s[i].is_ascii_digit() || s[i] == b'-')
    {
        i += 1;
    }
    let rule = i - 1;
    if i == s.len() {
        return if rule <= MAX_RULE {
            Piece::Partial
        } else {
            Piece::No
        };
    }
    if rule == 0 || s[i] != b'#' {
        return Piece::No;
    }
    i += 1;
    let digits_from = i;
    while i < s.len() && i - digits_from < MAX_DIGITS && s[i].is_ascii_digit() {
        i += 1;
    }
    if i == s.len() {
        return Piece::Partial;
    }
    if i == digits_from || s[i] != b']' {
        return Piece::No;
    }
    Piece::Whole(i + 1)
}

/// Restore what can be restored in `text`. Returns the output and how many bytes at the end were
/// held back as a possible start of a placeholder (0 when `last`: nothing more will come).
fn run(conv: &Conversation, text: &str, escape: Escape, last: bool, out: &mut String) -> usize {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut copied = 0;
    while let Some(off) = memchr::memchr(b'[', &bytes[pos..]) {
        let at = pos + off;
        match piece(&bytes[at..]) {
            Piece::Whole(len) => {
                let p = &text[at..at + len];
                if let Some(v) = conv.original(p) {
                    out.push_str(&text[copied..at]);
                    push_escaped(out, v, escape);
                    copied = at + len;
                }
                pos = at + len;
            }
            Piece::Partial if !last && bytes.len() - at < MAX_PLACEHOLDER => {
                out.push_str(&text[copied..at]);
                return bytes.len() - at;
            }
            _ => pos = at + 1,
        }
    }
    out.push_str(&text[copied..]);
    0
}

fn push_escaped(out: &mut String, value: &str, escape: Escape) {
    match escape {
        Escape::Text => out.push_str(value),
        Escape::Json => {
            let quoted = serde_json::Value::String(value.to_string()).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
    }
}

/// Every placeholder of `conv` in `text` replaced by its value; unknown ones stay as they are.
pub fn restore(conv: &Conversation, text: &str, escape: Escape) -> String {
    let mut out = String::with_capacity(text.len());
    run(conv, text, escape, true, &mut out);
    out
}

/// Restores one streamed text (a message's content, or one tool call's arguments) chunk by chunk.
#[derive(Debug)]
pub struct Restorer {
    escape: Escape,
    held: String,
    /// The output guard the model's text passes first, before its placeholders are restored.
    guard: Option<(std::sync::Arc<OutputPolicy>, OutputFilter)>,
}

impl Restorer {
    /// A restorer for one stream of text.
    pub fn new(escape: Escape) -> Restorer {
        Restorer {
            escape,
            held: String::new(),
            guard: None,
        }
    }

    /// A restorer whose text (message text, not JSON) first passes the output guard `policy`.
    pub fn guarded(escape: Escape, policy: Option<&std::sync::Arc<OutputPolicy>>) -> Restorer {
        let mut r = Restorer::new(escape);
        if escape == Escape::Text {
            r.guard = policy.map(|p| (p.clone(), OutputFilter::new()));
        }
        r
    }

    /// The next chunk: what can be passed on now.
    pub fn push(&mut self, conv: &Conversation, chunk: &str) -> String {
        let mut text = std::mem::take(&mut self.held);
        match &mut self.guard {
            Some((p, f)) => text.push_str(&f.push(p, chunk)),
            None => text.push_str(chunk),
        }
        let mut out = String::with_capacity(text.len());
        let held = run(conv, &text, self.escape, false, &mut out);
        self.held = text[text.len() - held..].to_string();
        out
    }

    /// The stream ended: the rest.
    pub fn finish(&mut self, conv: &Conversation) -> String {
        let mut text = std::mem::take(&mut self.held);
        if let Some((p, f)) = &mut self.guard {
            text.push_str(&f.finish(p));
        }
        restore(conv, &text, self.escape)
    }

    /// Bytes held back now (never more than the longest placeholder).
    pub fn held(&self) -> usize {
        self.held.len()
    }
}
