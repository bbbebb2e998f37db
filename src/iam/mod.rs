//! Identities and access: the root credentials, the action vocabulary
//! policies are written in, IAM's wildcard matching, the policy language
//! and the identity store (model, sealed secrets, replicated storage,
//! per-core snapshots, STS session tokens).

pub mod acl;
pub mod action;
pub mod api;
pub mod identities;
pub mod model;
pub mod policy;
pub mod root;
pub mod seal;
pub mod store;
pub mod sts;
pub mod wildcard;
