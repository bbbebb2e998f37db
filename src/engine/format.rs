//! Drive format: `<drive>/.cairn/format.json` says which set a drive belongs
//! to and where it sits in it. Starting on an unformatted set formats it; a
//! drive from another set, or one that is missing, is left alone and reported.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::format_version::NewerFormat;
use crate::runtime::file::write_file_durable;

use super::layout::Layout;

/// 2: the drives may hold records of record format 2 (`record.rs`), which
/// a binary of format 1 cannot read; drives of format 1 are raised to 2
/// when this binary opens them, so that such a binary refuses them.
/// 3: record format 3 (part attributes), raised the same way.
/// 4: record format 4 (storage classes), raised the same way.
pub const FORMAT_VERSION: u32 = 4;
pub const META_DIR: &str = ".cairn";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DriveFormat {
    pub format_version: u32,
    pub node_id: String,
    pub set_id: String,
    pub drive_index: usize,
    pub drive_count: usize,
    /// Erasure layout, "k+m".
    pub layout: String,
    pub partitions: u16,
}

/// What start-up found on one drive path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriveState {
    /// Formatted and part of this set.
    Online,
    /// The path does not exist or cannot be read.
    Missing(String),
    /// Formatted for another set (or unreadable format): not touched.
    Foreign(String),
}

#[derive(Clone, Debug)]
pub struct Drive {
    pub index: usize,
    pub path: PathBuf,
    pub state: DriveState,
}

impl Drive {
    pub fn online(&self) -> bool {
        self.state == DriveState::Online
    }
    pub fn meta_dir(&self) -> PathBuf {
        self.path.join(META_DIR)
    }
}

/// The formatted set as start-up assembled it.
#[derive(Clone, Debug)]
pub struct DriveSet {
    pub format: DriveFormat,
    pub layout: Layout,
    pub drives: Vec<Drive>,
    /// Drives of an existing set that start-up found empty and formatted
    /// into their slots: they are to be healed.
    pub reformatted: Vec<usize>,
}

fn format_path(drive: &Path) -> PathBuf {
    drive.join(META_DIR).join("format.json")
}

fn read_format(drive: &Path) -> Result<Option<DriveFormat>, String> {
    match std::fs::read(format_path(drive)) {
        Ok(bytes) => decode_format(&bytes).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read format.json: {e}")),
    }
}

/// A drive's `format.json` written by a newer cairn. Only its version is
/// read: the rest of a newer format may no longer parse as this one.
fn newer_format(drive: &Path) -> Option<NewerFormat> {
    #[derive(Deserialize)]
    struct Probe {
        format_version: u32,
    }
    let bytes = std::fs::read(format_path(drive)).ok()?;
    let probe: Probe = serde_json::from_slice(&bytes).ok()?;
    NewerFormat::check("format.json", probe.format_version, FORMAT_VERSION).err()
}

/// Decodes a `format.json` this binary reads (format up to
/// [`FORMAT_VERSION`]).
pub fn decode_format(bytes: &[u8]) -> Result<DriveFormat, String> {
    let f: DriveFormat =
        serde_json::from_slice(bytes).map_err(|e| format!("unreadable format.json: {e}"))?;
    NewerFormat::check("format.json", f.format_version, FORMAT_VERSION)
        .map_err(|e| e.to_string())?;
    Ok(f)
}

/// Encodes a `format.json` as this binary writes it.
pub fn encode_format(f: &DriveFormat) -> Vec<u8> {
    serde_json::to_vec_pretty(f).expect("a drive format serialises")
}

/// The record header checksum key of the set a drive belongs to (tools and
/// tests that read segments directly).
pub fn record_key_of_drive(drive: &Path) -> Option<u32> {
    read_format(drive)
        .ok()
        .flatten()
        .map(|f| super::record::header_key(&f.set_id))
}

fn write_format(drive: &Path, f: &DriveFormat) -> io::Result<()> {
    crate::runtime::file::create_dir_durable(&drive.join(META_DIR))?;
    write_file_durable(&format_path(drive), &encode_format(f))
}

fn random_id() -> String {
    use rand::Rng;
    let v: u128 = rand::thread_rng().gen();
    format!("{v:032x}")
}

/// True when the drive holds no cairn data: no `.cairn`, or one left empty
/// (or holding only a `format.tmp`) by a crash while it was being formatted.
fn dir_is_empty_or_absent_meta(path: &Path) -> bool {
    match std::fs::read_dir(path.join(META_DIR)) {
        Err(_) => true,
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .all(|e| e.file_name() == "format.tmp"),
    }
}

