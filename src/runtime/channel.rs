//! Cross-core channels. monoio has none of its own; these are lock-free
//! (concurrent-queue based) and wake a parked monoio executor on another core
//! through its eventfd (monoio's `sync` feature).

pub use async_channel::{bounded, Receiver, RecvError, SendError, Sender, TrySendError};
pub use futures_channel::oneshot;
