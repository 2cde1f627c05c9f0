//! Loopback ports for the servers tests start (`bulwark serve`, redis-server, postgres, fake
//! providers in Python). Shared by the store's and the CLI's tests (`#[path]`).
//!
//! A port is picked below the kernel's ephemeral range (32768–60999 on Linux), never twice in
//! one test process. A port asked of the kernel (`bind` to port 0) and let go could be handed to
//! the next socket another test binds to port 0 (a fake provider, a client's source port)
//! before the server meant for it binds; the test would then talk to the wrong server.

use std::sync::atomic::{AtomicU32, Ordering};

/// The first port tried, and how many there are to try.
const FIRST: u32 = 20_000;
const SPAN: u32 = 12_000;

/// A loopback port nobody listens on now, below the ephemeral range, not handed out before by
/// this process.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // Where this process starts in the range: apart from the test binaries run before it,
    // whose servers may still be going away.
    let start = std::process::id().wrapping_mul(7_919) % SPAN;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::Relaxed, Ordering::Relaxed);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + n % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {FIRST} and {}", FIRST + SPAN);
}
