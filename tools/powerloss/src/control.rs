//! The control socket: one command per connection, one line back.
//!
//! - `cut [SEED]`: the power cut (freeze, decide, write the image back),
//!   then a lazy unmount; the mount goes once its last user (cairn, killed
//!   by the harness) has closed its files. Answers `ok {report json}`.
//! - `sync`: everything durable now. `pending`: counts of what is not.
//! - `unmount`: a clean unmount (everything durable) once unused.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::model::Model;

pub fn serve(listener: UnixListener, model: Arc<Mutex<Model>>, mountpoint: PathBuf, seed: u64) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let (answer, unmount) = match read_command(&conn) {
            Ok(line) => run(&line, &model, seed),
            Err(e) => (format!("error {e}"), false),
        };
        let mut conn = conn;
        let _ = writeln!(conn, "{answer}");
        drop(conn);
        // After the answer: once unmounted the process may end at any time.
        if unmount {
            detach(&mountpoint);
        }
    }
}

fn read_command(conn: &UnixStream) -> std::io::Result<String> {
    let mut line = String::new();
    // A command is one short line.
    BufReader::new(std::io::Read::take(conn, 256)).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// The answer, and whether to unmount after sending it.
fn run(line: &str, model: &Arc<Mutex<Model>>, seed: u64) -> (String, bool) {
    let mut words = line.split_whitespace();
    let Ok(mut m) = model.lock() else {
        return ("error the model's lock is poisoned".into(), false);
    };
    let answer = |s: String| (s, false);
    match (words.next(), words.next()) {
        (Some("cut"), s) => {
            if m.frozen() {
                return answer("error already cut".into());
            }
            let seed = match s.map(str::parse::<u64>) {
                None => seed,
                Some(Ok(s)) => s,
                Some(Err(e)) => return answer(format!("error seed: {e}")),
            };
            match m.cut(seed) {
                Ok(r) => (format!("ok {}", r.to_json()), true),
                Err(e) => (format!("error writing the image: {e}"), true),
            }
        }
        (Some("sync"), None) if !m.frozen() => answer(match m.sync_all() {
            Ok(()) => "ok".into(),
            Err(e) => format!("error {}", std::io::Error::from_raw_os_error(e)),
        }),
        (Some("pending"), None) => {
            let (ops, bytes, meta) = m.pending();
            answer(format!(
                "ok {{\"data_ops\":{ops},\"data_bytes\":{bytes},\"meta_ops\":{meta},\"writebacks\":{}}}",
                m.writebacks
            ))
        }
        (Some("unmount"), None) => ("ok".into(), true),
        _ => answer(format!("error unknown command {line:?}")),
    }
}

/// umount2(MNT_DETACH): the mount leaves the namespace now and ends when
/// its last open file is closed.
fn detach(mountpoint: &Path) {
    let Ok(c) = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: plain syscall with a NUL-terminated path.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
}

/// Sends one command and returns the answer line.
pub fn send(control: &Path, command: &str) -> std::io::Result<String> {
    let mut s = UnixStream::connect(control)?;
    writeln!(s, "{command}")?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}
