//! What the process-level tests share: the binary on a home, output for messages, a free port.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The `bulwark` binary with `BULWARK_HOME` and `HOME` set, and no configuration or proxies
/// inherited from the caller.
pub fn bulwark_at(bulwark_home: &Path, home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bulwark"));
    c.env_remove("BULWARK_CONFIG")
        .env("BULWARK_HOME", bulwark_home)
        .env("HOME", home);
    for v in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(v);
    }
    c
}

/// The `bulwark` binary on `home` (both `BULWARK_HOME` and `HOME`).
pub fn bulwark_on(home: &Path) -> Command {
    bulwark_at(home, home)
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[path = "../../../bulwark-store/tests/support/ports.rs"]
mod ports;
pub use ports::free_port;

/// Run `cmd` with `stdin` as its standard input; its exit code and output.
pub fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("stdin");
    child.wait_with_output().expect("wait")
}

/// A home for vault tests: a configuration with cheap Argon2id (the defaults are in
/// docs/vault.md).
pub fn vault_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("home");
    std::fs::write(
        home.path().join("bulwark.toml"),
        "[vault]\nargon2_memory_kib = 256\nargon2_iterations = 1\n",
    )
    .expect("config");
    home
}

/// `bulwark vault` on `h`, with `pass` as the vault passphrase.
pub fn vault_cmd(h: &Path, pass: &str) -> Command {
    let mut c = bulwark_on(h);
    c.env("BULWARK_VAULT_PASSPHRASE", pass).arg("vault");
    c
}

/// `bulwark serve` running on a home; stopped when dropped.
pub struct Serve(pub std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `bulwark serve` on `home` (whose bulwark.toml listens on `port`; `config check` must pass),
/// with `env` set, and a token of scope `gateway` named `agent`: the server once it accepts
/// connections, and the token.
pub fn serve_gateway(home: &Path, port: u16, env: &[(&str, &str)]) -> (Serve, String) {
    serve_with_token(home, port, "agent", "gateway", env)
}

/// `bulwark serve` on `home` (whose bulwark.toml listens on `port`; `config check` must pass),
/// with `env` set, and a token named `name` of `scopes`: the server once it accepts connections,
/// and the token.
pub fn serve_with_token(
    home: &Path,
    port: u16,
    name: &str,
    scopes: &str,
    env: &[(&str, &str)],
) -> (Serve, String) {
    let check = run_with_stdin(bulwark_on(home).args(["config", "check"]), b"");
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let token = token(home, name, scopes);
    (serve_on(home, port, env), token)
}

/// A new API token named `name` of `scopes` (`bulwark token create`).
pub fn token(home: &Path, name: &str, scopes: &str) -> String {
    let o = run_with_stdin(
        bulwark_on(home).args(["token", "create", "--name", name, "--scope", scopes]),
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    out.split_whitespace()
        .find(|w| w.starts_with("bwk_"))
        .unwrap_or_else(|| panic!("no token in {out:?}"))
        .to_string()
}

/// `bulwark serve` on `home` (whose configuration listens on `port`) with `env` set, once it
/// accepts connections.
pub fn serve_on(home: &Path, port: u16, env: &[(&str, &str)]) -> Serve {
    let mut cmd = bulwark_on(home);
    cmd.env("BULWARK_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let serve = Serve(
        cmd.arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let mut serve = serve;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // One that exited (its port taken, its configuration refused) is not waited for, and
        // whatever else answers on its port is not taken for it.
        if let Ok(Some(status)) = serve.0.try_wait() {
            panic!("bulwark serve exited ({status}) before it listened on {port}");
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    serve
}

/// A `redis-server` of the test's own, on a free port, without persistence.
pub struct Redis {
    child: std::process::Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` on `port`, once it accepts connections.
pub fn redis_on(port: u16) -> Redis {
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Redis { child, port }
}

/// A Redis to test with, or `None` (with a notice) when `redis-server` is not installed.
pub fn redis() -> Option<Redis> {
    let found = std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("BULWARK_REQUIRE_REDIS").is_none(),
            "BULWARK_REQUIRE_REDIS is set but redis-server is not installed (apt-get install redis-server)"
        );
        eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
        return None;
    }
    Some(redis_on(free_port()))
}

/// Ask the sidecar on `port` (as `token`, for requester `copilot`) to scale deployment `api` in
/// payments-prod to `replicas`, which waits for approval there: (approval id, digest).
pub fn ask_scale(http: &ureq::Agent, port: u16, token: &str, replicas: u32) -> (String, String) {
    ask_scale_with(http, port, token, replicas, "")
}

/// [`ask_scale`] with `more` (JSON members, each followed by a comma) added to the arguments.
pub fn ask_scale_with(
    http: &ureq::Agent,
    port: u16,
    token: &str,
    replicas: u32,
    more: &str,
) -> (String, String) {
    let mut r = http
        .post(&format!("http://127.0.0.1:{port}/v1/intents"))
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(format!(
            r#"{{"tool":"kubectl","action":"scale","target":{{"kind":"deployment","name":"api","namespace":"payments-prod"}},"args":{{{more}"replicas":{replicas}}},"requested_by":"copilot"}}"#
        ))
        .expect("intent");
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["verdict"], "review", "{v}");
    (
        v["approval"]["id"].as_str().unwrap().to_string(),
        v["digest"].as_str().unwrap().to_string(),
    )
}

/// Approval `id` as `GET /v1/approvals/{id}` shows it to `token`.
pub fn approval_state(http: &ureq::Agent, port: u16, token: &str, id: &str) -> serde_json::Value {
    get_json(http, port, token, &format!("/v1/approvals/{id}"))["approval"].clone()
}

/// `GET path` on the sidecar at `port`, with `token` as its bearer token: the answer's JSON.
pub fn get_json(http: &ureq::Agent, port: u16, token: &str, path: &str) -> serde_json::Value {
    let mut r = http
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let body = r
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}
