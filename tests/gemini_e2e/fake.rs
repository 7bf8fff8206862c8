//! `FakeGemini`: the project's own fake model server (`convo-fake`),
//! in-process on a free port, stopped when the value drops.
//!
//! One per test: its request log and `fail_first_n` counters are its own,
//! so parallel tests never see each other's requests.

use convo_fake::{FakeModel, Options};
use serde_json::Value;

/// A running fake model.
pub struct FakeGemini {
    /// `http://127.0.0.1:<port>`: the Gemini base URL to configure.
    pub url: String,
    fake: FakeModel,
}

impl FakeGemini {
    /// Starts the fake on port 0 of the test's runtime.
    pub async fn start() -> Self {
        let fake = FakeModel::start(Options::default())
            .await
            .expect("the fake model server starts");
        Self {
            url: fake.url(),
            fake,
        }
    }

    /// Every request the fake recorded, oldest first (`GET /__requests`).
    pub async fn requests(&self) -> Vec<Value> {
        self.fake.requests()
    }

    /// `POST /__reset`: clears the request log, the stats and the
    /// `fail_first_n` counters.
    pub async fn reset(&self) {
        self.fake.reset();
    }

    /// `GET /__stats`: `{total, in_flight, max_in_flight, by_status, recorded}`.
    pub async fn stats(&self) -> Value {
        self.fake.stats()
    }

    /// The recorded model calls (`generateContent` and `streamGenerateContent`).
    pub async fn model_calls(&self) -> Vec<Value> {
        let all = self.requests().await;
        all.into_iter()
            .filter(|r| r["rpc"] == "generateContent" || r["rpc"] == "streamGenerateContent")
            .collect()
    }
}
