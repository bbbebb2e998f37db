//! The admin API (`/_cairn/admin/v1/`) against the real binary: every
//! endpoint, its JSON errors, who may call it (signatures, signed bodies,
//! admin actions, a read-only operator policy), and what its changes do to
//! S3 at once (a disabled user, an expiring key, a narrowed service
//! account).

mod binary;

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use binary::{client, code, raw_request, request_bytes, sha256_hex, Server, PASSWORD, USER};
use serde_json::{json, Value};

const V1: &str = "/_cairn/admin/v1";

struct Reply {
    status: u16,
    body: Value,
    request_id: Option<String>,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("")
    }
}

/// An admin client signing as one access key.
struct Admin {
    port: u16,
    access: String,
    secret: String,
}

/// How a test request is signed (all but `Good` are refused).
#[derive(Clone, Copy, PartialEq)]
enum Signing {
    Good,
    None,
    UnsignedPayload,
    /// The signed hash is of another body than the one sent.
    OtherBody,
    /// Scoped to `iam` instead of `s3`.
    IamScope,
}

impl Admin {
    fn root(s: &Server) -> Admin {
        Admin::of(s, USER, PASSWORD)
    }

    fn of(s: &Server, access: &str, secret: &str) -> Admin {
        Admin {
            port: s.port,
            access: access.to_owned(),
            secret: secret.to_owned(),
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>, how: Signing) -> Reply {
        use aws_sigv4::http_request::{
            sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings,
        };
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let path = format!("{V1}/{path}");
        let host = format!("127.0.0.1:{}", self.port);
        let len = body.len().to_string();
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), host.clone()),
            ("content-length".into(), len),
        ];
        if how != Signing::None {
            let identity = aws_credential_types::Credentials::new(
                &self.access,
                &self.secret,
                None,
                None,
                "test",
            )
            .into();
            let mut settings = SigningSettings::default();
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region(binary::REGION)
                .name(if how == Signing::IamScope {
                    "iam"
                } else {
                    "s3"
                })
                .time(SystemTime::now())
                .settings(settings)
                .build()
                .expect("signing params")
                .into();
            let payload = match how {
                Signing::UnsignedPayload => "UNSIGNED-PAYLOAD".to_owned(),
                Signing::OtherBody => sha256_hex(b"{\"name\":\"someone-else\"}"),
                _ => sha256_hex(body.as_bytes()),
            };
            let uri = format!("http://{host}{path}");
            let signable = SignableRequest::new(
                method,
                &uri,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Precomputed(payload),
            )
            .expect("signable");
            let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
            let mut req = http::Request::builder().method(method).uri(&uri);
            for (k, v) in &headers {
                req = req.header(k, v);
            }
            let mut req = req.body(()).expect("request");
            instructions.apply_to_request_http1x(&mut req);
            headers = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().expect("ascii").to_owned()))
                .collect();
        }
        let r = raw_request(
            self.port,
            &request_bytes(method, &path, &headers, body.as_bytes()),
        )
        .expect("admin request");
        let parsed = if r.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&r.body).unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&r.body)
                )
            })
        };
        Reply {
            status: r.status,
            request_id: r.header("x-amz-request-id").map(str::to_owned),
            body: parsed,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.send(method, path, body.as_ref(), Signing::Good)
    }

    /// A call that must succeed; its JSON.
    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, body);
        assert!(
            r.status == 200 || r.status == 204,
            "{method} {path}: {} {}",
            r.status,
            r.body
        );
        r.body
    }

    /// A call that must fail with `status` and `code`.
    fn fails(&self, method: &str, path: &str, body: Option<Value>, status: u16, code: &str) {
        let r = self.call(method, path, body);
        assert_eq!(
            (r.status, r.code()),
            (status, code),
            "{method} {path}: {}",
            r.body
        );
        assert_eq!(
            r.body["RequestId"].as_str(),
            r.request_id.as_deref(),
            "the body names the request id the header carries"
        );
        assert!(!r.body["Message"].as_str().unwrap_or("").is_empty());
    }

    /// A fresh key for `user` (a plain access key unless `extra` says
    /// otherwise): (access key, secret).
    fn key(&self, user: &str, extra: Value) -> (String, String) {
        let mut body = json!({ "user": user, "type": "accessKey" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let k = self.ok("POST", "accesskeys", Some(body));
        (
            k["accessKey"].as_str().expect("key").to_owned(),
            k["secretKey"].as_str().expect("secret").to_owned(),
        )
    }
}

fn names(v: &Value, list: &str) -> Vec<String> {
    v[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {v}"))
        .iter()
        .map(|e| e["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn allow(actions: &[&str], resource: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resource}]})
}

const OPERATOR: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnlyOperator",
  "Effect":"Allow","Action":["admin:ServerInfo","admin:List*","admin:Get*"],"Resource":"*"}]}"#;

#[test]
fn server_info_names_the_layout_and_every_drive() {
    let s = Server::start();
    let info = Admin::root(&s).ok("GET", "info", None);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["cores"], 2);
    assert_eq!(info["partitions"], 16);
    let (data, parity) = (&info["layout"]["data"], &info["layout"]["parity"]);
    assert_eq!(
        data.as_u64().unwrap() + parity.as_u64().unwrap(),
        4,
        "{info}"
    );
    assert!(info["uptimeSecs"].as_u64().is_some());
    let drives = info["drives"].as_array().expect("drives");
    assert_eq!(drives.len(), 4);
    for (i, d) in drives.iter().enumerate() {
        assert_eq!(d["index"], i);
        assert!(
            d["path"].as_str().unwrap().ends_with(&format!("drive{i}")),
            "{d}"
        );
        assert_eq!(d["state"], "ok");
        let cap = d["capacityBytes"].as_u64().expect("capacity");
        let free = d["freeBytes"].as_u64().expect("free");
        assert!(cap > 0 && free <= cap, "{d}");
        assert_eq!(d["errors"], 0);
    }
}

