//! The secret-detection engine behind [`Scanner`]: a literal prefilter (Aho-Corasick over every
//! rule's anchors, with plain-prose spans searched by fewer automata), windows around each hit,
//! each rule's regex run only there, then validation (entropy, checksums, the generic rule's
//! assignment checks) and the pairing of an AWS secret key with its key id.

use super::*;

pub(super) struct CompiledRule {
    pub(super) id: &'static str,
    pub(super) description: &'static str,
    pub(super) severity: Severity,
    pub(super) source: String,
    /// The rule's [`RuleSpec::groups`] regex, if it has one.
    pub(super) groups_source: Option<String>,
    /// Compiled on first use: most rules never fire in a given process, and compiling all of them up
    /// front would cost every short-lived `bulwark` run tens of milliseconds.
    pub(super) matcher: std::sync::OnceLock<Option<Matcher>>,
    pub(super) check: Check,
    pub(super) window: Window,
}

/// A rule's compiled regex and the indices of its named groups.
pub(super) struct Matcher {
    pub(super) regex: Regex,
    /// The regex that finds the groups over each match of `regex`, anchored at both ends (see
    /// [`RuleSpec::groups`]); the group indices are this one's. Without it, `regex` finds them.
    pub(super) groups: Option<Regex>,
    pub(super) secret_group: Option<usize>,
    pub(super) xml_group: Option<usize>,
    pub(super) name_group: Option<usize>,
    pub(super) quote_group: Option<usize>,
    pub(super) op_group: Option<usize>,
    pub(super) name_quote_group: Option<usize>,
    pub(super) comma_quote_group: Option<usize>,
}

impl Matcher {
    /// ASCII semantics: `\w`, `\s` and case folding stay small and fast; non-ASCII bytes in a value
    /// are matched by negated classes byte by byte.
    pub(super) fn compile(source: &str, groups: Option<&str>) -> Result<Self, regex::Error> {
        let build = |source: &str| {
            regex::bytes::RegexBuilder::new(source)
                .unicode(false)
                .size_limit(20 << 20)
                .build()
        };
        let regex = build(source)?;
        let groups = groups
            .map(|g| build(&format!(r"\A(?:{g})\z")))
            .transpose()?;
        let names = groups.as_ref().unwrap_or(&regex);
        let group = |name: &str| names.capture_names().position(|n| n == Some(name));
        Ok(Matcher {
            secret_group: group("s"),
            xml_group: group("x"),
            name_group: group("name"),
            quote_group: group("q"),
            op_group: group("op"),
            name_quote_group: group("nq"),
            comma_quote_group: group("cq"),
            regex,
            groups,
        })
    }
}

impl CompiledRule {
    pub(super) fn matcher(&self) -> Option<&Matcher> {
        // Every rule's regex is checked by a unit test (`every_rule_compiles_and_there_are_enough`);
        // were one to fail anyway, that rule would find nothing rather than take the scanner down.
        self.matcher
            .get_or_init(|| Matcher::compile(&self.source, self.groups_source.as_deref()).ok())
            .as_ref()
    }
}

/// A set of literals searched leftmost-longest: with Teddy (`packed`, vector instructions) where the
/// CPU has them, which verifies its candidates itself; else with an Aho-Corasick automaton.
pub(super) struct Literals {
    pub(super) searcher: Searcher,
    /// For each pattern as the searcher numbers it, its index in the caller's list.
    pub(super) index: Vec<usize>,
}

pub(super) enum Searcher {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl Literals {
    pub(super) fn new(patterns: &[&[u8]]) -> Result<Self, ScanError> {
        let index = teddy_order(patterns);
        let ordered: Vec<&[u8]> = index.iter().map(|&i| patterns[i]).collect();
        let packed = aho_corasick::packed::Config::new()
            .match_kind(aho_corasick::packed::MatchKind::LeftmostLongest)
            .builder()
            .extend(&ordered)
            .build();
        let searcher = match packed {
            Some(searcher) => Searcher::Packed(searcher),
            None => AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&ordered)
                .map(Searcher::Automaton)
                .map_err(|e| ScanError::Compile {
                    rule: "prefilter".into(),
                    message: e.to_string(),
                })?,
        };
        Ok(Literals { searcher, index })
    }

