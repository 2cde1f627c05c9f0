//! The server's side of a session: its answers, requests and notifications, guarded; its lists
//! compared with the pins.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use super::{
    Env, INTERNAL_ERROR, MAX_ITEM_BYTES, MAX_ITEMS, Out, RECHECK_WAIT_MS, REFUSED, Session, error,
    id_key,
};
use crate::mcp::content;
use crate::mcp::pins::ItemKind;

impl Session {
    /// Guard the `params` of a server's own message; `Some` says why it may not reach the client.
    pub(super) fn guard_params(
        &mut self,
        env: &Env<'_>,
        msg: &mut Value,
        what: &str,
    ) -> Option<String> {
        let params = msg.get_mut("params")?;
        let g = content::guard_value(
            env.policy,
            params,
            &self.source,
            self.mcp.results,
            self.mcp.redact_results,
        );
        self.judged(env, what, &g)
    }

    /// Record what guarding found; `Some` is the refusal when it blocks.
    pub(super) fn judged(
        &mut self,
        env: &Env<'_>,
        what: &str,
        g: &content::Guarded,
    ) -> Option<String> {
        let outcome = g.outcome(self.mcp.results);
        if outcome != "allow" || !g.injection.is_empty() {
            self.record(
                env,
                "mcp.result",
                format!("mcp:{}/{what}", self.id.name),
                outcome,
                json!({
                    "injection": g.injection,
                    "score": g.score,
                    "redacted": g.redacted,
                    "sensitive": g.sensitive,
                }),
            );
        }
        (outcome == "block").then(|| {
            format!(
                "bulwark: what MCP server `{}` sent for `{what}` was withheld: it carries instructions to the model ({}). Set [mcp] results = \"annotate\" to pass such answers with a warning.",
                self.id.name,
                g.injection.join(", ")
            )
        })
    }

    /// A request of the server's own (sampling, elicitation): its text reaches the client's model
    /// or user, so it is guarded like an answer; a refused one is answered to the server.
    pub(super) fn server_request(
        &mut self,
        env: &Env<'_>,
        mut msg: Value,
        method: &str,
        id: &Value,
    ) -> Vec<Out> {
        match self.guard_params(env, &mut msg, method) {
            Some(why) => vec![Out::ToServer(error(id, REFUSED, &why))],
            None => vec![Out::ToClient(msg.to_string())],
        }
    }

