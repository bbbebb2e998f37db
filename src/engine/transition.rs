//! Transitions: one version's data rewritten into another storage class's
//! drives and layout, in the background, without a new version. The copy
//! is written first under a new data generation (`class::ClassAttr`), then
//! the version's commit record is rewritten under the key's lock, so a
//! reader sees the old data or the new, never a mix, and a crash in
//! between leaves the old data in place and the copy as garbage. The old
//! data goes by the normal path: compaction, once no read still uses it.

use std::rc::Rc;

use bytes::Bytes;

use super::class::{self, ClassId};
use super::index::{object_key, Holder, Mutation};
use super::meta::{DataLoc, IndexEntry, PartData, Stripes, VersionSel};
use super::read::ObjectReader;
use super::sealing;
use super::write::{validate_key, StripeTarget};
use super::{BodyChunk, BodySource, CoreMsg, Engine, EngineError, Result};
use crate::runtime::channel::oneshot;

/// What a transition did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// The data is in the class now; the version says so.
    Moved,
    /// The version already was of the class: nothing written.
    Already,
    /// The version was replaced, deleted or moved meanwhile: left as it is
    /// (the copy is garbage for compaction).
    Superseded,
    /// The version's bytes are deduplicated content other keys may share:
    /// it stays where its content is.
    Deduplicated,
}

/// A version's stored bytes as a body for `write_stripes` (or, for a
/// completion in a dedup bucket, `write_content`).
pub(super) struct StoredBody(pub(super) ObjectReader);

impl BodySource for StoredBody {
    fn supplies_md5(&self) -> bool {
        // The ETag is the version's own; no hash of the copy is wanted.
        true
    }

    async fn next_chunk(&mut self) -> Result<BodyChunk> {
        match self.0.next_chunk().await {
            Some(Ok(b)) => Ok(BodyChunk::Data(b)),
            Some(Err(e)) => Err(e),
            None => Ok(BodyChunk::End(Some([0; 16]))),
        }
    }
}

