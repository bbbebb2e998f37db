//! One request's record: begun when its head arrives, filled in by the
//! handler (who, which operation, which bucket and key), and written when
//! its response body is dropped, which is when hyper has sent it all (or
//! the client went away): so `bytes_out` and `total_ms` are what was sent,
//! not what was planned.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, Response};

use crate::iam::identities::{Principal, PrincipalKind};
use crate::metrics::InFlight;
use crate::s3::common::response::ResBody;

use super::json::Object;
use super::trace::TraceContext;

/// The status logged for a request whose client left before it was
/// answered (nginx's convention).
pub const CLIENT_CLOSED: u16 = 499;

pub struct RequestLog {
    /// The operation's name, as the metrics count it.
    pub op: Cell<&'static str>,
    request_id: String,
    method: Method,
    remote: IpAddr,
    trace: TraceContext,
    received: SystemTime,
    started: Instant,
    bytes_in: u64,
    /// Some log, or a trace subscriber, wants the details below.
    detail: bool,
    /// A trace subscriber was there when the request began.
    tapped: bool,
    principal: RefCell<Option<Arc<Principal>>>,
    /// The access key a refused request named.
    claimed_key: RefCell<Option<String>>,
    bucket: RefCell<Option<String>>,
    key: RefCell<Option<String>>,
    /// The caller is a tenant's user: the path's bucket is its tenant's.
    in_tenant: Cell<bool>,
    /// The tenant's bucket the request names, once joined.
    tenant_bucket: RefCell<Option<String>>,
    status: u16,
    error: Option<&'static str>,
    ttfb: Duration,
    bytes_out: u64,
    /// The server access log line's own fields, while some bucket has
    /// logging on (see `logs::bucket`).
    server: Option<Box<super::bucket::ServerLog>>,
    _in_flight: InFlight,
}

impl RequestLog {
    pub fn begin(
        request_id: String,
        method: Method,
        remote: IpAddr,
        headers: &HeaderMap,
        bytes_in: u64,
        in_flight: InFlight,
        server: Option<Box<super::bucket::ServerLog>>,
    ) -> RequestLog {
        // The one atomic load a request pays for the live trace.
        let tapped = super::tap::active();
        RequestLog {
            op: Cell::new("Unauthenticated"),
            request_id,
            method,
            remote,
            trace: TraceContext::from_headers(headers),
            received: SystemTime::now(),
            started: Instant::now(),
            bytes_in,
            detail: tapped || server.is_some() || super::wanted(),
            tapped,
            principal: RefCell::new(None),
            claimed_key: RefCell::new(None),
            bucket: RefCell::new(None),
            key: RefCell::new(None),
            in_tenant: Cell::new(false),
            tenant_bucket: RefCell::new(None),
            status: 0,
            error: None,
            ttfb: Duration::ZERO,
            bytes_out: 0,
            server,
            _in_flight: in_flight,
        }
    }

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// Whether the setters below keep anything (they clone).
    pub fn wants_detail(&self) -> bool {
        self.detail
    }

    pub fn set_principal(&self, p: &Arc<Principal>) {
        if self.detail {
            *self.principal.borrow_mut() = Some(p.clone());
        }
    }

    pub fn set_claimed_key(&self, key: Option<String>) {
        if self.detail {
            *self.claimed_key.borrow_mut() = key;
        }
    }

    pub fn set_target(&self, bucket: Option<&str>, key: Option<&str>) {
        if self.detail {
            *self.bucket.borrow_mut() = bucket.map(str::to_owned);
            *self.key.borrow_mut() = key.map(str::to_owned);
        }
    }

    /// A tenant's user made the request, naming its tenant's `bucket`.
    pub fn set_in_tenant(&self, bucket: Option<&str>) {
        self.in_tenant.set(true);
        *self.tenant_bucket.borrow_mut() = bucket.map(str::to_owned);
    }

    /// The tenant's bucket a tenant's user's request names.
    pub fn tenant_bucket(&self) -> Option<String> {
        self.tenant_bucket.borrow().clone()
    }

