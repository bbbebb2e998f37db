//! Blocking HTTP(S) to one alias's server, every request signed with
//! SigV4 (`sign.rs`): the admin API's JSON and S3's XML, with their errors
//! turned into `CliError::Refused`.

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use ureq::http::Response;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use super::alias::{self, Alias};
use super::sign::{amz_date, sha256_hex, uri_encode, Signer};
use super::{CliError, Ctx};

pub const ADMIN_PREFIX: &str = "/_cairn/admin/v1/";
/// Signing region: cairn accepts any, as MinIO does.
const REGION: &str = "us-east-1";
/// Largest JSON or XML answer read into memory.
const MAX_DOCUMENT: u64 = 64 << 20;
/// Largest error body read (the code and message are at its start).
const MAX_ERROR_BODY: u64 = 64 << 10;

pub struct Client {
    agent: Agent,
    /// `http://host:port`
    base: String,
    /// `host:port`, the signed `host` header.
    host: String,
    signer: Signer,
}

/// A request's body: nothing, or bytes in memory. Every body is hashed and
/// signed (never `UNSIGNED-PAYLOAD`), so it cannot change in flight; the
/// admin API insists on it.
pub enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
}

impl Client {
    /// A client for the alias of that name.
    pub fn connect(ctx: &Ctx, alias_name: &str) -> Result<Client, CliError> {
        Client::new(&alias::get(alias_name)?, ctx.insecure)
    }

    pub fn new(a: &Alias, insecure: bool) -> Result<Client, CliError> {
        alias::check_url(&a.url).map_err(CliError::Usage)?;
        let base = a.url.trim_end_matches('/').to_owned();
        let host = base
            .split_once("://")
            .map(|(_, h)| h.to_owned())
            .unwrap_or_default();
        let mut tls = TlsConfig::builder().disable_verification(insecure);
        // Reading the system's roots costs milliseconds: only for https.
        if base.starts_with("https://") && !insecure {
            tls = tls.root_certs(system_roots());
        }
        let tls = tls.build();
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .tls_config(tls)
            .build();
        Ok(Client {
            agent: Agent::new_with_config(config),
            base,
            host,
            signer: Signer::new(&a.access_key, &a.secret_key, REGION),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a signed request. `path` is already encoded; `query` pairs
    /// are raw and encoded here; `headers` are lowercase names.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Payload<'_>,
    ) -> Result<Response<Body>, CliError> {
        let query = canonical_query(query);
        let payload_hash = match body {
            Payload::Empty => sha256_hex(b""),
            Payload::Bytes(b) => sha256_hex(b),
        };
        let timestamp = amz_date(now_secs());
        let mut signed: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        signed.push(("host".into(), self.host.clone()));
        signed.push(("x-amz-content-sha256".into(), payload_hash.clone()));
        signed.push(("x-amz-date".into(), timestamp.clone()));
        signed.sort();
        let refs: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let sig = self
            .signer
            .sign(&timestamp, method, path, &query, &refs, &payload_hash);
        let url = if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        };
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in &signed {
            if k != "host" {
                req = req.header(k.as_str(), v.as_str());
            }
        }
        req = req.header("authorization", sig.authorization);
        let sent = match body {
            Payload::Empty => req.body(()).map(|r| self.agent.run(r)),
            Payload::Bytes(b) => req.body(b).map(|r| self.agent.run(r)),
        };
        match sent {
            Err(e) => Err(CliError::Usage(format!("{url}: {e}"))),
            Ok(Err(e)) => Err(transport_error(&self.base, e)),
            Ok(Ok(resp)) => Ok(resp),
        }
    }

    /// An admin API call: the answer's JSON (`Null` for 204), or the
    /// server's refusal.
    pub fn admin(
        &mut self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let text = body.map(Value::to_string);
        let path = format!("{ADMIN_PREFIX}{path}");
        let resp = match &text {
            Some(t) => self.send(
                method,
                &path,
                query,
                &[("content-type", "application/json")],
                Payload::Bytes(t.as_bytes()),
            )?,
            None => self.send(method, &path, query, &[], Payload::Empty)?,
        };
        let resp = check(resp)?;
        if resp.status().as_u16() == 204 {
            return Ok(Value::Null);
        }
        let bytes = read_all(resp)?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Failed(format!("the server's answer is not JSON: {e}")))
    }

    /// An admin GET whose answer streams (`trace`): the response to read.
    pub fn admin_stream(
        &mut self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Response<Body>, CliError> {
        let path = format!("{ADMIN_PREFIX}{path}");
        let resp = self.send("GET", &path, query, &[], Payload::Empty)?;
        check(resp)
    }

    /// An S3 request whose answer (if any) is XML, read whole.
    pub fn s3(
        &mut self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Payload<'_>,
    ) -> Result<(Response<()>, Option<Node>), CliError> {
        let resp = check(self.send(method, path, query, headers, body)?)?;
        let (parts, body) = resp.into_parts();
        let head = Response::from_parts(parts, ());
        let bytes = read_all(Response::new(body))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok((head, None));
        }
        let node = parse_xml(&bytes)
            .map_err(|e| CliError::Failed(format!("the server's answer is not XML: {e}")))?;
        // CompleteMultipartUpload may fail after a 200 (AWS's rule).
        if node.name == "Error" {
            return Err(refusal_from_xml(head.status().as_u16(), &node));
        }
        Ok((head, Some(node)))
    }

