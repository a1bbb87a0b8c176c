//! Generates psrpc-rs clients and servers from `.proto` files carrying the
//! psrpc method options (no protoc needed: protox parses the files).
//!
//! In `build.rs`:
//!
//! ```no_run
//! psrpc_build::Builder::new()
//!     .compile(&["proto/my_service.proto"], &["proto"])
//!     .expect("psrpc codegen");
//! ```
//!
//! then, in the crate, one module per proto package (prost-build's layout:
//! package `a.b` is written to `a.b.rs`, a file without a package to `_.rs`):
//!
//! ```ignore
//! pub mod my_pkg {
//!     include!(concat!(env!("OUT_DIR"), "/my_pkg.rs"));
//! }
//! ```
//!
//! A file that uses messages of another package refers to them as prost
//! does, through `super::<package>`, so packages that import each other are
//! included as sibling modules nested like their names (`a.b` as `a::b`).
//! [`Builder::include_file`] writes that module tree for you.
//!
//! # What is generated
//!
//! - Messages, by prost-build (type names enabled, so subscriptions can
//!   publish them). Settings reach prost-build through [`Builder`]
//!   (`extern_path`, attributes, `bytes`, `btree_map`) or a whole
//!   [`prost_build::Config`] ([`Builder::with_config`]); with `extern_path`
//!   the services use message types of an existing crate and only the psrpc
//!   code is new. Well-known types (`google.protobuf.Timestamp`, …) come from
//!   psrpc's re-export of prost-types and messages derive through
//!   `psrpc::__codegen::prost`, so the crate needs no prost dependency of its
//!   own (a caller-supplied `Config` keeps its own paths).
//! - For each service **of the files listed** (not of the files they
//!   import, nor those [`Builder::exclude_services`] names), a module `<service>_psrpc` holding `<Svc>Client`, `<Svc>Api`,
//!   `<Svc>ServerImpl` and `<Svc>Server`, re-exported beside the messages.
//!   The module allows what generated code may trip (`dead_code`,
//!   `non_camel_case_types`, …); proto comments become rustdoc.
//! - Newtypes for typed topic parameters (`topic_params.typed`), once per
//!   package ([`Builder::typed_topics`]).
//!
//! # Names: the same as Go psrpc
//!
//! Service and method names go on the wire CamelCased by protobuf-go's rule,
//! as `protoc-gen-psrpc` sends them ([`psrpc_codegen::go_camel_case`]:
//! `service my_svc { rpc do_thing … }` is `MySvc`/`DoThing`); the Rust items
//! are named from those (`MySvcClient`, `do_thing`). The proto package is not
//! part of any channel name. Topic parameter names are not on the wire.
//!
//! # Options: read as Go psrpc reads them
//!
//! A method without psrpc options is a unary queue method, also when it is
//! declared streaming (`stream` before its request or response), as
//! protoc-gen-psrpc generates it; unlike protoc-gen-psrpc, psrpc-build says
//! so with a `cargo:warning=` line ([`Builder::warnings`]), and
//! [`Builder::exclude_services`] leaves out services psrpc does not serve.
//! The deprecated `multi`/`affinity_func`/`queue`
//! oneof decides the routing when present, whatever its value. Like Go, a
//! topic group whose methods have different topic parameters (names or
//! `typed`) is refused. Combinations psrpc-rs has no method kind for
//! (`single_server` without topics, a topic group on methods without topics,
//! `stream` with `multi`, …) fail generation with the message
//! `#[psrpc::service]` gives (see [`psrpc_codegen::InvalidOptions`]): one
//! validation for both front ends. `import "options.proto"` resolves to the
//! bundled psrpc options file; other custom options are ignored.
//!
//! # Well-known types
//!
//! `google.protobuf.*` types work in every position (request, response,
//! published message; unary, multi, stream and subscription methods) with
//! no configuration: prost maps `Empty` to `()`, the scalar wrappers to Rust
//! primitives (`StringValue` to `String`, `BoolValue` to `bool`, …) and the
//! rest to psrpc's re-export of prost-types. A subscription publishing one
//! of them frames it under its proto name
//! (`type.googleapis.com/google.protobuf.Struct`), as Go psrpc does, whether
//! or not the Rust type has a `prost::Name`.

