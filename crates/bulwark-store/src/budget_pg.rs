//! The model gateway's budgets in the PostgreSQL database sidecars share (`[store] url`, when
//! `[server.limits] redis` is not set): every sidecar on the database draws on one budget per
//! token name, and a restart keeps what was spent.
//!
//! Table `budget_windows(key TEXT PRIMARY KEY, ends_s BIGINT, requests BIGINT, tokens BIGINT,
//! micros BIGINT)`: one row per window (the token name, the rule's model glob, `m<minute>` or
//! `d<day>`), as the Redis hashes are. A charge is one statement, as the Redis script is: the
//! function `bulwark_budget_charge` (migration 4, in crate::postgres) creates the windows it adds
//! to if new and locks them in key order (`INSERT ... ORDER BY k ON CONFLICT DO UPDATE`), so that
//! charges racing on any number of sidecars are checked one after the other and none passes a
//! limit; it checks every limit, and only when none would be passed adds to every window.
//! `bulwark_budget_adjust` settles: it locks its windows in the same order and moves each count,
//! never below 0. Both commit without waiting for the disk (`synchronous_commit` off for their
//! transaction): a database that crashes may forget the last fraction of a second of counts, never
//! count one twice. A request waits at most 2 s for its charge; a charge the database makes
//! after that is given back. Each lock wait is bounded (`lock_timeout`), a conflict the database
//! resolves by aborting one side is run again, and the budgets hold at most [`CONNECTIONS`] of the
//! pool's connections. Windows are deleted a minute after they end (by each sidecar, at most once a
//! minute). Counts stop at 2^62, so no sum overflows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bulwark_core::gateway::budget::{
    Adjustment, BudgetStore, Charge, Charged, Charging, Field, Settling,
};
use sqlx::postgres::PgPool;

use crate::postgres::Pg;

/// How long a request waits for its charge before it is answered 503 (or let through uncounted,
/// with `gateway-budget` in `fail_open`): a budget check must not hold a request for long. A
/// charge made later is given back.
const CHARGE_FOR: Duration = Duration::from_secs(2);

/// How long a settlement (or a sweep) may take before it is given up.
const SETTLE_FOR: Duration = Duration::from_secs(10);

/// Connections of the pool the budgets may hold at once: the rest stay for the state and the
/// audit log, whatever the gateway's load.
const CONNECTIONS: usize = 4;

/// The most one charge or settlement moves a count by (the stored counts stop at 2^62 in SQL, so
/// a count and a move never overflow 64 bits together).
const CAP: i64 = 1 << 61;

/// Budget counters in PostgreSQL.
pub struct PgBudgets {
    pg: Arc<Pg>,
    /// Let requests through uncounted while the database cannot be asked.
    fail_open: bool,
    /// The last minute this process deleted ended windows in.
    swept: AtomicU64,
    /// Budget calls in flight, at most [`CONNECTIONS`].
    permits: Arc<tokio::sync::Semaphore>,
    /// How long a request waits for its charge.
    wait: Duration,
}

impl PgBudgets {
    pub(crate) fn new(pg: Arc<Pg>, fail_open: bool) -> PgBudgets {
        PgBudgets {
            pg,
            fail_open,
            swept: AtomicU64::new(0),
            permits: Arc::new(tokio::sync::Semaphore::new(CONNECTIONS)),
            wait: CHARGE_FOR,
        }
    }

    /// The same store, where a request waits `wait` for its charge (2 s by default) before it
    /// is answered 503 or let through uncounted; a charge made later is given back.
    pub fn waiting(self, wait: Duration) -> PgBudgets {
        PgBudgets { wait, ..self }
    }
}

/// Amounts per window: the window's end and its counts by [`Field::index`], in key order.
type Windows = BTreeMap<String, (i64, [i64; 3])>;

