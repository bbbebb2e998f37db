//! The node: resolves settings, opens the engine, starts one executor per
//! core (each with its HTTP listener and its engine handle), and shuts down
//! cleanly on SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::engine::{Engine, EngineConfig};
use crate::runtime::channel::bounded;

/// Longest a shutdown may take before the process exits anyway.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);

fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data (zeroed, then sigemptyset initialises it
    // as POSIX asks); each call gets a valid pointer to it, and
    // pthread_sigmask accepts a null pointer for the old mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_signal(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: `set` is an initialised sigset_t (from block_signals) and `sig`
    // a valid place for sigwait to write the signal number.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

/// The secret is shown only the one time it is generated; a supplied or
/// stored one is named, never printed.
fn print_secret(origin: &crate::iam::root::Origin, secret: &str) {
    use crate::iam::root::Origin;
    match origin {
        Origin::Generated { stored_in } => {
            println!("   secret key: {secret}");
            println!(
                "   (generated now and shown only this once; kept in {}, mode 0600)",
                stored_in.display()
            );
        }
        Origin::Stored { path } => {
            println!(
                "   secret key: generated at first start, kept sealed in {}",
                path.display()
            );
        }
        Origin::Migrated { path } => {
            println!(
                "   secret key: generated at an earlier start; {} now sealed",
                path.display()
            );
        }
        Origin::Supplied { removed_stale } => {
            println!("   secret key: as supplied (CAIRN_ROOT_PASSWORD or the config file)");
            if *removed_stale > 0 {
                tracing::info!(
                    files = removed_stale,
                    "removed stale generated root credentials from the drives"
                );
            }
        }
    }
}

/// Runs the node until a shutdown signal. Returns after a clean shutdown.
pub fn serve(s: Settings) -> Result<(), String> {
    let formatted = s.drives.iter().any(|d| {
        d.join(crate::engine::format::META_DIR)
            .join("format.json")
            .exists()
    });
    if s.embedded || !formatted {
        for d in &s.drives {
            crate::runtime::file::create_dir_durable(d)
                .map_err(|e| format!("{}: {e}", d.display()))?;
        }
    }
    // Signals are handled by this thread alone: block them before any other
    // thread exists so every thread inherits the mask.
    let sigset = block_signals();

    let mut cfg = EngineConfig::new(s.drives.clone(), s.cores);
    cfg.layout = s.layout;
    cfg.partitions = s.partitions;
    cfg.inline_max = s.inline_max;
    cfg.segment_max = s.segment_size;
    cfg.read_cache = s.read_cache;
    cfg.space_reserve = s.space_reserve;
    cfg.scrub_interval = s.scrub_interval;
    cfg.dedup_grace = s.dedup_grace;
    cfg.scrub_rate = s.scrub_rate;
    cfg.lifecycle_rate = s.lifecycle_rate;
    cfg.heal_rate = s.heal_rate;
    cfg.heal_idle_rate = s.heal_idle_rate;
    cfg.reduced_redundancy_parity = s.reduced_redundancy_parity;
    cfg.storage_classes = s.storage_classes.clone();
    let (shared, inboxes) = Engine::open(&cfg)?;
    crate::engine::health::start_probes(&shared, crate::engine::health::PROBE_INTERVAL)
        .map_err(|e| format!("cannot start the drive probes: {e}"))?;
    let online: Vec<_> = shared
        .online_drives()
        .iter()
        .map(|&d| shared.set.drives[d].path.clone())
        .collect();
    let (master, key_origin) = crate::iam::seal::MasterKey::resolve(
        s.kms_master_key.as_ref().map(|k| k.expose().to_owned()),
        s.kms_master_key_file.as_deref(),
        &online,
    )?;
    let (creds, origin) = crate::iam::root::resolve(
        s.root_user.clone(),
        s.root_password.clone(),
        &online,
        &master,
    )?;
    let access_key = creds.access_key.clone();
    let kms = crate::sse::service::open_node(&online, shared.layout.write_quorum(), &master)?;
    let store = crate::iam::store::DriveStore::new(online.clone(), shared.layout.write_quorum());
    let (home, report) =
        crate::iam::identities::IamHome::open(Box::new(store), master, creds, s.cores)?;
    for (path, why) in &report.skipped {
        tracing::warn!(path = %path.display(), why, "identity store copy skipped (rewritten on the next change)");
    }
    tracing::info!(
        generation = report.generation,
        users = report.users,
        keys = report.keys,
        ?key_origin,
        "identity store opened"
    );
    let home = Arc::new(home);

    // Settings changed through the admin API outlive a restart.
    let settings_store = crate::iam::store::DriveStore::named(
        online.clone(),
        shared.layout.write_quorum(),
        crate::admin::settings::STORE_FILE,
    );
    let run_with = crate::admin::settings::open(
        crate::admin::settings::Start {
            rate_limit_per_ip: s.http.rate_limit_per_ip,
            rate_limit_per_key: s.http.rate_limit_per_key,
            read_cache: s.read_cache,
        },
        Box::new(settings_store),
    )?;
    // Notification targets, and their delivery threads.
    let notify_store = crate::iam::store::DriveStore::named(
        online.clone(),
        shared.layout.write_quorum(),
        crate::notify::targets::STORE_FILE,
    );
    let mark_store = crate::iam::store::DriveStore::named(
        online.clone(),
        shared.layout.write_quorum(),
        crate::notify::mark::MARK_FILE,
    );
    let targets =
        crate::notify::deliver::open(Box::new(notify_store), Box::new(mark_store), shared.clone())?;
    tracing::info!(targets, "notification targets opened");
    if run_with.read_cache != s.read_cache {
        let per_core = usize::try_from(run_with.read_cache / s.cores as u64).unwrap_or(usize::MAX);
        for inbox in &shared.inboxes {
            // Queued before the cores run: their inboxes are empty.
            let _ = inbox.try_send(crate::engine::CoreMsg::SetReadCache(per_core));
        }
    }
    let mut http = s.http.clone();
    http.rate_limit_per_ip = run_with.rate_limit_per_ip;
    http.rate_limit_per_key = run_with.rate_limit_per_key;
    let frontend = crate::http::server::Frontend::new(http)?;
    let log_writers = crate::logs::init(&s.logs)?;
    println!(
        "cairn {} — S3-compatible object storage",
        env!("CARGO_PKG_VERSION")
    );
    println!("   endpoint: {}://{}", frontend.scheme(), s.listen);
    if s.http.console {
        println!(
            "   console: {}://{}/_cairn/console/",
            frontend.scheme(),
            s.listen
        );
    }
    if let Some(a) = s.admin_listen {
        println!("   admin API: {}://{a}", frontend.scheme());
    }
    if let Some(d) = &s.http.domain {
        println!("   virtual-hosted style: <bucket>.{d}");
    }
    println!("   access key: {access_key}");
    print_secret(&origin, home.root().secret_key.expose());
    for d in &shared.set.drives {
        if !d.online() {
            println!(
                "   drive {} {}: OFFLINE ({:?})",
                d.index,
                d.path.display(),
                d.state
            );
        }
    }
    println!(
        "   drives: {} ({} online), layout {}, {} partitions, {} cores",
        shared.set.drives.len(),
        online.len(),
        shared.layout,
        shared.partitions,
        s.cores
    );

    let mut stops = Vec::new();
    let mut stop_rx = Vec::new();
    for _ in 0..s.cores {
        let (tx, rx) = bounded::<()>(1);
        stops.push(tx);
        stop_rx.push(rx);
    }
    let inboxes = Arc::new(inboxes);
    let stop_rx = Arc::new(stop_rx);
    let listen = s.listen;
    let admin_listen = s.admin_listen;
    let multipart_expiry = s.multipart_expiry;
    let core_shared = shared.clone();
    let core_home = home.clone();
    let core_kms = kms.clone();
    let (metric_peers, metric_inboxes) = crate::metrics::channels(s.cores);
    let metric_inboxes = Arc::new(metric_inboxes);
    let handles = crate::runtime::start_cores(s.cores, s.pin, move |core| {
        let shared = core_shared.clone();
        let inbox = inboxes[core].clone();
        let stop = stop_rx[core].clone();
        let home = core_home.clone();
        let kms = core_kms.clone();
        let frontend = frontend.clone();
        let (metric_peers, metric_inbox) = (metric_peers.clone(), metric_inboxes[core].clone());
        async move {
            crate::logs::start_core();
            crate::sse::service::install(kms);
            let metrics = crate::metrics::MetricsHub::start(core, metric_peers, metric_inbox);
            let engine = match Engine::start_core(shared, core, inbox) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("core {core}: cannot start: {e}");
                    std::process::exit(1);
                }
            };
            engine.start_upload_expiry(multipart_expiry);
            crate::logs::bucket::start_core(
                engine.clone(),
                crate::iam::model::root_canonical_id(&home.root().access_key),
            );
            let ids =
                crate::iam::identities::Identities::start(core, home, engine.companion.clone());
            let listener = match crate::http::server::bind(listen) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("core {core}: cannot listen on {listen}: {e}");
                    std::process::exit(1);
                }
            };
            let admin = admin_listen.map(|a| match crate::http::server::bind(a) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("core {core}: cannot listen on {a} (admin): {e}");
                    std::process::exit(1);
                }
            });
            crate::http::server::serve(
                listener,
                admin,
                engine.clone(),
                ids,
                metrics,
                frontend,
                stop,
            )
            .await;
            crate::logs::bucket::finish_core().await;
            engine.quiesce().await;
            crate::logs::finish_core();
        }
    })
    .map_err(|e| format!("cannot start executor threads: {e}"))?;
    tracing::info!(listen = %s.listen, admin_listen = ?s.admin_listen, "serving");

    // SIGHUP (logrotate) reopens the log files; anything else stops.
    let sig = loop {
        match wait_signal(&sigset) {
            libc::SIGHUP => crate::logs::reopen(),
            sig => break sig,
        }
    };
    tracing::info!(
        signal = sig,
        "shutting down: no new connections, finishing requests in flight"
    );
    std::thread::spawn(|| {
        std::thread::sleep(SHUTDOWN_LIMIT);
        eprintln!("shutdown took too long; exiting");
        std::process::exit(1);
    });
    for tx in &stops {
        let _ = tx.try_send(());
    }
    for h in handles {
        let _ = h.join();
    }
    crate::notify::deliver::stop();
    log_writers.finish();
    shared
        .close()
        .map_err(|e| format!("closing the index: {e}"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// `cairn repair --rebuild-index`: rebuilds every partition index from the
/// drives. The node must be stopped.
pub fn rebuild_index(
    drives: Vec<std::path::PathBuf>,
    layout: Option<crate::engine::layout::Layout>,
    partitions: u16,
) -> Result<(), String> {
    let set = crate::engine::format::open_set(&drives, layout, partitions)?;
    let online: Vec<_> = set.drives.iter().filter(|d| d.online()).collect();
    let first = online.first().ok_or("no drive is online")?;
    let root = first.meta_dir().join("index");
    // Removing the index makes the next open rebuild it.
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    }
    let mut cfg = EngineConfig::new(drives, 1);
    cfg.layout = layout;
    cfg.partitions = partitions;
    let (shared, _inboxes) = Engine::open(&cfg)?;
    let mut objects = 0u64;
    for idx in &shared.indexes {
        objects += idx.entries().map_err(|e| e.to_string())?.len() as u64;
    }
    shared.close().map_err(|e| e.to_string())?;
    println!(
        "index rebuilt: {} partitions, {objects} objects",
        shared.partitions
    );
    Ok(())
}
