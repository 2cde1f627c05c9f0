//! Whether the user directed a write (rule 1's exception): what the call acts on and where it
//! goes is in the words of one of the user's messages, and only its free text (a message's body,
//! an event's title) is the model's.

use super::{Origin, Piece};

/// Arguments that carry free text the model composes for people to read (a message's body, an
/// event's title), not a choice of what a call acts on or where it goes: matched against an
/// argument's own name. A file's `content` is not among them: code or configuration copied from
/// an untrusted page runs.
const FREE_TEXT: &[&str] = &[
    "body",
    "text",
    "message",
    "subject",
    "title",
    "description",
    "summary",
    "comment",
    "note",
    "notes",
    "details",
    "reason",
    "caption",
];

/// Whether an argument's path (`args.body`, `args.event.notes[0]`) names free text: its own
/// key does (an address under `message.toRecipients` is no message text).
pub(super) fn free_text(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    free_text_name(last.split('[').next().unwrap_or(last))
}

/// Whether an argument's name is one of [`FREE_TEXT`].
fn free_text_name(name: &str) -> bool {
    FREE_TEXT.contains(&name.to_lowercase().as_str())
}

/// Verbs that make something new. A tool named with one (`create_ticket`, `ticketOpen`) makes a
/// new object: its title names nothing that exists. Verbs that change what exists or reach
/// people (`update`, `set`, `write`, `post`, `send`, `publish`, `reply`) are not among them.
const MAKE_VERBS: &[&str] = &[
    "add", "create", "draft", "file", "log", "make", "new", "open", "raise", "submit",
];

/// Words between a making verb and what it makes when the user asks for a new one ("open a
/// ticket", "file another one"), not an existing one ("open the ticket", "open ticket 3307").
const DETERMINERS: &[&str] = &["a", "an", "another", "new", "one"];

/// Words that turn down a sentence ("don't open a ticket", "you shouldn't", "I'd rather you
/// didn't", "cancel that ticket").
const NEGATIONS: &[&str] = &[
    "avoid", "can", "cancel", "didn", "don", "dont", "forget", "hold", "instead", "mustn", "needn",
    "never", "no", "nor", "not", "once", "rather", "refrain", "shouldn", "skip", "stop", "wait",
    "without", "won", "wouldn",
];

/// Words before a making verb that say it is not an order to the agent ("he will open a ticket",
/// "we should open a ticket", "could you open a ticket").
const NOT_ORDERS: &[&str] = &[
    "could", "did", "does", "he", "i", "may", "might", "must", "shall", "she", "should", "they",
    "we", "who", "will", "would", "you",
];

