//! Secrets the rules cannot see as written: inside base64, hex or percent-encoding, behind JSON or
//! Unicode escapes, or split by invisible characters or a line break. Each is found by running the
//! secret rules over a decoded or joined view, and reported at the span of the original that holds
//! it (the whole encoded segment, or the value with its break), so redaction covers it.
//!
//! One layer deep: a decoded view is not decoded again. Every view is built only where the text
//! holds its trace (an escape, an invisible character, a long mixed token at a line's end), so
//! ordinary text costs a few byte searches.

use std::sync::LazyLock;

use regex::bytes::Regex as BytesRegex;

use super::injection::layers::{self, Encoding};
use super::*;

/// At most this many line breaks are tried as a split inside one text.
const MAX_BREAKS: usize = 4096;
/// The shortest run of token characters before a break that may be the first part of a secret.
const MIN_HEAD: usize = 12;
/// The shortest run after it.
const MIN_TAIL: usize = 4;
/// How much of the line before a break's token run is kept, for the name a keyword rule needs.
const LINE_CONTEXT: usize = 256;
/// The longest token run taken on either side of a break.
const MAX_PART: usize = 1024;

/// A token with at least one percent escape.
static PERCENT_TOKEN: LazyLock<BytesRegex> = LazyLock::new(|| {
    BytesRegex::new(r#"(?-u)[^\s<>"'`%]*(?:%[0-9A-Fa-f]{2}[^\s<>"'`%]*)+"#).expect("static regex")
});

/// Invisible characters a value may be split with (UTF-8): zero-width space, non-joiner and joiner,
/// word joiner, byte-order mark, soft hyphen.
const INVISIBLE: [&[u8]; 6] = [
    "\u{200B}".as_bytes(),
    "\u{200C}".as_bytes(),
    "\u{200D}".as_bytes(),
    "\u{2060}".as_bytes(),
    "\u{FEFF}".as_bytes(),
    "\u{00AD}".as_bytes(),
];

/// A view of the text with the map back: `starts[i]` and `ends[i]` are the original span of the
/// view's byte `i`.
#[derive(Default)]
struct View {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    ends: Vec<usize>,
}

impl View {
    fn push(&mut self, b: u8, start: usize, end: usize) {
        self.bytes.push(b);
        self.starts.push(start);
        self.ends.push(end);
    }

    fn push_str(&mut self, s: &[u8], start: usize, end: usize) {
        for &b in s {
            self.push(b, start, end);
        }
    }

    /// The original span of the view's span `s..e` (non-empty).
    fn original(&self, s: usize, e: usize) -> (usize, usize) {
        (self.starts[s], self.ends[e - 1])
    }
}

impl Scanner {
    /// Find secrets written so that the rules do not see them, and add them to `out` (which holds
    /// what the rules found in `text` as written: a secret found there is not reported again).
    pub(super) fn scan_disguised_secrets(&self, text: &[u8], out: &mut Vec<Finding>) {
        let mut found: Vec<Finding> = Vec::new();
        // What the rules already found: a specific finding is not reported again; a generic one
        // gives way to a specific finding here (`resolve_overlaps` drops it) but not to another
        // generic one.
        let secrets = |keep: &dyn Fn(&Finding) -> bool| {
            SpanIndex::new(
                out.iter()
                    .filter(|f| f.kind == FindingKind::Secret && keep(f))
                    .map(|f| f.sort_span().into()),
            )
        };
        let known = secrets(&|f| f.rule != rules::GENERIC_RULE);
        let known_any = secrets(&|_| true);
        let report = |f: Finding, (s, e): (usize, usize), how: &str, found: &mut Vec<Finding>| {
            let seen = if f.rule == rules::GENERIC_RULE {
                &known_any
            } else {
                &known
            };
            if e <= s || seen.overlaps(s, e) || found.iter().any(|g| overlaps(g, s, e)) {
                return;
            }
            found.push(Finding {
                location: crate::Location::Span(Span { start: s, end: e }),
                message: format!("{} ({how})", f.message),
                preview: preview(&text[s..e]),
                ..f
            });
        };

        // Encoded segments: the whole segment is the secret's span.
        for (s, e, enc, decoded) in layers::printable_segments(text) {
            if known.overlaps(s, e) {
                continue;
            }
            let how = match enc {
                Encoding::Hex => "hex-encoded",
                _ => "base64-encoded",
            };
            for f in self.rules_over(decoded.as_bytes()) {
                report(f, (s, e), how, &mut found);
            }
        }
        if memchr::memchr(b'%', text).is_some() {
            for m in PERCENT_TOKEN.find_iter(text) {
                let (s, e) = (m.start(), m.end());
                if e - s > layers::MAX_SEGMENT || known.overlaps(s, e) {
                    continue;
                }
                let decoded = layers::percent_decode(m.as_bytes());
                if decoded == m.as_bytes() {
                    continue;
                }
                for f in self.rules_over(&decoded) {
                    report(f, (s, e), "URL-encoded", &mut found);
                }
            }
        }

        // Escapes and invisible characters: the view maps back byte by byte.
        if let Some((view, how)) = unescaped_view(text) {
            for f in self.rules_over(&view.bytes) {
                let Span { start, end } = f.sort_span();
                let (s, e) = view.original(start, end);
                // Only what the view changed: a value the same length in both was there as written.
                if e - s != end - start {
                    report(f, (s, e), how, &mut found);
                }
            }
        }

        // A value split by a line break: the line's end and the next line's start, joined.
        for (join, head_start, break_end) in split_candidates(text) {
            let (head, tail) = (&text[head_start..join.0], &text[break_end..join.1]);
            let mut joined = Vec::with_capacity(head.len() + tail.len());
            joined.extend_from_slice(head);
            joined.extend_from_slice(tail);
            let cut = head.len();
            for f in self.rules_over(&joined) {
                let Span { start, end } = f.sort_span();
                // A value across the join, from a rule that knows its service: the generic rule
                // over two lines would read names and values that were never one.
                if start >= cut || end <= cut || f.rule == rules::GENERIC_RULE {
                    continue;
                }
                let s = head_start + start;
                let e = break_end + (end - cut);
                report(f, (s, e), "split by a line break", &mut found);
            }
        }
        out.extend(found);
    }

    /// The secret rules' findings in `bytes`, as written (no further decoding).
    fn rules_over(&self, bytes: &[u8]) -> Vec<Finding> {
        let mut inner = Vec::new();
        self.scan_secrets(bytes, &mut inner);
        inner
    }
}

fn overlaps(f: &Finding, s: usize, e: usize) -> bool {
    let Span { start, end } = f.sort_span();
    start < e && s < end
}

/// The text with `\uXXXX`, `\xXX`, `\/` and `\"` escapes decoded and invisible characters removed,
/// when it has any; with what was undone, for the message.
fn unescaped_view(text: &[u8]) -> Option<(View, &'static str)> {
    let escapes = memchr::memmem::find(text, b"\\u").is_some()
        || memchr::memmem::find(text, b"\\x").is_some()
        || memchr::memmem::find(text, b"\\/").is_some();
    let invisible =
        memchr::memchr2(0xE2, 0xEF, text).is_some() || memchr::memchr(0xC2, text).is_some();
    let invisible = invisible
        && INVISIBLE
            .iter()
            .any(|c| memchr::memmem::find(text, c).is_some());
    if !escapes && !invisible {
        return None;
    }
    let mut view = View::default();
    let (mut unescaped, mut removed) = (false, false);
    let mut i = 0;
    while i < text.len() {
        if let Some(c) = INVISIBLE.iter().find(|c| text[i..].starts_with(c)) {
            removed = true;
            i += c.len();
            continue;
        }
        if text[i] == b'\\'
            && let Some((decoded, len)) = escape_at(&text[i..])
        {
            unescaped = true;
            let mut buf = [0u8; 4];
            let encoded = decoded.encode_utf8(&mut buf).as_bytes();
            // An escaped invisible character splits a value as well as a raw one.
            if !INVISIBLE.contains(&encoded) {
                view.push_str(encoded, i, i + len);
            }
            i += len;
            continue;
        }
        view.push(text[i], i, i + 1);
        i += 1;
    }
    let how = match (unescaped, removed) {
        (true, true) => "written with escapes and invisible characters",
        (true, false) => "written with escapes",
        (false, true) => "split by invisible characters",
        (false, false) => return None,
    };
    Some((view, how))
}

/// The escape at the start of `s` (which begins with a backslash): the character and the length.
fn escape_at(s: &[u8]) -> Option<(char, usize)> {
    let hex = |h: &[u8]| {
        std::str::from_utf8(h)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    match s.get(1)? {
        b'u' => {
            let v = hex(s.get(2..6)?)?;
            char::from_u32(v).map(|c| (c, 6))
        }
        b'x' => {
            let v = hex(s.get(2..4)?)?;
            (v < 0x80).then_some((v as u8 as char, 4))
        }
        b'/' => Some(('/', 2)),
        b'"' => Some(('"', 2)),
        _ => None,
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-' | b'.' | b'~')
}

/// Line breaks a value may be split by: the line ends with a run of token characters at least
/// [`MIN_HEAD`] long holding a letter and a digit (random values do; prose and most code do not),
/// and the next line starts (after any indentation) with a run of at least [`MIN_TAIL`]. Each
/// candidate is `((head end, tail end), head start with its line context, tail start)`.
fn split_candidates(text: &[u8]) -> Vec<((usize, usize), usize, usize)> {
    let mut out = Vec::new();
    for nl in memchr::memchr_iter(b'\n', text) {
        if out.len() >= MAX_BREAKS {
            break;
        }
        let head_end = if nl > 0 && text[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let mut head = head_end;
        while head > 0 && head_end - head < MAX_PART && is_token_byte(text[head - 1]) {
            head -= 1;
        }
        let run = &text[head..head_end];
        if run.len() < MIN_HEAD
            || !run.iter().any(u8::is_ascii_digit)
            || !run.iter().any(u8::is_ascii_alphabetic)
        {
            continue;
        }
        let mut tail = nl + 1;
        while tail < text.len() && matches!(text[tail], b' ' | b'\t') {
            tail += 1;
        }
        let mut tail_end = tail;
        while tail_end < text.len() && tail_end - tail < MAX_PART && is_token_byte(text[tail_end]) {
            tail_end += 1;
        }
        if tail_end - tail < MIN_TAIL {
            continue;
        }
        // The line before the run, for a keyword rule's name (`aws_secret_access_key = `).
        let line_start = memchr::memrchr(b'\n', &text[..head]).map_or(0, |i| i + 1);
        let context = head.saturating_sub(LINE_CONTEXT).max(line_start);
        out.push(((head_end, tail_end), context, tail));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_decode_and_map_back() {
        let text = br#"{"k": "AK\u0049A\/x\x41"}"#;
        let (view, how) = unescaped_view(text).expect("view");
        assert_eq!(how, "written with escapes");
        assert_eq!(view.bytes, br#"{"k": "AKIA/xA"}"#);
        let s = view.bytes.iter().position(|&b| b == b'A').unwrap();
        assert_eq!(view.original(s, s + 4), (7, 16));
    }

    #[test]
    fn invisible_characters_are_dropped() {
        let text = "ghp_ab\u{200B}cd".as_bytes();
        let (view, how) = unescaped_view(text).expect("view");
        assert_eq!(how, "split by invisible characters");
        assert_eq!(view.bytes, b"ghp_abcd");
        assert_eq!(view.original(0, 8), (0, text.len()));
        assert!(unescaped_view(b"plain text, no escapes").is_none());
    }

    #[test]
    fn only_mixed_runs_at_a_line_end_are_split_candidates() {
        let text = b"key = AKIA2E0A8F3B2\n  44C5TMQH tail\nordinary words here\nnext line";
        let c = split_candidates(text);
        assert_eq!(c.len(), 1, "{c:?}");
        let ((head_end, tail_end), ctx, tail) = c[0];
        assert_eq!(&text[ctx..head_end], b"key = AKIA2E0A8F3B2");
        assert_eq!(&text[tail..tail_end], b"44C5TMQH");
    }
}
