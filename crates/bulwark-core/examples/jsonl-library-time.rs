//! The library's time per record of a JSON Lines file, for comparing `bulwark scan --jsonl` with
//! the library it runs (docs/performance.md):
//!
//! ```text
//! cargo run --release -p bulwark-core --example jsonl-library-time -- records.jsonl
//! ```
//! Each line's `text` is assessed with every detector as text of unknown origin (`other`), as
//! `scan --jsonl` does by default; the best of five passes over the file is reported.

use std::time::Instant;

use bulwark_core::scan::injection::Source;
use bulwark_core::{Detectors, Scanner};

fn main() -> Result<(), String> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: jsonl-library-time FILE.jsonl")?;
    let data = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let texts: Vec<String> = data
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("text")?.as_str().map(str::to_string))
                .ok_or_else(|| format!("{path}: a line without a text field: {l:.60}"))
        })
        .collect::<Result<_, _>>()?;
    let scanner = Scanner::with_defaults().map_err(|e| e.to_string())?;
    let source = Source::other();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        for t in &texts {
            std::hint::black_box(scanner.assess(t.as_bytes(), Detectors::ALL, &source));
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{} records, {} bytes: {:.1} µs per record ({:.1} µs per KiB), best of 5",
        texts.len(),
        bytes,
        best * 1e6 / texts.len() as f64,
        best * 1e6 / (bytes as f64 / 1024.0)
    );
    Ok(())
}
