//! Generates the tonic service for `telemetrygateway.v1` from the repository's single copy of the
//! schema (`proto/telemetrygateway/v1/telemetrygateway.proto`), with the pure-Rust `protox`
//! compiler. Messages are the core's prost types (`extern_path`); the encoded descriptor set is
//! written too, for gRPC server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_root = manifest_dir.join("..").join("proto");
    let proto_file = proto_root.join("telemetrygateway/v1/telemetrygateway.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());

    let descriptors = protox::compile([&proto_file], [&proto_root])?;
    let encoded = prost::Message::encode_to_vec(&descriptors);
    std::fs::write(out_dir.join("telemetrygateway_descriptor.bin"), encoded)?;

    // The client (tests, bench, exporter) uses the core's types throughout. The server receives
    // `RecordEventsRequest` as `crate::wire::IncomingRecordEventsRequest` (the same wire format,
    // each events payload kept raw and decoded one event at a time) and sends
    // `RecordEventsResponse` as `crate::wire::OutgoingRecordEventsResponse` (pre-encoded); see
    // src/wire.rs.
    for (side, server) in [("client", false), ("server", true)] {
        let dir = out_dir.join(side);
        std::fs::create_dir_all(&dir)?;
        let mut builder = tonic_prost_build::configure()
            .build_client(!server)
            .build_server(server)
            .out_dir(&dir);
        if server {
            builder = builder
                .extern_path(
                    ".telemetrygateway.v1.RecordEventsRequest",
                    "crate::wire::IncomingRecordEventsRequest",
                )
                .extern_path(
                    ".telemetrygateway.v1.RecordEventsResponse",
                    "crate::wire::OutgoingRecordEventsResponse",
                )
                .extern_path(
                    ".telemetrygateway.v1.RecordEventRequest",
                    "crate::wire::IncomingRecordEventRequest",
                );
        }
        builder
            .extern_path(".telemetrygateway.v1", "::telemetry_core::proto")
            .compile_fds(descriptors.clone())?;
    }
    Ok(())
}
