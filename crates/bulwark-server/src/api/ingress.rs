//! `/v1/ingress/{source}`: verified webhooks, checked and forwarded or held.

use super::*;

/// Receive a webhook for the agent: verify the sender (signature or token, timestamp, replay,
/// client address), hold the payload to its label allowlist, scan every string with the content
/// guard (source `alert`), and forward it to `forward_to` with `X-Bulwark-Verdict` and
/// `X-Bulwark-Findings`, or hold it back (202) at `hold_at`. Everything is audited.
#[utoipa::path(post, path = "/v1/ingress/{source}", params(("source" = String, Path, description = "[ingress.sources] name")),
    request_body(content = Object, description = "the sender's payload, verbatim"),
    responses((status = 200, description = "verdict, findings, forwarded, upstream_status"), (status = 202, description = "held back"),
        (status = 401, description = "bad signature, token or timestamp"), (status = 403, description = "client address not allowed"),
        (status = 404, description = "no such source in [ingress.sources]"),
        (status = 409, description = "replay"), (status = 502, description = "forward_to failed")))]
pub(crate) async fn ingress(
    State(s): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    proxied: Option<Extension<Peer>>,
    axum::extract::Path(source): axum::extract::Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    // A source judges addresses by its own trusted_proxies, from the connection's peer (not by
    // [server] trusted_proxies, which may trust other proxies).
    let peer = proxied.map_or(peer, |Extension(Peer(p))| p);
    let c = s.c();
    let Some(src) = c.ingress.get(&source) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such ingress source (see [ingress.sources])",
        ));
    };
    let headers = req.headers().clone();
    let client = client_ip(peer.ip(), &headers, &src.trusted_proxies);
    let refuse = |status: StatusCode, code: &'static str, message: String| {
        s.audit(AuditEvent {
            event_type: EventType::Ingress,
            actor: client.to_string(),
            action: "ingress.receive".into(),
            resource: source.clone(),
            outcome: "denied".into(),
            details: serde_json::json!({"reason": message}),
        });
        metrics::counter!("bulwark_ingress_total", "source" => source.clone(), "outcome" => code)
            .increment(1);
        Err(ApiError::new(status, code, message))
    };
    if let Some(l) = &c.limits.source {
        l.check(&source).await?;
    }
    if !src.allow.is_empty() && !src.allow.iter().any(|n| n.contains(&client)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("client {client} is not in allow_cidrs"),
        );
    }
    let body = Bytes::from_request(req, &()).await.map_err(body_error)?;
    let lookup = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let now = now_secs();
    let verified = match src.verifier.verify(&lookup, &body, now) {
        Ok(v) => v,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()),
    };
    if let Some(id) = &verified.message_id
        && let Err(e) = s.replay.first_time(&source, id, now).await
    {
        let refused = super::errors::replay_refused(&e, &e.to_string());
        let retry_after = refused.retry_after;
        return refuse(refused.status, refused.code, refused.message).map_err(|mut err| {
            err.retry_after = retry_after;
            err
        });
    }
    // The body is forwarded as sent: what it nests too deep to judge, a key its consumer might
    // read differently, or JSON Bulwark cannot read, is refused.
    let payload = bulwark_core::json::check_unique_keys(&body)
        .map_err(|e| e.to_string())
        .and_then(|()| json_as_judged(&body, lookup("content-type").as_deref()));
    let payload = match payload {
        Ok(p) => p,
        Err(message) => {
            if let Some(id) = &verified.message_id {
                let _ = s.replay.forget(&source, id).await;
            }
            return refuse(StatusCode::BAD_REQUEST, "invalid_request", message);
        }
    };
    let (findings, verdict) = {
        let (c, name) = (c.clone(), source.clone());
        guard_work(body.len(), move || match c.ingress.get(&name) {
            Some(src) => judge_payload(&c, src, &payload),
            None => Err(ApiError::internal("the ingress source is not configured")),
        })
        .await?
    };
    crate::count_decision("ingress", verdict.as_str());
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let rules_header = rules.iter().take(20).copied().collect::<Vec<_>>().join(",");
    let held = verdict >= src.hold_at;
    let record = |outcome: &str, upstream: Option<u16>, held_id: Option<&str>| {
        s.audit(AuditEvent {
            event_type: EventType::Ingress,
            actor: client.to_string(),
            action: "ingress.receive".into(),
            resource: source.clone(),
            outcome: outcome.into(),
            details: serde_json::json!({"verdict": verdict, "message_id": verified.message_id,
                "rules": rules, "upstream_status": upstream, "held_id": held_id}),
        });
        metrics::counter!("bulwark_ingress_total", "source" => source.clone(), "outcome" => outcome.to_string()).increment(1);
    };
    if held {
        // Kept for a person to release or drop (`/v1/held`, `bulwark held`), and approvers told.
        let alert = bulwark_core::webhook::held::HeldAlert::new(
            &source,
            now_ms(),
            verdict,
            rules.iter().map(|r| r.to_string()).collect(),
            &lookup("content-type").unwrap_or_else(|| "application/json".into()),
            &body,
        )
        .map_err(approval_error)?;
        let (st, kept) = (s.clone(), alert.clone());
        blocking(move || {
            bulwark_core::webhook::held::HeldStore::hold(&*st.db, &kept).map_err(approval_error)
        })
        .await?;
        record("held", None, Some(&alert.id));
        if let Some(url) = c.notify_url.clone() {
            let (audit, told) = (s.audit.clone(), alert.clone());
            std::thread::spawn(move || {
                if let Err(e) = crate::notify::held(url.expose_secret(), &told, audit.as_ref()) {
                    tracing::warn!("held alert notification failed: {e}");
                }
            });
        }
        return Ok((
            StatusCode::ACCEPTED,
            axum::Json(
                serde_json::json!({"verdict": verdict, "held": true, "held_id": alert.id,
                "forwarded": false, "findings": findings}),
            ),
        )
            .into_response());
    }
    if src.forward_to.is_empty() {
        record("accepted", None, None);
        return Ok(axum::Json(serde_json::json!({"verdict": verdict, "held": false, "forwarded": false, "findings": findings}))
            .into_response());
    }
    let forwarded = blocking({
        let hop = crate::deliver::Forward {
            url: src.forward_to.clone(),
            bearer: src
                .forward_token
                .as_ref()
                .map(|t| format!("Bearer {}", t.expose_secret())),
            content_type: lookup("content-type").unwrap_or_else(|| "application/json".into()),
            verdict: verdict.as_str().to_string(),
            source: source.clone(),
            rules: rules_header.clone(),
        };
        move || Ok(hop.send(&body))
    })
    .await?;
    match forwarded {
        Ok(status) if (200..300).contains(&status) => {
            record("forwarded", Some(status), None);
            Ok(axum::Json(
                serde_json::json!({"verdict": verdict, "held": false, "forwarded": true,
                "upstream_status": status, "findings": findings}),
            )
            .into_response())
        }
        other => {
            // Not delivered: the sender's retry must not count as a replay.
            if let Some(id) = &verified.message_id {
                let _ = s.replay.forget(&source, id).await;
            }
            let what = match &other {
                Ok(status) => format!("forward_to answered HTTP {status}"),
                Err(e) => format!("forward_to could not be reached: {e}"),
            };
            record("forward_failed", other.as_ref().ok().copied(), None);
            Err(ApiError::new(StatusCode::BAD_GATEWAY, "upstream", what))
        }
    }
}

