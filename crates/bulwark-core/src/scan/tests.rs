//! The content guard's unit tests: rules, windows, overlaps, streams.

use super::*;

/// The content detectors (secrets and PII) these tests are about.
fn scan(text: &str) -> Vec<Finding> {
    Scanner::with_defaults()
        .expect("scanner")
        .scan_with(text.as_bytes(), Detectors::CONTENT)
}

fn rules_of(text: &str) -> Vec<String> {
    scan(text).into_iter().map(|f| f.rule).collect()
}

#[test]
fn every_rule_compiles_and_there_are_enough() {
    let s = Scanner::with_defaults().expect("scanner");
    s.precompile().expect("every rule compiles");
    assert!(s.secret_rule_count() >= 150, "{}", s.secret_rule_count());
    let ids = rule_ids();
    let mut dedup = ids.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(ids.len(), dedup.len(), "rule ids must be unique");
}

/// The generic rule's groups, found over each match by its cheaper `groups` regex, are the
/// groups its own regex finds: on assignments built from the pieces that make the choice hard
/// (names with several secret words, operators that start with a name character, quotes, XML).
#[test]
fn generic_groups_agree() {
    use proptest::prelude::*;
    let spec = rules::secret_rules()
        .into_iter()
        .find(|r| r.id == rules::GENERIC_RULE)
        .expect("the generic rule");
    let whole = Matcher::compile(&spec.regex, None).expect("regex");
    let narrow = Matcher::compile(&spec.regex, spec.groups.as_deref()).expect("groups");
    assert!(narrow.groups.is_some());
    let names = ["name", "s", "x", "q", "op", "nq", "cq"];
    let spans = |m: &Matcher, hay: &[u8]| -> Vec<Vec<Option<(usize, usize)>>> {
        let index = |r: &Regex, n: &str| r.capture_names().position(|c| c == Some(n));
        match &m.groups {
            None => m
                .regex
                .captures_iter(hay)
                .map(|c| {
                    let mut v = vec![c.get(0).map(|g| (g.start(), g.end()))];
                    v.extend(names.iter().map(|n| {
                        index(&m.regex, n)
                            .and_then(|i| c.get(i))
                            .map(|g| (g.start(), g.end()))
                    }));
                    v
                })
                .collect(),
            Some(g) => m
                .regex
                .find_iter(hay)
                .map(|f| {
                    let c = g.captures(&hay[f.range()]).expect("groups over a match");
                    let at =
                        |x: regex::bytes::Match<'_>| (f.start() + x.start(), f.start() + x.end());
                    let mut v = vec![c.get(0).map(at)];
                    v.extend(
                        names
                            .iter()
                            .map(|n| index(g, n).and_then(|i| c.get(i)).map(at)),
                    );
                    v
                })
                .collect(),
        }
    };
    let pieces = [
        "password",
        "PASS",
        "token",
        "Secret",
        "api_key",
        "api-key",
        "apikey",
        "key",
        "db_",
        "my.",
        ".",
        "-",
        "_",
        "x",
        "9",
        " ",
        "\t",
        "=",
        ":",
        ":=",
        "::=",
        ".=",
        "+=",
        "||=",
        "?=",
        "=>",
        "\"",
        "'",
        "`",
        ",",
        "]",
        "<",
        ">",
        "</",
        "<password>",
        "</password>",
        "string ",
        "const ",
        "new String(\"",
        "String('",
        "\n",
        "aB3dE5gH",
        "Zq9~x/+",
        "{",
        "$",
        "\\",
        "(",
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(4000));
    runner
        .run(
            &proptest::collection::vec(0..pieces.len(), 1..24),
            |picks| {
                let text: String = picks.iter().map(|&i| pieces[i]).collect();
                prop_assert_eq!(
                    spans(&whole, text.as_bytes()),
                    spans(&narrow, text.as_bytes()),
                    "{:?}",
                    text
                );
                Ok(())
            },
        )
        .expect("the same groups");
    // And on realistic lines.
    for line in [
        "db_password = \"h0pk1ns~21sQ\"",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9x1Qy",
        "  \"client_secret\": \"9f8e7d6c5b4a39281706\",",
        "var token string = \"tok_4f9a8b7c6d5e\"",
        "<apiToken>\n  4f9a8b7c6d5e3f2a\n</apiToken>",
        "config.token.=abcdef123456; other_pass := 'xyzzy-42-lives'",
    ] {
        assert_eq!(
            spans(&whole, line.as_bytes()),
            spans(&narrow, line.as_bytes()),
            "{line}"
        );
        assert!(!spans(&whole, line.as_bytes()).is_empty(), "{line}");
    }
}

