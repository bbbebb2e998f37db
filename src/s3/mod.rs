//! The S3 protocol: routing (`router`), errors, XML, ranges, conditional
//! requests. Pure functions; the handlers that call the engine build on them.

pub mod conditional;
pub mod error;
pub mod range;
pub mod router;
pub mod xml;
