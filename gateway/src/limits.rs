//! Every limit on what a client can make the gateway spend — memory, connections, streams, time,
//! outbound calls, log volume — in one place: the `serve` flags that set them (with their
//! defaults, sized for a small host), their validation, and the gRPC status a client gets when
//! one bites.
//!
//! The mechanisms live elsewhere and read their numbers from [`Limits`]: the memory budget in
//! [`crate::admission`], connections in [`crate::connections`], stream deadlines and draining in
//! [`crate::server`] and [`crate::shutdown`], SAMS in [`crate::auth::sams`], dead letters in
//! [`crate::sink::dead_letter`], log rate limits in [`crate::log_limit`].
//!
//! ```
//! use clap::Parser;
//! use telemetry_gateway::limits::{LimitArgs, Limits};
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     limits: LimitArgs,
//! }
//! let cli = Cli::parse_from(["x", "--max-inflight-bytes", "512MiB"]);
//! let limits: Limits = cli.limits.resolve(90 * 1024 * 1024).unwrap();
//! assert_eq!(limits.max_inflight_bytes, 512 * 1024 * 1024);
//! assert_eq!(limits.max_events_per_payload, 100_000);
//! ```

use crate::config::parse_size;
use std::time::Duration;
use tonic::Status;

/// The longest any configurable duration may be (one day): no arithmetic on a configured
/// duration can overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Memory a stream is charged for each event of a payload before its events are processed:
/// the id kept for the response and per-event bookkeeping.
pub const PER_EVENT_OVERHEAD_BYTES: usize = 96;

fn size(s: &str) -> Result<usize, String> {
    parse_size(s)
}

/// The `serve` flags that set the limits (flattened into `ServeArgs`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Limits (what a client can make the gateway spend)")]
pub struct LimitArgs {
    /// Global budget of bytes in flight: received request messages, decoded events, translated
    /// messages and sink queues, pending responses. When it is used up the gateway stops
    /// reading requests until memory is released (back-pressure); it never allocates past it.
    /// Three quarters are for receiving messages (which must hold the largest message), a
    /// quarter (at least 16 MiB) for processing events.
    #[arg(long, env = "TELEMETRY_GATEWAY_MAX_INFLIGHT_BYTES", default_value = "256MiB", value_parser = size)]
    pub max_inflight_bytes: usize,

    /// Per stream: bytes of responses waiting for a client that does not read them; past this
    /// the stream is not read until the client catches up.
    #[arg(long, env = "TELEMETRY_GATEWAY_MAX_PENDING_RESPONSE_BYTES", default_value = "4MiB", value_parser = size)]
    pub max_pending_response_bytes: usize,

