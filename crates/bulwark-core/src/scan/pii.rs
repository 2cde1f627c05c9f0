//! Personal-data detectors: e-mail addresses, phone numbers, payment cards, IBANs, IP addresses and
//! US social security numbers.
//!
//! Each detector has its own cheap anchor instead of a regex over the whole input: `@` for e-mail,
//! runs of digits for numbers, two capitals and two digits for IBANs, `:` for IPv6. Candidates are then
//! validated with the format's own rules (Luhn and issuer ranges, mod-97 and country lengths, SSN
//! area/group/serial ranges, address parsing).

use crate::finding::{Finding, FindingKind, Severity, preview};
use crate::scan::cfg::PiiConfig;

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
        field: None,
        kind: FindingKind::Pii,
        rule: rule.to_string(),
        category: None,
        severity,
        start,
        end,
        line: None,
        column: None,
        message: desc.to_string(),
        preview: preview(&text[start..end]),
    });
}

fn is_ipv4(span: &[u8]) -> bool {
    let parts: Vec<&[u8]> = span.split(|&b| b == b'.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.iter().all(u8::is_ascii_digit)
                && !(p.len() > 1 && p[0] == b'0')
                && std::str::from_utf8(p)
                    .ok()
                    .and_then(|s| s.parse::<u16>().ok())
                    .is_some_and(|v| v <= 255)
        })
}

/// `10.0.0.0/8`: an IPv4 address with a prefix length.
fn is_ipv4_cidr(span: &[u8]) -> bool {
    let Some(slash) = span.iter().position(|&b| b == b'/') else {
        return false;
    };
    let len = &span[slash + 1..];
    is_ipv4(&span[..slash])
        && !len.is_empty()
        && len.len() <= 3
        && len.iter().all(u8::is_ascii_digit)
}

/// Words before a number that say it is a phone number.
const PHONE_WORDS_BEFORE: &[&[u8]] = &[
    b"phone",
    b"tel",
    b"mobile",
    b"cell",
    b"fax",
    b"call",
    b"desk",
    b"whatsapp",
    b"sms",
];
/// Words right after a number that say it is a phone number (`416 60 039 office`).
const PHONE_WORDS_AFTER: &[&[u8]] = &[b"office", b"fax", b"mobile", b"phone", b"cell"];

/// Whether a phone word stands within a few bytes before or after `start..end`.
fn phone_context(text: &[u8], start: usize, end: usize) -> bool {
    let before = text[start.saturating_sub(24)..start].to_ascii_lowercase();
    let after = text[end..(end + 12).min(text.len())].to_ascii_lowercase();
    PHONE_WORDS_BEFORE
        .iter()
        .any(|w| memchr::memmem::find(&before, w).is_some())
        || PHONE_WORDS_AFTER
            .iter()
            .any(|w| memchr::memmem::find(&after, w).is_some())
}

