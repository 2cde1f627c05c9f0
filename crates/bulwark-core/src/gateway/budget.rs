//! Budgets: requests, tokens and cost per minute and per day, per agent token and per model.
//!
//! Threat answered: an agent in a loop (or steered into one) spends without bound on the
//! operator's provider key. Each `[[gateway.budgets]]` rule counts, for every agent token it
//! matches, everything that token asks of all the models its `model` glob matches together (so
//! asking for other model names the glob matches does not multiply the allowance), in fixed
//! windows aligned to the UTC minute and day ([`Counters`], kept across configuration reloads,
//! by token and glob). A request reserves
//! its share before it goes upstream: one request, its prompt's estimated tokens plus the most it
//! may generate (`max_tokens`), and their price; it is refused when any counter would pass its
//! limit. The reply's `usage` then settles the reservation to what was really used (a reply
//! without `usage` keeps what was reserved). Counters live in the sidecar's memory.

use std::collections::HashMap;
use std::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::problems::Problems;

/// `[[gateway.budgets]]`: limits for each agent token the rule matches, counting all the models
/// its `model` glob matches together. A limit of 0 is no limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// The agent tokens (by name) it applies to: a glob; `*` is every token.
    pub token: String,
    /// The models it applies to: a glob; `*` is every model.
    pub model: String,
    /// Requests per UTC minute.
    pub requests_per_minute: u64,
    /// Tokens (prompt and reply) per UTC minute.
    pub tokens_per_minute: u64,
    /// Requests per UTC day.
    pub requests_per_day: u64,
    /// Tokens per UTC day.
    pub tokens_per_day: u64,
    /// Cost per UTC day, in the unit of `[gateway.prices]` (0: none).
    pub cost_per_day: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            token: "*".into(),
            model: "*".into(),
            requests_per_minute: 0,
            tokens_per_minute: 0,
            requests_per_day: 0,
            tokens_per_day: 0,
            cost_per_day: 0.0,
        }
    }
}

/// `[gateway.prices."GLOB"]`: what a model's tokens cost, per million.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Per million prompt (input) tokens.
    pub input_per_mtok: f64,
    /// Per million reply (output) tokens.
    pub output_per_mtok: f64,
}

/// Check budgets and prices (key paths as `config check` prints them).
pub fn check(
    budgets: &[BudgetConfig],
    prices: &std::collections::BTreeMap<String, PriceConfig>,
    p: &mut Problems,
) {
    for (i, b) in budgets.iter().enumerate() {
        for (k, g) in [("token", &b.token), ("model", &b.model)] {
            if g.is_empty() || globset::Glob::new(g).is_err() {
                p.invalid(
                    format!("gateway.budgets[{i}].{k}"),
                    format!("{g:?}"),
                    "a name or glob (`*` for all)",
                );
            }
        }
        if !(b.cost_per_day.is_finite() && b.cost_per_day >= 0.0) {
            p.invalid(
                format!("gateway.budgets[{i}].cost_per_day"),
                b.cost_per_day.to_string(),
                "a cost of 0 or more",
            );
        }
        if b.cost_per_day > 0.0 && prices.is_empty() {
            p.invalid(
                format!("gateway.budgets[{i}].cost_per_day"),
                b.cost_per_day.to_string(),
                "a price table to count cost with: [gateway.prices.\"MODEL\"] input_per_mtok, output_per_mtok",
            );
        }
    }
    for (g, price) in prices {
        if globset::Glob::new(g).is_err() {
            p.invalid(
                format!("gateway.prices.{g:?}"),
                format!("{g:?}"),
                "a model name or glob",
            );
        }
        for (k, v) in [
            ("input_per_mtok", price.input_per_mtok),
            ("output_per_mtok", price.output_per_mtok),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                p.invalid(
                    format!("gateway.prices.{g:?}.{k}"),
                    v.to_string(),
                    "a price of 0 or more",
                );
            }
        }
    }
}

/// Cost is counted in millionths of the price unit.
const MICROS: f64 = 1_000_000.0;

/// The largest amount or limit counted (2^53: exact in a double, as Redis's scripts count, and
/// far above any real budget). A request asking for more (a `max_tokens` of 2^63) counts as this.
pub const MAX_AMOUNT: u64 = 1 << 53;

