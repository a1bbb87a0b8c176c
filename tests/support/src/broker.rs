//! Broker processes for tests: a real server binary started on a free
//! loopback port, killed when dropped.
//!
//! A test that needs a broker calls a launcher ([`crate::nats::NatsServer`],
//! [`crate::redis::RedisServer`]). If the environment names an external broker
//! (`PSRPC_NATS_URL`, `PSRPC_REDIS_URL`), that one is used instead, shared by
//! every test: tests then use names of their own ([`crate::unique_name`]),
//! and tests that stop, pause or restart the broker start one of their own
//! (`start_own`). If the
//! binary is missing, the launcher returns [`BrokerError::Missing`]; tests turn
//! that into a skip only outside CI ([`skip_or_fail`]): under `CI=true` a
//! missing broker fails the run.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why a broker could not be provided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The server binary is not on PATH.
    #[error("{0} not found on PATH")]
    Missing(&'static str),
    /// The process could not be started or did not accept connections in time.
    #[error("{binary} did not start: {reason}")]
    Start {
        /// The binary that failed.
        binary: &'static str,
        /// What went wrong.
        reason: String,
    },
}

/// Whether this run is in CI (`CI=true`), where missing brokers are failures.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Handles a missing broker: panics under CI, otherwise prints a skip notice
/// and returns `None` so the test can return early.
pub fn skip_or_fail<T>(result: Result<T, BrokerError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(BrokerError::Missing(bin)) if !in_ci() => {
            eprintln!("skipping: {bin} not on PATH (set CI=true to make this a failure)");
            None
        }
        Err(e) => panic!("broker unavailable: {e}"),
    }
}

/// Finds `binary` on PATH.
pub fn find_binary(binary: &'static str) -> Result<PathBuf, BrokerError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
        .ok_or(BrokerError::Missing(binary))
}

/// A free TCP port on 127.0.0.1 (bound once, then released for the broker),
/// never one this process handed out before: tests starting brokers in
/// parallel get distinct ports.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind an ephemeral loopback port");
        let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A running broker process; killed (and reaped) on drop.
#[derive(Debug)]
pub struct BrokerProcess {
    binary: &'static str,
    args: Vec<String>,
    port: u16,
    child: Option<Child>,
}

impl BrokerProcess {
    /// Starts `binary` with `args` and waits until it accepts TCP connections on `port`.
    pub fn start(binary: &'static str, args: Vec<String>, port: u16) -> Result<Self, BrokerError> {
        let mut process = BrokerProcess { binary, args, port, child: None };
        process.restart()?;
        Ok(process)
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process runs (it was not [stopped](Self::stop)).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the process (if running) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the process (`SIGSTOP`): its connections stay open but nothing
    /// is answered, like a broker that hangs. [`resume`](Self::resume) undoes it.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a [paused](Self::pause) process run again (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
            assert!(status.as_ref().is_ok_and(|s| s.success()), "kill {signal} {}: {status:?}", child.id());
        }
    }

    /// Starts the process again with the same arguments and port (after [`stop`](Self::stop)).
    pub fn restart(&mut self) -> Result<(), BrokerError> {
        self.stop();
        let path = find_binary(self.binary)?;
        let child = Command::new(path)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| BrokerError::Start { binary: self.binary, reason: e.to_string() })?;
        self.child = Some(child);
        self.wait_until_listening(Duration::from_secs(10))
    }

    fn wait_until_listening(&mut self, limit: Duration) -> Result<(), BrokerError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(BrokerError::Start { binary: self.binary, reason: format!("exited with {status}") });
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok_and(|s| !is_self_connected(&s)) {
                return Ok(());
            }
            // Polling a port that has no readiness event to await.
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(BrokerError::Start {
            binary: self.binary,
            reason: format!("port {} not listening after {limit:?}", self.port),
        })
    }
}