#[test]
fn fewer_anchors_keeps_every_wake() {
    let mut anchors: Vec<(String, Vec<u16>)> = [
        ("pass", vec![GATE]),
        ("password", vec![1]),
        ("duffel_live_", vec![2]),
        ("duffel_test_", vec![2, 3]),
        ("PRIVATE KEY", vec![4]),
        ("KEY", vec![GATE]),
        ("ghp_", vec![5]),
        ("gho_", vec![6]),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_string(), r))
    .collect();
    // Rule 4 is searched in lines around its hit, not in the hit's line.
    fewer_anchors(&mut anchors, |rs| !rs.contains(&4));
    anchors.sort();
    let want: Vec<(String, Vec<u16>)> = [
        ("KEY", vec![GATE]),
        ("PRIVATE KEY", vec![4]),
        ("duffel_", vec![2, 3]),
        ("gho_", vec![6]),
        ("ghp_", vec![5]),
        ("pass", vec![GATE, 1]),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_string(), r))
    .collect();
    assert_eq!(anchors, want);
}

/// Whatever anchors were dropped or shortened, each form of each rule's anchors still holds a
/// prefilter anchor that wakes the rule.
#[test]
fn every_anchor_still_wakes_its_rule() {
    let specs = rules::secret_rules();
    let anchors = prefilter_anchors(&specs, true);
    let long = anchors.iter().filter(|a| a.0.len() >= TEDDY_MASK).count();
    // Three automata of long anchors: one more would be one more pass over every text.
    assert!(long <= 3 * PATTERNS_PER_AUTOMATON, "{long} long anchors");
    let wakes = |form: &str, ri: u16| {
        anchors
            .iter()
            .any(|(a, rs)| form.contains(a.as_str()) && rs.contains(&ri))
    };
    for (ri, spec) in specs.iter().enumerate() {
        for a in &spec.anchors {
            for form in anchor_forms(a, spec.anchors_ci) {
                assert!(wakes(&form, ri as u16), "{} by {form:?}", spec.id);
            }
        }
    }
    for w in rules::WAKE_WORDS {
        for form in anchor_forms(w, true) {
            assert!(wakes(&form, GATE), "the gate by {form:?}");
        }
    }
}

#[test]
fn finds_prefixed_tokens() {
    let gh = github_token_with_checksum("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ");
    assert_eq!(rules_of(&format!("token: {gh}")), vec!["github-pat"]);
    assert_eq!(
        rules_of("export AWS_ACCESS_KEY_ID=AKIALALEMEL33243OLIB"),
        vec!["aws-access-key-id"]
    );
    assert!(
        rules_of("xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD")
            .contains(&"slack-bot-token".to_string())
    );
}

#[test]
fn github_token_with_a_bad_checksum_is_not_a_github_token() {
    let gh = github_token_with_checksum("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ");
    let bad = format!("{}AAAAAA", &gh[..34]);
    assert!(!rules_of(&format!("see {bad} here")).contains(&"github-pat".to_string()));
}

#[test]
fn examples_and_placeholders_are_ignored() {
    assert!(scan("aws_access_key: AKIAIOSFODNN7EXAMPLE").is_empty());
    assert!(scan("password = \"${DB_PASSWORD}\"").is_empty());
    assert!(scan("password = os.environ['DB_PASSWORD']").is_empty());
    assert!(scan("token = ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").is_empty());
}

#[test]
fn generic_assignment_with_entropy() {
    let f = scan("db_password = \"h0pk1ns~21sZq\"");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "generic-secret");
    assert!(!f[0].preview.contains("pk1ns"));
    // A value a specific rule finds is that rule's alone, whichever automaton woke which
    // (a prefix rule, a keyword rule through the gate); the other assignments stay generic.
    let text = "slack_token = \"xoxb-384920175638-492817365029-k7Qp2vZr9XwLm4Ts8NbYc1Hd\"\n\
                heroku_api_key = \"12345678-90ab-cdef-1234-567890abcdef\"\n\
                db_password = \"h0pk1ns~21sZq\"";
    let rules: Vec<String> = scan(text).into_iter().map(|f| f.rule).collect();
    assert_eq!(
        rules,
        ["slack-bot-token", "heroku-api-key", "generic-secret"]
    );
}

