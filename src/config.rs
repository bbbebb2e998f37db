//! Settings: command line, `CAIRN_*` environment variables and an optional
//! TOML file, in that order of precedence, then built-in defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::engine::format::expand_ellipsis;
use crate::engine::layout::Layout;
use crate::http::ratelimit::Rate;

#[derive(Parser, Debug)]
#[command(name = "cairn", version, about = "S3-compatible object storage node")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the node. With no drives: four drive directories under ./data (2+2).
    Serve(Box<ServeArgs>),
    /// Offline maintenance of a stopped node's drives.
    Repair(RepairArgs),
    /// Ask a node on this machine whether it is ready (exit 0) or not (exit
    /// 1), for container and service health checks.
    Health(HealthArgs),
    /// The client: manage a node (users, keys, policies, buckets, usage …)
    /// and copy objects, over HTTP(S). See docs/CLI.md.
    Admin(crate::cli::AdminArgs),
}

#[derive(Args, Debug, Clone)]
pub struct HealthArgs {
    /// The node's listen address; a wildcard address is asked on loopback.
    #[arg(long, env = "CAIRN_LISTEN", default_value = "0.0.0.0:9000")]
    pub listen: SocketAddr,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Drive paths; MinIO's ellipsis form is expanded (/mnt/disk{1...6}).
    #[arg(env = "CAIRN_DRIVES", value_delimiter = ',')]
    pub drives: Vec<String>,
    /// Erasure layout data+parity, e.g. 4+2 (default: chosen from the drive count).
    #[arg(long, env = "CAIRN_LAYOUT")]
    pub layout: Option<String>,
    /// Partitions of the key space, fixed when the drives are formatted.
    #[arg(long, env = "CAIRN_PARTITIONS")]
    pub partitions: Option<u16>,
    /// TOML configuration file.
    #[arg(long, env = "CAIRN_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on.
    #[arg(long, env = "CAIRN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// A second address serving only the admin API, /health and /metrics
    /// (the admin API stays on --listen too).
    #[arg(long, env = "CAIRN_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Executor cores (default: every CPU).
    #[arg(long, env = "CAIRN_CORES")]
    pub cores: Option<usize>,
    /// Objects up to this many bytes are stored inline, mirrored m+1 ways.
    #[arg(long, env = "CAIRN_INLINE_MAX")]
    pub inline_max: Option<usize>,
    /// Largest segment file, bytes.
    #[arg(long, env = "CAIRN_SEGMENT_SIZE")]
    pub segment_size: Option<u64>,
    /// Do not pin executor threads to CPUs.
    #[arg(long, env = "CAIRN_NO_PIN")]
    pub no_pin: bool,
    /// Do not serve the web console: /_cairn/console/ is then an unknown
    /// path like any other.
    #[arg(long, env = "CAIRN_NO_CONSOLE")]
    pub no_console: bool,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "CAIRN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "CAIRN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Keep TLS encryption in user space (rustls) even where the kernel
    /// offers kernel TLS.
    #[arg(long, env = "CAIRN_NO_KTLS")]
    pub no_ktls: bool,
    /// Domain for virtual-hosted-style requests (Host: bucket.<domain>).
    #[arg(long, env = "CAIRN_DOMAIN")]
    pub domain: Option<String>,
    /// Serve buckets as static websites (PutBucketWebsite) to requests
    /// whose Host is `<bucket>.<this domain>`: anonymous GET and HEAD only.
    #[arg(long, env = "CAIRN_WEBSITE_DOMAIN")]
    pub website_domain: Option<String>,
    /// Seconds a connection may sit idle, or stall a request or response,
    /// before it is closed.
    #[arg(long, env = "CAIRN_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Most open client connections per core; further clients wait in the
    /// listen backlog.
    #[arg(long, env = "CAIRN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most open connections from one client address (an IPv6 /64) over
    /// all cores; further connections from it are closed at once.
    #[arg(long, env = "CAIRN_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Seconds a new connection has to finish its TLS handshake and send
    /// its first request head (at most --idle-timeout).
    #[arg(long, env = "CAIRN_FIRST_REQUEST_TIMEOUT")]
    pub first_request_timeout: Option<u64>,
    /// Requests per second from one client address (an IPv6 /64), as
    /// RPS or RPS/BURST; beyond it, 503 SlowDown (default: no limit).
    #[arg(long, env = "CAIRN_RATE_LIMIT_PER_IP")]
    pub rate_limit_per_ip: Option<String>,
    /// Requests per second per access key, as RPS or RPS/BURST; beyond
    /// it, 503 SlowDown (default: no limit).
    #[arg(long, env = "CAIRN_RATE_LIMIT_PER_KEY")]
    pub rate_limit_per_key: Option<String>,
    /// Multipart uploads not completed this long after they began are
    /// aborted and their parts reclaimed: seconds, or a number with s, m, h
    /// or d (default 7d).
    #[arg(long, env = "CAIRN_MULTIPART_EXPIRY")]
    pub multipart_expiry: Option<String>,
    /// Time between the starts of each partition's scrub passes (every
    /// record read back and verified, and repaired if bad): seconds, or a
    /// number with s, m, h or d; 0 turns scrubbing off (default 7d).
    #[arg(long, env = "CAIRN_SCRUB_INTERVAL")]
    pub scrub_interval: Option<String>,
    /// How long deduplicated content no object refers to any more is kept
    /// before it is removed: seconds, or a number with s, m, h or d
    /// (default 24h).
    #[arg(long, env = "CAIRN_DEDUP_GRACE")]
    pub dedup_grace: Option<String>,
    /// What the scrubber may read from each drive per second: bytes, or a
    /// number with KiB, MiB or GiB; 0 for no limit (default 32MiB).
    #[arg(long, env = "CAIRN_SCRUB_RATE")]
    pub scrub_rate: Option<String>,
    /// How many keys per second the lifecycle worker may examine, over all
    /// cores; 0 for no limit (default 20000).
    #[arg(long, env = "CAIRN_LIFECYCLE_RATE")]
    pub lifecycle_rate: Option<u64>,
    /// What healing (refilling a drive that came back empty) may read or
    /// write per drive per second while clients are served: bytes, or a
    /// number with KiB, MiB or GiB; 0 for no limit (default 32MiB).
    #[arg(long, env = "CAIRN_HEAL_RATE")]
    pub heal_rate: Option<String>,
    /// The same once no client request has come for half a second: 0 for
    /// no limit, the drives' speed (default 0).
    #[arg(long, env = "CAIRN_HEAL_IDLE_RATE")]
    pub heal_idle_rate: Option<String>,
    /// Parity shards of the REDUCED_REDUNDANCY storage class, at most
    /// STANDARD's (default 1 when STANDARD has 2 or more, else STANDARD's).
    #[arg(long, env = "CAIRN_REDUCED_REDUNDANCY_PARITY")]
    pub reduced_redundancy_parity: Option<u8>,
    /// Memory for recently read records, shared out among the cores: bytes,
    /// or a number with KiB, MiB or GiB; 0 turns it off (default 1GiB).
    #[arg(long, env = "CAIRN_READ_CACHE")]
    pub read_cache: Option<String>,
    /// Free space kept on each drive for deletes, tombstones and the index:
    /// below it new object data is refused (507): bytes, or a number with
    /// KiB, MiB or GiB (default 2% of the drive, 16 MiB to 1 GiB).
    #[arg(long, env = "CAIRN_SPACE_RESERVE")]
    pub space_reserve: Option<String>,
    /// File holding the master key that seals secrets at rest
    /// (`name:base64(32 bytes)`); created with a new key if missing.
    /// The key itself may instead be given in CAIRN_KMS_MASTER_KEY.
    #[arg(long, env = "CAIRN_KMS_MASTER_KEY_FILE")]
    pub kms_master_key_file: Option<PathBuf>,
    /// Write a JSON access log line per request to this file (`-`:
    /// standard output); reopened on SIGHUP. Off by default.
    #[arg(long, env = "CAIRN_ACCESS_LOG")]
    pub access_log: Option<String>,
    /// Write a JSON audit line per identity or admin change (and refused
    /// attempt) to this file (`-`: standard output); reopened on SIGHUP.
    #[arg(long, env = "CAIRN_AUDIT_LOG")]
    pub audit_log: Option<String>,
    /// Export request spans over OTLP/HTTP (JSON) to this collector, as
    /// `http://host:4318`. Off by default.
    #[arg(long, env = "CAIRN_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Longest a bucket's server access log lines wait before they are
    /// written as a log object into its target bucket (PutBucketLogging):
    /// seconds, or a number with s, m, h or d (default 300s).
    #[arg(long, env = "CAIRN_BUCKET_LOG_INTERVAL")]
    pub bucket_log_interval: Option<String>,
    /// Accept SSE-C keys over plain HTTP (refused by default: the key would
    /// cross the network in the clear). For tests and TLS-terminating proxies.
    #[arg(long, env = "CAIRN_SSE_C_ALLOW_HTTP")]
    pub sse_c_allow_http: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RepairArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Rebuild every partition's index from the records on the drives.
    #[arg(long)]
    pub rebuild_index: bool,
}

