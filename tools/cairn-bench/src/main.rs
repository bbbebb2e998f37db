//! cairn-bench: a warp-style S3 load generator. Closed loop: `--concurrent`
//! workers, each with one keep-alive connection, each sending its next
//! request when the previous one finished.
//!
//! cairn-bench get --host 127.0.0.1:9000 --access-key K --secret-key S \
//!     --obj.size 4KiB --concurrent 32 --duration 30s --verify

mod bench;
mod body;
mod client;
mod cpu;
mod data;
mod post;
mod ranges;
// The one client-side signer, shared with `cairn admin` (still independent of
// the server's verifier). Presigning is the CLI's alone.
#[allow(dead_code)]
#[path = "../../../src/cli/sign.rs"]
mod sign;
mod snowball;
mod stats;
mod tls;
mod versioned;
mod zip;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// PUT objects of --obj.size (PostObject form uploads with --post).
    Put,
    /// Upload --objects objects (each --versions times, to a versioned
    /// bucket), then GET them (a random version; a random range with
    /// --range or --range-size) at random.
    Get,
    /// Upload --objects objects, then HEAD them at random.
    Stat,
    /// Upload --objects objects, then delete them in --batch batches (POST ?delete).
    Delete,
    /// Upload --objects objects, then list them (ListObjectsV2 pages of
    /// --max-keys; ListObjectVersions with --versions above 1).
    List,
    /// GET, STAT, PUT and DELETE on a pool of --objects objects (--*-distrib).
    Mixed,
    /// Upload --parts parts of --part.size to one multipart upload, complete
    /// it, then GET parts (?partNumber=N) at random.
    Multipart,
    /// As warp's: to a bucket created with object lock, upload --objects
    /// objects of --versions versions each, then set GOVERNANCE retention
    /// (a day ahead, bypassing governance) on versions at random.
    Retention,
    /// As warp's: to a versioned bucket, upload --objects objects, then
    /// GET, STAT (a random version each), PUT (a new version of an object)
    /// and DELETE (one version, for good) in warp's fixed sequence of the
    /// --*-distrib proportions.
    Versioned,
    /// As warp's: --concurrent uploads at a time, each of --parts parts of
    /// --part.size sent --part.concurrent at a time, then completed and the
    /// next one started; the parts are the operations measured (PUT).
    #[value(name = "multipart-put")]
    MultipartPut,
    /// As warp's: PUT tar archives of --objs.per objects (zstd with
    /// --compress) that the server extracts into objects
    /// (`x-amz-meta-snowball-auto-extract`).
    Snowball,
    /// As warp's: each operation POSTs one object for the server to store
    /// as --copies objects (MinIO's `x-minio-fanout-list` form).
    Fanout,
    /// As warp's: upload one zip of --files objects, then GET its members
    /// with `x-minio-extract: true` (MinIO's extension).
    Zip,
    /// Upload objects --from to --from + --objects - 1, named as the
    /// set-up's uploads, measured as PUT, and keep them: successive fills
    /// grow one node step by step (perf/scale.sh).
    Fill,
}

