//! `RedisStore` against a real `redis-server` (Debian's package, which `.ci/run` installs; without
//! it these skip with a notice unless `BULWARK_REQUIRE_REDIS` is set): GCRA as in the process,
//! keys apart by limit, rate and key and expiring once their allowance is full, a key's checks
//! coalesced and a busy key's permits leased ahead (from the upper half of its allowance, two
//! replicas together within GCRA's bound and one lease's refill; a key in flight when its runtime
//! goes is not left stuck), replay records taken once, and an unreachable server failing closed
//! except for the limits listed open.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bulwark_core::ratelimit::{LimitStore, Rate, Refused};
use bulwark_core::webhook::{ReplayStore, WebhookError};
use bulwark_store::redis_store::RedisStore;
use secrecy::SecretString;

#[path = "support/ports.rs"]
mod ports;
use ports::free_port;

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn server() -> Option<Server> {
    server_on(free_port())
}

fn server_on(port: u16) -> Option<Server> {
    let child = match Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => {
            assert!(
                std::env::var_os("BULWARK_REQUIRE_REDIS").is_none(),
                "BULWARK_REQUIRE_REDIS is set but redis-server is not installed"
            );
            eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
    };
    let s = Server(child, port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(s)
}

fn store(port: u16, fail_open: &[&str]) -> std::sync::Arc<RedisStore> {
    let url = SecretString::from(format!("redis://127.0.0.1:{port}/0"));
    let open: Vec<String> = fail_open.iter().map(|s| s.to_string()).collect();
    RedisStore::new(&url, "test:", &open, 300).expect("store")
}

/// `redis-cli -p PORT ARGS...`: its standard output. A command redis-cli could not deliver (it
/// exits non-zero and prints nothing: the server refused the connection or was still starting on
/// a loaded machine) is tried again for up to 5 seconds; then the test fails with what redis-cli
/// said, not on an empty answer.
fn redis_cli(port: u16, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let o = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        if o.status.success() && !o.stdout.is_empty() {
            return String::from_utf8_lossy(&o.stdout).into_owned();
        }
        assert!(
            Instant::now() < deadline,
            "redis-cli {:?} on port {port} failed ({}): {}{}",
            args.first(),
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many script calls the server has run.
fn script_calls(port: u16) -> u64 {
    redis_cli(port, &["INFO", "commandstats"])
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn gcra_in_redis_allows_the_burst_then_the_rate_per_key() {
    let Some(srv) = server() else { return };
    let (a, b) = (store(srv.1, &[]), store(srv.1, &[]));
    rt().block_on(async {
        // 3 per second with a burst of 5, shared by two stores (two sidecars).
        let rate = Rate::per_second(3).expect("rate").with_burst(5);
        for i in 0..5 {
            let s = if i % 2 == 0 { &a } else { &b };
            s.take("token", rate, b"t1".to_vec())
                .await
                .expect("within the burst");
        }
        match b.take("token", rate, b"t1".to_vec()).await {
            Err(Refused::Over(d)) => {
                assert_eq!(d.policy, "token;q=3;w=1");
                assert!(
                    d.retry_after > Duration::ZERO && d.retry_after <= Duration::from_millis(334),
                    "{:?}",
                    d.retry_after
                );
            }
            other => panic!("the sixth is over the burst: {other:?}"),
        }
        // Another key, another limit or another rate keeps its own allowance.
        a.take("token", rate, b"t2".to_vec())
            .await
            .expect("another key");
        a.take("route", rate, b"t1".to_vec())
            .await
            .expect("another limit");
        a.take("token", Rate::per_second(4).expect("rate"), b"t1".to_vec())
            .await
            .expect("another rate");
        // One interval later, one more.
        tokio::time::sleep(Duration::from_millis(340)).await;
        a.take("token", rate, b"t1".to_vec())
            .await
            .expect("refilled");
        assert!(a.take("token", rate, b"t1".to_vec()).await.is_err());
    });
    // Every key expires once its allowance is full again.
    let ms: i64 = redis_cli(srv.1, &["PTTL", "test:rl:token:3/1+5:t1"])
        .trim()
        .parse()
        .expect("PTTL");
    assert!(ms > 0 && ms <= 2_000, "{ms}");
}

#[test]
fn replay_records_are_taken_once_and_forgotten_on_request() {
    let Some(srv) = server() else { return };
    let (a, b) = (store(srv.1, &[]), store(srv.1, &[]));
    rt().block_on(async {
        a.first_time("gh", "d-1", 0).await.expect("first");
        match b.first_time("gh", "d-1", 0).await {
            Err(WebhookError::Replay(id)) => assert_eq!(id, "d-1"),
            other => panic!("a replay at the other store: {other:?}"),
        }
        // The same id from another source is another message.
        b.first_time("am", "d-1", 0).await.expect("another source");
        b.forget("gh", "d-1").await.expect("forget");
        a.first_time("gh", "d-1", 0).await.expect("accepted again");
    });
}

#[test]
fn an_unreachable_redis_fails_closed_except_for_the_limits_listed_open() {
    let port = free_port();
    let closed = store(port, &[]);
    let open = store(port, &["tool", "ingress-replay"]);
    let rate = Rate::per_second(10).expect("rate");
    rt().block_on(async {
        let started = Instant::now();
        match closed.take("tool", rate, b"kubectl".to_vec()).await {
            Err(Refused::Unavailable(u)) => {
                assert_eq!(u.limit, "tool");
                assert!(!u.reason.contains("redis://"), "{}", u.reason);
            }
            other => panic!("fails closed: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(
            closed.first_time("gh", "d-1", 0).await,
            Err(WebhookError::Unavailable(_))
        ));
        assert!(closed.ready().await.is_err());
        open.take("tool", rate, b"kubectl".to_vec())
            .await
            .expect("listed open");
        assert!(matches!(
            open.take("token", rate, b"t".to_vec()).await,
            Err(Refused::Unavailable(_))
        ));
        open.first_time("gh", "d-1", 0)
            .await
            .expect("replay listed open");
    });
}

#[test]
fn a_url_that_is_not_redis_is_refused_without_being_shown() {
    let url = SecretString::from("http://user:hunter2@example.com/".to_string());
    let e = RedisStore::new(&url, "p:", &[], 300)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("server.limits.redis") && !e.contains("hunter2"),
        "{e}"
    );
}

#[test]
fn a_store_answers_at_once_while_redis_is_down_and_recovers_when_it_restarts() {
    let Some(srv) = server() else { return };
    let port = srv.1;
    let st = store(port, &[]);
    let rate = Rate::per_second(1000).expect("rate");
    let rt = rt();
    rt.block_on(async {
        st.take("tool", rate, b"k".to_vec()).await.expect("up");
    });
    drop(srv);
    rt.block_on(async {
        assert!(st.take("tool", rate, b"k".to_vec()).await.is_err());
        // Down: the next checks do not wait for Redis.
        let t = Instant::now();
        for _ in 0..100 {
            assert!(matches!(
                st.take("tool", rate, b"k".to_vec()).await,
                Err(Refused::Unavailable(_))
            ));
        }
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    });
    let _srv = server_on(port).expect("restarted");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while st.take("tool", rate, b"k".to_vec()).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "no recovery after Redis restarted"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        st.ready().await.expect("ready");
    });
}

#[test]
fn gateway_budgets_hold_across_stores_and_settle_to_what_was_used() {
    use bulwark_core::gateway::budget::{BudgetConfig, BudgetStore, Budgets, Tokens};
    let Some(srv) = server() else { return };
    let (a, b) = (store(srv.1, &[]), store(srv.1, &[]));
    let rule = BudgetConfig {
        model: "gpt-4o*".into(),
        requests_per_minute: 3,
        tokens_per_day: 1000,
        ..BudgetConfig::default()
    };
    let budgets = Budgets::new(&[rule], &Default::default()).expect("budgets");
    let t = Tokens {
        input: 100,
        output: 100,
    };
    let now = 1_800_000_000;
    async fn take(
        budgets: &Budgets,
        s: &RedisStore,
        tokens: Tokens,
        now: u64,
    ) -> Result<bulwark_core::gateway::budget::Reservation, bulwark_core::gateway::budget::OverBudget>
    {
        let mut plan = budgets.plan("agent", "gpt-4o", tokens, now);
        let charge = std::mem::take(&mut plan.charge);
        plan.outcome(s.charge(charge, now).await.expect("store answers"))
    }
    rt().block_on(async {
        // Three requests a minute across both sidecars; the fourth is refused by that limit.
        let r1 = take(&budgets, &a, t, now).await.expect("1");
        take(&budgets, &b, t, now).await.expect("2");
        take(&budgets, &a, t, now).await.expect("3");
        let over = take(&budgets, &b, t, now).await.unwrap_err();
        assert_eq!(over.limit, "gateway.budgets[0].requests_per_minute");
        assert!(over.retry_after <= 60, "{}", over.retry_after);
        // 600 of 1000 tokens reserved today; the first reply used 20 of its 200: settled, 420
        // are counted and 580 are left.
        let (adj, _) = budgets.settlement(
            r1,
            Some(Tokens {
                input: 10,
                output: 10,
            }),
        );
        b.adjust(adj).await;
        let later = now + 120;
        let mut plan = budgets.plan(
            "agent",
            "gpt-4o",
            Tokens {
                input: 560,
                output: 20,
            },
            later,
        );
        let charge = std::mem::take(&mut plan.charge);
        plan.outcome(a.charge(charge, later).await.expect("answer"))
            .expect("580 tokens fit after the settlement");
        let mut plan = budgets.plan(
            "agent",
            "gpt-4o",
            Tokens {
                input: 1,
                output: 0,
            },
            later,
        );
        let charge = std::mem::take(&mut plan.charge);
        let over = plan
            .outcome(b.charge(charge, later).await.expect("answer"))
            .unwrap_err();
        assert_eq!(over.limit, "gateway.budgets[0].tokens_per_day");
        // An absurd max_tokens counts as 2^53: Redis takes the script (no error, no outage).
        let huge = Tokens {
            input: 1,
            output: u64::MAX,
        };
        let mut plan = budgets.plan("other", "gpt-4o", huge, later);
        let charge = std::mem::take(&mut plan.charge);
        let answer = a.charge(charge, later).await.expect("Redis takes it");
        assert_eq!(answer, bulwark_core::gateway::budget::Charged::Over(1));
        a.ready().await.expect("still up");
    });
    // Unreachable: the budget fails closed, unless listed open.
    let port = free_port();
    let (closed, open) = (store(port, &[]), store(port, &["gateway-budget"]));
    rt().block_on(async {
        let plan = budgets.plan("agent", "gpt-4o", t, now);
        assert!(closed.charge(plan.charge.clone(), now).await.is_err());
        assert_eq!(
            open.charge(plan.charge, now).await,
            Ok(bulwark_core::gateway::budget::Charged::NotCounted)
        );
    });
}

#[test]
fn concurrent_checks_of_one_key_are_decided_together_as_single_checks_would_be() {
    let Some(srv) = server() else { return };
    let s = store(srv.1, &[]);
    let calls = || script_calls(srv.1);
    let before = calls();
    let runtime = multi_thread();
    // 1,000 checks at once of a key allowed 300 (a rate no refill reaches while they run).
    let rate = Rate::per_minute(1).expect("rate").with_burst(300);
    let (taken, refused) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.take("tool", rate, b"kubectl".to_vec()).await
            }));
        }
        let (mut taken, mut refused) = (0, 0);
        for t in tasks {
            match t.await.expect("task") {
                Ok(()) => taken += 1,
                Err(Refused::Over(d)) => {
                    assert!(d.retry_after > Duration::ZERO);
                    refused += 1;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        (taken, refused)
    });
    assert_eq!((taken, refused), (300, 700), "exactly the allowance");
    let used = calls() - before;
    assert!(
        used < 1000,
        "{used} script calls for 1,000 checks: the waiting ones went together"
    );
}

