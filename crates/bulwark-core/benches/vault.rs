//! Vault latency: `get` after unlock, and unlock with the default Argon2id parameters.
//! `cargo bench -p bulwark-core --bench vault`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use bulwark_core::config::VaultConfig;
use bulwark_core::vault::{Argon2Params, Cipher, KekSpec, Passphrase, VaultFile};
use secrecy::SecretString;

fn vault(c: &mut Criterion) {
    let d = VaultConfig::default();
    let params = Argon2Params {
        m_kib: d.argon2_memory_kib,
        t: d.argon2_iterations,
        p: d.argon2_parallelism,
    };
    let pass = Passphrase(SecretString::from("correct horse battery staple"));
    let mut g = c.benchmark_group("vault");
    for cipher in [Cipher::Xchacha20poly1305, Cipher::Aes256gcm] {
        let (mut f, u) = VaultFile::create(
            cipher,
            KekSpec::new_passphrase(params).expect("spec"),
            &pass,
        )
        .expect("vault");
        for i in 0..100 {
            u.set(
                &mut f,
                &format!("entry-{i}"),
                &SecretString::from(format!("sk-live-{i:040}")),
                "t",
            )
            .expect("set");
        }
        let name = format!("{cipher:?}").to_lowercase();
        g.bench_function(format!("get_after_unlock_{name}"), |b| {
            b.iter(|| u.get(black_box(&f), "entry-42").expect("get"))
        });
        g.bench_function(format!("set_{name}"), |b| {
            b.iter(|| {
                u.set(&mut f, "entry-7", &SecretString::from("sk-rotated"), "t")
                    .expect("set")
            })
        });
    }
    g.sample_size(10);
    let (f, _) = VaultFile::create(
        Cipher::Xchacha20poly1305,
        KekSpec::new_passphrase(params).expect("spec"),
        &pass,
    )
    .expect("vault");
    g.bench_function("unlock_argon2id_default", |b| {
        b.iter(|| f.unlock(&pass).expect("unlock"))
    });
    g.finish();
}

criterion_group!(benches, vault);
criterion_main!(benches);
