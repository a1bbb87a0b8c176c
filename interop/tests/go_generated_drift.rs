//! Checks that the committed Go code of the interop peer (`go/api/`) still matches
//! `proto/examples/my_service.proto`, the file it was generated from by `go/generate.sh`.
//!
//! `generate.sh` needs Go, protoc and Go psrpc's generator, so CI cannot rerun it; this
//! test catches the drift instead:
//!
//! - the descriptor protoc-gen-go embeds in `my_service.pb.go` (`file_…_rawDesc`, a Go
//!   string constant or `[]byte` literal, both are read) must equal the file compiled from
//!   the `.proto` by `psrpc_build::descriptor_pool`: messages, fields, services, methods and
//!   their psrpc method options (extension 2198 on `MethodOptions`, compared decoded, so the
//!   encoders' field order does not matter). Source code info and `json_name` are left
//!   out: protoc and protox legitimately differ on them.
//! - every `my_service_v*.psrpc.go` must register exactly the proto's methods
//!   (`RegisterMethod("Name", …)`) and declare `New<Service>Client` / `New<Service>Server`,
//!   named as protoc-gen-psrpc names them (`psrpc_codegen::go_camel_case`).
//!
//! When it fails, rerun `interop/go/generate.sh` and commit its output.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, DynamicMessage, Value};

const PROTO: &str = "my_service.proto";

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compiled_pool() -> DescriptorPool {
    let includes = interop_dir().join("../proto/examples");
    psrpc_build::descriptor_pool(&[includes.join(PROTO)], &[&includes]).expect("my_service.proto compiles")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The serialized `FileDescriptorProto` protoc-gen-go embeds in a `.pb.go` file.
fn go_raw_descriptor(source: &str) -> Vec<u8> {
    let start = source.find("_rawDesc = ").expect("a `file_…_rawDesc = ` declaration") + "_rawDesc = ".len();
    let literal = &source[start..];
    if let Some(bytes) = literal.strip_prefix("[]byte{") {
        let body = &bytes[..bytes.find('}').expect("closing `}` of the []byte literal")];
        return body
            .split(',')
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .map(|token| {
                let hex = token.strip_prefix("0x").unwrap_or_else(|| panic!("byte `{token}` is not 0x.."));
                u8::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("byte `{token}`: {e}"))
            })
            .collect();
    }
    go_string_concatenation(literal)
}

/// The bytes of a Go constant expression `"…" + "…" + …` (interpreted or raw strings),
/// up to the end of the expression.
fn go_string_concatenation(expr: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = expr.trim_start();
    loop {
        rest = if let Some(raw) = rest.strip_prefix('`') {
            let end = raw.find('`').expect("closing backquote");
            out.extend_from_slice(raw[..end].replace('\r', "").as_bytes());
            &raw[end + 1..]
        } else if let Some(quoted) = rest.strip_prefix('"') {
            let len = go_interpreted_string(quoted, &mut out);
            &quoted[len + 1..]
        } else {
            panic!("expected a Go string literal at `{}`", &rest[..rest.len().min(20)]);
        };
        match rest.trim_start().strip_prefix('+') {
            Some(next) => rest = next.trim_start(),
            None => return out,
        }
    }
}

/// Appends the bytes of a Go interpreted string literal (its opening quote already
/// consumed) to `out`; returns the length of its body, without the closing quote.
fn go_interpreted_string(body: &str, out: &mut Vec<u8>) -> usize {
    let bytes = body.as_bytes();
    let mut i = 0;
    while bytes[i] != b'"' {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let escape = bytes[i + 1];
        let number = |digits: usize, radix: u32| {
            let text = &body[i + 2..i + 2 + digits];
            u32::from_str_radix(text, radix).unwrap_or_else(|e| panic!("escape `{text}`: {e}"))
        };
        let (decoded, len): (Vec<u8>, usize) = match escape {
            b'a' => (vec![0x07], 2),
            b'b' => (vec![0x08], 2),
            b'f' => (vec![0x0c], 2),
            b'n' => (vec![b'\n'], 2),
            b'r' => (vec![b'\r'], 2),
            b't' => (vec![b'\t'], 2),
            b'v' => (vec![0x0b], 2),
            b'\\' | b'"' | b'\'' => (vec![escape], 2),
            b'x' => (vec![number(2, 16) as u8], 4),
            b'0'..=b'7' => {
                let text = &body[i + 1..i + 4];
                (vec![u8::from_str_radix(text, 8).unwrap_or_else(|e| panic!("escape `{text}`: {e}"))], 4)
            }
            b'u' | b'U' => {
                let digits = if escape == b'u' { 4 } else { 8 };
                let c = char::from_u32(number(digits, 16)).expect("a Unicode scalar value");
                (c.to_string().into_bytes(), digits + 2)
            }
            other => panic!("unknown Go escape `\\{}`", other as char),
        };
        out.extend_from_slice(&decoded);
        i += len;
    }
    i
}

