//! Server access logs delivered into buckets (PutBucketLogging): each
//! request to a bucket with logging on becomes one line of S3's format
//! (`bucket_logging::Record`), appended to its core's batch for that
//! source bucket (thread-local, no lock: each executor is one thread).
//! A batch becomes one log object in the target bucket when it reaches
//! [`OBJECT_BYTES`], when the next line belongs to another object (the
//! configuration changed, or another event day under event-time
//! partitioning), or every `--bucket-log-interval`. The object is written
//! by the core itself through the engine, as any PUT's data, and owned by
//! the target bucket's owner; it never passes the HTTP front end, so log
//! writes are never logged (no loop when a bucket logs into itself).
//!
//! Best effort, as S3's delivery is, but bounded: a core holds at most
//! [`MAX_PENDING_BYTES`] of lines (batched or being written); past it
//! lines are dropped and counted (`cairn_bucket_log_lines_dropped_total`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use http::{HeaderMap, Method, Uri};

use crate::bucket_logging::{Auth, BucketLogging};
use crate::engine::buckets::BucketSse;
use crate::engine::{Engine, MemBody, PutOptions};
use crate::iam::acl::Acl;

/// `--bucket-log-interval`'s default: S3 delivers within a few hours; five
/// minutes keeps the wait short without making many small objects.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// A source bucket's batch is written once it holds this much.
pub const OBJECT_BYTES: usize = 1 << 20;
/// Lines a core holds, batched or being written, before it drops new ones.
pub const MAX_PENDING_BYTES: usize = 8 << 20;

static INTERVAL: OnceLock<Duration> = OnceLock::new();

/// The node's delivery figures, for `/metrics`.
struct Stats {
    lines: AtomicU64,
    dropped: AtomicU64,
    objects: AtomicU64,
    failures: AtomicU64,
}

static STATS: Stats = Stats {
    lines: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
    objects: AtomicU64::new(0),
    failures: AtomicU64::new(0),
};

/// Sets the flush interval; called once by `logs::init`.
pub fn init(interval: Duration) {
    let _ = INTERVAL.set(if interval.is_zero() {
        DEFAULT_INTERVAL
    } else {
        interval
    });
}

/// What a request's record keeps for its server access log line, taken
/// when its head arrives (only while some bucket has logging on).
pub struct ServerLog {
    request_uri: String,
    user_agent: Option<String>,
    referer: Option<String>,
    host: Option<String>,
    auth: Auth,
    /// Filled once the response head is ready, when the request's bucket
    /// has logging on; no line is written without it.
    pub target: Option<Target>,
}

/// The logged bucket and what its line needs from the response.
pub struct Target {
    pub source: String,
    pub owner: String,
    pub config: BucketLogging,
    pub key: Option<String>,
    pub website: bool,
    pub object_size: Option<u64>,
    pub version_id: Option<String>,
    pub host_id: String,
    /// The keys (and version ids) a DeleteObjects deleted: a
    /// `BATCH.DELETE.OBJECT` line each after the request's own.
    pub batch: Vec<(String, Option<String>)>,
}

/// What a DeleteObjects deleted, handed from the operation to the
/// request's log line as a response extension.
#[derive(Clone)]
pub struct BatchDeleted(pub Vec<(String, Option<String>)>);

impl ServerLog {
    pub fn begin(method: &Method, uri: &Uri, headers: &HeaderMap) -> Box<ServerLog> {
        let text = |h: http::header::HeaderName| {
            headers
                .get(h)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        Box::new(ServerLog {
            request_uri: format!("{method} {path_and_query} HTTP/1.1"),
            user_agent: text(http::header::USER_AGENT),
            referer: text(http::header::REFERER),
            host: text(http::header::HOST),
            auth: auth_of(headers, uri.query().unwrap_or("")),
            target: None,
        })
    }
}

/// How a request was signed, from its head alone.
fn auth_of(headers: &HeaderMap, query: &str) -> Auth {
    use crate::auth::sigv4::{detect, AuthKind};
    match detect(headers, query) {
        AuthKind::Header => Auth::Header {
            v4: headers
                .get(http::header::AUTHORIZATION)
                .is_some_and(|v| v.as_bytes().starts_with(b"AWS4-")),
        },
        AuthKind::Presigned => Auth::Query {
            v4: query.contains("X-Amz-Algorithm="),
        },
        AuthKind::PostPolicy => Auth::Form,
        AuthKind::Anonymous => Auth::Anonymous,
    }
}

/// The fields of a record the access log keeps, for one line.
pub struct Line<'a> {
    pub time_ms: u64,
    pub remote_ip: &'a str,
    pub requester: &'a str,
    pub request_id: &'a str,
    pub method: &'a str,
    pub op: &'a str,
    pub status: u16,
    pub error_code: Option<&'a str>,
    pub bytes_sent: u64,
    pub total: Duration,
    pub turnaround: Duration,
}

