//! One keep-alive HTTP/1.1 connection per worker (hyper's low-level client,
//! over TLS with `--tls`), reopened when the server closes it, and the S3
//! requests the modes send, signed as minio-go signs them.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use md5::Md5;
use memchr::memmem;
use sha2::Digest;
use tokio::net::TcpStream;

use crate::body::{aws_chunked_len, Chunked, ReqBody};
use crate::data::{Payload, Verifier};
use crate::sign::{
    amz_date, sha256_hex, uri_encode, ChunkSigner, Signer, EMPTY_SHA256, STREAMING_PAYLOAD,
    UNSIGNED_PAYLOAD,
};

/// What one request came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx, with the response body bytes received.
    Ok { bytes: u64 },
    /// Not 2xx, with the S3 error code when the body had one.
    Status(u16, Option<String>),
    /// No answer: connect, write or read failed.
    Transport(String),
    /// 2xx, but the bytes were not the object's.
    Corrupt,
    /// Not sent: the client could not build the request.
    Client(String),
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok { .. })
    }

    /// The key under which a failure is counted, e.g. `404 NoSuchKey`.
    pub fn error_key(&self) -> Option<String> {
        match self {
            Outcome::Ok { .. } => None,
            Outcome::Status(s, Some(code)) => Some(format!("{s} {code}")),
            Outcome::Status(s, None) => Some(s.to_string()),
            Outcome::Transport(e) => Some(format!("transport: {e}")),
            Outcome::Corrupt => Some("verify: wrong bytes".into()),
            Outcome::Client(e) => Some(format!("client: {e}")),
        }
    }
}

/// One request's outcome, its timings (to the response headers, TTFB, and
/// to the end of the body) and the response headers the modes look at.
pub struct Timed {
    pub outcome: Outcome,
    pub ttfb: Duration,
    pub total: Duration,
    pub etag: Option<String>,
    pub content_length: Option<u64>,
    /// `x-amz-version-id` (a PUT to a versioned bucket).
    pub version_id: Option<String>,
}

impl Timed {
    /// A request that was never sent.
    pub fn unsent(why: String) -> Self {
        timed(Instant::now(), Duration::ZERO, Outcome::Client(why))
    }
}

/// What the body of a request is.
pub enum Body {
    Empty,
    /// A small body signed with its SHA-256, sent with Content-MD5 (XML).
    Xml(Bytes),
    /// Object data of id `id`: streaming-signed, or UNSIGNED-PAYLOAD.
    Object(u64),
    /// Any other data (a snowball archive), sent as objects are, with the
    /// SHA-256 of each chunk (unused when unsigned).
    Data(Bytes, Arc<[[u8; 32]]>),
}

