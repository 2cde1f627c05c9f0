//! Secrets the rules cannot see as written: inside base64, hex or percent-encoding, behind JSON or
//! Unicode escapes, or split by invisible characters or a line break. Each is found by running the
//! secret rules over a decoded or joined view, and reported at the span of the original that holds
//! it (the whole encoded segment, or the value with its break), so redaction covers it.
//!
//! One layer deep: a decoded view is not decoded again. Every trace of a disguise (a digit, an
//! upper-case letter, `%`, `\`, a non-ASCII byte) is outside plain prose, so only the spans the
//! rules' own pass found not plain are searched, 64 bytes at a time, and a view is built only where
//! the text holds a trace.

use super::injection::layers;
use super::injection::normalize::is_invisible;
use super::*;

/// At most this many line breaks are tried as a split inside one text.
const MAX_BREAKS: usize = 4096;
/// The shortest run of token characters before a break that may be the first part of a secret.
const MIN_HEAD: usize = 16;
/// The shortest run after it.
const MIN_TAIL: usize = 2;
/// How much of the line before a break's token run is kept, for the name a keyword rule needs.
const LINE_CONTEXT: usize = 256;
/// The longest token run taken on either side of a break.
const MAX_PART: usize = 1024;

/// The shortest base64 run decoded: the encoding of the shortest secret worth finding with a few
/// characters around it. A run this long holds sixteen base64 bytes inside one 64-byte chunk.
const MIN_BASE64: usize = 31;

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
    pub(super) fn scan_disguised_secrets(
        &self,
        text: &[u8],
        busy: &[std::ops::Range<usize>],
        out: &mut Vec<Finding>,
    ) {
        if busy.is_empty() {
            return;
        }
        let traces = Traces::gather(text, busy);
        if traces.is_empty() {
            return;
        }
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
        for (s, e) in base64_runs(text, &traces.base64) {
            if known.overlaps(s, e) {
                continue;
            }
            let Some(decoded) = layers::decode_base64(&text[s..e]).and_then(layers::printable)
            else {
                continue;
            };
            for f in self.rules_over(decoded.as_bytes()) {
                report(f, (s, e), "base64-encoded", &mut found);
            }
        }
        for (s, e) in percent_tokens(text, &traces.percent) {
            if known.overlaps(s, e) {
                continue;
            }
            let decoded = layers::percent_decode(&text[s..e]);
            // `%DB_PASSWORD%` (a Windows variable) decodes to bytes that are not text.
            if std::str::from_utf8(&decoded).is_err() {
                continue;
            }
            for f in self.rules_over(&decoded) {
                report(f, (s, e), "URL-encoded", &mut found);
            }
        }

        // Escapes and invisible characters: the view maps back byte by byte.
        if let Some((view, how)) = unescaped_view(text, &traces) {
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
        for (join, head_start, break_end) in split_candidates(text, &traces.breaks) {
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
                // The rules found the value's first line alone: it runs on past the break.
                if let Some(g) = out.iter_mut().find(|g| {
                    g.rule == f.rule && g.sort_span().start == s && g.sort_span().end == join.0
                }) {
                    g.location = crate::Location::Span(Span { start: s, end: e });
                    g.message = format!("{} (split by a line break)", f.message);
                    g.preview = preview(&text[s..e]);
                    continue;
                }
                report(f, (s, e), "split by a line break", &mut found);
            }
        }
        out.extend(found);
    }

    /// The secret rules' findings in `bytes`, as written (no further decoding).
    fn rules_over(&self, bytes: &[u8]) -> Vec<Finding> {
        let mut inner = Vec::new();
        let _ = self.scan_secrets(bytes, &mut inner);
        inner
    }
}

/// Whether `b` is in the base64 alphabets (standard and URL-safe), branch-free so a block of them
/// is tested in a few vector instructions.
fn in_base64(b: u8) -> bool {
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'+')
        | (b == b'/')
        | (b == b'-')
        | (b == b'_')
}

/// Where the text may hold a disguise, found in one pass over the spans that are not plain prose,
/// 64 bytes at a time.
#[derive(Default)]
struct Traces {
    /// The first byte of sixteen base64 bytes in a row (one per chunk at most).
    base64: Vec<usize>,
    /// Every `%`.
    percent: Vec<usize>,
    /// Some `\u`, `\x` or `\/` escape.
    escapes: bool,
    /// Some byte outside ASCII (an invisible character is one).
    non_ascii: bool,
    /// Line breaks right after a run of at least [`MIN_HEAD`] base64 bytes.
    breaks: Vec<usize>,
}

