//! `/v1/interactions/slack` and `/v1/interactions/discord`: Approve and Reject clicks on the
//! messages `[approval.slack]` and `[approval.discord]` post for each new pending approval. No API
//! token: each platform proves itself with its signature (Slack's v0 HMAC within five minutes,
//! Discord's Ed25519 over timestamp and body). The clicker's platform user id maps to a Bulwark
//! principal in config; anyone else is refused in a message only they see. Each button is bound to
//! one approval's id and digest, and deciding goes through the approval's state machine, so a
//! platform's retry or a replayed click changes nothing twice.

use super::*;
use bulwark_core::approval::cfg::ChatDetails;
use bulwark_core::approval::chat::{Button, DiscordKey, outcome_text};
use std::collections::BTreeMap;

/// How far a signed timestamp may be from now (Slack's own rule: five minutes).
const TOLERANCE_SECS: u64 = 300;

/// `[approval.slack]`, compiled.
pub(crate) struct SlackChat {
    verifier: bulwark_core::webhook::WebhookVerifier,
    authorization: secrecy::SecretString,
    channel: String,
    api_url: String,
    users: BTreeMap<String, String>,
    details: ChatDetails,
}

/// `[approval.discord]`, compiled.
pub(crate) struct DiscordChat {
    key: DiscordKey,
    authorization: secrecy::SecretString,
    channel_id: String,
    api_url: String,
    users: BTreeMap<String, String>,
    details: ChatDetails,
}

/// The chats approvals are posted to.
#[derive(Default)]
pub(crate) struct Chats {
    pub(crate) slack: Option<Arc<SlackChat>>,
    pub(crate) discord: Option<Arc<DiscordChat>>,
}

impl Chats {
    /// Compile `[approval.slack]` and `[approval.discord]` with their secrets.
    pub(crate) fn compile(
        cfg: &bulwark_core::approval::ApprovalConfig,
        secret: &dyn Fn(
            &str,
            &bulwark_core::vault::cfg::SecretRef,
        ) -> Result<secrecy::SecretString, String>,
    ) -> Result<Chats, ServeError> {
        let mut out = Chats::default();
        let s = &cfg.slack;
        if s.enabled {
            let signing = secret("approval.slack.signing_secret", &s.signing_secret)
                .map_err(ServeError::Config)?;
            let token =
                secret("approval.slack.bot_token", &s.bot_token).map_err(ServeError::Config)?;
            out.slack = Some(Arc::new(SlackChat {
                verifier: bulwark_core::webhook::WebhookVerifier::new(
                    bulwark_core::webhook::Scheme::Slack,
                    &signing,
                    "",
                    "",
                    TOLERANCE_SECS,
                )
                .map_err(|e| ServeError::Config(format!("approval.slack.signing_secret: {e}")))?,
                authorization: format!("Bearer {}", token.expose_secret()).into(),
                channel: s.channel.clone(),
                api_url: s.api_url.trim_end_matches('/').to_string(),
                users: s.users.clone(),
                details: s.details,
            }));
        }
        let d = &cfg.discord;
        if d.enabled {
            let token =
                secret("approval.discord.bot_token", &d.bot_token).map_err(ServeError::Config)?;
            out.discord = Some(Arc::new(DiscordChat {
                key: DiscordKey::parse(&d.public_key)
                    .map_err(|e| ServeError::Config(format!("approval.discord.public_key: {e}")))?,
                authorization: format!("Bot {}", token.expose_secret()).into(),
                channel_id: d.channel_id.clone(),
                api_url: d.api_url.trim_end_matches('/').to_string(),
                users: d.users.clone(),
                details: d.details,
            }));
        }
        Ok(out)
    }

