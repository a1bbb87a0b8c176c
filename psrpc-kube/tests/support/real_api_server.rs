//! A real kube-apiserver, backed by its own etcd, on loopback: RBAC
//! authorization, static bearer tokens, TLS with a self-signed certificate
//! that the clients trust (no insecure skip).
//!
//! Users (see [`User`]): an admin in `system:masters`; `reader`, whose Role
//! grants `get`, `list` and `watch` on `endpointslices` in [`NAMESPACE`];
//! `getter`, whose Role grants only `get`; and a stale token the server
//! does not know.
//!
//! The binaries come from PATH (`kube-apiserver`, `etcd`);
//! `scripts/install-kube-apiserver` builds both and prints their directory.
//! Under `.ci/run` the build runs beside the suite: the tests wait for it
//! (`PSRPC_KUBE_BUILD_LOCK`).
//! Missing binaries skip the test outside CI and fail it under `CI=true`.
//!
//! Decisions: the tests of one binary share one server while any of them
//! holds it ([`RealApiServer::shared`]): a start costs seconds of CPU, and
//! the last holder's drop kills both processes and removes the temp dir
//! (statics are never dropped, so a server kept in one would outlive the
//! test binary). Readiness is polled (`/readyz`, then a list as `reader`
//! until its RoleBinding is in force): neither has an event to await. The
//! only time limit, [`START_GUARD`], is a guard against a hang, far above
//! any start seen on a loaded 2-core machine.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use psrpc_test_support::broker::{find_binary, free_port, in_ci};
use psrpc_test_support::tls::SelfSigned;

/// The namespace the Roles grant their permissions in.
pub const NAMESPACE: &str = "psrpc";

/// How long a start may take before it counts as hung.
const START_GUARD: Duration = Duration::from_secs(600);

/// Who a client authenticates as.
#[derive(Clone, Copy, Debug)]
pub enum User {
    /// In group `system:masters`: may do anything.
    Admin,
    /// May `get`, `list` and `watch` endpointslices in [`NAMESPACE`].
    Reader,
    /// May only `get` endpointslices in [`NAMESPACE`].
    Getter,
    /// A token the server does not know (stale, revoked).
    Stale,
}

impl User {
    const ALL: [User; 4] = [User::Admin, User::Reader, User::Getter, User::Stale];

    fn name(self) -> &'static str {
        match self {
            User::Admin => "admin",
            User::Reader => "reader",
            User::Getter => "getter",
            User::Stale => "stale",
        }
    }
}

/// The running pair; dropping it kills both processes and removes the
/// temp dir.
pub struct RealApiServer {
    dir: PathBuf,
    kubeconfig: PathBuf,
    _cert: SelfSigned,
    apiserver: Process,
    etcd: Process,
}

impl RealApiServer {
    /// The server the running tests share, started if none runs; `None`
    /// (after a notice) when the binaries are missing outside CI.
    ///
    /// Panics under `CI=true` when a binary is missing, and whenever the
    /// server fails to start (with the tail of its log).
    pub async fn shared() -> Option<Arc<Self>> {
        static SHARED: tokio::sync::Mutex<Weak<RealApiServer>> = tokio::sync::Mutex::const_new(Weak::new());
        let mut shared = SHARED.lock().await;
        if let Some(server) = shared.upgrade() {
            return Some(server);
        }
        wait_for_build().await;
        let binaries = match (find_binary("kube-apiserver"), find_binary("etcd")) {
            (Ok(apiserver), Ok(etcd)) => (apiserver, etcd),
            _ if in_ci() => panic!(
                "kube-apiserver and etcd must be on PATH under CI=true: run scripts/install-kube-apiserver \
                 and put the directory it prints on PATH"
            ),
            _ => {
                eprintln!(
                    "skipping: kube-apiserver or etcd not on PATH (scripts/install-kube-apiserver builds both \
                     and prints their directory; CI=true makes this a failure)"
                );
                return None;
            }
        };
        let server = Arc::new(Self::start(binaries).await);
        *shared = Arc::downgrade(&server);
        Some(server)
    }

