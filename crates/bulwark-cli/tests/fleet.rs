//! Several sidecars sharing one Redis (`[server.limits] redis`): a limit holds across them, a
//! webhook replayed to the other replica is refused, and with Redis out of reach they fail
//! closed (503, `/readyz` not ready) unless a limit is listed in `fail_open`, and recover when it
//! is back.
//!
//! On one PostgreSQL (`[store] url`, `[audit] backend = "postgres"`) as well: an approval
//! consumed 100 times at once across both is run once, a token revoked on one is refused by the
//! other within a second, and both instances' audit chains verify until a row is deleted.
//!
//! Each test starts its own `redis-server` and PostgreSQL (Debian's package, which `.ci/run` installs). Without
//! them the tests skip with a notice, unless `BULWARK_REQUIRE_REDIS` or
//! `BULWARK_REQUIRE_POSTGRES` is set.

#![cfg(unix)]

mod common;
use common::{
    Serve, bulwark_on, free_port, redis, redis_on, run_with_stdin, serve_on, serve_with_token, text,
};

#[path = "../../bulwark-store/tests/support/postgres.rs"]
mod pg;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A sidecar on its own home, counting in the Redis at `redis_port`, with `extra` added to
/// `[server.limits]`, and a token of scope `intents` named `coder`.
fn sidecar(home: &Path, redis_port: u16, extra: &str) -> (Serve, u16, String) {
    let port = free_port();
    std::fs::write(
        home.join("bulwark.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [server.limits]\nredis = \"redis://127.0.0.1:{redis_port}/0\"\ntoken_per_sec = 0\n{extra}\n\
             [audit]\nenabled = false\n\
             [ingress.sources.gh]\nscheme = \"github\"\nsecret_env = \"GH_SECRET\"\n"
        ),
    )
    .expect("config");
    let (serve, token) = serve_with_token(
        home,
        port,
        "coder",
        "intents",
        &[("GH_SECRET", "gh-secret")],
    );
    (serve, port, token)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

const INTENT: &str = r#"{"tool":"kubectl","action":"get","args":{"command":"kubectl get pods"},"requested_by":"coder"}"#;

/// POST an intent: its status and body.
fn intent(agent: &ureq::Agent, port: u16, token: &str) -> (u16, String) {
    let mut r = agent
        .post(&format!("http://127.0.0.1:{port}/v1/intents"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(INTENT.as_bytes())
        .expect("intent");
    let body = r.body_mut().read_to_string().unwrap_or_default();
    (r.status().as_u16(), body)
}

fn readyz(agent: &ureq::Agent, port: u16) -> (u16, serde_json::Value) {
    let mut r = agent
        .get(&format!("http://127.0.0.1:{port}/readyz"))
        .call()
        .expect("readyz");
    let body = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&body).unwrap_or_default(),
    )
}

#[test]
fn a_limit_holds_across_two_sidecars_and_a_replay_is_refused_by_the_other() {
    let Some(redis) = redis() else { return };
    let (ha, hb) = (
        tempfile::tempdir().expect("home"),
        tempfile::tempdir().expect("home"),
    );
    // 600 intents per minute per tool: 600 at once, then one every 100 ms.
    let (_a, pa, ta) = sidecar(ha.path(), redis.port, "tool_per_min = 600");
    let (_b, pb, tb) = sidecar(hb.path(), redis.port, "tool_per_min = 600");
    let (ok, limited) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for i in 0..8 {
            let (port, token) = if i % 2 == 0 { (pa, &ta) } else { (pb, &tb) };
            let (ok, limited) = (&ok, &limited);
            s.spawn(move || {
                let agent = agent();
                for _ in 0..150 {
                    match intent(&agent, port, token) {
                        (429, body) => {
                            assert!(body.contains("tool;q=600;w=60"), "{body}");
                            limited.fetch_add(1, Ordering::Relaxed);
                        }
                        (status, body) => {
                            assert!(status < 500, "{status} {body}");
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let (ok, limited) = (ok.into_inner(), limited.into_inner());
    assert_eq!(ok + limited, 1200);
    // Each sidecar counting alone would take 600 each: together they take the one allowance,
    // plus what it refills while the run lasts.
    let refill = (elapsed.as_millis() / 100) as usize + 1;
    assert!(
        (600..=600 + refill).contains(&ok),
        "{ok} taken of 1200 in {elapsed:?} (allowance 600, refill at most {refill})"
    );

    // A GitHub delivery signed by Python's hmac: accepted by one replica, a replay at the other.
    let script = r#"
import hashlib, hmac, sys, urllib.error, urllib.request
body = b'{"action":"opened","issue":{"number":7,"title":"disk full"}}'
sig = "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
for port in sys.argv[1:]:
    req = urllib.request.Request(
        "http://127.0.0.1:%s/v1/ingress/gh" % port, data=body, method="POST",
        headers={"X-Hub-Signature-256": sig, "X-GitHub-Delivery": "d-1",
                 "Content-Type": "application/json"})
    try:
        print(urllib.request.urlopen(req).status)
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode())
"#;
    let o = Command::new("python3")
        .args([
            "-c",
            script,
            &pa.to_string(),
            &pb.to_string(),
            &pa.to_string(),
        ])
        .output()
        .expect("python3");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{}", text(&o));
    assert!(lines[0].starts_with('2'), "{out}");
    assert!(
        lines[1].starts_with("409") && lines[1].contains("replay"),
        "{out}"
    );
    assert!(lines[2].starts_with("409"), "{out}");
    let (status, ready) = readyz(&agent(), pb);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["redis"]["ok"], true, "{ready}");
}

#[test]
fn without_redis_limits_fail_closed_unless_listed_and_recover_when_it_is_back() {
    let Some(probe) = redis() else { return };
    drop(probe);
    let port = free_port();
    let (ha, hb) = (
        tempfile::tempdir().expect("home"),
        tempfile::tempdir().expect("home"),
    );
    let (_a, pa, ta) = sidecar(ha.path(), port, "");
    let (_b, pb, tb) = sidecar(hb.path(), port, "fail_open = [\"tool\"]");
    let agent = agent();
    let (status, body) = intent(&agent, pa, &ta);
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("`tool` limit cannot be checked") && body.contains("fail_open"),
        "{body}"
    );
    assert!(!body.contains("redis://"), "the URL is never shown: {body}");
    let (status, ready) = readyz(&agent, pa);
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["redis"]["ok"], false, "{ready}");
    assert!(ready["redis"]["error"].is_string(), "{ready}");
    // The other lets the tool limit through while Redis is away (the per-token limit is off in
    // these sidecars; it would need listing too).
    let (status, body) = intent(&agent, pb, &tb);
    assert!(status < 500 && status != 429, "{status} {body}");
    // Some limit still fails closed there, so it is not ready; one that lists every limit is.
    assert_eq!(readyz(&agent, pb).0, 503);
    let hc = tempfile::tempdir().expect("home");
    let all = "fail_open = [\"global\", \"token\", \"route\", \"tool\", \"auth-failures\", \"ingress-source\", \"ingress-replay\", \"proxy-client\", \"gateway-budget\"]";
    let (_c, pc, _) = sidecar(hc.path(), port, all);
    let (status, ready) = readyz(&agent, pc);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["redis"]["ok"], false, "{ready}");

    // Redis comes up: both count there again within a few seconds.
    let _redis = redis_on(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = intent(&agent, pa, &ta);
        if status != 503 {
            assert!(status < 500, "{status} {body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still 503 after Redis came back: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(readyz(&agent, pa).0, 200);
}

/// POST `body` to `path` on `port` with `token`: status and JSON body.
fn post(
    agent: &ureq::Agent,
    port: u16,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut r = agent
        .post(&format!("http://127.0.0.1:{port}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .expect("post");
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        r.status().as_u16(),
        serde_json::from_str(&text).unwrap_or_default(),
    )
}

/// `bulwark token create` on `home`, whose `[store] url` is `env:FLEET_DB`.
fn create_token(home: &Path, db: &str, name: &str, scopes: &str) -> String {
    let o = run_with_stdin(
        bulwark_on(home)
            .env("FLEET_DB", db)
            .args(["token", "create", "--name", name, "--scope", scopes]),
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn two_sidecars_on_one_postgres_consume_once_revoke_everywhere_and_keep_two_chains() {
    let Some(pg) = pg::postgres() else { return };
    let Some(redis) = redis() else { return };
    let url = pg.database("fleet");
    let (ha, hb) = (
        tempfile::tempdir().expect("home"),
        tempfile::tempdir().expect("home"),
    );
    let mut ports = Vec::new();
    for (home, instance) in [(ha.path(), "pod-a"), (hb.path(), "pod-b")] {
        let port = free_port();
        ports.push(port);
        std::fs::write(
            home.join("bulwark.toml"),
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n\
                 [server.limits]\nredis = \"redis://127.0.0.1:{}/0\"\n\
                 [store]\nurl = \"env:FLEET_DB\"\ninstance = \"{instance}\"\n\
                 [audit]\nbackend = \"postgres\"\n\
                 [action]\nmode = \"supervised\"\n",
                redis.port
            ),
        )
        .expect("config");
        let check = run_with_stdin(
            bulwark_on(home)
                .env("FLEET_DB", &url)
                .args(["config", "check"]),
            b"",
        );
        assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    }
    let (pa, pb) = (ports[0], ports[1]);
    // Tokens made on one home are the fleet's: they live in the shared database.
    let copilot = create_token(ha.path(), &url, "copilot", "intents");
    let alice = create_token(ha.path(), &url, "alice", "approve,audit");
    let a = serve_on(ha.path(), pa, &[("FLEET_DB", url.as_str())]);
    // The fleet shares its audit keys (a Secret in Kubernetes): B gets A's.
    let copied = Command::new("cp")
        .arg("-a")
        .arg(ha.path().join("keys"))
        .arg(hb.path().join("keys"))
        .status()
        .expect("cp");
    assert!(copied.success());
    let b = serve_on(hb.path(), pb, &[("FLEET_DB", url.as_str())]);
    let http = agent();

    // An intent asked on A, approved on B, consumed by 100 callers across both: run once.
    let body = r#"{"tool":"kubectl","action":"scale","target":{"kind":"deployment","name":"api","namespace":"payments-prod"},"args":{"replicas":0},"requested_by":"copilot"}"#;
    let (status, v) = post(&http, pa, "/v1/intents", &copilot, body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["verdict"], "review", "{v}");
    let id = v["approval"]["id"].as_str().expect("id").to_string();
    let digest = v["digest"].as_str().expect("digest").to_string();
    let (status, v) = post(
        &http,
        pb,
        &format!("/v1/approvals/{id}/approve"),
        &alice,
        &format!(r#"{{"digest":"{digest}"}}"#),
    );
    assert_eq!(status, 200, "{v}");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..100)
            .map(|i| {
                let (id, copilot) = (&id, &copilot);
                let port = if i % 2 == 0 { pa } else { pb };
                s.spawn(move || {
                    post(
                        &agent(),
                        port,
                        &format!("/v1/approvals/{id}/consume"),
                        copilot,
                        body,
                    )
                    .0
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|c| **c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|c| **c == 409).count(),
        99,
        "{statuses:?}"
    );

    // A token revoked on A's home is refused by B within a second.
    let probe = |port: u16| {
        http.get(&format!("http://127.0.0.1:{port}/v1/approvals"))
            .header("Authorization", &format!("Bearer {copilot}"))
            .call()
            .expect("get")
            .status()
            .as_u16()
    };
    assert_eq!(probe(pb), 200, "B knows the token (and caches it)");
    let o = run_with_stdin(
        bulwark_on(ha.path())
            .env("FLEET_DB", &url)
            .args(["token", "revoke", "copilot"]),
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let revoked = Instant::now();
    while probe(pb) != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B still accepts a token revoked {:?} ago",
            revoked.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(probe(pa), 401);

    // Both instances wrote their own chain; `bulwark audit verify` checks both.
    drop((a, b));
    let verify = || {
        run_with_stdin(
            bulwark_on(hb.path())
                .env("FLEET_DB", &url)
                .args(["audit", "verify", "--format", "json"]),
            b"",
        )
    };
    let o = verify();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let notices = report["notices"].to_string();
    assert!(
        notices.contains("pod-a") && notices.contains("pod-b"),
        "{report}"
    );
    let consumed = pg.sql(
        "fleet",
        "SELECT count(*) FROM audit_records WHERE line::jsonb ->> 'action' = 'approval.consume' \
         AND line::jsonb ->> 'outcome' = 'executed'",
    );
    assert_eq!(consumed, "1", "one execution recorded across the fleet");
    pg.sql(
        "fleet",
        "ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only; \
         DELETE FROM audit_records WHERE instance = 'pod-a' AND seq = 2;",
    );
    let o = verify();
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("pod-a"),
        "{}",
        text(&o)
    );
}

#[test]
fn with_postgres_gone_the_audit_writer_stops_and_the_probes_say_so() {
    let Some(mut pg) = pg::postgres() else { return };
    let url = pg.database("outage");
    let home = tempfile::tempdir().expect("home");
    let port = free_port();
    std::fs::write(
        home.path().join("bulwark.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [store]\nurl = \"env:FLEET_DB\"\n[audit]\nbackend = \"postgres\"\n"
        ),
    )
    .expect("config");
    let token = create_token(home.path(), &url, "coder", "intents");
    let _serve = serve_on(home.path(), port, &[("FLEET_DB", url.as_str())]);
    let http = agent();
    let probe = |path: &str| {
        let mut r = http
            .get(&format!("http://127.0.0.1:{port}{path}"))
            .call()
            .expect("probe");
        let body = r.body_mut().read_to_string().unwrap_or_default();
        (r.status().as_u16(), body)
    };
    assert_eq!(intent(&http, port, &token).0, 200);
    assert_eq!(probe("/healthz").0, 200);
    pg.stop();
    // The decision cannot be recorded: refused, not let through unrecorded.
    let (status, body) = intent(&http, port, &token);
    assert!(status >= 500, "{status} {body}");
    // A record handed to the sidecar's writer (through its relay) cannot be written: after
    // trying to connect again for a while, the writer refuses it and stops.
    let o = run_with_stdin(
        bulwark_on(home.path()).env("FLEET_DB", &url).args([
            "audit",
            "append",
            "--type",
            "config_change",
            "--actor",
            "ops",
            "--action",
            "outage.test",
            "--resource",
            "db",
            "--outcome",
            "ok",
        ]),
        b"",
    );
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    // The writer gave up: liveness fails so a supervisor restarts the sidecar, readiness too.
    let (status, body) = probe("/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("audit_error"), "{body}");
    let (status, body) = probe("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"audit\":false"), "{body}");
}
