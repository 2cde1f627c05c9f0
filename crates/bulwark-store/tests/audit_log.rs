//! The file audit log through its public API: durability, concurrency, segments, torn tails,
//! retention, redaction, and a crash test that kills a writer with SIGKILL.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bulwark_core::audit::{
    AuditEvent, AuditSink, Chain, EventType, FailureKind, VerifyReport, now_rfc3339,
};
use bulwark_core::{Redactor, Scanner, SecurityConfig};
use bulwark_store::audit_file::{DirVerify, FileLogOptions, segment_files, verify_dir};
use bulwark_store::keys::KeyFiles;
use bulwark_store::{AuditLog, StoreError};

fn options(dir: &Path) -> FileLogOptions {
    let mut o = FileLogOptions::from_config(&SecurityConfig::default().audit, dir);
    o.dir = dir.join("audit");
    o
}

fn event(i: usize) -> AuditEvent {
    AuditEvent {
        event_type: EventType::Decision,
        actor: format!("worker-{}", i % 4),
        action: "scan".into(),
        resource: format!("doc-{i}"),
        outcome: "allow".into(),
        details: serde_json::json!({"i": i}),
    }
}

fn verify(home: &Path) -> VerifyReport {
    let files = KeyFiles::new(home.join("keys"));
    let keys = files.load_hmac().expect("keys").expect("hmac keys exist");
    let public = files
        .load_public()
        .expect("public")
        .expect("public key exists");
    verify_dir(
        &home.join("audit"),
        &DirVerify {
            keys: &keys,
            public_key: Some(public),
        },
    )
    .expect("verify")
    .0
}

/// Every sequence number from 1 to `n` was acknowledged exactly once, and the closed log of `n`
/// records verifies.
fn assert_gapless(home: &Path, mut seqs: Vec<u64>, n: u64) {
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=n).collect::<Vec<u64>>());
    let rep = verify(home);
    assert!(rep.ok, "{rep:?}");
    assert_eq!(rep.records, n);
}

fn open(home: &Path, opts: FileLogOptions) -> AuditLog {
    let keys = KeyFiles::new(home.join("keys"))
        .load_or_create()
        .expect("keys");
    AuditLog::open(opts, keys, None).expect("open").0
}

/// A record the log writes is one it reads back: an event larger than a record may be (a provider's
/// reply copied into details, a huge resource) is cut to fit, and the log still verifies and opens.
/// Before, such a record was written whole and the log was refused from then on.
#[test]
fn an_oversized_event_is_cut_to_fit_and_the_log_still_verifies() {
    let home = tempfile::tempdir().expect("tempdir");
    let log = open(home.path(), options(home.path()));
    let mut big = event(0);
    big.details = serde_json::json!({"usage": {"blob": "x".repeat(2 * 1024 * 1024)}});
    big.resource = "r".repeat(100_000);
    let r = log.append(big).expect("append");
    assert_eq!(r.details["truncated"], true);
    assert!(r.details["details_bytes"].as_u64().unwrap() > 2 * 1024 * 1024);
    assert_eq!(r.resource.len(), 4096);
    log.append(event(1)).expect("append after");
    drop(log);
    let rep = verify(home.path());
    assert!(rep.ok, "{rep:?}");
    assert_eq!(rep.records, 2);
    let log = open(home.path(), options(home.path()));
    assert_eq!(log.append(event(2)).expect("reopened").seq, 3);
}

#[test]
fn appends_are_durable_checkpointed_and_verify() {
    let home = tempfile::tempdir().expect("tempdir");
    let log = open(home.path(), options(home.path()));
    for i in 0..100 {
        let r = log.append(event(i)).expect("append");
        assert_eq!(r.seq, i as u64 + 1);
    }
    drop(log);
    let rep = verify(home.path());
    assert!(rep.ok, "{rep:?}");
    assert_eq!(rep.records, 100);
    assert!(
        rep.checkpoints_checked >= 1,
        "a checkpoint is written on close"
    );
    // Reopening continues the chain.
    let log = open(home.path(), options(home.path()));
    assert_eq!(log.append(event(100)).expect("append").seq, 101);
    drop(log);
    assert!(verify(home.path()).ok);
    // Key files are private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["audit-hmac.keys", "audit-signing.key"] {
            let mode = std::fs::metadata(home.path().join("keys").join(f))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
}

