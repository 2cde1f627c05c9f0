//! A minimal HTTP/1.1 upstream for `scripts/proxy-bench.sh`: answers every request with a small
//! text body, keeping connections alive, after an optional service time in microseconds (a real
//! service does some work). With `chat`, for `scripts/gateway-bench.sh`, it is a model provider:
//! every answer is one fixed OpenAI Chat Completions reply (about 400 bytes, JSON), or, to a
//! request with `"stream":true`, the same reply as a stream of server-sent events.
//! Usage: `bench-upstream 127.0.0.1:18081 [delay_us] [chat]`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const CHAT_REPLY: &[u8] = br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Scale the api deployment in payments-prod to 6 replicas and page [email#1] if p99 stays above 2s. The runbook covers the rollback."}}],"usage":{"prompt_tokens":900,"completion_tokens":40,"total_tokens":940}}"#;

/// The reply as a Chat Completions event stream: the content in pieces, then the end.
fn chat_stream() -> Bytes {
    let content = "Scale the api deployment in payments-prod to 6 replicas and page [email#1] if p99 stays above 2s.";
    let mut out = String::new();
    for piece in content.as_bytes().chunks(12) {
        let piece = String::from_utf8_lossy(piece);
        out.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{piece:?}}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    out.push_str("data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    Bytes::from(out)
}

async fn ok(
    req: Request<hyper::body::Incoming>,
    delay: std::time::Duration,
    chat: bool,
) -> Result<Response<Full<Bytes>>, Infallible> {
    use http_body_util::BodyExt;
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if chat && memchr::memmem::find(&body, b"\"stream\":true").is_some() {
        let mut r = Response::new(Full::new(chat_stream()));
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/event-stream"),
        );
        return Ok(r);
    }
    if chat {
        let mut r = Response::new(Full::new(Bytes::from_static(CHAT_REPLY)));
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        return Ok(r);
    }
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from the benchmark upstream\n",
    ))))
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let delay = std::time::Duration::from_micros(
        std::env::args()
            .nth(2)
            .and_then(|d| d.parse().ok())
            .unwrap_or(0),
    );
    let chat = std::env::args().nth(3).as_deref() == Some("chat");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        loop {
            let (s, _) = listener.accept().await?;
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        TokioIo::new(s),
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            ok(req, delay, chat)
                        }),
                    )
                    .await;
            });
        }
    })
}
