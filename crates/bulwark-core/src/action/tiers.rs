//! Namespace tiers: production, staging, dev, forbidden, ... from anchored globs over the whole
//! namespace name, or from a namespace label a cluster admin set (which wins over the name). The
//! labels come from the configuration (`[action.namespace_labels]`), never from an intent.
//!
//! Threat answered: an action that reaches production because its namespace was spelled to slip
//! past a pattern (`production-x` against `prod`, a Cyrillic `о`, an empty name). Patterns match
//! the whole name; a name that is empty, too long or not plain ASCII, and a name no pattern
//! matches, fall into the configured unknown tier, by default the most restrictive one.

use globset::{Glob, GlobMatcher};

use super::cfg::{TierConfig, TierEffect};

/// One compiled tier.
#[derive(Debug, Clone)]
pub struct Tier {
    /// Its name.
    pub name: String,
    /// What it does.
    pub effect: TierEffect,
    /// Distinct approvers needed.
    pub approvals: u32,
    patterns: Vec<GlobMatcher>,
}

/// The ordered tiers.
#[derive(Debug, Clone)]
pub struct Tiers {
    tiers: Vec<Tier>,
    unknown: Option<usize>,
    label: String,
}

/// How a namespace got its tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierBasis {
    /// A pattern matched its name.
    Name,
    /// The tier label named it.
    Label,
    /// The name is empty or malformed.
    Malformed,
    /// No pattern matched.
    Unmatched,
    /// The tier label names no configured tier.
    UnknownLabel,
}

/// A configuration problem: the key path, the bad value, what is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierConfigError {
    /// Key path.
    pub key: String,
    /// Offending value.
    pub value: String,
    /// What is expected.
    pub expected: String,
}

/// Rank for "most restrictive": block, then approval with more approvers, then mode.
pub(crate) fn strictness(t: &Tier) -> (u8, u32) {
    match t.effect {
        TierEffect::Block => (2, t.approvals),
        TierEffect::Approval => (1, t.approvals),
        TierEffect::Mode => (0, t.approvals),
    }
}

