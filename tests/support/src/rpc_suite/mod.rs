//! The RPC suite: every RPC kind, errors, timeouts, streams and lifecycle,
//! over any bus.
//!
//! Each test is an `async fn(&dyn BusFactory)`; [`rpc_suite!`](crate::rpc_suite!)
//! instantiates all of them as `#[tokio::test]`s for one bus:
//!
//! ```ignore
//! psrpc_test_support::rpc_suite!(my_factory());
//! ```

mod claims;
mod deadlines;
mod fixtures;
mod hand_client;
mod interceptors;
mod isolation;
mod lifecycle;
mod multi;
mod observe;
mod payload_limits;
mod single;
mod skip_claim;
mod streams;
mod subscriptions;
mod wire_modes;

pub use claims::*;
pub use deadlines::*;
pub use fixtures::{Ping, Pong, echo, echo_stream, ping};
pub use interceptors::*;
pub use isolation::*;
pub use lifecycle::*;
pub use multi::*;
pub use observe::*;
pub use payload_limits::*;
pub use single::*;
pub use skip_claim::*;
pub use streams::*;
pub use subscriptions::*;
pub use wire_modes::*;

/// Instantiates every RPC suite test for the bus factory expression `$factory`
/// (evaluated once per test; it must implement [`BusFactory`](crate::BusFactory)).
#[macro_export]
macro_rules! rpc_suite {
    ($factory:expr) => {
        $crate::suite_tests!(rpc_suite, $factory;
            single_round_trip, queue_requests_reach_one_server_each, affinity_picks_the_best_claim,
            selection_options_filter_and_choose, negative_affinity_never_claims, no_server_is_unavailable_after_selection_timeout,
            no_server_before_the_request_timeout_is_unavailable,
            single_server_topic_skips_the_claim, topics_reach_only_registered_servers, handler_error_round_trips_with_details,
            malformed_request_is_reported, handler_panic_is_internal_and_server_survives, expired_requests_are_dropped,
            slow_handler_times_out_and_frees_routes, dropped_call_frees_routes, client_close_cancels_pending_calls,
            metadata_interceptors_and_hooks, many_concurrent_single_rpcs,
            multi_collects_every_server, multi_ends_early_with_expected_count, multi_reports_missing_expected_servers,
            streams_exchange_both_ways, stream_handler_result_reaches_the_client, stream_client_close_reaches_the_server,
            stream_malformed_messages_fail_both_ends, stream_decode_failure_replaces_an_orderly_end, stream_split_halves_run_concurrently,
            stream_closes_when_every_client_handle_is_dropped, stream_notices_a_vanished_peer, stream_expires_a_client_that_vanished_before_its_first_keepalive,
            stream_hijacked_outlives_its_handler, calls_keep_their_client_alive,
            queue_subscription_delivers_each_message_once, multi_subscription_reaches_every_subscriber,
            shutdown_drains_in_flight_calls, kill_stops_at_once_and_server_calls_fail, duplicate_registration_is_rejected,
            a_bounded_shutdown_then_kill_ends_stuck_handlers,
            server_multi_and_stream_interceptors_chain_in_order, claims_run_the_handler_only_when_chosen_and_expire_unanswered,
            a_blocked_handler_does_not_hold_up_other_methods, interceptor_panic_is_internal_and_server_survives,
            affinity_panic_is_no_claim, stream_handler_panic_closes_with_internal,
            dropping_the_last_server_handle_stops_serving, observers_hear_calls_claims_and_expiries,
            nested_calls_inherit_the_remaining_budget, explicit_deadline_bounds_the_call, observers_hear_streams,
            stream_interceptor_panic_fails_only_its_stream, a_panicking_observer_changes_no_outcome,
            client_callback_panics_fail_only_their_call,
            native_queue_calls_take_no_claim, native_queue_requests_reach_one_server_each,
            native_queue_subscribers_take_only_their_own_method, wire_mode_mismatch_is_reported,
            native_mode_serves_every_other_kind,
            skip_claim_takes_three_frames_per_queue_call, skip_claim_only_where_caller_method_and_server_allow,
            servers_without_the_option_keep_bidding
        );
    };
}
