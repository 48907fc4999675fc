//! `telemetry-gateway tail`: follows a running gateway's event inspector in a terminal, one
//! readable line per event (or one JSON object per line with `--json`).
//!
//! ```text
//! $ telemetry-gateway tail --outcome rejected
//! 2026-11-27T10:00:01.234Z rejected          Bad/submitted  id=e-2  unlicensed_instance/my-instance  invalid_feature_or_action: invalid event 'feature' or 'action': …
//! ```
//!
//! It reads the server-sent events of `GET /inspector/api/stream` on the diagnostics port.

use anyhow::Context;
use std::io::Write;
use std::time::Duration;

/// `tail` options.
#[derive(Debug, Clone, clap::Args)]
pub struct TailArgs {
    /// The gateway's diagnostics address (`--diagnostics-listen` of `serve`).
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_DIAGNOSTICS_URL",
        default_value = "http://127.0.0.1:10081"
    )]
    pub gateway_diagnostics: String,

    /// Bearer token, when the gateway runs with --inspector-token.
    #[arg(
        long,
        env = "TELEMETRY_GATEWAY_INSPECTOR_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Only events with this feature (`cody.*` matches a prefix).
    #[arg(long)]
    pub feature: Option<String>,

    /// Only events with this action (`*` suffix matches a prefix).
    #[arg(long)]
    pub action: Option<String>,

    /// Only these outcomes: published, rejected, dropped_oversized, publish_failed
    /// (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub outcome: Vec<String>,

    /// Only events from this publisher source (`licensed_instance`, `unlicensed_instance`, or a
    /// managed service's id).
    #[arg(long)]
    pub source: Option<String>,

    /// Only events from this instance id (or managed service id).
    #[arg(long)]
    pub instance: Option<String>,

    /// Only the event with this id.
    #[arg(long)]
    pub event_id: Option<String>,

    /// Only events whose body (or decoded event, or error) contains this text (ASCII case
    /// ignored).
    #[arg(long, short = 'q')]
    pub search: Option<String>,

    /// Only events received at or after this time (RFC 3339, or ms since the epoch).
    #[arg(long)]
    pub since: Option<String>,

    /// Only events received before this time.
    #[arg(long)]
    pub until: Option<String>,

    /// Print this many past events first (0 to 1000).
    #[arg(long, short = 'n', default_value_t = 10)]
    pub lines: usize,

    /// Exit after printing this many events (past ones included).
    #[arg(long)]
    pub count: Option<usize>,

    /// One JSON object per line (the API's event row).
    #[arg(long)]
    pub json: bool,

    /// With --json: the whole entry (decoded event, attributes, metadata, body).
    #[arg(long, requires = "json")]
    pub full: bool,
}

impl TailArgs {
    /// The stream URL these options select.
    pub fn stream_url(&self) -> anyhow::Result<reqwest::Url> {
        let base = if self.gateway_diagnostics.contains("://") {
            self.gateway_diagnostics.clone()
        } else {
            format!("http://{}", self.gateway_diagnostics)
        };
        let mut url = reqwest::Url::parse(&base)
            .with_context(|| format!("--gateway-diagnostics {:?}", self.gateway_diagnostics))?
            .join("/inspector/api/stream")?;
        {
            let mut q = url.query_pairs_mut();
            let mut opt = |k: &str, v: &Option<String>| {
                if let Some(v) = v {
                    q.append_pair(k, v);
                }
            };
            opt("feature", &self.feature);
            opt("action", &self.action);
            opt("source", &self.source);
            opt("instance", &self.instance);
            opt("eventId", &self.event_id);
            opt("q", &self.search);
            opt("since", &self.since);
            opt("until", &self.until);
            if !self.outcome.is_empty() {
                q.append_pair("outcome", &self.outcome.join(","));
            }
            q.append_pair("backlog", &self.lines.to_string());
            if self.full {
                q.append_pair("full", "true");
            }
        }
        Ok(url)
    }
}

/// Replaces control characters (a rejected event's feature may hold anything) so that one
/// event stays one line.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        std::borrow::Cow::Owned(
            s.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_debug().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// The readable line of an event row.
pub fn format_line(row: &serde_json::Value, color: bool) -> String {
    let s = |k: &str| clean(row[k].as_str().unwrap_or_default()).into_owned();
    let outcome = s("outcome");
    let painted = if color {
        let code = match outcome.as_str() {
            "published" => "32",
            "rejected" => "31",
            "dropped_oversized" => "33",
            _ => "35",
        };
        format!("\x1b[{code}m{outcome:<17}\x1b[0m")
    } else {
        format!("{outcome:<17}")
    };
    let mut who = s("publisherSource");
    let instance = s("instance");
    if !instance.is_empty() && instance != who {
        who = format!("{who}/{instance}");
    }
    let mut line = format!(
        "{} {painted} {}/{}  id={}  {who}",
        s("receivedAt"),
        s("feature"),
        s("action"),
        s("eventId"),
    );
    match outcome.as_str() {
        "rejected" => {
            line.push_str(&format!("  {}: {}", s("reason"), s("error")));
        }
        "publish_failed" => line.push_str(&format!("  {}", s("error"))),
        "dropped_oversized" => {
            line.push_str(&format!(
                "  {} bytes, at or over the message-size limit",
                row["bodyBytes"].as_u64().unwrap_or_default()
            ));
        }
        _ => {}
    }
    line
}

