//! Sockets on the executor's io_uring, and what hyper and rustls need to
//! drive them: monoio's poll-io adapter (its `AsyncRead`/`AsyncWrite` are
//! tokio's traits, which tokio-rustls takes) and monoio-compat's hyper
//! adapters.

use std::io;
use std::net::SocketAddr;

pub use monoio::io::poll_io::{AsyncRead, AsyncWrite, ReadBuf};
pub use monoio::net::tcp::stream_poll::TcpStreamPoll;
pub use monoio::net::{TcpListener, TcpStream};
pub use monoio_compat::hyper::{MonoioIo as HyperIo, MonoioTimer as HyperTimer};

/// A listener on `addr` with SO_REUSEPORT, so that every core binds the same
/// address and the kernel spreads connections over them, and a backlog of
/// `backlog` connections not yet accepted.
pub fn listen_reuseport(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    TcpListener::bind_with_config(
        addr,
        &monoio::net::ListenerOpts::new()
            .reuse_port(true)
            .reuse_addr(true)
            .backlog(backlog),
    )
}