    /// Every leftmost-longest match that starts in `span` of `text`, in order, as (start, end, the
    /// pattern's index in the list given to [`Literals::new`]).
    fn find_iter<'a>(
        &'a self,
        text: &'a [u8],
        span: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (usize, usize, usize)> + 'a {
        let (mut at, end) = (span.start, span.end);
        std::iter::from_fn(move || {
            let m = match &self.searcher {
                Searcher::Packed(p) => p.find_in(text, aho_corasick::Span { start: at, end }),
                Searcher::Automaton(a) => a.find(Input::new(text).span(at..end)),
            }?;
            at = m.end().max(m.start() + 1);
            Some((m.start(), m.end(), self.index[m.pattern().as_usize()]))
        })
    }
}

/// How many buckets Teddy makes for `n` patterns: 16 (fat Teddy) for more than 32 where the CPU has
/// AVX2, else 8.
pub(super) fn teddy_buckets(n: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if n > 32 && std::arch::is_x86_feature_detected!("avx2") {
        return 16;
    }
    8
}

/// The order to give Teddy `patterns` in (as indices into them). Teddy puts a pattern in bucket
/// `id % buckets` (counted down), unless an earlier one has the same low halves of its first bytes,
/// and it verifies a candidate against every pattern of its bucket: a bucket is best made of
/// patterns that start alike, which add few bytes to each other's fingerprint. So patterns sorted by
/// their first bytes (ASCII case folded) are dealt into the buckets in runs: `sk_live_`, `sk_prod_`
/// and `sk_test_` share one. With three automata of long anchors, this took the secret scan of the
/// mixed bench corpus from 15.5 to 11.7 ms per 8 MiB: dealt in the order they came, some buckets
/// matched nearly everywhere.
pub(super) fn teddy_order(patterns: &[&[u8]]) -> Vec<usize> {
    let n = patterns.len();
    let mut sorted: Vec<usize> = (0..n).collect();
    sorted.sort_by_cached_key(|&i| {
        let p = patterns[i];
        let folded: Vec<u8> = p
            .iter()
            .take(TEDDY_MASK)
            .map(u8::to_ascii_lowercase)
            .collect();
        (folded, p)
    });
    let buckets = teddy_buckets(n);
    let ids = (0..buckets).flat_map(|b| (b..n).step_by(buckets));
    let mut order = vec![0; n];
    for (id, i) in ids.zip(sorted) {
        order[id] = i;
    }
    order
}

/// One prefilter automaton and, for each of its patterns, the rules it wakes.
pub(super) struct Prefilter {
    pub(super) automaton: Literals,
    pub(super) rules_of_pattern: Vec<Vec<u16>>,
}

/// The second stage for keyword rules: service names searched only in the lines a wake word found.
pub(super) struct KeywordGate {
    pub(super) automaton: AhoCorasick,
    pub(super) rules_of_pattern: Vec<Vec<u16>>,
}

/// In a prefilter's rule list, this index stands for the keyword gate rather than a rule.
pub(super) const GATE: u16 = u16::MAX;

/// Patterns per automaton: Aho-Corasick keeps its vectorised (Teddy) prefilter up to about this many.
pub(super) const PATTERNS_PER_AUTOMATON: usize = 64;
/// Teddy fingerprints the first (at most) four bytes of each pattern, as many as the automaton's
/// shortest pattern has: one shorter anchor weakens the fingerprint of all the others.
pub(super) const TEDDY_MASK: usize = 4;
/// The unit in which runs of plain prose are found and skipped (see [`is_plain`]): large enough that
/// a skip saves more than it costs to start one more search.
pub(super) const PLAIN_BLOCK: usize = 4096;
/// How far a single-line window reaches before and after its anchor.
pub(super) const LINE_BEFORE: usize = 1024;
pub(super) const LINE_AFTER: usize = 4096;

/// Longest stretch a quoted secret is followed past its first unquoted-looking end to its closing
/// quote.
pub(super) const MAX_QUOTED_TAIL: usize = 512;

