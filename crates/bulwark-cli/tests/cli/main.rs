//! Behaviour of the `bulwark` binary, driven as a user drives it.

#[path = "../common/mod.rs"]
mod common;
use common::{free_port, vault_cmd, vault_home};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod action;
mod audit;
mod config;
mod content;
mod egress;
mod serve;
mod vault;

fn bulwark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bulwark"));
    // Never pick up the developer's own configuration.
    c.env_remove("BULWARK_CONFIG")
        .env("BULWARK_HOME", "/nonexistent/bulwark-test-home");
    c
}

fn run(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bulwark");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    out
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

fn in_home(home: &Path) -> Command {
    common::bulwark_on(home)
}

/// A local HTTP endpoint that answers 204 to every request and hands each request's text over.
fn http_recorder() -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .ok();
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = std::io::Read::read(&mut conn, &mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if req.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            conn.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                .ok();
            if tx.send(String::from_utf8_lossy(&req).into_owned()).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

/// Whether a tool a test drives is there. Where CI sets `require` the test must not skip;
/// elsewhere it skips with a notice.
fn available(ok: bool, require: &str, what: &str) -> bool {
    if !ok {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but {what} is missing"
        );
        eprintln!("notice: {what} is missing: skipping (.ci/run installs it)");
    }
    ok
}

/// An intent that needs approval in the default tiers.
const SCALE: &str = r#"{"tool":"kubectl","action":"scale","target":{"kind":"deployment","name":"api","namespace":"payments-prod"},"args":{"replicas":0,"token":"s3cr3t-arg-value"},"requested_by":"sre-copilot","source":{"alert_id":"A-1"},"reason":"latency"}"#;
