//! Approvals in Slack and Discord: the message posted for a new pending approval, with Approve and
//! Reject buttons bound to the approval's id and digest; checking a Discord interaction's Ed25519
//! signature (Slack's v0 signature is [`crate::webhook::WebhookVerifier`]'s `slack` scheme); and
//! what a click answers.
//!
//! The channel message has **Review** and **Reject**; Review answers the clicker alone with what the
//! approval is for (the arguments, secrets redacted, and the digest) and **Approve** and **Reject**:
//! nobody approves from a line of text that several approvals could share.
//!
//! A button carries `review:ID:DIGEST32`, `approve:ID:DIGEST32` or `reject:ID:DIGEST32`, where
//! `DIGEST32` is the first 32 hex digits of the intent's digest (Discord allows 100 characters in a
//! `custom_id`): a click acts only on the approval whose stored digest starts with it, so a button
//! cannot be pointed at another approval.

use ed25519_dalek::{Signature, VerifyingKey};

use super::{Approval, ApprovalError, ApprovalId, ApprovalRecord, Pending, rfc3339};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a chat message about an approval shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChatDetails {
    /// Only that an approval waits, its id and expiry: for channels others can read.
    #[default]
    None,
    /// Also the tool, action, target, namespace, tier and requester (never argument values).
    Summary,
}

/// Hex digits of the digest a button carries.
const DIGEST_PREFIX: usize = 32;

/// What a button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Show the clicker what the approval is for, with Approve and Reject.
    Review,
    /// Approve.
    Approve,
    /// Reject.
    Reject,
}

impl Act {
    fn as_str(self) -> &'static str {
        match self {
            Act::Review => "review",
            Act::Approve => "approve",
            Act::Reject => "reject",
        }
    }
}

/// What a button asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// What it does.
    pub act: Act,
    /// The approval.
    pub id: ApprovalId,
    /// The first 32 hex digits of its digest.
    pub digest_prefix: String,
}

impl Button {
    /// The value of the button that does `act` on approval `id` whose digest is `digest` (hex).
    pub fn value(act: Act, id: &ApprovalId, digest: &str) -> String {
        let d: String = digest.chars().take(DIGEST_PREFIX).collect();
        format!("{}:{id}:{d}", act.as_str())
    }

    /// Read a button's value; `None` for anything else.
    pub fn parse(value: &str) -> Option<Button> {
        let mut parts = value.split(':');
        let act = match parts.next()? {
            "review" => Act::Review,
            "approve" => Act::Approve,
            "reject" => Act::Reject,
            _ => return None,
        };
        let id = ApprovalId::parse(parts.next()?).ok()?;
        let digest_prefix = parts.next()?.to_ascii_lowercase();
        if parts.next().is_some()
            || digest_prefix.len() != DIGEST_PREFIX
            || !digest_prefix.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        Some(Button {
            act,
            id,
            digest_prefix,
        })
    }

    /// Whether it was made for `record` (its digest starts with the button's).
    pub fn matches(&self, record: &ApprovalRecord) -> bool {
        record.id == self.id && record.digest.as_str().starts_with(&self.digest_prefix)
    }
}

/// The text of a chat message about a new approval; with `console` (`[console] public_url`), a
/// link to the approval's page there.
pub fn message_text(a: &Approval<Pending>, details: ChatDetails, console: Option<&str>) -> String {
    let text = match details {
        ChatDetails::Summary => super::notification_text(a),
        ChatDetails::None => format!(
            "Bulwark: approval {} is waiting ({} approval(s) needed; expires {}). Decide with the buttons, or `bulwark approvals show {}`.",
            a.id(),
            a.needed(),
            rfc3339(a.expires_ms()),
            a.id()
        ),
    };
    match console {
        Some(base) => format!(
            "{text}\nReview it in the console: {}/approvals/{}",
            base.trim_end_matches('/'),
            a.id()
        ),
        None => text,
    }
}

/// Slack blocks: `text`, then a button per act for approval `id` with `digest`.
fn slack_blocks(text: &str, id: &ApprovalId, digest: &str, acts: &[Act]) -> serde_json::Value {
    let buttons: Vec<serde_json::Value> = acts
        .iter()
        .map(|act| {
            let (label, style) = match act {
                Act::Review => ("Review", None),
                Act::Approve => ("Approve", Some("primary")),
                Act::Reject => ("Reject", Some("danger")),
            };
            let mut b = serde_json::json!({
                "type": "button", "action_id": format!("bulwark_{}", act.as_str()),
                "text": {"type": "plain_text", "text": label},
                "value": Button::value(*act, id, digest),
            });
            if let Some(style) = style {
                b["style"] = style.into();
            }
            b
        })
        .collect();
    serde_json::json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": "bulwark", "elements": buttons},
    ])
}