pub struct Client {
    host: String,
    conn: Option<SendRequest<ReqBody>>,
    signer: Signer,
    bucket: String,
    unsigned: bool,
    sse_s3: bool,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Client {
    /// `sse_s3`: ask for SSE-S3 on every object written (PutObject and
    /// CreateMultipartUpload; parts inherit it).
    /// `tls`: connect with HTTPS.
    pub fn new(
        host: &str,
        signer: Signer,
        bucket: &str,
        unsigned: bool,
        sse_s3: bool,
        tls: Option<tokio_rustls::TlsConnector>,
    ) -> Self {
        Client {
            host: host.to_owned(),
            conn: None,
            signer,
            bucket: bucket.to_owned(),
            unsigned,
            sse_s3,
            tls,
        }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<ReqBody>, String> {
        if self.conn.as_ref().is_none_or(|c| c.is_closed()) {
            let tcp = TcpStream::connect(&self.host)
                .await
                .map_err(|e| format!("connect {}: {e}", self.host))?;
            // Nagle would hold a request's last small write back until the
            // previous segment is acknowledged (delayed ACKs: up to 40 ms).
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let send = match &self.tls {
                None => {
                    let (send, conn) = http1::handshake(TokioIo::new(tcp))
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::spawn(conn);
                    send
                }
                Some(tls) => {
                    let name = crate::tls::server_name(&self.host)?;
                    let stream = tls
                        .connect(name, tcp)
                        .await
                        .map_err(|e| format!("TLS handshake with {}: {e}", self.host))?;
                    let (send, conn) = http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::spawn(conn);
                    send
                }
            };
            self.conn = Some(send);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// The request path for `key` (empty: the bucket).
    fn path(&self, key: &str) -> String {
        if key.is_empty() {
            format!("/{}", uri_encode(&self.bucket, false))
        } else {
            format!(
                "/{}/{}",
                uri_encode(&self.bucket, false),
                uri_encode(key, true)
            )
        }
    }

    /// Signs and sends a request (`query` canonical: sorted and encoded),
    /// then reads the response body into `sink`.
    pub async fn exchange(
        &mut self,
        method: Method,
        key: &str,
        query: &str,
        body: Body,
        payload: &Payload,
        sink: &mut Sink,
    ) -> Timed {
        self.exchange_with(method, key, query, body, payload, sink, &[])
            .await
    }

    /// As [`Client::exchange`], with more (signed) headers: lower-case
    /// names.
    #[allow(clippy::too_many_arguments)]
    pub async fn exchange_with(
        &mut self,
        method: Method,
        key: &str,
        query: &str,
        body: Body,
        payload: &Payload,
        sink: &mut Sink,
        headers: &[(&'static str, &str)],
    ) -> Timed {
        let start = Instant::now();
        let resp = self.send(method, key, query, body, payload, headers).await;
        self.receive(start, resp, sink).await
    }

    /// A PostObject upload: a `multipart/form-data` body POSTed to the
    /// bucket, authenticated by its own fields (no Authorization header).
    pub async fn post_form(&mut self, form: crate::post::Form, sink: &mut Sink) -> Timed {
        let start = Instant::now();
        let resp = self.send_form(form).await;
        self.receive(start, resp, sink).await
    }

    async fn send_form(&mut self, form: crate::post::Form) -> Result<Response<Incoming>, String> {
        let mut map = HeaderMap::with_capacity(3);
        let value = |v: &str| HeaderValue::from_str(v).map_err(|e| e.to_string());
        map.insert(http::header::HOST, value(&self.host)?);
        map.insert(http::header::CONTENT_TYPE, value(&form.content_type)?);
        map.insert(
            http::header::CONTENT_LENGTH,
            value(
                &form
                    .pieces
                    .iter()
                    .map(Bytes::len)
                    .sum::<usize>()
                    .to_string(),
            )?,
        );
        let mut req = Request::new(ReqBody::Pieces(form.pieces));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self
            .path("")
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        *req.headers_mut() = map;
        self.dispatch(req).await
    }

    /// Reads the response to a request started at `start` into `sink`.
    async fn receive(
        &mut self,
        start: Instant,
        resp: Result<Response<Incoming>, String>,
        sink: &mut Sink,
    ) -> Timed {
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return timed(start, start.elapsed(), Outcome::Transport(e)),
        };
        let ttfb = start.elapsed();
        let status = resp.status();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header(http::header::ETAG);
        let version_id = header(HeaderName::from_static("x-amz-version-id"));
        let content_length = header(http::header::CONTENT_LENGTH).and_then(|l| l.parse().ok());
        let mut body = resp.into_body();
        let mut received = 0u64;
        let mut error_body = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.conn = None;
                    return timed(start, ttfb, Outcome::Transport(e.to_string()));
                }
            };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            received += data.len() as u64;
            if !status.is_success() {
                if error_body.len() < 64 * 1024 {
                    error_body.extend_from_slice(data);
                }
                continue;
            }
            match sink {
                Sink::Discard => {}
                Sink::Verify(v) => v.feed(data),
                Sink::Collect(buf) => buf.extend_from_slice(data),
            }
        }
        let outcome = if !status.is_success() {
            let code = xml_value(&error_body, "Code");
            if let Sink::Collect(buf) = sink {
                *buf = error_body;
            }
            Outcome::Status(status.as_u16(), code)
        } else if matches!(sink, Sink::Verify(v) if !v.finish()) {
            Outcome::Corrupt
        } else {
            Outcome::Ok { bytes: received }
        };
        Timed {
            etag,
            content_length,
            version_id,
            ..timed(start, ttfb, outcome)
        }
    }

    async fn send(
        &mut self,
        method: Method,
        key: &str,
        query: &str,
        body: Body,
        payload: &Payload,
        more: &[(&'static str, &str)],
    ) -> Result<Response<Incoming>, String> {
        let path = self.path(key);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let timestamp = amz_date(now);
        let (payload_hash, length, mut extra) = match &body {
            Body::Empty => (EMPTY_SHA256.to_owned(), None, vec![]),
            Body::Xml(b) => {
                use base64::Engine as _;
                let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(b));
                (
                    sha256_hex(b),
                    Some(b.len() as u64),
                    vec![("content-md5", md5)],
                )
            }
            Body::Object(_) | Body::Data(..) if self.unsigned => (
                UNSIGNED_PAYLOAD.to_owned(),
                Some(body_len(&body, payload)),
                vec![],
            ),
            Body::Object(_) | Body::Data(..) => {
                let decoded = body_len(&body, payload);
                (
                    STREAMING_PAYLOAD.to_owned(),
                    Some(aws_chunked_len(decoded)),
                    vec![
                        ("content-encoding", "aws-chunked".to_owned()),
                        ("x-amz-decoded-content-length", decoded.to_string()),
                    ],
                )
            }
        };
        let creates = match &body {
            Body::Object(_) | Body::Data(..) => method == Method::PUT && query.is_empty(),
            _ => method == Method::POST && query == "uploads=",
        };
        if self.sse_s3 && creates {
            extra.push(("x-amz-server-side-encryption", "AES256".to_owned()));
        }
        extra.extend(more.iter().map(|(n, v)| (*n, (*v).to_owned())));
        let length = length.map(|l| l.to_string());
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", &self.host),
            ("x-amz-content-sha256", &payload_hash),
            ("x-amz-date", &timestamp),
        ];
        if let Some(l) = &length {
            headers.push(("content-length", l));
        }
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_str())));
        headers.sort_unstable_by_key(|(n, _)| *n);
        let sig = self.signer.sign(
            &timestamp,
            method.as_str(),
            &path,
            query,
            &headers,
            &payload_hash,
        );
        let mut map = HeaderMap::with_capacity(headers.len() + 1);
        for (n, v) in &headers {
            map.insert(
                HeaderName::from_static(n),
                HeaderValue::from_str(v).map_err(|e| e.to_string())?,
            );
        }
        map.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&sig.authorization).map_err(|e| e.to_string())?,
        );
        let req_body = match body {
            Body::Empty => ReqBody::Empty,
            Body::Xml(b) => ReqBody::Full(Some(b)),
            Body::Object(id) if self.unsigned => ReqBody::Full(Some(payload.object(id))),
            Body::Object(id) => ReqBody::Chunked(Chunked::new(
                payload.object(id),
                payload.chunk_hashes(id),
                ChunkSigner::new(&sig, &timestamp),
            )),
            Body::Data(data, _) if self.unsigned => ReqBody::Full(Some(data)),
            Body::Data(data, hashes) => ReqBody::Chunked(Chunked::new(
                data,
                hashes,
                ChunkSigner::new(&sig, &timestamp),
            )),
        };
        let uri = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        let mut req = Request::new(req_body);
        *req.method_mut() = method;
        *req.uri_mut() = uri
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        *req.headers_mut() = map;
        self.dispatch(req).await
    }

    /// Sends `req` on the connection, reopening it when the server closed it.
    async fn dispatch(&mut self, req: Request<ReqBody>) -> Result<Response<Incoming>, String> {
        // A connection the server closed since the last request is replaced.
        if self.connect().await?.ready().await.is_err() {
            self.conn = None;
        }
        let result = self.connect().await?.send_request(req).await;
        result.map_err(|e| {
            self.conn = None;
            e.to_string()
        })
    }
}

