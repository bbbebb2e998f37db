//! The per-core accept loop and connection handling.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::{select, Either};

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::config::HttpSettings;
use crate::engine::clients::CoreClients;
use crate::engine::Engine;
use crate::metrics::MetricsHub;
use crate::runtime::channel::Receiver;
use crate::runtime::net::{HyperIo, HyperTimer, TcpListener, TcpStream};
use crate::s3::handler::{ResBody, S3Api};

use super::conns::{AddrLimiter, Busy, Conn, LogBudget, Registry};
use super::ktls::{Cork, KernelTls};
use super::limits::WriteStall;
use super::ratelimit::RateLimits;

fn is_anonymous(req: &Request<Incoming>) -> bool {
    let query = req.uri().query().unwrap_or("");
    crate::auth::sigv4::detect(req.headers(), query) == crate::auth::sigv4::AuthKind::Anonymous
}

/// How long in-flight requests may run after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of a request head: request line and header fields.
const MAX_HEADER_BYTES: usize = 64 << 10;
/// Connections the kernel holds for a core that is not accepting (at its
/// connection cap, every connection busy).
const LISTEN_BACKLOG: i32 = 1024;

/// What every core's front end shares, built once at startup so that a bad
/// certificate is reported before anything listens.
#[derive(Clone)]
pub struct Frontend {
    pub settings: HttpSettings,
    pub tls: Option<Arc<super::tls::Tls>>,
    /// Open connections per client address, shared by every core.
    pub addr_limit: Arc<AddrLimiter>,
    /// Request rates per client address and access key, shared likewise.
    pub rate_limits: Arc<RateLimits>,
}