/// An AWS secret access key written right after its key id (`AKIA...:wJalr...`, `AKIA... wJalr...`),
/// where no `aws_secret_access_key =` names it: 40 characters of its alphabet after one separator.
pub(super) fn paired_aws_secrets(text: &[u8], out: &mut Vec<Finding>) {
    const KEY_LEN: usize = 40;
    let ids: Vec<usize> = out
        .iter()
        .filter(|f| f.rule == "aws-access-key-id")
        .map(|f| f.sort_span().end)
        .collect();
    let is_key_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+' | b'=');
    for id_end in ids {
        let Some(&sep) = text.get(id_end) else {
            continue;
        };
        if !matches!(sep, b':' | b'/' | b' ' | b'\t' | b',' | b';' | b'|' | b'=') {
            continue;
        }
        let start = id_end + 1;
        let end = start + KEY_LEN;
        let Some(value) = text.get(start..end) else {
            continue;
        };
        if !value.iter().all(|&b| is_key_byte(b))
            || text.get(end).is_some_and(|&b| is_key_byte(b))
            || checks::entropy(value) < 3.5
            || out.iter().any(|f| {
                f.sort_span().start < end
                    && start < f.sort_span().end
                    && f.rule != rules::GENERIC_RULE
            })
        {
            continue;
        }
        out.push(Finding {
            kind: FindingKind::Secret,
            rule: "aws-secret-access-key".to_string(),
            category: None,
            severity: Severity::Critical,
            location: crate::Location::Span(crate::Span { start, end }),
            message: "AWS secret access key (written after its key id)".to_string(),
            preview: preview(value),
        });
    }
}

/// The matches `next(at)` finds from each position on, where one may begin on the last character
/// of the one before. The rules' patterns consume the character that separates a token from its
/// neighbours (the regex engine has no look-around), so two tokens one separator apart
/// (`KEY1 KEY2`) would otherwise give one match.
fn touching<'h, T: 'h>(
    hay: &'h [u8],
    mut next: impl FnMut(usize) -> Option<(std::ops::Range<usize>, T)> + 'h,
) -> impl Iterator<Item = T> + 'h {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at > hay.len() {
            return None;
        }
        let (r, found) = next(at)?;
        at = if r.end <= r.start + 1 {
            r.start + 1
        } else {
            // The start of the match's last character (a separator may be multi-byte).
            let mut i = r.end - 1;
            while i > r.start + 1 && hay[i] & 0xC0 == 0x80 {
                i -= 1;
            }
            i
        };
        Some(found)
    })
}

/// What surrounds a value in an assignment, for the generic rule.
pub(super) struct Assignment<'a> {
    pub(super) name: &'a [u8],
    pub(super) op: &'a [u8],
    pub(super) space_after_op: bool,
    pub(super) name_quoted: bool,
    pub(super) value_quoted: bool,
}

/// The generic assignment rule's validation: the name must end in a secret word, the value must not be
/// a placeholder, a reference, code or a path, and must carry enough entropy.
pub(super) fn generic_ok(a: &Assignment<'_>, value: &[u8], min_entropy: f64) -> bool {
    let Some(keyword) = checks::secret_name_keyword(a.name) else {
        return false;
    };
    let password = matches!(keyword, "password" | "passwd" | "pwd" | "passphrase");
    let min_len = if password { 8 } else { 10 };
    if value.len() < min_len
        || checks::is_placeholder(value)
        || checks::is_published_key(value)
        || checks::looks_like_path_or_url(value)
    {
        return false;
    }
    if !a.value_quoted && checks::looks_like_code_reference(value) {
        return false;
    }
    // `group:artifact` and `host:port` are not assignments: a bare colon needs a space or quotes.
    if a.op == b":" && !a.space_after_op && !a.value_quoted && !a.name_quoted {
        return false;
    }
    if value.iter().all(u8::is_ascii_digit) && value.len() < 16 {
        return false;
    }
    // A bare `key` names many things (map keys, XML attributes): ask for a key-like value.
    if keyword == "key" {
        let has_digit = value.iter().any(u8::is_ascii_digit);
        let has_alpha = value.iter().any(u8::is_ascii_alphabetic);
        let dotted_identifier = value.contains(&b'.')
            && value.iter().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            });
        if value.len() < 16
            || !has_digit
            || !has_alpha
            || dotted_identifier
            || checks::entropy(value) < 3.5
        {
            return false;
        }
    }
    checks::entropy(value) >= min_entropy
}

/// The spans of the secrets in `findings` found by specific rules: the generic rule yields to them.
pub(super) fn specific_spans(findings: &[Finding]) -> SpanIndex {
    SpanIndex::new(
        findings
            .iter()
            .filter(|f| f.kind == FindingKind::Secret && f.rule != rules::GENERIC_RULE)
            .map(|f| f.sort_span().into()),
    )
}

/// Spans sorted by start (longest first on a tie) with the running maximum of their ends, so that
/// overlap and containment queries take a binary search instead of a walk over every span: a chunk
/// full of e-mail addresses must not make overlap resolution quadratic.
pub(super) struct SpanIndex {
    pub(super) spans: Vec<(usize, usize)>,
    pub(super) max_end: Vec<usize>,
}

