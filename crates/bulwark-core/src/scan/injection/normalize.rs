//! The view of a text that injection patterns and the model read.
//!
//! Attackers hide instructions from pattern lists with tricks a reader does not see or shrugs off:
//! zero-width and bidi-control characters between letters, Unicode tag characters (text no screen
//! shows), full-width or mathematical letters, Cyrillic and Greek look-alikes, accents, leetspeak
//! (`1gn0r3`), and s p a c e d letters. [`normalize`] undoes all of them in one pass and keeps, for
//! every byte of the result, the offset of the original character it came from, so a finding in the
//! view maps back to a span of the original text.
//!
//! What the view is: compatibility-decomposed (the NFKC mappings: full-width, ligatures, circled and
//! mathematical letters), combining marks dropped, lowercased, invisible characters removed, every
//! whitespace character a space (newlines kept), homoglyphs folded to Latin in words that mix
//! scripts or consist only of look-alikes, leetspeak folded in words that mix letters and leet
//! digits, and runs of single spaced letters joined into words.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// A normalized view of a text with the map back to the original.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// The normalized text: valid UTF-8, lowercase.
    pub text: String,
    /// `map[i]` is the original byte offset of the character that produced byte `i` of `text`;
    /// `map[text.len()]` is the length of the original.
    map: Vec<u32>,
    /// Invisible characters removed (zero-width, bidi controls, tags, variation selectors, ...).
    pub invisible: usize,
    /// Words whose look-alike letters were folded to Latin.
    pub homoglyph_words: usize,
    /// Words whose leetspeak was folded.
    pub leet_words: usize,
    /// Runs of spaced letters joined into words.
    pub spaced_runs: usize,
    /// Text carried by Unicode tag characters (U+E0020..U+E007E map to ASCII), with the original span
    /// of the first and last tag character. Shown by no renderer, read by models: a hidden layer.
    pub tag_text: Option<(String, usize, usize)>,
}

impl Normalized {
    /// The original byte span of the normalized span `start..end`.
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let last = self.map.len().saturating_sub(1);
        let s = self.map[start.min(last)] as usize;
        let e = self.map[end.min(last)] as usize;
        (s, e.max(s))
    }
}

/// One character of the view with the original offset it came from.
#[derive(Clone, Copy)]
struct Unit {
    c: char,
    at: u32,
}

/// A character of the view as the folding passes see it: a [`Unit`], or, for ASCII input (one byte
/// per character, offsets implicit), a byte.
trait Glyph: Copy {
    /// Whether a character of this kind can be a non-ASCII look-alike.
    const MAY_HOLD_LOOKALIKES: bool;
    fn ch(self) -> char;
    /// Replace the character (folds only ever map to ASCII, so a byte can always take it).
    fn set(&mut self, c: char);
}

impl Glyph for Unit {
    const MAY_HOLD_LOOKALIKES: bool = true;
    fn ch(self) -> char {
        self.c
    }
    fn set(&mut self, c: char) {
        self.c = c;
    }
}

impl Glyph for u8 {
    const MAY_HOLD_LOOKALIKES: bool = false;
    fn ch(self) -> char {
        self as char
    }
    fn set(&mut self, c: char) {
        if c.is_ascii() {
            *self = c as u8;
        }
    }
}

