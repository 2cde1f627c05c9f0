//! Redaction: replace what the scanner finds, in whole texts, in streams, in `Write`rs and in
//! `tracing` output.
//!
//! Guarantees: every finding is replaced; overlapping findings are merged into one replacement;
//! output is valid UTF-8 (invalid input bytes become U+FFFD); a secret that straddles a chunk
//! boundary of a stream is still replaced, because each chunk keeps a tail of [`STREAM_TAIL`] bytes
//! for the next scan.

use std::io::{self, Write};

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};

use super::cfg::{Operator, RedactConfig};
use super::{Detectors, Scanner};
use crate::finding::{Finding, FindingKind};

/// What went wrong building a redactor.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// The pseudonym operator is configured but its key is missing or too short.
    #[error("the pseudonym operator needs a key of at least 16 bytes in {source_name}; {problem}")]
    PseudonymKey {
        /// Where the key is read: the environment variable or the vault entry.
        source_name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// The result of redacting a text.
#[derive(Debug, Clone)]
pub struct Redacted {
    /// The text with every finding replaced.
    pub text: String,
    /// What was replaced, with spans in the original text.
    pub findings: Vec<Finding>,
}

/// Replaces findings according to `[redact]`. Cheap to clone; safe to share.
#[derive(Clone)]
pub struct Redactor {
    scanner: Scanner,
    detectors: Detectors,
    cfg: RedactConfig,
    key: Option<std::sync::Arc<SecretSlice<u8>>>,
    /// For a reviewer's view: placeholders carry a fingerprint under this key.
    fingerprint: Option<std::sync::Arc<SecretSlice<u8>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("cfg", &self.cfg)
            .field("key", &self.key.as_ref().map(|_| "[REDACTED]"))
            .field(
                "fingerprint",
                &self.fingerprint.as_ref().map(|_| "[REDACTED]"),
            )
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// Build a redactor. `env` looks up secrets by environment variable name or by `vault:NAME`
    /// reference (the pseudonym key: `redact.pseudonym_key` when set, else the variable named by
    /// `redact.pseudonym_key_env`); the key is only required when some operator is `pseudonym`.
    pub fn new(
        scanner: Scanner,
        cfg: &RedactConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, RedactError> {
        let needs_key = cfg.secret == Operator::Pseudonym
            || cfg.pii == Operator::Pseudonym
            || cfg.rules.values().any(|o| *o == Operator::Pseudonym);
        let source_name = if cfg.pseudonym_key.is_unset() {
            format!(
                "the environment variable {} (set by redact.pseudonym_key_env)",
                cfg.pseudonym_key_env
            )
        } else {
            format!("{} (set by redact.pseudonym_key)", cfg.pseudonym_key)
        };
        let found = if cfg.pseudonym_key.is_unset() {
            env(&cfg.pseudonym_key_env)
        } else {
            env(&cfg.pseudonym_key.to_string())
        };
        let key = match found {
            Some(k) if k.len() >= 16 => {
                Some(std::sync::Arc::new(SecretSlice::from(k.into_bytes())))
            }
            Some(_) if needs_key => {
                return Err(RedactError::PseudonymKey {
                    source_name,
                    problem: "it is shorter than 16 bytes",
                });
            }
            None if needs_key => {
                return Err(RedactError::PseudonymKey {
                    source_name,
                    problem: "it is not set",
                });
            }
            _ => None,
        };
        Ok(Redactor {
            scanner,
            detectors: Detectors::CONTENT,
            cfg: cfg.clone(),
            key,
            fingerprint: None,
        })
    }

    /// The same redactor for a reviewer who compares two values it hid: every finding becomes its
    /// placeholder with a fingerprint, `[REDACTED:aws-access-key-id #9f2c41d07a3be815]` (the
    /// first 8 bytes of an HMAC-SHA256 of the value under a key this process draws from the OS
    /// on first use and never shows). Two views made by one process show whether a hidden value
    /// changed, and nothing of it; another process's fingerprints differ. Without a random
    /// source, plain placeholders.
    pub fn fingerprinting(&self) -> Redactor {
        static KEY: std::sync::OnceLock<Option<std::sync::Arc<SecretSlice<u8>>>> =
            std::sync::OnceLock::new();
        let key = KEY.get_or_init(|| {
            let mut k = vec![0u8; 32];
            getrandom::fill(&mut k)
                .ok()
                .map(|()| std::sync::Arc::new(SecretSlice::from(k)))
        });
        let mut r = self.clone();
        r.cfg.secret = Operator::Placeholder;
        r.cfg.pii = Operator::Placeholder;
        r.cfg.rules.clear();
        r.fingerprint = key.clone();
        r
    }

    /// Restrict redaction to some detector families.
    pub fn with_detectors(mut self, detectors: Detectors) -> Self {
        // Injection findings are the attacker's words, not values to hide.
        self.detectors = Detectors {
            injection: false,
            ..detectors
        };
        self
    }

    /// The scanner this redactor uses.
    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Redact a whole text.
    pub fn redact(&self, text: &str) -> Redacted {
        let findings = self.scanner.scan_with(text.as_bytes(), self.detectors);
        let text = self.apply(text, &findings);
        Redacted { text, findings }
    }

    /// Replace `findings` (spans of `text`) in `text`, merging overlaps.
    pub fn apply(&self, text: &str, findings: &[Finding]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for (start, end, lead) in merge_spans(findings) {
            let (start, end) = (floor_char(text, start), ceil_char(text, end));
            if start < pos {
                continue;
            }
            out.push_str(&text[pos..start]);
            out.push_str(&self.replacement(lead, &text[start..end]));
            pos = end;
        }
        out.push_str(&text[pos..]);
        out
    }

    fn operator_for(&self, f: &Finding) -> Operator {
        if let Some(op) = self.cfg.rules.get(&f.rule) {
            return *op;
        }
        match f.kind {
            FindingKind::Secret => self.cfg.secret,
            FindingKind::Pii => self.cfg.pii,
            // Never reached: the redactor's detectors exclude injection (see `with_detectors`), and
            // the scanner never reports action findings.
            FindingKind::Injection | FindingKind::Action | FindingKind::Ingress => {
                Operator::Placeholder
            }
        }
    }

    fn replacement(&self, f: &Finding, value: &str) -> String {
        match self.operator_for(f) {
            Operator::Placeholder => match self.fingerprint.as_ref().and_then(|k| tag(k, value)) {
                Some(hex) => format!("[REDACTED:{} #{hex}]", f.rule),
                None => format!("[REDACTED:{}]", f.rule),
            },
            Operator::Mask => {
                let n = value.chars().count();
                let keep = if n > 2 * self.cfg.mask_keep {
                    self.cfg.mask_keep
                } else {
                    0
                };
                let tail: String = value.chars().skip(n - keep).collect();
                format!("{}{}", "*".repeat(n - keep), tail)
            }
            // Without the key (unreachable through `new`, which demands it), fail closed all the
            // same.
            Operator::Pseudonym => match self.key.as_ref().and_then(|k| tag(k, value)) {
                Some(hex) => format!("[{}:{hex}]", f.rule),
                None => format!("[REDACTED:{}]", f.rule),
            },
        }
    }
}

/// The first 8 bytes of HMAC-SHA256(`key`, `value`), in hex.
fn tag(key: &SecretSlice<u8>, value: &str) -> Option<String> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.expose_secret()).ok()?;
    mac.update(value.as_bytes());
    Some(hex::encode(&mac.finalize().into_bytes()[..8]))
}

