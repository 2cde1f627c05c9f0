//! `/v1/interactions/slack` and `/v1/interactions/discord`: Review, Approve and Reject clicks on
//! the messages `[approval.slack]` and `[approval.discord]` post for each new pending approval. No API
//! token: each platform proves itself with its signature (Slack's v0 HMAC within five minutes,
//! Discord's Ed25519 over timestamp and body). The clicker's platform user id maps to a Bulwark
//! principal in config; anyone else is refused in a message only they see. Each button is bound to
//! one approval's id and digest, and deciding goes through the approval's state machine, so a
//! platform's retry or a replayed click changes nothing twice.

use super::*;
use bulwark_core::approval::cfg::ChatDetails;
use bulwark_core::approval::chat::{Act, Button, DiscordKey, outcome_text, review_text};
use std::collections::BTreeMap;

/// How far a signed timestamp may be from now (Slack's own rule: five minutes).
const TOLERANCE_SECS: u64 = 300;

/// `[approval.slack]`, compiled.
pub(crate) struct SlackChat {
    verifier: bulwark_core::webhook::WebhookVerifier,
    authorization: secrecy::SecretString,
    channel: String,
    team_id: String,
    api_url: String,
    users: BTreeMap<String, String>,
    details: ChatDetails,
}

/// `[approval.discord]`, compiled.
pub(crate) struct DiscordChat {
    key: DiscordKey,
    authorization: secrecy::SecretString,
    channel_id: String,
    guild_id: String,
    api_url: String,
    users: BTreeMap<String, String>,
    details: ChatDetails,
}

/// The chats approvals are posted to.
#[derive(Default)]
pub(crate) struct Chats {
    pub(crate) slack: Option<Arc<SlackChat>>,
    pub(crate) discord: Option<Arc<DiscordChat>>,
    /// `[console] public_url` while the console is on: messages link each approval there.
    pub(crate) console: Option<Arc<str>>,
}

