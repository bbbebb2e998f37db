//! `cairn admin`, the client, run as the real binary against a real node
//! (HOME in a temporary directory, standard input not a terminal): the
//! alias file, every admin command in `--json` (parsed) and as tables, the
//! exit codes scripts rely on, refusals of destructive commands without
//! `--force`, object commands round-tripping files (one multipart),
//! presigned URLs, HTTPS with `--insecure`, completion scripts, `rm -r`
//! through DeleteObjects with a refused key, `rm --versions`, `cp` between
//! two nodes, and `alias set` checking the keys.

mod binary;

use std::os::unix::fs::PermissionsExt;

use binary::cli::Cli;
use binary::{data, free_port, md5_hex, raw_request, Server, PASSWORD, USER};
use serde_json::Value;

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|x| x["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn alias_set_keeps_the_secret_in_a_0600_file_and_list_never_prints_it() {
    let cli = Cli::new();
    let secret = "s3cr3t-never-shown-0123456789";
    cli.ok(&[
        "alias",
        "set",
        "prod",
        "https://s3.example.com:9000/",
        "AKIAPROD",
        secret,
        "--no-check",
    ]);
    let dir = cli.home.path().join(".cairn");
    let file = dir.join("config.toml");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600, "config file mode");
    assert_eq!(mode(&dir), 0o700, "config directory mode");
    assert!(std::fs::read_to_string(&file)
        .expect("read")
        .contains(secret));

    let human = cli.ok(&["alias", "list"]);
    assert!(human.contains("prod") && human.contains("https://s3.example.com:9000"));
    assert!(human.contains("AKIAPROD"));
    assert!(!human.contains(secret), "secret printed: {human}");
    let json = cli.json(&["alias", "list"]);
    assert_eq!(json["aliases"][0]["alias"], "prod");
    assert_eq!(json["aliases"][0]["url"], "https://s3.example.com:9000");
    assert!(!json.to_string().contains(secret), "secret in JSON: {json}");

    // A bad URL or name is a usage error, and changes nothing.
    assert_eq!(cli.run(&["alias", "set", "x", "ftp://h", "a", "b"]).code, 2);
    assert_eq!(
        cli.run(&["alias", "set", "a/b", "http://h", "a", "b"]).code,
        2
    );

    cli.ok(&["alias", "remove", "prod"]);
    assert!(!cli.ok(&["alias", "list"]).contains("prod"));
    assert_eq!(mode(&file), 0o600, "mode kept on rewrite");
    assert_eq!(cli.run(&["alias", "remove", "prod"]).code, 2);
}

