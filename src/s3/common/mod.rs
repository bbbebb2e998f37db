//! What S3 operations share. An operation file (`bucket`, `put`, `get`,
//! `copy`, `delete`, `list`, `multipart`, `versions`, `tagging`,
//! `attributes`) imports this layer, the protocol modules (`router`,
//! `error`, `xml*`, `body`, `range`, `conditional`) and the engine, and
//! never another operation; nothing here imports an operation. The handler
//! sits on top and dispatches on the route's `Op`.

pub mod acl;
pub mod copy_source;
pub mod ctx;
pub mod expiration;
pub mod metadata;
pub mod preconditions;
pub mod response;
pub mod version;
