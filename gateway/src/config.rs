//! `telemetry-gateway serve` options: flags with environment-variable fallbacks (the reference's
//! variable names where they exist, `TELEMETRY_GATEWAY_*` otherwise).

use crate::sink::SinkSpec;
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The default gRPC listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10080";
/// The default sink.
pub const DEFAULT_SINK: &str = "file:./telemetry-events.ndjson";
/// The default publish concurrency per payload.
pub const DEFAULT_PUBLISH_CONCURRENCY: usize = 250;
/// The default largest accepted gRPC message (90 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 90 * 1024 * 1024;
/// The smallest accepted override of the message size (4 MB).
pub const MIN_MAX_MESSAGE_SIZE: usize = 4 * 1000 * 1000;

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One compact human-readable line per record.
    Compact,
    /// One JSON object per record.
    Json,
}

/// Options of `telemetry-gateway serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// gRPC (and gRPC-Web) listen address, HOST:PORT (port 0 picks a free port).
    #[arg(long, env = "TELEMETRY_GATEWAY_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Where published events go: `file:PATH` (NDJSON, one `{"data","attributes"}` line per
    /// message), `stdout`, or `pubsub:projects/P/topics/T`. Default `file:./telemetry-events.ndjson`,
    /// or the Pub/Sub topic when TELEMETRY_GATEWAY_EVENTS_PUBSUB_PROJECT_ID and _TOPIC_ID are set
    /// (and _ENABLED is not false). `fault:RATE:SPEC` wraps SPEC and fails a share RATE of
    /// publishes, `pubsub-limits:SPEC` fails whole batches holding a message over Pub/Sub's
    /// limits, as Pub/Sub does: FOR TESTING ONLY.
    #[arg(long, env = "TELEMETRY_GATEWAY_SINK")]
    pub sink: Option<SinkSpec>,

    /// Pub/Sub project (used when --sink is not given).
    #[arg(long, env = "TELEMETRY_GATEWAY_EVENTS_PUBSUB_PROJECT_ID")]
    pub pubsub_project_id: Option<String>,

    /// Pub/Sub topic (used when --sink is not given).
    #[arg(long, env = "TELEMETRY_GATEWAY_EVENTS_PUBSUB_TOPIC_ID")]
    pub pubsub_topic_id: Option<String>,

    /// Whether the project/topic variables select the Pub/Sub sink.
    #[arg(long, env = "TELEMETRY_GATEWAY_EVENTS_PUBSUB_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub pubsub_enabled: bool,

    /// Pub/Sub endpoint override, e.g. `http://127.0.0.1:8085` for the emulator (implies
    /// anonymous credentials). PUBSUB_EMULATOR_HOST=HOST:PORT is honoured too.
    #[arg(long, env = "TELEMETRY_GATEWAY_PUBSUB_ENDPOINT")]
    pub pubsub_endpoint: Option<String>,

    /// Optional dead-letter sink (same SPEC syntax) receiving every rejected event with a
    /// machine-readable reason.
    #[arg(long, env = "TELEMETRY_GATEWAY_DEAD_LETTER_SINK")]
    pub dead_letter_sink: Option<SinkSpec>,

    /// Publishes in flight per payload; 0 or less means 250.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_EVENTS_STREAM_PUBLISH_CONCURRENCY",
        default_value_t = 250,
        allow_negative_numbers = true
    )]
    pub publish_concurrency: i64,

    /// Largest accepted gRPC message, in bytes (suffixes KB, MB, GB, KiB, MiB, GiB accepted;
    /// at least 4 MB). Default 90 MiB.
    #[arg(long, env = "SRC_GRPC_SERVER_MAX_MESSAGE_SIZE")]
    pub max_message_size: Option<String>,

    /// File of trusted license-signing SSH public keys (`ssh-rsa` or `ssh-ed25519`,
    /// authorized_keys format); repeatable. Without any, licensed instances are refused.
    #[arg(
        long = "license-public-keys",
        env = "TELEMETRY_GATEWAY_LICENSE_PUBLIC_KEYS_FILE",
        value_delimiter = ','
    )]
    pub license_public_keys: Vec<PathBuf>,

    /// TESTING ONLY: accept licensed instances without verifying their license key.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_INSECURE_ACCEPT_UNVERIFIED_LICENSE_KEYS"
    )]
    pub insecure_accept_unverified_license_keys: bool,

    /// Refuse unlicensed instances (PermissionDenied). By default they are accepted without
    /// authentication, as the reference gateway does.
    #[arg(long, env = "TELEMETRY_GATEWAY_REFUSE_UNLICENSED_INSTANCES")]
    pub refuse_unlicensed_instances: bool,

    /// SAMS external URL.
    #[arg(
        long,
        env = "SAMS_URL",
        default_value = "https://accounts.sourcegraph.com"
    )]
    pub sams_url: String,

    /// SAMS API URL override (token introspection goes to {this or --sams-url}/oauth/introspect).
    #[arg(long, env = "TELEMETRY_GATEWAY_SAMS_SERVER_URL")]
    pub sams_server_url: Option<String>,

    /// The gateway's SAMS client id (for token introspection).
    #[arg(long, env = "TELEMETRY_GATEWAY_SAMS_CLIENT_ID", default_value = "")]
    pub sams_client_id: String,

    /// The gateway's SAMS client secret.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_SAMS_CLIENT_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    pub sams_client_secret: String,

    /// Seconds a token introspection result is reused (0 disables the cache; at most 86400).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_SAMS_CACHE_TTL_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=86_400)
    )]
    pub sams_cache_ttl_seconds: u64,

    /// Diagnostics HTTP listen address (`/metrics`, `/healthz`); `off` disables it.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_DIAGNOSTICS_LISTEN",
        default_value = "127.0.0.1:10081"
    )]
    pub diagnostics_listen: String,

    /// Origins allowed to call over gRPC-Web from browsers (comma-separated). Empty: no CORS
    /// headers (gRPC-Web still works for non-browser clients). `*` (any origin) needs
    /// --cors-allow-any-origin too.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,

    /// Allow `*` in --cors-allowed-origins: any web page may then send events through its
    /// visitors' browsers (a warning is logged).
    #[arg(long, env = "TELEMETRY_GATEWAY_CORS_ALLOW_ANY_ORIGIN")]
    pub cors_allow_any_origin: bool,

    /// File sinks (and a file dead-letter sink): fsync before acknowledging, one fsync per group
    /// of writes. Without it an acknowledged line survives a crash of the gateway but not a
    /// power loss; with it, both.
    #[arg(long, env = "TELEMETRY_GATEWAY_SINK_FSYNC")]
    pub sink_fsync: bool,

    /// Serve gRPC (and gRPC-Web) over TLS with this PEM certificate chain (needs --tls-key).
    /// Without it the gateway speaks plaintext HTTP/2, for loopback or behind a TLS proxy.
    #[arg(long, env = "TELEMETRY_GATEWAY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TELEMETRY_GATEWAY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// Log format.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_LOG_FORMAT",
        value_enum,
        default_value = "compact"
    )]
    pub log_format: LogFormat,

    /// Log filter (tracing `EnvFilter` syntax); RUST_LOG overrides it.
    #[arg(long, env = "TELEMETRY_GATEWAY_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// TESTING ONLY: the message-size threshold at or above which an event is dropped (and
    /// acknowledged) instead of published. Default: Pub/Sub's limit, 10,000,000 bytes.
    #[arg(long, hide = true, default_value_t = telemetry_core::MAX_MESSAGE_BYTES)]
    pub testing_max_event_message_bytes: usize,

    /// Worker threads of the async runtime (default: one per CPU). The file and stdout sinks
    /// write on one more thread of their own.
    #[arg(long, env = "TELEMETRY_GATEWAY_WORKER_THREADS")]
    pub worker_threads: Option<std::num::NonZeroUsize>,

    /// Benchmark baseline: decode and acknowledge every event without checks or publishing.
    /// Refused unless --listen is a loopback address.
    #[arg(long, hide = true)]
    pub baseline: bool,

    /// Limits.
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,

    /// The live event inspector (issue #11): options below, in [`InspectorArgs`].
    #[command(flatten)]
    pub inspector: InspectorArgs,
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Switch {
    /// Whether it is on.
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}

