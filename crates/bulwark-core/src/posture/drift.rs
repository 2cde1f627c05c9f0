//! Drift between two `picoclaw-profile/v1` profiles: what got riskier (by severity), what got
//! safer (info), which watched files and release artifacts changed, appeared or went missing.
//! Codes and severities are ClawSec's, so reports compare across tools.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Severity;

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftFinding {
    /// How much it matters.
    pub severity: Severity,
    /// Stable code, e.g. `PUBLIC_WEB_UI_ENABLED`.
    pub code: String,
    /// The profile field or the file path.
    pub path: String,
    /// What changed.
    pub message: String,
    /// Before and after, when useful.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

/// Count per severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Critical findings.
    pub critical: u64,
    /// High findings.
    pub high: u64,
    /// Medium findings.
    pub medium: u64,
    /// Low findings.
    pub low: u64,
    /// Info findings.
    pub info: u64,
}

/// The report: `{summary, findings}`, findings sorted by severity, code, path.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DriftReport {
    /// Counts.
    pub summary: Summary,
    /// The changes.
    pub findings: Vec<DriftFinding>,
}

impl DriftReport {
    fn add(
        &mut self,
        severity: Severity,
        code: &str,
        path: &str,
        message: String,
        details: Option<Value>,
    ) {
        let slot = match severity {
            Severity::Critical => &mut self.summary.critical,
            Severity::High => &mut self.summary.high,
            Severity::Medium => &mut self.summary.medium,
            Severity::Low => &mut self.summary.low,
            Severity::Info => &mut self.summary.info,
        };
        *slot += 1;
        self.findings.push(DriftFinding {
            severity,
            code: code.into(),
            path: path.into(),
            message,
            details,
        });
    }

