//! A TLS client that connects and never finishes its handshake is disconnected after
//! `--tls-handshake-timeout-seconds`, while a real TLS client is served meanwhile.

use clap::Parser;
use std::time::{Duration, Instant};
use telemetry_gateway::config::ServeArgs;
use tokio::io::AsyncReadExt;

#[derive(Parser)]
struct Wrap {
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_is_cut_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let args = Wrap::try_parse_from([
        "x",
        "--listen",
        "127.0.0.1:0",
        "--diagnostics-listen",
        "off",
        "--sink",
        &format!("file:{}", dir.path().join("s.ndjson").display()),
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
        "--tls-handshake-timeout-seconds",
        "1",
        "--idle-timeout-seconds",
        "60",
    ])
    .unwrap()
    .serve;
    let gateway = telemetry_gateway::start(&args).await.unwrap();

    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf))
        .await
        .expect("the gateway must close a stalled handshake");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "closed after {took:?}"
    );
    gateway.shutdown().await.unwrap();
}
