//! TLS end to end: the gateway serving with `--tls-cert/--tls-key` (a certificate from a private
//! CA), and the exporter delivering to `https://localhost:PORT` trusting that CA with `--ca-cert`
//! — and refusing the same gateway without it.

use clap::Parser;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use telemetry_core::proto::{Identifier, identifier};
use telemetry_core::{ExportMode, RedactionPolicy};
use telemetry_gateway::config::ServeArgs;
use telemetry_gateway::export::client::ExportTarget;
use telemetry_gateway::export::input::{InputKind, read_ndjson};
use telemetry_gateway::export::queue::{self, ExportQueue, SqliteQueue};
use telemetry_gateway::export::run::{Progress, RunOptions, export_all};

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    serve: ServeArgs,
}

/// A private CA and a `localhost` server certificate it signed: (ca pem, cert pem, key pem).
fn private_ca() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "telemetry-gateway test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
    (ca_cert.pem(), server_cert.pem(), server_key.serialize_pem())
}

fn recordings(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"feature":"search","action":"submitted","source":{{"client":"web"}},"parameters":{{"version":0,"metadata":[{{"key":"n","value":{i}}}]}}}}"#
            ) + "\n"
        })
        .collect()
}

fn options() -> RunOptions {
    RunOptions {
        batch_size: 100,
        max_attempts: 1,
        retry_base_ms: 10,
        retry_max_ms: 20,
        retention: Duration::from_secs(3600),
        max_refusals: 5,
        min_refusal_span: Duration::from_secs(3600),
        testing_pause_after_send: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporter_delivers_over_tls_to_a_gateway_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let sink = dir.path().join("sink.ndjson");
    let args = Wrap::try_parse_from([
        "x",
        "--listen",
        "127.0.0.1:0",
        "--diagnostics-listen",
        "off",
        "--sink",
        &format!("file:{}", sink.display()),
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ])
    .unwrap()
    .serve;
    let gateway = telemetry_gateway::start(&args).await.unwrap();
    let url = format!("https://localhost:{}", gateway.addr.port());

    let queue: Arc<dyn ExportQueue> =
        Arc::new(SqliteQueue::open(&dir.path().join("q.sqlite3")).unwrap());
    let read = read_ndjson(recordings(50).as_bytes(), InputKind::Auto, "6.1.0").unwrap();
    queue::enqueue(
        queue.as_ref(),
        read.events,
        &RedactionPolicy::default(),
        ExportMode::All,
        SystemTime::now(),
    )
    .await
    .unwrap();
    let identifier = Identifier {
        identifier: Some(identifier::Identifier::UnlicensedInstance(
            identifier::UnlicensedInstanceIdentifier {
                instance_id: "tls-instance".into(),
                external_url: String::new(),
            },
        )),
    };

    // Without the private CA the certificate is not trusted: nothing is exported.
    let untrusting = ExportTarget {
        gateway: url.clone(),
        identifier: identifier.clone(),
        token: None,
        ca_cert_pem: None,
        allow_insecure_http: false,
        run_timeout: Duration::from_secs(60),
        keepalive_interval: Duration::from_secs(20),
    };
    let mut progress = Progress::new(50, Duration::from_secs(60), false);
    let refused = export_all(queue.clone(), &untrusting, &options(), &mut progress).await;
    match refused {
        Ok(summary) => assert_eq!(summary.exported, 0, "exported to an untrusted gateway"),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    assert_eq!(queue.stats(SystemTime::now()).await.unwrap().unexported, 50);

    // Trusting it, every event arrives.
    let trusting = ExportTarget {
        ca_cert_pem: Some(ca.into_bytes()),
        ..untrusting
    };
    let mut progress = Progress::new(50, Duration::from_secs(60), false);
    let summary = export_all(queue.clone(), &trusting, &options(), &mut progress)
        .await
        .unwrap();
    assert_eq!(summary.exported, 50);
    assert_eq!(summary.queue.unexported, 0);
    gateway.shutdown().await.unwrap();
    let lines = std::fs::read_to_string(&sink).unwrap().lines().count();
    assert_eq!(lines, 50);
}
