//! Personal-data detectors: e-mail addresses, phone numbers, payment cards, IBANs, IP addresses and
//! US social security numbers.
//!
//! Each detector has its own cheap anchor instead of a regex over the whole input: `@` for e-mail,
//! runs of digits for numbers, two capitals and two digits for IBANs, `:` for IPv6. Candidates are then
//! validated with the format's own rules (Luhn and issuer ranges, mod-97 and country lengths, SSN
//! area/group/serial ranges, address parsing).

mod addresses;
mod numbers;

use crate::finding::{Finding, FindingKind, Severity, preview};
use crate::scan::cfg::PiiConfig;

use addresses::*;
pub(crate) use numbers::*;

/// Every PII rule: id, severity, description.
pub const PII_RULES: &[(&str, Severity, &str)] = &[
    ("email", Severity::Low, "E-mail address"),
    ("phone", Severity::Low, "Phone number"),
    ("credit-card", Severity::High, "Payment card number"),
    (
        "iban",
        Severity::Medium,
        "International bank account number",
    ),
    ("ipv4", Severity::Low, "IPv4 address"),
    ("ipv6", Severity::Low, "IPv6 address"),
    ("us-ssn", Severity::High, "US social security number"),
];

/// The compiled set of enabled PII detectors.
#[derive(Debug, Clone)]
pub(crate) struct PiiDetector {
    email: bool,
    phone: bool,
    card: bool,
    iban: bool,
    ip: bool,
    ip6: bool,
    ssn: bool,
}

fn on(cfg: &PiiConfig, flag: bool, id: &str, disabled: &[String]) -> bool {
    cfg.enabled && flag && !disabled.iter().any(|d| d == id)
}

impl PiiDetector {
    pub(crate) fn new(cfg: &PiiConfig, disabled: &[String]) -> Self {
        PiiDetector {
            email: on(cfg, cfg.email, "email", disabled),
            phone: on(cfg, cfg.phone, "phone", disabled),
            card: on(cfg, cfg.credit_card, "credit-card", disabled),
            iban: on(cfg, cfg.iban, "iban", disabled),
            ip: on(cfg, cfg.ip_address, "ipv4", disabled),
            ip6: on(cfg, cfg.ip_address, "ipv6", disabled),
            ssn: on(cfg, cfg.us_ssn, "us-ssn", disabled),
        }
    }

    pub(crate) fn scan(&self, text: &[u8], out: &mut Vec<Finding>) {
        if self.email {
            scan_emails(text, out);
        }
        let numbers = self.phone || self.card || self.ssn || self.ip;
        if numbers || self.iban || self.ip6 {
            self.scan_numbers_and_colons(text, numbers, out);
        }
    }

    /// One pass for every number-shaped kind and IBANs, which hold a digit, and IPv6 addresses,
    /// which hold colons: the pass visits only the digits that can start one and the colons that
    /// can be in one, and looks around each.
    fn scan_numbers_and_colons(&self, text: &[u8], numbers: bool, out: &mut Vec<Finding>) {
        let n = text.len();
        // Everything before this offset is decided: inside a match, or in a word skipped whole.
        let mut next = 0;
        // The same for addresses: no colon before it needs a look.
        let mut last_end = 0;
        let kinds = Starts {
            runs: numbers,
            iban: self.iban,
            colons: self.ip6,
        };
        for_each_start(text, kinds, |start| {
            let d = match start {
                Start::Colon(c) => {
                    if c >= last_end {
                        last_end = ipv6_at(text, c, out);
                    }
                    return;
                }
                Start::Number(d) => d,
            };
            if d < next {
                return;
            }
            // An IBAN: two capitals starting a word, then this digit (and another, which `iban_at`
            // checks with the rest).
            if self.iban
                && d >= 2
                && text[d - 2].is_ascii_uppercase()
                && text[d - 1].is_ascii_uppercase()
                && let Some(end) = iban_at(text, d - 2)
            {
                push(out, "iban", d - 2, end, text);
                next = end;
                return;
            }
            // Nothing of ours starts inside a word: `abc123` is an identifier.
            if !numbers || (d > 0 && is_word(text[d - 1])) {
                return;
            }
            // A `+` or `(` just before the digit opens the number, unless it is glued to a word.
            let start = match d.checked_sub(1).map(|p| text[p]) {
                Some(b'+' | b'(') if d < 2 || !is_word(text[d - 2]) => d - 1,
                _ => d,
            };
            let end = number_run_end(text, start);
            // A number glued to letters (`123abc`) is an identifier too.
            if end < n && is_word(text[end]) {
                next = skip_word(text, end);
                return;
            }
            self.classify_number(text, start, end, out);
            next = end;
        });
    }

