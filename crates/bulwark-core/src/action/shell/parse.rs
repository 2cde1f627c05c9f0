//! A POSIX-shell reader good enough to see what a command line runs: words with their quotes
//! removed, pipelines, lists, subshells, redirections, here-documents, and the command and process
//! substitutions (`$(...)`, backticks, `<(...)`) that run commands of their own.
//!
//! It does not expand anything: a word that holds a `$` expansion keeps it as written. What it
//! cannot read (an unterminated quote, nesting deeper than [`MAX_DEPTH`]) is an error, and the
//! screen blocks it: a command Bulwark cannot read is not a command it lets through.

/// Deepest nesting of substitutions, subshells and `sh -c` strings.
pub const MAX_DEPTH: usize = 16;

/// A command line: pipelines joined by `;`, `&&`, `||`, `&` or newlines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Script {
    /// The pipelines, in order.
    pub pipelines: Vec<Pipeline>,
}

/// Commands joined by `|`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pipeline {
    /// The stages, in order.
    pub commands: Vec<Command>,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Words and redirections.
    Simple(Simple),
    /// `( ... )`.
    Subshell(Script),
}

/// A simple command.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Simple {
    /// The words, quotes removed.
    pub words: Vec<Word>,
    /// Redirections.
    pub redirects: Vec<Redirect>,
    /// Here-document bodies fed to the command.
    pub heredocs: Vec<String>,
}

/// One word.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Word {
    /// The text with quotes and escapes removed; expansions are kept as written.
    pub text: String,
    /// Commands that run to produce the word: `$(...)`, backticks, `<(...)`, `>(...)`.
    pub nested: Vec<Script>,
    /// It holds a `$` expansion or a substitution whose value is unknown here.
    pub dynamic: bool,
}

/// A redirection: `>`, `>>`, `<`, `2>&1`, `&>`, `<<<`, ...
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// The operator without its file descriptor number.
    pub op: String,
    /// What it redirects to or from.
    pub target: Word,
}

/// Why a command line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the shell command at byte {offset}: {message}")]
pub struct ShellParseError {
    /// Where, in bytes (of the string being read).
    pub offset: usize,
    /// What went wrong.
    pub message: String,
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
    pending_heredocs: Vec<(String, bool)>,
    in_dquote: bool,
}

/// Read a command line.
pub fn parse(s: &str) -> Result<Script, ShellParseError> {
    parse_at_depth(s, 0)
}

/// Read a command line found `depth` levels deep (an `sh -c` string, backticks).
pub fn parse_at_depth(s: &str, depth: usize) -> Result<Script, ShellParseError> {
    if depth > MAX_DEPTH {
        return Err(ShellParseError {
            offset: 0,
            message: format!("nested deeper than {MAX_DEPTH} levels"),
        });
    }
    let mut p = Parser {
        s,
        pos: 0,
        depth,
        pending_heredocs: Vec::new(),
        in_dquote: false,
    };
    p.script(None)
}