#[test]
fn private_keys_but_not_public_keys() {
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAn6/O8li+SX4m98LLYt/PKSzEmQ++ZBD7Loh9P13f4yQ92EF3\nyxR5MsXFu9PRsrYQA7/4UTPHiC4y2sAVCBg4C2yyBpUEtMQjyCESi6Y=\n-----END RSA PRIVATE KEY-----";
    let f = scan(key);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].sort_span().start, f[0].sort_span().end),
        (0, key.len())
    );
    let public = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAn6/O8li+SX4m98LLYt/PKSzEmQ\n-----END PUBLIC KEY-----";
    assert!(scan(public).is_empty());
}

#[test]
fn kubernetes_secret_manifests() {
    let yaml = |kind: &str, entry: &str| {
        format!(
            "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: app\ntype: Opaque\ndata:\n{entry}\n"
        )
    };
    // Any data key, quoted or not, or a block scalar; `kind` before or after `data`.
    let dockercfg = "  .dockercfg: |\n    eyJhdXRocyI6eyJodHRwczovL2V4YW1wbGUvdjEvIjp7ImF1dGgiOiJvcGVuc2VzYW1lIn19fQo=";
    for entry in [
        "  extra: YWRtaW46cGFzc3dvcmQ=",
        "  config.json: 'YWRtaW46cGFzc3dvcmQ='",
        "  # base64\n  key: bXlwYXNzd29yZA==",
        "  username: YWRtaW4=\n  password: UyFCXCpkJHpEc2I9",
        dockercfg,
    ] {
        assert_eq!(
            rules_of(&yaml("Secret", entry)),
            vec!["kubernetes-secret-yaml"],
            "{entry}"
        );
    }
    let after = "apiVersion: v1\ndata:\n  extra: YWRtaW46cGFzc3dvcmQ=\nkind: \"secret\"\n";
    assert_eq!(rules_of(after), vec!["kubernetes-secret-yaml"]);
    // Not a Secret, too short to be a credential, a template.
    assert!(rules_of(&yaml("SopsSecret", "  extra: YWRtaW46cGFzc3dvcmQ=")).is_empty());
    assert!(rules_of(&yaml("ExternalSecret", dockercfg)).is_empty());
    assert!(rules_of(&yaml("Secret", "  extra: YmFyCg==")).is_empty());
    assert!(rules_of(&yaml("Secret", "  htpasswd: {{ htpasswd }}")).is_empty());
}

#[test]
fn jwt_must_have_a_json_header() {
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    assert_eq!(rules_of(&format!("session cookie {jwt}"))[0], "jwt");
}

#[test]
fn credentials_in_urls() {
    assert_eq!(
        rules_of("DATABASE_URL=postgres://app:Xk9#mQ2vLp@db.internal:5432/app"),
        vec!["url-credentials"]
    );
    assert!(scan("see postgres://user:password@localhost/db").is_empty());
}

#[test]
fn verdicts_follow_thresholds() {
    let s = Scanner::with_defaults().expect("scanner");
    assert_eq!(s.verdict(&[]), Verdict::Allow);
    let f = s.scan(b"key AKIALALEMEL33243OLIB");
    assert_eq!(s.verdict(&f), Verdict::Block);
}

#[test]
fn reader_scan_matches_whole_scan_across_chunk_boundaries() {
    let s = Scanner::with_defaults().expect("scanner");
    let mut text = String::new();
    for i in 0..4000 {
        text.push_str(&format!("line {i} filler text here\n"));
        if i % 997 == 0 {
            text.push_str("aws AKIALALEMEL33243OLIB and bob@example.org\n");
        }
    }
    let mut whole = s.scan(text.as_bytes());
    crate::finding::locate(&mut whole, text.as_bytes());
    let mut streamed = Vec::new();
    s.scan_reader(
        text.as_bytes(),
        Detectors::ALL,
        &injection::Source::other(),
        1,
        |f, _, _| streamed.push(f),
    )
    .expect("read");
    assert_eq!(streamed, whole);
}

