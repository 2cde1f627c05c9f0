//! Intents and approvals over the API: racing consumers, principals, numbers the digest would round.

use super::*;

fn intent(requested_by: &str, replicas: u32) -> String {
    format!(
        r#"{{"tool":"kubectl","action":"scale","target":{{"kind":"deployment","name":"api","namespace":"payments-prod"}},"args":{{"replicas":{replicas}}},"requested_by":"{requested_by}"}}"#
    )
}

#[test]
fn intents_approvals_and_racing_consumers() {
    let mut cfg = SecurityConfig::default();
    cfg.action.mode = ActionMode::Supervised;
    let s = start(
        cfg,
        &[
            ("copilot", "intents,approve"),
            ("alice", "approve,audit"),
            ("reader", "scan"),
        ],
    );
    // An agent requests in its own name only.
    let a = s.post("/v1/intents", "copilot", &intent("alice", 0));
    assert_eq!(a.status, 403);
    let a = s.post(
        "/v1/intents",
        "copilot",
        r#"{"tool":"x","action":"get","requested_by":"copilot","extra":1}"#,
    );
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("extra")
    );
    let a = s.post("/v1/intents", "copilot", &intent("copilot", 0));
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["verdict"], "review");
    let id = a.body["approval"]["id"].as_str().unwrap().to_string();
    let digest = a.body["digest"].as_str().unwrap().to_string();
    // Metrics: the decision by guard and verdict, the pending approval, the audit append time.
    let m = s.call("GET", "/metrics", None, None);
    assert!(
        m.text
            .contains(r#"bulwark_decisions_total{guard="action",verdict="review"}"#),
        "{}",
        m.text
    );
    assert!(
        m.text
            .lines()
            .any(|l| l.starts_with("bulwark_approvals_pending ")
                && l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
                    >= Some(1.0)),
        "{}",
        m.text
    );
    assert!(
        m.text.contains("bulwark_audit_append_seconds"),
        "{}",
        m.text
    );
    let approve = |who: &str, d: &str| {
        s.post(
            &format!("/v1/approvals/{id}/approve"),
            who,
            &format!(r#"{{"digest":"{d}"}}"#),
        )
    };
    // The requester holds the approve scope and still may not approve its own action.
    assert_eq!(approve("copilot", &digest).status, 403);
    assert_eq!(approve("reader", &digest).status, 403);
    assert_eq!(approve("alice", &"0".repeat(64)).status, 409);
    let shown = s.get(&format!("/v1/approvals/{id}"), "alice");
    assert_eq!(shown.body["approval"]["digest"], digest.as_str());
    assert_eq!(approve("alice", &digest).status, 200);
    // Another intent cannot use the approval.
    let a = s.post(
        &format!("/v1/approvals/{id}/consume"),
        "copilot",
        &intent("copilot", 1),
    );
    assert_eq!(a.status, 409);
    assert_eq!(a.body["error"]["code"], "digest_mismatch");
    // Ten consumers race: exactly one may run the action.
    let body = intent("copilot", 0);
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..10)
            .map(|_| {
                sc.spawn(|| {
                    s.post(&format!("/v1/approvals/{id}/consume"), "copilot", &body)
                        .status
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
        9,
        "{statuses:?}"
    );
    // And the audit log has it all and verifies.
    let v = s.get("/v1/audit/verify", "alice");
    assert_eq!(v.body["ok"], true, "{}", v.text);
    let page = s.get("/v1/audit?limit=1000", "alice");
    let actions: Vec<String> = page.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["action"].as_str().unwrap(),
                r["outcome"].as_str().unwrap()
            )
        })
        .collect();
    for needed in [
        "action.check review",
        "approval.create pending",
        "approval.approve approved",
        "approval.consume executed",
        "approval.approve denied",
        "approval.consume denied",
    ] {
        assert!(
            actions.iter().any(|a| a == needed),
            "{needed} missing from {actions:?}"
        );
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "approval.consume executed")
            .count(),
        1
    );
    let first = s.get("/v1/audit?limit=2", "alice");
    assert_eq!(first.body["records"].as_array().unwrap().len(), 2);
    let next = first.body["next_after"].as_u64().unwrap();
    let second = s.get(&format!("/v1/audit?after={next}&limit=2"), "alice");
    assert_eq!(second.body["records"][0]["seq"].as_u64().unwrap(), next + 1);
}