    /// Events in one `EventsPayload`; more is refused with InvalidArgument.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_MAX_EVENTS_PER_PAYLOAD",
        default_value_t = 100_000
    )]
    pub max_events_per_payload: usize,

    /// Longest event id, request id and instance id, in bytes (InvalidArgument).
    #[arg(long, env = "TELEMETRY_GATEWAY_MAX_ID_BYTES", default_value = "1KiB", value_parser = size)]
    pub max_id_bytes: usize,

    /// Longest instance external URL, in bytes (InvalidArgument).
    #[arg(long, env = "TELEMETRY_GATEWAY_MAX_EXTERNAL_URL_BYTES", default_value = "8KiB", value_parser = size)]
    pub max_external_url_bytes: usize,

    /// Longest license key, in bytes (InvalidArgument).
    #[arg(long, env = "TELEMETRY_GATEWAY_MAX_LICENSE_KEY_BYTES", default_value = "16KiB", value_parser = size)]
    pub max_license_key_bytes: usize,

    /// Longest managed-service id and service environment, in bytes (InvalidArgument); the id
    /// becomes the `publisher.source` attribute.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_MAX_SERVICE_ID_BYTES",
        default_value = "256",
        value_parser = size
    )]
    pub max_service_id_bytes: usize,

    /// Open client connections. At the limit, the longest-idle connection (one without a
    /// request in flight) is closed to make room; if none is idle the new connection is closed.
    #[arg(long, env = "TELEMETRY_GATEWAY_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: usize,

    /// Concurrent HTTP/2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_MAX_STREAMS_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_streams_per_connection: u32,

    /// A connection with no request in flight for this long is closed (also bounds a client
    /// that connects and never sends a request).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_IDLE_TIMEOUT_SECONDS",
        default_value_t = 30
    )]
    pub idle_timeout_seconds: u64,

    /// Interval of HTTP/2 keepalive pings; a connection whose peer does not answer within
    /// --keepalive-timeout-seconds is closed.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_KEEPALIVE_INTERVAL_SECONDS",
        default_value_t = 30
    )]
    pub keepalive_interval_seconds: u64,

    /// How long to wait for a keepalive ping's answer.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_KEEPALIVE_TIMEOUT_SECONDS",
        default_value_t = 20
    )]
    pub keepalive_timeout_seconds: u64,

    /// A TLS handshake must complete within this many seconds.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_TLS_HANDSHAKE_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub tls_handshake_timeout_seconds: u64,

    /// Largest HTTP/2 header list (request metadata) accepted, in bytes.
    #[arg(long, env = "TELEMETRY_GATEWAY_MAX_HEADER_BYTES", default_value = "32KiB", value_parser = size)]
    pub max_header_bytes: usize,

    /// A `RecordEvents` stream (or a `RecordEvent` call) may last this long; then the payload
    /// being processed is answered and the stream ends with DeadlineExceeded (upstream: 2
    /// minutes).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_STREAM_DEADLINE_SECONDS",
        default_value_t = 120
    )]
    pub stream_deadline_seconds: u64,

    /// A request message that has started arriving must bring at least 1 KiB (or its remainder)
    /// per this many seconds, else the stream ends with DeadlineExceeded (slowloris).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_RECEIVE_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub receive_timeout_seconds: u64,

    /// On SIGTERM/Ctrl-C: stop accepting, give open streams this long to finish, then end them
    /// with Unavailable (clients retry what was not acknowledged), flush the sink and exit. A
    /// second signal exits at once.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_SHUTDOWN_DRAIN_SECONDS",
        default_value_t = 20
    )]
    pub shutdown_drain_seconds: u64,

    /// Seconds after which a publish counts as failed (the event is not acknowledged, and a
    /// message not yet written is not written later).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_PUBLISH_TIMEOUT_SECONDS",
        default_value_t = 30.0
    )]
    pub publish_timeout_seconds: f64,

    /// Bytes of dead letters queued for the dead-letter sink; past this a dead letter is
    /// dropped (counted in metrics, logged) rather than delaying acknowledgements.
    #[arg(long, env = "TELEMETRY_GATEWAY_DEAD_LETTER_QUEUE_BYTES", default_value = "16MiB", value_parser = size)]
    pub dead_letter_queue_bytes: usize,

    /// Seconds a dead-letter write may take before it is abandoned.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_DEAD_LETTER_TIMEOUT_SECONDS",
        default_value_t = 5
    )]
    pub dead_letter_timeout_seconds: u64,

    /// Token introspection calls to SAMS per second (bursts of twice that); past it a managed
    /// service gets ResourceExhausted and retries.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_SAMS_INTROSPECTIONS_PER_SECOND",
        default_value_t = 20
    )]
    pub sams_introspections_per_second: u32,

    /// Distinct tokens whose introspection result is cached (least recently used go first).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_SAMS_CACHE_CAPACITY",
        default_value_t = 10_000
    )]
    pub sams_cache_capacity: u64,

    /// Longest accepted bearer token, in bytes (Unauthenticated).
    #[arg(long, env = "TELEMETRY_GATEWAY_MAX_TOKEN_BYTES", default_value = "8KiB", value_parser = size)]
    pub max_token_bytes: usize,

    /// Per-event log lines (rejected, failed, oversized events) per second and kind; the rest
    /// are counted and summarised.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_LOG_EVENTS_PER_SECOND",
        default_value_t = 20
    )]
    pub log_events_per_second: u32,
}

