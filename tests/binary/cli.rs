//! `cairn admin` run as the real binary with a HOME of its own (and so its
//! own ~/.cairn/config.toml), standard input not a terminal.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::{Server, PASSWORD, USER};

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Cli {
    pub home: tempfile::TempDir,
}

impl Cli {
    pub fn new() -> Cli {
        Cli {
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A client with alias `local` for the server as root.
    pub fn for_server(s: &Server) -> Cli {
        let cli = Cli::new();
        cli.ok(&["alias", "set", "local", &s.endpoint(), USER, PASSWORD]);
        cli
    }

    /// `cairn admin ARGS`, to spawn or run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
        c.arg("admin")
            .args(args)
            .env("HOME", self.home.path())
            .env("CAIRN_LOG", "warn")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let o = self.command(args).output().expect("run cairn admin");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed; its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.code, 0,
            "cairn admin {args:?} failed:\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    /// Runs a command with `--json`; its output parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// A path in the client's HOME.
    pub fn path(&self, name: &str) -> String {
        self.home
            .path()
            .join(name)
            .to_str()
            .expect("utf-8")
            .to_owned()
    }

    /// Runs a command to its end: its exit code, standard error and the
    /// most memory it held (peak RSS in bytes, from wait4's rusage, so
    /// this one process and none other).
    pub fn run_peak_rss(&self, args: &[&str]) -> (i32, String, u64) {
        let err = self.path("peak-rss.stderr");
        let child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn cairn admin");
        let pid = child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: zeroed rusage is valid; wait4 reaps our own child by PID
        // and fills both out-parameters.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        (code, stderr, usage.ru_maxrss as u64 * 1024)
    }
}
