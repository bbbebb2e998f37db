//! Multipart uploads. An upload's state lives with the owner partition of
//! its key: parts arriving on any core stream to the owner like a PUT. Each
//! part is erasure coded into stripes of its own (shard records carry the
//! upload id as version and the part number); completing writes one commit
//! record whose data is the chosen parts' stripes, in place, never copied.
//!
//! Every change is a record first (fdatasync'd), then an index change, like
//! any write: an upload record, part records (the newest per part number
//! wins), and an end record when the upload is completed or aborted. The end
//! records are kept until `upload_expiry` has passed, so a rebuild never
//! brings an ended upload back from its leftover records.

use std::rc::Rc;

use md5::{Digest, Md5};

use super::class::ClassId;
use super::index::{object_key, Holder, Mutation, UploadListing};
use super::meta::{
    sse_header, Attr, DataLoc, ObjectMeta, PartData, PartEntry, PartMeta, UploadChecksum,
    UploadEntry, UploadMeta,
};
use super::rebuild::encode_upload_end;
use super::record::{Kind, RecordHeader, FORMAT_VERSION};
use super::sealing::{self, StreamSealer};
use super::write::{validate_key, StripeTarget};
use super::{now_ms, BodyChunk, BodySource, Engine, EngineError, ObjectInfo, PutOptions, Result};
use crate::sse::header::Mode;
use crate::sse::key::{DataKey, NONCE_LEN};
use crate::sse::package::Layout;

/// S3's limits.
pub const MAX_PARTS: u32 = 10_000;
pub const MIN_PART_SIZE: u64 = 5 << 20;
pub const MAX_PART_SIZE: u64 = 5 << 30;

/// A part named by CompleteMultipartUpload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChosenPart {
    pub number: u32,
    /// Hex MD5, no quotes.
    pub etag: String,
}

/// What completes an upload: the chosen parts, and headers the object
/// stores besides the upload's (its checksum).
pub struct Completion {
    pub parts: Vec<ChosenPart>,
    pub headers: Vec<(String, String)>,
    pub condition: Option<super::write::WriteCondition>,
    /// Who asked, for event notifications.
    pub origin: Option<crate::notify::event::Origin>,
    /// An encrypted upload's seal, when its key is the bucket's shared one
    /// (`Seal::shared`): a deduplicating bucket then cuts the object into
    /// sealed contents as it does a clear one.
    pub seal: Option<super::sealing::Seal>,
}

/// The ETag of a multipart object: MD5 of the parts' binary MD5s, then `-N`.
pub fn multipart_etag<'a>(part_etags: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut h = Md5::new();
    let mut n = 0;
    for e in part_etags {
        h.update(hex::decode(e).ok()?);
        n += 1;
    }
    Some(format!("{}-{n}", hex::encode(h.finalize())))
}

impl ObjectMeta {
    /// The upload a multipart object was completed from and its parts (a
    /// deduplicated one's without stripes); None for any other version.
    pub fn part_table(&self) -> Option<(u128, &[PartData])> {
        match &self.data {
            DataLoc::Parts { upload, parts } => Some((*upload, parts)),
            _ => self.attrs.iter().find_map(|a| match a {
                Attr::Multipart { upload, parts } => Some((*upload, &parts[..])),
                _ => None,
            }),
        }
    }

    /// `(number of parts, byte range of part n)` of a multipart object; None
    /// if it is not one or has no part n.
    pub fn part_range(&self, n: u32) -> Option<(usize, u64, u64)> {
        let (_, parts) = self.part_table()?;
        let mut start = 0;
        for p in parts {
            if p.number == n {
                return Some((parts.len(), start, start + p.size));
            }
            start += p.size;
        }
        None
    }

    /// How many parts a multipart object was assembled from.
    pub fn parts_count(&self) -> Option<usize> {
        self.part_table().map(|(_, parts)| parts.len())
    }
}

impl Engine {
    fn check_key(&self, bucket: &str, key: &str) -> Result<u16> {
        validate_key(key)?;
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        Ok(self.shared.partition_of(bucket, key))
    }

