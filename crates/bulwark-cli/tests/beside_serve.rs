//! Every audited command works while `bulwark serve` runs on the same home: it appends through
//! the sidecar's audit relay instead of waiting for the log's lock, and the one chain verifies.

#![cfg(unix)]

mod common;
use common::{bulwark_on, free_port, run_with_stdin, text};

use std::io::Write;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

fn run(home: &Path, args: &[&str], stdin: &[u8]) -> (Output, Duration) {
    let start = Instant::now();
    let o = run_with_stdin(bulwark_on(home).args(args), stdin);
    (o, start.elapsed())
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn audited_commands_run_beside_serve_and_share_its_chain() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let api = free_port();
    std::fs::write(
        h.join("bulwark.toml"),
        format!("[server]\nlisten = \"127.0.0.1:{api}\"\n"),
    )
    .expect("config");
    let serve = Serve(
        bulwark_on(h)
            .env("BULWARK_LOG", "warn")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let sock = h.join("audit.sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(sock.exists() && std::net::TcpStream::connect(("127.0.0.1", api)).is_ok()) {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let intent =
        br#"{"tool":"shell","action":"run","args":{"command":"ls -la"},"requested_by":"coder"}"#;
    // The same intent through the API: the sidecar records the same event the CLI does.
    let (o, _) = run(
        h,
        &["token", "create", "--name", "coder", "--scope", "intents"],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = || {
        agent
            .post(&format!("http://127.0.0.1:{api}/v1/intents"))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(&intent[..])
            .expect("POST /v1/intents")
    };
    // A token created beside a running sidecar is honoured within its token cache time.
    let mut r = post();
    for _ in 0..20 {
        if r.status().as_u16() != 401 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        r = post();
    }
    assert_eq!(
        r.status().as_u16(),
        200,
        "{:?}",
        r.body_mut().read_to_string()
    );
    let review = br#"{"tool":"kubectl","action":"delete","target":{"kind":"pod","name":"api-1","namespace":"dev"},"requested_by":"coder"}"#;
    let commands: Vec<(Vec<&str>, &[u8], i32)> = vec![
        (vec!["intent", "check", "-"], intent, 0),
        (vec!["intent", "check", "-"], review, 1),
        (
            vec![
                "audit",
                "append",
                "--type",
                "custom",
                "--actor",
                "ops",
                "--action",
                "note",
                "--resource",
                "r",
                "--outcome",
                "ok",
            ],
            b"",
            0,
        ),
        (vec!["approvals", "list"], b"", 0),
    ];
    for (args, stdin, want) in &commands {
        let (o, took) = run(h, args, stdin);
        assert_eq!(o.status.code(), Some(*want), "{args:?}: {}", text(&o));
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("in use by another"),
            "{args:?}: {}",
            text(&o)
        );
        // No wait on the sidecar's lock (the command itself takes a few tens of milliseconds).
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
    // Sixteen at once.
    let children: Vec<_> = (0..16)
        .map(|_| {
            let mut c = bulwark_on(h)
                .args(["intent", "check", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            c.stdin
                .take()
                .expect("stdin")
                .write_all(intent)
                .expect("stdin");
            c
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().expect("wait");
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    // Rotating the key under a running sidecar is refused with what to do.
    let (o, _) = run(h, &["audit", "rotate-key"], b"");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("stop it"),
        "{}",
        text(&o)
    );

    // One chain: the sidecar sealed the commands' records, and it verifies (read beside it).
    let (o, _) = run(
        h,
        &["audit", "export", "--since", "1970-01-01T00:00:00Z"],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let lines = String::from_utf8_lossy(&o.stdout);
    let notes = lines.lines().filter(|l| l.contains("\"note\"")).count();
    let checks = lines.lines().filter(|l| l.contains("action.check")).count();
    assert_eq!(notes, 1, "{lines}");
    assert!(checks >= 19, "{checks} action.check records: {lines}");
    // One event shape, whoever judged: the same detail keys from the CLI and from the API.
    let shapes: std::collections::BTreeSet<Vec<String>> = lines
        .lines()
        .filter(|l| l.contains("action.check"))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            let mut keys: Vec<String> = v["details"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            keys.sort();
            keys
        })
        .collect();
    assert_eq!(shapes.len(), 1, "{shapes:?}");
    // Killed, the sidecar leaves its socket behind: nothing answers there, so the commands open
    // the log themselves.
    drop(serve);
    let (o, took) = run(h, &["intent", "check", "-"], intent);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (o, _) = run(h, &["audit", "verify"], b"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
