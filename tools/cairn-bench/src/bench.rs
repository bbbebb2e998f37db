//! The modes: what each worker does, the phases a run goes through (set-up
//! uploads, the measured load, clean-up), and the controller that times them.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::Method;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::client::{escape, xml_count, xml_value, xml_values, Body, Client, Outcome, Sink, Timed};
use crate::data::{Payload, Verifier};
use crate::sign::{amz_date, uri_encode, Signer};
use crate::stats::{phase_report, stable, PhaseReport, Stats};
use crate::versioned::{self, Pool, Version};
use crate::{cpu, post, ranges, snowball, zip, Args, Mode};

/// Object ids: the worker slot in the low 16 bits, its object counter above.
/// The key is `<prefix>/<slot>/<n>`.
const SLOT_BITS: u32 = 16;

fn object_id(slot: usize, n: u64) -> u64 {
    n << SLOT_BITS | slot as u64
}

/// What the run shares between workers.
struct Shared {
    args: Args,
    hosts: Vec<String>,
    signer: Signer,
    payload: Payload,
    prefix: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

/// The key of object `id`: `<prefix>/<slot>/<n>`.
fn key_of(prefix: &str, id: u64) -> String {
    format!(
        "{prefix}/{}/{}",
        id & ((1 << SLOT_BITS) - 1),
        id >> SLOT_BITS
    )
}

/// The body of a snowball whose members are the objects `members` of
/// worker `slot`: the tar, compressed with `--compress`.
fn snowball_body(
    sh: &Shared,
    slot: usize,
    members: &[u64],
    zstd: &mut Option<zstd::bulk::Compressor<'static>>,
) -> Result<Body, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let files: Vec<(String, Bytes)> = members
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let id = object_id(slot, n);
            (snowball::member_name(&sh.key(id), i), sh.payload.object(id))
        })
        .collect();
    let mut data = snowball::archive(&files, now)?;
    if sh.args.compress {
        let c = match zstd {
            Some(c) => c,
            None => zstd.insert(snowball::compressor(snowball::window_log(
                sh.payload.size() as u64,
            )?)?),
        };
        data = c.compress(&data).map_err(|e| format!("zstd: {e}"))?;
    }
    let hashes = if sh.args.unsigned_payload {
        Arc::from([])
    } else {
        snowball::chunk_hashes(&data)
    };
    Ok(Body::Data(Bytes::from(data), hashes))
}

/// What minio-go's `PutObjectFanOut` accepts: one JSON line per copy,
/// none with an `error`.
fn fanout_answer(body: &[u8], copies: u64) -> Result<(), String> {
    let mut n = 0u64;
    let mut failed = Vec::new();
    for line in body
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
    {
        let v: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| format!("fanout: an answer line is not JSON: {e}"))?;
        n += 1;
        match &v["error"] {
            serde_json::Value::Null => {}
            serde_json::Value::String(e) if e.is_empty() => {}
            e => failed.push(e.to_string()),
        }
    }
    if let Some(first) = failed.first() {
        return Err(format!(
            "fanout: {} copies failed, first: {first}",
            failed.len()
        ));
    }
    if n != copies {
        return Err(format!(
            "fanout: short upload: want {copies} copies, got {n}"
        ));
    }
    Ok(())
}

/// The header asking MinIO to read a member out of a zip.
const ZIP_EXTRACT: (&str, &str) = ("x-minio-extract", "true");

/// The key GETs of member `i` of the zip at `key` name.
fn zip_member(key: &str, i: u64) -> String {
    format!("{key}/{}", zip_name(i))
}

fn zip_name(i: u64) -> String {
    format!("{i}.obj")
}

/// warp zip's set-up: one zip of `--files` objects PUT as
/// `<prefix>/<unix nanoseconds>.zip` (not measured), then one GET of its
/// first member through `x-minio-extract`, which warp requires; cairn-bench
/// reports its failure and measures the GETs anyway, so a server without
/// the extension shows it in the run's errors.
async fn zip_upload(shared: &Shared) -> Result<Arc<str>, String> {
    let files = shared.args.files;
    if files == 0 {
        return Err("--files must be at least 1".into());
    }
    let members: Vec<(String, Bytes)> = (0..files)
        .map(|i| (zip_name(i), shared.payload.object(i)))
        .collect();
    let data = zip::archive(&members)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let key = format!("{}/{nanos}.zip", shared.prefix);
    eprintln!(
        "uploading {key} with {files} files of {} bytes ({} bytes)...",
        shared.payload.size(),
        data.len()
    );
    let hashes = if shared.args.unsigned_payload {
        Arc::from([])
    } else {
        snowball::chunk_hashes(&data)
    };
    let body = Body::Data(Bytes::from(data), hashes);
    let (o, _) = single(shared, Method::PUT, &key, "", body).await;
    if let Some(e) = o.error_key() {
        return Err(format!("uploading {key}: {e}"));
    }
    let first = zip_member(&key, 0);
    let (o, body) = single_with(shared, Method::GET, &first, "", Body::Empty, &[ZIP_EXTRACT]).await;
    match o.error_key() {
        Some(e) => eprintln!(
            "zip: GET {first} with x-minio-extract: {e}: the server does not read \
             zip members (warp stops here; the GETs below measure the failure)"
        ),
        None if body.len() != shared.payload.size() => eprintln!(
            "zip: GET {first} with x-minio-extract: {} bytes, not {}",
            body.len(),
            shared.payload.size()
        ),
        None => {}
    }
    Ok(key.into())
}

/// The object id a key of this run names (the inverse of [`key_of`]).
fn id_of(prefix: &str, key: &str) -> Option<u64> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('/')?;
    let (slot, n) = rest.split_once('/')?;
    let slot: u64 = slot.parse().ok().filter(|s| *s < 1 << SLOT_BITS)?;
    Some(n.parse::<u64>().ok()? << SLOT_BITS | slot)
}

/// The user metadata `list --metadata` uploads with each object (its id),
/// which `--verify` expects back in each listed entry's `<UserMetadata>`.
const META_HEADER: &str = "x-amz-meta-obj";
const META_ELEMENT: &str = "X-Amz-Meta-Obj";

impl Shared {
    fn key(&self, id: u64) -> String {
        key_of(&self.prefix, id)
    }

    fn client(&self, worker: usize) -> Client {
        Client::new(
            &self.hosts[worker % self.hosts.len()],
            self.signer.clone(),
            &self.args.bucket,
            self.args.unsigned_payload,
            self.args.sse_s3,
            self.tls.clone(),
        )
    }
}

/// Objects in the mixed mode's pool: readers are counted so that a DELETE
/// never takes an object a GET or STAT is reading (it would count as an error).
#[derive(Default)]
struct MixedPool {
    live: Vec<u64>,
    reading: HashMap<u64, u32>,
}

impl MixedPool {
    fn start_read(&mut self, rng: &mut SmallRng) -> Option<u64> {
        let id = *self.live.get(rng.gen_range(0..self.live.len().max(1)))?;
        *self.reading.entry(id).or_default() += 1;
        Some(id)
    }

    fn end_read(&mut self, id: u64) {
        if let Some(n) = self.reading.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                self.reading.remove(&id);
            }
        }
    }

    /// Takes an object nobody reads out of the pool.
    fn take_for_delete(&mut self, rng: &mut SmallRng) -> Option<u64> {
        for _ in 0..8 {
            let i = rng.gen_range(0..self.live.len().max(1));
            match self.live.get(i) {
                None => return None,
                Some(id) if self.reading.contains_key(id) => continue,
                Some(_) => return Some(self.live.swap_remove(i)),
            }
        }
        None
    }
}

/// What the workers of a phase do, one operation per step.
#[derive(Clone)]
enum Job {
    Put,
    /// Set-up and fill: upload objects `next..count` (claimed through
    /// `next`).
    Upload {
        count: u64,
        next: Arc<AtomicU64>,
    },
    Get(Arc<Vec<u64>>),
    /// GET these (object, version id) at random.
    GetVersions(Arc<Vec<(u64, String)>>),
    Stat(Arc<Vec<u64>>),
    Delete(Arc<Mutex<Vec<u64>>>),
    List {
        expect: u64,
    },
    /// New objects get counters from `base` on (set-up used those below).
    Mixed {
        pool: Arc<Mutex<MixedPool>>,
        base: u64,
    },
    UploadParts {
        key: Arc<str>,
        upload_id: Arc<str>,
        next: Arc<AtomicU64>,
        etags: Arc<Mutex<BTreeMap<u32, String>>>,
    },
    GetParts {
        key: Arc<str>,
        parts: u32,
    },
    /// Set-up: upload versions `0..count` (claimed through `next`), each
    /// object's `versions` in a row, keeping their ids.
    UploadVersions {
        count: u64,
        versions: u64,
        next: Arc<AtomicU64>,
        uploaded: Arc<Mutex<Vec<(u64, String)>>>,
    },
    /// Set GOVERNANCE retention on these (object, version id) at random.
    Retention(Arc<Vec<(u64, String)>>),
    /// warp's versioned mode: walk `ops` (from `next`) over the versions
    /// in `pool`; new versions get contents from `base` on.
    Versioned {
        pool: Arc<Mutex<Pool>>,
        ops: Arc<[versioned::Op]>,
        next: Arc<AtomicUsize>,
        base: u64,
    },
    /// warp's multipart-put: `--concurrent` groups of `--part.concurrent`
    /// workers, each group uploading one object of `--parts` parts at a
    /// time (created, its parts shared out, completed by whoever ends the
    /// last part; only the parts are measured, as warp).
    MultipartPut {
        groups: Arc<[UploadGroup]>,
    },
    /// warp's snowball: PUT archives of `--objs.per` objects for the server
    /// to extract; each successful one is recorded (worker slot, first
    /// object counter) for `--verify`.
    Snowball(Arc<Mutex<Vec<(usize, u64)>>>),
    /// warp's fanout: POST each object as `--copies` objects.
    Fanout,
    /// warp's zip: GET `<key>/<i>.obj` of the zip at `key` (`i` below
    /// `files`) with `x-minio-extract`.
    Zip {
        key: Arc<str>,
        files: u64,
    },
    /// Clean-up: delete these batches of keys (and versions).
    Clean(Arc<Mutex<Vec<Vec<Target>>>>),
}

