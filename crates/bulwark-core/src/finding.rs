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

/// Where a finding is: a span of scanned text, the same with its line and column, or a field of a
/// structured input. One of these, never a mix: a field finding has no span to misread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Bytes `start..end` of the scanned input.
    Span(Span),
    /// Bytes of a text read from a file, with the 1-based line and column (in bytes) of `start`.
    Line(Span, LineColumn),
    /// A field of a structured input, e.g. `args.command` or `$.alerts[0].labels.severity`.
    Field(String),
}

/// A byte span: `start..end`, on UTF-8 character boundaries when the input was UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// Byte offset of the first byte of the match.
    pub start: usize,
    /// Byte offset one past the last byte of the match.
    pub end: usize,
}

impl Span {
    /// The span as a range, for slicing the input.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

impl From<Span> for (usize, usize) {
    fn from(s: Span) -> (usize, usize) {
        (s.start, s.end)
    }
}

/// A 1-based line and a 1-based column counted in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineColumn {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in bytes.
    pub column: usize,
}

/// One thing a guard found.
///
/// Guarantees: a span lies on UTF-8 character boundaries of the scanned input when the input was
/// UTF-8; `preview` never contains more than a few characters of the matched value.
///
/// In JSON the location is flattened as it always was: `field` for a field finding (with
/// `start` and `end` 0), else `start` and `end`, and `line` and `column` when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What the finding is about.
    pub kind: FindingKind,
    /// The stable id of the rule that matched, e.g. `github-pat`.
    pub rule: String,
    /// The category of an injection finding, e.g. `instruction-override`.
    pub category: Option<String>,
    /// How bad it is.
    pub severity: Severity,
    /// Where it is.
    pub location: Location,
    /// A sentence for a human: what was found.
    pub message: String,
    /// A redacted view of the value: a few characters at each end at most.
    pub preview: String,
}

impl Finding {
    /// The span of a finding about text; `None` for a field finding.
    pub fn span(&self) -> Option<Span> {
        match &self.location {
            Location::Span(s) | Location::Line(s, _) => Some(*s),
            Location::Field(_) => None,
        }
    }

    /// The span to order findings by: a field finding sorts first, as at offset 0.
    pub fn sort_span(&self) -> Span {
        self.span().unwrap_or(Span { start: 0, end: 0 })
    }

    /// The field a finding is about, when it is about a structured input.
    pub fn field(&self) -> Option<&str> {
        match &self.location {
            Location::Field(f) => Some(f),
            _ => None,
        }
    }

    /// The line and column, when the finding was located in a text read as lines.
    pub fn line_column(&self) -> Option<LineColumn> {
        match &self.location {
            Location::Line(_, lc) => Some(*lc),
            _ => None,
        }
    }

    /// Move a text finding by `by` bytes, and its line and column by `lines` lines (and, on its
    /// first line, by `columns` columns): for a finding in a window of a larger text.
    pub fn shift(&mut self, by: usize, lines: usize, columns: usize) {
        match &mut self.location {
            Location::Span(s) => {
                s.start += by;
                s.end += by;
            }
            Location::Line(s, lc) => {
                s.start += by;
                s.end += by;
                if lc.line == 1 {
                    lc.column += columns;
                }
                lc.line += lines;
            }
            Location::Field(_) => {}
        }
    }
}

/// The JSON shape of a finding, as it was before [`Location`]: written from borrowed parts.
#[derive(Serialize)]
struct FindingOut<'a> {
    kind: FindingKind,
    rule: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'a str>,
    severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    start: usize,
    end: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    message: &'a str,
    preview: &'a str,
}

impl Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let span = self.sort_span();
        let lc = self.line_column();
        FindingOut {
            kind: self.kind,
            rule: &self.rule,
            category: self.category.as_deref(),
            severity: self.severity,
            field: self.field(),
            start: span.start,
            end: span.end,
            line: lc.map(|l| l.line),
            column: lc.map(|l| l.column),
            message: &self.message,
            preview: &self.preview,
        }
        .serialize(s)
    }
}

