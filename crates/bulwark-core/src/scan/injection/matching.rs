//! Evidence from the patterns: the normalized text and every decoded layer matched against the
//! pattern table, behind an Aho-Corasick prefilter that wakes only the patterns whose anchors
//! occur.

use super::*;

/// Consecutive invisible characters from which a run counts as hidden data: eight bits of
/// zero-width binary make one character, so a few words need a few dozen.
const ZERO_WIDTH_RUN: usize = 24;

impl InjectionDetector {
    /// Gather evidence from a normalized text and its layers.
    pub(super) fn collect(
        &self,
        norm: &Normalized,
        original: &[u8],
        depth: u8,
        budget: &mut usize,
        out: &mut Vec<Signal>,
    ) {
        let first = out.len();
        self.match_patterns(&norm.text, out, &|s, e| norm.original_span(s, e), true);

        // Hidden HTML and markdown: what lies inside is evidence of its own.
        let hidden = layers::hidden_spans(norm, original, layers::MAX_HIDDEN_SPANS);
        for span in &hidden {
            let (hs, he) = span.inner;
            let inside: Vec<(f32, &'static str)> = out[first..]
                .iter()
                .filter(|s| s.norm.is_some_and(|(s0, e0)| s0 >= hs && e0 <= he))
                .map(|s| (s.weight, s.rule))
                .collect();
            let orig = norm.original_span(hs, he);
            if let Some(&(w, rule)) = inside.iter().max_by(|a, b| a.0.total_cmp(&b.0)) {
                out.push(Signal {
                    rule: "hidden-instruction",
                    category: Category::HiddenInstructions,
                    weight: (w + 0.2).clamp(0.7, 0.95),
                    norm: Some((hs, he)),
                    orig,
                    message: format!("{} holds an injection pattern ({rule})", span.describe()),
                });
            } else if AI_ADDRESS.is_match(&norm.text[hs..he]) {
                out.push(Signal {
                    rule: "hidden-ai-address",
                    category: Category::HiddenInstructions,
                    weight: 0.6,
                    norm: Some((hs, he)),
                    orig,
                    message: format!("{} addresses an AI or gives orders", span.describe()),
                });
            } else if matches!(span.kind, Hidden::HiddenElement | Hidden::MarkdownComment)
                && he - hs >= 40
            {
                // Comments, alt text and `<noscript>` often hold plain text for good reasons; an
                // element hidden on purpose, less so.
                out.push(Signal {
                    rule: "hidden-text",
                    category: Category::HiddenInstructions,
                    weight: 0.2,
                    norm: Some((hs, he)),
                    orig,
                    message: format!("{} holds text a reader does not see", span.describe()),
                });
            }
        }

        // Obfuscation is itself a signal.
        let span_all = (0, original.len());
        if norm.invisible >= 2 {
            out.push(Signal {
                rule: "invisible-characters",
                category: Category::Obfuscation,
                weight: if norm.invisible >= 5 { 0.45 } else { 0.3 },
                norm: None,
                orig: span_all,
                message: format!("{} invisible characters inside words", norm.invisible),
            });
        }
        if norm.homoglyph_words > 0 {
            out.push(Signal {
                rule: "homoglyphs",
                category: Category::Obfuscation,
                weight: 0.4,
                norm: None,
                orig: span_all,
                message: format!(
                    "{} word(s) mix Latin letters with look-alikes from other scripts",
                    norm.homoglyph_words
                ),
            });
        }
        if norm.spaced_runs > 0 {
            out.push(Signal {
                rule: "spaced-letters",
                category: Category::Obfuscation,
                weight: 0.25,
                norm: None,
                orig: span_all,
                message: format!("{} run(s) of s p a c e d letters", norm.spaced_runs),
            });
        }
        // Text in invisible carriers: Unicode tag characters, variation selectors.
        let carriers = [
            (
                &norm.tag_text,
                "unicode-tag-text",
                "invisible Unicode tag text",
            ),
            (
                &norm.selector_text,
                "variation-selector-text",
                "text smuggled in variation selectors",
            ),
        ];
        for (carried, plain_rule, what) in carriers {
            let Some((carried, ts, te)) = carried else {
                continue;
            };
            let inner = normalize::normalize(carried.as_bytes());
            let mut inner_sig = Vec::new();
            self.match_patterns(&inner.text, &mut inner_sig, &|_, _| (*ts, *te), false);
            let strongest = inner_sig.iter().map(|s| s.weight).fold(0f32, f32::max);
            let chars = carried.chars().count();
            out.push(Signal {
                rule: if strongest > 0.0 {
                    "hidden-instruction"
                } else {
                    plain_rule
                },
                category: if strongest > 0.0 {
                    Category::HiddenInstructions
                } else {
                    Category::Obfuscation
                },
                weight: if strongest > 0.0 {
                    (strongest + 0.2).min(0.95)
                } else if chars >= 8 {
                    0.6
                } else {
                    0.1
                },
                norm: None,
                orig: (*ts, *te),
                message: format!("{chars} characters of {what}"),
            });
            out.extend(inner_sig);
        }
        // A long run of zero-width characters is data, not a split word.
        if norm.invisible_run >= ZERO_WIDTH_RUN
            && norm.tag_text.is_none()
            && norm.selector_text.is_none()
        {
            out.push(Signal {
                rule: "zero-width-run",
                category: Category::HiddenInstructions,
                weight: 0.45,
                norm: None,
                orig: span_all,
                message: format!(
                    "a run of {} invisible characters (zero-width or selectors) can carry hidden data",
                    norm.invisible_run
                ),
            });
        }

        if depth == 0 {
            return;
        }
        // Encoded layers, decoded and scanned like the text itself.
        // Every segment is decoded (within the budget), but after `MAX_SIGNALS_PER_PATTERN`
        // segments with evidence only stronger evidence is kept.
        let (mut with_evidence, mut strongest) = (0usize, 0f32);
        for (s, e, enc, decoded) in layers::decoded_segments(original) {
            if decoded.len() > *budget {
                break;
            }
            *budget -= decoded.len();
            let inner_norm = normalize::normalize(decoded.as_bytes());
            let mut inner = Vec::new();
            self.collect(
                &inner_norm,
                decoded.as_bytes(),
                depth - 1,
                budget,
                &mut inner,
            );
            if enc == Encoding::Html {
                // What the page already shows as written is not news: only what the rendering
                // revealed counts.
                inner.retain(|s| !out[first..].iter().any(|o| o.rule == s.rule));
            }
            let top = inner.iter().map(|s| s.weight).fold(0f32, f32::max);
            if top == 0.0 || (with_evidence >= MAX_SIGNALS_PER_PATTERN && top <= strongest) {
                continue;
            }
            with_evidence += 1;
            strongest = strongest.max(top);
            self.encoded_evidence(enc, (s, e), inner, out);
        }
        // ROT13: the whole view rotated; only its stronger patterns count. Rotating and matching
        // everything twice would double the cost, so only a view with ROT13 words in it is rotated.
        if norm.text.len() >= 16 && ROT13_WORDS.is_match(norm.text.as_bytes()) {
            let rotated = layers::rot13(&norm.text);
            let mut inner = Vec::new();
            self.match_patterns(
                &rotated,
                &mut inner,
                &|s, e| norm.original_span(s, e),
                false,
            );
            inner.retain(|s| s.weight >= 0.5);
            for s in inner {
                let span = s.orig;
                self.encoded_evidence(Encoding::Rot13, span, vec![s], out);
            }
        }
    }

    /// Evidence found inside a decoded segment: the inner signals (moved to the segment's span)
    /// plus one encoded-payload signal.
    pub(super) fn encoded_evidence(
        &self,
        enc: Encoding,
        span: (usize, usize),
        inner: Vec<Signal>,
        out: &mut Vec<Signal>,
    ) {
        let Some(top) = inner.iter().max_by(|a, b| a.weight.total_cmp(&b.weight)) else {
            return;
        };
        out.push(Signal {
            rule: match enc {
                Encoding::Base64 => "encoded-base64",
                Encoding::Hex => "encoded-hex",
                Encoding::Url => "encoded-url",
                Encoding::Rot13 => "encoded-rot13",
                Encoding::Html => "encoded-html",
            },
            category: Category::EncodedPayload,
            weight: (top.weight + 0.1).min(0.95),
            norm: None,
            orig: span,
            message: format!(
                "{} text hides an injection pattern ({})",
                enc.as_str(),
                top.rule
            ),
        });
        for mut s in inner {
            s.norm = None;
            s.orig = span;
            s.message = format!("in {} text: {}", enc.as_str(), s.message);
            out.push(s);
        }
    }

    /// Run the prefilter and the woken patterns over a normalized text.
    pub(super) fn match_patterns(
        &self,
        text: &str,
        out: &mut Vec<Signal>,
        to_orig: &dyn Fn(usize, usize) -> (usize, usize),
        keep_norm: bool,
    ) {
        let inner = &*self.inner;
        let mut pending: Vec<Option<(usize, usize)>> = vec![None; inner.patterns.len()];
        let bytes = text.as_bytes();
        let signal = |pat: &CompiledPattern, s: usize, e: usize| Signal {
            rule: pat.spec.id,
            category: pat.spec.category,
            weight: pat.spec.weight,
            norm: keep_norm.then_some((s, e)),
            orig: to_orig(s, e),
            message: format!("{}: \"{}\"", pat.spec.description, quote(&text[s..e])),
        };
        // Signals per pattern, capped: the score needs only the strongest, and a text that repeats
        // one phrase a million times must not cost a million findings.
        let mut found = vec![0usize; inner.patterns.len()];
        let flush =
            |p: usize, (ws, we): (usize, usize), out: &mut Vec<Signal>, found: &mut [usize]| {
                let pat = &inner.patterns[p];
                let Some(re) = pat.matcher() else { return };
                // Look-around (`\b`, `^`) sees the text outside the window.
                for m in re.find_iter(regex_automata::Input::new(bytes).range(ws..we)) {
                    if found[p] >= MAX_SIGNALS_PER_PATTERN {
                        break;
                    }
                    if m.end() > m.start()
                        && text.is_char_boundary(m.start())
                        && text.is_char_boundary(m.end())
                    {
                        out.push(signal(pat, m.start(), m.end()));
                        found[p] += 1;
                    }
                }
            };
        for m in inner.prefilter.find_iter(bytes) {
            let ws = floor_char(text, m.start().saturating_sub(256));
            let we = ceil_char(text, (m.end() + 768).min(bytes.len()));
            for wake in &inner.wakes[m.pattern().as_usize()] {
                let p = wake.pattern as usize;
                let pat = &inner.patterns[p];
                if found[p] >= MAX_SIGNALS_PER_PATTERN {
                    continue;
                }
                if let Some(at) = wake.at {
                    // Every match of a prefix-anchored pattern starts at one of its anchors: one
                    // anchored search there, which gives up as soon as the text cannot match.
                    let start = m.start() + at as usize;
                    // A pattern that opens with `\b` cannot match in the middle of a word: skip
                    // the search when both sides of the anchor are certainly word characters.
                    if pat.word_start && inside_word(text, start) {
                        continue;
                    }
                    let Some(re) = pat.matcher() else { continue };
                    let input = regex_automata::Input::new(bytes)
                        .range(start..)
                        .anchored(regex_automata::Anchored::Yes);
                    if let Some(hit) = re.search(&input)
                        && hit.end() > hit.start()
                        && text.is_char_boundary(hit.end())
                    {
                        out.push(signal(pat, hit.start(), hit.end()));
                        found[p] += 1;
                    }
                    continue;
                }
                match &mut pending[p] {
                    Some((ps, pe)) if ws <= *pe => {
                        *ps = (*ps).min(ws);
                        *pe = (*pe).max(we);
                    }
                    slot => {
                        if let Some(w) = slot.replace((ws, we)) {
                            flush(p, w, out, &mut found);
                        }
                    }
                }
            }
        }
        for (p, w) in pending.into_iter().enumerate() {
            if let Some(w) = w {
                flush(p, w, out, &mut found);
            }
        }
    }
}
