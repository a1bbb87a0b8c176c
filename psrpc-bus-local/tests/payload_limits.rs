//! An in-process bus with a frame limit refuses larger frames as the broker
//! buses do; without one it carries frames of any size.

use std::sync::Arc;

use psrpc_bus_local::{LocalBus, LocalBusOptions};
use psrpc_core::SharedBus;
use psrpc_test_support::rpc_suite::{Refusal, oversized_frames_fail_at_once};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_fail_at_once_on_a_limited_local_bus() {
    let bus: SharedBus = Arc::new(LocalBus::with_options(LocalBusOptions::default().max_frame_size(65_536)));
    let refusal = Refusal { limit: 65_536, origin: "the in-process bus's max_frame_size option", place: "channel" };
    oversized_frames_fail_at_once(bus, refusal).await;
}