mod generator;
mod options;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The psrpc options file, importable as `options.proto`.
const OPTIONS_PROTO: &str = include_str!("../proto/psrpc/options.proto");

/// Why code generation failed.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("psrpc-build-doc-{}-{}", std::process::id(), line!()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("bad.proto"), r#"
///     syntax = "proto3";
///     import "options.proto";
///     service Bad {
///       rpc Both(M) returns (M) { option (psrpc.options) = {stream: true, subscription: true}; };
///     }
///     message M {}
/// "#).unwrap();
/// let err = psrpc_build::Builder::new().out_dir(dir.join("out")).compile(&["bad.proto"], &[&dir]).unwrap_err();
/// assert!(matches!(err, psrpc_build::BuildError::Service(_)), "{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The `.proto` files did not compile.
    #[error("proto compile error: {0}")]
    Proto(#[from] protox::Error),
    /// Writing files failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A service could not be turned into code.
    #[error("service generation failed: {0}")]
    Service(String),
    /// A setting is not valid (e.g. the psrpc crate path does not parse).
    #[error("invalid setting: {0}")]
    Setting(String),
}

/// Configures and runs code generation.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("psrpc-build-doc-{}-{}", std::process::id(), line!()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("greeter.proto"), r#"
///     syntax = "proto3";
///     package greeter;
///     import "options.proto";
///     service Greeter {
///       rpc Greet(Hello) returns (Hello) { option (psrpc.options).type = AFFINITY; };
///     }
///     message Hello { string name = 1; }
/// "#).unwrap();
/// psrpc_build::Builder::new().out_dir(dir.join("out")).compile(&["greeter.proto"], &[&dir])?;
/// let code = std::fs::read_to_string(dir.join("out/greeter.rs")).unwrap();
/// assert!(code.contains("GreeterClient") && code.contains("GreeterServerImpl"));
/// # Ok::<(), psrpc_build::BuildError>(())
/// ```
///
/// Messages from an existing crate, prost settings passed through:
///
/// ```no_run
/// psrpc_build::Builder::new()
///     // messages of package `livekit` come from an existing crate
///     .extern_path(".livekit", "::livekit_protocol")
///     .bytes(&[".rpc.Blob.data"])
///     .type_attribute(".rpc", "#[derive(Eq)]")
///     .compile(&["rpc/io.proto"], &["protobufs"])
///     .expect("psrpc codegen");
/// ```
#[derive(Debug)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    config: prost_build::Config,
    /// Whether prost's paths point into `psrpc::__codegen` (not for a
    /// caller-supplied `Config`).
    psrpc_paths: bool,
    krate: String,
    unimplemented_defaults: bool,
    typed_topics: bool,
    /// Services left out, as `package.Service`.
    excluded: HashSet<String>,
    /// The warnings of the last [`compile`](Builder::compile).
    warnings: Vec<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            out_dir: None,
            config: prost_build::Config::new(),
            psrpc_paths: true,
            krate: "::psrpc".to_owned(),
            unimplemented_defaults: true,
            typed_topics: true,
            excluded: HashSet::new(),
            warnings: Vec::new(),
        }
    }
}