/// One multipart-put group's current upload.
#[derive(Default)]
struct UploadGroup {
    current: tokio::sync::Mutex<GroupUpload>,
    /// Woken when the upload completes (workers that found every part
    /// taken wait for the next upload, as warp's thread does).
    completed: tokio::sync::Notify,
}

#[derive(Default)]
struct GroupUpload {
    /// (key, upload id) while one is open.
    open: Option<(String, String)>,
    /// Uploads this group started (the next key's counter).
    started: u64,
    next_part: u32,
    finished: u32,
    etags: BTreeMap<u32, String>,
}

/// A key to delete, and which of its versions (None: the latest).
type Target = (String, Option<String>);

/// Asks to bypass GOVERNANCE retention (allowed to the root user).
const BYPASS: (&str, &str) = ("x-amz-bypass-governance-retention", "true");

/// One finished operation.
struct Done {
    op: &'static str,
    timed: Timed,
    /// Object bytes moved.
    bytes: u64,
    /// Objects listed or deleted.
    objects: u64,
    /// Failures inside a successful answer (a DeleteObjects key error, a
    /// listing that came up short).
    inner_errors: Vec<String>,
}

impl Done {
    fn new(op: &'static str, timed: Timed) -> Self {
        Done {
            op,
            timed,
            bytes: 0,
            objects: 0,
            inner_errors: vec![],
        }
    }
}

