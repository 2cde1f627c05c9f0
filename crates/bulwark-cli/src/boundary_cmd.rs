//! `bulwark wrap` and `bulwark sanitize`: keep untrusted text in its place.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bulwark_core::scan::boundary::{self, DEFAULT_DATAMARK, WrapOptions};
use bulwark_core::scan::injection::Source;
use clap::Args;

use crate::{Fatal, PlainFormat, load_config, open_input};

#[derive(Args, Debug)]
pub struct WrapArgs {
    /// The file to wrap; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
    /// Where the content came from: web, email, tool_output, alert, mcp_tool_description, document, ...
    #[arg(long, value_name = "NAME")]
    pub source: String,
    /// Interleave a marker with the content's words (every space becomes CHAR; default ˆ).
    #[arg(long, value_name = "CHAR", num_args = 0..=1, default_missing_value = "ˆ")]
    pub datamark: Option<String>,
    /// `text` prints the wrapped content; `json` prints {"text", "id", "source", "instructions", "changes"}.
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    pub format: PlainFormat,
}

#[derive(Args, Debug)]
pub struct SanitizeArgs {
    /// The file to sanitize; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
    /// `text` prints the cleaned text (a summary of changes goes to stderr); `json` prints
    /// {"text", "changes"}.
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    pub format: PlainFormat,
}

pub fn run_wrap(args: WrapArgs, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    let source = Source::parse(&args.source)
        .map_err(|e| Fatal(format!("--source {:?}: expected {e}", args.source)))?;
    let datamark = match args.datamark.as_deref() {
        None => None,
        Some(s) => {
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => {
                    return Err(Fatal(format!(
                        "--datamark {s:?}: expected a single character, such as {DEFAULT_DATAMARK}"
                    )));
                }
            }
        }
    };
    let text = read_input(args.input.as_deref(), cfg.scan.max_file_bytes)?;
    let wrapped = boundary::wrap(&text, &source, &WrapOptions { datamark })
        .map_err(|e| Fatal(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    match args.format {
        PlainFormat::Text => writeln!(out, "{}", wrapped.text)?,
        PlainFormat::Json => writeln!(out, "{}", serde_json::to_string(&wrapped)?)?,
    }
    out.flush()?;
    Ok(0)
}

pub fn run_sanitize(args: SanitizeArgs, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    let text = read_input(args.input.as_deref(), cfg.scan.max_file_bytes)?;
    let clean = boundary::sanitize(&text);
    let mut out = std::io::stdout().lock();
    match args.format {
        PlainFormat::Text => {
            out.write_all(clean.text.as_bytes())?;
            out.flush()?;
            if !clean.changes.is_empty() {
                let mut counts: Vec<(&str, usize)> = Vec::new();
                for c in &clean.changes {
                    match counts.iter_mut().find(|(k, _)| *k == c.kind) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((c.kind, 1)),
                    }
                }
                let list: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
                eprintln!(
                    "bulwark: sanitize: {} change(s): {}",
                    clean.changes.len(),
                    list.join(", ")
                );
            }
        }
        PlainFormat::Json => {
            writeln!(out, "{}", serde_json::to_string(&clean)?)?;
            out.flush()?;
        }
    }
    Ok(0)
}

/// Read a file or standard input whole, up to `limit` bytes (invalid UTF-8 becomes U+FFFD).
fn read_input(path: Option<&Path>, limit: u64) -> Result<String, Fatal> {
    let (name, reader) = open_input(path)?;
    let mut buf = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Fatal(format!("cannot read {name}: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(Fatal(format!(
            "{name} is larger than {limit} bytes (scan.max_file_bytes); raise it in bulwark.toml or split the input"
        )));
    }
    Ok(match String::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}
