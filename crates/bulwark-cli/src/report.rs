//! One report model for `bulwark scan`, rendered as text, JSON, JSON Lines or SARIF 2.1.0.

use std::io::Write;

use bulwark_core::scan::RuleInfo;
pub use bulwark_core::scan::report::{InputError, Located, Report, Skipped, Stats};

/// Rendering of a [`Report`].
pub trait Render {
    /// One JSON document.
    fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()>;
    /// SARIF 2.1.0.
    fn write_sarif(&self, out: &mut dyn Write, catalog: &[RuleInfo]) -> std::io::Result<()>;
}

/// One finding as a line for a person: `path:line:column: severity rule: message [preview]`.
pub fn write_text_finding(out: &mut dyn Write, l: &Located) -> std::io::Result<()> {
    let f = &l.finding;
    writeln!(
        out,
        "{}:{}:{}: {} {}: {} [{}]",
        l.path,
        f.line_column().map(|l| l.line).unwrap_or(0),
        f.line_column().map(|l| l.column).unwrap_or(0),
        f.severity.as_str(),
        f.rule,
        f.message,
        f.preview
    )
}

/// One line of `--format jsonl`: what it is (`finding`, `error`, `skipped`, `summary`) and its
/// fields.
pub fn write_jsonl(
    out: &mut dyn Write,
    kind: &str,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let mut v = serde_json::to_value(value)?;
    if let Some(map) = v.as_object_mut() {
        map.insert("type".into(), kind.into());
    }
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)
}

/// Rendering of a [`Report`] in pieces, for output that streams as inputs are scanned.
pub trait Stream {
    /// The JSON Lines of one input's findings, errors and skips (the summary comes last, once).
    fn write_jsonl_items(&self, out: &mut dyn Write) -> std::io::Result<()>;
    /// The last JSON Line: the verdict over everything and the counters.
    fn write_jsonl_summary(&self, out: &mut dyn Write) -> std::io::Result<()>;
    /// Text after the findings: errors, skips and the summary line.
    fn write_text_tail(&self, out: &mut dyn Write) -> std::io::Result<()>;
}

impl Stream for Report {
    fn write_jsonl_items(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for l in &self.findings {
            write_jsonl(out, "finding", l)?;
        }
        for e in &self.errors {
            write_jsonl(out, "error", e)?;
        }
        for s in &self.skipped {
            write_jsonl(out, "skipped", s)?;
        }
        Ok(())
    }

    fn write_jsonl_summary(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_jsonl(
            out,
            "summary",
            &serde_json::json!({
                "verdict": self.verdict,
                "findings": self.findings.len(),
                "errors": self.errors.len(),
                "skipped": self.skipped.len(),
                "stats": self.stats,
            }),
        )
    }

    fn write_text_tail(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for e in &self.errors {
            writeln!(out, "{}: error: {}", e.path, e.error)?;
        }
        for s in &self.skipped {
            writeln!(out, "{}: skipped: {}", s.path, s.reason)?;
        }
        let files = self.stats.files_scanned;
        writeln!(
            out,
            "{} finding{} in {} input{} ({} bytes); verdict: {}{}",
            self.findings.len(),
            if self.findings.len() == 1 { "" } else { "s" },
            files,
            if files == 1 { "" } else { "s" },
            self.stats.bytes_scanned,
            self.verdict.as_str(),
            if self.skipped.is_empty() {
                String::new()
            } else {
                format!("; {} skipped", self.skipped.len())
            }
        )
    }
}

impl Render for Report {
    fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }

    fn write_sarif(&self, out: &mut dyn Write, catalog: &[RuleInfo]) -> std::io::Result<()> {
        let index = |id: &str| catalog.iter().position(|r| r.id == id);
        let rules: Vec<serde_json::Value> = catalog
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id,
                    "name": camel(r.id),
                    "shortDescription": {"text": r.description},
                    "fullDescription": {"text": format!("{} ({})", r.description, r.kind.as_str())},
                    "defaultConfiguration": {"level": sarif_level(r.severity)},
                    "properties": {"tags": ["security", r.kind.as_str()], "severity": r.severity.as_str()}
                })
            })
            .collect();
        let results: Vec<serde_json::Value> = self
            .findings
            .iter()
            .map(|l| {
                let f = &l.finding;
                let mut result = serde_json::json!({
                    "ruleId": f.rule,
                    "level": sarif_level(f.severity),
                    "message": {"text": format!("{} [{}]", f.message, f.preview)},
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": artifact_location(&l.path),
                            "region": {"startLine": f.line_column().map(|l| l.line).unwrap_or(1)}
                        }
                    }],
                    "properties": {
                        "byteOffset": f.sort_span().start,
                        "byteLength": f.sort_span().end - f.sort_span().start,
                        "byteColumn": f.line_column().map(|l| l.column).unwrap_or(1),
                        "kind": f.kind.as_str()
                    },
                    "partialFingerprints": {"bulwark/v1": l.fingerprint}
                });
                if let Some(i) = index(&f.rule) {
                    result["ruleIndex"] = serde_json::json!(i);
                }
                result
            })
            .collect();
        let notifications: Vec<serde_json::Value> = self
            .errors
            .iter()
            .map(|e| {
                serde_json::json!({
                    "level": "error",
                    "message": {"text": format!("{}: {}", e.path, e.error)},
                    "locations": [{"physicalLocation": {"artifactLocation": artifact_location(&e.path)}}]
                })
            })
            .collect();
        let doc = sarif_log(rules, results, notifications, self.errors.is_empty());
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}

/// The SARIF level of a severity: critical and high are errors, medium a warning, the rest notes.
pub fn sarif_level(s: bulwark_core::Severity) -> &'static str {
    match s {
        bulwark_core::Severity::Critical | bulwark_core::Severity::High => "error",
        bulwark_core::Severity::Medium => "warning",
        _ => "note",
    }
}

/// A SARIF 2.1.0 log of one run of bulwark.
pub fn sarif_log(
    rules: Vec<serde_json::Value>,
    results: Vec<serde_json::Value>,
    notifications: Vec<serde_json::Value>,
    successful: bool,
) -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "bulwark",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules
            }},
            "invocations": [{
                "executionSuccessful": successful,
                "toolExecutionNotifications": notifications
            }],
            "results": results
        }]
    })
}

/// `aws-access-key-id` -> `AwsAccessKeyId`: SARIF wants a readable name distinct from the id.
pub fn camel(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Where a finding is, as SARIF wants it: a relative reference for a relative path, a `file://`
/// URI for an absolute one (a bare absolute path is not a valid SARIF URI).
pub fn artifact_location(path: &str) -> serde_json::Value {
    if std::path::Path::new(path).is_absolute() {
        serde_json::json!({"uri": format!("file://{}", sarif_uri(path))})
    } else {
        serde_json::json!({"uri": sarif_uri(path)})
    }
}

/// A relative path as a SARIF URI reference: forward slashes, percent-encoding of what is not
/// allowed unencoded.
pub fn sarif_uri(path: &str) -> String {
    let p = path.strip_prefix("./").unwrap_or(path);
    let p = if p == "-" { "stdin" } else { p };
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            b'\\' => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::sarif_uri;

    #[test]
    fn uris_are_encoded() {
        assert_eq!(sarif_uri("./src/a b.rs"), "src/a%20b.rs");
        assert_eq!(sarif_uri("-"), "stdin");
    }
}
