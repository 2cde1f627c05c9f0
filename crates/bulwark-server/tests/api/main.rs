//! The sidecar API over real HTTP: every route, authentication and scopes, bad input, the approval
//! flow with racing consumers, and rate limits reached exactly at their configured counts.

use bulwark_core::SecurityConfig;
use bulwark_core::auth::{Scope, new_token};
use bulwark_core::config::ActionMode;
use bulwark_server::api::{AppState, ROUTES};
use std::collections::BTreeSet;
use std::net::SocketAddr;
#[path = "../common/mod.rs"]
mod common;
use bulwark_store::state_db::StateDb;
use common::*;
use secrecy::ExposeSecret;

mod approvals;
mod ingress;
mod limits;
mod routes;

/// One request: method, path, token, (content type, body).
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<(&'a str, &'a str)>,
);

/// An agent endpoint that records what reaches it.
fn agent_endpoint() -> (String, std::sync::mpsc::Receiver<String>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/alerts", l.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { break };
            use std::io::{Read, Write};
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = conn.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                let t = String::from_utf8_lossy(&req).to_string();
                if let Some(end) = t.find("\r\n\r\n") {
                    let len = t[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&req).to_string());
        }
    });
    (url, rx)
}

impl Server {
    fn ingress(&self, source: &str, headers: &[(&str, String)], body: &str) -> Answer {
        let mut r = agent()
            .post(&self.url(&format!("/v1/ingress/{source}")))
            .header("Content-Type", "application/json");
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let mut resp = r.send(body.as_bytes()).expect("request");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status,
            headers: Vec::new(),
            body: serde_json::from_str(&text).unwrap_or_default(),
            text,
        }
    }
}

fn source(scheme: &str, secret: &str) -> bulwark_core::config::IngressSourceConfig {
    serde_json::from_value(serde_json::json!({"scheme": scheme, "secret": secret})).expect("source")
}
