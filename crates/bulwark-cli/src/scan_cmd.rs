//! `bulwark scan`: files, directories, standard input and JSON Lines batches.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bulwark_core::scan::injection::Source;
use bulwark_core::scan::{Detectors, rule_catalog};
use bulwark_core::{Finding, Scanner};
use clap::Args;
use serde::Serialize;

use crate::baseline::Baseline;
use crate::report::{InputError, Located, Render, Report, Skipped, Stats, Stream};
use crate::{Fatal, load_config};

/// `bulwark scan --format`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanFormat {
    /// Lines for a person, each input's findings as soon as it is scanned.
    Text,
    /// One JSON document at the end.
    Json,
    /// JSON Lines as inputs are scanned: `{"type": "finding"|"error"|"skipped", ...}`, then one
    /// `{"type": "summary", "verdict", ...}`.
    Jsonl,
    /// SARIF 2.1.0 (for code-scanning dashboards) at the end.
    Sarif,
}

/// Bytes read per scan step: memory stays near this plus the stream tail whatever the input size.
const CHUNK: usize = 1 << 20;
/// A line containing this marker has its findings suppressed.
const ALLOW_MARKER: &[u8] = b"bulwark:allow";

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files or directories to scan; none, or `-`, reads standard input.
    pub paths: Vec<PathBuf>,
    /// Detector families, comma-separated: secrets, pii, injection, all (default: secrets and pii
    /// for files and directories; all for standard input and --jsonl).
    #[arg(long, value_name = "LIST")]
    pub detectors: Option<String>,
    /// Where the text came from, for prompt-injection thresholds: user (trusted by default), web,
    /// email, tool_output, alert, mcp_tool_description, document, ... (default: other, untrusted).
    /// A --jsonl line's own "source" field wins.
    #[arg(long, value_name = "NAME", default_value = "other")]
    pub source: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// Batch mode: each input line is a JSON object with a `text` field; each output line is that
    /// line's `{"verdict", "findings"}`, in order. Reads FILE, or standard input with `-` or no value.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-", conflicts_with_all = ["paths", "baseline", "write_baseline"])]
    pub jsonl: Option<PathBuf>,
    /// Suppress findings recorded in this baseline.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Record every current finding in a new baseline file (fingerprints, not values).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// Also scan files excluded by .gitignore, .ignore and .bulwarkignore (such as .env).
    #[arg(long)]
    pub no_ignore: bool,
    /// Skip files larger than this many bytes (default: scan.max_file_bytes).
    #[arg(long, value_name = "BYTES")]
    pub max_file_bytes: Option<u64>,
    /// Worker threads for directory scans (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// List every detector and exit.
    #[arg(long)]
    pub list_rules: bool,
}

