//! Delivery: [`SENDERS`] threads per target (blocking HTTP on the
//! executors would stall requests), each over its share of the partitions,
//! read the target's events from the outbox, oldest first, send each (a
//! webhook's POST, a NATS publish: `nats.rs`), and delete it once the
//! target took it (a 2xx; the NATS server's or JetStream's ack). A partition has one sender, so
//! one key's events still go one at a time. A failure stops that partition's walk (so one key's
//! events arrive in order) and the thread retries with backoff while the
//! target is down; events wait in the outbox meanwhile, up to the target's
//! queue limit. At least once: an event whose answer was lost is sent
//! again.
//!
//! The targets themselves are node-wide state kept in the system store
//! (`targets.rs`); `open` loads them at start, the admin API changes them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::Agent;

use super::event::EventRow;
use super::nats::NatsSender;
use super::targets::{Kind, Saved, Target, MAX_TARGETS};
use crate::engine::outbox::{Counts, BATCH_MAX};
use crate::engine::Shared;
use crate::iam::store::SystemStore;

/// Longest wait for one delivery: the node's shutdown waits for it.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Sending threads per target. One thread waits out a round trip per
/// event (about 2,000 events/s on loopback, below the node's PUT rate);
/// four keep up with it while leaving a slow target's load bounded.
pub const SENDERS: usize = 4;
/// How often the delivery mark is brought forward and stored (`mark.rs`):
/// events delivered since it was stored are sent again after a power loss.
const MARK_EVERY: Duration = Duration::from_secs(2);
/// An idle thread still looks this often (a wake-up may be missed while it
/// was sending).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What a target's threads did since start.
pub struct Stats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    /// The last delivery any of its threads tried succeeded (or none was
    /// tried yet).
    pub online: AtomicBool,
    pub last_error: Mutex<Option<String>>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            online: AtomicBool::new(true),
            last_error: Mutex::new(None),
        }
    }
}

