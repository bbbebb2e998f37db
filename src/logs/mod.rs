//! What a node tells its operator besides metrics: the access log (a JSON
//! line a request), the audit log (a JSON line an identity or admin change),
//! and request spans exported over OTLP. All off unless configured.
//!
//! Set up once at start ([`init`]); the writer threads are shared, the
//! batches are per core (thread-local: each executor is one thread), so the
//! request path takes no lock and never waits for a write.

pub mod access;
pub mod audit;
pub mod bucket;
pub mod json;
pub mod level;
pub mod otlp;
pub mod sink;
pub mod tap;
pub mod trace;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use sink::{Batcher, FileConsumer, Sink, Target, Writer};

/// What `--access-log`, `--audit-log` and `--otlp-endpoint` asked for.
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    pub access_log: Option<String>,
    pub audit_log: Option<String>,
    pub otlp_endpoint: Option<String>,
    /// How long server access log lines wait for their log object.
    pub bucket_log_interval: std::time::Duration,
}

/// The node's sinks, set once by [`init`].
struct Logs {
    access: Option<Arc<Sink>>,
    audit: Option<Arc<Sink>>,
    spans: Option<Arc<Sink>>,
    access_errors: Option<Arc<std::sync::atomic::AtomicU64>>,
    audit_errors: Option<Arc<std::sync::atomic::AtomicU64>>,
    otlp: Option<Arc<otlp::Stats>>,
}

static LOGS: OnceLock<Logs> = OnceLock::new();

/// Audit lines come one at a time, from any core.
const AUDIT_QUEUE: usize = 4096;

/// The writer threads, to be finished after the cores have stopped.
pub struct Writers(Vec<Writer>);

impl Writers {
    /// Writes what is queued and ends the threads.
    pub fn finish(self) {
        for w in self.0 {
            w.finish();
        }
    }
}

/// Opens the logs and starts their writer threads. Call once, before the
/// cores start; a second call changes nothing.
pub fn init(s: &LogSettings) -> Result<Writers, String> {
    bucket::init(s.bucket_log_interval);
    let mut writers = Vec::new();
    let mut file = |name: &'static str, path: &Option<String>, queue: usize| {
        let Some(p) = path else {
            return Ok::<_, String>((None, None));
        };
        let consumer = FileConsumer::open(Target::parse(p))?;
        let errors = consumer.errors.clone();
        let (sink, w) = Sink::start(name, queue, consumer).map_err(|e| e.to_string())?;
        writers.push(w);
        Ok((Some(sink), Some(errors)))
    };
    let (access, access_errors) = file("access-log", &s.access_log, sink::QUEUE_BATCHES)?;
    let (audit, audit_errors) = file("audit-log", &s.audit_log, AUDIT_QUEUE)?;
    let (spans, otlp) = match &s.otlp_endpoint {
        Some(url) => {
            let exporter = otlp::Exporter::new(url)?;
            let stats = exporter.stats.clone();
            let (sink, w) =
                Sink::start("otlp", sink::QUEUE_BATCHES, exporter).map_err(|e| e.to_string())?;
            writers.push(w);
            (Some(sink), Some(stats))
        }
        None => (None, None),
    };
    let _ = LOGS.set(Logs {
        access,
        audit,
        spans,
        access_errors,
        audit_errors,
        otlp,
    });
    Ok(Writers(writers))
}

/// SIGHUP: file logs reopen their paths before their next write.
pub fn reopen() {
    sink::REOPEN.fetch_add(1, Ordering::Relaxed);
}

/// This core's batches.
struct CoreLogs {
    access: Option<Batcher>,
    spans: Option<Batcher>,
}

thread_local! {
    static CORE: RefCell<Option<CoreLogs>> = const { RefCell::new(None) };
}

/// Whether requests on this core need their details kept (user, bucket,
/// key): some log or exporter will write them.
pub fn wanted() -> bool {
    CORE.with(|c| c.borrow().is_some())
}

/// Sets up this core's batches and the task that hands them over every
/// [`sink::FLUSH_INTERVAL`]. Call on each executor thread at start.
pub fn start_core() {
    let Some(logs) = LOGS.get() else { return };
    if logs.access.is_none() && logs.spans.is_none() {
        return;
    }
    CORE.with(|c| {
        *c.borrow_mut() = Some(CoreLogs {
            access: logs.access.clone().map(Batcher::new),
            spans: logs.spans.clone().map(Batcher::new),
        })
    });
    crate::runtime::spawn(async {
        loop {
            crate::runtime::sleep(sink::FLUSH_INTERVAL).await;
            if !flush_core() {
                break;
            }
        }
    });
}

/// Hands this core's partial batches over; false once the core has
/// finished.
fn flush_core() -> bool {
    CORE.with(|c| match c.borrow_mut().as_mut() {
        Some(core) => {
            for b in [&mut core.access, &mut core.spans].into_iter().flatten() {
                b.flush();
            }
            true
        }
        None => false,
    })
}

/// The core is stopping: hands over what is left and ends the flush task.
pub fn finish_core() {
    flush_core();
    CORE.with(|c| *c.borrow_mut() = None);
}

fn with_core(f: impl FnOnce(&mut CoreLogs)) {
    CORE.with(|c| {
        if let Some(core) = c.borrow_mut().as_mut() {
            f(core)
        }
    })
}

/// The logs' own figures for `/metrics`.
pub fn render_metrics(out: &mut String) {
    bucket::render_metrics(out);
    let Some(logs) = LOGS.get() else { return };
    let _ = writeln!(
        out,
        "# HELP cairn_log_lines_dropped_total Log lines dropped because the writer was behind."
    );
    let _ = writeln!(out, "# TYPE cairn_log_lines_dropped_total counter");
    for s in [&logs.access, &logs.audit, &logs.spans]
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            out,
            "cairn_log_lines_dropped_total{{log=\"{}\"}} {}",
            s.name,
            s.dropped.load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(out, "# TYPE cairn_log_write_errors_total counter");
    for (name, e) in [
        ("access-log", &logs.access_errors),
        ("audit-log", &logs.audit_errors),
    ] {
        if let Some(e) = e {
            let _ = writeln!(
                out,
                "cairn_log_write_errors_total{{log=\"{name}\"}} {}",
                e.load(Ordering::Relaxed)
            );
        }
    }
    if let Some(o) = &logs.otlp {
        for (name, v) in [
            ("cairn_otlp_spans_exported_total", &o.exported),
            ("cairn_otlp_export_failures_total", &o.failures),
        ] {
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
    }
}
