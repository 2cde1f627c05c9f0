//! The gateway's HTTP client to model providers: HTTP/1.1 over TCP, or over TLS (rustls, the
//! Mozilla roots of webpki-roots) for `https` upstreams. Connections are kept alive and reused:
//! once a reply has been read to its end, its connection waits (at most [`IDLE`], at most
//! [`MAX_IDLE`] per upstream) for the next exchange with the same upstream. A request a reused
//! connection could not take (the provider closed it meanwhile) goes on a new one; a request
//! that was sent is never sent twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The TLS settings every upstream connection uses.
fn tls() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(cfg))
        })
        .clone()
}

/// How long an idle connection is kept.
const IDLE: Duration = Duration::from_secs(60);
/// Most idle connections kept per upstream.
const MAX_IDLE: usize = 64;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle connections by `scheme://host:port`, newest last, with when each went idle.
type Pool = Mutex<HashMap<String, Vec<(Sender, Instant)>>>;

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(Default::default)
}

/// An idle connection to `key` that can take a request, if one is kept.
fn idle(key: &str) -> Option<Sender> {
    let mut pool = pool().lock().unwrap_or_else(|e| e.into_inner());
    let list = pool.get_mut(key)?;
    while let Some((s, since)) = list.pop() {
        if since.elapsed() < IDLE && s.is_ready() && !s.is_closed() {
            return Some(s);
        }
    }
    None
}

/// Keep `sender` for the next exchange once the reply on it has been read to its end.
fn keep_when_done(key: String, mut sender: Sender) {
    tokio::spawn(async move {
        // Ready again when the reply's body is done; an error: the connection closed.
        if sender.ready().await.is_err() {
            return;
        }
        let mut pool = pool().lock().unwrap_or_else(|e| e.into_inner());
        let list = pool.entry(key).or_default();
        list.retain(|(s, since)| since.elapsed() < IDLE && !s.is_closed());
        if list.len() < MAX_IDLE {
            list.push((sender, Instant::now()));
        }
    });
}

/// Send `req` (origin-form, its `Host` set) to `url`'s server and return the response head; the
/// body streams from it.
pub(crate) async fn send(
    url: &url::Url,
    req: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<Response<Incoming>, String> {
    let host = url
        .host_str()
        .ok_or_else(|| format!("{url}: no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{url}: no port"))?;
    let key = format!("{}://{host}:{port}", url.scheme());
    let exchange = async {
        let mut req = req;
        if let Some(mut sender) = idle(&key) {
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    keep_when_done(key.clone(), sender);
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    // Not sent: the connection had closed. A new one takes it.
                    Some(r) => req = r,
                    None => return Err(format!("request: {}", e.error())),
                },
            }
        }
        let mut sender = connect(url, &host, port).await?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        keep_when_done(key.clone(), sender);
        Ok(resp)
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        format!(
            "{host}:{port} did not answer within {} s",
            timeout.as_secs()
        )
    })?
}

/// A new connection to `host:port` (TLS for `https`).
async fn connect(url: &url::Url, host: &str, port: u16) -> Result<Sender, String> {
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if url.scheme() == "https" {
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(tls()?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {host}: {e}"))?;
        handshake(TokioIo::new(tls)).await
    } else {
        handshake(TokioIo::new(tcp)).await
    }
}

async fn handshake<T>(io: T) -> Result<Sender, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