    fn classify_number(&self, text: &[u8], start: usize, end: usize, out: &mut Vec<Finding>) {
        let mut start = start;
        if text[start] == b'(' && !text[start..end].contains(&b')') {
            start += 1;
        }
        // A number joined to a word by a dash continues an identifier, not a number of its own:
        // the last group of a UUID (`...-954c-647334391198`), `build-20261205`.
        if start >= 2 && text[start - 1] == b'-' && is_word(text[start - 2]) {
            return;
        }
        let span = &text[start..end];
        // Fast exit for the common case: short numbers (counts, ports, years, timings). Every kind
        // below needs at least 7 digits, except IPv4, which needs three dots.
        let (nd, dots) = span.iter().fold((0usize, 0usize), |(d, p), &b| {
            (
                d + usize::from(b.is_ascii_digit()),
                p + usize::from(b == b'.'),
            )
        });
        if nd < 7 && dots < 3 {
            return;
        }
        let digits: Vec<u8> = span
            .iter()
            .filter(|b| b.is_ascii_digit())
            .copied()
            .collect();
        if self.ip && (is_ipv4(span) || is_ipv4_cidr(span)) {
            push(out, "ipv4", start, end, text);
            return;
        }
        if self.card
            && (is_card(span, &digits)
                || (digits.len() == 12
                    && card_context(text, start)
                    && is_card_from(span, &digits, 12)))
        {
            push(out, "credit-card", start, end, text);
            return;
        }
        if self.ssn && is_ssn(span, &digits) {
            push(out, "us-ssn", start, end, text);
            return;
        }
        if self.phone
            && (is_phone(span, &digits)
                || (phone_context(text, start, end) && is_contextual_phone(span, &digits)))
        {
            push(out, "phone", start, end, text);
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_word(text: &[u8], mut i: usize) -> usize {
    while i < text.len() && (is_word(text[i]) || text[i] == b'.') {
        i += 1;
    }
    i
}

/// The end of a run of digits joined by single separators (`-`, `.`, ` `, `/`) and phone punctuation.
fn number_run_end(text: &[u8], start: usize) -> usize {
    let n = text.len();
    let mut i = start;
    let mut last_digit_end = start;
    let mut groups = 0;
    if text[i] == b'+' {
        i += 1;
    }
    while i < n && groups < 12 {
        if text[i] == b'(' {
            i += 1;
        }
        let g = i;
        while i < n && text[i].is_ascii_digit() && i - g < 20 {
            i += 1;
        }
        if i == g {
            break;
        }
        groups += 1;
        last_digit_end = i;
        if i < n && text[i] == b')' {
            i += 1;
            if i < n && text[i] == b' ' {
                i += 1;
            }
            continue;
        }
        // one separator, followed by a digit or an opening parenthesis
        if i + 1 < n
            && matches!(text[i], b'-' | b'.' | b' ' | b'/')
            && (text[i + 1].is_ascii_digit() || text[i + 1] == b'(')
        {
            i += 1;
            continue;
        }
        break;
    }
    last_digit_end
}

fn push(out: &mut Vec<Finding>, rule: &'static str, start: usize, end: usize, text: &[u8]) {
    let Some(&(_, severity, desc)) = PII_RULES.iter().find(|r| r.0 == rule) else {
        return;
    };
    out.push(Finding {
        kind: FindingKind::Pii,
        rule: rule.to_string(),
        category: None,
        severity,
        location: crate::Location::Span(crate::Span { start, end }),
        message: desc.to_string(),
        preview: preview(&text[start..end]),
    });
}

/// What [`for_each_start`] looks for.
#[derive(Clone, Copy)]
struct Starts {
    /// Digits that can open a number.
    runs: bool,
    /// Digits after two capitals.
    iban: bool,
    /// Colons that can be in an IPv6 address.
    colons: bool,
}

/// A place [`for_each_start`] found.
enum Start {
    Number(usize),
    Colon(usize),
}

/// Call `f` with every place something of ours can be, in order within each 64-byte block, the
/// numbers of a block before its colons:
/// - with `runs`, a digit that follows no letter, digit or `_`, and is followed by at least five
///   more bytes a number may hold (digits, `+`, `(`, `)`, `-`, `.`, `/`, space): every kind but the
///   IBAN needs seven such bytes from its start, which is this digit or a `+` or `(` just before
///   it, so a shorter run (a count, a port, a time, `4346,`) cannot be one and is never visited;
/// - with `iban`, a digit that follows two capitals;
/// - with `colons`, a colon with an address byte beside it, unless it is in a run of address bytes
///   glued to a word on its left (`T06:41:16`, `Error::new`) within [`ipv6_at`]'s reach, where
///   that would give up: most colons, in `"name": 1` or `ctx: &T`, are passed over in the masks.
///
/// The text is read 64 bytes at a time with vector instructions. A block without a digit or a
/// colon costs one test; in the others every class is one bit per byte, so the places come out of
/// a few masks without a branch per byte.
fn for_each_start(text: &[u8], kinds: Starts, mut f: impl FnMut(Start)) {
    use lanes::{digit, eq};
    let at =
        |i: Option<usize>, class: fn(&u8) -> bool| i.and_then(|i| text.get(i)).is_some_and(class);
    let numbers = kinds.runs || kinds.iban;
    for k in 0..text.len().div_ceil(64) {
        let bytes = block(text, k);
        let wanted = |x| match (numbers, kinds.colons) {
            (true, true) => digit(x) | eq(x, b':'),
            (true, false) => digit(x),
            (false, _) => eq(x, b':'),
        };
        if !lanes::any(&bytes, wanted) {
            continue;
        }
        let cur = ByteClasses::of(&bytes);
        let before = (k * 64).checked_sub(1);
        let word_before = u64::from(at(before, |&b| is_word(b)));
        if numbers && cur.digit != 0 {
            let mut starts = 0;
            if kinds.runs {
                let open = cur.digit & !(cur.word << 1 | word_before);
                // Six number bytes in a row from each byte on: the five last bytes' runs reach
                // into the next block, which is classified only when one of them could start a
                // number.
                let next_number = if open >> 59 != 0 {
                    lanes::mask(&block(text, k + 1), number_byte)
                } else {
                    0
                };
                let number = u128::from(cur.number) | u128::from(next_number) << 64;
                let run =
                    number & number >> 1 & number >> 2 & number >> 3 & number >> 4 & number >> 5;
                starts = open & run as u64;
            }
            if kinds.iban {
                let upper = |i| u64::from(at(i, u8::is_ascii_uppercase));
                let upper_before = cur.upper << 1 | upper(before);
                let upper_two_before = cur.upper << 2
                    | upper(before) << 1
                    | upper(before.and_then(|b| b.checked_sub(1)));
                starts |= cur.digit & upper_before & upper_two_before;
            }
            for_each_bit(starts, |i| f(Start::Number(k * 64 + i)));
        }
        if !kinds.colons {
            continue;
        }
        let colon = lanes::mask(&bytes, |x| eq(x, b':'));
        if colon == 0 {
            continue;
        }
        let address = lanes::mask(&bytes, ipv6_byte);
        let prev = at(before, |&b| is_ipv6_byte(b));
        let next = at(Some(k * 64 + 64), |&b| is_ipv6_byte(b));
        let candidates =
            colon & (address << 1 | u64::from(prev) | address >> 1 | u64::from(next) << 63);
        if candidates == 0 {
            continue;
        }
        let glued = glued_runs(address, cur.word, prev, word_before == 1);
        for_each_bit(candidates, |i| {
            if glued.bits >> i & 1 == 1 {
                let start = 63 - (glued.starts & u64::MAX >> (63 - i)).leading_zeros() as usize;
                if i - start <= IPV6_REACH {
                    return;
                }
            }
            f(Start::Colon(k * 64 + i));
        });
    }
}

/// Call `f` with the index of every set bit of `bits`, lowest first.
fn for_each_bit(mut bits: u64, mut f: impl FnMut(usize)) {
    while bits != 0 {
        f(bits.trailing_zeros() as usize);
        bits &= bits - 1;
    }
}

/// Block `k` of 64 bytes of `text`, zero-padded past its end (a zero byte is in no class).
#[inline]
fn block(text: &[u8], k: usize) -> [u8; 64] {
    let mut b = [0u8; 64];
    match text.get(k * 64..k * 64 + 64) {
        Some(full) => b.copy_from_slice(full),
        None => {
            let rest = text.get(k * 64..).unwrap_or_default();
            b[..rest.len()].copy_from_slice(rest);
        }
    }
    b
}

/// The bytes a number may hold (see [`ByteClasses::number`]).
#[inline]
fn number_byte(x: wide::u8x16) -> wide::u8x16 {
    use lanes::{eq, in_range};
    (in_range(x, b'(', b'9') & !eq(x, b',')) | eq(x, b' ')
}

/// Byte classes 16 bytes at a time with vector instructions (`wide`: SSE2 on x86-64, NEON on
/// aarch64, plain code elsewhere), as one bit per byte.
mod lanes {
    use wide::u8x16;

    /// The 64-bit mask of the bytes in `class` (bit `i` for byte `i`).
    #[inline]
    pub(super) fn mask(bytes: &[u8; 64], class: impl Fn(u8x16) -> u8x16) -> u64 {
        bytes.chunks_exact(16).enumerate().fold(0, |m, (k, lane)| {
            let x = u8x16::new(lane.try_into().unwrap_or([0; 16]));
            m | u64::from(class(x).to_bitmask()) << (16 * k)
        })
    }

    /// Whether any of the 64 bytes is in `class`.
    #[inline]
    pub(super) fn any(bytes: &[u8; 64], class: impl Fn(u8x16) -> u8x16) -> bool {
        let lane = |k: usize| {
            let x: [u8; 16] = bytes[16 * k..16 * k + 16].try_into().unwrap_or([0; 16]);
            class(u8x16::new(x))
        };
        (lane(0) | lane(1) | lane(2) | lane(3)).to_bitmask() != 0
    }

    /// Unsigned `lo <= x <= hi` per lane: `x - lo` wraps below `lo`.
    #[inline]
    pub(super) fn in_range(x: u8x16, lo: u8, hi: u8) -> u8x16 {
        let d = x - u8x16::splat(lo);
        d.min(u8x16::splat(hi - lo)).simd_eq(d)
    }

    #[inline]
    pub(super) fn eq(x: u8x16, b: u8) -> u8x16 {
        x.simd_eq(u8x16::splat(b))
    }

    #[inline]
    pub(super) fn digit(x: u8x16) -> u8x16 {
        in_range(x, b'0', b'9')
    }

    /// ASCII letters: setting bit 5 lower-cases them and moves no other byte into `a..=z`.
    #[inline]
    pub(super) fn letter(x: u8x16) -> u8x16 {
        in_range(x | u8x16::splat(0x20), b'a', b'z')
    }
}

/// For 64 bytes, one bit per byte (bit `i` for byte `i`) and class.
#[derive(Clone, Copy, Default)]
struct ByteClasses {
    digit: u64,
    /// Letters, digits and `_`.
    word: u64,
    upper: u64,
    /// The bytes a number may hold: digits and `(`, `)`, `+`, `-`, `.`, `/`, space, and `*`
    /// (0x28 to 0x2f but `,`): `*` is counted only so that the class is one range and two bytes, and
    /// a wider class only visits more starts.
    number: u64,
}

impl ByteClasses {
    fn of(bytes: &[u8; 64]) -> Self {
        use lanes::{digit, eq, in_range, letter};
        let mut c = ByteClasses::default();
        for (k, lane) in bytes.chunks_exact(16).enumerate() {
            let x = wide::u8x16::new(lane.try_into().unwrap_or([0; 16]));
            let bits = |m: wide::u8x16| u64::from(m.to_bitmask()) << (16 * k);
            let d = digit(x);
            c.digit |= bits(d);
            c.word |= bits(d | letter(x) | eq(x, b'_'));
            c.upper |= bits(in_range(x, b'A', b'Z'));
            c.number |= bits(number_byte(x));
        }
        c
    }
}

/// [`is_ipv6_byte`], 16 bytes at a time.
#[inline]
fn ipv6_byte(x: wide::u8x16) -> wide::u8x16 {
    use lanes::{digit, eq, in_range};
    digit(x) | in_range(x | wide::u8x16::splat(0x20), b'a', b'f') | eq(x, b':') | eq(x, b'.')
}

/// The runs of address bytes that start in a block right after a word byte (a letter beyond `f`,
/// `_`, or a digit or hex letter the block before ends a word with): a colon in one is no address.
struct GluedRuns {
    /// Every such run's bits.
    bits: u64,
    /// The first bit of each.
    starts: u64,
}

/// [`GluedRuns`] of a block, given its address bytes, its word bytes, and whether the byte before
/// the block is an address byte and a word byte. A run that goes on from the block before is never counted (its
/// start is not here). Adding a run's first bit to the mask carries through the run: the bits that
/// change are the run's and the one after it.
fn glued_runs(address: u64, word: u64, prev_address: bool, prev_word: bool) -> GluedRuns {
    let run_starts = address & !(address << 1 | u64::from(prev_address));
    let starts = run_starts & (word << 1 | u64::from(prev_word));
    GluedRuns {
        bits: (address.wrapping_add(starts) ^ address) & address,
        starts,
    }
}

#[cfg(test)]
mod tests;