/// Next to a phone word, shorter and looser national forms count too: 7 to 15 digits in at least
/// two groups (`467 3395`, `(99) 645-791`, `21 284 698 2548`).
fn is_contextual_phone(span: &[u8], digits: &[u8]) -> bool {
    let groups = span
        .split(|b| !b.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .count();
    (7..=15).contains(&digits.len())
        && (groups >= 2 || span.first() == Some(&b'+'))
        && !span.contains(&b'/')
        && !is_date(span)
}

/// A calendar date (`2026-12-05`, `05.12.2026`, `2026.12.05`): four-digit year, month 1-12 and day
/// 1-31, one separator.
fn is_date(span: &[u8]) -> bool {
    let groups: Vec<&[u8]> = span
        .split(|b| !b.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let seps: Vec<u8> = span
        .iter()
        .filter(|b| !b.is_ascii_digit())
        .copied()
        .collect();
    if groups.len() != 3 || seps.len() != 2 || seps[0] != seps[1] || !b"-./".contains(&seps[0]) {
        return false;
    }
    let num = |g: &[u8]| prefix_num(g, g.len());
    let (y, m, d) = match (groups[0].len(), groups[2].len()) {
        (4, 1..=2) => (groups[0], groups[1], groups[2]),
        (1..=2, 4) => (groups[2], groups[1], groups[0]),
        _ => return false,
    };
    y.len() == 4
        && (1..=2).contains(&m.len())
        && (1..=12).contains(&num(m))
        && (1..=2).contains(&d.len())
        && (1..=31).contains(&num(d))
}

/// Luhn checksum over ASCII digits.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits[..n.min(digits.len())]
        .iter()
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// A payment card: 13 to 19 digits, grouped by spaces or dashes only, a known issuer range, Luhn.
/// Twelve digits (Maestro) count only next to a card word ([`card_context`]): bare, they are AWS
/// account ids far more often than cards.
fn is_card(span: &[u8], digits: &[u8]) -> bool {
    is_card_from(span, digits, 13)
}

/// Words that say a number is a card, looked for just before it.
const CARD_WORDS: &[&[u8]] = &[b"card", b"cc ", b"cc#", b"maestro", b"credit", b"debit"];

/// Whether a card word stands in the 24 bytes before `start`.
fn card_context(text: &[u8], start: usize) -> bool {
    let before = text[start.saturating_sub(24)..start].to_ascii_lowercase();
    CARD_WORDS
        .iter()
        .any(|w| memchr::memmem::find(&before, w).is_some())
}

fn is_card_from(span: &[u8], digits: &[u8], min_len: usize) -> bool {
    let len = digits.len();
    if !(min_len..=19).contains(&len) || span.iter().any(|b| matches!(b, b'.' | b'/' | b'(' | b'+'))
    {
        return false;
    }
    if digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    card_issuer(digits) && luhn(digits)
}

/// Whether a card number's prefix and length fall in a published issuer range.
fn card_issuer(digits: &[u8]) -> bool {
    let len = digits.len();
    let p = |n| prefix_num(digits, n);
    let long = (16..=19).contains(&len);
    let visa = p(1) == 4 && matches!(len, 13 | 16 | 19);
    let mastercard = ((51..=55).contains(&p(2)) || (2221..=2720).contains(&p(4))) && len == 16;
    let amex = matches!(p(2), 34 | 37) && len == 15;
    let diners =
        ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39)) && (14..=19).contains(&len);
    let jcb = ((3528..=3589).contains(&p(4)) && long) || (matches!(p(4), 2131 | 1800) && len == 15);
    let discover = (p(4) == 6011 || p(2) == 65 || (644..=649).contains(&p(3))) && long;
    let unionpay = p(2) == 62 && long;
    let maestro = (p(2) == 50 || (56..=69).contains(&p(2))) && (12..=19).contains(&len);
    let uatp = p(1) == 1 && len == 15;
    visa || mastercard || amex || diners || jcb || discover || unionpay || maestro || uatp
}

/// A US SSN: `AAA-GG-SSSS` with one consistent separator (`-`, space or `.`); area not 000, 666 or
/// 900-999; group not 00; serial not 0000; the advertising numbers 078-05-1120 and 219-09-9999 excluded.
fn is_ssn(span: &[u8], digits: &[u8]) -> bool {
    if digits.len() != 9 || span.len() != 11 {
        return false;
    }
    let sep = span[3];
    if !matches!(sep, b'-' | b' ' | b'.') || span[6] != sep {
        return false;
    }
    let area = prefix_num(digits, 3);
    let group = prefix_num(&digits[3..], 2);
    let serial = prefix_num(&digits[5..], 4);
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    digits != b"078051120" && digits != b"219099999"
}

