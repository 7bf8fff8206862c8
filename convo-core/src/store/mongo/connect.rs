//! Connecting, and the indexes every collection needs.

use std::time::Duration;

use mongodb::bson::{doc, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, IndexModel};

use super::error::MapErr;
use super::*;
use crate::store::StoreError;

impl MongoStore {
    /// Connects with `uri` to database `db_name` and creates the indexes.
    ///
    /// Without explicit timeouts in the URI, server selection and connecting
    /// give up after 5 s, so an outage answers `Unavailable` quickly.
    pub async fn connect(uri: &str, db_name: &str) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Internal(format!("bad MongoDB URI: {e}")))?;
        if !uri.contains("serverSelectionTimeoutMS") {
            options.server_selection_timeout = Some(Duration::from_secs(5));
        }
        if !uri.contains("connectTimeoutMS") {
            options.connect_timeout = Some(Duration::from_secs(5));
        }
        options.app_name.get_or_insert_with(|| "convo".to_owned());
        let client = Client::with_options(options).store()?;
        let db = client.database(db_name);
        let hello = db.run_command(doc! { "hello": 1 }).await.store()?;
        // Transactions need a replica set member or a mongos.
        let transactions =
            hello.contains_key("setName") || hello.get_str("msg").is_ok_and(|m| m == "isdbgrid");
        // Client-level bulkWrite, one command over several collections,
        // came with wire version 25 (MongoDB 8.0; MongoDB manual,
        // "bulkWrite" command, consulted 2026-12-01).
        let bulk_write = hello
            .get("maxWireVersion")
            .and_then(mongodb::bson::Bson::as_i32)
            .is_some_and(|v| v >= 25);
        let store = Self {
            client,
            db,
            transactions,
            bulk_write,
            held: Arc::default(),
            lengths: Arc::default(),
            recent: Arc::default(),
            feed: Arc::default(),
        };
        store.ensure_indexes().await?;
        Ok(store)
    }

    /// The database name from a URI's path (`mongodb://host/<db>`), if it names one.
    pub fn database_in_uri(uri: &str) -> Option<String> {
        let rest = uri.split_once("://")?.1;
        let path = rest.split_once('/')?.1;
        let name = path.split(['?', '/']).next()?;
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// Whether writes that must go together use a transaction.
    pub fn uses_transactions(&self) -> bool {
        self.transactions
    }

    /// Creates every index the queries use (idempotent).
    pub(super) async fn ensure_indexes(&self) -> Result<(), StoreError> {
        let index = |keys: Document, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().unique(unique).build())
                .build()
        };
        let ttl = |field: &str| {
            IndexModel::builder()
                .keys(doc! { field: 1 })
                .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
                .build()
        };
        let indexes = [
            ("users", index(doc! { "email": 1 }, true)),
            ("projects", index(doc! { "owner": 1, "_id": 1 }, false)),
            ("agents", index(doc! { "project_id": 1, "_id": 1 }, false)),
            ("sessions", index(doc! { "agent_id": 1, "_id": 1 }, false)),
            ("sessions", index(doc! { "project_id": 1 }, false)),
            ("messages", index(doc! { "session_id": 1, "seq": 1 }, true)),
            ("idempotency", index(doc! { "session_id": 1 }, false)),
            ("idempotency", ttl("expires_at")),
            ("revoked_tokens", ttl("expires_at")),
            ("usage", index(doc! { "owner": 1, "at": 1 }, false)),
            // Project API keys: the `?end_user=` session list, the end
            // users' monthly budget, a presented secret, a project's keys,
            // and the request windows (each dropped after its minute).
            (
                "sessions",
                index(doc! { "agent_id": 1, "end_user": 1, "_id": 1 }, false),
            ),
            (
                "usage",
                index(
                    doc! { "owner": 1, "project_id": 1, "end_user": 1, "at": 1 },
                    false,
                ),
            ),
            ("api_keys", index(doc! { "secret_hash": 1 }, true)),
            ("api_keys", index(doc! { "project_id": 1, "_id": 1 }, false)),
            ("key_windows", ttl("expires_at")),
        ];
        // Sparse: users without an external identity (password users) are
        // left out, instead of all colliding on a missing (null) key.
        let external = IndexModel::builder()
            .keys(doc! { "external.issuer": 1, "external.subject": 1 })
            .options(IndexOptions::builder().unique(true).sparse(true).build())
            .build();
        let indexes = indexes.into_iter().chain([("users", external)]);
        for (collection, model) in indexes {
            self.db
                .collection::<Document>(collection)
                .create_index(model)
                .await
                .store()?;
        }
        Ok(())
    }
}
