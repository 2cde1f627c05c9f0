//! A minimal HTTP/1.1 upstream for `scripts/proxy-bench.sh`: answers every request with a small
//! text body, keeping connections alive, after an optional service time in microseconds (a real
//! service does some work). Usage: `bench-upstream 127.0.0.1:18081 [delay_us]`.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

async fn ok(delay: std::time::Duration) -> Result<Response<Full<Bytes>>, Infallible> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
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
                        hyper::service::service_fn(move |_: Request<hyper::body::Incoming>| {
                            ok(delay)
                        }),
                    )
                    .await;
            });
        }
    })
}