/// A window's key as the table holds it: the core's keys separate their parts with NUL, which
/// PostgreSQL's text cannot hold, so `%` and NUL are escaped (`%25`, `%00`), one key to one row.
fn db_key(key: &str) -> String {
    key.replace('%', "%25").replace('\0', "%00")
}

fn amount(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(CAP).min(CAP)
}

/// `moves` (a window's key, the count moved, by how much, and the window's end, which a
/// settlement does not use) summed per window, each sum within [`CAP`] of 0.
fn windows<'a>(moves: impl IntoIterator<Item = (&'a str, Field, i64, u64)>) -> Windows {
    let mut w = Windows::new();
    for (key, field, by, ends) in moves {
        let slot = w.entry(db_key(key)).or_insert((amount(ends), [0; 3]));
        let c = &mut slot.1[field.index()];
        *c = c.saturating_add(by).clamp(-CAP, CAP);
    }
    w
}

/// The columns of [`Windows`], for `unnest`.
fn columns(w: &Windows) -> (Vec<String>, Vec<i64>, [Vec<i64>; 3]) {
    let keys = w.keys().cloned().collect();
    let ends = w.values().map(|(e, _)| *e).collect();
    let counts = [0, 1, 2].map(|i| w.values().map(|(_, c)| c[i]).collect());
    (keys, ends, counts)
}

async fn charge(pool: PgPool, charge: &Charge) -> Result<Charged, sqlx::Error> {
    let adds = windows(
        charge
            .adds
            .iter()
            .map(|(key, field, add, ends)| (key.as_str(), *field, amount(*add), *ends)),
    );
    let (keys, ends, [requests, tokens, micros]) = columns(&adds);
    let checks = &charge.checks;
    let answer: i32 =
        sqlx::query_scalar("SELECT bulwark_budget_charge($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&keys)
            .bind(&ends)
            .bind(&requests)
            .bind(&tokens)
            .bind(&micros)
            .bind(checks.iter().map(|c| db_key(&c.key)).collect::<Vec<_>>())
            .bind(
                checks
                    .iter()
                    .map(|c| c.field.index() as i32)
                    .collect::<Vec<_>>(),
            )
            .bind(checks.iter().map(|c| amount(c.add)).collect::<Vec<_>>())
            .bind(checks.iter().map(|c| amount(c.limit)).collect::<Vec<_>>())
            .fetch_one(&pool)
            .await?;
    Ok(match usize::try_from(answer) {
        Ok(0) => Charged::Taken,
        Ok(i) => Charged::Over(i - 1),
        Err(_) => Charged::Over(0),
    })
}

async fn adjust(pool: PgPool, adjustment: &Adjustment) -> Result<(), sqlx::Error> {
    let deltas = windows(
        adjustment
            .iter()
            .map(|(key, field, by)| (key.as_str(), *field, *by, 0)),
    );
    let (keys, _, [requests, tokens, micros]) = columns(&deltas);
    sqlx::query("SELECT bulwark_budget_adjust($1, $2, $3, $4)")
        .bind(&keys)
        .bind(&requests)
        .bind(&tokens)
        .bind(&micros)
        .execute(&pool)
        .await
        .map(|_| ())
}

/// Whether `e` is a conflict PostgreSQL resolves by aborting one side, to be run again: a
/// serialization failure (a role whose default isolation is stricter than read committed) or a
/// deadlock.
fn conflict(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "40001" || c == "40P01")
}

/// Run `call` on a budget connection (at most [`CONNECTIONS`] at once), again after a conflict
/// (at most three times in all).
async fn run<T, F: std::future::Future<Output = Result<T, sqlx::Error>>>(
    permits: &tokio::sync::Semaphore,
    call: impl Fn() -> F,
) -> Result<T, sqlx::Error> {
    let _permit = permits
        .acquire()
        .await
        .map_err(|_| sqlx::Error::PoolClosed)?;
    let mut tries = 0;
    loop {
        tries += 1;
        match call().await {
            Err(e) if tries < 3 && conflict(&e) => continue,
            answer => return answer,
        }
    }
}

