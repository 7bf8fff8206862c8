//! The engine's own cost per turn and per list, with the mock model (no
//! delay): `cargo bench -p convo-core --bench turn` on the memory store, and
//! on MongoDB as well with `CONVO_BENCH_MONGODB_URI=mongodb://…` and
//! `--features mongodb`.
//!
//! `send/10` and `send/10000` differ only in the history behind the turn; a
//! turn reads only its context window, so their ratio should stay near 1
//! (target ≤ 1.5). Sessions are prefilled outside the timed region and
//! replaced before they grow by more than a tenth, so "10" means 10–11
//! prior messages and "10000" means 10,000–11,000.

use std::sync::Arc;
use std::time::{Duration, Instant};

use convo_core::store::MessageDraft;
use convo_core::{
    ChatSession, Convo, ListParams, MemoryStore, MockProvider, NewAgent, NewProject, Role,
    SendMessage, Settings, Store, TurnEvent, User,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::StreamExt;
use tokio::runtime::Runtime;

struct Bench {
    convo: Convo,
    store: Arc<dyn Store>,
    /// A session per history length, with how much it has grown.
    pool: std::sync::Mutex<std::collections::HashMap<usize, (ChatSession, u64)>>,
    user: User,
    agent_id: String,
}

impl Bench {
    async fn new(store: Arc<dyn Store>) -> Self {
        let convo = Convo::new(
            store.clone(),
            Arc::new(MockProvider::new().without_recording()),
            Settings::default(),
        );
        let user = convo
            .register("bench@example.com", "benchmark-password", None)
            .await
            .expect("register");
        let project = convo
            .create_project(
                &user.id,
                NewProject {
                    name: "bench".into(),
                    description: None,
                },
            )
            .await
            .expect("project");
        let agent = NewAgent {
            name: "bench".into(),
            system_prompt: "You are a benchmark.".into(),
            ..Default::default()
        };
        let agent = convo
            .create_agent(&user.id, &project.id.to_string(), agent)
            .await
            .expect("agent");
        Self {
            convo,
            store,
            user,
            agent_id: agent.id.to_string(),
            pool: Default::default(),
        }
    }

    /// A session holding `prior` messages, alternating user and assistant.
    async fn session_with(&self, prior: usize) -> ChatSession {
        let session = self
            .convo
            .start_session(&self.user.id, &self.agent_id, None)
            .await
            .expect("session");
        for i in 0..prior {
            let mut draft =
                MessageDraft::user(format!("message number {i} with a little text in it"));
            if i % 2 == 1 {
                draft.role = Role::Assistant;
            }
            self.store
                .append_message(&session.id, draft)
                .await
                .expect("prefill");
        }
        session
    }
}

/// Times `iters` turns, each on a session with `prior`..=`prior + prior / 10`
/// messages. Sessions live across criterion's samples, and a new one is
/// prefilled (untimed) only when the current one has grown too much.
async fn timed_turns(bench: &Bench, prior: usize, iters: u64, streamed: bool) -> Duration {
    let max_growth = (prior / 10) as u64;
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let reusable = bench
            .pool
            .lock()
            .expect("pool")
            .remove(&prior)
            .filter(|(_, grown)| grown + 2 <= max_growth);
        let (session, grown) = match reusable {
            Some(entry) => entry,
            None => (bench.session_with(prior).await, 0),
        };
        let id = session.id.to_string();
        let start = Instant::now();
        if streamed {
            let mut events = bench
                .convo
                .stream_message(&bench.user.id, &id, SendMessage::new("hello"))
                .await
                .expect("stream");
            while let Some(event) = events.next().await {
                assert!(
                    !matches!(event, TurnEvent::Failed { .. }),
                    "turn failed: {event:?}"
                );
            }
        } else {
            bench
                .convo
                .send_message(&bench.user.id, &id, SendMessage::new("hello"))
                .await
                .expect("turn");
        }
        total += start.elapsed();
        bench
            .pool
            .lock()
            .expect("pool")
            .insert(prior, (session, grown + 2));
    }
    total
}

/// The stores to measure: memory always, MongoDB when configured.
fn stores(rt: &Runtime) -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut stores: Vec<(&'static str, Arc<dyn Store>)> =
        vec![("memory", Arc::new(MemoryStore::new()))];
    #[cfg(feature = "mongodb")]
    if let Ok(uri) = std::env::var("CONVO_BENCH_MONGODB_URI") {
        let db = format!("convo_bench_{}", uuid::Uuid::now_v7().simple());
        let mongo = rt
            .block_on(convo_core::MongoStore::connect(&uri, &db))
            .expect("connect to MongoDB");
        stores.push(("mongodb", Arc::new(mongo)));
    }
    let _ = rt;
    stores
}

fn turns(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    for (name, store) in stores(&rt) {
        let bench = rt.block_on(Bench::new(store));
        let mut group = c.benchmark_group(format!("turn/{name}"));
        group.measurement_time(Duration::from_secs(5));
        if name != "memory" {
            // A networked store's turn costs milliseconds: fewer, longer samples.
            group.sample_size(20);
        }
        for prior in [10usize, 10_000] {
            group.bench_with_input(BenchmarkId::new("send", prior), &prior, |b, &prior| {
                b.to_async(&rt)
                    .iter_custom(|iters| timed_turns(&bench, prior, iters, false));
            });
        }
        group.bench_with_input(BenchmarkId::new("stream", 10), &10usize, |b, &prior| {
            b.to_async(&rt)
                .iter_custom(|iters| timed_turns(&bench, prior, iters, true));
        });
        group.finish();

        // The list endpoints' engine calls: a page of 20 of 50 messages, and of 20 projects.
        let session = rt.block_on(bench.session_with(50));
        let session_id = session.id.to_string();
        for i in 0..19 {
            let new = NewProject {
                name: format!("project {i}"),
                description: None,
            };
            rt.block_on(bench.convo.create_project(&bench.user.id, new))
                .expect("project");
        }
        let mut group = c.benchmark_group(format!("list/{name}"));
        group.measurement_time(Duration::from_secs(3));
        // One per list: a list's cursors are ids of its own kind.
        let (messages, projects) = (
            ListParams {
                limit: Some(20),
                ..Default::default()
            },
            ListParams {
                limit: Some(20),
                ..Default::default()
            },
        );
        group.bench_function("messages", |b| {
            b.to_async(&rt).iter(|| async {
                let page = bench
                    .convo
                    .list_messages(&bench.user.id, &session_id, &messages)
                    .await
                    .expect("list");
                assert_eq!(page.data.len(), 20);
            });
        });
        group.bench_function("projects", |b| {
            b.to_async(&rt).iter(|| async {
                let page = bench
                    .convo
                    .list_projects(&bench.user.id, &projects)
                    .await
                    .expect("list");
                assert_eq!(page.data.len(), 20);
            });
        });
        group.finish();
    }
}

criterion_group!(benches, turns);
criterion_main!(benches);