#[test]
fn many_threads_append_without_gaps() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut opts = options(home.path());
    opts.segment_max_bytes = 64 * 1024;
    let log = open(home.path(), opts);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..250)
                    .map(|i| log.append(event(t * 1000 + i)).expect("append").seq)
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("join"))
        .collect();
    drop(log);
    assert_gapless(home.path(), seqs, 2000);
    assert!(
        segment_files(&home.path().join("audit"))
            .expect("segments")
            .len()
            > 1
    );
}

#[test]
fn tasks_and_threads_append_together_without_gaps() {
    // Tasks awaiting `append_async` (woken by the writer thread, no thread held) and a thread
    // blocked in `append` share the writer and its group commits: every record is acknowledged
    // once, with its own sequence number, and the log verifies.
    let home = tempfile::tempdir().expect("tempdir");
    let log = open(home.path(), options(home.path()));
    let thread_log = log.clone();
    let thread = std::thread::spawn(move || {
        (0..200)
            .map(|i| thread_log.append(event(50_000 + i)).expect("append").seq)
            .collect::<Vec<u64>>()
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut seqs: Vec<u64> = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..32 {
            let log = log.clone();
            tasks.spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..25 {
                    let r = log.append_async(event(t * 1000 + i)).await.expect("append");
                    assert_eq!(r.resource, format!("doc-{}", t * 1000 + i));
                    seqs.push(r.seq);
                }
                seqs
            });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done.expect("task"));
        }
        all
    });
    seqs.extend(thread.join().expect("join"));
    drop(log);
    assert_gapless(home.path(), seqs, 1000);
}

#[test]
fn submitted_records_gather_without_holding_waited_ones_and_none_is_lost() {
    // Records nobody waits for (`submit`) gather for the submit window and share one write.
    let home = tempfile::tempdir().expect("tempdir");
    let mut opts = options(home.path());
    opts.submit_window = Duration::from_secs(30);
    let log = open(home.path(), opts);
    log.submit(event(1)).expect("submit");
    // A record a caller waits for ends the window at once (not 30 s later), and the record
    // submitted before it comes first in the chain.
    let started = std::time::Instant::now();
    let waited = log.append(event(2)).expect("append");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((waited.seq, waited.resource.as_str()), (2, "doc-2"));
    assert_eq!(verify(home.path()).records, 2);
    drop(log);

    // Submissions from many threads, the last handle dropped right after them: every one is
    // written, whatever the window (none, the default, longer than the test), and with group
    // commit off (no gathering).
    // (One record per batch keeps the writer busy while the handles go.)
    for (window, group_commit, group_max) in [
        (Duration::ZERO, true, 256),
        (Duration::from_millis(2), true, 256),
        (Duration::from_millis(2), true, 1),
        (Duration::from_secs(30), true, 256),
        (Duration::from_millis(2), false, 256),
    ] {
        let home = tempfile::tempdir().expect("tempdir");
        let mut opts = options(home.path());
        opts.submit_window = window;
        opts.group_commit = group_commit;
        opts.group_max = group_max;
        let log = open(home.path(), opts);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        log.submit(event(10_000 + t * 1000 + i)).expect("submit");
                        if i == 125 {
                            // The rest arrive while the writer is busy with the first.
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
            })
            .collect();
        drop(log);
        for t in threads {
            t.join().expect("join");
        }
        let rep = verify(home.path());
        assert!(rep.ok, "{window:?}: {rep:?}");
        assert_eq!(rep.records, 2000, "{window:?}, group commit {group_commit}");
    }

    // A lone submission with nothing after it is written once its window ends.
    for window in [Duration::ZERO, Duration::from_millis(20)] {
        let home = tempfile::tempdir().expect("tempdir");
        let mut opts = options(home.path());
        opts.submit_window = window;
        let log = open(home.path(), opts);
        log.submit(event(3)).expect("submit");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while verify(home.path()).records < 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "{window:?}: the lone submission was never written"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(log);
    }
}