pub fn run(args: ScanArgs, explicit: Option<&Path>) -> Result<u8, Fatal> {
    let (cfg, _) = load_config(explicit)?;
    if args.list_rules {
        return list_rules(args.format);
    }
    let stdin_only = args.paths.is_empty() || args.paths.iter().all(|p| p.as_os_str() == "-");
    let detectors = match &args.detectors {
        Some(list) => Detectors::parse(list).map_err(|e| Fatal(format!("--detectors: {e}")))?,
        // Text an agent reads arrives on standard input; files are a repository's content.
        None if stdin_only || args.jsonl.is_some() => Detectors::ALL,
        None => Detectors::CONTENT,
    };
    let source = Source::parse(&args.source)
        .map_err(|e| Fatal(format!("--source {:?}: expected {e}", args.source)))?;
    let scanner = Scanner::new(&cfg.scan)?;
    if let Some(src) = &args.jsonl {
        if matches!(args.format, ScanFormat::Sarif | ScanFormat::Jsonl) {
            return Err(Fatal(
                "--jsonl writes JSON Lines, one result per input line; --format sarif and jsonl do not apply".into(),
            ));
        }
        return run_jsonl(&scanner, detectors, &source, src, cfg.scan.max_file_bytes);
    }
    let baseline = match &args.baseline {
        Some(p) => Some(Baseline::load(p)?),
        None => None,
    };
    let mut recorder = match (&args.write_baseline, &args.baseline) {
        (Some(_), Some(p)) => Some(Baseline::load(p)?),
        (Some(_), None) => Some(Baseline::fresh()?),
        _ => None,
    };
    let max_bytes = args.max_file_bytes.unwrap_or(cfg.scan.max_file_bytes);
    let ctx = Ctx {
        scanner: &scanner,
        detectors,
        source: &source,
        baseline: baseline.as_ref(),
        salted: recorder.as_ref().or(baseline.as_ref()),
        recorder: recorder.as_ref().map(|_| Mutex::new(Vec::new())),
        max_bytes,
    };
    // Text and JSON Lines stream: each input's findings are written as soon as it is scanned.
    let write_failed: Mutex<Option<std::io::Error>> = Mutex::new(None);
    let streamed = |r: &Report| {
        let mut out = std::io::stdout().lock();
        let written = match args.format {
            ScanFormat::Text => {
                let mut found: Vec<&Located> = r.findings.iter().collect();
                found.sort_by_key(|l| l.finding.sort_span().start);
                found
                    .into_iter()
                    .try_for_each(|l| crate::report::write_text_finding(&mut out, l))
            }
            ScanFormat::Jsonl => r.write_jsonl_items(&mut out),
            ScanFormat::Json | ScanFormat::Sarif => Ok(()),
        }
        .and_then(|()| out.flush());
        if let Err(e) = written
            && let Ok(mut slot) = write_failed.lock()
        {
            slot.get_or_insert(e);
        }
    };
    let mut report = if stdin_only {
        let mut r = empty_report();
        let stdin = std::io::stdin();
        let out = ctx.scan_stream("-", stdin.lock());
        streamed(&out);
        merge(&mut r, out);
        r
    } else {
        if args.paths.iter().any(|p| p.as_os_str() == "-") {
            return Err(Fatal(
                "`-` (standard input) cannot be mixed with paths".into(),
            ));
        }
        walk(&ctx, &args.paths, args.no_ignore, args.threads, &streamed)?
    };
    if let Some(e) = write_failed.into_inner().ok().flatten() {
        return Err(Fatal::from(e));
    }
    let recorded = ctx
        .recorder
        .map(|m| m.into_inner().unwrap_or_default())
        .unwrap_or_default();
    if let (Some(rec), Some(path)) = (&mut recorder, &args.write_baseline) {
        for (fp, rule, p, line) in recorded {
            rec.record(fp, &rule, &p, line);
        }
        rec.write(path)?;
    }
    report.findings.sort_by(|a, b| {
        a.path.cmp(&b.path).then(
            a.finding
                .sort_span()
                .start
                .cmp(&b.finding.sort_span().start),
        )
    });
    report.errors.sort_by(|a, b| a.path.cmp(&b.path));
    report.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let all: Vec<Finding> = report.findings.iter().map(|l| l.finding.clone()).collect();
    report.verdict = scanner.verdict(&all);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        ScanFormat::Text => report.write_text_tail(&mut out)?,
        ScanFormat::Jsonl => report.write_jsonl_summary(&mut out)?,
        ScanFormat::Json => report.write_json(&mut out)?,
        ScanFormat::Sarif => report.write_sarif(&mut out, &rule_catalog())?,
    }
    out.flush()?;
    for e in &report.errors {
        eprintln!("bulwark: cannot read {}: {}", e.path, e.error);
    }
    Ok(report.exit_code())
}

fn list_rules(format: ScanFormat) -> Result<u8, Fatal> {
    let rules = rule_catalog();
    if format == ScanFormat::Jsonl {
        let mut out = std::io::stdout().lock();
        for r in &rules {
            serde_json::to_writer(&mut out, r)?;
            writeln!(out)?;
        }
        return Ok(0);
    }
    if format == ScanFormat::Text {
        for r in &rules {
            println!(
                "{:<45} {:<7} {:<9} {}",
                r.id,
                r.kind.as_str(),
                r.severity.as_str(),
                r.description
            );
        }
        println!("{} rules", rules.len());
    } else {
        println!("{}", serde_json::to_string_pretty(&rules)?);
    }
    Ok(0)
}

fn empty_report() -> Report {
    Report {
        verdict: bulwark_core::Verdict::Allow,
        findings: Vec::new(),
        errors: Vec::new(),
        skipped: Vec::new(),
        stats: Stats::default(),
    }
}

fn merge(into: &mut Report, from: Report) {
    into.findings.extend(from.findings);
    into.errors.extend(from.errors);
    into.skipped.extend(from.skipped);
    into.stats.files_scanned += from.stats.files_scanned;
    into.stats.bytes_scanned += from.stats.bytes_scanned;
    into.stats.suppressed_by_baseline += from.stats.suppressed_by_baseline;
    into.stats.suppressed_inline += from.stats.suppressed_inline;
}

type Recorded = (String, String, String, Option<usize>);

struct Ctx<'a> {
    scanner: &'a Scanner,
    detectors: Detectors,
    source: &'a Source,
    baseline: Option<&'a Baseline>,
    /// The baseline whose salt fingerprints findings (the one being written, else the one read).
    salted: Option<&'a Baseline>,
    recorder: Option<Mutex<Vec<Recorded>>>,
    max_bytes: u64,
}