struct Worker {
    slot: usize,
    shared: Arc<Shared>,
    client: Client,
    rng: SmallRng,
    /// Next object counter for new objects (put and mixed modes).
    next_n: u64,
    /// ListObjectsV2 position and keys seen in this pass.
    list_token: Option<String>,
    /// ListObjectVersions position (key marker, version id marker).
    version_marker: Option<(String, String)>,
    listed: u64,
    /// snowball --compress: this worker's encoder (warp keeps one each).
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl Worker {
    fn new(shared: &Arc<Shared>, slot: usize) -> Self {
        Worker {
            slot,
            shared: shared.clone(),
            client: shared.client(slot),
            rng: SmallRng::seed_from_u64(slot as u64 ^ 0x5eed),
            next_n: 0,
            list_token: None,
            version_marker: None,
            listed: 0,
            zstd: None,
        }
    }

    async fn put(&mut self, op: &'static str, id: u64) -> Done {
        let sh = self.shared.clone();
        let tag = id.to_string();
        let meta: &[(&'static str, &str)] = if sh.args.mode == Mode::List && sh.args.metadata {
            &[(META_HEADER, &tag)]
        } else {
            &[]
        };
        let timed = self
            .client
            .exchange_with(
                Method::PUT,
                &sh.key(id),
                "",
                Body::Object(id),
                &sh.payload,
                &mut Sink::Discard,
                meta,
            )
            .await;
        let mut d = Done::new(op, timed);
        d.bytes = if d.timed.outcome.is_ok() {
            sh.payload.size() as u64
        } else {
            0
        };
        d
    }

    /// A PostObject upload of object `id` (warp counts it as POST).
    async fn post(&mut self, id: u64) -> Done {
        let sh = self.shared.clone();
        let a = &sh.args;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let creds = post::Credentials {
            access_key: &a.access_key,
            secret_key: &a.secret_key,
            region: &a.region,
        };
        let form = post::form(
            &creds,
            &a.bucket,
            &sh.key(id),
            sh.payload.object(id),
            now,
            a.sse_s3,
        );
        let timed = self.client.post_form(form, &mut Sink::Discard).await;
        let mut d = Done::new("POST", timed);
        if d.timed.outcome.is_ok() {
            d.bytes = sh.payload.size() as u64;
        }
        d
    }

    async fn get(&mut self, op: &'static str, key: &str, query: &str, id: u64) -> Done {
        self.get_range(op, key, query, id, None).await
    }

    /// A GET of bytes `range` (first, last) of object `id`, or all of it.
    async fn get_range(
        &mut self,
        op: &'static str,
        key: &str,
        query: &str,
        id: u64,
        range: Option<(u64, u64)>,
    ) -> Done {
        let sh = self.shared.clone();
        let mut sink = if sh.args.verify {
            let object = sh.payload.object(id);
            Sink::Verify(Verifier::new(match range {
                Some((a, b)) => object.slice(a as usize..=b as usize),
                None => object,
            }))
        } else {
            Sink::Discard
        };
        let header = range.map(|(a, b)| format!("bytes={a}-{b}"));
        let headers: Vec<(&'static str, &str)> =
            header.iter().map(|h| ("range", h.as_str())).collect();
        let timed = self
            .client
            .exchange_with(
                Method::GET,
                key,
                query,
                Body::Empty,
                &sh.payload,
                &mut sink,
                &headers,
            )
            .await;
        let mut d = Done::new(op, timed);
        if let Outcome::Ok { bytes } = d.timed.outcome {
            d.bytes = bytes;
        }
        d
    }

    async fn stat(&mut self, id: u64) -> Done {
        let key = self.shared.key(id);
        self.stat_at(&key, "").await
    }

    /// A HEAD of `key` (`query`: a version).
    async fn stat_at(&mut self, key: &str, query: &str) -> Done {
        let sh = self.shared.clone();
        let timed = self
            .client
            .exchange(
                Method::HEAD,
                key,
                query,
                Body::Empty,
                &sh.payload,
                &mut Sink::Discard,
            )
            .await;
        let mut d = Done::new("STAT", timed);
        if sh.args.verify
            && d.timed.outcome.is_ok()
            && d.timed.content_length != Some(sh.payload.size() as u64)
        {
            d.timed.outcome = Outcome::Corrupt;
        }
        d
    }

    async fn delete(&mut self, op: &'static str, targets: &[Target]) -> Done {
        let sh = self.shared.clone();
        let bypass = sh.args.mode == Mode::Retention;
        let xml = delete_xml(targets);
        let mut sink = Sink::Collect(Vec::new());
        let timed = self
            .client
            .exchange_with(
                Method::POST,
                "",
                "delete=",
                Body::Xml(Bytes::from(xml)),
                &sh.payload,
                &mut sink,
                if bypass { &[BYPASS] } else { &[] },
            )
            .await;
        let mut d = Done::new(op, timed);
        if let (Sink::Collect(body), true) = (&sink, d.timed.outcome.is_ok()) {
            d.objects = xml_count(body, "Deleted") as u64;
            d.inner_errors = xml_values(body, "Error")
                .iter()
                .map(|e| {
                    format!(
                        "key error {}",
                        xml_value(e.as_bytes(), "Code").unwrap_or_default()
                    )
                })
                .collect();
        }
        d
    }

    async fn list_page(&mut self, expect: u64) -> Done {
        let sh = self.shared.clone();
        if versions(&sh.args) > 1 {
            return self.list_versions_page(expect).await;
        }
        let mut query = String::new();
        if let Some(t) = &self.list_token {
            query.push_str("continuation-token=");
            query.push_str(&uri_encode(t, false));
            query.push('&');
        }
        if let Some(d) = &sh.args.delimiter {
            query.push_str("delimiter=");
            query.push_str(&uri_encode(d, false));
            query.push('&');
        }
        let prefix = match &sh.args.list_prefix {
            Some(p) => p.clone(),
            None => format!("{}/", sh.prefix),
        };
        query.push_str(&format!("list-type=2&max-keys={}&", sh.args.max_keys));
        if sh.args.metadata {
            query.push_str("metadata=true&");
        }
        query.push_str(&format!("prefix={}", uri_encode(&prefix, false)));
        let mut sink = Sink::Collect(Vec::new());
        let timed = self
            .client
            .exchange(Method::GET, "", &query, Body::Empty, &sh.payload, &mut sink)
            .await;
        let mut d = Done::new("LIST", timed);
        let Sink::Collect(body) = &sink else {
            unreachable!()
        };
        if !d.timed.outcome.is_ok() {
            self.list_token = None;
            self.listed = 0;
            return d;
        }
        let keys = (xml_count(body, "Key") + xml_count(body, "CommonPrefixes")) as u64;
        d.objects = keys;
        if sh.args.metadata && sh.args.verify {
            if let Some(e) = metadata_mismatch(&sh.prefix, body) {
                d.inner_errors.push(e);
            }
        }
        self.listed += keys;
        self.list_token = match xml_value(body, "IsTruncated").as_deref() {
            Some("true") => xml_value(body, "NextContinuationToken"),
            _ => None,
        };
        if self.list_token.is_none() {
            if sh.args.verify && self.listed != expect {
                d.inner_errors.push(format!(
                    "verify: listed {} keys, expected {expect}",
                    self.listed
                ));
            }
            self.listed = 0;
        }
        d
    }

    /// One ListObjectVersions page (`list --versions N`): every version
    /// counts as a listed entry.
    async fn list_versions_page(&mut self, expect: u64) -> Done {
        let sh = self.shared.clone();
        let prefix = match &sh.args.list_prefix {
            Some(p) => p.clone(),
            None => format!("{}/", sh.prefix),
        };
        let query = versions_query(
            self.version_marker.as_ref(),
            sh.args.delimiter.as_deref(),
            sh.args.max_keys,
            &prefix,
        );
        let mut sink = Sink::Collect(Vec::new());
        let timed = self
            .client
            .exchange(Method::GET, "", &query, Body::Empty, &sh.payload, &mut sink)
            .await;
        let mut d = Done::new("LIST", timed);
        let Sink::Collect(body) = &sink else {
            unreachable!()
        };
        if !d.timed.outcome.is_ok() {
            self.version_marker = None;
            self.listed = 0;
            return d;
        }
        let entries = (xml_count(body, "Version")
            + xml_count(body, "DeleteMarker")
            + xml_count(body, "CommonPrefixes")) as u64;
        d.objects = entries;
        self.listed += entries;
        self.version_marker = match xml_value(body, "IsTruncated").as_deref() {
            Some("true") => {
                xml_value(body, "NextKeyMarker").zip(xml_value(body, "NextVersionIdMarker"))
            }
            _ => None,
        };
        if self.version_marker.is_none() {
            if sh.args.verify && self.listed != expect {
                d.inner_errors.push(format!(
                    "verify: listed {} versions, expected {expect}",
                    self.listed
                ));
            }
            self.listed = 0;
        }
        d
    }

    /// The range of the next GET (`--range`, `--range-size`), or None.
    fn range(&mut self) -> Option<(u64, u64)> {
        let a = &self.shared.args;
        if !a.range && a.range_size.is_none() {
            return None;
        }
        ranges::pick(
            &mut self.rng,
            self.shared.payload.size() as u64,
            a.range_size,
        )
    }

    /// One operation, or `None` when the job has no work left.
    async fn step(&mut self, job: &Job) -> Option<Done> {
        let sh = self.shared.clone();
        Some(match job {
            Job::Put => {
                let id = object_id(self.slot, self.next_n);
                self.next_n += 1;
                if sh.args.post {
                    self.post(id).await
                } else {
                    self.put("PUT", id).await
                }
            }
            Job::Upload { count, next } => {
                let i = next.fetch_add(1, Relaxed);
                if i >= *count {
                    return None;
                }
                self.put("PUT", prepared_id(i, sh.args.slots())).await
            }
            Job::Get(ids) => {
                let id = ids[self.rng.gen_range(0..ids.len())];
                let range = self.range();
                self.get_range("GET", &sh.key(id), "", id, range).await
            }
            Job::GetVersions(versions) => {
                let (id, version) = &versions[self.rng.gen_range(0..versions.len())];
                let query = format!("versionId={}", uri_encode(version, false));
                let range = self.range();
                self.get_range("GET", &sh.key(*id), &query, *id, range)
                    .await
            }
            Job::Stat(ids) => {
                let id = ids[self.rng.gen_range(0..ids.len())];
                self.stat(id).await
            }
            Job::Delete(pool) => {
                let ids: Vec<u64> = {
                    let mut p = pool.lock().expect("pool lock");
                    let n = p.len().saturating_sub(sh.args.batch);
                    p.split_off(n)
                };
                if ids.is_empty() {
                    return None;
                }
                let keys: Vec<Target> = ids.iter().map(|&id| (sh.key(id), None)).collect();
                self.delete("DELETE", &keys).await
            }
            Job::List { expect } => self.list_page(*expect).await,
            Job::Mixed { pool, base } => self.mixed(pool, *base).await,
            Job::UploadParts {
                key,
                upload_id,
                next,
                etags,
            } => {
                let n = next.fetch_add(1, Relaxed) + 1;
                if n > u64::from(sh.args.parts) {
                    return None;
                }
                let query = format!("partNumber={n}&uploadId={}", uri_encode(upload_id, false));
                let timed = self
                    .client
                    .exchange(
                        Method::PUT,
                        key,
                        &query,
                        Body::Object(n),
                        &sh.payload,
                        &mut Sink::Discard,
                    )
                    .await;
                let mut d = Done::new("PUT-PART", timed);
                if d.timed.outcome.is_ok() {
                    d.bytes = sh.payload.size() as u64;
                    match d.timed.etag.take() {
                        Some(etag) => {
                            etags.lock().expect("etags lock").insert(n as u32, etag);
                        }
                        None => d.inner_errors.push("UploadPart answered no ETag".into()),
                    }
                }
                d
            }
            Job::GetParts { key, parts } => {
                let n = self.rng.gen_range(1..=*parts);
                self.get("GET-PART", key, &format!("partNumber={n}"), u64::from(n))
                    .await
            }
            Job::UploadVersions {
                count,
                versions,
                next,
                uploaded,
            } => {
                let i = next.fetch_add(1, Relaxed);
                if i >= *count {
                    return None;
                }
                let id = prepared_id(i / versions, sh.args.slots());
                let mut d = self.put("PUT", id).await;
                if d.timed.outcome.is_ok() {
                    match d.timed.version_id.take() {
                        Some(v) => uploaded.lock().expect("versions lock").push((id, v)),
                        None => d.inner_errors.push(
                            "PutObject answered no version id (is the bucket versioned?)".into(),
                        ),
                    }
                }
                d
            }
            Job::Retention(versions) => {
                let (id, version) = &versions[self.rng.gen_range(0..versions.len())];
                let until = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs())
                    + 86_400;
                let query = format!("retention=&versionId={}", uri_encode(version, false));
                let timed = self
                    .client
                    .exchange_with(
                        Method::PUT,
                        &sh.key(*id),
                        &query,
                        Body::Xml(Bytes::from(retention_xml(until))),
                        &sh.payload,
                        &mut Sink::Discard,
                        &[BYPASS],
                    )
                    .await;
                Done::new("RETENTION", timed)
            }
            Job::Versioned {
                pool,
                ops,
                next,
                base,
            } => {
                let op = ops[next.fetch_add(1, Relaxed) % ops.len()];
                self.versioned(op, pool, *base).await
            }
            Job::MultipartPut { groups } => {
                let per = sh.args.part_concurrent.max(1);
                let g = self.slot / per;
                return self.multipart_put(&groups[g], g).await;
            }
            Job::Snowball(balls) => self.snowball(balls).await,
            Job::Fanout => self.fanout().await,
            Job::Zip { key, files } => {
                let i = self.rng.gen_range(0..*files);
                self.zip_get(key, i).await
            }
            Job::Clean(batches) => {
                let keys = batches.lock().expect("batches lock").pop()?;
                self.delete("CLEANUP", &keys).await
            }
        })
    }

    /// One snowball: the archive is built (and compressed) off the runtime
    /// and before the clock starts, as warp builds it before timing the
    /// PUT; the operation moves `--objs.per` objects.
    async fn snowball(&mut self, balls: &Mutex<Vec<(usize, u64)>>) -> Done {
        let sh = self.shared.clone();
        let first = self.next_n;
        let layout = snowball::layout(first, sh.args.objs_per, sh.args.compress);
        self.next_n += layout.used;
        let key = format!("{}.tar", sh.key(object_id(self.slot, layout.key)));
        let (slot, mut zstd, build) = (self.slot, self.zstd.take(), sh.clone());
        let built = tokio::task::spawn_blocking(move || {
            let body = snowball_body(&build, slot, &layout.members, &mut zstd);
            (body, zstd)
        })
        .await;
        let body = match built {
            Ok((body, zstd)) => {
                self.zstd = zstd;
                body
            }
            Err(e) => Err(e.to_string()),
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => return Done::new("PUT", Timed::unsent(e)),
        };
        let timed = self
            .client
            .exchange_with(
                Method::PUT,
                &key,
                "",
                body,
                &sh.payload,
                &mut Sink::Discard,
                &[snowball::EXTRACT],
            )
            .await;
        let mut d = Done::new("PUT", timed);
        if d.timed.outcome.is_ok() {
            d.bytes = sh.args.objs_per * sh.payload.size() as u64;
            d.objects = sh.args.objs_per;
            balls.lock().expect("balls lock").push((self.slot, first));
        }
        d
    }

    /// One fanout POST, counted as warp counts it: `--copies` objects and
    /// their bytes; an answer other than one JSON line per copy without an
    /// error fails it.
    async fn fanout(&mut self) -> Done {
        let sh = self.shared.clone();
        let a = &sh.args;
        let id = object_id(self.slot, self.next_n);
        self.next_n += 1;
        let keys: Vec<String> = (0..a.copies)
            .map(|i| format!("{}/copy-{i}.ext", sh.key(id)))
            .collect();
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let creds = post::Credentials {
            access_key: &a.access_key,
            secret_key: &a.secret_key,
            region: &a.region,
        };
        let form = post::fanout_form(
            &creds,
            &a.bucket,
            &keys,
            sh.payload.object(id),
            since.as_secs(),
            since.as_nanos(),
        );
        let mut sink = Sink::Collect(Vec::new());
        let timed = self.client.post_form(form, &mut sink).await;
        let mut d = Done::new("POST", timed);
        if d.timed.outcome.is_ok() {
            let Sink::Collect(body) = sink else {
                unreachable!()
            };
            match fanout_answer(&body, a.copies) {
                Ok(()) => {
                    d.bytes = a.copies * sh.payload.size() as u64;
                    d.objects = a.copies;
                }
                Err(e) => d.inner_errors.push(e),
            }
        }
        d
    }

    /// A GET of member `i` of the zip at `key` through `x-minio-extract`;
    /// a body of another length fails it, as warp's.
    async fn zip_get(&mut self, key: &str, i: u64) -> Done {
        let sh = self.shared.clone();
        let mut sink = if sh.args.verify {
            Sink::Verify(Verifier::new(sh.payload.object(i)))
        } else {
            Sink::Discard
        };
        let timed = self
            .client
            .exchange_with(
                Method::GET,
                &zip_member(key, i),
                "",
                Body::Empty,
                &sh.payload,
                &mut sink,
                &[ZIP_EXTRACT],
            )
            .await;
        let mut d = Done::new("GET", timed);
        if let Outcome::Ok { bytes } = d.timed.outcome {
            d.bytes = bytes;
            if bytes != sh.payload.size() as u64 {
                d.inner_errors.push(format!(
                    "unexpected download size: want {}, got {bytes}",
                    sh.payload.size()
                ));
            }
        }
        d
    }

    /// One operation of warp's versioned mode. With no version free (all
    /// being read or deleted), it PUTs a new object instead.
    async fn versioned(&mut self, op: versioned::Op, pool: &Mutex<Pool>, base: u64) -> Done {
        let sh = self.shared.clone();
        let taken = pool.lock().expect("pool lock").take(&mut self.rng);
        let content = object_id(self.slot, base + self.next_n);
        let Some((object, v)) = taken else {
            self.next_n += 1;
            let mut d = self.put("PUT", content).await;
            match d.timed.version_id.take() {
                Some(id) => pool
                    .lock()
                    .expect("pool lock")
                    .put_back(content, Version { id, content }),
                None if d.timed.outcome.is_ok() => d
                    .inner_errors
                    .push("PutObject answered no version id".into()),
                None => {}
            }
            return d;
        };
        let key = sh.key(object);
        let query = format!("versionId={}", uri_encode(&v.id, false));
        let d = match op {
            versioned::Op::Get => self.get("GET", &key, &query, v.content).await,
            versioned::Op::Stat => {
                let mut d = self.stat_at(&key, &query).await;
                if sh.args.verify
                    && d.timed.outcome.is_ok()
                    && d.timed.content_length != Some(sh.payload.size() as u64)
                {
                    d.timed.outcome = Outcome::Corrupt;
                }
                d
            }
            versioned::Op::Put => {
                // A new version of the object (its version held meanwhile,
                // as warp's newVersion).
                self.next_n += 1;
                let mut d = self.put_version("PUT", &key, content).await;
                match d.timed.version_id.take() {
                    Some(id) => pool
                        .lock()
                        .expect("pool lock")
                        .put_back(object, Version { id, content }),
                    None if d.timed.outcome.is_ok() => d
                        .inner_errors
                        .push("PutObject answered no version id".into()),
                    None => {}
                }
                d
            }
            versioned::Op::Delete => {
                let timed = self
                    .client
                    .exchange(
                        Method::DELETE,
                        &key,
                        &query,
                        Body::Empty,
                        &sh.payload,
                        &mut Sink::Discard,
                    )
                    .await;
                if !timed.outcome.is_ok() {
                    pool.lock().expect("pool lock").put_back(object, v);
                }
                return Done::new("DELETE", timed);
            }
        };
        pool.lock().expect("pool lock").put_back(object, v);
        d
    }

    /// One part of the group's upload (creating the upload first if none
    /// is open; completing it after its last part).
    async fn multipart_put(&mut self, group: &UploadGroup, index: usize) -> Option<Done> {
        let sh = self.shared.clone();
        let parts = sh.args.parts;
        // Each pass takes a part, or waits for one upload to complete.
        loop {
            let mut cur = group.current.lock().await;
            if cur.open.is_none() {
                let key = sh.key(object_id(index, cur.started));
                cur.started += 1;
                let mut sink = Sink::Collect(Vec::new());
                let timed = self
                    .client
                    .exchange(
                        Method::POST,
                        &key,
                        "uploads=",
                        Body::Empty,
                        &sh.payload,
                        &mut sink,
                    )
                    .await;
                let Sink::Collect(body) = &sink else {
                    unreachable!()
                };
                match xml_value(body, "UploadId") {
                    Some(id) if timed.outcome.is_ok() => {
                        *cur = GroupUpload {
                            open: Some((key, id)),
                            started: cur.started,
                            next_part: 1,
                            ..GroupUpload::default()
                        };
                    }
                    _ => return Some(Done::new("CREATE", timed)),
                }
            }
            if cur.next_part > parts {
                let completed = group.completed.notified();
                drop(cur);
                completed.await;
                continue;
            }
            let n = cur.next_part;
            cur.next_part += 1;
            let (key, upload) = cur.open.clone()?;
            drop(cur);
            let query = format!("partNumber={n}&uploadId={}", uri_encode(&upload, false));
            let timed = self
                .client
                .exchange(
                    Method::PUT,
                    &key,
                    &query,
                    Body::Object(u64::from(n)),
                    &sh.payload,
                    &mut Sink::Discard,
                )
                .await;
            let mut d = Done::new("PUT", timed);
            let mut cur = group.current.lock().await;
            if d.timed.outcome.is_ok() {
                d.bytes = sh.payload.size() as u64;
                match d.timed.etag.take() {
                    Some(etag) => {
                        cur.etags.insert(n, etag);
                    }
                    None => d.inner_errors.push("UploadPart answered no ETag".into()),
                }
            }
            cur.finished += 1;
            if cur.finished == parts {
                if let Err(e) = self.end_upload(&key, &upload, &cur.etags, parts).await {
                    d.inner_errors.push(e);
                }
                cur.open = None;
                group.completed.notify_waiters();
            }
            return Some(d);
        }
    }

    /// Completes an upload whose parts all have ETags, else aborts it.
    async fn end_upload(
        &mut self,
        key: &str,
        upload: &str,
        etags: &BTreeMap<u32, String>,
        parts: u32,
    ) -> Result<(), String> {
        let sh = self.shared.clone();
        let query = format!("uploadId={}", uri_encode(upload, false));
        let (method, body) = if etags.len() == parts as usize {
            (Method::POST, Body::Xml(Bytes::from(complete_xml(etags))))
        } else {
            (Method::DELETE, Body::Empty)
        };
        let mut sink = Sink::Collect(Vec::new());
        let t = self
            .client
            .exchange(method, key, &query, body, &sh.payload, &mut sink)
            .await;
        let Sink::Collect(answer) = &sink else {
            unreachable!()
        };
        // S3 may answer 200 with an error document once the response started.
        match t.outcome.error_key().or_else(|| xml_value(answer, "Code")) {
            Some(e) => Err(format!("CompleteMultipartUpload: {e}")),
            None => Ok(()),
        }
    }

    /// A PUT of content `content` to `key` (a new version of another object).
    async fn put_version(&mut self, op: &'static str, key: &str, content: u64) -> Done {
        let sh = self.shared.clone();
        let timed = self
            .client
            .exchange(
                Method::PUT,
                key,
                "",
                Body::Object(content),
                &sh.payload,
                &mut Sink::Discard,
            )
            .await;
        let mut d = Done::new(op, timed);
        if d.timed.outcome.is_ok() {
            d.bytes = sh.payload.size() as u64;
        }
        d
    }

    async fn mixed(&mut self, pool: &Mutex<MixedPool>, base: u64) -> Done {
        let a = &self.shared.args;
        let weights = [
            a.get_distrib,
            a.stat_distrib,
            a.put_distrib,
            a.delete_distrib,
        ];
        let mut pick = self
            .rng
            .gen_range(0.0..weights.iter().sum::<f64>().max(f64::MIN_POSITIVE));
        let mut choice = 2;
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                choice = i;
                break;
            }
            pick -= w;
        }
        match choice {
            0 | 1 => {
                let id = pool.lock().expect("pool lock").start_read(&mut self.rng);
                if let Some(id) = id {
                    let d = if choice == 0 {
                        let key = self.shared.key(id);
                        self.get("GET", &key, "", id).await
                    } else {
                        self.stat(id).await
                    };
                    pool.lock().expect("pool lock").end_read(id);
                    return d;
                }
            }
            3 => {
                let id = pool
                    .lock()
                    .expect("pool lock")
                    .take_for_delete(&mut self.rng);
                if let Some(id) = id {
                    let key = self.shared.key(id);
                    let sh = self.shared.clone();
                    let timed = self
                        .client
                        .exchange(
                            Method::DELETE,
                            &key,
                            "",
                            Body::Empty,
                            &sh.payload,
                            &mut Sink::Discard,
                        )
                        .await;
                    return Done::new("DELETE", timed);
                }
            }
            _ => {}
        }
        // PUT, or a read or delete with nothing to work on.
        let id = object_id(self.slot, base + self.next_n);
        self.next_n += 1;
        let d = self.put("PUT", id).await;
        if d.timed.outcome.is_ok() {
            pool.lock().expect("pool lock").live.push(id);
        }
        d
    }
}

