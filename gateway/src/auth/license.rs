//! License keys in Sourcegraph's format, verified against operator-configured SSH public keys.
//!
//! A key is `base64url-nopad(JSON {"sig": ssh.Signature, "info": base64(info JSON)})`, where
//! `ssh.Signature` is Go's `{"Format": "...", "Blob": "<base64>", "Rest": <base64 or null>}` and
//! the signature is the raw SSH signature of the info bytes (`signer.Sign(rand, info)`, not
//! SSHSIG). `ssh-rsa` keys accept `ssh-rsa` (SHA-1), `rsa-sha2-256` and `rsa-sha2-512`
//! signatures; `ssh-ed25519` keys accept `ssh-ed25519`. As upstream, expiry, user count, tags and
//! the instance id are not checked.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use ssh_key::{Algorithm, HashAlg, PrivateKey, PublicKey};

/// Why a license key is refused (rendered after "invalid license_key: ").
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    /// Not base64url.
    #[error("decoding license key: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Not the expected JSON.
    #[error("parsing license key: {0}")]
    Json(#[from] serde_json::Error),
    /// No `sig`.
    #[error("license key has no signature")]
    MissingSignature,
    /// No `info`.
    #[error("license key has no info")]
    MissingInfo,
    /// The operator configured no public key.
    #[error("no license public keys are configured")]
    NoKeys,
    /// No configured key verifies the signature.
    #[error("ssh: signature did not verify")]
    BadSignature,
    /// The info bytes are not license info JSON.
    #[error("parsing license info: {0}")]
    Info(serde_json::Error),
}

/// Go's `ssh.Signature` as encoded by `encoding/json` (`[]byte` as standard base64).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GoSignature {
    /// The signature format (algorithm name).
    #[serde(rename = "Format")]
    pub format: String,
    /// The signature blob (base64).
    #[serde(rename = "Blob", with = "b64", default)]
    pub blob: Vec<u8>,
    /// Trailing data (base64 or null).
    #[serde(rename = "Rest", with = "opt_b64", default)]
    pub rest: Option<Vec<u8>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SignedKey {
    #[serde(default)]
    sig: Option<GoSignature>,
    #[serde(default, with = "opt_b64")]
    info: Option<Vec<u8>>,
}

/// The license info (Go `license.Info`); unknown fields are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Info {
    /// Format version.
    #[serde(rename = "v", default)]
    pub version: u32,
    /// Random nonce.
    #[serde(rename = "n", default)]
    pub nonce: [u8; 8],
    /// Tags.
    #[serde(rename = "t", default)]
    pub tags: Vec<String>,
    /// Licensed user count.
    #[serde(rename = "u", default)]
    pub user_count: u64,
    /// Creation time (RFC 3339).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Expiry time (RFC 3339).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Salesforce subscription id.
    #[serde(rename = "sf_sub_id", default, skip_serializing_if = "Option::is_none")]
    pub salesforce_subscription_id: Option<String>,
    /// Salesforce opportunity id.
    #[serde(rename = "sf_opp_id", default, skip_serializing_if = "Option::is_none")]
    pub salesforce_opportunity_id: Option<String>,
}

/// A decoded (not yet verified) license key.
#[derive(Debug, Clone)]
pub struct DecodedKey {
    /// The signature.
    pub signature: GoSignature,
    /// The signed info bytes.
    pub info_bytes: Vec<u8>,
}

/// Decodes a license key without verifying it.
pub fn decode(key: &str) -> Result<DecodedKey, LicenseError> {
    let compact: String = key.chars().filter(|c| !c.is_whitespace()).collect();
    let raw = URL_SAFE_NO_PAD.decode(compact.as_bytes())?;
    let signed: SignedKey = serde_json::from_slice(&raw)?;
    let signature = signed.sig.ok_or(LicenseError::MissingSignature)?;
    let info_bytes = signed.info.ok_or(LicenseError::MissingInfo)?;
    Ok(DecodedKey {
        signature,
        info_bytes,
    })
}

/// Verifies a raw SSH signature (`format`, `blob`) over `data` with a public key, following
/// Go's `x/crypto/ssh` rules for which formats each key type accepts.
pub fn verify_raw(key: &PublicKey, format: &str, blob: &[u8], data: &[u8]) -> bool {
    use rsa::signature::Verifier;
    match key.key_data() {
        ssh_key::public::KeyData::Rsa(rsa_key) => {
            let Ok(public) = rsa::RsaPublicKey::try_from(rsa_key) else {
                return false;
            };
            let sig = match rsa::pkcs1v15::Signature::try_from(blob) {
                Ok(s) => s,
                Err(_) => return false,
            };
            match format {
                "ssh-rsa" => rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(public)
                    .verify(data, &sig)
                    .is_ok(),
                "rsa-sha2-256" => rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public)
                    .verify(data, &sig)
                    .is_ok(),
                "rsa-sha2-512" => rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(public)
                    .verify(data, &sig)
                    .is_ok(),
                _ => false,
            }
        }
        ssh_key::public::KeyData::Ed25519(ed) if format == "ssh-ed25519" => {
            let Ok(vk) = ed25519_dalek::VerifyingKey::try_from(ed) else {
                return false;
            };
            let Ok(sig) = ed25519_dalek::Signature::from_slice(blob) else {
                return false;
            };
            vk.verify_strict(data, &sig).is_ok()
        }
        _ => false,
    }
}