impl Ctx<'_> {
    /// Scan one input stream; never fails: read errors land in the report.
    fn scan_stream<R: Read>(&self, path: &str, reader: R) -> Report {
        let mut r = empty_report();
        let mut recorded = Vec::new();
        let res = self.scanner.scan_reader(
            reader,
            self.detectors,
            self.source,
            CHUNK,
            |f, value, line| {
                if memchr::memmem::find(line, ALLOW_MARKER).is_some() {
                    r.stats.suppressed_inline += 1;
                    return;
                }
                let fp = match self.salted {
                    Some(b) => b.fingerprint(&f.rule, path, value),
                    None => bulwark_core::finding::fingerprint(
                        b"bulwark-sarif-location",
                        &f.rule,
                        &format!("{path}:{}", f.line_column().map(|l| l.line).unwrap_or(0)),
                        b"",
                    ),
                };
                if self.recorder.is_some() {
                    recorded.push((
                        fp.clone(),
                        f.rule.clone(),
                        path.to_string(),
                        f.line_column().map(|l| l.line),
                    ));
                }
                if self.baseline.is_some_and(|b| b.contains(&fp)) {
                    r.stats.suppressed_by_baseline += 1;
                    return;
                }
                r.findings.push(Located {
                    path: path.to_string(),
                    finding: f,
                    fingerprint: fp,
                });
            },
        );
        match res {
            Ok(n) => {
                r.stats.files_scanned = 1;
                r.stats.bytes_scanned = n;
            }
            Err(e) => r.errors.push(InputError {
                path: path.to_string(),
                error: e.to_string(),
            }),
        }
        if let Some(rec) = &self.recorder
            && let Ok(mut v) = rec.lock()
        {
            v.extend(recorded);
        }
        r
    }

    fn scan_file(&self, path: &Path) -> Report {
        let shown = path.strip_prefix("./").unwrap_or(path);
        let name = shown.to_string_lossy().into_owned();
        match self.open_text(path) {
            Ok(Opened::Text(head, file)) => {
                self.scan_stream(&name, std::io::Cursor::new(head).chain(file))
            }
            Ok(Opened::Skip(reason)) => {
                let mut r = empty_report();
                r.skipped.push(Skipped { path: name, reason });
                r
            }
            Err(e) => {
                let mut r = empty_report();
                r.errors.push(InputError {
                    path: name,
                    error: e.to_string(),
                });
                r
            }
        }
    }

    /// Open a file for scanning, or say why it is skipped: larger than the limit, or binary (a NUL
    /// byte in the first 8 KiB, which is returned with the file so nothing is read twice).
    fn open_text(&self, path: &Path) -> std::io::Result<Opened> {
        let len = std::fs::metadata(path)?.len();
        if len > self.max_bytes {
            return Ok(Opened::Skip(format!(
                "larger than {} bytes (--max-file-bytes / scan.max_file_bytes)",
                self.max_bytes
            )));
        }
        let mut file = std::fs::File::open(path)?;
        let mut head = vec![0u8; 8192];
        let n = read_full(&mut file, &mut head)?;
        head.truncate(n);
        if head.contains(&0) {
            return Ok(Opened::Skip("binary (contains NUL bytes)".into()));
        }
        Ok(Opened::Text(head, file))
    }
}

