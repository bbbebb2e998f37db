//! Engine invariants, checked in every build: the single-writer rules (a
//! partition is changed only by its owner core, a key's sequence numbers are
//! taken under its lock, a key's versions reach the index in sequence order,
//! the bucket table is changed only by core 0).
//!
//! A broken one stops the process: it logs what broke, where and on which
//! thread, with a backtrace, and aborts. It is not a panic, because a panic
//! would be caught: the S3 panic net (`s3::handler::catch_panics`) and the GET
//! body's turn any panic into a 500 and serve on with the broken state, a
//! panic in an owner task on another core kills only that core's thread (its
//! partitions then hang), and one in a companion thread (where the index is
//! written) leaves every later index write of the core failing. Abort needs no
//! cooperation from any of them. It is safe to do: every acknowledged write is
//! durable before its 200 and the index is rebuilt from the drives when
//! needed, so a restart (the service manager's) recovers, as after `kill -9`.
//! The cost: requests in flight on every core fail, and log lines still in
//! the per-core batches are lost.
//!
//! These checks sit on the write path, so each is a comparison or two; the
//! message is formatted only when one fails.

/// Stops the process when `cond` is false (see the module doc). The message
/// (`format!` arguments) says which rule broke and with which values.
macro_rules! invariant {
    ($cond:expr, $($what:tt)+) => {
        if !$cond {
            $crate::engine::invariant::broken(format_args!($($what)+))
        }
    };
}
pub(crate) use invariant;

/// What [`invariant!`] calls when its condition fails: never returns.
#[cold]
#[inline(never)]
#[track_caller]
pub fn broken(what: std::fmt::Arguments<'_>) -> ! {
    let at = std::panic::Location::caller();
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let backtrace = std::backtrace::Backtrace::force_capture();
    // The log filter can be changed at run time; this must be seen anyway.
    if tracing::enabled!(tracing::Level::ERROR) {
        tracing::error!(
            %at,
            thread,
            %backtrace,
            "engine invariant broken: {what}; stopping the process (a restart recovers from the drives)"
        );
    } else {
        eprintln!(
            "engine invariant broken at {at} on thread {thread}: {what}; stopping the process \
             (a restart recovers from the drives)\n{backtrace}"
        );
    }
    std::process::abort()
}

impl super::Engine {
    /// The single-writer rule: only `partition`'s owner core changes it
    /// (other cores send it a message).
    #[track_caller]
    #[inline]
    pub(super) fn assert_owner(&self, partition: u16) {
        invariant!(
            self.shared.owner_of(partition) == self.core,
            "partition {partition} is changed only by its owner, core {}, not by core {}",
            self.shared.owner_of(partition),
            self.core
        );
    }
}

/// Running a test's scenario in a child process, for the tests of what
/// aborts (a test cannot catch an abort in its own process).
#[cfg(test)]
pub(crate) mod child {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Output};

    const VAR: &str = "CAIRN_TEST_CHILD";

    /// Whether this process is the child run for `test` (a test's full
    /// name without the crate, as libtest prints it).
    pub fn is(test: &str) -> bool {
        std::env::var(VAR).as_deref() == Ok(test)
    }

    /// Runs `test` alone in a child process of this test binary, with output
    /// uncaptured (an abort loses what libtest captured).
    pub fn run(test: &str) -> Output {
        let exe = std::env::current_exe().expect("test binary");
        Command::new(exe)
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(VAR, test)
            .output()
            .expect("child runs")
    }

    /// Runs `f` with core 0's engine of a two-core node on fresh drives.
    /// Core 1 is never started: what it owns is reached only by message.
    pub fn on_core_0_of_2<F, Fut>(f: F)
    where
        F: FnOnce(std::rc::Rc<crate::engine::Engine>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        use crate::engine::{Engine, EngineConfig};
        let dir = tempfile::tempdir().expect("tempdir");
        let drives: Vec<_> = (0..4)
            .map(|i| dir.path().join(format!("drive{i}")))
            .collect();
        for d in &drives {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let mut cfg = EngineConfig::new(drives, 2);
        cfg.partitions = 16;
        cfg.segment_max = 16 << 20;
        let (shared, inboxes) = Engine::open(&cfg).expect("engine opens");
        crate::runtime::block_on(async move {
            let e = Engine::start_core(shared, 0, inboxes[0].clone()).expect("core 0 starts");
            f(e).await
        })
        .expect("runtime");
    }

    /// A key of `bucket` whose partition `core` owns.
    pub fn key_owned_by(e: &crate::engine::Engine, bucket: &str, core: usize) -> String {
        (0..1000)
            .map(|i| format!("key-{i}"))
            .find(|k| e.shared.owner_of(e.shared.partition_of(bucket, k)) == core)
            .expect("some key in 1000 is on each core")
    }

    /// The child ended by SIGABRT, having said that an engine invariant
    /// broke and `what`, and never reached `unreached`.
    pub fn assert_aborted(out: &Output, what: &str, unreached: &str) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "the child was not aborted ({}):\n{stdout}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("engine invariant broken") && stderr.contains(what),
            "no report of the broken invariant ({what}):\n{stderr}"
        );
        assert!(
            !stdout.contains(unreached) && !stderr.contains(unreached),
            "the child went on after the invariant broke:\n{stdout}\n{stderr}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_invariant_aborts_the_process_and_says_where() {
        const NAME: &str =
            "engine::invariant::tests::a_broken_invariant_aborts_the_process_and_says_where";
        if child::is(NAME) {
            let (seq, last) = (std::hint::black_box(3u64), 5u64);
            invariant!(seq > last, "sequence {seq} after {last}");
            println!("went on");
            return;
        }
        let out = child::run(NAME);
        child::assert_aborted(&out, "sequence 3 after 5", "went on");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("src/engine/invariant.rs:"),
            "no location:\n{stderr}"
        );
    }

    #[test]
    fn a_write_on_a_core_that_does_not_own_the_partition_stops_the_process() {
        const NAME: &str = "engine::invariant::tests::\
                            a_write_on_a_core_that_does_not_own_the_partition_stops_the_process";
        if child::is(NAME) {
            child::on_core_0_of_2(|e| async move {
                let key = child::key_owned_by(&e, "b", 1);
                let r = e.delete_owned("b", &key, None, false, None, None).await;
                println!("core 0 deleted on core 1's partition: {:?}", r.is_ok());
            });
            return;
        }
        let out = child::run(NAME);
        child::assert_aborted(
            &out,
            "is changed only by its owner, core 1, not by core 0",
            "core 0 deleted",
        );
    }

    #[test]
    fn a_holding_invariant_does_not_format_its_message() {
        // The message is formatted only when the condition fails: this one
        // would panic if it were formatted.
        struct Loud;
        impl std::fmt::Display for Loud {
            fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                panic!("formatted although the invariant held")
            }
        }
        invariant!(std::hint::black_box(1) == 1, "{}", Loud);
    }
}
