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
use std::time::Duration;

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

/// Stream `upstream`'s events to the agent with the conversation's values restored. A provider
/// silent for `idle` ends the stream with the API's error event.
pub(super) fn restore_stream<R: EventRestorer + Send + 'static>(
    restorer: R,
    upstream: Incoming,
    conversation: Conversation,
    idle: Duration,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    tokio::spawn(pump(restorer, upstream, conversation, tx, idle));
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
    idle: Duration,
) {
    let mut buf: Vec<u8> = Vec::new();
    // Where the search for the end of the next event resumes (everything before was searched).
    let mut searched = 0usize;
    let fail = |message: String| encode(&R::error_event(&message));
    loop {
        let next = tokio::select! {
            // The agent went away: stop reading the provider.
            _ = tx.closed() => return,
            next = tokio::time::timeout(idle, upstream.frame()) => next,
        };
        let frame = match next {
            Err(_) => {
                let _ = tx
                    .send(fail(format!(
                        "bulwark: the upstream sent nothing for {} s",
                        idle.as_secs()
                    )))
                    .await;
                return;
            }
            Ok(None) => break,
            Ok(Some(Ok(f))) => f,
            Ok(Some(Err(e))) => {
                let _ = tx
                    .send(fail(format!("bulwark: the upstream stream broke off: {e}")))
                    .await;
                return;
            }
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&chunk);
        while let Some((end, sep)) = event_end(&buf, searched) {
            let event: Vec<u8> = buf.drain(..end + sep).take(end).collect();
            searched = 0;
            let Some(ev) = parse_event(&event) else {
                continue;
            };
            let out = match stream.event(&conversation, ev) {
                Ok(out) => out,
                Err(message) => {
                    let _ = tx.send(fail(message)).await;
                    return;
                }
            };
            for ev in out {
                if tx.send(encode(&ev)).await.is_err() {
                    return;
                }
            }
        }
        // A separator is at most 4 bytes: the next search starts just before the end.
        searched = buf.len().saturating_sub(3);
        if buf.len() > MAX_EVENT {
            let _ = tx
                .send(fail(
                    "bulwark: an upstream event was larger than 4 MiB".into(),
                ))
                .await;
            return;
        }
    }
    // The last event may lack its blank line.
    if let Some(ev) = parse_event(&buf) {
        match stream.event(&conversation, ev) {
            Ok(out) => {
                for ev in out {
                    let _ = tx.send(encode(&ev)).await;
                }
            }
            Err(message) => {
                let _ = tx.send(fail(message)).await;
                return;
            }
        }
    }
    for ev in stream.flush(&conversation) {
        let _ = tx.send(encode(&ev)).await;
    }
}

/// Where the first complete event in `buf` ends and the length of the blank line after it,
/// searching from `from`. Lines end in LF, CRLF or CR, as server-sent events allow.
fn event_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let from = from.min(buf.len());
    let mut i = from;
    while let Some(off) = memchr::memchr2(b'\n', b'\r', &buf[i..]) {
        let at = i + off;
        let rest = &buf[at..];
        for sep in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
            if rest.starts_with(sep) {
                return Some((at, sep.len()));
            }
        }
        i = at + 1;
    }
    None
}

/// One event's name and data (its `data:` lines joined by newlines); `None` for an event without
/// data (a comment, a keep-alive).
fn parse_event(event: &[u8]) -> Option<SseEvent> {
    let text = String::from_utf8_lossy(event);
    let mut data: Option<String> = None;
    let mut name = None;
    for line in text.split(['\n', '\r']) {
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