/// The payload's label violations, then every string in it through the content guard (source
/// `alert`), and the verdict: a label violation blocks.
/// A payload declared or shaped as JSON (`Content-Type: …json`, or a body that opens with `{` or
/// `[`) must be JSON that Bulwark reads: otherwise it would be judged as one plain string (its
/// escapes unread, its labels unchecked) and forwarded to a consumer that reads it as JSON.
/// serde refuses some texts other parsers take: a number out of range (`1e999`), a lone
/// surrogate escape (`"\udc00"`). Returns the payload as judged: the JSON document, or one string
/// when it is neither declared nor shaped as JSON (form-encoded, plain text).
fn json_as_judged(body: &[u8], content_type: Option<&str>) -> Result<serde_json::Value, String> {
    let declared = content_type
        .map(mime)
        .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    let shaped = matches!(bulwark_core::json::opening(body), Some(b'{' | b'['));
    if !(declared || shaped) {
        return Ok(serde_json::Value::String(
            String::from_utf8_lossy(body).into_owned(),
        ));
    }
    // Read whole (numbers and escapes included: skipping would not check them).
    serde_json::from_slice::<serde_json::Value>(body).map_err(|e| {
            format!(
                "`.`: the payload is not JSON Bulwark can read ({e}): it cannot be judged, so it is not forwarded"
            )
        })
}

fn judge_payload(
    c: &Compiled,
    src: &IngressSource,
    payload: &serde_json::Value,
) -> Result<(Vec<bulwark_core::Finding>, bulwark_core::Verdict), ApiError> {
    let mut findings = Vec::new();
    for (path, message) in src.labels.violations(payload) {
        findings.push(bulwark_core::Finding {
            kind: bulwark_core::FindingKind::Ingress,
            rule: "ingress-label".into(),
            category: None,
            severity: bulwark_core::Severity::High,
            location: bulwark_core::Location::Field(path),
            message,
            preview: String::new(),
        });
    }
    let alert = Source::parse("alert").map_err(ApiError::internal)?;
    for (path, value) in bulwark_core::webhook::strings(payload) {
        for mut f in c
            .scanner
            .assess(value.as_bytes(), Detectors::ALL, &alert)
            .findings
        {
            // The payload's field is the place an operator can look up; the span inside the string
            // value would read as a span of the whole payload.
            f.location = bulwark_core::Location::Field(path.clone());
            findings.push(f);
        }
    }
    let verdict = c.scanner.verdict(&findings);
    let verdict = findings
        .iter()
        .filter(|f| f.kind == bulwark_core::FindingKind::Ingress)
        .map(|_| bulwark_core::Verdict::Block)
        .fold(verdict, std::cmp::max);
    Ok((findings, verdict))
}