/// The prices, compiled: the first glob (in name order) that matches a model prices it.
#[derive(Debug, Clone, Default)]
pub struct Prices(Vec<(globset::GlobMatcher, PriceConfig)>);

impl Prices {
    /// Compile `[gateway.prices]` (checked by [`check`]).
    pub fn new(prices: &std::collections::BTreeMap<String, PriceConfig>) -> Result<Prices, String> {
        prices
            .iter()
            .map(|(g, p)| {
                globset::Glob::new(g)
                    .map(|m| (m.compile_matcher(), p.clone()))
                    .map_err(|e| format!("gateway.prices.{g:?}: {e}"))
            })
            .collect::<Result<_, _>>()
            .map(Prices)
    }

    /// The price of `model`, if one is set.
    pub fn of(&self, model: &str) -> Option<&PriceConfig> {
        self.0
            .iter()
            .find(|(g, _)| g.is_match(model))
            .map(|(_, p)| p)
    }

    /// The cost of `tokens` with `model`, in millionths of the unit (0 without a price).
    pub fn micros(&self, model: &str, tokens: Tokens) -> u64 {
        self.of(model).map_or(0, |p| {
            let c =
                tokens.input as f64 * p.input_per_mtok + tokens.output as f64 * p.output_per_mtok;
            // Per million tokens, in millionths: the products are the micros (a part of one
            // counts as one, so small requests are not free).
            c.max(0.0).ceil().min(MAX_AMOUNT as f64) as u64
        })
    }
}

/// Prompt and reply token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt (input) tokens, cache reads and writes included.
    pub input: u64,
    /// Reply (output) tokens.
    pub output: u64,
}

impl Tokens {
    /// Both together.
    pub fn total(self) -> u64 {
        self.input.saturating_add(self.output)
    }

    /// The counts of a reply's `usage`, in either API's names: OpenAI's `prompt_tokens` and
    /// `completion_tokens` (Responses: `input_tokens`, `output_tokens`), Anthropic's
    /// `input_tokens` (with its cache reads and writes) and `output_tokens`.
    pub fn of_usage(usage: &serde_json::Value) -> Option<Tokens> {
        let n = |k: &str| usage.get(k).and_then(serde_json::Value::as_u64);
        let input = n("prompt_tokens").or_else(|| {
            n("input_tokens").map(|i| {
                i.saturating_add(n("cache_creation_input_tokens").unwrap_or(0))
                    .saturating_add(n("cache_read_input_tokens").unwrap_or(0))
            })
        });
        let output = n("completion_tokens").or_else(|| n("output_tokens"));
        if input.is_none() && output.is_none() {
            return None;
        }
        Some(Tokens {
            input: input.unwrap_or(0),
            output: output.unwrap_or(0),
        })
    }
}

/// A request refused by a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverBudget {
    /// The limit's key path: `gateway.budgets[0].tokens_per_day`.
    pub limit: String,
    /// Seconds until its window starts afresh.
    pub retry_after: u64,
    /// Why, for the agent's operator.
    pub message: String,
}

/// What one request holds of its counters until its reply settles it.
#[derive(Debug)]
pub struct Reservation {
    /// The counters it added to: (the minute's key, the day's key) per (token, model glob).
    keys: Vec<(String, String)>,
    tokens: u64,
    micros: u64,
    model: String,
}

/// A counter of a window: what a request adds to it, and the most it may hold (0: no limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The window's key: the token, the rule's model glob and the window (`m` minute or `d`
    /// day, and its number).
    pub key: String,
    /// Which count.
    pub field: Field,
    /// What the request adds.
    pub add: u64,
    /// The most the counter may hold after it.
    pub limit: u64,
}

/// The counts a window keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// Requests.
    Requests,
    /// Tokens.
    Tokens,
    /// Cost, in millionths of the price unit.
    Micros,
}

impl Field {
    /// Its name in a store.
    pub fn name(self) -> &'static str {
        match self {
            Field::Requests => "requests",
            Field::Tokens => "tokens",
            Field::Micros => "micros",
        }
    }

    /// Its place among a window's counts: requests 0, tokens 1, micros 2.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One request's charge: every limit it must stay within, then what it adds (each window once,
