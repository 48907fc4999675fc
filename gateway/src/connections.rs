//! Client connections: the accept loop and what bounds a connection.
//!
//! - Every accepted socket gets `TCP_NODELAY` (a response is one small write; Nagle's algorithm
//!   would hold it for the peer's delayed ACK, ~40 ms).
//! - At most `--max-connections` are open. At the limit, the connection that has been idle
//!   longest (no request in flight) is closed to make room; if none is idle, the new connection
//!   is closed at once.
//! - A connection with no request in flight for `--idle-timeout-seconds` is closed — including
//!   one that connects and never sends a request.
//! - A TLS handshake must finish within `--tls-handshake-timeout-seconds`; handshakes run
//!   concurrently, off the accept loop.
//! - At the end of a shutdown drain, every connection still open is closed ([`ConnectionRegistry::close_all`]).
//!
//! Requests in flight are counted by [`crate::admission::AdmissionLayer`] through the
//! [`ConnectionHandle`] each request carries (tonic's connect info).

use crate::limits::{Limit, Limits};
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// One open connection's state.
#[derive(Debug)]
struct ConnectionState {
    id: u64,
    /// Requests (streams, calls) in flight.
    active: AtomicUsize,
    /// When the connection last became idle, in milliseconds since the registry started.
    idle_since_ms: AtomicU64,
    /// Cancelled to close the connection.
    close: CancellationToken,
    registry: Weak<Registry>,
}

/// The connection a request arrived on (the connect info tonic attaches to each request).
#[derive(Debug, Clone)]
pub struct ConnectionHandle(Arc<ConnectionState>);

/// Marks a request in flight on its connection until dropped.
#[derive(Debug)]
pub struct ActiveRequest(Arc<ConnectionState>);

impl ConnectionHandle {
    /// Marks a request in flight (the connection is not idle until the mark is dropped).
    pub fn request_started(&self) -> ActiveRequest {
        self.0.active.fetch_add(1, Ordering::AcqRel);
        ActiveRequest(self.0.clone())
    }
}

impl ActiveRequest {
    /// Closes the connection if this request is still in flight after `after` (a response the
    /// client does not read cannot be reset any other way: HTTP/2 flow control keeps the server
    /// from even noticing its deadline). Dropping the guard disarms it.
    pub fn watchdog(&self, after: Duration) -> tokio_util::sync::DropGuard {
        let disarm = CancellationToken::new();
        let guard = disarm.clone().drop_guard();
        let state = self.0.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(after) => {
                    tracing::info!(
                        "closing a connection whose response outlived its hard deadline (a client that does not read)"
                    );
                    match state.registry.upgrade() {
                        Some(registry) => {
                            registry.closed(&state, Limit::StreamDeadline);
                            registry.remove(state.id);
                        }
                        None => state.close.cancel(),
                    }
                }
                () = disarm.cancelled() => {}
            }
        });
        guard
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(registry) = self.0.registry.upgrade()
        {
            self.0
                .idle_since_ms
                .store(registry.now_ms(), Ordering::Release);
        }
    }
}

struct Registry {
    open: Mutex<HashMap<u64, Arc<ConnectionState>>>,
    next_id: AtomicU64,
    started: Instant,
    max: usize,
    idle_timeout: Duration,
    metrics: Metrics,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn closed(&self, state: &ConnectionState, reason: Limit) {
        state.close.cancel();
        self.metrics
            .limit_hits
            .with_label_values(&[reason.label()])
            .inc();
    }

    /// Registers a new connection, closing the longest-idle one at the limit; `None` when at the
    /// limit with no idle connection.
    fn admit(self: &Arc<Self>) -> Option<Arc<ConnectionState>> {
        let mut open = self.open.lock().ok()?;
        if open.len() >= self.max {
            let victim = open
                .values()
                .filter(|c| c.active.load(Ordering::Acquire) == 0)
                .min_by_key(|c| c.idle_since_ms.load(Ordering::Acquire))
                .cloned();
            match victim {
                Some(v) => {
                    open.remove(&v.id);
                    self.closed(&v, Limit::Connections);
                }
                None => {
                    self.metrics
                        .limit_hits
                        .with_label_values(&[Limit::Connections.label()])
                        .inc();
                    return None;
                }
            }
        }
        let state = Arc::new(ConnectionState {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            active: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(self.now_ms()),
            close: CancellationToken::new(),
            registry: Arc::downgrade(self),
        });
        open.insert(state.id, state.clone());
        self.metrics.connections_open.set(open.len() as i64);
        Some(state)
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
            self.metrics.connections_open.set(open.len() as i64);
        }
    }

    /// Closes connections idle for longer than the idle timeout.
    fn reap_idle(&self) {
        let now = self.now_ms();
        let limit = u64::try_from(self.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        open.retain(|_, c| {
            let idle = c.active.load(Ordering::Acquire) == 0
                && now.saturating_sub(c.idle_since_ms.load(Ordering::Acquire)) >= limit;
            if idle {
                self.closed(c, Limit::IdleConnection);
            }
            !idle
        });
        self.metrics.connections_open.set(open.len() as i64);
    }
}

/// The set of open connections. Cheap to clone.
#[derive(Clone)]
pub struct ConnectionRegistry {
    inner: Arc<Registry>,
}

