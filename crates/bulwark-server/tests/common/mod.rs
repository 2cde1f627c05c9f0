//! The test harness of the sidecar API tests: a real server on a loopback port, with tokens.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use bulwark_core::SecurityConfig;
use bulwark_core::auth::{Scope, new_token};
use bulwark_server::api::{AppState, serve};
use bulwark_store::state_db::StateDb;
use secrecy::ExposeSecret;

pub struct Server {
    pub addr: SocketAddr,
    pub home: tempfile::TempDir,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub thread: Option<std::thread::JoinHandle<()>>,
    pub tokens: std::collections::HashMap<String, String>,
}

impl Server {
    /// Stop the server (draining it) and keep its home for reading.
    pub fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::replace(&mut self.home, tempfile::tempdir().expect("home"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start a server with these tokens (name -> scopes).
pub fn start(cfg: SecurityConfig, tokens: &[(&str, &str)]) -> Server {
    start_with(cfg, tokens, |_, _| {})
}

/// [`start`], after `prepare` has seen the home and the configuration.
pub fn start_with(
    mut cfg: SecurityConfig,
    tokens: &[(&str, &str)],
    prepare: impl FnOnce(&std::path::Path, &SecurityConfig),
) -> Server {
    let home = tempfile::tempdir().expect("home");
    prepare(home.path(), &cfg);
    cfg.action.workspace.root = home.path().join("ws").display().to_string();
    let db = StateDb::open(&cfg.store.db_path(home.path())).expect("db");
    let mut made = std::collections::HashMap::new();
    for (name, scopes) in tokens {
        let scopes: BTreeSet<Scope> = Scope::parse_list(scopes).expect("scopes");
        let (t, rec) = new_token(name, scopes, 1).expect("token");
        db.insert_token(&rec).expect("insert");
        made.insert(name.to_string(), t.expose_secret().to_string());
    }
    drop(db);
    let state = Arc::new(AppState::open(cfg, "test".into(), home.path()).expect("state"));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addr_tx.send(l.local_addr().expect("addr")).expect("send");
            serve(l, state, async {
                let _ = stop_rx.await;
            })
            .await
            .expect("serve");
        });
    });
    Server {
        addr: addr_rx.recv().expect("addr"),
        home,
        stop: Some(stop_tx),
        thread: Some(thread),
        tokens: made,
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    pub text: String,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> Answer {
        let a = agent();
        let url = self.url(path);
        let auth =
            token.map(|t| format!("Bearer {}", self.tokens.get(t).map_or(t, |s| s.as_str())));
        let resp = match (method, body) {
            ("GET", _) => {
                let mut r = a.get(&url);
                if let Some(h) = &auth {
                    r = r.header("Authorization", h);
                }
                r.call()
            }
            (_, Some((ct, b))) => {
                let mut r = a.post(&url).header("Content-Type", ct);
                if let Some(h) = &auth {
                    r = r.header("Authorization", h);
                }
                r.send(b.as_bytes())
            }
            (_, None) => {
                let mut r = a.post(&url);
                if let Some(h) = &auth {
                    r = r.header("Authorization", h);
                }
                r.send_empty()
            }
        };
        let mut resp = resp.expect("request");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn post(&self, path: &str, token: &str, json: &str) -> Answer {
        self.call("POST", path, Some(token), Some(("application/json", json)))
    }

    pub fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None)
    }
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub const ALL: &str = "scan,egress,intents,approve,audit";
