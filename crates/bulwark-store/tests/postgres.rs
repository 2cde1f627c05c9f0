//! The PostgreSQL store several sidecars share: approvals, tokens and pins as in SQLite, and the
//! audit log as one hash chain per instance in tables that refuse UPDATE, DELETE and TRUNCATE.
//!
//! Each test starts its own PostgreSQL (Debian's `postgresql` package, which `.ci/run` installs).
//! Without it the tests skip with a notice, unless `BULWARK_REQUIRE_POSTGRES` is set.

#![cfg(unix)]

#[path = "support/ports.rs"]
mod ports;
#[path = "support/postgres.rs"]
mod support;
use ports::free_port;

use std::collections::BTreeSet;

use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_core::auth::{Scope, TokenRecord};
use bulwark_core::config::SecurityConfig;
use bulwark_core::gateway::budget::{BudgetConfig, BudgetStore, Budgets, Charged, Field, Tokens};
use bulwark_store::AuditLog;
use bulwark_store::audit_file::{DirVerify, FileLogOptions};
use bulwark_store::audit_open::LogSource;
use bulwark_store::audit_pg::PgLog;
use bulwark_store::keys::KeyFiles;
use bulwark_store::state_db::{ConsoleSession, StateDb};
use secrecy::SecretString;

/// One rule: `requests_per_minute` requests a minute and 10,000 tokens a day for every token.
fn budget_rules(requests_per_minute: u64) -> Budgets {
    Budgets::new(
        &[BudgetConfig {
            requests_per_minute,
            tokens_per_day: 10_000,
            ..BudgetConfig::default()
        }],
        &Default::default(),
    )
    .unwrap()
}

/// A request's tokens: 100 of prompt and 900 of reply.
const TOKENS: Tokens = Tokens {
    input: 100,
    output: 900,
};

/// A moment in the middle of a UTC minute.
const NOW: u64 = 1_796_000_030;

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

fn secret(url: &str) -> SecretString {
    SecretString::from(url.to_string())
}

#[test]
fn tokens_and_the_schema_are_shared_and_migrated_once() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let url = secret(&pg.database("state"));
    // Sidecars starting at once migrate the schema once (the migrator's advisory lock).
    let dbs: Vec<StateDb> = std::thread::scope(|s| {
        let h: Vec<_> = (0..4)
            .map(|_| s.spawn(|| StateDb::connect(&url).expect("connect")))
            .collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        pg.sql("state", "SELECT count(*) FROM bulwark_migrations"),
        "4"
    );
    assert!(dbs[0].is_shared());
    assert!(dbs[0].name().starts_with("PostgreSQL 127.0.0.1:"));
    assert!(!dbs[0].name().contains("bulwark@"), "no user in messages");
    let rec = TokenRecord {
        id: "0123456789abcdef".into(),
        name: "coder".into(),
        scopes: BTreeSet::from([Scope::Intents]),
        sha256: "00".repeat(32),
        created_ms: 1,
        revoked_ms: None,
    };
    dbs[0].insert_token(&rec).unwrap();
    assert!(
        dbs[1].insert_token(&rec).is_err(),
        "an active name is unique"
    );
    assert_eq!(dbs[1].tokens().unwrap(), vec![rec.clone()]);
    // A revocation on one is announced to the others.
    let (tx, rx) = std::sync::mpsc::channel();
    assert!(dbs[2].watch_tokens(move || {
        let _ = tx.send(());
    }));
    rx.recv_timeout(std::time::Duration::from_secs(5))
        .expect("called once listening");
    assert_eq!(dbs[1].revoke_token("coder", 5).unwrap(), 1);
    rx.recv_timeout(std::time::Duration::from_secs(1))
        .expect("told of the revocation within a second");
    assert_eq!(dbs[2].tokens().unwrap()[0].revoked_ms, Some(5));
    // A console session made by one sidecar is honoured by another until it ends.
    let session = ConsoleSession {
        token_id: rec.id.clone(),
        name: "coder".into(),
        created_ms: 1_000,
        expires_ms: 61_000,
        person: Some("coder@example.com (sub 42)".into()),
    };
    dbs[0]
        .insert_session("ab".repeat(32).as_str(), &session)
        .unwrap();
    assert_eq!(
        dbs[1].session(&"ab".repeat(32), 60_999).unwrap(),
        Some(session.clone())
    );
    assert_eq!(dbs[1].session(&"ab".repeat(32), 61_000).unwrap(), None);
    assert_eq!(dbs[2].session(&"cd".repeat(32), 2_000).unwrap(), None);
    assert_eq!(dbs[2].purge_sessions(61_000).unwrap(), 1);
    dbs[0].insert_session(&"ef".repeat(32), &session).unwrap();
    assert!(dbs[3].remove_session(&"ef".repeat(32)).unwrap());
    assert!(!dbs[3].remove_session(&"ef".repeat(32)).unwrap());
    // A sign-in flow started on one sidecar is taken once, by whichever the provider's answer
    // reaches, and not after it ended.
    dbs[0]
        .insert_flow("f1", r#"{"state":"s"}"#, 1_000, 601_000)
        .unwrap();
    dbs[0].insert_flow("f2", "{}", 1_000, 2_000).unwrap();
    assert_eq!(
        dbs[1].take_flow("f1", 2_000).unwrap().as_deref(),
        Some(r#"{"state":"s"}"#)
    );
    assert_eq!(dbs[2].take_flow("f1", 2_000).unwrap(), None, "taken once");
    assert_eq!(dbs[2].take_flow("f2", 2_000).unwrap(), None, "ended");
    // SQLite stays the default: nothing to watch there.
    let dir = tempfile::tempdir().unwrap();
    assert!(
        !StateDb::open(&dir.path().join("s.db"))
            .unwrap()
            .watch_tokens(|| ())
    );
}

#[test]
fn a_bad_url_is_named_without_its_password() {
    let e = StateDb::connect(&secret("mysql://u:hunter2@h/db"))
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("[store] url") && !e.contains("hunter2"), "{e}");
    let e = StateDb::connect(&secret("postgres://u:hunter2@127.0.0.1:1/db"))
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("PostgreSQL 127.0.0.1:1/db") && !e.contains("hunter2"),
        "{e}"
    );
}

