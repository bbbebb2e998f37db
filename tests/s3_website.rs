//! Bucket websites against the real binary: Put/Get/DeleteBucketWebsite
//! with aws-sdk-s3 (shapes, S3's refusals, a restart, their own IAM
//! actions), and website hosting on `--website-domain` driven by plain
//! HTTP requests as a browser sends them: index documents, the redirect of
//! a folder named without its slash, the error document with the error's
//! status, routing rules, redirect-all, ranges and conditional reads, 403
//! for a bucket whose objects are not public, 405 for writes, and the S3
//! API beside it unchanged.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    Condition, ErrorDocument, IndexDocument, Protocol, Redirect, RedirectAllRequestsTo,
    RoutingRule, WebsiteConfiguration,
};
use aws_sdk_s3::Client;

mod binary;
use binary::*;

/// The domain websites are served under in these tests.
const WEB: &str = "web.test";

fn index(suffix: &str) -> IndexDocument {
    IndexDocument::builder()
        .suffix(suffix)
        .build()
        .expect("index")
}

fn error_doc(key: &str) -> ErrorDocument {
    ErrorDocument::builder().key(key).build().expect("error")
}

fn rule(condition: Option<Condition>, redirect: Redirect) -> RoutingRule {
    RoutingRule::builder()
        .set_condition(condition)
        .redirect(redirect)
        .build()
}

/// A site with an index and an error document and two rules: `old/` is
/// now `new/`, and a missing `gone/` object is on another host.
fn site_config() -> WebsiteConfiguration {
    WebsiteConfiguration::builder()
        .index_document(index("index.html"))
        .error_document(error_doc("404.html"))
        .routing_rules(rule(
            Some(Condition::builder().key_prefix_equals("old/").build()),
            Redirect::builder().replace_key_prefix_with("new/").build(),
        ))
        .routing_rules(rule(
            Some(
                Condition::builder()
                    .key_prefix_equals("gone/")
                    .http_error_code_returned_equals("404")
                    .build(),
            ),
            Redirect::builder()
                .host_name("example.com")
                .protocol(Protocol::Https)
                .http_redirect_code("302")
                .replace_key_with("moved.html")
                .build(),
        ))
        .build()
}

async fn put_website(c: &Client, bucket: &str, config: WebsiteConfiguration) -> Result<(), String> {
    c.put_bucket_website()
        .bucket(bucket)
        .website_configuration(config)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(Err::<(), _>(e)))
}