/// Normalize `input` (any bytes; invalid UTF-8 becomes a space). Offsets above 4 GiB are clamped:
/// callers scan large inputs in chunks.
pub fn normalize(input: &[u8]) -> Normalized {
    let mut out = Normalized::default();
    if input.is_ascii() {
        // Nearly every text: one byte per character and offsets equal to positions, so the passes
        // work on bytes and nothing else is built unless letters are to be joined.
        let mut bytes: Vec<u8> = input
            .iter()
            .map(|&b| match b {
                b'\n' => b'\n',
                b if b.is_ascii_whitespace() => b' ',
                b => b.to_ascii_lowercase(),
            })
            .collect();
        fold_words(&mut bytes, &mut out);
        let (runs, blocks) = spaced_blocks(&bytes);
        let end = offset(input.len());
        if blocks.is_empty() {
            let chars = bytes
                .iter()
                .enumerate()
                .map(|(i, &b)| (b as char, offset(i)));
            finish(&mut out, chars, end);
            return out;
        }
        let units: Vec<Unit> = bytes
            .iter()
            .enumerate()
            .map(|(i, &b)| Unit {
                c: b as char,
                at: offset(i),
            })
            .collect();
        join_and_finish(units, &runs, &blocks, end, &mut out);
        return out;
    }
    let mut units: Vec<Unit> = Vec::with_capacity(input.len() + 1);
    let mut tags = String::new();
    let mut tag_span = (usize::MAX, 0usize);
    let mut at = 0usize;
    for chunk in input.utf8_chunks() {
        let valid = chunk.valid();
        let bytes = valid.as_bytes();
        let mut k = 0;
        while k < bytes.len() {
            let here = offset(at);
            let b = bytes[k];
            if b < 0x80 {
                // ASCII, nearly all of most texts: one byte, no decoding.
                let c = match b {
                    b'\n' => '\n',
                    b if b.is_ascii_whitespace() => ' ',
                    b => b.to_ascii_lowercase() as char,
                };
                units.push(Unit { c, at: here });
                k += 1;
                at += 1;
                continue;
            }
            let Some(c) = valid[k..].chars().next() else {
                break;
            };
            let len = c.len_utf8();
            if let Some(t) = tag_char(c) {
                out.invisible += 1;
                tags.extend(t);
                tag_span = (tag_span.0.min(at), at + len);
            } else if is_invisible(c) {
                out.invisible += 1;
            } else if let Some(q) = plain_quote(c) {
                units.push(Unit { c: q, at: here });
            } else if c.is_whitespace() {
                let c = if matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}') {
                    '\n'
                } else {
                    ' '
                };
                units.push(Unit { c, at: here });
            } else {
                // Compatibility-decompose; when the base is ASCII (full-width, mathematical,
                // accented Latin) keep the base and drop the marks, otherwise keep the character
                // itself (Cyrillic й stays й, not и).
                let mut parts = [' '; 8];
                let mut n = 0;
                decompose_compatible(c, |d| {
                    if n < parts.len() {
                        parts[n] = d;
                    }
                    n += 1;
                });
                if n > 0 && n <= parts.len() && parts[0].is_ascii() {
                    for &d in &parts[..n] {
                        if is_combining_mark(d) || is_invisible(d) {
                            continue;
                        }
                        if d.is_whitespace() {
                            units.push(Unit { c: ' ', at: here });
                            continue;
                        }
                        for l in d.to_lowercase() {
                            units.push(Unit { c: l, at: here });
                        }
                    }
                } else {
                    for l in c.to_lowercase() {
                        units.push(Unit { c: l, at: here });
                    }
                }
            }
            k += len;
            at += len;
        }
        if !chunk.invalid().is_empty() {
            let here = offset(at);
            units.push(Unit { c: ' ', at: here });
            at += chunk.invalid().len();
        }
    }
    let end = offset(at);
    if !tags.trim().is_empty() {
        out.tag_text = Some((tags, tag_span.0, tag_span.1));
    }
    fold_words(&mut units, &mut out);
    let (runs, blocks) = spaced_blocks(&units);
    join_and_finish(units, &runs, &blocks, end, &mut out);
    out
}

/// An offset in the original as the map stores it (clamped at 4 GiB: callers scan large inputs in
/// chunks).
fn offset(at: usize) -> u32 {
    at.min(u32::MAX as usize) as u32
}

/// Join the spaced-letter blocks, then write the view.
fn join_and_finish(
    units: Vec<Unit>,
    runs: &[Run],
    blocks: &[Block],
    end: u32,
    out: &mut Normalized,
) {
    let units = join_spaced_letters(units, runs, blocks, out);
    finish(out, units.iter().map(|u| (u.c, u.at)), end);
}

/// Write the view: runs of blanks become one space; every byte gets the offset of its character.
fn finish(out: &mut Normalized, chars: impl ExactSizeIterator<Item = (char, u32)>, end: u32) {
    out.text.reserve(chars.len());
    out.map.reserve(chars.len() + 1);
    let mut last = '\n';
    for (c, at) in chars {
        if c == ' ' && last == ' ' {
            continue;
        }
        last = c;
        out.text.push(c);
        out.map.resize(out.text.len(), at);
    }
    out.map.push(end);
}

/// Typographic quotes and primes as their ASCII forms.
fn plain_quote(c: char) -> Option<char> {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' => Some('\''),
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}'
        | '\u{00BB}' => Some('"'),
        _ => None,
    }
}

/// Unicode tag characters U+E0020..U+E007E carry ASCII invisibly.
fn tag_char(c: char) -> Option<Option<char>> {
    let v = c as u32;
    if (0xE0000..=0xE007F).contains(&v) {
        Some(if (0xE0020..=0xE007E).contains(&v) {
            char::from_u32(v - 0xE0000)
        } else {
            None
        })
    } else {
        None
    }
}