impl Builder {
    /// A builder writing to `$OUT_DIR` (set by Cargo for build scripts).
    ///
    /// ```no_run
    /// // in build.rs's `main`
    /// psrpc_build::Builder::new().compile(&["proto/greeter.proto"], &["proto"]).expect("psrpc codegen");
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes generated files to `dir` instead of `$OUT_DIR` (to check the
    /// generated code into the repository, say).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("psrpc-build-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("greeter.proto"), r#"
    ///     syntax = "proto3";
    ///     package greeter;
    ///     import "options.proto";
    ///     service Greeter {
    ///       rpc Greet(Hello) returns (Hello) { option (psrpc.options).type = AFFINITY; };
    ///     }
    ///     message Hello { string name = 1; }
    /// "#).unwrap();
    /// psrpc_build::Builder::new().out_dir(dir.join("src/generated")).compile(&["greeter.proto"], &[&dir])?;
    /// assert!(dir.join("src/generated/greeter.rs").exists());
    /// # Ok::<(), psrpc_build::BuildError>(())
    /// ```
    #[must_use]
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Generates messages with `config` instead of a default
    /// `prost_build::Config`; the builder still sets its out dir, type names
    /// and service generator. Its prost and prost-types paths are kept, so the
    /// crate depends on `prost` (and `prost-types` for well-known types)
    /// unless `config` points them elsewhere.
    ///
    /// ```no_run
    /// let mut config = prost_build::Config::new();
    /// config.boxed(".rpc.Tree.left");
    /// psrpc_build::Builder::new().with_config(config).compile(&["rpc/tree.proto"], &["protobufs"])?;
    /// # Ok::<(), psrpc_build::BuildError>(())
    /// ```
    #[must_use]
    pub fn with_config(mut self, config: prost_build::Config) -> Self {
        self.config = config;
        self.psrpc_paths = false;
        self
    }

    /// Uses `rust_path` for the proto type or package `proto_path` instead of
    /// generating it (prost-build's `extern_path`): services then use the
    /// message types of an existing crate.
    #[must_use]
    pub fn extern_path(mut self, proto_path: impl Into<String>, rust_path: impl Into<String>) -> Self {
        self.config.extern_path(proto_path, rust_path);
        self
    }

    /// Adds `attribute` to the types (messages, enums, oneofs) matching
    /// `path` (prost-build's `type_attribute`).
    #[must_use]
    pub fn type_attribute(mut self, path: impl AsRef<str>, attribute: impl AsRef<str>) -> Self {
        self.config.type_attribute(path, attribute);
        self
    }

    /// Adds `attribute` to the fields matching `path` (prost-build's
    /// `field_attribute`).
    #[must_use]
    pub fn field_attribute(mut self, path: impl AsRef<str>, attribute: impl AsRef<str>) -> Self {
        self.config.field_attribute(path, attribute);
        self
    }

    /// Generates `bytes::Bytes` for the `bytes` fields matching `paths`
    /// (prost-build's `bytes`).
    #[must_use]
    pub fn bytes(mut self, paths: &[impl AsRef<str>]) -> Self {
        self.config.bytes(paths);
        self
    }

    /// Generates `BTreeMap` for the map fields matching `paths` (prost-build's
    /// `btree_map`).
    #[must_use]
    pub fn btree_map(mut self, paths: &[impl AsRef<str>]) -> Self {
        self.config.btree_map(paths);
        self
    }

    /// Also writes `file` (in the out dir): the module tree of every
    /// generated package, each module including its package's file
    /// (prost-build's `include_file`), so the crate includes one file
    /// instead of writing the nested modules by hand.
    ///
    /// ```no_run
    /// // build.rs
    /// psrpc_build::Builder::new().include_file("protos.rs").compile(&["acme/rpc/node.proto"], &["proto"])?;
    /// // src/lib.rs: include!(concat!(env!("OUT_DIR"), "/protos.rs"));
    /// # Ok::<(), psrpc_build::BuildError>(())
    /// ```
    #[must_use]
    pub fn include_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.config.include_file(file);
        self
    }

    /// Refers to the `psrpc` crate as `path` (default `::psrpc`), for crates
    /// that reach it through a re-export; an absolute path (`::a::psrpc` or
    /// `crate::psrpc`).
    #[must_use]
    pub fn psrpc_crate(mut self, path: impl Into<String>) -> Self {
        self.krate = path.into();
        self
    }

    /// Whether every `<Svc>ServerImpl` method gets a default body answering
    /// `unimplemented` (default `true`, as Go psrpc's
    /// `Unimplemented<Svc>Server`), so adding a method to a `.proto` breaks no
    /// server; `false` makes a new method a compile error until implemented.
    #[must_use]
    pub fn unimplemented_defaults(mut self, defaults: bool) -> Self {
        self.unimplemented_defaults = defaults;
        self
    }

    /// Whether `topic_params.typed` topics get newtypes (default `true`): a
    /// parameter `node_id` is passed as `NodeIdTopic`, so topics of different
    /// meaning cannot be swapped. With `false` every topic is any
    /// `impl Into<String>`. Go psrpc makes the service generic over a string
    /// type per typed parameter instead; a newtype gives the same safety
    /// without type parameters.
    #[must_use]
    pub fn typed_topics(mut self, typed: bool) -> Self {
        self.typed_topics = typed;
        self
    }

