//! The instance-side exporter (the reference's `telemetrygatewayexporter` worker) as a library
//! and as `telemetry-gateway export`: a durable SQLite queue of redacted events ([`queue`]),
//! export runs over gRPC that mark exactly the acknowledged ids ([`mod@run`], [`client`]), and
//! NDJSON input of recordings or events ([`input`]).

pub mod client;
pub mod input;
pub mod queue;
pub mod run;

use anyhow::Context;
use client::ExportTarget;
use input::InputKind;
use queue::Queue;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use telemetry_core::proto::{Identifier, identifier};
use telemetry_core::{ExportMode, RedactionPolicy};

/// The smallest batch size (upstream refuses less than 100).
pub const MIN_BATCH_SIZE: usize = 100;

/// Which events the instance exports (see `telemetry_core::export_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportModeArg {
    /// Every event.
    All,
    /// Only `cody` and `cody.*` features.
    CodyOnly,
    /// Nothing is queued and nothing is exported.
    Disabled,
}

impl From<ExportModeArg> for ExportMode {
    fn from(m: ExportModeArg) -> Self {
        match m {
            ExportModeArg::All => ExportMode::All,
            ExportModeArg::CodyOnly => ExportMode::CodyOnly,
            ExportModeArg::Disabled => ExportMode::Disabled,
        }
    }
}

/// Options of `telemetry-gateway export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The gateway to deliver to: `http://HOST:PORT` (plaintext; loopback and development) or
    /// `https://HOST[:PORT]` (TLS, Mozilla root store).
    #[arg(long, env = "TELEMETRY_GATEWAY_EXPORT_GATEWAY")]
    pub gateway: Option<String>,

    /// The queue: an SQLite file (created if missing).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORT_QUEUE",
        default_value = "./telemetry-export-queue.sqlite3"
    )]
    pub queue: PathBuf,

    /// NDJSON file to queue before exporting (repeatable): one recording
    /// (`TelemetryEventInput`) or one `Event` (proto3 JSON) per line.
    #[arg(long)]
    pub enqueue: Vec<PathBuf>,

    /// What the --enqueue lines are.
    #[arg(long, value_enum, default_value = "auto")]
    pub input_kind: InputKind,

    /// `source.server.version` of recorded events.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORT_SERVER_VERSION",
        default_value = "0.0.0+dev"
    )]
    pub server_version: String,

    /// Only queue (and report the queue); do not export.
    #[arg(long)]
    pub enqueue_only: bool,

    /// Licensed instance: the license key.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORT_LICENSE_KEY",
        hide_env_values = true,
        conflicts_with_all = ["unlicensed", "managed_service"]
    )]
    pub licensed_key: Option<String>,

    /// Unlicensed instance.
    #[arg(long, conflicts_with = "managed_service")]
    pub unlicensed: bool,

    /// The instance (site) id, for licensed and unlicensed instances.
    #[arg(long, env = "TELEMETRY_GATEWAY_EXPORT_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// The instance's external URL.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORT_EXTERNAL_URL",
        default_value = ""
    )]
    pub external_url: String,

    /// Managed service: its service id (needs --token).
    #[arg(long)]
    pub managed_service: Option<String>,

    /// Managed service environment.
    #[arg(long, requires = "managed_service")]
    pub service_environment: Option<String>,

    /// Bearer token for managed services (SAMS).
    #[arg(long, env = "TELEMETRY_GATEWAY_EXPORT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// PEM file of extra root certificates to trust for an `https://` gateway (a private CA),
    /// on top of the Mozilla root store.
    #[arg(long, env = "TELEMETRY_GATEWAY_EXPORT_CA_CERT")]
    pub ca_cert: Option<PathBuf>,

    /// Sourcegraph.com mode: nothing is redacted.
    #[arg(long)]
    pub dotcom: bool,

    /// More allowlisted private-metadata keys: `feature::action::key1::key2,…`.
    #[arg(
        long,
        env = "SRC_TELEMETRY_SENSITIVEMETADATA_ADDITIONAL_ALLOWED_EVENT_TYPES",
        default_value = ""
    )]
    pub additional_allowed_event_types: String,

    /// Which events are queued at all.
    #[arg(long, value_enum, default_value = "all")]
    pub export_mode: ExportModeArg,

    /// Events per export run (at least 100).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORTER_EXPORT_BATCH_SIZE",
        default_value_t = 10_000
    )]
    pub batch_size: usize,

    /// Exported events are pruned from the queue after this many hours.
    #[arg(long, default_value_t = 24.0)]
    pub retention_hours: f64,

    /// Consecutive runs without progress before giving up (exit status 1).
    #[arg(long, default_value_t = 8)]
    pub max_attempts: u32,

    /// Retry back-off base, milliseconds (exponential, full jitter).
    #[arg(long, default_value_t = 500)]
    pub retry_base_ms: u64,

    /// Retry back-off ceiling, milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub retry_max_ms: u64,

    /// Seconds between progress lines when standard error is not a terminal.
    #[arg(long, default_value_t = 10)]
    pub progress_interval_seconds: u64,

    /// No progress display.
    #[arg(long)]
    pub quiet: bool,

    /// Print the summary as one JSON object on standard output.
    #[arg(long)]
    pub summary_json: bool,

    /// TESTING ONLY: sleep this long between receiving acknowledgements and marking them
    /// (to kill the exporter "between send and acknowledgement" in fault tests).
    #[arg(long, hide = true)]
    pub testing_pause_after_send_ms: Option<u64>,
}

