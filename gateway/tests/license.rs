//! License keys: created with `ssh-keygen` keys (ssh-rsa with all three signature formats, and
//! ssh-ed25519), verified against the matching public key, refused otherwise.

use std::path::Path;
use std::process::Command;
use telemetry_gateway::auth::license::{self, Info, LicenseError, LicenseVerifier};

fn keygen(dir: &Path, name: &str, kind: &str) -> Option<(ssh_key::PrivateKey, String)> {
    let path = dir.join(name);
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-C", "test", "-t", kind, "-f"])
        .arg(&path);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let status = cmd.status().ok()?;
    assert!(status.success());
    let private = ssh_key::PrivateKey::read_openssh_file(&path).expect("private key");
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    Some((private, public))
}

fn info() -> Info {
    Info {
        version: 1,
        nonce: [1, 2, 3, 4, 5, 6, 7, 8],
        tags: vec!["plan:enterprise-1".into()],
        user_count: 100,
        created_at: Some("2024-01-01T00:00:00Z".into()),
        expires_at: Some("2030-01-01T00:00:00Z".into()),
        salesforce_subscription_id: Some("sub-1".into()),
        salesforce_opportunity_id: Some("opp-1".into()),
    }
}

#[test]
fn rsa_and_ed25519_keys_verify_with_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((rsa, rsa_pub)) = keygen(dir.path(), "rsa", "rsa") else {
        eprintln!("ssh-keygen not available; skipping");
        return;
    };
    let (ed, ed_pub) = keygen(dir.path(), "ed", "ed25519").expect("ed25519 key");
    let (other, other_pub) = keygen(dir.path(), "other", "ed25519").expect("ed25519 key");
    let trusted = LicenseVerifier::from_openssh(&format!("# trusted\n{rsa_pub}\n\n{ed_pub}"))
        .expect("public keys");
    assert_eq!(trusted.len(), 2);
    let untrusted = LicenseVerifier::from_openssh(&other_pub).expect("public key");

    for format in ["ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"] {
        let key = license::create(&rsa, &info(), format).expect("create");
        assert_eq!(
            license::decode(&key).expect("decode").signature.format,
            format
        );
        assert_eq!(trusted.verify(&key).expect("verifies"), info());
        // Whitespace anywhere is ignored, as upstream.
        let spaced: String = key
            .chars()
            .enumerate()
            .flat_map(|(i, c)| if i % 20 == 0 { vec!['\n', c] } else { vec![c] })
            .collect();
        assert!(trusted.verify(&spaced).is_ok());
        assert!(matches!(
            untrusted.verify(&key),
            Err(LicenseError::BadSignature)
        ));
    }
    let key = license::create(&ed, &info(), "ignored").expect("create");
    assert_eq!(trusted.verify(&key).expect("verifies").user_count, 100);
    let key_other = license::create(&other, &info(), "").expect("create");
    assert!(matches!(
        trusted.verify(&key_other),
        Err(LicenseError::BadSignature)
    ));
}

#[test]
fn tampered_and_malformed_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((ed, ed_pub)) = keygen(dir.path(), "ed", "ed25519") else {
        return;
    };
    let verifier = LicenseVerifier::from_openssh(&ed_pub).expect("public key");
    let key = license::create(&ed, &info(), "").expect("create");

    // Change the signed info: the signature no longer verifies.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut json: serde_json::Value =
        serde_json::from_slice(&engine.decode(&key).expect("b64")).expect("json");
    let mut tampered_info = info();
    tampered_info.user_count = 1_000_000;
    json["info"] = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&tampered_info).expect("json"))
        .into();
    let tampered = engine.encode(serde_json::to_vec(&json).expect("json"));
    assert!(matches!(
        verifier.verify(&tampered),
        Err(LicenseError::BadSignature)
    ));

    // A signature format that does not match the key type.
    json["info"] = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&info()).expect("json"))
        .into();
    json["sig"]["Format"] = "rsa-sha2-256".into();
    let wrong_format = engine.encode(serde_json::to_vec(&json).expect("json"));
    assert!(matches!(
        verifier.verify(&wrong_format),
        Err(LicenseError::BadSignature)
    ));

    assert!(matches!(
        verifier.verify("eyJpbmZvIjoiZTMwPSJ9"), // {"info":"e30="}
        Err(LicenseError::MissingSignature)
    ));
    assert!(matches!(
        verifier.verify("not base64!"),
        Err(LicenseError::Base64(_))
    ));
    assert!(matches!(
        LicenseVerifier::default().verify(&key),
        Err(LicenseError::NoKeys)
    ));
}
