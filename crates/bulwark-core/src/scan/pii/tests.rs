use super::*;
use crate::scan::cfg::PiiConfig;

fn rules(text: &str) -> Vec<(String, String)> {
    let d = PiiDetector::new(&PiiConfig::default(), &[]);
    let mut out = Vec::new();
    d.scan(text.as_bytes(), &mut out);
    out.into_iter()
        .map(|f| {
            let s = f.sort_span();
            (f.rule, text[s.range()].to_string())
        })
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
    let r = rules("My US number is (415) 555-0132, and my international one is +1 415 555 0132");
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
    out.iter()
        .map(|f| (f.sort_span().start, f.sort_span().end))
        .collect()
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
        out.iter()
            .map(|f| (f.sort_span().start, f.sort_span().end))
            .collect::<Vec<_>>()
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
