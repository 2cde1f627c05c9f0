//! The commented default file `bulwark config init` writes, generated from the defaults and the
//! documentation of each key (the JSON Schema's descriptions), so the defaults exist once.

use super::SecurityConfig;

/// Longest comment line written.
const WIDTH: usize = 100;

const HEADER: &str = "\
# Bulwark configuration. Every key is optional; the values below are the defaults.
# Validate with `bulwark config check`; print the JSON Schema with `bulwark config schema`.
# Any key can be overridden from the environment: BULWARK_ + the key path in capitals,
# e.g. BULWARK_SCAN_PII_EMAIL=false.
";

/// The default configuration as a commented TOML file: every key with its default, each
/// section and key preceded by what it means.
pub fn default_file() -> String {
    let values = toml::to_string(&SecurityConfig::default()).unwrap_or_default();
    let schema = SecurityConfig::json_schema();
    let mut out = String::from(HEADER);
    let mut section: Vec<String> = Vec::new();
    for line in values.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        // `[[a.b]]`: one entry of a list of tables; the list is explained before its first entry.
        if let Some(header) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let path = split_key(header);
            out.push('\n');
            if path != section {
                comment(&mut out, describe(&schema, &path));
            }
            section = path;
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if let Some(header) = line
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .filter(|h| !h.starts_with('['))
        {
            section = split_key(header);
            out.push('\n');
            comment(&mut out, describe(&schema, &section));
            out.push_str(line);
            out.push('\n');
            continue;
        }
        match line.split_once(" = ") {
            Some((key, value)) if !key.starts_with('#') => {
                let mut path = section.clone();
                path.extend(split_key(key));
                comment(&mut out, describe(&schema, &path));
                out.push_str(key);
                out.push_str(" = ");
                out.push_str(&shortest_float(value));
                out.push('\n');
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// `a."b.c".d` -> [a, b.c, d].
fn split_key(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in key.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts.into_iter().map(|p| p.trim().to_string()).collect()
}

/// The description of the key at `path`, following `$ref`s and, through a map, its values.
fn describe<'a>(schema: &'a serde_json::Value, path: &[String]) -> Option<&'a str> {
    let defs = schema.get("$defs");
    let resolve = |mut node: &'a serde_json::Value| {
        while let Some(name) = node
            .get("$ref")
            .and_then(|r| r.as_str())
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            match defs.and_then(|d| d.get(name)) {
                Some(n) => node = n,
                None => break,
            }
        }
        node
    };
    let mut node = schema;
    let mut described = None;
    for seg in path {
        let mut at = resolve(node);
        if let Some(items) = at.get("items") {
            at = resolve(items);
        }
        match at.get("properties").and_then(|p| p.get(seg.as_str())) {
            Some(p) => {
                described = p.get("description").and_then(|d| d.as_str());
                node = p;
            }
            None => {
                // An entry of a map: its values' schema, and no description of its own.
                node = at.get("additionalProperties")?;
                described = None;
            }
        }
    }
    described
}

/// `# text`, wrapped at [`WIDTH`].
fn comment(out: &mut String, text: Option<&str>) {
    let Some(text) = text else { return };
    for paragraph in text.split("\n\n") {
        let mut line = String::from("#");
        for word in paragraph.split_whitespace() {
            if line.len() + 1 + word.len() > WIDTH && line.len() > 1 {
                out.push_str(&line);
                out.push('\n');
                line = String::from("#");
            }
            line.push(' ');
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
    }
}

/// A float the way a person writes it (`0.85`, not the `0.8500000238418579` an `f32` widens to);
/// any other value unchanged.
fn shortest_float(value: &str) -> String {
    let is_float = value.contains('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    match value.parse::<f32>() {
        Ok(f) if is_float && f64::from(f).to_string() == value => {
            let s = f.to_string();
            if s.contains('.') { s } else { format!("{s}.0") }
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_people_write_them() {
        assert_eq!(shortest_float(&f64::from(0.85f32).to_string()), "0.85");
        assert_eq!(shortest_float("3.0"), "3.0");
        assert_eq!(shortest_float("\"1.2.3\""), "\"1.2.3\"");
        assert_eq!(shortest_float("10"), "10");
    }

    #[test]
    fn keys_split_on_unquoted_dots() {
        assert_eq!(
            split_key("action.shell.programs.\"kubectl get\""),
            ["action", "shell", "programs", "kubectl get"]
        );
        assert_eq!(split_key("a.\"b.c\".d"), ["a", "b.c", "d"]);
    }

    #[test]
    fn every_section_and_most_keys_are_explained() {
        let text = default_file();
        for section in [
            "[scan]",
            "[scan.injection]",
            "[egress.proxy]",
            "[action]",
            "[audit]",
        ] {
            let at = text.find(&format!("\n{section}\n")).expect(section);
            assert!(
                text[..at]
                    .trim_end()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .starts_with('#'),
                "{section}"
            );
        }
        let keys = text
            .lines()
            .filter(|l| l.contains(" = ") && !l.starts_with('#'))
            .count();
        let explained = text
            .lines()
            .zip(text.lines().skip(1))
            .filter(|(a, b)| a.starts_with('#') && b.contains(" = ") && !b.starts_with('#'))
            .count();
        assert!(
            explained * 10 >= keys * 9,
            "{explained} of {keys} keys explained:\n{text}"
        );
    }
}