    /// The most severe finding's severity.
    pub fn highest(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Whether some finding is at or above `threshold` (`None`: never).
    pub fn fails(&self, threshold: Option<Severity>) -> bool {
        match (threshold, self.highest()) {
            (Some(t), Some(h)) => h >= t,
            _ => false,
        }
    }
}

/// A truthy value as JavaScript sees it (profiles may come from other tools).
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        None => "undefined".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The boolean toggles: (field under posture.runtime, code when it turns on, code when it turns
/// off, severity when it turns on).
const TOGGLES: [(&str, &str, &str, Severity); 6] = [
    (
        "ui.public_web_ui",
        "PUBLIC_WEB_UI_ENABLED",
        "PUBLIC_WEB_UI_DISABLED",
        Severity::Critical,
    ),
    (
        "ui.auth_disabled",
        "WEB_UI_AUTH_DISABLED",
        "WEB_UI_AUTH_REENABLED",
        Severity::Critical,
    ),
    (
        "tools.unrestricted_workspace",
        "WORKSPACE_RESTRICTION_DISABLED",
        "WORKSPACE_RESTRICTION_RESTORED",
        Severity::Critical,
    ),
    (
        "risky_toggles.allow_unsigned_mode",
        "UNSIGNED_MODE_ENABLED",
        "UNSIGNED_MODE_DISABLED",
        Severity::Critical,
    ),
    ("mcp.enabled", "MCP_ENABLED", "MCP_DISABLED", Severity::High),
    (
        "scheduler.enabled",
        "SCHEDULER_ENABLED",
        "SCHEDULER_DISABLED",
        Severity::Medium,
    ),
];

fn by_path(entries: Option<&Value>) -> BTreeMap<String, &Value> {
    let mut out = BTreeMap::new();
    for e in entries.and_then(Value::as_array).into_iter().flatten() {
        if let Some(p) = e
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            out.insert(p.to_string(), e);
        }
    }
    out
}

fn compare_hashed(
    report: &mut DriftReport,
    before: Option<&Value>,
    after: Option<&Value>,
    changed: &str,
    removed: &str,
) {
    let (b, a) = (by_path(before), by_path(after));
    for (p, old) in &b {
        match a.get(p) {
            None => report.add(
                Severity::High,
                removed,
                p,
                format!("{p} missing from current profile"),
                None,
            ),
            Some(new) => {
                let hash = |e: &Value| {
                    e.get("sha256")
                        .filter(|h| truthy(Some(h)))
                        .cloned()
                        .unwrap_or(Value::Null)
                };
                let (h0, h1) = (hash(old), hash(new));
                if h0 != h1 {
                    report.add(
                        Severity::Critical,
                        changed,
                        p,
                        format!("{p} fingerprint changed"),
                        Some(serde_json::json!({"before": h0, "after": h1})),
                    );
                }
            }
        }
    }
    for (p, new) in &a {
        if !b.contains_key(p) {
            report.add(
                Severity::Low,
                "NEW_INTEGRITY_SCOPE",
                p,
                format!("{p} added to integrity tracking scope"),
                Some(serde_json::json!({"exists": truthy(new.get("exists"))})),
            );
        }
    }
}

/// Compare a baseline profile with the current one.
pub fn diff(baseline: &Value, current: &Value) -> DriftReport {
    let mut r = DriftReport::default();
    let (b, c) = (baseline, current);
    if b.get("platform") != c.get("platform") {
        r.add(
            Severity::Critical,
            "PLATFORM_MISMATCH",
            "platform",
            format!(
                "platform changed {} -> {}",
                text(b.get("platform")),
                text(c.get("platform"))
            ),
            None,
        );
    }
    if b.get("schema_version") != c.get("schema_version") {
        r.add(
            Severity::High,
            "SCHEMA_VERSION_CHANGED",
            "schema_version",
            format!(
                "schema_version changed {} -> {}",
                text(b.get("schema_version")),
                text(c.get("schema_version"))
            ),
            None,
        );
    }
    let runtime = |v: &Value, field: &str| -> Option<Value> {
        let ptr = format!("/posture/runtime/{}", field.replace('.', "/"));
        v.pointer(&ptr).cloned()
    };
    for (field, on, off, severity) in TOGGLES {
        let (before, after) = (
            truthy(runtime(b, field).as_ref()),
            truthy(runtime(c, field).as_ref()),
        );
        let path = format!("posture.runtime.{field}");
        match (before, after) {
            (false, true) => r.add(
                severity,
                on,
                &path,
                format!("{path} changed false -> true"),
                None,
            ),
            (true, false) => r.add(
                Severity::Info,
                off,
                &path,
                format!("{path} changed true -> false"),
                None,
            ),
            _ => {}
        }
    }
    let markers = |v: &Value| {
        runtime(v, "secrets.config_secret_markers")
            .and_then(|m| m.as_f64())
            .unwrap_or(0.0)
    };
    // Precise profiles count secrets the content guard finds; heuristic ones (ClawSec's, and
    // Bulwark's with `--mode heuristic`) count raw-text markers. Counts made two ways are not
    // compared: that would report a change of method as a change of configuration.
    let mode = |v: &Value| {
        v.pointer("/generator/mode")
            .and_then(Value::as_str)
            .unwrap_or("heuristic")
            .to_string()
    };
    let (mode0, mode1) = (mode(b), mode(c));
    let (m0, m1) = (markers(b), markers(c));
    if mode0 != mode1 {
        r.add(
            Severity::Info,
            "PROFILE_MODE_CHANGED",
            "generator.mode",
            format!(
                "the profiles were made in different modes ({mode0} -> {mode1}): secret counts are not compared"
            ),
            Some(serde_json::json!({"before": mode0, "after": mode1})),
        );
    } else if m0 < m1 {
        r.add(
            Severity::High,
            "SECRET_MARKERS_INCREASED",
            "posture.runtime.secrets.config_secret_markers",
            "config secret markers increased".into(),
            Some(serde_json::json!({"before": m0 as u64, "after": m1 as u64})),
        );
    }
    let status = |v: &Value| v.pointer("/posture/feed_verification/status").cloned();
    if status(b).as_ref().and_then(Value::as_str) == Some("verified")
        && status(c).as_ref().and_then(Value::as_str) != Some("verified")
    {
        let now = status(c)
            .filter(|s| truthy(Some(s)))
            .map(|s| text(Some(&s)))
            .unwrap_or_else(|| "unknown".into());
        r.add(
            Severity::Critical,
            "FEED_VERIFICATION_REGRESSION",
            "posture.feed_verification.status",
            format!("Feed verification regressed verified -> {now}"),
            None,
        );
    }
    compare_hashed(
        &mut r,
        b.pointer("/posture/integrity/watched_files"),
        c.pointer("/posture/integrity/watched_files"),
        "WATCHED_FILE_DRIFT",
        "WATCHED_FILE_REMOVED",
    );
    compare_hashed(
        &mut r,
        b.pointer("/posture/integrity/release_artifacts"),
        c.pointer("/posture/integrity/release_artifacts"),
        "RELEASE_ARTIFACT_DRIFT",
        "RELEASE_ARTIFACT_REMOVED",
    );
    r.findings.sort_by(|x, y| {
        (std::cmp::Reverse(x.severity), &x.code, &x.path).cmp(&(
            std::cmp::Reverse(y.severity),
            &y.code,
            &y.path,
        ))
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(runtime: Value, watched: Value, feed: &str) -> Value {
        json!({"schema_version": "picoclaw-profile/v1", "platform": "picoclaw",
            "posture": {"runtime": runtime, "integrity": {"watched_files": watched, "release_artifacts": []},
            "feed_verification": {"status": feed}}})
    }

    #[test]
    fn every_code() {
        let safe = profile(
            json!({"ui": {"public_web_ui": false, "auth_disabled": false},
                "tools": {"unrestricted_workspace": false}, "mcp": {"enabled": false},
                "scheduler": {"enabled": false}, "risky_toggles": {"allow_unsigned_mode": false},
                "secrets": {"config_secret_markers": 0}}),
            json!([{"path": "/h/config.json", "exists": true, "sha256": "aa"},
                   {"path": "/h/gone.yml", "exists": true, "sha256": "bb"}]),
            "verified",
        );
        let risky = profile(
            json!({"ui": {"public_web_ui": true, "auth_disabled": true},
                "tools": {"unrestricted_workspace": true}, "mcp": {"enabled": true},
                "scheduler": {"enabled": true}, "risky_toggles": {"allow_unsigned_mode": true},
                "secrets": {"config_secret_markers": 3}}),
            json!([{"path": "/h/config.json", "exists": true, "sha256": "cc"},
                   {"path": "/h/new.yml", "exists": false}]),
            "unverified",
        );
        let r = diff(&safe, &risky);
        let codes: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(
            codes,
            [
                "FEED_VERIFICATION_REGRESSION",
                "PUBLIC_WEB_UI_ENABLED",
                "UNSIGNED_MODE_ENABLED",
                "WATCHED_FILE_DRIFT",
                "WEB_UI_AUTH_DISABLED",
                "WORKSPACE_RESTRICTION_DISABLED",
                "MCP_ENABLED",
                "SECRET_MARKERS_INCREASED",
                "WATCHED_FILE_REMOVED",
                "SCHEDULER_ENABLED",
                "NEW_INTEGRITY_SCOPE",
            ]
        );
        assert_eq!(
            r.summary,
            Summary {
                critical: 6,
                high: 3,
                medium: 1,
                low: 1,
                info: 0
            }
        );
        assert!(r.fails(Some(Severity::Critical)) && !r.fails(None));
        let back = diff(&risky, &safe);
        let infos = back
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Info)
            .count();
        assert_eq!(infos, 6, "{:?}", back.findings);
        assert!(
            back.findings
                .iter()
                .any(|f| f.code == "WEB_UI_AUTH_REENABLED")
        );
        assert!(
            back.findings
                .iter()
                .any(|f| f.code == "WORKSPACE_RESTRICTION_RESTORED")
        );
        assert!(!back.fails(Some(Severity::Low)) || back.highest() >= Some(Severity::Low));
    }

    #[test]
    fn platform_schema_and_artifacts() {
        let a = json!({"schema_version": "picoclaw-profile/v1", "platform": "picoclaw",
            "posture": {"integrity": {"release_artifacts": [{"path": "/bin/picoclaw", "sha256": "aa"}]}}});
        let b = json!({"schema_version": "picoclaw-profile/v2", "platform": "openclaw",
            "posture": {"integrity": {"release_artifacts": []}}});
        let codes: Vec<String> = diff(&a, &b).findings.into_iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            [
                "PLATFORM_MISMATCH",
                "RELEASE_ARTIFACT_REMOVED",
                "SCHEMA_VERSION_CHANGED"
            ]
        );
        let c = json!({"schema_version": "picoclaw-profile/v1", "platform": "picoclaw",
            "posture": {"integrity": {"release_artifacts": [{"path": "/bin/picoclaw", "sha256": "ff"}]}}});
        let codes: Vec<String> = diff(&a, &c).findings.into_iter().map(|f| f.code).collect();
        assert_eq!(codes, ["RELEASE_ARTIFACT_DRIFT"]);
        assert!(diff(&a, &a).findings.is_empty());
    }
}
