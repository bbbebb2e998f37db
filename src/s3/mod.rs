//! The S3 protocol. Pure pieces: routing (`router`), errors, XML (`xml`, and
//! `xml_multipart`, `xml_versioning`, `xml_tagging` for those features'
//! documents), ranges, conditional requests. On top of them the front end:
//! `handler` (the entry point), `auth`, the request `body`, and one module
//! per group of operations (`bucket`, `put`, `get`, `delete`, `copy`,
//! `list`, `multipart`, `versions`, `tagging`, `attributes`, and `post` for
//! browser form uploads).

pub mod attributes;
pub mod auth;
pub mod body;
pub mod bucket;
pub mod conditional;
pub mod copy;
pub mod delete;
pub mod error;
pub mod get;
pub mod handler;
pub mod list;
pub mod multipart;
pub mod post;
pub mod put;
pub mod range;
pub mod router;
pub mod tagging;
pub mod versions;
pub mod xml;
pub mod xml_multipart;
pub mod xml_tagging;
pub mod xml_versioning;
