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

use crate::engine::Engine;
use crate::iam::root::RootCredentials;
use crate::metrics::MetricsHub;
use crate::runtime::channel::Receiver;
use crate::s3::handler::{ResBody, S3Api};

fn is_anonymous(req: &Request<Incoming>) -> bool {
    !req.headers().contains_key(http::header::AUTHORIZATION)
        && !req.uri().query().unwrap_or("").contains("X-Amz-Signature")
}

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of request headers (hyper's read buffer).
const MAX_HEADER_BYTES: usize = 64 << 10;

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
    stop: Receiver<()>,
) {
    let api = Rc::new(S3Api::new(engine, creds, metrics.own.clone()));
    let metrics = Rc::new(metrics);
    let inflight = Rc::new(Cell::new(0usize));
    loop {
        monoio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let api = api.clone();
                    let metrics = metrics.clone();
                    let inflight = inflight.clone();
                    monoio::spawn(async move { connection(stream, api, metrics, inflight).await });
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

struct InflightGuard(Rc<Cell<usize>>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

async fn connection(
    stream: monoio::net::TcpStream,
    api: Rc<S3Api>,
    metrics: Rc<MetricsHub>,
    inflight: Rc<Cell<usize>>,
) {
    let io = match stream.try_into_poll_io() {
        Ok(s) => MonoioIo::new(s),
        Err((e, _)) => {
            tracing::warn!(error = %e, "socket conversion failed");
            return;
        }
    };
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let api = api.clone();
        let metrics = metrics.clone();
        inflight.set(inflight.get() + 1);
        let guard = InflightGuard(inflight.clone());
        async move {
            let r = route(req, &api, &metrics).await;
            drop(guard);
            Ok::<_, Infallible>(r)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(MonoioTimer)
        .header_read_timeout(HEADER_TIMEOUT)
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
