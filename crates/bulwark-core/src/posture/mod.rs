//! Posture: what an agent host looks like, whether that changed, whether advisories and releases
//! are authentic. The formats are those of ClawSec's picoclaw-security-guardian
//! (`picoclaw-profile/v1` profiles, drift reports, signed advisory feeds, checksum manifests), so
//! profiles and reports interoperate with the tools PicoClaw operators already run.
//!
//! Everything here is pure: the CLI reads the files and hands the bytes in.

pub mod advisory;
pub mod drift;
pub mod precise;
pub mod profile;
pub mod review;
pub mod signature;

/// Severity of a posture finding: the one severity every guard uses.
pub use crate::finding::Severity;

/// Compact JSON with object keys sorted recursively: the canonical form profile digests are
/// computed over (the same bytes ClawSec's `stableStringify(value, 0)` gives).
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = serde_json::json!({"b": [{"z": 1, "a": null}], "a": {"y": "é\n", "x": true}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"x":true,"y":"é\n"},"b":[{"a":null,"z":1}]}"#
        );
    }

    #[test]
    fn thresholds() {
        assert_eq!(Severity::parse_threshold("none"), Ok(None));
        assert_eq!(Severity::parse_threshold("HIGH"), Ok(Some(Severity::High)));
        assert!(Severity::parse_threshold("severe").is_err());
        assert!(Severity::Critical > Severity::Info);
    }
}