/// A closed log of five records, and its segment file.
fn five_records() -> (tempfile::TempDir, std::path::PathBuf) {
    let home = tempfile::tempdir().expect("tempdir");
    let log = open(home.path(), options(home.path()));
    for i in 0..5 {
        log.append(event(i)).expect("append");
    }
    drop(log);
    let seg = segment_files(&home.path().join("audit"))
        .expect("segments")
        .pop()
        .expect("one");
    (home, seg)
}

#[test]
fn torn_tail_is_reported_then_recovered_and_logged() {
    let (home, seg) = five_records();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open");
    let fragment = b"{\"seq\":6,\"timestamp\":\"2026-";
    f.write_all(fragment).expect("write");
    drop(f);
    let rep = verify(home.path());
    assert_eq!(
        rep.failure.as_ref().map(|f| f.kind),
        Some(FailureKind::TornTail),
        "{rep:?}"
    );
    assert_eq!(rep.records, 5);

    let keys = KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    let (log, report) = AuditLog::open(options(home.path()), keys, None).expect("open");
    let recovered = report.recovered.expect("recovered");
    assert_eq!(recovered.bytes, fragment.len() as u64);
    assert!(recovered.kept_in.exists());
    let r = log.append(event(7)).expect("append");
    assert_eq!(r.seq, 7, "seq 6 is the recovery record");
    drop(log);
    let rep = verify(home.path());
    assert!(rep.ok, "{rep:?}");
    let text = std::fs::read_to_string(&seg).expect("read");
    assert!(text.contains("audit.recover_torn_tail"));
}

