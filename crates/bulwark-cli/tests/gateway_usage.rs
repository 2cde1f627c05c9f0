//! The model gateway's budgets and usage report as an operator meets them: `bulwark serve` with a
//! `[gateway]` section in bulwark.toml, an agent calling it with curl, and
//! `bulwark gateway usage` reading what it spent from the audit log; and two sidecars sharing
//! one budget through Redis, or through PostgreSQL.

#![cfg(unix)]

mod common;
use common::{bulwark_on, free_port, redis, run_with_stdin, serve_gateway, serve_on, text};

#[path = "../../bulwark-store/tests/support/postgres.rs"]
mod pg;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A provider that answers every chat request with 1,000 prompt and 500 reply tokens.
fn fake_provider() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let reply = serde_json::json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
            })
            .to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    url
}

fn curl_chat(api: u16, token: &str) -> (u16, String, String) {
    let o = Command::new("curl")
        .args([
            "-sS",
            "-D",
            "-",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"model":"gpt-4o","max_tokens":100,"messages":[{"role":"user","content":"status?"}]}"#,
            &format!("http://127.0.0.1:{api}/v1/chat/completions"),
        ])
        .output()
        .expect("curl");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn usage(h: &Path) -> serde_json::Value {
    let o = run_with_stdin(
        bulwark_on(h).args(["gateway", "usage", "--format", "json"]),
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).expect("usage JSON")
}

#[test]
fn budgets_refuse_with_429_and_usage_reports_spend() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    let api = free_port();
    let upstream = fake_provider();
    std::fs::write(
        h.join("bulwark.toml"),
        format!(
            r#"[server]
listen = "127.0.0.1:{api}"

[gateway]
enabled = true

[gateway.upstreams.openai]
url = "{upstream}"
api_key = "env:FAKE_PROVIDER_KEY"

[gateway.prices."gpt-4o*"]
input_per_mtok = 2.5
output_per_mtok = 10.0

[[gateway.budgets]]
model = "gpt-4o"
requests_per_day = 2
"#
        ),
    )
    .expect("config");
    let (_serve, token) = serve_gateway(h, api, &[("FAKE_PROVIDER_KEY", "sk-fake-0123456789")]);

    for _ in 0..2 {
        let (status, _, body) = curl_chat(api, &token);
        assert_eq!(status, 200, "{body}");
    }
    // The third request of the day is over the budget: 429 in OpenAI's error shape, with the
    // seconds until the UTC day starts afresh.
    let (status, head, body) = curl_chat(api, &token);
    assert_eq!(status, 429, "{body}");
    let retry: u64 = head
        .lines()
        .find_map(|l| l.strip_prefix("retry-after:"))
        .expect("Retry-After")
        .trim()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry));
    let e: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["error"]["code"], "rate_limit_exceeded", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gateway.budgets[0].requests_per_day = 2")
    );

    // Usage and cost per token and upstream in /metrics.
    let o = Command::new("curl")
        .args(["-sS", &format!("http://127.0.0.1:{api}/metrics")])
        .output()
        .expect("curl");
    let metrics = String::from_utf8_lossy(&o.stdout);
    for line in [
        r#"bulwark_gateway_input_tokens_total{token="agent",upstream="openai"} 2000"#,
        r#"bulwark_gateway_output_tokens_total{token="agent",upstream="openai"} 1000"#,
        r#"bulwark_gateway_cost_micros_total{token="agent",upstream="openai"} 15000"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(
        metrics.contains("bulwark_gateway_over_budget_total"),
        "{metrics}"
    );

    // The report: every exchange, the refused one too, and what the two that ran cost
    // (2 x (1000 x 2.5 + 500 x 10) / 1e6 = 0.015).
    let deadline = Instant::now() + Duration::from_secs(10);
    let report = loop {
        let r = usage(h);
        if r["usage"][0]["requests"] == 3 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let row = &report["usage"][0];
    assert_eq!(row["token"], "agent", "{report}");
    assert_eq!(row["model"], "gpt-4o");
    assert_eq!(
        (&row["requests"], &row["over_budget"]),
        (&serde_json::json!(3), &serde_json::json!(1)),
        "{report}"
    );
    assert_eq!(
        (&row["input_tokens"], &row["output_tokens"]),
        (&serde_json::json!(2000), &serde_json::json!(1000))
    );
    assert!(
        (row["cost"].as_f64().unwrap() - 0.015).abs() < 1e-9,
        "{report}"
    );
    // And for a person.
    let o = run_with_stdin(bulwark_on(h).args(["gateway", "usage"]), b"");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("agent") && out.contains("gpt-4o") && out.contains("0.0150"),
        "{out}"
    );
    // A --since that is neither a time nor a duration is refused, naming what was expected.
    let o = run_with_stdin(
        bulwark_on(h).args(["gateway", "usage", "--since", "yesterday-ish"]),
        b"",
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("RFC 3339"), "{}", text(&o));
}

