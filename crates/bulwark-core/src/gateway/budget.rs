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
            // Per million tokens, in millionths: the products are the micros.
            c.max(0.0).min(u64::MAX as f64 / 2.0) as u64
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
                i + n("cache_creation_input_tokens").unwrap_or(0)
                    + n("cache_read_input_tokens").unwrap_or(0)
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
    keys: Vec<(String, String)>,
    tokens: u64,
    micros: u64,
    minute: u64,
    day: u64,
    model: String,
}

#[derive(Debug, Default, Clone)]
struct Window {
    minute: u64,
    day: u64,
    requests_minute: u64,
    tokens_minute: u64,
    requests_day: u64,
    tokens_day: u64,
    micros_day: u64,
}

impl Window {
    /// Start the windows `minute` and `day` if they are new.
    fn roll(&mut self, minute: u64, day: u64) {
        if self.day != day {
            *self = Window {
                minute,
                day,
                ..Window::default()
            };
        } else if self.minute != minute {
            self.minute = minute;
            self.requests_minute = 0;
            self.tokens_minute = 0;
        }
    }
}

/// Most (token, model glob) counters kept; past it, those not used today are dropped.
const MAX_PAIRS: usize = 100_000;

/// Every (token, a rule's model glob)'s use in the current UTC minute and day.
#[derive(Debug, Default)]
pub struct Counters(Mutex<HashMap<(String, String), Window>>);

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

    /// Reserve one request of `token` to `model` that may use `tokens` (its prompt's estimate
    /// and its `max_tokens`), at `now_secs` (Unix time). Refused when any matching rule's
    /// counter would pass its limit; nothing is counted then.
    pub fn reserve(
        &self,
        counters: &Counters,
        token: &str,
        model: &str,
        tokens: Tokens,
        now_secs: u64,
    ) -> Result<Reservation, OverBudget> {
        let (minute, day) = (now_secs / 60, now_secs / 86_400);
        let to_minute = 60 - now_secs % 60;
        let to_day = 86_400 - now_secs % 86_400;
        let total = tokens.total();
        let micros = self.prices.micros(model, tokens);
        let mut pairs = counters.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<(String, String)> = Vec::new();
        for (i, (b, t, m)) in self.rules.iter().enumerate() {
            if !(t.is_match(token) && m.is_match(model)) {
                continue;
            }
            let key = (token.to_string(), b.model.clone());
            let mut c = pairs.get(&key).cloned().unwrap_or_default();
            c.roll(minute, day);
            let over =
                |used: u64, add: u64, limit: u64| limit > 0 && used.saturating_add(add) > limit;
            let refused = if over(c.requests_minute, 1, b.requests_per_minute) {
                Some((
                    "requests_per_minute",
                    b.requests_per_minute.to_string(),
                    to_minute,
                ))
            } else if over(c.tokens_minute, total, b.tokens_per_minute) {
                Some((
                    "tokens_per_minute",
                    b.tokens_per_minute.to_string(),
                    to_minute,
                ))
            } else if over(c.requests_day, 1, b.requests_per_day) {
                Some(("requests_per_day", b.requests_per_day.to_string(), to_day))
            } else if over(c.tokens_day, total, b.tokens_per_day) {
                Some(("tokens_per_day", b.tokens_per_day.to_string(), to_day))
            } else if b.cost_per_day > 0.0
                && c.micros_day.saturating_add(micros) as f64 > b.cost_per_day * MICROS
            {
                Some(("cost_per_day", b.cost_per_day.to_string(), to_day))
            } else {
                None
            };
            if let Some((what, limit, retry_after)) = refused {
                return Err(OverBudget {
                    limit: format!("gateway.budgets[{i}].{what}"),
                    retry_after,
                    message: format!(
                        "bulwark: the budget gateway.budgets[{i}].{what} = {limit} for token {token:?} and the models {:?} would be passed by this request to {model:?} (it reserves {total} tokens: its prompt's estimate and its max tokens); retry in {retry_after} s, or ask for fewer max tokens",
                        b.model
                    ),
                });
            }
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if pairs.len() >= MAX_PAIRS {
            pairs.retain(|_, w| w.day == day);
        }
        for key in &keys {
            let c = pairs.entry(key.clone()).or_default();
            c.roll(minute, day);
            c.requests_minute += 1;
            c.requests_day += 1;
            c.tokens_minute = c.tokens_minute.saturating_add(total);
            c.tokens_day = c.tokens_day.saturating_add(total);
            c.micros_day = c.micros_day.saturating_add(micros);
        }
        Ok(Reservation {
            keys,
            tokens: total,
            micros,
            minute,
            day,
            model: model.to_string(),
        })
    }

    /// Settle a reservation with what the reply used (`None`: it said nothing, the reservation
    /// stands). Returns the cost counted, in millionths of the unit.
    pub fn settle(&self, counters: &Counters, r: Reservation, used: Option<Tokens>) -> u64 {
        let Some(used) = used else {
            return r.micros;
        };
        let micros = self.prices.micros(&r.model, used);
        let total = used.total();
        let mut pairs = counters.0.lock().unwrap_or_else(|e| e.into_inner());
        for key in &r.keys {
            let Some(c) = pairs.get_mut(key).filter(|c| c.day == r.day) else {
                continue;
            };
            let fix = |v: &mut u64, reserved: u64, real: u64| {
                *v = v.saturating_sub(reserved).saturating_add(real);
            };
            fix(&mut c.tokens_day, r.tokens, total);
            fix(&mut c.micros_day, r.micros, micros);
            if c.minute == r.minute {
                fix(&mut c.tokens_minute, r.tokens, total);
            }
        }
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
