//! Whether a proposed call sends data out: the built-in and configured senders, network programs in
//! a shell command, and the destinations (URLs, e-mail addresses, domains) its arguments name.

use super::*;

/// Tools that send data out, whatever their verb (globs over the name).
pub(super) const SENDERS: &[&str] = &[
    "send*",
    "*_send",
    "*send_*",
    "post_*",
    "*_post",
    "forward*",
    "email_*",
    "mail_*",
    "*_mail",
    "reply*",
    "http*",
    "*webhook*",
    "upload*",
    "publish*",
    "share*",
    "notify*",
    "page_*",
    "*message*",
    "*slack*",
    "*tweet*",
    "comment*",
    "invite*",
    "*_comment",
    "create_issue",
    "open_issue",
    "create_pull_request",
    "open_pull_request",
    "create_gist",
    "add_collaborator",
    "transfer*",
    "wire*",
    "pay*",
];

/// Programs a shell command sends data out with.
pub(super) const NET_PROGRAMS: &[&str] = &[
    "curl", "wget", "nc", "ncat", "netcat", "socat", "ssh", "scp", "sftp", "rsync", "ftp",
    "telnet", "mail", "mailx", "sendmail", "mutt", "http", "https", "xh", "aws", "gcloud",
    "gsutil", "az", "kubectl", "gh", "s3cmd", "rclone", "openssl", "dig", "nslookup", "host",
    "ping",
];

impl ProvenancePolicy {
    /// Whether a call sends data out: a sender by name, a verb in no class, a shell command
    /// with a network program, or a URL or e-mail address (outside the internal domains) that
    /// the context does not hold verbatim, or any outside one in a call that is not a read.
    pub(super) fn sends(
        &self,
        intent: &ExecutionIntent,
        decision: &ActionDecision,
        args: &[Arg],
        ctx: &Provenance,
    ) -> bool {
        let tool = intent.tool.to_lowercase();
        let verb = format!("{tool}.{}", intent.action.to_lowercase());
        // The same name in snake case (`createIssue`, `send-message`: `create_issue`,
        // `send_message`), which the built-in names are written in.
        let snake = directed::snake_case(&intent.tool);
        // And its last part, after a server's prefix (`mcp__github__create_issue`,
        // `github.createIssue`).
        let last = snake.rsplit(['.', '/']).next().unwrap_or(&snake);
        let last = last.rsplit("__").next().unwrap_or(last);
        let read = decision.class == ActionClass::Read;
        let named =
            |set: &GlobSet| set.is_match(&tool) || set.is_match(&verb) || set.is_match(&snake);
        let builtin = |set: &GlobSet| named(set) || set.is_match(last);
        // The operator's list always; the built-in names whatever the verb (the model chooses
        // the verb), unless every destination the call names is internal (a mail to a colleague
        // stays in).
        let dests: Vec<&Destination> = args.iter().flat_map(|a| &a.dests).collect();
        let stays_in = !dests.is_empty() && dests.iter().all(|d| self.internal(&d.host));
        if named(&self.senders) || (!stays_in && builtin(&self.builtin_senders)) {
            return true;
        }
        if decision
            .findings
            .iter()
            .any(|f| f.rule == "action-unknown-verb")
        {
            return true;
        }
        if let Some(cmd) = intent.args.str("command") {
            let cmd = cmd.to_lowercase();
            let words = cmd.split(|c: char| {
                c.is_whitespace()
                    || matches!(c, ';' | '|' | '&' | '(' | ')' | '`' | '$' | '\'' | '"')
            });
            let mut git = false;
            for w in words {
                let base = w.rsplit('/').next().unwrap_or(w);
                if NET_PROGRAMS.contains(&base) || (git && base == "push") {
                    return true;
                }
                git |= base == "git";
            }
        }
        if !read {
            return dests.iter().any(|d| !self.internal(&d.host));
        }
        // A read requests hosts (links, domains, IP addresses; an e-mail address a read takes is
        // a key it looks up). It sends what it carries: a host argument that is not in the
        // context as it is (a link followed as given carries nothing of the agent's) and names
        // more than an origin; or, beside it, arguments with more than a few characters of data
        // (headers, a body, a value split in pieces).
        let (hosts, others): (Vec<&Arg>, Vec<&Arg>) = args
            .iter()
            .partition(|a| a.dests.iter().any(|d| !d.email && !self.internal(&d.host)));
        if hosts.is_empty() {
            return false;
        }
        if others.iter().map(|a| a.text.len()).sum::<usize>() >= 12 || hosts.len() > MAX_LISTED {
            return true;
        }
        hosts.iter().any(|a| {
            !is_origin(&a.text) && !ctx.pieces.iter().any(|p| p.text.contains(a.text.as_str()))
        })
    }

