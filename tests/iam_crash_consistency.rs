//! Identity changes survive `kill -9`: users and access keys created through
//! the IAM API while the server is killed are, after a restart, all there if
//! their creation was acknowledged, and every key works for S3 at once. A
//! creation in flight at the kill is there whole or not at all (a user with
//! exactly the keys it was given, a key that signs).

mod binary;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::Client;
use binary::{free_port, iam_config, raw_request, PASSWORD, USER};

const ROUNDS: usize = 3;
const TASKS: usize = 4;

struct Node {
    child: Child,
    port: u16,
}

impl Node {
    fn start(dir: &Path) -> Node {
        let port = free_port();
        let drives: Vec<PathBuf> = (0..4).map(|i| dir.join(format!("drive{i}"))).collect();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_cairn"))
            .arg("serve")
            .args(&drives)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--no-pin"])
            .args(["--cores", "2", "--partitions", "8"])
            .env("CAIRN_ROOT_USER", USER)
            .env("CAIRN_ROOT_PASSWORD", PASSWORD)
            .env(
                "CAIRN_LOG",
                std::env::var("CAIRN_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start cairn");
        let mut n = Node { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = n.child.try_wait() {
                panic!("cairn exited during start-up ({st})");
            }
            let r = raw_request(
                port,
                b"GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            if r.is_ok_and(|r| r.status == 200) {
                break;
            }
            assert!(Instant::now() < deadline, "cairn did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn kill9(&mut self) {
        // SAFETY: signalling the child this test started, by its PID.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn iam(endpoint: &str) -> Client {
    let conf = iam_config(endpoint, USER, PASSWORD)
        // A call cut by the kill must fail, not land on the next server.
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

/// What the workload was told: users whose creation was acknowledged, and
/// keys (id, secret) by user.
#[derive(Default)]
struct Acked {
    users: Vec<String>,
    keys: Vec<(String, String, String)>,
}

#[test]
fn users_and_keys_acknowledged_before_a_kill_9_are_there_after_restart_and_keys_sign() {
    let t = tempfile::tempdir().unwrap();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for round in 0..ROUNDS {
        let mut node = Node::start(t.path());
        let endpoint = node.endpoint();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let c = iam(&endpoint);
                let acked = acked.clone();
                rt.spawn(async move {
                    for i in 0.. {
                        let name = format!("r{round}t{task}u{i}");
                        if c.create_user().user_name(&name).send().await.is_err() {
                            return;
                        }
                        acked.lock().unwrap().users.push(name.clone());
                        let Ok(k) = c.create_access_key().user_name(&name).send().await else {
                            return;
                        };
                        let k = k.access_key().expect("a key");
                        acked.lock().unwrap().keys.push((
                            name,
                            k.access_key_id().to_owned(),
                            k.secret_access_key().to_owned(),
                        ));
                    }
                })
            })
            .collect();
        // Kill mid-workload, at a moment that differs between rounds, once
        // some changes have been acknowledged.
        let deadline = Instant::now() + Duration::from_secs(60);
        let want = 6 * (round + 1) + 3 * round * round;
        while acked.lock().unwrap().keys.len() < want {
            assert!(Instant::now() < deadline, "the workload made no progress");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(37 * round as u64));
        node.kill9();
        rt.block_on(async {
            for t in tasks {
                let _ = t.await;
            }
        });

        let node = Node::start(t.path());
        let acked = acked.lock().unwrap();
        rt.block_on(check(&node.endpoint(), &acked));
        drop(node);
    }
}

async fn check(endpoint: &str, acked: &Acked) {
    let c = iam(endpoint);
    let mut listed = Vec::new();
    let mut marker = None;
    loop {
        let page = c
            .list_users()
            .set_marker(marker)
            .send()
            .await
            .expect("list users");
        listed.extend(page.users().iter().map(|u| u.user_name().to_owned()));
        if !page.is_truncated() {
            break;
        }
        marker = page.marker().map(str::to_owned);
    }
    for u in &acked.users {
        assert!(listed.contains(u), "acknowledged user {u} lost");
    }
    // Every user there has whole keys: each listed key is one we were given
    // or one whose answer the kill cut off, and at most one per user here.
    for u in &listed {
        let keys = c
            .list_access_keys()
            .user_name(u)
            .send()
            .await
            .expect("list keys");
        assert!(keys.access_key_metadata().len() <= 1, "{u}: {keys:?}");
    }
    for (user, id, secret) in &acked.keys {
        let keys = c
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .expect("list keys");
        let ids: Vec<_> = keys
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id())
            .collect();
        assert_eq!(ids, [id.as_str()], "acknowledged key of {user} lost");
        let s3 = binary::client(endpoint, id, secret);
        // Authenticated (a user with no policy is refused by authorisation,
        // never as an unknown key).
        let listed = s3.list_buckets().send().await;
        assert_eq!(
            binary::code(listed),
            "AccessDenied",
            "key {id} of {user} after restart"
        );
    }
}