#[test]
fn exit_codes_tell_usage_errors_refusals_and_unreachable_servers_apart() {
    let s = Server::start();
    let cli = Cli::for_server(&s);

    // 1: the server refused; its code is printed.
    let o = cli.run(&["user", "info", "local", "nobody"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("NoSuchUser"), "{}", o.stderr);
    let o = cli.run(&["user", "info", "local", "nobody", "--json"]);
    assert_eq!(o.code, 1);
    let err: Value = serde_json::from_str(o.stderr.trim()).expect("JSON error");
    assert_eq!(err["error"]["code"], "NoSuchUser");
    assert_eq!(err["error"]["status"], 404);
    cli.ok(&[
        "alias",
        "set",
        "wrong",
        &s.endpoint(),
        USER,
        "not-the-password",
        "--no-check",
    ]);
    let o = cli.run(&["info", "wrong"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("SignatureDoesNotMatch"), "{}", o.stderr);

    // 2: usage errors (an unknown alias, a bad argument, clap's own).
    let o = cli.run(&["info", "nosuchalias"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("local"),
        "names the known aliases: {}",
        o.stderr
    );
    assert_eq!(
        cli.run(&["bucket", "quota", "local", "b", "--set", "lots"])
            .code,
        2
    );
    assert_eq!(cli.run(&["user", "frobnicate"]).code, 2);

    // 3: nothing listens there, or TLS to a plain HTTP port.
    let closed = format!("http://127.0.0.1:{}", free_port());
    cli.ok(&[
        "alias",
        "set",
        "down",
        &closed,
        USER,
        PASSWORD,
        "--no-check",
    ]);
    let o = cli.run(&["info", "down"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    let tls = format!("https://127.0.0.1:{}", s.port);
    cli.ok(&["alias", "set", "tls", &tls, USER, PASSWORD, "--no-check"]);
    assert_eq!(cli.run(&["info", "tls"]).code, 3);
    assert_eq!(cli.run(&["info", "tls", "--insecure"]).code, 3);
}

#[test]
fn https_needs_a_trusted_certificate_unless_insecure() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).expect("write cert");
    std::fs::write(&k, cert.signing_key.serialize_pem()).expect("write key");
    let s = Server::start_with(&[
        "--tls-cert",
        c.to_str().expect("utf-8"),
        "--tls-key",
        k.to_str().expect("utf-8"),
    ]);
    let cli = Cli::new();
    let url = format!("https://127.0.0.1:{}", s.port);
    cli.ok(&["alias", "set", "tls", &url, USER, PASSWORD, "--insecure"]);
    let o = cli.run(&["info", "tls"]);
    assert_eq!(
        o.code, 3,
        "a self-signed certificate is refused: {}",
        o.stderr
    );
    let v = cli.json(&["info", "tls", "--insecure"]);
    assert_eq!(v["drives"].as_array().map(Vec::len), Some(4));
}

#[test]
fn admin_commands_answer_in_json_and_in_tables() {
    let s = Server::start();
    let cli = Cli::for_server(&s);

    // info
    let v = cli.json(&["info", "local"]);
    assert_eq!(v["drives"].as_array().map(Vec::len), Some(4), "{v}");
    assert_eq!(v["drivesOnline"], 4);
    let human = cli.ok(&["info", "local"]);
    let drive0 = v["drives"][0]["path"].as_str().expect("path");
    assert!(human.contains(drive0), "{human}");
    assert!(human.contains("2+2"), "{human}");
    assert!(human.contains("4 of 4"), "{human}");

    // policies
    let doc = cli.path("rw.json");
    std::fs::write(
        &doc,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    )
    .expect("write policy");
    let v = cli.json(&[
        "policy",
        "create",
        "local",
        "readwrite",
        &doc,
        "--description",
        "all of S3",
    ]);
    assert_eq!(v["name"], "readwrite");
    assert_eq!(v["document"]["Statement"][0]["Action"], "s3:*");
    let bad = cli.path("bad.json");
    std::fs::write(
        &bad,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
    )
    .expect("write");
    let o = cli.run(&["policy", "create", "local", "bad", &bad]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("MalformedPolicy"), "{}", o.stderr);
    assert!(
        names(&cli.json(&["policy", "list", "local"]), "policies").contains(&"readwrite".into())
    );
    assert!(cli.ok(&["policy", "list", "local"]).contains("all of S3"));

    // users
    let v = cli.json(&["user", "add", "local", "alice", "--policy", "readwrite"]);
    assert_eq!(v["name"], "alice");
    assert_eq!(v["policies"][0], "readwrite");
    cli.ok(&["user", "add", "local", "bob"]);
    assert_eq!(
        names(&cli.json(&["user", "list", "local"]), "users"),
        ["alice", "bob"]
    );
    let table = cli.ok(&["user", "list", "local"]);
    let alice_row = table
        .lines()
        .find(|l| l.starts_with("alice"))
        .expect("alice row");
    assert!(
        alice_row.contains("true") && alice_row.contains("readwrite"),
        "{table}"
    );
    let o = cli.run(&["user", "add", "local", "alice"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("UserAlreadyExists"), "{}", o.stderr);

    // access keys: the secret once, and it signs
    let key = cli.json(&[
        "accesskey",
        "create",
        "local",
        "--user",
        "alice",
        "--type",
        "access-key",
    ]);
    let (ak, sk) = (
        key["accessKey"].as_str().expect("accessKey").to_owned(),
        key["secretKey"].as_str().expect("secretKey").to_owned(),
    );
    cli.ok(&["alias", "set", "alice", &s.endpoint(), &ak, &sk]);
    cli.ok(&["mb", "alice/alices"]);
    let human = cli.ok(&[
        "accesskey",
        "create",
        "local",
        "--user",
        "bob",
        "--name",
        "backup",
        "--description",
        "nightly",
        "--expires-in",
        "30d",
    ]);
    assert!(
        human.contains("Secret key") && human.contains("nightly"),
        "{human}"
    );
    let info = cli.json(&["accesskey", "info", "local", &ak]);
    assert_eq!(info["user"], "alice");
    assert!(
        info.get("secretKey").is_none(),
        "secret shown again: {info}"
    );
    assert!(!cli.ok(&["accesskey", "info", "local", &ak]).contains(&sk));
    let list = cli.json(&["accesskey", "list", "local", "--user", "alice"]);
    assert_eq!(
        list["accessKeys"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    let table = cli.ok(&["accesskey", "list", "local"]);
    assert!(table.contains(&ak) && table.contains("backup"), "{table}");
    let edited = cli.json(&[
        "accesskey",
        "edit",
        "local",
        &ak,
        "--status",
        "inactive",
        "--description",
        "paused",
    ]);
    assert_eq!(edited["status"], "Inactive");
    assert_eq!(edited["description"], "paused");
    let o = cli.run(&["ls", "alice"]);
    assert_eq!(o.code, 1, "an inactive key is refused: {}", o.stdout);
    assert!(o.stderr.contains("InvalidAccessKeyId"), "{}", o.stderr);
    cli.ok(&["accesskey", "edit", "local", &ak, "--status", "active"]);
    cli.ok(&["ls", "alice"]);

    // disable / enable
    let v = cli.json(&["user", "disable", "local", "alice"]);
    assert_eq!(v["enabled"], false);
    assert_eq!(cli.run(&["ls", "alice"]).code, 1);
    assert!(cli
        .ok(&["user", "enable", "local", "alice"])
        .contains("true"));
    cli.ok(&["ls", "alice"]);
    let human = cli.ok(&["user", "info", "local", "alice"]);
    assert!(
        human.contains(&ak) && human.contains("readwrite"),
        "{human}"
    );

    // groups
    let v = cli.json(&["group", "add", "local", "ops", "alice"]);
    assert_eq!(v["members"], serde_json::json!(["alice"]));
    let v = cli.json(&["group", "add", "local", "ops", "bob"]);
    assert_eq!(v["members"], serde_json::json!(["alice", "bob"]));
    assert_eq!(
        names(&cli.json(&["group", "list", "local"]), "groups"),
        ["ops"]
    );
    assert!(cli.ok(&["group", "list", "local"]).contains("alice,bob"));
    let v = cli.json(&["group", "remove", "local", "ops", "bob", "--force"]);
    assert_eq!(v["members"], serde_json::json!(["alice"]));
    assert!(cli.ok(&["group", "info", "local", "ops"]).contains("alice"));

    // attach / detach
    let v = cli.json(&[
        "policy",
        "attach",
        "local",
        "readwrite",
        "--group",
        "ops",
        "--user",
        "bob",
    ]);
    assert_eq!(v["attachedTo"]["groups"], serde_json::json!(["ops"]));
    assert!(cli
        .ok(&["policy", "info", "local", "readwrite"])
        .contains("bob"));
    let v = cli.json(&[
        "policy",
        "detach",
        "local",
        "readwrite",
        "--group",
        "ops",
        "--force",
    ]);
    assert_eq!(v["attachedTo"]["groups"], serde_json::json!([]));
    assert_eq!(cli.run(&["policy", "attach", "local", "readwrite"]).code, 2);

    // buckets, quota, usage
    cli.ok(&["mb", "local/photos"]);
    let f = cli.path("one.bin");
    std::fs::write(&f, data(3000, 1)).expect("write");
    cli.ok(&["cp", &f, "local/photos/a.bin"]);
    let v = cli.json(&["bucket", "info", "local", "photos"]);
    assert_eq!(v["usage"]["objects"], 1);
    assert_eq!(v["usage"]["bytes"], 3000);
    assert!(cli
        .ok(&["bucket", "info", "local", "photos"])
        .contains("2.9 KiB"));
    let v = cli.json(&["bucket", "list", "local"]);
    assert_eq!(names(&v, "buckets"), ["alices", "photos"]);
    let table = cli.ok(&["bucket", "list", "local"]);
    let row = table
        .lines()
        .find(|l| l.starts_with("photos"))
        .expect("photos row");
    assert!(row.contains(" 1 ") && row.contains("2.9 KiB"), "{table}");
    let v = cli.json(&["bucket", "quota", "local", "photos", "--set", "1MiB"]);
    assert_eq!(v["quotaBytes"], 1 << 20);
    assert_eq!(
        cli.json(&["bucket", "quota", "local", "photos"])["quotaBytes"],
        1 << 20
    );
    assert!(cli
        .ok(&["bucket", "quota", "local", "photos"])
        .contains("1.0 MiB"));
    let big = cli.path("big.bin");
    std::fs::write(&big, data(2 << 20, 2)).expect("write");
    let o = cli.run(&["cp", &big, "local/photos/big.bin"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("QuotaExceeded"), "{}", o.stderr);
    assert!(cli.json(&["bucket", "quota", "local", "photos", "--clear"])["quotaBytes"].is_null());
    let v = cli.json(&["usage", "local"]);
    assert_eq!(v["total"]["objects"], 1);
    assert_eq!(v["drives"].as_array().map(Vec::len), Some(4));
    let human = cli.ok(&["usage", "local"]);
    assert!(
        human.contains("photos") && human.contains(drive0),
        "{human}"
    );

    // removals
    assert_eq!(
        cli.json(&["accesskey", "revoke", "local", &ak, "--force"])["status"],
        "removed"
    );
    assert_eq!(
        cli.run(&["ls", "alice"]).code,
        1,
        "a revoked key is refused"
    );
    let o = cli.run(&["group", "remove", "local", "ops", "--force"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("GroupNotEmpty"), "{}", o.stderr);
    cli.ok(&["user", "remove", "local", "alice", "--force"]);
    cli.ok(&["group", "remove", "local", "ops", "--force"]);
    let o = cli.run(&["policy", "remove", "local", "readwrite", "--force"]);
    assert!(
        o.stderr.contains("DeleteConflict"),
        "attached to bob: {}",
        o.stderr
    );
    cli.ok(&[
        "policy",
        "detach",
        "local",
        "readwrite",
        "--user",
        "bob",
        "--force",
    ]);
    cli.ok(&["policy", "remove", "local", "readwrite", "--force"]);
    assert_eq!(
        names(&cli.json(&["user", "list", "local"]), "users"),
        ["bob"]
    );
    assert!(names(&cli.json(&["policy", "list", "local"]), "policies")
        .iter()
        .all(|p| p != "readwrite"));
}

#[test]
fn destructive_commands_without_force_or_a_terminal_are_refused() {
    let s = Server::start();
    let cli = Cli::for_server(&s);
    cli.ok(&["user", "add", "local", "carol"]);
    cli.ok(&["mb", "local/keep"]);
    let f = cli.path("k.txt");
    std::fs::write(&f, b"keep me").expect("write");
    cli.ok(&["cp", &f, "local/keep/dir/k.txt"]);
    for args in [
        &["user", "remove", "local", "carol"][..],
        &["rb", "local/keep"],
        &["rm", "--recursive", "local/keep/dir/"],
    ] {
        let o = cli.run(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains("--force"), "{}", o.stderr);
    }
    assert_eq!(
        names(&cli.json(&["user", "list", "local"]), "users"),
        ["carol"]
    );
    assert_eq!(cli.ok(&["cat", "local/keep/dir/k.txt"]), "keep me");
}

#[test]
fn object_commands_round_trip_files_and_presigned_urls_work() {
    let s = Server::start();
    let cli = Cli::for_server(&s);
    assert!(cli.ok(&["mb", "local/files"]).contains("created"));
    assert_eq!(names(&cli.json(&["ls", "local"]), "buckets"), ["files"]);
    assert!(cli.ok(&["ls", "local"]).contains("files/"));

    // A few MiB in one PUT, and one over the multipart threshold.
    let small = data(5 << 20, 7);
    let large = data((64 << 20) + 12_345, 8);
    for (name, body) in [("small.bin", &small), ("large.bin", &large)] {
        let up = cli.path(name);
        std::fs::write(&up, body).expect("write");
        let v = cli.json(&["cp", &up, &format!("local/files/dir/{name}")]);
        assert_eq!(v["size"], body.len());
        if name == "large.bin" {
            assert!(
                v["etag"].as_str().unwrap_or("").ends_with("-5\""),
                "a five-part upload: {v}"
            );
        }
        let down = cli.path(&format!("{name}.down"));
        cli.ok(&["cp", &format!("local/files/dir/{name}"), &down]);
        let got = std::fs::read(&down).expect("read");
        assert_eq!(got.len(), body.len());
        assert_eq!(md5_hex(&got), md5_hex(body), "{name} round trip");
    }
    let text = cli.path("hello.txt");
    std::fs::write(&text, "hello, cairn\n").expect("write");
    cli.ok(&["cp", &text, "local/files/"]);
    assert_eq!(cli.ok(&["cat", "local/files/hello.txt"]), "hello, cairn\n");
    let v = cli.json(&["cp", "local/files/hello.txt", "local/files/copy/hello.txt"]);
    assert_eq!(v["target"], "local/files/copy/hello.txt");

    // ls: one level, recursive, JSON and human.
    let v = cli.json(&["ls", "local/files"]);
    assert_eq!(v["prefixes"], serde_json::json!(["copy/", "dir/"]));
    assert_eq!(v["objects"][0]["key"], "hello.txt");
    let v = cli.json(&["ls", "--recursive", "local/files/dir/"]);
    let keys: Vec<&str> = v["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(keys, ["dir/large.bin", "dir/small.bin"]);
    let human = cli.ok(&["ls", "local/files/dir/"]);
    assert!(
        human.contains("5.0 MiB") && human.contains("dir/small.bin"),
        "{human}"
    );

    // presign: a plain, unsigned HTTP GET of the URL.
    let url = cli.ok(&["presign", "local/files/hello.txt", "--expires", "10m"]);
    let path = url
        .trim()
        .strip_prefix(&s.endpoint())
        .unwrap_or_else(|| panic!("URL on the alias's endpoint: {url}"));
    assert!(path.contains("X-Amz-Expires=600"), "{path}");
    let r = raw_request(
        s.port,
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            s.port
        )
        .as_bytes(),
    )
    .expect("GET");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, b"hello, cairn\n");
    assert_eq!(
        cli.run(&["presign", "local/files/hello.txt", "--expires", "8d"])
            .code,
        2
    );

    // rm one object, then a prefix, then the bucket.
    cli.ok(&["rm", "local/files/hello.txt"]);
    let o = cli.run(&["cat", "local/files/hello.txt"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("NoSuchKey"), "{}", o.stderr);
    let o = cli.run(&["rb", "local/files", "--force"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("BucketNotEmpty"), "{}", o.stderr);
    let v = cli.json(&["rm", "--recursive", "--force", "local/files/"]);
    assert_eq!(v["removed"], 3, "{v}");
    assert!(cli.json(&["ls", "-r", "local/files"])["objects"]
        .as_array()
        .is_some_and(Vec::is_empty));
    cli.ok(&["rb", "local/files", "--force"]);
    assert!(cli.json(&["ls", "local"])["buckets"]
        .as_array()
        .is_some_and(Vec::is_empty));
    assert_eq!(cli.run(&["cp", "nosuchalias/x", "/tmp/x"]).code, 2);
}

#[test]
fn completion_scripts_are_generated_for_each_shell() {
    let cli = Cli::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = cli.ok(&["completion", shell]);
        assert!(script.contains("cairn"), "{shell}");
        assert!(script.contains("accesskey"), "{shell}: admin subcommands");
    }
    assert_eq!(cli.run(&["completion", "tcsh"]).code, 2);
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// S3 requests of operation `op` the node has answered (any status).
fn requests_of(s: &Server, op: &str) -> u64 {
    let r = raw_request(
        s.port,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .expect("metrics");
    let label = format!("cairn_requests_total{{op=\"{op}\",");
    String::from_utf8_lossy(&r.body)
        .lines()
        .filter(|l| l.starts_with(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Puts `keys` (one byte each), sixteen at a time.
fn put_many(s: &Server, bucket: &str, keys: Vec<String>) {
    let c = s.client();
    block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in keys.chunks(keys.len().div_ceil(16)) {
            let (c, chunk, bucket) = (c.clone(), chunk.to_vec(), bucket.to_owned());
            tasks.spawn(async move {
                for k in chunk {
                    c.put_object()
                        .bucket(&bucket)
                        .key(&k)
                        .body(b"x".to_vec().into())
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("put {k}: {e:?}"));
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("put task");
        }
    });
}

fn keys_under(cli: &Cli, target: &str) -> Vec<String> {
    cli.json(&["ls", "-r", target])["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["key"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn rm_recursive_deletes_in_batches_of_a_thousand_and_reports_each_refused_key() {
    let s = Server::start();
    let cli = Cli::for_server(&s);
    cli.ok(&["mb", "local/many"]);
    let mut keys: Vec<String> = (0..2500).map(|i| format!("dir/k{i:04}")).collect();
    keys.push("dir/keep-me".into());
    keys.push("other/x".into());
    put_many(&s, "many", keys);

    // A user who may do anything but delete dir/keep-me.
    let doc = cli.path("nodelete.json");
    std::fs::write(
        &doc,
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:*","Resource":"*"},
            {"Effect":"Deny","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::many/dir/keep-me"}]}"#,
    )
    .expect("write policy");
    cli.ok(&["policy", "create", "local", "nodelete", &doc]);
    cli.ok(&["user", "add", "local", "dana", "--policy", "nodelete"]);
    let key = cli.json(&[
        "accesskey",
        "create",
        "local",
        "--user",
        "dana",
        "--type",
        "access-key",
    ]);
    let (ak, sk) = (
        key["accessKey"].as_str().expect("accessKey"),
        key["secretKey"].as_str().expect("secretKey"),
    );
    cli.ok(&["alias", "set", "dana", &s.endpoint(), ak, sk]);

    let (singles, batches) = (
        requests_of(&s, "DeleteObject"),
        requests_of(&s, "DeleteObjects"),
    );
    let o = cli.run(&["rm", "-r", "--force", "dana/many/dir/", "--json"]);
    assert_eq!(o.code, 1, "a refused key fails the command: {}", o.stderr);
    assert!(
        o.stderr.contains("1 of 2501 not removed"),
        "summary: {}",
        o.stderr
    );
    let v: Value = serde_json::from_str(&o.stdout).expect("JSON report");
    assert_eq!(v["status"], "partial", "{v}");
    assert_eq!(v["removed"], 2500, "{v}");
    assert_eq!(v["failed"], 1, "{v}");
    assert_eq!(v["errors"][0]["key"], "dir/keep-me", "{v}");
    assert_eq!(v["errors"][0]["code"], "AccessDenied", "{v}");
    // Three pages of at most 1,000 keys: three DeleteObjects, no DELETEs.
    assert_eq!(requests_of(&s, "DeleteObjects") - batches, 3);
    assert_eq!(requests_of(&s, "DeleteObject"), singles);
    assert_eq!(keys_under(&cli, "local/many"), ["dir/keep-me", "other/x"]);

    // Without --json the refused key is named on standard error.
    let o = cli.run(&["rm", "-r", "--force", "dana/many/dir/"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("dana/many/dir/keep-me: AccessDenied"),
        "{}",
        o.stderr
    );
    assert!(!o.stdout.contains("Removed"), "{}", o.stdout);
    let o = cli.run(&["rm", "-r", "--force", "local/many/none/"]);
    assert_eq!(o.code, 1, "nothing under the prefix: {}", o.stderr);
}

#[test]
fn rm_versions_removes_every_version_and_delete_marker() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let s = Server::start();
    let cli = Cli::for_server(&s);
    cli.ok(&["mb", "local/ver"]);
    let c = s.client();
    let versions = |prefix: &'static str| {
        let c = c.clone();
        block_on(async move {
            let out = c
                .list_object_versions()
                .bucket("ver")
                .prefix(prefix)
                .send()
                .await
                .expect("list versions");
            out.versions().len() + out.delete_markers().len()
        })
    };
    block_on(async {
        c.put_bucket_versioning()
            .bucket("ver")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("versioning");
        for (k, n) in [("v/a", 3), ("v/b", 1), ("keep/c", 2), ("keep/cc", 1)] {
            for i in 0..n {
                c.put_object()
                    .bucket("ver")
                    .key(k)
                    .body(format!("{k} {i}").into_bytes().into())
                    .send()
                    .await
                    .expect("put");
            }
        }
        c.delete_object()
            .bucket("ver")
            .key("v/b")
            .send()
            .await
            .expect("delete marker");
    });
    assert_eq!(versions("v/"), 5);

    // Without --versions a versioned bucket keeps them: a marker each.
    assert_eq!(
        cli.json(&["rm", "-r", "--force", "local/ver/v/"])["removed"],
        1
    );
    assert_eq!(versions("v/"), 6);
    let v = cli.json(&["rm", "-r", "--versions", "--force", "local/ver/v/"]);
    assert_eq!(v["removed"], 6, "{v}");
    assert_eq!(versions("v/"), 0);

    // One key's versions, and not those of a key it prefixes.
    let v = cli.json(&["rm", "--versions", "--force", "local/ver/keep/c"]);
    assert_eq!(v["removed"], 2, "{v}");
    assert_eq!(versions("keep/"), 1);
    let o = cli.run(&["rm", "--versions", "local/ver/keep/cc"]);
    assert_eq!(o.code, 2, "asks first: {}", o.stderr);
    assert_eq!(versions("keep/"), 1);
}

#[test]
fn cp_between_aliases_streams_from_one_node_to_another_keeping_type_and_metadata() {
    let (a, b) = (Server::start(), Server::start());
    let cli = Cli::for_server(&a);
    cli.ok(&["alias", "set", "b", &b.endpoint(), USER, PASSWORD]);
    // The same node under a second name is another alias too.
    cli.ok(&["alias", "set", "again", &a.endpoint(), USER, PASSWORD]);
    cli.ok(&["mb", "local/src"]);
    cli.ok(&["mb", "b/dst"]);
    let small = data(300_000, 11);
    let large = data((80 << 20) + 4321, 12);
    let (ca, cb) = (a.client(), b.client());
    block_on(async {
        for (key, body, ty) in [
            ("t/small.csv", &small, "text/csv"),
            ("t/large.tar", &large, "application/x-tar"),
        ] {
            ca.put_object()
                .bucket("src")
                .key(key)
                .content_type(ty)
                .cache_control("max-age=60")
                .metadata("owner", "ops")
                .metadata("batch", "7")
                .body(body.clone().into())
                .send()
                .await
                .expect("put");
        }
    });

    let v = cli.json(&["cp", "local/src/t/small.csv", "b/dst/copy.csv"]);
    assert_eq!(v["size"], small.len(), "{v}");
    cli.ok(&["cp", "local/src/t/small.csv", "again/src/copy.csv"]);
    let (code, stderr, peak) = cli.run_peak_rss(&["cp", "local/src/t/large.tar", "b/dst/"]);
    assert_eq!(code, 0, "{stderr}");
    // A 80 MiB object through parts of 16 MiB, never whole in memory.
    assert!(peak < 60 << 20, "peak RSS {peak} bytes");

    let check = |c: aws_sdk_s3::Client, bucket: &str, key: &str, body: &Vec<u8>, ty: &str| {
        block_on(async move {
            let o = c
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .expect("get the copy");
            assert_eq!(o.content_type(), Some(ty), "{key}");
            assert_eq!(o.cache_control(), Some("max-age=60"), "{key}");
            let meta = o.metadata().cloned().unwrap_or_default();
            assert_eq!(meta.get("owner").map(String::as_str), Some("ops"), "{key}");
            assert_eq!(meta.get("batch").map(String::as_str), Some("7"), "{key}");
            let etag = o.e_tag().unwrap_or("").to_owned();
            let got = o.body.collect().await.expect("body").into_bytes();
            assert_eq!(md5_hex(&got), md5_hex(body), "{key}");
            etag
        })
    };
    check(cb.clone(), "dst", "copy.csv", &small, "text/csv");
    check(ca.clone(), "src", "copy.csv", &small, "text/csv");
    let etag = check(cb, "dst", "large.tar", &large, "application/x-tar");
    assert!(etag.ends_with("-6\""), "a multipart copy: {etag}");
}

#[test]
fn alias_set_checks_the_keys_with_the_server_and_saves_nothing_they_fail() {
    let s = Server::start();
    let cli = Cli::new();
    let o = cli.run(&["alias", "set", "bad", &s.endpoint(), USER, "wrong-secret"]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("SignatureDoesNotMatch") && o.stderr.contains("not saved"),
        "{}",
        o.stderr
    );
    let o = cli.run(&["alias", "set", "bad", &s.endpoint(), "NOSUCHKEY", PASSWORD]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("InvalidAccessKeyId"), "{}", o.stderr);
    let closed = format!("http://127.0.0.1:{}", free_port());
    let o = cli.run(&["alias", "set", "bad", &closed, USER, PASSWORD]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("--no-check"), "{}", o.stderr);
    assert!(
        !cli.home.path().join(".cairn/config.toml").exists(),
        "nothing saved"
    );

    // Right keys are saved; a user with no policy at all (refused the
    // listing, not the signature) too.
    cli.ok(&["alias", "set", "local", &s.endpoint(), USER, PASSWORD]);
    cli.ok(&["user", "add", "local", "nopolicy"]);
    let key = cli.json(&[
        "accesskey",
        "create",
        "local",
        "--user",
        "nopolicy",
        "--type",
        "access-key",
    ]);
    let (ak, sk) = (
        key["accessKey"].as_str().expect("accessKey"),
        key["secretKey"].as_str().expect("secretKey"),
    );
    cli.ok(&["alias", "set", "np", &s.endpoint(), ak, sk]);
    // --no-check saves what the server would refuse.
    cli.ok(&[
        "alias",
        "set",
        "bad",
        &s.endpoint(),
        USER,
        "wrong-secret",
        "--no-check",
    ]);
    let list = cli.json(&["alias", "list"]);
    let names: Vec<&str> = list["aliases"]
        .as_array()
        .expect("aliases")
        .iter()
        .map(|a| a["alias"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["bad", "local", "np"]);
}