impl ConnectionRegistry {
    /// An empty registry enforcing the limits.
    pub fn new(limits: &Limits, metrics: Metrics) -> Self {
        ConnectionRegistry {
            inner: Arc::new(Registry {
                open: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                started: Instant::now(),
                max: limits.max_connections,
                idle_timeout: limits.idle_timeout,
                metrics,
            }),
        }
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.inner.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every open connection (the end of a shutdown drain).
    pub fn close_all(&self) {
        if let Ok(mut open) = self.inner.open.lock() {
            for c in open.values() {
                c.close.cancel();
            }
            open.clear();
            self.inner.metrics.connections_open.set(0);
        }
    }
}

/// An accepted connection as tonic sees it: TCP or TLS, closed when its state is cancelled.
pub struct ServerIo {
    stream: Stream,
    state: Arc<ConnectionState>,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl ServerIo {
    fn new(stream: Stream, state: Arc<ConnectionState>) -> Self {
        let closed = Box::pin(state.close.clone().cancelled_owned());
        ServerIo {
            stream,
            state,
            closed,
        }
    }

    fn check_closed(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.closed.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed by the gateway (idle, over the connection limit, or shutting down)",
            ));
        }
        Ok(())
    }
}

impl Drop for ServerIo {
    fn drop(&mut self) {
        if let Some(registry) = self.state.registry.upgrade() {
            registry.remove(self.state.id);
        }
    }
}

impl tonic::transport::server::Connected for ServerIo {
    type ConnectInfo = ConnectionHandle;

    fn connect_info(&self) -> ConnectionHandle {
        ConnectionHandle(self.state.clone())
    }
}

impl AsyncRead for ServerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_closed(cx)?;
        match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_closed(cx)?;
        match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_closed(cx)?;
        match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_closed(cx)?;
        match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts connections on `listener` and yields them to tonic, applying the limits (see the
/// module docs). The accept loop stops when the returned stream is dropped.
pub fn incoming(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    registry: ConnectionRegistry,
    limits: &Limits,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<ServerIo>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<ServerIo>>(64);
    let handshake_timeout = limits.tls_handshake_timeout;
    let reaper_period =
        (limits.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let reg = registry.inner.clone();
    let reaper_tx = tx.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(reaper_period);
        loop {
            tokio::select! {
                _ = tick.tick() => reg.reap_idle(),
                _ = reaper_tx.closed() => break,
            }
        }
    });
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => break,
            };
            let socket = match accepted {
                Ok((socket, _peer)) => socket,
                Err(e) => {
                    // Out of file descriptors and similar: back off briefly, keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(e) = socket.set_nodelay(true) {
                tracing::debug!(error = %e, "setting TCP_NODELAY failed");
            }
            let Some(state) = registry.inner.admit() else {
                tracing::debug!("connection refused: at --max-connections and none is idle");
                drop(socket);
                continue;
            };
            match &tls {
                None => {
                    if tx
                        .send(Ok(ServerIo::new(Stream::Plain(socket), state)))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let tx = tx.clone();
                    let registry = registry.inner.clone();
                    tokio::spawn(async move {
                        let close = state.close.clone();
                        let handshake = tokio::select! {
                            r = tokio::time::timeout(handshake_timeout, acceptor.accept(socket)) => r,
                            _ = close.cancelled() => {
                                registry.remove(state.id);
                                return;
                            }
                        };
                        match handshake {
                            Ok(Ok(stream)) => {
                                let io = ServerIo::new(Stream::Tls(Box::new(stream)), state);
                                let _ = tx.send(Ok(io)).await;
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, "TLS handshake failed");
                                registry.remove(state.id);
                            }
                            Err(_) => {
                                registry.closed(&state, Limit::TlsHandshake);
                                registry.remove(state.id);
                            }
                        }
                    });
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Builds the TLS acceptor from PEM files (HTTP/2 and HTTP/1.1 by ALPN, for gRPC and gRPC-Web).
pub fn tls_acceptor(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<TlsAcceptor> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("reading the certificate chain")?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in --tls-cert");
    let key = PrivateKeyDer::from_pem_slice(key_pem).context("reading the private key")?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and key do not form a valid TLS identity")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, idle: u64) -> Limits {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            l: crate::limits::LimitArgs,
        }
        Cli::parse_from([
            "x",
            "--max-connections",
            &max.to_string(),
            "--idle-timeout-seconds",
            &idle.to_string(),
        ])
        .l
        .resolve(90 << 20)
        .unwrap()
    }

    #[tokio::test]
    async fn at_the_limit_the_longest_idle_connection_makes_room() {
        let registry = ConnectionRegistry::new(&limits(2, 30), Metrics::new());
        let a = registry.inner.admit().unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let b = registry.inner.admit().unwrap();
        // Both idle: the older (a) goes.
        let c = registry.inner.admit().unwrap();
        assert!(a.close.is_cancelled() && !b.close.is_cancelled());
        // b and c busy: nothing can make room.
        let _busy_b = ConnectionHandle(b.clone()).request_started();
        let _busy_c = ConnectionHandle(c.clone()).request_started();
        assert!(registry.inner.admit().is_none());
        assert_eq!(registry.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_connections_are_reaped_busy_ones_are_not() {
        let registry = ConnectionRegistry::new(&limits(10, 5), Metrics::new());
        let idle = registry.inner.admit().unwrap();
        let busy = registry.inner.admit().unwrap();
        let guard = ConnectionHandle(busy.clone()).request_started();
        tokio::time::advance(Duration::from_secs(6)).await;
        registry.inner.reap_idle();
        assert!(idle.close.is_cancelled());
        assert!(!busy.close.is_cancelled());
        drop(guard);
        tokio::time::advance(Duration::from_secs(6)).await;
        registry.inner.reap_idle();
        assert!(busy.close.is_cancelled());
        assert!(registry.is_empty());
    }
}