impl SpanIndex {
    pub(super) fn new(spans: impl Iterator<Item = (usize, usize)>) -> Self {
        let mut spans: Vec<(usize, usize)> = spans.collect();
        spans.sort_by_key(|&(s, e)| (s, std::cmp::Reverse(e)));
        let max_end = spans
            .iter()
            .scan(0, |m, &(_, e)| {
                *m = (*m).max(e);
                Some(*m)
            })
            .collect();
        SpanIndex { spans, max_end }
    }

    /// Whether some span overlaps `start..end`.
    pub(super) fn overlaps(&self, start: usize, end: usize) -> bool {
        let k = self.spans.partition_point(|&(s, _)| s < end);
        k > 0 && self.max_end[k - 1] > start
    }

    /// Whether some span other than `start..end` itself contains it.
    pub(super) fn strictly_contains(&self, start: usize, end: usize) -> bool {
        let k = self.spans.partition_point(|&(s, _)| s < start);
        (k > 0 && self.max_end[k - 1] >= end)
            || self
                .spans
                .get(k)
                .is_some_and(|&(s, e)| s == start && e > end)
    }
}

pub(super) fn window(text: &[u8], start: usize, end: usize, w: Window) -> (usize, usize) {
    match w {
        Window::Line | Window::Element => {
            let lo = start.saturating_sub(LINE_BEFORE);
            let ws = memchr::memrchr(b'\n', &text[lo..start]).map_or(lo, |i| lo + i + 1);
            let hi = (end + LINE_AFTER).min(text.len());
            let lines = if w == Window::Element { 3 } else { 1 };
            let mut we = end;
            for _ in 0..lines {
                match memchr::memchr(b'\n', &text[we..hi]) {
                    Some(i) => we += i + 1,
                    None => {
                        we = hi;
                        break;
                    }
                }
            }
            let we = if we > end && we < hi { we - 1 } else { we };
            (ws, we)
        }
        Window::Lines { before, after } => {
            (start.saturating_sub(before), (end + after).min(text.len()))
        }
    }
}

/// The case-sensitive forms an anchor is searched in: itself, or for case-insensitive anchors its
/// lower-case, UPPER-case and Capitalised forms (`token`, `TOKEN`, `Token`: what code and
/// configuration use), so that every automaton is a plain literal search that can use SIMD.
pub(super) fn anchor_forms(anchor: &str, ci: bool) -> Vec<String> {
    if !ci {
        return vec![anchor.to_string()];
    }
    let lower = anchor.to_ascii_lowercase();
    let mut cap = lower.clone();
    if let Some(first) = cap.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let mut forms = vec![lower, anchor.to_ascii_uppercase(), cap];
    forms.sort();
    forms.dedup();
    forms
}

/// The keyword gate: an ASCII case-insensitive automaton over every keyword rule's service names.
pub(super) fn build_gate(specs: &[RuleSpec]) -> Result<Option<KeywordGate>, ScanError> {
    let mut names: Vec<(String, Vec<u16>)> = Vec::new();
    for (ri, s) in specs.iter().enumerate() {
        for k in &s.keywords {
            let k = k.to_ascii_lowercase();
            match names.iter_mut().find(|(n, _)| *n == k) {
                Some((_, rs)) => rs.push(ri as u16),
                None => names.push((k, vec![ri as u16])),
            }
        }
    }
    if names.is_empty() {
        return Ok(None);
    }
    // Overlapping names (`linkedin`, `linked-in`) each find their own rules. A DFA: it searches
    // every woken window, and is several times faster than the default NFA for this many names.
    let automaton = AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .ascii_case_insensitive(true)
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(names.iter().map(|(n, _)| n.as_bytes()))
        .map_err(|e| ScanError::Compile {
            rule: "keyword gate".into(),
            message: e.to_string(),
        })?;
    Ok(Some(KeywordGate {
        automaton,
        rules_of_pattern: names.into_iter().map(|(_, r)| r).collect(),
    }))
}