    /// Leaves the services `names` (full proto names, `package.Service`; a
    /// leading `.` is allowed) out of psrpc generation: their files'
    /// messages are still generated, the services get no psrpc code and no
    /// warning. For services of the listed files served over another
    /// protocol (gRPC streaming APIs, Twirp admin APIs) that psrpc does not
    /// serve. Naming a service that no listed file declares fails
    /// [`compile`](Builder::compile) with [`BuildError::Setting`].
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("psrpc-build-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("clock.proto"), r#"
    ///     syntax = "proto3";
    ///     package clock;
    ///     import "google/protobuf/timestamp.proto";
    ///     service Clock { rpc Now(Tick) returns (google.protobuf.Timestamp); }
    ///     // Served over gRPC by another process: no psrpc code.
    ///     service ClockStream { rpc Watch(Tick) returns (stream google.protobuf.Timestamp); }
    ///     message Tick {}
    /// "#).unwrap();
    /// let mut builder = psrpc_build::Builder::new().out_dir(dir.join("out")).exclude_services(["clock.ClockStream"]);
    /// builder.compile(&["clock.proto"], &[&dir])?;
    /// let code = std::fs::read_to_string(dir.join("out/clock.rs")).unwrap();
    /// assert!(code.contains("ClockClient") && !code.contains("ClockStreamClient"));
    /// assert!(builder.warnings().is_empty());
    /// # Ok::<(), psrpc_build::BuildError>(())
    /// ```
    #[must_use]
    pub fn exclude_services(mut self, names: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        let names = names.into_iter().map(|n| n.as_ref().trim_start_matches('.').to_owned());
        self.excluded.extend(names);
        self
    }

    /// The warnings of the last [`compile`](Builder::compile), one line
    /// each; `compile` also prints each as a `cargo:warning=` line, which
    /// Cargo shows when the build script runs. Today one case warns: a
    /// method declared streaming in the `.proto` (`stream` before its
    /// request or response) without the psrpc `stream: true` option is
    /// generated as a unary method, as protoc-gen-psrpc does.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("psrpc-build-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("files.proto"), r#"
    ///     syntax = "proto3";
    ///     package files;
    ///     service Files { rpc Upload(stream Chunk) returns (Chunk); }
    ///     message Chunk { bytes data = 1; }
    /// "#).unwrap();
    /// let mut builder = psrpc_build::Builder::new().out_dir(dir.join("out"));
    /// builder.compile(&["files.proto"], &[&dir])?;
    /// assert!(builder.warnings()[0].starts_with("files.Files.Upload is declared streaming"));
    /// # Ok::<(), psrpc_build::BuildError>(())
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Compiles `protos` (searched in `includes`) into one Rust file per
    /// proto package holding the messages (of `protos` and of everything they
    /// import) and the psrpc code of the services of `protos`.
    /// `import "options.proto"` resolves to the bundled psrpc options.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("psrpc-build-doc-{}-{}", std::process::id(), line!()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("greeter.proto"), r#"
    ///     syntax = "proto3";
    ///     package greeter;
    ///     import "options.proto";
    ///     service Greeter {
    ///       rpc Greet(Hello) returns (Hello) { option (psrpc.options).type = AFFINITY; };
    ///     }
    ///     message Hello { string name = 1; }
    /// "#).unwrap();
    /// psrpc_build::Builder::new().out_dir(&dir).compile(&["greeter.proto"], &[&dir])?;
    /// assert!(std::fs::read_to_string(dir.join("greeter.rs")).unwrap().contains("pub struct Hello"));
    /// # Ok::<(), psrpc_build::BuildError>(())
    /// ```
    pub fn compile(&mut self, protos: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<(), BuildError> {
        self.warnings.clear();
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => PathBuf::from(
                std::env::var_os("OUT_DIR")
                    .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "OUT_DIR is not set"))?,
            ),
        };
        let krate: syn::Path = syn::parse_str(&self.krate)
            .map_err(|e| BuildError::Setting(format!("psrpc crate path `{}`: {e}", self.krate)))?;
        let options_dir = out_dir.join("psrpc-options");
        std::fs::create_dir_all(&options_dir)?;
        std::fs::write(options_dir.join("options.proto"), OPTIONS_PROTO)?;