/// A phone number: E.164 (`+` and 8 to 15 digits, first digit 1-9), or a national form of 10 to 11
/// digits written with phone punctuation (`(415) 555-0132`, `415-555-0132`, `415.555.0132`).
fn is_phone(span: &[u8], digits: &[u8]) -> bool {
    let len = digits.len();
    if span.first() == Some(&b'+') {
        return (8..=15).contains(&len) && digits[0] != b'0';
    }
    let has_paren = span.contains(&b'(');
    let groups: Vec<usize> = span
        .split(|b| !b.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(<[u8]>::len)
        .collect();
    if span.contains(&b'/') || groups.len() < 2 {
        return false;
    }
    // Dates are not phones: 2024-01-31, 31.01.2024.
    if is_date(span) {
        return false;
    }
    let national = (10..=11).contains(&len) || (len == 9 && digits[0] == b'0' && groups.len() == 2);
    if !national {
        return false;
    }
    let seps: Vec<u8> = span
        .iter()
        .filter(|b| matches!(b, b'-' | b'.' | b' '))
        .copied()
        .collect();
    let consistent = seps.windows(2).all(|w| w[0] == w[1]) || has_paren;
    consistent
        && groups
            .iter()
            .all(|&g| (2..=4).contains(&g) || (g == 1 && len == 11 && groups[0] == 1))
        && !(span.contains(&b'.') && groups.len() == 4 && groups.iter().all(|&g| g <= 3))
}

/// Characters of an e-mail local part.
fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn scan_emails(text: &[u8], out: &mut Vec<Finding>) {
    let mut last_end = 0;
    for at in memchr::memchr_iter(b'@', text) {
        if at < last_end {
            continue;
        }
        let mut s = at;
        while s > 0 && at - s < 64 && is_local(text[s - 1]) {
            s -= 1;
        }
        while s < at && matches!(text[s], b'.' | b'\'' | b'-' | b'+') {
            s += 1;
        }
        if s == at || text[at - 1] == b'.' {
            continue;
        }
        let mut e = at + 1;
        while e < text.len()
            && e - at < 255
            && (text[e].is_ascii_alphanumeric() || matches!(text[e], b'.' | b'-'))
        {
            e += 1;
        }
        while e > at + 1 && matches!(text[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let domain = &text[at + 1..e];
        if !valid_domain(domain) {
            continue;
        }
        push(out, "email", s, e, text);
        last_end = e;
    }
}

fn valid_domain(d: &[u8]) -> bool {
    let labels: Vec<&[u8]> = d.split(|&b| b == b'.').collect();
    if labels.len() < 2 {
        return false;
    }
    if labels
        .iter()
        .any(|l| l.is_empty() || l.len() > 63 || l[0] == b'-' || l[l.len() - 1] == b'-')
    {
        return false;
    }
    let tld = labels[labels.len() - 1];
    (tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)) || tld.starts_with(b"xn--")
}

/// IBAN lengths by country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// The end of a valid IBAN starting at `i` (country code, check digits, groups of four optionally
/// separated by single spaces), if there is one.
fn iban_at(text: &[u8], i: usize) -> Option<usize> {
    let n = text.len();
    let c = text.get(i..i + 4)?;
    if !(c[0].is_ascii_uppercase()
        && c[1].is_ascii_uppercase()
        && c[2].is_ascii_digit()
        && c[3].is_ascii_digit())
        || (i > 0 && is_word(text[i - 1]))
    {
        return None;
    }
    let &(_, want) = IBAN_LENGTHS.iter().find(|(cc, _)| cc[..] == c[..2])?;
    let mut chars = Vec::with_capacity(want);
    let mut j = i;
    while j < n && chars.len() < want {
        let b = text[j];
        if b.is_ascii_digit() || b.is_ascii_uppercase() {
            chars.push(b);
            j += 1;
        } else if b == b' '
            && chars.len() % 4 == 0
            && j + 1 < n
            && text[j + 1].is_ascii_alphanumeric()
        {
            j += 1;
        } else {
            break;
        }
    }
    let boundary = j >= n || !text[j].is_ascii_alphanumeric();
    (chars.len() == want && boundary && iban_mod97(&chars)).then_some(j)
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

/// The bytes an IPv6 address is written with: hex digits, `:` and `.`.
fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// [`is_ipv6_byte`], 16 bytes at a time.
#[inline]
fn ipv6_byte(x: wide::u8x16) -> wide::u8x16 {
    use lanes::{digit, eq, in_range};
    digit(x) | in_range(x | wide::u8x16::splat(0x20), b'a', b'f') | eq(x, b':') | eq(x, b'.')
}

/// ISO 7064 mod 97-10 over the rearranged IBAN.
fn iban_mod97(iban: &[u8]) -> bool {
    let mut rem: u32 = 0;
    for &b in iban[4..].iter().chain(&iban[..4]) {
        if b.is_ascii_digit() {
            rem = (rem * 10 + u32::from(b - b'0')) % 97;
        } else {
            let v = u32::from(b - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
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

/// The longest an IPv6 address is written (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`): how far
/// [`ipv6_at`] looks on either side of a colon.
const IPV6_REACH: usize = 45;

/// Judge the address around the colon at `c`, pushing it if it is one; returns the offset before
/// which no other colon needs a look.
fn ipv6_at(text: &[u8], c: usize, out: &mut Vec<Finding>) -> usize {
    let n = text.len();
    let mut s = c;
    while s > 0 && c - s < IPV6_REACH && is_ipv6_byte(text[s - 1]) {
        s -= 1;
    }
    if s > 0 && (text[s - 1].is_ascii_alphanumeric() || text[s - 1] == b'_') {
        // Glued to a word (`T06:41:16`). Every later colon of this run within 45 bytes of `s`
        // walks back to the same `s`: pass them over too.
        let mut e = c + 1;
        while e < n && e <= s + IPV6_REACH && is_ipv6_byte(text[e]) {
            e += 1;
        }
        return e;
    }
    let mut e = c;
    while e < n && e - s < IPV6_REACH && is_ipv6_byte(text[e]) {
        e += 1;
    }
    while e > c && text[e - 1] == b'.' {
        e -= 1;
    }
    let next = e.max(c + 1);
    if e < n && (text[e].is_ascii_alphanumeric() || text[e] == b'_') {
        return next;
    }
    let cand = &text[s..e];
    let colons = cand.iter().filter(|&&b| b == b':').count();
    let groups = cand.split(|&b| b == b':').filter(|g| !g.is_empty()).count();
    let compressed = memchr::memmem::find(cand, b"::").is_some();
    if colons < 2
        || (groups < 3 && !(compressed && groups >= 1))
        || !cand.iter().any(u8::is_ascii_digit)
        || std::str::from_utf8(cand)
            .ok()
            .and_then(|s| s.parse::<std::net::Ipv6Addr>().ok())
            .is_none()
    {
        return next;
    }
    // A zone (`%eth0`) and a prefix length (`/64`) belong to the address.
    let mut end = e;
    if end < n && text[end] == b'%' {
        let z = end + 1;
        let mut k = z;
        while k < n && k - z < 16 && (text[k].is_ascii_alphanumeric() || text[k] == b'_') {
            k += 1;
        }
        if k > z {
            end = k;
        }
    }
    if end < n && text[end] == b'/' {
        let mut k = end + 1;
        while k < n && k - end <= 3 && text[k].is_ascii_digit() {
            k += 1;
        }
        if k > end + 1 {
            end = k;
        }
    }
    push(out, "ipv6", s, end, text);
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::cfg::PiiConfig;

    fn rules(text: &str) -> Vec<(String, String)> {
        let d = PiiDetector::new(&PiiConfig::default(), &[]);
        let mut out = Vec::new();
        d.scan(text.as_bytes(), &mut out);
        out.into_iter()
            .map(|f| (f.rule, text[f.start..f.end].to_string()))
            .collect()
    }

    #[test]
    fn emails() {
        assert_eq!(
            rules("write to info@presidio.site."),
            vec![("email".into(), "info@presidio.site".into())]
        );
        assert!(rules("not an address: a@b, user@localhost").is_empty());
    }

    #[test]
    fn cards_need_luhn_and_issuer() {
        assert_eq!(rules("4012888888881881")[0].0, "credit-card");
        assert_eq!(rules("4012-8888-8888-1881")[0].0, "credit-card");
        assert!(
            rules("4012888888881882")
                .iter()
                .all(|r| r.0 != "credit-card")
        );
    }

    #[test]
    fn ssn_ranges() {
        assert_eq!(rules("078-05-1123")[0].0, "us-ssn");
        assert!(rules("666-05-1123").is_empty());
        assert!(rules("078-05-1120").is_empty());
    }

    #[test]
    fn phones() {
        let r =
            rules("My US number is (415) 555-0132, and my international one is +1 415 555 0132");
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(r[0].1, "(415) 555-0132");
        assert!(rules("on 2024-01-31 at 12:30").is_empty());
        // Not even next to a phone word: a log line's date.
        assert!(rules("call back 2026-12-05 WARN pager").is_empty());
        assert!(rules("tel 05.12.2026 ok").is_empty());
        assert_eq!(rules("tel 467 3395")[0].0, "phone");
    }

    #[test]
    fn identifiers_and_account_ids_are_not_cards() {
        // The last group of a UUID passes Luhn and a Maestro range.
        assert!(rules("id 96c766ce-43d2-f9c9-954c-647334391198 done").is_empty());
        // AWS account ids: 12 digits, bare or in an ARN.
        assert!(rules("account 601111111113 spent $12").is_empty());
        assert!(rules("arn:aws:iam::601111111113:role/Admin").is_empty());
        assert!(rules("build-6011111111111117").is_empty());
        // Twelve digits next to a card word are a (Maestro) card.
        assert_eq!(rules("limit for card 501864667909?")[0].0, "credit-card");
        assert!(rules("limit for account 501864667909?").is_empty());
        // Cards still are, alone or grouped.
        assert_eq!(rules("card 6011 1111 1111 1117")[0].0, "credit-card");
        assert_eq!(rules("4012888888881881")[0].0, "credit-card");
    }

    /// The vector classes against the byte-by-byte definitions, for every byte in every lane, and
    /// the starts against a plain loop.
    #[test]
    fn number_starts_are_the_digits_after_a_non_word_byte() {
        for lane in 0..64 {
            for b in 0u8..=255 {
                let mut block = [b'a'; 64];
                block[lane] = b;
                let c = ByteClasses::of(&block);
                let bit = |m: u64| m >> lane & 1 == 1;
                assert_eq!(bit(c.digit), b.is_ascii_digit(), "{b:#x}");
                assert_eq!(bit(c.upper), b.is_ascii_uppercase(), "{b:#x}");
                assert_eq!(bit(c.word), is_word(b), "{b:#x}");
                let number = b.is_ascii_digit() || b" ()+-./*".contains(&b);
                assert_eq!(bit(c.number), number, "{b:#x}");
                let v6 = lanes::mask(&block, ipv6_byte);
                assert_eq!(bit(v6), is_ipv6_byte(b), "{b:#x}");
                assert_eq!(v6 & !(1u64 << lane), !(1u64 << lane), "{b:#x} at {lane}");
                // The other lanes keep their class.
                let others = !(1u64 << lane);
                assert_eq!(c.word & others, others, "{b:#x} at {lane}");
                assert_eq!(
                    (c.digit | c.upper | c.number) & others,
                    0,
                    "{b:#x} at {lane}"
                );
            }
        }
        // Every start against a plain loop over the definition, at every length (so every end
        // falls at every place in a block) and every shift of the text against the blocks.
        let t = b"9 a1 22 (333) x_4 +5 DE89 D9 5-6\n7 123-45 +1 (415) 555 2026-11-03T06:41 4346, \
                  12.34.56 1,234,567 0x12 AB12 x7 1/2/34 99999\t1*2*3*4 "
            .repeat(3);
        let number_byte = |b: u8| b.is_ascii_digit() || b" ()+-./*".contains(&b);
        for iban in [false, true] {
            let shifted = (0..64).map(|pad| [vec![b' '; pad], t.clone()].concat());
            for t in (0..t.len()).map(|len| t[..len].to_vec()).chain(shifted) {
                let t = &t[..];
                let mut seen = Vec::new();
                let kinds = Starts {
                    runs: true,
                    iban,
                    colons: false,
                };
                for_each_start(t, kinds, |s| {
                    if let Start::Number(d) = s {
                        seen.push(d);
                    }
                });
                let want: Vec<usize> = (0..t.len())
                    .filter(|&i| {
                        let before = |k: usize| i.checked_sub(k).map(|j| t[j]);
                        let run = t
                            .get(i..i + 6)
                            .is_some_and(|r| r.iter().all(|&b| number_byte(b)));
                        t[i].is_ascii_digit()
                            && ((run && !before(1).is_some_and(is_word))
                                || (iban
                                    && before(1).is_some_and(|b| b.is_ascii_uppercase())
                                    && before(2).is_some_and(|b| b.is_ascii_uppercase())))
                    })
                    .collect();
                assert_eq!(seen, want, "iban {iban}, {:?}", String::from_utf8_lossy(t));
            }
        }
    }

    #[test]
    fn ibans_need_mod97() {
        assert_eq!(rules("AL47 2121 1009 0000 0002 3569 8741")[0].0, "iban");
        assert_eq!(rules("AL47212110090000000235698741")[0].0, "iban");
        assert!(rules("AL47 212A 1009 0000 0002 3569 8741").is_empty());
    }

    /// The vector pass over colons finds what judging every colon in turn finds, on text made of
    /// the pieces that decide it (runs glued to words, hex runs longer than an address can reach
    /// back, zones, prefixes) at every offset against the blocks.
    /// The spans of the IPv6 addresses the detector finds in `text`, with nothing else enabled.
    fn ipv6_only(text: &str) -> Vec<(usize, usize)> {
        let detector = PiiDetector {
            email: false,
            phone: false,
            card: false,
            iban: false,
            ip: false,
            ip6: true,
            ssn: false,
        };
        let mut out = Vec::new();
        detector.scan(text.as_bytes(), &mut out);
        out.iter().map(|f| (f.start, f.end)).collect()
    }

    #[test]
    fn ipv6_pass_agrees_with_every_colon_judged() {
        use proptest::prelude::*;
        let every_colon = |text: &[u8]| {
            let mut out = Vec::new();
            let mut last_end = 0;
            for c in memchr::memchr_iter(b':', text) {
                if c >= last_end {
                    last_end = ipv6_at(text, c, &mut out);
                }
            }
            out.iter().map(|f| (f.start, f.end)).collect::<Vec<_>>()
        };
        let pieces = [
            "T",
            "06",
            ":",
            "::",
            "a",
            "f",
            "g",
            "_",
            " ",
            ".",
            "1.2.3.4",
            "fe80",
            "2001",
            "db8",
            "%eth0",
            "/64",
            "\n",
            "Z",
            "Error",
            "0123456789abcdef0123456789abcdef",
            "ffff",
            "x",
        ];
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
        runner
            .run(
                &(
                    0..64usize,
                    proptest::collection::vec(0..pieces.len(), 0..60),
                ),
                |(pad, picks)| {
                    let text: String =
                        " ".repeat(pad) + &picks.iter().map(|&i| pieces[i]).collect::<String>();
                    prop_assert_eq!(ipv6_only(&text), every_colon(text.as_bytes()), "{:?}", text);
                    Ok(())
                },
            )
            .expect("the same addresses");
        // A colon further into a glued run than `ipv6_at` walks back (45 bytes) is judged on what
        // it reaches: here, after a colon, an address of 45 bytes.
        for pad in 0..64 {
            let text = format!(
                "{}g1:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255: x",
                " ".repeat(pad)
            );
            let got = ipv6_only(&text);
            assert_eq!(got, [(pad + 3, pad + 48)], "{text}");
            assert_eq!(got, every_colon(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn ips() {
        assert_eq!(rules("host 192.168.0.1 up")[0].0, "ipv4");
        assert!(rules("my ip: 192.168.0").is_empty());
        assert_eq!(rules("addr 684D:1111:222:3333:4444:5555:6:77")[0].0, "ipv6");
        assert!(rules("use std::io::Write; at 12:30:45").is_empty());
        // Among colons that touch no address byte (JSON keys, type annotations), and at the edges.
        let json = r#"{"host": "2001:db8::8a2e:370:7334", "ttl": 30, "via": ::1}"#;
        let found: Vec<String> = rules(json).into_iter().map(|(_, v)| v).collect();
        assert_eq!(found, ["2001:db8::8a2e:370:7334", "::1"]);
        assert_eq!(rules("::1")[0].1, "::1");
        assert_eq!(rules("fe80::1 :")[0].1, "fe80::1");
        // After a run of colons glued to a word (a timestamp), and across a 64-byte block edge.
        for pad in 0..70 {
            let text = format!(
                "{}at 2026-11-03T06:41:16Z from 2001:db8::1 x",
                " ".repeat(pad)
            );
            assert_eq!(
                rules(&text),
                [("ipv6".into(), "2001:db8::1".into())],
                "{text}"
            );
        }
    }
}