/// What [`Finding`]'s JSON reads from: the flattened location.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingIn {
    kind: FindingKind,
    rule: String,
    #[serde(default)]
    category: Option<String>,
    severity: Severity,
    #[serde(default)]
    field: Option<String>,
    start: usize,
    end: usize,
    #[serde(default)]
    line: Option<usize>,
    #[serde(default)]
    column: Option<usize>,
    message: String,
    preview: String,
}

impl TryFrom<FindingIn> for Finding {
    type Error = String;

    fn try_from(f: FindingIn) -> Result<Self, String> {
        let span = Span {
            start: f.start,
            end: f.end,
        };
        let location = match (f.field, f.line, f.column) {
            (Some(field), None, None) if f.start == 0 && f.end == 0 => Location::Field(field),
            (Some(_), ..) => {
                return Err(
                    "a finding about a `field` has start and end 0 and no line or column".into(),
                );
            }
            _ if f.end < f.start => {
                return Err(format!("`end` {} is before `start` {}", f.end, f.start));
            }
            (None, None, None) => Location::Span(span),
            (None, Some(line), Some(column)) if line > 0 && column > 0 => {
                Location::Line(span, LineColumn { line, column })
            }
            (None, ..) => {
                return Err("`line` and `column` come together, each 1 or more".into());
            }
        };
        Ok(Finding {
            kind: f.kind,
            rule: f.rule,
            category: f.category,
            severity: f.severity,
            location,
            message: f.message,
            preview: f.preview,
        })
    }
}

impl<'de> Deserialize<'de> for Finding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Finding::try_from(FindingIn::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Give every text finding its line and column in the text it was found in.
///
/// `findings` should be sorted by span start (as [`crate::scan::Scanner::scan`] returns them): the
/// text is then walked once. Field findings are left as they are.
pub fn locate(findings: &mut [Finding], text: &[u8]) {
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut pos = 0usize;
    for f in findings.iter_mut() {
        let Some(span) = f.span() else { continue };
        let target = span.start.min(text.len());
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
        f.location = Location::Line(
            span,
            LineColumn {
                line,
                column: target - line_start + 1,
            },
        );
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
            kind: FindingKind::Secret,
            rule: "x".into(),
            category: None,
            severity: Severity::High,
            location: Location::Span(Span { start: 8, end: 14 }),
            message: String::new(),
            preview: String::new(),
        }];
        locate(&mut f, text);
        assert_eq!(f[0].line_column(), Some(LineColumn { line: 2, column: 5 }));
        assert_eq!(f[0].span(), Some(Span { start: 8, end: 14 }));
    }

    #[test]
    fn json_keeps_the_flat_location_and_reads_it_back() {
        let field = Finding {
            kind: FindingKind::Action,
            rule: "r".into(),
            category: None,
            severity: Severity::High,
            location: Location::Field("args.command".into()),
            message: "m".into(),
            preview: String::new(),
        };
        let v = serde_json::to_value(&field).unwrap();
        assert_eq!(
            (&v["field"], &v["start"], &v["end"], v.get("line")),
            (
                &serde_json::json!("args.command"),
                &serde_json::json!(0),
                &serde_json::json!(0),
                None
            )
        );
        assert_eq!(serde_json::from_value::<Finding>(v).unwrap(), field);
        let mut text = field.clone();
        text.location =
            Location::Line(Span { start: 3, end: 9 }, LineColumn { line: 1, column: 4 });
        let v = serde_json::to_value(&text).unwrap();
        assert_eq!(
            (&v["line"], &v["column"], v.get("field")),
            (&serde_json::json!(1), &serde_json::json!(4), None)
        );
        assert_eq!(serde_json::from_value::<Finding>(v).unwrap(), text);
        // Contradictions are refused, not guessed at.
        for bad in [
            serde_json::json!({"field": "a", "start": 3, "end": 4}),
            serde_json::json!({"start": 5, "end": 4}),
            serde_json::json!({"start": 1, "end": 4, "line": 2}),
        ] {
            let mut v = serde_json::to_value(&field).unwrap();
            v.as_object_mut().unwrap().remove("field");
            for (k, x) in bad.as_object().unwrap() {
                v[k] = x.clone();
            }
            assert!(serde_json::from_value::<Finding>(v.clone()).is_err(), "{v}");
        }
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
    /// The untrusted pieces in the context (at most `provenance::MAX_LISTED`, the most suspicious first).
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