/// Merge overlapping finding spans; each merged span is represented by its most severe finding.
fn merge_spans(findings: &[Finding]) -> Vec<(usize, usize, &Finding)> {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| {
        let s = f.sort_span();
        (s.start, std::cmp::Reverse(s.end))
    });
    let mut out: Vec<(usize, usize, &Finding)> = Vec::new();
    for f in sorted {
        let s = f.sort_span();
        match out.last_mut() {
            Some((_, e, lead)) if s.start < *e => {
                *e = (*e).max(s.end);
                if f.severity > lead.severity {
                    *lead = f;
                }
            }
            _ => out.push((s.start, s.end, f)),
        }
    }
    out
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Bytes kept back from each chunk for the next scan: the longest match a stream promises to catch
/// across a chunk boundary (private-key blocks included).
pub const STREAM_TAIL: usize = 32 * 1024;

/// Redacts a byte stream chunk by chunk with bounded memory (about `chunk + STREAM_TAIL` bytes).
pub struct StreamRedactor {
    redactor: Redactor,
    /// Decoded text not yet emitted.
    pending: String,
    /// Undecoded bytes: an incomplete UTF-8 sequence at the end of the last chunk.
    partial: Vec<u8>,
    /// Offset of `pending[0]` in the decoded stream.
    offset: usize,
    findings: Vec<Finding>,
    keep_findings: bool,
}

impl StreamRedactor {
    /// A stream redactor. With `keep_findings`, every finding (spans relative to the whole decoded
    /// stream) is kept for [`StreamRedactor::findings`].
    pub fn new(redactor: Redactor, keep_findings: bool) -> Self {
        StreamRedactor {
            redactor,
            pending: String::new(),
            partial: Vec::new(),
            offset: 0,
            findings: Vec::new(),
            keep_findings,
        }
    }