/// `serve` options of the live event inspector (`crate::inspector`), served on the diagnostics
/// port: it keeps recent events, private metadata included, in memory.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Event inspector (on the diagnostics port)")]
pub struct InspectorArgs {
    /// The live event inspector at http://DIAGNOSTICS/inspector/ (web page, REST API, `tail`):
    /// on by default (off when --diagnostics-listen is off).
    #[arg(
        long = "inspector",
        env = "TELEMETRY_GATEWAY_INSPECTOR",
        value_enum,
        default_value = "on"
    )]
    pub inspector: Switch,
    /// Most events the inspector keeps (oldest go first), 1 to 100000.
    #[arg(long, env = "TELEMETRY_GATEWAY_INSPECTOR_CAPACITY", default_value_t = crate::inspector::DEFAULT_CAPACITY)]
    pub inspector_capacity: usize,
    /// Most memory the inspector's record uses (bodies, attributes, strings; suffixes KiB, MiB…),
    /// at least 64KiB. Bodies over 256KiB (or an eighth of this) keep a prefix.
    #[arg(long, env = "TELEMETRY_GATEWAY_INSPECTOR_MAX_BYTES", default_value = crate::inspector::DEFAULT_MAX_BYTES)]
    pub inspector_max_bytes: String,
    /// Most events per second whose details the inspector keeps, for published events and for
    /// the others (rejected, dropped, failed) each; beyond it events are only counted. 0: keep
    /// every event.
    #[arg(long, env = "TELEMETRY_GATEWAY_INSPECTOR_MAX_RATE", default_value_t = crate::inspector::DEFAULT_MAX_RATE)]
    pub inspector_max_rate: u32,
    /// Require `Authorization: Bearer TOKEN` for the inspector's API (the page asks for it).
    /// Without a token the inspector only answers requests addressed to an IP or localhost.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_INSPECTOR_TOKEN",
        hide_env_values = true
    )]
    pub inspector_token: Option<String>,
}

