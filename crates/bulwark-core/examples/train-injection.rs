//! Train the injection model from the `*_train` subsets of a labelled corpus and write the weights.
//!
//! ```text
//! cargo run --release -p bulwark-core --example train-injection -- \
//!     ../shared/corpora/injection/dev.jsonl crates/bulwark-core/models/injection.bin
//! ```
//! Deterministic: the same corpus gives the same bytes.

use std::path::PathBuf;

use bulwark_core::config::InjectionConfig;
use bulwark_core::scan::injection::{InjectionDetector, corpus, model::TrainConfig};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let corpus_path = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(
            std::env::var("BULWARK_CORPORA").unwrap_or_else(|_| "../shared/corpora".into()),
        )
        .join("injection/dev.jsonl")
    });
    let out = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("crates/bulwark-core/models/injection.bin"));
    let rows = corpus::load(&corpus_path)?;
    let (train, _) = corpus::split(rows);
    let detector = InjectionDetector::new(&InjectionConfig {
        model: false,
        ..InjectionConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let attacks = train.iter().filter(|r| r.attack).count();
    eprintln!(
        "training on {} texts ({attacks} attacks, {} benign) from the *_train subsets of {}",
        train.len(),
        train.len() - attacks,
        corpus_path.display()
    );
    let model = corpus::train(&detector, &train, &TrainConfig::default());
    let bytes = model.to_bytes();
    std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}
