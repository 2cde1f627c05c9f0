//! Limits over the API: rate limits reached exactly, oversized heads, slow clients, failed-authentication floods.

use super::*;

#[test]
fn rate_limits_hold_exactly_under_concurrency() {
    let mut cfg = SecurityConfig::default();
    cfg.server.limits.token_per_sec = 1;
    cfg.server.limits.token_burst = 7;
    cfg.server.limits.auth_failures_per_min = 4;
    let s = start(cfg, &[("scanner", "scan")]);
    let began = std::time::Instant::now();
    type Seen = (u16, Option<String>, Option<String>, Option<String>);
    let statuses: Vec<Seen> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..20)
            .map(|_| {
                sc.spawn(|| {
                    let a = s.post("/v1/scan", "scanner", r#"{"text":"hello"}"#);
                    (
                        a.status,
                        a.header("retry-after").map(String::from),
                        a.header("ratelimit").map(String::from),
                        a.header("ratelimit-policy").map(String::from),
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // The burst, plus one more per whole second the 20 requests took (none on an idle machine).
    let refills = began.elapsed().as_secs() as usize;
    let ok = statuses.iter().filter(|s| s.0 == 200).count();
    assert!(
        (7..=7 + refills).contains(&ok),
        "{ok} allowed in {refills} s: {statuses:?}"
    );
    let limited: Vec<_> = statuses.iter().filter(|s| s.0 == 429).collect();
    assert_eq!(limited.len(), 20 - ok);
    assert!(limited.iter().all(|s| {
        s.1.as_deref()
            .is_some_and(|r| r.parse::<u64>().unwrap() >= 1)
    }));
    assert!(limited.iter().all(|s| {
        s.2.as_deref()
            .is_some_and(|r| r.starts_with("\"token\";r=0;t="))
            && s.3.as_deref() == Some("\"token\";q=1;w=1")
    }));
    // Failed authentications: exactly 4 get 401, then 429.
    let codes: Vec<u16> = (0..7)
        .map(|_| {
            s.post("/v1/scan", "bwk_0123456789abcdef_guess", "{}")
                .status
        })
        .collect();
    assert_eq!(codes, vec![401, 401, 401, 401, 429, 429, 429]);
    assert!(s.home.path().join("bulwark.db").exists());
}

#[test]
fn only_authenticated_requests_draw_on_the_global_limit() {
    let mut cfg = SecurityConfig::default();
    cfg.server.limits.global_per_sec = 1;
    cfg.server.limits.auth_failures_per_min = 100;
    let s = start(cfg, &[("scanner", "scan")]);
    // Clients without a valid token cannot use up everyone's allowance.
    for _ in 0..5 {
        assert_eq!(
            s.post("/v1/scan", "bwk_0123456789abcdef_guess", "{}")
                .status,
            401
        );
    }
    assert_eq!(
        s.post("/v1/scan", "scanner", r#"{"text":"hello"}"#).status,
        200
    );
    let over = s.post("/v1/scan", "scanner", r#"{"text":"hello"}"#);
    assert_eq!(over.status, 429);
    assert_eq!(over.header("ratelimit-policy"), Some("\"global\";q=1;w=1"));
}

#[test]
fn route_limits_and_per_token_overrides() {
    let mut cfg = SecurityConfig::default();
    cfg.server.limits.token_per_sec = 1;
    cfg.server.limits.token_burst = 1;
    cfg.server.limits.tokens.insert("batch".into(), 1000);
    cfg.server.limits.routes.insert("/v1/redact".into(), 1);
    let s = start(cfg, &[("batch", "scan"), ("agent", "scan")]);
    // The override replaces the default rate for that token only.
    let codes: Vec<u16> = (0..5)
        .map(|_| s.post("/v1/scan", "batch", r#"{"text":"x"}"#).status)
        .collect();
    assert_eq!(codes, vec![200; 5]);
    let codes: Vec<u16> = (0..2)
        .map(|_| s.post("/v1/scan", "agent", r#"{"text":"x"}"#).status)
        .collect();
    assert_eq!(codes, vec![200, 429]);
    // A route limit holds across tokens.
    assert_eq!(s.post("/v1/redact", "batch", r#"{"text":"x"}"#).status, 200);
    let a = s.post("/v1/redact", "batch", r#"{"text":"x"}"#);
    assert_eq!(a.status, 429);
    assert_eq!(a.header("ratelimit-policy"), Some("\"route\";q=1;w=1"));
    // A limit on a route that does not exist is a configuration error.
    let mut bad = SecurityConfig::default();
    bad.server.limits.routes.insert("/v1/scna".into(), 5);
    let home = tempfile::tempdir().unwrap();
    let err = AppState::open(bad, "test".into(), home.path())
        .err()
        .expect("refused");
    assert!(err.to_string().contains("/v1/scna"), "{err}");
}

#[test]
fn oversized_request_heads_are_refused() {
    use std::io::{Read, Write};
    let s = start(SecurityConfig::default(), &[]);
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 600 * 1024));
    req.extend_from_slice(b"\r\n\r\n");
    // Write from another thread while this one reads: the answer comes before the whole head
    // is sent, and the server then closes.
    let mut w = c.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&req);
    });
    let mut answer = [0u8; 64];
    let n = c.read(&mut answer).unwrap_or(0);
    let _ = writer.join();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer[..n])
    );
}

/// A connection from `from` (another loopback address than the slow clients').
fn connect_from(from: &str, to: SocketAddr) -> std::net::TcpStream {
    let s =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let local: SocketAddr = format!("{from}:0").parse().expect("addr");
    s.bind(&local.into()).expect("bind");
    s.connect(&to.into()).expect("connect");
    s.into()
}

/// Send `request` on a fresh connection from `from` and read the whole answer.
fn raw(from: &str, to: SocketAddr, request: &str) -> String {
    use std::io::{Read, Write};
    let mut c = connect_from(from, to);
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(request.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// Connections among `held` the server has not closed.
fn still_open(held: &mut [std::net::TcpStream]) -> usize {
    use std::io::Read;
    let mut buf = [0u8; 64];
    let mut open = 0;
    for c in held.iter_mut() {
        c.set_nonblocking(true).expect("nonblocking");
        if matches!(c.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            open += 1;
        }
    }
    open
}

/// Slow clients cannot starve the API: one address holding 2,000 half-sent request heads keeps
/// only `connections_per_client` of them, those are closed after `header_timeout_secs`, a body
/// that stalls gets 408, and a normal client is answered within a second throughout.
#[test]
fn slow_clients_cannot_starve_the_api() {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let mut cfg = SecurityConfig::default();
    cfg.server.header_timeout_secs = 2;
    cfg.server.body_timeout_secs = 2;
    cfg.server.connections_per_client = 32;
    let s = start(cfg, &[("scanner", "scan")]);
    // Two sockets per connection in this process (client and server side), plus headroom.
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse::<usize>().ok())
        })
        .unwrap_or(4096);
    let n = 2000.min(limit.saturating_sub(512) / 2);
    if n < 2000 {
        eprintln!("open-file limit {limit}: holding {n} slow connections instead of 2,000");
    }
    let mut held: Vec<std::net::TcpStream> = (0..n)
        .map(|_| {
            let mut c = connect_from("127.0.0.1", s.addr);
            let _ = c.write_all(b"POST /v1/scan HTTP/1.1\r\nHost: bulwark\r\nContent-Type: app");
            c
        })
        .collect();
    let token = s.tokens["scanner"].clone();
    let scan = format!(
        "POST /v1/scan HTTP/1.1\r\nHost: bulwark\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{{\"text\":\"x\"}}"
    );
    for _ in 0..5 {
        let t = Instant::now();
        let a = raw(
            "127.0.0.2",
            s.addr,
            "GET /healthz HTTP/1.1\r\nHost: bulwark\r\nConnection: close\r\n\r\n",
        );
        assert!(a.starts_with("HTTP/1.1 200"), "{a}");
        let b = raw("127.0.0.2", s.addr, &scan);
        assert!(b.starts_with("HTTP/1.1 200"), "{b}");
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    let open = still_open(&mut held);
    assert!(open <= 32, "{open} of {n} slow connections held open");
    // A body that stalls: 408 once body_timeout_secs pass.
    let t = Instant::now();
    let stalled = raw(
        "127.0.0.3",
        s.addr,
        &format!(
            "POST /v1/scan HTTP/1.1\r\nHost: bulwark\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"text\""
        ),
    );
    assert!(stalled.starts_with("HTTP/1.1 408"), "{stalled}");
    assert!(stalled.contains("body_timeout_secs"), "{stalled}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The half-sent heads are closed once header_timeout_secs pass.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        still_open(&mut held),
        0,
        "slow heads outlived header_timeout_secs"
    );
}

/// The audit records under `home` (file backend) whose action is `action`.
fn audit_records(home: &std::path::Path, action: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(home.join("audit/segments")).expect("audit segments") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("jsonl")
            || path.file_name().and_then(|n| n.to_str()) == Some("checkpoints.jsonl")
        {
            continue;
        }
        for line in std::fs::read_to_string(&path).expect("segment").lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                && v["action"] == action
            {
                out.push(v);
            }
        }
    }
    out
}

/// A flood of bad tokens costs the audit log one record at the first failure and one count at the
/// end of the window, not a record per request; requests the failure limit refused are counted,
/// never recorded one by one.
#[test]
fn failed_authentication_floods_are_aggregated() {
    let s = start(SecurityConfig::default(), &[("ops", ALL)]);
    let addr = s.addr;
    let answered: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(move || {
                    let a = agent();
                    let (mut unauthorized, mut limited) = (0u64, 0u64);
                    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
                    while std::time::Instant::now() < until {
                        let r = a
                            .post(&format!("http://{addr}/v1/scan"))
                            .header("Authorization", "Bearer bwk_guess_0000000000000000")
                            .header("Content-Type", "application/json")
                            .send(r#"{"text":"x"}"#.as_bytes())
                            .expect("request");
                        match r.status().as_u16() {
                            401 => unauthorized += 1,
                            429 => limited += 1,
                            other => panic!("status {other}"),
                        }
                    }
                    (unauthorized, limited)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let unauthorized: u64 = answered.iter().map(|a| a.0).sum();
    let limited: u64 = answered.iter().map(|a| a.1).sum();
    assert!(
        limited > 100,
        "{unauthorized} unauthorized, {limited} limited"
    );
    let home = s.stop();
    let records = audit_records(home.path(), "api.authenticate");
    assert!(
        records.len() <= 2,
        "{} records for one client: {records:?}",
        records.len()
    );
    let count: u64 = records
        .iter()
        .filter_map(|r| r["details"]["count"].as_u64())
        .sum();
    let refused: u64 = records
        .iter()
        .filter_map(|r| r["details"]["refused_by_limit"].as_u64())
        .sum();
    assert_eq!(count, unauthorized, "{records:?}");
    assert_eq!(refused, limited, "{records:?}");
}
