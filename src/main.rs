use clap::Parser;

use cairn::config::{Cli, Command};

// glibc's allocator degrades once the read cache's many 4 KiB-aligned
// buffers fragment its bins (43% of a listing's CPU with the cache full).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let start = std::env::var("CAIRN_LOG").unwrap_or_else(|_| "info".into());
    let filter =
        || tracing_subscriber::EnvFilter::try_new(&start).unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    // The filter is reloadable: the admin API's `log.level` setting.
    macro_rules! init_reloadable {
        ($b:expr) => {{
            let b = $b.with_env_filter(filter()).with_filter_reloading();
            let handle = b.reload_handle();
            cairn::logs::level::install(
                start.clone(),
                Box::new(move |f: &str| {
                    let filter = tracing_subscriber::EnvFilter::try_new(f)
                        .map_err(|e| format!("{f:?} is not a log filter: {e}"))?;
                    handle.reload(filter).map_err(|e| e.to_string())
                }),
            );
            b.init()
        }};
    }
    match std::env::var("CAIRN_LOG_FORMAT").as_deref() {
        Ok("json") => {
            init_reloadable!(builder.json().with_current_span(true).with_span_list(false))
        }
        Ok("text" | "") | Err(_) => init_reloadable!(builder),
        Ok(other) => {
            eprintln!("cairn: CAIRN_LOG_FORMAT must be json or text, not {other:?}");
            std::process::exit(1);
        }
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Admin(args) => std::process::exit(cairn::cli::run(args)),
        Command::Serve(args) => args.resolve().and_then(cairn::node::serve),
        Command::Health(args) => {
            cairn::http::health::probe(args.listen, std::time::Duration::from_secs(args.timeout))
                .map(|status| print!("{status}"))
        }
        Command::Repair(args) => {
            if !args.rebuild_index {
                Err("nothing to do: pass --rebuild-index".to_owned())
            } else {
                args.resolve().and_then(|(drives, layout, partitions)| {
                    cairn::node::rebuild_index(drives, layout, partitions)
                })
            }
        }
    };
    if let Err(e) = result {
        eprintln!("cairn: {e}");
        std::process::exit(1);
    }
}
