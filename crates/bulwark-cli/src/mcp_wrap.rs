//! `bulwark mcp wrap`: the stdio transport of the MCP gateway. The client's standard input and
//! output on one side, the server's (a child process) on the other; every line goes through one
//! `mcp::Session`.
//!
//! Each side has a reader thread that reads a line, has the session judge it (under its lock) and
//! writes what it says to send, so a message crosses no other thread on its way. A peer that
//! floods waits: nothing is read from it while its last line is being written on. The main thread
//! waits for either side to end and, while something is held, lets the session look for approvals
//! made elsewhere once a second.

use std::io::{BufRead, BufReader, Read, Stdout, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bulwark_core::approval::{Approvals, Approvers, SystemClock};
use bulwark_core::audit::AuditSink;
use bulwark_core::mcp::cfg::{SERVER_NAME_RULE, valid_server_name};
use bulwark_core::mcp::{Env, Out, ServerIdentity, Session};
use bulwark_store::audit_relay::SharedLog;
use bulwark_store::fs::OsPaths;

use crate::Fatal;
use crate::action_cmd::Context;

/// One newline-delimited message read with at most `max` bytes kept.
enum Line {
    Message(Vec<u8>),
    TooLong,
    End,
}

fn read_line(r: &mut impl BufRead, max: usize) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut over = false;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(match (over, buf.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Message(buf),
            });
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i, Some(i + 1)),
            None => (avail.len(), None),
        };
        if !over {
            if buf.len() + take > max {
                over = true;
                buf = Vec::new();
            } else {
                buf.extend_from_slice(&avail[..take]);
            }
        }
        r.consume(done.unwrap_or(take));
        if done.is_some() {
            return Ok(if over {
                Line::TooLong
            } else {
                Line::Message(buf)
            });
        }
    }
}

/// What the reader threads and the main thread share.
struct Shared<'a> {
    name: &'a str,
    env: Env<'a>,
    session: Mutex<Session>,
    stdout: Mutex<Stdout>,
    server_in: Mutex<Option<ChildStdin>>,
}

impl Shared<'_> {
    /// Judge with the session (under its lock), report its warnings, send what it says.
    fn step(&self, f: impl FnOnce(&mut Session, &Env<'_>) -> Vec<Out>) {
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outs = f(&mut session, &self.env);
        for w in session.warnings.drain(..) {
            eprintln!("bulwark mcp wrap ({}): {w}", self.name);
        }
        // Sent while the session is held, so messages leave in the order they were judged.
        self.send(outs);
    }

    fn send(&self, outs: Vec<Out>) {
        for o in outs {
            match o {
                Out::ToClient(m) => {
                    let mut out = self.stdout.lock().unwrap_or_else(|p| p.into_inner());
                    // A client that went away reads nothing more; the server's end follows.
                    let _ = out
                        .write_all(m.as_bytes())
                        .and_then(|()| out.write_all(b"\n"))
                        .and_then(|()| out.flush());
                }
                Out::ToServer(m) => {
                    let mut server = self.server_in.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(s) = server.as_mut()
                        && s.write_all(m.as_bytes())
                            .and_then(|()| s.write_all(b"\n"))
                            .and_then(|()| s.flush())
                            .is_err()
                    {
                        *server = None;
                    }
                }
            }
        }
    }
}

/// How a side ended.
enum End {
    Client,
    Server(String),
}

/// Read one side line by line into the session until it ends.
fn read_side(
    shared: &Shared<'_>,
    r: impl Read,
    client: bool,
    ended: &crossbeam_channel::Sender<End>,
) {
    let max = shared.env.policy.cfg.mcp.max_message_bytes;
    let mut r = BufReader::with_capacity(64 * 1024, r);
    loop {
        match read_line(&mut r, max) {
            Ok(Line::Message(m)) if m.trim_ascii().is_empty() => {}
            Ok(Line::Message(m)) if client => shared.step(|s, env| s.from_client(env, &m)),
            Ok(Line::Message(m)) => shared.step(|s, env| s.from_server(env, &m)),
            Ok(Line::TooLong) if client => shared.step(|s, _| s.client_oversized()),
            Ok(Line::TooLong) => shared.step(|s, _| s.server_oversized()),
            Ok(Line::End) | Err(_) if client => {
                let _ = ended.send(End::Client);
                return;
            }
            Ok(Line::End) => {
                let _ = ended.send(End::Server("exited".into()));
                return;
            }
            Err(e) => {
                let _ = ended.send(End::Server(format!("closed its output ({e})")));
                return;
            }
        }
    }
}