struct Worker {
    target: Target,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

struct State {
    generation: u64,
    workers: Vec<Worker>,
}

pub struct Notifier {
    store: Box<dyn SystemStore>,
    shared: Arc<Shared>,
    state: Mutex<State>,
    /// Held through a whole change (put, remove), which lets `state` go
    /// while an old thread finishes.
    changing: Mutex<()>,
    /// Target name -> queue limit per partition, read on every write that
    /// has events.
    limits: RwLock<HashMap<String, u64>>,
    /// The delivery mark as last stored (ms), and its thread.
    mark_ms: AtomicU64,
    mark_stop: AtomicBool,
    mark_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

static NOTIFIER: OnceLock<Notifier> = OnceLock::new();

/// Loads the kept targets and starts their threads, and the thread that
/// keeps the delivery mark in `mark_store`. Once, at start. Blocking.
pub fn open(
    store: Box<dyn SystemStore>,
    mark_store: Box<dyn SystemStore>,
    shared: Arc<Shared>,
) -> Result<usize, String> {
    let loaded = store
        .load()
        .map_err(|e| format!("cannot read the notification targets: {e}"))?;
    let (generation, saved) = match loaded.newest {
        Some((g, payload)) => (
            g,
            Saved::decode(&payload).map_err(|e| format!("notification targets: {e}"))?,
        ),
        None => (0, Saved::default()),
    };
    let n = NOTIFIER.get_or_init(|| Notifier {
        store,
        shared,
        state: Mutex::new(State {
            generation,
            workers: Vec::new(),
        }),
        changing: Mutex::new(()),
        limits: RwLock::new(HashMap::new()),
        mark_ms: AtomicU64::new(0),
        mark_stop: AtomicBool::new(false),
        mark_thread: Mutex::new(None),
    });
    // A rebuilt index gets back every event its records carry since the
    // mark, those of targets removed meanwhile too: they go.
    for idx in &n.shared.indexes {
        let present = idx.event_targets().map_err(|e| format!("outbox: {e}"))?;
        for name in present {
            if !saved.targets.iter().any(|t| t.name == name) {
                idx.events_purge(&name)
                    .map_err(|e| format!("outbox: {e}"))?;
            }
        }
    }
    let count = saved.targets.len();
    let mut st = n.lock();
    for t in saved.targets {
        st.workers.push(n.spawn(t));
    }
    n.publish(&st);
    drop(st);
    let thread = std::thread::Builder::new()
        .name("notify-mark".into())
        .spawn(move || keep_mark(n, mark_store))
        .map_err(|e| format!("cannot start the delivery mark's thread: {e}"))?;
    *n.mark_thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
    Ok(count)
}

/// The mark's thread: brings it forward every MARK_EVERY while there are
/// targets, storing it when it moved.
fn keep_mark(n: &Notifier, store: Box<dyn SystemStore>) {
    let mut generation = match store.load() {
        Ok(l) => {
            let newest = l.newest.as_ref();
            let ms = newest
                .and_then(|(_, p)| super::mark::decode(p))
                .unwrap_or(0);
            n.mark_ms.store(ms, Ordering::Relaxed);
            newest.map_or(0, |(g, _)| *g)
        }
        Err(_) => 0,
    };
    while !n.mark_stop.load(Ordering::SeqCst) {
        pause(&n.mark_stop, MARK_EVERY);
        let names: Vec<String> = n
            .lock()
            .workers
            .iter()
            .map(|w| w.target.name.clone())
            .collect();
        if names.is_empty() {
            continue;
        }
        let ms = super::mark::current(&n.shared, &names);
        if ms <= n.mark_ms.load(Ordering::Relaxed) {
            continue;
        }
        match store.store(generation + 1, &super::mark::encode(ms)) {
            Ok(()) => {
                generation += 1;
                n.mark_ms.store(ms, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot store the notification delivery mark (retried)")
            }
        }
    }
}

/// The delivery mark now (see `mark.rs`); None when there is no target,
/// so no event waits. Blocking.
pub fn undelivered_since() -> Option<u64> {
    let n = NOTIFIER.get()?;
    let names: Vec<String> = n
        .lock()
        .workers
        .iter()
        .map(|w| w.target.name.clone())
        .collect();
    (!names.is_empty()).then(|| super::mark::current(&n.shared, &names))
}

/// The node's notifier, once `open` ran.
pub fn notifier() -> Option<&'static Notifier> {
    NOTIFIER.get()
}

/// The per-partition queue limit of target `name`; None if there is no
/// such target (its rules then make no events).
pub fn partition_limit(name: &str) -> Option<u64> {
    let n = NOTIFIER.get()?;
    n.limits
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .copied()
}

/// Stops every delivery thread (before the node closes its indexes).
pub fn stop() {
    if let Some(n) = NOTIFIER.get() {
        n.mark_stop.store(true, Ordering::SeqCst);
        let mark = n
            .mark_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = mark {
            let _ = t.join();
        }
        let workers = std::mem::take(&mut n.lock().workers);
        for w in &workers {
            w.stop.store(true, Ordering::SeqCst);
        }
        for w in workers {
            finish(w, &n.shared);
        }
    }
}

/// A target as the admin API shows it.
pub struct View {
    pub target: Target,
    pub counts: Counts,
    pub stats: Arc<Stats>,
}

impl Notifier {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, st: &State) {
        let parts = u64::from(self.shared.partitions.max(1));
        let limits = st
            .workers
            .iter()
            .map(|w| (w.target.name.clone(), w.target.queue_limit.div_ceil(parts)))
            .collect();
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) = limits;
    }

    fn spawn(&self, target: Target) -> Worker {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let threads = (0..SENDERS)
            .filter_map(|share| {
                std::thread::Builder::new()
                    .name(format!("notify-{}-{share}", target.name))
                    .spawn({
                        let (shared, target, stop, stats) =
                            (self.shared.clone(), target.clone(), stop.clone(), stats.clone());
                        move || run(&shared, &target, share, &stop, &stats)
                    })
                    .map_err(|e| tracing::error!(target_name = %target.name, error = %e, "cannot start a notification thread"))
                    .ok()
            })
            .collect();
        Worker {
            target,
            stop,
            stats,
            threads,
        }
    }

    fn save(&self, st: &mut State, targets: Vec<Target>) -> Result<(), String> {
        let payload = Saved { targets }.encode().map_err(|e| e.to_string())?;
        self.store
            .store(st.generation + 1, &payload)
            .map_err(|e| format!("cannot store the notification targets: {e}"))?;
        st.generation += 1;
        Ok(())
    }

    /// Every target with its counters (read from the outbox after the
    /// lock is let go).
    pub fn list(&self) -> Vec<View> {
        let targets: Vec<(Target, Arc<Stats>)> = self
            .lock()
            .workers
            .iter()
            .map(|w| (w.target.clone(), w.stats.clone()))
            .collect();
        targets
            .into_iter()
            .map(|(target, stats)| View {
                counts: self.counts(&target.name),
                target,
                stats,
            })
            .collect()
    }

    /// What the target `name` is, if there is one.
    pub fn kind_of(&self, name: &str) -> Option<Kind> {
        self.lock()
            .workers
            .iter()
            .find(|w| w.target.name == name)
            .and_then(|w| w.target.kind())
    }

