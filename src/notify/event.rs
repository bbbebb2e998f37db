//! One event as the outbox keeps it, and as a target receives it: S3's
//! event message (`{"Records":[…]}`, event version 2.1) with MinIO's
//! `EventName` and `Key` beside it, which MinIO's webhook consumers read.
//! Pure: no I/O, no clock.

use crate::engine::buckets::{name_in_tenant, tenant_of};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a request did, as the S3 layer tells the engine; with the outcome
/// (did a delete make a marker?) it names the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Put,
    Post,
    Copy,
    CompleteMultipartUpload,
    Delete,
    /// The lifecycle worker's delete.
    Expire,
    PutTagging,
    DeleteTagging,
    PutAcl,
}

impl Action {
    /// The event's type without `s3:`; `marker` says the change made a
    /// delete marker.
    pub fn event_name(self, marker: bool) -> &'static str {
        match (self, marker) {
            (Action::Put, _) => "ObjectCreated:Put",
            (Action::Post, _) => "ObjectCreated:Post",
            (Action::Copy, _) => "ObjectCreated:Copy",
            (Action::CompleteMultipartUpload, _) => "ObjectCreated:CompleteMultipartUpload",
            (Action::Delete, false) => "ObjectRemoved:Delete",
            (Action::Delete, true) => "ObjectRemoved:DeleteMarkerCreated",
            (Action::Expire, false) => "LifecycleExpiration:Delete",
            (Action::Expire, true) => "LifecycleExpiration:DeleteMarkerCreated",
            (Action::PutTagging, _) => "ObjectTagging:Put",
            (Action::DeleteTagging, _) => "ObjectTagging:Delete",
            (Action::PutAcl, _) => "ObjectAcl:Put",
        }
    }
}

/// Who asked for a change, carried with it to the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub action: Action,
    /// The caller's principal (its access key's user), or `anonymous`.
    pub principal: String,
    pub source_ip: String,
    pub request_id: String,
}

impl Origin {
    /// A change the node makes itself (the lifecycle worker).
    pub fn node(action: Action) -> Origin {
        Origin {
            action,
            principal: "cairn".into(),
            source_ip: String::new(),
            request_id: String::new(),
        }
    }
}

/// The outbox's record of one event for one target (postcard, in the
/// partition's index: the transaction that makes the change writes it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// The event's type without `s3:` (`ObjectCreated:Put`).
    pub name: String,
    pub time_ms: u64,
    pub bucket: String,
    pub key: String,
    /// The version's id as clients name it; None for an unversioned write.
    pub version_id: Option<String>,
    /// Size and ETag (no quotes) of a created object.
    pub size: Option<u64>,
    pub etag: Option<String>,
    /// The change's sequence number in its partition.
    pub seq: u64,
    /// The rule's `Id`.
    pub config_id: String,
    pub principal: String,
    pub source_ip: String,
    pub request_id: String,
}

/// S3 encodes the key in events as a URL's query value (space as `+`).
fn encode_key(key: &str) -> String {
    form_urlencoded::byte_serialize(key.as_bytes()).collect()
}

impl EventRow {
    /// The body a target receives for this event.
    pub fn message(&self, region: &str) -> Value {
        // A tenant's bucket by its users' name; its ARN names the tenant in
        // the account field, as Ceph RGW's do.
        let bucket = name_in_tenant(&self.bucket);
        let arn = format!("arn:aws:s3::{}:{bucket}", tenant_of(&self.bucket));
        let mut object = json!({
            "key": encode_key(&self.key),
            "sequencer": format!("{:016X}", self.seq),
        });
        if let Some(s) = self.size {
            object["size"] = json!(s);
        }
        if let Some(e) = &self.etag {
            object["eTag"] = json!(e);
        }
        if let Some(v) = &self.version_id {
            object["versionId"] = json!(v);
        }
        json!({
            "EventName": format!("s3:{}", self.name),
            "Key": format!("{bucket}/{}", self.key),
            "Records": [{
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": crate::s3::xml::iso8601_ms(self.time_ms),
                "eventName": self.name,
                "userIdentity": { "principalId": self.principal },
                "requestParameters": { "sourceIPAddress": self.source_ip },
                "responseElements": {
                    "x-amz-request-id": self.request_id,
                    "x-amz-id-2": self.request_id,
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": self.config_id,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": { "principalId": self.principal },
                        "arn": arn,
                    },
                    "object": object,
                },
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> EventRow {
        EventRow {
            name: Action::Put.event_name(false).into(),
            time_ms: 1_733_011_200_123,
            bucket: "photos".into(),
            key: "2024/a b+c.jpg".into(),
            version_id: None,
            size: Some(42),
            etag: Some("abc".into()),
            seq: 0x1_0000_0007,
            config_id: "jpgs".into(),
            principal: "alice".into(),
            source_ip: "127.0.0.1".into(),
            request_id: "R1".into(),
        }
    }

    #[test]
    fn a_tenants_event_names_its_bucket_as_its_users_do_and_the_tenant_in_the_arn() {
        let mut r = row();
        r.bucket = "acme:photos".into();
        let m = r.message("us-east-1");
        assert_eq!(m["Key"], "photos/2024/a b+c.jpg");
        let b = &m["Records"][0]["s3"]["bucket"];
        assert_eq!(b["name"], "photos");
        assert_eq!(b["arn"], "arn:aws:s3::acme:photos");
    }

    #[test]
    fn a_created_event_has_s3s_shape() {
        let m = row().message("us-east-1");
        assert_eq!(m["EventName"], "s3:ObjectCreated:Put");
        assert_eq!(m["Key"], "photos/2024/a b+c.jpg");
        let r = &m["Records"][0];
        assert_eq!(r["eventVersion"], "2.1");
        assert_eq!(r["eventSource"], "aws:s3");
        assert_eq!(r["eventTime"], "2024-12-01T00:00:00.123Z");
        assert_eq!(r["eventName"], "ObjectCreated:Put");
        assert_eq!(r["s3"]["configurationId"], "jpgs");
        assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::photos");
        let o = &r["s3"]["object"];
        assert_eq!(o["key"], "2024%2Fa+b%2Bc.jpg");
        assert_eq!(o["size"], 42);
        assert_eq!(o["eTag"], "abc");
        assert_eq!(o["sequencer"], "0000000100000007");
        assert!(o.get("versionId").is_none());
    }

    #[test]
    fn a_removed_event_has_no_size_and_names_its_version() {
        let mut e = row();
        e.name = Action::Delete.event_name(true).into();
        e.size = None;
        e.etag = None;
        e.version_id = Some("0123".into());
        let m = e.message("r");
        let o = &m["Records"][0]["s3"]["object"];
        assert_eq!(
            m["Records"][0]["eventName"],
            "ObjectRemoved:DeleteMarkerCreated"
        );
        assert!(o.get("size").is_none() && o.get("eTag").is_none());
        assert_eq!(o["versionId"], "0123");
    }

    #[test]
    fn every_action_names_an_event_s3_lists() {
        use Action::*;
        for a in [
            Put,
            Post,
            Copy,
            CompleteMultipartUpload,
            Delete,
            Expire,
            PutTagging,
            DeleteTagging,
            PutAcl,
        ] {
            for marker in [false, true] {
                let name = format!("s3:{}", a.event_name(marker));
                assert!(super::super::EVENTS.contains(&name.as_str()), "{name}");
            }
        }
    }
}
