//! CONNECT tunnels: judged as `host:port`, connected to a pinned address, then bytes both ways
//! until both sides close or nothing moves for the idle timeout.

use super::*;

pub(super) async fn tunnel(
    state: Arc<Snapshot>,
    policy: &EgressPolicy,
    peer: SocketAddr,
    client: Option<&str>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_default();
    let d = decide(&state, policy, policy.plan_authority(&authority)).await;
    log_decision(&d, peer, client, req.method());
    if let Err(refusal) = record(&state, &d, peer, client, req.method()).await {
        return refusal;
    }
    let bulwark_core::egress::Outcome::Allow {
        target, addresses, ..
    } = d.outcome()
    else {
        return denial(&d);
    };
    let Ok(permit) = state.tunnels.clone().try_acquire_owned() else {
        tracing::warn!(target: "bulwark::egress", %peer, max = state.pol.cfg.max_tunnels, "tunnel refused: too many open");
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_tunnels",
            &format!(
                "{} tunnels are open (egress.proxy.max_tunnels); try again later",
                state.pol.cfg.max_tunnels
            ),
        );
    };
    let port = target.port();
    let upstream = match connect_pinned(addresses, port, state.pol.connect_timeout()).await {
        Ok(s) => s,
        Err(e) => {
            return error_response(
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                &format!("cannot connect to {authority}: {e}"),
            );
        }
    };
    let idle = state.pol.idle();
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => relay(TokioIo::new(upgraded), upstream, idle).await,
            Err(e) => tracing::debug!(%peer, error = %e, "tunnel upgrade failed"),
        }
        drop(permit);
    });
    Response::new(empty())
}

/// Copy both ways until both sides close or nothing moves for `idle`.
pub(super) async fn relay<A>(client: A, upstream: TcpStream, idle: Duration)
where
    A: AsyncRead + AsyncWrite + Unpin,
{
    let start = tokio::time::Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut a = Activity {
        inner: client,
        start,
        last: last.clone(),
    };
    let mut b = Activity {
        inner: upstream,
        start,
        last: last.clone(),
    };
    let watchdog = async {
        loop {
            tokio::time::sleep(idle / 4).await;
            let quiet = start.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
            if quiet >= idle.as_millis() as u64 {
                return;
            }
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
        _ = watchdog => tracing::debug!("tunnel closed after being idle"),
    }
}

/// An I/O object that records when it last moved data.
pub(super) struct Activity<T> {
    pub(super) inner: T,
    pub(super) start: tokio::time::Instant,
    pub(super) last: Arc<AtomicU64>,
}

impl<T> Activity<T> {
    fn touch(&self) {
        self.last
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