impl Traces {
    fn gather(text: &[u8], spans: &[std::ops::Range<usize>]) -> Traces {
        let mut t = Traces::default();
        let mut buf;
        for span in spans {
            // Base64 bytes at the end of the chunk before, in a row.
            let mut carry = 0u32;
            let mut at = span.start;
            while at < span.end {
                let end = (at + 64).min(span.end);
                // Whole chunks are read in place; the tail is padded with zeros, in no class.
                let chunk: &[u8; 64] = match text[at..end].try_into() {
                    Ok(c) => c,
                    Err(_) => {
                        buf = [0u8; 64];
                        buf[..end - at].copy_from_slice(&text[at..end]);
                        &buf
                    }
                };
                // `%`, `\` and non-ASCII bytes are rare in code and logs: one vectorised test of
                // the chunk, then a look at each only where there are some.
                let special = chunk.iter().fold(false, |any, &b| {
                    any | (b == b'%') | (b == b'\\') | (b >= 0x80)
                });
                if special {
                    for (i, &b) in chunk[..end - at].iter().enumerate() {
                        match b {
                            b'%' => t.percent.push(at + i),
                            b'\\' => {
                                t.escapes |=
                                    matches!(text.get(at + i + 1), Some(b'u' | b'x' | b'/'));
                            }
                            0x80.. => t.non_ascii = true,
                            _ => {}
                        }
                    }
                }
                let b64 = base64_mask(chunk);
                // Sixteen set bits in a row: each shift halves the run a set bit stands for.
                let mut run = b64;
                run &= run >> 1;
                run &= run >> 2;
                run &= run >> 4;
                run &= run >> 8;
                if run != 0 {
                    t.base64.push(at + run.trailing_zeros() as usize);
                }
                // The last byte of a run of at least sixteen, here or begun in the chunk before,
                // followed by a line break: a value's head, maybe.
                let mut ends = b64 & !(b64 >> 1) & (run << 15);
                let first = b64.trailing_ones();
                if (1..16).contains(&first) && carry + first >= 16 {
                    ends |= 1 << (first - 1);
                }
                carry = if b64 == u64::MAX {
                    carry.saturating_add(64)
                } else {
                    (!b64).leading_zeros()
                };
                each_bit(ends, |i| {
                    let after = at + i + 1;
                    let nl = match text.get(after) {
                        Some(b'\n') => after,
                        Some(b'\r') if text.get(after + 1) == Some(&b'\n') => after + 1,
                        _ => return,
                    };
                    t.breaks.push(nl);
                });
                at = end;
            }
        }
        t
    }

    fn is_empty(&self) -> bool {
        self.base64.is_empty()
            && self.percent.is_empty()
            && !self.escapes
            && !self.non_ascii
            && self.breaks.is_empty()
    }
}