impl ServeArgs {
    /// The sink to use, applying the Pub/Sub environment fallback.
    pub fn sink_spec(&self) -> Result<SinkSpec, String> {
        if let Some(s) = &self.sink {
            return Ok(s.clone());
        }
        if let (true, Some(p), Some(t)) = (
            self.pubsub_enabled,
            &self.pubsub_project_id,
            &self.pubsub_topic_id,
        ) && !p.is_empty()
            && !t.is_empty()
        {
            return format!("pubsub:projects/{p}/topics/{t}").parse();
        }
        DEFAULT_SINK.parse()
    }

    /// The Pub/Sub endpoint override, if any.
    pub fn pubsub_endpoint(&self) -> Option<String> {
        self.pubsub_endpoint.clone().or_else(|| {
            std::env::var("PUBSUB_EMULATOR_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .map(|h| format!("http://{h}"))
        })
    }

    /// The effective publish concurrency.
    pub fn publish_concurrency(&self) -> usize {
        if self.publish_concurrency <= 0 {
            DEFAULT_PUBLISH_CONCURRENCY
        } else {
            usize::try_from(self.publish_concurrency).unwrap_or(DEFAULT_PUBLISH_CONCURRENCY)
        }
    }

    /// The validated limits.
    pub fn resolve_limits(&self) -> Result<crate::limits::Limits, String> {
        self.limits.resolve(self.max_message_size()?)
    }

    /// The effective largest accepted message.
    pub fn max_message_size(&self) -> Result<usize, String> {
        match &self.max_message_size {
            None => Ok(DEFAULT_MAX_MESSAGE_SIZE),
            Some(s) if s.trim().is_empty() => Ok(DEFAULT_MAX_MESSAGE_SIZE),
            Some(s) => {
                let n = parse_size(s)?;
                if n < MIN_MAX_MESSAGE_SIZE {
                    return Err(format!(
                        "max message size {s:?} is below the minimum of 4 MB"
                    ));
                }
                Ok(n)
            }
        }
    }

    /// The SAMS root used for introspection.
    pub fn sams_server(&self) -> String {
        self.sams_server_url
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| self.sams_url.clone())
    }
}

/// Parses `123`, `4MB`, `90MiB`, `1 GB`…
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().map_err(|e| format!("size {s:?}: {e}"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1000,
        "kib" => 1024,
        "mb" | "m" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "gb" | "g" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        other => return Err(format!("size {s:?}: unknown unit {other:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}
