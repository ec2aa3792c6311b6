//! Generates the Rust types and tonic stubs for `proto/log.proto` at build time, with protox as
//! the protobuf compiler so that no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto_file = proto_dir.join("log.proto");
    println!("cargo:rerun-if-changed={}", proto_file.display());

    let descriptors = protox::compile([&proto_file], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // `compile_fds`, unlike `compile_protos`, adds no clippy allowance to generated messages.
        .type_attribute(".", "#[allow(clippy::derive_partial_eq_without_eq)]")
        .compile_fds(descriptors)?;
    Ok(())
}
