//! The audit relay: commands append through the running sidecar instead of waiting for its lock.
//!
//! Threat answered: evidence lost or a chain forked because two processes wrote one log, and
//! operators locked out of their own tools while `bulwark serve` runs (every audited command used
//! to wait for the writer's lock and give up). The log keeps exactly one writer: the sidecar
//! listens on a Unix socket in `$BULWARK_HOME` (the directory is 0700, the socket 0600, so only its
//! owner can connect), and a command that finds it appends there: the sidecar seals the record in
//! its own chain and answers once it is durable. Without a sidecar the command opens the log
//! itself, as before.
//!
//! The protocol is one JSON line each way: `{"event": AuditEvent}`, answered by
//! `{"record": AuditRecord}` or `{"error": "..."}`. Lines are bounded ([`MAX_LINE`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bulwark_core::audit::{AuditError, AuditEvent, AuditRecord, AuditSink};

use serde::{Deserialize, Serialize};

use crate::StoreError;
use crate::audit_file::AuditLog;

/// The socket's name in `$BULWARK_HOME`.
pub const SOCKET_NAME: &str = "audit.sock";
/// Longest request or answer line.
pub const MAX_LINE: u64 = 1024 * 1024;
/// Connections served at once; more are refused until one closes.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a command waits to connect before it opens the log itself.
pub const CONNECT_WAIT: Duration = Duration::from_millis(100);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    event: AuditEvent,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<AuditRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The socket path for a home.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join(SOCKET_NAME)
}

/// The sidecar's side: appends what commands send to `log`. Dropping it stops listening and
/// removes the socket.
pub struct Relay {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Disconnected when the accept loop has ended.
    ended: crossbeam_channel::Receiver<()>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("path", &self.path).finish()
    }
}

impl Relay {
    /// Listen on `path` (a stale socket left by a stopped sidecar is replaced; the caller holds
    /// the log's writer lock, so no other sidecar is serving it).
    pub fn start(log: AuditLog, path: &Path) -> Result<Relay, StoreError> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(path, e)),
        }
        let listener = UnixListener::bind(path).map_err(|e| StoreError::io(path, e))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::io(path, e))?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let (ending, ended) = crossbeam_channel::bounded::<()>(0);
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("bulwark-audit-relay".into())
                .spawn(move || {
                    let _ending = ending;
                    for conn in listener.incoming() {
                        if stop.load(Ordering::Acquire) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                            active.fetch_sub(1, Ordering::AcqRel);
                            let _ = answer(
                                &mut &conn,
                                Err("the sidecar's audit relay is serving too many commands: try again".into()),
                            );
                            continue;
                        }
                        let log = log.clone();
                        let done = active.clone();
                        let spawned = std::thread::Builder::new()
                            .name("bulwark-audit-relay-conn".into())
                            .spawn(move || {
                                serve_connection(conn, &log);
                                done.fetch_sub(1, Ordering::AcqRel);
                            });
                        if spawned.is_err() {
                            // No thread took the connection (it is dropped): give its slot back.
                            active.fetch_sub(1, Ordering::AcqRel);
                        }
                    }
                })
                .map_err(|e| StoreError::io(Path::new("audit relay thread"), e))?
        };
        Ok(Relay {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
            ended,
        })
    }

    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop. If the socket's file is gone (the home removed under a stopping
        // sidecar), nothing can wake it: it is left behind rather than waited for forever.
        let _ = UnixStream::connect(&self.path);
        let gone = self
            .ended
            .recv_timeout(std::time::Duration::from_secs(2))
            .is_err_and(|e| e.is_disconnected());
        if let Some(t) = self.thread.take()
            && gone
        {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn answer(w: &mut impl Write, result: Result<AuditRecord, String>) -> std::io::Result<()> {
    let a = match result {
        Ok(record) => Answer {
            record: Some(record),
            error: None,
        },
        Err(e) => Answer {
            record: None,
            error: Some(e),
        },
    };
    let mut line = serde_json::to_vec(&a).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

/// Read one line of at most [`MAX_LINE`] bytes; `None` at the end of the stream.
fn read_line(r: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = r.take(MAX_LINE + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a line longer than {MAX_LINE} bytes, or cut short"),
        ));
    }
    line.pop();
    Ok(Some(line))
}

fn serve_connection(conn: UnixStream, log: &AuditLog) {
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    loop {
        let line = match read_line(&mut reader) {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                let _ = answer(&mut writer, Err(format!("bad request: {e}")));
                return;
            }
        };
        let result = match serde_json::from_slice::<Request>(&line) {
            Ok(req) => log.append(req.event).map_err(|e| e.to_string()),
            Err(e) => Err(format!(
                "bad request: expected {{\"event\": {{...}}}} on one line: {e}"
            )),
        };
        if answer(&mut writer, result).is_err() {
            return;
        }
    }
}

/// Connect to a running sidecar's relay, if one answers within [`CONNECT_WAIT`].
pub fn connect(home: &Path) -> Option<UnixStream> {
    let path = socket_path(home);
    if !path.exists() {
        return None;
    }
    let stream = UnixStream::connect(&path).ok()?;
    stream.set_write_timeout(Some(CONNECT_WAIT * 10)).ok()?;
    Some(stream)
}

