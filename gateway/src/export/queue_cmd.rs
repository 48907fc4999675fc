//! `telemetry-gateway queue stats|set-aside|requeue`: inspect an export queue, list the events
//! set aside after repeated refusals, and put them back.
//!
//! ```sh
//! telemetry-gateway queue set-aside --queue ./telemetry-export-queue.sqlite3
//! telemetry-gateway queue requeue --all --queue postgres://relay@127.0.0.1/telemetry
//! ```

use super::QueueArgs;
use anyhow::Context;
use std::time::SystemTime;

/// Queue subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum QueueCommand {
    /// Print the queue's size, set-aside count and oldest waiting event's age (JSON).
    Stats(QueueArgs),
    /// List the events set aside (one JSON object per line: id, refusals, last_error,
    /// set_aside_at_unix).
    SetAside {
        #[command(flatten)]
        queue: QueueArgs,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Put set-aside events back in the export queue (their refusal counts reset).
    Requeue {
        #[command(flatten)]
        queue: QueueArgs,
        /// Every set-aside event.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
        /// These event ids.
        #[arg(required_unless_present = "all")]
        ids: Vec<String>,
    },
}

/// Runs a `queue` subcommand.
pub async fn run(cmd: QueueCommand) -> anyhow::Result<()> {
    let spec = match &cmd {
        QueueCommand::Stats(q)
        | QueueCommand::SetAside { queue: q, .. }
        | QueueCommand::Requeue { queue: q, .. } => q.queue.clone(),
    };
    let queue = super::queue::open(&spec)
        .await
        .with_context(|| format!("opening queue {}", spec.describe()))?;
    match cmd {
        QueueCommand::Stats(_) => {
            let stats = queue.stats(SystemTime::now()).await?;
            println!("{}", serde_json::to_string(&stats)?);
        }
        QueueCommand::SetAside { limit, .. } => {
            let rows = queue.list_set_aside(limit).await?;
            for row in &rows {
                println!("{}", serde_json::to_string(row)?);
            }
            eprintln!(
                "queue: {} events set aside (listed up to {limit})",
                rows.len()
            );
        }
        QueueCommand::Requeue { all, ids, .. } => {
            let n = if all {
                queue.requeue(None).await?
            } else {
                queue.requeue(Some(&ids)).await?
            };
            eprintln!("queue: {n} set-aside events re-queued");
            if !all && (n as usize) < ids.len() {
                anyhow::bail!(
                    "{} of the given ids were not set aside (unknown, exported, or never refused)",
                    ids.len() - n as usize
                );
            }
        }
    }
    Ok(())
}