impl ExportArgs {
    /// The identifier the flags describe.
    pub fn identifier(&self) -> anyhow::Result<Identifier> {
        use identifier::Identifier as I;
        let id = if let Some(key) = &self.licensed_key {
            let instance_id = self
                .instance_id
                .clone()
                .context("--licensed-key needs --instance-id")?;
            I::LicensedInstance(identifier::LicensedInstanceIdentifier {
                license_key: key.clone(),
                instance_id,
                external_url: self.external_url.clone(),
            })
        } else if self.unlicensed {
            let instance_id = self
                .instance_id
                .clone()
                .filter(|i| !i.is_empty())
                .context("--unlicensed needs --instance-id")?;
            I::UnlicensedInstance(identifier::UnlicensedInstanceIdentifier {
                instance_id,
                external_url: self.external_url.clone(),
            })
        } else if let Some(service_id) = &self.managed_service {
            anyhow::ensure!(
                self.token.as_deref().is_some_and(|t| !t.is_empty()),
                "--managed-service needs --token (or TELEMETRY_GATEWAY_EXPORT_TOKEN)"
            );
            I::ManagedService(identifier::ManagedServiceIdentifier {
                service_id: service_id.clone(),
                service_environment: self.service_environment.clone(),
            })
        } else {
            anyhow::bail!(
                "cannot infer an identifier: give --licensed-key KEY --instance-id ID, \
                 --unlicensed --instance-id ID, or --managed-service ID --token TOKEN"
            );
        };
        Ok(Identifier {
            identifier: Some(id),
        })
    }
}

/// Runs `telemetry-gateway export`.
pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.batch_size >= MIN_BATCH_SIZE,
        "--batch-size must be at least {MIN_BATCH_SIZE}"
    );
    let retention = Duration::try_from_secs_f64(args.retention_hours * 3600.0)
        .context("--retention-hours must be a non-negative number")?;
    let policy = RedactionPolicy::new(args.dotcom, &args.additional_allowed_event_types)?;
    let mode: ExportMode = args.export_mode.into();
    let target = if args.enqueue_only {
        None
    } else {
        let gateway = args
            .gateway
            .clone()
            .context("--gateway URL is required (or --enqueue-only)")?;
        let ca_cert_pem = match &args.ca_cert {
            Some(path) => Some(
                std::fs::read(path)
                    .with_context(|| format!("reading --ca-cert {}", path.display()))?,
            ),
            None => None,
        };
        Some(ExportTarget {
            gateway,
            identifier: args.identifier()?,
            token: args.token.clone().filter(|t| !t.is_empty()),
            ca_cert_pem,
        })
    };
    let mut queue = Queue::open(&args.queue)
        .with_context(|| format!("opening queue {}", args.queue.display()))?;

    let mut invalid_lines = 0usize;
    for path in &args.enqueue {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let read = input::read_ndjson(
            std::io::BufReader::new(file),
            args.input_kind,
            &args.server_version,
        )?;
        for bad in read.invalid.iter().take(20) {
            eprintln!("export: {}:{}: {}", path.display(), bad.line, bad.error);
        }
        if read.invalid.len() > 20 {
            eprintln!(
                "export: {}: {} more invalid lines",
                path.display(),
                read.invalid.len() - 20
            );
        }
        invalid_lines += read.invalid.len();
        let n = read.events.len();
        let report = queue.enqueue(read.events, &policy, mode, SystemTime::now())?;
        eprintln!(
            "export: {}: {n} events read ({} recorded), {} invalid lines; queued {}, already queued {}, not exported by mode {}, without id {}",
            path.display(),
            read.recorded,
            read.invalid.len(),
            report.queued,
            report.duplicates,
            report.skipped_by_export_mode,
            report.missing_id
        );
    }

    let before = queue.stats(SystemTime::now())?;
    let summary = match (&target, mode) {
        (Some(target), m) if m != ExportMode::Disabled => {
            let opts = run::RunOptions {
                batch_size: args.batch_size,
                max_attempts: args.max_attempts.max(1),
                retry_base_ms: args.retry_base_ms,
                retry_max_ms: args.retry_max_ms.max(args.retry_base_ms),
                retention,
                testing_pause_after_send: args
                    .testing_pause_after_send_ms
                    .map(Duration::from_millis),
            };
            let mut progress = run::Progress::new(
                before.unexported,
                Duration::from_secs(args.progress_interval_seconds.max(1)),
                !args.quiet,
            );
            run::export_all(&mut queue, target, &opts, &mut progress).await?
        }
        _ => {
            if target.is_some() {
                eprintln!("export: export mode is disabled; nothing is exported");
            }
            run::RunSummary {
                pruned: queue.prune(retention, SystemTime::now())?,
                queue: queue.stats(SystemTime::now())?,
                ..Default::default()
            }
        }
    };
    eprintln!(
        "export: exported {} events in {:.2}s ({:.0} events/s, {} runs, {} incomplete); queue: {} unexported, oldest unexported {}s old, {} rows, {} pruned",
        summary.exported,
        summary.elapsed_seconds,
        summary.events_per_second,
        summary.runs,
        summary.imperfect_runs,
        summary.queue.unexported,
        summary.queue.oldest_unexported_age_seconds,
        summary.queue.rows,
        summary.pruned
    );
    if args.summary_json {
        let mut v = serde_json::to_value(&summary)?;
        v["invalid_lines"] = invalid_lines.into();
        println!("{v}");
    }
    if target.is_some() && mode != ExportMode::Disabled && summary.queue.unexported > 0 {
        anyhow::bail!(
            "{} events remain unexported after {} attempts (last error: {})",
            summary.queue.unexported,
            args.max_attempts,
            summary.last_error.as_deref().unwrap_or("none")
        );
    }
    anyhow::ensure!(
        invalid_lines == 0,
        "{invalid_lines} input lines were invalid (reported above); the valid ones were queued"
    );
    Ok(())
}
