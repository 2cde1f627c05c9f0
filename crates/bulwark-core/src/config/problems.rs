//! Configuration problems: every one a load finds, each with its key path, where it was set (file,
//! line and column, or the environment variable) and what was expected, rendered like a compiler
//! diagnostic.

use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// One problem with one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Dotted key path, e.g. `scan.pii.email` or `ingress.sources.am.allow_cidrs[2]`; empty for
    /// the document as a whole (a syntax error).
    pub key: String,
    /// The offending value, rendered as TOML; `None` when the problem is the key itself (unknown,
    /// wrong type) or the syntax.
    pub value: Option<String>,
    /// What was expected, or what the parser said.
    pub message: String,
    /// Byte range in the file, when the parser knows it.
    #[serde(skip)]
    pub span: Option<Range<usize>>,
    /// The setting may hold a credential: its line of the file is not shown.
    #[serde(skip)]
    pub secret: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() {
            "(document)"
        } else {
            &self.key
        };
        match &self.value {
            Some(v) => write!(f, "`{key}` = {v}: expected {}", self.message),
            None => write!(f, "at `{key}`: {}", self.message),
        }
    }
}

/// The problems found so far. Checks push onto it and go on, so one run reports them all.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// A value that parses but is out of range or inconsistent.
    pub fn invalid(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.0.push(Problem {
            key: key.into(),
            value: Some(value.into()),
            message: expected.into(),
            span: None,
            secret: false,
        });
    }

    /// [`Problems::invalid`] for a setting that may hold a credential (a URL with a password):
    /// `value` must not show it, and the report gives the file's line and column without
    /// quoting the line.
    pub fn invalid_secret(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) {
        self.invalid(key, value, expected);
        if let Some(p) = self.0.last_mut() {
            p.secret = true;
        }
    }

    /// `value` must lie in `lo..=hi`.
    pub fn range(&mut self, key: &str, value: u64, lo: u64, hi: u64) {
        if !(lo..=hi).contains(&value) {
            self.invalid(
                key,
                value.to_string(),
                format!("a number from {lo} to {hi}"),
            );
        }
    }

    /// A problem found by the parser (syntax, type, unknown key).
    pub fn parse(
        &mut self,
        key: impl Into<String>,
        message: impl Into<String>,
        span: Option<Range<usize>>,
    ) {
        self.0.push(Problem {
            key: key.into(),
            value: None,
            message: message.into(),
            span,
            secret: false,
        });
    }

    /// Nothing found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, in the order found.
    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

/// Where a problem's key was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Place {
    /// In the file, at a 1-based line and column.
    File {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// By an environment variable override.
    Env {
        /// The variable.
        var: String,
    },
    /// Nowhere known: a default, or a key the file does not spell out.
    Unknown,
}

/// Every problem of one load, with the text they refer to.
#[derive(Debug)]
pub struct Report {
    /// The file name, `built-in defaults`, or `environment`.
    pub origin: String,
    text: String,
    problems: Vec<(Problem, Place, Option<Range<usize>>)>,
}

/// One problem as `config check --format json` reports it.
#[derive(Serialize)]
struct JsonProblem<'a> {
    #[serde(flatten)]
    problem: &'a Problem,
    place: &'a Place,
}

impl Report {
    /// Locate each problem in `text` (the file as read) or in `overrides` (key path, variable).
    pub fn new(
        origin: &str,
        text: &str,
        overrides: &[(String, String)],
        problems: Vec<Problem>,
    ) -> Report {
        let doc = toml::de::DeTable::parse_recoverable(text).0;
        let problems = problems
            .into_iter()
            .map(|p| {
                let by_env = overrides
                    .iter()
                    .find(|(path, _)| !p.key.is_empty() && key_within(&p.key, path));
                if let Some((_, var)) = by_env {
                    return (p, Place::Env { var: var.clone() }, None);
                }
                let span = p.span.clone().or_else(|| find_span(doc.get_ref(), &p.key));
                let place = match &span {
                    Some(s) => {
                        let (line, column) = line_col(text, s.start);
                        Place::File { line, column }
                    }
                    None => Place::Unknown,
                };
                (p, place, span)
            })
            .collect();
        Report {
            origin: origin.to_string(),
            text: text.to_string(),
            problems,
        }
    }

    /// The problems, each with where it was set.
    pub fn problems(&self) -> impl Iterator<Item = (&Problem, &Place)> {
        self.problems.iter().map(|(p, place, _)| (p, place))
    }

