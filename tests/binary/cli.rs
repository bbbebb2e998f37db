//! `cairn admin` run as the real binary with a HOME of its own (and so its
//! own ~/.cairn/config.toml), standard input not a terminal.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

    /// Creates the managed policy `readwrite` (all of S3).
    pub fn readwrite_policy(&self) {
        let doc = self.path("rw.json");
        std::fs::write(
            &doc,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
        )
        .expect("write policy");
        self.ok(&["policy", "create", "local", "readwrite", &doc]);
    }

    /// A user with policy `readwrite` in `tenant` (empty: global), and its
    /// access key and secret.
    pub fn readwrite_user(&self, name: &str, tenant: &str) -> (String, String) {
        let mut args = vec!["user", "add", "local", name, "--policy", "readwrite"];
        if !tenant.is_empty() {
            args.extend(["--tenant", tenant]);
        }
        let v = self.json(&args);
        assert_eq!(v["tenant"], tenant, "{v}");
        let k = self.json(&[
            "accesskey",
            "create",
            "local",
            "--user",
            name,
            "--type",
            "access-key",
        ]);
        (
            k["accessKey"].as_str().expect("accessKey").to_owned(),
            k["secretKey"].as_str().expect("secretKey").to_owned(),
        )
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
    /// most memory it held (peak RSS in bytes). Read as VmHWM from /proc
    /// while it runs: the rusage of a spawned child would count the test
    /// process's own memory, which the child shares until it execs.
    pub fn run_peak_rss(&self, args: &[&str]) -> (i32, String, u64) {
        let err = self.path("peak-rss.stderr");
        let mut child = self
            .command(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn cairn admin");
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak_kib = 0u64;
        let deadline = Instant::now() + Duration::from_secs(300);
        let status = loop {
            // VmHWM only grows; the last read before exit is the peak
            // unless the process grew in its last few milliseconds.
            if let Ok(text) = std::fs::read_to_string(&status_file) {
                let hwm = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
                peak_kib = peak_kib.max(hwm.unwrap_or(0));
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "cairn admin {args:?} never ended"
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        (status.code().unwrap_or(-1), stderr, peak_kib * 1024)
    }
}
