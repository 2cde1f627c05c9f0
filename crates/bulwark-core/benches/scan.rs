//! Content-guard throughput and latency. `cargo bench -p bulwark-core --bench scan`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use bulwark_core::scan::{Detectors, Redactor};
use bulwark_core::{Scanner, SecurityConfig};

#[path = "support/corpus.rs"]
mod corpus;

fn scan(c: &mut Criterion) {
    let scanner = Scanner::with_defaults().expect("scanner");
    let mixed = corpus::mixed(8 << 20, 7);
    let quiet = corpus::no_candidates(8 << 20, 11);
    let prompt = corpus::prompt_4k(3);

    let mut g = c.benchmark_group("throughput");
    g.sample_size(20);
    for (name, text) in [("mixed", &mixed), ("no_candidates", &quiet)] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new("secrets+pii", name), text, |b, t| {
            b.iter(|| scanner.scan_with(black_box(t.as_bytes()), Detectors::ALL))
        });
        g.bench_with_input(BenchmarkId::new("secrets", name), text, |b, t| {
            b.iter(|| {
                scanner.scan_with(
                    black_box(t.as_bytes()),
                    Detectors {
                        secrets: true,
                        pii: false,
                    },
                )
            })
        });
        g.bench_with_input(BenchmarkId::new("pii", name), text, |b, t| {
            b.iter(|| {
                scanner.scan_with(
                    black_box(t.as_bytes()),
                    Detectors {
                        secrets: false,
                        pii: true,
                    },
                )
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("latency");
    g.throughput(Throughput::Bytes(prompt.len() as u64));
    g.bench_function("prompt_4k", |b| {
        b.iter(|| scanner.scan(black_box(prompt.as_bytes())))
    });
    let redactor = Redactor::new(scanner.clone(), &SecurityConfig::default().redact, &|_| {
        None
    })
    .expect("redactor");
    g.bench_function("redact_prompt_4k", |b| {
        b.iter(|| redactor.redact(black_box(&prompt)))
    });
    g.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
