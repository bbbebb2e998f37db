//! Live request trace (`GET /_cairn/admin/v1/trace`): every completed
//! request's access-log line, offered to at most [`MAX_SUBSCRIBERS`]
//! subscribers, each with its own filter.
//!
//! Nobody subscribed costs a request one atomic load ([`active`]). With
//! subscribers, the core that served a request formats its line and offers
//! it to one broker thread over a bounded channel, never waiting: a full
//! channel drops the line and counts it. The broker applies each
//! subscriber's filter and offers the line to the subscriber's own bounded
//! queue; a reader that falls behind loses lines, and the next line it gets
//! is preceded by `{"dropped":N}`. No lock anywhere: subscribing and lines
//! are messages to the broker, and a subscriber that went away is noticed
//! by its closed queue.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender, TrySendError};
use bytes::Bytes;

/// Most subscribers at once; one more is refused (503 SlowDown).
pub const MAX_SUBSCRIBERS: usize = 16;
/// Lines waiting for one subscriber's reader.
pub const SUBSCRIBER_QUEUE: usize = 1024;
/// Lines waiting for the broker, from every core.
const BROKER_QUEUE: usize = 8192;

/// Subscribers now (the one load a request pays).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Lines the broker never saw because its queue was full.
static BROKER_DROPPED: AtomicU64 = AtomicU64::new(0);
static BROKER: OnceLock<Option<Sender<Msg>>> = OnceLock::new();

/// Whether anyone is subscribed: requests keep their details only then
/// (or when a log wants them).
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed) > 0
}

/// Which lines a subscriber wants; every field given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub bucket: Option<String>,
    /// Keys starting with this.
    pub prefix: Option<String>,
    pub status: Option<StatusFilter>,
    /// Only failures (status 400 and up).
    pub errors: bool,
    /// The caller's user name (`root`'s requests are the root user's).
    pub user: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    /// `4xx`, `5xx`: the hundreds digit.
    Class(u16),
    Code(u16),
}

impl StatusFilter {
    /// `4xx`, `5xx` (any `Nxx` from 1 to 5) or a code from 100 to 599.
    pub fn parse(s: &str) -> Option<StatusFilter> {
        let b = s.as_bytes();
        if b.len() == 3 && b[1..].eq_ignore_ascii_case(b"xx") && (b'1'..=b'5').contains(&b[0]) {
            return Some(StatusFilter::Class(u16::from(b[0] - b'0')));
        }
        match s.parse::<u16>() {
            Ok(c) if (100..=599).contains(&c) && b.len() == 3 => Some(StatusFilter::Code(c)),
            _ => None,
        }
    }

    fn matches(self, status: u16) -> bool {
        match self {
            StatusFilter::Class(c) => status / 100 == c,
            StatusFilter::Code(c) => status == c,
        }
    }
}

/// What a filter looks at of one request.
#[derive(Debug, Default)]
pub struct Meta {
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub user: Option<String>,
    pub status: u16,
}

impl Filter {
    pub fn matches(&self, m: &Meta) -> bool {
        let eq = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        eq(&self.bucket, &m.bucket)
            && eq(&self.user, &m.user)
            && self
                .prefix
                .as_ref()
                .is_none_or(|p| m.key.as_deref().is_some_and(|k| k.starts_with(p.as_str())))
            && self.status.is_none_or(|s| s.matches(m.status))
            && (!self.errors || m.status >= 400)
    }
}

enum Msg {
    Line(Meta, Bytes),
    Subscribe(Filter, Sender<Bytes>),
}

/// One subscriber's end: its lines, and its slot while it lives.
pub struct Subscription {
    rx: Pin<Box<Receiver<Bytes>>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // The broker sees the queue closed and forgets the subscriber.
        self.rx.close();
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a subscription was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SubscribeError {
    /// [`MAX_SUBSCRIBERS`] are subscribed.
    Full,
    /// The broker thread could not start.
    Unavailable,
}

/// Subscribes with `filter`: lines of requests completed from now on.
pub async fn subscribe(filter: Filter) -> Result<Subscription, SubscribeError> {
    let broker = broker().ok_or(SubscribeError::Unavailable)?;
    ACTIVE
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < MAX_SUBSCRIBERS).then_some(n + 1)
        })
        .map_err(|_| SubscribeError::Full)?;
    let (tx, rx) = async_channel::bounded(SUBSCRIBER_QUEUE);
    let sub = Subscription { rx: Box::pin(rx) };
    // The broker drains its queue at once: this waits only behind lines.
    broker
        .send(Msg::Subscribe(filter, tx))
        .await
        .map_err(|_| SubscribeError::Unavailable)?;
    Ok(sub)
}

/// Offers one completed request's line (`line` writes it, without the
/// newline) to the subscribers. Never waits.
pub fn publish(meta: Meta, line: impl FnOnce(&mut Vec<u8>)) {
    let Some(Some(broker)) = BROKER.get() else {
        return;
    };
    let mut out = Vec::with_capacity(384);
    line(&mut out);
    out.push(b'\n');
    if broker.try_send(Msg::Line(meta, Bytes::from(out))).is_err() {
        BROKER_DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

fn broker() -> Option<&'static Sender<Msg>> {
    BROKER
        .get_or_init(|| {
            let (tx, rx) = async_channel::bounded(BROKER_QUEUE);
            match std::thread::Builder::new()
                .name("cairn-trace".into())
                .spawn(move || run_broker(rx))
            {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the trace broker");
                    None
                }
            }
        })
        .as_ref()
}

