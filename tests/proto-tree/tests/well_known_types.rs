//! `acme/rpc/clock.proto`, generated with the default builder (no prost
//! configuration): google.protobuf well-known types in every position of
//! every method kind, on services named by acronyms, one call of each kind
//! on the in-process bus.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use psrpc::prost_types::{Duration, FieldMask, Struct, Timestamp, Value};
use psrpc::{ClientOptions, Error, RequestContext, RequestOptions, ServerOptions, ServerStream, SharedBus};
use psrpc_proto_tree_tests::acme::rpc::{
    HTTPAPIClient, HTTPAPIServer, HTTPAPIServerImpl, NTPClockInternalClient, NTPClockInternalServer,
    NTPClockInternalServerImpl,
};

struct Clock(&'static str);

fn report(clock: &str) -> Struct {
    Struct { fields: BTreeMap::from([("clock".to_owned(), Value::from(clock.to_owned()))]) }
}

impl NTPClockInternalServerImpl for Clock {
    async fn now(&self, _ctx: RequestContext, _request: ()) -> Result<Timestamp, Error> {
        Ok(Timestamp { seconds: 1_700_000_000, nanos: 5 })
    }
    async fn sleep(&self, _ctx: RequestContext, request: Duration) -> Result<(), Error> {
        assert_eq!(request, Duration { seconds: 2, nanos: 0 });
        Ok(())
    }
    fn sleep_affinity(&self, _ctx: &RequestContext, _request: &Duration) -> f32 {
        1.0
    }
    async fn survey(&self, _ctx: RequestContext, question: String) -> Result<Struct, Error> {
        let mut answer = report(self.0);
        answer.fields.insert("question".to_owned(), Value::from(question));
        Ok(answer)
    }
    async fn ticks(&self, mut stream: ServerStream<Timestamp, ()>) -> Result<(), Error> {
        let mut seconds = 0;
        while let Some(()) = stream.recv().await? {
            seconds += 1;
            stream.send(&Timestamp { seconds, nanos: 0 }).await?;
        }
        Ok(())
    }
    async fn skew(&self, ctx: RequestContext, request: Duration) -> Result<i64, Error> {
        assert_eq!(ctx.rpc_info().topics, ["c-1"]);
        Ok(request.seconds * 1000)
    }
    async fn inspect(&self, _ctx: RequestContext, mask: FieldMask) -> Result<Value, Error> {
        Ok(Value::from(format!("{} of {}", mask.paths.join("+"), self.0)))
    }
}

struct Api;

impl HTTPAPIServerImpl for Api {
    async fn get_status(&self, _ctx: RequestContext, verbose: bool) -> Result<Vec<u8>, Error> {
        Ok(if verbose { b"all good".to_vec() } else { b"ok".to_vec() })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_known_types_in_every_position() {
    let bus: SharedBus = Arc::new(psrpc::local::LocalBus::new());
    let server = NTPClockInternalServer::new(Clock("a"), bus.clone(), ServerOptions::default()).await.expect("server");
    let api = HTTPAPIServer::new(Api, bus.clone(), ServerOptions::default()).await.expect("server");
    let client = NTPClockInternalClient::new(bus.clone(), ClientOptions::default()).await.expect("client");
    let http = HTTPAPIClient::new(bus.clone(), ClientOptions::default()).await.expect("client");
    let call = RequestOptions::default;
    let one = || call().expected_responses(1);

    // Unary: Empty in, Timestamp out; Duration in, Empty out (affinity).
    assert_eq!(client.now(&(), call()).await.expect("now"), Timestamp { seconds: 1_700_000_000, nanos: 5 });
    client.sleep(&Duration { seconds: 2, nanos: 0 }, call()).await.expect("sleep");

    // Unary, scalar wrappers: BoolValue in, BytesValue out.
    assert_eq!(http.get_status(&true, call()).await.expect("status"), b"all good");

    // Multi: StringValue in, Struct out.
    let answers = client.survey(&"ready?".to_owned(), one()).await.expect("survey").collect_all().await;
    assert_eq!(answers.len(), 1);
    let answer = answers[0].result.as_ref().expect("answer");
    assert_eq!(answer.fields["question"], Value::from("ready?".to_owned()));

    // Stream: Empty one way, Timestamp the other.
    let mut ticks = client.ticks(call()).await.expect("open");
    for seconds in 1..=2 {
        ticks.send(&()).await.expect("send");
        assert_eq!(ticks.recv().await.expect("recv"), Some(Timestamp { seconds, nanos: 0 }));
    }
    ticks.close(None).await.expect("close");

    // A topic group: Duration → Int64Value (single server), FieldMask → Value (multi).
    server.register_all_clock_topics("c-1").await.expect("register group");
    assert_eq!(client.skew("c-1", &Duration { seconds: 3, nanos: 0 }, call()).await.expect("skew"), 3000);
    let mask = FieldMask { paths: vec!["offset".to_owned(), "drift".to_owned()] };
    let inspected = client.inspect("c-1", &mask, one()).await.expect("inspect").collect_all().await;
    assert_eq!(inspected.len(), 1);
    assert_eq!(inspected[0].result.as_ref().expect("value"), &Value::from("offset+drift of a".to_owned()));

    // Subscriptions: Empty on a topic, Struct to one subscriber, UInt64Value to every one.
    let mut registered = client.subscribe_worker_registered("eu").await.expect("subscribe");
    let mut elsewhere = client.subscribe_worker_registered("us").await.expect("subscribe");
    server.publish_worker_registered("eu", &()).await.expect("publish");
    assert_eq!(registered.next().await, Some(()));
    let mut reports = client.subscribe_reports().await.expect("subscribe");
    server.publish_reports(&report("a")).await.expect("publish");
    assert_eq!(reports.next().await, Some(report("a")));
    let (mut first, mut second) =
        (client.subscribe_beats().await.expect("subscribe"), client.subscribe_beats().await.expect("subscribe"));
    server.publish_beats(&42).await.expect("publish");
    assert_eq!((first.next().await, second.next().await), (Some(42), Some(42)));
    // The other region's subscriber got nothing of "eu": its first message is "us"'s.
    server.publish_worker_registered("us", &()).await.expect("publish");
    assert_eq!(elsewhere.next().await, Some(()));

    server.shutdown().await;
    api.shutdown().await;
}

/// The gRPC-only service is left out (`exclude_services`): the rest of its
/// file is generated, the service gets no psrpc code.
#[test]
fn the_excluded_service_gets_no_code() {
    let rpc = include_str!(concat!(env!("OUT_DIR"), "/acme.rpc.rs"));
    assert!(rpc.contains("NTPClockInternalClient"));
    assert!(!rpc.contains("ClockSyncClient") && !rpc.contains("clock_sync_psrpc"), "no psrpc code for ClockSync");
}
