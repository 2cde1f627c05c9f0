//! A deterministic generated corpus for benchmarks and peer comparisons: source code, logs, prose and
//! JSON, with sparse secrets and personal data (about one per 4 KiB). Shared by the criterion bench and
//! the `gen-corpus` example (which writes it to files for `scripts/compare-peers.sh`).
#![allow(dead_code)]

/// xorshift64*: deterministic, dependency-free, good enough to vary text.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    pub fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n).map(|_| A[self.below(A.len())] as char).collect()
    }
}

const WORDS: &[&str] = &[
    "the", "agent", "reads", "a", "page", "and", "then", "calls", "tool", "with", "result", "of",
    "query", "deploy", "service", "cluster", "request", "response", "user", "message", "channel",
    "window", "update", "status", "review", "change", "build", "release", "notes", "for", "team",
    "metric", "latency", "error", "budget", "runbook", "incident", "owner", "queue", "worker",
];

const IDENTS: &[&str] = &[
    "handler", "config", "client", "buffer", "index", "count", "result", "session", "request",
    "payload", "options", "context", "router", "store", "cache", "timeout", "retries", "limit",
];

fn prose(r: &mut Rng, out: &mut String, words: usize) {
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(r.pick(WORDS));
    }
    out.push_str(".\n");
}

fn code(r: &mut Rng, out: &mut String, lines: usize) {
    for _ in 0..lines {
        let a = r.pick(IDENTS);
        let b = r.pick(IDENTS);
        match r.below(5) {
            0 => out.push_str(&format!("    let {a} = {b}.get(\"{}\")?;\n", r.pick(WORDS))),
            1 => out.push_str(&format!(
                "    if {a}.len() > {} {{ return Err(Error::{b}); }}\n",
                r.below(4096)
            )),
            2 => out.push_str(&format!(
                "fn {a}_{b}(ctx: &Context) -> Result<(), Error> {{\n"
            )),
            3 => out.push_str(&format!(
                "    // {} {} {}\n",
                r.pick(WORDS),
                r.pick(WORDS),
                r.pick(WORDS)
            )),
            _ => out.push_str(&format!("    {a}.insert({b}, {});\n", r.below(100))),
        }
    }
}

fn log(r: &mut Rng, out: &mut String, lines: usize) {
    for _ in 0..lines {
        out.push_str(&format!(
            "2026-11-{:02}T{:02}:{:02}:{:02}Z INFO {} {} took {}ms status={}\n",
            1 + r.below(28),
            r.below(24),
            r.below(60),
            r.below(60),
            r.pick(IDENTS),
            r.pick(WORDS),
            r.below(900),
            200 + r.below(3) * 100
        ));
    }
}

fn json(r: &mut Rng, out: &mut String, items: usize) {
    out.push_str("{\"items\": [\n");
    for i in 0..items {
        out.push_str(&format!(
            "  {{\"{}\": \"{}\", \"{}\": {}, \"{}\": [\"{}\", \"{}\"]}}{}\n",
            r.pick(IDENTS),
            r.pick(WORDS),
            r.pick(IDENTS),
            r.below(10_000),
            r.pick(IDENTS),
            r.pick(WORDS),
            r.pick(WORDS),
            if i + 1 < items { "," } else { "" }
        ));
    }
    out.push_str("]}\n");
}

fn sensitive(r: &mut Rng, out: &mut String) {
    match r.below(6) {
        0 => out.push_str(&format!(
            "AWS_ACCESS_KEY_ID=AKIA{}\n",
            r.alnum(16)
                .to_uppercase()
                .replace(['0', '1', '8', '9'], "Q")
        )),
        1 => out.push_str(&format!(
            "slack_token = \"xoxb-{}-{}-{}\"\n",
            100_000_000_000u64 + r.next_u64() % 900_000_000_000,
            100_000_000_000u64 + r.next_u64() % 900_000_000_000,
            r.alnum(24)
        )),
        2 => out.push_str(&format!(
            "contact: {}.{}@example-corp.net\n",
            r.pick(WORDS),
            r.pick(IDENTS)
        )),
        3 => out.push_str(&format!("db_password = \"{}\"\n", r.alnum(18))),
        4 => out.push_str(&format!("callback +1 415 555 {:04}\n", r.below(10_000))),
        _ => out.push_str(&format!("stripe = \"sk_live_{}\"\n", r.alnum(32))),
    }
}

/// About `size` bytes of mixed text with sparse secrets and PII.
pub fn mixed(size: usize, seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(size + 4096);
    let mut next_sensitive = 4096;
    while out.len() < size {
        let kind = r.below(4);
        let n = r.below(60);
        match kind {
            0 => prose(&mut r, &mut out, 20 + n),
            1 => code(&mut r, &mut out, 5 + n / 3),
            2 => log(&mut r, &mut out, 3 + n / 5),
            _ => json(&mut r, &mut out, 2 + n / 8),
        }
        if out.len() >= next_sensitive {
            sensitive(&mut r, &mut out);
            next_sensitive = out.len() + 2048 + r.below(4096);
        }
    }
    out
}

/// About `size` bytes of prose with no candidate at all: no digits, no `@`, no anchor words.
pub fn no_candidates(size: usize, seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(size + 512);
    while out.len() < size {
        prose(&mut r, &mut out, 40);
    }
    out
}

/// A 4 KiB agent prompt: instructions, a pasted tool result, one e-mail address.
pub fn prompt_4k(seed: u64) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::from(
        "You are an SRE assistant. Summarise the alert below and propose one safe action.\n\n",
    );
    while out.len() < 3900 {
        match r.below(3) {
            0 => prose(&mut r, &mut out, 30),
            1 => log(&mut r, &mut out, 4),
            _ => json(&mut r, &mut out, 3),
        }
    }
    out.push_str("Escalate to oncall.lead@example-corp.net if unsure.\n");
    out.truncate(4096);
    out
}
