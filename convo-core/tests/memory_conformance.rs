//! The store conformance suite on [`MemoryStore`](convo_core::MemoryStore).

use std::sync::Arc;

use convo_core::{MemoryStore, Store};

convo_core::store_conformance_tests!(async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });
