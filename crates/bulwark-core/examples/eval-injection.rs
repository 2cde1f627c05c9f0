//! Evaluate injection detection per subset of a labelled corpus (deduplicated; training texts
//! excluded) and print a markdown table.
//!
//! ```text
//! cargo run --release -p bulwark-core --example eval-injection -- ../shared/corpora/injection/dev.jsonl
//! ```
//! BIPIA contexts are scanned as untrusted `document` text, every other subset as `user` prompts.

use std::path::PathBuf;

use bulwark_core::config::InjectionConfig;
use bulwark_core::scan::injection::{InjectionDetector, corpus, model::Model};
use bulwark_core::{Severity, Verdict};

fn main() -> Result<(), String> {
    let corpus_path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var("BULWARK_CORPORA").unwrap_or_else(|_| "../shared/corpora".into()),
            )
            .join("injection/dev.jsonl")
        });
    let rows = corpus::load(&corpus_path)?;
    let (_, eval) = corpus::split(rows);
    // BULWARK_EVAL_NO_MODEL=1 measures the patterns alone.
    let cfg = InjectionConfig {
        model: std::env::var_os("BULWARK_EVAL_NO_MODEL").is_none(),
        model_threshold: std::env::var("BULWARK_EVAL_MODEL_THRESHOLD")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(InjectionConfig::default().model_threshold),
        ..InjectionConfig::default()
    };
    // BULWARK_EVAL_MODEL=FILE evaluates other weights than the compiled-in ones.
    let detector = match std::env::var_os("BULWARK_EVAL_MODEL") {
        Some(path) => {
            let bytes = std::fs::read(&path).map_err(|e| format!("{path:?}: {e}"))?;
            InjectionDetector::with_model(&cfg, Model::from_bytes(&bytes)?)
        }
        None => InjectionDetector::new(&cfg),
    }
    .map_err(|e| e.to_string())?;
    if std::env::var_os("BULWARK_EVAL_VERBOSE").is_some() {
        // Every wrong call, with its score, model score and categories.
        for r in &eval {
            let src = r.read_from(&corpus::source_for_subset);
            let rep = detector.analyze(r.text.as_bytes(), &src, Severity::Low, Severity::High);
            if std::env::var_os("BULWARK_EVAL_DUMP").is_some() {
                println!(
                    "DUMP\t{}\t{}\t{:.4}\t{:.4}",
                    r.subset, r.attack as u8, rep.score, rep.model_score
                );
            } else if (rep.verdict != Verdict::Allow) != r.attack {
                let cats: Vec<&str> = rep.categories.iter().map(|c| c.as_str()).collect();
                // Head and tail: an injected context carries its attack at the end.
                let chars = r.text.chars().count();
                let head: String = if chars > 320 {
                    let tail: String = r.text.chars().skip(chars - 160).collect();
                    format!("{} … {tail}", r.text.chars().take(160).collect::<String>())
                } else {
                    r.text.clone()
                };
                println!(
                    "{} {} score={:.2} model={:.2} {:?} {:?}",
                    if r.attack { "MISS" } else { "FP" },
                    r.subset,
                    rep.score,
                    rep.model_score,
                    cats,
                    head.replace('\n', " ")
                );
            }
        }
    }
    let scores = corpus::evaluate(&detector, &eval, &corpus::source_for_subset);
    print!("{}", corpus::table(&scores));
    Ok(())
}