    fn counts(&self, name: &str) -> Counts {
        let mut c = Counts::default();
        for idx in &self.shared.indexes {
            if let Ok(p) = idx.event_counts(name) {
                c.pending += p.pending;
                c.dropped += p.dropped;
            }
        }
        c
    }

    /// Adds or replaces a target, stored before it is used. Blocking.
    pub fn put(&self, target: Target) -> Result<bool, String> {
        target.check()?;
        let _one = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = self.lock();
        let existed = st.workers.iter().any(|w| w.target.name == target.name);
        if !existed && st.workers.len() >= MAX_TARGETS {
            return Err(format!("a node has at most {MAX_TARGETS} targets"));
        }
        let mut targets: Vec<Target> = st
            .workers
            .iter()
            .map(|w| w.target.clone())
            .filter(|t| t.name != target.name)
            .collect();
        targets.push(target.clone());
        self.save(&mut st, targets)?;
        let old = st
            .workers
            .iter()
            .position(|w| w.target.name == target.name)
            .map(|i| st.workers.remove(i));
        // The old thread stops (its send in flight may take CALL_TIMEOUT)
        // before the new one starts: never two senders for one target.
        if let Some(old) = old {
            drop(st);
            finish(old, &self.shared);
            st = self.lock();
        }
        let w = self.spawn(target);
        st.workers.push(w);
        self.publish(&st);
        Ok(existed)
    }

    /// Removes a target and the events it had waiting. Blocking.
    pub fn remove(&self, name: &str) -> Result<Option<u64>, String> {
        let _one = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let mut st = self.lock();
        let Some(i) = st.workers.iter().position(|w| w.target.name == name) else {
            return Ok(None);
        };
        let targets = st
            .workers
            .iter()
            .map(|w| w.target.clone())
            .filter(|t| t.name != name)
            .collect();
        self.save(&mut st, targets)?;
        let w = st.workers.remove(i);
        self.publish(&st);
        drop(st);
        finish(w, &self.shared);
        let mut purged = 0;
        for idx in &self.shared.indexes {
            purged += idx.events_purge(name).map_err(|e| e.to_string())?;
        }
        Ok(Some(purged))
    }
}

/// Stops a worker's threads and waits for them.
fn finish(w: Worker, shared: &Shared) {
    w.stop.store(true, Ordering::SeqCst);
    shared.outbox_wake.notify();
    for t in w.threads {
        let _ = t.join();
    }
}

fn agent(target: &Target) -> Result<Agent, String> {
    let mut tls = TlsConfig::builder();
    if let Some(pem) = &target.ca_cert {
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(pem.as_bytes())
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err("caCert holds no certificate".into());
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    } else if target.endpoint.starts_with("https://") {
        tls = tls.root_certs(crate::cli::client::system_roots());
    }
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(CALL_TIMEOUT))
        .tls_config(tls.build())
        .build();
    Ok(Agent::new_with_config(config))
}

/// How one sending thread reaches its target.
enum Sender {
    Http(Agent),
    Nats(NatsSender),
}

impl Sender {
    fn new(target: &Target) -> Result<Sender, String> {
        match target.kind() {
            Some(Kind::Nats) => NatsSender::new(CALL_TIMEOUT).map(Sender::Nats),
            _ => agent(target).map(Sender::Http),
        }
    }

    /// Sends one event; Err says why the target did not take it.
    fn send(&mut self, target: &Target, row: &EventRow, body: &[u8]) -> Result<(), String> {
        match self {
            Sender::Http(agent) => post(agent, target, body),
            Sender::Nats(n) => n.send(target, row, body),
        }
    }
}