#[test]
fn budget_settings_are_checked_with_their_key_paths() {
    let home = tempfile::tempdir().expect("home");
    let h = home.path();
    std::fs::write(
        h.join("bulwark.toml"),
        r#"[[gateway.budgets]]
model = "gpt-["
cost_per_day = 5.0

[gateway.tools.k8s]
verb_arg = "verb"
"#,
    )
    .expect("config");
    let o = run_with_stdin(bulwark_on(h).args(["config", "check"]), b"");
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    // Unknown keys are refused first, by name.
    assert!(text(&o).contains("verb_arg"), "{}", text(&o));
    std::fs::write(
        h.join("bulwark.toml"),
        "[[gateway.budgets]]\nmodel = \"gpt-[\"\ncost_per_day = 5.0\n",
    )
    .expect("config");
    let o = run_with_stdin(bulwark_on(h).args(["config", "check"]), b"");
    let t = text(&o);
    assert_ne!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("gateway.budgets[0].model"), "{t}");
    assert!(t.contains("gateway.budgets[0].cost_per_day"), "{t}");
}

/// Write the configuration of a sidecar sharing a budget into `home`: a free port (returned),
/// `store` (where the budgets count), the gateway to `upstream`, three requests a day for the
/// token named agent, and `more` budgets.
fn shared_budget(home: &Path, upstream: &str, store: &str, more: &str) -> u16 {
    let api = free_port();
    let config = format!(
        r#"[server]
listen = "127.0.0.1:{api}"

{store}
[gateway]
enabled = true

[gateway.upstreams.openai]
url = "{upstream}"
api_key = "env:FAKE_PROVIDER_KEY"

[[gateway.budgets]]
token = "agent"
model = "gpt-4o"
requests_per_day = 3

{more}"#
    );
    std::fs::write(home.join("bulwark.toml"), config).expect("config");
    api
}

