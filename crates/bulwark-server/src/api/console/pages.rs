//! The console's pages, rendered with maud (every value is HTML-escaped). No inline script or
//! style: the Content-Security-Policy allows only `/console/assets/`.

use axum::http::StatusCode;
use bulwark_core::approval::{ApprovalRecord, StateName, rfc3339};
use bulwark_core::audit::{AuditRecord, EventType};
use bulwark_core::mcp::{ChangeKind, ServerPin};
use maud::{DOCTYPE, Markup, html};

use super::Viewer;

/// The frame of every page: navigation, who is signed in, the sign-out form.
fn layout(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) " · Bulwark console" }
                link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header {
                    span.brand { "Bulwark" }
                    @if let Some(v) = viewer {
                        nav {
                            a href="/console/approvals" { "Approvals" }
                            a href="/console/held" { "Held alerts" }
                            a href="/console/pins" { "MCP pins" }
                            a href="/console/audit" { "Audit log" }
                        }
                        span.who #who { "Signed in as " strong { (v.principal.name) } }
                        form.inline method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button #sign-out type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub(super) fn error(status: StatusCode, message: &str) -> Markup {
    layout(
        "Refused",
        None,
        html! {
            p.error #error { strong { (status.as_u16()) } " " (message) }
            p { a href="/console/approvals" { "Back to the console" } }
        },
    )
}

/// Where a link from another site lands when the browser held back the session cookie
/// (SameSite=Strict): the same page again, asked from here, which sends it.
pub(super) fn bounce(next: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content={ "0;url=" (next) };
                link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml";
                title { "Bulwark console" }
            }
            body { p { a #continue href=(next) { "Continue to the console" } } }
        }
    }
}

pub(super) fn login(
    nonce: &str,
    next: &str,
    note: Option<&str>,
    problem: Option<&str>,
    sso: bool,
) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            @if let Some(n) = note { p.note #note { (n) } }
            @if let Some(p) = problem { p.error #error { (p) } }
            form.card #login method="post" action="/console/login" {
                input type="hidden" name="csrf" value=(nonce);
                input type="hidden" name="next" value=(next);
                label for="token" { "API token with the approve scope" }
                input #token type="password" name="token" autocomplete="off" required
                    placeholder="bwk_…";
                button #sign-in type="submit" { "Sign in" }
            }
            p.hint { "Create one with " code { (super::CREATE_APPROVER) } "." }
            @if sso {
                p { a.button #sso href={ "/console/oidc/start?next=" (super::query_value(next)) } {
                    "Sign in with single sign-on" } }
            }
        },
    )
}

