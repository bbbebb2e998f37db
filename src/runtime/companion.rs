//! A companion thread per core for the few calls that block: LMDB commits,
//! fallocate, directory fsync, small metadata files. The executor thread hands
//! a closure over and awaits its result; it never blocks itself.

use std::sync::mpsc;
use std::thread;

use super::channel::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Handle to a companion thread; cheap to clone.
#[derive(Clone)]
pub struct Companion {
    tx: mpsc::Sender<Job>,
}

impl Companion {
    /// Starts the thread. It exits when every handle has been dropped.
    pub fn start(name: String) -> std::io::Result<Companion> {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new().name(name).spawn(move || {
            while let Ok(job) = rx.recv() {
                job();
            }
        })?;
        Ok(Companion { tx })
    }

    /// Runs `f` on the companion thread and resolves to its result. The queue
    /// is unbounded: every job is awaited by a caller that already holds one of
    /// the node's bounded request slots.
    pub async fn run<R, F>(&self, f: F) -> std::io::Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| std::io::Error::other("companion thread stopped"))?;
        rx.await
            .map_err(|_| std::io::Error::other("companion job panicked"))
    }
}