#[test]
fn a_redaction_covers_the_whole_secret() {
    let s = Scanner::with_defaults().expect("scanner");
    let spans = |text: &str| -> Vec<(String, String)> {
        s.scan(text.as_bytes())
            .into_iter()
            .filter(|f| f.kind == FindingKind::Secret)
            .map(|f| {
                let s = f.sort_span();
                (f.rule, text[s.range()].to_string())
            })
            .collect()
    };
    // A quoted value runs to its closing quote, spaces included.
    let r = spans(r#"password: "Tr0ub4dor&3x yz#Q""#);
    assert_eq!(
        r,
        [(
            "generic-secret".to_string(),
            "Tr0ub4dor&3x yz#Q".to_string()
        )]
    );
    // A secret key written right after its key id is found too.
    for sep in [":", " ", ","] {
        let text = format!("AKIALALEMEL33243OLIB{sep}wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let r = spans(&text);
        assert_eq!(r.len(), 2, "{sep:?}: {r:?}");
        assert_eq!(r[1].0, "aws-secret-access-key");
        assert_eq!(r[1].1, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    }
    // Words after a key id are not a secret key.
    assert_eq!(
        spans("id AKIALALEMEL33243OLIB then plain words follow here").len(),
        1
    );
}

#[test]
fn disabled_guard_finds_nothing() {
    let cfg = ScanConfig {
        enabled: false,
        ..ScanConfig::default()
    };
    let s = Scanner::new(&cfg).expect("scanner");
    assert!(s.scan(b"AKIALALEMEL33243OLIB bob@example.org").is_empty());
    let mut cfg = ScanConfig::default();
    cfg.pii.email = false;
    cfg.secrets.disabled_rules = vec!["aws-access-key-id".into()];
    let s = Scanner::new(&cfg).expect("scanner");
    assert!(s.scan(b"AKIALALEMEL33243OLIB bob@example.org").is_empty());
}

/// Runs of plain prose are searched with the plain anchors only: a secret near, across or
/// after a block edge, with its name far up a plain line, is found as it is on its own.
#[test]
fn secrets_in_plain_prose_are_found_at_every_offset_around_a_block_edge() {
    let s = Scanner::with_defaults().expect("scanner");
    let prose = "the agent reads the page, then writes a short note for the team. "
        .repeat(3 * PLAIN_BLOCK / 64);
    assert!(prose.bytes().all(is_plain));
    let gh = github_token_with_checksum("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ");
    let samples = [
        format!("token: {gh}"),
        "export AWS_ACCESS_KEY_ID=AKIALALEMEL33243OLIB".to_string(),
        "xoxb-781236542736-2364535789652-GkwFDQoHqzXDVsC6GzqYUypD".to_string(),
        "db_password = \"h0pk1ns~21sZq\"".to_string(),
        format!("the secret api key of the staging cluster, as it was set, is {gh}"),
        // Woken only by `token`, a plain anchor far from any other byte.
        "the etsy token used by the shop sync job of the storefront team, kept here for now\n\
         etsy = \"k3Jd8sLq0PzX7mN2vB5cR1tY\""
            .to_string(),
    ];
    let shifted = |f: Vec<Finding>, by: usize| -> Vec<(String, usize, usize)> {
        f.into_iter()
            .filter(|f| f.kind == FindingKind::Secret)
            .map(|f| {
                let s = f.sort_span();
                (f.rule, s.start - by, s.end - by)
            })
            .collect()
    };
    for sample in &samples {
        let alone = shifted(s.scan(format!("\n{sample}\n").as_bytes()), 0);
        assert!(!alone.is_empty(), "{sample}");
        let edges = [1, PLAIN_BLOCK, 2 * PLAIN_BLOCK, 2 * PLAIN_BLOCK + 100];
        for at in edges
            .iter()
            .flat_map(|&e| e.saturating_sub(sample.len() + 2)..e + 2)
        {
            let text = format!(
                "{}\n{sample}\n{}",
                &prose[..at.max(1) - 1],
                &prose[..PLAIN_BLOCK + 7]
            );
            let by = at.max(1) - 1;
            assert_eq!(
                shifted(s.scan(text.as_bytes()), by),
                alone,
                "{sample} at {at}"
            );
        }
    }
}

#[test]
fn plain_spans_cover_every_non_plain_byte_with_its_reach() {
    let mut text = vec![b'a'; 5 * PLAIN_BLOCK];
    assert!(not_plain_spans(&text, 40).is_empty());
    text[PLAIN_BLOCK + 5] = b'A';
    text[PLAIN_BLOCK + 9] = b'_';
    text[4 * PLAIN_BLOCK] = b'7';
    assert_eq!(
        not_plain_spans(&text, 40),
        vec![
            PLAIN_BLOCK - 39..2 * PLAIN_BLOCK + 39,
            4 * PLAIN_BLOCK - 39..5 * PLAIN_BLOCK
        ]
    );
    text[2 * PLAIN_BLOCK + 1] = b'-';
    text[3 * PLAIN_BLOCK] = b'\t';
    assert_eq!(
        not_plain_spans(&text, 40),
        vec![PLAIN_BLOCK - 39..5 * PLAIN_BLOCK]
    );
    assert!(not_plain_spans(b"", 40).is_empty());
    assert_eq!(not_plain_spans(b"Short", 40), vec![0..5]);
}

#[test]
fn span_index_answers_like_a_scan_of_every_span() {
    let spans = [(0, 5), (3, 9), (3, 4), (10, 12), (20, 30), (22, 25)];
    let idx = SpanIndex::new(spans.iter().copied());
    for start in 0..32 {
        for end in start + 1..33 {
            let overlaps = spans.iter().any(|&(s, e)| s < end && start < e);
            let contains = spans
                .iter()
                .any(|&(s, e)| s <= start && end <= e && (s, e) != (start, end));
            assert_eq!(idx.overlaps(start, end), overlaps, "{start}..{end}");
            assert_eq!(
                idx.strictly_contains(start, end),
                contains,
                "{start}..{end}"
            );
        }
    }
}

#[test]
fn detectors_parse() {
    assert_eq!(Detectors::parse("secrets").map(|d| d.pii), Ok(false));
    assert!(Detectors::parse("secrets,bogus").is_err());
    assert!(Detectors::parse("").is_err());
}

#[test]
fn hostile_bytes_do_not_panic() {
    let s = Scanner::with_defaults().expect("scanner");
    let mut junk = vec![0xffu8, 0xfe, b'a', b'k', b'e', b'y', b'=', 0xc3];
    junk.extend(std::iter::repeat_n(b'A', 10_000));
    junk.extend_from_slice(b"\0password=\xe2\x82");
    let _ = s.scan(&junk);
    let _ = s.scan(b"");
    let _ = s.scan("κλειδί=πολύ-μυστικό-λέξη-1234 ✓".as_bytes());
}

#[test]
fn telegram_bot_tokens_are_found_by_their_format() {
    // PicoClaw's config.json: "telegram" is a line above the token, not in its name.
    let json = "{\n  \"telegram\": {\n    \"token\": \"7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0\"\n  }\n}\n";
    assert_eq!(rules_of(json), ["telegram-bot-token"]);
    // Too short, or no bot id: not a token.
    assert!(rules_of("id 12345678:AAnotreallyatokenbecauseitistooshort").is_empty());
    assert!(rules_of("x:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0").is_empty());
}

/// The rules' patterns consume the character that separates a token from its neighbours: the next
/// token may begin on it. Found by the gateway's round-trip property (a key sent twice, one space
/// apart, went out once in clear).
#[test]
fn tokens_one_separator_apart_are_each_found() {
    let key = "AKIAQYLPMN5HFIQR7XYZ";
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    for text in [
        format!("{key} {key}"),
        format!("{key},{key}"),
        format!("{key}é{key}"),
        format!("{jwt} {jwt}"),
    ] {
        let spans: Vec<_> = scan(&text)
            .iter()
            .filter(|f| f.kind == FindingKind::Secret)
            .map(|f| f.sort_span().range())
            .collect();
        assert_eq!(spans.len(), 2, "{text}: {spans:?}");
        assert_eq!(spans[1].end, text.len(), "{text}");
    }
}
