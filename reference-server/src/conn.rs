//! The accept loop and the life of each connection: how long a client may take, how many
//! may be connected at once, and a half-closed client's answer.
//!
//! hyper serves each connection (HTTP/1.1) with half-close allowed: a client that shuts
//! down its write side after its request still gets the answer (otherwise a refresh sent
//! that way rotates the token and its answer is lost, so the retry is a replay).
//!
//! Deadlines, each closing the connection when it passes:
//! - a new connection must send a whole request head within the header timeout;
//! - between requests a kept-alive connection may sit idle for the idle timeout, and from the
//!   first byte of its next request the header timeout applies again;
//! - a request's body must arrive whole within the body timeout (in the router:
//!   [`crate::http`], where the answer can be an OAuth error).
//!
//! hyper's own header-read timer cannot tell an idle kept-alive connection from a slow
//! request head, so the connection is watched here instead: an I/O wrapper notes the first
//! byte of a request, a service wrapper notes when a request is being answered.
//!
//! At most `max_connections` are open at once; past that the listener is not polled, so
//! further connections wait in the kernel's listen backlog instead of using descriptors,
//! and a warning says so (at most once a minute).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt as _;

/// How long clients may take and how many may be connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From accepting a connection, or from the first byte of a follow-up request, until its
    /// request head is complete.
    pub header_timeout: Duration,
    /// From a complete request head until its body is complete.
    pub body_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Limits {
    /// The defaults: a request head in 10 s (a client on a slow link sends a few hundred
    /// bytes in far less; hyper's own default is 30 s, common proxies use 10 to 60 s), a
    /// body in 10 s (at most 64 KiB), 60 s idle (below the 90 s for which common HTTP
    /// clients keep an idle connection, so they rarely reuse one the server has closed), and
    /// 512 connections (far above what the suite, `load` and `bench` open, below the 1,024
    /// descriptors many systems allow a process by default).
    pub const DEFAULT: Limits = Limits {
        header_timeout: Duration::from_secs(10),
        body_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        max_connections: 512,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Where a connection is, and when it must have moved on.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request head that must be complete by then.
    Head(Instant),
    /// Kept alive, no byte of the next request yet, closed at that instant.
    Idle(Instant),
    /// A request is being answered: its body has the body timeout, the answer none.
    Busy,
}

/// What the I/O and the service wrappers tell the connection's task.
#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
    /// Woken when the deadline moves in a way the waiting task must see.
    moved: Notify,
    limits: Limits,
}

impl Activity {
    fn new(limits: Limits) -> Activity {
        Activity {
            phase: Mutex::new(Phase::Head(Instant::now() + limits.header_timeout)),
            moved: Notify::new(),
            limits,
        }
    }

    fn set(&self, f: impl FnOnce(Phase) -> Option<Phase>) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = f(*phase) {
            *phase = next;
            drop(phase);
            self.moved.notify_one();
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes arrived: on an idle connection they start a request head.
    fn read(&self) {
        let header = self.limits.header_timeout;
        self.set(|p| match p {
            Phase::Idle(_) => Some(Phase::Head(Instant::now() + header)),
            _ => None,
        });
    }

    fn request(&self) {
        self.set(|_| Some(Phase::Busy));
    }

    fn answered(&self) {
        let idle = self.limits.idle_timeout;
        self.set(|_| Some(Phase::Idle(Instant::now() + idle)));
    }
}

/// The connection's stream, noting when bytes arrive.
struct Watched {
    tcp: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// The router as hyper's service, noting when a request is being answered.
#[derive(Clone)]
struct Tracked {
    router: Router,
    activity: Arc<Activity>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: hyper::Request<Incoming>) -> Answer {
        self.activity.request();
        let router = self.router.clone();
        let activity = Arc::clone(&self.activity);
        Box::pin(async move {
            let answer = router.oneshot(req.map(Body::new)).await;
            activity.answered();
            answer
        })
    }
}

/// The warning when the connection cap bites: once, then at most once a minute.
#[derive(Debug, Default)]
struct CapWarning {
    last: Option<Instant>,
    since: u64,
}

impl CapWarning {
    const EVERY: Duration = Duration::from_secs(60);