/// The TOML file's keys (all optional).
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub drives: Option<Vec<String>>,
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub cores: Option<usize>,
    pub layout: Option<String>,
    pub partitions: Option<u16>,
    pub inline_max: Option<usize>,
    pub segment_size: Option<u64>,
    pub root_user: Option<String>,
    pub root_password: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub domain: Option<String>,
    pub website_domain: Option<String>,
    pub idle_timeout: Option<u64>,
    pub max_connections: Option<usize>,
    pub max_connections_per_ip: Option<usize>,
    pub first_request_timeout: Option<u64>,
    pub rate_limit_per_ip: Option<String>,
    pub rate_limit_per_key: Option<String>,
    pub multipart_expiry: Option<String>,
    pub read_cache: Option<String>,
    pub space_reserve: Option<String>,
    pub scrub_interval: Option<String>,
    pub dedup_grace: Option<String>,
    pub scrub_rate: Option<String>,
    pub lifecycle_rate: Option<u64>,
    pub heal_rate: Option<String>,
    pub heal_idle_rate: Option<String>,
    pub reduced_redundancy_parity: Option<u8>,
    /// `[[storage_class]]` tables: the operator's storage classes.
    pub storage_class: Option<Vec<crate::engine::class::ClassSpec>>,
    pub kms_master_key_file: Option<PathBuf>,
    pub access_log: Option<String>,
    pub audit_log: Option<String>,
    pub otlp_endpoint: Option<String>,
    pub bucket_log_interval: Option<String>,
    /// `false` turns the web console off, as `--no-console` does.
    pub console: Option<bool>,
    /// `false` keeps TLS in user space, as `--no-ktls` does.
    pub ktls: Option<bool>,
    pub sse_c_allow_http: Option<bool>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub drives: Vec<PathBuf>,
    /// True when no drive was given and ./data is used.
    pub embedded: bool,
    pub listen: SocketAddr,
    /// Serves only the admin API, /health and /metrics.
    pub admin_listen: Option<SocketAddr>,
    pub cores: usize,
    pub layout: Option<Layout>,
    pub partitions: u16,
    pub inline_max: usize,
    pub segment_size: u64,
    pub pin: bool,
    pub root_user: Option<String>,
    pub root_password: Option<String>,
    pub http: HttpSettings,
    pub multipart_expiry: std::time::Duration,
    /// Bytes of the read cache over all cores.
    pub read_cache: u64,
    /// Free bytes kept per drive; 0: the engine's default share of each drive.
    pub space_reserve: u64,
    /// Between a partition's scrub passes; zero: off.
    pub scrub_interval: std::time::Duration,
    /// How long unreferenced deduplicated content is kept.
    pub dedup_grace: std::time::Duration,
    /// Scrub reads per drive per second; 0: no limit.
    pub scrub_rate: u64,
    /// Keys the lifecycle worker examines per second; 0: no limit.
    pub lifecycle_rate: u64,
    /// Heal reads or writes per drive per second while clients are
    /// served, and on a node with none; 0: no limit.
    pub heal_rate: u64,
    pub heal_idle_rate: u64,
    pub reduced_redundancy_parity: Option<u8>,
    pub storage_classes: Vec<crate::engine::class::ClassSpec>,
    /// `CAIRN_KMS_MASTER_KEY` (only from the environment: never a flag).
    pub kms_master_key: Option<crate::iam::seal::Secret>,
    pub kms_master_key_file: Option<PathBuf>,
    pub logs: crate::logs::LogSettings,
}

