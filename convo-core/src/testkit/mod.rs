//! The store conformance suite: what every [`Store`](crate::Store) must do.
//!
//! Each behaviour is a `pub async fn <sentence>(store: Arc<dyn Store>)` that
//! panics with a message saying which rule broke. Every behaviour makes its own
//! users (random ids, unique e-mails), so all of them can share one database
//! and run in parallel. A new backend's test file is a few lines:
//!
//! ```text
//! // tests/my_store_conformance.rs (with `convo-core = { features = ["testkit"] }`
//! // and `tokio = { features = ["macros", "rt-multi-thread"] }` in dev-dependencies)
//! convo_core::store_conformance_tests!(async {
//!     std::sync::Arc::new(MyStore::connect("…").await.unwrap()) as std::sync::Arc<dyn convo_core::Store>
//! });
//! ```
//!
//! [`store_conformance_tests!`](crate::store_conformance_tests) expands into one
//! `#[tokio::test]` per behaviour on a multi-thread runtime (the concurrency
//! behaviours need real parallelism). The helpers in this module build domain
//! values with fresh ids for a backend's own tests as well.

mod bulk;
mod cascade;
mod entities;
mod fixtures;
mod idempotency;
mod lock;
mod messages;
mod misc;
mod pagination;
mod scoping;
mod tools;
mod usage;
mod users;

pub use bulk::*;
pub use cascade::*;
pub use entities::*;
pub use fixtures::*;
pub use idempotency::*;
pub use lock::*;
pub use messages::*;
pub use misc::*;
pub use pagination::*;
pub use scoping::*;
pub use tools::*;
pub use usage::*;
pub use users::*;

/// Expands into one `#[tokio::test]` per conformance behaviour.
///
/// `$make` is an async expression producing an `Arc<dyn Store>`; it is
/// evaluated afresh in every test. For a backend that needs an external
/// server, `store_conformance_tests!(optional: …)` takes an expression
/// producing `Option<Arc<dyn Store>>`, and each test returns early on `None`
/// (the maker should say loudly why, and refuse to return `None` in CI). The calling crate needs `tokio` with the
/// `macros` and `rt-multi-thread` features (usually as a dev-dependency).
///
/// ```no_run
/// // Expands into `#[tokio::test]` functions: put it at the top of a test file.
/// convo_core::store_conformance_tests!(async {
///     std::sync::Arc::new(convo_core::MemoryStore::new()) as std::sync::Arc<dyn convo_core::Store>
/// });
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    (@tests $make_optional:expr; $($behaviour:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $behaviour() {
                let store: ::std::option::Option<::std::sync::Arc<dyn $crate::Store>> = ($make_optional).await;
                // `None`: the backend is not available here and the maker said so.
                let ::std::option::Option::Some(store) = store else { return };
                $crate::testkit::$behaviour(store).await;
            }
        )+
    };
    (optional: $make_optional:expr) => {
        $crate::store_conformance_tests!(@list $make_optional);
    };
    ($make:expr) => {
        $crate::store_conformance_tests!(@list async {
            ::std::option::Option::Some::<::std::sync::Arc<dyn $crate::Store>>(($make).await)
        });
    };
    (@list $make_optional:expr) => {
        $crate::store_conformance_tests!(@tests $make_optional;
            // users
            users_can_be_inserted_and_read_by_id_and_by_email,
            unknown_users_read_as_none,
            emails_are_unique_regardless_of_case,
            // projects, agents, sessions
            projects_can_be_inserted_read_updated_and_deleted,
            agents_can_be_inserted_read_updated_and_deleted,
            inserting_an_agent_into_a_missing_project_is_not_found,
            sessions_can_be_inserted_read_updated_and_deleted,
            inserting_a_session_for_a_missing_agent_is_not_found,
            updating_a_session_keeps_its_message_count,
            // owner scoping
            projects_are_invisible_to_other_owners,
            agents_are_invisible_to_other_owners,
            sessions_are_invisible_to_other_owners,
            // pagination
            projects_paginate_by_id_with_limit_order_and_cursors,
            agents_paginate_by_id_with_limit_order_and_cursors,
            sessions_paginate_by_id_with_limit_order_and_cursors,
            messages_paginate_by_seq_with_limit_order_and_cursors,
            a_message_cursor_outside_the_session_is_not_found,
            // messages
            appended_messages_get_consecutive_seqs_and_read_back_equal,
            fifty_concurrent_appends_get_seqs_one_to_fifty,
            appending_to_a_missing_session_is_not_found,
            last_messages_returns_the_newest_n_in_ascending_seq,
            a_fork_copies_the_first_messages_under_new_ids,
            a_fork_of_missing_messages_is_not_found,
            // bulk append
            a_bulk_append_continues_the_seqs_and_reads_back_equal,
            concurrent_bulk_appends_keep_each_batch_contiguous,
            a_failed_bulk_append_stores_nothing,
            // tools
            agents_keep_their_tools_rounds_and_webhook_secret,
            tool_calls_and_tool_results_round_trip_through_every_read_and_fork,
            pending_tool_calls_are_shown_with_the_session_until_cleared,
            setting_pending_tool_calls_of_a_missing_session_is_not_found,
            // cascades
            deleting_a_project_deletes_its_agents_sessions_and_messages,
            deleting_an_agent_deletes_its_sessions_and_messages_but_keeps_its_project,
            deleting_a_session_deletes_its_messages_and_idempotency_records,
            // turn lock
            the_turn_lock_admits_one_holder_at_a_time,
            relocking_extends_the_holders_lease,
            unlocking_by_a_non_holder_does_nothing,
            an_expired_turn_lock_can_be_taken_by_another_holder,
            turn_locks_are_per_session,
            exactly_one_of_twenty_concurrent_lockers_gets_the_turn,
            a_cancel_request_reaches_the_holder_and_ends_with_its_lock,
            cancelling_a_free_session_reports_no_turn,
            // idempotency
            a_missing_idempotency_record_reads_as_none,
            idempotency_records_round_trip_and_can_be_replaced,
            idempotency_records_are_scoped_per_session,
            an_expired_idempotency_record_reads_as_none,
            // usage ledger
            usage_is_summed_per_day_project_and_agent,
            // tokens, health
            revoked_tokens_are_reported_as_revoked,
            ping_succeeds,
        );
    };
}
