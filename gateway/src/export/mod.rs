//! The instance-side exporter (the reference's `telemetrygatewayexporter` worker) as a library
//! and as `telemetry-gateway export`: a durable queue of redacted events in SQLite or
//! PostgreSQL ([`queue`]), export runs over gRPC that mark exactly the acknowledged ids and set
//! aside what the gateway keeps refusing ([`mod@run`], [`client`]), the periodic [`worker`] the
//! relay runs, metrics ([`metrics`]), and NDJSON input of recordings or events ([`input`]).
//!
//! `telemetry-gateway export` and `telemetry-gateway relay` share the option groups below and
//! the same [`run::Exporter`]: one exporter, two front doors.

pub mod client;
pub mod input;
pub mod metrics;
pub mod queue;
pub mod queue_cmd;
pub mod run;
pub mod worker;

use anyhow::Context;
use client::ExportTarget;
use input::InputKind;
use queue::QueueSpec;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use telemetry_core::proto::{Identifier, identifier};
use telemetry_core::{ExportMode, ExportModeInputs, LicenseState, RedactionPolicy};

/// The smallest batch size (upstream refuses less than 100).
pub const MIN_BATCH_SIZE: usize = 100;

/// Which events the instance exports (see `telemetry_core::export_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportModeArg {
    /// Decide as upstream from the license (--licensed-key), --dotcom,
    /// `SRC_TELEMETRY_EVENTS_EXPORT_ALL` and `EXPORT_USAGE_DATA_ENABLED`.
    Auto,
    /// Every event.
    All,
    /// Only `cody` and `cody.*` features.
    CodyOnly,
    /// Nothing is queued and nothing is exported.
    Disabled,
}

/// The queue option (shared by `export`, `relay` and `queue`).
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// The queue: an SQLite file (created with mode 0600 if missing; the embedded default) or
    /// a PostgreSQL URL `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (several replicas on one
    /// queue).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORT_QUEUE",
        default_value = "./telemetry-export-queue.sqlite3",
        hide_env_values = true
    )]
    pub queue: QueueSpec,
}

/// Where and as whom to export (shared by `export` and `relay`).
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// The gateway to deliver to: `https://HOST[:PORT]` (TLS, Mozilla root store), or
    /// `http://HOST:PORT` (plaintext: loopback hosts only, unless --allow-insecure-http).
    #[arg(long, env = "TELEMETRY_GATEWAY_EXPORT_GATEWAY")]
    pub gateway: Option<String>,

    /// Allow plaintext `http://` to a gateway that is not on a loopback address (events and
    /// tokens travel unencrypted).
    #[arg(long, env = "TELEMETRY_GATEWAY_EXPORT_ALLOW_INSECURE_HTTP")]
    pub allow_insecure_http: bool,

    /// Deadline of one export run (one RecordEvents stream), seconds: what was acknowledged
    /// before it is kept, the rest retried.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORT_RUN_TIMEOUT_SECONDS",
        default_value_t = 120.0
    )]
    pub run_timeout_seconds: f64,

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
}

/// What is queued, and how it is redacted (shared by `export` and `relay`).
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
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
    #[arg(long, value_enum, default_value = "auto")]
    pub export_mode: ExportModeArg,

    /// `source.server.version` of recorded events.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORT_SERVER_VERSION",
        default_value = "0.0.0+dev"
    )]
    pub server_version: String,
}

/// How runs behave (shared by `export` and `relay`).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Events per export run (at least 100).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORTER_EXPORT_BATCH_SIZE",
        default_value_t = 10_000
    )]
    pub batch_size: usize,

    /// Exported events are pruned from the queue after this many hours.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORTER_EXPORTED_EVENTS_RETENTION_HOURS",
        default_value_t = 24.0
    )]
    pub retention_hours: f64,

    /// Runs in which the gateway refused an event (a complete stream that acknowledged other
    /// events but not this one) before the event is set aside (`telemetry-gateway queue
    /// set-aside` lists them, `queue requeue` puts them back)...
    #[arg(long, env = "TELEMETRY_GATEWAY_EXPORT_MAX_REFUSALS", default_value_t = run::DEFAULT_MAX_REFUSALS)]
    pub max_refusals: u32,

    /// ...once its first refusal is at least this many seconds old.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EXPORT_MIN_REFUSAL_SPAN_SECONDS",
        default_value_t = run::DEFAULT_MIN_REFUSAL_SPAN_SECONDS
    )]
    pub min_refusal_span_seconds: f64,

    /// Retry back-off base, milliseconds (exponential, full jitter).
    #[arg(long, default_value_t = 500)]
    pub retry_base_ms: u64,

    /// Retry back-off ceiling, milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub retry_max_ms: u64,
}

