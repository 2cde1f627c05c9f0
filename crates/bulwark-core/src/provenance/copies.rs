//! Which of a call's arguments came from untrusted content: destinations no trusted piece names,
//! and runs of characters shared with an untrusted piece and with no trusted one.

use super::*;

impl ProvenancePolicy {
    /// Arguments whose values came from untrusted content, in a tainted context: a destination
    /// (URL, e-mail address, host) that no trusted piece names (on label boundaries: `acme.co`
    /// is not in `acme.com`), wherever it came from (an untrusted piece, or re-encoded, defanged
    /// or made up); or a run of `min_common` characters shared with an untrusted piece and with
    /// no trusted one. Arguments are read percent-decoded.
    pub(super) fn chosen(
        &self,
        args: &[Arg],
        untrusted: &[&Piece],
        trusted: &[&Piece],
        copies: bool,
    ) -> Vec<ChosenArg> {
        let mut out: Vec<ChosenArg> = Vec::new();
        let in_trusted = |s: &str| trusted.iter().any(|p| contains_bounded(&p.text, s));
        // Each destination is looked for in the whole context: a bounded number are.
        let mut looked = 0;
        'args: for a in args {
            if out.len() >= MAX_LISTED {
                break;
            }
            for d in &a.dests {
                looked += 1;
                if looked > MAX_DESTINATIONS {
                    out.push(ChosenArg {
                        arg: "args".into(),
                        from: "untrusted content".into(),
                        why: format!(
                            "not traced: more than {MAX_DESTINATIONS} destinations in the arguments"
                        ),
                    });
                    break 'args;
                }
                if self.internal(&d.host) || in_trusted(&d.host) {
                    continue;
                }
                let what = if d.link { "link to" } else { "destination" };
                let (from, how) = match untrusted.iter().find(|p| p.text.contains(&d.host)) {
                    Some(p) => (
                        format!("{} at {}", p.origin.label(), p.at),
                        "only in untrusted content",
                    ),
                    None => ("untrusted content".to_string(), "named by no trusted piece"),
                };
                out.push(ChosenArg {
                    arg: a.path.clone(),
                    from,
                    why: format!("{what} `{}` {how}", d.host),
                });
                break;
            }
        }
        // Copies, over every argument at once within a bound of work.
        let named: std::collections::BTreeSet<&str> = out.iter().map(|c| c.arg.as_str()).collect();
        let rest: Vec<&Arg> = args
            .iter()
            .filter(|a| !named.contains(a.path.as_str()) && a.text.len() >= self.cfg.min_common)
            .collect();
        if rest.is_empty() || !copies {
            return out;
        }
        let values: Vec<&str> = rest.iter().map(|a| a.text.as_str()).collect();
        let mut budget = MAX_COPY_WORK;
        let trusted_bytes: usize = trusted.iter().map(|p| p.text.len()).sum();
        let run_in_trusted = |s: &str| trusted.iter().any(|p| p.text.contains(s));
        let mut copied: Vec<Option<(usize, String)>> = vec![None; values.len()];
        for p in untrusted {
            let k = self.cfg.min_common;
            match common_runs(
                &values,
                &p.text,
                k,
                (&run_in_trusted, trusted_bytes),
                &mut budget,
            ) {
                Some(found) => {
                    for (i, n) in found {
                        if copied[i].is_none() {
                            copied[i] = Some((n, format!("{} at {}", p.origin.label(), p.at)));
                        }
                    }
                }
                None => {
                    // Past the bound, what was not traced is not known to be clean.
                    out.push(ChosenArg {
                        arg: "args".into(),
                        from: "untrusted content".into(),
                        why: "not traced: the context is too large to trace copies within bounds"
                            .into(),
                    });
                    break;
                }
            }
        }
        for (a, c) in rest.iter().zip(copied) {
            if let Some((n, from)) = c {
                out.push(ChosenArg {
                    arg: a.path.clone(),
                    from,
                    why: format!("copied: {n} characters in common"),
                });
            }
        }
        out.truncate(MAX_LISTED);
        out
    }
}