#[test]
fn approvals_are_bound_to_the_principal_that_requested_them() {
    let mut cfg = SecurityConfig::default();
    cfg.action.mode = ActionMode::Supervised;
    let s = start(
        cfg,
        &[
            ("agent-a", "intents"),
            ("agent-b", "intents"),
            ("alice", "approve"),
            ("carol", "intents,approve"),
        ],
    );
    let a = s.post("/v1/intents", "agent-a", &intent("agent-a", 0));
    assert_eq!(a.status, 200, "{}", a.text);
    let id = a.body["approval"]["id"].as_str().unwrap().to_string();
    let digest = a.body["digest"].as_str().unwrap().to_string();
    let b = s.post("/v1/intents", "agent-b", &intent("agent-b", 0));
    let id_b = b.body["approval"]["id"].as_str().unwrap().to_string();
    let listed = |who: &str, query: &str| -> Vec<String> {
        let l = s.get(&format!("/v1/approvals{query}"), who);
        assert_eq!(l.status, 200, "{}", l.text);
        l.body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    // B is answered about A's approval exactly as about an id that does not exist.
    let unknown = s.get(&format!("/v1/approvals/{}", "0".repeat(32)), "agent-b");
    assert_eq!(unknown.status, 404);
    let not_found = |a: &Answer, id: &str| {
        assert_eq!(a.status, 404, "{}", a.text);
        assert_eq!(a.body["error"]["code"], "not_found");
        assert_eq!(a.body["error"]["message"], format!("no approval {id}"));
    };
    not_found(&s.get(&format!("/v1/approvals/{id}"), "agent-b"), &id);
    assert_eq!(listed("agent-b", ""), vec![id_b.clone()]);
    assert_eq!(listed("agent-a", ""), vec![id.clone()]);
    // An approver reads it and sees every pending approval.
    let shown = s.get(&format!("/v1/approvals/{id}"), "alice");
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["approval"]["digest"], digest.as_str());
    assert_eq!(shown.body["intent"]["requested_by"], "agent-a");
    let all = listed("alice", "?state=pending");
    assert!(all.contains(&id) && all.contains(&id_b), "{all:?}");
    assert_eq!(s.get(&format!("/v1/approvals/{id}"), "agent-a").status, 200);
    // B may not withdraw it.
    not_found(
        &s.post(&format!("/v1/approvals/{id}/reject"), "agent-b", "{}"),
        &id,
    );
    let approved = s.post(
        &format!("/v1/approvals/{id}/approve"),
        "alice",
        &format!(r#"{{"digest":"{digest}"}}"#),
    );
    assert_eq!(approved.status, 200, "{}", approved.text);
    // B may not consume it, even with A's intent (its digest matches); nor may another approver.
    let body = intent("agent-a", 0);
    not_found(
        &s.post(&format!("/v1/approvals/{id}/consume"), "agent-b", &body),
        &id,
    );
    let c = s.post(&format!("/v1/approvals/{id}/consume"), "carol", &body);
    assert_eq!(c.status, 403, "{}", c.text);
    assert_eq!(c.body["error"]["code"], "forbidden");
    assert!(listed("agent-b", "").iter().all(|x| *x != id));
    assert_eq!(listed("agent-a", "?state=approved"), vec![id.clone()]);
    // A consumes it, once.
    let c = s.post(&format!("/v1/approvals/{id}/consume"), "agent-a", &body);
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.body["decided_by"], "agent-a");
    // A withdraws another of its own.
    let a2 = s.post("/v1/intents", "agent-a", &intent("agent-a", 1));
    let id2 = a2.body["approval"]["id"].as_str().unwrap().to_string();
    let w = s.post(
        &format!("/v1/approvals/{id2}/reject"),
        "agent-a",
        r#"{"reason":"not needed"}"#,
    );
    assert_eq!(w.status, 200, "{}", w.text);
    assert_eq!(w.body["state"], "rejected");
    // B's own approval is still B's.
    assert_eq!(
        s.get(&format!("/v1/approvals/{id_b}"), "agent-b").status,
        200
    );
    not_found(&s.get(&format!("/v1/approvals/{id_b}"), "agent-a"), &id_b);
}

#[test]
fn intents_with_numbers_the_digest_would_round_are_refused() {
    let s = start(SecurityConfig::default(), &[("agent", "intents")]);
    let doc = |id: &str| {
        format!(
            r#"{{"tool":"chat","action":"delete_message","args":{{"message_id":{id}}},"requested_by":"agent"}}"#
        )
    };
    for route in [
        "/v1/intents",
        &format!("/v1/approvals/{}/consume", "0".repeat(32)),
    ] {
        let a = s.post(route, "agent", &doc("1152921504606846977"));
        assert_eq!(a.status, 400, "{route}: {}", a.text);
        assert_eq!(a.body["error"]["code"], "invalid_request");
        let m = a.body["error"]["message"].as_str().unwrap();
        assert!(m.contains("`args.message_id`"), "{m}");
        assert!(m.contains("send it as a string"), "{m}");
    }
    // As a string it is judged; an exact integer still is a number.
    assert_eq!(
        s.post("/v1/intents", "agent", &doc(r#""1152921504606846977""#))
            .status,
        200
    );
    assert_eq!(
        s.post("/v1/intents", "agent", &doc("9007199254740991"))
            .status,
        200
    );
    let a = s.post("/v1/intents", "agent", &doc("0.10000000000000000001"));
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`args.message_id`")
    );
}