fn options(dir: &std::path::Path) -> FileLogOptions {
    FileLogOptions::from_config(&SecurityConfig::default().audit, dir)
}

/// A writer of `instance`'s chain, with the keys in `home/keys` and the default options.
fn writer(
    log: &PgLog,
    home: &std::path::Path,
    instance: &str,
) -> Result<(AuditLog, bulwark_store::audit_file::OpenReport), bulwark_store::StoreError> {
    let keys = KeyFiles::new(home.join("keys")).load_or_create()?;
    AuditLog::open_postgres(log, instance, options(home), keys, None)
}

#[test]
fn each_instance_keeps_its_own_chain_and_a_deleted_row_is_found() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let url = secret(&pg.database("audit"));
    let home = tempfile::tempdir().unwrap();
    let files = KeyFiles::new(home.path().join("keys"));
    let log = PgLog::connect(&url).unwrap();
    let mut writers = Vec::new();
    for instance in ["pod-a", "pod-b"] {
        writers.push(writer(&log, home.path(), instance).unwrap().0);
    }
    // A second writer of one instance is refused, not allowed to fork its chain.
    let e = writer(&log, home.path(), "pod-a")
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("pod-a") && e.contains("[store] instance"), "{e}");
    std::thread::scope(|s| {
        for (w, log) in writers.iter().enumerate() {
            s.spawn(move || {
                for i in 0..300 {
                    log.append(event(i + w * 1000)).unwrap();
                }
            });
        }
    });
    drop(writers);
    let hmac = files.load_hmac().unwrap().unwrap();
    let with = DirVerify {
        keys: &hmac,
        public_key: files.load_public().unwrap(),
    };
    let source = LogSource::Pg(log.clone());
    let (report, _) = source.verify(&with).unwrap();
    assert!(report.ok && report.failure.is_none(), "{report:?}");
    assert_eq!(report.records, 600);
    assert!(
        report.checkpoints_checked >= 2,
        "closing checkpoints: {report:?}"
    );
    assert_eq!(log.instances().unwrap(), vec!["pod-a", "pod-b"]);
    // Reopened, an instance continues its chain.
    let (w, opened) = writer(&log, home.path(), "pod-b").unwrap();
    assert_eq!(opened.last_seq, 300);
    assert_eq!(w.append(event(9)).unwrap().seq, 301);
    drop(w);

    // The tables refuse edits, even to their owner.
    for sql in [
        "UPDATE audit_records SET line = 'x' WHERE seq = 3",
        "DELETE FROM audit_records WHERE seq = 3",
        "TRUNCATE audit_records",
        "DELETE FROM audit_checkpoints",
    ] {
        let out = std::process::Command::new("psql")
            .args([
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &pg.url("audit"),
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{sql} was allowed");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("append-only"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A superuser who turns the trigger off and deletes the last row of a chain is found out by
    // the checkpoint that covered it.
    pg.sql(
        "audit",
        "ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only; \
         DELETE FROM audit_records WHERE instance = 'pod-a' AND seq = 300; \
         ALTER TABLE audit_records ENABLE TRIGGER audit_records_append_only;",
    );
    let (report, _) = source.verify(&with).unwrap();
    assert!(!report.ok, "a cut tail is found: {report:?}");
    assert!(report.failure.expect("failure").message.contains("pod-a"));
    // So is one row deleted in the middle of another chain.
    pg.sql(
        "audit",
        "ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only; \
         DELETE FROM audit_records WHERE instance = 'pod-b' AND seq = 150;",
    );
    let (report, _) = source.verify(&with).unwrap();
    let f = report.failure.expect("a gap is a failure");
    assert!(
        f.message.contains("pod-a") || f.message.contains("pod-b"),
        "{f:?}"
    );
    assert!(!report.ok);
}

#[test]
fn a_role_with_insert_and_select_only_can_write_the_log_but_not_change_it() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let owner = secret(&pg.database("roles"));
    drop(StateDb::connect(&owner).unwrap());
    // The SQL docs/fleet.md gives.
    pg.sql(
        "roles",
        "CREATE ROLE bulwark_sidecar LOGIN; \
         GRANT SELECT, INSERT, UPDATE, DELETE ON approvals, settings, api_tokens, held_alerts, \
               mcp_pins, provenance_handoffs, console_sessions, console_flows, budget_windows \
               TO bulwark_sidecar; \
         GRANT SELECT, INSERT ON audit_records, audit_checkpoints TO bulwark_sidecar; \
         GRANT SELECT ON bulwark_migrations TO bulwark_sidecar; \
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO bulwark_sidecar;",
    );
    let url = secret(&format!(
        "postgres://bulwark_sidecar@127.0.0.1:{}/roles",
        pg.port
    ));
    let db = StateDb::connect(&url).expect("the restricted role starts (schema already there)");
    assert!(db.tokens().unwrap().is_empty());
    // It may charge and settle budgets (the functions run with its rights).
    let budgets = db.budgets(false).expect("PostgreSQL budgets");
    let plan = budget_rules(5).plan("agent", "gpt-4o", TOKENS, NOW);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(budgets.charge(plan.charge.clone(), NOW)),
        Ok(Charged::Taken)
    );
    rt.block_on(budgets.adjust(vec![(plan.charge.adds[0].0.clone(), Field::Requests, -1)]));
    let log = PgLog::connect(&url).unwrap();
    let home = tempfile::tempdir().unwrap();
    let (w, _) = writer(&log, home.path(), "pod-a").unwrap();
    w.append(event(1)).unwrap();
    drop(w);
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(format!(
            "postgres://bulwark_sidecar@127.0.0.1:{}/roles",
            pg.port
        ))
        .args([
            "-c",
            "ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the sidecar's role cannot turn the trigger off"
    );
}

#[test]
fn a_writer_whose_session_is_terminated_connects_again_and_loses_nothing() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let url = secret(&pg.database("restart"));
    let home = tempfile::tempdir().unwrap();
    let files = KeyFiles::new(home.path().join("keys"));
    let log = PgLog::connect(&url).unwrap();
    let (w, _) = writer(&log, home.path(), "pod-a").unwrap();
    for i in 0..10 {
        w.append(event(i)).unwrap();
    }
    // An administrator (or a failover) ends every session of the database.
    let ended = pg.sql(
        "restart",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = 'restart' AND pid <> pg_backend_pid()",
    );
    assert_ne!(ended, "0");
    for i in 10..20 {
        assert_eq!(
            w.append(event(i)).expect("appended after reconnecting").seq,
            i as u64 + 1
        );
    }
    drop(w);
    let hmac = files.load_hmac().unwrap().unwrap();
    let (report, _) = log
        .verify(&DirVerify {
            keys: &hmac,
            public_key: files.load_public().unwrap(),
        })
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.records, 20);
}

