//! Audit appends per second on PostgreSQL with group commit (`[audit] backend = "postgres"`):
//! many producers, each waiting for its record to be committed, on a PostgreSQL of the bench's
//! own (Debian's `postgresql` package; skipped with a notice without it).
//! `cargo bench -p bulwark-store --bench audit_postgres`.

#[path = "../tests/support/ports.rs"]
mod ports;
#[path = "../tests/support/postgres.rs"]
mod support;
use ports::free_port;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bulwark_core::SecurityConfig;
use bulwark_core::audit::{AuditEvent, AuditSink, EventType};
use bulwark_store::AuditLog;
use bulwark_store::audit_file::FileLogOptions;
use bulwark_store::audit_pg::PgLog;
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

fn appends(c: &mut Criterion) {
    let Some(pg) = support::postgres() else {
        return;
    };
    let url = secrecy::SecretString::from(pg.database("bench"));
    let log = PgLog::connect(&url).expect("connect");
    let home = tempfile::tempdir().expect("tempdir");
    let files = KeyFiles::new(home.path().join("keys"));
    let chains = AtomicUsize::new(0);
    let mut g = c.benchmark_group("audit_append_postgres");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for producers in [1usize, 16, 64, 256] {
        let per = if producers > 1 {
            25_600 / producers
        } else {
            400
        };
        g.throughput(Throughput::Elements((producers * per) as u64));
        g.bench_function(format!("group_commit_{producers}_producers"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A new chain each time: an instance of its own.
                    let instance = format!("bench-{}", chains.fetch_add(1, Ordering::Relaxed));
                    let opts =
                        FileLogOptions::from_config(&SecurityConfig::default().audit, home.path());
                    let keys = files.load_or_create().expect("keys");
                    let (w, _) =
                        AuditLog::open_postgres(&log, &instance, opts, keys, None).expect("open");
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..producers {
                            let w = w.clone();
                            s.spawn(move || {
                                for i in 0..per {
                                    w.append(event(t * per + i)).expect("append");
                                }
                            });
                        }
                    });
                    total += start.elapsed();
                    drop(w);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, appends);
criterion_main!(benches);
