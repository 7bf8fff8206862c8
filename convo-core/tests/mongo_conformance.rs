//! The store conformance suite on [`MongoStore`], against a real MongoDB-wire
//! server (`scripts/test.sh` starts SecantusDB and sets `CONVO_TEST_MONGODB_URI`).
//!
//! Without that variable the tests say so loudly and pass vacuously on a
//! developer machine; under CI (`CI` set) they fail instead.

#![cfg(feature = "mongodb")]

use std::sync::Arc;

use convo_core::{MongoStore, Store};

/// One database per test process run, so runs never see each other's data.
fn database_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| format!("convo_conformance_{}", uuid::Uuid::now_v7().simple()))
        .clone()
}

async fn mongo_store() -> Option<Arc<dyn Store>> {
    let Ok(uri) = std::env::var("CONVO_TEST_MONGODB_URI") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the MongoDB tests: CONVO_TEST_MONGODB_URI is not set"
        );
        eprintln!("\n*** SKIPPED: MongoStore conformance test; set CONVO_TEST_MONGODB_URI (scripts/test.sh does) ***\n");
        return None;
    };
    let store = MongoStore::connect(&uri, &database_name())
        .await
        .expect("connect to the test MongoDB");
    Some(Arc::new(store))
}

convo_core::store_conformance_tests!(optional: mongo_store());
