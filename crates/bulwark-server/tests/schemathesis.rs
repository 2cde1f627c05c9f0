//! Schemathesis (PyPI), a property-based API tester written by others, against the document the
//! sidecar serves at `/openapi.json`: every operation with generated valid and invalid input, with
//! and without a token. No answer may be a 5xx, every status and body must be the documented one,
//! valid input must be accepted and invalid input refused. `.ci/run` installs it and sets
//! BULWARK_REQUIRE_SCHEMATHESIS; elsewhere the test skips with a notice when `st` is missing.
//! BULWARK_SCHEMATHESIS_SEED replays a run (the seed is printed on failure).

mod common;
use common::*;

use bulwark_core::SecurityConfig;
use std::process::Command;

#[test]
fn the_api_answers_as_its_openapi_document_says() {
    let available = Command::new("st")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var_os("BULWARK_REQUIRE_SCHEMATHESIS").is_none(),
            "BULWARK_REQUIRE_SCHEMATHESIS is set but `st` (pip install schemathesis) is missing"
        );
        eprintln!("skipped: schemathesis (`st`) is not installed: pip install schemathesis");
        return;
    }
    let mut cfg = SecurityConfig::default();
    // The unauthenticated cases come from one address; past 10 a minute they would get 429 (by
    // design, and documented), which Schemathesis's check of ignored authentication rejects.
    cfg.server.limits.auth_failures_per_min = 1_000_000;
    let s = start(cfg, &[("st", ALL)]);
    let seed = std::env::var("BULWARK_SCHEMATHESIS_SEED").unwrap_or_else(|_| "8844".into());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    let out = Command::new("st")
        .args(["--no-color", "--config-file", config, "run"])
        .arg(s.url("/openapi.json"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", s.tokens["st"]))
        .args(["--max-examples", "60", "--workers", "1", "--seed", &seed])
        .args(["--generation-database", "none"])
        .current_dir(s.home.path())
        .output()
        .expect("run st");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures (seed {seed}):\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every operation the document lists was tested (`Selected: N/N`, `Tested: N`).
    let count = |label: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|v| v.split('/').next_back().unwrap_or("").trim().to_string())
    };
    let (selected, tested) = (count("Selected:"), count("Tested:"));
    assert!(
        selected.is_some() && selected == tested,
        "every operation tested ({selected:?} listed, {tested:?} tested):\n{report}"
    );
}