/// Opens (and formats where needed) the set on `paths`. Blocking: runs once
/// at start-up before any executor exists.
///
/// - No drive formatted: all existing drives are formatted as a new set with
///   `layout` (or the default for the drive count) and `partitions`.
/// - Some formatted: their common set is used; a drive of another set is
///   `Foreign`; an empty drive (no `.cairn`) is formatted into its slot again
///   (it comes back empty: healing refills it later).
pub fn open_set(
    paths: &[PathBuf],
    layout: Option<Layout>,
    partitions: u16,
) -> Result<DriveSet, String> {
    if paths.is_empty() {
        return Err("no drives given".into());
    }
    let mut found: Vec<(PathBuf, Result<Option<DriveFormat>, String>, bool)> = Vec::new();
    for p in paths {
        let exists = p.is_dir();
        let f = if exists { read_format(p) } else { Ok(None) };
        found.push((p.clone(), f, exists));
    }
    // The set held by most formatted drives is this node's; a stray drive of
    // another set must not take over.
    let formats: Vec<&DriveFormat> = found
        .iter()
        .filter_map(|(_, f, _)| f.as_ref().ok().and_then(|f| f.as_ref()))
        .collect();
    // A newer binary's drives are left alone: this one cannot know their
    // records, and starting would hide them.
    if let Some((p, n)) = paths.iter().find_map(|p| newer_format(p).map(|n| (p, n))) {
        return Err(format!("drive {}: {n}", p.display()));
    }
    let reference = formats
        .iter()
        .max_by_key(|f| formats.iter().filter(|g| g.set_id == f.set_id).count())
        .map(|f| (*f).clone());

    let existing = reference.is_some();
    let format = match reference {
        Some(r) => {
            if r.drive_count != paths.len() {
                return Err(format!(
                    "the set was formatted with {} drives but {} are given",
                    r.drive_count,
                    paths.len()
                ));
            }
            if let Some(l) = layout {
                if l.to_string() != r.layout {
                    return Err(format!(
                        "the set was formatted with layout {} but {} is asked",
                        r.layout, l
                    ));
                }
            }
            r
        }
        None => {
            let layout = layout.unwrap_or_else(|| Layout::for_drives(paths.len()));
            if layout.total() > paths.len() {
                return Err(format!(
                    "layout {layout} needs {} drives, {} given",
                    layout.total(),
                    paths.len()
                ));
            }
            if partitions == 0 {
                return Err("partitions must be at least 1".into());
            }
            DriveFormat {
                format_version: FORMAT_VERSION,
                node_id: random_id(),
                set_id: random_id(),
                drive_index: 0,
                drive_count: paths.len(),
                layout: layout.to_string(),
                partitions,
            }
        }
    };
    let layout = Layout::parse(&format.layout)?;
    let mut format = format;
    format.format_version = FORMAT_VERSION;

    let mut drives = Vec::with_capacity(paths.len());
    let mut reformatted = Vec::new();
    for (i, (path, f, exists)) in found.into_iter().enumerate() {
        let state = match (exists, f) {
            (false, _) => DriveState::Missing("directory does not exist".into()),
            (true, Err(e)) => DriveState::Foreign(e),
            (true, Ok(Some(df))) => {
                if df.set_id != format.set_id {
                    DriveState::Foreign(format!("belongs to set {}", df.set_id))
                } else if df.drive_index != i {
                    DriveState::Foreign(format!(
                        "is drive {} of this set but was given in position {i}",
                        df.drive_index
                    ))
                } else if df.format_version < FORMAT_VERSION {
                    let raised = DriveFormat {
                        format_version: FORMAT_VERSION,
                        ..df
                    };
                    match write_format(&path, &raised) {
                        Ok(()) => {
                            tracing::info!(drive = i, "drive format raised to {FORMAT_VERSION}");
                            DriveState::Online
                        }
                        Err(e) => DriveState::Missing(format!("cannot raise its format: {e}")),
                    }
                } else {
                    DriveState::Online
                }
            }
            (true, Ok(None)) if dir_is_empty_or_absent_meta(&path) => {
                let mut df = format.clone();
                df.drive_index = i;
                match write_format(&path, &df) {
                    Ok(()) => {
                        if existing {
                            reformatted.push(i);
                        }
                        DriveState::Online
                    }
                    Err(e) => DriveState::Missing(format!("cannot format: {e}")),
                }
            }
            (true, Ok(None)) => DriveState::Foreign("has a .cairn directory but no format".into()),
        };
        match &state {
            DriveState::Online => {}
            DriveState::Missing(why) => {
                tracing::error!(drive = i, path = %path.display(), "drive offline: {why}")
            }
            DriveState::Foreign(why) => tracing::error!(
                drive = i,
                path = %path.display(),
                "drive refused, nothing will be written to it: {why}"
            ),
        }
        drives.push(Drive {
            index: i,
            path,
            state,
        });
    }
    format.drive_index = 0;
    Ok(DriveSet {
        format,
        layout,
        drives,
        reformatted,
    })
}