    /// Begins an upload; returns its id.
    pub async fn create_upload(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        opts: PutOptions,
        checksum: Option<UploadChecksum>,
    ) -> Result<u128> {
        let p = self.check_key(bucket, key)?;
        let owner = self.shared.owner_of(p);
        if owner == self.core {
            return self.create_upload_owned(bucket, key, opts, checksum).await;
        }
        let (tx, rx) = crate::runtime::channel::oneshot::channel();
        self.send_to(
            owner,
            super::CoreMsg::CreateUpload {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                opts,
                checksum,
                reply: tx,
            },
        )
        .await?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    pub(super) async fn create_upload_owned(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        opts: PutOptions,
        checksum: Option<UploadChecksum>,
    ) -> Result<u128> {
        self.check_class_space(opts.class)?;
        let _writing = self.begin_read();
        let partition = self.shared.partition_of(bucket, key);
        self.assert_owner(partition);
        let upload = self.new_version();
        let class = self.shared.classes.get(opts.class);
        let l = class.layout;
        let mut attrs = sealing::with_header(opts.attrs, opts.seal.as_ref());
        if opts.class != ClassId::STANDARD {
            super::class::set_class(&mut attrs, &class.name, 0);
        }
        let meta = UploadMeta {
            upload,
            created_ms: now_ms(),
            content_type: opts.content_type,
            headers: opts.headers,
            user_meta: opts.user_meta,
            layout: (l.data, l.parity),
            rotation: self.rotation_of(upload, 0) as u16,
            tags: opts.tags,
            checksum,
            attrs,
        };
        let payload = super::meta::encode_upload_payload(&meta);
        let header = self.upload_header(Kind::Upload, bucket, key, partition, upload, 0);
        let commits = self
            .write_replicated(header, &payload, meta.rotation as usize)
            .await?;
        let short = self.short_of_redundancy(&commits, std::iter::empty());
        let m = Mutation::CreateUpload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            entry: UploadEntry { meta, commits },
        };
        self.apply_index(partition, m).await?;
        if short {
            self.note_degraded(bucket, key, Holder::Upload { upload });
        }
        Ok(upload)
    }

    /// Stores one part (replacing an earlier upload of the same number),
    /// with the checksums the body reports once it has ended.
    pub async fn put_part<B: BodySource>(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        upload: u128,
        number: u32,
        body: &mut B,
        unseal: Option<DataKey>,
    ) -> Result<PartData> {
        let p = self.check_key(bucket, key)?;
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(EngineError::InvalidPart(format!(
                "part number {number} is outside 1..={MAX_PARTS}"
            )));
        }
        let owner = self.shared.owner_of(p);
        if owner == self.core {
            return self
                .put_part_owned(bucket, key, upload, number, body, unseal)
                .await;
        }
        let (btx, brx) = crate::runtime::channel::bounded(super::BODY_DEPTH);
        let (rtx, rrx) = crate::runtime::channel::oneshot::channel();
        let done = Self::prefill_body(body, &btx).await;
        self.send_to(
            owner,
            super::CoreMsg::PutPart {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                upload,
                number,
                body: brx,
                supplies_md5: body.supplies_md5(),
                unseal,
                reply: rtx,
            },
        )
        .await?;
        if !done {
            self.forward_body(body, btx).await;
        }
        rrx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Stores a part on the owner core; a part of an encrypted upload is
    /// sealed with the upload's data key and a nonce base of its own.
    pub(super) async fn put_part_owned<B: BodySource>(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        upload: u128,
        number: u32,
        body: &mut B,
        unseal: Option<DataKey>,
    ) -> Result<PartData> {
        let partition = self.shared.partition_of(bucket, key);
        self.assert_owner(partition);
        let Some(up) = self.shared.indexes[partition as usize].get_upload(bucket, key, upload)?
        else {
            return Err(EngineError::NoSuchUpload);
        };
        // Every part takes the upload's class (and so its layout, which the
        // completed object's reads use for every part).
        let name = super::class::class_name(&up.meta.attrs);
        let class = self
            .shared
            .classes
            .id_of(name)
            .filter(|&c| {
                let l = self.shared.classes.get(c).layout;
                (l.data, l.parity) == up.meta.layout
            })
            .ok_or_else(|| {
                EngineError::InvalidStorageClass(format!(
                    "the upload's storage class {name} is no longer defined as it was"
                ))
            })?;
        let target = (upload, number, class);
        match (sse_header(&up.meta.attrs), unseal) {
            (None, None) => self.store_part(bucket, key, target, body, None).await,
            (Some(Ok(h)), Some(k)) => {
                let how = (h.mode, h.layout, k, crate::sse::key::nonce_base());
                self.store_part(bucket, key, target, body, Some(how)).await
            }
            (Some(Err(e)), _) => Err(EngineError::Internal(format!("encryption header: {e}"))),
            (Some(Ok(_)), None) => Err(EngineError::Internal(
                "a part of an encrypted upload sent without its data key".into(),
            )),
            (None, Some(_)) => Err(EngineError::Internal(
                "a data key given for an upload stored in the clear".into(),
            )),
        }
    }