/// `list --metadata --verify`: the first entry of a ListObjectsV2 page
/// whose `<UserMetadata>` does not name its own object, if any.
fn metadata_mismatch(prefix: &str, page: &[u8]) -> Option<String> {
    xml_values(page, "Contents").into_iter().find_map(|entry| {
        let key = xml_value(entry.as_bytes(), "Key").unwrap_or_default();
        let want = id_of(prefix, &key).map(|id| id.to_string());
        let got = xml_value(entry.as_bytes(), META_ELEMENT);
        (want.is_none() || got != want).then(|| {
            format!(
                "verify: metadata of {key}: {META_ELEMENT} {}",
                got.as_deref().unwrap_or("missing")
            )
        })
    })
}

/// The id of the `i`-th object uploaded at set-up, spread over `slots`
/// worker slots like the put mode's keys.
fn prepared_id(i: u64, slots: usize) -> u64 {
    let c = slots.max(1) as u64;
    object_id((i % c) as usize, i / c)
}

/// A DeleteObjects request for `targets`.
fn delete_xml(targets: &[Target]) -> String {
    let mut xml = String::from("<Delete>");
    for (k, v) in targets {
        xml.push_str("<Object><Key>");
        xml.push_str(&escape(k));
        xml.push_str("</Key>");
        if let Some(v) = v {
            xml.push_str("<VersionId>");
            xml.push_str(&escape(v));
            xml.push_str("</VersionId>");
        }
        xml.push_str("</Object>");
    }
    xml.push_str("</Delete>");
    xml
}