    pub(super) fn server_notification(
        &mut self,
        env: &Env<'_>,
        mut msg: Value,
        method: &str,
    ) -> Vec<Out> {
        // The kinds it announces (resources and their templates share one), templates only
        // where the client lists them (a server without them would answer an error).
        let kinds: Vec<ItemKind> = ItemKind::ALL
            .into_iter()
            .filter(|k| k.changed_notification() == method)
            .filter(|k| {
                *k != ItemKind::ResourceTemplate
                    || self.listed_now.contains(k)
                    || self.whole.contains(k)
            })
            .collect();
        if kinds.is_empty() {
            // Log messages, progress: guarded like answers; a refused one is dropped.
            if let Some(why) = self.guard_params(env, &mut msg, method) {
                self.warnings.push(why);
                return Vec::new();
            }
            return vec![Out::ToClient(msg.to_string())];
        }
        let now = env.clock.now_ms();
        // A re-check the server never answered is given up after a while.
        self.own
            .retain(|_, (_, at)| now.saturating_sub(*at) < RECHECK_WAIT_MS);
        let due: Vec<ItemKind> = kinds
            .into_iter()
            .filter(|kind| !self.own.values().any(|(k, _)| k == kind))
            .collect();
        if due.is_empty() {
            // A re-check of these lists is under way and the client was told: a flood of
            // notifications reaches it as one per round trip.
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.handshaken {
            // Re-check at once, whether or not the client lists again.
            for kind in due {
                out.push(self.recheck(kind, now));
            }
        }
        // Written anew: what else the server put in it reaches the client unread otherwise.
        out.push(Out::ToClient(
            json!({"jsonrpc": "2.0", "method": method}).to_string(),
        ));
        out
    }

    /// A list request of Bulwark's own for `kind`: its answer is compared with the pins (and
    /// reaches no client).
    pub fn recheck(&mut self, kind: ItemKind, now_ms: u64) -> Out {
        self.own_count += 1;
        // Random per session: it names neither the client's token nor its session.
        let id = format!("bulwark-recheck-{}-{}", self.own_tag, self.own_count);
        self.own
            .insert(id_key(&Value::String(id.clone())), (kind, now_ms));
        Out::ToServer(json!({"jsonrpc": "2.0", "id": id, "method": kind.list_method()}).to_string())
    }

    pub(super) fn server_answer(&mut self, env: &Env<'_>, mut msg: Value, id: &Value) -> Vec<Out> {
        let key = id_key(id);
        let has = |m: &Value, k: &str| m.get(k).is_some_and(|v| !v.is_null());
        let (is_result, is_error) = (has(&msg, "result"), has(&msg, "error"));
        if let Some((kind, _)) = self.own.remove(&key) {
            if is_result
                && !is_error
                && let Some(result) = msg.get_mut("result")
            {
                let before = self.held.clone();
                self.on_list(env, kind, result, false);
                // Held items that became visible (approved elsewhere) or hidden are announced.
                if self.held.iter().any(|h| h.0 == kind && !before.contains(h))
                    || before.iter().any(|h| h.0 == kind && !self.held.contains(h))
                {
                    return vec![Out::ToClient(
                        json!({"jsonrpc": "2.0", "method": kind.changed_notification()})
                            .to_string(),
                    )];
                }
            }
            return Vec::new();
        }
        let Some(asked) = self.asked.remove(&key) else {
            self.warnings.push(format!(
                "dropped an answer from the server to id {key}, which no request awaits"
            ));
            return Vec::new();
        };
        if is_result == is_error {
            return vec![Out::ToClient(error(
                &asked.id,
                INTERNAL_ERROR,
                "bulwark: the server's answer has not exactly one of `result` and `error`",
            ))];
        }
        if is_error {
            // An error's message and data reach the model as text too.
            let what = asked.tool.clone().unwrap_or_else(|| asked.method.clone());
            if let Some(e) = msg.get_mut("error") {
                let (g, text) = content::guard_value_text(
                    env.policy,
                    e,
                    &self.source,
                    self.mcp.results,
                    self.mcp.redact_results,
                );
                if let Some(why) = self.judged(env, &what, &g) {
                    return vec![Out::ToClient(error(&asked.id, REFUSED, &why))];
                }
                self.note_result(env, &what, &g, &text);
            }
            return vec![Out::ToClient(clean(msg, "result"))];
        }
        let Some(result) = msg.get_mut("result") else {
            return Vec::new();
        };
        match asked.method.as_str() {
            "initialize" | "server/discover" => self.on_initialize(env, result),
            m if ItemKind::of_list(m).is_some() => {
                let kind = ItemKind::of_list(m).unwrap_or(ItemKind::Tool);
                self.on_list(env, kind, result, asked.paged);
            }
            "ping" => {}
            // Every other answer (tool results, prompts, resources, tasks, completions, what a
            // later revision adds) may reach the model.
            _ => {
                let what = asked.tool.clone().unwrap_or_else(|| asked.method.clone());
                let (g, text) = content::guard_value_text(
                    env.policy,
                    result,
                    &self.source,
                    self.mcp.results,
                    self.mcp.redact_results,
                );
                if let Some(why) = self.judged(env, &what, &g) {
                    return vec![Out::ToClient(error(&asked.id, REFUSED, &why))];
                }
                self.note_result(env, &what, &g, &text);
            }
        }
        vec![Out::ToClient(clean(msg, "error"))]
    }

    pub(super) fn on_initialize(&mut self, env: &Env<'_>, result: &mut Value) {
        self.initialized = true;
        self.handshaken = true;
        let instructions = result
            .get("instructions")
            .and_then(Value::as_str)
            .map(str::to_string);
        self.instructions_flagged = instructions
            .as_deref()
            .map(|t| content::text_findings(env.policy, t))
            .unwrap_or_default();
        self.seen.instructions = instructions;
        self.reconcile(env);
        if self.instructions_held
            && let Some(o) = result.as_object_mut()
        {
            o.remove("instructions");
        }
    }

    pub(super) fn on_list(
        &mut self,
        env: &Env<'_>,
        kind: ItemKind,
        result: &mut Value,
        paged: bool,
    ) {
        // `""` ends a list as a missing cursor does (clients read it so).
        let ended = result
            .get("nextCursor")
            .is_none_or(|c| c.is_null() || c.as_str() == Some(""));
        let whole = !paged && ended;
        self.listed_now.insert(kind);
        self.listed_ms = env.clock.now_ms();
        let items = match result.get_mut(kind.result_key()) {
            Some(Value::Array(a)) => std::mem::take(a),
            _ => Vec::new(),
        };
        if whole {
            self.seen.items_mut(kind).clear();
            self.flagged.retain(|k, _| k.0 != kind);
            self.whole.insert(kind);
        }
        let forms: Vec<Option<(String, Value)>> = items
            .iter()
            .map(|i| crate::mcp::pins::pinned_form(kind, i))
            .collect();
        // A name listed twice would be judged by one copy and shown as both: neither is shown.
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (k, _) in forms.iter().flatten() {
            *count.entry(k.as_str()).or_default() += 1;
        }
        let twice: BTreeSet<String> = count
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k.to_string())
            .collect();
        let mut bytes: usize = self
            .seen
            .items(kind)
            .values()
            .map(|v| crate::mcp::pins::canonical(v).len())
            .sum();
        let mut shown = Vec::with_capacity(items.len());
        let mut dropped = 0usize;
        for (item, form) in items.into_iter().zip(forms) {
            let Some((key, form)) = form else {
                dropped += 1;
                continue;
            };
            if twice.contains(&key) {
                dropped += 1;
                continue;
            }
            let size = crate::mcp::pins::canonical(&form).len();
            let known = self.seen.items(kind).contains_key(&key);
            if !known && (self.seen.items(kind).len() >= MAX_ITEMS || bytes + size > MAX_ITEM_BYTES)
            {
                dropped += 1;
                continue;
            }
            bytes += size;
            let rules = content::definition_findings(env.policy, &form);
            self.flagged.insert((kind, key.clone()), rules);
            self.seen.items_mut(kind).insert(key.clone(), form);
            shown.push((key, item));
        }
        if dropped > 0 {
            self.warnings.push(format!(
                "hid {dropped} {}s of the server's list: without a usable {}, listed twice, or past {MAX_ITEMS} items or {MAX_ITEM_BYTES} bytes",
                kind.as_str(),
                kind.key_field()
            ));
        }
        self.reconcile(env);
        // Only what is pinned reaches the client: a member that is not (`_meta`, `icons`, what a
        // later revision adds) could change unseen, or carry text no scan read.
        let visible: Vec<Value> = shown
            .into_iter()
            .filter(|(k, _)| !self.held.contains(&(kind, k.clone())))
            .filter_map(|(_, item)| crate::mcp::pins::pinned_form(kind, &item).map(|(_, f)| f))
            .collect();
        if let Some(o) = result.as_object_mut() {
            // The result's other members (`nextCursor`, and protocol members such as
            // `resultType` and `cacheScope`) pass guarded: one that carries instructions is
            // dropped, secrets in them redacted.
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if let Some(v) = o.get_mut(&k) {
                    let g = content::guard_value(
                        env.policy,
                        v,
                        &self.source,
                        self.mcp.results,
                        self.mcp.redact_results,
                    );
                    if g.blocked {
                        self.warnings.push(format!(
                            "dropped `{k}` of the server's {} list: it carries instructions to the model",
                            kind.as_str()
                        ));
                        o.remove(&k);
                    }
                }
            }
            o.insert(kind.result_key().into(), Value::Array(visible));
        }
    }
}

/// An answer without a `null` member of the kind it is not (`"error": null` beside a result).
fn clean(mut msg: Value, other: &str) -> String {
    if let Some(o) = msg.as_object_mut() {
        o.remove(other);
    }
    msg.to_string()
}