    /// The problems as JSON values: key, value, message and place.
    pub fn to_json(&self) -> serde_json::Value {
        let list: Vec<JsonProblem<'_>> = self
            .problems()
            .map(|(problem, place)| JsonProblem { problem, place })
            .collect();
        serde_json::to_value(list).unwrap_or_default()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
        let n = self.problems.len();
        for (i, (p, place, span)) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match (place, span) {
                (Place::File { line, column }, _) if p.secret => {
                    write!(f, "error: {}:{line}:{column}: {p}", self.origin)?;
                }
                (Place::File { .. }, Some(s)) if !self.text.is_empty() => {
                    let title = p.to_string();
                    let report = &[Level::ERROR.primary_title(&title).element(
                        Snippet::source(&self.text)
                            .path(&self.origin)
                            .annotation(AnnotationKind::Primary.span(s.clone())),
                    )];
                    write!(f, "{}", Renderer::plain().render(report))?;
                }
                (Place::Env { var }, _) => write!(f, "error: environment variable {var}: {p}")?,
                _ => write!(f, "error: {}: {p}", self.origin)?,
            }
        }
        if n > 1 {
            write!(f, "\n{n} problems")?;
        }
        Ok(())
    }
}

/// Whether `key` is `path` or lies under it (`a.b[2]`, `a.b.c` under `a.b`).
fn key_within(key: &str, path: &str) -> bool {
    key == path
        || key
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// The span of the value at `key` (dotted, with `[i]` indexes), or of the deepest table on the
/// way. Table names may themselves hold dots (`programs."kubectl get"`): the longest name that
/// matches is taken.
fn find_span(doc: &toml::de::DeTable<'_>, key: &str) -> Option<Range<usize>> {
    use toml::de::DeValue;
    let mut table = doc;
    let mut rest = key;
    let mut found = None;
    loop {
        let Some(best) = table
            .iter()
            .filter(|(k, _)| {
                let k: &str = k.get_ref();
                rest == k
                    || rest
                        .strip_prefix(k)
                        .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
            })
            .max_by_key(|(k, _)| k.get_ref().len())
        else {
            return found;
        };
        let (k, v) = best;
        found = Some(v.span());
        rest = &rest[k.get_ref().len()..];
        let mut value = v;
        while let Some(r) = rest.strip_prefix('[') {
            let (idx, after) = r.split_once(']')?;
            let DeValue::Array(items) = value.get_ref() else {
                return found;
            };
            let item = items.get(idx.parse::<usize>().ok()?)?;
            found = Some(item.span());
            value = item;
            rest = after;
        }
        match rest.strip_prefix('.') {
            Some(r) => {
                let DeValue::Table(t) = value.get_ref() else {
                    return found;
                };
                table = t;
                rest = r;
            }
            None => return found,
        }
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str, problems: Vec<Problem>) -> Report {
        Report::new("bulwark.toml", text, &[], problems)
    }

    fn invalid(key: &str) -> Problem {
        let mut p = Problems::default();
        p.invalid(key, "1", "something else");
        p.into_vec().remove(0)
    }

    #[test]
    fn a_key_is_found_through_tables_arrays_and_dotted_names() {
        let text = "[scan]\nmax_file_bytes = 0\n\n[action.shell.programs.\"kubectl get\"]\nclass = \"read\"\n\n[ingress.sources.am]\nallow_cidrs = [\"10.0.0.0/8\", \"bad\"]\n";
        let r = report(
            text,
            vec![
                invalid("scan.max_file_bytes"),
                invalid("action.shell.programs.kubectl get.class"),
                invalid("ingress.sources.am.allow_cidrs[1]"),
                invalid("server.listen"),
            ],
        );
        let places: Vec<&Place> = r.problems().map(|(_, p)| p).collect();
        assert_eq!(
            places[0],
            &Place::File {
                line: 2,
                column: 18
            }
        );
        assert_eq!(places[1], &Place::File { line: 5, column: 9 });
        assert_eq!(
            places[2],
            &Place::File {
                line: 8,
                column: 30
            }
        );
        assert_eq!(places[3], &Place::Unknown);
        let shown = r.to_string();
        assert!(
            shown.contains(
                "error: `scan.max_file_bytes` = 1: expected something else\n --> bulwark.toml:2:18"
            ),
            "{shown}"
        );
        assert!(shown.contains("4 problems"), "{shown}");
        assert!(shown.contains("^"), "{shown}");
    }

    #[test]
    fn a_key_set_by_an_override_names_the_variable() {
        let overrides = vec![(
            "scan.max_file_bytes".to_string(),
            "BULWARK_SCAN_MAX_FILE_BYTES".to_string(),
        )];
        let r = Report::new("f", "", &overrides, vec![invalid("scan.max_file_bytes")]);
        assert!(
            r.to_string()
                .contains("environment variable BULWARK_SCAN_MAX_FILE_BYTES")
        );
    }

    #[test]
    fn hostile_keys_do_not_panic() {
        let text = "a = [1, [2]]\n[b]\nc = 1\n";
        for key in [
            "a[9]", "a[x]", "a[1][0]", "a[", "b.c.d", "", ".", "b..c", "a[0].x",
        ] {
            let _ = report(text, vec![invalid(key)]).to_string();
        }
    }
}