/// Options of `telemetry-gateway export`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub queue: QueueArgs,

    #[command(flatten)]
    pub target: TargetArgs,

    #[command(flatten)]
    pub policy: PolicyArgs,

    #[command(flatten)]
    pub runs: RunArgs,

    /// NDJSON file to queue before exporting (repeatable): one recording
    /// (`TelemetryEventInput`) or one `Event` (proto3 JSON) per line.
    #[arg(long)]
    pub enqueue: Vec<PathBuf>,

    /// What the --enqueue lines are.
    #[arg(long, value_enum, default_value = "auto")]
    pub input_kind: InputKind,

    /// Only queue (and report the queue); do not export.
    #[arg(long)]
    pub enqueue_only: bool,

    /// Consecutive runs without progress before giving up (exit status 1).
    #[arg(long, default_value_t = 8)]
    pub max_attempts: u32,

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

impl TargetArgs {
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
    /// The export target (gateway URL, identifier, token, CA, deadline, http policy).
    pub fn target(&self) -> anyhow::Result<ExportTarget> {
        let gateway = self.gateway.clone().context("--gateway URL is required")?;
        client::check_gateway_url(&gateway, self.allow_insecure_http)?;
        let ca_cert_pem = match &self.ca_cert {
            Some(path) => Some(
                std::fs::read(path)
                    .with_context(|| format!("reading --ca-cert {}", path.display()))?,
            ),
            None => None,
        };
        let run_timeout = Duration::try_from_secs_f64(self.run_timeout_seconds)
            .ok()
            .filter(|d| !d.is_zero() && *d <= Duration::from_secs(24 * 3600))
            .context("--run-timeout-seconds must be more than 0 and at most 86400")?;
        Ok(ExportTarget {
            gateway,
            identifier: self.identifier()?,
            token: self.token.clone().filter(|t| !t.is_empty()),
            ca_cert_pem,
            allow_insecure_http: self.allow_insecure_http,
            run_timeout,
            keepalive_interval: client::KEEPALIVE_INTERVAL,
        })
    }

    /// The license state for the export-mode decision: decoded from --licensed-key (the
    /// instance's own configuration, so it is not re-verified here).
    pub fn license_state(&self) -> LicenseState {
        let Some(key) = &self.licensed_key else {
            return LicenseState::None;
        };
        let info = crate::auth::license::decode(key)
            .ok()
            .and_then(|d| serde_json::from_slice::<crate::auth::license::Info>(&d.info_bytes).ok());
        match info {
            None => LicenseState::Invalid,
            Some(info) => LicenseState::Valid {
                created_at_unix: info
                    .created_at
                    .as_deref()
                    .and_then(|c| telemetry_core::json::parse_timestamp_str(c).ok())
                    .map_or(0, |t| t.seconds),
                tags: info.tags,
            },
        }
    }
}

fn env_true(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.trim(), "true" | "1" | "TRUE" | "True"))
}

impl PolicyArgs {
    /// The redaction policy.
    pub fn redaction_policy(&self) -> anyhow::Result<RedactionPolicy> {
        Ok(RedactionPolicy::new(
            self.dotcom,
            &self.additional_allowed_event_types,
        )?)
    }

    /// The export mode: as given, or (auto) decided by the core's upstream rules.
    pub fn export_mode(&self, license: LicenseState) -> ExportMode {
        match self.export_mode {
            ExportModeArg::All => ExportMode::All,
            ExportModeArg::CodyOnly => ExportMode::CodyOnly,
            ExportModeArg::Disabled => ExportMode::Disabled,
            ExportModeArg::Auto => telemetry_core::export_mode(&ExportModeInputs {
                export_all_env: env_true("SRC_TELEMETRY_EVENTS_EXPORT_ALL"),
                license,
                dotcom: self.dotcom,
                export_usage_data_env: env_true("EXPORT_USAGE_DATA_ENABLED"),
            }),
        }
    }
}

impl RunArgs {
    /// The run options (validated).
    pub fn options(&self) -> anyhow::Result<run::RunOptions> {
        anyhow::ensure!(
            self.batch_size >= MIN_BATCH_SIZE,
            "--batch-size must be at least {MIN_BATCH_SIZE}"
        );
        anyhow::ensure!(self.max_refusals >= 1, "--max-refusals must be at least 1");
        let retention = Duration::try_from_secs_f64(self.retention_hours * 3600.0)
            .ok()
            .filter(|d| *d <= Duration::from_secs(10 * 366 * 24 * 3600))
            .context("--retention-hours must be a number from 0 to 87840 (ten years)")?;
        Ok(run::RunOptions {
            batch_size: self.batch_size,
            max_attempts: 1,
            retry_base_ms: self.retry_base_ms,
            retry_max_ms: self.retry_max_ms.max(self.retry_base_ms),
            retention,
            max_refusals: self.max_refusals,
            min_refusal_span: Duration::try_from_secs_f64(self.min_refusal_span_seconds)
                .ok()
                .filter(|d| *d <= Duration::from_secs(366 * 24 * 3600))
                .context("--min-refusal-span-seconds must be from 0 to a year")?,
            testing_pause_after_send: None,
        })
    }
}