#[test]
fn a_busy_key_leases_permits_ahead_and_a_slow_one_leases_none() {
    use bulwark_store::redis_store::{lease_size, lease_time};
    // A slow limit leases nothing: what a lease left unused would come back only slowly.
    let slow = Rate::per_minute(600).expect("rate");
    assert_eq!((lease_size(slow), lease_time(slow)), (0, LEASE_50MS));
    let Some(srv) = server() else { return };
    let a = store(srv.1, &[]);
    // 100,000 a second: a lease lasts 10 ms (1% of the burst's refill) and holds at most the
    // 1,000 permits that refill in it.
    let rate = Rate::per_second(100_000).expect("rate");
    assert_eq!(
        (lease_time(rate), lease_size(rate)),
        (Duration::from_millis(10), 1000)
    );
    let before = script_calls(srv.1);
    let runtime = multi_thread();
    let started = Instant::now();
    let taken = runtime.block_on(async {
        let mut taken = 0;
        // Ten waves of 20 checks at once on one replica.
        for _ in 0..10 {
            let wave: Vec<_> = (0..20)
                .map(|_| {
                    let a = a.clone();
                    tokio::spawn(async move { a.take("token", rate, b"busy".to_vec()).await })
                })
                .collect();
            for t in wave {
                t.await.expect("task").expect("far from the limit");
                taken += 1;
            }
        }
        taken
    });
    assert_eq!(taken, 200);
    let used = script_calls(srv.1) - before;
    // Leases are sure to serve the waves only if they ran within one lease's time.
    let in_time = started.elapsed() < lease_time(rate);
    assert!(
        used <= 10 || !in_time,
        "{used} script calls for 200 checks: after the first calls, leased permits decide them"
    );
}

