//! Advisory feeds (ClawSec's format): which advisories concern a platform, and, given the
//! installed versions, which ones apply.
//!
//! An advisory concerns the platform when its `platforms` list is empty or missing, names the
//! platform or `ai-gateway`, or when its `affected` entries, title, description or type mention
//! it (ClawSec's rule, kept so nothing it reports is dropped here). With installed versions, the
//! `affected` entries are evaluated: `name@<range>` (`<1.2.3`, `>=1.0,<2.0`, `*`, `=1.2.3`, a bare
//! version meaning exactly it) and `cpe:2.3:part:vendor:product:version:...` (a `*` or `-`
//! version meaning every version). Version order is Semantic Versioning's, pre-releases included
//! (`1.2.3-rc.1` is below `1.2.3`, so `<1.2.3` covers it).

use serde_json::Value;

/// One installed package: name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Package or product name (compared case-insensitively).
    pub name: String,
    /// Its version.
    pub version: semver::Version,
}

impl Installed {
    /// Parse `NAME=VERSION`.
    pub fn parse(s: &str) -> Result<Installed, String> {
        let (name, version) = s
            .split_once('=')
            .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty())
            .ok_or_else(|| format!("{s:?}: expected NAME=VERSION, e.g. picoclaw=1.2.0"))?;
        Ok(Installed {
            name: name.trim().to_lowercase(),
            version: parse_version(version.trim())
                .ok_or_else(|| format!("{s:?}: {version:?} is not a version such as 1.2.0"))?,
        })
    }
}

/// A version, leniently: `v` prefix allowed, missing minor or patch counted as 0.
pub fn parse_version(s: &str) -> Option<semver::Version> {
    let s = s.trim().trim_start_matches(['v', 'V']);
    if let Ok(v) = semver::Version::parse(s) {
        return Some(v);
    }
    let (core, rest) = match s.find(['-', '+']) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty()
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let mut padded = parts.join(".");
    for _ in parts.len()..3 {
        padded.push_str(".0");
    }
    semver::Version::parse(&format!("{padded}{rest}")).ok()
}

