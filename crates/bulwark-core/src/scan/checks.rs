//! Validation of candidates after their regex matched: entropy, placeholders, format checksums.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use base64::Engine as _;

/// An automaton over a fixed word list (lower case), built once on first use. It matches ASCII
/// case-insensitively: searching a value is searching its lower-case form, without making one.
fn automaton(words: &[&str]) -> AhoCorasick {
    // Word lists are static and small: building cannot fail.
    aho_corasick::AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(words)
        .unwrap_or_else(|_| unreachable!("static word list"))
}

static EXAMPLES: LazyLock<AhoCorasick> = LazyLock::new(|| automaton(EXAMPLE_MARKERS));
static EXAMPLES_AND_SEQUENCES: LazyLock<AhoCorasick> =
    LazyLock::new(|| automaton(&[EXAMPLE_MARKERS, SEQUENCE_MARKERS].concat()));
static PLACEHOLDERS: LazyLock<AhoCorasick> = LazyLock::new(|| automaton(PLACEHOLDER_MARKERS));
static BENIGN_NAMES: LazyLock<AhoCorasick> = LazyLock::new(|| automaton(BENIGN_NAME_WORDS));

/// `c * log2(c)` for the counts most bytes of a value have.
static C_LOG2_C: LazyLock<[f64; 64]> = LazyLock::new(|| {
    let mut t = [0.0; 64];
    for (c, x) in t.iter_mut().enumerate().skip(1) {
        *x = c as f64 * (c as f64).log2();
    }
    t
});

/// Shannon entropy of `v` in bits per byte: `log2(n) - sum(c * log2(c)) / n` over the count `c` of
/// each distinct byte, read from a table (this runs on every candidate value).
pub(crate) fn entropy(v: &[u8]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in v {
        counts[b as usize] += 1;
    }
    let table = &*C_LOG2_C;
    let mut sum = 0.0;
    // Each distinct byte once: its count is taken and cleared where the byte first occurs.
    for &b in v {
        let c = std::mem::take(&mut counts[b as usize]);
        sum += match table.get(c as usize) {
            Some(&x) => x,
            None => f64::from(c) * f64::from(c).log2(),
        };
    }
    let n = v.len() as f64;
    (n.log2() - sum / n).max(0.0)
}

/// Words that mark a documentation example rather than a live credential.
const EXAMPLE_MARKERS: &[&str] = &["example", "xxxxx", "*****", ".....", "#####"];
/// Sequences that mark a made-up token of a known prefix (`dapi1234567890…`).
const SEQUENCE_MARKERS: &[&str] = &["1234567890", "abcdefghij"];

/// Keys published in vendors' documentation for local emulators, the same on every machine: the
/// Azure Storage emulator's (Azurite) account key and the Azure Cosmos DB emulator's key.
const PUBLISHED_KEYS: &[&[u8]] = &[
    b"Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    b"C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==",
];

/// Whether `v` is one of the [`PUBLISHED_KEYS`].
pub(crate) fn is_published_key(v: &[u8]) -> bool {
    PUBLISHED_KEYS.contains(&v)
}

/// Whether a token of a known format is an obvious example (`AKIAIOSFODNN7EXAMPLE`, `ghp_xxxx…`)
/// or a key every copy of an emulator shares.
pub(crate) fn is_example_token(v: &[u8]) -> bool {
    if is_published_key(v) {
        return true;
    }
    // A run of eight identical characters is filler, not randomness.
    if v.windows(8).any(|w| w.iter().all(|&b| b == w[0])) {
        return true;
    }
    EXAMPLES_AND_SEQUENCES.is_match(v)
}

/// Like [`is_example_token`], without the sequence markers: a value next to a service's name is
/// reported even when it looks made up, since the context says what it is meant to be.
pub(crate) fn is_example_value(v: &[u8]) -> bool {
    is_published_key(v) || EXAMPLES.is_match(v)
}

