//! Macros that expand the kit into `#[tokio::test]`s in a backend's test file.

/// Expands `cases` of `module` into tests that call `setup` for a fixture.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($setup:path, $module:ident, [$($case:ident),* $(,)?]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $setup().await;
                $crate::testkit::$module::$case(&fixture).await;
            }
        )*
    };
}

/// Expands trace `cases` into tests that each run on a runtime of their own under the kit's
/// subscriber ([`traced::run`](crate::testkit::traced::run)).
#[doc(hidden)]
#[macro_export]
macro_rules! __traced_cases {
    ($setup:path, [$($case:ident),* $(,)?]) => {
        $(
            #[test]
            fn $case() {
                $crate::testkit::traced::run(async {
                    let fixture = $setup().await;
                    $crate::testkit::traced::$case(&fixture).await;
                });
            }
        )*
    };
}

/// Runs every pub/sub case against the [`PubSubFixture`](crate::testkit::PubSubFixture) that
/// the async function `setup` returns.
#[macro_export]
macro_rules! pubsub_conformance {
    ($setup:path) => {
        mod pubsub_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                pubsub,
                [
                    round_trip_keeps_payload_and_headers,
                    fifty_subscribers_each_receive_five_thousand,
                    subjects_are_isolated,
                    wildcards_match,
                    dropped_subscriber_does_not_disturb_others,
                    concurrent_publishes_lose_nothing,
                ]
            );
            $crate::__traced_cases!($setup, [trace_context_survives_publish]);
        }
    };
}

/// Runs every request/reply case against the
/// [`RequestReplyFixture`](crate::testkit::RequestReplyFixture) that `setup` returns.
#[macro_export]
macro_rules! request_reply_conformance {
    ($setup:path) => {
        mod request_reply_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                request,
                [
                    echo,
                    timeout_when_nobody_answers,
                    no_responders_fails_fast,
                    failing_service_is_a_remote_error,
                    load_shared_across_two_responders,
                ]
            );
            $crate::__traced_cases!($setup, [trace_context_survives_request]);
        }
    };
}

/// Runs every durable-log case against the [`LogFixture`](crate::testkit::LogFixture) that
/// `setup` returns.
#[macro_export]
macro_rules! log_conformance {
    ($setup:path) => {
        mod log_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                log,
                [
                    append_returns_positions,
                    nack_leads_to_redelivery,
                    nack_delay_is_honoured,
                    dropped_delivery_is_redelivered,
                    unacked_delivery_returns_after_consumer_dropped,
                    no_loss_across_consumer_restarts,
                    order_is_kept_per_key,
                    groups_each_see_everything_members_split,
                    nack_and_partition_order,
                    per_key_order_across_members,
                ]
            );
            $crate::__traced_cases!($setup, [trace_context_survives_append]);
        }
    };
}

/// Runs every key/value case against the [`KeyValueFixture`](crate::testkit::KeyValueFixture)
/// that `setup` returns.
#[macro_export]
macro_rules! key_value_conformance {
    ($setup:path) => {
        mod key_value_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                kv,
                [
                    set_get_overwrite,
                    ttl_expires,
                    del_removes,
                    namespaces_are_isolated,
                ]
            );
        }
    };
}

/// Runs every event-store case against the
/// [`EventStoreFixture`](crate::testkit::EventStoreFixture) that `setup` returns.
#[macro_export]
macro_rules! event_store_conformance {
    ($setup:path) => {
        mod event_store_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                store,
                [
                    crud,
                    pagination_is_complete_under_concurrent_inserts,
                    page_size_is_capped,
                    idempotent_insert_stores_one_row,
                    concurrent_idempotent_inserts_store_one_row,
                ]
            );
        }
    };
}

/// Runs the pub/sub interop cases against the
/// [`PlainPubSubFixture`](crate::testkit::PlainPubSubFixture) that `setup` returns.
#[macro_export]
macro_rules! pubsub_interop_conformance {
    ($setup:path) => {
        mod pubsub_interop_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                interop,
                [
                    plain_publish_is_delivered,
                    plain_subscriber_reads_sdk_message
                ]
            );
        }
    };
}

/// Runs the durable-log interop cases against the
/// [`PlainLogFixture`](crate::testkit::PlainLogFixture) that `setup` returns.
#[macro_export]
macro_rules! log_interop_conformance {
    ($setup:path) => {
        mod log_interop_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                interop,
                [plain_append_is_delivered, plain_reader_reads_sdk_append]
            );
        }
    };
}

/// Runs the request/reply interop cases against the
/// [`PlainRequestFixture`](crate::testkit::PlainRequestFixture) that `setup` returns.
#[macro_export]
macro_rules! request_reply_interop_conformance {
    ($setup:path) => {
        mod request_reply_interop_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                interop,
                [
                    plain_requester_gets_sdk_reply,
                    sdk_requester_gets_plain_reply
                ]
            );
        }
    };
}

/// Runs every consumer-router case (each layer of `switchboard_core::consume`) against the
/// [`LogFixture`](crate::testkit::LogFixture) that `setup` returns.
#[macro_export]
macro_rules! router_conformance {
    ($setup:path) => {
        mod router_conformance {
            use super::*;
            $crate::__conformance_cases!(
                $setup,
                router,
                [
                    handled_deliveries_are_acked,
                    redeliver_layer_retries_by_nack_delay,
                    retry_layer_retries_in_place,
                    dead_letter_after_max_attempts,
                    dedupe_skips_a_handled_id,
                    keys_in_parallel_each_key_in_order,
                    timeout_layer_fails_a_hung_call,
                    concurrency_limit_caps_calls,
                    shutdown_returns_once_in_flight_calls_settle,
                    nacks_settled_out_of_order_all_come_again,
                    batch_layer_works_a_backlog_in_order,
                    batch_layer_redelivers_a_failed_batch_in_order,
                ]
            );
        }
    };
}
