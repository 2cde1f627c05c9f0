//! The sidecar API's routes over real HTTP: the OpenAPI document, error bodies, authentication and scopes, bad input.

use super::*;

#[test]
fn the_openapi_document_matches_the_routes_and_every_route_answers() {
    let s = start(SecurityConfig::default(), &[("ops", ALL)]);
    let doc = s.get("/openapi.json", "ops");
    assert_eq!(doc.status, 200);
    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, served);
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
    for (method, path) in ROUTES {
        let path = path
            .replace("{id}", &"0".repeat(32))
            .replace("{source}", "none");
        let a = if *method == "get" {
            s.get(&path, "ops")
        } else {
            s.post(&path, "ops", "{}")
        };
        assert!(
            a.status != 404
                || a.body["error"]["code"] == "not_found"
                    && (path.contains("approvals")
                        || path.contains("ingress")
                        || path.contains("held")
                        || path.contains("interactions")),
            "{method} {path}: {} {}",
            a.status,
            a.text
        );
        assert!(
            a.status < 500 || a.status == 503,
            "{method} {path}: {}",
            a.status
        );
    }
}

/// Every console route is served (with the console on), none answers 5xx without a session, and
/// each carries the console's security headers; with the console off each answers 404.
#[test]
fn every_console_route_answers_with_its_headers() {
    let mut cfg = SecurityConfig::default();
    cfg.console.enabled = true;
    let s = start(cfg, &[("ops", ALL)]);
    let off = start(SecurityConfig::default(), &[("ops", ALL)]);
    for (method, path) in bulwark_server::api::CONSOLE_ROUTES {
        let path = path
            .replace("{id}", &"0".repeat(32))
            .replace("{name}", "console.css");
        let call = |srv: &Server| {
            if *method == "get" {
                srv.call("GET", &path, None, None)
            } else {
                srv.call(
                    "POST",
                    &path,
                    None,
                    Some(("application/x-www-form-urlencoded", "csrf=x")),
                )
            }
        };
        let a = call(&s);
        // Single sign-on's routes are off until [console.oidc] is configured, and say so.
        let sso_off =
            path.starts_with("/console/oidc/") && a.text.contains("single sign-on is off");
        assert!(
            (a.status != 404 || sso_off) && a.status < 500,
            "{method} {path}: {} {}",
            a.status,
            a.text
        );
        let csp = a
            .headers
            .iter()
            .find(|(k, _)| k == "content-security-policy")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        assert!(
            csp.starts_with("default-src 'none'") && !csp.contains("unsafe"),
            "{method} {path}: {csp:?}"
        );
        assert_eq!(
            call(&off).status,
            404,
            "{method} {path} with the console off"
        );
    }
}

