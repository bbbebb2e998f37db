//! cairn-powerloss: a FUSE filesystem that simulates power loss.
//!
//! `mount` serves a backing directory at a mount point, keeping every write
//! volatile until fsync/fdatasync (see `model.rs` and docs/TESTING.md);
//! `cut`, `sync`, `pending` and `unmount` talk to a running mount through its
//! control socket.

mod control;
mod fs;
mod model;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand, ValueEnum};

use model::{MetaModel, Model};

#[derive(Parser)]
#[command(name = "cairn-powerloss", about = "power-loss simulator (FUSE)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Metadata {
    /// ext4 data=ordered-like: any fsync commits every earlier namespace change.
    Ordered,
    /// strict POSIX: a namespace change is durable once its directory is fsynced.
    Posix,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve BACKING at MOUNTPOINT until unmounted or cut (foreground).
    Mount {
        #[arg(long)]
        backing: PathBuf,
        #[arg(long)]
        mountpoint: PathBuf,
        /// The control socket (made once the mount is up).
        #[arg(long)]
        control: PathBuf,
        #[arg(long, value_enum, default_value = "ordered")]
        metadata: Metadata,
        /// Dirty bytes held before the largest file is written back.
        #[arg(long, default_value_t = 512)]
        max_dirty_mib: u64,
        /// Seed of a `cut` that names none.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Cut the power: freeze, decide every volatile write, write the image.
    Cut {
        #[arg(long)]
        control: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Make everything durable now.
    Sync {
        #[arg(long)]
        control: PathBuf,
    },
    /// Print what is not durable yet.
    Pending {
        #[arg(long)]
        control: PathBuf,
    },
    /// Unmount cleanly (everything durable) once unused.
    Unmount {
        #[arg(long)]
        control: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Mount {
            backing,
            mountpoint,
            control,
            metadata,
            max_dirty_mib,
            seed,
        } => mount(
            backing,
            mountpoint,
            control,
            match metadata {
                Metadata::Ordered => MetaModel::Ordered,
                Metadata::Posix => MetaModel::Posix,
            },
            max_dirty_mib << 20,
            seed,
        ),
        Cmd::Cut { control, seed } => ask(
            &control,
            &seed.map_or("cut".to_owned(), |s| format!("cut {s}")),
        ),
        Cmd::Sync { control } => ask(&control, "sync"),
        Cmd::Pending { control } => ask(&control, "pending"),
        Cmd::Unmount { control } => ask(&control, "unmount"),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-powerloss: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ask(control: &std::path::Path, command: &str) -> Result<(), String> {
    let answer =
        control::send(control, command).map_err(|e| format!("{}: {e}", control.display()))?;
    println!("{answer}");
    if answer.starts_with("ok") {
        Ok(())
    } else {
        Err(answer)
    }
}

fn mount(
    backing: PathBuf,
    mountpoint: PathBuf,
    control: PathBuf,
    meta: MetaModel,
    max_dirty: u64,
    seed: u64,
) -> Result<(), String> {
    let backing = backing
        .canonicalize()
        .map_err(|e| format!("{}: {e}", backing.display()))?;
    let mountpoint = mountpoint
        .canonicalize()
        .map_err(|e| format!("{}: {e}", mountpoint.display()))?;
    let model = Model::load(&backing, meta, max_dirty).map_err(|e| e.to_string())?;
    let model = Arc::new(Mutex::new(model));
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName("cairn-powerloss".into()),
        fuser::MountOption::Subtype("cairn-powerloss".into()),
    ];
    cfg.n_threads = Some(1);
    let session = match fuser::Session::new(fs::PowerlossFs::new(model.clone()), &mountpoint, &cfg)
    {
        Ok(s) => s,
        Err(e) => {
            // Give the backing directory its files back.
            if let Ok(mut m) = model.lock() {
                let _ = m.finish_clean();
            }
            return Err(format!("mount {}: {e}", mountpoint.display()));
        }
    };
    let _ = std::fs::remove_file(&control);
    let listener = std::os::unix::net::UnixListener::bind(&control)
        .map_err(|e| format!("{}: {e}", control.display()))?;
    {
        let (model, mountpoint) = (model.clone(), mountpoint.clone());
        std::thread::spawn(move || control::serve(listener, model, mountpoint, seed));
    }
    let run = session.run();
    let _ = std::fs::remove_file(&control);
    let mut m = model
        .lock()
        .map_err(|_| "the model's lock is poisoned".to_owned())?;
    if m.frozen() {
        // Cut: the image is written. The kernel may end a detached session
        // with ECONNABORTED rather than ENODEV; either is the end.
        return Ok(());
    }
    m.finish_clean()
        .map_err(|e| format!("writing the image back: {e}"))?;
    run.map_err(|e| format!("session: {e}"))
}
