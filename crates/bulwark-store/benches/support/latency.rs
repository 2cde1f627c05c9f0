//! Latency percentiles of one-at-a-time calls, printed one line each: shared by the store's
//! benches that measure a round trip to another process (`#[path]`).

use std::time::Duration;

/// Print `name` with the p50, p90, p99 and max of `times`.
pub fn percentiles(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{name:<44} p50 {:>7.1} µs   p90 {:>7.1} µs   p99 {:>7.1} µs   max {:>8.1} µs   ({} calls)",
        at(0.50).as_secs_f64() * 1e6,
        at(0.90).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6,
        times.len()
    );
}