pub(crate) fn wrap(ctx: &Context, name: &str, command: &[String]) -> Result<u8, Fatal> {
    if !valid_server_name(name) {
        return Err(Fatal(format!(
            "--name {name:?}: expected {SERVER_NAME_RULE}"
        )));
    }
    let (program, args) = command.split_first().ok_or_else(|| {
        Fatal(
            "the server's command is missing: `bulwark mcp wrap --name NAME -- CMD ARGS...`".into(),
        )
    })?;
    let mcp = &ctx.cfg().mcp;
    // A client may start several wrapped servers: each appends through whichever holds the log.
    let audit = match ctx.audit_opener()? {
        Some(open) => {
            Some(SharedLog::new(&crate::home_dir()?, open).map_err(|e| Fatal(e.to_string()))?)
        }
        None => None,
    };
    // Compiled now, not on the first message.
    ctx.policy
        .scanner
        .precompile()
        .map_err(|e| Fatal(e.to_string()))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Fatal(format!("cannot start the MCP server `{program}`: {e}")))?;
    let server_out = child
        .stdout
        .take()
        .ok_or_else(|| Fatal("the server has no standard output".into()))?;
    let approvals = Approvals::new(
        ctx.store(),
        audit.as_ref().map(|a| a as &dyn AuditSink),
        Approvers::from_config(&ctx.cfg().approval),
        ctx.cfg().approval.ttl_secs,
        &SystemClock,
    );
    let shared = Shared {
        name,
        env: Env {
            policy: &ctx.policy,
            pins: ctx.store(),
            approvals: &approvals,
            audit: audit.as_ref().map(|a| a as &dyn AuditSink),
            probe: &OsPaths,
            clock: &SystemClock,
            handoffs: Some(ctx.store()),
        },
        session: Mutex::new(Session::new(
            ServerIdentity::stdio(name, program, args),
            mcp,
        )),
        stdout: Mutex::new(std::io::stdout()),
        server_in: Mutex::new(child.stdin.take()),
    };
    let (tx, rx) = crossbeam_channel::bounded(2);
    std::thread::scope(|scope| {
        let (shared, tx2) = (&shared, tx.clone());
        scope.spawn(move || read_side(shared, server_out, false, &tx2));
        scope.spawn(move || read_side(shared, std::io::stdin(), true, &tx));
        let mut client_gone_at: Option<Instant> = None;
        let why = loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(End::Server(why)) => break why,
                Ok(End::Client) => {
                    // The server sees the end of its input, as it would without Bulwark.
                    *shared.server_in.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    client_gone_at = Some(Instant::now());
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if client_gone_at.is_some_and(|t| t.elapsed() > Duration::from_secs(5)) {
                        // The client left and the server does not end: stop it.
                        let _ = child.kill();
                    }
                    shared.step(|s, env| if s.holding() { s.tick(env) } else { Vec::new() });
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break "ended".into(),
            }
        };
        // Every awaiting request is answered; the session stays locked, so nothing more is
        // judged while the wrapper ends.
        let mut session = shared.session.lock().unwrap_or_else(|p| p.into_inner());
        let outs = session.server_gone(&why);
        for w in session.warnings.drain(..) {
            eprintln!("bulwark mcp wrap ({name}): {w}");
        }
        shared.send(outs);
        *shared.server_in.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let code = exit_status(&mut child);
        // The client's reader may be blocked on its input for good: end here, the audit log
        // closed first (its final checkpoint written, its relay's socket removed).
        if let Some(a) = &audit {
            a.close();
        }
        std::process::exit(i32::from(code));
    })
}

/// The server's exit status as a shell reports it (128+N when killed by signal N).
fn exit_status(child: &mut Child) -> u8 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                use std::os::unix::process::ExitStatusExt;
                return match (st.code(), st.signal()) {
                    (Some(c), _) => u8::try_from(c).unwrap_or(1),
                    (None, Some(s)) => u8::try_from(128 + s).unwrap_or(1),
                    _ => 1,
                };
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return 1;
            }
        }
    }
}
