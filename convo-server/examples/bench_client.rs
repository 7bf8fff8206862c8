//! The parts of `scripts/bench.sh` that a fixed-time load generator cannot
//! do: setting up data through the API, timing single sends against a
//! history of a given length, and holding thousands of streams open at once.
//!
//! ```text
//! bench_client setup   <base> [webhook_url]        # JSON: token, ids for the wrk cases
//!                                                  # (with a URL, the agent has a webhook tool there)
//! bench_client growth  <base> <token>              # JSON: p50 of one send at 10 / 1,000 / 10,000 prior messages
//! bench_client streams <base> <token> <agent_id> <n>  # JSON: n concurrent streamed turns, how many completed
//! bench_client sends   <base> <token> <agent_id> <n>  # JSON: n concurrent plain sends, how long until the last answered
//! ```
//! Every run is bounded: fixed counts, a timeout on every request.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(base: &str, token: &str, timeout: Duration) -> Result<Self> {
        let tls = convo_core::llm::gemini::tls_client_config()?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(timeout)
            .pool_max_idle_per_host(10_000)
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("POST {path}: {status} {body}").into());
        }
        Ok(body)
    }

    async fn id(&self, path: &str, body: Value) -> Result<String> {
        let v = self.post(path, body).await?;
        Ok(v["id"].as_str().ok_or("no id")?.to_owned())
    }

    async fn send(&self, session: &str, text: &str) -> Result<()> {
        self.post(
            &format!("/api/chat/{session}/message"),
            json!({ "content": text }),
        )
        .await
        .map(|_| ())
    }

    /// Sends `turns` turns (two messages each) to a session, one after another.
    async fn fill(&self, session: &str, turns: usize) -> Result<()> {
        for i in 0..turns {
            self.send(session, &format!("history message {i}")).await?;
        }
        Ok(())
    }
}

async fn setup(base: &str, webhook: Option<&str>) -> Result<Value> {
    let anon = Api::new(base, "", Duration::from_secs(30))?;
    let email = format!("bench-{}@example.com", uuid::Uuid::now_v7().simple());
    let password = "benchmark-password";
    anon.post(
        "/api/auth/register",
        json!({ "email": email, "password": password }),
    )
    .await?;
    let token = anon
        .post(
            "/api/auth/token",
            json!({ "email": email, "password": password }),
        )
        .await?;
    let token = token["access_token"].as_str().ok_or("no token")?;
    let api = Api::new(base, token, Duration::from_secs(30))?;
    let mut project = String::new();
    for i in 0..20 {
        project = api
            .id("/api/projects", json!({ "name": format!("project {i}") }))
            .await?;
    }
    let mut agent = json!({ "name": "bench", "system_prompt": "You are a benchmark." });
    if let Some(url) = webhook {
        agent["tools"] = json!([{ "name": "lookup_order", "parameters": { "type": "object" },
            "execution": { "type": "webhook", "url": url, "timeout_ms": 10000 } }]);
    }
    let agent = api
        .id(&format!("/api/projects/{project}/agents"), agent)
        .await?;
    let history = api
        .id(&format!("/api/chat/start/{agent}"), json!({}))
        .await?;
    api.fill(&history, 25).await?;
    let mut sessions = Vec::new();
    for _ in 0..64 {
        sessions.push(
            api.id(&format!("/api/chat/start/{agent}"), json!({}))
                .await?,
        );
    }
    Ok(
        json!({ "email": email, "password": password, "token": token, "agent": agent, "history_session": history, "sessions": sessions }),
    )
}

fn p50(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples.get(samples.len() / 2).copied().unwrap_or(f64::NAN)
}

