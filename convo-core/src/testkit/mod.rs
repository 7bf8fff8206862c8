//! The store conformance suite: what every [`Store`] must do.
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
//! behaviours need real parallelism). Given a way to open two handles on one
//! backend, it also runs the two-handle behaviours (`seq`, the turn lock,
//! revocations, deleted API keys and key request counts across engine
//! instances). [`behaviours`] and [`twin_behaviours`] list the
//! same behaviours as plain functions, e.g. to run them all against a store
//! with a deliberate bug and check that one fails. The helpers in this module
//! build domain values with fresh ids for a backend's own tests as well.

mod bulk;
mod cached;
mod cancel;
mod cascade;
mod cursors;
mod end_users;
mod entities;
mod external;
mod fixtures;
mod held;
mod idempotency;
mod keys;
mod lock;
mod messages;
mod misc;
mod missing;
mod pagination;
mod parents;
mod scoping;
mod tools;
mod twin;
mod usage;
mod users;

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::store::Store;

pub use bulk::*;
pub use cached::*;
pub use cancel::*;
pub use cascade::*;
pub use cursors::*;
pub use end_users::*;
pub use entities::*;
pub use external::*;
pub use fixtures::*;
pub use held::*;
pub use idempotency::*;
pub use keys::*;
pub use lock::*;
pub use messages::*;
pub use misc::*;
pub use missing::*;
pub use pagination::*;
pub use parents::*;
pub use scoping::*;
pub use tools::*;
pub use twin::*;
pub use usage::*;
pub use users::*;

/// A behaviour on one store handle, as a plain function (see [`behaviours`]).
pub type Behaviour = fn(Arc<dyn Store>) -> BoxFuture<'static, ()>;

/// A behaviour on two handles on one backend (see [`twin_behaviours`]).
pub type TwinBehaviour = fn(Arc<dyn Store>, Arc<dyn Store>) -> BoxFuture<'static, ()>;

// `behaviours()` and `twin_behaviours()`, from the same list the macro expands.
crate::__store_conformance_list!(__store_conformance_table!());

/// Expands into one `#[tokio::test]` per conformance behaviour.
///
/// `$make` is an async expression producing an `Arc<dyn Store>`; it is
/// evaluated afresh in every test. For a backend that needs an external
/// server, `store_conformance_tests!(optional: …)` takes an expression
/// producing `Option<Arc<dyn Store>>`, and each test returns early on `None`
/// (the maker should say loudly why, and refuse to return `None` in CI). The calling crate needs `tokio` with the
/// `macros` and `rt-multi-thread` features (usually as a dev-dependency).
///
/// A second argument, `twins: $make_twins`, adds the two-handle behaviours:
/// an async expression producing two handles on **one** backend, as two
/// engine instances would hold (the same `Arc` for an in-process store, two
/// connections to one file or database otherwise), as a tuple
/// `(Arc<dyn Store>, Arc<dyn Store>)`, or `Option` of it after `optional:`.
/// Without it those behaviours are not generated.
///
/// ```no_run
/// // Expands into `#[tokio::test]` functions: put it at the top of a test file.
/// use std::sync::Arc;
/// use convo_core::{MemoryStore, Store};
///
/// convo_core::store_conformance_tests!(
///     async { Arc::new(MemoryStore::new()) as Arc<dyn Store> },
///     twins: async {
///         let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
///         (Arc::clone(&store), store)
///     }
/// );
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    (@singles [$make_optional:expr] single: [$($one:ident),+ $(,)?], twin: [$($two:ident),+ $(,)?] $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $one() {
                let store: ::std::option::Option<::std::sync::Arc<dyn $crate::Store>> = ($make_optional).await;
                // `None`: the backend is not available here and the maker said so.
                let ::std::option::Option::Some(store) = store else { return };
                $crate::testkit::$one(store).await;
            }
        )+
    };
    (@twins [$make_twins:expr] single: [$($one:ident),+ $(,)?], twin: [$($two:ident),+ $(,)?] $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $two() {
                let twins: ::std::option::Option<(
                    ::std::sync::Arc<dyn $crate::Store>,
                    ::std::sync::Arc<dyn $crate::Store>,
                )> = ($make_twins).await;
                let ::std::option::Option::Some((a, b)) = twins else { return };
                $crate::testkit::$two(a, b).await;
            }
        )+
    };
    (optional: $make_optional:expr, twins: $make_twins:expr $(,)?) => {
        $crate::__store_conformance_list!(store_conformance_tests!(@singles [$make_optional]));
        $crate::__store_conformance_list!(store_conformance_tests!(@twins [$make_twins]));
    };
    (optional: $make_optional:expr $(,)?) => {
        $crate::__store_conformance_list!(store_conformance_tests!(@singles [$make_optional]));
    };
    ($make:expr, twins: $make_twins:expr $(,)?) => {
        $crate::store_conformance_tests!(
            optional: async {
                ::std::option::Option::Some::<::std::sync::Arc<dyn $crate::Store>>(($make).await)
            },
            twins: async {
                ::std::option::Option::Some::<(
                    ::std::sync::Arc<dyn $crate::Store>,
                    ::std::sync::Arc<dyn $crate::Store>,
                )>(($make_twins).await)
            }
        );
    };
    ($make:expr $(,)?) => {
        $crate::store_conformance_tests!(optional: async {
            ::std::option::Option::Some::<::std::sync::Arc<dyn $crate::Store>>(($make).await)
        });
    };
}

