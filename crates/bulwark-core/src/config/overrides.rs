//! `BULWARK_<KEY_PATH>` environment overrides: `BULWARK_SCAN_PII_EMAIL=false` sets `scan.pii.email`.
//! The variables are derived from the defaults, so every key has one and no other name is taken
//! for one: a misspelt override is an error, not a silent no-op.

use super::SecurityConfig;
use super::problems::Problems;

/// Variables Bulwark reads for itself: never overrides.
const NOT_OVERRIDES: &[&str] = &[
    "BULWARK_HOME",
    "BULWARK_CONFIG",
    "BULWARK_LOG",
    "BULWARK_VAULT_PASSPHRASE",
    "BULWARK_VAULT_NEW_PASSPHRASE",
];

/// Refuse each variable in `names` that looks like an override (`BULWARK_` and a section name,
/// `BULWARK_SCAN_PII_EMIAL`) but names no key. Variables Bulwark reads for itself and those the
/// configuration names as `env:NAME` secrets are not overrides. Each refusal is reported under
/// the variable's own name, which is pushed onto `placed`.
pub(super) fn check_names(
    names: &[String],
    config_text: &str,
    p: &mut Problems,
    placed: &mut Vec<(String, String)>,
) {
    let vars = override_vars();
    let known: Vec<&String> = vars.iter().map(|(v, _)| v).collect();
    let sections: Vec<String> = vars
        .iter()
        .filter_map(|(_, p)| p.first())
        .map(|k| format!("BULWARK_{}_", k.to_ascii_uppercase()))
        .collect();
    for name in names {
        if NOT_OVERRIDES.contains(&name.as_str())
            || known.contains(&name)
            || !sections.iter().any(|s| name.starts_with(s.as_str()))
            || config_text.contains(&format!("env:{name}"))
        {
            continue;
        }
        let closest = known
            .iter()
            .min_by_key(|k| edit_distance(k, name))
            .filter(|k| edit_distance(k, name) <= 3);
        p.invalid(
            name.clone(),
            "(set)",
            match closest {
                Some(k) => format!(
                    "the name of a configuration key (BULWARK_ and its path, `_` for `.`): did you mean {k}? Unset {name} otherwise"
                ),
                None => format!(
                    "the name of a configuration key (BULWARK_ and its path, `_` for `.`, as `bulwark config schema` lists them); unset {name} otherwise"
                ),
            },
        );
        placed.push((name.clone(), name.clone()));
    }
}

/// Set each key whose variable `env` gives. Values are read as TOML values, or as a string when
/// they do not parse as one. Returns (key path, variable) for each key set.
pub(super) fn apply(
    table: &mut toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(String, String)> {
    let mut set = Vec::new();
    for (var, path) in override_vars() {
        let Some(raw) = env(var) else { continue };
        set_path(table, path, parse_env_value(&raw));
        set.push((path.join("."), var.clone()));
    }
    set
}

/// Every override variable (`BULWARK_SCAN_PII_EMAIL`) with the key path it sets, from the
/// defaults; computed once.
fn override_vars() -> &'static [(String, Vec<String>)] {
    static VARS: std::sync::OnceLock<Vec<(String, Vec<String>)>> = std::sync::OnceLock::new();
    VARS.get_or_init(|| {
        let defaults = toml::Table::try_from(SecurityConfig::default()).unwrap_or_default();
        let mut paths = Vec::new();
        leaf_paths(&defaults, &mut Vec::new(), &mut paths);
        paths
            .into_iter()
            .map(|p| (format!("BULWARK_{}", p.join("_").to_ascii_uppercase()), p))
            .collect()
    })
}

fn leaf_paths(t: &toml::Table, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (k, v) in t {
        prefix.push(k.clone());
        match v {
            toml::Value::Table(inner) if !inner.is_empty() => leaf_paths(inner, prefix, out),
            _ => out.push(prefix.clone()),
        }
        prefix.pop();
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(t: &mut toml::Table, path: &[String], value: toml::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = t;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let toml::Value::Table(next) = entry else {
            return;
        };
        cur = next;
    }
    cur.insert(last.clone(), value);
}