#[test]
fn two_sidecars_on_one_redis_share_a_budget() {
    let Some(redis) = redis() else { return };
    let upstream = fake_provider();
    let (ha, hb) = (
        tempfile::tempdir().expect("home"),
        tempfile::tempdir().expect("home"),
    );
    let start = |h: &Path| {
        let api = shared_budget(
            h,
            &upstream,
            &format!(
                "[server.limits]\nredis = \"redis://127.0.0.1:{}/0\"\nfail_open = [\"token\"]\n",
                redis.port
            ),
            "",
        );
        let (serve, token) = serve_gateway(h, api, &[("FAKE_PROVIDER_KEY", "sk-fake-0123456789")]);
        (serve, api, token)
    };
    let (_a, api_a, token_a) = start(ha.path());
    let (_b, api_b, token_b) = start(hb.path());
    // Three requests a day for the token named agent, whichever sidecar it asks.
    for (api, token) in [(api_a, &token_a), (api_b, &token_b), (api_a, &token_a)] {
        let (status, _, body) = curl_chat(api, token);
        assert_eq!(status, 200, "{body}");
    }
    for (api, token) in [(api_b, &token_b), (api_a, &token_a)] {
        let (status, _, body) = curl_chat(api, token);
        assert_eq!(status, 429, "{body}");
        assert!(
            body.contains("gateway.budgets[0].requests_per_day = 3"),
            "{body}"
        );
    }
    // Redis gone: the budget fails closed, in the API's own error shape (the token limit is
    // listed open, so the request gets that far).
    drop(redis);
    let (status, head, body) = curl_chat(api_a, &token_a);
    assert_eq!(status, 503, "{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    let e: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(e["error"]["code"], "budget_unavailable", "{e}");
}

#[test]
fn two_sidecars_on_one_postgres_share_a_budget_and_a_restart_keeps_it() {
    let Some(pg) = pg::postgres() else { return };
    let url = pg.database("budgets");
    let upstream = fake_provider();
    let (ha, hb) = (
        tempfile::tempdir().expect("home"),
        tempfile::tempdir().expect("home"),
    );
    let env = [
        ("FLEET_DB", url.as_str()),
        ("FAKE_PROVIDER_KEY", "sk-fake-0123456789"),
    ];
    let configure = |h: &Path| {
        shared_budget(
            h,
            &upstream,
            "[store]\nurl = \"env:FLEET_DB\"\n\n[audit]\nenabled = false\n",
            "[[gateway.budgets]]\ntoken = \"burst\"\nmodel = \"gpt-4o\"\nrequests_per_minute = 10\n",
        )
    };
    let (api_a, api_b) = (configure(ha.path()), configure(hb.path()));
    // Tokens are the fleet's: made once, in the shared database.
    let token = |name: &str| {
        let o = run_with_stdin(
            bulwark_on(ha.path())
                .env("FLEET_DB", &url)
                .args(["token", "create", "--name", name, "--scope", "gateway"]),
            b"",
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let (agent, burst) = (token("agent"), token("burst"));
    let a = serve_on(ha.path(), api_a, &env);
    let b = serve_on(hb.path(), api_b, &env);

    // Three requests a day for the token named agent, whichever sidecar it asks.
    for api in [api_a, api_b, api_a] {
        let (status, _, body) = curl_chat(api, &agent);
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, body) = curl_chat(api_b, &agent);
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("gateway.budgets[0].requests_per_day = 3"),
        "{body}"
    );
    // A restart keeps what was spent: the counters are in the database, not the process.
    drop(a);
    let a = serve_on(ha.path(), api_a, &env);
    let (status, _, body) = curl_chat(api_a, &agent);
    assert_eq!(status, 429, "{body}");

    // Thirty requests at once across both, on a budget of ten a minute: exactly ten go upstream
    // (unless the minute turns while they run: then at most twenty).
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60;
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..30)
            .map(|i| {
                let (burst, api) = (&burst, if i % 2 == 0 { api_a } else { api_b });
                s.spawn(move || curl_chat(api, burst).0)
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("curl")).collect()
    });
    let ended = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let over = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + over, 30, "{statuses:?}");
    if started == ended {
        assert_eq!(ok, 10, "{statuses:?}");
    } else {
        assert!((10..=20).contains(&ok), "{statuses:?}");
    }

    // A database that does not answer in time (the table locked for 6 s): the budget check gives
    // up (the lock wait after 1.5 s, the sidecar after 2 s at most) and fails closed, in the
    // API's own error shape.
    std::thread::scope(|s| {
        s.spawn(|| {
            pg.sql(
                "budgets",
                "BEGIN; LOCK TABLE budget_windows IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT;",
            )
        });
        std::thread::sleep(Duration::from_millis(500));
        let asked = Instant::now();
        let (status, head, body) = curl_chat(api_b, &burst);
        assert_eq!(status, 503, "{body}");
        assert!(
            asked.elapsed() < Duration::from_secs(3),
            "{:?}",
            asked.elapsed()
        );
        assert!(head.contains("retry-after: 1"), "{head}");
        let e: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(e["error"]["code"], "budget_unavailable", "{e}");
    });
    drop((a, b));
}
