//! The built-in KMS in a running node. One thread owns the [`BuiltinKms`]
//! and applies requests in arrival order: a change writes the system store
//! (an fsync on every drive), which must stay off the cores' executors, and
//! one owner keeps changes serial without a lock. Every core holds a
//! [`KmsService`] handle (a bounded channel to that thread), installed when
//! the core starts.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::kms::{BuiltinKms, DataKeys, KeyInfo, Kms, KmsError, STATE_FILE};
use crate::iam::seal::MasterKey;
use crate::iam::store::DriveStore;

/// Bound on requests waiting for the KMS thread.
const QUEUE: usize = 64;

#[derive(Debug)]
pub enum Op {
    List,
    Info(String),
    Create(String),
    SetEnabled(String, bool),
    Rotate(String),
    EnsureDefault,
    /// The current keyring, for the data path.
    DataKeys,
}

pub enum Reply {
    Keys(Vec<KeyInfo>),
    Key(KeyInfo),
    DefaultKey(String),
    DataKeys(Arc<dyn DataKeys>),
}

struct Request {
    op: Op,
    reply: futures_channel::oneshot::Sender<Result<Reply, KmsError>>,
}

#[derive(Clone)]
pub struct KmsService {
    requests: async_channel::Sender<Request>,
    /// Bumped by the owner thread after every change to the keys, before
    /// it answers: a core compares it with its cached snapshot's, one
    /// atomic load per request instead of a round trip to the thread.
    generation: Arc<AtomicU64>,
}

fn stopped() -> KmsError {
    KmsError::Store("the KMS has stopped".into())
}

fn apply(kms: &mut BuiltinKms, op: Op, now_ms: u64) -> Result<Reply, KmsError> {
    Ok(match op {
        Op::List => Reply::Keys(kms.list_keys()),
        Op::Info(id) => Reply::Key(kms.key_info(&id)?),
        Op::Create(id) => Reply::Key(kms.create_key(&id, now_ms)?),
        Op::SetEnabled(id, on) => Reply::Key(kms.set_enabled(&id, on)?),
        Op::Rotate(id) => Reply::Key(kms.rotate(&id, now_ms)?),
        Op::EnsureDefault => Reply::DefaultKey(kms.ensure_default_key(now_ms)?),
        Op::DataKeys => Reply::DataKeys(kms.data_keys()),
    })
}

impl KmsService {
    /// Starts the owner thread; it ends when the last handle is dropped.
    pub fn start(kms: BuiltinKms) -> Result<KmsService, String> {
        let (tx, rx) = async_channel::bounded::<Request>(QUEUE);
        let generation = Arc::new(AtomicU64::new(0));
        let bump = generation.clone();
        std::thread::Builder::new()
            .name("cairn-kms".into())
            .spawn(move || {
                let mut kms = kms;
                while let Ok(req) = rx.recv_blocking() {
                    let changes = matches!(
                        req.op,
                        Op::Create(_) | Op::SetEnabled(..) | Op::Rotate(_) | Op::EnsureDefault
                    );
                    let r = apply(&mut kms, req.op, crate::engine::now_ms());
                    if changes && r.is_ok() {
                        bump.fetch_add(1, Ordering::Release);
                    }
                    let _ = req.reply.send(r);
                }
            })
            .map_err(|e| format!("starting the KMS thread: {e}"))?;
        Ok(KmsService {
            requests: tx,
            generation,
        })
    }

    /// How many changes the keys have seen (see the field).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub async fn call(&self, op: Op) -> Result<Reply, KmsError> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.requests
            .send(Request { op, reply: tx })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// A key's info from a reply that carries one.
    pub async fn key(&self, op: Op) -> Result<KeyInfo, KmsError> {
        match self.call(op).await? {
            Reply::Key(k) => Ok(k),
            _ => Err(KmsError::Store("unexpected KMS reply".into())),
        }
    }
}

/// A core's KMS handle and its snapshot of the keys, with the generation
/// it was taken at.
struct Installed {
    service: KmsService,
    snapshot: Option<(u64, Arc<dyn DataKeys>)>,
}

thread_local! {
    static CURRENT: RefCell<Option<Installed>> = const { RefCell::new(None) };
}

/// Makes `s` this core's KMS (at core start).
pub fn install(s: KmsService) {
    CURRENT.with(|c| {
        *c.borrow_mut() = Some(Installed {
            service: s,
            snapshot: None,
        })
    });
}

/// This core's KMS; `None` where none was installed.
pub fn current() -> Option<KmsService> {
    CURRENT.with(|c| c.borrow().as_ref().map(|i| i.service.clone()))
}

