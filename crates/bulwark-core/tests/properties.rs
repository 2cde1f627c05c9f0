//! Properties of the content guard on arbitrary input: no panic, spans in bounds and on character
//! boundaries, redaction removes every value it reports and keeps text valid.

use bulwark_core::scan::{Redactor, StreamRedactor};
use bulwark_core::{Scanner, SecurityConfig};
use proptest::prelude::*;
use std::sync::LazyLock;

static SCANNER: LazyLock<Scanner> = LazyLock::new(|| Scanner::with_defaults().expect("scanner"));

fn redactor() -> Redactor {
    Redactor::new(SCANNER.clone(), &SecurityConfig::default().redact, &|_| {
        None
    })
    .expect("redactor")
}

/// Text that mixes secrets, personal data, punctuation and noise, so candidates actually occur.
fn texty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("AKIALALEMEL33243OLIB".to_string()),
        Just("bob@corp.example.net".to_string()),
        Just("db_password = \"h0pk1ns~21sZqwe\"".to_string()),
        Just("+1 415 555 0132".to_string()),
        Just("4012-8888-8888-1881".to_string()),
        Just("fe80::1%eth0".to_string()),
        Just("-----BEGIN PRIVATE KEY-----\n".to_string()),
        "[ -~]{0,40}",
        "\\PC{0,20}",
        "[\\n\\t :=\"'@.]{0,5}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        for f in SCANNER.scan(&bytes) {
            prop_assert!(f.start < f.end && f.end <= bytes.len());
        }
    }

    #[test]
    fn spans_are_char_boundaries_and_redaction_removes_values(text in texty()) {
        let findings = SCANNER.scan(text.as_bytes());
        for f in &findings {
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
        }
        let r = redactor().redact(&text);
        // The text outside every finding: a value may legitimately survive if it also stands there.
        let mut outside = text.clone().into_bytes();
        for f in &r.findings {
            outside[f.start..f.end].fill(0);
        }
        let outside = String::from_utf8_lossy(&outside);
        for f in &r.findings {
            let value = &text[f.start..f.end];
            if value.len() >= 8 && !outside.contains(value) {
                prop_assert!(!r.text.contains(value), "{value:?} survived in {:?}", r.text);
            }
        }
    }

    #[test]
    fn streaming_equals_whole_text(text in texty(), split in 0usize..400) {
        // Enough filler in front that the stream emits (and cuts) inside the interesting part.
        let text = format!("{}{text}", "filler line\n".repeat(6_000));
        let whole = redactor().redact(&text).text;
        let bytes = text.as_bytes();
        let split = (bytes.len() - text.len().min(400) + split).min(bytes.len());
        let mut s = StreamRedactor::new(redactor(), false);
        let mut out = s.push(&bytes[..split]);
        out.push_str(&s.push(&bytes[split..]));
        out.push_str(&s.finish());
        prop_assert_eq!(out, whole);
    }
}