/// The decoded length of an object body.
fn body_len(body: &Body, payload: &Payload) -> u64 {
    match body {
        Body::Data(d, _) => d.len() as u64,
        _ => payload.size() as u64,
    }
}

/// Where a successful response body goes.
pub enum Sink {
    Discard,
    Verify(Verifier),
    Collect(Vec<u8>),
}

fn timed(start: Instant, ttfb: Duration, outcome: Outcome) -> Timed {
    Timed {
        outcome,
        ttfb,
        total: start.elapsed(),
        etag: None,
        content_length: None,
        version_id: None,
    }
}

/// The raw text of each `<tag>…</tag>` in `xml`. S3's answers here are flat
/// enough that no XML parser is needed; the search is on bytes because a
/// 1,000-key listing is large enough for UTF-8 validation to show.
fn elements<'a>(xml: &'a [u8], tag: &str) -> impl Iterator<Item = &'a [u8]> + 'a {
    let open = format!("<{tag}>").into_bytes();
    let close = memmem::Finder::new(&format!("</{tag}>")).into_owned();
    let mut rest = xml;
    std::iter::from_fn(move || {
        let i = memmem::find(rest, &open)? + open.len();
        let j = close.find(&rest[i..])?;
        let text = &rest[i..i + j];
        rest = &rest[i + j + close.needle().len()..];
        Some(text)
    })
}

/// The text of the first `<tag>…</tag>` in `xml`, entities decoded.
pub fn xml_value(xml: &[u8], tag: &str) -> Option<String> {
    elements(xml, tag).next().map(unescape)
}

/// How many `<tag>` elements `xml` has.
pub fn xml_count(xml: &[u8], tag: &str) -> usize {
    memmem::find_iter(xml, format!("<{tag}>").as_bytes()).count()
}

/// The text of every `<tag>…</tag>` in `xml`, entities decoded.
pub fn xml_values(xml: &[u8], tag: &str) -> Vec<String> {
    elements(xml, tag).map(unescape).collect()
}

fn unescape(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if !s.contains('&') {
        return s.into_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Escapes text for an XML element.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_values_are_found_and_unescaped() {
        let x = b"<R><Key>a&amp;b</Key><Key>c</Key><Code>NoSuchKey</Code></R>";
        assert_eq!(xml_values(x, "Key"), ["a&b", "c"]);
        assert_eq!(xml_value(x, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(xml_value(x, "Missing"), None);
        assert_eq!(xml_count(x, "Key"), 2);
        assert_eq!(xml_count(x, "Ke"), 0);
        assert_eq!(xml_values(b"<a><K>x</K><K>unclosed", "K"), ["x"]);
        assert_eq!(escape("a<&>"), "a&lt;&amp;&gt;");
    }

    #[test]
    fn error_keys_name_status_and_code() {
        assert_eq!(Outcome::Ok { bytes: 1 }.error_key(), None);
        assert_eq!(
            Outcome::Status(501, Some("NotImplemented".into()))
                .error_key()
                .as_deref(),
            Some("501 NotImplemented")
        );
        assert_eq!(
            Outcome::Status(404, None).error_key().as_deref(),
            Some("404")
        );
    }
}
