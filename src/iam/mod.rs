//! Identities. For now: the root credentials.

pub mod root;