/// however many rules share it), each window kept until it ends (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Charge {
    /// The limits, in the order they are reported.
    pub checks: Vec<Check>,
    /// What is added: (key, field, amount, the window's end in Unix seconds).
    pub adds: Vec<(String, Field, u64, u64)>,
}

/// A settlement: what is taken back from (or added to) the windows of a reservation that still
/// exist, once the reply says what was used.
pub type Adjustment = Vec<(String, Field, i64)>;

/// A budget store's answer to a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    /// Within every limit, and counted.
    Taken,
    /// `checks[i]` would be passed; nothing counted.
    Over(usize),
    /// Let through without being counted (a shared store out of reach, with the budget listed in
    /// `fail_open`): its reservation holds nothing to settle.
    NotCounted,
}

/// A budget store's answer to a charge, or why it could not be asked.
pub type Charging<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Charged, String>> + Send + 'a>>;

/// A settlement's completion.
pub type Settling<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Where budget counters live: [`Counters`] in this process, or a store several sidecars share
/// (Redis, in bulwark-store), so a budget holds across them.
pub trait BudgetStore: Send + Sync {
    /// Check every limit of `charge` and, if none would be passed, add its amounts, at once.
    fn charge(&self, charge: Charge, now_secs: u64) -> Charging<'_>;
    /// Apply `adjustment` to the windows that still exist (a count never goes below 0).
    fn adjust(&self, adjustment: Adjustment) -> Settling<'_>;
}

/// Most windows kept in the process; past it, those that ended are dropped.
const MAX_WINDOWS: usize = 200_000;

/// Every window's counts in this process: (its end, requests, tokens, micros) by key.
#[derive(Debug, Default)]
pub struct Counters(Mutex<HashMap<String, (u64, [u64; 3])>>);

impl Counters {
    /// [`BudgetStore::charge`], at once.
    pub fn charge_now(&self, charge: &Charge, now_secs: u64) -> Charged {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (i, c) in charge.checks.iter().enumerate() {
            let used = w.get(&c.key).map_or(0, |(_, v)| v[c.field.index()]);
            if c.limit > 0 && used.saturating_add(c.add) > c.limit {
                return Charged::Over(i);
            }
        }
        // Windows that ended go when the map is large, or at the turn of each minute.
        if w.len() >= MAX_WINDOWS || now_secs.is_multiple_of(60) {
            w.retain(|_, (ends, _)| *ends > now_secs);
        }
        for (key, field, add, ends) in &charge.adds {
            let slot = w.entry(key.clone()).or_insert((*ends, [0; 3]));
            slot.1[field.index()] = slot.1[field.index()].saturating_add(*add);
        }
        Charged::Taken
    }

    /// [`BudgetStore::adjust`], at once.
    pub fn adjust_now(&self, adjustment: &Adjustment) {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (key, field, delta) in adjustment {
            if let Some((_, v)) = w.get_mut(key) {
                let c = &mut v[field.index()];
                *c = if *delta < 0 {
                    c.saturating_sub(delta.unsigned_abs())
                } else {
                    c.saturating_add(delta.unsigned_abs())
                };
            }
        }
    }
}

impl BudgetStore for Counters {
    fn charge(&self, charge: Charge, now_secs: u64) -> Charging<'_> {
        Box::pin(std::future::ready(Ok(self.charge_now(&charge, now_secs))))
    }

    fn adjust(&self, adjustment: Adjustment) -> Settling<'_> {
        self.adjust_now(&adjustment);
        Box::pin(std::future::ready(()))
    }
}