const LEASE_50MS: Duration = Duration::from_millis(50);

/// The limiter's script run by hand (`redis-cli EVAL`): its answer, integer by integer.
fn eval(port: u16, key: &str, args: &[i64]) -> Vec<i64> {
    let numbers: Vec<String> = args.iter().map(i64::to_string).collect();
    let mut all = vec!["EVAL", bulwark_store::redis_store::GCRA_SCRIPT, "1", key];
    all.extend(numbers.iter().map(String::as_str));
    let out = redis_cli(port, &all);
    out.lines()
        .map(|l| l.trim().parse().unwrap_or_else(|_| panic!("{out}")))
        .collect()
}

#[test]
fn a_lease_comes_only_from_the_upper_half_of_the_allowance() {
    let Some(srv) = server() else { return };
    let p = srv.1;
    // One a second (so the milliseconds between calls do not matter), burst 10.
    const I: i64 = 1_000_000;
    let tol = 9 * I;
    // [interval, tolerance, n, lease]
    // Of a full allowance of 10, one is taken and at most 4 leased: 5 stay.
    let r = eval(p, "k1", &[I, tol, 1, 100]);
    assert_eq!((r[0], r[2]), (1, 4), "{r:?}");
    // The next lease would dip into the lower half: none, but the check is taken.
    let r = eval(p, "k1", &[I, tol, 1, 100]);
    assert_eq!((r[0], r[2]), (1, 0), "{r:?}");
    // A lease only when every check is taken: 5 asked of the 4 left, none leased.
    let r = eval(p, "k1", &[I, tol, 5, 100]);
    assert_eq!((r[0], r[2]), (4, 0), "{r:?}");
    assert!(r[1] > 0, "the fifth waits: {r:?}");
    // A burst of 1 or 2 never leases: half of it (rounded up) stays.
    assert_eq!(eval(p, "k2", &[I, 0, 1, 100])[2], 0);
    assert_eq!(eval(p, "k3", &[I, I, 1, 100])[2], 0);
    // Three, with nothing asked for: one leased of the two that may go.
    assert_eq!(eval(p, "k4", &[I, 2 * I, 0, 100]), vec![0, 0, 1]);
}