/// Values that stand for a secret without being one: placeholders, references, template syntax.
const PLACEHOLDER_MARKERS: &[&str] = &[
    "example",
    "xxxx",
    "****",
    "....",
    "placeholder",
    "your_",
    "your-",
    "yourkey",
    "yourtoken",
    "yourpassword",
    "changeme",
    "mypassword",
    "yourstrong",
    "change_me",
    "change-me",
    "redacted",
    "dummy",
    "sample",
    "replace_",
    "replace-",
    "insert_",
    "todo",
    "${",
    "{{",
    "}}",
    "$(",
    "%(",
    "<%",
    "os.environ",
    "os.getenv",
    "getenv",
    "process.env",
    "env(",
    "env.",
    "secrets.",
    "vault:",
    "fn::",
    "[redacted",
    "fake",
    "...",
    "####",
    "1234567",
    "abcdefgh",
];

/// Values that are never secrets, compared whole and case-insensitively.
const NOT_SECRETS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "null",
    "none",
    "nil",
    "true",
    "false",
    "undefined",
    "string",
    "bearer",
    "basic",
    "required",
    "optional",
    "hidden",
    "empty",
    "default",
    "unknown",
    "changeit",
    "test",
    "testing",
    "admin",
    "root",
    "user",
    "username",
    "pass",
];

/// Whether `v` is a placeholder, an environment or template reference, or a well-known non-secret.
pub(crate) fn is_placeholder(v: &[u8]) -> bool {
    if v.first()
        .is_some_and(|&b| b == b'$' || b == b'%' || b == b'<' || b == b'{' || b == b'[')
    {
        return true;
    }
    if v.last()
        .is_some_and(|&b| b == b'>' || b == b']' || b == b'}')
        || v.ends_with(b"..")
    {
        return true;
    }
    if PLACEHOLDERS.is_match(v) {
        return true;
    }
    is_repetitive(v)
        || NOT_SECRETS
            .iter()
            .any(|w| v.eq_ignore_ascii_case(w.as_bytes()))
}

/// Whether `v` contains a short pattern repeated back to back at least three times, ignoring ASCII
/// case (`abcd1234abcd1234ABCD1234`): typed by a person, not generated.
pub(crate) fn is_repetitive(v: &[u8]) -> bool {
    // Values are short: folded into a buffer on the stack, and compared byte for byte.
    let mut buf = [0u8; 128];
    let owned;
    let v = match buf.get_mut(..v.len()) {
        Some(b) => {
            b.copy_from_slice(v);
            b.make_ascii_lowercase();
            &*b
        }
        None => {
            owned = v.to_ascii_lowercase();
            &owned[..]
        }
    };
    // Three times a period of `p` bytes needs `3 * p` of them.
    (2..=16).take_while(|p| 3 * p <= v.len()).any(|p| {
        let mut run = 0;
        for i in p..v.len() {
            if v[i] == v[i - p] {
                run += 1;
                if run >= 2 * p {
                    return true;
                }
            } else {
                run = 0;
            }
        }
        false
    })
}

/// Whether an unquoted value reads as code (`var.db_password`, `self.token`, `getToken`) rather than
/// a literal.
pub(crate) fn looks_like_code_reference(v: &[u8]) -> bool {
    let ident = |s: &[u8]| {
        !s.is_empty()
            && (s[0].is_ascii_alphabetic() || s[0] == b'_')
            && s.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    };
    // a.b.c where every part is an identifier
    if v.contains(&b'.') && v.split(|&b| b == b'.').all(ident) {
        return true;
    }
    // a bare word of letters and underscores (a type name or a variable)
    v.iter()
        .all(|b| b.is_ascii_alphabetic() || *b == b'_' || *b == b'-')
}

/// Whether `v` looks like a file path or a plain URL rather than a credential.
pub(crate) fn looks_like_path_or_url(v: &[u8]) -> bool {
    v.starts_with(b"/")
        || v.starts_with(b"./")
        || v.starts_with(b"../")
        || v.starts_with(b"~/")
        || memchr::memmem::find(v, b"://").is_some()
}

