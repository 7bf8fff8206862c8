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

/// The test server's URI, or `None` (loudly; never under CI).
fn mongo_uri() -> Option<String> {
    let Ok(uri) = std::env::var("CONVO_TEST_MONGODB_URI") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the MongoDB tests: CONVO_TEST_MONGODB_URI is not set"
        );
        eprintln!("\n*** SKIPPED: MongoStore conformance test; set CONVO_TEST_MONGODB_URI (scripts/test.sh does) ***\n");
        return None;
    };
    Some(uri)
}

async fn mongo_store() -> Option<Arc<dyn Store>> {
    let uri = mongo_uri()?;
    let store = MongoStore::connect(&uri, &database_name())
        .await
        .expect("connect to the test MongoDB");
    Some(Arc::new(store))
}

/// Two clients (two connection pools) on the one database, as two server
/// processes would hold.
async fn mongo_twins() -> Option<(Arc<dyn Store>, Arc<dyn Store>)> {
    let uri = mongo_uri()?;
    let a = MongoStore::connect(&uri, &database_name())
        .await
        .expect("connect handle A to the test MongoDB");
    let b = MongoStore::connect(&uri, &database_name())
        .await
        .expect("connect handle B to the test MongoDB");
    Some((Arc::new(a) as Arc<dyn Store>, Arc::new(b) as Arc<dyn Store>))
}

convo_core::store_conformance_tests!(optional: mongo_store(), twins: mongo_twins());
