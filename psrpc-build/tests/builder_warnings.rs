//! Well-known types as published messages, the warning for streaming
//! methods generated as unary ones, and services left out.

use std::path::{Path, PathBuf};

/// Writes `proto` as `svc.proto` into a scratch directory `name`; returns it.
fn tree(name: &str, proto: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("psrpc-build-warnings").join(name);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("svc.proto"), proto).expect("write proto");
    dir
}

const STREAMING: &str = "syntax = \"proto3\";\npackage files;\nimport \"options.proto\";\n\
    service Files {\n\
      rpc Upload(stream Chunk) returns (Chunk);\n\
      rpc Download(Chunk) returns (stream Chunk) { option (psrpc.options).type = MULTI; };\n\
      rpc Sync(stream Chunk) returns (stream Chunk) { option (psrpc.options).stream = true; };\n\
      rpc Put(Chunk) returns (Chunk);\n\
    }\n\
    service Mirror { rpc Follow(stream Chunk) returns (stream Chunk); }\n\
    message Chunk { bytes data = 1; }\n";

#[test]
fn streaming_methods_generated_unary_warn() {
    let dir = tree("streaming", STREAMING);
    let mut builder = psrpc_build::Builder::new().out_dir(dir.join("out"));
    builder.compile(&["svc.proto"], &[&dir]).expect("generate");
    let warnings = builder.warnings();
    assert_eq!(warnings.len(), 3, "{warnings:#?}");
    assert!(warnings[0].starts_with("files.Files.Upload is declared streaming"), "{warnings:#?}");
    assert!(warnings[0].contains("generated as a unary queue method, as protoc-gen-psrpc does"), "{warnings:#?}");
    assert!(warnings[1].starts_with("files.Files.Download is declared streaming"), "{warnings:#?}");
    assert!(warnings[1].contains("generated as a unary multi method"), "{warnings:#?}");
    assert!(warnings[2].starts_with("files.Mirror.Follow is declared streaming"), "{warnings:#?}");
    assert!(warnings.iter().all(|w| !w.contains('\n')), "one cargo:warning line each");
    let code = std::fs::read_to_string(dir.join("out/files.rs")).expect("read");
    assert!(code.contains("MirrorClient"), "warned, still generated");
}

#[test]
fn excluded_services_get_no_code_and_no_warning() {
    let dir = tree("excluded", STREAMING);
    let mut builder = psrpc_build::Builder::new().out_dir(dir.join("out")).exclude_services([".files.Mirror"]);
    builder.compile(&["svc.proto"], &[&dir]).expect("generate");
    assert!(builder.warnings().iter().all(|w| !w.contains("Mirror")), "{:#?}", builder.warnings());
    assert_eq!(builder.warnings().len(), 2);
    let code = std::fs::read_to_string(dir.join("out/files.rs")).expect("read");
    assert!(code.contains("FilesClient") && code.contains("pub struct Chunk"), "{code}");
    assert!(!code.contains("MirrorClient") && !code.contains("mirror_psrpc"), "{code}");

    // Every service left out: the messages are still generated.
    let mut builder =
        psrpc_build::Builder::new().out_dir(dir.join("none")).exclude_services(["files.Mirror", "files.Files"]);
    builder.compile(&["svc.proto"], &[&dir]).expect("generate");
    assert!(builder.warnings().is_empty());
    let code = std::fs::read_to_string(dir.join("none/files.rs")).expect("read");
    assert!(code.contains("pub struct Chunk") && !code.contains("Client"), "{code}");
}

#[test]
fn excluding_an_unknown_service_fails() {
    let dir = tree("unknown", STREAMING);
    let err = psrpc_build::Builder::new()
        .out_dir(dir.join("out"))
        .exclude_services(["files.Mirorr"])
        .compile(&["svc.proto"], &[&dir])
        .expect_err("a typo is reported");
    assert!(matches!(err, psrpc_build::BuildError::Setting(_)), "{err}");
    assert!(err.to_string().contains("no service files.Mirorr in the listed files"), "{err}");
}

/// Subscriptions of well-known types publish under the proto type name
/// (prost-types' `Struct` has no `prost::Name`); other messages keep their
/// `prost::Name`.
#[test]
fn well_known_subscriptions_publish_under_their_proto_name() {
    let proto = "syntax = \"proto3\";\npackage feed;\nimport \"options.proto\";\n\
        import \"google/protobuf/empty.proto\";\nimport \"google/protobuf/struct.proto\";\n\
        import \"google/protobuf/wrappers.proto\";\n\
        service Feed {\n\
          rpc Registered(google.protobuf.Empty) returns (google.protobuf.Empty) { option (psrpc.options).subscription = true; };\n\
          rpc Reports(google.protobuf.Empty) returns (google.protobuf.Struct) { option (psrpc.options).subscription = true; };\n\
          rpc Counts(google.protobuf.Empty) returns (google.protobuf.UInt64Value) { option (psrpc.options).subscription = true; };\n\
          rpc Items(google.protobuf.Empty) returns (Item) { option (psrpc.options).subscription = true; };\n\
        }\nmessage Item {}\n";
    let dir = tree("wkt_subscriptions", proto);
    psrpc_build::Builder::new().out_dir(dir.join("out")).compile(&["svc.proto"], &[&dir]).expect("generate");
    let code = std::fs::read_to_string(dir.join("out/feed.rs")).expect("read");
    for name in ["Empty", "Struct", "UInt64Value"] {
        assert!(code.contains(&format!("\"type.googleapis.com/google.protobuf.{name}\"")), "{name}: {code}");
    }
    assert_eq!(code.matches("publish_raw").count(), 3, "{code}");
    assert!(code.contains("message: &u64") && code.contains("message: &()"), "{code}");
}
