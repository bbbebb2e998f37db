//! The built-in KMS's keys through the admin API, driven by `cairn admin kms
//! key` (the real binary against a real node): create, list, info, rotate,
//! disable, enable; each refusal with its code; and the keys, their versions
//! and their state found again after a kill -9.

mod binary;

use std::process::{Command, Stdio};

use binary::{Server, PASSWORD, USER};
use serde_json::Value;

struct Cli {
    home: tempfile::TempDir,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn for_server(s: &Server) -> Cli {
        let cli = Cli {
            home: tempfile::tempdir().expect("tempdir"),
        };
        cli.ok(&["alias", "set", "local", &s.endpoint(), USER, PASSWORD]);
        cli
    }

    fn run(&self, args: &[&str]) -> Out {
        let o = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("admin")
            .args(args)
            .env("HOME", self.home.path())
            .env("CAIRN_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run cairn admin");
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(
            o.code, 0,
            "cairn admin {args:?} failed:\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    /// A command the server refuses: its error code and HTTP status.
    fn refused(&self, args: &[&str]) -> (String, u64) {
        let mut a = args.to_vec();
        a.push("--json");
        let o = self.run(&a);
        assert_eq!(o.code, 1, "{args:?}: {} {}", o.stdout, o.stderr);
        let err: Value = serde_json::from_str(o.stderr.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", o.stderr));
        (
            err["error"]["code"].as_str().unwrap_or("").to_owned(),
            err["error"]["status"].as_u64().unwrap_or(0),
        )
    }
}

fn versions(k: &Value) -> Vec<u64> {
    k["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_u64().expect("a number"))
        .collect()
}

#[test]
fn kms_keys_are_created_rotated_disabled_and_enabled_and_survive_a_kill_9() {
    let mut s = Server::start();
    let cli = Cli::for_server(&s);

    let k = cli.json(&["kms", "key", "create", "local", "app-key"]);
    assert_eq!(k["id"], "app-key");
    assert_eq!(k["enabled"], true);
    assert_eq!(k["currentVersion"], 1);
    assert!(
        k["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{k}"
    );
    cli.json(&["kms", "key", "create", "local", "other"]);

    let k = cli.json(&["kms", "key", "rotate", "local", "app-key"]);
    assert_eq!(
        (k["currentVersion"].as_u64(), versions(&k)),
        (Some(2), vec![1, 2])
    );
    let k = cli.json(&["kms", "key", "disable", "local", "other", "--force"]);
    assert_eq!(k["enabled"], false);

    let list = cli.json(&["kms", "key", "list", "local"]);
    let ids: Vec<&str> = list["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["app-key", "other"]);
    // Key material never leaves the node.
    assert!(!list.to_string().contains("material"), "{list}");
    let table = cli.ok(&["kms", "key", "list", "local"]);
    assert!(
        table.contains("app-key") && table.contains("disabled"),
        "{table}"
    );

    // Refusals, each with its code.
    assert_eq!(
        cli.refused(&["kms", "key", "create", "local", "app-key"]),
        ("KMSKeyAlreadyExists".into(), 409)
    );
    assert_eq!(
        cli.refused(&["kms", "key", "info", "local", "missing"]),
        ("NoSuchKMSKey".into(), 404)
    );
    assert_eq!(
        cli.refused(&["kms", "key", "rotate", "local", "missing"]),
        ("NoSuchKMSKey".into(), 404)
    );
    assert_eq!(
        cli.refused(&["kms", "key", "create", "local", "no spaces"]),
        ("InvalidArgument".into(), 400)
    );
    // Disabling asks first; without a terminal or --force it is refused.
    let o = cli.run(&["kms", "key", "disable", "local", "app-key"]);
    assert_eq!(o.code, 2, "{} {}", o.stdout, o.stderr);
    assert_eq!(
        cli.json(&["kms", "key", "info", "local", "app-key"])["enabled"],
        true
    );

    s.kill9_restart();
    let k = cli.json(&["kms", "key", "info", "local", "app-key"]);
    assert_eq!(
        (k["currentVersion"].as_u64(), versions(&k)),
        (Some(2), vec![1, 2])
    );
    assert_eq!(k["enabled"], true);
    assert_eq!(
        cli.json(&["kms", "key", "info", "local", "other"])["enabled"],
        false
    );
    let k = cli.json(&["kms", "key", "enable", "local", "other"]);
    assert_eq!(k["enabled"], true);
    assert_eq!(versions(&k), vec![1]);
}