    /// Feed bytes; returns redacted text that is now safe to emit.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.decode(bytes);
        if self.pending.len() <= 2 * STREAM_TAIL {
            return String::new();
        }
        self.emit(false)
    }

    /// The end of the stream: returns the rest, redacted.
    pub fn finish(&mut self) -> String {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.pending.push_str(&String::from_utf8_lossy(&rest));
        }
        self.emit(true)
    }

    /// Findings so far (when built with `keep_findings`).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    fn decode(&mut self, bytes: &[u8]) {
        let mut buf = std::mem::take(&mut self.partial);
        buf.extend_from_slice(bytes);
        let mut rest: &[u8] = &buf;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    self.pending.push_str(s);
                    break;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    self.pending
                        .push_str(std::str::from_utf8(&rest[..good]).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            self.pending.push('\u{FFFD}');
                            rest = &rest[good + bad..];
                        }
                        None => {
                            self.partial = rest[good..].to_vec();
                            break;
                        }
                    }
                }
            }
        }
    }

    fn emit(&mut self, all: bool) -> String {
        let text = std::mem::take(&mut self.pending);
        let findings = self
            .redactor
            .scanner
            .scan_with(text.as_bytes(), self.redactor.detectors);
        let mut cut = if all {
            text.len()
        } else {
            let limit = text.len() - STREAM_TAIL;
            // Prefer to cut after a newline so the next scan sees whole lines.
            let lo = limit.saturating_sub(STREAM_TAIL / 2);
            match memchr::memrchr(b'\n', &text.as_bytes()[lo..limit]) {
                Some(i) => lo + i + 1,
                None => floor_char(&text, limit),
            }
        };
        // Never cut through a finding: emit only up to the start of one that crosses the cut.
        while let Some(f) = findings
            .iter()
            .find(|f| f.sort_span().start < cut && f.sort_span().end > cut)
        {
            cut = floor_char(&text, f.sort_span().start);
        }
        let emitted: Vec<Finding> = findings
            .into_iter()
            .filter(|f| f.sort_span().end <= cut)
            .collect();
        let out = self.redactor.apply(&text[..cut], &emitted);
        if self.keep_findings {
            self.findings.extend(emitted.into_iter().map(|mut f| {
                f.shift(self.offset, 0, 0);
                f
            }));
        }
        self.offset += cut;
        self.pending = text[cut..].to_string();
        out
    }
}

/// A `Write` wrapper that redacts everything written through it before it reaches `inner`.
///
/// Output is held back until a newline (or until the buffer grows past a bound), so a secret split
/// across `write` calls on one line is still caught. Dropping or flushing the writer emits the rest.
pub struct RedactingWriter<W: Write> {
    inner: W,
    stream: StreamRedactor,
    line: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    /// Wrap `inner`.
    pub fn new(redactor: Redactor, inner: W) -> Self {
        RedactingWriter {
            inner,
            stream: StreamRedactor::new(redactor, false),
            line: Vec::new(),
        }
    }

