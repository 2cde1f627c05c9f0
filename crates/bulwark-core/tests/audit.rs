//! The audit chain against tampering: any single modification, deletion, insertion, reordering or
//! truncation of a log of random records is detected, and the failure names the right record.

use bulwark_core::audit::{
    AuditEvent, AuditKey, AuditRecord, Chain, CheckpointKey, EventType, FailureKind, VerifyOptions,
    VerifyReport, now_rfc3339, verify_bytes,
};
use proptest::prelude::*;
use std::sync::LazyLock;

static KEY: LazyLock<AuditKey> = LazyLock::new(|| AuditKey::generate().expect("key"));
static SIGNER: LazyLock<CheckpointKey> = LazyLock::new(|| CheckpointKey::generate().expect("key"));

fn event(i: usize, detail: &str) -> AuditEvent {
    AuditEvent {
        event_type: EventType::ALL[i % EventType::ALL.len()],
        actor: format!("agent-{}", i % 3),
        action: "egress.check".into(),
        resource: format!("https://example.org/{i}"),
        outcome: if i.is_multiple_of(2) { "allow" } else { "deny" }.into(),
        details: serde_json::json!({"i": i, "note": detail, "ratio": i as f64 / 7.0}),
    }
}

/// A log of `details.len()` records and a signed checkpoint at its end.
fn build(details: &[String]) -> (Vec<AuditRecord>, bulwark_core::audit::Checkpoint) {
    let mut chain = Chain::genesis();
    let records = details
        .iter()
        .enumerate()
        .map(|(i, d)| chain.seal(event(i, d), now_rfc3339(), &KEY).expect("seal"))
        .collect();
    let cp = SIGNER
        .checkpoint(&chain, now_rfc3339())
        .expect("checkpoint");
    (records, cp)
}

fn bytes(records: &[AuditRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend(serde_json::to_vec(r).expect("json"));
        out.push(b'\n');
    }
    out
}

fn verify(log: &[u8], cp: &bulwark_core::audit::Checkpoint, with_key: bool) -> VerifyReport {
    verify_bytes(
        log,
        "audit.jsonl",
        VerifyOptions {
            keys: if with_key { vec![&*KEY] } else { vec![] },
            public_key: Some(SIGNER.public()),
            checkpoints: vec![cp.clone()],
            start: None,
        },
    )
}

fn failure(r: &VerifyReport) -> (FailureKind, u64) {
    let f = r
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("not detected: {r:?}"));
    (f.kind, f.seq.unwrap_or(0))
}

