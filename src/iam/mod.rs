//! Identities and access: the root credentials, the action vocabulary
//! policies are written in, and IAM's wildcard matching.

pub mod action;
pub mod api;
pub mod root;
pub mod wildcard;