/// Formats the line of a request whose bucket has logging on and hands it
/// to this core's batch.
pub fn record(s: &ServerLog, l: &Line<'_>) {
    let Some(t) = &s.target else { return };
    let operation = crate::bucket_logging::operation(l.method, l.op, t.key.is_some(), t.website);
    let r = crate::bucket_logging::Record {
        bucket_owner: &t.owner,
        bucket: &t.source,
        time_ms: l.time_ms,
        remote_ip: l.remote_ip,
        requester: l.requester,
        request_id: l.request_id,
        operation: &operation,
        key: t.key.as_deref(),
        request_uri: &s.request_uri,
        status: l.status,
        error_code: l.error_code,
        bytes_sent: l.bytes_sent,
        object_size: t.object_size,
        total_ms: Some(l.total.as_millis() as u64),
        turnaround_ms: Some(l.turnaround.as_millis() as u64),
        referer: s.referer.as_deref(),
        user_agent: s.user_agent.as_deref(),
        version_id: t.version_id.as_deref(),
        host_id: &t.host_id,
        auth: Some(s.auth),
        cipher_suite: None,
        host: s.host.as_deref(),
        tls_version: None,
    };
    CORE.with(|c| {
        if let Some(core) = c.borrow_mut().as_mut() {
            core.line(&t.source, &t.config, l.time_ms, |out| r.write(out));
            // DeleteObjects takes at most 1,000 keys: bounded.
            assert!(t.batch.len() <= crate::s3::xml::MAX_DELETE_OBJECTS);
            for (key, version_id) in &t.batch {
                let b = crate::bucket_logging::Record {
                    operation: crate::bucket_logging::BATCH_DELETE,
                    key: Some(key),
                    status: 204,
                    error_code: None,
                    bytes_sent: 0,
                    object_size: None,
                    version_id: version_id.as_deref(),
                    ..r
                };
                core.line(&t.source, &t.config, l.time_ms, |out| b.write(out));
            }
        }
    });
}

/// Writes the line of a lifecycle action (`operation`, e.g.
/// `S3.EXPIRE.OBJECT`) the worker took on `bucket`'s `key`, when the
/// bucket has logging on. Called on the core that took it; the fields a
/// request would fill are `-`, as S3 writes them.
pub fn record_lifecycle(bucket: &str, key: &str, operation: &str, object_size: Option<u64>) {
    CORE.with(|c| {
        let mut c = c.borrow_mut();
        let Some(core) = c.as_mut() else { return };
        let (config, owner) = {
            let table = core.engine.buckets();
            let Some(info) = table.get(bucket) else {
                return;
            };
            let Some(config) = info.logging.clone() else {
                return;
            };
            let owner = info
                .owner
                .as_ref()
                .map_or_else(|| core.root_id.clone(), |o| o.canonical_id.clone());
            (config, owner)
        };
        let time_ms = crate::engine::now_ms();
        let request_id = format!("{:016X}", rand::random::<u64>());
        let r = crate::bucket_logging::Record {
            bucket_owner: &owner,
            bucket,
            time_ms,
            requester: crate::bucket_logging::LIFECYCLE_REQUESTER,
            request_id: &request_id,
            operation,
            key: Some(key),
            object_size,
            ..Default::default()
        };
        core.line(bucket, &config, time_ms, |out| r.write(out));
    });
}

/// One source bucket's lines waiting for their object.
struct Batch {
    config: BucketLogging,
    buf: Vec<u8>,
    first_ms: u64,
}

/// This core's batches and the engine that writes them.
struct Core {
    engine: Rc<Engine>,
    /// Root's canonical id: the owner of buckets made before owners were
    /// kept.
    root_id: String,
    batches: HashMap<String, Batch>,
    /// Bytes batched or being written on this core.
    pending: Rc<Cell<usize>>,
}

thread_local! {
    static CORE: RefCell<Option<Core>> = const { RefCell::new(None) };
}

impl Core {
    fn line(
        &mut self,
        source: &str,
        config: &BucketLogging,
        time_ms: u64,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let starts_new = self
            .batches
            .get(source)
            .is_some_and(|b| b.config != *config || !b.config.same_object(b.first_ms, time_ms));
        if starts_new {
            self.deliver(source);
        }
        let batch = self
            .batches
            .entry(source.to_owned())
            .or_insert_with(|| Batch {
                config: config.clone(),
                buf: Vec::new(),
                first_ms: time_ms,
            });
        let at = batch.buf.len();
        write(&mut batch.buf);
        batch.buf.push(b'\n');
        let n = batch.buf.len() - at;
        if self.pending.get() + n > MAX_PENDING_BYTES {
            batch.buf.truncate(at);
            STATS.dropped.fetch_add(1, Ordering::Relaxed);
            if batch.buf.is_empty() {
                self.batches.remove(source);
            }
            return;
        }
        self.pending.set(self.pending.get() + n);
        STATS.lines.fetch_add(1, Ordering::Relaxed);
        if batch.buf.len() >= OBJECT_BYTES {
            self.deliver(source);
        }
    }