    /// Writes a part's (possibly sealed) body and records it.
    async fn store_part<B: BodySource>(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        (upload, number, class): (u128, u32, ClassId),
        body: &mut B,
        sealed: Option<(Mode, Layout, DataKey, [u8; NONCE_LEN])>,
    ) -> Result<PartData> {
        let partition = self.shared.partition_of(bucket, key);
        self.check_class_space(class)?;
        drop(self.reserve_quota(bucket, 0)?);
        let _writing = self.begin_read();
        let rotation = self.rotation_of(upload, number);
        let hash = !body.supplies_md5();
        let mut md5 = Md5::new();
        let target = StripeTarget {
            bucket,
            key,
            partition,
            version: upload,
            part: number,
            rotation,
            stripe_data: sealing::stripe_data(sealed.as_ref().map(|s| s.1)),
            class,
            data_gen: 0,
        };
        let seal = sealed.as_ref().map(|(_, layout, k, nonce)| {
            StreamSealer::new(sealing::sealer(
                k,
                nonce,
                (bucket, key, upload),
                number,
                *layout,
            ))
        });
        let (size, stripes, caller_md5) = match (body.next_chunk().await?, seal) {
            (BodyChunk::End(m), None) => (0, Vec::new(), m),
            // An empty sealed part still stores its one (empty) package.
            (BodyChunk::End(m), Some(seal)) => {
                let mut ended = super::MemBody::new(bytes::Bytes::new());
                let (size, stripes, _) = self
                    .write_stripes(
                        &target,
                        &[],
                        bytes::Bytes::new(),
                        &mut ended,
                        None,
                        Some(seal),
                    )
                    .await?;
                (size, stripes, m)
            }
            (BodyChunk::Data(first), seal) => {
                self.write_stripes(&target, &[], first, body, hash.then_some(&mut md5), seal)
                    .await?
            }
        };
        if size > MAX_PART_SIZE {
            return Err(EngineError::InvalidPart(format!(
                "a part may be at most {MAX_PART_SIZE} bytes"
            )));
        }
        // As MinIO: a part is refused if the bucket's versions plus the part
        // would pass the quota (parts themselves are not what it limits).
        drop(self.reserve_quota(bucket, size)?);
        let digest: [u8; 16] = match caller_md5 {
            Some(d) => d,
            None if hash => md5.finalize().into(),
            None => {
                return Err(EngineError::Body(
                    "the body promised its MD5 but ended without one".into(),
                ))
            }
        };
        let class = self.shared.classes.get(class);
        let l = class.layout;
        let (etag, mut attrs) = match &sealed {
            None => (hex::encode(digest), Vec::new()),
            Some((mode, _, k, nonce)) => (
                sealing::etag(*mode, k, digest),
                vec![Attr::NonceBase(*nonce)],
            ),
        };
        super::class::set_class(&mut attrs, &class.name, 0);
        let part = PartData {
            number,
            size,
            etag,
            checksums: body.checksums(),
            modified_ms: now_ms(),
            rotation: rotation as u16,
            stripes,
        };
        // Under the key lock: a part and the upload's completion or abort
        // reach the index in the order their records were written.
        let guard = self.key_locks.lock(object_key(bucket, key)).await;
        let meta = PartMeta {
            upload,
            seq: self.next_seq(&guard, bucket, key, partition),
            layout: (l.data, l.parity),
            part,
            attrs,
        };
        let payload = super::meta::encode_part_payload(&meta);
        let mut header = self.upload_header(Kind::Part, bucket, key, partition, upload, number);
        header.seq = meta.seq;
        header.data_len = size;
        let commits = self.write_replicated(header, &payload, rotation).await?;
        let part = meta.part.clone();
        let short = self.short_of_redundancy(&commits, part.stripes.iter().flatten());
        let holder = Holder::Part {
            upload,
            number,
            seq: meta.seq,
        };
        let m = Mutation::PutPart {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            entry: PartEntry { meta, commits },
        };
        self.apply_index(partition, m).await?;
        if short {
            self.note_degraded(bucket, key, holder);
        }
        // The upload may have ended while the part was being written: then
        // the index ignored it and the part is not part of anything.
        if self.shared.indexes[partition as usize]
            .get_upload(bucket, key, upload)?
            .is_none()
        {
            return Err(EngineError::NoSuchUpload);
        }
        Ok(part)
    }

