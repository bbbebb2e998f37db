//! The per-core accept loop and connection handling.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use monoio::net::{ListenerOpts, TcpListener};
use monoio_compat::hyper::{MonoioIo, MonoioTimer};

use crate::config::HttpSettings;
use crate::engine::Engine;
use crate::iam::root::RootCredentials;
use crate::metrics::MetricsHub;
use crate::runtime::channel::Receiver;
use crate::s3::handler::{ResBody, S3Api};

use super::limits::WriteStall;

fn is_anonymous(req: &Request<Incoming>) -> bool {
    !req.headers().contains_key(http::header::AUTHORIZATION)
        && !req.uri().query().unwrap_or("").contains("X-Amz-Signature")
}

/// How long in-flight requests may run after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of request headers (hyper's read buffer).
const MAX_HEADER_BYTES: usize = 64 << 10;

/// What every core's front end shares, built once at startup so that a bad
/// certificate is reported before anything listens.
#[derive(Clone)]
pub struct Frontend {
    pub settings: HttpSettings,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Frontend {
    pub fn new(settings: HttpSettings) -> Result<Frontend, String> {
        let tls = match &settings.tls {
            Some((cert, key)) => Some(tokio_rustls::TlsAcceptor::from(super::tls::load(
                cert, key,
            )?)),
            None => None,
        };
        Ok(Frontend { settings, tls })
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind_with_config(
        addr,
        &ListenerOpts::new()
            .reuse_port(true)
            .reuse_addr(true)
            .backlog(1024),
    )
}

/// Serves connections until `stop` fires, then waits (bounded) for in-flight
/// requests to finish.
pub async fn serve(
    listener: TcpListener,
    engine: Rc<Engine>,
    creds: Arc<RootCredentials>,
    metrics: MetricsHub,
    frontend: Frontend,
    stop: Receiver<()>,
) {
    let api = Rc::new(S3Api::new(
        engine,
        creds,
        metrics.own.clone(),
        &frontend.settings,
    ));
    let metrics = Rc::new(metrics);
    let frontend = Rc::new(frontend);
    let inflight = Rc::new(Cell::new(0usize));
    let open = Rc::new(Cell::new(0usize));
    loop {
        if open.get() >= frontend.settings.max_connections {
            // At the cap: leave new clients in the listen backlog until one
            // of ours closes.
            monoio::select! {
                _ = monoio::time::sleep(Duration::from_millis(5)) => continue,
                _ = stop.recv() => break,
            }
        }
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let api = api.clone();
                    let metrics = metrics.clone();
                    let inflight = inflight.clone();
                    let frontend = frontend.clone();
                    open.set(open.get() + 1);
                    let guard = CountGuard(open.clone());
                    monoio::spawn(async move {
                        connection(stream, api, metrics, inflight, frontend).await;
                        drop(guard);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            _ = stop.recv() => break,
        }
    }
    drop(listener);
    metrics.close();
    let deadline = std::time::Instant::now() + DRAIN_TIMEOUT;
    while inflight.get() > 0 && std::time::Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Decrements a per-core count when a request or connection ends, however
/// it ends.
struct CountGuard(Rc<Cell<usize>>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

async fn connection(
    stream: monoio::net::TcpStream,
    api: Rc<S3Api>,
    metrics: Rc<MetricsHub>,
    inflight: Rc<Cell<usize>>,
    frontend: Rc<Frontend>,
) {
    let idle = frontend.settings.idle_timeout;
    let io = match stream.try_into_poll_io() {
        Ok(s) => WriteStall::new(s, idle),
        Err((e, _)) => {
            tracing::warn!(error = %e, "socket conversion failed");
            return;
        }
    };
    match &frontend.tls {
        None => http1(MonoioIo::new(io), api, metrics, inflight, idle).await,
        Some(acceptor) => match monoio::time::timeout(idle, acceptor.accept(io)).await {
            Ok(Ok(tls)) => http1(MonoioIo::new(tls), api, metrics, inflight, idle).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
    }
}

/// HTTP/1.1 on an established (plain or TLS) connection.
async fn http1<I>(
    io: I,
    api: Rc<S3Api>,
    metrics: Rc<MetricsHub>,
    inflight: Rc<Cell<usize>>,
    idle: Duration,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let api = api.clone();
        let metrics = metrics.clone();
        inflight.set(inflight.get() + 1);
        let guard = CountGuard(inflight.clone());
        async move {
            let r = route(req, &api, &metrics).await;
            drop(guard);
            Ok::<_, Infallible>(r)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(MonoioTimer)
        .header_read_timeout(idle)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true)
        .serve_connection(io, service);
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

async fn route(req: Request<Incoming>, api: &S3Api, metrics: &MetricsHub) -> Response<ResBody> {
    let boxed = |r: Response<http_body_util::Full<bytes::Bytes>>| {
        r.map(|b| Box::pin(b.map_err(|e: Infallible| -> std::io::Error { match e {} })) as ResBody)
    };
    match (req.method(), req.uri().path()) {
        // Unauthenticated probes for load balancers and orchestrators.
        (&http::Method::GET | &http::Method::HEAD, "/health/live") => boxed(super::health::live()),
        (&http::Method::GET | &http::Method::HEAD, "/health/ready") => {
            boxed(super::health::ready(&api.engine))
        }
        // Prometheus scrapes are anonymous; a signed request for /metrics is
        // S3 (a bucket may be called "metrics").
        (&http::Method::GET, "/metrics") if is_anonymous(&req) => {
            let body = metrics.render(&api.engine.shared).await;
            let mut r = Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            boxed(r)
        }
        _ => api.handle(req).await,
    }
}
