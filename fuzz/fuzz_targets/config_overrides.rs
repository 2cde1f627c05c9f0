//! Configuration overrides: `BULWARK_*` variables over a text. The input's lines before the first
//! blank line are `NAME=value` variables (`BULWARK_` is prefixed when missing), the rest is the
//! file. Any input loads, or is refused with its problems; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (vars, text) = s.split_once("\n\n").unwrap_or((s, ""));
    let vars: Vec<(String, String)> = vars
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let k = if k.starts_with("BULWARK_") {
                k.to_string()
            } else {
                format!("BULWARK_{k}")
            };
            (k, v.to_string())
        })
        .collect();
    match bulwark_core::SecurityConfig::from_toml_with_env(text, "fuzz.toml", &vars) {
        // What loads serializes back without a panic.
        Ok(cfg) => {
            let _ = serde_json::to_string(&cfg);
        }
        // What is refused renders its report.
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