#[test]
fn a_damaged_log_is_not_appended_to() {
    let (home, seg) = five_records();
    let text = std::fs::read_to_string(&seg).expect("read");
    std::fs::write(&seg, text.replacen("doc-2", "doc-X", 1)).expect("write");
    let keys = KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    match AuditLog::open(options(home.path()), keys, None) {
        Err(StoreError::Damaged { kind, message, .. }) => {
            assert_eq!(kind, "modified");
            assert!(message.contains("record 3"), "{message}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a damaged log was opened for appending"),
    }
}

#[test]
fn details_are_redacted_before_writing() {
    let home = tempfile::tempdir().expect("tempdir");
    let keys = KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    let cfg = SecurityConfig::default();
    let redactor = Redactor::new(
        Scanner::new(&cfg.scan).expect("scanner"),
        &cfg.redact,
        &|_| None,
    )
    .expect("redactor");
    let (log, _) = AuditLog::open(options(home.path()), keys, Some(redactor)).expect("open");
    let mut e = event(1);
    e.details = serde_json::json!({"env": ["AWS_ACCESS_KEY_ID=AKIALALEMEL33243OLIB"], "who": "bob@corp.example.net"});
    let r = log.append(e).expect("append");
    drop(log);
    let text = std::fs::read_to_string(
        segment_files(&home.path().join("audit"))
            .expect("segments")
            .pop()
            .expect("one"),
    )
    .expect("read");
    assert!(
        !text.contains("AKIALALEMEL33243OLIB") && !text.contains("bob@corp"),
        "{text}"
    );
    assert!(r.details.to_string().contains("REDACTED"));
    assert!(verify(home.path()).ok);
}

#[test]
fn retention_prunes_old_segments_and_leaves_a_verifiable_anchor() {
    let home = tempfile::tempdir().expect("tempdir");
    let keys = KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    let seg_dir = home.path().join("audit/segments");
    std::fs::create_dir_all(&seg_dir).expect("mkdir");
    // Three segments of records from 40, 39 and 0 days ago.
    let mut chain = Chain::genesis();
    let now = std::time::SystemTime::now();
    for (n, days_ago) in [(1, 40u64), (2, 39), (3, 0)] {
        let ts = humantime::format_rfc3339_micros(now - Duration::from_secs(days_ago * 86_400))
            .to_string();
        let mut text = String::new();
        for i in 0..3 {
            let r = chain
                .seal(event(i), ts.clone(), keys.current())
                .expect("seal");
            text.push_str(&serde_json::to_string(&r).expect("json"));
            text.push('\n');
        }
        std::fs::write(seg_dir.join(format!("{n:08}.jsonl")), text).expect("write");
    }
    let mut opts = options(home.path());
    opts.retention_days = 30;
    let (log, report) = AuditLog::open(opts, keys, None).expect("open");
    assert_eq!(report.pruned.len(), 2);
    assert_eq!(
        log.append(event(9)).expect("append").seq,
        11,
        "10 records the pruning"
    );
    drop(log);
    let rep = verify(home.path());
    assert!(rep.ok, "{rep:?}");
    assert_eq!(rep.records, 5, "3 kept, the prune record, one more");
    assert!(home.path().join("audit/anchor.json").exists());
}

/// The crash test's child: appends until killed, printing each acknowledged sequence number.
#[test]
fn crash_child() {
    let Some(home) = std::env::var_os("BULWARK_CRASH_CHILD_HOME") else {
        return;
    };
    let home = Path::new(&home);
    let log = open(home, options(home));
    let stdout = std::io::stdout();
    for i in 0.. {
        let r = log.append(event(i)).expect("append");
        let mut out = stdout.lock();
        let _ = writeln!(out, "ack {}", r.seq);
        let _ = out.flush();
    }
}

#[cfg(unix)]
#[test]
fn killed_writers_lose_nothing_acknowledged() {
    let home = tempfile::tempdir().expect("tempdir");
    KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    let exe = std::env::current_exe().expect("test binary");
    let mut torn_seen = 0;
    let mut acked_rounds = 0;
    for round in 0..12u64 {
        let mut child = Command::new(&exe)
            .args([
                "crash_child",
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("BULWARK_CRASH_CHILD_HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut last = 0u64;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                    last = n;
                }
            }
            last
        });
        // Kill at a different moment each round: 40 to 260 ms after start.
        std::thread::sleep(Duration::from_millis(40 + (round * 97) % 220));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let acked = reader.join().expect("reader");
        acked_rounds += usize::from(acked > 0);
        let rep = verify(home.path());
        match &rep.failure {
            None => {}
            Some(f) if f.kind == FailureKind::TornTail => torn_seen += 1,
            Some(f) => panic!("round {round}: {f:?}"),
        }
        assert!(
            rep.last_seq >= acked,
            "round {round}: acknowledged {acked} but the log ends at {}",
            rep.last_seq
        );
    }
    eprintln!(
        "crash test: 12 kills ({acked_rounds} after acknowledged records), {torn_seen} torn tails reported"
    );
    assert!(
        acked_rounds >= 6,
        "the child rarely got to append: {acked_rounds} rounds"
    );
    // The next open recovers any torn tail and the log verifies.
    drop(open(home.path(), options(home.path())));
    let rep = verify(home.path());
    assert!(rep.ok, "{rep:?}");
    let _ = now_rfc3339();
}