/// This core's snapshot of the keys for the data path: cached, and fetched
/// from the KMS thread only when the keys changed since (a change answered
/// to its caller is seen by the next request on every core).
pub async fn data_keys() -> Result<Arc<dyn DataKeys>, KmsError> {
    enum Cached {
        Fresh(Arc<dyn DataKeys>),
        Stale(KmsService, u64),
    }
    let cached = CURRENT.with(|c| {
        let c = c.borrow();
        let i = c.as_ref().ok_or_else(stopped)?;
        let generation = i.service.generation();
        Ok::<_, KmsError>(match &i.snapshot {
            Some((g, keys)) if *g == generation => Cached::Fresh(keys.clone()),
            _ => Cached::Stale(i.service.clone(), generation),
        })
    })?;
    let (service, generation) = match cached {
        Cached::Fresh(keys) => return Ok(keys),
        Cached::Stale(s, g) => (s, g),
    };
    // Asked after reading the generation: the snapshot is at least as new.
    let keys = match service.call(Op::DataKeys).await? {
        Reply::DataKeys(k) => k,
        _ => return Err(KmsError::Store("unexpected KMS reply".into())),
    };
    CURRENT.with(|c| {
        if let Some(i) = c.borrow_mut().as_mut() {
            i.snapshot = Some((generation, keys.clone()));
        }
    });
    Ok(keys)
}

/// Opens the built-in KMS on the node's drives (`.cairn/kms.state`, key
/// material sealed under `master`) and starts its thread. Blocking; runs at
/// start-up.
pub fn open_node(
    online: &[std::path::PathBuf],
    write_quorum: usize,
    master: &MasterKey,
) -> Result<KmsService, String> {
    let store = DriveStore::named(online.to_vec(), write_quorum, STATE_FILE);
    let master = Arc::new(MasterKey::parse(&master.encode())?);
    let (kms, report) = BuiltinKms::open(Box::new(store), master)?;
    for (path, why) in &report.skipped {
        tracing::warn!(path = %path.display(), why, "KMS store copy skipped (rewritten on the next change)");
    }
    tracing::info!(
        generation = report.generation,
        keys = report.keys,
        "KMS store opened"
    );
    KmsService::start(kms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::store::SystemStore;

    #[test]
    fn the_owner_thread_applies_changes_in_order_and_answers_each() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d0");
        std::fs::create_dir_all(d.join(crate::engine::format::META_DIR)).unwrap();
        let store: Box<dyn SystemStore> = Box::new(DriveStore::named(vec![d], 1, STATE_FILE));
        let (kms, _) = BuiltinKms::open(store, Arc::new(MasterKey::generate("t"))).unwrap();
        let s = KmsService::start(kms).unwrap();
        install(s.clone());
        let s = current().expect("installed");
        crate::runtime::block_on(async {
            let k = s.key(Op::Create("app".into())).await.unwrap();
            assert_eq!((k.id.as_str(), k.current_version), ("app", 1));
            assert_eq!(
                s.key(Op::Rotate("app".into()))
                    .await
                    .unwrap()
                    .current_version,
                2
            );
            assert!(matches!(
                s.key(Op::Info("nope".into())).await,
                Err(KmsError::NotFound(_))
            ));
            let Ok(Reply::Keys(keys)) = s.call(Op::List).await else {
                panic!("a list")
            };
            assert_eq!(keys.len(), 1);
        })
        .expect("runtime");
    }

    #[test]
    fn a_cores_snapshot_is_reused_until_the_keys_change_then_refreshed() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d0");
        std::fs::create_dir_all(d.join(crate::engine::format::META_DIR)).unwrap();
        let store: Box<dyn SystemStore> = Box::new(DriveStore::named(vec![d], 1, STATE_FILE));
        let (kms, _) = BuiltinKms::open(store, Arc::new(MasterKey::generate("t"))).unwrap();
        let s = KmsService::start(kms).unwrap();
        install(s.clone());
        let ctx = crate::sse::kms::Context::new();
        crate::runtime::block_on(async {
            let before = data_keys().await.unwrap();
            assert!(Arc::ptr_eq(&before, &data_keys().await.unwrap()), "cached");
            assert!(matches!(
                before.generate_data_key("app", &ctx),
                Err(KmsError::NotFound(_))
            ));
            let g = s.generation();
            s.key(Op::Create("app".into())).await.unwrap();
            assert_eq!(s.generation(), g + 1);
            let after = data_keys().await.unwrap();
            assert!(!Arc::ptr_eq(&before, &after), "refreshed after a change");
            let k = after.generate_data_key("app", &ctx).unwrap();
            assert_eq!(k.key_version, 1);
            // A refused change is no change.
            assert!(s.key(Op::Create("app".into())).await.is_err());
            assert_eq!(s.generation(), g + 1);
            s.key(Op::SetEnabled("app".into(), false)).await.unwrap();
            assert!(matches!(
                data_keys().await.unwrap().decrypt(&k.wrapped, &ctx),
                Err(KmsError::Disabled(_))
            ));
        })
        .expect("runtime");
    }
}
