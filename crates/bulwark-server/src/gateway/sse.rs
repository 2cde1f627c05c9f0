//! A provider's server-sent event stream, restored event by event on its way to the agent.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use bulwark_core::gateway::Conversation;
use bulwark_core::gateway::openai_chat::ChatStream;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use tokio::sync::mpsc;

/// Largest event read from an upstream; a longer one ends the stream with an error event.
const MAX_EVENT: usize = 4 * 1024 * 1024;

/// A response body fed by a channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

fn data(payload: &str) -> Bytes {
    Bytes::from(format!("data: {payload}\n\n"))
}

/// The error event an OpenAI SDK raises as `APIError` when a stream breaks.
fn error_event(message: &str) -> Bytes {
    data(
        &serde_json::json!({"error": {
            "message": message, "type": "upstream_error", "param": null, "code": "upstream_stream_error",
        }})
        .to_string(),
    )
}

/// Stream `upstream`'s events to the agent with the conversation's values restored.
pub(super) fn restore_stream(upstream: Incoming, conversation: Conversation) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    tokio::spawn(pump(upstream, conversation, tx));
    let mut r = axum::body::Body::new(ChannelBody(rx)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn pump(mut upstream: Incoming, conversation: Conversation, tx: mpsc::Sender<Bytes>) {
    let mut stream = ChatStream::new();
    let mut buf: Vec<u8> = Vec::new();
    let send_payloads = |stream: &mut ChatStream, payload: &str| -> Vec<Bytes> {
        stream
            .event(&conversation, payload)
            .iter()
            .map(|p| data(p))
            .collect()
    };
    loop {
        let frame = match upstream.frame().await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                let _ = tx
                    .send(error_event(&format!(
                        "bulwark: the upstream stream broke off: {e}"
                    )))
                    .await;
                return;
            }
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&chunk);
        while let Some((end, sep)) = event_end(&buf) {
            let event: Vec<u8> = buf.drain(..end + sep).take(end).collect();
            let Some(payload) = event_data(&event) else {
                continue;
            };
            for out in send_payloads(&mut stream, &payload) {
                if tx.send(out).await.is_err() {
                    // The agent went away: stop reading the provider.
                    return;
                }
            }
        }
        if buf.len() > MAX_EVENT {
            let _ = tx
                .send(error_event(
                    "bulwark: an upstream event was larger than 4 MiB",
                ))
                .await;
            return;
        }
    }
    // The last event may lack its blank line.
    if let Some(payload) = event_data(&buf) {
        for out in send_payloads(&mut stream, &payload) {
            let _ = tx.send(out).await;
        }
    }
    let rest = stream.flush(&conversation);
    for p in rest {
        let _ = tx.send(data(&p)).await;
    }
}

/// Where the first complete event in `buf` ends, and the length of the blank line after it.
fn event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = memchr::memmem::find(buf, b"\n\n").map(|i| (i, 2));
    let crlf = memchr::memmem::find(buf, b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The `data` of one event (its `data:` lines joined by newlines); `None` for an event without
/// one (a comment, a keep-alive).
fn event_data(event: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(event);
    let mut out: Option<String> = None;
    for line in text.lines() {
        let Some(v) = line.strip_prefix("data:") else {
            continue;
        };
        let v = v.strip_prefix(' ').unwrap_or(v);
        match &mut out {
            Some(s) => {
                s.push('\n');
                s.push_str(v);
            }
            None => out = Some(v.to_string()),
        }
    }
    out
}