#[derive(Parser, Clone, Debug)]
#[command(name = "cairn-bench", version, about = "warp-style S3 load generator")]
pub struct Args {
    #[arg(value_enum)]
    pub mode: Mode,
    /// host:port of the server; several, comma-separated, are used round-robin.
    #[arg(long, env = "WARP_HOST", default_value = "127.0.0.1:9000")]
    pub host: String,
    #[arg(long = "access-key", env = "WARP_ACCESS_KEY")]
    pub access_key: String,
    #[arg(long = "secret-key", env = "WARP_SECRET_KEY", hide_env_values = true)]
    pub secret_key: String,
    #[arg(long, env = "WARP_REGION", default_value = "us-east-1")]
    pub region: String,
    /// Created if missing.
    #[arg(long, default_value = "warp-benchmark-bucket")]
    pub bucket: String,
    /// Object size: bytes, or with KB, KiB, MB, MiB, GB, GiB (warp's
    /// defaults: 10MiB; delete 1KiB; stat 1KB; snowball 512KiB; fanout
    /// 1MiB; zip 10KiB).
    #[arg(long = "obj.size", value_parser = parse_size)]
    pub obj_size: Option<u64>,
    /// Operations in flight (one connection each).
    #[arg(long, default_value_t = 20)]
    pub concurrent: usize,
    /// Measured time, e.g. 30s, 1m, 1m30s.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Load before the measured time that is not counted.
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Objects uploaded before get, stat, delete, list, mixed, retention and
    /// versioned (default 2500; delete and retention 25000; list and stat
    /// 10000; versioned 250).
    #[arg(long)]
    pub objects: Option<u64>,
    /// Versions uploaded of each object: retention (default 5); get and list
    /// (default 1; more turns versioning on, GETs random versions, lists
    /// with ListObjectVersions).
    #[arg(long)]
    pub versions: Option<u64>,
    /// put: upload with PostObject (a form with a signed policy) instead
    /// of PutObject, as warp's `put --post`.
    #[arg(long)]
    pub post: bool,
    /// get: ranged GETs, random offset and length (warp's exponential
    /// length distribution).
    #[arg(long)]
    pub range: bool,
    /// get: ranged GETs of this fixed length at random offsets (implies
    /// --range).
    #[arg(long = "range-size", value_parser = parse_size)]
    pub range_size: Option<u64>,
    /// Keys per DeleteObjects request (delete mode).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Keys per ListObjectsV2 page (list mode).
    #[arg(long = "max-keys", default_value_t = 1000)]
    pub max_keys: usize,
    /// list: the `delimiter` of each ListObjectsV2 page (none by default);
    /// common prefixes count as listed entries.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// list: ask ListObjectsV2 for each object's metadata (`metadata=true`,
    /// MinIO's extension that warp's `list --metadata` uses).
    #[arg(long)]
    pub metadata: bool,
    /// list: the prefix listed (default `<prefix>/`, the run's keys).
    #[arg(long = "list-prefix")]
    pub list_prefix: Option<String>,
    #[arg(long = "get-distrib", default_value_t = 45.0)]
    pub get_distrib: f64,
    #[arg(long = "stat-distrib", default_value_t = 30.0)]
    pub stat_distrib: f64,
    #[arg(long = "put-distrib", default_value_t = 15.0)]
    pub put_distrib: f64,
    #[arg(long = "delete-distrib", default_value_t = 10.0)]
    pub delete_distrib: f64,
    /// Part size (multipart and multipart-put modes).
    #[arg(long = "part.size", default_value = "5MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Parts to upload (multipart and multipart-put modes).
    #[arg(long, default_value_t = 100)]
    pub parts: u32,
    /// multipart-put: parts of one upload in flight at a time (at most
    /// --parts).
    #[arg(long = "part.concurrent", default_value_t = 20)]
    pub part_concurrent: usize,
    /// snowball: objects per archive.
    #[arg(long = "objs.per", default_value_t = 50)]
    pub objs_per: u64,
    /// snowball: zstd-compress each archive (as warp, its members are then
    /// all the same object).
    #[arg(long)]
    pub compress: bool,
    /// fanout: objects each POST makes.
    #[arg(long, default_value_t = 100)]
    pub copies: u64,
    /// zip: files in the zip.
    #[arg(long, default_value_t = 10_000)]
    pub files: u64,
    /// Stop early once throughput is stable (as warp: within --autoterm.pct
    /// over the last 7 of 25 segments, after at least --autoterm.dur).
    #[arg(long)]
    pub autoterm: bool,
    #[arg(long = "autoterm.dur", default_value = "10s", value_parser = parse_duration)]
    pub autoterm_dur: Duration,
    #[arg(long = "autoterm.pct", default_value_t = 7.5)]
    pub autoterm_pct: f64,
    /// Check every GET's bytes (and HEAD's length, and LIST's key count).
    #[arg(long)]
    pub verify: bool,
    /// Connect with HTTPS (as warp's flag).
    #[arg(long)]
    pub tls: bool,
    /// With --tls: trust the certificates in this PEM file instead of the
    /// system's roots.
    #[arg(long = "tls-ca", requires = "tls")]
    pub tls_ca: Option<PathBuf>,
    /// With --tls: accept any server certificate (as warp's flag; for
    /// self-signed test nodes).
    #[arg(long, requires = "tls")]
    pub insecure: bool,
    /// Send object bodies as UNSIGNED-PAYLOAD instead of signed aws-chunked
    /// (what minio-go does over TLS).
    #[arg(long = "disable-sha256-payload")]
    pub unsigned_payload: bool,
    /// Ask for SSE-S3 (`x-amz-server-side-encryption: AES256`) on every
    /// object written, as warp's flag of the same name.
    #[arg(long = "sse-s3-encrypt")]
    pub sse_s3: bool,
    /// Key prefix (default: random, one per run).
    #[arg(long)]
    pub prefix: Option<String>,
    /// The worker slots set-up and fill keys are spread over:
    /// `<prefix>/<i % slots>/<i / slots>` for the i-th object (default:
    /// --concurrent; with --skip-upload, 1).
    #[arg(long)]
    pub slots: Option<usize>,
    /// fill: the first object uploaded (where an earlier fill stopped).
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Leave the objects in place after the run.
    #[arg(long)]
    pub noclear: bool,
    /// get and stat: read objects that are already there,
    /// `<prefix>/0/0` to `<prefix>/0/<objects - 1>` (e.g. static files of
    /// another web server, for a ceiling), instead of uploading them; list:
    /// list the --objects keys already there. The bucket is neither
    /// created nor emptied. Needs --prefix.
    #[arg(long = "skip-upload", requires = "prefix")]
    pub skip_upload: bool,
    /// Where to write the JSON result (default cairn-bench-<mode>-<time>.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No progress bar (it is off anyway when stderr is not a terminal).
    #[arg(long = "no-progress")]
    pub no_progress: bool,
    /// Client threads (1: a single-threaded runtime, the cheapest).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Also measure the CPU time of this process (the server) per operation.
    #[arg(long = "server-pid")]
    pub server_pid: Option<u32>,
}

