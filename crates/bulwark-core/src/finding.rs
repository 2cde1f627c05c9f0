//! The one decision model every guard speaks.
//!
//! A guard reports [`Finding`]s; a policy turns them into one [`Verdict`]. The CLI, the HTTP API and
//! the audit log all render this same shape, so a finding never carries the raw value it found: only
//! a redacted [`Finding::preview`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What kind of thing a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A credential: API key, token, password, private key.
    Secret,
    /// Personal data: e-mail address, phone number, card number, IBAN, IP address, SSN.
    Pii,
    /// Instructions hidden in text an agent reads: prompt injection and jailbreaks.
    Injection,
    /// A tool call the action guard judged: its class, tier, workspace paths, shell command.
    Action,
    /// A webhook payload the ingress policy judged (label allowlists).
    Ingress,
}

impl FindingKind {
    /// The lowercase name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Secret => "secret",
            FindingKind::Pii => "pii",
            FindingKind::Injection => "injection",
            FindingKind::Action => "action",
            FindingKind::Ingress => "ingress",
        }
    }
}

/// How bad a finding is, from `info` to `critical`. Ordered: `Info < Low < ... < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing, not a problem by itself.
    Info,
    /// Personal data of limited sensitivity (an IP address, a phone number).
    Low,
    /// Sensitive personal data, or a credential whose kind is only guessed.
    Medium,
    /// A credential of a known service.
    High,
    /// A credential that opens infrastructure: cloud keys, private keys.
    Critical,
}

impl Severity {
    /// Every severity, most severe first (the order reports list them in).
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// Parse a `--fail-on` threshold; `none` gives `None` (a threshold nothing reaches).
    pub fn parse_threshold(s: &str) -> Result<Option<Severity>, String> {
        if s.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
            .map(Some)
            .ok_or_else(|| format!("{s:?}: expected critical, high, medium, low, info or none"))
    }

    /// The lowercase name used in configuration and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The outcome of a guard: let it through, ask a human, or stop it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing stands in the way.
    Allow,
    /// A human should look before it goes on.
    Review,
    /// It must not go on.
    Block,
}

impl Verdict {
    /// The lowercase name used in JSON and text reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Review => "review",
            Verdict::Block => "block",
        }
    }
}

/// One thing a guard found.
///
/// Guarantees: `start..end` is a byte span of the scanned input that lies on UTF-8 character
/// boundaries when the input was UTF-8; `preview` never contains more than a few characters of the
/// matched value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What the finding is about.
    pub kind: FindingKind,
    /// The stable id of the rule that matched, e.g. `github-pat`.
    pub rule: String,
    /// The category of an injection finding, e.g. `instruction-override`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// The input field the finding is about, when it is about a structured input rather than a
    /// span of text (e.g. `args.command`, `target.namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Byte offset of the first byte of the match (0 for a finding about a field).
    pub start: usize,
    /// Byte offset one past the last byte of the match.
    pub end: usize,
    /// 1-based line of `start`, when the input was a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column (in bytes) of `start`, when the input was a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// A sentence for a human: what was found.
    pub message: String,
    /// A redacted view of the value: a few characters at each end at most.
    pub preview: String,
}

/// Fill in `line` and `column` of every finding from the text it was found in.
///
/// `findings` must be sorted by `start` (as [`crate::scan::Scanner::scan`] returns them); the text is
/// walked once.
pub fn locate(findings: &mut [Finding], text: &[u8]) {
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut pos = 0usize;
    for f in findings.iter_mut() {
        let target = f.start.min(text.len());
        if target < pos {
            // Not sorted: start over for this one.
            line = 1;
            line_start = 0;
            pos = 0;
        }
        for i in memchr::memchr_iter(b'\n', &text[pos..target]) {
            line += 1;
            line_start = pos + i + 1;
        }
        pos = target;
        f.line = Some(line);
        f.column = Some(target - line_start + 1);
    }
}

/// A short, redacted view of a secret or personal value (injection findings quote the matched
/// phrase instead: it is the attacker's text, not a secret): never more than four characters of it.
///
/// Values shorter than 12 characters show only their length class; longer ones keep two characters at
/// each end, e.g. `gh…9z (40 chars)`.
pub fn preview(value: &[u8]) -> String {
    // Invalid UTF-8 counts as U+FFFD, as `from_utf8_lossy` reads it. One allocation: this runs for
    // every finding.
    let s = String::from_utf8_lossy(value);
    let chars = s.chars().count();
    if chars < 12 {
        return format!("*** ({chars} chars)");
    }
    let head = s.char_indices().nth(2).map_or(s.len(), |(i, _)| i);
    let tail = s.char_indices().nth_back(1).map_or(0, |(i, _)| i);
    format!("{}…{} ({chars} chars)", &s[..head], &s[tail..])
}

/// A stable fingerprint of a finding for baselines: HMAC-SHA256 keyed with a per-baseline random
/// `salt` over the rule id, the location and the matched value, hex-encoded (32 characters).
///
/// It identifies the same secret in the same place across runs (line moves do not change it) without
/// storing the value; the salt keeps fingerprints from different baselines unlinkable.
pub fn fingerprint(salt: &[u8], rule: &str, location: &str, value: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(salt) else {
        return String::new();
    };
    mac.update(rule.as_bytes());
    mac.update(b"\0");
    mac.update(location.as_bytes());
    mac.update(b"\0");
    mac.update(value);
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_hides_most_of_the_value() {
        assert_eq!(preview(b"short"), "*** (5 chars)");
        let p = preview(b"ghp_abcdefghijklmnopqrstuvwxyz0123456789");
        assert_eq!(p, "gh…89 (40 chars)");
        assert!(!p.contains("abcdef"));
        // Characters, not bytes: multi-byte ends stay whole, invalid bytes read as U+FFFD.
        assert_eq!(preview("éé-secret-value-ßø".as_bytes()), "éé…ßø (18 chars)");
        assert_eq!(
            preview(b"\xffa-secret-value-\xfe"),
            "\u{fffd}a…-\u{fffd} (17 chars)"
        );
        assert_eq!(preview("ßßßßßßßßßßß".as_bytes()), "*** (11 chars)");
    }

    #[test]
    fn locate_counts_lines_and_columns() {
        let text = b"one\ntwo secret\nthree";
        let mut f = vec![Finding {
            field: None,
            kind: FindingKind::Secret,
            rule: "x".into(),
            category: None,
            severity: Severity::High,
            start: 8,
            end: 14,
            line: None,
            column: None,
            message: String::new(),
            preview: String::new(),
        }];
        locate(&mut f, text);
        assert_eq!((f[0].line, f[0].column), (Some(2), Some(5)));
    }
}