/// The validated limits the gateway runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// See [`LimitArgs::max_inflight_bytes`].
    pub max_inflight_bytes: usize,
    /// The largest gRPC message accepted (`--max-message-size`).
    pub max_message_bytes: usize,
    /// See [`LimitArgs::max_pending_response_bytes`].
    pub max_pending_response_bytes: usize,
    /// See [`LimitArgs::max_events_per_payload`].
    pub max_events_per_payload: usize,
    /// See [`LimitArgs::max_id_bytes`].
    pub max_id_bytes: usize,
    /// See [`LimitArgs::max_external_url_bytes`].
    pub max_external_url_bytes: usize,
    /// See [`LimitArgs::max_license_key_bytes`].
    pub max_license_key_bytes: usize,
    /// See [`LimitArgs::max_service_id_bytes`].
    pub max_service_id_bytes: usize,
    /// See [`LimitArgs::max_connections`].
    pub max_connections: usize,
    /// See [`LimitArgs::max_streams_per_connection`].
    pub max_streams_per_connection: u32,
    /// See [`LimitArgs::idle_timeout_seconds`].
    pub idle_timeout: Duration,
    /// See [`LimitArgs::keepalive_interval_seconds`].
    pub keepalive_interval: Duration,
    /// See [`LimitArgs::keepalive_timeout_seconds`].
    pub keepalive_timeout: Duration,
    /// See [`LimitArgs::tls_handshake_timeout_seconds`].
    pub tls_handshake_timeout: Duration,
    /// See [`LimitArgs::max_header_bytes`].
    pub max_header_bytes: u32,
    /// See [`LimitArgs::stream_deadline_seconds`].
    pub stream_deadline: Duration,
    /// See [`LimitArgs::receive_timeout_seconds`].
    pub receive_timeout: Duration,
    /// See [`LimitArgs::shutdown_drain_seconds`].
    pub shutdown_drain: Duration,
    /// See [`LimitArgs::publish_timeout_seconds`].
    pub publish_timeout: Duration,
    /// See [`LimitArgs::dead_letter_queue_bytes`].
    pub dead_letter_queue_bytes: usize,
    /// See [`LimitArgs::dead_letter_timeout_seconds`].
    pub dead_letter_timeout: Duration,
    /// See [`LimitArgs::sams_introspections_per_second`].
    pub sams_introspections_per_second: u32,
    /// See [`LimitArgs::sams_cache_capacity`].
    pub sams_cache_capacity: u64,
    /// See [`LimitArgs::max_token_bytes`].
    pub max_token_bytes: usize,
    /// See [`LimitArgs::log_events_per_second`].
    pub log_events_per_second: u32,
}