    /// A client of the server authenticated as `user`, trusting the
    /// server's certificate, with [`NAMESPACE`] as its default namespace.
    pub async fn client(&self, user: User) -> kube::Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("the kubeconfig");
        let options = KubeConfigOptions { context: Some(user.name().to_owned()), ..Default::default() };
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.expect("a client config");
        kube::Client::try_from(config).expect("a client")
    }

    async fn start((apiserver, etcd): (PathBuf, PathBuf)) -> Self {
        let dir = std::env::temp_dir().join(format!("psrpc-kube-apiserver-{}", token()));
        std::fs::create_dir_all(&dir).expect("the temp dir");
        let cert = SelfSigned::create().expect("a serving certificate");

        let (client_port, peer_port) = (free_port(), free_port());
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let etcd = Process::spawn(
            &etcd,
            &dir,
            "etcd",
            &[
                "--name=psrpc".into(),
                format!("--data-dir={}", dir.join("etcd").display()),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=psrpc={peer_url}"),
                "--unsafe-no-fsync".into(),
                "--log-level=warn".into(),
            ],
        );

        let tokens: Vec<(User, String)> = User::ALL.iter().map(|&user| (user, token())).collect();
        let token_file = dir.join("tokens.csv");
        let known = tokens.iter().filter_map(|(user, token)| match user {
            User::Admin => Some(format!("{token},admin,admin,\"system:masters\"\n")),
            User::Reader | User::Getter => Some(format!("{token},{0},{0}\n", user.name())),
            User::Stale => None,
        });
        std::fs::write(&token_file, known.collect::<String>()).expect("the token file");

        let port = free_port();
        let (cert_file, key_file) = (cert.cert(), cert.key());
        let apiserver = Process::spawn(
            &apiserver,
            &dir,
            "kube-apiserver",
            &[
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={port}"),
                format!("--tls-cert-file={}", cert_file.display()),
                format!("--tls-private-key-file={}", key_file.display()),
                format!("--cert-dir={}", dir.join("certs").display()),
                "--authorization-mode=RBAC".into(),
                format!("--token-auth-file={}", token_file.display()),
                // The serving key signs service-account tokens too.
                "--service-account-issuer=https://kubernetes.default.svc".into(),
                format!("--service-account-key-file={}", key_file.display()),
                format!("--service-account-signing-key-file={}", key_file.display()),
                "--api-audiences=https://kubernetes.default.svc".into(),
                "--service-cluster-ip-range=10.96.0.0/16".into(),
                // No endpoints for the `kubernetes` Service: a loopback address is no valid endpoint.
                "--endpoint-reconciler-type=none".into(),
                "--enable-priority-and-fairness=false".into(),
                "--profiling=false".into(),
            ],
        );

        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(port, &cert_file, &tokens)).expect("the kubeconfig");
        let mut server = RealApiServer { dir, kubeconfig, _cert: cert, apiserver, etcd };
        server.wait_ready().await;
        server.grant().await;
        server
    }

    /// Polls `/readyz` as admin until it answers `ok`.
    async fn wait_ready(&mut self) {
        let admin = self.client(User::Admin).await;
        let started = Instant::now();
        loop {
            let request = http::Request::get("/readyz").body(Vec::new()).expect("a request");
            if admin.request_text(request).await.is_ok_and(|body| body == "ok") {
                return;
            }
            self.check_running(started);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates [`NAMESPACE`], the Roles and their bindings, then waits until
    /// `reader` may list.
    async fn grant(&mut self) {
        let admin = self.client(User::Admin).await;
        let namespace = Namespace { metadata: named(NAMESPACE), ..Default::default() };
        Api::<Namespace>::all(admin.clone()).create(&PostParams::default(), &namespace).await.expect("the namespace");
        for (user, verbs) in [(User::Reader, &["get", "list", "watch"][..]), (User::Getter, &["get"][..])] {
            let name = format!("endpointslices-{}", user.name());
            let role = Role {
                metadata: named(&name),
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec!["discovery.k8s.io".into()]),
                    resources: Some(vec!["endpointslices".into()]),
                    verbs: verbs.iter().map(|&verb| verb.to_owned()).collect(),
                    ..Default::default()
                }]),
            };
            let binding = RoleBinding {
                metadata: named(&name),
                role_ref: RoleRef { api_group: Some("rbac.authorization.k8s.io".into()), kind: "Role".into(), name },
                subjects: Some(vec![Subject {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "User".into(),
                    name: user.name().into(),
                    ..Default::default()
                }]),
            };
            let params = PostParams::default();
            Api::<Role>::namespaced(admin.clone(), NAMESPACE).create(&params, &role).await.expect("the Role");
            Api::<RoleBinding>::namespaced(admin.clone(), NAMESPACE)
                .create(&params, &binding)
                .await
                .expect("the binding");
        }
        // The authorizer learns of new bindings through its own watch.
        let slices = Api::<EndpointSlice>::namespaced(self.client(User::Reader).await, NAMESPACE);
        let started = Instant::now();
        while slices.list(&Default::default()).await.is_err() {
            self.check_running(started);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Panics (with the logs' tails) when a process exited or the start hangs.
    fn check_running(&mut self, started: Instant) {
        for process in [&mut self.etcd, &mut self.apiserver] {
            if let Some(status) = process.exited() {
                panic!("{} exited with {status}:\n{}", process.name, process.log_tail());
            }
        }
        if started.elapsed() > START_GUARD {
            panic!("kube-apiserver not ready after {START_GUARD:?}:\n{}", self.apiserver.log_tail());
        }
    }
}

impl Drop for RealApiServer {
    fn drop(&mut self) {
        self.apiserver.kill();
        self.etcd.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A child process logging to `<dir>/<name>.log`; killed at drop.
struct Process {
    name: &'static str,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    fn spawn(binary: &Path, dir: &Path, name: &'static str, args: &[String]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("a log file");
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("a log file"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        Process { name, log, child: Some(child) }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits for a build of the binaries still running: `.ci/run` builds them
/// beside the suite and holds a lock on the file `PSRPC_KUBE_BUILD_LOCK`
/// names until the build ended; taking (and at once releasing) that lock
/// waits for it.
async fn wait_for_build() {
    let Some(path) = std::env::var_os("PSRPC_KUBE_BUILD_LOCK") else { return };
    let locked = tokio::task::spawn_blocking(move || std::fs::File::open(&path).and_then(|file| file.lock()));
    if let Ok(Err(e)) = locked.await {
        eprintln!("PSRPC_KUBE_BUILD_LOCK: {e}; looking for the binaries without waiting");
    }
}

fn named(name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.to_owned()), ..Default::default() }
}

/// 128 random bits, hex: a bearer token, or a unique name.
fn token() -> String {
    let half = || RandomState::new().build_hasher().finish();
    format!("{:016x}{:016x}", half(), half())
}

fn kubeconfig_yaml(port: u16, ca: &Path, tokens: &[(User, String)]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: real\n  cluster:\n    server: https://127.0.0.1:{port}\n    \
         certificate-authority: {}\nusers:\n",
        ca.display()
    );
    for (user, token) in tokens {
        yaml += &format!("- name: {0}\n  user:\n    token: {token}\n", user.name());
    }
    yaml += "contexts:\n";
    for (user, _) in tokens {
        yaml += &format!(
            "- name: {0}\n  context:\n    cluster: real\n    user: {0}\n    namespace: {NAMESPACE}\n",
            user.name()
        );
    }
    yaml + "current-context: admin\n"
}