/// Every string leaf of `v` with its path.
pub(super) fn collect_strings(path: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) => out.push((path.to_string(), s.clone())),
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_strings(&format!("{path}[{i}]"), x, out);
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                collect_strings(&format!("{path}.{k}"), x, out);
            }
        }
        _ => {}
    }
}

/// Bytes of untrusted text rolled over per call when tracing copies; past it a call counts as
/// carrying copied values.
pub(super) const MAX_COPY_WORK: usize = 32 * 1024 * 1024;
/// Destinations in one call's arguments traced to their source; past it the call counts as
/// carrying attacker-chosen ones.
pub(super) const MAX_DESTINATIONS: usize = 64;
/// Candidate runs checked against trusted text per piece.
pub(super) const MAX_CANDIDATES: usize = 256;

/// Whether `needle` occurs in `hay` with no host character (letter, digit, `.`, `-`) right
/// before or after it.
pub(super) fn contains_bounded(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let host = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    let h = hay.as_bytes();
    memchr::memmem::find_iter(h, needle.as_bytes()).any(|i| {
        let end = i + needle.len();
        (i == 0 || !host(h[i - 1])) && (end >= h.len() || !host(h[end]))
    })
}

/// For each of `values` that shares a run of at least `k` bytes with `text` (a run
/// `in_trusted` does not find in trusted text), its index and the run's length. The values'
/// windows are hashed into one map; the text is rolled over once. `None` when `budget` (bytes
/// rolled) runs out.
pub(super) fn common_runs(
    values: &[&str],
    text: &str,
    k: usize,
    (in_trusted, trusted_bytes): (&dyn Fn(&str) -> bool, usize),
    budget: &mut usize,
) -> Option<Vec<(usize, usize)>> {
    let t = text.as_bytes();
    if t.len() < k {
        return Some(Vec::new());
    }
    if *budget < t.len() {
        return None;
    }
    *budget -= t.len();
    const B: u64 = 0x100000001b3;
    let pow = (1..k).fold(1u64, |acc, _| acc.wrapping_mul(B));
    let roll = |s: &[u8], f: &mut dyn FnMut(usize, u64) -> bool| {
        let mut h = 0u64;
        for (i, &b) in s.iter().enumerate() {
            if i >= k {
                h = h.wrapping_sub((s[i - k] as u64).wrapping_mul(pow));
            }
            h = h.wrapping_mul(B).wrapping_add(b as u64);
            if i + 1 >= k && !f(i + 1 - k, h) {
                return;
            }
        }
    };
    // The values' windows by hash, sorted (the hashes are their own keys: a binary search is
    // cheaper than hashing them again).
    let mut windows: Vec<(u64, usize, usize)> = Vec::new();
    for (vi, v) in values.iter().enumerate() {
        roll(v.as_bytes(), &mut |pos, h| {
            windows.push((h, vi, pos));
            true
        });
    }
    windows.sort_unstable();
    windows.dedup_by_key(|w| w.0);
    let mut found: Vec<(usize, usize)> = Vec::new();
    let mut done = vec![false; values.len()];
    let mut candidates = 0;
    let mut spent = false;
    roll(t, &mut |j, h| {
        let Ok(at) = windows.binary_search_by_key(&h, |w| w.0) else {
            return true;
        };
        let (_, vi, i) = windows[at];
        if done[vi] {
            return true;
        }
        let v = values[vi].as_bytes();
        if v[i..i + k] != t[j..j + k] {
            return true;
        }
        let mut n = k;
        while i + n < v.len() && j + n < t.len() && v[i + n] == t[j + n] {
            n += 1;
        }
        candidates += 1;
        // Each check reads the trusted text: it counts against the budget.
        if *budget < trusted_bytes {
            spent = true;
            return false;
        }
        *budget -= trusted_bytes;
        if !in_trusted(&String::from_utf8_lossy(&v[i..i + n])) {
            done[vi] = true;
            found.push((vi, n));
        }
        // Enough checked: what is left is judged on what was found.
        candidates < MAX_CANDIDATES && done.iter().any(|d| !d)
    });
    (!spent).then_some(found)
}