/// Runs `telemetry-gateway export`.
pub async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let mut opts = args.runs.options()?;
    opts.max_attempts = args.max_attempts.max(1);
    opts.testing_pause_after_send = args.testing_pause_after_send_ms.map(Duration::from_millis);
    let policy = args.policy.redaction_policy()?;
    let mode = args.policy.export_mode(args.target.license_state());
    let target = if args.enqueue_only {
        None
    } else {
        Some(args.target.target().context("(or give --enqueue-only)")?)
    };
    let queue: Arc<dyn queue::ExportQueue> = Arc::from(
        queue::open(&args.queue.queue)
            .await
            .with_context(|| format!("opening queue {}", args.queue.queue.describe()))?,
    );

    let mut invalid_lines = 0usize;
    for path in &args.enqueue {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let read = input::read_ndjson(
            std::io::BufReader::new(file),
            args.input_kind,
            &args.policy.server_version,
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
        let report = queue::enqueue(
            queue.as_ref(),
            read.events,
            &policy,
            mode,
            SystemTime::now(),
        )
        .await?;
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

    let before = queue.stats(SystemTime::now()).await?;
    let summary = match (&target, mode) {
        (Some(target), m) if m != ExportMode::Disabled => {
            let mut progress = run::Progress::new(
                before.unexported,
                Duration::from_secs(args.progress_interval_seconds.max(1)),
                !args.quiet,
            );
            run::export_all(queue.clone(), target, &opts, &mut progress).await?
        }
        _ => {
            if target.is_some() {
                eprintln!("export: export mode is disabled; nothing is exported");
            }
            run::RunSummary {
                pruned: queue.prune(opts.retention, SystemTime::now()).await?,
                queue: queue.stats(SystemTime::now()).await?,
                ..Default::default()
            }
        }
    };
    eprintln!(
        "export: exported {} events in {:.2}s ({:.0} events/s, {} runs, {} incomplete); queue: {} unexported, {} set aside, oldest unexported {}s old, {} rows, {} pruned",
        summary.exported,
        summary.elapsed_seconds,
        summary.events_per_second,
        summary.runs,
        summary.imperfect_runs,
        summary.queue.unexported,
        summary.queue.set_aside,
        summary.queue.oldest_unexported_age_seconds,
        summary.queue.rows,
        summary.pruned
    );
    if args.summary_json {
        let mut v = serde_json::to_value(&summary)?;
        v["invalid_lines"] = invalid_lines.into();
        println!("{v}");
    }
    if summary.gave_up {
        anyhow::bail!(
            "{} events remain unexported after {} attempts (last error: {})",
            summary.queue.unexported,
            args.max_attempts,
            summary.last_error.as_deref().unwrap_or("none")
        );
    }
    if target.is_some() && mode != ExportMode::Disabled && summary.queue.unexported > 0 {
        // Nothing was left to claim, yet rows wait: another exporter holds them (PostgreSQL).
        eprintln!(
            "export: {} events are being exported by another exporter on this queue",
            summary.queue.unexported
        );
    }
    anyhow::ensure!(
        summary.set_aside == 0,
        "{} events were set aside (refused in {} runs over at least {}s, or undecodable); list \
         them with `telemetry-gateway queue set-aside`, re-queue them with `telemetry-gateway queue requeue`",
        summary.set_aside,
        args.runs.max_refusals,
        args.runs.min_refusal_span_seconds
    );
    anyhow::ensure!(
        invalid_lines == 0,
        "{invalid_lines} input lines were invalid (reported above); the valid ones were queued"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    }

    /// An (unsigned) key whose info has these tags and creation date: the export mode reads
    /// the instance's own configured key, so only the info matters here.
    fn key(tags: &[&str], created: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let info = serde_json::json!({"v": 1, "t": tags, "u": 10, "c": created});
        let signed = serde_json::json!({
            "sig": {"Format": "ssh-ed25519", "Blob": b64.encode(b"x")},
            "info": b64.encode(info.to_string()),
        });
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed.to_string())
    }

    fn mode(args: &[&str]) -> ExportMode {
        let w = Wrap::try_parse_from(std::iter::once("x").chain(args.iter().copied())).unwrap();
        w.policy.export_mode(w.target.license_state())
    }

    #[test]
    fn auto_export_mode_follows_the_license_as_upstream() {
        assert_eq!(mode(&[]), ExportMode::All);
        let gapped = key(&["allow-air-gapped"], "2024-05-01T00:00:00Z");
        assert_eq!(
            mode(&["--licensed-key", &gapped, "--instance-id", "i"]),
            ExportMode::Disabled
        );
        // --dotcom exports everything even with that license; an explicit mode wins
        assert_eq!(
            mode(&["--licensed-key", &gapped, "--instance-id", "i", "--dotcom"]),
            ExportMode::All
        );
        assert_eq!(
            mode(&["--licensed-key", &gapped, "--export-mode", "all"]),
            ExportMode::All
        );
        let old = key(&[], "2023-01-01T00:00:00Z");
        assert_eq!(mode(&["--licensed-key", &old]), ExportMode::CodyOnly);
        let cody = key(&["disable-telemetry-events-export"], "2025-01-01T00:00:00Z");
        assert_eq!(mode(&["--licensed-key", &cody]), ExportMode::CodyOnly);
        // a key that does not decode counts as invalid: everything is exported
        assert_eq!(mode(&["--licensed-key", "garbage"]), ExportMode::All);
    }
}
