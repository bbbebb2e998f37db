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
        Companion::spawn(name, false)
    }

    /// Starts a thread for background work (healing's erasure decoding)
    /// under the kernel's SCHED_IDLE policy: it runs on CPU time no other
    /// thread wants, and a waking executor takes its CPU at once. A nice
    /// level is not enough: the kernel still runs a niced thread for a
    /// whole time slice, and a client request whose CPU it holds waits the
    /// slice out (client p99 during a heal: +44-56% at nice 10, +13-21%
    /// under SCHED_IDLE; perf/results, 2026-12-06). On a node whose CPUs
    /// clients keep full it still gets a sliver, so the work slows down
    /// but does not stop.
    pub fn start_background(name: String) -> std::io::Result<Companion> {
        Companion::spawn(name, true)
    }

    fn spawn(name: String, background: bool) -> std::io::Result<Companion> {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new().name(name).spawn(move || {
            if background {
                lower_priority();
            }
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

/// Puts the calling thread under SCHED_IDLE, or at nice 19 where the
/// kernel refuses that policy.
fn lower_priority() {
    // SAFETY: setpriority and gettid only read their integer arguments;
    // the thread id is this thread's own.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
    if r != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "background thread not niced");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_of(c: &Companion) -> libc::c_int {
        // SAFETY: sched_getscheduler only reads its pid; 0 is the caller.
        super::super::block_on(c.run(|| unsafe { libc::sched_getscheduler(0) }))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn background_work_runs_only_on_cpu_time_others_leave() {
        let bg = Companion::start_background("test-bg".into()).unwrap();
        assert_eq!(policy_of(&bg), libc::SCHED_OTHER);
        let fg = Companion::start("test-fg".into()).unwrap();
        assert_eq!(policy_of(&fg), libc::SCHED_OTHER);
    }
}
