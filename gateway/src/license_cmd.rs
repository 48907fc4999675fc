//! `telemetry-gateway license create|inspect`: issue and inspect license keys (for operators and
//! tests).

use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use telemetry_gateway::auth::license::{self, Info, LicenseVerifier};

/// License subcommands.
#[derive(Subcommand)]
pub enum LicenseCommand {
    /// Sign a new license key with an OpenSSH private key (ssh-rsa or ssh-ed25519) and print it.
    Create(CreateArgs),
    /// Decode a license key, print its signature format and info, and verify it if public keys
    /// are given.
    Inspect(InspectArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// OpenSSH private key file (unencrypted).
    #[arg(long)]
    private_key: PathBuf,
    /// Signature format for RSA keys: rsa-sha2-512, rsa-sha2-256 or ssh-rsa (SHA-1).
    #[arg(long, default_value = "rsa-sha2-512")]
    rsa_format: String,
    /// License tags (comma-separated).
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Licensed user count.
    #[arg(long, default_value_t = 0)]
    users: u64,
    /// Expiry, RFC 3339 (e.g. 2030-01-01T00:00:00Z).
    #[arg(long)]
    expires_at: Option<String>,
    /// Salesforce subscription id.
    #[arg(long)]
    salesforce_subscription_id: Option<String>,
    /// Salesforce opportunity id.
    #[arg(long)]
    salesforce_opportunity_id: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The license key.
    key: String,
    /// Public key files to verify against (authorized_keys format).
    #[arg(long = "public-keys")]
    public_keys: Vec<PathBuf>,
}

pub fn run(command: LicenseCommand) -> anyhow::Result<()> {
    match command {
        LicenseCommand::Create(a) => {
            let text = std::fs::read_to_string(&a.private_key)
                .with_context(|| format!("reading {}", a.private_key.display()))?;
            let private =
                ssh_key::PrivateKey::from_openssh(&text).context("parsing private key")?;
            let mut nonce = [0u8; 8];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
            let info = Info {
                version: 1,
                nonce,
                tags: a.tags.into_iter().filter(|t| !t.is_empty()).collect(),
                user_count: a.users,
                created_at: Some(now_rfc3339()),
                expires_at: a.expires_at,
                salesforce_subscription_id: a.salesforce_subscription_id,
                salesforce_opportunity_id: a.salesforce_opportunity_id,
            };
            println!("{}", license::create(&private, &info, &a.rsa_format)?);
            Ok(())
        }
        LicenseCommand::Inspect(a) => {
            let decoded = license::decode(&a.key)?;
            let info: serde_json::Value =
                serde_json::from_slice(&decoded.info_bytes).context("license info is not JSON")?;
            let mut out = serde_json::json!({
                "signatureFormat": decoded.signature.format,
                "info": info,
            });
            if !a.public_keys.is_empty() {
                let mut text = String::new();
                for p in &a.public_keys {
                    text.push_str(&std::fs::read_to_string(p)?);
                    text.push('\n');
                }
                let verifier = LicenseVerifier::from_openssh(&text)?;
                let verified = verifier.verify(&a.key);
                out["verified"] = serde_json::Value::Bool(verified.is_ok());
                if let Err(e) = verified {
                    out["error"] = serde_json::Value::String(e.to_string());
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
    }
}

fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