/// Discord components: a button per act for approval `id` with `digest`.
fn discord_buttons(id: &ApprovalId, digest: &str, acts: &[Act]) -> serde_json::Value {
    let buttons: Vec<serde_json::Value> = acts
        .iter()
        .map(|act| {
            let (label, style) = match act {
                Act::Review => ("Review", 1),
                Act::Approve => ("Approve", 3),
                Act::Reject => ("Reject", 4),
            };
            serde_json::json!({"type": 2, "style": style, "label": label,
                               "custom_id": Button::value(*act, id, digest)})
        })
        .collect();
    serde_json::json!([{"type": 1, "components": buttons}])
}

/// The `chat.postMessage` body for `channel`: the text, and Review and Reject buttons.
pub fn slack_message(
    channel: &str,
    a: &Approval<Pending>,
    details: ChatDetails,
    console: Option<&str>,
) -> serde_json::Value {
    let text = message_text(a, details, console);
    serde_json::json!({
        "channel": channel,
        "text": text,
        "unfurl_links": false,
        "unfurl_media": false,
        "blocks": slack_blocks(&text, a.id(), a.digest().as_str(), &[Act::Review, Act::Reject]),
    })
}

/// The Discord create-message body: the text (mentions disabled), and Review and Reject buttons.
pub fn discord_message(
    a: &Approval<Pending>,
    details: ChatDetails,
    console: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({
        "content": message_text(a, details, console),
        "allowed_mentions": {"parse": []},
        "components": discord_buttons(a.id(), a.digest().as_str(), &[Act::Review, Act::Reject]),
    })
}

/// What Review shows the clicker alone: what, where, who asked, the arguments as the API shows
/// them (`shown`: the intent, secrets already redacted), the digest, and until when.
pub fn review_text(r: &ApprovalRecord, shown: &serde_json::Value) -> String {
    use super::chat_safe;
    let s = &r.summary;
    let args = chat_safe(&shown["args"].to_string(), 1500);
    let mut text = format!(
        "Approval {}: {} {} {}",
        r.id,
        chat_safe(&s.tool, 128),
        chat_safe(&s.action, 128),
        chat_safe(&s.target, 128)
    );
    if let Some(ns) = &s.namespace {
        text.push_str(&format!(" in {}", chat_safe(ns, 128)));
    }
    if let Some(t) = &s.tier {
        text.push_str(&format!(" (tier {})", chat_safe(t, 128)));
    }
    text.push_str(&format!(
        ", requested by {}. Arguments (secrets redacted): {args}. Digest sha256:{}. {} of {} approval(s); expires {}.",
        chat_safe(&r.requested_by, 128),
        r.digest.as_str(),
        r.votes.len(),
        r.needed,
        rfc3339(r.expires_ms)
    ));
    text
}

/// The Slack blocks of a review: its text, Approve and Reject.
pub fn slack_review(r: &ApprovalRecord, text: &str) -> serde_json::Value {
    slack_blocks(text, &r.id, r.digest.as_str(), &[Act::Approve, Act::Reject])
}

/// The Discord components of a review: Approve and Reject.
pub fn discord_review(r: &ApprovalRecord) -> serde_json::Value {
    discord_buttons(&r.id, r.digest.as_str(), &[Act::Approve, Act::Reject])
}

/// Why a Discord interaction was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscordError {
    /// A header is missing or malformed.
    #[error("missing or malformed header {0}")]
    Header(&'static str),
    /// The timestamp is too far from now.
    #[error("the timestamp is {skew} s away from now (at most {tolerance} s)")]
    Stale {
        /// Seconds away.
        skew: u64,
        /// Allowed.
        tolerance: u64,
    },
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
}

/// A Discord application's public key.
#[derive(Debug, Clone)]
pub struct DiscordKey(VerifyingKey);

impl DiscordKey {
    /// From its 64 hex digits.
    pub fn parse(hex_key: &str) -> Result<DiscordKey, String> {
        let bytes: [u8; 32] = hex::decode(hex_key.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| "expected 64 hex digits".to_string())?;
        VerifyingKey::from_bytes(&bytes)
            .map(DiscordKey)
            .map_err(|_| "not an Ed25519 public key".to_string())
    }

    /// Check `X-Signature-Ed25519` (hex) over `X-Signature-Timestamp` then the body, and that the
    /// timestamp is within `tolerance_secs` of `now_secs`.
    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now_secs: u64,
        tolerance_secs: u64,
    ) -> Result<(), DiscordError> {
        let sig = signature.ok_or(DiscordError::Header("x-signature-ed25519"))?;
        let ts = timestamp.ok_or(DiscordError::Header("x-signature-timestamp"))?;
        let t: u64 = ts
            .trim()
            .parse()
            .map_err(|_| DiscordError::Header("x-signature-timestamp"))?;
        let sig: [u8; 64] = hex::decode(sig.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(DiscordError::Header("x-signature-ed25519"))?;
        let mut msg = Vec::with_capacity(ts.len() + body.len());
        msg.extend_from_slice(ts.as_bytes());
        msg.extend_from_slice(body);
        self.0
            .verify_strict(&msg, &Signature::from_bytes(&sig))
            .map_err(|_| DiscordError::BadSignature)?;
        // Checked after the signature, so an unsigned request learns nothing about the clock.
        let skew = t.abs_diff(now_secs);
        if skew > tolerance_secs {
            return Err(DiscordError::Stale {
                skew,
                tolerance: tolerance_secs,
            });
        }
        Ok(())
    }
}