impl Frontend {
    pub fn new(settings: HttpSettings) -> Result<Frontend, String> {
        let tls = match &settings.tls {
            Some((cert, key)) => Some(Arc::new(super::tls::Tls::new(cert, key, settings.ktls)?)),
            None => None,
        };
        let addr_limit = Arc::new(AddrLimiter::new(settings.max_connections_per_ip));
        let rate_limits = Arc::new(RateLimits::new(
            settings.rate_limit_per_ip,
            settings.rate_limit_per_key,
        ));
        Ok(Frontend {
            settings,
            tls,
            addr_limit,
            rate_limits,
        })
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// This core's listener on `addr`: every core binds it (SO_REUSEPORT).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    crate::runtime::net::listen_reuseport(addr, LISTEN_BACKLOG)
}

/// Serves connections until `stop` fires, then waits (bounded) for in-flight
/// requests to finish. `admin`, when given, is a second listener that
/// serves only the admin API, /health and /metrics.
pub async fn serve(
    listener: TcpListener,
    admin: Option<TcpListener>,
    engine: Rc<Engine>,
    ids: Rc<crate::iam::identities::Identities>,
    metrics: MetricsHub,
    frontend: Frontend,
    stop: Receiver<()>,
) {
    let clients = CoreClients::new(engine.shared.clients.clone(), engine.core);
    let api = Rc::new(S3Api::new(
        engine,
        ids,
        metrics.own.clone(),
        &frontend.settings,
        frontend.rate_limits.clone(),
    ));
    let core = Core {
        api,
        metrics: Rc::new(metrics),
        frontend: Rc::new(frontend),
        clients,
        registry: Rc::new(Registry::default()),
        refusals: LogBudget::new(),
    };
    // One stop signal for both loops: the signal's receiver closes this
    // channel, which every loop sees.
    let (closing, closed) = crate::runtime::channel::bounded::<()>(1);
    crate::runtime::spawn(async move {
        let _ = stop.recv().await;
        drop(closing);
    });
    let s3 = accept_loop(&core, listener, false, &closed);
    match admin {
        Some(admin) => {
            futures_util::future::join(s3, accept_loop(&core, admin, true, &closed)).await;
        }
        None => s3.await,
    }
    core.metrics.close();
    let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
    while core.clients.inflight() > 0 && std::time::Instant::now() < deadline {
        crate::runtime::sleep(Duration::from_millis(5)).await;
    }
}

/// What a core's listeners share.
struct Core {
    api: Rc<S3Api>,
    metrics: Rc<MetricsHub>,
    frontend: Rc<Frontend>,
    clients: Rc<CoreClients>,
    registry: Rc<Registry>,
    refusals: LogBudget,
}

async fn accept_loop(core: &Core, listener: TcpListener, admin_only: bool, stop: &Receiver<()>) {
    let frontend = &core.frontend;
    let max = frontend.settings.max_connections;
    loop {
        // The stop signal is polled first, so a flood of connections cannot
        // keep a core from seeing it.
        let accepted = match select(pin!(stop.recv()), pin!(listener.accept())).await {
            Either::Left(_) => break,
            Either::Right((accepted, _)) => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(addr_slot) = frontend.addr_limit.acquire(peer.ip()) else {
                    if let Some(suppressed) = core.refusals.take(crate::engine::now_ms()) {
                        tracing::info!(
                            client = %peer.ip(),
                            limit = frontend.settings.max_connections_per_ip,
                            suppressed,
                            "connection refused: too many open from this address"
                        );
                    }
                    continue;
                };
                if !make_room(&core.registry, max, stop).await {
                    break;
                }
                let _ = stream.set_nodelay(true);
                let conn = Rc::new(Conn::new(peer, frontend.settings.first_request_timeout));
                conn.admin_only.set(admin_only);
                let registered = core.registry.add(conn.clone());
                let api = core.api.clone();
                let metrics = core.metrics.clone();
                let clients = core.clients.clone();
                let frontend = frontend.clone();
                crate::runtime::spawn(async move {
                    connection(stream, conn, api, metrics, clients, frontend).await;
                    drop((registered, addr_slot));
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                crate::runtime::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// At the cap, closes the connection that costs least to close; when every
/// connection is serving a request, waits for one to finish (the
/// connection just accepted waits, and the ones after it wait in the listen
/// backlog). False if `stop` fired meanwhile.
async fn make_room(registry: &Registry, max: usize, stop: &Receiver<()>) -> bool {
    while registry.live() >= max {
        if registry.evict_one() {
            continue;
        }
        let pause = pin!(crate::runtime::sleep(Duration::from_millis(5)));
        if let Either::Left(_) = select(pin!(stop.recv()), pause).await {
            return false;
        }
    }
    true
}

/// A response body that keeps its connection marked busy (not to be
/// evicted) until hyper has sent it and drops it.
struct Tracked {
    body: ResBody,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.get_mut().body.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

async fn connection(
    stream: TcpStream,
    conn: Rc<Conn>,
    api: Rc<S3Api>,
    metrics: Rc<MetricsHub>,
    clients: Rc<CoreClients>,
    frontend: Rc<Frontend>,
) {
    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    let io = match stream.try_into_poll_io() {
        Ok(s) => WriteStall::new(s, frontend.settings.idle_timeout),
        Err((e, _)) => {
            tracing::warn!(error = %e, "socket conversion failed");
            return;
        }
    };
    let Some(tls) = frontend.tls.clone() else {
        return http1(HyperIo::new(io), conn, api, metrics, clients, frontend).await;
    };
    // Corked only when the session may go to the kernel (see `ktls`).
    let mut io = Cork::new(io);
    if tls.kernel.is_none() {
        io.uncork();
    }
    // The handshake counts against the first-request deadline.
    let (session, kernel, early) = {
        let handshake = pin!(async {
            let mut session = tls.acceptor.accept(io).await?;
            let mut early = Vec::new();
            let kernel = kernel_takes(&session, &tls);
            match kernel {
                Some(_) => {
                    let corked = |s: &TlsSession| s.get_ref().0.mid_record();
                    super::ktls::drain(&mut session, corked, &mut early).await?;
                }
                None => session.get_mut().0.uncork(),
            }
            Ok::<_, std::io::Error>((session, kernel, early))
        });
        let closing = pin!(conn.must_close());
        match select(handshake, closing).await {
            Either::Left((Ok(done), _)) => done,
            Either::Left((Err(e), _)) => return tracing::debug!(error = %e, "TLS handshake failed"),
            Either::Right(_) => return tracing::debug!("TLS handshake timed out"),
        }
    };
    match hand_over(session, kernel, early, fd) {
        Ok(Encrypted::User(s)) => {
            tls.served(false);
            http1(HyperIo::new(s), conn, api, metrics, clients, frontend).await
        }
        Ok(Encrypted::Kernel(s)) => {
            tls.served(true);
            http1(HyperIo::new(s), conn, api, metrics, clients, frontend).await
        }
        // The session is gone (its keys taken from rustls): close.
        Err(e) => tracing::warn!(error = %e, "kTLS hand-over failed; connection closed"),
    }
}

type Socket = WriteStall<crate::runtime::net::TcpStreamPoll>;
type TlsSession = tokio_rustls::server::TlsStream<Cork<Socket>>;

/// Who encrypts a session after its handshake.
enum Encrypted {
    User(Box<TlsSession>),
    Kernel(KernelTls<Socket>),
}

/// The kernel's version number when it takes the session's suite.
fn kernel_takes(session: &TlsSession, tls: &super::tls::Tls) -> Option<u16> {
    let (_, state) = session.get_ref();
    let version = state
        .protocol_version()
        .and_then(super::ktls::kernel_version)?;
    let cipher = state
        .negotiated_cipher_suite()
        .and_then(|s| super::ktls::kernel_cipher(s.suite()))?;
    tls.kernel?.contains(version, cipher).then_some(version)
}

/// Gives a finished session to the kernel when it takes it (`kernel`:
/// the version), or leaves it in rustls. On the kernel's stream, what
/// rustls already decrypted comes first: `early` (read to finish the
/// record the handshake started) and what rustls still holds.
fn hand_over(
    session: TlsSession,
    kernel: Option<u16>,
    mut early: Vec<u8>,
    fd: std::os::fd::RawFd,
) -> std::io::Result<Encrypted> {
    let Some(version) = kernel else {
        return Ok(Encrypted::User(Box::new(session)));
    };
    let (io, mut state) = session.into_inner();
    match std::io::Read::read_to_end(&mut state.reader(), &mut early) {
        Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => return Err(e),
        _ => {}
    }
    let secrets = state
        .dangerous_extract_secrets()
        .map_err(std::io::Error::other)?;
    super::ktls::install(fd, version, secrets)?;
    Ok(Encrypted::Kernel(KernelTls::new(
        io.into_inner(),
        fd,
        early,
    )))
}

/// HTTP/1.1 on an established (plain or TLS) connection.
async fn http1<I>(
    io: I,
    conn: Rc<Conn>,
    api: Rc<S3Api>,
    metrics: Rc<MetricsHub>,
    clients: Rc<CoreClients>,
    frontend: Rc<Frontend>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let idle = frontend.settings.idle_timeout;
    let for_requests = conn.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let api = api.clone();
        let metrics = metrics.clone();
        let tls = frontend.tls.clone();
        let conn = for_requests.clone();
        let busy = conn.begin();
        let guard = clients.begin();
        async move {
            let mut r = route(req, &api, &metrics, tls.as_deref(), &conn).await;
            drop(guard);
            if !conn.is_authenticated() {
                // Nothing signed has come over it: it keeps no slot.
                r.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, Infallible>(r.map(|body| Tracked { body, _busy: busy }))
        }
    });
    // hyper answers a head over MAX_HEADER_BYTES, or with more than 100
    // fields (its default; setting it moves parsing to the heap), with
    // 431 and closes the connection.
    let served = hyper::server::conn::http1::Builder::new()
        .timer(HyperTimer)
        .header_read_timeout(idle)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true)
        .serve_connection(io, service);
    let served = pin!(served);
    let closing = pin!(conn.must_close());
    let result = match select(served, closing).await {
        Either::Left((r, _)) => r,
        Either::Right((_, mut served)) => {
            if !conn.is_busy() {
                tracing::debug!(peer = %conn.peer, "closing an idle connection");
                return;
            }
            // Evicted while a request was starting: finish it, then close.
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn route(
    req: Request<Incoming>,
    api: &S3Api,
    metrics: &MetricsHub,
    tls: Option<&super::tls::Tls>,
    conn: &Conn,
) -> Response<ResBody> {
    let boxed = |r: Response<http_body_util::Full<bytes::Bytes>>| {
        r.map(|b| Box::pin(b.map_err(|e: Infallible| -> std::io::Error { match e {} })) as ResBody)
    };
    match (req.method(), req.uri().path()) {
        // A website's paths are its keys, whatever they are.
        _ if api.website_bucket(req.headers()).is_some() => api.handle(req, conn).await,
        // Unauthenticated probes for load balancers and orchestrators.
        (&http::Method::GET | &http::Method::HEAD, "/health/live") => boxed(super::health::live()),
        (&http::Method::GET | &http::Method::HEAD, "/health/ready") => {
            boxed(super::health::ready(&api.engine))
        }
        // Prometheus scrapes are anonymous; a signed request for /metrics is
        // S3 (a bucket may be called "metrics").
        (&http::Method::GET, "/metrics") if is_anonymous(&req) => {
            let mut body = metrics.render(&api.engine.shared).await;
            api.rate_limits.render(&mut body);
            if let Some(tls) = tls {
                tls.render(&mut body);
            }
            crate::metrics::render_usage(&mut body, &api.engine);
            let mut r = Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            boxed(r)
        }
        // The web console's files; its pages sign their own S3 requests.
        // Turned off, its path is S3's like any other.
        (method, path)
            if api.console
                && crate::console::is_console_path(path)
                && !api.is_virtual_hosted(req.headers()) =>
        {
            boxed(crate::console::serve(method, path, req.headers()))
        }
        _ => api.handle(req, conn).await,
    }
}