    /// Post a new pending approval to each chat, in the background (the agent does not wait).
    pub(crate) fn post_pending(
        &self,
        a: &bulwark_core::approval::Approval<bulwark_core::approval::Pending>,
        audit: Option<&AuditLog>,
    ) {
        use bulwark_core::approval::chat::{discord_message, slack_message};
        let resource = format!("approval:{}", a.id());
        if let Some(sl) = &self.slack {
            let (sl, body, audit, resource) = (
                sl.clone(),
                slack_message(&sl.channel, a, sl.details),
                audit.cloned(),
                resource.clone(),
            );
            std::thread::spawn(move || {
                let url = format!("{}/chat.postMessage", sl.api_url);
                if let Err(e) = crate::notify::chat_post(
                    &url,
                    &sl.authorization,
                    &body,
                    audit.as_ref(),
                    "approval.notify.slack",
                    &resource,
                ) {
                    tracing::warn!("posting the approval to Slack failed: {e}");
                }
            });
        }
        if let Some(d) = &self.discord {
            let (d, body, audit) = (d.clone(), discord_message(a, d.details), audit.cloned());
            std::thread::spawn(move || {
                let url = format!("{}/channels/{}/messages", d.api_url, d.channel_id);
                if let Err(e) = crate::notify::chat_post(
                    &url,
                    &d.authorization,
                    &body,
                    audit.as_ref(),
                    "approval.notify.discord",
                    &resource,
                ) {
                    tracing::warn!("posting the approval to Discord failed: {e}");
                }
            });
        }
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Decide the click of platform user `user` on button `value`; the answer for the clicker.
async fn decide(
    s: &Shared,
    platform: &'static str,
    users: &BTreeMap<String, String>,
    user: &str,
    value: &str,
) -> Result<String, ApiError> {
    let record = |principal: &str, outcome: &str, detail: serde_json::Value| {
        s.audit(AuditEvent {
            event_type: EventType::Approval,
            actor: principal.to_string(),
            action: format!("approval.{platform}"),
            resource: value.chars().take(120).collect(),
            outcome: outcome.into(),
            details: detail,
        });
    };
    let Some(principal) = users.get(user).cloned() else {
        record(
            "unknown",
            "refused",
            serde_json::json!({"user": user, "reason": "not mapped to a principal"}),
        );
        return Ok(format!(
            "Your {platform} account ({user}) is not an approver in Bulwark: nothing changed. An operator can map it under [approval.{platform}] users."
        ));
    };
    let Some(b) = Button::parse(value) else {
        record(
            &principal,
            "refused",
            serde_json::json!({"user": user, "reason": "not a Bulwark button"}),
        );
        return Ok("That is not a Bulwark approval button: nothing changed.".into());
    };
    let st = s.clone();
    let who = principal.clone();
    let text = blocking(move || {
        let ap = approvals_for(&st)?;
        let result = match ap.get(&b.id) {
            Err(e) => Err(e),
            Ok((rec, _)) if !b.matches(&rec) => {
                return Ok(format!(
                    "That button does not belong to approval {}: nothing changed.",
                    b.id
                ));
            }
            Ok((rec, _)) if b.approve => ap.approve(&b.id, &rec.digest, &who),
            Ok(_) => ap.reject_as(&b.id, &who, &format!("rejected in {platform}")),
        };
        Ok(outcome_text(&b, &who, &result))
    })
    .await?;
    record(
        &principal,
        "answered",
        serde_json::json!({"user": user, "answer": text}),
    );
    Ok(text)
}

/// Whether Slack's `response_url` may be posted to: Slack's own hooks, or the configured API's
/// origin (a test's fake). Anything else would let a signed request make the sidecar post
/// anywhere.
fn slack_reply_allowed(url: &str, api_url: &str) -> bool {
    let (Ok(u), Ok(api)) = (url::Url::parse(url), url::Url::parse(api_url)) else {
        return false;
    };
    (u.scheme() == "https" && u.host_str() == Some("hooks.slack.com")) || u.origin() == api.origin()
}

/// A Slack app's interactivity Request URL: Approve and Reject clicks.
#[utoipa::path(post, path = "/v1/interactions/slack",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Slack's `payload` field: a block_actions interaction"),
    responses((status = 200, description = "the answer, also posted to the interaction's response_url for the clicker only"),
        (status = 400, description = "not a Slack interaction"),
        (status = 401, description = "bad signature or stale timestamp"),
        (status = 404, description = "[approval.slack] is not enabled")))]
