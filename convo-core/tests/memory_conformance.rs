//! The store conformance suite on [`MemoryStore`](convo_core::MemoryStore).
//! Its "two handles on one backend" are two clones of one `Arc`: what two
//! engine instances in one process share.

use std::sync::Arc;

use convo_core::{MemoryStore, Store};

convo_core::store_conformance_tests!(
    async { Arc::new(MemoryStore::new()) as Arc<dyn Store> },
    twins: async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        (Arc::clone(&store), store)
    }
);
