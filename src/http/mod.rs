//! HTTP on every core: one SO_REUSEPORT listener per core, hyper 1 HTTP/1.1
//! over monoio's io_uring sockets (poll-io adapter), requests handled on the
//! core that accepted them.

pub mod health;
pub mod server;
