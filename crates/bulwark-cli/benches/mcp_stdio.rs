//! The latency `bulwark mcp wrap` adds to a `tools/call` over stdio whose result is 4 KB of text:
//! the same calls, one at a time, straight to a minimal server and through the wrapper (release
//! build), as percentiles of round-trip time and of the difference. With the audit log on (every
//! call's verdict is a durable record) and off.
//!
//! First, the session alone (no pipes, no processes, audit off): what judging the call and
//! guarding its result costs in the library.
//!
//! `cargo bench -p bulwark-cli --bench mcp_stdio` (needs python3). `MCP_BENCH_CALLS` sets the
//! number of calls (default 5000); `MCP_BENCH_ONLY=on` (a word of a run's label) runs that
//! wrapped run alone, to profile it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Round trips of `calls` tool calls through `cmd`, after the handshake and a list.
fn run(mut cmd: Command, calls: usize) -> Vec<Duration> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let mut ask = |msg: String, stdin: &mut std::process::ChildStdin| -> (Duration, String) {
        let t = Instant::now();
        stdin.write_all(msg.as_bytes()).expect("write");
        stdin.write_all(b"\n").expect("write");
        stdin.flush().expect("flush");
        line.clear();
        stdout.read_line(&mut line).expect("read");
        (t.elapsed(), line.clone())
    };
    ask(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}"#.into(), &mut stdin);
    let (_, list) = ask(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.into(),
        &mut stdin,
    );
    assert!(list.contains("fetch_report"), "{list}");
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls + 200 {
        let (t, answer) = ask(
            format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"fetch_report","arguments":{{"region":"emea"}}}}}}"#,
                i + 2
            ),
            &mut stdin,
        );
        assert!(answer.contains("quarterly report"), "{answer:.300}");
        if i >= 200 {
            times.push(t);
        }
    }
    drop(stdin);
    let _ = child.wait();
    times.sort();
    times
}

fn report(name: &str, t: &[Duration]) {
    println!(
        "{name:<28} p50 {:>7.1} µs  p90 {:>7.1} µs  p99 {:>7.1} µs",
        percentile(t, 0.5).as_secs_f64() * 1e6,
        percentile(t, 0.9).as_secs_f64() * 1e6,
        percentile(t, 0.99).as_secs_f64() * 1e6
    );
}

/// The library's share: one `tools/call` judged and its 4 KB result guarded, in the session.
fn library(calls: usize) -> Vec<Duration> {
    use bulwark_core::approval::{Approvals, Approvers, SystemClock};
    use bulwark_core::mcp::{Env, Out, ServerIdentity, Session};
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = bulwark_core::SecurityConfig::from_toml(
        "[audit]\nenabled = false\n[mcp.servers.bench.tools.fetch_report]\naction = \"read\"\n",
        "bench",
    )
    .expect("config");
    let policy = bulwark_core::Policy::compile(cfg, home.path(), &|_| None).expect("policy");
    policy.scanner.precompile().expect("precompile");
    let db = bulwark_store::state_db::StateDb::open(&home.path().join("state.db")).expect("db");
    let approvals = Approvals::new(&db, None, Approvers::from_names([]), 900, &SystemClock);
    let env = Env {
        policy: &policy,
        pins: &db,
        approvals: &approvals,
        audit: None,
        probe: &bulwark_store::fs::OsPaths,
        clock: &SystemClock,
        handoffs: Some(&db),
    };
    let mut s = Session::new(
        ServerIdentity::stdio("bench", "python3", &[]),
        &policy.cfg.mcp,
    );
    let text: String = "The quarterly report lists revenue by region, the open incidents and the planned maintenance windows for the storage cluster. ".repeat(32).chars().take(4096).collect();
    let tools = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"fetch_report","description":"Returns the quarterly report.","inputSchema":{"type":"object","properties":{"region":{"type":"string"}}}}]}}"#;
    s.from_client(&env, br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    s.from_server(&env, tools.as_bytes());
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls + 200 {
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"fetch_report","arguments":{{"region":"emea"}}}}}}"#,
            i + 2
        );
        let answer = serde_json::json!({"jsonrpc": "2.0", "id": i + 2, "result": {"content": [{"type": "text", "text": text}], "isError": false}}).to_string();
        let t = Instant::now();
        let a = s.from_client(&env, call.as_bytes());
        let b = s.from_server(&env, answer.as_bytes());
        let t = t.elapsed();
        assert!(
            matches!(a.as_slice(), [Out::ToServer(_)])
                && matches!(b.as_slice(), [Out::ToClient(_)]),
            "{a:?} {b:?}"
        );
        if i >= 200 {
            times.push(t);
        }
    }
    times.sort();
    times
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let calls: usize = std::env::var("MCP_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    report("session alone (library)", &library(calls));
    let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/mcp_echo_server.py");
    let bulwark = env!("CARGO_BIN_EXE_bulwark");
    let direct = {
        let mut c = Command::new("python3");
        c.arg(&server);
        run(c, calls)
    };
    report("direct", &direct);
    for (label, audit) in [
        ("through wrap, audit on", true),
        ("through wrap, audit off", false),
    ] {
        // `MCP_BENCH_ONLY=on` (a word of the label): that run alone, to profile it.
        if std::env::var("MCP_BENCH_ONLY").is_ok_and(|w| !label.contains(w.as_str())) {
            continue;
        }
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            home.path().join("bulwark.toml"),
            format!("[audit]\nenabled = {audit}\n[mcp.servers.bench.tools.fetch_report]\naction = \"read\"\n"),
        )
        .expect("config");
        let mut c = Command::new(bulwark);
        c.env("BULWARK_HOME", home.path())
            .env("HOME", home.path())
            .env_remove("BULWARK_CONFIG")
            .args(["mcp", "wrap", "--name", "bench", "--", "python3"])
            .arg(&server);
        let wrapped = run(c, calls);
        report(label, &wrapped);
        let added = |p: f64| {
            (percentile(&wrapped, p).as_secs_f64() - percentile(&direct, p).as_secs_f64()) * 1e6
        };
        println!(
            "{:<28} p50 {:>7.1} µs  p90 {:>7.1} µs  p99 {:>7.1} µs",
            "  added",
            added(0.5),
            added(0.9),
            added(0.99)
        );
    }
}