        let mut dirs: Vec<PathBuf> = includes.iter().map(|p| p.as_ref().to_owned()).collect();
        dirs.push(options_dir);
        let compiler = compiler(dirs, protos)?;
        let pool = compiler.descriptor_pool();
        let mut services: HashSet<String> = compiler
            .files()
            .filter(|f| !f.is_import())
            .filter_map(|f| pool.get_file_by_name(f.name()))
            .flat_map(|f| f.services().map(|s| s.full_name().to_owned()).collect::<Vec<_>>())
            .collect();
        let mut unknown: Vec<&str> =
            self.excluded.iter().filter(|name| !services.contains(*name)).map(String::as_str).collect();
        if !unknown.is_empty() {
            unknown.sort_unstable();
            let msg = format!("exclude_services: no service {} in the listed files", unknown.join(", "));
            return Err(BuildError::Setting(msg));
        }
        services.retain(|name| !self.excluded.contains(name));
        let errors = Rc::new(RefCell::new(Vec::new()));
        let warnings = Rc::new(RefCell::new(Vec::new()));
        let generator = generator::Generator {
            options: options::collect(&pool),
            services,
            excluded: self.excluded.clone(),
            settings: generator::Settings {
                krate,
                unimplemented_defaults: self.unimplemented_defaults,
                typed_topics: self.typed_topics,
            },
            errors: Rc::clone(&errors),
            warnings: Rc::clone(&warnings),
            typed_topics: HashMap::new(),
            modules: HashSet::new(),
        };
        // The psrpc options file holds no messages of the user's.
        let mut fds = compiler.file_descriptor_set();
        fds.file.retain(|f| !(f.name() == "options.proto" && f.package() == "psrpc"));

        if self.psrpc_paths {
            self.config
                .prost_path(format!("{}::__codegen::prost", self.krate))
                .prost_types_path(format!("{}::prost_types", self.krate));
        }
        self.config.enable_type_names().out_dir(&out_dir).service_generator(Box::new(generator)).compile_fds(fds)?;
        self.warnings = warnings.take();
        for warning in &self.warnings {
            println!("cargo:warning={warning}");
        }
        let errors = errors.take();
        if errors.is_empty() { Ok(()) } else { Err(BuildError::Service(errors.join("; "))) }
    }
}

fn compiler(dirs: Vec<PathBuf>, protos: &[impl AsRef<Path>]) -> Result<protox::Compiler, BuildError> {
    let mut compiler = protox::Compiler::new(dirs)?;
    compiler.include_imports(true).include_source_info(true).open_files(protos)?;
    Ok(compiler)
}

/// Compiles `protos` (found under `includes`, with the psrpc options
/// importable as `options.proto`) into a descriptor pool, for tools that
/// work with dynamic messages instead of generated code (the `psrpc` CLI).
///
/// ```no_run
/// let pool = psrpc_build::descriptor_pool(&["proto/greeter.proto"], &["proto"]).expect("compiles");
/// let greeter = pool.services().find(|s| s.name() == "Greeter");
/// ```
pub fn descriptor_pool(
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<prost_reflect::DescriptorPool, BuildError> {
    // A directory of its own per call: calls on other threads remove theirs.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let options_dir = std::env::temp_dir().join(format!("psrpc-options-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&options_dir)?;
    std::fs::write(options_dir.join("options.proto"), OPTIONS_PROTO)?;
    let mut dirs: Vec<PathBuf> = includes.iter().map(|p| p.as_ref().to_owned()).collect();
    dirs.push(options_dir.clone());
    let compiled = compiler(dirs, protos);
    let _ = std::fs::remove_dir_all(&options_dir);
    Ok(compiled?.descriptor_pool())
}

/// The psrpc method kind of `method`, from its psrpc options (a method
/// without them is a queue method, or a queue stream when client-streaming),
/// or why its options describe no method psrpc can serve.
///
/// ```no_run
/// # let pool = psrpc_build::descriptor_pool(&["proto/greeter.proto"], &["proto"]).expect("compiles");
/// let method = pool.get_service_by_name("pkg.Greeter").and_then(|s| s.methods().find(|m| m.name() == "Greet"));
/// let kind = psrpc_build::method_kind(&method.expect("declared"));
/// ```
pub fn method_kind(
    method: &prost_reflect::MethodDescriptor,
) -> Result<psrpc_codegen::MethodKind, psrpc_codegen::InvalidOptions> {
    options::of_method(method).kind()
}