/// Every distinct anchor form with the rules it wakes, longest first.
pub(super) fn prefilter_anchors(specs: &[RuleSpec], gate: bool) -> Vec<(String, Vec<u16>)> {
    // Distinct anchor forms, each with the rules it wakes (the wake words also wake the gate).
    let mut anchors: Vec<(String, Vec<u16>)> = Vec::new();
    let wake = rules::WAKE_WORDS.iter().map(|w| (w, true, GATE));
    let anchored = specs
        .iter()
        .enumerate()
        .flat_map(|(ri, s)| s.anchors.iter().map(move |a| (a, s.anchors_ci, ri as u16)));
    for (a, ci, ri) in anchored.chain(wake.filter(|_| gate)) {
        for form in anchor_forms(a, ci) {
            add_wakes(&mut anchors, &form, &[ri]);
        }
    }
    // Rules searched around a hit's line can be woken by a part of their anchor as well.
    let movable = |rs: &[u16]| {
        rs.iter().all(|&r| {
            r == GATE || matches!(specs[r as usize].window, Window::Line | Window::Element)
        })
    };
    fewer_anchors(&mut anchors, movable);
    // Leftmost-longest search reports one anchor per position: list longer anchors first (they are
    // grouped by length), and let an anchor also wake the rules of every anchor it contains
    // (`pat-na1-` wakes what `pat` would).
    anchors.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    let contained: Vec<Vec<u16>> = anchors
        .iter()
        .map(|(long, _)| {
            let mut rs: Vec<u16> = anchors
                .iter()
                .filter(|(short, _)| long.contains(short.as_str()))
                .flat_map(|(_, r)| r.iter().copied())
                .collect();
            rs.sort_unstable();
            rs.dedup();
            rs
        })
        .collect();
    for (a, rs) in anchors.iter_mut().zip(contained) {
        a.1 = rs;
    }
    anchors
}

/// Fewer anchors: each automaton holds at most [`PATTERNS_PER_AUTOMATON`], and each automaton is
/// one more pass over the text. Where `movable` says an anchor's rules may be woken at a part of
/// it (rules searched in the hit's line, which a part of the anchor lies on too):
/// - an anchor that holds another is dropped, and the longest one it holds wakes its rules too
///   (`password` by `pass`, `xkeysib-` by `key`);
/// - two anchors that begin with the same [`TEDDY_MASK`] bytes or more become that common beginning
///   (`duffel_live_` and `duffel_test_`: `duffel_`), longest common beginnings first.
///
/// Every text that held a dropped anchor holds its replacement, on the same line, so no rule is
/// woken less; some are woken more (by `duffel_` alone), which costs a search of a line.
pub(super) fn fewer_anchors(
    anchors: &mut Vec<(String, Vec<u16>)>,
    movable: impl Fn(&[u16]) -> bool,
) {
    // Shortest first: an anchor's rules go to an anchor that is itself kept.
    anchors.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(&b.0)));
    let mut kept: Vec<(String, Vec<u16>)> = Vec::with_capacity(anchors.len());
    for (anchor, rules) in anchors.drain(..) {
        let holder = kept
            .iter_mut()
            .filter(|(part, _)| anchor.contains(part.as_str()))
            .max_by_key(|(part, _)| part.len());
        match holder {
            Some((_, into)) if movable(&rules) => add_rules(into, &rules),
            _ => kept.push((anchor, rules)),
        }
    }
    loop {
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let common = |a: &str, b: &str| {
            let n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
            (0..=n).rev().find(|&k| a.is_char_boundary(k)).unwrap_or(0)
        };
        let best = (1..kept.len())
            .filter(|&i| movable(&kept[i - 1].1) && movable(&kept[i].1))
            .map(|i| (common(&kept[i - 1].0, &kept[i].0), i))
            .filter(|&(n, _)| n >= TEDDY_MASK)
            .max_by_key(|&(n, i)| (n, std::cmp::Reverse(i)));
        let Some((n, i)) = best else { break };
        let (b, b_rules) = kept.remove(i);
        let (a, mut rules) = kept.remove(i - 1);
        add_rules(&mut rules, &b_rules);
        debug_assert!(b.starts_with(&a[..n]));
        add_wakes(&mut kept, &a[..n], &rules);
    }
    *anchors = kept;
}

/// Let `anchor` wake `rules` too: in its entry of `anchors`, or in a new one.
pub(super) fn add_wakes(anchors: &mut Vec<(String, Vec<u16>)>, anchor: &str, rules: &[u16]) {
    match anchors.iter_mut().find(|(a, _)| a == anchor) {
        Some((_, into)) => add_rules(into, rules),
        None => anchors.push((anchor.to_string(), rules.to_vec())),
    }
}

/// Add `rules` to a list of rules to wake, each once.
pub(super) fn add_rules(into: &mut Vec<u16>, rules: &[u16]) {
    for &r in rules {
        if !into.contains(&r) {
            into.push(r);
        }
    }
}