/// Every kind of error answer, pinned: status and body. A change to a code or a message shows up
/// as a snapshot diff.
#[test]
fn error_bodies_are_pinned() {
    let mut cfg = SecurityConfig::default();
    cfg.server.max_body_bytes = 1024;
    let s = start(cfg, &[("scanner", "scan"), ("ops", ALL)]);
    let big = format!("{{\"text\":\"{}\"}}", "a".repeat(2048));
    let cases: Vec<Case<'_>> = vec![
        (
            "POST",
            "/v1/scan",
            None,
            Some(("application/json", r#"{"text":"x"}"#)),
        ),
        (
            "POST",
            "/v1/scan",
            Some("not-a-token"),
            Some(("application/json", r#"{"text":"x"}"#)),
        ),
        (
            "POST",
            "/v1/intents",
            Some("scanner"),
            Some(("application/json", "{}")),
        ),
        ("GET", "/v1/scan", Some("scanner"), None),
        ("GET", "/v1/nothing", Some("scanner"), None),
        (
            "POST",
            "/v1/scan",
            Some("scanner"),
            Some(("application/json", "{\"text\":")),
        ),
        (
            "POST",
            "/v1/scan",
            Some("scanner"),
            Some(("application/json", r#"{"text":"x","extra":1}"#)),
        ),
        (
            "POST",
            "/v1/scan",
            Some("scanner"),
            Some(("text/plain", r#"{"text":"x"}"#)),
        ),
        (
            "POST",
            "/v1/scan",
            Some("scanner"),
            Some(("application/json", r#"{"text":"x","source":"moon"}"#)),
        ),
        (
            "POST",
            "/v1/scan",
            Some("scanner"),
            Some(("application/json", &big)),
        ),
        (
            "POST",
            "/v1/wrap",
            Some("scanner"),
            Some(("application/json", r#"{"text":"x","datamark":"ab"}"#)),
        ),
        (
            "POST",
            "/v1/egress/check",
            Some("ops"),
            Some((
                "application/json",
                r#"{"url":"http://x.example/","profile":"nope"}"#,
            )),
        ),
        (
            "POST",
            "/v1/intents",
            Some("ops"),
            Some((
                "application/json",
                r#"{"tool":"kubectl","action":"get","requested_by":"someone-else"}"#,
            )),
        ),
        ("GET", "/v1/approvals/not-an-id", Some("ops"), None),
        (
            "GET",
            "/v1/approvals/0123456789abcdef0123456789abcdef",
            Some("ops"),
            None,
        ),
        (
            "POST",
            "/v1/ingress/none",
            None,
            Some(("application/json", "{}")),
        ),
    ];
    let mut shown = String::new();
    for (method, path, token, body) in cases {
        let a = s.call(method, path, token, body);
        shown.push_str(&format!("{method} {path} -> {}\n{}\n\n", a.status, a.text));
    }
    insta::assert_snapshot!("api_error_bodies", shown);
}

#[test]
fn authentication_scopes_and_bad_input() {
    let mut cfg = SecurityConfig::default();
    // Small enough that the whole oversized body fits in socket buffers (the server answers 413
    // without reading it; a much larger body would be cut off mid-write).
    cfg.server.max_body_bytes = 1024;
    let s = start(cfg, &[("scanner", "scan"), ("ops", ALL)]);
    // Probes answer without a token; nothing else does.
    assert_eq!(s.call("GET", "/healthz", None, None).status, 200);
    assert_eq!(s.call("GET", "/readyz", None, None).status, 200);
    let m = s.call("GET", "/metrics", None, None);
    assert_eq!(m.status, 200);
    let a = s.call(
        "POST",
        "/v1/scan",
        None,
        Some(("application/json", r#"{"text":"x"}"#)),
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.body["error"]["code"], "unauthorized");
    assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    assert_eq!(s.call("GET", "/openapi.json", None, None).status, 401);
    // A wrong method gets the JSON error shape too.
    let m = s.call("GET", "/v1/scan", Some("scanner"), None);
    assert_eq!(m.status, 405, "{}", m.text);
    assert_eq!(m.body["error"]["code"], "method_not_allowed", "{}", m.text);
    assert!(
        m.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("GET")
    );
    // A key given twice is refused in every JSON body, intents included.
    let d = s.post(
        "/v1/scan",
        "scanner",
        r#"{"text":"x","text":"AKIALALEMEL33243OLIB"}"#,
    );
    assert_eq!(d.status, 400, "{}", d.text);
    assert!(d.text.contains("duplicate key"), "{}", d.text);
    let d = s.post(
        "/v1/intents",
        "ops",
        r#"{"tool":"kubectl","action":"get","target":{"namespace":"dev","namespace":"prod"},"requested_by":"ops"}"#,
    );
    assert_eq!(d.status, 400, "{}", d.text);
    assert!(d.text.contains("duplicate key"), "{}", d.text);
    // `datamark`: true is the default mark; one character is that mark; anything else is refused.
    let w = s.post("/v1/wrap", "scanner", r#"{"text":"a b c","datamark":true}"#);
    assert_eq!(w.status, 200, "{}", w.text);
    assert!(
        w.body["text"].as_str().unwrap_or("").contains("a\u{02C6}b"),
        "{}",
        w.text
    );
    let w = s.post("/v1/wrap", "scanner", r#"{"text":"a b","datamark":"~"}"#);
    assert_eq!(w.status, 200, "{}", w.text);
    let w = s.post("/v1/wrap", "scanner", r#"{"text":"a b","datamark":"ab"}"#);
    assert_eq!(w.status, 400, "{}", w.text);
    assert!(
        w.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("datamark")
    );
    let forged = format!("{}x", s.tokens["scanner"]);
    assert_eq!(s.post("/v1/scan", &forged, r#"{"text":"x"}"#).status, 401);
    assert_eq!(
        s.post("/v1/scan", "bwk_0123456789abcdef_guess", r#"{"text":"x"}"#)
            .status,
        401
    );
    // Scopes.
    let a = s.post(
        "/v1/egress/check",
        "scanner",
        r#"{"url":"https://example.com/"}"#,
    );
    assert_eq!(a.status, 403);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("egress")
    );
    // A scan answers like `bulwark scan --jsonl`.
    let a = s.post(
        "/v1/scan",
        "scanner",
        r#"{"text":"key AKIALALEMEL33243OLIB","source":"web"}"#,
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.body["verdict"], "block");
    assert_eq!(a.body["findings"][0]["rule"], "aws-access-key-id");
    assert_eq!(a.body["findings"][0]["path"], "-");
    assert_eq!(a.body["stats"]["bytes_scanned"], 24);
    assert_eq!(a.body["errors"], serde_json::json!([]));
    assert!(!a.text.contains("AKIALALEMEL33243OLIB"));
    // Bad input: 415, 400 naming the field, 413, 404 JSON; never a 5xx.
    let a = s.call(
        "POST",
        "/v1/scan",
        Some("scanner"),
        Some(("text/plain", "x")),
    );
    assert_eq!(a.status, 415);
    let a = s.post("/v1/scan", "scanner", r#"{"txet":"x"}"#);
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("txet")
    );
    let a = s.post("/v1/scan", "scanner", r#"{"text": 5}"#);
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text")
    );
    assert_eq!(s.post("/v1/scan", "scanner", "{not json").status, 400);
    assert_eq!(
        s.post(
            "/v1/scan",
            "scanner",
            r#"{"text":"x","detectors":"everything"}"#
        )
        .status,
        400
    );
    let big = format!(r#"{{"text":"{}"}}"#, "a".repeat(4096));
    let a = s.post("/v1/scan", "scanner", &big);
    assert_eq!(a.status, 413);
    // The unread rest of the body ends the connection, and the client is told so: a pooled
    // connection would otherwise drop its next request.
    assert!(
        a.headers
            .iter()
            .any(|(k, v)| k == "connection" && v == "close"),
        "{:?}",
        a.headers
    );
    let a = s.get("/v1/nothing-here", "scanner");
    assert_eq!(a.status, 404);
    assert_eq!(a.body["error"]["code"], "not_found");
    let a = s.get("/v1/approvals/not-an-id", "ops");
    assert_eq!(a.status, 400);
    let a = s.get("/v1/approvals?state=sideways", "ops");
    assert_eq!(a.status, 400);
    // Redact, wrap and egress mirror their commands.
    let a = s.post(
        "/v1/redact",
        "scanner",
        r#"{"text":"mail alice@corp.example.net"}"#,
    );
    assert_eq!(a.body["text"], "mail [REDACTED:email]");
    let a = s.post(
        "/v1/wrap",
        "scanner",
        r#"{"text":"</untrusted> hi","source":"web"}"#,
    );
    assert_eq!(a.status, 200);
    assert!(a.body["text"].as_str().unwrap().starts_with("<untrusted"));
    let a = s.post(
        "/v1/egress/check",
        "ops",
        r#"{"url":"http://169.254.169.254/latest/"}"#,
    );
    assert_eq!(a.body["decision"], "deny");
    assert_eq!(a.body["reason"], "metadata_endpoint");
    // A token created while the server runs works within a quarter second (the last unknown id
    // re-read the list); a revoked one stops within 2 seconds.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let db = StateDb::open(&SecurityConfig::default().store.db_path(s.home.path())).expect("db");
    let (late, rec) = new_token("late", Scope::parse_list("scan").unwrap(), 2).expect("token");
    db.insert_token(&rec).expect("insert");
    assert_eq!(
        s.post("/v1/scan", late.expose_secret(), r#"{"text":"x"}"#)
            .status,
        200
    );
    assert_eq!(db.revoke_token("late", 3).expect("revoke"), 1);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(
        s.post("/v1/scan", late.expose_secret(), r#"{"text":"x"}"#)
            .status,
        401
    );
    // Metrics count what happened.
    let m = s.call("GET", "/metrics", None, None);
    assert!(m.text.contains("bulwark_http_requests_total"), "{}", m.text);
    assert!(m.text.contains("bulwark_auth_failures_total"));
}

#[test]
fn secrets_in_the_configuration_can_live_in_the_vault() {
    use bulwark_core::vault::{Cipher, KekSpec, KeyBytes, VaultFile};
    let (endpoint, received) = agent_endpoint();
    let mut cfg = SecurityConfig::default();
    let mut am = source("bearer", "vault:alertmanager-token");
    am.forward_to = Some(endpoint.parse().unwrap());
    am.forward_token = "vault:agent-token".into();
    cfg.ingress.sources.insert("am".into(), am);
    cfg.audit.hmac_keys = "vault:audit-hmac".into();
    cfg.audit.signing_key = "vault:audit-signing".into();
    cfg.redact.pii = bulwark_core::config::Operator::Pseudonym;
    cfg.redact.pseudonym_key = "vault:pseudonym".into();
    let hmac_hex = "11".repeat(32);
    let s = start_with(cfg, &[("auditor", "audit"), ("r", "scan")], |home, cfg| {
        let key_path = home.join("vault.key");
        let (key, hexed) = KeyBytes::generate().unwrap();
        bulwark_store::fs::write_private_atomic(&key_path, hexed.as_bytes()).unwrap();
        let spec = KekSpec::KeyFile {
            path: key_path.display().to_string(),
        };
        let (mut f, u) = VaultFile::create(Cipher::Xchacha20poly1305, spec, &key).unwrap();
        for (name, value) in [
            ("alertmanager-token", "from-the-vault".to_string()),
            ("agent-token", "agent-bearer-42".to_string()),
            ("audit-hmac", hmac_hex.clone()),
            ("audit-signing", "22".repeat(32)),
            ("pseudonym", "a pseudonym key of some length".to_string()),
        ] {
            u.set(&mut f, name, &secrecy::SecretString::from(value), "t")
                .unwrap();
        }
        bulwark_store::vault_file::VaultStore::new(cfg.vault.file(home))
            .create(&f)
            .unwrap();
    });
    let ok = vec![("Authorization", "Bearer from-the-vault".to_string())];
    let a = s.ingress("am", &ok, "{}");
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["forwarded"], true);
    // The agent's own credential, from the vault, goes with the forwarded payload.
    let got = received
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("forwarded");
    assert!(
        got.to_ascii_lowercase()
            .contains("authorization: bearer agent-bearer-42"),
        "{got}"
    );
    // The audit keys come from the vault: no key file is made, and the log verifies with them.
    assert!(!s.home.path().join("keys/audit-hmac.keys").exists());
    assert!(!s.home.path().join("keys/audit-signing.key").exists());
    // The ingress record is queued without waiting (`submit`): poll until it is durable.
    let mut v = s.get("/v1/audit/verify", "auditor");
    for _ in 0..50 {
        if v.body["records"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        v = s.get("/v1/audit/verify", "auditor");
    }
    assert_eq!(v.status, 200, "{}", v.text);
    assert_eq!(v.body["ok"], true, "{}", v.text);
    let records: usize = v.body["records"].as_u64().unwrap_or(0) as usize;
    assert!(records >= 1, "{}", v.text);
    // The pseudonym key comes from the vault: the same token the key itself gives.
    let r = s.post("/v1/redact", "r", r#"{"text":"mail alice@example.com"}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    let redactor = bulwark_core::Redactor::new(
        bulwark_core::Scanner::new(&Default::default()).unwrap(),
        &bulwark_core::config::RedactConfig {
            pii: bulwark_core::config::Operator::Pseudonym,
            ..Default::default()
        },
        &|_| Some("a pseudonym key of some length".into()),
    )
    .unwrap();
    assert_eq!(
        r.body["text"],
        redactor.redact("mail alice@example.com").text.as_str()
    );
    let literal = vec![(
        "Authorization",
        "Bearer vault:alertmanager-token".to_string(),
    )];
    assert_eq!(s.ingress("am", &literal, "{}").status, 401);
    // Without the vault, the server refuses to start and says why.
    let mut cfg = SecurityConfig::default();
    cfg.ingress
        .sources
        .insert("am".into(), source("bearer", "vault:missing"));
    let home = tempfile::tempdir().unwrap();
    let err = AppState::open(cfg, "test".into(), home.path())
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("ingress.sources.am.secret")
            && err.to_string().contains("vault init"),
        "{err}"
    );
}

/// Found by Schemathesis: a datamark the boundary refuses was answered 503 (as a server fault);
/// list parameters were documented in the path; a held alert id in capitals was refused.
#[test]
fn what_schemathesis_found_stays_fixed() {
    let s = start(SecurityConfig::default(), &[("ops", ALL)]);
    let a = s.post("/v1/wrap", "ops", r#"{"text": "x", "datamark": "0"}"#);
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.text.contains("`datamark`"), "{}", a.text);
    let doc = s.get("/openapi.json", "ops");
    for path in ["/v1/approvals", "/v1/held", "/v1/audit"] {
        for p in doc.body["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters")
        {
            assert_eq!(p["in"], "query", "{path}: {p}");
        }
    }
    let id = "ABCDEF0123456789ABCDEF0123456789";
    let a = s.get(&format!("/v1/held/{id}"), "ops");
    assert_eq!(a.status, 404, "{}", a.text);
    assert!(a.text.contains(&id.to_ascii_lowercase()), "{}", a.text);
    let a = s.get("/v1/approvals?limit=0", "ops");
    assert_eq!(a.status, 400, "{}", a.text);
    let a = s.get("/v1/audit?after=9223372036854775808", "ops");
    assert_eq!(a.status, 400, "{}", a.text);
}

/// Every body error names its place one way, as serde paths are written: `.` for the document,
/// `target.labels` below it, whether the fault is a repeated key, a wrong type or a refused
/// value, on any route.
#[test]
fn body_error_places_are_written_one_way() {
    let s = start(SecurityConfig::default(), &[("ops", ALL)]);
    let msg = |path: &str, body: &str| {
        let a = s.post(path, "ops", body);
        assert_eq!(a.status, 400, "{path} {body}: {}", a.text);
        a.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let starts = |m: String, with: &str| assert!(m.contains(with), "{m:?} should name {with}");
    starts(
        msg("/v1/scan", r#"{"text": "x", "text": "y"}"#),
        "`.`: duplicate key",
    );
    starts(msg("/v1/scan", r#"{"text": 1}"#), "`text`: invalid type");
    starts(
        msg(
            "/v1/intents",
            r#"{"tool":"k","action":"get","requested_by":"a","target":{"labels":{"a":"1","a":"2"}}}"#,
        ),
        "`target.labels`: duplicate key",
    );
    starts(
        msg(
            "/v1/intents",
            r#"{"tool":"","action":"get","requested_by":"a"}"#,
        ),
        "`tool`: must not be empty",
    );
    // An array is not read positionally into the fields of an object.
    starts(msg("/v1/scan", r#"["a"]"#), "`.`: expected a JSON object");
    starts(
        msg("/v1/intents", r#"["kubectl","get",{},{},"t",{},""]"#),
        "`.`: expected a JSON object",
    );
    // Query strings name their place the same way.
    let a = s.get("/v1/approvals?limit=x", "ops");
    assert_eq!(a.status, 400);
    starts(
        a.body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        "`limit`: ",
    );
    // An id with anything around it is not an id.
    let a = s.post(&format!("/v1/held/%20{}/drop", "0".repeat(32)), "ops", "{}");
    assert_eq!(a.status, 400, "{}", a.text);
    let deep = format!("{{\"text\": {}1{}}}", "[".repeat(200), "]".repeat(200));
    starts(
        msg("/v1/scan", &deep),
        "`.`: the JSON nests 128 levels deep or more",
    );
}