/// Whether a probe to a loopback port that nothing listens on connected to
/// itself: the kernel can pick the probed port as the probe's own ephemeral
/// port, and the simultaneous open then succeeds with no broker behind it.
fn is_self_connected(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A broker for one test: started here (so it can be stopped and restarted),
/// or an external one named by an environment variable.
#[derive(Debug)]
pub struct Broker {
    url: String,
    process: Option<BrokerProcess>,
}

impl Broker {
    /// A broker started here, reachable at `url`.
    pub fn local(url: String, process: BrokerProcess) -> Self {
        Broker { url, process: Some(process) }
    }

    /// An external broker at `url`.
    pub fn external(url: String) -> Self {
        Broker { url, process: None }
    }

    /// The broker's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The broker's process id, if it was started here and runs (to measure
    /// its CPU time, say).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().and_then(BrokerProcess::pid)
    }

    /// Whether this broker was started here (and so can be stopped and restarted).
    pub fn is_local(&self) -> bool {
        self.process.is_some()
    }

    /// Stops the broker process.
    pub fn stop(&mut self) {
        if let Some(p) = self.process.as_mut() {
            p.stop();
        }
    }

    /// Freezes the broker process (see [`BrokerProcess::pause`]).
    pub fn pause(&self) {
        if let Some(p) = self.process.as_ref() {
            p.pause();
        }
    }

    /// Lets a paused broker run again.
    pub fn resume(&self) {
        if let Some(p) = self.process.as_ref() {
            p.resume();
        }
    }

    /// Starts the broker again on the same port.
    pub fn restart(&mut self) -> Result<(), BrokerError> {
        match self.process.as_mut() {
            Some(p) => p.restart(),
            None => Ok(()),
        }
    }
}

/// What the launchers of the broker kinds share: `$launcher` (declared here,
/// with the attributes given before its name) wraps a [`Broker`] it derefs
/// to, with the constructors `start`, `start_own` and
/// `start_with` (the module writes `spawn`, which starts the binary), and
/// the module `$module` gets `server` and `own_server`, which skip a test
/// (or fail it in CI) when the binary is missing. `$env` names the variable
/// of an external server, `$binary` the binary, `$args` example arguments.
macro_rules! launcher {
    ($(#[$attr:meta])* $launcher:ident in $module:literal, env: $env:literal, binary: $binary:literal, args: $args:literal) => {
        $(#[$attr])*
        #[derive(Debug)]
        pub struct $launcher(Broker);

        impl std::ops::Deref for $launcher {
            type Target = Broker;

            fn deref(&self) -> &Broker {
                &self.0
            }
        }

        impl std::ops::DerefMut for $launcher {
            fn deref_mut(&mut self) -> &mut Broker {
                &mut self.0
            }
        }

        impl $launcher {
            /// Starts a server with no authentication.
            pub fn start() -> Result<Self, BrokerError> {
                Self::start_with(&[])
            }

            #[doc = concat!("Starts a server of the test's own even when `", $env, "` names")]
            /// one: for tests that stop, pause or restart the broker.
            pub fn start_own() -> Result<Self, BrokerError> {
                Self::spawn(&[])
            }

            #[doc = concat!("Starts a server with extra command-line arguments (e.g. ", $args, ").")]
            #[doc = concat!("`", $env, "` is ignored when arguments are given.")]
            pub fn start_with(args: &[&str]) -> Result<Self, BrokerError> {
                if args.is_empty()
                    && let Ok(url) = std::env::var($env)
                {
                    return Ok($launcher(Broker::external(url)));
                }
                Self::spawn(args)
            }
        }

        #[doc = concat!("A fresh `", $binary, "` ([`", stringify!($launcher), "::start`]), or `None`")]
        /// when the binary is missing outside CI (see
        /// [`skip_or_fail`](crate::broker::skip_or_fail)).
        ///
        /// ```no_run
        #[doc = concat!("let Some(server) = psrpc_test_support::", $module, "::server() else { return };")]
        /// println!("{}", server.url());
        /// ```
        pub fn server() -> Option<$launcher> {
            crate::broker::skip_or_fail($launcher::start())
        }

        #[doc = concat!("A `", $binary, "` of the test's own ([`", stringify!($launcher), "::start_own`]), never")]
        /// the shared one named by the environment, for tests that stop, pause
        /// or restart it; `None` when the binary is missing outside CI.
        ///
        /// ```no_run
        #[doc = concat!("let Some(mut server) = psrpc_test_support::", $module, "::own_server() else { return };")]
        /// server.stop();
        /// server.restart().expect("restart");
        /// ```
        pub fn own_server() -> Option<$launcher> {
            crate::broker::skip_or_fail($launcher::start_own())
        }
    };
}
pub(crate) use launcher;