pub(crate) async fn slack_interactions(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = s.c();
    let Some(sl) = c.chats.slack.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Slack approvals are off ([approval.slack] enabled = false)",
        ));
    };
    sl.verifier
        .verify(&|n| header(&headers, n), &body, now_secs())
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                format!("the Slack request: {e}"),
            )
        })?;
    let payload = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            ApiError::bad_request("expected a form field `payload` (a Slack interaction)")
        })?;
    let v: serde_json::Value = serde_json::from_str(&payload)
        .map_err(|e| ApiError::bad_request(format!("`payload`: not JSON ({e})")))?;
    if v["type"] != "block_actions" {
        return Ok(
            axum::Json(serde_json::json!({"text": "ignored: not a button click"})).into_response(),
        );
    }
    let (Some(user), Some(value)) = (v["user"]["id"].as_str(), v["actions"][0]["value"].as_str())
    else {
        return Err(ApiError::bad_request(
            "`payload`: expected user.id and actions[0].value",
        ));
    };
    let text = decide(&s, "slack", &sl.users, user, value).await?;
    if let Some(url) = v["response_url"].as_str() {
        if slack_reply_allowed(url, &sl.api_url) {
            let (url, text) = (url.to_string(), text.clone());
            std::thread::spawn(move || {
                if let Err(e) = crate::notify::slack_reply(&url, &text) {
                    tracing::warn!("answering the Slack click failed: {e}");
                }
            });
        } else {
            tracing::warn!("a Slack interaction's response_url is not Slack's: not answered there");
        }
    }
    Ok(axum::Json(serde_json::json!({"response_type": "ephemeral", "text": text})).into_response())
}

/// A Discord application's Interactions Endpoint URL: PING, and Approve and Reject clicks.
#[utoipa::path(post, path = "/v1/interactions/discord",
    request_body(content = Object, description = "a Discord interaction"),
    responses((status = 200, description = "PONG, or the answer shown to the clicker only"),
        (status = 400, description = "not a Discord interaction"),
        (status = 401, description = "bad signature or stale timestamp"),
        (status = 404, description = "[approval.discord] is not enabled")))]
pub(crate) async fn discord_interactions(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let c = s.c();
    let Some(d) = c.chats.discord.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Discord approvals are off ([approval.discord] enabled = false)",
        ));
    };
    d.key
        .verify(
            header(&headers, "x-signature-ed25519").as_deref(),
            header(&headers, "x-signature-timestamp").as_deref(),
            &body,
            now_secs(),
            TOLERANCE_SECS,
        )
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                format!("the Discord request: {e}"),
            )
        })?;
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not JSON ({e})")))?;
    match v["type"].as_u64() {
        Some(1) => Ok(axum::Json(serde_json::json!({"type": 1})).into_response()),
        Some(3) => {
            let user = v["member"]["user"]["id"]
                .as_str()
                .or_else(|| v["user"]["id"].as_str());
            let (Some(user), Some(value)) = (user, v["data"]["custom_id"].as_str()) else {
                return Err(ApiError::bad_request(
                    "expected member.user.id (or user.id) and data.custom_id",
                ));
            };
            let text = decide(&s, "discord", &d.users, user, value).await?;
            Ok(axum::Json(serde_json::json!({
                "type": 4,
                "data": {"content": text, "flags": 64, "allowed_mentions": {"parse": []}},
            }))
            .into_response())
        }
        _ => Err(ApiError::bad_request(
            "`type`: expected 1 (PING) or 3 (a button click)",
        )),
    }
}
