//! Redis behind Sentinels: both suites through the master the Sentinels
//! name, and a failover under load (the master killed).

use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use psrpc_bus_redis::{RedisBus, RedisBusOptions};
use psrpc_core::SharedBus;
use psrpc_test_support::BusFactory;
use psrpc_test_support::broker::skip_or_fail;
use psrpc_test_support::topology::RedisSentinel;

/// Connections by `redis+sentinel://` URL.
struct Sentinel(RedisSentinel);

impl Sentinel {
    async fn bus(&self) -> SharedBus {
        Arc::new(
            RedisBus::connect(&self.0.url(), RedisBusOptions::default()).await.expect("connect through the Sentinels"),
        )
    }
}

impl BusFactory for Sentinel {
    fn connect(&self) -> BoxFuture<'_, SharedBus> {
        Box::pin(self.bus())
    }
}

fn sentinel() -> Option<Sentinel> {
    skip_or_fail(RedisSentinel::start()).map(Sentinel)
}

psrpc_test_support::bus_suites!(conformance, rpc: sentinel());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_master_under_load_fails_over_and_loses_nothing() {
    let Some(topology) = sentinel() else { return };
    let kill = |topology: &mut Sentinel| {
        topology.0.kill_master().expect("kill the master");
    };
    let (report, _) = psrpc_test_support::failover::kill_under_load(topology, kill).await;
    eprintln!("Sentinel master killed: {report:?}");
}

/// A master the Sentinels replaced but that still answers as a master (here
/// pinned: it refuses to be made a replica) never disconnects the bus, so
/// only the Sentinels' `+switch-master` tells the bus to move: its
/// publishes must reach subscribers of the new master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_leaves_a_replaced_master_that_still_answers() {
    let Some(topology) = sentinel() else { return };
    let bus = topology.bus().await;
    let old = topology.0.pin_master().expect("pin the master");
    let new = tokio::task::spawn_blocking(move || {
        let new = topology.0.force_failover().expect("fail over");
        (topology, new)
    });
    let (topology, new) = new.await.expect("failover task");
    assert_ne!(old, new);

    let client = redis::Client::open(format!("redis://127.0.0.1:{new}")).expect("client");
    let mut on_new = client.get_async_pubsub().await.expect("connect to the new master");
    on_new.subscribe("SwitchProbe|bus|RES").await.expect("subscribe");
    let mut messages = on_new.into_on_message();
    let channel = psrpc_protocol::channel::response_channel("SwitchProbe", "bus");
    assert_eq!(&*channel.legacy, "SwitchProbe|bus|RES");
    let received = async {
        loop {
            // Publishes fail while the bus moves; each one that is
            // acknowledged went to the master the bus is on.
            let _ = bus.publish(&channel, bytes::Bytes::from_static(b"probe")).await;
            tokio::select! {
                Some(message) = messages.next() => return message.get_payload::<Vec<u8>>().expect("payload"),
                () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
        }
    };
    let payload = tokio::time::timeout(std::time::Duration::from_secs(60), received)
        .await
        .expect("the bus's publishes reach the new master");
    assert_eq!(payload, b"probe");
    drop(topology);
}

/// A Sentinel that missed the last failover (it names the old master with
/// an older configuration epoch) is outvoted by those that saw it, even
/// when it is asked first and the old master still answers as a master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_that_missed_a_failover_is_outvoted() {
    use psrpc_protocol::bus::MessageBus as _;
    let Some(topology) = sentinel() else { return };
    let old = topology.0.pin_master().expect("pin the master");
    let (topology, new) = tokio::task::spawn_blocking(move || {
        let new = topology.0.force_failover().expect("fail over");
        (topology, new)
    })
    .await
    .expect("failover task");
    assert_ne!(old, new);

    let lagging = LaggingSentinel::start(old).await;
    let url = topology.0.url().replacen("redis+sentinel://", &format!("redis+sentinel://{lagging},"), 1);
    let bus = RedisBus::connect(&url, RedisBusOptions::default()).await.expect("connect through the Sentinels");

    let client = redis::Client::open(format!("redis://127.0.0.1:{new}")).expect("client");
    let mut on_new = client.get_async_pubsub().await.expect("connect to the new master");
    on_new.subscribe("LagProbe|bus|RES").await.expect("subscribe");
    let mut messages = on_new.into_on_message();
    let channel = psrpc_protocol::channel::response_channel("LagProbe", "bus");
    bus.publish(&channel, bytes::Bytes::from_static(b"probe")).await.expect("publish");
    let payload = tokio::time::timeout(std::time::Duration::from_secs(60), messages.next())
        .await
        .expect("the bus publishes on the new master")
        .expect("a message")
        .get_payload::<Vec<u8>>()
        .expect("payload");
    assert_eq!(payload, b"probe");
    drop(topology);
}

/// A stand-in Sentinel on a free loopback port whose `SENTINEL MASTER`
/// names `127.0.0.1:<port>` with configuration epoch 0 and no flags.
struct LaggingSentinel;

