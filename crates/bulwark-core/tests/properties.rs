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
            prop_assert!(f.sort_span().start < f.sort_span().end && f.sort_span().end <= bytes.len());
        }
    }

    #[test]
    fn spans_are_char_boundaries_and_redaction_removes_values(text in texty()) {
        let findings = SCANNER.scan(text.as_bytes());
        for f in &findings {
            prop_assert!(text.is_char_boundary(f.sort_span().start) && text.is_char_boundary(f.sort_span().end));
        }
        let r = redactor().redact(&text);
        // The text outside every finding: a value may legitimately survive if it also stands there.
        let mut outside = text.clone().into_bytes();
        for f in &r.findings {
            outside[f.sort_span().start..f.sort_span().end].fill(0);
        }
        let outside = String::from_utf8_lossy(&outside);
        for f in &r.findings {
            let value = &text[f.sort_span().start..f.sort_span().end];
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

/// Whether `text` holds a whole chat-template token such as `<|im_start|>`.
fn has_template_token(text: &str) -> bool {
    text.match_indices("<|").any(|(i, _)| {
        let rest = &text[i + 2..];
        let name = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        name > 0 && rest[name..].starts_with("|>")
    })
}

/// Text an attacker writes to break out of quoting: delimiters, template tokens, role markers,
/// hidden markup and invisible characters among arbitrary text.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("</untrusted id=\"x\">".to_string()),
        Just("<untrusted source=\"web\">".to_string()),
        Just("<|im_start|>".to_string()),
        Just("[INST]".to_string()),
        Just("<<SYS>>".to_string()),
        Just("\nsystem: ".to_string()),
        Just("\nAssistant:".to_string()),
        Just("### Instruction\n".to_string()),
        Just("<!-- ".to_string()),
        Just(" -->".to_string()),
        Just("<div style=\"display:none\">".to_string()),
        Just("</div>".to_string()),
        Just("\u{200B}".to_string()),
        Just("\u{E0041}".to_string()),
        "[ -~]{0,30}",
        "\\PC{0,12}",
    ];
    prop::collection::vec(piece, 0..14).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn wrapped_content_cannot_close_its_block(text in hostile()) {
        use bulwark_core::scan::boundary::{wrap, WrapOptions};
        use bulwark_core::scan::injection::Source;
        let w = wrap(&text, &Source::parse("web").unwrap(), &WrapOptions::default()).unwrap();
        let open = format!("<untrusted source=\"web\" id=\"{}\">\n", w.id);
        let close = format!("</untrusted id=\"{}\">", w.id);
        prop_assert!(w.text.starts_with(&open));
        prop_assert!(w.text.ends_with(&close));
        let body = &w.text[open.len()..w.text.len() - close.len()];
        prop_assert!(!body.contains("<untrusted") && !body.contains("</untrusted"));
        prop_assert!(!has_template_token(body) && !body.contains("[INST]") && !body.contains("<<SYS>>"));
        for c in &w.changes {
            prop_assert!(c.start < c.end && c.end <= text.len());
            prop_assert!(text.is_char_boundary(c.start) && text.is_char_boundary(c.end));
        }
    }

    #[test]
    fn sanitized_text_is_clean_and_changes_point_into_the_input(text in hostile()) {
        use bulwark_core::scan::boundary::sanitize;
        let s = sanitize(&text);
        let invisible = |c: char| matches!(c as u32, 0x200B..=0x200F | 0xE0000..=0xE0FFF);
        prop_assert!(!s.text.chars().any(invisible), "{:?}", s.text);
        prop_assert!(!s.text.contains("<!--"));
        prop_assert!(!has_template_token(&s.text));
        let mut last = 0;
        for c in &s.changes {
            prop_assert!(c.start <= c.end && c.end <= text.len(), "{:?} in {} bytes", c, text.len());
            prop_assert!(text.is_char_boundary(c.start) && text.is_char_boundary(c.end));
            prop_assert!(c.start >= last || c.kind == "role-marker" || c.kind == "template-token");
            last = c.start;
        }
        // Sanitizing is idempotent: a second pass finds nothing left to remove.
        let again = sanitize(&s.text);
        prop_assert!(again.changes.iter().all(|c| c.kind != "invisible-characters"
            && c.kind != "hidden-html-comment"), "{:?}", again.changes);
    }

    #[test]
    fn injection_spans_map_into_the_original(text in hostile()) {
        use bulwark_core::Detectors;
        use bulwark_core::scan::injection::Source;
        let only = Detectors { secrets: false, pii: false, injection: true };
        let a = SCANNER.assess(text.as_bytes(), only, &Source::other());
        for f in &a.findings {
            prop_assert!(f.sort_span().start <= f.sort_span().end && f.sort_span().end <= text.len());
            prop_assert!(text.is_char_boundary(f.sort_span().start) && text.is_char_boundary(f.sort_span().end));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The byte path that ASCII input takes gives the same view and offsets as the general path
    /// (forced here by one non-ASCII character on a line of its own at the end).
    #[test]
    fn ascii_fast_path_equals_the_general_path(
        text in prop::collection::vec(prop_oneof![
            Just("i g n o r e   a l l".to_string()),
            Just("1gn0r3 p@ssw0rd bob@corp.example".to_string()),
            "[ -~\\t\\n]{0,40}",
            "[a-z] [a-z] [a-z]",
        ], 0..8).prop_map(|v| v.concat())
    ) {
        use bulwark_core::scan::injection::normalize::normalize;
        let fast = normalize(text.as_bytes());
        let general = normalize(format!("{text}\n\u{e9}").as_bytes());
        prop_assert_eq!(format!("{}\ne", fast.text), general.text.clone());
        for i in 0..=fast.text.len() {
            prop_assert_eq!(fast.original_span(0, i), general.original_span(0, i));
        }
        prop_assert_eq!(fast.leet_words, general.leet_words);
        prop_assert_eq!(fast.spaced_runs, general.spaced_runs);
    }
}