/// For a 64-byte chunk, a bit per byte in the base64 alphabet. The flags are computed in a loop
/// the compiler vectorises, then packed eight at a time by one multiplication (each flag byte, 0 or
/// 1, lands in the top byte at its own bit).
fn base64_mask(chunk: &[u8; 64]) -> u64 {
    let mut flags = [0u8; 64];
    for (f, &b) in flags.iter_mut().zip(chunk) {
        *f = u8::from(in_base64(b));
    }
    let mut m = 0u64;
    for (k, group) in flags.chunks_exact(8).enumerate() {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(group);
        m |= (u64::from_le_bytes(eight).wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
    }
    m
}

/// Call `f` with the index of each set bit of `m`, lowest first.
fn each_bit(mut m: u64, mut f: impl FnMut(usize)) {
    while m != 0 {
        f(m.trailing_zeros() as usize);
        m &= m - 1;
    }
}

/// Runs of at least [`MIN_BASE64`] base64 characters (with their padding) that mix upper case,
/// lower case and digits, as an encoding does and words and identifiers do not, measured from the
/// sixteen-byte runs [`Traces`] found (a run this long holds one inside a single chunk).
fn base64_runs(text: &[u8], hits: &[usize]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut next = 0usize;
    for &first in hits {
        if first < next {
            continue;
        }
        let mut start = first;
        while start > 0 && in_base64(text[start - 1]) {
            start -= 1;
        }
        let mut end = first + 16;
        while end < text.len() && in_base64(text[end]) {
            end += 1;
        }
        next = end;
        let run = &text[start..end];
        while end < text.len() && end - start < layers::MAX_SEGMENT && text[end] == b'=' {
            end += 1;
        }
        if run.len() >= MIN_BASE64
            && run.len() <= layers::MAX_SEGMENT
            && run.iter().any(u8::is_ascii_uppercase)
            && run.iter().any(u8::is_ascii_lowercase)
            && run.iter().any(u8::is_ascii_digit)
        {
            out.push((start, end));
        }
    }
    out
}

/// Tokens (between blanks, quotes and angle brackets) that hold a percent escape, each once.
fn percent_tokens(text: &[u8], percent: &[usize]) -> Vec<(usize, usize)> {
    let stop = |b: u8| b.is_ascii_whitespace() || matches!(b, b'<' | b'>' | b'"' | b'\'' | b'`');
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &at in percent {
        if out.last().is_some_and(|&(_, e)| at < e)
            || !text
                .get(at + 1..at + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            continue;
        }
        let mut start = at;
        while start > 0 && !stop(text[start - 1]) && at - start < layers::MAX_SEGMENT {
            start -= 1;
        }
        let mut end = at + 3;
        while end < text.len() && !stop(text[end]) && end - start < layers::MAX_SEGMENT {
            end += 1;
        }
        out.push((start, end));
    }
    out
}

fn overlaps(f: &Finding, s: usize, e: usize) -> bool {
    let Span { start, end } = f.sort_span();
    start < e && s < end
}

/// The text with `\uXXXX`, `\xXX`, `\/` and `\"` escapes decoded and invisible characters removed,
/// when it has any; with what was undone, for the message.
fn unescaped_view(text: &[u8], traces: &Traces) -> Option<(View, &'static str)> {
    let escapes = traces.escapes;
    let invisible = traces.non_ascii
        && text
            .utf8_chunks()
            .any(|chunk| chunk.valid().chars().any(is_invisible));
    if !escapes && !invisible {
        return None;
    }
    let mut view = View::default();
    let (mut unescaped, mut removed) = (false, false);
    let mut i = 0;
    while i < text.len() {
        if text[i] >= 0x80
            && let Some(c) = char_at(&text[i..])
        {
            if is_invisible(c) {
                removed = true;
                i += c.len_utf8();
                continue;
            }
            view.push_str(&text[i..i + c.len_utf8()], i, i + c.len_utf8());
            i += c.len_utf8();
            continue;
        }
        if text[i] == b'\\'
            && let Some((decoded, len)) = escape_at(&text[i..])
        {
            unescaped = true;
            let mut buf = [0u8; 4];
            let encoded = decoded.encode_utf8(&mut buf).as_bytes();
            // An escaped invisible character splits a value as well as a raw one.
            if !is_invisible(decoded) {
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

/// The UTF-8 character at the start of `s`, if one is.
fn char_at(s: &[u8]) -> Option<char> {
    let head = &s[..s.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    valid.chars().next()
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
/// and the next line starts (after any indentation) with a run of at least [`MIN_TAIL`] that holds
/// a digit or a capital. Each candidate is `((head end, tail end), head start with its line
/// context, tail start)`.
fn split_candidates(text: &[u8], breaks: &[usize]) -> Vec<((usize, usize), usize, usize)> {
    let mut out = Vec::new();
    for &nl in breaks {
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
        // A random value's rest holds a digit or a capital; the next line's first word ("the")
        // does not, and an open-ended token format would swallow it.
        let rest = &text[tail..tail_end];
        if rest.len() < MIN_TAIL
            || !rest
                .iter()
                .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
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

    /// Every trace in the whole of `text`.
    fn traces(text: &[u8]) -> Traces {
        let whole = std::iter::once(0..text.len()).collect::<Vec<_>>();
        Traces::gather(text, &whole)
    }

    #[test]
    fn escapes_decode_and_map_back() {
        let text = br#"{"k": "AK\u0049A\/x\x41"}"#;
        let (view, how) = unescaped_view(text, &traces(text)).expect("view");
        assert_eq!(how, "written with escapes");
        assert_eq!(view.bytes, br#"{"k": "AKIA/xA"}"#);
        let s = view.bytes.iter().position(|&b| b == b'A').unwrap();
        assert_eq!(view.original(s, s + 4), (7, 16));
    }

    #[test]
    fn invisible_characters_are_dropped() {
        let text = "ghp_ab\u{200B}cd".as_bytes();
        let (view, how) = unescaped_view(text, &traces(text)).expect("view");
        assert_eq!(how, "split by invisible characters");
        assert_eq!(view.bytes, b"ghp_abcd");
        assert_eq!(view.original(0, 8), (0, text.len()));
        let plain = b"plain text, no escapes";
        assert!(unescaped_view(plain, &traces(plain)).is_none());
    }

    #[test]
    fn masks_have_a_bit_per_byte() {
        let mut chunk = [b'a'; 64];
        for i in (0..64).step_by(3) {
            chunk[i] = b'%';
        }
        let want = (0..64).step_by(3).fold(0u64, |m, i| m | 1 << i);
        assert_eq!(base64_mask(&chunk), !want);
    }

    #[test]
    fn base64_runs_need_sixteen_in_a_row_and_mixed_case_and_digits() {
        let text = b"x aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ= y some_long_identifier_name_here ABCDEFGHabcdefgh12";
        let runs = base64_runs(text, &traces(text).base64);
        let found: Vec<&[u8]> = runs.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(found, vec![&b"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ="[..]]);
        // Across a 64-byte chunk boundary.
        let mut long = vec![b' '; 50];
        long.extend_from_slice(b"QUtJQTJFMEE4RjNCMjQ0QzVUTVFIZ2hwX2FiY2Rl");
        long.extend_from_slice(b" tail");
        let runs = base64_runs(&long, &traces(&long).base64);
        assert_eq!(runs, vec![(50, 90)]);
    }

    #[test]
    fn only_mixed_runs_at_a_line_end_are_split_candidates() {
        let text = b"key = AKIA2E0A8F3B2C7D\n  44C5TMQH tail\nordinary words here\nnext line";
        let c = split_candidates(text, &traces(text).breaks);
        assert_eq!(c.len(), 1, "{c:?}");
        let ((head_end, tail_end), ctx, tail) = c[0];
        assert_eq!(&text[ctx..head_end], b"key = AKIA2E0A8F3B2C7D");
        assert_eq!(&text[tail..tail_end], b"44C5TMQH");
    }
}