#[test]
fn users_groups_keys_and_policies_are_managed_end_to_end_and_kept_across_a_restart() {
    let s = Server::start();
    let a = Admin::root(&s);
    let readwrite = allow(&["s3:*"], "*");

    // Policies: created from a JSON object, checked by the compiler.
    let p = a.ok(
        "POST",
        "policies",
        Some(json!({"name": "readwrite", "description": "all of S3", "document": readwrite})),
    );
    assert_eq!(p["name"], "readwrite");
    assert_eq!(p["document"], readwrite);
    a.fails(
        "POST",
        "policies",
        Some(json!({"name": "readwrite", "document": readwrite})),
        409,
        "PolicyAlreadyExists",
    );
    let bad = a.call(
        "POST",
        "policies",
        Some(json!({"name": "bad", "document": {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}})),
    );
    assert_eq!((bad.status, bad.code()), (400, "MalformedPolicy"));
    assert!(
        bad.body["Message"].as_str().unwrap().contains("Resource"),
        "names the problem: {}",
        bad.body
    );
    a.ok(
        "POST",
        "policies",
        Some(json!({"name": "operator", "document": OPERATOR})),
    );
    assert_eq!(
        names(&a.ok("GET", "policies", None), "policies"),
        ["operator", "readwrite"]
    );
    a.fails("GET", "policies/nope", None, 404, "NoSuchPolicy");

    // Users: added with a policy; a typo in the policy adds nothing.
    a.fails(
        "POST",
        "users",
        Some(json!({"name": "alice", "policies": ["nope"]})),
        404,
        "NoSuchPolicy",
    );
    a.fails("GET", "users/alice", None, 404, "NoSuchUser");
    let u = a.ok(
        "POST",
        "users",
        Some(json!({"name": "alice", "policies": ["readwrite"]})),
    );
    assert_eq!(u["enabled"], true);
    assert_eq!(u["policies"], json!(["readwrite"]));
    a.fails(
        "POST",
        "users",
        Some(json!({"name": "ALICE"})),
        409,
        "UserAlreadyExists",
    );
    a.fails(
        "POST",
        "users",
        Some(json!({"name": "bad name"})),
        400,
        "InvalidArgument",
    );
    a.fails(
        "POST",
        "users",
        Some(json!({"name": "x", "colour": "red"})),
        400,
        "MalformedJSON",
    );
    a.ok("POST", "users", Some(json!({"name": "bob"})));
    assert_eq!(
        names(&a.ok("GET", "users", None), "users"),
        ["alice", "bob"]
    );
    assert_eq!(a.ok("POST", "users/bob/disable", None)["enabled"], false);
    assert_eq!(a.ok("POST", "users/bob/enable", None)["enabled"], true);
    a.fails("POST", "users/nobody/disable", None, 404, "NoSuchUser");

    // Groups: created with members, members added and removed.
    let g = a.ok(
        "POST",
        "groups",
        Some(json!({"name": "ops", "members": ["alice"]})),
    );
    assert_eq!(g["members"], json!(["alice"]));
    a.fails(
        "POST",
        "groups",
        Some(json!({"name": "ops"})),
        409,
        "GroupAlreadyExists",
    );
    a.fails(
        "POST",
        "groups",
        Some(json!({"name": "ghosts", "members": ["nobody"]})),
        404,
        "NoSuchUser",
    );
    a.fails("GET", "groups/ghosts", None, 404, "NoSuchGroup");
    let g = a.ok(
        "POST",
        "groups/ops/members",
        Some(json!({"users": ["bob"]})),
    );
    assert_eq!(g["members"], json!(["alice", "bob"]));
    assert_eq!(names(&a.ok("GET", "groups", None), "groups"), ["ops"]);
    assert_eq!(a.ok("GET", "users/bob", None)["groups"], json!(["ops"]));
    a.fails("DELETE", "groups/ops", None, 409, "GroupNotEmpty");
    let g = a.ok(
        "POST",
        "groups/ops/members/remove",
        Some(json!({"users": ["bob"]})),
    );
    assert_eq!(g["members"], json!(["alice"]));

    // Policies attach to users and groups, and detach.
    let p = a.ok(
        "POST",
        "policies/operator/attach",
        Some(json!({"users": ["bob"], "groups": ["ops"]})),
    );
    assert_eq!(
        p["attachedTo"],
        json!({"users": ["bob"], "groups": ["ops"]})
    );
    assert_eq!(
        a.ok("GET", "groups/ops", None)["policies"],
        json!(["operator"])
    );
    a.fails(
        "POST",
        "policies/operator/attach",
        Some(json!({"users": ["nobody"]})),
        404,
        "NoSuchUser",
    );
    a.fails("DELETE", "policies/operator", None, 409, "DeleteConflict");
    let p = a.ok(
        "POST",
        "policies/operator/detach",
        Some(json!({"users": ["bob"]})),
    );
    assert_eq!(p["attachments"], 1);
    a.fails(
        "POST",
        "policies/operator/detach",
        Some(json!({"users": ["bob"]})),
        404,
        "PolicyNotAttached",
    );

    // Keys: a plain key and a service account, the secret shown once.
    let k = a.ok(
        "POST",
        "accesskeys",
        Some(json!({"user": "bob", "type": "accessKey", "description": "laptop"})),
    );
    let plain = k["accessKey"].as_str().unwrap().to_owned();
    assert_eq!(k["secretKey"].as_str().unwrap().len(), 40);
    assert_eq!(
        (k["type"].as_str(), k["status"].as_str()),
        (Some("accessKey"), Some("Active"))
    );
    let sa = a.ok(
        "POST",
        "accesskeys",
        Some(
            json!({"user": "bob", "name": "backup", "expiration": "2099-01-02T03:04:05Z",
                    "policy": allow(&["s3:GetObject"], "arn:aws:s3:::backups/*")}),
        ),
    );
    let sa_id = sa["accessKey"].as_str().unwrap().to_owned();
    assert_eq!(sa["type"], "serviceAccount");
    assert_eq!(sa["expiration"], "2099-01-02T03:04:05.000Z");
    let info = a.ok("GET", &format!("accesskeys/{sa_id}"), None);
    assert!(
        info.get("secretKey").is_none(),
        "the secret is never shown again"
    );
    assert_eq!(info["name"], "backup");
    assert_eq!(
        info["policy"],
        allow(&["s3:GetObject"], "arn:aws:s3:::backups/*")
    );
    let listed = a.ok("GET", "accesskeys?user=bob", None);
    let ids: Vec<&str> = listed["accessKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["accessKey"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&plain.as_str()) && ids.contains(&sa_id.as_str()));
    assert!(listed.to_string().find("secretKey").is_none());
    assert_eq!(
        a.ok("GET", "users/bob", None)["accessKeys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    a.fails(
        "POST",
        "accesskeys",
        Some(json!({"user": "bob", "type": "accessKey", "policy": readwrite})),
        400,
        "InvalidArgument",
    );
    a.fails(
        "POST",
        "accesskeys",
        Some(json!({"user": "bob", "policy": {"Statement": "no"}})),
        400,
        "MalformedPolicy",
    );
    a.fails(
        "POST",
        "accesskeys",
        Some(json!({"user": "bob", "expiration": "2001-01-01T00:00:00Z"})),
        400,
        "InvalidArgument",
    );
    a.fails(
        "POST",
        "accesskeys",
        Some(json!({"user": "bob", "expiration": "tomorrow"})),
        400,
        "InvalidArgument",
    );
    a.fails(
        "POST",
        "accesskeys",
        Some(json!({"type": "accessKey"})),
        400,
        "InvalidArgument",
    );
    a.fails(
        "POST",
        "accesskeys",
        Some(json!({"user": "nobody"})),
        404,
        "NoSuchUser",
    );
    let edited = a.ok(
        "PUT",
        &format!("accesskeys/{sa_id}"),
        Some(
            json!({"status": "Inactive", "description": "nightly", "expiration": null,
                    "policy": null}),
        ),
    );
    assert_eq!(edited["status"], "Inactive");
    assert_eq!(edited["description"], "nightly");
    assert_eq!(edited["expiration"], Value::Null);
    assert_eq!(edited["policy"], Value::Null);
    assert_eq!(edited["name"], "backup", "fields not named are kept");
    a.fails(
        "PUT",
        &format!("accesskeys/{plain}"),
        Some(json!({"policy": readwrite})),
        400,
        "InvalidArgument",
    );
    a.fails(
        "PUT",
        &format!("accesskeys/{plain}"),
        Some(json!({"status": "Maybe"})),
        400,
        "InvalidArgument",
    );
    a.fails(
        "PUT",
        "accesskeys/AKIANOSUCHKEY0000000",
        Some(json!({"status": "Active"})),
        404,
        "NoSuchAccessKey",
    );
    assert_eq!(
        a.call("DELETE", &format!("accesskeys/{plain}"), None)
            .status,
        204
    );
    a.fails(
        "GET",
        &format!("accesskeys/{plain}"),
        None,
        404,
        "NoSuchAccessKey",
    );
    a.fails(
        "DELETE",
        &format!("accesskeys/{plain}"),
        None,
        404,
        "NoSuchAccessKey",
    );

    // Removing a user takes its keys, memberships and policies with it.
    assert_eq!(a.call("DELETE", "users/alice", None).status, 204);
    a.fails("GET", "users/alice", None, 404, "NoSuchUser");
    assert_eq!(a.ok("GET", "groups/ops", None)["members"], json!([]));
    assert_eq!(a.call("DELETE", "users/bob", None).status, 204);
    a.fails(
        "GET",
        &format!("accesskeys/{sa_id}"),
        None,
        404,
        "NoSuchAccessKey",
    );
    assert_eq!(a.call("DELETE", "groups/ops", None).status, 204);
    assert_eq!(a.call("DELETE", "policies/operator", None).status, 204);
    a.fails("DELETE", "groups/ops", None, 404, "NoSuchGroup");
    assert_eq!(
        names(&a.ok("GET", "policies", None), "policies"),
        ["readwrite"]
    );

    // Unknown paths, methods and versions are JSON errors too.
    a.fails("GET", "nothing", None, 404, "NoSuchEndpoint");
    a.fails("PATCH", "users", None, 405, "MethodNotAllowed");
    let r = raw_request(
        s.port,
        b"GET /_cairn/admin/v9/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 403, "unsigned: refused before anything is said");

    // The changes were durable when acknowledged: a restart keeps them.
    a.ok(
        "POST",
        "users",
        Some(json!({"name": "frank", "policies": ["readwrite"]})),
    );
    let mut s = s;
    s.restart();
    let u = Admin::root(&s).ok("GET", "users/frank", None);
    assert_eq!(u["policies"], json!(["readwrite"]));
}

#[test]
fn unsigned_badly_signed_and_body_unsigned_requests_are_refused() {
    let s = Server::start();
    let root = Admin::root(&s);
    let body = json!({"name": "mallory"});
    let attempt = |a: &Admin, how: Signing| a.send("POST", "users", Some(&body), how);
    let r = attempt(&root, Signing::None);
    assert_eq!((r.status, r.code()), (403, "AccessDenied"));
    let r = attempt(&Admin::of(&s, USER, "wrong-secret"), Signing::Good);
    assert_eq!((r.status, r.code()), (403, "SignatureDoesNotMatch"));
    let r = attempt(&Admin::of(&s, "AKIANOSUCHKEY0000000", "x"), Signing::Good);
    assert_eq!((r.status, r.code()), (403, "InvalidAccessKeyId"));
    let r = attempt(&root, Signing::UnsignedPayload);
    assert_eq!((r.status, r.code()), (403, "AccessDenied"), "{}", r.body);
    let r = attempt(&root, Signing::OtherBody);
    assert_eq!((r.status, r.code()), (400, "XAmzContentSHA256Mismatch"));
    let r = attempt(&root, Signing::IamScope);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.code(), "AuthorizationHeaderMalformed");
    // None of them made the user.
    root.fails("GET", "users/mallory", None, 404, "NoSuchUser");
    // A body larger than any admin request is refused unread.
    let big = json!({ "name": "x".repeat(70 << 10) });
    let r = root.call("POST", "users", Some(big));
    assert_eq!((r.status, r.code()), (413, "EntityTooLarge"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_authorise_users_and_a_read_only_operator_can_look_but_not_change() {
    let s = Server::start();
    let root = Admin::root(&s);
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "s3-only", "document": allow(&["s3:*"], "*")})),
    );
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "operator", "document": OPERATOR})),
    );
    root.ok(
        "POST",
        "users",
        Some(json!({"name": "dev", "policies": ["s3-only"]})),
    );
    root.ok(
        "POST",
        "users",
        Some(json!({"name": "op", "policies": ["operator"]})),
    );
    let (k, sk) = root.key("dev", json!({}));
    let dev = Admin::of(&s, &k, &sk);
    let (k, sk) = root.key("op", json!({}));
    let op = Admin::of(&s, &k, &sk);

    // S3 rights are not admin rights.
    dev.fails("GET", "info", None, 403, "AccessDenied");
    dev.fails("GET", "users", None, 403, "AccessDenied");
    dev.fails(
        "POST",
        "users",
        Some(json!({"name": "x"})),
        403,
        "AccessDenied",
    );

    // The operator lists and gets everything ...
    for path in [
        "info",
        "users",
        "users/dev",
        "groups",
        "policies",
        "policies/operator",
        "accesskeys",
        "accesskeys?user=dev",
    ] {
        op.ok("GET", path, None);
    }
    // ... and changes nothing.
    let dev_key = root.ok("GET", "accesskeys?user=dev", None)["accessKeys"][0]["accessKey"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused: [(&str, String, Option<Value>); 10] = [
        ("POST", "users".into(), Some(json!({"name": "x"}))),
        ("POST", "users/dev/disable".into(), None),
        ("DELETE", "users/dev".into(), None),
        ("POST", "groups".into(), Some(json!({"name": "g"}))),
        (
            "POST",
            "policies".into(),
            Some(json!({"name": "p", "document": OPERATOR})),
        ),
        (
            "POST",
            "policies/operator/attach".into(),
            Some(json!({"users": ["dev"]})),
        ),
        ("DELETE", "policies/s3-only".into(), None),
        ("POST", "accesskeys".into(), Some(json!({"user": "dev"}))),
        (
            "PUT",
            format!("accesskeys/{dev_key}"),
            Some(json!({"status": "Inactive"})),
        ),
        ("DELETE", format!("accesskeys/{dev_key}"), None),
    ];
    for (method, path, body) in refused {
        op.fails(method, &path, body, 403, "AccessDenied");
    }
    assert_eq!(
        names(&root.ok("GET", "users", None), "users"),
        ["dev", "op"]
    );

    // admin:* in a user's policy is everything root may do here.
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "admin", "document": allow(&["admin:*"], "arn:aws:s3:::*")})),
    );
    root.ok(
        "POST",
        "policies/admin/attach",
        Some(json!({"users": ["dev"]})),
    );
    dev.ok("POST", "users", Some(json!({"name": "made-by-dev"})));
    // A service account's policy narrows its parent's admin rights too.
    let (k, sk) = root.key(
        "dev",
        json!({"type": "serviceAccount", "policy": allow(&["admin:ListUsers"], "*")}),
    );
    let narrowed = Admin::of(&s, &k, &sk);
    narrowed.ok("GET", "users", None);
    narrowed.fails(
        "POST",
        "users",
        Some(json!({"name": "y"})),
        403,
        "AccessDenied",
    );
    // A deny wins over admin:*.
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "no-deletes", "document": {
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "admin:DeleteUser", "Resource": "*"}]}})),
    );
    root.ok(
        "POST",
        "policies/no-deletes/attach",
        Some(json!({"users": ["dev"]})),
    );
    dev.fails("DELETE", "users/made-by-dev", None, 403, "AccessDenied");

    // S3 itself is unchanged for a user whose key is refused here.
    let c = client(&s.endpoint(), &dev.access, &dev.secret);
    c.list_buckets().send().await.expect("dev may still use S3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_disabled_through_the_admin_api_is_refused_at_once_and_works_again_after_enable() {
    let s = Server::start();
    let root = Admin::root(&s);
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "rw", "document": allow(&["s3:*"], "*")})),
    );
    root.ok(
        "POST",
        "users",
        Some(json!({"name": "carol", "policies": ["rw"]})),
    );
    let (k, sk) = root.key("carol", json!({}));
    let (sa, sa_secret) = root.key("carol", json!({"type": "serviceAccount"}));
    let c = client(&s.endpoint(), &k, &sk);
    let c_sa = client(&s.endpoint(), &sa, &sa_secret);
    c.create_bucket()
        .bucket("carols")
        .send()
        .await
        .expect("create");
    c_sa.list_buckets()
        .send()
        .await
        .expect("service account works");

    root.ok("POST", "users/carol/disable", None);
    // No wait: the change is on every core when the call returns.
    for _ in 0..4 {
        assert_eq!(code(c.list_buckets().send().await), "InvalidAccessKeyId");
        assert_eq!(code(c_sa.list_buckets().send().await), "InvalidAccessKeyId");
    }
    let as_carol = Admin::of(&s, &k, &sk);
    as_carol.fails("GET", "users", None, 403, "InvalidAccessKeyId");

    root.ok("POST", "users/carol/enable", None);
    for _ in 0..4 {
        c.list_buckets().send().await.expect("enabled again");
    }
    c_sa.list_buckets()
        .send()
        .await
        .expect("its service account too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_an_expiry_works_until_it_passes_and_an_inactive_key_not_at_all() {
    let s = Server::start();
    let root = Admin::root(&s);
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "rw", "document": allow(&["s3:*"], "*")})),
    );
    root.ok(
        "POST",
        "users",
        Some(json!({"name": "dave", "policies": ["rw"]})),
    );
    let created = Instant::now();
    let (k, sk) = root.key("dave", json!({"expiresInSecs": 4}));
    let c = client(&s.endpoint(), &k, &sk);
    c.list_buckets().send().await.expect("before the expiry");
    assert!(
        created.elapsed() < Duration::from_secs(4),
        "machine too slow to test"
    );
    // Refused once the time passes (and not long after: a loaded machine
    // may be slow to run this loop, never the server to honour it).
    let deadline = created + Duration::from_secs(30);
    loop {
        match c.list_buckets().send().await {
            Ok(_) => {
                assert!(
                    created.elapsed() < Duration::from_secs(4) + Duration::from_millis(1500),
                    "still accepted {:?} after creation",
                    created.elapsed()
                );
                assert!(Instant::now() < deadline);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                assert_eq!(code(Err::<(), _>(e)), "InvalidAccessKeyId");
                assert!(created.elapsed() >= Duration::from_millis(3900));
                break;
            }
        }
    }
    let info = root.ok("GET", &format!("accesskeys/{k}"), None);
    assert_eq!(info["expired"], true);
    // An edit can give it a new life ...
    root.ok(
        "PUT",
        &format!("accesskeys/{k}"),
        Some(json!({"expiration": null})),
    );
    c.list_buckets().send().await.expect("no expiry now");
    // ... and take it away.
    root.ok(
        "PUT",
        &format!("accesskeys/{k}"),
        Some(json!({"status": "Inactive"})),
    );
    assert_eq!(code(c.list_buckets().send().await), "InvalidAccessKeyId");
    root.ok(
        "PUT",
        &format!("accesskeys/{k}"),
        Some(json!({"status": "Active"})),
    );
    c.list_buckets().send().await.expect("active again");
    assert_eq!(
        root.call("DELETE", &format!("accesskeys/{k}"), None).status,
        204
    );
    assert_eq!(code(c.list_buckets().send().await), "InvalidAccessKeyId");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_may_do_only_what_both_its_policy_and_its_parent_allow() {
    let s = Server::start();
    let root = Admin::root(&s);
    let rc = s.client();
    for b in ["alpha", "beta"] {
        rc.create_bucket().bucket(b).send().await.expect("bucket");
        rc.put_object()
            .bucket(b)
            .key("seed")
            .body(ByteStream::from_static(b"seed"))
            .send()
            .await
            .expect("seed");
    }
    // The parent: read and write alpha, read beta.
    let parent = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::alpha/*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::beta/*"}]});
    // The service account: read anything, write beta.
    let narrowing = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::beta/*"}]});
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "parent", "document": parent})),
    );
    root.ok(
        "POST",
        "users",
        Some(json!({"name": "erin", "policies": ["parent"]})),
    );
    let (k, sk) = root.key(
        "erin",
        json!({"type": "serviceAccount", "name": "narrow", "policy": narrowing}),
    );
    let c = client(&s.endpoint(), &k, &sk);
    let get = |b: &'static str| {
        let c = c.clone();
        async move {
            c.get_object()
                .bucket(b)
                .key("seed")
                .send()
                .await
                .map(|_| ())
        }
    };
    let put = |b: &'static str| {
        let c = c.clone();
        async move {
            c.put_object()
                .bucket(b)
                .key("new")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .map(|_| ())
        }
    };
    get("alpha").await.expect("both allow reading alpha");
    get("beta").await.expect("both allow reading beta");
    assert_eq!(
        code(put("alpha").await),
        "AccessDenied",
        "its policy does not allow it"
    );
    assert_eq!(
        code(put("beta").await),
        "AccessDenied",
        "its parent does not allow it"
    );

    // Without a policy of its own it has its parent's rights.
    root.ok(
        "PUT",
        &format!("accesskeys/{k}"),
        Some(json!({"policy": null})),
    );
    put("alpha").await.expect("the parent allows writing alpha");
    assert_eq!(code(put("beta").await), "AccessDenied");
    // And a new narrowing takes effect at once.
    root.ok(
        "PUT",
        &format!("accesskeys/{k}"),
        Some(json!({"policy": allow(&["s3:GetObject"], "arn:aws:s3:::beta/*")})),
    );
    assert_eq!(code(get("alpha").await), "AccessDenied");
    get("beta").await.expect("still allowed by both");
}

/// A request id for every answer, in the header S3 clients read.
#[test]
fn every_answer_carries_a_request_id() {
    let s = Server::start();
    let r = Admin::root(&s).call("GET", "users", None);
    assert_eq!(r.status, 200);
    assert!(r.request_id.as_deref().is_some_and(|id| !id.is_empty()));
    let r = Admin::root(&s).call("GET", "users/none", None);
    assert_eq!(r.body["RequestId"].as_str(), r.request_id.as_deref());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_usage_and_a_quota_set_through_the_admin_api_govern_writes() {
    let s = Server::start();
    let root = Admin::root(&s);
    let c = s.client();
    c.create_bucket().bucket("quota").send().await.unwrap();
    for (i, len) in [1000usize, 2000, 3000].iter().enumerate() {
        c.put_object()
            .bucket("quota")
            .key(format!("k{i}"))
            .body(vec![7u8; *len].into())
            .send()
            .await
            .unwrap();
    }
    let b = root.ok("GET", "buckets/quota", None);
    assert_eq!(b["usage"]["objects"], 3, "{b}");
    assert_eq!(b["usage"]["bytes"], 6000, "{b}");
    assert!(b["quotaBytes"].is_null(), "{b}");
    assert!(
        b["owner"].as_str().is_some_and(|a| a.ends_with(":root")),
        "{b}"
    );
    let all = root.ok("GET", "buckets", None);
    assert_eq!(names(&all, "buckets"), vec!["quota"]);
    let usage = root.ok("GET", "usage", None);
    assert_eq!(usage["total"]["bytes"], 6000, "{usage}");
    assert_eq!(usage["drives"].as_array().map(Vec::len), Some(4), "{usage}");

    root.ok(
        "PUT",
        "buckets/quota/quota",
        Some(json!({"quotaBytes": 7000})),
    );
    assert_eq!(
        root.ok("GET", "buckets/quota/quota", None)["quotaBytes"],
        7000
    );
    let over = c
        .put_object()
        .bucket("quota")
        .key("big")
        .body(vec![1u8; 1500].into())
        .send()
        .await;
    assert_eq!(code(over), "XMinioAdminBucketQuotaExceeded");
    c.put_object()
        .bucket("quota")
        .key("small")
        .body(vec![1u8; 500].into())
        .send()
        .await
        .expect("within the quota");
    root.ok(
        "PUT",
        "buckets/quota/quota",
        Some(json!({"quotaBytes": null})),
    );
    c.put_object()
        .bucket("quota")
        .key("big")
        .body(vec![1u8; 1500].into())
        .send()
        .await
        .expect("no quota any more");

    root.fails("GET", "buckets/nope", None, 404, "NoSuchBucket");
    root.fails(
        "PUT",
        "buckets/quota/quota",
        Some(json!({"quota": 1})),
        400,
        "MalformedJSON",
    );
    // A read-only operator sees usage but cannot set a quota.
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "ro", "document": allow(&["admin:Get*", "admin:BucketInfo", "admin:DataUsageInfo"], "*")})),
    );
    root.ok(
        "POST",
        "users",
        Some(json!({"name": "op", "policies": ["ro"]})),
    );
    let (k, sk) = root.key("op", json!({}));
    let op = Admin::of(&s, &k, &sk);
    op.ok("GET", "usage", None);
    op.ok("GET", "buckets/quota/quota", None);
    op.fails(
        "PUT",
        "buckets/quota/quota",
        Some(json!({"quotaBytes": 1})),
        403,
        "AccessDenied",
    );
}

#[test]
fn admin_changes_and_refused_attempts_are_audited_and_reads_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.log");
    let s = Server::start_with(&["--audit-log", audit.to_str().expect("utf-8")]);
    let root = Admin::root(&s);
    root.ok("POST", "users", Some(json!({"name": "dave"})));
    root.ok("GET", "users", None);
    let (k, sk) = root.key("dave", json!({}));
    // Dave has no admin action: his attempt is refused, and audited too.
    Admin::of(&s, &k, &sk).fails("POST", "users/dave/disable", None, 403, "AccessDenied");
    let deadline = Instant::now() + Duration::from_secs(30);
    let lines: Vec<Value> = loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        if lines.len() >= 3 {
            break lines;
        }
        assert!(Instant::now() < deadline, "audit lines never came: {text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(lines.len(), 3, "reads are not audited: {lines:?}");
    assert_eq!(lines[0]["action"], "admin:CreateUser");
    assert_eq!(lines[0]["user"], "root");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[1]["action"], "admin:CreateServiceAccount");
    assert_eq!(lines[2]["action"], "admin:DisableUser");
    assert_eq!(lines[2]["target"], "users/dave/disable");
    assert_eq!(lines[2]["user"], "dave");
    assert_eq!(lines[2]["access_key"], k.as_str());
    assert_eq!(lines[2]["error"], "AccessDenied");
    assert!(
        !std::fs::read_to_string(&audit).unwrap().contains(&sk),
        "a secret reached the audit log"
    );
}