enum Opened {
    /// The first bytes already read, and the rest of the file.
    Text(Vec<u8>, std::fs::File),
    Skip(String),
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Scan every file under `paths` on `threads` workers; `on_input` sees each input's report as it
/// is done (on one thread, in the order inputs finish).
fn walk(
    ctx: &Ctx<'_>,
    paths: &[PathBuf],
    no_ignore: bool,
    threads: Option<usize>,
    on_input: &(dyn Fn(&Report) + Sync),
) -> Result<Report, Fatal> {
    let mut builder = ignore::WalkBuilder::new(&paths[0]);
    for p in &paths[1..] {
        builder.add(p);
    }
    builder
        .hidden(false)
        .follow_links(false)
        .require_git(false)
        .git_ignore(!no_ignore)
        .git_global(!no_ignore)
        .git_exclude(!no_ignore)
        .ignore(!no_ignore)
        .parents(!no_ignore)
        .threads(threads.unwrap_or(0))
        .filter_entry(|e| e.file_name() != ".git");
    if !no_ignore {
        builder.add_custom_ignore_filename(".bulwarkignore");
    }
    let progress =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} scanned {pos} files, {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let report = Arc::new(Mutex::new(empty_report()));
    let (tx, rx) = crossbeam_channel::unbounded::<Report>();
    std::thread::scope(|s| {
        let collector = {
            let report = Arc::clone(&report);
            let progress = progress.clone();
            s.spawn(move || {
                let mut found = 0usize;
                for r in rx {
                    on_input(&r);
                    found += r.findings.len();
                    progress.inc(r.stats.files_scanned as u64);
                    progress.set_message(format!("{found} findings"));
                    if let Ok(mut all) = report.lock() {
                        merge(&mut all, r);
                    }
                }
            })
        };
        builder.build_parallel().run(|| {
            let tx = tx.clone();
            Box::new(move |entry| {
                let r = match entry {
                    Ok(e) if e.file_type().is_some_and(|t| t.is_file()) => ctx.scan_file(e.path()),
                    Ok(_) => return ignore::WalkState::Continue,
                    Err(err) => {
                        let mut r = empty_report();
                        r.errors.push(InputError {
                            path: error_path(&err),
                            error: err.to_string(),
                        });
                        r
                    }
                };
                let _ = tx.send(r);
                ignore::WalkState::Continue
            })
        });
        drop(tx);
        let _ = collector.join();
    });
    progress.finish_and_clear();
    let report = Arc::try_unwrap(report)
        .map_err(|_| Fatal("internal error: report still shared".into()))?
        .into_inner()
        .map_err(|_| Fatal("internal error: a scan thread panicked".into()))?;
    Ok(report)
}

fn error_path(err: &ignore::Error) -> String {
    match err {
        ignore::Error::WithPath { path, .. } => path.display().to_string(),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => child.display().to_string(),
        _ => String::from("?"),
    }
}

#[derive(Serialize)]
struct JsonlResult {
    verdict: bulwark_core::Verdict,
    findings: Vec<Finding>,
    /// The prompt-injection score (0 to 1) when injection detection ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    injection_score: Option<f32>,
}

fn run_jsonl(
    scanner: &Scanner,
    detectors: Detectors,
    default_source: &Source,
    src: &Path,
    max_line: u64,
) -> Result<u8, Fatal> {
    let input: Box<dyn BufRead> = if src.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(src)
            .map_err(|e| Fatal(format!("cannot read {}: {e}", src.display())))?;
        Box::new(std::io::BufReader::new(f))
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut any_findings, mut any_errors) = (false, false);
    let mut reader = input;
    let mut buf = Vec::new();
    let mut lineno = 0usize;
    loop {
        lineno += 1;
        let status = read_bounded_line(&mut reader, &mut buf, max_line as usize)
            .map_err(|e| Fatal(format!("cannot read {}: {e}", src.display())))?;
        let line = match status {
            LineStatus::Eof => break,
            LineStatus::TooLong => {
                any_errors = true;
                let msg = format!(
                    "line {lineno} is longer than {max_line} bytes (scan.max_file_bytes); not scanned"
                );
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"error": {"line": lineno, "message": msg}})
                )?;
                continue;
            }
            LineStatus::Line => &buf,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            lineno -= 1;
            continue;
        }
        match parse_jsonl_line(line) {
            Ok((text, source)) => {
                let source = source.as_ref().unwrap_or(default_source);
                let assessed = scanner.assess(text.as_bytes(), detectors, source);
                let mut findings = assessed.findings;
                bulwark_core::finding::locate(&mut findings, text.as_bytes());
                any_findings |= !findings.is_empty();
                let res = JsonlResult {
                    verdict: assessed.verdict,
                    findings,
                    injection_score: assessed.injection_score,
                };
                serde_json::to_writer(&mut out, &res)?;
                writeln!(out)?;
            }
            Err(msg) => {
                any_errors = true;
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"error": {"line": lineno, "message": msg}})
                )?;
            }
        }
    }
    out.flush()?;
    Ok(if any_errors {
        2
    } else {
        u8::from(any_findings)
    })
}

/// A line's text and, when it names one, its source.
fn parse_jsonl_line(line: &[u8]) -> Result<(String, Option<Source>), String> {
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("expected a JSON object with a \"text\" field")?;
    let source = match obj.get("source") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => {
            Some(Source::parse(s).map_err(|e| format!("\"source\" {s:?}: expected {e}"))?)
        }
        Some(_) => {
            return Err(
                "\"source\" must be a string (e.g. \"web\", \"email\", \"tool_output\")".into(),
            );
        }
    };
    match obj.get("text") {
        Some(serde_json::Value::String(s)) => Ok((s.clone(), source)),
        Some(_) => Err("\"text\" must be a string".into()),
        None => Err("missing \"text\" field: each line must be {\"text\": \"...\"}".into()),
    }
}

enum LineStatus {
    Line,
    TooLong,
    Eof,
}

/// Read one line (without its newline) into `buf`, holding at most `max` bytes: a longer line is
/// consumed and reported as too long.
fn read_bounded_line(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<LineStatus> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if !any {
                LineStatus::Eof
            } else if too_long {
                LineStatus::TooLong
            } else {
                LineStatus::Line
            });
        }
        any = true;
        let (piece, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        if !too_long {
            if buf.len() + piece.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(piece);
            }
        }
        let used = done.unwrap_or(avail.len());
        r.consume(used);
        if done.is_some() {
            return Ok(if too_long {
                LineStatus::TooLong
            } else {
                LineStatus::Line
            });
        }
    }
}
