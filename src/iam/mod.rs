//! Identities and access: the root credentials, the action vocabulary
//! policies are written in, IAM's wildcard matching and the policy language.

pub mod action;
pub mod api;
pub mod policy;
pub mod root;
pub mod wildcard;
