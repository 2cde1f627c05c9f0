//! Approvals in Slack and Discord, end to end: `bulwark serve` posts each new approval to a fake
//! Slack Web API and a fake Discord API with Approve and Reject buttons; clicks come back signed by
//! Python's `hmac` (Slack's v0) and PyNaCl (Discord's Ed25519), independent implementations of the
//! platforms' signatures. Unknown users are refused, the requester may not approve, bad
//! signatures and stale timestamps get 401, a replayed click changes nothing twice, a button
//! cannot be pointed at another approval, and only Slack's own hooks (or the configured API's
//! origin) receive the answer.
//!
//! Needs python3 with PyNaCl (`.ci/run` installs it); without it the test skips with a notice,
//! unless `BULWARK_REQUIRE_PYNACL` is set.

#![cfg(unix)]

mod common;
use common::{bulwark_on, free_port, run_with_stdin, serve_on, text, token};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fake chat APIs received: (path, authorization header, body).
type Received = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A fake of both platforms' APIs: records every POST and answers `{"ok": true}`.
fn fake_chat_api() -> (String, Received) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let got: Received = Arc::default();
    let seen = got.clone();
    std::thread::spawn(move || {
        for mut conn in l.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let (mut len, mut auth, mut path) = (0usize, String::new(), String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if path.is_empty() {
                    path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            seen.lock().unwrap().push((
                path,
                auth,
                serde_json::from_slice(&body).unwrap_or_default(),
            ));
            let reply = r#"{"ok":true}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, got)
}

/// Wait for the `n`th POST to `path`.
fn posted(got: &Received, path: &str, n: usize) -> (String, serde_json::Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits: Vec<_> = got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .cloned()
            .collect();
        if let Some((_, auth, body)) = hits.get(n) {
            return (auth.clone(), body.clone());
        }
        assert!(
            Instant::now() < deadline,
            "nothing posted to {path}: {:?}",
            got.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for a POST to `path` whose body `pred` accepts (answers come from background threads, in
/// no set order).
fn posted_where(
    got: &Received,
    path: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((_, _, body)) = got
            .lock()
            .unwrap()
            .iter()
            .find(|(p, _, b)| p == path && pred(b))
        {
            return body.clone();
        }
        assert!(Instant::now() < deadline, "no such POST to {path}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/chat/click.py")
}

/// Run click.py: (status, body).
fn click(args: &[&str]) -> (u16, serde_json::Value) {
    let o = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .expect("python3");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let (status, body) = out.split_once('\n').unwrap_or((&out, ""));
    (
        status.trim().parse().expect("a status"),
        serde_json::from_str(body.trim()).unwrap_or_default(),
    )
}

fn now() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

#[test]
fn approvals_are_decided_from_slack_and_discord_buttons_signed_by_the_platforms() {
    let have_nacl = Command::new("python3")
        .args(["-c", "import nacl"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_nacl {
        assert!(
            std::env::var_os("BULWARK_REQUIRE_PYNACL").is_none(),
            "BULWARK_REQUIRE_PYNACL is set but python3 cannot import nacl (pip install pynacl)"
        );
        eprintln!("skipped: python3 with PyNaCl is not installed (pip install pynacl)");
        return;
    }
    let (api, got) = fake_chat_api();
    let (_, public) = {
        let o = Command::new("python3")
            .arg(script())
            .args(["discord-public-key", SEED])
            .output()
            .expect("python3");
        ((), String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let home = tempfile::tempdir().expect("home");
    let port = free_port();
    std::fs::write(
        home.path().join("bulwark.toml"),
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
[action]
mode = "supervised"
[approval.slack]
enabled = true
signing_secret = "env:SLACK_SIGNING_SECRET"
bot_token = "env:SLACK_BOT_TOKEN"
channel = "C0BULWARK"
team_id = "T0BULWARK"
api_url = "{api}"
details = "summary"
users = {{ U0ALICE = "alice", U0COPILOT = "copilot" }}
[approval.discord]
enabled = true
public_key = "{public}"
bot_token = "env:DISCORD_BOT_TOKEN"
channel_id = "123456789"
guild_id = "555000111"
api_url = "{api}"
users = {{ "80351110224678912" = "alice" }}
[console]
enabled = true
public_url = "https://bulwark.example/console/"
"#
        ),
    )
    .expect("config");
    let env = [
        ("SLACK_SIGNING_SECRET", SLACK_SECRET),
        ("SLACK_BOT_TOKEN", "xoxb-test-token"),
        ("DISCORD_BOT_TOKEN", "discord-test-token"),
    ];
    let mut check = bulwark_on(home.path());
    check.envs(env).args(["config", "check"]);
    let o = run_with_stdin(&mut check, b"");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let copilot = token(home.path(), "copilot", "intents,approve");
    let alice = token(home.path(), "alice", "approve");
    let _serve = serve_on(home.path(), port, &env);
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let ask = |replicas: u32| common::ask_scale(&http, port, &copilot, replicas);
    let state = |id: &str| common::approval_state(&http, port, &alice, id);

    // A new approval is posted to both, with the bot tokens, and buttons bound to it.
    let (id, digest) = ask(0);
    let (auth, slack_post) = posted(&got, "/chat.postMessage", 0);
    assert_eq!(auth, "Bearer xoxb-test-token");
    assert_eq!(slack_post["channel"], "C0BULWARK");
    // Each message links the approval's page in the web console.
    let link = format!("https://bulwark.example/console/approvals/{id}");
    assert!(
        slack_post["text"].as_str().unwrap().contains(&link),
        "{slack_post}"
    );
    assert!(
        slack_post["text"]
            .as_str()
            .unwrap()
            .contains("kubectl scale"),
        "{slack_post}"
    );
    // The channel gets Review and Reject: nobody approves from the one line every approval shares.
    let review = slack_post["blocks"][1]["elements"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(review, format!("review:{id}:{}", &digest[..32]));
    let approve = format!("approve:{id}:{}", &digest[..32]);
    let elements = slack_post["blocks"][1]["elements"].as_array().unwrap();
    assert!(
        elements
            .iter()
            .all(|e| !e["value"].as_str().unwrap().starts_with("approve:"))
    );
    let (auth, discord_post) = posted(&got, "/channels/123456789/messages", 0);
    assert_eq!(auth, "Bot discord-test-token");
    // details = "none" (the default) for Discord: no payload details in a semi-public channel.
    let content = discord_post["content"].as_str().unwrap();
    assert!(
        content.contains(&id) && !content.contains("kubectl") && content.contains(&link),
        "{content}"
    );
    assert_eq!(
        discord_post["allowed_mentions"]["parse"],
        serde_json::json!([])
    );

    let slack_url = format!("http://127.0.0.1:{port}/v1/interactions/slack");
    let payload = |user: &str, value: &str| {
        serde_json::json!({
            "type": "block_actions",
            "team": {"id": "T0BULWARK"},
            "channel": {"id": "C0BULWARK"},
            "user": {"id": user, "username": user, "team_id": "T0BULWARK"},
            "actions": [{"action_id": "bulwark_approve", "value": value}],
            "response_url": format!("{api}/actions/T0/1/reply"),
        })
        .to_string()
    };
    // Unknown user: refused, nothing changes.
    let (status, v) = click(&[
        "slack",
        &slack_url,
        SLACK_SECRET,
        &now(),
        &payload("U0MALLORY", &approve),
    ]);
    assert_eq!(status, 200);
    assert!(
        v["text"].as_str().unwrap().contains("not an approver"),
        "{v}"
    );
    assert_eq!(state(&id)["state"], "pending");
    // A bad signature, and a correctly signed but stale click: 401.
    let (status, _) = click(&[
        "slack",
        &slack_url,
        SLACK_SECRET,
        &now(),
        &payload("U0ALICE", &approve),
        "tamper",
    ]);
    assert_eq!(status, 401);
    let stale = (now().parse::<u64>().unwrap() - 600).to_string();
    let (status, v) = click(&[
        "slack",
        &slack_url,
        SLACK_SECRET,
        &stale,
        &payload("U0ALICE", &approve),
    ]);
    assert_eq!(status, 401, "{v}");
    let (status, _) = click(&[
        "slack",
        &slack_url,
        "another-secret",
        &now(),
        &payload("U0ALICE", &approve),
    ]);
    assert_eq!(status, 401);
    // The requester may not approve its own action.
    let (_, v) = click(&[
        "slack",
        &slack_url,
        SLACK_SECRET,
        &now(),
        &payload("U0COPILOT", &approve),
    ]);
    assert!(
        v["text"].as_str().unwrap().contains("may not approve"),
        "{v}"
    );
    // A button pointed at this approval with another digest is refused.
    let forged = format!("approve:{id}:{}", "0".repeat(32));
    let (_, v) = click(&[
        "slack",
        &slack_url,
        SLACK_SECRET,
        &now(),
        &payload("U0ALICE", &forged),
    ]);
    assert!(
        v["text"].as_str().unwrap().contains("does not belong"),
        "{v}"
    );
    assert_eq!(state(&id)["state"], "pending");
    // Alice reviews: she alone sees the arguments and the digest, with Approve and Reject.
    let (status, v) = click(&[
        "slack",
        &slack_url,
        SLACK_SECRET,
        &now(),
        &payload("U0ALICE", &review),
    ]);
    assert_eq!(status, 200);
    let shown = v["text"].as_str().unwrap();
    assert!(
        shown.contains(r#""replicas":0"#) && shown.contains(&digest),
        "{v}"
    );
    assert_eq!(v["blocks"][1]["elements"][0]["value"], approve.as_str());
    let reply = posted_where(&got, "/actions/T0/1/reply", |b| b["blocks"].is_array());
    assert_eq!(reply["response_type"], "ephemeral");
    assert_eq!(reply["blocks"][1]["elements"][0]["value"], approve.as_str());
    assert_eq!(state(&id)["state"], "pending", "reviewing decides nothing");
    // Alice approves; her answer also goes to the response_url, for her only.
    let ts = now();
    let alice_click = payload("U0ALICE", &approve);
    let (status, v) = click(&["slack", &slack_url, SLACK_SECRET, &ts, &alice_click]);
    assert_eq!(status, 200);
    assert!(v["text"].as_str().unwrap().contains("may run now"), "{v}");
    let rec = state(&id);
    assert_eq!(rec["state"], "approved");
    assert_eq!(rec["votes"][0]["approver"], "alice", "{rec}");
    let reply = posted_where(&got, "/actions/T0/1/reply", |b| {
        b["text"]
            .as_str()
            .is_some_and(|t| t.contains("may run now"))
    });
    assert_eq!(reply["response_type"], "ephemeral");
    // The same signed click again (a replay): refused, nothing changes twice.
    let (status, v) = click(&["slack", &slack_url, SLACK_SECRET, &ts, &alice_click]);
    assert_eq!(status, 409, "{v}");
    // A second click (a new request, signed at another second): answered, still nothing
    // changes twice.
    let earlier = (ts.parse::<u64>().unwrap() - 1).to_string();
    let (status, v) = click(&["slack", &slack_url, SLACK_SECRET, &earlier, &alice_click]);
    assert_eq!(status, 200);
    assert!(
        v["text"].as_str().unwrap().contains("already approved"),
        "{v}"
    );
    assert_eq!(state(&id)["votes"].as_array().unwrap().len(), 1);
    // A user of another workspace (a Slack Connect channel) with a mapped id: refused.
    let foreign = serde_json::json!({
        "type": "block_actions", "team": {"id": "T0OTHER"}, "channel": {"id": "C0BULWARK"},
        "user": {"id": "U0ALICE", "team_id": "T0OTHER"}, "actions": [{"value": approve}],
    })
    .to_string();
    let (_, v) = click(&["slack", &slack_url, SLACK_SECRET, &now(), &foreign]);
    assert!(v["text"].as_str().unwrap().contains("workspace"), "{v}");
    // A response_url elsewhere than Slack's hooks (or the configured API) is not posted to.
    let (evil, evil_got) = fake_chat_api();
    let elsewhere = serde_json::json!({
        "type": "block_actions", "team": {"id": "T0BULWARK"}, "channel": {"id": "C0BULWARK"},
        "user": {"id": "U0ALICE", "team_id": "T0BULWARK"},
        "actions": [{"value": approve}], "response_url": format!("{evil}/steal"),
    })
    .to_string();
    let (status, _) = click(&["slack", &slack_url, SLACK_SECRET, &now(), &elsewhere]);
    assert_eq!(status, 200);

    // Discord: PING, a bad signature, and a rejection with a replay.
    let discord_url = format!("http://127.0.0.1:{port}/v1/interactions/discord");
    let (status, v) = click(&["discord", &discord_url, SEED, &now(), r#"{"type":1}"#]);
    assert_eq!((status, v), (200, serde_json::json!({"type": 1})));
    let (status, _) = click(&[
        "discord",
        &discord_url,
        SEED,
        &now(),
        r#"{"type":1}"#,
        "tamper",
    ]);
    assert_eq!(status, 401);
    let other_seed = "1".repeat(64);
    let (status, _) = click(&[
        "discord",
        &discord_url,
        &other_seed,
        &now(),
        r#"{"type":1}"#,
    ]);
    assert_eq!(status, 401);
    let (id2, _) = ask(1);
    let (_, post2) = posted(&got, "/channels/123456789/messages", 1);
    let reject = post2["components"][0]["components"][1]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reject.starts_with(&format!("reject:{id2}:")) && reject.len() <= 100);
    let interaction = |user: &str| {
        serde_json::json!({
            "type": 3, "guild_id": "555000111", "channel_id": "123456789",
            "member": {"user": {"id": user}}, "data": {"custom_id": reject, "component_type": 2},
        })
        .to_string()
    };
    // The same click from a direct message (no server): refused.
    let dm = serde_json::json!({
        "type": 3, "user": {"id": "80351110224678912"}, "data": {"custom_id": reject},
    })
    .to_string();
    let (_, v) = click(&["discord", &discord_url, SEED, &now(), &dm]);
    assert!(
        v["data"]["content"].as_str().unwrap().contains("not taken"),
        "{v}"
    );
    let (_, v) = click(&["discord", &discord_url, SEED, &now(), &interaction("1")]);
    assert_eq!(v["data"]["flags"], 64);
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .contains("not an approver"),
        "{v}"
    );
    // Review from Discord: the arguments, Approve and Reject, shown to the clicker only.
    let review2 = post2["components"][0]["components"][0]["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    let reviewing = serde_json::json!({
        "type": 3, "guild_id": "555000111", "channel_id": "123456789",
        "member": {"user": {"id": "80351110224678912"}}, "data": {"custom_id": review2},
    })
    .to_string();
    let (_, v) = click(&["discord", &discord_url, SEED, &now(), &reviewing]);
    assert_eq!(v["data"]["flags"], 64);
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .contains(r#""replicas":1"#),
        "{v}"
    );
    assert!(
        v["data"]["components"][0]["components"][0]["custom_id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("approve:{id2}:"))
    );
    let ts = now();
    let body = interaction("80351110224678912");
    let (_, v) = click(&["discord", &discord_url, SEED, &ts, &body]);
    assert_eq!(v["type"], 4);
    assert!(
        v["data"]["content"].as_str().unwrap().contains("Rejected"),
        "{v}"
    );
    let rec = state(&id2);
    assert_eq!(rec["state"], "rejected");
    assert_eq!(rec["reason"], "rejected in discord");
    // Replayed: 409. Clicked again (a new signed request): nothing changes twice.
    let (status, _) = click(&["discord", &discord_url, SEED, &ts, &body]);
    assert_eq!(status, 409);
    let earlier = (ts.parse::<u64>().unwrap() - 1).to_string();
    let (_, v) = click(&["discord", &discord_url, SEED, &earlier, &body]);
    assert!(
        v["data"]["content"]
            .as_str()
            .unwrap()
            .contains("already rejected"),
        "{v}"
    );
    // By now the Slack answer to the click above would have arrived: none went elsewhere.
    assert!(
        evil_got.lock().unwrap().is_empty(),
        "{:?}",
        evil_got.lock().unwrap()
    );
}