#[test]
fn sqlite_backend_appends_verifies_and_names_tampering() {
    let home = tempfile::tempdir().expect("tempdir");
    let db = home.path().join("audit.db");
    let keys = KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    let (log, _) = AuditLog::open_sqlite(&db, options(home.path()), keys, None).expect("open");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    log.append(event(t * 100 + i)).expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    drop(log);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["audit.db", "audit.db-wal", "audit.db-shm"] {
            let path = home.path().join(f);
            if path.exists() {
                let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
                assert_eq!(mode & 0o077, 0, "{f} is private");
            }
        }
    }
    let files = KeyFiles::new(home.path().join("keys"));
    let hmac = files.load_hmac().expect("keys").expect("keys");
    let with = DirVerify {
        keys: &hmac,
        public_key: files.load_public().expect("public"),
    };
    let (rep, _) = bulwark_store::audit_sqlite::verify_db(&db, &with).expect("verify");
    assert!(rep.ok, "{rep:?}");
    assert_eq!(rep.records, 200);
    assert!(rep.checkpoints_checked >= 1);

    // Edit one row, delete another: the first is named.
    run_sql(
        &db,
        &[
            "UPDATE audit_records SET line = replace(line, '\"allow\"', '\"deny\"') WHERE id = 42",
            "DELETE FROM audit_records WHERE id = 100",
        ],
    );
    let (rep, _) = bulwark_store::audit_sqlite::verify_db(&db, &with).expect("verify");
    let f = rep.failure.expect("detected");
    assert_eq!((f.kind, f.seq), (FailureKind::Modified, Some(42)), "{f:?}");
    let keys = KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    assert!(matches!(
        AuditLog::open_sqlite(&db, options(home.path()), keys, None),
        Err(StoreError::Damaged { .. })
    ));
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_log() {
    let home = tempfile::tempdir().expect("tempdir");
    let opts = options(home.path());
    let dir = opts.dir.clone();
    let log = open(home.path(), opts);
    log.append(event(1)).expect("append");
    let lock = dir.join("lock");
    match bulwark_store::fs::lock_writer(&dir, &lock, Duration::from_millis(50)) {
        Err(StoreError::InUse { .. }) => {}
        other => panic!("expected InUse, got {:?}", other.map(|_| ())),
    }
    drop(log);
    bulwark_store::fs::lock_writer(&dir, &lock, Duration::from_millis(50))
        .expect("the lock is free once the writer closed");
}

/// `open_verify = "since_checkpoint"`: 25 records, checkpoints every 10 (and one at close).
fn checkpointed(sqlite: bool) -> (tempfile::TempDir, FileLogOptions) {
    let home = tempfile::tempdir().expect("tempdir");
    let mut opts = options(home.path());
    opts.checkpoint_every = 10;
    opts.open_verify = bulwark_core::config::OpenVerify::SinceCheckpoint;
    let keys = KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    let log = if sqlite {
        AuditLog::open_sqlite(&home.path().join("audit.db"), opts.clone(), keys, None)
    } else {
        AuditLog::open(opts.clone(), keys, None)
    }
    .expect("open")
    .0;
    for i in 0..25 {
        log.append(event(i)).expect("append");
    }
    drop(log);
    (home, opts)
}

fn reopen(
    home: &Path,
    opts: &FileLogOptions,
    sqlite: bool,
) -> Result<bulwark_store::audit_file::OpenReport, StoreError> {
    let keys = KeyFiles::new(home.join("keys"))
        .load_or_create()
        .expect("keys");
    let (log, report) = if sqlite {
        AuditLog::open_sqlite(&home.join("audit.db"), opts.clone(), keys, None)?
    } else {
        AuditLog::open(opts.clone(), keys, None)?
    };
    log.append(event(99)).expect("append");
    Ok(report)
}

/// Run SQL statements on an audit database directly (tampering, as an attacker with file access).
fn run_sql(db: &Path, statements: &[&'static str]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("connect");
        for sql in statements {
            sqlx::query(*sql).execute(&mut conn).await.expect(sql);
        }
    });
}

/// Rewrite the last segment of the log in `home` with `f`.
fn edit_segment(home: &Path, f: impl FnOnce(String) -> String) {
    let seg = segment_files(&home.join("audit"))
        .expect("segs")
        .pop()
        .expect("one");
    let text = std::fs::read_to_string(&seg).expect("read");
    std::fs::write(&seg, f(text)).expect("write");
}

