//! The model gateway's budgets in PostgreSQL (`PgBudgets`, `[store] url` without Redis): what a
//! request's charge (one transaction that creates and locks its windows, checks and adds) and
//! its settlement cost, one at a time (latency percentiles) and 32 at a time from the server's
//! runtime (throughput), on distinct tokens and on one token, whose windows every charge must
//! lock in turn. Starts its own PostgreSQL (Debian's programs); without it, says so and ends.
//! docs/performance.md records the results.
//!
//! ```sh
//! cargo bench -p bulwark-store --bench budget_postgres   # BUDGET_BENCH_CHARGES=4000 by default
//! ```

#[path = "../tests/support/ports.rs"]
mod ports;
#[path = "../tests/support/postgres.rs"]
mod support;
// The PostgreSQL helper picks its port here.
use ports::free_port;

use std::sync::Arc;
#[path = "support/latency.rs"]
mod latency;
use latency::percentiles;

use std::time::Instant;

use bulwark_core::gateway::budget::{BudgetConfig, BudgetStore, Budgets, Tokens};
use bulwark_store::state_db::StateDb;

fn main() {
    let n: usize = std::env::var("BUDGET_BENCH_CHARGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000);
    let Some(pg) = support::postgres() else {
        return;
    };
    let url = secrecy::SecretString::from(pg.database("bench"));
    let db = StateDb::connect(&url).expect("connect");
    let store: Arc<dyn BudgetStore> = Arc::new(db.budgets(false).expect("PostgreSQL budgets"));
    // Limits no request reaches, checked on every request, per minute and per day.
    let budgets = Budgets::new(
        &[BudgetConfig {
            requests_per_minute: 1 << 40,
            tokens_per_day: 1 << 50,
            ..BudgetConfig::default()
        }],
        &Default::default(),
    )
    .expect("budgets");
    let budgets = Arc::new(budgets);
    let wants = Tokens {
        input: 300,
        output: 1_000,
    };
    let used = Tokens {
        input: 280,
        output: 412,
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    // The server's runtime: the store's futures are awaited here and run on the pool's.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let request = move |token: String| {
            let (store, budgets) = (store.clone(), budgets.clone());
            async move {
                let t = now();
                let mut plan = budgets.plan(&token, "gpt-4o", wants, t);
                let charge = std::mem::take(&mut plan.charge);
                let started = Instant::now();
                let answer = store.charge(charge, t).await.expect("charged");
                let charged = started.elapsed();
                let reservation = plan.outcome(answer).expect("within the budget");
                let (adjustment, _) = budgets.settlement(reservation, Some(used));
                let started = Instant::now();
                store.adjust(adjustment).await;
                (charged, started.elapsed())
            }
        };
        for i in 0..500 {
            request(format!("agent-{}", i % 100)).await;
        }
        let (mut charges, mut settles) = (Vec::new(), Vec::new());
        for i in 0..n {
            let (c, s) = request(format!("agent-{}", i % 100)).await;
            charges.push(c);
            settles.push(s);
        }
        percentiles("charge, PostgreSQL (one statement)", charges);
        percentiles("settlement, PostgreSQL", settles);
        for (what, tokens) in [("32 tokens", 32usize), ("one token", 1)] {
            let started = Instant::now();
            let tasks: Vec<_> = (0..32)
                .map(|w| {
                    let request = request.clone();
                    tokio::spawn(async move {
                        for _ in 0..n / 32 {
                            request(format!("burst-{}", w % tokens)).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("task");
            }
            println!(
                "charge and settle, 32 in flight, {what:<10} {:>9.0} requests/s",
                (n / 32 * 32) as f64 / started.elapsed().as_secs_f64()
            );
        }
    });
    drop(pg);
}