/// Turns the behaviour list into `behaviours()` and `twin_behaviours()`.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_table {
    (single: [$($one:ident),+ $(,)?], twin: [$($two:ident),+ $(,)?] $(,)?) => {
        /// Every one-handle behaviour, by name, as a plain function: what
        /// [`store_conformance_tests!`](crate::store_conformance_tests)
        /// expands into tests.
        pub fn behaviours() -> ::std::vec::Vec<(&'static str, Behaviour)> {
            ::std::vec![$((
                ::std::stringify!($one),
                (|store| ::std::boxed::Box::pin($one(store)) as BoxFuture<'static, ()>) as Behaviour,
            )),+]
        }

        /// Every two-handle behaviour, by name, as a plain function.
        pub fn twin_behaviours() -> ::std::vec::Vec<(&'static str, TwinBehaviour)> {
            ::std::vec![$((
                ::std::stringify!($two),
                (|a, b| ::std::boxed::Box::pin($two(a, b)) as BoxFuture<'static, ()>) as TwinBehaviour,
            )),+]
        }
    };
}

/// The one list of conformance behaviours, handed to `$callback` (a macro
/// of this crate) after its own arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_list {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)*
            single: [
                // users
                users_can_be_inserted_and_read_by_id_and_by_email,
                unknown_users_read_as_none,
                emails_are_unique_regardless_of_case,
                // users for external identities
                finding_the_user_of_an_external_identity_twice_gives_one_user,
                concurrent_first_calls_for_an_external_identity_make_one_user,
                an_external_user_whose_email_is_taken_is_a_conflict_and_not_stored,
                the_same_subject_at_another_issuer_is_another_user,
                a_password_login_for_an_external_user_is_refused,
                // projects, agents, sessions
                projects_can_be_inserted_read_updated_and_deleted,
                agents_can_be_inserted_read_updated_and_deleted,
                inserting_an_agent_into_a_missing_project_is_not_found,
                sessions_can_be_inserted_read_updated_and_deleted,
                inserting_a_session_for_a_missing_agent_is_not_found,
                updating_a_session_keeps_its_message_count,
                // parents of the same owner
                inserting_under_another_owners_parent_is_not_found,
                a_session_in_another_project_than_its_agents_is_not_found,
                a_fork_of_another_owners_session_is_not_found,
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
                a_cursor_naming_no_stored_item_pages_from_its_position,
                // messages
                appended_messages_get_consecutive_seqs_and_read_back_equal,
                fifty_concurrent_appends_get_seqs_one_to_fifty,
                appending_to_a_missing_session_is_not_found,
                last_messages_returns_the_newest_n_in_ascending_seq,
                a_fork_copies_the_first_messages_under_new_ids,
                a_fork_of_missing_messages_is_not_found,
                // a missing session
                a_missing_sessions_window_is_empty_and_its_messages_not_found,
                the_turn_lock_of_a_missing_session_is_not_found,
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
                a_new_holder_of_an_expired_lease_starts_without_its_cancel_request,
                unlocking_ends_the_lock_and_its_cancel_request_even_for_the_same_holder,
                // what the lock returns and its release records
                the_turn_lock_returns_the_session_as_it_stands,
                another_owners_session_can_be_neither_locked_nor_read,
                appends_under_the_turn_lock_keep_seq_and_count,
                appends_after_a_lost_lease_leave_no_gap,
                releasing_the_turn_lock_records_its_usage,
                the_last_append_releases_the_lock_and_records_usage_once,
                the_last_append_to_a_session_deleted_meanwhile_is_not_found,
                the_last_append_after_a_lost_lease_leaves_the_new_holders_lock,
                // idempotency
                a_missing_idempotency_record_reads_as_none,
                idempotency_records_round_trip_and_can_be_replaced,
                idempotency_records_are_scoped_per_session,
                an_expired_idempotency_record_reads_as_none,
                // project API keys
                api_keys_are_listed_oldest_first_and_found_by_their_hash,
                api_keys_of_another_owners_project_are_unreachable,
                deleting_an_api_key_needs_its_owner_and_project,
                touching_an_api_key_never_moves_last_used_back,
                a_second_api_key_with_the_same_secret_hash_is_a_conflict,
                key_requests_count_up_within_a_window_and_restart_in_the_next,
                fifty_concurrent_key_requests_count_one_to_fifty,
                deleting_a_project_deletes_its_api_keys,
                // end users
                sessions_keep_their_end_user,
                sessions_filtered_by_end_user_paginate_with_cursors,
                end_user_tokens_count_only_that_project_end_user_and_window,
                // usage ledger
                usage_is_summed_per_day_project_and_agent,
                usage_is_summed_per_key_and_end_user,
                // tokens, health
                revoked_tokens_are_reported_as_revoked,
                authenticate_answers_a_stored_user_whose_token_is_not_revoked,
                authenticate_answers_none_for_a_revoked_token_or_a_missing_user,
                a_revocation_holds_until_its_expiry_whatever_is_revoked_later,
                ping_succeeds,
            ],
            twin: [
                concurrent_appends_through_two_handles_keep_seq_contiguous,
                pages_read_through_one_handle_follow_appends_and_deletes_through_the_other,
                the_turn_lock_taken_through_one_handle_excludes_the_other,
                a_cancel_through_one_handle_reaches_the_holder_on_the_other,
                appends_after_a_lease_lost_to_the_other_handle_leave_no_gap,
                a_window_read_under_the_lock_holds_the_other_handles_appends,
                a_revocation_through_one_handle_fails_authenticate_on_the_other,
                concurrent_first_calls_for_an_external_identity_through_two_handles_make_one_user,
                a_key_deleted_through_one_handle_is_missed_at_once_through_the_other,
                key_requests_counted_through_two_handles_share_one_window,
                // answers kept in process, and the change feed that keeps them honest
                a_token_revoked_through_one_engine_is_refused_by_the_other_once_its_change_arrives,
                a_key_revoked_through_one_engine_is_refused_by_the_other_once_its_change_arrives,
                an_agent_changed_through_one_handle_is_forgotten_by_the_other,
                project_pages_follow_writes_made_through_the_other_engine,
                message_pages_follow_deletions_made_through_the_other_engine,
                while_the_feed_is_down_every_request_asks_the_store,
            ],
        }
    };
}