/// What the HTTP front end needs besides the engine.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `(certificate chain, private key)` PEM files: serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Hand each TLS session's keys to the kernel (kTLS) where it can.
    pub ktls: bool,
    /// Virtual-hosted-style requests are recognised under this domain.
    pub domain: Option<String>,
    /// Website requests (`Host: bucket.<website_domain>`) are recognised
    /// under this domain.
    pub website_domain: Option<String>,
    pub idle_timeout: std::time::Duration,
    /// Per core.
    pub max_connections: usize,
    /// Per client address, over all cores.
    pub max_connections_per_ip: usize,
    /// From accept to the first request head (never above `idle_timeout`).
    pub first_request_timeout: std::time::Duration,
    /// Request-rate limits; `None`: off.
    pub rate_limit_per_ip: Option<Rate>,
    pub rate_limit_per_key: Option<Rate>,
    /// Serve the web console under `/_cairn/console/`.
    pub console: bool,
    /// Accept SSE-C headers on plain HTTP requests.
    pub sse_c_allow_http: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            tls: None,
            ktls: true,
            domain: None,
            website_domain: None,
            idle_timeout: std::time::Duration::from_secs(DEFAULT_IDLE_TIMEOUT),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            first_request_timeout: std::time::Duration::from_secs(DEFAULT_FIRST_REQUEST_TIMEOUT),
            rate_limit_per_ip: None,
            rate_limit_per_key: None,
            console: true,
            sse_c_allow_http: false,
        }
    }
}

