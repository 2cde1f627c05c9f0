//! E-mail addresses, IBANs (country lengths, mod-97) and IPv6 addresses, found where they start.

use super::*;

/// Characters of an e-mail local part.
pub(super) fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

pub(super) fn scan_emails(text: &[u8], out: &mut Vec<Finding>) {
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

pub(super) fn valid_domain(d: &[u8]) -> bool {
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
pub(super) const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
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
pub(super) fn iban_at(text: &[u8], i: usize) -> Option<usize> {
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

/// The bytes an IPv6 address is written with: hex digits, `:` and `.`.
pub(super) fn is_ipv6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// ISO 7064 mod 97-10 over the rearranged IBAN.
pub(super) fn iban_mod97(iban: &[u8]) -> bool {
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

/// The longest an IPv6 address is written (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`): how far
/// [`ipv6_at`] looks on either side of a colon.
pub(super) const IPV6_REACH: usize = 45;

/// Judge the address around the colon at `c`, pushing it if it is one; returns the offset before
/// which no other colon needs a look.
pub(super) fn ipv6_at(text: &[u8], c: usize, out: &mut Vec<Finding>) -> usize {
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
