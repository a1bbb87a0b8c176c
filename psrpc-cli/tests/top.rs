//! `psrpc top` in a real terminal (tmux) against live servers on NATS and
//! Redis, and `psrpc top --json`.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use psrpc::{
    ClientOptions, Error, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection,
    ServerOptions, SharedBus,
};
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::factory::connect;
use psrpc_test_support::nats::NatsServer;
use psrpc_test_support::redis::RedisServer;

#[derive(Clone, PartialEq, prost::Message)]
struct Note {
    #[prost(string, tag = "1")]
    text: String,
}

static ECHO: MethodInfo = MethodInfo::new("Echo", MethodKind::Unary(Selection::Queue { topics: false }));
static CENSUS: MethodInfo = MethodInfo::new("Census", MethodKind::Multi { topics: false });

async fn echo(_: RequestContext, note: Note) -> Result<Note, Error> {
    Ok(note)
}

async fn greeter(bus: SharedBus) -> RpcServer {
    let server = RpcServer::new("Greeter", bus, ServerOptions::default());
    server.register_unary(&ECHO, vec![], echo, None).await.expect("Echo");
    server.register_unary(&CENSUS, vec![], echo, None).await.expect("Census");
    server
}

/// Two servers of `Greeter` and a client calling `Echo` until dropped.
struct Traffic {
    servers: Vec<RpcServer>,
    client: tokio::task::JoinHandle<()>,
}

impl Traffic {
    async fn start(url: &str) -> Traffic {
        let servers = vec![greeter(connect(url).await).await, greeter(connect(url).await).await];
        let client = RpcClient::new("Greeter", connect(url).await, ClientOptions::default()).await.expect("client");
        let client = tokio::spawn(async move {
            // Bounded: a few minutes at most, far more than a test takes.
            for _ in 0..10_000 {
                let note = Note { text: "hi".into() };
                let options = RequestOptions::default().timeout(Duration::from_secs(2));
                let _ = client.request_single::<Note, Note>(&ECHO, vec![], &note, options).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Traffic { servers, client }
    }

    async fn stop(self) {
        self.client.abort();
        for server in self.servers {
            server.shutdown().await;
        }
    }
}

/// Whether tmux runs here; without it the terminal tests skip, except under
/// `CI=true`, where they fail.
fn tmux_available() -> bool {
    let found = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "tmux is needed for the `psrpc top` tests under CI");
        eprintln!("skipping: tmux is not installed");
    }
    found
}

/// A tmux server of its own (`-L`), killed when dropped, even when the test fails.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` in a 160x40 pane with `PSRPC_BUS=bus`; the pane stays
    /// if the command ends early, so that a failure shows its last screen.
    fn start(name: &str, bus: &str, command: &str) -> Tmux {
        let tmux = Tmux { socket: format!("psrpc-top-{name}-{}", std::process::id()) };
        let env = format!("PSRPC_BUS={bus}");
        let started = tmux.run(&[
            "-f",
            "/dev/null",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "40",
            "-e",
            &env,
            command,
        ]);
        assert!(started.status.success(), "tmux: {}", String::from_utf8_lossy(&started.stderr));
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs")
    }