/// A tool's name lowercased with its camelCase boundaries and dashes as `_` (`createIssue`,
/// `create-issue`: `create_issue`).
pub(super) fn snake_case(tool: &str) -> String {
    let mut out = String::with_capacity(tool.len() + 8);
    let mut prev_lower = false;
    for c in tool.chars() {
        if c.is_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        if c == '-' {
            out.push('_');
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// A text's sentences, each with whether it asks a question. A `.` ends one only before a blank
/// and a capital letter or at the end ("e.g. open" goes on).
fn sentences(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let end = match c {
            '!' | '?' | ';' | '\n' => true,
            '.' => {
                let rest = &text[i + 1..];
                let next = rest.trim_start();
                rest.is_empty()
                    || (rest.starts_with(char::is_whitespace)
                        && next.starts_with(|n: char| n.is_uppercase()))
            }
            _ => false,
        };
        if end {
            let s = &text[start..i + c.len_utf8()];
            out.push((s, c == '?'));
            start = i + c.len_utf8();
        }
    }
    if start < text.len() {
        out.push((&text[start..], false));
    }
    out
}

/// Whether the user asked for what a making tool makes: the tool's name (camelCase split) holds a
/// verb of [`MAKE_VERBS`] and at least one other word; a sentence of a user message, not a
/// question (it ends with `?`) and with no word of [`NEGATIONS`], holds such a verb, not after a
/// word of [`NOT_ORDERS`], then a word of [`DETERMINERS`], then the name's other words in order
/// (one word may come before them: "file a Jira ticket"); and no sentence of any user message
/// that names the first of them, or a making verb, is turned down ("actually, don't create
/// anything"). "Open a ticket for the accounts team" asks for `create_ticket`; "open ticket
/// 3307", "make sure the ticket is closed", "should I open a ticket?" and "I'd rather you didn't
/// open a ticket" do not.
fn asks_for(tool: &str, said: &[&str]) -> bool {
    let words = words_of(&snake_case(tool));
    if !words.iter().any(|w| MAKE_VERBS.contains(&w.as_str())) {
        return false;
    }
    let nouns: Vec<String> = words
        .into_iter()
        .filter(|w| !MAKE_VERBS.contains(&w.as_str()))
        .collect();
    if nouns.is_empty() {
        return false;
    }
    let all: Vec<(Vec<String>, bool)> = said
        .iter()
        .flat_map(|t| sentences(t))
        .map(|(s, question)| (words_of(&s.to_lowercase()), question))
        .collect();
    let negated = |s: &[String]| s.iter().any(|w| NEGATIONS.contains(&w.as_str()));
    // A sentence that turns down making anything, or anything named so, anywhere in what the
    // user said, wins ("actually, don't create anything").
    if all.iter().any(|(s, _)| {
        negated(s) && (s.contains(&nouns[0]) || s.iter().any(|w| MAKE_VERBS.contains(&w.as_str())))
    }) {
        return false;
    }
    all.iter()
        .filter(|(s, question)| !question && !negated(s))
        .any(|(s, _)| {
            s.windows(2).enumerate().any(|(i, pair)| {
                MAKE_VERBS.contains(&pair[0].as_str())
                    && DETERMINERS.contains(&pair[1].as_str())
                    && !i
                        .checked_sub(1)
                        .is_some_and(|b| NOT_ORDERS.contains(&s[b].as_str()))
                    && (i + 2..s.len().min(i + 4))
                        .any(|j| s[j] == nouns[0] && said_in_order(&nouns, &s[j..]))
            })
        })
}

/// Words that appear in nearly every message: a value made of them alone names nothing.
const SMALL_WORDS: &[&str] = &[
    "an", "and", "as", "at", "be", "by", "do", "for", "if", "in", "is", "it", "me", "my", "no",
    "of", "on", "or", "so", "the", "to", "up", "us", "we",
];

/// Whether a word of a value names nothing on its own: one letter, or a [`SMALL_WORDS`] word (a
/// number always names something).
fn small_word(w: &str) -> bool {
    !w.starts_with(|c: char| c.is_numeric() || c == '-')
        && (w.chars().count() < 2 || SMALL_WORDS.contains(&w))
}

/// How a call is the user's, if it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Directed {
    /// Not the user's.
    No,
    /// Every value that picks what it acts on or where it goes is in the user's words.
    Targets,
    /// Only free text, to a tool the operator lets a user ask for (`asked_tools`) that makes what
    /// the user asked for ([`asks_for`]): the caller also requires that nothing in it came from
    /// untrusted content and that it sends nothing.
    Asked,
}

/// Most characters of the values that pick a directed write's target; a longer one is free text
/// under another name, and the write is not counted as directed.
const MAX_DIRECTED_VALUE: usize = 512;

/// Whether the user directed a call: every value that picks what it acts on or where it goes is
/// in the user's own words. Every argument counts but free text ([`FREE_TEXT`]: a string under
/// such a name, or a list of strings; not an object under it, and not a bot command such as
/// `/deploy` or `@bot merge`). A value is its words ([`words_of`]) found in order, close together,
/// in one of the user's messages: `2024-06-18T10:00` in "on 2024-06-18 at 10:00", `#inc-5610` in
/// "post to #inc-5610", `cp config.bak config.yaml` not in "copy config.yaml to config.bak". A
/// value with no word to compare (`-q`, `*`, ``), a true or false, or a null the user did not
/// say (`force`, `dry_run`, a field cleared) is the model's choice: such a call is not directed,
/// nor is a call with no value to check, unless its only values are free text, the tool may be
/// asked for (`may_ask`: the operator lists it in `asked_tools`) and the user asked for what it
/// makes ([`Directed::Asked`]: "open a ticket" and `create_ticket {title, body}`). Only the
/// user's messages among the `trusted` pieces direct: the system prompt does not (it lists every
/// channel, including those it forbids), nor do trusted tools' results.
pub(super) fn directed(
    tool: &str,
    may_ask: bool,
    args: &serde_json::Map<String, serde_json::Value>,
    trusted: &[&Piece],
) -> Directed {
    let users: Vec<&str> = trusted
        .iter()
        .filter(|p| p.origin == Origin::User)
        .map(|p| p.text.as_str())
        .collect();
    let said: Vec<Vec<String>> = users.iter().map(|t| words_of(t)).collect();
    // Depth-first over the arguments: (value, whether it is free text by its key's name).
    let mut stack: Vec<(&serde_json::Value, bool)> =
        args.iter().map(|(k, v)| (v, free_text_name(k))).collect();
    let mut checked = 0usize;
    let mut texts = 0usize;
    while let Some((v, free)) = stack.pop() {
        let value = match v {
            serde_json::Value::Array(items) => {
                // A list of strings under a free-text name is free text; anything else in it
                // is checked.
                stack.extend(items.iter().map(|x| (x, free && x.is_string())));
                continue;
            }
            serde_json::Value::Object(o) => {
                stack.extend(o.iter().map(|(k, x)| (x, free_text_name(k))));
                continue;
            }
            // A bot command in free text is a command, which the user's words do not make
            // theirs (and no matched word may stand for a target the call does not name).
            serde_json::Value::String(s) if free && bot_command(s) => return Directed::No,
            serde_json::Value::String(_) if free => {
                texts += 1;
                continue;
            }
            serde_json::Value::String(s) => s.to_lowercase(),
            serde_json::Value::Number(n) => n.to_string(),
            // A true, false or null is the model's choice.
            _ => return Directed::No,
        };
        if value.chars().count() > MAX_DIRECTED_VALUE {
            return Directed::No;
        }
        let words = words_of(&value);
        // A value of small words alone (`a`, `to`, `the`) is in nearly every message: it is
        // no word to compare.
        if !words.iter().any(|w| !small_word(w)) || !said.iter().any(|s| said_in_order(&words, s)) {
            return Directed::No;
        }
        checked += 1;
    }
    if checked > 0 {
        Directed::Targets
    } else if texts > 0 && may_ask && asks_for(tool, &users) {
        Directed::Asked
    } else {
        Directed::No
    }
}

/// Words that open a command to a bot that reads comments (Atlantis, bors, the Jenkins pull
/// request builder), in lowercase.
const BOT_WORDS: &[&str] = &[
    "atlantis ",
    "bors ",
    "ok to test",
    "retest this",
    "test this please",
];

/// Whether a text holds a bot command (`/deploy prod`, `!merge`, `@dependabot merge`, `atlantis
/// apply`, `bors r+`) at the start of any line, invisible characters dropped: a chat or a bot runs
/// it rather than shows it (Prow reads `/approve` on any line).
fn bot_command(text: &str) -> bool {
    text.lines().any(|line| {
        let line: String = line
            .chars()
            .filter(|c| !crate::scan::injection::normalize::is_invisible(*c))
            .collect::<String>()
            .trim_start()
            .to_lowercase();
        line.starts_with(['/', '!', '@']) || BOT_WORDS.iter().any(|w| line.starts_with(w))
    })
}

/// Whether `words` occur in `said` in order, the first and last at most twice their number plus
/// four words apart ("scale deployment api to 8" holds `deployment api 8`).
fn said_in_order(words: &[String], said: &[String]) -> bool {
    let reach = 2 * words.len() + 4;
    said.iter()
        .enumerate()
        .filter(|(_, w)| **w == words[0])
        .any(|(start, _)| {
            let mut at = start + 1;
            words[1..].iter().all(|w| {
                let end = (start + reach).min(said.len());
                match said[at.min(end)..end].iter().position(|x| x == w) {
                    Some(k) => {
                        at += k + 1;
                        true
                    }
                    None => false,
                }
            })
        })
}

/// The words of a lowercased text as [`directed`] compares them: runs of letters, and numbers
/// with their sign and decimals (`-42000`, `42000.06`; the `-` of `2024-06` joins nothing). A
/// lone letter counts (`chmod o+w`), except an option's (`-n`, `-k`) and the `t` of a
/// timestamp.
fn words_of(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let before = i.checked_sub(1).map(|j| chars[j]);
        if c.is_numeric() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_numeric())) {
            let start = i;
            if c == '-' && before.is_some_and(char::is_alphanumeric) {
                // A joiner (`2024-06`, `api-7`), not a sign.
                i += 1;
                continue;
            }
            i += 1;
            while i < chars.len()
                && (chars[i].is_numeric()
                    || (chars[i] == '.' && chars.get(i + 1).is_some_and(|d| d.is_numeric())))
            {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let option = i - start == 1 && before == Some('-');
            let timestamp = i - start == 1
                && c == 't'
                && before.is_some_and(char::is_numeric)
                && chars.get(i).is_some_and(|d| d.is_numeric());
            if !option && !timestamp {
                out.push(chars[start..i].iter().collect());
            }
        } else {
            i += 1;
        }
    }
    out
}
