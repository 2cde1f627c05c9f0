//! A throwaway PostgreSQL server for tests: `initdb` into a temporary directory and `postgres` on
//! a free loopback port (run as the `postgres` user when the tests run as root, which PostgreSQL
//! refuses). Shared by the store's and the CLI's tests (`#[path]`); the crate that includes it
//! has `free_port` at its root (support/ports.rs), one port sequence per test process.
// Each test crate uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running server; stopped and deleted on drop.
pub struct Postgres {
    child: std::process::Child,
    data: PathBuf,
    _dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// With TLS: the CA that signed its certificate.
    pub ca: Option<PathBuf>,
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
        if let Some(pid) = &pid {
            let _ = Command::new("kill").args(["-QUIT", pid]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The postmaster exits only after its backends have: until then a client's open
        // connection may still answer. Wait for it (bounded), so "stopped" means stopped.
        if let Some(pid) = pid {
            // Gone, or a zombie nobody has reaped yet (its parent `runuser` was killed).
            let alive = || {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                    s.rsplit_once(") ")
                        .is_some_and(|(_, rest)| !rest.starts_with('Z'))
                })
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            while alive() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
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

/// A PostgreSQL to test with, or `None` (with a notice) when it is not installed.
pub fn postgres() -> Option<Postgres> {
    start(false)
}

fn openssl(args: &[&str], dir: &Path) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A certificate authority made with `openssl` in `dir`: `NAME.crt` and `NAME.key`.
pub fn ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
        dir,
    );
    dir.join(format!("{name}.crt"))
}

/// A server certificate for `127.0.0.1` and `localhost` signed by the CA `ca` made in `dir`:
/// `(server.crt, server.key)`.
fn server_cert(dir: &Path, ca: &str) -> (PathBuf, PathBuf) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        dir,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
        dir,
    );
    (dir.join("server.crt"), dir.join("server.key"))
}

/// A PostgreSQL serving TLS with a certificate signed by a CA of its own (`Postgres::ca`), or `None` (with a
/// notice) when PostgreSQL or `openssl` is not installed.
pub fn postgres_tls() -> Option<Postgres> {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var_os("BULWARK_REQUIRE_OPENSSL").is_none(),
            "BULWARK_REQUIRE_OPENSSL is set but openssl is not installed"
        );
        eprintln!("skipped: openssl is not installed (apt-get install openssl)");
        return None;
    }
    start(true)
}

fn start(tls: bool) -> Option<Postgres> {
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
    let mut ssl = Vec::new();
    let mut ca = None;
    if tls {
        let root = self::ca(dir.path(), "test-ca");
        let (cert, key) = server_cert(dir.path(), "test-ca");
        ssl = vec![
            "ssl=on".to_string(),
            format!("ssl_cert_file={}", cert.display()),
            format!("ssl_key_file={}", key.display()),
        ];
        ca = Some(root);
    }
    if is_root() {
        let mut owned = vec![dir.path().to_path_buf(), data.clone()];
        if tls {
            owned.push(dir.path().join("server.key"));
        }
        for p in &owned {
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
    let port = crate::free_port();
    let child = as_owner(&server)
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.path().display()))
        .args(["-c", "max_connections=200"])
        .args(ssl.iter().flat_map(|c| ["-c", c.as_str()]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres");
    let pg = Postgres {
        child,
        data,
        _dir: dir,
        port,
        ca,
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
