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
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let path = format!("{V1}/{path}");
        let headers = self.headers(method, &path, &body, how);
        self.sent(method, &path, &headers, &body)
    }

    /// The headers of a request for `path` (with its query), signed as
    /// `how` says.
    fn headers(&self, method: &str, path: &str, body: &str, how: Signing) -> Vec<(String, String)> {
        use aws_sigv4::http_request::{
            sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings,
        };
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
        headers
    }

    fn sent(&self, method: &str, path: &str, headers: &[(String, String)], body: &str) -> Reply {
        let r = raw_request(
            self.port,
            &request_bytes(method, path, headers, body.as_bytes()),
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
    assert_eq!((r.status, r.code()), (400, "EntityTooLarge"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_dedup_on_takes_config_update_and_a_boolean() {
    let s = Server::start();
    let root = Admin::root(&s);
    s.client()
        .create_bucket()
        .bucket("ddb")
        .send()
        .await
        .unwrap();
    root.fails(
        "PUT",
        "buckets/ddb/dedup",
        Some(json!({"dedup": "yes"})),
        400,
        "MalformedJSON",
    );
    root.fails(
        "PUT",
        "buckets/none/dedup",
        Some(json!({"dedup": true})),
        404,
        "NoSuchBucket",
    );
    // Reading the choice is bucket information; changing it is not.
    root.ok(
        "POST",
        "policies",
        Some(json!({"name": "info", "document": allow(&["admin:BucketInfo", "admin:SetBucketQuota"], "*")})),
    );
    root.ok(
        "POST",
        "users",
        Some(json!({"name": "op", "policies": ["info"]})),
    );
    let (k, sk) = root.key("op", json!({}));
    let op = Admin::of(&s, &k, &sk);
    assert_eq!(op.ok("GET", "buckets/ddb/dedup", None)["dedup"], false);
    op.fails(
        "PUT",
        "buckets/ddb/dedup",
        Some(json!({"dedup": true})),
        403,
        "AccessDenied",
    );
    assert_eq!(
        root.ok("PUT", "buckets/ddb/dedup", Some(json!({"dedup": true})))["dedup"],
        true
    );
    assert_eq!(op.ok("GET", "buckets/ddb", None)["dedup"], true);
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

// ---------------------------------------------------------------------------
// Background work, run-time settings, the admin listener, the live trace
// ---------------------------------------------------------------------------

impl Admin {
    fn on_port(port: u16, access: &str, secret: &str) -> Admin {
        Admin {
            port,
            access: access.to_owned(),
            secret: secret.to_owned(),
        }
    }
}

/// Root, a user with S3 rights only, and a read-only operator.
fn three_callers(s: &Server) -> (Admin, Admin, Admin) {
    let root = Admin::root(s);
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
    let dev = Admin::of(s, &k, &sk);
    let (k, sk) = root.key("op", json!({}));
    let op = Admin::of(s, &k, &sk);
    (root, dev, op)
}

fn poll(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn background_work_reports_its_state_and_is_paused_resumed_and_run_on_demand() {
    let s = Server::start();
    let (root, dev, op) = three_callers(&s);
    let all = root.ok("GET", "background", None);
    for (w, fields) in [
        (
            "compaction",
            &[
                "runs",
                "failures",
                "segmentsRemoved",
                "bytesReclaimed",
                "bytesMoved",
            ][..],
        ),
        (
            "repair",
            &[
                "runs",
                "failures",
                "recordsRepaired",
                "queued",
                "remembered",
            ][..],
        ),
        (
            "scrub",
            &["partitionPasses", "recordsChecked", "problemsFound"][..],
        ),
        (
            "heal",
            &["holdersWalked", "holdersHealed", "rateBytesPerSecond"][..],
        ),
    ] {
        let j = &all[w];
        assert_eq!(j["state"], "idle", "{all}");
        for f in fields {
            assert!(j[f].is_u64(), "{w}.{f} in {all}");
        }
        assert!(
            j.get("lastRunAt").is_some() && j.get("lastError").is_some(),
            "{all}"
        );
        assert_eq!(
            root.ok("GET", &format!("background/{w}"), None)["state"],
            "idle"
        );
    }
    root.fails("GET", "background/defrag", None, 404, "NoSuchEndpoint");
    assert_eq!(
        root.ok("GET", "background/heal", None)["drives"],
        serde_json::json!([]),
        "no drive is healing"
    );

    // Run now: every core (two) makes a pass.
    let runs0 = all["compaction"]["runs"].as_u64().unwrap();
    let r = root.call("POST", "background/compaction/run", None);
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(
        r.body["runs"].is_u64() && r.body["state"].is_string(),
        "{}",
        r.body
    );
    poll("two compaction passes", Duration::from_secs(30), || {
        let c = root.ok("GET", "background/compaction", None);
        c["runs"].as_u64().unwrap() >= runs0 + 2 && c["lastRunAt"].is_string()
    });

    // A scrub pass of every partition now; refused while paused.
    let r = root.call("POST", "background/scrub/run", None);
    assert_eq!(r.status, 202, "{}", r.body);
    poll(
        "a scrub pass of every partition",
        Duration::from_secs(30),
        || {
            let sc = root.ok("GET", "background/scrub", None);
            sc["partitionPasses"].as_u64().unwrap() >= 16 && sc["progress"].as_f64() == Some(1.0)
        },
    );
    assert_eq!(
        root.ok("POST", "background/scrub/pause", None)["state"],
        "paused"
    );
    root.fails(
        "POST",
        "background/scrub/run",
        None,
        409,
        "BackgroundPaused",
    );
    root.ok("POST", "background/scrub/resume", None);

    // Paused until resumed; a run is refused meanwhile.
    let p = root.ok("POST", "background/compaction/pause", None);
    assert_eq!(p["state"], "paused", "{p}");
    assert_eq!(
        root.ok("GET", "background", None)["compaction"]["state"],
        "paused"
    );
    root.fails(
        "POST",
        "background/compaction/run",
        None,
        409,
        "BackgroundPaused",
    );
    let p = root.ok("POST", "background/compaction/resume", None);
    assert_ne!(p["state"], "paused", "{p}");
    let p = root.ok("POST", "background/repair/pause", None);
    assert_eq!(p["state"], "paused", "{p}");
    assert_eq!(
        root.ok("GET", "background", None)["repair"]["state"],
        "paused"
    );
    assert_ne!(
        root.ok("POST", "background/repair/resume", None)["state"],
        "paused"
    );

    // admin:ServerInfo reads, admin:Heal controls.
    dev.fails("GET", "background", None, 403, "AccessDenied");
    dev.fails("POST", "background/repair/pause", None, 403, "AccessDenied");
    op.ok("GET", "background", None);
    op.fails(
        "POST",
        "background/compaction/pause",
        None,
        403,
        "AccessDenied",
    );
    op.fails(
        "POST",
        "background/compaction/run",
        None,
        403,
        "AccessDenied",
    );
    assert_eq!(
        root.ok("GET", "background/compaction", None)["state"],
        "idle"
    );
}

fn client_without_retries(port: u16, access: &str, secret: &str) -> aws_sdk_s3::Client {
    let endpoint = format!("http://127.0.0.1:{port}");
    aws_sdk_s3::Client::from_conf(
        binary::s3_config(&endpoint, access, secret, None)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_change_the_running_node_at_once_and_each_change_is_kept_in_history() {
    let s = Server::start_with(&["--read-cache", "64MiB"]);
    let (root, dev, op) = three_callers(&s);
    let list = root.ok("GET", "config", None);
    let names = names(&list, "settings");
    for n in [
        "ratelimit.requestsPerSecondPerIp",
        "ratelimit.requestsPerSecondPerKey",
        "log.level",
        "cache.readBytes",
    ] {
        assert!(names.contains(&n.to_owned()), "{n} in {list}");
    }
    let cache = root.ok("GET", "config/cache.readBytes", None);
    assert_eq!(cache["value"], (64u64 << 20).to_string(), "{cache}");
    assert_eq!(cache["default"], cache["value"]);
    assert!(cache["description"].as_str().is_some_and(|d| !d.is_empty()));
    root.fails("GET", "config/nope", None, 404, "NoSuchConfigKey");
    root.fails(
        "PUT",
        "config/nope",
        Some(json!({"value": "1"})),
        404,
        "NoSuchConfigKey",
    );
    for (name, bad) in [
        ("ratelimit.requestsPerSecondPerKey", "fast"),
        ("ratelimit.requestsPerSecondPerIp", "-3"),
        ("cache.readBytes", "lots"),
        ("log.level", "cairn=loudest"),
    ] {
        root.fails(
            "PUT",
            &format!("config/{name}"),
            Some(json!({"value": bad})),
            400,
            "InvalidArgument",
        );
    }
    root.fails(
        "PUT",
        "config/log.level",
        Some(json!({"value": 3})),
        400,
        "MalformedJSON",
    );

    // A per-key limit turned on: the next requests over it get 503 SlowDown.
    let (k, sk) = root.key("dev", json!({}));
    let c = client_without_retries(s.port, &k, &sk);
    c.list_buckets().send().await.expect("no limit yet");
    let set = root.ok(
        "PUT",
        "config/ratelimit.requestsPerSecondPerKey",
        Some(json!({"value": "1/2"})),
    );
    assert_eq!(set["value"], "1/2", "{set}");
    let mut refused = None;
    for _ in 0..20 {
        if let Err(e) = c.list_buckets().send().await {
            refused = Some(code(Err::<(), _>(e)));
            break;
        }
    }
    assert_eq!(refused.as_deref(), Some("SlowDown"), "the limit never bit");
    // Off again (root's own key is limited too: wait for its token).
    poll("the limit turned off", Duration::from_secs(10), || {
        root.call(
            "PUT",
            "config/ratelimit.requestsPerSecondPerKey",
            Some(json!({"value": "0"})),
        )
        .status
            == 200
    });
    for _ in 0..10 {
        c.list_buckets().send().await.expect("the limit is off");
    }

    // The log filter: read back, and debug lines appear.
    let l = root.ok("PUT", "config/log.level", Some(json!({"value": "debug"})));
    assert_eq!(l["value"], "debug");
    assert_eq!(root.ok("GET", "config/log.level", None)["value"], "debug");
    assert_eq!(root.ok("GET", "config/log.level", None)["default"], "info");
    c.list_buckets().send().await.unwrap();
    poll("a debug line", Duration::from_secs(10), || {
        s.log().contains("DEBUG")
    });
    root.ok("PUT", "config/log.level", Some(json!({"value": "info"})));
    let c2 = root.ok(
        "PUT",
        "config/cache.readBytes",
        Some(json!({"value": "1MiB"})),
    );
    assert_eq!(c2["value"], "1048576");

    let h = root.ok("GET", "config/history", None);
    let changes = h["changes"].as_array().expect("changes");
    let seen: Vec<(&str, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["old"].as_str().unwrap(),
                c["new"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("cache.readBytes", "67108864", "1048576"),
            ("log.level", "debug", "info"),
            ("log.level", "info", "debug"),
            ("ratelimit.requestsPerSecondPerKey", "1/2", "0"),
            ("ratelimit.requestsPerSecondPerKey", "0", "1/2"),
        ],
        "newest first, refused changes not kept: {h}"
    );
    assert_eq!(changes[0]["user"], "root");
    assert_eq!(changes[0]["accessKey"], USER);
    assert!(changes[0]["time"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // admin:ServerInfo reads, admin:ConfigUpdate changes.
    dev.fails("GET", "config", None, 403, "AccessDenied");
    op.ok("GET", "config", None);
    op.ok("GET", "config/history", None);
    op.fails(
        "PUT",
        "config/log.level",
        Some(json!({"value": "debug"})),
        403,
        "AccessDenied",
    );
    assert_eq!(root.ok("GET", "config/log.level", None)["value"], "info");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_the_admin_api_health_and_metrics_but_never_s3() {
    let admin_port = binary::free_port();
    let s = Server::start_with(&["--admin-listen", &format!("127.0.0.1:{admin_port}")]);
    let admin = Admin::on_port(admin_port, USER, PASSWORD);
    assert_eq!(admin.ok("GET", "info", None)["cores"], 2);
    for path in ["/health/live", "/health/ready", "/metrics"] {
        let r = raw_request(
            admin_port,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{path}");
    }
    // S3, signed or not, is not served there.
    for path in ["/", "/some-bucket?location"] {
        let signed = admin.sent(
            "GET",
            path,
            &admin.headers("GET", path, "", Signing::Good),
            "",
        );
        assert_eq!(
            (signed.status, signed.code()),
            (404, "NoSuchEndpoint"),
            "{path}"
        );
    }
    let r = raw_request(
        admin_port,
        b"GET /some-bucket/key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(body["Code"], "NoSuchEndpoint");
    assert_eq!(body["RequestId"].as_str(), r.header("x-amz-request-id"));
    // The S3 port keeps both.
    s.client()
        .create_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        Admin::root(&s).ok("GET", "buckets", None)["buckets"][0]["name"],
        "bkt"
    );
}

/// A trace subscription read over a raw socket.
struct TraceStream {
    sock: std::net::TcpStream,
    raw: Vec<u8>,
}

impl TraceStream {
    /// Subscribes; the answer's head has come when this returns.
    fn open(a: &Admin, query: &str) -> Result<TraceStream, Reply> {
        use std::io::{Read, Write};
        let path = format!("{V1}/trace{query}");
        let headers = a.headers("GET", &path, "", Signing::Good);
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", a.port)).unwrap();
        sock.write_all(&request_bytes("GET", &path, &headers, b""))
            .unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = sock.read(&mut buf).expect("trace head");
            assert!(n > 0, "closed before the head");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
        if !head.starts_with("http/1.1 200") {
            drop(sock);
            return Err(a.call("GET", &format!("trace{query}"), None));
        }
        assert!(
            head.contains("content-type: application/x-ndjson"),
            "{head}"
        );
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        let raw = raw[end + 4..].to_vec();
        Ok(TraceStream { sock, raw })
    }

    /// Every line so far (reads what has arrived, waiting at most `wait`).
    fn lines(&mut self, wait: Duration) -> Vec<Value> {
        use std::io::Read;
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 65536];
        if let Ok(n) = self.sock.read(&mut buf) {
            self.raw.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(binary::dechunk(&self.raw))
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

fn keys_of(lines: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{}/{} {}",
                l["bucket"].as_str().unwrap_or("-"),
                l["key"].as_str().unwrap_or("-"),
                l["status"]
            )
        })
        .collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_streams_each_request_made_while_subscribed_through_its_filters() {
    let s = Server::start();
    let (root, dev, _op) = three_callers(&s);
    let c = s.client();
    c.create_bucket().bucket("traced").send().await.unwrap();
    c.create_bucket().bucket("other").send().await.unwrap();
    c.put_object()
        .bucket("traced")
        .key("a/before")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();

    let mut all = TraceStream::open(&root, "").ok().expect("subscribed");
    let mut by_bucket = TraceStream::open(&root, "?bucket=traced&status=4xx")
        .ok()
        .expect("subscribed");
    let mut by_prefix = TraceStream::open(&root, "?prefix=a%2F&errors=true")
        .ok()
        .expect("subscribed");
    let mut by_user = TraceStream::open(&root, "?user=dev&status=200")
        .ok()
        .expect("subscribed");

    c.put_object()
        .bucket("traced")
        .key("a/1")
        .body(b"one".to_vec().into())
        .send()
        .await
        .unwrap();
    for (b, k) in [
        ("traced", "a/missing"),
        ("traced", "b/missing"),
        ("other", "a/missing"),
    ] {
        assert_eq!(
            code(c.get_object().bucket(b).key(k).send().await),
            "NoSuchKey"
        );
    }
    let (dk, dsk) = root.key("dev", json!({}));
    binary::client(&s.endpoint(), &dk, &dsk)
        .head_object()
        .bucket("traced")
        .key("a/1")
        .send()
        .await
        .unwrap();

    let want_all = "other/a/missing 404";
    poll("the lines", Duration::from_secs(15), || {
        keys_of(&all.lines(Duration::from_millis(100))).contains(&want_all.to_owned())
            && by_bucket.lines(Duration::from_millis(100)).len() >= 2
            && by_prefix.lines(Duration::from_millis(100)).len() >= 2
            && !by_user.lines(Duration::from_millis(100)).is_empty()
    });
    std::thread::sleep(Duration::from_millis(500));
    let all = all.lines(Duration::from_millis(100));
    let seen = keys_of(&all);
    for want in [
        "traced/a/1 200",
        "traced/a/missing 404",
        "traced/b/missing 404",
        "other/a/missing 404",
    ] {
        assert!(seen.contains(&want.to_owned()), "{want} in {seen:?}");
    }
    assert!(
        !seen.iter().any(|k| k.contains("a/before")),
        "a request before the subscription: {seen:?}"
    );
    let put = all
        .iter()
        .find(|l| l["key"] == "a/1" && l["method"] == "PUT")
        .expect("the PUT");
    assert_eq!(put["operation"], "PutObject");
    assert_eq!(put["user"], "root");
    assert!(
        put["request_id"].is_string() && put["total_ms"].is_number(),
        "{put}"
    );
    assert_eq!(
        keys_of(&by_bucket.lines(Duration::from_millis(100))),
        vec!["traced/a/missing 404", "traced/b/missing 404"]
    );
    assert_eq!(
        keys_of(&by_prefix.lines(Duration::from_millis(100))),
        vec!["other/a/missing 404", "traced/a/missing 404"]
    );
    assert_eq!(
        keys_of(&by_user.lines(Duration::from_millis(100))),
        vec!["traced/a/1 200"]
    );

    // Bad filters, a caller without admin:ServerTrace, the 17th subscriber.
    for q in ["?status=6xx", "?errors=maybe", "?colour=red"] {
        root.fails("GET", &format!("trace{q}"), None, 400, "InvalidArgument");
    }
    let refused = TraceStream::open(&dev, "").err().expect("refused");
    assert_eq!((refused.status, refused.code()), (403, "AccessDenied"));
    let mut more = Vec::new();
    for _ in 4..16 {
        more.push(TraceStream::open(&root, "").ok().expect("subscribed"));
    }
    let full = TraceStream::open(&root, "").err().expect("refused");
    assert_eq!((full.status, full.code()), (503, "SlowDown"));
}

#[test]
fn admin_requests_in_the_trace_name_their_user_and_access_key() {
    let s = Server::start();
    let (root, _dev, op) = three_callers(&s);
    let mut all = TraceStream::open(&root, "?user=op")
        .ok()
        .expect("subscribed");
    op.ok("GET", "info", None);
    op.fails(
        "PUT",
        "config/log.level",
        Some(json!({"value": "debug"})),
        403,
        "AccessDenied",
    );
    let mut lines = Vec::new();
    poll("op's two admin lines", Duration::from_secs(15), || {
        lines = all.lines(Duration::from_millis(100));
        lines.len() >= 2
    });
    let ops: Vec<(&str, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["operation"].as_str().unwrap(),
                l["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![("AdminServerInfo", 200), ("AdminSetConfig", 403)],
        "{lines:?}"
    );
    for l in &lines {
        assert_eq!(l["user"], "op", "{l}");
        assert_eq!(l["access_key"], op.access, "{l}");
    }
}

#[test]
fn a_trace_subscriber_that_disconnects_frees_its_slot_without_waiting_for_a_line() {
    let s = Server::start();
    let root = Admin::root(&s);
    // A filter nothing matches: no line is ever sent to these subscribers,
    // so only their disconnecting can free their slots.
    let quiet = "?bucket=nothing-matches-this";
    let subs: Vec<TraceStream> = (0..16)
        .map(|_| TraceStream::open(&root, quiet).ok().expect("subscribed"))
        .collect();
    let full = TraceStream::open(&root, quiet).err().expect("refused");
    assert_eq!((full.status, full.code()), (503, "SlowDown"));
    drop(subs);
    let t = Instant::now();
    let mut back = Vec::new();
    poll("16 slots free again", Duration::from_secs(15), || {
        match TraceStream::open(&root, quiet) {
            Ok(sub) => back.push(sub),
            Err(r) => assert_eq!(r.code(), "SlowDown", "{}", r.body),
        }
        back.len() == 16
    });
    println!(
        "16 slots freed {:?} after their clients closed",
        t.elapsed()
    );
    let full = TraceStream::open(&root, quiet).err().expect("refused");
    assert_eq!((full.status, full.code()), (503, "SlowDown"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_their_history_survive_kill_9_and_a_changed_flag_wins() {
    let s = Server::start_with(&["--read-cache", "4MiB"]);
    let root = Admin::root(&s);
    root.ok("PUT", "config/log.level", Some(json!({"value": "debug"})));
    root.ok(
        "PUT",
        "config/ratelimit.requestsPerSecondPerIp",
        Some(json!({"value": "5000/9000"})),
    );
    root.ok(
        "PUT",
        "config/cache.readBytes",
        Some(json!({"value": "1MiB"})),
    );
    let before = root.ok("GET", "config/history", None);
    let mut s = s;
    let logged = s.log().len();
    s.kill9_restart();
    let root = Admin::root(&s);
    let value = |name: &str| root.ok("GET", &format!("config/{name}"), None);
    assert_eq!(value("log.level")["value"], "debug");
    assert_eq!(value("log.level")["default"], "info");
    assert_eq!(
        value("ratelimit.requestsPerSecondPerIp")["value"],
        "5000/9000"
    );
    assert_eq!(value("cache.readBytes")["value"], "1048576");
    assert_eq!(root.ok("GET", "config/history", None), before);
    assert_eq!(before["changes"].as_array().map(Vec::len), Some(3));
    assert_eq!(before["changes"][0]["user"], "root");
    // The kept filter is in effect in the new process, not only reported.
    s.client().list_buckets().send().await.unwrap();
    poll(
        "a debug line after the restart",
        Duration::from_secs(10),
        || s.log()[logged..].contains("DEBUG"),
    );

    // Started again with another --read-cache: the flag wins over the kept
    // value; the others stay, and so does the history.
    let dir = std::mem::replace(&mut s.dir, tempfile::tempdir().unwrap());
    drop(s);
    let s = Server::start_in(dir, &["--read-cache", "8MiB"]);
    let root = Admin::root(&s);
    let cache = root.ok("GET", "config/cache.readBytes", None);
    assert_eq!(cache["value"], (8u64 << 20).to_string(), "{cache}");
    assert_eq!(cache["default"], cache["value"]);
    assert_eq!(
        root.ok("GET", "config/ratelimit.requestsPerSecondPerIp", None)["value"],
        "5000/9000"
    );
    assert_eq!(root.ok("GET", "config/history", None), before);
}

/// A bucket's figures by a full walk, as a client would count them.
#[derive(Debug, Default, PartialEq)]
struct Walked {
    objects: u64,
    bytes: u64,
    versions: u64,
    version_bytes: u64,
    delete_markers: u64,
    uploads: u64,
    upload_parts: u64,
    upload_bytes: u64,
}

async fn walk(c: &aws_sdk_s3::Client, bucket: &str) -> Walked {
    let mut w = Walked::default();
    let (mut km, mut vm) = (None::<String>, None::<String>);
    loop {
        let page = c
            .list_object_versions()
            .bucket(bucket)
            .max_keys(7)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .unwrap();
        for v in page.versions() {
            w.versions += 1;
            w.version_bytes += v.size().unwrap_or(0) as u64;
            if v.is_latest() == Some(true) {
                w.objects += 1;
                w.bytes += v.size().unwrap_or(0) as u64;
            }
        }
        w.delete_markers += page.delete_markers().len() as u64;
        if page.is_truncated() != Some(true) {
            break;
        }
        km = page.next_key_marker().map(str::to_owned);
        vm = page.next_version_id_marker().map(str::to_owned);
    }
    // The current objects again, as ListObjectsV2 sees them.
    let (mut n, mut b, mut token) = (0u64, 0u64, None::<String>);
    loop {
        let page = c
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(5)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            n += 1;
            b += o.size().unwrap_or(0) as u64;
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        (n, b),
        (w.objects, w.bytes),
        "{bucket}: ListObjectsV2 and versions agree"
    );
    let uploads = c
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    for u in uploads.uploads() {
        w.uploads += 1;
        let parts = c
            .list_parts()
            .bucket(bucket)
            .key(u.key().unwrap())
            .upload_id(u.upload_id().unwrap())
            .send()
            .await
            .unwrap();
        for p in parts.parts() {
            w.upload_parts += 1;
            w.upload_bytes += p.size().unwrap_or(0) as u64;
        }
    }
    w
}

fn reported(u: &Value) -> Walked {
    let n = |f: &str| u[f].as_u64().unwrap_or_else(|| panic!("{f} in {u}"));
    Walked {
        objects: n("objects"),
        bytes: n("bytes"),
        versions: n("versions"),
        version_bytes: n("versionBytes"),
        delete_markers: n("deleteMarkers"),
        uploads: n("uploads"),
        upload_parts: n("uploadParts"),
        upload_bytes: n("uploadBytes"),
    }
}

async fn put(c: &aws_sdk_s3::Client, b: &str, k: &str, len: usize) -> Option<String> {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(binary::data(len, len as u64).into())
        .send()
        .await
        .unwrap()
        .version_id()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_figures_equal_a_full_client_walk_after_a_mixed_workload_and_kill_9() {
    use aws_sdk_s3::types::{
        BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, VersioningConfiguration,
    };
    let mut s = Server::start();
    let c = s.client();
    for b in ["plain", "versioned", "suspended"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    for (b, st) in [
        ("versioned", BucketVersioningStatus::Enabled),
        ("suspended", BucketVersioningStatus::Enabled),
    ] {
        c.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(VersioningConfiguration::builder().status(st).build())
            .send()
            .await
            .unwrap();
    }
    // Unversioned: overwrites replace, deletes remove.
    for (k, len) in [("a", 100), ("a", 250), ("b", 70_000), ("c", 1), ("d", 0)] {
        put(&c, "plain", k, len).await;
    }
    c.delete_object()
        .bucket("plain")
        .key("c")
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("plain")
        .key("never")
        .send()
        .await
        .unwrap();
    // Versioned: versions pile up, delete markers hide, version deletes remove.
    for (k, len) in [("x", 10), ("x", 20), ("x", 30), ("y", 80_000), ("z", 5)] {
        put(&c, "versioned", k, len).await;
    }
    c.delete_object()
        .bucket("versioned")
        .key("x")
        .send()
        .await
        .unwrap();
    let y2 = put(&c, "versioned", "y", 40).await.expect("version id");
    c.delete_object()
        .bucket("versioned")
        .key("y")
        .version_id(y2)
        .send()
        .await
        .unwrap();
    let marker = c
        .delete_object()
        .bucket("versioned")
        .key("z")
        .send()
        .await
        .unwrap()
        .version_id()
        .map(str::to_owned)
        .expect("a marker");
    c.delete_object()
        .bucket("versioned")
        .key("z")
        .version_id(marker)
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("versioned")
        .key("gone")
        .send()
        .await
        .unwrap();
    // Suspended: the null version is replaced, older versions stay.
    put(&c, "suspended", "s", 11).await;
    c.put_bucket_versioning()
        .bucket("suspended")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    put(&c, "suspended", "s", 22).await;
    put(&c, "suspended", "s", 33).await;
    c.delete_object()
        .bucket("suspended")
        .key("s")
        .send()
        .await
        .unwrap();
    put(&c, "suspended", "t", 44).await;
    // Multipart: completed, aborted, in progress (with a part replaced).
    for (b, key, end) in [
        ("plain", "mp-done", "complete"),
        ("versioned", "mp-aborted", "abort"),
        ("plain", "mp-open", "none"),
        ("versioned", "mp-open", "none"),
    ] {
        let id = c
            .create_multipart_upload()
            .bucket(b)
            .key(key)
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_owned();
        let mut parts = Vec::new();
        for (n, len) in [(1, 5 << 20), (2, 3000), (2, 1234)] {
            let p = c
                .upload_part()
                .bucket(b)
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .body(binary::data(len, n as u64).into())
                .send()
                .await
                .unwrap();
            parts.retain(|p: &CompletedPart| p.part_number() != Some(n));
            parts.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(p.e_tag().unwrap())
                    .build(),
            );
        }
        match end {
            "complete" => {
                c.complete_multipart_upload()
                    .bucket(b)
                    .key(key)
                    .upload_id(&id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .unwrap();
            }
            "abort" => {
                c.abort_multipart_upload()
                    .bucket(b)
                    .key(key)
                    .upload_id(&id)
                    .send()
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }

    s.kill9_restart();
    let c = s.client();
    let root = Admin::root(&s);
    let mut total = Walked::default();
    for b in ["plain", "suspended", "versioned"] {
        let walked = walk(&c, b).await;
        let got = reported(&root.ok("GET", &format!("buckets/{b}"), None)["usage"]);
        assert_eq!(got, walked, "{b}: GET buckets/{b} against the walk");
        total.objects += walked.objects;
        total.bytes += walked.bytes;
        total.versions += walked.versions;
        total.version_bytes += walked.version_bytes;
        total.delete_markers += walked.delete_markers;
        total.uploads += walked.uploads;
        total.upload_parts += walked.upload_parts;
        total.upload_bytes += walked.upload_bytes;
    }
    // The workload left every kind of figure above zero.
    assert!(
        total.delete_markers >= 2 && total.uploads == 2 && total.upload_parts == 4,
        "{total:?}"
    );
    assert!(total.versions > total.objects, "{total:?}");
    let usage = root.ok("GET", "usage", None);
    assert_eq!(reported(&usage["total"]), total, "GET usage's total");
    let listed = root.ok("GET", "buckets", None);
    for b in listed["buckets"].as_array().unwrap() {
        let name = b["name"].as_str().unwrap();
        assert_eq!(
            reported(&b["usage"]),
            walk(&c, name).await,
            "GET buckets: {name}"
        );
    }
}
