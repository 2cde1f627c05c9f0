//! Audit log throughput: appends per second with group commit (many producers, each waiting for
//! its record to be durable), and records verified per second.
//! `cargo bench -p bulwark-store --bench audit`.

use std::time::{Duration, Instant};

use bulwark_core::SecurityConfig;
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_store::AuditLog;
use bulwark_store::audit_file::{DirVerify, FileLogOptions, verify_dir};
use bulwark_store::keys::KeyFiles;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn event(i: usize) -> AuditEvent {
    AuditEvent {
        event_type: EventType::Egress,
        actor: format!("agent-{}", i % 16),
        action: "egress.check".into(),
        resource: format!("https://api.example.com/v1/items/{i}"),
        outcome: if i.is_multiple_of(3) { "deny" } else { "allow" }.into(),
        details: serde_json::json!({"reason": "public_address", "addresses": ["93.184.215.14"], "port": 443}),
    }
}

fn options(home: &std::path::Path, group_commit: bool) -> FileLogOptions {
    let mut o = FileLogOptions::from_config(&SecurityConfig::default().audit, home);
    o.group_commit = group_commit;
    o
}

/// (name, producers, group commit, group window in microseconds (the default is 0), SQLite
/// backend instead of files)
const APPEND_CASES: &[(&str, usize, bool, u64, bool)] = &[
    ("group_commit_1_producer", 1, true, 0, false),
    ("group_commit_16_producers", 16, true, 0, false),
    ("group_commit_64_producers", 64, true, 0, false),
    ("group_commit_256_producers", 256, true, 0, false),
    (
        "group_commit_64_producers_window_500us",
        64,
        true,
        500,
        false,
    ),
    ("fsync_each_8_producers", 8, false, 0, false),
    ("sqlite_group_commit_64_producers", 64, true, 0, true),
];

fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("audit_append");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for &(name, producers, group, window, sqlite) in APPEND_CASES {
        let per = if group && producers > 1 {
            25_600 / producers
        } else {
            400
        };
        g.throughput(Throughput::Elements((producers * per) as u64));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let home = tempfile::tempdir().expect("tempdir");
                    let keys = KeyFiles::new(home.path().join("keys"))
                        .load_or_create()
                        .expect("keys");
                    let mut opts = options(home.path(), group);
                    opts.group_window = Duration::from_micros(window);
                    let (log, _) = if sqlite {
                        AuditLog::open_sqlite(&home.path().join("audit.db"), opts, keys, None)
                    } else {
                        AuditLog::open(opts, keys, None)
                    }
                    .expect("open");
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..producers {
                            let log = log.clone();
                            s.spawn(move || {
                                for i in 0..per {
                                    log.append(event(t * per + i)).expect("append");
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                    drop(log);
                }
                total
            })
        });
    }
    g.finish();
}

fn verification(c: &mut Criterion) {
    const N: usize = 100_000;
    let home = tempfile::tempdir().expect("tempdir");
    let keys = KeyFiles::new(home.path().join("keys"))
        .load_or_create()
        .expect("keys");
    let (log, _) = AuditLog::open(options(home.path(), true), keys, None).expect("open");
    std::thread::scope(|s| {
        for t in 0..50 {
            let log = log.clone();
            s.spawn(move || {
                for i in 0..N / 50 {
                    log.append(event(t * N + i)).expect("append");
                }
            });
        }
    });
    drop(log);
    let files = KeyFiles::new(home.path().join("keys"));
    let hmac = files.load_hmac().expect("keys").expect("keys");
    let public = files.load_public().expect("public");
    let dir = home.path().join("audit");
    let mut g = c.benchmark_group("audit_verify");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("macs_and_checkpoints_100k", |b| {
        b.iter(|| {
            let (r, _) = verify_dir(
                &dir,
                &DirVerify {
                    keys: &hmac,
                    public_key: public,
                },
            )
            .expect("verify");
            assert!(r.ok && r.records == N as u64);
        })
    });
    g.bench_function("public_key_only_100k", |b| {
        b.iter(|| {
            let (r, _) = verify_dir(
                &dir,
                &DirVerify {
                    keys: &[],
                    public_key: public,
                },
            )
            .expect("verify");
            assert!(r.ok);
        })
    });
    g.finish();
}

criterion_group!(benches, appends, verification);
criterion_main!(benches);