/// `file` (a `google.protobuf.FileDescriptorProto`) without what protoc and protox may
/// legitimately disagree on: source code info and every field's `json_name`.
fn normalized(mut file: DynamicMessage) -> DynamicMessage {
    file.clear_field_by_name("source_code_info");
    if let Some(Value::List(messages)) = file.get_field_by_name_mut("message_type") {
        messages.iter_mut().for_each(clear_json_names);
    }
    if let Some(Value::List(extensions)) = file.get_field_by_name_mut("extension") {
        extensions.iter_mut().for_each(clear_json_name);
    }
    file
}

fn clear_json_names(message: &mut Value) {
    let Value::Message(message) = message else { panic!("message_type holds messages") };
    for list in ["field", "extension"] {
        if let Some(Value::List(fields)) = message.get_field_by_name_mut(list) {
            fields.iter_mut().for_each(clear_json_name);
        }
    }
    if let Some(Value::List(nested)) = message.get_field_by_name_mut("nested_type") {
        nested.iter_mut().for_each(clear_json_names);
    }
}

fn clear_json_name(field: &mut Value) {
    let Value::Message(field) = field else { panic!("fields are messages") };
    field.clear_field_by_name("json_name");
}

/// The named repeated part of `file` (`message_type`, `service`, …) as text format, one
/// entry a line, so an assertion shows which entry differs.
fn entries(file: &DynamicMessage, part: &str) -> Vec<String> {
    match file.get_field_by_name(part).as_deref() {
        Some(Value::List(items)) => items.iter().map(ToString::to_string).collect(),
        other => panic!("`{part}` is a list, not {other:?}"),
    }
}

#[test]
fn embedded_go_descriptor_matches_the_proto() {
    let pool = compiled_pool();
    let file_type = pool
        .get_message_by_name("google.protobuf.FileDescriptorProto")
        .expect("descriptor.proto is imported by the psrpc options");
    let go_source = read(&interop_dir().join("go/api/my_service.pb.go"));
    let go = DynamicMessage::decode(file_type.clone(), go_raw_descriptor(&go_source).as_slice())
        .expect("the embedded descriptor decodes");
    let compiled = pool.get_file_by_name(PROTO).expect("compiled file");
    let ours = DynamicMessage::decode(file_type, compiled.encode_to_vec().as_slice()).expect("re-decodes");
    let (go, ours) = (normalized(go), normalized(ours));

    for part in ["message_type", "enum_type", "service", "extension", "dependency"] {
        assert_eq!(entries(&go, part), entries(&ours, part), "`{part}` of my_service.pb.go drifted from the .proto");
    }
    // Everything else too (name, package, syntax, file options such as go_package).
    assert_eq!(go.to_string(), ours.to_string(), "my_service.pb.go drifted from the .proto");
    // The options really are compared: the psrpc extension decodes as a known field.
    assert!(ours.to_string().contains("[psrpc.options]"), "psrpc method options are compared decoded: {ours}");
}

#[test]
fn psrpc_go_files_register_every_method_of_the_proto() {
    let pool = compiled_pool();
    let file = pool.get_file_by_name(PROTO).expect("compiled file");
    let dir = interop_dir().join("go/api");
    let mut go_files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("go/api is listed")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.to_string_lossy().ends_with(".psrpc.go"))
        .collect();
    go_files.sort();
    assert!(!go_files.is_empty(), "no *.psrpc.go under {}", dir.display());

    for path in go_files {
        let source = read(&path);
        let registered: BTreeSet<&str> = source
            .split("RegisterMethod(\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').expect("closing quote")])
            .collect();
        let mut declared = BTreeSet::new();
        for service in file.services() {
            let name = psrpc_codegen::go_camel_case(service.name());
            for constructor in [format!("func New{name}Client("), format!("func New{name}Server(")] {
                assert!(source.contains(&constructor), "{} lacks `{constructor}`", path.display());
            }
            declared.extend(service.methods().map(|m| psrpc_codegen::go_camel_case(m.name())));
        }
        let registered: BTreeSet<String> = registered.into_iter().map(str::to_owned).collect();
        assert_eq!(registered, declared, "methods registered by {} differ from the .proto", path.display());
    }
}

#[test]
fn go_string_literals_decode_every_escape_form() {
    let source = "const x_rawDesc = \"\" +\n\t\"\\n\\x10a\\a\\b\\f\\r\\t\\v\\\\\\\"\\'\\101\" +\n\t`r\\n` + \"é\\u00e9\\U0001F600\"\n";
    let expected = [b"\n\x10a\x07\x08\x0c\r\t\x0b\\\"'A".as_slice(), b"r\\n", "é\u{e9}\u{1F600}".as_bytes()].concat();
    assert_eq!(go_raw_descriptor(source), expected);
}

#[test]
fn go_byte_slice_literals_decode() {
    let source = "var file_x_rawDesc = []byte{\n\t0x0a, 0x10, 0xff,\n\t0x00,\n}\n";
    assert_eq!(go_raw_descriptor(source), [0x0a, 0x10, 0xff, 0x00]);
}