    /// Whether a tenant's user made the request (`s3::tenant`).
    pub fn in_tenant(&self) -> bool {
        self.in_tenant.get()
    }

    /// The bucket and key the request named, if the handler set them.
    pub fn target(&self) -> (Option<String>, Option<String>) {
        (self.bucket.borrow().clone(), self.key.borrow().clone())
    }

    /// Whether a server access log line may be wanted for this request.
    pub fn wants_server_line(&self) -> bool {
        self.server.is_some()
    }

    /// Sets (or, with `None`, clears: the bucket is not logged) where the
    /// request's server access log line goes.
    pub fn set_server_target(&mut self, t: Option<super::bucket::Target>) {
        match t {
            Some(t) => {
                if let Some(s) = &mut self.server {
                    s.target = Some(t);
                }
            }
            None => self.server = None,
        }
    }

    /// The response head is ready: the record rides with its body and is
    /// written when the body is done.
    pub fn finish(
        mut self,
        resp: Response<ResBody>,
        error: Option<&'static str>,
    ) -> Response<ResBody> {
        self.status = resp.status().as_u16();
        self.error = error;
        self.ttfb = self.started.elapsed();
        resp.map(|inner| Box::pin(Logged { inner, log: self }) as ResBody)
    }

    fn user(&self) -> Option<String> {
        let p = self.principal.borrow();
        let p = p.as_ref()?;
        Some(match p.kind {
            PrincipalKind::Anonymous => "anonymous".to_owned(),
            _ => p.name.clone(),
        })
    }

    fn access_key(&self) -> Option<String> {
        match self.principal.borrow().as_ref() {
            Some(p) if !p.access_key.is_empty() => Some(p.access_key.clone()),
            Some(_) => None,
            None => self.claimed_key.borrow().clone(),
        }
    }

    fn unix_ms(&self) -> u64 {
        self.received
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// The access log line.
    pub fn write_line(&self, out: &mut Vec<u8>, total: Duration) {
        let (user, access_key) = (self.user(), self.access_key());
        let (bucket, key) = (self.bucket.borrow(), self.key.borrow());
        let mut o = Object::begin(out);
        o.time("time", self.unix_ms())
            .str("request_id", &self.request_id)
            .hex("trace_id", &self.trace.trace_id);
        let mut ip = [0u8; 45];
        o.str("remote_addr", ip_str(self.remote, &mut ip))
            .str("method", self.method.as_str())
            .opt_str("user", user.as_deref())
            .opt_str("access_key", access_key.as_deref())
            .str("operation", self.op.get())
            .opt_str("bucket", bucket.as_deref())
            .opt_str("key", key.as_deref())
            .u64("status", u64::from(self.status()))
            .opt_str("error", self.error)
            .u64("bytes_in", self.bytes_in)
            .u64("bytes_out", self.bytes_out)
            .millis("ttfb_ms", self.ttfb)
            .millis("total_ms", total);
        o.end();
    }

    fn status(&self) -> u16 {
        if self.status == 0 {
            CLIENT_CLOSED
        } else {
            self.status
        }
    }

    /// The request's span in OTLP/JSON (`Span`), one line.
    pub fn write_span(&self, out: &mut Vec<u8>, total: Duration) {
        let start = self
            .received
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let end = start + total.as_nanos() as u64;
        let status = self.status();
        let mut o = Object::begin(out);
        o.hex("traceId", &self.trace.trace_id)
            .hex("spanId", &self.trace.span_id);
        if let Some(p) = &self.trace.parent {
            o.hex("parentSpanId", p);
        }
        // SPAN_KIND_SERVER; times as decimal strings (64-bit integers).
        o.str("name", self.op.get())
            .u64("kind", 2)
            .str("startTimeUnixNano", &start.to_string())
            .str("endTimeUnixNano", &end.to_string());
        let mut attrs = Vec::with_capacity(256);
        attrs.push(b'[');
        let mut attr = |name: &str, v: AttrValue<'_>| {
            if attrs.len() > 1 {
                attrs.push(b',');
            }
            let mut a = Object::begin(&mut attrs);
            a.str("key", name);
            let mut value = Vec::new();
            let mut vo = Object::begin(&mut value);
            match v {
                AttrValue::Str(s) => vo.str("stringValue", s),
                AttrValue::Int(n) => vo.str("intValue", &n.to_string()),
            };
            vo.end();
            a.raw("value", &value);
            a.end();
        };
        attr("http.request.method", AttrValue::Str(self.method.as_str()));
        attr(
            "http.response.status_code",
            AttrValue::Int(u64::from(status)),
        );
        attr("cairn.request_id", AttrValue::Str(&self.request_id));
        let mut ip = [0u8; 45];
        attr(
            "client.address",
            AttrValue::Str(ip_str(self.remote, &mut ip)),
        );
        if let Some(b) = self.bucket.borrow().as_deref() {
            attr("aws.s3.bucket", AttrValue::Str(b));
        }
        if let Some(k) = self.key.borrow().as_deref() {
            attr("aws.s3.key", AttrValue::Str(k));
        }
        if let Some(u) = self.user() {
            attr("enduser.id", AttrValue::Str(&u));
        }
        if let Some(e) = self.error {
            attr("error.type", AttrValue::Str(e));
        }
        attr("cairn.bytes_in", AttrValue::Int(self.bytes_in));
        attr("cairn.bytes_out", AttrValue::Int(self.bytes_out));
        attrs.push(b']');
        o.raw("attributes", &attrs);
        // Server spans: 5xx is an error (STATUS_CODE_ERROR), else unset.
        o.raw(
            "status",
            if status >= 500 {
                br#"{"code":2}"#
            } else {
                br#"{"code":0}"#
            },
        );
        o.end();
    }
}