impl LaggingSentinel {
    /// Starts it; resolves to its `host:port`.
    async fn start(port: u16) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(Self::serve(socket, port));
            }
        });
        addr
    }

    /// Answers RESP2 commands on `socket` until it closes.
    async fn serve(socket: tokio::net::TcpStream, port: u16) {
        use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
        let (read, mut write) = socket.into_split();
        let mut read = tokio::io::BufReader::new(read);
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let Some(count) = line.trim_end().strip_prefix('*').and_then(|n| n.parse::<usize>().ok()) else { return };
            let mut args = Vec::with_capacity(count);
            for _ in 0..count {
                line.clear();
                if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let Some(len) = line.trim_end().strip_prefix('$').and_then(|n| n.parse::<usize>().ok()) else {
                    return;
                };
                let mut arg = vec![0; len + 2];
                if read.read_exact(&mut arg).await.is_err() {
                    return;
                }
                arg.truncate(len);
                args.push(String::from_utf8_lossy(&arg).to_uppercase());
            }
            let bulk = |s: &str| format!("${}\r\n{s}\r\n", s.len());
            let reply = match args.first().map(String::as_str) {
                Some("SENTINEL") => {
                    let port = port.to_string();
                    let fields = [
                        ("name", "psrpc"),
                        ("ip", "127.0.0.1"),
                        ("port", &port),
                        ("flags", "master"),
                        ("config-epoch", "0"),
                    ];
                    let body: String = fields.iter().map(|(k, v)| bulk(k) + &bulk(v)).collect();
                    format!("*{}\r\n{body}", fields.len() * 2)
                }
                Some("SUBSCRIBE") => format!("*3\r\n{}{}:1\r\n", bulk("subscribe"), bulk(&args[1].to_lowercase())),
                Some("PING") => "+PONG\r\n".to_owned(),
                _ => "+OK\r\n".to_owned(),
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

/// Sentinels and data nodes that each accept only their own ACL user: the
/// bus logs in to both (`sentinel_username`/`sentinel_password` for the
/// Sentinels), refuses a wrong Sentinel password at connect with an error
/// that names the Sentinel and repeats no secret, and follows a failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_with_their_own_users_are_followed_across_a_failover() {
    let Some(topology) = skip_or_fail(RedisSentinel::start_secured(None)) else { return };
    secured_failover(topology).await;
}

/// The same over TLS only, with client certificates (`tls-auth-clients
/// yes`) on every data node and Sentinel: `rediss+sentinel://` with the
/// private CA and the client certificate in the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_over_tls_with_their_own_users_are_followed_across_a_failover() {
    let Some(certs) = skip_or_fail(psrpc_test_support::tls::SelfSigned::create()) else { return };
    let Some(topology) = skip_or_fail(RedisSentinel::start_secured(Some(&certs))) else { return };
    assert!(topology.url().starts_with("rediss+sentinel://"));
    // The system roots do not trust the private CA: refused at connect.
    let untrusted = topology.url().split("&tls_ca=").next().expect("url").to_owned();
    let error = RedisBus::connect(&untrusted, RedisBusOptions::default()).await.expect_err("untrusted certificate");
    assert!(error.to_string().to_lowercase().contains("sentinel"), "{error}");
    secured_failover(topology).await;
}

async fn secured_failover(mut topology: RedisSentinel) {
    use psrpc_protocol::bus::MessageBus as _;
    use psrpc_test_support::topology::{DATA_PASSWORD, SENTINEL_PASSWORD};
    let url = topology.url();
    let wrong = url.replace(&format!("sentinel_password={SENTINEL_PASSWORD}"), "sentinel_password=not-it");
    let error = RedisBus::connect(&wrong, RedisBusOptions::default()).await.expect_err("a wrong Sentinel password");
    let text = error.to_string();
    assert!(text.contains("sentinel 127.0.0.1:") && text.contains("authentication failed"), "{text}");
    for secret in ["not-it", SENTINEL_PASSWORD, DATA_PASSWORD] {
        assert!(!text.contains(secret) && !format!("{error:?}").contains(secret), "{secret} in {text}");
    }

    let bus = RedisBus::connect(&url, RedisBusOptions::default()).await.expect("connect with both users");
    let channel = psrpc_protocol::channel::response_channel("Secured", "bus");
    let mut frames = bus.subscribe(&channel, 16).await.expect("subscribe");
    bus.publish(&channel, bytes::Bytes::from_static(b"before")).await.expect("publish");
    assert_eq!(frames.recv().await.expect("open").expect("frame"), bytes::Bytes::from_static(b"before"));

    let topology = tokio::task::spawn_blocking(move || {
        let old = topology.kill_master().expect("kill the master");
        topology.wait_failover(old).expect("fail over");
        topology
    })
    .await
    .expect("failover task");
    let after = async {
        loop {
            // Publishes fail while the bus moves; the subscription comes
            // back on the new master by itself.
            let _ = bus.publish(&channel, bytes::Bytes::from_static(b"after")).await;
            tokio::select! {
                frame = frames.recv() => return frame,
                () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
        }
    };
    let frame =
        tokio::time::timeout(std::time::Duration::from_secs(60), after).await.expect("a frame after the failover");
    assert_eq!(frame.expect("open").expect("frame"), bytes::Bytes::from_static(b"after"));
    drop(topology);
}