/// What a click answers its clicker (shown only to them), from what deciding gave.
pub fn outcome_text(
    b: &Button,
    who: &str,
    result: &Result<ApprovalRecord, ApprovalError>,
) -> String {
    match result {
        Ok(r) if b.act == Act::Reject => format!("Rejected approval {} as {who}.", r.id),
        Ok(r) if r.votes.len() < r.needed as usize => format!(
            "Approved approval {} as {who}: {} of {} approvals so far.",
            r.id,
            r.votes.len(),
            r.needed
        ),
        Ok(r) => format!("Approved approval {} as {who}: it may run now.", r.id),
        Err(ApprovalError::WrongState { state, .. }) => format!(
            "Approval {} is already {}: nothing changed.",
            b.id,
            state.as_str()
        ),
        Err(ApprovalError::AlreadyVoted { .. }) => format!(
            "You already approved {} as {who}: another approver is needed.",
            b.id
        ),
        Err(ApprovalError::SelfApproval { .. }) => {
            format!("{who} requested approval {} and may not approve it.", b.id)
        }
        Err(ApprovalError::NotApprover { .. }) | Err(ApprovalError::NotFound(_)) => format!(
            "{who} may not decide approval {} (an approver holds a token with the approve scope).",
            b.id
        ),
        Err(ApprovalError::Expired { .. }) => {
            format!("Approval {} has expired: nothing changed.", b.id)
        }
        // Store and audit failures stay in the sidecar's log: the chat only learns it failed.
        Err(_) => format!(
            "Approval {} could not be decided now: nothing changed; try again, or ask an operator to look at the sidecar's log.",
            b.id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_round_trip_and_refuse_anything_else() {
        let id = ApprovalId::parse(&"ab".repeat(16)).unwrap();
        let a = Button::value(Act::Approve, &id, &"c".repeat(64));
        assert!(a.len() <= 100, "Discord's custom_id limit");
        let b = Button::parse(&a).unwrap();
        assert!(b.act == Act::Approve && b.id == id && b.digest_prefix == "c".repeat(32));
        for act in [Act::Review, Act::Reject] {
            assert_eq!(
                Button::parse(&Button::value(act, &id, "cc")).map(|b| b.act),
                None
            );
            let v = Button::value(act, &id, &"d".repeat(64));
            assert_eq!(Button::parse(&v).unwrap().act, act);
        }
        for bad in [
            "",
            "approve",
            "approve:zz:cc",
            &format!("run:{id}:{}", "c".repeat(32)),
            &format!("approve:{id}:{}", "c".repeat(31)),
            &format!("approve:{id}:{}:x", "c".repeat(32)),
            &format!("approve:{id}:{}", "g".repeat(32)),
        ] {
            assert!(Button::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn names_from_the_agent_cannot_format_link_mention_or_hide_text() {
        use crate::approval::chat_safe;
        for (raw, never) in [
            ("||delete prod||", "||"),
            ("[docs](https://evil.example)", "]("),
            ("*urgent* _now_ ~x~ `code`", "*"),
            ("@everyone", "@e"),
            ("<!channel> <https://evil|click>", "<"),
            ("safe\u{202E}txt.exe", "\u{202E}"),
            ("zero\u{200B}width", "\u{200B}w"),
            ("# heading", "# "),
        ] {
            let out = chat_safe(raw, 128);
            assert!(!out.contains(never), "{raw:?} -> {out:?}");
        }
        let long = chat_safe(&"a".repeat(1000), 128);
        assert_eq!(long.chars().count(), 129, "cut, with an ellipsis");
    }

    #[test]
    fn a_discord_signature_is_checked_over_timestamp_and_body() {
        use ed25519_dalek::{Signer, SigningKey};
        let sk = SigningKey::from_bytes(&[9u8; 32]);
        let key = DiscordKey::parse(&hex::encode(sk.verifying_key().to_bytes())).unwrap();
        let body = br#"{"type":1}"#;
        let sig = hex::encode(
            sk.sign(&[b"1700000000".as_slice(), body].concat())
                .to_bytes(),
        );
        let now = 1_700_000_010;
        assert_eq!(
            key.verify(Some(&sig), Some("1700000000"), body, now, 300),
            Ok(())
        );
        assert_eq!(
            key.verify(Some(&sig), Some("1700000000"), b"{\"type\":2}", now, 300),
            Err(DiscordError::BadSignature)
        );
        assert_eq!(
            key.verify(Some(&sig), Some("1700000001"), body, now, 300),
            Err(DiscordError::BadSignature)
        );
        assert!(matches!(
            key.verify(Some(&sig), Some("1700000000"), body, now + 3600, 300),
            Err(DiscordError::Stale { .. })
        ));
        assert_eq!(
            key.verify(None, Some("1700000000"), body, now, 300),
            Err(DiscordError::Header("x-signature-ed25519"))
        );
        assert!(DiscordKey::parse("00").is_err());
    }
}