enum AttrValue<'a> {
    Str(&'a str),
    Int(u64),
}

/// An address as text without allocating.
fn ip_str(ip: IpAddr, buf: &mut [u8; 45]) -> &str {
    use std::io::Write as _;
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{ip}");
    let n = cur.position() as usize;
    std::str::from_utf8(&buf[..n]).unwrap_or("")
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        if !self.detail {
            return;
        }
        let total = self.started.elapsed();
        super::with_core(|core| {
            if let Some(b) = &mut core.access {
                b.line(|out| self.write_line(out, total));
            }
            if let Some(b) = &mut core.spans {
                if self.trace.sampled {
                    b.line(|out| self.write_span(out, total));
                }
            }
        });
        if let Some(s) = &self.server {
            let p = self.principal.borrow();
            let requester = p.as_ref().map_or("", |p| {
                if !p.arn.is_empty() {
                    p.arn.as_str()
                } else {
                    p.canonical_id.as_str()
                }
            });
            let mut ip = [0u8; 45];
            super::bucket::record(
                s,
                &super::bucket::Line {
                    time_ms: self.unix_ms(),
                    remote_ip: ip_str(self.remote, &mut ip),
                    requester,
                    request_id: &self.request_id,
                    method: self.method.as_str(),
                    op: self.op.get(),
                    status: self.status(),
                    error_code: self.error,
                    bytes_sent: self.bytes_out,
                    total,
                    turnaround: self.ttfb,
                },
            );
        }
        if self.tapped && super::tap::active() {
            let meta = super::tap::Meta {
                bucket: self.bucket.borrow().clone(),
                key: self.key.borrow().clone(),
                user: self.user(),
                status: self.status(),
            };
            super::tap::publish(meta, |out| self.write_line(out, total));
        }
    }
}

/// A response body that counts what is sent and carries the record.
struct Logged {
    inner: ResBody,
    log: RequestLog,
}

impl http_body::Body for Logged {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let r = this.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &r {
            if let Some(d) = f.data_ref() {
                this.log.bytes_out += d.len() as u64;
            }
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
