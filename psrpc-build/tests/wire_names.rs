//! Channel names of generated services are the ones Go psrpc uses for the
//! same `.proto`: service and method names CamelCased by protobuf-go's rule
//! (`my_svc` → `MySvc`, `get_2fa_code` → `Get_2FaCode`), no package, topic
//! parameter names nowhere. The expected names below are worked out by hand
//! from protoc-gen-psrpc's naming and Go psrpc's channel rules.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use psrpc::transport::bus::Subscription;
use psrpc::transport::channel::Channel;
use psrpc::{BusError, MessageBus, RequestContext, ServerOptions, SharedBus};

/// The generated code (the golden file), a nested package with awkward names.
#[allow(missing_docs, dead_code, unreachable_pub)]
mod api {
    include!("golden/awkward_names.rs");
}
use api::*;

/// The in-process bus, recording the channels servers subscribe to as
/// (legacy, NATS subject, local name).
#[derive(Debug, Default)]
struct Recording {
    inner: psrpc::local::LocalBus,
    subscribed: Mutex<Vec<(String, String, String)>>,
}

impl Recording {
    fn record(&self, channel: &Channel) {
        let names = (channel.legacy.to_string(), channel.server.to_string(), channel.local.to_string());
        self.subscribed.lock().expect("lock").push(names);
    }

    fn has(&self, legacy: &str, server: &str, local: &str) -> bool {
        let names = (legacy.to_owned(), server.to_owned(), local.to_owned());
        self.subscribed.lock().expect("lock").contains(&names)
    }
}

impl MessageBus for Recording {
    fn publish<'a>(&'a self, channel: &'a Channel, frame: Bytes) -> BoxFuture<'a, Result<(), BusError>> {
        self.inner.publish(channel, frame)
    }
    fn subscribe<'a>(&'a self, channel: &'a Channel, capacity: usize) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.record(channel);
        self.inner.subscribe(channel, capacity)
    }
    fn subscribe_queue<'a>(
        &'a self,
        channel: &'a Channel,
        capacity: usize,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.record(channel);
        self.inner.subscribe_queue(channel, capacity)
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
}

struct Impl;

impl MySvcServerImpl for Impl {
    async fn do_thing(&self, _ctx: RequestContext, msg: Msg) -> Result<Msg, psrpc::Error> {
        Ok(msg)
    }
}
impl IOInfoServerImpl for Impl {}
impl IOInfoSIPServerImpl for Impl {}

#[tokio::test]
async fn servers_listen_on_go_channel_names() {
    let bus = Arc::new(Recording::default());
    let shared: SharedBus = bus.clone();
    let svc = MySvcServer::new(Impl, shared.clone(), ServerOptions::default()).await.expect("my_svc");
    svc.register_v2_stats_3d_topic("n1", "z").await.expect("topic");
    let _io = IOInfoServer::new(Impl, shared.clone(), ServerOptions::default()).await.expect("IOInfo");
    let _sip = IOInfoSIPServer::new(Impl, shared, ServerOptions::default()).await.expect("IOInfoSIP");

    let expected = [
        // `service my_svc { rpc do_thing }`: queue routing adds `.Q`.
        ("MySvc|DoThing|REQ", "SRV.MySvc.Q", "DoThing.REQ"),
        ("MySvc|DoThing|RCLAIM", "SRV.MySvc", "DoThing.RCLAIM"),
        // `get_2fa_code`: the digit ends a word; multi: no `.Q`, no claim.
        ("MySvc|Get_2FaCode|REQ", "SRV.MySvc", "Get_2FaCode.REQ"),
        // `v2_stats_3d` on topics n1, z (parameter names are not on the wire).
        ("MySvc|V2Stats_3D|n1|z|REQ", "SRV.MySvc.n1.z.Q", "V2Stats_3D.REQ"),
        ("MySvc|V2Stats_3D|n1|z|RCLAIM", "SRV.MySvc.n1.z", "V2Stats_3D.RCLAIM"),
        // Two services whose names split into the same words stay apart.
        ("IOInfo|SIPGet|REQ", "SRV.IOInfo.Q", "SIPGet.REQ"),
        ("IOInfoSIP|Get|REQ", "SRV.IOInfoSIP.Q", "Get.REQ"),
    ];
    for (legacy, server, local) in expected {
        assert!(bus.has(legacy, server, local), "{legacy} / {server} / {local}: {:?}", bus.subscribed.lock());
    }
    let any_package =
        bus.subscribed.lock().expect("lock").iter().any(|(l, s, _)| l.contains("acme") || s.contains("acme"));
    assert!(!any_package, "the proto package is on no channel");
}

#[tokio::test]
async fn the_client_calls_the_go_names() {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let _svc = MySvcServer::new(Impl, bus.clone(), ServerOptions::default()).await.expect("server");
    let client = MySvcClient::new(bus, psrpc::ClientOptions::default()).await.expect("client");
    let msg = Msg { text: "x".into() };
    let got = client.do_thing(&msg, psrpc::RequestOptions::default()).await.expect("call");
    assert_eq!(got, msg);
    // A raw call with Go's name reaches the same handler.
    let info = psrpc::MethodInfo::new("DoThing", psrpc::MethodKind::Unary(psrpc::Selection::Queue { topics: false }));
    let raw = client.engine().request_single::<Msg, Msg>(&info, Vec::new(), &msg, Default::default()).await;
    assert_eq!(raw.expect("raw call").message, msg);
}