#[test]
fn a_writer_that_lost_its_lock_to_another_refuses_to_take_its_records_for_its_own() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let url = secret(&pg.database("fork"));
    let home = tempfile::tempdir().unwrap();
    let files = KeyFiles::new(home.path().join("keys"));
    let log = PgLog::connect(&url).unwrap();
    let open = || writer(&log, home.path(), "pod-a").map(|(w, _)| w);
    let w = open().unwrap();
    for i in 0..10 {
        w.append(event(i)).unwrap();
    }
    // Its session ends (its lock with it), and another process of the same instance writes one
    // record, as many as the first is about to.
    pg.sql(
        "fork",
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = 'fork' AND pid <> pg_backend_pid()",
    );
    let other = open().expect("the lock is free");
    assert_eq!(other.append(event(100)).unwrap().seq, 11);
    drop(other);
    // Record 11 exists, but it is not the one the first writer sealed: refused, not acknowledged.
    let e = w.append(event(11)).expect_err("not its record").to_string();
    assert!(e.contains("another process wrote"), "{e}");
    assert!(w.failure().is_some(), "the writer stops and says why");
    let e = w
        .submit(event(12))
        .expect_err("not written: refused")
        .to_string();
    assert!(e.contains(&w.failure().unwrap_or_default()), "{e}");
    drop(w);
    let hmac = files.load_hmac().unwrap().unwrap();
    let (report, _) = log
        .verify(&DirVerify {
            keys: &hmac,
            public_key: files.load_public().unwrap(),
        })
        .unwrap();
    assert!(report.ok, "the chain in the database is whole: {report:?}");
    assert_eq!(report.records, 11);
}

