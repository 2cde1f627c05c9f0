//! A provider's server-sent event stream, restored event by event on its way to the agent.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use bulwark_core::gateway::{Conversation, Emit, EventRestorer, SseEvent};
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
pub(crate) struct ChannelBody(pub(crate) mpsc::Receiver<Bytes>);

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

/// What a stream needs besides its bytes: who judges the calls it holds, and who hears how it
/// ended (the usage it reported).
pub(super) struct StreamEnd {
    pub(super) judge: Option<std::sync::Arc<super::CallJudge>>,
    /// Called with the usage the stream reported, its reply's id and how it ended.
    #[allow(clippy::type_complexity)]
    pub(super) done:
        Box<dyn FnOnce(Option<serde_json::Value>, Option<String>, &'static str) + Send>,
}

/// Stream `upstream`'s events to the agent with the conversation's values restored. A provider
/// silent for `idle` ends the stream with the API's error event.
pub(super) fn restore_stream<R: EventRestorer + Send + 'static>(
    restorer: R,
    upstream: Incoming,
    conversation: Conversation,
    idle: Duration,
    end: StreamEnd,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(32);
    tokio::spawn(async move {
        let mut restorer = restorer;
        let outcome = pump(
            &mut restorer,
            upstream,
            &conversation,
            &tx,
            idle,
            &end.judge,
        )
        .await;
        (end.done)(restorer.usage(), restorer.reply_id(), outcome);
    });
    let mut r = axum::body::Body::new(ChannelBody(rx)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Send what the restorer made of one event: events as they are, held calls once judged (a
/// call that cannot be judged is not passed). `false`: the agent went away.
async fn send_out<R: EventRestorer>(
    stream: &mut R,
    out: Vec<Emit>,
    tx: &mpsc::Sender<Bytes>,
    judge: &Option<std::sync::Arc<super::CallJudge>>,
) -> bool {
    for o in out {
        let events = match o {
            Emit::Event(ev) => vec![ev],
            Emit::Calls(held) => {
                let decisions = match judge {
                    Some(j) => j.clone().decide(held.calls.clone()).await,
                    None => {
                        vec![bulwark_core::gateway::calls::CallDecision::Allow; held.calls.len()]
                    }
                };
                stream.resolve(held, &decisions)
            }
        };
        for ev in events {
            if tx.send(encode(&ev)).await.is_err() {
                return false;
            }
        }
    }
    true
}

/// Relay the stream; how it ended: `ok`, `upstream_error`, `upstream_timeout`, `gone` (the agent
/// left) or `stream_refused` (the stream asked for more than a restorer keeps).
async fn pump<R: EventRestorer>(
    stream: &mut R,
    mut upstream: Incoming,
    conversation: &Conversation,
    tx: &mpsc::Sender<Bytes>,
    idle: Duration,
    judge: &Option<std::sync::Arc<super::CallJudge>>,
) -> &'static str {
    let mut events = Events::default();
    let fail = |message: String| encode(&R::error_event(&message));
    loop {
        let next = tokio::select! {
            // The agent went away: stop reading the provider.
            _ = tx.closed() => return "gone",
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
                return "upstream_timeout";
            }
            Ok(None) => break,
            Ok(Some(Ok(f))) => f,
            Ok(Some(Err(e))) => {
                let _ = tx
                    .send(fail(format!("bulwark: the upstream stream broke off: {e}")))
                    .await;
                return "upstream_error";
            }
        };
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        for ev in events.push(&chunk) {
            let out = match stream.event(conversation, ev) {
                Ok(out) => out,
                Err(message) => {
                    let _ = tx.send(fail(message)).await;
                    return "stream_refused";
                }
            };
            if !send_out(stream, out, tx, judge).await {
                return "gone";
            }
        }
        if events.pending() > MAX_EVENT {
            let _ = tx
                .send(fail(
                    "bulwark: an upstream event was larger than 4 MiB".into(),
                ))
                .await;
            return "stream_refused";
        }
    }
    if let Some(ev) = events.finish() {
        match stream.event(conversation, ev) {
            Ok(out) => {
                if !send_out(stream, out, tx, judge).await {
                    return "gone";
                }
            }
            Err(message) => {
                let _ = tx.send(fail(message)).await;
                return "stream_refused";
            }
        }
    }
    let out = stream.flush(conversation);
    if !send_out(stream, out, tx, judge).await {
        return "gone";
    }
    "ok"
}

/// A byte stream cut into server-sent events, whatever the chunks.
#[derive(Default)]
pub(crate) struct Events {
    buf: Vec<u8>,
    /// Where the search for the end of the next event resumes (everything before was searched).
    searched: usize,
}

impl Events {
    /// Add a chunk; the events it completes, in order (events without data are skipped).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some((end, sep)) = event_end(&self.buf, self.searched) {
            let event: Vec<u8> = self.buf.drain(..end + sep).take(end).collect();
            self.searched = 0;
            out.extend(parse_event(&event));
        }
        // A separator is at most 4 bytes: the next search starts just before the end.
        self.searched = self.buf.len().saturating_sub(3);
        out
    }

    /// Bytes of an event not complete yet.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len()
    }

    /// At the end of the stream: the last event, which may lack its blank line.
    pub(crate) fn finish(&mut self) -> Option<SseEvent> {
        let ev = parse_event(&self.buf);
        self.buf.clear();
        self.searched = 0;
        ev
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

/// Whether a response's headers say its body is an event stream (`text/event-stream`).
pub(crate) fn is_event_stream(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}
