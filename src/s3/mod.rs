//! The S3 protocol, in three layers. Pure protocol pieces: routing
//! (`router`: one table from request to `Route { bucket, key, op }`, each
//! `Op` naming its IAM action), errors, XML (`xml`, and `xml_multipart`,
//! `xml_versioning`, `xml_tagging`), ranges, conditional requests, `auth`
//! and the request `body`. Then `common`, what operations share. Then one
//! leaf module per group of operations (`bucket`, `put`, `get`, `delete`,
//! `copy`, `list`, `multipart`, `versions`, `tagging`, `attributes`, `acl`,
//! `website`, `notification`, `logging`, `post` for browser form uploads, `zip` for MinIO's reads of zip
//! members), which
//! import the layers below and never each other; `handler`, the entry
//! point, dispatches on the `Op`, and `website_host`, the entry point of
//! website requests, serves them with GetObject's code.

pub mod acl;
pub mod attributes;
pub mod auth;
pub mod authorize;
pub mod body;
pub mod bucket;
pub mod bucket_policy;
pub mod common;
pub mod conditional;
pub mod copy;
pub mod cors;
pub mod delete;
pub mod encryption;
pub mod error;
pub mod get;
pub mod handler;
pub mod lifecycle;
pub mod list;
pub mod lock;
pub mod logging;
pub mod multipart;
pub mod notification;
pub mod post;
pub mod put;
pub mod range;
pub mod router;
pub mod snowball;
pub mod sse;
pub mod tagging;
pub mod tenant;
pub mod versions;
pub mod website;
pub mod website_host;
pub mod xml;
pub mod xml_acl;
pub mod xml_cors;
pub mod xml_encryption;
#[cfg(test)]
mod xml_golden;
pub mod xml_lifecycle;
pub mod xml_lock;
pub mod xml_logging;
pub mod xml_multipart;
pub mod xml_notification;
pub mod xml_tagging;
pub mod xml_versioning;
pub mod xml_website;
pub mod zip;

#[cfg(test)]
mod tests {
    /// Operation modules, by file, with their source.
    const OPERATIONS: [(&str, &str); 20] = [
        ("acl", include_str!("acl.rs")),
        ("attributes", include_str!("attributes.rs")),
        ("bucket", include_str!("bucket.rs")),
        ("copy", include_str!("copy.rs")),
        ("delete", include_str!("delete.rs")),
        ("get", include_str!("get.rs")),
        ("list", include_str!("list.rs")),
        ("logging", include_str!("logging.rs")),
        ("multipart", include_str!("multipart.rs")),
        ("notification", include_str!("notification.rs")),
        ("post", include_str!("post/mod.rs")),
        ("post/form", include_str!("post/form.rs")),
        ("post/policy", include_str!("post/policy.rs")),
        ("post/fanout", include_str!("post/fanout.rs")),
        ("put", include_str!("put.rs")),
        ("tagging", include_str!("tagging.rs")),
        ("versions", include_str!("versions.rs")),
        ("website", include_str!("website.rs")),
        ("zip", include_str!("zip/mod.rs")),
        ("zip/dir", include_str!("zip/dir.rs")),
    ];

    /// Below the operations: protocol modules and the common layer.
    const LOWER: [(&str, &str); 12] = [
        ("router", include_str!("router.rs")),
        ("body", include_str!("body.rs")),
        ("conditional", include_str!("conditional.rs")),
        ("range", include_str!("range.rs")),
        ("common/mod", include_str!("common/mod.rs")),
        ("common/ctx", include_str!("common/ctx.rs")),
        ("common/response", include_str!("common/response.rs")),
        ("common/version", include_str!("common/version.rs")),
        ("common/metadata", include_str!("common/metadata.rs")),
        (
            "common/preconditions",
            include_str!("common/preconditions.rs"),
        ),
        ("common/copy_source", include_str!("common/copy_source.rs")),
        ("common/acl", include_str!("common/acl.rs")),
    ];

    fn names_module(src: &str, module: &str) -> bool {
        ["super::", "crate::s3::"].iter().any(|p| {
            src.match_indices(&format!("{p}{module}")).any(|(i, m)| {
                let next = src[i + m.len()..].chars().next();
                !next.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
    }

    #[test]
    fn operations_are_leaves_over_common_and_protocol_layers() {
        let above: Vec<&str> = OPERATIONS
            .iter()
            .map(|(m, _)| *m)
            .chain(["handler", "website_host"])
            .collect();
        for (name, src) in OPERATIONS.iter().chain(LOWER.iter()) {
            for m in &above {
                assert!(!names_module(src, m), "{name} imports {m}");
            }
        }
    }
}
