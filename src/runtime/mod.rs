//! The runtime seam: everything cairn needs from its executor lives behind this
//! module (spawn, timers, sockets, aligned buffers, O_DIRECT files, fallocate,
//! cross-core channels, a companion thread for blocking calls), so a later
//! switch of executor stays local. Today it is monoio with its io_uring
//! driver, one runtime per core, pinned.
//!
//! clippy.toml forbids calling monoio's spawn, timers, socket constructors,
//! files and `select!` anywhere else; this module is the one place allowed.
//! The wrappers below are functions, not re-exports: clippy's
//! `disallowed_methods` follows a re-export to monoio's own function and
//! would flag every caller of the seam too.

// The seam itself: the only code that may call the executor directly.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

pub mod buf;
pub mod channel;
pub mod companion;
pub mod file;
pub mod net;

use std::future::Future;
use std::io;
use std::time::Duration;

pub use monoio::task::JoinHandle;
pub use monoio::time::error::Elapsed;
pub use monoio::time::{Instant, Sleep, Timeout};

/// Spawns a task on the calling core's executor. The handle resolves to the
/// task's output; dropping it detaches the task.
#[inline]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    monoio::spawn(future)
}

/// A timer on the calling core's executor that fires after `duration`.
#[inline]
pub fn sleep(duration: Duration) -> Sleep {
    monoio::time::sleep(duration)
}

/// A timer on the calling core's executor that fires at `deadline`.
#[inline]
pub fn sleep_until(deadline: Instant) -> Sleep {
    monoio::time::sleep_until(deadline)
}

/// `future`, or [`Elapsed`] if it has not finished after `duration` (it is
/// then dropped).
#[inline]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    monoio::time::timeout(duration, future)
}

/// Index of an executor core, `0..cores`.
pub type CoreId = usize;

/// io_uring submission queue depth per core. Bounded so a burst cannot grow the
/// ring; monoio parks submissions when the ring is full.
const RING_ENTRIES: u32 = 1024;

/// Starts one pinned io_uring executor thread per core and runs `main(core)` on
/// each until it returns.
pub fn start_cores<F, Fut>(
    cores: usize,
    pin: bool,
    main: F,
) -> io::Result<Vec<std::thread::JoinHandle<()>>>
where
    F: Fn(CoreId) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = ()> + 'static,
{
    assert!(cores > 0, "at least one core");
    let online = available_cpus();
    let mut handles = Vec::with_capacity(cores);
    for core in 0..cores {
        let main = main.clone();
        let cpu = online.get(core % online.len().max(1)).copied();
        let handle = std::thread::Builder::new()
            .name(format!("cairn-core-{core}"))
            .spawn(move || {
                if pin {
                    if let Some(cpu) = cpu {
                        if let Err(e) = monoio::utils::bind_to_cpu_set([cpu]) {
                            tracing::warn!(core, cpu, error = %e, "could not pin core thread");
                        }
                    }
                }
                let mut rt = match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .with_entries(RING_ENTRIES)
                    .enable_timer()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(core, error = %e, "io_uring runtime failed to start");
                        std::process::exit(2);
                    }
                };
                rt.block_on(main(core));
            })?;
        handles.push(handle);
    }
    Ok(handles)
}

/// Runs one future on a fresh io_uring runtime on the calling thread: for
/// tools, tests and offline commands.
pub fn block_on<Fut: Future>(fut: Fut) -> io::Result<Fut::Output> {
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(RING_ENTRIES)
        .enable_timer()
        .build()?;
    Ok(rt.block_on(fut))
}

/// CPUs this process may run on, in order.
pub fn available_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is a bit array, for which all zeroes (the empty set) is
    // valid; sched_getaffinity writes at most the size it is given into it,
    // and CPU_ISSET reads bits below CPU_SETSIZE only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..num_cpus()).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Number of CPUs available to this process (at least 1).
pub fn num_cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