/// The prefilter automata for `anchors` (longest first), at most [`PATTERNS_PER_AUTOMATON`] each.
/// Anchors shorter than [`TEDDY_MASK`] would weaken the fingerprint of longer ones, so they get
/// automata of their own (one, today: on the mixed bench corpus one automaton of all 35 three-byte
/// anchors took 1.8 ms less per 8 MiB than three of 12). With `small` (the few anchors searched in
/// plain prose) automata are a quarter of that size: there a larger one verified far more
/// candidates (one automaton of 27 plain anchors: 7.2 ms per 8 MiB, two: 2.2 ms).
pub(super) fn build_prefilters(
    anchors: &[(String, Vec<u16>)],
    small: bool,
) -> Result<Vec<Prefilter>, ScanError> {
    let cap = if small {
        PATTERNS_PER_AUTOMATON / 4
    } else {
        PATTERNS_PER_AUTOMATON
    };
    let short = |a: &(String, Vec<u16>)| a.0.len() < TEDDY_MASK;
    let mut out = Vec::new();
    let mut rest = anchors;
    while !rest.is_empty() {
        // Outside plain prose, full-length anchors and short ones never share an automaton. The
        // automata of one class are of even size: a tiny last one would not use Teddy at all.
        let same = if small {
            rest.len()
        } else {
            rest.iter()
                .take_while(|a| short(a) == short(&rest[0]))
                .count()
        };
        let size = same.div_ceil(same.div_ceil(cap));
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let patterns: Vec<&[u8]> = chunk.iter().map(|(k, _)| k.as_bytes()).collect();
        out.push(Prefilter {
            automaton: Literals::new(&patterns)?,
            rules_of_pattern: chunk.iter().map(|(_, r)| r.clone()).collect(),
        });
    }
    Ok(out)
}

/// Bytes of plain lower-case prose: letters, space, newline and common punctuation. An anchor made
/// only of these must be searched everywhere; any other anchor cannot occur in a run of them.
pub(super) fn is_plain(b: u8) -> bool {
    b.is_ascii_lowercase() || matches!(b, b' ' | b'\n' | b'.' | b',' | b'\'')
}

/// The spans of `text` an anchor holding a non-plain byte can overlap: every [`PLAIN_BLOCK`]
/// holding such a byte, widened by `reach - 1` on each side, merged. A block is tested 256 bytes at
/// a time (a loop the compiler vectorises) until one holds a non-plain byte: in code, logs or JSON,
/// the first one does.
pub(super) fn not_plain_spans(text: &[u8], reach: usize) -> Vec<std::ops::Range<usize>> {
    let widen = reach.saturating_sub(1);
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    for (k, block) in text.chunks(PLAIN_BLOCK).enumerate() {
        if block
            .chunks(256)
            .all(|c| c.iter().fold(true, |plain, &b| plain & is_plain(b)))
        {
            continue;
        }
        let start = (k * PLAIN_BLOCK).saturating_sub(widen);
        let end = (k * PLAIN_BLOCK + block.len() + widen).min(text.len());
        match spans.last_mut() {
            Some(last) if start <= last.end => last.end = end,
            _ => spans.push(start..end),
        }
    }
    spans
}