pub const DEFAULT_IDLE_TIMEOUT: u64 = 30;
pub const DEFAULT_MULTIPART_EXPIRY: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);
pub const DEFAULT_READ_CACHE: u64 = 1 << 30;
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Above the connection pools of common clients (boto3 10, s5cmd 256
/// workers) and benchmarks, well below a core's share of the slots.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1024;
/// Enough for a TLS handshake and a request head over a slow link; short
/// enough that silent connections cannot pile up.
pub const DEFAULT_FIRST_REQUEST_TIMEOUT: u64 = 5;

pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9000);
pub const EMBEDDED_DRIVES: usize = 4;
const MIN_SEGMENT: u64 = 8 << 20;

/// A duration: whole seconds, or a whole number with `s`, `m`, `h` or `d`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let scale = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{s:?} is not a duration (like 90s, 30m, 12h or 7d)"
            ))
        }
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 90s, 30m, 12h or 7d)"))?;
    n.checked_mul(scale)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// Parses a size: bytes, or a number with KiB, MiB, GiB or TiB (KB, MB, GB
/// and TB mean the same here: memory is counted in powers of two).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a size (like 0, 512MiB or 4GiB)");
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

fn load_file(path: Option<&Path>) -> Result<FileConfig, String> {
    match path {
        None => Ok(FileConfig::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

/// An empty flag or variable (`CAIRN_ACCESS_LOG=`) means unset.
fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|v| !v.is_empty())
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn resolve_drives(
    args: &[String],
    file: Option<&Vec<String>>,
) -> Result<(Vec<PathBuf>, bool), String> {
    let raw: Vec<String> = if !args.is_empty() {
        args.to_vec()
    } else {
        file.cloned().unwrap_or_default()
    };
    if raw.is_empty() {
        let drives = (1..=EMBEDDED_DRIVES)
            .map(|i| PathBuf::from(format!("./data/disk{i}")))
            .collect();
        return Ok((drives, true));
    }
    let mut out = Vec::new();
    for r in raw.iter().flat_map(|s| s.split_whitespace()) {
        out.extend(expand_ellipsis(r)?.into_iter().map(PathBuf::from));
    }
    let mut seen = std::collections::HashSet::new();
    for d in &out {
        if !seen.insert(d) {
            return Err(format!("drive {} given twice", d.display()));
        }
    }
    Ok((out, false))
}

/// The drive-set part of the settings, shared by `serve` and `repair`.
struct StoreSettings {
    file: FileConfig,
    drives: Vec<PathBuf>,
    embedded: bool,
    layout: Option<Layout>,
    partitions: u16,
}

impl StoreArgs {
    fn resolve(&self) -> Result<StoreSettings, String> {
        let file = load_file(self.config.as_deref())?;
        let (drives, embedded) = resolve_drives(&self.drives, file.drives.as_ref())?;
        let layout = match self.layout.clone().or_else(|| file.layout.clone()) {
            Some(l) => Some(Layout::parse(&l)?),
            None if embedded => Some(Layout { data: 2, parity: 2 }),
            None => None,
        };
        let partitions = self.partitions.or(file.partitions).unwrap_or(64);
        if partitions == 0 || partitions > 4096 {
            return Err("partitions must be between 1 and 4096".into());
        }
        Ok(StoreSettings {
            file,
            drives,
            embedded,
            layout,
            partitions,
        })
    }
}

impl ServeArgs {
    pub fn resolve(&self) -> Result<Settings, String> {
        let StoreSettings {
            file,
            drives,
            embedded,
            layout,
            partitions,
        } = self.store.resolve()?;
        let listen = self.listen.or(file.listen).unwrap_or(DEFAULT_LISTEN);
        let cores = self
            .cores
            .or(file.cores)
            .unwrap_or_else(crate::runtime::num_cpus);
        if cores == 0 || cores > 1024 {
            return Err("cores must be between 1 and 1024".into());
        }
        let segment_size = self.segment_size.or(file.segment_size).unwrap_or(256 << 20);
        if segment_size < MIN_SEGMENT {
            return Err(format!("segment size must be at least {MIN_SEGMENT} bytes"));
        }
        let inline_max = self.inline_max.or(file.inline_max).unwrap_or(64 << 10);
        if inline_max > 1 << 20 {
            return Err("inline-max must be at most 1 MiB".into());
        }
        let tls = match (
            self.tls_cert.clone().or(file.tls_cert.clone()),
            self.tls_key.clone().or(file.tls_key.clone()),
        ) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err("tls-cert and tls-key must be given together".into()),
        };
        let dns_name = |d: Option<String>, what: &str| match d {
            Some(d) => {
                let d = d.trim().trim_start_matches('.').to_ascii_lowercase();
                if d.is_empty() || d.contains('/') || d.contains(':') {
                    return Err(format!("{what} {d:?} is not a DNS name"));
                }
                Ok(Some(d))
            }
            None => Ok(None),
        };
        let domain = dns_name(self.domain.clone().or(file.domain.clone()), "domain")?;
        let website_domain = dns_name(
            self.website_domain.clone().or(file.website_domain.clone()),
            "website-domain",
        )?;
        if website_domain.is_some() && website_domain == domain {
            return Err("website-domain must differ from domain".into());
        }
        let idle = self
            .idle_timeout
            .or(file.idle_timeout)
            .unwrap_or(DEFAULT_IDLE_TIMEOUT);
        if idle == 0 || idle > 3600 {
            return Err("idle-timeout must be between 1 and 3600 seconds".into());
        }
        let max_connections = self
            .max_connections
            .or(file.max_connections)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err("max-connections must be at least 1".into());
        }
        let max_connections_per_ip = self
            .max_connections_per_ip
            .or(file.max_connections_per_ip)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_IP);
        if max_connections_per_ip == 0 {
            return Err("max-connections-per-ip must be at least 1".into());
        }
        let first_request = self
            .first_request_timeout
            .or(file.first_request_timeout)
            .unwrap_or(DEFAULT_FIRST_REQUEST_TIMEOUT);
        if first_request == 0 || first_request > 3600 {
            return Err("first-request-timeout must be between 1 and 3600 seconds".into());
        }
        let rate = |flag: &Option<String>, file: &Option<String>, name: &str| {
            flag.as_deref()
                .or(file.as_deref())
                .map(|s| Rate::parse(s).map_err(|e| format!("{name}: {e}")))
                .transpose()
        };
        let rate_limit_per_ip = rate(
            &self.rate_limit_per_ip,
            &file.rate_limit_per_ip,
            "rate-limit-per-ip",
        )?;
        let rate_limit_per_key = rate(
            &self.rate_limit_per_key,
            &file.rate_limit_per_key,
            "rate-limit-per-key",
        )?;
        let multipart_expiry = match self
            .multipart_expiry
            .as_deref()
            .or(file.multipart_expiry.as_deref())
        {
            Some(s) => parse_duration(s).map_err(|e| format!("multipart-expiry: {e}"))?,
            None => DEFAULT_MULTIPART_EXPIRY,
        };
        if multipart_expiry.is_zero() {
            return Err("multipart-expiry must be at least one second".into());
        }
        let scrub_interval = match self
            .scrub_interval
            .as_deref()
            .or(file.scrub_interval.as_deref())
        {
            Some(s) => parse_duration(s).map_err(|e| format!("scrub-interval: {e}"))?,
            None => crate::engine::scrub::DEFAULT_INTERVAL,
        };
        let dedup_grace = match self.dedup_grace.as_deref().or(file.dedup_grace.as_deref()) {
            Some(s) => parse_duration(s).map_err(|e| format!("dedup-grace: {e}"))?,
            None => crate::engine::dedup::DEFAULT_GRACE,
        };
        let bucket_log_interval = match self
            .bucket_log_interval
            .as_deref()
            .or(file.bucket_log_interval.as_deref())
        {
            Some(s) => parse_duration(s).map_err(|e| format!("bucket-log-interval: {e}"))?,
            None => crate::logs::bucket::DEFAULT_INTERVAL,
        };
        if bucket_log_interval.is_zero() {
            return Err("bucket-log-interval must be at least one second".into());
        }
        let scrub_rate = match self.scrub_rate.as_deref().or(file.scrub_rate.as_deref()) {
            Some(s) => parse_size(s).map_err(|e| format!("scrub-rate: {e}"))?,
            None => crate::engine::scrub::DEFAULT_RATE,
        };
        let heal_rate = match self.heal_rate.as_deref().or(file.heal_rate.as_deref()) {
            Some(s) => parse_size(s).map_err(|e| format!("heal-rate: {e}"))?,
            None => crate::engine::heal::DEFAULT_RATE,
        };
        let heal_idle_rate = match self
            .heal_idle_rate
            .as_deref()
            .or(file.heal_idle_rate.as_deref())
        {
            Some(s) => parse_size(s).map_err(|e| format!("heal-idle-rate: {e}"))?,
            None => 0,
        };
        let read_cache = match self.read_cache.as_deref().or(file.read_cache.as_deref()) {
            Some(s) => parse_size(s).map_err(|e| format!("read-cache: {e}"))?,
            None => DEFAULT_READ_CACHE,
        };
        let space_reserve = match self
            .space_reserve
            .as_deref()
            .or(file.space_reserve.as_deref())
        {
            Some(s) => match parse_size(s) {
                Ok(0) => return Err("space-reserve must be more than 0".into()),
                Ok(n) => n,
                Err(e) => return Err(format!("space-reserve: {e}")),
            },
            None => 0,
        };
        let admin_listen = self.admin_listen.or(file.admin_listen);
        if admin_listen == Some(listen) {
            return Err("admin-listen must differ from listen".into());
        }
        Ok(Settings {
            drives,
            embedded,
            listen,
            admin_listen,
            cores,
            layout,
            partitions,
            inline_max,
            segment_size,
            pin: !self.no_pin,
            root_user: env_nonempty("CAIRN_ROOT_USER").or(file.root_user),
            root_password: env_nonempty("CAIRN_ROOT_PASSWORD").or(file.root_password),
            http: HttpSettings {
                tls,
                ktls: !self.no_ktls && file.ktls.unwrap_or(true),
                domain,
                website_domain,
                idle_timeout: std::time::Duration::from_secs(idle),
                max_connections,
                max_connections_per_ip,
                first_request_timeout: std::time::Duration::from_secs(first_request.min(idle)),
                rate_limit_per_ip,
                rate_limit_per_key,
                console: !self.no_console && file.console.unwrap_or(true),
                sse_c_allow_http: self.sse_c_allow_http || file.sse_c_allow_http.unwrap_or(false),
            },
            multipart_expiry,
            read_cache,
            space_reserve,
            scrub_interval,
            dedup_grace,
            scrub_rate,
            lifecycle_rate: self
                .lifecycle_rate
                .or(file.lifecycle_rate)
                .unwrap_or(crate::engine::lifecycle::DEFAULT_RATE),
            heal_rate,
            heal_idle_rate,
            reduced_redundancy_parity: self
                .reduced_redundancy_parity
                .or(file.reduced_redundancy_parity),
            storage_classes: file.storage_class.clone().unwrap_or_default(),
            kms_master_key: env_nonempty(crate::iam::seal::MASTER_KEY_ENV)
                .map(crate::iam::seal::Secret::new),
            kms_master_key_file: self
                .kms_master_key_file
                .clone()
                .or(file.kms_master_key_file),
            logs: crate::logs::LogSettings {
                access_log: nonempty(self.access_log.clone()).or(file.access_log),
                audit_log: nonempty(self.audit_log.clone()).or(file.audit_log),
                otlp_endpoint: nonempty(self.otlp_endpoint.clone()).or(file.otlp_endpoint),
                bucket_log_interval,
            },
        })
    }
}