struct Subscriber {
    filter: Filter,
    tx: Sender<Bytes>,
    /// Lines lost since the reader last got one.
    dropped: u64,
}

impl Subscriber {
    /// Offers a line; a reader behind loses it, and learns how many it lost
    /// before the next line it gets. False once the reader has gone.
    fn offer(&mut self, line: &Bytes) -> bool {
        if self.dropped > 0 {
            let note = Bytes::from(format!("{{\"dropped\":{}}}\n", self.dropped));
            match self.tx.try_send(note) {
                Ok(()) => self.dropped = 0,
                Err(TrySendError::Full(_)) => {
                    self.dropped += 1;
                    return true;
                }
                Err(TrySendError::Closed(_)) => return false,
            }
        }
        match self.tx.try_send(line.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

fn run_broker(rx: Receiver<Msg>) {
    let mut subs: Vec<Subscriber> = Vec::new();
    while let Ok(msg) = rx.recv_blocking() {
        match msg {
            Msg::Subscribe(filter, tx) => {
                subs.retain(|s| !s.tx.is_closed());
                subs.push(Subscriber {
                    filter,
                    tx,
                    dropped: 0,
                });
            }
            Msg::Line(meta, line) => {
                let lost = BROKER_DROPPED.swap(0, Ordering::Relaxed);
                // Lines the broker never saw may have been any subscriber's.
                subs.retain_mut(|s| {
                    s.dropped += lost;
                    !s.filter.matches(&meta) || s.offer(&line)
                });
            }
        }
    }
}

/// A subscription as a response body: one line a frame, until the client
/// goes away (hyper then drops the body, which unsubscribes).
pub struct TraceBody {
    sub: Subscription,
}

impl TraceBody {
    pub fn new(sub: Subscription) -> TraceBody {
        TraceBody { sub }
    }
}

impl http_body::Body for TraceBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        use futures_util::Stream as _;
        match self.get_mut().sub.rx.as_mut().poll_next(cx) {
            Poll::Ready(Some(line)) => Poll::Ready(Some(Ok(http_body::Frame::data(line)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(bucket: &str, key: &str, user: &str, status: u16) -> Meta {
        Meta {
            bucket: Some(bucket.into()),
            key: Some(key.into()),
            user: Some(user.into()),
            status,
        }
    }

    #[test]
    fn filters_match_bucket_prefix_status_errors_and_user() {
        let m = meta("photos", "2026/a.jpg", "alice", 404);
        assert!(Filter::default().matches(&m));
        let f = |f: Filter| f.matches(&m);
        assert!(f(Filter {
            bucket: Some("photos".into()),
            prefix: Some("2026/".into()),
            status: StatusFilter::parse("4xx"),
            errors: true,
            user: Some("alice".into()),
        }));
        assert!(!f(Filter {
            bucket: Some("photo".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            prefix: Some("2025/".into()),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            status: StatusFilter::parse("5xx"),
            ..Filter::default()
        }));
        assert!(f(Filter {
            status: StatusFilter::parse("404"),
            ..Filter::default()
        }));
        assert!(!f(Filter {
            user: Some("bob".into()),
            ..Filter::default()
        }));
        let ok = meta("photos", "k", "alice", 200);
        assert!(!Filter {
            errors: true,
            ..Filter::default()
        }
        .matches(&ok));
        let no_key = Meta {
            status: 200,
            ..Meta::default()
        };
        assert!(!Filter {
            prefix: Some("a".into()),
            ..Filter::default()
        }
        .matches(&no_key));
    }

    #[test]
    fn status_filters_parse_classes_and_codes_only() {
        assert_eq!(StatusFilter::parse("4xx"), Some(StatusFilter::Class(4)));
        assert_eq!(StatusFilter::parse("5XX"), Some(StatusFilter::Class(5)));
        assert_eq!(StatusFilter::parse("503"), Some(StatusFilter::Code(503)));
        for bad in ["", "4x", "6xx", "0xx", "99", "600", "abc", "4xxx", "+50"] {
            assert_eq!(StatusFilter::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_reader_behind_loses_lines_and_is_told_how_many() {
        let (tx, rx) = async_channel::bounded(2);
        let mut s = Subscriber {
            filter: Filter::default(),
            tx,
            dropped: 0,
        };
        for i in 0..5 {
            assert!(s.offer(&Bytes::from(format!("{i}\n"))));
        }
        assert_eq!(s.dropped, 3);
        assert_eq!(rx.try_recv().ok(), Some(Bytes::from("0\n")));
        assert_eq!(rx.try_recv().ok(), Some(Bytes::from("1\n")));
        assert!(rx.try_recv().is_err());
        assert!(s.offer(&Bytes::from("5\n")));
        assert_eq!(rx.try_recv().ok(), Some(Bytes::from("{\"dropped\":3}\n")));
        assert_eq!(rx.try_recv().ok(), Some(Bytes::from("5\n")));
        assert_eq!(s.dropped, 0);
        drop(rx);
        assert!(!s.offer(&Bytes::from("6\n")), "a reader gone is forgotten");
    }
}
