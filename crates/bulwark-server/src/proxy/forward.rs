//! Absolute-form HTTP requests: judged, forwarded to a pinned address in origin form, the upstream
//! connection reused, and the response scanned when `scan_responses` asks for it.

use super::*;

/// Hop-by-hop headers (RFC 9110 section 7.6.1) and the proxy's own, never forwarded.
pub(super) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for h in HOP_BY_HOP {
        headers.remove(*h);
    }
}

pub(super) async fn forward(
    state: &Snapshot,
    policy: &EgressPolicy,
    peer: SocketAddr,
    client: Option<&str>,
    pool: Arc<Mutex<Option<Pooled>>>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    if req.uri().scheme().is_none() || req.uri().authority().is_none() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "not_a_proxy_request",
            "this is a forward proxy: send absolute-form requests (GET http://host/path) or CONNECT host:port",
        );
    }
    let raw = req.uri().to_string();
    let d = decide(state, policy, policy.plan(&raw)).await;
    log_decision(&d, peer, client, req.method());
    if let Err(refusal) = record(state, &d, peer, client, req.method()).await {
        return refusal;
    }
    let bulwark_core::egress::Outcome::Allow {
        target, addresses, ..
    } = d.outcome()
    else {
        return denial(&d);
    };
    if target.scheme() != "http" {
        return error_response(
            StatusCode::BAD_REQUEST,
            "use_connect",
            "only http:// is forwarded; https:// goes through a CONNECT tunnel (set HTTPS_PROXY)",
        );
    }
    let host_header = target.host_header();
    let port = target.port();
    let (mut parts, body) = req.into_parts();
    let Ok(uri) = target.origin_form().parse::<hyper::Uri>() else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_url",
            "the request target cannot be forwarded",
        );
    };
    parts.uri = uri;
    parts.version = hyper::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    match HeaderValue::from_str(host_header) {
        Ok(v) => {
            parts.headers.insert(header::HOST, v);
        }
        Err(_) => {
            return error_response(StatusCode::BAD_REQUEST, "invalid_url", "bad host");
        }
    }
    parts
        .headers
        .append(header::VIA, HeaderValue::from_static("1.1 bulwark"));
    let upstream_req = Request::from_parts(parts, body.boxed());

    let mut slot = pool.lock().await;
    let reusable = slot.as_ref().is_some_and(|p| {
        p.host == host_header && addresses.contains(&p.addr.ip()) && p.addr.port() == port
    });
    let alive = match slot.as_mut() {
        Some(p) if reusable && !p.sender.is_closed() => {
            matches!(
                tokio::time::timeout(state.pol.connect_timeout(), p.sender.ready()).await,
                Ok(Ok(()))
            )
        }
        _ => false,
    };
    if !alive {
        *slot = None;
    }
    if slot.is_none() {
        let stream = match connect_pinned(addresses, port, state.pol.connect_timeout()).await {
            Ok(s) => s,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_GATEWAY,
                    "upstream_unreachable",
                    &format!("cannot connect to {host_header}: {e}"),
                );
            }
        };
        let addr = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::new(addresses[0], port));
        let (sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        {
            Ok(x) => x,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    &format!("{host_header}: {e}"),
                );
            }
        };
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        *slot = Some(Pooled {
            addr,
            host: host_header.to_string(),
            sender,
        });
    }
    let Some(pooled) = slot.as_mut() else {
        return error_response(StatusCode::BAD_GATEWAY, "upstream_error", "no upstream");
    };
    let sent =
        tokio::time::timeout(state.pol.idle(), pooled.sender.send_request(upstream_req)).await;
    let response = match sent {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            *slot = None;
            return error_response(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                &format!("{host_header}: {e}"),
            );
        }
        Err(_) => {
            *slot = None;
            return error_response(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_timeout",
                &format!(
                    "{host_header} sent no response within {} s",
                    state.pol.cfg.idle_timeout_secs
                ),
            );
        }
    };
    drop(slot);
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    match &state.pol.scanner {
        Some(scanner) => scan_response(state, scanner, parts, body, &d).await,
        None => Response::from_parts(parts, body.boxed()),
    }
}

/// Whether a response body is text the content guard can read.
pub(super) fn is_textual(headers: &HeaderMap) -> bool {
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        return false;
    }
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-ndjson"
        )
}