fn details() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("\\PC{0,12}", 2..30)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn intact_logs_verify(d in details()) {
        let (records, cp) = build(&d);
        let r = verify(&bytes(&records), &cp, true);
        prop_assert!(r.ok, "{:?}", r);
        prop_assert_eq!(r.records as usize, records.len());
        prop_assert_eq!(r.checkpoints_checked, 1);
        // Without the HMAC key, the public key alone still verifies links and the checkpoint.
        let r = verify(&bytes(&records), &cp, false);
        prop_assert!(r.ok && !r.macs_checked, "{:?}", r);
    }

    #[test]
    fn modification_is_named(d in details(), i in any::<prop::sample::Index>(), field in 0..5usize) {
        let (mut records, cp) = build(&d);
        let i = i.index(records.len());
        let original = records[i].clone();
        let r = &mut records[i];
        match field {
            0 => r.actor.push('x'),
            1 => r.details = serde_json::json!({"forged": true}),
            2 => r.outcome = "allow-forged".into(),
            3 => r.timestamp = "2000-01-01T00:00:00Z".into(),
            _ => r.event_type = EventType::Custom,
        }
        prop_assume!(records[i] != original, "the change was a no-op (already `custom`)");
        let rep = verify(&bytes(&records), &cp, true);
        prop_assert_eq!(failure(&rep), (FailureKind::Modified, i as u64 + 1), "{:?}", rep);
        // The public key alone detects it too, at the checkpoint.
        let rep = verify(&bytes(&records), &cp, false);
        prop_assert_eq!(failure(&rep).0, FailureKind::CheckpointMismatch, "{:?}", rep);
    }

    #[test]
    fn deletion_is_named(d in details(), i in any::<prop::sample::Index>()) {
        let (mut records, cp) = build(&d);
        let i = i.index(records.len());
        let last = i == records.len() - 1;
        records.remove(i);
        let rep = verify(&bytes(&records), &cp, true);
        let want = if last { FailureKind::Truncated } else { FailureKind::Deleted };
        prop_assert_eq!(failure(&rep), (want, i as u64 + 1), "{:?}", rep);
    }

    #[test]
    fn insertion_is_named(d in details(), at in any::<prop::sample::Index>(), from in any::<prop::sample::Index>(), forge in any::<bool>()) {
        let (mut records, cp) = build(&d);
        let at = at.index(records.len() + 1);
        let mut extra = records[from.index(records.len())].clone();
        if forge {
            extra.resource = "https://attacker.example/".into();
        }
        records.insert(at, extra);
        let rep = verify(&bytes(&records), &cp, true);
        let (kind, seq) = failure(&rep);
        prop_assert_eq!(kind, FailureKind::Inserted, "{:?}", rep);
        // A copy inserted right after its original reads as the original, then a duplicate.
        prop_assert!(seq == at as u64 + 1 || seq == at as u64 + 2, "{:?}", rep);
    }

    #[test]
    fn reordering_is_named(d in details(), a in any::<prop::sample::Index>(), b in any::<prop::sample::Index>()) {
        let (mut records, cp) = build(&d);
        let (a, b) = (a.index(records.len()), b.index(records.len()));
        prop_assume!(a != b);
        let (lo, hi) = (a.min(b), a.max(b));
        records.swap(lo, hi);
        let rep = verify(&bytes(&records), &cp, true);
        let (kind, seq) = failure(&rep);
        prop_assert_eq!(kind, FailureKind::Reordered, "{:?}", rep);
        prop_assert_eq!(seq, lo as u64 + 1, "{:?}", rep);
    }

    #[test]
    fn truncation_and_torn_tails(d in details(), keep in any::<prop::sample::Index>(), cut in 1..40usize) {
        let (records, cp) = build(&d);
        let keep = keep.index(records.len());
        let rep = verify(&bytes(&records[..keep]), &cp, true);
        prop_assert_eq!(failure(&rep), (FailureKind::Truncated, keep as u64 + 1), "{:?}", rep);
        // A half-written last line that no checkpoint covers is a torn tail, not tampering.
        let mut chain = Chain::genesis();
        let mut log = Vec::new();
        for (i, text) in d.iter().enumerate() {
            let r = chain.seal(event(i, text), now_rfc3339(), &KEY).expect("seal");
            log.extend(serde_json::to_vec(&r).expect("json"));
            log.push(b'\n');
        }
        let mid = SIGNER.checkpoint(&chain, now_rfc3339()).expect("checkpoint");
        let next = chain.seal(event(99, "last"), now_rfc3339(), &KEY).expect("seal");
        let line = serde_json::to_vec(&next).expect("json");
        log.extend(&line[..line.len().saturating_sub(cut).max(1)]);
        let rep = verify(&log, &mid, true);
        prop_assert_eq!(failure(&rep), (FailureKind::TornTail, d.len() as u64 + 1), "{:?}", rep);
    }
}

#[test]
fn forged_checkpoints_and_unknown_keys() {
    let d: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
    let (records, mut cp) = build(&d);
    cp.seq = 3;
    let rep = verify(&bytes(&records), &cp, true);
    assert_eq!(failure(&rep).0, FailureKind::BadSignature, "{rep:?}");
    let (records, cp) = build(&d);
    let other = AuditKey::generate().expect("key");
    let rep = verify_bytes(
        &bytes(&records),
        "a",
        VerifyOptions {
            keys: vec![&other],
            public_key: Some(SIGNER.public()),
            checkpoints: vec![cp],
            start: None,
        },
    );
    assert_eq!(failure(&rep), (FailureKind::UnknownKey, 1), "{rep:?}");
    let rep = verify(b"{not json}\n", &build(&d).1, true);
    assert_eq!(failure(&rep).0, FailureKind::Malformed);
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        "\\PC{0,10}|[\\x00-\\x1f\"\\\\\u{7f}\u{2028}é😀]{0,6}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("\\PC{0,6}|[a-z\u{80}-\u{10ffff}]{1,3}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn canonical_form_is_rfc8785(
        actor in "\\PC{0,16}|[\\x00-\\x1f\"\\\\]{0,4}",
        resource in "\\PC{0,30}",
        seq in 1..=bulwark_core::audit::MAX_SEQ,
        details in json_value(),
    ) {
        let mut chain = Chain::genesis();
        let mut r = chain
            .seal(
                AuditEvent {
                    event_type: EventType::Auth,
                    actor,
                    action: "a\u{1}b".into(),
                    resource,
                    outcome: "ok".into(),
                    details,
                },
                now_rfc3339(),
                &KEY,
            )
            .expect("seal");
        r.seq = seq;
        let mut whole = serde_json::to_value(&r).expect("value");
        whole.as_object_mut().expect("object").remove("hash");
        let reference = serde_jcs::to_vec(&whole).expect("jcs");
        let ours = bulwark_core::audit::canonical_unsigned(&r).expect("canonical");
        prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&reference));
    }
}
