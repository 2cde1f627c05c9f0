//! Training and evaluation on a labelled corpus of JSON lines `{"text", "label", "subset"}` (label 1
//! = injection or jailbreak), such as the shared `injection/dev.jsonl`.
//!
//! Rules that keep the numbers honest: rows are deduplicated by text; the model is trained only on
//! subsets whose name ends in `_train`; every other subset is evaluated, minus any text that also
//! appears in a training subset.

use std::collections::{BTreeMap, HashSet};

use super::model::{self, Example, Model, TrainConfig};
use super::{InjectionDetector, Source};
use crate::finding::{Severity, Verdict};

/// One labelled text.
#[derive(Debug, Clone)]
pub struct Row {
    /// The text.
    pub text: String,
    /// True for an injection or jailbreak.
    pub attack: bool,
    /// Which subset it belongs to.
    pub subset: String,
    /// Where an agent would read it (`alert`, `email`, `tool_output`, ...), when the corpus says;
    /// otherwise the evaluation picks a source by subset.
    pub source: Option<Source>,
}

impl Row {
    /// The source the row is read from: its own, else what `by_subset` gives for its subset.
    pub fn read_from(&self, by_subset: &dyn Fn(&str) -> Source) -> Source {
        self.source
            .clone()
            .unwrap_or_else(|| by_subset(&self.subset))
    }
}

/// Read a corpus file. Errors name the line.
pub fn load(path: &std::path::Path) -> Result<Vec<Row>, String> {
    let data = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in data.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("{}:{}: not JSON: {e}", path.display(), i + 1))?;
        let text = v.get("text").and_then(|t| t.as_str());
        let label = v.get("label").and_then(|l| l.as_i64());
        let subset = v.get("subset").and_then(|s| s.as_str());
        let (Some(text), Some(label), Some(subset)) = (text, label, subset) else {
            return Err(format!(
                "{}:{}: expected {{\"text\": string, \"label\": 0 or 1, \"subset\": string}}",
                path.display(),
                i + 1
            ));
        };
        let source = match v.get("source") {
            None => None,
            Some(serde_json::Value::String(name)) => Some(
                Source::parse(name)
                    .map_err(|e| format!("{}:{}: \"source\": {e}", path.display(), i + 1))?,
            ),
            Some(_) => {
                return Err(format!(
                    "{}:{}: \"source\" must be a string such as \"email\"",
                    path.display(),
                    i + 1
                ));
            }
        };
        // A row may name its language and split: the subset is then read per language, and the
        // rows read while writing patterns ("split": "tune") are kept apart from those that measure.
        let mut subset = subset.to_string();
        if let Some(lang) = v.get("lang").and_then(|l| l.as_str()) {
            subset = format!("{subset}/{lang}");
        }
        if v.get("split").and_then(|s| s.as_str()) == Some("tune") {
            subset.push_str("/tune");
        }
        rows.push(Row {
            text: text.to_string(),
            attack: label == 1,
            subset,
            source,
        });
    }
    Ok(rows)
}

/// Split into (training rows, evaluation rows), deduplicated, with training texts removed from the
/// evaluation rows.
pub fn split(rows: Vec<Row>) -> (Vec<Row>, Vec<Row>) {
    let mut seen = HashSet::new();
    let mut train = Vec::new();
    for r in rows.iter().filter(|r| r.subset.ends_with("_train")) {
        if seen.insert(r.text.clone()) {
            train.push(r.clone());
        }
    }
    let mut eval_seen = HashSet::new();
    let eval = rows
        .into_iter()
        .filter(|r| !r.subset.ends_with("_train"))
        .filter(|r| !seen.contains(&r.text))
        .filter(|r| eval_seen.insert((r.subset.clone(), r.text.clone())))
        .collect();
    (train, eval)
}

/// Train the model on rows, with the pattern evidence of `detector` (built with the model off).
pub fn train(detector: &InjectionDetector, rows: &[Row], cfg: &TrainConfig) -> Model {
    let examples: Vec<Example> = rows
        .iter()
        .map(|r| {
            let (hashed, categories) = detector.training_example(r.text.as_bytes());
            Example {
                hashed,
                categories,
                attack: r.attack,
            }
        })
        .collect();
    model::train(&examples, cfg)
}

/// Detection counts of one subset.
#[derive(Debug, Clone, Default)]
pub struct SubsetScore {
    /// Subset name.
    pub subset: String,
    /// Attacks in the subset.
    pub attacks: usize,
    /// Benign texts in the subset.
    pub benign: usize,
    /// Attacks flagged (verdict review or block).
    pub true_positives: usize,
    /// Benign texts flagged.
    pub false_positives: usize,
}

impl SubsetScore {
    /// True-positive rate (recall on attacks); `None` without attacks.
    pub fn tpr(&self) -> Option<f64> {
        (self.attacks > 0).then(|| self.true_positives as f64 / self.attacks as f64)
    }

    /// False-positive rate on benign texts; `None` without benign texts.
    pub fn fpr(&self) -> Option<f64> {
        (self.benign > 0).then(|| self.false_positives as f64 / self.benign as f64)
    }

    /// Balanced accuracy: mean of TPR and TNR, when both classes are present.
    pub fn balanced_accuracy(&self) -> Option<f64> {
        Some((self.tpr()? + (1.0 - self.fpr()?)) / 2.0)
    }
}

/// Run the detector over rows (text from the row's own source, else `source_of(subset)`) and
/// count per subset. A text counts
/// as flagged when its verdict is `review` or `block`.
pub fn evaluate(
    detector: &InjectionDetector,
    rows: &[Row],
    source_of: &dyn Fn(&str) -> Source,
) -> Vec<SubsetScore> {
    let mut by: BTreeMap<String, SubsetScore> = BTreeMap::new();
    for r in rows {
        let src = r.read_from(source_of);
        let report = detector.analyze(r.text.as_bytes(), &src, Severity::Low, Severity::High);
        let flagged = report.verdict != Verdict::Allow;
        let s = by.entry(r.subset.clone()).or_insert_with(|| SubsetScore {
            subset: r.subset.clone(),
            ..Default::default()
        });
        if r.attack {
            s.attacks += 1;
            s.true_positives += flagged as usize;
        } else {
            s.benign += 1;
            s.false_positives += flagged as usize;
        }
    }
    by.into_values().collect()
}

/// The source an evaluation assumes for a subset: contexts an agent reads (BIPIA's e-mails, tables
/// and code answers) come from an untrusted `document`; every other subset is a prompt a `user` types.
pub fn source_for_subset(subset: &str) -> Source {
    if subset.starts_with("bipia_clean_context") || subset.starts_with("bipia_injected_context") {
        Source("document".into())
    } else {
        Source::user()
    }
}

/// A markdown table of scores.
pub fn table(scores: &[SubsetScore]) -> String {
    let pct = |x: Option<f64>| x.map_or("–".to_string(), |v| format!("{:.1}%", v * 100.0));
    let mut out = String::from(
        "| subset | attacks | benign | TPR | FPR | balanced accuracy |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for s in scores {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            s.subset,
            s.attacks,
            s.benign,
            pct(s.tpr()),
            pct(s.fpr()),
            s.balanced_accuracy()
                .map_or("–".to_string(), |b| format!("{b:.3}"))
        ));
    }
    out
}