/// "4m 05s", "2h 10m", or "expired".
fn remaining(expires_ms: u64, now_ms: u64) -> String {
    let Some(left) = expires_ms.checked_sub(now_ms).filter(|l| *l > 0) else {
        return "expired".into();
    };
    let s = left / 1000;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

fn target(r: &ApprovalRecord) -> String {
    let mut t = r.summary.target.clone();
    if let Some(ns) = &r.summary.namespace {
        t = format!("{t} in {ns}");
    }
    if let Some(c) = &r.summary.cluster {
        t = format!("{t} on {c}");
    }
    t
}

fn sources(r: &ApprovalRecord) -> Markup {
    html! {
        @match &r.summary.provenance {
            Some(t) if t.untrusted > 0 => {
                span.untrusted title="untrusted content in the context the call was proposed with" {
                    (t.untrusted) " untrusted: "
                    @for (i, src) in t.sources.iter().enumerate() {
                        @if i > 0 { ", " }
                        (src.source) " (" (src.at) ")"
                    }
                }
            }
            _ => { span.muted { "none known" } }
        }
    }
}

const STATES: [&str; 6] = [
    "pending", "approved", "rejected", "expired", "executed", "all",
];

pub(super) fn approvals(
    v: &Viewer,
    list: &[ApprovalRecord],
    state: Option<StateName>,
    now_ms: u64,
) -> Markup {
    let current = state.map_or("all", StateName::as_str);
    layout(
        "Approvals",
        Some(v),
        html! {
            nav.tabs {
                @for st in STATES {
                    a.active[st == current] href={ "/console/approvals?state=" (st) } { (st) }
                }
            }
            p.count #count { (list.len()) " " (current) " approval" @if list.len() != 1 { "s" } ", newest first" }
            @if list.is_empty() {
                p.muted { "Nothing here." }
            } @else {
                table #approvals {
                    thead { tr {
                        th { "Approval" } th { "Expires" } th { "Requester" } th { "Tool" }
                        th { "Target" } th { "Tier" } th { "Rule" } th { "Untrusted sources" } th { "State" }
                    } }
                    tbody {
                        @for r in list {
                            tr.approval data-id=(r.id.as_str()) {
                                td { a href={ "/console/approvals/" (r.id.as_str()) } { code { (r.id.as_str()) } } }
                                td { span.countdown data-expires-ms=(r.expires_ms) title=(rfc3339(r.expires_ms)) {
                                    (remaining(r.expires_ms, now_ms)) } }
                                td { (r.requested_by) }
                                td { (r.summary.tool) " " span.muted { (r.summary.action) } }
                                td { (target(r)) }
                                td { (r.summary.tier.as_deref().unwrap_or("—")) }
                                td { code { (r.summary.rule) } }
                                td { (sources(r)) }
                                td { span.state.(r.state.as_str()) { (r.state.as_str()) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// How long one diff may take; past it, the rest is shown as removed and added whole.
const DIFF_FOR: std::time::Duration = std::time::Duration::from_millis(200);

/// Line diff of two texts (shown with [`visible`]).
fn diff(old: &str, new: &str) -> Markup {
    use similar::{ChangeTag, TextDiff};
    let (old, new) = (visible(old), visible(new));
    let d = TextDiff::configure()
        .timeout(DIFF_FOR)
        .diff_lines(old.as_str(), new.as_str());
    html! {
        pre.diff {
            @for c in d.iter_all_changes() {
                @match c.tag() {
                    ChangeTag::Delete => { del { "- " (c.value()) } }
                    ChangeTag::Insert => { ins { "+ " (c.value()) } }
                    ChangeTag::Equal => { span { "  " (c.value()) } }
                }
            }
        }
    }
}

/// `text` with the characters a reader cannot see made visible as `⟦U+XXXX⟧`: controls (but
/// line breaks and tabs), bidirectional overrides and isolates, zero-width characters and the
/// byte-order mark, which could make an argument read as something it is not.
pub(super) fn visible(text: &str) -> String {
    let hidden = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    };
    if !text.chars().any(hidden) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if hidden(c) {
                format!("⟦U+{:04X}⟧", u32::from(c))
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn pretty(v: &serde_json::Value) -> String {
    visible(&(serde_json::to_string_pretty(v).unwrap_or_default() + "\n"))
}

pub(super) fn approval(
    v: &Viewer,
    r: &ApprovalRecord,
    shown: &serde_json::Value,
    previous: Option<&(ApprovalRecord, serde_json::Value)>,
    done: Option<&str>,
    now_ms: u64,
) -> Markup {
    let digest = format!("sha256:{}", r.digest.as_str());
    layout(
        &format!("Approval {}", r.id.as_str()),
        Some(v),
        html! {
            @if let Some(d) = done { p.note #flash { "You " (d) " it. It is now " strong { (r.state.as_str()) } "." } }
            dl.summary {
                dt { "State" } dd { span.state.(r.state.as_str()) #state { (r.state.as_str()) }
                    " (" (r.votes.len()) " of " (r.needed) " approvals)" }
                dt { "Expires" } dd { span.countdown data-expires-ms=(r.expires_ms) { (remaining(r.expires_ms, now_ms)) }
                    " (" (rfc3339(r.expires_ms)) ")" }
                dt { "Requester" } dd { (r.requested_by) }
                dt { "Tool" } dd { (r.summary.tool) " " (r.summary.action) " (" (r.summary.class.as_str()) ")" }
                dt { "Target" } dd { (target(r)) }
                dt { "Tier" } dd { (r.summary.tier.as_deref().unwrap_or("—")) }
                dt { "Rule" } dd { code { (r.summary.rule) } }
                dt { "Untrusted sources" } dd { (sources(r)) }
                @if let Some(t) = &r.summary.provenance {
                    @for c in &t.chosen {
                        dt { "From untrusted content" } dd.untrusted { code { (c.arg) } " ← " (c.from) ": " (c.why) }
                    }
                }
                @if !r.votes.is_empty() {
                    dt { "Approved by" } dd { @for (i, vote) in r.votes.iter().enumerate() {
                        @if i > 0 { ", " } (vote.approver) " at " (rfc3339(vote.at_ms)) } }
                }
                @if let Some(by) = &r.decided_by { dt { "Decided by" } dd { (by) } }
                @if let Some(why) = &r.reason { dt { "Reason" } dd { (why) } }
                dt { "Digest approved" } dd { code #digest { (digest) } }
            }
            h2 { "The call (canonical arguments; secrets hidden, each with a fingerprint that changes when it does; the digest covers their real values)" }
            pre.intent #intent { (pretty(shown)) }
            h2 { "Against the last approved call for this tool and target" }
            @match previous {
                Some((p, old)) => {
                    p.muted { "Approval " a href={ "/console/approvals/" (p.id.as_str()) } { code { (p.id.as_str()) } }
                        ", " (p.state.as_str()) ", requested " (rfc3339(p.created_ms)) "." }
                    div #diff { (diff(&pretty(old), &pretty(shown))) }
                }
                None => { p.muted #no-previous { "No earlier approved call for this tool and target." } }
            }
            @if r.state == StateName::Pending {
                div.actions {
                    form.card #approve method="post" action={ "/console/approvals/" (r.id.as_str()) "/approve" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        input type="hidden" name="digest" value=(digest);
                        p { "Approve exactly this call (" code { (&digest[..19]) "…" } ")." }
                        button.approve #approve-button type="submit" { "Approve" }
                    }
                    form.card #reject method="post" action={ "/console/approvals/" (r.id.as_str()) "/reject" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        label for="reason" { "Reason (recorded)" }
                        textarea #reason name="reason" rows="2" required {}
                        button.reject #reject-button type="submit" { "Reject" }
                    }
                }
            }
        },
    )
}

pub(super) fn held(v: &Viewer, held: &[serde_json::Value], done: Option<&str>) -> Markup {
    let text = |j: &serde_json::Value, k: &str| j[k].as_str().unwrap_or("").to_string();
    layout(
        "Held alerts",
        Some(v),
        html! {
            @if let Some(d) = done { p.note #flash { (d) } }
            @if held.is_empty() {
                p.muted #count { "No alert is held." }
            } @else {
                p.count #count { (held.len()) " held, newest first" }
                @for a in held {
                    section.card.held data-id=(text(a, "id")) {
                        h2 { code { (text(a, "id")) } " from " (text(a, "source")) }
                        p { "Verdict " strong { (text(a, "verdict")) } ", received " (text(a, "received_at")) ", rules: "
                            @for (i, r) in a["rules"].as_array().into_iter().flatten().enumerate() {
                                @if i > 0 { ", " } code { (r.as_str().unwrap_or("")) } } }
                        p { a href={ "/console/held/" (text(a, "id")) } { "Read the payload (redacted)" } }
                        div.actions {
                            form.inline method="post" action={ "/console/held/" (text(a, "id")) "/release" } {
                                input type="hidden" name="csrf" value=(v.csrf);
                                button.approve type="submit" { "Release (forward once)" }
                            }
                            form.inline method="post" action={ "/console/held/" (text(a, "id")) "/drop" } {
                                input type="hidden" name="csrf" value=(v.csrf);
                                button.reject type="submit" { "Drop" }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub(super) fn held_alert(v: &Viewer, a: &serde_json::Value) -> Markup {
    let text = |k: &str| a[k].as_str().unwrap_or("").to_string();
    layout(
        &format!("Held alert {}", text("id")),
        Some(v),
        html! {
            p { "From " strong { (text("source")) } ", verdict " strong { (text("verdict")) } ", "
                (text("state")) ", received " (text("received_at")) "." }
            p { "Rules: " @for (i, r) in a["rules"].as_array().into_iter().flatten().enumerate() {
                @if i > 0 { ", " } code { (r.as_str().unwrap_or("")) } } }
            h2 { "Payload (secrets and personal data redacted)" }
            pre #payload { (visible(&text("payload"))) }
            @if text("state") == "held" {
                div.actions {
                    form.inline method="post" action={ "/console/held/" (text("id")) "/release" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button.approve type="submit" { "Release (forward once)" }
                    }
                    form.inline method="post" action={ "/console/held/" (text("id")) "/drop" } {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button.reject type="submit" { "Drop" }
                    }
                }
            }
        },
    )
}

pub(super) fn pins(v: &Viewer, pins: &[ServerPin]) -> Markup {
    layout(
        "MCP pin changes",
        Some(v),
        html! {
            @if pins.is_empty() {
                p.muted #count { "No MCP server awaits approval of changed definitions." }
            }
            @for p in pins {
                @if let Some(x) = &p.pending {
                    section.card.pin data-key=(p.key) {
                        h2 { code { (p.key) } " (" (p.program) ")" }
                        p { "Pinned by " (p.pinned_by) ". Proposed definitions " code { "sha256:" (x.digest) }
                            ", decided by approval "
                            a href={ "/console/approvals/" (x.approval) } { code { (x.approval) } } "." }
                        @for c in &x.changes {
                            h3 {
                                (match c.change { ChangeKind::Added => "added", ChangeKind::Changed => "changed", ChangeKind::Removed => "removed" })
                                " " (c.kind) " " code { (c.name) }
                                @if !c.findings.is_empty() { " " span.untrusted { "flagged: " (c.findings.join(", ")) } }
                            }
                            @for f in p.field_changes(x, c) {
                                p.field { code { (f.field) } }
                                (diff(
                                    &(f.old.unwrap_or_default() + "\n"),
                                    &(f.new.unwrap_or_default() + "\n"),
                                ))
                            }
                        }
                    }
                }
            }
        },
    )
}

/// One page of the audit log.
pub(super) struct AuditPage<'a> {
    pub(super) records: &'a [AuditRecord],
    /// It starts after this sequence number.
    pub(super) after: u64,
    /// The last sequence number read.
    pub(super) last: u64,
    /// Whether reading stopped before the end of the log.
    pub(super) more: bool,
    pub(super) limit: usize,
    pub(super) only: Option<EventType>,
}

pub(super) fn audit(v: &Viewer, page: &AuditPage<'_>, verified: &serde_json::Value) -> Markup {
    let AuditPage {
        records,
        after,
        last,
        more,
        limit,
        only,
    } = *page;
    let status = verified["status"].as_str().unwrap_or("unknown");
    let event = only.map_or("", EventType::as_str);
    layout(
        "Audit log",
        Some(v),
        html! {
            p.verify.(status) #verification {
                "Verification: " strong { (status) } ", " (verified["records"].as_u64().unwrap_or(0)) " records"
                @if let Some(f) = verified.get("failure").filter(|f| !f.is_null()) {
                    " — first failure: " (f.to_string())
                }
                " (checked " (verified["checked_at"].as_str().unwrap_or("")) ")"
            }
            form.inline #filter method="get" action="/console/audit" {
                label for="event" { "Event " }
                select #event name="event" {
                    option value="" selected[event.is_empty()] { "all" }
                    @for t in EventType::ALL {
                        option value=(t.as_str()) selected[t == only.unwrap_or(EventType::Custom) && !event.is_empty()] { (t.as_str()) }
                    }
                }
                button type="submit" { "Filter" }
            }
            table #audit {
                thead { tr { th { "Seq" } th { "Time" } th { "Event" } th { "Actor" } th { "Action" } th { "Resource" } th { "Outcome" } } }
                tbody {
                    @for r in records {
                        tr.record data-seq=(r.seq) {
                            td { (r.seq) } td { (r.timestamp) } td { (r.event_type.as_str()) } td { (r.actor) }
                            td { code { (r.action) } } td { (r.resource) } td { (r.outcome) }
                        }
                    }
                }
            }
            p.pager {
                @if after > 0 { a href={ "/console/audit?event=" (event) "&limit=" (limit) } { "First page" } " " }
                @if more && last > after {
                    a #next href={ "/console/audit?event=" (event) "&limit=" (limit) "&after=" (last) } { "Next page" }
                } @else {
                    span.muted { "End of the log." }
                }
            }
        },
    )
}
