//! Write the benchmark corpus to files, for peer comparisons:
//! `cargo run --release -p bulwark-core --example gen-corpus -- DIR [MEBIBYTES]`.

#[path = "../benches/support/corpus.rs"]
mod corpus;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "target/bench-corpus".into()));
    let mib: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    std::fs::create_dir_all(&dir)?;
    // Many files of 256 KiB, as a repository or a log directory would have.
    let per_file = 256 << 10;
    for i in 0..(mib << 20) / per_file {
        let text = corpus::mixed(per_file, 1000 + i as u64);
        std::fs::write(dir.join(format!("part-{i:04}.txt")), text)?;
    }
    std::fs::write(dir.join("prompt-4k.txt"), corpus::prompt_4k(3))?;
    println!("wrote {} MiB to {}", mib, dir.display());
    Ok(())
}
