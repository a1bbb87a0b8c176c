//! Criterion micro-benchmarks of the hot paths: frame encode/decode,
//! channel-name building, in-process publish/deliver, and a whole no-claim
//! RPC on the in-process bus (client dispatch of a response to its call).

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use psrpc::{
    ClientOptions, MessageBus, MethodInfo, MethodKind, RequestContext, RequestOptions, RpcClient, RpcServer, Selection,
    ServerOptions,
};
use psrpc_protocol::channel;
use psrpc_protocol::envelope::Request;
use psrpc_protocol::frame;

#[derive(Clone, PartialEq, prost::Message)]
struct Blob {
    #[prost(bytes = "bytes", tag = "1")]
    data: Bytes,
}

fn request() -> Request {
    Request {
        request_id: "REQ_aaaaaaaaaaaa".into(),
        client_id: "CLI_bbbbbbbbbbbb".into(),
        sent_at: 1_700_000_000_000_000_000,
        expiry: 1_700_000_003_000_000_000,
        raw_request: Bytes::from(vec![0x5a; 128]),
        ..Default::default()
    }
}

fn frames(c: &mut Criterion) {
    let req = request();
    c.bench_function("frame/encode request (128 B payload)", |b| {
        b.iter(|| frame::encode_envelope(black_box(&req), "Method.REQ"))
    });
    let encoded = frame::encode_envelope(&req, "Method.REQ");
    c.bench_function("frame/decode request", |b| {
        b.iter(|| frame::decode_envelope::<Request>(black_box(encoded.clone())).expect("decodes"))
    });
    c.bench_function("frame/decode routing key only", |b| {
        b.iter(|| frame::decode_local_channel(black_box(&encoded)).expect("decodes"))
    });
}

fn channels(c: &mut Criterion) {
    c.bench_function("channel/request channel with two topics", |b| {
        b.iter(|| {
            channel::request_channel(black_box("MyService"), black_box("GetRegionStats"), &["us-west", "a"], true)
        })
    });
    c.bench_function("channel/response channel", |b| {
        b.iter(|| channel::response_channel(black_box("MyService"), black_box("CLI_bbbbbbbbbbbb")))
    });
}

fn local_bus(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let bus = psrpc::local::LocalBus::new();
    let ch = channel::request_channel("S", "M", &["t"], false);
    let mut sub = runtime.block_on(bus.subscribe(&ch, 1024)).expect("subscribe");
    let frame = frame::encode_envelope(&request(), "");
    c.bench_function("local bus/publish + deliver", |b| {
        b.iter(|| {
            runtime.block_on(async {
                bus.publish(&ch, frame.clone()).await.expect("publish");
                sub.recv().await.expect("frame").expect("ok")
            })
        })
    });
}

static NOCLAIM: MethodInfo = MethodInfo::new("NoClaim", MethodKind::Unary(Selection::SingleServer));

fn rpc(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let bus: psrpc::SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let (client, _server) = runtime.block_on(async {
        let server = RpcServer::new("Bench", bus.clone(), ServerOptions::default());
        server
            .register_unary(&NOCLAIM, vec!["t".into()], |_ctx: RequestContext, b: Blob| async move { Ok(b) }, None)
            .await
            .expect("register");
        (RpcClient::new("Bench", bus, ClientOptions::default()).await.expect("client"), server)
    });
    let blob = Blob { data: Bytes::from(vec![0x5a; 128]) };
    c.bench_function("rpc/no-claim round trip on the local bus", |b| {
        b.iter(|| {
            runtime
                .block_on(client.request_single::<Blob, Blob>(
                    &NOCLAIM,
                    vec!["t".into()],
                    &blob,
                    RequestOptions::default(),
                ))
                .expect("reply")
        })
    });
}

criterion_group!(benches, frames, channels, local_bus, rpc);
criterion_main!(benches);
