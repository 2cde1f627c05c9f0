//! Egress-guard decision latency. `cargo bench -p bulwark-core --bench egress`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use bulwark_core::SecurityConfig;
use bulwark_core::egress::{EgressGuard, StaticResolver};

fn egress(c: &mut Criterion) {
    let cfg = SecurityConfig::default();
    let guard = EgressGuard::from_config(&cfg.egress).expect("guard");
    let policy = guard.policy(None).expect("policy");
    let mut resolver = StaticResolver::new();
    resolver
        .add_entry("api.example.com:443:93.184.215.14,2606:2800:21f:cb07:6820:80da:af6b:8b2c")
        .expect("entry");
    let mut g = c.benchmark_group("egress");
    for (name, url) in [
        ("literal_public_v4", "https://93.184.215.14/v1/items?page=2"),
        ("literal_loopback_hex", "http://0x7f.1:8080/admin"),
        (
            "literal_metadata",
            "http://169.254.169.254/latest/meta-data/iam/",
        ),
        ("literal_nat64_v6", "http://[64:ff9b::a00:1]/"),
        (
            "name_pinned_two_answers",
            "https://api.example.com/v1/items",
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| policy.check_url(black_box(url), &resolver))
        });
    }
    g.finish();
}

criterion_group!(benches, egress);
criterion_main!(benches);
