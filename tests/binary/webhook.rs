//! A webhook receiver for notification tests: a loopback HTTP (or HTTPS)
//! server that keeps every POST's JSON body and Authorization header,
//! answering 200, or 503 while `down`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What the receiver got: each POST's Authorization header and body.
pub type Received = Mutex<Vec<(Option<String>, Value)>>;

/// A webhook receiver: every POST's JSON body and Authorization header,
/// answered 200, or 503 while `down`.
pub struct Receiver {
    pub port: u16,
    pub got: Arc<Received>,
    pub down: Arc<AtomicBool>,
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_tls(None)
    }

    /// Serving HTTPS with `tls` when given.
    pub fn start_tls(tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let (g, d) = (got.clone(), down.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let (g, d, tls) = (g.clone(), d.clone(), tls.clone());
                std::thread::spawn(move || match tls {
                    None => serve(conn, &g, &d),
                    Some(cfg) => {
                        let Ok(server) = rustls::ServerConnection::new(cfg) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(server, conn), &g, &d)
                    }
                });
            }
        });
        Receiver { port, got, down }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    /// The events received so far: (event name, key).
    pub fn events(&self) -> Vec<(String, String)> {
        self.got
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, v)| {
                let r = &v["Records"][0];
                (
                    r["eventName"].as_str().unwrap_or("").to_owned(),
                    r["s3"]["object"]["key"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }
}

/// Keep-alive HTTP/1.1: requests with Content-Length bodies.
fn serve<S: Read + Write>(conn: S, got: &Received, down: &AtomicBool) {
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0usize;
        let mut auth = None;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap_or((h, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => len = value.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let status = if down.load(Ordering::SeqCst) {
            "503 Service Unavailable"
        } else {
            let v: Value = serde_json::from_slice(&body).expect("event JSON");
            got.lock().expect("lock").push((auth, v));
            "200 OK"
        };
        let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        if r.get_mut().write_all(reply.as_bytes()).is_err() || r.get_mut().flush().is_err() {
            return;
        }
    }
}