    /// Completes an upload from the chosen parts (ascending part numbers,
    /// each but the last at least 5 MiB) into the key's current version,
    /// which stores `headers` (the object's checksum) besides the upload's.
    pub async fn complete_upload(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        upload: u128,
        chosen: Vec<ChosenPart>,
        headers: Vec<(String, String)>,
    ) -> Result<ObjectInfo> {
        let c = Completion {
            parts: chosen,
            headers,
            condition: None,
            origin: None,
            seal: None,
        };
        self.complete_upload_with(bucket, key, upload, c).await
    }

    /// [`Engine::complete_upload`] with a condition (checked at commit,
    /// else [`EngineError::ConditionConflict`]) and an origin for events.
    pub async fn complete_upload_with(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        upload: u128,
        c: Completion,
    ) -> Result<ObjectInfo> {
        let p = self.check_key(bucket, key)?;
        let owner = self.shared.owner_of(p);
        if owner == self.core {
            return self
                .end_upload_owned(bucket, key, upload, Some(c))
                .await?
                .ok_or_else(|| EngineError::Internal("a completed upload made no object".into()));
        }
        let (tx, rx) = crate::runtime::channel::oneshot::channel();
        self.send_to(
            owner,
            super::CoreMsg::EndUpload {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                upload,
                complete: Some(c),
                reply: tx,
            },
        )
        .await?;
        rx.await
            .map_err(|_| EngineError::ShuttingDown)??
            .ok_or_else(|| EngineError::Internal("a completed upload made no object".into()))
    }

    /// Aborts an upload; its parts become garbage for compaction.
    pub async fn abort_upload(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        upload: u128,
    ) -> Result<()> {
        let p = self.check_key(bucket, key)?;
        let owner = self.shared.owner_of(p);
        if owner == self.core {
            return self
                .end_upload_owned(bucket, key, upload, None)
                .await
                .map(|_| ());
        }
        let (tx, rx) = crate::runtime::channel::oneshot::channel();
        self.send_to(
            owner,
            super::CoreMsg::EndUpload {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                upload,
                complete: None,
                reply: tx,
            },
        )
        .await?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?.map(|_| ())
    }