/// Whether `version` is in `range` (`*`, comparators joined by `,`, or a bare version). An
/// unparsable range is `Err`.
pub fn in_range(range: &str, version: &semver::Version) -> Result<bool, String> {
    let range = range.trim();
    if range.is_empty() || range == "*" {
        return Ok(true);
    }
    for part in range.split(',').map(str::trim) {
        let (op, v) = [">=", "<=", "==", ">", "<", "="]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|rest| (*op, rest.trim())))
            .unwrap_or(("=", part));
        let bound = parse_version(v).ok_or_else(|| format!("{range:?}: {v:?} is not a version"))?;
        let ok = match op {
            ">=" => *version >= bound,
            "<=" => *version <= bound,
            ">" => *version > bound,
            "<" => *version < bound,
            _ => *version == bound,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A parsed `affected` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affected {
    /// `name@range`.
    Package {
        /// Lowercased name.
        name: String,
        /// The range text.
        range: String,
    },
    /// `cpe:2.3:part:vendor:product:version:...`.
    Cpe {
        /// Lowercased vendor.
        vendor: String,
        /// Lowercased product.
        product: String,
        /// Version (`*` or `-`: any).
        version: String,
    },
}

impl Affected {
    /// Parse an entry; `None` for free text.
    pub fn parse(s: &str) -> Option<Affected> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("cpe:2.3:") {
            let f: Vec<&str> = rest.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            return Some(Affected::Cpe {
                vendor: f[1].to_lowercase(),
                product: f[2].to_lowercase(),
                version: f[3].to_string(),
            });
        }
        // The last `@` separates name and range (scoped npm names start with one).
        let at = s.rfind('@').filter(|i| *i > 0)?;
        Some(Affected::Package {
            name: s[..at].trim().to_lowercase(),
            range: s[at + 1..].trim().to_string(),
        })
    }

    /// Whether this entry names `name`.
    pub fn names(&self, name: &str) -> bool {
        match self {
            Affected::Package { name: n, .. } => n == name,
            Affected::Cpe { product, .. } => product == name,
        }
    }

    /// Whether `pkg` is affected.
    pub fn applies_to(&self, pkg: &Installed) -> Result<bool, String> {
        if !self.names(&pkg.name) {
            return Ok(false);
        }
        match self {
            Affected::Package { range, .. } => in_range(range, &pkg.version),
            Affected::Cpe { version, .. } => {
                if version == "*" || version == "-" {
                    return Ok(true);
                }
                Ok(parse_version(version).is_some_and(|v| v == pkg.version))
            }
        }
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| match x {
                    Value::String(s) => s.to_lowercase(),
                    other => other.to_string().to_lowercase(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether an advisory concerns `platform` (lowercase).
pub fn concerns(advisory: &Value, platform: &str) -> bool {
    let platforms = strings(advisory.get("platforms"));
    let affected = strings(advisory.get("affected"));
    let field = |k: &str| {
        advisory
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase()
    };
    let blob = format!(
        "{} {} {}",
        field("title"),
        field("description"),
        field("type")
    );
    platforms.is_empty()
        || platforms.iter().any(|p| p == platform || p == "ai-gateway")
        || affected.iter().any(|a| a.contains(platform))
        || blob.contains(platform)
}

/// What `check` kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// The advisory as the feed has it.
    pub advisory: Value,
    /// With installed versions: the `affected` entries that matched (`name@range`), empty for an
    /// advisory that names no package (a platform-wide notice, kept).
    pub matched: Vec<String>,
}

/// The advisories of `feed` (`{"advisories": [...]}`) that concern `platform`; with
/// `installed`, only those that apply. Malformed ranges are errors naming the advisory.
pub fn select(feed: &Value, platform: &str, installed: &[Installed]) -> Result<Vec<Kept>, String> {
    let platform = platform.to_lowercase();
    let list = match feed.get("advisories") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("`advisories` must be an array".into()),
    };
    let mut out = Vec::new();
    for (i, adv) in list.iter().enumerate() {
        if !adv.is_object() {
            return Err(format!("advisories[{i}]: expected an object"));
        }
        if !concerns(adv, &platform) {
            continue;
        }
        if installed.is_empty() {
            out.push(Kept {
                advisory: adv.clone(),
                matched: Vec::new(),
            });
            continue;
        }
        let id = adv
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let entries: Vec<(String, Affected)> = adv
            .get("affected")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter_map(|s| Affected::parse(s).map(|a| (s.to_string(), a)))
            .collect();
        let mut matched = Vec::new();
        let mut names_installed = false;
        for (text, a) in &entries {
            for pkg in installed {
                if a.names(&pkg.name) {
                    names_installed = true;
                }
                if a.applies_to(pkg)
                    .map_err(|e| format!("advisory {id} (advisories[{i}]): affected {e}"))?
                {
                    matched.push(text.clone());
                }
            }
        }
        if !matched.is_empty() || (entries.is_empty() && !names_installed) {
            out.push(Kept {
                advisory: adv.clone(),
                matched,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> semver::Version {
        parse_version(s).unwrap()
    }

    #[test]
    fn ranges() {
        assert!(in_range("<1.2.3", &v("1.2.2")).unwrap());
        assert!(in_range("<1.2.3", &v("1.2.3-rc.1")).unwrap());
        assert!(!in_range("<1.2.3", &v("1.2.3")).unwrap());
        assert!(in_range(">=1.0,<2.0", &v("1.9.9")).unwrap());
        assert!(!in_range(">=1.0, <2.0", &v("2.0.0")).unwrap());
        assert!(in_range("*", &v("0.0.1")).unwrap());
        assert!(in_range("1.4.0", &v("v1.4")).unwrap());
        assert!(!in_range("=1.4.0", &v("1.4.1")).unwrap());
        assert!(in_range("<=abc", &v("1.0.0")).is_err());
    }

    #[test]
    fn clawsec_cases_match() {
        let feed = json!({"version": "2026.11", "advisories": [
            {"id": "A", "platforms": ["picoclaw"], "affected": ["picoclaw@<1.2.3"]},
            {"id": "B", "platforms": ["nvd"], "affected": ["cpe:2.3:a:picoclaw:picoclaw:1.2.0:*:*:*:*:*:*:*"]},
            {"id": "C", "platforms": ["openclaw"], "affected": ["openclaw@<9"]},
            {"id": "D", "platforms": []},
            {"id": "E", "platforms": ["ai-gateway"], "affected": ["picoclaw@>=2.0"]},
        ]});
        let ids = |k: Vec<Kept>| {
            k.into_iter()
                .map(|k| k.advisory["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(select(&feed, "picoclaw", &[]).unwrap()),
            ["A", "B", "D", "E"]
        );
        let installed = [Installed::parse("picoclaw=1.2.0").unwrap()];
        let kept = select(&feed, "picoclaw", &installed).unwrap();
        assert_eq!(kept[0].matched, ["picoclaw@<1.2.3"]);
        assert_eq!(ids(kept), ["A", "B", "D"]);
        let newer = [Installed::parse("picoclaw=2.1.0").unwrap()];
        assert_eq!(ids(select(&feed, "picoclaw", &newer).unwrap()), ["D", "E"]);
        assert!(Installed::parse("picoclaw").is_err());
        let bad = json!({"advisories": [{"id": "X", "affected": ["picoclaw@<=one"]}]});
        assert!(
            select(&bad, "picoclaw", &installed)
                .unwrap_err()
                .contains("X")
        );
    }
}