/// POSTs one event; Err says why the target did not take it.
fn post(agent: &Agent, target: &Target, body: &[u8]) -> Result<(), String> {
    let mut req = ureq::http::Request::builder()
        .method("POST")
        .uri(&target.endpoint)
        .header("content-type", "application/json");
    if let Some(a) = target.authorization() {
        req = req.header("authorization", a);
    }
    let req = req.body(body.to_vec()).map_err(|e| e.to_string())?;
    let resp = agent.run(req).map_err(|e| e.to_string())?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

/// Sleeps `d` unless `stop` is set meanwhile.
fn pause(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// One sending thread of a target, over the partitions p with
/// p % SENDERS == share, until `stop`.
fn run(shared: &Shared, target: &Target, share: usize, stop: &AtomicBool, stats: &Stats) {
    let mut sender = match Sender::new(target) {
        Ok(a) => a,
        Err(e) => {
            if share == 0 {
                tracing::error!(target_name = %target.name, error = %e, "notification target cannot be used");
            }
            stats.online.store(false, Ordering::Relaxed);
            *stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
            return;
        }
    };
    let region = crate::s3::bucket::REGION;
    let mut backoff = BACKOFF_FIRST;
    let mut down_since: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let seen = shared.outbox_wake.generation();
        let mut sent_any = false;
        let mut failed = None;
        let mine = shared.indexes.iter().skip(share).step_by(SENDERS);
        'partitions: for idx in mine {
            let batch = match idx.events_pending(&target.name, BATCH_MAX) {
                Ok(b) => b,
                Err(e) => {
                    failed = Some(format!("outbox: {e}"));
                    break;
                }
            };
            let mut done = Vec::with_capacity(batch.len());
            let mut corrupt = 0;
            for (key, row) in batch {
                if stop.load(Ordering::SeqCst) {
                    failed = Some(String::new());
                    break;
                }
                let Some(row) = row else {
                    tracing::error!(target_name = %target.name, partition = idx.partition, "an outbox event does not decode: dropped");
                    corrupt += 1;
                    done.push(key);
                    continue;
                };
                let body = serde_json::to_vec(&row.message(region)).unwrap_or_default();
                match sender.send(target, &row, &body) {
                    Ok(()) => {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                        done.push(key);
                        sent_any = true;
                    }
                    Err(e) => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        failed = Some(e);
                        break;
                    }
                }
            }
            if !done.is_empty() {
                if let Err(e) = idx.events_delivered(&target.name, &done, corrupt) {
                    failed = Some(format!("outbox: {e}"));
                }
            }
            if failed.is_some() {
                break 'partitions;
            }
        }
        match failed {
            Some(e) if !e.is_empty() => {
                // The threads share one state: the first to fail logs.
                if stats.online.swap(false, Ordering::Relaxed) {
                    tracing::warn!(target_name = %target.name, error = %e, "notification target is down: events wait and are retried");
                }
                down_since.get_or_insert_with(Instant::now);
                *stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                pause(stop, backoff);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            Some(_) => {}
            None => {
                backoff = BACKOFF_FIRST;
                if sent_any {
                    let was_down = down_since.take();
                    if !stats.online.swap(true, Ordering::Relaxed) {
                        let down_for_s = was_down.map_or(0, |t| t.elapsed().as_secs());
                        tracing::info!(target_name = %target.name, down_for_s, "notification target is back");
                    }
                } else {
                    shared.outbox_wake.wait(seen, IDLE_WAIT);
                }
            }
        }
    }
}

/// A metric: name, type, help, and its value for a target.
type Series = (&'static str, &'static str, &'static str, fn(&View) -> u64);

/// `cairn_notify_*` in `/metrics`: per target, what was sent, refused,
/// is waiting and was dropped, and whether it answers.
pub fn render_metrics(out: &mut String) {
    use std::fmt::Write;
    let Some(n) = NOTIFIER.get() else {
        return;
    };
    let views = n.list();
    if views.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP cairn_notify_delivery_mark_seconds Every event made before this time was delivered (or dropped); a power loss sends again only what came after.");
    let _ = writeln!(out, "# TYPE cairn_notify_delivery_mark_seconds gauge");
    let mark = n.mark_ms.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "cairn_notify_delivery_mark_seconds {}.{:03}",
        mark / 1000,
        mark % 1000
    );
    let series: [Series; 5] = [
        (
            "cairn_notify_events_sent_total",
            "counter",
            "Events the target took (2xx) since start.",
            |v| v.stats.sent.load(Ordering::Relaxed),
        ),
        (
            "cairn_notify_send_failures_total",
            "counter",
            "Deliveries the target refused or did not answer since start (each is retried).",
            |v| v.stats.failed.load(Ordering::Relaxed),
        ),
        (
            "cairn_notify_events_pending",
            "gauge",
            "Events waiting for the target in the outbox.",
            |v| v.counts.pending,
        ),
        (
            "cairn_notify_events_dropped_total",
            "counter",
            "Events dropped because the target's queue was full.",
            |v| v.counts.dropped,
        ),
        (
            "cairn_notify_target_online",
            "gauge",
            "1 while the target takes events, 0 while deliveries fail.",
            |v| u64::from(v.stats.online.load(Ordering::Relaxed)),
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for v in &views {
            let _ = writeln!(out, "{name}{{target=\"{}\"}} {}", v.target.name, value(v));
        }
    }
}