    /// Completes (parts and extra headers given) or aborts an upload on the
    /// owner core.
    pub(super) async fn end_upload_owned(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        upload: u128,
        complete: Option<Completion>,
    ) -> Result<Option<ObjectInfo>> {
        let partition = self.shared.partition_of(bucket, key);
        self.assert_owner(partition);
        let guard = self.key_locks.lock(object_key(bucket, key)).await;
        let idx = &self.shared.indexes[partition as usize];
        let Some(up) = idx.get_upload(bucket, key, upload)? else {
            return Err(EngineError::NoSuchUpload);
        };
        self.check_write_quorum()?;
        let _writing = self.begin_read();
        if complete.is_none() {
            self.deletes.set(self.deletes.get() + 1);
        }
        // A completion holds its object's bytes until the index has them.
        let mut quota = None;
        let mut events = None;
        let object = match complete {
            None => None,
            Some(c) => {
                self.check_condition(bucket, key, partition, c.condition.as_ref())?;
                let parts = idx.upload_parts(bucket, key, upload, 0, MAX_PARTS as usize)?;
                let mut meta = self.assemble(up.meta, parts, &c.parts)?;
                meta.null = self.writes_null(bucket);
                meta.headers.extend(c.headers);
                quota = Some(self.reserve_quota(bucket, meta.size)?);
                let acquired = self
                    .dedup_parts(bucket, key, &mut meta, c.seal.as_ref())
                    .await?;
                let committed = self
                    .commit_record(&guard, bucket, key, partition, meta, &[], c.origin.as_ref())
                    .await;
                let (entry, made) = match committed {
                    Ok(c) => c,
                    Err(e) => {
                        self.release_contents(bucket, &acquired);
                        return Err(e);
                    }
                };
                events = Some(made);
                Some(entry)
            }
        };
        let ended_ms = now_ms();
        let mut header = self.upload_header(Kind::UploadEnd, bucket, key, partition, upload, 0);
        header.seq = self.next_seq(&guard, bucket, key, partition);
        let ended = self
            .write_replicated(
                header,
                &encode_upload_end(ended_ms),
                self.rotation_of(upload, 0),
            )
            .await?;
        let info = object.as_ref().map(|e| ObjectInfo::of(&e.meta));
        let short_object = object
            .as_ref()
            .filter(|e| self.short_of_redundancy(&e.commits, e.meta.data.shard_slots()))
            .map(|e| Holder::Object {
                version: e.meta.version,
            });
        let short_end = self.short_of_redundancy(&ended, std::iter::empty());
        let m = Mutation::EndUpload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload,
            ended,
            ended_ms,
            object,
        };
        match events {
            Some(events) => self.apply_index_with(partition, m, events).await?,
            None => self.apply_index(partition, m).await?,
        }
        drop(quota);
        if let Some(holder) = short_object {
            self.note_degraded(bucket, key, holder);
        }
        if short_end {
            self.note_degraded(bucket, key, Holder::Ended { upload });
        }
        Ok(info)
    }

    /// In a dedup bucket, turns an unencrypted completion's parts into
    /// contents: the assembled object is read once, cut into 1 MiB stripes
    /// across part boundaries and each acquired (`write_content`), and the
    /// version names the contents, with its part table kept beside them
    /// (`Attr::Multipart`). The parts' own records die with the upload.
    /// Returns the ids acquired, for the caller to release if the commit
    /// fails; none when the bucket does not deduplicate.
    async fn dedup_parts(
        self: &Rc<Self>,
        bucket: &str,
        key: &str,
        meta: &mut ObjectMeta,
        seal: Option<&super::sealing::Seal>,
    ) -> Result<Vec<super::meta::ContentId>> {
        // Sealed parts are read back with the upload's key and cut into
        // contents sealed as a PUT's would be, if that key is shared.
        let seal = match sse_header(&meta.attrs) {
            None => None,
            Some(_) => match seal {
                Some(s) if s.shared => Some(s),
                _ => return Ok(Vec::new()),
            },
        };
        let Some(dkey) = self.content_key_of(bucket, seal) else {
            return Ok(Vec::new());
        };
        if meta.size == 0 {
            return Ok(Vec::new());
        }
        let DataLoc::Parts { upload, parts } = &meta.data else {
            return Ok(Vec::new());
        };
        let (upload, table) = (
            *upload,
            parts
                .iter()
                .map(|p| PartData {
                    stripes: Vec::new(),
                    ..p.clone()
                })
                .collect(),
        );
        let class = match super::class::class_attr(&meta.attrs) {
            None => super::class::ClassId::STANDARD,
            Some(c) => self.shared.classes.id_of(&c.name).ok_or_else(|| {
                EngineError::Internal(format!("the upload's class {} is not defined", c.name))
            })?,
        };
        let entry = super::meta::IndexEntry {
            meta: meta.clone(),
            commits: Vec::new(),
        };
        let reader = self
            .open_reader(
                self.begin_read(),
                bucket,
                key,
                entry,
                None,
                seal.map(|s| s.key.clone()),
            )
            .await?;
        let mut body = super::transition::StoredBody(reader);
        let (size, ids, _) = self
            .write_content(
                (bucket, class, seal),
                &dkey,
                (&[], bytes::Bytes::new()),
                &mut body,
                None,
            )
            .await?;
        if size != meta.size {
            self.release_contents(bucket, &ids);
            return Err(EngineError::Internal(format!(
                "the parts of {key} read {size} bytes, not {}",
                meta.size
            )));
        }
        meta.data = DataLoc::Content { ids: ids.clone() };
        meta.attrs.push(Attr::Multipart {
            upload,
            parts: table,
        });
        Ok(ids)
    }

    /// The object version a completion makes, checked against S3's rules.
    fn assemble(
        &self,
        upload_meta: UploadMeta,
        mut stored: Vec<PartEntry>,
        chosen: &[ChosenPart],
    ) -> Result<ObjectMeta> {
        if chosen.is_empty() {
            return Err(EngineError::InvalidPart("the upload names no parts".into()));
        }
        if chosen.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(EngineError::InvalidPartOrder);
        }
        let mut parts = Vec::with_capacity(chosen.len());
        let mut nonces = Vec::new();
        for (i, c) in chosen.iter().enumerate() {
            let pos = stored
                .iter()
                .position(|p| p.meta.part.number == c.number)
                .ok_or_else(|| {
                    EngineError::InvalidPart(format!("part {} was not uploaded", c.number))
                })?;
            let chosen_part = stored.swap_remove(pos).meta;
            nonces.extend(chosen_part.attrs.iter().find_map(|a| match a {
                Attr::NonceBase(n) => Some((c.number, *n)),
                _ => None,
            }));
            let part = chosen_part.part;
            if !part.etag.eq_ignore_ascii_case(&c.etag) {
                return Err(EngineError::InvalidPart(format!(
                    "part {} has another ETag",
                    c.number
                )));
            }
            if i + 1 < chosen.len() && part.size < MIN_PART_SIZE {
                return Err(EngineError::EntityTooSmall);
            }
            parts.push(part);
        }
        let size = parts.iter().map(|p| p.size).sum();
        let etag = multipart_etag(parts.iter().map(|p| p.etag.as_str()))
            .ok_or_else(|| EngineError::Internal("a stored part ETag is not hex".into()))?;
        let mut attrs = upload_meta.attrs;
        if sse_header(&attrs).is_some() {
            if nonces.len() != parts.len() {
                return Err(EngineError::Internal(
                    "a part of an encrypted upload has no nonce base".into(),
                ));
            }
            attrs.push(Attr::PartNonces(nonces));
        }
        Ok(ObjectMeta {
            version: self.new_version(),
            seq: 0,
            size,
            etag,
            modified_ms: now_ms(),
            null: false,
            delete_marker: false,
            data: DataLoc::Parts {
                upload: upload_meta.upload,
                parts,
            },
            content_type: upload_meta.content_type,
            headers: upload_meta.headers,
            user_meta: upload_meta.user_meta,
            layout: upload_meta.layout,
            rotation: upload_meta.rotation,
            tags: upload_meta.tags,
            attrs,
        })
    }

    /// An upload in progress, looked up on any core.
    pub fn upload(&self, bucket: &str, key: &str, upload: u128) -> Result<UploadEntry> {
        let p = self.check_key(bucket, key)?;
        self.shared.indexes[p as usize]
            .get_upload(bucket, key, upload)?
            .ok_or(EngineError::NoSuchUpload)
    }

    /// Parts of an upload in progress after part number `after`, at most
    /// `limit`, in order.
    pub fn upload_parts(
        &self,
        bucket: &str,
        key: &str,
        upload: u128,
        after: u32,
        limit: usize,
    ) -> Result<Vec<PartData>> {
        let p = self.check_key(bucket, key)?;
        let idx = &self.shared.indexes[p as usize];
        if idx.get_upload(bucket, key, upload)?.is_none() {
            return Err(EngineError::NoSuchUpload);
        }
        Ok(idx
            .upload_parts(bucket, key, upload, after, limit)?
            .into_iter()
            .map(|e| e.meta.part)
            .collect())
    }

    /// Uploads in progress under `prefix`, after `(key, upload)`, in (key,
    /// upload id) order across every partition; at most `limit`.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<(&str, Option<u128>)>,
        limit: usize,
    ) -> Result<Vec<UploadListing>> {
        if !self.bucket_exists(bucket) {
            return Err(EngineError::NoSuchBucket);
        }
        let mut all = Vec::new();
        for idx in &self.shared.indexes {
            all.extend(idx.list_uploads(bucket, prefix, after, limit)?);
        }
        all.sort_by(|a, b| (&a.key, a.upload).cmp(&(&b.key, b.upload)));
        all.truncate(limit);
        Ok(all)
    }

    /// Aborts this core's uploads begun more than `expiry` ago and forgets
    /// upload ends older than that. Returns how many uploads it aborted.
    pub async fn expire_uploads(self: &Rc<Self>, expiry: std::time::Duration) -> Result<usize> {
        const BATCH: usize = 1000;
        let cutoff = now_ms().saturating_sub(expiry.as_millis() as u64);
        let mut aborted = 0;
        for idx in &self.shared.indexes {
            if self.shared.owner_of(idx.partition) != self.core {
                continue;
            }
            let (open, ended) = idx.stale_uploads(cutoff, cutoff, BATCH)?;
            for (bucket, key, upload) in open {
                match self.end_upload_owned(&bucket, &key, upload, None).await {
                    Ok(_) => aborted += 1,
                    Err(EngineError::NoSuchUpload) => {}
                    Err(e) => return Err(e),
                }
            }
            for (bucket, key, upload) in ended {
                let m = Mutation::ForgetEnded {
                    bucket,
                    key,
                    upload,
                };
                self.apply_index(idx.partition, m).await?;
            }
        }
        Ok(aborted)
    }

    /// Aborts this core's abandoned uploads (see [`Engine::expire_uploads`])
    /// every quarter of `expiry`, but at least every hour and at most every
    /// second, for as long as the engine lives.
    pub fn start_upload_expiry(self: &Rc<Self>, expiry: std::time::Duration) {
        let every = (expiry / 4).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(3600),
        );
        let weak = Rc::downgrade(self);
        crate::runtime::spawn(async move {
            loop {
                crate::runtime::sleep(every).await;
                let Some(e) = weak.upgrade() else { break };
                match e.expire_uploads(expiry).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(core = e.core, aborted = n, "expired multipart uploads")
                    }
                    Err(err) => {
                        tracing::warn!(core = e.core, error = %err, "multipart expiry failed")
                    }
                }
            }
        });
    }

    fn upload_header(
        &self,
        kind: Kind,
        bucket: &str,
        key: &str,
        partition: u16,
        upload: u128,
        part: u32,
    ) -> RecordHeader {
        RecordHeader {
            format: FORMAT_VERSION,
            kind,
            partition,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version: upload,
            part_number: part,
            stripe: 0,
            shard: 0,
            layout: self.shared.layout,
            data_len: 0,
            payload_len: 0,
            seq: 0,
            payload_crc: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_of_parts_is_md5_of_md5s() {
        let a = hex::encode(Md5::digest(b"a"));
        let b = hex::encode(Md5::digest(b"b"));
        let mut joined = Vec::new();
        joined.extend_from_slice(&Md5::digest(b"a"));
        joined.extend_from_slice(&Md5::digest(b"b"));
        let want = format!("{}-2", hex::encode(Md5::digest(&joined)));
        assert_eq!(
            multipart_etag([a.as_str(), b.as_str()].into_iter()).unwrap(),
            want
        );
        assert!(multipart_etag(["zz"].into_iter()).is_none());
    }
}