/// Is this a plausible namespace name: 1-253 ASCII letters, digits, `-`, `_`, `.`.
fn well_formed(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Tiers {
    /// Compile `[[action.tiers]]`, `unknown_tier` and `tier_label`.
    pub fn new(
        configs: &[TierConfig],
        unknown_tier: &str,
        label: &str,
    ) -> Result<Tiers, TierConfigError> {
        let mut tiers = Vec::with_capacity(configs.len());
        for (i, c) in configs.iter().enumerate() {
            if c.name.trim().is_empty() || tiers.iter().any(|t: &Tier| t.name == c.name) {
                return Err(TierConfigError {
                    key: format!("action.tiers[{i}].name"),
                    value: format!("{:?}", c.name),
                    expected: "a non-empty name used by no other tier".into(),
                });
            }
            if !(1..=16).contains(&c.approvals) {
                return Err(TierConfigError {
                    key: format!("action.tiers[{i}].approvals"),
                    value: c.approvals.to_string(),
                    expected: "a number of distinct approvers from 1 to 16".into(),
                });
            }
            let mut patterns = Vec::with_capacity(c.patterns.len());
            for (j, p) in c.patterns.iter().enumerate() {
                let glob = Glob::new(&p.to_ascii_lowercase()).map_err(|e| TierConfigError {
                    key: format!("action.tiers[{i}].patterns[{j}]"),
                    value: format!("{p:?}"),
                    expected: format!("a glob such as \"prod\" or \"prod-*\" ({})", e.kind()),
                })?;
                patterns.push(glob.compile_matcher());
            }
            tiers.push(Tier {
                name: c.name.clone(),
                effect: c.effect,
                approvals: c.approvals,
                patterns,
            });
        }
        let unknown = if unknown_tier.is_empty() {
            // The most restrictive; on a tie, the first.
            tiers
                .iter()
                .enumerate()
                .max_by(|(ia, a), (ib, b)| strictness(a).cmp(&strictness(b)).then(ib.cmp(ia)))
                .map(|(i, _)| i)
        } else {
            Some(
                tiers
                    .iter()
                    .position(|t| t.name == unknown_tier)
                    .ok_or_else(|| TierConfigError {
                        key: "action.unknown_tier".into(),
                        value: format!("{unknown_tier:?}"),
                        expected: format!(
                            "empty (the most restrictive tier) or one of the tiers: {}",
                            tiers
                                .iter()
                                .map(|t| t.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?,
            )
        };
        Ok(Tiers {
            tiers,
            unknown,
            label: label.to_string(),
        })
    }

    /// The most restrictive tier (block, then approval with the most approvers); on a tie, the
    /// first. `None` when no tiers are configured.
    pub fn most_restrictive(&self) -> Option<&Tier> {
        self.tiers
            .iter()
            .enumerate()
            .max_by(|(ia, a), (ib, b)| strictness(a).cmp(&strictness(b)).then(ib.cmp(ia)))
            .map(|(_, t)| t)
    }

    /// The tier of a namespace with these labels, and how it was found. `None` when no tiers are
    /// configured.
    pub fn classify(
        &self,
        namespace: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Option<(&Tier, TierBasis)> {
        let unknown = |basis| self.unknown.map(|i| (&self.tiers[i], basis));
        if !self.label.is_empty()
            && let Some(v) = labels.get(&self.label)
        {
            return match self.tiers.iter().find(|t| t.name == *v) {
                Some(t) => Some((t, TierBasis::Label)),
                None => unknown(TierBasis::UnknownLabel),
            };
        }
        if !well_formed(namespace) {
            return unknown(TierBasis::Malformed);
        }
        let lower = namespace.to_ascii_lowercase();
        match self
            .tiers
            .iter()
            .find(|t| t.patterns.iter().any(|p| p.is_match(&lower)))
        {
            Some(t) => Some((t, TierBasis::Name)),
            None => unknown(TierBasis::Unmatched),
        }
    }
}

/// Namespace labels from a file a cluster admin keeps: `kubectl get namespaces -o json` output
/// (`{"items": [{"metadata": {"name", "labels"}}]}`) or an object `namespace -> {label -> value}`.
/// The error says what was expected and where it was not found.
pub fn parse_namespace_labels(
    bytes: &[u8],
) -> Result<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>, String>
{
    use serde_json::Value;
    type Labels = std::collections::BTreeMap<String, String>;
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!("JSON (kubectl get namespaces -o json, or namespace -> labels): {e}")
    })?;
    let labels_of = |v: &Value, at: &str| -> Result<Labels, String> {
        match v {
            Value::Null => Ok(Labels::new()),
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => Ok((k.clone(), s.to_string())),
                    None => Err(format!("a string value for label `{k}` at {at}")),
                })
                .collect(),
            _ => Err(format!("an object of labels at {at}")),
        }
    };
    let mut out = std::collections::BTreeMap::new();
    if let Some(items) = doc.get("items") {
        let items = items
            .as_array()
            .ok_or_else(|| "`items` to be an array of namespaces".to_string())?;
        for (i, item) in items.iter().enumerate() {
            let meta = item.get("metadata");
            let name = meta
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("`items[{i}].metadata.name`, a namespace name"))?;
            let labels = labels_of(
                meta.and_then(|m| m.get("labels")).unwrap_or(&Value::Null),
                &format!("`items[{i}].metadata.labels`"),
            )?;
            out.insert(name.to_string(), labels);
        }
        return Ok(out);
    }
    let map = doc.as_object().ok_or_else(|| {
        "a JSON object (kubectl get namespaces -o json, or namespace -> labels)".to_string()
    })?;
    for (ns, v) in map {
        out.insert(ns.clone(), labels_of(v, &format!("`{ns}`"))?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::cfg::ActionConfig;
    use std::collections::BTreeMap;

    fn defaults() -> Tiers {
        let c = ActionConfig::default();
        Tiers::new(&c.tiers, &c.unknown_tier, &c.tier_label).unwrap()
    }

    fn tier_of(t: &Tiers, ns: &str) -> (String, TierBasis) {
        let (tier, basis) = t.classify(ns, &BTreeMap::new()).unwrap();
        (tier.name.clone(), basis)
    }

    #[test]
    fn crafted_namespace_names() {
        let t = defaults();
        assert_eq!(tier_of(&t, "prod"), ("production".into(), TierBasis::Name));
        assert_eq!(tier_of(&t, "PROD"), ("production".into(), TierBasis::Name));
        assert_eq!(
            tier_of(&t, "payments-prod"),
            ("production".into(), TierBasis::Name)
        );
        assert_eq!(
            tier_of(&t, "x-production"),
            ("production".into(), TierBasis::Name)
        );
        // `prod` does not match `production-x`; `production-*` does, by design.
        assert_eq!(tier_of(&t, "production-x").0, "production");
        // Anchored: `prodfoo` and `reprod` match no pattern and fall into the unknown tier.
        assert_eq!(
            tier_of(&t, "prodfoo"),
            ("production".into(), TierBasis::Unmatched)
        );
        assert_eq!(tier_of(&t, "reprod").1, TierBasis::Unmatched);
        // `dev-production` matches `dev-*` first? No: tiers are in order, production first.
        assert_eq!(
            tier_of(&t, "dev-production"),
            ("production".into(), TierBasis::Name)
        );
        assert_eq!(tier_of(&t, "dev"), ("dev".into(), TierBasis::Name));
        assert_eq!(tier_of(&t, "team-dev"), ("dev".into(), TierBasis::Name));
        assert_eq!(tier_of(&t, "staging"), ("staging".into(), TierBasis::Name));
        // Look-alikes (Cyrillic о, full-width letters) and empty names are malformed: unknown tier.
        assert_eq!(
            tier_of(&t, "prоd"),
            ("production".into(), TierBasis::Malformed)
        );
        assert_eq!(
            tier_of(&t, "ｄｅｖ"),
            ("production".into(), TierBasis::Malformed)
        );
        assert_eq!(
            tier_of(&t, "dev\u{200b}"),
            ("production".into(), TierBasis::Malformed)
        );
        assert_eq!(tier_of(&t, ""), ("production".into(), TierBasis::Malformed));
        assert_eq!(tier_of(&t, "dev/../prod").1, TierBasis::Malformed);
    }

    #[test]
    fn labels_win_and_unknown_labels_are_most_restrictive() {
        let t = defaults();
        let mut labels = BTreeMap::new();
        labels.insert("bulwark.io/tier".to_string(), "dev".to_string());
        assert_eq!(t.classify("prod-sandbox", &labels).unwrap().0.name, "dev");
        labels.insert("bulwark.io/tier".to_string(), "devv".to_string());
        let (tier, basis) = t.classify("dev", &labels).unwrap();
        assert_eq!(
            (tier.name.as_str(), basis),
            ("production", TierBasis::UnknownLabel)
        );
    }

    #[test]
    fn a_block_tier_is_the_most_restrictive_and_unknown_tier_is_checked() {
        let mut c = ActionConfig::default();
        c.tiers.push(TierConfig {
            name: "forbidden".into(),
            patterns: vec!["kube-system".into()],
            effect: TierEffect::Block,
            approvals: 1,
        });
        let t = Tiers::new(&c.tiers, "", &c.tier_label).unwrap();
        assert_eq!(tier_of(&t, "monitoring").0, "forbidden");
        let t = Tiers::new(&c.tiers, "staging", &c.tier_label).unwrap();
        assert_eq!(tier_of(&t, "monitoring").0, "staging");
        let e = Tiers::new(&c.tiers, "nope", &c.tier_label).unwrap_err();
        assert_eq!(e.key, "action.unknown_tier");
        c.tiers[0].patterns.push("[".into());
        assert!(
            Tiers::new(&c.tiers, "", "")
                .unwrap_err()
                .key
                .contains("patterns")
        );
        assert!(
            Tiers::new(&[], "", "")
                .unwrap()
                .classify("x", &BTreeMap::new())
                .is_none()
        );
    }

    #[test]
    fn namespace_labels_from_kubectl_and_plain_json() {
        let kubectl = br#"{"apiVersion":"v1","kind":"List","items":[
            {"metadata":{"name":"payments-prod","labels":{"bulwark.io/tier":"production","kubernetes.io/metadata.name":"payments-prod"}}},
            {"metadata":{"name":"scratch"}}]}"#;
        let m = parse_namespace_labels(kubectl).unwrap();
        assert_eq!(m["payments-prod"]["bulwark.io/tier"], "production");
        assert!(m["scratch"].is_empty());
        let plain = br#"{"dev-eu": {"bulwark.io/tier": "dev"}}"#;
        assert_eq!(
            parse_namespace_labels(plain).unwrap()["dev-eu"]["bulwark.io/tier"],
            "dev"
        );
        for (bad, says) in [
            (&b"[1]"[..], "JSON object"),
            (b"{\"items\": 3}", "items"),
            (
                b"{\"items\": [{\"metadata\": {}}]}",
                "items[0].metadata.name",
            ),
            (b"{\"a\": {\"t\": 1}}", "label `t`"),
            (b"not json", "JSON"),
        ] {
            let e = parse_namespace_labels(bad).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
