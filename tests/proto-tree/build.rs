//! Generates the acme tree: four listed files in two packages; their imports
//! (acme.common, the annotations, google's well-known types) give messages only.
//! `clock.proto` uses well-known types in every position with no prost
//! configuration; its gRPC-only service is left out.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    psrpc_build::Builder::new()
        .extern_path(".acme.common.Labels", "crate::labels::Labels")
        .bytes(&[".acme.common.Job.payload"])
        .btree_map(&[".acme.common.NodeInfo.labels"])
        .type_attribute(".acme.rpc.NodeStats", "#[derive(PartialOrd)]")
        .field_attribute(".acme.common.NodeInfo.owner_email", "#[doc(alias = \"email\")]")
        .exclude_services([".acme.rpc.ClockSync"])
        .include_file("protos.rs")
        .compile(
            &["acme/rpc/node.proto", "acme/rpc/room.proto", "acme/rpc/clock.proto", "acme/ops/v1/ops.proto"],
            &["proto"],
        )?;
    Ok(())
}