impl Chats {
    /// Compile `[approval.slack]` and `[approval.discord]` with their secrets, and the console
    /// link their messages carry.
    pub(crate) fn compile(
        cfg: &bulwark_core::approval::ApprovalConfig,
        console: &bulwark_core::config::ConsoleConfig,
        secret: &dyn Fn(
            &str,
            &bulwark_core::vault::cfg::SecretRef,
        ) -> Result<secrecy::SecretString, String>,
    ) -> Result<Chats, ServeError> {
        let mut out = Chats {
            console: (console.enabled && !console.public_url.is_empty())
                .then(|| Arc::from(console.public_url.trim_end_matches('/'))),
            ..Chats::default()
        };
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
                team_id: s.team_id.clone(),
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
                guild_id: d.guild_id.clone(),
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
                slack_message(&sl.channel, a, sl.details, self.console.as_deref()),
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
            let (d, body, audit) = (
                d.clone(),
                discord_message(a, d.details, self.console.as_deref()),
                audit.cloned(),
            );
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

/// What a click answers its clicker: a text, and for a review the approval it shows (whose
/// Approve and Reject buttons go with it).
struct Answer {
    text: String,
    review: Option<bulwark_core::approval::ApprovalRecord>,
}

impl From<String> for Answer {
    fn from(text: String) -> Answer {
        Answer { text, review: None }
    }
}

/// Act on the click of platform user `user` on button `value`.
async fn decide(
    s: &Shared,
    platform: &'static str,
    users: &BTreeMap<String, String>,
    user: &str,
    value: &str,
) -> Result<Answer, ApiError> {
    let button = Button::parse(value);
    let resource = match &button {
        Some(b) => format!("approval:{}", b.id),
        None => "approval:?".to_string(),
    };
    // The platform user is in every record of the click: who clicked, as whom, and the answer.
    let record = |principal: &str, outcome: &str, answer: &str| {
        s.audit(AuditEvent {
            event_type: EventType::Approval,
            actor: principal.to_string(),
            action: format!("approval.{platform}"),
            resource: resource.clone(),
            outcome: outcome.into(),
            details: serde_json::json!({
                "platform": platform,
                "platform_user": user.chars().take(64).collect::<String>(),
                "answer": answer,
            }),
        });
    };
    let Some(principal) = users.get(user).cloned() else {
        let answer = format!(
            "Your {platform} account is not an approver in Bulwark: nothing changed. An operator can map it under [approval.{platform}] users."
        );
        record("unknown", "refused", &answer);
        return Ok(answer.into());
    };
    let Some(b) = button else {
        let answer = "That is not a Bulwark approval button: nothing changed.".to_string();
        record(&principal, "refused", &answer);
        return Ok(answer.into());
    };
    let st = s.clone();
    let who = principal.clone();
    let answer = blocking(move || {
        let ap = approvals_for(&st)?;
        // As over the API: an approval the principal may not see does not exist for it.
        let result = match ap.get_as(&b.id, &who) {
            Err(e) => Err(e),
            Ok((rec, _)) if !b.matches(&rec) => {
                return Ok(Answer::from(format!(
                    "That button does not belong to approval {}: nothing changed.",
                    b.id
                )));
            }
            Ok((rec, _)) if b.act == Act::Review && rec.state != StateName::Pending => {
                return Ok(Answer::from(format!(
                    "Approval {} is already {}: nothing to decide.",
                    b.id,
                    rec.state.as_str()
                )));
            }
            Ok((rec, intent)) if b.act == Act::Review => {
                let text = review_text(&rec, &super::shown_intent(&st, &intent));
                return Ok(Answer {
                    text,
                    review: Some(rec),
                });
            }
            Ok((rec, _)) if b.act == Act::Approve => ap.approve(&b.id, &rec.digest, &who),
            Ok(_) => ap.reject_as(&b.id, &who, &format!("rejected in {platform}")),
        };
        if let Err(e) = &result {
            tracing::warn!("approval {} from {platform}: {e}", b.id);
        }
        Ok(Answer::from(outcome_text(&b, &who, &result)))
    })
    .await?;
    let outcome = if answer.review.is_some() {
        "reviewed"
    } else {
        "answered"
    };
    record(&principal, outcome, &answer.text);
    Ok(answer)
}

/// A request whose signature did not verify: a failed authentication of its client (429 past its
/// failure budget), else 401.
async fn bad_signature(s: &Shared, peer: SocketAddr, path: &str, why: String) -> ApiError {
    let c = s.c();
    match failed_authentication(s, &c, peer.ip(), "bad chat signature", path).await {
        Some(over) => over,
        None => ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", why),
    }
}

/// Refuse a click already taken (the same signed request again).
async fn first_time(s: &Shared, platform: &str, id: &str) -> Result<(), ApiError> {
    s.replay
        .first_time(platform, id, now_secs())
        .await
        .map_err(|e| {
            super::errors::replay_refused(
                &e,
                "this signed click was already taken: nothing changed",
            )
        })
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
        (status = 409, description = "this signed request was already taken"),
        (status = 404, description = "[approval.slack] is not enabled")))]
