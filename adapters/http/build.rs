//! Generates the Rust messages of `proto/loki/push.proto` (Loki's push API) at build time, with
//! protox as the protobuf compiler so that no system `protoc` is needed. Messages only: the
//! endpoint is HTTP, there is no gRPC service to generate.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto_file = proto_dir.join("loki/push.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());

    let descriptors = protox::compile([&proto_file], [&proto_dir])?;
    prost_build::Config::new()
        // Generated messages derive PartialEq only; clippy would ask for Eq.
        .type_attribute(".", "#[allow(clippy::derive_partial_eq_without_eq)]")
        .compile_fds(descriptors)?;
    Ok(())
}