impl Scanner {
    /// Run the secret rules over `text`; returns the spans that are not plain prose (where every
    /// secret lies, written as is or disguised: see [`super::disguised`]).
    pub(super) fn scan_secrets(
        &self,
        text: &[u8],
        out: &mut Vec<Finding>,
    ) -> Vec<std::ops::Range<usize>> {
        let inner = &*self.inner;
        // Per rule (and, last, for the keyword gate): the window waiting to be searched, merged while
        // hits overlap.
        let gate_slot = inner.rules.len();
        let mut pending: Vec<Option<(usize, usize)>> = vec![None; inner.rules.len() + 1];
        // The slots holding a window, so a short text costs its hits, not the number of rules.
        let mut touched: Vec<usize> = Vec::new();
        // Every pass's windows, as (slot, start, end): searched once all passes are done, so that
        // windows of one rule found by different passes (`password` and `pass` are in different
        // automata) are merged too and no line is searched twice by the same rule.
        let mut windows: Vec<(usize, usize, usize)> = Vec::new();
        // Runs of plain prose (at least a block long) can hold only the plain anchors: there, the
        // few automata of those; elsewhere, every automaton. A run's edges are searched with the
        // plain automata too, keeping the anchors that overlap the run (the others lie inside the
        // text around it, searched in full).
        let busy = not_plain_spans(text, inner.longest_anchor);
        let mut calm = Vec::new();
        let mut at = 0;
        for span in busy
            .iter()
            .chain(std::iter::once(&(text.len()..text.len())))
        {
            if span.start > at {
                calm.push(at..span.start);
            }
            at = span.end;
        }
        let reach = inner.longest_anchor.saturating_sub(1);
        let passes = inner
            .prefilters
            .iter()
            .map(|pf| (pf, &busy, false))
            .chain(inner.plain_prefilters.iter().map(|pf| (pf, &calm, true)));
        for (pf, spans, calm) in passes {
            let hits = spans.iter().flat_map(|span| {
                let search = if calm {
                    span.start.saturating_sub(reach)..(span.end + reach).min(text.len())
                } else {
                    span.clone()
                };
                let keep = span.clone();
                pf.automaton
                    .find_iter(text, search)
                    .filter(move |&(s, e, _)| !calm || (e > keep.start && s < keep.end))
            });
            for (start, end, pattern) in hits {
                for &ri in &pf.rules_of_pattern[pattern] {
                    let (slot, w) = if ri == GATE {
                        (gate_slot, Window::Element)
                    } else {
                        (ri as usize, inner.rules[ri as usize].window)
                    };
                    let (ws, we) = window(text, start, end, w);
                    match &mut pending[slot] {
                        Some((ps, pe)) if ws <= *pe => {
                            *ps = (*ps).min(ws);
                            *pe = (*pe).max(we);
                        }
                        p => {
                            match p.take() {
                                Some((ps, pe)) => windows.push((slot, ps, pe)),
                                None => touched.push(slot),
                            }
                            *p = Some((ws, we));
                        }
                    }
                }
            }
            // Each automaton reports in text order: a slot's windows are merged as they come.
            for slot in touched.drain(..) {
                if let Some((ps, pe)) = pending[slot].take() {
                    windows.push((slot, ps, pe));
                }
            }
        }
        // Rule by rule (in rule order: of two findings of the same span, the first stays), each
        // rule's windows in text order, merged where they overlap.
        windows.sort_unstable();
        // The specific rules' findings, once they are all in (the generic rule comes after them):
        // a generic value over one of them would be dropped in the end, so it is not checked.
        let mut specific: Option<SpanIndex> = None;
        let mut merged = windows.into_iter().peekable();
        while let Some((slot, ws, mut we)) = merged.next() {
            while let Some((_, _, next_end)) = merged.next_if(|&(s, nws, _)| s == slot && nws <= we)
            {
                we = we.max(next_end);
            }
            if specific.is_none()
                && inner
                    .rules
                    .get(slot)
                    .is_some_and(|r| r.id == rules::GENERIC_RULE)
            {
                specific = Some(specific_spans(out));
            }
            self.flush(slot, text, ws, we, specific.as_ref(), out);
        }
        paired_aws_secrets(text, out);
        busy
    }

    /// Search a merged window: with its rule, or, for the gate slot, with the keyword rules whose
    /// service names appear in it. The generic rule passes over values in `specific` spans.
    pub(super) fn flush(
        &self,
        slot: usize,
        text: &[u8],
        ws: usize,
        we: usize,
        specific: Option<&SpanIndex>,
        out: &mut Vec<Finding>,
    ) {
        if slot < self.inner.rules.len() {
            self.confirm(slot, text, ws, we, specific, out);
            return;
        }
        let Some(gate) = &self.inner.gate else { return };
        let mut done: Vec<(u16, usize)> = Vec::new();
        for m in gate.automaton.find_iter(&text[ws..we]) {
            let (ks, ke) = window(text, ws + m.start(), ws + m.end(), Window::Element);
            for &ri in &gate.rules_of_pattern[m.pattern().as_usize()] {
                if done.contains(&(ri, ks)) {
                    continue;
                }
                done.push((ri, ks));
                self.confirm(ri as usize, text, ks, ke, None, out);
            }
        }
    }

