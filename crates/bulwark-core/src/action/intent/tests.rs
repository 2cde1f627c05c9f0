//! Intents on strict, hostile and canonical input: fields, bounds, numbers, digests.

use super::*;

fn parse(s: &str) -> Result<ExecutionIntent, IntentError> {
    ExecutionIntent::from_json(s.as_bytes())
}

#[test]
fn a_realistic_intent_parses_and_its_digest_ignores_encoding() {
    let a = parse(
        r#"{"tool":"kubectl","action":"scale","target":{"kind":"deployment","name":"api",
        "namespace":"payments-prod","labels":{"team":"pay"}},"args":{"replicas":0},
        "requested_by":"sre-copilot","source":{"alert_id":"A-1"},"reason":"alert"}"#,
    )
    .unwrap();
    let b = parse(
        r#"{"requested_by":"sre-copilot","reason":"alert","source":{"alert_id":"A-1"},
        "args":{"replicas":0},"tool":"kubectl","action":"scale","target":{"labels":{"team":"pay"},
        "namespace":"payments-prod","name":"api","kind":"deployment"}}"#,
    )
    .unwrap();
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
    let mut c = a.clone();
    c.args.0.insert("replicas".into(), 1.into());
    assert_ne!(a.digest().unwrap(), c.digest().unwrap());
    assert_eq!(a.summary(), "kubectl scale deployment/api in payments-prod");
}

