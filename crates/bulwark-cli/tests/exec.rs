//! `bulwark exec`: commands the screen lets through are still confined by the kernel (Landlock),
//! and every run is audited. Driven through the real binary; skipped where the kernel has no
//! Landlock.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "FAKE-PRIVATE-KEY-MATERIAL-7f3a";

/// A home with a fake `~/.ssh/id_rsa`, Bulwark's state in `~/.bulwark`, a workspace `~/ws` with a
/// symlink to the key (which the screen cannot see through with confinement off) and a directory
/// outside the workspace.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(extra: &str) -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = dir.path();
        for d in [".ssh", ".bulwark", "ws", "outside", "tmp"] {
            std::fs::create_dir_all(h.join(d)).expect("mkdir");
        }
        std::fs::write(h.join(".ssh/id_rsa"), KEY).expect("key");
        std::os::unix::fs::symlink(h.join(".ssh/id_rsa"), h.join("ws/key")).expect("symlink");
        std::fs::write(h.join("ws/notes.txt"), "workspace notes\n").expect("notes");
        std::fs::write(
            h.join(".bulwark/bulwark.toml"),
            format!(
                "[action]\nmode = \"supervised\"\n[action.workspace]\nrestrict = false\nroot = \"{}\"\n[approval]\napprovers = [\"alice\"]\n{extra}",
                h.join("ws").display()
            ),
        )
        .expect("config");
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn cmd(&self) -> Command {
        let mut c = common::bulwark_at(&self.path().join(".bulwark"), self.path());
        c.env("USER", "agent")
            .env("TMPDIR", self.path().join("tmp"))
            .env_remove("BULWARK_ACTION_MODE");
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run bulwark")
    }

    fn exec(&self, opts: &[&str], argv: &[&str]) -> Output {
        let mut args = vec!["exec"];
        args.extend_from_slice(opts);
        args.push("--");
        args.extend_from_slice(argv);
        self.run(&args)
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        let o = self.run(&["audit", "export", "--since", "1970-01-01T00:00:00Z"]);
        assert_eq!(code(&o), 0, "{}", err(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The `action.exec` records, oldest first.
    fn runs(&self) -> Vec<serde_json::Value> {
        self.audit()
            .into_iter()
            .filter(|r| r["action"] == "action.exec")
            .collect()
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether this kernel enforces Landlock (else the test prints a notice and skips).
fn landlock(home: &Home) -> bool {
    let o = home.exec(&["--mode", "read_only"], &["true"]);
    if code(&o) == 2 && err(&o).contains("Landlock") {
        eprintln!(
            "notice: this kernel does not enforce Landlock; skipping: {}",
            err(&o)
        );
        return false;
    }
    assert_eq!(code(&o), 0, "bulwark exec -- true: {}", err(&o));
    true
}

fn denied(o: &Output) -> bool {
    let e = err(o);
    code(o) != 0 && (e.contains("Permission denied") || e.contains("Operation not permitted"))
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The last `action.exec` record says the run was confined and how it ended.
fn assert_audited_run(home: &Home, exit_code: i32) {
    let runs = home.runs();
    let last = runs.last().expect("an action.exec record");
    assert_eq!(last["outcome"], "exited", "{last}");
    assert_eq!(last["details"]["exit_code"], exit_code, "{last}");
    assert_eq!(last["details"]["confined"], true, "{last}");
    let landlock = last["details"]["landlock"].as_str().unwrap_or_default();
    assert!(
        landlock == "fully_enforced" || landlock == "partially_enforced",
        "{last}"
    );
    assert_eq!(last["details"]["digest"].as_str().map(str::len), Some(64));
    assert!(last["details"]["duration_ms"].is_u64(), "{last}");
}

#[test]
fn the_kernel_stops_what_the_screen_lets_through() {
    let home = Home::new("");
    if !landlock(&home) {
        return;
    }
    let h = home.path();

    // Writing outside the workspace: `touch` is a write, supervised mode runs writes, the
    // screen's confinement is off; the kernel refuses.
    let target = h.join("outside/x");
    let o = home.exec(&[], &["touch", target.to_str().expect("utf-8")]);
    assert!(denied(&o), "touch outside: {} {}", code(&o), err(&o));
    assert!(!target.exists());
    assert_audited_run(&home, code(&o));

    // Reading the private key through a symlink in the workspace: `cat` is a read, allowed even
    // in read_only mode; the kernel refuses.
    let o = home.exec(&["--mode", "read_only"], &["cat", "key"]);
    assert!(denied(&o), "cat key: {} {}", code(&o), err(&o));
    assert!(!out(&o).contains(KEY));
    assert_audited_run(&home, code(&o));
    // ... and directly, without the screen's objection to ~/.ssh being the only obstacle.
    let key = h.join(".ssh/id_rsa");
    let o = home.exec(
        &["--mode", "read_only"],
        &["cat", key.to_str().expect("utf-8")],
    );
    assert_ne!(code(&o), 0);
    assert!(!out(&o).contains(KEY));

    // Bulwark's own state (audit keys, database) is not readable either.
    let o = home.exec(
        &["--mode", "read_only"],
        &["ls", h.join(".bulwark").to_str().expect("utf-8")],
    );
    assert!(denied(&o), "ls ~/.bulwark: {} {}", code(&o), err(&o));

    // Allowed reads and workspace writes work.
    let o = home.exec(&["--mode", "read_only"], &["cat", "notes.txt"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), "workspace notes\n");
    assert_audited_run(&home, 0);
    let o = home.exec(
        &["--mode", "read_only"],
        &["head", "-n", "1", "/etc/passwd"],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    let o = home.exec(&[], &["touch", "made-here"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(h.join("ws/made-here").exists());
    // A command line (-c) runs with sh inside the confinement; the private temporary directory
    // is writable, and gone afterwards.
    let o = home.run(&[
        "exec",
        "--mode",
        "autonomous",
        "-c",
        "echo x > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), "x\n");
    let left: Vec<_> = std::fs::read_dir(h.join("tmp"))
        .expect("tmp")
        .filter_map(Result::ok)
        .collect();
    assert!(left.is_empty(), "private directories left behind: {left:?}");

    // The log with all of it verifies.
    let o = home.run(&["audit", "verify"]);
    assert_eq!(code(&o), 0, "{}", out(&o));
}

#[test]
fn no_network_means_no_tcp() {
    let home = Home::new("");
    if !landlock(&home) {
        return;
    }
    if !have("curl") {
        eprintln!("notice: curl is not installed; skipping the network test");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().expect("addr").port()
    );
    let o = home.exec(
        &["--mode", "autonomous"],
        &["curl", "-sS", "-m", "5", "-o", "/dev/null", &url],
    );
    assert_eq!(code(&o), 7, "curl: {}", err(&o));
    assert!(listener.accept().is_err(), "a connection got through");
    assert_audited_run(&home, 7);
    assert_eq!(
        home.runs().last().expect("run")["details"]["network"],
        "none"
    );
}

/// A proxy that answers every request with `ok`, for `seconds`.
fn fake_proxy(listener: TcpListener, seconds: u64) -> std::thread::JoinHandle<usize> {
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut served = 0;
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        served
    })
}

#[test]
fn proxy_network_reaches_only_the_egress_proxy() {
    let proxy = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = proxy.local_addr().expect("addr").port();
    let home = Home::new(&format!(
        "[egress.proxy]\nlisten = \"127.0.0.1:{port}\"\n[action.exec]\nnetwork = \"proxy\"\n"
    ));
    if !landlock(&home) {
        return;
    }
    if !have("curl") {
        eprintln!("notice: curl is not installed; skipping the proxy test");
        return;
    }
    let server = fake_proxy(proxy, 15);
    let other = TcpListener::bind("127.0.0.1:0").expect("listen");
    other.set_nonblocking(true).expect("nonblocking");
    let url = format!(
        "http://127.0.0.1:{}/",
        other.local_addr().expect("addr").port()
    );
    // Through the proxy (HTTP_PROXY is set for the command).
    let o = home.exec(&["--mode", "autonomous"], &["curl", "-sS", "-m", "5", &url]);
    assert_eq!(code(&o), 0, "curl through the proxy: {}", err(&o));
    assert_eq!(out(&o), "ok");
    // Around it: refused by the kernel.
    let o = home.exec(
        &["--mode", "autonomous"],
        &["curl", "-sS", "-m", "5", "--noproxy", "*", &url],
    );
    assert_eq!(code(&o), 7, "curl around the proxy: {}", err(&o));
    assert!(other.accept().is_err(), "a connection got around the proxy");
    drop(server);
}

#[test]
fn a_program_allowance_gives_exactly_its_own_credentials() {
    let home = Home::new("[action.exec.programs.cat]\nread = [\"~/.ssh/id_rsa\"]\n");
    if !landlock(&home) {
        return;
    }
    let o = home.exec(&["--mode", "read_only"], &["cat", "key"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), KEY);
    assert_eq!(
        home.runs().last().expect("run")["details"]["allowance"],
        "cat"
    );
    // Another program does not get it.
    let o = home.exec(&["--mode", "read_only"], &["head", "key"]);
    assert!(denied(&o), "head key: {} {}", code(&o), err(&o));
    // Nor does a `cat` the command could have written itself.
    let fake = home.path().join("ws/cat");
    std::fs::copy("/bin/cat", &fake).expect("copy cat");
    let o = home.exec(&["--mode", "autonomous"], &["./cat", "key"]);
    assert!(denied(&o), "./cat key: {} {}", code(&o), err(&o));
    assert!(err(&o).contains("writable directory"), "{}", err(&o));
}

#[test]
fn blocked_and_reviewed_commands_do_not_run_without_an_approval() {
    let home = Home::new("");
    if !landlock(&home) {
        return;
    }
    let h = home.path();

    // Blocked: a write in read_only mode; the message names the rule.
    let o = home.exec(&["--mode", "read_only"], &["touch", "nope"]);
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("mode-read-only"), "{}", err(&o));
    assert!(!h.join("ws/nope").exists());

    // Review: a destructive command in supervised mode creates a pending approval.
    let o = home.exec(&[], &["rm", "notes.txt"]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    assert!(err(&o).contains("approval"), "{}", err(&o));
    assert!(h.join("ws/notes.txt").exists());
    let list = home.run(&["approvals", "list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let id = v[0]["id"].as_str().expect("approval id").to_string();
    let shown = home.run(&["approvals", "show", &id, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    let digest = v["approval"]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let o = home.run(&[
        "approvals",
        "approve",
        &id,
        "--digest",
        &digest,
        "--as",
        "alice",
    ]);
    assert_eq!(code(&o), 0, "{}", err(&o));

    // The approval covers this command only, and once.
    let o = home.exec(&["--approval", &id], &["rm", "key"]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    assert!(h.join("ws/key").exists());
    let o = home.exec(&["--approval", &id], &["rm", "notes.txt"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(!h.join("ws/notes.txt").exists());
    assert_eq!(home.runs().last().expect("run")["details"]["approval"], id);
    std::fs::write(h.join("ws/notes.txt"), "again\n").expect("write");
    let o = home.exec(&["--approval", &id], &["rm", "notes.txt"]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    assert!(h.join("ws/notes.txt").exists());

    let log = home.audit();
    for needle in ["action.check", "approval.consume", "action.exec"] {
        assert!(
            log.iter().any(|r| r["action"] == needle),
            "{needle} missing from the audit log"
        );
    }
}

#[test]
fn an_intent_file_must_describe_the_command() {
    let home = Home::new("");
    let intent: PathBuf = home.path().join("intent.json");
    std::fs::write(
        &intent,
        r#"{"tool":"shell","action":"run","args":{"command":"cat notes.txt"},"requested_by":"agent"}"#,
    )
    .expect("intent");
    let path = intent.to_str().expect("utf-8");
    let o = home.exec(&["--intent", path], &["cat", "key"]);
    assert_eq!(code(&o), 2, "{}", err(&o));
    assert!(err(&o).contains("not the command given"), "{}", err(&o));
    if !landlock(&home) {
        return;
    }
    let o = home.exec(&["--intent", path], &["cat", "notes.txt"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), "workspace notes\n");
    // Without a command, the intent's own command line runs.
    let o = home.run(&["exec", "--intent", path]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(out(&o), "workspace notes\n");
    // Nothing to run at all is a usage error.
    let o = home.run(&["exec"]);
    assert_eq!(code(&o), 2);
}