/// A request's charge, planned: what to ask the store, and how to read its answer.
#[derive(Debug)]
pub struct Plan {
    /// What the store is asked.
    pub charge: Charge,
    /// Per check: the rule, the limit's name, its value and the seconds until its window ends.
    why: Vec<(usize, &'static str, String, u64)>,
    reservation: Reservation,
    token: String,
    globs: Vec<String>,
}

impl Plan {
    /// The store's answer as a reservation, or the budget it would pass.
    pub fn outcome(self, answer: Charged) -> Result<Reservation, OverBudget> {
        match answer {
            Charged::Taken => Ok(self.reservation),
            Charged::NotCounted => Ok(Reservation {
                keys: Vec::new(),
                ..self.reservation
            }),
            Charged::Over(i) => {
                let Some((rule, what, limit, retry_after)) = self.why.get(i).cloned() else {
                    return Err(OverBudget {
                        limit: "gateway.budgets".into(),
                        retry_after: 60,
                        message: format!(
                            "bulwark: the budget store refused by a check ({i}) this request did not make"
                        ),
                    });
                };
                let (token, model, total) = (
                    &self.token,
                    &self.reservation.model,
                    self.reservation.tokens,
                );
                Err(OverBudget {
                    limit: format!("gateway.budgets[{rule}].{what}"),
                    retry_after,
                    message: format!(
                        "bulwark: the budget gateway.budgets[{rule}].{what} = {limit} for token {token:?} and the models {:?} would be passed by this request to {model:?} (it reserves {total} tokens: its prompt's estimate and its max tokens); retry in {retry_after} s, or ask for fewer max tokens",
                        self.globs.get(i).map_or("", String::as_str)
                    ),
                })
            }
        }
    }
}

/// The budgets, compiled.
#[derive(Debug)]
pub struct Budgets {
    rules: Vec<(BudgetConfig, globset::GlobMatcher, globset::GlobMatcher)>,
    prices: Prices,
}

impl Budgets {
    /// Compile `[[gateway.budgets]]` and `[gateway.prices]` (checked by [`check`]).
    pub fn new(
        budgets: &[BudgetConfig],
        prices: &std::collections::BTreeMap<String, PriceConfig>,
    ) -> Result<Budgets, String> {
        let glob = |i: usize, k: &str, g: &str| {
            globset::Glob::new(g)
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("gateway.budgets[{i}].{k}: {e}"))
        };
        let mut rules = Vec::new();
        for (i, b) in budgets.iter().enumerate() {
            rules.push((
                b.clone(),
                glob(i, "token", &b.token)?,
                glob(i, "model", &b.model)?,
            ));
        }
        Ok(Budgets {
            rules,
            prices: Prices::new(prices)?,
        })
    }

    /// The price table.
    pub fn prices(&self) -> &Prices {
        &self.prices
    }

    /// Plan the charge of one request of `token` to `model` that may use `tokens` (its prompt's
    /// estimate and its `max_tokens`), at `now_secs` (Unix time): one request, its tokens and
    /// their price, against every matching rule's limits in the current UTC minute and day.
    pub fn plan(&self, token: &str, model: &str, tokens: Tokens, now_secs: u64) -> Plan {
        let (minute, day) = (now_secs / 60, now_secs / 86_400);
        let to_minute = 60 - now_secs % 60;
        let to_day = 86_400 - now_secs % 86_400;
        let total = tokens.total().min(MAX_AMOUNT);
        let micros = self.prices.micros(model, tokens);
        let mut charge = Charge::default();
        let mut why = Vec::new();
        let mut globs = Vec::new();
        let mut keys: Vec<(String, String)> = Vec::new();
        for (i, (b, t, m)) in self.rules.iter().enumerate() {
            if !(t.is_match(token) && m.is_match(model)) {
                continue;
            }
            let base = format!("{token}\u{0}{}", b.model);
            let (km, kd) = (
                format!("{base}\u{0}m{minute}"),
                format!("{base}\u{0}d{day}"),
            );
            // In millionths; a cost limit below one millionth still limits (to one).
            let cost_limit = if b.cost_per_day > 0.0 {
                ((b.cost_per_day * MICROS).min(MAX_AMOUNT as f64) as u64).max(1)
            } else {
                0
            };
            for (key, field, add, limit, what, shown, retry) in [
                (
                    &km,
                    Field::Requests,
                    1,
                    b.requests_per_minute,
                    "requests_per_minute",
                    b.requests_per_minute.to_string(),
                    to_minute,
                ),
                (
                    &km,
                    Field::Tokens,
                    total,
                    b.tokens_per_minute,
                    "tokens_per_minute",
                    b.tokens_per_minute.to_string(),
                    to_minute,
                ),
                (
                    &kd,
                    Field::Requests,
                    1,
                    b.requests_per_day,
                    "requests_per_day",
                    b.requests_per_day.to_string(),
                    to_day,
                ),
                (
                    &kd,
                    Field::Tokens,
                    total,
                    b.tokens_per_day,
                    "tokens_per_day",
                    b.tokens_per_day.to_string(),
                    to_day,
                ),
                (
                    &kd,
                    Field::Micros,
                    micros,
                    cost_limit,
                    "cost_per_day",
                    b.cost_per_day.to_string(),
                    to_day,
                ),
            ] {
                if limit > 0 {
                    charge.checks.push(Check {
                        key: key.clone(),
                        field,
                        add,
                        limit: limit.min(MAX_AMOUNT),
                    });
                    why.push((i, what, shown, retry));
                    globs.push(b.model.clone());
                }
            }
            if !keys.contains(&(km.clone(), kd.clone())) {
                let (m_end, d_end) = ((minute + 1) * 60, (day + 1) * 86_400);
                charge.adds.extend([
                    (km.clone(), Field::Requests, 1, m_end),
                    (km.clone(), Field::Tokens, total, m_end),
                    (kd.clone(), Field::Requests, 1, d_end),
                    (kd.clone(), Field::Tokens, total, d_end),
                    (kd.clone(), Field::Micros, micros, d_end),
                ]);
                keys.push((km, kd));
            }
        }
        Plan {
            charge,
            why,
            reservation: Reservation {
                keys,
                tokens: total,
                micros,
                model: model.to_string(),
            },
            token: token.to_string(),
            globs,
        }
    }

