//! The posture parsers on arbitrary and hostile input: signatures, keys, checksum manifests,
//! advisory ranges and feeds, profiles and configuration files never panic, and what they accept
//! keeps its promises.

use bulwark_core::posture::advisory::{Installed, in_range, parse_version, select};
use bulwark_core::posture::precise::{Schema, Source, analyze};
use bulwark_core::posture::profile::{self, Signals};
use bulwark_core::posture::signature::{DetachedSignature, Manifest, PublicKey};
use bulwark_core::posture::{canonical_json, drift};
use bulwark_core::{Scanner, SecurityConfig};
use proptest::prelude::*;
use std::sync::LazyLock;

static SCANNER: LazyLock<Scanner> = LazyLock::new(|| Scanner::with_defaults().expect("scanner"));

/// Text that looks like configuration: keys, separators, values, nesting, noise.
fn configish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("\"gateway\": {\"host\": \"0.0.0.0\"}".to_string()),
        Just("\"tools\": {\"mcp\": {\"enabled\": true, \"servers\": {\"s\": {\"command\": \"npx\"}}}}".to_string()),
        Just("\"channels\": {\"telegram\": {\"enabled\": true, \"allow_from\": []}}".to_string()),
        Just("restrict_to_workspace: false\n".to_string()),
        Just("token: \"123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw\"\n".to_string()),
        Just("enc://".to_string()),
        Just("- ".to_string()),
        "[ -~]{0,30}",
        "\\PC{0,10}",
        "[\\n\\t :,\"']{0,4}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|v| v.concat())
}

/// JSON values of any shape (for profiles and feeds from other tools).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        "[ -~]{0,12}".prop_map(serde_json::Value::String),
        prop_oneof![
            Just("picoclaw@<1.2.3"),
            Just("cpe:2.3:a:x:picoclaw:*"),
            Just("verified"),
            Just("sha256")
        ]
        .prop_map(|s| serde_json::Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("platform".to_string()),
            Just("schema_version".to_string()),
            Just("posture".to_string()),
            Just("runtime".to_string()),
            Just("integrity".to_string()),
            Just("watched_files".to_string()),
            Just("path".to_string()),
            Just("sha256".to_string()),
            Just("advisories".to_string()),
            Just("affected".to_string()),
            Just("platforms".to_string()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn signature_and_key_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), text in "\\PC{0,200}") {
        let _ = DetachedSignature::parse(&bytes);
        let _ = DetachedSignature::parse(text.as_bytes());
        let _ = PublicKey::parse(&text);
        let _ = PublicKey::parse(&format!("-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----"));
        let _ = PublicKey::parse(&format!("untrusted comment: x\n{text}"));
        let _ = DetachedSignature::parse(format!("untrusted comment: x\n{text}\ntrusted comment: y\n{text}").as_bytes());
    }

    #[test]
    fn manifests_are_read_whole_or_refused(text in configish(), name in "[ -~]{0,20}") {
        if let Ok(m) = Manifest::parse(&text) {
            prop_assert!(!m.files.is_empty());
            for (path, hash) in &m.files {
                prop_assert!(!path.starts_with("./"));
                prop_assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            }
            let _ = m.lookup(Some(&name), &name);
        }
    }

    #[test]
    fn ranges_and_versions_never_panic(range in "[<>=*, .0-9a-z-]{0,24}", version in "[v0-9.a-z+-]{0,16}") {
        if let Some(v) = parse_version(&version) {
            let _ = in_range(&range, &v);
            // A bare version is in its own range, and never below itself.
            prop_assert_eq!(in_range(&v.to_string(), &v), Ok(true));
            prop_assert_eq!(in_range(&format!("<{v}"), &v), Ok(false));
        }
        let _ = Installed::parse(&format!("{range}={version}"));
    }

    #[test]
    fn feeds_of_any_shape_are_filtered_or_refused(feed in json_value(), version in "[0-9]\\.[0-9]\\.[0-9]") {
        let installed = [Installed::parse(&format!("picoclaw={version}")).expect("valid")];
        if let Ok(kept) = select(&feed, "picoclaw", &[]) {
            prop_assert!(kept.len() <= feed.get("advisories").and_then(|a| a.as_array()).map_or(0, Vec::len));
        }
        let _ = select(&feed, "picoclaw", &installed);
    }

    #[test]
    fn drift_of_any_two_documents_is_sorted_and_counted(a in json_value(), b in json_value()) {
        let r = drift::diff(&a, &b);
        let total = r.summary.critical + r.summary.high + r.summary.medium + r.summary.low + r.summary.info;
        prop_assert_eq!(total as usize, r.findings.len());
        for w in r.findings.windows(2) {
            // Most severe first, then by code and path.
            let key = |f: &drift::DriftFinding| (std::cmp::Reverse(f.severity), f.code.clone(), f.path.clone());
            prop_assert!(key(&w[0]) <= key(&w[1]));
        }
        // A document never drifts from itself.
        prop_assert!(drift::diff(&a, &a).findings.is_empty());
        let _ = profile::check(&a);
        prop_assert_eq!(canonical_json(&a), canonical_json(&serde_json::from_str::<serde_json::Value>(&canonical_json(&a)).expect("json")));
    }

    #[test]
    fn configuration_readers_never_panic(text in configish()) {
        let _ = Signals::from_text(&text);
        let sources: Vec<Source> = [Schema::PicoclawConfig, Schema::Launcher, Schema::SecurityYml, Schema::Heuristic]
            .into_iter()
            .map(|schema| Source { path: "/h/f".into(), schema, text: text.clone() })
            .collect();
        let facts = analyze(&sources, Some(("/h/bulwark.toml", &SecurityConfig::default())), &SCANNER);
        prop_assert_eq!(facts.files.len(), 4);
        let _ = facts.signals();
        let _ = bulwark_core::posture::review::review(&facts);
    }
}