    /// The text on the screen.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        assert!(self.run(&["send-keys", keys]).status.success(), "send-keys {keys}");
    }

    /// Whether the pane shows the alternate screen: `1` or `0`.
    fn alternate_screen(&self) -> String {
        let out = self.run(&["list-panes", "-F", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Polls the screen (there is no event to wait for) until `done` says
    /// yes; fails after 30 s, showing the last screen.
    async fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(Instant::now() < give_up, "{what}: not seen in 30 s; the screen:\n{screen}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The cells of the services table's row of `service`, borders and the
/// selection mark left out.
fn row_of(screen: &str, service: &str) -> Option<Vec<String>> {
    screen.lines().find_map(|line| {
        let cells: Vec<String> = line.replace(['│', '>'], " ").split_whitespace().map(str::to_owned).collect();
        (cells.first().map(String::as_str) == Some(service)).then_some(cells)
    })
}

/// Two instances, and calls per second above zero.
fn busy_with_two_instances(screen: &str) -> bool {
    row_of(screen, "Greeter").is_some_and(|cells| {
        cells.get(1).map(String::as_str) == Some("2")
            && cells.get(2).and_then(|c| c.parse::<f64>().ok()).is_some_and(|c| c > 0.0)
    })
}

async fn dashboard(name: &str, url: &str) {
    if !tmux_available() {
        return;
    }
    let traffic = Traffic::start(url).await;
    // The shell waits for `top` and reports its exit status and whether
    // the terminal is back in line mode (raw mode undone); it then stays
    // until the tmux server is killed, since tmux redraws a dead pane's
    // screen.
    let command = format!(
        "echo 'starting top'; {} top; status=$?; stty -a | tr ' ;' '\\n\\n' | grep -qx icanon && line=yes; \
         echo \"top exited: $status, line mode: ${{line:-no}}\"; sleep 600",
        env!("CARGO_BIN_EXE_psrpc")
    );
    let tmux = Tmux::start(name, url, &command);

    let screen = tmux.wait_until("Greeter with 2 instances and calls/s above 0", busy_with_two_instances).await;
    assert!(screen.contains("SERVICE") && screen.contains("CALLS/S") && screen.contains("IN-FLIGHT"), "{screen}");
    let scheme = url.split_once("://").expect("a scheme").0;
    assert!(screen.lines().next().is_some_and(|header| header.contains(&format!("· {scheme} ·"))), "{screen}");
    assert!(!screen.contains(url), "the bus URL is never shown: {screen}");

    tmux.keys("Enter");
    let screen = tmux
        .wait_until("the methods of Greeter", |s| {
            s.contains("Greeter: methods") && s.contains("Echo") && s.contains("Census") && s.contains("unary:queue")
        })
        .await;
    assert!(screen.contains("Greeter: instances") && screen.contains("SRV_"), "{screen}");

    tmux.keys("Escape");
    tmux.wait_until("the services again", |s| !s.contains("Greeter: methods") && row_of(s, "Greeter").is_some()).await;

    tmux.keys("q");
    // The shell around `top` says how it ended and whether the terminal is
    // back in line mode (raw mode undone), on the normal screen.
    let screen = tmux.wait_until("top quitting", |s| s.contains("top exited:")).await;
    assert!(screen.contains("starting top") && screen.contains("top exited: 0, line mode: yes"), "{screen}");
    assert_eq!(tmux.alternate_screen(), "0", "off the alternate screen:\n{screen}");
    drop(tmux);
    traffic.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_on_nats() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    dashboard("nats", broker.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_on_redis() {
    let Some(broker) = skip_or_fail(RedisServer::start_own()) else { return };
    dashboard("redis", broker.url()).await;
}

/// `--json --count 2`: two lines, each with the service and its two instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_for_scripts() {
    let Some(broker) = skip_or_fail(NatsServer::start_own()) else { return };
    let url = broker.url();
    let traffic = Traffic::start(url).await;
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_psrpc"))
        .args(["--json", "--wait", "3s", "top", "--count", "2", "--interval", "3s"])
        .env("PSRPC_BUS", url)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run).await.expect("top --count 2 ends").expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for line in &lines {
        let services = line["services"].as_array().expect("services");
        let greeter = services.iter().find(|s| s["service"] == "Greeter").expect(&stdout);
        assert_eq!(greeter["instances"], 2, "{stdout}");
        assert!(greeter["methods"].as_array().is_some_and(|m| m.iter().any(|m| m["method"] == "Echo")), "{stdout}");
    }
    assert!(lines[0]["services"][0]["calls_per_sec"].is_null(), "no rate before two refreshes: {stdout}");
    traffic.stop().await;
}
