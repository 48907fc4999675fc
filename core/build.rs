//! Generates the prost types from the repository's single copy of the schema,
//! `proto/telemetrygateway/v1/telemetrygateway.proto`, with the pure-Rust `protox`
//! compiler (no system `protoc` needed).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("..").join("proto");
    let proto_file = proto_root.join("telemetrygateway/v1/telemetrygateway.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());

    let descriptors = protox::compile([&proto_file], [&proto_root])?;
    prost_build::Config::new()
        // Ordered maps: Go's protojson sorts map keys, and so must our writer.
        .btree_map(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