/// Verifies license keys against a set of trusted public keys.
#[derive(Debug, Clone, Default)]
pub struct LicenseVerifier {
    keys: Vec<PublicKey>,
}

impl LicenseVerifier {
    /// Trusts these keys.
    pub fn new(keys: Vec<PublicKey>) -> Self {
        LicenseVerifier { keys }
    }

    /// Reads OpenSSH public keys (`authorized_keys` lines; blank lines and `#` comments skipped).
    pub fn from_openssh(text: &str) -> Result<Self, ssh_key::Error> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(PublicKey::from_openssh)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LicenseVerifier { keys })
    }

    /// The number of trusted keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Decodes and verifies a key, returning its info.
    pub fn verify(&self, key: &str) -> Result<Info, LicenseError> {
        let decoded = decode(key)?;
        if self.keys.is_empty() {
            return Err(LicenseError::NoKeys);
        }
        let ok = self.keys.iter().any(|k| {
            verify_raw(
                k,
                &decoded.signature.format,
                &decoded.signature.blob,
                &decoded.info_bytes,
            )
        });
        if !ok {
            return Err(LicenseError::BadSignature);
        }
        serde_json::from_slice(&decoded.info_bytes).map_err(LicenseError::Info)
    }
}

/// Signs `info` with an OpenSSH private key and returns the license key. RSA keys sign with
/// `rsa_format` (`rsa-sha2-512`, `rsa-sha2-256` or `ssh-rsa`).
pub fn create(private: &PrivateKey, info: &Info, rsa_format: &str) -> anyhow::Result<String> {
    use rsa::signature::{SignatureEncoding, Signer};
    let info_bytes = serde_json::to_vec(info)?;
    let (format, blob) = match private.key_data() {
        ssh_key::private::KeypairData::Rsa(kp) => {
            let key = rsa_private_key(kp)?;
            let blob = match rsa_format {
                "ssh-rsa" => rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(key)
                    .sign(&info_bytes)
                    .to_vec(),
                "rsa-sha2-256" => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
                    .sign(&info_bytes)
                    .to_vec(),
                "rsa-sha2-512" => rsa::pkcs1v15::SigningKey::<sha2::Sha512>::new(key)
                    .sign(&info_bytes)
                    .to_vec(),
                other => anyhow::bail!("unsupported RSA signature format {other:?}"),
            };
            (rsa_format.to_string(), blob)
        }
        ssh_key::private::KeypairData::Ed25519(kp) => {
            let signing = ed25519_dalek::SigningKey::from_bytes(&kp.private.to_bytes());
            let sig: ed25519_dalek::Signature = signing.sign(&info_bytes);
            ("ssh-ed25519".to_string(), sig.to_bytes().to_vec())
        }
        _ => anyhow::bail!(
            "unsupported private key algorithm {} (use ssh-rsa or ssh-ed25519)",
            private.algorithm()
        ),
    };
    let signed = SignedKey {
        sig: Some(GoSignature {
            format,
            blob,
            rest: None,
        }),
        info: Some(info_bytes),
    };
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&signed)?))
}

/// Converts an OpenSSH RSA keypair (ssh-key 0.6's own conversion passes `p` twice, so the
/// components are assembled here).
fn rsa_private_key(kp: &ssh_key::private::RsaKeypair) -> anyhow::Result<rsa::RsaPrivateKey> {
    let int = |m: &ssh_key::Mpint| -> anyhow::Result<rsa::BigUint> {
        Ok(rsa::BigUint::from_bytes_be(
            m.as_positive_bytes()
                .ok_or_else(|| anyhow::anyhow!("invalid RSA key component"))?,
        ))
    };
    let key = rsa::RsaPrivateKey::from_components(
        int(&kp.public.n)?,
        int(&kp.public.e)?,
        int(&kp.private.d)?,
        vec![int(&kp.private.p)?, int(&kp.private.q)?],
    )?;
    Ok(key)
}

/// Whether an algorithm can sign license keys.
pub fn supported(algorithm: &Algorithm) -> bool {
    matches!(
        algorithm,
        Algorithm::Ed25519
            | Algorithm::Rsa {
                hash: None | Some(HashAlg::Sha256 | HashAlg::Sha512)
            }
    )
}

mod b64 {
    use super::{Engine, STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(Vec::new()),
            Some(s) => STANDARD.decode(s).map_err(serde::de::Error::custom),
        }
    }
}

mod opt_b64 {
    use super::{Engine, STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&STANDARD.encode(v)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