fn is_operator_char(c: char) -> bool {
    matches!(c, '|' | '&' | ';' | '(' | ')' | '<' | '>' | '\n')
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.s[self.pos..].chars().nth(n)
    }

    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn err<T>(&self, message: impl Into<String>) -> Result<T, ShellParseError> {
        Err(ShellParseError {
            offset: self.pos,
            message: message.into(),
        })
    }

    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t') => {
                    self.bump();
                }
                Some('\\') if self.peek_at(1) == Some('\n') => {
                    self.pos += 2;
                }
                _ => break,
            }
        }
    }

    fn nested(&mut self, close: char) -> Result<Script, ShellParseError> {
        if self.depth >= MAX_DEPTH {
            return self.err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        let outer = std::mem::replace(&mut self.in_dquote, false);
        let r = self.script(Some(close));
        self.in_dquote = outer;
        self.depth -= 1;
        r
    }

    /// Pipelines until the end of input or `close`.
    fn script(&mut self, close: Option<char>) -> Result<Script, ShellParseError> {
        let mut script = Script::default();
        let mut pipeline = Pipeline::default();
        let mut simple = Simple::default();
        let finish_simple = |pipeline: &mut Pipeline, simple: &mut Simple| {
            if !simple.words.is_empty() || !simple.redirects.is_empty() {
                pipeline
                    .commands
                    .push(Command::Simple(std::mem::take(simple)));
            }
        };
        loop {
            self.skip_blanks();
            let Some(c) = self.peek() else {
                if let Some(close) = close {
                    return self.err(format!("`{close}` expected before the end"));
                }
                break;
            };
            if Some(c) == close {
                self.bump();
                finish_simple(&mut pipeline, &mut simple);
                if !pipeline.commands.is_empty() {
                    script.pipelines.push(pipeline);
                }
                return Ok(script);
            }
            match c {
                '#' if simple.words.is_empty() || self.prev_is_blank() => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                '\n' | ';' => {
                    self.bump();
                    if c == ';' && self.peek() == Some(';') {
                        self.bump();
                    }
                    if c == '\n' {
                        self.read_heredocs(&mut simple, &mut pipeline)?;
                    }
                    finish_simple(&mut pipeline, &mut simple);
                    if !pipeline.commands.is_empty() {
                        script.pipelines.push(std::mem::take(&mut pipeline));
                    }
                }
                '&' if self.peek_at(1) == Some('>') => {
                    self.bump();
                    self.redirect(&mut simple)?;
                }
                '&' => {
                    self.bump();
                    if self.peek() == Some('&') {
                        self.bump();
                    }
                    finish_simple(&mut pipeline, &mut simple);
                    if !pipeline.commands.is_empty() {
                        script.pipelines.push(std::mem::take(&mut pipeline));
                    }
                }
                '|' => {
                    self.bump();
                    if self.peek() == Some('|') {
                        self.bump();
                        finish_simple(&mut pipeline, &mut simple);
                        if !pipeline.commands.is_empty() {
                            script.pipelines.push(std::mem::take(&mut pipeline));
                        }
                    } else {
                        if self.peek() == Some('&') {
                            self.bump();
                        }
                        finish_simple(&mut pipeline, &mut simple);
                    }
                }
                '(' if simple.words.is_empty() => {
                    self.bump();
                    let inner = self.nested(')')?;
                    pipeline.commands.push(Command::Subshell(inner));
                }
                '(' if self.rest().starts_with("()") => {
                    // A function definition: `name() { ...; }`. The name runs nothing; the body
                    // is read as the commands it is.
                    self.pos += 2;
                    simple.words.clear();
                }
                ')' => return self.err("`)` without `(`"),
                '<' | '>' => self.redirect(&mut simple)?,
                '(' => return self.err("`(` in the middle of a command"),
                _ => {
                    if c.is_ascii_digit() {
                        let digits = self.rest().bytes().take_while(u8::is_ascii_digit).count();
                        if matches!(self.rest().as_bytes().get(digits), Some(b'<' | b'>')) {
                            self.pos += digits;
                            self.redirect(&mut simple)?;
                            continue;
                        }
                    }
                    let w = self.word()?;
                    simple.words.push(w);
                }
            }
        }
        finish_simple(&mut pipeline, &mut simple);
        if !pipeline.commands.is_empty() {
            script.pipelines.push(pipeline);
        }
        if !self.pending_heredocs.is_empty() {
            // A here-document whose body never came: the command reads nothing.
            self.pending_heredocs.clear();
        }
        Ok(script)
    }

    fn prev_is_blank(&self) -> bool {
        self.s[..self.pos]
            .chars()
            .next_back()
            .is_none_or(|c| c == ' ' || c == '\t' || is_operator_char(c))
    }

    fn redirect(&mut self, simple: &mut Simple) -> Result<(), ShellParseError> {
        let ops = [
            "&>>", "<<<", "<<-", "&>", ">>", ">|", ">&", "<<", "<&", "<>", ">", "<",
        ];
        let op = ops
            .iter()
            .find(|op| self.rest().starts_with(**op))
            .copied()
            .unwrap_or(">");
        self.pos += op.len();
        if op == "<" && self.peek() == Some('(') || op == ">" && self.peek() == Some('(') {
            // Process substitution `<(...)` / `>(...)` as an argument.
            self.bump();
            let inner = self.nested(')')?;
            simple.words.push(Word {
                text: format!("{op}(...)"),
                nested: vec![inner],
                dynamic: true,
            });
            return Ok(());
        }
        self.skip_blanks();
        if self
            .peek()
            .is_none_or(|c| is_operator_char(c) && c != '<' && c != '>')
        {
            return self.err(format!("a file name is expected after `{op}`"));
        }
        let target = self.word()?;
        if op == "<<" || op == "<<-" {
            self.pending_heredocs
                .push((target.text.clone(), op == "<<-"));
        }
        simple.redirects.push(Redirect {
            op: op.to_string(),
            target,
        });
        Ok(())
    }

    /// After a newline: the bodies of the here-documents opened on the line just ended.
    fn read_heredocs(
        &mut self,
        simple: &mut Simple,
        pipeline: &mut Pipeline,
    ) -> Result<(), ShellParseError> {
        for (delim, strip_tabs) in std::mem::take(&mut self.pending_heredocs) {
            let mut body = String::new();
            loop {
                if self.pos >= self.s.len() {
                    break;
                }
                let end = self
                    .rest()
                    .find('\n')
                    .map_or(self.s.len(), |i| self.pos + i);
                let line = &self.s[self.pos..end];
                self.pos = (end + 1).min(self.s.len());
                let cmp = if strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line
                };
                if cmp == delim {
                    break;
                }
                body.push_str(line);
                body.push('\n');
            }
            // The body belongs to the last command that opened a here-document.
            let target = if !simple.words.is_empty() || !simple.redirects.is_empty() {
                Some(&mut *simple)
            } else {
                pipeline.commands.iter_mut().rev().find_map(|c| match c {
                    Command::Simple(s) => Some(s),
                    _ => None,
                })
            };
            if let Some(t) = target {
                t.heredocs.push(body);
            }
        }
        Ok(())
    }

    fn word(&mut self) -> Result<Word, ShellParseError> {
        let mut w = Word::default();
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' => break,
                c if is_operator_char(c) => break,
                '\'' => {
                    self.bump();
                    let Some(end) = self.rest().find('\'') else {
                        return self.err("unterminated single quote");
                    };
                    w.text.push_str(&self.s[self.pos..self.pos + end]);
                    self.pos += end + 1;
                }
                '"' => {
                    self.bump();
                    self.double_quoted(&mut w)?;
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some('\n') | None => {}
                        Some(c) => w.text.push(c),
                    }
                }
                '$' => self.dollar(&mut w)?,
                '`' => self.backtick(&mut w)?,
                _ => {
                    self.bump();
                    w.text.push(c);
                }
            }
        }
        Ok(w)
    }

    fn double_quoted(&mut self, w: &mut Word) -> Result<(), ShellParseError> {
        let outer = self.in_dquote;
        self.in_dquote = true;
        let r = self.double_quoted_body(w);
        self.in_dquote = outer;
        r
    }

    fn double_quoted_body(&mut self, w: &mut Word) -> Result<(), ShellParseError> {
        loop {
            let Some(c) = self.peek() else {
                return self.err("unterminated double quote");
            };
            match c {
                '"' => {
                    self.bump();
                    return Ok(());
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some(c @ ('"' | '\\' | '$' | '`')) => w.text.push(c),
                        Some('\n') => {}
                        Some(c) => {
                            w.text.push('\\');
                            w.text.push(c);
                        }
                        None => return self.err("unterminated double quote"),
                    }
                }
                '$' => self.dollar(w)?,
                '`' => self.backtick(w)?,
                c => {
                    self.bump();
                    w.text.push(c);
                }
            }
        }
    }

    fn dollar(&mut self, w: &mut Word) -> Result<(), ShellParseError> {
        let start = self.pos;
        self.bump();
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') => {
                // Arithmetic `$(( ... ))`: text, no command runs.
                let mut depth = 0usize;
                while let Some(c) = self.bump() {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                if depth != 0 {
                    return self.err("unterminated `$((`");
                }
                w.text.push_str(&self.s[start..self.pos]);
                w.dynamic = true;
                let inner = self.s[start..self.pos].to_string();
                self.expansion_commands(&inner, w)?;
            }
            Some('(') => {
                self.bump();
                let inner = self.nested(')')?;
                w.text.push_str("$(...)");
                w.nested.push(inner);
                w.dynamic = true;
            }
            Some('{') => {
                // The matching `}`, past nested braces and quotes.
                let mut depth = 0usize;
                let mut quote: Option<char> = None;
                let mut end = None;
                for (i, c) in self.rest().char_indices() {
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, '\'' | '"') => quote = Some(c),
                        (None, '{') => depth += 1,
                        (None, '}') => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(i);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else {
                    return self.err("unterminated `${`");
                };
                let inner = self.s[self.pos + 1..self.pos + end].to_string();
                self.pos += end + 1;
                w.text.push_str(&self.s[start..self.pos]);
                w.dynamic = true;
                self.expansion_commands(&inner, w)?;
            }
            Some(c) if c.is_ascii_alphanumeric() || "_?!#@*-$".contains(c) => {
                if c.is_ascii_alphabetic() || c == '_' {
                    while self
                        .peek()
                        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        self.bump();
                    }
                } else {
                    self.bump();
                }
                w.text.push_str(&self.s[start..self.pos]);
                w.dynamic = true;
            }
            Some('\'') => {
                // `$'...'`: ANSI-C quoting; escapes are kept as written.
                self.bump();
                let Some(end) = self.rest().find('\'') else {
                    return self.err("unterminated `$'`");
                };
                w.text.push_str(&self.s[self.pos..self.pos + end]);
                self.pos += end + 1;
                w.dynamic = true;
            }
            // `$"..."`: a double-quoted string looked up in the locale's catalogue.
            Some('"') if !self.in_dquote => {}
            _ => w.text.push('$'),
        }
        Ok(())
    }

    /// Commands inside `${...}` and `$((...))` (`${x:-$(cmd)}`, `$(( $(cmd) ))`): they run when
    /// the word is expanded, so they are read as the substitutions they are.
    fn expansion_commands(&mut self, inner: &str, w: &mut Word) -> Result<(), ShellParseError> {
        if !inner.contains("$(") && !inner.contains('`') {
            return Ok(());
        }
        let quoted = format!(": \"{}\"", inner.replace('"', "\\\""));
        let script = parse_at_depth(&quoted, self.depth + 1).map_err(|e| ShellParseError {
            offset: self.pos,
            message: format!("inside an expansion: {}", e.message),
        })?;
        for p in script.pipelines {
            for c in p.commands {
                if let Command::Simple(simple) = c {
                    for word in simple.words {
                        w.nested.extend(word.nested);
                    }
                }
            }
        }
        Ok(())
    }

    fn backtick(&mut self, w: &mut Word) -> Result<(), ShellParseError> {
        self.bump();
        let mut inner = String::new();
        loop {
            match self.bump() {
                None => return self.err("unterminated backtick"),
                Some('`') => break,
                Some('\\') => match self.bump() {
                    Some(c @ ('`' | '\\' | '$')) => inner.push(c),
                    Some(c) => {
                        inner.push('\\');
                        inner.push(c);
                    }
                    None => return self.err("unterminated backtick"),
                },
                Some(c) => inner.push(c),
            }
        }
        let script = parse_at_depth(&inner, self.depth + 1).map_err(|e| ShellParseError {
            offset: self.pos,
            message: format!("inside backticks: {}", e.message),
        })?;
        w.text.push_str("`...`");
        w.nested.push(script);
        w.dynamic = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &Script) -> Vec<Vec<String>> {
        s.pipelines
            .iter()
            .flat_map(|p| &p.commands)
            .filter_map(|c| match c {
                Command::Simple(s) => Some(s.words.iter().map(|w| w.text.clone()).collect()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reads_words_lists_and_pipes() {
        let s =
            parse(r#"ls -la && echo "a b" 'c d' e\ f; cat x | grep -v y || true & wait"#).unwrap();
        assert_eq!(
            words(&s),
            vec![
                vec!["ls", "-la"],
                vec!["echo", "a b", "c d", "e f"],
                vec!["cat", "x"],
                vec!["grep", "-v", "y"],
                vec!["true"],
                vec!["wait"],
            ]
        );
        assert_eq!(s.pipelines.len(), 5);
        assert_eq!(s.pipelines[2].commands.len(), 2);
    }

    #[test]
    fn reads_substitutions_redirects_and_heredocs() {
        let s = parse("echo $(curl -s x | sh) `id` > out 2>&1 <<EOF\nbody $(x)\nEOF\nls").unwrap();
        let Command::Simple(echo) = &s.pipelines[0].commands[0] else {
            panic!()
        };
        assert_eq!(echo.words[1].nested.len(), 1);
        assert_eq!(echo.words[2].nested.len(), 1);
        assert_eq!(echo.redirects.len(), 3);
        assert_eq!(echo.redirects[0].target.text, "out");
        assert_eq!(echo.redirects[1].op, ">&");
        assert_eq!(echo.heredocs, vec!["body $(x)\n".to_string()]);
        assert_eq!(words(&s).last().unwrap(), &vec!["ls".to_string()]);
        let s = parse("bash <(curl -s x) && (cd /; rm -rf x)").unwrap();
        assert_eq!(s.pipelines.len(), 2);
        assert!(matches!(s.pipelines[1].commands[0], Command::Subshell(_)));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "echo 'x",
            "echo \"x",
            "echo $(ls",
            "echo `ls",
            "ls )",
            "echo >",
            "echo ${x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}ls{}", "$(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).unwrap_err().message.contains("deeper"));
        let deep = format!("{}ls{}", "(".repeat(4000), ")".repeat(4000));
        assert!(parse(&deep).is_err());
    }
}