/// The body as text: by its byte-order mark, else its declared `charset`, else UTF-8 (lossy: a
/// stray byte in a UTF-8 page does not hide the rest). `None` when a body in another declared or
/// marked encoding does not decode.
pub(super) fn decode_body<'a>(
    headers: &HeaderMap,
    body: &'a [u8],
) -> Option<std::borrow::Cow<'a, str>> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| {
            ct.split(';').skip(1).find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("charset")
                    .then(|| v.trim().trim_matches('"').to_string())
            })
        });
    let (encoding, bom) = match encoding_rs::Encoding::for_bom(body) {
        Some((e, len)) => (e, len),
        None => match declared {
            Some(label) => (encoding_rs::Encoding::for_label(label.as_bytes())?, 0),
            None => (encoding_rs::UTF_8, 0),
        },
    };
    let body = &body[bom..];
    if encoding == encoding_rs::UTF_8 {
        return Some(String::from_utf8_lossy(body));
    }
    encoding.decode_without_bom_handling_and_without_replacement(body)
}

pub(super) async fn scan_response(
    state: &Snapshot,
    scanner: &Scanner,
    mut parts: hyper::http::response::Parts,
    mut body: Incoming,
    d: &EgressDecision,
) -> Response<ProxyBody> {
    let block_mode = state.pol.cfg.scan_responses == ResponseScan::Block;
    let max = state.pol.cfg.scan_max_bytes;
    let unscanned = |mut parts: hyper::http::response::Parts, body: ProxyBody| {
        if block_mode {
            return error_response(
                StatusCode::FORBIDDEN,
                "response_unscanned",
                &format!(
                    "the response could not be scanned (not text, compressed, or over egress.proxy.scan_max_bytes = {max}), and scan_responses = \"block\""
                ),
            );
        }
        parts.headers.insert(
            HeaderName::from_static("x-bulwark-verdict"),
            HeaderValue::from_static("unscanned"),
        );
        Response::from_parts(parts, body)
    };
    if !is_textual(&parts.headers) {
        return unscanned(parts, body.boxed());
    }
    let declared = body.size_hint().exact();
    if declared.is_some_and(|n| n > max as u64) {
        return unscanned(parts, body.boxed());
    }
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_GATEWAY,
                    "upstream_error",
                    &format!("reading the response body: {e}"),
                );
            }
        };
        if let Some(data) = frame.data_ref() {
            buf.extend_from_slice(data);
            if buf.len() > max {
                let rest = Prefixed {
                    prefix: Some(Bytes::from(std::mem::take(&mut buf))),
                    rest: body,
                };
                return unscanned(parts, rest.boxed());
            }
        }
    }
    // Scan the text the client will read: a UTF-16 (or any other declared) body is decoded
    // first, and one that does not decode as it says gets the unscannable answer.
    let Some(text) = decode_body(&parts.headers, &buf) else {
        return unscanned(parts, full(Bytes::from(buf)));
    };
    let assessment = scanner.assess(
        text.as_bytes(),
        Detectors {
            secrets: true,
            pii: false,
            injection: true,
        },
        &Source::parse("web").unwrap_or_else(|_| Source::other()),
    );
    let verdict = assessment.verdict;
    tracing::info!(
        target: "bulwark::egress",
        url = d.url().unwrap_or("-"),
        verdict = verdict.as_str(),
        findings = assessment.findings.len(),
        "response scanned"
    );
    if block_mode && verdict == Verdict::Block {
        let rules: Vec<&str> = assessment
            .findings
            .iter()
            .map(|f| f.rule.as_str())
            .collect();
        return json_response(
            StatusCode::FORBIDDEN,
            serde_json::json!({"error": {
                "code": "response_blocked",
                "message": "the content guard blocked the response body",
                "rules": rules,
            }}),
        );
    }
    parts.headers.insert(
        HeaderName::from_static("x-bulwark-verdict"),
        HeaderValue::from_static(verdict.as_str()),
    );
    parts.headers.insert(
        HeaderName::from_static("x-bulwark-findings"),
        HeaderValue::from(assessment.findings.len()),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, full(Bytes::from(buf)))
}

/// A body whose first bytes were already read: those, then the rest.
pub(super) struct Prefixed {
    pub(super) prefix: Option<Bytes>,
    pub(super) rest: Incoming,
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(p) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(p))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}
