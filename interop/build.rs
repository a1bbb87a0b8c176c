//! Generates `MyService` from `.proto` with psrpc-build, as the Go peer's code is generated from it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto/examples/my_service.proto");
    psrpc_build::Builder::new().compile(&["../proto/examples/my_service.proto"], &["../proto/examples"])?;
    Ok(())
}
