//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory and `postgres` on
//! a free loopback port (run as the `postgres` user when the tests run as root, which PostgreSQL
//! refuses). Shared by the store's and the CLI's tests (`#[path]`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running server; stopped and deleted on drop.
pub struct Postgres {
    child: std::process::Child,
    data: PathBuf,
    _dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Postgres {
    /// Stop the server at once (as a crash or a lost network would look to its clients). The
    /// child may be `runuser`, which does not pass a kill on: the postmaster is told itself
    /// (SIGQUIT, PostgreSQL's immediate shutdown), by the pid in its lock file.
    pub fn stop(&mut self) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
            .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        if let Some(pid) = pid {
            let _ = Command::new("kill").args(["-QUIT", &pid]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The URL of `db` for the superuser `bulwark` (trust authentication on loopback).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://bulwark@127.0.0.1:{}/{db}", self.port)
    }

    /// Run SQL with `psql` as the superuser, in `db`; panics with psql's message on error.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(bin("psql").expect("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(db),
                "-c",
                sql,
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A new empty database; returns its URL.
    pub fn database(&self, name: &str) -> String {
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }
}

/// A PostgreSQL program: on `PATH`, or in Debian's `/usr/lib/postgresql/VERSION/bin`.
fn bin(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if name != "psql" || on_path.is_none() {
        // initdb and postgres are not on Debian's PATH.
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin").join(name))
            .filter(|p| p.is_file())
            .collect();
        versions.sort();
        if let Some(p) = versions.pop() {
            return Some(p);
        }
    }
    on_path
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args` as the `postgres` user when we are root.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A PostgreSQL to test with, or `None` (with a notice) when it is not installed.
pub fn postgres() -> Option<Postgres> {
    let (Some(initdb), Some(server), Some(_)) = (bin("initdb"), bin("postgres"), bin("psql"))
    else {
        assert!(
            std::env::var_os("BULWARK_REQUIRE_POSTGRES").is_none(),
            "BULWARK_REQUIRE_POSTGRES is set but PostgreSQL is not installed (apt-get install postgresql)"
        );
        eprintln!("skipped: PostgreSQL is not installed (apt-get install postgresql)");
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    if is_root() {
        for p in [dir.path(), data.as_path()] {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(p)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown postgres {}", p.display());
        }
    }
    let ok = as_owner(&initdb)
        .args(["-D"])
        .arg(&data)
        .args(["-U", "bulwark", "-A", "trust", "--no-sync", "-E", "UTF8"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "initdb failed in {}", data.display());
    let port = free_port();
    let child = as_owner(&server)
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.path().display()))
        .args(["-c", "max_connections=200"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres");
    let pg = Postgres {
        child,
        data,
        _dir: dir,
        port,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ready = Command::new(bin("psql").expect("psql"))
            .args(["-X", "-q", "-d", &pg.url("postgres"), "-c", "SELECT 1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            return Some(pg);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "postgres did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