#[test]
fn tls_to_postgres_is_verified_against_the_ca_the_url_names() {
    let Some(pg) = support::postgres_tls() else {
        return;
    };
    pg.database("tls");
    let ca = pg.ca.clone().expect("ca");
    let url = |root: &std::path::Path| {
        secret(&format!(
            "postgres://bulwark@127.0.0.1:{}/tls?sslmode=verify-full&sslrootcert={}",
            pg.port,
            root.display()
        ))
    };
    let db = StateDb::connect(&url(&ca)).expect("verified TLS");
    assert!(db.tokens().unwrap().is_empty());
    // Every connection of the pool is TLS.
    let tls = pg.sql(
        "tls",
        "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'bulwark'",
    );
    assert_eq!(tls, "t");
    // A certificate the named CA did not sign is refused, whatever the server says.
    let other = tempfile::tempdir().unwrap();
    let stranger = support::ca(other.path(), "stranger");
    let e = StateDb::connect(&url(&stranger))
        .err()
        .expect("an unknown CA is refused")
        .to_string();
    assert!(e.contains("PostgreSQL 127.0.0.1"), "{e}");
}

#[test]
fn budgets_are_charged_exactly_once_checked_first_and_settled_to_what_was_used() {
    let Some(pg) = support::postgres() else {
        return;
    };
    let url = secret(&pg.database("budgets"));
    // Two sidecars' stores on one database.
    let (a, b) = (
        StateDb::connect(&url).unwrap(),
        StateDb::connect(&url).unwrap(),
    );
    let stores = [a.budgets(false).unwrap(), b.budgets(false).unwrap()];
    let rules = budget_rules(50);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // 200 charges at once, half on each, on a limit of 50 a minute: exactly 50 are taken. (Each
    // store starts a charge on its pool's runtime when asked, so all 200 are in flight before the
    // first answer is awaited.)
    let taken = rt.block_on(async {
        let charges: Vec<_> = (0..200)
            .map(|i| {
                let plan = rules.plan(
                    "agent",
                    "gpt-4o",
                    Tokens {
                        input: 1,
                        output: 1,
                    },
                    NOW,
                );
                stores[i % 2].charge(plan.charge, NOW)
            })
            .collect();
        let mut taken = 0;
        for c in charges {
            if c.await == Ok(Charged::Taken) {
                taken += 1;
            }
        }
        taken
    });
    assert_eq!(taken, 50);

    // Another token: the first limit a request would pass is named, and nothing is counted.
    let plan = rules.plan("other", "gpt-4o", TOKENS, NOW);
    assert_eq!(
        rt.block_on(stores[0].charge(plan.charge.clone(), NOW)),
        Ok(Charged::Taken)
    );
    let reservation = plan.outcome(Charged::Taken).unwrap();
    // Nine more of 1,000 tokens fill the day's 10,000; the next is refused by the day's tokens
    // (check 1 of the rule: requests per minute is check 0), and counts nothing.
    for _ in 0..9 {
        let plan = rules.plan("other", "gpt-4o", TOKENS, NOW);
        assert_eq!(
            rt.block_on(stores[1].charge(plan.charge, NOW)),
            Ok(Charged::Taken)
        );
    }
    let plan = rules.plan("other", "gpt-4o", TOKENS, NOW);
    assert_eq!(
        rt.block_on(stores[1].charge(plan.charge, NOW)),
        Ok(Charged::Over(1))
    );
    // The first one's reply used 10 tokens, not 1,000: the settlement gives 990 back, and a
    // request of 990 fits exactly.
    let (adjustment, _) = rules.settlement(
        reservation,
        Some(Tokens {
            input: 4,
            output: 6,
        }),
    );
    rt.block_on(stores[0].adjust(adjustment));
    let fits = Tokens {
        input: 90,
        output: 900,
    };
    let plan = rules.plan("other", "gpt-4o", fits, NOW);
    assert_eq!(
        rt.block_on(stores[1].charge(plan.charge.clone(), NOW)),
        Ok(Charged::Taken)
    );
    assert_eq!(
        rt.block_on(stores[1].charge(plan.charge, NOW)),
        Ok(Charged::Over(1))
    );
    // A settlement never takes a count below 0.
    let plan = rules.plan("third", "gpt-4o", TOKENS, NOW);
    assert_eq!(
        rt.block_on(stores[0].charge(plan.charge.clone(), NOW)),
        Ok(Charged::Taken)
    );
    let huge = plan
        .charge
        .adds
        .iter()
        .map(|(k, f, _, _)| (k.clone(), *f, -1_000_000_000))
        .collect();
    rt.block_on(stores[0].adjust(huge));
    assert_eq!(
        pg.sql(
            "budgets",
            "SELECT min(requests) || ' ' || min(tokens) || ' ' || count(*) FROM budget_windows \
             WHERE key LIKE 'third%'"
        ),
        "0 0 2"
    );
    // A charge the sidecar stopped waiting for (one of its windows held by another session for
    // a second, under the lock timeout) is refused, or let through uncounted with fail_open; made
    // later, each is given back.
    let plan = rules.plan("late", "gpt-4o", TOKENS, NOW);
    assert_eq!(
        rt.block_on(stores[0].charge(plan.charge.clone(), NOW)),
        Ok(Charged::Taken)
    );
    let wait = std::time::Duration::from_millis(300);
    let hasty = b.budgets(false).unwrap().waiting(wait);
    let open = b.budgets(true).unwrap().waiting(wait);
    std::thread::scope(|s| {
        s.spawn(|| {
            pg.sql(
                "budgets",
                "BEGIN; SELECT 1 FROM budget_windows WHERE key LIKE 'late%' FOR UPDATE; \
                 SELECT pg_sleep(1); COMMIT;",
            )
        });
        std::thread::sleep(wait);
        let refused = rt.block_on(hasty.charge(plan.charge.clone(), NOW));
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("no answer within 300 ms")),
            "{refused:?}"
        );
        assert_eq!(
            rt.block_on(open.charge(plan.charge.clone(), NOW)),
            Ok(Charged::NotCounted)
        );
    });
    let counted = || {
        pg.sql(
            "budgets",
            "SELECT sum(requests) FROM budget_windows WHERE key LIKE 'late%'",
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    std::thread::sleep(std::time::Duration::from_millis(500));
    while counted() != "2" {
        assert!(std::time::Instant::now() < deadline, "{}", counted());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(counted(), "2", "one request, in its minute and its day");

    // Windows a minute past their end are deleted by the next minute's first charge.
    let later = NOW + 2 * 86_400;
    let plan = rules.plan("agent", "gpt-4o", TOKENS, later);
    assert_eq!(
        rt.block_on(stores[0].charge(plan.charge, later)),
        Ok(Charged::Taken)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pg.sql("budgets", "SELECT count(*) FROM budget_windows") != "2" {
        assert!(std::time::Instant::now() < deadline, "ended windows kept");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