#[test]
fn hostile_intents_are_refused_naming_the_field() {
    let cases = [
        (
            r#"{"tool":"x","action":"get","requested_by":"a","extra":1}"#,
            "extra",
        ),
        (
            r#"{"tool":"x","action":"get","requested_by":"a","target":{"nmespace":"p"}}"#,
            "nmespace",
        ),
        (
            r#"{"tool":"x","action":"get","requested_by":"a","args":{"c":1,"c":2}}"#,
            "duplicate key",
        ),
        (r#"{"tool":"","action":"get","requested_by":"a"}"#, "tool"),
        (r#"{"tool":"x","action":"get"}"#, "requested_by"),
        (
            r#"{"tool":"x","action":"get","requested_by":"a","args":[1]}"#,
            "object",
        ),
        (
            r#"{"tool":"x","action":"get","requested_by":"a"} {}"#,
            "trailing",
        ),
        (
            r#"{"tool":"x\u0000","action":"get","requested_by":"a"}"#,
            "control",
        ),
    ];
    for (doc, needle) in cases {
        let e = parse(doc).expect_err(doc).to_string();
        assert!(e.contains(needle), "{doc}: {e}");
    }
    let deep = format!(
        r#"{{"tool":"x","action":"get","requested_by":"a","args":{{"a":{}1{}}}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert!(parse(&deep).unwrap_err().to_string().contains("deeper"));
    let big = format!(
        r#"{{"tool":"x","action":"get","requested_by":"a","args":{{"a":"{}"}}}}"#,
        "x".repeat(MAX_INTENT_BYTES)
    );
    assert!(parse(&big).unwrap_err().to_string().contains("bytes"));
    let long = format!(
        r#"{{"tool":"x","action":"get","requested_by":"a","args":{{"a":"{}"}}}}"#,
        "x".repeat(MAX_ARG_STRING_BYTES + 1)
    );
    assert!(parse(&long).unwrap_err().to_string().contains("args.a"));
}

fn with_args(args: &str) -> String {
    format!(r#"{{"tool":"chat","action":"delete","requested_by":"a","args":{args}}}"#)
}

#[test]
fn integers_past_two_to_the_53_are_refused_naming_the_field() {
    // The attack: approve one message id, consume with another that rounds to the same double.
    let e = parse(&with_args(r#"{"message_id":1152921504606846977}"#)).unwrap_err();
    assert_eq!(e.field, "args.message_id");
    assert!(e.message.contains("send it as a string"), "{e}");
    assert!(e.message.contains("1152921504606846977"), "{e}");
    for (args, field) in [
        (r#"{"n":9007199254740992}"#, "args.n"),
        (r#"{"n":-9007199254740992}"#, "args.n"),
        (r#"{"n":18446744073709551616}"#, "args.n"),
        (r#"{"n":-18446744073709551616}"#, "args.n"),
        (r#"{"a":{"b":[1,9007199254740993]}}"#, "args.a.b[1]"),
        (r#"{"n":1e300}"#, "args.n"),
    ] {
        let e = parse(&with_args(args)).expect_err(args);
        assert_eq!(e.field, field, "{args}: {e}");
        assert!(e.message.contains("string"), "{args}: {e}");
    }
    // The edges of the exact range are accepted, and keep distinct digests.
    let max = parse(&with_args(r#"{"n":9007199254740991}"#)).unwrap();
    let below = parse(&with_args(r#"{"n":9007199254740990}"#)).unwrap();
    assert_ne!(max.digest().unwrap(), below.digest().unwrap());
    parse(&with_args(r#"{"n":-9007199254740991}"#)).unwrap();
}

#[test]
fn numbers_must_say_exactly_what_the_digest_keeps() {
    // Whole numbers in disguise would share the digest of the plain integer.
    for (args, whole) in [
        (r#"{"n":1.0}"#, "1"),
        (r#"{"n":1e3}"#, "1000"),
        (r#"{"n":-0}"#, "0"),
        (r#"{"n":-0.0}"#, "0"),
        (r#"{"n":25E-1}"#, ""),
    ] {
        match parse(&with_args(args)) {
            Err(e) => {
                assert_eq!(e.field, "args.n", "{args}: {e}");
                assert!(
                    e.message.contains(&format!("integer {whole}")),
                    "{args}: {e}"
                );
            }
            Ok(_) => assert!(whole.is_empty(), "{args} accepted"),
        }
    }
    // A fraction with more digits than its double keeps would be shown rounded.
    let e = parse(&with_args(r#"{"ratio":[0.5, 0.10000000000000000001]}"#)).unwrap_err();
    assert_eq!(e.field, "args.ratio[1]");
    assert!(e.message.contains("as 0.1"), "{e}");
    assert!(e.message.contains("string"), "{e}");
    let e = parse(&with_args(r#"{"x":{"y\u0041":1.00000000000000001e-7}}"#)).unwrap_err();
    assert_eq!(e.field, "args.x.yA");
    // Fractions written with the digits their double keeps pass, however they are spelt.
    for args in [
        r#"{"n":0.1}"#,
        r#"{"n":2.50}"#,
        r#"{"n":-1.5e-7}"#,
        r#"{"n":1.25E+1}"#,
        r#"{"n":0.30000000000000004}"#,
        r#"{"n":[1, -2, 3.25, "1152921504606846977", true, null]}"#,
    ] {
        parse(&with_args(args)).expect(args);
    }
    let a = parse(&with_args(r#"{"n":2.5}"#)).unwrap();
    let b = parse(&with_args(r#"{"n":25e-1}"#)).unwrap();
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
    // What is accepted survives its canonical form (approvals store and re-read it).
    let i = parse(&with_args(
        r#"{"n":[9007199254740991,-9007199254740991,0,1.5e-7,123456.789,-0.30000000000000004]}"#,
    ))
    .unwrap();
    let again = ExecutionIntent::from_json(&i.canonical().unwrap()).unwrap();
    assert_eq!(again, i);
    assert_eq!(again.digest().unwrap(), i.digest().unwrap());
    // Intents built in code are held to the same rule where the digest is taken.
    let mut i = parse(&with_args("{}")).unwrap();
    i.args.0.insert("n".into(), (1u64 << 60).into());
    assert_eq!(i.check().unwrap_err().field, "args.n");
    assert_eq!(i.digest().unwrap_err().field, "args.n");
    i.args.0.insert("n".into(), serde_json::json!(3.0));
    assert!(i.digest().is_err());
    i.args.0.insert("n".into(), serde_json::json!(3.5));
    i.digest().unwrap();
}

#[test]
fn digests_parse_with_or_without_prefix() {
    let d = "ab".repeat(32);
    assert_eq!(
        IntentDigest::parse(&format!("sha256:{d}"))
            .unwrap()
            .as_str(),
        d
    );
    assert!(IntentDigest::parse("abc").is_err());
    assert!(
        IntentDigest::parse(&d.to_uppercase())
            .unwrap()
            .ct_eq(&IntentDigest(d))
    );
}
