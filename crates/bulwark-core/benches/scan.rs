//! Content-guard throughput and latency. `cargo bench -p bulwark-core --bench scan`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use bulwark_core::scan::injection::Source;
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
            b.iter(|| scanner.scan_with(black_box(t.as_bytes()), Detectors::CONTENT))
        });
        g.bench_with_input(BenchmarkId::new("secrets", name), text, |b, t| {
            b.iter(|| {
                scanner.scan_with(
                    black_box(t.as_bytes()),
                    Detectors {
                        secrets: true,
                        pii: false,
                        injection: false,
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
                        injection: false,
                    },
                )
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("latency");
    g.throughput(Throughput::Bytes(prompt.len() as u64));
    g.bench_function("prompt_4k", |b| {
        b.iter(|| scanner.scan_with(black_box(prompt.as_bytes()), Detectors::CONTENT))
    });
    let redactor = Redactor::new(scanner.clone(), &SecurityConfig::default().redact, &|_| {
        None
    })
    .expect("redactor");
    g.bench_function("redact_prompt_4k", |b| {
        b.iter(|| redactor.redact(black_box(&prompt)))
    });
    g.finish();

    // Prompt injection: normalization, layers, patterns and the model, as text from the web.
    let injection_only = Detectors {
        secrets: false,
        pii: false,
        injection: true,
    };
    let web = Source::parse("web").expect("source");
    let mut cut = 1024.min(prompt.len());
    while !prompt.is_char_boundary(cut) {
        cut -= 1;
    }
    let prompt_1k = &prompt[..cut];
    let document = corpus::mixed(4 << 20, 13);
    let mut g = c.benchmark_group("injection");
    g.throughput(Throughput::Bytes(prompt_1k.len() as u64));
    g.bench_function("prompt_1k", |b| {
        b.iter(|| scanner.assess(black_box(prompt_1k.as_bytes()), injection_only, &web))
    });
    // A tool's 4 KB answer of plain prose (the MCP and gateway benches' result).
    let prose_4k: String = "The quarterly report lists revenue by region, the open incidents and the planned maintenance windows for the storage cluster. ".repeat(32).chars().take(4096).collect();
    g.throughput(Throughput::Bytes(prose_4k.len() as u64));
    g.bench_function("tool_result_4k", |b| {
        b.iter(|| scanner.assess(black_box(prose_4k.as_bytes()), injection_only, &web))
    });
    g.sample_size(10);
    g.throughput(Throughput::Bytes(document.len() as u64));
    g.bench_function("document_4m", |b| {
        b.iter(|| scanner.assess(black_box(document.as_bytes()), injection_only, &web))
    });
    g.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