    /// Run rule `ri`'s regex over `text[ws..we]` and validate each match. The generic rule passes
    /// over values that overlap a span of `specific`, where it yields (see [`resolve_overlaps`]).
    pub(super) fn confirm(
        &self,
        ri: usize,
        text: &[u8],
        ws: usize,
        we: usize,
        specific: Option<&SpanIndex>,
        out: &mut Vec<Finding>,
    ) {
        let rule = &self.inner.rules[ri];
        let generic = rule.id == rules::GENERIC_RULE;
        let Some(mm) = rule.matcher() else { return };
        let hay = &text[ws..we];
        // Each match's groups, with the offset in `hay` their positions count from.
        let narrow = mm.groups.as_ref().map(|g| {
            touching(hay, move |at| {
                mm.regex.find_at(hay, at).map(|m| (m.range(), m))
            })
            .filter_map(move |m| g.captures(&hay[m.range()]).map(|c| (m.start(), c)))
        });
        let whole = match narrow {
            Some(_) => None,
            None => Some(
                touching(hay, |at| {
                    let c = mm.regex.captures_at(hay, at)?;
                    Some((c.get(0)?.range(), c))
                })
                .map(|c| (0, c)),
            ),
        };
        for (base, caps) in narrow
            .into_iter()
            .flatten()
            .chain(whole.into_iter().flatten())
        {
            let at = ws + base;
            let get = |g: Option<usize>| g.and_then(|g| caps.get(g));
            let xml = get(mm.xml_group);
            let Some(m) = get(mm.secret_group).or(xml).or_else(|| caps.get(0)) else {
                continue;
            };
            let value = m.as_bytes();
            if generic && specific.is_some_and(|s| s.overlaps(at + m.start(), at + m.end())) {
                continue;
            }
            let ok = match rule.check {
                Check::Format => true,
                Check::Keyword(min) => {
                    !checks::is_example_value(value) && checks::entropy(value) >= min
                }
                Check::Entropy(min) => {
                    !checks::is_example_token(value) && checks::entropy(value) >= min
                }
                Check::GithubChecksum => {
                    !checks::is_example_token(value) && checks::github_checksum_ok(value)
                }
                Check::Jwt => checks::jwt_header_ok(value),
                Check::UrlPassword => checks::credential_pair_ok(value),
                Check::PrivateKeyBody => checks::private_key_body_ok(value),
                Check::KubernetesSecret => checks::kubernetes_secret_ok(hay, value),
                Check::BasicAuthBase64 => checks::basic_auth_base64_ok(value),
                Check::Password => checks::password_ok(value),
                Check::Generic => {
                    let bytes = |g: Option<usize>| get(g).map(|n| n.as_bytes()).unwrap_or_default();
                    let space_after_op = get(mm.op_group)
                        .is_some_and(|o| matches!(hay.get(base + o.end()), Some(b' ' | b'\t')));
                    let ctx = Assignment {
                        name: bytes(mm.name_group),
                        op: bytes(mm.op_group),
                        space_after_op,
                        name_quoted: !bytes(mm.name_quote_group).is_empty()
                            || get(mm.comma_quote_group).is_some(),
                        value_quoted: xml.is_some()
                            || get(mm.comma_quote_group).is_some()
                            || mm.quote_group.is_none_or(|g| caps.get(g).is_some()),
                    };
                    generic_ok(&ctx, value, self.inner.generic_min_entropy)
                }
            };
            if !ok {
                continue;
            }
            let (start, mut end) = if matches!(rule.check, Check::PrivateKeyBody) {
                // Redact the whole block, armour included.
                let whole = caps.get(0).map_or(m, |w| w);
                (at + whole.start(), at + whole.end())
            } else {
                (at + m.start(), at + m.end())
            };
            // A quoted value runs to its closing quote: `"Tr0ub4dor&3x yz#Q"` is one secret, and
            // redacting up to its first space would leave the rest in clear.
            if let Some(q) = get(mm.quote_group).and_then(|q| q.as_bytes().last().copied())
                && matches!(q, b'"' | b'\'' | b'`')
                && text.get(end) != Some(&q)
            {
                let rest = &text[end..(end + MAX_QUOTED_TAIL).min(text.len())];
                if let Some(close) = rest.iter().position(|&b| b == q || b == b'\n')
                    && rest[close] == q
                {
                    end += close;
                }
            }
            let message = if matches!(rule.check, Check::GithubChecksum) {
                format!("{} (checksum verified)", rule.description)
            } else {
                rule.description.to_string()
            };
            out.push(Finding {
                kind: FindingKind::Secret,
                rule: rule.id.to_string(),
                category: None,
                severity: rule.severity,
                location: crate::Location::Span(crate::Span { start, end }),
                message,
                preview: preview(&text[start..end]),
            });
        }
    }
}