    /// Reserve one request in `counters` (in this process): [`Budgets::plan`], charged at once.
    /// Refused when any matching rule's counter would pass its limit; nothing is counted then.
    pub fn reserve(
        &self,
        counters: &Counters,
        token: &str,
        model: &str,
        tokens: Tokens,
        now_secs: u64,
    ) -> Result<Reservation, OverBudget> {
        let plan = self.plan(token, model, tokens, now_secs);
        let answer = counters.charge_now(&plan.charge, now_secs);
        plan.outcome(answer)
    }

    /// What settling `r` with what the reply used changes (`None`: it said nothing, the
    /// reservation stands), and the cost counted in millionths of the unit.
    pub fn settlement(&self, r: Reservation, used: Option<Tokens>) -> (Adjustment, u64) {
        let Some(used) = used else {
            return (Vec::new(), r.micros);
        };
        let micros = self.prices.micros(&r.model, used);
        let diff = |real: u64, reserved: u64| -> i64 {
            let d = i128::from(real) - i128::from(reserved);
            d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        };
        let (dt, dm) = (diff(used.total(), r.tokens), diff(micros, r.micros));
        let mut out = Vec::new();
        for (km, kd) in r.keys {
            out.push((km, Field::Tokens, dt));
            out.push((kd.clone(), Field::Tokens, dt));
            out.push((kd, Field::Micros, dm));
        }
        (out, micros)
    }

    /// Settle a reservation in `counters` (in this process) with what the reply used (`None`:
    /// it said nothing, the reservation stands). Returns the cost counted, in millionths of the
    /// unit.
    pub fn settle(&self, counters: &Counters, r: Reservation, used: Option<Tokens>) -> u64 {
        let (adjustment, micros) = self.settlement(r, used);
        counters.adjust_now(&adjustment);
        micros
    }
}

/// The tokens a request may use before its reply says: its prompt's estimate (a token per 4
/// bytes of the body, the usual rule of thumb for English text and JSON) and the most it may
/// generate (`max_completion_tokens`, `max_tokens` or `max_output_tokens`; `default_max` when it
/// names none).
pub fn request_tokens(body: &serde_json::Value, body_bytes: usize, default_max: u64) -> Tokens {
    let output = ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(serde_json::Value::as_u64))
        .unwrap_or(default_max);
    Tokens {
        input: (body_bytes as u64).div_ceil(4),
        output,
    }
}