    fn bit(&mut self, max: usize) {
        self.since += 1;
        if self.last.is_some_and(|t| t.elapsed() < Self::EVERY) {
            return;
        }
        tracing::warn!(
            max_connections = max,
            times = self.since,
            "connection cap reached: new connections wait until one closes (see --max-connections)"
        );
        self.last = Some(Instant::now());
        self.since = 0;
    }
}

/// Serves `router` on `listener` within `limits` until `stop` fires (or its sender is
/// dropped); then stops accepting, lets each connection finish its request and returns when
/// all are closed. Dropping the future (aborting its task) closes every connection.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: oneshot::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (closing, closing_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut cap = CapWarning::default();
    let mut stop = pin!(stop);
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                cap.bit(limits.max_connections);
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    _ = &mut stop => break,
                    Some(_) = conns.join_next(), if !conns.is_empty() => continue,
                }
            }
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e, &mut stop).await;
                    continue;
                }
            },
            _ = &mut stop => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        // Token responses are small and answered at once: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let closing = closing_rx.clone();
        conns.spawn(async move {
            connection(tcp, peer, router, limits, closing).await;
            drop(slot);
        });
    }
    let _ = closing.send(true);
    while conns.join_next().await.is_some() {}
}

/// An accept that failed: a connection reset before it was accepted is nothing; anything
/// else (out of descriptors) is logged and waited out for a second, as hyper used to.
async fn accept_failed(e: io::Error, stop: &mut Pin<&mut oneshot::Receiver<()>>) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "failed to accept a connection");
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        _ = stop.as_mut() => {}
    }
}

/// One connection, until it ends, a deadline passes or the server closes.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::new(limits));
    let io = TokioIo::new(Watched {
        tcp,
        activity: Arc::clone(&activity),
    });
    let service = Tracked {
        router,
        activity: Arc::clone(&activity),
    };
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        .half_close(true)
        // Deadlines are kept below, where an idle connection is told from a slow head.
        .header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut draining = false;
    loop {
        let (deadline, what) = match activity.phase() {
            Phase::Head(at) => (
                Some(at),
                "no complete request head within the header timeout",
            ),
            Phase::Idle(at) => (Some(at), "idle past the idle timeout"),
            Phase::Busy => (None, ""),
        };
        let expired = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = expired => {
                // The phase may have moved on while the timer ran out: look again.
                let still = match activity.phase() {
                    Phase::Head(at) | Phase::Idle(at) => at <= Instant::now(),
                    Phase::Busy => false,
                };
                if still {
                    tracing::debug!(%peer, "connection closed: {what}");
                    return;
                }
            }
            () = activity.moved.notified() => {}
            _ = closing.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_connection_gets_the_header_timeout_from_its_first_byte() {
        let limits = Limits {
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(100),
            ..Limits::DEFAULT
        };
        let a = Activity::new(limits);
        assert!(matches!(a.phase(), Phase::Head(_)));
        a.read();
        let Phase::Head(first) = a.phase() else {
            panic!("a new connection waits for a head")
        };
        a.read();
        assert!(
            matches!(a.phase(), Phase::Head(at) if at == first),
            "more bytes do not extend it"
        );
        a.request();
        a.read();
        assert!(
            matches!(a.phase(), Phase::Busy),
            "a body's bytes change nothing"
        );
        a.answered();
        let Phase::Idle(idle) = a.phase() else {
            panic!("answered: idle")
        };
        a.read();
        let Phase::Head(head) = a.phase() else {
            panic!("the next request's first byte starts a head")
        };
        assert!(head < idle, "the header timeout is the shorter here");
    }

    #[test]
    fn the_cap_warning_is_rate_limited() {
        let mut w = CapWarning::default();
        w.bit(4);
        let first = w.last;
        assert!(first.is_some());
        w.bit(4);
        assert_eq!((w.last, w.since), (first, 1));
    }
}