impl BudgetStore for PgBudgets {
    fn charge(&self, c: Charge, now_secs: u64) -> Charging<'_> {
        // No rule applies: nothing to ask.
        if c.checks.is_empty() && c.adds.is_empty() {
            return Box::pin(std::future::ready(Ok(Charged::Taken)));
        }
        let pool = self.pg.pool.clone();
        let permits = self.permits.clone();
        let minute = now_secs / 60;
        if self.swept.swap(minute, Ordering::Relaxed) != minute {
            // Ended windows go a minute after their end, as in Redis, beside the charge; rows a
            // charge or settlement holds are left for the next sweep.
            let (pool, permits) = (pool.clone(), permits.clone());
            let before = amount(now_secs.saturating_sub(60));
            drop(self.pg.spawn(async move {
                let sweep = run(&permits, || {
                    sqlx::query(
                        "DELETE FROM budget_windows WHERE key IN (SELECT key FROM budget_windows \
                         WHERE ends_s < $1 ORDER BY key FOR UPDATE SKIP LOCKED)",
                    )
                    .bind(before)
                    .execute(&pool)
                });
                let _ = tokio::time::timeout(SETTLE_FOR, sweep).await;
            }));
        }
        // What gives the charge back, should it be made after the sidecar stopped waiting.
        let refund: Adjustment = c
            .adds
            .iter()
            .map(|(k, f, add, _)| (k.clone(), *f, -amount(*add)))
            .collect();
        let (tell, answer) = tokio::sync::oneshot::channel();
        let name = self.pg.name.clone();
        let late = (pool.clone(), permits.clone(), name.clone());
        drop(self.pg.spawn(async move {
            let made = run(&permits, || charge(pool.clone(), &c)).await;
            if let Err(Ok(Charged::Taken)) = tell.send(made) {
                // Nobody waits for it any more (the request was answered 503, or let through
                // uncounted, or went away): it must not count.
                let (pool, permits, name) = late;
                settle(pool, &permits, &name, refund).await;
            }
        }));
        let (fail_open, wait) = (self.fail_open, self.wait);
        Box::pin(async move {
            let reason = match tokio::time::timeout(wait, answer).await {
                Ok(Ok(Ok(answer))) => return Ok(answer),
                Ok(Ok(Err(e))) => format!("{name}: {e}"),
                Ok(Err(_)) => format!("{name}: the database's runtime stopped"),
                Err(_) => format!("{name}: no answer within {} ms", wait.as_millis()),
            };
            if fail_open {
                Ok(Charged::NotCounted)
            } else {
                Err(reason)
            }
        })
    }

    fn adjust(&self, adjustment: Adjustment) -> Settling<'_> {
        if adjustment.is_empty() {
            return Box::pin(std::future::ready(()));
        }
        let (pool, permits, name) = (
            self.pg.pool.clone(),
            self.permits.clone(),
            self.pg.name.clone(),
        );
        let task = self
            .pg
            .spawn(async move { settle(pool, &permits, &name, adjustment).await });
        Box::pin(async move {
            let _ = task.await;
        })
    }
}

/// Apply `adjustment`, for at most [`SETTLE_FOR`]. One that cannot be made leaves the reservation
/// counted (the safe side), with a warning.
async fn settle(
    pool: PgPool,
    permits: &tokio::sync::Semaphore,
    name: &str,
    adjustment: Adjustment,
) {
    let made = tokio::time::timeout(
        SETTLE_FOR,
        run(permits, || adjust(pool.clone(), &adjustment)),
    )
    .await;
    match made {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("{name}: a gateway budget settlement was not made: {e}"),
        Err(_) => tracing::warn!(
            "{name}: a gateway budget settlement was not made within {} s",
            SETTLE_FOR.as_secs()
        ),
    }
}
