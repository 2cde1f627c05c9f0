//! The shared limit store's cost: one limiter check (the GCRA script by EVALSHA) and one
//! replay record (SET NX PX) against a `redis-server` on loopback, one at a time (latency
//! percentiles) and 32 at a time over the one multiplexed connection (throughput: 32 keys, and
//! one busy key whose checks go together and take leased permits), beside the in-process store.
//! Starts its own `redis-server` (Debian's package); without it, says so and ends.
//! docs/performance.md records the results.
//!
//! ```sh
//! cargo bench -p bulwark-store --bench redis_limit      # REDIS_BENCH_CHECKS=20000 by default
//! ```

use std::process::{Command, Stdio};
#[path = "support/latency.rs"]
mod latency;
use latency::percentiles;

use std::time::{Duration, Instant};

use bulwark_core::ratelimit::{DefaultClock, InProcess, LimitStore, Rate};
use bulwark_core::webhook::ReplayStore;
use bulwark_store::redis_store::RedisStore;
use secrecy::SecretString;

fn main() {
    let n: usize = std::env::var("REDIS_BENCH_CHECKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let Ok(mut server) = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
    else {
        println!("skipped: redis-server is not installed (apt-get install redis-server)");
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = SecretString::from(format!("redis://127.0.0.1:{port}/0"));
    let redis = RedisStore::new(&url, "bench:", &[], 300).expect("store");
    let local = InProcess::new(DefaultClock::default());
    // A rate no check reaches: every check is taken, as on a sidecar within its limits.
    let rate = Rate::per_second(1_000_000).expect("rate");
    let key = |i: usize| format!("token-{}", i % 1000).into_bytes();
    rt.block_on(async {
        for i in 0..1000 {
            redis.take("token", rate, key(i)).await.expect("warm-up");
        }
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            redis.take("token", rate, key(i)).await.expect("taken");
            times.push(t.elapsed());
        }
        percentiles("limit check, Redis (GCRA script)", times);
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            local.take("token", rate, key(i)).await.expect("taken");
            times.push(t.elapsed());
        }
        percentiles("limit check, in process (governor)", times);
        let mut times = Vec::with_capacity(n);
        for i in 0..n {
            let id = format!("delivery-{i}");
            let t = Instant::now();
            redis.first_time("bench", &id, 0).await.expect("first");
            times.push(t.elapsed());
        }
        percentiles("replay record, Redis (SET NX PX)", times);

        let rate_of = in_flight(&redis, rate, n, key).await;
        println!("limit checks, Redis, 32 in flight          {rate_of:>9.0} checks/s");
        // One busy key: its checks coalesced and, after the first calls, taken from leases.
        let one = |_: usize| b"one-busy-key".to_vec();
        let rate_of = in_flight(&redis, rate, n, one).await;
        println!("limit checks, Redis, 32 in flight, one key {rate_of:>9.0} checks/s");
    });
    let _ = server.kill();
    let _ = server.wait();
}

/// Checks per second with 32 tasks making `n` checks in all, each task one at a time (task `w`'s
/// `i`th check is of `key(w * 31 + i)`).
async fn in_flight(
    redis: &std::sync::Arc<RedisStore>,
    rate: Rate,
    n: usize,
    key: impl Fn(usize) -> Vec<u8> + Copy + Send + 'static,
) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..32)
        .map(|w| {
            let redis = redis.clone();
            tokio::spawn(async move {
                for i in 0..n / 32 {
                    redis
                        .take("token", rate, key(w * 31 + i))
                        .await
                        .expect("taken");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    (n / 32 * 32) as f64 / started.elapsed().as_secs_f64()
}