    /// Starts writing `source`'s batch as an object; its bytes stay
    /// pending until the write is done.
    fn deliver(&mut self, source: &str) {
        let Some(batch) = self.batches.remove(source) else {
            return;
        };
        let write = write_object(
            self.engine.clone(),
            self.root_id.clone(),
            source.to_owned(),
            batch,
            self.pending.clone(),
        );
        crate::runtime::spawn(write);
    }

    fn deliver_all(&mut self) {
        let sources: Vec<String> = self.batches.keys().cloned().collect();
        for s in sources {
            self.deliver(&s);
        }
    }
}

/// Writes one log object into the target bucket, as its owner, with the
/// configuration's grants and the bucket's SSE-S3 default if it has one.
async fn write_object(
    engine: Rc<Engine>,
    root_id: String,
    source: String,
    batch: Batch,
    pending: Rc<Cell<usize>>,
) {
    let size = batch.buf.len();
    let target = &batch.config.target_bucket;
    let key = batch.config.object_key(
        &source,
        batch.first_ms,
        crate::engine::now_ms(),
        rand::random::<u64>(),
    );
    let info = engine.buckets().get(target).cloned();
    let result = match info {
        None => Err("the target bucket no longer exists".to_owned()),
        Some(info) => {
            let owner = info
                .owner
                .as_ref()
                .map_or(root_id, |o| o.canonical_id.clone());
            let mut opts = PutOptions {
                content_type: Some("text/plain".into()),
                ..Default::default()
            };
            let mut acl = Acl::private(&owner);
            for g in &batch.config.target_grants {
                acl.push(g.clone());
            }
            opts.headers
                .extend(crate::s3::common::acl::stored_entry(&acl, &owner));
            let sealed = match info.encryption.as_ref().map(|e| e.algorithm) {
                Some(BucketSse::Aes256) => {
                    crate::s3::sse::seal_for(target, &key, &crate::s3::sse::Requested::S3, false)
                        .await
                        .map_err(|e| e.message)
                }
                _ => Ok(None),
            };
            match sealed {
                Err(e) => Err(e),
                Ok(sealed) => {
                    opts.seal = sealed.map(|s| s.seal);
                    let mut body = MemBody::new(batch.buf);
                    engine
                        .put(target, &key, opts, &mut body)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            }
        }
    };
    match result {
        Ok(()) => {
            STATS.objects.fetch_add(1, Ordering::Relaxed);
        }
        Err(error) => {
            STATS.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%source, %target, %key, %error, "server access log object not written");
        }
    }
    pending.set(pending.get().saturating_sub(size));
}

/// Sets up this core's batches and the task that writes them every
/// interval. Call on each executor thread once its engine runs.
pub fn start_core(engine: Rc<Engine>, root_id: String) {
    let pending = Rc::new(Cell::new(0));
    CORE.with(|c| {
        *c.borrow_mut() = Some(Core {
            engine,
            root_id,
            batches: HashMap::new(),
            pending,
        })
    });
    let every = *INTERVAL.get_or_init(|| DEFAULT_INTERVAL);
    crate::runtime::spawn(async move {
        loop {
            crate::runtime::sleep(every).await;
            let running = CORE.with(|c| match c.borrow_mut().as_mut() {
                Some(core) => {
                    core.deliver_all();
                    true
                }
                None => false,
            });
            if !running {
                break;
            }
        }
    });
}

/// The core is stopping: writes what is batched and waits (a bounded
/// time) for the writes to finish, before the engine stops.
pub async fn finish_core() {
    let pending = CORE.with(|c| {
        let mut c = c.borrow_mut();
        let core = c.as_mut()?;
        core.deliver_all();
        Some(core.pending.clone())
    });
    if let Some(p) = pending {
        // Each write is one small PUT; ten seconds is far more than any.
        for _ in 0..1000 {
            if p.get() == 0 {
                break;
            }
            crate::runtime::sleep(Duration::from_millis(10)).await;
        }
    }
    CORE.with(|c| *c.borrow_mut() = None);
}

/// Delivery figures for `/metrics`.
pub fn render_metrics(out: &mut String) {
    use std::fmt::Write as _;
    for (name, help, v) in [
        (
            "cairn_bucket_log_lines_total",
            "Server access log lines batched for delivery into buckets.",
            &STATS.lines,
        ),
        (
            "cairn_bucket_log_lines_dropped_total",
            "Server access log lines dropped because a core held too many undelivered.",
            &STATS.dropped,
        ),
        (
            "cairn_bucket_log_objects_total",
            "Server access log objects written into target buckets.",
            &STATS.objects,
        ),
        (
            "cairn_bucket_log_failures_total",
            "Server access log objects that could not be written (their lines are lost).",
            &STATS.failures,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
    }
}