/// A duration in whole seconds within 1 s ..= [`MAX_DURATION`].
pub fn seconds(flag: &str, s: u64) -> Result<Duration, String> {
    let d = Duration::from_secs(s);
    if s == 0 || d > MAX_DURATION {
        return Err(format!(
            "--{flag} must be between 1 and {} seconds, got {s}",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

fn positive(flag: &str, n: usize) -> Result<usize, String> {
    if n == 0 {
        return Err(format!("--{flag} must be positive"));
    }
    Ok(n)
}

impl LimitArgs {
    /// Validates the flags against each other and the message size limit.
    pub fn resolve(&self, max_message_bytes: usize) -> Result<Limits, String> {
        let receive_pool = crate::admission::Budgets::split(self.max_inflight_bytes)
            .receive
            .total();
        let largest =
            crate::admission::message_reservation(max_message_bytes, self.max_events_per_payload);
        if receive_pool < largest {
            return Err(format!(
                "--max-inflight-bytes ({}) is too small for the largest message: receiving one of \
                 --max-message-size ({max_message_bytes}) bytes reserves {largest} bytes, and the \
                 budget keeps {receive_pool} bytes for receiving (three quarters, the rest for processing)",
                self.max_inflight_bytes
            ));
        }
        // tokio's semaphore holds at most usize::MAX >> 3 permits.
        if self.max_inflight_bytes > (usize::MAX >> 3) {
            return Err("--max-inflight-bytes is too large".into());
        }
        let publish_timeout = Duration::try_from_secs_f64(self.publish_timeout_seconds)
            .ok()
            .filter(|d| !d.is_zero() && *d <= MAX_DURATION)
            .ok_or_else(|| {
                format!(
                    "--publish-timeout-seconds must be positive and at most {} seconds, got {}",
                    MAX_DURATION.as_secs(),
                    self.publish_timeout_seconds
                )
            })?;
        let max_header_bytes = u32::try_from(self.max_header_bytes)
            .ok()
            .filter(|n| *n >= 1024)
            .ok_or("--max-header-bytes must be between 1 KiB and 4 GiB")?;
        if self.max_pending_response_bytes < 64 * 1024 {
            return Err("--max-pending-response-bytes must be at least 64 KiB".into());
        }
        if self.max_streams_per_connection == 0 {
            return Err("--max-streams-per-connection must be positive".into());
        }
        if self.sams_introspections_per_second == 0 {
            return Err("--sams-introspections-per-second must be positive".into());
        }
        if self.log_events_per_second == 0 {
            return Err("--log-events-per-second must be positive".into());
        }
        Ok(Limits {
            max_inflight_bytes: self.max_inflight_bytes,
            max_message_bytes,
            max_pending_response_bytes: self.max_pending_response_bytes,
            max_events_per_payload: positive(
                "max-events-per-payload",
                self.max_events_per_payload,
            )?,
            max_id_bytes: positive("max-id-bytes", self.max_id_bytes)?,
            max_external_url_bytes: positive(
                "max-external-url-bytes",
                self.max_external_url_bytes,
            )?,
            max_license_key_bytes: positive("max-license-key-bytes", self.max_license_key_bytes)?,
            max_service_id_bytes: positive("max-service-id-bytes", self.max_service_id_bytes)?,
            max_connections: positive("max-connections", self.max_connections)?,
            max_streams_per_connection: self.max_streams_per_connection,
            idle_timeout: seconds("idle-timeout-seconds", self.idle_timeout_seconds)?,
            keepalive_interval: seconds(
                "keepalive-interval-seconds",
                self.keepalive_interval_seconds,
            )?,
            keepalive_timeout: seconds(
                "keepalive-timeout-seconds",
                self.keepalive_timeout_seconds,
            )?,
            tls_handshake_timeout: seconds(
                "tls-handshake-timeout-seconds",
                self.tls_handshake_timeout_seconds,
            )?,
            max_header_bytes,
            stream_deadline: seconds("stream-deadline-seconds", self.stream_deadline_seconds)?,
            receive_timeout: seconds("receive-timeout-seconds", self.receive_timeout_seconds)?,
            shutdown_drain: seconds("shutdown-drain-seconds", self.shutdown_drain_seconds)?,
            publish_timeout,
            dead_letter_queue_bytes: positive(
                "dead-letter-queue-bytes",
                self.dead_letter_queue_bytes,
            )?,
            dead_letter_timeout: seconds(
                "dead-letter-timeout-seconds",
                self.dead_letter_timeout_seconds,
            )?,
            sams_introspections_per_second: self.sams_introspections_per_second,
            sams_cache_capacity: self.sams_cache_capacity,
            max_token_bytes: positive("max-token-bytes", self.max_token_bytes)?,
            log_events_per_second: self.log_events_per_second,
        })
    }
}

/// Which limit refused something: the label of `telemetry_gateway_limit_hits_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A metadata or event string over its length cap.
    FieldLength,
    /// Too many events in one payload.
    EventsPerPayload,
    /// A stream ran past its deadline.
    StreamDeadline,
    /// A stream was ended by shutdown.
    ShutdownDrain,
    /// The SAMS introspection rate limit.
    SamsRate,
    /// A bearer token over its length cap.
    TokenLength,
    /// A connection closed at the connection limit.
    Connections,
    /// A connection closed for being idle.
    IdleConnection,
    /// A TLS handshake that timed out.
    TlsHandshake,
    /// A dead letter dropped because its queue was full or its write timed out.
    DeadLetterQueue,
    /// A stream waited for the memory budget.
    InflightBudgetWait,
    /// A stream waited because its client does not read responses.
    PendingResponses,
}

impl Limit {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Limit::FieldLength => "field_length",
            Limit::EventsPerPayload => "events_per_payload",
            Limit::StreamDeadline => "stream_deadline",
            Limit::ShutdownDrain => "shutdown_drain",
            Limit::SamsRate => "sams_introspection_rate",
            Limit::TokenLength => "token_length",
            Limit::Connections => "max_connections",
            Limit::IdleConnection => "idle_timeout",
            Limit::TlsHandshake => "tls_handshake_timeout",
            Limit::DeadLetterQueue => "dead_letter_queue",
            Limit::InflightBudgetWait => "inflight_budget_wait",
            Limit::PendingResponses => "pending_responses",
        }
    }
}

/// `InvalidArgument` for a string over its cap, naming the field, its length and the flag.
pub fn field_too_long(field: &str, len: usize, limit: usize, flag: &str) -> Status {
    Status::invalid_argument(format!(
        "{field} is {len} bytes, over the limit of {limit} bytes (--{flag})"
    ))
}

/// Checks one string against its cap.
pub fn check_len(value: &str, field: &str, limit: usize, flag: &str) -> Result<(), Status> {
    if value.len() > limit {
        return Err(field_too_long(field, value.len(), limit, flag));
    }
    Ok(())
}

/// `InvalidArgument` for a payload with too many events.
pub fn too_many_events(count: usize, limit: usize) -> Status {
    Status::invalid_argument(format!(
        "events payload holds {count} events, over the limit of {limit} (--max-events-per-payload)"
    ))
}

/// `DeadlineExceeded` at the end of an over-long stream.
pub fn stream_deadline_exceeded(deadline: Duration) -> Status {
    Status::deadline_exceeded(format!(
        "stream exceeded its deadline of {} s (--stream-deadline-seconds); payloads answered before it are recorded, reconnect to send more",
        deadline.as_secs()
    ))
}

/// `Unavailable` for a stream ended by shutdown.
pub fn shutting_down() -> Status {
    Status::unavailable(
        "the gateway is shutting down; events not acknowledged were not recorded, retry them",
    )
}

impl Limits {
    /// Checks the stream metadata's strings against their caps.
    pub fn check_metadata(
        &self,
        metadata: &telemetry_core::proto::RecordEventsRequestMetadata,
    ) -> Result<(), Status> {
        use telemetry_core::proto::identifier::Identifier as I;
        check_len(
            &metadata.request_id,
            "metadata.request_id",
            self.max_id_bytes,
            "max-id-bytes",
        )?;
        match metadata
            .identifier
            .as_ref()
            .and_then(|i| i.identifier.as_ref())
        {
            Some(I::LicensedInstance(l)) => {
                check_len(
                    &l.license_key,
                    "licensed_instance.license_key",
                    self.max_license_key_bytes,
                    "max-license-key-bytes",
                )?;
                check_len(
                    &l.instance_id,
                    "licensed_instance.instance_id",
                    self.max_id_bytes,
                    "max-id-bytes",
                )?;
                check_len(
                    &l.external_url,
                    "licensed_instance.external_url",
                    self.max_external_url_bytes,
                    "max-external-url-bytes",
                )
            }
            Some(I::UnlicensedInstance(u)) => {
                check_len(
                    &u.instance_id,
                    "unlicensed_instance.instance_id",
                    self.max_id_bytes,
                    "max-id-bytes",
                )?;
                check_len(
                    &u.external_url,
                    "unlicensed_instance.external_url",
                    self.max_external_url_bytes,
                    "max-external-url-bytes",
                )
            }
            Some(I::ManagedService(m)) => {
                check_len(
                    &m.service_id,
                    "managed_service.service_id",
                    self.max_service_id_bytes,
                    "max-service-id-bytes",
                )?;
                check_len(
                    m.service_environment.as_deref().unwrap_or(""),
                    "managed_service.service_environment",
                    self.max_service_id_bytes,
                    "max-service-id-bytes",
                )
            }
            None => Ok(()),
        }
    }

    /// Checks an event id against its cap.
    pub fn check_event_id(&self, id: &str) -> Result<(), Status> {
        check_len(id, "event.id", self.max_id_bytes, "max-id-bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: LimitArgs,
    }

    fn parse(args: &[&str]) -> Result<Limits, String> {
        let mut all = vec!["x"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all)
            .map_err(|e| e.to_string())?
            .limits
            .resolve(90 << 20)
    }

    #[test]
    fn defaults_are_valid() {
        let l = parse(&[]).unwrap();
        assert_eq!(l.max_inflight_bytes, 256 << 20);
        assert_eq!(l.stream_deadline, Duration::from_secs(120));
        assert_eq!(l.max_connections, 512);
    }

    #[test]
    fn huge_or_zero_durations_are_refused_not_overflowed() {
        for flag in [
            "--idle-timeout-seconds",
            "--stream-deadline-seconds",
            "--shutdown-drain-seconds",
            "--tls-handshake-timeout-seconds",
        ] {
            let e = parse(&[flag, "18446744073709551615"]).unwrap_err();
            assert!(
                e.contains("must be between 1 and 86400 seconds"),
                "{flag}: {e}"
            );
            assert!(parse(&[flag, "0"]).is_err(), "{flag} 0");
        }
        let e = parse(&["--publish-timeout-seconds", "1e300"]).unwrap_err();
        assert!(e.contains("at most 86400"), "{e}");
        assert!(parse(&["--publish-timeout-seconds", "NaN"]).is_err());
    }

    #[test]
    fn budget_must_hold_the_largest_message() {
        let e = parse(&["--max-inflight-bytes", "64MiB"]).unwrap_err();
        assert!(e.contains("too small for the largest message"), "{e}");
        assert!(parse(&["--max-inflight-bytes", "160MiB"]).is_ok());
    }

    #[test]
    fn messages_name_field_length_and_flag() {
        let s = field_too_long("event.id", 2000, 1024, "max-id-bytes");
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            s.message(),
            "event.id is 2000 bytes, over the limit of 1024 bytes (--max-id-bytes)"
        );
        assert_eq!(
            too_many_events(5, 4).message(),
            "events payload holds 5 events, over the limit of 4 (--max-events-per-payload)"
        );
    }
}