/// Words that, anywhere in an assignment's name (lowercased, without `_`, `-`, `.`), say it names
/// something other than a secret value.
const BENIGN_NAME_WORDS: &[&str] = &[
    "public",
    "pubkey",
    "tokenizer",
    "maxtoken",
    "tokentype",
    "tokencount",
    "tokensused",
    "numtoken",
    "keyboard",
    "monkey",
    "hotkey",
    "keycode",
    "keyname",
    "sortkey",
    "primarykey",
    "foreignkey",
    "partitionkey",
    "keyspace",
    "keyword",
    "keystore",
    "keytype",
    "keysize",
    "keylength",
    "keypath",
    "keyfile",
    "keyvault",
    "author",
    "authurl",
    "authtype",
    "authmethod",
    "authmode",
    "authenticat",
    "authoriz",
    "authprovider",
    "authdomain",
    "authuri",
    "tokenuri",
    "tokenurl",
    "tokenendpoint",
    "secretname",
    "secretref",
    "secretarn",
    "hash",
    "policy",
    "field",
    "length",
    "reset",
    "csrf",
    "xsrf",
    "bucket",
    "cachekey",
    "objectkey",
    "idempotency",
    "lookup",
    "label",
    "message",
    "column",
    "schema",
    "index",
    "format",
    "encoding",
    "algorithm",
    "version",
    "timeout",
    "expir",
    "ttl",
    "count",
    "size",
    "limit",
    "enabled",
    "required",
    "header",
    "param",
    "prefix",
    "regex",
    "pattern",
];

/// Suffixes a secret name may carry after its keyword (`api_key_prod`, `secret_key_base`).
const SECRET_NAME_SUFFIXES: &[&str] = &[
    "",
    "s",
    "str",
    "string",
    "value",
    "val",
    "base",
    "data",
    "b64",
    "base64",
    "hex",
    "raw",
    "text",
    "prod",
    "production",
    "dev",
    "test",
    "staging",
    "live",
    "sandbox",
    "local",
    "v1",
    "v2",
    "v3",
    "1",
    "2",
    "3",
    "key",
    "token",
    "secret",
];

/// The generic keywords, without separators, with the canonical name each stands for.
const NAME_KEYWORDS: &[(&str, &str)] = &[
    ("password", "password"),
    ("passwd", "passwd"),
    ("passphrase", "passphrase"),
    ("pwd", "pwd"),
    ("secret", "secret"),
    ("token", "token"),
    ("apikey", "apikey"),
    ("accesskey", "accesskey"),
    ("privatekey", "privatekey"),
    ("credential", "credential"),
    ("creds", "credential"),
    ("auth", "auth"),
    ("key", "key"),
];