    fn drain_lines(&mut self, force: bool) -> io::Result<()> {
        let upto = if force {
            self.line.len()
        } else {
            match memchr::memrchr(b'\n', &self.line) {
                Some(i) => i + 1,
                None if self.line.len() > 4 * STREAM_TAIL => self.line.len(),
                None => return Ok(()),
            }
        };
        let chunk: Vec<u8> = self.line.drain(..upto).collect();
        let mut out = self.stream.push(&chunk);
        out.push_str(&self.stream.finish());
        self.inner.write_all(out.as_bytes())
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        self.drain_lines(false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain_lines(true)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// A `tracing_subscriber` writer factory that redacts every log event before it is written.
///
/// One line makes an agent's logs safe:
/// `tracing_subscriber::fmt().with_writer(RedactingMakeWriter::new(redactor, std::io::stderr)).init()`.
#[derive(Clone)]
pub struct RedactingMakeWriter<M> {
    redactor: Redactor,
    inner: M,
}

impl<M> RedactingMakeWriter<M> {
    /// Wrap a `MakeWriter` (a function returning a writer, such as `std::io::stderr`).
    pub fn new(redactor: Redactor, inner: M) -> Self {
        RedactingMakeWriter { redactor, inner }
    }
}

impl<'a, M> tracing_subscriber::fmt::MakeWriter<'a> for RedactingMakeWriter<M>
where
    M: tracing_subscriber::fmt::MakeWriter<'a>,
{
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.redactor.clone(), self.inner.make_writer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(cfg: &RedactConfig) -> Redactor {
        let key = |k: &str| (k == "BULWARK_PSEUDONYM_KEY").then(|| "k".repeat(32));
        Redactor::new(Scanner::with_defaults().expect("scanner"), cfg, &key).expect("redactor")
    }

    const SECRET: &str = "AKIALALEMEL33243OLIB";

    #[test]
    fn placeholder_mask_pseudonym() {
        let text = format!("id={SECRET} mail bob@example.org");
        let r = redactor(&RedactConfig::default()).redact(&text);
        assert_eq!(
            r.text,
            "id=[REDACTED:aws-access-key-id] mail [REDACTED:email]"
        );
        let cfg = RedactConfig {
            secret: Operator::Mask,
            pii: Operator::Pseudonym,
            ..RedactConfig::default()
        };
        let r = redactor(&cfg).redact(&text);
        assert!(
            r.text.starts_with("id=****************OLIB mail [email:"),
            "{}",
            r.text
        );
        let again = redactor(&cfg).redact("bob@example.org");
        let token = &r.text[r.text.find("[email:").unwrap_or(0)..];
        assert_eq!(again.text, token, "same value, same key: same pseudonym");
    }

    #[test]
    fn a_reviewers_view_fingerprints_what_it_hides() {
        // Whatever the operators configured (a mask would show the key's tail), every value is
        // hidden, each with a fingerprint.
        let cfg = RedactConfig {
            secret: Operator::Mask,
            ..RedactConfig::default()
        };
        let view = redactor(&cfg).fingerprinting();
        let one = view
            .redact(&format!("key {SECRET} mail bob@example.org"))
            .text;
        let same = view.redact(&format!("old {SECRET}")).text;
        let other = view.redact("key AKIAZ7QW3RT5YUXIOBPA").text;
        let print = |t: &str, rule: &str| -> String {
            let at = t.find(&format!("[REDACTED:{rule} #")).expect(t) + rule.len() + 12;
            t[at..at + 16].to_string()
        };
        let fp = print(&one, "aws-access-key-id");
        assert!(fp.bytes().all(|b| b.is_ascii_hexdigit()), "{one}");
        assert!(!one.contains("OLIB") && !one.contains("bob@"), "{one}");
        assert!(one.contains("[REDACTED:email #"), "{one}");
        assert_eq!(
            print(&same, "aws-access-key-id"),
            fp,
            "same value, same fingerprint"
        );
        assert_ne!(
            print(&other, "aws-access-key-id"),
            fp,
            "another value, another"
        );
        // Another redactor of this process uses the same key; the key never shows.
        let again = redactor(&RedactConfig::default()).fingerprinting();
        assert_eq!(print(&again.redact(SECRET).text, "aws-access-key-id"), fp);
        assert!(format!("{view:?}").contains("fingerprint: Some(\"[REDACTED]\")"));
        // The redactor it was made from is unchanged.
        assert!(redactor(&cfg).redact(SECRET).text.ends_with("OLIB"));
    }

    #[test]
    fn pseudonym_without_key_is_an_error_naming_the_variable() {
        let cfg = RedactConfig {
            pii: Operator::Pseudonym,
            ..RedactConfig::default()
        };
        let err = Redactor::new(Scanner::with_defaults().expect("s"), &cfg, &|_| None)
            .expect_err("no key");
        assert!(err.to_string().contains("BULWARK_PSEUDONYM_KEY"));
    }

    #[test]
    fn stream_catches_secret_at_every_split_point() {
        let r = redactor(&RedactConfig::default());
        let text = format!(
            "{}\nkey {SECRET} end\n{}",
            "a".repeat(70_000),
            "b".repeat(100)
        );
        let expected = r.redact(&text).text;
        let bytes = text.as_bytes();
        let pos = text.find(SECRET).unwrap_or(0);
        for split in pos.saturating_sub(3)..pos + SECRET.len() + 3 {
            let mut s = StreamRedactor::new(r.clone(), false);
            let mut out = s.push(&bytes[..split]);
            out.push_str(&s.push(&bytes[split..]));
            out.push_str(&s.finish());
            assert_eq!(out, expected, "split at {split}");
        }
    }

    #[test]
    fn writer_redacts_across_writes() {
        let r = redactor(&RedactConfig::default());
        let mut sink = Vec::new();
        {
            let mut w = RedactingWriter::new(r, &mut sink);
            w.write_all(b"token AKIALALEME").ok();
            w.write_all(b"L33243OLIB done\n").ok();
        }
        assert_eq!(
            String::from_utf8_lossy(&sink),
            "token [REDACTED:aws-access-key-id] done\n"
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let r = redactor(&RedactConfig::default());
        let mut s = StreamRedactor::new(r, false);
        let mut out = s.push(b"ok \xff\xfe \xe2\x82");
        out.push_str(&s.push(b"\xac euro"));
        out.push_str(&s.finish());
        assert_eq!(out, "ok \u{FFFD}\u{FFFD} \u{20AC} euro");
    }
}