/// Append one event over a relay connection; returns the record the sidecar sealed.
pub fn append_over(stream: &mut UnixStream, event: AuditEvent) -> Result<AuditRecord, AuditError> {
    let mut line = serde_json::to_vec(&Request { event })
        .map_err(|e| AuditError::Store(format!("audit relay: {e}")))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(|e| {
        AuditError::Store(format!(
            "audit relay: the sidecar did not take the record: {e}"
        ))
    })?;
    let mut reader = BufReader::new(&*stream);
    let answer_line = read_line(&mut reader)
        .map_err(|e| AuditError::Store(format!("audit relay: {e}")))?
        .ok_or_else(|| {
            AuditError::Store(
                "audit relay: the sidecar closed the connection before the record was durable"
                    .into(),
            )
        })?;
    let a: Answer = serde_json::from_slice(&answer_line)
        .map_err(|e| AuditError::Store(format!("audit relay: bad answer: {e}")))?;
    match (a.record, a.error) {
        (Some(r), None) => Ok(r),
        (_, Some(e)) => Err(AuditError::Store(format!(
            "audit relay: the sidecar refused the record: {e}"
        ))),
        (None, None) => Err(AuditError::Store("audit relay: empty answer".into())),
    }
}

impl AuditLog {
    /// A log whose records go to a running sidecar over `stream` (see [`connect`]).
    pub fn relayed(mut stream: UnixStream) -> Result<AuditLog, StoreError> {
        AuditLog::forwarding(Box::new(move |event| append_over(&mut stream, event)))
    }
}

/// How a [`SharedLog`] opens the log: through a relay when one answers, else itself.
pub type Opener = Box<dyn Fn() -> Result<AuditLog, StoreError> + Send + Sync>;

/// The audit log of a long-running command that is not the sidecar (`bulwark mcp wrap`, of which
/// a client may start several): it appends through whoever holds the log (the sidecar, or another
/// such command) and, when nobody does, holds it itself and relays for the others, so no command
/// waits on its lock. When the holder it appended through goes away, the next append opens the
/// log again (through the next holder, or itself).
pub struct SharedLog {
    home: PathBuf,
    open: Opener,
    state: std::sync::Mutex<(Option<AuditLog>, Option<Relay>)>,
}

impl SharedLog {
    /// Open now (so a log that cannot be opened is reported before anything runs).
    pub fn new(home: &Path, open: Opener) -> Result<SharedLog, StoreError> {
        let me = SharedLog {
            home: home.to_path_buf(),
            open,
            state: std::sync::Mutex::new((None, None)),
        };
        {
            let mut st = me.state.lock().unwrap_or_else(|p| p.into_inner());
            me.reopen(&mut st)?;
        }
        Ok(me)
    }

    /// Close the log now (its final checkpoint written, the relay's socket removed), for a
    /// process about to exit without unwinding; a later append opens it again.
    pub fn close(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.1 = None;
        st.0 = None;
    }

    fn reopen(&self, st: &mut (Option<AuditLog>, Option<Relay>)) -> Result<(), StoreError> {
        st.1 = None;
        st.0 = None;
        let log = (self.open)()?;
        if !log.is_relayed() {
            st.1 = Some(Relay::start(log.clone(), &socket_path(&self.home))?);
        }
        st.0 = Some(log);
        Ok(())
    }
}

impl AuditSink for SharedLog {
    fn append(&self, event: AuditEvent) -> Result<AuditRecord, AuditError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = &st.0 {
            match log.append(event.clone()) {
                Ok(r) => return Ok(r),
                // The holder went away: take over below.
                Err(_) if log.is_relayed() => {}
                Err(e) => return Err(e),
            }
        }
        self.reopen(&mut st)
            .map_err(|e| AuditError::Store(e.to_string()))?;
        match &st.0 {
            Some(log) => log.append(event),
            None => Err(AuditError::Store("the audit log is not open".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_must_end() {
        let mut ok = std::io::Cursor::new(b"{\"a\":1}\nrest".to_vec());
        assert_eq!(read_line(&mut ok).unwrap().unwrap(), b"{\"a\":1}");
        // A last line without its newline was cut short.
        assert!(read_line(&mut ok).is_err());
        let mut none = std::io::Cursor::new(Vec::new());
        assert!(read_line(&mut none).unwrap().is_none());
        let long = vec![b'x'; (MAX_LINE + 10) as usize];
        let mut long = std::io::Cursor::new(long);
        let e = read_line(&mut long).unwrap_err();
        assert!(e.to_string().contains("longer than"), "{e}");
    }

    #[test]
    fn a_stale_socket_is_not_a_relay() {
        let dir = tempfile::tempdir().unwrap();
        let path = socket_path(dir.path());
        assert!(connect(dir.path()).is_none());
        // A socket file nobody listens on (a killed sidecar's).
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        assert!(connect(dir.path()).is_none());
    }
}