/// If an assignment's name names a secret, the keyword it ends in (`db_password` -> `password`,
/// `api_key_prod` -> `apikey`); `None` for names such as `key_down_event`, `token_type` or `pubkey`.
pub(crate) fn secret_name_keyword(name: &[u8]) -> Option<&'static str> {
    let norm: Vec<u8> = name
        .iter()
        .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b'"' | b'\''))
        .map(u8::to_ascii_lowercase)
        .collect();
    if BENIGN_NAMES.is_match(&norm)
        || norm.ends_with(b"id")
        || norm.ends_with(b"name")
        || norm.ends_with(b"file")
        || norm.ends_with(b"path")
        || norm.ends_with(b"url")
        || norm.ends_with(b"uri")
    {
        return None;
    }
    // The keyword occurrence that ends last (longest first on a tie) decides.
    let mut best: Option<(usize, usize, &'static str)> = None;
    for (kw, canon) in NAME_KEYWORDS {
        let kw = kw.as_bytes();
        if let Some(pos) = norm.windows(kw.len()).rposition(|w| w == kw) {
            let end = pos + kw.len();
            if best.is_none_or(|(e, l, _)| end > e || (end == e && kw.len() > l)) {
                best = Some((end, kw.len(), canon));
            }
        }
    }
    let (end, _, canon) = best?;
    let suffix = &norm[end..];
    SECRET_NAME_SUFFIXES
        .iter()
        .any(|s| suffix == s.as_bytes())
        .then_some(canon)
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// GitHub's token checksum: the last six characters are the CRC32 of the random part before them,
/// base62-encoded (digits, upper, lower) and left-padded with `0`. The random part is the last
/// `_`-separated segment minus those six characters.
pub(crate) fn github_checksum_ok(token: &[u8]) -> bool {
    let Some(pos) = token.iter().rposition(|&b| b == b'_') else {
        return false;
    };
    let last = &token[pos + 1..];
    if last.len() <= 6 || !last.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (random, check) = last.split_at(last.len() - 6);
    base62_6(crc32fast::hash(random)) == check
}

fn base62_6(mut n: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Make a GitHub-format token (for tests and documentation): `prefix` + `random` + checksum.
pub fn github_token_with_checksum(prefix: &str, random: &str) -> String {
    let sum = base62_6(crc32fast::hash(random.as_bytes()));
    format!("{prefix}{random}{}", String::from_utf8_lossy(&sum))
}

/// A JWT: its first segment must decode (base64url) to a JSON object with an `alg` member.
pub(crate) fn jwt_header_ok(token: &[u8]) -> bool {
    let header = token.split(|&b| b == b'.').next().unwrap_or_default();
    let trimmed: Vec<u8> = header.iter().copied().filter(|&b| b != b'=').collect();
    let Ok(decoded) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&trimmed) else {
        return false;
    };
    matches!(
        serde_json::from_slice::<serde_json::Value>(&decoded),
        Ok(serde_json::Value::Object(m)) if m.contains_key("alg")
    )
}

/// A value of a Kubernetes Secret's `data` (see `Check::KubernetesSecret`): `manifest` is the text
/// around it, which must declare `kind: Secret` on a line of its own.
pub(crate) fn kubernetes_secret_ok(manifest: &[u8], value: &[u8]) -> bool {
    let is_secret_kind = |line: &[u8]| {
        let line = line.trim_ascii();
        if !line
            .get(..5)
            .is_some_and(|k| k.eq_ignore_ascii_case(b"kind:"))
        {
            return false;
        }
        let kind = line[5..].trim_ascii();
        let unquoted = [b'"', b'\'']
            .iter()
            .find_map(|&q| kind.strip_prefix(&[q]).and_then(|k| k.strip_suffix(&[q])));
        unquoted.unwrap_or(kind).eq_ignore_ascii_case(b"secret")
    };
    if !manifest.split(|&b| b == b'\n').any(is_secret_kind) {
        return false;
    }
    // Kubernetes writes padding; hand-edited manifests sometimes drop it.
    const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    // What it decodes to may be a whole file (a `.dockercfg` naming example.com): only its length
    // is judged.
    !is_placeholder(value)
        && BASE64
            .decode(value)
            .is_ok_and(|plain| plain.trim_ascii().len() >= 8)
}

/// A private-key block body: at least 64 base64 characters once headers and whitespace are removed.
pub(crate) fn private_key_body_ok(body: &[u8]) -> bool {
    let mut n = 0usize;
    for line in body.split(|&b| b == b'\n') {
        if line.contains(&b':') {
            continue; // "Proc-Type: 4,ENCRYPTED" and similar headers
        }
        n += line
            .iter()
            .filter(|b| b.is_ascii_alphanumeric() || **b == b'+' || **b == b'/' || **b == b'=')
            .count();
    }
    n >= 64
}

/// A password from a URL or `user:password` pair: not empty, not a placeholder, not a variable.
/// A password written in a command or a connection string: not a shell, PowerShell, batch or SQL
/// variable (`$PW`, `$env:PW`, `%PW%`, `@Password`), not a placeholder, at least three characters
/// with some entropy.
pub(crate) fn password_ok(v: &[u8]) -> bool {
    !matches!(v.first(), Some(b'$' | b'%' | b'@')) && secret_value_ok(v)
}

/// A credential's secret part: at least three characters, not a placeholder, some entropy.
fn secret_value_ok(v: &[u8]) -> bool {
    v.len() >= 3 && !is_placeholder(v) && entropy(v) >= 2.0
}

/// A Docker registry `auth` value: base64 of `user:password`, both parts printable and present,
/// the password not a placeholder.
pub(crate) fn basic_auth_base64_ok(v: &[u8]) -> bool {
    use base64::Engine;
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(v) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (user, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    !user.is_empty()
        && pass.len() >= 3
        && decoded.iter().all(|b| (0x20..0x7f).contains(b))
        && credential_pair_ok(&decoded)
}

pub(crate) fn credential_pair_ok(v: &[u8]) -> bool {
    let (user, pass) = match v.iter().position(|&b| b == b':') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (&[][..], v),
    };
    let secret = if pass.len() >= user.len() { pass } else { user };
    secret_value_ok(secret) && !is_placeholder(pass) && user != pass
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_checksum_roundtrip() {
        let t = github_token_with_checksum("ghp_", "zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ");
        assert_eq!(t.len(), 40);
        assert!(github_checksum_ok(t.as_bytes()));
        let mut bad = t.into_bytes();
        bad[10] = if bad[10] == b'a' { b'b' } else { b'a' };
        assert!(!github_checksum_ok(&bad));
    }

    #[test]
    fn entropy_orders_values() {
        assert!(entropy(b"aaaaaaaa") < 0.1);
        assert!(entropy(b"8vir14ruke2o2perj9rjznm97jnv0a7w") > 3.5);
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"a"), 0.0);
        assert!((entropy(b"ab") - 1.0).abs() < 1e-12);
        assert!((entropy(&(0..=255).collect::<Vec<u8>>()) - 8.0).abs() < 1e-12);
    }

    /// The table-driven entropy against the definition (`-sum(p * log2(p))`), on values of every
    /// length up to past the table's counts.
    #[test]
    fn entropy_is_shannon_entropy() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 1..300usize {
            let alphabet = 1 + len % 70;
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b'!' + (x % alphabet as u64) as u8
                })
                .collect();
            let mut counts = [0u32; 256];
            v.iter().for_each(|&b| counts[b as usize] += 1);
            let n = v.len() as f64;
            let want: f64 = counts
                .iter()
                .filter(|&&c| c > 0)
                .map(|&c| -(f64::from(c) / n) * (f64::from(c) / n).log2())
                .sum();
            assert!(
                (entropy(&v) - want).abs() < 1e-9,
                "{len}: {} {want}",
                entropy(&v)
            );
        }
    }

    #[test]
    fn placeholders_are_recognised() {
        for p in [
            "${DB_PASSWORD}",
            "<your-token>",
            "xxxxxxxxxxxx",
            "changeme",
            "os.environ['X']",
            "{{ secret }}",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        assert!(!is_placeholder(b"h0pk1ns~21s"));
        // Case does not matter.
        for p in [
            "CHANGEME",
            "Your_Token_Here",
            "PASSWORD",
            "AbCd1234abcd1234ABCD1234",
            "OS.ENVIRON",
        ] {
            assert!(is_placeholder(p.as_bytes()), "{p}");
        }
        // Periods of 2 to 16 bytes, in short values and in long ones (past the stack buffer).
        assert!(is_repetitive(
            b"0123456789abcdef0123456789ABCDEF0123456789abcdef"
        ));
        assert!(!is_repetitive(
            b"0123456789abcdef0123456789abcdef0123456789abcde"
        ));
        assert!(is_repetitive(b"k7Q2p9Zrxyxyxy"));
        let long: Vec<u8> = (0..200u8).map(|i| b'!' + i % 90).collect();
        assert!(!is_repetitive(&long));
        assert!(is_repetitive(
            &[long.clone(), b"abcABCabc".to_vec()].concat()
        ));
        assert!(is_example_token(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_example_value(b"My-Example-Key"));
    }

    #[test]
    fn jwt_header_must_decode() {
        let jwt = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig";
        assert!(jwt_header_ok(jwt));
        assert!(!jwt_header_ok(b"eyJnotjson.eyJx.y"));
    }
}
