//! The `telemetry-gateway` command line: `serve`, `license`, `bench`, `export`, `relay`, `queue`,
//! `tail`.

use clap::{Parser, Subcommand};
use telemetry_gateway::{bench, config::ServeArgs, export};

mod license_cmd;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Telemetry Gateway wire-compatible with Sourcegraph's.
#[derive(Parser)]
#[command(name = "telemetry-gateway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default when no subcommand is given).
    Serve(Box<ServeArgs>),
    /// Issue and inspect license keys.
    #[command(subcommand)]
    License(license_cmd::LicenseCommand),
    /// Loopback load generator: the real server (file sink) against a no-publish baseline.
    Bench(bench::BenchArgs),
    /// Instance-side exporter: queue events (redacted) in SQLite and deliver them to a gateway.
    Export(Box<export::ExportArgs>),
    /// Recording endpoint for clients (GraphQL `recordEvents`, JSON): hydrate, redact, queue,
    /// and export the queue to a gateway periodically.
    Relay(Box<telemetry_gateway::relay::RelayArgs>),
    /// Inspect an export queue; list and re-queue events set aside after repeated refusals.
    #[command(subcommand)]
    Queue(export::queue_cmd::QueueCommand),
    /// Follow a running gateway's event inspector: one line per event (`--json` for machines).
    Tail(Box<telemetry_gateway::inspector::tail::TailArgs>),
}

fn main() -> std::process::ExitCode {
    telemetry_gateway::install_crypto_provider();
    let cli = Cli::parse();
    let command = match cli.command {
        Some(c) => c,
        None => Command::Serve(Box::new(
            match Cli::try_parse_from(["telemetry-gateway", "serve"]) {
                Ok(Cli {
                    command: Some(Command::Serve(a)),
                }) => *a,
                _ => unreachable_serve(),
            },
        )),
    };
    let result = match command {
        Command::Serve(args) => serve(*args),
        Command::License(cmd) => license_cmd::run(cmd),
        Command::Bench(args) => runtime().and_then(|rt| rt.block_on(bench::run(args))),
        Command::Export(args) => {
            telemetry_gateway::init_logging(telemetry_gateway::config::LogFormat::Compact, "warn");
            runtime().and_then(|rt| rt.block_on(export::run(*args)))
        }
        Command::Relay(args) => {
            telemetry_gateway::init_logging(args.log_format, &args.log_level);
            runtime()
                .and_then(|rt| rt.block_on(telemetry_gateway::relay::run(*args, shutdown_signal())))
        }
        Command::Queue(cmd) => runtime().and_then(|rt| rt.block_on(export::queue_cmd::run(cmd))),
        Command::Tail(args) => {
            runtime().and_then(|rt| rt.block_on(telemetry_gateway::inspector::tail::run(*args)))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("telemetry-gateway: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn unreachable_serve() -> ServeArgs {
    eprintln!("telemetry-gateway: invalid default options");
    std::process::exit(2)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_with(None)
}

fn runtime_with(
    worker_threads: Option<std::num::NonZeroUsize>,
) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n.get());
    }
    Ok(builder.enable_all().build()?)
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    telemetry_gateway::init_logging(args.log_format, &args.log_level);
    runtime_with(args.worker_threads)?.block_on(async {
        let running = telemetry_gateway::start(&args).await?;
        running
            .run_until(async {
                shutdown_signal().await;
                // A second signal exits at once, whatever is still draining.
                tokio::spawn(async {
                    shutdown_signal().await;
                    eprintln!("telemetry-gateway: second signal, exiting now");
                    std::process::exit(130);
                });
            })
            .await
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