#[test]
fn with_leases_two_replicas_take_at_most_the_limit_and_what_refills_in_a_lease_time() {
    let Some(srv) = server() else { return };
    let (a, b) = (store(srv.1, &[]), store(srv.1, &[]));
    // 1,000 a second, burst 20: 1% of the burst refills in 0.2 ms, less than a round trip, so
    // this key leases nothing. 100 a second, burst 500: a lease lasts 50 ms, five intervals.
    let fast = Rate::per_second(1000).expect("rate").with_burst(20);
    assert_eq!(bulwark_store::redis_store::lease_time(fast), Duration::ZERO);
    let wide = Rate::per_second(100).expect("rate").with_burst(500);
    assert_eq!(
        bulwark_store::redis_store::lease_time(wide),
        Duration::from_millis(50)
    );
    let runtime = multi_thread();
    for (rate, burst, interval_ms, key) in [
        (fast, 20, 1, b"fast".as_slice()),
        (wide, 500, 10, b"wide".as_slice()),
    ] {
        let (ok, elapsed) = runtime.block_on(async {
            let take = |s: &std::sync::Arc<RedisStore>, k: usize| {
                (0..k)
                    .map(|_| {
                        let s = s.clone();
                        let key = key.to_vec();
                        tokio::spawn(async move { s.take("token", rate, key).await })
                    })
                    .collect::<Vec<_>>()
            };
            // Replica a's checks go together and may lease...
            for t in take(&a, 3 + burst / 50) {
                t.await.expect("task").expect("within the burst");
            }
            // ... and use the lease late, while the other drains the key, its allowance full
            // again (or nearly: 40 ms refill 40 of the fast key's 20, 4 of the wide one's 500).
            tokio::time::sleep(Duration::from_millis(40)).await;
            let started = Instant::now();
            let mut ok = 0;
            let (mut tasks, more) = (take(&b, burst + 20), take(&a, burst / 5 + 4));
            tasks.extend(more);
            for t in tasks {
                ok += usize::from(t.await.expect("task").is_ok());
            }
            (ok, started.elapsed())
        });
        // GCRA's bound over the drain, plus what refills in one lease's time, plus one.
        let refill = elapsed.as_millis() as usize / interval_ms + 1;
        let lease = bulwark_store::redis_store::lease_time(rate);
        let late = lease.as_millis() as usize / interval_ms + 1;
        assert!(
            ok <= burst + refill + late,
            "{ok} taken; burst {burst}, refill {refill}, lease {late}"
        );
        assert!(ok >= burst / 2, "{ok} taken");
    }
}

#[test]
fn a_runtime_dropped_while_a_key_is_in_flight_leaves_the_key_usable() {
    let Some(srv) = server() else { return };
    let s = store(srv.1, &[]);
    let rate = Rate::per_second(1000).expect("rate");
    let first = multi_thread();
    first.block_on(async {
        for _ in 0..50 {
            let s = s.clone();
            tokio::spawn(async move {
                let _ = s.take("token", rate, b"k".to_vec()).await;
            });
        }
        tokio::task::yield_now().await;
    });
    // Its tasks go with it, the key's flight among them, its call still out.
    drop(first);
    let answer = rt().block_on(async {
        tokio::time::timeout(Duration::from_secs(3), s.take("token", rate, b"k".to_vec())).await
    });
    assert!(
        answer.is_ok(),
        "a check of the key waited for a flight that was gone"
    );
}
