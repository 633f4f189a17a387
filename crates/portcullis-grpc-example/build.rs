//! Compiles `proto/orders.proto` with the `protoc` shipped by the protoc-bin-vendored crate, so
//! that a clean machine needs nothing but the Rust toolchain.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(
        config,
        &["proto/orders.proto"],
        &["proto"],
    )?;
    Ok(())
}