#[test]
fn since_checkpoint_checks_what_follows_the_last_checkpoint() {
    // Untouched: only the checkpoint's record is read back, nothing before it is checked.
    let (home, opts) = checkpointed(false);
    let r = reopen(home.path(), &opts, false).expect("open");
    assert_eq!((r.checked, r.last_seq), (0, 25));
    // A record before the checkpoint is changed: a writer still opens (that is the trade), and
    // `verify` names it.
    edit_segment(home.path(), |t| t.replacen("doc-2\"", "doc-X\"", 1));
    reopen(home.path(), &opts, false).expect("open despite old damage");
    let rep = verify(home.path());
    assert_eq!(rep.failure.expect("found").kind, FailureKind::Modified);
    let mut full = opts.clone();
    full.open_verify = bulwark_core::config::OpenVerify::Full;
    assert!(matches!(
        reopen(home.path(), &full, false),
        Err(StoreError::Damaged { .. })
    ));

    // Damage at or after the last checkpoint is refused in this mode too.
    let (home, opts) = checkpointed(false);
    // Drop the checkpoint made at close, so records 21-25 follow the last one (at 20).
    let cps = home.path().join("audit/checkpoints.jsonl");
    let lines: Vec<String> = std::fs::read_to_string(&cps)
        .expect("cps")
        .lines()
        .map(str::to_string)
        .collect();
    assert!(lines.len() >= 3, "{lines:?}");
    std::fs::write(&cps, format!("{}\n", lines[..lines.len() - 1].join("\n"))).expect("write");
    edit_segment(home.path(), |t| t.replacen("doc-22\"", "doc-Y\"", 1));
    match reopen(home.path(), &opts, false) {
        Err(StoreError::Damaged { kind, .. }) => assert_eq!(kind, "modified"),
        other => panic!("damage after the checkpoint was appended to: {other:?}"),
    }
    // The checkpoint's own record changed, or the log cut short: the whole log is checked, and
    // the open refused.
    let (home, opts) = checkpointed(false);
    edit_segment(home.path(), |t| t.replacen("doc-24\"", "doc-Z\"", 1));
    assert!(matches!(
        reopen(home.path(), &opts, false),
        Err(StoreError::Damaged { .. })
    ));
    let (home, opts) = checkpointed(false);
    edit_segment(home.path(), |t| {
        let kept: Vec<&str> = t.lines().take(22).collect();
        format!("{}\n", kept.join("\n"))
    });
    match reopen(home.path(), &opts, false) {
        Err(StoreError::Damaged { kind, .. }) => assert_eq!(kind, "truncated"),
        other => panic!("a truncated log was appended to: {other:?}"),
    }
    // A torn tail after the checkpoint is recovered as in full mode.
    let (home, opts) = checkpointed(false);
    edit_segment(home.path(), |t| {
        format!("{t}{{\"seq\":26,\"timestamp\":\"2026-")
    });
    let r = reopen(home.path(), &opts, false).expect("recovered");
    assert!(r.recovered.is_some());
    assert!(verify(home.path()).ok);
}

#[test]
fn since_checkpoint_on_sqlite() {
    let (home, opts) = checkpointed(true);
    let db = home.path().join("audit.db");
    let r = reopen(home.path(), &opts, true).expect("open");
    assert_eq!((r.checked, r.last_seq), (0, 25));
    let edit = |sql: &'static str| run_sql(&db, &[sql]);
    // Before the last checkpoint: opens (verify finds it); the last record itself: refused.
    edit("UPDATE audit_records SET line = replace(line, '\"doc-3\"', '\"doc-X\"') WHERE id = 4");
    reopen(home.path(), &opts, true).expect("open despite old damage");
    edit(
        "UPDATE audit_records SET line = replace(line, '\"doc-99\"', '\"doc-Z\"') WHERE id = (SELECT max(id) FROM audit_records)",
    );
    assert!(matches!(
        reopen(home.path(), &opts, true),
        Err(StoreError::Damaged { .. })
    ));
}

/// A sidecar whose home is removed while it stops (a script's cleanup racing its SIGTERM) still
/// stops: the relay's accept loop, which nothing can wake once its socket file is gone, is left
/// behind instead of waited for.
#[test]
fn the_relay_stops_when_its_home_is_removed_under_it() {
    let home = tempfile::tempdir().expect("home");
    let log = open(home.path(), options(home.path()));
    let relay = bulwark_store::audit_relay::Relay::start(
        log.clone(),
        &bulwark_store::audit_relay::socket_path(home.path()),
    )
    .expect("relay");
    std::fs::remove_file(relay.path()).expect("remove the socket");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(relay);
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the relay stopped although its socket file was gone");
}