/// At run time: formats `path` into slot `index` of the set of `format` if
/// it is an empty directory (a drive wiped or replaced while the node
/// runs: a new filesystem's `lost+found` is allowed); true if it did.
/// Anything else in it, and it is left alone. Blocking.
pub fn format_if_blank(path: &Path, format: &DriveFormat, index: usize) -> io::Result<bool> {
    let blank = std::fs::read_dir(path)?.filter_map(|e| e.ok()).all(|e| {
        e.file_name() == "lost+found"
            || (e.file_name() == META_DIR && dir_is_empty_or_absent_meta(path))
    });
    if !blank {
        return Ok(false);
    }
    let df = DriveFormat {
        format_version: FORMAT_VERSION,
        drive_index: index,
        ..format.clone()
    };
    write_format(path, &df)?;
    Ok(true)
}

/// Expands MinIO's ellipsis form: `/mnt/disk{1...4}` → disk1..disk4, with
/// zero padding kept (`{01...12}`); several ellipses multiply.
pub fn expand_ellipsis(arg: &str) -> Result<Vec<String>, String> {
    let Some(open) = arg.find('{') else {
        return Ok(vec![arg.to_owned()]);
    };
    let close = arg[open..]
        .find('}')
        .map(|c| c + open)
        .ok_or_else(|| format!("unclosed '{{' in {arg}"))?;
    let inner = &arg[open + 1..close];
    let (lo, hi) = inner
        .split_once("...")
        .ok_or_else(|| format!("expected {{A...B}} in {arg}"))?;
    let width = if lo.len() > 1 && lo.starts_with('0') {
        lo.len()
    } else {
        0
    };
    let a: u64 = lo
        .parse()
        .map_err(|_| format!("bad range start in {arg}"))?;
    let b: u64 = hi.parse().map_err(|_| format!("bad range end in {arg}"))?;
    if a > b || b - a >= 4096 {
        return Err(format!("bad range {{{lo}...{hi}}} in {arg}"));
    }
    let mut out = Vec::new();
    for n in a..=b {
        let head = format!("{}{:0width$}", &arg[..open], n, width = width);
        for tail in expand_ellipsis(&arg[close + 1..])? {
            out.push(format!("{head}{tail}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_empty_directory_is_formatted_at_run_time() {
        let t = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..2).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &paths {
            std::fs::create_dir_all(p).unwrap();
        }
        let s = open_set(&paths, None, 4).unwrap();
        assert!(
            !format_if_blank(&paths[1], &s.format, 1).unwrap(),
            "formatted"
        );
        std::fs::remove_dir_all(&paths[1]).unwrap();
        assert!(format_if_blank(&paths[1], &s.format, 1).is_err(), "gone");
        std::fs::create_dir(&paths[1]).unwrap();
        std::fs::write(paths[1].join("data"), b"x").unwrap();
        assert!(
            !format_if_blank(&paths[1], &s.format, 1).unwrap(),
            "not empty"
        );
        std::fs::remove_file(paths[1].join("data")).unwrap();
        std::fs::create_dir_all(paths[1].join("lost+found")).unwrap();
        assert!(format_if_blank(&paths[1], &s.format, 1).unwrap());
        let f = read_format(&paths[1]).unwrap().unwrap();
        assert_eq!((f.drive_index, &f.set_id), (1, &s.format.set_id));
    }

    #[test]
    fn ellipsis() {
        assert_eq!(expand_ellipsis("/d").unwrap(), vec!["/d"]);
        assert_eq!(
            expand_ellipsis("/mnt/disk{1...3}").unwrap(),
            vec!["/mnt/disk1", "/mnt/disk2", "/mnt/disk3"]
        );
        assert_eq!(
            expand_ellipsis("/m{08...10}/x").unwrap(),
            vec!["/m08/x", "/m09/x", "/m10/x"]
        );
        assert_eq!(expand_ellipsis("/n{1...2}/d{1...2}").unwrap().len(), 4);
        assert!(expand_ellipsis("/m{3...1}").is_err());
        assert!(expand_ellipsis("/m{1..3}").is_err());
        assert!(expand_ellipsis("/m{1...3").is_err());
    }

    #[test]
    fn formats_then_recognises_then_refuses_foreign() {
        let t = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..4).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &paths {
            std::fs::create_dir_all(p).unwrap();
        }
        let s = open_set(&paths, None, 16).unwrap();
        assert_eq!(s.layout, Layout { data: 2, parity: 2 });
        assert!(s.drives.iter().all(|d| d.online()));
        let set_id = s.format.set_id.clone();

        // Reopen: same set.
        let s2 = open_set(&paths, None, 64).unwrap();
        assert_eq!(s2.format.set_id, set_id);
        assert_eq!(s2.format.partitions, 16);

        // A drive that comes back empty is re-added into its slot.
        std::fs::remove_dir_all(&paths[1]).unwrap();
        let s3 = open_set(&paths, None, 16).unwrap();
        assert!(matches!(s3.drives[1].state, DriveState::Missing(_)));
        std::fs::create_dir_all(&paths[1]).unwrap();
        let s4 = open_set(&paths, None, 16).unwrap();
        assert!(s4.drives[1].online());
        assert_eq!(s4.reformatted, vec![1], "to be healed");
        assert!(s.reformatted.is_empty(), "a new set is not healed");
        assert_eq!(read_format(&paths[1]).unwrap().unwrap().drive_index, 1);

        // A drive from another set is refused and left untouched.
        let other = t.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        let o = open_set(std::slice::from_ref(&other), None, 16).unwrap();
        let mut mixed = paths.clone();
        mixed[2] = other.clone();
        let s5 = open_set(&mixed, None, 16).unwrap();
        assert!(matches!(s5.drives[2].state, DriveState::Foreign(_)));
        assert_eq!(
            read_format(&other).unwrap().unwrap().set_id,
            o.format.set_id
        );

        // Swapped drive order is detected.
        let mut swapped = paths.clone();
        swapped.swap(0, 3);
        let s6 = open_set(&swapped, None, 16).unwrap();
        assert!(matches!(s6.drives[0].state, DriveState::Foreign(_)));
    }

    #[test]
    fn drives_of_a_newer_format_are_refused_untouched() {
        let t = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..2).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &paths {
            std::fs::create_dir_all(p).unwrap();
        }
        open_set(&paths, None, 4).unwrap();
        let mut f = read_format(&paths[0]).unwrap().unwrap();
        f.format_version = FORMAT_VERSION + 1;
        write_format(&paths[0], &f).unwrap();
        let e = open_set(&paths, None, 4).expect_err("refused");
        assert!(e.contains("newer cairn"), "{e}");
        let on_disk = std::fs::read(format_path(&paths[0])).unwrap();
        assert_eq!(on_disk, encode_format(&f));
        // Refused as newer even when the rest no longer parses as ours.
        let other_shape = format!(r#"{{"format_version":{},"set":{{}}}}"#, FORMAT_VERSION + 1);
        std::fs::write(format_path(&paths[0]), &other_shape).unwrap();
        let e = open_set(&paths, None, 4).expect_err("refused");
        assert!(
            e.contains(&format!(
                "format.json was written by a newer cairn: format {}, this binary reads up to {FORMAT_VERSION}",
                FORMAT_VERSION + 1
            )),
            "{e}"
        );
        assert_eq!(
            std::fs::read(format_path(&paths[0])).unwrap(),
            other_shape.as_bytes()
        );
    }

    #[test]
    fn drives_of_an_older_format_are_raised_so_older_binaries_refuse_them() {
        let t = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..2).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &paths {
            std::fs::create_dir_all(p).unwrap();
        }
        open_set(&paths, None, 4).unwrap();
        for p in &paths {
            let mut f = read_format(p).unwrap().unwrap();
            f.format_version = 1;
            write_format(p, &f).unwrap();
        }
        let set = open_set(&paths, None, 4).unwrap();
        assert!(set.drives.iter().all(Drive::online));
        for p in &paths {
            assert_eq!(
                read_format(p).unwrap().unwrap().format_version,
                FORMAT_VERSION
            );
        }
    }

    #[test]
    fn layout_must_fit() {
        let t = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..2).map(|i| t.path().join(format!("d{i}"))).collect();
        for p in &paths {
            std::fs::create_dir_all(p).unwrap();
        }
        assert!(open_set(&paths, Some(Layout { data: 4, parity: 2 }), 8).is_err());
    }
}
