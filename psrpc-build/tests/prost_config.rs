//! prost-build settings reach message generation: through the builder's
//! pass-throughs or a caller-supplied `prost_build::Config`.

use std::path::{Path, PathBuf};

/// Writes a two-package tree into a scratch directory `name`; returns it.
fn tree(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("psrpc-build-config").join(name);
    std::fs::create_dir_all(dir.join("shared")).expect("scratch dir");
    std::fs::write(
        dir.join("shared/types.proto"),
        "syntax = \"proto3\";\npackage shared;\nmessage Blob { bytes data = 1; map<string, string> tags = 2; }\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("svc.proto"),
        "syntax = \"proto3\";\npackage svc;\nimport \"shared/types.proto\";\n\
         service Store { rpc Put(shared.Blob) returns (Ack); }\nmessage Ack { uint32 size = 1; }\n",
    )
    .expect("write");
    dir
}

/// Generates the tree `name` ([`tree`]) with the builder `configure`
/// returns when given one writing to the tree's `out`; returns the tree.
fn generate(name: &str, configure: impl FnOnce(psrpc_build::Builder) -> psrpc_build::Builder) -> PathBuf {
    let dir = tree(name);
    configure(psrpc_build::Builder::new().out_dir(dir.join("out"))).compile(&["svc.proto"], &[&dir]).expect("generate");
    dir
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join("out").join(file)).unwrap_or_default()
}

#[test]
fn pass_throughs_shape_the_messages() {
    let dir = generate("pass_through", |b| {
        b.bytes(&[".shared.Blob.data"])
            .btree_map(&[".shared.Blob.tags"])
            .type_attribute(".svc.Ack", "#[derive(PartialOrd)]")
            .field_attribute(".svc.Ack.size", "#[doc(alias = \"len\")]")
    });
    let shared = read(&dir, "shared.rs");
    assert!(shared.contains("::psrpc::__codegen::prost::bytes::Bytes"), "{shared}");
    assert!(shared.contains("BTreeMap"), "{shared}");
    let svc = read(&dir, "svc.rs");
    assert!(svc.contains("#[derive(PartialOrd)]"), "{svc}");
    assert!(svc.contains("#[doc(alias = \"len\")]"), "{svc}");
    // The imported file's messages are generated, its (absent) services not asked for.
    assert!(svc.contains("super::shared::Blob"), "{svc}");
}

#[test]
fn extern_path_reuses_existing_messages() {
    let dir = generate("extern_path", |b| b.extern_path(".shared", "::existing_crate::shared"));
    assert!(read(&dir, "shared.rs").is_empty(), "no messages generated for the extern package");
    let svc = read(&dir, "svc.rs");
    assert!(svc.contains("::existing_crate::shared::Blob"), "{svc}");
}

#[test]
fn a_caller_supplied_config_keeps_its_paths() {
    let mut config = prost_build::Config::new();
    config.type_attribute(".svc.Ack", "#[derive(Ord, PartialOrd)]");
    let dir = generate("own_config", |b| b.with_config(config).psrpc_crate("::my_facade::psrpc"));
    let svc = read(&dir, "svc.rs");
    assert!(svc.contains("#[derive(Ord, PartialOrd)]"), "{svc}");
    assert!(svc.contains("::prost::Message"), "prost's own path: {svc}");
    assert!(svc.contains("::my_facade::psrpc::__codegen::RpcClient"), "psrpc crate path: {svc}");
}

#[test]
fn unimplemented_defaults_can_be_turned_off() {
    let dir = generate("no_defaults", |b| b.unimplemented_defaults(false));
    let svc = read(&dir, "svc.rs");
    assert!(svc.contains("fn put"), "{svc}");
    assert!(!svc.contains("unimplemented"), "no default bodies: {svc}");
}

#[test]
fn typed_topics_can_be_turned_off() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("psrpc-build-config").join("untyped");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(
        dir.join("typed.proto"),
        "syntax = \"proto3\";\npackage typed;\nimport \"options.proto\";\nmessage M {}\n\
         service Nodes { rpc Stop(M) returns (M) {\n\
         option (psrpc.options) = {topics: true, topic_params: {names: [\"node_id\"], typed: true}};\n} }\n",
    )
    .expect("write");
    let generate = |typed: bool, out: &str| {
        psrpc_build::Builder::new()
            .out_dir(dir.join(out))
            .typed_topics(typed)
            .compile(&["typed.proto"], &[&dir])
            .expect("generate");
        std::fs::read_to_string(dir.join(out).join("typed.rs")).expect("read")
    };
    let typed = generate(true, "typed");
    assert!(typed.contains("pub struct NodeIdTopic"), "{typed}");
    assert!(typed.contains("node_id: super::NodeIdTopic"), "{typed}");
    let untyped = generate(false, "untyped");
    assert!(!untyped.contains("NodeIdTopic"), "{untyped}");
    assert!(untyped.contains("node_id: impl ::core::convert::Into<::std::string::String>"), "{untyped}");
}