impl Engine {
    /// Moves the data of the latest version (`version` None) or the named
    /// one into storage class `class`, keeping its version id, ETag,
    /// metadata, tags, checksums and encryption. Runs on any core; the
    /// work is the key's owner's.
    pub async fn transition(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        class: &str,
    ) -> Result<TransitionOutcome> {
        validate_key(key)?;
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        let class = self
            .shared
            .classes
            .id_of(class)
            .ok_or_else(|| EngineError::InvalidStorageClass(class.to_owned()))?;
        let owner = self.shared.owner_of(self.shared.partition_of(bucket, key));
        if owner == self.core {
            return self.transition_owned(bucket, key, version, class).await;
        }
        let (tx, rx) = oneshot::channel();
        self.send_to(
            owner,
            CoreMsg::Transition {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version,
                class,
                reply: tx,
            },
        )
        .await?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    pub(super) async fn transition_owned(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        version: Option<VersionSel>,
        class: ClassId,
    ) -> Result<TransitionOutcome> {
        let partition = self.shared.partition_of(bucket, key);
        self.assert_owner(partition);
        let _writing = self.begin_read();
        let entry = match self.lookup(bucket, key, version)? {
            None if version.is_some() => return Err(EngineError::NoSuchVersion),
            None => return Err(EngineError::NoSuchKey),
            Some(e) if e.meta.delete_marker => return Err(EngineError::DeleteMarker),
            Some(e) => e,
        };
        let to = self.shared.classes.get(class);
        if class::class_name(&entry.meta.attrs) == to.name {
            return Ok(TransitionOutcome::Already);
        }
        self.check_class_space(class)?;
        // A sequence number is unique in the partition: no earlier copy of
        // this version's data can have it as its generation.
        let data_gen = {
            let held = self.key_locks.lock(object_key(bucket, key)).await;
            self.next_seq(&held, bucket, key, partition)
        };
        let sealed = sealing::layout_of(&entry.meta)?;
        let target = |version, part, rotation: u16| StripeTarget {
            bucket,
            key,
            partition,
            version,
            part,
            rotation: usize::from(rotation),
            stripe_data: sealing::stripe_data(sealed),
            class,
            data_gen,
        };
        let (data, inline) = match &entry.meta.data {
            DataLoc::Content { .. } => return Ok(TransitionOutcome::Deduplicated),
            DataLoc::Inline => {
                // Inline bytes live in the commit records, whatever the
                // class: only the record changes.
                let mut r = self
                    .open_stored_span(
                        bucket,
                        key,
                        entry.clone(),
                        (0, sealing::stored_len(sealed, entry.meta.size)),
                    )
                    .await?;
                (DataLoc::Inline, r.read_all().await?)
            }
            DataLoc::Stripes(_) => {
                let span = (0, sealing::stored_len(sealed, entry.meta.size));
                let t = target(entry.meta.version, 0, entry.meta.rotation);
                let stripes = self.copy_span(bucket, key, &entry, span, &t).await?;
                (DataLoc::Stripes(stripes), Vec::new())
            }
            DataLoc::Parts { upload, parts } => {
                let mut moved = Vec::with_capacity(parts.len());
                let mut at = 0;
                for p in parts {
                    let len = sealing::stored_len(sealed, p.size);
                    let t = target(*upload, p.number, p.rotation);
                    let stripes = self
                        .copy_span(bucket, key, &entry, (at, at + len), &t)
                        .await?;
                    at += len;
                    moved.push(PartData {
                        stripes,
                        ..p.clone()
                    });
                }
                (
                    DataLoc::Parts {
                        upload: *upload,
                        parts: moved,
                    },
                    Vec::new(),
                )
            }
        };
        let held = self.key_locks.lock(object_key(bucket, key)).await;
        let sel = entry.meta.sel();
        let now = self.shared.indexes[partition as usize].get_version(bucket, key, sel)?;
        // The same version with the same data (edits of its tags or
        // headers meanwhile are kept; compaction may have moved its old
        // records, which are dropped anyway).
        let Some(mut meta) = now.map(|e| e.meta).filter(|m| {
            m.version == entry.meta.version
                && !m.delete_marker
                && class::class_attr(&m.attrs) == class::class_attr(&entry.meta.attrs)
        }) else {
            return Ok(TransitionOutcome::Superseded);
        };
        meta.data = data;
        meta.layout = (to.layout.data, to.layout.parity);
        class::set_class(&mut meta.attrs, &to.name, data_gen);
        let seq = self.next_seq(&held, bucket, key, partition);
        let entry = self
            .write_commit(bucket, key, partition, meta, b"", &inline, seq)
            .await?;
        let short = self.short_of_redundancy(&entry.commits, entry.meta.data.shard_slots());
        let holder = Holder::Object {
            version: entry.meta.version,
        };
        let m = Mutation::Update {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            entry,
        };
        self.apply_index(partition, m).await?;
        drop(held);
        if short {
            self.note_degraded(bucket, key, holder);
        }
        Ok(TransitionOutcome::Moved)
    }

    /// Copies stored bytes `span` of a version into new stripes as `t` says.
    async fn copy_span(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        entry: &IndexEntry,
        span: (u64, u64),
        t: &StripeTarget<'_>,
    ) -> Result<Stripes> {
        if span.0 == span.1 {
            return Ok(Vec::new());
        }
        let r = self
            .open_stored_span(bucket, key, entry.clone(), span)
            .await?;
        let mut body = StoredBody(r);
        let first = match body.next_chunk().await? {
            BodyChunk::Data(b) => b,
            BodyChunk::End(_) => Bytes::new(),
        };
        let (_, stripes, _) = self
            .write_stripes(t, &[], first, &mut body, None, None)
            .await?;
        Ok(stripes)
    }
}