/// Characters that render as nothing: zero-width, joiners, bidi controls, word joiners, invisible
/// operators, variation selectors, fillers, soft hyphen.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// Look-alike letters (lowercase) and the Latin letter they imitate.
fn confusable(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'г' => 'r',
        'е' | 'ё' | 'є' => 'e',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'п' => 'n',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' | 'ү' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'һ' => 'h',
        'ӏ' => 'l',
        'ɡ' => 'g',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        // Latin look-alikes outside ASCII (small capitals, dotless i, script letters)
        'ı' | 'ɩ' | 'ɪ' => 'i',
        'ɑ' | 'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        _ => return None,
    })
}

/// Leetspeak digits and symbols and the letter they stand for.
fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '@' => 'a',
        '$' => 's',
        _ => return None,
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '@' || c == '$'
}

/// Fold homoglyphs and leetspeak word by word.
fn fold_words<G: Glyph>(units: &mut [G], out: &mut Normalized) {
    // Words made only of look-alikes ("рау" in Cyrillic) are folded only in mostly-Latin text, so that
    // real Russian or Greek words ("все") stay what they are. Bytes (ASCII input) hold no look-alike,
    // so they skip the count.
    let latin_text = G::MAY_HOLD_LOOKALIKES && {
        let (mut latin, mut foreign) = (0usize, 0usize);
        for u in units.iter().copied() {
            if u.ch().is_ascii_alphabetic() {
                latin += 1;
            } else if u.ch().is_alphabetic() {
                foreign += 1;
            }
        }
        latin > foreign
    };
    let mut i = 0;
    while i < units.len() {
        if !is_word_char(units[i].ch()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut plain = true;
        while i < units.len() && is_word_char(units[i].ch()) {
            plain &= units[i].ch().is_ascii_alphabetic();
            i += 1;
        }
        if plain {
            // Latin letters only, nearly every word: nothing to fold.
            continue;
        }
        // An e-mail address ("bob@example.com") is not leetspeak: a word with '@' followed by a
        // dot and more.
        let dot_follows =
            i + 1 < units.len() && units[i].ch() == '.' && units[i + 1].ch().is_alphanumeric();
        let word = &mut units[start..i];
        let (mut ascii_letters, mut lookalikes, mut other_letters, mut leets) = (0, 0, 0, 0);
        let mut has_at = false;
        for u in word.iter().copied() {
            has_at |= u.ch() == '@';
            if u.ch().is_ascii_alphabetic() {
                ascii_letters += 1;
            } else if leet(u.ch()).is_some() {
                leets += 1;
            } else if !u.ch().is_ascii() && confusable(u.ch()).is_some() {
                lookalikes += 1;
            } else if u.ch().is_alphabetic() {
                other_letters += 1;
            }
        }
        // A word that mixes Latin with look-alikes, or is made only of look-alikes: fold it. A word of
        // real Cyrillic or Greek (letters with no Latin twin) is left alone.
        if lookalikes > 0
            && (ascii_letters > 0 || (latin_text && other_letters == 0 && lookalikes >= 2))
        {
            for u in word.iter_mut() {
                if let Some(l) = confusable(u.ch()) {
                    u.set(l);
                }
            }
            out.homoglyph_words += 1;
            ascii_letters += lookalikes;
        }
        // Leetspeak: letters and leet characters mixed in one word ("1gn0r3", "p@ssw0rd").
        let domain_follows = has_at && dot_follows;
        if leets > 0 && ascii_letters >= 2 && other_letters == 0 && !domain_follows {
            for u in word.iter_mut() {
                if let Some(l) = leet(u.ch()) {
                    u.set(l);
                }
            }
            out.leet_words += 1;
        }
    }
}

/// Separators allowed between spaced letters.
fn is_spacer(c: char) -> bool {
    matches!(c, ' ' | '.' | '-' | '_' | '*')
}

/// Join "i g n o r e   a l l" into "ignore all": runs of single letters each followed by exactly one
/// spacer; runs separated by two to four spaces belong to one block, and a block with at least four
/// letters, one of its runs at least three long, is joined (gaps between runs become one space).
/// A run of spaced single letters: `(start, end_exclusive, letters)`.
type Run = (usize, usize, usize);
/// A block of runs to join: an inclusive range of run indices.
type Block = (usize, usize);

/// Runs of spaced single letters `(start, end_exclusive, letters)` and the blocks of runs to join
/// (inclusive ranges of run indices): runs are single letters each followed by exactly one spacer;
/// runs separated by two to four spaces form a block, and a block with at least four letters, one
/// run at least three long, is joined.
fn spaced_blocks<G: Glyph>(units: &[G]) -> (Vec<Run>, Vec<Block>) {
    let n = units.len();
    let single = |i: usize| -> bool {
        units[i].ch().is_alphabetic()
            && (i == 0 || !units[i - 1].ch().is_alphanumeric())
            && (i + 1 >= n || !units[i + 1].ch().is_alphanumeric())
    };
    // A run needs a spacer right after its first letter, the cheap test, so almost every position
    // is passed over at once.
    let mut runs: Vec<Run> = Vec::new();
    let mut i = 0;
    while i + 2 < n {
        if !is_spacer(units[i + 1].ch()) || !single(i) {
            i += 1;
            continue;
        }
        let s = i;
        let mut letters = 1;
        let mut j = i;
        while j + 2 < n && is_spacer(units[j + 1].ch()) && single(j + 2) {
            j += 2;
            letters += 1;
        }
        if letters >= 2 {
            runs.push((s, j + 1, letters));
        }
        i = j + 1;
    }
    let mut blocks: Vec<Block> = Vec::new();
    let mut r = 0;
    while r < runs.len() {
        let mut last = r;
        while last + 1 < runs.len() {
            let gap = &units[runs[last].1..runs[last + 1].0];
            if (2..=4).contains(&gap.len()) && gap.iter().all(|u| u.ch() == ' ') {
                last += 1;
            } else {
                break;
            }
        }
        let block = &runs[r..=last];
        let letters: usize = block.iter().map(|b| b.2).sum();
        if letters >= 4 && block.iter().any(|b| b.2 >= 3) {
            blocks.push((r, last));
        }
        r = last + 1;
    }
    (runs, blocks)
}

/// Join "i g n o r e   a l l" into "ignore all": the blocks [`spaced_blocks`] found (gaps between
/// runs become one space).
fn join_spaced_letters(
    units: Vec<Unit>,
    runs: &[Run],
    blocks: &[Block],
    out: &mut Normalized,
) -> Vec<Unit> {
    if blocks.is_empty() {
        return units;
    }
    let mut result = Vec::with_capacity(units.len());
    let mut pos = 0;
    for &(first, last) in blocks {
        let block = &runs[first..=last];
        result.extend_from_slice(&units[pos..block[0].0]);
        for (k, &(s, e, _)) in block.iter().enumerate() {
            if k > 0 {
                result.push(Unit {
                    c: ' ',
                    at: units[block[k - 1].1].at,
                });
            }
            result.extend(units[s..e].iter().copied().filter(|u| !is_spacer(u.c)));
        }
        pos = block[block.len() - 1].1;
        out.spaced_runs += 1;
    }
    result.extend_from_slice(&units[pos..]);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(s: &str) -> String {
        normalize(s.as_bytes()).text
    }

    #[test]
    fn ascii_is_lowercased_and_mapped() {
        let n = normalize(b"Ignore ALL");
        assert_eq!(n.text, "ignore all");
        assert_eq!(n.original_span(7, 10), (7, 10));
    }

    #[test]
    fn obfuscations_fold_to_the_plain_phrase() {
        assert_eq!(view("ig\u{200b}no\u{200d}re previous"), "ignore previous");
        assert_eq!(view("ＩＧＮＯＲＥ previous"), "ignore previous");
        assert_eq!(view("іgnоrе previous"), "ignore previous"); // Cyrillic і, о, е
        assert_eq!(view("1gn0r3 pr3v10us"), "ignore previous");
        assert_eq!(view("i g n o r e   p r e v i o u s"), "ignore previous");
        assert_eq!(view("ïgnöré"), "ignore");
        assert_eq!(view("𝐢𝐠𝐧𝐨𝐫𝐞"), "ignore");
    }

    #[test]
    fn real_words_in_other_scripts_and_numbers_stay() {
        assert_eq!(view("Игнорируй"), "игнорируй");
        assert_eq!(view("in 2024 we sold 3000"), "in 2024 we sold 3000");
        assert_eq!(view("a b c"), "a b c");
        assert_eq!(view("忽略之前的指令"), "忽略之前的指令");
    }

    #[test]
    fn spans_map_back_through_removed_and_expanded_characters() {
        let s = "say: ig\u{200b}nore previous";
        let n = normalize(s.as_bytes());
        let at = n.text.find("ignore").unwrap();
        let (os, oe) = n.original_span(at, at + "ignore previous".len());
        assert_eq!(&s[os..oe], "ig\u{200b}nore previous");
        assert_eq!(n.invisible, 1);
    }

    #[test]
    fn tag_characters_are_decoded_as_a_hidden_layer() {
        let hidden: String = "ignore"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap())
            .collect();
        let s = format!("hello{hidden} world");
        let n = normalize(s.as_bytes());
        assert_eq!(n.text, "hello world");
        assert_eq!(n.tag_text.as_ref().unwrap().0, "ignore");
    }

    #[test]
    fn invalid_utf8_becomes_a_space() {
        let n = normalize(b"ab\xffcd");
        assert_eq!(n.text, "ab cd");
        assert_eq!(n.original_span(3, 5), (3, 5));
    }
}