/// A CompleteMultipartUpload body naming every part.
fn complete_xml(etags: &BTreeMap<u32, String>) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (n, etag) in etags {
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
            escape(etag)
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// A PutObjectRetention body: GOVERNANCE until `until` (Unix seconds).
fn retention_xml(until: u64) -> String {
    let d = amz_date(until);
    format!(
        "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>GOVERNANCE</Mode>\
         <RetainUntilDate>{}-{}-{}T{}:{}:{}Z</RetainUntilDate></Retention>",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

/// Live counters for the progress bar and `--autoterm`.
#[derive(Default)]
struct Live {
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    running: AtomicUsize,
    stop: AtomicBool,
}

/// A phase's result.
struct Phase {
    stats: Stats,
    duration: Duration,
    /// Client and server CPU milliseconds over the measured time.
    cpu: (cpu::Own, Option<f64>),
}

/// How a phase ends.
enum Until {
    /// After this much measured time (or earlier with `--autoterm`, or when
    /// the job runs out of work).
    Time(Duration),
    /// When the job runs out of `n` units of work.
    Work(u64),
}

fn progress_bar(args: &Args, len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(len),
        if args.no_progress || !std::io::stderr().is_terminal() {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:25}] {elapsed} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar
}

fn server_ms(args: &Args) -> Option<f64> {
    args.server_pid.and_then(|p| cpu::process_ms(p).ok())
}

/// Runs `job` on `--concurrent` workers (`workers` for clean-up) until
/// `until`, measuring after `warmup`.
async fn run_phase(
    shared: &Arc<Shared>,
    what: &str,
    job: Job,
    until: Until,
    warmup: Duration,
    workers: usize,
) -> Phase {
    let args = &shared.args;
    let live = Arc::new(Live::default());
    let start = Instant::now();
    let measure_from = start + warmup;
    let (bar, deadline) = match until {
        Until::Time(d) => (
            progress_bar(args, (warmup + d).as_millis() as u64, what),
            Some(measure_from + d),
        ),
        Until::Work(n) => (progress_bar(args, n, what), None),
    };
    let mut cpu0 = (warmup.is_zero()).then(|| (cpu::own(), server_ms(args)));

    let handles: Vec<_> = (0..workers)
        .map(|slot| {
            let mut w = Worker::new(shared, slot);
            let (job, live) = (job.clone(), live.clone());
            live.running.fetch_add(1, Relaxed);
            tokio::spawn(async move {
                let mut stats = Stats::default();
                let mut last_end = Instant::now();
                while !live.stop.load(Relaxed) {
                    let started = Instant::now();
                    let Some(d) = w.step(&job).await else { break };
                    let err = d.timed.outcome.error_key();
                    live.ops.fetch_add(1, Relaxed);
                    live.bytes.fetch_add(d.bytes, Relaxed);
                    if err.is_some() || !d.inner_errors.is_empty() {
                        live.errors.fetch_add(1, Relaxed);
                    }
                    if started < measure_from || live.stop.load(Relaxed) {
                        continue;
                    }
                    last_end = Instant::now();
                    let s = stats.op(d.op);
                    match err {
                        None => s.success(d.timed.total, d.timed.ttfb, d.bytes, d.objects),
                        Some(e) => s.error(e),
                    }
                    for e in d.inner_errors {
                        s.error(e);
                    }
                }
                live.running.fetch_sub(1, Relaxed);
                (stats, last_end)
            })
        })
        .collect();

    let tick = Duration::from_millis(100);
    let mut samples: Vec<(f64, u64, u64)> = Vec::new();
    let mut base = (0u64, 0u64);
    let mut last_sample = measure_from;
    let mut rate = (Instant::now(), 0u64, 0u64);
    let (end, ran_out) = loop {
        // Wake at the start of the measurement and at the deadline exactly.
        let mut next = Instant::now() + tick;
        if cpu0.is_none() {
            next = next.min(measure_from);
        }
        if let Some(d) = deadline {
            next = next.min(d);
        }
        tokio::time::sleep_until(next.into()).await;
        let now = Instant::now();
        let (ops, bytes, errors) = (
            live.ops.load(Relaxed),
            live.bytes.load(Relaxed),
            live.errors.load(Relaxed),
        );
        if cpu0.is_none() && now >= measure_from {
            cpu0 = Some((cpu::own(), server_ms(args)));
            base = (ops, bytes);
        }
        match until {
            Until::Time(_) => bar.set_position(now.duration_since(start).as_millis() as u64),
            Until::Work(_) => bar.set_position(ops),
        }
        if now.duration_since(rate.0) >= Duration::from_secs(1) {
            let secs = now.duration_since(rate.0).as_secs_f64();
            bar.set_message(format!(
                "{:.0} ops/s, {:.1} MiB/s, {errors} errors{}",
                (ops - rate.1) as f64 / secs,
                (bytes - rate.2) as f64 / secs / 1048576.0,
                if now < measure_from { " (warm-up)" } else { "" }
            ));
            rate = (now, ops, bytes);
        }
        if live.running.load(Relaxed) == 0 {
            break (now, true);
        }
        if deadline.is_some_and(|d| now >= d) {
            break (now, false);
        }
        if args.autoterm
            && now >= measure_from
            && now.duration_since(last_sample) >= Duration::from_secs(1)
        {
            last_sample = now;
            samples.push((
                now.duration_since(measure_from).as_secs_f64(),
                ops - base.0,
                bytes - base.1,
            ));
            if stable(&samples, args.autoterm_pct, args.autoterm_dur) {
                bar.suspend(|| {
                    eprintln!("{what}: throughput stable, terminating early (--autoterm)")
                });
                break (now, false);
            }
        }
    };
    live.stop.store(true, Relaxed);
    let (cpu0_client, cpu0_server) = cpu0.unwrap_or((cpu::own(), server_ms(args)));
    let cpu = (
        cpu::own() - cpu0_client,
        server_ms(args).zip(cpu0_server).map(|(b, a)| b - a),
    );
    let mut stats = Stats::default();
    let mut finished = measure_from;
    for h in handles {
        let (s, last) = h.await.expect("worker task");
        stats.merge(&s);
        finished = finished.max(last);
    }
    bar.finish_and_clear();
    // A job that ran out of work ends with its last operation.
    let end = if ran_out { finished.min(end) } else { end };
    Phase {
        stats,
        duration: end.saturating_duration_since(measure_from),
        cpu,
    }
}

/// A phase that must not fail (set-up): its errors become the run's error.
fn check(what: &str, phase: &Phase) -> Result<(), String> {
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for s in phase.stats.ops.values() {
        for (k, n) in &s.errors {
            *errors.entry(k.clone()).or_default() += n;
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = errors.iter().map(|(k, n)| format!("{n} x {k}")).collect();
    Err(format!("{what} failed: {}", list.join(", ")))
}

/// One request outside any phase (bucket creation, multipart control).
async fn single(
    shared: &Shared,
    method: Method,
    key: &str,
    query: &str,
    body: Body,
) -> (Outcome, Vec<u8>) {
    single_with(shared, method, key, query, body, &[]).await
}

async fn single_with(
    shared: &Shared,
    method: Method,
    key: &str,
    query: &str,
    body: Body,
    headers: &[(&'static str, &str)],
) -> (Outcome, Vec<u8>) {
    let mut c = shared.client(0);
    let mut sink = Sink::Collect(Vec::new());
    let t = c
        .exchange_with(
            method,
            key,
            query,
            body,
            &shared.payload,
            &mut sink,
            headers,
        )
        .await;
    let Sink::Collect(body) = sink else {
        unreachable!()
    };
    (t.outcome, body)
}

/// As warp does: HEAD the bucket, create it only when that fails (some
/// servers answer a second create with BucketAlreadyExists). Retention
/// creates it with object lock (which turns versioning on).
async fn ensure_bucket(shared: &Shared) -> Result<(), String> {
    if let Outcome::Ok { .. } = single(shared, Method::HEAD, "", "", Body::Empty).await.0 {
        return Ok(());
    }
    let lock: &[(&'static str, &str)] = if shared.args.mode == Mode::Retention {
        &[("x-amz-bucket-object-lock-enabled", "true")]
    } else {
        &[]
    };
    match single_with(shared, Method::PUT, "", "", Body::Empty, lock)
        .await
        .0
    {
        Outcome::Ok { .. } => Ok(()),
        Outcome::Status(409, Some(code)) if code == "BucketAlreadyOwnedByYou" => Ok(()),
        o => Err(format!(
            "creating bucket {}: {}",
            shared.args.bucket,
            o.error_key().unwrap_or_default()
        )),
    }
}

/// Uploads `count` objects (not measured).
async fn upload(shared: &Arc<Shared>, count: u64) -> Result<Vec<u64>, String> {
    eprintln!(
        "uploading {count} objects of {} bytes...",
        shared.payload.size()
    );
    let job = Job::Upload {
        count,
        next: Arc::new(AtomicU64::new(0)),
    };
    set_up(shared, "uploading objects", job, count).await?;
    Ok((0..count)
        .map(|i| prepared_id(i, shared.args.slots()))
        .collect())
}

/// Uploads objects `--from..--from + --objects`, measured as PUT.
async fn fill(shared: &Arc<Shared>, reports: &mut Vec<PhaseReport>) -> Result<(), String> {
    let args = &shared.args;
    let count = args.objects();
    let job = Job::Upload {
        count: args.from + count,
        next: Arc::new(AtomicU64::new(args.from)),
    };
    let p = run_phase(
        shared,
        "fill",
        job,
        Until::Work(count),
        Duration::ZERO,
        args.concurrent,
    )
    .await;
    reports.push(phase_report("fill", &p.stats, p.duration, p.cpu));
    check("filling", &p)
}

/// Uploads `objects` objects of `versions` versions each (not measured);
/// returns each version's object and version id.
async fn upload_versions(
    shared: &Arc<Shared>,
    objects: u64,
    versions: u64,
) -> Result<Vec<(u64, String)>, String> {
    let count = objects * versions;
    eprintln!(
        "uploading {objects} objects with {versions} versions each of {} bytes...",
        shared.payload.size()
    );
    let uploaded = Arc::new(Mutex::new(Vec::with_capacity(count as usize)));
    let job = Job::UploadVersions {
        count,
        versions,
        next: Arc::new(AtomicU64::new(0)),
        uploaded: uploaded.clone(),
    };
    set_up(shared, "uploading versions", job, count).await?;
    let v = std::mem::take(&mut *uploaded.lock().expect("versions lock"));
    Ok(v)
}

/// Runs an upload job of `count` operations (not measured); its errors are
/// the run's.
async fn set_up(shared: &Arc<Shared>, what: &str, job: Job, count: u64) -> Result<(), String> {
    let phase = run_phase(
        shared,
        "upload",
        job,
        Until::Work(count),
        Duration::ZERO,
        shared.args.concurrent,
    )
    .await;
    check(what, &phase)
}

/// The canonical query of a ListObjectVersions page after `marker`.
fn versions_query(
    marker: Option<&(String, String)>,
    delimiter: Option<&str>,
    max_keys: usize,
    prefix: &str,
) -> String {
    let mut query = String::new();
    if let Some(d) = delimiter {
        query.push_str(&format!("delimiter={}&", uri_encode(d, false)));
    }
    if let Some((k, _)) = marker {
        query.push_str(&format!("key-marker={}&", uri_encode(k, false)));
    }
    query.push_str(&format!(
        "max-keys={max_keys}&prefix={}&",
        uri_encode(prefix, false)
    ));
    if let Some((_, v)) = marker {
        query.push_str(&format!("version-id-marker={}&", uri_encode(v, false)));
    }
    query.push_str("versions=");
    query
}

/// Every version and delete marker under the run's prefix.
async fn list_versions(shared: &Shared) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    let mut marker: Option<(String, String)> = None;
    loop {
        let mut query = String::new();
        if let Some((k, _)) = &marker {
            query = format!("key-marker={}&", uri_encode(k, false));
        }
        query.push_str(&format!(
            "max-keys=1000&prefix={}&",
            uri_encode(&format!("{}/", shared.prefix), false)
        ));
        if let Some((_, v)) = &marker {
            query.push_str(&format!("version-id-marker={}&", uri_encode(v, false)));
        }
        query.push_str("versions=");
        let (o, body) = single(shared, Method::GET, "", &query, Body::Empty).await;
        if !o.is_ok() {
            return Err(format!(
                "listing versions for clean-up: {}",
                o.error_key().unwrap_or_default()
            ));
        }
        for tag in ["Version", "DeleteMarker"] {
            for entry in xml_values(&body, tag) {
                if let Some(k) = xml_value(entry.as_bytes(), "Key") {
                    out.push((k, xml_value(entry.as_bytes(), "VersionId")));
                }
            }
        }
        marker = match xml_value(&body, "IsTruncated").as_deref() {
            Some("true") => {
                xml_value(&body, "NextKeyMarker").zip(xml_value(&body, "NextVersionIdMarker"))
            }
            _ => None,
        };
        if marker.is_none() {
            return Ok(out);
        }
    }
}

/// Deletes everything under the run's prefix (not measured): every version,
/// bypassing governance retention, after a retention run.
async fn clean(shared: &Arc<Shared>) -> Result<(), String> {
    if shared.args.mode == Mode::MultipartPut {
        abort_uploads(shared).await?;
    }
    let targets = if versioned(&shared.args) {
        list_versions(shared).await?
    } else {
        list_objects(shared)
            .await?
            .into_iter()
            .map(|(k, _)| (k, None))
            .collect()
    };
    if targets.is_empty() {
        return Ok(());
    }
    eprintln!("removing {} objects...", targets.len());
    let batches: Vec<Vec<Target>> = targets.chunks(1000).map(<[Target]>::to_vec).collect();
    let n = batches.len() as u64;
    let job = Job::Clean(Arc::new(Mutex::new(batches)));
    let phase = run_phase(
        shared,
        "clean-up",
        job,
        Until::Work(n),
        Duration::ZERO,
        shared.args.concurrent.min(8),
    )
    .await;
    check("clean-up", &phase)
}

/// Aborts the uploads left open under the run's prefix (a multipart-put
/// run stops between parts), one page of up to 1,000.
async fn abort_uploads(shared: &Shared) -> Result<(), String> {
    let query = format!(
        "prefix={}&uploads=",
        uri_encode(&format!("{}/", shared.prefix), false)
    );
    let (o, body) = single(shared, Method::GET, "", &query, Body::Empty).await;
    if let Some(e) = o.error_key() {
        return Err(format!("listing uploads for clean-up: {e}"));
    }
    for upload in xml_values(&body, "Upload") {
        let (Some(key), Some(id)) = (
            xml_value(upload.as_bytes(), "Key"),
            xml_value(upload.as_bytes(), "UploadId"),
        ) else {
            continue;
        };
        let q = format!("uploadId={}", uri_encode(&id, false));
        let (o, _) = single(shared, Method::DELETE, &key, &q, Body::Empty).await;
        if let Some(e) = o.error_key() {
            return Err(format!("aborting an upload of {key}: {e}"));
        }
    }
    Ok(())
}

/// Every key under the run's prefix, with its size.
async fn list_objects(shared: &Shared) -> Result<Vec<(String, Option<u64>)>, String> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = String::new();
        if let Some(t) = &token {
            query = format!("continuation-token={}&", uri_encode(t, false));
        }
        query.push_str(&format!(
            "list-type=2&max-keys=1000&prefix={}",
            uri_encode(&format!("{}/", shared.prefix), false)
        ));
        let (o, body) = single(shared, Method::GET, "", &query, Body::Empty).await;
        if !o.is_ok() {
            return Err(format!(
                "listing for clean-up: {}",
                o.error_key().unwrap_or_default()
            ));
        }
        keys.extend(xml_values(&body, "Contents").into_iter().filter_map(|c| {
            let key = xml_value(c.as_bytes(), "Key")?;
            Some((
                key,
                xml_value(c.as_bytes(), "Size").and_then(|s| s.parse().ok()),
            ))
        }));
        token = match xml_value(&body, "IsTruncated").as_deref() {
            Some("true") => xml_value(&body, "NextContinuationToken"),
            _ => None,
        };
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// snowball --verify: every member of every archive the server accepted
/// is listed with its size, and a few read back with their bytes.
async fn verify_snowball(shared: &Shared, balls: &[(usize, u64)]) -> Result<String, String> {
    let a = &shared.args;
    let size = shared.payload.size() as u64;
    let listed: HashMap<String, Option<u64>> = list_objects(shared).await?.into_iter().collect();
    let mut members = Vec::new();
    for &(slot, first) in balls {
        let layout = snowball::layout(first, a.objs_per, a.compress);
        for (i, &n) in layout.members.iter().enumerate() {
            let id = object_id(slot, n);
            members.push((snowball::member_name(&shared.key(id), i), id));
        }
    }
    let wrong: Vec<String> = members
        .iter()
        .filter_map(|(k, _)| match listed.get(k) {
            Some(Some(s)) if *s == size => None,
            Some(s) => Some(format!("{k} listed with {s:?} bytes")),
            None => Some(format!("{k} not listed")),
        })
        .collect();
    if let Some(first) = wrong.first() {
        return Err(format!(
            "snowball --verify: {} of {} members not listed with their {size} bytes (first: {first})",
            wrong.len(),
            members.len()
        ));
    }
    const READS: usize = 8;
    let step = (members.len() / READS).max(1);
    let mut read = 0;
    for (key, id) in members.iter().step_by(step).take(READS) {
        let (o, body) = single(shared, Method::GET, key, "", Body::Empty).await;
        if let Some(e) = o.error_key() {
            return Err(format!("snowball --verify: GET {key}: {e}"));
        }
        if body != shared.payload.object(*id) {
            return Err(format!("snowball --verify: GET {key}: wrong bytes"));
        }
        read += 1;
    }
    Ok(format!(
        "verify: {} members of {} archives listed with their size, {read} read back",
        members.len(),
        balls.len()
    ))
}

/// Multipart: create, upload parts (measured), complete (timed), GET parts
/// (measured).
async fn multipart(shared: &Arc<Shared>, reports: &mut Vec<PhaseReport>) -> Result<(), String> {
    let key: Arc<str> = format!("{}/multipart", shared.prefix).into();
    let (o, body) = single(shared, Method::POST, &key, "uploads=", Body::Empty).await;
    let upload_id = match (&o, xml_value(&body, "UploadId")) {
        (Outcome::Ok { .. }, Some(id)) => id,
        _ => {
            let msg = xml_value(&body, "Message")
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            return Err(format!(
                "CreateMultipartUpload: {}{msg}",
                o.error_key()
                    .unwrap_or_else(|| "no UploadId in the answer".into())
            ));
        }
    };
    let etags = Arc::new(Mutex::new(BTreeMap::new()));
    let job = Job::UploadParts {
        key: key.clone(),
        upload_id: upload_id.as_str().into(),
        next: Arc::new(AtomicU64::new(0)),
        etags: etags.clone(),
    };
    let args = &shared.args;
    let parts = run_phase(
        shared,
        "upload parts",
        job,
        Until::Work(u64::from(args.parts)),
        Duration::ZERO,
        args.concurrent,
    )
    .await;
    reports.push(phase_report(
        "upload parts",
        &parts.stats,
        parts.duration,
        parts.cpu,
    ));
    let etags = std::mem::take(&mut *etags.lock().expect("etags lock"));
    let query = format!("uploadId={}", uri_encode(&upload_id, false));
    if etags.len() != args.parts as usize {
        single(shared, Method::DELETE, &key, &query, Body::Empty).await;
        return Err(format!(
            "{} of {} parts uploaded; upload aborted",
            etags.len(),
            args.parts
        ));
    }
    let xml = complete_xml(&etags);
    let cpu0 = (cpu::own(), server_ms(args));
    let started = Instant::now();
    let (o, body) = single(
        shared,
        Method::POST,
        &key,
        &query,
        Body::Xml(Bytes::from(xml)),
    )
    .await;
    let took = started.elapsed();
    let cpu = (
        cpu::own() - cpu0.0,
        server_ms(args).zip(cpu0.1).map(|(b, a)| b - a),
    );
    // S3 may answer 200 with an error document once the response has started.
    if !o.is_ok() || xml_value(&body, "Code").is_some() {
        single(shared, Method::DELETE, &key, &query, Body::Empty).await;
        return Err(format!(
            "CompleteMultipartUpload: {}",
            o.error_key()
                .or_else(|| xml_value(&body, "Code"))
                .unwrap_or_default()
        ));
    }
    // The completion's own latency: it must not copy data, so it stays
    // small whatever the parts weigh.
    let mut complete = Stats::default();
    complete
        .op("COMPLETE")
        .success(took, took, 0, u64::from(args.parts));
    reports.push(phase_report("complete", &complete, took, cpu));
    let job = Job::GetParts {
        key,
        parts: args.parts,
    };
    let gets = run_phase(
        shared,
        "get parts",
        job,
        Until::Time(args.duration),
        args.warmup.unwrap_or_default(),
        args.concurrent,
    )
    .await;
    reports.push(phase_report(
        "get parts",
        &gets.stats,
        gets.duration,
        gets.cpu,
    ));
    Ok(())
}

/// Whether the run writes versions (its clean-up removes every version).
fn versioned(args: &Args) -> bool {
    matches!(args.mode, Mode::Retention | Mode::Versioned) || versions(args) > 1
}

/// `--versions`, or the mode's default (warp's: 5 for retention, else 1).
fn versions(args: &Args) -> u64 {
    args.versions
        .unwrap_or(if args.mode == Mode::Retention { 5 } else { 1 })
}

/// PutBucketVersioning: Enabled.
async fn enable_versioning(shared: &Shared) -> Result<(), String> {
    let xml = "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
               <Status>Enabled</Status></VersioningConfiguration>";
    let (o, body) = single(
        shared,
        Method::PUT,
        "",
        "versioning=",
        Body::Xml(Bytes::from_static(xml.as_bytes())),
    )
    .await;
    match o.error_key() {
        None => Ok(()),
        Some(e) => Err(format!(
            "PutBucketVersioning: {e}{}",
            xml_value(&body, "Message")
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        )),
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Put => "put",
        Mode::Get => "get",
        Mode::Stat => "stat",
        Mode::Delete => "delete",
        Mode::List => "list",
        Mode::Mixed => "mixed",
        Mode::Multipart => "multipart",
        Mode::Retention => "retention",
        Mode::Versioned => "versioned",
        Mode::MultipartPut => "multipart-put",
        Mode::Snowball => "snowball",
        Mode::Fanout => "fanout",
        Mode::Zip => "zip",
        Mode::Fill => "fill",
    }
}

#[derive(Serialize)]
struct RunReport<'a> {
    tool: &'static str,
    mode: &'static str,
    started: String,
    hosts: &'a [String],
    bucket: &'a str,
    prefix: &'a str,
    obj_size: u64,
    concurrent: usize,
    threads: usize,
    payload: &'static str,
    verify: bool,
    phases: &'a [PhaseReport],
}

pub async fn run(args: Args) -> Result<(), String> {
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let hosts: Vec<String> = args
        .host
        .split(',')
        .map(|h| {
            h.trim()
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        })
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() || args.concurrent == 0 || args.concurrent >= 1 << SLOT_BITS {
        return Err("need a --host and 1..65535 --concurrent".into());
    }
    let parted = matches!(args.mode, Mode::Multipart | Mode::MultipartPut);
    if parted && !(1..=10_000).contains(&args.parts) {
        return Err("--parts must be 1..10000".into());
    }
    if args.mode == Mode::MultipartPut && !(1..=args.parts as usize).contains(&args.part_concurrent)
    {
        return Err("--part.concurrent must be 1..--parts".into());
    }
    if args.mode == Mode::Snowball {
        if args.objs_per == 0 {
            return Err("--objs.per must be at least 1".into());
        }
        snowball::check_sizes(
            args.obj_size(),
            args.objs_per,
            args.concurrent,
            args.compress,
        )?;
        if args.compress {
            snowball::window_log(args.obj_size())?;
        }
    }
    let size = if parted {
        args.part_size
    } else {
        args.obj_size()
    };
    let prefix = args.prefix.clone().unwrap_or_else(|| {
        let mut rng = SmallRng::seed_from_u64(started ^ u64::from(std::process::id()));
        (0..8)
            .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
            .collect()
    });
    let tls = if args.tls {
        Some(crate::tls::connector(
            args.tls_ca.as_deref(),
            args.insecure,
        )?)
    } else {
        None
    };
    let shared = Arc::new(Shared {
        tls,
        signer: Signer::new(&args.access_key, &args.secret_key, &args.region),
        // Snowball archives are hashed whole, not object by object.
        payload: Payload::new(
            size as usize,
            started,
            !args.unsigned_payload && !matches!(args.mode, Mode::Snowball | Mode::Zip),
        ),
        hosts,
        prefix,
        args,
    });
    let args = &shared.args;
    let reuse = args.skip_upload && matches!(args.mode, Mode::Get | Mode::Stat | Mode::List);
    if !reuse {
        ensure_bucket(&shared).await?;
    }

    let objects = args.objects();
    // As warp: fewer would run out before the measurement means anything.
    let want = (args.batch * args.concurrent * 4) as u64;
    if args.mode == Mode::Delete && objects < want {
        return Err(format!(
            "too few objects: with --batch {} and --concurrent {}, use at least --objects {want}",
            args.batch, args.concurrent
        ));
    }
    let warmup = args.warmup.unwrap_or_default();
    let mut reports = Vec::new();
    let balls = Arc::new(Mutex::new(Vec::new()));
    let measured = async {
        let job = match args.mode {
            Mode::Multipart => return multipart(&shared, &mut reports).await,
            Mode::Fill => return fill(&shared, &mut reports).await,
            Mode::Put => Job::Put,
            Mode::Get | Mode::Stat if reuse => {
                let slots = args.slots();
                let ids = Arc::new((0..objects.max(1)).map(|i| prepared_id(i, slots)).collect());
                if args.mode == Mode::Get {
                    Job::Get(ids)
                } else {
                    Job::Stat(ids)
                }
            }
            Mode::Get if versions(args) > 1 => {
                enable_versioning(&shared).await?;
                let v = upload_versions(&shared, objects.max(1), versions(args)).await?;
                Job::GetVersions(Arc::new(v))
            }
            Mode::Get => Job::Get(Arc::new(upload(&shared, objects.max(1)).await?)),
            Mode::Stat => Job::Stat(Arc::new(upload(&shared, objects.max(1)).await?)),
            Mode::Delete => {
                let mut ids = upload(&shared, objects).await?;
                ids.reverse();
                Job::Delete(Arc::new(Mutex::new(ids)))
            }
            Mode::List if versions(args) > 1 => {
                if !reuse {
                    enable_versioning(&shared).await?;
                    upload_versions(&shared, objects, versions(args)).await?;
                }
                Job::List {
                    expect: objects * versions(args),
                }
            }
            Mode::List => {
                if !reuse {
                    upload(&shared, objects).await?;
                }
                Job::List { expect: objects }
            }
            Mode::Retention => {
                if versions(args) == 0 {
                    return Err("--versions must be at least 1".into());
                }
                let v = upload_versions(&shared, objects.max(1), versions(args)).await?;
                Job::Retention(Arc::new(v))
            }
            Mode::MultipartPut => Job::MultipartPut {
                groups: (0..args.concurrent)
                    .map(|_| UploadGroup::default())
                    .collect(),
            },
            Mode::Versioned => {
                // As warp: fewer would leave workers without a version.
                if objects <= args.concurrent as u64 {
                    return Err(format!(
                        "versioned needs more --objects than --concurrent ({})",
                        args.concurrent
                    ));
                }
                let ops = versioned::sequence(
                    args.get_distrib,
                    args.stat_distrib,
                    args.put_distrib,
                    args.delete_distrib,
                )?;
                enable_versioning(&shared).await?;
                let v = upload_versions(&shared, objects, 1).await?;
                Job::Versioned {
                    pool: Arc::new(Mutex::new(Pool::new(v))),
                    ops: ops.into(),
                    next: Arc::new(AtomicUsize::new(0)),
                    base: objects.div_ceil(args.concurrent as u64),
                }
            }
            Mode::Snowball => Job::Snowball(balls.clone()),
            Mode::Fanout => {
                if args.copies == 0 {
                    return Err("--copies must be at least 1".into());
                }
                Job::Fanout
            }
            Mode::Zip => Job::Zip {
                key: zip_upload(&shared).await?,
                files: args.files,
            },
            Mode::Mixed => {
                let pool = MixedPool {
                    live: upload(&shared, objects).await?,
                    ..MixedPool::default()
                };
                Job::Mixed {
                    pool: Arc::new(Mutex::new(pool)),
                    base: objects.div_ceil(args.concurrent as u64),
                }
            }
        };
        let name = mode_name(args.mode);
        let workers = match args.mode {
            Mode::MultipartPut => args.concurrent * args.part_concurrent,
            _ => args.concurrent,
        };
        let p = run_phase(
            &shared,
            name,
            job,
            Until::Time(args.duration),
            warmup,
            workers,
        )
        .await;
        reports.push(phase_report(name, &p.stats, p.duration, p.cpu));
        if args.mode == Mode::Snowball && args.verify {
            let balls = std::mem::take(&mut *balls.lock().expect("balls lock"));
            println!("{}", verify_snowball(&shared, &balls).await?);
        }
        Ok(())
    }
    .await;

    for r in &reports {
        println!("{}", r.table());
        let busy = r.cpu.client_cpu_ms / 1000.0 / r.duration_s.max(1e-9) / args.threads as f64;
        if busy > 0.8 {
            println!("  warning: the client kept its {} thread(s) {:.0}% busy: figures may be the client's limit (raise --threads)", args.threads, busy * 100.0);
        }
    }
    if !reports.is_empty() {
        let path = args.json.clone().unwrap_or_else(|| {
            format!(
                "cairn-bench-{}-{}.json",
                mode_name(args.mode),
                amz_date(started)
            )
            .into()
        });
        let report = RunReport {
            tool: "cairn-bench",
            mode: mode_name(args.mode),
            started: amz_date(started),
            hosts: &shared.hosts,
            bucket: &args.bucket,
            prefix: &shared.prefix,
            obj_size: size,
            concurrent: args.concurrent,
            threads: args.threads,
            payload: if args.unsigned_payload {
                "UNSIGNED-PAYLOAD"
            } else {
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
            },
            verify: args.verify,
            phases: &reports,
        };
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(&path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        println!("result: {}", path.display());
    }
    if !args.noclear && !reuse && args.mode != Mode::Fill {
        clean(&shared).await?;
    }
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_asks_for_governance_until_an_iso_date() {
        assert_eq!(
            retention_xml(951_827_696),
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>GOVERNANCE</Mode>\
             <RetainUntilDate>2000-02-29T12:34:56Z</RetainUntilDate></Retention>"
        );
    }

    #[test]
    fn version_listings_are_canonical_and_carry_both_markers() {
        assert_eq!(
            versions_query(None, None, 1000, "p/"),
            "max-keys=1000&prefix=p%2F&versions="
        );
        assert_eq!(
            versions_query(Some(&("p/0/1".into(), "v 2".into())), Some("/"), 5, "p/"),
            "delimiter=%2F&key-marker=p%2F0%2F1&max-keys=5&prefix=p%2F&\
             version-id-marker=v%202&versions="
        );
    }

    #[test]
    fn fills_spread_objects_over_their_slots() {
        assert_eq!(key_of("p", prepared_id(0, 100)), "p/0/0");
        assert_eq!(key_of("p", prepared_id(1234, 100)), "p/34/12");
        assert_eq!(key_of("p", prepared_id(7, 1)), "p/0/7");
    }

    #[test]
    fn keys_name_their_object_ids() {
        for id in [0, 5, object_id(3, 7), object_id(65_535, 1 << 40)] {
            assert_eq!(id_of("p", &key_of("p", id)), Some(id));
        }
        assert_eq!(id_of("p", "q/1/2"), None);
        assert_eq!(id_of("p", "p/1"), None);
        assert_eq!(id_of("p", "p/65536/2"), None);
    }

    #[test]
    fn listed_metadata_must_name_each_entrys_object() {
        let entry = |key: &str, meta: &str| {
            format!("<Contents><Key>{key}</Key><UserMetadata>{meta}</UserMetadata></Contents>")
        };
        let id = object_id(2, 9);
        let good = entry("p/2/9", &format!("<X-Amz-Meta-Obj>{id}</X-Amz-Meta-Obj>"));
        assert_eq!(metadata_mismatch("p", good.as_bytes()), None);
        let other =
            good.clone() + &entry("p/1/9", &format!("<X-Amz-Meta-Obj>{id}</X-Amz-Meta-Obj>"));
        assert!(metadata_mismatch("p", other.as_bytes()).is_some_and(|e| e.contains("p/1/9")));
        let missing = good + &entry("p/1/1", "");
        assert!(metadata_mismatch("p", missing.as_bytes()).is_some_and(|e| e.contains("missing")));
    }

    #[test]
    fn deletes_name_versions_when_given_and_escape_keys() {
        let xml = delete_xml(&[("a&b".into(), None), ("c".into(), Some("v<1".into()))]);
        assert_eq!(
            xml,
            "<Delete><Object><Key>a&amp;b</Key></Object>\
             <Object><Key>c</Key><VersionId>v&lt;1</VersionId></Object></Delete>"
        );
    }

    #[test]
    fn fanout_answers_need_one_clean_line_per_copy() {
        let ok = b"{\"key\":\"a\",\"etag\":\"x\"}\n{\"key\":\"b\",\"error\":\"\"}\n";
        assert_eq!(fanout_answer(ok, 2), Ok(()));
        // A 204 with no body (a PostObject that ignored the list).
        assert!(fanout_answer(b"", 2)
            .unwrap_err()
            .contains("want 2 copies, got 0"));
        let failed = b"{\"key\":\"a\"}\n{\"key\":\"b\",\"error\":\"disk full\"}\n";
        assert!(fanout_answer(failed, 2)
            .unwrap_err()
            .contains("1 copies failed"));
        assert!(fanout_answer(b"<Error/>", 1).is_err());
    }

    #[test]
    fn zip_members_are_read_under_the_zips_key() {
        assert_eq!(zip_member("p/1700.zip", 7), "p/1700.zip/7.obj");
    }
}
