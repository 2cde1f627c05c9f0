use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::scan::{Detectors, ScanConfig, Scanner};

fn scanner() -> Scanner {
    Scanner::new(&ScanConfig::default()).unwrap()
}

const KEY: &str = "AKIAQYLPMN5HFIQR7XYZ";

#[test]
fn the_same_value_gets_the_same_placeholder_in_every_turn() {
    let s = scanner();
    let mut c = Conversation::new(100);
    let turn1 = redact_text(
        &s,
        Detectors::CONTENT,
        &mut c,
        &format!("key {KEY} for ops@example.com, cc ana@example.org"),
    );
    assert_eq!(
        turn1.text, "key [aws-access-key-id#1] for [email#1], cc [email#2]",
        "{turn1:?}"
    );
    let turn2 = redact_text(&s, Detectors::CONTENT, &mut c, "write to ops@example.com");
    assert_eq!(turn2.text, "write to [email#1]");
    assert_eq!((turn1.reversible, turn2.reversible, c.len()), (3, 1, 3));
    // Another conversation has a map of its own.
    let mut other = Conversation::new(100);
    let t = redact_text(&s, Detectors::CONTENT, &mut other, "ana@example.org");
    assert_eq!(t.text, "[email#1]");
    assert_eq!(
        restore(&c, "mail [email#2] now", Escape::Text),
        "mail ana@example.org now"
    );
    assert_eq!(
        restore(&other, "[email#1] [email#2]", Escape::Text),
        "ana@example.org [email#2]"
    );
}

#[test]
fn a_full_conversation_redacts_one_way() {
    let s = scanner();
    let mut c = Conversation::new(1);
    let r = redact_text(
        &s,
        Detectors::CONTENT,
        &mut c,
        "a@example.com b@example.com",
    );
    assert_eq!(r.text, "[email#1] [REDACTED:email]");
    assert_eq!((r.reversible, r.one_way), (1, 1));
}

#[test]
fn json_restoration_escapes_the_value() {
    let mut c = Conversation::new(10);
    let p = c.placeholder("password", "p\"a\\ss").unwrap();
    let args = format!("{{\"pw\": \"{p}\"}}");
    let restored = restore(&c, &args, Escape::Json);
    let v: serde_json::Value = serde_json::from_str(&restored).unwrap();
    assert_eq!(v["pw"], "p\"a\\ss");
}

#[test]
fn a_stream_holds_back_only_a_possible_placeholder() {
    let mut c = Conversation::new(10);
    c.placeholder("email", "ops@example.com").unwrap();
    let mut r = Restorer::new(Escape::Text);
    assert_eq!(r.push(&c, "Write to [em"), "Write to ");
    assert_eq!(r.held(), 3);
    assert_eq!(r.push(&c, "ail#1"), "");
    assert_eq!(
        r.push(&c, "] today [not a placeholder] ["),
        "ops@example.com today [not a placeholder] "
    );
    assert_eq!(r.push(&c, "x"), "");
    assert_eq!(r.finish(&c), "[x");
    // Text with brackets that cannot be placeholders flows at once.
    let mut r = Restorer::new(Escape::Text);
    assert_eq!(r.push(&c, "a [B] [c d] [e#x"), "a [B] [c d] [e#x");
    assert_eq!(r.held(), 0);
}

#[test]
fn conversations_are_bounded_and_forgotten_when_idle() {
    let t0 = Instant::now();
    let store = Conversations::new(ConversationLimits {
        values_per_conversation: 10,
        conversations: 2,
        idle: Duration::from_secs(60),
    });
    let a = store.get("a", t0);
    a.lock().unwrap().placeholder("email", "x@example.com");
    store.get("b", t0 + Duration::from_secs(1));
    assert_eq!(
        store
            .get("a", t0 + Duration::from_secs(2))
            .lock()
            .unwrap()
            .len(),
        1
    );
    // A third conversation pushes out the least recently used ("b").
    store.get("c", t0 + Duration::from_secs(3));
    assert_eq!(store.len(), 2);
    assert_eq!(
        store
            .get("a", t0 + Duration::from_secs(4))
            .lock()
            .unwrap()
            .len(),
        1
    );
    // Idle past its time: a fresh map.
    assert!(
        store
            .get("a", t0 + Duration::from_secs(100))
            .lock()
            .unwrap()
            .is_empty()
    );
    // Keys differ by token even for the same header or messages.
    assert_ne!(
        conversation_key("tok-a", Some("conv-1"), &[]),
        conversation_key("tok-b", Some("conv-1"), &[])
    );
    assert_eq!(
        conversation_key("t", None, &["sys", "hi"]),
        conversation_key("t", None, &["sys", "hi"])
    );
    assert_ne!(
        conversation_key("t", None, &["sy", "shi"]),
        conversation_key("t", None, &["sys", "hi"])
    );
}

/// A text the model might write: words, brackets, known and unknown placeholders, cut anywhere.
fn reply() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[email#1]".to_string()),
        Just("[aws-access-key-id#1]".to_string()),
        Just("[email#9]".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("#".to_string()),
        "[a-z#0-9 \\[\\]é]{0,6}",
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    /// For any chunking: the agent gets exactly the text restored whole.
    #[test]
    fn any_chunking_restores_as_the_whole_text(text in reply(), cuts in proptest::collection::vec(0usize..64, 0..12)) {
        let mut c = Conversation::new(10);
        c.placeholder("email", "ops@example.com").unwrap();
        c.placeholder("aws-access-key-id", KEY).unwrap();
        let whole = restore(&c, &text, Escape::Text);
        let mut r = Restorer::new(Escape::Text);
        let mut got = String::new();
        let mut rest = text.as_str();
        for cut in cuts {
            let mut at = cut.min(rest.len());
            while !rest.is_char_boundary(at) {
                at -= 1;
            }
            let out = r.push(&c, &rest[..at]);
            // Held back: at most a placeholder's length. (That nothing half-restored was passed on
            // follows from the equality below: a placeholder cut and passed on would stay as it is.)
            prop_assert!(r.held() < 60);
            got.push_str(&out);
            rest = &rest[at..];
        }
        got.push_str(&r.push(&c, rest));
        got.push_str(&r.finish(&c));
        prop_assert_eq!(got, whole);
    }

    /// What the provider gets never holds a value the scanner redacts, and restoring it gives the
    /// text back.
    #[test]
    fn redaction_round_trips(words in proptest::collection::vec(prop_oneof![
        Just("ops@example.com".to_string()),
        Just(KEY.to_string()),
        Just("ana@example.org".to_string()),
        "[a-z ]{1,8}",
    ], 0..12)) {
        let text = words.join(" ");
        let s = scanner();
        let mut c = Conversation::new(100);
        let r = redact_text(&s, Detectors::CONTENT, &mut c, &text);
        for v in ["ops@example.com", KEY, "ana@example.org"] {
            prop_assert!(!r.text.contains(v), "{} in {}", v, r.text);
        }
        prop_assert_eq!(restore(&c, &r.text, Escape::Text), text);
    }
}
