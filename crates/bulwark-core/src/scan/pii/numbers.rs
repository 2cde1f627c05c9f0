//! What a run of digits is: an IPv4 address or block, a payment card (issuer ranges, Luhn, a card
//! word for 12 digits), a US SSN, a phone number (national forms, or looser next to a phone word),
//! and what it is not (a date).

pub(super) fn is_ipv4(span: &[u8]) -> bool {
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
pub(super) fn is_ipv4_cidr(span: &[u8]) -> bool {
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
pub(super) const PHONE_WORDS_BEFORE: &[&[u8]] = &[
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
pub(super) const PHONE_WORDS_AFTER: &[&[u8]] = &[b"office", b"fax", b"mobile", b"phone", b"cell"];

/// Whether a phone word stands within a few bytes before or after `start..end`.
pub(super) fn phone_context(text: &[u8], start: usize, end: usize) -> bool {
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
pub(super) fn is_contextual_phone(span: &[u8], digits: &[u8]) -> bool {
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
pub(super) fn is_date(span: &[u8]) -> bool {
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

pub(super) fn prefix_num(digits: &[u8], n: usize) -> u32 {
    digits[..n.min(digits.len())]
        .iter()
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

/// A payment card: 13 to 19 digits, grouped by spaces or dashes only, a known issuer range, Luhn.
/// Twelve digits (Maestro) count only next to a card word ([`card_context`]): bare, they are AWS
/// account ids far more often than cards.
pub(super) fn is_card(span: &[u8], digits: &[u8]) -> bool {
    is_card_from(span, digits, 13)
}

/// Words that say a number is a card, looked for just before it.
pub(super) const CARD_WORDS: &[&[u8]] = &[b"card", b"cc ", b"cc#", b"maestro", b"credit", b"debit"];

/// Whether a card word stands in the 24 bytes before `start`.
pub(super) fn card_context(text: &[u8], start: usize) -> bool {
    let before = text[start.saturating_sub(24)..start].to_ascii_lowercase();
    CARD_WORDS
        .iter()
        .any(|w| memchr::memmem::find(&before, w).is_some())
}

pub(super) fn is_card_from(span: &[u8], digits: &[u8], min_len: usize) -> bool {
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
pub(super) fn card_issuer(digits: &[u8]) -> bool {
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
pub(super) fn is_ssn(span: &[u8], digits: &[u8]) -> bool {
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
pub(super) fn is_phone(span: &[u8], digits: &[u8]) -> bool {
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