/// The code and message a configuration is refused with.
async fn refused(c: &Client, config: WebsiteConfiguration) -> (String, String) {
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    let e = c
        .put_bucket_website()
        .bucket("site")
        .website_configuration(config)
        .send()
        .await
        .expect_err("refused");
    (
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

async fn get_website(
    c: &Client,
    bucket: &str,
) -> aws_sdk_s3::operation::get_bucket_website::GetBucketWebsiteOutput {
    c.get_bucket_website()
        .bucket(bucket)
        .send()
        .await
        .expect("get website")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn website_configuration_round_trips_is_refused_when_bad_and_survives_restart() {
    let mut srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("site")
        .send()
        .await
        .expect("create");
    let none = c.get_bucket_website().bucket("site").send().await;
    assert_eq!(code(none), "NoSuchWebsiteConfiguration");
    // Deleting what is not there is 204, as on S3.
    c.delete_bucket_website()
        .bucket("site")
        .send()
        .await
        .expect("delete of none");

    put_website(&c, "site", site_config()).await.expect("put");
    let check = |got: aws_sdk_s3::operation::get_bucket_website::GetBucketWebsiteOutput| {
        let want = site_config();
        assert_eq!(got.index_document(), want.index_document());
        assert_eq!(got.error_document(), want.error_document());
        assert_eq!(got.routing_rules(), want.routing_rules());
        assert_eq!(got.redirect_all_requests_to(), None);
    };
    check(get_website(&c, "site").await);
    srv.restart();
    let c = srv.client();
    check(get_website(&c, "site").await);

    // Bad configurations, with S3's codes and messages; the stored one stays.
    let with_rules = |rules: Vec<RoutingRule>| {
        WebsiteConfiguration::builder()
            .index_document(index("index.html"))
            .set_routing_rules(Some(rules))
            .build()
    };
    let to_host = || Redirect::builder().host_name("example.com").build();
    let all = || {
        RedirectAllRequestsTo::builder()
            .host_name("example.com")
            .build()
            .expect("all")
    };
    let cases: Vec<(WebsiteConfiguration, &str, &str)> = vec![
        (
            WebsiteConfiguration::builder().build(),
            "InvalidArgument",
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
        ),
        (
            WebsiteConfiguration::builder()
                .index_document(index("a/index.html"))
                .build(),
            "InvalidArgument",
            "The IndexDocument Suffix is not well formed",
        ),
        (
            WebsiteConfiguration::builder()
                .index_document(index(""))
                .build(),
            "InvalidArgument",
            "The IndexDocument Suffix is not well formed",
        ),
        (
            WebsiteConfiguration::builder()
                .index_document(index("index.html"))
                .redirect_all_requests_to(all())
                .build(),
            "InvalidArgument",
            "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
        ),
        (
            with_rules(vec![rule(
                None,
                Redirect::builder()
                    .replace_key_with("a")
                    .replace_key_prefix_with("b/")
                    .build(),
            )]),
            "InvalidRequest",
            "You can only define ReplaceKeyPrefix or ReplaceKey but not both.",
        ),
        (
            with_rules(vec![rule(
                None,
                Redirect::builder().http_redirect_code("300").build(),
            )]),
            "InvalidRequest",
            "The provided HTTP redirect code (300) is not valid. Valid codes are 3XX except 300.",
        ),
        (
            with_rules(vec![rule(
                Some(
                    Condition::builder()
                        .http_error_code_returned_equals("302")
                        .build(),
                ),
                to_host(),
            )]),
            "InvalidRequest",
            "The provided HTTP error code (302) is not valid. Valid codes are 4XX or 5XX.",
        ),
        (
            with_rules((0..51).map(|_| rule(None, to_host())).collect()),
            "InvalidRequest",
            "51 routing rules provided, the number of routing rules in a website configuration is limited to 50.",
        ),
    ];
    for (config, code, message) in cases {
        assert_eq!(
            refused(&c, config.clone()).await,
            (code.to_owned(), message.to_owned()),
            "{config:?}"
        );
    }
    assert_eq!(
        put_website(
            &c,
            "site",
            with_rules((0..50).map(|_| rule(None, to_host())).collect())
        )
        .await,
        Ok(()),
        "fifty rules are allowed"
    );
    put_website(&c, "site", site_config()).await.expect("put");

    // S3 requires Content-MD5 (or a checksum) on this body.
    let body = "<WebsiteConfiguration><IndexDocument><Suffix>x.html</Suffix></IndexDocument></WebsiteConfiguration>";
    let len = body.len().to_string();
    let s = sign(
        srv.port,
        "PUT",
        "/site?website",
        &[("content-length", &len)],
        "UNSIGNED-PAYLOAD",
        PASSWORD,
        std::time::SystemTime::now(),
    );
    let no_md5 = raw_request(
        srv.port,
        &request_bytes("PUT", "/site?website", &s.headers, body.as_bytes()),
    )
    .expect("raw put");
    assert_eq!(
        (no_md5.status, no_md5.code().as_str()),
        (400, "InvalidRequest")
    );
    check(get_website(&c, "site").await);

    // Replaced whole by a redirect of every request.
    let config = WebsiteConfiguration::builder()
        .redirect_all_requests_to(all())
        .build();
    put_website(&c, "site", config).await.expect("put all");
    let got = get_website(&c, "site").await;
    assert_eq!(got.redirect_all_requests_to(), Some(&all()));
    assert_eq!(got.index_document(), None);

    c.delete_bucket_website()
        .bucket("site")
        .send()
        .await
        .expect("delete");
    assert_eq!(
        code(c.get_bucket_website().bucket("site").send().await),
        "NoSuchWebsiteConfiguration"
    );
    assert_eq!(
        code(c.get_bucket_website().bucket("nowhere").send().await),
        "NoSuchBucket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_website_call_needs_its_own_action() {
    let srv = Server::start();
    let root = srv.client();
    root.create_bucket()
        .bucket("site")
        .send()
        .await
        .expect("create");
    let iam = iam_client(&srv.endpoint(), USER, PASSWORD);
    iam.create_user()
        .user_name("webmaster")
        .send()
        .await
        .expect("create user");
    let key = iam
        .create_access_key()
        .user_name("webmaster")
        .send()
        .await
        .expect("create key");
    let key = key.access_key().expect("key");
    let user = client(
        &srv.endpoint(),
        key.access_key_id(),
        key.secret_access_key(),
    );
    let allow = |action: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"arn:aws:s3:::site"}}]}}"#
        )
    };
    let grant = |name: &'static str, action: &'static str| {
        let iam = iam.clone();
        let doc = allow(action);
        async move {
            iam.put_user_policy()
                .user_name("webmaster")
                .policy_name(name)
                .policy_document(doc)
                .send()
                .await
                .expect("policy");
        }
    };
    put_website(&root, "site", site_config())
        .await
        .expect("root put");
    let denied = |r: Result<(), String>| assert_eq!(r, Err("AccessDenied".into()));
    denied(
        user.get_bucket_website()
            .bucket("site")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(Err::<(), _>(e))),
    );
    grant("get", "s3:GetBucketWebsite").await;
    let got = get_website(&user, "site").await;
    assert_eq!(got.index_document(), Some(&index("index.html")));
    denied(put_website(&user, "site", site_config()).await);
    denied(
        user.delete_bucket_website()
            .bucket("site")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(Err::<(), _>(e))),
    );
    grant("put", "s3:PutBucketWebsite").await;
    put_website(&user, "site", site_config())
        .await
        .expect("put with s3:PutBucketWebsite");
    denied(
        user.delete_bucket_website()
            .bucket("site")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| code(Err::<(), _>(e))),
    );
    grant("delete", "s3:DeleteBucketWebsite").await;
    user.delete_bucket_website()
        .bucket("site")
        .send()
        .await
        .expect("delete with s3:DeleteBucketWebsite");
}