/// p50 of one send against 10, 1,000 and 10,000 prior messages.
async fn growth(base: &str, token: &str) -> Result<Value> {
    const SAMPLES: usize = 100;
    let api = Api::new(base, token, Duration::from_secs(30))?;
    // An agent whose context window (10 messages) is full at every point
    // measured, so each turn sends the model the same amount and only the
    // session's history length differs. With the default window of 20, the
    // 10-message point would read half the messages of the others and the
    // ratio would measure the window filling up, not history growth.
    let project = api.id("/api/projects", json!({"name": "growth"})).await?;
    let agent = api
        .id(
            &format!("/api/projects/{project}/agents"),
            json!({"name": "growth", "system_prompt": "", "context_messages": 10}),
        )
        .await?;
    let start = format!("/api/chat/start/{agent}");
    let mut result = serde_json::Map::new();

    // Build every history first, so all three are measured on a database of
    // the same size: only the session's own history differs.
    let mut long = Vec::new();
    for prior in [1_000usize, 10_000] {
        let s = api.id(&start, json!({})).await?;
        api.fill(&s, prior / 2).await?;
        long.push((prior, s));
    }
    // 10 prior: a fresh session per sample, so the history stays at 10.
    let mut sessions = Vec::new();
    for _ in 0..SAMPLES {
        let s = api.id(&start, json!({})).await?;
        api.fill(&s, 5).await?;
        sessions.push(s);
    }
    let mut samples = Vec::new();
    for s in &sessions {
        let t = Instant::now();
        api.send(s, "timed").await?;
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    result.insert("p50_ms_at_10".into(), json!(p50(samples)));

    // 1,000 and 10,000 prior: one session each; 100 sends grow it by 2%–20%.
    for (prior, s) in long {
        let mut samples = Vec::new();
        for _ in 0..SAMPLES {
            let t = Instant::now();
            api.send(&s, "timed").await?;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        result.insert(format!("p50_ms_at_{prior}"), json!(p50(samples)));
    }
    Ok(Value::Object(result))
}

/// `n` streamed turns at once, each in its own session.
async fn streams(base: &str, token: &str, agent: &str, n: usize) -> Result<Value> {
    let api = Api::new(base, token, Duration::from_secs(120))?;
    let start = format!("/api/chat/start/{agent}");
    let sessions: Vec<String> = stream::iter(0..n)
        .map(|_| api.id(&start, json!({})))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    eprintln!("{n} sessions ready; opening {n} streams");
    let started = Instant::now();
    let api = &api;
    let outcomes = futures::future::join_all(sessions.iter().map(|s| async move {
        let resp = api
            .client
            .post(format!("{}/api/chat/{s}/message/stream", api.base))
            .bearer_auth(&api.token)
            .json(&json!({ "content": "stream slowly" }))
            .send()
            .await
            .ok()?;
        let body = resp.text().await.ok()?;
        body.contains("event: message.completed").then_some(())
    }))
    .await;
    let completed = outcomes.iter().filter(|o| o.is_some()).count();
    Ok(
        json!({ "streams": n, "completed": completed, "failed": n - completed, "seconds": started.elapsed().as_secs_f64() }),
    )
}

/// `n` plain sends at once, each to its own new session: how long until
/// the last one is answered (with a slow model, what the store adds to it
/// under a burst of turns).
async fn sends(base: &str, token: &str, agent: &str, n: usize) -> Result<Value> {
    let api = Api::new(base, token, Duration::from_secs(120))?;
    let start = format!("/api/chat/start/{agent}");
    let sessions: Vec<String> = stream::iter(0..n)
        .map(|_| api.id(&start, json!({})))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let started = Instant::now();
    let api = &api;
    let outcomes = futures::future::join_all(
        sessions
            .iter()
            .map(|s| async move { api.send(s, "at once").await.ok() }),
    )
    .await;
    let completed = outcomes.iter().filter(|o| o.is_some()).count();
    Ok(
        json!({ "sends": n, "completed": completed, "failed": n - completed, "seconds": started.elapsed().as_secs_f64() }),
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .ok_or("missing argument (see the file's header)")
    };
    let out = match arg(0)? {
        "setup" => setup(arg(1)?, args.get(2).map(String::as_str)).await?,
        "growth" => growth(arg(1)?, arg(2)?).await?,
        "streams" => streams(arg(1)?, arg(2)?, arg(3)?, arg(4)?.parse()?).await?,
        "sends" => sends(arg(1)?, arg(2)?, arg(3)?, arg(4)?.parse()?).await?,
        other => return Err(format!("unknown command {other}").into()),
    };
    println!("{out}");
    Ok(())
}