impl Args {
    /// `--obj.size`, or warp's default for the mode.
    pub fn obj_size(&self) -> u64 {
        self.obj_size.unwrap_or(match self.mode {
            Mode::Delete => 1 << 10,
            Mode::Stat => 1000,
            Mode::Snowball => 512 << 10,
            Mode::Fanout => 1 << 20,
            Mode::Zip => 10 << 10,
            _ => 10 << 20,
        })
    }

    /// `--slots`, or the default: the workers that uploaded the objects, or
    /// one slot for objects another tool put there.
    pub fn slots(&self) -> usize {
        self.slots
            .unwrap_or(if self.skip_upload { 1 } else { self.concurrent })
    }

    /// `--objects`, or warp's default for the mode.
    pub fn objects(&self) -> u64 {
        self.objects.unwrap_or(match self.mode {
            Mode::Delete | Mode::Retention => 25_000,
            Mode::List | Mode::Stat => 10_000,
            Mode::Versioned => 250,
            _ => 2_500,
        })
    }
}

/// Bytes, with warp's units: KB = 1000, KiB = 1024, and so on.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        u => return Err(format!("unknown size unit {u:?} in {s:?}")),
    };
    Ok((n * mult as f64).round() as u64)
}

/// A duration such as 500ms, 15s, 1m, 1m30s, 2h (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("not a duration: {s:?} (e.g. 15s, 1m, 1m30s)");
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(Duration::from_secs_f64(secs));
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let i = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let n: f64 = rest[..i].parse().map_err(|_| bad())?;
        let unit_len = rest[i..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - i);
        total += n * match &rest[i..i + unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[i + unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

fn main() {
    let args = Args::parse();
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let rt = rt.unwrap_or_else(|e| {
        eprintln!("cairn-bench: runtime: {e}");
        std::process::exit(2)
    });
    if let Err(e) = rt.block_on(bench::run(args)) {
        eprintln!("cairn-bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_warps_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("1.5KiB"), Ok(1536));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn flags_parse_with_dots() {
        let a = Args::try_parse_from([
            "cairn-bench",
            "mixed",
            "--access-key",
            "a",
            "--secret-key",
            "b",
            "--obj.size",
            "4KiB",
            "--duration",
            "10s",
            "--autoterm",
        ])
        .unwrap();
        assert_eq!(a.mode, Mode::Mixed);
        assert_eq!(a.obj_size(), 4096);
        assert_eq!(a.duration, Duration::from_secs(10));
        assert!(a.autoterm);
        assert_eq!(a.autoterm_dur, Duration::from_secs(10));
    }

    #[test]
    fn reads_of_objects_already_there_find_the_fills_keys() {
        let parse = |extra: &[&str]| {
            let mut argv = vec![
                "cairn-bench",
                "get",
                "--access-key",
                "a",
                "--secret-key",
                "b",
            ];
            argv.extend_from_slice(extra);
            Args::try_parse_from(argv).unwrap()
        };
        assert_eq!(parse(&["--prefix", "p", "--skip-upload"]).slots(), 1);
        assert_eq!(
            parse(&["--prefix", "p", "--skip-upload", "--slots", "100"]).slots(),
            100
        );
        assert_eq!(parse(&["--concurrent", "64"]).slots(), 64);
    }

    #[test]
    fn modes_default_to_warps_sizes_counts_and_weights() {
        let parse = |mode| {
            Args::try_parse_from([
                "cairn-bench",
                mode,
                "--access-key",
                "a",
                "--secret-key",
                "b",
            ])
            .unwrap()
        };
        let (stat, delete, get) = (parse("stat"), parse("delete"), parse("get"));
        let mpp = parse("multipart-put");
        assert_eq!(mpp.mode, Mode::MultipartPut);
        assert_eq!(
            (mpp.parts, mpp.part_size, mpp.part_concurrent),
            (100, 5 << 20, 20)
        );
        let versioned = parse("versioned");
        assert_eq!((versioned.obj_size(), versioned.objects()), (10 << 20, 250));
        assert_eq!(
            (
                versioned.get_distrib,
                versioned.stat_distrib,
                versioned.put_distrib,
                versioned.delete_distrib
            ),
            (45.0, 30.0, 15.0, 10.0)
        );
        assert_eq!((stat.obj_size(), stat.objects()), (1000, 10_000));
        assert_eq!((delete.obj_size(), delete.objects()), (1024, 25_000));
        assert_eq!(delete.batch, 100);
        assert_eq!((get.obj_size(), get.objects()), (10 << 20, 2_500));
        let snowball = parse("snowball");
        assert_eq!(
            (snowball.obj_size(), snowball.objs_per, snowball.compress),
            (512 << 10, 50, false)
        );
        let fill = parse("fill");
        assert_eq!((fill.mode, fill.slots(), fill.from), (Mode::Fill, 20, 0));
        let (fanout, zip) = (parse("fanout"), parse("zip"));
        assert_eq!((fanout.obj_size(), fanout.copies), (1 << 20, 100));
        assert_eq!((zip.obj_size(), zip.files), (10 << 10, 10_000));
    }
}