// ---------------------------------------------------------------------------
// Hosting
// ---------------------------------------------------------------------------

/// A request to a website, unsigned, as a browser sends it.
fn visit(port: u16, method: &str, host: &str, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    let mut h = vec![
        ("Host".to_owned(), host.to_owned()),
        ("Content-Length".to_owned(), "0".to_owned()),
    ];
    h.extend(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    raw_request(port, &request_bytes(method, path, &h, b"")).expect("website request")
}

fn text(r: &RawResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn put_object(c: &Client, bucket: &str, key: &str, body: &str) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("text/html")
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .expect("put object");
}

/// Bucket `site`: anybody may read its objects but those under
/// `private/`; with the pages of [`site_config`].
async fn public_site(c: &Client) {
    c.create_bucket()
        .bucket("site")
        .send()
        .await
        .expect("create");
    c.delete_public_access_block()
        .bucket("site")
        .send()
        .await
        .expect("unblock");
    c.put_bucket_policy()
        .bucket("site")
        .policy(
            r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::site/private/*"}]}"#,
        )
        .send()
        .await
        .expect("policy");
    for (key, body) in [
        ("index.html", "home"),
        ("about/index.html", "about"),
        ("404.html", "not here"),
        ("private/index.html", "secret"),
        ("new/page.html", "moved page"),
    ] {
        put_object(c, "site", key, body).await;
    }
    put_website(c, "site", site_config())
        .await
        .expect("website");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_site_is_served_as_s3s_website_endpoint_serves_it() {
    let srv = Server::start_with(&["--website-domain", WEB]);
    let c = srv.client();
    public_site(&c).await;
    let port = srv.port;
    let host = format!("site.{WEB}:{port}");
    let get = |path: &str| visit(port, "GET", &host, path, &[]);

    let home = get("/");
    assert_eq!((home.status, text(&home).as_str()), (200, "home"));
    assert_eq!(home.header("content-type"), Some("text/html"));
    assert_eq!(text(&get("/about/")), "about");
    assert_eq!(text(&get("/index.html")), "home");
    // Any port, any case: the Host names the bucket.
    let upper = visit(
        port,
        "GET",
        &format!("SITE.Web.Test:{}", port + 1),
        "/",
        &[],
    );
    assert_eq!(text(&upper), "home");

    // A folder named without its slash is sent to it.
    let folder = get("/about");
    assert_eq!(
        (folder.status, folder.header("location")),
        (302, Some("/about/"))
    );

    // A miss gets the error document, with the error's status.
    let missing = get("/missing.html");
    assert_eq!((missing.status, text(&missing).as_str()), (404, "not here"));
    assert_eq!(missing.header("x-amz-error-code"), Some("NoSuchKey"));
    // What the policy refuses is 403, with the same document.
    let private = get("/private/");
    assert_eq!((private.status, text(&private).as_str()), (403, "not here"));
    assert_eq!(private.header("x-amz-error-code"), Some("AccessDenied"));
    // A folder whose index nobody may read is not redirected to.
    assert_eq!(get("/private").status, 404);

    // Routing rules: before the read on a prefix, after it on an error.
    let old = get("/old/page.html");
    assert_eq!(old.status, 301);
    assert_eq!(
        old.header("location"),
        Some(format!("http://{host}/new/page.html").as_str())
    );
    let gone = get("/gone/x.html");
    assert_eq!(
        (gone.status, gone.header("location")),
        (302, Some("https://example.com/moved.html"))
    );

    // GetObject's own reads: ranges and conditions.
    let range = visit(port, "GET", &host, "/", &[("Range", "bytes=1-2")]);
    assert_eq!((range.status, text(&range).as_str()), (206, "om"));
    assert_eq!(range.header("content-range"), Some("bytes 1-2/4"));
    let head = visit(port, "HEAD", &host, "/", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("4"));
    let etag = head.header("etag").expect("etag").to_owned();
    let unchanged = visit(port, "GET", &host, "/", &[("If-None-Match", &etag)]);
    assert_eq!(unchanged.status, 304);
    let changed = visit(port, "GET", &host, "/", &[("If-Match", "\"other\"")]);
    assert_eq!(changed.status, 412);

    // Only reads.
    for method in ["PUT", "POST", "DELETE"] {
        let w = visit(port, method, &host, "/index.html", &[]);
        assert_eq!(w.status, 405, "{method}");
        assert_eq!(w.header("x-amz-error-code"), Some("MethodNotAllowed"));
        assert!(
            text(&w).contains("<li>Code: MethodNotAllowed</li>"),
            "{}",
            text(&w)
        );
    }
    assert_eq!(text(&get("/index.html")), "home", "nothing was written");

    // The server's own paths are the site's keys on its host.
    assert_eq!(get("/health/ready").status, 404);
    assert_eq!(
        get("/metrics").header("x-amz-error-code"),
        Some("NoSuchKey")
    );

    // Without the error document: S3's HTML page.
    c.delete_object()
        .bucket("site")
        .key("404.html")
        .send()
        .await
        .expect("delete");
    let page = get("/missing.html");
    assert_eq!(page.status, 404);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let body = text(&page);
    assert!(
        body.starts_with("<html>\n<head><title>404 Not Found</title></head>"),
        "{body}"
    );
    assert!(
        body.contains("<li>Code: NoSuchKey</li>\n<li>Message: The specified key does not exist.</li>\n<li>Key: missing.html</li>"),
        "{body}"
    );
    let head = visit(port, "HEAD", &host, "/missing.html", &[]);
    assert_eq!((head.status, head.body.len()), (404, 0));
    assert_eq!(head.header("x-amz-error-code"), Some("NoSuchKey"));

    // The S3 API on the same listener is as it was.
    let listed = c
        .list_objects_v2()
        .bucket("site")
        .send()
        .await
        .expect("list");
    assert_eq!(listed.key_count(), Some(4));
    assert!(ready(port), "/health/ready on any other host");
    assert_eq!(get_bytes(&c, "site", "about/index.html").await, b"about");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_missing_and_redirecting_websites_say_so() {
    let srv = Server::start_with(&["--website-domain", WEB]);
    let c = srv.client();
    let port = srv.port;
    for b in ["closed", "plain", "moved"] {
        c.create_bucket().bucket(b).send().await.expect("create");
    }
    // A website whose objects nobody else may read: 403, as AWS answers.
    put_object(&c, "closed", "index.html", "home").await;
    let site = WebsiteConfiguration::builder()
        .index_document(index("index.html"))
        .build();
    put_website(&c, "closed", site).await.expect("website");
    let closed = visit(port, "GET", &format!("closed.{WEB}"), "/", &[]);
    assert_eq!(closed.status, 403);
    assert_eq!(closed.header("x-amz-error-code"), Some("AccessDenied"));
    assert!(
        text(&closed).contains("<li>Code: AccessDenied</li>"),
        "{}",
        text(&closed)
    );

    // A bucket that is not a website, and no bucket at all.
    let plain = visit(port, "GET", &format!("plain.{WEB}"), "/", &[]);
    assert_eq!(plain.status, 404);
    assert_eq!(
        plain.header("x-amz-error-code"),
        Some("NoSuchWebsiteConfiguration")
    );
    assert!(
        text(&plain).contains("<li>BucketName: plain</li>"),
        "{}",
        text(&plain)
    );
    let nothing = visit(port, "GET", &format!("nothing.{WEB}"), "/", &[]);
    assert_eq!(nothing.status, 404);
    assert_eq!(nothing.header("x-amz-error-code"), Some("NoSuchBucket"));

    // Every request of a redirecting bucket goes to the same path elsewhere.
    let all = RedirectAllRequestsTo::builder()
        .host_name("example.org")
        .protocol(Protocol::Https)
        .build()
        .expect("all");
    let config = WebsiteConfiguration::builder()
        .redirect_all_requests_to(all)
        .build();
    put_website(&c, "moved", config).await.expect("website");
    let moved = visit(port, "GET", &format!("moved.{WEB}"), "/a/b%20c.html", &[]);
    assert_eq!(
        (moved.status, moved.header("location")),
        (301, Some("https://example.org/a/b%20c.html"))
    );

    // Without --website-domain nothing of this exists: the host is ignored
    // and the request is an unsigned S3 one.
    drop(srv);
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("site")
        .send()
        .await
        .expect("create");
    let s3 = visit(srv.port, "GET", &format!("site.{WEB}"), "/", &[]);
    assert_eq!((s3.status, s3.code().as_str()), (403, "AccessDenied"));
    assert_eq!(s3.header("content-type"), Some("application/xml"));
}