    pub(super) fn internal(&self, host: &str) -> bool {
        self.cfg.internal_domains.iter().any(|d| {
            let d = d.to_lowercase();
            host == d || host.ends_with(&format!(".{d}"))
        })
    }

    /// URLs, e-mail addresses and domain names in a lowercased text.
    pub(super) fn destinations(&self, v: &str) -> Vec<Destination> {
        let mut out: Vec<Destination> = Vec::new();
        // Where URLs and addresses are: a domain inside one (an address's local part) is not
        // one of its own.
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for m in self.url.find_iter(v) {
            spans.push((m.start(), m.end()));
            let whole = m.as_str().trim_end_matches(['.', ',', ';', ':']);
            let host = url::Url::parse(whole)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            if !host.is_empty() {
                out.push(Destination {
                    host,
                    link: true,
                    email: false,
                });
            }
        }
        for m in self.email.find_iter(v) {
            spans.push((m.start(), m.end()));
            let host = m
                .as_str()
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .to_string();
            out.push(Destination {
                host,
                link: false,
                email: true,
            });
        }
        for m in self.domain.find_iter(v) {
            if spans.iter().any(|&(s, e)| m.start() < e && s < m.end()) {
                continue;
            }
            let host = m.as_str().to_string();
            // File names (`main.rs`, `values.yaml`) and code (`bh.session(`, `os.environ[`)
            // are not hosts.
            let code = matches!(v.as_bytes().get(m.end()), Some(b'(' | b'[' | b'='));
            // A file name is `name.ext` or a path's last part; `x.oast.interact.sh` is a host.
            let path = m.start() > 0 && matches!(v.as_bytes()[m.start() - 1], b'/' | b'\\');
            let file = has_file_suffix(&host) && (host.matches('.').count() == 1 || path);
            if code || file || out.iter().any(|d| d.host == host) {
                continue;
            }
            out.push(Destination {
                host,
                link: false,
                email: false,
            });
        }
        out
    }
}

pub(super) struct Destination {
    pub(super) host: String,
    /// A URL (a request goes there), not an address or a bare domain.
    pub(super) link: bool,
    /// An e-mail address.
    pub(super) email: bool,
}

/// Whether a value is one URL naming only its origin.
pub(super) fn is_origin(v: &str) -> bool {
    let v = v.trim();
    !v.contains(char::is_whitespace)
        && url::Url::parse(v).is_ok_and(|u| {
            u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && matches!(u.path(), "" | "/")
                && u.query().is_none()
                && u.fragment().is_none()
        })
}

pub(super) fn has_file_suffix(host: &str) -> bool {
    const FILES: &[&str] = &[
        "rs", "py", "js", "ts", "go", "md", "txt", "json", "yaml", "yml", "toml", "sh", "log",
        "csv", "html", "css", "lock", "cfg", "conf", "ini", "xml", "java", "rb", "php", "c", "h",
        "cpp", "tf", "sql", "env", "pem", "key", "zip", "gz", "tar", "png", "jpg", "pdf", "tsx",
        "jsx", "vue", "kt", "swift", "lua", "pl", "ex", "exs", "erl", "hs", "ml", "scala",
    ];
    host.rsplit('.')
        .next()
        .is_some_and(|tld| FILES.contains(&tld))
}
