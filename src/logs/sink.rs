//! Where log lines go without blocking an executor: each core formats lines
//! into its own batch buffer and hands full batches (or, every
//! [`FLUSH_INTERVAL`], partial ones) to a writer thread over a bounded
//! channel. When the writer falls behind, the channel is full and the batch
//! is dropped and counted: memory stays bounded by
//! `cores × BATCH_BYTES + QUEUE_BATCHES × BATCH_BYTES`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A core hands its batch over once it holds this many bytes.
pub const BATCH_BYTES: usize = 64 << 10;
/// Batches waiting for the writer, over all cores (4 MiB of lines).
pub const QUEUE_BATCHES: usize = 64;
/// Longest a line waits in a core's buffer.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// Most bytes one call of a consumer receives (batches are merged up to it).
const MERGE_BYTES: usize = 1 << 20;

/// The cores' side of one writer thread.
pub struct Sink {
    pub name: &'static str,
    tx: SyncSender<Vec<u8>>,
    /// Lines dropped because the writer was behind (or gone).
    pub dropped: AtomicU64,
}

/// What consumes batches on the writer thread: a file, or the OTLP exporter.
pub trait Consumer: Send + 'static {
    /// `batches` hold whole lines, each ending in `\n`.
    fn consume(&mut self, batches: &[Vec<u8>]);
    /// Called before each call of `consume` (file reopening on SIGHUP).
    fn before(&mut self) {}
}

/// Ends a writer thread: everything queued before it is consumed.
pub struct Writer {
    sink: Arc<Sink>,
    thread: JoinHandle<()>,
}

impl Writer {
    pub fn finish(self) {
        // An empty batch is the stop mark; a blocking send waits for room.
        let _ = self.sink.tx.send(Vec::new());
        let _ = self.thread.join();
    }
}

impl Sink {
    /// Starts the writer thread that feeds `consumer`.
    pub fn start(
        name: &'static str,
        queue: usize,
        consumer: impl Consumer,
    ) -> std::io::Result<(Arc<Sink>, Writer)> {
        let (tx, rx) = sync_channel(queue);
        let sink = Arc::new(Sink {
            name,
            tx,
            dropped: AtomicU64::new(0),
        });
        let thread = std::thread::Builder::new()
            .name(format!("cairn-{name}"))
            .spawn(move || run(rx, consumer))?;
        Ok((
            sink.clone(),
            Writer {
                sink: sink.clone(),
                thread,
            },
        ))
    }

    /// Hands a batch of `lines` lines over, or drops it when the writer is
    /// behind; returns the batch (emptied) for reuse when dropped.
    pub fn offer(&self, batch: Vec<u8>, lines: u64) -> Option<Vec<u8>> {
        match self.tx.try_send(batch) {
            Ok(()) => None,
            Err(TrySendError::Full(mut b) | TrySendError::Disconnected(mut b)) => {
                self.dropped.fetch_add(lines, Ordering::Relaxed);
                b.clear();
                Some(b)
            }
        }
    }
}

fn run(rx: Receiver<Vec<u8>>, mut consumer: impl Consumer) {
    let mut batches = Vec::new();
    'outer: while let Ok(first) = rx.recv() {
        if first.is_empty() {
            break;
        }
        let mut bytes = first.len();
        batches.push(first);
        while bytes < MERGE_BYTES {
            match rx.try_recv() {
                Ok(b) if b.is_empty() => {
                    consumer.before();
                    consumer.consume(&batches);
                    break 'outer;
                }
                Ok(b) => {
                    bytes += b.len();
                    batches.push(b);
                }
                Err(_) => break,
            }
        }
        consumer.before();
        consumer.consume(&batches);
        batches.clear();
    }
}

/// A core's batch for one sink.
pub struct Batcher {
    sink: Arc<Sink>,
    buf: Vec<u8>,
    lines: u64,
    /// The dropped count last warned about, and when (seconds).
    warned: (u64, u64),
}

impl Batcher {
    pub fn new(sink: Arc<Sink>) -> Batcher {
        Batcher {
            sink,
            buf: Vec::with_capacity(BATCH_BYTES),
            lines: 0,
            warned: (0, 0),
        }
    }

    /// Appends one line written by `f` (which must not write a newline
    /// outside a JSON string); hands the batch over once it is full.
    pub fn line(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.buf);
        self.buf.push(b'\n');
        self.lines += 1;
        if self.buf.len() >= BATCH_BYTES {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if self.lines == 0 {
            return;
        }
        let batch = std::mem::take(&mut self.buf);
        match self.sink.offer(batch, self.lines) {
            Some(reused) => {
                self.buf = reused;
                self.warn_dropped();
            }
            None => self.buf = Vec::with_capacity(BATCH_BYTES),
        }
        self.lines = 0;
    }

    /// At most one warning every ten seconds per core.
    fn warn_dropped(&mut self) {
        let now = crate::engine::now_ms() / 1000;
        if now < self.warned.1 + 10 {
            return;
        }
        let dropped = self.sink.dropped.load(Ordering::Relaxed);
        tracing::warn!(
            log = self.sink.name,
            dropped_since_last_warning = dropped - self.warned.0,
            "log writer is behind: lines dropped"
        );
        self.warned = (dropped, now);
    }
}