    /// A presigned URL for `method` on `path` (encoded), valid `expires` s.
    pub fn presign(&mut self, method: &str, path: &str, expires: u64) -> String {
        let timestamp = amz_date(now_secs());
        let query = self
            .signer
            .presign(&timestamp, method, path, &self.host, expires, &[]);
        format!("{}{path}?{query}", self.base)
    }
}

/// The system's trusted roots (so a private CA installed on the machine
/// works), or Mozilla's (webpki-roots) where the system has none.
pub(crate) fn system_roots() -> RootCerts {
    let found = rustls_native_certs::load_native_certs();
    let certs: Vec<Certificate<'static>> = found
        .certs
        .into_iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if certs.is_empty() {
        RootCerts::WebPki
    } else {
        RootCerts::new_with_certs(&certs)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sorted, encoded `k=v` pairs (the form SigV4 signs and we send).
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut enc: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// One path segment, percent-encoded (for names in admin paths).
pub fn seg(s: &str) -> String {
    uri_encode(s, false)
}

/// The exit-3 kind: nothing was said by the server.
fn transport_error(base: &str, e: ureq::Error) -> CliError {
    CliError::Connect(format!("cannot talk to {base}: {e}"))
}

/// The response if it is a success, else the server's refusal.
pub fn check(resp: Response<Body>) -> Result<Response<Body>, CliError> {
    let status = resp.status().as_u16();
    if status < 300 {
        return Ok(resp);
    }
    let request_id = resp
        .headers()
        .get("x-amz-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut bytes = Vec::new();
    let _ = resp
        .into_body()
        .into_reader()
        .take(MAX_ERROR_BODY)
        .read_to_end(&mut bytes);
    if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
        if let Some(code) = v["Code"].as_str() {
            return Err(CliError::Refused {
                status,
                code: code.to_owned(),
                message: v["Message"].as_str().unwrap_or("").to_owned(),
                request_id: v["RequestId"].as_str().map(str::to_owned).or(request_id),
            });
        }
    }
    if let Ok(node) = parse_xml(&bytes) {
        if node.name == "Error" {
            return Err(refusal_from_xml(status, &node));
        }
    }
    // A HEAD, or a body from something that is not cairn.
    let code = match status {
        301 | 307 => "Redirect",
        400 => "BadRequest",
        403 => "AccessDenied",
        404 => "NotFound",
        _ => "HttpError",
    };
    Err(CliError::Refused {
        status,
        code: code.to_owned(),
        message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
        request_id,
    })
}

fn refusal_from_xml(status: u16, node: &Node) -> CliError {
    CliError::Refused {
        status,
        code: node.text_of("Code").to_owned(),
        message: node.text_of("Message").to_owned(),
        request_id: Some(node.text_of("RequestId").to_owned()).filter(|s| !s.is_empty()),
    }
}

fn read_all(resp: Response<Body>) -> Result<Vec<u8>, CliError> {
    resp.into_body()
        .with_config()
        .limit(MAX_DOCUMENT)
        .read_to_vec()
        .map_err(|e| CliError::Connect(format!("reading the answer: {e}")))
}

/// An XML element: its local name, text and child elements.
#[derive(Debug, Default)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of the first child of that name, "" if none.
    pub fn text_of(&self, name: &str) -> &str {
        self.child(name).map_or("", |c| c.text.as_str())
    }
}

/// Deepest element nesting accepted (S3's answers nest four deep).
const MAX_XML_DEPTH: usize = 32;

/// Parses an XML document into its root element.
pub fn parse_xml(bytes: &[u8]) -> Result<Node, String> {
    use quick_xml::events::Event;
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                if stack.len() >= MAX_XML_DEPTH {
                    return Err("nested too deep".into());
                }
                stack.push(Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                });
            }
            Event::Empty(e) => {
                let node = Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                match stack.last_mut() {
                    Some(top) => top.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.unescape().map_err(|e| e.to_string())?);
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("unbalanced end tag")?;
                match stack.last_mut() {
                    Some(top) => top.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Eof => return Err("no root element".into()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_answers_parse_into_elements() {
        let n = parse_xml(
            b"<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><Name>b</Name>\
              <Contents><Key>a&amp;b</Key><Size>3</Size></Contents>\
              <Contents><Key>c</Key><Size>4</Size></Contents><IsTruncated>false</IsTruncated>\
              </ListBucketResult>",
        )
        .expect("parses");
        assert_eq!(n.name, "ListBucketResult");
        let keys: Vec<&str> = n.all("Contents").map(|c| c.text_of("Key")).collect();
        assert_eq!(keys, ["a&b", "c"]);
        assert_eq!(n.text_of("IsTruncated"), "false");
        assert!(parse_xml(b"<a><b></a>").is_err());
        assert!(parse_xml(&b"<a>".repeat(100)).is_err());
    }

    #[test]
    fn query_is_encoded_and_sorted() {
        assert_eq!(
            canonical_query(&[("prefix", "a b/"), ("list-type", "2"), ("delimiter", "/")]),
            "delimiter=%2F&list-type=2&prefix=a%20b%2F"
        );
    }
}
