//! Method options that describe no servable method fail generation with the
//! same message `#[psrpc::service]` gives (both go through
//! `psrpc_codegen::MethodOptions::kind`).

use std::path::Path;

use psrpc_codegen::InvalidOptions;

/// Generates a service whose one method `Broken` carries `options`.
fn generate(name: &str, options: &str) -> Result<(), psrpc_build::BuildError> {
    generate_service(name, &format!("  rpc Broken(Msg) returns (Msg) {{\n{options}\n  }};"))
}

/// Generates the service `Svc` with the methods `methods`.
fn generate_service(name: &str, methods: &str) -> Result<(), psrpc_build::BuildError> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("psrpc-build-invalid").join(name);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let proto = format!(
        "syntax = \"proto3\";\npackage invalid;\nimport \"options.proto\";\n\
         service Svc {{\n{methods}\n}}\n\
         message Msg {{ string text = 1; }}\n"
    );
    std::fs::write(dir.join("svc.proto"), proto).expect("write proto");
    psrpc_build::Builder::new().out_dir(dir.join("out")).compile(&["svc.proto"], &[&dir])
}

#[test]
fn invalid_combinations_fail_with_the_shared_message() {
    let cases = [
        (
            "stream_subscription",
            "option (psrpc.options) = {stream: true, subscription: true};",
            InvalidOptions::StreamSubscription,
        ),
        ("stream_multi", "option (psrpc.options) = {stream: true, type: MULTI};", InvalidOptions::StreamMulti),
        (
            "subscription_affinity",
            "option (psrpc.options) = {subscription: true, type: AFFINITY};",
            InvalidOptions::SubscriptionAffinity,
        ),
        (
            "subscription_single_server",
            "option (psrpc.options) = {subscription: true, topics: true, topic_params: {single_server: true}};",
            InvalidOptions::SubscriptionSingleServer,
        ),
        (
            "single_server_without_topics",
            "option (psrpc.options) = {topic_params: {single_server: true}};",
            InvalidOptions::SingleServerWithoutTopics,
        ),
        (
            "single_server_multi",
            "option (psrpc.options) = {type: MULTI, topics: true, topic_params: {single_server: true}};",
            InvalidOptions::SingleServerMulti,
        ),
        (
            "single_server_affinity",
            "option (psrpc.options) = {type: AFFINITY, topics: true, topic_params: {single_server: true}};",
            InvalidOptions::SingleServerAffinity,
        ),
        (
            "group_without_topics",
            "option (psrpc.options) = {topic_params: {group: \"g\"}};",
            InvalidOptions::GroupWithoutTopics,
        ),
        (
            "group_on_subscription",
            "option (psrpc.options) = {subscription: true, topics: true, topic_params: {group: \"g\"}};",
            InvalidOptions::GroupOnSubscription,
        ),
    ];
    for (name, options, expected) in cases {
        let err = generate(name, options).expect_err(name);
        let message = err.to_string();
        assert!(message.contains(&format!("Svc: Broken: {expected}")), "{name}: {message}");
    }
}

#[test]
fn group_members_need_the_same_topic_names() {
    let methods = "  rpc First(Msg) returns (Msg) {\n\
                   option (psrpc.options) = {topics: true, topic_params: {group: \"g\", names: [\"node\"]}};\n  };\n\
                   rpc Broken(Msg) returns (Msg) {\n\
                   option (psrpc.options) = {topics: true, topic_params: {group: \"g\", names: [\"zone\"]}};\n  };";
    let err = generate_service("group_topics_differ", methods).expect_err("names differ");
    let expected = format!("Svc: Broken: {}", InvalidOptions::GroupTopicsDiffer);
    assert!(err.to_string().contains(&expected), "{err}");
}

#[test]
fn valid_options_generate() {
    generate(
        "single_server_stream",
        "option (psrpc.options) = {stream: true, topics: true, topic_params: {single_server: true}};",
    )
    .expect("a single-server stream on topics is valid");
}