/// Where a file log goes: `-` is standard output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File(PathBuf),
}

impl Target {
    pub fn parse(s: &str) -> Target {
        if s == "-" {
            Target::Stdout
        } else {
            Target::File(PathBuf::from(s))
        }
    }
}

/// Bumped by SIGHUP: file writers reopen their path before their next write
/// (logrotate's `create` mode renames the file, then signals).
pub static REOPEN: AtomicU64 = AtomicU64::new(0);

/// Appends lines to a file (or standard output).
pub struct FileConsumer {
    target: Target,
    file: Option<File>,
    generation: u64,
    /// Seconds of the last write-error warning.
    warned: u64,
    pub errors: Arc<AtomicU64>,
}

impl FileConsumer {
    /// Opens the file now, so a bad path stops the start-up.
    pub fn open(target: Target) -> Result<FileConsumer, String> {
        let file = match &target {
            Target::Stdout => None,
            Target::File(p) => Some(open_append(p).map_err(|e| format!("{}: {e}", p.display()))?),
        };
        Ok(FileConsumer {
            target,
            file,
            generation: REOPEN.load(Ordering::Relaxed),
            warned: 0,
            errors: Arc::new(AtomicU64::new(0)),
        })
    }

    fn failed(&mut self, what: &str, e: &std::io::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let now = crate::engine::now_ms() / 1000;
        if now >= self.warned + 10 {
            self.warned = now;
            tracing::warn!(target = ?self.target, error = %e, "{what}");
        }
    }
}

fn open_append(p: &std::path::Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(p)
}

impl Consumer for FileConsumer {
    fn before(&mut self) {
        let g = REOPEN.load(Ordering::Relaxed);
        if g == self.generation {
            return;
        }
        self.generation = g;
        if let Target::File(p) = &self.target {
            match open_append(p) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    let p = p.clone();
                    self.failed(&format!("cannot reopen {}", p.display()), &e);
                }
            }
        }
    }

    fn consume(&mut self, batches: &[Vec<u8>]) {
        for b in batches {
            let r = match &mut self.file {
                Some(f) => f.write_all(b),
                None => std::io::stdout().lock().write_all(b),
            };
            if let Err(e) = r {
                self.failed("log write failed", &e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Sends what it consumes to the test; blocks until the test says go.
    struct Gate {
        go: mpsc::Receiver<()>,
        seen: mpsc::Sender<Vec<u8>>,
    }

    impl Consumer for Gate {
        fn consume(&mut self, batches: &[Vec<u8>]) {
            let _ = self.go.recv();
            for b in batches {
                let _ = self.seen.send(b.clone());
            }
        }
    }

    #[test]
    fn a_stalled_writer_drops_and_counts_lines_instead_of_queueing_them() {
        let (go_tx, go) = mpsc::channel();
        let (seen, seen_rx) = mpsc::channel();
        let (sink, writer) = Sink::start("test", 2, Gate { go, seen }).expect("thread");
        let mut b = Batcher::new(sink.clone());
        let mut sent = 0;
        // The writer takes the first batch and stalls; two more fill the
        // queue; the rest are dropped.
        for i in 0..10 {
            b.line(|out| out.extend_from_slice(format!("{{\"n\":{i}}}").as_bytes()));
            b.flush();
            sent += 1;
        }
        assert!(
            sink.dropped.load(Ordering::Relaxed) >= 6,
            "dropped lines are counted"
        );
        for _ in 0..sent {
            let _ = go_tx.send(());
        }
        drop(go_tx);
        writer.finish();
        let got: Vec<Vec<u8>> = seen_rx.try_iter().collect();
        let lines: usize = got
            .iter()
            .map(|b| b.split(|&c| c == b'\n').count() - 1)
            .sum();
        assert_eq!(
            lines as u64 + sink.dropped.load(Ordering::Relaxed),
            10,
            "every line is written or counted as dropped"
        );
    }

    #[test]
    fn lines_reach_the_file_and_a_reopen_follows_a_rename() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("access.log");
        let (sink, writer) = Sink::start(
            "test",
            4,
            FileConsumer::open(Target::File(path.clone())).expect("open"),
        )
        .expect("thread");
        let mut b = Batcher::new(sink);
        b.line(|out| out.extend_from_slice(b"{\"a\":1}"));
        b.flush();
        // Wait for the first line, then rotate.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read(&path).map_or(true, |v| v.is_empty()) {
            assert!(std::time::Instant::now() < deadline, "first line written");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::fs::rename(&path, dir.path().join("access.log.1")).expect("rename");
        REOPEN.fetch_add(1, Ordering::Relaxed);
        b.line(|out| out.extend_from_slice(b"{\"a\":2}"));
        b.flush();
        writer.finish();
        assert_eq!(
            std::fs::read(dir.path().join("access.log.1")).expect("old"),
            b"{\"a\":1}\n"
        );
        assert_eq!(std::fs::read(&path).expect("new"), b"{\"a\":2}\n");
    }
}
