//! A provider's server-sent event stream, restored event by event on its way to the agent.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use bulwark_core::gateway::{Conversation, EventRestorer, SseEvent};
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

fn encode(ev: &SseEvent) -> Bytes {
    let mut out = String::with_capacity(ev.data.len() + 32);
    if let Some(name) = &ev.name {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    for line in ev.data.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// Stream `upstream`'s events to the agent with the conversation's values restored.
pub(super) fn restore_stream<R: EventRestorer + Send + 'static>(
    restorer: R,
    upstream: Incoming,
    conversation: Conversation,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    tokio::spawn(pump(restorer, upstream, conversation, tx));
    let mut r = axum::body::Body::new(ChannelBody(rx)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn pump<R: EventRestorer>(
    mut stream: R,
    mut upstream: Incoming,
    conversation: Conversation,
    tx: mpsc::Sender<Bytes>,
) {
    let mut buf: Vec<u8> = Vec::new();
    let send_payloads = |stream: &mut R, ev: SseEvent| -> Vec<Bytes> {
        stream.event(&conversation, ev).iter().map(encode).collect()
    };
    loop {
        let frame = match upstream.frame().await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(e)) => {
                let _ = tx
                    .send(encode(&R::error_event(&format!(
                        "bulwark: the upstream stream broke off: {e}"
                    ))))
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
            let Some(ev) = parse_event(&event) else {
                continue;
            };
            for out in send_payloads(&mut stream, ev) {
                if tx.send(out).await.is_err() {
                    // The agent went away: stop reading the provider.
                    return;
                }
            }
        }
        if buf.len() > MAX_EVENT {
            let _ = tx
                .send(encode(&R::error_event(
                    "bulwark: an upstream event was larger than 4 MiB",
                )))
                .await;
            return;
        }
    }
    // The last event may lack its blank line.
    if let Some(ev) = parse_event(&buf) {
        for out in send_payloads(&mut stream, ev) {
            let _ = tx.send(out).await;
        }
    }
    let rest = stream.flush(&conversation);
    for ev in rest {
        let _ = tx.send(encode(&ev)).await;
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

/// One event's name and data (its `data:` lines joined by newlines); `None` for an event without
/// data (a comment, a keep-alive).
fn parse_event(event: &[u8]) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(event);
    let mut data: Option<String> = None;
    let mut name = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            name = Some(v.trim().to_string());
            continue;
        }
        let Some(v) = line.strip_prefix("data:") else {
            continue;
        };
        let v = v.strip_prefix(' ').unwrap_or(v);
        match &mut data {
            Some(s) => {
                s.push('\n');
                s.push_str(v);
            }
            None => data = Some(v.to_string()),
        }
    }
    data.map(|data| SseEvent { name, data })
}
