//! HTTP on every core: one SO_REUSEPORT listener per core, hyper 1 HTTP/1.1
//! over monoio's io_uring sockets (poll-io adapter), requests handled on the
//! core that accepted them. HTTPS with rustls when a certificate is given,
//! handed to kernel TLS after the handshake where the kernel has it (`ktls`);
//! limits on idle and slow clients in `limits`, on who holds connection
//! slots in `conns`, on request rates in `ratelimit`.

pub mod body;
pub mod conns;
pub mod health;
pub mod ktls;
pub mod limits;
pub mod ratelimit;
pub mod server;
pub mod tls;
