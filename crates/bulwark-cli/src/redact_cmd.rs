//! `bulwark redact`: stream a redacted copy of a file or standard input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bulwark_core::Finding;
use bulwark_core::scan::{Detectors, StreamRedactor};
use clap::Args;
use serde::Serialize;

use crate::{Fatal, PlainFormat, load_config, open_input};

#[derive(Args, Debug)]
pub struct RedactArgs {
    /// The file to redact; `-` or nothing reads standard input.
    pub input: Option<PathBuf>,
    /// `text` streams the redacted text; `json` prints {"text", "findings"} (the whole output in memory).
    #[arg(long, value_enum, default_value_t = PlainFormat::Text)]
    pub format: PlainFormat,
    /// Detector families to redact, comma-separated: secrets, pii (default: both).
    #[arg(long, value_name = "LIST")]
    pub detectors: Option<String>,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    text: &'a str,
    findings: &'a [Finding],
}

pub fn run(args: RedactArgs, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    let detectors = match &args.detectors {
        Some(list) => Detectors::parse(list).map_err(|e| Fatal(format!("--detectors: {e}")))?,
        None => Detectors::CONTENT,
    };
    let (policy, _) = crate::compile_policy(cfg)?;
    let redactor = policy.redactor.with_detectors(detectors);
    let (name, mut input) = open_input(args.input.as_deref())?;
    let json = args.format == PlainFormat::Json;
    let mut stream = StreamRedactor::new(redactor, true);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut collected = String::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Emit what is already safe, then fail: never print unredacted text.
                out.flush()?;
                return Err(Fatal(format!("cannot read {name}: {e}")));
            }
        };
        let piece = stream.push(&buf[..n]);
        if json {
            collected.push_str(&piece);
        } else {
            out.write_all(piece.as_bytes())?;
        }
    }
    let rest = stream.finish();
    if json {
        collected.push_str(&rest);
        serde_json::to_writer_pretty(
            &mut out,
            &JsonOut {
                text: &collected,
                findings: stream.findings(),
            },
        )?;
        writeln!(out)?;
    } else {
        out.write_all(rest.as_bytes())?;
    }
    out.flush()?;
    Ok(0)
}