pub(crate) async fn slack_interactions(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
    let verified = match sl
        .verifier
        .verify(&|n| header(&headers, n), &body, now_secs())
    {
        Ok(v) => v,
        Err(e) => {
            return Err(bad_signature(
                &s,
                peer,
                "/v1/interactions/slack",
                format!("the Slack request: {e}"),
            )
            .await);
        }
    };
    if let Some(id) = &verified.message_id {
        first_time(&s, "chat:slack", id).await?;
    }
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
    // Only the configured workspace's users, in the configured channel: a Slack Connect channel
    // brings in users of other organizations, whose ids the map does not speak for.
    let ephemeral = |text: &str| {
        axum::Json(serde_json::json!({"response_type": "ephemeral", "text": text})).into_response()
    };
    let team = v["user"]["team_id"].as_str().or(v["team"]["id"].as_str());
    if team != Some(sl.team_id.as_str()) || v["team"]["id"].as_str() != Some(sl.team_id.as_str()) {
        return Ok(ephemeral(
            "Clicks from this workspace are not taken: nothing changed.",
        ));
    }
    if v["channel"]["id"].as_str() != Some(sl.channel.as_str()) {
        return Ok(ephemeral(
            "Clicks from this channel are not taken: nothing changed.",
        ));
    }
    let answer = decide(&s, "slack", &sl.users, user, value).await?;
    let text = answer.text;
    let blocks = answer
        .review
        .as_ref()
        .map(|r| bulwark_core::approval::chat::slack_review(r, &text));
    if let Some(url) = v["response_url"].as_str() {
        if slack_reply_allowed(url, &sl.api_url) {
            let (url, text, blocks) = (url.to_string(), text.clone(), blocks.clone());
            std::thread::spawn(move || {
                if let Err(e) = crate::notify::slack_reply(&url, &text, blocks.as_ref()) {
                    tracing::warn!("answering the Slack click failed: {e}");
                }
            });
        } else {
            tracing::warn!("a Slack interaction's response_url is not Slack's: not answered there");
        }
    }
    let mut reply = serde_json::json!({"response_type": "ephemeral", "text": text});
    if let Some(b) = blocks {
        reply["blocks"] = b;
    }
    Ok(axum::Json(reply).into_response())
}

/// A Discord application's Interactions Endpoint URL: PING, and Approve and Reject clicks.
#[utoipa::path(post, path = "/v1/interactions/discord",
    request_body(content = Object, description = "a Discord interaction"),
    responses((status = 200, description = "PONG, or the answer shown to the clicker only"),
        (status = 400, description = "not a Discord interaction"),
        (status = 401, description = "bad signature or stale timestamp"),
        (status = 409, description = "this signed click was already taken"),
        (status = 404, description = "[approval.discord] is not enabled")))]
pub(crate) async fn discord_interactions(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
    let signature = header(&headers, "x-signature-ed25519");
    if let Err(e) = d.key.verify(
        signature.as_deref(),
        header(&headers, "x-signature-timestamp").as_deref(),
        &body,
        now_secs(),
        TOLERANCE_SECS,
    ) {
        return Err(bad_signature(
            &s,
            peer,
            "/v1/interactions/discord",
            format!("the Discord request: {e}"),
        )
        .await);
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not JSON ({e})")))?;
    match v["type"].as_u64() {
        Some(1) => Ok(axum::Json(serde_json::json!({"type": 1})).into_response()),
        Some(3) => {
            // A signed click is taken once.
            first_time(&s, "chat:discord", signature.as_deref().unwrap_or("")).await?;
            let ephemeral = |text: &str| {
                axum::Json(serde_json::json!({
                    "type": 4,
                    "data": {"content": text, "flags": 64, "allowed_mentions": {"parse": []}},
                }))
                .into_response()
            };
            // Only members of the configured server, in the configured channel (not DMs).
            if v["guild_id"].as_str() != Some(d.guild_id.as_str())
                || v["channel_id"].as_str() != Some(d.channel_id.as_str())
            {
                return Ok(ephemeral(
                    "Clicks from this server or channel are not taken: nothing changed.",
                ));
            }
            let (Some(user), Some(value)) = (
                v["member"]["user"]["id"].as_str(),
                v["data"]["custom_id"].as_str(),
            ) else {
                return Err(ApiError::bad_request(
                    "expected member.user.id and data.custom_id",
                ));
            };
            let answer = decide(&s, "discord", &d.users, user, value).await?;
            let mut reply = serde_json::json!({
                "type": 4,
                "data": {"content": answer.text, "flags": 64, "allowed_mentions": {"parse": []}},
            });
            if let Some(r) = &answer.review {
                reply["data"]["components"] = bulwark_core::approval::chat::discord_review(r);
            }
            Ok(axum::Json(reply).into_response())
        }
        _ => Err(ApiError::bad_request(
            "`type`: expected 1 (PING) or 3 (a button click)",
        )),
    }
}