impl RepairArgs {
    pub fn resolve(&self) -> Result<(Vec<PathBuf>, Option<Layout>, u16), String> {
        let s = self.store.resolve()?;
        Ok((s.drives, s.layout, s.partitions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default() {
        let s = ServeArgs::default().resolve().unwrap();
        assert!(s.embedded);
        assert_eq!(s.drives.len(), 4);
        assert_eq!(s.layout, Some(Layout { data: 2, parity: 2 }));
        assert_eq!(s.listen.port(), 9000);
    }

    #[test]
    fn drives_expand_and_file_fills_gaps() {
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(
            &cfg,
            "listen = \"127.0.0.1:9100\"\nlayout = \"4+2\"\ncores = 2\n",
        )
        .unwrap();
        let mut a = ServeArgs::default();
        a.store.drives = vec!["/x/d{1...6}".into()];
        a.store.config = Some(cfg.clone());
        a.cores = Some(1);
        let s = a.resolve().unwrap();
        assert_eq!(s.drives.len(), 6);
        assert_eq!(s.listen.port(), 9100);
        assert_eq!(s.cores, 1, "the command line wins over the file");
        assert_eq!(s.layout, Some(Layout { data: 4, parity: 2 }));
        std::fs::write(&cfg, "nonsense = 1\n").unwrap();
        assert!(a.resolve().is_err());
    }

    #[test]
    fn http_settings() {
        let s = ServeArgs::default().resolve().unwrap();
        assert!(s.http.tls.is_none() && s.http.domain.is_none());
        assert_eq!(s.http.idle_timeout.as_secs(), DEFAULT_IDLE_TIMEOUT);
        let mut a = ServeArgs {
            domain: Some(".S3.Example.com".into()),
            idle_timeout: Some(5),
            ..Default::default()
        };
        let s = a.resolve().unwrap();
        assert_eq!(s.http.domain.as_deref(), Some("s3.example.com"));
        assert_eq!(s.http.idle_timeout.as_secs(), 5);
        a.tls_cert = Some("/c.pem".into());
        assert!(a.resolve().is_err(), "a certificate without a key");
        a.tls_key = Some("/k.pem".into());
        assert_eq!(
            a.resolve().unwrap().http.tls,
            Some(("/c.pem".into(), "/k.pem".into()))
        );
        a.idle_timeout = Some(0);
        assert!(a.resolve().is_err());
        a.idle_timeout = None;
        a.domain = Some("host:9000".into());
        assert!(a.resolve().is_err());
    }

    #[test]
    fn website_domain_is_a_dns_name_apart_from_the_s3_domain() {
        let mut a = ServeArgs {
            domain: Some("s3.example.com".into()),
            website_domain: Some(".Web.Example.com".into()),
            ..Default::default()
        };
        let s = a.resolve().unwrap();
        assert_eq!(s.http.website_domain.as_deref(), Some("web.example.com"));
        a.website_domain = Some("S3.example.com".into());
        assert!(a.resolve().is_err(), "the S3 domain again");
        a.website_domain = Some("web.test:8080".into());
        assert!(a.resolve().is_err());
        a.website_domain = None;
        assert_eq!(a.resolve().unwrap().http.website_domain, None);
    }

    #[test]
    fn multipart_expiry_from_flag_file_or_default() {
        use std::time::Duration;
        let s = ServeArgs::default().resolve().unwrap();
        assert_eq!(s.multipart_expiry, DEFAULT_MULTIPART_EXPIRY);
        for (v, secs) in [
            ("90", 90),
            ("90s", 90),
            ("30m", 1800),
            ("12h", 43_200),
            ("7d", 604_800),
        ] {
            assert_eq!(parse_duration(v), Ok(Duration::from_secs(secs)), "{v}");
        }
        for bad in ["", "d", "1w", "-1s", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(&cfg, "multipart_expiry = \"2h\"\n").unwrap();
        let mut a = ServeArgs::default();
        a.store.config = Some(cfg);
        assert_eq!(
            a.resolve().unwrap().multipart_expiry,
            Duration::from_secs(7200)
        );
        a.multipart_expiry = Some("5s".into());
        assert_eq!(
            a.resolve().unwrap().multipart_expiry,
            Duration::from_secs(5)
        );
        a.multipart_expiry = Some("0".into());
        assert!(a.resolve().is_err());
    }

    #[test]
    fn bucket_log_interval_from_flag_file_or_default() {
        use std::time::Duration;
        let interval = |a: &ServeArgs| a.resolve().map(|s| s.logs.bucket_log_interval);
        assert_eq!(
            interval(&ServeArgs::default()),
            Ok(crate::logs::bucket::DEFAULT_INTERVAL)
        );
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(&cfg, "bucket_log_interval = \"1m\"\n").unwrap();
        let mut a = ServeArgs::default();
        a.store.config = Some(cfg);
        assert_eq!(interval(&a), Ok(Duration::from_secs(60)));
        a.bucket_log_interval = Some("2s".into());
        assert_eq!(interval(&a), Ok(Duration::from_secs(2)));
        a.bucket_log_interval = Some("0".into());
        assert!(interval(&a).is_err());
    }

    #[test]
    fn space_reserve_from_flag_file_or_the_engine_default() {
        assert_eq!(ServeArgs::default().resolve().unwrap().space_reserve, 0);
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(&cfg, "space_reserve = \"64MiB\"\n").unwrap();
        let mut a = ServeArgs::default();
        a.store.config = Some(cfg);
        assert_eq!(a.resolve().unwrap().space_reserve, 64 << 20);
        a.space_reserve = Some("2GiB".into());
        assert_eq!(a.resolve().unwrap().space_reserve, 2 << 30);
        for bad in ["0", "plenty"] {
            a.space_reserve = Some(bad.into());
            assert!(a.resolve().is_err(), "{bad}");
        }
    }

    #[test]
    fn read_cache_from_flag_file_or_default() {
        assert_eq!(
            ServeArgs::default().resolve().unwrap().read_cache,
            DEFAULT_READ_CACHE
        );
        for (v, bytes) in [
            ("0", 0),
            ("4096", 4096),
            ("512MiB", 512 << 20),
            ("2 GiB", 2 << 30),
            ("1g", 1 << 30),
            ("64KB", 64 << 10),
        ] {
            assert_eq!(parse_size(v), Ok(bytes), "{v}");
        }
        for bad in ["", "MiB", "1.5GiB", "-1", "1PiB", "99999999999TiB"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(&cfg, "read_cache = \"256MiB\"\n").unwrap();
        let mut a = ServeArgs::default();
        a.store.config = Some(cfg);
        assert_eq!(a.resolve().unwrap().read_cache, 256 << 20);
        a.read_cache = Some("0".into());
        assert_eq!(a.resolve().unwrap().read_cache, 0);
        a.read_cache = Some("lots".into());
        assert!(a.resolve().is_err());
    }

    #[test]
    fn connection_limits_from_flag_file_or_default() {
        use std::time::Duration;
        let s = ServeArgs::default().resolve().unwrap().http;
        assert_eq!(s.max_connections_per_ip, DEFAULT_MAX_CONNECTIONS_PER_IP);
        assert_eq!(
            s.first_request_timeout,
            Duration::from_secs(DEFAULT_FIRST_REQUEST_TIMEOUT)
        );
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(
            &cfg,
            "max_connections_per_ip = 8\nfirst_request_timeout = 3\n",
        )
        .unwrap();
        let mut a = ServeArgs::default();
        a.store.config = Some(cfg);
        let s = a.resolve().unwrap().http;
        assert_eq!(s.max_connections_per_ip, 8);
        assert_eq!(s.first_request_timeout, Duration::from_secs(3));
        a.max_connections_per_ip = Some(2);
        a.idle_timeout = Some(1);
        let s = a.resolve().unwrap().http;
        assert_eq!(s.max_connections_per_ip, 2, "the flag wins over the file");
        assert_eq!(
            s.first_request_timeout,
            Duration::from_secs(1),
            "never longer than the idle timeout"
        );
        a.max_connections_per_ip = Some(0);
        assert!(a.resolve().is_err());
        a.max_connections_per_ip = None;
        a.first_request_timeout = Some(0);
        assert!(a.resolve().is_err());
    }

    #[test]
    fn the_admin_listener_is_off_unless_given_and_never_the_s3_address() {
        assert_eq!(ServeArgs::default().resolve().unwrap().admin_listen, None);
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(&cfg, "admin_listen = \"127.0.0.1:9001\"\n").unwrap();
        let mut a = ServeArgs::default();
        a.store.config = Some(cfg);
        assert_eq!(a.resolve().unwrap().admin_listen.unwrap().port(), 9001);
        a.admin_listen = Some("127.0.0.1:9002".parse().unwrap());
        assert_eq!(a.resolve().unwrap().admin_listen.unwrap().port(), 9002);
        a.listen = Some("127.0.0.1:9002".parse().unwrap());
        assert!(a.resolve().unwrap_err().contains("admin-listen"));
    }

    #[test]
    fn the_console_is_on_unless_the_flag_or_the_file_turns_it_off() {
        assert!(ServeArgs::default().resolve().unwrap().http.console);
        let mut a = ServeArgs {
            no_console: true,
            ..ServeArgs::default()
        };
        assert!(!a.resolve().unwrap().http.console);
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(&cfg, "console = false\n").unwrap();
        a.no_console = false;
        a.store.config = Some(cfg);
        assert!(!a.resolve().unwrap().http.console);
    }

    #[test]
    fn ktls_is_on_unless_the_flag_or_the_file_turns_it_off() {
        assert!(ServeArgs::default().resolve().unwrap().http.ktls);
        let mut a = ServeArgs {
            no_ktls: true,
            ..ServeArgs::default()
        };
        assert!(!a.resolve().unwrap().http.ktls);
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(&cfg, "ktls = false\n").unwrap();
        a.no_ktls = false;
        a.store.config = Some(cfg);
        assert!(!a.resolve().unwrap().http.ktls);
    }

    #[test]
    fn rate_limits_are_off_unless_given_by_flag_or_file() {
        let s = ServeArgs::default().resolve().unwrap().http;
        assert_eq!((s.rate_limit_per_ip, s.rate_limit_per_key), (None, None));
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("c.toml");
        std::fs::write(&cfg, "rate_limit_per_ip = \"50/100\"\n").unwrap();
        let mut a = ServeArgs::default();
        a.store.config = Some(cfg);
        a.rate_limit_per_key = Some("20".into());
        let s = a.resolve().unwrap().http;
        let rate = |per_sec, burst| Some(Rate { per_sec, burst });
        assert_eq!(s.rate_limit_per_ip, rate(50.0, 100));
        assert_eq!(s.rate_limit_per_key, rate(20.0, 20));
        a.rate_limit_per_ip = Some("5/1".into());
        assert_eq!(a.resolve().unwrap().http.rate_limit_per_ip, rate(5.0, 1));
        a.rate_limit_per_key = Some("fast".into());
        let e = a.resolve().unwrap_err();
        assert!(e.contains("rate-limit-per-key"), "{e}");
    }

    #[test]
    fn duplicate_drive_refused() {
        let mut a = ServeArgs::default();
        a.store.drives = vec!["/a".into(), "/a".into()];
        assert!(a.resolve().is_err());
    }
}