/// Runs `tail`.
pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.lines <= 1000, "--lines must be from 0 to 1000");
    if args.count == Some(0) {
        return Ok(());
    }
    let url = args.stream_url()?;
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let mut request = client.get(url.clone());
    if let Some(token) = args.token.as_deref().filter(|t| !t.is_empty()) {
        request = request.bearer_auth(token);
    }
    let mut response = request.send().await.with_context(|| {
        format!("connecting to the gateway's inspector at {url} (is the gateway running, with diagnostics on?)")
    })?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or(body);
        anyhow::bail!("the gateway answered {status}: {message}");
    }
    let color = !args.json
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    let mut printed = 0usize;
    let mut not_kept: Option<u64> = None;
    let mut buffer: Vec<u8> = Vec::new();
    let stdout = std::io::stdout();
    while let Some(chunk) = response
        .chunk()
        .await
        .context("reading the inspector stream")?
    {
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            let frame = String::from_utf8_lossy(&frame);
            let mut name = "message";
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim();
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
            match name {
                "entry" => {
                    let text = if args.json {
                        data
                    } else {
                        let row: serde_json::Value = serde_json::from_str(&data)
                            .with_context(|| format!("the inspector sent invalid JSON: {data}"))?;
                        format_line(&row, color)
                    };
                    let mut out = stdout.lock();
                    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
                        // The reader went away (e.g. `| head`): done.
                        return Ok(());
                    }
                    printed += 1;
                    if args.count.is_some_and(|c| printed >= c) {
                        return Ok(());
                    }
                }
                "lagged" => {
                    let missed = serde_json::from_str::<serde_json::Value>(&data)
                        .ok()
                        .and_then(|v| v["missed"].as_u64())
                        .unwrap_or_default();
                    eprintln!(
                        "telemetry-gateway tail: {missed} events skipped (this terminal fell behind)"
                    );
                }
                "reset" => {
                    not_kept = None;
                    eprintln!("telemetry-gateway tail: the inspector was reset");
                }
                "stats" => {
                    // Once a second: say when events went by without their details kept.
                    let now = serde_json::from_str::<serde_json::Value>(&data)
                        .ok()
                        .and_then(|v| v["notKept"].as_u64());
                    if let (Some(before), Some(now)) = (not_kept, now)
                        && now > before
                    {
                        eprintln!(
                            "telemetry-gateway tail: {} events over the inspector's record rate (--inspector-max-rate) were counted but not kept",
                            now - before
                        );
                    }
                    not_kept = now.or(not_kept);
                }
                // `ready`: the past events are printed.
                _ => {}
            }
        }
    }
    anyhow::bail!("the gateway closed the inspector stream (it stopped?)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TailArgs,
    }

    #[test]
    fn url_carries_the_filters() {
        let cli = Cli::parse_from([
            "tail",
            "--gateway-diagnostics",
            "127.0.0.1:9999",
            "--outcome",
            "rejected",
            "--outcome",
            "published",
            "--feature",
            "cody.*",
            "-q",
            "hello world",
            "-n",
            "0",
        ]);
        let url = cli.args.stream_url().unwrap().to_string();
        assert_eq!(
            url,
            "http://127.0.0.1:9999/inspector/api/stream?feature=cody.*&q=hello+world&outcome=rejected%2Cpublished&backlog=0"
        );
    }

    #[test]
    fn lines_are_single_and_readable() {
        let row = serde_json::json!({
            "receivedAt": "2026-11-27T10:00:01.234Z",
            "outcome": "rejected",
            "feature": "Bad\nfeature",
            "action": "submitted",
            "eventId": "e-2",
            "publisherSource": "unlicensed_instance",
            "instance": "my-instance",
            "reason": "invalid_feature_or_action",
            "error": "invalid event 'feature' or 'action': x",
        });
        let line = format_line(&row, false);
        assert_eq!(
            line,
            "2026-11-27T10:00:01.234Z rejected          Bad\\nfeature/submitted  id=e-2  unlicensed_instance/my-instance  invalid_feature_or_action: invalid event 'feature' or 'action': x"
        );
        assert!(!line.contains('\n'));
    }
}
